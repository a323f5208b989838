/**
 * Control bits that every kernel preset's `nested_vmx_setup_ctls_msrs` names the same way (SDM Appendix A
 * for the bit positions; the lists themselves are cited by each preset's `l1.source`).
 */
import { PROC, PROC2 } from "../../arch/controls.js";
import { EPT_CAP } from "../../arch/msrs.js";
import { DEBUGCTL } from "../../arch/registers.js";
import type { L1Spec } from "../kernel.js";

/** The default1 class of each control word (SDM A.2): reserved bits reported as 1 without the TRUE_ MSRs. */
export const ALWAYS_ON = {
  pin: 0x16,
  proc: 0x0401e172,
  exit: 0x00036dff,
  entry: 0x000011ff,
} as const;

/** Primary processor-based controls KVM passes through to L1 when the host has them (every release read). */
export const KVM_PROC_FROM_HOST =
  PROC.INTR_WINDOW |
  PROC.NMI_WINDOW |
  PROC.TSC_OFFSETTING |
  PROC.HLT |
  (1 << 9) | // INVLPG exiting
  (1 << 10) | // MWAIT exiting
  (1 << 15) | // CR3-load exiting
  (1 << 16) | // CR3-store exiting
  PROC.CR8_LOAD |
  PROC.CR8_STORE |
  (1 << 23) | // MOV-DR exiting
  (1 << 24) | // unconditional I/O exiting
  PROC.USE_IO_BITMAPS |
  PROC.MTF |
  (1 << 29) | // MONITOR exiting
  (1 << 11) | // RDPMC exiting
  (1 << 12) | // RDTSC exiting
  (1 << 30) | // PAUSE exiting
  PROC.TPR_SHADOW |
  PROC.SECONDARY;

/** Secondary controls v6.x passes through from the host (its list in nested_vmx_setup_secondary_ctls). */
export const KVM_PROC2_FROM_HOST =
  PROC2.DESC_EXITING |
  (1 << 3) | // enable RDTSCP
  PROC2.VIRT_X2APIC |
  (1 << 6) | // WBINVD exiting
  PROC2.APIC_REGISTER_VIRT |
  PROC2.VID |
  (1 << 11) | // RDRAND exiting
  (1 << 12) | // enable INVPCID
  PROC2.VMFUNC |
  (1 << 16) | // RDSEED exiting
  (1 << 20) | // enable XSAVES/XRSTORS
  PROC2.TSC_SCALING |
  (1 << 26); // enable user wait and pause

/** EPT capabilities KVM offers whatever the host's (it emulates the extents and large pages). */
export const KVM_EPT_ALWAYS =
  (1 << 25) | // INVEPT single-context
  (1 << 26) | // INVEPT all-context
  EPT_CAP.PDE_2M |
  EPT_CAP.PDPTE_1G;

/** INVVPID and its four extent types (IA32_VMX_EPT_VPID_CAP bits 32 and 40–43), as the high half. */
export const VPID_CAPS_HI = (1 << 0) | (0xf << 8);

/**
 * The IA32_DEBUGCTL bits a release's KVM virtualizes for L1, beyond BTF and LBR (which it accepts and drops):
 * bus-lock detect and RTM debug (`L1Spec.debugctl`), each where the host's IA32_DEBUGCTL has it (`hostValid`:
 * the host profile's valid bits, which follow CPUID.(7,0):ECX[24] and EBX[11]).
 */
export function supportedDebugctl(
  d: Pick<L1Spec["debugctl"], "busLockDetect" | "rtmDebug">,
  hostValid: number,
): number {
  return (
    ((d.busLockDetect ? DEBUGCTL.BUS_LOCK_DETECT : 0) | (d.rtmDebug ? DEBUGCTL.RTM_DEBUG : 0)) & hostValid
  );
}
