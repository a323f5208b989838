/**
 * SDM 29.2.1.1 "Checks on VM-Execution Control Fields". Every failure is VMfailValid with VM-instruction
 * error 7 (invalid control field). Secondary controls count as 0 unless primary bit 31 is 1 and tertiary
 * controls as 0 unless primary bit 17 is 1 (`c.proc2`, `c.proc3` already do that). None of these checks applies
 * to a VM entry that returns from SMM under the dual-monitor treatment (SDM 34.15.4.2, see `skipOnSmmReturn`).
 *
 * Sources: the SDM text (rev. 059 verbatim for the classic bullets; newer bullets as quoted by projects that
 * follow rev. 07x: the "Intel PT uses guest physical addresses", "mode-based execute control", "sub-page
 * write permissions" and "use TSC scaling" bullets), Bochs `VMenterLoadCheckVmControls`/`is_eptptr_valid`
 * and KVM `nested_check_vm_execution_controls`. Items resting on weaker evidence say so where they are.
 */
import * as archControls from "../arch/controls.js";
import * as archFields from "../arch/fields.js";
import * as archMsrs from "../arch/msrs.js";
import * as u64 from "../util/u64.js";
import * as memoryModule from "../vmcs/memory.js";
import { allowedSettingsChecks, controlNames as names } from "./allowed.js";
import { G, type GroupName } from "./groups.js";
import { beyondPhys, Code, code, hi, lo, misaligned, pred, srcOf } from "./pred.js";
import type { Check, Ctx } from "./types.js";
import * as util from "./util.js";

// Short local names for the imported tables and helpers.
const { controlBitNames, ENTRY, EXIT, PIN, PROC, PROC2, PROC3, VMFUNC } = archControls;
const { F } = archFields;
const { EPT_CAP, EPT_CAP_HI } = archMsrs;
const { hex, hex64 } = u64;
const { Memory } = memoryModule;
const { bitList, physLimit, show } = util;

const SDM = "29.2.1.1";

/** Slot index of a field, checked once at load time (a typo must not silently read slot NaN). */
function fi(name: string): number {
  const i = F[name];
  if (i === undefined) throw new Error(`exec-controls: unknown VMCS field ${name}`);
  return i;
}

const PIN_F = fi("PIN_BASED_VM_EXEC_CONTROL");
const PROC_F = fi("CPU_BASED_VM_EXEC_CONTROL");
const PROC2_F = fi("SECONDARY_VM_EXEC_CONTROL");
const PROC3_F = fi("TERTIARY_VM_EXEC_CONTROL");
const EXIT_F = fi("VM_EXIT_CONTROLS");
const ENTRY_F = fi("VM_ENTRY_CONTROLS");
const CR3_COUNT = fi("CR3_TARGET_COUNT");
const VAPIC = fi("VIRTUAL_APIC_PAGE_ADDR");
const TPR_THRESHOLD = fi("TPR_THRESHOLD");
const PI_NV = fi("POSTED_INTR_NV");
const VPID = fi("VIRTUAL_PROCESSOR_ID");
const EPTP = fi("EPT_POINTER");
const VMFUNC_F = fi("VM_FUNCTION_CONTROL");
const TSC_MULT = fi("TSC_MULTIPLIER");
const HLAT_PREFIX = fi("HLAT_PREFIX_SIZE");

const PIN_N = "PIN_BASED_VM_EXEC_CONTROL";
const PROC_N = "CPU_BASED_VM_EXEC_CONTROL";
const PROC2_N = "SECONDARY_VM_EXEC_CONTROL";
const PROC3_N = "TERTIARY_VM_EXEC_CONTROL";

// ---------------------------------------------------------------------------------------------------------
// Message helpers (only run on failure).

/** `"name" (bit n)` of one control. */
function ctl(word: Parameters<typeof controlBitNames>[0], bit: number): string {
  return `"${controlBitNames(word, bit)[0] ?? "?"}"`;
}

// ---------------------------------------------------------------------------------------------------------
// Check factories for the recurring address rules. Built once at module load; the predicates they return
// allocate nothing.

interface AddrSpec {
  /** id stem, e.g. "io-bitmap-a" */
  stem: string;
  field: string;
  /** prose name for messages */
  what: string;
  /** the gate in prose, e.g. `"use I/O bitmaps" = 1` */
  gateText: string;
  /** the gate, as predicate source (src/checks/pred.ts) */
  when: Code;
  /** shared gate that `when` implies (src/checks/groups.ts) */
  group?: GroupName;
  /** extra fields the gate reads */
  gateFields: readonly string[];
  checklistAligned: readonly string[];
  checklistPhys: readonly string[];
  /** alignment as log2 of bytes (12 = 4 KByte) */
  align?: number;
  /** bits that must be 0 for alignment when not a plain low mask (e.g. HLATP 2:0 and 11:5) */
  alignMask?: number;
  /** prose for `alignMask`, e.g. "bits 2:0 and 11:5" */
  alignMaskText?: string;
}

function addressChecks(s: AddrSpec): Check[] {
  const i = fi(s.field);
  const align = s.align ?? 12;
  const mask = s.alignMask ?? ((1 << align) - 1) >>> 0;
  const fields = [s.field, ...s.gateFields];
  const alignText = s.alignMask !== undefined ? (s.alignMaskText ?? bitList(mask)) : `bits ${align - 1}:0`;
  const when = pred`${s.when}`;
  const aligned: Check = {
    id: `ctl.exec.${s.stem}-aligned`,
    sdm: SDM,
    cls: "control",
    fields,
    rule: `With ${s.gateText}, ${alignText} of the ${s.what} must be 0`,
    checklist: s.checklistAligned,
    group: s.group,
    when,
    fail: s.alignMask !== undefined ? pred`(${lo(i)} & ${mask}) !== 0` : pred`${misaligned(i, align)}`,
    message: (c) =>
      `${show(c, i)} sets ${bitList(c.lo(i) & mask)} but ${alignText} must be 0 with ${s.gateText}` +
      (s.alignMask === undefined ? ` (${1 << align}-byte aligned)` : ""),
  };
  const phys: Check = {
    id: `ctl.exec.${s.stem}-phys`,
    sdm: SDM,
    cls: "control",
    fields,
    rule: `With ${s.gateText}, the ${s.what} must not set bits beyond the physical-address width`,
    checklist: s.checklistPhys,
    group: s.group,
    when,
    fail: pred`${beyondPhys(i)}`,
    message: (c) =>
      `${show(c, i)} sets bits beyond the physical-address width with ${s.gateText}: ${physLimit(c)}`,
  };
  return [aligned, phys];
}

/** "control X = 1 requires enable EPT = 1" for a secondary/tertiary control. */
function needsEpt(
  stem: string,
  word: "proc2" | "proc3",
  bit: number,
  checklist: readonly string[],
  extraWhen?: Code,
  label?: string,
): Check {
  const name = label ?? ctl(word, bit);
  // `extraWhen` narrows the gate of a secondary control only; a tertiary control's gate is its bit alone.
  const on =
    word === "proc2"
      ? extraWhen === undefined
        ? code`(c.proc2 & ${bit}) !== 0`
        : code`(c.proc2 & ${bit}) !== 0 && ${extraWhen}`
      : code`(c.proc3 & ${bit}) !== 0`;
  return {
    id: `ctl.exec.${stem}-needs-ept`,
    sdm: SDM,
    cls: "control",
    fields: word === "proc2" ? [PROC_N, PROC2_N] : [PROC_N, PROC2_N, PROC3_N],
    rule: `${name} = 1 requires "enable EPT" = 1`,
    checklist,
    when: pred`${on}`,
    fail: pred`(c.proc2 & ${PROC2.EPT}) === 0`,
    message: (c) =>
      `${name} is 1 but "enable EPT" is 0 (${PROC2_N}=${hex(c.proc2)}${
        (c.proc & PROC.SECONDARY) === 0 ? ", secondary controls not activated" : ""
      }); set "enable EPT" (with a valid EPTP) or clear ${name}`,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Gates and conditions used more than once, as predicate source (src/checks/pred.ts).

const tprShadow = code`(c.proc & ${PROC.TPR_SHADOW}) !== 0`;
const eptpSwitching = code`(c.proc2 & ${PROC2.VMFUNC}) !== 0 && (${lo(VMFUNC_F)} & ${VMFUNC.EPTP_SWITCHING}) !== 0`;

/** The virtual-APIC address passes E10/E11, so the VTPR byte can be read. */
const vapicUsable = code`!${misaligned(VAPIC, 12)} && !${beyondPhys(VAPIC)}`;

/** EPTP[2:0], the EPT paging-structure memory type. */
const eptpType = code`${lo(EPTP)} & 7`;
/** EPTP[2:0] is a memory type the CPU allows for EPT paging structures (UC needs CAP[8], WB CAP[14]). */
const eptpTypeOk = code`(${eptpType} === 0 && (c.caps.eptCap & ${EPT_CAP.UC}) !== 0) || (${eptpType} === 6 && (c.caps.eptCap & ${EPT_CAP.WB}) !== 0)`;

/** EPTP[5:3], the page-walk length − 1. */
const eptpWalk = code`(${lo(EPTP)} >>> 3) & 7`;
/** EPTP[5:3] (walk length − 1): 3 needs CAP[6] (4-level), 4 needs CAP[7] (5-level). */
const eptpWalkOk = code`(${eptpWalk} === 3 && (c.caps.eptCap & ${EPT_CAP.PWL4}) !== 0) || (${eptpWalk} === 4 && (c.caps.eptCap & ${EPT_CAP.PWL5}) !== 0)`;

function supportedEptTypes(c: Ctx): string {
  const out: string[] = [];
  if (c.caps.eptCap & EPT_CAP.UC) out.push("0 (UC)");
  if (c.caps.eptCap & EPT_CAP.WB) out.push("6 (WB)");
  return out.length ? out.join(" or ") : "none (the CPU reports no EPT memory type)";
}

function supportedWalks(c: Ctx): string {
  const out: string[] = [];
  if (c.caps.eptCap & EPT_CAP.PWL4) out.push("3 (4-level)");
  if (c.caps.eptCap & EPT_CAP.PWL5) out.push("4 (5-level)");
  return out.length ? out.join(" or ") : "none (the CPU reports no EPT page-walk length)";
}

/** IA32_VMX_EPT_VPID_CAP[53:48], the maximum HLAT prefix size (messages; `maxHlatPrefixCode` for predicates). */
const maxHlatPrefix = (c: Ctx) =>
  (c.caps.eptCapHi >>> EPT_CAP_HI.HLAT_PREFIX_SHIFT) & EPT_CAP_HI.HLAT_PREFIX_MASK;
/** The same as predicate source. */
const maxHlatPrefixCode = code`(c.caps.eptCapHi >>> ${EPT_CAP_HI.HLAT_PREFIX_SHIFT}) & ${EPT_CAP_HI.HLAT_PREFIX_MASK}`;

// ---------------------------------------------------------------------------------------------------------
// SDM 34.15.4.2: a VM entry that returns from SMM (dual-monitor treatment) does not apply the checks of
// 29.2.1.1 to the current VMCS. Returning to VMX root operation (executive-VMCS pointer = VMXON pointer) it
// performs none; returning to non-root operation it applies them to the executive VMCS, failing with
// VMfailValid 25 (not modelled: the executive VMCS's contents are not part of the input). Either way no check
// of this module may fire on such an entry, so every gate below is wrapped once, at load time: a `when` with
// predicate source stays predicate source (`!smmReturn && when`); a plain closure would be wrapped in one.

const notSmmReturn = pred`!${G.smmReturn}`;

function skipOnSmmReturn(ch: Check): Check {
  const w = ch.when;
  if (w === undefined) return { ...ch, when: notSmmReturn };
  const src = srcOf(w);
  return {
    ...ch,
    when: src !== undefined ? pred`!${G.smmReturn} && ${new Code(src)}` : (c) => notSmmReturn(c) && w(c),
  };
}

// ---------------------------------------------------------------------------------------------------------

const checks: Check[] = [
  // SDM A.3.1, A.3.2: allowed settings of the pin-based and primary processor-based controls.
  ...allowedSettingsChecks({
    word: "pin",
    ids: ["ctl.exec.pin-allowed-0", "ctl.exec.pin-allowed-1"],
    sdm: SDM,
    checklist: ["E1"],
  }),
  ...allowedSettingsChecks({
    word: "proc",
    ids: ["ctl.exec.proc-allowed-0", "ctl.exec.proc-allowed-1"],
    sdm: SDM,
    checklist: ["E2"],
  }),
  // SDM A.3.3: IA32_VMX_PROCBASED_CTLS2 bits 31:0 are architecturally 0 (every secondary control may be 0);
  // the allowed-0 half is still honoured so that a profile that reports a must-be-1 bit is respected (Bochs
  // does the same). Not checked at all when "activate secondary controls" is 0.
  {
    id: "ctl.exec.proc2-reserved",
    sdm: SDM,
    cls: "control",
    fields: [PROC_N, PROC2_N],
    rule: 'With "activate secondary controls" = 1, reserved bits of the secondary controls must be 0 (IA32_VMX_PROCBASED_CTLS2)',
    checklist: ["E3"],
    when: pred`(c.proc & ${PROC.SECONDARY}) !== 0`,
    fail: pred`((c.proc2 & ~c.caps.ctl.proc2.may1) | (~c.proc2 & c.caps.ctl.proc2.must1)) !== 0`,
    message: (c) => {
      const bad1 = (c.proc2 & ~c.caps.ctl.proc2.may1) >>> 0;
      const bad0 = (~c.proc2 & c.caps.ctl.proc2.must1) >>> 0;
      const parts: string[] = [];
      if (bad1)
        parts.push(
          `sets ${bitList(bad1)}${names("proc2", bad1)}, not allowed to be 1 (allowed 1-settings ${hex(c.caps.ctl.proc2.may1)})`,
        );
      if (bad0) parts.push(`clears ${bitList(bad0)}, which this CPU requires to be 1`);
      return `${show(c, PROC2_F)} ${parts.join(" and ")}`;
    },
  },
  // SDM A.3.4: IA32_VMX_PROCBASED_CTLS3 reports the allowed 1-settings of all 64 tertiary controls (there
  // are no allowed-0 bits). Bochs checks the same; the 64-bit width is from the SDM field table.
  {
    id: "ctl.exec.proc3-reserved",
    sdm: SDM,
    cls: "control",
    fields: [PROC_N, PROC3_N],
    rule: 'With "activate tertiary controls" = 1, reserved bits of the tertiary controls must be 0 (IA32_VMX_PROCBASED_CTLS3)',
    checklist: ["E4"],
    when: pred`(c.proc & ${PROC.TERTIARY}) !== 0`,
    fail: pred`((c.proc3 & ~c.caps.ctl.proc3.may1) | (c.proc3Hi & ~c.caps.ctl.proc3.may1Hi)) !== 0`,
    message: (c) => {
      const lo = (c.proc3 & ~c.caps.ctl.proc3.may1) >>> 0;
      const hi = (c.proc3Hi & ~c.caps.ctl.proc3.may1Hi) >>> 0;
      const bits = [lo ? bitList(lo) : "", hi ? bitList(hi, 32) : ""].filter(Boolean).join(" and ");
      return `${show(c, PROC3_F)} sets ${bits}${names("proc3", lo)}, not allowed to be 1 (IA32_VMX_PROCBASED_CTLS3 = ${hex64(c.caps.ctl.proc3.may1, c.caps.ctl.proc3.may1Hi)})`;
    },
  },
  // The SDM says "not greater than 4" and points to IA32_VMX_MISC[24:16] for the number a CPU supports; we
  // use the profile's number (4 on every real CPU; KVM checks against what it advertises to L1).
  {
    id: "ctl.exec.cr3-target-count",
    sdm: SDM,
    cls: "control",
    fields: ["CR3_TARGET_COUNT"],
    rule: "The CR3-target count must not exceed the number of CR3-target values the CPU supports (IA32_VMX_MISC[24:16], 4)",
    checklist: ["E5"],
    fail: pred`${lo(CR3_COUNT)} > c.caps.cr3Targets`,
    message: (c) =>
      `CR3_TARGET_COUNT=${c.lo(CR3_COUNT)} exceeds the ${c.caps.cr3Targets} CR3-target values this CPU supports (IA32_VMX_MISC[24:16]); use 0–${c.caps.cr3Targets}`,
  },
  ...addressChecks({
    stem: "io-bitmap-a",
    field: "IO_BITMAP_A",
    what: "I/O-bitmap A address",
    gateText: '"use I/O bitmaps" = 1',
    group: "ioBitmaps",
    when: G.ioBitmaps,
    gateFields: [PROC_N],
    checklistAligned: ["E6"],
    checklistPhys: ["E7"],
  }),
  ...addressChecks({
    stem: "io-bitmap-b",
    field: "IO_BITMAP_B",
    what: "I/O-bitmap B address",
    gateText: '"use I/O bitmaps" = 1',
    group: "ioBitmaps",
    when: G.ioBitmaps,
    gateFields: [PROC_N],
    checklistAligned: ["E6"],
    checklistPhys: ["E7"],
  }),
  ...addressChecks({
    stem: "msr-bitmap",
    field: "MSR_BITMAP",
    what: "MSR-bitmap address",
    gateText: '"use MSR bitmaps" = 1',
    when: code`(c.proc & ${PROC.USE_MSR_BITMAPS}) !== 0`,
    gateFields: [PROC_N],
    checklistAligned: ["E8"],
    checklistPhys: ["E9"],
  }),
  ...addressChecks({
    stem: "virtual-apic",
    field: "VIRTUAL_APIC_PAGE_ADDR",
    what: "virtual-APIC address",
    gateText: '"use TPR shadow" = 1',
    when: tprShadow,
    gateFields: [PROC_N],
    checklistAligned: ["E10"],
    checklistPhys: ["E11"],
  }),
  // With virtual-interrupt delivery the TPR threshold is not used (SDM 29.2.1.1, rev. 059 onwards).
  {
    id: "ctl.exec.tpr-threshold-reserved",
    sdm: SDM,
    cls: "control",
    fields: ["TPR_THRESHOLD", PROC_N, PROC2_N],
    rule: 'With "use TPR shadow" = 1 and "virtual-interrupt delivery" = 0, bits 31:4 of the TPR threshold must be 0',
    checklist: ["E12"],
    when: pred`${tprShadow} && (c.proc2 & ${PROC2.VID}) === 0`,
    fail: pred`(${lo(TPR_THRESHOLD)} & 0xfffffff0) !== 0`,
    message: (c) =>
      `TPR_THRESHOLD=${hex(c.lo(TPR_THRESHOLD))} sets bits above 3:0 with "use TPR shadow" = 1 and "virtual-interrupt delivery" = 0; use a value 0x0–0xf`,
  },
  // VTPR is byte 80H of the virtual-APIC page (SDM 30.1.1); the comparison uses VTPR bits 7:4. The check is
  // only meaningful once the virtual-APIC address itself is valid (E10/E11), so it is gated on that; the
  // SDM also lets VM entry clear VTPR bytes 3:1 at this point, which does not change bits 7:4.
  {
    id: "ctl.exec.tpr-threshold-vtpr",
    sdm: SDM,
    cls: "control",
    fields: ["TPR_THRESHOLD", "VIRTUAL_APIC_PAGE_ADDR", PROC_N, PROC2_N],
    rule: 'With "use TPR shadow" = 1 and "virtualize APIC accesses" = "virtual-interrupt delivery" = 0, TPR threshold bits 3:0 must not exceed VTPR bits 7:4 (byte 80H of the virtual-APIC page)',
    checklist: ["E13"],
    when: pred`${tprShadow} && (c.proc2 & (${PROC2.VIRT_APIC_ACCESSES} | ${PROC2.VID})) === 0 && ${vapicUsable}`,
    fail: (c) =>
      (c.lo(TPR_THRESHOLD) & 0xf) > c.mem.read8(Memory.addr(c.lo(VAPIC), c.hi(VAPIC)) + 0x80) >>> 4,
    message: (c) => {
      const vtpr = c.mem.read8(Memory.addr(c.lo(VAPIC), c.hi(VAPIC)) + 0x80);
      return `TPR threshold bits 3:0 = ${c.lo(TPR_THRESHOLD) & 0xf} exceed VTPR bits 7:4 = ${vtpr >>> 4} (VTPR byte ${hex(vtpr)} at virtual-APIC page ${hex64(c.lo(VAPIC), c.hi(VAPIC))} + 0x80); lower the threshold to at most ${vtpr >>> 4} or raise VTPR`;
    },
  },
  {
    id: "ctl.exec.virtual-nmis-need-nmi-exiting",
    sdm: SDM,
    cls: "control",
    fields: [PIN_N],
    rule: '"NMI exiting" = 0 requires "virtual NMIs" = 0',
    checklist: ["E14"],
    when: pred`(c.pin & ${PIN.VIRTUAL_NMIS}) !== 0`,
    fail: pred`(c.pin & ${PIN.NMI_EXITING}) === 0`,
    message: (c) =>
      `"virtual NMIs" is 1 but "NMI exiting" is 0 (${show(c, PIN_F)}); set "NMI exiting" (pin bit 3) or clear "virtual NMIs" (pin bit 5)`,
  },
  {
    id: "ctl.exec.nmi-window-needs-virtual-nmis",
    sdm: SDM,
    cls: "control",
    fields: [PIN_N, PROC_N],
    rule: '"virtual NMIs" = 0 requires "NMI-window exiting" = 0',
    checklist: ["E15"],
    when: pred`(c.proc & ${PROC.NMI_WINDOW}) !== 0`,
    fail: pred`(c.pin & ${PIN.VIRTUAL_NMIS}) === 0`,
    message: (c) =>
      `"NMI-window exiting" (primary bit 22) is 1 but "virtual NMIs" is 0 (${show(c, PIN_F)}); set "virtual NMIs" (with "NMI exiting") or clear "NMI-window exiting"`,
  },
  ...addressChecks({
    stem: "apic-access",
    field: "APIC_ACCESS_ADDR",
    what: "APIC-access address",
    gateText: '"virtualize APIC accesses" = 1',
    when: code`(c.proc2 & ${PROC2.VIRT_APIC_ACCESSES}) !== 0`,
    gateFields: [PROC_N, PROC2_N],
    checklistAligned: ["E16"],
    checklistPhys: ["E17"],
  }),
  {
    id: "ctl.exec.apicv-needs-tpr-shadow",
    sdm: SDM,
    cls: "control",
    fields: [PROC_N, PROC2_N],
    rule: '"use TPR shadow" = 0 requires "virtualize x2APIC mode", "APIC-register virtualization" and "virtual-interrupt delivery" = 0',
    checklist: ["E18"],
    when: pred`(c.proc2 & (${PROC2.VIRT_X2APIC} | ${PROC2.APIC_REGISTER_VIRT} | ${PROC2.VID})) !== 0`,
    fail: pred`!${tprShadow}`,
    message: (c) => {
      const m = c.proc2 & (PROC2.VIRT_X2APIC | PROC2.APIC_REGISTER_VIRT | PROC2.VID);
      return `"use TPR shadow" is 0 (${show(c, PROC_F)}) but secondary controls${names("proc2", m)} are 1; set "use TPR shadow" with a valid virtual-APIC page or clear them`;
    },
  },
  // [R] Newer SDM revisions add "IPI virtualization" (tertiary bit 4) to the list of controls that need
  // "use TPR shadow"; not found verbatim in any retrieved source. IPI virtualization emulates ICR writes on the
  // virtual-APIC page, so it cannot work without one; KVM enables it only together with APICv.
  {
    id: "ctl.exec.ipiv-needs-tpr-shadow",
    sdm: SDM,
    cls: "control",
    fields: [PROC_N, PROC3_N],
    rule: '"use TPR shadow" = 0 requires "IPI virtualization" = 0',
    checklist: ["E18"],
    when: pred`(c.proc3 & ${PROC3.IPI_VIRT}) !== 0`,
    fail: pred`!${tprShadow}`,
    message: (c) =>
      `"IPI virtualization" (tertiary bit 4) is 1 but "use TPR shadow" is 0 (${show(c, PROC_F)}); set "use TPR shadow" or clear "IPI virtualization"`,
  },
  {
    id: "ctl.exec.x2apic-vs-apic-access",
    sdm: SDM,
    cls: "control",
    fields: [PROC_N, PROC2_N],
    rule: '"virtualize x2APIC mode" = 1 requires "virtualize APIC accesses" = 0',
    checklist: ["E19"],
    when: pred`(c.proc2 & ${PROC2.VIRT_X2APIC}) !== 0`,
    fail: pred`(c.proc2 & ${PROC2.VIRT_APIC_ACCESSES}) !== 0`,
    message: (c) =>
      `"virtualize x2APIC mode" and "virtualize APIC accesses" are both 1 (${show(c, PROC2_F)}); they are mutually exclusive, clear one`,
  },
  {
    id: "ctl.exec.vid-needs-ext-intr-exiting",
    sdm: SDM,
    cls: "control",
    fields: [PIN_N, PROC_N, PROC2_N],
    rule: '"virtual-interrupt delivery" = 1 requires "external-interrupt exiting" = 1',
    checklist: ["E20"],
    when: pred`(c.proc2 & ${PROC2.VID}) !== 0`,
    fail: pred`(c.pin & ${PIN.EXT_INTR}) === 0`,
    message: (c) =>
      `"virtual-interrupt delivery" is 1 but "external-interrupt exiting" is 0 (${show(c, PIN_F)}); set pin bit 0 or clear "virtual-interrupt delivery"`,
  },
  // Bochs tests E21–E25 only inside its "use TPR shadow" = 1 branch, so it accepts posted interrupts without
  // VID when TPR shadow is 0 (see docs/deviations.md); the SDM bullet has no such condition.
  {
    id: "ctl.exec.posted-intr-needs-vid",
    sdm: SDM,
    cls: "control",
    fields: [PIN_N, PROC_N, PROC2_N],
    rule: '"process posted interrupts" = 1 requires "virtual-interrupt delivery" = 1',
    checklist: ["E21"],
    group: "postedIntr",
    when: pred`${G.postedIntr}`,
    fail: pred`(c.proc2 & ${PROC2.VID}) === 0`,
    message: (c) =>
      `"process posted interrupts" is 1 but "virtual-interrupt delivery" is 0 (${PROC2_N}=${hex(c.proc2)}${
        (c.proc & PROC.SECONDARY) === 0 ? ", secondary controls not activated" : ""
      }); enable virtual-interrupt delivery or clear pin bit 7`,
  },
  {
    id: "ctl.exec.posted-intr-needs-ack-intr",
    sdm: SDM,
    cls: "control",
    fields: [PIN_N, "VM_EXIT_CONTROLS"],
    rule: '"process posted interrupts" = 1 requires the VM-exit control "acknowledge interrupt on exit" = 1',
    checklist: ["E22"],
    group: "postedIntr",
    when: pred`${G.postedIntr}`,
    fail: pred`(c.exit & ${EXIT.ACK_INTR}) === 0`,
    message: (c) =>
      `"process posted interrupts" is 1 but the VM-exit control "acknowledge interrupt on exit" is 0 (${show(c, EXIT_F)}); set exit bit 15 or clear pin bit 7`,
  },
  {
    id: "ctl.exec.posted-intr-vector",
    sdm: SDM,
    cls: "control",
    fields: ["POSTED_INTR_NV", PIN_N],
    rule: 'With "process posted interrupts" = 1, the posted-interrupt notification vector must be 0–255 (bits 15:8 = 0)',
    checklist: ["E23"],
    group: "postedIntr",
    when: pred`${G.postedIntr}`,
    fail: pred`(${lo(PI_NV)} & 0xff00) !== 0`,
    message: (c) =>
      `POSTED_INTR_NV=${hex(c.lo(PI_NV))} is not a vector: bits 15:8 must be 0 (value 0x0–0xff) with "process posted interrupts" = 1`,
  },
  ...addressChecks({
    stem: "posted-intr-desc",
    field: "POSTED_INTR_DESC_ADDR",
    what: "posted-interrupt descriptor address",
    gateText: '"process posted interrupts" = 1',
    group: "postedIntr",
    when: G.postedIntr,
    gateFields: [PIN_N],
    checklistAligned: ["E24"],
    checklistPhys: ["E25"],
    align: 6,
  }),
  {
    id: "ctl.exec.vpid-nonzero",
    sdm: SDM,
    cls: "control",
    fields: ["VIRTUAL_PROCESSOR_ID", PROC_N, PROC2_N],
    rule: 'With "enable VPID" = 1, the VPID must not be 0000H',
    checklist: ["E26"],
    when: pred`(c.proc2 & ${PROC2.VPID}) !== 0`,
    fail: pred`(${lo(VPID)} & 0xffff) === 0`,
    message: () =>
      'VIRTUAL_PROCESSOR_ID is 0 with "enable VPID" = 1; VPID 0 belongs to VMX root operation, use 1–0xffff',
  },
  // EPTP (SDM 25.6.11, Table 25-9; A.10 for the capabilities). One check per sub-bullet.
  {
    id: "ctl.exec.eptp-memory-type",
    sdm: SDM,
    cls: "control",
    fields: ["EPT_POINTER", PROC_N, PROC2_N],
    rule: 'With "enable EPT" = 1, EPTP bits 2:0 must be a supported EPT memory type (0 UC if EPT_VPID_CAP[8], 6 WB if [14])',
    checklist: ["E27"],
    group: "eptOn",
    when: pred`${G.eptOn}`,
    fail: pred`!${eptpTypeOk}`,
    message: (c) =>
      `${show(c, EPTP)}: memory type (bits 2:0) ${c.lo(EPTP) & 7} is not supported; this CPU allows ${supportedEptTypes(c)}`,
  },
  // The 2016 text requires 3; 5-level EPT (EPT_VPID_CAP[7]) allows 4 (KVM does the same).
  {
    id: "ctl.exec.eptp-walk-length",
    sdm: SDM,
    cls: "control",
    fields: ["EPT_POINTER", PROC_N, PROC2_N],
    rule: 'With "enable EPT" = 1, EPTP bits 5:3 (page-walk length − 1) must be supported: 3 if EPT_VPID_CAP[6], 4 if [7]',
    checklist: ["E28"],
    group: "eptOn",
    when: pred`${G.eptOn}`,
    fail: pred`!${eptpWalkOk}`,
    message: (c) =>
      `${show(c, EPTP)}: page-walk length − 1 (bits 5:3) is ${(c.lo(EPTP) >>> 3) & 7}; this CPU allows ${supportedWalks(c)}`,
  },
  {
    id: "ctl.exec.eptp-ad",
    sdm: SDM,
    cls: "control",
    fields: ["EPT_POINTER", PROC_N, PROC2_N],
    rule: 'With "enable EPT" = 1, EPTP bit 6 (accessed/dirty flags) must be 0 unless EPT_VPID_CAP[21]',
    checklist: ["E29"],
    group: "eptOn",
    when: pred`${G.eptOn} && (c.caps.eptCap & ${EPT_CAP.AD}) === 0`,
    fail: pred`(${lo(EPTP)} & 0x40) !== 0`,
    message: (c) =>
      `${show(c, EPTP)} enables EPT accessed/dirty flags (bit 6) but this CPU does not support them (IA32_VMX_EPT_VPID_CAP[21] = 0); clear bit 6`,
  },
  // Bit 7 enables supervisor shadow-stack control (CET); IA32_VMX_EPT_VPID_CAP[23] enumerates it (Bochs
  // init_ept_vpid_capabilities documents bit 23 the same way; Bochs itself tests CPUID CET instead).
  {
    id: "ctl.exec.eptp-sss",
    sdm: SDM,
    cls: "control",
    fields: ["EPT_POINTER", PROC_N, PROC2_N],
    rule: 'With "enable EPT" = 1, EPTP bit 7 (supervisor shadow-stack control) must be 0 unless EPT_VPID_CAP[23]',
    checklist: ["E30"],
    group: "eptOn",
    when: pred`${G.eptOn} && (c.caps.eptCap & ${EPT_CAP.SSS}) === 0`,
    fail: pred`(${lo(EPTP)} & 0x80) !== 0`,
    message: (c) =>
      `${show(c, EPTP)} sets bit 7 (supervisor shadow-stack control) but this CPU does not support it (IA32_VMX_EPT_VPID_CAP[23] = 0); clear bit 7`,
  },
  {
    id: "ctl.exec.eptp-reserved",
    sdm: SDM,
    cls: "control",
    fields: ["EPT_POINTER", PROC_N, PROC2_N],
    rule: 'With "enable EPT" = 1, EPTP reserved bits 11:8 must be 0',
    checklist: ["E31"],
    group: "eptOn",
    when: pred`${G.eptOn}`,
    fail: pred`(${lo(EPTP)} & 0xf00) !== 0`,
    message: (c) => `${show(c, EPTP)} sets reserved ${bitList(c.lo(EPTP) & 0xf00)}; bits 11:8 must be 0`,
  },
  {
    id: "ctl.exec.eptp-phys",
    sdm: SDM,
    cls: "control",
    fields: ["EPT_POINTER", PROC_N, PROC2_N],
    rule: 'With "enable EPT" = 1, EPTP must not set bits beyond the physical-address width (reserved bits 63:N)',
    checklist: ["E31"],
    group: "eptOn",
    when: pred`${G.eptOn}`,
    fail: pred`${beyondPhys(EPTP)}`,
    message: (c) => `${show(c, EPTP)} sets reserved bits beyond the physical-address width: ${physLimit(c)}`,
  },
  needsEpt("pml", "proc2", PROC2.PML, ["E32"]),
  ...addressChecks({
    stem: "pml",
    field: "PML_ADDRESS",
    what: "PML address",
    gateText: '"enable PML" = 1',
    when: code`(c.proc2 & ${PROC2.PML}) !== 0`,
    gateFields: [PROC_N, PROC2_N],
    checklistAligned: ["E33"],
    checklistPhys: ["E34"],
  }),
  needsEpt("unrestricted-guest", "proc2", PROC2.UNRESTRICTED_GUEST, ["E35"]),
  // Rev. 07x text (quoted by libvmm and others): "If either the 'unrestricted guest' VM-execution control or
  // the 'mode-based execute control for EPT' VM-execution control is 1, 'enable EPT' must also be 1".
  needsEpt("mbec", "proc2", PROC2.MBEC, ["E36"]),
  // Rev. 07x text: SPP = 1 requires EPT = 1, and the SPPTP must have bits 11:0 = 0 and fit the
  // physical-address width (verified against quoted SDM text; Bochs agrees).
  needsEpt("spp", "proc2", PROC2.SPP, ["E37"]),
  ...addressChecks({
    stem: "spptp",
    field: "SPP_TABLE_POINTER",
    what: "SPPTP",
    gateText: '"sub-page write permissions for EPT" = 1',
    when: code`(c.proc2 & ${PROC2.SPP}) !== 0`,
    gateFields: [PROC_N, PROC2_N],
    checklistAligned: ["E38"],
    checklistPhys: ["E38"],
  }),
  // SDM A.11: IA32_VMX_VMFUNC lists the VM functions that may be enabled. No check at all when "enable VM
  // functions" is 0.
  {
    id: "ctl.exec.vmfunc-reserved",
    sdm: SDM,
    cls: "control",
    fields: ["VM_FUNCTION_CONTROL", PROC_N, PROC2_N],
    rule: 'With "enable VM functions" = 1, reserved bits of the VM-function controls must be 0 (IA32_VMX_VMFUNC)',
    checklist: ["E39"],
    when: pred`(c.proc2 & ${PROC2.VMFUNC}) !== 0`,
    fail: pred`((${lo(VMFUNC_F)} & ~c.caps.vmfuncLo) | (${hi(VMFUNC_F)} & ~c.caps.vmfuncHi)) !== 0`,
    message: (c) => {
      const lo = (c.lo(VMFUNC_F) & ~c.caps.vmfuncLo) >>> 0;
      const hi = (c.hi(VMFUNC_F) & ~c.caps.vmfuncHi) >>> 0;
      const bits = [lo ? bitList(lo) : "", hi ? bitList(hi, 32) : ""].filter(Boolean).join(" and ");
      return `${show(c, VMFUNC_F)} enables unsupported VM functions (${bits}); IA32_VMX_VMFUNC allows ${hex64(c.caps.vmfuncLo, c.caps.vmfuncHi)}`;
    },
  },
  {
    ...needsEpt(
      "eptp-switching",
      "proc2",
      PROC2.VMFUNC,
      ["E40"],
      eptpSwitching,
      'the VM function "EPTP switching"',
    ),
    fields: [PROC_N, PROC2_N, "VM_FUNCTION_CONTROL"],
  },
  ...addressChecks({
    stem: "eptp-list",
    field: "EPTP_LIST_ADDRESS",
    what: "EPTP-list address",
    gateText: '"enable VM functions" = 1 and "EPTP switching" = 1',
    when: eptpSwitching,
    gateFields: [PROC_N, PROC2_N, "VM_FUNCTION_CONTROL"],
    checklistAligned: ["E41"],
    checklistPhys: ["E42"],
  }),
  ...addressChecks({
    stem: "vmread-bitmap",
    field: "VMREAD_BITMAP",
    what: "VMREAD-bitmap address",
    gateText: '"VMCS shadowing" = 1',
    group: "shadowVmcs",
    when: G.shadowVmcs,
    gateFields: [PROC_N, PROC2_N],
    checklistAligned: ["E43"],
    checklistPhys: ["E43"],
  }),
  ...addressChecks({
    stem: "vmwrite-bitmap",
    field: "VMWRITE_BITMAP",
    what: "VMWRITE-bitmap address",
    gateText: '"VMCS shadowing" = 1',
    group: "shadowVmcs",
    when: G.shadowVmcs,
    gateFields: [PROC_N, PROC2_N],
    checklistAligned: ["E44"],
    checklistPhys: ["E44"],
  }),
  ...addressChecks({
    stem: "ve-info",
    field: "VE_INFORMATION_ADDRESS",
    what: "virtualization-exception information address",
    gateText: '"EPT-violation #VE" = 1',
    when: code`(c.proc2 & ${PROC2.EPT_VE}) !== 0`,
    gateFields: [PROC_N, PROC2_N],
    checklistAligned: ["E45"],
    checklistPhys: ["E45"],
  }),
  // E46 verified: rev. 07x text (quoted by two VMCS validators) requires "enable EPT", the entry control
  // "load IA32_RTIT_CTL" and the exit control "clear IA32_RTIT_CTL" to be 1. Three independent conditions.
  needsEpt("pt-gpa", "proc2", PROC2.PT_USE_GPA, ["E46"]),
  {
    id: "ctl.exec.pt-gpa-needs-load-rtit-ctl",
    sdm: SDM,
    cls: "control",
    fields: [PROC_N, PROC2_N, "VM_ENTRY_CONTROLS"],
    rule: '"Intel PT uses guest physical addresses" = 1 requires the VM-entry control "load IA32_RTIT_CTL" = 1',
    checklist: ["E46"],
    when: pred`(c.proc2 & ${PROC2.PT_USE_GPA}) !== 0`,
    fail: pred`(c.entry & ${ENTRY.LOAD_RTIT_CTL}) === 0`,
    message: (c) =>
      `"Intel PT uses guest physical addresses" is 1 but the VM-entry control "load IA32_RTIT_CTL" is 0 (${show(c, ENTRY_F)}); set entry bit 18`,
  },
  {
    id: "ctl.exec.pt-gpa-needs-clear-rtit-ctl",
    sdm: SDM,
    cls: "control",
    fields: [PROC_N, PROC2_N, "VM_EXIT_CONTROLS"],
    rule: '"Intel PT uses guest physical addresses" = 1 requires the VM-exit control "clear IA32_RTIT_CTL" = 1',
    checklist: ["E46"],
    when: pred`(c.proc2 & ${PROC2.PT_USE_GPA}) !== 0`,
    fail: pred`(c.exit & ${EXIT.CLEAR_RTIT_CTL}) === 0`,
    message: (c) =>
      `"Intel PT uses guest physical addresses" is 1 but the VM-exit control "clear IA32_RTIT_CTL" is 0 (${show(c, EXIT_F)}); set exit bit 25`,
  },
  // Not in our checklist (it lists the TSC multiplier under "no check"), but the SDM has the bullet: rev. 07x
  // text quoted by libvmm ("If the 'use TSC scaling' VM-execution control is 1, the TSC-multiplier must not be
  // zero"), the KVM commit adding the same nested check quotes it, and Bochs enforces it.
  {
    id: "ctl.exec.tsc-multiplier-nonzero",
    sdm: SDM,
    cls: "control",
    fields: ["TSC_MULTIPLIER", PROC_N, PROC2_N],
    rule: 'With "use TSC scaling" = 1, the TSC multiplier must not be 0',
    when: pred`(c.proc2 & ${PROC2.TSC_SCALING}) !== 0`,
    fail: pred`(${lo(TSC_MULT)} | ${hi(TSC_MULT)}) === 0`,
    message: () =>
      'TSC_MULTIPLIER is 0 with "use TSC scaling" = 1; use a nonzero ratio (0x1000000000000 is 1.0 with 48 fraction bits)',
  },
  // [R] IPI virtualization: the PID-pointer table holds 8-byte entries; the checklist's recollection is that
  // VM entry requires bits 2:0 = 0 and no bits beyond the physical-address width. Not found in a retrieved
  // source (Bochs does not implement IPIv; KVM does not expose it to L1). The weaker 8-byte alignment is used
  // so that a correct VMCS is never rejected.
  ...addressChecks({
    stem: "pid-table",
    field: "PID_POINTER_TABLE",
    what: "PID-pointer table address",
    gateText: '"IPI virtualization" = 1',
    when: code`(c.proc3 & ${PROC3.IPI_VIRT}) !== 0`,
    gateFields: [PROC_N, PROC3_N],
    checklistAligned: ["E47"],
    checklistPhys: ["E47"],
    align: 3,
  }),
  // HLATP has the CR3 format except that bits 2:0 and 11:5 are reserved "and checked by VM entry" (SDM paging
  // chapter text, quoted in an SDM-notes repository); bits 4:3 are PWT/PCD. [R] for the width check and the
  // EPT requirement (HLAT paging produces guest-physical addresses, which only exist with EPT).
  ...addressChecks({
    stem: "hlatp",
    field: "HLAT_POINTER",
    what: "HLATP",
    gateText: '"enable HLAT" = 1',
    group: "hlatOn",
    when: G.hlatOn,
    gateFields: [PROC_N, PROC3_N],
    checklistAligned: ["E48"],
    checklistPhys: ["E49"],
    alignMask: 0xfe7,
    alignMaskText: "bits 2:0 and 11:5",
  }),
  needsEpt("hlat", "proc3", PROC3.HLAT, ["E50"]),
  needsEpt("ept-paging-write", "proc3", PROC3.EPT_PAGING_WRITE, ["E50"]),
  needsEpt("guest-paging-verify", "proc3", PROC3.GUEST_PAGING_VERIFY, ["E50"]),
  // [R] IA32_VMX_EPT_VPID_CAP[53:48] reports the maximum HLAT prefix size (Bochs documents the field); the
  // checklist's recollection is that VM entry rejects a larger prefix size.
  {
    id: "ctl.exec.hlat-prefix-size",
    sdm: SDM,
    cls: "control",
    fields: ["HLAT_PREFIX_SIZE", PROC_N, PROC3_N],
    rule: 'With "enable HLAT" = 1, the HLAT prefix size must not exceed IA32_VMX_EPT_VPID_CAP[53:48]',
    checklist: ["E50"],
    group: "hlatOn",
    when: pred`${G.hlatOn}`,
    fail: pred`(${lo(HLAT_PREFIX)} & 0xffff) > ${maxHlatPrefixCode}`,
    message: (c) =>
      `HLAT_PREFIX_SIZE=${c.lo(HLAT_PREFIX) & 0xffff} exceeds the maximum HLAT prefix size ${maxHlatPrefix(c)} this CPU reports (IA32_VMX_EPT_VPID_CAP[53:48]); use 0–${maxHlatPrefix(c)}`,
  },
];

export const execControlsChecks: readonly Check[] = checks.map(skipOnSmmReturn);
