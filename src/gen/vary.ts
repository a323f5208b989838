/**
 * Valid states at fuzzing speed (issue 15): variations of states built from scratch.
 *
 * Building a state from scratch (`generateValid`, src/gen/valid.ts) proposes and verifies some hundred
 * settings, about a millisecond per state. A fuzzing campaign wants far more states than that. So each state
 * built from scratch — a *template* — is followed by variations of it that keep everything that shapes the
 * entry (the control words, the fields that select the guest's and host's mode: the runner signature of
 * src/entry/fast.ts; memory; processor state) and give every other field a random value within the bits the
 * checks leave free for this template:
 *
 * - **Learning** (once per template): for each field, in random order, the bits that can take any value are
 *   found by group testing against the checks that read the field. A half of the field's bits is tried with
 *   random values (several samples, the fields already learned that those checks also read randomized too);
 *   if every sample passes, those bits are free, else the range is split in two and each part is tried.
 *   A field no check reads is free whole.
 * - **Variation** (per state): every free bit gets a random value, and the state is verified by the whole
 *   registry (the same check as the generator's). A state that fails is drawn again, a few times; if it still
 *   fails, the template itself is the state. So every state passes every check, as `generateValid`'s do.
 *
 * States interleave the templates: with a pool of POOL templates, state i varies template i mod POOL of its
 * round; the first POOL states of a round are the templates themselves, so the first states are exactly those
 * of `validStream` (and `variants: 1` gives `validStream`'s every state). State i depends only on (profile,
 * seed, i, options).
 */
import { FIELDS, fieldByName } from "../arch/fields.js";
import { CHECKS } from "../checks/registry.js";
import { type Check, Ctx } from "../checks/types.js";
import type { Caps } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import { countFailures, failingChecks } from "../entry/evaluate.js";
import { compileRunner, type Runner, SIGNATURE_SLOTS } from "../entry/fast.js";
import type { ProcessorState } from "../entry/processor.js";
import { InputError } from "../errors.js";
import { hex64 } from "../util/u64.js";
import type { Memory } from "../vmcs/memory.js";
import { Vmcs } from "../vmcs/store.js";
import { Rng } from "./rng.js";
import { serializeGenerated } from "./serialize.js";
import { type GenOptions, generateValid, type Mode, modesFor } from "./valid.js";

/** States per template, the template included (the default of {@link VaryOptions.variants}). */
export const VARIANTS = 4096;
/** Templates in use at once: consecutive states come from different templates (modes in turn). */
export const POOL = 16;
/** Random samples that must all pass for a range of bits to count as free. */
const SAMPLES = 12;
/** Draws of a variation before the template itself is taken. */
const TRIES = 4;
/** A field the template leaves 0 varies in one template of this many. */
const UNUSED_VARIES = 4;

/** Options of {@link ValidStates}. */
export interface VaryOptions extends GenOptions {
  /** States per template, the template included (default VARIANTS); 1 builds every state from scratch. */
  variants?: number;
}

// ---- What can vary: per field, its slots and the checks that read it (derived from the registry)

const SIGNATURE = new Set(SIGNATURE_SLOTS);
/** The field-table index of a name a check declares (declared names are the table's own). */
const indexOf = (name: string): number => fieldByName(name)!.index;

interface FieldPlan {
  /** VMCS slots of the field that may vary (not in the signature), with the bits each can hold. */
  readonly slots: readonly { slot: number; bits: number }[];
  /** The checks that read the field (declared `fields`). */
  readonly checks: readonly Check[];
  /** Slots of every field those checks read, which are randomized too while this field is learned. */
  readonly related: Int32Array;
  /** A runner for `checks`, compiled on first use. */
  runner?: { run: Runner; out: Int32Array };
}

let plans: FieldPlan[] | undefined;

/** Per field (by index), what may vary; computed once from the field table and the registry. */
function fieldPlans(): FieldPlan[] {
  if (plans) return plans;
  const slotsOf = (i: number) => {
    const f = FIELDS[i]!;
    if (f.type === "read-only") return [];
    const halves = [{ slot: i << 1, bits: f.width === 16 ? 0xffff : 0xffffffff }];
    if (f.width === 64 || f.width === "natural") halves.push({ slot: (i << 1) | 1, bits: 0xffffffff });
    return halves.filter((h) => !SIGNATURE.has(h.slot));
  };
  const readers: Check[][] = FIELDS.map(() => []);
  for (const c of CHECKS) for (const name of c.fields) readers[indexOf(name)]!.push(c);
  plans = FIELDS.map((f) => {
    const checks = readers[f.index]!;
    const related = new Set<number>();
    for (const c of checks)
      for (const name of c.fields) for (const h of slotsOf(indexOf(name))) related.add(h.slot);
    return { slots: slotsOf(f.index), checks, related: Int32Array.from(related) };
  });
  return plans;
}

/**
 * The runner of a field's checks (compiled on first use, generic: no per-signature code). It runs on a context
 * refreshed once per template: learning changes no slot of the signature, which holds everything
 * `Ctx.refresh` derives (the control words, RFLAGS.VM).
 */
function runnerOf(p: FieldPlan): { run: Runner; out: Int32Array } {
  p.runner ??= {
    run: compileRunner(p.checks, { refreshed: true }),
    out: new Int32Array(p.checks.length),
  };
  return p.runner;
}

/** Contiguous bits lo..lo+n-1. */
function range(lo: number, n: number): number {
  return n >= 32 ? 0xffffffff : (((1 << n) - 1) << lo) >>> 0;
}

// ---- A template: a state built from scratch, and the bits of it that may vary

/** A state built from scratch and what its variations may change. */
class Template {
  /** The template's VMCS slots. */
  readonly base: Uint32Array;
  readonly processor: ProcessorState;
  readonly memory: Memory;
  readonly mode: Mode;
  readonly aspects: readonly string[];
  /** Slots that vary and the bits of each that may take any value. */
  readonly slots: Int32Array;
  readonly masks: Uint32Array;
  /** The document text around the values that vary (built when first asked for). */
  private text?: DocumentPieces;
  /** The template's processor and memory with the stream's VMCS store (`ValidStates.entry`). */
  entry?: Entry;

  constructor(
    readonly index: number,
    entry: Entry,
    mode: Mode,
    aspects: readonly string[],
    caps: Caps,
    rng: Rng,
  ) {
    this.base = entry.vmcs.v.slice();
    this.processor = entry.processor;
    this.memory = entry.memory;
    this.mode = mode;
    this.aspects = aspects;
    const free = learn(new Ctx(entry.vmcs, caps, entry.processor, entry.memory), rng);
    const slots: number[] = [];
    for (let s = 0; s < free.length; s++) if (free[s] !== 0) slots.push(s);
    this.slots = Int32Array.from(slots);
    this.masks = Uint32Array.from(slots, (s) => free[s]!);
  }

  /** Positions in `slots` of the slots of the fields a check reads (computed on first use). */
  positionsOf(c: Check): Int32Array {
    let p = this.positions.get(c);
    if (!p) {
      const at = new Map<number, number>();
      for (const [j, s] of this.slots.entries()) at.set(s, j);
      const js: number[] = [];
      for (const name of c.fields) {
        const f = indexOf(name);
        for (const s of [f << 1, (f << 1) | 1]) {
          const j = at.get(s);
          if (j !== undefined) js.push(j);
        }
      }
      p = Int32Array.from(js);
      this.positions.set(c, p);
    }
    return p;
  }
  private readonly positions = new Map<Check, Int32Array>();

  /**
   * The document of a variation, equal to `JSON.stringify(serializeGenerated(entry))` for its state, written
   * as bytes: the text around the `vmcs` object is the template's, and so are the runs of members between
   * two fields that vary.
   */
  json(v: Uint32Array, entry: Entry): string {
    const t = this.document(entry);
    if (OUT.length < t.bound) OUT = Buffer.allocUnsafe(t.bound * 2);
    return OUT.toString(t.ascii ? "latin1" : "utf8", 0, this.write(OUT, 0, v, entry));
  }

  /** Bytes the document of any variation takes at most. */
  bound(entry: Entry): number {
    return this.document(entry).bound;
  }

  /** The document of a variation as UTF-8 at `p` (room for `bound()` bytes); returns its end. */
  write(out: Uint8Array, p: number, v: Uint32Array, entry: Entry): number {
    const t = this.document(entry);
    const { constant, named, varied } = t;
    p = put(out, p, t.head);
    for (let k = 0; k < varied.length; k++) {
      const f = varied[k]!;
      const lo = v[f << 1]!;
      const hi = v[(f << 1) | 1]!;
      if (lo === 0 && hi === 0) {
        p = put(out, p, constant[k]!);
        continue;
      }
      p = put(out, p, named[k]!);
      if (hi !== 0) p = hex(out, p, hi, 0);
      p = hex(out, p, lo, hi === 0 ? 0 : 8);
      out[p++] = 34; // "
      out[p++] = 44; // ,
    }
    p = put(out, p, constant[varied.length]!);
    if (out[p - 1] === 44) p--; // every member ends with a comma; the object's last one must not
    return put(out, p, t.tail);
  }

  private document(entry: Entry): DocumentPieces {
    this.text ??= this.pieces(entry);
    return this.text;
  }

  private pieces(entry: Entry): DocumentPieces {
    const doc = JSON.stringify(serializeGenerated(entry));
    const open = doc.indexOf('"vmcs":{') + 8;
    const close = doc.indexOf("}", open);
    const variedFields = new Set<number>();
    for (const s of this.slots) variedFields.add(s >> 1);
    const constant: Uint8Array[] = [];
    const varied: number[] = [];
    let run = "";
    let bound = doc.length * 4;
    for (const f of FIELDS) {
      if (variedFields.has(f.index)) {
        constant.push(Buffer.from(run));
        varied.push(f.index);
        bound += MEMBER[f.index]!.length + 18;
        run = "";
        continue;
      }
      const lo = this.base[f.index << 1]!;
      const hi = this.base[(f.index << 1) | 1]!;
      if (lo !== 0 || hi !== 0) run += `${JSON.stringify(f.name)}:"${hex64(lo, hi)}",`;
    }
    constant.push(Buffer.from(run));
    return {
      named: constant.slice(0, varied.length).map((c, k) => Buffer.concat([c, MEMBER[varied[k]!]!])),
      head: Buffer.from(doc.slice(0, open)),
      tail: Buffer.from(doc.slice(close)),
      constant,
      varied: Int32Array.from(varied),
      bound,
      // the text is ASCII (field names, hex digits) unless the profile's name or processor state is not
      ascii: Buffer.byteLength(doc) === doc.length,
    };
  }
}

/** A template's document around the values that vary (`Template.json`). */
interface DocumentPieces {
  head: Uint8Array;
  tail: Uint8Array;
  /** constant[k] comes before the k-th varied field, the last after them. */
  constant: Uint8Array[];
  /** constant[k] and the k-th varied field's name (`"NAME":"0x`): before a value that is not 0. */
  named: Uint8Array[];
  varied: Int32Array;
  /** Bytes enough for any variation's document. */
  bound: number;
  ascii: boolean;
}

/** The document being written (grown when a template needs more). */
let OUT = Buffer.allocUnsafe(1 << 16);

function put(out: Uint8Array, p: number, bytes: Uint8Array): number {
  out.set(bytes, p); // as fast as a loop for a few bytes, ~3× faster for a member name and more
  return p + bytes.length;
}

const DIGITS = Buffer.from("0123456789abcdef");

/** x in hex at p, in `width` digits (0: as few as it needs, at least one); returns the end. */
function hex(out: Uint8Array, p: number, x: number, width: number): number {
  const n = width || Math.max(1, (35 - Math.clz32(x)) >> 2);
  for (let k = n - 1; k >= 0; k--) {
    out[p + k] = DIGITS[x & 15]!;
    x >>>= 4;
  }
  return p + n;
}

/** `"NAME":"0x` per field, as bytes. */
const MEMBER = FIELDS.map((f) => Buffer.from(`${JSON.stringify(f.name)}:"0x`));

/**
 * The bits of each VMCS slot of the state in `ctx` that can take any value with every check still passing,
 * found by group testing (module comment). Leaves the state as it was.
 */
function learn(ctx: Ctx, rng: Rng): Uint32Array {
  ctx.refresh(); // once: the runners below do not (runnerOf)
  const v = ctx.vmcs.v;
  const base = v.slice();
  const free = new Uint32Array(v.length);
  const all = fieldPlans();
  // A field the template leaves 0 (mostly: one of a feature the template does not use) varies in one template
  // of UNUSED_VARIES: states keep their size, and a hypervisor still meets values in fields it must ignore.
  const order = rng.shuffle(
    all.filter(
      (p, f) =>
        p.slots.length > 0 &&
        (base[f << 1] !== 0 || base[(f << 1) | 1] !== 0 || rng.int(UNUSED_VARIES) === 0),
    ),
  );
  const randomize = (p: FieldPlan, slot: number, bits: number) => {
    for (const r of p.related) if (free[r] !== 0) v[r] = (base[r]! ^ (rng.u32() & free[r]!)) >>> 0;
    // the bits under test always change (a one-bit range would otherwise keep its value half the time)
    const flip = rng.u32() & bits || bits;
    v[slot] = (base[slot]! ^ (rng.u32() & free[slot]!) ^ flip) >>> 0;
  };
  const restore = (p: FieldPlan, slot: number) => {
    for (const r of p.related) v[r] = base[r]!;
    v[slot] = base[slot]!;
  };
  const holds = (p: FieldPlan, slot: number, bits: number): boolean => {
    const { run, out } = runnerOf(p);
    for (let k = 0; k < SAMPLES; k++) {
      randomize(p, slot, bits);
      if (run(ctx, out) !== 0) {
        restore(p, slot);
        return false;
      }
    }
    restore(p, slot);
    return true;
  };
  const split = (p: FieldPlan, slot: number, lo: number, n: number): void => {
    const bits = range(lo, n);
    if (holds(p, slot, bits)) free[slot] = (free[slot]! | bits) >>> 0;
    else if (n > 1) {
      split(p, slot, lo, n >> 1);
      split(p, slot, lo + (n >> 1), n - (n >> 1));
    }
  };
  for (const p of order)
    for (const { slot, bits } of p.slots) {
      if (p.checks.length === 0) free[slot] = bits;
      else split(p, slot, 0, bits === 0xffff ? 16 : 32);
    }
  ctx.refresh();
  return free;
}

// ---- The stream

/**
 * A reproducible stream of valid states in one reused VMCS store (module comment): `fill(i)` makes state i
 * the current one; `vmcs`, `memory`, `processor` and `mode` describe it until the next fill. The store is
 * written in place, with its write count (`Vmcs.version`) advanced, so a result of the previous state reads
 * its messages first.
 */
export class ValidStates {
  /** The current state's VMCS (one store, rewritten by every fill). */
  readonly vmcs = new Vmcs();
  /** How often a variation failed every draw and the template itself was taken (for measurements). */
  fallbacks = 0;
  /** Draws repeated because a check failed (the fields it reads drawn again; for measurements). */
  redraws = 0;
  private readonly caps: Caps;
  private readonly modes: Mode[];
  private readonly variants: number;
  private readonly pool: (Template | undefined)[] = [];
  /** The context of the state being verified (made with the first template). */
  private ctx: Ctx | undefined;
  private current: Template | undefined;

  constructor(
    readonly profile: Caps,
    readonly seed: number,
    private readonly opts: VaryOptions = {},
  ) {
    this.caps = profile.facts.conservative();
    this.modes = opts.mode ? [opts.mode] : modesFor(profile);
    this.variants = Math.max(1, Math.floor(opts.variants ?? VARIANTS));
  }

  /** The current state's memory (its template's; not varied). */
  get memory(): Memory {
    return this.template().memory;
  }
  get processor(): ProcessorState {
    return this.template().processor;
  }
  get mode(): Mode {
    return this.template().mode;
  }
  /** Aspects of the template the state varies (src/gen/valid.ts). */
  get aspects(): readonly string[] {
    return this.template().aspects;
  }

  /** The current state as an entry (its VMCS is the reused store; one object per template). */
  entry(): Entry {
    const t = this.template();
    t.entry ??= {
      caps: this.profile,
      processor: t.processor,
      vmcs: this.vmcs,
      memory: t.memory,
      cpu: this.profile.name,
    };
    return t.entry;
  }

  /** The current state as one line of NDJSON, equal to `JSON.stringify(serializeGenerated(this.entry()))`. */
  json(): string {
    return this.template().json(this.vmcs.v, this.entry());
  }

  /** Bytes the current state's document takes at most (room to give `writeJson`). */
  jsonBound(): number {
    return this.template().bound(this.entry());
  }

  /** The current state's document (as `json()`), in UTF-8 at `p`; returns its end. */
  writeJson(out: Uint8Array, p: number): number {
    return this.template().write(out, p, this.vmcs.v, this.entry());
  }

  /**
   * What the current state's template lets vary: each varied field with the mask of its free bits (bit i of
   * the field's value), in field-table order.
   */
  freeBits(): Map<string, bigint> {
    const t = this.template();
    const out = new Map<string, bigint>();
    for (const [j, s] of t.slots.entries()) {
      const f = FIELDS[s >> 1]!;
      const bits = BigInt(t.masks[j]!) << ((s & 1) === 1 ? 32n : 0n);
      out.set(f.name, (out.get(f.name) ?? 0n) | bits);
    }
    return out;
  }

  /** Make state i (a whole number from 0) the current one. */
  fill(i: number): void {
    if (!Number.isSafeInteger(i) || i < 0)
      throw new InputError(`i must be a whole number from 0, got ${String(i)}`, {
        location: "ValidStates.fill",
      });
    const per = POOL * this.variants;
    const round = Math.floor(i / per);
    const r = i - round * per;
    const t = this.templateAt(round * POOL + (r % POOL));
    this.current = t;
    const v = this.vmcs.v;
    v.set(t.base);
    this.vmcs.version++;
    if (r < POOL || t.slots.length === 0) return;
    this.ctx ??= new Ctx(this.vmcs, this.caps, t.processor, t.memory);
    const ctx = this.ctx;
    ctx.proc_ = t.processor;
    ctx.mem = t.memory;
    // xorshift32 (Marsaglia 2003) in a local: the draw is most of a variation's own time. Seeded from (seed, i).
    let x = (Math.imul(this.seed ^ 0x2545f491, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca77)) | 0 || 1;
    const { slots, masks, base } = t;
    // the step is written out in both loops: a closure over `x` would keep it in memory, not a register
    for (let j = 0; j < slots.length; j++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const s = slots[j]!;
      v[s] = (base[s]! ^ (x & masks[j]!)) >>> 0;
    }
    // A failing check: the fields it reads are drawn again, and at the last tries set back to the template's.
    for (let k = 0; k < TRIES; k++) {
      if (countFailures(ctx) === 0) return;
      const back = k >= TRIES - 2;
      for (const c of failingChecks(ctx))
        for (const j of t.positionsOf(c)) {
          const s = slots[j]!;
          if (back) {
            v[s] = base[s]!;
            continue;
          }
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          v[s] = (base[s]! ^ (x & masks[j]!)) >>> 0;
        }
      this.redraws++;
    }
    if (countFailures(ctx) === 0) return;
    this.fallbacks++;
    v.set(base);
  }

  private template(): Template {
    if (!this.current) throw new Error("no state yet: call fill(i) first");
    return this.current;
  }

  private templateAt(j: number): Template {
    const k = j % POOL;
    const cached = this.pool[k];
    if (cached?.index === j) return cached;
    const mode = this.modes[j % this.modes.length]!;
    const g = generateValid(this.profile, Rng.derive(this.seed, j), { ...this.opts, mode });
    const t = new Template(j, g.entry, mode, g.aspects, this.caps, Rng.derive(~this.seed >>> 0, j));
    this.pool[k] = t;
    return t;
  }
}
