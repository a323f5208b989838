/**
 * A reading context (docs/architecture.md §1): evaluates checks as the reference loop does
 * (`failingChecksReference`) while recording what each one reads on this state — VMCS fields (the control
 * words behind `c.pin`, `c.proc2`, … and RFLAGS behind `c.v86` included), memory bytes and processor-state
 * keys. A finding is definite exactly when everything its check read is known, short-circuits included: a
 * check that stopped at a known gate never read the unknown fields behind it.
 *
 * Slow (a Proxy per read) and meant for one state at a time (`explain`), never for batch checking.
 */
import { F } from "../arch/fields.js";
import { CHECKS } from "../checks/registry.js";
import type { Check, Ctx } from "../checks/types.js";

/** What one check read. */
export interface Reads {
  /** field indices (src/arch/fields.ts) */
  fields: Set<number>;
  /** memory byte addresses */
  memory: Set<number>;
  /** processor-state keys */
  processor: Set<string>;
}

export function emptyReads(): Reads {
  return { fields: new Set(), memory: new Set(), processor: new Set() };
}

/** The fields behind the context's derived values (src/checks/types.ts Ctx.refresh). */
const DERIVED: Readonly<Record<string, readonly number[]>> = {
  pin: [F.PIN_BASED_VM_EXEC_CONTROL!],
  proc: [F.CPU_BASED_VM_EXEC_CONTROL!],
  proc2: [F.CPU_BASED_VM_EXEC_CONTROL!, F.SECONDARY_VM_EXEC_CONTROL!],
  proc3: [F.CPU_BASED_VM_EXEC_CONTROL!, F.TERTIARY_VM_EXEC_CONTROL!],
  proc3Hi: [F.CPU_BASED_VM_EXEC_CONTROL!, F.TERTIARY_VM_EXEC_CONTROL!],
  exit: [F.VM_EXIT_CONTROLS!],
  exit2: [F.VM_EXIT_CONTROLS!, F.SECONDARY_VM_EXIT_CONTROLS!],
  exit2Hi: [F.VM_EXIT_CONTROLS!, F.SECONDARY_VM_EXIT_CONTROLS!],
  entry: [F.VM_ENTRY_CONTROLS!],
  v86: [F.GUEST_RFLAGS!],
};

const MEMORY_READS: Readonly<Record<string, number>> = { read8: 1, read32: 4, read64: 8 };

/** A context that records reads into `sink.reads` (swap the sink's target per check). */
export class ReadingContext {
  /** Where reads go now. */
  reads: Reads = emptyReads();
  /** The recording view of the context, to pass to predicates. */
  readonly view: Ctx;

  constructor(readonly ctx: Ctx) {
    const self = this;
    const v = new Proxy(ctx.v, {
      get(t, k) {
        if (typeof k === "string") {
          const i = Number(k);
          if (k !== "" && Number.isInteger(i) && i >= 0) {
            self.reads.fields.add(i >> 1);
            return t[i];
          }
        }
        const x = Reflect.get(t, k);
        return typeof x === "function" ? x.bind(t) : x;
      },
    });
    const proc = new Proxy(ctx.proc_, {
      get(t, k) {
        if (typeof k === "string") self.reads.processor.add(k);
        return Reflect.get(t, k);
      },
    });
    const mem = new Proxy(ctx.mem, {
      get(t, k) {
        const n = typeof k === "string" ? MEMORY_READS[k] : undefined;
        const x = Reflect.get(t, k);
        if (n === undefined) return typeof x === "function" ? x.bind(t) : x;
        return (addr: number) => {
          for (let b = 0; b < n; b++) self.reads.memory.add(addr + b);
          return (x as (a: number) => unknown).call(t, addr);
        };
      },
    });
    this.view = new Proxy(ctx, {
      get(t, k, receiver) {
        if (typeof k === "string") {
          if (k === "v") return v;
          if (k === "proc_") return proc;
          if (k === "mem") return mem;
          const d = DERIVED[k];
          if (d) for (const f of d) self.reads.fields.add(f);
        }
        const x = Reflect.get(t, k, receiver);
        return x;
      },
    });
  }

  /** Run one check as the reference loop does; returns whether it fails, with what it read. */
  run(c: Check): { fails: boolean; reads: Reads } {
    const reads = emptyReads();
    this.reads = reads;
    const fails = (c.when === undefined || c.when(this.view)) && c.fail(this.view);
    return { fails, reads };
  }
}

/** Every check's verdict and reads on a context (refreshed first), in registry order. */
export function traceAll(
  ctx: Ctx,
  checks: readonly Check[] = CHECKS,
): { check: Check; fails: boolean; reads: Reads }[] {
  ctx.refresh();
  const rc = new ReadingContext(ctx);
  return checks.map((c) => ({ check: c, ...rc.run(c) }));
}
