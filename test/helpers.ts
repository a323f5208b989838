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

/**
 * A VM entry that returns from SMM under the dual-monitor treatment (SDM 34.15.4.2): executive VMCS at 0x40000,
 * VMXON region at 0x30000, both holding revision 4 (the test profiles'). No 29.2.1.1 check applies then.
 */
export const SMM_RETURN = {
  processor: {
    inSmm: true,
    dualMonitorActive: true,
    vmxonPointer: 0x30000,
    executiveVmcsLaunchState: "launched",
  },
  vmcs: { EXECUTIVE_VMCS_POINTER: 0x40000 },
  memory: { 262144: 4n, 196608: 4n },
} as const satisfies Patch;
/** The same, returning to VMX root operation: the executive-VMCS pointer is the VMXON pointer. */
export const SMM_RETURN_ROOT = {
  ...SMM_RETURN,
  processor: { ...SMM_RETURN.processor, vmxonPointer: 0x40000 },
} as const satisfies Patch;

/** Where {@link msrLoadList} puts the VM-entry MSR-load list. */
export const MSR_LOAD_AREA = 0x20000;

/** A VM-entry MSR-load list of [index, value] entries at MSR_LOAD_AREA, as a patch. */
export function msrLoadList(...entries: [number, bigint][]): Patch {
  const memory: Record<number, bigint> = {};
  entries.forEach(([index, value], i) => {
    memory[MSR_LOAD_AREA + 16 * i] = BigInt(index);
    memory[MSR_LOAD_AREA + 16 * i + 8] = value;
  });
  return { vmcs: { VM_ENTRY_MSR_LOAD_ADDR: MSR_LOAD_AREA, VM_ENTRY_MSR_LOAD_COUNT: entries.length }, memory };
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
 * One data-driven case of a check. `fail` makes the check apply and fail (alone, plus `alsoFails`); `pass` makes
 * it apply and hold (nothing fails); `inapplicable` makes it not apply at all (nothing fails either). Without
 * `pass` the setup alone is the passing state, unless the case shows inapplicability instead.
 */
export interface CheckCase {
  id: string;
  /** what the case shows, for the test name */
  name?: string;
  /** profile: default the synthetic all-features profile; a function edits its data */
  cpu?: string | ((d: ProfileData) => void);
  /** applied before pass/fail/inapplicable */
  setup?: Patch;
  pass?: Patch;
  /** a state where the check does not apply (its `when`, group gate included, is false) */
  inapplicable?: Patch;
  /** absent in a case that only shows a passing state (e.g. on another CPU) */
  fail?: Patch;
  alsoFails?: string[];
  /** expected outcome of the fail state, when worth pinning */
  outcome?: EntryResult["outcome"];
}

/** Vectors by check module (the file name under src/checks without `.ts`): one table per module. */
export type VectorTables = Readonly<Record<string, readonly CheckCase[]>>;

export function capsOf(c: CheckCase): Caps {
  if (typeof c.cpu === "string") return profile(c.cpu);
  return profileAll(c.cpu);
}

/**
 * Cases for a property test: `n` normally; under mutation testing (NVMX_MUTATION=1, set by scripts/mutation.mjs)
 * a tenth (at least 20), since every mutant a property test covers reruns it.
 */
export function runs(n: number): number {
  return process.env["NVMX_MUTATION"] === "1" ? Math.max(20, Math.ceil(n / 10)) : n;
}
