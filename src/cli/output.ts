/** Line output with backpressure (bounded memory on large NDJSON streams), and what a write error does. */
import type { InputError } from "../errors.js";

/**
 * How the program ends when its output cannot be written (issue 17): an 'error' event of stdout or stderr
 * would otherwise end it with a stack trace. When the reader has gone (EPIPE: `nvmx gen ... | head -1`),
 * the program stops at once, quietly, with status 0 — whoever read the output took what they wanted; any
 * other error (ENOSPC on `> /dev/full`, EIO...) stops it with one line on stderr and status 2.
 */
export function endOnWriteError(
  stdout: NodeJS.WritableStream = process.stdout,
  stderr: NodeJS.WritableStream = process.stderr,
  exit: (code: number) => void = process.exit,
): void {
  stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") return exit(0);
    try {
      stderr.write(`nvmx: cannot write output: ${e.message}\n`);
    } catch {}
    exit(2);
  });
  // Nothing can be said about stderr itself; it fails with stdout, mostly (`nvmx ... 2>&1 | head -1`).
  stderr.on("error", (e: NodeJS.ErrnoException) => exit(e.code === "EPIPE" ? 0 : 2));
}

/**
 * The `--json` error record of a bad input (docs/contract.md §4), without the newline: the file and line as
 * fields of their own, the message with the location inside the input (`vmcs.GUEST_CR0: malformed value`).
 */
export function errorRecord(e: InputError): string {
  return JSON.stringify({
    error: {
      file: e.file,
      ...(e.line !== undefined ? { line: e.line } : {}),
      message: e.located(),
    },
  });
}

export class Output {
  private buf = "";

  /** `buffered`: collect lines and write them in blocks of ~64 KiB (one write per line costs a third of a batch run). */
  constructor(
    private readonly stdout: NodeJS.WritableStream = process.stdout,
    private readonly stderr: NodeJS.WritableStream = process.stderr,
    private readonly buffered = false,
  ) {}

  private scheduled = false;
  private waiting: Promise<void> | undefined;

  line(s: string): Promise<void> | undefined {
    return this.text(`${s}\n`);
  }

  /** Text as is (whole lines, each with its newline). */
  text(s: string): Promise<void> | undefined {
    if (this.buffered) {
      this.buf += s;
      if (this.buf.length >= 65536 || this.waiting) return this.flush();
      // Flush when the event loop is next idle (e.g. waiting for more input), so a program that writes one
      // document and waits for its result is answered at once.
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          void this.flush();
        });
      }
      return undefined;
    }
    if (this.stdout.write(s)) return undefined;
    return new Promise((resolve) => this.stdout.once("drain", resolve));
  }

  /** Write what is buffered; the promise resolves when the stream can take more. */
  flush(): Promise<void> | undefined {
    if (!this.buf) return this.waiting;
    const b = this.buf;
    this.buf = "";
    if (this.stdout.write(b)) return this.waiting;
    this.waiting ??= new Promise((resolve) =>
      this.stdout.once("drain", () => {
        this.waiting = undefined;
        resolve();
      }),
    );
    return this.waiting;
  }

  /**
   * Whole lines as bytes (a producer that writes its documents as bytes: `gen`), after what is buffered. The
   * stream keeps `b` until it is written, then calls `written`: reuse `b` only after that.
   */
  bytes(b: Uint8Array, written?: () => void): Promise<void> | undefined {
    void this.flush();
    if (this.stdout.write(b, written)) return this.waiting;
    this.waiting ??= new Promise((resolve) =>
      this.stdout.once("drain", () => {
        this.waiting = undefined;
        resolve();
      }),
    );
    return this.waiting;
  }

  /** Text for stderr, after what stdout has buffered (so a terminal shows both in order). */
  async errorText(s: string): Promise<void> {
    await this.flush();
    this.stderr.write(s);
  }

  /** A bad input: with --json an error line in place on stdout (docs/contract.md §4), and always one line on stderr. */
  async error(e: InputError, json: boolean): Promise<void> {
    if (json) await this.line(errorRecord(e));
    else await this.errorText(`nvmx: ${e.describe()}\n`);
  }
}
