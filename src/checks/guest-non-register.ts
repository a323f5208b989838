/**
 * SDM 29.3.1.5 "Checks on Guest Non-Register State": activity state, interruptibility state, pending debug
 * exceptions and the VMCS link pointer. Failures are VM exits with reason 33; the link-pointer checks report
 * exit qualification 4 (SDM 29.8).
 *
 * Verification notes (checklist ../shared/docs/reference/sdm-checks.md §3.5, T1–T31):
 * - Every item was compared with the verbatim rev-059 text of 26.3.1.5 (same bullets as 29.3.1.5). None of
 *   T1–T31 is marked [R]; T13 and T19 are [S] and were checked as follows.
 * - T13 (NMI injection with blocking by STI): the 2016 text lets a processor *may* require STI blocking to be
 *   0 and reports such a failure with qualification 3. Later revisions (27.3.1.5, quoted verbatim by several
 *   hypervisors) merged it into one hard rule: "bit 0 and bit 1 must both be 0 if ... type 0 ... or type 2".
 *   We follow the newest text: a hard check with the default qualification 0 (older parts used 3). Bochs
 *   enforces the hard rule too.
 * - T19 (FRED): Bochs and KVM (K109) reject STI blocking when CR4.FRED = 1 in an IA-32e guest with SS.DPL 3.
 * - T29: the shadow-VMCS indicator must equal the "VMCS shadowing" control whether or not shadowing is on;
 *   bits 30:0 must equal the revision identifier in both cases (verbatim text; KVM does the same).
 * - T30 (link pointer ≠ current-VMCS pointer) is not implemented: the processor state does not carry the
 *   current-VMCS pointer. T31 uses the executive-VMCS pointer field of the current VMCS.
 */
import * as archControls from "../arch/controls.js";
import * as archRegisters from "../arch/registers.js";
import { hex } from "../util/u64.js";
import { decoders } from "./compile.js";
import { section } from "./rule.js";
import type { State } from "./state.js";
import * as util from "./util.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves predicates' names in this module (compile.ts).
const scope = (name: string): unknown => eval(name);

// Short local names for the imported tables and helpers.
const { ENTRY, PIN, PROC2 } = archControls;
const {
  ACTIVITY,
  AR,
  CR4,
  describeAr,
  DEBUGCTL,
  EVENT,
  EVENT_TYPE,
  EVENT_TYPE_NAMES,
  INTR,
  PENDING_DBG,
  RFLAGS,
  VMCS_REGION,
} = archRegisters;
const { arDpl, beyondPhys, eventType, eventVector, misaligned, physLimit, reservedBits, show, val } = util;

const { rule, checks } = section({ scope, sdm: "29.3.1.5", title: "Guest non-register state", cls: "guest" });

const ACTIVITY_NAMES = ["active", "HLT", "shutdown", "wait-for-SIPI"];

const {
  injecting,
  entrySmm,
  allowedInHlt,
  allowedInShutdown,
  bsGate,
  singleStepPending,
  linkReadable,
  linkDword,
} = decoders(scope, {
  /** An event is injected (valid bit 31 of the VM-entry interruption-information field). */
  injecting: (s: State) => (s.VM_ENTRY_INTR_INFO_FIELD & EVENT.VALID) !== 0,
  /** "Entry to SMM" VM-entry control. */
  entrySmm: (s: State) => (s.entry & ENTRY.SMM) !== 0,
  /**
   * SDM 29.3.1.5: events that may be injected into the HLT state: external interrupt, NMI, hardware exception
   * #DB (1) or #MC (18), and other event vector 0 (pending MTF VM exit).
   */
  allowedInHlt: (type: number, vector: number) =>
    type === EVENT_TYPE.EXT_INTR ||
    type === EVENT_TYPE.NMI ||
    (type === EVENT_TYPE.HW_EXCEPTION && (vector === 1 || vector === 18)) ||
    (type === EVENT_TYPE.OTHER && vector === 0),
  /** SDM 29.3.1.5: only an NMI or a machine-check exception (hardware exception 18) may be injected into shutdown. */
  allowedInShutdown: (type: number, vector: number) =>
    type === EVENT_TYPE.NMI || (type === EVENT_TYPE.HW_EXCEPTION && vector === 18),
  /** The BS rule applies with blocking by STI or by MOV SS, or in the HLT state (SDM 29.3.1.5). */
  bsGate: (s: State) =>
    (s.GUEST_INTERRUPTIBILITY_INFO & (INTR.STI | INTR.MOV_SS)) !== 0 ||
    s.GUEST_ACTIVITY_STATE === ACTIVITY.HLT,
  /**
   * RFLAGS.TF = 1 and IA32_DEBUGCTL.BTF = 0: a single-step trap is pending, so BS must be 1. The SDM names the
   * IA32_DEBUGCTL *field*, whatever "load debug controls" says.
   */
  singleStepPending: (s: State) =>
    (s.GUEST_RFLAGS & RFLAGS.TF) !== 0 && (s.GUEST_IA32_DEBUGCTL & DEBUGCTL.BTF) === 0,
  /** The link pointer can be dereferenced: 4-KByte aligned and within the physical-address width. */
  linkReadable: (s: State) =>
    !misaligned(s.VMCS_LINK_POINTER, 12) && !beyondPhys(s, s.VMCS_LINK_POINTER, s.hi.VMCS_LINK_POINTER),
  /** The first dword of the VMCS at the link pointer (revision identifier and shadow-VMCS indicator). */
  linkDword: (s: State) => s.mem.read32(s.hi.VMCS_LINK_POINTER * 4294967296 + s.VMCS_LINK_POINTER),
});

// Message helpers (run only on failure).

/** Activity state as a word, e.g. "1 (HLT)". */
function describeActivity(a: number): string {
  return `${a} (${ACTIVITY_NAMES[a] ?? "reserved"})`;
}

/** Interruptibility state with the blocking bits named, e.g. "0x3 (blocking by STI, blocking by MOV SS)". */
function describeIntr(v: number): string {
  const names: string[] = [];
  if (v & INTR.STI) names.push("blocking by STI");
  if (v & INTR.MOV_SS) names.push("blocking by MOV SS");
  if (v & INTR.SMI) names.push("blocking by SMI");
  if (v & INTR.NMI) names.push("blocking by NMI");
  if (v & INTR.ENCLAVE) names.push("enclave interruption");
  if (v & INTR.RESERVED) names.push("reserved bits");
  return `${hex(v)}${names.length ? ` (${names.join(", ")})` : ""}`;
}
const intr = (s: State) => `GUEST_INTERRUPTIBILITY_INFO=${describeIntr(s.GUEST_INTERRUPTIBILITY_INFO)}`;

/** The injected event, e.g. "VM_ENTRY_INTR_INFO_FIELD=0x80000202 (NMI, vector 2)". */
function injected(s: State): string {
  return `VM_ENTRY_INTR_INFO_FIELD=${hex(s.VM_ENTRY_INTR_INFO_FIELD)} (${EVENT_TYPE_NAMES[eventType(s)]}, vector ${eventVector(s)})`;
}

function bsGateReason(s: State): string {
  const why: string[] = [];
  if (s.GUEST_INTERRUPTIBILITY_INFO & INTR.STI) why.push("blocking by STI");
  if (s.GUEST_INTERRUPTIBILITY_INFO & INTR.MOV_SS) why.push("blocking by MOV SS");
  if (s.GUEST_ACTIVITY_STATE === ACTIVITY.HLT) why.push("activity state HLT");
  return why.join(", ");
}

export default checks([
  // ---- Activity state ----
  rule({
    id: "guest.activity.reserved",
    rule: "The activity state must be 0–3 (active, HLT, shutdown, wait-for-SIPI)",
    checklist: ["T1"],
    fail: (s) => s.GUEST_ACTIVITY_STATE > ACTIVITY.WAIT_FOR_SIPI,
    message: (s) =>
      `GUEST_ACTIVITY_STATE=${s.GUEST_ACTIVITY_STATE} is not an activity state; use 0 (active), 1 (HLT), 2 (shutdown) or 3 (wait-for-SIPI) as supported by IA32_VMX_MISC[8:6]`,
  }),
  // SDM 29.3.1.5 / A.6: IA32_VMX_MISC bits 6, 7, 8 report support for HLT, shutdown and wait-for-SIPI.
  rule({
    id: "guest.activity.unsupported",
    rule: "The activity state must be one the processor supports (IA32_VMX_MISC[8:6])",
    checklist: ["T1"],
    fail: (s) =>
      (s.GUEST_ACTIVITY_STATE === ACTIVITY.HLT && !s.caps.activityHlt) ||
      (s.GUEST_ACTIVITY_STATE === ACTIVITY.SHUTDOWN && !s.caps.activityShutdown) ||
      (s.GUEST_ACTIVITY_STATE === ACTIVITY.WAIT_FOR_SIPI && !s.caps.activityWaitSipi),
    message: (s) => {
      const a = s.GUEST_ACTIVITY_STATE;
      const supported = ["active"];
      if (s.caps.activityHlt) supported.push("HLT");
      if (s.caps.activityShutdown) supported.push("shutdown");
      if (s.caps.activityWaitSipi) supported.push("wait-for-SIPI");
      return `GUEST_ACTIVITY_STATE=${describeActivity(a)} is not supported by this processor: IA32_VMX_MISC[${5 + a}] is 0; supported states: ${supported.join(", ")}`;
    },
  }),
  rule({
    id: "guest.activity.hlt-ss-dpl",
    rule: "The HLT activity state requires SS.DPL = 0",
    checklist: ["T2"],
    when: (s) => s.GUEST_ACTIVITY_STATE === ACTIVITY.HLT,
    fail: (s) => arDpl(s.GUEST_SS_AR_BYTES),
    message: (s, dpl) =>
      `activity state HLT with SS.DPL=${dpl} (GUEST_SS_AR_BYTES=${describeAr(s.GUEST_SS_AR_BYTES)}); HLT is only allowed at SS.DPL 0 — use the active state or a DPL-0 SS`,
  }),
  rule({
    id: "guest.activity.blocking-not-active",
    rule: "With blocking by STI or by MOV SS the activity state must be active",
    checklist: ["T3"],
    when: (s) => (s.GUEST_INTERRUPTIBILITY_INFO & (INTR.STI | INTR.MOV_SS)) !== 0,
    fail: (s) => s.GUEST_ACTIVITY_STATE !== ACTIVITY.ACTIVE,
    message: (s) =>
      `${intr(s)} with GUEST_ACTIVITY_STATE=${describeActivity(s.GUEST_ACTIVITY_STATE)}; blocking by STI or MOV SS is only allowed in the active state (0) — clear bits 1:0 or make the state active`,
  }),
  rule({
    id: "guest.activity.hlt-event",
    rule: "In HLT only an external interrupt, NMI, #DB, #MC or pending MTF VM exit may be injected",
    checklist: ["T4"],
    when: (s) => s.GUEST_ACTIVITY_STATE === ACTIVITY.HLT && injecting(s),
    fail: (s) => !allowedInHlt(eventType(s), eventVector(s)),
    message: (s) =>
      `injecting ${injected(s)} into the HLT activity state; HLT allows only an external interrupt, an NMI, hardware exception 1 (#DB) or 18 (#MC), or other event 0 (pending MTF VM exit)`,
  }),
  rule({
    id: "guest.activity.shutdown-event",
    rule: "In shutdown only an NMI or a machine-check exception may be injected",
    checklist: ["T5"],
    when: (s) => s.GUEST_ACTIVITY_STATE === ACTIVITY.SHUTDOWN && injecting(s),
    fail: (s) => !allowedInShutdown(eventType(s), eventVector(s)),
    message: (s) =>
      `injecting ${injected(s)} into the shutdown activity state; shutdown allows only an NMI (type 2) or #MC (hardware exception, vector 18)`,
  }),
  rule({
    id: "guest.activity.wait-for-sipi-event",
    rule: "In wait-for-SIPI no event may be injected",
    checklist: ["T6"],
    when: (s) => s.GUEST_ACTIVITY_STATE === ACTIVITY.WAIT_FOR_SIPI,
    fail: (s) => injecting(s),
    message: (s) =>
      `injecting ${injected(s)} into the wait-for-SIPI activity state; no event may be injected in wait-for-SIPI — clear the valid bit (31) or use another activity state`,
  }),
  rule({
    id: "guest.activity.smm-wait-for-sipi",
    rule: 'With "entry to SMM" the activity state must not be wait-for-SIPI',
    checklist: ["T7"],
    when: (s) => entrySmm(s),
    fail: (s) => s.GUEST_ACTIVITY_STATE === ACTIVITY.WAIT_FOR_SIPI,
    message: () =>
      'GUEST_ACTIVITY_STATE=3 (wait-for-SIPI) with the "entry to SMM" VM-entry control set; an entry to SMM cannot enter wait-for-SIPI — use another activity state',
  }),

  // ---- Interruptibility state ----
  rule({
    id: "guest.intr.reserved",
    rule: "Interruptibility-state bits 31:5 must be 0",
    checklist: ["T8"],
    fail: (s) => s.GUEST_INTERRUPTIBILITY_INFO & INTR.RESERVED,
    message: (s, bad) => `${intr(s)} sets reserved bits ${hex(bad)}; only bits 4:0 are defined`,
  }),
  rule({
    id: "guest.intr.sti-and-mov-ss",
    rule: "Blocking by STI and blocking by MOV SS must not both be set",
    checklist: ["T9"],
    fail: (s) => (s.GUEST_INTERRUPTIBILITY_INFO & (INTR.STI | INTR.MOV_SS)) === (INTR.STI | INTR.MOV_SS),
    message: (s) =>
      `${intr(s)} sets both blocking by STI (bit 0) and blocking by MOV SS (bit 1); at most one may be set`,
  }),
  rule({
    id: "guest.intr.sti-if",
    rule: "Blocking by STI requires RFLAGS.IF = 1",
    checklist: ["T10"],
    when: (s) => (s.GUEST_INTERRUPTIBILITY_INFO & INTR.STI) !== 0,
    fail: (s) => (s.GUEST_RFLAGS & RFLAGS.IF) === 0,
    message: (s) =>
      `blocking by STI (${intr(s)}) with RFLAGS.IF=0 (${show(s, "GUEST_RFLAGS")}); STI blocking exists only after STI set IF — set RFLAGS.IF or clear bit 0`,
  }),
  rule({
    id: "guest.intr.ext-intr-blocking",
    rule: "Injecting an external interrupt requires no blocking by STI or MOV SS",
    checklist: ["T11"],
    when: (s) => injecting(s) && eventType(s) === EVENT_TYPE.EXT_INTR,
    fail: (s) => (s.GUEST_INTERRUPTIBILITY_INFO & (INTR.STI | INTR.MOV_SS)) !== 0,
    message: (s) =>
      `injecting ${injected(s)} while ${intr(s)}; an external interrupt cannot be injected under blocking by STI or MOV SS — clear bits 1:0`,
  }),
  rule({
    id: "guest.intr.nmi-mov-ss",
    rule: "Injecting an NMI requires no blocking by MOV SS",
    checklist: ["T12"],
    when: (s) => injecting(s) && eventType(s) === EVENT_TYPE.NMI,
    fail: (s) => (s.GUEST_INTERRUPTIBILITY_INFO & INTR.MOV_SS) !== 0,
    message: (s) =>
      `injecting ${injected(s)} while ${intr(s)}; an NMI cannot be injected under blocking by MOV SS — clear bit 1`,
  }),
  // 2016 text: processor-specific, qualification 3. Newer text (27.3.1.5 onward): a hard rule alongside the
  // external-interrupt one; reported here with the default qualification 0.
  rule({
    id: "guest.intr.nmi-sti",
    rule: "Injecting an NMI requires no blocking by STI",
    checklist: ["T13"],
    when: (s) => injecting(s) && eventType(s) === EVENT_TYPE.NMI,
    fail: (s) => (s.GUEST_INTERRUPTIBILITY_INFO & INTR.STI) !== 0,
    message: (s) =>
      `injecting ${injected(s)} while ${intr(s)}; an NMI cannot be injected under blocking by STI — clear bit 0 (older processors reported this with exit qualification 3)`,
  }),
  rule({
    id: "guest.intr.smi-outside-smm",
    rule: "Blocking by SMI must be 0 outside SMM",
    checklist: ["T14"],
    when: (s) => !s.cpu.inSmm,
    fail: (s) => (s.GUEST_INTERRUPTIBILITY_INFO & INTR.SMI) !== 0,
    message: (s) => `${intr(s)} sets blocking by SMI (bit 2) but the processor is not in SMM; clear bit 2`,
  }),
  rule({
    id: "guest.intr.smm-entry-smi",
    rule: 'With "entry to SMM" blocking by SMI must be 1',
    checklist: ["T15"],
    when: (s) => entrySmm(s),
    fail: (s) => (s.GUEST_INTERRUPTIBILITY_INFO & INTR.SMI) === 0,
    message: (s) =>
      `"entry to SMM" VM-entry control is 1 but ${intr(s)} does not set blocking by SMI; set bit 2`,
  }),
  // SDM 29.3.1.5 note: with "virtual NMIs" = 0 there is no such requirement.
  rule({
    id: "guest.intr.vnmi-nmi-blocking",
    rule: 'With "virtual NMIs", injecting an NMI requires no blocking by NMI',
    checklist: ["T16"],
    when: (s) => (s.pin & PIN.VIRTUAL_NMIS) !== 0 && injecting(s) && eventType(s) === EVENT_TYPE.NMI,
    fail: (s) => (s.GUEST_INTERRUPTIBILITY_INFO & INTR.NMI) !== 0,
    message: (s) =>
      `injecting ${injected(s)} with "virtual NMIs" = 1 while ${intr(s)} sets blocking by NMI (bit 3); clear bit 3`,
  }),
  rule({
    id: "guest.intr.enclave-mov-ss",
    rule: "Enclave interruption requires no blocking by MOV SS",
    checklist: ["T17"],
    group: "enclaveBlocking",
    fail: (s) => (s.GUEST_INTERRUPTIBILITY_INFO & INTR.MOV_SS) !== 0,
    message: (s) =>
      `${intr(s)} sets enclave interruption (bit 4) together with blocking by MOV SS (bit 1); clear one of them`,
  }),
  rule({
    id: "guest.intr.enclave-sgx",
    rule: "Enclave interruption requires SGX support (CPUID.(7,0):EBX[2])",
    checklist: ["T18"],
    group: "enclaveBlocking",
    fail: (s) => !s.caps.sgx,
    message: (s) =>
      `${intr(s)} sets enclave interruption (bit 4) but the processor does not support SGX (no "sgx" flag, CPUID.(EAX=7,ECX=0):EBX[2] = 0); clear bit 4`,
  }),
  // FRED: with SS.DPL 3 (user mode) the guest cannot be in an STI shadow (KVM K109, Bochs).
  rule({
    id: "guest.intr.fred-sti-user",
    rule: "A guest that will use FRED transitions with SS.DPL 3 must not have blocking by STI",
    checklist: ["T19"],
    when: (s) =>
      (s.entry & ENTRY.IA32E_GUEST) !== 0 &&
      (s.hi.GUEST_CR4 & CR4.FRED_HI) !== 0 &&
      (s.GUEST_SS_AR_BYTES & AR.DPL) === AR.DPL,
    fail: (s) => (s.GUEST_INTERRUPTIBILITY_INFO & INTR.STI) !== 0,
    message: (s) =>
      `blocking by STI (${intr(s)}) in an IA-32e guest with CR4.FRED=1 and SS.DPL=3; a FRED guest at user level cannot be in an STI shadow — clear bit 0`,
  }),

  // ---- Pending debug exceptions ----
  rule({
    id: "guest.pending-dbg.reserved",
    rule: "Pending debug exceptions: bits 11:4, 13, 15 and 63:17 must be 0",
    checklist: ["T20"],
    fail: (s) =>
      (s.GUEST_PENDING_DBG_EXCEPTIONS & PENDING_DBG.RESERVED_LO) !== 0 ||
      s.hi.GUEST_PENDING_DBG_EXCEPTIONS !== 0,
    message: (s) =>
      `${reservedBits(s, "GUEST_PENDING_DBG_EXCEPTIONS", s.GUEST_PENDING_DBG_EXCEPTIONS & PENDING_DBG.RESERVED_LO, s.hi.GUEST_PENDING_DBG_EXCEPTIONS)}; only B3:0 (bits 3:0), enabled breakpoint (12), BS (14) and RTM (16) are defined`,
  }),
  rule({
    id: "guest.pending-dbg.bs-required",
    rule: "With STI/MOV-SS blocking or HLT, BS must be 1 if RFLAGS.TF = 1 and IA32_DEBUGCTL.BTF = 0",
    checklist: ["T21"],
    when: (s) => bsGate(s) && singleStepPending(s),
    fail: (s) => (s.GUEST_PENDING_DBG_EXCEPTIONS & PENDING_DBG.BS) === 0,
    message: (s) =>
      `${bsGateReason(s)} with RFLAGS.TF=1 and IA32_DEBUGCTL.BTF=0 (${show(s, "GUEST_IA32_DEBUGCTL")}): a single-step trap is pending, so BS (bit 14) of the pending debug exceptions must be 1, got ${show(s, "GUEST_PENDING_DBG_EXCEPTIONS")}`,
  }),
  rule({
    id: "guest.pending-dbg.bs-forbidden",
    rule: "With STI/MOV-SS blocking or HLT, BS must be 0 if RFLAGS.TF = 0 or IA32_DEBUGCTL.BTF = 1",
    checklist: ["T22"],
    when: (s) => bsGate(s) && !singleStepPending(s),
    fail: (s) => (s.GUEST_PENDING_DBG_EXCEPTIONS & PENDING_DBG.BS) !== 0,
    message: (s) =>
      `${bsGateReason(s)} with RFLAGS.TF=${(s.GUEST_RFLAGS >>> 8) & 1} and IA32_DEBUGCTL.BTF=${(s.GUEST_IA32_DEBUGCTL >>> 1) & 1}: no single-step trap is pending, so BS (bit 14) must be 0, got ${show(s, "GUEST_PENDING_DBG_EXCEPTIONS")}`,
  }),
  // With RTM set, bits 11:0 and 15:13 must be 0 and bit 12 must be 1; bits 11:4, 13, 15 and 63:17 are already
  // covered by guest.pending-dbg.reserved, so this check names B3:0 and BS.
  rule({
    id: "guest.pending-dbg.rtm-other-bits",
    rule: "With RTM (bit 16) set, B3:0 (bits 3:0) and BS (bit 14) must be 0",
    checklist: ["T23"],
    group: "pendingRtm",
    fail: (s) => (s.GUEST_PENDING_DBG_EXCEPTIONS & (PENDING_DBG.B0_3 | PENDING_DBG.BS)) !== 0,
    message: (s) =>
      `${show(s, "GUEST_PENDING_DBG_EXCEPTIONS")}: with RTM (bit 16) set, bits 3:0 and 14 (BS) must be 0 — a pending RTM debug exception carries only bit 12 and bit 16`,
  }),
  rule({
    id: "guest.pending-dbg.rtm-enabled-bp",
    rule: "With RTM (bit 16) set, bit 12 (enabled breakpoint) must be 1",
    checklist: ["T23"],
    group: "pendingRtm",
    fail: (s) => (s.GUEST_PENDING_DBG_EXCEPTIONS & PENDING_DBG.ENABLED_BP) === 0,
    message: (s) =>
      `${show(s, "GUEST_PENDING_DBG_EXCEPTIONS")}: with RTM (bit 16) set, bit 12 (enabled breakpoint) must be 1`,
  }),
  rule({
    id: "guest.pending-dbg.rtm-support",
    rule: "RTM (bit 16) requires RTM support (CPUID.(7,0):EBX[11])",
    checklist: ["T24"],
    group: "pendingRtm",
    fail: (s) => !s.caps.rtm,
    message: (s) =>
      `${show(s, "GUEST_PENDING_DBG_EXCEPTIONS")} sets RTM (bit 16) but the processor does not support RTM (no "rtm" flag, CPUID.(EAX=7,ECX=0):EBX[11] = 0); clear bit 16`,
  }),
  rule({
    id: "guest.pending-dbg.rtm-mov-ss",
    rule: "RTM (bit 16) requires no blocking by MOV SS",
    checklist: ["T25"],
    group: "pendingRtm",
    fail: (s) => (s.GUEST_INTERRUPTIBILITY_INFO & INTR.MOV_SS) !== 0,
    message: (s) =>
      `${show(s, "GUEST_PENDING_DBG_EXCEPTIONS")} sets RTM (bit 16) while ${intr(s)} sets blocking by MOV SS; clear one of them`,
  }),

  // ---- VMCS link pointer (exit qualification 4) ----
  rule({
    id: "guest.link-pointer.alignment",
    rule: "A VMCS link pointer other than all ones must be 4-KByte aligned (bits 11:0 = 0)",
    checklist: ["T26"],
    qualification: 4,
    group: "linkValid",
    fail: (s) => s.VMCS_LINK_POINTER & 0xfff,
    message: (s, low) =>
      `${show(s, "VMCS_LINK_POINTER")} is not 4-KByte aligned (bits 11:0 = ${hex(low)}); use FFFFFFFF_FFFFFFFFH for no link or a page-aligned VMCS address`,
  }),
  rule({
    id: "guest.link-pointer.phys-width",
    rule: "A VMCS link pointer other than all ones must be within the physical-address width",
    checklist: ["T27"],
    qualification: 4,
    group: "linkValid",
    fail: (s) => beyondPhys(s, s.VMCS_LINK_POINTER, s.hi.VMCS_LINK_POINTER),
    message: (s) =>
      `${show(s, "VMCS_LINK_POINTER")} sets bits beyond the physical-address width: ${physLimit(s)}`,
  }),
  // Only checked when the pointer itself is well formed (the dword cannot be read otherwise).
  rule({
    id: "guest.link-pointer.revision",
    rule: "Bits 30:0 of the dword at the VMCS link pointer must be the VMCS revision identifier",
    checklist: ["T28"],
    qualification: 4,
    group: "linkValid",
    when: (s) => linkReadable(s),
    fail: (s) => (linkDword(s) & ~VMCS_REGION.SHADOW_INDICATOR) !== s.caps.revision,
    message: (s) =>
      `the VMCS at ${show(s, "VMCS_LINK_POINTER")} starts with ${hex(linkDword(s))}: revision identifier ${hex(linkDword(s) & ~VMCS_REGION.SHADOW_INDICATOR)}, but this processor uses ${hex(s.caps.revision)} (IA32_VMX_BASIC[30:0])`,
  }),
  rule({
    id: "guest.link-pointer.shadow-indicator",
    rule: 'Bit 31 of the dword at the VMCS link pointer must equal the "VMCS shadowing" control',
    checklist: ["T29"],
    qualification: 4,
    group: "linkValid",
    when: (s) => linkReadable(s),
    fail: (s) =>
      ((linkDword(s) & VMCS_REGION.SHADOW_INDICATOR) !== 0) !== ((s.proc2 & PROC2.SHADOW_VMCS) !== 0),
    message: (s) =>
      (s.proc2 & PROC2.SHADOW_VMCS) !== 0
        ? `"VMCS shadowing" is 1 but the VMCS at ${show(s, "VMCS_LINK_POINTER")} is not a shadow VMCS (dword ${hex(linkDword(s))}, bit 31 = 0); set its shadow-VMCS indicator`
        : `"VMCS shadowing" is 0 but the VMCS at ${show(s, "VMCS_LINK_POINTER")} is a shadow VMCS (dword ${hex(linkDword(s))}, bit 31 = 1); clear the indicator or use FFFFFFFF_FFFFFFFFH`,
  }),
  // Outside SMM (or entering SMM) the link pointer must not name the current VMCS itself. The current-VMCS
  // pointer is not a VMCS field: it is checked only when the entry document gives processor.currentVmcsPointer.
  rule({
    id: "guest.link-pointer.current-vmcs",
    rule: 'Outside SMM (or with "entry to SMM" = 1), the VMCS link pointer must differ from the current-VMCS pointer',
    checklist: ["T30"],
    qualification: 4,
    group: "linkValid",
    when: (s) => s.cpu.currentVmcsPointer !== undefined && (!s.cpu.inSmm || entrySmm(s)),
    fail: (s) => s.hi.VMCS_LINK_POINTER * 4294967296 + s.VMCS_LINK_POINTER === s.cpu.currentVmcsPointer,
    message: (s) =>
      `${show(s, "VMCS_LINK_POINTER")} is the current VMCS itself (processor.currentVmcsPointer); the link pointer must name another VMCS or be FFFFFFFF_FFFFFFFFH`,
  }),
  // In SMM with "entry to SMM" = 0 (an STM returning from SMM) the current VMCS is the SMM VMCS; the link
  // pointer must then differ from the executive-VMCS pointer field.
  rule({
    id: "guest.link-pointer.executive-vmcs",
    rule: 'In SMM with "entry to SMM" = 0, the VMCS link pointer must differ from the executive-VMCS pointer',
    checklist: ["T31"],
    qualification: 4,
    group: "linkValid",
    when: (s) => s.cpu.inSmm && !entrySmm(s),
    fail: (s) =>
      s.VMCS_LINK_POINTER === s.EXECUTIVE_VMCS_POINTER &&
      s.hi.VMCS_LINK_POINTER === s.hi.EXECUTIVE_VMCS_POINTER,
    message: (s) =>
      `${show(s, "VMCS_LINK_POINTER")} equals the executive-VMCS pointer (${val(s, "EXECUTIVE_VMCS_POINTER")}) on a VM entry that returns from SMM; the link pointer must name a different VMCS (or be FFFFFFFF_FFFFFFFFH)`,
  }),
]);
