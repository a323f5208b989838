/**
 * Reading inputs for the CLI: a file or standard input holds one JSON document (pretty-printed or not) or
 * NDJSON (one document per line), streamed line by line with bounded memory.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import type { Caps } from "../cpu/profile.js";
import { type Entry, parseEntryText } from "../entry/document.js";
import { InputError } from "../errors.js";
import type { Output } from "./output.js";

export type InputItem = { text: string; line?: number } | { readError: string };

function isCompleteJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

/**
 * Yields the documents of one input. NDJSON when the first non-empty line is a complete JSON value;
 * otherwise the whole input is one document (and, if that does not parse but has several lines that
 * look like documents, NDJSON with per-line errors).
 */
export async function* readDocuments(file: string): AsyncGenerator<InputItem> {
  let stream: Readable;
  try {
    stream = file === "-" ? process.stdin : createReadStream(file);
    if (file !== "-")
      await new Promise<void>((resolve, reject) => {
        stream.once("open", () => resolve());
        stream.once("error", reject);
      });
  } catch (e) {
    yield {
      readError: (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message,
    };
    return;
  }
  const rl = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let mode: "unknown" | "ndjson" | "single" = "unknown";
  const buffered: string[] = [];
  let n = 0;
  try {
    for await (const raw of rl) {
      n++;
      const line = raw.trim();
      if (mode === "ndjson") {
        if (line) yield { text: line, line: n };
        continue;
      }
      if (mode === "unknown") {
        if (!line) {
          buffered.push(raw);
          continue;
        }
        // NDJSON when the first line is a document, or looks like one that is malformed (a one-line object):
        // its error is reported in place and the stream goes on with bounded memory. Only an input whose first
        // line opens a multi-line document is read whole.
        if (isCompleteJson(line) || (line.startsWith("{") && line.endsWith("}"))) {
          mode = "ndjson";
          yield { text: line, line: n };
          continue;
        }
        mode = "single";
      }
      buffered.push(raw);
    }
  } catch (e) {
    yield { readError: (e as Error).message };
    return;
  }
  if (mode !== "single") return;
  const whole = buffered.join("\n");
  if (isCompleteJson(whole)) {
    yield { text: whole };
    return;
  }
  // Not one document: if several lines look like documents, treat as NDJSON with a malformed first line.
  const lines = buffered.map((l, i) => ({ l: l.trim(), i: i + 1 })).filter((x) => x.l);
  if (
    lines.length > 1 &&
    lines.filter((x) => x.l.startsWith("{") && x.l.endsWith("}")).length >= lines.length / 2
  ) {
    for (const x of lines) yield { text: x.l, line: x.i };
    return;
  }
  yield { text: whole };
}

export interface ReadEntry {
  /** the file name as reported (`<stdin>` for -) */
  name: string;
  /** NDJSON line number */
  line?: number;
  entry: Entry;
}

/**
 * The entry documents of the files, in order. A file that cannot be read or a document that is not a valid
 * entry document is reported through `out` (with --json an error line in its place) and counted in
 * `stats.bad`; the others go on.
 */
export async function* readEntries(
  files: readonly string[],
  opts: { cpu?: Caps | undefined; json: boolean },
  out: Output,
  stats: { bad: number },
): AsyncGenerator<ReadEntry> {
  for (const file of files) {
    const name = file === "-" ? "<stdin>" : file;
    for await (const item of readDocuments(file)) {
      if ("readError" in item) {
        stats.bad++;
        await out.error(new InputError(`cannot read: ${item.readError}`, { file: name }), opts.json);
        continue;
      }
      let entry: Entry;
      try {
        entry = parseEntryText(item.text, opts.cpu ? { cpu: opts.cpu } : {});
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        stats.bad++;
        await out.error(e.withFile(name, item.line), opts.json);
        continue;
      }
      yield item.line !== undefined ? { name, line: item.line, entry } : { name, entry };
    }
  }
}
