#!/usr/bin/env node
/**
 * The nvmx command line: builds the command tree (src/cli/program.ts), runs the command, and ends with its
 * status. Every mistake is one line on stderr: a command-line mistake names the command and the flag and
 * points to `nvmx CMD --help` (status 2); a bad input names the file, line and key (status 2, the other
 * inputs go on); only nvmx's own faults are called internal errors.
 */
import type { Command } from "commander";
import { InputError } from "../errors.js";
import { Cli, CommandLineError, UsageError } from "./command.js";
import { endOnWriteError, Output } from "./output.js";
import { COMMAND_LOADERS, rootProgram } from "./root.js";

endOnWriteError();
const out = new Output(process.stdout, process.stderr, true);
const cli = new Cli(out);

/** The one line printed for an error that ended the command, and the status. */
function failure(e: unknown): { line?: string; status: number } {
  if (e instanceof CommandLineError) {
    // --help and --version end this way too (status 0)
    if (e.status === 0) return { status: 0 };
    return { line: e.line(), status: 2 };
  }
  if (e instanceof UsageError) return { line: `${e.message}; try \`nvmx ${e.command} --help\``, status: 2 };
  if (e instanceof InputError) {
    // Errors about the command line name the command ("nvmx serve: ..."); errors of an input its file.
    const text = e.describe();
    return { line: e.file === "nvmx" || e.file.startsWith("nvmx ") ? text : `nvmx: ${text}`, status: 2 };
  }
  let msg: string;
  try {
    msg = e instanceof Error ? e.message : String(e);
  } catch {
    msg = "unknown error";
  }
  return { line: `nvmx: internal error: ${msg}`, status: 2 };
}

/**
 * The program for this command line: the root with only the command named first (loading every command's
 * modules costs about a tenth of a CPU-second); the whole tree for help, `--version` and mistakes.
 */
async function programFor(argv: string[]): Promise<Command> {
  const load = Object.hasOwn(COMMAND_LOADERS, argv[0] ?? "") ? COMMAND_LOADERS[argv[0]!] : undefined;
  if (!load) return (await import("./program.js")).buildProgram(cli);
  const program = rootProgram();
  (await load()).register(program, cli);
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = await programFor(argv);
  if (argv.length === 0) {
    // `nvmx` alone: what it can do, on stderr (the command line asked for nothing), status 2
    process.stderr.write(program.helpInformation());
    return 2;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
    return cli.status;
  } catch (e) {
    const f = failure(e);
    await out.flush();
    if (f.line) process.stderr.write(`${f.line}\n`);
    return f.status;
  } finally {
    await out.flush();
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
