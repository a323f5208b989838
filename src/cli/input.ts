/**
 * Reading inputs for the CLI: a file or standard input holds one JSON document (pretty-printed or not) or
 * NDJSON (one document per line), streamed with bounded memory (interface.md §3).
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
import type { Output } from "./output.js";

const LF = 0x0a;
const CR = 0x0d;

/** What one input holds, in order. */
export type Piece =
  /** NDJSON: whole lines (ending with a line break, or at the end of input), numbered from firstLine. */
  | { kind: "lines"; bytes: Buffer; firstLine: number }
  /** One document: the whole input, or (`line` given) one line of an input that is not NDJSON from line 1. */
  | { kind: "doc"; text: string; line?: number }
  /** The input could not be read (from here on). */
  | { kind: "error"; message: string };

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

/**
 * Cuts a byte stream into runs of whole lines without copying the chunks: a line split across chunks is
 * joined into a small piece of its own, and the bytes after the last line break are copied to wait for the
 * next chunk. A chunk that ends with "\r" ends a line at once (an interactive client gets its answer), and a
 * "\n" that starts the next chunk then belongs to that "\r". (Exported for tests.)
 */
export class LineCutter {
  private carry: Buffer | undefined;
  private skipLf = false;

  /** The runs of whole lines now complete (none, one, or a joined line and one). */
  push(chunk: Buffer): Buffer[] {
    if (this.skipLf && chunk.length > 0) {
      this.skipLf = false;
      if (chunk[0] === LF) chunk = chunk.subarray(1);
    }
    const runs: Buffer[] = [];
    if (this.carry) {
      const cut = this.firstCut(chunk);
      if (cut < 0) {
        this.carry = Buffer.concat([this.carry, chunk]);
        return runs;
      }
      runs.push(Buffer.concat([this.carry, chunk.subarray(0, cut)]));
      this.carry = undefined;
      chunk = chunk.subarray(cut);
    }
    const cut = this.lastCut(chunk);
    if (cut > 0) runs.push(chunk.subarray(0, cut));
    // A copy: the chunk's buffer is reused for the next read.
    if (cut < chunk.length) this.carry = Buffer.from(chunk.subarray(cut));
    return runs;
  }

  /** Position just after the first line break of `b`, or -1. */
  private firstCut(b: Buffer): number {
    const lf = b.indexOf(LF);
    const cr = b.subarray(0, lf < 0 ? b.length : lf).indexOf(CR);
    if (cr < 0) return lf < 0 ? -1 : lf + 1;
    return this.after(b, cr);
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
  end(): Buffer | undefined {
    const c = this.carry;
    this.carry = undefined;
    return c;
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
 * Decides what an input is from its first non-empty line: NDJSON when that line is a document, or looks like
 * one that is malformed (a one-line object), so its error is reported in place and the stream goes on with
 * bounded memory. Only an input whose first line opens a multi-line document is read whole.
 */
class Classifier {
  private mode: "unknown" | "ndjson" | "single" = "unknown";
  private nextLine = 1;
  private readonly lines = new Lines();
  /** Lines before the first non-empty one, and all lines of a single-document input. */
  private buffered: string[] = [];

  *feed(bytes: Buffer): Generator<Piece> {
    if (this.mode === "ndjson") {
      yield { kind: "lines", bytes, firstLine: this.nextLine };
      this.nextLine += this.lines.split(bytes);
      return;
    }
    const n = this.lines.split(bytes);
    for (let i = 0; i < n; i++) {
      const raw = bytes.toString("utf8", this.lines.start[i], this.lines.end[i]);
      if (this.mode === "unknown") {
        const line = raw.trim();
        if (line && (isCompleteJson(line) || (line.startsWith("{") && line.endsWith("}")))) {
          this.mode = "ndjson";
          this.buffered = [];
          yield { kind: "lines", bytes: bytes.subarray(this.lines.start[i]), firstLine: this.nextLine + i };
          this.nextLine += n;
          return;
        }
        if (line) this.mode = "single";
      }
      this.buffered.push(raw);
    }
    this.nextLine += n;
  }

  /** At the end of input: a single-document input's document(s). */
  *finish(): Generator<Piece> {
    if (this.mode !== "single") return;
    const buffered = this.buffered;
    this.buffered = [];
    const whole = buffered.join("\n");
    if (isCompleteJson(whole)) {
      yield { kind: "doc", text: whole };
      return;
    }
    // Not one document: if several lines look like documents, treat as NDJSON with a malformed first line.
    const lines = buffered.map((l, i) => ({ l: l.trim(), i: i + 1 })).filter((x) => x.l);
    if (
      lines.length > 1 &&
      lines.filter((x) => x.l.startsWith("{") && x.l.endsWith("}")).length >= lines.length / 2
    ) {
      for (const x of lines) yield { kind: "doc", text: x.l, line: x.i };
      return;
    }
    yield { kind: "doc", text: whole };
  }
}

function isCompleteJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

/**
 * The pieces of one input (`-` = standard input), as they arrive. The bytes of a piece are valid until the
 * next piece is asked for (read buffers are reused): use or copy them before.
 */
export async function* readPieces(file: string, opts: ReadOptions = {}): AsyncGenerator<Piece> {
  const cutter = new LineCutter();
  const classifier = new Classifier();
  try {
    for await (const chunk of chunks(file, opts))
      for (const run of cutter.push(chunk)) yield* classifier.feed(run);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    yield { kind: "error", message: code === "ENOENT" ? "no such file" : (e as Error).message };
    return;
  }
  const last = cutter.end();
  if (last) yield* classifier.feed(last);
  yield* classifier.finish();
}

export type InputItem = { text: string; line?: number } | { readError: string };

/** The documents of one input, one by one (each NDJSON line trimmed; empty lines skipped). */
export async function* readDocuments(file: string): AsyncGenerator<InputItem> {
  const lines = new Lines();
  for await (const piece of readPieces(file)) {
    if (piece.kind === "error") yield { readError: piece.message };
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
