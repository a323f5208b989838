/** Test helpers: profiles, the valid base state, patches and the check-vector runner. */
import { readFileSync } from "node:fs";
import { resolveFieldKey } from "../src/arch/fields.js";
import { builtinData } from "../src/cpu/builtin.js";
import { type Caps, decodeProfile, type ProfileData } from "../src/cpu/profile.js";
import type { Entry } from "../src/entry/document.js";
import type { EntryResult } from "../src/entry/evaluate.js";
import type { ProcessorState } from "../src/entry/processor.js";
import { runEntry } from "../src/entry/run.js";
import { baseEntry } from "../src/gen/base.js";

export const ALL_PROFILE_DATA: ProfileData = JSON.parse(
  readFileSync(new URL("./fixtures/profile-all.json", import.meta.url), "utf8"),
);

/** The synthetic profile that supports everything (so every check can apply). */
export function profileAll(edit?: (d: ProfileData) => void): Caps {
  const d: ProfileData = structuredClone(ALL_PROFILE_DATA);
  edit?.(d);
  return decodeProfile(d);
}

export function profile(name: string, edit?: (d: ProfileData) => void): Caps {
  const base = builtinData(name);
  if (!base) throw new Error(`no built-in profile ${name}`);
  const d = structuredClone(base);
  edit?.(d);
  return decodeProfile(d);
}

export interface Patch {
  /** field name (or hex encoding) → value; a function receives the current value. */
  vmcs?: Record<string, bigint | number | ((old: bigint) => bigint)>;
  processor?: Partial<ProcessorState>;
  /** physical address → 64-bit word */
  memory?: Record<number, bigint>;
}

export function applyPatch(e: Entry, p: Patch | undefined): Entry {
  if (!p) return e;
  for (const [k, val] of Object.entries(p.vmcs ?? {})) {
    const r = resolveFieldKey(k);
    if (!r) throw new Error(`test patch names unknown field ${k}`);
    const old = e.vmcs.get(r.field.index);
    e.vmcs.set(r.field.index, typeof val === "function" ? val(old) : BigInt(val));
  }
  Object.assign(e.processor, p.processor ?? {});
  for (const [a, w] of Object.entries(p.memory ?? {})) e.memory.write64(Number(a), w);
  return e;
}

/** The base state on a profile with a patch applied. */
export function state(caps: Caps, ...patches: (Patch | undefined)[]): Entry {
  let e = baseEntry(caps);
  for (const p of patches) e = applyPatch(e, p);
  return e;
}

export function run(caps: Caps, ...patches: (Patch | undefined)[]): EntryResult {
  return runEntry(state(caps, ...patches));
}

export function ids(r: EntryResult): string[] {
  return r.violations.map((v) => v.id);
}

/**
 * One data-driven case per check: `pass` makes the check apply and hold on the base state; `fail` makes it
 * (and only it, plus `alsoFails`) fail.
 */
export interface CheckCase {
  id: string;
  /** what the case shows, for the test name */
  name?: string;
  /** profile: default the synthetic all-features profile; a function edits its data */
  cpu?: string | ((d: ProfileData) => void);
  /** applied before pass/fail */
  setup?: Patch;
  pass?: Patch;
  fail: Patch;
  alsoFails?: string[];
  /** expected outcome of the fail state, when worth pinning */
  outcome?: EntryResult["outcome"];
}

export function capsOf(c: CheckCase): Caps {
  if (typeof c.cpu === "string") return profile(c.cpu);
  return profileAll(c.cpu);
}
