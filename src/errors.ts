/** The one error type for bad input: names the file, the location inside it and the problem. */
export class InputError extends Error {
  readonly file: string;
  readonly location: string | undefined;
  readonly line: number | undefined;

  constructor(message: string, opts: { file?: string; location?: string; line?: number } = {}) {
    super(message);
    this.name = "InputError";
    this.file = opts.file ?? "<input>";
    this.location = opts.location;
    this.line = opts.line;
  }

  /** One line for people: `file:line: location: message`. */
  describe(): string {
    const where = [this.file, this.line !== undefined ? String(this.line) : undefined]
      .filter(Boolean)
      .join(":");
    return `${where}: ${this.location ? `${this.location}: ` : ""}${this.message}`;
  }

  withFile(file: string, line?: number): InputError {
    return new InputError(this.message, {
      file,
      ...(this.location !== undefined ? { location: this.location } : {}),
      ...(line !== undefined ? { line } : this.line !== undefined ? { line: this.line } : {}),
    });
  }
}

/**
 * A value as an error message quotes it: short JSON for scalars (a long string or number cut, with its length),
 * "an array" / "an object" for containers — safe on any length or nesting depth.
 */
export function preview(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (v === null) return "null";
  if (typeof v === "object") return "an object";
  if (typeof v === "string")
    return v.length > 40 ? `${JSON.stringify(v.slice(0, 32))}… (${v.length} characters)` : JSON.stringify(v);
  if (typeof v === "bigint") return preview(`0x${v.toString(16)}`).replace(/^"|"(?=…|$)/g, "");
  return String(v);
}
