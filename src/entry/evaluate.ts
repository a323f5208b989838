/**
 * VM entry as the architecture orders it (SDM 29.1–29.4): basic checks decide alone; then controls (error 7)
 * and host state (error 8) — which a processor may check in either order —, then guest state (exit 33),
 * then MSR loading (exit 34). Every failing check is listed; the outcome is that of the first failing class.
 */
import { CHECKS } from "../checks/registry.js";
import type { Check, Ctx, Outcome } from "../checks/types.js";
import { compileRunner, type Runner } from "./fast.js";

export interface Violation {
  id: string;
  sdm: string;
  message: string;
  fields: string[];
}

/** Why a finding is uncertain (docs/architecture.md, "Result model"). */
export type PossibleWhy = "check-order" | "unknown-field" | "cpu-fact";

/**
 * A finding nvmx cannot make definite: an outcome the entry has if a condition holds that the input does not
 * decide (the processor's check order, a field the input lacks, a fact about the CPU the profile lacks).
 */
export interface Possible {
  why: PossibleWhy;
  /** check-order: the check ids whose order decides; unknown-field: field names; cpu-fact: profile fact keys. */
  dependsOn: string[];
  /** The condition, one line for people ("if the processor checks host state before controls"). */
  condition: string;
  /** The entry's outcome if the condition holds. */
  outcome: Outcome;
  /** The findings that would hold (empty for check-order: those are definite already). */
  violations: Violation[];
}

/** A true fact about the state that is not an entry outcome (e.g. a VM-exit MSR-load entry that will abort). */
export interface Warning {
  id: string;
  sdm: string;
  message: string;
  fields: string[];
}

/** What VM entry does with a state: definite findings, and what nvmx cannot decide (docs/contract.md). */
export interface EntryResult {
  /** The outcome the definite findings decide, in nvmx's order (controls, host state, guest, MSR loading). */
  outcome: Outcome;
  /** Every definite finding, in SDM order. */
  violations: Violation[];
  /** `outcome` first, then every other outcome a possible finding leads to (absent when there is none). */
  possibleOutcomes?: Outcome[];
  /** Uncertain findings (absent when there is none). */
  possible?: Possible[];
  /** Facts that are not entry outcomes (absent when there is none). */
  warnings?: Warning[];
}

function violation(c: Check, ctx: Ctx): Violation {
  let message: string;
  try {
    message = c.message(ctx);
  } catch (e) {
    message = `${c.rule} (message failed: ${(e as Error).message})`;
  }
  return { id: c.id, sdm: c.sdm, message, fields: c.fields.slice() };
}

/** Reference evaluation: a plain loop over the registry (the fast path must agree with it). */
export function failingChecksReference(ctx: Ctx, checks: readonly Check[] = CHECKS): Check[] {
  ctx.refresh();
  const out: Check[] = [];
  for (const c of checks) if ((c.when === undefined || c.when(ctx)) && c.fail(ctx)) out.push(c);
  return out;
}

interface Compiled {
  run: Runner;
  out: Int32Array;
}
const runners = new WeakMap<readonly Check[], Compiled>();
/** The last list asked for (almost always the registry): found without a WeakMap lookup. */
let lastChecks: readonly Check[] | undefined;
let lastRunner: Compiled | undefined;

function runnerFor(checks: readonly Check[]): Compiled {
  if (checks === lastChecks) return lastRunner!;
  let r = runners.get(checks);
  if (!r) {
    r = { run: compileRunner(checks), out: new Int32Array(checks.length) };
    runners.set(checks, r);
  }
  lastChecks = checks;
  lastRunner = r;
  return r;
}

/** Number of failing checks, without allocating (the hot path of batch checking and fuzzing). */
export function countFailures(ctx: Ctx, checks: readonly Check[] = CHECKS): number {
  const r = runnerFor(checks);
  return r.run(ctx, r.out);
}

/** The failing checks, in order. Allocation-free when nothing fails. */
export function failingChecks(ctx: Ctx, checks: readonly Check[] = CHECKS): Check[] {
  const r = runnerFor(checks);
  const n = r.run(ctx, r.out);
  if (n === 0) return EMPTY;
  const res: Check[] = new Array(n);
  for (let i = 0; i < n; i++) res[i] = checks[r.out[i]!]!;
  return res;
}
const EMPTY: Check[] = [];

function outcomeOf(c: Check, ctx: Ctx): Outcome {
  switch (c.cls) {
    case "basic":
      return c.outcome ?? { type: "vmfail-invalid" };
    case "control":
      return { type: "vmfail-valid", error: c.error ?? 7 };
    case "host":
      return { type: "vmfail-valid", error: 8 };
    case "guest":
      return { type: "vmexit", reason: 33, qualification: c.qualification ?? 0 };
    case "msr-load":
      return { type: "vmexit", reason: 34, qualification: c.entryIndex ? c.entryIndex(ctx) : 1 };
  }
}

/** Two outcomes are the same architectural result. */
export function sameOutcome(a: Outcome, b: Outcome): boolean {
  switch (a.type) {
    case "vmfail-valid":
      return b.type === "vmfail-valid" && a.error === b.error;
    case "vmexit":
      return b.type === "vmexit" && a.reason === b.reason && a.qualification === b.qualification;
    case "fault":
      return b.type === "fault" && a.exception === b.exception;
    default:
      return a.type === b.type;
  }
}

/** Decide the outcome from the failing checks (already in architectural order). */
export function decide(
  failing: readonly Check[],
  ctx: Ctx,
): Pick<EntryResult, "outcome" | "possibleOutcomes" | "possible"> {
  if (failing.length === 0) return { outcome: { type: "entered" } };
  const first = failing[0]!;
  if (first.cls === "basic") return { outcome: outcomeOf(first, ctx) };
  if (first.cls === "msr-load") {
    // SDM 29.4: entries are processed in order; the first failing entry's index is the qualification.
    let min = Number.POSITIVE_INFINITY;
    for (const c of failing)
      if (c.cls === "msr-load") min = Math.min(min, c.entryIndex ? c.entryIndex(ctx) : 1);
    return { outcome: { type: "vmexit", reason: 34, qualification: min } };
  }
  const outcome = outcomeOf(first, ctx);
  // SDM 29.2: controls and host state may be checked in any order; guest checks' qualifications likewise
  // depend on which failing check the processor meets first.
  const possible: Possible[] = [];
  const guestPhase = first.cls === "guest";
  for (const c of failing) {
    if (guestPhase ? c.cls !== "guest" : c.cls !== "control" && c.cls !== "host") continue;
    const o = outcomeOf(c, ctx);
    if (sameOutcome(o, outcome)) continue;
    const have = possible.find((p) => sameOutcome(p.outcome, o));
    if (have) {
      have.dependsOn.push(c.id);
      continue;
    }
    possible.push({
      why: "check-order",
      dependsOn: [c.id],
      condition: orderCondition(first, c),
      outcome: o,
      violations: [],
    });
  }
  if (!possible.length) return { outcome };
  return { outcome, possibleOutcomes: [outcome, ...possible.map((p) => p.outcome)], possible };
}

/** The check order under which a processor meets `c` before `first` (SDM 29.2, 29.8). */
function orderCondition(first: Check, c: Check): string {
  if (c.cls === "host" && first.cls === "control")
    return "if the processor checks host state before the controls (SDM 29.2 allows either order)";
  if (c.cls === "control" && first.cls === "host")
    return "if the processor checks the controls before host state (SDM 29.2 allows either order)";
  return `if the processor meets ${c.id} before ${first.id} (SDM 29.3 does not fix the order of guest-state checks)`;
}

/** The result of a valid state: shared and frozen, so the valid path allocates nothing. */
const ENTERED: EntryResult = Object.freeze({
  outcome: Object.freeze({ type: "entered" }) as Outcome,
  violations: Object.freeze([]) as unknown as Violation[],
});

/** Full evaluation: outcome, every violation, alternatives. */
export function evaluate(ctx: Ctx, checks: readonly Check[] = CHECKS): EntryResult {
  const failing = failingChecks(ctx, checks);
  if (failing.length === 0) return ENTERED;
  const d = decide(failing, ctx);
  const violations: Violation[] = new Array(failing.length);
  for (let i = 0; i < failing.length; i++) violations[i] = violation(failing[i]!, ctx);
  // Same key order as before (outcome, possibleOutcomes, violations, possible), built without an object spread.
  return d.possible
    ? { outcome: d.outcome, possibleOutcomes: d.possibleOutcomes!, violations, possible: d.possible }
    : { outcome: d.outcome, violations };
}
