/**
 * The command line's docs stay true: every example a command's --help shows is re-run and must print what the
 * help says (src/cli/examples.ts), and docs/cli.md must be what scripts/gen-cli-docs.mjs writes from the
 * command tree. A stale example or a changed option fails here; `npm run docs` regenerates both.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain ESM script without types
import { cliMarkdown, runExamples } from "../../scripts/gen-cli-docs.mjs";
import { EXAMPLES } from "../../src/cli/examples.js";

describe("docs/cli.md and the examples in --help", () => {
  const ran = runExamples() as typeof EXAMPLES;

  it("every declared example prints what its help shows (npm run docs regenerates)", () => {
    expect(ran).toEqual(EXAMPLES);
    // every command that judges or produces something shows at least one example
    for (const path of ["check", "explain", "convert", "caps list", "caps show", "gen", "repair", "nested"])
      expect(ran[path]?.length, path).toBeGreaterThan(0);
  });

  it("docs/cli.md is the help of every command as the tree prints it (npm run docs regenerates)", () => {
    const md = readFileSync(new URL("../../docs/cli.md", import.meta.url), "utf8");
    expect(md).toBe(cliMarkdown(EXAMPLES));
  });
});
