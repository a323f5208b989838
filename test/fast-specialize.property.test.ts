/**
 * Specialization per control signature (src/entry/fast.ts, issue 6): a runner that specializes on the first
 * sighting must list the same failing checks as the reference loop, for states whose signature it has just
 * compiled and for other states that share that signature (the compiled code folded the control words,
 * profile scalars, processor mode and RFLAGS.VM into constants, and must still read every data field).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { F, FIELDS } from "../src/arch/fields.js";
import { CHECKS } from "../src/checks/registry.js";
import { Ctx } from "../src/checks/types.js";
import { builtinNames, builtinProfile } from "../src/cpu/builtin.js";
import { failingChecksReference } from "../src/entry/evaluate.js";
import { compileRunner, SIGNATURE_SLOTS } from "../src/entry/fast.js";
import { baseEntry } from "../src/gen/base.js";

const SIG = new Set(SIGNATURE_SLOTS);
const inSignature = (i: number) => SIG.has(i << 1) || SIG.has((i << 1) | 1);
/** Fields outside the signature: writing them keeps a state on the same specialized code. */
const data = FIELDS.filter((f) => f.type !== "read-only" && !inSignature(f.index));
/** Fields in the signature (control words, modes, selectors): writing them needs other code. */
const controls = FIELDS.filter((f) => f.type !== "read-only" && inSignature(f.index));

const field = (list: typeof FIELDS) =>
  fc.integer({ min: 0, max: list.length - 1 }).map((i) => list[i]!.index);
const flip = (list: typeof FIELDS) => fc.record({ field: field(list), bit: fc.integer({ min: 0, max: 63 }) });

describe("specialized runners agree with the reference loop (issue 6)", () => {
  const profiles = builtinNames();

  it("after a control change, then on data changes under the same signature", () => {
    const run = compileRunner(CHECKS, { specializeAfter: 1 });
    const out = new Int32Array(CHECKS.length);
    fc.assert(
      fc.property(
        fc.constantFrom(...profiles),
        fc.array(flip(controls), { maxLength: 2 }),
        fc.array(fc.array(flip(data), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom("vmlaunch" as const, "vmresume" as const),
        fc.constantFrom("clear" as const, "launched" as const),
        fc.boolean(),
        (p, ctl, variants, smm, v86, instruction, launchState, ia32e) => {
          const e = baseEntry(builtinProfile(p));
          for (const m of ctl) e.vmcs.set(m.field, e.vmcs.get(m.field) ^ (1n << BigInt(m.bit)));
          // RFLAGS.VM is part of the signature too (a virtual-8086 guest)
          if (v86) e.vmcs.set(F.GUEST_RFLAGS!, e.vmcs.get(F.GUEST_RFLAGS!) | (1n << 17n));
          e.processor.inSmm = smm;
          e.processor.dualMonitorActive = smm;
          // the processor's mode is part of the signature too
          e.processor.instruction = instruction;
          e.processor.launchState = launchState;
          e.processor.ia32e = ia32e;
          const base = e.vmcs.clone();
          // Last, a state with another signature: the runner specialized for this one must refuse it.
          const other = base.clone();
          const f = controls[variants.length % controls.length]!.index;
          other.set(f, other.get(f) ^ 1n);
          for (const muts of [[], ...variants, "other" as const]) {
            if (muts === "other") {
              const ctx = new Ctx(other, e.caps, e.processor, e.memory);
              const n = run(ctx, out);
              expect(Array.from(out.subarray(0, n), (i) => CHECKS[i]!.id)).toEqual(
                failingChecksReference(ctx).map((c) => c.id),
              );
              continue;
            }
            const vmcs = base.clone();
            for (const m of muts) vmcs.set(m.field, vmcs.get(m.field) ^ (1n << BigInt(m.bit)));
            const ctx = new Ctx(vmcs, e.caps, e.processor, e.memory);
            const want = failingChecksReference(ctx).map((c) => c.id);
            const n = run(ctx, out);
            expect(Array.from(out.subarray(0, n), (i) => CHECKS[i]!.id)).toEqual(want);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("gives the reference verdict on the valid base state of every profile, every time", () => {
    const run = compileRunner(CHECKS, { specializeAfter: 2 });
    const out = new Int32Array(CHECKS.length);
    for (const p of profiles) {
      const e = baseEntry(builtinProfile(p));
      const ctx = new Ctx(e.vmcs, e.caps, e.processor, e.memory);
      const want = failingChecksReference(ctx).length;
      for (let k = 0; k < 4; k++) expect(run(ctx, out), `${p} call ${k}`).toBe(want);
    }
  });
});
