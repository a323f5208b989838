/**
 * Linux KVM `dump_vmcs()` output (arch/x86/kvm/vmx/vmx.c), every layout from 4.x to current: the 4.x
 * one-line "EFER = … PAT = …" and "PinBased=… CPUBased=… SecondaryExec=…" lines, the 5.3+ "VMCS …,
 * last attempted VM-entry" header, MSR autoload/autostore lists and "EFER= … (effective|autoload)", the
 * 5.17+ "CPUBased=0x… TertiaryExec=0x…" control lines, BndCfgS/PerfGlobCtl/PKRS lines and the CET lines
 * (one-line "S_CET = …, SSP = …, SSP TABLE = …" or three lines). Layout notes: docs/formats.md.
 */
import { ENTRY, EXIT, PIN, PROC, PROC2 } from "../arch/controls.js";
import type { Entry } from "../entry/document.js";
import type { Memory } from "../vmcs/memory.js";
import { logLines } from "./text.js";
import type { ParsedDump } from "./types.js";
import { parseVmcsDumps } from "./vmcs-dump.js";

/** Every KVM dump in the text (Xen dumps, which share the grammar, are left out). */
export function parseKvmDump(text: string): ParsedDump[] {
  return parseVmcsDumps(logLines(text)).filter((d) => d.format === "kvm-dump");
}

const h16 = (v: bigint) => v.toString(16).padStart(16, "0");
const h8 = (v: bigint) => v.toString(16).padStart(8, "0");
const h4 = (v: bigint) => v.toString(16).padStart(4, "0");

/** Options of formatKvmDump. */
export interface FormatOptions {
  /** Value printed for "reason=" (VM_EXIT_REASON), e.g. 0x80000021. Default: the VMCS field. */
  exitReason?: number;
  /** Line prefix, e.g. "kvm_intel: ". */
  prefix?: string;
}

function msrList(mem: Memory, addr: bigint, count: number, title: string, out: string[]): void {
  out.push(`MSR ${title}:`);
  const base = Number(addr);
  for (let i = 0; i < count; i++) {
    const msr = mem.read32(base + 16 * i);
    const value = mem.read64(base + 16 * i + 8);
    out.push(`  ${String(i).padStart(2)}: msr=0x${msr.toString(16).padStart(8, "0")} value=0x${h16(value)}`);
  }
}

/** Print an entry the way the newest `dump_vmcs()` layout does (what a failing KVM would log for it). */
export function formatKvmDump(e: Entry, opts: FormatOptions = {}): string {
  const g = (n: string) => e.vmcs.getByName(n);
  const out: string[] = [];
  const entry = Number(g("VM_ENTRY_CONTROLS"));
  const exit = Number(g("VM_EXIT_CONTROLS"));
  const pin = Number(g("PIN_BASED_VM_EXEC_CONTROL"));
  const proc = Number(g("CPU_BASED_VM_EXEC_CONTROL"));
  const proc2 = proc & PROC.SECONDARY ? Number(g("SECONDARY_VM_EXEC_CONTROL")) : 0;
  const proc3 = proc & PROC.TERTIARY ? g("TERTIARY_VM_EXEC_CONTROL") : 0n;
  out.push("VMCS 00000000deadbeef, last attempted VM-entry on CPU 0");
  out.push("*** Guest State ***");
  for (const cr of ["CR0", "CR4"])
    out.push(
      `${cr}: actual=0x${h16(g(`GUEST_${cr}`))}, shadow=0x${h16(g(`${cr}_READ_SHADOW`))}, gh_mask=${h16(g(`${cr}_GUEST_HOST_MASK`))}`,
    );
  out.push(`CR3 = 0x${h16(g("GUEST_CR3"))}`);
  out.push(`PDPTR0 = 0x${h16(g("GUEST_PDPTR0"))}  PDPTR1 = 0x${h16(g("GUEST_PDPTR1"))}`);
  out.push(`PDPTR2 = 0x${h16(g("GUEST_PDPTR2"))}  PDPTR3 = 0x${h16(g("GUEST_PDPTR3"))}`);
  out.push(`RSP = 0x${h16(g("GUEST_RSP"))}  RIP = 0x${h16(g("GUEST_RIP"))}`);
  out.push(`RFLAGS=0x${h8(g("GUEST_RFLAGS"))}         DR7 = 0x${h16(g("GUEST_DR7"))}`);
  out.push(
    `Sysenter RSP=${h16(g("GUEST_SYSENTER_ESP"))} CS:RIP=${h4(g("GUEST_SYSENTER_CS"))}:${h16(g("GUEST_SYSENTER_EIP"))}`,
  );
  const sel = (name: string, s: string) =>
    `${name} sel=0x${h4(g(`GUEST_${s}_SELECTOR`))}, attr=0x${g(`GUEST_${s}_AR_BYTES`).toString(16).padStart(5, "0")}, limit=0x${h8(g(`GUEST_${s}_LIMIT`))}, base=0x${h16(g(`GUEST_${s}_BASE`))}`;
  const dt = (name: string, s: string) =>
    `${name}                           limit=0x${h8(g(`GUEST_${s}_LIMIT`))}, base=0x${h16(g(`GUEST_${s}_BASE`))}`;
  out.push(sel("CS:  ", "CS"), sel("DS:  ", "DS"), sel("SS:  ", "SS"), sel("ES:  ", "ES"));
  out.push(sel("FS:  ", "FS"), sel("GS:  ", "GS"), dt("GDTR:", "GDTR"), sel("LDTR:", "LDTR"));
  out.push(dt("IDTR:", "IDTR"), sel("TR:  ", "TR"));
  out.push(`EFER= 0x${h16(g("GUEST_IA32_EFER"))}${entry & ENTRY.LOAD_EFER ? "" : " (effective)"}`);
  if (entry & ENTRY.LOAD_PAT) out.push(`PAT = 0x${h16(g("GUEST_IA32_PAT"))}`);
  out.push(
    `DebugCtl = 0x${h16(g("GUEST_IA32_DEBUGCTL"))}  DebugExceptions = 0x${h16(g("GUEST_PENDING_DBG_EXCEPTIONS"))}`,
  );
  if (entry & ENTRY.LOAD_PERF_GLOBAL_CTRL)
    out.push(`PerfGlobCtl = 0x${h16(g("GUEST_IA32_PERF_GLOBAL_CTRL"))}`);
  if (entry & ENTRY.LOAD_BNDCFGS) out.push(`BndCfgS = 0x${h16(g("GUEST_BNDCFGS"))}`);
  if (entry & ENTRY.LOAD_PKRS) out.push(`PKRS = 0x${h16(g("GUEST_IA32_PKRS"))}`);
  out.push(
    `Interruptibility = ${h8(g("GUEST_INTERRUPTIBILITY_INFO"))}  ActivityState = ${h8(g("GUEST_ACTIVITY_STATE"))}`,
  );
  if (proc2 & PROC2.VID) out.push(`InterruptStatus = ${h4(g("GUEST_INTR_STATUS"))}`);
  const loadCount = Number(g("VM_ENTRY_MSR_LOAD_COUNT"));
  if (loadCount > 0) msrList(e.memory, g("VM_ENTRY_MSR_LOAD_ADDR"), loadCount, "guest autoload", out);
  const storeCount = Number(g("VM_EXIT_MSR_STORE_COUNT"));
  if (storeCount > 0) msrList(e.memory, g("VM_EXIT_MSR_STORE_ADDR"), storeCount, "guest autostore", out);
  if (entry & ENTRY.LOAD_CET)
    out.push(
      `S_CET = 0x${h16(g("GUEST_S_CET"))}, SSP = 0x${h16(g("GUEST_SSP"))}, SSP TABLE = 0x${h16(g("GUEST_INTR_SSP_TABLE"))}`,
    );
  out.push("*** Host State ***");
  out.push(`RIP = 0x${h16(g("HOST_RIP"))}  RSP = 0x${h16(g("HOST_RSP"))}`);
  out.push(
    ["CS", "SS", "DS", "ES", "FS", "GS", "TR"].map((s) => `${s}=${h4(g(`HOST_${s}_SELECTOR`))}`).join(" "),
  );
  out.push(
    `FSBase=${h16(g("HOST_FS_BASE"))} GSBase=${h16(g("HOST_GS_BASE"))} TRBase=${h16(g("HOST_TR_BASE"))}`,
  );
  out.push(`GDTBase=${h16(g("HOST_GDTR_BASE"))} IDTBase=${h16(g("HOST_IDTR_BASE"))}`);
  out.push(`CR0=${h16(g("HOST_CR0"))} CR3=${h16(g("HOST_CR3"))} CR4=${h16(g("HOST_CR4"))}`);
  out.push(
    `Sysenter RSP=${h16(g("HOST_IA32_SYSENTER_ESP"))} CS:RIP=${h4(g("HOST_IA32_SYSENTER_CS"))}:${h16(g("HOST_IA32_SYSENTER_EIP"))}`,
  );
  if (exit & EXIT.LOAD_EFER) out.push(`EFER= 0x${h16(g("HOST_IA32_EFER"))}`);
  if (exit & EXIT.LOAD_PAT) out.push(`PAT = 0x${h16(g("HOST_IA32_PAT"))}`);
  if (exit & EXIT.LOAD_PERF_GLOBAL_CTRL) out.push(`PerfGlobCtl = 0x${h16(g("HOST_IA32_PERF_GLOBAL_CTRL"))}`);
  if (exit & EXIT.LOAD_PKRS) out.push(`PKRS = 0x${h16(g("HOST_IA32_PKRS"))}`);
  const exitLoad = Number(g("VM_EXIT_MSR_LOAD_COUNT"));
  if (exitLoad > 0) msrList(e.memory, g("VM_EXIT_MSR_LOAD_ADDR"), exitLoad, "host autoload", out);
  if (exit & EXIT.LOAD_CET)
    out.push(
      `S_CET = 0x${h16(g("HOST_S_CET"))}, SSP = 0x${h16(g("HOST_SSP"))}, SSP TABLE = 0x${h16(g("HOST_INTR_SSP_TABLE"))}`,
    );
  out.push("*** Control State ***");
  out.push(
    `CPUBased=0x${h8(BigInt(proc >>> 0))} SecondaryExec=0x${h8(BigInt(proc2 >>> 0))} TertiaryExec=0x${h16(proc3)}`,
  );
  out.push(
    `PinBased=0x${h8(BigInt(pin >>> 0))} EntryControls=${h8(BigInt(entry >>> 0))} ExitControls=${h8(BigInt(exit >>> 0))}`,
  );
  out.push(
    `ExceptionBitmap=${h8(g("EXCEPTION_BITMAP"))} PFECmask=${h8(g("PAGE_FAULT_ERROR_CODE_MASK"))} PFECmatch=${h8(g("PAGE_FAULT_ERROR_CODE_MATCH"))}`,
  );
  out.push(
    `VMEntry: intr_info=${h8(g("VM_ENTRY_INTR_INFO_FIELD"))} errcode=${h8(g("VM_ENTRY_EXCEPTION_ERROR_CODE"))} ilen=${h8(g("VM_ENTRY_INSTRUCTION_LEN"))}`,
  );
  out.push(
    `VMExit: intr_info=${h8(g("VM_EXIT_INTR_INFO"))} errcode=${h8(g("VM_EXIT_INTR_ERROR_CODE"))} ilen=${h8(g("VM_EXIT_INSTRUCTION_LEN"))}`,
  );
  const reason = opts.exitReason !== undefined ? BigInt(opts.exitReason >>> 0) : g("VM_EXIT_REASON");
  out.push(`        reason=${h8(reason)} qualification=${h16(g("EXIT_QUALIFICATION"))}`);
  out.push(
    `IDTVectoring: info=${h8(g("IDT_VECTORING_INFO_FIELD"))} errcode=${h8(g("IDT_VECTORING_ERROR_CODE"))}`,
  );
  out.push(`TSC Offset = 0x${h16(g("TSC_OFFSET"))}`);
  if (proc2 & PROC2.TSC_SCALING) out.push(`TSC Multiplier = 0x${h16(g("TSC_MULTIPLIER"))}`);
  if (proc & PROC.TPR_SHADOW) {
    const svi =
      proc2 & PROC2.VID
        ? `SVI|RVI = ${(g("GUEST_INTR_STATUS") >> 8n).toString(16).padStart(2, "0")}|${(g("GUEST_INTR_STATUS") & 0xffn).toString(16).padStart(2, "0")} `
        : "";
    out.push(`${svi}TPR Threshold = 0x${g("TPR_THRESHOLD").toString(16).padStart(2, "0")}`);
    const apic =
      proc2 & PROC2.VIRT_APIC_ACCESSES ? `APIC-access addr = 0x${h16(g("APIC_ACCESS_ADDR"))} ` : "";
    out.push(`${apic}virt-APIC addr = 0x${h16(g("VIRTUAL_APIC_PAGE_ADDR"))}`);
  }
  if (pin & PIN.POSTED_INTR)
    out.push(`PostedIntrVec = 0x${g("POSTED_INTR_NV").toString(16).padStart(2, "0")}`);
  if (proc2 & PROC2.EPT) out.push(`EPT pointer = 0x${h16(g("EPT_POINTER"))}`);
  if (proc2 & (1 << 10)) out.push(`PLE Gap=${h8(g("PLE_GAP"))} Window=${h8(g("PLE_WINDOW"))}`);
  if (proc2 & PROC2.VPID) out.push(`Virtual processor ID = 0x${h4(g("VIRTUAL_PROCESSOR_ID"))}`);
  const pre = opts.prefix ?? "";
  return `${out.map((l) => pre + l).join("\n")}\n`;
}

/** Fields a dump in the newest layout carries for this entry (what a round trip must preserve). */
export function kvmDumpCarries(e: Entry): Set<string> {
  const parsed = parseKvmDump(formatKvmDump(e));
  return new Set(parsed[0] ? [...parsed[0].values.keys()] : []);
}
