/**
 * The command tree of `nvmx` (docs/architecture.md §4): one commander program; each command module adds its
 * command with `register(program, cli)`. src/cli/main.ts runs it; scripts/gen-cli-docs.mjs and the tests
 * build it to read every command's help and examples.
 */
import { Command } from "commander";
import { VERSION } from "../version.js";
import { register as caps } from "./caps.js";
import { register as check } from "./check.js";
import { type Cli, CommandLineError } from "./command.js";
import { register as convert } from "./convert.js";
import { register as explain } from "./explain.js";
import { register as gen } from "./gen.js";
import { register as nested } from "./nested.js";
import { register as probe } from "./probe.js";
import { register as repair } from "./repair.js";
import { register as serve } from "./serve.js";

/** A command module: adds its command (options, help, examples, action) to the program. */
export type Register = (program: Command, cli: Cli) => void;

/** The commands, in the order `nvmx --help` lists them. */
export const COMMANDS: readonly Register[] = [
  check,
  explain,
  convert,
  caps,
  gen,
  repair,
  nested,
  probe,
  serve,
];

/** The program: `nvmx --version`, `nvmx help [CMD]`, and the commands. */
export function buildProgram(
  cli: Cli,
  commands: readonly Register[] = COMMANDS,
  opts: { helpWidth?: number; writeOut?: (s: string) => void } = {},
): Command {
  const program = new Command("nvmx");
  // a fixed width for generated docs (docs/cli.md); otherwise the terminal's (80 when not a terminal)
  if (opts.helpWidth !== undefined) program.configureHelp({ helpWidth: opts.helpWidth });
  // where --help and --version print (tests read them in-process); stdout otherwise
  if (opts.writeOut) program.configureOutput({ writeOut: opts.writeOut });
  program
    .description(
      "nvmx decides, in software, what an Intel VMX VM entry (VMLAUNCH/VMRESUME) does with a VMCS on a CPU — VMfail, an immediate VM exit, or success — naming every violated rule with its SDM section, and models how Linux KVM (L0) emulates L1's VM entry into L2.",
    )
    .usage("<command> [options]")
    .version(`nvmx ${VERSION}`, "-V, --version", "print the version")
    .helpOption("-h, --help", "show this help")
    .helpCommand("help [command]", "show the help of a command")
    .exitOverride((e) => {
      // the only error help of the program itself: `nvmx help NAME` for a command that does not exist
      const help = e.code === "commander.help" && e.exitCode !== 0;
      throw new CommandLineError("", e, help ? `unknown command '${program.args.at(-1) ?? ""}'` : undefined);
    })
    .configureOutput({ outputError: () => {}, writeErr: () => {} })
    .addHelpText(
      "after",
      `
\`nvmx <command> --help\` explains a command's options, with examples.
Formats and exit codes: docs/contract.md; every command with its output: docs/cli.md.
`,
    );
  for (const register of commands) register(program, cli);
  return program;
}
