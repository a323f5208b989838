/**
 * Raw CPU facts of a profile (docs/architecture.md §2): CPUID leaves as the CPU reports them, non-VMX MSR
 * values as read, and the model-specific MSRs the profile's source shows to exist. This module parses and
 * validates them and answers "is feature X present?" with three values — yes, no, or unknown —, which is
 * what src/cpu/facts.ts decodes the checks' masks from.
 */
import { InputError, preview } from "../errors.js";

export type Reg = "eax" | "ebx" | "ecx" | "edx";
export type CpuidRegs = Readonly<Record<Reg, number>>;

/** A profile key of the `cpuid` object: "LEAF" or "LEAF.SUBLEAF", hex ("0xa", "0x7.0", "0xd.1"). */
const CPUID_KEY = /^0x([0-9a-f]{1,8})(?:\.([0-9a-f]{1,8}))?$/i;
/** A profile key of the `msrValues` object, and an `msrsImplemented` item: "0x345", "0x680-0x68f". */
const MSR_INDEX = /^0x([0-9a-f]{1,8})$/i;
/** A 64-bit value in a profile: hex, any number of leading zeros (the profile schema's pattern). */
export const HEX64 = /^0[xX]0*[0-9a-fA-F]{1,16}$/;
const MSR_RANGE = /^0x([0-9a-f]{1,8})(?:-0x([0-9a-f]{1,8}))?$/i;
const REGS: readonly Reg[] = ["eax", "ebx", "ecx", "edx"];

/** The canonical key of a leaf: "0xa.0", "0x7.1". */
export function leafKey(leaf: number, sub = 0): string {
  return `0x${leaf.toString(16)}.${sub.toString(16)}`;
}

/** The key people read in `dependsOn`: "cpuid.0xa", "cpuid.0x7.1" (subleaf shown when nonzero or needed). */
export function leafFact(leaf: number, sub?: number): string {
  return sub === undefined
    ? `cpuid.0x${leaf.toString(16)}`
    : `cpuid.0x${leaf.toString(16)}.${sub.toString(16)}`;
}

/** "msr.0x345": the fact of an MSR's value. */
export function msrFact(index: number): string {
  return `msr.0x${index.toString(16)}`;
}

export interface RawFacts {
  /**
   * CPUID leaves by canonical key (`leafKey`): one value, or one per core type on a hybrid CPU whose logical
   * processors report the leaf differently (every multi-valued leaf lists its core types in the same order).
   */
  readonly cpuid: ReadonlyMap<string, readonly CpuidRegs[]>;
  /** Non-VMX MSR values by index. */
  readonly msrValues: ReadonlyMap<number, bigint>;
  /**
   * Bits WRMSR accepts, by MSR index, where the processor accepts fewer than its CPUID facts imply (a
   * hypervisor's virtual CPU): the masks decoded from the facts are narrowed to them (src/cpu/facts.ts).
   */
  readonly msrWritableBits: ReadonlyMap<number, bigint>;
  /** Inclusive index ranges of model-specific MSRs the source shows to exist. */
  readonly implemented: readonly (readonly [number, number])[];
  /** Linux /proc/cpuinfo flag names. */
  readonly flags: ReadonlySet<string>;
  /** The VMX capability MSRs allow IA-32e mode (only an Intel 64 processor can: SDM A.4, A.5). */
  readonly intel64: boolean;
}

function hex32(v: unknown, where: string): number {
  if (typeof v !== "string" || !/^0x[0-9a-f]{1,8}$/i.test(v.trim()))
    throw new InputError(`expected a 32-bit hex string like "0x1f", got ${preview(v)}`, {
      location: where,
    });
  return Number.parseInt(v.trim(), 16) >>> 0;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Parse the `cpuid` object of a profile; InputError naming the key on any malformed entry. A leaf's value is
 * a register object, or an array of them (one per core type of a hybrid CPU, in the same order for every
 * such leaf).
 */
export function parseCpuid(v: unknown, where: string): Map<string, readonly CpuidRegs[]> {
  const out = new Map<string, readonly CpuidRegs[]>();
  let types = 0;
  if (v === undefined) return out;
  if (!isRecord(v))
    throw new InputError('`cpuid` must be an object of leaves, e.g. {"0xa": {"eax": "0x7300404", …}}', {
      location: where,
    });
  for (const [k, regs] of Object.entries(v)) {
    const at = `${where}["${k}"]`;
    const m = CPUID_KEY.exec(k);
    if (!m)
      throw new InputError(
        `malformed CPUID key "${k}": expected "LEAF" or "LEAF.SUBLEAF" in hex, e.g. "0xa", "0x7.0", "0xd.1"`,
        { location: at },
      );
    const key = leafKey(Number.parseInt(m[1]!, 16), m[2] ? Number.parseInt(m[2], 16) : 0);
    if (out.has(key))
      throw new InputError(`CPUID leaf "${k}" is given twice (a leaf without subleaf means subleaf 0)`, {
        location: at,
      });
    const list = Array.isArray(regs) ? regs : [regs];
    if (Array.isArray(regs) && list.length < 2)
      throw new InputError("a CPUID leaf given as an array needs one value per core type (two or more)", {
        location: at,
      });
    if (list.length > 1) {
      if (types && list.length !== types)
        throw new InputError(
          `this leaf lists ${list.length} core types, another leaf ${types}: every per-core-type leaf must list the same core types in the same order`,
          { location: at },
        );
      types = list.length;
    }
    out.set(
      key,
      list.map((x, i) => parseRegs(x, list.length > 1 ? `${at}[${i}]` : at)),
    );
  }
  return out;
}

function parseRegs(regs: unknown, at: string): CpuidRegs {
  if (!isRecord(regs))
    throw new InputError(
      'a CPUID leaf must be an object {"eax", "ebx", "ecx", "edx"} of hex strings (or an array of them, one per core type)',
      {
        location: at,
      },
    );
  for (const r of Object.keys(regs))
    if (!(REGS as readonly string[]).includes(r))
      throw new InputError(`unknown register "${r}" (expected eax, ebx, ecx, edx)`, { location: at });
  const get = (r: Reg) => {
    if (!(r in regs)) throw new InputError(`register ${r} is missing`, { location: at });
    return hex32(regs[r], `${at}.${r}`);
  };
  return { eax: get("eax"), ebx: get("ebx"), ecx: get("ecx"), edx: get("edx") };
}

/**
 * Parse an object of 64-bit values by hex MSR index: `msrValues` ({"0x345": "0x33c5"}) or `msrWritableBits`
 * ({"0x1d9": "0x8003"}).
 */
export function parseMsrValues(
  v: unknown,
  where: string,
  key: "msrValues" | "msrWritableBits" = "msrValues",
): Map<number, bigint> {
  const out = new Map<number, bigint>();
  if (v === undefined) return out;
  if (!isRecord(v))
    throw new InputError(
      key === "msrValues"
        ? '`msrValues` must be an object of MSR values by hex index, e.g. {"0x345": "0x33c5"}'
        : '`msrWritableBits` must be an object of the bits WRMSR accepts by hex MSR index, e.g. {"0x1d9": "0x8003"}',
      {
        location: where,
      },
    );
  for (const [k, raw] of Object.entries(v)) {
    const at = `${where}["${k}"]`;
    const m = MSR_INDEX.exec(k);
    if (!m) throw new InputError(`malformed MSR index "${k}": expected hex like "0x345"`, { location: at });
    const idx = Number.parseInt(m[1]!, 16);
    if (out.has(idx)) throw new InputError(`MSR ${k} is given twice`, { location: at });
    if (typeof raw !== "string" || !HEX64.test(raw))
      throw new InputError(`malformed value ${preview(raw)}: expected a 64-bit hex string`, {
        location: at,
      });
    out.set(idx, BigInt(raw));
  }
  return out;
}

/** Parse `msrsImplemented`: hex indices or inclusive ranges "0x680-0x68f". */
export function parseImplemented(v: unknown, where: string): [number, number][] {
  if (v === undefined) return [];
  if (!Array.isArray(v))
    throw new InputError(
      '`msrsImplemented` must be an array of hex MSR indices or ranges, e.g. ["0x1c9", "0x680-0x68f"]',
      {
        location: where,
      },
    );
  return v.map((item, i) => {
    const at = `${where}[${i}]`;
    const m = typeof item === "string" ? MSR_RANGE.exec(item) : null;
    if (!m)
      throw new InputError(`malformed MSR ${preview(item)}: expected "0x1c9" or a range "0x680-0x68f"`, {
        location: at,
      });
    const a = Number.parseInt(m[1]!, 16);
    const b = m[2] ? Number.parseInt(m[2], 16) : a;
    if (b < a) throw new InputError(`MSR range ${item} ends before it starts`, { location: at });
    return [a, b] as [number, number];
  });
}

/** Parse `factSources`: citation per fact key; every key must name a fact the profile has. */
export function parseFactSources(
  v: unknown,
  where: string,
  cpuid: ReadonlyMap<string, readonly CpuidRegs[]>,
  msrValues: ReadonlyMap<number, bigint>,
): void {
  if (v === undefined) return;
  if (!isRecord(v))
    throw new InputError('`factSources` must be an object {"cpuid.0xa": "source", …}', { location: where });
  for (const [k, s] of Object.entries(v)) {
    const at = `${where}["${k}"]`;
    if (typeof s !== "string" || !s.trim())
      throw new InputError("a fact source must be a non-empty string", { location: at });
    if (k === "cpuid" || k === "msrValues" || k === "msrsImplemented") continue;
    const c = /^cpuid\.(.+)$/.exec(k);
    if (c) {
      const m = CPUID_KEY.exec(c[1]!);
      if (m && cpuid.has(leafKey(Number.parseInt(m[1]!, 16), m[2] ? Number.parseInt(m[2], 16) : 0))) continue;
      throw new InputError(`"${k}" names no leaf of this profile's \`cpuid\``, { location: at });
    }
    const r = /^msrValues\.0x([0-9a-f]{1,8})$/i.exec(k);
    if (r && msrValues.has(Number.parseInt(r[1]!, 16))) continue;
    throw new InputError(
      `unknown fact key "${k}" (expected "cpuid", "cpuid.LEAF[.SUBLEAF]", "msrValues", "msrValues.0xINDEX" or "msrsImplemented", naming a fact the profile gives)`,
      { location: at },
    );
  }
}

const ZERO: readonly CpuidRegs[] = [{ eax: 0, ebx: 0, ecx: 0, edx: 0 }];

/**
 * The values of a CPUID leaf as far as the facts tell (one per core type of a hybrid CPU): the leaf given,
 * or all zero when the facts show it is beyond the maximum leaf (leaf 0 / 80000000H) or beyond the subleaf
 * count of leaves 07H, 14H and 23H (SDM Vol. 2A CPUID); undefined when unknown.
 */
export function leafVariants(f: RawFacts, leaf: number, sub = 0): readonly CpuidRegs[] | undefined {
  const got = f.cpuid.get(leafKey(leaf, sub));
  if (got) return got;
  const max = f.cpuid.get(leafKey(leaf >= 0x80000000 ? 0x80000000 : 0))?.[0];
  if (max && leaf > max.eax >>> 0) return ZERO;
  if (sub > 0) {
    const s0 = f.cpuid.get(leafKey(leaf, 0))?.[0];
    // 07H and 14H: subleaf 0's EAX is the highest subleaf; 23H: subleaf 0's EAX is a bitmap of valid subleaves.
    if (s0 && (leaf === 7 || leaf === 0x14) && sub > s0.eax >>> 0) return ZERO;
    if (s0 && leaf === 0x23 && sub < 32 && ((s0.eax >>> sub) & 1) === 0) return ZERO;
  }
  return undefined;
}

/** A leaf's value when every core type reports the same (the first core type's otherwise). */
export function cpuidLeaf(f: RawFacts, leaf: number, sub = 0): CpuidRegs | undefined {
  return leafVariants(f, leaf, sub)?.[0];
}

/** A CPUID feature bit, with the Linux /proc/cpuinfo name(s) that report it. */
export interface Feature {
  readonly leaf: number;
  readonly sub: number;
  readonly reg: Reg;
  readonly bit: number;
  readonly flags: readonly string[];
}

const feat = (leaf: number, sub: number, reg: Reg, bit: number, ...flags: string[]): Feature => ({
  leaf,
  sub,
  reg,
  bit,
  flags,
});

/**
 * The CPUID features MSR validity depends on (SDM Vol. 2A CPUID; Linux arch/x86/include/asm/cpufeatures.h
 * for the flag names).
 */
export const FEATURES = {
  tsc: feat(1, 0, "edx", 4, "tsc"),
  apic: feat(1, 0, "edx", 9, "apic"),
  sep: feat(1, 0, "edx", 11, "sep"),
  mtrr: feat(1, 0, "edx", 12, "mtrr"),
  mca: feat(1, 0, "edx", 14, "mca"),
  pat: feat(1, 0, "edx", 16, "pat"),
  ds: feat(1, 0, "edx", 21, "dts"),
  monitor: feat(1, 0, "ecx", 3, "monitor"),
  dsCpl: feat(1, 0, "ecx", 4, "ds_cpl"),
  vmx: feat(1, 0, "ecx", 5, "vmx"),
  smx: feat(1, 0, "ecx", 6, "smx"),
  est: feat(1, 0, "ecx", 7, "est"),
  sdbg: feat(1, 0, "ecx", 11, "sdbg"),
  pdcm: feat(1, 0, "ecx", 15, "pdcm"),
  tscDeadline: feat(1, 0, "ecx", 24, "tsc_deadline_timer"),
  aperfMperf: feat(6, 0, "ecx", 0, "aperfmperf"),
  epb: feat(6, 0, "ecx", 3, "epb"),
  tscAdjust: feat(7, 0, "ebx", 1, "tsc_adjust"),
  rtm: feat(7, 0, "ebx", 11, "rtm"),
  mpx: feat(7, 0, "ebx", 14, "mpx"),
  pt: feat(7, 0, "ebx", 25, "intel_pt"),
  cetSs: feat(7, 0, "ecx", 7, "shstk", "user_shstk"),
  rdpid: feat(7, 0, "ecx", 22, "rdpid"),
  busLockDetect: feat(7, 0, "ecx", 24, "bus_lock_detect"),
  pks: feat(7, 0, "ecx", 31, "pks"),
  archLbr: feat(7, 0, "edx", 19, "arch_lbr"),
  cetIbt: feat(7, 0, "edx", 20, "ibt"),
  ibrs: feat(7, 0, "edx", 26, "spec_ctrl"),
  stibp: feat(7, 0, "edx", 27, "intel_stibp"),
  l1dFlush: feat(7, 0, "edx", 28, "flush_l1d"),
  archCapabilities: feat(7, 0, "edx", 29, "arch_capabilities"),
  ssbd: feat(7, 0, "edx", 31, "spec_ctrl_ssbd"),
  hybrid: feat(7, 0, "edx", 15, "hybrid_cpu"),
  archPerfmonExt: feat(7, 1, "eax", 8),
  fred: feat(7, 1, "eax", 17, "fred"),
  psfd: feat(7, 2, "edx", 0),
  ipredCtrl: feat(7, 2, "edx", 1),
  rrsbaCtrl: feat(7, 2, "edx", 2),
  ddpdU: feat(7, 2, "edx", 3),
  bhiCtrl: feat(7, 2, "edx", 4, "bhi_ctrl"),
  xsaves: feat(0xd, 1, "eax", 3, "xsaves"),
  xfd: feat(0xd, 1, "eax", 4, "xfd"),
  syscall: feat(0x80000001, 0, "edx", 11, "syscall"),
  nx: feat(0x80000001, 0, "edx", 20, "nx"),
  rdtscp: feat(0x80000001, 0, "edx", 27, "rdtscp"),
  lm: feat(0x80000001, 0, "edx", 29, "lm"),
} as const;
export type FeatureName = keyof typeof FEATURES;

/**
 * Is the feature present? From the raw leaf when the profile has it (definite both ways); otherwise a flag
 * that names it says yes, and nothing says no — a flag list may be partial or edited, so a missing flag
 * leaves the feature unknown. Intel 64 (LM) also follows from the VMX capability MSRs.
 */
export function feature(f: RawFacts, name: FeatureName): boolean | undefined {
  const ft = FEATURES[name];
  const regs = leafVariants(f, ft.leaf, ft.sub);
  if (regs) {
    const on = regs.filter((r) => ((r[ft.reg] >>> ft.bit) & 1) === 1).length;
    // Core types that disagree: present on some logical processors only.
    if (on === regs.length) return true;
    if (on === 0) return false;
    return undefined;
  }
  if (name === "lm" && f.intel64) return true;
  for (const fl of ft.flags) if (f.flags.has(fl)) return true;
  return undefined;
}

/** The fact key a feature rests on ("cpuid.0x7.0"). */
export function featureFact(name: FeatureName): string {
  const ft = FEATURES[name];
  return ft.leaf === 7 || ft.leaf === 0xd || ft.leaf === 0x14 ? leafFact(ft.leaf, ft.sub) : leafFact(ft.leaf);
}

/** "CPUID.(EAX=07H,ECX=0):EDX[26]" for messages. */
export function featureText(name: FeatureName): string {
  const ft = FEATURES[name];
  const leaf = `${ft.leaf.toString(16).toUpperCase()}H`;
  const which = ft.sub || ft.leaf === 7 || ft.leaf === 0xd ? `(EAX=${leaf},ECX=${ft.sub})` : `${leaf}`;
  return `CPUID.${which}:${ft.reg.toUpperCase()}[${ft.bit}]`;
}

/** Family and model (display model) from CPUID.01H:EAX, when leaf 1 is known (SDM Vol. 2A CPUID). */
export function familyModel(f: RawFacts): { family: number; model: number } | undefined {
  const l = f.cpuid.get(leafKey(1))?.[0];
  if (!l) return undefined;
  const base = (l.eax >>> 8) & 0xf;
  const family = base === 0xf ? base + ((l.eax >>> 20) & 0xff) : base;
  const model =
    base === 6 || base === 0xf ? (((l.eax >>> 16) & 0xf) << 4) | ((l.eax >>> 4) & 0xf) : (l.eax >>> 4) & 0xf;
  return { family, model };
}

/** Is the MSR in the profile's list of model-specific MSRs? */
export function implemented(f: RawFacts, index: number): boolean {
  for (const [a, b] of f.implemented) if (index >= a && index <= b) return true;
  return false;
}
