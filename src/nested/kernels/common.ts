/**
 * The kernel's own tests, where a KVM check is not exactly an SDM rule (facts read from the release trees
 * cited by each preset; written here in our words). Each says what the kernel does differently, so a
 * result that depends on the difference carries it as a `divergence`.
 */
import { ENTRY, PROC, PROC2 } from "../../arch/controls.js";
import { F } from "../../arch/fields.js";
import { CR0, CR4, DEBUGCTL, EVENT, RFLAGS } from "../../arch/registers.js";
import { checkById } from "../../checks/registry.js";
import type { Check, Ctx } from "../../checks/types.js";
import type { Caps } from "../../cpu/profile.js";
import type { KernelEnv, KernelTest, Source } from "../kernel.js";
import { supportedDebugctl } from "./l1-common.js";

const TWO32 = 0x100000000;
const num = (c: Ctx, i: number): number => c.hi(i) * TWO32 + c.lo(i);

function rule(id: string): Check {
  const c = checkById(id);
  if (!c) throw new Error(`kernel preset names unknown rule ${id}`);
  return c;
}
/** The rule applies to the state and fails it. */
export function ruleFails(c: Ctx, id: string): boolean {
  const r = rule(id);
  return (r.when === undefined || r.when(c)) && r.fail(c);
}

// ---- segment registers (vmx.c __vmx_guest_state_valid and its helpers, run from prepare_vmcs02)

type Seg = "ES" | "CS" | "SS" | "DS" | "FS" | "GS" | "LDTR" | "TR";

interface KvmSegment {
  selector: number;
  baseLo: number;
  baseHi: number;
  limit: number;
  unusable: boolean;
  type: number;
  s: number;
  dpl: number;
  /** KVM derives "present" from the unusable bit; access-rights bit 7 is never read. */
  present: boolean;
  avl: number;
  l: number;
  db: number;
  g: number;
}

function segment(c: Ctx, s: Seg): KvmSegment {
  const ar = c.lo(F[`GUEST_${s}_AR_BYTES`]!);
  const unusable = ((ar >>> 16) & 1) === 1;
  return {
    selector: c.lo(F[`GUEST_${s}_SELECTOR`]!) & 0xffff,
    baseLo: c.lo(F[`GUEST_${s}_BASE`]!),
    baseHi: c.hi(F[`GUEST_${s}_BASE`]!),
    limit: c.lo(F[`GUEST_${s}_LIMIT`]!),
    unusable,
    type: ar & 15,
    s: (ar >>> 4) & 1,
    dpl: (ar >>> 5) & 3,
    present: !unusable,
    avl: (ar >>> 12) & 1,
    l: (ar >>> 13) & 1,
    db: (ar >>> 14) & 1,
    g: (ar >>> 15) & 1,
  };
}

/** The access-rights value KVM rebuilds from its segment structure (bits 31:17 and 11:8 are not kept). */
function rebuiltAr(v: KvmSegment): number {
  return (
    (v.type & 15) |
    (v.s << 4) |
    (v.dpl << 5) |
    (v.present ? 1 << 7 : 0) |
    (v.avl << 12) |
    (v.l << 13) |
    (v.db << 14) |
    (v.g << 15) |
    (v.unusable || !v.present ? 1 << 16 : 0)
  );
}

/** Real-mode/virtual-8086 segments: base = selector × 16, limit 0xffff, AR 0xf3 with DPL (and CS's type) forced. */
function rmodeValid(c: Ctx, s: Seg): boolean {
  const v = segment(c, s);
  v.dpl = 3;
  if (s === "CS") v.type = 3;
  return v.baseHi === 0 && v.baseLo === v.selector << 4 && v.limit === 0xffff && rebuiltAr(v) === 0xf3;
}

function codeValid(c: Ctx): boolean {
  const cs = segment(c, "CS");
  const rpl = cs.selector & 3;
  if (cs.unusable || (cs.type & 0b1001) !== 0b1001 || !cs.s) return false;
  // conforming code (type bit 2): DPL ≤ CS.RPL; otherwise DPL = CS.RPL (the SDM compares with SS.DPL)
  return cs.type & 4 ? cs.dpl <= rpl : cs.dpl === rpl;
}

function stackValid(c: Ctx): boolean {
  const ss = segment(c, "SS");
  if (ss.unusable) return true;
  return (ss.type === 3 || ss.type === 7) && ss.s === 1 && ss.dpl === (ss.selector & 3);
}

function dataValid(c: Ctx, s: Seg): boolean {
  const v = segment(c, s);
  if (v.unusable) return true;
  if (!v.s) return false;
  // DPL ≥ RPL unless conforming code (code and bit 2 both set)
  if ((v.type & 0b1100) !== 0b1100 && v.dpl < (v.selector & 3)) return false;
  return true;
}

function trValid(c: Ctx): boolean {
  const tr = segment(c, "TR");
  return !tr.unusable && (tr.selector & 4) === 0 && (tr.type === 3 || tr.type === 11);
}

function ldtrValid(c: Ctx): boolean {
  const ldtr = segment(c, "LDTR");
  if (ldtr.unusable) return true;
  return (ldtr.selector & 4) === 0 && ldtr.type === 2;
}

/** KVM's segment checks on vmcs12's guest state (true = valid), v6.x. */
export function kvmSegmentsValid(c: Ctx): boolean {
  const pe = (c.lo(F.GUEST_CR0!) & CR0.PE) !== 0;
  const vm = (c.lo(F.GUEST_RFLAGS!) & RFLAGS.VM) !== 0;
  if (!pe || vm) return (["CS", "SS", "DS", "ES", "FS", "GS"] as const).every((s) => rmodeValid(c, s));
  const cs = c.lo(F.GUEST_CS_SELECTOR!) & 3;
  const ss = c.lo(F.GUEST_SS_SELECTOR!) & 3;
  return (
    cs === ss &&
    codeValid(c) &&
    stackValid(c) &&
    (["DS", "ES", "FS", "GS"] as const).every((s) => dataValid(c, s)) &&
    trValid(c) &&
    ldtrValid(c)
  );
}

/** nvmx rules KVM's segment checks correspond to (each only in part: see KVM_SEGMENT_TEST). */
export const SEGMENT_RULES: readonly string[] = [
  ...["cs", "ss", "ds", "es", "fs", "gs"].flatMap((s) => [
    `guest.${s}.v86-base`,
    `guest.${s}.v86-limit`,
    `guest.${s}.v86-ar`,
  ]),
  "guest.ss.rpl-eq-cs-rpl",
  "guest.cs.type",
  "guest.cs.s-set",
  "guest.cs.dpl-eq-ss-dpl",
  "guest.cs.dpl-le-ss-dpl",
  "guest.ss.type",
  "guest.ss.s-set",
  "guest.ss.dpl-eq-rpl",
  ...["ds", "es", "fs", "gs"].flatMap((s) => [`guest.${s}.s-set`, `guest.${s}.dpl-ge-rpl`]),
  "guest.tr.usable",
  "guest.tr.selector-ti",
  "guest.tr.type",
  "guest.ldtr.selector-ti",
  "guest.ldtr.type",
];

/** v6.x: KVM's segment checks from prepare_vmcs02 (vmx.c), skipped under vmcs12's unrestricted guest. */
export const KVM_SEGMENT_TEST: KernelTest = {
  id: "segment-checks-partial",
  name: "KVM's segment checks (vmx.c)",
  fails: (c) => (c.proc2 & PROC2.UNRESTRICTED_GUEST) === 0 && !kvmSegmentsValid(c),
  differs:
    "KVM checks guest segments only when vmcs12 does not use unrestricted guest, and only in part: present is derived from the unusable bit, CS's DPL is compared with CS.RPL (not SS.DPL), DS/ES/FS/GS types and accessed bits, limits and granularity, reserved access-rights bits, L with D/B and TR/LDTR S are not checked, TR type 3 is accepted in IA-32e mode; in virtual-8086 mode the DPL and CS's type are not checked",
};

// ---- memory-backed reads

/** The shadow-VMCS header read through L1's memory map fails (qualification 4). */
export const LINK_POINTER_UNBACKED: KernelTest = {
  id: "link-pointer-unbacked",
  name: "VMCS link pointer page outside L1's memory",
  fails: (c, env) => {
    const lo = c.lo(F.VMCS_LINK_POINTER!);
    const hi = c.hi(F.VMCS_LINK_POINTER!);
    if (lo === 0xffffffff && hi === 0xffffffff) return false;
    if (ruleFails(c, "guest.link-pointer.alignment") || ruleFails(c, "guest.link-pointer.phys-width"))
      return false;
    return !env.backed(hi * TWO32 + lo);
  },
  differs:
    "KVM reads the shadow-VMCS header through L1's memory map and fails the entry (qualification 4) when the page is not in L1's memory; the architecture reads whatever the address holds",
};

/** PAE paging without EPT in vmcs12 (is_pae_paging after vmcs12's CR0/CR4/EFER are loaded). */
function paePagingWithoutEpt(c: Ctx): boolean {
  const cr0 = c.lo(F.GUEST_CR0!);
  const cr4 = c.lo(F.GUEST_CR4!);
  return (
    (c.proc2 & PROC2.EPT) === 0 &&
    (cr0 & CR0.PG) !== 0 &&
    (cr4 & CR4.PAE) !== 0 &&
    (c.entry & ENTRY.IA32E_GUEST) === 0
  );
}

/** Without nested EPT, KVM loads the PDPTEs from L1's memory (qualification 2). */
export const PDPTE_LOAD: KernelTest = {
  id: "pdpte-unbacked",
  name: "KVM loads the PDPTEs from L1's memory",
  fails: (c, env) =>
    paePagingWithoutEpt(c) &&
    (!env.backed((c.lo(F.GUEST_CR3!) & ~0xfff) >>> 0) || ruleFails(c, "guest.pdpte.memory-reserved")),
  differs:
    "without EPT in vmcs12, KVM reads the four PDPTEs itself and fails the entry (qualification 2) when the page-directory-pointer table is not in L1's memory",
};

// ---- v6.19 late control checks (nested_vmx_check_controls_late, only with warn_on_missed_cc)

function lateVtprApplies(c: Ctx, env: KernelEnv): boolean {
  return (
    env.warnOnMissedCc &&
    (c.proc & PROC.TPR_SHADOW) !== 0 &&
    (c.proc2 & (PROC2.VID | PROC2.VIRT_APIC_ACCESSES)) === 0
  );
}
const vapicBacked = (c: Ctx, env: KernelEnv): boolean =>
  env.backed(num(c, F.VIRTUAL_APIC_PAGE_ADDR!) - (c.lo(F.VIRTUAL_APIC_PAGE_ADDR!) & 0xfff));

/** v6.19 with warn_on_missed_cc: an unmappable virtual-APIC page fails the entry (VMfail 7). */
export const LATE_VAPIC_UNMAPPED: KernelTest = {
  id: "late-vapic-unmapped",
  name: "virtual-APIC page not mapped (warn_on_missed_cc)",
  fails: (c, env) => {
    if (!lateVtprApplies(c, env) || vapicBacked(c, env)) return false;
    // with CR8-load and CR8-store exiting KVM cleared TPR shadow in vmcs02, so the check does not run
    return !((c.proc & PROC.CR8_LOAD) !== 0 && (c.proc & PROC.CR8_STORE) !== 0);
  },
  differs:
    "with warn_on_missed_cc, KVM fails the entry (VMfail 7) when it cannot map the virtual-APIC page; the architecture has no such rule",
};

/** v6.19 with warn_on_missed_cc: the VTPR rule, checked after vmcs02's early preparation. */
export const LATE_VTPR: KernelTest = {
  id: "vtpr-checked-late",
  name: "TPR threshold vs VTPR (warn_on_missed_cc)",
  fails: (c, env) =>
    lateVtprApplies(c, env) && vapicBacked(c, env) && ruleFails(c, "ctl.exec.tpr-threshold-vtpr"),
  differs:
    "KVM checks the VTPR rule in software only with warn_on_missed_cc (the virtual-APIC page can change after the check); otherwise the processor does at the real entry",
};

// ---- IA32_DEBUGCTL (v6.18+: vmx_is_valid_debugctl; the merge keeps only the supported bits)

/** v6.18+: bits of IA32_DEBUGCTL KVM virtualizes: RTM debug and bus-lock detect when the CPU has them (LBR virtualization assumed off). */
export function kvmSupportedDebugctl(caps: Caps): number {
  return supportedDebugctl({ busLockDetect: true, rtmDebug: true }, caps.debugctlValidLo);
}

/** v6.18+: vmcs12's IA32_DEBUGCTL may set only the bits KVM virtualizes. */
export const DEBUGCTL_SUPPORTED: KernelTest = {
  id: "debugctl-unsupported-bits",
  name: "IA32_DEBUGCTL bits KVM supports",
  fails: (c) => {
    if ((c.entry & ENTRY.LOAD_DEBUG) === 0) return false;
    // BTF (1) and LBR (0) are accepted (and dropped) even though KVM does not support them
    const okLo = kvmSupportedDebugctl(c.caps) | DEBUGCTL.BTF | DEBUGCTL.LBR;
    return (c.lo(F.GUEST_IA32_DEBUGCTL!) & ~okLo) !== 0 || c.hi(F.GUEST_IA32_DEBUGCTL!) !== 0;
  },
  differs:
    "KVM accepts in vmcs12's IA32_DEBUGCTL only the bits it virtualizes (BTF and LBR are accepted and dropped; RTM debug and bus-lock detect with CPU support), not every bit the processor defines",
};

// ---- event injection (v5.0 tests error-code bits 31:15)

/** v5.0: the VM-entry exception error code must have bits 31:15 clear. */
export const ERROR_CODE_31_15: KernelTest = {
  id: "error-code-bit-15",
  name: "error code bits 31:15",
  fails: (c) => {
    const info = c.lo(F.VM_ENTRY_INTR_INFO_FIELD!);
    return (
      (info & EVENT.VALID) !== 0 &&
      (info & EVENT.DELIVER_ERROR_CODE) !== 0 &&
      (c.lo(F.VM_ENTRY_EXCEPTION_ERROR_CODE!) & 0xffff8000) !== 0
    );
  },
  differs:
    "v5.0 requires bits 31:15 of the VM-entry exception error code to be 0; the SDM reserves only bits 31:16",
};

// ---- MSR lists

const listAddr = (c: Ctx): number => num(c, F.VM_ENTRY_MSR_LOAD_ADDR!);

/** The first entry (1-based) of the VM-entry MSR-load list whose index is `msr`, or 0. */
function firstEntryWithIndex(c: Ctx, msr: number): number {
  const n = Math.min(c.lo(F.VM_ENTRY_MSR_LOAD_COUNT!), c.caps.maxMsrList);
  const base = listAddr(c);
  for (let i = 0; i < n; i++) if (c.mem.read32(base + 16 * i) === msr) return i + 1;
  return 0;
}

function ucodeTest(msr: number, name: string): KernelTest {
  return {
    id: "ucode-msr-in-load-list",
    name: `MSR-load entry for ${name}`,
    fails: (c) => firstEntryWithIndex(c, msr) !== 0,
    entry: (c) => firstEntryWithIndex(c, msr),
    differs: `KVM refuses ${name} (0x${msr.toString(16)}) in the VM-entry MSR-load list; the SDM does not list it`,
  };
}
/** KVM refuses IA32_BIOS_UPDT_TRIG (0x79) in the VM-entry MSR-load list. */
export const MSR_LOAD_UCODE_WRITE = ucodeTest(0x79, "IA32_BIOS_UPDT_TRIG");
/** KVM refuses IA32_BIOS_SIGN_ID (0x8b) in the VM-entry MSR-load list. */
export const MSR_LOAD_UCODE_REV = ucodeTest(0x8b, "IA32_BIOS_SIGN_ID");

/** The first entry (1-based) of the VM-entry MSR-load list that is not in L1's memory, or 0. */
function firstUnbackedEntry(c: Ctx, env: KernelEnv): number {
  const n = Math.min(c.lo(F.VM_ENTRY_MSR_LOAD_COUNT!), c.caps.maxMsrList);
  const base = listAddr(c);
  for (let i = 0; i < n; i++) if (!env.backed(base + 16 * i) || !env.backed(base + 16 * i + 15)) return i + 1;
  return 0;
}
/** An MSR-load entry outside L1's memory fails the entry at that entry (exit 34). */
export const MSR_LOAD_UNBACKED: KernelTest = {
  id: "msr-load-unbacked",
  name: "MSR-load entry outside L1's memory",
  fails: (c, env) => firstUnbackedEntry(c, env) !== 0,
  entry: (c, env) => firstUnbackedEntry(c, env),
  differs:
    "KVM reads each MSR-load entry through L1's memory map and fails the entry (exit 34) at the first one it cannot read",
};

/** v6.6: an entry past the recommended maximum list size fails in nested_vmx_load_msr. */
export const MSR_LOAD_OVER_MAX: KernelTest = {
  id: "msr-load-over-max",
  name: "MSR-load list longer than IA32_VMX_MISC's maximum",
  fails: (c) => c.lo(F.VM_ENTRY_MSR_LOAD_COUNT!) > c.caps.maxMsrList,
  entry: (c) => c.caps.maxMsrList + 1,
  differs:
    "KVM fails the entry at the first MSR-load entry past 512 × (IA32_VMX_MISC[27:25] + 1); the SDM leaves longer lists undefined",
};

/** v6.18+: a count above the recommended maximum fails the msr-switch control check. */
function msrSwitch(count: string, rules: readonly string[], list: string): KernelTest {
  return {
    id: "msr-count-over-max",
    name: `${list} (with the count limit)`,
    fails: (c) => rules.some((r) => ruleFails(c, r)) || c.lo(F[count]!) > c.caps.maxMsrList,
    differs: `KVM also fails a ${list} count above 512 × (IA32_VMX_MISC[27:25] + 1), which the SDM leaves undefined`,
  };
}
const listRules = (p: string): string[] => [`${p}-addr-aligned`, `${p}-addr-width`, `${p}-area-end-width`];
/** v6.18+: the VM-exit MSR-load list check, with KVM's count limit. */
export const MSR_SWITCH_EXIT_LOAD = msrSwitch(
  "VM_EXIT_MSR_LOAD_COUNT",
  listRules("ctl.exit.msr-load"),
  "VM-exit MSR-load list",
);
/** v6.18+: the VM-exit MSR-store list check, with KVM's count limit. */
export const MSR_SWITCH_EXIT_STORE = msrSwitch(
  "VM_EXIT_MSR_STORE_COUNT",
  listRules("ctl.exit.msr-store"),
  "VM-exit MSR-store list",
);
/** v6.18+: the VM-entry MSR-load list check, with KVM's count limit. */
export const MSR_SWITCH_ENTRY_LOAD = msrSwitch(
  "VM_ENTRY_MSR_LOAD_COUNT",
  listRules("ctl.entry.msr-load"),
  "VM-entry MSR-load list",
);
/** v6.18+: the outer check around both VM-exit lists. */
export const MSR_SWITCH_EXIT_BOTH: KernelTest = {
  id: "msr-count-over-max",
  name: "VM-exit MSR lists (with the count limit)",
  fails: (c, env) => MSR_SWITCH_EXIT_LOAD.fails(c, env) || MSR_SWITCH_EXIT_STORE.fails(c, env),
  differs: MSR_SWITCH_EXIT_LOAD.differs,
};

/** Citations into one release tree: `nested(a, b)` is arch/x86/kvm/vmx/nested.c, lines a–b, at `tag`. */
export function citations(tag: string) {
  const at =
    (file: string) =>
    (a: number, b: number): Source => ({ tag, file, lines: [a, b] });
  return {
    nested: at("arch/x86/kvm/vmx/nested.c"),
    vmx: at("arch/x86/kvm/vmx/vmx.c"),
    x86: at("arch/x86/kvm/x86.c"),
    vmcs12h: at("arch/x86/kvm/vmx/vmcs12.h"),
  };
}
