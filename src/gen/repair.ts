/**
 * Repair (issue 7, as fuzzers use it): change few fields of an arbitrary state so that it passes every check,
 * or so that it fails exactly one chosen check. Greedy, driven by the failing checks' declared fields: at each
 * step the single change (a bit cleared/set, a boundary value, or the value a valid template of the same mode
 * has) that most reduces the number of failing checks is applied; when no single change helps, all fields of
 * the first failing check are copied from the template (then everything, as a last resort). A final pass
 * reverts every change that is not needed, alone or together with one other.
 */

import { ENTRY } from "../arch/controls.js";
import { F, FIELDS, fieldByName } from "../arch/fields.js";
import { CR0, CR4, RFLAGS } from "../arch/registers.js";
import { checkById } from "../checks/registry.js";
import { type Check, Ctx } from "../checks/types.js";
import type { Entry } from "../entry/document.js";
import { failingChecks } from "../entry/evaluate.js";
import { Rng } from "./rng.js";
import { generateValid, type Mode, modesFor } from "./valid.js";
import { cloneEntry, violationSearch } from "./violate.js";

/** One change repair made: the field (or processor key), its value before and after. */
export interface Change {
  /** KVM field name, `processor.KEY`, or `memory[0xADDR]` */
  target: string;
  from: string;
  to: string;
}

/**
 * What repair must keep (explain's completion of a partial log changes only what the log does not show):
 * field bits under a mask, memory bytes, processor-state keys.
 */
export interface Frozen {
  /** field index → masks [bits 31:0, bits 63:32] of the bits that keep their value */
  fields?: ReadonlyMap<number, readonly [number, number]>;
  /** memory byte addresses that keep their value */
  memory?: ReadonlySet<number>;
  /** processor-state keys that keep their value */
  processor?: ReadonlySet<string>;
}

/** A candidate value with the frozen bits put back, or undefined when nothing may change. */
function permitted(frozen: Frozen | undefined, s: Slot, cur: Val, v: Val): Val | undefined {
  if (!frozen) return v;
  if (s.kind === "proc") return frozen.processor?.has(s.key) ? undefined : v;
  if (s.kind === "mem") {
    for (let b = 0; b < 4; b++) if (frozen.memory?.has(s.addr + b)) return undefined;
    return v;
  }
  const m = frozen.fields?.get(s.index);
  if (!m) return v;
  const out = { lo: ((v.lo & ~m[0]) | (cur.lo & m[0])) >>> 0, hi: ((v.hi & ~m[1]) | (cur.hi & m[1])) >>> 0 };
  return same(out, cur) ? undefined : out;
}

/** What {@link repair} did: the changed entry, the changes, whether it reached its goal, and the checks still failing. */
export interface RepairResult {
  entry: Entry;
  changes: Change[];
  /** ids still failing (empty on success; [id] when a violation was asked for) */
  failing: string[];
  ok: boolean;
}

/** The guest mode a state is closest to. */
export function modeOf(e: Entry): Mode {
  const v = e.vmcs;
  if ((v.lo(F.VM_ENTRY_CONTROLS!) & ENTRY.IA32E_GUEST) !== 0) return "64";
  if ((v.lo(F.GUEST_RFLAGS!) & RFLAGS.VM) !== 0) return "v86";
  if ((v.lo(F.GUEST_CR0!) & CR0.PE) === 0) return "real";
  if ((v.lo(F.GUEST_CR0!) & CR0.PG) !== 0 && (v.lo(F.GUEST_CR4!) & CR4.PAE) !== 0) return "pae";
  return "32";
}

const hex = (lo: number, hi: number) =>
  hi ? `0x${hi.toString(16)}${lo.toString(16).padStart(8, "0")}` : `0x${lo.toString(16)}`;

/** Templates: valid states of the same mode (several, so different feature sets are available). */
function templates(e: Entry, seed: number): Entry[] {
  const modes = modesFor(e.caps);
  const want = modeOf(e);
  const mode = modes.includes(want) ? want : modes[0]!;
  const out: Entry[] = [];
  for (let i = 0; i < 4; i++)
    out.push(
      generateValid(e.caps, Rng.derive(seed, 9000 + i), { mode, features: i === 0 ? "min" : "random" }).entry,
    );
  return out;
}

type Slot = { kind: "field"; index: number } | { kind: "mem"; addr: number } | { kind: "proc"; key: string };

function slotName(s: Slot): string {
  if (s.kind === "field") return FIELDS[s.index]!.name;
  if (s.kind === "proc") return `processor.${s.key}`;
  return `memory[0x${s.addr.toString(16)}]`;
}

function slotKey(s: Slot): string {
  return slotName(s);
}

interface Val {
  lo: number;
  hi: number;
  raw?: unknown;
}

function read(e: Entry, s: Slot): Val {
  if (s.kind === "field") return { lo: e.vmcs.lo(s.index), hi: e.vmcs.hi(s.index) };
  if (s.kind === "mem") return { lo: e.memory.read32(s.addr), hi: 0 };
  return { lo: 0, hi: 0, raw: (e.processor as unknown as Record<string, unknown>)[s.key] };
}

function write(e: Entry, s: Slot, v: Val): void {
  if (s.kind === "field") e.vmcs.setHalves(s.index, v.lo, v.hi);
  else if (s.kind === "mem") e.memory.write32(s.addr, v.lo);
  else {
    const p = e.processor as unknown as Record<string, unknown>;
    if (v.raw === undefined) delete p[s.key];
    else p[s.key] = v.raw;
  }
}

function same(a: Val, b: Val): boolean {
  return a.lo === b.lo && a.hi === b.hi && a.raw === b.raw;
}

function show(s: Slot, v: Val): string {
  return s.kind === "proc" ? JSON.stringify(v.raw) : hex(v.lo, v.hi);
}

/** Slots a check reads: its declared fields, the processor state, memory the template has there. */
function slotsOf(c: Check, e: Entry, tpl: Entry): Slot[] {
  const out: Slot[] = [];
  for (const n of c.fields) {
    const f = fieldByName(n);
    if (f) out.push({ kind: "field", index: f.index });
  }
  for (const k of Object.keys(tpl.processor)) out.push({ kind: "proc", key: k });
  for (const k of Object.keys(e.processor)) if (!(k in tpl.processor)) out.push({ kind: "proc", key: k });
  return out;
}

/** Candidate values for a slot: the templates' values, cleared/set single bits, 0. */
function valuesFor(s: Slot, cur: Val, tpls: Entry[]): Val[] {
  const out: Val[] = [];
  for (const t of tpls) out.push(read(t, s));
  if (s.kind === "proc") {
    out.push({ lo: 0, hi: 0, raw: undefined });
    return out;
  }
  out.push({ lo: 0, hi: 0 });
  for (let b = 0; b < 32; b++) out.push({ lo: (cur.lo ^ (1 << b)) >>> 0, hi: cur.hi });
  if (s.kind === "field" && FIELDS[s.index]!.width !== 16 && FIELDS[s.index]!.width !== 32)
    for (let b = 0; b < 32; b++) out.push({ lo: cur.lo, hi: (cur.hi ^ (1 << b)) >>> 0 });
  return out;
}

/** Memory words the templates hold that the state lacks or differs in (link pointer dword, PDPTEs, ...). */
function memSlots(e: Entry, tpl: Entry): Slot[] {
  const out: Slot[] = [];
  for (const [a] of tpl.memory.entries64()) out.push({ kind: "mem", addr: a }, { kind: "mem", addr: a + 4 });
  for (const [a] of e.memory.entries64()) out.push({ kind: "mem", addr: a }, { kind: "mem", addr: a + 4 });
  return out;
}

/**
 * Repair a state (a copy is changed). `target`: the check id that should remain as the only failure; absent =
 * pass every check.
 */
export function repair(
  input: Entry,
  opts: { violate?: string; seed?: number; maxSteps?: number; frozen?: Frozen } = {},
): RepairResult {
  const frozen = opts.frozen;
  /** Write a value where the frozen bits allow; false when nothing could change. */
  const put = (s: Slot, v: Val): boolean => {
    const ok = permitted(frozen, s, read(e, s), v);
    if (ok) write(e, s, ok);
    return ok !== undefined;
  };
  const e = cloneEntry(input);
  const ctx = new Ctx(e.vmcs, e.caps, e.processor, e.memory);
  const tpls = templates(e, opts.seed ?? 1);
  const failing = () => {
    ctx.refresh();
    return failingChecks(ctx);
  };
  const score = (fs: readonly Check[]) => fs.length;

  let fs = failing();
  for (let step = 0; step < (opts.maxSteps ?? 200) && fs.length > 0; step++) {
    const first = fs[0]!;
    // candidate slots: fields of every failing check (first check first), processor, memory
    const slots = new Map<string, Slot>();
    for (const c of fs) for (const s of slotsOf(c, e, tpls[0]!)) slots.set(slotKey(s), s);
    for (const s of memSlots(e, tpls[0]!)) slots.set(slotKey(s), s);
    let best: { s: Slot; v: Val; n: number; fixesFirst: boolean } | undefined;
    for (const s of slots.values()) {
      const cur = read(e, s);
      for (const want of valuesFor(s, cur, tpls)) {
        const v = permitted(frozen, s, cur, want);
        if (v === undefined || same(v, cur)) continue;
        write(e, s, v);
        const after = failing();
        const n = score(after);
        const fixesFirst = !after.includes(first);
        write(e, s, cur);
        if (n < (best?.n ?? score(fs)) || (best && n === best.n && fixesFirst && !best.fixesFirst))
          best = { s, v, n, fixesFirst };
      }
    }
    if (best) {
      write(e, best.s, best.v);
      fs = failing();
      continue;
    }
    // No single change helps: copy the first failing check's fields from the template, else everything.
    const tpl = tpls[0]!;
    const before = fs.length;
    const snapshot = frozen ? cloneEntry(e) : undefined;
    for (const s of slotsOf(first, e, tpl)) put(s, read(tpl, s));
    fs = failing();
    if (fs.length >= before) {
      for (const f of FIELDS)
        put({ kind: "field", index: f.index }, read(tpl, { kind: "field", index: f.index }));
      for (const s of memSlots(e, tpl)) put(s, read(tpl, s));
      for (const k of Object.keys(tpl.processor))
        put({ kind: "proc", key: k }, read(tpl, { kind: "proc", key: k }));
      fs = failing();
      // With frozen slots some failures cannot go: stop when copying the template does not help either.
      if (snapshot && fs.length >= before) {
        for (const s of diff(snapshot, e)) write(e, s, read(snapshot, s));
        fs = failing();
        break;
      }
    }
  }

  // Minimise: put back each change that is not needed to stay valid (with frozen slots: to fail no more), then
  // the pairs of changes needed only together (a selector and its base, the instruction and the launch state a
  // template copy brought), then single changes again.
  const target = frozen ? failing().length : 0;
  const putBack = (ss: readonly Slot[]): boolean => {
    const now = ss.map((s) => read(e, s));
    for (const s of ss) write(e, s, read(input, s));
    const n = failing().length;
    if (frozen ? n <= target : n === 0) return true;
    for (const [i, s] of ss.entries()) write(e, s, now[i]!);
    return false;
  };
  for (const s of diff(input, e)) putBack([s]);
  const left = diff(input, e);
  const back = new Set<number>();
  for (let i = 0; i < left.length; i++)
    for (let j = i + 1; j < left.length && !back.has(i); j++)
      if (!back.has(j) && putBack([left[i]!, left[j]!])) back.add(i).add(j);
  if (back.size > 0) for (const s of diff(input, e)) putBack([s]);
  fs = failing();

  let result: Entry = e;
  if (opts.violate !== undefined && fs.length === 0) {
    if (!checkById(opts.violate)) throw new Error(`no check with id ${opts.violate}`);
    const v = violationSearch(e.caps).violate(opts.violate, e);
    if (v) {
      result = v;
      const c2 = new Ctx(v.vmcs, v.caps, v.processor, v.memory);
      fs = failingChecks(c2);
    }
  }
  const changes = diff(input, result).map((s) => ({
    target: slotName(s),
    from: show(s, read(input, s)),
    to: show(s, read(result, s)),
  }));
  const ids = fs.map((c) => c.id);
  const ok = opts.violate === undefined ? ids.length === 0 : ids.length === 1 && ids[0] === opts.violate;
  return { entry: result, changes, failing: ids, ok };
}

/** Slots where two states differ. */
function diff(a: Entry, b: Entry): Slot[] {
  const out: Slot[] = [];
  for (const f of FIELDS) {
    const s: Slot = { kind: "field", index: f.index };
    if (!same(read(a, s), read(b, s))) out.push(s);
  }
  const addrs = new Set<number>();
  for (const [x] of a.memory.entries64()) addrs.add(x).add(x + 4);
  for (const [x] of b.memory.entries64()) addrs.add(x).add(x + 4);
  for (const addr of [...addrs].sort((x, y) => x - y)) {
    const s: Slot = { kind: "mem", addr };
    if (!same(read(a, s), read(b, s))) out.push(s);
  }
  const keys = new Set([...Object.keys(a.processor), ...Object.keys(b.processor)]);
  for (const key of keys) {
    const s: Slot = { kind: "proc", key };
    if (!same(read(a, s), read(b, s))) out.push(s);
  }
  return out;
}
