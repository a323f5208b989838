/** VMX capability MSRs (SDM Appendix A) and the layouts VM entry depends on. */

export const CAPABILITY_MSRS = [
  ["IA32_VMX_BASIC", 0x480, "A.1"],
  ["IA32_VMX_PINBASED_CTLS", 0x481, "A.3.1"],
  ["IA32_VMX_PROCBASED_CTLS", 0x482, "A.3.2"],
  ["IA32_VMX_EXIT_CTLS", 0x483, "A.4.1"],
  ["IA32_VMX_ENTRY_CTLS", 0x484, "A.5"],
  ["IA32_VMX_MISC", 0x485, "A.6"],
  ["IA32_VMX_CR0_FIXED0", 0x486, "A.7"],
  ["IA32_VMX_CR0_FIXED1", 0x487, "A.7"],
  ["IA32_VMX_CR4_FIXED0", 0x488, "A.8"],
  ["IA32_VMX_CR4_FIXED1", 0x489, "A.8"],
  ["IA32_VMX_VMCS_ENUM", 0x48a, "A.9"],
  ["IA32_VMX_PROCBASED_CTLS2", 0x48b, "A.3.3"],
  ["IA32_VMX_EPT_VPID_CAP", 0x48c, "A.10"],
  ["IA32_VMX_TRUE_PINBASED_CTLS", 0x48d, "A.3.1"],
  ["IA32_VMX_TRUE_PROCBASED_CTLS", 0x48e, "A.3.2"],
  ["IA32_VMX_TRUE_EXIT_CTLS", 0x48f, "A.4.1"],
  ["IA32_VMX_TRUE_ENTRY_CTLS", 0x490, "A.5"],
  ["IA32_VMX_VMFUNC", 0x491, "A.11"],
  ["IA32_VMX_PROCBASED_CTLS3", 0x492, "A.3.4"],
  ["IA32_VMX_EXIT_CTLS2", 0x493, "A.4.2"],
] as const;

export type CapabilityMsrName = (typeof CAPABILITY_MSRS)[number][0];

export const CAPABILITY_MSR_NAMES: readonly CapabilityMsrName[] = CAPABILITY_MSRS.map((m) => m[0]);

/** IA32_VMX_BASIC bits (SDM A.1). */
export const BASIC = {
  REVISION_MASK: 0x7fffffff,
  /** bits 44:32: VMCS region size */
  /** bit 48: physical addresses limited to 32 bits */
  ADDR32_HI: 1 << 16,
  /** bit 49: dual-monitor treatment of SMI/SMM */
  DUAL_MONITOR_HI: 1 << 17,
  /** bit 54: INS/OUTS exit information */
  INS_OUTS_HI: 1 << 22,
  /** bit 55: TRUE_* control MSRs report the allowed-0 settings */
  TRUE_CTLS_HI: 1 << 23,
  /** bit 56: VM entry does not check hardware-exception error-code consistency */
  ANY_ERROR_CODE_HI: 1 << 24,
  /** bit 58: nested-exception support (FRED) */
  NESTED_EXCEPTION_HI: 1 << 26,
} as const;

/** IA32_VMX_MISC bits (SDM A.6). */
export const MISC = {
  PREEMPTION_RATE: 0x1f,
  SAVE_EFER_LMA: 1 << 5,
  ACTIVITY_HLT: 1 << 6,
  ACTIVITY_SHUTDOWN: 1 << 7,
  ACTIVITY_WAIT_SIPI: 1 << 8,
  PT_IN_VMX: 1 << 14,
  RDMSR_SMBASE_IN_SMM: 1 << 15,
  CR3_TARGETS_SHIFT: 16,
  MAX_MSR_LIST_SHIFT: 25,
  SMM_VMXOFF_BLOCKS_SMI: 1 << 28,
  VMWRITE_ANY_FIELD: 1 << 29,
  ZERO_LEN_INJECTION: 1 << 30,
} as const;

/** IA32_VMX_EPT_VPID_CAP bits (SDM A.10), low 32 bits. */
export const EPT_CAP = {
  EXECUTE_ONLY: 1 << 0,
  PWL4: 1 << 6,
  PWL5: 1 << 7,
  UC: 1 << 8,
  WB: 1 << 14,
  PDE_2M: 1 << 16,
  PDPTE_1G: 1 << 17,
  INVEPT: 1 << 20,
  AD: 1 << 21,
  ADVANCED_EXIT_INFO: 1 << 22,
  SSS: 1 << 23,
} as const;

/** IA32_VMX_EPT_VPID_CAP bits (SDM A.10), high 32 bits. */
export const EPT_CAP_HI = {
  /** bits 53:48: maximum HLAT prefix size */
  HLAT_PREFIX_SHIFT: 16,
  HLAT_PREFIX_MASK: 0x3f,
} as const;
