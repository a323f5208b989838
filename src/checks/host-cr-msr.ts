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
import * as archRegisters from "../arch/registers.js";
import { hex, hex64 } from "../util/u64.js";
import { decoders } from "./compile.js";
import { section } from "./rule.js";
import type { State } from "./state.js";
import * as util from "./util.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves predicates' names in this module (compile.ts).
const scope = (name: string): unknown => eval(name);

// Short local names for the imported tables and helpers.
const { EXIT, EXIT2 } = archControls;
const { CET_CTL, CR0, CR3, CR4, EFER, FRED_CONFIG_RESERVED } = archRegisters;
const { badPatEntries, bitList, canonical, eferValidText, hass, misaligned, notCanonical } = util;
const { outside, patHalfBad, physLimit, reservedBits, show } = util;

const { rule, checks } = section({
  scope,
  sdm: "29.2.2",
  title: "Host control registers, MSRs and SSP",
  cls: "host",
});

const { cr0MustBe1, cr0MustBe0, cr4MustBe1, cr4MustBe0, cr3Reserved } = decoders(scope, {
  // CR0 bits NW and CD are exempt from the host fixed-bit check (SDM 29.2.2 footnote: never checked).
  /** CR0 bits IA32_VMX_CR0_FIXED0 requires but the field clears. */
  cr0MustBe1: (s: State) => s.caps.cr0Fixed0 & ~s.HOST_CR0 & ~(CR0.NW | CR0.CD),
  /** CR0 bits 31:0 IA32_VMX_CR0_FIXED1 fixes to 0 but the field sets. */
  cr0MustBe0: (s: State) => s.HOST_CR0 & ~s.caps.cr0Fixed1 & ~(CR0.NW | CR0.CD),
  /** CR4 bits IA32_VMX_CR4_FIXED0 requires but the field clears. */
  cr4MustBe1: (s: State) => s.caps.cr4Fixed0 & ~s.HOST_CR4,
  /** CR4 bits 31:0 IA32_VMX_CR4_FIXED1 fixes to 0 but the field sets. */
  cr4MustBe0: (s: State) => s.HOST_CR4 & ~s.caps.cr4Fixed1,
  /** Bits 63:32 of CR3 that are set but must be 0: bits 63:52 and 51:MAXPHYADDR, except LAM bits 62:61. */
  cr3Reserved: (s: State) => s.hi.HOST_CR3 & s.caps.physReservedHi & ~(s.caps.lam ? CR3.LAM_HI : 0),
});

/** "bits a, b must be 1/0" text for the lo/hi halves of a fixed-bit violation. */
function fixedText(must1: number, must0Lo: number, must0Hi: number): string {
  const parts: string[] = [];
  if (must1) parts.push(`${bitList(must1)} must be 1`);
  if (must0Lo) parts.push(`${bitList(must0Lo)} must be 0`);
  if (must0Hi) parts.push(`${bitList(must0Hi, 32)} must be 0`);
  return parts.join("; ");
}

/** Capabilities that give an MSR's valid bits as halves (src/cpu/profile.ts). */
type ValidMask = "perfGlobalCtrlValid" | "specCtrlValid";

/** A host MSR field checked against the CPU's valid bits, under a "load …" exit control. */
function validBits(a: {
  id: string;
  item: string;
  field: util.Field;
  control: string;
  word: "exit" | "exit2";
  bit: number;
  mask: ValidMask;
  rule: string;
}) {
  const p = {
    field: a.field,
    word: a.word,
    bit: a.bit,
    lo: `${a.mask}Lo` as const,
    hi: `${a.mask}Hi` as const,
  };
  return rule({
    id: a.id,
    rule: a.rule,
    checklist: [a.item],
    p,
    when: (s, p) => (s[p.word] & p.bit) !== 0,
    fail: (s, p) => outside(s[p.field], s.hi[p.field], s.caps[p.lo], s.caps[p.hi]),
    message: (s) =>
      `${reservedBits(s, a.field, s[a.field] & ~s.caps[p.lo], s.hi[a.field] & ~s.caps[p.hi])} while "${a.control}" is 1; this CPU accepts only ${hex64(s.caps[p.lo], s.caps[p.hi])}`,
  });
}

/** The FRED stack-pointer MSRs: canonical and aligned, from one table. */
const FRED_STACKS = [
  ["RSP", 6, "H18"],
  ["SSP", 3, "H19"],
] as const;

export default checks([
  rule({
    id: "host.cr0.fixed-bits",
    rule: "The host CR0 field must not set any bit to a value not supported in VMX operation (IA32_VMX_CR0_FIXED0/1; NW and CD are not checked)",
    checklist: ["H1"],
    fail: (s) => cr0MustBe1(s) | cr0MustBe0(s) | (s.hi.HOST_CR0 & ~s.caps.cr0Fixed1Hi),
    message: (s) =>
      `${show(s, "HOST_CR0")} violates the VMX fixed bits (IA32_VMX_CR0_FIXED0=${hex(s.caps.cr0Fixed0)}, FIXED1=${hex64(s.caps.cr0Fixed1, s.caps.cr0Fixed1Hi)}): ${fixedText(cr0MustBe1(s), cr0MustBe0(s), s.hi.HOST_CR0 & ~s.caps.cr0Fixed1Hi)}`,
  }),
  rule({
    id: "host.cr4.fixed-bits",
    rule: "The host CR4 field must not set any bit to a value not supported in VMX operation (IA32_VMX_CR4_FIXED0/1)",
    checklist: ["H2"],
    fail: (s) => cr4MustBe1(s) | cr4MustBe0(s) | (s.hi.HOST_CR4 & ~s.caps.cr4Fixed1Hi),
    message: (s) =>
      `${show(s, "HOST_CR4")} violates the VMX fixed bits (IA32_VMX_CR4_FIXED0=${hex(s.caps.cr4Fixed0)}, FIXED1=${hex64(s.caps.cr4Fixed1, s.caps.cr4Fixed1Hi)}): ${fixedText(cr4MustBe1(s), cr4MustBe0(s), s.hi.HOST_CR4 & ~s.caps.cr4Fixed1Hi)}`,
  }),
  rule({
    id: "host.cr4.cet-requires-cr0-wp",
    rule: "If host CR4.CET (bit 23) is 1, host CR0.WP (bit 16) must be 1",
    checklist: ["H3"],
    fail: (s) => (s.HOST_CR4 & CR4.CET) !== 0 && (s.HOST_CR0 & CR0.WP) === 0,
    message: (s) =>
      `host CR4.CET=1 (${show(s, "HOST_CR4")}) but CR0.WP=0 (${show(s, "HOST_CR0")}); set CR0.WP (bit 16) or clear CR4.CET (bit 23)`,
  }),
  rule({
    id: "host.cr3.reserved-bits",
    rule: "Host CR3 bits 63:52 and bits 51:32 beyond the physical-address width must be 0 (bits 62:61 allowed with LAM)",
    checklist: ["H4"],
    group: "intel64",
    fail: (s) => cr3Reserved(s),
    message: (s, bad) =>
      `${reservedBits(s, "HOST_CR3", 0, bad)}: ${physLimit(s)}${s.caps.lam ? " (bits 62:61 are LAM_U57/LAM_U48 and may be 1)" : ""}`,
  }),
  rule({
    id: "host.sysenter-esp.canonical",
    rule: "The host IA32_SYSENTER_ESP field must contain a canonical address",
    checklist: ["H5"],
    group: "intel64",
    fail: (s) => !canonical(s, s.hi.HOST_IA32_SYSENTER_ESP),
    message: (s) => `${show(s, "HOST_IA32_SYSENTER_ESP")} ${notCanonical(s)}`,
  }),
  rule({
    id: "host.sysenter-eip.canonical",
    rule: "The host IA32_SYSENTER_EIP field must contain a canonical address",
    checklist: ["H6"],
    group: "intel64",
    fail: (s) => !canonical(s, s.hi.HOST_IA32_SYSENTER_EIP),
    message: (s) => `${show(s, "HOST_IA32_SYSENTER_EIP")} ${notCanonical(s)}`,
  }),
  rule({
    id: "host.s-cet.reserved-bits",
    rule: 'If "load CET state" is 1, the host IA32_S_CET field must not set reserved bits 9:6',
    checklist: ["H7"],
    group: "hostLoadCet",
    fail: (s) => s.HOST_S_CET & CET_CTL.RESERVED,
    message: (s, bad) =>
      `${reservedBits(s, "HOST_S_CET", bad)} of IA32_S_CET while "load CET state" is 1; bits 9:6 must be 0`,
  }),
  rule({
    id: "host.s-cet.suppress-and-tracker",
    rule: 'If "load CET state" is 1, host IA32_S_CET bits 10 (SUPPRESS) and 11 (TRACKER) must not both be 1',
    checklist: ["H7"],
    group: "hostLoadCet",
    fail: (s) =>
      (s.HOST_S_CET & (CET_CTL.SUPPRESS | CET_CTL.TRACKER)) === (CET_CTL.SUPPRESS | CET_CTL.TRACKER),
    message: (s) =>
      `${show(s, "HOST_S_CET")} sets both SUPPRESS (bit 10) and TRACKER/WAIT_FOR_ENDBRANCH (bit 11) while "load CET state" is 1; clear one of them`,
  }),
  rule({
    id: "host.ssp.alignment",
    rule: 'If "load CET state" is 1, bits 1:0 of the host SSP field must be 0',
    checklist: ["H9"],
    group: "hostLoadCet",
    fail: (s) => s.HOST_SSP & 3,
    message: (s, low) =>
      `${show(s, "HOST_SSP")} has bits 1:0 = ${low} while "load CET state" is 1; the shadow-stack pointer must be 4-byte aligned (bits 1:0 = 0)`,
  }),
  rule({
    id: "host.intr-ssp-table.canonical",
    rule: 'If "load CET state" is 1, the host IA32_INTERRUPT_SSP_TABLE_ADDR field must be canonical',
    checklist: ["H11"],
    group: "hostLoadCet",
    fail: (s) => !canonical(s, s.hi.HOST_INTR_SSP_TABLE),
    message: (s) => `${show(s, "HOST_INTR_SSP_TABLE")} ${notCanonical(s)} (with "load CET state" = 1)`,
  }),
  validBits({
    id: "host.perf-global-ctrl.reserved-bits",
    item: "H12",
    field: "HOST_IA32_PERF_GLOBAL_CTRL",
    control: "load IA32_PERF_GLOBAL_CTRL",
    word: "exit",
    bit: EXIT.LOAD_PERF_GLOBAL_CTRL,
    mask: "perfGlobalCtrlValid",
    rule: 'If "load IA32_PERF_GLOBAL_CTRL" is 1, the host IA32_PERF_GLOBAL_CTRL field must not set reserved bits',
  }),
  rule({
    id: "host.pat.memory-types",
    rule: 'If "load IA32_PAT" is 1, each byte of the host IA32_PAT field must be 0 (UC), 1 (WC), 4 (WT), 5 (WP), 6 (WB) or 7 (UC-)',
    checklist: ["H13"],
    when: (s) => (s.exit & EXIT.LOAD_PAT) !== 0,
    fail: (s) => patHalfBad(s.HOST_IA32_PAT) || patHalfBad(s.hi.HOST_IA32_PAT),
    message: (s) =>
      `${show(s, "HOST_IA32_PAT")} has invalid memory types ${badPatEntries(s.HOST_IA32_PAT, s.hi.HOST_IA32_PAT)} while "load IA32_PAT" is 1; each entry must be 0 (UC), 1 (WC), 4 (WT), 5 (WP), 6 (WB) or 7 (UC-)`,
  }),
  rule({
    id: "host.efer.reserved-bits",
    rule: 'If "load IA32_EFER" is 1, the host IA32_EFER field must not set reserved bits (only SCE, LME, LMA and, with execute-disable support, NXE are defined)',
    checklist: ["H14"],
    when: (s) => (s.exit & EXIT.LOAD_EFER) !== 0,
    // NXE is reserved without execute-disable support (Bochs efer_suppmask; kvm-unit-tests test_efer).
    fail: (s) => outside(s.HOST_IA32_EFER, s.hi.HOST_IA32_EFER, s.caps.eferValidLo, 0),
    message: (s) =>
      `${reservedBits(s, "HOST_IA32_EFER", s.HOST_IA32_EFER & ~s.caps.eferValidLo, s.hi.HOST_IA32_EFER)} while "load IA32_EFER" is 1; ${eferValidText(s)}`,
  }),
  rule({
    id: "host.efer.lma-matches-hass",
    rule: 'If "load IA32_EFER" is 1, host IA32_EFER.LMA must equal the "host address-space size" exit control',
    checklist: ["H15"],
    when: (s) => (s.exit & EXIT.LOAD_EFER) !== 0,
    fail: (s) => ((s.HOST_IA32_EFER & EFER.LMA) !== 0) !== hass(s),
    message: (s) =>
      `${show(s, "HOST_IA32_EFER")} has LMA (bit 10) = ${(s.HOST_IA32_EFER >>> 10) & 1} but "host address-space size" is ${hass(s) ? 1 : 0}; with "load IA32_EFER" they must be equal`,
  }),
  rule({
    id: "host.efer.lme-matches-hass",
    rule: 'If "load IA32_EFER" is 1, host IA32_EFER.LME must equal the "host address-space size" exit control',
    checklist: ["H15"],
    when: (s) => (s.exit & EXIT.LOAD_EFER) !== 0,
    fail: (s) => ((s.HOST_IA32_EFER & EFER.LME) !== 0) !== hass(s),
    message: (s) =>
      `${show(s, "HOST_IA32_EFER")} has LME (bit 8) = ${(s.HOST_IA32_EFER >>> 8) & 1} but "host address-space size" is ${hass(s) ? 1 : 0}; with "load IA32_EFER" they must be equal`,
  }),
  rule({
    id: "host.pkrs.high-bits",
    rule: 'If "load PKRS" is 1, bits 63:32 of the host IA32_PKRS field must be 0',
    checklist: ["H16"],
    when: (s) => (s.exit & EXIT.LOAD_PKRS) !== 0,
    fail: (s) => s.hi.HOST_IA32_PKRS !== 0,
    message: (s) =>
      `${show(s, "HOST_IA32_PKRS")} has bits 63:32 set while "load PKRS" is 1; IA32_PKRS has only 32 bits (bits 63:32 must be 0)`,
  }),
  rule({
    id: "host.fred-config.reserved-bits",
    rule: 'If "load FRED" is 1, bits 2, 5:4 and 11 of the host IA32_FRED_CONFIG field must be 0',
    checklist: ["H17"],
    group: "hostLoadFred",
    fail: (s) => s.HOST_IA32_FRED_CONFIG & FRED_CONFIG_RESERVED,
    message: (s, bad) =>
      `${reservedBits(s, "HOST_IA32_FRED_CONFIG", bad)} while "load FRED" is 1; bits 2, 5:4 and 11 must be 0`,
  }),
  rule({
    id: "host.fred-config.canonical",
    rule: 'If "load FRED" is 1, the entry-point address in host IA32_FRED_CONFIG (bits 63:12) must be canonical',
    checklist: ["H17"],
    group: "hostLoadFred",
    // Canonicality depends only on bits 63:47 (or 63:56), so the low 12 control bits do not matter.
    fail: (s) => !canonical(s, s.hi.HOST_IA32_FRED_CONFIG),
    message: (s) =>
      `${show(s, "HOST_IA32_FRED_CONFIG")}: the entry point (bits 63:12) ${notCanonical(s)} (with "load FRED" = 1)`,
  }),
  FRED_STACKS.map(([kind, align, item]) =>
    ([1, 2, 3] as const).map((n) => {
      const name = `HOST_IA32_FRED_${kind}${n}` as const;
      const bytes = 1 << align;
      const p = { field: name, align };
      return [
        rule({
          id: `host.fred-${kind.toLowerCase()}${n}.canonical`,
          rule: `If "load FRED" (secondary exit control 1) is 1, the IA32_FRED_${kind}${n} field must be canonical`,
          checklist: [item],
          group: "hostLoadFred",
          p,
          fail: (s, p) => !canonical(s, s.hi[p.field]),
          message: (s) => `${show(s, name)} ${notCanonical(s)} (with "load FRED" = 1)`,
        }),
        rule({
          id: `host.fred-${kind.toLowerCase()}${n}.alignment`,
          rule: `If "load FRED" is 1, bits ${align - 1}:0 of the IA32_FRED_${kind}${n} field must be 0 (${bytes}-byte aligned)`,
          checklist: [item],
          group: "hostLoadFred",
          p,
          fail: (s, p) => misaligned(s[p.field], p.align),
          message: (s) =>
            `${show(s, name)} is not ${bytes}-byte aligned while "load FRED" is 1; bits ${align - 1}:0 must be 0 (e.g. ${hex64(s[name] & ~(bytes - 1), s.hi[name])})`,
        }),
      ];
    }),
  ),
  validBits({
    id: "host.spec-ctrl.reserved-bits",
    item: "H20",
    field: "HOST_IA32_SPEC_CTRL",
    control: "load IA32_SPEC_CTRL",
    word: "exit2",
    bit: EXIT2.LOAD_SPEC_CTRL,
    mask: "specCtrlValid",
    rule: 'If "load IA32_SPEC_CTRL" (secondary exit control 2) is 1, the host IA32_SPEC_CTRL field must not set bits WRMSR would reject',
  }),
]);
