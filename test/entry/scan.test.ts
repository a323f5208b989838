/**
 * The byte scanner of batch checking (src/entry/scan.ts) against the exact parser: for every line, either it
 * leaves the line to parseEntryText (returns undefined) or it yields the very entry parseEntryText yields —
 * never an entry for a line parseEntryText rejects. And it must take the common shapes, or batch checking
 * gains nothing.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { DOCUMENT_KEYS, FIELDS } from "../../src/arch/fields.js";
import { builtinNames, builtinProfile } from "../../src/cpu/builtin.js";
import type { Caps } from "../../src/cpu/profile.js";
import { serializeEntry } from "../../src/entry/document.js";
import { EntryScanner } from "../../src/entry/scan.js";
import { baseEntry } from "../../src/gen/base.js";
import { Rng } from "../../src/gen/rng.js";
import { serializeGenerated } from "../../src/gen/serialize.js";
import { generateValid, modesFor } from "../../src/gen/valid.js";
import { runs } from "../helpers.js";
import { agree, scan } from "./scan-helpers.js";

const PROFILES = ["skylake", "icelake-server", "sapphirerapids", "wildcatlake"].filter((p) =>
  builtinNames().includes(p),
);

function generatedDocs(caps: Caps, n: number): string[] {
  const modes = modesFor(caps);
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify(
      serializeGenerated(generateValid(caps, Rng.derive(7, i), { mode: modes[i % modes.length]! }).entry),
    ),
  );
}

describe("EntryScanner", () => {
  it("takes generated documents and reads them as parseEntryText does", () => {
    const scanner = new EntryScanner();
    for (const p of PROFILES) {
      const caps = builtinProfile(p);
      const docs = [JSON.stringify(serializeEntry(baseEntry(caps))), ...generatedDocs(caps, 40)];
      for (const d of docs) expect(agree(scanner, d), d.slice(0, 200)).toBe(true);
    }
  });

  it("takes whitespace, other key spellings, decimal values and the other top-level keys", () => {
    const scanner = new EntryScanner();
    const variants = [
      '{ "vmcs" : { "GUEST_CR0" : "0x80000031" , "GUEST_RIP": "0x1000" } , "cpu" : "skylake" }',
      '\t{"vmcs":{"guest_cr0":"0X31","0x681e":"0x33","IO_BITMAP_A_HIGH":"0x1","GUEST_AR_ES":"0x93"}}  ',
      '{"vmcs":{"GUEST_CR0":"2147483697","GUEST_RSP":4096,"VIRTUAL_PROCESSOR_ID":0}}',
      '{"format":"nvmx-entry/1","comment":"a [1, \\"x\\"]","description":"d","vmcs":{}}',
      '{"processor":{"instruction":"vmresume","launchState":"launched"},"vmcs":{"GUEST_CR0":"0x1"}}',
      '{"memory":{"0x7000":["0x0000000000000480","0x1"]},"vmcs":{"VM_ENTRY_MSR_LOAD_ADDR":"0x7000"}}',
    ];
    for (const v of variants) expect(agree(scanner, v), v).toBe(true);
  });

  it("takes a document with CRLF or LF line ends and pretty-printed layout", () => {
    const scanner = new EntryScanner();
    const doc = serializeEntry(baseEntry(builtinProfile("skylake")));
    const pretty = JSON.stringify({ ...doc, cpu: "skylake", processor: { cpl: 0 } }, null, 2);
    for (const text of [
      `${JSON.stringify(doc)}\r`,
      pretty,
      pretty.replaceAll("\n", "\r\n"),
      pretty.replaceAll("  ", "\t"),
    ])
      expect(agree(scanner, text), JSON.stringify(text.slice(0, 40))).toBe(true);
  });

  it("reads the common documents without JSON.parse (a profile name, comments, processor, memory)", () => {
    const scanner = new EntryScanner();
    const caps = builtinProfile("icelake-server");
    // the profile named alternates, so that every line's name is read anew
    const docs = generatedDocs(caps, 8).map((d, i) => {
      const o = JSON.parse(d);
      return JSON.stringify({
        format: "nvmx-entry/1",
        comment: "plain text, [brackets] {braces}",
        description: "d",
        ...o,
        cpu: i % 2 ? "icelake-server" : "skylake",
        processor: { instruction: "vmresume", launchState: "launched", cpl: 0, vmxonPointer: 4096 },
      });
    });
    for (const d of docs) scan(scanner, d); // the first sight of each spelling may resolve it
    const parse = vi.spyOn(JSON, "parse");
    try {
      for (const d of docs) expect(scan(scanner, d), d.slice(0, 80)).toBeDefined();
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
    for (const d of docs) expect(agree(scanner, d)).toBe(true);
  });

  it("reads top-level strings as JSON does: plain ASCII by itself, one JSON.parse for an escape or other text", () => {
    const scanner = new EntryScanner();
    const vmcs = '"vmcs":{"GUEST_CR0":"0x21"}';
    const cases: [string, number][] = [
      [`{"cpu":"skylake","comment":"plain [text] {x}, a: 1",${vmcs}}`, 0],
      [`{"cpu":"skylake","comment":"",${vmcs}}`, 0],
      [`{"cpu":"skylake","description":"a\\"b",${vmcs}}`, 1],
      [`{"cpu":"skylake","comment":"\\u0041",${vmcs}}`, 1],
      [`{"cpu":"skylake","comment":"caf\u00e9",${vmcs}}`, 1],
      [`{"cpu":"sky\\u006cake",${vmcs}}`, 1],
    ];
    for (const [text, parses] of cases) {
      // the profile is decoded once first; then each line is read after a line naming it plainly
      scan(scanner, `{"cpu":"skylake",${vmcs}}`);
      const parse = vi.spyOn(JSON, "parse");
      try {
        expect(scan(scanner, text), text).toBeDefined();
        expect(parse.mock.calls.length, text).toBe(parses);
      } finally {
        parse.mockRestore();
      }
      expect(agree(scanner, text), text).toBe(true);
    }
  });

  it("leaves to the exact parser what only it decides, and accepts nothing it rejects", () => {
    const scanner = new EntryScanner();
    const lines = [
      "",
      "{",
      "[]",
      '{"vmcs":{}} x',
      '{"cpu":,"vmcs":{}}',
      '{"vmcs":{},"vmcs":{}}',
      '{"vmcs":{"GUEST_CR0":"0x1","GUEST_CR0":"0x2"}}',
      '{"vmcs":{"GUEST_CR0":"0x1","0x6800":"0x2"}}',
      '{"vmcs":{"26624":"0x1"}}',
      '{"vmcs":{"GUEST\\u005fCR0":"0x1"}}',
      '{"vmcs":{"GUEST_CR0":"0x"}}',
      '{"vmcs":{"GUEST_CR0":"0x00000000000000001"}}',
      '{"vmcs":{"GUEST_CR0":"0x10000000000000000"}}',
      '{"vmcs":{"GUEST_CR0":"1234567890123456"}}',
      '{"vmcs":{"GUEST_CR0":1.0}}',
      '{"comment":{"a":1},"vmcs":{}}',
      '{"$schema":"x","vmcs":{}}',
      '{"vmcs":{"GUEST_CR0":01}}',
      '{"vmcs":{"GUEST_CR0":-1}}',
      '{"vmcs":{"GUEST_CR0":" 0x1"}}',
      '{"vmcs":{"GUEST_CS_SELECTOR":"0x10000"}}',
      '{"vmcs":{"PIN_BASED_VM_EXEC_CONTROL":"0x100000000"}}',
      '{"vmcs":{"IO_BITMAP_A_HIGH":"0x100000000"}}',
      '{"vmcs":{"VM_EXIT_REASON":"0x1"}}',
      '{"vmcs":{"NOPE":"0x1"}}',
      '{"vmcs":{"__proto__":"0x1"}}',
      '{"format":"nvmx-entry\\/1","vmcs":{}}',
      '{"format":"nvmx-entry/2","vmcs":{}}',
      '{"cpu":"nope","vmcs":{}}',
      '{"cpu":null,"vmcs":{}}',
      '{"processor":{"cpl":4},"vmcs":{}}',
      '{"memory":{"0x7001":["0x1"]},"vmcs":{}}',
      '{"comment":tru,"vmcs":{}}',
      '{"extra":1,"vmcs":{}}',
      '\ufeff{"vmcs":{}}',
      // strings that are not JSON, in values nvmx does not read
      '{"comment":"a\tb","vmcs":{}}',
      '{"comment":"a\nb","vmcs":{}}',
      '{"description":"\u0001","vmcs":{}}',
      '{"comment":"a\\qb","vmcs":{}}',
      '{"comment":"\\u12","vmcs":{}}',
    ];
    for (const l of lines) agree(scanner, l);
    expect(scan(scanner, '{"vmcs":{"GUEST_CR0":"0x1","GUEST_CR0":"0x2"}}')).toBeUndefined();
    expect(scan(scanner, '{"comment":"a\tb","vmcs":{}}')).toBeUndefined();
    expect(scan(scanner, '{"vmcs":{"26624":"0x1"}}')).toBeUndefined();
  });

  it("agrees with parseEntryText on mutated documents (property)", () => {
    const caps = builtinProfile("skylake");
    const base = serializeEntry(baseEntry(caps));
    const names = FIELDS.map((f) => f.name);
    const key = fc.oneof(
      fc.constantFrom(...names),
      fc.constantFrom(...names).map((n) => n.toLowerCase()),
      fc.constantFrom(...FIELDS).map((f) => `0x${f.encoding.toString(16)}`),
      fc.constantFrom(...FIELDS).map((f) => `0x${(f.encoding | 1).toString(16)}`),
      fc.constantFrom(...names).map((n) => `${n}_HIGH`),
      fc.constantFrom("NOPE", "123", "0", "GUEST_CR0 ", "__proto__", "é"),
    );
    const value = fc.oneof(
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => JSON.stringify(`0x${v.toString(16)}`)),
      fc.bigInt({ min: 0n, max: 0xffffn }).map((v) => JSON.stringify(`0X${v.toString(16).toUpperCase()}`)),
      fc.bigInt({ min: 0n, max: 1n << 65n }).map((v) => JSON.stringify(v.toString())),
      fc.integer({ min: -3, max: Number.MAX_SAFE_INTEGER }).map(String),
      fc.constantFrom('"0x"', '""', "1.5", "1e3", "true", "null", '"0x1\\u0030"', '"0x0000000000000000001"'),
    );
    const ws = fc.constantFrom("", "", "", " ", "\t", "  ");
    const field = fc.tuple(key, value, ws, ws).map(([k, v, a, b]) => `${a}${JSON.stringify(k)}${b}:${a}${v}`);
    const top = fc.constantFrom(
      "",
      '"cpu":"icelake-server",',
      '"cpu":"nope",',
      '"format":"nvmx-entry/1",',
      '"comment":[1,{"x":"}"}],',
      '"comment":"plain",',
      '"comment":"a\tb",',
      '"comment":"a\\qb",',
      '"description":"\\u0041 caf\u00e9",',
      '"description":"\\u00",',
      '"processor":{"ia32e":false},',
      '"processor":{ "cpl" : 3 , "vmxonPointer" : 4096, "currentVmcsPointer":"0x10000000000" },',
      '"processor":{"instruction":"vmresume","launchState":"launched","inSmm":true,"executiveVmcsLaunchState":"clear"},',
      '"processor":{"currentVmcsPointer":"0X00000000001000","dualMonitorActive":true},',
      '"processor":{"cpl":1.0},',
      '"processor":{"cpl":4},',
      '"processor":{"cpl":"0"},',
      '"processor":{"vmxonPointer":"4096"},',
      '"processor":{"vmxonPointer":"0x10000000000000"},',
      '"processor":{"vmxonPointer":4503599627370496},',
      '"processor":{"vmxonPointer":-1},',
      '"processor":{"instruction":"vmresume","instruction":"vmlaunch"},',
      '"processor":{"launchState":"vmlaunch"},',
      '"processor":{"ia32e":tru},',
      '"processor":{"toString":true},',
      '"processor":{},',
      '"processor":[],',
      '"memory":{"0x7000":["0x1"]},',
      '"memory":{ "0x7000" : [ "0x1" , "0XfFfFfFfFfFfFfFfF" ] , "0x0008":[], "0x10000000000":["0x0"]},',
      '"memory":{"0x7000":["0x1"],"0x7000":["0x2"]},',
      '"memory":{"0x7000":["0x1"],"0x07000":["0x2"]},',
      '"memory":{"0x7004":["0x1"]},',
      '"memory":{"0x10000000000000":["0x1"]},',
      '"memory":{"0xfffffffffff8":["0x1","0x2"]},',
      '"memory":{"0x7000":["0x00000000000000001"]},',
      '"memory":{"0x7000":["0x10000000000000000"]},',
      '"memory":{"0x7000":[1]},',
      '"memory":{"0x7000":"0x1"},',
      '"memory":{"7000":["0x1"]},',
      '"memory":[],',
      '"memory":{},',
    );
    const scanner = new EntryScanner();
    let taken = 0;
    fc.assert(
      fc.property(fc.array(field, { maxLength: 12 }), top, fc.boolean(), (fields, t, keepBase) => {
        const baseFields = Object.entries(base.vmcs).map(
          ([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`,
        );
        const all = keepBase ? [...baseFields.slice(0, 20), ...fields] : fields;
        const text = `{${t}"vmcs":{${all.join(",")}}}`;
        if (agree(scanner, text)) taken++;
      }),
      { numRuns: runs(3000) },
    );
    expect(taken).toBeGreaterThan(runs(3000) / 30);
  });

  it("learns the other spellings of the fields as it meets them: hex encodings and names, up to its table's size", () => {
    // every field's hex encoding (the high half of a 64-bit field: the odd one), one per document
    const hex = new EntryScanner();
    for (const f of FIELDS) {
      if (f.type === "read-only") continue;
      for (const enc of f.width === 64 ? [f.encoding, f.encoding | 1] : [f.encoding]) {
        const line = `{"vmcs":{"0x${enc.toString(16)}":"0x1"}}`;
        expect(agree(hex, line), line).toBe(true);
      }
    }
    // the other spellings the entry format lists (SDM prose names, other projects' names, _HIGH halves): the
    // first 300 new ones a scanner meets are learned (its table holds 512 keys, the KVM names included); past
    // that size every line is still read, by the exact parser
    const names = new EntryScanner();
    let taken = 0;
    let k = 0;
    for (const [key, { field }] of DOCUMENT_KEYS) {
      if (field.type === "read-only" || key === field.name) continue;
      const line = `{"vmcs":{${JSON.stringify(key)}:"0x1"}}`;
      const took = agree(names, line);
      if (k++ < 300) expect(took, line).toBe(true);
      if (took) taken++;
    }
    expect(k).toBeGreaterThan(512);
    expect(taken).toBeLessThan(k);
  });

  it("reuses one store without carrying values from one document to the next", () => {
    const scanner = new EntryScanner();
    const caps = builtinProfile("sapphirerapids");
    const full = JSON.stringify(serializeEntry(baseEntry(caps)));
    expect(agree(scanner, full)).toBe(true);
    expect(agree(scanner, '{"vmcs":{"GUEST_CR0":"0x1"}}')).toBe(true);
    expect(agree(scanner, '{"vmcs":{}}')).toBe(true);
  });

  it("applies --cpu as parseEntryText does (the document's cpu is then not read)", () => {
    const cpu = builtinProfile("haswell");
    const scanner = new EntryScanner({ cpu });
    for (const t of [
      '{"cpu":"skylake","vmcs":{}}',
      '{"cpu":"nope","vmcs":{}}',
      '{"vmcs":{"GUEST_CR0":"0x1"}}',
    ])
      expect(agree(scanner, t, { cpu }), t).toBe(true);
  });

  it("decodes an inline profile once per run of identical lines, and never reuses it for another", () => {
    const scanner = new EntryScanner({});
    const sky = JSON.parse(JSON.stringify(serializeEntry(baseEntry(builtinProfile("skylake")))));
    const data = (name: string) => ({
      ...JSON.parse(readFileSync(new URL(`../../src/cpu/profiles/${name}.json`, import.meta.url), "utf8")),
      name: `inline-${name}`,
    });
    const lineFor = (name: string) => JSON.stringify({ ...sky, cpu: data(name) });
    const a1 = scan(scanner, lineFor("skylake"));
    const a2 = scan(scanner, lineFor("skylake"));
    const b = scan(scanner, lineFor("haswell"));
    expect(a1 && a2 && b).toBeTruthy();
    expect(a2!.caps).toBe(a1!.caps);
    expect(b!.caps).not.toBe(a1!.caps);
    expect(b!.caps.name).toBe("inline-haswell");
    for (const n of ["skylake", "haswell"]) expect(agree(scanner, lineFor(n))).toBe(true);
  });
});
