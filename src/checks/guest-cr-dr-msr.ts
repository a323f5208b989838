/**
 * SDM 29.3.1.1 "Checks on Guest Control Registers, Debug Registers, and MSRs". Every failure is a VM exit
 * with reason 33 ("VM-entry failure due to invalid guest state"), qualification 0 (SDM 29.8).
 *
 * nvmx models a processor that supports Intel 64 architecture, so the bullets the SDM restricts to such
 * processors always apply.
 */
import * as archControls from "../arch/controls.js";
import * as archFields from "../arch/fields.js";
import * as archRegisters from "../arch/registers.js";
import * as u64 from "../util/u64.js";
import { G } from "./groups.js";
import { type Code, canonical, code, compileValue, hi, lo, misaligned, pred } from "./pred.js";
import type { Check, Ctx } from "./types.js";
import * as util from "./util.js";

// Short local names for the imported tables and helpers.
const { ENTRY, PROC2 } = archControls;
const { F } = archFields;
const { CR0, CR4, EFER } = archRegisters;
const { hex64 } = u64;
const { bitList, eferValidLo, eferValidText, show } = util;

// ---------------------------------------------------------------------------------------------------------
// Constants private to these checks.

/** CR0.NW and CR0.CD are never checked: VM entry does not change them (SDM 29.3.1.1, 29.3.2.1). */
const CR0_NEVER_CHECKED = CR0.NW | CR0.CD;
/** CR3 bits 62:61 (LAM_U57, LAM_U48), as bits of the high half. */
const CR3_LAM_HI = (1 << 30) | (1 << 29);
/** IA32_S_CET (SDM Vol. 1 18.x, Vol. 3 Table 2-2): bits 9:6 reserved on every CET processor. */
const S_CET_RESERVED = 0x3c0;
/** SH_STK_EN, WR_SHSTK_EN: reserved without shadow-stack support. */
const S_CET_SHSTK = 0x3;
/** ENDBR_EN … SUPPRESS_DIS (5:2), SUPPRESS (10), TRACKER (11) and the legacy-bitmap base 63:12: IBT bits. */
const S_CET_IBT_LO = 0xfffffc3c;
const S_CET_SUPPRESS = 1 << 10;
const S_CET_TRACKER = 1 << 11;
/** IA32_BNDCFGS: EN (0), BNDPRESERVE (1), base 63:12; bits 11:2 reserved. */
const BNDCFGS_RESERVED = 0xffc;
/** IA32_FRED_CONFIG reserved bits 2, 5:4 and 11 (the entry-point page lives in 63:12). */
const FRED_CONFIG_RESERVED = 0x834;

// ---------------------------------------------------------------------------------------------------------
// Predicate source (src/checks/pred.ts) for the shared conditions and masks. The `when`/`fail` predicates
// are built from these; the functions after them compute the same values for the messages.

/** A VM-entry control is 1. */
const entryCtl = (bit: number): Code => code`(c.entry & ${bit}) !== 0`;
/** "IA-32e mode guest" VM-entry control. */
const IA32E = entryCtl(ENTRY.IA32E_GUEST);
/** "Unrestricted guest" secondary processor-based control (as in effect). */
const UG = code`(c.proc2 & ${PROC2.UNRESTRICTED_GUEST}) !== 0`;
/** CR0 bits that must be 1: IA32_VMX_CR0_FIXED0 minus NW/CD, and minus PE/PG with "unrestricted guest". */
const CR0_MUST1 = code`(${UG} ? c.caps.cr0Fixed0 & ${~CR0_NEVER_CHECKED} & ${~(CR0.PE | CR0.PG)} : c.caps.cr0Fixed0 & ${~CR0_NEVER_CHECKED}) >>> 0`;
/** CR0 bits 31:0 that must be 0: clear in IA32_VMX_CR0_FIXED1, except NW/CD (and PE/PG with UG). */
const CR0_MUST0 = code`(${UG} ? ~c.caps.cr0Fixed1 & ${~CR0_NEVER_CHECKED} & ${~(CR0.PE | CR0.PG)} : ~c.caps.cr0Fixed1 & ${~CR0_NEVER_CHECKED}) >>> 0`;
/** CR0 bits 63:32 that must be 0. */
const CR0_MUST0_HI = code`~c.caps.cr0Fixed1Hi >>> 0`;
/** CR4 bits that must be 0: clear in IA32_VMX_CR4_FIXED1 (bits 31:0, then 63:32). */
const CR4_MUST0 = code`~c.caps.cr4Fixed1 >>> 0`;
const CR4_MUST0_HI = code`~c.caps.cr4Fixed1Hi >>> 0`;
/**
 * Bits of the high half of CR3 that must be 0: 63:52 and 51:MAXPHYADDR, except LAM's 62:61. CR3 is not one of
 * the VMCS pointers IA32_VMX_BASIC[48] limits, so MAXPHYADDR alone decides (SDM A.1).
 */
const CR3_RESERVED_HI = code`(c.caps.lam ? (~0 << (c.caps.maxPhysAddr - 32)) & ${~CR3_LAM_HI} : ~0 << (c.caps.maxPhysAddr - 32)) >>> 0`;
/** Reserved IA32_S_CET bits (31:0): always 9:6, plus the shadow-stack and IBT bits the CPU lacks. */
const S_CET_RESERVED_LO = code`(${S_CET_RESERVED} | (c.caps.shstk ? 0 : ${S_CET_SHSTK}) | (c.caps.ibt ? 0 : ${S_CET_IBT_LO})) >>> 0`;
/** Reserved IA32_S_CET bits 63:32: all of them without IBT (they hold the legacy-bitmap address). */
const S_CET_RESERVED_HI = code`c.caps.ibt ? 0 : ${0xffffffff}`;
/** util.ts eferValidLo: the IA32_EFER bits 31:0 WRMSR accepts. */
const EFER_VALID_LO = code`c.caps.eferValidLo`;
/** patByteValid below, on a byte given as source. */
const patByte = (b: Code): Code => code`${b} < 8 && ${b} !== 2 && ${b} !== 3`;
/** Every byte of a 32-bit half (given as source) is a valid PAT memory type. */
const patWord = (w: Code): Code =>
  code`${patByte(code`${w} & 0xff`)} && ${patByte(code`(${w} >>> 8) & 0xff`)} && ${patByte(code`(${w} >>> 16) & 0xff`)} && ${patByte(code`${w} >>> 24`)}`;
/** Field i sets bits outside a valid mask given as halves (source of the two masks). */
const outside = (i: number, validLo: Code, validHi: Code): Code =>
  code`((${lo(i)} & ~${validLo}) | (${hi(i)} & ~${validHi})) !== 0`;

// ---------------------------------------------------------------------------------------------------------
// Allocation-free helpers (for the messages).

const ia32e = pred`${IA32E}`;
const ug = pred`${UG}`;
const cr0Must1 = compileValue(CR0_MUST1);
const cr0Must0 = compileValue(CR0_MUST0);
const cr0Must0Hi = compileValue(CR0_MUST0_HI);
const cr3ReservedHi = compileValue(CR3_RESERVED_HI);
const sCetReservedLo = compileValue(S_CET_RESERVED_LO);
const sCetReservedHi = compileValue(S_CET_RESERVED_HI);
/** A PAT entry (one byte) is a memory type WRMSR accepts: 0 UC, 1 WC, 4 WT, 5 WP, 6 WB, 7 UC- (SDM 13.12.2). */
function patByteValid(b: number): boolean {
  return b < 8 && b !== 2 && b !== 3;
}
function describeOutside(c: Ctx, i: number, validLo: number, validHi: number): string {
  const lo = (c.lo(i) & ~validLo) >>> 0;
  const hi = (c.hi(i) & ~validHi) >>> 0;
  const parts: string[] = [];
  if (lo) parts.push(bitList(lo));
  if (hi) parts.push(bitList(hi, 32));
  return `${parts.join(" and ")} (${hex64(lo, hi)})`;
}
function onOff(b: boolean): string {
  return b ? "1" : "0";
}
function ugText(c: Ctx): string {
  return ug(c) ? `"unrestricted guest" is 1` : `"unrestricted guest" is 0`;
}

// FRED stack-pointer MSRs: three canonical + alignment checks each, built from one table.
function fredChecks(
  n: 1 | 2 | 3,
  kind: "RSP" | "SSP",
  field: number,
  alignBits: number,
  checklist: string,
): Check[] {
  const name = `GUEST_IA32_FRED_${kind}${n}`;
  const mask = (1 << alignBits) - 1;
  const bytes = 1 << alignBits;
  return [
    {
      id: `guest.fred-${kind.toLowerCase()}${n}.canonical`,
      sdm: "29.3.1.1",
      cls: "guest",
      fields: [name, "VM_ENTRY_CONTROLS"],
      rule: `With "load FRED", the guest IA32_FRED_${kind}${n} field must be canonical`,
      checklist: [checklist],
      group: "guestLoadFred",
      when: pred`${G.guestLoadFred}`,
      fail: pred`!${canonical(field)}`,
      message: (c) =>
        `${show(c, field)} is not canonical for a ${c.caps.linearAddressBits}-bit linear-address width while "load FRED" is 1; bits 63:${c.caps.linearAddressBits - 1} must all equal bit ${c.caps.linearAddressBits - 1}`,
    },
    {
      id: `guest.fred-${kind.toLowerCase()}${n}.aligned`,
      sdm: "29.3.1.1",
      cls: "guest",
      fields: [name, "VM_ENTRY_CONTROLS"],
      rule: `With "load FRED", the guest IA32_FRED_${kind}${n} field must be ${bytes}-byte aligned (bits ${alignBits - 1}:0 zero)`,
      checklist: [checklist],
      group: "guestLoadFred",
      when: pred`${G.guestLoadFred}`,
      fail: pred`${misaligned(field, alignBits)}`,
      message: (c) =>
        `${show(c, field)} has bits ${alignBits - 1}:0 = 0x${(c.lo(field) & mask).toString(16)} while "load FRED" is 1; IA32_FRED_${kind}${n} must be ${bytes}-byte aligned (e.g. ${hex64((c.lo(field) & ~mask) >>> 0, c.hi(field))})`,
    },
  ];
}

// ---------------------------------------------------------------------------------------------------------

export const guestCrDrMsrChecks: readonly Check[] = [
  // G1: CR0 against IA32_VMX_CR0_FIXED0/1 (SDM 24.8, A.7), with the PE/PG and NW/CD exceptions.
  {
    id: "guest.cr0.required-bits-set",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_CR0", "SECONDARY_VM_EXEC_CONTROL"],
    rule: "Guest CR0 must set every bit IA32_VMX_CR0_FIXED0 requires (PE and PG exempt with unrestricted guest; NW, CD never checked)",
    checklist: ["G1"],
    fail: pred`(~${lo(F.GUEST_CR0)} & ${CR0_MUST1}) !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_CR0)} clears ${bitList(~c.lo(F.GUEST_CR0) & cr0Must1(c))}, which IA32_VMX_CR0_FIXED0 (0x${c.caps.cr0Fixed0.toString(16)}) requires to be 1 in VMX operation (${ugText(c)}); bits that must be set: 0x${cr0Must1(c).toString(16)}`,
  },
  {
    id: "guest.cr0.unsupported-bits-clear",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_CR0", "SECONDARY_VM_EXEC_CONTROL"],
    rule: "Guest CR0 must not set a bit IA32_VMX_CR0_FIXED1 reports as fixed to 0 (NW, CD never checked)",
    checklist: ["G1"],
    fail: pred`((${lo(F.GUEST_CR0)} & ${CR0_MUST0}) | (${hi(F.GUEST_CR0)} & ${CR0_MUST0_HI})) !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_CR0)} sets ${describeOutside(c, F.GUEST_CR0, ~cr0Must0(c), ~cr0Must0Hi(c))}, which IA32_VMX_CR0_FIXED1 (${hex64(c.caps.cr0Fixed1, c.caps.cr0Fixed1Hi)}) fixes to 0 in VMX operation`,
  },
  // G2
  {
    id: "guest.cr0.pg-requires-pe",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_CR0"],
    rule: "If guest CR0.PG is 1, guest CR0.PE must be 1",
    checklist: ["G2"],
    fail: pred`(${lo(F.GUEST_CR0)} & ${CR0.PG}) !== 0 && (${lo(F.GUEST_CR0)} & ${CR0.PE}) === 0`,
    message: (c) =>
      `${show(c, F.GUEST_CR0)} has PG=1 with PE=0: paging requires protected mode; set PE (bit 0) or clear PG (bit 31)`,
  },
  // G3: CR4 against IA32_VMX_CR4_FIXED0/1 (SDM A.8). No unrestricted-guest exception: VMXE stays fixed to 1.
  {
    id: "guest.cr4.required-bits-set",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_CR4"],
    rule: "Guest CR4 must set every bit IA32_VMX_CR4_FIXED0 requires (e.g. VMXE)",
    checklist: ["G3"],
    fail: pred`(~${lo(F.GUEST_CR4)} & c.caps.cr4Fixed0) !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_CR4)} clears ${bitList(~c.lo(F.GUEST_CR4) & c.caps.cr4Fixed0)}, which IA32_VMX_CR4_FIXED0 (0x${c.caps.cr4Fixed0.toString(16)}) requires to be 1 in VMX operation (bit 13 is VMXE)`,
  },
  {
    id: "guest.cr4.unsupported-bits-clear",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_CR4"],
    rule: "Guest CR4 must not set a bit IA32_VMX_CR4_FIXED1 reports as fixed to 0",
    checklist: ["G3"],
    fail: pred`((${lo(F.GUEST_CR4)} & ${CR4_MUST0}) | (${hi(F.GUEST_CR4)} & ${CR4_MUST0_HI})) !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_CR4)} sets ${describeOutside(c, F.GUEST_CR4, c.caps.cr4Fixed1, c.caps.cr4Fixed1Hi)}, which IA32_VMX_CR4_FIXED1 (${hex64(c.caps.cr4Fixed1, c.caps.cr4Fixed1Hi)}) fixes to 0: the processor does not support them in VMX operation`,
  },
  // G4 [CET]
  {
    id: "guest.cr4.cet-requires-wp",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_CR4", "GUEST_CR0"],
    rule: "If guest CR4.CET is 1, guest CR0.WP must be 1",
    checklist: ["G4"],
    fail: pred`(${lo(F.GUEST_CR4)} & ${CR4.CET}) !== 0 && (${lo(F.GUEST_CR0)} & ${CR0.WP}) === 0`,
    message: (c) =>
      `${show(c, F.GUEST_CR4)} has CET=1 (bit 23) but ${show(c, F.GUEST_CR0)} has WP=0 (bit 16); CET requires write protection: set CR0.WP or clear CR4.CET`,
  },
  // G5: the reserved bits of IA32_DEBUGCTL are CPU-specific, so they come from the profile's valid mask.
  {
    id: "guest.debugctl.reserved-bits",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_IA32_DEBUGCTL", "VM_ENTRY_CONTROLS"],
    rule: 'With "load debug controls", the guest IA32_DEBUGCTL field must not set reserved bits',
    checklist: ["G5"],
    when: pred`${entryCtl(ENTRY.LOAD_DEBUG)}`,
    fail: pred`${outside(F.GUEST_IA32_DEBUGCTL, code`c.caps.debugctlValidLo`, code`c.caps.debugctlValidHi`)}`,
    message: (c) =>
      `${show(c, F.GUEST_IA32_DEBUGCTL)} sets reserved ${describeOutside(c, F.GUEST_IA32_DEBUGCTL, c.caps.debugctlValidLo, c.caps.debugctlValidHi)} while "load debug controls" is 1; this CPU accepts only ${hex64(c.caps.debugctlValidLo, c.caps.debugctlValidHi)}`,
  },
  // G6 (two independent conditions, split).
  {
    id: "guest.cr0.pg-in-ia32e",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_CR0", "VM_ENTRY_CONTROLS"],
    rule: 'If "IA-32e mode guest" is 1, guest CR0.PG must be 1',
    checklist: ["G6"],
    when: pred`${IA32E}`,
    fail: pred`(${lo(F.GUEST_CR0)} & ${CR0.PG}) === 0`,
    message: (c) =>
      `${show(c, F.GUEST_CR0)} has PG=0 but "IA-32e mode guest" is 1: IA-32e mode needs paging; set CR0.PG (and PE) or clear the entry control`,
  },
  {
    id: "guest.cr4.pae-in-ia32e",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_CR4", "VM_ENTRY_CONTROLS"],
    rule: 'If "IA-32e mode guest" is 1, guest CR4.PAE must be 1',
    checklist: ["G6"],
    when: pred`${IA32E}`,
    fail: pred`(${lo(F.GUEST_CR4)} & ${CR4.PAE}) === 0`,
    message: (c) =>
      `${show(c, F.GUEST_CR4)} has PAE=0 (bit 5) but "IA-32e mode guest" is 1: IA-32e mode uses 4- or 5-level paging, which needs CR4.PAE=1`,
  },
  // G7
  {
    id: "guest.cr4.pcide-outside-ia32e",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_CR4", "VM_ENTRY_CONTROLS"],
    rule: 'If "IA-32e mode guest" is 0, guest CR4.PCIDE must be 0',
    checklist: ["G7"],
    when: pred`!${IA32E}`,
    fail: pred`(${lo(F.GUEST_CR4)} & ${CR4.PCIDE}) !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_CR4)} has PCIDE=1 (bit 17) but "IA-32e mode guest" is 0: PCIDs exist only in IA-32e mode; clear CR4.PCIDE`,
  },
  // G8 [FRED]
  {
    id: "guest.cr4.fred-outside-ia32e",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_CR4", "VM_ENTRY_CONTROLS"],
    rule: 'If "IA-32e mode guest" is 0, guest CR4.FRED (bit 32) must be 0',
    checklist: ["G8"],
    when: pred`!${IA32E}`,
    fail: pred`(${hi(F.GUEST_CR4)} & ${CR4.FRED_HI}) !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_CR4)} has FRED=1 (bit 32) but "IA-32e mode guest" is 0: FRED transitions exist only in IA-32e mode; clear CR4.FRED`,
  },
  // G9. With LAM, bits 62:61 are LAM_U48/LAM_U57 and VM entry accepts them (LAM ISE, confirmed by the
  // Intel-authored kvm-unit-tests change "VM entry allows CR3.LAM_U48 and CR3.LAM_U57 if LAM is supported").
  {
    id: "guest.cr3.beyond-phys",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_CR3"],
    rule: "Guest CR3 bits 63:52 and bits 51:32 beyond MAXPHYADDR must be 0 (bits 62:61 allowed with LAM)",
    checklist: ["G9"],
    fail: pred`(${hi(F.GUEST_CR3)} & ${CR3_RESERVED_HI}) !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_CR3)} sets ${bitList(c.hi(F.GUEST_CR3) & cr3ReservedHi(c), 32)}; bits 63:${c.caps.maxPhysAddr} must be 0 (MAXPHYADDR ${c.caps.maxPhysAddr}${c.caps.flags.has("lam") ? "; LAM_U57/LAM_U48 bits 61 and 62 are allowed" : ", no LAM"})`,
  },
  // G10
  {
    id: "guest.dr7.high-bits",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_DR7", "VM_ENTRY_CONTROLS"],
    rule: 'With "load debug controls", guest DR7 bits 63:32 must be 0',
    checklist: ["G10"],
    when: pred`${entryCtl(ENTRY.LOAD_DEBUG)}`,
    fail: pred`${hi(F.GUEST_DR7)} !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_DR7)} has bits 63:32 = 0x${c.hi(F.GUEST_DR7).toString(16)} while "load debug controls" is 1; they must be 0 (e.g. 0x${c.lo(F.GUEST_DR7).toString(16)})`,
  },
  // G11, G12: canonical relative to the processor's linear-address width (not the guest's CR4.LA57).
  {
    id: "guest.sysenter-esp.canonical",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_SYSENTER_ESP"],
    rule: "The guest IA32_SYSENTER_ESP field must be canonical",
    checklist: ["G11"],
    fail: pred`!${canonical(F.GUEST_SYSENTER_ESP)}`,
    message: (c) =>
      `${show(c, F.GUEST_SYSENTER_ESP)} is not canonical for a ${c.caps.linearAddressBits}-bit linear-address width: bits 63:${c.caps.linearAddressBits - 1} must all equal bit ${c.caps.linearAddressBits - 1}`,
  },
  {
    id: "guest.sysenter-eip.canonical",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_SYSENTER_EIP"],
    rule: "The guest IA32_SYSENTER_EIP field must be canonical",
    checklist: ["G12"],
    fail: pred`!${canonical(F.GUEST_SYSENTER_EIP)}`,
    message: (c) =>
      `${show(c, F.GUEST_SYSENTER_EIP)} is not canonical for a ${c.caps.linearAddressBits}-bit linear-address width: bits 63:${c.caps.linearAddressBits - 1} must all equal bit ${c.caps.linearAddressBits - 1}`,
  },
  // G13 [CET]. The newest SDM (as summarised by Intel's KVM CET series, Chao Gao, 2025) requires no
  // canonical IA32_S_CET for the guest, only reserved bits 0 and not both SUPPRESS and TRACKER. Older
  // CET-era text and Bochs also require it canonical (docs/deviations.md). Bits that belong to a CET
  // feature the CPU lacks (shadow stacks: 1:0; IBT: 5:2, 63:10) are reserved as well.
  {
    id: "guest.s-cet.reserved-bits",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_S_CET", "VM_ENTRY_CONTROLS"],
    rule: 'With "load CET state", the guest IA32_S_CET field must not set reserved bits (9:6, and bits of absent CET features)',
    checklist: ["G13"],
    group: "guestLoadCet",
    when: pred`${G.guestLoadCet}`,
    fail: pred`((${lo(F.GUEST_S_CET)} & ${S_CET_RESERVED_LO}) | (${hi(F.GUEST_S_CET)} & ${S_CET_RESERVED_HI})) !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_S_CET)} sets reserved ${describeOutside(c, F.GUEST_S_CET, ~sCetReservedLo(c), ~sCetReservedHi(c))} while "load CET state" is 1 (bits 9:6 are always reserved${c.caps.flags.has("ibt") ? "" : "; without IBT so are 5:2 and 63:10"}${c.caps.flags.has("shstk") || c.caps.flags.has("user_shstk") ? "" : "; without shadow stacks so are 1:0"})`,
  },
  {
    id: "guest.s-cet.suppress-and-tracker",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_S_CET", "VM_ENTRY_CONTROLS"],
    rule: 'With "load CET state", guest IA32_S_CET bits 10 (SUPPRESS) and 11 (TRACKER) must not both be 1',
    checklist: ["G13"],
    group: "guestLoadCet",
    when: pred`${G.guestLoadCet}`,
    fail: pred`(${lo(F.GUEST_S_CET)} & ${S_CET_SUPPRESS | S_CET_TRACKER}) === ${S_CET_SUPPRESS | S_CET_TRACKER}`,
    message: (c) =>
      `${show(c, F.GUEST_S_CET)} sets both SUPPRESS (bit 10) and TRACKER (bit 11) while "load CET state" is 1; at most one may be 1`,
  },
  // G14 [CET]
  {
    id: "guest.intr-ssp-table.canonical",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_INTR_SSP_TABLE", "VM_ENTRY_CONTROLS"],
    rule: 'With "load CET state", the guest IA32_INTERRUPT_SSP_TABLE_ADDR field must be canonical',
    checklist: ["G14"],
    group: "guestLoadCet",
    when: pred`${G.guestLoadCet}`,
    fail: pred`!${canonical(F.GUEST_INTR_SSP_TABLE)}`,
    message: (c) =>
      `${show(c, F.GUEST_INTR_SSP_TABLE)} is not canonical for a ${c.caps.linearAddressBits}-bit linear-address width while "load CET state" is 1: bits 63:${c.caps.linearAddressBits - 1} must all equal bit ${c.caps.linearAddressBits - 1}`,
  },
  // G15: reserved bits depend on the number of counters, so they come from the profile.
  {
    id: "guest.perf-global-ctrl.reserved-bits",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_IA32_PERF_GLOBAL_CTRL", "VM_ENTRY_CONTROLS"],
    rule: 'With "load IA32_PERF_GLOBAL_CTRL", the guest IA32_PERF_GLOBAL_CTRL field must not set reserved bits',
    checklist: ["G15"],
    when: pred`${entryCtl(ENTRY.LOAD_PERF_GLOBAL_CTRL)}`,
    fail: pred`${outside(F.GUEST_IA32_PERF_GLOBAL_CTRL, code`c.caps.perfGlobalCtrlValidLo`, code`c.caps.perfGlobalCtrlValidHi`)}`,
    message: (c) =>
      `${show(c, F.GUEST_IA32_PERF_GLOBAL_CTRL)} sets reserved ${describeOutside(c, F.GUEST_IA32_PERF_GLOBAL_CTRL, c.caps.perfGlobalCtrlValidLo, c.caps.perfGlobalCtrlValidHi)} while "load IA32_PERF_GLOBAL_CTRL" is 1; this CPU's counters allow only ${hex64(c.caps.perfGlobalCtrlValidLo, c.caps.perfGlobalCtrlValidHi)}`,
  },
  // G16
  {
    id: "guest.pat.memory-types",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_IA32_PAT", "VM_ENTRY_CONTROLS"],
    rule: 'With "load IA32_PAT", every byte of the guest IA32_PAT field must be 0, 1, 4, 5, 6 or 7',
    checklist: ["G16"],
    when: pred`${entryCtl(ENTRY.LOAD_PAT)}`,
    fail: pred`!${patWord(lo(F.GUEST_IA32_PAT))} || !${patWord(hi(F.GUEST_IA32_PAT))}`,
    message: (c) => {
      const bad: string[] = [];
      for (let i = 0; i < 8; i++) {
        const w = i < 4 ? c.lo(F.GUEST_IA32_PAT) : c.hi(F.GUEST_IA32_PAT);
        const b = (w >>> ((i & 3) * 8)) & 0xff;
        if (!patByteValid(b)) bad.push(`PA${i}=0x${b.toString(16)}`);
      }
      return `${show(c, F.GUEST_IA32_PAT)} has invalid memory type${bad.length > 1 ? "s" : ""} ${bad.join(", ")} while "load IA32_PAT" is 1; each entry must be 0 (UC), 1 (WC), 4 (WT), 5 (WP), 6 (WB) or 7 (UC-)`;
    },
  },
  // G17–G19
  {
    id: "guest.efer.reserved-bits",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_IA32_EFER", "VM_ENTRY_CONTROLS"],
    rule: 'With "load IA32_EFER", the guest IA32_EFER field must not set reserved bits (only SCE, LME, LMA and, with execute-disable support, NXE exist)',
    checklist: ["G17"],
    when: pred`${entryCtl(ENTRY.LOAD_EFER)}`,
    // NXE is reserved without execute-disable support (Bochs efer_suppmask; kvm-unit-tests test_efer treats
    // EFER.NX as reserved unless CPUID reports NX).
    fail: pred`${outside(F.GUEST_IA32_EFER, EFER_VALID_LO, code`0`)}`,
    message: (c) =>
      `${show(c, F.GUEST_IA32_EFER)} sets reserved ${describeOutside(c, F.GUEST_IA32_EFER, eferValidLo(c), 0)} while "load IA32_EFER" is 1; ${eferValidText(c)}`,
  },
  {
    id: "guest.efer.lma-matches-ia32e",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_IA32_EFER", "VM_ENTRY_CONTROLS"],
    rule: 'With "load IA32_EFER", guest IA32_EFER.LMA must equal "IA-32e mode guest"',
    checklist: ["G18"],
    when: pred`${entryCtl(ENTRY.LOAD_EFER)}`,
    fail: pred`((${lo(F.GUEST_IA32_EFER)} & ${EFER.LMA}) !== 0) !== ${IA32E}`,
    message: (c) =>
      `${show(c, F.GUEST_IA32_EFER)} has LMA=${onOff((c.lo(F.GUEST_IA32_EFER) & EFER.LMA) !== 0)} (bit 10) but "IA-32e mode guest" is ${onOff(ia32e(c))}; they must be equal`,
  },
  // SDM: bit 10 (LMA) "must also be identical to bit 8 (LME)" when CR0.PG=1. KVM compares LME with the
  // "IA-32e mode guest" control instead, which gives the same verdict whenever the LMA check passes.
  {
    id: "guest.efer.lme-matches-lma",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_IA32_EFER", "GUEST_CR0", "VM_ENTRY_CONTROLS"],
    rule: 'With "load IA32_EFER" and guest CR0.PG=1, guest IA32_EFER.LME must equal IA32_EFER.LMA',
    checklist: ["G19"],
    when: pred`${entryCtl(ENTRY.LOAD_EFER)} && (${lo(F.GUEST_CR0)} & ${CR0.PG}) !== 0`,
    fail: pred`((${lo(F.GUEST_IA32_EFER)} & ${EFER.LME}) !== 0) !== ((${lo(F.GUEST_IA32_EFER)} & ${EFER.LMA}) !== 0)`,
    message: (c) =>
      `${show(c, F.GUEST_IA32_EFER)} has LME=${onOff((c.lo(F.GUEST_IA32_EFER) & EFER.LME) !== 0)} (bit 8) and LMA=${onOff((c.lo(F.GUEST_IA32_EFER) & EFER.LMA) !== 0)} (bit 10) with guest CR0.PG=1; with paging on they must be equal`,
  },
  // G20, G21 [MPX]
  {
    id: "guest.bndcfgs.reserved-bits",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_BNDCFGS", "VM_ENTRY_CONTROLS"],
    rule: 'With "load IA32_BNDCFGS", guest IA32_BNDCFGS bits 11:2 (reserved) must be 0',
    checklist: ["G20"],
    when: pred`${entryCtl(ENTRY.LOAD_BNDCFGS)}`,
    fail: pred`(${lo(F.GUEST_BNDCFGS)} & ${BNDCFGS_RESERVED}) !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_BNDCFGS)} sets reserved ${bitList(c.lo(F.GUEST_BNDCFGS) & BNDCFGS_RESERVED)} while "load IA32_BNDCFGS" is 1; bits 11:2 must be 0`,
  },
  {
    id: "guest.bndcfgs.canonical-base",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_BNDCFGS", "VM_ENTRY_CONTROLS"],
    rule: 'With "load IA32_BNDCFGS", the base in guest IA32_BNDCFGS bits 63:12 must be canonical',
    checklist: ["G21"],
    when: pred`${entryCtl(ENTRY.LOAD_BNDCFGS)}`,
    // Bits 11:0 cannot affect canonicality (the sign bit is 47 or 56), so the whole value is tested.
    fail: pred`!${canonical(F.GUEST_BNDCFGS)}`,
    message: (c) =>
      `${show(c, F.GUEST_BNDCFGS)} has a non-canonical base (bits 63:12) for a ${c.caps.linearAddressBits}-bit linear-address width while "load IA32_BNDCFGS" is 1`,
  },
  // G22 [PT]. Verified: SDM text "If the 'load IA32_RTIT_CTL' VM-entry control is 1, bits reserved in the
  // IA32_RTIT_CTL MSR must be 0 in the field for that register" (quoted by hypervisor projects citing
  // 26.3.1.1). Which bits are reserved depends on the CPU's PT capabilities: profile mask.
  {
    id: "guest.rtit-ctl.reserved-bits",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_IA32_RTIT_CTL", "VM_ENTRY_CONTROLS"],
    rule: 'With "load IA32_RTIT_CTL", the guest IA32_RTIT_CTL field must not set reserved bits',
    checklist: ["G22"],
    when: pred`${entryCtl(ENTRY.LOAD_RTIT_CTL)}`,
    fail: pred`${outside(F.GUEST_IA32_RTIT_CTL, code`c.caps.rtitCtlValidLo`, code`c.caps.rtitCtlValidHi`)}`,
    message: (c) =>
      `${show(c, F.GUEST_IA32_RTIT_CTL)} sets reserved ${describeOutside(c, F.GUEST_IA32_RTIT_CTL, c.caps.rtitCtlValidLo, c.caps.rtitCtlValidHi)} while "load IA32_RTIT_CTL" is 1; this CPU's Intel PT accepts only ${hex64(c.caps.rtitCtlValidLo, c.caps.rtitCtlValidHi)}`,
  },
  // G23 [Arch LBR]. Verified: SDM text "If the 'load guest IA32_LBR_CTL' VM-entry control is 1, bits
  // reserved in the IA32_LBR_CTL MSR must be 0 in the field for that register" (quoted in a hypervisor
  // checker citing 27.3.1.1).
  {
    id: "guest.lbr-ctl.reserved-bits",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_IA32_LBR_CTL", "VM_ENTRY_CONTROLS"],
    rule: 'With "load guest IA32_LBR_CTL", the guest IA32_LBR_CTL field must not set reserved bits',
    checklist: ["G23"],
    when: pred`${entryCtl(ENTRY.LOAD_LBR_CTL)}`,
    fail: pred`${outside(F.GUEST_IA32_LBR_CTL, code`c.caps.lbrCtlValidLo`, code`c.caps.lbrCtlValidHi`)}`,
    message: (c) =>
      `${show(c, F.GUEST_IA32_LBR_CTL)} sets reserved ${describeOutside(c, F.GUEST_IA32_LBR_CTL, c.caps.lbrCtlValidLo, c.caps.lbrCtlValidHi)} while "load guest IA32_LBR_CTL" is 1; this CPU accepts only ${hex64(c.caps.lbrCtlValidLo, c.caps.lbrCtlValidHi)}`,
  },
  // G24 [PKS]
  {
    id: "guest.pkrs.high-bits",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_IA32_PKRS", "VM_ENTRY_CONTROLS"],
    rule: 'With "load PKRS", guest IA32_PKRS bits 63:32 must be 0',
    checklist: ["G24"],
    when: pred`${entryCtl(ENTRY.LOAD_PKRS)}`,
    fail: pred`${hi(F.GUEST_IA32_PKRS)} !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_IA32_PKRS)} has bits 63:32 = 0x${c.hi(F.GUEST_IA32_PKRS).toString(16)} while "load PKRS" is 1; IA32_PKRS has 16 2-bit keys in bits 31:0 and the rest must be 0`,
  },
  // G25 [UINTR]. Verified wording: "If the 'load UINV' VM-entry control is 1, bits 15:8 must be 0 in the
  // guest UINV field" (SDM text quoted in a hypervisor checker citing 27.3.1.1; Bochs checks UINV < 256).
  {
    id: "guest.uinv.high-bits",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_UINV", "VM_ENTRY_CONTROLS"],
    rule: 'With "load UINV", guest UINV bits 15:8 must be 0',
    checklist: ["G25"],
    when: pred`${entryCtl(ENTRY.LOAD_UINV)}`,
    fail: pred`(${lo(F.GUEST_UINV)} & 0xff00) !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_UINV)} has bits 15:8 = 0x${((c.lo(F.GUEST_UINV) >>> 8) & 0xff).toString(16)} while "load UINV" is 1; UINV is an 8-bit vector, so bits 15:8 must be 0`,
  },
  // G26–G28 [FRED]: gated on "load FRED" alone (Bochs; the checklist's reading of the SDM). KVM applies
  // them only when "IA-32e mode guest" is also 1 (docs/deviations.md). IA32_FRED_STKLVLS has no check.
  {
    id: "guest.fred-config.reserved-bits",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_IA32_FRED_CONFIG", "VM_ENTRY_CONTROLS"],
    rule: 'With "load FRED", guest IA32_FRED_CONFIG bits 2, 5:4 and 11 (reserved) must be 0',
    checklist: ["G26"],
    group: "guestLoadFred",
    when: pred`${G.guestLoadFred}`,
    fail: pred`(${lo(F.GUEST_IA32_FRED_CONFIG)} & ${FRED_CONFIG_RESERVED}) !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_IA32_FRED_CONFIG)} sets reserved ${bitList(c.lo(F.GUEST_IA32_FRED_CONFIG) & FRED_CONFIG_RESERVED)} while "load FRED" is 1; bits 2, 5:4 and 11 must be 0`,
  },
  {
    id: "guest.fred-config.canonical",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_IA32_FRED_CONFIG", "VM_ENTRY_CONTROLS"],
    rule: 'With "load FRED", the entry-point address in guest IA32_FRED_CONFIG bits 63:12 must be canonical',
    checklist: ["G26"],
    group: "guestLoadFred",
    when: pred`${G.guestLoadFred}`,
    fail: pred`!${canonical(F.GUEST_IA32_FRED_CONFIG)}`,
    message: (c) =>
      `${show(c, F.GUEST_IA32_FRED_CONFIG)} has a non-canonical entry point (bits 63:12) for a ${c.caps.linearAddressBits}-bit linear-address width while "load FRED" is 1`,
  },
  ...fredChecks(1, "RSP", F.GUEST_IA32_FRED_RSP1, 6, "G27"),
  ...fredChecks(2, "RSP", F.GUEST_IA32_FRED_RSP2, 6, "G27"),
  ...fredChecks(3, "RSP", F.GUEST_IA32_FRED_RSP3, 6, "G27"),
  ...fredChecks(1, "SSP", F.GUEST_IA32_FRED_SSP1, 3, "G28"),
  ...fredChecks(2, "SSP", F.GUEST_IA32_FRED_SSP2, 3, "G28"),
  ...fredChecks(3, "SSP", F.GUEST_IA32_FRED_SSP3, 3, "G28"),
  // G29 [SPEC_CTRL] (ISE 319433-052; Bochs): the value must be one WRMSR accepts; the profile gives the mask.
  {
    id: "guest.spec-ctrl.reserved-bits",
    sdm: "29.3.1.1",
    cls: "guest",
    fields: ["GUEST_IA32_SPEC_CTRL", "VM_ENTRY_CONTROLS"],
    rule: 'With "load IA32_SPEC_CTRL", the guest IA32_SPEC_CTRL field must not set bits WRMSR would reject',
    checklist: ["G29"],
    when: pred`${entryCtl(ENTRY.LOAD_SPEC_CTRL)}`,
    fail: pred`${outside(F.GUEST_IA32_SPEC_CTRL, code`c.caps.specCtrlValidLo`, code`c.caps.specCtrlValidHi`)}`,
    message: (c) =>
      `${show(c, F.GUEST_IA32_SPEC_CTRL)} sets reserved ${describeOutside(c, F.GUEST_IA32_SPEC_CTRL, c.caps.specCtrlValidLo, c.caps.specCtrlValidHi)} while "load IA32_SPEC_CTRL" is 1; this CPU accepts only ${hex64(c.caps.specCtrlValidLo, c.caps.specCtrlValidHi)}`,
  },
];
