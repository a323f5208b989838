/**
 * SDM 29.1 "Basic VM-Entry Checks" and the VMLAUNCH/VMRESUME operation (Vol. 3 33.3): performed first and in
 * this order; the first failure decides the outcome and no VMCS field is examined.
 */
import { section } from "./rule.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves predicates' names in this module (compile.ts).
const scope = (name: string): unknown => eval(name);

const { rule, checks } = section({ scope, sdm: "29.1", title: "Basic VM-entry checks", cls: "basic" });

const basic = checks([
  rule({
    id: "basic.vmx-operation",
    rule: "VMLAUNCH/VMRESUME outside VMX root operation raise #UD",
    checklist: ["B1"],
    fail: (s) => !s.cpu.vmxRoot,
    message: () =>
      "the processor is not in VMX root operation (processor.vmxRoot is false): the instruction raises #UD",
    outcome: { type: "fault", exception: "#UD" },
  }),
  rule({
    id: "basic.cpl",
    rule: "VMLAUNCH/VMRESUME at CPL > 0 raise #GP(0)",
    checklist: ["B3"],
    fail: (s) => s.cpu.cpl !== 0,
    message: (s) => `CPL is ${s.cpu.cpl}; VMLAUNCH/VMRESUME require CPL 0 and raise #GP(0) otherwise`,
    outcome: { type: "fault", exception: "#GP(0)" },
  }),
  rule({
    id: "basic.current-vmcs",
    rule: "there must be a current VMCS (current-VMCS pointer valid), else VMfailInvalid",
    checklist: ["B4"],
    fail: (s) => !s.cpu.currentVmcsValid,
    message: () => "there is no current VMCS (the current-VMCS pointer is FFFFFFFF_FFFFFFFFH): VMfailInvalid",
    outcome: { type: "vmfail-invalid" },
  }),
  rule({
    id: "basic.current-vmcs-not-shadow",
    rule: "the current VMCS must not be a shadow VMCS, else VMfailInvalid",
    checklist: ["B5"],
    fail: (s) => s.cpu.currentVmcsShadow,
    message: () => "the current VMCS is a shadow VMCS (shadow-VMCS indicator set): VMfailInvalid",
    outcome: { type: "vmfail-invalid" },
  }),
  rule({
    id: "basic.mov-ss-blocking",
    rule: "events must not be blocked by MOV SS, else VMfailValid(26)",
    checklist: ["B6"],
    fail: (s) => s.cpu.blockingByMovSs,
    message: () =>
      "the instruction follows MOV SS/POP SS (blocking by MOV SS is in effect): VMfailValid, error 26 (VM entry with events blocked by MOV SS)",
    outcome: { type: "vmfail-valid", error: 26 },
  }),
  rule({
    id: "basic.vmlaunch-launch-state",
    rule: "VMLAUNCH requires the VMCS launch state to be clear, else VMfailValid(4)",
    checklist: ["B7"],
    fail: (s) => s.cpu.instruction === "vmlaunch" && s.cpu.launchState !== "clear",
    message: () =>
      "VMLAUNCH with a VMCS whose launch state is launched: VMfailValid, error 4 (VMLAUNCH with non-clear VMCS); use VMRESUME or VMCLEAR first",
    outcome: { type: "vmfail-valid", error: 4 },
  }),
  rule({
    id: "basic.vmresume-launch-state",
    rule: "VMRESUME requires the VMCS launch state to be launched, else VMfailValid(5)",
    checklist: ["B8"],
    fail: (s) => s.cpu.instruction === "vmresume" && s.cpu.launchState !== "launched",
    message: () =>
      "VMRESUME with a VMCS whose launch state is clear: VMfailValid, error 5 (VMRESUME with non-launched VMCS); use VMLAUNCH",
    outcome: { type: "vmfail-valid", error: 5 },
  }),
]);

export default basic;

/** The basic checks alone (the nested model runs them on vmcs12 first). */
export const basicChecks = basic.checks;
