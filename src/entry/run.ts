/** Run VM entry on a resolved Entry. */
import { CHECKS } from "../checks/registry.js";
import { type Check, Ctx } from "../checks/types.js";
import type { Entry } from "./document.js";
import { type EntryResult, evaluate } from "./evaluate.js";

export function contextOf(e: Entry): Ctx {
  return new Ctx(e.vmcs, e.caps, e.processor, e.memory);
}

export function runEntry(e: Entry, checks: readonly Check[] = CHECKS): EntryResult {
  return evaluate(contextOf(e), checks);
}
