/**
 * Reading inputs for the CLI: a file or standard input holds one JSON document (pretty-printed, up to
 * MAX_DOCUMENT), a sequence of pretty-printed documents (as `jq` prints them), or NDJSON (one document per
 * line, lines up to MAX_LINE), streamed with bounded memory (docs/contract.md); no non-empty line is ever
 * lost (Classifier below).
 *
 * Input is read in large chunks and cut into lines on bytes: NDJSON reaches the checker as pieces of whole
 * lines (bytes plus the number of the first line), which it reads without a string per line, and which
 * `--jobs` ships to worker threads as they are. Lines end as node:readline ends them (the reader this
 * replaces, whose line numbers the error records keep): at "\n", "\r\n" or a lone "\r".
 */
import { closeSync, createReadStream, fstatSync, openSync, readSync } from "node:fs";
import type { Readable } from "node:stream";
import type { Caps } from "../cpu/profile.js";
import { type Entry, parseEntryText } from "../entry/document.js";
import { InputError } from "../errors.js";
import { JsonPrefix } from "./json-prefix.js";
import type { Output } from "./output.js";

const LF = 0x0a;
const CR = 0x0d;

/** What one input holds, in order. */
export type Piece =
  /** NDJSON: whole lines (ending with a line break, or at the end of input), numbered from firstLine. */
  | { kind: "lines"; bytes: Buffer; firstLine: number }
  /** One document: the whole input, or (`line` given) one of a sequence of JSON values beginning there. */
  | { kind: "doc"; text: string; line?: number }
  /** An error record: the input could not be read (from here on), or (`line` given) that line was skipped. */
  | { kind: "error"; message: string; line?: number };

/** Line boundaries in a buffer: line i is bytes [start[i], end[i]). */
export class Lines {
  start: Int32Array = new Int32Array(256);
  end: Int32Array = new Int32Array(256);
  count = 0;

  /** Split all of `b` into lines; a final line without a break counts too. Returns the count. */
  split(b: Buffer): number {
    this.count = 0;
    const n = b.length;
    let p = 0;
    let lf = b.indexOf(LF);
    let cr = b.indexOf(CR);
    if (lf < 0) lf = n;
    if (cr < 0) cr = n;
    while (p < n) {
      if (lf < p) lf = nextOr(b, LF, p, n);
      if (cr < p) cr = nextOr(b, CR, p, n);
      if (cr < lf) {
        this.push(p, cr);
        p = cr + 1 < n && b[cr + 1] === LF ? cr + 2 : cr + 1;
      } else {
        this.push(p, lf);
        p = lf + 1;
      }
    }
    return this.count;
  }

  private push(s: number, e: number): void {
    if (this.count === this.start.length) {
      this.start = grow(this.start);
      this.end = grow(this.end);
    }
    this.start[this.count] = s;
    this.end[this.count++] = e;
  }
}

function nextOr(b: Buffer, byte: number, from: number, n: number): number {
  const i = b.indexOf(byte, from);
  return i < 0 ? n : i;
}

function grow(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/** An over-long line the reader skipped: `tooLong` bytes (its line break not counted), over `limit`. */
export interface LongLine {
  tooLong: number;
  limit: number;
}

/**
 * The longest line the reader takes, in bytes (64 MiB). No entry document comes near it (a full VMCS with
 * its MSR areas is a few KiB); a longer line is not held in memory but skipped, byte by byte, and reported
 * as an error record of its own — the lines after it are read as usual.
 */
export const MAX_LINE = 64 << 20;

/**
 * Cuts a byte stream into runs of whole lines without copying the chunks: a line split across chunks is
 * joined into a piece of its own (its parts are collected and joined once, so a long line costs linear
 * time), and the bytes after the last line break are copied to wait for the next chunk. A chunk that ends
 * with "\r" ends a line at once (an interactive client gets its answer), and a "\n" that starts the next
 * chunk then belongs to that "\r". A line split across chunks that grows past `maxLine` bytes is skipped
 * up to its line break and reported as a LongLine; a line inside one chunk (a read is 1 MiB at most) is
 * never that long. (Exported for tests.)
 */
export class LineCutter {
  /** the start of the current line, copied from earlier chunks */
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** skipping an over-long line: the bytes skipped so far, or -1 */
  private skipped = -1;
  private skipLf = false;

  constructor(private readonly maxLine = MAX_LINE) {}

  /** The runs of whole lines now complete (none, one, or a joined or skipped line and one). */
  push(chunk: Buffer): (Buffer | LongLine)[] {
    if (this.skipLf && chunk.length > 0) {
      this.skipLf = false;
      if (chunk[0] === LF) chunk = chunk.subarray(1);
    }
    const runs: (Buffer | LongLine)[] = [];
    if (this.skipped >= 0 || this.partBytes > 0) {
      const cut = this.firstCut(chunk);
      const body = cut < 0 ? chunk.length : cut - this.breakBefore(chunk, cut);
      if (this.skipped < 0 && this.partBytes + body > this.maxLine) {
        this.skipped = this.partBytes;
        this.parts = [];
        this.partBytes = 0;
      }
      if (this.skipped >= 0) {
        this.skipped += body;
        if (cut < 0) return runs;
        runs.push({ tooLong: this.skipped, limit: this.maxLine });
        this.skipped = -1;
      } else if (cut < 0) {
        // A copy: the chunk's buffer is reused for the next read.
        this.parts.push(Buffer.from(chunk));
        this.partBytes += chunk.length;
        return runs;
      } else {
        this.parts.push(chunk.subarray(0, cut));
        runs.push(Buffer.concat(this.parts));
        this.parts = [];
        this.partBytes = 0;
      }
      chunk = chunk.subarray(cut);
    }
    const cut = this.lastCut(chunk);
    if (cut > 0) runs.push(chunk.subarray(0, cut));
    if (cut < chunk.length) {
      this.parts.push(Buffer.from(chunk.subarray(cut)));
      this.partBytes = chunk.length - cut;
    }
    return runs;
  }

  /** Position just after the first line break of `b`, or -1. */
  private firstCut(b: Buffer): number {
    const lf = b.indexOf(LF);
    const cr = b.subarray(0, lf < 0 ? b.length : lf).indexOf(CR);
    if (cr < 0) return lf < 0 ? -1 : lf + 1;
    return this.after(b, cr);
  }

  /** The length of the line break that ends just before `cut`. */
  private breakBefore(b: Buffer, cut: number): number {
    return b[cut - 1] === LF && b[cut - 2] === CR ? 2 : 1;
  }

  /** Position just after the last line break of `b`, or 0. */
  private lastCut(b: Buffer): number {
    const lf = b.lastIndexOf(LF);
    if (b.indexOf(CR, lf + 1) < 0) return lf + 1;
    return this.after(b, b.lastIndexOf(CR));
  }

  /** Just after the "\r" at i (with its "\n"); a "\r" that ends the chunk may have its "\n" in the next. */
  private after(b: Buffer, i: number): number {
    if (i + 1 === b.length) this.skipLf = true;
    return b[i + 1] === LF ? i + 2 : i + 1;
  }

  /** The last line, without a line break, if any. */
  end(): Buffer | LongLine | undefined {
    if (this.skipped >= 0) {
      const long = { tooLong: this.skipped, limit: this.maxLine };
      this.skipped = -1;
      return long;
    }
    if (this.partBytes === 0) return undefined;
    const last = Buffer.concat(this.parts);
    this.parts = [];
    this.partBytes = 0;
    return last;
  }
}

export interface ReadOptions {
  /**
   * Called before a read that may wait for input (from a pipe or a terminal): the caller writes out or sends
   * off what it holds, so a client that waits for each answer before writing more gets it.
   */
  beforeWait?: () => Promise<void> | undefined | void;
  /**
   * Read pipes and terminals by plain blocking reads, which cost less than a stream (~40 µs less per 64 KiB
   * chunk, a tenth of the time its documents take to check). Only for a caller with nothing else to do
   * meanwhile: the --jobs pool keeps its event loop free to take the workers' results, so it streams them.
   * Regular files are always read by large blocking reads.
   */
  blocking?: boolean;
}

/** Size of a read: large reads of regular files cost little per byte. */
const SLAB = 1 << 20;

/**
 * The raw chunks of an input. Throws (with the system's message) when it cannot be read. Blocking reads go
 * into one buffer, reused: a chunk is valid until the next is asked for.
 */
async function* chunks(file: string, opts: ReadOptions): AsyncGenerator<Buffer> {
  const fd = file === "-" ? 0 : openSync(file, "r");
  try {
    const regular = fstatSync(fd).isFile();
    if (regular || opts.blocking) {
      const slab = Buffer.allocUnsafeSlow(SLAB);
      for (;;) {
        if (!regular) await opts.beforeWait?.();
        let n: number;
        try {
          n = readSync(fd, slab, 0, SLAB, null);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "EAGAIN") break; // a non-blocking descriptor: stream it
          throw e;
        }
        if (n === 0) return;
        yield slab.subarray(0, n);
      }
    }
    const stream: Readable =
      file === "-" ? process.stdin : createReadStream("", { fd, autoClose: false, highWaterMark: SLAB });
    const it = (stream as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
    for (;;) {
      if (stream.readableLength === 0) await opts.beforeWait?.();
      const r = await it.next();
      if (r.done) return;
      yield typeof r.value === "string" ? Buffer.from(r.value) : r.value;
    }
  } finally {
    if (file !== "-") closeSync(fd);
  }
}

/**
 * The largest input read as one document (8 MiB): an input is one document only when the whole of it, up to
 * this size, is one JSON value. A pretty-printed entry document is a few KiB.
 */
export const MAX_DOCUMENT = 8 << 20;

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Decides what an input is, holding no more than it must, and losing no non-empty line:
 * - NDJSON when its first non-empty line is a JSON value on its own (or no JSON at all): every non-empty line
 *   is a document of its own, numbered, its error in place if it is not valid;
 * - otherwise (the first line opens an object or array it does not close) a sequence of JSON values, each
 *   beginning on a line of its own — one pretty-printed document, or several as `jq` prints them. Each value
 *   is a document numbered by its first line; an input that is exactly one value is one document without a
 *   line number. Values are held line by line only while they remain the beginning of one JSON value (an
 *   incremental syntax check, src/cli/json-prefix.ts) and within MAX_DOCUMENT: from the first value that
 *   cannot be completed (a malformed line, text after a value on its line, the size limit, the end of input)
 *   the input is NDJSON from that value's first line on, so its lines go out as they came.
 */
class Classifier {
  private mode: "blank" | "values" | "ndjson" = "blank";
  /** the number of the next line to come */
  private nextLine = 1;
  private readonly lines = new Lines();
  private syntax = new JsonPrefix();
  /** the lines of the value being read (copies, with their line breaks), from line heldFrom (0: none) */
  private held: Buffer[] = [];
  private heldBytes = 0;
  private heldFrom = 0;
  /** the first value, until a second one begins (then it is numbered) or the input ends (then it is whole) */
  private first: { text: string; line: number } | undefined;
  private values = 0;

  constructor(private readonly maxDocument: number) {}

  *feed(run: Buffer | LongLine): Generator<Piece> {
    if (!Buffer.isBuffer(run)) {
      yield* this.toNdjson();
      yield {
        kind: "error",
        line: this.nextLine++,
        message: `line too long: ${run.tooLong} bytes, over the limit of ${sizeText(run.limit)}; skipped`,
      };
      return;
    }
    if (this.mode === "ndjson") {
      yield { kind: "lines", bytes: run, firstLine: this.nextLine };
      this.nextLine += this.lines.split(run);
      return;
    }
    const n = this.lines.split(run);
    const { start, end } = this.lines;
    const first = this.nextLine;
    this.nextLine += n;
    for (let i = 0; i < n; i++) {
      const lineNo = first + i;
      const from = start[i]!;
      const to = i + 1 < n ? start[i + 1]! : run.length;
      let at = from;
      if (this.heldFrom === 0) {
        // Between values: a blank line, or the first line of the next value.
        at = firstNonSpace(run, from, end[i]!, lineNo);
        if (at < 0) continue;
        this.heldFrom = lineNo;
        this.syntax = new JsonPrefix();
      }
      const status = this.syntax.feed(run, at, to) ? this.syntax.end() : "bad";
      if (this.mode === "blank" && status !== "incomplete") {
        // A whole value (or no JSON) on the first line: NDJSON.
        this.mode = "ndjson";
        this.heldFrom = 0;
        yield { kind: "lines", bytes: run.subarray(from), firstLine: lineNo };
        return;
      }
      this.mode = "values";
      if (status === "bad" || this.heldBytes + to - from > this.maxDocument) {
        this.held.push(run.subarray(from));
        yield* this.toNdjson();
        return;
      }
      // A copy: the run's bytes are valid only until the next read.
      this.held.push(Buffer.from(run.subarray(from, to)));
      this.heldBytes += to - from;
      if (status === "complete") yield* this.valueDone();
    }
  }

  /** The value held is complete: the first is kept until it is known whether it is the whole input. */
  private *valueDone(): Generator<Piece> {
    const value = { text: Buffer.concat(this.held).toString("utf8").trim(), line: this.heldFrom };
    this.held = [];
    this.heldBytes = 0;
    this.heldFrom = 0;
    if (++this.values === 1) {
      this.first = value;
      return;
    }
    yield* this.releaseFirst();
    yield { kind: "doc", ...value };
  }

  private *releaseFirst(): Generator<Piece> {
    if (this.first) yield { kind: "doc", ...this.first };
    this.first = undefined;
  }

  /** From here on the input is NDJSON: the lines of the value being read go out as such. */
  private *toNdjson(): Generator<Piece> {
    if (this.mode === "values") {
      yield* this.releaseFirst();
      if (this.held.length)
        yield { kind: "lines", bytes: Buffer.concat(this.held), firstLine: this.heldFrom };
    }
    this.held = [];
    this.heldBytes = 0;
    this.heldFrom = 0;
    this.mode = "ndjson";
  }

  /** At the end of input: a whole-input document, or what was held. */
  *finish(): Generator<Piece> {
    if (this.mode === "values" && this.values === 1 && this.heldFrom === 0 && this.first) {
      yield { kind: "doc", text: this.first.text };
      this.first = undefined;
      return;
    }
    yield* this.toNdjson();
  }
}

function sizeText(bytes: number): string {
  return bytes % (1 << 20) === 0 ? `${bytes >> 20} MiB` : `${bytes} bytes`;
}

function isSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The position of the first byte in [s, e) that is not JSON whitespace (nor the input's BOM), or -1. */
function firstNonSpace(b: Buffer, s: number, e: number, line: number): number {
  if (line === 1 && b.subarray(s, s + 3).equals(BOM)) s += 3;
  while (s < e && isSpace(b[s])) s++;
  return s < e ? s : -1;
}

/** Options of readPieces; `maxDocument` and `maxLine` lower the limits for tests. */
export interface PieceOptions extends ReadOptions {
  maxDocument?: number;
  maxLine?: number;
  /** the input's name in the sentence for an input another command reads (otherwise "FILE") */
  name?: string;
}

/**
 * The pieces of one input (`-` = standard input), as they arrive. The bytes of a piece are valid until the
 * next piece is asked for (read buffers are reused): use or copy them before.
 */
export function readPieces(file: string, opts: PieceOptions = {}): AsyncGenerator<Piece> {
  return piecesOf(chunks(file, opts), { name: file, ...opts });
}

/**
 * When the first chunk of an input does not begin like JSON: the sentence naming the command that reads it
 * if it is a log, vmxcap output or a nested-state blob (src/formats/detect.ts, loaded only then).
 */
async function otherFormat(chunk: Buffer, name: string): Promise<string | undefined> {
  let i = chunk.subarray(0, 3).equals(BOM) ? 3 : 0;
  while (isSpace(chunk[i])) i++;
  if (i === chunk.length || chunk[i] === 0x7b || chunk[i] === 0x5b) return undefined;
  const { readElsewhere } = await import("../formats/detect.js");
  return readElsewhere(chunk, name);
}

/** The pieces of an input given as its chunks (exported for tests); an exception is a read error. */
export async function* piecesOf(
  source: AsyncIterable<Buffer> | Iterable<Buffer>,
  opts: PieceOptions = {},
): AsyncGenerator<Piece> {
  const cutter = new LineCutter(opts.maxLine);
  const classifier = new Classifier(opts.maxDocument ?? MAX_DOCUMENT);
  let first = true;
  try {
    for await (const chunk of source) {
      if (first && chunk.length > 0) {
        first = false;
        const other = await otherFormat(chunk, opts.name ?? "FILE");
        if (other !== undefined) {
          yield { kind: "error", message: other };
          return;
        }
      }
      for (const run of cutter.push(chunk)) yield* classifier.feed(run);
    }
  } catch (e) {
    yield* classifier.finish();
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : (e as Error).message;
    yield { kind: "error", message: `cannot read: ${why}` };
    return;
  }
  const last = cutter.end();
  if (last) yield* classifier.feed(last);
  yield* classifier.finish();
}

export type InputItem = { text: string; line?: number } | { error: string; line?: number };

/** The documents of one input, one by one (each NDJSON line trimmed; empty lines skipped). */
export async function* readDocuments(file: string, opts: PieceOptions = {}): AsyncGenerator<InputItem> {
  const lines = new Lines();
  for await (const piece of readPieces(file, opts)) yield* itemsOf(piece, lines);
}

/** The documents of an input already in memory, read as readDocuments reads a file. */
export function documentsOf(bytes: Buffer, maxDocument = MAX_DOCUMENT): InputItem[] {
  const classifier = new Classifier(maxDocument);
  const lines = new Lines();
  const out: InputItem[] = [];
  for (const piece of classifier.feed(bytes)) out.push(...itemsOf(piece, lines));
  for (const piece of classifier.finish()) out.push(...itemsOf(piece, lines));
  return out;
}

function* itemsOf(piece: Piece, lines: Lines): Generator<InputItem> {
  if (piece.kind === "error")
    yield piece.line !== undefined ? { error: piece.message, line: piece.line } : { error: piece.message };
  else if (piece.kind === "doc")
    yield piece.line !== undefined ? { text: piece.text, line: piece.line } : { text: piece.text };
  else {
    const n = lines.split(piece.bytes);
    for (let i = 0; i < n; i++) {
      const text = piece.bytes.toString("utf8", lines.start[i], lines.end[i]).trim();
      if (text) yield { text, line: piece.firstLine + i };
    }
  }
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
      if ("error" in item) {
        stats.bad++;
        const where = item.line !== undefined ? { file: name, line: item.line } : { file: name };
        await out.error(new InputError(item.error, where), opts.json);
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
