/**
 * SDM 29.4 "Loading MSRs": after the guest state is checked and loaded, VM entry processes the VM-entry MSR-load
 * area in order — VM_ENTRY_MSR_LOAD_COUNT entries of 16 bytes at VM_ENTRY_MSR_LOAD_ADDR: bits 31:0 the MSR index,
 * bits 63:32 reserved, bits 127:64 the value, written as WRMSR would. The first entry that fails ends VM entry
 * with exit reason 34 and the entry's 1-based index as exit qualification. Each check below finds the first
 * entry that breaks its rule; the evaluator takes the smallest index over all failing checks.
 *
 * Decisions:
 * - Entries are read from `memory` (unwritten memory reads 0: index 0 with value 0, which no rule here rejects).
 * - At most 512·(IA32_VMX_MISC[27:25] + 1) entries are examined: the SDM (25.8.2, A.6) only recommends that
 *   maximum and calls longer lists undefined behaviour (possibly a machine check), not a VM-entry failure, and
 *   the count is a 32-bit field that can name 4·10^9 entries. KVM instead fails the entry after the maximum.
 * - Which MSRs exist is profile data (src/cpu/facts.ts): an MSR the CPU lacks or that is read-only fails
 *   (M6, WRMSR #GP); one the profile cannot place (model-specific, not in its sources) and the two the SDM lets
 *   a processor refuse on VM entry (IA32_BIOS_UPDT_TRIG 79H, IA32_BIOS_SIGN_ID 8BH: M4) fail only in the
 *   profile's strict reading, so they are possible findings (src/entry/cpu-facts.ts).
 * - WRMSR #GP (M6) is modelled for the MSRs whose valid values nvmx knows: reserved bits (EFER, DEBUGCTL,
 *   PERF_GLOBAL_CTRL, RTIT_CTL, LBR_CTL, SPEC_CTRL from the profile's decoded masks), PAT memory types,
 *   canonical addresses, the read-only IA32_SMBASE, and changing EFER.LME while the guest has paging enabled.
 * - The VM-exit MSR-load list is not processed at VM entry: `exitMsrLoadWarnings` applies the same rules to
 *   it and reports a failing entry as a warning (a VMX abort at the next VM exit, SDM 28.6, 28.7).
 */
import * as archControls from "../arch/controls.js";
import * as archFields from "../arch/fields.js";
import * as archRegisters from "../arch/registers.js";
import type { Warning } from "../entry/evaluate.js";
import * as u64 from "../util/u64.js";
import * as memoryModule from "../vmcs/memory.js";
import * as groups from "./groups.js";
import { pred } from "./pred.js";
import type { Check, Ctx } from "./types.js";
import * as util from "./util.js";

// Short local names for the imported tables and helpers.
const { ENTRY } = archControls;
const { F } = archFields;
const { CR0, EFER, MSR } = archRegisters;
const { hex: h, hex64, isCanonical } = u64;
const { Memory } = memoryModule;
const { G } = groups;
const { valPlus } = util;

const ADDR = F.VM_ENTRY_MSR_LOAD_ADDR!;
const COUNT = F.VM_ENTRY_MSR_LOAD_COUNT!;
const FIELDS = ["VM_ENTRY_MSR_LOAD_ADDR", "VM_ENTRY_MSR_LOAD_COUNT"];
/** The VM-entry MSR-load list is not empty (the group's gate, as predicate source). */
const HAS_ENTRIES = pred`${G.entryMsrLoad}`;

const IA32_SPEC_CTRL = 0x48;
const IA32_SYSENTER_ESP = 0x175;
const IA32_SYSENTER_EIP = 0x176;
const IA32_PERF_GLOBAL_CTRL = 0x38f;
const IA32_RTIT_CTL = 0x570;
const IA32_DS_AREA = 0x600;
const IA32_LBR_CTL = 0x14ce;
const IA32_LSTAR = 0xc0000082;
const IA32_CSTAR = 0xc0000083;
const IA32_KERNEL_GS_BASE = 0xc0000102;

/** One MSR-load entry as 32-bit words: index, reserved (bits 63:32), value low, value high. */
type EntryRule = (c: Ctx, index: number, reserved: number, lo: number, hi: number) => boolean;

const areaBase = (c: Ctx): number => Memory.addr(c.lo(ADDR), c.hi(ADDR));

/** Entries examined: the count, capped at the recommended maximum (see the header). */
function examined(c: Ctx): number {
  const n = c.lo(COUNT);
  return Math.min(n, c.caps.maxMsrList);
}

/** 1-based index of the first entry that breaks `rule`, or 0. Allocation-free. */
function firstFailing(c: Ctx, rule: EntryRule): number {
  const n = examined(c);
  let a = areaBase(c);
  for (let i = 1; i <= n; i++, a += 16) {
    if (rule(c, c.mem.read32(a), c.mem.read32(a + 4), c.mem.read32(a + 8), c.mem.read32(a + 12))) return i;
  }
  return 0;
}

/** "entry 3 at 0x20020 (MSR 0xc0000100, value 0x...)" for the first entry breaking `rule`. */
function describeFirst(c: Ctx, rule: EntryRule): string {
  const i = firstFailing(c, rule);
  const a = areaBase(c) + (i - 1) * 16;
  const rsvd = c.mem.read32(a + 4);
  return `entry ${i} of ${c.lo(COUNT)} at ${valPlus(c, ADDR, (i - 1) * 16)} (MSR index ${h(c.mem.read32(a))}${rsvd ? `, bits 63:32 ${h(rsvd)}` : ""}, value ${hex64(c.mem.read32(a + 8), c.mem.read32(a + 12))})`;
}

function msrCheck(
  id: string,
  checklist: string | readonly string[],
  rule: string,
  entry: EntryRule,
  why: (c: Ctx) => string,
  fields: readonly string[] = FIELDS,
): Check {
  return {
    id: `msr-load.${id}`,
    sdm: "29.4",
    cls: "msr-load",
    fields,
    rule,
    checklist: typeof checklist === "string" ? [checklist] : checklist,
    group: "entryMsrLoad",
    when: HAS_ENTRIES,
    // A closure: the entries are read from memory (c.mem) in a loop, which predicate source cannot do.
    fail: (c) => firstFailing(c, entry) !== 0,
    entryIndex: (c) => firstFailing(c, entry),
    message: (c) =>
      `VM-entry MSR-load ${describeFirst(c, entry)}: ${why(c)}; VM entry fails with exit reason 34, qualification ${firstFailing(c, entry)} (unless an earlier entry fails first)`,
  };
}

const isFsGsBase: EntryRule = (_c, i) => i === MSR.IA32_FS_BASE || i === MSR.IA32_GS_BASE;
const isX2apic: EntryRule = (_c, i) => i >>> 8 === 0x8;
const smmOnly: EntryRule = (c, i) => i === MSR.IA32_SMM_MONITOR_CTL && !c.proc_.inSmm;
const reservedSet: EntryRule = (_c, _i, r) => r !== 0;
const isSmbase: EntryRule = (_c, i) => i === MSR.IA32_SMBASE;
/** WRMSR to the MSR fails on this reading of the profile: absent, read-only, or (strict reading) refused. */
const unavailable: EntryRule = (c, i) => c.caps.msrLoad(i) !== 0;

/** Why `unavailable` holds for MSR `i`, from the profile's facts. */
function unavailableWhy(c: Ctx, i: number): string {
  const info = c.caps.facts.msr(i);
  const what = `MSR ${h(i)}${info.name ? ` (${info.name})` : ""}`;
  switch (info.status) {
    case "refusable":
      return `the processor may refuse to load ${what} on VM entry (${info.why}); KVM refuses it`;
    case "unknown":
      return `WRMSR to ${what} may raise #GP on this CPU: ${info.why}`;
    default:
      return `WRMSR to ${what} raises #GP: ${info.why}`;
  }
}

/** Bits of the value WRMSR rejects as reserved, for the MSRs with a known valid mask (0 when none/unknown). */
function reservedValueBits(c: Ctx, i: number, lo: number, hi: number): number {
  const caps = c.caps;
  switch (i) {
    case MSR.IA32_EFER:
      return (lo & ~c.caps.eferValidLo) | hi;
    case MSR.IA32_DEBUGCTL:
      return (lo & ~caps.debugctlValidLo) | (hi & ~caps.debugctlValidHi);
    case IA32_PERF_GLOBAL_CTRL:
      return (lo & ~caps.perfGlobalCtrlValidLo) | (hi & ~caps.perfGlobalCtrlValidHi);
    case IA32_RTIT_CTL:
      return (lo & ~caps.rtitCtlValidLo) | (hi & ~caps.rtitCtlValidHi);
    case IA32_LBR_CTL:
      return (lo & ~caps.lbrCtlValidLo) | (hi & ~caps.lbrCtlValidHi);
    case IA32_SPEC_CTRL:
      return (lo & ~caps.specCtrlValidLo) | (hi & ~caps.specCtrlValidHi);
    default:
      return 0;
  }
}
const reservedValue: EntryRule = (c, i, _r, lo, hi) => reservedValueBits(c, i, lo, hi) !== 0;

/** PAT entries must hold memory types 0, 1, 4, 5, 6 or 7 (SDM Vol. 3 13.12.2). */
function patByteBad(b: number): boolean {
  return b === 2 || b === 3 || b > 7;
}
const badPat: EntryRule = (_c, i, _r, lo, hi) => {
  if (i !== MSR.IA32_PAT) return false;
  for (let s = 0; s < 32; s += 8)
    if (patByteBad((lo >>> s) & 0xff) || patByteBad((hi >>> s) & 0xff)) return true;
  return false;
};

/**
 * WRMSR raises #GP(0) for a non-canonical address in IA32_DS_AREA, IA32_KERNEL_GS_BASE, IA32_LSTAR,
 * IA32_SYSENTER_EIP and IA32_SYSENTER_ESP (SDM Vol. 2 WRMSR; FS/GS base are rejected outright by M1). The width
 * is the processor's linear-address width, independent of CR4.LA57.
 * IA32_CSTAR (C0000083H) is missing from the SDM's WRMSR list, but Intel hardware checks it too: KVM's
 * `kvm_set_msr` canonical list includes it and kvm-unit-tests x86/msr.c expects #GP for a non-canonical
 * CSTAR on Intel and AMD alike.
 */
function needsCanonical(i: number): boolean {
  return (
    i === IA32_KERNEL_GS_BASE ||
    i === IA32_LSTAR ||
    i === IA32_CSTAR ||
    i === IA32_SYSENTER_EIP ||
    i === IA32_SYSENTER_ESP ||
    i === IA32_DS_AREA
  );
}
const nonCanonical: EntryRule = (c, i, _r, lo, hi) =>
  needsCanonical(i) && !isCanonical(lo, hi, c.caps.linearAddressBits);

/**
 * EFER.LME after the guest state is loaded: the guest EFER field with "load IA32_EFER", else the
 * "IA-32e mode guest" control (SDM 29.3.2.1).
 */
function guestLme(c: Ctx): boolean {
  return (c.entry & ENTRY.LOAD_EFER) !== 0
    ? (c.lo(F.GUEST_IA32_EFER!) & EFER.LME) !== 0
    : (c.entry & ENTRY.IA32E_GUEST) !== 0;
}
/** WRMSR to IA32_EFER that changes LME while CR0.PG = 1 raises #GP (SDM Vol. 3 2.2.1, 10.8.5). */
const lmeWithPaging: EntryRule = (c, i, _r, lo) =>
  i === MSR.IA32_EFER && (c.lo(F.GUEST_CR0!) & CR0.PG) !== 0 && ((lo & EFER.LME) !== 0) !== guestLme(c);

export const msrLoadChecks: readonly Check[] = [
  msrCheck(
    "fs-gs-base",
    "M1",
    "An MSR-load entry must not load IA32_FS_BASE (C0000100H) or IA32_GS_BASE (C0000101H)",
    isFsGsBase,
    () =>
      "IA32_FS_BASE and IA32_GS_BASE cannot be loaded from the MSR-load area; use the GUEST_FS_BASE/GUEST_GS_BASE fields",
  ),
  msrCheck(
    "x2apic-msr",
    "M2",
    "An MSR-load entry must not load an x2APIC MSR (index bits 31:8 = 000008H, MSRs 800H–8FFH)",
    isX2apic,
    () => "MSRs 800H–8FFH (x2APIC registers) cannot be loaded on VM entry, whatever the APIC mode",
  ),
  msrCheck(
    "smm-only-msr",
    "M3",
    "Outside SMM, an MSR-load entry must not load an MSR writable only in SMM (IA32_SMM_MONITOR_CTL, 9BH)",
    smmOnly,
    () =>
      "IA32_SMM_MONITOR_CTL can be written only in SMM and this VM entry did not start in SMM (processor.inSmm is false)",
  ),
  msrCheck(
    "reserved-bits",
    "M5",
    "Bits 63:32 of an MSR-load entry (above the MSR index) are reserved and must be 0",
    reservedSet,
    () => "bits 63:32 of the entry must be 0; the MSR index is only 32 bits",
  ),
  msrCheck(
    "unavailable-msr",
    ["M4", "M6"],
    "An MSR-load entry must name an MSR the processor implements and lets WRMSR write (not read-only); an MSR the profile cannot place, and IA32_BIOS_UPDT_TRIG (79H) / IA32_BIOS_SIGN_ID (8BH), which a processor may refuse on VM entry (M4), are possible failures",
    unavailable,
    (c) => unavailableWhy(c, c.mem.read32(areaBase(c) + (firstFailing(c, unavailable) - 1) * 16)),
  ),
  msrCheck(
    "value-reserved-bits",
    "M6",
    "An MSR-load entry must not set bits that WRMSR rejects as reserved (IA32_EFER, IA32_DEBUGCTL, IA32_PERF_GLOBAL_CTRL, IA32_RTIT_CTL, IA32_LBR_CTL, IA32_SPEC_CTRL)",
    reservedValue,
    (c) => {
      const a = areaBase(c) + (firstFailing(c, reservedValue) - 1) * 16;
      const i = c.mem.read32(a);
      const lo = c.mem.read32(a + 8);
      const hi = c.mem.read32(a + 12);
      return `the value sets bits that WRMSR to this MSR rejects with #GP (reserved bits ${hex64(
        reservedValueBits(c, i, lo, 0),
        reservedValueBits(c, i, 0, hi),
      )})`;
    },
  ),
  msrCheck(
    "pat-memory-type",
    "M6",
    "An MSR-load entry for IA32_PAT (277H) must hold only valid memory types (0, 1, 4, 5, 6, 7) in each byte",
    badPat,
    (c) => {
      const a = areaBase(c) + (firstFailing(c, badPat) - 1) * 16;
      let bad = "";
      for (let b = 0; b < 8; b++) {
        const t = c.mem.read8(a + 8 + b);
        if (patByteBad(t) && !bad) bad = `PA${b} (byte ${b}) holds memory type ${t}`;
      }
      return `${bad}, which WRMSR rejects with #GP; use UC (0), WC (1), WT (4), WP (5), WB (6) or UC- (7)`;
    },
  ),
  msrCheck(
    "non-canonical-address",
    "M6",
    "An MSR-load entry for IA32_KERNEL_GS_BASE, IA32_LSTAR, IA32_CSTAR, IA32_SYSENTER_EIP/ESP or IA32_DS_AREA must hold a canonical address",
    nonCanonical,
    (c) =>
      `the value is not canonical for the processor's ${c.caps.linearAddressBits}-bit linear addresses (bits 63:${c.caps.linearAddressBits - 1} must all equal bit ${c.caps.linearAddressBits - 1}); WRMSR would raise #GP`,
  ),
  msrCheck(
    "smbase-read-only",
    "M6",
    "An MSR-load entry must not load IA32_SMBASE (9EH), which is read-only",
    isSmbase,
    () => "IA32_SMBASE is read-only (readable only in SMM); WRMSR to it raises #GP",
  ),
  msrCheck(
    "efer-lme-with-paging",
    "M6",
    "An MSR-load entry for IA32_EFER must not change EFER.LME while the guest has CR0.PG = 1",
    lmeWithPaging,
    (c) =>
      `the guest has CR0.PG=1 and EFER.LME=${guestLme(c) ? 1 : 0} after loading guest state; WRMSR that changes LME with paging enabled raises #GP`,
    [...FIELDS, "GUEST_CR0", "GUEST_IA32_EFER", "VM_ENTRY_CONTROLS"],
  ),
];

// ---------------------------------------------------------------------------------------------------------
// The VM-exit MSR-load list (SDM 28.6): processed at VM exits, with the rules above (the EFER.LME rule reads
// the guest and does not apply). A failing entry is no VM-entry outcome but a VMX abort at the next VM exit
// (SDM 28.7, indicator 4) — or at this entry's failure if it fails after loading guest state (SDM 29.8).

const EXIT_ADDR = F.VM_EXIT_MSR_LOAD_ADDR!;
const EXIT_COUNT = F.VM_EXIT_MSR_LOAD_COUNT!;
const EXIT_FIELDS = ["VM_EXIT_MSR_LOAD_ADDR", "VM_EXIT_MSR_LOAD_COUNT"];

const EXIT_RULES: readonly [string, EntryRule, (c: Ctx, i: number, lo: number, hi: number) => string][] = [
  ["fs-gs-base", isFsGsBase, () => "IA32_FS_BASE and IA32_GS_BASE cannot be loaded from an MSR-load area"],
  ["x2apic-msr", isX2apic, () => "MSRs 800H–8FFH (x2APIC registers) cannot be loaded from an MSR-load area"],
  ["smm-only-msr", smmOnly, () => "IA32_SMM_MONITOR_CTL can be written only in SMM"],
  ["reserved-bits", reservedSet, () => "bits 63:32 of the entry must be 0"],
  ["unavailable-msr", unavailable, (c, i) => unavailableWhy(c, i)],
  [
    "value-reserved-bits",
    reservedValue,
    (c, i, lo, hi) =>
      `the value sets bits WRMSR rejects (reserved bits ${hex64(reservedValueBits(c, i, lo, 0), reservedValueBits(c, i, 0, hi))})`,
  ],
  ["pat-memory-type", badPat, () => "IA32_PAT holds a memory type WRMSR rejects (only 0, 1, 4, 5, 6, 7)"],
  [
    "non-canonical-address",
    nonCanonical,
    (c) => `the value is not canonical for ${c.caps.linearAddressBits}-bit linear addresses`,
  ],
  ["smbase-read-only", isSmbase, () => "IA32_SMBASE is read-only"],
];

/** The first rule an exit-list entry breaks under `c.caps`, or -1. */
function exitRuleBroken(c: Ctx, i: number, r: number, lo: number, hi: number): number {
  for (let k = 0; k < EXIT_RULES.length; k++) if (EXIT_RULES[k]![1](c, i, r, lo, hi)) return k;
  return -1;
}

/**
 * Warnings for the VM-exit MSR-load list: the first entry that fails on this profile (a VMX abort at the next
 * VM exit), and before it each entry that fails only if an uncertain CPU fact takes its strict value. Called
 * only when VM_EXIT_MSR_LOAD_COUNT ≠ 0; undefined when every entry loads.
 */
export function exitMsrLoadWarnings(c: Ctx): Warning[] | undefined {
  const n = Math.min(c.lo(EXIT_COUNT), c.caps.maxMsrList);
  const base = Memory.addr(c.lo(EXIT_ADDR), c.hi(EXIT_ADDR));
  const lenient = c.caps;
  const strict = lenient.facts.conservative();
  const out: Warning[] = [];
  const describe = (k: number, a: number, i: number, r: number, lo: number, hi: number) =>
    `VM-exit MSR-load entry ${k} of ${c.lo(EXIT_COUNT)} at ${h(a)} (MSR index ${h(i)}${r ? `, bits 63:32 ${h(r)}` : ""}, value ${hex64(lo, hi)})`;
  for (let k = 1, a = base; k <= n; k++, a += 16) {
    const i = c.mem.read32(a);
    const r = c.mem.read32(a + 4);
    const lo = c.mem.read32(a + 8);
    const hi = c.mem.read32(a + 12);
    const broken = exitRuleBroken(c, i, r, lo, hi);
    if (broken >= 0) {
      const [id, , why] = EXIT_RULES[broken]!;
      out.push({
        id: `exit-msr-load.${id}`,
        sdm: "28.6",
        message: `${describe(k, a, i, r, lo, hi)}: ${why(c, i, lo, hi)}; the next VM exit would end in a VMX abort (indicator 4, SDM 28.7) instead of returning to the host`,
        fields: EXIT_FIELDS,
      });
      break;
    }
    if (out.length >= 8) continue;
    c.caps = strict;
    let maybe: number;
    let why = "";
    try {
      maybe = exitRuleBroken(c, i, r, lo, hi);
      if (maybe >= 0) why = EXIT_RULES[maybe]![2](c, i, lo, hi);
    } finally {
      c.caps = lenient;
    }
    if (maybe >= 0)
      out.push({
        id: `exit-msr-load.${EXIT_RULES[maybe]![0]}`,
        sdm: "28.6",
        message: `${describe(k, a, i, r, lo, hi)}: on some CPUs this profile stands for, ${why}; the next VM exit would then end in a VMX abort (indicator 4, SDM 28.7)`,
        fields: EXIT_FIELDS,
      });
  }
  return out.length ? out : undefined;
}
