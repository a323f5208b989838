/**
 * Repair: arbitrary states become valid (or fail exactly a chosen check) with changes that are each needed,
 * and the report lists exactly what changed.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FIELDS, type FieldDef, fieldByName } from "../../src/arch/fields.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { runEntry } from "../../src/entry/run.js";
import { repair } from "../../src/gen/repair.js";
import { Rng } from "../../src/gen/rng.js";
import { generateValid } from "../../src/gen/valid.js";
import { cloneEntry } from "../../src/gen/violate.js";

describe("repair", () => {
  const caps = builtinProfile("icelake-server");
  const writable = FIELDS.filter((f) => f.type !== "read-only");

  it("repairs randomly damaged valid states: the output passes, each change is needed, the report is exact", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.array(
          fc.record({
            f: fc.integer({ min: 0, max: writable.length - 1 }),
            lo: fc.nat(),
            hi: fc.nat(),
            bit: fc.integer({ min: 0, max: 31 }),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        (seed, damage) => {
          const e = generateValid(caps, Rng.derive(seed, 0)).entry;
          for (const d of damage) {
            const f = writable[d.f] as FieldDef;
            const flip = d.lo % 2 === 0;
            if (flip)
              e.vmcs.setHalves(f.index, (e.vmcs.lo(f.index) ^ (1 << d.bit)) >>> 0, e.vmcs.hi(f.index));
            else e.vmcs.set(f.index, (BigInt(d.hi >>> 0) << 32n) | BigInt(d.lo >>> 0));
          }
          const input = cloneEntry(e);
          const r = repair(e);
          expect(r.ok).toBe(true);
          expect(runEntry(r.entry).violations).toEqual([]);
          // The report names exactly the VMCS fields that differ, with their old and new values.
          const changedFields = FIELDS.filter((f) => input.vmcs.get(f.index) !== r.entry.vmcs.get(f.index));
          const reported = r.changes.filter(
            (c) => !c.target.startsWith("memory") && !c.target.startsWith("processor"),
          );
          expect(reported.map((c) => c.target).sort()).toEqual(changedFields.map((f) => f.name).sort());
          for (const c of reported) {
            const f = fieldByName(c.target) as FieldDef;
            expect(BigInt(c.from), c.target).toBe(input.vmcs.get(f.index));
            expect(BigInt(c.to), c.target).toBe(r.entry.vmcs.get(f.index));
          }
          // Minimal: undoing any one field change makes the state fail again.
          for (const f of changedFields) {
            const back = cloneEntry(r.entry);
            back.vmcs.set(f.index, input.vmcs.get(f.index));
            expect(runEntry(back).violations.length, `undoing ${f.name}`).toBeGreaterThan(0);
          }
        },
      ),
      // Fixed seed: CI must be deterministic.
      { numRuns: 60, seed: 20261125 },
    );
  });

  it("repairs so that exactly one chosen check fails", () => {
    const e = generateValid(caps, 5).entry;
    e.vmcs.setByName("GUEST_CS_AR_BYTES", 0x1234n);
    const r = repair(e, { violate: "guest.rflags.reserved-bits" });
    expect(r.ok).toBe(true);
    expect(runEntry(r.entry).violations.map((v) => v.id)).toEqual(["guest.rflags.reserved-bits"]);
  });

  it("reports the changed fields with old and new values", () => {
    const e = generateValid(caps, 6, { mode: "64" }).entry;
    e.vmcs.setByName("GUEST_RFLAGS", 0x8002n);
    const r = repair(e);
    expect(r.changes).toEqual([{ target: "GUEST_RFLAGS", from: "0x8002", to: expect.stringMatching(/^0x/) }]);
  });
});
