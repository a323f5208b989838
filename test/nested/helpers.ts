/** Shared set-up of the nested-model tests: a host, a kernel's L1 profile, a valid vmcs12 and runs. */
import { builtinProfile } from "../../src/cpu/builtin.js";
import type { Caps } from "../../src/cpu/profile.js";
import type { Entry } from "../../src/entry/document.js";
import { baseEntry } from "../../src/gen/base.js";
import { ALL_RAM, DEFAULT_CONFIG, type NestedConfig } from "../../src/nested/config.js";
import type { KernelId } from "../../src/nested/kernel.js";
import { kernelPreset } from "../../src/nested/kernels/index.js";
import { type NestedResult, runNested } from "../../src/nested/l0.js";
import { l1Profile } from "../../src/nested/l1.js";

export const host = builtinProfile("sapphirerapids");

export function l1Of(kernel: KernelId, h: Caps = host): Caps {
  return l1Profile(kernelPreset(kernel), h);
}

/** The valid 64-bit base state on the kernel's L1 profile, edited. */
export function vmcs12(kernel: KernelId, edit?: (e: Entry) => void, h: Caps = host): Entry {
  const e = baseEntry(l1Of(kernel, h));
  edit?.(e);
  return e;
}

/** Run with the kernel's defaults (all of L1's guest-physical space backed unless `c` says otherwise). */
export function run(kernel: KernelId, e: Entry, c: Partial<NestedConfig> = {}, h: Caps = host): NestedResult {
  return runNested({ vmcs12: e, host: h }, { ...DEFAULT_CONFIG, l1RamBytes: ALL_RAM, ...c, kernel });
}
