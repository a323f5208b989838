/**
 * Reading logs as people paste them: CRLF, no-break spaces, mail quote markers ("> ", ">>>>", "&gt; "),
 * dmesg timestamps, syslog/journal headers, `kvm_intel:` / `kernel:` tags, Xen's "(XEN)" / "(d1)" and
 * console timestamps, any bracketed prefix ("[…] "), docker compose's "name  | ", indentation. Lines arrive
 * in chunks (`LineSplitter`), so a log is read with bounded memory; an over-long line is cut at
 * `MAX_LINE` characters. Every helper here is linear in its input and uses no backtracking regular
 * expression on unbounded text.
 */

/** A dump line is short (KVM's longest is ~110 characters): longer lines are cut here, with a note. */
export const MAX_LINE = 4096;

export interface LogLine {
  /** Content after prefixes, whitespace runs collapsed to one space, trimmed. */
  text: string;
  /** 1-based line number in the input. */
  line: number;
  /**
   * The shape of the prefix that was stripped (`shapeOf`): digits and spaces generalised, so lines of one
   * log share it while an interleaved line from another source usually does not. "" when there was none.
   */
  prefix: string;
  /** The line's length when it was longer than MAX_LINE and cut. */
  cut?: number;
}

const QUOTE = /^[ \t]*(?:(?:>|&gt;)[ \t]?)+/;
/** Prefixes a log line may carry, tried repeatedly in this order. */
const PREFIXES: readonly RegExp[] = [
  /^\[\s*\d+\.\d+\]\s?/, // dmesg "[  123.456789]"
  /^\[\s*[TC]\d+\]\s?/, // printk caller id (CONFIG_PRINTK_CALLER) "[T78789]", "[C3]", as syzbot logs carry
  /^\[\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?\]\s?/, // Xen console "[2019-11-02 14:09:46]"
  /^<\d>\s?/, // printk level
  /^[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d \S+ [^\s:[]{1,64}(?:\[\d+\])?:\s?/, // syslog "Jun 24 17:25:51 host kernel:"
  /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)? \S+ [^\s:[]{1,64}(?:\[\d+\])?:\s?/, // RFC 3339 syslog
  /^\d{4}[-/]\d\d[-/]\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?\s/, // bare date-time
  /^\d\d:\d\d:\d\d(?:[.,]\d{1,9})?\s/, // bare time
  /^\((?:XEN|d\d+(?:v\d+)?)\)\s?/, // Xen "(XEN)", guest console "(d1)"
  /^(?:kvm_intel|kvm_amd|kvm|kernel|qemu-kvm|qemu-system-[\w-]{1,32}):\s/, // tags (not "KVM:", which QEMU's message starts with)
  /^\(qemu\)\s/, // QEMU monitor prompt
  /^[A-Za-z0-9][\w.-]{0,63} +\|\s?/, // docker compose "web_1  | "
  // ftrace / trace-cmd output of trace_printk ("CPU 0/KVM-251862 [019]  6384.132433: bprint:  dump_vmcs:"); a
  // tracepoint's event name ("kvm:kvm_entry:") stays, its reader needs it
  /^\S.{0,40}?[- ]\d{1,7} +\[\d{3}\] +(?:[.a-zA-Z0-9]{4,5} +)?\d+\.\d{3,9}: +(?:bprint|bputs|print): *(?:[A-Za-z_][\w.]{0,63}: ?)?/,
];
/** Any bracketed prefix ("[…] ", "[host]") when more text follows. */
const BRACKET = /^\[[^\]]{0,80}\]\s?(?=\S)/;
/** "host tag[pid]:" after a stripped timestamp (journalctl -o short-monotonic). */
const HOST_TAG = /^[\w.-]{1,64} [^\s:[]{1,64}(?:\[\d+\])?:\s/;

function specialSpaces(raw: string): string {
  // no-break spaces, tabs, CR, zero-width spaces
  return raw.replace(/[\u00a0\t\r\u200b\ufeff]/g, " ");
}

/**
 * Strip quote markers and log prefixes from one raw line. Returns the content (not yet collapsed) and the
 * prefix that was removed.
 */
export function stripPrefix(raw: string): { text: string; prefix: string } {
  let s = specialSpaces(raw);
  const q = QUOTE.exec(s);
  if (q) s = s.slice(q[0].length);
  let prefixLen = raw.length - s.length;
  let afterTimestamp = false;
  for (let guard = 0; guard < 8; guard++) {
    const t = s.replace(/^ +/, "");
    let cut = 0;
    let stamp = false;
    for (let i = 0; i < PREFIXES.length && cut === 0; i++) {
      const m = PREFIXES[i]!.exec(t);
      if (m && m[0].length > 0) {
        cut = m[0].length;
        stamp = i <= 2 || i === 6 || i === 7;
      }
    }
    if (cut === 0) {
      const m: RegExpExecArray | null = BRACKET.exec(t) ?? (afterTimestamp ? HOST_TAG.exec(t) : null);
      if (m) {
        cut = m[0].length;
        stamp = m[0].startsWith("[");
      }
    }
    if (cut === 0) break;
    prefixLen += s.length - t.length + cut;
    s = t.slice(cut);
    afterTimestamp = stamp;
  }
  return { text: s, prefix: specialSpaces(raw).slice(0, prefixLen) };
}

/** A prefixed line with no content of its own, or a word of it: the rest was wrapped onto the next line. */
export function isStub(l: LogLine): boolean {
  return l.prefix !== "" && (l.text === "" || (l.text.length <= 12 && !l.text.includes("=")));
}

/**
 * A stub line and the unprefixed line after it, as one line: a mail program or bug tracker wrapped a
 * prefixed record ("… bprint: dump_vmcs:" / "CR0: actual=…"). A trace_printk record whose function name
 * was wrapped too ("… bprint:" / "vmx_dump_dtsel: GDTR: …") loses that name. Undefined when `next` is not
 * such a continuation.
 */
export function joinStub(stub: LogLine, next: LogLine): LogLine | undefined {
  // the continuation has no prefix of its own, or only the part of the stub's that a log viewer added to
  // every line (a dmesg timestamp or a quote mark before the trace record)
  const outer =
    next.prefix === "" || (stub.prefix.length > next.prefix.length && stub.prefix.startsWith(next.prefix));
  if (!outer || next.text === "") return undefined;
  let rest = next.text;
  if (stub.text === "" && /(?:bprint|bputs|print):$/.test(stub.prefix))
    rest = rest.replace(/^[A-Za-z_][\w.]{0,63}: /, "");
  const l: LogLine = { text: collapse(`${stub.text} ${rest}`), line: stub.line, prefix: stub.prefix };
  if (next.cut !== undefined) l.cut = next.cut;
  return l;
}

/** Whitespace runs collapsed to one space, trimmed. */
export function collapse(s: string): string {
  return s.replace(/ {2,}/g, " ").trim();
}

/** Strip quote markers and log prefixes from one raw line; returns the normalised content. */
export function stripLine(raw: string): string {
  return collapse(stripPrefix(raw).text);
}

/**
 * The shape of a prefix: digit runs become "#", whitespace runs one space, other characters stay (at most
 * 80 characters). Timestamps that differ only in their digits have one shape.
 */
export function shapeOf(prefix: string): string {
  let out = "";
  let i = 0;
  while (i < prefix.length && out.length < 80) {
    const c = prefix.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      while (i < prefix.length && prefix.charCodeAt(i) >= 48 && prefix.charCodeAt(i) <= 57) i++;
      out += "#";
    } else if (c === 32) {
      while (i < prefix.length && prefix.charCodeAt(i) === 32) i++;
      out += " ";
    } else {
      out += prefix[i];
      i++;
    }
  }
  return out.trim();
}

/**
 * Length of the start of `s` that has the given shape (`shapeOf`), or -1. Greedy, without backtracking:
 * "#" takes a digit run, " " any run of spaces (also none), anything else must match exactly.
 */
export function matchShape(s: string, shape: string): number {
  let i = 0;
  for (let k = 0; k < shape.length; k++) {
    const c = shape[k];
    if (c === "#") {
      const from = i;
      while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
      if (i === from) return -1;
    } else if (c === " ") {
      while (i < s.length && s[i] === " ") i++;
    } else {
      if (s[i] !== c) return -1;
      i++;
    }
  }
  return i;
}

/** Make a LogLine from a raw line. */
export function makeLine(raw: string, line: number, cut?: number): LogLine {
  const p = stripPrefix(raw);
  const l: LogLine = { text: collapse(p.text), line, prefix: shapeOf(p.prefix) };
  if (cut !== undefined) l.cut = cut;
  return l;
}

/**
 * Cuts text that arrives in chunks into lines (at "\n", "\r\n" or a lone "\r", also across chunks). Memory
 * is bounded: a line longer than MAX_LINE keeps its first MAX_LINE characters and its length.
 */
export class LineSplitter {
  private part = "";
  private partLen = 0;
  private lineNo = 0;
  private lastCr = false;

  /** The lines the chunk completes. */
  push(chunk: string, out: LogLine[] = []): LogLine[] {
    let start = 0;
    const n = chunk.length;
    if (this.lastCr && n > 0) {
      this.lastCr = false;
      if (chunk.charCodeAt(0) === 10) start = 1;
    }
    for (let i = start; i < n; i++) {
      const c = chunk.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.take(chunk, start, i);
      out.push(this.emit());
      if (c === 13) {
        if (i + 1 < n) {
          if (chunk.charCodeAt(i + 1) === 10) i++;
        } else this.lastCr = true;
      }
      start = i + 1;
    }
    if (start < n) this.take(chunk, start, n);
    return out;
  }

  /** The last line (without a line break), if any. */
  end(out: LogLine[] = []): LogLine[] {
    if (this.partLen > 0) out.push(this.emit());
    return out;
  }

  /** Lines read so far. */
  get lines(): number {
    return this.lineNo;
  }

  private take(chunk: string, from: number, to: number): void {
    const room = MAX_LINE - this.part.length;
    if (room > 0) this.part += chunk.slice(from, Math.min(to, from + room));
    this.partLen += to - from;
  }

  private emit(): LogLine {
    const l = makeLine(this.part, ++this.lineNo, this.partLen > MAX_LINE ? this.partLen : undefined);
    this.part = "";
    this.partLen = 0;
    return l;
  }
}

/** Split text into normalised lines (CRLF, CR or LF). */
export function logLines(text: string): LogLine[] {
  const s = new LineSplitter();
  const out = s.push(text);
  return s.end(out);
}

/** A hex string (with or without 0x) as a bigint; undefined when it is not hex. */
export function hexValue(s: string): bigint | undefined {
  const t = s.startsWith("0x") || s.startsWith("0X") ? s.slice(2) : s;
  if (t.length === 0 || t.length > 16) return undefined;
  for (let i = 0; i < t.length; i++) if (!isHexDigit(t.charCodeAt(i))) return undefined;
  return BigInt(`0x${t}`);
}

export function isHexDigit(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

/** Does the text look like binary data rather than a log? */
export function looksBinary(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 4096);
  let ctl = 0;
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    if (b === 0) return true;
    if (b < 9 || (b > 13 && b < 32)) ctl++;
  }
  return n > 0 && ctl / n > 0.1;
}

/** A short excerpt of a line for notes: at most 60 characters. */
export function excerpt(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
