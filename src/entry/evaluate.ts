/**
 * VM entry as the architecture orders it (SDM 29.1–29.4): basic checks decide alone; then controls (error 7)
 * and host state (error 8) — which a processor may check in either order —, then guest state (exit 33),
 * then MSR loading (exit 34). Every failing check is listed; the outcome is that of the first failing class.
 */
import * as archFields from "../arch/fields.js";
import { exitMsrLoadWarnings } from "../checks/msr-load.js";
import { CHECKS } from "../checks/registry.js";
import { type Check, type Ctx, type Outcome, srcOf } from "../checks/types.js";
import type { Caps, CapsFacts, UncertainFact } from "../cpu/profile.js";
import { Memory } from "../vmcs/memory.js";
import type { Vmcs } from "../vmcs/store.js";
import { compileRunner, type Runner } from "./fast.js";

const { F } = archFields;

/** A broken rule: the check's id, its SDM section, the outcome it causes, a message, and the fields with their values. */
export interface Violation {
  id: string;
  sdm: string;
  /**
   * Built when first read (or when the result is serialized), from the state as evaluated: reading it after
   * the VMCS or memory changed (through their methods) throws, so read or serialize messages first.
   */
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

function messageOf(c: Check, ctx: Ctx): string {
  try {
    return c.message(ctx);
  } catch (e) {
    return `${c.rule} (message failed: ${(e as Error).message})`;
  }
}

/**
 * Checks whose predicates read the processor state (or cannot be read as source): their messages are built at
 * once, since the processor state is a plain object whose changes nvmx cannot see. The others read the VMCS,
 * memory and the profile, whose changes are counted.
 */
const processorReaders = new WeakMap<Check, boolean>();
function readsProcessor(c: Check): boolean {
  let r = processorReaders.get(c);
  if (r === undefined) {
    const src = [c.when, c.fail].map((f) => (f === undefined ? "" : (srcOf(f) ?? "c.proc_")));
    r = src.some((t) => /\bc\.proc_\b/.test(t));
    processorReaders.set(c, r);
  }
  return r;
}

/**
 * A violation whose message is built when first read (a fuzzer reading ids and fields never pays for it),
 * from the live state: the VMCS and memory must not have changed since the evaluation. A change through their
 * methods (`Vmcs.set`, `setHalves`, `vmwrite`; `Memory.write32` and the like, counted in their `version`)
 * makes the read throw instead of describing another state; read (or serialize) a result's messages before
 * changing its state. `toJSON` gives the plain object (id, sdm, message, fields), so serializing a result
 * builds the messages.
 */
class LazyViolation implements Violation {
  readonly id: string;
  readonly sdm: string;
  readonly fields: string[];
  readonly #check: Check;
  readonly #ctx: Ctx;
  readonly #vmcs: Vmcs;
  readonly #version: number;
  readonly #mem: Memory;
  readonly #memVersion: number;
  readonly #caps: Caps;
  #message: string | undefined;

  constructor(c: Check, ctx: Ctx) {
    this.id = c.id;
    this.sdm = c.sdm;
    this.fields = c.fields.slice();
    this.#check = c;
    this.#ctx = ctx;
    this.#vmcs = ctx.vmcs;
    this.#version = ctx.vmcs.version;
    this.#mem = ctx.mem;
    this.#memVersion = ctx.mem.version;
    this.#caps = ctx.caps;
  }

  get message(): string {
    if (this.#message === undefined) {
      const ctx = this.#ctx;
      if (
        ctx.vmcs !== this.#vmcs ||
        this.#vmcs.version !== this.#version ||
        ctx.mem !== this.#mem ||
        this.#mem.version !== this.#memVersion ||
        ctx.caps !== this.#caps
      )
        throw new Error(
          `the message of ${this.id} was read after the state changed: read (or serialize) a result's messages before changing its VMCS or memory`,
        );
      ctx.refresh();
      this.#message = messageOf(this.#check, ctx);
    }
    return this.#message;
  }

  toJSON(): Violation {
    return { id: this.id, sdm: this.sdm, message: this.message, fields: this.fields };
  }
}

/** A violation with its message built now. */
function eagerViolation(c: Check, ctx: Ctx): Violation {
  return { id: c.id, sdm: c.sdm, message: messageOf(c, ctx), fields: c.fields.slice() };
}

/** A violation: its message built now (checks that read the processor state) or when read. */
function violation(c: Check, ctx: Ctx): Violation {
  return readsProcessor(c) ? eagerViolation(c, ctx) : new LazyViolation(c, ctx);
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

/** Full evaluation: outcome, every violation, alternatives (check order, CPU facts), warnings. */
export function evaluate(ctx: Ctx, checks: readonly Check[] = CHECKS): EntryResult {
  const failing = failingChecks(ctx, checks);
  const cpu = cpuFactPossibles(ctx, checks, failing);
  const warnings = ctx.lo(EXIT_MSR_LOAD_COUNT) !== 0 ? exitMsrLoadWarnings(ctx) : undefined;
  if (failing.length === 0 && cpu === undefined && warnings === undefined) return ENTERED;
  const d = decide(failing, ctx);
  const violations: Violation[] = new Array(failing.length);
  for (let i = 0; i < failing.length; i++) violations[i] = violation(failing[i]!, ctx);
  const possible = cpu ? [...(d.possible ?? []), ...cpu] : d.possible;
  // Same key order as before (outcome, possibleOutcomes, violations, possible), built without an object spread.
  const outcomes = possible ? outcomesOf(d.outcome, possible) : undefined;
  const r: EntryResult = possible
    ? outcomes!.length > 1
      ? { outcome: d.outcome, possibleOutcomes: outcomes!, violations, possible }
      : { outcome: d.outcome, violations, possible }
    : { outcome: d.outcome, violations };
  if (warnings) r.warnings = warnings;
  return r;
}

/** `outcome`, then every distinct outcome of the possible findings that differs from it (omitted alone). */
function outcomesOf(outcome: Outcome, possible: readonly Possible[]): Outcome[] {
  const out = [outcome];
  for (const p of possible) if (!out.some((o) => sameOutcome(o, p.outcome))) out.push(p.outcome);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The cpu-fact pass (docs/architecture.md §1): a profile decodes to a lenient reading (the Caps the checks
// ran on above) and, per fact it does not decide, a strict one (src/cpu/profile.ts, UncertainFact). The
// checks that read such a fact are run again on its strict reading; what fails only there is a possible
// finding. A profile whose facts decide everything costs nothing here; otherwise one run of the checks that
// read any uncertain fact, on the narrowest reading, tells whether anything can change (almost never for a
// valid state), and only then is each fact tried alone.

const EXIT_MSR_LOAD_COUNT = F.VM_EXIT_MSR_LOAD_COUNT!;
const ENTRY_MSR_LOAD_COUNT = F.VM_ENTRY_MSR_LOAD_COUNT!;
const ENTRY_MSR_LOAD_ADDR = F.VM_ENTRY_MSR_LOAD_ADDR!;
/** Distinct uncertain MSRs of one MSR-load list tried alone (each may be its own possible exit 34). */
const MAX_MSR_FACTS = 16;

interface Derived {
  checks: readonly Check[];
  run: Runner;
  out: Int32Array;
}

/**
 * Does the check read any of these Caps fields? Its predicates' source says (`c.caps.<key>`); the MSR-load
 * checks model WRMSR and so read every MSR fact, through helpers.
 */
function readsAny(c: Check, keys: readonly string[]): boolean {
  if (c.cls === "msr-load") return true;
  const text = [c.when, c.fail].map((f) => (f ? (srcOf(f) ?? String(f)) : "")).join("\n");
  return keys.some((k) => new RegExp(`\\bcaps\\.${k}\\b`).test(text));
}

const derivedLists = new WeakMap<readonly Check[], Map<string, Derived>>();

/** The checks of `checks` that read any of `keys`, with their compiled runner (cached per list and keys). */
function derived(checks: readonly Check[], keys: readonly string[]): Derived {
  let byKeys = derivedLists.get(checks);
  if (!byKeys) {
    byKeys = new Map();
    derivedLists.set(checks, byKeys);
  }
  const id = keys.join(",");
  let d = byKeys.get(id);
  if (!d) {
    const list = checks.filter((c) => readsAny(c, keys));
    d = { checks: list, run: compileRunner(list, { refreshed: true }), out: new Int32Array(list.length) };
    byKeys.set(id, d);
  }
  return d;
}

/** Runs `d` with the context's profile replaced by `caps`; returns the failing checks. */
function runOn(ctx: Ctx, caps: Caps, d: Derived): Check[] {
  const lenient = ctx.caps;
  ctx.caps = caps;
  try {
    const n = d.run(ctx, d.out);
    const res: Check[] = new Array(n);
    for (let i = 0; i < n; i++) res[i] = d.checks[d.out[i]!]!;
    return res;
  } finally {
    ctx.caps = lenient;
  }
}

/** The findings of `strict` that the lenient run did not make (an MSR-load check meeting an earlier entry counts). */
function added(ctx: Ctx, caps: Caps, strict: readonly Check[], failing: readonly Check[]): Check[] {
  const out: Check[] = [];
  for (const c of strict) {
    if (!failing.includes(c)) out.push(c);
    else if (c.entryIndex) {
      const lenientAt = c.entryIndex(ctx);
      const lenient = ctx.caps;
      ctx.caps = caps;
      try {
        if (c.entryIndex(ctx) !== lenientAt) out.push(c);
      } finally {
        ctx.caps = lenient;
      }
    }
  }
  return out;
}

/** The uncertain MSRs an MSR-load list names, as facts (bounded). */
function msrFacts(ctx: Ctx): UncertainFact[] {
  const facts = ctx.caps.facts;
  const n = Math.min(ctx.lo(ENTRY_MSR_LOAD_COUNT), ctx.caps.maxMsrList);
  const out: UncertainFact[] = [];
  let a = Memory.addr(ctx.lo(ENTRY_MSR_LOAD_ADDR), ctx.hi(ENTRY_MSR_LOAD_ADDR));
  for (let i = 0; i < n && out.length < MAX_MSR_FACTS; i++, a += 16) {
    const f = facts.msrFact(ctx.mem.read32(a));
    if (f && !out.includes(f)) out.push(f);
  }
  return out;
}

/** Per list of checks and profile: the union of the checks reading any uncertain mask fact (and MSR facts). */
const unions = new WeakMap<readonly Check[], WeakMap<CapsFacts, [Derived, Derived]>>();
/** The last union looked up (the common case: one list, one profile), found without a WeakMap lookup. */
let lastUnion: { checks: readonly Check[]; facts: CapsFacts; pair: [Derived, Derived] } | undefined;

function unionOf(checks: readonly Check[], facts: CapsFacts, withMsr: boolean): Derived {
  const last = lastUnion;
  if (last !== undefined && last.checks === checks && last.facts === facts) return last.pair[withMsr ? 1 : 0];
  let byFacts = unions.get(checks);
  if (!byFacts) {
    byFacts = new WeakMap();
    unions.set(checks, byFacts);
  }
  let pair = byFacts.get(facts);
  if (!pair) {
    const keys = [...new Set(facts.uncertain.flatMap((f) => f.keys))].sort();
    pair = [derived(checks, keys), derived(checks, [...keys, "msrLoad"].sort())];
    byFacts.set(facts, pair);
  }
  lastUnion = { checks, facts, pair };
  return pair[withMsr ? 1 : 0];
}

function cpuFactPossibles(
  ctx: Ctx,
  checks: readonly Check[],
  failing: readonly Check[],
): Possible[] | undefined {
  const facts = ctx.caps.facts;
  const listed = ctx.lo(ENTRY_MSR_LOAD_COUNT) !== 0;
  if (!facts.anyUncertainMask && !listed) return undefined;
  const msr = listed ? msrFacts(ctx) : undefined;
  if (!facts.anyUncertainMask && !msr?.length) return undefined;
  // One run of every check that reads an uncertain fact, on the narrowest reading: nothing new, no finding.
  const all = unionOf(checks, facts, msr !== undefined && msr.length > 0);
  const narrow = facts.conservative();
  const lenient = ctx.caps;
  ctx.caps = narrow;
  let n: number;
  try {
    n = all.run(ctx, all.out);
  } finally {
    ctx.caps = lenient;
  }
  if (n === 0) return undefined;
  const strict: Check[] = new Array(n);
  for (let i = 0; i < n; i++) strict[i] = all.checks[all.out[i]!]!;
  if (added(ctx, narrow, strict, failing).length === 0) return undefined;
  const masks = facts.uncertain;
  const out: Possible[] = [];
  for (const f of msr?.length ? [...masks, ...msr] : masks) {
    const d = derived(checks, f.keys);
    const extra = added(ctx, f.caps, runOn(ctx, f.caps, d), failing);
    if (!extra.length) continue;
    ctx.caps = f.caps;
    try {
      const merged = checks.filter((c) => failing.includes(c) || extra.includes(c));
      out.push({
        why: "cpu-fact",
        dependsOn: [...f.dependsOn],
        condition: f.condition,
        outcome: decide(merged, ctx).outcome,
        // built now: the context's profile is this fact's strict reading only here
        violations: extra.map((c) => eagerViolation(c, ctx)),
      });
    } finally {
      ctx.caps = lenient;
    }
  }
  return out.length ? out : undefined;
}
