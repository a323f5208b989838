/**
 * Shared by the scanner's tests (scan.test.ts, scan-reader.test.ts): the exact parser's verdict on a line, and
 * the agreement of the scanner with it.
 */
import { expect } from "vitest";
import { type Entry, type ParseOptions, parseEntryText } from "../../src/entry/document.js";
import type { EntryScanner } from "../../src/entry/scan.js";

/** What parseEntryText makes of a line: an entry, or the error message. */
export function exact(text: string, opts: ParseOptions = {}): Entry | string {
  try {
    return parseEntryText(text.trim(), opts);
  } catch (e) {
    return (e as Error).message;
  }
}

/** The parts of an entry that checking reads, comparable with toEqual. */
export function view(e: Entry) {
  return {
    caps: e.caps.name,
    capsSame: e.caps,
    processor: { ...e.processor },
    vmcs: Array.from(e.vmcs.v),
    memory: e.memory.entries64(),
    cpu: e.cpu,
  };
}

export function scan(scanner: EntryScanner, text: string): Entry | undefined {
  const b = Buffer.from(text, "utf8");
  return scanner.scan(b, 0, b.length);
}

/** The scanner's result `got` for `text` agrees with the exact parser's; returns whether the scanner took it. */
export function agreeWith(got: Entry | undefined, text: string, opts: ParseOptions = {}): boolean {
  const want = exact(text, opts);
  if (typeof want === "string") {
    expect(got, `scanner accepted a line the parser rejects (${want}): ${text}`).toBeUndefined();
    return false;
  }
  if (got === undefined) return false;
  const a = view(got);
  const b = view(want);
  expect(a.capsSame === b.capsSame || a.caps === b.caps, text).toBe(true);
  expect({ ...a, capsSame: 0 }, text).toEqual({ ...b, capsSame: 0 });
  return true;
}

/** Scanner and parser agree on `text`; returns whether the scanner took it. */
export function agree(scanner: EntryScanner, text: string, opts: ParseOptions = {}): boolean {
  return agreeWith(scan(scanner, text), text, opts);
}
