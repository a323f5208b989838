/** The kernel presets, oldest first, and lookup by name. */
import { InputError } from "../../errors.js";
import { KERNEL_IDS, type KernelId, type KernelPreset } from "../kernel.js";
import { V5_0 } from "./v5.0.js";
import { V6_6 } from "./v6.6.js";
import { V6_18 } from "./v6.18.js";
import { V6_19 } from "./v6.19.js";

/** Every kernel preset, oldest first. */
export const KERNELS: readonly KernelPreset[] = [V5_0, V6_6, V6_18, V6_19];

/** The newest preset: the default of every command and API. */
export const NEWEST_KERNEL: KernelPreset = KERNELS[KERNELS.length - 1]!;

/** The preset of a kernel name ("v6.19", "6.19" or "v6.19.0" all name it); InputError listing the names otherwise. */
export function kernelPreset(name: string): KernelPreset {
  const m = /^v?(\d+\.\d+)(?:\.0)?$/.exec(name.trim());
  const id = m ? `v${m[1]}` : name;
  const k = KERNELS.find((p) => p.id === id);
  if (!k)
    throw new InputError(`unknown kernel "${name}" (presets: ${KERNEL_IDS.join(", ")})`, {
      location: "--kernel",
    });
  return k;
}

/** Type guard for kernel ids. */
export function isKernelId(s: string): s is KernelId {
  return (KERNEL_IDS as readonly string[]).includes(s);
}
