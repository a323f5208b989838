/**
 * CPU capability profiles: the capability MSRs (SDM Appendix A) and CPUID facts of one CPU, decoded once
 * into what the VM-entry checks need (allowed control settings, fixed CR bits, widths, masks).
 */
import type { ControlWord } from "../arch/controls.js";
import { BASIC, CAPABILITY_MSR_NAMES, type CapabilityMsrName, EPT_CAP, MISC } from "../arch/msrs.js";
import { InputError } from "../errors.js";
import { bitsFrom, hi32, lo32, parseU64 } from "../util/u64.js";

/** A profile as written in a data file or inline in an entry document (interface.md §1). */
export interface ProfileData {
  name?: string;
  description?: string;
  source?: string;
  hypervisor?: boolean;
  msrs: Partial<Record<CapabilityMsrName, string>>;
  maxPhysAddr?: number;
  linearAddressBits?: number;
  flags?: string[];
  /** Valid-bit masks of MSRs checked at VM entry, hex strings; documented defaults when absent. */
  debugctlValid?: string;
  perfGlobalCtrlValid?: string;
  rtitCtlValid?: string;
  lbrCtlValid?: string;
  specCtrlValid?: string;
  /** Raw CPUID leaves, "LEAF" or "LEAF.SUBLEAF" in hex → registers as hex strings (not decoded yet). */
  cpuid?: Record<string, { eax: string; ebx: string; ecx: string; edx: string }>;
  /** Non-VMX MSRs as read from the CPU, by hex index (not decoded yet). */
  msrValues?: Record<string, string>;
}

/** Allowed settings of one control word: bits that must be 1, bits that may be 1 (as 32-bit halves). */
export interface Allowed {
  must1: number;
  may1: number;
  must1Hi: number;
  may1Hi: number;
}

export interface Caps {
  readonly name: string;
  readonly description: string;
  readonly source: string;
  readonly hypervisor: boolean;
  readonly data: ProfileData;
  readonly msr: Partial<Record<CapabilityMsrName, bigint>>;
  readonly ctl: Readonly<Record<ControlWord, Allowed>>;
  /** IA32_VMX_BASIC decoded (SDM A.1). */
  readonly revision: number;
  readonly vmcsSize: number;
  readonly addr32: boolean;
  readonly dualMonitor: boolean;
  readonly trueCtls: boolean;
  readonly anyErrorCode: boolean;
  readonly nestedException: boolean;
  /** IA32_VMX_MISC decoded (SDM A.6). */
  readonly preemptionRate: number;
  readonly saveEferLma: boolean;
  readonly activityHlt: boolean;
  readonly activityShutdown: boolean;
  readonly activityWaitSipi: boolean;
  readonly cr3Targets: number;
  /** Recommended maximum number of MSRs in each MSR list: 512 * (N + 1). */
  readonly maxMsrList: number;
  readonly vmwriteAnyField: boolean;
  readonly zeroLengthInjection: boolean;
  /** CR fixed bits (SDM A.7, A.8): fixed0 bits must be 1, bits clear in fixed1 must be 0. */
  readonly cr0Fixed0: number;
  readonly cr0Fixed1: number;
  readonly cr0Fixed1Hi: number;
  readonly cr4Fixed0: number;
  readonly cr4Fixed1: number;
  readonly cr4Fixed1Hi: number;
  /** IA32_VMX_EPT_VPID_CAP (SDM A.10), halves. */
  readonly eptCap: number;
  readonly eptCapHi: number;
  /** IA32_VMX_VMFUNC allowed-1 bits (SDM A.11). */
  readonly vmfuncLo: number;
  readonly vmfuncHi: number;
  readonly maxPhysAddr: number;
  /** Bits beyond MAXPHYADDR (or beyond 32 when IA32_VMX_BASIC[48]), which a physical address must not set. */
  readonly physReservedLo: number;
  readonly physReservedHi: number;
  readonly linearAddressBits: number;
  readonly flags: ReadonlySet<string>;
  /** IA32_EFER bits WRMSR/VM entry accept: SCE, LME, LMA, and NXE unless a full flag list lacks `nx`. */
  readonly eferValidLo: number;
  /** LAM supported: CR3 bits 62:61 are not reserved. */
  readonly lam: boolean;
  readonly debugctlValidLo: number;
  readonly debugctlValidHi: number;
  readonly perfGlobalCtrlValidLo: number;
  readonly perfGlobalCtrlValidHi: number;
  readonly rtitCtlValidLo: number;
  readonly rtitCtlValidHi: number;
  readonly lbrCtlValidLo: number;
  readonly lbrCtlValidHi: number;
  readonly specCtrlValidLo: number;
  readonly specCtrlValidHi: number;
  /** Flags the predicates test, decoded once from `flags` (a Set lookup is too slow for the hot path). */
  readonly sgx: boolean;
  readonly rtm: boolean;
  readonly ibt: boolean;
  /** Shadow stacks: `shstk` or `user_shstk`. */
  readonly shstk: boolean;
}

/**
 * Documented defaults for the valid-bit masks when a profile does not give them:
 * - IA32_DEBUGCTL (SDM Vol. 3 19.4.1 / 18.4.1): LBR(0), BTF(1), TR(6), BTS(7), BTINT(8), BTS_OFF_OS(9),
 *   BTS_OFF_USR(10), FREEZE_LBRS_ON_PMI(11), FREEZE_PERFMON_ON_PMI(12), ENABLE_UNCORE_PMI(13),
 *   FREEZE_WHILE_SMM(14), RTM_DEBUG(15); bus-lock detect (2) when the profile has `bus_lock_detect`.
 * - IA32_PERF_GLOBAL_CTRL (SDM Vol. 3 21.2.2): 8 general-purpose counters (bits 7:0), 4 fixed counters
 *   (bits 35:32) and PERF_METRICS_EN (bit 48).
 * - IA32_RTIT_CTL (SDM Vol. 3 33.2.8.2): every bit architecturally defined.
 * - IA32_LBR_CTL (SDM Vol. 3 19.1.2.1): LBREn, OS, USR, CALL_STACK (3:0), branch-type filters (22:16).
 * - IA32_SPEC_CTRL: IBRS, STIBP, SSBD, IPRED_DIS_U/S, RRSBA_DIS_U/S, PSFD, DDPD_U, BHI_DIS_S (bits 10, 8:0).
 */
export const MASK_DEFAULTS = {
  debugctlValid: 0xffc3n,
  perfGlobalCtrlValid: 0x1000f000000ffn,
  rtitCtlValid: 0x100ffff0fefffefn,
  lbrCtlValid: 0x7f000fn,
  specCtrlValid: 0x5ffn,
} as const;

function allowed(v: bigint | undefined, must1Override?: bigint): Allowed {
  if (v === undefined) return { must1: 0, may1: 0, must1Hi: 0, may1Hi: 0 };
  const must1 = must1Override !== undefined ? lo32(must1Override) : lo32(v);
  return { must1, may1: hi32(v), must1Hi: 0, may1Hi: 0 };
}

/** 64-bit allowed-1-only controls (tertiary, secondary exit: SDM A.3.4, A.4.2). */
function allowed64(v: bigint | undefined): Allowed {
  if (v === undefined) return { must1: 0, may1: 0, must1Hi: 0, may1Hi: 0 };
  return { must1: 0, may1: lo32(v), must1Hi: 0, may1Hi: hi32(v) };
}

function maskOf(data: ProfileData, key: keyof typeof MASK_DEFAULTS, where: string): bigint {
  const raw = data[key];
  if (raw === undefined) {
    if (key === "debugctlValid" && data.flags?.includes("bus_lock_detect")) return MASK_DEFAULTS[key] | 4n;
    return MASK_DEFAULTS[key];
  }
  const v = parseU64(raw);
  if (v === undefined)
    throw new InputError(`${key} must be a hex string, got ${JSON.stringify(raw)}`, { location: where });
  return v;
}

/** The default1 class of each control word (SDM Appendix A.2): reserved bits that are 1 without TRUE_ MSRs. */
const DEFAULT1 = {
  IA32_VMX_PINBASED_CTLS: 0x16,
  IA32_VMX_PROCBASED_CTLS: 0x0401e172,
  IA32_VMX_EXIT_CTLS: 0x00036dff,
  IA32_VMX_ENTRY_CTLS: 0x000011ff,
} as const;

/** Decode a profile. Throws InputError naming the bad key. */
export function decodeProfile(data: ProfileData, where = "cpu"): Caps {
  if (typeof data !== "object" || data === null || typeof data.msrs !== "object" || data.msrs === null)
    throw new InputError("a CPU profile needs an object `msrs` of capability MSRs", { location: where });
  const msr: Partial<Record<CapabilityMsrName, bigint>> = {};
  for (const [k, raw] of Object.entries(data.msrs)) {
    if (!(CAPABILITY_MSR_NAMES as readonly string[]).includes(k))
      throw new InputError(
        `unknown capability MSR "${k}" (expected one of ${CAPABILITY_MSR_NAMES.join(", ")})`,
        {
          location: `${where}.msrs.${k}`,
        },
      );
    const v = parseU64(raw);
    if (v === undefined || v >= 1n << 64n)
      throw new InputError(`malformed value ${JSON.stringify(raw)}: expected a 64-bit hex string`, {
        location: `${where}.msrs.${k}`,
      });
    msr[k as CapabilityMsrName] = v;
  }
  const basic = msr.IA32_VMX_BASIC;
  if (basic === undefined)
    throw new InputError("IA32_VMX_BASIC is required in a CPU profile", { location: `${where}.msrs` });
  const bh = hi32(basic);
  const trueCtls = (bh & BASIC.TRUE_CTLS_HI) !== 0;
  // SDM A.2: with IA32_VMX_BASIC[55] the TRUE_* MSRs give the allowed-0 settings (the default1 class may be 0);
  // allowed-1 settings are the same in both.
  const pick = (plain: CapabilityMsrName, tru: CapabilityMsrName): Allowed => {
    const p = msr[plain];
    const t = trueCtls ? msr[tru] : undefined;
    if (t !== undefined) return { must1: lo32(t), may1: hi32(t), must1Hi: 0, may1Hi: 0 };
    const a = allowed(p);
    // IA32_VMX_BASIC[55] says the default1 bits may be 0 per the TRUE_ MSR, which this profile lacks: an
    // unknown capability must not produce a false violation, so the default1 class is not required (SDM A.2).
    if (trueCtls && p !== undefined) a.must1 &= ~DEFAULT1[plain as keyof typeof DEFAULT1];
    return a;
  };
  const misc = msr.IA32_VMX_MISC ?? 0n;
  const miscLo = lo32(misc);
  const maxPhysAddr = data.maxPhysAddr ?? 46;
  const linearAddressBits = data.linearAddressBits ?? (data.flags?.includes("la57") ? 57 : 48);
  if (!Number.isInteger(maxPhysAddr) || maxPhysAddr < 32 || maxPhysAddr > 52)
    throw new InputError(`maxPhysAddr must be an integer in 32..52, got ${maxPhysAddr}`, {
      location: `${where}.maxPhysAddr`,
    });
  if (linearAddressBits !== 48 && linearAddressBits !== 57)
    throw new InputError(`linearAddressBits must be 48 or 57, got ${linearAddressBits}`, {
      location: `${where}.linearAddressBits`,
    });
  const addr32 = (bh & BASIC.ADDR32_HI) !== 0;
  const phys = bitsFrom(addr32 ? Math.min(32, maxPhysAddr) : maxPhysAddr);
  const m = (k: keyof typeof MASK_DEFAULTS) => maskOf(data, k, `${where}.${k}`);
  const cr0f1 = msr.IA32_VMX_CR0_FIXED1 ?? 0xffffffffn;
  const cr4f1 = msr.IA32_VMX_CR4_FIXED1 ?? 0xffffffffn;
  const ept = msr.IA32_VMX_EPT_VPID_CAP ?? 0n;
  const vmfunc = msr.IA32_VMX_VMFUNC ?? 0n;
  const debugctl = m("debugctlValid");
  const perf = m("perfGlobalCtrlValid");
  const rtit = m("rtitCtlValid");
  const lbr = m("lbrCtlValid");
  const spec = m("specCtrlValid");
  const hasProc2 = (hi32(msr.IA32_VMX_PROCBASED_CTLS ?? 0n) >>> 31) & 1;
  const hasProc3 = (hi32(msr.IA32_VMX_PROCBASED_CTLS ?? 0n) >>> 17) & 1;
  const hasExit2 = (hi32(msr.IA32_VMX_EXIT_CTLS ?? 0n) >>> 31) & 1;
  const flag = (name: string): boolean => data.flags?.includes(name) ?? false;
  return {
    name: data.name ?? "inline",
    description: data.description ?? "",
    source: data.source ?? "",
    hypervisor: data.hypervisor ?? false,
    data,
    msr,
    ctl: {
      pin: pick("IA32_VMX_PINBASED_CTLS", "IA32_VMX_TRUE_PINBASED_CTLS"),
      proc: pick("IA32_VMX_PROCBASED_CTLS", "IA32_VMX_TRUE_PROCBASED_CTLS"),
      proc2: hasProc2 ? allowed(msr.IA32_VMX_PROCBASED_CTLS2) : allowed(undefined),
      proc3: hasProc3 ? allowed64(msr.IA32_VMX_PROCBASED_CTLS3) : allowed64(undefined),
      exit: pick("IA32_VMX_EXIT_CTLS", "IA32_VMX_TRUE_EXIT_CTLS"),
      exit2: hasExit2 ? allowed64(msr.IA32_VMX_EXIT_CTLS2) : allowed64(undefined),
      entry: pick("IA32_VMX_ENTRY_CTLS", "IA32_VMX_TRUE_ENTRY_CTLS"),
    },
    revision: lo32(basic) & BASIC.REVISION_MASK,
    vmcsSize: bh & 0x1fff,
    addr32,
    dualMonitor: (bh & BASIC.DUAL_MONITOR_HI) !== 0,
    trueCtls,
    anyErrorCode: (bh & BASIC.ANY_ERROR_CODE_HI) !== 0,
    nestedException: (bh & BASIC.NESTED_EXCEPTION_HI) !== 0,
    preemptionRate: miscLo & MISC.PREEMPTION_RATE,
    saveEferLma: (miscLo & MISC.SAVE_EFER_LMA) !== 0,
    activityHlt: (miscLo & MISC.ACTIVITY_HLT) !== 0,
    activityShutdown: (miscLo & MISC.ACTIVITY_SHUTDOWN) !== 0,
    activityWaitSipi: (miscLo & MISC.ACTIVITY_WAIT_SIPI) !== 0,
    cr3Targets: (miscLo >>> MISC.CR3_TARGETS_SHIFT) & 0x1ff,
    maxMsrList: 512 * (((miscLo >>> MISC.MAX_MSR_LIST_SHIFT) & 7) + 1),
    vmwriteAnyField: (miscLo & MISC.VMWRITE_ANY_FIELD) !== 0,
    zeroLengthInjection: (miscLo & MISC.ZERO_LEN_INJECTION) !== 0,
    cr0Fixed0: lo32(msr.IA32_VMX_CR0_FIXED0 ?? 0n),
    cr0Fixed1: lo32(cr0f1),
    cr0Fixed1Hi: hi32(cr0f1),
    cr4Fixed0: lo32(msr.IA32_VMX_CR4_FIXED0 ?? 0n),
    cr4Fixed1: lo32(cr4f1),
    cr4Fixed1Hi: hi32(cr4f1),
    eptCap: lo32(ept),
    eptCapHi: hi32(ept),
    vmfuncLo: lo32(vmfunc),
    vmfuncHi: hi32(vmfunc),
    maxPhysAddr,
    physReservedLo: phys.lo,
    physReservedHi: phys.hi,
    linearAddressBits,
    flags: new Set(data.flags ?? []),
    // A full /proc/cpuinfo list names `lm`; if it then lacks `nx`, execute-disable is off and NXE is reserved.
    eferValidLo: data.flags?.includes("lm") && !data.flags.includes("nx") ? 0x501 : 0xd01,
    lam: data.flags?.includes("lam") ?? false,
    debugctlValidLo: lo32(debugctl),
    debugctlValidHi: hi32(debugctl),
    perfGlobalCtrlValidLo: lo32(perf),
    perfGlobalCtrlValidHi: hi32(perf),
    rtitCtlValidLo: lo32(rtit),
    rtitCtlValidHi: hi32(rtit),
    lbrCtlValidLo: lo32(lbr),
    lbrCtlValidHi: hi32(lbr),
    specCtrlValidLo: lo32(spec),
    specCtrlValidHi: hi32(spec),
    sgx: flag("sgx"),
    rtm: flag("rtm"),
    ibt: flag("ibt"),
    shstk: flag("shstk") || flag("user_shstk"),
  };
}

export const EPT = EPT_CAP;
