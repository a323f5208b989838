/**
 * The scanner's key table (src/entry/scan.ts) as operation counts: a field spelling is resolved (looked up in
 * the field table's spellings) once per scanner, never per document; the KVM names never.
 */
import { describe, expect, it, vi } from "vitest";
import * as fields from "../../src/arch/fields.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { serializeEntry } from "../../src/entry/document.js";
import { EntryScanner } from "../../src/entry/scan.js";
import { baseEntry } from "../../src/gen/base.js";
import { Rng } from "../../src/gen/rng.js";
import { serializeGenerated } from "../../src/gen/serialize.js";
import { generateValid, modesFor } from "../../src/gen/valid.js";

vi.mock("../../src/arch/fields.js", async (original) => {
  const m = await original<typeof import("../../src/arch/fields.js")>();
  return { ...m, resolveFieldKey: vi.fn(m.resolveFieldKey) };
});
const resolve = vi.mocked(fields.resolveFieldKey);

function scan(scanner: EntryScanner, text: string) {
  const b = Buffer.from(text, "utf8");
  return scanner.scan(b, 0, b.length);
}

describe("EntryScanner's key table", () => {
  it("knows every KVM name from the start: generated documents resolve no key", () => {
    const scanner = new EntryScanner();
    const caps = builtinProfile("sapphirerapids");
    const modes = modesFor(caps);
    resolve.mockClear();
    for (let i = 0; i < 40; i++) {
      const e = generateValid(caps, Rng.derive(3, i), { mode: modes[i % modes.length]! }).entry;
      expect(scan(scanner, JSON.stringify(serializeGenerated(e)))).toBeDefined();
    }
    expect(scan(scanner, JSON.stringify(serializeEntry(baseEntry(caps))))).toBeDefined();
    expect(resolve).not.toHaveBeenCalled();
  });

  it("never looks up a key the exact parser must decide (escaped, control or non-ASCII bytes, integer-like, short)", () => {
    const scanner = new EntryScanner();
    const keys = ["GUEST\\u005fCR0", "GUEST\u0001CR0", "GUEST_CR0\u00e9", "26624", "12", "ab", "a"];
    resolve.mockClear();
    for (const k of keys) expect(scan(scanner, `{"vmcs":{"${k}":"0x1"}}`), k).toBeUndefined();
    expect(resolve).not.toHaveBeenCalled();
  });

  it("resolves another spelling once, then knows it", () => {
    const scanner = new EntryScanner();
    const spellings = ["0x6800", "0x2001", "guest_cr3", "IO_BITMAP_B_HIGH", "GUEST_AR_ES", "0x681e"];
    const doc = `{"vmcs":{${spellings.map((k, i) => `"${k}":"0x${(i + 1).toString(16)}"`).join(",")}}}`;
    resolve.mockClear();
    for (let n = 0; n < 20; n++) expect(scan(scanner, doc)).toBeDefined();
    expect(resolve.mock.calls.map(([k]) => k)).toEqual(spellings);
  });
});

/** The scanner's key table, whose `find` (a hash lookup) runs when the next key is not the one guessed. */
interface KeyTableView {
  find: (...args: unknown[]) => number;
}
function lookups(scanner: EntryScanner) {
  const keys = (scanner as unknown as { keys: KeyTableView }).keys;
  return vi.spyOn(keys, "find");
}

/** A document of the given fields (names), each with a distinct value, in the order given. */
function docOf(names: readonly string[]): string {
  return `{"vmcs":{${names.map((k, i) => `"${k}":"0x${(i + 1).toString(16)}"`).join(",")}}}`;
}

/** The writable fields, in the order nvmx writes documents (FIELDS order). */
const WRITABLE = fields.FIELDS.filter((f) => f.type !== "read-only").map((f) => f.name);

describe("EntryScanner's key order guess", () => {
  it("guesses every key of a document in nvmx's own order without a lookup, from the first document", () => {
    const scanner = new EntryScanner();
    const find = lookups(scanner);
    expect(scan(scanner, docOf(WRITABLE))).toBeDefined();
    expect(find).not.toHaveBeenCalled();
  });

  it("skips up to four left-out fields without a lookup; five cost one, once", () => {
    for (const gap of [1, 2, 3, 4]) {
      const scanner = new EntryScanner();
      const find = lookups(scanner);
      const names = [...WRITABLE.slice(0, 10), ...WRITABLE.slice(10 + gap)];
      expect(scan(scanner, docOf(names)), `gap ${gap}`).toBeDefined();
      expect(find, `gap ${gap}`).not.toHaveBeenCalled();
    }
    const scanner = new EntryScanner();
    const find = lookups(scanner);
    const names = [...WRITABLE.slice(0, 10), ...WRITABLE.slice(15)];
    expect(scan(scanner, docOf(names))).toBeDefined();
    expect(find).toHaveBeenCalledTimes(1);
    // the chain now links the key before the gap to the one after it
    expect(scan(scanner, docOf(names))).toBeDefined();
    expect(find).toHaveBeenCalledTimes(1);
  });

  it("tells apart two short spellings (hex encodings) where the guess names the other one", () => {
    // A short key is compared as two overlapping 32-bit words: keys that differ in the last one, in the first one.
    const cases: [string, string, fields.FieldName, fields.FieldName][] = [
      ["0x6802", "0x6804", "GUEST_CR3", "GUEST_CR4"],
      ["0x6800", "0x4800", "GUEST_CR0", "GUEST_ES_LIMIT"],
    ];
    for (const [guessed, actual, guessedField, actualField] of cases) {
      const scanner = new EntryScanner();
      expect(scan(scanner, `{"vmcs":{"0x681e":"0x1","${guessed}":"0x1000"}}`)).toBeDefined();
      // after 0x681e (GUEST_RIP) the guess is now `guessed`; this document has `actual` there
      const e = scan(scanner, `{"vmcs":{"0x681e":"0x1","${actual}":"0x2000"}}`);
      expect(e?.vmcs.lo(fields.F[actualField]), actual).toBe(0x2000);
      expect(e?.vmcs.lo(fields.F[guessedField]), actual).toBe(0);
    }
  });

  it("keeps its guesses when a document has a key it leaves to the exact parser", () => {
    const scanner = new EntryScanner();
    const find = lookups(scanner);
    const odd = [...WRITABLE.slice(0, 10), "26624", ...WRITABLE.slice(10)];
    expect(scan(scanner, docOf(odd))).toBeUndefined();
    find.mockClear();
    expect(scan(scanner, docOf(WRITABLE))).toBeDefined();
    expect(find).not.toHaveBeenCalled();
  });

  it("learns another order from one document: the same order again needs no lookup", () => {
    const scanner = new EntryScanner();
    const find = lookups(scanner);
    const names = [...WRITABLE.slice(0, 40)].reverse();
    expect(scan(scanner, docOf(names))).toBeDefined();
    // every key is out of the guessed order, which never looks back
    expect(find).toHaveBeenCalledTimes(names.length);
    find.mockClear();
    expect(scan(scanner, docOf(names))).toBeDefined();
    expect(find).not.toHaveBeenCalled();
  });
});
