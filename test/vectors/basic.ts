import type { VectorTables } from "../helpers.js";

/** SDM 29.1 basic checks. The VMCS is the valid base state, so only the basic check fails. */
/** One table per check module (src/checks/<module>.ts): the vectors of its checks. */
export const tables: VectorTables = {
  basic: [
    {
      id: "basic.vmx-operation",
      fail: { processor: { vmxRoot: false } },
      outcome: { type: "fault", exception: "#UD" },
    },
    { id: "basic.cpl", fail: { processor: { cpl: 3 } }, outcome: { type: "fault", exception: "#GP(0)" } },
    {
      id: "basic.current-vmcs",
      fail: { processor: { currentVmcsValid: false } },
      outcome: { type: "vmfail-invalid" },
    },
    {
      id: "basic.current-vmcs-not-shadow",
      fail: { processor: { currentVmcsShadow: true } },
      outcome: { type: "vmfail-invalid" },
    },
    {
      id: "basic.mov-ss-blocking",
      fail: { processor: { blockingByMovSs: true } },
      outcome: { type: "vmfail-valid", error: 26 },
    },
    {
      id: "basic.vmlaunch-launch-state",
      pass: { processor: { instruction: "vmlaunch", launchState: "clear" } },
      fail: { processor: { instruction: "vmlaunch", launchState: "launched" } },
      outcome: { type: "vmfail-valid", error: 4 },
    },
    {
      id: "basic.vmresume-launch-state",
      pass: { processor: { instruction: "vmresume", launchState: "launched" } },
      fail: { processor: { instruction: "vmresume", launchState: "clear" } },
      outcome: { type: "vmfail-valid", error: 5 },
    },
  ],
};
