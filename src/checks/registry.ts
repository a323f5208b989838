/**
 * The one registry of VM-entry checks, in the SDM's order (29.1 basic; 29.2.1 controls; 29.2.2–29.2.4 host
 * state; 29.3.1 guest state; 29.4 MSR loading). Docs, the evaluator, the generator and the playground all
 * read it. Every module of src/checks that default-exports a section is in it (scripts/gen-sections.mjs
 * lists them): adding a module needs no edit here.
 */
import type { Section } from "./rule.js";
import { MODULES } from "./sections.generated.js";
import type { Check } from "./types.js";

/** Compares SDM section numbers ("29.2.1.1" < "29.2.1.2" < "29.2.2"; a prefix comes first). */
export function compareSections(a: string, b: string): number {
  const x = a.split(".").map(Number);
  const y = b.split(".").map(Number);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = (x[i] as number) - (y[i] as number);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** The check modules (file and section), in evaluation order (by `orderAs`, else by SDM number). */
export const CHECK_MODULES: readonly { readonly file: string; readonly section: Section }[] = [
  ...MODULES,
].sort((a, b) => compareSections(a.section.orderAs ?? a.section.sdm, b.section.orderAs ?? b.section.sdm));

/** The sections in evaluation order. */
export const SECTIONS: readonly Section[] = CHECK_MODULES.map((m) => m.section);

const CLASS_ORDER = { basic: 0, control: 1, host: 2, guest: 3, "msr-load": 4 } as const;

/** All checks in evaluation order: by class (SDM order of classes), then by section order. */
export const CHECKS: readonly Check[] = SECTIONS.flatMap((s) => s.checks)
  .map((c, i) => ({ c, i }))
  .sort((a, b) => CLASS_ORDER[a.c.cls] - CLASS_ORDER[b.c.cls] || a.i - b.i)
  .map((x) => x.c);

const byId = new Map(CHECKS.map((c) => [c.id, c]));

/** The check with this id (`guest.cs.l-and-d`; docs/checks.md lists them all), or undefined. */
export function checkById(id: string): Check | undefined {
  return byId.get(id);
}
