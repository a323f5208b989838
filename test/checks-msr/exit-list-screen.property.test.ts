/**
 * The VM-exit MSR-load list's screen (src/checks/msr-load.ts): one compiled walk with every exit rule decides
 * that a list raises no warning. Over random lists of the MSRs the rules single out (and ordinary ones), with
 * reserved bits, canonical and non-canonical values, on profiles with uncertain facts, the warnings are those
 * of the rule-by-rule walk alone.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { F } from "../../src/arch/fields.js";
import { exitMsrLoadWarnings } from "../../src/checks/msr-load.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { contextOf } from "../../src/entry/run.js";
import { baseEntry } from "../../src/gen/base.js";

const AREA = 0x30000;
const MSRS = [
  0xc0000100, 0xc0000101, 0x9b, 0x9e, 0x79, 0x8b, 0x800, 0x8ff, 0xc0000080, 0x1d9, 0x277, 0x38f, 0x570,
  0x14ce, 0x48, 0xc0000082, 0xc0000083, 0xc0000102, 0x175, 0x176, 0x600, 0xc0000081, 0x10, 0x12345678,
];
const entry = fc.record({
  index: fc.constantFrom(...MSRS),
  reserved: fc.oneof(
    { weight: 5, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 0xffffffff }) },
  ),
  lo: fc.oneof(
    fc.constantFrom(0, 0x06060606, 0x0d01, 0x81a00000, 0xf),
    fc.integer({ min: 0, max: 0xffffffff }),
  ),
  hi: fc.oneof(
    fc.constantFrom(0, 0xffffffff, 0xffff8000, 0x00008000, 0x7, 0x06060606),
    fc.integer({ min: 0, max: 0xffffffff }),
  ),
});

describe("the VM-exit MSR-load screen", () => {
  it("gives the warnings of the rule-by-rule walk, on every built-in profile", () => {
    let warned = 0;
    let clean = 0;
    fc.assert(
      fc.property(
        fc.constantFrom("skylake", "icelake-server", "sapphirerapids", "wildcatlake"),
        fc.array(entry, { maxLength: 6 }),
        (name, list) => {
          const e = baseEntry(builtinProfile(name));
          e.vmcs.set(F.VM_EXIT_MSR_LOAD_ADDR!, BigInt(AREA));
          e.vmcs.set(F.VM_EXIT_MSR_LOAD_COUNT!, BigInt(list.length));
          list.forEach((x, i) => {
            e.memory.write32(AREA + 16 * i, x.index);
            e.memory.write32(AREA + 16 * i + 4, x.reserved);
            e.memory.write32(AREA + 16 * i + 8, x.lo);
            e.memory.write32(AREA + 16 * i + 12, x.hi);
          });
          const ctx = contextOf(e);
          const want = exitMsrLoadWarnings(ctx, { screen: false });
          expect(exitMsrLoadWarnings(ctx)).toEqual(want);
          if (want) warned++;
          else clean++;
        },
      ),
      { seed: 34, numRuns: 1500 },
    );
    // both sides of the screen were taken often
    expect(warned).toBeGreaterThan(200);
    expect(clean).toBeGreaterThan(200);
  });
});
