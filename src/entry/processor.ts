/** State of the logical processor executing VMLAUNCH/VMRESUME (docs/contract.md §1 `processor`). */
export interface ProcessorState {
  instruction: "vmlaunch" | "vmresume";
  launchState: "clear" | "launched";
  /** Processor in IA-32e mode when executing the instruction (decides the host address-space checks, SDM 29.2.4). */
  ia32e: boolean;
  cpl: number;
  vmxRoot: boolean;
  currentVmcsValid: boolean;
  inSmm: boolean;
  blockingByMovSs: boolean;
  dualMonitorActive: boolean;
  /** Extension: the current VMCS is a shadow VMCS (revision dword bit 31 set, SDM 29.1). */
  currentVmcsShadow: boolean;
  /**
   * Extension: physical address of the VMXON region (the VMXON pointer). Used only by VM entries that return
   * from SMM under the dual-monitor treatment (SDM 34.15.4), which compare the executive-VMCS pointer with it.
   */
  vmxonPointer?: number;
  /**
   * Extension: physical address of the current VMCS (the current-VMCS pointer). Optional: when given, VM entry
   * checks that the VMCS link pointer differs from it (SDM 29.3.1.5).
   */
  currentVmcsPointer?: number;
  /** Extension: launch state of the executive VMCS (SDM 34.15.4.1; only for VM entries that return from SMM). */
  executiveVmcsLaunchState?: "clear" | "launched";
}

/** The processor state of a document that gives none: CPL 0 in VMX root operation, a clear current VMCS, VMLAUNCH. */
export const DEFAULT_PROCESSOR: Readonly<ProcessorState> = Object.freeze({
  instruction: "vmlaunch",
  launchState: "clear",
  ia32e: true,
  cpl: 0,
  vmxRoot: true,
  currentVmcsValid: true,
  inSmm: false,
  blockingByMovSs: false,
  dualMonitorActive: false,
  currentVmcsShadow: false,
  vmxonPointer: 0,
  executiveVmcsLaunchState: "launched",
});
