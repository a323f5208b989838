/**
 * The least strict reasonable CPU, used when a log is explained without `--cpu`: every VM-execution,
 * VM-exit and VM-entry control may be 0 or 1 (TRUE_* MSRs with no must-be-1 bits), every activity state,
 * EPT memory type, page-walk length and VM function is supported, IA32_VMX_BASIC[56] (no error-code
 * consistency check on injection) is set, MAXPHYADDR is 52, linear addresses are 57 bits, and every CPU
 * feature flag nvmx knows is present. Only the architecturally fixed CR bits remain: CR0.PE, NE and PG must
 * be 1 (IA32_VMX_CR0_FIXED0 = 0x80000021 on every VMX processor; "unrestricted guest" relaxes PE and PG,
 * SDM 29.3.1.1) and CR4.VMXE must be 1 (IA32_VMX_CR4_FIXED0 = 0x2000). Its CPUID facts name every feature
 * the MSR rules consult, with the most counters IA32_PERF_GLOBAL_CTRL can enable. An unknown capability therefore
 * never produces a violation; checks that depend on the CPU are run again under stricter variants
 * (`STRICTER_VARIANTS`) so a report can say what would fail on a more common CPU.
 */
import { FEATURES } from "./cpuid.js";
import { type Caps, decodeProfile, type ProfileData } from "./profile.js";

const hex = (v: bigint) => `0x${v.toString(16)}`;

const NAMED_FLAGS: readonly string[] = [
  "pcid",
  "la57",
  "pku",
  "pks",
  "shstk",
  "user_shstk",
  "ibt",
  "fred",
  "lkgs",
  "mpx",
  "intel_pt",
  "arch_lbr",
  "pdcm",
  "smx",
  "xsave",
  "fsgsbase",
  "umip",
  "smep",
  "smap",
  "uintr",
  "lam",
  "lass",
  "bus_lock_detect",
  "x2apic",
  "tsc_deadline_timer",
  "rtm",
  "hle",
  "sgx",
  "waitpkg",
];

/** Every flag nvmx knows: the ones above and every flag of a CPUID feature src/cpu/facts.ts consults. */
export const PERMISSIVE_FLAGS: readonly string[] = [
  ...new Set([...NAMED_FLAGS, ...Object.values(FEATURES).flatMap((f) => f.flags)]),
].filter((f) => f !== "hybrid_cpu");

const regs = (eax: number, ebx: number, ecx: number, edx: number) => ({
  eax: hex(BigInt(eax >>> 0)),
  ebx: hex(BigInt(ebx >>> 0)),
  ecx: hex(BigInt(ecx >>> 0)),
  edx: hex(BigInt(edx >>> 0)),
});

/**
 * The CPUID leaves of the least strict CPU: every feature the MSR rules consult, the most performance
 * counters IA32_PERF_GLOBAL_CTRL can enable (32 general-purpose, 16 fixed, PERF_METRICS), every Intel PT and
 * LBR feature, every IA32_SPEC_CTRL bit; not hybrid, family 6 model 0 (no model-specific rule applies).
 */
const PERMISSIVE_CPUID = {
  "0x0": regs(0x23, 0x756e6547, 0x6c65746e, 0x49656e69),
  "0x1": regs(0x600, 0, 0x7fffffff, 0xffffffff),
  "0x6": regs(0, 0, 0x9, 0),
  "0x7.0": regs(2, 0xffffffff, 0xffffffff, 0xffff7fff),
  "0x7.1": regs(0xffffffff, 0, 0, 0),
  "0x7.2": regs(0, 0, 0, 0x1f),
  "0xa": regs(0x08300806, 0, 0xffff, 0x8610),
  "0xd.1": regs(0x1f, 0, 0, 0),
  "0x14.0": regs(1, 0x1ff, 0xf, 0),
  "0x14.1": regs(0x3fff0004, 0xffffffff, 0, 0),
  "0x1c": regs(0xffffffff, 7, 7, 0),
  "0x23.0": regs(0x3, 0, 0, 0),
  "0x23.1": regs(0xffffffff, 0xffff, 0, 0),
  "0x80000000": regs(0x80000008, 0, 0, 0),
  "0x80000001": regs(0, 0, 0x121, 0x2c100800),
};

// IA32_VMX_MISC: preemption-timer rate 5, save EFER.LMA, HLT/shutdown/wait-for-SIPI, PT in VMX, SMBASE
// read, 511 CR3 targets, MSR-list field 7, VMXOFF blocks SMI, VMWRITE to any field, zero-length injection.
const MISC =
  5 |
  (1 << 5) |
  (1 << 6) |
  (1 << 7) |
  (1 << 8) |
  (1 << 14) |
  (1 << 15) |
  (0x1ff << 16) |
  (7 << 25) |
  (1 << 28) |
  (1 << 29) |
  (1 << 30);

// IA32_VMX_EPT_VPID_CAP: every capability bit the SDM defines (A.10).
const EPT_LO =
  1 |
  (1 << 6) |
  (1 << 7) |
  (1 << 8) |
  (1 << 14) |
  (1 << 16) |
  (1 << 17) |
  (1 << 20) |
  (1 << 21) |
  (1 << 22) |
  (1 << 23) |
  (1 << 25) |
  (1 << 26);
const EPT_HI = 1 | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11);

/**
 * The least strict CPU: every control setting allowed, all activity states, widest addresses. `explain`
 * assumes it when a log does not say its CPU, so a finding on it holds on every CPU.
 */
export const PERMISSIVE_PROFILE: ProfileData = {
  name: "permissive",
  description:
    "assumed when no --cpu is given: the least strict CPU (every control setting allowed, all activity states, EPT memory types and walk lengths, MAXPHYADDR 52, 57-bit linear addresses, every feature flag; only CR0.PE/NE/PG and CR4.VMXE fixed to 1)",
  source: "nvmx src/cpu/permissive.ts (not a real CPU)",
  hypervisor: false,
  msrs: {
    // revision 1, 4 KiB region, dual-monitor, WB, INS/OUTS info, TRUE controls, no error-code check
    IA32_VMX_BASIC: hex(
      (1n << 56n) | (1n << 55n) | (1n << 54n) | (6n << 50n) | (1n << 49n) | (0x1000n << 32n) | 1n,
    ),
    IA32_VMX_PINBASED_CTLS: "0xffffffff00000016",
    IA32_VMX_PROCBASED_CTLS: "0xffffffff0401e172",
    IA32_VMX_EXIT_CTLS: "0xffffffff00036dff",
    IA32_VMX_ENTRY_CTLS: "0xffffffff000011ff",
    IA32_VMX_TRUE_PINBASED_CTLS: "0xffffffff00000000",
    IA32_VMX_TRUE_PROCBASED_CTLS: "0xffffffff00000000",
    IA32_VMX_TRUE_EXIT_CTLS: "0xffffffff00000000",
    IA32_VMX_TRUE_ENTRY_CTLS: "0xffffffff00000000",
    IA32_VMX_MISC: hex(BigInt(MISC >>> 0)),
    IA32_VMX_CR0_FIXED0: "0x80000021",
    IA32_VMX_CR0_FIXED1: "0xffffffff",
    IA32_VMX_CR4_FIXED0: "0x2000",
    IA32_VMX_CR4_FIXED1: "0x11bff7fff",
    IA32_VMX_VMCS_ENUM: "0x64",
    IA32_VMX_PROCBASED_CTLS2: "0xffffffff00000000",
    IA32_VMX_EPT_VPID_CAP: hex((BigInt(EPT_HI) << 32n) | BigInt(EPT_LO >>> 0)),
    IA32_VMX_VMFUNC: "0xffffffffffffffff",
    IA32_VMX_PROCBASED_CTLS3: "0xffffffffffffffff",
    IA32_VMX_EXIT_CTLS2: "0xffffffffffffffff",
  },
  maxPhysAddr: 52,
  linearAddressBits: 57,
  flags: [...PERMISSIVE_FLAGS],
  cpuid: PERMISSIVE_CPUID,
  // IA32_PERF_CAPABILITIES: every capability bit (FREEZE_WHILE_SMM, full-width writes, PERF_METRICS, …).
  msrValues: { "0x345": "0xffff" },
  factSources: {
    cpuid: "nvmx src/cpu/permissive.ts (not a real CPU)",
    msrValues: "nvmx src/cpu/permissive.ts",
  },
};

let cached: Caps | undefined;

/** {@link PERMISSIVE_PROFILE}, decoded. */
export function permissiveProfile(): Caps {
  cached ??= decodeProfile(PERMISSIVE_PROFILE, "permissive profile");
  return cached;
}

/** Stricter CPUs a report tries after the permissive one, to name the checks that depend on the CPU. */
export interface ProfileVariant {
  /** "if …" clause for the report */
  description: string;
  data: ProfileData;
}

function variant(description: string, edit: (d: ProfileData) => void): ProfileVariant {
  const data: ProfileData = structuredClone(PERMISSIVE_PROFILE);
  edit(data);
  data.name = `permissive (${description})`;
  return { description, data };
}

/** Stricter variants of the permissive CPU, each taking one capability away: a finding that changes under one is only possible. */
export const STRICTER_VARIANTS: readonly ProfileVariant[] = [
  variant("if the CPU has 48-bit linear addresses (no 5-level paging, as most CPUs)", (d) => {
    d.linearAddressBits = 48;
    d.flags = (d.flags ?? []).filter((f) => f !== "la57");
  }),
  variant(
    "if the CPU checks error-code consistency on event injection (IA32_VMX_BASIC[56] = 0, as CPUs before Sapphire Rapids)",
    (d) => {
      d.msrs.IA32_VMX_BASIC = hex(BigInt(d.msrs.IA32_VMX_BASIC ?? "0") & ~(1n << 56n));
    },
  ),
  variant("if the CPU lacks SMX (CR4.SMXE must be 0, as on most virtual CPUs)", (d) => {
    d.msrs.IA32_VMX_CR4_FIXED1 = hex(BigInt(d.msrs.IA32_VMX_CR4_FIXED1 ?? "0") & ~(1n << 14n));
    d.flags = (d.flags ?? []).filter((f) => f !== "smx");
  }),
  variant("if MAXPHYADDR is 39 (as many client CPUs)", (d) => {
    d.maxPhysAddr = 39;
  }),
];
