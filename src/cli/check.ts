/** `nvmx check [--json] [--cpu NAME|FILE] FILE...` (interface.md §3). */
import { readFileSync } from "node:fs";
import { builtinNames, builtinProfile } from "../cpu/builtin.js";
import { type Caps, decodeProfile } from "../cpu/profile.js";
import { InputError } from "../errors.js";
import { looksLikeVmxcap, parseVmxcap } from "../formats/vmxcap.js";
import { BatchChecker, printBatch } from "./batch.js";
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

/** Returns the number of inputs that could not be checked. */
export async function checkFiles(files: string[], opts: CheckOptions, out: Output): Promise<number> {
  if (opts.jobs !== undefined && opts.jobs > 1)
    return checkFilesParallel(files, { ...opts, jobs: opts.jobs }, out);
  const checker = new BatchChecker(opts);
  // Before waiting for more input, write what is done: a client may wait for it before writing more.
  const read = { beforeWait: () => out.flush(), blocking: true };
  let bad = 0;
  for (const file of files) {
    const name = file === "-" ? "<stdin>" : file;
    for await (const piece of readPieces(file, read))
      bad += await printBatch(checker.piece(name, piece), out);
  }
  return bad;
}
