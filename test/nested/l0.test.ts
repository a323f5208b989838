/**
 * L0's emulation of VMLAUNCH/VMRESUME step by step, as users read it in `nvmx nested` reports: the VM-entry
 * MSR-load list in software, the host state restored after the dry run (and the L0 bugs that break it), the
 * order the processor checks controls and host state in, the tracepoint lines and the trace.
 */
import { describe, expect, it } from "vitest";
import { ENTRY, PROC2 } from "../../src/arch/controls.js";
import { F } from "../../src/arch/fields.js";
import { basicChecks } from "../../src/checks/basic.js";
import { CHECKS } from "../../src/checks/registry.js";
import type { Entry } from "../../src/entry/document.js";
import { generateValid } from "../../src/gen/valid.js";
import { ALL_RAM, DEFAULT_CONFIG } from "../../src/nested/config.js";
import type { KernelId } from "../../src/nested/kernel.js";
import { kernelPreset } from "../../src/nested/kernels/index.js";
import { runNested } from "../../src/nested/l0.js";
import { host, l1Of, run, vmcs12 } from "./helpers.js";

const AREA = 0x30000;

/** vmcs12 with a VM-entry MSR-load list of [index, reserved dword, value] entries at `addr`. */
function withMsrs(kernel: KernelId, list: [number, number, bigint][], addr = AREA): Entry {
  return vmcs12(kernel, (e) => {
    list.forEach(([index, reserved, value], i) => {
      e.memory.write32(addr + 16 * i, index);
      e.memory.write32(addr + 16 * i + 4, reserved);
      e.memory.write64(addr + 16 * i + 8, value);
    });
    e.vmcs.set(F.VM_ENTRY_MSR_LOAD_ADDR!, BigInt(addr));
    e.vmcs.set(F.VM_ENTRY_MSR_LOAD_COUNT!, BigInt(list.length));
  });
}

const steps = (r: { trace: { phase: string; what: string }[] }, phase: string) =>
  r.trace.filter((s) => s.phase === phase).map((s) => s.what);

// v6.19 arch/x86/kvm/vmx/nested.c: nested_vmx_load_msr (1000–1030) reads and checks the list entry by entry and
// stops at the first entry that fails (exit 34 with its 1-based index); the checks of one entry are the CC()s of
// nested_vmx_load_msr_check / nested_vmx_msr_check_common (960–975), each printing its
// kvm_nested_vmenter_failed line.
describe("the VM-entry MSR-load list in software (SDM 29.4; v6.19 nested_vmx_load_msr)", () => {
  it("the tracepoint is the CC() of the first failing entry, not of the first check that fails some later entry", () => {
    // entry 1 loads FS_BASE (SDM 29.4: not loadable from the list), entry 2 has its reserved dword set
    const r = run(
      "v6.19",
      withMsrs("v6.19", [
        [0xc0000100, 0, 0n],
        [0x175, 1, 0x20n],
      ]),
    );
    expect(r.toL1).toEqual({ type: "vmexit", reason: 34, qualification: 1 });
    expect(r.tracepoint).toEqual(["kvm_nested_vmenter_failed: e->index == MSR_FS_BASE"]);
    const r2 = run(
      "v6.19",
      withMsrs("v6.19", [
        [0x174, 0, 0x10n],
        [0x175, 1, 0x20n],
        [0xc0000100, 0, 0n],
      ]),
    );
    expect(r2.toL1).toEqual({ type: "vmexit", reason: 34, qualification: 2 });
    expect(r2.tracepoint).toEqual(["kvm_nested_vmenter_failed: e->reserved != 0"]);
  });
  it("within one entry, KVM's order: FS_BASE/GS_BASE/SMM_MONITOR_CTL before the common checks (nested_vmx_load_msr_check)", () => {
    // nested_vmx_load_msr_check tests FS_BASE, GS_BASE and SMM_MONITOR_CTL (v6.19 nested.c 973–975), then calls
    // nested_vmx_msr_check_common (x2APIC, microcode MSRs, reserved dword: 960–965); v6.6 and v6.18 alike
    for (const k of ["v6.6", "v6.18", "v6.19"] as const) {
      const r = run(k, withMsrs(k, [[0xc0000100, 1, 0n]]));
      expect(r.toL1, k).toEqual({ type: "vmexit", reason: 34, qualification: 1 });
      expect(r.tracepoint, k).toEqual(["kvm_nested_vmenter_failed: e->index == MSR_FS_BASE"]);
    }
  });
  it("KVM's own refusal of IA32_BIOS_SIGN_ID (0x8b) prints its CC() too", () => {
    const r = run(
      "v6.19",
      withMsrs("v6.19", [
        [0x174, 0, 0x10n],
        [0x8b, 0, 0n],
      ]),
    );
    expect(r.toL1).toEqual({ type: "vmexit", reason: 34, qualification: 2 });
    expect(r.tracepoint).toEqual(["kvm_nested_vmenter_failed: e->index == MSR_IA32_UCODE_REV"]);
    // the SDM allows loading it: a processor may enter, so L1 is told of a failure the architecture need not give
    expect(r.detection).toBe("false-failure");
    expect(r.msrsLoaded).toEqual([{ index: 0x174, value: 0x10n }]);
  });
  it("an MSR KVM does not let L1 write (IA32_MCG_CAP, read-only) fails at its entry with exit 34 and no tracepoint, on every release", () => {
    // kvm_set_msr_common has no case for MSR_IA32_MCG_CAP (v6.19 x86.c 3891–4285): KVM_MSR_RET_UNSUPPORTED,
    // so nested_vmx_load_msr stops there (nested.c 1022–1027) as the processor would (SDM 29.4)
    for (const k of ["v5.0", "v6.6", "v6.18", "v6.19"] as const) {
      const r = run(
        k,
        withMsrs(k, [
          [0x174, 0, 0x10n],
          [0x179, 0, 0n],
        ]),
      );
      expect(
        r.architectural.violations.map((v) => v.id),
        k,
      ).toEqual(["msr-load.unavailable-msr"]);
      expect(r.toL1, k).toEqual({ type: "vmexit", reason: 34, qualification: 2 });
      expect(r.detection, k).toBe("early");
      expect(r.tracepoint, k).toEqual([]);
      expect(r.msrsLoaded, k).toEqual([{ index: 0x174, value: 0x10n }]);
    }
  });
  it("an entry outside L1's memory fails where KVM cannot read it, without a tracepoint (a plain read error)", () => {
    const top = 2 ** 30;
    const r = run(
      "v6.19",
      withMsrs(
        "v6.19",
        [
          [0x174, 0, 0x10n],
          [0x175, 0, 0x20n],
        ],
        top - 16,
      ),
      {
        l1RamBytes: top,
      },
    );
    expect(r.toL1).toEqual({ type: "vmexit", reason: 34, qualification: 2 });
    expect(r.tracepoint).toEqual([]);
    expect(r.divergence?.id).toBe("msr-load-unbacked");
    expect(r.msrsLoaded).toEqual([{ index: 0x174, value: 0x10n }]);
  });
});

describe("the MSR-load list: what L0 loads before the real entry", () => {
  it("every entry of a good list is loaded, in order, each an emulated WRMSR with its cost", () => {
    const r = run(
      "v6.19",
      withMsrs("v6.19", [
        [0x174, 0, 0x10n],
        [0x175, 0, 0x20n],
      ]),
    );
    expect(r.toL1).toEqual({ type: "entered" });
    expect(r.msrsLoaded).toEqual([
      { index: 0x174, value: 0x10n },
      { index: 0x175, value: 0x20n },
    ]);
    expect(steps(r, "msr-load")).toEqual(["2 MSR(s) loaded from the VM-entry MSR-load list: 0x174, 0x175"]);
    expect(r.cost.parts["msrLoads"]).toBe(2 * 250);
    // an empty list: nothing loaded, nothing said
    const none = run("v6.19", vmcs12("v6.19"));
    expect(none.msrsLoaded).toEqual([]);
    expect(steps(none, "msr-load")).toEqual([]);
  });
  it("a failing first entry: nothing loaded; without the kernel's checks the rules decide the same entry", () => {
    const e = withMsrs("v6.19", [[0x175, 1, 0x20n]]);
    const k = run("v6.19", e);
    expect(k.toL1).toEqual({ type: "vmexit", reason: 34, qualification: 1 });
    expect(steps(k, "msr-load")).toEqual([
      "0 MSR(s) loaded from the VM-entry MSR-load list",
      "MSR-load entry 1 fails",
    ]);
    expect(k.detectedBy).toBe("msr-load");
    expect(k.detection).toBe("early");
    const n = run(
      "v6.19",
      withMsrs("v6.19", [
        [0x174, 0, 0x10n],
        [0x175, 1, 0x20n],
      ]),
      { softwareChecks: "none" },
    );
    expect(n.toL1).toEqual({ type: "vmexit", reason: 34, qualification: 2 });
    expect(n.tracepoint).toEqual([]);
    expect(n.msrsLoaded).toEqual([{ index: 0x174, value: 0x10n }]);
  });
  it("a list KVM cannot read: the first unreadable entry decides, also when another entry fails later", () => {
    const top = 2 ** 30;
    const e = withMsrs(
      "v6.19",
      [
        [0x174, 0, 0x10n],
        [0x175, 0, 0x20n],
        [0x176, 1, 0n],
      ],
      top - 32,
    );
    for (const softwareChecks of ["kernel", "none"] as const) {
      const r = run("v6.19", e, { l1RamBytes: top, softwareChecks });
      expect(r.toL1, softwareChecks).toEqual({ type: "vmexit", reason: 34, qualification: 3 });
    }
    const e2 = withMsrs(
      "v6.19",
      [
        [0x174, 1, 0x10n],
        [0x175, 0, 0x20n],
      ],
      top - 16,
    );
    const r2 = run("v6.19", e2, { l1RamBytes: top, softwareChecks: "none" });
    expect(r2.toL1).toEqual({ type: "vmexit", reason: 34, qualification: 1 });
    expect(r2.divergence).toBeUndefined();
  });
});

// The dry run's VM exit loads the host state of vmcs02: DR7 = 0x400 and RFLAGS.IF = 0 (SDM 28.5); L0 then
// restores its DR7 (when host breakpoints are active) and re-enables interrupts, in the order of its release
// (nested_vmx_check_vmentry_hw; each preset's parameter.restoreOrder with its source).
describe("host state after the dry run, and the L0 bugs that break it", () => {
  const Y = { earlyCheck: { form: "merged" as const, nestedEarlyCheck: true } };
  it("v6.18 restores DR7, then enables interrupts: no window", () => {
    const r = run("v6.18", vmcs12("v6.18"), Y);
    expect(r.hostState).toEqual({ dr7Before: 0x403, dr7After: 0x403, ifAfter: true, ok: true });
    expect(r.l0Bug).toBeUndefined();
    expect(steps(r, "restore")).toEqual(["DR7 restored to 0x403", "interrupts re-enabled (RFLAGS.IF=1)"]);
    const noBp = run("v6.18", vmcs12("v6.18"), { ...Y, hostBreakpoints: false });
    expect(noBp.hostState).toEqual({ dr7Before: 0x400, dr7After: 0x400, ifAfter: true, ok: true });
    expect(steps(noBp, "restore")).toEqual(["DR7 restored to 0x400", "interrupts re-enabled (RFLAGS.IF=1)"]);
  });
  it("v5.0 enables interrupts first: with host breakpoints an interrupt can run with them off", () => {
    const r = run("v5.0", vmcs12("v5.0"), Y);
    expect(r.hostState).toEqual({ dr7Before: 0x403, dr7After: 0x403, ifAfter: true, ok: false });
    expect(r.l0Bug).toBe(
      "interrupts were enabled before DR7 was restored: a window with L0's breakpoints disabled",
    );
    expect(steps(r, "restore")[0]).toBe(
      "interrupts enabled, then DR7 restored: an interrupt in between runs with L0's breakpoints off",
    );
    // without host breakpoints there is nothing to lose
    const noBp = run("v5.0", vmcs12("v5.0"), { ...Y, hostBreakpoints: false });
    expect(noBp.hostState).toEqual({ dr7Before: 0x400, dr7After: 0x400, ifAfter: true, ok: true });
    expect(noBp.l0Bug).toBeUndefined();
  });
  it("injected bugs: DR7 not restored, interrupts not re-enabled, interrupts before DR7", () => {
    const dr7 = run("v6.18", vmcs12("v6.18"), { ...Y, bug: "skip-dr7-restore" });
    expect(dr7.hostState).toEqual({ dr7Before: 0x403, dr7After: 0x400, ifAfter: true, ok: false });
    expect(dr7.l0Bug).toBe(
      "host DR7 lost after the dry run: 0x400 instead of 0x403 (L0's hardware breakpoints are off)",
    );
    expect(steps(dr7, "restore")).toContain("DR7 NOT restored (injected L0 bug)");
    const irq = run("v6.18", vmcs12("v6.18"), { ...Y, bug: "skip-irq-enable" });
    expect(irq.hostState).toEqual({ dr7Before: 0x403, dr7After: 0x403, ifAfter: false, ok: false });
    expect(irq.l0Bug).toBe(
      "host RFLAGS.IF lost after the dry run: interrupts stay disabled on this CPU (fatal)",
    );
    expect(steps(irq, "restore")).toContain("RFLAGS.IF NOT restored (injected L0 bug)");
    const order = run("v6.18", vmcs12("v6.18"), { ...Y, bug: "irq-before-dr7" });
    expect(order.hostState?.ok).toBe(false);
    expect(order.l0Bug).toMatch(/^interrupts were enabled before DR7 was restored/);
    // in v5.0's order: both bugs at once are reported by the worse one (IF lost)
    const v5 = run("v5.0", vmcs12("v5.0"), { ...Y, bug: "skip-irq-enable" });
    expect(v5.hostState).toEqual({ dr7Before: 0x403, dr7After: 0x403, ifAfter: false, ok: false });
    expect(v5.l0Bug).toMatch(/^host RFLAGS.IF lost/);
    const v5dr7 = run("v5.0", vmcs12("v5.0"), { ...Y, bug: "skip-dr7-restore" });
    expect(v5dr7.hostState).toEqual({ dr7Before: 0x403, dr7After: 0x400, ifAfter: true, ok: false });
    // none of these changes what L1 sees
    for (const r of [dr7, irq, order, v5, v5dr7]) expect(r.toL1).toEqual({ type: "entered" });
  });
  it("without a dry run there is nothing to restore", () => {
    const r = run("v6.18", vmcs12("v6.18"), { bug: "skip-dr7-restore" });
    expect(r.hostState).toBeUndefined();
    expect(r.l0Bug).toBeUndefined();
  });
});

describe("a late VMfail at the real entry (KVM: vmx_vcpu_run's hardware VM-instruction error)", () => {
  const vtpr = (k: KernelId) => vmcs12(k, (e) => e.vmcs.set(F.TPR_THRESHOLD!, 5n)); // VTPR 0 < threshold 5
  it("a bad control KVM does not check: VMfail(7) reflected after the unwind, with the tracepoint line", () => {
    const r = run("v6.18", vtpr("v6.18"));
    expect(r.toL1).toEqual({ type: "vmfail-valid", error: 7 });
    expect(r.detection).toBe("late");
    expect(r.tracepoint).toEqual([
      "kvm_nested_vmenter_failed: hardware VM-instruction error: VMENTRY_INVALID_CONTROL_FIELD",
    ]);
    expect(r.cost.parts["unwind"]).toBe(3000);
    expect(r.l0Bug).toBeUndefined();
    expect(r.divergence?.id).toBe("late-vmfail-is-7");
  });
  it("L0's own broken HOST_CR4 (injected): error 8 at the real entry is an L0 bug; after a passed dry run too", () => {
    const n = run("v6.18", vmcs12("v6.18"), { bug: "late-host-cr4" });
    expect(n.toL1).toEqual({ type: "vmfail-valid", error: 7 });
    expect(n.detection).toBe("false-failure");
    expect(n.tracepoint).toEqual([
      "kvm_nested_vmenter_failed: hardware VM-instruction error: VMENTRY_INVALID_HOST_STATE_FIELD",
    ]);
    expect(n.l0Bug).toBe(
      "hardware VMfail with error 8: vmcs02's host state is L0's own, so this is an L0 bug",
    );
    expect(steps(n, "merge")).toContain(
      "injected L0 bug: HOST_CR4 written without CR4.VMXE after the dry run",
    );
    const y = run("v6.18", vmcs12("v6.18"), {
      bug: "late-host-cr4",
      earlyCheck: { form: "merged", nestedEarlyCheck: true },
    });
    expect(y.dryRun.performed).toBe(true);
    expect(y.l0Bug).toBe(
      "VMfail after a passed dry run: the dry run proved the controls valid and vmcs02's host state is L0's, so this is an L0 bug",
    );
  });
  it("a processor that checks host state first reports error 8 where one checking controls first reports 7 (SDM 29.2: either)", () => {
    const c = run("v6.18", vtpr("v6.18"), { bug: "late-host-cr4" });
    expect(c.tracepoint).toEqual([
      "kvm_nested_vmenter_failed: hardware VM-instruction error: VMENTRY_INVALID_CONTROL_FIELD",
    ]);
    expect(c.l0Bug).toBeUndefined();
    const h = run("v6.18", vtpr("v6.18"), { bug: "late-host-cr4", hardwareOrder: "host-first" });
    expect(h.tracepoint).toEqual([
      "kvm_nested_vmenter_failed: hardware VM-instruction error: VMENTRY_INVALID_HOST_STATE_FIELD",
    ]);
    expect(h.l0Bug).toMatch(/^hardware VMfail with error 8/);
    // L1 sees VMfail(7) either way
    expect(h.toL1).toEqual({ type: "vmfail-valid", error: 7 });
    // host-first without a host-state error: the control error as before
    expect(run("v6.18", vtpr("v6.18"), { hardwareOrder: "host-first" }).tracepoint).toEqual(c.tracepoint);
  });
  it("host-first order when the processor's alternatives are only other guest-state exits: its first exit stands", () => {
    // a PAE guest with EPT: vmcs02 takes vmcs12's PDPTE fields, so a reserved bit in one (exit 33, qualification 2,
    // SDM 29.3.1.6) and RFLAGS bit 1 clear (qualification 0) both reach the real entry; no error 8 to prefer
    const e = generateValid(l1Of("v6.18"), 1, { mode: "pae", features: "max" }).entry;
    expect(e.vmcs.lo(F.SECONDARY_VM_EXEC_CONTROL!) & PROC2.EPT).not.toBe(0);
    e.vmcs.set(F.GUEST_PDPTR0!, 0x7n);
    e.vmcs.set(F.GUEST_RFLAGS!, 0n);
    const r = run("v6.18", e, { softwareChecks: "none", hardwareOrder: "host-first" });
    expect(r.architectural.violations.map((v) => v.id)).toEqual([
      "guest.rflags.bit1-set",
      "guest.pdpte.field-reserved",
    ]);
    expect(r.toL1).toEqual({ type: "vmexit", reason: 33, qualification: 0 });
    expect(r.detection).toBe("late");
    expect(steps(r, "entry")).toEqual([
      "VM entry on vmcs02: VM entry fails: VM exit 33, VM-entry failure due to invalid guest state, qualification 0 (default)",
      "the processor found invalid guest state (guest.rflags.bit1-set, guest.pdpte.field-reserved) after L0 had loaded 4 MSR(s): the exit is reflected to L1",
    ]);
  });
  it("with warn_on_missed_cc, KVM warns that a consistency check was missed", () => {
    // v6.19 checks the vTPR rule itself with warn_on_missed_cc; a VMfail at the real entry then means a
    // missed check, and KVM WARNs (v6.19 nested.c, the warn_on_missed_cc WARN_ON_ONCE after the entry)
    const r = run(
      "v6.19",
      vmcs12("v6.19", (e) => e.vmcs.set(F.TPR_THRESHOLD!, 5n)),
      { warnOnMissedCc: true },
    );
    expect(r.detection).toBe("early");
    const late = run("v6.19", vmcs12("v6.19"), { warnOnMissedCc: true, bug: "late-host-cr4" });
    expect(steps(late, "entry")).toContain(
      "warn_on_missed_cc: KVM WARNs that a consistency check was missed",
    );
    const quiet = run("v6.19", vmcs12("v6.19"), { bug: "late-host-cr4" });
    expect(steps(quiet, "entry")).not.toContain(
      "warn_on_missed_cc: KVM WARNs that a consistency check was missed",
    );
  });
});

describe("the dry run's VMfail and the instruction checks print their tracepoint lines", () => {
  it("a dry run that fails prints KVM's early hardware check line with the error's name", () => {
    const r = run(
      "v6.18",
      vmcs12("v6.18", (e) => e.vmcs.set(F.TPR_THRESHOLD!, 5n)),
      {
        earlyCheck: { form: "merged", nestedEarlyCheck: true },
      },
    );
    expect(r.toL1).toEqual({ type: "vmfail-valid", error: 7 });
    expect(r.detectedBy).toBe("dry-run");
    expect(r.tracepoint).toEqual([
      "kvm_nested_vmenter_failed: early hardware check VM-instruction error: VMENTRY_INVALID_CONTROL_FIELD",
    ]);
    expect(r.l0Bug).toBeUndefined();
  });
  it("VMRESUME of a clear vmcs12: v6.19 prints its CC(), v5.0 has none", () => {
    const e = (k: KernelId) =>
      vmcs12(k, (x) => {
        x.processor.instruction = "vmresume";
        x.processor.launchState = "clear";
      });
    const r = run("v6.19", e("v6.19"));
    expect(r.toL1).toEqual({ type: "vmfail-valid", error: 5 });
    expect(r.detectedBy).toBe("instruction");
    expect(r.tracepoint).toEqual(["kvm_nested_vmenter_failed: vmcs12->launch_state == launch"]);
    expect(r.kernelCheck?.fn).toBe("nested_vmx_run");
    expect(steps(r, "instruction")[0]).toMatch(/^basic\.vmresume-launch-state: /);
    const v5 = run("v5.0", e("v5.0"));
    expect(v5.toL1).toEqual({ type: "vmfail-valid", error: 5 });
    expect(v5.tracepoint).toEqual([]);
    expect(v5.kernelCheck?.fn).toBe("nested_vmx_run");
  });
});

describe("what the trace says after a successful entry", () => {
  it("HLT and wait-for-SIPI: KVM emulates the activity state", () => {
    const hlt = run(
      "v6.19",
      vmcs12("v6.19", (e) => e.vmcs.set(F.GUEST_ACTIVITY_STATE!, 1n)),
    );
    expect(steps(hlt, "entry")).toContain(
      "vmcs12's activity state is HLT: KVM halts the vCPU itself unless an event wakes L2",
    );
    const sipi = run(
      "v6.19",
      vmcs12("v6.19", (e) => e.vmcs.set(F.GUEST_ACTIVITY_STATE!, 3n)),
    );
    expect(steps(sipi, "entry")).toContain(
      "vmcs12's activity state is wait-for-SIPI: KVM parks the vCPU until a SIPI",
    );
    expect(steps(run("v6.19", vmcs12("v6.19")), "entry")).toEqual(["VM entry on vmcs02: VM entry succeeds"]);
  });
  it("the configuration in words", () => {
    const e = vmcs12("v6.18");
    expect(run("v6.18", e).config).toEqual({
      parameter: "nested_early_check=N",
      softwareChecks: "kernel",
      host: "sapphirerapids",
      l1: "kvm-v6.18@sapphirerapids",
      hypervisor: false,
    });
    const d = run("v6.18", e, {
      earlyCheck: { form: "described", earlyConsistencyChecks: -1, skipWhenComplete: true },
      softwareChecks: ["ctl.exec.cr3-target-count"],
      hypervisor: true,
    }).config;
    expect(d).toMatchObject({
      parameter: "early_consistency_checks=-1 (+ skip-when-complete proposal)",
      softwareChecks: "custom",
      hypervisor: true,
    });
    expect(
      run("v6.18", e, { earlyCheck: { form: "described", earlyConsistencyChecks: 1 } }).config.parameter,
    ).toBe("early_consistency_checks=1");
    expect(run("v6.19", vmcs12("v6.19"), { warnOnMissedCc: true }).config.parameter).toBe(
      "warn_on_missed_cc=Y",
    );
    expect(run("v6.19", vmcs12("v6.19")).config.parameter).toBe("warn_on_missed_cc=N");
  });
  it("described 1 and 0 behave as merged Y and N", () => {
    const e = vmcs12("v6.18");
    const one = run("v6.18", e, {
      earlyCheck: { form: "described", earlyConsistencyChecks: 1 },
      hypervisor: true,
    });
    expect(one.dryRun).toMatchObject({ performed: true, why: "early_consistency_checks=1" });
    const zero = run("v6.18", e, { earlyCheck: { form: "described", earlyConsistencyChecks: 0 } });
    expect(zero.dryRun).toEqual({ performed: false, why: "early_consistency_checks=0" });
    expect(
      run("v6.18", e, { earlyCheck: { form: "described", earlyConsistencyChecks: -1 }, hypervisor: true })
        .dryRun,
    ).toEqual({
      performed: false,
      why: "early_consistency_checks=-1 (auto): L0 runs under a hypervisor",
    });
    expect(run("v6.19", vmcs12("v6.19")).dryRun).toEqual({ performed: false, why: "v6.19 has no dry run" });
  });
  it("a custom software-check list: its rules in their phases, the rest left to the processor", () => {
    const bad = vmcs12("v6.19", (e) => e.vmcs.set(F.TPR_THRESHOLD!, 5n));
    const listed = run("v6.19", bad, { softwareChecks: ["ctl.exec.tpr-threshold-vtpr"] });
    expect(listed.detection).toBe("early");
    expect(listed.softwareChecks).toBeLessThan(20);
    expect(steps(listed, "software")[0]).toMatch(
      /^1 software check\(s\) fail on vmcs12, first ctl\.exec\.tpr-threshold-vtpr: /,
    );
    const other = run("v6.19", bad, { softwareChecks: ["ctl.exec.cr3-target-count"] });
    expect(other.detection).toBe("late");
  });
});

describe("a software-check selection that is not the kernel's: each rule in the phase of its class", () => {
  const basicCount = basicChecks.length;
  const msrLoadCount = CHECKS.filter((c) => c.cls === "msr-load").length;
  const noVmxe = (k: KernelId) =>
    vmcs12(k, (e) => e.vmcs.set(F.HOST_CR4!, e.vmcs.get(F.HOST_CR4!) & ~(1n << 13n)));
  const rflags0 = (k: KernelId) => vmcs12(k, (e) => e.vmcs.set(F.GUEST_RFLAGS!, 0n));
  it("a host rule fails in software with VMfail(8), a guest rule with exit 33, each after the earlier phases", () => {
    const h = run("v6.19", noVmxe("v6.19"), { softwareChecks: ["host.cr4.fixed-bits"] });
    expect(h.toL1).toEqual({ type: "vmfail-valid", error: 8 });
    expect(h.detectedBy).toBe("software");
    expect(h.detection).toBe("early");
    expect(h.softwareChecks).toBe(basicCount + 1);
    expect(steps(h, "software")).toEqual([
      expect.stringMatching(/^1 software check\(s\) fail on vmcs12, first host\.cr4\.fixed-bits: /),
    ]);
    const g = run("v6.19", rflags0("v6.19"), { softwareChecks: ["guest.rflags.bit1-set"] });
    expect(g.toL1).toEqual({ type: "vmexit", reason: 33, qualification: 0 });
    expect(g.detectedBy).toBe("software");
    expect(g.detection).toBe("early");
    expect(steps(g, "software")).toEqual([
      "vmcs12 passes Linux 6.19's control and host-state checks (custom)",
      expect.stringMatching(/^1 software check\(s\) fail on vmcs12, first guest\.rflags\.bit1-set: /),
      "L1's host state is loaded from vmcs12 (a failed VM entry reflected as an exit)",
    ]);
  });
  it("without the rule: vmcs12's host state never reaches the processor (missed); the guest state does (late)", () => {
    const h = run("v6.19", noVmxe("v6.19"), { softwareChecks: ["guest.rflags.bit1-set"] });
    expect(h.toL1).toEqual({ type: "entered" });
    expect(h.detection).toBe("missed");
    const g = run("v6.19", rflags0("v6.19"), { softwareChecks: ["host.cr4.fixed-bits"] });
    expect(g.toL1).toEqual({ type: "vmexit", reason: 33, qualification: 0 });
    expect(g.detection).toBe("late");
    expect(g.detectedBy).toBe("hardware");
  });
  it('"full" checks every rule but the instruction and MSR-load ones in software; "none" none', () => {
    const f = run("v6.19", noVmxe("v6.19"), { softwareChecks: "full" });
    expect(f.toL1).toEqual({ type: "vmfail-valid", error: 8 });
    expect(f.detectedBy).toBe("software");
    const n = run("v6.19", noVmxe("v6.19"), { softwareChecks: "none" });
    expect(n.detection).toBe("missed");
    expect(n.softwareChecks).toBe(basicCount + msrLoadCount);
  });
});

describe("the software checks counted (the report's check count and cost)", () => {
  it("a valid vmcs12 runs every check of the kernel's phases once, and no check of a phase the kernel has not", () => {
    // v5.0–v6.18 have no late-controls phase (v6.19's warn_on_missed_cc checks): nothing is counted for it
    for (const k of ["v5.0", "v6.6", "v6.18", "v6.19"] as const) {
      const r = run(k, vmcs12(k));
      const phases = kernelPreset(k).checks.filter((c) => c.phase !== "instruction").length;
      expect(r.softwareChecks, k).toBe(basicChecks.length + phases);
      expect(r.cost.parts["softwareChecks"], k).toBeCloseTo(r.softwareChecks * 0.6 * 3, 6);
    }
  });
});

describe("what a result says beside L1's outcome: the dry run not reached, faithfulness, the kernel behaviours", () => {
  const noVmxe = (e: Entry) => e.vmcs.set(F.HOST_CR4!, e.vmcs.get(F.HOST_CR4!) & ~(1n << 13n));
  it("a software VMfail among several outcomes the architecture allows is faithful; the dry run is not reached", () => {
    // CR3-target count 5 (VMfail 7) and host CR4 without VMXE (VMfail 8): SDM 29.2 allows either; KVM checks the
    // controls first (nested_vmx_check_controls before nested_vmx_check_host_state)
    const r = run(
      "v6.18",
      vmcs12("v6.18", (e) => {
        e.vmcs.set(F.CR3_TARGET_COUNT!, 5n);
        noVmxe(e);
      }),
      { earlyCheck: { form: "merged", nestedEarlyCheck: true } },
    );
    expect(r.architectural.possibleOutcomes).toEqual([
      { type: "vmfail-valid", error: 7 },
      { type: "vmfail-valid", error: 8 },
    ]);
    expect(r.toL1).toEqual({ type: "vmfail-valid", error: 7 });
    expect(r.faithful).toBe(true);
    expect(r.detection).toBe("early");
    expect(r.config.parameter).toBe("nested_early_check=Y");
    expect(r.dryRun).toEqual({ performed: false, why: "not reached" });
    expect(steps(r, "reflect")).toEqual([
      "L1 sees: VM entry fails: VMfailValid, VM-instruction error 7 (VM entry with invalid control field(s))",
    ]);
  });
  it("v5.0 misses host-state errors: the behaviour is named once, however many host rules vmcs12 breaks", () => {
    const r = run(
      "v5.0",
      vmcs12("v5.0", (e) => {
        e.vmcs.set(F.HOST_CS_SELECTOR!, 0n);
        e.vmcs.set(F.HOST_TR_SELECTOR!, 0n);
      }),
    );
    expect(r.architectural.violations.map((v) => v.id)).toEqual([
      "host.cs-selector.nonzero",
      "host.tr-selector.nonzero",
    ]);
    expect(r.detection).toBe("missed");
    expect(r.divergence?.id).toBe("no-host-segment-checks");
    expect(r.divergences).toBeUndefined();
    // without software checks, also a rule v5.0 does check (host CR4) is missed for the same reason
    const n = run("v5.0", vmcs12("v5.0", noVmxe), { softwareChecks: "none" });
    expect(n.detection).toBe("missed");
    expect(n.divergence?.id).toBe("no-host-segment-checks");
  });
  it("v5.0 misses a guest-register error vmcs02 does not carry: each class's behaviour named for its own rules", () => {
    // kvm_set_dr refuses DR7 bits 63:32 and vmcs02 keeps its DR7 (v5.0's dr7-refused); v5.0 checks no guest DR7
    const dr7 = (e: Entry) => e.vmcs.set(F.GUEST_DR7!, 0x400n | (1n << 40n));
    const g = run("v5.0", vmcs12("v5.0", dr7));
    expect(g.architectural.violations.map((v) => v.id)).toEqual(["guest.dr7.high-bits"]);
    expect(g.detection).toBe("missed");
    expect(g.divergences?.map((d) => d.id)).toEqual(["dr7-refused", "no-guest-register-checks"]);
    const both = run(
      "v5.0",
      vmcs12("v5.0", (e) => {
        dr7(e);
        e.vmcs.set(F.HOST_TR_SELECTOR!, 0n);
      }),
    );
    expect(both.divergences?.map((d) => d.id)).toEqual([
      "dr7-refused",
      "no-host-segment-checks",
      "no-guest-register-checks",
    ]);
  });
  it("a late result names only what it depends on: no missed-check behaviour, no MSR-load order for a VMfail", () => {
    // v5.0: a control KVM does not check (VTPR 0 below TPR threshold 5) and a host error it does not check either:
    // the processor's VMfail(7) is late, not missed
    const h = run(
      "v5.0",
      vmcs12("v5.0", (e) => {
        e.vmcs.set(F.TPR_THRESHOLD!, 5n);
        e.vmcs.set(F.HOST_TR_SELECTOR!, 0n);
      }),
    );
    expect(h.detection).toBe("late");
    expect(h.divergence?.id).toBe("late-vmfail-is-7");
    expect(h.divergences).toBeUndefined();
    // MSRs loaded before a late VMfail: L0 restores them; "MSR loads before guest checks" is about a late exit
    const v = run(
      "v6.18",
      (() => {
        const e = withMsrs("v6.18", [[0x174, 0, 0x10n]]);
        e.vmcs.set(F.TPR_THRESHOLD!, 5n);
        return e;
      })(),
    );
    expect(v.detection).toBe("late");
    expect(v.msrsLoaded).toEqual([{ index: 0x174, value: 0x10n }]);
    expect(v.divergence?.id).toBe("late-vmfail-is-7");
    expect(v.divergences).toBeUndefined();
  });
  it("a false failure at the real entry after MSR loads is the kernel behaviour that caused it, not the load order", () => {
    // v6.19 without "load debug controls": vmcs02 keeps L1's DEBUGCTL (BTF), so the processor's BS check fails
    const e = withMsrs("v6.19", [[0x174, 0, 0x10n]]);
    const v = e.vmcs;
    v.set(F.VM_ENTRY_CONTROLS!, BigInt(v.lo(F.VM_ENTRY_CONTROLS!) & ~ENTRY.LOAD_DEBUG));
    v.set(F.GUEST_IA32_DEBUGCTL!, 2n); // BTF
    v.set(F.GUEST_RFLAGS!, 0x302n); // TF, IF
    v.set(F.GUEST_INTERRUPTIBILITY_INFO!, 1n); // blocking by STI
    const r = run("v6.19", e);
    expect(r.detection).toBe("false-failure");
    expect(r.msrsLoaded).toHaveLength(1);
    expect(r.divergence?.id).toBe("debug-controls-from-l1");
    expect(r.divergences).toBeUndefined();
  });
  it("a late VMfail on a virtual-APIC address L0 could not map names that behaviour too", () => {
    // without software checks, an address beyond MAXPHYADDR reaches the processor as all-ones in vmcs02
    const r = run(
      "v6.18",
      vmcs12("v6.18", (e) => e.vmcs.set(F.VIRTUAL_APIC_PAGE_ADDR!, 1n << 52n)),
      { softwareChecks: "none" },
    );
    expect(r.detection).toBe("late");
    expect(r.divergences?.map((d) => d.id)).toEqual([
      "virtual-apic-unmapped",
      "late-vmfail-is-7",
      "controls-added-by-l0",
    ]);
  });
});

describe("the trace a user reads, step by step", () => {
  const phaseAndText = (r: { trace: { phase: string; what: string }[] }) =>
    r.trace.map((s) => `${s.phase}: ${s.what}`);
  const MERGE = [
    "merge: vmcs02 prepared: L0's host state and owned fields, controls merged, L1's pages mapped",
    "merge: vmcs12's VM-exit controls are emulated; vmcs02 has L0's (VM_EXIT_CONTROLS)",
    "merge: L0's own control bits are ORed into vmcs02 (CPU_BASED_VM_EXEC_CONTROL, SECONDARY_VM_EXEC_CONTROL)",
    "merge: L0's values replace vmcs12's (VIRTUAL_PROCESSOR_ID, EPT_POINTER, GUEST_PML_INDEX, POSTED_INTR_NV)",
  ];
  const READY = [
    "instruction: L1 is in VMX root operation at CPL 0 with a current vmcs12 in the right launch state",
    "software: vmcs12 passes Linux 6.18's control and host-state checks (kernel)",
  ];
  it("a valid vmcs12 with the dry run on a vmcs02 entered before: every phase, in order", () => {
    const r = run("v6.18", vmcs12("v6.18"), {
      earlyCheck: { form: "merged", nestedEarlyCheck: true },
      vmcs02: "reused",
    });
    expect(phaseAndText(r)).toEqual([
      ...READY,
      ...MERGE,
      "dry-run: VMRESUME of vmcs02 (guest state and TSC multiplier of the previous entry) with GUEST_RFLAGS=0: passes — vmcs02's controls and host state are valid, and the entry stops at the intended invalid-RFLAGS exit (reason 33)",
      "restore: DR7 restored to 0x403",
      "restore: interrupts re-enabled (RFLAGS.IF=1)",
      "entry: VM entry on vmcs02: VM entry succeeds",
      "reflect: L1 sees: VM entry succeeds",
    ]);
    expect(r.dryRun).toEqual({
      performed: true,
      why: "nested_early_check=Y",
      // GUEST_RFLAGS=0 stops the dry run at the invalid-guest-state exit: the dry run passing
      hardware: { type: "vmexit", reason: 33, qualification: 0 },
      vmcs02: "reused",
    });
    expect(r.cost.parts).toMatchObject({ base: 29000, dryRun: 2150, msrLoads: 0, entry: 2000 });
  });
  it("a dry run on a vmcs02 never entered: VMLAUNCH, and the stale TSC multiplier 0 fails it", () => {
    const r = run("v6.18", vmcs12("v6.18"), {
      earlyCheck: { form: "merged", nestedEarlyCheck: true },
      vmcs02: "fresh",
    });
    expect(phaseAndText(r)).toEqual([
      ...READY,
      ...MERGE,
      "dry-run: VMLAUNCH of vmcs02 (never entered: guest state and TSC multiplier 0) with GUEST_RFLAGS=0: VM entry fails: VMfailValid, VM-instruction error 7 (VM entry with invalid control field(s))",
      "reflect: L1 sees: VM entry fails: VMfailValid, VM-instruction error 7 (VM entry with invalid control field(s))",
    ]);
    expect(r.detectedBy).toBe("dry-run");
    expect(r.divergence?.id).toBe("dry-run-stale-vmcs02");
  });
  it("a kernel check that fails names its function, file and line and the CC() condition", () => {
    const r = run(
      "v6.18",
      vmcs12("v6.18", (e) => e.vmcs.set(F.CR3_TARGET_COUNT!, 5n)),
    );
    expect(phaseAndText(r)).toEqual([
      READY[0],
      "software: Linux 6.18 nested_check_vm_execution_controls (nested.c:2930) fails: vmcs12->cr3_target_count > nested_cpu_vmx_misc_cr3_count(vcpu)",
      "reflect: L1 sees: VM entry fails: VMfailValid, VM-instruction error 7 (VM entry with invalid control field(s))",
    ]);
    expect(r.kernelCheck).toMatchObject({
      fn: "nested_check_vm_execution_controls",
      cc: "vmcs12->cr3_target_count > nested_cpu_vmx_misc_cr3_count(vcpu)",
    });
    expect(r.tracepoint).toEqual([
      "kvm_nested_vmenter_failed: vmcs12->cr3_target_count > nested_cpu_vmx_misc_cr3_count(vcpu)",
    ]);
  });
  it("a guest-state check fails after vmcs02 is prepared: the exit is reflected with L1's host state loaded", () => {
    const r = run(
      "v6.18",
      vmcs12("v6.18", (e) => e.vmcs.set(F.GUEST_CR0!, e.vmcs.get(F.GUEST_CR0!) & ~0x20n)), // CR0.NE clear
    );
    expect(r.toL1).toEqual({ type: "vmexit", reason: 33, qualification: 0 });
    expect(phaseAndText(r)).toEqual([
      ...READY,
      ...MERGE,
      "merge: KVM's always-on/always-off CR bits (GUEST_CR0)",
      "dry-run: no dry run (nested_early_check=N (the default))",
      "software: Linux 6.18 nested_vmx_check_guest_state (nested.c:3257) fails: !nested_guest_cr0_valid(vcpu, vmcs12->guest_cr0)",
      "software: L1's host state is loaded from vmcs12 (a failed VM entry reflected as an exit)",
      "reflect: L1 sees: VM entry fails: VM exit 33, VM-entry failure due to invalid guest state, qualification 0 (default)",
    ]);
  });
});

describe("the dry-run decision as described (early_consistency_checks) and the skip-when-complete proposal", () => {
  const proposal = {
    form: "described" as const,
    earlyConsistencyChecks: -1 as const,
    skipWhenComplete: true,
  };
  const vmfailRules = CHECKS.filter((c) => c.cls === "control" || c.cls === "host").map((c) => c.id);
  const dry = (softwareChecks: "kernel" | "full" | "none" | string[]) =>
    run("v6.18", vmcs12("v6.18"), {
      earlyCheck: proposal,
      hypervisor: false,
      softwareChecks,
      vmcs02: "reused",
    }).dryRun;
  it("skipped only when software checks every VMfail rule: full, or a list with all of them", () => {
    const skipped = {
      performed: false,
      why: "early_consistency_checks=-1 with the skip-when-complete proposal: software covers every VMFail rule",
    };
    expect(dry("full")).toEqual(skipped);
    expect(dry(vmfailRules)).toEqual(skipped);
    const bare = "early_consistency_checks=-1 (auto): bare metal";
    expect(dry(vmfailRules.slice(1))).toMatchObject({ performed: true, why: bare });
    expect(dry("none")).toMatchObject({ performed: true, why: bare });
    expect(dry("kernel")).toMatchObject({ performed: true, why: bare });
  });
});

describe("the MSR-load list's address", () => {
  it("an area above 4 GiB is read at its full 64-bit address (both halves of VM_ENTRY_MSR_LOAD_ADDR)", () => {
    const r = run(
      "v6.19",
      withMsrs(
        "v6.19",
        [
          [0x174, 0, 0x10n],
          [0x175, 0, 0x20n],
        ],
        0x1_0003_0000,
      ),
    );
    expect(r.toL1).toEqual({ type: "entered" });
    expect(r.msrsLoaded).toEqual([
      { index: 0x174, value: 0x10n },
      { index: 0x175, value: 0x20n },
    ]);
  });
});

describe("the dry run's findings beside L1's outcome", () => {
  const Y = { earlyCheck: { form: "merged" as const, nestedEarlyCheck: true } };
  it("a reused vmcs02 that passes: the first-entry case is possible, with the non-guest violations it would find", () => {
    const r = run("v6.18", vmcs12("v6.18"), { ...Y, vmcs02: "reused" });
    expect(r.possible?.map((p) => ({ ...p, violations: p.violations.map((v) => v.id) }))).toEqual([
      {
        why: "unknown-field",
        dependsOn: ["vmcs02.TSC_MULTIPLIER", "vmcs02.GUEST_CR0"],
        condition:
          "if this is the vCPU's first nested entry (vmcs02 never entered, so its guest state and TSC multiplier are still 0 at the dry run)",
        outcome: { type: "vmfail-valid", error: 7 },
        // the fresh vmcs02's guest state (CR0 0, RFLAGS 0) fails guest rules too: the dry run stops before them
        violations: ["ctl.exec.tsc-multiplier-nonzero"],
      },
    ]);
  });
  it("a dry run that fails on vmcs12's own control error: no first-entry case, no stale-vmcs02 behaviour", () => {
    const r = run(
      "v6.18",
      vmcs12("v6.18", (e) => e.vmcs.set(F.TPR_THRESHOLD!, 5n)),
      { ...Y, vmcs02: "reused" },
    );
    expect(r.toL1).toEqual({ type: "vmfail-valid", error: 7 });
    expect(r.detectedBy).toBe("dry-run");
    expect(r.possible).toBeUndefined();
    expect(r.divergence).toBeUndefined();
  });
  it("a caller may watch only part of the run", () => {
    const e = vmcs12("v6.18");
    const cfg = {
      ...DEFAULT_CONFIG,
      l1RamBytes: ALL_RAM,
      kernel: "v6.18" as const,
      ...Y,
      vmcs02: "reused" as const,
    };
    expect(runNested({ vmcs12: e, host }, cfg, {}).toL1).toEqual({ type: "entered" });
    let seen = 0;
    runNested({ vmcs12: e, host }, cfg, { dryRun: () => seen++ });
    runNested({ vmcs12: e, host }, cfg, { vmcs02: () => seen++ });
    expect(seen).toBe(2);
  });
});

describe("what the software phases print", () => {
  it("a kernel check without a CC() (v5.0) prints no tracepoint; the step names the rules it enforces", () => {
    const r = run(
      "v5.0",
      vmcs12("v5.0", (e) => e.vmcs.set(F.CR3_TARGET_COUNT!, 5n)),
    );
    expect(r.toL1).toEqual({ type: "vmfail-valid", error: 7 });
    expect(r.tracepoint).toEqual([]);
    expect(steps(r, "software")).toEqual([
      "Linux 5.0 nested_check_vm_execution_controls (nested.c:2462) fails: ctl.exec.cr3-target-count",
    ]);
  });
  it("v6.19's late control checks (warn_on_missed_cc) decide in software, after vmcs02's preparation", () => {
    const r = run(
      "v6.19",
      vmcs12("v6.19", (e) => e.vmcs.set(F.TPR_THRESHOLD!, 5n)),
      { warnOnMissedCc: true },
    );
    expect(r.detectedBy).toBe("software");
    expect(steps(r, "software")).toEqual([
      "vmcs12 passes Linux 6.19's control and host-state checks (kernel)",
      "Linux 6.19 nested_vmx_check_controls_late (nested.c:3106) fails: (vmcs12->tpr_threshold & GENMASK(3, 0)) > (vtpr & GENMASK(3, 0))",
    ]);
  });
  it("an internal error while preparing vmcs02 ends the trace with its reason", () => {
    const r = run(
      "v6.19",
      vmcs12("v6.19", (x) => {
        const v = x.vmcs;
        v.set(
          F.SECONDARY_VM_EXEC_CONTROL!,
          BigInt(v.lo(F.SECONDARY_VM_EXEC_CONTROL!) | PROC2.VIRT_APIC_ACCESSES),
        );
        v.set(F.APIC_ACCESS_ADDR!, 0x80000000n); // 2 GiB, outside a 1 GiB L1
      }),
      { l1RamBytes: 2 ** 30 },
    );
    const reason =
      "no memory backs the APIC-access page at 0x80000000: KVM exits to userspace with KVM_EXIT_INTERNAL_ERROR";
    expect(r.toL1).toEqual({ type: "kvm-internal-error", reason });
    expect(r.detectedBy).toBe("kvm");
    expect(r.trace.at(-1)).toEqual({ phase: "merge", what: reason });
  });
});

describe("an instruction check no kernel lists", () => {
  it("VMLAUNCH at CPL 3 faults in the processor before L0 sees it: no kernel check, no tracepoint", () => {
    const r = run(
      "v6.19",
      vmcs12("v6.19", (e) => {
        e.processor.cpl = 3;
      }),
    );
    expect(r.detectedBy).toBe("instruction");
    expect(r.toL1.type).toBe("fault");
    expect(r.kernelCheck).toBeUndefined();
    expect(r.tracepoint).toEqual([]);
    expect(steps(r, "instruction")[0]).toMatch(/^basic\.cpl: /);
  });
});

describe("a kernel host-state check", () => {
  it("fails in software with VMfail(8) (v6.18 nested_vmx_check_host_state)", () => {
    const r = run(
      "v6.18",
      vmcs12("v6.18", (e) => e.vmcs.set(F.HOST_CR4!, e.vmcs.get(F.HOST_CR4!) & ~(1n << 13n))),
    );
    expect(r.toL1).toEqual({ type: "vmfail-valid", error: 8 });
    expect(r.detectedBy).toBe("software");
    expect(r.kernelCheck?.fn).toBe("nested_vmx_check_host_state");
  });
});
