/**
 * Reading logs as people paste them: CRLF, no-break spaces, mail quote markers ("> ", ">>>>"), dmesg
 * timestamps, syslog/journal prefixes, `kvm_intel:` / `kernel:` tags, Xen's "(XEN)" / "(d1)" and console
 * timestamps. Every helper here is linear in the input.
 */

export interface LogLine {
  /** Content after prefixes, whitespace runs collapsed to one space, trimmed. */
  text: string;
  /** 1-based line number in the input. */
  line: number;
}

const QUOTE = /^[ \t]*(?:>[ \t]?)+/;
const PREFIXES: readonly RegExp[] = [
  /^\[\s*\d+\.\d+\]\s?/, // dmesg "[  123.456789]"
  /^\[\s*[TC]\d+\]\s?/, // printk caller id (CONFIG_PRINTK_CALLER) "[T78789]", "[C3]", as syzbot logs carry
  /^\[\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?\]\s?/, // Xen console "[2019-11-02 14:09:46]"
  /^<\d>\s?/, // printk level
  /^[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d \S+ [^\s:[]+(?:\[\d+\])?:\s?/, // syslog "Jun 24 17:25:51 host kernel:"
  /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)? \S+ [^\s:[]+(?:\[\d+\])?:\s?/, // RFC 3339 syslog
  /^\((?:XEN|d\d+(?:v\d+)?)\)\s?/, // Xen "(XEN)", guest console "(d1)"
  /^(?:kvm_intel|kvm_amd|kvm|kernel|qemu-kvm|qemu-system-[\w-]+):\s/, // tags (not "KVM:", which QEMU's message starts with)
  /^\(qemu\)\s/, // QEMU monitor prompt
];

/** Strip quote markers and log prefixes from one raw line; returns the normalised content. */
export function stripLine(raw: string): string {
  let s = raw.replace(/\u00a0|\t|\r|\u200b/g, " ");
  s = s.replace(QUOTE, "");
  for (let guard = 0; guard < 8; guard++) {
    const t = s.replace(/^ +/, "");
    let hit = false;
    for (const re of PREFIXES) {
      const m = re.exec(t);
      if (m && m[0].length > 0) {
        s = t.slice(m[0].length);
        hit = true;
        break;
      }
    }
    if (!hit) break;
  }
  return s.replace(/ {2,}/g, " ").trim();
}

/** Split text into normalised lines (CRLF, CR or LF). */
export function logLines(text: string): LogLine[] {
  const raw = text.split(/\r\n|\r|\n/);
  const out: LogLine[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = { text: stripLine(raw[i]!), line: i + 1 };
  return out;
}

/** A hex string (with or without 0x) as a bigint; undefined when it is not hex. */
export function hexValue(s: string): bigint | undefined {
  const t = s.startsWith("0x") || s.startsWith("0X") ? s.slice(2) : s;
  if (!/^[0-9a-fA-F]{1,16}$/.test(t)) return undefined;
  return BigInt(`0x${t}`);
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
