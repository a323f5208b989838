/** A vmcs12 corpus with one violation per check id (from the generator's violation search), plus valid states. */
import { CHECKS } from "../checks/registry.js";
import type { Caps } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import { baseEntry } from "../gen/base.js";
import { violationSearch } from "../gen/violate.js";

export interface ViolationCorpus {
  entries: Entry[];
  /** the check id each entry violates ("" for the valid states) */
  ids: string[];
  /** ids that cannot be violated alone on this profile, with the reason */
  skipped: { id: string; reason: string }[];
}

export function violationCorpus(l1: Caps, opts: { valid?: number } = {}): ViolationCorpus {
  const search = violationSearch(l1);
  const out: ViolationCorpus = { entries: [], ids: [], skipped: [] };
  for (let i = 0; i < (opts.valid ?? 1); i++) {
    out.entries.push(baseEntry(l1));
    out.ids.push("");
  }
  for (const c of CHECKS) {
    if (c.cls === "basic") continue;
    const e = search.violate(c.id);
    if (!e) {
      out.skipped.push({ id: c.id, reason: search.find(c.id).reason ?? "not violable alone" });
      continue;
    }
    out.entries.push(e);
    out.ids.push(c.id);
  }
  return out;
}
