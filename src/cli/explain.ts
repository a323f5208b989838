/**
 * `nvmx explain [--json] [--cpu NAME|FILE] FILE...`: read a real log, check it, say what it means.
 *
 * Logs are read as a stream, dump by dump (src/formats/logs.ts): memory stays bounded on a 50 MB log, and
 * each dump is reported as soon as it is read. Every input gets its records whatever happens to another:
 * a bad input is an InputError record, an unexpected error while reading or explaining one input (or one
 * dump) is an internal-error record for it, and the next inputs go on.
 */
import { createReadStream, readFileSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import type { Command } from "commander";
import { PERMISSIVE_PROFILE } from "../cpu/permissive.js";
import { type Caps, decodeProfile } from "../cpu/profile.js";
import { parseEntryText } from "../entry/document.js";
import { runEntry } from "../entry/run.js";
import { InputError } from "../errors.js";
import { noDumpError } from "../formats/detect.js";
import {
  describeExplainedOutcome,
  type Explanation,
  explainDump,
  explanationJson,
  FORMAT_NAMES,
} from "../formats/explain.js";
import { describeTracepointLine, TracepointReader } from "../formats/kvm-tracepoint.js";
import { LogReader } from "../formats/logs.js";
import { isNestedState, parseNestedState } from "../formats/nested-state.js";
import { describeReported } from "../formats/reported.js";
import { looksBinary } from "../formats/text.js";
import type { ParsedDump } from "../formats/types.js";
import { looksLikeVmxcap, parseVmxcap } from "../formats/vmxcap.js";
import { describeField, describePossible, humanReport } from "../report.js";
import { RESULT_FORMAT, VERSION } from "../version.js";
import { capsShow } from "./caps.js";
import { cpuValue } from "./check.js";
import {
  type Cli,
  cpuOption,
  defineCommand,
  exitCodeOption,
  exitStatus,
  type Judged,
  jsonOption,
  quietOption,
} from "./command.js";
import { documentsOf } from "./input.js";
import type { Output } from "./output.js";

export interface ExplainOptions {
  json: boolean;
  cpu?: Caps;
}

/** Read a file (or standard input for "-") as bytes. */
export function readInput(file: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file === "-" ? 0 : file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(code === "ENOENT" ? "no such file" : `cannot read: ${(e as Error).message}`, {
      file: file === "-" ? "<stdin>" : file,
    });
  }
}

const MAX_LIST = 40;

export function humanExplanation(file: string, x: Explanation): string {
  const d = x.dump;
  const r = x.result;
  const out: string[] = [];
  out.push(`${file}${d.line ? `:${d.line}` : ""}: ${FORMAT_NAMES[d.format]} (${d.layout})`);
  out.push(
    x.cpuAssumed
      ? `  cpu: none given — assumed ${PERMISSIVE_PROFILE.description?.replace(/^assumed when no --cpu is given: /, "")}; give --cpu NAME|FILE for a real one`
      : `  cpu: ${x.entry.caps.name}`,
  );
  out.push(
    `  the log reports: ${d.reported ? describeReported(d.reported) : "nothing about the outcome (no exit reason or error code in the log)"}`,
  );
  out.push(`  nvmx: ${describeExplainedOutcome(x)}`);
  for (const w of d.warnings) out.push(`  warning: ${w}`);
  if (r.violations.length === 0) out.push("  no definite violation");
  else out.push(`  ${r.violations.length} definite violation${r.violations.length === 1 ? "" : "s"}:`);
  for (const v of r.violations) {
    out.push(`  - ${v.id} (SDM ${v.sdm}): ${v.message}`);
    for (const f of v.fields) out.push(`      ${describeField(x.entry, f)}`);
  }
  const possible = r.possible ?? [];
  if (possible.length) out.push(`  ${possible.length} possible finding${possible.length === 1 ? "" : "s"}:`);
  for (const p of possible) {
    out.push(`  ? ${describePossible(p)}`);
    for (const v of p.violations) out.push(`    - ${v.id} (SDM ${v.sdm}): ${v.message}`);
  }
  if (x.unknownFields.length) {
    const shown = x.unknownFields.slice(0, MAX_LIST).join(", ");
    const more = x.unknownFields.length > MAX_LIST ? `, and ${x.unknownFields.length - MAX_LIST} more` : "";
    out.push(
      `  the log does not show ${x.unknownFields.length} field${x.unknownFields.length === 1 ? "" : "s"} VM entry reads (nvmx completed them; a finding that rests on one is only possible): ${shown}${more}`,
    );
  }
  if (x.completed.length)
    out.push(
      `  completed to fit the log: ${x.completed
        .slice(0, MAX_LIST)
        .map((c) => `${c.target} = ${c.to}`)
        .join(", ")}${x.completed.length > MAX_LIST ? ", …" : ""}`,
    );
  if (x.assumptions.length) {
    out.push("  assumed:");
    for (const a of x.assumptions) out.push(`  - ${a}`);
  }
  if (d.notes.length) {
    out.push("  notes:");
    for (const n of d.notes) out.push(`  - ${n}`);
  }
  out.push(`  verdict: ${x.agreement}`);
  return out.join("\n");
}

/** The message of an unexpected error, safely (building it must not throw again). */
function internal(e: unknown, file: string, line?: number): InputError {
  let msg: string;
  try {
    msg = e instanceof Error ? e.message : String(e);
  } catch {
    msg = "unknown error";
  }
  if (msg.length > 300) msg = `${msg.slice(0, 300)}…`;
  return new InputError(`internal error while explaining this input: ${msg}`, {
    file,
    ...(line !== undefined ? { line } : {}),
  });
}

/** Above this, a JSON input is not read whole (explain is for logs; nvmx check streams documents). */
const JSON_CAP = 64 << 20;
/** A nested-state blob is 128 bytes of header and two 4 KiB vmcs12: anything much larger is not one. */
const BINARY_CAP = 1 << 20;
/** The start of a log kept for recognising vmxcap output when no dump is found. */
const HEAD = 1 << 20;

/** Explain one input, streaming; adds its bad records and failing entries to `judged`. */
async function explainOne(
  file: string,
  name: string,
  opts: ExplainOptions,
  out: Output,
  judged: Judged,
): Promise<void> {
  const report = async (d: ParsedDump) => {
    try {
      const x = explainDump(d, opts.cpu);
      if (x.result.outcome.type !== "entered") judged.failed++;
      if (opts.json) await out.line(JSON.stringify(explanationJson(name, x)));
      else await out.line(`${humanExplanation(name, x)}\n`);
    } catch (e) {
      judged.bad++;
      await out.error(
        e instanceof InputError ? e.withFile(name, e.line ?? d.line) : internal(e, name, d.line),
        opts.json,
      );
    }
  };

  let stream: AsyncIterable<Buffer>;
  try {
    stream = file === "-" ? process.stdin : createReadStream(file, { highWaterMark: 1 << 16 });
  } catch (e) {
    throw new InputError(`cannot read: ${(e as Error).message}`, { file: name });
  }
  let mode: "unknown" | "binary" | "json" | "log" = "unknown";
  const held: Buffer[] = [];
  let heldBytes = 0;
  const decoder = new StringDecoder("utf8");
  const queue: ParsedDump[] = [];
  const reader = new LogReader((d) => queue.push(d));
  // kvm_nested_vmenter_failed lines, read through the whole log as it streams (used when it has no dump)
  const tracepoints = new TracepointReader();
  let head = "";
  try {
    for await (const chunk of stream) {
      if (mode === "unknown") {
        held.push(chunk);
        heldBytes += chunk.length;
        if (heldBytes < 4096) continue;
        mode = classify(Buffer.concat(held));
        if (mode !== "log") continue;
        for (const b of held) feed(b);
        held.length = 0;
      } else if (mode === "log") feed(chunk);
      else {
        held.push(chunk);
        heldBytes += chunk.length;
        if (heldBytes > (mode === "json" ? JSON_CAP : BINARY_CAP))
          throw new InputError(
            mode === "json"
              ? `a JSON input over ${JSON_CAP >> 20} MiB: nvmx check streams entry documents`
              : "binary input too large for a KVM_GET_NESTED_STATE blob",
          );
      }
      while (queue.length) await report(queue.shift()!);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new InputError("no such file", { file: name });
    if (code === "EISDIR") throw new InputError("is a directory", { file: name });
    if (e instanceof InputError) throw e.withFile(name);
    throw e;
  }
  if (mode === "unknown") mode = classify(Buffer.concat(held));
  if (mode === "log") {
    for (const b of held) feed(b);
    held.length = 0;
    const rest = decoder.end();
    if (rest) reader.push(rest);
    reader.end();
    while (queue.length) await report(queue.shift()!);
    if (reader.count > 0) return;
    if (looksLikeVmxcap(head)) {
      const profile = parseVmxcap(head, name);
      if (opts.json) await out.line(JSON.stringify({ file: name, format: "vmxcap", profile }));
      else
        await out.line(
          `${name}: vmxcap output — CPU capabilities, not a VM entry; use it as --cpu ${name}\n${capsShow(decodeProfile(profile, name))}\n`,
        );
      return;
    }
    // KVM's kvm_nested_vmenter_failed lines (src/formats/kvm-tracepoint.ts), anywhere in the log
    const lines = tracepoints.end();
    if (lines.length) {
      // each line is a nested VM entry KVM refused
      judged.failed += lines.length;
      if (opts.json) await out.line(JSON.stringify({ file: name, format: "kvm-tracepoint", lines }));
      else
        await out.line(
          `${name}: KVM kvm_nested_vmenter_failed tracepoint (${lines.length} line${lines.length === 1 ? "" : "s"})\n${lines.flatMap((t) => describeTracepointLine(t).map((l) => `  ${l}`)).join("\n")}\n`,
        );
      return;
    }
    throw noDumpError(reader);
  }
  const bytes = Buffer.concat(held);
  if (mode === "binary") {
    if (!isNestedState(bytes))
      throw new InputError(
        "binary input that is not a KVM_GET_NESTED_STATE blob (expected a 128-byte kvm_nested_state header with format 0 and a plausible size)",
      );
    for (const d of parseNestedState(bytes)) await report(d);
    return;
  }
  // JSON: one document, a sequence of them, or NDJSON (as check reads them)
  for (const doc of documentsOf(bytes)) {
    try {
      if ("error" in doc) throw new InputError(doc.error);
      const entry = parseEntryText(doc.text, opts.cpu ? { cpu: opts.cpu } : {});
      const result = runEntry(entry);
      if (result.outcome.type !== "entered") judged.failed++;
      if (opts.json)
        await out.line(
          JSON.stringify({
            format: RESULT_FORMAT,
            nvmx: VERSION,
            ...result,
            file: name,
            ...(doc.line !== undefined ? { line: doc.line } : {}),
            logFormat: "nvmx-json",
            unknownFields: [],
            reported: null,
            agrees: null,
          }),
        );
      else await out.line(`${humanReport(name, entry, result, doc.line)}\n`);
    } catch (e) {
      judged.bad++;
      await out.error(
        e instanceof InputError ? e.withFile(name, doc.line) : internal(e, name, doc.line),
        opts.json,
      );
    }
  }

  function feed(b: Buffer): void {
    const s = decoder.write(b);
    if (head.length < HEAD) head += s.slice(0, HEAD - head.length);
    reader.push(s);
    tracepoints.push(s);
  }
}

function classify(b: Buffer): "binary" | "json" | "log" {
  if (looksBinary(b)) return "binary";
  const t = b.toString("utf8", 0, Math.min(b.length, 64)).trimStart();
  return t.startsWith("{") ? "json" : "log";
}

/** Returns how many inputs (and dumps) could not be explained, and how many entries fail. */
export async function explainFiles(files: string[], opts: ExplainOptions, out: Output): Promise<Judged> {
  const judged: Judged = { bad: 0, failed: 0 };
  for (const file of files) {
    const name = file === "-" ? "<stdin>" : file;
    try {
      await explainOne(file, name, opts, out, judged);
    } catch (e) {
      judged.bad++;
      await out.error(
        e instanceof InputError ? (e.file === "<input>" ? e.withFile(name) : e) : internal(e, name),
        opts.json,
      );
    }
  }
  return judged;
}

export function register(program: Command, cli: Cli): void {
  defineCommand(program, "explain", {
    summary: "explain real logs: KVM/Xen VMCS dumps, QEMU's dump, nested state, KVM's trace",
    description: `Read logs as people paste them — Linux KVM's dump_vmcs, Xen's VMCS dump, QEMU's "KVM: entry failed"
register dump, a KVM_GET_NESTED_STATE blob, KVM's kvm_nested_vmenter_failed trace (also prefixed,
quoted, wrapped, cut short) — and say for each dump what VM entry does with the state it shows, which
rules it breaks, and whether that agrees with what the log reports. A finding that rests on a field
the log lacks is only possible, with its condition. Entry documents are checked as by \`nvmx check\`;
vmxcap output is shown as \`nvmx caps show\` does.`,
    more: "How logs are read: docs/formats.md.",
    examples: ["nvmx explain test/corpus/kvm-dump/kvm-list-2021-dosemu2-ds-es-not-accessed.txt"],
  })
    .argument("<FILE...>", "logs (any mix of formats, several dumps per file), - for standard input")
    .addOption(
      jsonOption(
        "one JSON record per dump: the result (nvmx-result/1 keys) with what the log reported and the unknown fields",
      ),
    )
    .addOption(
      cpuOption(
        "the CPU the log comes from (default: a permissive CPU; stricter ones give possible findings)",
      ),
    )
    .addOption(
      exitCodeOption(
        "exit 1 when some dump's entry fails (nvmx's definite outcome is not \"entered\"), 0 when every one enters; 2 (bad input) wins",
      ),
    )
    .addOption(quietOption())
    .action(async (files: string[], o: { json?: true; cpu?: string; exitCode?: true }) => {
      const cpu = o.cpu !== undefined ? cpuValue("explain", "--cpu", o.cpu) : undefined;
      const judged = await explainFiles(files, { json: o.json ?? false, ...(cpu ? { cpu } : {}) }, cli.out);
      cli.status = exitStatus(judged, o.exitCode ?? false);
    });
}
