/**
 * L0 emulating L1's VMLAUNCH/VMRESUME on vmcs12 (the KVM-like flow of ../shared/docs/reference/kvm-nested.md
 * §2): instruction checks, software checks on vmcs12, vmcs02 preparation, the optional hardware dry run
 * with an invalid GUEST_RFLAGS and the host-state restore after it, software guest-state checks, the
 * VM-entry MSR-load list processed in software, the real entry on vmcs02 ("hardware" = nvmx's full checker
 * with the host CPU's capabilities), and the result reflected to L1.
 */

import { F } from "../arch/fields.js";
import { CR4 } from "../arch/registers.js";
import { basicChecks } from "../checks/basic.js";
import { CHECKS } from "../checks/registry.js";
import { type Check, Ctx, type Outcome } from "../checks/types.js";
import type { Caps } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import { decide, type EntryResult, evaluate, failingChecks, sameOutcome } from "../entry/evaluate.js";
import { DEFAULT_PROCESSOR } from "../entry/processor.js";
import { baseVmcs } from "../gen/base.js";
import { describeOutcome } from "../report.js";
import { Memory } from "../vmcs/memory.js";
import type { Vmcs } from "../vmcs/store.js";
import type { HardwareOrder, NestedConfig } from "./config.js";
import { kvmChecks } from "./kvm-preset.js";
import { HPA_OFFSET, type MergeNotes, prepareVmcs02 } from "./merge.js";

/** The MSR-load checks (SDM 29.4), one list for every run (each list gets one compiled runner). */
const MSR_CHECKS = CHECKS.filter((c) => c.cls === "msr-load");

export type Phase =
  | "instruction"
  | "software"
  | "merge"
  | "dry-run"
  | "restore"
  | "msr-load"
  | "entry"
  | "reflect";

export interface Step {
  phase: Phase;
  what: string;
}

/** When the failure was detected relative to guest-visible side effects. */
export type Detection =
  /** valid vmcs12 entered */
  | "entered"
  /** before L0 changed any guest-visible state (basic/software checks, dry run, or MSR loading in order) */
  | "early"
  /** only at the real hardware entry, after L0 acted on guest state (MSR loads, guest state) */
  | "late"
  /** L1 was told the entry succeeded (or got another outcome) although the architecture says otherwise */
  | "missed";

export interface NestedResult {
  /** What a real CPU with L1's capabilities does with vmcs12. */
  architectural: EntryResult;
  /** What L1 observes. */
  toL1: Outcome;
  detection: Detection;
  detectedBy: "instruction" | "software" | "dry-run" | "msr-load" | "hardware" | "none";
  /** The outcome L1 sees equals the architectural one. */
  faithful: boolean;
  dryRun: { performed: boolean; why: string; hardware?: Outcome };
  /** Host CPU state after the dry run, and whether L0 restored it. */
  hostState?: { dr7Before: number; dr7After: number; ifAfter: boolean; ok: boolean };
  /** MSRs written from vmcs12's VM-entry MSR-load list (index → value), in order. */
  msrsLoaded: { index: number; value: bigint }[];
  l0Bug?: string;
  trace: Step[];
  cost: { cycles: number; parts: Record<string, number> };
  /** Ids of the software checks that ran on vmcs12. */
  softwareChecks: number;
}

export interface NestedInput {
  /** vmcs12 as L1 wrote it, with L1's view of the CPU (caps), L1's processor state and L1's memory. */
  vmcs12: Entry;
  /** The physical CPU L0 runs on (the "hardware"); defaults to L1's view. */
  hostCaps?: Caps;
}

const byClass = (checks: readonly Check[], cls: Check["cls"]) => checks.filter((c) => c.cls === cls);

/** The set of software checks L0 runs on vmcs12, split by phase (cached per configuration value). */
export function softwareCheckSet(sel: NestedConfig["softwareChecks"]): {
  vmfail: Check[];
  guest: Check[];
  all: Check[];
  complete: boolean;
} {
  const cached = setCache.get(sel);
  if (cached) return cached;
  let all: Check[];
  if (sel === "kvm") all = kvmChecks();
  else {
    const ids =
      sel === "full" ? new Set(CHECKS.map((c) => c.id)) : sel === "none" ? new Set<string>() : new Set(sel);
    all = CHECKS.filter((c) => c.cls !== "basic" && c.cls !== "msr-load" && ids.has(c.id));
  }
  const vmfailAll = CHECKS.filter((c) => c.cls === "control" || c.cls === "host");
  const vmfail = all.filter((c) => c.cls === "control" || c.cls === "host");
  const set = { vmfail, guest: byClass(all, "guest"), all, complete: vmfail.length === vmfailAll.length };
  setCache.set(sel, set);
  return set;
}
const setCache = new Map<NestedConfig["softwareChecks"], ReturnType<typeof softwareCheckSet>>();

function hardware(v: Vmcs, caps: Caps, mem: Memory, order: HardwareOrder): EntryResult {
  const r = evaluate(new Ctx(v, caps, { ...DEFAULT_PROCESSOR }, mem));
  if (order === "host-first" && r.possibleOutcomes) {
    const host = r.possibleOutcomes.find((o) => o.type === "vmfail-valid" && o.error === 8);
    if (host) return { ...r, outcome: host };
  }
  return r;
}

/** L1's own VMCS as L0 keeps it (vmcs01): L0's controls and host state, L1's current state as guest state. */
export function vmcs01For(host: Caps): Vmcs {
  return baseVmcs(host);
}

function hostMemory(l1: Memory): Memory {
  const m = new Memory();
  for (const [a, v] of l1.entries64()) m.write64(a + HPA_OFFSET, v);
  return m;
}

export function runNested(input: NestedInput, cfg: NestedConfig): NestedResult {
  const e = input.vmcs12;
  const l1 = e.caps;
  const host = input.hostCaps ?? l1;
  const trace: Step[] = [];
  const parts: Record<string, number> = { base: cfg.cost.nestedEntryBase };
  const step = (phase: Phase, what: string) => trace.push({ phase, what });
  const architectural = evaluate(new Ctx(e.vmcs, l1, e.processor, e.memory));
  const sw = softwareCheckSet(cfg.softwareChecks);
  const ctx12 = new Ctx(e.vmcs, l1, e.processor, e.memory);
  const msrsLoaded: { index: number; value: bigint }[] = [];
  let checksRun = 0;
  const swCost = (n: number) => {
    checksRun += n;
    parts["softwareChecks"] = (parts["softwareChecks"] ?? 0) + n * cfg.cost.perCheckNs * cfg.cost.cyclesPerNs;
  };
  const finish = (
    toL1: Outcome,
    detectedBy: NestedResult["detectedBy"],
    extra: Partial<NestedResult> = {},
  ): NestedResult => {
    const faithful =
      sameOutcome(toL1, architectural.outcome) ||
      (architectural.possibleOutcomes ?? []).some((o) => sameOutcome(o, toL1));
    let detection: Detection;
    if (architectural.outcome.type === "entered" && toL1.type === "entered") detection = "entered";
    else if (toL1.type === "entered") detection = "missed";
    else if (detectedBy === "hardware") detection = "late";
    else detection = "early";
    if (toL1.type !== "entered") step("reflect", `L1 sees: ${describeOutcome(toL1)}`);
    const cycles = Object.values(parts).reduce((a, b) => a + b, 0);
    return {
      architectural,
      toL1,
      detection,
      detectedBy,
      faithful,
      dryRun: extra.dryRun ?? { performed: false, why: "not reached" },
      msrsLoaded,
      trace,
      cost: { cycles: Math.round(cycles), parts },
      softwareChecks: checksRun,
      ...extra,
    };
  };

  // 1. Instruction-level checks (always in software; SDM 29.1).
  swCost(basicChecks.length);
  const basicFail = failingChecks(ctx12, basicChecks);
  if (basicFail.length) {
    step("instruction", `${basicFail[0]!.id}: ${basicFail[0]!.message(ctx12)}`);
    return finish(decide(basicFail, ctx12).outcome, "instruction");
  }
  step("instruction", "L1 is in VMX root operation at CPL 0 with a current VMCS in the right launch state");

  // 2. Software VMFail checks on vmcs12 (controls → 7, host state → 8).
  swCost(sw.vmfail.length);
  const vmfail = failingChecks(ctx12, sw.vmfail);
  if (vmfail.length) {
    const o = decide(vmfail, ctx12).outcome;
    step(
      "software",
      `${vmfail.length} software check(s) fail on vmcs12, first ${vmfail[0]!.id}: ${vmfail[0]!.message(ctx12)}`,
    );
    return finish(o, "software");
  }
  step("software", `${sw.vmfail.length} software control/host-state checks pass on vmcs12`);

  // 3. prepare_vmcs02 (early part + guest state; the dry run overrides RFLAGS anyway).
  const notes: MergeNotes = { notes: [] };
  const vmcs01 = vmcs01For(host);
  const vmcs02 = prepareVmcs02(vmcs01, e.vmcs, l1, notes);
  step(
    "merge",
    `vmcs02 built: host state and L0-owned fields from L0, controls merged, guest state from vmcs12`,
  );
  for (const n of notes.notes) step("merge", n);
  if (notes.internalError) {
    step("merge", notes.internalError);
    return finish({ type: "vmfail-valid", error: 7 }, "software");
  }
  const hwMem = hostMemory(e.memory);

  // 4. The early hardware check (dry run).
  const hypervisor = cfg.hypervisor ?? host.hypervisor;
  let doDry: boolean;
  let why: string;
  if (cfg.earlyChecks === 1) [doDry, why] = [true, "early_consistency_checks=1"];
  else if (cfg.earlyChecks === 0) [doDry, why] = [false, "early_consistency_checks=0"];
  else if (hypervisor)
    [doDry, why] = [false, "auto: the CPU reports a hypervisor, so L0 is itself nested; no dry run"];
  else if (sw.complete)
    [doDry, why] = [false, "auto: bare metal, but L0's software checks cover every VMFail rule; no dry run"];
  else [doDry, why] = [true, "auto: bare metal and L0's software checks are incomplete"];
  let dryRun: NestedResult["dryRun"] = { performed: false, why };
  let hostState: NestedResult["hostState"];
  if (doDry) {
    parts["dryRun"] = cfg.cost.roundTrip + cfg.cost.dryRunExtra;
    const dry = vmcs02.clone();
    dry.setHalves(F.GUEST_RFLAGS, 0, 0); // bit 1 must be 1: a guest-state failure after all VMFail checks
    const hw = hardware(dry, host, hwMem, cfg.hardwareOrder);
    dryRun = { performed: true, why, hardware: hw.outcome };
    step("dry-run", `test entry on vmcs02 with GUEST_RFLAGS=0: ${describeOutcome(hw.outcome)}`);
    if (hw.outcome.type === "vmfail-valid" || hw.outcome.type === "vmfail-invalid") {
      const err = hw.outcome.type === "vmfail-valid" ? hw.outcome.error : 0;
      const bug =
        err !== 7
          ? `dry run failed with VM-instruction error ${err}, not 7: vmcs02's host state is L0's own, so this is an L0 bug`
          : undefined;
      if (bug) step("dry-run", bug);
      return finish({ type: "vmfail-valid", error: 7 }, "dry-run", {
        dryRun,
        ...(bug ? { l0Bug: bug } : {}),
      });
    }
    // The VM exit loaded DR7=0x400 and cleared RFLAGS.IF (SDM 28.5 / 30.5: host state after a VM exit).
    const dr7Before = cfg.hostBreakpoints ? 0x403 : 0x400;
    let dr7 = 0x400;
    let ifFlag = false;
    let window = false;
    if (hw.outcome.type === "entered")
      step("dry-run", "the test entry succeeded: L2 ran with stale state (L0 bug: RFLAGS check bypassed)");
    if (cfg.bug === "irq-before-dr7") {
      ifFlag = true;
      window = cfg.hostBreakpoints;
      dr7 = dr7Before;
      step(
        "restore",
        "interrupts enabled, then DR7 restored: an interrupt in between runs with L0's breakpoints disabled",
      );
    } else {
      if (cfg.bug !== "skip-dr7-restore" && cfg.hostBreakpoints) dr7 = dr7Before;
      step(
        "restore",
        cfg.bug === "skip-dr7-restore"
          ? "DR7 NOT restored (injected L0 bug)"
          : `DR7 restored to ${dr7 === dr7Before ? `0x${dr7Before.toString(16)}` : "0x400 (no host breakpoints)"}`,
      );
      if (cfg.bug !== "skip-irq-enable") {
        ifFlag = true;
        step("restore", "interrupts re-enabled (RFLAGS.IF=1)");
      } else step("restore", "RFLAGS.IF NOT restored (injected L0 bug)");
    }
    const ok = dr7 === dr7Before && ifFlag && !window;
    hostState = { dr7Before, dr7After: dr7, ifAfter: ifFlag, ok };
    if (!ok) {
      const bug = !ifFlag
        ? "host RFLAGS.IF lost after the dry run: interrupts stay disabled on this CPU (fatal)"
        : dr7 !== dr7Before
          ? `host DR7 lost after the dry run: 0x${dr7.toString(16)} instead of 0x${dr7Before.toString(16)} (L0's hardware breakpoints are off)`
          : "interrupts were enabled before DR7 was restored: a window with L0's breakpoints disabled";
      step("restore", `L0 bug detected: ${bug}`);
      // The entry itself proceeds; the bug is reported.
      return continueAfterDry(bug);
    }
  } else step("dry-run", `no dry run (${why})`);
  return continueAfterDry(undefined);

  function continueAfterDry(l0Bug: string | undefined): NestedResult {
    const extra: Partial<NestedResult> = {
      dryRun,
      ...(hostState ? { hostState } : {}),
      ...(l0Bug ? { l0Bug } : {}),
    };
    // 5. Software guest-state checks on vmcs12 (→ exit 33).
    swCost(sw.guest.length);
    const guest = failingChecks(ctx12, sw.guest);
    if (guest.length) {
      const o = decide(guest, ctx12).outcome;
      step(
        "software",
        `${guest.length} software guest-state check(s) fail on vmcs12, first ${guest[0]!.id}; L1's host state is loaded from vmcs12`,
      );
      return finish(o, "software", extra);
    }
    step("software", `${sw.guest.length} software guest-state checks pass`);

    // 6. The VM-entry MSR-load list, in software, entry by entry (SDM 29.4; kvm-nested.md §1.7).
    const count = e.vmcs.lo(F.VM_ENTRY_MSR_LOAD_COUNT);
    const msrFail = failingChecks(ctx12, MSR_CHECKS);
    const failIndex = msrFail.length ? decide(msrFail, ctx12).outcome : undefined;
    const firstBad = failIndex && failIndex.type === "vmexit" ? failIndex.qualification : 0;
    const base = e.vmcs.get(F.VM_ENTRY_MSR_LOAD_ADDR);
    const upto = firstBad ? firstBad - 1 : Math.min(count, 4096);
    for (let i = 0; i < upto; i++) {
      const a = Number(base) + 16 * i;
      msrsLoaded.push({ index: e.memory.read32(a), value: e.memory.read64(a + 8) });
    }
    parts["msrLoads"] = upto * cfg.cost.perMsrLoad;
    if (count)
      step(
        "msr-load",
        `${upto} MSR(s) loaded from the VM-entry MSR-load list${upto ? `: ${msrsLoaded.map((m) => `0x${m.index.toString(16)}`).join(", ")}` : ""}`,
      );
    if (firstBad) {
      step("msr-load", `MSR-load entry ${firstBad} fails (${msrFail[0]!.id})`);
      return finish({ type: "vmexit", reason: 34, qualification: firstBad }, "msr-load", extra);
    }

    // 7. The real entry on vmcs02.
    const real = vmcs02.clone();
    if (cfg.bug === "late-host-cr4") {
      real.setHalves(F.HOST_CR4, real.lo(F.HOST_CR4) & ~CR4.VMXE, 0);
      step("merge", "injected L0 bug: HOST_CR4 written without CR4.VMXE after the dry run");
    }
    parts["entry"] = cfg.cost.roundTrip;
    const hw = hardware(real, host, hwMem, cfg.hardwareOrder);
    step("entry", `VM entry on vmcs02: ${describeOutcome(hw.outcome)}`);
    if (hw.outcome.type === "vmfail-valid" || hw.outcome.type === "vmfail-invalid") {
      parts["unwind"] = cfg.cost.unwind;
      const err = hw.outcome.type === "vmfail-valid" ? hw.outcome.error : 0;
      step(
        "entry",
        `late VMfail: L0 unwinds L1's state (CR0/CR3/CR4/EFER/PAT/DR7 from vmcs01${msrsLoaded.length ? ", MSRs already loaded are restored from the exit list" : ""}) and reports VMfail(7)`,
      );
      let bug = l0Bug;
      if (dryRun.performed)
        bug ??=
          "VMfail after a passed dry run: the dry run proved the controls valid and vmcs02's host state is L0's, so this is an L0 bug";
      else if (err === 8)
        bug ??= "hardware VMfail with error 8: vmcs02's host state is L0's own, so this is an L0 bug";
      return finish({ type: "vmfail-valid", error: 7 }, "hardware", {
        ...extra,
        ...(bug ? { l0Bug: bug } : {}),
      });
    }
    if (hw.outcome.type === "vmexit") {
      step(
        "entry",
        `hardware found invalid guest state after L0 had already loaded ${msrsLoaded.length} MSR(s): reflected to L1`,
      );
      return finish(hw.outcome, "hardware", extra);
    }
    return finish({ type: "entered" }, "none", extra);
  }
}
