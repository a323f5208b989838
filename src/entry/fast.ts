/**
 * The fast path (design.md "Speed"), derived from the registry rather than written twice: the checks are
 * compiled into chunked straight-line functions with one monomorphic call site per predicate, so V8 can
 * inline the small `when`/`fail` closures. Output is the list of failing check indices in a preallocated
 * Int32Array: no allocation when nothing fails. Falls back to a plain loop where code generation is not
 * allowed (e.g. a browser with a strict Content-Security-Policy).
 */
import type { Check, Ctx } from "../checks/types.js";

export type Runner = (ctx: Ctx, out: Int32Array) => number;

/** Checks per generated function: small enough for V8 to inline every predicate into it. */
const CHUNK = 6;

function loopRunner(checks: readonly Check[]): Runner {
  return (ctx, out) => {
    let n = 0;
    for (let i = 0; i < checks.length; i++) {
      const c = checks[i]!;
      if ((c.when === undefined || c.when(ctx)) && c.fail(ctx)) out[n++] = i;
    }
    return n;
  };
}

export function compileRunner(checks: readonly Check[]): Runner {
  try {
    const chunks: ((ctx: Ctx, out: Int32Array, n: number) => number)[] = [];
    for (let start = 0; start < checks.length; start += CHUNK) {
      const part = checks.slice(start, start + CHUNK);
      const params: string[] = [];
      const args: unknown[] = [];
      const body: string[] = [];
      part.forEach((c, j) => {
        const i = start + j;
        params.push(`f${i}`);
        args.push(c.fail);
        if (c.when) {
          params.push(`w${i}`);
          args.push(c.when);
          body.push(`if (w${i}(ctx) && f${i}(ctx)) out[n++] = ${i};`);
        } else body.push(`if (f${i}(ctx)) out[n++] = ${i};`);
      });
      // Each chunk appends the indices of its failing checks after position n and returns the new n.
      const factory = new Function(
        ...params,
        `return function chunk(ctx, out, n) { ${body.join(" ")} return n; };`,
      );
      chunks.push(factory(...args) as (ctx: Ctx, out: Int32Array, n: number) => number);
    }
    const names = chunks.map((_, k) => `c${k}`);
    const top = new Function(
      ...names,
      `return function run(ctx, out) { let n = 0; ${names.map((c) => `n = ${c}(ctx, out, n);`).join(" ")} return n; };`,
    );
    return top(...chunks) as Runner;
  } catch {
    return loopRunner(checks);
  }
}

export { loopRunner };
