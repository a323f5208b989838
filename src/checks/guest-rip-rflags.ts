/**
 * SDM 29.3.1.4 "Checks on Guest RIP, RFLAGS, and SSP". Failures are VM exits with reason 33, qualification
 * 0. nvmx models a processor that supports Intel 64 architecture, so RFLAGS bits 63:22 are reserved and the
 * RIP and SSP width checks apply.
 */
import * as archControls from "../arch/controls.js";
import * as archFields from "../arch/fields.js";
import * as archRegisters from "../arch/registers.js";
import { G } from "./groups.js";
import { and, type Code, code, hi, lo, pred } from "./pred.js";
import type { Check, Ctx } from "./types.js";
import * as util from "./util.js";

// Short local names for the imported tables and helpers.
const { ENTRY } = archControls;
const { F } = archFields;
const { AR, CR0, CR4, EVENT, EVENT_TYPE, RFLAGS } = archRegisters;
const { show } = util;

const RIP = F.GUEST_RIP!;
const RFLAGS_F = F.GUEST_RFLAGS!;
const CS_AR = F.GUEST_CS_AR_BYTES!;
const SS_AR = F.GUEST_SS_AR_BYTES!;
const CR0_F = F.GUEST_CR0!;
const CR4_F = F.GUEST_CR4!;
const INFO = F.VM_ENTRY_INTR_INFO_FIELD!;
const SSP = F.GUEST_SSP!;

/** "IA-32e mode guest" is 1 (for messages). */
function ia32e(c: Ctx): boolean {
  return (c.entry & ENTRY.IA32E_GUEST) !== 0;
}

// Shared conditions as predicate source (src/checks/pred.ts).

/** "IA-32e mode guest" is 1. */
const IA32E: Code = util.IA32E_GUEST;
/** The guest will run 64-bit code: "IA-32e mode guest" is 1 and CS.L is 1. */
const LONG_CODE: Code = code`${IA32E} && (${lo(CS_AR)} & ${AR.L}) !== 0`;
/**
 * Bits 63:N identical, N the processor's linear-address width (SDM 29.3.1.4: "bits 63:N must be
 * identical"). This is one bit weaker than canonical (63:N-1): it equals canonicality at width N+1
 * (mirrors u64.ts `isCanonical(lo, hi, linearAddressBits + 1)`: shift 64 - (N + 1) = 63 - N).
 */
const upperBitsIdentical = (i: number): Code =>
  code`(${hi(i)} << (63 - c.caps.linearAddressBits)) >> (63 - c.caps.linearAddressBits) === (${hi(i)} | 0)`;
/** "The guest will use FRED transitions" (SDM term): IA-32e mode guest and guest CR4.FRED = 1. */
const FRED_GUEST: Code = code`${IA32E} && (${hi(CR4_F)} & ${CR4.FRED_HI}) !== 0`;
/** The DPL of access rights in field i. */
const dpl = util.arDpl;

export const guestRipRflagsChecks: readonly Check[] = [
  // P1
  {
    id: "guest.rip.high-bits-outside-64-bit-mode",
    sdm: "29.3.1.4",
    cls: "guest",
    fields: ["GUEST_RIP", "VM_ENTRY_CONTROLS", "GUEST_CS_AR_BYTES"],
    rule: 'Guest RIP bits 63:32 must be 0 unless "IA-32e mode guest" is 1 and CS.L is 1',
    checklist: ["P1"],
    when: pred`!${LONG_CODE}`,
    fail: pred`${hi(RIP)} !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_RIP)} has bits 63:32 set but the guest does not start in 64-bit mode ("IA-32e mode guest"=${ia32e(c) ? 1 : 0}, CS.L=${(c.lo(F.GUEST_CS_AR_BYTES) >>> 13) & 1}); RIP must fit in 32 bits (e.g. 0x${c.lo(F.GUEST_RIP).toString(16)})`,
  },
  // P2. N is the processor's linear-address width (CPUID 80000008H:EAX[15:8]), not the guest's CR4.LA57;
  // there is no check for N = 64, which no profile has.
  {
    id: "guest.rip.linear-width",
    sdm: "29.3.1.4",
    cls: "guest",
    fields: ["GUEST_RIP", "VM_ENTRY_CONTROLS", "GUEST_CS_AR_BYTES"],
    rule: "In 64-bit mode (IA-32e mode guest, CS.L=1), guest RIP bits 63:N must be identical (N = linear-address width)",
    checklist: ["P2"],
    when: pred`${LONG_CODE} && c.caps.linearAddressBits < 64`,
    fail: pred`!${upperBitsIdentical(RIP)}`,
    message: (c) =>
      `${show(c, F.GUEST_RIP)}: bits 63:${c.caps.linearAddressBits} are not all equal for a guest entering 64-bit mode (linear-address width ${c.caps.linearAddressBits})`,
  },
  // P3, P4
  {
    id: "guest.rflags.reserved-bits",
    sdm: "29.3.1.4",
    cls: "guest",
    fields: ["GUEST_RFLAGS"],
    rule: "Guest RFLAGS reserved bits 63:22, 15, 5 and 3 must be 0",
    checklist: ["P3"],
    fail: pred`(${lo(RFLAGS_F)} & ${RFLAGS.RESERVED_LO}) !== 0 || ${hi(RFLAGS_F)} !== 0`,
    message: (c) => {
      const lo = (c.lo(F.GUEST_RFLAGS) & RFLAGS.RESERVED_LO) >>> 0;
      const bits: number[] = [];
      for (let b = 0; b < 32; b++) if ((lo >>> b) & 1) bits.push(b);
      const hi = c.hi(F.GUEST_RFLAGS);
      const where = [
        bits.length ? `bit${bits.length > 1 ? "s" : ""} ${bits.join(", ")}` : "",
        hi ? "bits in 63:32" : "",
      ]
        .filter(Boolean)
        .join(" and ");
      return `${show(c, F.GUEST_RFLAGS)} sets reserved ${where}; bits 63:22, 15, 5 and 3 must be 0`;
    },
  },
  {
    id: "guest.rflags.bit1-set",
    sdm: "29.3.1.4",
    cls: "guest",
    fields: ["GUEST_RFLAGS"],
    rule: "Guest RFLAGS bit 1 (reserved) must be 1",
    checklist: ["P4"],
    fail: pred`(${lo(RFLAGS_F)} & ${RFLAGS.FIXED1}) === 0`,
    message: (c) => `${show(c, F.GUEST_RFLAGS)} has bit 1 clear; RFLAGS bit 1 is reserved and must be 1`,
  },
  // P5 (two independent conditions, split).
  {
    id: "guest.rflags.vm-in-ia32e",
    sdm: "29.3.1.4",
    cls: "guest",
    fields: ["GUEST_RFLAGS", "VM_ENTRY_CONTROLS"],
    rule: 'Guest RFLAGS.VM must be 0 if "IA-32e mode guest" is 1',
    checklist: ["P5"],
    when: pred`${IA32E}`,
    fail: pred`(${lo(RFLAGS_F)} & ${RFLAGS.VM}) !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_RFLAGS)} has VM=1 (bit 17) but "IA-32e mode guest" is 1: virtual-8086 mode does not exist in IA-32e mode`,
  },
  {
    id: "guest.rflags.vm-without-pe",
    sdm: "29.3.1.4",
    cls: "guest",
    fields: ["GUEST_RFLAGS", "GUEST_CR0"],
    rule: "Guest RFLAGS.VM must be 0 if guest CR0.PE is 0",
    checklist: ["P5"],
    when: pred`(${lo(CR0_F)} & ${CR0.PE}) === 0`,
    fail: pred`(${lo(RFLAGS_F)} & ${RFLAGS.VM}) !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_RFLAGS)} has VM=1 (bit 17) but ${show(c, F.GUEST_CR0)} has PE=0: virtual-8086 mode needs protected mode`,
  },
  // P6
  {
    id: "guest.rflags.if-for-external-interrupt",
    sdm: "29.3.1.4",
    cls: "guest",
    fields: ["GUEST_RFLAGS", "VM_ENTRY_INTR_INFO_FIELD"],
    rule: "Guest RFLAGS.IF must be 1 when injecting an external interrupt",
    checklist: ["P6"],
    when: pred`${and(
      code`(${lo(INFO)} & ${EVENT.VALID}) !== 0`,
      code`((${lo(INFO)} >>> ${EVENT.TYPE_SHIFT}) & 7) === ${EVENT_TYPE.EXT_INTR}`,
    )}`,
    fail: pred`(${lo(RFLAGS_F)} & ${RFLAGS.IF}) === 0`,
    message: (c) =>
      `${show(c, F.GUEST_RFLAGS)} has IF=0 (bit 9) while injecting external interrupt vector ${c.lo(F.VM_ENTRY_INTR_INFO_FIELD) & 0xff} (${show(c, F.VM_ENTRY_INTR_INFO_FIELD)}); set RFLAGS.IF or inject later (interrupt-window exiting)`,
  },
  // P7 [FRED]. SDM wording not retrieved; both Intel-maintained implementations (Bochs, KVM FRED series
  // v5–v8) require IOPL=0 when the guest will use FRED transitions and SS.DPL=3. The gate uses the SDM
  // term (IA-32e mode guest and CR4.FRED); Bochs tests CR4.FRED alone, which is equivalent once G8 holds.
  {
    id: "guest.rflags.iopl-with-fred-user",
    sdm: "29.3.1.4",
    cls: "guest",
    fields: ["GUEST_RFLAGS", "GUEST_SS_AR_BYTES", "GUEST_CR4", "VM_ENTRY_CONTROLS"],
    rule: "If the guest will use FRED transitions and SS.DPL is 3, guest RFLAGS.IOPL must be 0",
    checklist: ["P7"],
    when: pred`${FRED_GUEST} && ${dpl(SS_AR)} === 3`,
    fail: pred`(${lo(RFLAGS_F)} & ${RFLAGS.IOPL}) !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_RFLAGS)} has IOPL=${(c.lo(F.GUEST_RFLAGS) >>> 12) & 3} with SS.DPL=3 in a guest that will use FRED transitions (IA-32e mode guest, CR4.FRED=1); IOPL must be 0`,
  },
  // P8, P9 [CET]. The newest SDM requires only bits 63:N identical for the guest SSP, not canonical
  // (Intel's KVM CET series, Chao Gao 2025); Bochs requires canonical (docs/deviations.md).
  {
    id: "guest.ssp.aligned",
    sdm: "29.3.1.4",
    cls: "guest",
    fields: ["GUEST_SSP", "VM_ENTRY_CONTROLS"],
    rule: 'With "load CET state", guest SSP bits 1:0 must be 0',
    checklist: ["P8"],
    group: "guestLoadCet",
    when: pred`${G.guestLoadCet}`,
    fail: pred`(${lo(SSP)} & 3) !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_SSP)} has bits 1:0 = ${c.lo(F.GUEST_SSP) & 3} while "load CET state" is 1; the shadow-stack pointer must be 4-byte aligned`,
  },
  {
    id: "guest.ssp.linear-width",
    sdm: "29.3.1.4",
    cls: "guest",
    fields: ["GUEST_SSP", "VM_ENTRY_CONTROLS"],
    rule: 'With "load CET state", guest SSP bits 63:N must be identical (N = linear-address width)',
    checklist: ["P9"],
    group: "guestLoadCet",
    when: pred`${G.guestLoadCet} && c.caps.linearAddressBits < 64`,
    fail: pred`!${upperBitsIdentical(SSP)}`,
    message: (c) =>
      `${show(c, F.GUEST_SSP)}: bits 63:${c.caps.linearAddressBits} are not all equal while "load CET state" is 1 (linear-address width ${c.caps.linearAddressBits})`,
  },
];
