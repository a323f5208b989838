/**
 * Issue 17 at the command line (built dist/, real processes): no input line is lost whatever the first line
 * is, over-long lines are skipped alone, a closed or full stdout ends the program cleanly, and mistakes in
 * the command line are one-line errors.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { builtinNames } from "../../src/cpu/builtin.js";
import { VERSION } from "../../src/version.js";

const CLI = new URL("../../dist/cli/main.js", import.meta.url).pathname;
const run = (args: string[], input?: string | Buffer) =>
  spawnSync("node", [CLI, ...args], { input, encoding: "utf8", timeout: 60000, maxBuffer: 1 << 28 });
const dir = mkdtempSync(join(tmpdir(), "nvmx-robust-"));
const doc = JSON.stringify(JSON.parse(readFileSync("examples/valid-64bit-linux.json", "utf8")));
const records = (stdout: string) =>
  stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));

/** What a record says, in short: the line of an error, or "ok" for a result. */
function short(r: { error?: { line?: number; message: string } }): string {
  return r.error ? `error@${r.error.line}` : "ok";
}

describe("no NDJSON line is lost, whatever the first line is", () => {
  const input = `oops\n${doc}\nx\n\ny\n${doc}\n`;
  const want = ["error@1", "ok", "error@3", "error@5", "ok"];
  const file = join(dir, "oops.ndjson");
  writeFileSync(file, input);

  for (const args of [
    ["check", "--json"],
    ["check", "--json", "--jobs", "2"],
    ["nested", "--json"],
    ["repair", "--json"],
  ])
    it(`${args.join(" ")}: one record per non-empty line, in order (stdin and a file)`, () => {
      for (const r of [run([...args, "-"], input), run([...args, file])]) {
        expect(r.status).toBe(2);
        expect(records(r.stdout).map(short)).toEqual(want);
      }
    });

  it("20,000 lines after a bad first line are all checked, however many of them are bad", () => {
    const lines = Array.from({ length: 20000 }, (_, i) => (i % 2 ? "x" : doc));
    const r = run(["check", "--json", "-"], `oops\n${lines.join("\n")}\n`);
    const got = records(r.stdout);
    expect(got).toHaveLength(20001);
    expect(got.map(short)).toEqual([
      "error@1",
      ...lines.map((l, i) => (l === doc ? "ok" : `error@${i + 2}`)),
    ]);
  });

  it("a pretty-printed document stays one record without a line number", () => {
    const r = run(["check", "--json", "-"], readFileSync("examples/valid-64bit-linux.json"));
    expect(r.status).toBe(0);
    expect(records(r.stdout)).toEqual([
      { format: "nvmx-result/1", nvmx: VERSION, outcome: { type: "entered" }, violations: [] },
    ]);
  });

  for (const jobs of [[], ["--jobs", "2"]])
    it(`answers each line after a bad first line while stdin stays open ${jobs.join(" ")}`, async () => {
      const child = spawn("node", [CLI, "check", "--json", ...jobs, "-"], {
        stdio: ["pipe", "pipe", "inherit"],
      });
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      const lines = ["oops", doc, '{"vmcs": {', doc];
      for (let n = 1; n <= lines.length; n++) {
        child.stdin.write(`${lines[n - 1]}\n`);
        for (let waited = 0; out.split("\n").length <= n; waited += 10) {
          expect(waited, `answer ${n}`).toBeLessThan(20000);
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      child.stdin.end();
      await new Promise((r) => child.on("close", r));
      expect(records(out).map(short)).toEqual(["error@1", "ok", "error@3", "ok"]);
    });
});

describe("a line over 64 MiB", () => {
  it("is an error record of its own; the lines after it are checked (stdin, a pipe)", () => {
    const long = Buffer.alloc((64 << 20) + 10, 0x78);
    const input = Buffer.concat([Buffer.from(`${doc}\n`), long, Buffer.from(`\n${doc}\n`)]);
    for (const jobs of [[], ["--jobs", "2"]]) {
      const r = run(["check", "--json", ...jobs, "-"], input);
      expect(r.error).toBeUndefined(); // not killed by the hang guard
      const got = records(r.stdout);
      expect(got.map(short)).toEqual(["ok", "error@2", "ok"]);
      expect(got[1].error.message).toBe(
        `line too long: ${long.length} bytes, over the limit of 64 MiB; skipped`,
      );
    }
  });
});

/** Run with stdout closed by its reader before the program writes; how it ended. */
function closedStdout(args: string[], input?: string) {
  return new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) => {
    const child = spawn("node", [CLI, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const guard = setTimeout(() => child.kill("SIGKILL"), 30000);
    child.stdin.on("error", () => {});
    child.stdin.end(input ?? "");
    child.on("close", (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stderr });
    });
  });
}

describe("writing output", () => {
  const many = join(dir, "many.ndjson");
  writeFileSync(many, `${doc}\n`.repeat(3000));
  const dump = "test/corpus/kvm-dump/kvm-list-2021-dosemu2-ds-es-not-accessed.txt";
  const commands: string[][] = [
    ["check", "--json", many],
    ["check", "--json", "--jobs", "2", many],
    ["check", many],
    ["check", "--json", "-"],
    ["gen", "--count", "100000"],
    ["explain", dump],
    ["convert", dump, "--to", "json"],
    ["caps", "show", "skylake"],
    ["caps", "list"],
    ["repair", "examples/bad-cs-ar.json"],
    ["nested", "examples/bad-cs-ar.json"],
    ["help"],
  ];

  for (const args of commands)
    it(`${args.join(" ")}: a closed stdout (EPIPE) ends it at once, quietly, status 0`, async () => {
      const r = await closedStdout(args, args.includes("-") ? `${doc}\n`.repeat(3000) : undefined);
      expect(r.code).toBe(0);
      expect(r.signal).toBeNull();
      // what the command says on stderr anyway (repair's list of changes), but no error
      expect(r.stderr).not.toMatch(/EPIPE|Error|\n\s+at |cannot write|internal/);
    });

  it.runIf(existsSync("/dev/full"))(
    "a full device (ENOSPC): one line on stderr, status 2, for every command",
    () => {
      for (const args of commands) {
        const full = openSync("/dev/full", "w");
        try {
          const r = spawnSync("node", [CLI, ...args], {
            stdio: ["pipe", full, "pipe"],
            input: args.includes("-") ? doc : "",
            encoding: "utf8",
            timeout: 60000,
          });
          expect(r.status, args.join(" ")).toBe(2);
          // the last line (repair lists its changes on stderr before), and no stack trace
          expect(r.stderr.split("\n").slice(-2), args.join(" ")).toEqual([
            "nvmx: cannot write output: ENOSPC: no space left on device, write",
            "",
          ]);
          expect(r.stderr).not.toMatch(/\n\s+at |internal/);
        } finally {
          closeSync(full);
        }
      }
    },
  );
});

describe("command-line mistakes are one-line errors", () => {
  it.each([
    [["check", "--jobs", "-1", "x"], 'nvmx check: --jobs must be a whole number from 1, got "-1"'],
    [["check", "--jobs", "abc", "x"], 'nvmx check: --jobs must be a whole number from 1, got "abc"'],
    [["check", "--jobs", "0", "x"], 'nvmx check: --jobs must be a whole number from 1, got "0"'],
    [["check"], "nvmx check: missing required argument 'FILE'"],
    [["explain"], "nvmx explain: missing required argument 'FILE'"],
    [["repair"], "nvmx repair: missing required argument 'FILE'"],
    [["gen", "--count", "-1"], 'nvmx gen: --count must be a whole number from 0, got "-1"'],
    [["gen", "--count", "1", "extra"], "nvmx gen: unexpected argument 'extra' (gen takes none)"],
    [["check", "--cpu"], "nvmx check: option '--cpu <NAME|FILE>' argument missing"],
    [["check", "--jsn", "x"], "nvmx check: unknown option '--jsn' (did you mean --json?)"],
    [["repair", "--seed", "abc", "x"], 'nvmx repair: --seed must be a whole number 0..4294967295, got "abc"'],
    [["serve", "--port", "-1"], 'nvmx serve: --port must be a whole number 0..65535, got "-1"'],
    [["serve", "--port", "70000"], 'nvmx serve: --port must be a whole number 0..65535, got "70000"'],
    [
      ["serve", "--host", ""],
      "nvmx serve: --host must name an address or host (e.g. 127.0.0.1 or ::1), got an empty one",
    ],
    [
      ["caps", "show", "pentium"],
      `nvmx caps show: "pentium" is neither a built-in profile (${builtinNames().join(", ")}) nor a readable file`,
    ],
    [["caps", "list", "x"], "nvmx caps list: unexpected argument 'x' (list takes none)"],
    [["frobnicate"], "nvmx: unknown command 'frobnicate'"],
  ])("%j", (args, message) => {
    const r = run(args);
    expect(r.status).toBe(2);
    // the command that was meant (nvmx itself for an unknown command) and where its options are explained
    const command = /^(nvmx(?: caps \w+| \w+)?):/.exec(message)![1]!;
    expect(r.stderr).toBe(`${message}; try \`${command} --help\`\n`);
    expect(r.stdout).toBe("");
  });

  it("a port in use is a one-line error", async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
    const port = (busy.address() as { port: number }).port;
    try {
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn("node", [CLI, "serve", "--port", String(port)], {
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stderr = "";
        child.stderr.on("data", (d: Buffer) => {
          stderr += d.toString();
        });
        const guard = setTimeout(() => child.kill(), 20000);
        child.on("close", (code) => {
          clearTimeout(guard);
          resolve({ code, stderr });
        });
      });
      expect(r).toEqual({
        code: 2,
        stderr: `nvmx serve: cannot listen on 127.0.0.1:${port}: the port is in use\n`,
      });
    } finally {
      busy.close();
    }
  });

  it("--jobs above the core count is capped, with a note, and starts no more threads", async () => {
    // Threads of a running check process (Linux /proc), stdin held open after its first answer.
    const threads = async (jobs: string): Promise<{ threads: number; stderr: string }> => {
      const child = spawn("node", [CLI, "check", "--json", "--jobs", jobs, "-"], {
        stdio: ["pipe", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      const answered = new Promise((r) => child.stdout.once("data", r));
      child.stdin.write(`${doc}\n`);
      await answered;
      await new Promise((r) => setTimeout(r, 300));
      const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
      child.stdin.end();
      await new Promise((r) => child.on("close", r));
      return { threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1]), stderr };
    };
    if (!existsSync("/proc/self/status")) return;
    const { availableParallelism } = await import("node:os");
    const cores = availableParallelism();
    const many = await threads("256");
    const max = await threads(String(cores));
    expect(many.stderr).toBe(
      `nvmx check: note: --jobs 256: this machine has ${cores} cores; using ${cores} threads\n`,
    );
    expect(many.threads).toBeLessThanOrEqual(max.threads + 2);
  });
});
