/**
 * Property tests for SDM 29.2.1.1: the verdicts of the execution-control checks against straightforward,
 * independent formulations (bit by bit, with BigInt) over random control words, capability MSRs and pointers.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FIELDS } from "../src/arch/fields.js";
import execControlsSection from "../src/checks/exec-controls.js";

const execControlsChecks = execControlsSection.checks;

import type { Check, Ctx } from "../src/checks/types.js";
import type { ProfileData } from "../src/cpu/profile.js";
import { contextOf } from "../src/entry/run.js";
import { type Patch, profileAll, runs, state } from "./helpers.js";

const byId = new Map(execControlsChecks.map((c) => [c.id, c]));
function check(id: string): Check {
  const c = byId.get(id);
  if (!c) throw new Error(`no check ${id}`);
  return c;
}
const fails = (id: string, ctx: Ctx): boolean => {
  const c = check(id);
  return (c.when === undefined || c.when(ctx)) && c.fail(ctx);
};
function ctxOf(edit: ((d: ProfileData) => void) | undefined, patch: Patch): Ctx {
  return contextOf(state(profileAll(edit), patch));
}
const hex = (v: bigint) => `0x${v.toString(16)}`;
const bit = (v: bigint, i: number) => (v >> BigInt(i)) & 1n;

const u32 = fc.integer({ min: 0, max: 0xffffffff }).map((n) => BigInt(n));
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

/** Independent: the value violates allowed-0 (a bit the MSR's low half requires) / allowed-1 (a bit the high half forbids). */
function allowedViolations(msr: bigint, value: bigint): { a0: boolean; a1: boolean } {
  let a0 = false;
  let a1 = false;
  for (let i = 0; i < 32; i++) {
    if (bit(msr, i) === 1n && bit(value, i) === 0n) a0 = true;
    if (bit(msr, 32 + i) === 0n && bit(value, i) === 1n) a1 = true;
  }
  return { a0, a1 };
}

const BASIC_TRUE = "0x4da100000000004";
const BASIC_NO_TRUE = "0x45a100000000004";

describe("module shape", () => {
  it("every check is a control check of 29.2.1.1 with a ctl.exec. id and known fields", () => {
    const names = new Set(FIELDS.map((f) => f.name));
    for (const c of execControlsChecks) {
      expect(c.id).toMatch(/^ctl\.exec\.[a-z0-9-]+$/);
      expect(c.cls).toBe("control");
      expect(c.sdm).toBe("29.2.1.1");
      for (const f of c.fields) expect(names.has(f), `${c.id} reads unknown field ${f}`).toBe(true);
    }
  });
});

describe("allowed settings of the control words (E1–E4)", () => {
  it("pin-based and primary controls follow the (TRUE_) capability MSR picked by IA32_VMX_BASIC[55]", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        u64,
        u64,
        u32,
        fc.constantFrom("pin", "proc"),
        fc.integer({ min: -1, max: 31 }),
        (useTrue, plain, tru, random, word, flip) => {
          // Most runs: a legal value (required bits plus a random subset of the allowed ones) with at
          // most one bit flipped, so that single-bit violations anywhere in the word are exercised.
          const msr = useTrue ? tru : plain;
          const legal = (msr & 0xffffffffn) | (random & (msr >> 32n));
          const value = flip === -1 ? random : legal ^ (1n << BigInt(flip));
          const [plainName, trueName, field] =
            word === "pin"
              ? ([
                  "IA32_VMX_PINBASED_CTLS",
                  "IA32_VMX_TRUE_PINBASED_CTLS",
                  "PIN_BASED_VM_EXEC_CONTROL",
                ] as const)
              : ([
                  "IA32_VMX_PROCBASED_CTLS",
                  "IA32_VMX_TRUE_PROCBASED_CTLS",
                  "CPU_BASED_VM_EXEC_CONTROL",
                ] as const);
          const ctx = ctxOf(
            (d) => {
              d.msrs.IA32_VMX_BASIC = useTrue ? BASIC_TRUE : BASIC_NO_TRUE;
              d.msrs[plainName] = hex(plain);
              d.msrs[trueName] = hex(tru);
            },
            { vmcs: { [field]: value } },
          );
          const want = allowedViolations(msr, value);
          expect(fails(`ctl.exec.${word}-allowed-0`, ctx)).toBe(want.a0);
          expect(fails(`ctl.exec.${word}-allowed-1`, ctx)).toBe(want.a1);
        },
      ),
      { numRuns: runs(500) },
    );
  });

  it("secondary controls are checked only when activated, against IA32_VMX_PROCBASED_CTLS2", () => {
    fc.assert(
      fc.property(fc.boolean(), u64, u32, fc.integer({ min: -1, max: 31 }), (activate, msr, random, flip) => {
        const legal = (msr & 0xffffffffn) | (random & (msr >> 32n));
        const value = flip === -1 ? random : legal ^ (1n << BigInt(flip));
        const ctx = ctxOf(
          (d) => {
            d.msrs.IA32_VMX_PROCBASED_CTLS2 = hex(msr);
          },
          {
            vmcs: {
              CPU_BASED_VM_EXEC_CONTROL: (old) => (activate ? old | (1n << 31n) : old & ~(1n << 31n)),
              SECONDARY_VM_EXEC_CONTROL: value,
            },
          },
        );
        const want = allowedViolations(msr, value);
        expect(fails("ctl.exec.proc2-reserved", ctx)).toBe(activate && (want.a0 || want.a1));
      }),
      { numRuns: runs(300) },
    );
  });

  it("tertiary controls (64 bits, allowed-1 only) are checked only when activated", () => {
    fc.assert(
      fc.property(fc.boolean(), u64, u64, fc.integer({ min: -1, max: 63 }), (activate, msr, random, flip) => {
        const value = flip === -1 ? random : (random & msr) ^ (1n << BigInt(flip));
        const ctx = ctxOf(
          (d) => {
            d.msrs.IA32_VMX_PROCBASED_CTLS3 = hex(msr);
          },
          {
            vmcs: {
              CPU_BASED_VM_EXEC_CONTROL: (old) => (activate ? old | (1n << 17n) : old & ~(1n << 17n)),
              TERTIARY_VM_EXEC_CONTROL: value,
            },
          },
        );
        let bad = false;
        for (let i = 0; i < 64; i++) if (bit(value, i) === 1n && bit(msr, i) === 0n) bad = true;
        expect(fails("ctl.exec.proc3-reserved", ctx)).toBe(activate && bad);
      }),
      { numRuns: runs(300) },
    );
  });

  it("inactive secondary and tertiary controls cannot make any execution-control check fail", () => {
    fc.assert(
      fc.property(u32, u64, (sec, ter) => {
        const ctx = ctxOf(undefined, {
          vmcs: {
            CPU_BASED_VM_EXEC_CONTROL: (old) => old & ~((1n << 31n) | (1n << 17n)),
            SECONDARY_VM_EXEC_CONTROL: sec,
            TERTIARY_VM_EXEC_CONTROL: ter,
          },
        });
        const failing = execControlsChecks.filter(
          (c) => (c.when === undefined || c.when(ctx)) && c.fail(ctx),
        );
        expect(failing.map((c) => c.id)).toEqual([]);
      }),
      { numRuns: runs(200) },
    );
  });
});

describe("EPTP (E27–E31)", () => {
  const CAP = { UC: 8, WB: 14, PWL4: 6, PWL5: 7, AD: 21, SSS: 23 } as const;
  const eptpArb = fc.record({
    type: fc.integer({ min: 0, max: 7 }),
    walk: fc.integer({ min: 0, max: 7 }),
    low: fc.integer({ min: 0, max: 0x3f }), // bits 11:6
    addr: fc.oneof(
      fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }),
      fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }),
    ),
  });
  it("each EPTP check agrees with a direct reading of the SDM rule", () => {
    fc.assert(
      fc.property(
        eptpArb,
        fc.record({
          UC: fc.boolean(),
          WB: fc.boolean(),
          PWL4: fc.boolean(),
          PWL5: fc.boolean(),
          AD: fc.boolean(),
          SSS: fc.boolean(),
        }),
        fc.integer({ min: 36, max: 52 }),
        ({ type, walk, low, addr }, caps, maxPhys) => {
          const value = (addr << 12n) | (BigInt(low) << 6n) | (BigInt(walk) << 3n) | BigInt(type);
          let cap = 0n;
          for (const [k, on] of Object.entries(caps)) if (on) cap |= 1n << BigInt(CAP[k as keyof typeof CAP]);
          const ctx = ctxOf(
            (d) => {
              d.msrs.IA32_VMX_EPT_VPID_CAP = hex(cap);
              d.maxPhysAddr = maxPhys;
            },
            { vmcs: { EPT_POINTER: value, SECONDARY_VM_EXEC_CONTROL: (old) => old | 2n } },
          );
          const want = {
            "ctl.exec.eptp-memory-type": !((type === 0 && caps.UC) || (type === 6 && caps.WB)),
            "ctl.exec.eptp-walk-length": !((walk === 3 && caps.PWL4) || (walk === 4 && caps.PWL5)),
            "ctl.exec.eptp-ad": bit(value, 6) === 1n && !caps.AD,
            "ctl.exec.eptp-sss": bit(value, 7) === 1n && !caps.SSS,
            "ctl.exec.eptp-reserved": ((value >> 8n) & 0xfn) !== 0n,
            "ctl.exec.eptp-phys": value >> BigInt(maxPhys) !== 0n,
          };
          for (const [id, w] of Object.entries(want)) expect(fails(id, ctx), id).toBe(w);
        },
      ),
      { numRuns: runs(400) },
    );
  });
  it("no EPTP check applies with EPT disabled", () => {
    fc.assert(
      fc.property(u64, (value) => {
        const ctx = ctxOf(undefined, {
          vmcs: { EPT_POINTER: value, SECONDARY_VM_EXEC_CONTROL: (old) => old & ~2n },
        });
        for (const c of execControlsChecks)
          if (c.id.startsWith("ctl.exec.eptp-") && !c.id.startsWith("ctl.exec.eptp-list"))
            expect(c.when!(ctx), c.id).toBe(false);
      }),
      { numRuns: runs(50) },
    );
  });
});

describe("addresses", () => {
  const cases = [
    { stem: "msr-bitmap", field: "MSR_BITMAP", mask: 0xfffn, setup: {} },
    {
      stem: "posted-intr-desc",
      field: "POSTED_INTR_DESC_ADDR",
      mask: 0x3fn,
      setup: {
        PIN_BASED_VM_EXEC_CONTROL: (o: bigint) => o | 0x80n,
        SECONDARY_VM_EXEC_CONTROL: (o: bigint) => o | 0x200n,
      },
    },
    {
      stem: "pid-table",
      field: "PID_POINTER_TABLE",
      mask: 0x7n,
      setup: { CPU_BASED_VM_EXEC_CONTROL: (o: bigint) => o | (1n << 17n), TERTIARY_VM_EXEC_CONTROL: 0x10n },
    },
    {
      stem: "hlatp",
      field: "HLAT_POINTER",
      mask: 0xfe7n,
      setup: { CPU_BASED_VM_EXEC_CONTROL: (o: bigint) => o | (1n << 17n), TERTIARY_VM_EXEC_CONTROL: 0x2n },
    },
  ];
  for (const k of cases)
    it(`${k.stem}: alignment and physical-address width`, () => {
      fc.assert(
        fc.property(u64, fc.integer({ min: 32, max: 52 }), (value, maxPhys) => {
          const ctx = ctxOf(
            (d) => {
              d.maxPhysAddr = maxPhys;
            },
            { vmcs: { ...(k.setup as Patch["vmcs"]), [k.field]: value } },
          );
          expect(fails(`ctl.exec.${k.stem}-aligned`, ctx)).toBe((value & k.mask) !== 0n);
          expect(fails(`ctl.exec.${k.stem}-phys`, ctx)).toBe(value >> BigInt(maxPhys) !== 0n);
        }),
        { numRuns: runs(200) },
      );
    });
});

describe("TPR threshold (E12, E13)", () => {
  it("reserved bits and the VTPR comparison", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 0, max: 0x1f }), fc.integer({ min: 0, max: 0xffffffff })),
        fc.integer({ min: 0, max: 0xff }),
        fc.boolean(),
        (threshold, vtpr, vid) => {
          const ctx = ctxOf(undefined, {
            vmcs: {
              TPR_THRESHOLD: threshold,
              SECONDARY_VM_EXEC_CONTROL: (o) => (vid ? o | 0x200n : o),
            },
            memory: { 77952: BigInt(vtpr) },
          });
          expect(fails("ctl.exec.tpr-threshold-reserved", ctx)).toBe(!vid && threshold > 0xf);
          expect(fails("ctl.exec.tpr-threshold-vtpr", ctx)).toBe(!vid && (threshold & 0xf) > vtpr >> 4);
        },
      ),
      { numRuns: runs(300) },
    );
  });
});
