/** `nvmx check --json` on streams as a user runs it (built dist/): --jobs, pauses in the input, order. */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const CLI = new URL("../../dist/cli/main.js", import.meta.url).pathname;
const run = (args: string[], input?: string) =>
  spawnSync("node", [CLI, ...args], { input, encoding: "utf8" });
const dir = mkdtempSync(join(tmpdir(), "nvmx-check-"));
const doc = JSON.stringify(JSON.parse(readFileSync("examples/valid-64bit-linux.json", "utf8")));

describe("nvmx check --json on streams", () => {
  it("--jobs 2 prints what --jobs 1 prints: files and stdin, CRLF, malformed lines, a missing file", () => {
    const lines: string[] = [];
    for (let i = 0; i < 3000; i++)
      lines.push(i % 7 === 3 ? '{"vmcs":{"GUEST_CR0":"0xq"}}' : i % 11 === 5 ? "{not json" : doc);
    const text = `${lines.join("\r\n")}\r\n`;
    const f = join(dir, "mixed.ndjson");
    writeFileSync(f, text);
    const files = [f, join(dir, "missing.ndjson"), "-"];
    const one = run(["check", "--json", ...files], text);
    const two = run(["check", "--json", "--jobs", "2", ...files], text);
    expect(one.status).toBe(2);
    expect(two.status).toBe(2);
    expect(two.stdout).toBe(one.stdout);
    expect(one.stdout.split("\n")).toHaveLength(2 * 3000 + 2);
  });

  for (const jobs of [[], ["--jobs", "2"]])
    it(`answers each line while stdin stays open ${jobs.join(" ")}`, async () => {
      const child = spawn("node", [CLI, "check", "--json", ...jobs, "-"], {
        stdio: ["pipe", "pipe", "inherit"],
      });
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      for (let n = 1; n <= 3; n++) {
        child.stdin.write(`${doc}\n`);
        for (let waited = 0; out.split("\n").length <= n; waited += 10) {
          expect(waited, `answer ${n}`).toBeLessThan(10000);
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      child.stdin.end();
      await new Promise((r) => child.on("close", r));
      expect(
        out
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l).outcome.type),
      ).toEqual(["entered", "entered", "entered"]);
    });
});

describe("pretty-printed documents one after another, as `jq .` prints them", () => {
  const bad = JSON.parse(readFileSync("examples/bad-cs-ar.json", "utf8"));
  const good = JSON.parse(doc);
  const a = JSON.stringify(good, null, 2);
  const b = JSON.stringify(bad, null, 2);
  const input = `${a}\n${b}\n`;
  const secondLine = a.split("\n").length + 1;

  it.each([["check"], ["check", "--jobs", "2"]])(
    "%s --json: one record per document, in order",
    (...args) => {
      const r = run([...args, "--json", "-"], input);
      const recs = r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      expect(recs.map((x) => x.outcome.type)).toEqual(["entered", "vmexit"]);
    },
  );

  it("explain --json: one record per document, numbered by its first line", () => {
    const r = run(["explain", "--json", "-"], input);
    const recs = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(recs.map((x) => [x.line, x.outcome.type])).toEqual([
      [1, "entered"],
      [secondLine, "vmexit"],
    ]);
  });

  it("human output names each document's line", () => {
    const r = run(["check", "-"], input);
    expect(r.stdout).toContain("<stdin> #1 (cpu ");
    expect(r.stdout).toContain(`<stdin> #${secondLine} (cpu `);
  });
});
