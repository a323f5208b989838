/**
 * A realistic valid starting state for a profile: a 64-bit Linux-like guest and host, with the controls a
 * KVM-like hypervisor uses, restricted to what the profile allows. Tests and the generator start from here.
 */
import { ENTRY, EXIT, PIN, PROC, PROC2 } from "../arch/controls.js";
import { EPT_CAP } from "../arch/msrs.js";
import type { Caps } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import { DEFAULT_PROCESSOR } from "../entry/processor.js";
import { Memory } from "../vmcs/memory.js";
import { Vmcs } from "../vmcs/store.js";

/** Bits from `want` the profile allows, plus the bits it requires. */
function legal(want: number, must1: number, may1: number): number {
  return ((want & may1) | must1) >>> 0;
}

export const LINUX = {
  cr0: 0x80050033, // PG AM WP NE ET MP PE
  cr4: 0x000726e0, // PAE PGE OSFXSR OSXMMEXCPT VMXE FSGSBASE PCIDE OSXSAVE
  efer: 0xd01, // NXE LMA LME SCE
  pat: 0x0007040600070406n,
} as const;

export function baseVmcs(caps: Caps): Vmcs {
  const v = new Vmcs();
  const s = (name: string, value: bigint | number) => v.setByName(name, BigInt(value));
  const c = caps.ctl;
  const pin = legal(PIN.EXT_INTR | PIN.NMI_EXITING | PIN.VIRTUAL_NMIS, c.pin.must1, c.pin.may1);
  const procWant = PROC.HLT | PROC.TPR_SHADOW | PROC.USE_MSR_BITMAPS | PROC.USE_IO_BITMAPS | PROC.SECONDARY;
  const proc = legal(procWant, c.proc.must1, c.proc.may1);
  const eptOk = (caps.eptCap & EPT_CAP.PWL4) !== 0 && (caps.eptCap & EPT_CAP.WB) !== 0;
  const proc2 =
    proc & PROC.SECONDARY
      ? legal((eptOk ? PROC2.EPT : 0) | PROC2.VPID | (1 << 3), c.proc2.must1, c.proc2.may1)
      : 0;
  const exit = legal(
    EXIT.HOST_ADDR_SPACE_SIZE |
      EXIT.ACK_INTR |
      EXIT.LOAD_PAT |
      EXIT.SAVE_PAT |
      EXIT.LOAD_EFER |
      EXIT.SAVE_EFER,
    c.exit.must1,
    c.exit.may1,
  );
  const entry = legal(
    ENTRY.IA32E_GUEST | ENTRY.LOAD_DEBUG | ENTRY.LOAD_PAT | ENTRY.LOAD_EFER,
    c.entry.must1,
    c.entry.may1,
  );
  s("PIN_BASED_VM_EXEC_CONTROL", pin);
  s("CPU_BASED_VM_EXEC_CONTROL", proc);
  s("SECONDARY_VM_EXEC_CONTROL", proc2);
  s("VM_EXIT_CONTROLS", exit);
  s("VM_ENTRY_CONTROLS", entry);
  s("EXCEPTION_BITMAP", 0x60042);
  s("IO_BITMAP_A", 0x10000);
  s("IO_BITMAP_B", 0x11000);
  s("MSR_BITMAP", 0x12000);
  s("VIRTUAL_APIC_PAGE_ADDR", 0x13000);
  s("TPR_THRESHOLD", 0);
  if (proc2 & PROC2.VPID) s("VIRTUAL_PROCESSOR_ID", 1);
  // EPTP: WB memory type (6), 4-level walk (3 << 3), PML4 at 0x14000 (SDM 25.6.11)
  if (proc2 & PROC2.EPT) s("EPT_POINTER", 0x14000 | (3 << 3) | 6);
  s("CR0_GUEST_HOST_MASK", 0xfffffffffffffff7n);
  s("CR4_GUEST_HOST_MASK", 0xfffffffffffef871n);
  s("CR0_READ_SHADOW", LINUX.cr0);

  // Host state: a 64-bit Linux kernel (SDM 29.2.2–29.2.4).
  const hostCr0 = ((LINUX.cr0 | caps.cr0Fixed0) & caps.cr0Fixed1) >>> 0;
  const hostCr4 = ((LINUX.cr4 | caps.cr4Fixed0) & caps.cr4Fixed1) >>> 0;
  s("HOST_CR0", hostCr0);
  s("HOST_CR3", 0x1000000);
  s("HOST_CR4", hostCr4);
  s("HOST_CS_SELECTOR", 0x10);
  s("HOST_SS_SELECTOR", 0x18);
  s("HOST_DS_SELECTOR", 0);
  s("HOST_ES_SELECTOR", 0);
  s("HOST_FS_SELECTOR", 0);
  s("HOST_GS_SELECTOR", 0);
  s("HOST_TR_SELECTOR", 0x40);
  s("HOST_FS_BASE", 0x7f0000000000n);
  s("HOST_GS_BASE", 0xffff888000000000n);
  s("HOST_TR_BASE", 0xfffffe0000003000n);
  s("HOST_GDTR_BASE", 0xfffffe0000001000n);
  s("HOST_IDTR_BASE", 0xfffffe0000000000n);
  s("HOST_IA32_SYSENTER_ESP", 0xfffffe0000003000n);
  s("HOST_IA32_SYSENTER_EIP", 0xffffffff81a01000n);
  s("HOST_RSP", 0xffffc90000103f00n);
  s("HOST_RIP", 0xffffffff8100a000n);
  s("HOST_IA32_PAT", LINUX.pat);
  // EFER.NXE only where execute-disable exists (src/cpu/facts.ts `eferValidLo`).
  const efer = LINUX.efer & caps.eferValidLo;
  s("HOST_IA32_EFER", efer);

  // Guest state: a 64-bit Linux guest (SDM 29.3.1).
  s("GUEST_CR0", ((LINUX.cr0 | caps.cr0Fixed0) & caps.cr0Fixed1) >>> 0);
  s("GUEST_CR3", 0x2000000);
  s("GUEST_CR4", hostCr4);
  s("GUEST_DR7", 0x400);
  s("GUEST_IA32_DEBUGCTL", 0);
  s("GUEST_IA32_PAT", LINUX.pat);
  s("GUEST_IA32_EFER", efer);
  s("GUEST_CS_SELECTOR", 0x10);
  s("GUEST_CS_LIMIT", 0xffffffff);
  s("GUEST_CS_AR_BYTES", 0xa09b);
  for (const seg of ["SS", "DS", "ES"]) {
    s(`GUEST_${seg}_SELECTOR`, 0x18);
    s(`GUEST_${seg}_LIMIT`, 0xffffffff);
    s(`GUEST_${seg}_AR_BYTES`, 0xc093);
  }
  s("GUEST_FS_AR_BYTES", 0x1c000);
  s("GUEST_GS_AR_BYTES", 0x1c000);
  s("GUEST_FS_BASE", 0x7f1234560000n);
  s("GUEST_GS_BASE", 0xffff88807fc00000n);
  s("GUEST_LDTR_AR_BYTES", 0x10000);
  s("GUEST_TR_SELECTOR", 0x40);
  s("GUEST_TR_BASE", 0xfffffe0000003000n);
  s("GUEST_TR_LIMIT", 0x4087);
  s("GUEST_TR_AR_BYTES", 0x8b);
  s("GUEST_GDTR_BASE", 0xfffffe0000001000n);
  s("GUEST_GDTR_LIMIT", 0x7f);
  s("GUEST_IDTR_BASE", 0xfffffe0000000000n);
  s("GUEST_IDTR_LIMIT", 0xfff);
  s("GUEST_RIP", 0xffffffff81000000n);
  s("GUEST_RSP", 0xffffc90000003f00n);
  s("GUEST_RFLAGS", 0x2);
  s("GUEST_SYSENTER_ESP", 0xfffffe0000003000n);
  s("GUEST_SYSENTER_EIP", 0xffffffff81a01000n);
  s("GUEST_ACTIVITY_STATE", 0);
  s("GUEST_INTERRUPTIBILITY_INFO", 0);
  s("VMCS_LINK_POINTER", 0xffffffffffffffffn);
  return v;
}

export function baseEntry(caps: Caps): Entry {
  return {
    caps,
    processor: { ...DEFAULT_PROCESSOR },
    vmcs: baseVmcs(caps),
    memory: new Memory(),
    cpu: caps.name,
  };
}
