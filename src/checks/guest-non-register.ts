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
import * as archFields from "../arch/fields.js";
import * as archRegisters from "../arch/registers.js";
import * as memoryModule from "../vmcs/memory.js";
import { G } from "./groups.js";
import { and, beyondPhys, type Code, code, hi, lo, misaligned, not, or, pred } from "./pred.js";
import type { Check, Ctx } from "./types.js";
import * as util from "./util.js";

// Short local names for the imported tables and helpers.
const { ENTRY, PIN, PROC2 } = archControls;
const { F } = archFields;
const {
  ACTIVITY,
  AR,
  arDpl,
  CR4,
  describeAr,
  EVENT,
  EVENT_TYPE,
  EVENT_TYPE_NAMES,
  INTR,
  PENDING_DBG,
  RFLAGS,
} = archRegisters;
const { Memory } = memoryModule;
const { bitList, physLimit, show, val } = util;

const SDM = "29.3.1.5";
/** IA32_DEBUGCTL.BTF (single-step on branches), SDM Vol. 3 19.4.1. */
const DEBUGCTL_BTF = 1 << 1;
/** Shadow-VMCS indicator in the first dword of a VMCS region (SDM 25.2). */
const SHADOW_INDICATOR = 0x80000000;

const ACTIVITY_NAMES = ["active", "HLT", "shutdown", "wait-for-SIPI"];

// Reads for the messages (and the memory-reading predicates), as closures.
const activity = (c: Ctx) => c.lo(F.GUEST_ACTIVITY_STATE);
const intr = (c: Ctx) => c.lo(F.GUEST_INTERRUPTIBILITY_INFO);
const event = (c: Ctx) => c.lo(F.VM_ENTRY_INTR_INFO_FIELD);
const { eventType, eventVector } = util;
const rflags = (c: Ctx) => c.lo(F.GUEST_RFLAGS);
const pendingDbg = (c: Ctx) => c.lo(F.GUEST_PENDING_DBG_EXCEPTIONS);
const ssDpl = (c: Ctx) => arDpl(c.lo(F.GUEST_SS_AR_BYTES));
const linkDword = (c: Ctx) => c.mem.read32(Memory.addr(c.lo(F.VMCS_LINK_POINTER), c.hi(F.VMCS_LINK_POINTER)));
const shadowing = (c: Ctx) => (c.proc2 & PROC2.SHADOW_VMCS) !== 0;

// The same reads and shared conditions as predicate source (src/checks/pred.ts).
const LINK = F.VMCS_LINK_POINTER!;
const PENDING = F.GUEST_PENDING_DBG_EXCEPTIONS!;
const CR4_F = F.GUEST_CR4!;
const SS_AR = F.GUEST_SS_AR_BYTES!;
const EXECUTIVE = F.EXECUTIVE_VMCS_POINTER!;
const ACT: Code = lo(F.GUEST_ACTIVITY_STATE!);
const INTR_STATE: Code = lo(F.GUEST_INTERRUPTIBILITY_INFO!);
const EVENT_INFO: Code = lo(F.VM_ENTRY_INTR_INFO_FIELD!);
const RFLAGS_LO: Code = lo(F.GUEST_RFLAGS!);
const PENDING_LO: Code = lo(PENDING);
const activityIs = (a: number): Code => code`${ACT} === ${a}`;
/** The interruptibility state has any of the bits of `mask` set. */
const intrHas = (mask: number): Code => code`(${INTR_STATE} & ${mask}) !== 0`;
const injecting: Code = code`(${EVENT_INFO} & ${EVENT.VALID}) !== 0`;
const { EVENT_TYPE: eventTypeOf, EVENT_VECTOR: eventVectorOf } = util;
const injectingType = (t: number): Code => code`${injecting} && ${eventTypeOf} === ${t}`;
/** "Entry to SMM" VM-entry control. */
const entrySmm: Code = code`(c.entry & ${ENTRY.SMM}) !== 0`;
/** The DPL of access rights in field i. */
const dpl = util.arDpl;
/** The link pointer can be dereferenced: 4-KByte aligned and within the physical-address width. */
const linkReadable: Code = and(G.linkValid, not(misaligned(LINK, 12)), not(beyondPhys(LINK)));

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
  return `0x${(v >>> 0).toString(16)}${names.length ? ` (${names.join(", ")})` : ""}`;
}

/** The injected event, e.g. "0x80000202 (NMI, vector 2)". */
function describeEvent(c: Ctx): string {
  const e = event(c);
  return `VM_ENTRY_INTR_INFO_FIELD=0x${(e >>> 0).toString(16)} (${EVENT_TYPE_NAMES[eventType(c)]}, vector ${eventVector(c)})`;
}

/**
 * SDM 29.3.1.5: events that may be injected into the HLT state: external interrupt, NMI, hardware exception
 * #DB (1) or #MC (18), and other event vector 0 (pending MTF VM exit).
 */
const allowedInHlt = (type: Code, vector: Code): Code =>
  or(
    code`${type} === ${EVENT_TYPE.EXT_INTR}`,
    code`${type} === ${EVENT_TYPE.NMI}`,
    code`${type} === ${EVENT_TYPE.HW_EXCEPTION} && (${vector} === 1 || ${vector} === 18)`,
    code`${type} === ${EVENT_TYPE.OTHER} && ${vector} === 0`,
  );

/** SDM 29.3.1.5: only an NMI or a machine-check exception (hardware exception 18) may be injected into shutdown. */
const allowedInShutdown = (type: Code, vector: Code): Code =>
  code`${type} === ${EVENT_TYPE.NMI} || (${type} === ${EVENT_TYPE.HW_EXCEPTION} && ${vector} === 18)`;

/** The reserved bits set in the pending-debug-exceptions field, for a message. */
function describeReservedDbg(c: Ctx): string {
  const lo = (pendingDbg(c) & PENDING_DBG.RESERVED_LO) >>> 0;
  const hi = c.hi(F.GUEST_PENDING_DBG_EXCEPTIONS);
  const parts: string[] = [];
  if (lo) parts.push(bitList(lo));
  if (hi) parts.push(bitList(hi, 32));
  return parts.join(" and ");
}

/** The BS rule applies with blocking by STI or by MOV SS, or in the HLT state (SDM 29.3.1.5). */
const bsGate: Code = or(intrHas(INTR.STI | INTR.MOV_SS), activityIs(ACTIVITY.HLT));
/** RFLAGS.TF = 1 and IA32_DEBUGCTL.BTF = 0: a single-step trap is pending, so BS must be 1. */
const singleStepPending: Code = and(
  code`(${RFLAGS_LO} & ${RFLAGS.TF}) !== 0`,
  code`(${lo(F.GUEST_IA32_DEBUGCTL!)} & ${DEBUGCTL_BTF}) === 0`,
);

function bsGateReason(c: Ctx): string {
  const why: string[] = [];
  if (intr(c) & INTR.STI) why.push("blocking by STI");
  if (intr(c) & INTR.MOV_SS) why.push("blocking by MOV SS");
  if (activity(c) === ACTIVITY.HLT) why.push("activity state HLT");
  return why.join(", ");
}

export const guestNonRegisterChecks: readonly Check[] = [
  // ---- Activity state ----
  {
    id: "guest.activity.reserved",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_ACTIVITY_STATE"],
    rule: "The activity state must be 0–3 (active, HLT, shutdown, wait-for-SIPI)",
    checklist: ["T1"],
    fail: pred`${ACT} > ${ACTIVITY.WAIT_FOR_SIPI}`,
    message: (c) =>
      `GUEST_ACTIVITY_STATE=${activity(c)} is not an activity state; use 0 (active), 1 (HLT), 2 (shutdown) or 3 (wait-for-SIPI) as supported by IA32_VMX_MISC[8:6]`,
  },
  {
    // SDM 29.3.1.5 / A.6: IA32_VMX_MISC bits 6, 7, 8 report support for HLT, shutdown and wait-for-SIPI.
    id: "guest.activity.unsupported",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_ACTIVITY_STATE"],
    rule: "The activity state must be one the processor supports (IA32_VMX_MISC[8:6])",
    checklist: ["T1"],
    fail: pred`${or(
      code`${activityIs(ACTIVITY.HLT)} && !c.caps.activityHlt`,
      code`${activityIs(ACTIVITY.SHUTDOWN)} && !c.caps.activityShutdown`,
      code`${activityIs(ACTIVITY.WAIT_FOR_SIPI)} && !c.caps.activityWaitSipi`,
    )}`,
    message: (c) => {
      const a = activity(c);
      const supported = ["active"];
      if (c.caps.activityHlt) supported.push("HLT");
      if (c.caps.activityShutdown) supported.push("shutdown");
      if (c.caps.activityWaitSipi) supported.push("wait-for-SIPI");
      return `GUEST_ACTIVITY_STATE=${describeActivity(a)} is not supported by this processor: IA32_VMX_MISC[${5 + a}] is 0; supported states: ${supported.join(", ")}`;
    },
  },
  {
    id: "guest.activity.hlt-ss-dpl",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_ACTIVITY_STATE", "GUEST_SS_AR_BYTES"],
    rule: "The HLT activity state requires SS.DPL = 0",
    checklist: ["T2"],
    when: pred`${activityIs(ACTIVITY.HLT)}`,
    fail: pred`${dpl(SS_AR)} !== 0`,
    message: (c) =>
      `activity state HLT with SS.DPL=${ssDpl(c)} (GUEST_SS_AR_BYTES=${describeAr(c.lo(F.GUEST_SS_AR_BYTES))}); HLT is only allowed at SS.DPL 0 — use the active state or a DPL-0 SS`,
  },
  {
    id: "guest.activity.blocking-not-active",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_ACTIVITY_STATE", "GUEST_INTERRUPTIBILITY_INFO"],
    rule: "With blocking by STI or by MOV SS the activity state must be active",
    checklist: ["T3"],
    when: pred`${intrHas(INTR.STI | INTR.MOV_SS)}`,
    fail: pred`${ACT} !== ${ACTIVITY.ACTIVE}`,
    message: (c) =>
      `GUEST_INTERRUPTIBILITY_INFO=${describeIntr(intr(c))} with GUEST_ACTIVITY_STATE=${describeActivity(activity(c))}; blocking by STI or MOV SS is only allowed in the active state (0) — clear bits 1:0 or make the state active`,
  },
  {
    id: "guest.activity.hlt-event",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_ACTIVITY_STATE", "VM_ENTRY_INTR_INFO_FIELD"],
    rule: "In HLT only an external interrupt, NMI, #DB, #MC or pending MTF VM exit may be injected",
    checklist: ["T4"],
    when: pred`${activityIs(ACTIVITY.HLT)} && ${injecting}`,
    fail: pred`!${allowedInHlt(eventTypeOf, eventVectorOf)}`,
    message: (c) =>
      `injecting ${describeEvent(c)} into the HLT activity state; HLT allows only an external interrupt, an NMI, hardware exception 1 (#DB) or 18 (#MC), or other event 0 (pending MTF VM exit)`,
  },
  {
    id: "guest.activity.shutdown-event",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_ACTIVITY_STATE", "VM_ENTRY_INTR_INFO_FIELD"],
    rule: "In shutdown only an NMI or a machine-check exception may be injected",
    checklist: ["T5"],
    when: pred`${activityIs(ACTIVITY.SHUTDOWN)} && ${injecting}`,
    fail: pred`!${allowedInShutdown(eventTypeOf, eventVectorOf)}`,
    message: (c) =>
      `injecting ${describeEvent(c)} into the shutdown activity state; shutdown allows only an NMI (type 2) or #MC (hardware exception, vector 18)`,
  },
  {
    id: "guest.activity.wait-for-sipi-event",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_ACTIVITY_STATE", "VM_ENTRY_INTR_INFO_FIELD"],
    rule: "In wait-for-SIPI no event may be injected",
    checklist: ["T6"],
    when: pred`${activityIs(ACTIVITY.WAIT_FOR_SIPI)}`,
    fail: pred`${injecting}`,
    message: (c) =>
      `injecting ${describeEvent(c)} into the wait-for-SIPI activity state; no event may be injected in wait-for-SIPI — clear the valid bit (31) or use another activity state`,
  },
  {
    id: "guest.activity.smm-wait-for-sipi",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_ACTIVITY_STATE", "VM_ENTRY_CONTROLS"],
    rule: 'With "entry to SMM" the activity state must not be wait-for-SIPI',
    checklist: ["T7"],
    when: pred`${entrySmm}`,
    fail: pred`${activityIs(ACTIVITY.WAIT_FOR_SIPI)}`,
    message: () =>
      'GUEST_ACTIVITY_STATE=3 (wait-for-SIPI) with the "entry to SMM" VM-entry control set; an entry to SMM cannot enter wait-for-SIPI — use another activity state',
  },

  // ---- Interruptibility state ----
  {
    id: "guest.intr.reserved",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_INTERRUPTIBILITY_INFO"],
    rule: "Interruptibility-state bits 31:5 must be 0",
    checklist: ["T8"],
    fail: pred`${intrHas(INTR.RESERVED)}`,
    message: (c) =>
      `GUEST_INTERRUPTIBILITY_INFO=${describeIntr(intr(c))} sets reserved bits 0x${((intr(c) & INTR.RESERVED) >>> 0).toString(16)}; only bits 4:0 are defined`,
  },
  {
    id: "guest.intr.sti-and-mov-ss",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_INTERRUPTIBILITY_INFO"],
    rule: "Blocking by STI and blocking by MOV SS must not both be set",
    checklist: ["T9"],
    fail: pred`(${INTR_STATE} & ${INTR.STI | INTR.MOV_SS}) === ${INTR.STI | INTR.MOV_SS}`,
    message: (c) =>
      `GUEST_INTERRUPTIBILITY_INFO=${describeIntr(intr(c))} sets both blocking by STI (bit 0) and blocking by MOV SS (bit 1); at most one may be set`,
  },
  {
    id: "guest.intr.sti-if",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_INTERRUPTIBILITY_INFO", "GUEST_RFLAGS"],
    rule: "Blocking by STI requires RFLAGS.IF = 1",
    checklist: ["T10"],
    when: pred`${intrHas(INTR.STI)}`,
    fail: pred`(${RFLAGS_LO} & ${RFLAGS.IF}) === 0`,
    message: (c) =>
      `blocking by STI (GUEST_INTERRUPTIBILITY_INFO=${describeIntr(intr(c))}) with RFLAGS.IF=0 (${show(c, F.GUEST_RFLAGS)}); STI blocking exists only after STI set IF — set RFLAGS.IF or clear bit 0`,
  },
  {
    id: "guest.intr.ext-intr-blocking",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_INTERRUPTIBILITY_INFO", "VM_ENTRY_INTR_INFO_FIELD"],
    rule: "Injecting an external interrupt requires no blocking by STI or MOV SS",
    checklist: ["T11"],
    when: pred`${injectingType(EVENT_TYPE.EXT_INTR)}`,
    fail: pred`${intrHas(INTR.STI | INTR.MOV_SS)}`,
    message: (c) =>
      `injecting ${describeEvent(c)} while GUEST_INTERRUPTIBILITY_INFO=${describeIntr(intr(c))}; an external interrupt cannot be injected under blocking by STI or MOV SS — clear bits 1:0`,
  },
  {
    id: "guest.intr.nmi-mov-ss",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_INTERRUPTIBILITY_INFO", "VM_ENTRY_INTR_INFO_FIELD"],
    rule: "Injecting an NMI requires no blocking by MOV SS",
    checklist: ["T12"],
    when: pred`${injectingType(EVENT_TYPE.NMI)}`,
    fail: pred`${intrHas(INTR.MOV_SS)}`,
    message: (c) =>
      `injecting ${describeEvent(c)} while GUEST_INTERRUPTIBILITY_INFO=${describeIntr(intr(c))}; an NMI cannot be injected under blocking by MOV SS — clear bit 1`,
  },
  {
    // 2016 text: processor-specific, qualification 3. Newer text (27.3.1.5 onward): a hard rule alongside the
    // external-interrupt one; reported here with the default qualification 0.
    id: "guest.intr.nmi-sti",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_INTERRUPTIBILITY_INFO", "VM_ENTRY_INTR_INFO_FIELD"],
    rule: "Injecting an NMI requires no blocking by STI",
    checklist: ["T13"],
    when: pred`${injectingType(EVENT_TYPE.NMI)}`,
    fail: pred`${intrHas(INTR.STI)}`,
    message: (c) =>
      `injecting ${describeEvent(c)} while GUEST_INTERRUPTIBILITY_INFO=${describeIntr(intr(c))}; an NMI cannot be injected under blocking by STI — clear bit 0 (older processors reported this with exit qualification 3)`,
  },
  {
    id: "guest.intr.smi-outside-smm",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_INTERRUPTIBILITY_INFO"],
    rule: "Blocking by SMI must be 0 outside SMM",
    checklist: ["T14"],
    when: pred`!c.proc_.inSmm`,
    fail: pred`${intrHas(INTR.SMI)}`,
    message: (c) =>
      `GUEST_INTERRUPTIBILITY_INFO=${describeIntr(intr(c))} sets blocking by SMI (bit 2) but the processor is not in SMM; clear bit 2`,
  },
  {
    id: "guest.intr.smm-entry-smi",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_INTERRUPTIBILITY_INFO", "VM_ENTRY_CONTROLS"],
    rule: 'With "entry to SMM" blocking by SMI must be 1',
    checklist: ["T15"],
    when: pred`${entrySmm}`,
    fail: pred`!${intrHas(INTR.SMI)}`,
    message: (c) =>
      `"entry to SMM" VM-entry control is 1 but GUEST_INTERRUPTIBILITY_INFO=${describeIntr(intr(c))} does not set blocking by SMI; set bit 2`,
  },
  {
    // SDM 29.3.1.5 note: with "virtual NMIs" = 0 there is no such requirement.
    id: "guest.intr.vnmi-nmi-blocking",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_INTERRUPTIBILITY_INFO", "VM_ENTRY_INTR_INFO_FIELD", "PIN_BASED_VM_EXEC_CONTROL"],
    rule: 'With "virtual NMIs", injecting an NMI requires no blocking by NMI',
    checklist: ["T16"],
    when: pred`(c.pin & ${PIN.VIRTUAL_NMIS}) !== 0 && ${injectingType(EVENT_TYPE.NMI)}`,
    fail: pred`${intrHas(INTR.NMI)}`,
    message: (c) =>
      `injecting ${describeEvent(c)} with "virtual NMIs" = 1 while GUEST_INTERRUPTIBILITY_INFO=${describeIntr(intr(c))} sets blocking by NMI (bit 3); clear bit 3`,
  },
  {
    id: "guest.intr.enclave-mov-ss",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_INTERRUPTIBILITY_INFO"],
    rule: "Enclave interruption requires no blocking by MOV SS",
    checklist: ["T17"],
    group: "enclaveBlocking",
    when: pred`${G.enclaveBlocking}`,
    fail: pred`${intrHas(INTR.MOV_SS)}`,
    message: (c) =>
      `GUEST_INTERRUPTIBILITY_INFO=${describeIntr(intr(c))} sets enclave interruption (bit 4) together with blocking by MOV SS (bit 1); clear one of them`,
  },
  {
    id: "guest.intr.enclave-sgx",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_INTERRUPTIBILITY_INFO"],
    rule: "Enclave interruption requires SGX support (CPUID.(7,0):EBX[2])",
    checklist: ["T18"],
    group: "enclaveBlocking",
    when: pred`${G.enclaveBlocking}`,
    fail: pred`!c.caps.sgx`,
    message: (c) =>
      `GUEST_INTERRUPTIBILITY_INFO=${describeIntr(intr(c))} sets enclave interruption (bit 4) but the processor does not support SGX (no "sgx" flag, CPUID.(EAX=7,ECX=0):EBX[2] = 0); clear bit 4`,
  },
  {
    // FRED: with SS.DPL 3 (user mode) the guest cannot be in an STI shadow (KVM K109, Bochs).
    id: "guest.intr.fred-sti-user",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_INTERRUPTIBILITY_INFO", "GUEST_SS_AR_BYTES", "GUEST_CR4", "VM_ENTRY_CONTROLS"],
    rule: "A guest that will use FRED transitions with SS.DPL 3 must not have blocking by STI",
    checklist: ["T19"],
    when: pred`${and(
      code`(c.entry & ${ENTRY.IA32E_GUEST}) !== 0`,
      code`(${hi(CR4_F)} & ${CR4.FRED_HI}) !== 0`,
      code`(${lo(SS_AR)} & ${AR.DPL}) === ${AR.DPL}`,
    )}`,
    fail: pred`${intrHas(INTR.STI)}`,
    message: (c) =>
      `blocking by STI (GUEST_INTERRUPTIBILITY_INFO=${describeIntr(intr(c))}) in an IA-32e guest with CR4.FRED=1 and SS.DPL=3; a FRED guest at user level cannot be in an STI shadow — clear bit 0`,
  },

  // ---- Pending debug exceptions ----
  {
    id: "guest.pending-dbg.reserved",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_PENDING_DBG_EXCEPTIONS"],
    rule: "Pending debug exceptions: bits 11:4, 13, 15 and 63:17 must be 0",
    checklist: ["T20"],
    fail: pred`(${PENDING_LO} & ${PENDING_DBG.RESERVED_LO}) !== 0 || ${hi(PENDING)} !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_PENDING_DBG_EXCEPTIONS)} sets reserved ${describeReservedDbg(c)}; only B3:0 (bits 3:0), enabled breakpoint (12), BS (14) and RTM (16) are defined`,
  },
  {
    id: "guest.pending-dbg.bs-required",
    sdm: SDM,
    cls: "guest",
    fields: [
      "GUEST_PENDING_DBG_EXCEPTIONS",
      "GUEST_RFLAGS",
      "GUEST_IA32_DEBUGCTL",
      "GUEST_INTERRUPTIBILITY_INFO",
      "GUEST_ACTIVITY_STATE",
    ],
    rule: "With STI/MOV-SS blocking or HLT, BS must be 1 if RFLAGS.TF = 1 and IA32_DEBUGCTL.BTF = 0",
    checklist: ["T21"],
    // The SDM names the IA32_DEBUGCTL *field*, whatever "load debug controls" says.
    when: pred`${bsGate} && ${singleStepPending}`,
    fail: pred`(${PENDING_LO} & ${PENDING_DBG.BS}) === 0`,
    message: (c) =>
      `${bsGateReason(c)} with RFLAGS.TF=1 and IA32_DEBUGCTL.BTF=0 (${show(c, F.GUEST_IA32_DEBUGCTL)}): a single-step trap is pending, so BS (bit 14) of the pending debug exceptions must be 1, got ${show(c, F.GUEST_PENDING_DBG_EXCEPTIONS)}`,
  },
  {
    id: "guest.pending-dbg.bs-forbidden",
    sdm: SDM,
    cls: "guest",
    fields: [
      "GUEST_PENDING_DBG_EXCEPTIONS",
      "GUEST_RFLAGS",
      "GUEST_IA32_DEBUGCTL",
      "GUEST_INTERRUPTIBILITY_INFO",
      "GUEST_ACTIVITY_STATE",
    ],
    rule: "With STI/MOV-SS blocking or HLT, BS must be 0 if RFLAGS.TF = 0 or IA32_DEBUGCTL.BTF = 1",
    checklist: ["T22"],
    when: pred`${bsGate} && !${singleStepPending}`,
    fail: pred`(${PENDING_LO} & ${PENDING_DBG.BS}) !== 0`,
    message: (c) =>
      `${bsGateReason(c)} with RFLAGS.TF=${(rflags(c) >>> 8) & 1} and IA32_DEBUGCTL.BTF=${(c.lo(F.GUEST_IA32_DEBUGCTL) >>> 1) & 1}: no single-step trap is pending, so BS (bit 14) must be 0, got ${show(c, F.GUEST_PENDING_DBG_EXCEPTIONS)}`,
  },
  {
    // With RTM set, bits 11:0 and 15:13 must be 0 and bit 12 must be 1; bits 11:4, 13, 15 and 63:17 are already
    // covered by guest.pending-dbg.reserved, so this check names B3:0 and BS.
    id: "guest.pending-dbg.rtm-other-bits",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_PENDING_DBG_EXCEPTIONS"],
    rule: "With RTM (bit 16) set, B3:0 (bits 3:0) and BS (bit 14) must be 0",
    checklist: ["T23"],
    group: "pendingRtm",
    when: pred`${G.pendingRtm}`,
    fail: pred`(${PENDING_LO} & ${PENDING_DBG.B0_3 | PENDING_DBG.BS}) !== 0`,
    message: (c) =>
      `${show(c, F.GUEST_PENDING_DBG_EXCEPTIONS)}: with RTM (bit 16) set, bits 3:0 and 14 (BS) must be 0 — a pending RTM debug exception carries only bit 12 and bit 16`,
  },
  {
    id: "guest.pending-dbg.rtm-enabled-bp",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_PENDING_DBG_EXCEPTIONS"],
    rule: "With RTM (bit 16) set, bit 12 (enabled breakpoint) must be 1",
    checklist: ["T23"],
    group: "pendingRtm",
    when: pred`${G.pendingRtm}`,
    fail: pred`(${PENDING_LO} & ${PENDING_DBG.ENABLED_BP}) === 0`,
    message: (c) =>
      `${show(c, F.GUEST_PENDING_DBG_EXCEPTIONS)}: with RTM (bit 16) set, bit 12 (enabled breakpoint) must be 1`,
  },
  {
    id: "guest.pending-dbg.rtm-support",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_PENDING_DBG_EXCEPTIONS"],
    rule: "RTM (bit 16) requires RTM support (CPUID.(7,0):EBX[11])",
    checklist: ["T24"],
    group: "pendingRtm",
    when: pred`${G.pendingRtm}`,
    fail: pred`!c.caps.rtm`,
    message: (c) =>
      `${show(c, F.GUEST_PENDING_DBG_EXCEPTIONS)} sets RTM (bit 16) but the processor does not support RTM (no "rtm" flag, CPUID.(EAX=7,ECX=0):EBX[11] = 0); clear bit 16`,
  },
  {
    id: "guest.pending-dbg.rtm-mov-ss",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_PENDING_DBG_EXCEPTIONS", "GUEST_INTERRUPTIBILITY_INFO"],
    rule: "RTM (bit 16) requires no blocking by MOV SS",
    checklist: ["T25"],
    group: "pendingRtm",
    when: pred`${G.pendingRtm}`,
    fail: pred`${intrHas(INTR.MOV_SS)}`,
    message: (c) =>
      `${show(c, F.GUEST_PENDING_DBG_EXCEPTIONS)} sets RTM (bit 16) while GUEST_INTERRUPTIBILITY_INFO=${describeIntr(intr(c))} sets blocking by MOV SS; clear one of them`,
  },

  // ---- VMCS link pointer (exit qualification 4) ----
  {
    id: "guest.link-pointer.alignment",
    sdm: SDM,
    cls: "guest",
    fields: ["VMCS_LINK_POINTER"],
    rule: "A VMCS link pointer other than all ones must be 4-KByte aligned (bits 11:0 = 0)",
    checklist: ["T26"],
    qualification: 4,
    group: "linkValid",
    when: pred`${G.linkValid}`,
    fail: pred`${misaligned(LINK, 12)}`,
    message: (c) =>
      `${show(c, F.VMCS_LINK_POINTER)} is not 4-KByte aligned (bits 11:0 = 0x${(c.lo(F.VMCS_LINK_POINTER) & 0xfff).toString(16)}); use FFFFFFFF_FFFFFFFFH for no link or a page-aligned VMCS address`,
  },
  {
    id: "guest.link-pointer.phys-width",
    sdm: SDM,
    cls: "guest",
    fields: ["VMCS_LINK_POINTER"],
    rule: "A VMCS link pointer other than all ones must be within the physical-address width",
    checklist: ["T27"],
    qualification: 4,
    group: "linkValid",
    when: pred`${G.linkValid}`,
    fail: pred`${beyondPhys(LINK)}`,
    message: (c) =>
      `${show(c, F.VMCS_LINK_POINTER)} sets bits beyond the physical-address width: ${physLimit(c)}`,
  },
  {
    // Only checked when the pointer itself is well formed (the dword cannot be read otherwise).
    id: "guest.link-pointer.revision",
    sdm: SDM,
    cls: "guest",
    fields: ["VMCS_LINK_POINTER"],
    rule: "Bits 30:0 of the dword at the VMCS link pointer must be the VMCS revision identifier",
    checklist: ["T28"],
    qualification: 4,
    group: "linkValid",
    when: pred`${linkReadable}`,
    // Reads guest memory (the dword at the link pointer): stays a closure.
    fail: (c) => (linkDword(c) & ~SHADOW_INDICATOR) !== c.caps.revision,
    message: (c) =>
      `the VMCS at ${show(c, F.VMCS_LINK_POINTER)} starts with 0x${(linkDword(c) >>> 0).toString(16)}: revision identifier 0x${((linkDword(c) & ~SHADOW_INDICATOR) >>> 0).toString(16)}, but this processor uses 0x${c.caps.revision.toString(16)} (IA32_VMX_BASIC[30:0])`,
  },
  {
    id: "guest.link-pointer.shadow-indicator",
    sdm: SDM,
    cls: "guest",
    fields: ["VMCS_LINK_POINTER", "SECONDARY_VM_EXEC_CONTROL"],
    rule: 'Bit 31 of the dword at the VMCS link pointer must equal the "VMCS shadowing" control',
    checklist: ["T29"],
    qualification: 4,
    group: "linkValid",
    when: pred`${linkReadable}`,
    // Reads guest memory (the dword at the link pointer): stays a closure.
    fail: (c) => {
      const isShadow = (linkDword(c) & SHADOW_INDICATOR) !== 0;
      return isShadow !== shadowing(c);
    },
    message: (c) =>
      shadowing(c)
        ? `"VMCS shadowing" is 1 but the VMCS at ${show(c, F.VMCS_LINK_POINTER)} is not a shadow VMCS (dword 0x${(linkDword(c) >>> 0).toString(16)}, bit 31 = 0); set its shadow-VMCS indicator`
        : `"VMCS shadowing" is 0 but the VMCS at ${show(c, F.VMCS_LINK_POINTER)} is a shadow VMCS (dword 0x${(linkDword(c) >>> 0).toString(16)}, bit 31 = 1); clear the indicator or use FFFFFFFF_FFFFFFFFH`,
  },
  {
    // Outside SMM (or entering SMM) the link pointer must not name the current VMCS itself. The current-VMCS
    // pointer is not a VMCS field: it is checked only when the entry document gives processor.currentVmcsPointer.
    id: "guest.link-pointer.current-vmcs",
    sdm: SDM,
    cls: "guest",
    fields: ["VMCS_LINK_POINTER", "VM_ENTRY_CONTROLS"],
    rule: 'Outside SMM (or with "entry to SMM" = 1), the VMCS link pointer must differ from the current-VMCS pointer',
    checklist: ["T30"],
    qualification: 4,
    group: "linkValid",
    when: pred`${and(
      code`c.proc_.currentVmcsPointer !== undefined`,
      G.linkValid,
      code`!c.proc_.inSmm || ${entrySmm}`,
    )}`,
    fail: pred`${hi(LINK)} * ${0x100000000} + ${lo(LINK)} === c.proc_.currentVmcsPointer`,
    message: (c) =>
      `${show(c, F.VMCS_LINK_POINTER)} is the current VMCS itself (processor.currentVmcsPointer); the link pointer must name another VMCS or be FFFFFFFF_FFFFFFFFH`,
  },
  {
    // In SMM with "entry to SMM" = 0 (an STM returning from SMM) the current VMCS is the SMM VMCS; the link
    // pointer must then differ from the executive-VMCS pointer field.
    id: "guest.link-pointer.executive-vmcs",
    sdm: SDM,
    cls: "guest",
    fields: ["VMCS_LINK_POINTER", "EXECUTIVE_VMCS_POINTER", "VM_ENTRY_CONTROLS"],
    rule: 'In SMM with "entry to SMM" = 0, the VMCS link pointer must differ from the executive-VMCS pointer',
    checklist: ["T31"],
    qualification: 4,
    group: "linkValid",
    when: pred`${G.linkValid} && c.proc_.inSmm && !${entrySmm}`,
    fail: pred`${lo(LINK)} === ${lo(EXECUTIVE)} && ${hi(LINK)} === ${hi(EXECUTIVE)}`,
    message: (c) =>
      `${show(c, F.VMCS_LINK_POINTER)} equals the executive-VMCS pointer (${val(c, F.EXECUTIVE_VMCS_POINTER)}) on a VM entry that returns from SMM; the link pointer must name a different VMCS (or be FFFFFFFF_FFFFFFFFH)`,
  },
];
