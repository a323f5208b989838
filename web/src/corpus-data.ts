/**
 * The bundled nested corpora (web/src/data/nested-corpus-KERNEL.json, written by web/scripts/gen-corpus.mjs):
 * their shape, and their states as plain nvmx-entry/1 documents. A violating state is stored as its
 * differences from one of a few base states; a kernel whose L1 profile equals another's refers to it
 * (`sameAs`).
 */
import type { EntryDocument } from "../../src/entry/document.js";

export interface BundledCorpus {
  format: "nvmx-playground-corpus/1";
  kernel: string;
  host: string;
  l1: string;
  /** the kernel whose file holds the states (same L1 profile) */
  sameAs?: string;
  bases?: EntryDocument[];
  states?: CorpusState[];
  /** rules that cannot be violated alone on the L1 profile */
  notViolableAlone?: number;
}

/** "" for a valid state, else the one rule it breaks. */
export type CorpusState = { rule: string } & (
  | { doc: EntryDocument }
  | {
      base: number;
      vmcs?: Record<string, string>;
      processor?: EntryDocument["processor"];
      memory?: EntryDocument["memory"];
    }
);

/** The states of a corpus file (not a `sameAs` reference) as documents, in order, with their rules. */
export function corpusDocuments(c: BundledCorpus): { rule: string; doc: EntryDocument }[] {
  return (c.states ?? []).map((s) => {
    if ("doc" in s) return { rule: s.rule, doc: s.doc };
    const b = c.bases?.[s.base];
    if (!b) throw new Error(`corpus ${c.kernel}: state for ${s.rule} names base ${s.base}, which is missing`);
    const vmcs = { ...b.vmcs };
    for (const [k, v] of Object.entries(s.vmcs ?? {}))
      if (v === "0x0") delete vmcs[k];
      else vmcs[k] = v;
    const doc: EntryDocument = { ...b, vmcs };
    if (s.processor) doc.processor = s.processor;
    if (s.memory) doc.memory = s.memory;
    return { rule: s.rule, doc };
  });
}
