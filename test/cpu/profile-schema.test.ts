/**
 * Profile validation against the profile schema (issue 17 item 3): single-field corruptions of every built-in
 * profile — wrong types, null, out-of-range numbers, 2^64 and wider hex, misspelled and Object.prototype keys
 * — are refused with an InputError naming the key whenever the schema refuses them, and never crash. (The
 * parser refuses more than the schema can say: factSources naming facts the profile lacks, a leaf twice.)
 */
import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { builtinData, builtinNames } from "../../src/cpu/builtin.js";
import { decodeProfile, type ProfileData } from "../../src/cpu/profile.js";
import { InputError } from "../../src/errors.js";

const schema = JSON.parse(
  readFileSync(new URL("../../schemas/profile.schema.json", import.meta.url), "utf8"),
);
const valid = new Ajv2020({ allErrors: true, strict: true }).compile(schema);

const junk = fc.constantFrom<unknown>(
  null,
  true,
  0,
  -1,
  1.5,
  31,
  32,
  52,
  53,
  57,
  2 ** 64,
  "",
  "x",
  "0x",
  "0x1",
  "0xffffffffffffffff",
  "0x10000000000000000",
  "0x00000000000000000001",
  "1",
  [],
  ["lm"],
  [1],
  {},
  { eax: "0x1", ebx: "0x0", ecx: "0x0", edx: "0x0" },
);
const keyLike = fc.constantFrom(
  "toString",
  "constructor",
  "__proto__",
  "hasOwnProperty",
  "maxPhysAdr",
  "Flags",
  "0xa",
  "0x345",
  "0x1c9-0x1c0",
  "IA32_VMX_BASC",
  "cpuid.0xa",
);

/** One corruption: a top-level key, or a key inside one of the object-valued keys, set to junk. */
const corruption: fc.Arbitrary<Corruption> = fc.record({
  profile: fc.constantFrom(...builtinNames()),
  where: fc.constantFrom<Corruption["where"]>(
    "top",
    "msrs",
    "cpuid",
    "msrValues",
    "factSources",
    "msrsImplemented",
  ),
  existing: fc.boolean(),
  pick: fc.nat(),
  key: keyLike,
  value: junk,
});

interface Corruption {
  profile: string;
  where: "top" | "msrs" | "cpuid" | "msrValues" | "factSources" | "msrsImplemented";
  existing: boolean;
  pick: number;
  key: string;
  value: unknown;
}

function corrupt(c: Corruption): Record<string, unknown> {
  const data = structuredClone(builtinData(c.profile)) as unknown as Record<string, unknown>;
  if (c.where === "msrsImplemented") {
    const list: unknown[] = Array.isArray(data["msrsImplemented"]) ? [...data["msrsImplemented"]] : [];
    list[c.pick % (list.length + 1)] = c.value;
    data["msrsImplemented"] = list;
    return data;
  }
  if (c.where !== "top" && (typeof data[c.where] !== "object" || data[c.where] === null)) data[c.where] = {};
  const target = (c.where === "top" ? data : data[c.where]) as Record<string, unknown>;
  const keys = Object.keys(target);
  const key = c.existing && keys.length ? keys[c.pick % keys.length]! : c.key;
  Object.defineProperty(target, key, {
    value: c.value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return data;
}

describe("profiles: the parser refuses whatever the schema refuses", () => {
  it("single-field corruptions of the built-in profiles (property, 4,000 cases)", () => {
    let refused = 0;
    fc.assert(
      fc.property(corruption, (c) => {
        const data = corrupt(c);
        let accepted = true;
        try {
          decodeProfile(data as unknown as ProfileData, "cpu");
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
          expect(e.location, e.message).toMatch(/^cpu(\.|$)/);
          accepted = false;
          refused++;
        }
        if (accepted) expect(valid(data), `${JSON.stringify(c)}: accepted, schema says no`).toBe(true);
      }),
      { numRuns: 4000, seed: 0x17f03 },
    );
    // the corruptions are mostly bad: a property that refused nothing would test nothing
    expect(refused).toBeGreaterThan(2000);
  });
});
