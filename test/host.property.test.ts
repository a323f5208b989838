/**
 * Property tests for the host-state checks (SDM 29.2.2–29.2.4): the verdicts of the allocation-free predicates
 * agree with straightforward BigInt formulations of the same rules.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkById } from "../src/checks/registry.js";
import { type Check, Ctx } from "../src/checks/types.js";
import type { Caps, ProfileData } from "../src/cpu/profile.js";
import { baseEntry } from "../src/gen/base.js";
import { profileAll, run, runs } from "./helpers.js";

const MASK64 = (1n << 64n) - 1n;

/** Canonical for an n-bit linear-address width: bits 63:n-1 all 0 or all 1. */
function refCanonical(v: bigint, n: number): boolean {
  const top = v >> BigInt(n - 1);
  return top === 0n || top === (1n << BigInt(65 - n)) - 1n;
}

function check(id: string): Check {
  const c = checkById(id);
  if (!c) throw new Error(`no check ${id}`);
  return c;
}

/** Does the check apply and fail with these fields set on the base state? */
function verdict(
  caps: Caps,
  id: string,
  fields: Record<string, bigint>,
  processor?: { ia32e: boolean },
): boolean {
  const e = baseEntry(caps);
  for (const [k, v] of Object.entries(fields)) e.vmcs.setByName(k, v);
  if (processor) Object.assign(e.processor, processor);
  const ctx = new Ctx(e.vmcs, e.caps, e.processor, e.memory);
  const c = check(id);
  return (c.when === undefined || c.when(ctx)) && c.fail(ctx);
}

/** 64-bit values concentrated around the canonical boundaries of 48- and 57-bit widths. */
const u64 = fc.oneof(
  fc.bigInt({ min: 0n, max: MASK64 }),
  fc
    .tuple(fc.constantFrom(47n, 48n, 55n, 56n, 57n, 63n), fc.bigInt({ min: -4n, max: 4n }), fc.boolean())
    .map(([b, d, neg]) => {
      const v = (1n << b) + d;
      return (neg ? -v : v) & MASK64;
    }),
);

const caps48 = profileAll();
const caps57 = profileAll((d) => {
  d.linearAddressBits = 57;
});

describe("canonical-address checks agree with a BigInt formulation", () => {
  const msrStyle = [
    ["host.sysenter-esp.canonical", "HOST_IA32_SYSENTER_ESP"],
    ["host.sysenter-eip.canonical", "HOST_IA32_SYSENTER_EIP"],
    ["host.fs-base.canonical", "HOST_FS_BASE"],
    ["host.gs-base.canonical", "HOST_GS_BASE"],
    ["host.gdtr-base.canonical", "HOST_GDTR_BASE"],
    ["host.idtr-base.canonical", "HOST_IDTR_BASE"],
    ["host.tr-base.canonical", "HOST_TR_BASE"],
  ] as const;
  for (const [id, field] of msrStyle) {
    it(`${id} (maximum linear-address width, 48 and 57)`, () => {
      fc.assert(
        fc.property(u64, (v) => {
          expect(verdict(caps48, id, { [field]: v })).toBe(!refCanonical(v, 48));
          expect(verdict(caps57, id, { [field]: v })).toBe(!refCanonical(v, 57));
        }),
        { numRuns: runs(300) },
      );
    });
  }

  it("host.rip.canonical follows host CR4.LA57, not the CPU's maximum width", () => {
    const cr4 = baseEntry(caps57).vmcs.getByName("HOST_CR4");
    fc.assert(
      fc.property(u64, fc.boolean(), (v, la57) => {
        const fields = { HOST_RIP: v, HOST_CR4: la57 ? cr4 | (1n << 12n) : cr4 & ~(1n << 12n) };
        expect(verdict(caps57, "host.rip.canonical", fields)).toBe(!refCanonical(v, la57 ? 57 : 48));
      }),
      { numRuns: runs(500) },
    );
  });

  it("host.rip.high-bits-without-hass: bits 63:32 must be 0 with HASS=0", () => {
    const exit = baseEntry(caps48).vmcs.getByName("VM_EXIT_CONTROLS") & ~(1n << 9n);
    fc.assert(
      fc.property(u64, (v) => {
        expect(
          verdict(caps48, "host.rip.high-bits-without-hass", { HOST_RIP: v, VM_EXIT_CONTROLS: exit }),
        ).toBe(v >> 32n !== 0n);
      }),
      { numRuns: runs(300) },
    );
  });
});

describe("CR fixed-bit checks agree with a BigInt formulation", () => {
  const NW_CD = (1n << 29n) | (1n << 30n);
  /** Violation iff some bit required to be 1 is 0 or some bit required to be 0 is 1. */
  const refViolates = (v: bigint, f0: bigint, f1: bigint, exempt: bigint) =>
    ((f0 & ~v) | (v & ~f1)) & ~exempt & MASK64;

  for (const [cr, id, exempt] of [
    ["CR0", "host.cr0.fixed-bits", NW_CD],
    ["CR4", "host.cr4.fixed-bits", 0n],
  ] as const) {
    it(`${id} with random FIXED0/FIXED1 and values`, () => {
      fc.assert(
        fc.property(
          // FIXED0 is decoded from its low 32 bits (no CR0/CR4 bit above 31 is ever fixed to 1).
          fc.bigInt({ min: 0n, max: 0xffffffffn }),
          fc.bigInt({ min: 0n, max: MASK64 }),
          fc.bigInt({ min: 0n, max: MASK64 }),
          fc.bigInt({ min: 0n, max: MASK64 }),
          (f0, f1, v, mix) => {
            // Mix the value with the fixed masks so that passing values are common too.
            const value = mix & 1n ? (v | f0) & f1 : v;
            const caps = profileAll((d: ProfileData) => {
              d.msrs[`IA32_VMX_${cr}_FIXED0`] = `0x${f0.toString(16)}`;
              d.msrs[`IA32_VMX_${cr}_FIXED1`] = `0x${f1.toString(16)}`;
            });
            expect(verdict(caps, id, { [`HOST_${cr}`]: value })).toBe(
              refViolates(value, f0, f1, exempt) !== 0n,
            );
          },
        ),
        { numRuns: runs(300) },
      );
    });
  }
});

describe("CR3 and PAT checks agree with a BigInt formulation", () => {
  it("host.cr3.reserved-bits for every MAXPHYADDR, with and without LAM", () => {
    fc.assert(
      fc.property(fc.integer({ min: 32, max: 52 }), fc.boolean(), u64, (maxPhys, lam, v) => {
        const caps = profileAll((d) => {
          d.maxPhysAddr = maxPhys;
          d.flags = lam ? [...(d.flags ?? []), "lam"] : d.flags?.filter((f) => f !== "lam");
        });
        let reserved = MASK64 & ~((1n << BigInt(maxPhys)) - 1n);
        if (lam) reserved &= ~(3n << 61n);
        expect(verdict(caps, "host.cr3.reserved-bits", { HOST_CR3: v })).toBe((v & reserved) !== 0n);
      }),
      { numRuns: runs(300) },
    );
  });

  it("host.pat.memory-types", () => {
    const entry = fc.oneof(fc.constantFrom(0n, 1n, 4n, 5n, 6n, 7n), fc.bigInt({ min: 0n, max: 255n }));
    fc.assert(
      fc.property(fc.array(entry, { minLength: 8, maxLength: 8 }), (bytes) => {
        const v = bytes.reduce((acc, b, i) => acc | (b << BigInt(8 * i)), 0n);
        const ok = bytes.every((b) => [0n, 1n, 4n, 5n, 6n, 7n].includes(b));
        expect(verdict(caps48, "host.pat.memory-types", { HOST_IA32_PAT: v })).toBe(!ok);
      }),
      { numRuns: runs(500) },
    );
  });
});

describe("host selectors", () => {
  it("a null SS is allowed for a 64-bit host (HASS=1)", () => {
    expect(run(caps48, { vmcs: { HOST_SS_SELECTOR: 0n } }).violations.map((v) => v.id)).not.toContain(
      "host.ss-selector.nonzero-without-hass",
    );
  });
  it("messages name the offending selector and its RPL/TI", () => {
    const r = run(caps48, { vmcs: { HOST_GS_SELECTOR: 0x1fn } });
    const v = r.violations.find((x) => x.id === "host.gs-selector.rpl-ti");
    expect(v?.message).toContain("HOST_GS_SELECTOR=0x1f");
    expect(v?.message).toContain("RPL=3 and TI=1");
    expect(r.outcome).toEqual({ type: "vmfail-valid", error: 8 });
  });
});
