/**
 * Output of QEMU's scripts/kvm/vmxcap → a CPU profile (ProfileData). The Basic/Misc/EPT/VMFUNC sections
 * carry "Hex:" lines in newer versions (taken as the MSR values); the control sections never do, so the
 * allowed-0/allowed-1 settings are rebuilt from each bit's word: "no" (must be 0), "yes" (0 or 1), "forced"
 * (must be 1), "default" (must be 1 in the plain MSR, may be 0 in the TRUE MSR). Bits the output does not
 * list are reserved: the plain MSRs get the architectural default-1 classes (SDM A.2), and a bit this
 * vmxcap version does not know is taken as allowed (said in the profile's description). CR0/CR4 fixed bits,
 * MAXPHYADDR, linear-address width and CPU flags are not in the output: the architectural fixed bits and,
 * so that an unknown capability produces no violation, MAXPHYADDR 52, 57-bit linear addresses and every
 * flag of the permissive profile (src/cpu/permissive.ts). No CPU facts either (vmxcap prints no CPUID leaf and
 * no non-VMX MSR): the MSR-value masks that rest on them (IA32_PERF_GLOBAL_CTRL from CPUID.0AH, IA32_RTIT_CTL
 * from leaf 14H, …) decode as uncertain, so values beyond what every CPU has are possible findings
 * (src/cpu/facts.ts). The only CPU fact vmxcap implies — Intel 64, from "IA-32e mode guest" — is read from
 * the rebuilt IA32_VMX_ENTRY_CTLS by the decoder.
 */
import type { CapabilityMsrName } from "../arch/msrs.js";
import { PERMISSIVE_FLAGS } from "../cpu/permissive.js";
import type { ProfileData } from "../cpu/profile.js";
import { InputError } from "../errors.js";
import { logLines } from "./text.js";

type Word = "pin" | "proc" | "proc2" | "proc3" | "exit" | "entry";
type Misc = "basic" | "misc" | "ept" | "vmfunc";

const SECTIONS: Record<string, Word | Misc> = {
  "basic vmx information": "basic",
  "pin-based controls": "pin",
  "primary processor-based controls": "proc",
  "secondary processor-based controls": "proc2",
  "tertiary processor-based controls": "proc3",
  "vm-exit controls": "exit",
  "vm-entry controls": "entry",
  "miscellaneous data": "misc",
  "vpid and ept capabilities": "ept",
  "vm functions": "vmfunc",
};

/** Bit names as vmxcap prints them (lower case) → bit. */
const BITS: Record<Word, Record<string, number>> = {
  pin: {
    "external interrupt exiting": 0,
    "nmi exiting": 3,
    "virtual nmis": 5,
    "activate vmx-preemption timer": 6,
    "process posted interrupts": 7,
  },
  proc: {
    "interrupt window exiting": 2,
    "use tsc offsetting": 3,
    "hlt exiting": 7,
    "invlpg exiting": 9,
    "mwait exiting": 10,
    "rdpmc exiting": 11,
    "rdtsc exiting": 12,
    "cr3-load exiting": 15,
    "cr3-store exiting": 16,
    "activate tertiary controls": 17,
    "cr8-load exiting": 19,
    "cr8-store exiting": 20,
    "use tpr shadow": 21,
    "nmi-window exiting": 22,
    "mov-dr exiting": 23,
    "unconditional i/o exiting": 24,
    "use i/o bitmaps": 25,
    "monitor trap flag": 27,
    "use msr bitmaps": 28,
    "monitor exiting": 29,
    "pause exiting": 30,
    "activate secondary control": 31,
  },
  proc2: {
    "virtualize apic accesses": 0,
    "enable ept": 1,
    "descriptor-table exiting": 2,
    "enable rdtscp": 3,
    "virtualize x2apic mode": 4,
    "enable vpid": 5,
    "wbinvd exiting": 6,
    "unrestricted guest": 7,
    "apic register emulation": 8,
    "virtual interrupt delivery": 9,
    "pause-loop exiting": 10,
    "rdrand exiting": 11,
    "enable invpcid": 12,
    "enable vm functions": 13,
    "vmcs shadowing": 14,
    "enable encls exiting": 15,
    "rdseed exiting": 16,
    "enable pml": 17,
    "ept-violation #ve": 18,
    "conceal non-root operation from pt": 19,
    "enable xsaves/xrstors": 20,
    "mode-based execute control (xs/xu)": 22,
    "sub-page write permissions": 23,
    "gpa translation for pt": 24,
    "tsc scaling": 25,
    "user wait and pause": 26,
    "enclv exiting": 28,
  },
  proc3: { "enable ipi virtualization": 4 },
  exit: {
    "save debug controls": 2,
    "host address-space size": 9,
    "load ia32_perf_global_ctrl": 12,
    "acknowledge interrupt on exit": 15,
    "save ia32_pat": 18,
    "load ia32_pat": 19,
    "save ia32_efer": 20,
    "load ia32_efer": 21,
    "save vmx-preemption timer value": 22,
    "clear ia32_bndcfgs": 23,
    "conceal vm exits from pt": 24,
    "clear ia32_rtit_ctl": 25,
  },
  entry: {
    "load debug controls": 2,
    "ia-32e mode guest": 9,
    "entry to smm": 10,
    "deactivate dual-monitor treatment": 11,
    "load ia32_perf_global_ctrl": 13,
    "load ia32_pat": 14,
    "load ia32_efer": 15,
    "load ia32_bndcfgs": 16,
    "conceal vm entries from pt": 17,
    "load ia32_rtit_ctl": 18,
  },
};

/** Default-1 classes of the plain control MSRs (SDM A.3.1, A.3.2, A.4.1, A.5). */
const DEFAULT1: Partial<Record<Word, number>> = { pin: 0x16, proc: 0x0401e172, exit: 0x36dff, entry: 0x11ff };

/** Single-bit and field items of the misc-style sections: name → [lo, hi]. */
const FIELDS: Record<Misc, Record<string, [number, number]>> = {
  basic: {
    revision: [0, 30],
    "vmcs size": [32, 44],
    "vmcs restricted to 32 bit addresses": [48, 48],
    "dual-monitor support": [49, 49],
    "vmcs memory type": [50, 53],
    "ins/outs instruction information": [54, 54],
    "ia32_vmx_true_*_ctls support": [55, 55],
    "skip checks on event error code": [56, 56],
  },
  misc: {
    "vmx-preemption timer scale (log2)": [0, 4],
    "store efer.lma into ia-32e mode guest control": [5, 5],
    "hlt activity state": [6, 6],
    "shutdown activity state": [7, 7],
    "wait-for-sipi activity state": [8, 8],
    "pt in vmx operation": [14, 14],
    "ia32_smbase support": [15, 15],
    "number of cr3-target values": [16, 24],
    "msr-load/store count recommendation": [25, 27],
    "ia32_smm_monitor_ctl[2] can be set to 1": [28, 28],
    "vmwrite to vm-exit information fields": [29, 29],
    "inject event with insn length=0": [30, 30],
    "mseg revision identifier": [32, 63],
  },
  ept: {
    "execute-only ept translations": [0, 0],
    "page-walk length 4": [6, 6],
    "page-walk length 5": [7, 7],
    "paging-structure memory type uc": [8, 8],
    "paging-structure memory type wb": [14, 14],
    "2mb ept pages": [16, 16],
    "1gb ept pages": [17, 17],
    "invept supported": [20, 20],
    "ept accessed and dirty flags": [21, 21],
    "advanced vm-exit information for ept violations": [22, 22],
    "single-context invept": [25, 25],
    "all-context invept": [26, 26],
    "invvpid supported": [32, 32],
    "individual-address invvpid": [40, 40],
    "single-context invvpid": [41, 41],
    "all-context invvpid": [42, 42],
    "single-context-retaining-globals invvpid": [43, 43],
  },
  vmfunc: { "eptp switching": [0, 0] },
};

interface Ctl {
  plainMust1: number;
  trueMust1: number;
  may1: number;
  listed: number;
}

const ITEM = /^(.*?)\s+(yes|no|forced|default|\?|-?\d+)$/i;

/** Parse vmxcap output (one listing) into a CPU profile. */
export function parseVmxcap(text: string, name = "vmxcap"): ProfileData {
  const lines = logLines(text);
  if (lines.some((l) => /^@@ -\d+/.test(l.text)) || lines.some((l) => /^\+\+\+ \S/.test(l.text)))
    throw new InputError(
      "this is a unified diff of vmxcap outputs, not one listing: the lines the diff leaves out are unknown, so no complete profile can be rebuilt; give the full vmxcap output of one machine",
    );
  const ctl: Partial<Record<Word, Ctl>> = {};
  const misc: Partial<Record<Misc, { hex?: bigint; value: bigint; listed: boolean }>> = {};
  let section: Word | Misc | undefined;
  let seen = 0;
  const unknown: string[] = [];
  for (const { text: raw, line } of lines) {
    const t = raw.replace(/^.*?(Basic VMX Information)$/i, "$1");
    const sec = SECTIONS[t.toLowerCase()];
    if (sec) {
      section = sec;
      seen++;
      if (sec in BITS) ctl[sec as Word] = { plainMust1: 0, trueMust1: 0, may1: 0, listed: 0 };
      else misc[sec as Misc] = { value: 0n, listed: false };
      continue;
    }
    if (!section) continue;
    const hex = /^Hex: (0x[0-9a-f]+)$/i.exec(t);
    if (hex) {
      const m = misc[section as Misc];
      if (m) m.hex = BigInt(hex[1]!);
      continue;
    }
    const it = ITEM.exec(t);
    if (!it) {
      if (t === "" || t.startsWith("```")) continue;
      section = undefined; // anything else ends the listing
      continue;
    }
    const key = it[1]!.toLowerCase();
    const val = it[2]!.toLowerCase();
    if (section in BITS) {
      const c = ctl[section as Word]!;
      const bit = BITS[section as Word][key];
      if (bit === undefined) {
        unknown.push(`${section}: "${it[1]}"`);
        continue;
      }
      const m = 1 << bit;
      c.listed |= m;
      if (val === "yes") c.may1 |= m;
      else if (val === "forced") {
        c.may1 |= m;
        c.plainMust1 |= m;
        c.trueMust1 |= m;
      } else if (val === "default") {
        c.may1 |= m;
        c.plainMust1 |= m;
      } else if (val !== "no")
        throw new InputError(`unexpected setting "${it[2]}" for control "${it[1]}"`, { line });
    } else {
      const m = misc[section as Misc]!;
      const f = FIELDS[section as Misc][key];
      if (!f) {
        unknown.push(`${section}: "${it[1]}"`);
        continue;
      }
      m.listed = true;
      const v = val === "yes" ? 1n : val === "no" ? 0n : /^-?\d+$/.test(val) ? BigInt(val) : 0n;
      const width = BigInt(f[1] - f[0] + 1);
      m.value |= (v & ((1n << width) - 1n)) << BigInt(f[0]);
    }
  }
  if (seen === 0 || !misc.basic)
    throw new InputError('no vmxcap listing found (expected a "Basic VMX Information" section)');
  const hex64 = (v: bigint) => `0x${v.toString(16)}`;
  const msrs: Partial<Record<CapabilityMsrName, string>> = {};
  const basic = misc.basic.hex ?? misc.basic.value;
  const trueCtls = ((basic >> 55n) & 1n) === 1n;
  msrs.IA32_VMX_BASIC = hex64(basic);
  const assumedBits: string[] = [];
  const pair = (w: Word, plain: CapabilityMsrName, tru?: CapabilityMsrName) => {
    const c = ctl[w];
    if (!c) return;
    // a bit vmxcap does not list: default-1 class (reserved) → must be 1 in the plain MSR; any other
    // unlisted bit is one this vmxcap version does not know → allowed either way
    const d1 = DEFAULT1[w] ?? 0;
    const unlisted = ~c.listed >>> 0;
    const reservedMust1 = d1 & unlisted;
    const unknownMay1 = w === "proc2" || w === "exit" || w === "entry" ? unlisted & ~d1 : 0;
    if (unknownMay1) assumedBits.push(`${w} bits 0x${(unknownMay1 >>> 0).toString(16)}`);
    const may1 = (c.may1 | reservedMust1 | unknownMay1) >>> 0;
    const plainMust1 = (c.plainMust1 | reservedMust1) >>> 0;
    const trueMust1 = (c.trueMust1 | reservedMust1) >>> 0;
    msrs[plain] = hex64((BigInt(may1) << 32n) | BigInt(plainMust1));
    if (tru && trueCtls) msrs[tru] = hex64((BigInt(may1) << 32n) | BigInt(trueMust1));
  };
  pair("pin", "IA32_VMX_PINBASED_CTLS", "IA32_VMX_TRUE_PINBASED_CTLS");
  pair("proc", "IA32_VMX_PROCBASED_CTLS", "IA32_VMX_TRUE_PROCBASED_CTLS");
  pair("proc2", "IA32_VMX_PROCBASED_CTLS2");
  pair("exit", "IA32_VMX_EXIT_CTLS", "IA32_VMX_TRUE_EXIT_CTLS");
  pair("entry", "IA32_VMX_ENTRY_CTLS", "IA32_VMX_TRUE_ENTRY_CTLS");
  if (ctl.proc3) msrs.IA32_VMX_PROCBASED_CTLS3 = hex64(BigInt(ctl.proc3.may1 >>> 0));
  if (misc.misc) msrs.IA32_VMX_MISC = hex64(misc.misc.hex ?? misc.misc.value);
  if (misc.ept) msrs.IA32_VMX_EPT_VPID_CAP = hex64(misc.ept.hex ?? misc.ept.value);
  if (misc.vmfunc) msrs.IA32_VMX_VMFUNC = hex64(misc.vmfunc.hex ?? misc.vmfunc.value);
  // not in vmxcap output: the architectural fixed bits (PE, NE, PG; VMXE) and every CR bit allowed
  msrs.IA32_VMX_CR0_FIXED0 = "0x80000021";
  msrs.IA32_VMX_CR0_FIXED1 = "0xffffffff";
  msrs.IA32_VMX_CR4_FIXED0 = "0x2000";
  msrs.IA32_VMX_CR4_FIXED1 = "0x11bff7fff";
  const notes = [
    "rebuilt from vmxcap output",
    "CR0/CR4 fixed bits, MAXPHYADDR, linear-address width and CPU flags are not in vmxcap output (assumed: architectural fixed bits, MAXPHYADDR 52, 57-bit linear addresses, every flag)",
    "no CPUID leaves or non-VMX MSRs either: MSR values beyond what every CPU accepts (performance counters, PT, LBR, speculation-control bits) are possible findings, not definite ones",
  ];
  if (assumedBits.length)
    notes.push(`control bits this vmxcap does not list taken as allowed: ${assumedBits.join(", ")}`);
  if (unknown.length) notes.push(`items not understood: ${unknown.join("; ")}`);
  return {
    name,
    description: notes.join("; "),
    source: "vmxcap",
    msrs,
    maxPhysAddr: 52,
    linearAddressBits: 57,
    flags: [...PERMISSIVE_FLAGS],
  };
}

/** Does the text look like vmxcap output? */
export function looksLikeVmxcap(text: string): boolean {
  return /Basic VMX Information/i.test(text) && /(pin-based controls|VM-Entry controls)/i.test(text);
}
