/**
 * One test per fix of issue 12: each fails on the model before the fix (the old `kvm` software set, the
 * +4 GiB page placement, the copied activity state, the abstract early-checks switch...).
 */
import { describe, expect, it } from "vitest";
import { ENTRY, PIN, PROC, PROC2 } from "../../src/arch/controls.js";
import { F, FIELDS } from "../../src/arch/fields.js";
import { InputError } from "../../src/errors.js";
import { ALL_RAM, DEFAULT_CONFIG } from "../../src/nested/config.js";
import { kernelPreset } from "../../src/nested/kernels/index.js";
import { runNested } from "../../src/nested/l0.js";
import {
  buildVmcs02,
  dryRunVmcs,
  GUEST_STATE_FIELDS,
  POSTED_INTR_NESTED_VECTOR,
} from "../../src/nested/merge.js";
import { host, l1Of, run, vmcs12 } from "./helpers.js";

const env = { warnOnMissedCc: false, backed: () => true };

describe("vmcs02's pages: legal host pages, offset kept, vector 0xf0", () => {
  const e = vmcs12("v6.19", (x) => {
    const v = x.vmcs;
    v.set(F.VIRTUAL_APIC_PAGE_ADDR!, 0x3fffffffc000n); // legal for L1 (MAXPHYADDR 46)
    v.set(F.PIN_BASED_VM_EXEC_CONTROL!, BigInt(v.lo(F.PIN_BASED_VM_EXEC_CONTROL!) | PIN.POSTED_INTR));
    v.set(F.SECONDARY_VM_EXEC_CONTROL!, BigInt(v.lo(F.SECONDARY_VM_EXEC_CONTROL!) | PROC2.VID));
    v.set(F.POSTED_INTR_DESC_ADDR!, 0x15040n);
    v.set(F.POSTED_INTR_NV!, 0x52n);
  });
  it("the state is valid for L1 and enters", () => {
    expect(run("v6.19", e).architectural.outcome).toEqual({ type: "entered" });
    expect(run("v6.19", e).detection).toBe("entered");
  });
  it("every mapped address is below the host's MAXPHYADDR, the descriptor keeps its offset in the page", () => {
    const b = buildVmcs02({
      preset: kernelPreset("v6.19"),
      vmcs12: { ...e, caps: l1Of("v6.19") },
      host,
      env,
      l1Efer: 0xd01,
    });
    const vapic = Number(b.vmcs.get(F.VIRTUAL_APIC_PAGE_ADDR!));
    const pid = Number(b.vmcs.get(F.POSTED_INTR_DESC_ADDR!));
    expect(vapic).toBeLessThan(2 ** host.maxPhysAddr);
    expect(vapic % 4096).toBe(0);
    expect(pid % 4096).toBe(0x40);
    expect(b.vmcs.lo(F.POSTED_INTR_NV!)).toBe(POSTED_INTR_NESTED_VECTOR);
    expect(POSTED_INTR_NESTED_VECTOR).toBe(0xf0);
  });
});

describe("activity state: never copied, so its errors are missed, not late", () => {
  it("HLT with an injected #GP (SDM: not allowed in HLT) enters L2: the processor sees an active guest", () => {
    const e = vmcs12("v6.19", (x) => {
      x.vmcs.set(F.GUEST_ACTIVITY_STATE!, 1n);
      x.vmcs.set(F.VM_ENTRY_INTR_INFO_FIELD!, BigInt((1 << 31) | (1 << 11) | (3 << 8) | 13));
    });
    const r = run("v6.19", e);
    expect(r.architectural.violations.map((v) => v.id)).toEqual(["guest.activity.hlt-event"]);
    expect(r.detection).toBe("missed");
    expect(r.divergence?.id).toBe("activity-state-not-copied");
    expect(r.divergence?.source).toMatchObject({ tag: "v6.19", file: "arch/x86/kvm/vmx/nested.c" });
  });
  it("v5.0 refuses a shutdown activity state with VMfail(7), not exit 33", () => {
    const r = run(
      "v5.0",
      vmcs12("v5.0", (x) => x.vmcs.set(F.GUEST_ACTIVITY_STATE!, 2n)),
    );
    expect(r.architectural.outcome).toMatchObject({ type: "vmexit", reason: 33 });
    expect(r.toL1).toEqual({ type: "vmfail-valid", error: 7 });
    expect(r.faithful).toBe(false);
    expect(r.divergence?.id).toBe("activity-state-vmfail-7");
  });
});

describe("TSC multiplier merges the way KVM merges it", () => {
  const scaled = (offsetting: boolean) =>
    vmcs12("v6.6", (x) => {
      const v = x.vmcs;
      v.set(F.SECONDARY_VM_EXEC_CONTROL!, BigInt(v.lo(F.SECONDARY_VM_EXEC_CONTROL!) | PROC2.TSC_SCALING));
      const p = v.lo(F.CPU_BASED_VM_EXEC_CONTROL!);
      v.set(
        F.CPU_BASED_VM_EXEC_CONTROL!,
        BigInt(offsetting ? p | PROC.TSC_OFFSETTING : p & ~PROC.TSC_OFFSETTING),
      );
      v.set(F.TSC_MULTIPLIER!, 0n);
    });
  it("v6.6 without TSC offsetting: vmcs12's zero multiplier never reaches vmcs02 (missed)", () => {
    const r = run("v6.6", scaled(false));
    expect(r.architectural.outcome).toEqual({ type: "vmfail-valid", error: 7 });
    expect(r.detection).toBe("missed");
    expect(r.divergence?.id).toBe("tsc-multiplier-needs-offsetting");
  });
  it("v6.6 with TSC offsetting: the processor finds it at the real entry (late VMfail 7)", () => {
    const r = run("v6.6", scaled(true));
    expect(r.toL1).toEqual({ type: "vmfail-valid", error: 7 });
    expect(r.detection).toBe("late");
  });
  it("v6.19 checks it in software (its new CC)", () => {
    const r = run(
      "v6.19",
      vmcs12("v6.19", (x) => {
        const v = x.vmcs;
        v.set(F.SECONDARY_VM_EXEC_CONTROL!, BigInt(v.lo(F.SECONDARY_VM_EXEC_CONTROL!) | PROC2.TSC_SCALING));
        v.set(F.TSC_MULTIPLIER!, 0n);
      }),
    );
    expect(r.detection).toBe("early");
    expect(r.kernelCheck?.cc).toBe("!vmcs12->tsc_multiplier");
  });
  it("controls KVM never offers L1 are refused the way KVM refuses them (PT uses GPA: secondary allowed-1)", () => {
    const r = run(
      "v6.19",
      vmcs12("v6.19", (x) => {
        const v = x.vmcs;
        v.set(F.SECONDARY_VM_EXEC_CONTROL!, BigInt(v.lo(F.SECONDARY_VM_EXEC_CONTROL!) | PROC2.PT_USE_GPA));
      }),
    );
    expect(r.toL1).toEqual({ type: "vmfail-valid", error: 7 });
    expect(r.detection).toBe("early");
    expect(r.kernelCheck?.cc).toMatch(/secondary_vm_exec_control/);
  });
});

describe("an APIC-access page KVM cannot map", () => {
  const e = (k: "v6.19" | "v5.0") =>
    vmcs12(k, (x) => {
      const v = x.vmcs;
      v.set(
        F.SECONDARY_VM_EXEC_CONTROL!,
        BigInt(v.lo(F.SECONDARY_VM_EXEC_CONTROL!) | PROC2.VIRT_APIC_ACCESSES),
      );
      v.set(F.APIC_ACCESS_ADDR!, 0x80000000n); // 2 GiB, outside a 1 GiB L1
    });
  it("v6.19: KVM exits to userspace with an internal error; L1 sees nothing (not VMfail 7)", () => {
    const r = run("v6.19", e("v6.19"), { l1RamBytes: 2 ** 30 });
    expect(r.toL1.type).toBe("kvm-internal-error");
    expect(r.detection).toBe("internal-error");
    expect(r.divergence?.id).toBe("apic-access-unmapped");
  });
  it("the same page inside L1's RAM is mapped and L2 enters", () => {
    expect(run("v6.19", e("v6.19"), { l1RamBytes: 4 * 2 ** 30 }).detection).toBe("entered");
  });
  it("v5.0 clears virtualize APIC accesses in vmcs02 and enters", () => {
    const r = run("v5.0", e("v5.0"), { l1RamBytes: 2 ** 30 });
    expect(r.detection).toBe("entered");
    expect(r.trace.map((s) => s.what).join("\n")).toMatch(/virtualize APIC accesses cleared/);
  });
});

describe("the dry run enters the vmcs02 KVM has at that moment", () => {
  const y = { earlyCheck: { form: "merged" as const, nestedEarlyCheck: true } };
  it("a vCPU's first nested entry: stale TSC multiplier 0 fails the dry run of a valid vmcs12 (v6.18)", () => {
    const r = run("v6.18", vmcs12("v6.18"), { ...y, vmcs02: "fresh" });
    expect(r.architectural.outcome).toEqual({ type: "entered" });
    expect(r.toL1).toEqual({ type: "vmfail-valid", error: 7 });
    expect(r.detection).toBe("false-failure");
    expect(r.divergence?.id).toBe("dry-run-stale-vmcs02");
    expect(r.trace.find((s) => s.phase === "dry-run")?.what).toMatch(/^VMLAUNCH of vmcs02 \(never entered/);
  });
  it("a reused vmcs02 enters, and the first-entry case is a possible finding", () => {
    const r = run("v6.18", vmcs12("v6.18"), { ...y, vmcs02: "reused" });
    expect(r.detection).toBe("entered");
    expect(r.trace.find((s) => s.phase === "dry-run")?.what).toMatch(/^VMRESUME of vmcs02/);
    expect(r.possible?.[0]).toMatchObject({
      why: "unknown-field",
      outcome: { type: "vmfail-valid", error: 7 },
    });
    expect(r.possible?.[0]?.condition).toMatch(/first nested entry/);
    expect(r.possible?.[0]?.violations.map((v) => v.id)).toContain("ctl.exec.tsc-multiplier-nonzero");
  });
  it("the dry-run vmcs02 has GUEST_RFLAGS 0 and L0's MSR-load counts 0; guest state stale (0) when fresh", () => {
    const b = buildVmcs02({
      preset: kernelPreset("v6.18"),
      vmcs12: { ...vmcs12("v6.18"), caps: l1Of("v6.18") },
      host,
      env,
      l1Efer: 0xd01,
    });
    b.vmcs.set(F.VM_ENTRY_MSR_LOAD_COUNT!, 3n);
    const d = dryRunVmcs(b, "fresh");
    expect(d.get(F.GUEST_RFLAGS!)).toBe(0n);
    expect(d.get(F.VM_ENTRY_MSR_LOAD_COUNT!)).toBe(0n);
    expect(d.get(F.GUEST_CR0!)).toBe(0n);
    expect(d.get(F.TSC_MULTIPLIER!)).toBe(0n);
    expect(d.get(F.VMCS_LINK_POINTER!)).toBe(0xffffffffffffffffn);
  });
});

describe("the dry run's intended exit reads as a pass (issue 18)", () => {
  const y = { earlyCheck: { form: "merged" as const, nestedEarlyCheck: true } };
  it("a valid vmcs12: the dry-run step says it passes, never that VM entry fails", () => {
    const r = run("v6.18", vmcs12("v6.18"), y);
    expect(r.dryRun.hardware).toEqual({ type: "vmexit", reason: 33, qualification: 0 });
    const what = r.trace.find((s) => s.phase === "dry-run")!.what;
    expect(what).toMatch(
      /: passes — vmcs02's controls and host state are valid, and the entry stops at the intended invalid-RFLAGS exit \(reason 33\)$/,
    );
    expect(what).not.toMatch(/VM entry fails/);
  });
  it("a dry run that VMfails still says so", () => {
    const r = run("v6.18", vmcs12("v6.18"), { ...y, vmcs02: "fresh" });
    expect(r.trace.find((s) => s.phase === "dry-run")!.what).toMatch(/: VM entry fails: VMfailValid/);
  });
  it("a bad host-state field of vmcs12 never reaches the dry run: the watched vmcs02 carries L0's host state", () => {
    const bad = vmcs12("v6.18", (x) => x.vmcs.set(F.HOST_TR_SELECTOR!, 0n));
    const seen: { prepared?: bigint; dry?: bigint } = {};
    const r = runNested(
      { vmcs12: bad, host },
      { ...DEFAULT_CONFIG, l1RamBytes: ALL_RAM, kernel: "v6.18", softwareChecks: "none", ...y },
      {
        vmcs02: (b) => {
          seen.prepared = b.vmcs.get(F.HOST_TR_SELECTOR!);
        },
        dryRun: (v) => {
          seen.dry = v.get(F.HOST_TR_SELECTOR!);
        },
      },
    );
    expect(r.architectural.outcome).toEqual({ type: "vmfail-valid", error: 8 });
    expect(r.detection).toBe("missed");
    expect(seen.prepared).not.toBe(0n);
    expect(seen.dry).toBe(seen.prepared);
    // watching does not change the result
    expect(r).toEqual(run("v6.18", bad, { softwareChecks: "none", ...y }));
  });
});

describe("the parameter as merged, as described, and the proposal", () => {
  const e = vmcs12("v6.18");
  it("v6.18 by default (nested_early_check=N) has no dry run; Y has one", () => {
    expect(run("v6.18", e).dryRun).toMatchObject({
      performed: false,
      why: "nested_early_check=N (the default)",
    });
    expect(run("v6.18", e, { earlyCheck: { form: "merged", nestedEarlyCheck: true } }).dryRun.performed).toBe(
      true,
    );
  });
  it("as described: -1 runs it on bare metal only; the proposal skips it when software covers every VMFail rule", () => {
    const d = (x: Partial<typeof DEFAULT_CONFIG>) => run("v6.18", e, x).dryRun;
    const auto = { form: "described" as const, earlyConsistencyChecks: -1 as const };
    expect(d({ earlyCheck: auto, hypervisor: false }).performed).toBe(true);
    expect(d({ earlyCheck: auto, hypervisor: true }).performed).toBe(false);
    expect(d({ earlyCheck: auto, hypervisor: false, softwareChecks: "full" }).performed).toBe(true);
    const proposal = { ...auto, skipWhenComplete: true };
    expect(d({ earlyCheck: proposal, hypervisor: false, softwareChecks: "full" })).toMatchObject({
      performed: false,
      why: expect.stringMatching(/proposal/),
    });
    expect(d({ earlyCheck: proposal, hypervisor: false, softwareChecks: "kernel" }).performed).toBe(true);
  });
  it("v6.19 has no dry-run parameter and refuses one; warn_on_missed_cc is v6.19's alone", () => {
    expect(() => run("v6.19", e, { earlyCheck: { form: "merged", nestedEarlyCheck: true } })).toThrow(
      InputError,
    );
    expect(() => run("v6.18", e, { warnOnMissedCc: true })).toThrow(/warn_on_missed_cc/);
    expect(kernelPreset("v6.19").parameter).toMatchObject({ name: "warn_on_missed_cc", default: false });
    expect(kernelPreset("v6.18").parameter).toMatchObject({ name: "nested_early_check", default: false });
  });
  it("v6.19's warn_on_missed_cc adds the vTPR check in software", () => {
    const bad = vmcs12("v6.19", (x) => {
      x.vmcs.set(F.TPR_THRESHOLD!, 5n); // VTPR (byte 0x80 of the virtual-APIC page) is 0
    });
    expect(run("v6.19", bad).detection).toBe("late");
    const w = run("v6.19", bad, { warnOnMissedCc: true });
    expect(w.detection).toBe("early");
    expect(w.tracepoint).toEqual([
      "kvm_nested_vmenter_failed: (vmcs12->tpr_threshold & GENMASK(3, 0)) > (vtpr & GENMASK(3, 0))",
    ]);
  });
});

describe("software checks: each kernel's own, not a mix", () => {
  it("v6.19 does not check DS's accessed bit: the processor finds it (late exit 33)", () => {
    const r = run(
      "v6.19",
      vmcs12("v6.19", (x) => x.vmcs.set(F.GUEST_DS_AR_BYTES!, 0xc092n)),
    );
    expect(r.architectural.violations.map((v) => v.id)).toEqual(["guest.ds.type-accessed"]);
    expect(r.detectedBy).toBe("hardware");
    expect(r.detection).toBe("late");
  });
  it("v6.19's segment check accepts TR type 3 in IA-32e mode: the processor finds it (late)", () => {
    const r = run(
      "v6.19",
      vmcs12("v6.19", (x) => x.vmcs.set(F.GUEST_TR_AR_BYTES!, 0x83n)),
    );
    expect(r.architectural.violations.map((v) => v.id)).toEqual(["guest.tr.type"]);
    expect(r.detectedBy).toBe("hardware");
  });
  it("v6.19 checks TR in software when it is unusable (an SDM rule the processor would find too)", () => {
    const r = run(
      "v6.19",
      vmcs12("v6.19", (x) => x.vmcs.set(F.GUEST_TR_AR_BYTES!, 0x1008bn)),
    );
    expect(r.detection).toBe("early");
    expect(r.kernelCheck?.cc).toBe("from_vmentry && !vmx_guest_state_valid(vcpu)");
  });
  it("v5.0 checks no host selector: a zero host TR selector is missed", () => {
    const r = run(
      "v5.0",
      vmcs12("v5.0", (x) => x.vmcs.set(F.HOST_TR_SELECTOR!, 0n)),
    );
    expect(r.architectural.outcome).toEqual({ type: "vmfail-valid", error: 8 });
    expect(r.detection).toBe("missed");
    expect(r.divergences?.map((d) => d.id) ?? [r.divergence?.id]).toContain("no-host-segment-checks");
  });
});

describe("known kernel divergences are labelled with their source", () => {
  it("no load-debug-controls: vmcs02 keeps L1's DEBUGCTL, so the BS rule is checked on a value vmcs12 never held", () => {
    const e = vmcs12("v6.19", (x) => {
      const v = x.vmcs;
      v.set(F.VM_ENTRY_CONTROLS!, BigInt(v.lo(F.VM_ENTRY_CONTROLS!) & ~ENTRY.LOAD_DEBUG));
      v.set(F.GUEST_IA32_DEBUGCTL!, 2n); // BTF
      v.set(F.GUEST_RFLAGS!, 0x302n); // TF, IF
      v.set(F.GUEST_INTERRUPTIBILITY_INFO!, 1n); // blocking by STI
    });
    const r = run("v6.19", e);
    expect(r.architectural.outcome).toEqual({ type: "entered" });
    expect(r.detection).toBe("false-failure");
    expect(r.divergence).toMatchObject({ kernel: "v6.19", id: "debug-controls-from-l1" });
    expect(r.divergence?.source.lines).toEqual([2713, 2721]);
  });
});

describe("cost: a nested L0's dry run exits to the level below", () => {
  it("under a hypervisor the dry run costs a round trip plus an emulated entry; on bare metal a round trip plus bookkeeping", () => {
    const e = vmcs12("v6.18");
    const y = { earlyCheck: { form: "merged" as const, nestedEarlyCheck: true } };
    const c = DEFAULT_CONFIG.cost;
    expect(run("v6.18", e, { ...y, hypervisor: true }).cost.parts["dryRun"]).toBe(
      c.roundTrip + c.nestedEntryBase,
    );
    expect(run("v6.18", e, { ...y, hypervisor: false }).cost.parts["dryRun"]).toBe(
      c.roundTrip + c.dryRunExtra,
    );
  });
});

describe("the merge's guest-field tables come from the field table", () => {
  it("UINV and SPEC_CTRL are load-gated by their controls", () => {
    const by = new Map(FIELDS.map((f) => [f.name, f.loadedBy]));
    expect(by.get("GUEST_UINV")).toBe("LOAD_UINV");
    expect(by.get("GUEST_IA32_SPEC_CTRL")).toBe("LOAD_SPEC_CTRL");
  });
  it("every guest-state field of vmcs02 has a stated source", () => {
    const b = buildVmcs02({
      preset: kernelPreset("v6.19"),
      vmcs12: { ...vmcs12("v6.19"), caps: l1Of("v6.19") },
      host,
      env,
      l1Efer: 0xd01,
    });
    for (const f of GUEST_STATE_FIELDS) expect(b.guestSources.get(f.name), f.name).toBeDefined();
  });
  it("a vmcs12 asking to load UINV (a control KVM never offers) is refused early, not missed", () => {
    const r = run(
      "v6.19",
      vmcs12("v6.19", (x) => {
        const v = x.vmcs;
        v.set(F.VM_ENTRY_CONTROLS!, BigInt(v.lo(F.VM_ENTRY_CONTROLS!) | ENTRY.LOAD_UINV));
        v.set(F.GUEST_UINV!, 0x1234n);
      }),
    );
    expect(r.toL1).toEqual({ type: "vmfail-valid", error: 7 });
    expect(r.detection).toBe("early");
  });
});

describe("a vmcs12 IA32_DEBUGCTL bit L1's processor does not have (TR, bit 6: L1's WRMSR of it raises #GP)", () => {
  const tr = (k: "v6.6" | "v6.19") =>
    vmcs12(k, (x) => {
      x.vmcs.set(F.VM_ENTRY_CONTROLS!, BigInt(x.vmcs.lo(F.VM_ENTRY_CONTROLS!) | ENTRY.LOAD_DEBUG));
      x.vmcs.set(F.GUEST_IA32_DEBUGCTL!, 1n << 6n);
    });
  it("is exit 33 on L1's processor; v6.6 copies it to vmcs02 unchecked and the host processor, which has TR, enters L2", () => {
    const r = run("v6.6", tr("v6.6"));
    expect(r.architectural.violations.map((v) => v.id)).toEqual(["guest.debugctl.reserved-bits"]);
    expect(r.architectural.outcome).toEqual({ type: "vmexit", reason: 33, qualification: 0 });
    expect(r.toL1).toEqual({ type: "entered" });
    expect(r.detection).toBe("missed");
  });
  it("v6.19 refuses it in software (vmx_is_valid_debugctl, since 095686e6fcb4): the architecture's exit 33, early", () => {
    const r = run("v6.19", tr("v6.19"));
    expect(r.toL1).toEqual({ type: "vmexit", reason: 33, qualification: 0 });
    expect(r.detection).toBe("early");
    expect(r.faithful).toBe(true);
    expect(r.divergence).toBeUndefined();
  });
});
