/**
 * The batch path of `nvmx check`: checks the pieces of an input (src/cli/input.ts) and returns the text to
 * print, in input order — one result per document, an error record in place of a bad one (docs/contract.md §4).
 * Used on the main thread, and by each worker of `--jobs N` (src/cli/pool.ts), so both print the same bytes.
 *
 * Per NDJSON line: the byte scanner (src/entry/scan.ts) reads the common well-formed document into a reused
 * VMCS store, a reused context runs the checks, and the result is serialized; any line the scanner leaves
 * alone goes through parseEntryText, which decides it exactly and names its problem.
 */

import type { Caps } from "../cpu/profile.js";
import { type Entry, parseEntryText } from "../entry/document.js";
import type { EntryResult } from "../entry/evaluate.js";
import { EntryRunner } from "../entry/run.js";
import { EntryScanner } from "../entry/scan.js";
import { InputError } from "../errors.js";
import { humanReport } from "../report.js";
import { RESULT_FORMAT, VERSION } from "../version.js";
import type { Judged } from "./command.js";
import { Lines, type Piece } from "./input.js";
import { errorRecord, type Output } from "./output.js";

/** What a piece prints: stdout and stderr text alternating, starting with stdout (stderr only without --json). */
export interface BatchText {
  parts: string[];
  /** documents that could not be checked (and inputs that could not be read) */
  bad: number;
  /** documents whose outcome is not "entered" (for --exit-code) */
  failed: number;
}

/** The head every JSON result starts with: the result format's id and the nvmx version (docs/contract.md §3). */
const RESULT_HEAD = `{"format":${JSON.stringify(RESULT_FORMAT)},"nvmx":${JSON.stringify(VERSION)},`;

/** One result as its `--json` line (without the newline). */
export function resultJson(r: EntryResult): string {
  return RESULT_HEAD + JSON.stringify(r).slice(1);
}

/** Result JSON: valid states share one frozen result (src/entry/evaluate.ts), so its text is made once. */
class ResultJson {
  private frozen: EntryResult | undefined;
  private frozenText = "";

  of(r: EntryResult): string {
    if (r === this.frozen) return this.frozenText;
    const text = resultJson(r);
    if (Object.isFrozen(r) && Object.isFrozen(r.outcome) && Object.isFrozen(r.violations)) {
      this.frozen = r;
      this.frozenText = text;
    }
    return text;
  }
}

export class BatchChecker {
  private readonly scanner: EntryScanner;
  private readonly runner = new EntryRunner();
  private readonly lines = new Lines();
  private readonly json = new ResultJson();
  private out = "";
  private parts: string[] = [];
  private bad = 0;
  private failed = 0;

  constructor(private readonly opts: { json: boolean; cpu?: Caps | undefined }) {
    this.scanner = new EntryScanner(opts.cpu ? { cpu: opts.cpu } : {});
  }

  /** Check one piece of the input `file` (the name as reported). */
  piece(file: string, p: Piece): BatchText {
    this.out = "";
    this.parts = [];
    this.bad = 0;
    this.failed = 0;
    if (p.kind === "lines") this.lineRun(file, p.bytes, p.firstLine);
    else if (p.kind === "doc") this.document(file, p.text, p.line);
    else this.fail(new InputError(p.message, p.line !== undefined ? { file, line: p.line } : { file }));
    return this.take();
  }

  private lineRun(file: string, bytes: Buffer, firstLine: number): void {
    const n = this.lines.split(bytes);
    const { start, end } = this.lines;
    for (let i = 0; i < n; i++) {
      const entry = this.scanner.scan(bytes, start[i]!, end[i]!);
      if (entry) {
        try {
          this.print(file, entry, firstLine + i);
        } catch (e) {
          this.failWith(e, file, firstLine + i);
        }
      } else {
        const text = bytes.toString("utf8", start[i], end[i]).trim();
        if (text) this.document(file, text, firstLine + i);
      }
    }
  }

  /** One document by the exact path: parse, check, print; or its error record. */
  private document(file: string, text: string, line: number | undefined): void {
    try {
      this.print(file, parseEntryText(text, this.opts.cpu ? { cpu: this.opts.cpu } : {}), line);
    } catch (e) {
      this.failWith(e, file, line);
    }
  }

  /** A document that failed: bad input, or (never expected) an internal error, reported in its place. */
  private failWith(e: unknown, file: string, line: number | undefined): void {
    if (e instanceof InputError) this.fail(e.withFile(file, line));
    else
      this.fail(
        new InputError(`internal error: ${e instanceof Error ? e.message : String(e)}`, {
          file,
          ...(line !== undefined ? { line } : {}),
        }),
      );
  }

  /** Check an entry and print its result (JSON line, or the report for people and a blank line). */
  private print(file: string, entry: Entry, line: number | undefined): void {
    const result = this.runner.run(entry);
    if (result.outcome.type !== "entered") this.failed++;
    if (this.opts.json) this.out += `${this.json.of(result)}\n`;
    else this.out += `${humanReport(file, entry, result, line)}\n\n`;
  }

  /** A bad input: with --json its error record in place, otherwise one line on stderr. */
  private fail(e: InputError): void {
    this.bad++;
    if (this.opts.json) this.out += `${errorRecord(e)}\n`;
    else {
      this.parts.push(this.out, `nvmx: ${e.describe()}\n`);
      this.out = "";
    }
  }

  private take(): BatchText {
    this.parts.push(this.out);
    return { parts: this.parts, bad: this.bad, failed: this.failed };
  }
}

/** Print what a piece gave (stdout and stderr parts in order); adds its counts to `judged`. */
export async function printBatch(t: BatchText, out: Output, judged: Judged): Promise<void> {
  for (let i = 0; i < t.parts.length; i++) {
    const s = t.parts[i]!;
    if (i % 2) await out.errorText(s);
    else if (s) await out.text(s);
  }
  judged.bad += t.bad;
  judged.failed += t.failed;
}
