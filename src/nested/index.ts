/** The nested VM-entry model (issue 5): L0 emulating L1's VMLAUNCH/VMRESUME. */
import { builtinProfile } from "../cpu/builtin.js";
import { baseEntry } from "../gen/base.js";
import { DEFAULT_CONFIG } from "./config.js";
import { runNested } from "./l0.js";

export * from "./compare.js";
export * from "./config.js";
export * from "./kvm-preset.js";
export * from "./l0.js";
export * from "./merge.js";

/** Benchmark cases for bench/run.js: the full nested path on a valid vmcs12. */
export function benchCases(): [string, () => unknown][] {
  const l1 = builtinProfile("kvm-nested");
  const host = builtinProfile("sapphirerapids");
  const e = baseEntry(l1);
  return [
    [
      "valid vmcs12, kvm checks, dry run",
      () => runNested({ vmcs12: e, hostCaps: host }, { ...DEFAULT_CONFIG, earlyChecks: 1 }),
    ],
    [
      "valid vmcs12, full checks, no dry run",
      () =>
        runNested(
          { vmcs12: e, hostCaps: host },
          { ...DEFAULT_CONFIG, earlyChecks: 0, softwareChecks: "full" },
        ),
    ],
  ];
}
