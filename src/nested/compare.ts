/**
 * A corpus of vmcs12 states under every configuration of a kernel preset, and the oracle for rules a
 * kernel's software checks let through.
 */
import { CHECKS, checkById } from "../checks/registry.js";
import type { CheckClass } from "../checks/types.js";
import type { Caps } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import {
  ALL_RAM,
  DEFAULT_CONFIG,
  type EarlyCheckParam,
  type NestedConfig,
  type SoftwareChecks,
} from "./config.js";
import type { Divergence, KernelPreset, Source } from "./kernel.js";
import { KERNELS, kernelPreset } from "./kernels/index.js";
import { kernelRules, type NestedResult, runNested } from "./l0.js";
import { l1Profile } from "./l1.js";

/** One configuration of a preset's compare table. */
export interface ConfigVariant {
  /** e.g. "nested_early_check=Y", "early_consistency_checks=-1 (described)". */
  parameter: string;
  earlyCheck?: EarlyCheckParam;
  warnOnMissedCc?: boolean;
  softwareChecks: SoftwareChecks;
  hypervisor: boolean;
}

/**
 * The configurations of a preset: its parameter's settings (for kernels with the dry run: as merged Y/N and
 * as described -1, with and without the skip-when-complete proposal — described 1 and 0 behave as Y and N),
 * × software checks kernel/full/none × bare metal / under a hypervisor.
 */
export function configurations(preset: KernelPreset): ConfigVariant[] {
  const params: Omit<ConfigVariant, "softwareChecks" | "hypervisor">[] =
    preset.parameter.name === "warn_on_missed_cc"
      ? [
          { parameter: "warn_on_missed_cc=N", warnOnMissedCc: false },
          { parameter: "warn_on_missed_cc=Y", warnOnMissedCc: true },
        ]
      : [
          { parameter: "nested_early_check=N", earlyCheck: { form: "merged", nestedEarlyCheck: false } },
          { parameter: "nested_early_check=Y", earlyCheck: { form: "merged", nestedEarlyCheck: true } },
          {
            parameter: "early_consistency_checks=-1 (described)",
            earlyCheck: { form: "described", earlyConsistencyChecks: -1 },
          },
          {
            parameter: "-1 + skip-when-complete (proposal)",
            earlyCheck: { form: "described", earlyConsistencyChecks: -1, skipWhenComplete: true },
          },
        ];
  const out: ConfigVariant[] = [];
  for (const p of params)
    for (const softwareChecks of ["kernel", "full", "none"] as const)
      for (const hypervisor of [false, true]) out.push({ ...p, softwareChecks, hypervisor });
  return out;
}

/** The NestedConfig of a variant. */
export function variantConfig(
  preset: KernelPreset,
  v: ConfigVariant,
  base: Partial<NestedConfig> = {},
): NestedConfig {
  return {
    ...DEFAULT_CONFIG,
    ...base,
    kernel: preset.id,
    softwareChecks: v.softwareChecks,
    hypervisor: v.hypervisor,
    ...(v.earlyCheck ? { earlyCheck: v.earlyCheck } : {}),
    ...(v.warnOnMissedCc !== undefined ? { warnOnMissedCc: v.warnOnMissedCc } : {}),
  };
}

/** Counts of one outcome class (architectural VMFail or VM-exit states). */
export interface OutcomeCounts {
  total: number;
  early: number;
  late: number;
  missed: number;
  /** L1 saw a failure, but not the architecture's (another error, qualification or outcome class) */
  wrong: number;
  internalError: number;
}

/** One row of the compare table. */
export interface CompareRow {
  parameter: string;
  softwareChecks: string;
  hypervisor: boolean;
  dryRuns: number;
  vmfail: OutcomeCounts;
  vmexit: OutcomeCounts;
  /** valid states L1 was told failed (or KVM stopped on) */
  validRejected: number;
  valid: number;
  /** of the valid states rejected or unfaithful results, how many carry a kernel divergence */
  labelled: number;
  /** divergence id → count over the rows' results */
  divergences: Record<string, number>;
  cyclesPerValidEntry: number;
  cyclesPerEntry: number;
  l0Bugs: number;
}

const counts = (): OutcomeCounts => ({ total: 0, early: 0, late: 0, missed: 0, wrong: 0, internalError: 0 });

/** Options of `compareCorpus`. */
export interface CompareOptions {
  /** Base configuration (L1 RAM, vmcs02 state, cost...). */
  base?: Partial<NestedConfig>;
  /** Only these variants (default: every configuration of the preset). */
  variants?: readonly ConfigVariant[];
  /** L1's profile (default: the preset's on `host`, `l1Profile`). */
  l1?: Caps;
  progress?: (done: number, total: number) => void;
}

/** Run a corpus under every configuration of `kernel` on `host`. */
export function compareCorpus(
  entries: readonly Entry[],
  kernel: string,
  host: Caps,
  opts: CompareOptions = {},
): CompareRow[] {
  const preset = kernelPreset(kernel);
  const l1 = opts.l1 ?? l1Profile(preset, host);
  const variants = opts.variants ?? configurations(preset);
  const rows: CompareRow[] = [];
  let done = 0;
  for (const v of variants) {
    const cfg = variantConfig(preset, v, opts.base);
    const row: CompareRow = {
      parameter: v.parameter,
      softwareChecks: typeof v.softwareChecks === "string" ? v.softwareChecks : "custom",
      hypervisor: v.hypervisor,
      dryRuns: 0,
      vmfail: counts(),
      vmexit: counts(),
      validRejected: 0,
      valid: 0,
      labelled: 0,
      divergences: {},
      cyclesPerValidEntry: 0,
      cyclesPerEntry: 0,
      l0Bugs: 0,
    };
    let validCycles = 0;
    let all = 0;
    for (const e of entries) {
      const r = runNested({ vmcs12: e, host, l1 }, cfg);
      tally(row, r);
      all += r.cost.cycles;
      if (r.architectural.outcome.type === "entered") validCycles += r.cost.cycles;
    }
    row.cyclesPerValidEntry = row.valid ? Math.round(validCycles / row.valid) : 0;
    row.cyclesPerEntry = entries.length ? Math.round(all / entries.length) : 0;
    rows.push(row);
    opts.progress?.(++done, variants.length);
  }
  return rows;
}

function tally(row: CompareRow, r: NestedResult): void {
  if (r.dryRun.performed) row.dryRuns++;
  if (r.l0Bug) row.l0Bugs++;
  for (const d of r.divergences ?? (r.divergence ? [r.divergence] : []))
    row.divergences[d.id] = (row.divergences[d.id] ?? 0) + 1;
  const a = r.architectural.outcome;
  if (a.type === "entered") {
    row.valid++;
    if (r.detection !== "entered") {
      row.validRejected++;
      if (r.divergence) row.labelled++;
    }
    return;
  }
  const bucket = a.type === "vmexit" ? row.vmexit : a.type === "vmfail-valid" ? row.vmfail : undefined;
  if (!bucket) return;
  bucket.total++;
  if (r.detection === "internal-error") bucket.internalError++;
  else if (r.detection === "missed") bucket.missed++;
  else if (!r.faithful) bucket.wrong++;
  else if (r.detection === "late") bucket.late++;
  else bucket.early++;
  if ((r.detection === "missed" || !r.faithful) && r.divergence) row.labelled++;
}

/** How a rule the kernel's software checks let through ends. */
export type GapKind = "late" | "missed" | "wrong" | "internal-error" | "left-to-hardware";

/** One rule a kernel's software checks do not catch, with what L1 sees and why. */
export interface Gap {
  id: string;
  sdm: string;
  cls: CheckClass;
  kind: GapKind;
  toL1: string;
  /** Why, in words, with the kernel source that explains it (a divergence, or the check the kernel lacks). */
  why: string;
  source?: Source;
  divergence?: Divergence;
}

/** The oracle's report for one preset on one host. */
export interface GapReport {
  kernel: string;
  l1: string;
  host: string;
  states: number;
  /**
   * Rules not searched: the kernel checks each exactly (a check whose condition is the rule on L1's
   * profile, in the phase of the rule's class), so a state violating one alone fails that check.
   */
  checkedExactly: number;
  gaps: Gap[];
  /** rules KVM deliberately leaves to the processor (guest-state rules whose fields vmcs02 carries unchanged) */
  leftToHardware: Gap[];
  /** rules that cannot be violated alone on L1's profile */
  skipped: { id: string; reason: string }[];
}

/** Options of `findGaps`. */
export interface GapOptions {
  /** Only rules of these classes ("control", "host": the VMFail rules, errors 7 and 8). */
  classes?: readonly CheckClass[];
  base?: Partial<NestedConfig>;
  /** L1's profile (default: the preset's on `host`, `l1Profile`). */
  l1?: Caps;
  cache?: boolean;
  progress?: (done: number, total: number) => void;
}

/**
 * Oracle mode: for each rule violated alone on the preset's L1 profile, run the kernel's own software
 * checks without a dry run and report the rules it lets through: caught late, missed, answered with another
 * outcome, or left to the processor by design.
 */
export async function findGaps(kernel: string, host: Caps, opts: GapOptions = {}): Promise<GapReport> {
  const { violationCorpus } = await import("./corpus.js");
  const preset = kernelPreset(kernel);
  const l1 = opts.l1 ?? l1Profile(preset, host);
  const exact = exactlyChecked(preset);
  const corpus = violationCorpus(l1, {
    skip: exact,
    ...(opts.classes ? { classes: opts.classes } : {}),
    ...(opts.cache !== undefined ? { cache: opts.cache } : {}),
    ...(opts.progress ? { progress: opts.progress } : {}),
  });
  const cfg: NestedConfig = {
    ...DEFAULT_CONFIG,
    l1RamBytes: ALL_RAM,
    ...opts.base,
    kernel: preset.id,
    softwareChecks: "kernel",
  };
  const covered = kernelRules(preset);
  const report: GapReport = {
    kernel: preset.id,
    l1: l1.name,
    host: host.name,
    states: corpus.entries.length,
    checkedExactly: [...exact].filter((id) => !opts.classes || opts.classes.includes(checkById(id)!.cls))
      .length,
    gaps: [],
    leftToHardware: [],
    skipped: corpus.skipped,
  };
  corpus.entries.forEach((e, i) => {
    const id = corpus.ids[i]!;
    const r = runNested({ vmcs12: e, host, l1 }, cfg);
    if (r.architectural.outcome.type === "entered") return;
    if (
      r.faithful &&
      (r.detectedBy === "software" || r.detectedBy === "instruction" || r.detectedBy === "msr-load")
    )
      return;
    const c = checkById(id)!;
    const kind: GapKind =
      r.detection === "internal-error"
        ? "internal-error"
        : r.detection === "missed"
          ? "missed"
          : !r.faithful
            ? "wrong"
            : c.cls === "guest" && r.detectedBy === "hardware" && r.toL1.type === "vmexit"
              ? "left-to-hardware"
              : "late";
    const ex = explainGap(preset, id, r, covered.has(id));
    const g: Gap = {
      id,
      sdm: c.sdm,
      cls: c.cls,
      kind,
      toL1:
        r.toL1.type === "kvm-internal-error"
          ? "KVM internal error (L1 sees nothing)"
          : JSON.stringify(r.toL1),
      why: ex.why,
      ...(ex.source ? { source: ex.source } : {}),
      ...(r.divergence ? { divergence: r.divergence } : {}),
    };
    if (!g.source && kind === "left-to-hardware") g.source = preset.leftToHardware.source;
    if (kind === "left-to-hardware") report.leftToHardware.push(g);
    else report.gaps.push(g);
  });
  return report;
}

/** Rules a kernel checks exactly: a check without its own test, in the phase that gives the rule's outcome. */
export function exactlyChecked(preset: KernelPreset): Set<string> {
  const out = new Set<string>();
  const phaseOf: Record<string, string[]> = {
    control: ["controls"],
    host: ["host"],
    guest: ["guest", "prepare"],
    "msr-load": ["msr-load"],
  };
  for (const k of preset.checks) {
    if (k.test || k.vmfail) continue;
    for (const r of k.rules) {
      const c = checkById(r);
      if (!c || !phaseOf[c.cls]?.includes(k.phase)) continue;
      if (c.cls === "guest" && (k.qualification ?? 0) !== (c.qualification ?? 0)) continue;
      out.add(r);
    }
  }
  return out;
}

function explainGap(
  preset: KernelPreset,
  id: string,
  r: NestedResult,
  checked: boolean,
): { why: string; source?: Source } {
  const d = r.divergence;
  const generic =
    !d || d.id === "late-vmfail-is-7" || d.id === "l0-owned-fields" || d.id === "controls-added-by-l0";
  if (d && !generic) return { why: d.behaviour, source: d.source };
  const cls = checkById(id)?.cls;
  if (!checked && r.detection === "late" && r.toL1.type === "vmfail-valid")
    return {
      why: `${preset.name} has no software check for this rule: the processor finds it at the real VM entry, KVM unwinds and reports VMfail(7)`,
      source: preset.merge.sources["late-vmfail"],
    };
  if (!checked && r.detection === "missed" && cls === "host")
    return {
      why: `${preset.name} has no software check for this rule, and vmcs02's host state is L0's own, so the processor never sees vmcs12's`,
      source: preset.merge.sources["constant-state"],
    };
  if (d) return { why: d.behaviour, source: d.source };
  if (r.detection === "late" && r.toL1.type === "vmexit")
    return {
      why: `${preset.name} leaves this guest-state rule to the processor: vmcs02 carries vmcs12's value and the exit is reflected to L1`,
      source: preset.leftToHardware.source,
    };
  if (checked) return { why: `${preset.name} checks this rule only in part (see its software check)` };
  return { why: `${preset.name} has no software check for this rule` };
}

/** Rule ids by class the preset checks in software (for docs/checks.md). */
export function softwareCoverage(preset: KernelPreset): {
  rules: number;
  vmfailRules: number;
  vmfailTotal: number;
} {
  const covered = kernelRules(preset);
  const vm = CHECKS.filter((c) => c.cls === "control" || c.cls === "host");
  return {
    rules: covered.size,
    vmfailRules: vm.filter((c) => covered.has(c.id)).length,
    vmfailTotal: vm.length,
  };
}

/**
 * docs/checks.md's column "checked in software by": the presets whose kernel checks a rule in software,
 * "(part)" where the kernel's own test covers it only in part.
 */
export function softwareChecksColumn(): { title: string; cell: (id: string) => string } {
  const per = KERNELS.map((k) => ({ id: k.id, rules: kernelRules(k) }));
  return {
    title: "checked in software by (kernel)",
    cell: (id) =>
      per
        .filter((p) => p.rules.has(id))
        .map((p) => (p.rules.get(id)!.every((k) => k.test) ? `${p.id} (part)` : p.id))
        .join(", "),
  };
}
