/**
 * Configuration of the nested model (docs/architecture.md §3): which kernel it models, the dry-run parameter
 * in one of its two forms, L0's software checks, the host and L1's memory, injected L0 bugs and the cost model.
 */
import { InputError } from "../errors.js";
import type { KernelId, KernelPreset } from "./kernel.js";
import { kernelPreset, NEWEST_KERNEL } from "./kernels/index.js";

/**
 * The dry-run parameter, in the form the user chose:
 * - `merged`: `nested_early_check`, the read-only bool the kernels up to v6.18 have (default N);
 * - `described`: `early_consistency_checks` with 1/0/-1 as described in the commit message of 52017608da33
 *   (-1 = "auto": the dry run only on bare metal, i.e. when L0 does not itself run under a hypervisor). No
 *   released kernel has this form. `skipWhenComplete` adds the message's wish that auto could one day skip
 *   the dry run when software checks cover every VMFail rule: a proposal, modelled only when asked for.
 */
export type EarlyCheckParam =
  | { form: "merged"; nestedEarlyCheck: boolean }
  | { form: "described"; earlyConsistencyChecks: 1 | 0 | -1; skipWhenComplete?: boolean };

/** L0 mistakes the model can inject, to show how each is detected. */
export type L0Bug =
  /** prepare_vmcs02 writes a wrong HOST_CR4 (VMXE clear) into vmcs02 after the dry run */
  | "late-host-cr4"
  /** the dry run's VM exit loads DR7=0x400; L0 forgets to restore its own DR7 */
  | "skip-dr7-restore"
  /** L0 re-enables interrupts before restoring DR7 (v5.0's real order) */
  | "irq-before-dr7"
  /** the dry run's VM exit clears RFLAGS.IF; L0 forgets to re-enable interrupts */
  | "skip-irq-enable";

/** Every injectable L0 bug. */
export const L0_BUGS: readonly L0Bug[] = [
  "late-host-cr4",
  "skip-dr7-restore",
  "irq-before-dr7",
  "skip-irq-enable",
];

/**
 * Cost model, in CPU cycles. Defaults and where they come from (docs/nested.md "Cost"):
 * - `roundTrip`: one hardware VM entry + VM exit. 2,000 cycles: the direct cost of an exit measured by SplitX
 *   (Landau, Ben-Yehuda, Gordon, 2011, Table 1) on a Xeon X5570 with KVM 2.6.34. The 1,600 cycles of earlier
 *   versions came from a project brief, not from a measurement.
 * - `dryRunExtra`: the dry run's bookkeeping beyond the round trip (switch-to-guest preparation, DR7 and IRQ
 *   restore, preempt disable/enable): assumed 150.
 * - `nestedEntryBase`: everything else L0 does for one emulated VMLAUNCH/VMRESUME: assumed 29,000, so that the
 *   dry run is ~6% of a nested entry — the figure the early-check commit message is said to give (not found in
 *   public copies; unverified).
 * - `perMsrLoad`: one emulated WRMSR from the VM-entry MSR-load list: assumed 250.
 * - `unwind`: undoing a late VMfail (restore L1's CR0/CR3/CR4/EFER/PAT/DR7, walk the MSR lists, MMU reset):
 *   assumed 3,000.
 * - `cyclesPerNs`: clock used to turn nvmx's measured software-check time into cycles (3 GHz).
 * - `perCheckNs`: time of one software check in nvmx (bench row "software VMFail checks", ~0.6 ns).
 * When L0 itself runs under a hypervisor, its dry run is a VMLAUNCH that exits to the level below, which
 * emulates a nested entry: `roundTrip + nestedEntryBase`.
 */
export interface CostParams {
  roundTrip: number;
  dryRunExtra: number;
  nestedEntryBase: number;
  perMsrLoad: number;
  unwind: number;
  cyclesPerNs: number;
  perCheckNs: number;
}

/** The default cost model (sources in `CostParams`). */
export const DEFAULT_COST: Readonly<CostParams> = Object.freeze({
  roundTrip: 2000,
  dryRunExtra: 150,
  nestedEntryBase: 29000,
  perMsrLoad: 250,
  unwind: 3000,
  cyclesPerNs: 3,
  perCheckNs: 0.6,
});

/** Which order the modelled processor checks controls and host state in (SDM 29.2: either). */
export type HardwareOrder = "controls-first" | "host-first";

/** L0's software checks on vmcs12: the kernel's own, every rule, none, or a list of rule ids. */
export type SoftwareChecks = "kernel" | "full" | "none" | readonly string[];

/** The configuration of one run of the nested model. */
export interface NestedConfig {
  /** The kernel preset (default: the newest). */
  kernel: KernelId;
  /** The dry-run parameter; absent = the kernel's default (N as merged; v6.19 has none and refuses it). */
  earlyCheck?: EarlyCheckParam;
  /** v6.19's `warn_on_missed_cc` (default N); refused by the other kernels. */
  warnOnMissedCc?: boolean;
  softwareChecks: SoftwareChecks;
  /** L0 runs under a hypervisor (CPUID.1:ECX[31]); default: the host profile's `hypervisor`. */
  hypervisor?: boolean;
  /** Size of L1's RAM (guest-physical [0, size)); pages outside it are not backed by a memslot. */
  l1RamBytes: number;
  /**
   * vmcs02 before this entry: "reused" (L1 ran an L2 on this vCPU before; stale fields assumed to be this
   * vmcs12's) or "fresh" (the vCPU's first nested entry: vmcs02's fields are 0, it is not launched).
   */
  vmcs02: "reused" | "fresh";
  /** Host hardware breakpoints are active, so DR7 must be restored after the dry run. */
  hostBreakpoints: boolean;
  hardwareOrder: HardwareOrder;
  bug?: L0Bug;
  cost: CostParams;
}

/** 16 GiB: the default size of L1's RAM for one vmcs12. */
export const DEFAULT_L1_RAM = 16 * 2 ** 30;
/**
 * All of the guest-physical space backed: what corpora from the generator (whose pages lie anywhere below
 * 2^MAXPHYADDR) run with by default, so that their results are about checks, not about a memory map.
 */
export const ALL_RAM = 2 ** 52;

/** The default configuration: the newest kernel as merged, its own software checks. */
export const DEFAULT_CONFIG: Readonly<NestedConfig> = Object.freeze({
  kernel: NEWEST_KERNEL.id,
  softwareChecks: "kernel",
  l1RamBytes: DEFAULT_L1_RAM,
  vmcs02: "reused",
  hostBreakpoints: true,
  hardwareOrder: "controls-first",
  cost: DEFAULT_COST,
});

/** Refuse a configuration the chosen kernel cannot have (InputError naming the option). */
export function validateConfig(cfg: NestedConfig): KernelPreset {
  const preset = kernelPreset(cfg.kernel);
  if (cfg.earlyCheck && preset.parameter.name !== "nested_early_check")
    throw new InputError(
      `${preset.id} has no dry-run parameter: nested_early_check was removed ("KVM: nVMX: Remove support for \\"early\\" consistency checks via hardware", 2025); choose a kernel up to v6.18, or use --warn-on-missed-cc`,
      { location: cfg.earlyCheck.form === "merged" ? "--nested-early-check" : "--early-consistency-checks" },
    );
  if (cfg.warnOnMissedCc !== undefined && preset.parameter.name !== "warn_on_missed_cc")
    throw new InputError(`${preset.id} has no warn_on_missed_cc (it arrived with v6.19)`, {
      location: "--warn-on-missed-cc",
    });
  if (!Number.isFinite(cfg.l1RamBytes) || cfg.l1RamBytes < 2 ** 20)
    throw new InputError(`L1's RAM must be at least 1 MiB, got ${cfg.l1RamBytes}`, { location: "--l1-ram" });
  return preset;
}

/** How the dry-run parameter reads for people, e.g. "nested_early_check=N (as merged)". */
export function describeParameter(cfg: NestedConfig, preset: KernelPreset): string {
  if (preset.parameter.name === "warn_on_missed_cc")
    return `warn_on_missed_cc=${cfg.warnOnMissedCc ? "Y" : "N"} (no dry run)`;
  const p = cfg.earlyCheck ?? { form: "merged", nestedEarlyCheck: false };
  if (p.form === "merged") return `nested_early_check=${p.nestedEarlyCheck ? "Y" : "N"} (as merged)`;
  return `early_consistency_checks=${p.earlyConsistencyChecks}${p.skipWhenComplete ? " + skip-when-complete (proposal)" : ""} (as described in the commit message)`;
}

/** Parse a size like "16G", "512M", "4GiB" or a byte count. */
export function parseSize(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(s.trim());
  if (!m) return undefined;
  const k = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[
    m[2]!.toLowerCase() as "" | "k" | "m" | "g" | "t"
  ];
  return Math.round(Number(m[1]) * k);
}
