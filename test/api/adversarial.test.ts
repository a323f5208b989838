/**
 * Adversarial calls of the library's public functions (issue 17.6): every function is called with valid
 * arguments where one argument — or one key of an options object — is replaced by a wrong value. Each call
 * must return, or throw an InputError naming the function (never a TypeError/RangeError from deep inside);
 * results are the caller's own (not frozen, not shared between calls). Figures: docs/robustness.md.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { builtinData } from "../../src/cpu/builtin.js";
import * as api from "../../src/index.js";
import { InputError } from "../../src/index.js";

const read = (p: string) => readFileSync(new URL(`../../${p}`, import.meta.url));
const doc = JSON.parse(read("examples/valid-64bit-linux.json").toString()) as Record<string, unknown>;
const LOG = read("test/corpus/kvm-dump/kvm-list-2021-dosemu2-ds-es-not-accessed.txt");
const VMXCAP = read("test/corpus/vmxcap/cs590-nfv-2016-suricata-kvm-host.txt").toString();
const cpu = api.builtinProfile("skylake");
const entry = api.parseEntry(doc);
const result = api.runEntry(entry);
const parsed = api.parseInput(LOG, "log");
const dump = parsed.format === "logs" ? parsed.dumps[0]! : undefined!;
const blob = api.formatNestedState(entry);
const preset = api.kernelPreset("v6.19");

/** Wrong values: every JSON and JS kind, numbers out of range, containers of the wrong shape. */
const BAD: readonly [string, unknown][] = [
  ["undefined", undefined],
  ["null", null],
  ["0", 0],
  ["-1", -1],
  ["1.5", 1.5],
  ["NaN", Number.NaN],
  ["2^64", 2 ** 64],
  ["1n", 1n],
  ['""', ""],
  ['"x"', "x"],
  ["true", true],
  ["[]", []],
  ["{}", {}],
  ["Object.create(null)", Object.create(null)],
  ["a symbol", Symbol("s")],
  ["a function", () => 1],
  ["a Map", new Map()],
  ["empty bytes", new Uint8Array(0)],
  ["deep", JSON.parse(`${"[".repeat(10000)}${"]".repeat(10000)}`)],
  ["__proto__ key", JSON.parse('{"__proto__": {"polluted": 1}}')],
];

/**
 * Each public function with valid arguments. `opts`: the positions of options objects (and the nested model's
 * input and configuration), whose keys are replaced one by one too; the library's own results (entries,
 * profiles, dumps) are only replaced whole. `heavy`: a valid call takes seconds, so only refusals are tried.
 */
const CASES: { fn: string; args: unknown[]; opts?: number[]; heavy?: boolean }[] = [
  { fn: "check", args: [doc] },
  { fn: "parseEntry", args: [doc, { cpu }], opts: [1] },
  { fn: "parseEntryText", args: [JSON.stringify(doc), { cpu }], opts: [1] },
  { fn: "runEntry", args: [entry] },
  { fn: "serializeEntry", args: [entry] },
  { fn: "describeOutcome", args: [{ type: "entered" }] },
  { fn: "humanReport", args: ["f", entry, result, 1] },
  { fn: "builtinProfile", args: ["skylake"] },
  { fn: "decodeProfile", args: [builtinData("skylake"), "cpu"] },
  { fn: "detectFormat", args: [LOG] },
  { fn: "parseInput", args: [LOG, "log"] },
  { fn: "explainDump", args: [dump, cpu] },
  { fn: "explanationJson", args: ["f", api.explainDump(dump)] },
  { fn: "dumpToEntry", args: [dump, cpu, "skylake"] },
  { fn: "parseKvmDump", args: [LOG.toString()] },
  { fn: "parseXenDump", args: [LOG.toString()] },
  { fn: "parseQemuRegs", args: [LOG.toString()] },
  { fn: "parseKvmTracepoint", args: [LOG.toString()] },
  { fn: "parseNestedState", args: [blob] },
  { fn: "parseVmxcap", args: [VMXCAP, "v"] },
  { fn: "formatKvmDump", args: [entry, { prefix: "kvm: ", exitReason: 0x80000021 }], opts: [1] },
  { fn: "formatNestedState", args: [entry, { launched: true, exitReason: 1 }], opts: [1] },
  { fn: "modesFor", args: [cpu] },
  { fn: "generateValid", args: [cpu, 1, { mode: "64", features: "max" }], opts: [2] },
  { fn: "validStates", args: [cpu, 1, { mode: "64", variants: 4 }], opts: [2] },
  { fn: "repair", args: [entry, { violate: "guest.cs.l-and-d", seed: 1, maxSteps: 100 }], opts: [1] },
  { fn: "serializeGenerated", args: [entry] },
  { fn: "violationSearch", args: [cpu], heavy: true },
  { fn: "coverage", args: [cpu], heavy: true },
  { fn: "kernelPreset", args: ["v6.6"] },
  { fn: "l1Profile", args: [preset, cpu] },
  {
    fn: "runNested",
    args: [{ vmcs12: entry, host: cpu, l1: api.l1Profile(preset, cpu) }, api.DEFAULT_NESTED_CONFIG],
    opts: [0, 1],
  },
  { fn: "vmcs12FromNestedState", args: [blob, cpu] },
  { fn: "compareCorpus", args: [[entry], "v6.19", cpu, {}], opts: [3], heavy: true },
  { fn: "findGaps", args: ["v6.19", cpu, {}], opts: [2], heavy: true },
];

/** The argument lists of a case: each position, and each key of an object argument, replaced by each wrong value. */
function mutations(c: (typeof CASES)[number]): { what: string; args: unknown[] }[] {
  const out: { what: string; args: unknown[] }[] = [];
  c.args.forEach((a, i) => {
    for (const [name, bad] of BAD) {
      const args = [...c.args];
      args[i] = bad;
      out.push({ what: `arg ${i} = ${name}`, args });
      if (c.opts?.includes(i))
        for (const k of Object.keys(a as object)) {
          const args2 = [...c.args];
          args2[i] = { ...(a as object), [k]: bad };
          out.push({ what: `arg ${i}.${k} = ${name}`, args: args2 });
        }
    }
  });
  return out;
}

/** A call's fate: returned, refused with a clear error, or crashed (any other error). */
async function fate(fn: string, args: unknown[]): Promise<"returned" | "refused" | `crashed: ${string}`> {
  try {
    const f = (api as unknown as Record<string, (...a: unknown[]) => unknown>)[fn]!;
    await f(...args);
    return "returned";
  } catch (e) {
    if (e instanceof InputError && e.message.length > 0 && !/\bat \w+ \(/.test(e.message)) return "refused";
    return `crashed: ${(e as Error)?.constructor?.name}: ${String((e as Error)?.message).slice(0, 160)}`;
  }
}

describe("adversarial calls of the public API", () => {
  it("valid calls work (the baseline the mutations start from)", async () => {
    for (const c of CASES.filter((c) => !c.heavy)) expect(await fate(c.fn, c.args), c.fn).toBe("returned");
  });

  it("wrong arguments: every call returns or throws an InputError; none crashes", async () => {
    const crashes: string[] = [];
    const counts = { calls: 0, returned: 0, refused: 0 };
    for (const c of CASES)
      for (const m of mutations(c)) {
        // a heavy function given an acceptable value would run for seconds: only the refusals are tried
        const f = await (c.heavy && (m.args.includes(undefined) || m.what.includes("."))
          ? "skip"
          : fate(c.fn, m.args));
        if (f === "skip") continue;
        counts.calls++;
        if (f === "returned") counts.returned++;
        else if (f === "refused") counts.refused++;
        else crashes.push(`${c.fn}(${m.what}): ${f}`);
      }
    expect(crashes).toEqual([]);
    // the figures docs/robustness.md records
    expect(counts.calls).toBeGreaterThan(1500);
    console.log(`adversarial API calls: ${JSON.stringify(counts)}`);
  });

  it("an argument error names the function and the parameter", () => {
    expect(() => api.runEntry(null as never)).toThrow(
      new InputError("e must be an Entry (from parseEntry or parseEntryText), got null", {
        location: "runEntry",
      }),
    );
    expect(() => api.runEntry(null as never)).toThrow(/^runEntry: e must be an Entry/);
    expect(() => api.generateValid(cpu, 1, { mode: "bogus" as never })).toThrow(
      /^generateValid: opts\.mode must be one of 64, 32, pae, real, v86, got "bogus"$/,
    );
    expect(() => api.parseInput({} as never)).toThrow(
      /^parseInput: input must be a Uint8Array \(a Buffer is one\), got an object$/,
    );
  });

  it("results are the caller's own: not frozen, not shared between calls", () => {
    const a = api.runEntry(entry);
    const b = api.runEntry(entry);
    expect(a.outcome).toEqual({ type: "entered" });
    expect(a).not.toBe(b);
    expect(a.violations).not.toBe(b.violations);
    a.violations.push(
      api.runEntry(api.parseEntry(JSON.parse(read("examples/bad-cs-ar.json").toString()))).violations[0]!,
    );
    (a.outcome as { type: string }).type = "changed";
    expect(b).toEqual({ outcome: { type: "entered" }, violations: [] });
    expect(api.check(doc)).toEqual({ outcome: { type: "entered" }, violations: [] });
  });
});
