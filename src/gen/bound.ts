/**
 * Rules a profile keeps from failing alone, proved from their compiled conditions before any search.
 *
 * A rule fails when its gate, its own `when` and its `fail` all hold (and its section's exemption does not).
 * Each of these is compiled source (src/checks/compile.ts) in a fixed form, so the proof reads their
 * conjuncts — the operands of top-level `&&`, and of every operand of a top-level `||` — and knows two kinds:
 *
 * - a condition on the CPU's capabilities alone (`!c.caps.sgx`, `(c.caps.ctl.proc.may1 & …) === 0`): it has one
 *   value per profile; evaluated false, the rule can never fail on that profile;
 * - "this bit is 1" (`(c.proc2 & 4194304) !== 0`, `(v[…]/*GUEST_CR4*\/ & …) !== 0`) for a bit in {@link FORBIDDEN}
 *   or one a {@link witnesses witness rule} forbids: a bit the profile does not allow, so every state that sets
 *   it also fails a capability rule, and the rule can fail only together with it.
 *
 * A rule proved this way is "not applicable" on the profile, the status the search would reach after
 * evaluating tens of thousands of candidate states (src/gen/violate.ts). The proof only ever says less than
 * the truth: a condition it cannot read is taken as satisfiable.
 */
import { type ControlWord, controlBitNames } from "../arch/controls.js";
import { toFunction } from "../checks/compile.js";
import { CHECKS, checkById } from "../checks/registry.js";
import type { Parts, RuleCheck } from "../checks/rule.js";
import type { Check, Ctx } from "../checks/types.js";
import type { Caps } from "../cpu/profile.js";

/** One place a bit the profile forbids can be set, and the capability rule that then fails. */
interface Forbidden {
  /** The bits the profile allows to be 1 (the others are forbidden). */
  readonly allowed: (caps: Caps) => number;
  /** The capability rule a state with a forbidden bit fails. */
  readonly rule: string;
  /** What one bit (a power of two) is called in a reason. */
  readonly name: (bit: number) => string;
}

/** The number of a bit of a half (a power of two) in the whole 64-bit value. */
const bitNumber = (bit: number, half: "lo" | "hi") => Math.log2(bit) + (half === "hi" ? 32 : 0);

const control = (word: ControlWord, half: "lo" | "hi", rule: string): Forbidden => ({
  allowed: (caps) => (half === "lo" ? caps.ctl[word].may1 : caps.ctl[word].may1Hi),
  rule,
  name: (bit) => {
    const [n] = half === "lo" ? controlBitNames(word, bit) : [];
    return n ? `"${n}"` : `${word} control bit ${bitNumber(bit, half)}`;
  },
});
const cr4 = (half: "lo" | "hi", rule: string): Forbidden => ({
  allowed: (caps) => (half === "lo" ? caps.cr4Fixed1 : caps.cr4Fixed1Hi),
  rule,
  name: (bit) => `CR4 bit ${bitNumber(bit, half)}`,
});

/** `bits` named bit by bit (`name` names one): "X" for one, "one of X, Y" for several. */
function names(name: (bit: number) => string, bits: number): string {
  const each: string[] = [];
  for (let b = 0; b < 32; b++) if ((bits >>> b) & 1) each.push(name(2 ** b));
  return each.length > 1 ? `one of ${each.join(", ")}` : each.join("");
}

/**
 * Where a bit is forbidden, keyed by how compiled source reads it: a control word in effect (`c.proc2`; the
 * secondary and tertiary words are 0 unless their primary bit is 1, so a bit set there is set in the field
 * with the primary bit) or a field half (`GUEST_CR4.hi`). test/gen/bound.test.ts sets each forbidden bit in
 * valid states of every profile and asserts that the named rule fails.
 */
export const FORBIDDEN: Readonly<Record<string, Forbidden>> = {
  pin: control("pin", "lo", "ctl.exec.pin-allowed-1"),
  proc: control("proc", "lo", "ctl.exec.proc-allowed-1"),
  proc2: control("proc2", "lo", "ctl.exec.proc2-reserved"),
  proc3: control("proc3", "lo", "ctl.exec.proc3-reserved"),
  proc3Hi: control("proc3", "hi", "ctl.exec.proc3-reserved"),
  exit: control("exit", "lo", "ctl.exit.allowed-1-settings"),
  exit2: control("exit2", "lo", "ctl.exit.secondary-reserved"),
  exit2Hi: control("exit2", "hi", "ctl.exit.secondary-reserved"),
  entry: control("entry", "lo", "ctl.entry.allowed-1-settings"),
  GUEST_CR4: cr4("lo", "guest.cr4.unsupported-bits-clear"),
  "GUEST_CR4.hi": cr4("hi", "guest.cr4.unsupported-bits-clear"),
  HOST_CR4: cr4("lo", "host.cr4.fixed-bits"),
  "HOST_CR4.hi": cr4("hi", "host.cr4.fixed-bits"),
};

const NUMBER = String.raw`\(?(-?(?:0x[0-9a-fA-F]+|\d+))\)?`;
/** `(c.word & N) !== 0` or `(v[slot]/*FIELD*\/ & N) !== 0`. */
const BIT_SET = new RegExp(
  String.raw`^\((?:c\.(\w+)|v\[\d+\]/\*([A-Z0-9_]+(?:\.hi)?)\*/) & ${NUMBER}\) !== 0$`,
);
/** Reads nothing but the profile: every `c.` is `c.caps.`, no slot, no memory. */
const capsOnly = (src: string) => !/\bv\[/.test(src) && !/\bc\.(?!caps\.)/.test(src);

/** `src` without the parentheses around all of it. */
function unwrap(src: string): string {
  let s = src.trim();
  while (s.startsWith("(") && closing(s, 0) === s.length - 1) s = s.slice(1, -1).trim();
  return s;
}

/** Index of the bracket closing the one at `open` (-1 if none): quoted strings are skipped. */
function closing(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const ch = s[i];
    if (ch === '"' || ch === "'") i = s.indexOf(ch, i + 1);
    else if (ch === "(" || ch === "[") depth++;
    else if ((ch === ")" || ch === "]") && --depth === 0) return i;
    if (i < 0) return -1;
  }
  return -1;
}

/**
 * The operands of `op` (`&&` or `||`) at the top level of `src`, or undefined when a conditional (lower
 * precedence than both) is there too or the source is not of the expected form (`never` splits at `||` first,
 * so an `&&` split never meets a top-level `||`).
 */
function operands(src: string, op: "&&" | "||"): string[] | undefined {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < src.length; i++) {
    const ch = src[i];
    if (ch === "`") return undefined;
    if (ch === '"' || ch === "'" || ch === "(" || ch === "[") {
      const end = ch === "(" || ch === "[" ? closing(src, i) : src.indexOf(ch, i + 1);
      if (end < 0) return undefined;
      i = end;
    } else if (ch === "?") return undefined;
    else if (src.startsWith(op, i)) {
      out.push(unwrap(src.slice(start, i)));
      start = i + 2;
      i++;
    }
  }
  out.push(unwrap(src.slice(start)));
  return out;
}

/** A compiled rule's parts (undefined for a check of another form). */
const partsOf = (check: Check | undefined): Parts | undefined =>
  (check as Partial<RuleCheck> | undefined)?.parts;
/** The condition under which a rule's section does not apply it (its source), if any. */
export const exemption = (check: Check | undefined): string | undefined => partsOf(check)?.exempt;

/** A rule that fails on every state setting one of `bits` of `key` (a control word or a field half). */
interface Witness {
  readonly key: string;
  readonly bits: number;
  readonly rule: Check;
  /** Its condition on the capabilities alone (true: the profile forbids the bits). */
  readonly fails: (caps: Caps) => boolean;
}

let witnessList: Witness[] | undefined;
/**
 * The registry's rules whose only condition besides their failing one is "a bit is 1" and whose failing
 * condition reads only the capabilities (guest.pending-dbg.rtm-support: a pending RTM debug exception, bit 16,
 * needs RTM): on a profile where that condition holds, every state setting the bit fails the rule.
 */
export function witnesses(): readonly Witness[] {
  witnessList ??= CHECKS.flatMap((rule): Witness[] => {
    const p = partsOf(rule);
    const conds = [p?.gate, p?.when].filter((x) => x !== undefined);
    if (!p || p.fail === undefined || conds.length !== 1) return [];
    const fail = unwrap(p.fail);
    const m = BIT_SET.exec(unwrap(conds[0]!));
    if (!m || !capsOnly(fail)) return [];
    const run = toFunction(fail, "bound");
    const fails = (caps: Caps) => {
      try {
        return !!run({ caps } as unknown as Ctx);
      } catch {
        return false;
      }
    };
    return [{ key: (m[1] ?? m[2])!, bits: Number(m[3]) >>> 0, rule, fails }];
  });
  return witnessList;
}

/**
 * A witness rule that fails on `caps` whenever any of `bits` of `key` is set (each bit covered), usable for
 * `target` (not itself; one whose section exemption is the target's, as for {@link FORBIDDEN}'s rules).
 */
function witnessFor(key: string, bits: number, caps: Caps, target: Check, exempt: string | undefined) {
  for (const w of witnesses())
    if (
      w.key === key &&
      (bits & ~w.bits) === 0 &&
      w.rule !== target &&
      (exemption(w.rule) ?? exempt) === exempt &&
      w.fails(caps)
    )
      return w;
  return undefined;
}

/**
 * Why no state that passes every capability rule of the profile makes `src` true (undefined: the proof does not
 * reach). `target` is the rule proved about: a bit whose only witness is that rule itself proves nothing.
 */
function never(src: string, caps: Caps, target: Check, exempt: string | undefined): string | undefined {
  const s = unwrap(src);
  const any = operands(s, "||");
  if (any && any.length > 1) {
    const why = any.map((a) => never(a, caps, target, exempt));
    return why.every((w) => w !== undefined) ? [...new Set(why)].join("; or ") : undefined;
  }
  const all = operands(s, "&&");
  if (all && all.length > 1) {
    for (const a of all) {
      const why = never(a, caps, target, exempt);
      if (why) return why;
    }
    return undefined;
  }
  if (capsOnly(s)) {
    let holds: unknown = true;
    try {
      holds = toFunction(s, "bound")({ caps } as unknown as Ctx);
    } catch {
      // not of the expected form: no proof
    }
    const shown = s.replaceAll("c.caps.", "").replace(/^!\(!([\w.]+)\)$/, "$1");
    return holds ? undefined : `only where ${shown}, false on ${caps.name}`;
  }
  const m = BIT_SET.exec(s);
  if (!m) return undefined;
  const key = (m[1] ?? m[2])!;
  const bits = Number(m[3]) >>> 0;
  const w = bits === 0 ? undefined : witnessFor(key, bits, caps, target, exempt);
  if (w) {
    const [field, half] = key.split(".");
    const name = (bit: number) => `${field} bit ${bitNumber(bit, half === "hi" ? "hi" : "lo")}`;
    return `only with ${names(name, bits)} = 1, which ${caps.name} does not allow (a state setting it fails ${w.rule.id})`;
  }
  const where = FORBIDDEN[key];
  if (!where || where.rule === target.id) return undefined;
  // a witness rule that some VM entries skip (the execution controls' rules skip SMM returns, SDM 34.15.4)
  // proves the point only for a rule those entries skip too
  const witness = exemption(checkById(where.rule));
  if (witness !== undefined && witness !== exempt) return undefined;
  if (bits === 0 || (bits & where.allowed(caps)) !== 0) return undefined;
  return `only with ${names(where.name, bits)} = 1, which ${caps.name} does not allow (a state setting it fails ${where.rule})`;
}

/**
 * Why `check` cannot fail alone on `caps`, proved from its compiled conditions; undefined when the proof does not
 * reach (the rule may still be impossible to violate alone: the search decides).
 */
export function boundReason(check: Check, caps: Caps): string | undefined {
  const parts = partsOf(check);
  if (!parts) return undefined;
  for (const src of [parts.gate, parts.when, parts.fail]) {
    if (src === undefined) continue;
    const why = never(src, caps, check, parts.exempt);
    if (why) return `the rule can fail ${why}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Rules that fail only together with others

/** A condition as a literal: its source with negations taken off (`!x`, `a !== b`), and whether it is negated. */
interface Literal {
  readonly atom: string;
  readonly positive: boolean;
}

/**
 * Index of the top-level ` === ` or ` !== ` of `s`, or -1 unless `s` is one comparison: none, two, or an operator
 * binding less tightly than equality at the top level (`&`, `|`, `^`, `&&`, `||`, `??`, `?:`, a comma, a template).
 */
function comparison(s: string): number {
  let at = -1;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '"' || ch === "'" || ch === "(" || ch === "[") {
      const end = ch === "(" || ch === "[" ? closing(s, i) : s.indexOf(ch, i + 1);
      if (end < 0) return -1;
      i = end;
    } else if (s.startsWith(" === ", i) || s.startsWith(" !== ", i)) {
      if (at >= 0) return -1;
      at = i;
      i += 4;
    } else if ("&|^?,`".includes(ch)) return -1;
  }
  return at;
}

function literal(src: string): Literal {
  let s = unwrap(src);
  let positive = true;
  for (;;) {
    const inner = s.slice(1).trim();
    if (
      s.startsWith("!") &&
      (/^[\w.]+$/.test(inner) || (inner.startsWith("(") && closing(inner, 0) === inner.length - 1))
    ) {
      s = unwrap(inner);
      positive = !positive;
      continue;
    }
    const at = comparison(s);
    if (at >= 0 && s.startsWith(" !== ", at)) {
      s = `${s.slice(0, at)} === ${s.slice(at + 5)}`;
      positive = !positive;
    }
    return { atom: s, positive };
  }
}

/**
 * What must hold for a rule to fail, as literals: its gate's, `when`'s and `fail`'s conjuncts (a part with a
 * top-level `||` as one literal) and its section's exemption false. Conditions on the capabilities alone are
 * decided on the profile: undefined when one is false (the rule cannot fail there).
 */
function failLiterals(check: Check, caps: Caps): Literal[] | undefined {
  let byCheck = literalCache.get(caps);
  if (!byCheck) {
    byCheck = new Map();
    literalCache.set(caps, byCheck);
  }
  let lits = byCheck.get(check);
  if (lits === undefined) {
    lits = literalsOf(check, caps) ?? null;
    byCheck.set(check, lits);
  }
  return lits ?? undefined;
}
const literalCache = new WeakMap<Caps, Map<Check, Literal[] | null>>();

/** A condition on the capabilities alone, compiled once per source text. */
const capsConditions = new Map<string, ((c: Ctx) => unknown) | null>();
function capsHolds(src: string, caps: Caps): boolean {
  let run = capsConditions.get(src);
  if (run === undefined) {
    try {
      run = toFunction(src, "bound");
    } catch {
      run = null;
    }
    capsConditions.set(src, run);
  }
  try {
    return run === null || !!run({ caps } as unknown as Ctx);
  } catch {
    return true; // not of the expected form: taken as satisfiable
  }
}

function literalsOf(check: Check, caps: Caps): Literal[] | undefined {
  const p = partsOf(check);
  if (!p) return undefined;
  const out: Literal[] = [];
  for (const src of [p.gate, p.when, p.fail]) {
    if (src === undefined) continue;
    const s = unwrap(src);
    // a top-level `||` binds less tightly than `&&`: such a part is one literal
    const any = operands(s, "||");
    for (const c of any && any.length === 1 ? (operands(s, "&&") ?? [s]) : [s]) {
      if (capsOnly(c)) {
        if (!capsHolds(c, caps)) return undefined;
        continue;
      }
      out.push(literal(c));
    }
  }
  if (p.exempt !== undefined) {
    const e = literal(p.exempt);
    out.push({ atom: e.atom, positive: !e.positive });
  }
  return out;
}

/** Conditions over at most this many further atoms are tried (every assignment of them is enumerated). */
const MAX_FREE = 6;

/**
 * The other rules every state failing `check` also fails, proved from the rules' conditions on `caps`; undefined
 * when the proof does not reach. Each condition is taken as a free yes/no (only a literal and its negation are
 * tied), which allows more states than exist, so "every state failing it fails one of them" holds a fortiori.
 */
export function coFailing(check: Check, caps: Caps): string[] | undefined {
  const mine = failLiterals(check, caps);
  if (!mine || mine.length === 0) return undefined;
  const fixed = new Map<string, boolean>();
  for (const l of mine) {
    if (fixed.get(l.atom) === !l.positive) return undefined; // cannot fail at all
    fixed.set(l.atom, l.positive);
  }
  // other rules that share a condition with this one and add few of their own
  const others: { id: string; lits: Literal[] }[] = [];
  const free = new Set<string>();
  for (const c of CHECKS) {
    if (c === check) continue;
    const lits = failLiterals(c, caps);
    if (!lits?.some((l) => fixed.has(l.atom))) continue;
    // a literal contradicting this rule's: the other rule cannot fail with it
    if (lits.some((l) => fixed.has(l.atom) && fixed.get(l.atom) !== l.positive)) continue;
    const extra = lits.filter((l) => !fixed.has(l.atom) && !free.has(l.atom)).map((l) => l.atom);
    if (free.size + new Set(extra).size > MAX_FREE) continue;
    for (const a of extra) free.add(a);
    others.push({ id: c.id, lits });
  }
  const atoms = [...free];
  /** Every assignment of the free conditions makes one of `rules` fail. */
  const covers = (rules: typeof others) => {
    for (let m = 0; m < 2 ** atoms.length; m++) {
      const value = (atom: string) => fixed.get(atom) ?? ((m >> atoms.indexOf(atom)) & 1) === 1;
      if (!rules.some((o) => o.lits.every((l) => value(l.atom) === l.positive))) return false;
    }
    return true;
  };
  if (others.length === 0 || !covers(others)) return undefined;
  // name only the rules needed: each left out in turn while the others still cover every case
  let needed = others;
  for (const o of others) {
    const without = needed.filter((x) => x !== o);
    if (covers(without)) needed = without;
  }
  return needed.map((o) => o.id);
}
