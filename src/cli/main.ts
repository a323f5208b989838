#!/usr/bin/env node
/** The nvmx command line: thin; parses flags, calls the library, prints. */
import { parseArgs } from "node:util";
import { builtinNames } from "../cpu/builtin.js";
import { InputError } from "../errors.js";
import { VERSION } from "../version.js";
import { capsList, capsShowName } from "./caps.js";
import { checkFiles, resolveCpuOption } from "./check.js";
import { convertFiles } from "./convert.js";
import { explainFiles } from "./explain.js";
import { GEN_USAGE, genCommand, parseJobs } from "./gen.js";
import { NESTED_USAGE, nestedCommand } from "./nested.js";
import { endOnWriteError, Output } from "./output.js";
import { PROBE_USAGE, probeCommand } from "./probe.js";
import { REPAIR_USAGE, repairCommand } from "./repair.js";
import { SERVE_USAGE, serveCommand } from "./serve.js";

const USAGE = `usage:
  nvmx check [--json] [--cpu NAME|FILE] [--jobs N] FILE...  check entry documents (- = stdin; JSON or NDJSON)
  nvmx explain [--json] [--cpu NAME|FILE] FILE... explain real logs (KVM/Xen dumps, QEMU dumps, nested state)
  nvmx convert FILE... --to json [--cpu NAME|FILE]  turn any supported input into nvmx-entry/1 document(s)
  nvmx caps list                                  list the built-in CPU profiles
  nvmx caps show NAME                             what each capability MSR of a profile allows
${GEN_USAGE}${REPAIR_USAGE}${NESTED_USAGE}${SERVE_USAGE}${PROBE_USAGE}`;

endOnWriteError();
const out = new Output(process.stdout, process.stderr, true);

async function main(argv: string[]): Promise<number> {
  try {
    return await command(negativeValues(argv));
  } finally {
    await out.flush();
  }
}

/**
 * `--jobs -1` as `--jobs=-1`: node:util's parseArgs takes "-1" for an option of its own and refuses the
 * pair as ambiguous; nvmx has no option that starts with a digit, so the value is meant, and its own check
 * names the problem.
 */
function negativeValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (a.startsWith("--") && !a.includes("=") && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

async function command(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "check": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          json: { type: "boolean", default: false },
          cpu: { type: "string" },
          jobs: { type: "string" },
        },
      });
      if (positionals.length === 0)
        throw new InputError("needs at least one FILE (or - for stdin)", { file: "nvmx check" });
      const cpu = values.cpu !== undefined ? resolveCpuOption(values.cpu) : undefined;
      const jobs = values.jobs !== undefined ? parseJobs(values.jobs) : undefined;
      if (jobs !== undefined && jobs < Number(values.jobs))
        process.stderr.write(
          `nvmx: --jobs ${values.jobs}: this machine has ${jobs} cores; using ${jobs} threads\n`,
        );
      const bad = await checkFiles(
        positionals,
        { json: values.json ?? false, ...(cpu ? { cpu } : {}), ...(jobs ? { jobs } : {}) },
        out,
      );
      return bad ? 2 : 0;
    }
    case "gen":
      return genCommand(rest, out);
    case "repair":
      return repairCommand(rest, out);
    case "nested":
      return nestedCommand(rest, out);
    case "serve":
      return serveCommand(rest, out);
    case "probe":
      return probeCommand(rest, out);
    case "explain":
    case "convert": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          json: { type: "boolean", default: false },
          cpu: { type: "string" },
          to: { type: "string", default: "json" },
        },
      });
      if (positionals.length === 0)
        throw new InputError("needs at least one FILE (or - for stdin)", { file: `nvmx ${cmd}` });
      const cpu = values.cpu !== undefined ? resolveCpuOption(values.cpu) : undefined;
      const bad =
        cmd === "explain"
          ? await explainFiles(positionals, { json: values.json ?? false, ...(cpu ? { cpu } : {}) }, out)
          : await convertFiles(positionals, { to: values.to ?? "json", ...(cpu ? { cpu } : {}) }, out);
      return bad ? 2 : 0;
    }
    case "caps": {
      const [sub, name, ...extra] = rest;
      if (sub === "list" && name === undefined) {
        await out.line(capsList());
        return 0;
      }
      if (sub === "show" && name !== undefined && extra.length === 0) {
        if (!builtinNames().includes(name))
          throw new InputError(`no built-in profile "${name}" (see nvmx caps list)`, { file: "nvmx caps" });
        await out.line(capsShowName(name));
        return 0;
      }
      throw new InputError("use nvmx caps list, or nvmx caps show NAME", { file: "nvmx caps" });
    }
    case "--version":
    case "-V":
      process.stdout.write(`nvmx ${VERSION}\n`);
      return 0;
    case "help":
    case "--help":
    case "-h":
    case undefined:
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      throw new InputError(`unknown command "${cmd}" (nvmx help lists the commands)`, { file: "nvmx" });
  }
}

/** One line for a mistake in the command line or its inputs; "internal error" only for nvmx's own faults. */
function failure(cmd: string | undefined, e: unknown): string {
  if (e instanceof InputError) {
    // Errors about the command line name the command ("nvmx check: ...") or nvmx itself ("nvmx: --jobs ...").
    const text = e.describe();
    return e.file === "nvmx" || e.file.startsWith("nvmx ") ? text : `nvmx: ${text}`;
  }
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (e instanceof Error && code?.startsWith("ERR_PARSE_ARGS_"))
    return `nvmx ${cmd}: ${e.message.replace(/\s*\n\s*/g, " ")} (nvmx help lists the options)`;
  return `nvmx: internal error: ${e instanceof Error ? e.message : String(e)}`;
}

const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`${failure(argv[0], e)}\n`);
    process.exitCode = 2;
  },
);
