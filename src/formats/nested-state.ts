/**
 * KVM_GET_NESTED_STATE blobs: `struct kvm_nested_state` (Linux arch/x86/include/uapi/asm/kvm.h) — a
 * 128-byte header (flags u16, format u16, size u32, then for VMX: vmxon_pa u64, vmcs12_pa u64, smm.flags
 * u16, pad u16, flags u32, preemption_timer_deadline u64, padded to 128) followed by the vmcs12 (4096 bytes)
 * and the shadow vmcs12. The vmcs12 field offsets are KVM ABI (vmcs12.h; revision 0x11e57ed0).
 */
import { fieldByName } from "../arch/fields.js";
import type { Entry } from "../entry/document.js";
import { InputError } from "../errors.js";
import { newDump, type ParsedDump } from "./types.js";

/** KVM's vmcs12 revision identifier (arch/x86/kvm/vmx/vmcs12.h), the first word of a vmcs12 in a nested-state blob. */
export const VMCS12_REVISION = 0x11e57ed0;
export const NESTED_HEADER_SIZE = 128;
export const VMCS12_SIZE = 4096;

const FLAG_GUEST_MODE = 0x1;
const FLAG_RUN_PENDING = 0x2;
const FLAG_EVMCS = 0x4;
const FLAG_MTF_PENDING = 0x8;

const SEG = ["ES", "CS", "SS", "DS", "FS", "GS", "LDTR", "TR"];

/** [byte offset, size in bytes, KVM field name] of every vmcs12 member nvmx knows. */
export const VMCS12_LAYOUT: readonly (readonly [number, 2 | 4 | 8, string])[] = (() => {
  const rows: [number, 2 | 4 | 8, string][] = [];
  const q = (off: number, name: string): void => {
    rows.push([off, 8, name]);
  };
  const d = (off: number, name: string): void => {
    rows.push([off, 4, name]);
  };
  const w = (off: number, name: string): void => {
    rows.push([off, 2, name]);
  };
  [
    "IO_BITMAP_A",
    "IO_BITMAP_B",
    "MSR_BITMAP",
    "VM_EXIT_MSR_STORE_ADDR",
    "VM_EXIT_MSR_LOAD_ADDR",
    "VM_ENTRY_MSR_LOAD_ADDR",
    "TSC_OFFSET",
    "VIRTUAL_APIC_PAGE_ADDR",
    "APIC_ACCESS_ADDR",
    "POSTED_INTR_DESC_ADDR",
    "EPT_POINTER",
    "EOI_EXIT_BITMAP0",
    "EOI_EXIT_BITMAP1",
    "EOI_EXIT_BITMAP2",
    "EOI_EXIT_BITMAP3",
    "XSS_EXIT_BITMAP",
    "GUEST_PHYSICAL_ADDRESS",
    "VMCS_LINK_POINTER",
    "GUEST_IA32_DEBUGCTL",
    "GUEST_IA32_PAT",
    "GUEST_IA32_EFER",
    "GUEST_IA32_PERF_GLOBAL_CTRL",
    "GUEST_PDPTR0",
    "GUEST_PDPTR1",
    "GUEST_PDPTR2",
    "GUEST_PDPTR3",
    "GUEST_BNDCFGS",
    "HOST_IA32_PAT",
    "HOST_IA32_EFER",
    "HOST_IA32_PERF_GLOBAL_CTRL",
    "VMREAD_BITMAP",
    "VMWRITE_BITMAP",
    "VM_FUNCTION_CONTROL",
    "EPTP_LIST_ADDRESS",
    "PML_ADDRESS",
    "ENCLS_EXITING_BITMAP",
    "TSC_MULTIPLIER",
  ].forEach((n, i) => {
    q(40 + 8 * i, n);
  });
  // 336: padding64[1]; 344..
  ["CR0_GUEST_HOST_MASK", "CR4_GUEST_HOST_MASK", "CR0_READ_SHADOW", "CR4_READ_SHADOW"].forEach((n, i) => {
    q(344 + 8 * i, n);
  });
  // 376..400: former CR3-target values (dead space in current KVM, still the old layout)
  for (let i = 0; i < 4; i++) q(376 + 8 * i, `CR3_TARGET_VALUE${i}`);
  q(408, "EXIT_QUALIFICATION");
  q(416, "GUEST_LINEAR_ADDRESS");
  ["GUEST_CR0", "GUEST_CR3", "GUEST_CR4"].forEach((n, i) => {
    q(424 + 8 * i, n);
  });
  [...SEG, "GDTR", "IDTR"].forEach((s, i) => {
    q(448 + 8 * i, `GUEST_${s}_BASE`);
  });
  [
    "GUEST_DR7",
    "GUEST_RSP",
    "GUEST_RIP",
    "GUEST_RFLAGS",
    "GUEST_PENDING_DBG_EXCEPTIONS",
    "GUEST_SYSENTER_ESP",
    "GUEST_SYSENTER_EIP",
    "HOST_CR0",
    "HOST_CR3",
    "HOST_CR4",
    "HOST_FS_BASE",
    "HOST_GS_BASE",
    "HOST_TR_BASE",
    "HOST_GDTR_BASE",
    "HOST_IDTR_BASE",
    "HOST_IA32_SYSENTER_ESP",
    "HOST_IA32_SYSENTER_EIP",
    "HOST_RSP",
    "HOST_RIP",
    "HOST_S_CET",
    "HOST_SSP",
    "HOST_INTR_SSP_TABLE",
    "GUEST_S_CET",
    "GUEST_SSP",
    "GUEST_INTR_SSP_TABLE",
  ].forEach((n, i) => {
    q(528 + 8 * i, n);
  });
  [
    "PIN_BASED_VM_EXEC_CONTROL",
    "CPU_BASED_VM_EXEC_CONTROL",
    "EXCEPTION_BITMAP",
    "PAGE_FAULT_ERROR_CODE_MASK",
    "PAGE_FAULT_ERROR_CODE_MATCH",
    "CR3_TARGET_COUNT",
    "VM_EXIT_CONTROLS",
    "VM_EXIT_MSR_STORE_COUNT",
    "VM_EXIT_MSR_LOAD_COUNT",
    "VM_ENTRY_CONTROLS",
    "VM_ENTRY_MSR_LOAD_COUNT",
    "VM_ENTRY_INTR_INFO_FIELD",
    "VM_ENTRY_EXCEPTION_ERROR_CODE",
    "VM_ENTRY_INSTRUCTION_LEN",
    "TPR_THRESHOLD",
    "SECONDARY_VM_EXEC_CONTROL",
    "VM_INSTRUCTION_ERROR",
    "VM_EXIT_REASON",
    "VM_EXIT_INTR_INFO",
    "VM_EXIT_INTR_ERROR_CODE",
    "IDT_VECTORING_INFO_FIELD",
    "IDT_VECTORING_ERROR_CODE",
    "VM_EXIT_INSTRUCTION_LEN",
    "VMX_INSTRUCTION_INFO",
    ...[...SEG, "GDTR", "IDTR"].map((s) => `GUEST_${s}_LIMIT`),
    ...SEG.map((s) => `GUEST_${s}_AR_BYTES`),
    "GUEST_INTERRUPTIBILITY_INFO",
    "GUEST_ACTIVITY_STATE",
    "GUEST_SYSENTER_CS",
    "HOST_IA32_SYSENTER_CS",
    "VMX_PREEMPTION_TIMER_VALUE",
  ].forEach((n, i) => {
    d(744 + 4 * i, n);
  });
  w(960, "VIRTUAL_PROCESSOR_ID");
  w(962, "POSTED_INTR_NV");
  SEG.forEach((s, i) => {
    w(964 + 2 * i, `GUEST_${s}_SELECTOR`);
  });
  w(980, "GUEST_INTR_STATUS");
  ["ES", "CS", "SS", "DS", "FS", "GS", "TR"].forEach((s, i) => {
    w(982 + 2 * i, `HOST_${s}_SELECTOR`);
  });
  w(996, "GUEST_PML_INDEX");
  return rows;
})();

/** Does this look like a kvm_nested_state blob? (format 0 = VMX or 1 = SVM, a plausible size) */
export function isNestedState(b: Uint8Array): boolean {
  if (b.length < 8) return false;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const format = dv.getUint16(2, true);
  const size = dv.getUint32(4, true);
  return (
    (format === 0 || format === 1) &&
    size >= NESTED_HEADER_SIZE &&
    size <= 2 * VMCS12_SIZE + NESTED_HEADER_SIZE &&
    (dv.getUint16(0, true) & ~0x10f) === 0
  );
}

function u64(dv: DataView, off: number): bigint {
  return dv.getBigUint64(off, true);
}

/** Parse a KVM_GET_NESTED_STATE blob into the vmcs12 (and the shadow vmcs12 when present). */
export function parseNestedState(bytes: Uint8Array): ParsedDump[] {
  const bad = (msg: string, off?: number) =>
    new InputError(msg, off !== undefined ? { location: `byte ${off}` } : {});
  if (bytes.length < NESTED_HEADER_SIZE)
    throw bad(`a kvm_nested_state header is ${NESTED_HEADER_SIZE} bytes; the input has ${bytes.length}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = dv.getUint16(0, true);
  const format = dv.getUint16(2, true);
  const size = dv.getUint32(4, true);
  if (format === 1)
    throw bad("this is an SVM (AMD) nested state (format 1); nvmx checks Intel VMX entries", 2);
  if (format !== 0) throw bad(`unknown kvm_nested_state format ${format} (0 = VMX, 1 = SVM)`, 2);
  if (size < NESTED_HEADER_SIZE || size > bytes.length)
    throw bad(`header size ${size} does not fit the ${bytes.length}-byte input`, 4);
  const vmxonPa = u64(dv, 8);
  const vmcs12Pa = u64(dv, 16);
  const smmFlags = dv.getUint16(24, true);
  const vmxFlags = dv.getUint32(28, true);
  if (flags & FLAG_EVMCS)
    throw bad("the nested state uses an enlightened VMCS (Hyper-V eVMCS); its layout is not a vmcs12", 0);
  if (vmcs12Pa === 0xffffffffffffffffn || size < NESTED_HEADER_SIZE + VMCS12_SIZE)
    throw bad(
      `no vmcs12 in this nested state (vmcs12_pa ${vmcs12Pa === 0xffffffffffffffffn ? "-1" : `0x${vmcs12Pa.toString(16)}`}, size ${size}): L1 had no current VMCS`,
    );
  const out: ParsedDump[] = [];
  const blocks = size >= NESTED_HEADER_SIZE + 2 * VMCS12_SIZE ? 2 : 1;
  for (let b = 0; b < blocks; b++) {
    const base = NESTED_HEADER_SIZE + b * VMCS12_SIZE;
    const rev = dv.getUint32(base, true);
    if ((rev & 0x7fffffff) !== VMCS12_REVISION)
      throw bad(
        `vmcs12 revision 0x${(rev & 0x7fffffff).toString(16)} is not KVM's 0x${VMCS12_REVISION.toString(16)}`,
        base,
      );
    const d = newDump("nested-state", b === 0 ? "KVM vmcs12 (KVM_GET_NESTED_STATE)" : "KVM shadow vmcs12", 0);
    for (const [off, sz, name] of VMCS12_LAYOUT) {
      const v =
        sz === 8
          ? u64(dv, base + off)
          : BigInt(sz === 4 ? dv.getUint32(base + off, true) : dv.getUint16(base + off, true));
      if (fieldByName(name)) d.values.set(name, v);
    }
    const launched = dv.getUint32(base + 8, true);
    d.processor.launchState = launched ? "launched" : "clear";
    d.processor.instruction = launched ? "vmresume" : "vmlaunch";
    d.assumptions.push({
      text: `launch_state=${launched}: the entry is taken to be ${launched ? "VMRESUME" : "VMLAUNCH"}`,
    });
    if (rev & 0x80000000) d.processor.currentVmcsShadow = true;
    d.notes.push(
      `vmxon_pa 0x${vmxonPa.toString(16)}, vmcs12_pa 0x${vmcs12Pa.toString(16)}, flags 0x${flags.toString(16)}${flags & FLAG_GUEST_MODE ? " (L2 running)" : ""}${flags & FLAG_RUN_PENDING ? " (nested VM entry pending)" : ""}${flags & FLAG_MTF_PENDING ? " (MTF pending)" : ""}, smm flags 0x${smmFlags.toString(16)}, vmx flags 0x${vmxFlags.toString(16)}`,
    );
    d.notes.push(
      "vmcs12 has no tertiary controls, PLE gap/window, notify window or guest RTIT_CTL; the MSR-load areas are in L1 memory, which the blob does not include",
    );
    const reason = Number(d.values.get("VM_EXIT_REASON") ?? 0n);
    const err = Number(d.values.get("VM_INSTRUCTION_ERROR") ?? 0n);
    if (reason & 0x80000000)
      d.reported = {
        type: "vmexit",
        raw: reason >>> 0,
        reason: reason & 0xffff,
        entryFailure: true,
        qualification: Number(d.values.get("EXIT_QUALIFICATION") ?? 0n),
        source: "vmcs12 vm_exit_reason",
        line: 0,
      };
    else if (err !== 0)
      d.notes.push(
        `vmcs12 vm_instruction_error = ${err} (the last failing VMX instruction of L1, not necessarily this entry)`,
      );
    out.push(d);
  }
  return out;
}

/** Build a KVM_GET_NESTED_STATE blob holding an entry as vmcs12 (for tests and round trips). */
export function formatNestedState(
  e: Entry,
  opts: { launched?: boolean; exitReason?: number } = {},
): Uint8Array {
  const bytes = new Uint8Array(NESTED_HEADER_SIZE + VMCS12_SIZE);
  const dv = new DataView(bytes.buffer);
  dv.setUint16(0, FLAG_GUEST_MODE | FLAG_RUN_PENDING, true);
  dv.setUint16(2, 0, true);
  dv.setUint32(4, bytes.length, true);
  dv.setBigUint64(8, 0x1000n, true);
  dv.setBigUint64(16, 0x2000n, true);
  const base = NESTED_HEADER_SIZE;
  dv.setUint32(base, VMCS12_REVISION, true);
  dv.setUint32(base + 8, opts.launched ? 1 : 0, true);
  for (const [off, sz, name] of VMCS12_LAYOUT) {
    const f = fieldByName(name);
    if (!f) continue;
    let v = e.vmcs.get(f.index);
    if (name === "VM_EXIT_REASON" && opts.exitReason !== undefined) v = BigInt(opts.exitReason >>> 0);
    if (sz === 8) dv.setBigUint64(base + off, v, true);
    else if (sz === 4) dv.setUint32(base + off, Number(v & 0xffffffffn), true);
    else dv.setUint16(base + off, Number(v & 0xffffn), true);
  }
  return bytes;
}
