/**
 * The nested model's configuration as users set it (`nvmx nested` options, the library's NestedConfig): what
 * each kernel accepts, how the dry-run parameter reads, and the sizes --l1-ram takes.
 */
import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import {
  DEFAULT_CONFIG,
  describeParameter,
  type NestedConfig,
  parseSize,
  validateConfig,
} from "../../src/nested/config.js";
import type { KernelId } from "../../src/nested/kernel.js";
import { kernelPreset } from "../../src/nested/kernels/index.js";

const cfg = (kernel: KernelId, c: Partial<NestedConfig> = {}): NestedConfig => ({
  ...DEFAULT_CONFIG,
  ...c,
  kernel,
});

/** The InputError a configuration is refused with (fails the test when it is accepted or throws otherwise). */
function refusal(c: NestedConfig): InputError {
  try {
    validateConfig(c);
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return e as InputError;
  }
  throw new Error(`accepted: ${JSON.stringify(c)}`);
}

describe("validateConfig: what each kernel accepts", () => {
  it("returns the chosen kernel's preset", () => {
    for (const k of ["v5.0", "v6.6", "v6.18", "v6.19"] as const)
      expect(validateConfig(cfg(k))).toBe(kernelPreset(k));
  });

  // nested_early_check was removed by "KVM: nVMX: Remove support for "early" consistency checks via hardware"
  // (in v6.19; v6.18 arch/x86/kvm/vmx/nested.c still has the module parameter): v6.19 refuses both forms,
  // each naming the option the user gave.
  it("v6.19 refuses the dry-run parameter in either form, naming the option the user gave", () => {
    const merged = refusal(cfg("v6.19", { earlyCheck: { form: "merged", nestedEarlyCheck: false } }));
    expect(merged.location).toBe("--nested-early-check");
    expect(merged.reason).toBe(
      'v6.19 has no dry-run parameter: nested_early_check was removed ("KVM: nVMX: Remove support for \\"early\\" consistency checks via hardware", 2025); choose a kernel up to v6.18, or use --warn-on-missed-cc',
    );
    const described = refusal(
      cfg("v6.19", { earlyCheck: { form: "described", earlyConsistencyChecks: -1 } }),
    );
    expect(described.location).toBe("--early-consistency-checks");
    for (const k of ["v5.0", "v6.6", "v6.18"] as const)
      expect(validateConfig(cfg(k, { earlyCheck: { form: "merged", nestedEarlyCheck: true } })).id).toBe(k);
  });

  it("warn_on_missed_cc is v6.19's alone: refused by the others even when N", () => {
    for (const k of ["v5.0", "v6.6", "v6.18"] as const) {
      const e = refusal(cfg(k, { warnOnMissedCc: false }));
      expect(e.location).toBe("--warn-on-missed-cc");
      expect(e.reason).toBe(`${k} has no warn_on_missed_cc (it arrived with v6.19)`);
    }
    expect(validateConfig(cfg("v6.19", { warnOnMissedCc: true })).id).toBe("v6.19");
    expect(validateConfig(cfg("v6.19", { warnOnMissedCc: false })).id).toBe("v6.19");
  });

  it("L1's RAM: at least 1 MiB, a finite number of bytes", () => {
    expect(validateConfig(cfg("v6.19", { l1RamBytes: 2 ** 20 })).id).toBe("v6.19");
    for (const bad of [2 ** 20 - 1, 0, -(2 ** 30), Number.NaN, Number.POSITIVE_INFINITY]) {
      const e = refusal(cfg("v6.19", { l1RamBytes: bad }));
      expect(e.location).toBe("--l1-ram");
      expect(e.reason).toBe(`L1's RAM must be at least 1 MiB, got ${bad}`);
    }
  });
});

describe("describeParameter: the dry-run parameter as the report prints it", () => {
  it("v6.19 has warn_on_missed_cc and no dry run", () => {
    const p = kernelPreset("v6.19");
    expect(describeParameter(cfg("v6.19"), p)).toBe("warn_on_missed_cc=N (no dry run)");
    expect(describeParameter(cfg("v6.19", { warnOnMissedCc: true }), p)).toBe(
      "warn_on_missed_cc=Y (no dry run)",
    );
  });
  it("up to v6.18: nested_early_check as merged (default N), or the form the commit message describes", () => {
    const p = kernelPreset("v6.18");
    expect(describeParameter(cfg("v6.18"), p)).toBe("nested_early_check=N (as merged)");
    expect(
      describeParameter(cfg("v6.18", { earlyCheck: { form: "merged", nestedEarlyCheck: true } }), p),
    ).toBe("nested_early_check=Y (as merged)");
    expect(
      describeParameter(cfg("v6.18", { earlyCheck: { form: "described", earlyConsistencyChecks: 0 } }), p),
    ).toBe("early_consistency_checks=0 (as described in the commit message)");
    expect(
      describeParameter(
        cfg("v6.18", {
          earlyCheck: { form: "described", earlyConsistencyChecks: -1, skipWhenComplete: true },
        }),
        p,
      ),
    ).toBe(
      "early_consistency_checks=-1 + skip-when-complete (proposal) (as described in the commit message)",
    );
  });
});

describe("parseSize: --l1-ram values", () => {
  it.each([
    ["16G", 16 * 2 ** 30],
    ["512M", 512 * 2 ** 20],
    ["4GiB", 4 * 2 ** 30],
    ["4gb", 4 * 2 ** 30],
    ["64 KiB", 64 * 2 ** 10],
    ["1k", 1024],
    ["2T", 2 * 2 ** 40],
    ["1.5G", 1.5 * 2 ** 30],
    ["0.25k", 256],
    ["0.3k", 307], // rounded to a whole byte
    ["4096", 4096],
    ["4096B", 4096],
    ["  8M  ", 8 * 2 ** 20],
  ])("%s = %d bytes", (s, n) => {
    expect(parseSize(s)).toBe(n);
  });
  it.each(["", "G", "16X", "-1G", "1e9", "16 G extra", "x16G", "16GiBs", "1.G"])("%j is not a size", (s) => {
    expect(parseSize(s)).toBeUndefined();
  });
});
