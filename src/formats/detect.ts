/**
 * Which format an input is in, and every VM entry it describes. One file may hold several dumps (a KVM
 * dump followed by QEMU's register dump, Xen's 'v' key output for several vCPUs): all are returned, in
 * file order. `sniff` names what an input is and the command that reads it, for commands given something
 * else (`nvmx check` given a dump). KVM's kvm_nested_vmenter_failed tracepoint is read by
 * src/formats/kvm-tracepoint.ts.
 */
import type { ProfileData } from "../cpu/profile.js";
import { InputError } from "../errors.js";
import { looksLikeKvmTracepoint, parseKvmTracepoint, type TracepointLine } from "./kvm-tracepoint.js";
import { LogReader, readLogText } from "./logs.js";
import { isNestedState, parseNestedState } from "./nested-state.js";
import { decodeHardwareError, describeReported } from "./reported.js";
import { looksBinary } from "./text.js";
import type { InputFormat, ParsedDump } from "./types.js";
import { looksLikeVmxcap, parseVmxcap } from "./vmxcap.js";

/** What {@link parseInput} read: the dumps of a log, a profile (vmxcap output), or an entry document. */
export type ParsedInput =
  | { format: "nvmx-json"; documents: { text: string; line?: number }[] }
  | { format: "vmxcap"; profile: ProfileData }
  | { format: "logs"; dumps: ParsedDump[] }
  | { format: "kvm-tracepoint"; lines: TracepointLine[] };

/** What `sniff` found: the format, a name for people, and which command reads it. */
export interface Sniffed {
  format: InputFormat | "kvm-tracepoint";
  name: string;
  /** The nvmx command for this input ("explain", "check", "--cpu"). */
  command: string;
}

export const FORMAT_NAMES: Record<InputFormat, string> = {
  "kvm-dump": "Linux KVM dump_vmcs",
  "xen-dump": "Xen VMCS dump",
  "qemu-regs": 'QEMU "KVM: entry failed" register dump',
  "nested-state": "KVM_GET_NESTED_STATE vmcs12",
  "nvmx-json": "nvmx-entry/1 JSON",
  vmxcap: "vmxcap output",
};

/** How much of an input `sniff` reads: enough for the first dump of any log. */
const SNIFF_BYTES = 1 << 20;

/**
 * What an input is, from its first megabyte, or undefined when it is none of the supported formats. Never
 * throws. A log is named by its first dump's format.
 */
export function sniff(input: Uint8Array | string): Sniffed | undefined {
  let text: string;
  if (typeof input === "string") text = input.slice(0, SNIFF_BYTES);
  else {
    if (looksBinary(input))
      return isNestedState(input)
        ? { format: "nested-state", name: FORMAT_NAMES["nested-state"], command: "explain" }
        : undefined;
    text = new TextDecoder().decode(input.subarray(0, SNIFF_BYTES));
  }
  const t = text.trimStart();
  if (t.startsWith("{") || t.startsWith("["))
    return { format: "nvmx-json", name: FORMAT_NAMES["nvmx-json"], command: "check" };
  let first: ParsedDump | undefined;
  const reader = new LogReader((d) => {
    first ??= d;
  });
  try {
    reader.push(text);
    reader.end();
  } catch {
    return undefined;
  }
  if (first) return { format: first.format, name: FORMAT_NAMES[first.format], command: "explain" };
  if (looksLikeVmxcap(text)) return { format: "vmxcap", name: FORMAT_NAMES.vmxcap, command: "--cpu" };
  if (looksLikeKvmTracepoint(text))
    return { format: "kvm-tracepoint", name: "KVM kvm_nested_vmenter_failed trace", command: "explain" };
  return undefined;
}

/** Guess the format of an input without parsing it fully. */
export function detectFormat(bytes: Uint8Array): InputFormat | "kvm-tracepoint" | undefined {
  return sniff(bytes)?.format;
}

/** The sentence a command prints when given an input another command reads. */
export function readBy(s: Sniffed, file: string): string {
  if (s.command === "--cpu")
    return `this is ${s.name} (CPU capabilities, not a VM entry): give it as --cpu ${file}, or turn it into a profile with nvmx convert ${file} --to json`;
  if (s.command === "explain")
    return `this is a ${s.name}, not an nvmx-entry/1 document: nvmx explain ${file} reads it (nvmx convert ${file} --to json turns it into an entry document)`;
  return `this is ${s.name}: nvmx check ${file} reads it`;
}

/**
 * For the commands that read nvmx-entry/1 documents (check, repair, nested): when the beginning of an input
 * is a log, vmxcap output or a nested-state blob rather than JSON, the sentence naming the command that reads
 * it; undefined when it may be JSON or is nothing nvmx knows (the JSON reader then reports it).
 */
export function readElsewhere(head: Uint8Array, file: string): string | undefined {
  const s = sniff(head);
  return s && s.command !== "check" ? readBy(s, file) : undefined;
}

/** The InputError of a log in which no dump was found. */
export function noDumpError(reader: LogReader | undefined): InputError {
  const lonely = reader?.lonelyFailure;
  if (lonely)
    return new InputError(
      `the log has "${lonely.text}" (${describeReported(decodeHardwareError(lonely.raw, lonely.text, lonely.line))}) but no register or VMCS dump to check`,
      { line: lonely.line },
    );
  return new InputError(
    'no VM-entry log found: expected a KVM dump_vmcs ("*** Guest State ***" or its lines), a Xen VMCS dump, QEMU\'s "KVM: entry failed" register dump, vmxcap output, a KVM_GET_NESTED_STATE blob or an nvmx-entry/1 document',
  );
}

/** Split JSON text into documents: one document if the whole text is one JSON value, otherwise NDJSON. */
export function jsonDocuments(text: string): { text: string; line?: number }[] {
  try {
    JSON.parse(text);
    return [{ text }];
  } catch {
    // NDJSON: every non-empty line is one document (its error, if any, names the line)
  }
  const out: { text: string; line?: number }[] = [];
  let line = 0;
  for (const l of text.split(/\r\n|\r|\n/)) {
    line++;
    const t = l.trim();
    if (t) out.push({ text: t, line });
  }
  return out.length ? out : [{ text }];
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
  if (text.trimStart().startsWith("{")) return { format: "nvmx-json", documents: jsonDocuments(text) };
  const { dumps, reader } = readLogText(text);
  if (dumps.length) return { format: "logs", dumps };
  if (looksLikeVmxcap(text)) return { format: "vmxcap", profile: parseVmxcap(text, name) };
  if (looksLikeKvmTracepoint(text)) return { format: "kvm-tracepoint", lines: parseKvmTracepoint(text) };
  throw noDumpError(reader);
}
