/**
 * The frame every command of the command line shares (docs/architecture.md §4): commander builds the command
 * tree; each command module (src/cli/<command>.ts) declares its options, help text and examples in a
 * `register` function, parses its own values and returns how its inputs went (`Judged`); this module turns
 * that into the exit status, and commander's and the commands' mistakes into one-line errors.
 */
import { type Command, type CommanderError, Option } from "commander";
import { InputError } from "../errors.js";
import { EXAMPLES } from "./examples.js";
import type { Output } from "./output.js";

/**
 * A mistake in the command line: one line naming the command and the flag, and where to read more. Its
 * `file` is "nvmx CMD", so it prints as `nvmx CMD: --flag ...; try \`nvmx CMD --help\``.
 */
export class UsageError extends InputError {
  constructor(
    readonly command: string,
    reason: string,
  ) {
    super(reason, { file: `nvmx ${command}` });
    this.name = "UsageError";
  }
}

/** A usage error of `nvmx CMD` (the command path, e.g. "caps show"). */
export const usage = (command: string, reason: string): UsageError => new UsageError(command, reason);

/** How a command's inputs went: what the exit status is made of. */
export interface Judged {
  /** inputs (documents, lines, files) that could not be read or are not valid */
  bad: number;
  /** judged entries whose outcome is not "entered" (counted only by commands that judge entries) */
  failed: number;
}

export const NOTHING_JUDGED: Judged = { bad: 0, failed: 0 };

/**
 * The exit status (docs/contract.md §5): 2 when some input was bad (it wins); with --exit-code, 1 when some
 * judged entry fails; 0 otherwise.
 */
export function exitStatus(j: Judged, exitCode: boolean): number {
  return j.bad > 0 ? 2 : exitCode && j.failed > 0 ? 1 : 0;
}

/** What every command's action gets: where to print, and how loud to be on stderr. */
export class Cli {
  /** The exit status the last action set. */
  status = 0;

  constructor(
    readonly out: Output,
    readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {}

  /** Whether progress may be drawn: stderr is a terminal and --quiet was not given. */
  progressWanted(quiet: boolean | undefined): boolean {
    return !quiet && this.stderr.isTTY === true;
  }

  /** A note on stderr (`nvmx CMD: note: ...`), unless --quiet. */
  note(command: string, text: string, quiet: boolean | undefined): void {
    if (!quiet) this.stderr.write(`nvmx ${command}: note: ${text}\n`);
  }

  /**
   * A line drawn over itself on stderr ("violation search 40/381"), only when progress is wanted; drawn at
   * most every 100 ms, and ended with a newline when done.
   */
  progress(label: string, quiet: boolean | undefined): ((done: number, total: number) => void) | undefined {
    if (!this.progressWanted(quiet)) return undefined;
    let last = 0;
    return (done, total) => {
      const now = Date.now();
      if (done < total && now - last < 100) return;
      last = now;
      this.stderr.write(`\r${label} ${done}/${total}${done >= total ? "\n" : ""}`);
    };
  }
}

// ---- the options several commands share

export const jsonOption = (what: string): Option => new Option("--json", what);

export const cpuOption = (what = "the CPU"): Option =>
  new Option(
    "--cpu <NAME|FILE>",
    `${what}: a built-in profile (nvmx caps list), a CPU profile JSON file, or vmxcap output`,
  );

export const quietOption = (): Option =>
  new Option("-q, --quiet", "no progress and no notes on stderr (errors are still printed)");

/** `--exit-code`: the status says how the judged entries went (docs/contract.md §5). */
export const exitCodeOption = (
  what = 'exit 1 when some entry fails (its definite outcome is not "entered"), 0 when every one enters; 2 (bad input) wins',
): Option => new Option("--exit-code", what);

/** The examples each command declares, by command path ("check", "caps show"), in declaration order. */
export const DECLARED_EXAMPLES = new Map<string, readonly string[]>();

/**
 * The help's closing section: the command's examples, each with the start of its real output (generated
 * into src/cli/examples.ts by scripts/gen-cli-docs.mjs), then where the full story is.
 */
function footer(path: string, more: string | undefined): string {
  const out: string[] = [];
  const declared = DECLARED_EXAMPLES.get(path) ?? [];
  if (declared.length) out.push("", "Examples:");
  for (const command of declared) {
    out.push(`  $ ${command}`);
    const shown = EXAMPLES[path]?.find((e) => e.command === command)?.shown ?? [];
    for (const l of shown) out.push(l ? `    ${l}` : "");
    out.push("");
  }
  if (more) out.push(...(declared.length ? [] : [""]), ...wrap(more, 80));
  return out.length ? `${out.join("\n")}\n` : "";
}

/** Text cut into lines of at most `width` characters, at spaces. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** How many lines of an example's output its help shows, and how many characters of each. */
export const SHOWN = { lines: 8, width: 76 } as const;

/**
 * The start of an example's real output, as its help shows it: the first lines of stdout (each cut to
 * SHOWN.width, "…" where cut; "…" for the lines left out), then stderr's lines marked "(stderr)", then
 * the exit status when it is not 0.
 */
export function shownOutput(stdout: string, stderr: string, status: number): string[] {
  const cut = (l: string) => (l.length > SHOWN.width ? `${l.slice(0, SHOWN.width - 1)}…` : l);
  const lines = (text: string): string[] => {
    const t = text.replace(/\n+$/, "");
    return t ? t.split("\n") : [];
  };
  const out = lines(stdout);
  const shown = out.slice(0, SHOWN.lines).map(cut);
  if (out.length > SHOWN.lines) shown.push(`… (${out.length - SHOWN.lines} more lines)`);
  for (const l of lines(stderr).slice(0, 3)) shown.push(cut(`(stderr) ${l}`));
  if (status !== 0) shown.push(`(exit status ${status})`);
  return shown;
}

/**
 * A command of the tree, set up the way every nvmx command is: `-h, --help`, its errors thrown (not printed)
 * so main can print them as one line, its examples in the help.
 */
export function defineCommand(
  parent: Command,
  name: string,
  opts: { summary: string; description?: string; more?: string; examples?: readonly string[] },
): Command {
  const path = parent.parent ? `${parent.name()} ${name}` : name;
  DECLARED_EXAMPLES.set(path, opts.examples ?? []);
  const cmd = parent.command(name);
  cmd
    .summary(opts.summary)
    .description(paragraphs(opts.description ?? opts.summary))
    .helpOption("-h, --help", "show this help")
    .exitOverride((e) => {
      throw new CommandLineError(path, e, ownWords(cmd, e));
    })
    // errors (and the help commander prints on its own when a subcommand is missing) become one line
    .configureOutput({ outputError: () => {}, writeErr: () => {} })
    .addHelpText("after", () => footer(path, opts.more));
  return cmd;
}

/** commander's refusals that nvmx words itself; undefined for the others. */
function ownWords(cmd: Command, e: CommanderError): string | undefined {
  if (e.code === "commander.excessArguments") return excess(cmd);
  // a command of subcommands (caps, probe) given none
  if (e.code === "commander.help" && e.exitCode !== 0)
    return `needs a subcommand: ${cmd.commands.map((c) => c.name()).join(", ")}`;
  return undefined;
}

/** What commander's "too many arguments" means, naming the arguments: `unexpected argument 'x' (gen takes none)`. */
function excess(cmd: Command): string {
  const extra = cmd.args.slice(cmd.registeredArguments.length);
  const quoted = extra.map((a) => `'${a}'`).join(" ");
  return `unexpected argument${extra.length === 1 ? "" : "s"} ${quoted}${cmd.registeredArguments.length ? "" : ` (${cmd.name()} takes none)`}`;
}

/** Text as paragraphs: single line breaks (source wrapping) become spaces; commander wraps to the terminal. */
function paragraphs(text: string): string {
  return text.replace(/([^\n])\n(?!\n)/g, "$1 ");
}

/** commander's refusal of a command line, with the command it was for. */
export class CommandLineError extends Error {
  constructor(
    readonly command: string,
    readonly refusal: CommanderError,
    /** the problem in nvmx's words, when commander's are not clear enough */
    readonly text?: string,
  ) {
    super(text ?? refusal.message);
  }

  /** 0 for --help and --version (they are not errors), 2 otherwise. */
  get status(): number {
    return this.refusal.exitCode === 0 ? 0 : 2;
  }

  /** One line: `nvmx check: unknown option '--jsn' (did you mean --json?); try \`nvmx check --help\``. */
  line(): string {
    const text = (this.text ?? this.refusal.message)
      .replace(/^error: /, "")
      .replace(/\s*\n\s*/g, " ")
      .replace(/\(Did you mean/, "(did you mean")
      .trim();
    return `nvmx${this.command ? ` ${this.command}` : ""}: ${text}; try \`nvmx${this.command ? ` ${this.command}` : ""} --help\``;
  }
}

// ---- values

/** A whole number in [min, max] given to `--name`. */
export function intValue(
  command: string,
  flag: string,
  s: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const n = Number(s);
  if (!/^\s*\d+\s*$/.test(s) || !Number.isSafeInteger(n) || n < min || n > max)
    throw usage(
      command,
      `${flag} must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `from ${min}` : `${min}..${max}`}, got ${JSON.stringify(s)}`,
    );
  return n;
}

/** One of a list of words given to `--name`. */
export function choiceValue<T extends string>(
  command: string,
  flag: string,
  s: string,
  choices: readonly T[],
): T {
  if (!(choices as readonly string[]).includes(s))
    throw usage(command, `${flag} must be one of ${choices.join(", ")}, got ${JSON.stringify(s)}`);
  return s as T;
}
