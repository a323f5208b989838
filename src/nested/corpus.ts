/** Corpora of vmcs12 states for the nested model: one violation per rule (violation search), valid states. */
import { CHECKS } from "../checks/registry.js";
import type { Caps } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import { Rng } from "../gen/rng.js";
import { generateValid } from "../gen/valid.js";
import { violationSearch } from "../gen/violate.js";
import { loadSearchCache, saveSearchCache } from "./cache.js";

/** vmcs12 states each violating one rule, with the rule; rules that cannot be violated alone, with why. */
export interface ViolationCorpus {
  entries: Entry[];
  /** the rule each entry violates ("" for the valid states) */
  ids: string[];
  /** rules that cannot be violated alone on this profile, with the reason */
  skipped: { id: string; reason: string }[];
  /** how many search results came from the on-disk cache */
  cached: number;
}

/** Options of `violationCorpus`. */
export interface CorpusOptions {
  /** valid states to add first (default 0) */
  valid?: number;
  /** restrict to these rule classes */
  classes?: readonly string[];
  /** use the on-disk cache (default true) */
  cache?: boolean;
  /** called after each rule (for progress on a terminal) */
  progress?: (done: number, total: number) => void;
  /** rules not to search for (e.g. those a kernel checks exactly in software) */
  skip?: ReadonlySet<string>;
}

/** One vmcs12 per rule that can be violated alone on `l1` (and `valid` valid ones first). */
export function violationCorpus(l1: Caps, opts: CorpusOptions = {}): ViolationCorpus {
  const search = violationSearch(l1);
  const useCache = opts.cache ?? true;
  const cached = useCache ? loadSearchCache(search) : 0;
  const out: ViolationCorpus = { entries: [], ids: [], skipped: [], cached };
  for (let i = 0; i < (opts.valid ?? 0); i++) {
    out.entries.push(generateValid(l1, Rng.derive(7, i)).entry);
    out.ids.push("");
  }
  const rules = CHECKS.filter(
    (c) => c.cls !== "basic" && (!opts.classes || opts.classes.includes(c.cls)) && !opts.skip?.has(c.id),
  );
  rules.forEach((c, i) => {
    const e = search.violate(c.id);
    if (!e) out.skipped.push({ id: c.id, reason: search.find(c.id).reason ?? "not violable alone" });
    else {
      out.entries.push(e);
      out.ids.push(c.id);
    }
    opts.progress?.(i + 1, rules.length);
  });
  if (useCache) saveSearchCache(search);
  return out;
}

/** `n` valid vmcs12 states on `l1`, reproducible from `seed`. */
export function validCorpus(l1: Caps, n: number, seed = 7): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < n; i++) out.push(generateValid(l1, Rng.derive(seed, i)).entry);
  return out;
}
