/**
 * vmcs02 as KVM builds it from vmcs01 and vmcs12 (prepare_vmcs02_early, nested_get_vmcs12_pages,
 * prepare_vmcs02: each preset's `merge.sources` cites the lines; v6.19 arch/x86/kvm/vmx/nested.c unless said):
 * which controls vmcs12 decides and which L0 forces, the fields L0 owns, L1's pages, the guest state KVM
 * computes, and the vmcs02 the dry run enters.
 */
import { describe, expect, it } from "vitest";
import { ENTRY, PIN, PROC, PROC2 } from "../../src/arch/controls.js";
import { F } from "../../src/arch/fields.js";
import { CR0, CR4, EFER } from "../../src/arch/registers.js";
import { builtinData, builtinProfile } from "../../src/cpu/builtin.js";
import { type Caps, decodeProfile } from "../../src/cpu/profile.js";
import type { Entry } from "../../src/entry/document.js";
import { ALL_RAM, DEFAULT_CONFIG } from "../../src/nested/config.js";
import type { KernelId } from "../../src/nested/kernel.js";
import { kernelPreset } from "../../src/nested/kernels/index.js";
import { runNested } from "../../src/nested/l0.js";
import {
  buildVmcs02,
  DEFAULT_TSC_RATIO,
  dryRunVmcs,
  GUEST_STATE_FIELDS,
  guestFieldSource,
  HPA_BASE,
  L0_EFER,
  L0_EPTP,
  MappedMemory,
  type Vmcs02,
  VPID01,
  VPID02,
  vmcs01For,
} from "../../src/nested/merge.js";
import { Memory } from "../../src/vmcs/memory.js";
import { host, vmcs12 } from "./helpers.js";

const backedBelow = (top: number) => ({
  warnOnMissedCc: false,
  backed: (gpa: number) => gpa >= 0 && gpa < top,
});

function build(
  k: KernelId,
  edit?: (e: Entry) => void,
  opts: { h?: Caps; top?: number; l1Efer?: number } = {},
): Vmcs02 {
  const h = opts.h ?? host;
  return buildVmcs02({
    preset: kernelPreset(k),
    vmcs12: vmcs12(k, edit, h),
    host: h,
    env: backedBelow(opts.top ?? 2 ** 52),
    l1Efer: opts.l1Efer ?? L0_EFER,
  });
}

const lo = (b: Vmcs02, name: string) => b.vmcs.lo(F[name]!);
const or = (e: Entry, name: string, bits: number) =>
  e.vmcs.setHalves(F[name]!, (e.vmcs.lo(F[name]!) | bits) >>> 0, e.vmcs.hi(F[name]!));
const clear = (e: Entry, name: string, bits: number) =>
  e.vmcs.setHalves(F[name]!, (e.vmcs.lo(F[name]!) & ~bits) >>> 0, e.vmcs.hi(F[name]!));
const effect = (b: Vmcs02, id: string) => b.effects.find((x) => x.id === id);

describe("controls: what vmcs12 decides and what L0 forces (prepare_vmcs02_early)", () => {
  it("the VMX-preemption timer is emulated with a host timer: cleared in vmcs02", () => {
    const b = build("v6.19", (e) => or(e, "PIN_BASED_VM_EXEC_CONTROL", PIN.PREEMPTION_TIMER));
    expect(lo(b, "PIN_BASED_VM_EXEC_CONTROL") & PIN.PREEMPTION_TIMER).toBe(0);
    expect(b.notes).toContain("VMX-preemption timer: emulated with a host timer (cleared in vmcs02)");
    expect(build("v6.19").notes).toEqual([]);
  });
  it("TPR shadow from vmcs12 with its threshold; without it, CR8 loads and stores exit", () => {
    const withTpr = build("v6.19", (e) => e.vmcs.set(F.TPR_THRESHOLD!, 3n));
    expect(lo(withTpr, "CPU_BASED_VM_EXEC_CONTROL") & PROC.TPR_SHADOW).toBe(PROC.TPR_SHADOW);
    expect(lo(withTpr, "TPR_THRESHOLD")).toBe(3);
    expect(lo(withTpr, "CPU_BASED_VM_EXEC_CONTROL") & (PROC.CR8_LOAD | PROC.CR8_STORE)).toBe(0);
    const without = build("v6.19", (e) => {
      clear(e, "CPU_BASED_VM_EXEC_CONTROL", PROC.TPR_SHADOW);
      e.vmcs.set(F.TPR_THRESHOLD!, 3n);
    });
    expect(
      lo(without, "CPU_BASED_VM_EXEC_CONTROL") & (PROC.TPR_SHADOW | PROC.CR8_LOAD | PROC.CR8_STORE),
    ).toBe(PROC.CR8_LOAD | PROC.CR8_STORE);
    expect(lo(without, "TPR_THRESHOLD")).toBe(0);
    expect(effect(without, "controls-added-by-l0")?.fields).toContain("CPU_BASED_VM_EXEC_CONTROL");
  });
  it("I/O: every access exits unconditionally (KVM emulates L1's I/O bitmaps); interrupt/NMI windows are vmcs12's", () => {
    const b = build("v6.19", (e) => {
      or(e, "CPU_BASED_VM_EXEC_CONTROL", PROC.USE_IO_BITMAPS);
      clear(e, "CPU_BASED_VM_EXEC_CONTROL", PROC.UNCOND_IO | PROC.INTR_WINDOW | PROC.NMI_WINDOW);
    });
    const p = lo(b, "CPU_BASED_VM_EXEC_CONTROL");
    expect(p & (PROC.USE_IO_BITMAPS | PROC.UNCOND_IO)).toBe(PROC.UNCOND_IO);
    expect(p & (PROC.INTR_WINDOW | PROC.NMI_WINDOW)).toBe(0);
    const w = build("v6.19", (e) => or(e, "CPU_BASED_VM_EXEC_CONTROL", PROC.INTR_WINDOW));
    expect(lo(w, "CPU_BASED_VM_EXEC_CONTROL") & PROC.INTR_WINDOW).toBe(PROC.INTR_WINDOW);
  });
  it("MSR bitmaps only when vmcs12 uses them (else every MSR access exits)", () => {
    expect(lo(build("v6.19"), "CPU_BASED_VM_EXEC_CONTROL") & PROC.USE_MSR_BITMAPS).toBe(PROC.USE_MSR_BITMAPS);
    const b = build("v6.19", (e) => clear(e, "CPU_BASED_VM_EXEC_CONTROL", PROC.USE_MSR_BITMAPS));
    expect(lo(b, "CPU_BASED_VM_EXEC_CONTROL") & PROC.USE_MSR_BITMAPS).toBe(0);
  });
  it("secondary: PML and VMCS shadowing emulated (cleared, with a note); unrestricted guest only when vmcs12 asks", () => {
    const b = build("v6.19", (e) => or(e, "SECONDARY_VM_EXEC_CONTROL", PROC2.SHADOW_VMCS));
    expect(lo(b, "SECONDARY_VM_EXEC_CONTROL") & (PROC2.PML | PROC2.SHADOW_VMCS)).toBe(0);
    expect(b.notes).toContain("PML and VMCS shadowing: emulated by L0, cleared in vmcs02");
    // vmcs01 runs L1 as an unrestricted guest; vmcs12 does not ask for it
    expect(vmcs01For(host).lo(F.SECONDARY_VM_EXEC_CONTROL!) & PROC2.UNRESTRICTED_GUEST).not.toBe(0);
    expect(lo(build("v6.19"), "SECONDARY_VM_EXEC_CONTROL") & PROC2.UNRESTRICTED_GUEST).toBe(0);
    const ug = build("v6.19", (e) => or(e, "SECONDARY_VM_EXEC_CONTROL", PROC2.UNRESTRICTED_GUEST));
    expect(lo(ug, "SECONDARY_VM_EXEC_CONTROL") & PROC2.UNRESTRICTED_GUEST).toBe(PROC2.UNRESTRICTED_GUEST);
    // L0's TSC scaling stays; the controls vmcs12 alone decides (e.g. RDTSCP) follow vmcs12
    expect(lo(build("v6.19"), "SECONDARY_VM_EXEC_CONTROL") & PROC2.TSC_SCALING).toBe(PROC2.TSC_SCALING);
    const noRdtscp = build("v6.19", (e) => clear(e, "SECONDARY_VM_EXEC_CONTROL", 1 << 3));
    expect(lo(noRdtscp, "SECONDARY_VM_EXEC_CONTROL") & (1 << 3)).toBe(0);
  });
  it("vmcs12 without secondary controls: its secondary word is ignored, L0's own secondary controls stay active", () => {
    const b = build("v6.19", (e) => {
      clear(e, "CPU_BASED_VM_EXEC_CONTROL", PROC.SECONDARY);
      or(e, "SECONDARY_VM_EXEC_CONTROL", PROC2.UNRESTRICTED_GUEST);
    });
    expect(lo(b, "CPU_BASED_VM_EXEC_CONTROL") & PROC.SECONDARY).toBe(PROC.SECONDARY);
    expect(lo(b, "SECONDARY_VM_EXEC_CONTROL") & (PROC2.UNRESTRICTED_GUEST | PROC2.VPID | PROC2.EPT)).toBe(
      PROC2.EPT | PROC2.VPID,
    );
    // L2 then runs with L1's own VPID
    expect(lo(b, "VIRTUAL_PROCESSOR_ID")).toBe(VPID01);
  });
  it("UMIP emulated on a host without it: descriptor-table exiting forced, CR4.UMIP cleared in vmcs02", () => {
    const skl = builtinProfile("skylake");
    const umip = (e: Entry) => or(e, "GUEST_CR4", CR4.UMIP);
    const b = build("v6.19", umip, { h: skl });
    expect(lo(b, "SECONDARY_VM_EXEC_CONTROL") & PROC2.DESC_EXITING).toBe(PROC2.DESC_EXITING);
    expect(lo(b, "GUEST_CR4") & CR4.UMIP).toBe(0);
    expect(effect(b, "cr0-cr4-forced-bits")?.fields).toContain("GUEST_CR4");
    expect(lo(build("v6.19", undefined, { h: skl }), "SECONDARY_VM_EXEC_CONTROL") & PROC2.DESC_EXITING).toBe(
      0,
    );
    const native = build("v6.19", umip);
    expect(lo(native, "SECONDARY_VM_EXEC_CONTROL") & PROC2.DESC_EXITING).toBe(0);
    expect(lo(native, "GUEST_CR4") & CR4.UMIP).toBe(CR4.UMIP);
  });
  it("entry: load PERF_GLOBAL_CTRL is done by KVM's PMU emulation, not by vmcs02", () => {
    const b = build("v6.19", (e) => or(e, "VM_ENTRY_CONTROLS", ENTRY.LOAD_PERF_GLOBAL_CTRL));
    expect(lo(b, "VM_ENTRY_CONTROLS") & ENTRY.LOAD_PERF_GLOBAL_CTRL).toBe(0);
    expect(effect(b, "perf-global-ctrl-by-l0")?.fields).toEqual(["GUEST_IA32_PERF_GLOBAL_CTRL"]);
    expect(effect(build("v6.19"), "perf-global-ctrl-by-l0")).toBeUndefined();
  });
  it("exit controls are L0's (vmcs12's are emulated); L0 adds its own control bits", () => {
    const b = build("v6.19");
    expect(effect(b, "exit-controls-by-l0")?.fields).toEqual(["VM_EXIT_CONTROLS"]);
    expect(effect(b, "controls-added-by-l0")?.fields).toEqual([
      "CPU_BASED_VM_EXEC_CONTROL",
      "SECONDARY_VM_EXEC_CONTROL",
    ]);
    // vmcs12 asking for every pin-based control L0 uses: nothing added there
    expect(lo(b, "PIN_BASED_VM_EXEC_CONTROL")).toBe(vmcs12("v6.19").vmcs.lo(F.PIN_BASED_VM_EXEC_CONTROL!));
    const lessPin = build("v6.19", (e) =>
      clear(e, "PIN_BASED_VM_EXEC_CONTROL", PIN.NMI_EXITING | PIN.VIRTUAL_NMIS),
    );
    expect(effect(lessPin, "controls-added-by-l0")?.fields).toContain("PIN_BASED_VM_EXEC_CONTROL");
  });
});

describe("IA32_EFER: KVM computes L2's and loads it only when it differs from L0's", () => {
  it("vmcs12's EFER under load-EFER; entry and exit load EFER only when L2's differs from L0's", () => {
    const same = build("v6.19");
    expect(lo(same, "GUEST_IA32_EFER")).toBe(L0_EFER);
    expect(lo(same, "VM_ENTRY_CONTROLS") & (ENTRY.LOAD_EFER | ENTRY.IA32E_GUEST)).toBe(ENTRY.IA32E_GUEST);
    expect(lo(same, "VM_EXIT_CONTROLS") & (1 << 21)).toBe(0);
    const noNx = build("v6.19", (e) => e.vmcs.set(F.GUEST_IA32_EFER!, 0x501n));
    expect(lo(noNx, "GUEST_IA32_EFER")).toBe(0x501);
    expect(lo(noNx, "VM_ENTRY_CONTROLS") & ENTRY.LOAD_EFER).toBe(ENTRY.LOAD_EFER);
    expect(lo(noNx, "VM_EXIT_CONTROLS") & (1 << 21)).toBe(1 << 21);
    expect(effect(noNx, "efer-computed")).toBeUndefined();
  });
  it("without load-EFER: L1's EFER with LMA/LME from the IA-32e mode guest control", () => {
    const b = build(
      "v6.19",
      (e) => {
        clear(e, "VM_ENTRY_CONTROLS", ENTRY.LOAD_EFER);
        e.vmcs.set(F.GUEST_IA32_EFER!, 0n);
      },
      { l1Efer: 0x801 },
    );
    expect(lo(b, "GUEST_IA32_EFER")).toBe(0x801 | EFER.LMA | EFER.LME);
    expect(effect(b, "efer-computed")?.fields).toEqual(["GUEST_IA32_EFER", "VM_ENTRY_CONTROLS"]);
    const legacy = build("v6.19", (e) => clear(e, "VM_ENTRY_CONTROLS", ENTRY.LOAD_EFER | ENTRY.IA32E_GUEST), {
      l1Efer: L0_EFER,
    });
    expect(lo(legacy, "GUEST_IA32_EFER")).toBe(L0_EFER & ~(EFER.LMA | EFER.LME));
    expect(lo(legacy, "VM_ENTRY_CONTROLS") & ENTRY.IA32E_GUEST).toBe(0);
  });
  it("LME without LMA (paging off) is dropped from vmcs02's EFER", () => {
    const b = build("v6.19", (e) => e.vmcs.set(F.GUEST_IA32_EFER!, BigInt(0xd01 & ~EFER.LMA)));
    expect(lo(b, "GUEST_IA32_EFER")).toBe(0xd01 & ~(EFER.LMA | EFER.LME));
    expect(lo(b, "VM_ENTRY_CONTROLS") & ENTRY.IA32E_GUEST).toBe(0);
  });
  it("a host without VM-entry load IA32_EFER: IA-32e mode guest is still set from L2's EFER.LMA, and a valid vmcs12 enters", () => {
    // v6.19 arch/x86/kvm/vmx/vmx.c vmx_set_efer sets or clears VM_ENTRY_IA32E_MODE whatever the CPU; without
    // the load-EFER controls KVM switches EFER through the MSR-load lists (add_atomic_switch_msr)
    const d = structuredClone(builtinData("sapphirerapids")!);
    d.name = "spr-no-load-efer";
    for (const [k, bit] of [
      ["IA32_VMX_ENTRY_CTLS", 15n],
      ["IA32_VMX_TRUE_ENTRY_CTLS", 15n],
      ["IA32_VMX_EXIT_CTLS", 21n],
      ["IA32_VMX_TRUE_EXIT_CTLS", 21n],
    ] as const)
      d.msrs[k] = `0x${(BigInt(d.msrs[k]!) & ~(1n << (32n + bit))).toString(16)}`;
    const h = decodeProfile(d, d.name);
    const b = build("v6.19", (e) => e.vmcs.set(F.GUEST_IA32_EFER!, 0x501n), { h });
    expect(lo(b, "VM_ENTRY_CONTROLS") & (ENTRY.IA32E_GUEST | ENTRY.LOAD_EFER)).toBe(ENTRY.IA32E_GUEST);
    expect(lo(b, "VM_EXIT_CONTROLS") & (1 << 21)).toBe(0);
    const r = runNested(
      { vmcs12: vmcs12("v6.19", undefined, h), host: h },
      { ...DEFAULT_CONFIG, l1RamBytes: ALL_RAM },
    );
    expect(r.architectural.outcome).toEqual({ type: "entered" });
    expect(r.toL1).toEqual({ type: "entered" });
  });
  it("a high half in vmcs12's EFER never reaches vmcs02", () => {
    const b = build("v6.19", (e) => e.vmcs.setHalves(F.GUEST_IA32_EFER!, 0xd01, 1));
    expect(b.vmcs.hi(F.GUEST_IA32_EFER!)).toBe(0);
    expect(effect(b, "efer-computed")).toBeDefined();
  });
});

describe("fields L0 owns (prepare_vmcs02_constant_state, prepare_vmcs02_early_rare)", () => {
  it("VPID: vpid02 when vmcs12 enables VPID, else L1's own; EPT pointer and link pointer L0's", () => {
    const b = build("v6.19", (e) => e.vmcs.set(F.VIRTUAL_PROCESSOR_ID!, 7n));
    expect(lo(b, "VIRTUAL_PROCESSOR_ID")).toBe(VPID02);
    expect(lo(b, "EPT_POINTER")).toBe(L0_EPTP);
    expect(b.vmcs.get(F.VMCS_LINK_POINTER!)).toBe(0xffffffffffffffffn);
    const noVpid = build("v6.19", (e) => clear(e, "SECONDARY_VM_EXEC_CONTROL", PROC2.VPID));
    expect(lo(noVpid, "VIRTUAL_PROCESSOR_ID")).toBe(VPID01);
    expect(effect(b, "l0-owned-fields")?.fields).toEqual(
      expect.arrayContaining(["VIRTUAL_PROCESSOR_ID", "EPT_POINTER", "GUEST_PML_INDEX", "POSTED_INTR_NV"]),
    );
  });
  it("vmcs12's MSR lists, I/O bitmaps, CR3 targets, VM functions never reach vmcs02", () => {
    const b = build("v6.19", (e) => {
      e.vmcs.set(F.VM_ENTRY_MSR_LOAD_COUNT!, 2n);
      e.vmcs.set(F.VM_EXIT_MSR_STORE_ADDR!, 0x5000n);
      e.vmcs.set(F.IO_BITMAP_A!, 0x6000n);
      e.vmcs.set(F.CR3_TARGET_COUNT!, 1n);
      e.vmcs.set(F.MSR_BITMAP!, 0x7000n);
    });
    const v01 = vmcs01For(host);
    for (const f of ["VM_ENTRY_MSR_LOAD_COUNT", "VM_EXIT_MSR_STORE_ADDR", "IO_BITMAP_A", "CR3_TARGET_COUNT"])
      expect(b.vmcs.get(F[f]!), f).toBe(v01.get(F[f]!));
    expect(lo(b, "MSR_BITMAP")).toBe(0x12000);
    expect(effect(b, "l0-owned-fields")?.fields).toEqual(
      expect.arrayContaining([
        "VM_ENTRY_MSR_LOAD_COUNT",
        "VM_EXIT_MSR_STORE_ADDR",
        "IO_BITMAP_A",
        "CR3_TARGET_COUNT",
        "MSR_BITMAP",
      ]),
    );
  });
  it("the pending event vmcs12 injects goes to vmcs02 as it is", () => {
    const info = (1 << 31) | (3 << 8) | (1 << 11) | 13;
    const b = build("v6.19", (e) => {
      e.vmcs.set(F.VM_ENTRY_INTR_INFO_FIELD!, BigInt(info >>> 0));
      e.vmcs.set(F.VM_ENTRY_EXCEPTION_ERROR_CODE!, 0x18n);
      e.vmcs.set(F.VM_ENTRY_INSTRUCTION_LEN!, 2n);
    });
    expect(lo(b, "VM_ENTRY_INTR_INFO_FIELD")).toBe(info >>> 0);
    expect(lo(b, "VM_ENTRY_EXCEPTION_ERROR_CODE")).toBe(0x18);
    expect(lo(b, "VM_ENTRY_INSTRUCTION_LEN")).toBe(2);
  });
});

describe("L1's pages KVM cannot map (nested_get_vmcs12_pages)", () => {
  const top = 2 ** 32;
  const vapicAbove = (e: Entry) => e.vmcs.set(F.VIRTUAL_APIC_PAGE_ADDR!, BigInt(top));
  it("virtual-APIC page: with CR8 exiting and no APIC-access virtualization, v6.x clears the TPR shadow", () => {
    const b = build(
      "v6.19",
      (e) => {
        vapicAbove(e);
        or(e, "CPU_BASED_VM_EXEC_CONTROL", PROC.CR8_LOAD | PROC.CR8_STORE);
      },
      { top },
    );
    expect(lo(b, "CPU_BASED_VM_EXEC_CONTROL") & PROC.TPR_SHADOW).toBe(0);
    expect(effect(b, "virtual-apic-unmapped")?.fields).toEqual(["CPU_BASED_VM_EXEC_CONTROL"]);
  });
  it("otherwise (and always in v5.0) an all-ones virtual-APIC address makes the processor fail the entry", () => {
    for (const [k, cr8] of [
      ["v6.19", 0],
      ["v6.19", PROC.CR8_LOAD],
      ["v6.19", PROC.CR8_STORE],
      ["v5.0", PROC.CR8_LOAD | PROC.CR8_STORE],
    ] as const) {
      const b = build(
        k,
        (e) => {
          vapicAbove(e);
          or(e, "CPU_BASED_VM_EXEC_CONTROL", cr8);
        },
        { top },
      );
      expect(b.vmcs.get(F.VIRTUAL_APIC_PAGE_ADDR!), `${k} ${cr8}`).toBe(0xffffffffffffffffn);
      expect(lo(b, "CPU_BASED_VM_EXEC_CONTROL") & PROC.TPR_SHADOW, `${k} ${cr8}`).toBe(PROC.TPR_SHADOW);
      expect(effect(b, "virtual-apic-unmapped")?.fields).toEqual(["VIRTUAL_APIC_PAGE_ADDR"]);
    }
    // with APIC-access virtualization the TPR shadow is used even with CR8 exiting
    const apic = build(
      "v6.19",
      (e) => {
        vapicAbove(e);
        or(e, "CPU_BASED_VM_EXEC_CONTROL", PROC.CR8_LOAD | PROC.CR8_STORE);
        or(e, "SECONDARY_VM_EXEC_CONTROL", PROC2.VIRT_APIC_ACCESSES);
        e.vmcs.set(F.APIC_ACCESS_ADDR!, 0x9000n);
      },
      { top },
    );
    expect(apic.vmcs.get(F.VIRTUAL_APIC_PAGE_ADDR!)).toBe(0xffffffffffffffffn);
  });
  it("posted-interrupt descriptor: v6.x clears posted interrupts in vmcs02; v5.0 keeps the old address", () => {
    const pi = (e: Entry) => {
      or(e, "PIN_BASED_VM_EXEC_CONTROL", PIN.POSTED_INTR);
      e.vmcs.set(F.POSTED_INTR_DESC_ADDR!, BigInt(top + 0x40));
    };
    const v6 = build("v6.19", pi, { top });
    expect(lo(v6, "PIN_BASED_VM_EXEC_CONTROL") & PIN.POSTED_INTR).toBe(0);
    expect(effect(v6, "pi-desc-unmapped")?.fields).toEqual(["PIN_BASED_VM_EXEC_CONTROL"]);
    const v5 = build("v5.0", pi, { top });
    expect(lo(v5, "PIN_BASED_VM_EXEC_CONTROL") & PIN.POSTED_INTR).toBe(PIN.POSTED_INTR);
    expect(v5.vmcs.get(F.POSTED_INTR_DESC_ADDR!)).toBe(0n);
    expect(effect(v5, "pi-desc-unmapped")?.fields).toEqual(["POSTED_INTR_DESC_ADDR"]);
  });
  it("APIC-access page: mapped to a host page at the page's start; v5.0 clears the control when it cannot", () => {
    const aa = (addr: number) => (e: Entry) => {
      or(e, "SECONDARY_VM_EXEC_CONTROL", PROC2.VIRT_APIC_ACCESSES);
      e.vmcs.set(F.APIC_ACCESS_ADDR!, BigInt(addr));
    };
    const ok = build("v6.19", aa(0x9000), { top });
    expect(ok.vmcs.get(F.APIC_ACCESS_ADDR!) % 4096n).toBe(0n);
    expect(ok.vmcs.get(F.APIC_ACCESS_ADDR!) >= BigInt(HPA_BASE)).toBe(true);
    expect(ok.internalError).toBeUndefined();
    const v5 = build("v5.0", aa(top), { top });
    expect(lo(v5, "SECONDARY_VM_EXEC_CONTROL") & PROC2.VIRT_APIC_ACCESSES).toBe(0);
    expect(effect(v5, "apic-access-unmapped")?.fields).toEqual([
      "APIC_ACCESS_ADDR",
      "SECONDARY_VM_EXEC_CONTROL",
    ]);
    const v6 = build("v6.19", aa(top), { top });
    expect(v6.internalError).toBe(
      `no memory backs the APIC-access page at 0x${top.toString(16)}: KVM exits to userspace with KVM_EXIT_INTERNAL_ERROR`,
    );
  });
});

describe("guest state (prepare_vmcs02_rare, prepare_vmcs02)", () => {
  it("a field this release's vmcs12 lacks keeps L0's value; a load-gated field without its control is L1's", () => {
    const spec = GUEST_STATE_FIELDS.find((f) => f.name === "GUEST_IA32_SPEC_CTRL")!;
    const pat = GUEST_STATE_FIELDS.find((f) => f.name === "GUEST_IA32_PAT")!;
    const cs = GUEST_STATE_FIELDS.find((f) => f.name === "GUEST_CS_SELECTOR")!;
    expect(guestFieldSource(kernelPreset("v5.0"), spec, 0xffffffff)).toBe("l0");
    expect(guestFieldSource(kernelPreset("v6.19"), pat, ENTRY.LOAD_PAT)).toBe("vmcs12");
    expect(guestFieldSource(kernelPreset("v6.19"), pat, 0)).toBe("l1");
    expect(guestFieldSource(kernelPreset("v6.19"), cs, 0)).toBe("vmcs12");
    const b = build("v6.19", (e) => {
      clear(e, "VM_ENTRY_CONTROLS", ENTRY.LOAD_PAT);
      e.vmcs.set(F.GUEST_IA32_PAT!, 0x0606060606060606n);
    });
    expect(b.vmcs.get(F.GUEST_IA32_PAT!)).toBe(vmcs01For(host).get(F.GUEST_IA32_PAT!));
    expect(b.guestSources.get("GUEST_IA32_PAT")).toBe("l1");
    expect(b.guestSources.get("GUEST_CS_SELECTOR")).toBe("vmcs12");
  });
  it("the guest interrupt status only with virtual-interrupt delivery", () => {
    const b = build("v6.19", (e) => e.vmcs.set(F.GUEST_INTR_STATUS!, 0x3030n));
    expect(b.guestSources.get("GUEST_INTR_STATUS")).toBe("l0");
    expect(lo(b, "GUEST_INTR_STATUS")).toBe(0);
  });
  it("CR0: CD and NW always off, NE always on (vmx_set_cr0); the effect names the field", () => {
    const b = build("v6.19", (e) => {
      or(e, "GUEST_CR0", CR0.CD | CR0.NW);
      clear(e, "GUEST_CR0", CR0.NE);
    });
    expect(lo(b, "GUEST_CR0") & (CR0.CD | CR0.NW | CR0.NE)).toBe(CR0.NE);
    expect(effect(b, "cr0-cr4-forced-bits")?.fields).toEqual(["GUEST_CR0"]);
    expect(effect(build("v6.19"), "cr0-cr4-forced-bits")).toBeUndefined();
    const noMce = build("v6.19", (e) => clear(e, "GUEST_CR4", CR4.MCE));
    expect(lo(noMce, "GUEST_CR4") & (CR4.MCE | CR4.VMXE)).toBe(CR4.MCE | CR4.VMXE);
    expect(effect(noMce, "cr0-cr4-forced-bits")?.fields).toEqual(["GUEST_CR4"]);
  });
  it("DR7 and DEBUGCTL from vmcs12 with load-debug-controls; DR7 bits 63:32 refused (kvm_set_dr)", () => {
    const hiDr7 = build("v6.19", (e) => {
      or(e, "VM_ENTRY_CONTROLS", ENTRY.LOAD_DEBUG);
      e.vmcs.setHalves(F.GUEST_DR7!, 0x401, 1);
    });
    expect(hiDr7.vmcs.get(F.GUEST_DR7!)).toBe(vmcs01For(host).get(F.GUEST_DR7!));
    expect(effect(hiDr7, "dr7-refused")?.fields).toEqual(["GUEST_DR7"]);
    expect(hiDr7.guestSources.get("GUEST_DR7")).toBe("l1");
    const dr7 = build("v6.19", (e) => {
      or(e, "VM_ENTRY_CONTROLS", ENTRY.LOAD_DEBUG);
      e.vmcs.set(F.GUEST_DR7!, 0x403n);
    });
    expect(dr7.vmcs.get(F.GUEST_DR7!)).toBe(0x403n);
    expect(dr7.guestSources.get("GUEST_DR7")).toBe("vmcs12");
    expect(effect(dr7, "dr7-refused")).toBeUndefined();
  });
  it("DEBUGCTL masked to what KVM virtualizes from v6.18; copied as it is before", () => {
    const bits = (e: Entry) => {
      or(e, "VM_ENTRY_CONTROLS", ENTRY.LOAD_DEBUG);
      e.vmcs.set(F.GUEST_IA32_DEBUGCTL!, 0x1003n); // LBR, BTF and FREEZE_LBRS_ON_PMI
    };
    const v618 = build("v6.18", bits);
    expect(v618.guestSources.get("GUEST_IA32_DEBUGCTL")).toBe("computed");
    expect(v618.vmcs.get(F.GUEST_IA32_DEBUGCTL!)).not.toBe(0x1003n);
    expect(effect(v618, "debugctl-masked")?.fields).toEqual(["GUEST_IA32_DEBUGCTL"]);
    const v66 = build("v6.6", bits);
    expect(v66.vmcs.get(F.GUEST_IA32_DEBUGCTL!)).toBe(0x1003n);
    expect(v66.guestSources.get("GUEST_IA32_DEBUGCTL")).toBe("vmcs12");
    // no load-debug-controls: L1's DR7 and DEBUGCTL stay, and the effect names only the fields that differ
    const keep = build("v6.19", (e) => {
      clear(e, "VM_ENTRY_CONTROLS", ENTRY.LOAD_DEBUG);
      e.vmcs.set(F.GUEST_DR7!, 0x403n);
    });
    expect(effect(keep, "debug-controls-from-l1")?.fields).toEqual(["GUEST_DR7"]);
    expect(effect(build("v6.19"), "debug-controls-from-l1")).toBeUndefined();
  });
  it("PDPTEs of a PAE L2 without nested EPT are loaded from L1's memory at CR3; with EPT they are vmcs12's", () => {
    const pae = (ept: boolean) => (e: Entry) => {
      clear(e, "VM_ENTRY_CONTROLS", ENTRY.IA32E_GUEST | ENTRY.LOAD_EFER);
      or(e, "GUEST_CR4", CR4.PAE);
      if (!ept) clear(e, "SECONDARY_VM_EXEC_CONTROL", PROC2.EPT);
      e.vmcs.set(F.GUEST_CR3!, 0x5010n);
      for (let i = 0; i < 4; i++) {
        e.memory.write64(0x5000 + 8 * i, BigInt(0x1001 + 0x1000 * i));
        e.vmcs.set(F[`GUEST_PDPTR${i}`]!, 0x77n);
      }
    };
    const shadow = build("v6.19", pae(false));
    for (let i = 0; i < 4; i++) {
      expect(shadow.vmcs.get(F[`GUEST_PDPTR${i}`]!), `PDPTE${i}`).toBe(BigInt(0x1001 + 0x1000 * i));
      expect(shadow.guestSources.get(`GUEST_PDPTR${i}`)).toBe("computed");
    }
    const nested = build("v6.19", pae(true));
    for (let i = 0; i < 4; i++) expect(nested.vmcs.get(F[`GUEST_PDPTR${i}`]!)).toBe(0x77n);
  });
  it("TSC multiplier: vmcs12's with TSC offsetting and scaling, else L1's ratio", () => {
    const m = (e: Entry) => {
      or(e, "SECONDARY_VM_EXEC_CONTROL", PROC2.TSC_SCALING);
      e.vmcs.set(F.TSC_MULTIPLIER!, 3n << 48n);
    };
    const both = build("v6.19", (e) => {
      m(e);
      or(e, "CPU_BASED_VM_EXEC_CONTROL", PROC.TSC_OFFSETTING);
    });
    expect(both.vmcs.get(F.TSC_MULTIPLIER!)).toBe(3n << 48n);
    const noOff = build("v6.19", (e) => {
      m(e);
      clear(e, "CPU_BASED_VM_EXEC_CONTROL", PROC.TSC_OFFSETTING);
    });
    expect(noOff.vmcs.get(F.TSC_MULTIPLIER!)).toBe(DEFAULT_TSC_RATIO);
    expect(effect(noOff, "tsc-multiplier-needs-offsetting")?.fields).toEqual(["TSC_MULTIPLIER"]);
    const unused = build("v6.19", (e) => clear(e, "CPU_BASED_VM_EXEC_CONTROL", PROC.TSC_OFFSETTING));
    expect(unused.vmcs.get(F.TSC_MULTIPLIER!)).toBe(DEFAULT_TSC_RATIO);
    expect(effect(unused, "tsc-multiplier-needs-offsetting")).toBeUndefined();
  });
});

describe("the vmcs02 the dry run enters", () => {
  it("reused: the previous entry's guest state (assumed this vmcs12's); fresh: zeros but for the early fields", () => {
    const b = build("v6.19", (e) => {
      e.vmcs.set(F.GUEST_INTERRUPTIBILITY_INFO!, 1n);
      e.vmcs.set(F.GUEST_RIP!, 0x1234n);
    });
    const reused = dryRunVmcs(b, "reused");
    expect(reused.get(F.GUEST_RIP!)).toBe(0x1234n);
    expect(reused.get(F.GUEST_CR0!)).toBe(b.vmcs.get(F.GUEST_CR0!));
    expect(reused.get(F.TSC_MULTIPLIER!)).toBe(b.vmcs.get(F.TSC_MULTIPLIER!));
    expect(reused.get(F.GUEST_RFLAGS!)).toBe(0n);
    const fresh = dryRunVmcs(b, "fresh");
    expect(fresh.get(F.GUEST_RIP!)).toBe(0n);
    expect(fresh.get(F.GUEST_INTERRUPTIBILITY_INFO!)).toBe(1n);
    expect(fresh.get(F.GUEST_PML_INDEX!)).toBe(0xffffn);
    expect(fresh.get(F.VM_EXIT_MSR_LOAD_COUNT!)).toBe(0n);
    // the vmcs02 of the real entry is not changed by either
    expect(b.vmcs.get(F.GUEST_RIP!)).toBe(0x1234n);
  });
});

describe("MappedMemory: L1's pages as the processor reads them through vmcs02", () => {
  it("each L1 page gets its own host page, in order of first use; reads go through to L1's memory", () => {
    const l1 = new Memory();
    l1.write32(0x9010, 0xdeadbeef);
    l1.write8(0x20003, 0x5a);
    const m = new MappedMemory(l1);
    expect(m.map(0x9010)).toBe(HPA_BASE + 0x10);
    expect(m.map(0x20003)).toBe(HPA_BASE + 4096 + 3);
    expect(m.map(0x9ff0)).toBe(HPA_BASE + 0xff0);
    expect(m.read32(HPA_BASE + 0x10)).toBe(0xdeadbeef);
    expect(m.read8(HPA_BASE + 4096 + 3)).toBe(0x5a);
    // an unmapped host page reads 0
    expect(m.read32(HPA_BASE + 2 * 4096)).toBe(0);
    expect(m.read8(0x9010)).toBe(0);
  });
});

describe("what the merge says in the trace (nvmx nested prints these lines)", () => {
  it("the steps for the base state and for one with many kernel behaviours at once", () => {
    const merge = (r: ReturnType<typeof runNested>) =>
      r.trace.filter((s) => s.phase === "merge").map((s) => s.what);
    const cfg = { ...DEFAULT_CONFIG, l1RamBytes: ALL_RAM };
    const prepared = "vmcs02 prepared: L0's host state and owned fields, controls merged, L1's pages mapped";
    const common = [
      "vmcs12's VM-exit controls are emulated; vmcs02 has L0's (VM_EXIT_CONTROLS)",
      "L0's own control bits are ORed into vmcs02 (CPU_BASED_VM_EXEC_CONTROL, SECONDARY_VM_EXEC_CONTROL)",
      "L0's values replace vmcs12's (VIRTUAL_PROCESSOR_ID, EPT_POINTER, GUEST_PML_INDEX, POSTED_INTR_NV)",
    ];
    expect(merge(runNested({ vmcs12: vmcs12("v6.19"), host }, cfg))).toEqual([prepared, ...common]);
    const many = vmcs12("v6.18", (e) => {
      or(e, "VM_ENTRY_CONTROLS", ENTRY.LOAD_PERF_GLOBAL_CTRL);
      or(e, "PIN_BASED_VM_EXEC_CONTROL", PIN.PREEMPTION_TIMER);
      e.vmcs.set(F.GUEST_IA32_DEBUGCTL!, 0x1003n);
      e.vmcs.setHalves(F.GUEST_DR7!, 0x400, 1);
      or(e, "GUEST_CR0", CR0.CD | CR0.NW);
      e.vmcs.set(F.GUEST_ACTIVITY_STATE!, 1n);
      e.vmcs.setHalves(F.GUEST_IA32_EFER!, 0xd01, 1);
    });
    expect(merge(runNested({ vmcs12: many, host }, { ...cfg, kernel: "v6.18" }))).toEqual([
      prepared,
      "VMX-preemption timer: emulated with a host timer (cleared in vmcs02)",
      "load IA32_PERF_GLOBAL_CTRL from vmcs12 is done by KVM's PMU emulation, not by vmcs02 (GUEST_IA32_PERF_GLOBAL_CTRL)",
      ...common,
      "L2 is entered active; KVM emulates the activity state (GUEST_ACTIVITY_STATE)",
      "KVM's always-on/always-off CR bits (GUEST_CR0)",
      "vmcs02's EFER computed by KVM (GUEST_IA32_EFER, VM_ENTRY_CONTROLS)",
      "kvm_set_dr refuses DR7 bits 63:32; vmcs02 keeps its previous DR7 (GUEST_DR7)",
      "IA32_DEBUGCTL masked to the bits KVM supports (GUEST_IA32_DEBUGCTL)",
    ]);
  });
  it("the page and TSC effects say what KVM did", () => {
    const top = 2 ** 32;
    const what = (b: Vmcs02, id: string) => effect(b, id)?.what;
    const vapic = build("v6.19", (e) => e.vmcs.set(F.VIRTUAL_APIC_PAGE_ADDR!, BigInt(top)), { top });
    expect(what(vapic, "virtual-apic-unmapped")).toBe(
      "vmcs02 gets an all-ones virtual-APIC address so that the processor fails the entry",
    );
    const cleared = build(
      "v6.19",
      (e) => {
        e.vmcs.set(F.VIRTUAL_APIC_PAGE_ADDR!, BigInt(top));
        or(e, "CPU_BASED_VM_EXEC_CONTROL", PROC.CR8_LOAD | PROC.CR8_STORE);
      },
      { top },
    );
    expect(what(cleared, "virtual-apic-unmapped")).toBe(
      "TPR shadow cleared in vmcs02 (CR8 accesses exit anyway)",
    );
    const pi = (e: Entry) => {
      or(e, "PIN_BASED_VM_EXEC_CONTROL", PIN.POSTED_INTR);
      e.vmcs.set(F.POSTED_INTR_DESC_ADDR!, BigInt(top));
    };
    expect(what(build("v6.19", pi, { top }), "pi-desc-unmapped")).toBe("posted interrupts cleared in vmcs02");
    expect(what(build("v5.0", pi, { top }), "pi-desc-unmapped")).toBe(
      "vmcs02 keeps its previous descriptor address (0 on a fresh vmcs02)",
    );
    const aa = build(
      "v6.19",
      (e) => {
        or(e, "SECONDARY_VM_EXEC_CONTROL", PROC2.VIRT_APIC_ACCESSES);
        e.vmcs.set(F.APIC_ACCESS_ADDR!, BigInt(top));
      },
      { top },
    );
    expect(effect(aa, "apic-access-unmapped")).toEqual({
      id: "apic-access-unmapped",
      fields: ["APIC_ACCESS_ADDR"],
      what: "internal error to userspace",
    });
    const tsc = build("v6.19", (e) => {
      or(e, "SECONDARY_VM_EXEC_CONTROL", PROC2.TSC_SCALING);
      e.vmcs.set(F.TSC_MULTIPLIER!, 5n);
      clear(e, "CPU_BASED_VM_EXEC_CONTROL", PROC.TSC_OFFSETTING);
    });
    expect(what(tsc, "tsc-multiplier-needs-offsetting")).toBe(
      "vmcs12's multiplier ignored without TSC offsetting",
    );
  });
  it("a page vmcs12 does not use is never mapped, however bad its address", () => {
    const top = 2 ** 32;
    const b = build(
      "v6.19",
      (e) => {
        clear(e, "CPU_BASED_VM_EXEC_CONTROL", PROC.TPR_SHADOW);
        clear(e, "SECONDARY_VM_EXEC_CONTROL", PROC2.VIRT_APIC_ACCESSES);
        clear(e, "PIN_BASED_VM_EXEC_CONTROL", PIN.POSTED_INTR);
        e.vmcs.set(F.APIC_ACCESS_ADDR!, BigInt(top));
        e.vmcs.set(F.VIRTUAL_APIC_PAGE_ADDR!, BigInt(top));
        e.vmcs.set(F.POSTED_INTR_DESC_ADDR!, BigInt(top));
      },
      { top },
    );
    expect(b.internalError).toBeUndefined();
    expect(b.effects.map((x) => x.id)).not.toContain("virtual-apic-unmapped");
    expect(b.effects.map((x) => x.id)).not.toContain("pi-desc-unmapped");
    expect(b.effects.map((x) => x.id)).not.toContain("apic-access-unmapped");
  });
  it("APIC-access and virtual-APIC pages are mapped at their page: an offset in vmcs12's address is dropped", () => {
    const b = build("v6.19", (e) => {
      or(e, "SECONDARY_VM_EXEC_CONTROL", PROC2.VIRT_APIC_ACCESSES);
      e.vmcs.set(F.APIC_ACCESS_ADDR!, 0x9010n);
      e.vmcs.set(F.VIRTUAL_APIC_PAGE_ADDR!, 0xa020n);
    });
    const aa = Number(b.vmcs.get(F.APIC_ACCESS_ADDR!));
    const va = Number(b.vmcs.get(F.VIRTUAL_APIC_PAGE_ADDR!));
    expect([aa % 4096, va % 4096]).toEqual([0, 0]);
    expect((b.memory as MappedMemory).map(0x9000)).toBe(aa);
    expect((b.memory as MappedMemory).map(0xa000)).toBe(va);
  });
  it("virtual-interrupt delivery: the guest interrupt status is vmcs12's", () => {
    const b = build("v6.19", (e) => {
      or(e, "SECONDARY_VM_EXEC_CONTROL", PROC2.VID);
      e.vmcs.set(F.GUEST_INTR_STATUS!, 0x3030n);
    });
    expect(lo(b, "GUEST_INTR_STATUS")).toBe(0x3030);
  });
  it("the L0-owned fields named are exactly those vmcs12 had otherwise, a high half counting", () => {
    const b = build("v6.19", (e) => e.vmcs.setHalves(F.MSR_BITMAP!, 0x12000, 1));
    expect(effect(b, "l0-owned-fields")?.fields).toEqual([
      "VIRTUAL_PROCESSOR_ID",
      "EPT_POINTER",
      "GUEST_PML_INDEX",
      "POSTED_INTR_NV",
      "MSR_BITMAP",
    ]);
  });
  it("DEBUGCTL masked only when KVM drops a bit; L1's DR7/DEBUGCTL named only where vmcs12's differ", () => {
    const none = build("v6.18", (e) => {
      or(e, "VM_ENTRY_CONTROLS", ENTRY.LOAD_DEBUG);
      e.vmcs.set(F.GUEST_IA32_DEBUGCTL!, 0n);
    });
    expect(effect(none, "debugctl-masked")).toBeUndefined();
    const dbg = build("v6.19", (e) => {
      clear(e, "VM_ENTRY_CONTROLS", ENTRY.LOAD_DEBUG);
      e.vmcs.set(F.GUEST_IA32_DEBUGCTL!, 1n);
    });
    expect(effect(dbg, "debug-controls-from-l1")?.fields).toEqual(["GUEST_IA32_DEBUGCTL"]);
    expect(effect(dbg, "debug-controls-from-l1")?.what).toBe("vmcs02 keeps L1's DR7 and IA32_DEBUGCTL");
    const same = build("v6.19", (e) => clear(e, "VM_ENTRY_CONTROLS", ENTRY.LOAD_DEBUG));
    expect(effect(same, "debug-controls-from-l1")).toBeUndefined();
  });
});
