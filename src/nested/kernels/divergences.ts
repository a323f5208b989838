/**
 * Behaviours of KVM's vmcs02 construction that every release read shares (each preset passes its own
 * sources, so every divergence cites the release it is attached for). Release-specific ones are in the
 * preset modules.
 */
import type { Divergence, KernelId, MergeSpec } from "../kernel.js";

/** Stable ids of the merge divergences; the merge (src/nested/merge.ts) attaches them by id. */
export type MergeDivergenceId =
  | "activity-state-not-copied"
  | "debug-controls-from-l1"
  | "debugctl-masked"
  | "dr7-refused"
  | "cr0-cr4-forced-bits"
  | "efer-computed"
  | "tsc-multiplier-needs-offsetting"
  | "perf-global-ctrl-by-l0"
  | "exit-controls-by-l0"
  | "controls-added-by-l0"
  | "l0-owned-fields"
  | "apic-access-unmapped"
  | "virtual-apic-unmapped"
  | "pi-desc-unmapped"
  | "late-vmfail-is-7"
  | "msr-loads-before-guest-checks"
  | "dry-run-stale-vmcs02"
  | "dry-run-irq-before-dr7";

/** The divergences of the vmcs02 merge every release has, cited from the preset's own sources. */
export function mergeDivergences(kernel: KernelId, merge: MergeSpec): Divergence[] {
  const s = merge.sources;
  const d = (id: MergeDivergenceId, behaviour: string, source = s["guest-state"]): Divergence => ({
    kernel,
    id,
    behaviour,
    source,
  });
  return [
    d(
      "activity-state-not-copied",
      "vmcs12's guest activity state is never written to vmcs02: KVM enters L2 active and emulates HLT and wait-for-SIPI itself, so the processor never checks the activity-state rules on vmcs12's value",
      s["activity-state"],
    ),
    d(
      "debug-controls-from-l1",
      "when vmcs12 does not load debug controls, vmcs02 keeps L1's own DR7 and IA32_DEBUGCTL, so the processor checks rules that read them (e.g. pending debug exceptions vs DEBUGCTL.BTF) on values vmcs12 never held",
      s["debug-controls"],
    ),
    d(
      "cr0-cr4-forced-bits",
      "vmcs02's CR0 has NE set and CD/NW cleared, and its CR4 has VMXE set and MCE taken from L0, whatever vmcs12 holds",
      s["cr0-cr4"],
    ),
    d(
      "efer-computed",
      "vmcs02's IA32_EFER is computed: vmcs12's when it loads EFER, otherwise L1's with LMA and LME set from the IA-32e mode guest control; LME is cleared when LMA is 0, and the load-EFER controls follow whether the value differs from L0's",
      s.efer,
    ),
    d(
      "perf-global-ctrl-by-l0",
      "vmcs12's load IA32_PERF_GLOBAL_CTRL control never reaches vmcs02: KVM writes the value through its PMU emulation and the processor sees L0's setting",
      s["early-controls"],
    ),
    d(
      "controls-added-by-l0",
      "vmcs02's pin-based, processor-based, secondary and VM-entry controls are L0's OR vmcs12's: bits L0 needs for itself (external-interrupt and NMI exiting, virtual NMIs, HLT and I/O exiting, load debug controls...) are set even where vmcs12 clears them, so the processor applies rules they gate (e.g. no blocking by NMI when injecting an NMI with virtual NMIs) to a vmcs12 that did not ask for them",
      s["early-controls"],
    ),
    d(
      "exit-controls-by-l0",
      "vmcs02's VM-exit controls are L0's; vmcs12's are emulated, so the processor never checks them",
      s["early-controls"],
    ),
    d(
      "l0-owned-fields",
      "vmcs02 holds L0's values for the VPID, EPT pointer, VMCS link pointer, MSR and I/O bitmaps, MSR-load/store lists, PML, VM functions and the posted-interrupt vector (0xf0), so the processor never sees vmcs12's",
      s["constant-state"],
    ),
    d(
      "virtual-apic-unmapped",
      merge.virtualApicUnmappedClearsTprShadow
        ? "a virtual-APIC page KVM cannot map: TPR shadow is cleared in vmcs02 when CR8-load and CR8-store exiting make it unused, otherwise vmcs02 gets an all-ones address so that the processor fails the entry"
        : "a virtual-APIC page KVM cannot map: vmcs02 keeps an all-ones address so that the processor fails the entry",
      s.pages,
    ),
    d(
      "late-vmfail-is-7",
      "a VMfail of the real VM entry is reported to L1 as VMfail(7) whatever the processor's error, after KVM unwinds what it had already done",
      s["late-vmfail"],
    ),
    d(
      "msr-loads-before-guest-checks",
      "KVM processes vmcs12's VM-entry MSR-load list before the processor checks the guest state it left to hardware, so MSRs are loaded for an entry that then fails with exit 33",
      s["msr-load-order"],
    ),
  ];
}
