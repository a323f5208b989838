/**
 * Single-rule violations (issue 7): for any check of the registry, a state that fails exactly that check.
 * Nothing here knows a particular rule. The search starts from valid states of every mode the profile
 * supports and several feature levels (so the check's `when` gate holds in some of them), then tries
 * mutations of the targets the check declares (`check.fields`) — every single-bit flip, boundary values (0,
 * all ones, ±1, one past the MAXPHYADDR bit, canonical edges for 48/57 bits, limit/granularity edges, every
 * value of each nibble), values the same field has in other valid states and values of the check's other
 * fields — plus the processor state and the memory words VM entry reads (VMCS link pointer, PDPTEs, virtual
 * TPR, MSR-load entries). A mutation that makes the check fail together with others is extended by a second
 * mutation over the other failing checks' fields. The result is a recipe (target + operation) that can be
 * replayed on other valid states, so one search yields many different violating states.
 */
import { F, FIELDS, type FieldDef, type FieldName, fieldByName } from "../arch/fields.js";
import type { Reads } from "../checks/compile.js";
import { CHECKS, checkById } from "../checks/registry.js";
import type { RuleCheck } from "../checks/rule.js";
import { type Check, Ctx } from "../checks/types.js";
import type { Caps } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import { countFailures, failingChecks } from "../entry/evaluate.js";
import { DEFAULT_PROCESSOR, type ProcessorState } from "../entry/processor.js";
import { baseEntry } from "./base.js";
import { boundReason, coFailing, exemption } from "./bound.js";
import { Rng } from "./rng.js";
import { type FeatureLevel, generateValid, type Mode, modesFor } from "./valid.js";

// ---------------------------------------------------------------------------------------------------------
// Targets and mutations

/** Memory regions VM entry reads, located from the state itself. */
export type MemRef = "link" | "pdpt" | "vtpr" | "msr-load";

export type Target =
  | { kind: "field"; index: number }
  | { kind: "proc"; key: keyof ProcessorState }
  | { kind: "mem"; ref: MemRef; offset: number };

export interface Mutation {
  target: Target;
  /** "xor" flips bits of the current value; "set" writes a value. */
  op: "xor" | "set";
  lo: number;
  hi: number;
}

const TWO32 = 0x100000000;

export function targetName(t: Target): string {
  if (t.kind === "field") return FIELDS[t.index]!.name;
  if (t.kind === "proc") return `processor.${t.key}`;
  return `memory[${t.ref}+0x${t.offset.toString(16)}]`;
}

/** Physical address of a memory target in a state, or undefined when the state has no such region. */
export function memAddress(e: Entry, ref: MemRef, offset: number): number | undefined {
  const v = e.vmcs;
  const num = (f: number) => v.hi(f) * TWO32 + v.lo(f);
  switch (ref) {
    case "link": {
      if (v.lo(F.VMCS_LINK_POINTER!) === 0xffffffff && v.hi(F.VMCS_LINK_POINTER!) === 0xffffffff)
        return undefined;
      return num(F.VMCS_LINK_POINTER!) + offset;
    }
    case "pdpt":
      return ((v.lo(F.GUEST_CR3!) & ~0x1f) >>> 0) + offset;
    case "vtpr":
      return num(F.VIRTUAL_APIC_PAGE_ADDR!) + 0x80 + offset;
    case "msr-load": {
      const n = v.lo(F.VM_ENTRY_MSR_LOAD_COUNT!);
      if (offset >= 16 * Math.min(n, 8)) return undefined;
      return num(F.VM_ENTRY_MSR_LOAD_ADDR!) + offset;
    }
  }
}

type ProcKey = keyof ProcessorState;
type ProcValue = string | number | boolean | undefined;

/** Processor keys holding a physical address (extensions of the processor state). */
const ADDRESS_KEYS: readonly ProcKey[] = ["vmxonPointer", "currentVmcsPointer"];
const ENUMS: Partial<Record<ProcKey, readonly ProcValue[]>> = {
  instruction: ["vmlaunch", "vmresume"],
  launchState: ["clear", "launched"],
  executiveVmcsLaunchState: ["clear", "launched"],
  cpl: [0, 1, 2, 3],
};
/** Every processor key with its values (booleans, enumerations), derived from the defaults. */
const PROC_VALUES: readonly [ProcKey, readonly ProcValue[]][] = (Object.keys(DEFAULT_PROCESSOR) as ProcKey[])
  .filter((k) => !ADDRESS_KEYS.includes(k))
  .map((k): [ProcKey, readonly ProcValue[]] => [
    k,
    ENUMS[k] ?? (typeof DEFAULT_PROCESSOR[k] === "boolean" ? [true, false] : [DEFAULT_PROCESSOR[k]]),
  ]);

function readTarget(e: Entry, t: Target): [number, number] | undefined {
  if (t.kind === "field") return [e.vmcs.lo(t.index), e.vmcs.hi(t.index)];
  if (t.kind === "proc") {
    const v = e.processor[t.key];
    if (ADDRESS_KEYS.includes(t.key)) {
      const n = typeof v === "number" ? v : 0;
      return [n % TWO32, Math.floor(n / TWO32)];
    }
    return [PROC_VALUES.find((p) => p[0] === t.key)![1].indexOf(v), 0];
  }
  const a = memAddress(e, t.ref, t.offset);
  if (a === undefined) return undefined;
  return [e.memory.read32(a), 0];
}

/** A field's halves as its width keeps them (a 16-bit field has bits 15:0, a 16- or 32-bit one no high half). */
const lowHalf = (w: FieldDef["width"], lo: number): number => (w === 16 ? lo & 0xffff : lo);
const highHalf = (w: FieldDef["width"], hi: number): number => (w === 16 || w === 32 ? 0 : hi);

function writeTarget(e: Entry, t: Target, lo: number, hi: number): boolean {
  if (t.kind === "field") {
    const w = FIELDS[t.index]!.width;
    e.vmcs.setHalves(t.index, lowHalf(w, lo), highHalf(w, hi));
    return true;
  }
  if (t.kind === "proc") {
    const p = e.processor as unknown as Record<string, ProcValue>;
    if (ADDRESS_KEYS.includes(t.key)) {
      if (hi >= 1 << 20) return false; // processor addresses are below 2^52
      p[t.key] = hi * TWO32 + (lo >>> 0);
      return true;
    }
    const vals = PROC_VALUES.find((x) => x[0] === t.key)![1];
    if (lo < 0 || lo >= vals.length) return false;
    p[t.key] = vals[lo];
    return true;
  }
  const a = memAddress(e, t.ref, t.offset);
  if (a === undefined) return false;
  e.memory.write32(a, lo);
  return true;
}

/** Apply a mutation in place; returns an undo function, or undefined when the target does not exist. */
export function applyMutation(e: Entry, m: Mutation): (() => void) | undefined {
  const old = readTarget(e, m.target);
  if (!old) return undefined;
  if (m.target.kind === "proc") {
    const key = m.target.key;
    const p = e.processor as unknown as Record<string, ProcValue>;
    const raw = p[key];
    const had = key in p;
    const lo = m.op === "xor" ? (old[0] ^ m.lo) >>> 0 : m.lo >>> 0;
    const hi = m.op === "xor" ? (old[1] ^ m.hi) >>> 0 : m.hi >>> 0;
    if (!writeTarget(e, m.target, lo, hi)) return undefined;
    return () => {
      if (had) p[key] = raw;
      else delete p[key];
    };
  }
  const lo = m.op === "xor" ? (old[0] ^ m.lo) >>> 0 : m.lo >>> 0;
  const hi = m.op === "xor" ? (old[1] ^ m.hi) >>> 0 : m.hi >>> 0;
  if (!writeTarget(e, m.target, lo, hi)) return undefined;
  // A mem target's address may depend on the fields; memory writes are undone at the same address.
  const addr = m.target.kind === "mem" ? memAddress(e, m.target.ref, m.target.offset) : undefined;
  return () => {
    if (m.target.kind === "mem" && addr !== undefined) e.memory.write32(addr, old[0]);
    else writeTarget(e, m.target, old[0], old[1]);
  };
}

export function describeMutation(m: Mutation): string {
  const v = m.hi ? `0x${m.hi.toString(16)}${m.lo.toString(16).padStart(8, "0")}` : `0x${m.lo.toString(16)}`;
  return `${targetName(m.target)} ${m.op === "xor" ? "^=" : "="} ${v}`;
}

// ---------------------------------------------------------------------------------------------------------
// Candidate values

function widthBits(f: FieldDef): number {
  return f.width === 16 ? 16 : f.width === 32 ? 32 : 64;
}

/** Candidate mutations of one target, near the boundaries of what the checks test. */
function candidates(
  t: Target,
  caps: Caps,
  cur: [number, number],
  extra: readonly [number, number][],
): Mutation[] {
  const out: Mutation[] = [];
  emitCandidates(t, caps, cur, extra, (xor, lo, hi) =>
    out.push({ target: t, op: xor ? "xor" : "set", lo, hi }),
  );
  return out;
}

/** Candidate mutations of one target, as `emit(xor, lo, hi)` calls, in the order `candidates` lists them. */
function emitCandidates(
  t: Target,
  caps: Caps,
  cur: [number, number],
  extra: readonly [number, number][],
  emit: (xor: boolean, lo: number, hi: number) => void,
): void {
  const set = (lo: number, hi = 0) => emit(false, lo >>> 0, hi >>> 0);
  const xor = (lo: number, hi = 0) => emit(true, lo >>> 0, hi >>> 0);
  if (t.kind === "proc") {
    const vals = PROC_VALUES.find((p) => p[0] === t.key)?.[1];
    if (vals) {
      for (let i = 0; i < vals.length; i++) if (i !== cur[0]) set(i);
      return;
    }
    set(0x1000);
    set(0x1001);
    for (const [l, h] of extra) set(l, h);
    return;
  }
  const bits = t.kind === "field" ? widthBits(FIELDS[t.index]!) : 32;
  for (let b = 0; b < Math.min(bits, 32); b++) xor(1 << b);
  for (let b = 32; b < bits; b++) xor(0, 1 << (b - 32));
  const maxLo = bits === 16 ? 0xffff : 0xffffffff;
  const maxHi = bits === 64 ? 0xffffffff : 0;
  set(0);
  set(maxLo, maxHi);
  set(1);
  // ±1 of the current value (with carry)
  const [lo, hi] = cur;
  if (lo === maxLo) set(0, bits === 64 ? hi + 1 : 0);
  else set(lo + 1, hi);
  if (lo === 0) set(maxLo, bits === 64 ? hi - 1 : 0);
  else set(lo - 1, hi);
  // every value of each nibble of the low 32 bits (types, DPLs, vectors, memory types, walk lengths)
  for (let n = 0; n < (t.kind === "mem" ? 2 : Math.min(bits, 32) / 4); n++)
    for (let v = 0; v < 16; v++) set(((lo & ~(0xf << (4 * n))) | (v << (4 * n))) >>> 0, hi);
  // small integers (counts, activity states, types)
  if (t.kind === "field") {
    for (let v = 2; v <= 16; v++) set(v);
    set(caps.cr3Targets + 1);
    set(caps.maxMsrList + 1);
  }
  if (bits === 32 || bits === 64) {
    // limit/granularity edges
    for (const v of [
      0xfff, 0x1000, 0xfffff, 0x100000, 0xffffe, 0xfffffffe, 0xfffff000, 0x7fffffff, 0x80000000,
    ])
      set(v, bits === 64 ? 0 : 0);
  }
  if (bits === 64) {
    // MAXPHYADDR edges: the first bit beyond, the last page below, and the current value plus the bit
    const p = caps.addr32 ? 32 : caps.maxPhysAddr;
    const pb: [number, number] = p < 32 ? [1 << p, 0] : [0, p - 32 < 32 ? 1 << (p - 32) : 0];
    set(pb[0], pb[1]);
    set(lo | pb[0], hi | pb[1]);
    set(0xfffff000, p > 32 ? (2 ** (p - 32) - 1) >>> 0 : 0);
    set(0, 1);
    // canonical edges for 48- and 57-bit linear addresses, and ±1 around them
    for (const [l, h] of [
      [0xffffffff, 0x7fff],
      [0, 0x8000],
      [0, 0xffff8000],
      [0xffffffff, 0xffff7fff],
      [0xffffffff, 0xffffff],
      [0, 0x1000000],
      [0, 0xff000000],
      [0xffffffff, 0xfeffffff],
      [lo, hi ^ 0x8000],
      [lo, hi ^ 0x1000000],
    ] as const)
      set(l, h);
  }
  for (const [l, h] of extra) set(l, bits === 64 ? h : 0);
}

/** Candidates of a field target as numbers (the search's hot loop allocates nothing per candidate). */
class CandidateBuffer {
  xor = new Uint8Array(1024);
  lo = new Uint32Array(1024);
  hi = new Uint32Array(1024);
  n = 0;
  readonly push = (xor: boolean, lo: number, hi: number): void => {
    if (this.n === this.lo.length) {
      const grow = <T extends Uint8Array | Uint32Array>(a: T, b: T): T => {
        b.set(a);
        return b;
      };
      this.xor = grow(this.xor, new Uint8Array(this.n * 2));
      this.lo = grow(this.lo, new Uint32Array(this.n * 2));
      this.hi = grow(this.hi, new Uint32Array(this.n * 2));
    }
    this.xor[this.n] = xor ? 1 : 0;
    this.lo[this.n] = lo;
    this.hi[this.n] = hi;
    this.n++;
  };
}
const FIELD_CANDIDATES = new CandidateBuffer();

/**
 * Tries the candidates of a target in a state, in `candidates` order: each is written in place, `visit(xor, lo,
 * hi)` sees it (as emitted: xor or set, with its value), and the old value is put back. Fields and memory words
 * are written straight into the store (nothing allocated per candidate), processor properties through
 * applyMutation. Stops at the first visit that returns true, and says whether one did.
 */
function eachCandidate(
  e: Entry,
  t: Target,
  caps: Caps,
  extra: readonly [number, number][],
  visit: (xor: boolean, lo: number, hi: number) => boolean,
): boolean {
  if (t.kind === "proc") {
    const cur = readTarget(e, t)!;
    for (const m of candidates(t, caps, cur, extra)) {
      const undo = applyMutation(e, m);
      if (!undo) continue;
      const stop = visit(m.op === "xor", m.lo, m.hi);
      undo();
      if (stop) return true;
    }
    return false;
  }
  const c = FIELD_CANDIDATES;
  c.n = 0;
  if (t.kind === "mem") {
    const a = memAddress(e, t.ref, t.offset);
    if (a === undefined) return false;
    const old = e.memory.read32(a);
    emitCandidates(t, caps, [old, 0], extra, c.push);
    const { n } = c;
    for (let k = 0; k < n; k++) {
      const x = c.xor[k] === 1;
      e.memory.write32(a, x ? (old ^ c.lo[k]!) >>> 0 : c.lo[k]!);
      const stop = visit(x, c.lo[k]!, c.hi[k]!);
      e.memory.write32(a, old);
      if (stop) return true;
    }
    return false;
  }
  const v = e.vmcs.v;
  const at = t.index << 1;
  const width = FIELDS[t.index]!.width;
  const oldLo = v[at]!;
  const oldHi = v[at + 1]!;
  emitCandidates(t, caps, [oldLo, oldHi], extra, c.push);
  const { n } = c;
  for (let k = 0; k < n; k++) {
    const x = c.xor[k] === 1;
    v[at] = lowHalf(width, x ? (oldLo ^ c.lo[k]!) >>> 0 : c.lo[k]!);
    v[at + 1] = highHalf(width, x ? (oldHi ^ c.hi[k]!) >>> 0 : c.hi[k]!);
    const stop = visit(x, c.lo[k]!, c.hi[k]!);
    v[at] = oldLo;
    v[at + 1] = oldHi;
    if (stop) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------
// The pool of valid starting states

export interface PoolState {
  entry: Entry;
  ctx: Ctx;
  mode: Mode;
  label: string;
}

function makePool(caps: Caps, seed: number): PoolState[] {
  const out: PoolState[] = [];
  const add = (entry: Entry, mode: Mode, label: string) =>
    out.push({ entry, ctx: new Ctx(entry.vmcs, caps, entry.processor, entry.memory), mode, label });
  add(baseEntry(caps), "64", "base");
  const levels: FeatureLevel[] = ["max", "random", "min", "random", "max", "random"];
  const modes = modesFor(caps);
  let i = 0;
  for (const level of levels)
    for (const mode of modes) {
      const g = generateValid(caps, Rng.derive(seed, 1000 + i++), { mode, features: level });
      add(g.entry, mode, `${mode}/${level}`);
    }
  return out;
}

function memTargets(e: Entry): Target[] {
  const out: Target[] = [];
  const push = (ref: MemRef, offsets: number[]) => {
    for (const o of offsets)
      if (memAddress(e, ref, o) !== undefined) out.push({ kind: "mem", ref, offset: o });
  };
  push("link", [0]);
  push("pdpt", [0, 4, 8, 12, 16, 20, 24, 28]);
  push("vtpr", [0]);
  push(
    "msr-load",
    Array.from({ length: 32 }, (_, i) => i * 4),
  );
  return out;
}

/** Evaluations stage 2 may spend extending stage 1's partial hits before stage 3's neighbours (`search`). */
const EARLY_EXTENSION = 40_000;
/** States in the extended pool. */
const EXTENDED = 240;
/** SMM-return states made from the pool (`smmReturns`), and the pages of their VMXON region and executive VMCS. */
const SMM_RETURNS = 4;
const SMM_PAGES = { vmxon: 0x7ff00000, executive: 0x7ff01000 } as const;

const PROC_TARGETS: Target[] = [
  ...PROC_VALUES.map(([key]) => ({ kind: "proc", key }) as Target),
  ...ADDRESS_KEYS.map((key) => ({ kind: "proc", key }) as Target),
];

// ---------------------------------------------------------------------------------------------------------
// The search

/** Bump when the search changes in a way that makes cached "not applicable" results stale. */
export const SEARCH_VERSION = 5;

export interface CachedResult {
  id: string;
  status: ViolationStatus;
  base?: number;
  recipe?: Mutation[];
  reason?: string;
}

/**
 * Candidate single mutations of one target in one pool state, in typed arrays (a search holds hundreds of
 * thousands: as objects they were most of its heap, traced by every garbage collection); `mutationAt` makes
 * one as an object. verdict: 0 undecided, 1 keeps the state valid, 2 not.
 */
interface Neighbours {
  readonly s: PoolState;
  readonly target: Target;
  readonly length: number;
  readonly xor: Uint8Array;
  readonly lo: Uint32Array;
  readonly hi: Uint32Array;
  readonly verdict: Int8Array;
}

function mutationAt(nb: Neighbours, k: number): Mutation {
  return { target: nb.target, op: nb.xor[k] ? "xor" : "set", lo: nb.lo[k]!, hi: nb.hi[k]! };
}

export type ViolationStatus = "violated" | "not-applicable" | "not-alone";

/**
 * Where a running search is (for a progress display: the playground runs the search in a web worker).
 * Stage 1 tries single mutations, stage 2 extends stage 1's partial hits (within EARLY_EXTENSION), stage 3
 * moves to a neighbouring valid state first and then extends every partial hit left; `evals` counts the
 * candidate states evaluated so far. Reported when a stage starts and every 256 evaluations.
 */
export interface SearchProgress {
  id: string;
  stage: 1 | 2 | 3;
  evals: number;
}

/** The violation search's answer for one check: a state failing exactly it, or why none exists. */
export interface ViolationResult {
  id: string;
  status: ViolationStatus;
  /** For "violated": the pool state it starts from and the mutations that make it fail exactly `id`. */
  base?: PoolState;
  recipe?: Mutation[];
  /** For the others: why. */
  reason?: string;
  /** Evaluations spent. */
  evals: number;
}

/** `check` applies and fails in `ctx` (refreshed). */
const fails = (check: Check, ctx: Ctx): boolean =>
  (check.when === undefined || !!check.when(ctx)) && !!check.fail(ctx);

/** Outcome of evaluating the current state against the target check. */
const MISS = Object.freeze({ only: false, hits: false, failing: Object.freeze([]) as readonly Check[] });
function exactly(
  ctx: Ctx,
  check: Check,
  refreshed = false,
): { only: boolean; hits: boolean; failing: readonly Check[] } {
  if (!refreshed) ctx.refresh();
  if (!fails(check, ctx)) return MISS;
  const failing = failingChecks(ctx);
  return { only: failing.length === 1 && failing[0] === check, hits: true, failing };
}

/** Per-profile search state: the pool and the cache of results. */
export class ViolationSearch {
  readonly pool: PoolState[];
  private readonly cache = new Map<string, ViolationResult>();
  /** Values each field takes across the pool (distinct), used as candidates. */
  private readonly poolValues = new Map<number, [number, number][]>();

  /**
   * `proofs: false` leaves out the static proofs of src/gen/bound.ts: every rule is then searched (the tests
   * compare both ways).
   */
  constructor(
    readonly caps: Caps,
    readonly seed = 7,
    private readonly options: { readonly proofs?: boolean } = {},
  ) {
    this.pool = makePool(caps, seed);
  }

  /** The extended pool's states made so far (state i depends only on the profile, the seed and i). */
  private readonly extendedMade: PoolState[] = [];
  private extended?: PoolState[];

  /** The i-th further random valid state (made on first need: a cached recipe may start from one). */
  private extendedAt(i: number): PoolState {
    let s = this.extendedMade[i];
    if (!s) {
      const modes = modesFor(this.caps);
      const g = generateValid(this.caps, Rng.derive(this.seed, 5000 + i), { mode: modes[i % modes.length]! });
      s = {
        entry: g.entry,
        ctx: new Ctx(g.entry.vmcs, this.caps, g.entry.processor, g.entry.memory),
        mode: g.mode,
        label: `${g.mode}/extended`,
      };
      this.extendedMade[i] = s;
    }
    return s;
  }

  private smm?: PoolState[];

  /**
   * Valid VM entries that return from SMM under the dual-monitor treatment (SDM 34.15.4), made on first need
   * from the first pool states: the generator makes none, and no single change of a valid state makes one (it
   * takes the processor in SMM with the dual-monitor treatment active and a valid executive-VMCS pointer).
   * They open the rules only such entries apply. Alternately the entry returns to VMX root operation (the
   * executive-VMCS pointer is the VMXON pointer) and to a launched executive VMCS. None on a profile without
   * the dual-monitor treatment (IA32_VMX_BASIC[49] = 0).
   */
  private smmReturns(): PoolState[] {
    if (this.smm) return this.smm;
    this.smm = [];
    if (!this.caps.dualMonitor) return this.smm;
    for (const [i, s] of this.pool.entries()) {
      if (this.smm.length === SMM_RETURNS) break;
      const entry = cloneEntry(s.entry);
      const executive = i % 2 === 0 ? SMM_PAGES.vmxon : SMM_PAGES.executive;
      Object.assign(entry.processor, {
        inSmm: true,
        dualMonitorActive: true,
        vmxonPointer: SMM_PAGES.vmxon,
        executiveVmcsLaunchState: "launched",
      });
      entry.vmcs.setHalves(F.EXECUTIVE_VMCS_POINTER, executive, 0);
      entry.memory.write32(SMM_PAGES.vmxon, this.caps.revision);
      entry.memory.write32(executive, this.caps.revision);
      const ctx = new Ctx(entry.vmcs, this.caps, entry.processor, entry.memory);
      if (countFailures(ctx) === 0)
        this.smm.push({ entry, ctx, mode: s.mode, label: `${s.label}/smm-return` });
    }
    return this.smm;
  }

  /** More random valid states (built on first need): gate-holding starts and field values. */
  private extendedPool(): PoolState[] {
    this.extended ??= Array.from({ length: EXTENDED }, (_, i) => this.extendedAt(i));
    return this.extended;
  }

  private valuesOf(index: number): [number, number][] {
    let v = this.poolValues.get(index);
    if (!v) {
      const seen = new Set<string>();
      v = [];
      // the extended states are made only as far as needed (a warm run replays cached recipes without them)
      const n = this.pool.length + EXTENDED;
      for (let i = 0; i < n && v.length < 48; i++) {
        const s = i < this.pool.length ? this.pool[i]! : this.extendedAt(i - this.pool.length);
        const lo = s.entry.vmcs.lo(index);
        const hi = s.entry.vmcs.hi(index);
        const k = `${lo}:${hi}`;
        if (!seen.has(k)) {
          seen.add(k);
          v.push([lo, hi]);
        }
      }
      this.poolValues.set(index, v);
    }
    return v;
  }

  private readonly neighbours = new Map<string, Neighbours>();

  /**
   * Single mutations of a field that may keep a pool state valid, with their verdicts decided on demand and
   * cached (they do not depend on the rule): deciding one costs a full evaluation, and most rules need few.
   */
  private neighbourCandidates(s: PoolState, t: Target): Neighbours {
    const key = `${this.pool.indexOf(s)}:${targetName(t)}`;
    let out = this.neighbours.get(key);
    if (out) return out;
    const xors: number[] = [];
    const los: number[] = [];
    const his: number[] = [];
    const cur = readTarget(s.entry, t);
    if (cur) {
      const extra = t.kind === "field" ? this.valuesOf(t.index) : [];
      // Huge list counts make every later evaluation walk thousands of entries: not useful as a start.
      const isCount = t.kind === "field" && FIELDS[t.index]!.name.endsWith("_COUNT");
      emitCandidates(t, this.caps, cur, extra, (xor, lo, hi) => {
        if (isCount && !xor && (lo > 64 || hi !== 0)) return;
        xors.push(xor ? 1 : 0);
        los.push(lo);
        his.push(hi);
      });
    }
    out = {
      s,
      target: t,
      length: xors.length,
      xor: Uint8Array.from(xors),
      lo: Uint32Array.from(los),
      hi: Uint32Array.from(his),
      verdict: new Int8Array(xors.length),
    };
    this.neighbours.set(key, out);
    return out;
  }

  /** The k-th candidate of `nb` keeps the pool state valid (decided once; the state is left refreshed). */
  private keepsValid(nb: Neighbours, k: number): boolean {
    let v = nb.verdict[k]!;
    if (v === 0) {
      const s = nb.s;
      const undo = applyMutation(s.entry, mutationAt(nb, k));
      v = 2;
      if (undo) {
        s.ctx.refresh();
        if (countFailures(s.ctx) === 0) v = 1;
        undo();
      }
      s.ctx.refresh();
      nb.verdict[k] = v;
    }
    return v === 1;
  }

  /**
   * Up to `max` valid neighbours of the pool states (mutations of the rule's declared fields that keep every
   * check passing): first, in pool order, those that open the rule's gate in a state where it was closed, then
   * the others in pool order. Only the neighbours that can be taken are decided.
   */
  private openers(
    check: Check,
    gated: readonly PoolState[],
    declared: readonly Target[],
    max: number,
    afterState?: () => void,
  ): { s: PoolState; m: Mutation; opens: boolean }[] {
    const opening: { s: PoolState; m: Mutation; opens: boolean }[] = [];
    // the others, as pairs: candidate restK[i] of restNb[i]
    const restNb: Neighbours[] = [];
    const restK: number[] = [];
    const whenReads = check.when === undefined ? undefined : whenReadsOf(check);
    for (const s of this.pool) {
      const wasGated = gated.includes(s);
      for (const t of declared) {
        const nb = this.neighbourCandidates(s, t);
        // where the rule does not apply, a change of something its applicability does not read cannot open it
        const mayOpen = !wasGated && mayRead(whenReads, t);
        for (let k = 0; k < nb.length; k++) {
          if (nb.verdict[k] === 2) continue;
          let opens = false;
          if (mayOpen && opening.length < max) {
            const undo = applyMutation(s.entry, mutationAt(nb, k));
            if (!undo) continue;
            s.ctx.refresh();
            opens = check.when === undefined || check.when(s.ctx);
            undo();
            s.ctx.refresh();
          }
          if (opens) {
            if (this.keepsValid(nb, k)) opening.push({ s, m: mutationAt(nb, k), opens: true });
          } else {
            restNb.push(nb);
            restK.push(k);
          }
        }
      }
      afterState?.();
    }
    const out = opening.slice(0, max);
    for (let i = 0; i < restNb.length && out.length < max; i++) {
      const nb = restNb[i]!;
      const k = restK[i]!;
      if (this.keepsValid(nb, k)) out.push({ s: nb.s, m: mutationAt(nb, k), opens: false });
    }
    return out;
  }

  private declaredTargets(check: Check): Target[] {
    const out: Target[] = [];
    for (const name of check.fields) {
      const f = fieldByName(name);
      if (f) out.push({ kind: "field", index: f.index });
    }
    return out;
  }

  /** Mutations of the given targets in one state. */
  private mutationsFor(s: PoolState, targets: readonly Target[], check: Check): Mutation[] {
    const out: Mutation[] = [];
    const extras = this.extrasFor(s, targets, check);
    for (const [i, t] of targets.entries()) {
      const cur = readTarget(s.entry, t);
      if (cur) out.push(...candidates(t, this.caps, cur, extras[i]!));
    }
    return out;
  }

  /**
   * Each target's extra values (undefined for a target the state does not have), all listed before any
   * candidate is tried: the pool's value cache fills on first use, and the state may carry a prefix.
   */
  private extrasFor(
    s: PoolState,
    targets: readonly Target[],
    check: Check,
  ): ([number, number][] | undefined)[] {
    const declared = this.declaredTargets(check);
    return targets.map((t) => (readTarget(s.entry, t) ? this.extraFor(s, t, declared) : undefined));
  }

  /** Values tried on a target besides the boundary values: other states', the check's other fields'. */
  private extraFor(s: PoolState, t: Target, declared: readonly Target[]): [number, number][] {
    const extra: [number, number][] = [];
    if (t.kind === "field") {
      extra.push(...this.valuesOf(t.index));
      for (const d of declared)
        if (d.kind === "field" && d.index !== t.index)
          extra.push([s.entry.vmcs.lo(d.index), s.entry.vmcs.hi(d.index)]);
    } else if (t.kind === "proc") {
      for (const d of declared)
        if (d.kind === "field") extra.push([s.entry.vmcs.lo(d.index), s.entry.vmcs.hi(d.index)]);
    } else if (t.kind === "mem") {
      extra.push([this.caps.revision, 0], [(this.caps.revision | 0x80000000) >>> 0, 0]);
      for (const msr of [
        0xc0000100, 0xc0000101, 0x9b, 0x9e, 0x79, 0x800, 0x808, 0x80b, 0x8ff, 0xc0000080, 0x277, 0x1d9, 0x174,
        0x48,
      ])
        extra.push([msr, 0]);
    }
    return extra;
  }

  /** Find a state violating exactly `id` (cached). `progress` hears from the search while it runs. */
  find(id: string, progress?: (p: SearchProgress) => void): ViolationResult {
    const hit = this.cache.get(id);
    if (hit) return hit;
    const check = checkById(id);
    if (!check) throw new Error(`no check with id ${id}`);
    const proof = this.options.proofs === false ? undefined : boundReason(check, this.caps);
    const r: ViolationResult = proof
      ? { id, status: "not-applicable", reason: proof, evals: 0 }
      : this.search(check, progress);
    this.cache.set(id, r);
    return r;
  }

  /** Every check id of the registry. */
  findAll(): ViolationResult[] {
    return CHECKS.map((c) => this.find(c.id));
  }

  private search(check: Check, progress?: (p: SearchProgress) => void): ViolationResult {
    let evals = 0;
    let stage: SearchProgress["stage"] = 1;
    const report = (next?: SearchProgress["stage"]) => {
      if (next) stage = next;
      progress?.({ id: check.id, stage, evals });
    };
    /** Count one evaluation; report every 256. */
    const counted = () => {
      evals++;
      if (progress && (evals & 255) === 0) report();
    };
    let anyHit = false;
    /** Some state made the rule fail without also breaking a capability rule (so it is not capability-bound). */
    let hitWithoutCapability = false;
    /** The capability rules the first hit broke (named in the reason when no kept partial hit names any). */
    let firstCapabilities: readonly Check[] | undefined;
    const otherCapability = (c: Check) => c !== check && isCapabilityCheck(c);
    // Other rules every state failing this one fails too (src/gen/bound.ts): then the first state that fails it
    // without a capability rule settles the answer, "only with others".
    const provedTogether = this.options.proofs === false ? undefined : coFailing(check, this.caps);
    const settled = () => provedTogether !== undefined && hitWithoutCapability;
    const together = (): ViolationResult => ({
      id: check.id,
      status: "not-alone",
      reason: `the rule fails only together with others (every state failing it fails one of ${provedTogether!.join(", ")} too)`,
      evals,
    });
    const gate = (s: PoolState) => {
      s.ctx.refresh();
      return check.when === undefined || check.when(s.ctx);
    };
    const gated = this.pool.filter(gate);
    const ungated = this.pool.filter((s) => !gated.includes(s));
    // a rule whose applicability asks whether the processor is in SMM starts from SMM returns too (not one its
    // section exempts from them: it never applies there)
    const smmRead = whenReadsOf(check)?.cpu;
    if (exemption(check) === undefined && (smmRead?.has("inSmm") || smmRead?.has("dualMonitorActive"))) {
      const smm = this.smmReturns();
      gated.push(...smm.filter(gate));
      ungated.unshift(...smm.filter((s) => !gated.includes(s)));
    }
    if (gated.length < 2) gated.push(...this.extendedPool().filter(gate).slice(0, 6));
    const declared = this.declaredTargets(check);
    const extraTargets = (s: PoolState) => [...PROC_TARGETS, ...memTargets(s.entry)];
    type Partial = { s: PoolState; prefix: Mutation[]; failing: readonly Check[] };
    const partial: Partial[] = [];
    const done = (s: PoolState, recipe: Mutation[]): ViolationResult => ({
      id: check.id,
      status: "violated",
      base: s,
      recipe,
      evals,
    });

    /** Single mutations on top of `prefix` (already applied to s). */
    const trySingles = (
      s: PoolState,
      prefix: Mutation[],
      targets: readonly Target[],
    ): Mutation | undefined => {
      const hit = (m: Mutation, r: ReturnType<typeof exactly>) => {
        anyHit = true;
        if (!r.failing.some(otherCapability)) hitWithoutCapability = true;
        else firstCapabilities ??= r.failing.filter(otherCapability);
        if (partial.length < 256 && r.failing.length <= 6)
          partial.push({ s, prefix: [...prefix, m], failing: r.failing });
      };
      // From a state where the rule holds, a change of something its verdict does not read leaves it holding:
      // such targets are skipped (from a state where it fails, every target is tried as before).
      s.ctx.refresh();
      const applies = check.when === undefined || check.when(s.ctx);
      const holds = !(applies && check.fail(s.ctx));
      // ... and while it does not apply, a change of something its applicability does not read keeps it so.
      const reads = holds ? (applies ? verdictReadsOf(check) : whenReadsOf(check)) : undefined;
      const extras = this.extrasFor(s, targets, check);
      for (const [ti, t] of targets.entries()) {
        if (reads && !mayRead(reads, t)) continue;
        const extra = extras[ti];
        if (extra === undefined) continue;
        let found: Mutation | undefined;
        eachCandidate(s.entry, t, this.caps, extra, (x, lo, hi) => {
          counted();
          const r = exactly(s.ctx, check);
          if (!r.hits) return false;
          const m: Mutation = { target: t, op: x ? "xor" : "set", lo, hi };
          if (r.only) found = m;
          else hit(m, r);
          return r.only || settled();
        });
        if (found) {
          s.ctx.refresh();
          return found;
        }
        if (settled()) break;
      }
      s.ctx.refresh();
      return undefined;
    };
    const withPrefix = <T>(s: PoolState, prefix: Mutation[], fn: () => T): T | undefined => {
      const undos: (() => void)[] = [];
      for (const m of prefix) {
        const u = applyMutation(s.entry, m);
        if (!u) {
          for (const v of undos.reverse()) v();
          s.ctx.refresh();
          return undefined;
        }
        undos.push(u);
      }
      const r = fn();
      for (const v of undos.reverse()) v();
      s.ctx.refresh();
      return r;
    };

    // Stage 1: single mutations; declared fields first (and the memory a rule reads: the MSR-load area, the
    // link pointer's page, the PDPTEs), then processor state and memory.
    report(1);
    const order = [...gated, ...ungated.slice(0, 8)];
    const readsMemory = verdictReadsOf(check)?.mem === true;
    for (const s of order) {
      const m = trySingles(s, [], readsMemory ? [...declared, ...memTargets(s.entry)] : declared);
      if (m) return done(s, [m]);
      if (settled()) return together();
    }
    for (const s of order.slice(0, 12)) {
      // (the memory words of a rule that reads memory were tried above)
      const m = trySingles(s, [], readsMemory ? PROC_TARGETS : extraTargets(s));
      if (m) return done(s, [m]);
      if (settled()) return together();
    }

    // Stage 2: a partial hit (the rule fails with a few others), extended greedily by mutations over the
    // other failing rules' fields that clear them while this rule keeps failing (up to three mutations).
    // Partial hits that co-fail with a capability rule (a control or CR bit the profile does not allow) are
    // dead ends: that rule can only be satisfied by undoing the very setting the target rule needs. Stage 2
    // extends stage 1's partial hits within a small budget (a rule that needs two changes of one state, such
    // as an MSR-load entry's index and its value, is found there without any neighbour); stage 3 extends
    // every partial hit not yet extended, after its neighbours.
    const extended = new Set<Partial>();
    const extend = (stage: 2 | 3, limit: number): ViolationResult | undefined => {
      if (stage === 2) report(2);
      const queue = partial
        .filter((p) => !extended.has(p) && !p.failing.some(otherCapability))
        .sort((a, b) => a.failing.length - b.failing.length)
        .slice(0, 32);
      const budget = evals + limit;
      for (let qi = 0; qi < queue.length && qi < 64 && evals < budget; qi++) {
        const p = queue[qi]!;
        extended.add(p);
        if (p.prefix.length >= 3) continue;
        const targets: Target[] = [...declared];
        for (const c of p.failing) if (c !== check) targets.push(...this.declaredTargets(c));
        targets.push(...extraTargets(p.s));
        const res = withPrefix(p.s, p.prefix, () => {
          let best: { m: Mutation; failing: readonly Check[] } | undefined;
          let found: Mutation | undefined;
          const ts = dedupeTargets(targets);
          const extras = this.extrasFor(p.s, ts, check);
          // Only a change of something another failing rule reads can clear that rule; any other change leaves
          // every failing rule failing (so it is neither a find nor a better partial hit).
          const otherChecks = p.failing.filter((c) => c !== check);
          const others = otherChecks.map(verdictReadsOf);
          const ctx = p.s.ctx;
          for (const [ti, t] of ts.entries()) {
            const extra = extras[ti];
            if (extra === undefined || !others.some((r) => mayRead(r, t))) continue;
            const stop = eachCandidate(p.s.entry, t, this.caps, extra, (x, lo, hi) => {
              counted();
              // A candidate under which this rule and as many others of the partial hit's as the best hit so far
              // has still fail is neither a find nor a better hit: it needs no evaluation of every rule.
              ctx.refresh();
              if (!fails(check, ctx)) return false;
              const bound = best?.failing.length ?? p.failing.length;
              let still = 1;
              for (const c of otherChecks) if (fails(c, ctx) && ++still >= bound) return false;
              const r = exactly(ctx, check, true);
              if (r.only) found = { target: t, op: x ? "xor" : "set", lo, hi };
              else if (r.hits && r.failing.length < (best?.failing.length ?? p.failing.length))
                best = { m: { target: t, op: x ? "xor" : "set", lo, hi }, failing: r.failing };
              return r.only;
            });
            if (stop) return { found };
          }
          return { best };
        });
        if (!res) continue;
        if ("found" in res && res.found) return done(p.s, [...p.prefix, res.found]);
        if ("best" in res && res.best)
          queue.push({ s: p.s, prefix: [...p.prefix, res.best.m], failing: res.best.failing });
      }
      return undefined;
    };

    const early = extend(2, EARLY_EXTENSION);
    if (early) return early;

    report(3);
    // Stage 3: move to a neighbouring valid state first (one mutation that keeps every check passing,
    // preferring those that open the rule's gate), then a single violating mutation from there.
    const openers = this.openers(check, gated, declared, 160, () => report());
    let opened = 0;
    for (const [i, o] of openers.entries()) {
      if (o.opens) opened++;
      const targets = i < 16 ? [...declared, ...extraTargets(o.s)] : declared;
      const m = withPrefix(o.s, [o.m], () => trySingles(o.s, [o.m], targets));
      if (m) return done(o.s, [o.m, m]);
      if (settled()) return together();
    }

    const late = extend(3, 150_000);
    if (late) return late;
    // Every hit also broke a capability rule (including hits with too many co-failures to keep as partials).
    const capabilityBound = anyHit && !hitWithoutCapability;
    if (capabilityBound) {
      const caps = new Set<string>();
      for (const p of partial)
        for (const c of p.failing) if (c !== check && isCapabilityCheck(c)) caps.add(c.id);
      // every hit co-failed with more than the partial hits keep: name those of the first
      if (caps.size === 0) for (const c of firstCapabilities ?? []) caps.add(c.id);
      return {
        id: check.id,
        status: "not-applicable",
        reason: `the rule can fail only with a setting ${this.caps.name} does not allow (it co-fails with ${[...caps].slice(0, 3).join(", ")})`,
        evals,
      };
    }
    if (!anyHit)
      return {
        id: check.id,
        status: "not-applicable",
        reason:
          gated.length === 0 && opened === 0
            ? `no valid state on ${this.caps.name} meets the rule's conditions (a capability or control it depends on is not available)`
            : `no state near a valid one makes the rule fail on ${this.caps.name} (what it forbids is not possible or always holds on this profile)`,
        evals,
      };
    const eg = partial[0]
      ? [...new Set(partial[0].failing.map((c) => c.id))].filter((x) => x !== check.id)
      : [];
    return {
      id: check.id,
      status: "not-alone",
      reason: `the rule fails only together with others${eg.length ? ` (e.g. ${eg.join(", ")})` : ""}`,
      evals,
    };
  }

  /** The results found so far, as plain data (for a disk cache). */
  exportResults(): CachedResult[] {
    return [...this.cache.values()].map((r) => {
      const o: CachedResult = { id: r.id, status: r.status };
      if (r.base) {
        const i = this.pool.indexOf(r.base);
        const smm = this.smm?.indexOf(r.base) ?? -1;
        o.base =
          i >= 0
            ? i
            : smm >= 0
              ? this.pool.length + EXTENDED + smm
              : this.pool.length + this.extendedMade.indexOf(r.base);
      }
      if (r.recipe) o.recipe = r.recipe;
      if (r.reason) o.reason = r.reason;
      return o;
    });
  }

  /**
   * Load cached results. A violating recipe is kept only if it still makes its pool state fail exactly that
   * check (so a cache from another version of the checks or the generator is harmless). Returns how many
   * results were accepted.
   */
  importResults(rs: readonly CachedResult[]): number {
    let n = 0;
    for (const r of rs) {
      const check = checkById(r.id);
      if (!check || this.cache.has(r.id)) continue;
      if (r.status !== "violated") {
        this.cache.set(r.id, {
          id: r.id,
          status: r.status,
          ...(r.reason ? { reason: r.reason } : {}),
          evals: 0,
        });
        n++;
        continue;
      }
      const base =
        r.base === undefined || !Number.isInteger(r.base) || r.base < 0
          ? undefined
          : r.base < this.pool.length
            ? this.pool[r.base]
            : r.base - this.pool.length < EXTENDED
              ? this.extendedAt(r.base - this.pool.length)
              : this.smmReturns()[r.base - this.pool.length - EXTENDED];
      if (!base || !r.recipe) continue;
      const w = cloneEntry(base.entry);
      if (!r.recipe.every((m) => applyMutation(w, m) !== undefined)) continue;
      if (!exactly(new Ctx(w.vmcs, this.caps, w.processor, w.memory), check).only) continue;
      this.cache.set(r.id, { id: r.id, status: "violated", base, recipe: r.recipe, evals: 0 });
      n++;
    }
    return n;
  }

  /**
   * A state violating exactly `id`, derived from the valid state `start` when possible (replaying the recipe,
   * then a bounded search on that state), else a copy of the search's witness. Undefined when the rule cannot
   * be violated alone on this profile.
   */
  violate(id: string, start?: Entry, progress?: (p: SearchProgress) => void): Entry | undefined {
    const r = this.find(id, progress);
    if (r.status !== "violated") return undefined;
    const check = checkById(id)!;
    if (start) {
      const ctx = new Ctx(start.vmcs, this.caps, start.processor, start.memory);
      const undos: (() => void)[] = [];
      let ok = true;
      for (const m of r.recipe!) {
        const u = applyMutation(start, m);
        if (!u) {
          ok = false;
          break;
        }
        undos.push(u);
      }
      if (ok && exactly(ctx, check).only) return start;
      for (const u of undos.reverse()) u();
      const s: PoolState = { entry: start, ctx, mode: "64", label: "start" };
      for (const m of this.mutationsFor(s, this.declaredTargets(check), check)) {
        const undo = applyMutation(start, m);
        if (!undo) continue;
        if (exactly(ctx, check).only) return start;
        undo();
      }
    }
    const w = cloneEntry(r.base!.entry);
    for (const m of r.recipe!) applyMutation(w, m);
    return w;
  }
}

const CONTROL_WORD_FIELDS = new Set([
  "PIN_BASED_VM_EXEC_CONTROL",
  "CPU_BASED_VM_EXEC_CONTROL",
  "SECONDARY_VM_EXEC_CONTROL",
  "TERTIARY_VM_EXEC_CONTROL",
  "VM_EXIT_CONTROLS",
  "SECONDARY_VM_EXIT_CONTROLS",
  "VM_ENTRY_CONTROLS",
  "VM_FUNCTION_CONTROL",
]);

/**
 * A rule that only says "the profile allows this setting": a control-class rule over control words alone
 * (allowed-0/allowed-1/reserved control bits), or a fixed-bit / unsupported-value rule.
 */
export function isCapabilityCheck(c: Check): boolean {
  if (
    c.cls === "control" &&
    c.fields.length > 0 &&
    c.fields.every((f) => CONTROL_WORD_FIELDS.has(f)) &&
    /allowed|reserved/.test(c.id)
  )
    return true;
  // CR fixed bits, unsupported activity states, features the profile lacks (SGX, RTM, ...)
  return /fixed-bits|required-bits|unsupported|-support$|-sgx$/.test(c.id);
}

/**
 * What a check's verdict reads (`verdictReads`: the fields, processor properties and memory its `when` and
 * `fail` read, the section's exemption included) and what its applicability reads (`whenReads`); undefined for
 * a check without compiled predicates (it may read anything).
 */
const verdictReadsOf = (check: Check): Reads | undefined => (check as Partial<RuleCheck>).verdictReads;
const whenReadsOf = (check: Check): Reads | undefined => (check as Partial<RuleCheck>).whenReads;

/** Whether `reads` includes the target. */
function mayRead(r: Reads | undefined, t: Target): boolean {
  if (r === undefined) return true;
  if (t.kind === "field") return r.fields.includes(FIELDS[t.index]!.name as FieldName);
  if (t.kind === "proc") return r.cpu.has(t.key);
  return r.mem;
}

function dedupeTargets(ts: Target[]): Target[] {
  const seen = new Set<string>();
  return ts.filter((t) => {
    const k = targetName(t);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export function cloneEntry(e: Entry): Entry {
  const out: Entry = {
    caps: e.caps,
    processor: { ...e.processor },
    vmcs: e.vmcs.clone(),
    memory: e.memory.clone(),
  };
  if (e.cpu !== undefined) out.cpu = e.cpu;
  return out;
}

const searches = new Map<Caps, ViolationSearch>();

/** The (cached) violation search of a profile. */
export function violationSearch(caps: Caps): ViolationSearch {
  let s = searches.get(caps);
  if (!s) {
    s = new ViolationSearch(caps);
    searches.set(caps, s);
  }
  return s;
}

/** Of every check, whether the generator can violate it alone on a CPU (and why not). */
export interface Coverage {
  profile: string;
  /** ids violated alone */
  violated: string[];
  /** ids whose rule does not apply on this profile */
  notApplicable: string[];
  /** ids that apply but fail only with others */
  notAlone: string[];
}

export function coverage(caps: Caps): Coverage {
  const rs = violationSearch(caps).findAll();
  return {
    profile: caps.name,
    violated: rs.filter((r) => r.status === "violated").map((r) => r.id),
    notApplicable: rs.filter((r) => r.status === "not-applicable").map((r) => r.id),
    notAlone: rs.filter((r) => r.status === "not-alone").map((r) => r.id),
  };
}
