/**
 * Configuration of the nested VM-entry model: the `early_consistency_checks` parameter, L0's software
 * checks, the modelled host CPU, L0 bugs to inject, and the cost model.
 */

/** 1: always do the hardware dry run; 0: never; -1: auto (bare metal only, and only when software checks are incomplete). */
export type EarlyChecks = 1 | 0 | -1;

/** L0 mistakes the model can inject, to show how each is detected. */
export type L0Bug =
  /** prepare_vmcs02 writes a wrong HOST_CR4 (VMXE clear) into vmcs02 after the dry run */
  | "late-host-cr4"
  /** the dry run's VM exit loads DR7=0x400; L0 forgets to restore its own DR7 */
  | "skip-dr7-restore"
  /** L0 re-enables interrupts before restoring DR7 (a breakpoint could fire with L0's DR7 lost) */
  | "irq-before-dr7"
  /** the dry run's VM exit clears RFLAGS.IF; L0 forgets to re-enable interrupts */
  | "skip-irq-enable";

export const L0_BUGS: readonly L0Bug[] = [
  "late-host-cr4",
  "skip-dr7-restore",
  "irq-before-dr7",
  "skip-irq-enable",
];

/**
 * Cost model, in CPU cycles. Defaults and where they come from (docs/nested.md):
 * - roundTrip: one hardware VM entry + VM exit, ~1,600 cycles on a 2014 server core (issue 6 brief).
 * - dryRunExtra: the dry run's own bookkeeping beyond the round trip (switch-to-guest preparation, DR7
 *   and IRQ restore, preempt disable/enable): assumed 150.
 * - nestedEntryBase: everything else L0 does for one emulated VMLAUNCH/VMRESUME; chosen so that the dry run
 *   is ~6% of a nested entry, the figure measured when the early check was introduced: 1,750 / 0.06 ≈ 29,000.
 * - perMsrLoad: one emulated WRMSR from the VM-entry MSR-load list: assumed 250.
 * - unwind: undoing a late VMfail (restore L1 CR0/CR3/CR4/EFER/PAT/DR7, walk the MSR lists, MMU reset): assumed 3,000.
 * - cyclesPerNs: clock used to convert nvmx's measured software-check time to cycles (default 3 GHz).
 * - perCheckNs: time of one software check in nvmx, measured on the development machine (AMD EPYC, Node 20):
 *   the 168 control/host-state checks of a valid vmcs12 take ~100 ns median (bench row "nested: software
 *   VMFail checks, full (168)", 2026-11-25 evening, compiled fast path), i.e. ~0.6 ns per check.
 */
export interface CostParams {
  roundTrip: number;
  dryRunExtra: number;
  nestedEntryBase: number;
  perMsrLoad: number;
  unwind: number;
  cyclesPerNs: number;
  /** measured cost of one software check, ns (set from a measurement; default from bench/results.json figures) */
  perCheckNs: number;
}

export const DEFAULT_COST: Readonly<CostParams> = Object.freeze({
  roundTrip: 1600,
  dryRunExtra: 150,
  nestedEntryBase: 29000,
  perMsrLoad: 250,
  unwind: 3000,
  cyclesPerNs: 3,
  perCheckNs: 0.6,
});

/** Which micro-architectural order the modelled hardware checks controls and host state in (SDM 29.2: any order). */
export type HardwareOrder = "controls-first" | "host-first";

export interface NestedConfig {
  earlyChecks: EarlyChecks;
  /** L0's software checks on vmcs12: a preset name or an explicit list of check ids. */
  softwareChecks: "full" | "kvm" | "none" | readonly string[];
  /** The host CPU reports running under a hypervisor (CPUID.1:ECX[31]); defaults to the host profile's flag. */
  hypervisor?: boolean;
  /** Host hardware breakpoints are active, so DR7 must be restored after the dry run. */
  hostBreakpoints: boolean;
  hardwareOrder: HardwareOrder;
  bug?: L0Bug;
  cost: CostParams;
}

export const DEFAULT_CONFIG: Readonly<NestedConfig> = Object.freeze({
  earlyChecks: -1,
  softwareChecks: "kvm",
  hostBreakpoints: true,
  hardwareOrder: "controls-first",
  cost: DEFAULT_COST,
});
