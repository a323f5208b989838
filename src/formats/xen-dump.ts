/**
 * Xen's VMCS dump (`vmcs_dump_vcpu()` in xen/arch/x86/hvm/vmx/vmcs.c), printed after "dNvM vmentry failure
 * (reason 0x…)" or by the 'v' debug key, every line prefixed "(XEN)". It shares the section/`Key=value`
 * grammar with KVM's dump (see vmcs-dump.ts) and adds: a positional segment table ("CS: 0010 0209b
 * 00000000 0000000000000000"), "RSP = 0x… (0x…)" with the saved register in parentheses, "EFER(VMCS) =",
 * "PreemptionTimer = … SM Base = …", "EPTP index", "VMfunc controls", and, for MSR-load failures, the
 * failing entry ("msr 000001dd val …").
 */
import { logLines } from "./text.js";
import type { ParsedDump } from "./types.js";
import { parseVmcsDumps } from "./vmcs-dump.js";

export function parseXenDump(text: string): ParsedDump[] {
  return parseVmcsDumps(logLines(text)).filter((d) => d.format === "xen-dump");
}
