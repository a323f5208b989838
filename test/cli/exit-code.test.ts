/**
 * `--exit-code` (docs/contract.md §5): 0 when every judged entry enters, 1 when some fails, 2 when some input
 * is bad (2 wins); without it the outcomes never change the status. `--quiet` and progress on stderr.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { Cli, exitStatus } from "../../src/cli/command.js";
import { Output } from "../../src/cli/output.js";

const CLI = new URL("../../dist/cli/main.js", import.meta.url).pathname;
const status = async (args: string[]): Promise<{ status: number; stderr: string }> => {
  try {
    const { stderr } = await promisify(execFile)("node", [CLI, ...args], { encoding: "utf8" });
    return { status: 0, stderr };
  } catch (e) {
    const x = e as { code: number; stderr: string };
    return { status: x.code, stderr: x.stderr };
  }
};
const VALID = "examples/valid-64bit-linux.json";
const FAILS = "examples/bad-cs-ar.json";
const LOG = "test/corpus/kvm-dump/kvm-list-2021-dosemu2-ds-es-not-accessed.txt";

describe("--exit-code", () => {
  it("the status rule: bad input (2) wins over a failing entry (1)", () => {
    expect(exitStatus({ bad: 0, failed: 0 }, true)).toBe(0);
    expect(exitStatus({ bad: 0, failed: 3 }, true)).toBe(1);
    expect(exitStatus({ bad: 1, failed: 3 }, true)).toBe(2);
    expect(exitStatus({ bad: 0, failed: 3 }, false)).toBe(0);
    expect(exitStatus({ bad: 1, failed: 0 }, false)).toBe(2);
  });

  it.each([
    [["check", "--exit-code", VALID], 0],
    [["check", "--exit-code", VALID, FAILS], 1],
    [["check", FAILS], 0],
    [["check", "--exit-code", "--json", FAILS, "missing.json"], 2],
    [["check", "--exit-code", "--jobs", "2", VALID, FAILS], 1],
    [["explain", "--exit-code", LOG], 1],
    [["explain", LOG], 0],
    [["repair", "--exit-code", "--json", FAILS], 0],
    [["repair", "--exit-code", "--json", "--violate", "guest.cs.l-and-d", VALID], 0],
    [["nested", "--exit-code", "--json", FAILS], 1],
    [["nested", "--exit-code", "--json", VALID], 0],
    [["nested", "--json", FAILS], 0],
  ])("%j → %i", async (args, expected) => {
    expect((await status(args)).status).toBe(expected);
  });

  it("is refused where nothing is judged entry by entry", async () => {
    const r = await status(["nested", "--exit-code", "--find-gaps"]);
    expect(r).toEqual({
      status: 2,
      stderr:
        "nvmx nested: --exit-code: judges the entries of FILE...; --compare and --find-gaps report on the kernel; try `nvmx nested --help`\n",
    });
  });
});

describe("--quiet and progress", () => {
  it("--quiet drops the notes, not the results", async () => {
    const loud = await status(["nested", FAILS]);
    const quiet = await status(["nested", "--quiet", FAILS]);
    expect(loud.stderr).toMatch(/^nvmx nested: note: host: sapphirerapids unless a document names its CPU/);
    expect(quiet.stderr).toBe("");
  });

  it("progress only when stderr is a terminal and --quiet is not given", () => {
    const written: string[] = [];
    const fake = (isTTY: boolean) =>
      ({ isTTY, write: (s: string) => written.push(s) }) as unknown as NodeJS.WriteStream;
    const out = new Output(process.stdout, process.stderr, true);
    expect(new Cli(out, fake(false)).progress("search", false)).toBeUndefined();
    expect(new Cli(out, fake(true)).progress("search", true)).toBeUndefined();
    const p = new Cli(out, fake(true)).progress("search", false)!;
    p(1, 2);
    p(2, 2);
    expect(written).toEqual(["\rsearch 1/2", "\rsearch 2/2\n"]);
  });
});
