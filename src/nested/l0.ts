/**
 * L0 emulating L1's VMLAUNCH/VMRESUME on vmcs12, the way the chosen kernel preset does it: the instruction
 * checks, the software checks in the kernel's phases and order, vmcs02's preparation (src/nested/merge.ts),
 * v6.19's late checks, the optional dry run on the vmcs02 the kernel has at that moment, the guest-state and
 * preparation checks, the VM-entry MSR-load list in software, the real VM entry on vmcs02 ("hardware" =
 * nvmx's full checker on the host profile) and what L1 sees. Results that depend on a kernel behaviour
 * departing from the SDM carry it as `divergence`.
 */
import { F } from "../arch/fields.js";
import { CR4 } from "../arch/registers.js";
import { basicChecks } from "../checks/basic.js";
import { CHECKS, checkById } from "../checks/registry.js";
import { type Check, type CheckClass, Ctx, type Outcome } from "../checks/types.js";
import type { Caps } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import {
  countFailures,
  decide,
  type EntryResult,
  evaluate,
  failingChecks,
  type Possible,
  sameOutcome,
} from "../entry/evaluate.js";
import { DEFAULT_PROCESSOR, type ProcessorState } from "../entry/processor.js";
import { describeOutcome } from "../report.js";
import type { Memory } from "../vmcs/memory.js";
import type { Vmcs } from "../vmcs/store.js";
import { type NestedConfig, type SoftwareChecks, validateConfig } from "./config.js";
import type {
  Divergence,
  KernelCheck,
  KernelEnv,
  KernelId,
  KernelPhase,
  KernelPreset,
  Source,
} from "./kernel.js";
import { MSR_LOAD_UNBACKED, ruleFails } from "./kernels/common.js";
import { l1Profile } from "./l1.js";
import { buildVmcs02, dryRunVmcs, L0_EFER, type MergeEffect, type Vmcs02 } from "./merge.js";

/** What L1 observes: an architectural outcome, or nothing because KVM stopped with an internal error. */
export type L1View = Outcome | { type: "kvm-internal-error"; reason: string };

/** Where the model is in L0's flow, for the step-by-step trace. */
export type Phase =
  | "instruction"
  | "software"
  | "merge"
  | "late"
  | "dry-run"
  | "restore"
  | "msr-load"
  | "entry"
  | "reflect";

/** One step of the trace. */
export interface Step {
  phase: Phase;
  what: string;
}

/**
 * How L1's outcome relates to the architecture's:
 * - `entered`: a valid vmcs12, L2 entered;
 * - `early`: an invalid vmcs12 caught before any guest-visible side effect (software checks, the dry run);
 * - `late`: caught only by the real VM entry, after L0 acted on guest state (MSR loads, an unwound VMfail);
 * - `missed`: L1 is told the entry succeeded although the architecture rejects vmcs12;
 * - `false-failure`: L1 is told the entry failed although the architecture accepts vmcs12;
 * - `internal-error`: KVM stopped and exited to userspace; L1 sees nothing.
 */
export type Detection = "entered" | "early" | "late" | "missed" | "false-failure" | "internal-error";

/** Which part of L0 decided the outcome. */
export type DetectedBy = "instruction" | "software" | "dry-run" | "msr-load" | "hardware" | "kvm" | "none";

/** The kernel check that decided a software outcome (and the tracepoint line it prints). */
export interface DecidingCheck {
  fn: string;
  cc: string | null;
  source: Source;
  rules: readonly string[];
}

/** The result of one nested entry. */
export interface NestedResult {
  kernel: KernelId;
  /** The configuration in words: parameter, software checks, host. */
  config: { parameter: string; softwareChecks: string; host: string; l1: string; hypervisor: boolean };
  /** What a processor with L1's capabilities does with vmcs12. */
  architectural: EntryResult;
  /** What L1 observes. */
  toL1: L1View;
  detection: Detection;
  detectedBy: DetectedBy;
  /** L1's outcome is one the architecture allows (its outcome or one of its possible outcomes). */
  faithful: boolean;
  /** The kernel check that failed, when a software check decided. */
  kernelCheck?: DecidingCheck;
  /** The `kvm_nested_vmenter_failed` lines the kernel prints for this entry. */
  tracepoint: string[];
  dryRun: { performed: boolean; why: string; hardware?: Outcome; vmcs02?: "fresh" | "reused" };
  /** Host CPU state after the dry run, and whether L0 restored it. */
  hostState?: { dr7Before: number; dr7After: number; ifAfter: boolean; ok: boolean };
  /** MSRs written from vmcs12's VM-entry MSR-load list (index → value), in order. */
  msrsLoaded: { index: number; value: bigint }[];
  /** The kernel behaviour the result depends on (the first of `divergences`). */
  divergence?: Divergence;
  /** Every kernel behaviour the result depends on, when there are several. */
  divergences?: Divergence[];
  /** Outcomes L1 may see instead, and why the model cannot decide (docs/architecture.md §1). */
  possible?: Possible[];
  l0Bug?: string;
  trace: Step[];
  cost: { cycles: number; parts: Record<string, number> };
  /** Number of software checks run on vmcs12. */
  softwareChecks: number;
}

/** A vmcs12 and the machine it runs on. */
export interface NestedInput {
  /** vmcs12 as L1 wrote it, with L1's processor state and memory (its `caps` are replaced by L1's profile). */
  vmcs12: Entry;
  /** The physical CPU L0 runs on. */
  host: Caps;
  /** L1's view of VMX; default: the preset's `nested_vmx_setup_ctls_msrs` on `host`. */
  l1?: Caps;
}

/** Divergences that follow from L0 owning vmcs02 at all; listed after the specific ones. */
const GENERIC = new Set([
  "controls-added-by-l0",
  "l0-owned-fields",
  "cr0-cr4-forced-bits",
  "efer-computed",
  "exit-controls-by-l0",
]);

const MSR_LOAD_RULES = CHECKS.filter((c) => c.cls === "msr-load");
const VMFAIL_RULE_IDS = CHECKS.filter((c) => c.cls === "control" || c.cls === "host").map((c) => c.id);

/** The rule ids the preset's kernel checks in software, by phase (derived from the preset). */
export function kernelRules(preset: KernelPreset): Map<string, KernelCheck[]> {
  const hit = rulesCache.get(preset);
  if (hit) return hit;
  const m = new Map<string, KernelCheck[]>();
  rulesCache.set(preset, m);
  for (const k of preset.checks)
    for (const r of k.rules) {
      const l = m.get(r) ?? [];
      l.push(k);
      m.set(r, l);
    }
  return m;
}

const rulesCache = new WeakMap<KernelPreset, Map<string, KernelCheck[]>>();

/** The nvmx rules of a software-check selection that is not the kernel's (full/none/list), by phase (cached). */
function ruleSet(sel: Exclude<SoftwareChecks, "kernel">): Map<KernelPhase, Check[]> {
  const key = typeof sel === "string" ? sel : sel.join(",");
  let m = ruleSets.get(key);
  if (!m) {
    m = new Map();
    const ids = sel === "full" ? undefined : sel === "none" ? new Set<string>() : new Set(sel);
    for (const c of CHECKS) {
      if (c.cls === "basic" || c.cls === "msr-load" || (ids && !ids.has(c.id))) continue;
      const ph = phaseOfClass(c.cls);
      const l = m.get(ph) ?? [];
      l.push(c);
      m.set(ph, l);
    }
    ruleSets.set(key, m);
  }
  return m;
}
const ruleSets = new Map<string, Map<KernelPhase, Check[]>>();

/** The phase an nvmx rule belongs to when checked in software by a generic L0. */
function phaseOfClass(cls: CheckClass): KernelPhase {
  return cls === "control" ? "controls" : cls === "host" ? "host" : cls === "guest" ? "guest" : "msr-load";
}

const byPhase = new WeakMap<KernelPreset, Map<KernelPhase, KernelCheck[]>>();
/** A preset's checks of one phase, in order (cached). */
function phaseChecks(preset: KernelPreset, phase: KernelPhase): readonly KernelCheck[] {
  let m = byPhase.get(preset);
  if (!m) {
    m = new Map();
    for (const k of preset.checks) {
      const l = m.get(k.phase) ?? [];
      l.push(k);
      m.set(k.phase, l);
    }
    byPhase.set(preset, m);
  }
  return m.get(phase) ?? [];
}

const phaseRuleCache = new WeakMap<KernelPreset, Map<KernelPhase, Check[]>>();
/** The nvmx rules a preset's test-free checks of one phase enforce (one compiled list per phase). */
function phaseRules(preset: KernelPreset, phase: KernelPhase): Check[] {
  let m = phaseRuleCache.get(preset);
  if (!m) {
    m = new Map();
    phaseRuleCache.set(preset, m);
  }
  let l = m.get(phase);
  if (!l) {
    const ids = new Set(phaseChecks(preset, phase).flatMap((k) => (k.test ? [] : k.rules)));
    l = CHECKS.filter((c) => ids.has(c.id));
    m.set(phase, l);
  }
  return l;
}

/** Does a kernel check fail this state? Records a divergence when its own test and its rules disagree. */
function kernelFails(k: KernelCheck, c: Ctx, env: KernelEnv, onDiffer: (k: KernelCheck) => void): boolean {
  const byRules = k.rules.some((r) => ruleFails(c, r));
  if (!k.test) return byRules;
  const own = k.test.fails(c, env);
  if (own !== byRules) onDiffer(k);
  return own;
}

/** The `kvm_nested_vmenter_failed` line a CC() prints. */
export function tracepointLine(cc: string, err?: string): string {
  return `kvm_nested_vmenter_failed: ${cc}${err ?? ""}`;
}

/** The processor state the real entry on vmcs02 runs with (L0: 64-bit, CPL 0; vmcs02's own launch state). */
function l0Processor(launched: boolean): ProcessorState {
  return {
    ...DEFAULT_PROCESSOR,
    instruction: launched ? "vmresume" : "vmlaunch",
    launchState: launched ? "launched" : "clear",
    ia32e: true,
  };
}

function hardware(
  v: Vmcs,
  host: Caps,
  mem: Memory,
  launched: boolean,
  order: NestedConfig["hardwareOrder"],
): EntryResult {
  const r = evaluate(new Ctx(v, host, l0Processor(launched), mem));
  if (order === "host-first" && r.possibleOutcomes) {
    const h = r.possibleOutcomes.find((o) => o.type === "vmfail-valid" && o.error === 8);
    if (h) return { ...r, outcome: h };
  }
  return r;
}

const isVmfail = (o: Outcome): boolean => o.type === "vmfail-valid" || o.type === "vmfail-invalid";

/**
 * What a caller may watch during a run without changing its result: the vmcs02 L0 prepared, and the one the
 * dry run entered (the playground shows vmcs12's value next to what the processor saw).
 */
export interface NestedWatch {
  vmcs02?: (built: Vmcs02) => void;
  dryRun?: (vmcs: Vmcs) => void;
}

/** Run L0's emulation of VMLAUNCH/VMRESUME on vmcs12. Throws InputError for a configuration the kernel refuses. */
export function runNested(input: NestedInput, cfg: NestedConfig, watch?: NestedWatch): NestedResult {
  const preset = validateConfig(cfg);
  const host = input.host;
  const l1 = input.l1 ?? l1Profile(preset, host);
  const e: Entry = { ...input.vmcs12, caps: l1 };
  const ram = cfg.l1RamBytes;
  const env: KernelEnv = {
    warnOnMissedCc: cfg.warnOnMissedCc ?? false,
    backed: (gpa) => gpa >= 0 && gpa < ram,
  };
  const hypervisor = cfg.hypervisor ?? host.hypervisor;
  const trace: Step[] = [];
  const step = (phase: Phase, what: string) => trace.push({ phase, what });
  const parts: Record<string, number> = { base: cfg.cost.nestedEntryBase };
  const architectural = evaluate(new Ctx(e.vmcs, l1, e.processor, e.memory));
  const ctx = new Ctx(e.vmcs, l1, e.processor, e.memory);
  const tracepoint: string[] = [];
  const msrsLoaded: { index: number; value: bigint }[] = [];
  const divergences: Divergence[] = [];
  const possible: Possible[] = [];
  let checksRun = 0;
  let kernelCheck: DecidingCheck | undefined;
  let effects: MergeEffect[] = [];
  const swCost = (n: number) => {
    checksRun += n;
    parts["softwareChecks"] = (parts["softwareChecks"] ?? 0) + n * cfg.cost.perCheckNs * cfg.cost.cyclesPerNs;
  };
  const addDivergence = (d: Divergence | undefined) => {
    if (d && !divergences.some((x) => x.id === d.id && x.source === d.source)) divergences.push(d);
  };
  const presetDivergence = (id: string) => preset.divergences.find((d) => d.id === id);
  const testDiffers = new Set<KernelCheck>();
  const swName = typeof cfg.softwareChecks === "string" ? cfg.softwareChecks : "custom";
  const paramText = describeParam();
  let dryRun: NestedResult["dryRun"] = { performed: false, why: "not reached" };
  let hostState: NestedResult["hostState"];
  let l0Bug: string | undefined;

  function describeParam(): string {
    if (preset.parameter.name === "warn_on_missed_cc")
      return `warn_on_missed_cc=${env.warnOnMissedCc ? "Y" : "N"}`;
    const p = cfg.earlyCheck ?? { form: "merged", nestedEarlyCheck: false };
    return p.form === "merged"
      ? `nested_early_check=${p.nestedEarlyCheck ? "Y" : "N"}`
      : `early_consistency_checks=${p.earlyConsistencyChecks}${p.skipWhenComplete ? " (+ skip-when-complete proposal)" : ""}`;
  }

  const finish = (toL1: L1View, detectedBy: DetectedBy, vmcs02?: Vmcs02, hw?: EntryResult): NestedResult => {
    const arch = architectural.outcome;
    const archOutcomes = [arch, ...(architectural.possibleOutcomes ?? [])];
    let faithful: boolean;
    let detection: Detection;
    if (toL1.type === "kvm-internal-error") {
      faithful = false;
      detection = "internal-error";
    } else {
      faithful = archOutcomes.some((o) => sameOutcome(o, toL1));
      if (arch.type === "entered") detection = toL1.type === "entered" ? "entered" : "false-failure";
      else if (toL1.type === "entered") detection = "missed";
      else detection = detectedBy === "hardware" ? "late" : "early";
      step("reflect", `L1 sees: ${describeOutcome(toL1)}`);
    }
    if (!faithful || detection === "late") explain(detection, vmcs02, hw);
    // the most specific behaviour first: the generic consequences of L0 owning vmcs02 last
    divergences.sort((a, b) => Number(GENERIC.has(a.id)) - Number(GENERIC.has(b.id)));
    const cycles = Object.values(parts).reduce((a, b) => a + b, 0);
    const r: NestedResult = {
      kernel: preset.id,
      config: { parameter: paramText, softwareChecks: swName, host: host.name, l1: l1.name, hypervisor },
      architectural,
      toL1,
      detection,
      detectedBy,
      faithful,
      ...(kernelCheck ? { kernelCheck } : {}),
      tracepoint,
      dryRun,
      ...(hostState ? { hostState } : {}),
      msrsLoaded,
      ...(divergences.length ? { divergence: divergences[0]! } : {}),
      ...(divergences.length > 1 ? { divergences } : {}),
      ...(possible.length ? { possible } : {}),
      ...(l0Bug ? { l0Bug } : {}),
      trace,
      cost: { cycles: Math.round(cycles), parts },
      softwareChecks: checksRun,
    };
    return r;
  };

  /** Attach the kernel behaviours an unfaithful (or late) result depends on. */
  function explain(detection: Detection, vmcs02: Vmcs02 | undefined, hw: EntryResult | undefined): void {
    for (const k of testDiffers) {
      if (!k.test) continue;
      addDivergence({
        kernel: preset.id,
        id: k.test.id,
        behaviour: k.test.differs,
        source: k.source,
      });
    }
    if (kernelCheck) {
      // a kernel check whose outcome is the kernel's own (e.g. v5.0's VMfail for the activity state)
      const k = preset.checks.find((x) => x.source === kernelCheck!.source);
      if (k?.divergence) addDivergence(presetDivergence(k.divergence));
    }
    // Fields of the rules whose verdict differs between vmcs12 (architecture) and vmcs02 (hardware).
    const involved = new Set<string>();
    const archIds = new Set(architectural.violations.map((v) => v.id));
    const hwIds = new Set((hw?.violations ?? []).map((v) => v.id));
    for (const id of [...archIds, ...hwIds])
      if (archIds.has(id) !== hwIds.has(id)) for (const f of checkById(id)?.fields ?? []) involved.add(f);
    for (const x of effects) if (x.fields.some((f) => involved.has(f))) addDivergence(presetDivergence(x.id));
    if (detection === "internal-error") addDivergence(presetDivergence("apic-access-unmapped"));
    if (detection === "late" && msrsLoaded.length && hw?.outcome.type === "vmexit")
      addDivergence(presetDivergence("msr-loads-before-guest-checks"));
    if (detection === "late" && hw && isVmfail(hw.outcome)) {
      addDivergence(presetDivergence("late-vmfail-is-7"));
      if (effects.some((x) => x.id === "virtual-apic-unmapped"))
        addDivergence(presetDivergence("virtual-apic-unmapped"));
    }
    if (detection === "missed" && vmcs02) {
      // rules the kernel does not check whose fields never reach the processor unchanged
      const covered = kernelRules(preset);
      for (const v of architectural.violations) {
        if (cfg.softwareChecks === "kernel" && covered.has(v.id)) continue;
        const cls = checkById(v.id)?.cls;
        for (const d of preset.divergences)
          if (
            (d.id === "no-host-segment-checks" && cls === "host") ||
            (d.id === "no-guest-register-checks" && cls === "guest")
          )
            addDivergence(d);
      }
    }
    void vmcs02;
  }

  // 1. Instruction-level checks (SDM 29.1), as every kernel makes them.
  swCost(basicChecks.length);
  const basicFail = failingChecks(ctx, basicChecks);
  if (basicFail.length) {
    step("instruction", `${basicFail[0]!.id}: ${basicFail[0]!.message(ctx)}`);
    const k = preset.checks.find((x) => x.phase === "instruction" && x.rules.includes(basicFail[0]!.id));
    if (k) {
      kernelCheck = { fn: k.fn, cc: k.cc, source: k.source, rules: k.rules };
      if (k.cc) tracepoint.push(tracepointLine(k.cc));
    }
    return finish(decide(basicFail, ctx).outcome, "instruction");
  }
  step("instruction", "L1 is in VMX root operation at CPL 0 with a current vmcs12 in the right launch state");

  // Software checks of one phase: the kernel's (in its order) or the selected rules.
  const generic = cfg.softwareChecks === "kernel" ? undefined : ruleSet(cfg.softwareChecks);
  const runPhase = (phase: KernelPhase): Outcome | undefined => {
    if (generic) {
      const list = generic.get(phase);
      if (!list?.length) return undefined;
      swCost(list.length);
      const failing = failingChecks(ctx, list);
      if (!failing.length) return undefined;
      step(
        "software",
        `${failing.length} software check(s) fail on vmcs12, first ${failing[0]!.id}: ${failing[0]!.message(ctx)}`,
      );
      return decide(failing, ctx).outcome;
    }
    // A state that fails none of the phase's rules needs only the kernel's own tests run (compiled runner).
    const quick = phaseRules(preset, phase);
    const anyRule = quick.length > 0 && countFailures(ctx, quick) > 0;
    for (const k of phaseChecks(preset, phase)) {
      swCost(1);
      if (!k.test && !anyRule) continue;
      if (!kernelFails(k, ctx, env, (x) => testDiffers.add(x))) continue;
      kernelCheck = { fn: k.fn, cc: k.cc, source: k.source, rules: k.rules };
      if (k.cc) tracepoint.push(tracepointLine(k.cc));
      const why = k.test?.name ?? k.rules.join(", ");
      step(
        "software",
        `${preset.name} ${k.fn} (${k.source.file.split("/").pop()}:${k.source.lines[0]}) fails: ${k.cc ?? why}`,
      );
      if (k.vmfail) return { type: "vmfail-valid", error: k.vmfail };
      switch (phase) {
        case "controls":
        case "late-controls":
          return { type: "vmfail-valid", error: 7 };
        case "host":
          return { type: "vmfail-valid", error: 8 };
        default:
          return { type: "vmexit", reason: 33, qualification: k.qualification ?? 0 };
      }
    }
    return undefined;
  };

  // 2. Controls (VMfail 7), then address-space size and host state (VMfail 8).
  for (const phase of ["controls", "host"] as const) {
    const o = runPhase(phase);
    if (o) return finish(o, "software");
  }
  step("software", `vmcs12 passes ${preset.name}'s control and host-state checks (${swName})`);

  // 3. vmcs02: early preparation and L1's pages.
  const built = buildVmcs02({ preset, vmcs12: e, host, env, l1Efer: e.processor.ia32e ? L0_EFER : 0x801 });
  effects = built.effects;
  watch?.vmcs02?.(built);
  step("merge", "vmcs02 prepared: L0's host state and owned fields, controls merged, L1's pages mapped");
  for (const n of built.notes) step("merge", n);
  for (const x of built.effects) step("merge", `${x.what} (${x.fields.join(", ")})`);
  if (built.internalError) {
    step("merge", built.internalError);
    return finish({ type: "kvm-internal-error", reason: built.internalError }, "kvm", built);
  }

  // 4. v6.19: the late control checks (only with warn_on_missed_cc).
  const late = runPhase("late-controls");
  if (late) return finish(late, "software", built);

  // 5. The dry run.
  const dry = dryRunDecision();
  if (dry.perform) {
    const stale = cfg.vmcs02;
    const fresh = stale === "fresh";
    parts["dryRun"] = hypervisor
      ? cfg.cost.roundTrip + cfg.cost.nestedEntryBase
      : cfg.cost.roundTrip + cfg.cost.dryRunExtra;
    const dv = dryRunVmcs(built, stale);
    watch?.dryRun?.(dv);
    const hw = hardware(dv, host, built.memory, !fresh, cfg.hardwareOrder);
    dryRun = { performed: true, why: dry.why, hardware: hw.outcome, vmcs02: stale };
    // GUEST_RFLAGS=0 is an invalid guest state on purpose: the processor checks it only after every control
    // and host-state check, so the exit it causes is the dry run passing, not an entry failing.
    const expected = hw.outcome.type === "vmexit" && hw.outcome.reason === 33;
    step(
      "dry-run",
      `${fresh ? "VMLAUNCH" : "VMRESUME"} of vmcs02 (${fresh ? "never entered: guest state and TSC multiplier 0" : "guest state and TSC multiplier of the previous entry"}) with GUEST_RFLAGS=0: ${expected ? "passes — vmcs02's controls and host state are valid, and the entry stops at the intended invalid-RFLAGS exit (reason 33)" : describeOutcome(hw.outcome)}`,
    );
    if (!fresh) {
      // The first nested entry of a vCPU finds a vmcs02 whose stale fields are 0: say what it would do then.
      const hf = hardware(dryRunVmcs(built, "fresh"), host, built.memory, false, cfg.hardwareOrder);
      if (isVmfail(hf.outcome) && !isVmfail(hw.outcome)) {
        possible.push({
          why: "unknown-field",
          dependsOn: ["vmcs02.TSC_MULTIPLIER", "vmcs02.GUEST_CR0"],
          condition:
            "if this is the vCPU's first nested entry (vmcs02 never entered, so its guest state and TSC multiplier are still 0 at the dry run)",
          outcome: { type: "vmfail-valid", error: 7 },
          violations: hf.violations.filter((v) => checkById(v.id)?.cls !== "guest"),
        });
      }
    }
    if (isVmfail(hw.outcome)) {
      const err = hw.outcome.type === "vmfail-valid" ? hw.outcome.error : 0;
      tracepoint.push(tracepointLine("early hardware check VM-instruction error: ", errName(err)));
      if (err !== 7) {
        l0Bug = `the dry run failed with VM-instruction error ${err}, not 7: vmcs02's host state is L0's own, so this is an L0 bug`;
        step("dry-run", l0Bug);
      }
      // Would the prepared vmcs02 have passed the control checks? Then the stale state made the dry run fail.
      const real = hardware(built.vmcs, host, built.memory, true, cfg.hardwareOrder);
      if (!isVmfail(real.outcome)) addDivergence(presetDivergence("dry-run-stale-vmcs02"));
      return finish({ type: "vmfail-valid", error: 7 }, "dry-run", built, hw);
    }
    restoreHostState();
  } else {
    dryRun = { performed: false, why: dry.why };
    step("dry-run", `no dry run (${dry.why})`);
  }

  // 6. Guest-state checks on vmcs12 (exit 33), then the checks made while writing vmcs02's guest state.
  for (const phase of ["guest", "prepare"] as const) {
    const o = runPhase(phase);
    if (o) {
      step("software", "L1's host state is loaded from vmcs12 (a failed VM entry reflected as an exit)");
      return finish(o, "software", built);
    }
  }

  // 7. The VM-entry MSR-load list, in software, entry by entry (SDM 29.4).
  const count = e.vmcs.lo(F.VM_ENTRY_MSR_LOAD_COUNT!);
  const failAt = msrFailIndex();
  const base = e.vmcs.hi(F.VM_ENTRY_MSR_LOAD_ADDR!) * 0x100000000 + e.vmcs.lo(F.VM_ENTRY_MSR_LOAD_ADDR!);
  const upto = failAt ? failAt - 1 : Math.min(count, l1.maxMsrList);
  for (let i = 0; i < upto; i++) {
    const a = base + 16 * i;
    msrsLoaded.push({ index: e.memory.read32(a), value: e.memory.read64(a + 8) });
  }
  parts["msrLoads"] = upto * cfg.cost.perMsrLoad;
  if (count)
    step(
      "msr-load",
      `${upto} MSR(s) loaded from the VM-entry MSR-load list${upto ? `: ${msrsLoaded.map((m) => `0x${m.index.toString(16)}`).join(", ")}` : ""}`,
    );
  if (failAt) {
    step("msr-load", `MSR-load entry ${failAt} fails`);
    return finish({ type: "vmexit", reason: 34, qualification: failAt }, "msr-load", built);
  }

  // 8. The real VM entry on vmcs02.
  const real = built.vmcs.clone();
  if (cfg.bug === "late-host-cr4") {
    real.setHalves(F.HOST_CR4!, real.lo(F.HOST_CR4!) & ~CR4.VMXE, 0);
    step("merge", "injected L0 bug: HOST_CR4 written without CR4.VMXE after the dry run");
  }
  parts["entry"] = cfg.cost.roundTrip;
  const hw = hardware(real, host, built.memory, cfg.vmcs02 === "reused", cfg.hardwareOrder);
  step("entry", `VM entry on vmcs02: ${describeOutcome(hw.outcome)}`);
  if (isVmfail(hw.outcome)) {
    parts["unwind"] = cfg.cost.unwind;
    const err = hw.outcome.type === "vmfail-valid" ? hw.outcome.error : 0;
    tracepoint.push(tracepointLine("hardware VM-instruction error: ", errName(err)));
    step(
      "entry",
      `late VMfail: L0 unwinds L1's state (CR0/CR3/CR4/EFER/PAT/DR7 from vmcs01${msrsLoaded.length ? ", MSRs already loaded restored from the exit list" : ""}) and reports VMfail(7)`,
    );
    if (dryRun.performed)
      l0Bug ??=
        "VMfail after a passed dry run: the dry run proved the controls valid and vmcs02's host state is L0's, so this is an L0 bug";
    else if (err === 8)
      l0Bug ??= "hardware VMfail with error 8: vmcs02's host state is L0's own, so this is an L0 bug";
    if (env.warnOnMissedCc) step("entry", "warn_on_missed_cc: KVM WARNs that a consistency check was missed");
    return finish({ type: "vmfail-valid", error: 7 }, "hardware", built, hw);
  }
  if (hw.outcome.type === "vmexit") {
    step(
      "entry",
      `the processor found invalid guest state (${hw.violations.map((v) => v.id).join(", ")})${msrsLoaded.length ? ` after L0 had loaded ${msrsLoaded.length} MSR(s)` : ""}: the exit is reflected to L1`,
    );
    return finish(hw.outcome, "hardware", built, hw);
  }
  const act = e.vmcs.lo(F.GUEST_ACTIVITY_STATE!);
  if (act === 1)
    step("entry", "vmcs12's activity state is HLT: KVM halts the vCPU itself unless an event wakes L2");
  else if (act === 3)
    step("entry", "vmcs12's activity state is wait-for-SIPI: KVM parks the vCPU until a SIPI");
  return finish({ type: "entered" }, "none", built, hw);

  function dryRunDecision(): { perform: boolean; why: string } {
    const p = preset.parameter;
    if (p.name === "warn_on_missed_cc") return { perform: false, why: `${preset.id} has no dry run` };
    const param = cfg.earlyCheck ?? { form: "merged" as const, nestedEarlyCheck: false };
    if (param.form === "merged")
      return param.nestedEarlyCheck
        ? { perform: true, why: "nested_early_check=Y" }
        : { perform: false, why: "nested_early_check=N (the default)" };
    const v = param.earlyConsistencyChecks;
    if (v === 1) return { perform: true, why: "early_consistency_checks=1" };
    if (v === 0) return { perform: false, why: "early_consistency_checks=0" };
    if (hypervisor)
      return { perform: false, why: "early_consistency_checks=-1 (auto): L0 runs under a hypervisor" };
    if (param.skipWhenComplete && softwareComplete())
      return {
        perform: false,
        why: "early_consistency_checks=-1 with the skip-when-complete proposal: software covers every VMFail rule",
      };
    return { perform: true, why: "early_consistency_checks=-1 (auto): bare metal" };
  }

  function softwareComplete(): boolean {
    const vmfailRules = VMFAIL_RULE_IDS;
    if (cfg.softwareChecks === "full") return true;
    if (cfg.softwareChecks === "none") return false;
    const have =
      cfg.softwareChecks === "kernel" ? new Set(kernelRules(preset).keys()) : new Set(cfg.softwareChecks);
    return vmfailRules.every((r) => have.has(r));
  }

  function restoreHostState(): void {
    // The dry run's VM exit loaded DR7=0x400 and cleared RFLAGS.IF (SDM 28.5 / 29.5: host state after an exit).
    const p = preset.parameter;
    const order =
      cfg.bug === "irq-before-dr7" || (p.name === "nested_early_check" && p.restoreOrder === "irq-then-dr7")
        ? "irq-then-dr7"
        : "dr7-then-irq";
    const dr7Before = cfg.hostBreakpoints ? 0x403 : 0x400;
    let dr7 = 0x400;
    let ifFlag = false;
    let window = false;
    if (order === "irq-then-dr7") {
      ifFlag = cfg.bug !== "skip-irq-enable";
      window = cfg.hostBreakpoints;
      if (cfg.bug !== "skip-dr7-restore") dr7 = dr7Before;
      step(
        "restore",
        "interrupts enabled, then DR7 restored: an interrupt in between runs with L0's breakpoints off",
      );
    } else {
      if (cfg.bug !== "skip-dr7-restore" && cfg.hostBreakpoints) dr7 = dr7Before;
      step(
        "restore",
        cfg.bug === "skip-dr7-restore"
          ? "DR7 NOT restored (injected L0 bug)"
          : `DR7 restored to 0x${dr7.toString(16)}`,
      );
      if (cfg.bug !== "skip-irq-enable") {
        ifFlag = true;
        step("restore", "interrupts re-enabled (RFLAGS.IF=1)");
      } else step("restore", "RFLAGS.IF NOT restored (injected L0 bug)");
    }
    const ok = dr7 === dr7Before && ifFlag && !window;
    hostState = { dr7Before, dr7After: dr7, ifAfter: ifFlag, ok };
    if (!ok) {
      l0Bug = !ifFlag
        ? "host RFLAGS.IF lost after the dry run: interrupts stay disabled on this CPU (fatal)"
        : dr7 !== dr7Before
          ? `host DR7 lost after the dry run: 0x${dr7.toString(16)} instead of 0x${dr7Before.toString(16)} (L0's hardware breakpoints are off)`
          : "interrupts were enabled before DR7 was restored: a window with L0's breakpoints disabled";
      step("restore", `L0 bug: ${l0Bug}`);
    }
  }

  function msrFailIndex(): number {
    let min = 0;
    // KVM walks the list entry by entry and stops at the first entry a check fails: the CC() it prints is
    // that entry's (the first of the phase's checks, in order, to fail on it), its own tests' included.
    let decider: KernelCheck | undefined;
    const take = (i: number, k?: KernelCheck) => {
      if (i > 0 && (min === 0 || i < min)) {
        min = i;
        decider = k;
      }
    };
    if (cfg.softwareChecks === "kernel") {
      for (const k of preset.checks) {
        if (k.phase !== "msr-load") continue;
        swCost(1);
        if (k.test) {
          if (k.test.fails(ctx, env)) {
            take(k.test.entry?.(ctx, env) ?? 1, k);
            if (!k.rules.some((r) => ruleFails(ctx, r))) testDiffers.add(k);
          }
          continue;
        }
        for (const r of k.rules) {
          const c = checkById(r)!;
          if ((c.when === undefined || c.when(ctx)) && c.fail(ctx))
            take(c.entryIndex ? c.entryIndex(ctx) : 1, k);
        }
      }
      if (decider?.cc) tracepoint.push(tracepointLine(decider.cc));
      return min;
    }
    swCost(MSR_LOAD_RULES.length);
    for (const c of failingChecks(ctx, MSR_LOAD_RULES)) take(c.entryIndex ? c.entryIndex(ctx) : 1);
    // reading the list from L1's memory is not a check: every L0 does it
    const unbacked = MSR_LOAD_UNBACKED.entry?.(ctx, env) ?? 0;
    if (unbacked && (min === 0 || unbacked < min)) {
      const k = preset.checks.find((x) => x.test === MSR_LOAD_UNBACKED);
      if (k) testDiffers.add(k);
      take(unbacked);
    }
    return min;
  }
}

/** Symbolic names the tracepoint prints for VM-instruction errors (VMX_VMENTER_INSTRUCTION_ERRORS). */
function errName(err: number): string {
  const names: Record<number, string> = {
    4: "VMLAUNCH_NONCLEAR_VMCS",
    5: "VMRESUME_NONLAUNCHED_VMCS",
    6: "VMRESUME_AFTER_VMXOFF",
    7: "VMENTRY_INVALID_CONTROL_FIELD",
    8: "VMENTRY_INVALID_HOST_STATE_FIELD",
    26: "VMENTRY_EVENTS_BLOCKED_BY_MOV_SS",
  };
  return names[err] ?? String(err);
}
