/**
 * CPU capability profiles: the capability MSRs (SDM Appendix A) and CPUID facts of one CPU, decoded once
 * into what the VM-entry checks need (allowed control settings, fixed CR bits, widths, masks).
 */
import type { ControlWord } from "../arch/controls.js";
import { BASIC, CAPABILITY_MSR_NAMES, type CapabilityMsrName, EPT_CAP, MISC } from "../arch/msrs.js";
import { InputError, preview } from "../errors.js";
import { bitsFrom, hi32, lo32 } from "../util/u64.js";
import {
  HEX64,
  parseCpuid,
  parseFactSources,
  parseImplemented,
  parseMsrValues,
  type RawFacts,
} from "./cpuid.js";
import {
  type DecodedMask,
  decodeMasks,
  eferValidLo,
  MASK_NAMES,
  type MaskName,
  type MsrInfo,
  msrInfo,
} from "./facts.js";

/** CPUID registers as written in a profile: hex strings. */
export type CpuidRegsData = Record<"eax" | "ebx" | "ecx" | "edx", string>;

/**
 * A profile as written in a data file or inline in an entry document (docs/architecture.md §2): the CPU's
 * facts as it reports them, never derived masks.
 */
export interface ProfileData {
  /** The JSON Schema the document follows (ignored). */
  $schema?: string;
  name?: string;
  description?: string;
  source?: string;
  hypervisor?: boolean;
  /** VMX capability MSRs by SDM name, hex strings. */
  msrs: Partial<Record<CapabilityMsrName, string>>;
  maxPhysAddr?: number;
  linearAddressBits?: number;
  /** Linux /proc/cpuinfo flag names. */
  flags?: string[];
  /**
   * Raw CPUID leaves by "LEAF" or "LEAF.SUBLEAF" (hex): {"0xa": {"eax": "0x7300404", …}}; an array of
   * register objects when the core types of a hybrid CPU report the leaf differently.
   */
  cpuid?: Record<string, CpuidRegsData | CpuidRegsData[]>;
  /** Non-VMX MSR values as read, by hex index: {"0x345": "0x33c5"}. */
  msrValues?: Record<string, string>;
  /** Model-specific MSRs the source shows to exist: hex indices or inclusive ranges ("0x680-0x68f"). */
  msrsImplemented?: string[];
  /**
   * Bits WRMSR accepts, by hex index, where the processor accepts fewer than its CPUID facts imply (a
   * hypervisor's virtual CPU): {"0x1d9": "0x8003"}. Narrows the valid masks of IA32_DEBUGCTL,
   * IA32_PERF_GLOBAL_CTRL, IA32_RTIT_CTL, IA32_LBR_CTL and IA32_SPEC_CTRL (docs/cpu-profiles.md).
   */
  msrWritableBits?: Record<string, string>;
  /** Citation per fact: {"cpuid.0xa": "…", "msrValues.0x345": "…", "msrsImplemented": "…"}. */
  factSources?: Record<string, string>;
}

/** Every key a profile may have. */
export const PROFILE_KEYS: readonly (keyof ProfileData)[] = [
  "$schema",
  "name",
  "description",
  "source",
  "hypervisor",
  "msrs",
  "maxPhysAddr",
  "linearAddressBits",
  "flags",
  "cpuid",
  "msrValues",
  "msrsImplemented",
  "msrWritableBits",
  "factSources",
];

/** Allowed settings of one control word: bits that must be 1, bits that may be 1 (as 32-bit halves). */
export interface Allowed {
  must1: number;
  may1: number;
  must1Hi: number;
  may1Hi: number;
}

/** A CPU profile, decoded: what its capability MSRs allow (controls, fixed CR bits, limits) and its CPU facts. */
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
  /**
   * MSR-load verdict for an MSR index as VM entry would give it on this reading of the profile: 1 when
   * WRMSR to it fails (it does not exist, is read-only, or — in a strict reading — may be absent or refused),
   * 0 otherwise. The value rules decide the rest.
   */
  readonly msrLoad: (index: number) => number;
  /** What the masks and MSR verdicts rest on, and the strict readings (src/cpu/facts.ts). */
  readonly facts: CapsFacts;
  /** Flags the predicates test, decoded once from `flags` (a Set lookup is too slow for the hot path). */
  readonly sgx: boolean;
  readonly rtm: boolean;
  readonly ibt: boolean;
  /** Shadow stacks: `shstk` or `user_shstk`. */
  readonly shstk: boolean;
}

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

/** The default1 class of each control word (SDM Appendix A.2): reserved bits that are 1 without TRUE_ MSRs. */
const DEFAULT1 = {
  IA32_VMX_PINBASED_CTLS: 0x16,
  IA32_VMX_PROCBASED_CTLS: 0x0401e172,
  IA32_VMX_EXIT_CTLS: 0x00036dff,
  IA32_VMX_ENTRY_CTLS: 0x000011ff,
} as const;

/** Checks the shape of a profile: known keys only, each of its type. Throws InputError naming the key. */
function validateShape(data: ProfileData, where: string): void {
  if (typeof data !== "object" || data === null || Array.isArray(data))
    throw new InputError("a CPU profile must be an object", { location: where });
  for (const k of Object.keys(data))
    if (!(PROFILE_KEYS as readonly string[]).includes(k))
      throw new InputError(`unknown profile key "${k}" (valid keys: ${PROFILE_KEYS.join(", ")})`, {
        location: `${where}.${k}`,
      });
  if (typeof data.msrs !== "object" || data.msrs === null || Array.isArray(data.msrs))
    throw new InputError("a CPU profile needs an object `msrs` of capability MSRs", { location: where });
  for (const k of ["$schema", "name", "description", "source"] as const)
    if (data[k] !== undefined && typeof data[k] !== "string")
      throw new InputError(`\`${k}\` must be a string, got ${preview(data[k])}`, {
        location: `${where}.${k}`,
      });
  if (data.hypervisor !== undefined && typeof data.hypervisor !== "boolean")
    throw new InputError(`\`hypervisor\` must be true or false, got ${preview(data.hypervisor)}`, {
      location: `${where}.hypervisor`,
    });
  if (
    data.flags !== undefined &&
    (!Array.isArray(data.flags) || data.flags.some((f) => typeof f !== "string"))
  )
    throw new InputError("`flags` must be an array of /proc/cpuinfo flag names (strings)", {
      location: `${where}.flags`,
    });
}

/** The raw CPU facts of a profile, validated (src/cpu/cpuid.ts). */
function rawFactsOf(data: ProfileData, where: string, intel64: boolean): RawFacts {
  const cpuid = parseCpuid(data.cpuid, `${where}.cpuid`);
  const msrValues = parseMsrValues(data.msrValues, `${where}.msrValues`);
  const implemented = parseImplemented(data.msrsImplemented, `${where}.msrsImplemented`);
  const msrWritableBits = parseMsrValues(data.msrWritableBits, `${where}.msrWritableBits`, "msrWritableBits");
  parseFactSources(data.factSources, `${where}.factSources`, cpuid, msrValues);
  return { cpuid, msrValues, msrWritableBits, implemented, flags: new Set(data.flags ?? []), intel64 };
}

/** Decode a profile. Throws InputError naming the bad key. */
export function decodeProfile(data: ProfileData, where = "cpu"): Caps {
  validateShape(data, where);
  const msr: Partial<Record<CapabilityMsrName, bigint>> = {};
  for (const [k, raw] of Object.entries(data.msrs)) {
    if (!(CAPABILITY_MSR_NAMES as readonly string[]).includes(k))
      throw new InputError(
        `unknown capability MSR "${k}" (expected one of ${CAPABILITY_MSR_NAMES.join(", ")})`,
        {
          location: `${where}.msrs.${k}`,
        },
      );
    // the schema's syntax exactly: a hex string ("0x…", at most 16 significant digits)
    const v = typeof raw === "string" && HEX64.test(raw) ? BigInt(raw) : undefined;
    if (v === undefined)
      throw new InputError(`malformed value ${preview(raw)}: expected a 64-bit hex string`, {
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
  // Absent means the default; any other value (null included) must be valid: nothing changes meaning silently.
  const maxPhysAddr = data.maxPhysAddr === undefined ? 46 : data.maxPhysAddr;
  const linearAddressBits =
    data.linearAddressBits === undefined ? (data.flags?.includes("la57") ? 57 : 48) : data.linearAddressBits;
  if (!Number.isInteger(maxPhysAddr) || maxPhysAddr < 32 || maxPhysAddr > 52)
    throw new InputError(`maxPhysAddr must be an integer in 32..52, got ${preview(maxPhysAddr)}`, {
      location: `${where}.maxPhysAddr`,
    });
  if (linearAddressBits !== 48 && linearAddressBits !== 57)
    throw new InputError(`linearAddressBits must be 48 or 57, got ${preview(linearAddressBits)}`, {
      location: `${where}.linearAddressBits`,
    });
  const addr32 = (bh & BASIC.ADDR32_HI) !== 0;
  const phys = bitsFrom(addr32 ? Math.min(32, maxPhysAddr) : maxPhysAddr);
  const cr0f1 = msr.IA32_VMX_CR0_FIXED1 ?? 0xffffffffn;
  const cr4f1 = msr.IA32_VMX_CR4_FIXED1 ?? 0xffffffffn;
  const ept = msr.IA32_VMX_EPT_VPID_CAP ?? 0n;
  const vmfunc = msr.IA32_VMX_VMFUNC ?? 0n;
  // Only an Intel 64 processor allows IA-32e mode guests or a 64-bit host (SDM A.4, A.5).
  const intel64 = ((hi32(msr.IA32_VMX_ENTRY_CTLS ?? 0n) >>> 9) & 1) === 1;
  const raw = rawFactsOf(data, where, intel64);
  const masks = decodeMasks(raw);
  const facts = new CapsFacts(raw, masks);
  const lenient = (k: MaskName) => masks[k].lenient;
  const debugctl = lenient("debugctl");
  const perf = lenient("perfGlobalCtrl");
  const rtit = lenient("rtitCtl");
  const lbr = lenient("lbrCtl");
  const spec = lenient("specCtrl");
  const hasProc2 = (hi32(msr.IA32_VMX_PROCBASED_CTLS ?? 0n) >>> 31) & 1;
  const hasProc3 = (hi32(msr.IA32_VMX_PROCBASED_CTLS ?? 0n) >>> 17) & 1;
  const hasExit2 = (hi32(msr.IA32_VMX_EXIT_CTLS ?? 0n) >>> 31) & 1;
  const flag = (name: string): boolean => data.flags?.includes(name) ?? false;
  const literal: Caps = {
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
    eferValidLo: eferValidLo(raw),
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
    msrLoad: facts.lenientMsrLoad,
    facts,
  };
  // A spread copy, like every strict reading (`withCaps`): V8 gives them one hidden class, so the context's
  // `caps` field, swapped between readings by the cpu-fact pass, stays monomorphic for the hot path.
  const caps: Caps = { ...literal };
  facts.bind(caps);
  return caps;
}

export const EPT = EPT_CAP;

// ---------------------------------------------------------------------------------------------------------
// Strict readings (docs/architecture.md §1 "cpu-fact"): copies of a profile's Caps in which one uncertain
// fact takes its narrowest value. The cpu-fact pass (src/entry/cpu-facts.ts) runs the checks that read the
// fact on such a copy; what fails only there is a possible finding.

/** The Caps fields of each mask (lo/hi halves). */
export const MASK_FIELDS: Readonly<Record<MaskName, readonly [keyof Caps, keyof Caps]>> = {
  perfGlobalCtrl: ["perfGlobalCtrlValidLo", "perfGlobalCtrlValidHi"],
  debugctl: ["debugctlValidLo", "debugctlValidHi"],
  rtitCtl: ["rtitCtlValidLo", "rtitCtlValidHi"],
  lbrCtl: ["lbrCtlValidLo", "lbrCtlValidHi"],
  specCtrl: ["specCtrlValidLo", "specCtrlValidHi"],
};

/** A fact the profile does not decide, and the reading of the profile in which it takes its strict value. */
export interface UncertainFact {
  /** Fact keys ("cpuid.0xa", "msr.0x345", "msr-exists.0x1ff"). */
  readonly dependsOn: readonly string[];
  /** "if …", for people. */
  readonly condition: string;
  /** The Caps fields whose value the strict reading changes. */
  readonly keys: readonly (keyof Caps)[];
  /** The profile with this fact strict and every other lenient. */
  readonly caps: Caps;
}

/**
 * A reading of `base` with some fields changed: a spread copy, then plain stores, so that every reading of
 * every profile shares the hidden class of the decoded profile itself (see decodeProfile).
 */
function withCaps(base: Caps, changes: Partial<Record<keyof Caps, unknown>>): Caps {
  const c = { ...base } as Record<string, unknown>;
  for (const [k, v] of Object.entries(changes)) c[k] = v;
  return c as unknown as Caps;
}

/** An MSR-load verdict: 0 loadable, 1 WRMSR fails. */
type MsrLoad = (index: number) => number;

/** Decoded facts of one profile: masks with their uncertain parts, MSR verdicts, strict readings. */
export class CapsFacts {
  private readonly infos = new Map<number, MsrInfo>();
  private readonly msrFacts = new Map<number, UncertainFact | null>();
  private base: Caps | undefined;
  private maskFacts: readonly UncertainFact[] | undefined;
  private strictAll: Caps | undefined;
  /** The lenient MSR-load verdict (Caps.msrLoad of the profile itself): 1 only for MSRs known unwritable. */
  readonly lenientMsrLoad: MsrLoad;
  /** Some mask has an uncertain part (a cheap test for the cpu-fact pass). */
  readonly anyUncertainMask: boolean;

  constructor(
    readonly raw: RawFacts,
    readonly masks: Readonly<Record<MaskName, DecodedMask>>,
  ) {
    const verdicts = new Map<number, number>();
    this.lenientMsrLoad = (index) => {
      let v = verdicts.get(index);
      if (v === undefined) {
        v = this.msr(index).status === "unwritable" ? 1 : 0;
        if (verdicts.size < 4096) verdicts.set(index, v);
      }
      return v;
    };
    this.anyUncertainMask = MASK_NAMES.some((n) => masks[n].parts.length > 0);
  }

  /** Ties the facts to the profile they were decoded for (called once by decodeProfile). */
  bind(caps: Caps): void {
    this.base = caps;
  }

  private caps(): Caps {
    if (!this.base) throw new Error("CapsFacts used before decodeProfile bound it");
    return this.base;
  }

  /** One per uncertain mask part; empty when the profile's facts decide every mask. */
  get uncertain(): readonly UncertainFact[] {
    if (!this.maskFacts) {
      const base = this.caps();
      const out: UncertainFact[] = [];
      for (const name of MASK_NAMES) {
        const mask = this.masks[name];
        const [lo, hi] = MASK_FIELDS[name];
        for (const part of mask.parts) {
          const v = mask.lenient & ~part.bits;
          out.push({
            dependsOn: part.dependsOn,
            condition: part.condition,
            keys: [lo, hi],
            caps: withCaps(base, { [lo]: lo32(v), [hi]: hi32(v) }),
          });
        }
      }
      this.maskFacts = out;
    }
    return this.maskFacts;
  }

  /** What the facts say about an MSR-load entry for this index. */
  msr(index: number): MsrInfo {
    const i = index >>> 0;
    let info = this.infos.get(i);
    if (!info) {
      info = msrInfo(this.raw, i);
      if (this.infos.size < 4096) this.infos.set(i, info);
    }
    return info;
  }

  /**
   * The strict reading for one MSR whose loadability is uncertain (unknown, or refusable on VM entry):
   * WRMSR to it fails, every other fact lenient. undefined when the facts decide the MSR.
   */
  msrFact(index: number): UncertainFact | undefined {
    const i = index >>> 0;
    const hit = this.msrFacts.get(i);
    if (hit !== undefined) return hit ?? undefined;
    const info = this.msr(i);
    let f: UncertainFact | null = null;
    if (info.status === "unknown" || info.status === "refusable") {
      const base = this.lenientMsrLoad;
      f = {
        dependsOn: info.dependsOn,
        condition: info.condition ?? `if the CPU cannot load MSR 0x${i.toString(16)} (${info.why})`,
        keys: ["msrLoad"],
        caps: withCaps(this.caps(), { msrLoad: (x: number) => (x >>> 0 === i ? 1 : base(x)) }),
      };
    }
    if (this.msrFacts.size < 4096) this.msrFacts.set(i, f);
    return f ?? undefined;
  }

  /**
   * The narrowest reading of the profile: every mask strict, every MSR not known to be loadable refused.
   * What passes here passes on every CPU the profile stands for (the generator builds on it).
   */
  conservative(): Caps {
    if (!this.strictAll) {
      const changes: Partial<Record<keyof Caps, unknown>> = {
        msrLoad: (i: number) => (this.msr(i).status === "loadable" ? 0 : 1),
      };
      for (const name of MASK_NAMES) {
        const [lo, hi] = MASK_FIELDS[name];
        changes[lo] = lo32(this.masks[name].strict);
        changes[hi] = hi32(this.masks[name].strict);
      }
      this.strictAll = withCaps(this.caps(), changes);
    }
    return this.strictAll;
  }
}
