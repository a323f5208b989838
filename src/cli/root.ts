/**
 * The root of the `nvmx` command tree without its commands (src/cli/program.ts adds them all): the program's
 * description, `--version`, `help [CMD]`, and where help goes. src/cli/main.ts builds it with only the command
 * being run, loaded on its own (`COMMAND_LOADERS`), so a run does not load every other command's modules.
 */
import { Command } from "commander";
import { VERSION } from "../version.js";
import { type Cli, CommandLineError } from "./command.js";

/** A command module: adds its command (options, help, examples, action) to the program. */
export type Register = (program: Command, cli: Cli) => void;

/** Each command's module, loaded when the command runs (the names `nvmx --help` lists, in its order). */
export const COMMAND_LOADERS: Readonly<Record<string, () => Promise<{ register: Register }>>> = {
  check: () => import("./check.js"),
  explain: () => import("./explain.js"),
  convert: () => import("./convert.js"),
  caps: () => import("./caps.js"),
  gen: () => import("./gen.js"),
  repair: () => import("./repair.js"),
  nested: () => import("./nested.js"),
  probe: () => import("./probe.js"),
  serve: () => import("./serve.js"),
};

/** The program without commands: `nvmx --version`, `nvmx help [CMD]`. */
export function rootProgram(opts: { helpWidth?: number; writeOut?: (s: string) => void } = {}): Command {
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
  return program;
}
