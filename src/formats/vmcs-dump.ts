/**
 * Reading VMCS dumps of the KVM/Xen family from a stream of lines (src/formats/text.ts), dump by dump, with
 * bounded memory. The grammars are data (dump-grammar.ts, kvm-dump-grammar.ts, xen-dump-grammar.ts); this
 * module decides which lines belong to a dump and which grammar reads it.
 *
 * Tolerant reading (docs/formats.md "Reading what people paste"):
 * - a dump starts at "VMCS …, last attempted VM-entry", a section header, Xen's failure line — or, without
 *   any of them, at two adjacent lines of the grammar (a fragment; one line is enough after a failure line);
 * - one order decides an odd line (one the grammar cannot read alone): it is joined with the previous line
 *   only if the joined text reads in the grammar; otherwise it is skipped, with a note naming it, if it is
 *   recognisably another log line (no `key=value` at all, another program's tag, another prefix); otherwise
 *   it is a damaged dump line: what can be read is read, and the note says what could not;
 * - a value with fewer digits than the format prints, or with a character that is not hex, is unknown (note);
 * - a dump ends at a footer, at the next dump, when another format's dump starts, at the end of the input, or
 *   after 12 lines that are not the dump's; a dump that stops before its Control State says so.
 * Every step looks at one line (at most MAX_LINE characters) a bounded number of times: linear in the input.
 */
import { fieldByName } from "../arch/fields.js";
import {
  CS_RIP,
  type DumpFacts,
  type DumpGrammar,
  type KeyDef,
  type LineParse,
  type Pair,
  SECTIONS,
  type Section,
  SVI_RVI,
  scanLine,
} from "./dump-grammar.js";
import { KVM_GRAMMAR, kvmLayoutIs4x, MSR_ENTRY, MSR_HEADER, VMCS_HEADER } from "./kvm-dump-grammar.js";
import { decodeHardwareError } from "./reported.js";
import { excerpt, hexValue, type LogLine, MAX_LINE, matchShape } from "./text.js";
import { type MsrEntry, newDump, type ParsedDump } from "./types.js";
import {
  XEN_AREA,
  XEN_FAILURE,
  XEN_GRAMMAR,
  XEN_MSR,
  XEN_QUALIFICATION,
  XEN_VMFAIL,
} from "./xen-dump-grammar.js";

export const GRAMMARS: readonly DumpGrammar[] = [KVM_GRAMMAR, XEN_GRAMMAR];

const SECTION_HEADER = /\*\*\* (Guest|Host|Control) State \*\*\*$/;
const FOOTER = /^\*{10,}$/;
const ELISION = /^(?:\.{3}[ .]*|\[\.\.\.\]|<snip(?:ped)?>|\[snip(?:ped)?\]|…)$/i;
/** QEMU's lines end a VMCS dump (the LogReader tells, see `line(…, other)`). */
const NOISE_LIMIT = 12;
/** A joined dump line is short; a longer one is no wrapped dump line. */
const JOIN_LIMIT = 1024;

type Kind = "pairs" | "positional" | "msr-header" | "msr-entry" | "odd";

interface Collected {
  text: string;
  line: number;
  /** undefined in a fragment (no section header): inferred when the dump is read */
  section: Section | undefined;
  kind: Kind;
  cut?: number;
}

interface PendingXen {
  /** the exit reason of a VM-entry failure, or the VM-instruction error of a VMfailValid ("VMLAUNCH error") */
  reason: number;
  vmfail?: boolean;
  line: number;
  text: string;
  qual?: number;
  msr?: { msr: number; value: bigint };
  age: number;
}

/** QEMU's "KVM: entry failed, hardware error N" line. */
export interface HostFailure {
  text: string;
  line: number;
  raw: number;
}

/** How far before a KVM dump QEMU's failure line may be to be taken as its outcome. */
const HOST_FAILURE_LINES = 20;

interface Open {
  start: number;
  /** "VMCS …, last attempted VM-entry on CPU n" (Linux 5.3+) */
  header: boolean;
  /** a section header was seen (otherwise a fragment) */
  sectioned: boolean;
  /** the sections begun, in order */
  sectionOrder: Section[];
  section: Section | undefined;
  lines: Collected[];
  /** the last line, waiting to see whether the next one continues it */
  pending?: {
    text: string;
    line: number;
    state: LineParse["state"];
    section: Section | undefined;
    cut?: number;
  };
  /** lines skipped since the last dump line: noted only if the dump goes on */
  skipped: LogLine[];
  prefixes: Map<string, number>;
  /** a prefix no rule of text.ts knows, learned from the line that started the dump */
  learned?: string;
  notes: string[];
  elided: boolean;
  xen?: PendingXen;
  /** QEMU's "KVM: entry failed, hardware error" line shortly before the dump (a KVM fragment's outcome) */
  hostFailure?: HostFailure;
  /** how the dump ended: cleanly (footer, next dump, end of input after its controls) or not */
  clean: boolean;
}

/**
 * Every key of every grammar and section: a line that is bad in this table is bad in each of them, so one
 * scan rules out most lines that are no dump lines.
 */
const UNION: Readonly<Record<string, KeyDef>> = Object.assign(
  {},
  ...GRAMMARS.flatMap((g) => SECTIONS.map((s) => g.keys[s])),
);

/** The best a line reads in any grammar and section (or in one section). */
function bestState(text: string, section: Section | undefined): LineParse["state"] {
  let best: LineParse["state"] = "bad";
  if (!text.includes("=")) {
    for (const g of GRAMMARS) {
      const pos = g.positional?.(text);
      if (pos) return pos.state;
    }
    return "bad";
  }
  if (scanLine(text, UNION).state === "bad") {
    for (const g of GRAMMARS) {
      const pos = g.positional?.(text);
      if (pos) return pos.state;
    }
    return "bad";
  }
  for (const g of GRAMMARS) {
    const pos = g.positional?.(text);
    if (pos) return pos.state;
    for (const s of section ? [section] : SECTIONS) {
      const st = scanLine(text, g.keys[s]).state;
      if (st === "complete") return st;
      if (st === "prefix") best = st;
    }
  }
  return best;
}

function isStructural(t: string): boolean {
  return MSR_HEADER.test(t) || MSR_ENTRY.test(t);
}

/** Streaming reader of KVM/Xen VMCS dumps: feed lines, get dumps. */
export class VmcsDumpReader {
  private open: Open | undefined;
  private xen: PendingXen | undefined;
  /** the last QEMU failure line no register dump followed (set by the LogReader) */
  hostFailure: HostFailure | undefined;
  /** a first fragment line, waiting for a second */
  private candidate: LogLine | undefined;
  private candidateDamaged = false;

  constructor(private readonly emit: (d: ParsedDump) => void) {}

  /** First line of the dump being read (for ordering output), if any. */
  openSince(): number | undefined {
    return this.open?.start ?? this.candidate?.line ?? this.xen?.line;
  }

  /**
   * One line. `other`: the line belongs to another format's dump (QEMU's register dump): it ends a dump
   * being read.
   */
  line(l: LogLine, other = false): void {
    let t = l.text;
    const o = this.open;
    if (o?.learned) {
      const n = matchShape(t, o.learned);
      if (n > 0) t = t.slice(n).trim();
    }
    if (this.xen && ++this.xen.age > 6) this.xen = undefined;

    const xf = XEN_FAILURE.exec(t);
    if (xf) {
      this.finish(true);
      this.candidate = undefined;
      this.xen = { reason: Number.parseInt(xf[1]!, 16) >>> 0, line: l.line, text: t, age: 0 };
      this.xenDetail(t);
      return;
    }
    const vf = XEN_VMFAIL.exec(t);
    if (vf) {
      this.finish(true);
      this.candidate = undefined;
      const n = vf[1]!.toLowerCase().startsWith("0x") ? Number.parseInt(vf[1]!, 16) : Number(vf[1]);
      this.xen = { reason: n >>> 0, vmfail: true, line: l.line, text: t, age: 0 };
      return;
    }
    if (this.xen && !o && (XEN_QUALIFICATION.test(t) || XEN_MSR.test(t))) {
      this.xenDetail(t);
      return;
    }
    const vh = VMCS_HEADER.exec(t);
    if (vh) {
      this.finish(true);
      this.start(l, true, "guest", t.slice(0, vh.index));
      this.open!.sectioned = true;
      return;
    }
    const sh = SECTION_HEADER.exec(t);
    if (sh) {
      const section = sh[1]!.toLowerCase() as Section;
      const cur = this.open;
      if (cur && section === "guest" && (cur.lines.length > 0 || cur.pending || cur.section !== "guest")) {
        this.finish(true);
      }
      if (!this.open) this.start(l, false, section, t.slice(0, sh.index));
      const o = this.open!;
      if (o.sectionOrder[o.sectionOrder.length - 1] !== section) o.sectionOrder.push(section);
      o.section = section;
      o.sectioned = true;
      this.commit();
      return;
    }
    if (XEN_AREA.test(t)) {
      this.finish(true);
      return;
    }
    if (other) {
      this.finish(false);
      this.candidate = undefined;
      return;
    }
    if (!this.open) {
      this.maybeFragment(l, t);
      return;
    }
    this.inDump(this.open, l, t);
  }

  /** End of input. */
  end(): void {
    this.finish(this.open !== undefined && this.open.section === "control");
  }

  private xenDetail(t: string): void {
    const x = this.xen!;
    const q = XEN_QUALIFICATION.exec(t);
    if (q?.[1] !== undefined) x.qual = Number(q[1]);
    // Xen prints the failing MSR-load entry 0-based (qualification - 1)
    if (q?.[2] !== undefined) x.qual = Number(q[2]) + 1;
    const m = XEN_MSR.exec(t);
    if (m) x.msr = { msr: Number.parseInt(m[1]!, 16), value: BigInt(`0x${m[2]}`) };
  }

  private start(l: LogLine, header: boolean, section: Section | undefined, before: string): void {
    const o: Open = {
      start: l.line,
      header,
      sectioned: false,
      sectionOrder: section ? [section] : [],
      section,
      lines: [],
      skipped: [],
      prefixes: new Map([[l.prefix, 1]]),
      notes: [],
      elided: false,
      clean: false,
    };
    const learned = before.trim();
    if (learned) o.learned = shapeOfText(learned);
    if (this.xen) {
      o.xen = this.xen;
      this.xen = undefined;
    }
    const hf = this.hostFailure;
    if (hf && hf.line < l.line && l.line - hf.line <= HOST_FAILURE_LINES) o.hostFailure = hf;
    this.candidate = undefined;
    this.open = o;
  }

  /** No dump open: two adjacent grammar lines (or one after a failure line) start a fragment. */
  private maybeFragment(l: LogLine, t: string): void {
    if (t === "") return;
    let text = t;
    let before = "";
    let state = bestState(text, undefined);
    if (state === "bad") {
      // an unknown prefix: the grammar may read the line from a later word on
      const at = laterStart(text);
      if (at > 0) {
        before = text.slice(0, at);
        text = text.slice(at);
        state = bestState(text, undefined);
      }
    }
    // a damaged line (a mistyped key beside known ones) may be part of a fragment, but never starts one alone
    const damaged = state === "bad" && text.includes("=") && hasGrammarToken(text, undefined);
    if (state === "bad" && !damaged && !isStructural(text)) {
      this.candidate = undefined;
      return;
    }
    const c = this.candidate;
    const shape = before ? shapeOfText(before) : "";
    const cut = c && shape ? matchShape(c.text, shape) : 0;
    const adjacent =
      c !== undefined && c.line >= l.line - 2 && c.prefix === l.prefix && (shape === "" || cut > 0);
    const firstGood = adjacent && !this.candidateDamaged;
    if ((!adjacent || (damaged && !firstGood)) && !(this.xen && !damaged)) {
      this.candidate = { ...l, text: t };
      this.candidateDamaged = damaged;
      return;
    }
    const first = adjacent ? c! : l;
    this.start(first, false, undefined, before);
    const o = this.open!;
    if (adjacent) {
      o.prefixes.set(l.prefix, (o.prefixes.get(l.prefix) ?? 0) + 1);
      this.inDump(o, c!, cut > 0 ? c!.text.slice(cut).trim() : c!.text);
    }
    this.inDump(o, l, text);
  }

  private inDump(o: Open, l: LogLine, t: string): void {
    if (t === "") {
      // no line is joined across a blank line (a mail program never wraps into one)
      this.commit();
      return;
    }
    if (l.cut !== undefined)
      o.notes.push(
        `line ${l.line} has ${l.cut} characters: only its first ${MAX_LINE} were read (a dump line is short; the rest is not part of the dump)`,
      );
    if (ELISION.test(t)) {
      this.commit();
      o.elided = true;
      return;
    }
    if (FOOTER.test(t)) {
      this.finish(true);
      return;
    }
    if (MSR_HEADER.test(t) || MSR_ENTRY.test(t)) {
      this.commit();
      this.keep(o, l, t, MSR_HEADER.test(t) ? "msr-header" : "msr-entry");
      return;
    }
    for (const g of GRAMMARS) {
      const pos = g.positional?.(t);
      if (pos) {
        this.commit();
        this.keep(o, l, t, "positional");
        return;
      }
    }
    const alone = bestState(t, o.section);
    const p = o.pending;
    if (p && o.skipped.length === 0 && (p.state === "prefix" || alone === "bad")) {
      const joined = `${p.text} ${t}`;
      const js = joined.length <= JOIN_LIMIT ? bestState(joined, p.section) : "bad";
      if (js !== "bad") {
        p.text = joined;
        p.state = js;
        return;
      }
    }
    if (alone !== "bad") {
      this.commit();
      this.flushSkipped(o);
      o.prefixes.set(l.prefix, (o.prefixes.get(l.prefix) ?? 0) + 1);
      o.pending = { text: t, line: l.line, state: alone, section: o.section };
      if (l.cut !== undefined) o.pending.cut = l.cut;
      return;
    }
    if (this.isOtherLogLine(o, l, t)) {
      o.skipped.push(l);
      if (o.skipped.length > NOISE_LIMIT) this.finish(o.section === "control" && o.lines.length > 0);
      return;
    }
    // a damaged dump line: read what can be read
    this.commit();
    this.flushSkipped(o);
    this.keep(o, l, t, "odd");
  }

  /**
   * Recognisably another log line: no `key=value` at all, no key or label of the grammar, another program's
   * tag, or another prefix. (A damaged dump line still has something of the grammar.)
   */
  private isOtherLogLine(o: Open, l: LogLine, t: string): boolean {
    if (!t.includes("=")) return true;
    let main = "";
    let most = 0;
    for (const [p, n] of o.prefixes)
      if (n > most) {
        most = n;
        main = p;
      }
    // a line under another prefix than the dump's (a quote of code after a dump, another program's log)
    if (l.prefix !== main && (main === "" || l.prefix !== "")) return true;
    if (hasGrammarToken(t, o.section)) return false;
    return true;
  }

  private keep(o: Open, l: LogLine, t: string, kind: Kind): void {
    const c: Collected = { text: t, line: l.line, section: o.section, kind };
    if (l.cut !== undefined) c.cut = l.cut;
    o.lines.push(c);
    o.prefixes.set(l.prefix, (o.prefixes.get(l.prefix) ?? 0) + 1);
  }

  private commit(): void {
    const o = this.open;
    const p = o?.pending;
    if (!o || !p) return;
    o.lines.push({ text: p.text, line: p.line, section: p.section, kind: "pairs" });
    o.pending = undefined;
  }

  private flushSkipped(o: Open): void {
    for (const s of o.skipped)
      o.notes.push(`line ${s.line} is not part of the dump and was skipped: "${excerpt(s.text)}"`);
    o.skipped = [];
  }

  private finish(clean: boolean): void {
    const o = this.open;
    if (!o) return;
    this.commit();
    o.clean = clean;
    this.open = undefined;
    const d = readDump(o);
    if (d) this.emit(d);
  }
}

/** The shape of a learned prefix (text.ts shapeOf, for a prefix that is already collapsed text). */
function shapeOfText(s: string): string {
  let out = "";
  for (let i = 0; i < s.length && out.length < 80; ) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
      out += "#";
    } else if (c === 32) {
      i++;
      out += " ";
    } else {
      out += s[i];
      i++;
    }
  }
  return out;
}

/** The line has a key or a label of some grammar (a damaged dump line rather than another program's). */
function hasGrammarToken(t: string, section: Section | undefined): boolean {
  const u = scanLine(t, UNION);
  if (u.label === undefined && !u.pairs.some((p) => p.def !== undefined)) return false;
  if (section === undefined) return true;
  for (const g of GRAMMARS) {
    const r = scanLine(t, g.keys[section]);
    if (r.label !== undefined || r.pairs.some((p) => p.def !== undefined)) return true;
  }
  return false;
}

/** First words of the grammar's lines, for finding a dump line behind an unknown prefix. */
const STARTS = (() => {
  const set = new Set<string>();
  for (const g of GRAMMARS)
    for (const s of SECTIONS)
      for (const key of Object.keys(g.keys[s])) {
        const dot = key.indexOf(".");
        set.add((dot >= 0 ? key.slice(0, dot) : key).split(" ")[0]!);
      }
  return set;
})();

/** Position of a later word at which the line reads in the grammar (within the first 100 characters), or 0. */
function laterStart(t: string): number {
  const limit = Math.min(t.length, 100);
  for (let i = 1; i < limit; i++) {
    if (t[i - 1] !== " ") continue;
    let j = i;
    while (j < t.length && j - i < 24 && /[A-Za-z0-9_|:-]/.test(t[j]!)) j++;
    const word = t.slice(i, j).toLowerCase().replace(/:$/, "");
    if (STARTS.has(word) && bestState(t.slice(i), undefined) !== "bad") return i;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------------------
// Reading a collected dump with its grammar

function describeBad(p: Pair, field: string, grammar: DumpGrammar): string {
  const digits = p.def?.digits;
  const raw = `${p.key}=${p.value}`;
  if (p.bad === "not-hex") return `"${raw}" is not a hex number: ${field} is unknown`;
  return `"${raw}" has fewer hex digits than ${grammar.format === "xen-dump" ? "Xen" : "KVM"} prints${digits ? ` (${digits})` : ""}: the value is cut off, so ${field} is unknown`;
}

/** Fragment lines without a section: the sections they read in, then their neighbours'. */
function inferSections(lines: Collected[], g: DumpGrammar): void {
  const fits = lines.map((c) => {
    if (c.section !== undefined || c.kind !== "pairs") return undefined;
    return SECTIONS.filter((s) => scanLine(c.text, g.keys[s]).state !== "bad");
  });
  let last: Section | undefined;
  for (let i = 0; i < lines.length; i++) {
    const f = fits[i];
    if (f?.length === 1) lines[i]!.section = f[0];
    if (lines[i]!.section) last = lines[i]!.section;
  }
  for (let i = 0; i < lines.length; i++) {
    const c = lines[i]!;
    if (c.section !== undefined) {
      last = c.section;
      continue;
    }
    const f = fits[i] ?? [];
    let next: Section | undefined;
    for (let j = i + 1; j < lines.length && next === undefined; j++) next = lines[j]!.section;
    const pick = [last, next].find((s) => s !== undefined && (f.length === 0 || f.includes(s)));
    c.section = pick ?? f[0] ?? "guest";
    last = c.section;
  }
}

function readDump(o: Open): ParsedDump | undefined {
  const facts: DumpFacts = {
    header: o.header,
    keys: new Set(),
    flags: new Set(),
    controls0x: false,
    pinFirst: false,
    eferWithPat: false,
    msrLists: false,
    positional: false,
  };
  // evidence for each grammar, from a first pass over the keys
  for (const c of o.lines) {
    if (c.kind === "msr-header") facts.msrLists = true;
    if (c.kind === "positional") facts.positional = true;
    if (c.kind !== "pairs" && c.kind !== "odd") continue;
    for (const s of c.section ? [c.section] : SECTIONS) {
      const p = scanLine(c.text, XEN_GRAMMAR.keys[s]);
      const q = scanLine(c.text, KVM_GRAMMAR.keys[s]);
      for (const r of [p, q]) {
        for (const f of r.flags) facts.flags.add(f);
        for (const pair of r.pairs)
          if (pair.def) facts.keys.add(r.label && pair.key !== r.label ? `${r.label}.${pair.key}` : pair.key);
      }
    }
  }
  const prefixes = new Set(o.prefixes.keys());
  let g: DumpGrammar = KVM_GRAMMAR;
  if (o.xen || XEN_GRAMMAR.evidence(facts, prefixes) > KVM_GRAMMAR.evidence(facts, prefixes)) g = XEN_GRAMMAR;
  inferSections(o.lines, g);

  const d = newDump(g.format, "", o.start);
  const notes: string[] = [];
  // a field set twice with different values (a lost section header, a duplicated dump) is unknown
  const setAt = new Map<string, number>();
  const conflicted = new Set<string>();
  const put = (name: string, v: bigint | undefined, line: number) => {
    const f = fieldByName(name);
    if (v === undefined || !f || conflicted.has(f.name)) return;
    const old = d.values.get(f.name);
    if (old !== undefined && old !== v) {
      conflicted.add(f.name);
      d.values.delete(f.name);
      notes.push(
        `line ${line} gives ${f.name} = 0x${v.toString(16)}, line ${setAt.get(f.name)} gave 0x${old.toString(16)}: conflicting values, so ${f.name} is unknown (is a section header missing?)`,
      );
      return;
    }
    d.values.set(f.name, v);
    setAt.set(f.name, line);
  };
  facts.keys.clear();
  let msrList: MsrEntry[] | undefined;
  let listComplete = true;
  /** MSR-list entries whose header was lost: the lists exist, their counts are unknown */
  let orphanEntries = false;
  let lastSection: Section | undefined;
  for (const c of o.lines) {
    lastSection = c.section ?? lastSection;
    if (c.kind === "positional") {
      const r = g.positional?.(c.text);
      if (!r) {
        notes.push(`line ${c.line} is a Xen segment-table line in a KVM dump: not read`);
        continue;
      }
      for (const [f, v] of r.values) put(f, v, c.line);
      const name = c.text.slice(0, c.text.indexOf(":")).toLowerCase();
      if (r.values.length)
        facts.keys.add(name === "gdtr" || name === "idtr" ? `${name}.limit` : `${name}.sel`);
      for (const n of r.notes) notes.push(`line ${c.line}: ${n}`);
      continue;
    }
    if (c.kind === "msr-header") {
      const mh = MSR_HEADER.exec(c.text)!;
      const who = (mh[1] ?? (mh[3]?.toLowerCase() === "vmentry" ? "guest" : "host")).toLowerCase();
      const what = (mh[2] ?? mh[4] ?? "").toLowerCase();
      msrList = [];
      listComplete = true;
      if (mh[3]?.toLowerCase() === "vmentry" || (who === "guest" && what.startsWith("autoload")))
        d.entryMsrLoad = { entries: msrList, complete: true };
      else if (who === "guest" || what.startsWith("store")) d.exitMsrStore = msrList;
      else d.exitMsrLoad = msrList;
      continue;
    }
    if (c.kind === "msr-entry") {
      const me = MSR_ENTRY.exec(c.text)!;
      if (!msrList) {
        notes.push(
          `line ${c.line} is an MSR-list entry without its list's header ("MSR guest autoload:", …): not read, and the MSR lists are unknown`,
        );
        orphanEntries = true;
        continue;
      }
      if (me[2]!.length < 8 || me[3]!.length < 16) {
        notes.push(
          `line ${c.line}: MSR entry ${me[1]} has fewer hex digits than KVM prints: the entry is unknown`,
        );
        listComplete = false;
        if (d.entryMsrLoad?.entries === msrList)
          d.entryMsrLoad.unread = [...(d.entryMsrLoad.unread ?? []), Number(me[1])];
      } else
        msrList.push({
          index: Number(me[1]),
          msr: Number.parseInt(me[2]!, 16),
          value: BigInt(`0x${me[3]}`),
        });
      if (!listComplete && d.entryMsrLoad && d.entryMsrLoad.entries === msrList)
        d.entryMsrLoad.complete = false;
      continue;
    }
    msrList = undefined;
    const section = c.section ?? "guest";
    const r = scanLine(c.text, g.keys[section]);
    for (const f of r.flags) facts.flags.add(f);
    const keys = r.pairs.map((p) => p.key);
    if (section === "guest" && keys.includes("efer") && keys.includes("pat")) facts.eferWithPat = true;
    if (keys[0] === "pinbased") facts.pinFirst = true;
    const unread: string[] = [];
    for (const p of r.pairs) {
      const def = p.def;
      if (!def) {
        unread.push(`${p.key}=${p.value}`);
        continue;
      }
      facts.keys.add(r.label ? `${r.label}.${p.key}` : p.key);
      if (def.field === "CPU_BASED_VM_EXEC_CONTROL" && p.value.startsWith("0x")) facts.controls0x = true;
      const field =
        def.field === CS_RIP
          ? section === "host"
            ? "HOST_IA32_SYSENTER_CS/EIP"
            : "GUEST_SYSENTER_CS/EIP"
          : def.field === SVI_RVI
            ? "GUEST_INTR_STATUS"
            : def.field;
      if (p.bad) {
        notes.push(`line ${c.line}: ${describeBad(p, field, g)}`);
        continue;
      }
      if (def.field === CS_RIP) {
        const [cs, rip] = p.value.split(":");
        const pre = section === "host" ? "HOST_IA32_SYSENTER" : "GUEST_SYSENTER";
        const csv = hexValue(cs!);
        const ripv = hexValue(rip!);
        if (csv !== undefined) put(`${pre}_CS`, csv, c.line);
        if (ripv !== undefined) put(`${pre}_EIP`, ripv, c.line);
        continue;
      }
      if (def.field === SVI_RVI) {
        const [svi, rvi] = p.value.split("|");
        const sv = hexValue(svi!);
        const rv = hexValue(rvi!);
        if (sv !== undefined && rv !== undefined) put("GUEST_INTR_STATUS", (sv << 8n) | rv, c.line);
        continue;
      }
      put(def.field, hexValue(p.value), c.line);
      if (def.field === "GUEST_IA32_EFER")
        for (const f of r.flags)
          if (f === "effective" || f === "autoload")
            d.notes.push(
              f === "effective"
                ? 'the guest EFER line is KVM\'s effective EFER (the VMCS field is not loaded: VM-entry control "load IA32_EFER" is 0)'
                : 'the guest EFER value comes from KVM\'s MSR autoload list ("load IA32_EFER" is 0)',
            );
    }
    if (r.missing.length && r.label) {
      notes.push(
        `line ${c.line} ("${excerpt(c.text)}") stops before ${r.missing.join(", ")}: ${r.missing.length === 1 ? "that field is" : "those fields are"} unknown`,
      );
    } else if (r.state === "prefix" && c.kind === "pairs") {
      notes.push(`line ${c.line} ("${excerpt(c.text)}") is cut off: what follows it on the line is unknown`);
    }
    if (unread.length || (c.kind === "odd" && r.pairs.length === 0))
      notes.push(
        `line ${c.line} could not be read${r.pairs.some((p) => p.def && !p.bad) ? " in full" : ""}: "${excerpt(c.text)}"${unread.length ? ` (not in the ${g.format === "xen-dump" ? "Xen" : "KVM"} dump format: ${unread.map(excerpt).join(", ")})` : ""}`,
      );
  }
  if (d.values.size === 0 && !d.entryMsrLoad && !facts.msrLists) return undefined;
  if (o.xen?.vmfail) {
    const x = o.xen;
    d.reported = decodeHardwareError(x.reason, x.text, x.line);
  } else if (o.xen) {
    const x = o.xen;
    d.reported = {
      type: "vmexit",
      raw: x.reason,
      reason: x.reason & 0xffff,
      entryFailure: (x.reason & 0x80000000) !== 0,
      ...(x.qual !== undefined ? { qualification: x.qual } : {}),
      source: x.text,
      line: x.line,
    };
    if (x.msr && x.qual !== undefined && x.qual >= 1)
      d.entryMsrLoad = {
        entries: [{ index: x.qual - 1, msr: x.msr.msr, value: x.msr.value }],
        complete: false,
      };
  }
  g.finish(d, facts);
  if (!o.sectioned) d.layout += ", fragment without section headers";
  const reachedControls = lastSection === "control";
  const complete = o.clean && reachedControls && !o.elided;
  // Xen and Linux 4.x print one "CR3 target" line per pair of targets in use, so no line means a count of 0;
  // Linux 5.3+ prints each MSR list exactly when its count is nonzero. Only a dump read to its end says so.
  if (complete && (g.format === "xen-dump" || kvmLayoutIs4x(d))) {
    let n = 0;
    for (let i = 0; i < 4; i++) if (d.values.has(`CR3_TARGET_VALUE${i}`)) n = i + 1;
    if (!d.values.has("CR3_TARGET_COUNT")) d.values.set("CR3_TARGET_COUNT", BigInt(n));
  }
  if (
    g.format === "kvm-dump" &&
    !kvmLayoutIs4x(d) &&
    (o.header || facts.msrLists || facts.controls0x) &&
    !o.elided &&
    !orphanEntries
  ) {
    const sections = new Set(o.lines.map((c) => c.section));
    if (sections.has("host") && !d.entryMsrLoad) d.values.set("VM_ENTRY_MSR_LOAD_COUNT", 0n);
    if (sections.has("host") && !d.exitMsrStore) d.values.set("VM_EXIT_MSR_STORE_COUNT", 0n);
    if (sections.has("control") && !d.exitMsrLoad) d.values.set("VM_EXIT_MSR_LOAD_COUNT", 0n);
  }
  // lines the format prints in every dump, missing from a section the dump went past
  const order = o.sectionOrder;
  for (let i = 0; i < order.length; i++) {
    const s = order[i]!;
    if (i === order.length - 1 && !o.clean) break;
    const missing = g.always[s].filter((key) => !facts.keys.has(key));
    if (missing.length && missing.length < g.always[s].length)
      notes.push(
        `the ${s} state lacks line${missing.length === 1 ? "" : "s"} ${g.format === "xen-dump" ? "Xen" : "KVM"} always prints (${missing.join(", ")}): ${missing.length === 1 ? "its fields are" : "their fields are"} unknown`,
      );
  }
  if (o.elided) d.warnings.push('the log elides lines ("..."): fields in them are unknown');
  if (!o.sectioned)
    d.notes.push("a fragment without section headers: every field it does not show is unknown");
  else if (!reachedControls && o.lines.length > 0)
    d.warnings.push(
      `the dump stops at line ${o.lines[o.lines.length - 1]!.line}, before its Control State: the fields after it are unknown`,
    );
  d.warnings.push(...o.notes, ...notes);
  const exitReason = d.values.get("VM_EXIT_REASON");
  if (!d.reported && exitReason !== undefined) {
    const r = Number(exitReason) >>> 0;
    const q = d.values.get("EXIT_QUALIFICATION");
    d.reported = {
      type: "vmexit",
      raw: r,
      reason: r & 0xffff,
      entryFailure: (r & 0x80000000) !== 0,
      ...(q !== undefined ? { qualification: Number(q) } : {}),
      source: `reason=${r.toString(16).padStart(8, "0")}`,
      line: d.line,
    };
  }
  // a KVM dump without its Control State: QEMU's failure line just before it says what the entry did
  if (!d.reported && g.format === "kvm-dump" && o.hostFailure) {
    const h = o.hostFailure;
    d.reported = decodeHardwareError(h.raw, h.text, h.line);
    d.notes.push(`QEMU's line ${h.line} ("${excerpt(h.text)}") just before the dump is taken as its outcome`);
  }
  // the reported failing MSR-load entry must be in the list the dump prints
  const rep = d.reported;
  const shown = d.entryMsrLoad;
  if (
    rep?.type === "vmexit" &&
    rep.entryFailure &&
    rep.reason === 34 &&
    rep.qualification &&
    shown?.complete
  ) {
    const max = Math.max(
      0,
      ...shown.entries.map((e) => e.index + 1),
      ...(shown.unread ?? []).map((i) => i + 1),
    );
    if (rep.qualification > max)
      d.warnings.push(
        `the dump reports a failure in VM-entry MSR-load entry ${rep.qualification}, but its list shows ${max} entr${max === 1 ? "y" : "ies"}: the list is incomplete`,
      );
  }
  return d;
}

/** Every KVM or Xen VMCS dump in the lines, in order. */
export function parseVmcsDumps(lines: readonly LogLine[]): ParsedDump[] {
  const out: ParsedDump[] = [];
  const r = new VmcsDumpReader((d) => out.push(d));
  for (const l of lines) r.line(l);
  r.end();
  return out;
}
