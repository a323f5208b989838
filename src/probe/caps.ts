/**
 * `nvmx probe caps`: an nvmx CPU profile from the probe's report of a CPU (its VMX capability MSRs, CPUID
 * leaves and the other MSRs it could read). Flags are named as Linux's /proc/cpuinfo names them.
 */
import { CAPABILITY_MSRS } from "../arch/msrs.js";
import type { ProfileData } from "../cpu/profile.js";
import type { ProbeLog } from "./log.js";

/**
 * CPUID feature bits shown in /proc/cpuinfo: [leaf key, register, [[bit, name], ...]]. Facts from Linux
 * v6.18 arch/x86/include/asm/cpufeatures.h (words 0, 1, 4, 6, 7 (leaf 6), 9, 10, 12, 16, 18; names given in
 * quotes there, else the lower-case macro name; names hidden there (`""`) are left out), plus `pks`
 * (CPUID.7.0:ECX[31], protection keys for supervisor pages; the name nvmx profiles use).
 */
const CPUID_FLAGS: readonly (readonly [
  string,
  "eax" | "ebx" | "ecx" | "edx",
  readonly (readonly [number, string])[],
])[] = [
  [
    "0x1",
    "edx",
    [
      [0, "fpu"],
      [1, "vme"],
      [2, "de"],
      [3, "pse"],
      [4, "tsc"],
      [5, "msr"],
      [6, "pae"],
      [7, "mce"],
      [8, "cx8"],
      [9, "apic"],
      [11, "sep"],
      [12, "mtrr"],
      [13, "pge"],
      [14, "mca"],
      [15, "cmov"],
      [16, "pat"],
      [17, "pse36"],
      [18, "pn"],
      [19, "clflush"],
      [21, "dts"],
      [22, "acpi"],
      [23, "mmx"],
      [24, "fxsr"],
      [25, "sse"],
      [26, "sse2"],
      [27, "ss"],
      [28, "ht"],
      [29, "tm"],
      [30, "ia64"],
      [31, "pbe"],
    ],
  ],
  [
    "0x1",
    "ecx",
    [
      [0, "pni"],
      [1, "pclmulqdq"],
      [2, "dtes64"],
      [3, "monitor"],
      [4, "ds_cpl"],
      [5, "vmx"],
      [6, "smx"],
      [7, "est"],
      [8, "tm2"],
      [9, "ssse3"],
      [10, "cid"],
      [11, "sdbg"],
      [12, "fma"],
      [13, "cx16"],
      [14, "xtpr"],
      [15, "pdcm"],
      [17, "pcid"],
      [18, "dca"],
      [19, "sse4_1"],
      [20, "sse4_2"],
      [21, "x2apic"],
      [22, "movbe"],
      [23, "popcnt"],
      [24, "tsc_deadline_timer"],
      [25, "aes"],
      [26, "xsave"],
      [27, "osxsave"],
      [28, "avx"],
      [29, "f16c"],
      [30, "rdrand"],
      [31, "hypervisor"],
    ],
  ],
  [
    "0x80000001",
    "edx",
    [
      [11, "syscall"],
      [19, "mp"],
      [20, "nx"],
      [22, "mmxext"],
      [25, "fxsr_opt"],
      [26, "pdpe1gb"],
      [27, "rdtscp"],
      [29, "lm"],
      [30, "3dnowext"],
      [31, "3dnow"],
    ],
  ],
  [
    "0x80000001",
    "ecx",
    [
      [0, "lahf_lm"],
      [1, "cmp_legacy"],
      [2, "svm"],
      [3, "extapic"],
      [4, "cr8_legacy"],
      [5, "abm"],
      [6, "sse4a"],
      [7, "misalignsse"],
      [8, "3dnowprefetch"],
      [9, "osvw"],
      [10, "ibs"],
      [11, "xop"],
      [12, "skinit"],
      [13, "wdt"],
      [15, "lwp"],
      [16, "fma4"],
      [17, "tce"],
      [19, "nodeid_msr"],
      [21, "tbm"],
      [22, "topoext"],
      [23, "perfctr_core"],
      [24, "perfctr_nb"],
      [26, "bpext"],
      [27, "ptsc"],
      [28, "perfctr_llc"],
      [29, "mwaitx"],
    ],
  ],
  [
    "0x7.0",
    "ebx",
    [
      [0, "fsgsbase"],
      [1, "tsc_adjust"],
      [2, "sgx"],
      [3, "bmi1"],
      [4, "hle"],
      [5, "avx2"],
      [6, "fdp_excptn_only"],
      [7, "smep"],
      [8, "bmi2"],
      [9, "erms"],
      [10, "invpcid"],
      [11, "rtm"],
      [12, "cqm"],
      [13, "zero_fcs_fds"],
      [14, "mpx"],
      [15, "rdt_a"],
      [16, "avx512f"],
      [17, "avx512dq"],
      [18, "rdseed"],
      [19, "adx"],
      [20, "smap"],
      [21, "avx512ifma"],
      [23, "clflushopt"],
      [24, "clwb"],
      [25, "intel_pt"],
      [26, "avx512pf"],
      [27, "avx512er"],
      [28, "avx512cd"],
      [29, "sha_ni"],
      [30, "avx512bw"],
      [31, "avx512vl"],
    ],
  ],
  [
    "0x7.0",
    "ecx",
    [
      [1, "avx512vbmi"],
      [2, "umip"],
      [3, "pku"],
      [4, "ospke"],
      [5, "waitpkg"],
      [6, "avx512_vbmi2"],
      [7, "shstk"],
      [8, "gfni"],
      [9, "vaes"],
      [10, "vpclmulqdq"],
      [11, "avx512_vnni"],
      [12, "avx512_bitalg"],
      [13, "tme"],
      [14, "avx512_vpopcntdq"],
      [16, "la57"],
      [22, "rdpid"],
      [24, "bus_lock_detect"],
      [25, "cldemote"],
      [27, "movdiri"],
      [28, "movdir64b"],
      [29, "enqcmd"],
      [30, "sgx_lc"],
      [31, "pks"],
    ],
  ],
  [
    "0x7.0",
    "edx",
    [
      [2, "avx512_4vnniw"],
      [3, "avx512_4fmaps"],
      [4, "fsrm"],
      [8, "avx512_vp2intersect"],
      [9, "srbds_ctrl"],
      [10, "md_clear"],
      [11, "rtm_always_abort"],
      [13, "tsx_force_abort"],
      [14, "serialize"],
      [15, "hybrid_cpu"],
      [16, "tsxldtrk"],
      [18, "pconfig"],
      [19, "arch_lbr"],
      [20, "ibt"],
      [22, "amx_bf16"],
      [23, "avx512_fp16"],
      [24, "amx_tile"],
      [25, "amx_int8"],
      [26, "spec_ctrl"],
      [27, "intel_stibp"],
      [28, "flush_l1d"],
      [29, "arch_capabilities"],
      [30, "core_capabilities"],
      [31, "spec_ctrl_ssbd"],
    ],
  ],
  [
    "0x7.1",
    "eax",
    [
      [0, "sha512"],
      [1, "sm3"],
      [2, "sm4"],
      [4, "avx_vnni"],
      [5, "avx512_bf16"],
      [7, "cmpccxadd"],
      [8, "arch_perfmon_ext"],
      [10, "fzrm"],
      [11, "fsrs"],
      [12, "fsrc"],
      [17, "fred"],
      [18, "lkgs"],
      [19, "wrmsrns"],
      [21, "amx_fp16"],
      [23, "avx_ifma"],
      [26, "lam"],
    ],
  ],
  [
    "0xd.1",
    "eax",
    [
      [0, "xsaveopt"],
      [1, "xsavec"],
      [2, "xgetbv1"],
      [3, "xsaves"],
      [4, "xfd"],
    ],
  ],
  [
    "0x6",
    "eax",
    [
      [0, "dtherm"],
      [1, "ida"],
      [2, "arat"],
      [4, "pln"],
      [6, "pts"],
      [7, "hwp"],
      [8, "hwp_notify"],
      [9, "hwp_act_window"],
      [10, "hwp_epp"],
      [11, "hwp_pkg_req"],
      [15, "hwp_highest_perf_change"],
      [19, "hfi"],
    ],
  ],
];

const REG = { eax: 0, ebx: 1, ecx: 2, edx: 3 } as const;

/** The CPUID leaves a profile keeps (those the CPU reports; the probe also prints 80000000H, the range). */
export const PROFILE_LEAVES = [
  "0x0",
  "0x1",
  "0x6",
  "0x7.0",
  "0x7.1",
  "0xa",
  "0xd.0",
  "0xd.1",
  "0x14.0",
  "0x19",
  "0x80000001",
  "0x80000008",
];
const hex = (v: number | bigint) => `0x${v.toString(16)}`;

/** Linux flag names from CPUID leaves (keys as ProfileData.cpuid) and the VMX capability MSRs. */
export function flagsFrom(
  cpuid: ReadonlyMap<string, readonly number[]>,
  msrs: ReadonlyMap<number, bigint | "GP">,
): string[] {
  const out: string[] = [];
  for (const [leaf, reg, bits] of CPUID_FLAGS) {
    const r = cpuid.get(leaf);
    if (!r) continue;
    const v = r[REG[reg]]!;
    for (const [bit, name] of bits) if ((v >>> bit) & 1) out.push(name);
  }
  // Linux sets arch_perfmon when CPUID.0AH:EAX[7:0] (version) is nonzero
  const a = cpuid.get("0xa");
  if (a && (a[0]! & 0xff) !== 0) out.push("arch_perfmon");
  // the VMX flags Linux derives from the capability MSRs (arch/x86/kernel/cpu/intel.c, word 8)
  const m = (i: number) => {
    const v = msrs.get(i);
    return typeof v === "bigint" ? v : 0n;
  };
  const proc = m(0x482) >> 32n;
  const proc2 = proc & (1n << 31n) ? m(0x48b) >> 32n : 0n;
  const pin = m(0x481) >> 32n;
  const ept = m(0x48c);
  if (proc & (1n << 21n)) out.push("tpr_shadow");
  if (pin & (1n << 5n)) out.push("vnmi");
  if (proc & (1n << 21n) && proc2 & 1n) out.push("flexpriority");
  if (proc2 & 2n) out.push("ept");
  if (proc2 & (1n << 5n)) out.push("vpid");
  if (proc2 & 2n && ept & (1n << 21n)) out.push("ept_ad");
  return out;
}

export interface CapsFromLog {
  profile: ProfileData;
  /** What the log lacked (e.g. no CPUID 0x80000008). */
  notes: string[];
}

/** A profile from a probe log. Throws when the log has no VMX capability MSRs. */
export function profileFromLog(
  log: ProbeLog,
  name: string,
  description: string,
  source: string,
): CapsFromLog {
  const notes: string[] = [];
  if (log.novmx) throw new Error(`the CPU has no usable VMX: ${log.novmx}`);
  const msrs: Record<string, string> = {};
  for (const [sdm, index] of CAPABILITY_MSRS) {
    const v = log.msrs.get(index);
    if (typeof v === "bigint") msrs[sdm] = `0x${v.toString(16).padStart(16, "0")}`;
  }
  if (!msrs["IA32_VMX_BASIC"])
    throw new Error("the log has no IA32_VMX_BASIC (MSR 480H): not a probe log, or VMX was not enabled");
  const cpuid: Record<string, { eax: string; ebx: string; ecx: string; edx: string }> = {};
  for (const [k, r] of [...log.cpuid].sort(([a], [b]) => cpuidOrder(a) - cpuidOrder(b)))
    if (PROFILE_LEAVES.includes(k))
      cpuid[k] = { eax: hex(r[0]), ebx: hex(r[1]), ecx: hex(r[2]), edx: hex(r[3]) };
  const capIndexes = new Set<number>(CAPABILITY_MSRS.map((c) => c[1]));
  const msrValues: Record<string, string> = {};
  for (const [i, v] of [...log.msrs].sort(([a], [b]) => a - b))
    if (!capIndexes.has(i) && typeof v === "bigint") msrValues[hex(i)] = hex(v);
  const profile: ProfileData & { cpuid: typeof cpuid; msrValues: typeof msrValues } = {
    name,
    description,
    source,
    hypervisor: (log.cpuid.get("0x1")?.[2] ?? 0) >>> 31 === 1,
    msrs: msrs as ProfileData["msrs"],
    cpuid,
    msrValues,
  };
  const ext = log.cpuid.get("0x80000008");
  if (ext) {
    profile.maxPhysAddr = ext[0]! & 0xff;
    profile.linearAddressBits = (ext[0]! >>> 8) & 0xff;
  } else notes.push("no CPUID 80000008H: maxPhysAddr and linearAddressBits left to nvmx's defaults");
  profile.flags = flagsFrom(log.cpuid, log.msrs);
  const unreadable = [...log.msrs].filter(([, v]) => v === "GP").map(([i]) => hex(i));
  if (unreadable.length) notes.push(`RDMSR faulted for ${unreadable.join(", ")} (left out of msrValues)`);
  return { profile, notes };
}

function cpuidOrder(k: string): number {
  const [leaf, sub] = k.split(".");
  return Number(leaf) * 256 + Number(sub ?? 0);
}
