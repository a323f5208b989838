/**
 * Property tests for the value-space checks of SDM 29.3.1.1, 29.3.1.3 and 29.3.1.4: the verdict of each
 * check (its `when` and `fail` on 32-bit halves) is compared with a straightforward BigInt formulation of
 * the SDM rule. Also pins gates that the one-violation vectors cannot show (a check that must not apply).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkById } from "../src/checks/registry.js";
import { Ctx } from "../src/checks/types.js";
import type { Caps, ProfileData } from "../src/cpu/profile.js";
import { ids, type Patch, profileAll, run, runs, state } from "./helpers.js";

const U64 = (1n << 64n) - 1n;
const RUNS = { numRuns: runs(300) };

/** Does check `id` apply and fail on the base state with `patch`? */
function verdict(id: string, caps: Caps, patch: Patch): boolean {
  const c = checkById(id);
  if (!c) throw new Error(`no check ${id}`);
  const e = state(caps, patch);
  const ctx = new Ctx(e.vmcs, e.caps, e.processor, e.memory);
  return (c.when === undefined || c.when(ctx)) && c.fail(ctx);
}

const hex = (v: bigint) => `0x${v.toString(16)}`;
const bit = (n: number) => 1n << BigInt(n);

/** 64-bit values biased towards the interesting edges: random, sign-extended from bit w-1, one bit flipped. */
function addr64(widths: number[] = [48, 57]): fc.Arbitrary<bigint> {
  const signExt = fc
    .tuple(fc.constantFrom(...widths), fc.bigInt({ min: 0n, max: U64 }))
    .map(([w, v]) => BigInt.asUintN(64, BigInt.asIntN(w, v)));
  return fc.oneof(
    fc.bigInt({ min: 0n, max: U64 }),
    signExt,
    fc.tuple(signExt, fc.integer({ min: 40, max: 63 })).map(([v, b]) => v ^ bit(b)),
  );
}

/** SDM canonical for width n: bits 63:n-1 all equal (sign extension of bit n-1). */
const canonicalRef = (v: bigint, n: number) => BigInt.asIntN(64, v) === BigInt.asIntN(n, v);

const withCaps = (edit: (d: ProfileData) => void) => profileAll(edit);

describe("CR0 and CR4 fixed bits (G1, G3)", () => {
  const NW_CD = bit(29) | bit(30);
  const PE_PG = bit(0) | bit(31);

  it("CR0 verdicts match the BigInt rule, with and without unrestricted guest", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: U64 }),
        fc.bigInt({ min: 0n, max: 0xffffffffn }),
        fc.bigInt({ min: 0n, max: 0xffffffffn }),
        fc.boolean(),
        (cr0, f0raw, f1raw, ug) => {
          const fixed1 = f1raw | f0raw; // allowed-1 ⊇ required-1 on every real CPU
          const fixed0 = f0raw;
          const caps = withCaps((d) => {
            d.msrs.IA32_VMX_CR0_FIXED0 = hex(fixed0);
            d.msrs.IA32_VMX_CR0_FIXED1 = hex(fixed1);
          });
          const exempt = NW_CD | (ug ? PE_PG : 0n);
          const must1 = fixed0 & ~exempt;
          const must0 = ~fixed1 & U64 & ~exempt;
          const patch: Patch = {
            vmcs: { GUEST_CR0: cr0, SECONDARY_VM_EXEC_CONTROL: (o) => (ug ? o | 0x80n : o & ~0x80n) },
          };
          expect(verdict("guest.cr0.required-bits-set", caps, patch)).toBe((~cr0 & must1) !== 0n);
          expect(verdict("guest.cr0.unsupported-bits-clear", caps, patch)).toBe((cr0 & must0) !== 0n);
        },
      ),
      RUNS,
    );
  });

  it("CR4 verdicts match the BigInt rule (no unrestricted-guest exception)", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: U64 }),
        fc.bigInt({ min: 0n, max: 0xffffffffn }),
        fc.bigInt({ min: 0n, max: 0x1ffffffffn }),
        fc.boolean(),
        (cr4, fixed0, f1raw, ug) => {
          const fixed1 = f1raw | fixed0;
          const caps = withCaps((d) => {
            d.msrs.IA32_VMX_CR4_FIXED0 = hex(fixed0);
            d.msrs.IA32_VMX_CR4_FIXED1 = hex(fixed1);
          });
          const patch: Patch = {
            vmcs: { GUEST_CR4: cr4, SECONDARY_VM_EXEC_CONTROL: (o) => (ug ? o | 0x80n : o & ~0x80n) },
          };
          expect(verdict("guest.cr4.required-bits-set", caps, patch)).toBe((~cr4 & fixed0) !== 0n);
          expect(verdict("guest.cr4.unsupported-bits-clear", caps, patch)).toBe((cr4 & ~fixed1 & U64) !== 0n);
        },
      ),
      RUNS,
    );
  });

  it("CR0.PG without PE fails regardless of fixed bits (G2)", () => {
    const caps = profileAll();
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: U64 }), (cr0) => {
        const expected = (cr0 & bit(31)) !== 0n && (cr0 & bit(0)) === 0n;
        expect(verdict("guest.cr0.pg-requires-pe", caps, { vmcs: { GUEST_CR0: cr0 } })).toBe(expected);
      }),
      RUNS,
    );
  });
});

describe("CR3 physical-address width (G9)", () => {
  it("matches bits 63:MAXPHYADDR, minus 62:61 with LAM", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: U64 }),
        fc.integer({ min: 32, max: 52 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 63 }),
        (raw, maxPhys, lam, b) => {
          const caps = withCaps((d) => {
            d.maxPhysAddr = maxPhys;
            if (!lam) d.flags = d.flags?.filter((f) => f !== "lam");
          });
          // Mostly valid addresses with one random bit set, so both verdicts occur.
          const cr3 = (raw & ((1n << BigInt(maxPhys)) - 1n)) | bit(b);
          let reserved = U64 ^ ((1n << BigInt(maxPhys)) - 1n);
          if (lam) reserved &= ~(bit(61) | bit(62));
          expect(verdict("guest.cr3.beyond-phys", caps, { vmcs: { GUEST_CR3: cr3 } })).toBe(
            (cr3 & reserved) !== 0n,
          );
        },
      ),
      RUNS,
    );
  });
});

describe("IA32_PAT memory types (G16)", () => {
  it("every byte must be 0, 1, 4, 5, 6 or 7", () => {
    const caps = profileAll();
    const byte = fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constantFrom(0, 1, 4, 5, 6, 7), byte), { minLength: 8, maxLength: 8 }),
        (bytes) => {
          const pat = bytes.reduce((acc, b, i) => acc | (BigInt(b) << BigInt(8 * i)), 0n);
          const ok = bytes.every((b) => [0, 1, 4, 5, 6, 7].includes(b));
          expect(verdict("guest.pat.memory-types", caps, { vmcs: { GUEST_IA32_PAT: pat } })).toBe(!ok);
        },
      ),
      RUNS,
    );
  });
});

describe("canonical and linear-width rules", () => {
  for (const width of [48, 57]) {
    const caps = withCaps((d) => {
      d.linearAddressBits = width;
    });
    it(`${width}-bit: canonical fields (GDTR/IDTR bases, SYSENTER, FRED, SSP table)`, () => {
      const cases: [string, string, Patch?][] = [
        ["guest.gdtr.base-canonical", "GUEST_GDTR_BASE"],
        ["guest.idtr.base-canonical", "GUEST_IDTR_BASE"],
        ["guest.sysenter-esp.canonical", "GUEST_SYSENTER_ESP"],
        ["guest.sysenter-eip.canonical", "GUEST_SYSENTER_EIP"],
        [
          "guest.intr-ssp-table.canonical",
          "GUEST_INTR_SSP_TABLE",
          { vmcs: { VM_ENTRY_CONTROLS: (o) => o | bit(20) } },
        ],
        [
          "guest.fred-rsp2.canonical",
          "GUEST_IA32_FRED_RSP2",
          { vmcs: { VM_ENTRY_CONTROLS: (o) => o | bit(23) } },
        ],
      ];
      fc.assert(
        fc.property(addr64(), fc.constantFrom(...cases), (v, [id, field, setup]) => {
          const patch: Patch = { vmcs: { ...setup?.vmcs, [field]: v } };
          expect(verdict(id, caps, patch)).toBe(!canonicalRef(v, width));
        }),
        RUNS,
      );
    });
    it(`${width}-bit: RIP (64-bit guest) and SSP need only bits 63:N identical`, () => {
      fc.assert(
        fc.property(addr64([width, width + 1]), fc.boolean(), (v, rip) => {
          const expected = !canonicalRef(v, width + 1);
          if (rip) expect(verdict("guest.rip.linear-width", caps, { vmcs: { GUEST_RIP: v } })).toBe(expected);
          else
            expect(
              verdict("guest.ssp.linear-width", caps, {
                vmcs: { GUEST_SSP: v, VM_ENTRY_CONTROLS: (o) => o | bit(20) },
              }),
            ).toBe(expected);
        }),
        RUNS,
      );
    });
  }
});

describe("RFLAGS (P3, P4)", () => {
  it("reserved bits 63:22, 15, 5, 3 and fixed bit 1", () => {
    const caps = profileAll();
    const flags = fc.oneof(
      fc.bigInt({ min: 0n, max: U64 }),
      fc.bigInt({ min: 0n, max: 0x3fffffn }),
      fc.integer({ min: 0, max: 63 }).map((b) => bit(b) | 2n),
    );
    fc.assert(
      fc.property(flags, (rf) => {
        const patch: Patch = { vmcs: { GUEST_RFLAGS: rf } };
        const reserved = (rf & (U64 ^ 0x3fffffn)) !== 0n || (rf & (bit(15) | bit(5) | bit(3))) !== 0n;
        expect(verdict("guest.rflags.reserved-bits", caps, patch)).toBe(reserved);
        expect(verdict("guest.rflags.bit1-set", caps, patch)).toBe((rf & 2n) === 0n);
      }),
      RUNS,
    );
  });
});

describe("gates", () => {
  const caps = profileAll();
  const noLoadDebug: Patch = { vmcs: { VM_ENTRY_CONTROLS: (o) => o & ~bit(2) } };

  it('"load debug controls" = 0: DEBUGCTL and DR7 are not checked', () => {
    expect(
      ids(run(caps, noLoadDebug, { vmcs: { GUEST_IA32_DEBUGCTL: 0x8n, GUEST_DR7: 0x100000400n } })),
    ).toEqual([]);
  });
  it("controls off: MSR fields with reserved bits are not checked", () => {
    const junk: Patch = {
      vmcs: {
        GUEST_IA32_PERF_GLOBAL_CTRL: U64,
        GUEST_BNDCFGS: U64 ^ bit(63),
        GUEST_IA32_RTIT_CTL: U64,
        GUEST_IA32_LBR_CTL: U64,
        GUEST_IA32_PKRS: U64,
        GUEST_UINV: 0xffffn,
        GUEST_IA32_FRED_CONFIG: 0x0000800000000834n,
        GUEST_IA32_FRED_RSP1: 0x1n,
        GUEST_IA32_FRED_SSP3: 0x1n,
        GUEST_IA32_SPEC_CTRL: U64,
        GUEST_S_CET: 0xfc0n,
        GUEST_SSP: 0x0001000000000003n,
        GUEST_INTR_SSP_TABLE: 0x0000800000000000n,
      },
    };
    expect(ids(run(caps, junk))).toEqual([]);
  });
  it('"load IA32_PAT"/"load IA32_EFER" = 0: PAT and EFER are not checked', () => {
    const off: Patch = {
      vmcs: { VM_ENTRY_CONTROLS: (o) => o & ~(bit(14) | bit(15)), GUEST_IA32_PAT: U64, GUEST_IA32_EFER: U64 },
    };
    expect(ids(run(caps, off))).toEqual([]);
  });
  it("IF=0 is fine when injecting an NMI or a hardware exception", () => {
    for (const info of [0x80000202n, 0x8000030dn | bit(11)]) {
      const r = run(caps, { vmcs: { VM_ENTRY_INTR_INFO_FIELD: info, GUEST_RFLAGS: 0x2n } });
      expect(r.violations.map((v) => v.id)).not.toContain("guest.rflags.if-for-external-interrupt");
    }
  });
  it("FRED guest in ring 0 may have IOPL 3", () => {
    const r = run(caps, { vmcs: { GUEST_CR4: (o) => o | bit(32), GUEST_RFLAGS: 0x3002n } });
    expect(r.violations.map((v) => v.id)).not.toContain("guest.rflags.iopl-with-fred-user");
  });
  it("messages name the field and value", () => {
    const r = run(caps, { vmcs: { GUEST_IA32_PAT: 0x0807040600070406n } });
    expect(r.violations[0]?.message).toMatch(/GUEST_IA32_PAT=0x807040600070406 .*PA7=0x8/);
  });
});
