/**
 * The lines only Xen's `vmcs_dump_vcpu()` prints (xen/arch/x86/hvm/vmx/vmcs.c, Xen 4.x): the positional
 * segment table ("  CS: %04x %05x %08x %016lx" under "sel attr limit base", "GDTR: %08x %016lx"),
 * "PDPTEn", "EFER(VMCS|MSR LL) = … PAT = …", "PreemptionTimer = … SM Base = …", "SPEC_CTRL mask = … shadow =
 * …", "EPTP index", "VMfunc controls", and the failure line before the dump ("dNvM vmentry failure (reason
 * 0x…): Invalid guest state (Q)" or "MSR loading (entry N)" with "msr XXXXXXXX val … (mbz …)"). Everything
 * Xen shares with KVM is in dump-grammar.ts.
 */
import {
  COMMON_ALWAYS,
  COMMON_KEYS,
  type DumpFacts,
  type DumpGrammar,
  type KeyDef,
  mergeKeys,
  type PositionalRead,
} from "./dump-grammar.js";
import { hexValue } from "./text.js";
import type { ParsedDump } from "./types.js";

const k = (field: string, digits?: number): KeyDef => (digits === undefined ? { field } : { field, digits });

export const XEN_KEYS = mergeKeys(COMMON_KEYS, {
  guest: {
    pdpte0: k("GUEST_PDPTR0", 16),
    pdpte1: k("GUEST_PDPTR1", 16),
    pdpte2: k("GUEST_PDPTR2", 16),
    pdpte3: k("GUEST_PDPTR3", 16),
    preemptiontimer: k("VMX_PREEMPTION_TIMER_VALUE", 8),
    "sm base": k("GUEST_SMBASE", 8),
    "spec_ctrl mask": k("IA32_SPEC_CTRL_MASK"),
    shadow: k("IA32_SPEC_CTRL_SHADOW"),
  },
  control: {
    "eptp index": k("EPTP_INDEX", 4),
    "vmfunc controls": k("VM_FUNCTION_CONTROL", 16),
  },
});

/** "d2v0 vmentry failure (reason 0x80000021): Invalid guest state (0)" (anywhere in the line). */
export const XEN_FAILURE = /vmentry failure \(reason (0x[0-9a-f]{1,8})\)/i;
/** "d2v0 VMLAUNCH error: 0x7": VMLAUNCH/VMRESUME failed with VMfailValid and this VM-instruction error. */
export const XEN_VMFAIL = /\b(?:VMLAUNCH|VMRESUME) error: (0x[0-9a-f]{1,8}|\d{1,10})/i;
/** What the failure line (or the one after it) says about the qualification. */
export const XEN_QUALIFICATION = /Invalid guest state \((\d{1,10})\)|MSR loading \(entry (\d{1,10})\)/i;
export const XEN_MSR = /\bmsr ([0-9a-f]{1,8}) val ([0-9a-f]{1,16})(?: \(mbz (?:0x)?[0-9a-f]{1,16}\))?/i;
/** "*********** VMCS Areas **************" ('v' key) and "************* VMCS Area **************". */
export const XEN_AREA = /^\*{3,} VMCS Areas? \*{3,}$/;
const SEG_HEADER = /^sel attr limit base$/;

const POS_WIDTH = [4, 5, 8, 16];
const SEG_NAMES = new Set(["CS", "DS", "SS", "ES", "FS", "GS", "LDTR", "TR"]);

/**
 * The positional segment table: its values, or undefined when the line is no positional line. A line cut
 * off is "prefix": its missing columns are unknown, and so is a column with fewer digits than Xen prints.
 */
function positional(text: string): PositionalRead | undefined {
  if (SEG_HEADER.test(text)) return { state: "complete", values: [], notes: [] };
  const colon = text.indexOf(": ");
  if (colon < 2 || colon > 4) return undefined;
  const name = text.slice(0, colon).toUpperCase();
  const dtr = name === "GDTR" || name === "IDTR";
  if (!dtr && !SEG_NAMES.has(name)) return undefined;
  const cols = text.slice(colon + 2).split(" ");
  const want = dtr ? [8, 16] : POS_WIDTH;
  const names = dtr ? ["LIMIT", "BASE"] : ["SELECTOR", "AR_BYTES", "LIMIT", "BASE"];
  // a positional line has bare hex columns; "CS: sel=…" is KVM's labelled form
  if (cols.length > want.length || cols.some((c) => c.includes("="))) return undefined;
  if (!/^[0-9a-f]{1,16}$/i.test(cols[0] ?? "")) return undefined;
  const out: PositionalRead = { state: "complete", values: [], notes: [] };
  for (let i = 0; i < want.length; i++) {
    const field = `GUEST_${name}_${names[i]}`;
    const c = cols[i];
    if (c === undefined) continue;
    const v = hexValue(c);
    if (v === undefined) out.notes.push(`"${c}" is not a hex number: ${field} is unknown`);
    else if (c.length < want[i]!) {
      out.notes.push(
        `"${c}" has ${c.length} hex digit${c.length === 1 ? "" : "s"} where Xen prints ${want[i]}: the value is cut off, so ${field} is unknown`,
      );
      if (i === cols.length - 1) out.state = "prefix";
    } else out.values.push([field, v]);
  }
  if (cols.length < want.length) {
    out.state = "prefix";
    const missing = names.slice(cols.length).map((n) => `GUEST_${name}_${n}`);
    out.notes.push(`the line stops before ${missing.join(", ")}: unknown`);
  }
  return out;
}

export const XEN_GRAMMAR: DumpGrammar = {
  format: "xen-dump",
  keys: XEN_KEYS,
  always: COMMON_ALWAYS,
  positional,
  evidence(f: DumpFacts, prefixes: ReadonlySet<string>): number {
    let n = 0;
    for (const p of prefixes) if (p.includes("(XEN)")) n += 4;
    if (f.positional) n += 3;
    if (f.flags.has("vmcs") || f.flags.has("msr ll")) n += 2;
    for (const key of [
      "preemptiontimer",
      "sm base",
      "eptp index",
      "vmfunc controls",
      "pdpte0",
      "spec_ctrl mask",
    ])
      if (f.keys.has(key)) n++;
    return n;
  },
  finish(d: ParsedDump, f: DumpFacts): void {
    d.layout = f.keys.has("tertiaryexec")
      ? "Xen vmcs_dump_vcpu (4.17+, with TertiaryExec)"
      : f.eferWithPat
        ? "Xen vmcs_dump_vcpu"
        : "Xen vmcs_dump_vcpu (partial)";
  },
};
