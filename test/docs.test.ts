import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CHECKLIST, NOT_CHECKED } from "../src/checks/checklist.js";
import { checksMarkdown } from "../src/checks/doc.js";
import { CHECK_MODULES, CHECKS } from "../src/checks/registry.js";
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

describe("docs/contributing-checks.md", () => {
  const text = readFileSync(new URL("../docs/contributing-checks.md", import.meta.url), "utf8");
  const touched = [...text.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1] as string);

  it("lists the files adding a check touches, and they exist", () => {
    expect(touched).toEqual([
      "src/checks/guest-rip-rflags.ts",
      "test/vectors/guest-cr-dtr-rip.ts",
      "test/__snapshots__/checks.test.ts.snap",
      "docs/checks.md",
    ]);
    for (const f of touched) expect(existsSync(new URL(`../${f}`, import.meta.url)), f).toBe(true);
  });
  it("names a registered module and the vector table that covers it", async () => {
    const module = touched[0] as string;
    expect(CHECK_MODULES.map((m) => m.file)).toContain(module);
    const vectors = (await import(`../${touched[1]}`)) as { tables: Record<string, unknown> };
    expect(Object.keys(vectors.tables)).toContain(module.replace(/^src\/checks\/|\.ts$/g, ""));
  });
});

describe("README speed tables", () => {
  it("are what bench/report.js prints from the committed bench/results.json (run `node bench/report.js` after `npm run bench`)", async () => {
    const { execFileSync } = await import("node:child_process");
    const report = execFileSync(process.execPath, [new URL("../bench/report.js", import.meta.url).pathname], {
      encoding: "utf8",
    }).trim();
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    expect(report.split("\n").length).toBeGreaterThan(20);
    expect(readme).toContain(report);
  });
});
