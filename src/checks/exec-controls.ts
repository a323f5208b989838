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
import type { FieldName } from "../arch/fields.js";
import * as archMsrs from "../arch/msrs.js";
import { hex, hex64 } from "../util/u64.js";
import { Memory } from "../vmcs/memory.js";
import { allowedSettingsChecks } from "./allowed.js";
import { decoders } from "./compile.js";
import type { GroupName } from "./groups.js";
import { section } from "./rule.js";
import type { State } from "./state.js";
import * as util from "./util.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves predicates' names in this module (compile.ts).
const scope = (name: string): unknown => eval(name);

// Short local names for the imported tables and helpers.
const { ENTRY, EXIT, PIN, PROC, PROC2, PROC3, VMFUNC, controlBitNames } = archControls;
const { EPT_CAP, EPT_CAP_HI } = archMsrs;
const {
  beyondPhys,
  bitList,
  bitList64,
  controlNames: names,
  misaligned,
  physLimit,
  reservedBits,
  show,
} = util;

// SDM 34.15.4.2: a VM entry that returns from SMM (dual-monitor treatment) does not apply the checks of
// 29.2.1.1 to the current VMCS. Returning to VMX root operation (executive-VMCS pointer = VMXON pointer) it
// performs none; returning to non-root operation it applies them to the executive VMCS, failing with
// VMfailValid 25 (not modelled: the executive VMCS's contents are not part of the input). Either way no check
// of this module may fire on such an entry: the section's `unless`.
const { rule, checks } = section({
  scope,
  sdm: "29.2.1.1",
  title: "VM-execution control fields",
  cls: "control",
  unless: "smmReturn",
});

// ---------------------------------------------------------------------------------------------------------
// Decoders (predicates and messages share them).

const { tprShadow, eptpSwitching, vapicUsable, eptpType, eptpTypeOk, eptpWalk, eptpWalkOk, maxHlatPrefix } =
  decoders(scope, {
    /** "Use TPR shadow". */
    tprShadow: (s: State) => (s.proc & PROC.TPR_SHADOW) !== 0,
    /** "Enable VM functions" with the VM function "EPTP switching". */
    eptpSwitching: (s: State) =>
      (s.proc2 & PROC2.VMFUNC) !== 0 && (s.VM_FUNCTION_CONTROL & VMFUNC.EPTP_SWITCHING) !== 0,
    /** The virtual-APIC address passes E10/E11, so the VTPR byte can be read. */
    vapicUsable: (s: State) =>
      !misaligned(s.VIRTUAL_APIC_PAGE_ADDR, 12) &&
      !beyondPhys(s, s.VIRTUAL_APIC_PAGE_ADDR, s.hi.VIRTUAL_APIC_PAGE_ADDR),
    /** EPTP[2:0], the EPT paging-structure memory type. */
    eptpType: (s: State) => s.EPT_POINTER & 7,
    /** EPTP[2:0] is a memory type the CPU allows for EPT paging structures (UC needs CAP[8], WB CAP[14]). */
    eptpTypeOk: (s: State) =>
      (eptpType(s) === 0 && (s.caps.eptCap & EPT_CAP.UC) !== 0) ||
      (eptpType(s) === 6 && (s.caps.eptCap & EPT_CAP.WB) !== 0),
    /** EPTP[5:3], the page-walk length − 1. */
    eptpWalk: (s: State) => (s.EPT_POINTER >>> 3) & 7,
    /** EPTP[5:3] (walk length − 1): 3 needs CAP[6] (4-level), 4 needs CAP[7] (5-level). */
    eptpWalkOk: (s: State) =>
      (eptpWalk(s) === 3 && (s.caps.eptCap & EPT_CAP.PWL4) !== 0) ||
      (eptpWalk(s) === 4 && (s.caps.eptCap & EPT_CAP.PWL5) !== 0),
    /** IA32_VMX_EPT_VPID_CAP[53:48], the maximum HLAT prefix size. */
    maxHlatPrefix: (s: State) =>
      (s.caps.eptCapHi >>> EPT_CAP_HI.HLAT_PREFIX_SHIFT) & EPT_CAP_HI.HLAT_PREFIX_MASK,
  });

/** The VTPR byte (offset 80H of the virtual-APIC page, SDM 30.1.1). Messages only. */
const vtpr = (s: State) =>
  s.mem.read8(Memory.addr(s.VIRTUAL_APIC_PAGE_ADDR, s.hi.VIRTUAL_APIC_PAGE_ADDR) + 0x80);

function supportedEptTypes(s: State): string {
  const out: string[] = [];
  if (s.caps.eptCap & EPT_CAP.UC) out.push("0 (UC)");
  if (s.caps.eptCap & EPT_CAP.WB) out.push("6 (WB)");
  return out.length ? out.join(" or ") : "none (the CPU reports no EPT memory type)";
}

function supportedWalks(s: State): string {
  const out: string[] = [];
  if (s.caps.eptCap & EPT_CAP.PWL4) out.push("3 (4-level)");
  if (s.caps.eptCap & EPT_CAP.PWL5) out.push("4 (5-level)");
  return out.length ? out.join(" or ") : "none (the CPU reports no EPT page-walk length)";
}

/** `"name"` of one control bit. */
function ctl(word: Parameters<typeof controlBitNames>[0], bit: number): string {
  return `"${controlBitNames(word, bit)[0] ?? "?"}"`;
}

// ---------------------------------------------------------------------------------------------------------
// Factories for the recurring rules.

interface AddrSpec {
  /** id stem, e.g. "io-bitmap-a" */
  stem: string;
  field: FieldName;
  /** prose name for messages */
  what: string;
  /** the gate in prose, e.g. `"use I/O bitmaps" = 1` */
  gateText: string;
  /** the gate: a shared group, or the rule's own condition */
  group?: GroupName;
  when?: (s: State) => unknown;
  checklist: readonly [aligned: string, phys: string];
  /** alignment as log2 of bytes (default 12 = 4 KByte) */
  align?: number;
  /** bits that must be 0 for alignment when not a plain low mask (e.g. HLATP 2:0 and 11:5), and their prose */
  alignMask?: readonly [mask: number, text: string];
}

/** The two address rules of a pointer control: aligned, and within the physical-address width. */
function addressChecks(a: AddrSpec) {
  const align = a.align ?? 12;
  const mask = a.alignMask?.[0] ?? ((1 << align) - 1) >>> 0;
  const alignText = a.alignMask?.[1] ?? `bits ${align - 1}:0`;
  const gate = { ...(a.group ? { group: a.group } : {}), ...(a.when ? { when: a.when } : {}) };
  const p = { addr: a.field, mask };
  return [
    rule({
      id: `ctl.exec.${a.stem}-aligned`,
      rule: `With ${a.gateText}, ${alignText} of the ${a.what} must be 0`,
      checklist: [a.checklist[0]],
      ...gate,
      p,
      fail: (s, p) => s[p.addr] & p.mask,
      message: (s, bad) =>
        `${show(s, a.field)} sets ${bitList(bad)} but ${alignText} must be 0 with ${a.gateText}` +
        (a.alignMask === undefined ? ` (${1 << align}-byte aligned)` : ""),
    }),
    rule({
      id: `ctl.exec.${a.stem}-phys`,
      rule: `With ${a.gateText}, the ${a.what} must not set bits beyond the physical-address width`,
      checklist: [a.checklist[1]],
      ...gate,
      p,
      fail: (s, p) => beyondPhys(s, s[p.addr], s.hi[p.addr]),
      message: (s) =>
        `${show(s, a.field)} sets bits beyond the physical-address width with ${a.gateText}: ${physLimit(s)}`,
    }),
  ];
}

/** "control X = 1 requires enable EPT = 1" for a secondary/tertiary control (`when`: the control is 1). */
function needsEpt(stem: string, name: string, checklist: string, when: (s: State) => unknown) {
  return rule({
    id: `ctl.exec.${stem}-needs-ept`,
    rule: `${name} = 1 requires "enable EPT" = 1`,
    checklist: [checklist],
    when,
    fail: (s) => (s.proc2 & PROC2.EPT) === 0,
    message: (s) =>
      `${name} is 1 but "enable EPT" is 0 (SECONDARY_VM_EXEC_CONTROL=${hex(s.proc2)}${
        (s.proc & PROC.SECONDARY) === 0 ? ", secondary controls not activated" : ""
      }); set "enable EPT" (with a valid EPTP) or clear ${name}`,
  });
}

// ---------------------------------------------------------------------------------------------------------

export default checks([
  // SDM A.3.1, A.3.2: allowed settings of the pin-based and primary processor-based controls.
  allowedSettingsChecks(rule, {
    word: "pin",
    ids: ["ctl.exec.pin-allowed-0", "ctl.exec.pin-allowed-1"],
    checklist: ["E1"],
  }),
  allowedSettingsChecks(rule, {
    word: "proc",
    ids: ["ctl.exec.proc-allowed-0", "ctl.exec.proc-allowed-1"],
    checklist: ["E2"],
  }),
  // SDM A.3.3: IA32_VMX_PROCBASED_CTLS2 bits 31:0 are architecturally 0 (every secondary control may be 0);
  // the allowed-0 half is still honoured so that a profile that reports a must-be-1 bit is respected (Bochs
  // does the same). Not checked at all when "activate secondary controls" is 0.
  rule({
    id: "ctl.exec.proc2-reserved",
    rule: 'With "activate secondary controls" = 1, reserved bits of the secondary controls must be 0 (IA32_VMX_PROCBASED_CTLS2)',
    checklist: ["E3"],
    when: (s) => (s.proc & PROC.SECONDARY) !== 0,
    fail: (s) => (s.proc2 & ~s.caps.ctl.proc2.may1) | (~s.proc2 & s.caps.ctl.proc2.must1),
    message: (s) => {
      const bad1 = (s.proc2 & ~s.caps.ctl.proc2.may1) >>> 0;
      const bad0 = (~s.proc2 & s.caps.ctl.proc2.must1) >>> 0;
      const parts: string[] = [];
      if (bad1)
        parts.push(
          `sets ${bitList(bad1)}${names("proc2", bad1)}, not allowed to be 1 (allowed 1-settings ${hex(s.caps.ctl.proc2.may1)})`,
        );
      if (bad0) parts.push(`clears ${bitList(bad0)}, which this CPU requires to be 1`);
      return `${show(s, "SECONDARY_VM_EXEC_CONTROL")} ${parts.join(" and ")}`;
    },
  }),
  // SDM A.3.4: IA32_VMX_PROCBASED_CTLS3 reports the allowed 1-settings of all 64 tertiary controls (there
  // are no allowed-0 bits). Bochs checks the same; the 64-bit width is from the SDM field table.
  rule({
    id: "ctl.exec.proc3-reserved",
    rule: 'With "activate tertiary controls" = 1, reserved bits of the tertiary controls must be 0 (IA32_VMX_PROCBASED_CTLS3)',
    checklist: ["E4"],
    when: (s) => (s.proc & PROC.TERTIARY) !== 0,
    fail: (s) => (s.proc3 & ~s.caps.ctl.proc3.may1) | (s.proc3Hi & ~s.caps.ctl.proc3.may1Hi),
    message: (s) => {
      const lo = s.proc3 & ~s.caps.ctl.proc3.may1;
      const hi = s.proc3Hi & ~s.caps.ctl.proc3.may1Hi;
      return `${show(s, "TERTIARY_VM_EXEC_CONTROL")} sets ${bitList64(lo, hi)}${names("proc3", lo)}, not allowed to be 1 (IA32_VMX_PROCBASED_CTLS3 = ${hex64(s.caps.ctl.proc3.may1, s.caps.ctl.proc3.may1Hi)})`;
    },
  }),
  // The SDM says "not greater than 4" and points to IA32_VMX_MISC[24:16] for the number a CPU supports; we
  // use the profile's number (4 on every real CPU; KVM checks against what it advertises to L1).
  rule({
    id: "ctl.exec.cr3-target-count",
    rule: "The CR3-target count must not exceed the number of CR3-target values the CPU supports (IA32_VMX_MISC[24:16], 4)",
    checklist: ["E5"],
    fail: (s) => s.CR3_TARGET_COUNT > s.caps.cr3Targets,
    message: (s) =>
      `CR3_TARGET_COUNT=${s.CR3_TARGET_COUNT} exceeds the ${s.caps.cr3Targets} CR3-target values this CPU supports (IA32_VMX_MISC[24:16]); use 0–${s.caps.cr3Targets}`,
  }),
  addressChecks({
    stem: "io-bitmap-a",
    field: "IO_BITMAP_A",
    what: "I/O-bitmap A address",
    gateText: '"use I/O bitmaps" = 1',
    group: "ioBitmaps",
    checklist: ["E6", "E7"],
  }),
  addressChecks({
    stem: "io-bitmap-b",
    field: "IO_BITMAP_B",
    what: "I/O-bitmap B address",
    gateText: '"use I/O bitmaps" = 1',
    group: "ioBitmaps",
    checklist: ["E6", "E7"],
  }),
  addressChecks({
    stem: "msr-bitmap",
    field: "MSR_BITMAP",
    what: "MSR-bitmap address",
    gateText: '"use MSR bitmaps" = 1',
    when: (s) => (s.proc & PROC.USE_MSR_BITMAPS) !== 0,
    checklist: ["E8", "E9"],
  }),
  addressChecks({
    stem: "virtual-apic",
    field: "VIRTUAL_APIC_PAGE_ADDR",
    what: "virtual-APIC address",
    gateText: '"use TPR shadow" = 1',
    when: (s) => tprShadow(s),
    checklist: ["E10", "E11"],
  }),
  // With virtual-interrupt delivery the TPR threshold is not used (SDM 29.2.1.1, rev. 059 onwards).
  rule({
    id: "ctl.exec.tpr-threshold-reserved",
    rule: 'With "use TPR shadow" = 1 and "virtual-interrupt delivery" = 0, bits 31:4 of the TPR threshold must be 0',
    checklist: ["E12"],
    when: (s) => tprShadow(s) && (s.proc2 & PROC2.VID) === 0,
    fail: (s) => (s.TPR_THRESHOLD & 0xfffffff0) !== 0,
    message: (s) =>
      `TPR_THRESHOLD=${hex(s.TPR_THRESHOLD)} sets bits above 3:0 with "use TPR shadow" = 1 and "virtual-interrupt delivery" = 0; use a value 0x0–0xf`,
  }),
  // VTPR is byte 80H of the virtual-APIC page (SDM 30.1.1); the comparison uses VTPR bits 7:4. The check is
  // only meaningful once the virtual-APIC address itself is valid (E10/E11), so it is gated on that; the
  // SDM also lets VM entry clear VTPR bytes 3:1 at this point, which does not change bits 7:4.
  rule({
    id: "ctl.exec.tpr-threshold-vtpr",
    rule: 'With "use TPR shadow" = 1 and "virtualize APIC accesses" = "virtual-interrupt delivery" = 0, TPR threshold bits 3:0 must not exceed VTPR bits 7:4 (byte 80H of the virtual-APIC page)',
    checklist: ["E13"],
    when: (s) => tprShadow(s) && (s.proc2 & (PROC2.VIRT_APIC_ACCESSES | PROC2.VID)) === 0 && vapicUsable(s),
    fail: (s) =>
      (s.TPR_THRESHOLD & 0xf) >
      s.mem.read8(s.hi.VIRTUAL_APIC_PAGE_ADDR * 4294967296 + s.VIRTUAL_APIC_PAGE_ADDR + 0x80) >>> 4,
    message: (s) =>
      `TPR threshold bits 3:0 = ${s.TPR_THRESHOLD & 0xf} exceed VTPR bits 7:4 = ${vtpr(s) >>> 4} (VTPR byte ${hex(vtpr(s))} at virtual-APIC page ${hex64(s.VIRTUAL_APIC_PAGE_ADDR, s.hi.VIRTUAL_APIC_PAGE_ADDR)} + 0x80); lower the threshold to at most ${vtpr(s) >>> 4} or raise VTPR`,
  }),
  rule({
    id: "ctl.exec.virtual-nmis-need-nmi-exiting",
    rule: '"NMI exiting" = 0 requires "virtual NMIs" = 0',
    checklist: ["E14"],
    when: (s) => (s.pin & PIN.VIRTUAL_NMIS) !== 0,
    fail: (s) => (s.pin & PIN.NMI_EXITING) === 0,
    message: (s) =>
      `"virtual NMIs" is 1 but "NMI exiting" is 0 (${show(s, "PIN_BASED_VM_EXEC_CONTROL")}); set "NMI exiting" (pin bit 3) or clear "virtual NMIs" (pin bit 5)`,
  }),
  rule({
    id: "ctl.exec.nmi-window-needs-virtual-nmis",
    rule: '"virtual NMIs" = 0 requires "NMI-window exiting" = 0',
    checklist: ["E15"],
    when: (s) => (s.proc & PROC.NMI_WINDOW) !== 0,
    fail: (s) => (s.pin & PIN.VIRTUAL_NMIS) === 0,
    message: (s) =>
      `"NMI-window exiting" (primary bit 22) is 1 but "virtual NMIs" is 0 (${show(s, "PIN_BASED_VM_EXEC_CONTROL")}); set "virtual NMIs" (with "NMI exiting") or clear "NMI-window exiting"`,
  }),
  addressChecks({
    stem: "apic-access",
    field: "APIC_ACCESS_ADDR",
    what: "APIC-access address",
    gateText: '"virtualize APIC accesses" = 1',
    when: (s) => (s.proc2 & PROC2.VIRT_APIC_ACCESSES) !== 0,
    checklist: ["E16", "E17"],
  }),
  rule({
    id: "ctl.exec.apicv-needs-tpr-shadow",
    rule: '"use TPR shadow" = 0 requires "virtualize x2APIC mode", "APIC-register virtualization" and "virtual-interrupt delivery" = 0',
    checklist: ["E18"],
    when: (s) => s.proc2 & (PROC2.VIRT_X2APIC | PROC2.APIC_REGISTER_VIRT | PROC2.VID),
    fail: (s) => !tprShadow(s),
    message: (s) =>
      `"use TPR shadow" is 0 (${show(s, "CPU_BASED_VM_EXEC_CONTROL")}) but secondary controls${names("proc2", s.proc2 & (PROC2.VIRT_X2APIC | PROC2.APIC_REGISTER_VIRT | PROC2.VID))} are 1; set "use TPR shadow" with a valid virtual-APIC page or clear them`,
  }),
  // [R] Newer SDM revisions add "IPI virtualization" (tertiary bit 4) to the list of controls that need
  // "use TPR shadow"; not found verbatim in any retrieved source. IPI virtualization emulates ICR writes on the
  // virtual-APIC page, so it cannot work without one; KVM enables it only together with APICv.
  rule({
    id: "ctl.exec.ipiv-needs-tpr-shadow",
    rule: '"use TPR shadow" = 0 requires "IPI virtualization" = 0',
    checklist: ["E18"],
    when: (s) => (s.proc3 & PROC3.IPI_VIRT) !== 0,
    fail: (s) => !tprShadow(s),
    message: (s) =>
      `"IPI virtualization" (tertiary bit 4) is 1 but "use TPR shadow" is 0 (${show(s, "CPU_BASED_VM_EXEC_CONTROL")}); set "use TPR shadow" or clear "IPI virtualization"`,
  }),
  rule({
    id: "ctl.exec.x2apic-vs-apic-access",
    rule: '"virtualize x2APIC mode" = 1 requires "virtualize APIC accesses" = 0',
    checklist: ["E19"],
    when: (s) => (s.proc2 & PROC2.VIRT_X2APIC) !== 0,
    fail: (s) => (s.proc2 & PROC2.VIRT_APIC_ACCESSES) !== 0,
    message: (s) =>
      `"virtualize x2APIC mode" and "virtualize APIC accesses" are both 1 (${show(s, "SECONDARY_VM_EXEC_CONTROL")}); they are mutually exclusive, clear one`,
  }),
  rule({
    id: "ctl.exec.vid-needs-ext-intr-exiting",
    rule: '"virtual-interrupt delivery" = 1 requires "external-interrupt exiting" = 1',
    checklist: ["E20"],
    when: (s) => (s.proc2 & PROC2.VID) !== 0,
    fail: (s) => (s.pin & PIN.EXT_INTR) === 0,
    message: (s) =>
      `"virtual-interrupt delivery" is 1 but "external-interrupt exiting" is 0 (${show(s, "PIN_BASED_VM_EXEC_CONTROL")}); set pin bit 0 or clear "virtual-interrupt delivery"`,
  }),
  // Bochs tests E21–E25 only inside its "use TPR shadow" = 1 branch, so it accepts posted interrupts without
  // VID when TPR shadow is 0 (see docs/deviations.md); the SDM bullet has no such condition.
  rule({
    id: "ctl.exec.posted-intr-needs-vid",
    rule: '"process posted interrupts" = 1 requires "virtual-interrupt delivery" = 1',
    checklist: ["E21"],
    group: "postedIntr",
    fail: (s) => (s.proc2 & PROC2.VID) === 0,
    message: (s) =>
      `"process posted interrupts" is 1 but "virtual-interrupt delivery" is 0 (SECONDARY_VM_EXEC_CONTROL=${hex(s.proc2)}${
        (s.proc & PROC.SECONDARY) === 0 ? ", secondary controls not activated" : ""
      }); enable virtual-interrupt delivery or clear pin bit 7`,
  }),
  rule({
    id: "ctl.exec.posted-intr-needs-ack-intr",
    rule: '"process posted interrupts" = 1 requires the VM-exit control "acknowledge interrupt on exit" = 1',
    checklist: ["E22"],
    group: "postedIntr",
    fail: (s) => (s.exit & EXIT.ACK_INTR) === 0,
    message: (s) =>
      `"process posted interrupts" is 1 but the VM-exit control "acknowledge interrupt on exit" is 0 (${show(s, "VM_EXIT_CONTROLS")}); set exit bit 15 or clear pin bit 7`,
  }),
  rule({
    id: "ctl.exec.posted-intr-vector",
    rule: 'With "process posted interrupts" = 1, the posted-interrupt notification vector must be 0–255 (bits 15:8 = 0)',
    checklist: ["E23"],
    group: "postedIntr",
    fail: (s) => (s.POSTED_INTR_NV & 0xff00) !== 0,
    message: (s) =>
      `POSTED_INTR_NV=${hex(s.POSTED_INTR_NV)} is not a vector: bits 15:8 must be 0 (value 0x0–0xff) with "process posted interrupts" = 1`,
  }),
  addressChecks({
    stem: "posted-intr-desc",
    field: "POSTED_INTR_DESC_ADDR",
    what: "posted-interrupt descriptor address",
    gateText: '"process posted interrupts" = 1',
    group: "postedIntr",
    checklist: ["E24", "E25"],
    align: 6,
  }),
  rule({
    id: "ctl.exec.vpid-nonzero",
    rule: 'With "enable VPID" = 1, the VPID must not be 0000H',
    checklist: ["E26"],
    when: (s) => (s.proc2 & PROC2.VPID) !== 0,
    fail: (s) => (s.VIRTUAL_PROCESSOR_ID & 0xffff) === 0,
    message: () =>
      'VIRTUAL_PROCESSOR_ID is 0 with "enable VPID" = 1; VPID 0 belongs to VMX root operation, use 1–0xffff',
  }),
  // EPTP (SDM 25.6.11, Table 25-9; A.10 for the capabilities). One check per sub-bullet.
  rule({
    id: "ctl.exec.eptp-memory-type",
    rule: 'With "enable EPT" = 1, EPTP bits 2:0 must be a supported EPT memory type (0 UC if EPT_VPID_CAP[8], 6 WB if [14])',
    checklist: ["E27"],
    group: "eptOn",
    fail: (s) => !eptpTypeOk(s),
    message: (s) =>
      `${show(s, "EPT_POINTER")}: memory type (bits 2:0) ${eptpType(s)} is not supported; this CPU allows ${supportedEptTypes(s)}`,
  }),
  // The 2016 text requires 3; 5-level EPT (EPT_VPID_CAP[7]) allows 4 (KVM does the same).
  rule({
    id: "ctl.exec.eptp-walk-length",
    rule: 'With "enable EPT" = 1, EPTP bits 5:3 (page-walk length − 1) must be supported: 3 if EPT_VPID_CAP[6], 4 if [7]',
    checklist: ["E28"],
    group: "eptOn",
    fail: (s) => !eptpWalkOk(s),
    message: (s) =>
      `${show(s, "EPT_POINTER")}: page-walk length − 1 (bits 5:3) is ${eptpWalk(s)}; this CPU allows ${supportedWalks(s)}`,
  }),
  rule({
    id: "ctl.exec.eptp-ad",
    rule: 'With "enable EPT" = 1, EPTP bit 6 (accessed/dirty flags) must be 0 unless EPT_VPID_CAP[21]',
    checklist: ["E29"],
    group: "eptOn",
    when: (s) => (s.caps.eptCap & EPT_CAP.AD) === 0,
    fail: (s) => (s.EPT_POINTER & 0x40) !== 0,
    message: (s) =>
      `${show(s, "EPT_POINTER")} enables EPT accessed/dirty flags (bit 6) but this CPU does not support them (IA32_VMX_EPT_VPID_CAP[21] = 0); clear bit 6`,
  }),
  // Bit 7 enables supervisor shadow-stack control (CET); IA32_VMX_EPT_VPID_CAP[23] enumerates it (Bochs
  // init_ept_vpid_capabilities documents bit 23 the same way; Bochs itself tests CPUID CET instead).
  rule({
    id: "ctl.exec.eptp-sss",
    rule: 'With "enable EPT" = 1, EPTP bit 7 (supervisor shadow-stack control) must be 0 unless EPT_VPID_CAP[23]',
    checklist: ["E30"],
    group: "eptOn",
    when: (s) => (s.caps.eptCap & EPT_CAP.SSS) === 0,
    fail: (s) => (s.EPT_POINTER & 0x80) !== 0,
    message: (s) =>
      `${show(s, "EPT_POINTER")} sets bit 7 (supervisor shadow-stack control) but this CPU does not support it (IA32_VMX_EPT_VPID_CAP[23] = 0); clear bit 7`,
  }),
  rule({
    id: "ctl.exec.eptp-reserved",
    rule: 'With "enable EPT" = 1, EPTP reserved bits 11:8 must be 0',
    checklist: ["E31"],
    group: "eptOn",
    fail: (s) => s.EPT_POINTER & 0xf00,
    message: (s, bad) => `${reservedBits(s, "EPT_POINTER", bad)}; bits 11:8 must be 0`,
  }),
  rule({
    id: "ctl.exec.eptp-phys",
    rule: 'With "enable EPT" = 1, EPTP must not set bits beyond the physical-address width (reserved bits 63:N)',
    checklist: ["E31"],
    group: "eptOn",
    fail: (s) => beyondPhys(s, s.EPT_POINTER, s.hi.EPT_POINTER),
    message: (s) =>
      `${show(s, "EPT_POINTER")} sets reserved bits beyond the physical-address width: ${physLimit(s)}`,
  }),
  needsEpt("pml", ctl("proc2", PROC2.PML), "E32", (s) => (s.proc2 & PROC2.PML) !== 0),
  addressChecks({
    stem: "pml",
    field: "PML_ADDRESS",
    what: "PML address",
    gateText: '"enable PML" = 1',
    when: (s) => (s.proc2 & PROC2.PML) !== 0,
    checklist: ["E33", "E34"],
  }),
  needsEpt(
    "unrestricted-guest",
    ctl("proc2", PROC2.UNRESTRICTED_GUEST),
    "E35",
    (s) => (s.proc2 & PROC2.UNRESTRICTED_GUEST) !== 0,
  ),
  // Rev. 07x text (quoted by libvmm and others): "If either the 'unrestricted guest' VM-execution control or
  // the 'mode-based execute control for EPT' VM-execution control is 1, 'enable EPT' must also be 1".
  needsEpt("mbec", ctl("proc2", PROC2.MBEC), "E36", (s) => (s.proc2 & PROC2.MBEC) !== 0),
  // Rev. 07x text: SPP = 1 requires EPT = 1, and the SPPTP must have bits 11:0 = 0 and fit the
  // physical-address width (verified against quoted SDM text; Bochs agrees).
  needsEpt("spp", ctl("proc2", PROC2.SPP), "E37", (s) => (s.proc2 & PROC2.SPP) !== 0),
  addressChecks({
    stem: "spptp",
    field: "SPP_TABLE_POINTER",
    what: "SPPTP",
    gateText: '"sub-page write permissions for EPT" = 1',
    when: (s) => (s.proc2 & PROC2.SPP) !== 0,
    checklist: ["E38", "E38"],
  }),
  // SDM A.11: IA32_VMX_VMFUNC lists the VM functions that may be enabled. No check at all when "enable VM
  // functions" is 0.
  rule({
    id: "ctl.exec.vmfunc-reserved",
    rule: 'With "enable VM functions" = 1, reserved bits of the VM-function controls must be 0 (IA32_VMX_VMFUNC)',
    checklist: ["E39"],
    when: (s) => (s.proc2 & PROC2.VMFUNC) !== 0,
    fail: (s) => (s.VM_FUNCTION_CONTROL & ~s.caps.vmfuncLo) | (s.hi.VM_FUNCTION_CONTROL & ~s.caps.vmfuncHi),
    message: (s) =>
      `${show(s, "VM_FUNCTION_CONTROL")} enables unsupported VM functions (${bitList64(s.VM_FUNCTION_CONTROL & ~s.caps.vmfuncLo, s.hi.VM_FUNCTION_CONTROL & ~s.caps.vmfuncHi)}); IA32_VMX_VMFUNC allows ${hex64(s.caps.vmfuncLo, s.caps.vmfuncHi)}`,
  }),
  needsEpt("eptp-switching", 'the VM function "EPTP switching"', "E40", (s) => eptpSwitching(s)),
  addressChecks({
    stem: "eptp-list",
    field: "EPTP_LIST_ADDRESS",
    what: "EPTP-list address",
    gateText: '"enable VM functions" = 1 and "EPTP switching" = 1',
    when: (s) => eptpSwitching(s),
    checklist: ["E41", "E42"],
  }),
  addressChecks({
    stem: "vmread-bitmap",
    field: "VMREAD_BITMAP",
    what: "VMREAD-bitmap address",
    gateText: '"VMCS shadowing" = 1',
    group: "shadowVmcs",
    checklist: ["E43", "E43"],
  }),
  addressChecks({
    stem: "vmwrite-bitmap",
    field: "VMWRITE_BITMAP",
    what: "VMWRITE-bitmap address",
    gateText: '"VMCS shadowing" = 1',
    group: "shadowVmcs",
    checklist: ["E44", "E44"],
  }),
  addressChecks({
    stem: "ve-info",
    field: "VE_INFORMATION_ADDRESS",
    what: "virtualization-exception information address",
    gateText: '"EPT-violation #VE" = 1',
    when: (s) => (s.proc2 & PROC2.EPT_VE) !== 0,
    checklist: ["E45", "E45"],
  }),
  // E46 verified: rev. 07x text (quoted by two VMCS validators) requires "enable EPT", the entry control
  // "load IA32_RTIT_CTL" and the exit control "clear IA32_RTIT_CTL" to be 1. Three independent conditions.
  needsEpt("pt-gpa", ctl("proc2", PROC2.PT_USE_GPA), "E46", (s) => (s.proc2 & PROC2.PT_USE_GPA) !== 0),
  rule({
    id: "ctl.exec.pt-gpa-needs-load-rtit-ctl",
    rule: '"Intel PT uses guest physical addresses" = 1 requires the VM-entry control "load IA32_RTIT_CTL" = 1',
    checklist: ["E46"],
    when: (s) => (s.proc2 & PROC2.PT_USE_GPA) !== 0,
    fail: (s) => (s.entry & ENTRY.LOAD_RTIT_CTL) === 0,
    message: (s) =>
      `"Intel PT uses guest physical addresses" is 1 but the VM-entry control "load IA32_RTIT_CTL" is 0 (${show(s, "VM_ENTRY_CONTROLS")}); set entry bit 18`,
  }),
  rule({
    id: "ctl.exec.pt-gpa-needs-clear-rtit-ctl",
    rule: '"Intel PT uses guest physical addresses" = 1 requires the VM-exit control "clear IA32_RTIT_CTL" = 1',
    checklist: ["E46"],
    when: (s) => (s.proc2 & PROC2.PT_USE_GPA) !== 0,
    fail: (s) => (s.exit & EXIT.CLEAR_RTIT_CTL) === 0,
    message: (s) =>
      `"Intel PT uses guest physical addresses" is 1 but the VM-exit control "clear IA32_RTIT_CTL" is 0 (${show(s, "VM_EXIT_CONTROLS")}); set exit bit 25`,
  }),
  // Not in our checklist (it lists the TSC multiplier under "no check"), but the SDM has the bullet: rev. 07x
  // text quoted by libvmm ("If the 'use TSC scaling' VM-execution control is 1, the TSC-multiplier must not be
  // zero"), the KVM commit adding the same nested check quotes it, and Bochs enforces it.
  rule({
    id: "ctl.exec.tsc-multiplier-nonzero",
    rule: 'With "use TSC scaling" = 1, the TSC multiplier must not be 0',
    when: (s) => (s.proc2 & PROC2.TSC_SCALING) !== 0,
    fail: (s) => (s.TSC_MULTIPLIER | s.hi.TSC_MULTIPLIER) === 0,
    message: () =>
      'TSC_MULTIPLIER is 0 with "use TSC scaling" = 1; use a nonzero ratio (0x1000000000000 is 1.0 with 48 fraction bits)',
  }),
  // [R] IPI virtualization: the PID-pointer table holds 8-byte entries; the checklist's recollection is that
  // VM entry requires bits 2:0 = 0 and no bits beyond the physical-address width. Not found in a retrieved
  // source (Bochs does not implement IPIv; KVM does not expose it to L1). The weaker 8-byte alignment is used
  // so that a correct VMCS is never rejected.
  addressChecks({
    stem: "pid-table",
    field: "PID_POINTER_TABLE",
    what: "PID-pointer table address",
    gateText: '"IPI virtualization" = 1',
    when: (s) => (s.proc3 & PROC3.IPI_VIRT) !== 0,
    checklist: ["E47", "E47"],
    align: 3,
  }),
  // HLATP has the CR3 format except that bits 2:0 and 11:5 are reserved "and checked by VM entry" (SDM paging
  // chapter text, quoted in an SDM-notes repository); bits 4:3 are PWT/PCD. [R] for the width check and the
  // EPT requirement (HLAT paging produces guest-physical addresses, which only exist with EPT).
  addressChecks({
    stem: "hlatp",
    field: "HLAT_POINTER",
    what: "HLATP",
    gateText: '"enable HLAT" = 1',
    group: "hlatOn",
    checklist: ["E48", "E49"],
    alignMask: [0xfe7, "bits 2:0 and 11:5"],
  }),
  needsEpt("hlat", ctl("proc3", PROC3.HLAT), "E50", (s) => (s.proc3 & PROC3.HLAT) !== 0),
  needsEpt(
    "ept-paging-write",
    ctl("proc3", PROC3.EPT_PAGING_WRITE),
    "E50",
    (s) => (s.proc3 & PROC3.EPT_PAGING_WRITE) !== 0,
  ),
  needsEpt(
    "guest-paging-verify",
    ctl("proc3", PROC3.GUEST_PAGING_VERIFY),
    "E50",
    (s) => (s.proc3 & PROC3.GUEST_PAGING_VERIFY) !== 0,
  ),
  // [R] IA32_VMX_EPT_VPID_CAP[53:48] reports the maximum HLAT prefix size (Bochs documents the field); the
  // checklist's recollection is that VM entry rejects a larger prefix size.
  rule({
    id: "ctl.exec.hlat-prefix-size",
    rule: 'With "enable HLAT" = 1, the HLAT prefix size must not exceed IA32_VMX_EPT_VPID_CAP[53:48]',
    checklist: ["E50"],
    group: "hlatOn",
    fail: (s) => (s.HLAT_PREFIX_SIZE & 0xffff) > maxHlatPrefix(s),
    message: (s) =>
      `HLAT_PREFIX_SIZE=${s.HLAT_PREFIX_SIZE & 0xffff} exceeds the maximum HLAT prefix size ${maxHlatPrefix(s)} this CPU reports (IA32_VMX_EPT_VPID_CAP[53:48]); use 0–${maxHlatPrefix(s)}`,
  }),
]);
