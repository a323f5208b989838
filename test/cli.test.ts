/** The command line as a user runs it (built dist/, real processes). */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const CLI = new URL("../dist/cli/main.js", import.meta.url).pathname;
const run = (args: string[], input?: string) =>
  spawnSync("node", [CLI, ...args], { input, encoding: "utf8" });
const dir = mkdtempSync(join(tmpdir(), "nvmx-cli-"));

describe("nvmx check", () => {
  it("VMLAUNCH on a launched VMCS → vmfail-valid error 4 (JSON)", () => {
    const r = run(["check", "--json", "examples/vmlaunch-launched.json"]);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.outcome).toEqual({ type: "vmfail-valid", error: 4 });
  });
  it("a malformed document gives exit 2 and one clear line; the others are still checked", () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, '{"vmcs": {"GUEST_CR0": "0xnope"}}');
    const r = run(["check", "--json", bad, "examples/valid-64bit-linux.json"]);
    expect(r.status).toBe(2);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0].error.file).toBe(bad);
    expect(lines[0].error.message).toMatch(/vmcs\.GUEST_CR0: malformed value/);
    expect(lines[1].outcome).toEqual({ type: "entered" });
    const human = run(["check", bad, "examples/valid-64bit-linux.json"]);
    expect(human.status).toBe(2);
    expect(human.stderr.trim().split("\n")).toHaveLength(1);
    expect(human.stderr).toMatch(/bad\.json(:1)?: vmcs\.GUEST_CR0: malformed value/);
    expect(human.stdout).toMatch(/VM entry succeeds/);
    expect(human.stderr).not.toMatch(/at .*\.js/);
  });
  it("NDJSON on stdin: one line per document, errors in place with line numbers", () => {
    const doc = execFileSync(
      "node",
      ["-e", "process.stdout.write(JSON.stringify(require('./examples/valid-64bit-linux.json')))"],
      {
        encoding: "utf8",
      },
    );
    const input = [doc, "{not json", doc, '{"vmcs":{"NOPE":1}}', doc].join("\n");
    const r = run(["check", "--json", "-"], input);
    expect(r.status).toBe(2);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(5);
    expect(lines[1].error).toMatchObject({ file: "<stdin>", line: 2 });
    expect(lines[3].error).toMatchObject({ line: 4 });
    expect(lines[3].error.message).toMatch(/vmcs\.NOPE/);
    expect(lines[4].outcome.type).toBe("entered");
  });
  it("a malformed first NDJSON line is an error in place, the stream goes on", () => {
    const doc = JSON.stringify(JSON.parse(readFileSync("examples/valid-64bit-linux.json", "utf8")));
    const r = run(["check", "--json", "-"], ['{"vmcs": {"GUEST_CR0": "0xq"}}', doc, doc].join("\n"));
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    expect(lines[0].error).toMatchObject({ line: 1 });
    expect(lines[2].outcome.type).toBe("entered");
  });
  it("answers each NDJSON line while stdin stays open (a fuzzer can wait for each result)", async () => {
    const doc = JSON.stringify(JSON.parse(readFileSync("examples/valid-64bit-linux.json", "utf8")));
    const child = spawn("node", [CLI, "check", "--json", "-"], { stdio: ["pipe", "pipe", "inherit"] });
    const first = new Promise<string>((resolve) =>
      child.stdout.once("data", (d: Buffer) => resolve(d.toString())),
    );
    child.stdin.write(`${doc}\n`);
    const line = await first;
    expect(JSON.parse(line.trim()).outcome.type).toBe("entered");
    child.stdin.end();
    await new Promise((r) => child.on("close", r));
  });
  it("missing file and unknown --cpu are clear errors", () => {
    const r = run(["check", "--json", "no/such.json"]);
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout).error.message).toMatch(/no such file/);
    const c = run(["check", "--cpu", "pentium", "examples/valid-64bit-linux.json"]);
    expect(c.status).toBe(2);
    expect(c.stderr).toMatch(/pentium/);
  });
  it("--cpu overrides the document's profile", () => {
    const r = run(["check", "--json", "--cpu", "haswell", "examples/valid-64bit-linux.json"]);
    expect(r.status).toBe(0);
  });
});

describe("nvmx caps", () => {
  it("lists and shows profiles", () => {
    const l = run(["caps", "list"]);
    expect(l.stdout).toMatch(/skylake/);
    const s = run(["caps", "show", "skylake"]);
    expect(s.stdout).toMatch(/Secondary processor-based VM-execution controls/);
    expect(s.stdout).toMatch(/enable EPT\s+0 or 1/);
  });
});
