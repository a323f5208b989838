/**
 * The command tree of `nvmx` (docs/architecture.md §4): one commander program; each command module adds its
 * command with `register(program, cli)`. src/cli/main.ts runs it; scripts/gen-cli-docs.mjs and the tests
 * build it to read every command's help and examples.
 */
import { Command } from "commander";
import { VERSION } from "../version.js";
import { register as caps } from "./caps.js";
import { register as check } from "./check.js";
import { type Cli, CommandLineError, defineCommand } from "./command.js";
import { register as convert } from "./convert.js";
import { register as explain } from "./explain.js";
import { register as gen } from "./gen.js";
import { register as nested } from "./nested.js";
import type { Output } from "./output.js";
import { register as repair } from "./repair.js";
import { register as serve } from "./serve.js";

/** A command module: adds its command (options, help, examples, action) to the program. */
export type Register = (program: Command, cli: Cli) => void;

/** The commands, in the order `nvmx --help` lists them. */
export const COMMANDS: readonly Register[] = [check, explain, convert, caps, gen, repair, nested, serve];

/**
 * A command whose module still parses its own arguments (`run(argv, out)` returning the exit status, as the
 * commands did before commander): registered with its summary and usage text, given its arguments as typed.
 * `-h`/`--help` prints the usage text. This is how `nvmx probe` (src/cli/probe.ts, branch `probe`) joins the
 * tree until it declares its options with `register` like the others:
 *
 *     legacyCommand({ name: "probe", summary: "...", usage: PROBE_USAGE, run: probeCommand })
 *
 * in the list passed to buildProgram (src/cli/main.ts).
 */
export function legacyCommand(spec: {
  name: string;
  summary: string;
  usage: string;
  run: (argv: string[], out: Output) => Promise<number>;
}): Register {
  return (program, cli) => {
    defineCommand(program, spec.name, { summary: spec.summary })
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .argument("[ARGS...]")
      .usage("...")
      .action(async (args: string[]) => {
        if (args.includes("-h") || args.includes("--help")) {
          await cli.out.text(`usage:\n${spec.usage}`);
          cli.status = 0;
          return;
        }
        cli.status = await spec.run(args, cli.out);
      });
  };
}

/** The program: `nvmx --version`, `nvmx help [CMD]`, and the commands. */
export function buildProgram(cli: Cli, commands: readonly Register[] = COMMANDS): Command {
  const program = new Command("nvmx");
  program
    .description(
      "nvmx decides, in software, what an Intel VMX VM entry (VMLAUNCH/VMRESUME) does with a VMCS on a CPU — VMfail, an immediate VM exit, or success — naming every violated rule with its SDM section, and models how Linux KVM (L0) emulates L1's VM entry into L2.",
    )
    .usage("<command> [options]")
    .version(`nvmx ${VERSION}`, "-V, --version", "print the version")
    .helpOption("-h, --help", "show this help")
    .helpCommand("help [command]", "show the help of a command")
    .exitOverride((e) => {
      throw new CommandLineError("", e);
    })
    .configureOutput({ outputError: () => {} })
    .addHelpText(
      "after",
      "\n`nvmx <command> --help` explains a command's options, with examples. Formats and exit codes: docs/contract.md; the commands with their output: docs/cli.md.\n",
    );
  for (const register of commands) register(program, cli);
  return program;
}
