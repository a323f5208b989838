/**
 * A finding on a partly known field (a log that shows some of its bits) is definite only when no filling of
 * the unknown bits avoids it (issue 14: no definite violation may rest on an assumed value).
 */

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { F } from "../../src/arch/fields.js";
import { checkById } from "../../src/checks/registry.js";
import { parseEntryText } from "../../src/entry/document.js";
import { runEntry } from "../../src/entry/run.js";
import type { Knowledge } from "../../src/formats/entry.js";
import { someFillingAvoids } from "../../src/formats/explain.js";

const doc = JSON.parse(readFileSync("examples/valid-64bit-linux.json", "utf8"));
const knowing = (field: number, lo: number, hi: number): Knowledge => ({
  fields: new Map([[field, [lo, hi] as const]]),
  readings: new Set(),
  memory: new Set(),
  processor: new Set(),
  likely: new Map(),
});
const rflags = checkById("guest.rflags.reserved-bits")!;

describe("someFillingAvoids", () => {
  it("two unknown reserved bits set: no single flip clears the finding, a filling does", () => {
    // bits 31:0 shown (a 32-bit dump), bits 63:32 completed with two reserved bits set
    const e = parseEntryText(JSON.stringify({ ...doc, vmcs: { ...doc.vmcs, GUEST_RFLAGS: "0x300000002" } }));
    // every single-bit change of the unknown half still breaks the rule (the old rule called that definite)
    for (let b = 0; b < 32; b++) {
      const hi = 3n ^ (1n << BigInt(b));
      const one = parseEntryText(
        JSON.stringify({
          ...doc,
          vmcs: { ...doc.vmcs, GUEST_RFLAGS: `0x${((hi << 32n) | 2n).toString(16)}` },
        }),
      );
      expect(
        runEntry(one).violations.map((v) => v.id),
        `bit ${32 + b}`,
      ).toContain(rflags.id);
    }
    expect(someFillingAvoids(rflags, e, [F.GUEST_RFLAGS!], knowing(F.GUEST_RFLAGS!, 0xffffffff, 0))).toBe(
      true,
    );
    // and the state is left as it was
    expect(e.vmcs.hi(F.GUEST_RFLAGS!)).toBe(3);
  });

  it("a reserved bit the log shows set: no filling avoids it", () => {
    const e = parseEntryText(JSON.stringify({ ...doc, vmcs: { ...doc.vmcs, GUEST_RFLAGS: "0x8002" } }));
    expect(someFillingAvoids(rflags, e, [F.GUEST_RFLAGS!], knowing(F.GUEST_RFLAGS!, 0xffffffff, 0))).toBe(
      false,
    );
  });
});
