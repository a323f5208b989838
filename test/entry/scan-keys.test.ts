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

  it("resolves another spelling once, then knows it", () => {
    const scanner = new EntryScanner();
    const spellings = ["0x6800", "0x2001", "guest_cr3", "IO_BITMAP_B_HIGH", "GUEST_AR_ES", "0x681e"];
    const doc = `{"vmcs":{${spellings.map((k, i) => `"${k}":"0x${(i + 1).toString(16)}"`).join(",")}}}`;
    resolve.mockClear();
    for (let n = 0; n < 20; n++) expect(scan(scanner, doc)).toBeDefined();
    expect(resolve.mock.calls.map(([k]) => k)).toEqual(spellings);
  });
});
