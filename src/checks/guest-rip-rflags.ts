/**
 * SDM 29.3.1.4 "Checks on Guest RIP, RFLAGS, and SSP". Failures are VM exits with reason 33, qualification
 * 0. nvmx models a processor that supports Intel 64 architecture, so RFLAGS bits 63:22 are reserved and the
 * RIP and SSP width checks apply.
 */
import * as archRegisters from "../arch/registers.js";
import { hex } from "../util/u64.js";
import { decoders } from "./compile.js";
import { section } from "./rule.js";
import type { State } from "./state.js";
import * as util from "./util.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves predicates' names in this module (compile.ts).
const scope = (name: string): unknown => eval(name);

// Short local names for the imported tables and helpers.
const { AR, CR0, EVENT, EVENT_TYPE, RFLAGS } = archRegisters;
const { arDpl, eventType, eventVector, fredGuest, ia32eGuest, reservedBits, show } = util;

const { rule, checks } = section({
  scope,
  sdm: "29.3.1.4",
  title: "Guest RIP, RFLAGS and SSP",
  cls: "guest",
});

const { longCode, upperBitsIdentical } = decoders(scope, {
  /** The guest will run 64-bit code: "IA-32e mode guest" is 1 and CS.L is 1. */
  longCode: (s: State) => ia32eGuest(s) && (s.GUEST_CS_AR_BYTES & AR.L) !== 0,
  /**
   * Bits 63:N of a value with high half `hi` are identical, N the processor's linear-address width (SDM
   * 29.3.1.4: "bits 63:N must be identical"). One bit weaker than canonical (63:N-1): it equals canonicality
   * at width N+1 (u64.ts `isCanonical(lo, hi, linearAddressBits + 1)`: shift 64 - (N + 1) = 63 - N).
   */
  upperBitsIdentical: (s: State, hi: number) =>
    (hi << (63 - s.caps.linearAddressBits)) >> (63 - s.caps.linearAddressBits) === (hi | 0),
});

export default checks([
  // P1
  rule({
    id: "guest.rip.high-bits-outside-64-bit-mode",
    rule: 'Guest RIP bits 63:32 must be 0 unless "IA-32e mode guest" is 1 and CS.L is 1',
    checklist: ["P1"],
    when: (s) => !longCode(s),
    fail: (s) => s.hi.GUEST_RIP !== 0,
    message: (s) =>
      `${show(s, "GUEST_RIP")} has bits 63:32 set but the guest does not start in 64-bit mode ("IA-32e mode guest"=${ia32eGuest(s) ? 1 : 0}, CS.L=${(s.GUEST_CS_AR_BYTES >>> 13) & 1}); RIP must fit in 32 bits (e.g. ${hex(s.GUEST_RIP)})`,
  }),
  // P2. N is the processor's linear-address width (CPUID 80000008H:EAX[15:8]), not the guest's CR4.LA57;
  // there is no check for N = 64, which no profile has.
  rule({
    id: "guest.rip.linear-width",
    rule: "In 64-bit mode (IA-32e mode guest, CS.L=1), guest RIP bits 63:N must be identical (N = linear-address width)",
    checklist: ["P2"],
    when: (s) => longCode(s) && s.caps.linearAddressBits < 64,
    fail: (s) => !upperBitsIdentical(s, s.hi.GUEST_RIP),
    message: (s) =>
      `${show(s, "GUEST_RIP")}: bits 63:${s.caps.linearAddressBits} are not all equal for a guest entering 64-bit mode (linear-address width ${s.caps.linearAddressBits})`,
  }),
  // P3, P4
  rule({
    id: "guest.rflags.reserved-bits",
    rule: "Guest RFLAGS reserved bits 63:22, 15, 5 and 3 must be 0",
    checklist: ["P3"],
    fail: (s) => (s.GUEST_RFLAGS & RFLAGS.RESERVED_LO) !== 0 || s.hi.GUEST_RFLAGS !== 0,
    message: (s) =>
      `${reservedBits(s, "GUEST_RFLAGS", s.GUEST_RFLAGS & RFLAGS.RESERVED_LO, s.hi.GUEST_RFLAGS)}; bits 63:22, 15, 5 and 3 must be 0`,
  }),
  rule({
    id: "guest.rflags.bit1-set",
    rule: "Guest RFLAGS bit 1 (reserved) must be 1",
    checklist: ["P4"],
    fail: (s) => (s.GUEST_RFLAGS & RFLAGS.FIXED1) === 0,
    message: (s) => `${show(s, "GUEST_RFLAGS")} has bit 1 clear; RFLAGS bit 1 is reserved and must be 1`,
  }),
  // P5 (two independent conditions, split).
  rule({
    id: "guest.rflags.vm-in-ia32e",
    rule: 'Guest RFLAGS.VM must be 0 if "IA-32e mode guest" is 1',
    checklist: ["P5"],
    when: (s) => ia32eGuest(s),
    fail: (s) => (s.GUEST_RFLAGS & RFLAGS.VM) !== 0,
    message: (s) =>
      `${show(s, "GUEST_RFLAGS")} has VM=1 (bit 17) but "IA-32e mode guest" is 1: virtual-8086 mode does not exist in IA-32e mode`,
  }),
  rule({
    id: "guest.rflags.vm-without-pe",
    rule: "Guest RFLAGS.VM must be 0 if guest CR0.PE is 0",
    checklist: ["P5"],
    when: (s) => (s.GUEST_CR0 & CR0.PE) === 0,
    fail: (s) => (s.GUEST_RFLAGS & RFLAGS.VM) !== 0,
    message: (s) =>
      `${show(s, "GUEST_RFLAGS")} has VM=1 (bit 17) but ${show(s, "GUEST_CR0")} has PE=0: virtual-8086 mode needs protected mode`,
  }),
  // P6
  rule({
    id: "guest.rflags.if-for-external-interrupt",
    rule: "Guest RFLAGS.IF must be 1 when injecting an external interrupt",
    checklist: ["P6"],
    when: (s) => (s.VM_ENTRY_INTR_INFO_FIELD & EVENT.VALID) !== 0 && eventType(s) === EVENT_TYPE.EXT_INTR,
    fail: (s) => (s.GUEST_RFLAGS & RFLAGS.IF) === 0,
    message: (s) =>
      `${show(s, "GUEST_RFLAGS")} has IF=0 (bit 9) while injecting external interrupt vector ${eventVector(s)} (${show(s, "VM_ENTRY_INTR_INFO_FIELD")}); set RFLAGS.IF or inject later (interrupt-window exiting)`,
  }),
  // P7 [FRED]. SDM wording not retrieved; both Intel-maintained implementations (Bochs, KVM FRED series
  // v5–v8) require IOPL=0 when the guest will use FRED transitions and SS.DPL=3. The gate uses the SDM
  // term (IA-32e mode guest and CR4.FRED); Bochs tests CR4.FRED alone, which is equivalent once G8 holds.
  rule({
    id: "guest.rflags.iopl-with-fred-user",
    rule: "If the guest will use FRED transitions and SS.DPL is 3, guest RFLAGS.IOPL must be 0",
    checklist: ["P7"],
    when: (s) => fredGuest(s) && arDpl(s.GUEST_SS_AR_BYTES) === 3,
    fail: (s) => (s.GUEST_RFLAGS & RFLAGS.IOPL) !== 0,
    message: (s) =>
      `${show(s, "GUEST_RFLAGS")} has IOPL=${(s.GUEST_RFLAGS >>> 12) & 3} with SS.DPL=3 in a guest that will use FRED transitions (IA-32e mode guest, CR4.FRED=1); IOPL must be 0`,
  }),
  // P8, P9 [CET]. The newest SDM requires only bits 63:N identical for the guest SSP, not canonical
  // (Intel's KVM CET series, Chao Gao 2025); Bochs requires canonical (docs/deviations.md).
  rule({
    id: "guest.ssp.aligned",
    rule: 'With "load CET state", guest SSP bits 1:0 must be 0',
    checklist: ["P8"],
    group: "guestLoadCet",
    fail: (s) => s.GUEST_SSP & 3,
    message: (s, low) =>
      `${show(s, "GUEST_SSP")} has bits 1:0 = ${low} while "load CET state" is 1; the shadow-stack pointer must be 4-byte aligned`,
  }),
  rule({
    id: "guest.ssp.linear-width",
    rule: 'With "load CET state", guest SSP bits 63:N must be identical (N = linear-address width)',
    checklist: ["P9"],
    group: "guestLoadCet",
    when: (s) => s.caps.linearAddressBits < 64,
    fail: (s) => !upperBitsIdentical(s, s.hi.GUEST_SSP),
    message: (s) =>
      `${show(s, "GUEST_SSP")}: bits 63:${s.caps.linearAddressBits} are not all equal while "load CET state" is 1 (linear-address width ${s.caps.linearAddressBits})`,
  }),
]);
