/** Run VM entry on a resolved Entry. */
import { CHECKS } from "../checks/registry.js";
import { type Check, Ctx } from "../checks/types.js";
import type { Caps } from "../cpu/profile.js";
import type { Entry } from "./document.js";
import { type EntryResult, evaluate } from "./evaluate.js";

export function contextOf(e: Entry): Ctx {
  return new Ctx(e.vmcs, e.caps, e.processor, e.memory);
}

export function runEntry(e: Entry, checks: readonly Check[] = CHECKS): EntryResult {
  return evaluate(contextOf(e), checks);
}

/**
 * Runs many entries in turn (batch checking): keeps one context per CPU profile and reuses it while the
 * entry's VMCS store, processor state and memory are the same objects as last time, as they are for entries
 * read by an EntryScanner (one reused store). Only the VMCS contents differ then, and every evaluation starts
 * with `ctx.refresh()`, which recomputes what derives from them (src/checks/types.ts). A result's messages
 * are built from the live state when first read: read (or print) them before the next entry is read.
 */
export class EntryRunner {
  private readonly contexts = new Map<Caps, Ctx>();

  run(e: Entry): EntryResult {
    let ctx = this.contexts.get(e.caps);
    if (!ctx || ctx.vmcs !== e.vmcs || ctx.proc_ !== e.processor || ctx.mem !== e.memory) {
      ctx = contextOf(e);
      // Inline profiles are new objects per document: keep the map small.
      if (this.contexts.size >= 64) this.contexts.clear();
      this.contexts.set(e.caps, ctx);
    }
    return evaluate(ctx);
  }
}
