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
import * as archFields from "../arch/fields.js";
import * as archRegisters from "../arch/registers.js";
import { hex as h } from "../util/u64.js";
import * as memoryModule from "../vmcs/memory.js";
import * as entryControls from "./entry-controls.js";
import * as groups from "./groups.js";
import { beyondPhys, type Code, code, hi, lo, misaligned, pred } from "./pred.js";
import type { Check, Ctx } from "./types.js";
import * as util from "./util.js";

// Short local names for the imported tables and helpers.
const { ENTRY } = archControls;
const { F } = archFields;
const { ACTIVITY, EVENT_TYPE } = archRegisters;
const { Memory } = memoryModule;
const { describeEvent } = entryControls;
const { EVENT_TYPE: eventTypeCode, EVENT_VECTOR: eventVectorCode } = util;
const { G } = groups;
const { physLimit, show } = util;

const EXEC = F.EXECUTIVE_VMCS_POINTER!;
const INFO = F.VM_ENTRY_INTR_INFO_FIELD!;
const ACT = F.GUEST_ACTIVITY_STATE!;

const execPtr = (c: Ctx): number => Memory.addr(c.lo(EXEC), c.hi(EXEC));
const vmxonPtr = (c: Ctx): number => c.proc_.vmxonPointer ?? 0;
/**
 * The executive-VMCS pointer is the VMXON pointer: the entry remains in VMX root operation. Predicate source
 * for `execPtr(c) === vmxonPtr(c)` (the address as memory.ts `Memory.addr` forms it).
 */
const toRoot: Code = code`${hi(EXEC)} * 4294967296 + (${lo(EXEC)} >>> 0) === (c.proc_.vmxonPointer ?? 0)`;
/** The executive-VMCS pointer is 4-KByte aligned and within the physical-address width. */
const execPtrValid: Code = code`!${misaligned(EXEC, 12)} && !${beyondPhys(EXEC)}`;
const execPtrValidFn = pred`${execPtrValid}`;
const SMM_RETURN = pred`${G.smmReturn}`;

export const smmChecks: readonly Check[] = [
  {
    id: "smm.executive-vmcs-ptr-aligned",
    sdm: "34.15.4.1",
    cls: "control",
    fields: ["EXECUTIVE_VMCS_POINTER"],
    rule: "On a VM entry that returns from SMM, bits 11:0 of the executive-VMCS pointer must be 0 (VMfailValid 16)",
    checklist: ["SM1"],
    group: "smmReturn",
    when: SMM_RETURN,
    fail: pred`${misaligned(EXEC, 12)}`,
    message: (c) =>
      `${show(c, EXEC)} is not 4-KByte aligned (bits 11:0 = ${h(c.lo(EXEC) & 0xfff)}): VMfailValid, error 16 (invalid executive-VMCS pointer)`,
    error: 16,
  },
  {
    id: "smm.executive-vmcs-ptr-width",
    sdm: "34.15.4.1",
    cls: "control",
    fields: ["EXECUTIVE_VMCS_POINTER"],
    rule: "On a VM entry that returns from SMM, the executive-VMCS pointer must not set bits beyond the physical-address width (VMfailValid 16)",
    checklist: ["SM1"],
    group: "smmReturn",
    when: SMM_RETURN,
    fail: pred`${beyondPhys(EXEC)}`,
    message: (c) =>
      `${show(c, EXEC)} sets bits beyond the physical-address width (${physLimit(c)}): VMfailValid, error 16 (invalid executive-VMCS pointer)`,
    error: 16,
  },
  {
    id: "smm.executive-vmcs-revision",
    sdm: "34.15.4.1",
    cls: "control",
    fields: ["EXECUTIVE_VMCS_POINTER"],
    rule: "On a VM entry that returns from SMM, the 32 bits at the executive-VMCS pointer must be the VMCS revision identifier (VMfailValid 16)",
    checklist: ["SM1"],
    group: "smmReturn",
    when: SMM_RETURN,
    // Read only through a well-formed pointer; a malformed one is reported by the two checks above. A closure:
    // it reads memory (c.mem), which predicate source cannot.
    fail: (c) => execPtrValidFn(c) && c.mem.read32(execPtr(c)) !== c.caps.revision,
    message: (c) =>
      `memory at ${show(c, EXEC)} holds ${h(c.mem.read32(execPtr(c)))}, not the VMCS revision identifier ${h(c.caps.revision)}${c.mem.read32(execPtr(c)) >>> 31 ? " (bit 31, the shadow-VMCS indicator, is set)" : ""}: VMfailValid, error 16 (invalid executive-VMCS pointer)`,
    error: 16,
  },
  {
    id: "smm.executive-vmcs-launched",
    sdm: "34.15.4.1",
    cls: "control",
    fields: ["EXECUTIVE_VMCS_POINTER", "VM_ENTRY_CONTROLS"],
    rule: 'On a VM entry that returns from SMM with "deactivate dual-monitor treatment" = 0 into VMX non-root operation, the executive VMCS must be launched (VMfailValid 17)',
    checklist: ["SM2"],
    group: "smmReturn",
    when: pred`${G.smmReturn} && (c.entry & ${ENTRY.DEACT_DUAL_MONITOR}) === 0 && ${execPtrValid}`,
    fail: pred`!${toRoot} && c.proc_.executiveVmcsLaunchState === "clear"`,
    message: (c) =>
      `the executive VMCS at ${show(c, EXEC)} (not the VMXON pointer ${h(vmxonPtr(c))}) has launch state clear (processor.executiveVmcsLaunchState): VMfailValid, error 17 (VM entry with non-launched executive VMCS)`,
    error: 17,
  },
  {
    id: "smm.deactivate-needs-vmxon-ptr",
    sdm: "34.15.4.1",
    cls: "control",
    fields: ["EXECUTIVE_VMCS_POINTER", "VM_ENTRY_CONTROLS"],
    rule: 'On a VM entry that returns from SMM with "deactivate dual-monitor treatment" = 1, the executive-VMCS pointer must be the VMXON pointer (VMfailValid 18)',
    checklist: ["SM3"],
    group: "smmReturn",
    when: pred`${G.smmReturn} && (c.entry & ${ENTRY.DEACT_DUAL_MONITOR}) !== 0 && ${execPtrValid}`,
    fail: pred`!${toRoot}`,
    message: (c) =>
      `"deactivate dual-monitor treatment" is 1 but ${show(c, EXEC)} is not the VMXON pointer ${h(vmxonPtr(c))} (processor.vmxonPointer): VMfailValid, error 18 (executive-VMCS pointer not VMXON pointer)`,
    error: 18,
  },
  {
    id: "smm.root-return-event",
    sdm: "34.15.4.3",
    cls: "control",
    fields: ["EXECUTIVE_VMCS_POINTER", "VM_ENTRY_INTR_INFO_FIELD"],
    rule: "On a VM entry that returns from SMM to VMX root operation (executive-VMCS pointer = VMXON pointer), the only injectable event is other event with vector 0 (pending MTF VM exit)",
    checklist: ["SM5"],
    group: "smmReturn",
    when: pred`${G.smmReturn} && ${G.eventValid}`,
    fail: pred`${toRoot} && (${eventTypeCode} !== ${EVENT_TYPE.OTHER} || ${eventVectorCode} !== 0)`,
    message: (c) =>
      `VM_ENTRY_INTR_INFO_FIELD=${describeEvent(c.lo(INFO))} but the entry stays in VMX root operation (${show(c, EXEC)} is the VMXON pointer); inject nothing or only type 7 vector 0 (pending MTF VM exit)`,
  },
  {
    id: "smm.root-return-not-wait-for-sipi",
    sdm: "34.15.4.4",
    cls: "guest",
    fields: ["EXECUTIVE_VMCS_POINTER", "GUEST_ACTIVITY_STATE"],
    rule: "On a VM entry that returns from SMM to VMX root operation, the activity state must not be wait-for-SIPI",
    checklist: ["SM6"],
    group: "smmReturn",
    when: SMM_RETURN,
    fail: pred`${toRoot} && ${lo(ACT)} === ${ACTIVITY.WAIT_FOR_SIPI}`,
    message: (c) =>
      `GUEST_ACTIVITY_STATE=3 (wait-for-SIPI) while the entry stays in VMX root operation (${show(c, EXEC)} is the VMXON pointer); use active (0) or HLT (1)`,
  },
];
