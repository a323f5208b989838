/**
 * The JSON Schemas of the contract (schemas/, docs/contract.md) are normative: they are generated from the
 * tables they describe and stay in sync; every example, built-in profile and generated document validates;
 * and on documents the schema can judge, the entry parser accepts exactly what the schema accepts.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
// @ts-expect-error -- the generator is a plain ES module script (scripts/gen-schemas.mjs)
import { SCHEMAS } from "../../scripts/gen-schemas.mjs";
import { FIELDS } from "../../src/arch/fields.js";
import { builtinData, builtinNames, builtinProfile } from "../../src/cpu/builtin.js";
import { parseEntry } from "../../src/entry/document.js";
import { InputError } from "../../src/errors.js";
import { Rng } from "../../src/gen/rng.js";
import { serializeGenerated } from "../../src/gen/serialize.js";
import { generateValid, modesFor } from "../../src/gen/valid.js";
import { VERSION } from "../../src/version.js";

const dir = new URL("../../schemas/", import.meta.url);
const load = (f: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(f, dir), "utf8"));
const ajv = new Ajv2020({ allErrors: true, strict: true });
for (const f of ["profile.schema.json", "entry.schema.json", "result.schema.json"]) ajv.addSchema(load(f));
const entryValid = ajv.getSchema("urn:nvmx:schema:entry:1")!;
const profileValid = ajv.getSchema("urn:nvmx:schema:profile:1")!;

const accepts = (doc: unknown): boolean => {
  try {
    parseEntry(doc);
    return true;
  } catch (e) {
    if (e instanceof InputError) return false;
    throw e;
  }
};

describe("schemas", () => {
  it("are what scripts/gen-schemas.mjs generates from the tables (run it after changing a table)", () => {
    for (const [file, make] of Object.entries(SCHEMAS as Record<string, () => unknown>))
      expect(load(file), file).toEqual(make());
  });

  it("validate every example and every built-in profile", () => {
    for (const f of readdirSync(new URL("../../examples/", import.meta.url)).filter((x) =>
      x.endsWith(".json"),
    )) {
      const doc = JSON.parse(readFileSync(new URL(`../../examples/${f}`, import.meta.url), "utf8"));
      expect(entryValid(doc), `${f}: ${ajv.errorsText(entryValid.errors)}`).toBe(true);
    }
    for (const n of builtinNames())
      expect(profileValid(builtinData(n)), `${n}: ${ajv.errorsText(profileValid.errors)}`).toBe(true);
  });

  it("validate generated documents of every built-in profile, in every mode the profile allows", () => {
    for (const n of builtinNames()) {
      const caps = builtinProfile(n);
      for (const mode of modesFor(caps)) {
        const doc = serializeGenerated(generateValid(caps, 5, { mode }).entry);
        expect(entryValid(doc), `${n} ${mode}: ${ajv.errorsText(entryValid.errors)}`).toBe(true);
      }
    }
  });
});

describe("the entry parser accepts what the entry schema accepts", () => {
  const base = JSON.parse(
    readFileSync(new URL("../../examples/valid-64bit-linux.json", import.meta.url), "utf8"),
  ) as Record<string, unknown>;
  const names = FIELDS.map((f) => f.name);
  // Keys a user might write: KVM names, their aliases in several cases, _HIGH forms, encodings (also wider
  // than 32 bits, which once wrapped to another field), and misspellings.
  const key = fc.oneof(
    fc.constantFrom(...names),
    fc.constantFrom(...FIELDS.flatMap((f) => f.aliases)),
    fc.constantFrom(...FIELDS.flatMap((f) => f.aliases)).map((a) => a.toLowerCase()),
    fc.constantFrom(...names).map((n) => `${n}_HIGH`),
    fc.constantFrom(...names).map((n) => `${n[0]}${n.slice(1).toLowerCase()}`),
    fc.constantFrom(...FIELDS.map((f) => f.encoding)).map((e) => `0x${e.toString(16)}`),
    fc.constantFrom(...FIELDS.map((f) => f.encoding)).map((e) => `0x${(e + 1).toString(16)}`),
    fc.constantFrom(...FIELDS.map((f) => f.encoding)).map((e) => `0x1${e.toString(16).padStart(8, "0")}`),
    fc.constantFrom("GUEST_CRO", "0x", "0x12345", "", "toString", "__proto__", "hasOwnProperty"),
  );
  const value = fc.constantFrom<unknown>(
    ...["0x0", "0", 0, "0x", "-1", -1, 1.5, true, null, "zz", [], {}, "0X1", "0x00000000000000000001"],
    ...["+1", " 1", "1e0", "01", "1.0", "0x1 ", 2 ** 53, "9007199254740993"],
  );
  const top = fc.record(
    {
      $schema: fc.constantFrom<unknown>("./node_modules/nvmx/schemas/entry.schema.json", 1),
      comment: fc.constantFrom<unknown>("x", 2, null),
      extra: fc.constant<unknown>(1),
      format: fc.constantFrom<unknown>("nvmx-entry/1", "nvmx-entry/2"),
      memory: fc.constantFrom<unknown>(
        { "0x1000": ["0x1", "0X0000000000000000002"] },
        { "0X1008": [] },
        { "0x1004": ["0x1"] },
        { "0x1000": ["1"] },
        { "0x1000": [1] },
        { "4096": ["0x1"] },
        { "0x1000": "0x1" },
        [],
      ),
      processor: fc.constantFrom<unknown>(
        { instruction: "vmresume", launchState: "launched" },
        { cpl: 4 },
        { cpl: "0" },
        { foo: 1 },
        { ia32e: 1 },
        { vmxonPointer: "0x1000" },
        { vmxonPointer: 4096 },
        { vmxonPointer: "4096" },
        { vmxonPointer: " 0x1000" },
        { currentVmcsPointer: "0xfffffffffffff" },
        { currentVmcsPointer: "0x10000000000000" },
        { executiveVmcsLaunchState: "clear" },
        null,
      ),
    },
    { requiredKeys: [] },
  );

  it("for vmcs keys, value syntax and top-level keys (values chosen to fit every field's width)", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), { maxLength: 3 }), top, (kv, extra) => {
        const vmcs: Record<string, unknown> = { ...(base["vmcs"] as Record<string, unknown>) };
        for (const [k, v] of kv)
          Object.defineProperty(vmcs, k, { value: v, enumerable: true, writable: true, configurable: true });
        const doc = { ...base, ...extra, vmcs };
        expect(accepts(doc), JSON.stringify({ kv, extra })).toBe(entryValid(doc));
      }),
      { numRuns: 3000 },
    );
  });
});

it("generated documents of random profiles validate (seeded sample of 200)", () => {
  const rng = new Rng(3);
  const names = builtinNames();
  for (let i = 0; i < 200; i++) {
    const caps = builtinProfile(names[rng.int(names.length)]!);
    expect(entryValid(serializeGenerated(generateValid(caps, rng).entry))).toBe(true);
  }
});

describe("CLI --json output", () => {
  const CLI = new URL("../../dist/cli/main.js", import.meta.url).pathname;
  const resultValid = ajv.getSchema("urn:nvmx:schema:result:1")!;
  const run = (args: string[], input?: string) =>
    spawnSync("node", [CLI, ...args], { input, encoding: "utf8", maxBuffer: 1 << 28 });

  it("every line of check --json (results of valid, violating and multi-class states; error records) validates", () => {
    const gen = run(["gen", "--cpu", "skylake", "--count", "30", "--seed", "4", "--valid"]).stdout;
    const bad = run(["gen", "--cpu", "skylake", "--count", "3", "--violate", "host.cr0.fixed-bits"]).stdout;
    // one state failing a control and a host rule (a check-order possible finding), and malformed lines
    const multi = JSON.parse(bad.split("\n")[0]!) as { vmcs: Record<string, string> };
    multi.vmcs["CR3_TARGET_COUNT"] = "0x9";
    const input = `${gen}${bad}${JSON.stringify(multi)}\noops\n{"vmcs":{"GUEST_CR0":"zz"}}\n`;
    const r = run(["check", "--json", "-"], input);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(30 + 3 + 3);
    let possible = 0;
    for (const l of lines) {
      const doc = JSON.parse(l);
      if (doc.possible) possible++;
      expect(resultValid(doc), `${l.slice(0, 200)}: ${ajv.errorsText(resultValid.errors)}`).toBe(true);
    }
    expect(possible).toBe(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ format: "nvmx-result/1", nvmx: VERSION });
  });
});
