/**
 * Issue 20 item 3 and the cpu-fact pass: generated valid states stay within each profile's strict masks and
 * name only MSRs known to be loadable; and the pass that re-runs only the checks reading an uncertain fact
 * finds everything the whole registry finds on the profile's narrowest reading.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ENTRY, EXIT, EXIT2 } from "../../src/arch/controls.js";
import { F } from "../../src/arch/fields.js";
import { Ctx } from "../../src/checks/types.js";
import { builtinNames, builtinProfile } from "../../src/cpu/builtin.js";
import type { MaskName } from "../../src/cpu/facts.js";
import type { Caps } from "../../src/cpu/profile.js";
import { evaluate, failingChecksReference } from "../../src/entry/evaluate.js";
import { contextOf } from "../../src/entry/run.js";
import { baseEntry } from "../../src/gen/base.js";
import { Rng } from "../../src/gen/rng.js";
import { generateValid, modesFor } from "../../src/gen/valid.js";
import { runs } from "../helpers.js";

const PER_MODE = Number(process.env["NVMX_GEN_PER_MODE"] ?? 25);

/** Guest/host MSR fields with the control that loads them and the mask that judges them. */
const LOADED: [string, (c: Ctx) => boolean, MaskName][] = [
  ["GUEST_IA32_PERF_GLOBAL_CTRL", (c) => (c.entry & ENTRY.LOAD_PERF_GLOBAL_CTRL) !== 0, "perfGlobalCtrl"],
  ["HOST_IA32_PERF_GLOBAL_CTRL", (c) => (c.exit & EXIT.LOAD_PERF_GLOBAL_CTRL) !== 0, "perfGlobalCtrl"],
  ["GUEST_IA32_DEBUGCTL", (c) => (c.entry & ENTRY.LOAD_DEBUG) !== 0, "debugctl"],
  ["GUEST_IA32_RTIT_CTL", (c) => (c.entry & ENTRY.LOAD_RTIT_CTL) !== 0, "rtitCtl"],
  ["GUEST_IA32_LBR_CTL", (c) => (c.entry & ENTRY.LOAD_LBR_CTL) !== 0, "lbrCtl"],
  ["GUEST_IA32_SPEC_CTRL", (c) => (c.entry & ENTRY.LOAD_SPEC_CTRL) !== 0, "specCtrl"],
  ["HOST_IA32_SPEC_CTRL", (c) => (c.exit2 & EXIT2.LOAD_SPEC_CTRL) !== 0, "specCtrl"],
];
const MSR_MASK: Record<number, MaskName> = {
  911: "perfGlobalCtrl",
  473: "debugctl",
  1392: "rtitCtl",
  5326: "lbrCtl",
  72: "specCtrl",
};

describe("generated valid states are valid on every CPU their profile stands for", () => {
  for (const name of builtinNames())
    it(`${name}: MSR fields within the strict masks, MSR-load lists only of loadable MSRs, no possible finding`, () => {
      const caps = builtinProfile(name);
      const masks = caps.facts.masks;
      let loaded = 0;
      for (const mode of modesFor(caps))
        for (let i = 0; i < PER_MODE; i++) {
          const e = generateValid(caps, Rng.derive(20, i), { mode }).entry;
          expect(e.caps).toBe(caps);
          const ctx = contextOf(e);
          const r = evaluate(ctx);
          expect(r, `${mode} #${i}`).toEqual({ outcome: { type: "entered" }, violations: [] });
          for (const [field, on, mask] of LOADED)
            if (on(ctx)) {
              loaded++;
              expect(e.vmcs.getByName(field) & ~masks[mask].strict, `${mode} #${i} ${field}`).toBe(0n);
            }
          const n = ctx.lo(F.VM_ENTRY_MSR_LOAD_COUNT!);
          const area = e.vmcs.getByName("VM_ENTRY_MSR_LOAD_ADDR");
          for (let k = 0; k < n; k++) {
            const a = Number(area) + 16 * k;
            const index = e.memory.read32(a);
            expect(caps.facts.msr(index).status, `${mode} #${i} MSR 0x${index.toString(16)}`).toBe(
              "loadable",
            );
            const mask = MSR_MASK[index];
            if (mask) expect(e.memory.read64(a + 8) & ~masks[mask].strict).toBe(0n);
          }
        }
      if (caps.ctl.entry.may1 & ENTRY.LOAD_PERF_GLOBAL_CTRL) expect(loaded).toBeGreaterThan(0);
    });

  it("skylake: no generated state sets IA32_PERF_GLOBAL_CTRL bit 35 or 48", () => {
    const caps = builtinProfile("skylake");
    for (let i = 0; i < 400; i++) {
      const e = generateValid(caps, Rng.derive(35, i), {
        mode: "64",
        features: i % 2 ? "max" : "random",
      }).entry;
      for (const f of ["GUEST_IA32_PERF_GLOBAL_CTRL", "HOST_IA32_PERF_GLOBAL_CTRL"])
        expect(e.vmcs.getByName(f) & ((1n << 35n) | (1n << 48n))).toBe(0n);
    }
  });
});

describe("the cpu-fact pass runs only the checks that read an uncertain fact, and misses nothing", () => {
  const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
  const msrIndex = fc.oneof(
    fc.constantFrom(
      0x38f,
      0x1d9,
      0x570,
      0x14ce,
      0x48,
      0x79,
      0x8b,
      0x1ff,
      0x1dd,
      0xc5,
      0x6a2,
      0xc0000103,
      0x10a,
    ),
    fc.integer({ min: 0, max: 0x2000 }),
  );
  const profiles = ["skylake", "haswell", "alderlake", "arrowlake", "kvm-nested", "sapphirerapids"];

  it("the whole registry on the narrowest reading finds no violation that is neither definite nor possible", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...profiles),
        fc.array(fc.tuple(fc.constantFrom(...LOADED.map((l) => l[0])), u64), { maxLength: 3 }),
        fc.array(fc.tuple(msrIndex, u64), { maxLength: 4 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (name, fields, list, controls) => {
          const caps = builtinProfile(name);
          const e = baseEntry(caps);
          e.vmcs.setByName(
            "VM_ENTRY_CONTROLS",
            e.vmcs.getByName("VM_ENTRY_CONTROLS") | BigInt(controls & caps.ctl.entry.may1 & ~0x600),
          );
          e.vmcs.setByName(
            "VM_EXIT_CONTROLS",
            e.vmcs.getByName("VM_EXIT_CONTROLS") |
              BigInt((controls >>> 8) & EXIT.LOAD_PERF_GLOBAL_CTRL & caps.ctl.exit.may1),
          );
          for (const [f, v] of fields) e.vmcs.setByName(f, v);
          list.forEach(([index, value], k) => {
            e.memory.write64(0x20000 + 16 * k, BigInt(index));
            e.memory.write64(0x20000 + 16 * k + 8, value);
          });
          if (list.length) {
            e.vmcs.setByName("VM_ENTRY_MSR_LOAD_ADDR", 0x20000n);
            e.vmcs.setByName("VM_ENTRY_MSR_LOAD_COUNT", BigInt(list.length));
          }
          const ctx = contextOf(e);
          const r = evaluate(ctx);
          const found = new Set(
            [...r.violations, ...(r.possible ?? []).flatMap((p) => p.violations)].map((v) => v.id),
          );
          const narrow: Caps = caps.facts.conservative();
          const strictIds = failingChecksReference(new Ctx(e.vmcs, narrow, e.processor, e.memory)).map(
            (c) => c.id,
          );
          for (const id of strictIds) expect(found.has(id), `${name}: ${id}`).toBe(true);
          // and nothing possible is definite: a possible finding's checks pass on the lenient reading, or
          // fail there at a later MSR-load entry
          const lenientIds = failingChecksReference(new Ctx(e.vmcs, caps, e.processor, e.memory)).map(
            (c) => c.id,
          );
          expect(r.violations.map((v) => v.id)).toEqual(lenientIds);
        },
      ),
      { numRuns: runs(300), seed: 20 },
    );
  });
});
