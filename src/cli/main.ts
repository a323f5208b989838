#!/usr/bin/env node
/** The nvmx command line: thin; parses flags, calls the library, prints. */
import { parseArgs } from "node:util";
import { InputError } from "../errors.js";
import { VERSION } from "../version.js";
import { capsList, capsShowName } from "./caps.js";
import { checkFiles, resolveCpuOption } from "./check.js";
import { convertFiles } from "./convert.js";
import { explainFiles } from "./explain.js";
import { GEN_USAGE, genCommand, parseJobs } from "./gen.js";
import { NESTED_USAGE, nestedCommand } from "./nested.js";
import { Output } from "./output.js";
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

const out = new Output(process.stdout, process.stderr, true);

async function main(argv: string[]): Promise<number> {
  try {
    return await command(argv);
  } finally {
    await out.flush();
  }
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
        throw new InputError("nvmx check needs at least one FILE (or - for stdin)", { file: "nvmx" });
      const cpu = values.cpu !== undefined ? resolveCpuOption(values.cpu) : undefined;
      const jobs = values.jobs !== undefined ? parseJobs(values.jobs) : undefined;
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
        throw new InputError(`nvmx ${cmd} needs at least one FILE (or - for stdin)`, { file: "nvmx" });
      const cpu = values.cpu !== undefined ? resolveCpuOption(values.cpu) : undefined;
      const bad =
        cmd === "explain"
          ? await explainFiles(positionals, { json: values.json ?? false, ...(cpu ? { cpu } : {}) }, out)
          : await convertFiles(positionals, { to: values.to ?? "json", ...(cpu ? { cpu } : {}) }, out);
      return bad ? 2 : 0;
    }
    case "caps": {
      const [sub, name] = rest;
      if (sub === "list") {
        await out.line(capsList());
        return 0;
      }
      if (sub === "show" && name) {
        await out.line(capsShowName(name));
        return 0;
      }
      process.stderr.write(USAGE);
      return 2;
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
      process.stderr.write(`nvmx: unknown command "${cmd}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof InputError) process.stderr.write(`nvmx: ${e.describe()}\n`);
    else if (e instanceof Error && (e as NodeJS.ErrnoException).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION")
      process.stderr.write(`nvmx: ${e.message}\n${USAGE}`);
    else process.stderr.write(`nvmx: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 2;
  },
);
