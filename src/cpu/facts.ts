/**
 * The one place where a profile's raw CPU facts (src/cpu/cpuid.ts) become what the MSR-value checks use
 * (docs/architecture.md §2): the valid-bit masks of the MSRs VM entry loads or checks, and which MSRs exist.
 *
 * Every mask is decoded as a pair: *strict* (the bits the facts show valid on every processor the profile can
 * stand for) and *lenient* (strict plus the bits that are valid on some of them). What separates the two is a
 * list of uncertain parts, each naming the facts it rests on and the condition under which its bits are
 * reserved — a CPUID leaf the profile lacks, Hyper-Threading (which halves the general-purpose counters on
 * some cores), the core type of a hybrid CPU, an MSR value the source did not read. A profile whose facts are
 * complete has no parts: strict = lenient. Checks take definite findings from the lenient mask and possible
 * ones from the strict mask (src/entry/cpu-facts.ts).
 */
import {
  type CpuidRegs,
  cpuidLeaf,
  type FeatureName,
  familyModel,
  feature,
  featureFact,
  featureText,
  implemented,
  leafFact,
  leafVariants,
  msrFact,
  type RawFacts,
} from "./cpuid.js";

/** Bits whose validity depends on a fact the profile does not decide. */
export interface MaskPart {
  readonly bits: bigint;
  /** Fact keys ("cpuid.0xa", "msr.0x345"). */
  readonly dependsOn: readonly string[];
  /** "if …": the condition under which these bits are reserved. */
  readonly condition: string;
}

export interface DecodedMask {
  readonly msr: number;
  readonly name: string;
  readonly strict: bigint;
  readonly lenient: bigint;
  readonly parts: readonly MaskPart[];
}

/** Collects a mask bit group by bit group: valid, reserved, or uncertain under a condition. */
class MaskBuilder {
  private sure = 0n;
  private readonly parts = new Map<string, { bits: bigint; dependsOn: string[]; condition: string }>();

  constructor(
    readonly msr: number,
    readonly name: string,
  ) {}

  add(bits: bigint, valid: boolean | undefined, dependsOn: readonly string[], condition: string): this {
    if (valid === true) this.sure |= bits;
    else if (valid === undefined) this.part(bits, dependsOn, condition);
    return this;
  }

  part(bits: bigint, dependsOn: readonly string[], condition: string): this {
    const key = `${dependsOn.join(",")}|${condition}`;
    const p = this.parts.get(key);
    if (p) p.bits |= bits;
    else this.parts.set(key, { bits, dependsOn: [...dependsOn], condition });
    return this;
  }

  build(): DecodedMask {
    const parts: MaskPart[] = [];
    let lenient = this.sure;
    for (const p of this.parts.values()) {
      const bits = p.bits & ~this.sure;
      if (bits === 0n) continue;
      parts.push({ bits, dependsOn: p.dependsOn, condition: p.condition });
      lenient |= bits;
    }
    return { msr: this.msr, name: this.name, strict: this.sure, lenient, parts };
  }
}

const bit = (n: number): bigint => 1n << BigInt(n);
const range = (lo: number, hi: number): bigint => ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);

/** "if the CPU lacks X (CPUID…; the profile does not say)". */
function lacks(what: string, name: FeatureName): string {
  return `if the CPU lacks ${what} (${featureText(name)}; the profile's CPU facts do not say)`;
}

/** A feature-gated group of mask bits. */
function gate(m: MaskBuilder, f: RawFacts, bits: bigint, name: FeatureName, what: string): void {
  m.add(bits, feature(f, name), [featureFact(name)], lacks(what, name));
}

// ---------------------------------------------------------------------------------------------------------
// IA32_PERF_GLOBAL_CTRL (38FH): one enable bit per general-purpose counter (bits N-1:0), per fixed counter
// (bits 32+i) and PERF_METRICS (bit 48) — SDM Vol. 3B 21.2.2 (Architectural Performance Monitoring
// version 2, Figure "IA32_PERF_GLOBAL_CTRL"), 21.2.5 (version 5: fixed-counter bitmap CPUID.0AH:ECX),
// 21.3.9.3 (PERF_METRICS, enumerated by IA32_PERF_CAPABILITIES[15]); CPUID leaf 0AH and, when
// CPUID.(EAX=07H,ECX=1):EAX[8] is 1, leaf 23H subleaf 1 (counter bitmaps) — SDM Vol. 2A CPUID.

const PERF_GLOBAL_CTRL = 0x38f;
const PERF_CAPABILITIES = 0x345;
/** Everything IA32_PERF_GLOBAL_CTRL can enable: 32 general-purpose, 16 fixed counters, PERF_METRICS. */
const PERF_ALL = range(0, 31) | range(32, 47) | bit(48);

/**
 * Family-6 models whose cores have 8 general-purpose counters shared by the two logical processors of a
 * core: 4 each with Hyper-Threading on, 8 with it off (SDM Vol. 3B 21.3.? "Counter Coalescence", Sandy
 * Bridge, and the same in every later core up to Ice Lake). Model numbers: Linux
 * arch/x86/include/asm/intel-family.h (Sandy Bridge 2AH/2DH, Ivy Bridge 3AH/3EH, Haswell 3CH/3FH/45H/46H,
 * Broadwell 3DH/47H/4FH/56H, Skylake 4EH/5EH/55H (also Cascade/Cooper Lake), Kaby/Coffee Lake 8EH/9EH,
 * Comet Lake A5H/A6H).
 */
const COALESCING_MODELS = new Set([
  0x2a, 0x2d, 0x3a, 0x3e, 0x3c, 0x3f, 0x45, 0x46, 0x3d, 0x47, 0x4f, 0x56, 0x4e, 0x5e, 0x55, 0x8e, 0x9e, 0xa5,
  0xa6,
]);

/**
 * Hybrid Alder Lake / Raptor Lake (models 97H, 9AH, B7H, BAH, BFH): CPUID.0AH reports the counters common to
 * both core types; the P-cores (Golden Cove / Raptor Cove) have 2 more general-purpose counters, fixed
 * counter 3 and PERF_METRICS (Linux arch/x86/events/intel/core.c, intel_pmu_init, Alder Lake hybrid PMU:
 * "num_counters + 2", "num_counters_fixed + 1", "perf_metrics = 1" for cpu_core).
 */
const ADL_HYBRID_MODELS = new Set([0x97, 0x9a, 0xb7, 0xba, 0xbf]);

/** The counters of one core type's PMU, as IA32_PERF_GLOBAL_CTRL bits. */
interface Pmu {
  version: number;
  gp: bigint;
  fixed: bigint;
}

function pmuOf(a: CpuidRegs, ext: CpuidRegs | undefined): Pmu {
  const version = a.eax & 0xff;
  const n = Math.min((a.eax >>> 8) & 0xff, 32);
  let gp = n === 0 ? 0n : range(0, n - 1);
  let fixed = 0n;
  if (version >= 2) {
    // Fixed counter i exists if CPUID.0AH:ECX[i] (version 5 and later) or i < CPUID.0AH:EDX[4:0].
    const count = Math.min(a.edx & 0x1f, 16);
    const map = version >= 5 ? a.ecx : 0;
    for (let i = 0; i < 16; i++) if (((map >>> i) & 1) === 1 || i < count) fixed |= bit(32 + i);
  }
  // CPUID.(EAX=23H,ECX=1): bitmaps of the general-purpose (EAX) and fixed (EBX) counters, replacing the counts.
  if (ext) {
    gp = BigInt(ext.eax >>> 0);
    fixed = BigInt(ext.ebx & 0xffff) << 32n;
  }
  return { version, gp, fixed };
}

function perfGlobalCtrl(f: RawFacts): DecodedMask {
  const m = new MaskBuilder(PERF_GLOBAL_CTRL, "IA32_PERF_GLOBAL_CTRL");
  const as = leafVariants(f, 0xa);
  if (!as)
    return m
      .part(
        PERF_ALL,
        [leafFact(0xa)],
        "if the CPU lacks the performance counters these bits enable (the profile has no CPUID leaf 0AH)",
      )
      .build();
  const ext = feature(f, "archPerfmonExt");
  const exts = ext ? leafVariants(f, 0x23, 1) : undefined;
  const cores = Math.max(as.length, exts?.length ?? 1);
  const pmus: Pmu[] = [];
  for (let i = 0; i < cores; i++)
    pmus.push(pmuOf(as[Math.min(i, as.length - 1)]!, exts?.[Math.min(i, exts.length - 1)]));
  // No architectural performance monitoring: the MSR does not exist, no bit is valid.
  if (pmus.every((p) => p.version === 0)) return m.build();
  if ((ext === undefined && (as[0]!.eax & 0xff) >= 6) || (ext && !exts))
    m.part(
      PERF_ALL & ~range(48, 48),
      [leafFact(7, 1), leafFact(0x23, 1)],
      "if the counters differ from CPUID.0AH's counts (CPUID leaf 23H, which lists them on newer CPUs, is not in the profile)",
    );
  // Counters every core type has are valid; those of some core types only depend on where VM entry runs.
  const all = pmus.reduce((x, p) => x & (p.gp | p.fixed), PERF_ALL);
  const any = pmus.reduce((x, p) => x | p.gp | p.fixed, 0n);
  m.add(all, true, [], "");
  const hybridCondition =
    "if VM entry runs on a core type of this hybrid CPU that lacks these counters (CPUID leaf 23H differs between its core types)";
  if (any & ~all) m.part(any & ~all, [leafFact(0x23, 1)], hybridCondition);
  const fm = familyModel(f);
  const p0 = pmus[0]!;
  if (fm?.family === 6 && COALESCING_MODELS.has(fm.model) && (p0.gp === range(0, 3) || p0.gp === range(0, 7)))
    m.part(
      range(4, 7),
      [leafFact(0xa)],
      "if Hyper-Threading is on: the two logical processors of a core then share its 8 general-purpose counters, 4 each (CPUID.0AH:EAX[15:8] = 4; SDM Vol. 3B 'Counter Coalescence')",
    );
  let pCoreOnly = 0n;
  if (fm?.family === 6 && ADL_HYBRID_MODELS.has(fm.model) && feature(f, "hybrid") !== false && !exts) {
    const n = (as[0]!.eax >>> 8) & 0xff;
    pCoreOnly = range(n, n + 1) | bit(35) | bit(48);
    m.part(
      pCoreOnly,
      [leafFact(0xa)],
      "if VM entry runs on an E-core: CPUID.0AH reports the counters both core types have; only the P-cores have 2 more general-purpose counters, fixed counter 3 and PERF_METRICS (Linux arch/x86/events/intel/core.c, Alder Lake hybrid PMU)",
    );
  }
  // PERF_METRICS reports fractions of the slots fixed counter 3 counts (SDM Vol. 3B 21.3.9.3): no counter 3,
  // no PERF_METRICS; on a hybrid CPU, only core types with counter 3 can have it.
  const slots = (any | pCoreOnly) & bit(35);
  if (slots && (all & bit(35)) === 0n && !pCoreOnly) m.part(bit(48), [leafFact(0x23, 1)], hybridCondition);
  const metrics = perfCap(f, 15);
  if (slots && metrics === true)
    m.add(bit(48), (all & bit(35)) !== 0n ? true : undefined, [leafFact(0x23, 1)], hybridCondition);
  else if (slots && metrics === undefined && !pCoreOnly)
    m.part(
      bit(48),
      [msrFact(PERF_CAPABILITIES)],
      "if IA32_PERF_CAPABILITIES[15] (PERF_METRICS available) is 0 (the profile has no IA32_PERF_CAPABILITIES value)",
    );
  return m.build();
}

/**
 * An IA32_PERF_CAPABILITIES bit: from the value the profile gives, or absent when the MSR is (it exists when
 * CPUID.01H:ECX.PDCM[15] = 1, SDM Vol. 4 Table 2-2, 345H); unknown otherwise.
 */
function perfCap(f: RawFacts, n: number): boolean | undefined {
  const cap = f.msrValues.get(PERF_CAPABILITIES);
  if (cap !== undefined) return ((cap >> BigInt(n)) & 1n) === 1n;
  if (feature(f, "pdcm") === false) return false;
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// IA32_DEBUGCTL (1D9H): SDM Vol. 4 Table 2-2 and Vol. 3B 19.4.1 (Figure "IA32_DEBUGCTL MSR").

function debugctl(f: RawFacts): DecodedMask {
  const m = new MaskBuilder(0x1d9, "IA32_DEBUGCTL");
  m.add(bit(0) | bit(1) | bit(6) | bit(7) | bit(8), true, [], ""); // LBR, BTF, TR, BTS, BTINT
  gate(m, f, bit(2), "busLockDetect", "bus-lock detection");
  gate(m, f, bit(9) | bit(10), "dsCpl", "CPL-qualified debug store (BTS_OFF_OS/BTS_OFF_USR)");
  // FREEZE_LBRS_ON_PMI, FREEZE_PERFMON_ON_PMI: PDCM and architectural performance monitoring version 2.
  const a = cpuidLeaf(f, 0xa);
  const v2 = a ? (a.eax & 0xff) >= 2 : undefined;
  const pdcm = feature(f, "pdcm");
  const freeze = pdcm === false || v2 === false ? false : pdcm && v2 ? true : undefined;
  m.add(
    bit(11) | bit(12),
    freeze,
    [featureFact("pdcm"), leafFact(0xa)],
    "if the CPU lacks PDCM or architectural performance monitoring version 2 (CPUID.01H:ECX[15], CPUID.0AH:EAX[7:0]; the profile's CPU facts do not say)",
  );
  // ENABLE_UNCORE_PMI: architectural since 06_1AH (Nehalem, Vol. 4 Table 2-2), the first processor with
  // architectural performance monitoring version 3; not enumerated by a CPUID bit of its own.
  const fm = familyModel(f);
  const v3 = a ? (a.eax & 0xff) >= 3 : undefined;
  m.add(
    bit(13),
    (fm && fm.family !== 6) || v3 === false ? false : v3 && fm ? true : undefined,
    [leafFact(1), leafFact(0xa)],
    "if the CPU predates ENABLE_UNCORE_PMI (IA32_DEBUGCTL[13], architectural since Nehalem, 06_1AH; the profile's CPU facts do not say)",
  );
  m.add(
    bit(14),
    perfCap(f, 12),
    [msrFact(PERF_CAPABILITIES)],
    "if IA32_PERF_CAPABILITIES[12] (FREEZE_WHILE_SMM supported) is 0 (the profile has no IA32_PERF_CAPABILITIES value)",
  );
  gate(m, f, bit(15), "rtm", "RTM (RTM_DEBUG)");
  return m.build();
}

// ---------------------------------------------------------------------------------------------------------
// IA32_RTIT_CTL (570H): SDM Vol. 3C 33.2.8.2 (Table "IA32_RTIT_CTL MSR"), enumeration by CPUID leaf 14H.

/** [bits, CPUID.(14H,0) register and bit enumerating them (undefined: always with Intel PT)]. */
const RTIT_BITS: readonly [bigint, "ebx" | "ecx" | undefined, number, string][] = [
  [bit(0) | bit(2) | bit(3) | bit(10) | bit(11) | bit(13), undefined, 0, "Intel PT"],
  [bit(1) | range(19, 22) | range(24, 27), "ebx", 1, "CYC packets (CPUID.(EAX=14H,ECX=0):EBX[1])"],
  [bit(4), "ebx", 5, "power event trace (CPUID.(EAX=14H,ECX=0):EBX[5])"],
  [bit(5) | bit(12), "ebx", 4, "PTWRITE (CPUID.(EAX=14H,ECX=0):EBX[4])"],
  [bit(6), "ecx", 3, "trace transport output (CPUID.(EAX=14H,ECX=0):ECX[3])"],
  [bit(7), "ebx", 0, "CR3 filtering (CPUID.(EAX=14H,ECX=0):EBX[0])"],
  [bit(8), "ecx", 0, "ToPA output (CPUID.(EAX=14H,ECX=0):ECX[0])"],
  [bit(9) | range(14, 17), "ebx", 3, "MTC packets (CPUID.(EAX=14H,ECX=0):EBX[3])"],
  [bit(31), "ebx", 7, "event trace (CPUID.(EAX=14H,ECX=0):EBX[7])"],
  [bit(55), "ebx", 8, "TNT disable (CPUID.(EAX=14H,ECX=0):EBX[8])"],
  [bit(56), "ebx", 6, "PSB and PMI preservation (CPUID.(EAX=14H,ECX=0):EBX[6])"],
];

function rtitCtl(f: RawFacts): DecodedMask {
  const m = new MaskBuilder(0x570, "IA32_RTIT_CTL");
  const pt = feature(f, "pt");
  if (pt === false) return m.build();
  const l0s = pt ? leafVariants(f, 0x14, 0) : undefined;
  const l1s = pt ? leafVariants(f, 0x14, 1) : undefined;
  const deps = [featureFact("pt"), leafFact(0x14, 0)];
  for (const [bits, reg, b, what] of RTIT_BITS) {
    let valid: boolean | undefined;
    if (pt === undefined || !l0s) valid = undefined;
    else if (reg === undefined) valid = true;
    else {
      const on = l0s.map((l) => ((l[reg] >>> b) & 1) === 1);
      valid = on.every(Boolean) ? true : on.some(Boolean) ? undefined : false;
    }
    m.add(
      bits,
      valid,
      deps,
      `if the CPU lacks ${what} (the profile's CPU facts do not say, or its core types differ)`,
    );
  }
  // ADDRn_CFG (bits 35:32 + 4n): n < CPUID.(EAX=14H,ECX=1):EAX[2:0].
  for (let n = 0; n < 4; n++) {
    const bits = range(32 + 4 * n, 35 + 4 * n);
    const valid =
      pt === undefined || !l1s
        ? undefined
        : l1s.every((l) => (l.eax & 7) > n)
          ? true
          : l1s.some((l) => (l.eax & 7) > n)
            ? undefined
            : false;
    m.add(
      bits,
      valid,
      [featureFact("pt"), leafFact(0x14, 1)],
      `if the CPU has fewer than ${n + 1} PT address ranges (CPUID.(EAX=14H,ECX=1):EAX[2:0]; the profile's CPU facts do not say)`,
    );
  }
  return m.build();
}

// ---------------------------------------------------------------------------------------------------------
// IA32_LBR_CTL (14CEH): SDM Vol. 3B 19.1.2.1 (architectural LBRs), enumeration by CPUID leaf 1CH.

function lbrCtl(f: RawFacts): DecodedMask {
  const m = new MaskBuilder(0x14ce, "IA32_LBR_CTL");
  const lbr = feature(f, "archLbr");
  if (lbr === false) return m.build();
  const ls = lbr ? leafVariants(f, 0x1c) : undefined;
  const deps = [featureFact("archLbr"), leafFact(0x1c)];
  const by = (b: number): boolean | undefined => {
    if (lbr === undefined || !ls) return undefined;
    const on = ls.map((l) => ((l.ebx >>> b) & 1) === 1);
    return on.every(Boolean) ? true : on.some(Boolean) ? undefined : false;
  };
  m.add(bit(0), lbr, [featureFact("archLbr")], lacks("architectural LBRs", "archLbr"));
  m.add(
    bit(1) | bit(2),
    by(0),
    deps,
    "if the CPU lacks LBR CPL filtering (CPUID.1CH:EBX[0]; the profile's CPU facts do not say)",
  );
  m.add(
    bit(3),
    by(1),
    deps,
    "if the CPU lacks the LBR call-stack mode (CPUID.1CH:EBX[1]; the profile's CPU facts do not say)",
  );
  m.add(
    range(16, 22),
    by(2),
    deps,
    "if the CPU lacks LBR branch filtering (CPUID.1CH:EBX[2]; the profile's CPU facts do not say)",
  );
  return m.build();
}

// ---------------------------------------------------------------------------------------------------------
// IA32_SPEC_CTRL (48H): SDM Vol. 4 Table 2-2; the bits arrive with microcode updates (2018 on), so a CPUID
// dump that lacks one is not proof the CPU lacks it today.

const SPEC_CTRL_BITS: readonly [bigint, FeatureName, string][] = [
  [bit(0), "ibrs", "IBRS"],
  [bit(1), "stibp", "STIBP"],
  [bit(2), "ssbd", "SSBD"],
  [bit(3) | bit(4), "ipredCtrl", "IPRED_DIS_U/S"],
  [bit(5) | bit(6), "rrsbaCtrl", "RRSBA_DIS_U/S"],
  [bit(7), "psfd", "PSFD"],
  [bit(8), "ddpdU", "DDPD_U"],
  [bit(10), "bhiCtrl", "BHI_DIS_S"],
];

function specCtrl(f: RawFacts): DecodedMask {
  const m = new MaskBuilder(0x48, "IA32_SPEC_CTRL");
  const missing: string[] = [];
  let bits = 0n;
  for (const [b, name, what] of SPEC_CTRL_BITS) {
    if (feature(f, name) === true) m.add(b, true, [], "");
    else {
      bits |= b;
      missing.push(what);
    }
  }
  if (bits)
    m.part(
      bits,
      [leafFact(7, 0), leafFact(7, 2)],
      `if the CPU lacks ${missing.join(", ")} (the profile's CPUID does not report them; microcode updates add such bits, so their absence from a dump is no proof)`,
    );
  return m.build();
}

// ---------------------------------------------------------------------------------------------------------

export const MASK_NAMES = ["perfGlobalCtrl", "debugctl", "rtitCtl", "lbrCtl", "specCtrl"] as const;
export type MaskName = (typeof MASK_NAMES)[number];

/** The masks of a profile, decoded from its facts, each narrowed to the bits WRMSR accepts where the profile gives them. */
export function decodeMasks(f: RawFacts): Record<MaskName, DecodedMask> {
  const narrow = (m: DecodedMask): DecodedMask => {
    const w = f.msrWritableBits.get(m.msr);
    if (w === undefined) return m;
    return {
      ...m,
      strict: m.strict & w,
      lenient: m.lenient & w,
      parts: m.parts.map((p) => ({ ...p, bits: p.bits & w })).filter((p) => p.bits !== 0n),
    };
  };
  return {
    perfGlobalCtrl: narrow(perfGlobalCtrl(f)),
    debugctl: narrow(debugctl(f)),
    rtitCtl: narrow(rtitCtl(f)),
    lbrCtl: narrow(lbrCtl(f)),
    specCtrl: narrow(specCtrl(f)),
  };
}

/**
 * IA32_EFER bits WRMSR accepts, low half: SCE, LME, LMA always (an Intel 64 processor), NXE when
 * execute-disable is available (CPUID.80000001H:EDX[20]). NXE stays valid when the profile does not say:
 * every VMX processor implements XD, which only firmware can hide (IA32_MISC_ENABLE[34]); a full flag list
 * without `nx` is taken as such a hidden XD (kvm-unit-tests `test_efer` does the same).
 */
export function eferValidLo(f: RawFacts): number {
  const nx = feature(f, "nx");
  const hidden = nx === false || (nx === undefined && f.flags.has("lm") && !f.flags.has("nx"));
  return hidden ? 0x501 : 0xd01;
}

// ---------------------------------------------------------------------------------------------------------
// Which MSRs exist and may be written by WRMSR (VM-entry MSR loading, SDM 29.4).

/** How an MSR-load entry for an MSR fares, as far as the profile's facts tell. */
export type MsrStatus =
  /** the MSR exists and VM entry may load it (its value may still be judged by other rules) */
  | "loadable"
  /** WRMSR to it raises #GP: it does not exist on this CPU, or is read-only */
  | "unwritable"
  /** the facts do not say whether it exists */
  | "unknown"
  /** it exists, but the SDM lets a processor refuse to load it on VM entry */
  | "refusable";

export interface MsrInfo {
  readonly status: MsrStatus;
  /** SDM name when known ("IA32_PAT"). */
  readonly name?: string;
  /** Why, for messages: "read-only", "CPUID.…[…] is 0", "not in the profile's sources". */
  readonly why: string;
  /** The facts the status rests on. */
  readonly dependsOn: readonly string[];
  /** For "unknown" and "refusable": "if …", the condition under which the load fails. */
  readonly condition?: string;
}

type Exists = (f: RawFacts) => boolean | undefined;
interface MsrEntry {
  readonly lo: number;
  readonly hi: number;
  readonly name: string;
  /** undefined: always implemented (architectural since P6 or earlier). */
  readonly exists?: Exists;
  readonly why?: string;
  readonly deps?: readonly string[];
  readonly readOnly?: boolean;
  readonly refusable?: boolean;
  /** Judged by a rule of its own (src/checks/msr-load.ts: FS/GS base, x2APIC, SMM-only, SMBASE). */
  readonly ownRule?: boolean;
}

const has =
  (name: FeatureName): Exists =>
  (f) =>
    feature(f, name);
const anyOf =
  (...names: FeatureName[]): Exists =>
  (f) => {
    const v = names.map((n) => feature(f, n));
    return v.includes(true) ? true : v.includes(undefined) ? undefined : false;
  };
/** Microcode-delivered MSRs (speculation controls): a dump without the bit does not prove the MSR absent. */
const microcode =
  (...names: FeatureName[]): Exists =>
  (f) =>
    anyOf(...names)(f) === true ? true : undefined;

/** Performance-monitoring MSRs indexed by counter: counter i exists when the PMU has it on every core type. */
function counterExists(kind: "gp" | "fixed", i: number): Exists {
  return (f) => {
    const mask = decodeMasksCached(f).perfGlobalCtrl;
    const b = kind === "gp" ? bit(i) : bit(32 + i);
    if ((mask.strict & b) !== 0n) return true;
    if ((mask.lenient & b) === 0n) return false;
    return undefined;
  };
}
const pmuVersion =
  (min: number): Exists =>
  (f) => {
    const a = cpuidLeaf(f, 0xa);
    return a ? (a.eax & 0xff) >= min : undefined;
  };

const e = (lo: number, name: string, opts: Partial<MsrEntry> = {}, hi = lo): MsrEntry => ({
  lo,
  hi,
  name,
  ...opts,
});
const feat = (name: FeatureName, extra: Partial<MsrEntry> = {}): Partial<MsrEntry> => ({
  exists: has(name),
  why: `${featureText(name)} is 0`,
  deps: [featureFact(name)],
  ...extra,
});

/**
 * Architectural MSRs VM entry may be asked to load, with the CPUID condition under which each exists (SDM
 * Vol. 4 Table 2-2 "IA-32 Architectural MSRs", column "Introduced as Architectural MSR"), the read-only ones
 * (WRMSR raises #GP; VBoxCpuReport's write probes of the i7-6700K agree: VirtualBox
 * src/VBox/VMM/VMMR3/cpus/Intel_Core_i7_6700K.h marks them ReadOnly) and the two the SDM lets a processor
 * refuse on VM entry (IA32_BIOS_UPDT_TRIG, IA32_BIOS_SIGN_ID: "A processor may prevent writing to this MSR
 * when loading guest states on VM entries"). MSRs other MSR-load rules own are marked so.
 */
const ARCHITECTURAL: readonly MsrEntry[] = [
  e(0xc0000100, "IA32_FS_BASE", { ownRule: true }, 0xc0000101),
  e(0x800, "x2APIC MSRs", { ownRule: true }, 0x8ff),
  e(0x9b, "IA32_SMM_MONITOR_CTL", { ownRule: true }),
  e(0x9e, "IA32_SMBASE", { ownRule: true }),
  e(0x0, "IA32_P5_MC_ADDR"),
  e(0x1, "IA32_P5_MC_TYPE"),
  e(0x6, "IA32_MONITOR_FILTER_SIZE", feat("monitor")),
  e(0x10, "IA32_TIME_STAMP_COUNTER", feat("tsc")),
  e(0x17, "IA32_PLATFORM_ID", { readOnly: true }),
  e(0x1b, "IA32_APIC_BASE", feat("apic")),
  // Writable only while unlocked (bit 0); VMXON requires it locked, so in VMX operation it is read-only.
  e(0x3a, "IA32_FEATURE_CONTROL", {
    readOnly: true,
    why: "locked (VMXON requires IA32_FEATURE_CONTROL[0] = 1)",
  }),
  e(0x3b, "IA32_TSC_ADJUST", feat("tscAdjust")),
  e(0x48, "IA32_SPEC_CTRL", {
    exists: microcode("ibrs", "stibp", "ssbd"),
    why: "CPUID.(EAX=07H,ECX=0):EDX[26], [27] and [31] are 0",
    deps: [featureFact("ibrs")],
  }),
  e(0x49, "IA32_PRED_CMD", {
    exists: microcode("ibrs"),
    why: "CPUID.(EAX=07H,ECX=0):EDX[26] is 0",
    deps: [featureFact("ibrs")],
  }),
  e(0x79, "IA32_BIOS_UPDT_TRIG", { refusable: true }),
  e(0x8b, "IA32_BIOS_SIGN_ID", { refusable: true }),
  e(0xe7, "IA32_MPERF", feat("aperfMperf")),
  e(0xe8, "IA32_APERF", feat("aperfMperf")),
  e(0xfe, "IA32_MTRRCAP", { readOnly: true }),
  e(0x10a, "IA32_ARCH_CAPABILITIES", { readOnly: true }),
  e(0x10b, "IA32_FLUSH_CMD", {
    exists: microcode("l1dFlush"),
    why: "CPUID.(EAX=07H,ECX=0):EDX[28] is 0",
    deps: [featureFact("l1dFlush")],
  }),
  e(0x174, "IA32_SYSENTER_CS", feat("sep")),
  e(0x175, "IA32_SYSENTER_ESP", feat("sep")),
  e(0x176, "IA32_SYSENTER_EIP", feat("sep")),
  e(0x179, "IA32_MCG_CAP", { readOnly: true }),
  e(0x17a, "IA32_MCG_STATUS", feat("mca")),
  e(0x199, "IA32_PERF_CTL", feat("est")),
  e(0x1a0, "IA32_MISC_ENABLE"),
  e(0x1b0, "IA32_ENERGY_PERF_BIAS", feat("epb")),
  e(0x1c4, "IA32_XFD", feat("xfd")),
  e(0x1c5, "IA32_XFD_ERR", feat("xfd")),
  e(0x1cc, "IA32_FRED_RSP0..3, STKLVLS, SSP1..3, CONFIG", feat("fred"), 0x1d4),
  e(0x1d9, "IA32_DEBUGCTL"),
  e(0x277, "IA32_PAT", feat("pat")),
  e(0x2ff, "IA32_MTRR_DEF_TYPE", feat("mtrr")),
  e(0x345, "IA32_PERF_CAPABILITIES", { readOnly: true }),
  e(0x38d, "IA32_FIXED_CTR_CTRL", {
    exists: pmuVersion(2),
    why: "CPUID.0AH:EAX[7:0] < 2",
    deps: [leafFact(0xa)],
  }),
  e(0x38e, "IA32_PERF_GLOBAL_STATUS", { readOnly: true }),
  e(0x38f, "IA32_PERF_GLOBAL_CTRL", {
    exists: pmuVersion(1),
    why: "CPUID.0AH:EAX[7:0] = 0",
    deps: [leafFact(0xa)],
  }),
  e(0x390, "IA32_PERF_GLOBAL_OVF_CTRL", {
    exists: pmuVersion(2),
    why: "CPUID.0AH:EAX[7:0] < 2",
    deps: [leafFact(0xa)],
  }),
  e(0x480, "IA32_VMX_* capability MSRs", { readOnly: true }, 0x493),
  e(0x560, "IA32_RTIT_OUTPUT_BASE", feat("pt")),
  e(0x561, "IA32_RTIT_OUTPUT_MASK_PTRS", feat("pt")),
  e(0x570, "IA32_RTIT_CTL", feat("pt")),
  e(0x571, "IA32_RTIT_STATUS", feat("pt")),
  e(0x600, "IA32_DS_AREA", feat("ds")),
  e(0x6a0, "IA32_U_CET", {
    exists: anyOf("cetSs", "cetIbt"),
    why: "CPUID.(EAX=07H,ECX=0):ECX[7] and EDX[20] are 0",
    deps: [leafFact(7, 0)],
  }),
  e(0x6a2, "IA32_S_CET", {
    exists: anyOf("cetSs", "cetIbt"),
    why: "CPUID.(EAX=07H,ECX=0):ECX[7] and EDX[20] are 0",
    deps: [leafFact(7, 0)],
  }),
  e(0x6a4, "IA32_PL0_SSP..IA32_PL3_SSP", feat("cetSs"), 0x6a7),
  e(0x6a8, "IA32_INTERRUPT_SSP_TABLE_ADDR", feat("cetSs")),
  e(0x6e0, "IA32_TSC_DEADLINE", feat("tscDeadline")),
  e(0x6e1, "IA32_PKRS", feat("pks")),
  e(0xc80, "IA32_DEBUG_INTERFACE", feat("sdbg")),
  e(0xd90, "IA32_BNDCFGS", feat("mpx")),
  e(0xda0, "IA32_XSS", feat("xsaves")),
  e(0x14ce, "IA32_LBR_CTL", feat("archLbr")),
  e(0x14cf, "IA32_LBR_DEPTH", feat("archLbr")),
  e(0xc0000080, "IA32_EFER", { exists: (f) => (f.intel64 ? true : anyOf("lm", "nx", "syscall")(f)) }),
  e(0xc0000081, "IA32_STAR", feat("lm")),
  e(0xc0000082, "IA32_LSTAR", feat("lm")),
  e(0xc0000083, "IA32_CSTAR", feat("lm")),
  e(0xc0000084, "IA32_FMASK", feat("lm")),
  e(0xc0000102, "IA32_KERNEL_GS_BASE", feat("lm")),
  e(0xc0000103, "IA32_TSC_AUX", {
    exists: anyOf("rdtscp", "rdpid"),
    why: "CPUID.80000001H:EDX[27] and CPUID.(EAX=07H,ECX=0):ECX[22] are 0",
    deps: [leafFact(0x80000001), leafFact(7, 0)],
  }),
];

/** Counter-indexed performance-monitoring MSRs (SDM Vol. 4 Table 2-2: IA32_PMCn, IA32_PERFEVTSELn, …). */
function counterMsr(index: number): MsrEntry | undefined {
  const gp = (base: number, name: string) =>
    index >= base && index < base + 32
      ? e(index, `${name}${index - base}`, {
          exists: counterExists("gp", index - base),
          why: `the CPU has no general-purpose counter ${index - base}`,
          deps: [leafFact(0xa)],
        })
      : undefined;
  return (
    gp(0xc1, "IA32_PMC") ??
    gp(0x186, "IA32_PERFEVTSEL") ??
    (index >= 0x4c1 && index < 0x4c1 + 32
      ? e(index, `IA32_A_PMC${index - 0x4c1}`, {
          exists: (f) => {
            const c = counterExists("gp", index - 0x4c1)(f);
            const fw = perfCap(f, 13);
            return c === false || fw === false ? false : c && fw ? true : undefined;
          },
          why: `the CPU has no general-purpose counter ${index - 0x4c1} or no full-width writes (IA32_PERF_CAPABILITIES[13])`,
          deps: [leafFact(0xa), msrFact(PERF_CAPABILITIES)],
        })
      : undefined) ??
    (index >= 0x309 && index < 0x309 + 16
      ? e(index, `IA32_FIXED_CTR${index - 0x309}`, {
          exists: counterExists("fixed", index - 0x309),
          why: `the CPU has no fixed counter ${index - 0x309}`,
          deps: [leafFact(0xa)],
        })
      : undefined)
  );
}

const masksCache = new WeakMap<RawFacts, Record<MaskName, DecodedMask>>();
function decodeMasksCached(f: RawFacts): Record<MaskName, DecodedMask> {
  let m = masksCache.get(f);
  if (!m) {
    m = decodeMasks(f);
    masksCache.set(f, m);
  }
  return m;
}

/** What the profile's facts say about an MSR-load entry for `index` (SDM 29.4; Vol. 4 Table 2-2). */
export function msrInfo(f: RawFacts, index: number): MsrInfo {
  const idx = index >>> 0;
  const entry = ARCHITECTURAL.find((x) => idx >= x.lo && idx <= x.hi) ?? counterMsr(idx);
  const seen = implemented(f, idx);
  const hexIdx = `0x${idx.toString(16)}`;
  if (!entry) {
    // Model-specific: nvmx knows neither which values WRMSR accepts nor, unless the sources list it, whether
    // it exists.
    if (seen)
      return {
        status: "unknown",
        why: "a model-specific MSR: the profile's sources show it exists, not which values WRMSR accepts",
        dependsOn: [`msr-values.${hexIdx}`],
        condition: `if the CPU rejects this value for MSR ${hexIdx} (model-specific: its valid values are not in the profile)`,
      };
    return {
      status: "unknown",
      why: "neither architectural nor in the profile's list of the CPU's model-specific MSRs",
      dependsOn: [`msr-exists.${hexIdx}`],
      condition: `if the CPU does not implement MSR ${hexIdx} or rejects this value (neither architectural nor listed in the profile's sources)`,
    };
  }
  const name = entry.name;
  const what = `MSR ${hexIdx} (${name})`;
  if (entry.ownRule) return { status: "loadable", name, why: "", dependsOn: [] };
  if (entry.readOnly)
    return {
      status: "unwritable",
      name,
      why: entry.why ?? "read-only; WRMSR to it raises #GP",
      dependsOn: [],
    };
  if (entry.refusable)
    return {
      status: "refusable",
      name,
      why: "the SDM lets a processor refuse to load it on VM entry (Vol. 4 Table 2-2)",
      dependsOn: [`msr-refusable.${hexIdx}`],
      condition: `if the processor refuses to load ${what} on VM entry (SDM Vol. 4 Table 2-2 allows it; KVM refuses)`,
    };
  const ex = entry.exists ? entry.exists(f) : true;
  if (ex === true || seen) return { status: "loadable", name, why: "", dependsOn: [] };
  if (ex === false)
    return {
      status: "unwritable",
      name,
      why: `it does not exist on this CPU (${entry.why ?? "not enumerated"})`,
      dependsOn: entry.deps ?? [`msr-exists.${hexIdx}`],
    };
  const cond = entry.why?.replace(/ (is|are) 0$/, "") ?? "CPUID";
  return {
    status: "unknown",
    name,
    why: `the profile's CPU facts do not say whether it exists (${cond})`,
    dependsOn: entry.deps ?? [`msr-exists.${hexIdx}`],
    condition: `if the CPU lacks ${what} (${cond} not in the profile's CPU facts, or 0)`,
  };
}
