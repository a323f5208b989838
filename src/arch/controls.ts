/**
 * Bit positions of the VMX control words (SDM 25.6 "VM-Execution Control Fields", 25.7.1 "VM-Exit
 * Controls", 25.8.1 "VM-Entry Controls"; Appendix A for the capability MSRs that report them).
 */

export interface ControlBit {
  readonly bit: number;
  readonly name: string;
  /** Linux /proc/cpuinfo "vmx flags" style short name, used in messages and the playground. */
  readonly short: string;
}

export type ControlWord = "pin" | "proc" | "proc2" | "proc3" | "exit" | "exit2" | "entry";

const bits = (rows: readonly (readonly [number, string, string])[]): readonly ControlBit[] =>
  rows.map(([bit, name, short]) => ({ bit, name, short }));

export const CONTROL_BITS: Readonly<Record<ControlWord, readonly ControlBit[]>> = {
  pin: bits([
    [0, "external-interrupt exiting", "ext_intr_exiting"],
    [3, "NMI exiting", "nmi_exiting"],
    [5, "virtual NMIs", "virtual_nmis"],
    [6, "activate VMX-preemption timer", "preemption_timer"],
    [7, "process posted interrupts", "posted_intr"],
  ]),
  proc: bits([
    [2, "interrupt-window exiting", "virtual_intr_pending"],
    [3, "use TSC offsetting", "tsc_offsetting"],
    [7, "HLT exiting", "hlt_exiting"],
    [9, "INVLPG exiting", "invlpg_exiting"],
    [10, "MWAIT exiting", "mwait_exiting"],
    [11, "RDPMC exiting", "rdpmc_exiting"],
    [12, "RDTSC exiting", "rdtsc_exiting"],
    [15, "CR3-load exiting", "cr3_load_exiting"],
    [16, "CR3-store exiting", "cr3_store_exiting"],
    [17, "activate tertiary controls", "tertiary_controls"],
    [19, "CR8-load exiting", "cr8_load_exiting"],
    [20, "CR8-store exiting", "cr8_store_exiting"],
    [21, "use TPR shadow", "tpr_shadow"],
    [22, "NMI-window exiting", "virtual_nmi_pending"],
    [23, "MOV-DR exiting", "mov_dr_exiting"],
    [24, "unconditional I/O exiting", "uncond_io_exiting"],
    [25, "use I/O bitmaps", "use_io_bitmaps"],
    [27, "monitor trap flag", "monitor_trap_flag"],
    [28, "use MSR bitmaps", "use_msr_bitmaps"],
    [29, "MONITOR exiting", "monitor_exiting"],
    [30, "PAUSE exiting", "pause_exiting"],
    [31, "activate secondary controls", "sec_controls"],
  ]),
  proc2: bits([
    [0, "virtualize APIC accesses", "virt_apic_accesses"],
    [1, "enable EPT", "ept"],
    [2, "descriptor-table exiting", "desc_exiting"],
    [3, "enable RDTSCP", "rdtscp"],
    [4, "virtualize x2APIC mode", "virtual_x2apic"],
    [5, "enable VPID", "vpid"],
    [6, "WBINVD exiting", "wbinvd_exiting"],
    [7, "unrestricted guest", "unrestricted_guest"],
    [8, "APIC-register virtualization", "apic_register_virt"],
    [9, "virtual-interrupt delivery", "virtual_intr_delivery"],
    [10, "PAUSE-loop exiting", "ple"],
    [11, "RDRAND exiting", "rdrand_exiting"],
    [12, "enable INVPCID", "invpcid"],
    [13, "enable VM functions", "vmfunc"],
    [14, "VMCS shadowing", "shadow_vmcs"],
    [15, "enable ENCLS exiting", "encls_exiting"],
    [16, "RDSEED exiting", "rdseed_exiting"],
    [17, "enable PML", "pml"],
    [18, "EPT-violation #VE", "ept_violation_ve"],
    [19, "conceal VMX from PT", "pt_conceal"],
    [20, "enable XSAVES/XRSTORS", "xsaves"],
    [21, "PASID translation", "pasid_translation"],
    [22, "mode-based execute control for EPT", "ept_mode_based_exec"],
    [23, "sub-page write permissions for EPT", "ept_spp"],
    [24, "Intel PT uses guest physical addresses", "pt_use_gpa"],
    [25, "use TSC scaling", "tsc_scaling"],
    [26, "enable user wait and pause", "usr_wait_pause"],
    [27, "enable PCONFIG", "pconfig"],
    [28, "enable ENCLV exiting", "enclv_exiting"],
    [30, "VMM bus-lock detection", "bus_lock_detection"],
    [31, "instruction timeout", "notify_vm_exiting"],
  ]),
  proc3: bits([
    [0, "LOADIWKEY exiting", "loadiwkey_exiting"],
    [1, "enable HLAT", "hlat"],
    [2, "EPT paging-write control", "ept_paging_write"],
    [3, "guest-paging verification", "guest_paging_verification"],
    [4, "IPI virtualization", "ipi_virt"],
    [5, "GPAW", "gpaw"],
    [6, "enable MSR-list instructions", "msrlist"],
    [7, "virtualize IA32_SPEC_CTRL", "virt_spec_ctrl"],
    [8, "APIC-timer virtualization", "apic_timer_virt"],
  ]),
  exit: bits([
    [2, "save debug controls", "save_debug_controls"],
    [9, "host address-space size", "host_addr_space_size"],
    [12, "load IA32_PERF_GLOBAL_CTRL", "load_perf_global_ctrl"],
    [15, "acknowledge interrupt on exit", "ack_intr_on_exit"],
    [18, "save IA32_PAT", "save_pat"],
    [19, "load IA32_PAT", "load_pat"],
    [20, "save IA32_EFER", "save_efer"],
    [21, "load IA32_EFER", "load_efer"],
    [22, "save VMX-preemption timer value", "save_preemption_timer"],
    [23, "clear IA32_BNDCFGS", "clear_bndcfgs"],
    [24, "conceal VMX from PT", "pt_conceal"],
    [25, "clear IA32_RTIT_CTL", "clear_rtit_ctl"],
    [26, "clear IA32_LBR_CTL", "clear_lbr_ctl"],
    [27, "clear UINV", "clear_uinv"],
    [28, "load CET state", "load_cet"],
    [29, "load PKRS", "load_pkrs"],
    [30, "save IA32_PERF_GLOBAL_CTL", "save_perf_global_ctrl"],
    [31, "activate secondary controls", "sec_exit_controls"],
  ]),
  exit2: bits([
    [0, "save FRED", "save_fred"],
    [1, "load FRED", "load_fred"],
    [2, "load IA32_SPEC_CTRL", "load_spec_ctrl"],
    [3, "prematurely busy shadow stack", "prematurely_busy_ss"],
  ]),
  entry: bits([
    [2, "load debug controls", "load_debug_controls"],
    [9, "IA-32e mode guest", "ia32e_mode_guest"],
    [10, "entry to SMM", "entry_to_smm"],
    [11, "deactivate dual-monitor treatment", "deact_dual_monitor"],
    [13, "load IA32_PERF_GLOBAL_CTRL", "load_perf_global_ctrl"],
    [14, "load IA32_PAT", "load_pat"],
    [15, "load IA32_EFER", "load_efer"],
    [16, "load IA32_BNDCFGS", "load_bndcfgs"],
    [17, "conceal VMX from PT", "pt_conceal"],
    [18, "load IA32_RTIT_CTL", "load_rtit_ctl"],
    [19, "load UINV", "load_uinv"],
    [20, "load CET state", "load_cet"],
    [21, "load guest IA32_LBR_CTL", "load_lbr_ctl"],
    [22, "load PKRS", "load_pkrs"],
    [23, "load FRED", "load_fred"],
    [24, "load IA32_SPEC_CTRL", "load_spec_ctrl"],
  ]),
};

/** Bit masks by name, for the checks. Values are 32-bit (proc3/exit2 bits are all below 32). */
export const PIN = {
  EXT_INTR: 1 << 0,
  NMI_EXITING: 1 << 3,
  VIRTUAL_NMIS: 1 << 5,
  PREEMPTION_TIMER: 1 << 6,
  POSTED_INTR: 1 << 7,
} as const;

export const PROC = {
  INTR_WINDOW: 1 << 2,
  TSC_OFFSETTING: 1 << 3,
  HLT: 1 << 7,
  TERTIARY: 1 << 17,
  CR8_LOAD: 1 << 19,
  CR8_STORE: 1 << 20,
  TPR_SHADOW: 1 << 21,
  NMI_WINDOW: 1 << 22,
  USE_IO_BITMAPS: 1 << 25,
  MTF: 1 << 27,
  USE_MSR_BITMAPS: 1 << 28,
  SECONDARY: 1 << 31,
} as const;

export const PROC2 = {
  VIRT_APIC_ACCESSES: 1 << 0,
  EPT: 1 << 1,
  DESC_EXITING: 1 << 2,
  VIRT_X2APIC: 1 << 4,
  VPID: 1 << 5,
  UNRESTRICTED_GUEST: 1 << 7,
  APIC_REGISTER_VIRT: 1 << 8,
  VID: 1 << 9,
  VMFUNC: 1 << 13,
  SHADOW_VMCS: 1 << 14,
  PML: 1 << 17,
  EPT_VE: 1 << 18,
  PT_CONCEAL: 1 << 19,
  PASID_TRANSLATION: 1 << 21,
  MBEC: 1 << 22,
  SPP: 1 << 23,
  PT_USE_GPA: 1 << 24,
  TSC_SCALING: 1 << 25,
} as const;

export const PROC3 = {
  LOADIWKEY: 1 << 0,
  HLAT: 1 << 1,
  EPT_PAGING_WRITE: 1 << 2,
  GUEST_PAGING_VERIFY: 1 << 3,
  IPI_VIRT: 1 << 4,
  MSRLIST: 1 << 6,
  VIRT_SPEC_CTRL: 1 << 7,
  APIC_TIMER_VIRT: 1 << 8,
} as const;

export const EXIT = {
  SAVE_DEBUG: 1 << 2,
  HOST_ADDR_SPACE_SIZE: 1 << 9,
  LOAD_PERF_GLOBAL_CTRL: 1 << 12,
  ACK_INTR: 1 << 15,
  SAVE_PAT: 1 << 18,
  LOAD_PAT: 1 << 19,
  SAVE_EFER: 1 << 20,
  LOAD_EFER: 1 << 21,
  SAVE_PREEMPTION_TIMER: 1 << 22,
  CLEAR_BNDCFGS: 1 << 23,
  CLEAR_RTIT_CTL: 1 << 25,
  CLEAR_LBR_CTL: 1 << 26,
  CLEAR_UINV: 1 << 27,
  LOAD_CET: 1 << 28,
  LOAD_PKRS: 1 << 29,
  SECONDARY: 1 << 31,
} as const;

export const EXIT2 = {
  SAVE_FRED: 1 << 0,
  LOAD_FRED: 1 << 1,
  LOAD_SPEC_CTRL: 1 << 2,
  PREMATURELY_BUSY_SS: 1 << 3,
} as const;

export const ENTRY = {
  LOAD_DEBUG: 1 << 2,
  IA32E_GUEST: 1 << 9,
  SMM: 1 << 10,
  DEACT_DUAL_MONITOR: 1 << 11,
  LOAD_PERF_GLOBAL_CTRL: 1 << 13,
  LOAD_PAT: 1 << 14,
  LOAD_EFER: 1 << 15,
  LOAD_BNDCFGS: 1 << 16,
  LOAD_RTIT_CTL: 1 << 18,
  LOAD_UINV: 1 << 19,
  LOAD_CET: 1 << 20,
  LOAD_LBR_CTL: 1 << 21,
  LOAD_PKRS: 1 << 22,
  LOAD_FRED: 1 << 23,
  LOAD_SPEC_CTRL: 1 << 24,
} as const;

/** VM-function controls (SDM 25.6.14). */
export const VMFUNC = { EPTP_SWITCHING: 1 << 0 } as const;

/** Names of the set bits of a control word, for reports. */
export function controlBitNames(word: ControlWord, value: number): string[] {
  const out: string[] = [];
  for (const b of CONTROL_BITS[word]) if ((value >>> b.bit) & 1) out.push(b.name);
  return out;
}
