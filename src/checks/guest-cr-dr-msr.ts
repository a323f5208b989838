/**
 * SDM 29.3.1.1 "Checks on Guest Control Registers, Debug Registers, and MSRs". Every failure is a VM exit
 * with reason 33 ("VM-entry failure due to invalid guest state"), qualification 0 (SDM 29.8).
 *
 * nvmx models a processor that supports Intel 64 architecture, so the bullets the SDM restricts to such
 * processors always apply.
 */
import * as archControls from "../arch/controls.js";
import * as archRegisters from "../arch/registers.js";
import { hex, hex64 } from "../util/u64.js";
import { decoders } from "./compile.js";
import { section } from "./rule.js";
import type { State } from "./state.js";
import * as util from "./util.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves predicates' names in this module (compile.ts).
const scope = (name: string): unknown => eval(name);

// Short local names for the imported tables and helpers.
const { ENTRY } = archControls;
const { BNDCFGS, CET_CTL, CR0, CR3, CR4, EFER, FRED_CONFIG_RESERVED } = archRegisters;
const { badPatEntries, bitList, bitList64, canonical, eferValidText, ia32eGuest, misaligned, notCanonical } =
  util;
const { outside, patHalfBad, reservedBits, show, unrestrictedGuest } = util;

const { rule, checks } = section({
  scope,
  sdm: "29.3.1.1",
  title: "Guest control registers, debug registers and MSRs",
  cls: "guest",
});

const { cr0Must1, cr0Must0, cr3ReservedHi, sCetReservedLo, sCetReservedHi } = decoders(scope, {
  /**
   * CR0 bits that must be 1: IA32_VMX_CR0_FIXED0 minus NW/CD (never checked: VM entry does not change them, SDM
   * 29.3.1.1), and minus PE/PG with "unrestricted guest".
   */
  cr0Must1: (s: State) =>
    (s.caps.cr0Fixed0 & ~(CR0.NW | CR0.CD) & ~(unrestrictedGuest(s) ? CR0.PE | CR0.PG : 0)) >>> 0,
  /** CR0 bits 31:0 that must be 0: clear in IA32_VMX_CR0_FIXED1, except NW/CD (and PE/PG with UG). */
  cr0Must0: (s: State) =>
    (~s.caps.cr0Fixed1 & ~(CR0.NW | CR0.CD) & ~(unrestrictedGuest(s) ? CR0.PE | CR0.PG : 0)) >>> 0,
  /**
   * Bits of the high half of CR3 that must be 0: 63:52 and 51:MAXPHYADDR, except LAM's 62:61. CR3 is not one of
   * the VMCS pointers IA32_VMX_BASIC[48] limits, so MAXPHYADDR alone decides (SDM A.1).
   */
  cr3ReservedHi: (s: State) => ((~0 << (s.caps.maxPhysAddr - 32)) & ~(s.caps.lam ? CR3.LAM_HI : 0)) >>> 0,
  /** Reserved IA32_S_CET bits (31:0): always 9:6, plus the shadow-stack and IBT bits the CPU lacks. */
  sCetReservedLo: (s: State) =>
    (CET_CTL.RESERVED | (s.caps.shstk ? 0 : CET_CTL.SHSTK) | (s.caps.ibt ? 0 : CET_CTL.IBT_LO)) >>> 0,
  /** Reserved IA32_S_CET bits 63:32: all of them without IBT (they hold the legacy-bitmap address). */
  sCetReservedHi: (s: State) => (s.caps.ibt ? 0 : 0xffffffff),
});

/** A 64-bit field's bits outside a valid mask, for messages: "bits 3, 40 (0x10000000008)". */
const outsideText = (s: State, name: util.Field, validLo: number, validHi: number) =>
  bitList64(s[name] & ~validLo, s.hi[name] & ~validHi);
const onOff = (b: boolean) => (b ? "1" : "0");

/** Capabilities that give an MSR's valid bits as halves (src/cpu/profile.ts). */
type ValidMask = "debugctlValid" | "perfGlobalCtrlValid" | "rtitCtlValid" | "lbrCtlValid" | "specCtrlValid";

/** An MSR field checked against the CPU's valid bits (reserved bits must be 0), under a "load …" control. */
function validBits(a: {
  id: string;
  item: string;
  field: util.Field;
  control: string;
  bit: number;
  msr: string;
  mask: ValidMask;
  rule?: string;
}) {
  const p = { field: a.field, bit: a.bit, lo: `${a.mask}Lo` as const, hi: `${a.mask}Hi` as const };
  return rule({
    id: a.id,
    rule: a.rule ?? `With "${a.control}", the guest ${a.msr} field must not set reserved bits`,
    checklist: [a.item],
    p,
    when: (s, p) => (s.entry & p.bit) !== 0,
    fail: (s, p) => outside(s[p.field], s.hi[p.field], s.caps[p.lo], s.caps[p.hi]),
    message: (s) =>
      `${reservedBits(s, a.field, s[a.field] & ~s.caps[p.lo], s.hi[a.field] & ~s.caps[p.hi])} while "${a.control}" is 1; this CPU accepts only ${hex64(s.caps[p.lo], s.caps[p.hi])}`,
  });
}

// FRED stack-pointer MSRs: canonical and aligned, from one table.
const FRED_STACKS = [
  ["RSP", 6, "G27"],
  ["SSP", 3, "G28"],
] as const;

export default checks([
  // G1: CR0 against IA32_VMX_CR0_FIXED0/1 (SDM 24.8, A.7), with the PE/PG and NW/CD exceptions.
  rule({
    id: "guest.cr0.required-bits-set",
    rule: "Guest CR0 must set every bit IA32_VMX_CR0_FIXED0 requires (PE and PG exempt with unrestricted guest; NW, CD never checked)",
    checklist: ["G1"],
    fail: (s) => ~s.GUEST_CR0 & cr0Must1(s),
    message: (s, clear) =>
      `${show(s, "GUEST_CR0")} clears ${bitList(clear)}, which IA32_VMX_CR0_FIXED0 (${hex(s.caps.cr0Fixed0)}) requires to be 1 in VMX operation ("unrestricted guest" is ${unrestrictedGuest(s) ? 1 : 0}); bits that must be set: ${hex(cr0Must1(s))}`,
  }),
  rule({
    id: "guest.cr0.unsupported-bits-clear",
    rule: "Guest CR0 must not set a bit IA32_VMX_CR0_FIXED1 reports as fixed to 0 (NW, CD never checked)",
    checklist: ["G1"],
    fail: (s) => (s.GUEST_CR0 & cr0Must0(s)) | (s.hi.GUEST_CR0 & ~s.caps.cr0Fixed1Hi),
    message: (s) =>
      `${show(s, "GUEST_CR0")} sets ${bitList64(s.GUEST_CR0 & cr0Must0(s), s.hi.GUEST_CR0 & ~s.caps.cr0Fixed1Hi)}, which IA32_VMX_CR0_FIXED1 (${hex64(s.caps.cr0Fixed1, s.caps.cr0Fixed1Hi)}) fixes to 0 in VMX operation`,
  }),
  // G2
  rule({
    id: "guest.cr0.pg-requires-pe",
    rule: "If guest CR0.PG is 1, guest CR0.PE must be 1",
    checklist: ["G2"],
    fail: (s) => (s.GUEST_CR0 & CR0.PG) !== 0 && (s.GUEST_CR0 & CR0.PE) === 0,
    message: (s) =>
      `${show(s, "GUEST_CR0")} has PG=1 with PE=0: paging requires protected mode; set PE (bit 0) or clear PG (bit 31)`,
  }),
  // G3: CR4 against IA32_VMX_CR4_FIXED0/1 (SDM A.8). No unrestricted-guest exception: VMXE stays fixed to 1.
  rule({
    id: "guest.cr4.required-bits-set",
    rule: "Guest CR4 must set every bit IA32_VMX_CR4_FIXED0 requires (e.g. VMXE)",
    checklist: ["G3"],
    fail: (s) => ~s.GUEST_CR4 & s.caps.cr4Fixed0,
    message: (s, clear) =>
      `${show(s, "GUEST_CR4")} clears ${bitList(clear)}, which IA32_VMX_CR4_FIXED0 (${hex(s.caps.cr4Fixed0)}) requires to be 1 in VMX operation (bit 13 is VMXE)`,
  }),
  rule({
    id: "guest.cr4.unsupported-bits-clear",
    rule: "Guest CR4 must not set a bit IA32_VMX_CR4_FIXED1 reports as fixed to 0",
    checklist: ["G3"],
    fail: (s) => outside(s.GUEST_CR4, s.hi.GUEST_CR4, s.caps.cr4Fixed1, s.caps.cr4Fixed1Hi),
    message: (s) =>
      `${show(s, "GUEST_CR4")} sets ${outsideText(s, "GUEST_CR4", s.caps.cr4Fixed1, s.caps.cr4Fixed1Hi)}, which IA32_VMX_CR4_FIXED1 (${hex64(s.caps.cr4Fixed1, s.caps.cr4Fixed1Hi)}) fixes to 0: the processor does not support them in VMX operation`,
  }),
  // G4 [CET]
  rule({
    id: "guest.cr4.cet-requires-wp",
    rule: "If guest CR4.CET is 1, guest CR0.WP must be 1",
    checklist: ["G4"],
    fail: (s) => (s.GUEST_CR4 & CR4.CET) !== 0 && (s.GUEST_CR0 & CR0.WP) === 0,
    message: (s) =>
      `${show(s, "GUEST_CR4")} has CET=1 (bit 23) but ${show(s, "GUEST_CR0")} has WP=0 (bit 16); CET requires write protection: set CR0.WP or clear CR4.CET`,
  }),
  // G5: the reserved bits of IA32_DEBUGCTL are CPU-specific, so they come from the profile's valid mask.
  validBits({
    id: "guest.debugctl.reserved-bits",
    item: "G5",
    field: "GUEST_IA32_DEBUGCTL",
    control: "load debug controls",
    msr: "IA32_DEBUGCTL",
    bit: ENTRY.LOAD_DEBUG,
    mask: "debugctlValid",
  }),
  // G6 (two independent conditions, split).
  rule({
    id: "guest.cr0.pg-in-ia32e",
    rule: 'If "IA-32e mode guest" is 1, guest CR0.PG must be 1',
    checklist: ["G6"],
    when: (s) => ia32eGuest(s),
    fail: (s) => (s.GUEST_CR0 & CR0.PG) === 0,
    message: (s) =>
      `${show(s, "GUEST_CR0")} has PG=0 but "IA-32e mode guest" is 1: IA-32e mode needs paging; set CR0.PG (and PE) or clear the entry control`,
  }),
  rule({
    id: "guest.cr4.pae-in-ia32e",
    rule: 'If "IA-32e mode guest" is 1, guest CR4.PAE must be 1',
    checklist: ["G6"],
    when: (s) => ia32eGuest(s),
    fail: (s) => (s.GUEST_CR4 & CR4.PAE) === 0,
    message: (s) =>
      `${show(s, "GUEST_CR4")} has PAE=0 (bit 5) but "IA-32e mode guest" is 1: IA-32e mode uses 4- or 5-level paging, which needs CR4.PAE=1`,
  }),
  // G7
  rule({
    id: "guest.cr4.pcide-outside-ia32e",
    rule: 'If "IA-32e mode guest" is 0, guest CR4.PCIDE must be 0',
    checklist: ["G7"],
    when: (s) => !ia32eGuest(s),
    fail: (s) => (s.GUEST_CR4 & CR4.PCIDE) !== 0,
    message: (s) =>
      `${show(s, "GUEST_CR4")} has PCIDE=1 (bit 17) but "IA-32e mode guest" is 0: PCIDs exist only in IA-32e mode; clear CR4.PCIDE`,
  }),
  // G8 [FRED]
  rule({
    id: "guest.cr4.fred-outside-ia32e",
    rule: 'If "IA-32e mode guest" is 0, guest CR4.FRED (bit 32) must be 0',
    checklist: ["G8"],
    when: (s) => !ia32eGuest(s),
    fail: (s) => (s.hi.GUEST_CR4 & CR4.FRED_HI) !== 0,
    message: (s) =>
      `${show(s, "GUEST_CR4")} has FRED=1 (bit 32) but "IA-32e mode guest" is 0: FRED transitions exist only in IA-32e mode; clear CR4.FRED`,
  }),
  // G9. With LAM, bits 62:61 are LAM_U48/LAM_U57 and VM entry accepts them (LAM ISE, confirmed by the
  // Intel-authored kvm-unit-tests change "VM entry allows CR3.LAM_U48 and CR3.LAM_U57 if LAM is supported").
  rule({
    id: "guest.cr3.beyond-phys",
    rule: "Guest CR3 bits 63:52 and bits 51:32 beyond MAXPHYADDR must be 0 (bits 62:61 allowed with LAM)",
    checklist: ["G9"],
    fail: (s) => s.hi.GUEST_CR3 & cr3ReservedHi(s),
    message: (s, bad) =>
      `${show(s, "GUEST_CR3")} sets ${bitList(bad, 32)}; bits 63:${s.caps.maxPhysAddr} must be 0 (MAXPHYADDR ${s.caps.maxPhysAddr}${s.caps.lam ? "; LAM_U57/LAM_U48 bits 61 and 62 are allowed" : ", no LAM"})`,
  }),
  // G10
  rule({
    id: "guest.dr7.high-bits",
    rule: 'With "load debug controls", guest DR7 bits 63:32 must be 0',
    checklist: ["G10"],
    when: (s) => (s.entry & ENTRY.LOAD_DEBUG) !== 0,
    fail: (s) => s.hi.GUEST_DR7,
    message: (s, high) =>
      `${show(s, "GUEST_DR7")} has bits 63:32 = ${hex(high)} while "load debug controls" is 1; they must be 0 (e.g. ${hex(s.GUEST_DR7)})`,
  }),
  // G11, G12: canonical relative to the processor's linear-address width (not the guest's CR4.LA57).
  rule({
    id: "guest.sysenter-esp.canonical",
    rule: "The guest IA32_SYSENTER_ESP field must be canonical",
    checklist: ["G11"],
    fail: (s) => !canonical(s, s.hi.GUEST_SYSENTER_ESP),
    message: (s) => `${show(s, "GUEST_SYSENTER_ESP")} ${notCanonical(s)}`,
  }),
  rule({
    id: "guest.sysenter-eip.canonical",
    rule: "The guest IA32_SYSENTER_EIP field must be canonical",
    checklist: ["G12"],
    fail: (s) => !canonical(s, s.hi.GUEST_SYSENTER_EIP),
    message: (s) => `${show(s, "GUEST_SYSENTER_EIP")} ${notCanonical(s)}`,
  }),
  // G13 [CET]. The newest SDM (as summarised by Intel's KVM CET series, Chao Gao, 2025) requires no
  // canonical IA32_S_CET for the guest, only reserved bits 0 and not both SUPPRESS and TRACKER. Older
  // CET-era text and Bochs also require it canonical (docs/deviations.md). Bits that belong to a CET
  // feature the CPU lacks (shadow stacks: 1:0; IBT: 5:2, 63:10) are reserved as well.
  rule({
    id: "guest.s-cet.reserved-bits",
    rule: 'With "load CET state", the guest IA32_S_CET field must not set reserved bits (9:6, and bits of absent CET features)',
    checklist: ["G13"],
    group: "guestLoadCet",
    fail: (s) => (s.GUEST_S_CET & sCetReservedLo(s)) | (s.hi.GUEST_S_CET & sCetReservedHi(s)),
    message: (s) =>
      `${reservedBits(s, "GUEST_S_CET", s.GUEST_S_CET & sCetReservedLo(s), s.hi.GUEST_S_CET & sCetReservedHi(s))} while "load CET state" is 1 (bits 9:6 are always reserved${s.caps.ibt ? "" : "; without IBT so are 5:2 and 63:10"}${s.caps.shstk ? "" : "; without shadow stacks so are 1:0"})`,
  }),
  rule({
    id: "guest.s-cet.suppress-and-tracker",
    rule: 'With "load CET state", guest IA32_S_CET bits 10 (SUPPRESS) and 11 (TRACKER) must not both be 1',
    checklist: ["G13"],
    group: "guestLoadCet",
    fail: (s) =>
      (s.GUEST_S_CET & (CET_CTL.SUPPRESS | CET_CTL.TRACKER)) === (CET_CTL.SUPPRESS | CET_CTL.TRACKER),
    message: (s) =>
      `${show(s, "GUEST_S_CET")} sets both SUPPRESS (bit 10) and TRACKER (bit 11) while "load CET state" is 1; at most one may be 1`,
  }),
  // G14 [CET]
  rule({
    id: "guest.intr-ssp-table.canonical",
    rule: 'With "load CET state", the guest IA32_INTERRUPT_SSP_TABLE_ADDR field must be canonical',
    checklist: ["G14"],
    group: "guestLoadCet",
    fail: (s) => !canonical(s, s.hi.GUEST_INTR_SSP_TABLE),
    message: (s) => `${show(s, "GUEST_INTR_SSP_TABLE")} ${notCanonical(s)} (with "load CET state" = 1)`,
  }),
  // G15: reserved bits depend on the number of counters, so they come from the profile.
  validBits({
    id: "guest.perf-global-ctrl.reserved-bits",
    item: "G15",
    field: "GUEST_IA32_PERF_GLOBAL_CTRL",
    control: "load IA32_PERF_GLOBAL_CTRL",
    msr: "IA32_PERF_GLOBAL_CTRL",
    bit: ENTRY.LOAD_PERF_GLOBAL_CTRL,
    mask: "perfGlobalCtrlValid",
  }),
  // G16
  rule({
    id: "guest.pat.memory-types",
    rule: 'With "load IA32_PAT", every byte of the guest IA32_PAT field must be 0, 1, 4, 5, 6 or 7',
    checklist: ["G16"],
    when: (s) => (s.entry & ENTRY.LOAD_PAT) !== 0,
    fail: (s) => patHalfBad(s.GUEST_IA32_PAT) || patHalfBad(s.hi.GUEST_IA32_PAT),
    message: (s) =>
      `${show(s, "GUEST_IA32_PAT")} has invalid memory types ${badPatEntries(s.GUEST_IA32_PAT, s.hi.GUEST_IA32_PAT)} while "load IA32_PAT" is 1; each entry must be 0 (UC), 1 (WC), 4 (WT), 5 (WP), 6 (WB) or 7 (UC-)`,
  }),
  // G17–G19
  rule({
    id: "guest.efer.reserved-bits",
    rule: 'With "load IA32_EFER", the guest IA32_EFER field must not set reserved bits (only SCE, LME, LMA and, with execute-disable support, NXE exist)',
    checklist: ["G17"],
    when: (s) => (s.entry & ENTRY.LOAD_EFER) !== 0,
    // NXE is reserved without execute-disable support (Bochs efer_suppmask; kvm-unit-tests test_efer treats
    // EFER.NX as reserved unless CPUID reports NX).
    fail: (s) => outside(s.GUEST_IA32_EFER, s.hi.GUEST_IA32_EFER, s.caps.eferValidLo, 0),
    message: (s) =>
      `${reservedBits(s, "GUEST_IA32_EFER", s.GUEST_IA32_EFER & ~s.caps.eferValidLo, s.hi.GUEST_IA32_EFER)} while "load IA32_EFER" is 1; ${eferValidText(s)}`,
  }),
  rule({
    id: "guest.efer.lma-matches-ia32e",
    rule: 'With "load IA32_EFER", guest IA32_EFER.LMA must equal "IA-32e mode guest"',
    checklist: ["G18"],
    when: (s) => (s.entry & ENTRY.LOAD_EFER) !== 0,
    fail: (s) => ((s.GUEST_IA32_EFER & EFER.LMA) !== 0) !== ia32eGuest(s),
    message: (s) =>
      `${show(s, "GUEST_IA32_EFER")} has LMA=${onOff((s.GUEST_IA32_EFER & EFER.LMA) !== 0)} (bit 10) but "IA-32e mode guest" is ${onOff(ia32eGuest(s))}; they must be equal`,
  }),
  // SDM: bit 10 (LMA) "must also be identical to bit 8 (LME)" when CR0.PG=1. KVM compares LME with the
  // "IA-32e mode guest" control instead, which gives the same verdict whenever the LMA check passes.
  rule({
    id: "guest.efer.lme-matches-lma",
    rule: 'With "load IA32_EFER" and guest CR0.PG=1, guest IA32_EFER.LME must equal IA32_EFER.LMA',
    checklist: ["G19"],
    when: (s) => (s.entry & ENTRY.LOAD_EFER) !== 0 && (s.GUEST_CR0 & CR0.PG) !== 0,
    fail: (s) => ((s.GUEST_IA32_EFER & EFER.LME) !== 0) !== ((s.GUEST_IA32_EFER & EFER.LMA) !== 0),
    message: (s) =>
      `${show(s, "GUEST_IA32_EFER")} has LME=${onOff((s.GUEST_IA32_EFER & EFER.LME) !== 0)} (bit 8) and LMA=${onOff((s.GUEST_IA32_EFER & EFER.LMA) !== 0)} (bit 10) with guest CR0.PG=1; with paging on they must be equal`,
  }),
  // G20, G21 [MPX]
  rule({
    id: "guest.bndcfgs.reserved-bits",
    rule: 'With "load IA32_BNDCFGS", guest IA32_BNDCFGS bits 11:2 (reserved) must be 0',
    checklist: ["G20"],
    when: (s) => (s.entry & ENTRY.LOAD_BNDCFGS) !== 0,
    fail: (s) => s.GUEST_BNDCFGS & BNDCFGS.RESERVED,
    message: (s, bad) =>
      `${reservedBits(s, "GUEST_BNDCFGS", bad)} while "load IA32_BNDCFGS" is 1; bits 11:2 must be 0`,
  }),
  rule({
    id: "guest.bndcfgs.canonical-base",
    rule: 'With "load IA32_BNDCFGS", the base in guest IA32_BNDCFGS bits 63:12 must be canonical',
    checklist: ["G21"],
    when: (s) => (s.entry & ENTRY.LOAD_BNDCFGS) !== 0,
    // Bits 11:0 cannot affect canonicality (the sign bit is 47 or 56), so the whole value is tested.
    fail: (s) => !canonical(s, s.hi.GUEST_BNDCFGS),
    message: (s) =>
      `${show(s, "GUEST_BNDCFGS")}: the base (bits 63:12) ${notCanonical(s)} (with "load IA32_BNDCFGS" = 1)`,
  }),
  // G22 [PT]. Verified: SDM text "If the 'load IA32_RTIT_CTL' VM-entry control is 1, bits reserved in the
  // IA32_RTIT_CTL MSR must be 0 in the field for that register" (quoted by hypervisor projects citing
  // 26.3.1.1). Which bits are reserved depends on the CPU's PT capabilities: profile mask.
  validBits({
    id: "guest.rtit-ctl.reserved-bits",
    item: "G22",
    field: "GUEST_IA32_RTIT_CTL",
    control: "load IA32_RTIT_CTL",
    msr: "IA32_RTIT_CTL",
    bit: ENTRY.LOAD_RTIT_CTL,
    mask: "rtitCtlValid",
  }),
  // G23 [Arch LBR]. Verified: SDM text "If the 'load guest IA32_LBR_CTL' VM-entry control is 1, bits
  // reserved in the IA32_LBR_CTL MSR must be 0 in the field for that register" (quoted in a hypervisor
  // checker citing 27.3.1.1).
  validBits({
    id: "guest.lbr-ctl.reserved-bits",
    item: "G23",
    field: "GUEST_IA32_LBR_CTL",
    control: "load guest IA32_LBR_CTL",
    msr: "IA32_LBR_CTL",
    bit: ENTRY.LOAD_LBR_CTL,
    mask: "lbrCtlValid",
  }),
  // G24 [PKS]
  rule({
    id: "guest.pkrs.high-bits",
    rule: 'With "load PKRS", guest IA32_PKRS bits 63:32 must be 0',
    checklist: ["G24"],
    when: (s) => (s.entry & ENTRY.LOAD_PKRS) !== 0,
    fail: (s) => s.hi.GUEST_IA32_PKRS,
    message: (s, high) =>
      `${show(s, "GUEST_IA32_PKRS")} has bits 63:32 = ${hex(high)} while "load PKRS" is 1; IA32_PKRS has 16 2-bit keys in bits 31:0 and the rest must be 0`,
  }),
  // G25 [UINTR]. Verified wording: "If the 'load UINV' VM-entry control is 1, bits 15:8 must be 0 in the
  // guest UINV field" (SDM text quoted in a hypervisor checker citing 27.3.1.1; Bochs checks UINV < 256).
  rule({
    id: "guest.uinv.high-bits",
    rule: 'With "load UINV", guest UINV bits 15:8 must be 0',
    checklist: ["G25"],
    when: (s) => (s.entry & ENTRY.LOAD_UINV) !== 0,
    fail: (s) => s.GUEST_UINV & 0xff00,
    message: (s, high) =>
      `${show(s, "GUEST_UINV")} has bits 15:8 = ${hex(high >>> 8)} while "load UINV" is 1; UINV is an 8-bit vector, so bits 15:8 must be 0`,
  }),
  // G26–G28 [FRED]: gated on "load FRED" alone (Bochs; the checklist's reading of the SDM). KVM applies
  // them only when "IA-32e mode guest" is also 1 (docs/deviations.md). IA32_FRED_STKLVLS has no check.
  rule({
    id: "guest.fred-config.reserved-bits",
    rule: 'With "load FRED", guest IA32_FRED_CONFIG bits 2, 5:4 and 11 (reserved) must be 0',
    checklist: ["G26"],
    group: "guestLoadFred",
    fail: (s) => s.GUEST_IA32_FRED_CONFIG & FRED_CONFIG_RESERVED,
    message: (s, bad) =>
      `${reservedBits(s, "GUEST_IA32_FRED_CONFIG", bad)} while "load FRED" is 1; bits 2, 5:4 and 11 must be 0`,
  }),
  rule({
    id: "guest.fred-config.canonical",
    rule: 'With "load FRED", the entry-point address in guest IA32_FRED_CONFIG bits 63:12 must be canonical',
    checklist: ["G26"],
    group: "guestLoadFred",
    fail: (s) => !canonical(s, s.hi.GUEST_IA32_FRED_CONFIG),
    message: (s) =>
      `${show(s, "GUEST_IA32_FRED_CONFIG")}: the entry point (bits 63:12) ${notCanonical(s)} (with "load FRED" = 1)`,
  }),
  FRED_STACKS.map(([kind, alignBits, item]) =>
    ([1, 2, 3] as const).map((n) => {
      const name = `GUEST_IA32_FRED_${kind}${n}` as const;
      const bytes = 1 << alignBits;
      const p = { field: name, alignBits };
      return [
        rule({
          id: `guest.fred-${kind.toLowerCase()}${n}.canonical`,
          rule: `With "load FRED", the guest IA32_FRED_${kind}${n} field must be canonical`,
          checklist: [item],
          group: "guestLoadFred",
          p,
          fail: (s, p) => !canonical(s, s.hi[p.field]),
          message: (s) => `${show(s, name)} ${notCanonical(s)} (with "load FRED" = 1)`,
        }),
        rule({
          id: `guest.fred-${kind.toLowerCase()}${n}.aligned`,
          rule: `With "load FRED", the guest IA32_FRED_${kind}${n} field must be ${bytes}-byte aligned (bits ${alignBits - 1}:0 zero)`,
          checklist: [item],
          group: "guestLoadFred",
          p,
          fail: (s, p) => misaligned(s[p.field], p.alignBits),
          message: (s) =>
            `${show(s, name)} has bits ${alignBits - 1}:0 = ${hex(s[name] & (bytes - 1))} while "load FRED" is 1; IA32_FRED_${kind}${n} must be ${bytes}-byte aligned (e.g. ${hex64(s[name] & ~(bytes - 1), s.hi[name])})`,
        }),
      ];
    }),
  ),
  // G29 [SPEC_CTRL] (ISE 319433-052; Bochs): the value must be one WRMSR accepts; the profile gives the mask.
  validBits({
    id: "guest.spec-ctrl.reserved-bits",
    item: "G29",
    field: "GUEST_IA32_SPEC_CTRL",
    control: "load IA32_SPEC_CTRL",
    msr: "IA32_SPEC_CTRL",
    rule: 'With "load IA32_SPEC_CTRL", the guest IA32_SPEC_CTRL field must not set bits WRMSR would reject',
    bit: ENTRY.LOAD_SPEC_CTRL,
    mask: "specCtrlValid",
  }),
]);
