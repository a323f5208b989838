/**
 * Property tests for SDM 29.3.1.5 (guest non-register state) and 29.3.1.6 (PDPTEs): the checks are compared
 * with an independent, deliberately plain restatement of the SDM bullets over random states.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import guestNonRegisterSection from "../src/checks/guest-non-register.js";

const guestNonRegisterChecks = guestNonRegisterSection.checks;

import guestPdpteSection from "../src/checks/guest-pdpte.js";

const guestPdpteChecks = guestPdpteSection.checks;

import type { Check } from "../src/checks/types.js";
import type { Caps } from "../src/cpu/profile.js";
import { failingChecks } from "../src/entry/evaluate.js";
import { contextOf } from "../src/entry/run.js";
import { type Patch, profileAll, runs, state } from "./helpers.js";

const RUNS = { numRuns: runs(3000) };

/** Profiles by (HLT, shutdown, wait-for-SIPI, sgx, rtm) support, built once. */
const capsCache = new Map<string, Caps>();
function capsFor(hlt: boolean, shutdown: boolean, sipi: boolean, sgx: boolean, rtm: boolean): Caps {
  const key = `${+hlt}${+shutdown}${+sipi}${+sgx}${+rtm}`;
  let caps = capsCache.get(key);
  if (!caps) {
    caps = profileAll((d) => {
      const misc = (0x7004c1e5 & ~0x1c0) | (hlt ? 0x40 : 0) | (shutdown ? 0x80 : 0) | (sipi ? 0x100 : 0);
      d.msrs.IA32_VMX_MISC = `0x${misc.toString(16)}`;
      d.flags = [...(d.flags ?? []), ...(sgx ? ["sgx"] : []), ...(rtm ? ["rtm"] : [])];
    });
    capsCache.set(key, caps);
  }
  return caps;
}

function failingIds(caps: Caps, patch: Patch, checks: readonly Check[]): string[] {
  return failingChecks(contextOf(state(caps, patch)), checks)
    .map((c) => c.id)
    .sort();
}

interface S {
  activity: number;
  intr: number;
  valid: boolean;
  type: number;
  vector: number;
  iflag: boolean;
  tf: boolean;
  btf: boolean;
  pd: number;
  vnmi: boolean;
  entrySmm: boolean;
  inSmm: boolean;
  ssDpl3: boolean;
  fred: boolean;
  hlt: boolean;
  shutdown: boolean;
  sipi: boolean;
  sgx: boolean;
  rtm: boolean;
}

const bitsOf = (mask: number) =>
  fc
    .array(fc.integer({ min: 0, max: 31 }), { maxLength: 4 })
    .map((bs) => bs.reduce((a, b) => a | (1 << b), 0) & mask);

const stateArb: fc.Arbitrary<S> = fc.record({
  activity: fc.oneof(
    { weight: 9, arbitrary: fc.integer({ min: 0, max: 3 }) },
    fc.integer({ min: 4, max: 7 }),
  ),
  intr: fc.oneof(
    { weight: 9, arbitrary: fc.integer({ min: 0, max: 0x1f }) },
    fc.integer({ min: 0, max: 0xffffffff }).map((v) => v >>> 0),
  ),
  valid: fc.boolean(),
  type: fc.constantFrom(0, 2, 3, 4, 5, 6, 7),
  vector: fc.oneof(fc.constantFrom(0, 1, 2, 3, 6, 18, 32), fc.integer({ min: 0, max: 255 })),
  iflag: fc.boolean(),
  tf: fc.boolean(),
  btf: fc.boolean(),
  // mostly architectural bits (B3:0, 12, 14, 16), sometimes anything
  pd: fc.oneof({ weight: 4, arbitrary: bitsOf(0x1500f) }, bitsOf(0xffffffff)),
  vnmi: fc.boolean(),
  entrySmm: fc.boolean(),
  inSmm: fc.boolean(),
  ssDpl3: fc.boolean(),
  fred: fc.boolean(),
  hlt: fc.boolean(),
  shutdown: fc.boolean(),
  sipi: fc.boolean(),
  sgx: fc.boolean(),
  rtm: fc.boolean(),
});

function patchOf(s: S): Patch {
  return {
    processor: { inSmm: s.inSmm, dualMonitorActive: s.inSmm },
    vmcs: {
      GUEST_ACTIVITY_STATE: s.activity,
      GUEST_INTERRUPTIBILITY_INFO: s.intr,
      VM_ENTRY_INTR_INFO_FIELD: ((s.valid ? 0x80000000 : 0) | (s.type << 8) | s.vector) >>> 0,
      VM_ENTRY_INSTRUCTION_LEN: 2,
      GUEST_RFLAGS: 0x2 | (s.iflag ? 0x200 : 0) | (s.tf ? 0x100 : 0),
      GUEST_IA32_DEBUGCTL: s.btf ? 0x2 : 0,
      GUEST_PENDING_DBG_EXCEPTIONS: s.pd >>> 0,
      PIN_BASED_VM_EXEC_CONTROL: (old) => (s.vnmi ? old | 0x20n : old & ~0x20n),
      VM_ENTRY_CONTROLS: (old) => (s.entrySmm ? old | 0x400n : old & ~0x400n),
      GUEST_SS_AR_BYTES: s.ssDpl3 ? 0xc0f3 : 0xc093,
      GUEST_CR4: (old) => (s.fred ? old | (1n << 32n) : old & ~(1n << 32n)),
    },
  };
}

/** The SDM 29.3.1.5 bullets restated directly (the base guest is an IA-32e mode guest, link pointer unused). */
function expected(s: S): string[] {
  const out: string[] = [];
  const sti = (s.intr & 1) !== 0;
  const movss = (s.intr & 2) !== 0;
  const smi = (s.intr & 4) !== 0;
  const nmiBlk = (s.intr & 8) !== 0;
  const enclave = (s.intr & 16) !== 0;
  const ext = s.valid && s.type === 0;
  const nmi = s.valid && s.type === 2;
  const a = s.activity;
  if (a > 3) out.push("guest.activity.reserved");
  if ((a === 1 && !s.hlt) || (a === 2 && !s.shutdown) || (a === 3 && !s.sipi))
    out.push("guest.activity.unsupported");
  if (a === 1 && s.ssDpl3) out.push("guest.activity.hlt-ss-dpl");
  if ((sti || movss) && a !== 0) out.push("guest.activity.blocking-not-active");
  if (a === 1 && s.valid) {
    const ok =
      s.type === 0 ||
      s.type === 2 ||
      (s.type === 3 && (s.vector === 1 || s.vector === 18)) ||
      (s.type === 7 && s.vector === 0);
    if (!ok) out.push("guest.activity.hlt-event");
  }
  if (a === 2 && s.valid && !(s.type === 2 || (s.type === 3 && s.vector === 18)))
    out.push("guest.activity.shutdown-event");
  if (a === 3 && s.valid) out.push("guest.activity.wait-for-sipi-event");
  if (s.entrySmm && a === 3) out.push("guest.activity.smm-wait-for-sipi");
  if (s.intr >>> 5 !== 0) out.push("guest.intr.reserved");
  if (sti && movss) out.push("guest.intr.sti-and-mov-ss");
  if (sti && !s.iflag) out.push("guest.intr.sti-if");
  if (ext && (sti || movss)) out.push("guest.intr.ext-intr-blocking");
  if (nmi && movss) out.push("guest.intr.nmi-mov-ss");
  if (nmi && sti) out.push("guest.intr.nmi-sti");
  if (!s.inSmm && smi) out.push("guest.intr.smi-outside-smm");
  if (s.entrySmm && !smi) out.push("guest.intr.smm-entry-smi");
  if (s.vnmi && nmi && nmiBlk) out.push("guest.intr.vnmi-nmi-blocking");
  if (enclave && movss) out.push("guest.intr.enclave-mov-ss");
  if (enclave && !s.sgx) out.push("guest.intr.enclave-sgx");
  if (s.fred && s.ssDpl3 && sti) out.push("guest.intr.fred-sti-user");
  const pd = s.pd >>> 0;
  const bit = (n: number) => ((pd >>> n) & 1) === 1;
  let reserved = false;
  for (let n = 4; n < 32; n++) if (bit(n) && n !== 12 && n !== 14 && n !== 16) reserved = true;
  if (reserved) out.push("guest.pending-dbg.reserved");
  if (sti || movss || a === 1) {
    const trap = s.tf && !s.btf;
    if (trap && !bit(14)) out.push("guest.pending-dbg.bs-required");
    if (!trap && bit(14)) out.push("guest.pending-dbg.bs-forbidden");
  }
  if (bit(16)) {
    if (bit(0) || bit(1) || bit(2) || bit(3) || bit(14)) out.push("guest.pending-dbg.rtm-other-bits");
    if (!bit(12)) out.push("guest.pending-dbg.rtm-enabled-bp");
    if (!s.rtm) out.push("guest.pending-dbg.rtm-support");
    if (movss) out.push("guest.pending-dbg.rtm-mov-ss");
  }
  return out.sort();
}

describe("SDM 29.3.1.5 interruptibility × activity × injection × pending debug exceptions", () => {
  it("matches a direct restatement of the SDM", () => {
    fc.assert(
      fc.property(stateArb, (s) => {
        const caps = capsFor(s.hlt, s.shutdown, s.sipi, s.sgx, s.rtm);
        expect(failingIds(caps, patchOf(s), guestNonRegisterChecks)).toEqual(expected(s));
      }),
      RUNS,
    );
  });

  it("BS rule: with STI/MOV-SS blocking or HLT, BS = RFLAGS.TF AND NOT DEBUGCTL.BTF", () => {
    const caps = capsFor(true, true, true, true, true);
    const bsIds = new Set(["guest.pending-dbg.bs-required", "guest.pending-dbg.bs-forbidden"]);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.constantFrom(0, 1, 2),
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        (rflags, debugctl, intr, activity, bs) => {
          const patch: Patch = {
            vmcs: {
              GUEST_RFLAGS: rflags >>> 0,
              GUEST_IA32_DEBUGCTL: debugctl >>> 0,
              GUEST_INTERRUPTIBILITY_INFO: intr,
              GUEST_ACTIVITY_STATE: activity,
              GUEST_PENDING_DBG_EXCEPTIONS: bs ? 0x4000 : 0,
            },
          };
          const got = failingIds(caps, patch, guestNonRegisterChecks).filter((id) => bsIds.has(id));
          const gated = intr !== 0 || activity === 1;
          const want = (((rflags >>> 8) & 1) === 1 && ((debugctl >>> 1) & 1) === 0) === bs;
          expect(got.length === 0).toBe(!gated || want);
        },
      ),
      RUNS,
    );
  });
});

describe("SDM 29.3.1.5 VMCS link pointer", () => {
  it("matches a direct restatement (BigInt arithmetic)", () => {
    const caps = capsFor(true, true, true, true, true);
    const ptrArb = fc.oneof(
      fc.constant((1n << 64n) - 1n),
      fc.bigInt({ min: 0n, max: (1n << 34n) - 1n }).map((p) => p << 12n),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    );
    // the profile's revision identifier is 4; mostly near it, with and without the shadow-VMCS indicator
    const dwordArb = fc.oneof(
      fc.constantFrom(4, 0x80000004, 5, 0x80000005),
      fc.integer({ min: 0, max: 0xffffffff }),
    );
    fc.assert(
      fc.property(ptrArb, dwordArb, fc.boolean(), (ptr, dword, shadow) => {
        const memory: Record<number, bigint> = {};
        const readable = ptr !== (1n << 64n) - 1n && (ptr & 0xfffn) === 0n && ptr >> 46n === 0n;
        if (readable) memory[Number(ptr)] = BigInt(dword >>> 0);
        const patch: Patch = {
          memory,
          vmcs: {
            VMCS_LINK_POINTER: ptr,
            SECONDARY_VM_EXEC_CONTROL: (old) => (shadow ? old | (1n << 14n) : old & ~(1n << 14n)),
          },
        };
        const want: string[] = [];
        if (ptr !== (1n << 64n) - 1n) {
          if ((ptr & 0xfffn) !== 0n) want.push("guest.link-pointer.alignment");
          if (ptr >> 46n !== 0n) want.push("guest.link-pointer.phys-width");
          if (readable) {
            if ((dword & 0x7fffffff) !== 4) want.push("guest.link-pointer.revision");
            if (dword >>> 31 !== (shadow ? 1 : 0)) want.push("guest.link-pointer.shadow-indicator");
          }
        }
        expect(failingIds(caps, patch, guestNonRegisterChecks)).toEqual(want.sort());
      }),
      RUNS,
    );
  });
});

describe("SDM 29.3.1.6 PDPTEs", () => {
  const caps = capsFor(true, true, true, true, true);
  const pdpteArb = fc.oneof(
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    // present, mostly valid: an address below 2^46 plus ignored bits 11:9 and PWT/PCD
    fc
      .tuple(fc.bigInt({ min: 0n, max: (1n << 34n) - 1n }), fc.constantFrom(0n, 0x18n, 0xe00n))
      .map(([pfn, low]) => (pfn << 12n) | low | 1n),
  );
  const invalid = (e: bigint) => (e & 1n) === 1n && ((e & 0x1e6n) !== 0n || e >> 46n !== 0n);
  const PAE = {
    VM_ENTRY_CONTROLS: (old: bigint) => old & ~(1n << 9n),
    GUEST_IA32_EFER: 0x800,
    GUEST_CS_AR_BYTES: 0xc09b,
    GUEST_RIP: 0x1000000,
    GUEST_CR4: (old: bigint) => old & ~(1n << 17n),
  };

  it("EPT on: the four PDPTE fields, EPT off: four qwords at CR3 bits 31:5", () => {
    fc.assert(
      fc.property(
        fc.array(pdpteArb, { minLength: 4, maxLength: 4 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 0x7ffffff }),
        (e, useEpt, cr3) => {
          const base = (cr3 & ~0x1f) >>> 0;
          const patch: Patch = useEpt
            ? {
                vmcs: {
                  ...PAE,
                  GUEST_CR3: cr3,
                  GUEST_PDPTR0: e[0]!,
                  GUEST_PDPTR1: e[1]!,
                  GUEST_PDPTR2: e[2]!,
                  GUEST_PDPTR3: e[3]!,
                },
              }
            : {
                vmcs: { ...PAE, GUEST_CR3: cr3, SECONDARY_VM_EXEC_CONTROL: (old) => old & ~2n },
                memory: { [base]: e[0]!, [base + 8]: e[1]!, [base + 16]: e[2]!, [base + 24]: e[3]! },
              };
          const want = e.some(invalid)
            ? [useEpt ? "guest.pdpte.field-reserved" : "guest.pdpte.memory-reserved"]
            : [];
          expect(failingIds(caps, patch, guestPdpteChecks)).toEqual(want);
        },
      ),
      { numRuns: runs(1000) },
    );
  });

  it("no PDPTE check without PAE paging (IA-32e guest, or CR0.PG = 0, or CR4.PAE = 0)", () => {
    const bad = 0x3n;
    const noEpt = { SECONDARY_VM_EXEC_CONTROL: (old: bigint) => old & ~2n };
    for (const vmcs of [
      { ...noEpt },
      { ...PAE, ...noEpt, GUEST_CR4: (old: bigint) => old & ~(1n << 17n) & ~(1n << 5n) },
      { ...PAE, ...noEpt, GUEST_CR0: (old: bigint) => old & ~(1n << 31n) },
    ])
      expect(failingIds(caps, { vmcs, memory: { 33554432: bad } }, guestPdpteChecks)).toEqual([]);
    expect(
      failingIds(caps, { vmcs: { ...PAE, ...noEpt }, memory: { 33554432: bad } }, guestPdpteChecks),
    ).toEqual(["guest.pdpte.memory-reserved"]);
  });
});
