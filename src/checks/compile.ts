/**
 * Typed predicates → runner source (docs/architecture.md "Typed registry").
 *
 * A rule's `when`/`fail` is an arrow function of a `State` (src/checks/state.ts), type-checked like any other
 * code. Its source text (`Function.prototype.toString`, so whatever the module loader really runs —
 * mutation-testing instrumentation included) is rewritten here, once, into an expression over the evaluation
 * context `c` and the VMCS slots `v`:
 *
 *   s.GUEST_CR0 → v[24]   s.hi.GUEST_CR0 → v[25]   s.proc2 → c.proc2   s.caps.x → c.caps.x
 *   s.cpu.x → c.proc_.x   s.mem → c.mem             p.name → the rule's binding (a literal)
 *   CR0.PG → 2147483648   (any other name is looked up in the module's own scope: a number or boolean,
 *                         or a member of a table of them, becomes a literal)
 *   decoder(s, x) → the decoder's own expression with its parameters replaced (a decoder is a typed arrow
 *                   function registered with `decoders`; messages call the same function)
 *
 * Names are resolved by value, through a `scope` function each module passes in (`(name) => eval(name)`,
 * evaluated in the module): whatever a loader, bundler or minifier renamed, the source text and the scope
 * agree, and a name means exactly what it means in the module. A name that is none of the above — a closure
 * variable, a string, an object, a function that is not a decoder — is an error at load time naming the rule:
 * a predicate is a pure function of the state, its bindings and constants, which is what lets the fast path
 * (src/entry/fast.ts) paste it inline and fold it per control signature. The rewrite also records what the
 * expression reads (fields, control words, capabilities, processor properties, memory): a check's `fields`
 * are derived from it.
 */
import { F, type FieldName, isFieldName } from "../arch/fields.js";
import { CONTROL_WORDS, type ControlWordName, WORD_FIELDS } from "./state.js";

// ---------------------------------------------------------------------------------------------------------
// Tokens.

type TokKind = "id" | "num" | "str" | "punct" | "space";
interface Tok {
  readonly k: TokKind;
  readonly s: string;
}

const PUNCT = [
  ">>>=",
  "...",
  "===",
  "!==",
  ">>>",
  "<<=",
  ">>=",
  "**=",
  "&&=",
  "||=",
  "??=",
  "=>",
  "==",
  "!=",
  "<=",
  ">=",
  "&&",
  "||",
  "??",
  "?.",
  "<<",
  ">>",
  "**",
  "++",
  "--",
  "+=",
  "-=",
  "*=",
  "/=",
  "%=",
  "&=",
  "|=",
  "^=",
];

/** The lexer's token kinds, one capture group each, tried in this order at the current position. */
const LEX_KINDS: readonly TokKind[] = ["space", "id", "num", "str", "punct"];
const escaped = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/**
 * One sticky pattern for every token: space and comments, identifiers, numbers, strings (a template literal
 * without substitutions is one too: minifiers write strings that way), then the punctuators longest first and
 * any other single character. One match per token.
 */
const LEX = new RegExp(
  [
    /((?:\s+|\/\/[^\n]*|\/\*[\s\S]*?\*\/)+)/.source,
    /([A-Za-z_$][\w$]*)/.source,
    /((?:0[xX][\da-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?)n?)/
      .source,
    /("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`(?:[^`\\$]|\\.|\$(?!\{))*`)/.source,
    `(${PUNCT.map(escaped).join("|")}|[^\`"'])`,
  ].join("|"),
  "y",
);

/** Splits JavaScript expression source into tokens (no regular-expression or template literals). */
export function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  LEX.lastIndex = 0;
  while (LEX.lastIndex < src.length) {
    const at = LEX.lastIndex;
    const m = LEX.exec(src);
    if (!m) {
      if (src[at] === "`")
        throw new Error("template literals with substitutions are not allowed in a predicate");
      throw new Error("unterminated string");
    }
    let g = 1;
    while (m[g] === undefined) g++;
    out.push({ k: LEX_KINDS[g - 1] as TokKind, s: m[0] });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// What an expression reads.

export interface Reads {
  /** VMCS fields, in the order first read (control words in effect name the fields they depend on). */
  readonly fields: FieldName[];
  /** Control words in effect (`s.proc2`, …) and `v86`. */
  readonly words: Set<ControlWordName | "v86">;
  /** Capability paths (`ctl.proc2.may1`, `eptCap`). */
  readonly caps: Set<string>;
  /** Processor-state properties. */
  readonly cpu: Set<string>;
  /** Guest-physical memory. */
  mem: boolean;
}

export function emptyReads(): Reads {
  return { fields: [], words: new Set(), caps: new Set(), cpu: new Set(), mem: false };
}

function addField(r: Reads, name: FieldName): void {
  if (!r.fields.includes(name)) r.fields.push(name);
}

/** Merges `b` into `a` (fields in order: a's first). */
export function mergeReads(a: Reads, b: Reads): Reads {
  for (const f of b.fields) addField(a, f);
  for (const w of b.words) a.words.add(w);
  for (const x of b.caps) a.caps.add(x);
  for (const x of b.cpu) a.cpu.add(x);
  a.mem ||= b.mem;
  return a;
}

// ---------------------------------------------------------------------------------------------------------
// Names a predicate may use besides its parameters.

/**
 * A module's scope: the value of a name as the module sees it. Each module that writes predicates or decoders
 * defines one, `(name) => eval(name)`: a direct `eval` of an identifier in that module.
 */
export type Scope = (name: string) => unknown;

/** Names already looked up, per scope: a `direct eval` per use was most of a rewrite's time. */
const LOOKUPS = new WeakMap<Scope, Map<string, unknown>>();

/** A name's value in a module's scope (an error it throws is thrown again on every lookup). */
function lookup(scope: Scope, name: string): unknown {
  let m = LOOKUPS.get(scope);
  if (m === undefined) {
    m = new Map();
    LOOKUPS.set(scope, m);
  }
  if (m.has(name)) return m.get(name);
  const x = scope(name);
  m.set(name, x);
  return x;
}

/** JavaScript's own names, kept as they are. */
const KEEP = new Set(["true", "false", "null", "undefined", "typeof", "void", "NaN", "Infinity", "Math"]);

/**
 * Identifiers that mutation-testing or coverage instrumentation inserts (StrykerJS: `stryMutAct_…`,
 * `stryCov_…`): their functions are module-local but identical in every module, so the first one met is
 * published on `globalThis` and the compiled code calls it there.
 */
const INSTRUMENTATION = /^stry(?:MutAct|Cov|NS)_[0-9a-f]+$/;

/** A typed decoder: an arrow function of the state (and values) whose expression predicates may call. */
// biome-ignore lint/suspicious/noExplicitAny: decoders have any parameter list; their callers are type-checked.
export type Decoder = (...args: any[]) => unknown;
/** Registered decoders and the scope of the module that defines each. */
const DECODERS = new Map<Decoder, { readonly name: string; readonly scope: Scope }>();

/**
 * Registers decoders and returns them: a predicate calls `name(s, …)` and the compiler pastes the decoder's
 * expression (resolved in the decoder's own module, `scope`); a message calls the same function.
 */
export function decoders<T extends Record<string, Decoder>>(scope: Scope, table: T): T {
  for (const [name, fn] of Object.entries(table)) DECODERS.set(fn, { name, scope });
  return table;
}

// ---------------------------------------------------------------------------------------------------------
// The rewrite.

/** What a name in the expression stands for. */
type Binding =
  | { readonly kind: "state" }
  | { readonly kind: "code"; readonly src: string }
  | { readonly kind: "params"; readonly values: Readonly<Record<string, unknown>> }
  | { readonly kind: "record"; readonly members: Readonly<Record<string, string>> };

interface Env {
  readonly names: ReadonlyMap<string, Binding>;
  /** The scope other names are resolved in. */
  readonly scope: Scope;
  readonly reads: Reads;
  /** Decoders being expanded (a decoder may not call itself). */
  readonly stack: readonly string[];
}

interface Arrow {
  readonly params: readonly string[];
  readonly body: readonly Tok[];
}
/** Each function's parse, made once: a decoder is expanded in every predicate that calls it. */
const ARROWS = new WeakMap<Decoder, Arrow>();

/** An arrow function's parameter names and body tokens. */
function parseArrow(fn: Decoder): Arrow {
  let a = ARROWS.get(fn);
  if (a === undefined) {
    a = parseArrowText(fn);
    ARROWS.set(fn, a);
  }
  return a;
}

function parseArrowText(fn: Decoder): Arrow {
  // Loaders call imported functions as `(0, ns.f)(…)` (no `this`): the same call as `ns.f(…)`.
  const text = fn.toString().replace(/\(\s*0\s*,\s*([A-Za-z_$][\w$.]*)\s*\)\s*\(/g, "$1(");
  const toks = tokenize(text).filter((t, i, a) => t.k !== "space" || (i > 0 && i < a.length - 1));
  let i = 0;
  const params: string[] = [];
  const skip = () => {
    while (toks[i]?.k === "space") i++;
  };
  skip();
  if (toks[i]?.s === "(") {
    i++;
    for (;;) {
      skip();
      const t = toks[i];
      if (t?.s === ")") break;
      if (t?.k !== "id") throw new Error(`expected a parameter name in \`${text.slice(0, 60)}\``);
      params.push(t.s);
      i++;
      skip();
      if (toks[i]?.s === ",") i++;
    }
    i++;
  } else if (toks[i]?.k === "id") params.push((toks[i++] as Tok).s);
  else throw new Error(`not an arrow function: \`${text.slice(0, 60)}\``);
  skip();
  if (toks[i]?.s !== "=>") throw new Error(`not an arrow function: \`${text.slice(0, 60)}\``);
  i++;
  skip();
  if (toks[i]?.s === "{")
    throw new Error(`a predicate is one expression, not a block: \`${text.slice(0, 80)}\``);
  return { params, body: toks.slice(i) };
}

function literal(x: unknown, what: string): string {
  if (typeof x === "number") {
    if (!Number.isFinite(x)) throw new Error(`${what} is not a finite number`);
    return x < 0 || Object.is(x, -0) ? `(${x})` : String(x);
  }
  if (typeof x === "boolean") return String(x);
  if (typeof x === "string") return JSON.stringify(x);
  throw new Error(`${what} is not a number, boolean or string`);
}

const WORDS = new Set<string>([...CONTROL_WORDS, "v86"]);

/** An expression in parentheses, unless it is one operand already (a slot, a name, a literal, a group). */
function wrap(src: string): string {
  if (/^(?:[\w$.]+|v\[\d+\]\/\*[\w.]+\*\/|\(-?\d+\))$/.test(src)) return src;
  if (src.startsWith("(") && src.endsWith(")")) {
    let depth = 0;
    for (let i = 0; i < src.length; i++) {
      const ch = src[i]!;
      if (ch === '"' || ch === "'" || ch === "`") {
        // a bracket inside a string literal counts for nothing
        for (i++; i < src.length && src[i] !== ch; i++) if (src[i] === "\\") i++;
      } else if (ch === "(") depth++;
      else if (ch === ")" && --depth === 0 && i < src.length - 1) return `(${src})`;
    }
    return src;
  }
  return `(${src})`;
}

class Rewriter {
  private i = 0;
  constructor(
    private readonly toks: readonly Tok[],
    private readonly env: Env,
  ) {}

  private peek(k = this.i): number {
    while (this.toks[k]?.k === "space") k++;
    return k;
  }
  private prevSignificant(k: number): Tok | undefined {
    k--;
    while (k >= 0 && this.toks[k]?.k === "space") k--;
    return this.toks[k];
  }

  /** A member after position k: `.name` or `[constant string]`; its name and the index after it. */
  private member(k: number): { name: string; end: number } | undefined {
    const a = this.peek(k);
    const t = this.toks[a];
    if (t?.s === ".") {
      const b = this.peek(a + 1);
      const n = this.toks[b];
      if (n?.k !== "id") throw new Error("expected a property name after `.`");
      return { name: n.s, end: b + 1 };
    }
    if (t?.s === "[") {
      let depth = 0;
      let b = a;
      for (; b < this.toks.length; b++) {
        const s = (this.toks[b] as Tok).s;
        if (s === "[" || s === "(") depth++;
        else if (s === "]" || s === ")") {
          depth--;
          if (depth === 0) break;
        }
      }
      const inner = new Rewriter(this.toks.slice(a + 1, b), this.env).run();
      const m = /^\(*"([A-Za-z_$][\w$]*)"\)*$/.exec(inner.trim());
      if (!m)
        throw new Error(
          `a computed member must be a constant name (a binding such as \`p.field\`), got \`${inner}\``,
        );
      return { name: m[1] as string, end: b + 1 };
    }
    return undefined;
  }

  /** The tokens of a call's arguments after `(` at position k, split at top-level commas; and the end. */
  private args(k: number): { args: Tok[][]; end: number } {
    const args: Tok[][] = [];
    let cur: Tok[] = [];
    let depth = 0;
    let j = k + 1;
    for (; j < this.toks.length; j++) {
      const t = this.toks[j] as Tok;
      if (t.s === "(" || t.s === "[" || t.s === "{") depth++;
      else if (t.s === ")" || t.s === "]" || t.s === "}") {
        if (depth === 0) break;
        depth--;
      } else if (t.s === "," && depth === 0) {
        args.push(cur);
        cur = [];
        continue;
      }
      cur.push(t);
    }
    if (cur.some((t) => t.k !== "space")) args.push(cur);
    return { args, end: j + 1 };
  }

  private stateMember(start: number): string {
    const r = this.env.reads;
    const m = this.member(start);
    if (!m) throw new Error("the state is read through its members (`s.GUEST_CR0`), not passed around");
    this.i = m.end;
    if (m.name === "hi") {
      const f = this.member(m.end);
      if (!f || !isFieldName(f.name)) throw new Error(`s.hi.${f?.name ?? "?"} is not a VMCS field`);
      this.i = f.end;
      addField(r, f.name);
      return `v[${(F[f.name] << 1) | 1}]/*${f.name}.hi*/`;
    }
    if (isFieldName(m.name)) {
      addField(r, m.name);
      return `v[${F[m.name] << 1}]/*${m.name}*/`;
    }
    if (WORDS.has(m.name)) {
      const w = m.name as ControlWordName | "v86";
      r.words.add(w);
      for (const f of WORD_FIELDS[w]) addField(r, f);
      return `c.${w}`;
    }
    if (m.name === "caps" || m.name === "cpu") {
      // Members after it become a dotted path (the fast path folds `c.caps.a.b` per profile).
      const path: string[] = [];
      let n = this.member(this.i);
      while (n && !(this.toks[this.peek(n.end)]?.s === "(")) {
        path.push(n.name);
        this.i = n.end;
        if (m.name === "cpu") break;
        n = this.member(this.i);
      }
      if (m.name === "caps") {
        // A method of the profile (`s.caps.msrLoad(i)`) is read too; the call stays as written.
        if (n) r.caps.add([...path, n.name].join("."));
        else if (path.length) r.caps.add(path.join("."));
        return `c.caps${path.map((x) => `.${x}`).join("")}`;
      }
      if (path.length === 0) throw new Error("read processor properties by name (`s.cpu.inSmm`)");
      r.cpu.add(path[0] as string);
      return `c.proc_.${path[0]}`;
    }
    if (m.name === "mem") {
      r.mem = true;
      return "c.mem";
    }
    throw new Error(`s.${m.name} is not part of the state`);
  }

  /**
   * A name resolved in the module's scope, with the members after it (`CR0.PG`, `ns.CR0.PG`, `ns.decoder`):
   * a number or boolean becomes a literal, a decoder is called and expanded.
   */
  private scoped(name: string, start: number): string {
    let x: unknown;
    try {
      x = lookup(this.env.scope, name);
    } catch (e) {
      throw new Error(
        `\`${name}\` is not defined in the module (${(e as Error).message}); a predicate reads only the state, its bindings, module-level constants and decoders`,
      );
    }
    if (x === undefined)
      throw new Error(
        `\`${name}\` is not defined in the module; a predicate reads only the state, its bindings, module-level constants and decoders`,
      );
    let path = name;
    let k = start;
    for (;;) {
      if (DECODERS.has(x as Decoder)) break;
      const m = this.member(k);
      if (!m || (typeof x !== "object" && typeof x !== "function") || x === null) break;
      x = (x as Record<string, unknown>)[m.name];
      path += `.${m.name}`;
      k = m.end;
    }
    this.i = k;
    const d = DECODERS.get(x as Decoder);
    if (d) return this.decoderCall(x as Decoder, d.name, d.scope, k);
    if (typeof x === "number" || typeof x === "boolean") return literal(x, path);
    throw new Error(
      `\`${path}\` is ${typeof x === "function" ? "a function that is not a decoder" : `${x === undefined ? "undefined" : `a ${typeof x}`}, not a number or boolean`}`,
    );
  }

  private decoderCall(fn: Decoder, name: string, scope: Scope, start: number): string {
    if (this.env.stack.includes(name)) throw new Error(`decoder ${name} calls itself`);
    const open = this.peek(start);
    if (this.toks[open]?.s !== "(") throw new Error(`decoder ${name} must be called`);
    const { args, end } = this.args(open);
    this.i = end;
    const { params, body } = parseArrow(fn);
    if (args.length !== params.length)
      throw new Error(`decoder ${name} takes ${params.length} arguments, got ${args.length}`);
    const names = new Map<string, Binding>();
    params.forEach((p, j) => {
      const arg = (args[j] as Tok[]).filter((t) => t.k !== "space");
      const only = arg.length === 1 ? this.env.names.get((arg[0] as Tok).s) : undefined;
      if (only?.kind === "state" || only?.kind === "params" || only?.kind === "record") names.set(p, only);
      else names.set(p, { kind: "code", src: new Rewriter(args[j] as Tok[], this.env).run().trim() });
    });
    const env: Env = { names, scope, reads: this.env.reads, stack: [...this.env.stack, name] };
    return `(${new Rewriter(body, env).run().trim()})`;
  }

  private identifier(t: Tok, start: number): string {
    const b = this.env.names.get(t.s);
    if (b?.kind === "state") return this.stateMember(start);
    if (b?.kind === "code") {
      this.i = start;
      return wrap(b.src);
    }
    if (b?.kind === "params" || b?.kind === "record") {
      const m = this.member(start);
      if (!m) throw new Error(`${t.s} is read through its members`);
      this.i = m.end;
      if (b.kind === "record") {
        const x = b.members[m.name];
        if (x === undefined) throw new Error(`${t.s}.${m.name} is not defined`);
        return x;
      }
      if (!Object.hasOwn(b.values, m.name)) throw new Error(`binding ${t.s}.${m.name} is not defined`);
      return literal(b.values[m.name], `binding ${t.s}.${m.name}`);
    }
    this.i = start;
    if (KEEP.has(t.s)) return t.s;
    if (INSTRUMENTATION.test(t.s)) {
      const g = globalThis as Record<string, unknown>;
      g[t.s] ??= this.env.scope(t.s);
      return `globalThis.${t.s}`;
    }
    return this.scoped(t.s, start);
  }

  run(): string {
    let out = "";
    while (this.i < this.toks.length) {
      const t = this.toks[this.i] as Tok;
      const start = this.i + 1;
      if (
        t.k === "id" &&
        this.prevSignificant(this.i)?.s !== "." &&
        this.prevSignificant(this.i)?.s !== "?."
      ) {
        out += this.identifier(t, start);
        continue;
      }
      out += t.s;
      this.i = start;
    }
    return out;
  }
}

export interface Compiled {
  /** Expression source over `c` (the context) and `v` (its VMCS slots). */
  readonly src: string;
  readonly reads: Reads;
}

/**
 * Rewrites a typed predicate into runner source. `params` names what each parameter after the state stands
 * for: the rule's bindings (`p.x` → literal) or a record of local variables (an MSR-load entry).
 */
export function compilePredicate(
  fn: Decoder,
  scope: Scope,
  extra: readonly (Readonly<Record<string, unknown>> | { record: Readonly<Record<string, string>> })[] = [],
): Compiled {
  const { params, body } = parseArrow(fn);
  const names = new Map<string, Binding>();
  params.forEach((p, j) => {
    if (j === 0) names.set(p, { kind: "state" });
    else {
      const x = extra[j - 1];
      if (x === undefined) throw new Error(`parameter ${p} has no value`);
      names.set(
        p,
        "record" in x && typeof x.record === "object"
          ? { kind: "record", members: x.record as Readonly<Record<string, string>> }
          : { kind: "params", values: x },
      );
    }
  });
  const reads = emptyReads();
  const src = new Rewriter(body, { names, scope, reads, stack: [] }).run().trim();
  return { src, reads };
}

/** A compiled predicate as a function of the context (the reference loop; the violation search). */
export function toFunction<T = unknown>(src: string, name: string): (c: import("./types.js").Ctx) => T {
  return new Function(
    "c",
    `"use strict"; const v = c.v; return (${src});\n//# sourceURL=nvmx-predicate-${name}.js`,
  ) as (c: import("./types.js").Ctx) => T;
}

/**
 * The same, made on its first call: for what only messages call (a rule's failing value), which most runs
 * never build. A call costs one more indirection, so hot callers take `toFunction`.
 */
export function toLazyFunction<T = unknown>(src: string, name: string): (c: import("./types.js").Ctx) => T {
  let fn: ((c: import("./types.js").Ctx) => T) | undefined;
  return (c) => {
    fn ??= toFunction<T>(src, name);
    return fn(c);
  };
}
