/**
 * What a kernel preset is (docs/architecture.md §3): one Linux release's nested VMX, as data. Every entry
 * cites the release tree, file and line range it was read from; nothing here is a guess about "KVM in
 * general". The presets themselves are in `src/nested/kernels/`.
 */
import type { Ctx } from "../checks/types.js";

/** The kernels nvmx models, oldest first. */
export const KERNEL_IDS = ["v5.0", "v6.6", "v6.18", "v6.19"] as const;
/** A kernel preset's name: the Linux release it models. */
export type KernelId = (typeof KERNEL_IDS)[number];

/** Where a fact was read: a release tree, a file in it and an inclusive 1-based line range. */
export interface Source {
  /** Release the tree is (e.g. "v6.19"); the exact tree is named in the preset's `tree`. */
  readonly tag: string;
  /** Path in the kernel tree, e.g. "arch/x86/kvm/vmx/nested.c". */
  readonly file: string;
  readonly lines: readonly [number, number];
}

/** A source as reports print it: "v6.19 arch/x86/kvm/vmx/nested.c:3106-3106". */
export function sourceText(s: Source): string {
  return `${s.tag} ${s.file}:${s.lines[0]}-${s.lines[1]}`;
}

/** The kernel tree a preset was read from (a release, or the nearest public copy of one). */
export interface KernelTree {
  /** Release it is, e.g. "v6.18.2". */
  readonly release: string;
  /** Public repository and commit the files were read at. */
  readonly repository: string;
  readonly commit: string;
  /** How the copy relates to the release (e.g. "an unmodified import of the release tarball"). */
  readonly note: string;
}

/**
 * Where in KVM's nested VM entry a software check runs, which decides what L1 sees when it fails:
 * - `instruction`: nested_vmx_run before any VMCS check (#UD/#GP/VMfailInvalid/VMfail 4, 5, 26);
 * - `controls`: the control checks, VMfail(7);
 * - `host`: address-space size and host state, VMfail(8);
 * - `late-controls`: after vmcs02's early preparation (v6.19's vTPR check), VMfail(7);
 * - `guest`: the guest-state checks on vmcs12, exit 33 (qualification per entry);
 * - `prepare`: while writing vmcs02's guest state (segments, CR3, PDPTEs), exit 33;
 * - `msr-load`: the VM-entry MSR-load list, exit 34 with the 1-based index.
 */
export type KernelPhase =
  | "instruction"
  | "controls"
  | "host"
  | "late-controls"
  | "guest"
  | "prepare"
  | "msr-load";

/** Phases in the order KVM runs them on a VMLAUNCH/VMRESUME (before the dry run: the first three). */
export const PHASE_ORDER: readonly KernelPhase[] = [
  "instruction",
  "controls",
  "host",
  "late-controls",
  "guest",
  "prepare",
  "msr-load",
];

/**
 * Inputs a kernel's own test reads besides vmcs12 (through `Ctx`, with L1's profile): the kernel module
 * parameters and L1's memory map.
 */
export interface KernelEnv {
  /** v6.19's `warn_on_missed_cc` (the late vTPR check runs only with it). */
  readonly warnOnMissedCc: boolean;
  /** True when the L1 guest-physical address is backed by L1's memory (a memslot KVM can map). */
  readonly backed: (gpa: number) => boolean;
}

/** A test that is the kernel's own, where it differs from the SDM rules it maps to. */
export interface KernelTest {
  /** Stable id, the `divergence` id of a result that depends on the difference. */
  readonly id: string;
  /** Short name, shown in traces ("KVM's segment checks (vmx.c)"). */
  readonly name: string;
  /** True when the kernel's condition fails this vmcs12. */
  readonly fails: (c: Ctx, env: KernelEnv) => boolean;
  /** msr-load phase: the 1-based index of the first entry the kernel fails (0 = none). */
  readonly entry?: (c: Ctx, env: KernelEnv) => number;
  /**
   * What the kernel does differently from the rules (stricter or looser); attached as a `divergence` when
   * the kernel's verdict and the rules' verdict differ on a state.
   */
  readonly differs: string;
}

/**
 * One software check of a kernel: a `CC()` condition (or a plain `if`), where it is, what L1 sees when it
 * fails, and which nvmx rules it enforces.
 */
export interface KernelCheck {
  /**
   * The condition as that kernel's `CC()` spells it, whitespace runs collapsed (the text the
   * `kvm_nested_vmenter_failed` tracepoint prints); null when the kernel does not wrap it in `CC()` (no
   * tracepoint: v5.0 has none at all).
   */
  readonly cc: string | null;
  /** The kernel function it is in. */
  readonly fn: string;
  readonly source: Source;
  /** Further code the check relies on (e.g. the helper in vmx.c that a `CC()` calls). */
  readonly helper?: Source;
  readonly phase: KernelPhase;
  /**
   * nvmx rule ids the condition enforces. Without `test`, the kernel's verdict is "some of these rules
   * fails" (evaluated with L1's profile, which is what KVM checks against); with `test`, the rules are what
   * its failure means architecturally (and where its tracepoint line points).
   */
  readonly rules: readonly string[];
  /** The kernel's own test, where it is not exactly the rules. */
  readonly test?: KernelTest;
  /** guest/prepare phase: the exit qualification (SDM 29.8): 0 default, 2 PDPTE, 4 VMCS link pointer. */
  readonly qualification?: number;
  /** The outcome L1 sees when it is not the phase's (v5.0 reports a bad activity state as VMfail(7)). */
  readonly vmfail?: 7 | 8;
  /** The preset divergence (by id) a result decided by this check depends on. */
  readonly divergence?: string;
  /** Anything worth telling about this check, in our words. */
  readonly note?: string;
}

/**
 * A behaviour of the kernel that departs from the SDM (or from what L1 asked for) when it builds or enters
 * vmcs02. Attached to a result (`divergence`) when the outcome L1 sees depends on it.
 */
export interface Divergence {
  readonly kernel: KernelId;
  /** Stable short id, e.g. "debugctl-from-l1". */
  readonly id: string;
  /** The behaviour, one or two sentences. */
  readonly behaviour: string;
  readonly source: Source;
}

/** The dry-run parameter a kernel has (as merged; v6.19 has none). */
export type KernelParameter =
  | {
      readonly name: "nested_early_check";
      /** bool, read-only after load (0444), default N. */
      readonly default: false;
      readonly source: Source;
      /** The dry run itself (`nested_vmx_check_vmentry_hw`). */
      readonly dryRun: Source;
      /**
       * Order of the host-state restore after the dry run's VM exit: "irq-then-dr7" (interrupts enabled
       * before the host DR7 is restored, v5.0) or "dr7-then-irq".
       */
      readonly restoreOrder: "irq-then-dr7" | "dr7-then-irq";
      /** Whether vmcs02's TSC multiplier is written before the dry run (it is not in any release read). */
      readonly tscMultiplierStale: boolean;
    }
  | {
      readonly name: "warn_on_missed_cc";
      readonly default: false;
      readonly source: Source;
    };

/** How one control word of L1's capability MSRs is derived from the host's. */
export interface CtlSpec {
  /** Bits passed through when the host allows them. */
  readonly fromHost: number;
  /** Bits offered whatever the host says (KVM emulates them). */
  readonly always: number;
  /** Bits that must be 1 (the TRUE_ MSR's allowed-0 settings). */
  readonly must1: number;
  /** Bits the non-TRUE MSR reports as must-be-1 in addition (the default1 class). */
  readonly default1: number;
}

/** What a kernel's `nested_vmx_setup_ctls_msrs` advertises to L1, as functions of the host's profile. */
export interface L1Spec {
  readonly pin: CtlSpec;
  readonly proc: CtlSpec;
  readonly proc2: CtlSpec;
  readonly exit: CtlSpec;
  readonly entry: CtlSpec;
  /** proc2 bits offered only when the host has them and a KVM module parameter is on by default. */
  readonly proc2IfHost: number;
  /** EPT capability bits passed through / always offered (with EPT); A/D and PML come with host A/D. */
  readonly ept: { readonly fromHost: number; readonly always: number };
  /** IA32_VMX_MISC bits passed through / always offered (low half); CR3-target count 0. */
  readonly misc: { readonly fromHost: number; readonly always: number };
  /** IA32_VMX_BASIC bits 63:32 passed through from the host (INS/OUTS, no-error-code-check). */
  readonly basicFromHost: number;
  /** Entry/exit "load CET state" only with host CET (IBT or shadow stacks). */
  readonly cetNeedsHostCet: boolean;
  /** Entry "load BNDCFGS" / exit "clear BNDCFGS" only with host MPX. */
  readonly bndcfgsNeedsMpx: boolean;
  /**
   * IA32_DEBUGCTL as L1's WRMSR finds it: BTF and LBR are always accepted (and dropped); bus-lock detect and RTM
   * debug where the release offers them and the host has them. LBR virtualization is assumed off (the default),
   * so FREEZE_LBRS_ON_PMI is not offered. L1's profile gives these as its IA32_DEBUGCTL writable bits.
   */
  readonly debugctl: { readonly busLockDetect: boolean; readonly rtmDebug: boolean; readonly source: Source };
  readonly source: Source;
}

/**
 * How the kernel builds vmcs02 from vmcs01 and vmcs12 where releases differ (the common behaviour is in
 * `src/nested/merge.ts`, with its sources per kernel in `mergeSources`).
 */
export interface MergeSpec {
  /** Where this release's `struct vmcs12` is defined (its fields are the ABI of KVM_GET_NESTED_STATE). */
  readonly vmcs12Layout: Source;
  /** Guest-state fields this release's vmcs12 does not have: vmcs02 keeps L0's value. */
  readonly vmcs12Lacks: readonly string[];
  /** IA32_DEBUGCTL from vmcs12 is masked to the bits KVM supports before it reaches vmcs02. */
  readonly debugctlMasked: boolean;
  /** An APIC-access page KVM cannot map: "internal-error" (exit to userspace) or "clear-control". */
  readonly apicAccessUnmapped: "internal-error" | "clear-control";
  /** A virtual-APIC page KVM cannot map, without CR8 exiting: vmcs02 gets an all-ones address. */
  readonly virtualApicUnmappedClearsTprShadow: boolean;
  /** A posted-interrupt descriptor KVM cannot map: posted interrupts cleared, or the old address kept. */
  readonly piDescUnmapped: "clear-control" | "keep-stale";
  /** Sources of the merge facts, by topic (the preset's citations for src/nested/merge.ts). */
  readonly sources: Readonly<Record<MergeTopic, Source>>;
}

/** The topics of the merge whose source each preset cites. */
export type MergeTopic =
  | "constant-state"
  | "early-controls"
  | "guest-state"
  | "debug-controls"
  | "cr0-cr4"
  | "efer"
  | "tsc"
  | "tsc-multiplier"
  | "pages"
  | "msr-load-order"
  | "activity-state"
  | "late-vmfail";

/** A kernel preset: one release, every entry sourced. */
export interface KernelPreset {
  readonly id: KernelId;
  /** e.g. "Linux 6.19". */
  readonly name: string;
  readonly tree: KernelTree;
  /** The dry-run parameter as merged (v6.19: `warn_on_missed_cc`, no dry run). */
  readonly parameter: KernelParameter;
  /** The software checks, in the order the kernel runs them within each phase. */
  readonly checks: readonly KernelCheck[];
  /**
   * Rules the kernel deliberately leaves to the processor (vmcs02 carries vmcs12's value, so a violation
   * comes back from the real VM entry as an exit reflected to L1), with why.
   */
  readonly leftToHardware: { readonly why: string; readonly source: Source };
  readonly l1: L1Spec;
  readonly merge: MergeSpec;
  /** Behaviours that depart from the SDM, each with its source. */
  readonly divergences: readonly Divergence[];
}
