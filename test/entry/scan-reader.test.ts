/**
 * The scanner's readers (src/entry/scan.ts: the document, `vmcs`, `processor` and `memory` objects, numbers) byte
 * by byte. Two rules: every line it takes, it reads as parseEntryText does, and it refuses (leaves to the exact
 * parser) every line parseEntryText refuses — checked on every one-byte change, deletion and cut of documents
 * that use each reader's every form; and it takes every form it is written for without JSON.parse (counted), so
 * that a batch's common lines never reach the exact parser.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
import { FIELDS } from "../../src/arch/fields.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { serializeEntry } from "../../src/entry/document.js";
import { EntryScanner } from "../../src/entry/scan.js";
import { baseEntry } from "../../src/gen/base.js";
import { Memory } from "../../src/vmcs/memory.js";
import { agree, agreeWith, exact, scan } from "./scan-helpers.js";

/** A 64-bit field and the field stored after it: writing the first one's high half must not touch the second. */
const [WIDE, AFTER_WIDE] = (() => {
  for (const f of FIELDS) {
    const g = FIELDS.find((x) => x.index === f.index + 1);
    if (f.width === 64 && f.type !== "read-only" && g && g.type !== "read-only") return [f, g];
  }
  throw new Error("no 64-bit field followed by a writable one");
})();

const HEX = "123456789abcdef0";
const DEC = "123456789012345";

/** Documents in the shapes the fast reader takes, each reader's forms and bounds among them. */
const FAST_DOCS: string[] = [
  // vmcs: "0x" and 1-16 hex digits, 1-15 decimal digits in a string or as a JSON integer, each field width
  ...Array.from({ length: 16 }, (_, i) => `{"vmcs":{"GUEST_RIP":"0x${HEX.slice(0, i + 1)}"}}`),
  ...Array.from({ length: 16 }, (_, i) => `{"vmcs":{"GUEST_RIP":"0X${HEX.slice(0, i + 1).toUpperCase()}"}}`),
  ...Array.from({ length: 15 }, (_, i) => `{"vmcs":{"GUEST_RIP":"${DEC.slice(0, i + 1)}"}}`),
  ...Array.from({ length: 15 }, (_, i) => `{"vmcs":{"GUEST_RIP":${DEC.slice(0, i + 1)}}}`),
  '{"vmcs":{"GUEST_RIP":0,"GUEST_RSP":"0"}}',
  '{"vmcs":{"GUEST_ES_SELECTOR":"0xffff","PIN_BASED_VM_EXEC_CONTROL":"0xffffffff","GUEST_CR0":"0xffffffffffffffff"}}',
  '{"vmcs":{"GUEST_ES_SELECTOR":65535,"PIN_BASED_VM_EXEC_CONTROL":4294967295,"TSC_OFFSET":"0x0000000000000001"}}',
  `{"vmcs":{"${AFTER_WIDE.name}":"0x5","${WIDE.name}_HIGH":"0x7","${WIDE.name}":"0x9"}}`,
  `{"vmcs":{"${WIDE.name}":"0x9","${AFTER_WIDE.name}":"0x5","${WIDE.name}_HIGH":"0xffffffff"}}`,
  '{"vmcs":{}}',
  // processor: every key, every kind of value
  '{"processor":{},"vmcs":{}}',
  ...[0, 1, 2, 3].map((c) => `{"processor":{"cpl":${c}},"vmcs":{}}`),
  '{"processor":{"instruction":"vmresume","launchState":"launched","executiveVmcsLaunchState":"clear"},"vmcs":{}}',
  '{"processor":{"instruction":"vmlaunch","launchState":"clear","executiveVmcsLaunchState":"launched"},"vmcs":{}}',
  '{"processor":{"ia32e":false,"vmxRoot":false,"currentVmcsValid":false,"inSmm":true,"blockingByMovSs":true,"dualMonitorActive":true,"currentVmcsShadow":true},"vmcs":{}}',
  '{"processor":{"ia32e":true,"vmxRoot":true,"currentVmcsValid":true,"inSmm":false,"blockingByMovSs":false,"dualMonitorActive":false,"currentVmcsShadow":false},"vmcs":{}}',
  ...["0", "7", DEC].map((a) => `{"processor":{"vmxonPointer":${a}},"vmcs":{}}`),
  '{"processor":{"vmxonPointer":0,"currentVmcsPointer":0 ,"cpl":1},"vmcs":{}}',
  ...["0x0", "0X1000", "0xfffffffffffff", "0x0fffffffffffff", "0x00000000001000"].map(
    (a) => `{"processor":{"currentVmcsPointer":"${a}","vmxonPointer":"${a}"},"vmcs":{}}`,
  ),
  // memory: keys "0x..." (aligned, below 2^52, up to 64 of them), arrays of 1-16 hex digits
  '{"memory":{},"vmcs":{}}',
  '{"memory":{"0x7000":[]},"vmcs":{}}',
  ...Array.from(
    { length: 16 },
    (_, i) => `{"memory":{"0x7000":["0x${HEX.slice(0, i + 1)}","0X1"]},"vmcs":{}}`,
  ),
  '{"memory":{"0xffffffffffff8":["0xffffffffffffffff"],"0X8":["0x1","0x2","0x3"],"0x0":["0x5"]},"vmcs":{}}',
  `{"memory":{${Array.from({ length: 64 }, (_, i) => `"0x${(8 * i).toString(16)}":["0x${i}"]`).join(",")}},"vmcs":{}}`,
  // everything at once, in another key order
  '{"comment":"c","vmcs":{"GUEST_CR0":"0x31","GUEST_RIP":4096},"format":"nvmx-entry/1","cpu":"skylake",' +
    '"memory":{"0x7000":["0x480","0x1"]},"processor":{"cpl":3,"vmxonPointer":"0x1000"},"description":"d"}',
];

/**
 * Documents to change byte by byte: each reader with each of its forms, compact. Short, so that every change of
 * every byte is tried.
 */
const CHANGED_DOCS: string[] = [
  '{"vmcs":{"GUEST_RIP":"0x1f","GUEST_RSP":"42","GUEST_CR0":17,"GUEST_ES_SELECTOR":"0xff"}}',
  `{"vmcs":{"${AFTER_WIDE.name}":"0x5","${WIDE.name}_HIGH":"0x7"},"cpu":"skylake"}`,
  '{"format":"nvmx-entry/1","processor":{"cpl":3,"ia32e":false,"instruction":"vmresume","vmxonPointer":4096,"currentVmcsPointer":"0x2000"},"vmcs":{}}',
  '{"processor":{"launchState":"launched","executiveVmcsLaunchState":"clear","inSmm":true},"vmcs":{},"comment":"x"}',
  '{"vmcs":{},"memory":{"0x7000":["0x480","0x10"],"0x8":[]}}',
  // one digit more makes each key 2^52 or above (refused)
  '{"memory":{"0xffffffffffff8":["0x1"],"0x1000000000000":[]},"vmcs":{}}',
  // one-digit values: a deletion leaves "0x" or "" (refused) or a changed digit
  '{"processor":{"vmxonPointer":"0x8","cpl":0,"currentVmcsPointer":0},"memory":{"0x8":["0x1"]},"vmcs":{"GUEST_RIP":"0x1","GUEST_RSP":"1","GUEST_CR0":1,"GUEST_RFLAGS":0}}',
];

const BYTES = [
  '"',
  ",",
  ":",
  "{",
  "}",
  "[",
  "]",
  "0",
  "1",
  "9",
  "a",
  "f",
  "x",
  "X",
  " ",
  "\\",
  "-",
  ".",
  "e",
  "t",
];

/** Whitespace at every token boundary of a JSON text (outside strings), one place at a time. */
function spaced(text: string, ws: string): string[] {
  const out: string[] = [];
  let inString = false;
  for (let i = 0; i <= text.length; i++) {
    const before = text[i - 1] ?? "";
    const at = text[i] ?? "";
    const boundary =
      !inString && ("{}[]:,".includes(before) || "{}[]:,".includes(at) || i === 0 || i === text.length);
    if (boundary) out.push(text.slice(0, i) + ws + text.slice(i));
    if (at === '"') inString = !inString;
  }
  return out;
}

function countingParse<T>(f: () => T): [T, number] {
  const parse = vi.spyOn(JSON, "parse");
  try {
    const r = f();
    return [r, parse.mock.calls.length];
  } finally {
    parse.mockRestore();
  }
}

describe("EntryScanner's readers", () => {
  it("take every form they are written for, without JSON.parse, and read it as parseEntryText does", () => {
    const scanner = new EntryScanner();
    for (const d of FAST_DOCS) scan(scanner, d); // a key spelling met for the first time is resolved once
    for (const d of FAST_DOCS) {
      const [got, parses] = countingParse(() => scan(scanner, d));
      expect(got, d).toBeDefined();
      expect(parses, d).toBe(0);
      expect(agreeWith(got, d), d).toBe(true);
    }
  });

  it("take white space at every token boundary (space, tab, CR, LF), without JSON.parse", () => {
    const scanner = new EntryScanner();
    const docs = [FAST_DOCS.at(-1)!, ...CHANGED_DOCS];
    for (const d of docs) scan(scanner, d);
    for (const d of docs)
      for (const ws of [" ", "\t", "\r\n", "  \n "])
        for (const text of spaced(d, ws)) {
          const [got, parses] = countingParse(() => scan(scanner, text));
          expect(got, JSON.stringify(text)).toBeDefined();
          expect(parses, JSON.stringify(text)).toBe(0);
          expect(agreeWith(got, text), text).toBe(true);
        }
  });

  it("refuse every one-byte change, deletion or insertion that parseEntryText refuses, and read the rest as it does", () => {
    const scanner = new EntryScanner();
    let taken = 0;
    let refused = 0;
    for (const d of CHANGED_DOCS) {
      expect(agree(scanner, d), d).toBe(true);
      for (let i = 0; i < d.length; i++) {
        const variants = [d.slice(0, i) + d.slice(i + 1)];
        for (const c of BYTES) {
          if (c !== d[i]) variants.push(d.slice(0, i) + c + d.slice(i + 1));
          variants.push(d.slice(0, i) + c + d.slice(i));
        }
        for (const v of variants) {
          if (agree(scanner, v)) taken++;
          else if (typeof exact(v) === "string") refused++;
        }
      }
    }
    // both kinds occur in numbers (a digit changed or added is still a value)
    expect(taken).toBeGreaterThan(300);
    expect(refused).toBeGreaterThan(3000);
  });

  it("read only the bytes in [start, end): a line cut anywhere, with the rest of the buffer after it, or after other bytes", () => {
    const scanner = new EntryScanner();
    for (const d of [...CHANGED_DOCS, FAST_DOCS.at(-1)!]) {
      const twice = Buffer.from(d + d, "latin1");
      for (let i = 0; i <= d.length; i++) {
        agreeWith(scanner.scan(twice, 0, i), d.slice(0, i));
        // the buffer ends with the line: a read past the end would throw (DataView) or read undefined
        const cut = Buffer.from(d.slice(0, i), "latin1");
        agreeWith(scanner.scan(cut, 0, i), d.slice(0, i));
      }
      expect(scanner.scan(twice, 0, d.length), d).toBeDefined();
      for (const before of ["0", '"', "\\", "{", "0x1", '{"vmcs":{"GUEST_RIP":"0x', " ", d]) {
        const b = Buffer.from(before + d + d, "latin1");
        const got = scanner.scan(b, before.length, before.length + d.length);
        expect(got, `${before} | ${d}`).toBeDefined();
        agreeWith(got, d);
        for (let i = 0; i < d.length; i++)
          agreeWith(scanner.scan(b, before.length + i, before.length + d.length), d.slice(i));
      }
    }
  });

  it("take, with one JSON.parse of the value alone, a processor or memory object only the exact validators read", () => {
    const scanner = new EntryScanner();
    const lines = [
      '{"processor":{"vmxonPointer":"4096"},"vmcs":{}}',
      '{"processor":{"vmxonPointer":4503599627370495},"vmcs":{}}',
      '{"processor":{"currentVmcsPointer":"0x000000000000001000"},"vmcs":{}}',
      '{"processor":{"cpl":3.0},"vmcs":{}}',
      '{"processor":{"cpl":1,"cpl":2},"vmcs":{}}',
      '{"processor":{"ia32e":false,"vmxonPointer":1e3},"vmcs":{}}',
      '{"memory":{"0x7000":["0x00000000000000001"]},"vmcs":{}}',
      '{"memory":{"0x7000":["0x1"],"0x7000":["0x2"]},"vmcs":{}}',
      `{"memory":{${Array.from({ length: 65 }, (_, i) => `"0x${(8 * i).toString(16)}":["0x${i}"]`).join(",")}},"vmcs":{}}`,
    ];
    for (const l of lines) {
      const [got, parses] = countingParse(() => scan(scanner, l));
      expect(got, l).toBeDefined();
      expect(parses, l).toBe(1);
      expect(agreeWith(got, l), l).toBe(true);
    }
  });

  it("keep a processor object read before an inline profile (the profile is not a processor object)", () => {
    const scanner = new EntryScanner();
    const vmcs = serializeEntry(baseEntry(builtinProfile("skylake"))).vmcs;
    const cpu = JSON.parse(
      readFileSync(new URL("../../src/cpu/profiles/skylake.json", import.meta.url), "utf8"),
    );
    const line = JSON.stringify({ processor: { cpl: 3, instruction: "vmresume" }, cpu, vmcs });
    const got = scan(scanner, line);
    expect(got).toBeDefined();
    expect(agreeWith(got, line)).toBe(true);
    expect(got!.processor.cpl).toBe(3);
  });

  it("with --cpu, still refuse a cpu value that is not JSON (the value is then not read, but must parse)", () => {
    const cpu = builtinProfile("haswell");
    const scanner = new EntryScanner({ cpu });
    for (const value of ['"a\\qb"', "tru", '"\\u12"', '{"a":}', "[1,]", '"x"', '{"a":[1]}', "null"]) {
      const line = `{"cpu":${value},"vmcs":{"GUEST_RIP":"0x1"}}`;
      agree(scanner, line, { cpu });
      expect(scan(scanner, line) === undefined, line).toBe(typeof exact(line, { cpu }) === "string");
    }
  });

  it("give no cpu when the document names none (as parseEntryText, which leaves the key out)", () => {
    const scanner = new EntryScanner();
    const got = scan(scanner, '{"vmcs":{"GUEST_RIP":"0x1"}}')!;
    expect(Object.hasOwn(got, "cpu")).toBe(false);
    expect(scan(scanner, '{"cpu":"skylake","vmcs":{}}')!.cpu).toBe("skylake");
    expect(Object.hasOwn(scan(scanner, '{"vmcs":{}}')!, "cpu")).toBe(false);
  });

  it("make one DataView per buffer, not per line", () => {
    const scanner = new EntryScanner();
    const Original = globalThis.DataView;
    let made = 0;
    globalThis.DataView = new Proxy(Original, {
      construct(target, args, newTarget) {
        made++;
        return Reflect.construct(target, args, newTarget);
      },
    });
    try {
      const lines = ['{"vmcs":{"GUEST_RIP":"0x1"}}', '{"vmcs":{"GUEST_RSP":"0x2"}}'];
      const b = Buffer.from(lines.join("\n"), "latin1");
      for (let i = 0; i < 3; i++) {
        expect(scanner.scan(b, 0, lines[0]!.length)).toBeDefined();
        expect(scanner.scan(b, lines[0]!.length + 1, b.length)).toBeDefined();
      }
      expect(made).toBe(1);
      expect(scan(scanner, lines[0]!)).toBeDefined();
      expect(made).toBe(2);
    } finally {
      globalThis.DataView = Original;
    }
  });

  it("clear its memory only after a document that wrote it", () => {
    const scanner = new EntryScanner();
    const clear = vi.spyOn(Memory.prototype, "clear");
    try {
      const none = '{"vmcs":{"GUEST_RIP":"0x1"}}';
      const some = '{"memory":{"0x7000":["0x1"]},"vmcs":{}}';
      for (const l of [none, none, none]) expect(scan(scanner, l)).toBeDefined();
      expect(clear).not.toHaveBeenCalled();
      expect(scan(scanner, some)!.memory.size).toBe(1);
      expect(clear).not.toHaveBeenCalled();
      expect(scan(scanner, none)!.memory.size).toBe(0);
      expect(clear).toHaveBeenCalledTimes(1);
      expect(scan(scanner, none)).toBeDefined();
      expect(scan(scanner, '{"memory":{},"vmcs":{}}')).toBeDefined();
      expect(clear).toHaveBeenCalledTimes(1);
      expect(scan(scanner, some)!.memory.size).toBe(1);
      expect(clear).toHaveBeenCalledTimes(2);
      expect(scan(scanner, some)!.memory.size).toBe(1);
      expect(clear).toHaveBeenCalledTimes(3);
    } finally {
      clear.mockRestore();
    }
  });

  it("find a key given twice after its document counter wraps, clearing its marks only then", () => {
    const scanner = new EntryScanner();
    const inner = scanner as unknown as { serial: number; stamps: Int32Array };
    const fill = vi.spyOn(inner.stamps, "fill");
    const twice = '{"vmcs":{"GUEST_RIP":"0x1","GUEST_RIP":"0x2"}}';
    const once = '{"vmcs":{"GUEST_RIP":"0x1","GUEST_RSP":"0x2"}}';
    for (const l of [once, once]) expect(agree(scanner, l)).toBe(true);
    expect(fill).not.toHaveBeenCalled();
    inner.serial = 0x7ffffffd;
    for (const l of [once, twice, once, twice, once]) {
      expect(agree(scanner, l), l).toBe(l === once);
      expect(scan(scanner, l) !== undefined, l).toBe(l === once);
    }
    expect(fill).toHaveBeenCalledTimes(1);
    expect(inner.serial).toBeLessThan(20);
  });
});
