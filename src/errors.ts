/**
 * The one error type for bad input: names the file, the line, the location inside the input (a key path such
 * as `vmcs.GUEST_CR0`, an option such as `--kernel`) and the problem.
 *
 * `message` says all of it, as one line (`file:line: location: problem`; a part that is not known is left
 * out), so a program that only prints `e.message` tells its user where the problem is. `reason` is the
 * problem alone; `file`, `line` and `location` are the parts (the NDJSON error record of the command line
 * keeps `file` and `line` as fields of their own, docs/contract.md §4).
 */
export class InputError extends Error {
  /** The input's name, or `<input>` when none was given (a document passed to the library). */
  readonly file: string;
  /** Where inside the input: a key path (`vmcs.GUEST_CR0`, `cpu.msrs.IA32_VMX_BASIC`), an option, a byte offset. */
  readonly location: string | undefined;
  /** The 1-based line of an NDJSON input or a log. */
  readonly line: number | undefined;
  /** The problem alone, without where it is. */
  readonly reason: string;

  constructor(reason: string, opts: { file?: string; location?: string; line?: number } = {}) {
    super(where(opts.file, opts.line, opts.location) + reason);
    this.name = "InputError";
    this.file = opts.file ?? "<input>";
    this.location = opts.location;
    this.line = opts.line;
    this.reason = reason;
  }

  /** One line for people: `file:line: location: problem`, the file always named (`<input>` when unknown). */
  describe(): string {
    return `${this.file}${this.line !== undefined ? `:${this.line}` : ""}: ${this.located()}`;
  }

  /** The location and the problem, without the file and line: `vmcs.GUEST_CR0: malformed value "zz"`. */
  located(): string {
    return this.location ? `${this.location}: ${this.reason}` : this.reason;
  }

  /** The same error in another input (and line, when given; otherwise the line it had). */
  withFile(file: string, line?: number): InputError {
    return new InputError(this.reason, {
      file,
      ...(this.location !== undefined ? { location: this.location } : {}),
      ...(line !== undefined ? { line } : this.line !== undefined ? { line: this.line } : {}),
    });
  }
}

/** The "where" prefix of a message: the parts that are known, each followed by ": " (file and line joined). */
function where(file: string | undefined, line: number | undefined, location: string | undefined): string {
  let w = "";
  if (file !== undefined && file !== "<input>") w = line !== undefined ? `${file}:${line}: ` : `${file}: `;
  else if (line !== undefined) w = `line ${line}: `;
  return location ? `${w}${location}: ` : w;
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
