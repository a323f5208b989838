/**
 * L1's VMLAUNCH as a timeline with lanes, from one run of the nested model (src/nested/l0.ts): the model's
 * trace, in time order, cut into stages wherever the lane changes — L1, L0's software checks, the vmcs02
 * merge, the dry run, the MSR-load list, the real entry — each marked pass / fail / skipped / not reached
 * with what it saw. Status comes from the result's structured fields (detectedBy, dryRun.hardware, ...),
 * never from the wording of a step. Pure data: the view is nested-view.tsx.
 */
import { FIELDS, fieldByName } from "../../src/arch/fields.js";
import type { NestedResult, Phase } from "../../src/nested/l0.js";
import { describeOutcome } from "../../src/report.js";
import type { Vmcs } from "../../src/vmcs/store.js";

export type LaneId = "l1" | "software" | "merge" | "dry-run" | "msr-load" | "entry";
export type StageStatus = "pass" | "fail" | "skipped" | "not-reached" | "info";

/** The lanes, in the order of the picture, with their names. */
export const LANES: readonly { id: LaneId; name: string; short: string }[] = [
  { id: "l1", name: "L1", short: "L1" },
  { id: "software", name: "L0 software checks", short: "L0 checks" },
  { id: "merge", name: "vmcs02 merge", short: "vmcs02 merge" },
  { id: "dry-run", name: "dry run", short: "dry run" },
  { id: "msr-load", name: "MSR loading", short: "MSR load" },
  { id: "entry", name: "real entry", short: "real entry" },
];

const LANE_OF: Record<Phase, LaneId> = {
  instruction: "l1",
  software: "software",
  late: "software",
  merge: "merge",
  "dry-run": "dry-run",
  restore: "dry-run",
  "msr-load": "msr-load",
  entry: "entry",
  reflect: "l1",
};

/** A field as vmcs12 has it and as the processor saw it in vmcs02. */
export interface FieldSeen {
  field: string;
  vmcs12: string;
  /** vmcs02 as the dry run entered it (undefined: no dry run) */
  dryRun?: string;
  /** vmcs02 at the real entry (undefined: not prepared) */
  vmcs02?: string;
}

export interface Stage {
  lane: LaneId;
  status: StageStatus;
  /** one line: what the stage is and how it ended */
  title: string;
  /** what it saw, in the model's words (the trace steps) and ours */
  saw: string[];
  /** modelled cycles of this stage, when the cost model gives it one */
  cycles?: number;
}

export interface Timeline {
  stages: Stage[];
  /** the fields of the rules vmcs12 breaks, as vmcs12 has them and as the processor saw them */
  fields: FieldSeen[];
  /** what L1 is told, in words */
  told: string;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** The fields of the architecture's violations (each once, in order), as vmcs12 has them and vmcs02 carries them. */
function fieldsSeen(r: NestedResult, vmcs12: Vmcs, vmcs02?: Vmcs, dry?: Vmcs): FieldSeen[] {
  const names: string[] = [];
  for (const v of r.architectural.violations) for (const f of v.fields) if (!names.includes(f)) names.push(f);
  return names.flatMap((name) => {
    const f = fieldByName(name);
    if (!f || !FIELDS[f.index]) return [];
    const seen: FieldSeen = { field: name, vmcs12: hex(vmcs12.get(f.index)) };
    if (dry) seen.dryRun = hex(dry.get(f.index));
    if (vmcs02) seen.vmcs02 = hex(vmcs02.get(f.index));
    return [seen];
  });
}

export function toldText(r: NestedResult): string {
  return r.toL1.type === "kvm-internal-error"
    ? `nothing: KVM exits to userspace (${r.toL1.reason})`
    : describeOutcome(r.toL1);
}

/** Build the timeline of a result; `vmcs12` is L1's VMCS, `vmcs02`/`dryRun` what runNested's watch saw. */
export function timeline(r: NestedResult, vmcs12: Vmcs, vmcs02?: Vmcs, dryRun?: Vmcs): Timeline {
  const stages: Stage[] = [];
  for (const s of r.trace) {
    const lane = LANE_OF[s.phase];
    const last = stages.at(-1);
    // the final "L1 sees" is its own stage, even right after an instruction check
    if (last && last.lane === lane && s.phase !== "reflect") last.saw.push(s.what);
    else stages.push({ lane, status: "pass", title: "", saw: [s.what] });
  }
  const parts = r.cost.parts;
  const told = toldText(r);
  // The stage that decided the outcome: the last one before L1 is told.
  const body = stages.filter((s, i) => !(s.lane === "l1" && i > 0));
  const decidedLane: LaneId | undefined =
    r.detectedBy === "instruction"
      ? "l1"
      : r.detectedBy === "software"
        ? "software"
        : r.detectedBy === "dry-run"
          ? "dry-run"
          : r.detectedBy === "msr-load"
            ? "msr-load"
            : r.detectedBy === "hardware"
              ? "entry"
              : r.detectedBy === "kvm"
                ? "merge"
                : undefined;
  const decider = decidedLane ? body.filter((s) => s.lane === decidedLane).at(-1) : undefined;
  let softwareSeen = 0;
  for (const [i, s] of stages.entries()) {
    const failed = s === decider && r.toL1.type !== "entered";
    switch (s.lane) {
      case "l1":
        if (i === 0) {
          s.status = failed ? "fail" : "pass";
          s.title = failed
            ? "L1's VMLAUNCH/VMRESUME fails its instruction checks (SDM 29.1)"
            : "L1 executes VMLAUNCH/VMRESUME on vmcs12: the instruction traps to L0";
        } else {
          // told the truth: a success is green, a faithful failure is information; anything else is wrong
          s.status = !r.faithful ? "fail" : r.detection === "entered" ? "pass" : "info";
          s.title = `L1 is told: ${told}`;
          s.saw = [];
        }
        break;
      case "software": {
        softwareSeen++;
        const none = r.config.softwareChecks === "none";
        s.status = failed ? "fail" : none ? "skipped" : "pass";
        const which =
          softwareSeen === 1
            ? "controls and host state"
            : decider === s && r.toL1.type === "vmexit"
              ? "guest state"
              : "further checks";
        s.title = failed
          ? `L0's software checks fail (${which}): ${r.kernelCheck ? `${r.kernelCheck.fn}${r.kernelCheck.cc ? `: ${r.kernelCheck.cc}` : ""}` : "the selected rules"}`
          : none
            ? "L0 runs no software checks on vmcs12 (software checks: none)"
            : `L0's software checks pass (${which})`;
        if (failed && r.kernelCheck)
          s.saw.push(
            `${r.kernelCheck.source.tag} ${r.kernelCheck.source.file}:${r.kernelCheck.source.lines[0]}–${r.kernelCheck.source.lines[1]}${r.kernelCheck.rules.length ? ` → ${r.kernelCheck.rules.join(", ")}` : ""}`,
          );
        if (softwareSeen === 1 && parts["softwareChecks"] !== undefined) {
          s.cycles = Math.round(parts["softwareChecks"]);
          s.saw.push(`${r.softwareChecks} software checks run on vmcs12 in all`);
        }
        break;
      }
      case "merge":
        s.status = failed ? "fail" : "info";
        s.title = failed
          ? "KVM cannot build vmcs02: it stops with an internal error"
          : "L0 builds vmcs02 from vmcs01 and vmcs12: L0's own host state, controls merged";
        break;
      case "dry-run": {
        const d = r.dryRun;
        if (!d.performed) {
          s.status = "skipped";
          s.title = `no dry run: ${d.why}`;
          s.saw = [];
          break;
        }
        const hw = d.hardware;
        const intended = hw?.type === "vmexit" && hw.reason === 33;
        const hostOk = r.hostState?.ok !== false;
        s.status = intended && hostOk ? "pass" : "fail";
        s.title = intended
          ? `dry run passes: vmcs02's controls and host state are valid; the entry stops at the intended invalid-RFLAGS exit${hostOk ? "" : ", but L0 did not restore its host state"}`
          : `dry run fails: ${hw ? describeOutcome(hw) : "no outcome"}; L1 is told VMfail(7)`;
        s.cycles = parts["dryRun"];
        s.saw.unshift(`why it runs: ${d.why}`);
        break;
      }
      case "msr-load":
        s.status = failed ? "fail" : "pass";
        s.title = failed
          ? `the VM-entry MSR-load list fails at entry ${r.toL1.type === "vmexit" ? r.toL1.qualification : "?"}`
          : `L0 loads vmcs12's VM-entry MSR-load list in software (${r.msrsLoaded.length} MSR${r.msrsLoaded.length === 1 ? "" : "s"})`;
        if (parts["msrLoads"]) s.cycles = parts["msrLoads"];
        break;
      case "entry":
        s.status = failed ? "fail" : "pass";
        s.title = failed
          ? `the real VM entry on vmcs02 fails${r.detection === "late" ? " (late: after L0 acted on guest state)" : ""}`
          : "the real VM entry on vmcs02 succeeds: L2 runs";
        s.cycles = (parts["entry"] ?? 0) + (parts["unwind"] ?? 0) || undefined;
        break;
    }
  }
  // Lanes the run never reached (it ended earlier), and an empty MSR-load list, at their places.
  const has = (l: LaneId) => stages.some((s) => s.lane === l);
  const toldAt = () => {
    const i = stages.findIndex((s, j) => j > 0 && s.lane === "l1");
    return i < 0 ? stages.length : i;
  };
  for (const lane of ["software", "merge", "dry-run", "msr-load", "entry"] as const) {
    if (has(lane)) continue;
    if (lane === "msr-load" && has("entry")) {
      // reached, but vmcs12 has no MSR-load entries
      stages.splice(
        stages.findIndex((s) => s.lane === "entry"),
        0,
        { lane, status: "skipped", title: "nothing to load: vmcs12's VM-entry MSR-load count is 0", saw: [] },
      );
      continue;
    }
    stages.splice(toldAt(), 0, {
      lane,
      status: "not-reached",
      title: `not reached: the outcome was decided by ${stageName(r.detectedBy)}`,
      saw: [],
    });
  }
  return { stages, fields: fieldsSeen(r, vmcs12, vmcs02, dryRun), told };
}

function stageName(by: NestedResult["detectedBy"]): string {
  switch (by) {
    case "instruction":
      return "the instruction checks";
    case "software":
      return "L0's software checks";
    case "dry-run":
      return "the dry run";
    case "msr-load":
      return "the MSR-load list";
    case "hardware":
      return "the real entry";
    case "kvm":
      return "KVM's internal error";
    default:
      return "an earlier stage";
  }
}

/** The verdict on L1's outcome in a few words, as the model classifies it. */
export const DETECTION_TEXT: Record<NestedResult["detection"], string> = {
  entered: "valid vmcs12: L2 entered",
  early: "caught early: before any guest-visible side effect",
  late: "caught late: only by the real VM entry, after L0 acted on guest state",
  missed: "missed: L1 is told the entry succeeded, the architecture rejects vmcs12",
  "false-failure": "false failure: L1 is told the entry failed, the architecture accepts vmcs12",
  "internal-error": "KVM internal error: L1 sees nothing",
};
