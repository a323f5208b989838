/**
 * The README's examples work as written: every command of its "Command line" section runs (from the
 * repository root, `nvmx` = the built CLI) with status 0 and prints something, and every TypeScript example of
 * its "Library" section type-checks and runs against the library (`"nvmx"` = src/index.ts).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = new URL("../../", import.meta.url).pathname;
const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** The fenced blocks of a language in a README section ("## Title" up to the next "## "). */
function blocks(section: string, lang: string): string[] {
  const start = README.indexOf(`## ${section}\n`);
  expect(start, section).toBeGreaterThanOrEqual(0);
  const end = README.indexOf("\n## ", start + 3);
  const text = README.slice(start, end < 0 ? undefined : end);
  return [...text.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, "g"))].map((m) => m[1]!);
}

describe("README examples", () => {
  const commands = blocks("Command line", "sh")
    .flatMap((b) => b.split("\n"))
    .filter((l) => l.startsWith("nvmx "))
    .map((l) => l.replace(/\s+#.*$/, ""));

  it("the Command line section has its examples", () => {
    expect(commands.length).toBeGreaterThanOrEqual(10);
  });

  it.each(commands)("%s", (command) => {
    const sh = command.replace(/(^|\|\s*)nvmx /g, (_, pipe: string) => `${pipe}node dist/cli/main.js `);
    const r = spawnSync("sh", ["-c", sh], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, NVMX_NO_CACHE: "1" },
    });
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
  });

  const programs = blocks("Library", "ts");
  it("the Library section has an example per use (debug a dump, fuzz, model a nested entry)", () => {
    expect(programs.length).toBe(3);
  });

  it("the library examples type-check and run", async () => {
    const dir = mkdtempSync(join(ROOT, "test/api/.readme-"));
    try {
      const files = programs.map((program, i) => {
        const file = join(dir, `example-${i}.ts`);
        writeFileSync(
          file,
          program.replace(/from "nvmx"/g, `from ${JSON.stringify(join(ROOT, "src/index.js"))}`),
        );
        return file;
      });
      // one compiler run for all (loading the library's sources is most of its time)
      const tsc = spawnSync(
        "npx",
        [
          "tsc",
          "--noEmit",
          "--strict",
          "--module",
          "nodenext",
          "--target",
          "es2022",
          "--skipLibCheck",
          "--types",
          "node",
          ...files,
        ],
        { cwd: ROOT, encoding: "utf8" },
      );
      expect(tsc.stdout + tsc.stderr).toBe("");
      for (const file of files) {
        const logged: unknown[] = [];
        const log = console.log;
        console.log = (...a: unknown[]) => logged.push(a);
        try {
          await import(file);
        } finally {
          console.log = log;
        }
        expect(logged.length, file).toBeGreaterThan(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180000);
});
