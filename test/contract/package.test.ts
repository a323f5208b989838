/**
 * The package as users install it: from `npm pack` and from a git URL, into an empty project; the command,
 * the ESM import with types and require() all work, and the tarball ships what the tool needs.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { VERSION } from "../../src/version.js";

const root = new URL("../..", import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
const tsc = join(root, "node_modules/typescript/bin/tsc");
const npm = (args: string[], cwd: string) =>
  execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd, encoding: "utf8" });

it("the version the CLI and results report is package.json's", () => {
  expect(VERSION).toBe(pkg.version);
});

/** An empty project with nvmx installed from `spec`; returns its directory. */
function project(spec: string): string {
  const dir = mkdtempSync(join(tmpdir(), "nvmx-user-"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "user", private: true, type: "module" }));
  npm(["install", spec], dir);
  return dir;
}

/** What a user does first: the command, an example, the library with types, require(). */
function useIt(dir: string): void {
  const npx = (...a: string[]) =>
    spawnSync("npx", ["--no-install", "nvmx", ...a], { cwd: dir, encoding: "utf8" });
  const v = npx("--version");
  expect(v.stdout.trim()).toBe(`nvmx ${VERSION}`);
  const c = npx("check", "--json", "node_modules/nvmx/examples/bad-cs-ar.json");
  expect(c.status).toBe(0);
  expect(JSON.parse(c.stdout).violations.map((x: { id: string }) => x.id)).toContain("guest.cs.l-and-d");
  writeFileSync(
    join(dir, "use.ts"),
    [
      'import { readFileSync } from "node:fs";',
      'import { check, type EntryResult } from "nvmx";',
      'const doc: unknown = JSON.parse(readFileSync("node_modules/nvmx/examples/bad-cs-ar.json", "utf8"));',
      "const r: EntryResult = check(doc);",
      "const t: string = r.outcome.type;",
      "console.log(t);",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        module: "nodenext",
        strict: true,
        outDir: "out",
        typeRoots: [join(root, "node_modules/@types")],
        types: ["node"],
      },
      files: ["use.ts"],
    }),
  );
  execFileSync("node", [tsc, "-p", "."], { cwd: dir, encoding: "utf8" });
  expect(execFileSync("node", ["out/use.js"], { cwd: dir, encoding: "utf8" }).trim()).toBe("vmexit");
  writeFileSync(join(dir, "req.cjs"), 'console.log(typeof require("nvmx").check);\n');
  expect(execFileSync("node", ["req.cjs"], { cwd: dir, encoding: "utf8" }).trim()).toBe("function");
  const schema = JSON.parse(readFileSync(join(dir, "node_modules/nvmx/schemas/entry.schema.json"), "utf8"));
  expect(schema.$id).toBe("urn:nvmx:schema:entry:1");
}

describe("installed package", () => {
  it("npm pack ships the build, schemas, examples, the playground and LICENSE; no source maps", () => {
    const out = mkdtempSync(join(tmpdir(), "nvmx-pack-"));
    const json = npm(["pack", "--ignore-scripts", "--json", "--pack-destination", out], root);
    const files = (JSON.parse(json) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const f of [
      "LICENSE",
      "README.md",
      "dist/cli/main.js",
      "dist/index.d.ts",
      "schemas/entry.schema.json",
      "schemas/profile.schema.json",
      "schemas/result.schema.json",
      "examples/bad-cs-ar.json",
      "web/dist/index.html",
    ])
      expect(files, f).toContain(f);
    expect(files.filter((f) => f.endsWith(".map"))).toEqual([]);
    expect(files.filter((f) => f.startsWith("src/") || f.startsWith("test/"))).toEqual([]);
  });

  it("from the packed tarball: npx nvmx, check, ESM import with types, require()", () => {
    const out = mkdtempSync(join(tmpdir(), "nvmx-pack-"));
    const json = npm(["pack", "--ignore-scripts", "--json", "--pack-destination", out], root);
    const tgz = join(out, (JSON.parse(json) as { filename: string }[])[0]!.filename);
    useIt(project(tgz));
  });

  // A git URL install clones the committed HEAD and builds it with `prepare`: what is committed must build.
  it.skipIf(spawnSync("git", ["-C", root, "rev-parse", "HEAD"]).status !== 0)(
    "from a git+file:// URL (committed HEAD, built by prepare)",
    () => {
      useIt(project(`git+file://${root}`));
    },
    600_000,
  );
});
