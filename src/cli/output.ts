/** Line output with backpressure (bounded memory on large NDJSON streams). */
import type { InputError } from "../errors.js";

export class Output {
  constructor(
    private readonly stdout: NodeJS.WritableStream = process.stdout,
    private readonly stderr: NodeJS.WritableStream = process.stderr,
  ) {}

  line(s: string): Promise<void> | undefined {
    if (this.stdout.write(`${s}\n`)) return undefined;
    return new Promise((resolve) => this.stdout.once("drain", resolve));
  }

  /** A bad input: with --json an error line in place on stdout (interface.md §3), and always one line on stderr. */
  async error(e: InputError, json: boolean): Promise<void> {
    if (json) {
      const err: { file: string; line?: number; message: string } = {
        file: e.file,
        message: e.location ? `${e.location}: ${e.message}` : e.message,
      };
      if (e.line !== undefined) err.line = e.line;
      await this.line(
        JSON.stringify({
          error: {
            file: err.file,
            ...(err.line !== undefined ? { line: err.line } : {}),
            message: err.message,
          },
        }),
      );
    } else {
      this.stderr.write(`nvmx: ${e.describe()}\n`);
    }
  }
}
