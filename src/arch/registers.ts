/** Architectural register bits used by the VM-entry checks (SDM Vol. 3 2.5, 2.2.1; Vol. 3 3.4.5). */

export const CR0 = {
  PE: 1 << 0,
  MP: 1 << 1,
  EM: 1 << 2,
  TS: 1 << 3,
  ET: 1 << 4,
  NE: 1 << 5,
  WP: 1 << 16,
  AM: 1 << 18,
  NW: 1 << 29,
  CD: 1 << 30,
  PG: 1 << 31,
} as const;

/** CR4 bits; FRED (bit 32) lives in the high half. */
export const CR4 = {
  VME: 1 << 0,
  PVI: 1 << 1,
  TSD: 1 << 2,
  DE: 1 << 3,
  PSE: 1 << 4,
  PAE: 1 << 5,
  MCE: 1 << 6,
  PGE: 1 << 7,
  PCE: 1 << 8,
  OSFXSR: 1 << 9,
  OSXMMEXCPT: 1 << 10,
  UMIP: 1 << 11,
  LA57: 1 << 12,
  VMXE: 1 << 13,
  SMXE: 1 << 14,
  FSGSBASE: 1 << 16,
  PCIDE: 1 << 17,
  OSXSAVE: 1 << 18,
  KL: 1 << 19,
  SMEP: 1 << 20,
  SMAP: 1 << 21,
  PKE: 1 << 22,
  CET: 1 << 23,
  PKS: 1 << 24,
  UINTR: 1 << 25,
  LASS: 1 << 27,
  LAM_SUP: 1 << 28,
  /** bit 32, in the high 32 bits */
  FRED_HI: 1 << 0,
} as const;

/** CR3 bits 62:61 (LAM_U57, LAM_U48), as bits of the high half: not reserved with LAM. */
export const CR3 = {
  LAM_HI: (1 << 30) | (1 << 29),
} as const;

export const EFER = {
  SCE: 1 << 0,
  LME: 1 << 8,
  LMA: 1 << 10,
  NXE: 1 << 11,
  SVME: 1 << 12,
  LMSLE: 1 << 13,
  FFXSR: 1 << 14,
  TCE: 1 << 15,
} as const;

export const RFLAGS = {
  CF: 1 << 0,
  /** bit 1 is reserved and must be 1 */
  FIXED1: 1 << 1,
  PF: 1 << 2,
  AF: 1 << 4,
  ZF: 1 << 6,
  SF: 1 << 7,
  TF: 1 << 8,
  IF: 1 << 9,
  DF: 1 << 10,
  OF: 1 << 11,
  IOPL: 3 << 12,
  NT: 1 << 14,
  RF: 1 << 16,
  VM: 1 << 17,
  AC: 1 << 18,
  VIF: 1 << 19,
  VIP: 1 << 20,
  ID: 1 << 21,
  /** bits 3, 5, 15 and 63:22 are reserved and must be 0 */
  RESERVED_LO: (1 << 3) | (1 << 5) | (1 << 15) | ~0x3fffff,
} as const;

/** Segment access rights as the VMCS stores them (SDM 25.4.1, Table 25-2). */
export const AR = {
  TYPE: 0xf,
  /** type bit 0: accessed */
  ACCESSED: 1 << 0,
  /** code: readable; data: writable */
  RW: 1 << 1,
  /** code: conforming; data: expand-down */
  CE: 1 << 2,
  CODE: 1 << 3,
  S: 1 << 4,
  DPL: 3 << 5,
  P: 1 << 7,
  AVL: 1 << 12,
  L: 1 << 13,
  DB: 1 << 14,
  G: 1 << 15,
  UNUSABLE: 1 << 16,
  /** bits 11:8 and 31:17 are reserved */
  RESERVED: 0xf00 | ~0x1ffff,
  RESERVED_11_8: 0xf00,
  /** bits 31:17 (bit 16 is the unusable bit and bits 15:12 are G, D/B, L, AVL), as an int32 */
  RESERVED_31_17: 0xfffe0000 | 0,
} as const;

export function arDpl(ar: number): number {
  return (ar >>> 5) & 3;
}

/** Decode access rights the way a person reads a descriptor. */
export function describeAr(ar: number): string {
  if (ar & AR.UNUSABLE) return `0x${(ar >>> 0).toString(16)} (unusable)`;
  const t = ar & 0xf;
  const s = (ar >>> 4) & 1;
  const kind = s
    ? t & 8
      ? `code${t & 4 ? " conforming" : ""}${t & 2 ? " readable" : " execute-only"}`
      : `data${t & 4 ? " expand-down" : ""}${t & 2 ? " read/write" : " read-only"}`
    : (SYSTEM_TYPES[t] ?? "reserved system type");
  return `0x${(ar >>> 0).toString(16)} (type=${t} ${kind}${t & 1 && s ? " accessed" : ""}, S=${s}, DPL=${arDpl(ar)}, P=${(ar >>> 7) & 1}, AVL=${(ar >>> 12) & 1}, L=${(ar >>> 13) & 1}, D/B=${(ar >>> 14) & 1}, G=${(ar >>> 15) & 1})`;
}

/** System-segment and gate types (S=0), IA-32e naming where it differs (SDM Vol. 3 3.5, Table 3-2). */
export const SYSTEM_TYPES: Readonly<Record<number, string>> = {
  1: "16-bit TSS (available)",
  2: "LDT",
  3: "16-bit TSS (busy)",
  4: "16-bit call gate",
  5: "task gate",
  6: "16-bit interrupt gate",
  7: "16-bit trap gate",
  9: "32/64-bit TSS (available)",
  11: "32/64-bit TSS (busy)",
  12: "32/64-bit call gate",
  14: "32/64-bit interrupt gate",
  15: "32/64-bit trap gate",
};

export const DR7 = {
  /** bits 63:32 must be 0 at VM entry when "load debug controls" is 1 (SDM 29.3.1.1) */
  RESERVED_HI: 0xffffffff,
} as const;

/** A PAE page-directory-pointer-table entry (SDM Vol. 3 4.4.1, Table 4-8): present; bits 2:1 and 8:5 reserved. */
export const PDPTE = {
  PRESENT: 1 << 0,
  RESERVED_LO: 0x6 | 0x1e0,
} as const;

/** IA32_DEBUGCTL bits the checks name (SDM Vol. 3 19.4.1). */
export const DEBUGCTL = {
  /** last-branch record */
  LBR: 1 << 0,
  /** single-step on branches */
  BTF: 1 << 1,
  /** #DB on a bus lock (CPUID.(7,0):ECX[24]) */
  BUS_LOCK_DETECT: 1 << 2,
  /** RTM debug (with RTM) */
  RTM_DEBUG: 1 << 15,
} as const;

/** The first dword of a VMCS region (SDM 25.2): revision identifier (30:0) and shadow-VMCS indicator (31). */
export const VMCS_REGION = {
  REVISION: 0x7fffffff,
  SHADOW_INDICATOR: 0x80000000,
} as const;

/** Interruptibility state (SDM 25.4.2, Table 25-3). */
export const INTR = {
  STI: 1 << 0,
  MOV_SS: 1 << 1,
  SMI: 1 << 2,
  NMI: 1 << 3,
  ENCLAVE: 1 << 4,
  RESERVED: ~0x1f,
} as const;

/** Activity states (SDM 25.4.2, Table 25-4). */
export const ACTIVITY = { ACTIVE: 0, HLT: 1, SHUTDOWN: 2, WAIT_FOR_SIPI: 3 } as const;

/** Pending debug exceptions (SDM 25.4.2, Table 25-4): B3:0, enabled breakpoint (12), BS (14), RTM (16). */
export const PENDING_DBG = {
  B0_3: 0xf,
  ENABLED_BP: 1 << 12,
  BS: 1 << 14,
  RTM: 1 << 16,
  RESERVED_LO: ~(0xf | (1 << 12) | (1 << 14) | (1 << 16)),
} as const;

/** Injected-event identification field (VM-entry interruption information, SDM 25.8.3, Table 25-17). */
export const EVENT = {
  VECTOR: 0xff,
  TYPE_SHIFT: 8,
  DELIVER_ERROR_CODE: 1 << 11,
  NESTED_EXCEPTION: 1 << 13,
  VALID: 1 << 31,
  /** bits 30:12 (bit 13 is legal with IA32_VMX_BASIC[58]) */
  RESERVED: 0x7ffff000,
} as const;

export const EVENT_TYPE = {
  EXT_INTR: 0,
  RESERVED: 1,
  NMI: 2,
  HW_EXCEPTION: 3,
  SW_INTR: 4,
  PRIV_SW_EXCEPTION: 5,
  SW_EXCEPTION: 6,
  OTHER: 7,
} as const;

export const EVENT_TYPE_NAMES: readonly string[] = [
  "external interrupt",
  "reserved",
  "NMI",
  "hardware exception",
  "software interrupt",
  "privileged software exception",
  "software exception",
  "other event",
];

/** Exceptions that push an error code in protected mode (SDM Vol. 3 6.13): #DF #TS #NP #SS #GP #PF #AC #CP. */
export const ERROR_CODE_VECTORS: ReadonlySet<number> = new Set([8, 10, 11, 12, 13, 14, 17, 21]);

/** Memory types valid in IA32_PAT entries (SDM Vol. 3 13.12.2): UC, WC, WT, WP, WB, UC-. */
export const PAT_VALID_TYPES: ReadonlySet<number> = new Set([0, 1, 4, 5, 6, 7]);

/** MSR numbers that matter at VM entry (MSR-load area checks, SDM 29.4). */
export const MSR = {
  IA32_FS_BASE: 0xc0000100,
  IA32_GS_BASE: 0xc0000101,
  IA32_SMM_MONITOR_CTL: 0x9b,
  IA32_SMBASE: 0x9e,
  IA32_UCODE_UPDATE: 0x79,
  IA32_BIOS_UPDT_TRIG: 0x79,
  IA32_EFER: 0xc0000080,
  IA32_PAT: 0x277,
  IA32_DEBUGCTL: 0x1d9,
  IA32_SYSENTER_CS: 0x174,
  IA32_SYSENTER_ESP: 0x175,
  IA32_SYSENTER_EIP: 0x176,
  IA32_SPEC_CTRL: 0x48,
  IA32_PERF_GLOBAL_CTRL: 0x38f,
  IA32_RTIT_CTL: 0x570,
  IA32_DS_AREA: 0x600,
  IA32_LBR_CTL: 0x14ce,
  IA32_LSTAR: 0xc0000082,
  IA32_CSTAR: 0xc0000083,
  IA32_KERNEL_GS_BASE: 0xc0000102,
} as const;

/**
 * IA32_EFER bits an Intel 64 processor defines (SDM Vol. 3 2.2.1, Table 2-2: SCE, LME, LMA, NXE); every other
 * bit is reserved. SVME/LMSLE/FFXSR/TCE are AMD-only and reserved on Intel processors.
 */
export const EFER_VALID = EFER.SCE | EFER.LME | EFER.LMA | EFER.NXE;

/** IA32_S_CET / IA32_U_CET (SDM Vol. 1 18.3.1): bits 9:6 reserved; SUPPRESS (10) and TRACKER (11). */
export const CET_CTL = {
  RESERVED: 0x3c0,
  /** SH_STK_EN, WR_SHSTK_EN (1:0): reserved without shadow-stack support. */
  SHSTK: 0x3,
  /** ENDBR_EN … SUPPRESS_DIS (5:2), SUPPRESS (10), TRACKER (11), legacy-bitmap base 31:12: reserved without IBT. */
  IBT_LO: 0xfffffc3c,
  SUPPRESS: 1 << 10,
  TRACKER: 1 << 11,
} as const;

/** IA32_BNDCFGS (SDM Vol. 1 17.3.3): EN (0), BNDPRESERVE (1), base 63:12; bits 11:2 reserved. */
export const BNDCFGS = {
  RESERVED: 0xffc,
} as const;

/** IA32_FRED_CONFIG reserved bits 2, 5:4 and 11 (FRED specification; SDM Vol. 3 "FRED"). */
export const FRED_CONFIG_RESERVED = 0x834;

/** Mnemonics of exception vectors 0–31 (SDM Vol. 3 6.3.1, Table 6-1), for messages. */
export const EXCEPTION_NAMES: readonly string[] = [
  "#DE",
  "#DB",
  "NMI",
  "#BP",
  "#OF",
  "#BR",
  "#UD",
  "#NM",
  "#DF",
  "coprocessor segment overrun",
  "#TS",
  "#NP",
  "#SS",
  "#GP",
  "#PF",
  "reserved 15",
  "#MF",
  "#AC",
  "#MC",
  "#XM",
  "#VE",
  "#CP",
  "reserved 22",
  "reserved 23",
  "reserved 24",
  "reserved 25",
  "reserved 26",
  "reserved 27",
  "#HV",
  "#VC",
  "#SX",
  "reserved 31",
];

/**
 * Vectors for which VM entry requires deliver-error-code = 1 when injecting a hardware exception into a
 * protected-mode guest without IA32_VMX_BASIC[56] (SDM 29.2.1.3: #DF, #TS, #NP, #SS, #GP, #PF, #AC), as a bit
 * mask over vectors 0–31. #CP (21) is deliberately absent: the SDM's list of vectors that must not deliver an
 * error code (0–7, 9, 15, 16, 18–31) includes 21 (CET processors enumerate BASIC[56] instead).
 */
export const EVENT_ERROR_CODE_VECTOR_MASK =
  (1 << 8) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 17);
