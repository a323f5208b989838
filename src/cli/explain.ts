/** `nvmx explain [--json] [--cpu NAME|FILE] FILE...`: read a real log, check it, say what it means. */
import { readFileSync } from "node:fs";
import { PERMISSIVE_PROFILE } from "../cpu/permissive.js";
import { type Caps, decodeProfile } from "../cpu/profile.js";
import { parseEntryText } from "../entry/document.js";
import { runEntry } from "../entry/run.js";
import { InputError } from "../errors.js";
import { parseInput } from "../formats/detect.js";
import { type Explanation, explainDump, explanationJson, FORMAT_NAMES } from "../formats/explain.js";
import { describeTracepointLine } from "../formats/kvm-tracepoint.js";
import { describeReported } from "../formats/reported.js";
import { describeField, describeOutcome, humanReport } from "../report.js";
import { capsShow } from "./caps.js";
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
  const report = humanReport(file, x.entry, x.result).split("\n");
  out.push(`  nvmx: ${describeOutcome(x.result.outcome)}`);
  out.push(...report.slice(1));
  for (const p of x.possible) {
    out.push(`  ${p.condition}, also:`);
    for (const v of p.violations) {
      out.push(`  - ${v.id} (SDM ${v.sdm}): ${v.message}`);
      for (const f of v.fields) out.push(`      ${describeField(x.entry, f)}`);
    }
  }
  if (x.unknownFields.length) {
    const shown = x.unknownFields.slice(0, MAX_LIST).join(", ");
    const more = x.unknownFields.length > MAX_LIST ? `, and ${x.unknownFields.length - MAX_LIST} more` : "";
    out.push(
      `  the log cannot tell ${x.unknownFields.length} field${x.unknownFields.length === 1 ? "" : "s"} VM entry reads (they took values that pass): ${shown}${more}`,
    );
  }
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

/** Returns the number of inputs that could not be explained. */
export async function explainFiles(files: string[], opts: ExplainOptions, out: Output): Promise<number> {
  let bad = 0;
  for (const file of files) {
    const name = file === "-" ? "<stdin>" : file;
    try {
      const parsed = parseInput(readInput(file), name);
      if (parsed.format === "vmxcap") {
        if (opts.json)
          await out.line(JSON.stringify({ file: name, format: "vmxcap", profile: parsed.profile }));
        else
          await out.line(
            `${name}: vmxcap output — CPU capabilities, not a VM entry; use it as --cpu ${name}\n${capsShow(decodeProfile(parsed.profile, name))}\n`,
          );
        continue;
      }
      if (parsed.format === "kvm-tracepoint") {
        if (opts.json)
          await out.line(JSON.stringify({ file: name, format: "kvm-tracepoint", lines: parsed.lines }));
        else
          await out.line(
            `${name}: KVM kvm_nested_vmenter_failed tracepoint (${parsed.lines.length} line${parsed.lines.length === 1 ? "" : "s"})\n${parsed.lines.flatMap((t) => describeTracepointLine(t).map((l) => `  ${l}`)).join("\n")}\n`,
          );
        continue;
      }
      if (parsed.format === "nvmx-json") {
        for (const doc of parsed.documents) {
          try {
            const entry = parseEntryText(doc.text, opts.cpu ? { cpu: opts.cpu } : {});
            const result = runEntry(entry);
            if (opts.json)
              await out.line(
                JSON.stringify({
                  ...result,
                  file: name,
                  format: "nvmx-json",
                  unknownFields: [],
                  reported: null,
                  agrees: null,
                }),
              );
            else await out.line(`${humanReport(name, entry, result, doc.line)}\n`);
          } catch (e) {
            if (!(e instanceof InputError)) throw e;
            bad++;
            await out.error(e.withFile(name, doc.line), opts.json);
          }
        }
        continue;
      }
      for (const d of parsed.dumps) {
        const x = explainDump(d, opts.cpu);
        if (opts.json) await out.line(JSON.stringify(explanationJson(name, x)));
        else await out.line(`${humanExplanation(name, x)}\n`);
      }
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      bad++;
      await out.error(e.file === "<input>" ? e.withFile(name) : e, opts.json);
    }
  }
  return bad;
}
