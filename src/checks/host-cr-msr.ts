/**
 * SDM 29.2.2 "Checks on Host Control Registers, MSRs, and SSP". Every failure is VMfailValid with error 8
 * (VM entry with invalid host-state field). The checks that depend on the "host address-space size" exit
 * control (CET S_CET/SSP width, and the rest of 29.2.4) live in address-space.ts.
 *
 * Evidence notes (checklist items H1–H20 of sdm-checks.md):
 * - H1/H2: the fixed bits come from IA32_VMX_CR0_FIXED0/1 and IA32_VMX_CR4_FIXED0/1 (SDM 25.8, A.7, A.8).
 *   CR0.NW (29) and CD (30) are exempt: the SDM footnote says they are never checked because VM exit does
 *   not change them.
 * - H3 (CR4.CET ⇒ CR0.WP) is unconditional in the SDM text ("If bit 23 in the CR4 field (corresponding to
 *   CET) is 1, bit 16 in the CR0 field (WP) must also be 1", quoted from 25.2.2 by a public hypervisor);
 *   KVM checks it unconditionally, Bochs only under "load CET state" (see docs/deviations.md).
 * - H4 [LAM]: the LAM architecture lets CR3 bits 62:61 (LAM_U57/LAM_U48) be 1 when LAM is supported; KVM's
 *   `kvm_vcpu_is_legal_cr3` accepts them for a LAM-capable vCPU. Verified against KVM only (no SDM text at
 *   hand); gated on the profile flag `lam`.
 * - H5/H6 and every other canonical check on an MSR/base field here use the processor's maximum linear-address
 *   width (57 with 5-level paging), independent of CR4.LA57: KVM's `is_noncanonical_msr_address`, after KVM
 *   found by experiment that Intel CPUs ignore CR4.LA57 for these fields.
 * - H7–H11 [CET]: KVM's CET series (Chao Gao, 2025) summarises the SDM: S_CET reserved bits 9:6 clear and not
 *   both SUPPRESS (10) and TRACKER (11); SSP bits 1:0 clear; IA32_INTERRUPT_SSP_TABLE_ADDR canonical; S_CET
 *   and SSP canonical with HASS=1 and bits 63:32 clear with HASS=0 (those two are in address-space.ts).
 *   Bochs agrees.
 * - H16 [PKS]: bits 63:32 of IA32_PKRS must be 0 (Bochs, KVM).
 * - H17–H19 [FRED]: IA32_FRED_CONFIG bits 2, 5:4, 11 reserved and the value canonical; RSP1–3 canonical and
 *   64-byte aligned; SSP1–3 canonical and 8-byte aligned; no check on FRED_STKLVLS (Bochs; KVM FRED series;
 *   kvm-unit-tests confirm error 8 for CONFIG bit 2). Bochs applies them whenever "load FRED" is 1; KVM
 *   only when HASS=1 — we follow Bochs (see docs/deviations.md). Bochs does not check CONFIG canonicality;
 *   KVM does, and WRMSR would fault on a non-canonical CONFIG, so we check it.
 * - H20 [SPEC_CTRL]: the value must be one WRMSR accepts (Bochs, after Intel ISE 319433-052); the valid bits
 *   come from the profile (`specCtrlValid`). SDM text not retrieved: treat as [S].
 */
import * as archControls from "../arch/controls.js";
import * as archFields from "../arch/fields.js";
import * as archRegisters from "../arch/registers.js";
import * as u64 from "../util/u64.js";
import { G } from "./groups.js";
import { type Code, canonical, code, compileValue, hi, lo, misaligned, pred } from "./pred.js";
import type { Check } from "./types.js";
import * as util from "./util.js";

// Short local names for the imported tables and helpers.
const { EXIT, EXIT2 } = archControls;
const { F } = archFields;
const { CET_CTL, CR0, CR4, EFER, FRED_CONFIG_RESERVED } = archRegisters;
const { hex64 } = u64;
const { bitList, eferValidLo, eferValidText, hostAddrSpaceSize, physLimit, show } = util;

/** CR0 bits exempt from the host fixed-bit check (SDM 29.2.2 footnote: NW and CD are never checked). */
const CR0_UNCHECKED = CR0.NW | CR0.CD;

/** CR3 bits 62:61 (LAM_U57, LAM_U48) as bits of the high half. */
const CR3_LAM_HI = 3 << 29;

/** Memory types valid in a PAT entry, as a bit set over 0..7: UC(0) WC(1) WT(4) WP(5) WB(6) UC-(7). */
const PAT_TYPES = 0xf3;

/** A PAT entry (one byte) that is not a valid memory type (message). */
function patByteBad(b: number): boolean {
  return b > 7 || ((PAT_TYPES >>> b) & 1) === 0;
}

/**
 * Four PAT entries (one 32-bit half of IA32_PAT) hold an invalid memory type: some byte is above 7 (bits 7:3
 * set), or is 2 or 3 (bit 1 set, bit 2 clear: `x & ~(x >>> 1)` puts bit 1 and NOT bit 2 of each byte
 * together at its bit 1). Byte-parallel form of `patByteBad` over PAT_TYPES = 0xf3 (invalid: 2, 3, > 7).
 */
const patHalfBad = (x: Code): Code =>
  code`(${x} & 0xf8f8f8f8) !== 0 || (${x} & ~(${x} >>> 1) & 0x02020202) !== 0`;

// The bits a fixed-bit violation reports, as predicate source; the messages use the same expressions compiled.
const CR0_UNSET = code`c.caps.cr0Fixed0 & ~${lo(F.HOST_CR0!)} & ~${CR0_UNCHECKED}`;
const CR0_SET = code`${lo(F.HOST_CR0!)} & ~c.caps.cr0Fixed1 & ~${CR0_UNCHECKED}`;
const CR4_UNSET = code`c.caps.cr4Fixed0 & ~${lo(F.HOST_CR4!)}`;
const CR4_SET = code`${lo(F.HOST_CR4!)} & ~c.caps.cr4Fixed1`;
const cr0MustBe1 = compileValue(CR0_UNSET);
const cr0MustBe0 = compileValue(CR0_SET);
const cr4MustBe1 = compileValue(CR4_UNSET);
const cr4MustBe0 = compileValue(CR4_SET);

/** Any CR0 bit against IA32_VMX_CR0_FIXED0/1, bits 31:0 and 63:32 (non-zero = bad). */
const cr0Bad = code`${CR0_UNSET} | ${CR0_SET} | (${hi(F.HOST_CR0!)} & ~c.caps.cr0Fixed1Hi)`;
/** Any CR4 bit against IA32_VMX_CR4_FIXED0/1, bits 31:0 and 63:32 (non-zero = bad). */
const cr4Bad = code`${CR4_UNSET} | ${CR4_SET} | (${hi(F.HOST_CR4!)} & ~c.caps.cr4Fixed1Hi)`;

/** Bits 63:32 of CR3 that are set but must be 0: bits 63:52 and 51:MAXPHYADDR, except LAM bits 62:61. */
const cr3Reserved = code`${hi(F.HOST_CR3!)} & c.caps.physReservedHi & ~(c.caps.lam ? ${CR3_LAM_HI} : 0)`;
const cr3ReservedHi = compileValue(cr3Reserved);

/** The "host address-space size" exit control is 1. */
const hass = util.HASS;

/** "bits a, b must be 1/0" text for the lo/hi halves of a fixed-bit violation. */
function fixedText(must1: number, must0Lo: number, must0Hi: number): string {
  const parts: string[] = [];
  if (must1) parts.push(`${bitList(must1)} must be 1`);
  if (must0Lo) parts.push(`${bitList(must0Lo)} must be 0`);
  if (must0Hi) parts.push(`${bitList(must0Hi, 32)} must be 0`);
  return parts.join("; ");
}

const loadCet = pred`${G.hostLoadCet}`;
const loadFred = pred`${G.hostLoadFred}`;

/** The three FRED stack-pointer MSRs of one kind, as per-register checks (names are built once). */
function fredStackChecks(kind: "RSP" | "SSP", align: number, checklist: string): Check[] {
  const out: Check[] = [];
  for (const n of [1, 2, 3]) {
    const name = `HOST_IA32_FRED_${kind}${n}`;
    const i = F[name]!;
    const lower = kind.toLowerCase();
    const bytes = 1 << align;
    const mask = bytes - 1;
    out.push(
      {
        id: `host.fred-${lower}${n}.canonical`,
        sdm: "29.2.2",
        cls: "host",
        fields: [name, "VM_EXIT_CONTROLS", "SECONDARY_VM_EXIT_CONTROLS"],
        rule: `If "load FRED" (secondary exit control 1) is 1, the IA32_FRED_${kind}${n} field must be canonical`,
        checklist: [checklist],
        group: "hostLoadFred",
        when: loadFred,
        fail: pred`!${canonical(i)}`,
        message: (c) =>
          `${show(c, i)} is not canonical for a ${c.caps.linearAddressBits}-bit linear-address width while "load FRED" is 1; bits 63:${c.caps.linearAddressBits - 1} must all equal bit ${c.caps.linearAddressBits - 1}`,
      },
      {
        id: `host.fred-${lower}${n}.alignment`,
        sdm: "29.2.2",
        cls: "host",
        fields: [name, "VM_EXIT_CONTROLS", "SECONDARY_VM_EXIT_CONTROLS"],
        rule: `If "load FRED" is 1, bits ${align - 1}:0 of the IA32_FRED_${kind}${n} field must be 0 (${bytes}-byte aligned)`,
        checklist: [checklist],
        group: "hostLoadFred",
        when: loadFred,
        fail: pred`${misaligned(i, align)}`,
        message: (c) =>
          `${show(c, i)} is not ${bytes}-byte aligned while "load FRED" is 1; bits ${align - 1}:0 must be 0 (e.g. ${hex64(c.lo(i) & ~mask, c.hi(i))})`,
      },
    );
  }
  return out;
}

export const hostCrMsrChecks: readonly Check[] = [
  {
    id: "host.cr0.fixed-bits",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_CR0"],
    rule: "The host CR0 field must not set any bit to a value not supported in VMX operation (IA32_VMX_CR0_FIXED0/1; NW and CD are not checked)",
    checklist: ["H1"],
    fail: pred`${cr0Bad} !== 0`,
    message: (c) =>
      `${show(c, F.HOST_CR0)} violates the VMX fixed bits (IA32_VMX_CR0_FIXED0=0x${(c.caps.cr0Fixed0 >>> 0).toString(16)}, FIXED1=${hex64(c.caps.cr0Fixed1, c.caps.cr0Fixed1Hi)}): ${fixedText(cr0MustBe1(c), cr0MustBe0(c), c.hi(F.HOST_CR0) & ~c.caps.cr0Fixed1Hi)}`,
  },
  {
    id: "host.cr4.fixed-bits",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_CR4"],
    rule: "The host CR4 field must not set any bit to a value not supported in VMX operation (IA32_VMX_CR4_FIXED0/1)",
    checklist: ["H2"],
    fail: pred`${cr4Bad} !== 0`,
    message: (c) =>
      `${show(c, F.HOST_CR4)} violates the VMX fixed bits (IA32_VMX_CR4_FIXED0=0x${(c.caps.cr4Fixed0 >>> 0).toString(16)}, FIXED1=${hex64(c.caps.cr4Fixed1, c.caps.cr4Fixed1Hi)}): ${fixedText(cr4MustBe1(c), cr4MustBe0(c), c.hi(F.HOST_CR4) & ~c.caps.cr4Fixed1Hi)}`,
  },
  {
    id: "host.cr4.cet-requires-cr0-wp",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_CR4", "HOST_CR0"],
    rule: "If host CR4.CET (bit 23) is 1, host CR0.WP (bit 16) must be 1",
    checklist: ["H3"],
    fail: pred`(${lo(F.HOST_CR4!)} & ${CR4.CET}) !== 0 && (${lo(F.HOST_CR0!)} & ${CR0.WP}) === 0`,
    message: (c) =>
      `host CR4.CET=1 (${show(c, F.HOST_CR4)}) but CR0.WP=0 (${show(c, F.HOST_CR0)}); set CR0.WP (bit 16) or clear CR4.CET (bit 23)`,
  },
  {
    id: "host.cr3.reserved-bits",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_CR3"],
    rule: "Host CR3 bits 63:52 and bits 51:32 beyond the physical-address width must be 0 (bits 62:61 allowed with LAM)",
    checklist: ["H4"],
    when: pred`${G.intel64}`,
    fail: pred`${cr3Reserved} !== 0`,
    message: (c) =>
      `${show(c, F.HOST_CR3)} sets reserved ${bitList(cr3ReservedHi(c), 32)}: ${physLimit(c)}${c.caps.flags.has("lam") ? " (bits 62:61 are LAM_U57/LAM_U48 and may be 1)" : ""}`,
  },
  {
    id: "host.sysenter-esp.canonical",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_IA32_SYSENTER_ESP"],
    rule: "The host IA32_SYSENTER_ESP field must contain a canonical address",
    checklist: ["H5"],
    when: pred`${G.intel64}`,
    fail: pred`!${canonical(F.HOST_IA32_SYSENTER_ESP!)}`,
    message: (c) =>
      `${show(c, F.HOST_IA32_SYSENTER_ESP)} is not canonical: with ${c.caps.linearAddressBits} linear-address bits, bits 63:${c.caps.linearAddressBits - 1} must all equal bit ${c.caps.linearAddressBits - 1}`,
  },
  {
    id: "host.sysenter-eip.canonical",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_IA32_SYSENTER_EIP"],
    rule: "The host IA32_SYSENTER_EIP field must contain a canonical address",
    checklist: ["H6"],
    when: pred`${G.intel64}`,
    fail: pred`!${canonical(F.HOST_IA32_SYSENTER_EIP!)}`,
    message: (c) =>
      `${show(c, F.HOST_IA32_SYSENTER_EIP)} is not canonical: with ${c.caps.linearAddressBits} linear-address bits, bits 63:${c.caps.linearAddressBits - 1} must all equal bit ${c.caps.linearAddressBits - 1}`,
  },
  {
    id: "host.s-cet.reserved-bits",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_S_CET", "VM_EXIT_CONTROLS"],
    rule: 'If "load CET state" is 1, the host IA32_S_CET field must not set reserved bits 9:6',
    checklist: ["H7"],
    group: "hostLoadCet",
    when: loadCet,
    fail: pred`(${lo(F.HOST_S_CET!)} & ${CET_CTL.RESERVED}) !== 0`,
    message: (c) =>
      `${show(c, F.HOST_S_CET)} sets reserved ${bitList(c.lo(F.HOST_S_CET) & CET_CTL.RESERVED)} of IA32_S_CET while "load CET state" is 1; bits 9:6 must be 0`,
  },
  {
    id: "host.s-cet.suppress-and-tracker",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_S_CET", "VM_EXIT_CONTROLS"],
    rule: 'If "load CET state" is 1, host IA32_S_CET bits 10 (SUPPRESS) and 11 (TRACKER) must not both be 1',
    checklist: ["H7"],
    group: "hostLoadCet",
    when: loadCet,
    fail: pred`(${lo(F.HOST_S_CET!)} & ${CET_CTL.SUPPRESS | CET_CTL.TRACKER}) === ${CET_CTL.SUPPRESS | CET_CTL.TRACKER}`,
    message: (c) =>
      `${show(c, F.HOST_S_CET)} sets both SUPPRESS (bit 10) and TRACKER/WAIT_FOR_ENDBRANCH (bit 11) while "load CET state" is 1; clear one of them`,
  },
  {
    id: "host.ssp.alignment",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_SSP", "VM_EXIT_CONTROLS"],
    rule: 'If "load CET state" is 1, bits 1:0 of the host SSP field must be 0',
    checklist: ["H9"],
    group: "hostLoadCet",
    when: loadCet,
    fail: pred`${misaligned(F.HOST_SSP!, 2)}`,
    message: (c) =>
      `${show(c, F.HOST_SSP)} has bits 1:0 = ${c.lo(F.HOST_SSP) & 3} while "load CET state" is 1; the shadow-stack pointer must be 4-byte aligned (bits 1:0 = 0)`,
  },
  {
    id: "host.intr-ssp-table.canonical",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_INTR_SSP_TABLE", "VM_EXIT_CONTROLS"],
    rule: 'If "load CET state" is 1, the host IA32_INTERRUPT_SSP_TABLE_ADDR field must be canonical',
    checklist: ["H11"],
    group: "hostLoadCet",
    when: loadCet,
    fail: pred`!${canonical(F.HOST_INTR_SSP_TABLE!)}`,
    message: (c) =>
      `${show(c, F.HOST_INTR_SSP_TABLE)} is not canonical while "load CET state" is 1: with ${c.caps.linearAddressBits} linear-address bits, bits 63:${c.caps.linearAddressBits - 1} must all equal bit ${c.caps.linearAddressBits - 1}`,
  },
  {
    id: "host.perf-global-ctrl.reserved-bits",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_IA32_PERF_GLOBAL_CTRL", "VM_EXIT_CONTROLS"],
    rule: 'If "load IA32_PERF_GLOBAL_CTRL" is 1, the host IA32_PERF_GLOBAL_CTRL field must not set reserved bits',
    checklist: ["H12"],
    when: pred`(c.exit & ${EXIT.LOAD_PERF_GLOBAL_CTRL}) !== 0`,
    fail: pred`((${lo(F.HOST_IA32_PERF_GLOBAL_CTRL!)} & ~c.caps.perfGlobalCtrlValidLo) | (${hi(F.HOST_IA32_PERF_GLOBAL_CTRL!)} & ~c.caps.perfGlobalCtrlValidHi)) !== 0`,
    message: (c) => {
      const lo = c.lo(F.HOST_IA32_PERF_GLOBAL_CTRL) & ~c.caps.perfGlobalCtrlValidLo;
      const hi = c.hi(F.HOST_IA32_PERF_GLOBAL_CTRL) & ~c.caps.perfGlobalCtrlValidHi;
      const bits = [lo ? bitList(lo) : "", hi ? bitList(hi, 32) : ""].filter(Boolean).join(", ");
      return `${show(c, F.HOST_IA32_PERF_GLOBAL_CTRL)} sets reserved ${bits} while "load IA32_PERF_GLOBAL_CTRL" is 1; this CPU's valid bits are ${hex64(c.caps.perfGlobalCtrlValidLo, c.caps.perfGlobalCtrlValidHi)}`;
    },
  },
  {
    id: "host.pat.memory-types",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_IA32_PAT", "VM_EXIT_CONTROLS"],
    rule: 'If "load IA32_PAT" is 1, each byte of the host IA32_PAT field must be 0 (UC), 1 (WC), 4 (WT), 5 (WP), 6 (WB) or 7 (UC-)',
    checklist: ["H13"],
    when: pred`(c.exit & ${EXIT.LOAD_PAT}) !== 0`,
    fail: pred`${patHalfBad(lo(F.HOST_IA32_PAT!))} || ${patHalfBad(hi(F.HOST_IA32_PAT!))}`,
    message: (c) => {
      const bad: string[] = [];
      for (let e = 0; e < 8; e++) {
        const b = ((e < 4 ? c.lo(F.HOST_IA32_PAT) : c.hi(F.HOST_IA32_PAT)) >>> ((e & 3) * 8)) & 0xff;
        if (patByteBad(b)) bad.push(`PA${e}=0x${b.toString(16)}`);
      }
      return `${show(c, F.HOST_IA32_PAT)} has invalid memory type(s) ${bad.join(", ")} while "load IA32_PAT" is 1; each entry must be 0, 1, 4, 5, 6 or 7`;
    },
  },
  {
    id: "host.efer.reserved-bits",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_IA32_EFER", "VM_EXIT_CONTROLS"],
    rule: 'If "load IA32_EFER" is 1, the host IA32_EFER field must not set reserved bits (only SCE, LME, LMA and, with execute-disable support, NXE are defined)',
    checklist: ["H14"],
    when: pred`(c.exit & ${EXIT.LOAD_EFER}) !== 0`,
    // NXE is reserved without execute-disable support (Bochs efer_suppmask; kvm-unit-tests test_efer).
    // c.caps.eferValidLo: the IA32_EFER bits WRMSR accepts (util.ts `eferValidLo` explains NXE).
    fail: pred`((${lo(F.HOST_IA32_EFER!)} & ~c.caps.eferValidLo) | ${hi(F.HOST_IA32_EFER!)}) !== 0`,
    message: (c) => {
      const lo = c.lo(F.HOST_IA32_EFER) & ~eferValidLo(c);
      const hi = c.hi(F.HOST_IA32_EFER);
      const bits = [lo ? bitList(lo) : "", hi ? bitList(hi, 32) : ""].filter(Boolean).join(", ");
      return `${show(c, F.HOST_IA32_EFER)} sets reserved ${bits} while "load IA32_EFER" is 1; ${eferValidText(c)}`;
    },
  },
  {
    id: "host.efer.lma-matches-hass",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_IA32_EFER", "VM_EXIT_CONTROLS"],
    rule: 'If "load IA32_EFER" is 1, host IA32_EFER.LMA must equal the "host address-space size" exit control',
    checklist: ["H15"],
    when: pred`(c.exit & ${EXIT.LOAD_EFER}) !== 0`,
    fail: pred`((${lo(F.HOST_IA32_EFER!)} & ${EFER.LMA}) !== 0) !== ${hass}`,
    message: (c) =>
      `${show(c, F.HOST_IA32_EFER)} has LMA (bit 10) = ${(c.lo(F.HOST_IA32_EFER) >>> 10) & 1} but "host address-space size" is ${hostAddrSpaceSize(c) ? 1 : 0}; with "load IA32_EFER" they must be equal`,
  },
  {
    id: "host.efer.lme-matches-hass",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_IA32_EFER", "VM_EXIT_CONTROLS"],
    rule: 'If "load IA32_EFER" is 1, host IA32_EFER.LME must equal the "host address-space size" exit control',
    checklist: ["H15"],
    when: pred`(c.exit & ${EXIT.LOAD_EFER}) !== 0`,
    fail: pred`((${lo(F.HOST_IA32_EFER!)} & ${EFER.LME}) !== 0) !== ${hass}`,
    message: (c) =>
      `${show(c, F.HOST_IA32_EFER)} has LME (bit 8) = ${(c.lo(F.HOST_IA32_EFER) >>> 8) & 1} but "host address-space size" is ${hostAddrSpaceSize(c) ? 1 : 0}; with "load IA32_EFER" they must be equal`,
  },
  {
    id: "host.pkrs.high-bits",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_IA32_PKRS", "VM_EXIT_CONTROLS"],
    rule: 'If "load PKRS" is 1, bits 63:32 of the host IA32_PKRS field must be 0',
    checklist: ["H16"],
    when: pred`(c.exit & ${EXIT.LOAD_PKRS}) !== 0`,
    fail: pred`${hi(F.HOST_IA32_PKRS!)} !== 0`,
    message: (c) =>
      `${show(c, F.HOST_IA32_PKRS)} has bits 63:32 set while "load PKRS" is 1; IA32_PKRS has only 32 bits (bits 63:32 must be 0)`,
  },
  {
    id: "host.fred-config.reserved-bits",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_IA32_FRED_CONFIG", "VM_EXIT_CONTROLS", "SECONDARY_VM_EXIT_CONTROLS"],
    rule: 'If "load FRED" is 1, bits 2, 5:4 and 11 of the host IA32_FRED_CONFIG field must be 0',
    checklist: ["H17"],
    group: "hostLoadFred",
    when: loadFred,
    fail: pred`(${lo(F.HOST_IA32_FRED_CONFIG!)} & ${FRED_CONFIG_RESERVED}) !== 0`,
    message: (c) =>
      `${show(c, F.HOST_IA32_FRED_CONFIG)} sets reserved ${bitList(c.lo(F.HOST_IA32_FRED_CONFIG) & FRED_CONFIG_RESERVED)} while "load FRED" is 1; bits 2, 5:4 and 11 must be 0`,
  },
  {
    id: "host.fred-config.canonical",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_IA32_FRED_CONFIG", "VM_EXIT_CONTROLS", "SECONDARY_VM_EXIT_CONTROLS"],
    rule: 'If "load FRED" is 1, the entry-point address in host IA32_FRED_CONFIG (bits 63:12) must be canonical',
    checklist: ["H17"],
    group: "hostLoadFred",
    when: loadFred,
    // Canonicality depends only on bits 63:47 (or 63:56), so the low 12 control bits do not matter.
    fail: pred`!${canonical(F.HOST_IA32_FRED_CONFIG!)}`,
    message: (c) =>
      `${show(c, F.HOST_IA32_FRED_CONFIG)} holds a non-canonical entry point while "load FRED" is 1: with ${c.caps.linearAddressBits} linear-address bits, bits 63:${c.caps.linearAddressBits - 1} must all equal bit ${c.caps.linearAddressBits - 1}`,
  },
  ...fredStackChecks("RSP", 6, "H18"),
  ...fredStackChecks("SSP", 3, "H19"),
  {
    id: "host.spec-ctrl.reserved-bits",
    sdm: "29.2.2",
    cls: "host",
    fields: ["HOST_IA32_SPEC_CTRL", "VM_EXIT_CONTROLS", "SECONDARY_VM_EXIT_CONTROLS"],
    rule: 'If "load IA32_SPEC_CTRL" (secondary exit control 2) is 1, the host IA32_SPEC_CTRL field must not set bits WRMSR would reject',
    checklist: ["H20"],
    when: pred`(c.exit2 & ${EXIT2.LOAD_SPEC_CTRL}) !== 0`,
    fail: pred`((${lo(F.HOST_IA32_SPEC_CTRL!)} & ~c.caps.specCtrlValidLo) | (${hi(F.HOST_IA32_SPEC_CTRL!)} & ~c.caps.specCtrlValidHi)) !== 0`,
    message: (c) => {
      const lo = c.lo(F.HOST_IA32_SPEC_CTRL) & ~c.caps.specCtrlValidLo;
      const hi = c.hi(F.HOST_IA32_SPEC_CTRL) & ~c.caps.specCtrlValidHi;
      const bits = [lo ? bitList(lo) : "", hi ? bitList(hi, 32) : ""].filter(Boolean).join(", ");
      return `${show(c, F.HOST_IA32_SPEC_CTRL)} sets ${bits}, reserved on this CPU, while "load IA32_SPEC_CTRL" is 1; valid bits are ${hex64(c.caps.specCtrlValidLo, c.caps.specCtrlValidHi)}`;
    },
  },
];
