/** nvmx gen / repair / check --jobs as a user runs them (built dist/). */
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const CLI = new URL("../../dist/cli/main.js", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "nvmx-gen-"));
const env = { ...process.env, NVMX_CACHE_DIR: join(dir, "cache") };
const run = (args: string[], input?: string) =>
  spawnSync("node", [CLI, ...args], { input, encoding: "utf8", env, maxBuffer: 1 << 30 });
const lines = (s: string) => s.trim().split("\n").filter(Boolean);

describe("nvmx gen", () => {
  it("--violate caches the search where the nested model does: $XDG_CACHE_HOME/nvmx without NVMX_CACHE_DIR", () => {
    const xdg = join(dir, "xdg");
    const xdgEnv: NodeJS.ProcessEnv = { ...env, XDG_CACHE_HOME: xdg };
    delete xdgEnv["NVMX_CACHE_DIR"];
    delete xdgEnv["NVMX_NO_CACHE"];
    const r = spawnSync("node", [CLI, "gen", "--cpu", "skylake", "--violate", "guest.cs.l-and-d"], {
      encoding: "utf8",
      env: xdgEnv,
    });
    expect(r.status).toBe(0);
    expect(readdirSync(join(xdg, "nvmx"))).toEqual([
      expect.stringMatching(/^violations-skylake-[0-9a-f]{16}\.json$/),
    ]);
  });
  it("--valid: N reproducible documents that all check as entered", () => {
    const a = run(["gen", "--cpu", "tigerlake", "--count", "40", "--seed", "9", "--valid"]);
    expect(a.status).toBe(0);
    expect(lines(a.stdout)).toHaveLength(40);
    expect(run(["gen", "--cpu", "tigerlake", "--count", "40", "--seed", "9"]).stdout).toBe(a.stdout);
    const c = run(["check", "--json", "-"], a.stdout);
    expect(c.status).toBe(0);
    for (const l of lines(c.stdout)) expect(JSON.parse(l).outcome).toEqual({ type: "entered" });
  });
  it("--variants: 1 builds every state from scratch; states past the first 16 vary them; 0 is a usage error", () => {
    const args = ["gen", "--cpu", "skylake", "--count", "20", "--seed", "4"];
    const scratch = lines(run([...args, "--variants", "1"]).stdout);
    const varied = lines(run(args).stdout);
    expect(varied.slice(0, 16)).toEqual(scratch.slice(0, 16));
    // state 16 varies state 0: same controls, other values
    const [a, b, c] = [varied[16]!, varied[0]!, scratch[16]!].map((l) => JSON.parse(l).vmcs);
    expect(a.CPU_BASED_VM_EXEC_CONTROL).toBe(b.CPU_BASED_VM_EXEC_CONTROL);
    expect(a.GUEST_RIP).not.toBe(b.GUEST_RIP);
    expect(a).not.toEqual(c);
    const bad = run([...args, "--variants", "0"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--variants must be a whole number from 1/);
  });
  it("--valid streams in flat memory: 60,000 documents (~250 MB of NDJSON) to a file, peak RSS under 200 MB", () => {
    const out = join(dir, "many.ndjson");
    const hook = new URL("../../bench/usage-hook.mjs", import.meta.url).href;
    const fd = openSync(out, "w");
    const r = spawnSync("node", ["--import", hook, CLI, "gen", "--cpu", "skylake", "--count", "60000"], {
      stdio: ["ignore", fd, "pipe"],
      encoding: "utf8",
      env,
    });
    closeSync(fd);
    expect(r.status).toBe(0);
    expect(statSync(out).size).toBeGreaterThan(150e6);
    const usage = JSON.parse(r.stderr.trim().split("\n").at(-1)!).nvmxBenchUsage as { maxRssKB: number };
    expect(usage.maxRssKB / 1024).toBeLessThan(200);
    rmSync(out);
  });
  it("--mode real gives real-mode guests; an unsupported mode is an input error", () => {
    const a = run(["gen", "--cpu", "skylake", "--count", "5", "--mode", "real"]);
    for (const l of lines(a.stdout)) expect(BigInt(JSON.parse(l).vmcs.GUEST_CR0) & 1n).toBe(0n);
    const b = run(["gen", "--cpu", "hyperv-nested", "--count", "1", "--mode", "real"]);
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/unrestricted guest/);
  });
  it("--violate ID: every state fails exactly ID", () => {
    const a = run(["gen", "--cpu", "skylake", "--count", "10", "--violate", "guest.cs.l-and-d"]);
    expect(a.status).toBe(0);
    const c = run(["check", "--json", "-"], a.stdout);
    const out = lines(c.stdout).map((l) => JSON.parse(l));
    expect(out).toHaveLength(10);
    for (const r of out) expect(r.violations.map((v: { id: string }) => v.id)).toEqual(["guest.cs.l-and-d"]);
  });
});

describe("nvmx repair", () => {
  it("repairs a broken document and lists the change", () => {
    const f = join(dir, "bad.json");
    writeFileSync(
      f,
      run(["gen", "--cpu", "skylake", "--count", "1", "--mode", "64"]).stdout.replace(
        /"GUEST_RFLAGS":"0x[0-9a-f]+"/,
        '"GUEST_RFLAGS":"0x8002"',
      ),
    );
    const r = run(["repair", "--json", f]);
    expect(r.status).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.ok).toBe(true);
    expect(o.changes.map((c: { target: string }) => c.target)).toEqual(["GUEST_RFLAGS"]);
    const c = run(["check", "--json", "-"], JSON.stringify(o.entry));
    expect(JSON.parse(c.stdout).outcome).toEqual({ type: "entered" });
  });
});

describe("nvmx check --jobs", () => {
  it("20,000 NDJSON lines with malformed ones: same output as without --jobs, one line each, errors in place", () => {
    const docs = lines(run(["gen", "--cpu", "skylake", "--count", "50"]).stdout);
    const input: string[] = [];
    for (let i = 0; i < 20000; i++)
      input.push(
        i % 97 === 96
          ? `{"vmcs": {"GUEST_CR0": 0x${i.toString(16)}`
          : i % 89 === 88
            ? '{"vmcs":{"NOPE":1}}'
            : docs[i % docs.length]!,
      );
    const text = `${input.join("\n")}\n`;
    const par = run(["check", "--json", "--jobs", "3", "-"], text);
    const seq = run(["check", "--json", "-"], text);
    expect(par.status).toBe(2);
    const out = lines(par.stdout);
    expect(out).toHaveLength(20000);
    expect(par.stdout).toBe(seq.stdout);
    out.forEach((l, i) => {
      const bad = i % 97 === 96 || i % 89 === 88;
      expect(l.startsWith('{"error"'), `line ${i + 1}`).toBe(bad);
      if (bad) expect(JSON.parse(l).error.line).toBe(i + 1);
    });
  });
});
