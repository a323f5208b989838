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
import * as archRegisters from "../arch/registers.js";
import type { Warning } from "../entry/evaluate.js";
import { hex as h, hex64 } from "../util/u64.js";
import { Memory } from "../vmcs/memory.js";
import { decoders } from "./compile.js";
import { ENTRY_WORDS, type RuleCheck, section } from "./rule.js";
import { type FoundEntry, type MsrEntry, type State, stateOf } from "./state.js";
import type { Ctx } from "./types.js";
import * as util from "./util.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves predicates' names in this module (compile.ts).
const scope = (name: string): unknown => eval(name);

// Short local names for the imported tables and helpers.
const { ENTRY } = archControls;
const { CR0, EFER, MSR } = archRegisters;
const { badPatEntries, canonical, notCanonical, outside, patHalfBad, valPlus } = util;

const { entryRule, checks } = section({ scope, sdm: "29.4", title: "Loading MSRs", cls: "msr-load" });

const { msrReservedBits, needsCanonical, guestLme } = decoders(scope, {
  /** Bits of the value WRMSR rejects as reserved, for the MSRs with a known valid mask (0 when none/unknown). */
  msrReservedBits: (s: State, i: number, lo: number, hi: number) =>
    i === MSR.IA32_EFER
      ? (lo & ~s.caps.eferValidLo) | hi
      : i === MSR.IA32_DEBUGCTL
        ? outside(lo, hi, s.caps.debugctlValidLo, s.caps.debugctlValidHi)
        : i === MSR.IA32_PERF_GLOBAL_CTRL
          ? outside(lo, hi, s.caps.perfGlobalCtrlValidLo, s.caps.perfGlobalCtrlValidHi)
          : i === MSR.IA32_RTIT_CTL
            ? outside(lo, hi, s.caps.rtitCtlValidLo, s.caps.rtitCtlValidHi)
            : i === MSR.IA32_LBR_CTL
              ? outside(lo, hi, s.caps.lbrCtlValidLo, s.caps.lbrCtlValidHi)
              : i === MSR.IA32_SPEC_CTRL
                ? outside(lo, hi, s.caps.specCtrlValidLo, s.caps.specCtrlValidHi)
                : 0,
  /**
   * WRMSR raises #GP(0) for a non-canonical address in IA32_DS_AREA, IA32_KERNEL_GS_BASE, IA32_LSTAR,
   * IA32_SYSENTER_EIP and IA32_SYSENTER_ESP (SDM Vol. 2 WRMSR; FS/GS base are rejected outright by M1). The
   * width is the processor's linear-address width, independent of CR4.LA57. IA32_CSTAR (C0000083H) is missing
   * from the SDM's WRMSR list, but Intel hardware checks it too: KVM's `kvm_set_msr` canonical list includes it
   * and kvm-unit-tests x86/msr.c expects #GP for a non-canonical CSTAR on Intel and AMD alike.
   */
  needsCanonical: (i: number) =>
    i === MSR.IA32_KERNEL_GS_BASE ||
    i === MSR.IA32_LSTAR ||
    i === MSR.IA32_CSTAR ||
    i === MSR.IA32_SYSENTER_EIP ||
    i === MSR.IA32_SYSENTER_ESP ||
    i === MSR.IA32_DS_AREA,
  /**
   * EFER.LME after the guest state is loaded: the guest EFER field with "load IA32_EFER", else the
   * "IA-32e mode guest" control (SDM 29.3.2.1).
   */
  guestLme: (s: State) =>
    (s.entry & ENTRY.LOAD_EFER) !== 0
      ? (s.GUEST_IA32_EFER & EFER.LME) !== 0
      : (s.entry & ENTRY.IA32E_GUEST) !== 0,
});

/** Why WRMSR to MSR `i` fails on the profile as read now (lenient or strict), from its facts. */
function unavailableWhy(s: State, i: number): string {
  const info = s.caps.facts.msr(i);
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

/** One rule on the entries of an MSR-load area: the condition on one entry, and why such an entry fails. */
interface MsrRule {
  readonly id: string;
  readonly checklist: readonly string[];
  readonly rule: string;
  readonly entry: (s: State, e: MsrEntry) => unknown;
  readonly why: (s: State, e: FoundEntry) => string;
}

/** The rules, in the order the checks are listed (each is one VM-entry check; see `exitMsrLoadWarnings`). */
const RULES: readonly MsrRule[] = [
  {
    id: "fs-gs-base",
    checklist: ["M1"],
    rule: "An MSR-load entry must not load IA32_FS_BASE (C0000100H) or IA32_GS_BASE (C0000101H)",
    entry: (_s, e) => e.index === MSR.IA32_FS_BASE || e.index === MSR.IA32_GS_BASE,
    why: () =>
      "IA32_FS_BASE and IA32_GS_BASE cannot be loaded from an MSR-load area; the FS and GS base fields of the VMCS load them",
  },
  {
    id: "x2apic-msr",
    checklist: ["M2"],
    rule: "An MSR-load entry must not load an x2APIC MSR (index bits 31:8 = 000008H, MSRs 800H–8FFH)",
    entry: (_s, e) => e.index >>> 8 === 0x8,
    why: () =>
      "MSRs 800H–8FFH (x2APIC registers) cannot be loaded from an MSR-load area, whatever the APIC mode",
  },
  {
    id: "smm-only-msr",
    checklist: ["M3"],
    rule: "Outside SMM, an MSR-load entry must not load an MSR writable only in SMM (IA32_SMM_MONITOR_CTL, 9BH)",
    entry: (s, e) => e.index === MSR.IA32_SMM_MONITOR_CTL && !s.cpu.inSmm,
    why: () =>
      "IA32_SMM_MONITOR_CTL can be written only in SMM, and the processor is not in SMM (processor.inSmm is false)",
  },
  {
    id: "reserved-bits",
    checklist: ["M5"],
    rule: "Bits 63:32 of an MSR-load entry (above the MSR index) are reserved and must be 0",
    entry: (_s, e) => e.reserved !== 0,
    why: () => "bits 63:32 of the entry must be 0; the MSR index is only 32 bits",
  },
  {
    id: "unavailable-msr",
    checklist: ["M4", "M6"],
    rule: "An MSR-load entry must name an MSR the processor implements and lets WRMSR write (not read-only); an MSR the profile cannot place, and IA32_BIOS_UPDT_TRIG (79H) / IA32_BIOS_SIGN_ID (8BH), which a processor may refuse on VM entry (M4), are possible failures",
    entry: (s, e) => s.caps.msrLoad(e.index) !== 0,
    why: (s, e) => unavailableWhy(s, e.index),
  },
  {
    id: "value-reserved-bits",
    checklist: ["M6"],
    rule: "An MSR-load entry must not set bits that WRMSR rejects as reserved (IA32_EFER, IA32_DEBUGCTL, IA32_PERF_GLOBAL_CTRL, IA32_RTIT_CTL, IA32_LBR_CTL, IA32_SPEC_CTRL)",
    entry: (s, e) => msrReservedBits(s, e.index, e.lo, e.hi) !== 0,
    why: (s, e) =>
      `the value sets bits that WRMSR to this MSR rejects with #GP (reserved bits ${hex64(
        msrReservedBits(s, e.index, e.lo, 0) >>> 0,
        msrReservedBits(s, e.index, 0, e.hi) >>> 0,
      )})`,
  },
  {
    id: "pat-memory-type",
    checklist: ["M6"],
    rule: "An MSR-load entry for IA32_PAT (277H) must hold only valid memory types (0, 1, 4, 5, 6, 7) in each byte",
    entry: (_s, e) => e.index === MSR.IA32_PAT && (patHalfBad(e.lo) || patHalfBad(e.hi)),
    why: (_s, e) =>
      `invalid memory types ${badPatEntries(e.lo, e.hi)}, which WRMSR rejects with #GP; use UC (0), WC (1), WT (4), WP (5), WB (6) or UC- (7)`,
  },
  {
    id: "non-canonical-address",
    checklist: ["M6"],
    rule: "An MSR-load entry for IA32_KERNEL_GS_BASE, IA32_LSTAR, IA32_CSTAR, IA32_SYSENTER_EIP/ESP or IA32_DS_AREA must hold a canonical address",
    entry: (s, e) => needsCanonical(e.index) && !canonical(s, e.hi),
    why: (s) => `the value ${notCanonical(s)}; WRMSR would raise #GP`,
  },
  {
    id: "smbase-read-only",
    checklist: ["M6"],
    rule: "An MSR-load entry must not load IA32_SMBASE (9EH), which is read-only",
    entry: (_s, e) => e.index === MSR.IA32_SMBASE,
    why: () => "IA32_SMBASE is read-only (readable only in SMM); WRMSR to it raises #GP",
  },
  {
    id: "efer-lme-with-paging",
    checklist: ["M6"],
    rule: "An MSR-load entry for IA32_EFER must not change EFER.LME while the guest has CR0.PG = 1",
    entry: (s, e) =>
      e.index === MSR.IA32_EFER && (s.GUEST_CR0 & CR0.PG) !== 0 && ((e.lo & EFER.LME) !== 0) !== guestLme(s),
    why: (s) =>
      `the guest has CR0.PG=1 and EFER.LME=${guestLme(s) ? 1 : 0} after loading guest state; WRMSR that changes LME with paging enabled raises #GP`,
  },
];

/** "entry 3 of 5 at 0x20020 (MSR index 0xc0000100, value 0x...)": where the first failing entry is. */
function where(s: State, e: FoundEntry): string {
  return `entry ${e.position} of ${s.VM_ENTRY_MSR_LOAD_COUNT} at ${valPlus(s, "VM_ENTRY_MSR_LOAD_ADDR", (e.position - 1) * 16)} (MSR index ${h(e.index)}${e.reserved ? `, bits 63:32 ${h(e.reserved)}` : ""}, value ${hex64(e.lo, e.hi)})`;
}

/** A VM-entry check of a rule; the message names the first failing entry and the outcome. */
function msrRule(r: MsrRule): RuleCheck {
  return entryRule({
    id: `msr-load.${r.id}`,
    rule: r.rule,
    checklist: r.checklist,
    group: "entryMsrLoad",
    entry: r.entry,
    message: (s, e) =>
      `VM-entry MSR-load ${where(s, e)}: ${r.why(s, e)}; VM entry fails with exit reason 34, qualification ${e.position} (unless an earlier entry fails first)`,
  });
}

const ENTRY_CHECKS = RULES.map(msrRule);

export default checks(ENTRY_CHECKS);

// ---------------------------------------------------------------------------------------------------------
// The VM-exit MSR-load list (SDM 28.6): processed at VM exits, with the rules above that read nothing but the
// entry and the processor (the EFER.LME rule reads the guest and does not apply). A failing entry is no
// VM-entry outcome but a VMX abort at the next VM exit (SDM 28.7, indicator 4) — or at this entry's failure
// if it fails after loading guest state (SDM 29.8).

const LIST_FIELDS: readonly string[] = ["VM_ENTRY_MSR_LOAD_ADDR", "VM_ENTRY_MSR_LOAD_COUNT"];
const EXIT_FIELDS = ["VM_EXIT_MSR_LOAD_ADDR", "VM_EXIT_MSR_LOAD_COUNT"];

/** The rules that apply to the VM-exit list: derived from what each entry check reads (compiled on first use). */
let exitRules: readonly MsrRule[] | undefined;
function rulesForExit(): readonly MsrRule[] {
  exitRules ??= RULES.filter((_, k) => ENTRY_CHECKS[k]?.reads.fields.every((f) => LIST_FIELDS.includes(f)));
  return exitRules;
}

/**
 * One compiled walk of a list with every exit rule (their compiled per-entry conditions, `Pred.entry`): the
 * 1-based position of the first entry any of them breaks on the profile as read now, or 0. Lets a list whose
 * entries all load (the common case) cost one walk per profile reading instead of a rule call per entry.
 */
let exitScreen: ((c: Ctx, w: Uint32Array, n: number) => number) | undefined;
function screen(): (c: Ctx, w: Uint32Array, n: number) => number {
  if (exitScreen === undefined) {
    const conditions = ENTRY_CHECKS.filter((_, k) => rulesForExit().includes(RULES[k] as MsrRule)).map(
      (c) => `(${c.fail.entry as string})`,
    );
    exitScreen = new Function(
      "c",
      "w",
      "n",
      `"use strict"; const v = c.v; for (let i = 0, j = 0; i < n; i++, j += 4) { ${ENTRY_WORDS} if (${conditions.join(" || ")}) return i + 1; } return 0;\n//# sourceURL=nvmx-exit-msr-load-screen.js`,
    ) as (c: Ctx, w: Uint32Array, n: number) => number;
  }
  return exitScreen;
}

/** The first rule of `rules` an exit-list entry breaks on the profile as read now, or undefined. */
function broken(rules: readonly MsrRule[], s: State, e: MsrEntry): MsrRule | undefined {
  for (const r of rules) if (r.entry(s, e)) return r;
  return undefined;
}

/**
 * Warnings for the VM-exit MSR-load list: the first entry that fails on this profile (a VMX abort at the next
 * VM exit), and before it each entry that fails only if an uncertain CPU fact takes its strict value (at most
 * 8). Called only when VM_EXIT_MSR_LOAD_COUNT ≠ 0; undefined when every entry loads.
 */
export function exitMsrLoadWarnings(c: Ctx, opts: { screen?: boolean } = {}): Warning[] | undefined {
  const s = stateOf(c);
  const rules = rulesForExit();
  const count = s.VM_EXIT_MSR_LOAD_COUNT;
  const n = Math.min(count, c.caps.maxMsrList);
  const base = Memory.addr(s.VM_EXIT_MSR_LOAD_ADDR, s.hi.VM_EXIT_MSR_LOAD_ADDR);
  const lenient = c.caps;
  const strict = lenient.facts.conservative();
  // Every entry loads on both readings: no warning (the walk below would find none). `screen: false` (tests)
  // takes the walk alone.
  const words = opts.screen === false ? undefined : c.mem.words(base, 4 * n);
  if (words !== undefined && screen()(c, words, n) === 0) {
    c.caps = strict;
    try {
      if (screen()(c, words, n) === 0) return undefined;
    } finally {
      c.caps = lenient;
    }
  }
  const out: Warning[] = [];
  for (let k = 1, a = base; k <= n; k++, a += 16) {
    const e: FoundEntry = {
      position: k,
      address: a,
      index: c.mem.read32(a),
      reserved: c.mem.read32(a + 4),
      lo: c.mem.read32(a + 8),
      hi: c.mem.read32(a + 12),
    };
    /** Where the entry is (built only for an entry that gets a warning). */
    const at = () =>
      `VM-exit MSR-load entry ${k} of ${count} at ${h(e.address)} (MSR index ${h(e.index)}${e.reserved ? `, bits 63:32 ${h(e.reserved)}` : ""}, value ${hex64(e.lo, e.hi)})`;
    const r = broken(rules, s, e);
    if (r) {
      out.push({
        id: `exit-msr-load.${r.id}`,
        sdm: "28.6",
        message: `${at()}: ${r.why(s, e)}; the next VM exit would end in a VMX abort (indicator 4, SDM 28.7) instead of returning to the host`,
        fields: EXIT_FIELDS,
      });
      break;
    }
    if (out.length >= 8) continue;
    c.caps = strict;
    try {
      const maybe = broken(rules, s, e);
      if (maybe)
        out.push({
          id: `exit-msr-load.${maybe.id}`,
          sdm: "28.6",
          message: `${at()}: on some CPUs this profile stands for, ${maybe.why(s, e)}; the next VM exit would then end in a VMX abort (indicator 4, SDM 28.7)`,
          fields: EXIT_FIELDS,
        });
    } finally {
      c.caps = lenient;
    }
  }
  return out.length ? out : undefined;
}
