/**
 * vmcs02 = merge(vmcs01, vmcs12), the way the modelled kernel builds it (each step cites the preset's
 * `merge.sources`): host state and L0-owned fields from L0, controls merged, guest state from vmcs12 where
 * the kernel copies it and from L1 or L0 where it does not. The guest-field table is derived from the field
 * table (`type` from the encoding, `loadedBy` annotations), so every guest-state field has a stated source.
 *
 * Two vmcs02 states matter: the one the dry run enters (only the early part prepared; guest state and TSC
 * multiplier stale) and the one the real VM entry uses.
 */
import { ENTRY, EXIT, PIN, PROC, PROC2 } from "../arch/controls.js";
import { F, FIELDS, type FieldDef } from "../arch/fields.js";
import { CR0, CR4, EFER } from "../arch/registers.js";
import type { Caps } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import { baseVmcs } from "../gen/base.js";
import { Memory } from "../vmcs/memory.js";
import { Vmcs } from "../vmcs/store.js";
import type { KernelEnv, KernelPreset } from "./kernel.js";
import { kvmSupportedDebugctl } from "./kernels/common.js";
import type { MergeDivergenceId } from "./kernels/divergences.js";

const TWO32 = 0x100000000;

/** L0's nested posted-interrupt notification vector (POSTED_INTR_NESTED_VECTOR, irq_vectors.h). */
export const POSTED_INTR_NESTED_VECTOR = 0xf0;
/** The EPT pointer L0 uses for L2 (a legal one: write-back, 4-level walk, SDM 25.6.11). */
export const L0_EPTP = 0x7f000000 | (3 << 3) | 6;
/** The VPID L0 gives L2 when vmcs12 enables VPID (vpid02), and L1's own (vpid01). */
export const VPID02 = 2;
/** The VPID of L1 itself (vpid01), used for L2 when vmcs12 does not enable VPID. */
export const VPID01 = 1;
/** Where L0 places the host pages backing L1's mapped pages (a legal host-physical address). */
export const HPA_BASE = 0x1_0000_0000;
/** L0's own IA32_EFER (64-bit Linux: SCE, LME, LMA, NXE). */
export const L0_EFER = 0xd01;
/** The TSC ratio of L1 (KVM's default: 1.0 with 48 fraction bits). */
export const DEFAULT_TSC_RATIO = 2n ** 48n;

/** Where a guest-state field of vmcs02 comes from. */
export type GuestSource = "vmcs12" | "l1" | "l0" | "computed" | "early" | "never-copied";

/** A step of the merge that made vmcs02 differ from vmcs12 (a kernel behaviour, by divergence id). */
export interface MergeEffect {
  id: MergeDivergenceId;
  /** vmcs02 fields whose value is not vmcs12's because of it. */
  fields: string[];
  what: string;
}

/** What the merge produced. */
export interface Vmcs02 {
  /** vmcs02 at the real VM entry. */
  vmcs: Vmcs;
  /** Host-physical memory the processor reads through vmcs02 (L1's pages, mapped). */
  memory: Memory;
  effects: MergeEffect[];
  /** KVM exits to userspace instead of entering (L1 sees nothing). */
  internalError?: string;
  notes: string[];
  /** Where each guest-state field came from (for reports and tests). */
  guestSources: ReadonlyMap<string, GuestSource>;
}

/** The guest-state fields KVM writes in the early part of the preparation (before a dry run). */
const EARLY_GUEST = new Set([
  "GUEST_INTERRUPTIBILITY_INFO",
  "GUEST_INTR_STATUS",
  "VMCS_LINK_POINTER",
  "GUEST_PML_INDEX",
]);

/** Guest-state fields the merge treats specially; every other one follows `loadedBy` and vmcs12's layout. */
const SPECIAL = new Set([
  "GUEST_ACTIVITY_STATE",
  "VMCS_LINK_POINTER",
  "GUEST_PML_INDEX",
  "GUEST_INTR_STATUS",
  "GUEST_IA32_EFER",
  "GUEST_CR0",
  "GUEST_CR4",
  "GUEST_DR7",
  "GUEST_IA32_DEBUGCTL",
  "GUEST_IA32_PERF_GLOBAL_CTRL",
  "GUEST_PDPTR0",
  "GUEST_PDPTR1",
  "GUEST_PDPTR2",
  "GUEST_PDPTR3",
  "VMX_PREEMPTION_TIMER_VALUE",
]);

const lacksCache = new WeakMap<KernelPreset, Set<string>>();

/** Every guest-state field of the field table (derived from the encodings). */
export const GUEST_STATE_FIELDS: readonly FieldDef[] = FIELDS.filter((f) => f.type === "guest");

/**
 * The source of a guest-state field under `preset` for a vmcs12 with entry controls `entry12`, before the
 * special cases: vmcs12's value when vmcs12 has the field and (for a `loadedBy` field) asks for it to be
 * loaded, L1's when it does not ask, L0's when this release's vmcs12 has no such field.
 */
export function guestFieldSource(preset: KernelPreset, f: FieldDef, entry12: number): GuestSource {
  let lacks = lacksCache.get(preset);
  if (!lacks) {
    lacks = new Set(preset.merge.vmcs12Lacks);
    lacksCache.set(preset, lacks);
  }
  if (lacks.has(f.name)) return "l0";
  if (f.loadedBy !== undefined && (entry12 & ENTRY[f.loadedBy]) === 0) return "l1";
  return "vmcs12";
}

/**
 * vmcs01: L0's VMCS for L1. Host state is L0's (a 64-bit Linux host); guest state is L1's current state (a
 * 64-bit Linux kernel: DR7 0x400, DEBUGCTL 0, EFER 0xd01); controls are what a default KVM uses for L1
 * (external-interrupt and NMI exiting, virtual NMIs, HLT exiting, TPR shadow, MSR bitmaps, EPT, VPID, TSC
 * offsetting and scaling when the host has them; unconditional I/O exiting).
 */
export function vmcs01For(host: Caps): Vmcs {
  let v01 = vmcs01Cache.get(host);
  if (!v01) {
    v01 = makeVmcs01(host);
    vmcs01Cache.set(host, v01);
  }
  return v01.clone();
}
const vmcs01Cache = new WeakMap<Caps, Vmcs>();

function makeVmcs01(host: Caps): Vmcs {
  const v = baseVmcs(host);
  const c = host.ctl;
  const legal = (want: number, w: keyof Caps["ctl"]) => ((want & c[w].may1) | c[w].must1) >>> 0;
  v.setHalves(
    F.PIN_BASED_VM_EXEC_CONTROL!,
    legal(PIN.EXT_INTR | PIN.NMI_EXITING | PIN.VIRTUAL_NMIS, "pin"),
    0,
  );
  const proc = legal(
    PROC.HLT |
      PROC.TSC_OFFSETTING |
      PROC.TPR_SHADOW |
      PROC.USE_MSR_BITMAPS |
      PROC.SECONDARY |
      (1 << 24) |
      (1 << 11),
    "proc",
  );
  v.setHalves(F.CPU_BASED_VM_EXEC_CONTROL!, proc, 0);
  const proc2 =
    proc & PROC.SECONDARY
      ? legal(PROC2.EPT | PROC2.VPID | PROC2.UNRESTRICTED_GUEST | (1 << 3) | PROC2.TSC_SCALING, "proc2")
      : 0;
  v.setHalves(F.SECONDARY_VM_EXEC_CONTROL!, proc2, 0);
  v.setHalves(F.VIRTUAL_PROCESSOR_ID!, proc2 & PROC2.VPID ? VPID01 : 0, 0);
  if (proc2 & PROC2.EPT) v.setHalves(F.EPT_POINTER!, L0_EPTP, 0);
  if (proc2 & PROC2.TSC_SCALING) v.set(F.TSC_MULTIPLIER!, DEFAULT_TSC_RATIO);
  v.set(F.VMCS_LINK_POINTER!, 0xffffffffffffffffn);
  return v;
}

const num = (v: Vmcs, i: number): number => v.hi(i) * TWO32 + v.lo(i);
const setNum = (v: Vmcs, i: number, n: number): void => v.setHalves(i, n % TWO32, Math.floor(n / TWO32));

/** What the merge needs: the kernel, vmcs12 (with L1's profile), the host, L1's memory map and EFER. */
export interface MergeInput {
  preset: KernelPreset;
  vmcs12: Entry;
  host: Caps;
  env: KernelEnv;
  /** L1's IA32_EFER when it executes VMLAUNCH/VMRESUME. */
  l1Efer: number;
}

/**
 * prepare_vmcs02_early + nested_get_vmcs12_pages + prepare_vmcs02, as the preset's kernel does them.
 */
export function buildVmcs02(input: MergeInput): Vmcs02 {
  const { preset, vmcs12: e, host, env } = input;
  const m = preset.merge;
  const v12 = e.vmcs;
  const vmcs01 = vmcs01For(host);
  const v = vmcs01.clone();
  const notes: string[] = [];
  const effects: MergeEffect[] = [];
  const sources = new Map<string, GuestSource>();
  const effect = (id: MergeDivergenceId, fields: string[], what: string) => {
    const have = effects.find((x) => x.id === id);
    if (have) {
      for (const f of fields) if (!have.fields.includes(f)) have.fields.push(f);
    } else effects.push({ id, fields, what });
  };
  const lo12 = (i: number) => v12.lo(i);
  const pin12 = lo12(F.PIN_BASED_VM_EXEC_CONTROL!);
  const proc12 = lo12(F.CPU_BASED_VM_EXEC_CONTROL!);
  const proc2_12 = proc12 & PROC.SECONDARY ? lo12(F.SECONDARY_VM_EXEC_CONTROL!) : 0;
  const entry12 = lo12(F.VM_ENTRY_CONTROLS!);

  // ---- pin-based: L0's | vmcs12's without the preemption timer (emulated); posted interrupts from vmcs12 only
  let pin = (vmcs01.lo(F.PIN_BASED_VM_EXEC_CONTROL!) | pin12) & ~PIN.PREEMPTION_TIMER;
  if (!(pin12 & PIN.POSTED_INTR)) pin &= ~PIN.POSTED_INTR;
  if (pin12 & PIN.PREEMPTION_TIMER)
    notes.push("VMX-preemption timer: emulated with a host timer (cleared in vmcs02)");

  // ---- primary: L0's without the window exits and TPR shadow, | vmcs12's; I/O always exits
  let proc =
    (vmcs01.lo(F.CPU_BASED_VM_EXEC_CONTROL!) & ~(PROC.INTR_WINDOW | PROC.NMI_WINDOW | PROC.TPR_SHADOW)) |
    proc12;
  if (proc & PROC.TPR_SHADOW) v.setHalves(F.TPR_THRESHOLD!, lo12(F.TPR_THRESHOLD!), 0);
  else proc |= PROC.CR8_LOAD | PROC.CR8_STORE;
  proc = (proc | (1 << 24)) & ~PROC.USE_IO_BITMAPS;
  // the MSR bitmap: KVM merges L1's when vmcs12 uses one, otherwise every MSR access exits
  if (!(proc12 & PROC.USE_MSR_BITMAPS)) proc &= ~PROC.USE_MSR_BITMAPS;

  // ---- secondary: L0's minus what vmcs12 alone decides, | vmcs12's; PML and VMCS shadowing emulated
  const l1Decides =
    PROC2.VIRT_APIC_ACCESSES |
    PROC2.VIRT_X2APIC |
    (1 << 12) |
    (1 << 3) |
    (1 << 20) |
    (1 << 26) |
    PROC2.VID |
    PROC2.APIC_REGISTER_VIRT |
    PROC2.VMFUNC |
    PROC2.DESC_EXITING;
  let proc2 = (vmcs01.lo(F.SECONDARY_VM_EXEC_CONTROL!) & ~l1Decides) | proc2_12;
  proc2 &= ~(PROC2.PML | PROC2.SHADOW_VMCS);
  if (proc2_12 & (PROC2.PML | PROC2.SHADOW_VMCS))
    notes.push("PML and VMCS shadowing: emulated by L0, cleared in vmcs02");
  if (!host.flags.has("umip") && lo12(F.GUEST_CR4!) & CR4.UMIP) proc2 |= PROC2.DESC_EXITING;
  if (!(proc2_12 & PROC2.UNRESTRICTED_GUEST)) proc2 &= ~PROC2.UNRESTRICTED_GUEST;
  proc2 >>>= 0;
  if (proc2) proc |= PROC.SECONDARY;

  // ---- entry controls: L0's | vmcs12's except PERF_GLOBAL_CTRL; IA-32e mode guest and load EFER computed
  const efer12 = lo12(F.GUEST_IA32_EFER!);
  const l2Efer =
    entry12 & ENTRY.LOAD_EFER
      ? efer12
      : entry12 & ENTRY.IA32E_GUEST
        ? input.l1Efer | EFER.LMA | EFER.LME
        : input.l1Efer & ~(EFER.LMA | EFER.LME);
  const efer02 = (l2Efer & EFER.LMA ? l2Efer : l2Efer & ~EFER.LME) >>> 0;
  const hostHasLoadEfer = (host.ctl.entry.may1 & ENTRY.LOAD_EFER) !== 0;
  let entry =
    (vmcs01.lo(F.VM_ENTRY_CONTROLS!) | (entry12 & ~ENTRY.LOAD_PERF_GLOBAL_CTRL)) &
    ~(ENTRY.IA32E_GUEST | ENTRY.LOAD_EFER);
  if (entry12 & ENTRY.LOAD_PERF_GLOBAL_CTRL)
    effect(
      "perf-global-ctrl-by-l0",
      ["GUEST_IA32_PERF_GLOBAL_CTRL"],
      "load IA32_PERF_GLOBAL_CTRL from vmcs12 is done by KVM's PMU emulation, not by vmcs02",
    );
  // "IA-32e mode guest" follows L2's EFER.LMA on every CPU (vmx_set_efer sets or clears it); "load IA32_EFER"
  // only where the CPU has it and L2's EFER is not L0's (elsewhere KVM switches EFER through the MSR lists)
  if (efer02 & EFER.LMA) entry |= ENTRY.IA32E_GUEST;
  if (hostHasLoadEfer && efer02 !== L0_EFER) entry |= ENTRY.LOAD_EFER;
  // ---- exit controls: L0's, load EFER adjusted
  let exit = vmcs01.lo(F.VM_EXIT_CONTROLS!);
  if (hostHasLoadEfer && efer02 !== L0_EFER) exit |= EXIT.LOAD_EFER;
  else exit &= ~EXIT.LOAD_EFER;
  const exit12 = lo12(F.VM_EXIT_CONTROLS!);
  if ((exit12 & ~exit) !== 0)
    effect(
      "exit-controls-by-l0",
      ["VM_EXIT_CONTROLS"],
      "vmcs12's VM-exit controls are emulated; vmcs02 has L0's",
    );

  const added: string[] = [];
  if ((pin & ~pin12) !== 0) added.push("PIN_BASED_VM_EXEC_CONTROL");
  if ((proc & ~proc12) !== 0) added.push("CPU_BASED_VM_EXEC_CONTROL");
  if ((proc2 & ~proc2_12) !== 0) added.push("SECONDARY_VM_EXEC_CONTROL");
  if ((entry & ~entry12 & ~(ENTRY.IA32E_GUEST | ENTRY.LOAD_EFER)) !== 0) added.push("VM_ENTRY_CONTROLS");
  if (added.length) effect("controls-added-by-l0", added, "L0's own control bits are ORed into vmcs02");
  v.setHalves(F.PIN_BASED_VM_EXEC_CONTROL!, pin >>> 0, 0);
  v.setHalves(F.CPU_BASED_VM_EXEC_CONTROL!, proc >>> 0, 0);
  v.setHalves(F.SECONDARY_VM_EXEC_CONTROL!, proc2, 0);
  v.setHalves(F.VM_ENTRY_CONTROLS!, entry >>> 0, 0);
  v.setHalves(F.VM_EXIT_CONTROLS!, exit >>> 0, 0);

  // ---- event injection (nested_run_pending is set for VMLAUNCH/VMRESUME)
  for (const f of ["VM_ENTRY_INTR_INFO_FIELD", "VM_ENTRY_EXCEPTION_ERROR_CODE", "VM_ENTRY_INSTRUCTION_LEN"])
    v.set(F[f]!, v12.get(F[f]!));

  // ---- L0-owned fields (prepare_vmcs02_constant_state / _early_rare)
  const owned: string[] = [];
  const own = (name: string, lo: number, hi = 0) => {
    if (v12.lo(F[name]!) !== lo >>> 0 || v12.hi(F[name]!) !== hi >>> 0) owned.push(name);
    v.setHalves(F[name]!, lo, hi);
  };
  own("VIRTUAL_PROCESSOR_ID", proc2_12 & PROC2.VPID ? VPID02 : vmcs01.lo(F.VIRTUAL_PROCESSOR_ID!));
  if (proc2 & PROC2.EPT) own("EPT_POINTER", L0_EPTP);
  own("VMCS_LINK_POINTER", 0xffffffff, 0xffffffff);
  for (const f of [
    "VM_ENTRY_MSR_LOAD_COUNT",
    "VM_EXIT_MSR_LOAD_COUNT",
    "VM_EXIT_MSR_STORE_COUNT",
    "VM_ENTRY_MSR_LOAD_ADDR",
    "VM_EXIT_MSR_LOAD_ADDR",
    "VM_EXIT_MSR_STORE_ADDR",
    "PML_ADDRESS",
    "VM_FUNCTION_CONTROL",
    "EPTP_LIST_ADDRESS",
    "VMREAD_BITMAP",
    "VMWRITE_BITMAP",
    "IO_BITMAP_A",
    "IO_BITMAP_B",
    "CR3_TARGET_COUNT",
  ])
    own(f, vmcs01.lo(F[f]!), vmcs01.hi(F[f]!));
  own("GUEST_PML_INDEX", 0xffff);
  own("POSTED_INTR_NV", POSTED_INTR_NESTED_VECTOR);
  own("MSR_BITMAP", 0x12000);
  if (owned.length) effect("l0-owned-fields", owned, "L0's values replace vmcs12's");

  // ---- L1's pages (nested_get_vmcs12_pages): mapped to host pages, offset in page kept
  const memory = new MappedMemory(e.memory);
  const hpaOf = (gpa: number): number => memory.map(gpa);
  let internalError: string | undefined;
  if (proc2_12 & PROC2.VIRT_APIC_ACCESSES) {
    const gpa = num(v12, F.APIC_ACCESS_ADDR!);
    if (env.backed(gpa)) setNum(v, F.APIC_ACCESS_ADDR!, hpaOf(gpa - (gpa % 4096)));
    else if (m.apicAccessUnmapped === "internal-error") {
      internalError = `no memory backs the APIC-access page at 0x${gpa.toString(16)}: KVM exits to userspace with KVM_EXIT_INTERNAL_ERROR`;
      effect("apic-access-unmapped", ["APIC_ACCESS_ADDR"], "internal error to userspace");
    } else {
      v.setHalves(
        F.SECONDARY_VM_EXEC_CONTROL!,
        v.lo(F.SECONDARY_VM_EXEC_CONTROL!) & ~PROC2.VIRT_APIC_ACCESSES,
        0,
      );
      effect(
        "apic-access-unmapped",
        ["APIC_ACCESS_ADDR", "SECONDARY_VM_EXEC_CONTROL"],
        "virtualize APIC accesses cleared in vmcs02",
      );
    }
  }
  if (proc12 & PROC.TPR_SHADOW) {
    const gpa = num(v12, F.VIRTUAL_APIC_PAGE_ADDR!);
    if (env.backed(gpa)) setNum(v, F.VIRTUAL_APIC_PAGE_ADDR!, hpaOf(gpa - (gpa % 4096)));
    else if (
      m.virtualApicUnmappedClearsTprShadow &&
      proc12 & PROC.CR8_LOAD &&
      proc12 & PROC.CR8_STORE &&
      !(proc2_12 & PROC2.VIRT_APIC_ACCESSES)
    ) {
      v.setHalves(F.CPU_BASED_VM_EXEC_CONTROL!, v.lo(F.CPU_BASED_VM_EXEC_CONTROL!) & ~PROC.TPR_SHADOW, 0);
      effect(
        "virtual-apic-unmapped",
        ["CPU_BASED_VM_EXEC_CONTROL"],
        "TPR shadow cleared in vmcs02 (CR8 accesses exit anyway)",
      );
    } else {
      v.setHalves(F.VIRTUAL_APIC_PAGE_ADDR!, 0xffffffff, 0xffffffff);
      effect(
        "virtual-apic-unmapped",
        ["VIRTUAL_APIC_PAGE_ADDR"],
        "vmcs02 gets an all-ones virtual-APIC address so that the processor fails the entry",
      );
    }
  }
  if (pin12 & PIN.POSTED_INTR) {
    const gpa = num(v12, F.POSTED_INTR_DESC_ADDR!);
    if (env.backed(gpa)) setNum(v, F.POSTED_INTR_DESC_ADDR!, hpaOf(gpa));
    else if (m.piDescUnmapped === "clear-control") {
      v.setHalves(F.PIN_BASED_VM_EXEC_CONTROL!, v.lo(F.PIN_BASED_VM_EXEC_CONTROL!) & ~PIN.POSTED_INTR, 0);
      effect("pi-desc-unmapped", ["PIN_BASED_VM_EXEC_CONTROL"], "posted interrupts cleared in vmcs02");
    } else {
      v.setHalves(F.POSTED_INTR_DESC_ADDR!, 0, 0);
      effect(
        "pi-desc-unmapped",
        ["POSTED_INTR_DESC_ADDR"],
        "vmcs02 keeps its previous descriptor address (0 on a fresh vmcs02)",
      );
    }
  }

  // ---- guest state (prepare_vmcs02_rare + prepare_vmcs02), derived from the field table
  for (const f of GUEST_STATE_FIELDS) {
    if (SPECIAL.has(f.name)) continue;
    const src = guestFieldSource(preset, f, entry12);
    sources.set(f.name, src);
    if (src === "vmcs12") v.set(f.index, v12.get(f.index));
  }
  sources.set("GUEST_ACTIVITY_STATE", "never-copied");
  v.setHalves(F.GUEST_ACTIVITY_STATE!, 0, 0);
  if (v12.lo(F.GUEST_ACTIVITY_STATE!) !== 0)
    effect(
      "activity-state-not-copied",
      ["GUEST_ACTIVITY_STATE"],
      "L2 is entered active; KVM emulates the activity state",
    );
  sources.set("VMCS_LINK_POINTER", "l0");
  sources.set("GUEST_PML_INDEX", "l0");
  sources.set("VMX_PREEMPTION_TIMER_VALUE", "l0");
  sources.set("GUEST_IA32_PERF_GLOBAL_CTRL", "l0");
  if (proc2 & PROC2.VID) {
    v.set(F.GUEST_INTR_STATUS!, v12.get(F.GUEST_INTR_STATUS!));
    sources.set("GUEST_INTR_STATUS", "vmcs12");
  } else sources.set("GUEST_INTR_STATUS", "l0");

  // CR0/CR4 (vmx_set_cr0/vmx_set_cr4 with L0's unrestricted guest on)
  const cr0 = ((lo12(F.GUEST_CR0!) & ~(CR0.CD | CR0.NW)) | CR0.NE) >>> 0;
  let cr4 = (lo12(F.GUEST_CR4!) | CR4.MCE | CR4.VMXE) >>> 0;
  if (!host.flags.has("umip")) cr4 &= ~CR4.UMIP;
  v.setHalves(F.GUEST_CR0!, cr0, v12.hi(F.GUEST_CR0!));
  v.setHalves(F.GUEST_CR4!, cr4 >>> 0, v12.hi(F.GUEST_CR4!));
  sources.set("GUEST_CR0", "computed");
  sources.set("GUEST_CR4", "computed");
  const crChanged: string[] = [];
  if (cr0 !== lo12(F.GUEST_CR0!)) crChanged.push("GUEST_CR0");
  if (cr4 >>> 0 !== lo12(F.GUEST_CR4!)) crChanged.push("GUEST_CR4");
  if (crChanged.length) effect("cr0-cr4-forced-bits", crChanged, "KVM's always-on/always-off CR bits");

  // EFER
  v.setHalves(F.GUEST_IA32_EFER!, efer02, 0);
  sources.set("GUEST_IA32_EFER", "computed");
  if (efer02 !== efer12 || v12.hi(F.GUEST_IA32_EFER!) !== 0)
    effect("efer-computed", ["GUEST_IA32_EFER", "VM_ENTRY_CONTROLS"], "vmcs02's EFER computed by KVM");

  // DR7 and IA32_DEBUGCTL
  const vmcs01Dr7 = vmcs01.get(F.GUEST_DR7!);
  const vmcs01Debugctl = vmcs01.get(F.GUEST_IA32_DEBUGCTL!);
  if (entry12 & ENTRY.LOAD_DEBUG) {
    const dr7 = v12.get(F.GUEST_DR7!);
    if (dr7 >> 32n !== 0n) {
      // kvm_set_dr refuses the value: vmcs02 keeps its DR7 (L1's on this model's vmcs02)
      v.set(F.GUEST_DR7!, vmcs01Dr7);
      sources.set("GUEST_DR7", "l1");
      effect(
        "dr7-refused",
        ["GUEST_DR7"],
        "kvm_set_dr refuses DR7 bits 63:32; vmcs02 keeps its previous DR7",
      );
    } else {
      v.set(F.GUEST_DR7!, dr7);
      sources.set("GUEST_DR7", "vmcs12");
    }
    let dbg = v12.get(F.GUEST_IA32_DEBUGCTL!);
    if (m.debugctlMasked) {
      const masked = dbg & BigInt(kvmSupportedDebugctl(e.caps));
      if (masked !== dbg)
        effect("debugctl-masked", ["GUEST_IA32_DEBUGCTL"], "IA32_DEBUGCTL masked to the bits KVM supports");
      dbg = masked;
      sources.set("GUEST_IA32_DEBUGCTL", "computed");
    } else sources.set("GUEST_IA32_DEBUGCTL", "vmcs12");
    v.set(F.GUEST_IA32_DEBUGCTL!, dbg);
  } else {
    v.set(F.GUEST_DR7!, vmcs01Dr7);
    v.set(F.GUEST_IA32_DEBUGCTL!, vmcs01Debugctl);
    sources.set("GUEST_DR7", "l1");
    sources.set("GUEST_IA32_DEBUGCTL", "l1");
    const differ: string[] = [];
    if (v12.get(F.GUEST_DR7!) !== vmcs01Dr7) differ.push("GUEST_DR7");
    if (v12.get(F.GUEST_IA32_DEBUGCTL!) !== vmcs01Debugctl) differ.push("GUEST_IA32_DEBUGCTL");
    if (differ.length) effect("debug-controls-from-l1", differ, "vmcs02 keeps L1's DR7 and IA32_DEBUGCTL");
  }

  // PDPTEs: vmcs12's with nested EPT; without it KVM loads them from L1's memory (shadow paging)
  const pae =
    (lo12(F.GUEST_CR0!) & CR0.PG) !== 0 && (lo12(F.GUEST_CR4!) & CR4.PAE) !== 0 && !(efer02 & EFER.LMA);
  for (let i = 0; i < 4; i++) {
    const f = F[`GUEST_PDPTR${i}`]!;
    if (proc2_12 & PROC2.EPT || !pae) {
      v.set(f, v12.get(f));
      sources.set(`GUEST_PDPTR${i}`, "vmcs12");
    } else {
      v.set(f, e.memory.read64(((lo12(F.GUEST_CR3!) & ~0x1f) >>> 0) + 8 * i));
      sources.set(`GUEST_PDPTR${i}`, "computed");
    }
  }

  // TSC (prepare_vmcs02): the multiplier reaches vmcs02 only with TSC offsetting and scaling in vmcs12
  if (proc2 & PROC2.TSC_SCALING) {
    const useL2 = proc12 & PROC.TSC_OFFSETTING && proc2_12 & PROC2.TSC_SCALING;
    const mult = useL2 ? v12.get(F.TSC_MULTIPLIER!) : DEFAULT_TSC_RATIO;
    v.set(F.TSC_MULTIPLIER!, mult);
    if (proc2_12 & PROC2.TSC_SCALING && !useL2 && v12.get(F.TSC_MULTIPLIER!) !== mult)
      effect(
        "tsc-multiplier-needs-offsetting",
        ["TSC_MULTIPLIER"],
        "vmcs12's multiplier ignored without TSC offsetting",
      );
  }

  return {
    vmcs: v,
    memory,
    effects,
    ...(internalError ? { internalError } : {}),
    notes,
    guestSources: sources,
  };
}

/**
 * The vmcs02 the dry run enters: only the early preparation done, so guest state and the TSC multiplier
 * are stale — zero on a vCPU's first nested entry ("fresh"), the previous L2's otherwise ("reused", assumed to
 * be this same vmcs12's: the VMRESUME loop of one L2). GUEST_RFLAGS is 0 (bit 1 must be 1: an invalid guest
 * state the processor checks only after every control and host-state check) and L0's MSR-load counts are 0.
 */
export function dryRunVmcs(built: Vmcs02, stale: "fresh" | "reused"): Vmcs {
  const d = built.vmcs.clone();
  if (stale === "fresh") {
    for (const f of GUEST_STATE_FIELDS) if (!EARLY_GUEST.has(f.name)) d.setHalves(f.index, 0, 0);
    d.setHalves(F.TSC_MULTIPLIER!, 0, 0);
  }
  d.setHalves(F.GUEST_RFLAGS!, 0, 0);
  d.setHalves(F.VM_ENTRY_MSR_LOAD_COUNT!, 0, 0);
  d.setHalves(F.VM_EXIT_MSR_LOAD_COUNT!, 0, 0);
  return d;
}

/**
 * Host-physical memory as the processor sees it through vmcs02: the host pages KVM mapped for L1's pages
 * (read through to L1's memory, so a page is never copied); everything else reads 0.
 */
export class MappedMemory extends Memory {
  private readonly hostToGuest = new Map<number, number>();
  private readonly guestToHost = new Map<number, number>();
  constructor(private readonly l1: Memory) {
    super();
  }
  /** The host-physical address backing an L1 guest-physical address (allocating the page on first use). */
  map(gpa: number): number {
    const page = gpa - (gpa % 4096);
    let hpa = this.guestToHost.get(page);
    if (hpa === undefined) {
      hpa = HPA_BASE + this.guestToHost.size * 4096;
      this.guestToHost.set(page, hpa);
      this.hostToGuest.set(hpa, page);
    }
    return hpa + (gpa % 4096);
  }
  override read32(addr: number): number {
    const off = addr % 4096;
    const g = this.hostToGuest.get(addr - off);
    return g === undefined ? 0 : this.l1.read32(g + off);
  }
  override read8(addr: number): number {
    const off = addr % 4096;
    const g = this.hostToGuest.get(addr - off);
    return g === undefined ? 0 : this.l1.read8(g + off);
  }
}

export { Vmcs };
