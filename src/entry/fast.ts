/**
 * The fast path (design.md "Speed"), derived from the registry rather than written twice.
 *
 * 1. Compiled runner: one straight-line function. Predicates compiled from typed rules (src/checks/compile.ts)
 *    are pasted in as source over one local `v` (the VMCS slots); plain closures (a `when` another module
 *    wrapped) are called from chunks of a few checks with monomorphic call sites, so V8 can inline them. Consecutive checks that share a `group`
 *    (src/checks/groups.ts) sit behind one evaluation of the group's gate.
 * 2. Specialization per signature: for a given CPU profile, most rules depend only on the control words and
 *    on the fields that set a guest's or host's mode (segment access rights, CR0/CR4/EFER, activity and
 *    interruptibility state, host selectors, ...; `SIG_SLOTS`), plus the processor's mode (SMM,
 *    VMLAUNCH/VMRESUME, ...) and RFLAGS.VM. When one signature is hot (a batch of similar states, a hypervisor
 *    re-entering the same guest, a benchmark), the registry is partially evaluated for it once: every
 *    `when`/`fail` is run on a probe that records whether it read anything beyond the signature. A predicate
 *    that read only the signature has the same value for every state with that signature, so it becomes a
 *    constant: inapplicable and passing checks vanish, failing ones are listed without a test. Predicates that
 *    read addresses, limits, bases, memory or pointers stay; in their source the control words, profile
 *    scalars and signature slots become literals that V8 folds. The specialized runner starts with a guard
 *    that compares the signature with literals and returns -1 for any other state, so the dispatcher can try
 *    the last one blindly. Sound by construction (predicates are pure functions of the context) and proved
 *    against the reference loop by test/fast-path.property.test.ts and test/fast-specialize.property.test.ts.
 *
 * 3. A profile's own runner: after PROFILE_AFTER states on one CPU profile, the generic plan is compiled again
 *    with the profile's scalar capabilities as literals (a batch or a fuzzing campaign uses one profile).
 *
 * Every runner is cut into parts of about PART checks, each its own function, so that V8 optimizes a part in
 * milliseconds and re-optimizes only that part when a varied stream takes a branch it had not seen (one
 * function for all checks took ~0.25 s per optimization, and a violate-each corpus ran unoptimized for most of
 * a pass). The MSR-load checks share one walk of the VM-entry MSR-load area (`fusedWalk`): the area is read
 * once into a buffer and each check keeps the first entry it fails on.
 *
 * Output is the list of failing check indices in a preallocated Int32Array: no allocation when nothing fails.
 * Needs code generation (`new Function`), as the predicates themselves do (the playground's CSP allows it).
 */
import * as archFields from "../arch/fields.js";
import { toFunction } from "../checks/compile.js";
import { GROUPS, type GroupName } from "../checks/groups.js";
import { ENTRY_WORDS } from "../checks/rule.js";
import { type Check, type Ctx, type Pred, srcOf } from "../checks/types.js";
import type { Caps } from "../cpu/profile.js";
import type { ProcessorState } from "./processor.js";

const { F } = archFields;

export type Runner = (ctx: Ctx, out: Int32Array) => number;
/** A runner body: like Runner, but the caller has already refreshed the context (`ctx.refresh()`). */
type Body = (ctx: Ctx, out: Int32Array) => number;

/** Checks per generated function: small enough for V8 to inline every predicate into it. */
const CHUNK = 6;
/** Checks per part of a runner (compilePlan): small enough for V8 to optimize each part quickly. */
const PART = 32;

// ---------------------------------------------------------------------------------------------------------
// Plans: what the compiled code does with each check.

/** The check cannot apply (drop it), always fails (list it), or needs its `fail` / `when` + `fail` called. */
enum Step {
  Drop = 0,
  Always = 1,
  Fail = 2,
  WhenFail = 3,
}
/** The gate of a group: known false (drop the run), known true (no test) or to be evaluated. */
enum Gate {
  False = 0,
  True = 1,
  Test = 2,
}

interface Plan {
  steps: Step[];
  gate: (group: GroupName) => Gate;
}

/** The plan of the generic runner: every predicate is called. */
function genericPlan(checks: readonly Check[]): Plan {
  return { steps: checks.map((c) => (c.when ? Step.WhenFail : Step.Fail)), gate: () => Gate.Test };
}

/** Rewrites a predicate's source for the signature being compiled (identity for the generic runner). */
type Rewrite = (src: string) => string;

/**
 * One straight-line function for checks without source (plain closures): appends failing indices after n,
 * returns the new n.
 */
function compileChunk(
  checks: readonly Check[],
  idx: readonly number[],
  steps: readonly Step[],
  name: string,
) {
  const params: string[] = [];
  const args: unknown[] = [];
  const body: string[] = [];
  for (const i of idx) {
    const c = checks[i] as Check;
    params.push(`f${i}`);
    args.push(c.fail);
    if (steps[i] === Step.WhenFail) {
      params.push(`w${i}`);
      args.push(c.when);
      body.push(`/* ${i} ${c.id} */ if (w${i}(c) && f${i}(c)) out[n++] = ${i};`);
    } else body.push(`/* ${i} ${c.id} */ if (f${i}(c)) out[n++] = ${i};`);
  }
  const factory = new Function(
    ...params,
    `return function chunk(c, out, n) {\n${body.join("\n")}\nreturn n;\n};\n//# sourceURL=${name}.js`,
  );
  return factory(...args) as (c: Ctx, out: Int32Array, n: number) => number;
}

// ---------------------------------------------------------------------------------------------------------
// Debugging generated code: every runner has a source URL (`nvmx-runner-…`, shown in stack traces and
// debuggers), the check id beside each test and the field name beside each VMCS slot. `runnerSources()`
// returns the newest runners' source; NVMX_DUMP_RUNNERS=dir writes each one to dir/<name>.js as it is made.

/** The newest runners' source, by name (bounded: the oldest is dropped beyond this many). */
const SOURCES = new Map<string, string>();
const KEEP_SOURCES = 64;
let runnerCount = 0;

/** The source of the runners compiled so far in this process (the newest 64), by source-URL name. */
export function runnerSources(): ReadonlyMap<string, string> {
  return SOURCES;
}

/** NVMX_DUMP_RUNNERS, when set (Node only: the browser has no environment). */
const DUMP_DIR = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[
  "NVMX_DUMP_RUNNERS"
];

function keepSource(name: string, source: string): void {
  SOURCES.set(name, source);
  if (SOURCES.size > KEEP_SOURCES) SOURCES.delete(SOURCES.keys().next().value as string);
  if (DUMP_DIR) {
    // `process.getBuiltinModule` (Node ≥ 20.16) keeps this module free of Node imports (the playground uses it).
    const fs = process.getBuiltinModule?.("node:fs");
    if (!fs) throw new Error("NVMX_DUMP_RUNNERS needs Node 20.16 or newer (process.getBuiltinModule)");
    fs.mkdirSync(DUMP_DIR, { recursive: true });
    fs.writeFileSync(`${DUMP_DIR}/${name}.js`, source);
  }
}

/**
 * The error a runner throws when a predicate throws (a bug in a check, or an input outside its types): it
 * names the check. The runner itself only catches; the check is found afterwards by calling the predicates
 * one by one (they are pure), so the hot path pays nothing for it.
 */
function located(checks: readonly Check[], e: unknown, ctx: Ctx, runner: string): Error {
  for (const c of checks) {
    try {
      if (c.when === undefined || c.when(ctx)) c.fail(ctx);
    } catch (inner) {
      return new Error(`check ${c.id} threw in ${runner}: ${(inner as Error)?.message ?? String(inner)}`, {
        cause: e,
      });
    }
  }
  return new Error(`${runner}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

/** An MSR-load check's condition on one entry (src/checks/rule.ts), when it has one. */
function entrySrc(c: Check): string | undefined {
  const e = (c.fail as Partial<Pred>).entry;
  return typeof e === "string" ? e : undefined;
}

const ENTRY_COUNT = F.VM_ENTRY_MSR_LOAD_COUNT! << 1;
const ENTRY_ADDR = F.VM_ENTRY_MSR_LOAD_ADDR! << 1;

/**
 * One walk of the VM-entry MSR-load area for several MSR-load checks (SDM 29.4): the area is read once
 * (`Memory.words`), and each check keeps the 1-based position of the first entry it fails on, as its own
 * walk (`entryLoop` in src/checks/rule.ts) would find it. Failing checks are listed in index order.
 */
function fusedWalk(checks: readonly Check[], idx: readonly number[], rewrite: Rewrite): string {
  const first = idx.map((k) => `f${k}`);
  const tests = idx.map(
    (k) =>
      `/* ${k} ${(checks[k] as Check).id} */ if (f${k} === 0 && (${rewrite(entrySrc(checks[k] as Check) as string)})) f${k} = i + 1;`,
  );
  const count = rewrite(`Math.min(v[${ENTRY_COUNT}]/*VM_ENTRY_MSR_LOAD_COUNT*/, c.caps.maxMsrList)`);
  const addr = `v[${ENTRY_ADDR | 1}]/*VM_ENTRY_MSR_LOAD_ADDR.hi*/ * 4294967296 + v[${ENTRY_ADDR}]/*VM_ENTRY_MSR_LOAD_ADDR*/`;
  return [
    `/* MSR-load walk: ${idx.map((k) => `${k} ${(checks[k] as Check).id}`).join(", ")} */ {`,
    `let ${first.map((f) => `${f} = 0`).join(", ")};`,
    `const count = ${count};`,
    "if (count > 0) {",
    `const w = c.mem.words(${addr}, count * 4);`,
    "for (let i = 0, j = 0; i < count; i++, j += 4) {",
    ENTRY_WORDS,
    ...tests,
    "}",
    "}",
    ...idx.map((k) => `if (f${k} !== 0) out[n++] = ${k};`),
    "}",
  ].join("\n");
}

/**
 * Straight-line code for a plan (throws where code generation is not allowed). Predicates with source
 * (src/checks/compile.ts) are pasted inline, over one local `v` for the VMCS slots; plain closures are called
 * from small chunk functions (so V8 can inline them).
 */
function compilePlan(checks: readonly Check[], plan: Plan, rewrite: Rewrite, name: string, guard = ""): Body {
  const fns: unknown[] = [];
  const names: string[] = [];
  const bind = (f: unknown, prefix: string): string => {
    const n = `${prefix}${fns.length}`;
    fns.push(f);
    names.push(n);
    return n;
  };
  const inline = (f: ((c: Ctx) => boolean) | undefined): string | undefined => {
    const s = srcOf(f);
    return s === undefined ? undefined : `(${rewrite(s)})`;
  };
  const lines: string[] = [];
  /** Checks per entry of `lines` (a block is never split across parts). */
  const weights: number[] = [];
  let i = 0;
  while (i < checks.length) {
    // A block: a maximal run of consecutive checks with the same group (or with none).
    const group = checks[i]?.group;
    let end = i + 1;
    while (end < checks.length && checks[end]?.group === group) end++;
    const gate = group === undefined ? Gate.True : plan.gate(group);
    if (gate !== Gate.False) {
      const code: string[] = [];
      let calls: number[] = [];
      const flush = () => {
        if (calls.length) {
          const ids = calls.map((k) => `${k} ${(checks[k] as Check).id}`).join(", ");
          const chunk = compileChunk(checks, calls, plan.steps, `${name}-chunk${fns.length}`);
          code.push(`/* ${ids} */ n = ${bind(chunk, "k")}(c, out, n);`);
        }
        calls = [];
      };
      // MSR-load checks in a row share one walk of the area (fusedWalk).
      let walk: number[] = [];
      const flushWalk = () => {
        if (walk.length) code.push(fusedWalk(checks, walk, rewrite));
        walk = [];
      };
      for (let k = i; k < end; k++) {
        const s = plan.steps[k] as Step;
        const ch = checks[k] as Check;
        if (s === Step.Drop) continue;
        const noWhen =
          s === Step.Fail ||
          (s === Step.WhenFail &&
            group !== undefined &&
            (ch.when as Partial<Pred> | undefined)?.afterGate?.trim() === "true");
        if (noWhen && entrySrc(ch) !== undefined) {
          flush();
          walk.push(k);
          continue;
        }
        flushWalk();
        if (s === Step.Always) {
          flush();
          code.push(`/* ${k} ${ch.id}: fails for this signature */ out[n++] = ${k};`);
          continue;
        }
        const f = inline(ch.fail);
        // Inside the block the group's gate holds: only the rest of a gated `when` is tested.
        const after = (ch.when as Partial<Pred> | undefined)?.afterGate;
        const w =
          s !== Step.WhenFail
            ? "true"
            : after !== undefined && group !== undefined
              ? `(${rewrite(after)})`
              : inline(ch.when);
        if (f !== undefined && w !== undefined) {
          flush();
          code.push(
            s === Step.WhenFail && w !== "(true)"
              ? `/* ${k} ${ch.id} */ if (${w} && ${f}) out[n++] = ${k};`
              : `/* ${k} ${ch.id} */ if (${f}) out[n++] = ${k};`,
          );
        } else {
          calls.push(k);
          if (calls.length === CHUNK) flush();
        }
      }
      flush();
      flushWalk();
      if (code.length) {
        const g = GROUPS[group as GroupName];
        const test = gate === Gate.Test ? (inline(g) ?? `${bind(g, "g")}(c)`) : undefined;
        lines.push(test ? `/* group ${group} */ if (${test}) {\n${code.join("\n")}\n}` : code.join("\n"));
        weights.push(end - i);
      }
    }
    i = end;
  }
  const locate = bind((e: unknown, ctx: Ctx) => located(checks, e, ctx, name), "located");
  // Slots stay array loads at their use: hoisting them all into locals measured slower (register pressure).
  // Parts of about PART checks, each its own function: V8 optimizes (and, after a deoptimization, re-optimizes)
  // a part in a few milliseconds, where one function for all checks took a quarter of a second each time.
  const parts: string[] = [];
  for (let k = 0, w = 0, cur: string[] = []; k <= lines.length; k++) {
    if (k === lines.length || (w >= PART && cur.length)) {
      if (cur.length) parts.push(cur.join("\n"));
      cur = [];
      w = 0;
      if (k === lines.length) break;
    }
    cur.push(lines[k] as string);
    w += weights[k] as number;
  }
  const defs = parts.map((b, k) => `function part${k}(c, v, out, n) {\n${b}\nreturn n;\n}`).join("\n");
  const calls = parts.map((_, k) => `n = part${k}(c, v, out, n);`).join("\n");
  const source = `${defs}\nreturn function run(c, out) {\nconst v = c.v;\n${guard}\nlet n = 0;\ntry {\n${calls}\n} catch (e) {\nthrow ${locate}(e, c);\n}\nreturn n;\n};\n//# sourceURL=${name}.js`;
  keepSource(
    name,
    `// ${names.join(", ")}: bound functions (chunks, gates without source, the error locator)\n${source}`,
  );
  const top = new Function(...names, source);
  return top(...fns) as Body;
}

// ---------------------------------------------------------------------------------------------------------
// The control signature and the probe.

const lo = (name: string): number => F[name]! << 1;
const hi = (name: string): number => (F[name]! << 1) | 1;

/**
 * VMCS slots (index·2 + half) of the signature: the raw control words, and the fields that select a guest's
 * or host's mode and are the same from one entry to the next of one guest (segment access rights, CR0/CR4,
 * EFER, activity and interruptibility state, pending debug exceptions, the link pointer, event injection,
 * MSR-load counts, host selectors). Every rule that reads only these folds to a constant in specialized code;
 * the rules that read addresses, limits, bases and the like stay.
 */
const SIG_SLOTS: readonly number[] = [
  lo("PIN_BASED_VM_EXEC_CONTROL"),
  lo("CPU_BASED_VM_EXEC_CONTROL"),
  lo("SECONDARY_VM_EXEC_CONTROL"),
  lo("TERTIARY_VM_EXEC_CONTROL"),
  hi("TERTIARY_VM_EXEC_CONTROL"),
  lo("VM_EXIT_CONTROLS"),
  lo("SECONDARY_VM_EXIT_CONTROLS"),
  hi("SECONDARY_VM_EXIT_CONTROLS"),
  lo("VM_ENTRY_CONTROLS"),
  ...["CS", "SS", "DS", "ES", "FS", "GS", "TR", "LDTR"].map((s) => lo(`GUEST_${s}_AR_BYTES`)),
  lo("GUEST_CR0"),
  lo("GUEST_CR4"),
  hi("GUEST_CR4"),
  lo("GUEST_IA32_EFER"),
  lo("GUEST_RFLAGS"),
  lo("GUEST_ACTIVITY_STATE"),
  lo("GUEST_INTERRUPTIBILITY_INFO"),
  lo("GUEST_PENDING_DBG_EXCEPTIONS"),
  lo("VMCS_LINK_POINTER"),
  hi("VMCS_LINK_POINTER"),
  lo("VM_ENTRY_INTR_INFO_FIELD"),
  lo("VM_ENTRY_MSR_LOAD_COUNT"),
  lo("VM_EXIT_MSR_LOAD_COUNT"),
  lo("VM_EXIT_MSR_STORE_COUNT"),
  lo("HOST_CR0"),
  lo("HOST_CR4"),
  hi("HOST_CR4"),
  lo("HOST_IA32_EFER"),
  ...["CS", "SS", "DS", "ES", "FS", "GS", "TR"].map((s) => lo(`HOST_${s}_SELECTOR`)),
];
/** The signature's VMCS slots, for tests. */
export const SIGNATURE_SLOTS: readonly number[] = SIG_SLOTS;
const NS = SIG_SLOTS.length;
const SLOT_OF = Int32Array.from(SIG_SLOTS);
const SIG_LEN = NS + 1;
const SIG_SET = new Set<number>(SIG_SLOTS);

/** Processor properties in the signature (encoded by `processorBits`); any other read counts as data. */
const PROC_SIG = new Set<string>([
  "instruction",
  "launchState",
  "executiveVmcsLaunchState",
  "ia32e",
  "vmxRoot",
  "currentVmcsValid",
  "inSmm",
  "blockingByMovSs",
  "dualMonitorActive",
  "currentVmcsShadow",
]);

/** A boolean as `v` or 0; -1 when the value is not a boolean. */
const bit = (b: unknown, v: number): number => (b === true ? v : b === false ? 0 : -1);

/**
 * The processor's mode as flags, or -1 when a property holds a value outside its type (a library caller's
 * object): such states are never specialized, so the encoding stays exact. Allocation-free (hot path).
 */
function processorBits(p: ProcessorState): number {
  const ins = p.instruction === "vmlaunch" ? 0 : p.instruction === "vmresume" ? 1 : -1;
  const ls = p.launchState === "clear" ? 0 : p.launchState === "launched" ? 2 : -1;
  const x = p.executiveVmcsLaunchState;
  const xs = x === undefined ? 0 : x === "clear" ? 4 : x === "launched" ? 8 : -1;
  const a = bit(p.ia32e, 16);
  const b = bit(p.vmxRoot, 32);
  const d = bit(p.currentVmcsValid, 64);
  const e = bit(p.inSmm, 128);
  const f = bit(p.blockingByMovSs, 256);
  const g = bit(p.dualMonitorActive, 512);
  const h = bit(p.currentVmcsShadow, 1024);
  // Any -1 makes the OR negative.
  const r = ins | ls | xs | a | b | d | e | f | g | h;
  return r < 0 ? -1 : r;
}

/** The mode word's bit for a virtual-8086 guest (`c.v86`, from guest RFLAGS.VM): part of the signature. */
const V86 = 1 << 11;

/** The probe's copies of the predicates, by source (only probes call them). */
const PROBE_COPIES = new Map<string, (c: Ctx) => boolean>();

/**
 * Records whether the predicates it is passed to read anything beyond the signature. It evaluates a fresh
 * copy of each predicate's source on a stand-in context (a plain object with counting views of the VMCS
 * slots, processor and memory), so the real predicates and `Ctx` never see a second object shape: the code
 * V8 optimized for them stays monomorphic. Predicates without source (the few that read memory) are never
 * taken as fixed.
 */
class Probe {
  data = false;
  private readonly ctx: Ctx;

  constructor(real: Ctx) {
    const mark = (): void => {
      this.data = true;
    };
    const counting = <T extends object>(target: T, isSignature: (k: string) => boolean): T =>
      new Proxy(target, {
        get(t, k) {
          if (typeof k !== "string" || !isSignature(k)) mark();
          const x: unknown = Reflect.get(t, k);
          return typeof x === "function" ? x.bind(t) : x;
        },
      });
    const stand = {
      v: counting(real.v, (k) => !/^[0-9]+$/.test(k) || SIG_SET.has(Number(k))),
      pin: real.pin,
      proc: real.proc,
      proc2: real.proc2,
      proc3: real.proc3,
      proc3Hi: real.proc3Hi,
      exit: real.exit,
      exit2: real.exit2,
      exit2Hi: real.exit2Hi,
      entry: real.entry,
      v86: real.v86,
      caps: real.caps,
      proc_: counting(real.proc_, (k) => PROC_SIG.has(k)),
      mem: counting(real.mem, () => false),
    };
    this.ctx = stand as unknown as Ctx;
  }

  /** The predicate's value, and whether it is fixed by the signature. */
  run(f: (c: Ctx) => boolean): { value: boolean; fixed: boolean } {
    const src = srcOf(f);
    if (src === undefined) return { value: false, fixed: false };
    let copy = PROBE_COPIES.get(src);
    if (!copy) {
      copy = toFunction<boolean>(`!!(${src})`, "probe");
      PROBE_COPIES.set(src, copy);
    }
    this.data = false;
    try {
      const value = copy(this.ctx);
      return { value, fixed: !this.data };
    } catch {
      return { value: false, fixed: false };
    }
  }
}

const CTX_WORDS = /\bc\.(pin|proc|proc2|proc3|proc3Hi|exit|exit2|exit2Hi|entry|v86)(?![\w$])/g;
const CAPS = /\bc\.caps((?:\.[A-Za-z_$][\w$]*)+)(?![\w$.[(])/g;
const SLOT = /\bv\[([0-9]+)\]/g;

/**
 * Source rewriting for a signature: the control words in effect, the profile's scalar capabilities and the
 * signature's VMCS slots become literals, which V8 then folds (a disabled feature's test disappears).
 */
function signatureRewrite(ctx: Ctx): Rewrite {
  const words: Record<string, number | boolean> = {
    v86: ctx.v86,
    pin: ctx.pin,
    proc: ctx.proc,
    proc2: ctx.proc2,
    proc3: ctx.proc3,
    proc3Hi: ctx.proc3Hi,
    exit: ctx.exit,
    exit2: ctx.exit2,
    exit2Hi: ctx.exit2Hi,
    entry: ctx.entry,
  };
  const v = ctx.v;
  const caps = capsRewrite(ctx.caps);
  return (src) =>
    caps(src.replace(CTX_WORDS, (_, k: string) => `(${words[k]})`)).replace(SLOT, (m, k: string) =>
      SIG_SET.has(Number(k)) ? `(${v[Number(k)]})` : m,
    );
}

/** Source rewriting for a profile: its scalar capabilities (`c.caps.ctl.proc.may1`) become literals. */
function capsRewrite(caps: Caps): Rewrite {
  /** A scalar of the profile, or undefined when the path does not lead to one. */
  const capsScalar = (path: string): number | boolean | undefined => {
    let x: unknown = caps;
    for (const k of path.slice(1).split(".")) {
      if (typeof x !== "object" || x === null || !Object.hasOwn(x, k)) return undefined;
      x = (x as Record<string, unknown>)[k];
    }
    return typeof x === "number" || typeof x === "boolean" ? x : undefined;
  };
  return (src) =>
    src.replace(CAPS, (m, path: string) => {
      const x = capsScalar(path);
      return x === undefined ? m : `(${x})`;
    });
}

/**
 * The first statement of a specialized runner: it returns -1 unless the state has the signature the runner
 * was built for (its slots and processor mode compared with literals), so the caller can try it blindly.
 */
function signatureGuard(ctx: Ctx): string {
  const v = ctx.v;
  const p = ctx.proc_ as unknown as Record<string, unknown>;
  const tests = SIG_SLOTS.map((k) => `v[${k}] !== ${v[k]}`);
  for (const k of PROC_SIG) tests.push(`c.proc_.${k} !== ${JSON.stringify(p[k]) ?? "undefined"}`);
  tests.push(`c.v86 !== ${ctx.v86}`);
  return `if (${tests.join(" || ")}) return -1;`;
}

/** The plan for the signature of `ctx`: predicates fixed by the signature are folded to constants. */
function specializedPlan(checks: readonly Check[], ctx: Ctx): Plan {
  const probe = new Probe(ctx);
  const steps = checks.map((c): Step => {
    if (c.when) {
      const w = probe.run(c.when);
      if (!w.fixed) return Step.WhenFail;
      if (!w.value) return Step.Drop;
    }
    const f = probe.run(c.fail);
    if (!f.fixed) return Step.Fail;
    return f.value ? Step.Always : Step.Drop;
  });
  const gates = new Map<GroupName, Gate>();
  return {
    steps,
    gate: (g) => {
      let r = gates.get(g);
      if (r === undefined) {
        const p = probe.run(GROUPS[g]);
        r = !p.fixed ? Gate.Test : p.value ? Gate.True : Gate.False;
        gates.set(g, r);
      }
      return r;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// The signature table: per CPU profile, signatures seen, and the specialized code of recurring ones.

/**
 * Specialize a signature on its n-th sighting. A specialized runner saves ~20–30 ns per check over the generic
 * one but costs ~1 ms to build and for V8 to optimize, so only signatures that are clearly hot (a batch of
 * similar states, a hypervisor re-entering the same guest, a benchmark) get one; fuzzing and generation, whose
 * control words keep changing, stay on the generic runner (measured: a threshold of 3 made the generator ~9×
 * slower).
 */
export const SPECIALIZE_AFTER = 10_000;
/**
 * A profile's own runner is compiled on its n-th state: a batch or a fuzzing campaign checks thousands of
 * states on one profile, and its capabilities as literals let V8 fold every test of a feature the CPU lacks.
 * A few hundred states (one document, a test, logs that each bring their own profile) stay on the generic
 * runner and pay no compilation; at most MAX_PROFILE_RUNNERS profiles per runner get one.
 */
export const PROFILE_AFTER = 1024;
const MAX_PROFILE_RUNNERS = 8;
/** Sampling rate of the sighting count for high thresholds. */
const SAMPLE = 64;
/** Slots of the signature table (a power of 2): a direct-mapped cache, so a miss costs a hash, no allocation. */
const SLOTS = 64;

/** One remembered signature: how often it was seen in a row of hits on its slot, and its code once hot. */
interface Slot {
  readonly sig: Int32Array;
  seen: number;
  body: Body | undefined;
}

/** The `last` of a table that has seen no signature yet: no code, never equal to a signature. */
const NO_SLOT: Slot = { sig: new Int32Array(SIG_LEN).fill(-1), seen: 0, body: undefined };

/**
 * Per list of checks and CPU profile: a direct-mapped table of signatures. A signature that collides with
 * another in its slot replaces it (its count and code are dropped), so memory is bounded by SLOTS runners
 * and states whose control words keep changing cost one hash and one compare per evaluation.
 */
class SigTable {
  /** Made on the first sampled lookup: a profile seen once (an inline profile in one document) costs nothing. */
  private slots: Slot[] | undefined;
  /** The slot of the previous evaluation (the common case: the same signature again). */
  last: Slot = NO_SLOT;
  /** States of this profile evaluated so far (counted until the profile has its own runner). */
  states = 0;
  /** The profile's runner (its capabilities as literals), once PROFILE_AFTER states have used the profile. */
  base: Body | undefined;

  constructor(
    private readonly checks: readonly Check[],
    private readonly after: number,
  ) {}

  /** The slot for the signature in `sig`, taken over (count reset) when it held another signature. */
  lookup(sig: Int32Array): Slot {
    let h = 0;
    for (let i = 0; i < SIG_LEN; i++) h = Math.imul(h ^ sig[i]!, 0x9e3779b1);
    this.slots ??= Array.from({ length: SLOTS }, () => ({
      sig: new Int32Array(SIG_LEN),
      seen: 0,
      body: undefined,
    }));
    const slot = this.slots[(h >>> 26) & (SLOTS - 1)]!;
    if (!sameSig(slot.sig, sig)) {
      slot.sig.set(sig);
      slot.seen = 0;
      slot.body = undefined;
    }
    return slot;
  }

  /** Count a sighting; compile the specialized body when the signature has recurred often enough. */
  note(slot: Slot, ctx: Ctx, weight: number): void {
    slot.seen += weight;
    if (slot.seen >= this.after)
      slot.body = compilePlan(
        this.checks,
        specializedPlan(this.checks, ctx),
        signatureRewrite(ctx),
        `nvmx-runner-${++runnerCount}-${ctx.caps.name.replace(/[^\w.-]/g, "_") || "profile"}-specialized`,
        signatureGuard(ctx),
      );
  }
}

function sameSig(a: Int32Array, b: Int32Array): boolean {
  for (let i = 0; i < SIG_LEN; i++) if (a[i] !== b[i]) return false;
  return true;
}

export interface RunnerOptions {
  /** Specialize a signature on this sighting (default SPECIALIZE_AFTER); 0 turns specialization off. */
  specializeAfter?: number;
  /**
   * Compile the profile's own runner (its capabilities as literals) on its n-th state (default PROFILE_AFTER);
   * 0 never does.
   */
  profileAfter?: number;
  /**
   * The caller has refreshed the context for this state already (the cpu-fact pass of src/entry/evaluate.ts
   * re-runs a few checks on the state the registry just ran on): no `ctx.refresh()`, no specialization.
   */
  refreshed?: boolean;
}

/** The runner for a list of checks: generic compiled code, plus specialized code for recurring signatures. */
export function compileRunner(checks: readonly Check[], opts: RunnerOptions = {}): Runner {
  const generic = compilePlan(
    checks,
    genericPlan(checks),
    (src) => src,
    `nvmx-runner-${++runnerCount}-generic`,
  );
  const after = opts.specializeAfter ?? SPECIALIZE_AFTER;
  if (opts.refreshed) return generic;
  const tables = new WeakMap<Caps, SigTable>();
  let lastCaps: Caps | undefined;
  let lastTable: SigTable | undefined;
  const sig = new Int32Array(SIG_LEN);
  // States are sampled for the sighting count (1 in SAMPLE when the threshold is high), so states whose
  // signature is not hot pay one counter test, not a signature comparison.
  const every = after >= SAMPLE ? SAMPLE : 1;
  let tick = 0;
  const profileAfter = opts.profileAfter ?? PROFILE_AFTER;
  let profileRunners = 0;
  return (ctx, out) => {
    ctx.refresh();
    let table: SigTable;
    if (ctx.caps === lastCaps) table = lastTable!;
    else {
      let t = tables.get(ctx.caps);
      if (!t) {
        t = new SigTable(checks, after);
        tables.set(ctx.caps, t);
      }
      lastCaps = ctx.caps;
      lastTable = t;
      table = t;
    }
    let base = table.base;
    if (base === undefined) {
      base = generic;
      if (profileAfter > 0 && ++table.states >= profileAfter) {
        // past MAX_PROFILE_RUNNERS the profile keeps the generic runner, and stops counting
        if (profileRunners < MAX_PROFILE_RUNNERS) {
          profileRunners++;
          base = compilePlan(
            checks,
            genericPlan(checks),
            capsRewrite(ctx.caps),
            `nvmx-runner-${++runnerCount}-${ctx.caps.name.replace(/[^\w.-]/g, "_") || "profile"}`,
          );
        }
        table.base = base;
      }
    }
    if (after <= 0) return base(ctx, out);
    // The common case: the signature of the previous state, whose runner checks that it applies.
    const last = table.last.body;
    if (last !== undefined) {
      const n = last(ctx, out);
      if (n >= 0) return n;
    } else if (++tick < every) return base(ctx, out);
    tick = 0;
    const p = processorBits(ctx.proc_);
    if (p < 0) return base(ctx, out);
    const v = ctx.v;
    for (let i = 0; i < NS; i++) sig[i] = v[SLOT_OF[i]!]!;
    sig[NS] = ctx.v86 ? p | V86 : p;
    const e = table.lookup(sig);
    table.last = e;
    if (e.body === undefined) table.note(e, ctx, every);
    return e.body !== undefined ? e.body(ctx, out) : base(ctx, out);
  };
}
