import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CHECKLIST, NOT_CHECKED } from "../src/checks/checklist.js";
import { checksMarkdown } from "../src/checks/doc.js";
import { CHECKS } from "../src/checks/registry.js";
import { softwareChecksColumn } from "../src/nested/compare.js";

describe("docs/checks.md", () => {
  it("is generated from the current registry (run `npm run docs`)", () => {
    expect(readFileSync(new URL("../docs/checks.md", import.meta.url), "utf8")).toBe(
      checksMarkdown([softwareChecksColumn()]),
    );
  });
  it("every checklist item is implemented or explained", () => {
    const covered = new Set(CHECKS.flatMap((c) => c.checklist ?? []));
    const gaps = CHECKLIST.map(([id]) => id).filter((id) => !covered.has(id) && !NOT_CHECKED[id]);
    expect(gaps).toEqual([]);
  });
  it("checks cite only known checklist items and an SDM section", () => {
    const known = new Set(CHECKLIST.map(([id]) => id));
    for (const c of CHECKS) {
      for (const item of c.checklist ?? []) expect(known.has(item), `${c.id} cites ${item}`).toBe(true);
      expect(c.sdm, c.id).toMatch(/^\d+(\.\d+)+$/);
    }
  });
});
