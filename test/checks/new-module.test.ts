/**
 * A new check module is picked up by the registry without any other edit (docs/contributing-checks.md). The
 * test imports a copy of the source tree inside the test, so mutation testing leaves it out
 * (vitest.mutation.config.ts): it would count every module-level mutant as covered by it.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

describe("a new check module", () => {
  it("is picked up by the registry with no other edit (scripts/gen-sections.mjs lists it)", async () => {
    const root = mkdtempSync(join(tmpdir(), "nvmx-module-"));
    try {
      const repo = new URL("../../", import.meta.url).pathname;
      cpSync(join(repo, "src"), join(root, "src"), { recursive: true });
      cpSync(join(repo, "scripts"), join(root, "scripts"), { recursive: true });
      writeFileSync(
        join(root, "src/checks/zz-example.ts"),
        `import { section } from "./rule.js";
// biome-ignore lint/security/noGlobalEval: names in predicates
const scope = (name: string): unknown => eval(name);
const { rule, checks } = section({ scope, sdm: "29.9", title: "Example", cls: "guest" });
export default checks([
  rule({ id: "guest.example.rule", rule: "example", fail: (s) => s.GUEST_CR0 === 0x12345, message: () => "x" }),
]);
`,
      );
      execFileSync(process.execPath, [join(root, "scripts/gen-sections.mjs")]);
      const registry = (await import(
        join(root, "src/checks/registry.ts")
      )) as typeof import("../../src/checks/registry.js");
      const c = registry.checkById("guest.example.rule");
      expect(c?.sdm).toBe("29.9");
      expect(c?.fields).toEqual(["GUEST_CR0"]);
      expect(registry.SECTIONS.map((x) => x.sdm)).toContain("29.9");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
