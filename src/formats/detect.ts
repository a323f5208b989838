/**
 * Which format an input is in, and every VM entry it describes. One file may hold several dumps (a KVM
 * dump followed by QEMU's register dump, Xen's 'v' key output for several vCPUs): all are returned, in
 * file order.
 */
import type { ProfileData } from "../cpu/profile.js";
import { InputError } from "../errors.js";
import { looksLikeKvmTracepoint, parseKvmTracepoint, type TracepointLine } from "./kvm-tracepoint.js";
import { isNestedState, parseNestedState } from "./nested-state.js";
import { parseQemuRegs } from "./qemu-regs.js";
import { decodeHardwareError, describeReported } from "./reported.js";
import { logLines, looksBinary } from "./text.js";
import type { InputFormat, ParsedDump } from "./types.js";
import { parseVmcsDumps } from "./vmcs-dump.js";
import { looksLikeVmxcap, parseVmxcap } from "./vmxcap.js";

export type ParsedInput =
  | { format: "nvmx-json"; documents: { text: string; line?: number }[] }
  | { format: "vmxcap"; profile: ProfileData }
  | { format: "logs"; dumps: ParsedDump[] }
  | { format: "kvm-tracepoint"; lines: TracepointLine[] };

/** Guess the format of an input without parsing it fully. */
export function detectFormat(bytes: Uint8Array): InputFormat | "kvm-tracepoint" | undefined {
  if (looksBinary(bytes)) return isNestedState(bytes) ? "nested-state" : undefined;
  const text = new TextDecoder().decode(bytes);
  const t = text.trimStart();
  if (t.startsWith("{")) return "nvmx-json";
  if (/\(XEN\)[^\n]*\*\*\* Guest State \*\*\*|vmentry failure \(reason/.test(text)) return "xen-dump";
  if (/\*\*\* Guest State \*\*\*|VMCS [0-9a-fx]+, last attempted VM-entry/.test(text)) return "kvm-dump";
  if (/KVM: entry failed, hardware error|(?:^|\n)[^\n]*\b(?:EAX|RAX)=[0-9a-f]+ (?:EBX|RBX)=/.test(text))
    return "qemu-regs";
  if (looksLikeVmxcap(text)) return "vmxcap";
  if (looksLikeKvmTracepoint(text)) return "kvm-tracepoint";
  return undefined;
}

function sortDumps(ds: ParsedDump[]): ParsedDump[] {
  return ds.sort((a, b) => a.line - b.line);
}

/** Parse any supported input. Throws InputError (naming the problem) when nothing can be read. */
export function parseInput(bytes: Uint8Array, name = "vmxcap"): ParsedInput {
  if (looksBinary(bytes)) {
    if (!isNestedState(bytes))
      throw new InputError(
        "binary input that is not a KVM_GET_NESTED_STATE blob (expected a 128-byte kvm_nested_state header with format 0 and a plausible size)",
      );
    return { format: "logs", dumps: parseNestedState(bytes) };
  }
  const text = new TextDecoder().decode(bytes);
  if (text.trimStart().startsWith("{")) {
    const lines = text.split(/\r\n|\r|\n/);
    const nonEmpty = lines.map((l, i) => ({ text: l.trim(), line: i + 1 })).filter((l) => l.text);
    let whole = true;
    try {
      JSON.parse(text);
    } catch {
      whole = false;
    }
    return whole || nonEmpty.length <= 1
      ? { format: "nvmx-json", documents: [{ text }] }
      : { format: "nvmx-json", documents: nonEmpty };
  }
  const lines = logLines(text);
  const dumps = sortDumps([...parseVmcsDumps(lines), ...parseQemuRegs(text)]);
  if (dumps.length) return { format: "logs", dumps };
  if (looksLikeVmxcap(text)) return { format: "vmxcap", profile: parseVmxcap(text, name) };
  if (looksLikeKvmTracepoint(text)) return { format: "kvm-tracepoint", lines: parseKvmTracepoint(text) };
  const err = /KVM: entry failed, hardware error (0x[0-9a-f]+|\d+)/i.exec(text);
  if (err) {
    const raw = err[1]!.toLowerCase().startsWith("0x") ? Number.parseInt(err[1]!, 16) : Number(err[1]);
    const line = lines.find((l) => l.text.includes(err[0]))?.line ?? 1;
    throw new InputError(
      `the log has "${err[0]}" (${describeReported(decodeHardwareError(raw, err[0], line))}) but no register or VMCS dump to check`,
      { line },
    );
  }
  throw new InputError(
    'no VM-entry log found: expected a KVM dump_vmcs ("*** Guest State ***"), a Xen VMCS dump, QEMU\'s "KVM: entry failed" register dump, vmxcap output, a KVM_GET_NESTED_STATE blob or an nvmx-entry/1 document',
  );
}
