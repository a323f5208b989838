/**
 * The playground's bundled nested corpora (web/src/data, written by web/scripts/gen-corpus.mjs) against the
 * current checks: every kernel preset has one; each valid state passes every check on the kernel's L1
 * profile and each violating state fails exactly the rule it stands for. A change to a rule that breaks
 * this makes the comparison chart wrong: regenerate the corpora (node web/scripts/gen-corpus.mjs).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CHECKS } from "../../src/checks/registry.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { parseEntry } from "../../src/entry/document.js";
import { runEntry } from "../../src/entry/run.js";
import { KERNELS } from "../../src/nested/kernels/index.js";
import { l1Profile } from "../../src/nested/l1.js";
import { type BundledCorpus, corpusDocuments } from "../../web/src/corpus-data.js";

const read = (kernel: string): BundledCorpus =>
  JSON.parse(
    readFileSync(new URL(`../../web/src/data/nested-corpus-${kernel}.json`, import.meta.url), "utf8"),
  );

describe("bundled nested corpora", () => {
  for (const preset of KERNELS)
    it(`${preset.id}: valid states pass, each other state fails exactly its rule on the L1 profile`, () => {
      const ref = read(preset.id);
      expect(ref.kernel).toBe(preset.id);
      const c = ref.sameAs ? read(ref.sameAs) : ref;
      const l1 = l1Profile(preset, builtinProfile(ref.host));
      expect(ref.l1).toBe(l1.name);
      const docs = corpusDocuments(c);
      const wrong: string[] = [];
      for (const { rule, doc } of docs) {
        const failing = runEntry({ ...parseEntry(doc), caps: l1 }).violations.map((v) => v.id);
        if (rule === "" ? failing.length > 0 : failing.join(",") !== rule)
          wrong.push(`${rule || "valid"}: fails ${failing.join(", ") || "nothing"}`);
      }
      expect(wrong).toEqual([]);
      expect(docs.filter((d) => d.rule === "").length).toBe(20);
      // one state per rule, each a rule of the registry
      const rules = docs.map((d) => d.rule).filter(Boolean);
      expect(new Set(rules).size).toBe(rules.length);
      const ids = new Set(CHECKS.map((x) => x.id));
      expect(rules.filter((r) => !ids.has(r))).toEqual([]);
    });
});
