/**
 * nvmx's prediction on each final document against what the CPU did (the probe's log), with an agreement table
 * per outcome class and, per disagreement, both outcomes, the rule ids nvmx names and — for Bochs — the known
 * deviations that explain it (src/probe/deviations.ts).
 */
import { CHECKS } from "../checks/registry.js";
import type { Outcome } from "../checks/types.js";
import type { Entry } from "../entry/document.js";
import { type EntryResult, sameOutcome } from "../entry/evaluate.js";
import { runEntry } from "../entry/run.js";
import type { BochsDeviation } from "./deviations.js";
import type { ProbeLog, ProbeResult } from "./log.js";
import type { PreparedState } from "./prepare.js";

export type Observed =
  /** `stoppedBy`: the VM exit (basic reason) that ended an entered guest; undefined when the watchdog did. */
  | { kind: "outcome"; outcome: Outcome; stoppedBy?: number; didNotStop?: boolean }
  | { kind: "crash"; detail: string }
  | { kind: "probe-error"; detail: string }
  | { kind: "not-run" };

export function observe(r: ProbeResult | undefined): Observed {
  if (!r) return { kind: "not-run" };
  switch (r.kind) {
    case "vmfail-invalid":
      return { kind: "outcome", outcome: { type: "vmfail-invalid" } };
    case "vmfail-valid":
      return { kind: "outcome", outcome: { type: "vmfail-valid", error: r.error } };
    case "exit":
      // bit 31 of the exit reason: VM-entry failure (SDM 28.2.1)
      if (r.reason & 0x80000000)
        return {
          kind: "outcome",
          outcome: { type: "vmexit", reason: r.reason & 0xffff, qualification: Number(r.qualification) },
        };
      return { kind: "outcome", outcome: { type: "entered" }, stoppedBy: r.reason & 0xffff };
    case "no-result":
      if (r.why === "watchdog") return { kind: "outcome", outcome: { type: "entered" }, didNotStop: true };
      return { kind: "crash", detail: r.detail ?? "the machine ended without a result" };
    case "exception":
      return {
        kind: "crash",
        detail: `exception ${r.vector} (error code 0x${r.error.toString(16)}) at RIP 0x${r.rip.toString(16)} in the probe`,
      };
    case "probe-error":
      return { kind: "probe-error", detail: r.detail };
  }
}

/**
 * agree: the CPU's outcome is nvmx's, or one of the outcomes nvmx names as possible (an order the SDM leaves
 * open, or a CPU fact the profile does not settle, e.g. whether an MSR exists).
 */
export type Verdict = "agree" | "deviation" | "unexplained" | "no-result" | "skipped";

export interface Compared {
  p: PreparedState;
  nvmx?: EntryResult;
  observed: Observed;
  verdict: Verdict;
  /** Deviations that explain a disagreement. */
  deviations: string[];
}

const phase = (o: Outcome): number =>
  o.type === "vmfail-invalid" || o.type === "fault"
    ? 0
    : o.type === "vmfail-valid"
      ? o.error === 7 || o.error === 8
        ? 2
        : 1
      : o.type === "vmexit"
        ? o.reason === 34
          ? 4
          : 3
        : 5;
const PHASE = { control: 2, host: 2, guest: 3 } as const;

/** What a CPU with these departures from the SDM does with `e`: its possible outcomes, and whether it crashes. */
export function modelOutcomes(
  e: Entry,
  devs: readonly BochsDeviation[],
): { outcomes: Outcome[]; crash: boolean } {
  const applied = devs.filter((d) => !d.when || d.when(e));
  const missing = new Set(applied.flatMap((d) => d.missing ?? []));
  const r = runEntry(e, missing.size ? CHECKS.filter((c) => !missing.has(c.id)) : CHECKS);
  let outcomes = r.possibleOutcomes ?? [r.outcome];
  for (const d of applied) {
    if (!d.extra?.holds(e)) continue;
    const p = PHASE[d.extra.phase];
    if (outcomes.every((o) => phase(o) > p)) outcomes = [d.extra.outcome];
    else if (outcomes.some((o) => phase(o) === p) && !outcomes.some((o) => sameOutcome(o, d.extra!.outcome)))
      outcomes = [...outcomes, d.extra.outcome];
  }
  const full = new Set(runEntry(e).violations.map((v) => v.id));
  const crash =
    outcomes.some((o) => o.type === "entered") &&
    applied.some((d) => d.crashesWhenEntered && (d.missing ?? []).some((id) => full.has(id)));
  return { outcomes, crash };
}

function matches(obs: Observed, outcomes: readonly Outcome[]): boolean {
  return obs.kind === "outcome" && outcomes.some((o) => sameOutcome(o, obs.outcome));
}

/** A crash after an entry nvmx (or the model) lets through, on a host state kept from the state, is that entry. */
function crashIsEntry(outcomes: readonly Outcome[], r: EntryResult): boolean {
  return (
    outcomes.some((o) => o.type === "entered") &&
    r.violations.some((v) => CHECKS.find((c) => c.id === v.id)?.cls === "host")
  );
}

export function compareOne(p: PreparedState, log: ProbeLog, devs: readonly BochsDeviation[]): Compared {
  if (p.skip) return { p, observed: { kind: "not-run" }, verdict: "skipped", deviations: [] };
  const nvmx = runEntry(p.final);
  const observed = observe(log.states.get(p.n)?.result);
  const predicted = nvmx.possibleOutcomes ?? [nvmx.outcome];
  if (matches(observed, predicted)) return { p, nvmx, observed, verdict: "agree", deviations: [] };
  if (observed.kind === "not-run" || observed.kind === "probe-error")
    return { p, nvmx, observed, verdict: "no-result", deviations: [] };
  const explains = (set: readonly BochsDeviation[]): boolean => {
    const m = modelOutcomes(p.final, set);
    if (observed.kind === "crash") return m.crash || crashIsEntry(m.outcomes, nvmx);
    return matches(observed, m.outcomes);
  };
  if (!explains(devs))
    return {
      p,
      nvmx,
      observed,
      verdict: observed.kind === "crash" && nvmx.outcome.type === "entered" ? "no-result" : "unexplained",
      deviations: [],
    };
  // the deviations it takes: those without which the model no longer explains it (else every one that applies)
  const applied = devs.filter((d) => (!d.when || d.when(p.final)) && (d.missing || d.extra?.holds(p.final)));
  const needed = applied.filter((d) => !explains(devs.filter((x) => x !== d)));
  const used = needed.length ? needed : applied.filter((d) => explains([d]));
  return {
    p,
    nvmx,
    observed,
    verdict: "deviation",
    deviations: (used.length ? used : applied).map((d) => d.id),
  };
}

export function compareAll(
  prepared: readonly PreparedState[],
  log: ProbeLog,
  devs: readonly BochsDeviation[],
): Compared[] {
  return prepared.map((p) => compareOne(p, log, devs));
}

// ---- reporting

export function outcomeLabel(o: Outcome): string {
  switch (o.type) {
    case "entered":
      return "entered";
    case "vmfail-invalid":
      return "VMfailInvalid";
    case "vmfail-valid":
      return `VMfailValid(${o.error})`;
    case "vmexit":
      return `exit ${o.reason}${o.reason === 33 ? ` (qual. ${o.qualification})` : o.reason === 34 ? ` (entry ${o.qualification})` : ""}`;
    case "fault":
      return o.exception;
  }
}

/** Row label: the outcome class (exit 34 entries and exit 33 qualifications grouped). */
export function classLabel(o: Outcome): string {
  if (o.type === "vmexit")
    return o.reason === 33
      ? "exit 33 (invalid guest state)"
      : o.reason === 34
        ? "exit 34 (MSR loading)"
        : `exit ${o.reason}`;
  if (o.type === "vmfail-valid")
    return o.error === 7
      ? "VMfailValid(7) controls"
      : o.error === 8
        ? "VMfailValid(8) host state"
        : `VMfailValid(${o.error})`;
  return outcomeLabel(o);
}

export function observedLabel(o: Observed): string {
  switch (o.kind) {
    case "outcome":
      if (o.outcome.type === "entered")
        return o.didNotStop ? "entered (did not stop)" : `entered (stopped by exit ${o.stoppedBy})`;
      return outcomeLabel(o.outcome);
    case "crash":
      return `crash: ${o.detail}`;
    case "probe-error":
      return `probe error: ${o.detail}`;
    case "not-run":
      return "not run";
  }
}

export interface TableRow {
  cls: string;
  states: number;
  agree: number;
  deviation: number;
  unexplained: number;
  noResult: number;
  /** States (of this row) whose intended violation the probe's changes removed. */
  removed: number;
}

const ORDER = [
  "entered",
  "VMfailInvalid",
  "VMfailValid(4)",
  "VMfailValid(5)",
  "VMfailValid(7) controls",
  "VMfailValid(8) host state",
  "exit 33 (invalid guest state)",
  "exit 34 (MSR loading)",
];

export function agreementTable(rows: readonly Compared[]): {
  rows: TableRow[];
  total: TableRow;
  skipped: Map<string, number>;
} {
  const by = new Map<string, TableRow>();
  const skipped = new Map<string, number>();
  const total: TableRow = {
    cls: "all",
    states: 0,
    agree: 0,
    deviation: 0,
    unexplained: 0,
    noResult: 0,
    removed: 0,
  };
  for (const c of rows) {
    if (c.verdict === "skipped") {
      const why = (c.p.skip ?? "").replace(/ = .*/, "");
      skipped.set(why, (skipped.get(why) ?? 0) + 1);
      continue;
    }
    const cls = classLabel(c.nvmx!.outcome);
    let r = by.get(cls);
    if (!r) {
      r = { cls, states: 0, agree: 0, deviation: 0, unexplained: 0, noResult: 0, removed: 0 };
      by.set(cls, r);
    }
    for (const t of [r, total]) {
      t.states++;
      if (c.verdict === "agree") t.agree++;
      else if (c.verdict === "deviation") t.deviation++;
      else if (c.verdict === "unexplained") t.unexplained++;
      else t.noResult++;
      if (c.p.removed.length) t.removed++;
    }
  }
  const list = [...by.values()].sort((a, b) => {
    const ia = ORDER.indexOf(a.cls);
    const ib = ORDER.indexOf(b.cls);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.cls.localeCompare(b.cls);
  });
  return { rows: list, total, skipped };
}

export function formatTable(t: ReturnType<typeof agreementTable>): string {
  const head =
    "| nvmx outcome (final documents) | states | agree | CPU deviation | unexplained | no result | intended violation removed by the probe |";
  const sep = "|---|---:|---:|---:|---:|---:|---:|";
  const line = (r: TableRow) =>
    `| ${r.cls} | ${r.states} | ${r.agree} | ${r.deviation} | ${r.unexplained} | ${r.noResult} | ${r.removed} |`;
  const out = [head, sep, ...t.rows.map(line), line({ ...t.total, cls: "**all**" })];
  const sk = [...t.skipped].map(([why, n]) => `${n} × ${why}`).join(", ");
  if (sk) out.push("", `Skipped (processor state the probe cannot set): ${sk}.`);
  return out.join("\n");
}
