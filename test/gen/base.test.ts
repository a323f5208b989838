/**
 * The base state (src/gen/base.ts): a 64-bit Linux-like guest and host with the controls a KVM-like hypervisor
 * uses, each restricted to what the profile allows (allowed-1 bits kept, allowed-0 bits forced), CR0/CR4 with
 * the profile's fixed bits, EFER.NXE only where execute-disable exists. Every test and the generator start from
 * it, so it must pass every check on every profile, including profiles that force or forbid what it wants.
 */
import { describe, expect, it } from "vitest";
import { ENTRY, EXIT, PIN, PROC, PROC2 } from "../../src/arch/controls.js";
import { builtinNames, builtinProfile } from "../../src/cpu/builtin.js";
import type { Caps, ProfileData } from "../../src/cpu/profile.js";
import { serializeEntry } from "../../src/entry/document.js";
import { failingChecksReference } from "../../src/entry/evaluate.js";
import { contextOf } from "../../src/entry/run.js";
import { baseEntry, baseVmcs, LINUX } from "../../src/gen/base.js";
import { profileAll } from "../helpers.js";

const failing = (caps: Caps) => failingChecksReference(contextOf(baseEntry(caps))).map((c) => c.id);
const field = (caps: Caps, name: string) => baseVmcs(caps).getByName(name);
const ctl = (caps: Caps, name: string) => Number(field(caps, name));

/** Edit a 64-bit capability MSR of the profile data: set and clear bits of its value. */
function msr(d: ProfileData, name: string, set: bigint, clear: bigint): void {
  const msrs = d.msrs as Record<string, string>;
  const v = (BigInt(msrs[name] ?? "0") | set) & ~clear;
  msrs[name] = `0x${v.toString(16)}`;
}

describe("baseEntry", () => {
  it("passes every check (reference evaluation) on every built-in profile, as a 64-bit guest", () => {
    for (const name of builtinNames()) {
      const caps = builtinProfile(name);
      expect(failing(caps), name).toEqual([]);
      expect(ctl(caps, "VM_ENTRY_CONTROLS") & ENTRY.IA32E_GUEST, name).toBe(ENTRY.IA32E_GUEST);
      const e = baseEntry(caps);
      expect(e.cpu).toBe(name);
      expect(e.caps).toBe(caps);
      expect(e.memory.entries64()).toEqual([]);
    }
  });

  it("is the documented Linux-like state on a profile that allows everything (pinned)", () => {
    const caps = profileAll();
    expect(failing(caps)).toEqual([]);
    const doc = serializeEntry(baseEntry(caps));
    expect(doc.processor).toBeUndefined();
    expect(doc.vmcs).toMatchInlineSnapshot(`
      {
        "CPU_BASED_VM_EXEC_CONTROL": "0x962061f2",
        "CR0_GUEST_HOST_MASK": "0xfffffffffffffff7",
        "CR0_READ_SHADOW": "0x80050033",
        "CR4_GUEST_HOST_MASK": "0xfffffffffffef871",
        "EPT_POINTER": "0x1401e",
        "EXCEPTION_BITMAP": "0x60042",
        "GUEST_CR0": "0x80050033",
        "GUEST_CR3": "0x2000000",
        "GUEST_CR4": "0x726e0",
        "GUEST_CS_AR_BYTES": "0xa09b",
        "GUEST_CS_LIMIT": "0xffffffff",
        "GUEST_CS_SELECTOR": "0x10",
        "GUEST_DR7": "0x400",
        "GUEST_DS_AR_BYTES": "0xc093",
        "GUEST_DS_LIMIT": "0xffffffff",
        "GUEST_DS_SELECTOR": "0x18",
        "GUEST_ES_AR_BYTES": "0xc093",
        "GUEST_ES_LIMIT": "0xffffffff",
        "GUEST_ES_SELECTOR": "0x18",
        "GUEST_FS_AR_BYTES": "0x1c000",
        "GUEST_FS_BASE": "0x7f1234560000",
        "GUEST_GDTR_BASE": "0xfffffe0000001000",
        "GUEST_GDTR_LIMIT": "0x7f",
        "GUEST_GS_AR_BYTES": "0x1c000",
        "GUEST_GS_BASE": "0xffff88807fc00000",
        "GUEST_IA32_EFER": "0xd01",
        "GUEST_IA32_PAT": "0x7040600070406",
        "GUEST_IDTR_BASE": "0xfffffe0000000000",
        "GUEST_IDTR_LIMIT": "0xfff",
        "GUEST_LDTR_AR_BYTES": "0x10000",
        "GUEST_RFLAGS": "0x2",
        "GUEST_RIP": "0xffffffff81000000",
        "GUEST_RSP": "0xffffc90000003f00",
        "GUEST_SS_AR_BYTES": "0xc093",
        "GUEST_SS_LIMIT": "0xffffffff",
        "GUEST_SS_SELECTOR": "0x18",
        "GUEST_SYSENTER_EIP": "0xffffffff81a01000",
        "GUEST_SYSENTER_ESP": "0xfffffe0000003000",
        "GUEST_TR_AR_BYTES": "0x8b",
        "GUEST_TR_BASE": "0xfffffe0000003000",
        "GUEST_TR_LIMIT": "0x4087",
        "GUEST_TR_SELECTOR": "0x40",
        "HOST_CR0": "0x80050033",
        "HOST_CR3": "0x1000000",
        "HOST_CR4": "0x726e0",
        "HOST_CS_SELECTOR": "0x10",
        "HOST_FS_BASE": "0x7f0000000000",
        "HOST_GDTR_BASE": "0xfffffe0000001000",
        "HOST_GS_BASE": "0xffff888000000000",
        "HOST_IA32_EFER": "0xd01",
        "HOST_IA32_PAT": "0x7040600070406",
        "HOST_IA32_SYSENTER_EIP": "0xffffffff81a01000",
        "HOST_IA32_SYSENTER_ESP": "0xfffffe0000003000",
        "HOST_IDTR_BASE": "0xfffffe0000000000",
        "HOST_RIP": "0xffffffff8100a000",
        "HOST_RSP": "0xffffc90000103f00",
        "HOST_SS_SELECTOR": "0x18",
        "HOST_TR_BASE": "0xfffffe0000003000",
        "HOST_TR_SELECTOR": "0x40",
        "IO_BITMAP_A": "0x10000",
        "IO_BITMAP_B": "0x11000",
        "MSR_BITMAP": "0x12000",
        "PIN_BASED_VM_EXEC_CONTROL": "0x3f",
        "SECONDARY_VM_EXEC_CONTROL": "0x2a",
        "VIRTUAL_APIC_PAGE_ADDR": "0x13000",
        "VIRTUAL_PROCESSOR_ID": "0x1",
        "VMCS_LINK_POINTER": "0xffffffffffffffff",
        "VM_ENTRY_CONTROLS": "0xd3ff",
        "VM_EXIT_CONTROLS": "0x3feffb",
      }
    `);
  });

  it("asks for the KVM-like controls, and gets exactly those the profile allows plus those it forces", () => {
    const caps = profileAll();
    const c = caps.ctl;
    const want = {
      pin: PIN.EXT_INTR | PIN.NMI_EXITING | PIN.VIRTUAL_NMIS,
      proc: PROC.HLT | PROC.TPR_SHADOW | PROC.USE_MSR_BITMAPS | PROC.USE_IO_BITMAPS | PROC.SECONDARY,
      proc2: PROC2.EPT | PROC2.VPID | (1 << 3),
      exit:
        EXIT.HOST_ADDR_SPACE_SIZE |
        EXIT.ACK_INTR |
        EXIT.LOAD_PAT |
        EXIT.SAVE_PAT |
        EXIT.LOAD_EFER |
        EXIT.SAVE_EFER,
      entry: ENTRY.IA32E_GUEST | ENTRY.LOAD_DEBUG | ENTRY.LOAD_PAT | ENTRY.LOAD_EFER,
    };
    expect(ctl(caps, "PIN_BASED_VM_EXEC_CONTROL")).toBe(((want.pin & c.pin.may1) | c.pin.must1) >>> 0);
    expect(ctl(caps, "CPU_BASED_VM_EXEC_CONTROL")).toBe(((want.proc & c.proc.may1) | c.proc.must1) >>> 0);
    expect(ctl(caps, "SECONDARY_VM_EXEC_CONTROL")).toBe(((want.proc2 & c.proc2.may1) | c.proc2.must1) >>> 0);
    expect(ctl(caps, "VM_EXIT_CONTROLS")).toBe(((want.exit & c.exit.may1) | c.exit.must1) >>> 0);
    expect(ctl(caps, "VM_ENTRY_CONTROLS")).toBe(((want.entry & c.entry.may1) | c.entry.must1) >>> 0);
    // the profile allows all of it: every wanted bit is there
    expect(ctl(caps, "SECONDARY_VM_EXEC_CONTROL") & want.proc2).toBe(want.proc2);
    expect(field(caps, "VIRTUAL_PROCESSOR_ID")).toBe(1n);
    expect(field(caps, "EPT_POINTER")).toBe(0x1401en);
  });

  it("forces the allowed-0 settings a profile requires and drops the bits it forbids", () => {
    // a CPU that requires CR3-load exiting and forbids NMI exiting and "load IA32_PAT" on exit
    const caps = profileAll((d) => {
      msr(d, "IA32_VMX_TRUE_PROCBASED_CTLS", BigInt(PROC.CR3_LOAD), 0n);
      msr(d, "IA32_VMX_PROCBASED_CTLS", BigInt(PROC.CR3_LOAD), 0n);
      msr(d, "IA32_VMX_TRUE_PINBASED_CTLS", 0n, BigInt(PIN.NMI_EXITING | PIN.VIRTUAL_NMIS) << 32n);
      msr(d, "IA32_VMX_PINBASED_CTLS", 0n, BigInt(PIN.NMI_EXITING | PIN.VIRTUAL_NMIS) << 32n);
      msr(d, "IA32_VMX_TRUE_EXIT_CTLS", 0n, BigInt(EXIT.LOAD_PAT) << 32n);
      msr(d, "IA32_VMX_EXIT_CTLS", 0n, BigInt(EXIT.LOAD_PAT) << 32n);
    });
    expect(failing(caps)).toEqual([]);
    expect(ctl(caps, "CPU_BASED_VM_EXEC_CONTROL") & PROC.CR3_LOAD).toBe(PROC.CR3_LOAD);
    expect(ctl(caps, "PIN_BASED_VM_EXEC_CONTROL") & (PIN.NMI_EXITING | PIN.VIRTUAL_NMIS)).toBe(0);
    expect(ctl(caps, "PIN_BASED_VM_EXEC_CONTROL") & PIN.EXT_INTR).toBe(PIN.EXT_INTR);
    expect(ctl(caps, "VM_EXIT_CONTROLS") & EXIT.LOAD_PAT).toBe(0);
    expect(ctl(caps, "VM_EXIT_CONTROLS") & EXIT.SAVE_PAT).toBe(EXIT.SAVE_PAT);
  });

  it("without secondary controls: no EPT, no VPID, and their fields stay 0", () => {
    const caps = profileAll((d) => {
      msr(d, "IA32_VMX_PROCBASED_CTLS", 0n, BigInt(PROC.SECONDARY) << 32n);
      msr(d, "IA32_VMX_TRUE_PROCBASED_CTLS", 0n, BigInt(PROC.SECONDARY) << 32n);
    });
    expect(failing(caps)).toEqual([]);
    expect(ctl(caps, "CPU_BASED_VM_EXEC_CONTROL") & PROC.SECONDARY).toBe(0);
    expect(ctl(caps, "SECONDARY_VM_EXEC_CONTROL")).toBe(0);
    expect(field(caps, "VIRTUAL_PROCESSOR_ID")).toBe(0n);
    expect(field(caps, "EPT_POINTER")).toBe(0n);
  });

  it("uses EPT only with a 4-level walk and write-back EPT structures; VPID only where allowed", () => {
    const PWL4 = 1n << 6n;
    const WB = 1n << 14n;
    for (const clear of [PWL4, WB]) {
      const caps = profileAll((d) => msr(d, "IA32_VMX_EPT_VPID_CAP", 0n, clear));
      expect(failing(caps)).toEqual([]);
      expect(ctl(caps, "SECONDARY_VM_EXEC_CONTROL") & PROC2.EPT).toBe(0);
      expect(ctl(caps, "SECONDARY_VM_EXEC_CONTROL") & PROC2.VPID).toBe(PROC2.VPID);
      expect(field(caps, "EPT_POINTER")).toBe(0n);
    }
    const noVpid = profileAll((d) => msr(d, "IA32_VMX_PROCBASED_CTLS2", 0n, BigInt(PROC2.VPID) << 32n));
    expect(failing(noVpid)).toEqual([]);
    expect(ctl(noVpid, "SECONDARY_VM_EXEC_CONTROL") & PROC2.VPID).toBe(0);
    expect(field(noVpid, "VIRTUAL_PROCESSOR_ID")).toBe(0n);
    expect(field(noVpid, "EPT_POINTER")).toBe(0x1401en);
  });

  it("applies the profile's CR0/CR4 fixed bits to the Linux values, in host and guest alike", () => {
    const SMEP = 1n << 20n;
    const OSXSAVE = 1n << 18n;
    const caps = profileAll((d) => {
      msr(d, "IA32_VMX_CR4_FIXED0", SMEP, 0n); // SMEP forced on
      msr(d, "IA32_VMX_CR4_FIXED1", 0n, OSXSAVE); // OSXSAVE not allowed
      msr(d, "IA32_VMX_CR0_FIXED0", 1n << 5n, 0n);
    });
    expect(failing(caps)).toEqual([]);
    const cr4 = (BigInt(LINUX.cr4) | SMEP) & ~OSXSAVE;
    expect(field(caps, "HOST_CR4")).toBe(cr4);
    expect(field(caps, "GUEST_CR4")).toBe(cr4);
    expect(field(caps, "HOST_CR0")).toBe(BigInt(LINUX.cr0));
    expect(field(caps, "GUEST_CR0")).toBe(BigInt(LINUX.cr0));
    expect(field(caps, "CR0_READ_SHADOW")).toBe(BigInt(LINUX.cr0));
  });

  it("sets EFER.NXE only where execute-disable exists", () => {
    const caps = profileAll((d) => {
      // CPUID.80000001H:EDX[20] (execute disable) clear
      const leaf = d.cpuid?.["0x80000001"];
      if (!leaf || Array.isArray(leaf)) throw new Error("profile-all has one CPUID leaf 0x80000001");
      leaf.edx = `0x${(Number(leaf.edx) & ~(1 << 20)).toString(16)}`;
    });
    expect(caps.eferValidLo).toBe(0x501);
    expect(failing(caps)).toEqual([]);
    expect(field(caps, "HOST_IA32_EFER")).toBe(0x501n);
    expect(field(caps, "GUEST_IA32_EFER")).toBe(0x501n);
    expect(field(profileAll(), "HOST_IA32_EFER")).toBe(0xd01n);
  });
});
