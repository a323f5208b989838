/** `nvmx check [--json] [--cpu NAME|FILE] [--jobs N] [--exit-code] FILE...` (docs/contract.md). */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { type Command, Option } from "commander";
import { builtinNames, builtinProfile } from "../cpu/builtin.js";
import { type Caps, decodeProfile } from "../cpu/profile.js";
import { InputError } from "../errors.js";
import { looksLikeVmxcap, parseVmxcap } from "../formats/vmxcap.js";
import { BatchChecker, printBatch } from "./batch.js";
import {
  type Cli,
  cpuOption,
  defineCommand,
  exitCodeOption,
  exitStatus,
  intValue,
  type Judged,
  jsonOption,
  quietOption,
  usage,
} from "./command.js";
import { readPieces } from "./input.js";
import type { Output } from "./output.js";
import { checkFilesParallel } from "./pool.js";

/** `--cpu NAME|FILE`: a built-in name, a JSON profile file, or vmxcap output. */
export function resolveCpuOption(arg: string): Caps {
  if (builtinNames().includes(arg)) return builtinProfile(arg);
  let text: string;
  try {
    text = readFileSync(arg, "utf8");
  } catch {
    throw new InputError(
      `"${arg}" is neither a built-in profile (${builtinNames().join(", ")}) nor a readable file`,
      {
        file: "--cpu",
      },
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    if (!looksLikeVmxcap(text))
      throw new InputError(`not valid JSON: ${(e as Error).message}`, { file: arg });
    try {
      data = parseVmxcap(text, arg); // QEMU scripts/kvm/vmxcap output
    } catch (v) {
      throw v instanceof InputError ? v.withFile(arg) : v;
    }
  }
  try {
    return decodeProfile(data as never, "cpu");
  } catch (e) {
    throw e instanceof InputError ? e.withFile(arg) : e;
  }
}

export interface CheckOptions {
  json: boolean;
  cpu?: Caps;
  /** `--jobs N`: check on N threads, the main one and N - 1 workers (src/cli/pool.ts); output in input order. */
  jobs?: number;
}

/** Checks the inputs; returns how many could not be checked and how many entries fail. */
export async function checkFiles(files: string[], opts: CheckOptions, out: Output): Promise<Judged> {
  if (opts.jobs !== undefined && opts.jobs > 1)
    return checkFilesParallel(files, { ...opts, jobs: opts.jobs }, out);
  const checker = new BatchChecker(opts);
  // Before waiting for more input, write what is done: a client may wait for it before writing more.
  const read = { beforeWait: () => out.flush(), blocking: true };
  const judged: Judged = { bad: 0, failed: 0 };
  for (const file of files) {
    const name = file === "-" ? "<stdin>" : file;
    for await (const piece of readPieces(file, read))
      await printBatch(checker.piece(name, piece), out, judged);
  }
  return judged;
}

/**
 * `--cpu` (or another option naming a CPU) of a command: as resolveCpuOption, with a name that is neither a
 * profile nor a file reported as a mistake in the command line.
 */
export function cpuValue(command: string, flag: string, arg: string): Caps {
  try {
    return resolveCpuOption(arg);
  } catch (e) {
    if (e instanceof InputError && e.file === "--cpu")
      throw usage(command, flag ? `${flag} ${e.reason}` : e.reason);
    throw e;
  }
}

/**
 * `--jobs N`: a whole number from 1, at most the number of cores (os.availableParallelism()): more threads
 * than cores only cost memory (~16 MB each) and time. Returns the number of threads and the note to print
 * when it was capped.
 */
export function jobsValue(command: string, s: string, cores = availableParallelism()): number {
  return Math.min(intValue(command, "--jobs", s, 1), cores);
}

export function register(program: Command, cli: Cli): void {
  defineCommand(program, "check", {
    summary: "check entry documents: what VMLAUNCH/VMRESUME does with each state",
    description: `Check nvmx-entry/1 documents (docs/contract.md §1): for each state, what VMLAUNCH/VMRESUME does on
the CPU — VMfail (error 7 controls, 8 host state, ...), a VM exit at once (33 guest state, 34 MSR
loading) or a successful entry — with every violated rule named, its SDM section and its values.
An input is one JSON document or NDJSON (one document per line); results come in input order, and
a bad document never stops the others. A log (a KVM or Xen dump, QEMU's dump) is named and left to
\`nvmx explain\`.`,
    more: "Formats and exit codes: docs/contract.md; every rule: docs/checks.md.",
    examples: [
      "nvmx check examples/bad-cs-ar.json",
      "nvmx check --json --exit-code examples/vmlaunch-launched.json",
    ],
  })
    .argument("<FILE...>", "entry documents: JSON or NDJSON files, - for standard input")
    .addOption(
      jsonOption(
        "one JSON result per document (nvmx-result/1), one per line; a bad document's error record in its place",
      ),
    )
    .addOption(cpuOption("the CPU to check on, for every document (default: each document's cpu)"))
    .addOption(
      new Option(
        "--jobs <N>",
        "check on N threads (at most the number of cores); the output stays in input order",
      ),
    )
    .addOption(exitCodeOption())
    .addOption(quietOption())
    .action(
      async (
        files: string[],
        o: { json?: true; cpu?: string; jobs?: string; exitCode?: true; quiet?: true },
      ) => {
        const cpu = o.cpu !== undefined ? cpuValue("check", "--cpu", o.cpu) : undefined;
        const jobs = o.jobs !== undefined ? jobsValue("check", o.jobs) : undefined;
        if (jobs !== undefined && jobs < Number(o.jobs))
          cli.note(
            "check",
            `--jobs ${o.jobs}: this machine has ${jobs} cores; using ${jobs} threads`,
            o.quiet,
          );
        const judged = await checkFiles(
          files,
          { json: o.json ?? false, ...(cpu ? { cpu } : {}), ...(jobs ? { jobs } : {}) },
          cli.out,
        );
        cli.status = exitStatus(judged, o.exitCode ?? false);
      },
    );
}
