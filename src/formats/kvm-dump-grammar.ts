/**
 * The lines only Linux KVM's `dump_vmcs()` prints (arch/x86/kvm/vmx/vmx.c, v4.x–v6.x; layouts in
 * docs/formats.md): labelled segment lines ("CS:   sel=0x%04x, attr=0x%05x, limit=0x%08x, base=0x%016lx"),
 * "PDPTRn", the MSR autoload/autostore lists, "SVI|RVI", the APIC addresses, PKRS, and the CET lines of the
 * posted CET series. Everything KVM shares with Xen is in dump-grammar.ts.
 */
import {
  COMMON_ALWAYS,
  COMMON_KEYS,
  type DumpFacts,
  type DumpGrammar,
  type KeyDef,
  mergeKeys,
  SVI_RVI,
} from "./dump-grammar.js";
import type { ParsedDump } from "./types.js";

const k = (field: string, digits?: number): KeyDef => (digits === undefined ? { field } : { field, digits });

const SEGS = ["cs", "ds", "ss", "es", "fs", "gs", "ldtr", "tr"] as const;

function segmentKeys(): Record<string, KeyDef> {
  const m: Record<string, KeyDef> = {};
  for (const s of SEGS) {
    const u = s.toUpperCase();
    m[`${s}.sel`] = k(`GUEST_${u}_SELECTOR`, 4);
    m[`${s}.attr`] = k(`GUEST_${u}_AR_BYTES`, 5);
    m[`${s}.limit`] = k(`GUEST_${u}_LIMIT`, 8);
    m[`${s}.base`] = k(`GUEST_${u}_BASE`, 16);
  }
  for (const d of ["gdtr", "idtr"]) {
    m[`${d}.limit`] = k(`GUEST_${d.toUpperCase()}_LIMIT`, 8);
    m[`${d}.base`] = k(`GUEST_${d.toUpperCase()}_BASE`, 16);
  }
  return m;
}

/** The out-of-tree CET series printed these in the guest section, the host section or after the controls. */
const cet = (who: "GUEST" | "HOST"): Record<string, KeyDef> => ({
  s_cet: k(`${who}_S_CET`),
  ssp: k(`${who}_SSP`),
  "ssp table": k(`${who}_INTR_SSP_TABLE`),
  "intr ssp table": k(`${who}_INTR_SSP_TABLE`),
});

export const KVM_KEYS = mergeKeys(COMMON_KEYS, {
  guest: {
    ...segmentKeys(),
    pdptr0: k("GUEST_PDPTR0", 16),
    pdptr1: k("GUEST_PDPTR1", 16),
    pdptr2: k("GUEST_PDPTR2", 16),
    pdptr3: k("GUEST_PDPTR3", 16),
    pkrs: k("GUEST_IA32_PKRS", 16),
    ...cet("GUEST"),
  },
  host: { pkrs: k("HOST_IA32_PKRS", 16), ...cet("HOST") },
  control: {
    "svi|rvi": k(SVI_RVI),
    "apic-access addr": k("APIC_ACCESS_ADDR", 16),
    "virt-apic addr": k("VIRTUAL_APIC_PAGE_ADDR", 16),
    ...cet("HOST"),
  },
});

/** "MSR guest autoload:" (5.3+) and the "VMEntry MSR loads:" form of a posted series. */
export const MSR_HEADER =
  /^(?:MSR (guest|host) (autoload|autostore)|(VMEntry|VMExit) MSR (loads?|stores?))\s?:?$/i;
export const MSR_ENTRY = /^(\d{1,4}): msr=(?:0x)?([0-9a-f]{1,8}) value=(?:0x)?([0-9a-f]{1,16})$/i;
export const VMCS_HEADER = /VMCS (?:0x)?[0-9a-f]{1,16}, last attempted VM-entry on CPU \d{1,5}$/i;

export const KVM_GRAMMAR: DumpGrammar = {
  format: "kvm-dump",
  keys: KVM_KEYS,
  always: COMMON_ALWAYS,
  evidence(f: DumpFacts): number {
    let n = 0;
    if (f.header) n += 4;
    if (f.msrLists) n += 2;
    if (f.flags.has("effective") || f.flags.has("autoload")) n += 2;
    for (const key of [
      "cs.sel",
      "ss.attr",
      "pdptr0",
      "svi|rvi",
      "apic-access addr",
      "virt-apic addr",
      "pkrs",
    ])
      if (f.keys.has(key)) n++;
    return n;
  },
  finish(d: ParsedDump, f: DumpFacts): void {
    const parts: string[] = [];
    if (f.eferWithPat && f.pinFirst && !f.header) parts.push("Linux 4.x–5.2 layout");
    else if (f.controls0x) parts.push("Linux 5.17+ layout");
    else if (f.header || f.msrLists) parts.push("Linux 5.3–5.16 layout");
    else parts.push(f.eferWithPat ? "Linux 4.x–5.2 layout" : "Linux layout");
    if (f.keys.has("tertiaryexec")) parts.push("TertiaryExec");
    if (f.msrLists) parts.push("MSR lists");
    if (f.keys.has("s_cet") || f.keys.has("ssp")) parts.push("CET");
    if (f.keys.has("pkrs")) parts.push("PKRS");
    d.layout = parts.length > 1 ? `${parts[0]} (${parts.slice(1).join(", ")})` : parts[0]!;
  },
};

/** Linux 4.x prints one "CR3 target" line per pair in use, and no MSR lists (the layout's implications). */
export function kvmLayoutIs4x(d: ParsedDump): boolean {
  return d.layout.startsWith("Linux 4.x");
}
