/** State of the logical processor executing VMLAUNCH/VMRESUME (interface.md §1 `processor`). */
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
}

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
});
