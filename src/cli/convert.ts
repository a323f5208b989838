/** `nvmx convert FILE... [--to json] [--cpu NAME|FILE]`: any supported input → `nvmx-entry/1` document(s). */
import { type Command, Option } from "commander";
import type { Caps } from "../cpu/profile.js";
import { type EntryDocument, parseEntryText, serializeEntry } from "../entry/document.js";
import { InputError } from "../errors.js";
import { parseInput } from "../formats/detect.js";
import { explainDump, FORMAT_NAMES } from "../formats/explain.js";
import { describePossible } from "../report.js";
import { cpuValue } from "./check.js";
import { type Cli, cpuOption, defineCommand, exitStatus, quietOption, usage } from "./command.js";
import { readInput } from "./explain.js";
import type { Output } from "./output.js";

export interface ConvertOptions {
  to: string;
  cpu?: Caps;
}

/** The documents of one input (entry documents, or a CPU profile for vmxcap). */
export function convertBytes(bytes: Uint8Array, name: string, cpu?: Caps): unknown[] {
  const parsed = parseInput(bytes, name);
  if (parsed.format === "vmxcap") return [parsed.profile];
  if (parsed.format === "kvm-tracepoint")
    throw new InputError(
      "a kvm_nested_vmenter_failed trace names the failed check but holds no VMCS to convert; `nvmx explain` reads it",
      { file: name },
    );
  if (parsed.format === "nvmx-json")
    return parsed.documents.map((d) => {
      try {
        return serializeEntry(parseEntryText(d.text, cpu ? { cpu } : {}));
      } catch (e) {
        throw e instanceof InputError ? e.withFile(name, d.line) : e;
      }
    });
  return parsed.dumps.map((d) => {
    // the document is the completed state explain reports on (the log's values; the rest completed)
    const x = explainDump(d, cpu);
    const doc: EntryDocument & { description?: string } = serializeEntry(x.entry);
    const possible = x.result.possible ?? [];
    doc.description = [
      `converted by nvmx from ${FORMAT_NAMES[d.format]} (${d.layout}) in ${name}${d.line ? ` line ${d.line}` : ""}`,
      x.unknownFields.length ? `not in the log (completed by nvmx): ${x.unknownFields.join(", ")}` : "",
      ...x.assumptions.map((a) => `assumed: ${a}`),
      ...possible.map((p) => `possible: ${describePossible(p)}`),
    ]
      .filter(Boolean)
      .join("; ");
    return doc;
  });
}

/** Returns the number of inputs that could not be converted. */
export async function convertFiles(files: string[], opts: ConvertOptions, out: Output): Promise<number> {
  if (opts.to !== "json") throw usage("convert", `--to must be json, got ${JSON.stringify(opts.to)}`);
  let bad = 0;
  for (const file of files) {
    const name = file === "-" ? "<stdin>" : file;
    try {
      const docs = convertBytes(readInput(file), name, opts.cpu);
      if (docs.length === 1 && files.length === 1) await out.line(JSON.stringify(docs[0], null, 2));
      else for (const d of docs) await out.line(JSON.stringify(d));
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      bad++;
      await out.error(e.file === "<input>" ? e.withFile(name) : e, false);
    }
  }
  return bad;
}

export function register(program: Command, cli: Cli): void {
  defineCommand(program, "convert", {
    summary: "turn any supported input into nvmx-entry/1 documents (vmxcap output into a CPU profile)",
    description: `Turn what nvmx reads into its own documents: each dump of a log (KVM, Xen, QEMU, nested state) into
an nvmx-entry/1 document of the state explain reports on — the log's values, the fields it lacks
completed, and a description saying which; entry documents into their canonical form; vmxcap output
into a CPU profile (docs/contract.md §2). One input with one document prints it indented; otherwise
one document per line (NDJSON).`,
    examples: [
      "nvmx convert test/corpus/kvm-dump/kvm-list-2021-dosemu2-ds-es-not-accessed.txt",
      "nvmx convert test/corpus/vmxcap/cs590-nfv-2016-suricata-kvm-host.txt",
    ],
  })
    .argument("<FILE...>", "logs, entry documents or vmxcap output; - for standard input")
    .addOption(
      new Option("--to <FORMAT>", "the output format (only json: nvmx-entry/1, or a profile)").default(
        "json",
      ),
    )
    .addOption(cpuOption("the CPU the states are completed and checked on (default: a permissive CPU)"))
    .addOption(quietOption())
    .action(async (files: string[], o: { to: string; cpu?: string }) => {
      const cpu = o.cpu !== undefined ? cpuValue("convert", "--cpu", o.cpu) : undefined;
      const bad = await convertFiles(files, { to: o.to, ...(cpu ? { cpu } : {}) }, cli.out);
      cli.status = exitStatus({ bad, failed: 0 }, false);
    });
}
