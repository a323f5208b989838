/** The nested VM-entry model (issue 5): each step, the parameter, the dry run and its restore, MSR loads. */
import { describe, expect, it } from "vitest";
import { F } from "../src/arch/fields.js";
import { builtinProfile } from "../src/cpu/builtin.js";
import type { Entry } from "../src/entry/document.js";
import { baseEntry } from "../src/gen/base.js";
import { compareCorpus, findGaps } from "../src/nested/compare.js";
import { DEFAULT_CONFIG, type NestedConfig } from "../src/nested/config.js";
import { kvmCheckIds } from "../src/nested/kvm-preset.js";
import { runNested } from "../src/nested/l0.js";

const l1 = builtinProfile("kvm-nested");
const host = builtinProfile("sapphirerapids");
const cfg = (c: Partial<NestedConfig>): NestedConfig => ({ ...DEFAULT_CONFIG, ...c });
function vmcs12(edit?: (e: Entry) => void): Entry {
  const e = baseEntry(l1);
  edit?.(e);
  return e;
}
const run = (e: Entry, c: Partial<NestedConfig>) => runNested({ vmcs12: e, hostCaps: host }, cfg(c));

/**
 * A control error the merged vmcs02 still carries: an injected event of reserved type 1 (SDM 29.2.1.3).
 * (Not every control error survives the merge: e.g. NMI-window exiting without virtual NMIs in vmcs12 is
 * hidden because L0's own pin-based controls add virtual NMIs to vmcs02.)
 */
const ctlBad = () => vmcs12((e) => e.vmcs.set(F.VM_ENTRY_INTR_INFO_FIELD, 0x80000120n));
/** An error in an L0-owned field: VPID 0 with "enable VPID" (vmcs02 uses L0's vpid02). */
const vpidZero = () => vmcs12((e) => e.vmcs.set(F.VIRTUAL_PROCESSOR_ID, 0n));
/** A host-state error (vmcs02's host state is L0's). */
const hostBad = () => vmcs12((e) => e.vmcs.set(F.HOST_TR_SELECTOR, 0n));
/** A guest-state error KVM leaves to hardware: RFLAGS reserved bit 3. */
const rflagsBad = () => vmcs12((e) => e.vmcs.set(F.GUEST_RFLAGS, 0xan));
/** Two MSR-load entries: IA32_SYSENTER_CS (fine), then IA32_FS_BASE (not loadable, SDM 29.4). */
function withMsrLoads(e: Entry, second = 0xc0000100): Entry {
  e.vmcs.set(F.VM_ENTRY_MSR_LOAD_COUNT, 2n);
  e.vmcs.set(F.VM_ENTRY_MSR_LOAD_ADDR, 0x40000n);
  e.memory.write64(0x40000, 0x174n);
  e.memory.write64(0x40008, 0x10n);
  e.memory.write64(0x40010, BigInt(second));
  e.memory.write64(0x40018, 0n);
  return e;
}

describe("the early_consistency_checks parameter", () => {
  it("1 always runs the dry run, 0 never", () => {
    expect(run(vmcs12(), { earlyChecks: 1 }).dryRun.performed).toBe(true);
    expect(run(vmcs12(), { earlyChecks: 0 }).dryRun.performed).toBe(false);
  });
  it("-1 (auto) runs it only on bare metal, and not when the software checks are complete", () => {
    expect(
      run(vmcs12(), { earlyChecks: -1, hypervisor: false, softwareChecks: "kvm" }).dryRun.performed,
    ).toBe(true);
    expect(run(vmcs12(), { earlyChecks: -1, hypervisor: true, softwareChecks: "kvm" }).dryRun.performed).toBe(
      false,
    );
    expect(
      run(vmcs12(), { earlyChecks: -1, hypervisor: false, softwareChecks: "full" }).dryRun.performed,
    ).toBe(false);
  });
  it("auto follows the host profile's hypervisor flag when not overridden", () => {
    const r = runNested(
      { vmcs12: vmcs12(), hostCaps: builtinProfile("hyperv-nested") },
      cfg({ earlyChecks: -1 }),
    );
    expect(r.dryRun.performed).toBe(false);
    expect(r.dryRun.why).toMatch(/hypervisor/);
  });
});

describe("where each kind of error is caught", () => {
  it("a valid vmcs12 enters under every configuration", () => {
    for (const earlyChecks of [1, 0, -1] as const)
      for (const softwareChecks of ["full", "kvm", "none"] as const)
        expect(run(vmcs12(), { earlyChecks, softwareChecks }).detection).toBe("entered");
  });
  it("a control error: software checks catch it early; else the dry run does; else the real entry (late)", () => {
    expect(run(ctlBad(), { softwareChecks: "kvm", earlyChecks: 0 })).toMatchObject({
      detection: "early",
      detectedBy: "software",
      toL1: { type: "vmfail-valid", error: 7 },
    });
    expect(run(ctlBad(), { softwareChecks: "none", earlyChecks: 1 })).toMatchObject({
      detection: "early",
      detectedBy: "dry-run",
      toL1: { type: "vmfail-valid", error: 7 },
    });
    const late = run(ctlBad(), { softwareChecks: "none", earlyChecks: 0 });
    expect(late).toMatchObject({
      detection: "late",
      detectedBy: "hardware",
      toL1: { type: "vmfail-valid", error: 7 },
    });
    expect(late.cost.parts["unwind"]).toBeGreaterThan(0);
  });
  it("the dry run cannot see L0-owned fields (VPID) nor host state: only software checks catch them", () => {
    expect(run(vpidZero(), { softwareChecks: "none", earlyChecks: 1 }).detection).toBe("missed");
    expect(run(vpidZero(), { softwareChecks: "kvm", earlyChecks: 0 }).detection).toBe("early");
    expect(run(hostBad(), { softwareChecks: "none", earlyChecks: 1 }).detection).toBe("missed");
    expect(run(hostBad(), { softwareChecks: "kvm", earlyChecks: 0 }).toL1).toEqual({
      type: "vmfail-valid",
      error: 8,
    });
  });
  it("a guest-state error KVM leaves to hardware is caught late, after the MSR loads", () => {
    const r = run(withMsrLoads(rflagsBad(), 0x175), { softwareChecks: "kvm", earlyChecks: 1 });
    expect(r.detection).toBe("late");
    expect(r.toL1).toEqual({ type: "vmexit", reason: 33, qualification: 0 });
    expect(r.msrsLoaded.map((m) => m.index)).toEqual([0x174, 0x175]);
    // with full software checks it is caught before any MSR is loaded
    const full = run(withMsrLoads(rflagsBad(), 0x175), { softwareChecks: "full", earlyChecks: 0 });
    expect(full.detection).toBe("early");
    expect(full.msrsLoaded).toEqual([]);
  });
  it("MSR loading: entries before the failing one stay loaded, exit 34 with its 1-based index", () => {
    const r = run(withMsrLoads(vmcs12()), { softwareChecks: "kvm", earlyChecks: 0 });
    expect(r.toL1).toEqual({ type: "vmexit", reason: 34, qualification: 2 });
    expect(r.msrsLoaded).toEqual([{ index: 0x174, value: 0x10n }]);
    expect(r.faithful).toBe(true);
  });
});

describe("the dry run's host-state restore", () => {
  it("restores DR7 and then RFLAGS.IF", () => {
    const r = run(vmcs12(), { earlyChecks: 1 });
    expect(r.hostState).toEqual({ dr7Before: 0x403, dr7After: 0x403, ifAfter: true, ok: true });
    const steps = r.trace.filter((s) => s.phase === "restore").map((s) => s.what);
    expect(steps[0]).toMatch(/DR7/);
    expect(steps[1]).toMatch(/interrupts re-enabled/);
    expect(r.l0Bug).toBeUndefined();
  });
  it("detects a forgotten RFLAGS.IF restore", () => {
    const r = run(vmcs12(), { earlyChecks: 1, bug: "skip-irq-enable" });
    expect(r.hostState?.ifAfter).toBe(false);
    expect(r.l0Bug).toMatch(/RFLAGS\.IF/);
  });
  it("detects a forgotten DR7 restore, and interrupts enabled before DR7", () => {
    expect(run(vmcs12(), { earlyChecks: 1, bug: "skip-dr7-restore" }).l0Bug).toMatch(/DR7 lost/);
    expect(run(vmcs12(), { earlyChecks: 1, bug: "irq-before-dr7" }).l0Bug).toMatch(/before DR7/);
    // without host breakpoints there is nothing to restore in DR7
    expect(
      run(vmcs12(), { earlyChecks: 1, bug: "skip-dr7-restore", hostBreakpoints: false }).l0Bug,
    ).toBeUndefined();
  });
  it("a VMFail after a passed dry run is reported as an L0 bug", () => {
    const r = run(vmcs12(), { earlyChecks: 1, bug: "late-host-cr4" });
    expect(r.toL1).toEqual({ type: "vmfail-valid", error: 7 });
    expect(r.l0Bug).toMatch(/after a passed dry run/);
    const noDry = run(vmcs12(), { earlyChecks: 0, bug: "late-host-cr4" });
    expect(noDry.l0Bug).toMatch(/error 8/);
  });
});

describe("compare and oracle", () => {
  const corpus = [vmcs12(), ctlBad(), vpidZero(), hostBad(), rflagsBad()];
  it("early checks 1 catch VMFail errors before side effects except L0-owned/host fields; full software catches all", () => {
    const rows = compareCorpus(corpus, { hostCaps: host, hypervisor: false });
    const row = (e: number, s: string) => rows.find((r) => r.earlyChecks === e && r.softwareChecks === s)!;
    expect(row(1, "none").vmfail).toMatchObject({ total: 3, early: 1, late: 0, missed: 2 });
    expect(row(0, "none").vmfail).toMatchObject({ total: 3, early: 0, late: 1, missed: 2 });
    expect(row(0, "full").vmfail).toMatchObject({ total: 3, early: 3, late: 0, missed: 0 });
    expect(row(0, "full").dryRuns).toBe(0);
    expect(row(-1, "full").dryRuns).toBe(0);
    // auto on bare metal with kvm's incomplete checks: a dry run for each state past the software checks
    expect(row(-1, "kvm").dryRuns).toBe(2);
    expect(row(1, "none").cyclesPerValidEntry).toBeGreaterThan(row(0, "none").cyclesPerValidEntry);
  });
  it("the oracle names checks missing from the kvm preset", () => {
    const gaps = findGaps([rflagsBad(), ctlBad()], ["guest.rflags", "ctl"], "kvm", host);
    expect(gaps.map((g) => g.id)).toEqual(["guest.rflags"]);
    expect(gaps[0]!.consequence).toBe("late");
    expect(kvmCheckIds().length).toBeGreaterThan(50);
  });
});
