/** The nested VM-entry model (issue 5): L0 emulating L1's VMLAUNCH/VMRESUME. */
import { builtinProfile } from "../cpu/builtin.js";
import { countFailures } from "../entry/evaluate.js";
import { contextOf } from "../entry/run.js";
import { baseEntry } from "../gen/base.js";
import { DEFAULT_CONFIG } from "./config.js";
import { runNested, softwareCheckSet } from "./l0.js";

export * from "./compare.js";
export * from "./config.js";
export * from "./kvm-preset.js";
export * from "./l0.js";
export * from "./merge.js";

/** Benchmark cases for bench/run.js: L0's software checks and the full nested path on a valid vmcs12. */
export function benchCases(): [string, () => unknown][] {
  const l1 = builtinProfile("kvm-nested");
  const host = builtinProfile("sapphirerapids");
  const e = baseEntry(l1);
  const ctx = contextOf(e);
  const full = softwareCheckSet("full").vmfail;
  const kvm = softwareCheckSet("kvm").vmfail;
  return [
    // The cost docs/nested.md compares with the hardware dry run: L0's software VMFail checks on vmcs12.
    [`software VMFail checks, full (${full.length}), valid vmcs12`, () => countFailures(ctx, full)],
    [`software VMFail checks, kvm (${kvm.length}), valid vmcs12`, () => countFailures(ctx, kvm)],
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
