/**
 * The line grammar of the VMCS dump family (Linux KVM's `dump_vmcs()` and Xen's `vmcs_dump_vcpu()`, which
 * Xen's was derived from): "*** Guest/Host/Control State ***" sections of `Key=value` / `Key = value` pairs,
 * some lines labelled ("CS:   sel=…, attr=…"). This module holds what the two print identically and the
 * scanner that reads one line against a grammar; each format's own lines are in kvm-dump-grammar.ts and
 * xen-dump-grammar.ts. The scanner is a hand-written single pass over the line (no regular expression over
 * unbounded text), so reading is linear in the input.
 */
import type { ParsedDump } from "./types.js";

export type Section = "guest" | "host" | "control";
export const SECTIONS: readonly Section[] = ["guest", "host", "control"];

/**
 * Where a key's value goes: a VMCS field (KVM name) or a compound value; `digits`: the least number of hex
 * digits the format prints (a shorter value was cut off, so it is unknown).
 */
export interface KeyDef {
  field: string;
  digits?: number;
}
/** `field` of the compound keys: "CS:RIP=cs:rip" (SYSENTER CS and EIP), "SVI|RVI = s|r" (GUEST_INTR_STATUS). */
export const CS_RIP = "cs:rip";
export const SVI_RVI = "svi|rvi";

export type KeyTable = Readonly<Record<Section, Readonly<Record<string, KeyDef>>>>;

/** Labelled lines and the keys each prints, in order (a line that stops before the last is cut off). */
export const LABEL_GROUPS: Readonly<Record<string, readonly string[]>> = {
  cs: ["sel", "attr", "limit", "base"],
  ds: ["sel", "attr", "limit", "base"],
  ss: ["sel", "attr", "limit", "base"],
  es: ["sel", "attr", "limit", "base"],
  fs: ["sel", "attr", "limit", "base"],
  gs: ["sel", "attr", "limit", "base"],
  ldtr: ["sel", "attr", "limit", "base"],
  tr: ["sel", "attr", "limit", "base"],
  gdtr: ["limit", "base"],
  idtr: ["limit", "base"],
  cr0: ["actual", "shadow", "gh_mask"],
  cr4: ["actual", "shadow", "gh_mask"],
  vmentry: ["intr_info", "errcode", "ilen"],
  vmexit: ["intr_info", "errcode", "ilen"],
  idtvectoring: ["info", "errcode"],
};

const k = (field: string, digits?: number): KeyDef => (digits === undefined ? { field } : { field, digits });

/** Lines KVM and Xen print alike (KVM v4.x–v6.x dump_vmcs, Xen 4.x vmcs_dump_vcpu). */
export const COMMON_KEYS: KeyTable = {
  guest: {
    "cr0.actual": k("GUEST_CR0", 16),
    "cr0.shadow": k("CR0_READ_SHADOW", 16),
    "cr0.gh_mask": k("CR0_GUEST_HOST_MASK", 16),
    "cr4.actual": k("GUEST_CR4", 16),
    "cr4.shadow": k("CR4_READ_SHADOW", 16),
    "cr4.gh_mask": k("CR4_GUEST_HOST_MASK", 16),
    cr3: k("GUEST_CR3", 16),
    rsp: k("GUEST_RSP", 16),
    rip: k("GUEST_RIP", 16),
    rflags: k("GUEST_RFLAGS", 8),
    dr7: k("GUEST_DR7", 16),
    "sysenter rsp": k("GUEST_SYSENTER_ESP", 16),
    "cs:rip": k(CS_RIP),
    efer: k("GUEST_IA32_EFER", 16),
    pat: k("GUEST_IA32_PAT", 16),
    debugctl: k("GUEST_IA32_DEBUGCTL", 16),
    debugexceptions: k("GUEST_PENDING_DBG_EXCEPTIONS", 16),
    perfglobctl: k("GUEST_IA32_PERF_GLOBAL_CTRL", 16),
    bndcfgs: k("GUEST_BNDCFGS", 16),
    interruptibility: k("GUEST_INTERRUPTIBILITY_INFO", 8),
    activitystate: k("GUEST_ACTIVITY_STATE", 8),
    interruptstatus: k("GUEST_INTR_STATUS", 4),
  },
  host: {
    rip: k("HOST_RIP", 16),
    rsp: k("HOST_RSP", 16),
    cs: k("HOST_CS_SELECTOR", 4),
    ss: k("HOST_SS_SELECTOR", 4),
    ds: k("HOST_DS_SELECTOR", 4),
    es: k("HOST_ES_SELECTOR", 4),
    fs: k("HOST_FS_SELECTOR", 4),
    gs: k("HOST_GS_SELECTOR", 4),
    tr: k("HOST_TR_SELECTOR", 4),
    fsbase: k("HOST_FS_BASE", 16),
    gsbase: k("HOST_GS_BASE", 16),
    trbase: k("HOST_TR_BASE", 16),
    gdtbase: k("HOST_GDTR_BASE", 16),
    idtbase: k("HOST_IDTR_BASE", 16),
    cr0: k("HOST_CR0", 16),
    cr3: k("HOST_CR3", 16),
    cr4: k("HOST_CR4", 16),
    "sysenter rsp": k("HOST_IA32_SYSENTER_ESP", 16),
    "cs:rip": k(CS_RIP),
    efer: k("HOST_IA32_EFER", 16),
    pat: k("HOST_IA32_PAT", 16),
    perfglobctl: k("HOST_IA32_PERF_GLOBAL_CTRL", 16),
  },
  control: {
    pinbased: k("PIN_BASED_VM_EXEC_CONTROL", 8),
    cpubased: k("CPU_BASED_VM_EXEC_CONTROL", 8),
    secondaryexec: k("SECONDARY_VM_EXEC_CONTROL", 8),
    tertiaryexec: k("TERTIARY_VM_EXEC_CONTROL"),
    entrycontrols: k("VM_ENTRY_CONTROLS", 8),
    exitcontrols: k("VM_EXIT_CONTROLS", 8),
    exceptionbitmap: k("EXCEPTION_BITMAP", 8),
    pfecmask: k("PAGE_FAULT_ERROR_CODE_MASK", 8),
    pfecmatch: k("PAGE_FAULT_ERROR_CODE_MATCH", 8),
    "vmentry.intr_info": k("VM_ENTRY_INTR_INFO_FIELD", 8),
    "vmentry.errcode": k("VM_ENTRY_EXCEPTION_ERROR_CODE", 8),
    "vmentry.ilen": k("VM_ENTRY_INSTRUCTION_LEN", 8),
    "vmexit.intr_info": k("VM_EXIT_INTR_INFO", 8),
    "vmexit.errcode": k("VM_EXIT_INTR_ERROR_CODE", 8),
    "vmexit.ilen": k("VM_EXIT_INSTRUCTION_LEN", 8),
    reason: k("VM_EXIT_REASON", 8),
    qualification: k("EXIT_QUALIFICATION", 16),
    "idtvectoring.info": k("IDT_VECTORING_INFO_FIELD", 8),
    "idtvectoring.errcode": k("IDT_VECTORING_ERROR_CODE", 8),
    "tsc offset": k("TSC_OFFSET", 16),
    "tsc multiplier": k("TSC_MULTIPLIER", 16),
    "tpr threshold": k("TPR_THRESHOLD", 2),
    postedintrvec: k("POSTED_INTR_NV", 2),
    "ept pointer": k("EPT_POINTER", 16),
    "ple gap": k("PLE_GAP", 8),
    window: k("PLE_WINDOW", 8),
    "virtual processor id": k("VIRTUAL_PROCESSOR_ID", 4),
    "cr3 target0": k("CR3_TARGET_VALUE0", 16),
    "cr3 target1": k("CR3_TARGET_VALUE1", 16),
    "cr3 target2": k("CR3_TARGET_VALUE2", 16),
    "cr3 target3": k("CR3_TARGET_VALUE3", 16),
    target1: k("CR3_TARGET_VALUE1", 16),
    target3: k("CR3_TARGET_VALUE3", 16),
  },
};

/** Lines both formats print in every dump (KVM v4.x–v6.x, Xen 4.x). */
export const COMMON_ALWAYS: Readonly<Record<Section, readonly string[]>> = {
  guest: [
    "cr0.actual",
    "cr0.shadow",
    "cr0.gh_mask",
    "cr4.actual",
    "cr4.shadow",
    "cr4.gh_mask",
    "cr3",
    "rsp",
    "rip",
    "rflags",
    "dr7",
    "sysenter rsp",
    "cs:rip",
    "cs.sel",
    "ds.sel",
    "ss.sel",
    "es.sel",
    "fs.sel",
    "gs.sel",
    "gdtr.limit",
    "ldtr.sel",
    "idtr.limit",
    "tr.sel",
    "debugctl",
    "debugexceptions",
    "interruptibility",
    "activitystate",
  ],
  host: [
    "rip",
    "rsp",
    "cs",
    "ss",
    "ds",
    "es",
    "fs",
    "gs",
    "tr",
    "fsbase",
    "gsbase",
    "trbase",
    "gdtbase",
    "idtbase",
    "cr0",
    "cr3",
    "cr4",
    "sysenter rsp",
    "cs:rip",
  ],
  control: [
    "pinbased",
    "cpubased",
    "secondaryexec",
    "entrycontrols",
    "exitcontrols",
    "exceptionbitmap",
    "pfecmask",
    "pfecmatch",
    "vmentry.intr_info",
    "vmentry.errcode",
    "vmentry.ilen",
    "vmexit.intr_info",
    "vmexit.errcode",
    "vmexit.ilen",
    "reason",
    "qualification",
    "idtvectoring.info",
    "idtvectoring.errcode",
    "tsc offset",
  ],
};

/** A grammar: the common table plus a format's own keys. */
export function mergeKeys(base: KeyTable, own: Partial<Record<Section, Record<string, KeyDef>>>): KeyTable {
  return {
    guest: { ...base.guest, ...own.guest },
    host: { ...base.host, ...own.host },
    control: { ...base.control, ...own.control },
  };
}

/** One `key=value` of a line. */
export interface Pair {
  key: string;
  value: string;
  def?: KeyDef;
  /** The value has fewer digits than the format prints, or a character that is not hex. */
  bad?: "short" | "not-hex";
}

/**
 * How a line reads in a grammar:
 * - complete: every token is in the grammar and nothing is missing;
 * - prefix: every token is in the grammar but the line stops early (a key without its value, a trailing
 *   comma, a labelled line without its last keys, a cut last value) — a wrapped or truncated line;
 * - bad: some token is not in the grammar.
 */
export interface LineParse {
  state: "complete" | "prefix" | "bad";
  label?: string;
  pairs: Pair[];
  /** Words in parentheses the grammar knows ("effective", "autoload", "VMCS", "MSR LL"). */
  flags: string[];
  /** Keys of the labelled line that are missing (a line cut off). */
  missing: string[];
}

const FLAG_WORDS = new Set(["effective", "autoload", "vmcs", "msr ll"]);

function isKeyChar(c: number): boolean {
  return (
    (c >= 48 && c <= 57) ||
    (c >= 65 && c <= 90) ||
    (c >= 97 && c <= 122) ||
    c === 95 || // _
    c === 124 || // |
    c === 58 || // :
    c === 45 || // -
    c === 46 // .
  );
}
function isValueChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 58 || c === 124;
}
function isSep(c: number): boolean {
  return c === 32 || c === 44 || c === 59; // space , ;
}

/** Digits of a value without its 0x, or undefined when it is not hex. */
function hexDigits(v: string): number | undefined {
  const t = v.startsWith("0x") || v.startsWith("0X") ? v.slice(2) : v;
  if (t.length === 0) return undefined;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))) return undefined;
  }
  return t.length;
}

/** Check a value against its key: hex, and at least as many digits as the format prints. */
function judge(p: Pair): void {
  const d = p.def;
  if (!d) return;
  if (d.field === CS_RIP || d.field === SVI_RVI) {
    const parts = p.value.split(d.field === CS_RIP ? ":" : "|");
    const want = d.field === CS_RIP ? [4, 16] : [2, 2];
    if (parts.length !== 2) {
      p.bad = parts.length < 2 ? "short" : "not-hex";
      return;
    }
    for (let i = 0; i < 2; i++) {
      const n = hexDigits(parts[i]!);
      // more digits than the part can hold (a 17-digit RIP where a line break was lost) is not a value
      if (n === undefined || n > want[i]!) p.bad = "not-hex";
      else if (n < want[i]! && p.bad === undefined) p.bad = "short";
    }
    return;
  }
  const n = hexDigits(p.value);
  if (n === undefined || n > 16) p.bad = "not-hex";
  else if (d.digits !== undefined && n < d.digits) p.bad = "short";
}

/**
 * Read one (collapsed) line of a dump section against a key table. Single pass; linear in the line.
 */
export function scanLine(t: string, keys: Readonly<Record<string, KeyDef>>): LineParse {
  const out: LineParse = { state: "complete", pairs: [], flags: [], missing: [] };
  let pos = 0;
  const n = t.length;
  // label: "CS:", "CR0:", "VMEntry:", also without its colon when a key of its group follows
  let w = 0;
  while (w < n && isKeyChar(t.charCodeAt(w)) && t[w] !== ":") w++;
  if (w > 0) {
    const word = t.slice(0, w).toLowerCase();
    const group = LABEL_GROUPS[word];
    if (group) {
      let q = w;
      let colon = false;
      if (t[q] === ":") {
        colon = true;
        q++;
      }
      if (t[q] === " ") {
        let r = q + 1;
        while (r < n && isKeyChar(t.charCodeAt(r))) r++;
        const next = t.slice(q + 1, r).toLowerCase();
        if (colon || group.includes(next)) {
          out.label = word;
          pos = q + 1;
        }
      }
    }
  }
  let bad = false;
  let open = false; // the line ends where more was expected
  while (pos < n) {
    while (pos < n && isSep(t.charCodeAt(pos))) pos++;
    if (pos >= n) break;
    open = false;
    if (t[pos] === "(") {
      const close = t.indexOf(")", pos);
      if (close < 0) {
        open = true;
        break;
      }
      const inner = t.slice(pos + 1, close).toLowerCase();
      if (FLAG_WORDS.has(inner)) out.flags.push(inner);
      pos = close + 1;
      continue;
    }
    // key: words (key characters, single spaces between) up to "=" or "("
    const kstart = pos;
    let kend = pos;
    let q = pos;
    while (q < n) {
      const c = t.charCodeAt(q);
      if (isKeyChar(c)) {
        q++;
        kend = q;
      } else if (c === 32 && q + 1 < n && isKeyChar(t.charCodeAt(q + 1))) q++;
      else break;
    }
    if (kend === kstart) {
      bad = true;
      pos++;
      continue;
    }
    const key = t.slice(kstart, kend).toLowerCase();
    pos = kend;
    while (pos < n && t[pos] === " ") pos++;
    if (t[pos] === "(") {
      // "EFER(VMCS) = …": a flag glued to its key
      const close = t.indexOf(")", pos);
      if (close < 0) {
        // cut inside a known key's flag, or prose with a parenthesis
        if ((out.label !== undefined ? keys[`${out.label}.${key}`] : undefined) ?? keys[key]) open = true;
        else bad = true;
        break;
      }
      const inner = t.slice(pos + 1, close).toLowerCase();
      if (FLAG_WORDS.has(inner)) out.flags.push(inner);
      pos = close + 1;
      while (pos < n && t[pos] === " ") pos++;
    }
    const def = (out.label !== undefined ? keys[`${out.label}.${key}`] : undefined) ?? keys[key];
    if (t[pos] !== "=") {
      // a key without a value: cut off at the end of the line, otherwise not this grammar
      if (pos >= n && (def !== undefined || lastWordIsKey(key, keys))) open = true;
      else bad = true;
      continue;
    }
    pos++;
    while (pos < n && t[pos] === " ") pos++;
    const vstart = pos;
    while (pos < n && isValueChar(t.charCodeAt(pos))) pos++;
    if (pos === vstart) {
      if (pos >= n) open = true;
      else bad = true;
      continue;
    }
    const p: Pair = { key, value: t.slice(vstart, pos) };
    if (def) {
      p.def = def;
      judge(p);
    } else bad = true;
    if (pos < n && !isSep(t.charCodeAt(pos)) && t[pos] !== "(") {
      // a value glued to something else ("0x12g4", "0x1-2")
      p.bad = "not-hex";
      while (pos < n && !isSep(t.charCodeAt(pos))) pos++;
    }
    out.pairs.push(p);
  }
  if (t.endsWith(",") || t.endsWith("=")) open = true;
  if (out.label) {
    const have = new Set(out.pairs.map((p) => p.key));
    for (const g of LABEL_GROUPS[out.label]!) if (!have.has(g)) out.missing.push(g);
    if (out.missing.length) open = true;
  }
  const last = out.pairs[out.pairs.length - 1];
  if (last?.bad === "short" && pos >= n) open = true;
  // a line without any `key=value` (prose, another program's message) is not a dump line, open or not
  if (out.pairs.length === 0 && out.label === undefined) bad = true;
  out.state = bad ? "bad" : open ? "prefix" : "complete";
  return out;
}

const prefixCache = new WeakMap<object, Set<string>>();

/** A key cut by a line wrap: the words are a known key or its first words ("TSC" of "TSC Multiplier"). */
function lastWordIsKey(key: string, keys: Readonly<Record<string, KeyDef>>): boolean {
  let set = prefixCache.get(keys);
  if (!set) {
    set = new Set();
    for (const full of Object.keys(keys)) {
      const bare = full.slice(full.indexOf(".") + 1);
      const words = bare.split(" ");
      for (let i = 1; i <= words.length; i++) set.add(words.slice(0, i).join(" "));
    }
    prefixCache.set(keys, set);
  }
  return set.has(key);
}

/** Facts about a finished dump that its grammar uses to name the layout. */
export interface DumpFacts {
  header: boolean;
  keys: Set<string>;
  flags: Set<string>;
  /** "CPUBased=0x…" (Linux 5.17+) */
  controls0x: boolean;
  /** "PinBased=" is the first key of its line (Linux 4.x, Xen) */
  pinFirst: boolean;
  /** "EFER … PAT" on one guest line */
  eferWithPat: boolean;
  msrLists: boolean;
  positional: boolean;
}

/** What a positional line (Xen's segment table) holds. */
export interface PositionalRead {
  state: "complete" | "prefix";
  values: [string, bigint][];
  /** What could not be read, for the dump's notes (the engine adds the line number). */
  notes: string[];
}

/** A format of the family: its keys, its own line shapes, how sure it is that a dump is its own. */
export interface DumpGrammar {
  format: "kvm-dump" | "xen-dump";
  keys: KeyTable;
  /**
   * Keys of the lines the format prints in every dump, per section (labelled keys as "cs.sel"): a dump read
   * past a section that lacks one has lost a line, and says so.
   */
  always: Readonly<Record<Section, readonly string[]>>;
  /** A line only this format prints that is not `key=value` (Xen's positional segment table). */
  positional?(text: string): PositionalRead | undefined;
  /** Evidence that lines are this format's (0 = none). */
  evidence(f: DumpFacts, prefixes: ReadonlySet<string>): number;
  /** The layout's name, and whatever the layout implies (e.g. fields it prints when nonzero). */
  finish(d: ParsedDump, f: DumpFacts): void;
}
