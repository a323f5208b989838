/**
 * SDM 34.15.4 "VM Entries that Return from SMM": under the dual-monitor treatment of SMIs and SMM, the
 * SMM-transfer monitor returns with a VM entry executed in SMM with "entry to SMM" = 0. Such entries check the
 * executive-VMCS pointer (VMfailValid 16, before any other check of 29.2), the launch state of the executive VMCS
 * (17), the "deactivate dual-monitor treatment" rule (18), and — when the executive-VMCS pointer is the VMXON
 * pointer, i.e. the entry stays in VMX root operation — restrict event injection (7) and the activity state
 * (exit 33).
 *
 * Processor state used (interface extension, docs/deviations.md): `processor.vmxonPointer` and
 * `processor.executiveVmcsLaunchState`; the executive VMCS's revision identifier is read from `memory`.
 *
 * Not modelled here: the VM-execution-control checks run on the executive VMCS with error 25 (34.15.4.2; the
 * executive VMCS's contents are not part of the input) and the guest-state checks "as if all VM-execution
 * controls were 0" when the executive-VMCS pointer is the VMXON pointer (34.15.4.4 ff.).
 */
import * as archControls from "../arch/controls.js";
import * as archRegisters from "../arch/registers.js";
import { hex as h } from "../util/u64.js";
import { decoders } from "./compile.js";
import * as groups from "./groups.js";
import { section } from "./rule.js";
import type { State } from "./state.js";
import * as util from "./util.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves predicates' names in this module (compile.ts).
const scope = (name: string): unknown => eval(name);

// Short local names for the imported tables and helpers.
const { ENTRY } = archControls;
const { ACTIVITY, EVENT_TYPE } = archRegisters;
const { eventValid } = groups.G;
const { beyondPhys, describeEvent, eventType, eventVector, misaligned, physLimit, show } = util;

// SDM 34.15.4.1: on an SMM return the executive-VMCS checks come before all other checks of 29.2.
const { rule, checks } = section({
  scope,
  sdm: "34.15.4",
  title: "VM entries that return from SMM (dual-monitor treatment)",
  cls: "control",
  orderAs: "29.2",
});

const { execPtr, toRoot, execPtrValid } = decoders(scope, {
  /** The executive-VMCS pointer as a physical address (memory.ts `Memory.addr`). */
  execPtr: (s: State) => s.hi.EXECUTIVE_VMCS_POINTER * 4294967296 + s.EXECUTIVE_VMCS_POINTER,
  /** The executive-VMCS pointer is the VMXON pointer: the entry remains in VMX root operation. */
  toRoot: (s: State) => execPtr(s) === (s.cpu.vmxonPointer ?? 0),
  /** The executive-VMCS pointer is 4-KByte aligned and within the physical-address width. */
  execPtrValid: (s: State) =>
    !misaligned(s.EXECUTIVE_VMCS_POINTER, 12) &&
    !beyondPhys(s, s.EXECUTIVE_VMCS_POINTER, s.hi.EXECUTIVE_VMCS_POINTER),
});

const vmxonPtr = (s: State): number => s.cpu.vmxonPointer ?? 0;
const EXEC = "EXECUTIVE_VMCS_POINTER";

export default checks([
  rule({
    id: "smm.executive-vmcs-ptr-aligned",
    sdm: "34.15.4.1",
    rule: "On a VM entry that returns from SMM, bits 11:0 of the executive-VMCS pointer must be 0 (VMfailValid 16)",
    checklist: ["SM1"],
    group: "smmReturn",
    fail: (s) => s.EXECUTIVE_VMCS_POINTER & 0xfff,
    message: (s, low) =>
      `${show(s, EXEC)} is not 4-KByte aligned (bits 11:0 = ${h(low)}): VMfailValid, error 16 (invalid executive-VMCS pointer)`,
    error: 16,
  }),
  rule({
    id: "smm.executive-vmcs-ptr-width",
    sdm: "34.15.4.1",
    rule: "On a VM entry that returns from SMM, the executive-VMCS pointer must not set bits beyond the physical-address width (VMfailValid 16)",
    checklist: ["SM1"],
    group: "smmReturn",
    fail: (s) => beyondPhys(s, s.EXECUTIVE_VMCS_POINTER, s.hi.EXECUTIVE_VMCS_POINTER),
    message: (s) =>
      `${show(s, EXEC)} sets bits beyond the physical-address width (${physLimit(s)}): VMfailValid, error 16 (invalid executive-VMCS pointer)`,
    error: 16,
  }),
  rule({
    id: "smm.executive-vmcs-revision",
    sdm: "34.15.4.1",
    rule: "On a VM entry that returns from SMM, the 32 bits at the executive-VMCS pointer must be the VMCS revision identifier (VMfailValid 16)",
    checklist: ["SM1"],
    group: "smmReturn",
    // Read only through a well-formed pointer; a malformed one is reported by the two checks above.
    when: (s) => execPtrValid(s),
    fail: (s) => s.mem.read32(execPtr(s)) !== s.caps.revision,
    message: (s) =>
      `memory at ${show(s, EXEC)} holds ${h(s.mem.read32(execPtr(s)))}, not the VMCS revision identifier ${h(s.caps.revision)}${s.mem.read32(execPtr(s)) >>> 31 ? " (bit 31, the shadow-VMCS indicator, is set)" : ""}: VMfailValid, error 16 (invalid executive-VMCS pointer)`,
    error: 16,
  }),
  rule({
    id: "smm.executive-vmcs-launched",
    sdm: "34.15.4.1",
    rule: 'On a VM entry that returns from SMM with "deactivate dual-monitor treatment" = 0 into VMX non-root operation, the executive VMCS must be launched (VMfailValid 17)',
    checklist: ["SM2"],
    group: "smmReturn",
    when: (s) => (s.entry & ENTRY.DEACT_DUAL_MONITOR) === 0 && execPtrValid(s),
    fail: (s) => !toRoot(s) && s.cpu.executiveVmcsLaunchState === "clear",
    message: (s) =>
      `the executive VMCS at ${show(s, EXEC)} (not the VMXON pointer ${h(vmxonPtr(s))}) has launch state clear (processor.executiveVmcsLaunchState): VMfailValid, error 17 (VM entry with non-launched executive VMCS)`,
    error: 17,
  }),
  rule({
    id: "smm.deactivate-needs-vmxon-ptr",
    sdm: "34.15.4.1",
    rule: 'On a VM entry that returns from SMM with "deactivate dual-monitor treatment" = 1, the executive-VMCS pointer must be the VMXON pointer (VMfailValid 18)',
    checklist: ["SM3"],
    group: "smmReturn",
    when: (s) => (s.entry & ENTRY.DEACT_DUAL_MONITOR) !== 0 && execPtrValid(s),
    fail: (s) => !toRoot(s),
    message: (s) =>
      `"deactivate dual-monitor treatment" is 1 but ${show(s, EXEC)} is not the VMXON pointer ${h(vmxonPtr(s))} (processor.vmxonPointer): VMfailValid, error 18 (executive-VMCS pointer not VMXON pointer)`,
    error: 18,
  }),
  rule({
    id: "smm.root-return-event",
    sdm: "34.15.4.3",
    rule: "On a VM entry that returns from SMM to VMX root operation (executive-VMCS pointer = VMXON pointer), the only injectable event is other event with vector 0 (pending MTF VM exit)",
    checklist: ["SM5"],
    group: "smmReturn",
    when: (s) => eventValid(s),
    fail: (s) => toRoot(s) && (eventType(s) !== EVENT_TYPE.OTHER || eventVector(s) !== 0),
    message: (s) =>
      `VM_ENTRY_INTR_INFO_FIELD=${describeEvent(s.VM_ENTRY_INTR_INFO_FIELD)} but the entry stays in VMX root operation (${show(s, EXEC)} is the VMXON pointer); inject nothing or only type 7 vector 0 (pending MTF VM exit)`,
  }),
  rule({
    id: "smm.root-return-not-wait-for-sipi",
    sdm: "34.15.4.4",
    cls: "guest",
    rule: "On a VM entry that returns from SMM to VMX root operation, the activity state must not be wait-for-SIPI",
    checklist: ["SM6"],
    group: "smmReturn",
    fail: (s) => toRoot(s) && s.GUEST_ACTIVITY_STATE === ACTIVITY.WAIT_FOR_SIPI,
    message: (s) =>
      `GUEST_ACTIVITY_STATE=3 (wait-for-SIPI) while the entry stays in VMX root operation (${show(s, EXEC)} is the VMXON pointer); use active (0) or HLT (1)`,
  }),
]);
