/**
 * Every command explains itself: `nvmx CMD --help` and `-h` print its help on stdout and exit 0, every option
 * and argument has a description, and a mistake in a command line is one line naming the command and the
 * flag, with where to read more, and status 2.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { Cli, CommandLineError } from "../../src/cli/command.js";
import { Output } from "../../src/cli/output.js";
import { buildProgram } from "../../src/cli/program.js";
import { COMMAND_LOADERS, rootProgram } from "../../src/cli/root.js";
import { VERSION } from "../../src/version.js";

const CLI = new URL("../../dist/cli/main.js", import.meta.url).pathname;
const run = async (args: string[]) => {
  try {
    const { stdout, stderr } = await promisify(execFile)("node", [CLI, ...args], { encoding: "utf8" });
    return { status: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { status: x.code, stdout: x.stdout, stderr: x.stderr };
  }
};

/** Every command of the tree: [path, Command]. */
function commands(cmd: Command, path: string[] = []): [string, Command][] {
  const out: [string, Command][] = path.length ? [[path.join(" "), cmd]] : [];
  for (const c of cmd.commands) if (c.name() !== "help") out.push(...commands(c, [...path, c.name()]));
  return out;
}

const program = buildProgram(new Cli(new Output(process.stdout, process.stderr, true)));
const all = commands(program);

describe("per-command help", () => {
  it("a run loads only its command: each name's loader registers that command, and the loaders are the tree's commands in order", async () => {
    const top = program.commands.map((c) => c.name()).filter((n) => n !== "help");
    expect(Object.keys(COMMAND_LOADERS)).toEqual(top);
    for (const name of top) {
      const p = rootProgram();
      (await COMMAND_LOADERS[name]!()).register(p, new Cli(new Output(process.stdout, process.stderr, true)));
      expect(
        p.commands.map((c) => c.name()).filter((n) => n !== "help"),
        name,
      ).toEqual([name]);
      const alone = p.commands.find((c) => c.name() === name)!;
      const whole = program.commands.find((c) => c.name() === name)!;
      expect(alone.helpInformation(), name).toBe(whole.helpInformation());
    }
  });

  it("the tree has every command", () => {
    expect(all.map(([p]) => p)).toEqual([
      "check",
      "explain",
      "convert",
      "caps",
      "caps list",
      "caps show",
      "gen",
      "repair",
      "nested",
      "probe",
      "probe caps",
      "probe image",
      "probe run",
      "probe compare",
      "probe kut",
      "serve",
    ]);
  });

  it("every option and argument of every command is explained", () => {
    for (const [path, cmd] of all) {
      for (const o of cmd.options) expect(o.description.length, `${path} ${o.flags}`).toBeGreaterThan(10);
      for (const a of cmd.registeredArguments)
        expect(a.description.length, `${path} ${a.name()}`).toBeGreaterThan(10);
      expect(cmd.description().length, path).toBeGreaterThan(20);
    }
  });

  it("nested's parameters say what each value means", async () => {
    const r = await run(["nested", "--help"]);
    expect(r.stdout).toMatch(/--early-consistency-checks <1\|0\|-1>\s+the parameter as the commit message/);
    expect(r.stdout).toMatch(/1 always, 0 never, -1\s+only on\s+bare metal/);
    expect(r.stdout).toMatch(
      /--software-checks <SET>\s+L0's software checks: kernel \(the\s+release's own, default\), full/,
    );
    expect(r.stdout).toMatch(/skip-dr7-restore \(the\s+dry run's VM exit loads DR7=0x400/);
  });

  /** A command line parsed in-process as main.ts does: what --help prints, or the one line of a refusal. */
  async function parse(args: string[]): Promise<{ status: number; stdout: string; line?: string }> {
    let stdout = "";
    const p = buildProgram(new Cli(new Output(process.stdout, process.stderr, true)), undefined, {
      writeOut: (s) => {
        stdout += s;
      },
    });
    try {
      await p.parseAsync(args, { from: "user" });
      return { status: 0, stdout };
    } catch (e) {
      if (!(e instanceof CommandLineError)) throw e;
      return { status: e.status, stdout, ...(e.status ? { line: e.line() } : {}) };
    }
  }

  it("--help and -h of every command: its help, status 0", async () => {
    for (const [path] of all)
      for (const flag of ["--help", "-h"]) {
        const r = await parse([...path.split(" "), flag]);
        expect(r.status, `${path} ${flag}`).toBe(0);
        expect(r.stdout.split("\n")[0], `${path} ${flag}`).toMatch(new RegExp(`^Usage: nvmx ${path} `));
      }
  });

  it("an unknown option of any command: one line naming it and the command's help", async () => {
    for (const [path] of all)
      expect(await parse([...path.split(" "), "--frob"]), path).toEqual({
        status: 2,
        stdout: "",
        line: `nvmx ${path}: unknown option '--frob'; try \`nvmx ${path} --help\``,
      });
  });

  it("help for a command that does not exist: one line", async () => {
    expect(await parse(["help", "frob"])).toEqual({
      status: 2,
      stdout: "",
      line: "nvmx: unknown command 'frob'; try `nvmx --help`",
    });
  });

  it("as the program runs them: help on stdout with status 0; a mistake one line on stderr with status 2", async () => {
    const [check, h, caps, help] = await Promise.all([
      run(["check", "--help"]),
      run(["probe", "image", "-h"]),
      run(["caps", "show", "--frob"]),
      run(["help", "check"]),
    ]);
    expect(check.status).toBe(0);
    expect(check.stderr).toBe("");
    expect(check.stdout).toMatch(/^Usage: nvmx check \[options\] <FILE...>\n/);
    expect(h).toMatchObject({ status: 0, stderr: "" });
    expect(h.stdout).toMatch(/^Usage: nvmx probe image /);
    expect(caps).toEqual({
      status: 2,
      stdout: "",
      stderr: "nvmx caps show: unknown option '--frob'; try `nvmx caps show --help`\n",
    });
    expect(help).toEqual(check);
  });

  it("nvmx --version / -V", async () => {
    for (const f of ["--version", "-V"])
      expect(await run([f])).toEqual({ status: 0, stdout: `nvmx ${VERSION}\n`, stderr: "" });
  });

  it("nvmx alone: the overview on stderr, status 2", async () => {
    const r = await run([]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^Usage: nvmx <command> \[options\]\n/);
  });
});
