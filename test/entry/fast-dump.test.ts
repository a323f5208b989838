/**
 * NVMX_DUMP_RUNNERS (src/entry/fast.ts): a test of its own, because it imports fast.ts afresh inside the test.
 * Mutation runs leave it out (vitest.mutation.config.ts): its import would run the module's set-up under this
 * one test, which then counts as covering every module-level mutant it cannot detect.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import type { Check } from "../../src/checks/types.js";

const plain = (id: string): Check => ({
  id,
  sdm: "29.9",
  cls: "guest",
  fields: [],
  rule: id,
  fail: () => false,
  message: () => "",
});

describe("NVMX_DUMP_RUNNERS", () => {
  it("writes each runner's source, as runnerSources keeps it, to dir/<name>.js (the folder made if missing)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nvmx-dump-"));
    const inner = join(dir, "a", "b");
    vi.stubEnv("NVMX_DUMP_RUNNERS", inner);
    vi.resetModules();
    try {
      const fresh = await import("../../src/entry/fast.js");
      fresh.compileRunner([plain("test.dumped")], { specializeAfter: 0 });
      fresh.compileRunner([plain("test.dumped-too")], { specializeAfter: 0 });
      const kept = [...fresh.runnerSources()];
      expect(kept).toHaveLength(2);
      for (const [name, source] of kept) expect(readFileSync(join(inner, `${name}.js`), "utf8")).toBe(source);
      expect(kept[1]![1]).toContain("test.dumped-too");
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
