/**
 * SDM 29.1 "Basic VM-Entry Checks" and the VMLAUNCH/VMRESUME operation (Vol. 3 33.3): performed first and in
 * this order; the first failure decides the outcome and no VMCS field is examined.
 */
import { pred } from "./pred.js";
import type { Check } from "./types.js";

export const basicChecks: readonly Check[] = [
  {
    id: "basic.vmx-operation",
    sdm: "29.1",
    cls: "basic",
    fields: [],
    rule: "VMLAUNCH/VMRESUME outside VMX root operation raise #UD",
    checklist: ["B1"],
    fail: pred`!c.proc_.vmxRoot`,
    message: () =>
      "the processor is not in VMX root operation (processor.vmxRoot is false): the instruction raises #UD",
    outcome: { type: "fault", exception: "#UD" },
  },
  {
    id: "basic.cpl",
    sdm: "29.1",
    cls: "basic",
    fields: [],
    rule: "VMLAUNCH/VMRESUME at CPL > 0 raise #GP(0)",
    checklist: ["B3"],
    fail: pred`c.proc_.cpl !== 0`,
    message: (c) => `CPL is ${c.proc_.cpl}; VMLAUNCH/VMRESUME require CPL 0 and raise #GP(0) otherwise`,
    outcome: { type: "fault", exception: "#GP(0)" },
  },
  {
    id: "basic.current-vmcs",
    sdm: "29.1",
    cls: "basic",
    fields: [],
    rule: "there must be a current VMCS (current-VMCS pointer valid), else VMfailInvalid",
    checklist: ["B4"],
    fail: pred`!c.proc_.currentVmcsValid`,
    message: () => "there is no current VMCS (the current-VMCS pointer is FFFFFFFF_FFFFFFFFH): VMfailInvalid",
    outcome: { type: "vmfail-invalid" },
  },
  {
    id: "basic.current-vmcs-not-shadow",
    sdm: "29.1",
    cls: "basic",
    fields: [],
    rule: "the current VMCS must not be a shadow VMCS, else VMfailInvalid",
    checklist: ["B5"],
    fail: pred`c.proc_.currentVmcsShadow`,
    message: () => "the current VMCS is a shadow VMCS (shadow-VMCS indicator set): VMfailInvalid",
    outcome: { type: "vmfail-invalid" },
  },
  {
    id: "basic.mov-ss-blocking",
    sdm: "29.1",
    cls: "basic",
    fields: [],
    rule: "events must not be blocked by MOV SS, else VMfailValid(26)",
    checklist: ["B6"],
    fail: pred`c.proc_.blockingByMovSs`,
    message: () =>
      "the instruction follows MOV SS/POP SS (blocking by MOV SS is in effect): VMfailValid, error 26 (VM entry with events blocked by MOV SS)",
    outcome: { type: "vmfail-valid", error: 26 },
  },
  {
    id: "basic.vmlaunch-launch-state",
    sdm: "29.1",
    cls: "basic",
    fields: [],
    rule: "VMLAUNCH requires the VMCS launch state to be clear, else VMfailValid(4)",
    checklist: ["B7"],
    fail: pred`c.proc_.instruction === "vmlaunch" && c.proc_.launchState !== "clear"`,
    message: () =>
      "VMLAUNCH with a VMCS whose launch state is launched: VMfailValid, error 4 (VMLAUNCH with non-clear VMCS); use VMRESUME or VMCLEAR first",
    outcome: { type: "vmfail-valid", error: 4 },
  },
  {
    id: "basic.vmresume-launch-state",
    sdm: "29.1",
    cls: "basic",
    fields: [],
    rule: "VMRESUME requires the VMCS launch state to be launched, else VMfailValid(5)",
    checklist: ["B8"],
    fail: pred`c.proc_.instruction === "vmresume" && c.proc_.launchState !== "launched"`,
    message: () =>
      "VMRESUME with a VMCS whose launch state is clear: VMfailValid, error 5 (VMRESUME with non-launched VMCS); use VMLAUNCH",
    outcome: { type: "vmfail-valid", error: 5 },
  },
];
