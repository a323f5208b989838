/**
 * Predicates written once as source (design.md "Speed"): `pred` turns a small JavaScript expression into the
 * predicate function the reference loop calls, and keeps the expression so the fast path
 * (src/entry/fast.ts) can paste it into straight-line code, where the VMCS reads become array loads on one
 * local and the profile's and control words' values become literals. One text, two uses: the fast path is
 * derived from the registry, not written twice.
 *
 * The expression sees exactly two names:
 * - `v`: the VMCS slots (Uint32Array; field i's bits 31:0 at 2i, bits 63:32 at 2i+1) — read through the
 *   `lo`/`hi` builders below, never by hand;
 * - `c`: the evaluation context (src/checks/types.ts `Ctx`): `c.pin`, `c.proc`, `c.proc2`, `c.proc3`,
 *   `c.proc3Hi`, `c.exit`, `c.exit2`, `c.exit2Hi`, `c.entry` (control words in effect), `c.v86`,
 *   `c.caps.<name>` (the CPU profile), `c.proc_.<name>` (the processor state).
 * Numbers interpolated into the template become literals; `Code` values (from the builders) become code. The
 * values are 32-bit halves: mind that `&`, `|`, `<<` give signed results (compare with `| 0` constants or
 * use `>>> 0`), exactly as in hand-written predicates.
 */
import type { Ctx } from "./types.js";

/** A fragment of predicate source, made by the builders below (plain strings are refused). */
export class Code {
  constructor(readonly code: string) {}
  toString(): string {
    return this.code;
  }
}

/** A predicate with the expression it was compiled from. */
export interface Pred {
  (c: Ctx): boolean;
  readonly src: string;
}

function literal(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`pred: non-finite number ${n}`);
  return n < 0 ? `(${n})` : String(n);
}

/** Source of a template: numbers as literals, Code as code, anything else refused (caught at module load). */
export function source(strings: TemplateStringsArray, vals: readonly (number | Code)[]): string {
  let s = strings[0]!;
  for (let i = 0; i < vals.length; i++) {
    const x = vals[i];
    if (typeof x === "number") s += literal(x);
    else if (x instanceof Code) s += `(${x.code})`;
    else throw new Error(`pred: cannot interpolate ${typeof x} into \`${strings.join("…")}\``);
    s += strings[i + 1]!;
  }
  return s;
}

/** Compile source text into a predicate (the expression may yield any truthy/falsy value). */
export function compilePred(src: string): Pred {
  const f = new Function("c", `"use strict"; const v = c.v; return !!(${src});`) as (c: Ctx) => boolean;
  return Object.assign(f, { src });
}

/**
 * A numeric expression (a mask, a field's sub-field) compiled into a function of the context, for messages
 * that report the same value a predicate tests: one source for both.
 */
export function compileValue(x: Code): (c: Ctx) => number {
  return new Function("c", `"use strict"; const v = c.v; return (${x.code});`) as (c: Ctx) => number;
}

/** `pred\`(${lo(i)} & ${mask}) !== 0\`` — a predicate from an expression template. */
export function pred(strings: TemplateStringsArray, ...vals: readonly (number | Code)[]): Pred {
  return compilePred(source(strings, vals));
}

/** An expression fragment from a template, for building predicates out of shared conditions. */
export function code(strings: TemplateStringsArray, ...vals: readonly (number | Code)[]): Code {
  return new Code(source(strings, vals));
}

/** The source of a predicate, when it has one (a Pred); undefined for a plain function. */
export function srcOf(f: ((c: Ctx) => boolean) | undefined): string | undefined {
  if (f === undefined) return undefined;
  const s = (f as Partial<Pred>).src;
  return typeof s === "string" ? s : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Builders for the common reads and tests (field indices as in src/arch/fields.ts `F`).

/** Bits 31:0 of field i (an unsigned 32-bit number). */
export const lo = (i: number): Code => new Code(`v[${i << 1}]`);
/** Bits 63:32 of field i (an unsigned 32-bit number). */
export const hi = (i: number): Code => new Code(`v[${(i << 1) | 1}]`);

/** Field i is canonical for the CPU's linear-address width (48 or 57): bits 63:width-1 all equal (util.ts). */
export const canonical = (i: number): Code =>
  code`(${hi(i)} << (64 - c.caps.linearAddressBits)) >> (64 - c.caps.linearAddressBits) === (${hi(i)} | 0)`;

/** Field i sets bits beyond MAXPHYADDR (or beyond bit 31 with IA32_VMX_BASIC[48]); see util.ts beyondPhys. */
export const beyondPhys = (i: number): Code =>
  code`((${lo(i)} & c.caps.physReservedLo) | (${hi(i)} & c.caps.physReservedHi)) !== 0`;

/** Field i has any of its low n address bits set (not aligned to 2^n bytes, n ≤ 31). */
export const misaligned = (i: number, n: number): Code => code`(${lo(i)} & ${(1 << n) - 1}) !== 0`;

/** Conjunction / disjunction / negation of fragments. */
export const and = (...xs: readonly Code[]): Code => new Code(xs.map((x) => `(${x.code})`).join(" && "));
export const or = (...xs: readonly Code[]): Code => new Code(xs.map((x) => `(${x.code})`).join(" || "));
export const not = (x: Code): Code => new Code(`!(${x.code})`);
