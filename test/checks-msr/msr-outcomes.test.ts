/**
 * Issue 20: MSR-value rules judged on CPU facts. The skylake profile is the i7-6700K of the VirtualBox CPU
 * database, whose IA32_PERF_GLOBAL_CTRL accepts only bits 3:0 and 34:32 with Hyper-Threading on (write-#GP
 * mask 0xfffffff8fffffff0); bits 35 (fixed counter 3) and 48 (PERF_METRICS) do not exist on it.
 */
import { describe, expect, it } from "vitest";
import { ENTRY, EXIT } from "../../src/arch/controls.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import type { EntryResult } from "../../src/entry/evaluate.js";
import { humanReport } from "../../src/report.js";
import { msrLoadList, type Patch, profile, run, state } from "../helpers.js";

const sky = builtinProfile("skylake");
const EXIT_AREA = 0x21000;
const or =
  (bits: number) =>
  (old: bigint): bigint =>
    old | BigInt(bits);

const msrs = msrLoadList;

const STAR: [number, bigint] = [0xc0000081, 0x0023001000000000n];
const LSTAR: [number, bigint] = [0xc0000082, 0xffffffff81a00000n];
const guestPerf = (v: bigint): Patch => ({
  vmcs: { VM_ENTRY_CONTROLS: or(ENTRY.LOAD_PERF_GLOBAL_CTRL), GUEST_IA32_PERF_GLOBAL_CTRL: v },
});
const hostPerf = (v: bigint): Patch => ({
  vmcs: { VM_EXIT_CONTROLS: or(EXIT.LOAD_PERF_GLOBAL_CTRL), HOST_IA32_PERF_GLOBAL_CTRL: v },
});
const ids = (r: EntryResult) => r.violations.map((v) => v.id);
const x34 = (q: number) => ({ type: "vmexit", reason: 34, qualification: q });

describe("skylake (i7-6700K): IA32_PERF_GLOBAL_CTRL from CPUID.0AH and IA32_PERF_CAPABILITIES", () => {
  it("guest field with bit 35 or 48 and 'load IA32_PERF_GLOBAL_CTRL' → exit 33", () => {
    for (const bit of [35n, 48n]) {
      const r = run(sky, guestPerf((1n << bit) | 0xfn));
      expect(r.outcome).toEqual({ type: "vmexit", reason: 33, qualification: 0 });
      expect(ids(r)).toEqual(["guest.perf-global-ctrl.reserved-bits"]);
      expect(r.violations[0]!.message).toContain(`bit ${bit}`);
    }
  });

  it("host field with bit 35 and the exit control → VMfail 8", () => {
    const r = run(sky, hostPerf((1n << 35n) | 0x70000000fn));
    expect(r.outcome).toEqual({ type: "vmfail-valid", error: 8 });
    expect(ids(r)).toEqual(["host.perf-global-ctrl.reserved-bits"]);
  });

  it("VM-entry MSR-load entry {38FH, bit 35} → exit 34 at its index", () => {
    const r = run(sky, msrs(STAR, [0x38f, 1n << 35n]));
    expect(r.outcome).toEqual(x34(2));
    expect(ids(r)).toEqual(["msr-load.value-reserved-bits"]);
  });

  it("the counters of the dump (4 general-purpose, 3 fixed) enter without any possible finding", () => {
    const r = run(sky, guestPerf(0x70000000fn), hostPerf(0x70000000fn), msrs([0x38f, 0x70000000fn]));
    expect(r).toEqual({ outcome: { type: "entered" }, violations: [] });
  });

  it("general-purpose counters 4–7 exist only with Hyper-Threading off: a possible exit 33, not a definite one", () => {
    const r = run(sky, guestPerf(0x10n));
    expect(r.outcome).toEqual({ type: "entered" });
    expect(r.violations).toEqual([]);
    expect(r.possibleOutcomes).toEqual([
      { type: "entered" },
      { type: "vmexit", reason: 33, qualification: 0 },
    ]);
    expect(r.possible).toHaveLength(1);
    const p = r.possible![0]!;
    expect(p.why).toBe("cpu-fact");
    expect(p.dependsOn).toEqual(["cpuid.0xa"]);
    expect(p.condition).toMatch(/^if Hyper-Threading is on/);
    expect(p.violations.map((v) => v.id)).toEqual(["guest.perf-global-ctrl.reserved-bits"]);
  });

  it("a check that fails definitely adds no possible finding for the same rule", () => {
    const r = run(sky, guestPerf((1n << 35n) | 0x10n));
    expect(ids(r)).toEqual(["guest.perf-global-ctrl.reserved-bits"]);
    expect(r.possibleOutcomes).toBeUndefined();
    expect(r.possible).toBeUndefined();
  });
});

describe("MSRs in the VM-entry MSR-load list", () => {
  it("IA32_BIOS_UPDT_TRIG (79H) and IA32_BIOS_SIGN_ID (8BH): a possible exit 34 at the entry's index (SDM Vol. 4 Table 2-2)", () => {
    for (const msr of [0x79, 0x8b]) {
      const r = run(sky, msrs(STAR, LSTAR, [msr, 0n]));
      expect(r.outcome).toEqual({ type: "entered" });
      expect(r.possibleOutcomes).toEqual([{ type: "entered" }, x34(3)]);
      const p = r.possible!.find((q) => q.dependsOn.includes(`msr-refusable.0x${msr.toString(16)}`));
      expect(p?.outcome).toEqual(x34(3));
      expect(p?.condition).toMatch(/refuses to load/);
      expect(p?.violations.map((v) => v.id)).toEqual(["msr-load.unavailable-msr"]);
    }
  });

  it("an MSR the profile does not know (0x1FF): a possible exit 34 naming its index", () => {
    const r = run(sky, msrs(STAR, [0x1ff, 0n]));
    expect(r.outcome).toEqual({ type: "entered" });
    expect(r.possible).toHaveLength(1);
    const p = r.possible![0]!;
    expect(p).toMatchObject({ why: "cpu-fact", dependsOn: ["msr-exists.0x1ff"], outcome: x34(2) });
    expect(p.condition).toContain("0x1ff");
    expect(p.violations[0]!.message).toContain("MSR index 0x1ff");
  });

  it("two uncertain MSRs are two possible outcomes; an earlier definite failure hides later ones", () => {
    const two = run(sky, msrs([0x1ff, 0n], STAR, [0x79, 0n]));
    expect(two.possibleOutcomes).toEqual([{ type: "entered" }, x34(1), x34(3)]);
    // entry 1 fails for sure (read-only IA32_MCG_CAP): nothing after it is processed
    const hidden = run(sky, msrs([0x179, 0n], [0x1ff, 0n]));
    expect(hidden.outcome).toEqual(x34(1));
    expect(ids(hidden)).toEqual(["msr-load.unavailable-msr"]);
    expect(hidden.possible).toBeUndefined();
  });

  it("architectural MSRs follow CPUID: STAR/LSTAR/TSC_AUX definite, S_CET absent on skylake (CPUID.(7,0) lacks CET)", () => {
    expect(run(sky, msrs(STAR, LSTAR, [0xc0000103, 1n]))).toEqual({
      outcome: { type: "entered" },
      violations: [],
    });
    const r = run(sky, msrs(STAR, [0x6a2, 0n]));
    expect(r.outcome).toEqual(x34(2));
    expect(r.violations[0]!.message).toMatch(/IA32_S_CET.*does not exist/);
  });

  it("a model-specific MSR the source lists (LER_FROM_LIP 1DDH on skylake): possible, for its value is not profile data", () => {
    const r = run(sky, msrs([0x1dd, 0n]));
    expect(r.possible?.[0]).toMatchObject({ dependsOn: ["msr-values.0x1dd"], outcome: x34(1) });
  });

  it("without CPUID facts, an architectural MSR whose feature the flags do not name is possible, never definite", () => {
    const noSep = profile("kvm-nested", (d) => {
      d.flags = d.flags?.filter((f) => f !== "sep");
    });
    const r = run(noSep, msrs([0x175, 0xffffffff81000000n]));
    expect(r.violations).toEqual([]);
    expect(r.possible?.[0]?.condition).toMatch(/IA32_SYSENTER_ESP/);
  });
});

describe("the VM-exit MSR-load list is not an entry outcome", () => {
  const exitList = (...entries: [number, bigint][]): Patch => {
    const memory: Record<number, bigint> = {};
    entries.forEach(([index, value], i) => {
      memory[EXIT_AREA + 16 * i] = BigInt(index);
      memory[EXIT_AREA + 16 * i + 8] = value;
    });
    return { vmcs: { VM_EXIT_MSR_LOAD_ADDR: EXIT_AREA, VM_EXIT_MSR_LOAD_COUNT: entries.length }, memory };
  };

  it("a bad entry is a warning (VMX abort at the next VM exit), and the entry succeeds", () => {
    const r = run(sky, exitList(STAR, [0x38f, 1n << 48n]));
    expect(r.outcome).toEqual({ type: "entered" });
    expect(r.violations).toEqual([]);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings![0]).toMatchObject({ id: "exit-msr-load.value-reserved-bits", sdm: "28.6" });
    expect(r.warnings![0]!.message).toMatch(/^VM-exit MSR-load entry 2 of 2 .*VMX abort \(indicator 4/);
  });

  it("people see the warning under the result", () => {
    const p = exitList(STAR, [0x38f, 1n << 48n]);
    const text = humanReport("x.json", state(sky, p), run(sky, p));
    expect(text.split("\n")[0]).toBe("x.json (cpu skylake): VM entry succeeds");
    expect(text).toMatch(
      /\n {2}warning: exit-msr-load\.value-reserved-bits \(SDM 28\.6\): VM-exit MSR-load entry 2 of 2/,
    );
  });

  it("every rule on the entry alone applies to it, worded for either list; the EFER.LME rule (guest state) does not", () => {
    const warn = (e: [number, bigint]) => run(sky, exitList(e)).warnings?.map((w) => [w.id, w.message]);
    const cases: [number, bigint, string][] = [
      [0xc0000100, 0n, "fs-gs-base"],
      [0x808, 0n, "x2apic-msr"],
      [0x9b, 0n, "smm-only-msr"],
      [0x9e, 0n, "smbase-read-only"],
      [0x10a, 0n, "unavailable-msr"],
      [0x277, 0x0007040600070402n, "pat-memory-type"],
      [0xc0000082, 0x800000000000n, "non-canonical-address"],
    ];
    for (const [index, value, id] of cases) {
      const w = warn([index, value]);
      expect(w?.map(([i]) => i)).toEqual([`exit-msr-load.${id}`]);
      expect(w?.[0]?.[1]).not.toMatch(/VM entry|exit reason 34/);
    }
    // A reserved bit 63:32 of the entry itself.
    const reserved = exitList([0xc0000081, 0n]);
    (reserved.memory as Record<number, bigint>)[EXIT_AREA + 4] = 1n;
    expect(run(sky, reserved).warnings?.map((w) => w.id)).toEqual(["exit-msr-load.reserved-bits"]);
    // EFER with LME flipped while the guest pages: a VM-entry failure in the entry list, nothing in the exit list.
    expect(run(sky, exitList([0xc0000080, 0x0n])).warnings).toBeUndefined();
    expect(ids(run(sky, msrs([0xc0000080, 0x0n])))).toEqual(["msr-load.efer-lme-with-paging"]);
  });

  it("an uncertain entry is a conditional warning; a good list gives none", () => {
    const r = run(sky, exitList([0x1ff, 0n]));
    expect(r.warnings?.[0]?.message).toMatch(/on some CPUs this profile stands for/);
    expect(run(sky, exitList(STAR, LSTAR)).warnings).toBeUndefined();
  });
});
