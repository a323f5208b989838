/**
 * From a `kvm_nested_vmenter_failed` line back to the kernel check and the nvmx rules it enforces, derived
 * from the kernel presets' tables (each entry records its CC() text as that release spells it).
 */
import type { KernelCheck, KernelId } from "./kernel.js";
import { KERNELS } from "./kernels/index.js";

/** A kernel check whose CC() text matches a tracepoint message. */
export interface TracepointMatch {
  kernel: KernelId;
  check: KernelCheck;
}

const norm = (s: string): string => s.replace(/\s+/g, " ").trim();

let index: Map<string, TracepointMatch[]> | undefined;

/** CC() text (whitespace collapsed) → the checks that print it, newest kernel first. */
export function kernelTracepointIndex(): ReadonlyMap<string, readonly TracepointMatch[]> {
  if (index) return index;
  index = new Map();
  for (const k of [...KERNELS].reverse())
    for (const c of k.checks) {
      if (!c.cc) continue;
      const key = norm(c.cc);
      const list = index.get(key) ?? [];
      list.push({ kernel: k.id, check: c });
      index.set(key, list);
    }
  return index;
}
