/**
 * After the software checks: the VM-entry MSR-load list as L0 processes it (SDM 29.4), the real VM entry on
 * vmcs02 with its late VMfail or late exit, the host state L0 restores after the dry run, and what a
 * successful entry reports — in the words and numbers users read in `nvmx nested` reports.
 */
import { describe, expect, it } from "vitest";
import { F } from "../../src/arch/fields.js";
import type { Entry } from "../../src/entry/document.js";
import type { SoftwareChecks } from "../../src/nested/config.js";
import type { KernelId } from "../../src/nested/kernel.js";
import { run, vmcs12 } from "./helpers.js";

const AREA = 0x30000;
/** L1's RAM in the tests of an unreadable list: 1 GiB, so an area ending at the top runs past it. */
const TOP = 2 ** 30;

/** vmcs12 with a VM-entry MSR-load list of [index, reserved dword, value] entries at `addr`, then edited. */
function withMsrs(
  kernel: KernelId,
  list: [number, number, bigint][],
  addr = AREA,
  edit?: (e: Entry) => void,
): Entry {
  return vmcs12(kernel, (e) => {
    list.forEach(([index, reserved, value], i) => {
      e.memory.write32(addr + 16 * i, index);
      e.memory.write32(addr + 16 * i + 4, reserved);
      e.memory.write64(addr + 16 * i + 8, value);
    });
    e.vmcs.set(F.VM_ENTRY_MSR_LOAD_ADDR!, BigInt(addr));
    e.vmcs.set(F.VM_ENTRY_MSR_LOAD_COUNT!, BigInt(list.length));
    edit?.(e);
  });
}

const steps = (r: { trace: { phase: string; what: string }[] }, phase: string) =>
  r.trace.filter((s) => s.phase === phase).map((s) => s.what);

/** VTPR 0 below TPR threshold 5: a control error (SDM 29.2.1.1) v6.18 does not check, so vmcs02 VMfails. */
const lowVtpr = (e: Entry) => e.vmcs.set(F.TPR_THRESHOLD!, 5n);
/** RFLAGS bit 1 clear: invalid guest state (SDM 29.3.1.4), found by the processor when software skips it. */
const rflagsBit1Clear = (e: Entry) => e.vmcs.set(F.GUEST_RFLAGS!, 0n);

describe("a late VMfail at the real entry on vmcs02: the unwind step users read", () => {
  it("without MSRs loaded: L0 unwinds CR0/CR3/CR4/EFER/PAT/DR7 from vmcs01 and reports VMfail(7)", () => {
    const r = run("v6.18", vmcs12("v6.18", lowVtpr));
    expect(r.toL1).toEqual({ type: "vmfail-valid", error: 7 });
    expect(r.detectedBy).toBe("hardware");
    expect(steps(r, "entry")).toEqual([
      "VM entry on vmcs02: VM entry fails: VMfailValid, VM-instruction error 7 (VM entry with invalid control field(s))",
      "late VMfail: L0 unwinds L1's state (CR0/CR3/CR4/EFER/PAT/DR7 from vmcs01) and reports VMfail(7)",
    ]);
  });
  it("after MSR loads: the unwind also restores the MSRs already loaded from the VM-exit MSR-load list", () => {
    // SDM 29.4 loads the list only after the control and host-state checks passed; L0 loads it in software
    // before the processor's checks on vmcs02, so a VMfail there leaves loaded MSRs for L0 to undo
    const r = run("v6.18", withMsrs("v6.18", [[0x174, 0, 0x10n]], AREA, lowVtpr));
    expect(r.toL1).toEqual({ type: "vmfail-valid", error: 7 });
    expect(r.msrsLoaded).toEqual([{ index: 0x174, value: 0x10n }]);
    expect(steps(r, "entry")).toEqual([
      "VM entry on vmcs02: VM entry fails: VMfailValid, VM-instruction error 7 (VM entry with invalid control field(s))",
      "late VMfail: L0 unwinds L1's state (CR0/CR3/CR4/EFER/PAT/DR7 from vmcs01, MSRs already loaded restored from the exit list) and reports VMfail(7)",
    ]);
    expect(r.tracepoint).toEqual([
      "kvm_nested_vmenter_failed: hardware VM-instruction error: VMENTRY_INVALID_CONTROL_FIELD",
    ]);
  });
});

describe("a late exit at the real entry: invalid guest state the processor finds (exit 33, SDM 29.3 / 29.8)", () => {
  it("with no MSR-load list, the step names the violated rules and no MSR count", () => {
    const r = run("v6.18", vmcs12("v6.18", rflagsBit1Clear), { softwareChecks: "none" });
    expect(r.toL1).toEqual({ type: "vmexit", reason: 33, qualification: 0 });
    expect(r.detection).toBe("late");
    expect(r.msrsLoaded).toEqual([]);
    expect(steps(r, "entry")).toEqual([
      "VM entry on vmcs02: VM entry fails: VM exit 33, VM-entry failure due to invalid guest state, qualification 0 (default)",
      "the processor found invalid guest state (guest.rflags.bit1-set): the exit is reflected to L1",
    ]);
  });
  it("after MSR loads, the step counts the MSRs L0 had loaded", () => {
    const r = run(
      "v6.18",
      withMsrs(
        "v6.18",
        [
          [0x174, 0, 0x10n],
          [0x175, 0, 0x20n],
        ],
        AREA,
        rflagsBit1Clear,
      ),
      { softwareChecks: "none" },
    );
    expect(r.toL1).toEqual({ type: "vmexit", reason: 33, qualification: 0 });
    expect(steps(r, "entry")[1]).toBe(
      "the processor found invalid guest state (guest.rflags.bit1-set) after L0 had loaded 2 MSR(s): the exit is reflected to L1",
    );
  });
});

describe("a successful entry", () => {
  it("is detected by nothing: detectedBy is none, detection entered", () => {
    const r = run("v6.19", vmcs12("v6.19"));
    expect(r.toL1).toEqual({ type: "entered" });
    expect(r.detectedBy).toBe("none");
    expect(r.detection).toBe("entered");
  });
});

describe("the restore after the dry run: an L0 bug is also a step of the trace", () => {
  const Y = { earlyCheck: { form: "merged" as const, nestedEarlyCheck: true } };
  it("DR7 not restored: the restore steps end with the L0 bug in words", () => {
    const r = run("v6.18", vmcs12("v6.18"), { ...Y, bug: "skip-dr7-restore" });
    expect(steps(r, "restore")).toEqual([
      "DR7 NOT restored (injected L0 bug)",
      "interrupts re-enabled (RFLAGS.IF=1)",
      "L0 bug: host DR7 lost after the dry run: 0x400 instead of 0x403 (L0's hardware breakpoints are off)",
    ]);
  });
  it("v5.0's order (interrupts, then DR7): the window is named as an L0 bug step", () => {
    const r = run("v5.0", vmcs12("v5.0"), Y);
    expect(steps(r, "restore")).toEqual([
      "interrupts enabled, then DR7 restored: an interrupt in between runs with L0's breakpoints off",
      "L0 bug: interrupts were enabled before DR7 was restored: a window with L0's breakpoints disabled",
    ]);
  });
});

// KVM reads each MSR-load entry from L1's memory before it checks it (v6.19 nested_vmx_load_msr): an entry
// outside L1's RAM fails there with exit 34, its 1-based index as the qualification (SDM 29.4, 29.8). Reading
// the list is not a consistency check, so L0 does it whatever `softwareChecks` says.
describe("an MSR-load list outside L1's RAM, whatever software checks L0 runs", () => {
  const unreadable2 = (edit?: (e: Entry) => void, first: [number, number, bigint] = [0x174, 0, 0x10n]) =>
    withMsrs(
      "v6.19",
      [first, [0x175, 0, 0x20n], [0x176, 0, 0x30n]],
      TOP - 16, // entry 1 is the last 16 bytes of RAM; entries 2 and 3 lie beyond it
      edit,
    );
  it("no rule fails: the first unreadable entry (2) fails, with none, full or a list of software checks", () => {
    const configs: SoftwareChecks[] = ["none", "full", ["msr-load.reserved-bits"]];
    for (const softwareChecks of configs) {
      const label = JSON.stringify(softwareChecks);
      const r = run("v6.19", unreadable2(), { l1RamBytes: TOP, softwareChecks });
      expect(r.toL1, label).toEqual({ type: "vmexit", reason: 34, qualification: 2 });
      expect(r.detectedBy, label).toBe("msr-load");
      expect(r.msrsLoaded, label).toEqual([{ index: 0x174, value: 0x10n }]);
      expect(steps(r, "msr-load"), label).toEqual([
        "1 MSR(s) loaded from the VM-entry MSR-load list: 0x174",
        "MSR-load entry 2 fails",
      ]);
      // the architecture knows no RAM size: the entry succeeds there, so L1 is told of a failure it need not get
      expect(r.detection, label).toBe("false-failure");
      expect(r.divergence?.id, label).toBe("msr-load-unbacked");
    }
  });
  it("an unreadable entry before the entry a rule fails decides the index, with or without the kernel's checks", () => {
    // entry 2 is unreadable, entry 3 also has its reserved dword set (SDM 29.4: bits 63:32 must be 0)
    const e = withMsrs(
      "v6.19",
      [
        [0x174, 0, 0x10n],
        [0x175, 0, 0x20n],
        [0x176, 1, 0x30n],
      ],
      TOP - 16,
    );
    for (const softwareChecks of ["none", "kernel"] as const) {
      const r = run("v6.19", e, { l1RamBytes: TOP, softwareChecks });
      expect(r.architectural.outcome, softwareChecks).toEqual({
        type: "vmexit",
        reason: 34,
        qualification: 3,
      });
      expect(r.toL1, softwareChecks).toEqual({ type: "vmexit", reason: 34, qualification: 2 });
      expect(r.divergence?.id, softwareChecks).toBe("msr-load-unbacked");
      // the read error decides: KVM prints no CC() line, not the reserved-dword one of the later entry
      expect(r.tracepoint, softwareChecks).toEqual([]);
    }
  });
  it("a rule failing at or before the first unreadable entry decides, and the unreadable list is not blamed", () => {
    // RFLAGS bit 1 clear makes the architecture's answer exit 33 (guest state is checked before the MSR loads,
    // SDM 29.3 then 29.4): without software guest checks L0's exit 34 is unfaithful, and the result names
    // the kernel behaviours that explain it — the failed read only when it decided the entry
    // entry 1 is the last 16 bytes of RAM, entry 2 lies beyond it
    const cases: [string, [number, number, bigint][], number][] = [
      [
        "rule at 1, unreadable from 2",
        [
          [0x174, 1, 0x10n],
          [0x175, 0, 0x20n],
        ],
        1,
      ],
      [
        "rule and unreadable both at 2",
        [
          [0x174, 0, 0x10n],
          [0x175, 1, 0x20n],
        ],
        2,
      ],
    ];
    for (const [label, list, at] of cases) {
      const r = run("v6.19", withMsrs("v6.19", list, TOP - 16, rflagsBit1Clear), {
        l1RamBytes: TOP,
        softwareChecks: "none",
      });
      expect(r.architectural.outcome, label).toEqual({ type: "vmexit", reason: 33, qualification: 0 });
      expect(r.toL1, label).toEqual({ type: "vmexit", reason: 34, qualification: at });
      expect(r.faithful, label).toBe(false);
      // only the generic consequence of L0 owning vmcs02's MSR-load fields, not "msr-load-unbacked"
      expect(r.divergence?.id, label).toBe("l0-owned-fields");
      expect(r.divergences, label).toBeUndefined();
    }
  });
});

// Premises of mutants listed as equivalent: if a preset changes them, these fail and the mutants become killable.
describe("what the real entry and the dry-run decision do not depend on", () => {
  it("the real entry on vmcs02 ends alike whether vmcs02 was entered before (VMRESUME) or never (VMLAUNCH)", () => {
    // L0 uses the instruction that matches vmcs02's launch state (SDM 31.3 VMLAUNCH/VMRESUME), so neither
    // VM-instruction error 4 nor 5 can occur there
    const cases: [Entry, object, string][] = [
      [vmcs12("v6.18"), { type: "entered" }, "none"],
      [vmcs12("v6.18", lowVtpr), { type: "vmfail-valid", error: 7 }, "hardware"],
      [vmcs12("v6.18", rflagsBit1Clear), { type: "vmexit", reason: 33, qualification: 0 }, "hardware"],
    ];
    for (const [e, toL1, detectedBy] of cases) {
      const fresh = run("v6.18", e, { vmcs02: "fresh", softwareChecks: "none" });
      const reused = run("v6.18", e, { vmcs02: "reused", softwareChecks: "none" });
      expect(fresh.dryRun.performed).toBe(false);
      expect(fresh.detectedBy).toBe(detectedBy);
      expect(fresh.toL1).toEqual(toL1);
      expect(reused.toL1).toEqual(toL1);
      expect(fresh.tracepoint).toEqual(reused.tracepoint);
      expect(steps(fresh, "entry")).toEqual(steps(reused, "entry"));
    }
  });
  it("with the skip-when-complete proposal, no release's own checks cover every VMfail rule: the dry run stays", () => {
    for (const k of ["v5.0", "v6.6", "v6.18"] as const) {
      const r = run(k, vmcs12(k), {
        earlyCheck: { form: "described", earlyConsistencyChecks: -1, skipWhenComplete: true },
        hypervisor: false,
        softwareChecks: "kernel",
      });
      expect(r.dryRun, k).toMatchObject({
        performed: true,
        why: "early_consistency_checks=-1 (auto): bare metal",
      });
    }
  });
});
