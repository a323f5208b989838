/**
 * Writing checks (docs/contributing-checks.md): a module declares its SDM section once and writes each rule
 * as a typed condition. `section(...)` gives the defaults (SDM section, class); `rule({...})` compiles the
 * predicates (src/checks/compile.ts), derives the fields the check reads and wraps the message so that it
 * receives the state by name and the value the failing predicate produced.
 */
import { F, type FieldName } from "../arch/fields.js";
import { Memory } from "../vmcs/memory.js";
import {
  compilePredicate,
  emptyReads,
  mergeReads,
  type Reads,
  type Scope,
  toFunction,
  toLazyFunction,
} from "./compile.js";
import { GATES, type GroupName } from "./groups.js";
import { type FoundEntry, type MsrEntry, type State, stateOf } from "./state.js";
import type { Check, CheckClass, Ctx, Outcome, Pred } from "./types.js";

/** Per-rule constants of a rule made by a factory: field names, numbers, flags (`p.base`, `p.align`). */
export type Bindings = Readonly<Record<string, string | number | boolean>>;
type NoBindings = Readonly<Record<never, never>>;

interface Common<P extends Bindings> {
  /** Stable id that reads as the rule, e.g. `guest.cs.l-and-d`. */
  readonly id: string;
  /** The rule in one line, for docs/checks.md. */
  readonly rule: string;
  /** Items of ../shared/docs/reference/sdm-checks.md this check implements. */
  readonly checklist?: readonly string[];
  /** Default: the section's. */
  readonly sdm?: string;
  /** Default: the section's. */
  readonly cls?: CheckClass;
  /** A shared gate (src/checks/groups.ts) the check applies under; it is part of the applicability. */
  readonly group?: GroupName;
  /** The rule's constants, for predicates written once for many fields (`p.base`). */
  readonly p?: P;
  /** Applicability beyond the group gate; absent = always. */
  readonly when?: (s: State, p: P) => unknown;
  /** basic class: the outcome of this check's failure. */
  readonly outcome?: Outcome;
  /** control class: VM-instruction error when not 7. */
  readonly error?: number;
  /** guest class: exit qualification (SDM 29.8) when not 0. */
  readonly qualification?: number;
  /**
   * The scope the predicates' names resolve in when a factory in another module writes them (src/checks/allowed.ts);
   * default: the section's. Mutation-testing instrumentation of the factory's module is only visible there.
   */
  readonly scope?: Scope;
}

export interface RuleSpec<P extends Bindings, W> extends Common<P> {
  /** True (any truthy value) when the rule is violated; the value is handed to the message. */
  readonly fail: (s: State, p: P) => W;
  /** Built only on failure, from the state and the value `fail` returned. */
  readonly message: (s: State, w: W, p: P) => string;
}

export interface EntryRuleSpec<P extends Bindings> extends Common<P> {
  /** True when one VM-entry MSR-load entry breaks the rule (SDM 29.4). */
  readonly entry: (s: State, e: MsrEntry, p: P) => unknown;
  /** Why the first such entry fails (the section adds where it is and the outcome). */
  readonly message: (s: State, e: FoundEntry, p: P) => string;
}

export interface SectionInfo {
  /** SDM section of the newest revision, e.g. "29.3.1.2". */
  readonly sdm: string;
  readonly title: string;
  /** The class of the section's checks (a rule may override it). */
  readonly cls: CheckClass;
  /**
   * Where the section sits in evaluation order when not at its SDM number (the SMM-return checks of 34.15.4
   * come before 29.2.1.1, SDM 34.15.4.1).
   */
  readonly orderAs?: string;
  /** A gate under which none of the section's checks applies (its reads are not part of `fields`). */
  readonly unless?: GroupName;
}

/** Checks, or lists of them (factories return lists), in SDM order. */
export type Checks = Check | readonly Checks[];

export interface Section extends SectionInfo {
  readonly checks: readonly Check[];
}

/** The original typed predicates of a check (tests compare them with their compiled form). */
export interface Typed {
  readonly when?: (s: State, p: Bindings) => unknown;
  readonly fail?: (s: State, p: Bindings) => unknown;
  readonly entry?: (s: State, e: MsrEntry, p: Bindings) => unknown;
  readonly p: Bindings;
}

/** A check's compiled parts, each an expression over `c` and `v` (the entry loop's words for `entry`). */
export interface Parts {
  /** The group gate (src/checks/groups.ts). */
  readonly gate?: string;
  /** The section's exemption: the check does not apply while it holds. */
  readonly exempt?: string;
  /** The rule's own applicability. */
  readonly when?: string;
  readonly fail: string;
  /** MSR-load checks: the condition on one entry. */
  readonly entry?: string;
}

/** A compiled check: the registry's `Check` plus what the typed form says about it. */
export interface RuleCheck extends Check {
  readonly when?: Pred;
  readonly fail: Pred;
  /** What the check's `fail`, `when` and group gate read (not the section's exemption): `fields` comes from it. */
  readonly reads: Reads;
  /**
   * Everything the verdict (`when` and `fail`) depends on: `reads` and the section's exemption. A change of
   * anything else cannot change whether the check fails (the violation search skips such changes).
   */
  readonly verdictReads: Reads;
  /** What applicability (`when`: group gate, section exemption, own condition) reads. */
  readonly whenReads: Reads;
  readonly parts: Parts;
  readonly typed: Typed;
}

function pred(src: string, name: string, extra: Partial<Pick<Pred, "afterGate" | "entry">> = {}): Pred {
  return Object.assign(toFunction<boolean>(`!!(${src})`, name), { src, ...extra });
}

/** The words of an MSR-load entry, as the loop in `entryLoop` names them. */
const ENTRY_VARS = { index: "mi", reserved: "mr", lo: "ml", hi: "mh" } as const;

/**
 * The declaration of an entry's words from an area read with `Memory.words` into `w`, the entry at word `j`
 * (16 bytes: index, reserved, value low, value high), in the names `entry` conditions use. Every walk of an
 * MSR-load area declares them with it (here, the fast path's fused walk, the VM-exit list's screen).
 */
export const ENTRY_WORDS = `const ${Object.values(ENTRY_VARS)
  .map((name, k) => `${name} = w[j${k ? ` + ${k}` : ""}]`)
  .join(", ")};`;

/**
 * An expression that walks the VM-entry MSR-load area (read at once, `Memory.words`) and gives the 1-based
 * position of the first entry for which `entry` (source over c, v and the entry's words) holds, or 0. At most
 * 512·(IA32_VMX_MISC[27:25] + 1) entries are examined (src/checks/msr-load.ts explains why).
 */
export function entryLoop(entry: string): string {
  return `((c, v) => { const n = Math.min(v[${fieldSlot("VM_ENTRY_MSR_LOAD_COUNT")}], c.caps.maxMsrList); if (n <= 0) return 0; const w = c.mem.words(v[${fieldSlot("VM_ENTRY_MSR_LOAD_ADDR") | 1}] * 4294967296 + v[${fieldSlot("VM_ENTRY_MSR_LOAD_ADDR")}], 4 * n); for (let i = 1, j = 0; i <= n; i++, j += 4) { ${ENTRY_WORDS} if (${entry}) return i; } return 0; })(c, v)`;
}

function fieldSlot(name: FieldName): number {
  return F[name] << 1;
}

/** The first entry `entry` holds for, read back for a message. */
function foundEntry(c: Ctx, position: number): FoundEntry {
  const base = Memory.addr(
    c.v[fieldSlot("VM_ENTRY_MSR_LOAD_ADDR")] as number,
    c.v[fieldSlot("VM_ENTRY_MSR_LOAD_ADDR") | 1] as number,
  );
  const address = base + (position - 1) * 16;
  return {
    position,
    address,
    index: c.mem.read32(address),
    reserved: c.mem.read32(address + 4),
    lo: c.mem.read32(address + 8),
    hi: c.mem.read32(address + 12),
  };
}

/** What a compiled check adds to its declaration. */
interface Made {
  readonly when: Pred | undefined;
  readonly fail: Pred;
  readonly reads: Reads;
  readonly verdictReads: Reads;
  readonly whenReads: Reads;
  readonly parts: Parts;
  readonly fields: readonly string[];
  readonly message: (c: Ctx) => string;
  readonly entryIndex?: (c: Ctx) => number;
}

/**
 * A check whose predicates are compiled on first use (`when`, `fail`, `fields`, … are getters of the class):
 * the registry costs nothing at import, and the compiler runs inside the tests that use it (mutation testing
 * then sees it as code under test, not as module set-up). Every registry check is an instance of this one
 * class with the same own fields, so the evaluator's reads of them stay monomorphic. The getters read private
 * fields: an object made from a check with `Object.create` or a spread does not work as a check (it throws or
 * lacks the getters); wrap a check in a new object that calls it instead.
 */
class CompiledCheck implements RuleCheck {
  readonly id: string;
  readonly sdm: string;
  readonly cls: CheckClass;
  readonly rule: string;
  readonly checklist: readonly string[] | undefined;
  readonly outcome: Outcome | undefined;
  readonly error: number | undefined;
  readonly qualification: number | undefined;
  readonly group: GroupName | undefined;
  readonly typed: Typed;
  #make: (() => Made) | undefined;
  #made: Made | undefined;

  constructor(spec: Common<Bindings>, info: SectionInfo, typed: Typed, make: () => Made) {
    this.id = spec.id;
    this.sdm = spec.sdm ?? info.sdm;
    this.cls = spec.cls ?? info.cls;
    this.rule = spec.rule;
    this.checklist = spec.checklist;
    this.outcome = spec.outcome;
    this.error = spec.error;
    this.qualification = spec.qualification;
    this.group = spec.group;
    this.typed = typed;
    this.#make = make;
  }

  #get(): Made {
    if (this.#made === undefined) {
      try {
        this.#made = (this.#make as () => Made)();
      } catch (e) {
        throw new Error(`check ${this.id}: ${(e as Error).message}`, { cause: e });
      }
      this.#make = undefined;
    }
    return this.#made;
  }
  get when(): Pred | undefined {
    return this.#get().when;
  }
  get fail(): Pred {
    return this.#get().fail;
  }
  get fields(): readonly string[] {
    return this.#get().fields;
  }
  get reads(): Reads {
    return this.#get().reads;
  }
  get verdictReads(): Reads {
    return this.#get().verdictReads;
  }
  get whenReads(): Reads {
    return this.#get().whenReads;
  }
  get parts(): Parts {
    return this.#get().parts;
  }
  get entryIndex(): ((c: Ctx) => number) | undefined {
    return this.#get().entryIndex;
  }
  /**
   * Built only on failure (an own property: callers may pass it around). The first call compiles the check
   * and puts the compiled message in its place.
   */
  message = (c: Ctx): string => {
    this.message = this.#get().message;
    return this.message(c);
  };
}

/**
 * A module's section: its SDM number, title and default class, and the module's scope (`(name) =>
 * eval(name)`, in which the compiler resolves the names its predicates use, src/checks/compile.ts).
 */
export function section({ scope, ...info }: SectionInfo & { readonly scope: Scope }) {
  const unless = info.unless;

  /**
   * What the rule, its group and its section make of a check once compiled: the applicability (group gate,
   * section exemption, own `when`), the reads, and the fields derived from them (`fail` first).
   */
  function compiled(spec: Common<Bindings>, fail: string, failReads: Reads, entry?: string) {
    const own = spec.when ? compilePredicate(spec.when, spec.scope ?? scope, [spec.p ?? {}]) : undefined;
    const gate = spec.group ? GATES[spec.group] : undefined;
    const exempt = unless ? GATES[unless] : undefined;
    const reads = mergeReads(
      mergeReads(mergeReads(emptyReads(), failReads), gate?.reads ?? emptyReads()),
      own?.reads ?? emptyReads(),
    );
    const rest = [exempt ? `!(${exempt.src})` : undefined, own ? `(${own.src})` : undefined].filter(
      (x): x is string => x !== undefined,
    );
    const afterGate = rest.length ? rest.join(" && ") : undefined;
    const full = [gate ? `(${gate.src})` : undefined, afterGate].filter((x): x is string => x !== undefined);
    const when = full.length
      ? pred(full.join(" && "), `${spec.id}.when`, gate ? { afterGate: afterGate ?? "true" } : {})
      : undefined;
    const parts: Parts = {
      fail,
      ...(gate ? { gate: gate.src } : {}),
      ...(exempt ? { exempt: exempt.src } : {}),
      ...(own ? { when: own.src } : {}),
      ...(entry !== undefined ? { entry } : {}),
    };
    const verdictReads = exempt ? mergeReads(mergeReads(emptyReads(), reads), exempt.reads) : reads;
    const whenReads = emptyReads();
    for (const x of [gate, exempt, own]) if (x) mergeReads(whenReads, x.reads);
    return { when, reads, verdictReads, whenReads, parts, fields: reads.fields as readonly string[] };
  }

  function lazyCheck(spec: Common<Bindings>, typed: Typed, make: () => Made): RuleCheck {
    return new CompiledCheck(spec, info, typed, make);
  }

  return {
    /** A check: one condition, its applicability and its message. */
    rule<P extends Bindings = NoBindings, W = unknown>(spec: RuleSpec<P, W>): RuleCheck {
      const p = (spec.p ?? {}) as P;
      const typed: Typed = {
        ...(spec.when ? { when: spec.when as Typed["when"] } : {}),
        fail: spec.fail as Typed["fail"],
        p,
      };
      return lazyCheck(spec as unknown as Common<Bindings>, typed, () => {
        const failC = compilePredicate(spec.fail, spec.scope ?? scope, [p]);
        const message = spec.message;
        // The failing value is computed again only for a message that takes it.
        const witness = message.length >= 2 ? toLazyFunction<W>(failC.src, `${spec.id}.witness`) : undefined;
        return {
          ...compiled(spec as unknown as Common<Bindings>, failC.src, failC.reads),
          fail: pred(failC.src, `${spec.id}.fail`),
          message: witness
            ? (c: Ctx) => message(stateOf(c), witness(c), p)
            : (c: Ctx) => message(stateOf(c), undefined as W, p),
        };
      });
    },

    /** An MSR-load check (SDM 29.4): a condition on one entry of the VM-entry MSR-load area. */
    entryRule<P extends Bindings = NoBindings>(spec: EntryRuleSpec<P>): RuleCheck {
      const p = (spec.p ?? {}) as P;
      const typed: Typed = {
        ...(spec.when ? { when: spec.when as Typed["when"] } : {}),
        entry: spec.entry as Typed["entry"],
        p,
      };
      return lazyCheck(spec as unknown as Common<Bindings>, typed, () => {
        const e = compilePredicate(spec.entry, spec.scope ?? scope, [{ record: ENTRY_VARS }, p]);
        const loop = entryLoop(e.src);
        const reads = mergeReads(
          {
            fields: ["VM_ENTRY_MSR_LOAD_ADDR", "VM_ENTRY_MSR_LOAD_COUNT"],
            words: new Set(),
            caps: new Set(["maxMsrList"]),
            cpu: new Set(),
            mem: true,
          },
          e.reads,
        );
        const first = toFunction<number>(loop, `${spec.id}.entry`);
        const message = spec.message;
        return {
          ...compiled(spec as unknown as Common<Bindings>, `${loop} !== 0`, reads, e.src),
          fail: pred(`${loop} !== 0`, `${spec.id}.fail`, { entry: e.src }),
          entryIndex: (c: Ctx) => first(c),
          message: (c: Ctx) => message(stateOf(c), foundEntry(c, first(c)), p),
        };
      });
    },

    /** The section: its checks in SDM order. */
    checks(list: readonly Checks[]): Section {
      return { ...info, checks: (list as readonly unknown[]).flat(Number.POSITIVE_INFINITY) as Check[] };
    },
  };
}
