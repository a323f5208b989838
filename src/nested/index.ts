/**
 * The nested VM-entry model: L0 (Linux KVM, as one named release does it) emulating L1's VMLAUNCH/VMRESUME
 * on vmcs12. Configure it with a kernel preset (src/nested/kernels), run one vmcs12 with `runNested`, a corpus
 * under every configuration with `compareCorpus`, or look for rules a kernel lets through with `findGaps`.
 */

import { CHECKS, checkById } from "../checks/registry.js";
import { Ctx } from "../checks/types.js";
import { builtinProfile } from "../cpu/builtin.js";
import { countFailures } from "../entry/evaluate.js";
import { DEFAULT_CONFIG } from "./config.js";
import { validCorpus } from "./corpus.js";
import { NEWEST_KERNEL } from "./kernels/index.js";
import { kernelRules, runNested } from "./l0.js";
import { l1Profile } from "./l1.js";

export * from "./compare.js";
export * from "./config.js";
export * from "./corpus.js";
export * from "./kernel.js";
export type { MergeDivergenceId } from "./kernels/divergences.js";
export { isKernelId, KERNELS, kernelPreset, NEWEST_KERNEL } from "./kernels/index.js";
export * from "./l0.js";
export * from "./l1.js";
export {
  buildVmcs02,
  dryRunVmcs,
  GUEST_STATE_FIELDS,
  type GuestSource,
  guestFieldSource,
  type MergeEffect,
  type MergeInput,
  POSTED_INTR_NESTED_VECTOR,
  type Vmcs02,
  vmcs01For,
} from "./merge.js";
export { type BlobVmcs12, vmcs12FromNestedState } from "./state.js";
export { kernelTracepointIndex, type TracepointMatch } from "./tracepoint.js";

/** Benchmark cases for bench/run.js: L0's software checks and the full nested path on a valid vmcs12. */
export function benchCases(): [string, () => unknown][] {
  const host = builtinProfile("sapphirerapids");
  const preset = NEWEST_KERNEL;
  const l1 = l1Profile(preset, host);
  const e = validCorpus(l1, 1)[0]!;
  const ctx = new Ctx(e.vmcs, l1, e.processor, e.memory);
  const full = CHECKS.filter((c) => c.cls === "control" || c.cls === "host");
  const kernelIds = new Set(kernelRules(preset).keys());
  const kernel = full.filter((c) => kernelIds.has(c.id));
  void checkById;
  return [
    [`software VMFail checks, full (${full.length}), valid vmcs12`, () => countFailures(ctx, full)],
    [
      `software VMFail checks, ${preset.id} (${kernel.length}), valid vmcs12`,
      () => countFailures(ctx, kernel),
    ],
    [
      `valid vmcs12, ${preset.id}, kernel checks`,
      () => runNested({ vmcs12: e, host, l1 }, { ...DEFAULT_CONFIG }),
    ],
    [
      "valid vmcs12, v6.18, nested_early_check=Y (dry run)",
      () =>
        runNested(
          { vmcs12: e, host },
          { ...DEFAULT_CONFIG, kernel: "v6.18", earlyCheck: { form: "merged", nestedEarlyCheck: true } },
        ),
    ],
  ];
}
