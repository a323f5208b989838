/**
 * Generated runners can be debugged (src/entry/fast.ts): each has a source URL, the check id beside each
 * inlined test and the field name beside each VMCS slot; their source can be read (`runnerSources()`) or
 * dumped (NVMX_DUMP_RUNNERS=dir); an error inside one names the check that threw.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { F } from "../../src/arch/fields.js";
import { CHECKS } from "../../src/checks/registry.js";
import { section } from "../../src/checks/rule.js";
import { type Check, Ctx } from "../../src/checks/types.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { compileRunner, runnerSources } from "../../src/entry/fast.js";
import { baseEntry } from "../../src/gen/base.js";
import type { Memory } from "../../src/vmcs/memory.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves the names these predicates use here.
const scope = (name: string): unknown => eval(name);

function newest(kind: "generic" | "specialized"): [string, string] {
  const all = [...runnerSources()].filter(([name]) => name.endsWith(kind));
  const last = all[all.length - 1];
  if (!last) throw new Error(`no ${kind} runner`);
  return last;
}

describe("runner source", () => {
  const e = baseEntry(builtinProfile("skylake"));
  e.vmcs.setByName("GUEST_CS_AR_BYTES", 0xe09bn);
  const ctx = new Ctx(e.vmcs, e.caps, e.processor, e.memory);
  const out = new Int32Array(CHECKS.length);

  it("names the runner, each check beside its test and each field beside its slot", () => {
    compileRunner(CHECKS, { specializeAfter: 0 })(ctx, out);
    const [name, src] = newest("generic");
    expect(name).toMatch(/^nvmx-runner-\d+-generic$/);
    expect(src).toContain(`//# sourceURL=${name}.js`);
    const k = CHECKS.findIndex((c) => c.id === "guest.cs.l-and-d");
    expect(src).toContain(`/* ${k} guest.cs.l-and-d */ if (`);
    expect(src).toContain(`v[${F.GUEST_CS_AR_BYTES << 1}]/*GUEST_CS_AR_BYTES*/`);
    expect(src).toMatch(/\/\* group eptOn \*\/ if \(/);
  });

  it("names a specialized runner after its profile and marks the checks the signature decides", () => {
    const run = compileRunner(CHECKS, { specializeAfter: 1 });
    const n = run(ctx, out);
    expect(Array.from(out.subarray(0, n), (i) => CHECKS[i]?.id)).toEqual(["guest.cs.l-and-d"]);
    const [name, src] = newest("specialized");
    expect(name).toMatch(/^nvmx-runner-\d+-skylake-specialized$/);
    expect(src).toContain("guest.cs.l-and-d: fails for this signature */ out[n++] =");
    // the guard compares the signature's slots with literals, named
    expect(src).toMatch(/v\[\d+\] !== \d+/);
  });

  it("NVMX_DUMP_RUNNERS=dir writes every runner a process makes", () => {
    const dir = mkdtempSync(join(tmpdir(), "nvmx-runners-"));
    try {
      const cli = new URL("../../dist/cli/main.js", import.meta.url).pathname;
      const example = new URL("../../examples/bad-cs-ar.json", import.meta.url).pathname;
      execFileSync(process.execPath, [cli, "check", example], {
        env: { ...process.env, NVMX_DUMP_RUNNERS: dir },
        stdio: "pipe",
      }).toString();
      const files = readdirSync(dir);
      expect(files.some((f) => /^nvmx-runner-\d+-generic\.js$/.test(f))).toBe(true);
      const generic = files.find((f) => f.endsWith("-generic.js")) as string;
      expect(readFileSync(join(dir, generic), "utf8")).toContain("/* group ");
    } catch (e) {
      throw new Error(`${(e as { stderr?: Buffer }).stderr ?? ""}${(e as Error).message}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("an error inside a runner", () => {
  const e = baseEntry(builtinProfile("icelake-server"));

  it("names the check, for an inlined predicate", () => {
    const { rule } = section({ scope, sdm: "29.9", title: "t", cls: "guest" });
    const reads = rule({
      id: "test.reads-memory",
      rule: "reads memory",
      fail: (s) => s.mem.read32(0) !== 0,
      message: () => "",
    });
    const run = compileRunner([...CHECKS.slice(0, 3), reads], { specializeAfter: 0 });
    const ctx = new Ctx(e.vmcs, e.caps, e.processor, undefined as unknown as Memory);
    expect(() => run(ctx, new Int32Array(4))).toThrow(
      /^check test\.reads-memory threw in nvmx-runner-\d+-generic: /,
    );
  });

  it("names the check, for a plain closure called from a chunk", () => {
    const boom: Check = {
      id: "test.boom",
      sdm: "29.9",
      cls: "guest",
      fields: [],
      rule: "throws",
      fail: () => {
        throw new Error("boom");
      },
      message: () => "",
    };
    const run = compileRunner([boom], { specializeAfter: 0 });
    const ctx = new Ctx(e.vmcs, e.caps, e.processor, e.memory);
    expect(() => run(ctx, new Int32Array(1))).toThrow(
      /^check test\.boom threw in nvmx-runner-\d+-generic: boom$/,
    );
  });
});
