/**
 * Building vmcs02 from vmcs01 (L0's own VMCS for L1) and vmcs12 (what L1 wrote), the way a KVM-like L0
 * does it (../shared/docs/reference/kvm-nested.md §2.4, §2.3 "L0-owned fields"): host state and
 * L0-owned fields from L0, guest state from vmcs12, controls merged.
 */

import { ENTRY, PIN, PROC, PROC2 } from "../arch/controls.js";
import { F } from "../arch/fields.js";
import { EFER } from "../arch/registers.js";
import type { Caps } from "../cpu/profile.js";
import type { Vmcs } from "../vmcs/store.js";

/** What L0 owns in vmcs02, with the value it writes (documented in docs/nested.md). */
export const L0_OWNED: readonly { field: string; why: string }[] = [
  { field: "VIRTUAL_PROCESSOR_ID", why: "L0 allocates vpid02 (nonzero) for L2, or reuses vpid01" },
  { field: "EPT_POINTER", why: "L0's shadow-EPT root (a legal EPTP)" },
  { field: "VMCS_LINK_POINTER", why: "all ones: VMCS shadowing is emulated, the control is cleared" },
  { field: "MSR_BITMAP", why: "L0's merged MSR bitmap" },
  { field: "IO_BITMAP_A", why: "unused: vmcs02 uses unconditional I/O exiting" },
  { field: "IO_BITMAP_B", why: "unused: vmcs02 uses unconditional I/O exiting" },
  { field: "VM_ENTRY_MSR_LOAD_ADDR", why: "L0's autoload list (vmcs12's list is processed in software)" },
  { field: "VM_ENTRY_MSR_LOAD_COUNT", why: "L0's autoload list" },
  { field: "VM_EXIT_MSR_LOAD_ADDR", why: "L0's autoload list" },
  { field: "VM_EXIT_MSR_LOAD_COUNT", why: "L0's autoload list" },
  { field: "VM_EXIT_MSR_STORE_ADDR", why: "L0's autostore list" },
  { field: "VM_EXIT_MSR_STORE_COUNT", why: "L0's autostore list" },
  { field: "PML_ADDRESS", why: "PML for L2 is emulated; the control is cleared" },
  { field: "VM_FUNCTION_CONTROL", why: "VMFUNC is emulated; 0 in vmcs02" },
  { field: "EPTP_LIST_ADDRESS", why: "never used by hardware (VMFUNC emulated)" },
  { field: "VMREAD_BITMAP", why: "VMCS shadowing emulated" },
  { field: "VMWRITE_BITMAP", why: "VMCS shadowing emulated" },
  { field: "POSTED_INTR_NV", why: "L0's nested posted-interrupt vector" },
  { field: "APIC_ACCESS_ADDR", why: "host-physical address of the mapped L1 page" },
  { field: "VIRTUAL_APIC_PAGE_ADDR", why: "host-physical address of the mapped L1 page" },
  { field: "POSTED_INTR_DESC_ADDR", why: "host-physical address of the mapped L1 page" },
  { field: "VE_INFORMATION_ADDRESS", why: "L0's page" },
  { field: "VMX_PREEMPTION_TIMER_VALUE", why: "the preemption timer is emulated with a host timer" },
];

/** Host-physical address where L0 maps an L1 guest-physical page (an arbitrary but fixed offset). */
export const HPA_OFFSET = 0x1_0000_0000;
const L0_EPTP = 0x7f000000 | (3 << 3) | 6; // WB, 4-level (SDM 25.6.11)
const L0_POSTED_VECTOR = 0xf1;
export const VPID02 = 2;

export interface MergeNotes {
  /** What L0 did that the hardware will never see from vmcs12. */
  notes: string[];
  /** Mapping failures that make L0 stop (KVM internal error) instead of entering. */
  internalError?: string;
}

/** Map an L1 page for vmcs02: page-aligned host-physical address, or undefined when the GPA is not RAM. */
function mapPage(lo: number, hi: number, l1: Caps): number | undefined {
  const gpa = hi * 0x100000000 + (lo >>> 0);
  if (gpa >= 2 ** l1.maxPhysAddr) return undefined;
  return Math.floor(gpa / 4096) * 4096 + HPA_OFFSET;
}

function setAddr(v: Vmcs, i: number, a: number): void {
  v.setHalves(i, a % 0x100000000, Math.floor(a / 0x100000000));
}

/** prepare_vmcs02_early + prepare_vmcs02: returns vmcs02. */
export function prepareVmcs02(vmcs01: Vmcs, vmcs12: Vmcs, l1: Caps, out: MergeNotes): Vmcs {
  const v = vmcs01.clone();
  const lo = (i: number) => vmcs12.lo(i);
  const pin12 = lo(F.PIN_BASED_VM_EXEC_CONTROL);
  const proc12 = lo(F.CPU_BASED_VM_EXEC_CONTROL);
  const proc2_12 = proc12 & PROC.SECONDARY ? lo(F.SECONDARY_VM_EXEC_CONTROL) : 0;
  const entry12 = lo(F.VM_ENTRY_CONTROLS);

  // Pin-based: L0's | L1's, without the preemption timer (emulated); posted interrupts only from vmcs12.
  const pin01 = vmcs01.lo(F.PIN_BASED_VM_EXEC_CONTROL) & ~PIN.POSTED_INTR;
  v.setHalves(F.PIN_BASED_VM_EXEC_CONTROL, ((pin01 | pin12) & ~PIN.PREEMPTION_TIMER) >>> 0, 0);
  if (pin12 & PIN.PREEMPTION_TIMER) out.notes.push("VMX-preemption timer: emulated by L0 with a host timer");

  // Primary: L0's without the window exits and TPR shadow, | L1's; unconditional I/O exiting instead of bitmaps.
  let proc =
    (vmcs01.lo(F.CPU_BASED_VM_EXEC_CONTROL) & ~(PROC.INTR_WINDOW | PROC.NMI_WINDOW | PROC.TPR_SHADOW)) |
    proc12;
  proc = (proc | (1 << 24) | PROC.USE_MSR_BITMAPS) & ~PROC.USE_IO_BITMAPS;
  if (!(proc & PROC.TPR_SHADOW)) proc |= PROC.CR8_LOAD | PROC.CR8_STORE;
  v.setHalves(F.TPR_THRESHOLD, proc12 & PROC.TPR_SHADOW ? lo(F.TPR_THRESHOLD) : 0, 0);

  // Secondary: L0's minus the features L1 decides, | L1's; PML and VMCS shadowing always emulated.
  const l1Decides =
    PROC2.VIRT_APIC_ACCESSES |
    PROC2.VIRT_X2APIC |
    PROC2.APIC_REGISTER_VIRT |
    PROC2.VID |
    PROC2.VMFUNC |
    PROC2.DESC_EXITING |
    PROC2.UNRESTRICTED_GUEST |
    (1 << 3) | // RDTSCP
    (1 << 12) | // INVPCID
    (1 << 20) | // XSAVES
    (1 << 26); // user wait/pause
  let proc2 = (vmcs01.lo(F.SECONDARY_VM_EXEC_CONTROL) & ~l1Decides) | proc2_12;
  proc2 &= ~(PROC2.PML | PROC2.SHADOW_VMCS);
  if (proc2_12 & (PROC2.PML | PROC2.SHADOW_VMCS))
    out.notes.push("PML / VMCS shadowing: emulated by L0, cleared in vmcs02");
  v.setHalves(F.SECONDARY_VM_EXEC_CONTROL, proc2 >>> 0, 0);
  v.setHalves(F.CPU_BASED_VM_EXEC_CONTROL, (proc | (proc2 ? PROC.SECONDARY : 0)) >>> 0, 0);

  // Guest state from vmcs12 (prepare_vmcs02); MSR-like fields whose load control vmcs12 leaves clear keep
  // L1's current values (vmcs01's guest state), as an L0 does when L1 does not ask for them to be loaded.
  const keepL1 = new Set<string>();
  for (const [bit, fields] of LOAD_GATED) if (!(entry12 & bit)) for (const f of fields) keepL1.add(f);
  for (const name of GUEST_FIELDS) v.set(F[name]!, (keepL1.has(name) ? vmcs01 : vmcs12).get(F[name]!));
  v.set(F.VM_ENTRY_INTR_INFO_FIELD, vmcs12.get(F.VM_ENTRY_INTR_INFO_FIELD));
  v.set(F.VM_ENTRY_EXCEPTION_ERROR_CODE, vmcs12.get(F.VM_ENTRY_EXCEPTION_ERROR_CODE));
  v.set(F.VM_ENTRY_INSTRUCTION_LEN, vmcs12.get(F.VM_ENTRY_INSTRUCTION_LEN));
  v.set(F.GUEST_INTR_STATUS, vmcs12.get(F.GUEST_INTR_STATUS));

  // Entry controls: L0's | L1's, then IA-32e mode guest and load-EFER follow the computed L2 EFER.
  const efer12Lo = lo(F.GUEST_IA32_EFER);
  const l2Efer =
    entry12 & ENTRY.LOAD_EFER
      ? efer12Lo
      : entry12 & ENTRY.IA32E_GUEST
        ? EFER.LMA | EFER.LME | EFER.SCE | EFER.NXE
        : EFER.SCE | EFER.NXE;
  let entry =
    (vmcs01.lo(F.VM_ENTRY_CONTROLS) | (entry12 & ~ENTRY.LOAD_PERF_GLOBAL_CTRL)) & ~ENTRY.IA32E_GUEST;
  if (l2Efer & EFER.LMA) entry |= ENTRY.IA32E_GUEST;
  entry |= ENTRY.LOAD_EFER;
  v.setHalves(F.VM_ENTRY_CONTROLS, entry >>> 0, 0);
  v.setHalves(F.GUEST_IA32_EFER, l2Efer >>> 0, 0);

  // L0-owned fields.
  v.setHalves(F.VIRTUAL_PROCESSOR_ID, proc2_12 & PROC2.VPID ? VPID02 : vmcs01.lo(F.VIRTUAL_PROCESSOR_ID), 0);
  if (proc2_12 & PROC2.VPID && lo(F.VIRTUAL_PROCESSOR_ID) === 0)
    out.notes.push("vmcs12 VPID is 0 but vmcs02 uses L0's vpid02: hardware cannot see this error");
  if (proc2 & PROC2.EPT) v.setHalves(F.EPT_POINTER, L0_EPTP, 0);
  v.setHalves(F.VMCS_LINK_POINTER, 0xffffffff, 0xffffffff);
  for (const f of [
    "VM_ENTRY_MSR_LOAD_COUNT",
    "VM_EXIT_MSR_LOAD_COUNT",
    "VM_EXIT_MSR_STORE_COUNT",
    "PML_ADDRESS",
    "VM_FUNCTION_CONTROL",
  ])
    v.set(F[f]!, 0n);
  v.setHalves(F.POSTED_INTR_NV, L0_POSTED_VECTOR, 0);
  if (proc12 & PROC.TPR_SHADOW) {
    const a = mapPage(lo(F.VIRTUAL_APIC_PAGE_ADDR), vmcs12.hi(F.VIRTUAL_APIC_PAGE_ADDR), l1);
    if (a === undefined) {
      // KVM writes an all-ones address so that the hardware VM entry fails (kvm-nested.md K116).
      v.setHalves(F.VIRTUAL_APIC_PAGE_ADDR, 0xffffffff, 0xffffffff);
      out.notes.push(
        "virtual-APIC page cannot be mapped: vmcs02 gets an all-ones address so hardware fails the entry",
      );
    } else setAddr(v, F.VIRTUAL_APIC_PAGE_ADDR, a);
  }
  if (proc2_12 & PROC2.VIRT_APIC_ACCESSES) {
    const a = mapPage(lo(F.APIC_ACCESS_ADDR), vmcs12.hi(F.APIC_ACCESS_ADDR), l1);
    if (a === undefined)
      out.internalError = "APIC-access page cannot be mapped (KVM exits to userspace with an internal error)";
    else setAddr(v, F.APIC_ACCESS_ADDR, a);
  }
  if (pin12 & PIN.POSTED_INTR) {
    const a = mapPage(lo(F.POSTED_INTR_DESC_ADDR), vmcs12.hi(F.POSTED_INTR_DESC_ADDR), l1);
    if (a === undefined) {
      v.setHalves(F.PIN_BASED_VM_EXEC_CONTROL, v.lo(F.PIN_BASED_VM_EXEC_CONTROL) & ~PIN.POSTED_INTR, 0);
      out.notes.push("posted-interrupt descriptor cannot be mapped: posted interrupts cleared in vmcs02");
    } else setAddr(v, F.POSTED_INTR_DESC_ADDR, a + (lo(F.POSTED_INTR_DESC_ADDR) & 0xfff & ~0x3f));
  }
  return v;
}

/** VM-entry "load ..." controls and the guest fields they load (SDM 25.8.1). */
const LOAD_GATED: readonly (readonly [number, readonly string[]])[] = [
  [ENTRY.LOAD_DEBUG, ["GUEST_DR7", "GUEST_IA32_DEBUGCTL"]],
  [ENTRY.LOAD_PERF_GLOBAL_CTRL, ["GUEST_IA32_PERF_GLOBAL_CTRL"]],
  [ENTRY.LOAD_PAT, ["GUEST_IA32_PAT"]],
  [ENTRY.LOAD_BNDCFGS, ["GUEST_BNDCFGS"]],
  [ENTRY.LOAD_RTIT_CTL, ["GUEST_IA32_RTIT_CTL"]],
  [ENTRY.LOAD_CET, ["GUEST_S_CET", "GUEST_SSP", "GUEST_INTR_SSP_TABLE"]],
  [ENTRY.LOAD_LBR_CTL, ["GUEST_IA32_LBR_CTL"]],
  [ENTRY.LOAD_PKRS, ["GUEST_IA32_PKRS"]],
  [
    ENTRY.LOAD_FRED,
    [
      "GUEST_IA32_FRED_CONFIG",
      "GUEST_IA32_FRED_RSP1",
      "GUEST_IA32_FRED_RSP2",
      "GUEST_IA32_FRED_RSP3",
      "GUEST_IA32_FRED_STKLVLS",
      "GUEST_IA32_FRED_SSP1",
      "GUEST_IA32_FRED_SSP2",
      "GUEST_IA32_FRED_SSP3",
    ],
  ],
];

/** Guest-state fields L0 copies from vmcs12 into vmcs02. */
const GUEST_FIELDS: readonly string[] = [
  "GUEST_ES_SELECTOR",
  "GUEST_CS_SELECTOR",
  "GUEST_SS_SELECTOR",
  "GUEST_DS_SELECTOR",
  "GUEST_FS_SELECTOR",
  "GUEST_GS_SELECTOR",
  "GUEST_LDTR_SELECTOR",
  "GUEST_TR_SELECTOR",
  "GUEST_ES_LIMIT",
  "GUEST_CS_LIMIT",
  "GUEST_SS_LIMIT",
  "GUEST_DS_LIMIT",
  "GUEST_FS_LIMIT",
  "GUEST_GS_LIMIT",
  "GUEST_LDTR_LIMIT",
  "GUEST_TR_LIMIT",
  "GUEST_GDTR_LIMIT",
  "GUEST_IDTR_LIMIT",
  "GUEST_ES_AR_BYTES",
  "GUEST_CS_AR_BYTES",
  "GUEST_SS_AR_BYTES",
  "GUEST_DS_AR_BYTES",
  "GUEST_FS_AR_BYTES",
  "GUEST_GS_AR_BYTES",
  "GUEST_LDTR_AR_BYTES",
  "GUEST_TR_AR_BYTES",
  "GUEST_ES_BASE",
  "GUEST_CS_BASE",
  "GUEST_SS_BASE",
  "GUEST_DS_BASE",
  "GUEST_FS_BASE",
  "GUEST_GS_BASE",
  "GUEST_LDTR_BASE",
  "GUEST_TR_BASE",
  "GUEST_GDTR_BASE",
  "GUEST_IDTR_BASE",
  "GUEST_CR0",
  "GUEST_CR3",
  "GUEST_CR4",
  "GUEST_DR7",
  "GUEST_RSP",
  "GUEST_RIP",
  "GUEST_RFLAGS",
  "GUEST_PENDING_DBG_EXCEPTIONS",
  "GUEST_SYSENTER_ESP",
  "GUEST_SYSENTER_EIP",
  "GUEST_SYSENTER_CS",
  "GUEST_INTERRUPTIBILITY_INFO",
  "GUEST_ACTIVITY_STATE",
  "GUEST_IA32_DEBUGCTL",
  "GUEST_IA32_PAT",
  "GUEST_IA32_PERF_GLOBAL_CTRL",
  "GUEST_PDPTR0",
  "GUEST_PDPTR1",
  "GUEST_PDPTR2",
  "GUEST_PDPTR3",
  "GUEST_BNDCFGS",
  "GUEST_IA32_RTIT_CTL",
  "GUEST_IA32_LBR_CTL",
  "GUEST_IA32_PKRS",
  "GUEST_S_CET",
  "GUEST_SSP",
  "GUEST_INTR_SSP_TABLE",
  "GUEST_IA32_FRED_CONFIG",
  "GUEST_IA32_FRED_RSP1",
  "GUEST_IA32_FRED_RSP2",
  "GUEST_IA32_FRED_RSP3",
  "GUEST_IA32_FRED_STKLVLS",
  "GUEST_IA32_FRED_SSP1",
  "GUEST_IA32_FRED_SSP2",
  "GUEST_IA32_FRED_SSP3",
];
