/**
 * The command tree of `nvmx` (docs/architecture.md §4): one commander program; each command module adds its
 * command with `register(program, cli)`. scripts/gen-cli-docs.mjs and the tests build it whole to read every
 * command's help and examples; src/cli/main.ts builds it whole only for help and mistakes (src/cli/root.ts).
 */
import type { Command } from "commander";
import { register as caps } from "./caps.js";
import { register as check } from "./check.js";
import type { Cli } from "./command.js";
import { register as convert } from "./convert.js";
import { register as explain } from "./explain.js";
import { register as gen } from "./gen.js";
import { register as nested } from "./nested.js";
import { register as probe } from "./probe.js";
import { register as repair } from "./repair.js";
import { type Register, rootProgram } from "./root.js";
import { register as serve } from "./serve.js";

export type { Register } from "./root.js";

/** The commands, in the order `nvmx --help` lists them (the order of `COMMAND_LOADERS`). */
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
  const program = rootProgram(opts);
  for (const register of commands) register(program, cli);
  return program;
}
