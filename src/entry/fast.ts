/**
 * The fast path (design.md "Speed"), derived from the registry rather than written twice: the checks are
 * compiled into chunked straight-line functions with one monomorphic call site per predicate, so V8 can
 * inline the small `when`/`fail` closures. Consecutive checks that share a `group` (src/checks/groups.ts) sit
 * behind one evaluation of the group's gate, so a feature that is off costs one test, not one per check.
 * Output is the list of failing check indices in a preallocated Int32Array: no allocation when nothing
 * fails. Falls back to a plain loop where code generation is not allowed (e.g. a browser with a strict
 * Content-Security-Policy).
 */
import { GROUPS } from "../checks/groups.js";
import type { Check, Ctx } from "../checks/types.js";

export type Runner = (ctx: Ctx, out: Int32Array) => number;

/** Checks per generated function: small enough for V8 to inline every predicate into it. */
const CHUNK = 6;

function loopRunner(checks: readonly Check[]): Runner {
  return (ctx, out) => {
    ctx.refresh();
    let n = 0;
    for (let i = 0; i < checks.length; i++) {
      const c = checks[i]!;
      if ((c.when === undefined || c.when(ctx)) && c.fail(ctx)) out[n++] = i;
    }
    return n;
  };
}

type Chunk = (ctx: Ctx, out: Int32Array, n: number) => number;

/** One straight-line function for checks[start, end): appends failing indices after n, returns the new n. */
function compileChunk(checks: readonly Check[], start: number, end: number): Chunk {
  const params: string[] = [];
  const args: unknown[] = [];
  const body: string[] = [];
  for (let i = start; i < end; i++) {
    const c = checks[i]!;
    params.push(`f${i}`);
    args.push(c.fail);
    if (c.when) {
      params.push(`w${i}`);
      args.push(c.when);
      body.push(`if (w${i}(ctx) && f${i}(ctx)) out[n++] = ${i};`);
    } else body.push(`if (f${i}(ctx)) out[n++] = ${i};`);
  }
  const factory = new Function(
    ...params,
    `return function chunk(ctx, out, n) { ${body.join(" ")} return n; };`,
  );
  return factory(...args) as Chunk;
}

export function compileRunner(checks: readonly Check[]): Runner {
  try {
    const fns: unknown[] = [];
    const names: string[] = [];
    const bind = (f: unknown, prefix: string): string => {
      const name = `${prefix}${fns.length}`;
      fns.push(f);
      names.push(name);
      return name;
    };
    const lines: string[] = [];
    let i = 0;
    while (i < checks.length) {
      // A block: a maximal run of consecutive checks with the same group (or with none).
      const group = checks[i]!.group;
      let end = i + 1;
      while (end < checks.length && checks[end]!.group === group) end++;
      const calls: string[] = [];
      for (let s = i; s < end; s += CHUNK) {
        const name = bind(compileChunk(checks, s, Math.min(end, s + CHUNK)), "c");
        calls.push(`n = ${name}(ctx, out, n);`);
      }
      if (group === undefined) lines.push(...calls);
      else lines.push(`if (${bind(GROUPS[group], "g")}(ctx)) { ${calls.join(" ")} }`);
      i = end;
    }
    const top = new Function(
      ...names,
      `return function run(ctx, out) { ctx.refresh(); let n = 0; ${lines.join(" ")} return n; };`,
    );
    return top(...fns) as Runner;
  } catch {
    return loopRunner(checks);
  }
}

export { loopRunner };
