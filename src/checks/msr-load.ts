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
 * - "Cannot be loaded for model-specific reasons" (M4) is not modelled: the profile carries no such list.
 * - WRMSR #GP (M6) is modelled for the MSRs whose valid values nvmx knows: reserved bits (EFER, DEBUGCTL,
 *   PERF_GLOBAL_CTRL, RTIT_CTL, LBR_CTL, SPEC_CTRL from the profile masks), PAT memory types, canonical
 *   addresses, the read-only IA32_SMBASE, and changing EFER.LME while the guest has paging enabled.
 */
import * as archControls from "../arch/controls.js";
import * as archRegisters from "../arch/registers.js";
import { hex as h, hex64 } from "../util/u64.js";
import { decoders } from "./compile.js";
import { section } from "./rule.js";
import type { FoundEntry, State } from "./state.js";
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

/** "entry 3 of 5 at 0x20020 (MSR index 0xc0000100, value 0x...)": where the first failing entry is. */
function where(s: State, e: FoundEntry): string {
  return `entry ${e.position} of ${s.VM_ENTRY_MSR_LOAD_COUNT} at ${valPlus(s, "VM_ENTRY_MSR_LOAD_ADDR", (e.position - 1) * 16)} (MSR index ${h(e.index)}${e.reserved ? `, bits 63:32 ${h(e.reserved)}` : ""}, value ${hex64(e.lo, e.hi)})`;
}

/** A rule on one MSR-load entry; the message names the first failing entry and the outcome. */
function msrRule(
  id: string,
  item: string,
  ruleText: string,
  entry: (s: State, e: import("./state.js").MsrEntry) => unknown,
  why: (s: State, e: FoundEntry) => string,
) {
  return entryRule({
    id: `msr-load.${id}`,
    rule: ruleText,
    checklist: [item],
    group: "entryMsrLoad",
    entry,
    message: (s, e) =>
      `VM-entry MSR-load ${where(s, e)}: ${why(s, e)}; VM entry fails with exit reason 34, qualification ${e.position} (unless an earlier entry fails first)`,
  });
}

export default checks([
  msrRule(
    "fs-gs-base",
    "M1",
    "An MSR-load entry must not load IA32_FS_BASE (C0000100H) or IA32_GS_BASE (C0000101H)",
    (_s, e) => e.index === MSR.IA32_FS_BASE || e.index === MSR.IA32_GS_BASE,
    () =>
      "IA32_FS_BASE and IA32_GS_BASE cannot be loaded from the MSR-load area; use the GUEST_FS_BASE/GUEST_GS_BASE fields",
  ),
  msrRule(
    "x2apic-msr",
    "M2",
    "An MSR-load entry must not load an x2APIC MSR (index bits 31:8 = 000008H, MSRs 800H–8FFH)",
    (_s, e) => e.index >>> 8 === 0x8,
    () => "MSRs 800H–8FFH (x2APIC registers) cannot be loaded on VM entry, whatever the APIC mode",
  ),
  msrRule(
    "smm-only-msr",
    "M3",
    "Outside SMM, an MSR-load entry must not load an MSR writable only in SMM (IA32_SMM_MONITOR_CTL, 9BH)",
    (s, e) => e.index === MSR.IA32_SMM_MONITOR_CTL && !s.cpu.inSmm,
    () =>
      "IA32_SMM_MONITOR_CTL can be written only in SMM and this VM entry did not start in SMM (processor.inSmm is false)",
  ),
  msrRule(
    "reserved-bits",
    "M5",
    "Bits 63:32 of an MSR-load entry (above the MSR index) are reserved and must be 0",
    (_s, e) => e.reserved !== 0,
    () => "bits 63:32 of the entry must be 0; the MSR index is only 32 bits",
  ),
  msrRule(
    "value-reserved-bits",
    "M6",
    "An MSR-load entry must not set bits that WRMSR rejects as reserved (IA32_EFER, IA32_DEBUGCTL, IA32_PERF_GLOBAL_CTRL, IA32_RTIT_CTL, IA32_LBR_CTL, IA32_SPEC_CTRL)",
    (s, e) => msrReservedBits(s, e.index, e.lo, e.hi) !== 0,
    (s, e) =>
      `the value sets bits that WRMSR to this MSR rejects with #GP (reserved bits ${hex64(
        msrReservedBits(s, e.index, e.lo, 0) >>> 0,
        msrReservedBits(s, e.index, 0, e.hi) >>> 0,
      )})`,
  ),
  msrRule(
    "pat-memory-type",
    "M6",
    "An MSR-load entry for IA32_PAT (277H) must hold only valid memory types (0, 1, 4, 5, 6, 7) in each byte",
    (_s, e) => e.index === MSR.IA32_PAT && (patHalfBad(e.lo) || patHalfBad(e.hi)),
    (_s, e) =>
      `invalid memory types ${badPatEntries(e.lo, e.hi)}, which WRMSR rejects with #GP; use UC (0), WC (1), WT (4), WP (5), WB (6) or UC- (7)`,
  ),
  msrRule(
    "non-canonical-address",
    "M6",
    "An MSR-load entry for IA32_KERNEL_GS_BASE, IA32_LSTAR, IA32_CSTAR, IA32_SYSENTER_EIP/ESP or IA32_DS_AREA must hold a canonical address",
    (s, e) => needsCanonical(e.index) && !canonical(s, e.hi),
    (s) => `the value ${notCanonical(s)}; WRMSR would raise #GP`,
  ),
  msrRule(
    "smbase-read-only",
    "M6",
    "An MSR-load entry must not load IA32_SMBASE (9EH), which is read-only",
    (_s, e) => e.index === MSR.IA32_SMBASE,
    () => "IA32_SMBASE is read-only (readable only in SMM); WRMSR to it raises #GP",
  ),
  msrRule(
    "efer-lme-with-paging",
    "M6",
    "An MSR-load entry for IA32_EFER must not change EFER.LME while the guest has CR0.PG = 1",
    (s, e) =>
      e.index === MSR.IA32_EFER && (s.GUEST_CR0 & CR0.PG) !== 0 && ((e.lo & EFER.LME) !== 0) !== guestLme(s),
    (s) =>
      `the guest has CR0.PG=1 and EFER.LME=${guestLme(s) ? 1 : 0} after loading guest state; WRMSR that changes LME with paging enabled raises #GP`,
  ),
]);
