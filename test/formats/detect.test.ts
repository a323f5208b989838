/**
 * Telling formats apart (src/formats/detect.ts): what `sniff` names and which command it sends a user to (the
 * sentences are what `nvmx check` prints when given a log), JSON vs NDJSON, and parseInput's errors.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import {
  detectFormat,
  jsonDocuments,
  noDumpError,
  parseInput,
  readBy,
  readElsewhere,
  sniff,
} from "../../src/formats/detect.js";
import { LogReader } from "../../src/formats/logs.js";
import { formatNestedState } from "../../src/formats/nested-state.js";
import { baseEntry } from "../../src/gen/base.js";
import { profileAll } from "../helpers.js";

const bytes = (t: string) => new TextEncoder().encode(t);
const corpus = (f: string) => readFileSync(new URL(`../corpus/${f}`, import.meta.url), "utf8");
const sample = (f: string) => readFileSync(new URL(`./samples/${f}`, import.meta.url), "utf8");

const KVM = sample("kvm-4x-cs-l-and-d-synthetic.txt");
const VMXCAP = corpus("vmxcap/cs590-nfv-2016-suricata-kvm-host.txt");
const TRACE = " qemu-kvm-1234 [002] .... 17.5: kvm_nested_vmenter_failed: vmcs12->hdr.shadow_vmcs\n";
const BLOB = formatNestedState(baseEntry(profileAll()));

describe("sniff", () => {
  it("names each format and the command that reads it, from text or bytes alike", () => {
    for (const input of [KVM, bytes(KVM)])
      expect(sniff(input)).toEqual({ format: "kvm-dump", name: "Linux KVM dump_vmcs", command: "explain" });
    expect(sniff(VMXCAP)).toEqual({ format: "vmxcap", name: "vmxcap output", command: "--cpu" });
    expect(sniff(bytes(TRACE))).toEqual({
      format: "kvm-tracepoint",
      name: "KVM kvm_nested_vmenter_failed trace",
      command: "explain",
    });
    expect(sniff(BLOB)).toEqual({
      format: "nested-state",
      name: "KVM_GET_NESTED_STATE vmcs12",
      command: "explain",
    });
  });

  it("JSON (an object or an array, after white space) is an nvmx-entry/1 document for check", () => {
    const json = { format: "nvmx-json", name: "nvmx-entry/1 JSON", command: "check" };
    expect(sniff(' \n {"cpu": "skylake"}')).toEqual(json);
    expect(sniff(bytes("[1]"))).toEqual(json);
    // "{" only counts at the start
    expect(sniff("x {")).toBeUndefined();
  });

  it("is undefined for text of no known format and for binary data that is not a nested-state blob", () => {
    expect(sniff("hello\nworld\n")).toBeUndefined();
    expect(sniff(new Uint8Array([0, 1, 2, 3, 0, 0, 0]))).toBeUndefined();
    expect(detectFormat(new Uint8Array([0, 1, 2, 3, 0, 0, 0]))).toBeUndefined();
    expect(detectFormat(bytes(KVM))).toBe("kvm-dump");
  });

  it("reads only the first megabyte of text", () => {
    expect(sniff(`${" ".repeat(1 << 20)}${TRACE}`)).toBeUndefined();
    expect(sniff(`${" ".repeat((1 << 20) - TRACE.length)}${TRACE}`)?.format).toBe("kvm-tracepoint");
  });
});

describe("readBy / readElsewhere: the sentence for an input another command reads", () => {
  it("pins each sentence", () => {
    const s = (format: string) => sniff(format);
    expect(readBy(s(KVM)!, "a.log")).toBe(
      "this is a Linux KVM dump_vmcs, not an nvmx-entry/1 document: nvmx explain a.log reads it (nvmx convert a.log --to json turns it into an entry document)",
    );
    expect(readBy(s(VMXCAP)!, "caps.txt")).toBe(
      "this is vmxcap output (CPU capabilities, not a VM entry): give it as --cpu caps.txt, or turn it into a profile with nvmx convert caps.txt --to json",
    );
    expect(readBy(s("{}")!, "e.json")).toBe("this is nvmx-entry/1 JSON: nvmx check e.json reads it");
  });

  it("names another command for a log, vmxcap output or a blob; nothing for JSON or unknown input", () => {
    expect(readElsewhere(bytes(KVM), "a.log")).toMatch(
      /^this is a Linux KVM dump_vmcs, .*nvmx explain a\.log/,
    );
    expect(readElsewhere(bytes(VMXCAP), "c")).toMatch(/^this is vmxcap output/);
    expect(readElsewhere(BLOB, "b")).toMatch(/^this is a KVM_GET_NESTED_STATE vmcs12, /);
    expect(readElsewhere(bytes('{"cpu": "skylake"}'), "e.json")).toBeUndefined();
    expect(readElsewhere(bytes("not a format"), "x")).toBeUndefined();
  });
});

describe("jsonDocuments", () => {
  it("one JSON value is one document, whatever its lines", () => {
    expect(jsonDocuments('{\n"a": 1\n}')).toEqual([{ text: '{\n"a": 1\n}' }]);
  });
  it("NDJSON: one document per non-empty line, with its line number (\\n, \\r\\n, \\r)", () => {
    expect(jsonDocuments('{"a":1}\r\n\n  {"b":2}  \r{"c"')).toEqual([
      { text: '{"a":1}', line: 1 },
      { text: '{"b":2}', line: 3 },
      { text: '{"c"', line: 4 },
    ]);
  });
  it("text with no JSON line stays one document (its reader reports the error)", () => {
    expect(jsonDocuments(" \n ")).toEqual([{ text: " \n " }]);
  });
});

describe("parseInput", () => {
  it("reads each kind of input", () => {
    const json = parseInput(bytes('  {"a": 1}'));
    expect(json).toEqual({ format: "nvmx-json", documents: [{ text: '  {"a": 1}' }] });
    const caps = parseInput(bytes(VMXCAP), "host-caps");
    expect(caps.format === "vmxcap" && caps.profile.name).toBe("host-caps");
    const trace = parseInput(bytes(TRACE));
    expect(trace.format === "kvm-tracepoint" && trace.lines.map((l) => l.message)).toEqual([
      "vmcs12->hdr.shadow_vmcs",
    ]);
    const blob = parseInput(BLOB);
    expect(blob.format === "logs" && blob.dumps.map((d) => d.format)).toEqual(["nested-state"]);
  });

  it("a default name for a vmxcap profile", () => {
    const caps = parseInput(bytes(VMXCAP));
    expect(caps.format === "vmxcap" && caps.profile.name).toBe("vmxcap");
  });

  it("binary data that is not a blob, and text without a dump, are InputErrors that say what was expected", () => {
    expect(() => parseInput(new Uint8Array([0, 1, 2, 3, 0, 0, 0]))).toThrow(
      new InputError(
        "binary input that is not a KVM_GET_NESTED_STATE blob (expected a 128-byte kvm_nested_state header with format 0 and a plausible size)",
      ),
    );
    expect(() => parseInput(bytes("hello\n"))).toThrow(
      'no VM-entry log found: expected a KVM dump_vmcs ("*** Guest State ***" or its lines), a Xen VMCS dump, QEMU\'s "KVM: entry failed" register dump, vmxcap output, a KVM_GET_NESTED_STATE blob or an nvmx-entry/1 document',
    );
  });
});

describe("noDumpError", () => {
  it("names a lone 'KVM: entry failed' line, decoded, at its line", () => {
    const r = new LogReader(() => {});
    r.push("boot\nKVM: entry failed, hardware error 0x7\n");
    r.end();
    const e = noDumpError(r);
    expect(e.reason).toMatch(
      /^the log has "KVM: entry failed, hardware error 0x7" \(.+\) but no register or VMCS dump to check$/,
    );
    expect(e.line).toBe(2);
  });
  it("without a reader, or without such a line, says what a log should hold", () => {
    expect(noDumpError(undefined).message).toMatch(/^no VM-entry log found: /);
    expect(noDumpError(undefined).line).toBeUndefined();
    expect(noDumpError(new LogReader(() => {})).message).toMatch(/^no VM-entry log found: /);
  });
});
