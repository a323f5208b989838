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

/** [bit, SDM name, /proc/cpuinfo-style short name, key of the mask table below] */
type Row = readonly [number, string, string, string];

const PIN_ROWS = [
  [0, "external-interrupt exiting", "ext_intr_exiting", "EXT_INTR"],
  [3, "NMI exiting", "nmi_exiting", "NMI_EXITING"],
  [5, "virtual NMIs", "virtual_nmis", "VIRTUAL_NMIS"],
  [6, "activate VMX-preemption timer", "preemption_timer", "PREEMPTION_TIMER"],
  [7, "process posted interrupts", "posted_intr", "POSTED_INTR"],
] as const satisfies readonly Row[];

const PROC_ROWS = [
  [2, "interrupt-window exiting", "virtual_intr_pending", "INTR_WINDOW"],
  [3, "use TSC offsetting", "tsc_offsetting", "TSC_OFFSETTING"],
  [7, "HLT exiting", "hlt_exiting", "HLT"],
  [9, "INVLPG exiting", "invlpg_exiting", "INVLPG"],
  [10, "MWAIT exiting", "mwait_exiting", "MWAIT"],
  [11, "RDPMC exiting", "rdpmc_exiting", "RDPMC"],
  [12, "RDTSC exiting", "rdtsc_exiting", "RDTSC"],
  [15, "CR3-load exiting", "cr3_load_exiting", "CR3_LOAD"],
  [16, "CR3-store exiting", "cr3_store_exiting", "CR3_STORE"],
  [17, "activate tertiary controls", "tertiary_controls", "TERTIARY"],
  [19, "CR8-load exiting", "cr8_load_exiting", "CR8_LOAD"],
  [20, "CR8-store exiting", "cr8_store_exiting", "CR8_STORE"],
  [21, "use TPR shadow", "tpr_shadow", "TPR_SHADOW"],
  [22, "NMI-window exiting", "virtual_nmi_pending", "NMI_WINDOW"],
  [23, "MOV-DR exiting", "mov_dr_exiting", "MOV_DR"],
  [24, "unconditional I/O exiting", "uncond_io_exiting", "UNCOND_IO"],
  [25, "use I/O bitmaps", "use_io_bitmaps", "USE_IO_BITMAPS"],
  [27, "monitor trap flag", "monitor_trap_flag", "MTF"],
  [28, "use MSR bitmaps", "use_msr_bitmaps", "USE_MSR_BITMAPS"],
  [29, "MONITOR exiting", "monitor_exiting", "MONITOR"],
  [30, "PAUSE exiting", "pause_exiting", "PAUSE"],
  [31, "activate secondary controls", "sec_controls", "SECONDARY"],
] as const satisfies readonly Row[];

const PROC2_ROWS = [
  [0, "virtualize APIC accesses", "virt_apic_accesses", "VIRT_APIC_ACCESSES"],
  [1, "enable EPT", "ept", "EPT"],
  [2, "descriptor-table exiting", "desc_exiting", "DESC_EXITING"],
  [3, "enable RDTSCP", "rdtscp", "RDTSCP"],
  [4, "virtualize x2APIC mode", "virtual_x2apic", "VIRT_X2APIC"],
  [5, "enable VPID", "vpid", "VPID"],
  [6, "WBINVD exiting", "wbinvd_exiting", "WBINVD"],
  [7, "unrestricted guest", "unrestricted_guest", "UNRESTRICTED_GUEST"],
  [8, "APIC-register virtualization", "apic_register_virt", "APIC_REGISTER_VIRT"],
  [9, "virtual-interrupt delivery", "virtual_intr_delivery", "VID"],
  [10, "PAUSE-loop exiting", "ple", "PLE"],
  [11, "RDRAND exiting", "rdrand_exiting", "RDRAND"],
  [12, "enable INVPCID", "invpcid", "INVPCID"],
  [13, "enable VM functions", "vmfunc", "VMFUNC"],
  [14, "VMCS shadowing", "shadow_vmcs", "SHADOW_VMCS"],
  [15, "enable ENCLS exiting", "encls_exiting", "ENCLS"],
  [16, "RDSEED exiting", "rdseed_exiting", "RDSEED"],
  [17, "enable PML", "pml", "PML"],
  [18, "EPT-violation #VE", "ept_violation_ve", "EPT_VE"],
  [19, "conceal VMX from PT", "pt_conceal", "PT_CONCEAL"],
  [20, "enable XSAVES/XRSTORS", "xsaves", "XSAVES"],
  [21, "PASID translation", "pasid_translation", "PASID_TRANSLATION"],
  [22, "mode-based execute control for EPT", "ept_mode_based_exec", "MBEC"],
  [23, "sub-page write permissions for EPT", "ept_spp", "SPP"],
  [24, "Intel PT uses guest physical addresses", "pt_use_gpa", "PT_USE_GPA"],
  [25, "use TSC scaling", "tsc_scaling", "TSC_SCALING"],
  [26, "enable user wait and pause", "usr_wait_pause", "USER_WAIT_PAUSE"],
  [27, "enable PCONFIG", "pconfig", "PCONFIG"],
  [28, "enable ENCLV exiting", "enclv_exiting", "ENCLV"],
  [30, "VMM bus-lock detection", "bus_lock_detection", "BUS_LOCK"],
  [31, "instruction timeout", "notify_vm_exiting", "INSTRUCTION_TIMEOUT"],
] as const satisfies readonly Row[];

const PROC3_ROWS = [
  [0, "LOADIWKEY exiting", "loadiwkey_exiting", "LOADIWKEY"],
  [1, "enable HLAT", "hlat", "HLAT"],
  [2, "EPT paging-write control", "ept_paging_write", "EPT_PAGING_WRITE"],
  [3, "guest-paging verification", "guest_paging_verification", "GUEST_PAGING_VERIFY"],
  [4, "IPI virtualization", "ipi_virt", "IPI_VIRT"],
  [5, "GPAW", "gpaw", "GPAW"],
  [6, "enable MSR-list instructions", "msrlist", "MSRLIST"],
  [7, "virtualize IA32_SPEC_CTRL", "virt_spec_ctrl", "VIRT_SPEC_CTRL"],
  [8, "APIC-timer virtualization", "apic_timer_virt", "APIC_TIMER_VIRT"],
] as const satisfies readonly Row[];

const EXIT_ROWS = [
  [2, "save debug controls", "save_debug_controls", "SAVE_DEBUG"],
  [9, "host address-space size", "host_addr_space_size", "HOST_ADDR_SPACE_SIZE"],
  [12, "load IA32_PERF_GLOBAL_CTRL", "load_perf_global_ctrl", "LOAD_PERF_GLOBAL_CTRL"],
  [15, "acknowledge interrupt on exit", "ack_intr_on_exit", "ACK_INTR"],
  [18, "save IA32_PAT", "save_pat", "SAVE_PAT"],
  [19, "load IA32_PAT", "load_pat", "LOAD_PAT"],
  [20, "save IA32_EFER", "save_efer", "SAVE_EFER"],
  [21, "load IA32_EFER", "load_efer", "LOAD_EFER"],
  [22, "save VMX-preemption timer value", "save_preemption_timer", "SAVE_PREEMPTION_TIMER"],
  [23, "clear IA32_BNDCFGS", "clear_bndcfgs", "CLEAR_BNDCFGS"],
  [24, "conceal VMX from PT", "pt_conceal", "PT_CONCEAL"],
  [25, "clear IA32_RTIT_CTL", "clear_rtit_ctl", "CLEAR_RTIT_CTL"],
  [26, "clear IA32_LBR_CTL", "clear_lbr_ctl", "CLEAR_LBR_CTL"],
  [27, "clear UINV", "clear_uinv", "CLEAR_UINV"],
  [28, "load CET state", "load_cet", "LOAD_CET"],
  [29, "load PKRS", "load_pkrs", "LOAD_PKRS"],
  [30, "save IA32_PERF_GLOBAL_CTL", "save_perf_global_ctrl", "SAVE_PERF_GLOBAL_CTRL"],
  [31, "activate secondary controls", "sec_exit_controls", "SECONDARY"],
] as const satisfies readonly Row[];

const EXIT2_ROWS = [
  [0, "save FRED", "save_fred", "SAVE_FRED"],
  [1, "load FRED", "load_fred", "LOAD_FRED"],
  [2, "load IA32_SPEC_CTRL", "load_spec_ctrl", "LOAD_SPEC_CTRL"],
  [3, "prematurely busy shadow stack", "prematurely_busy_ss", "PREMATURELY_BUSY_SS"],
] as const satisfies readonly Row[];

const ENTRY_ROWS = [
  [2, "load debug controls", "load_debug_controls", "LOAD_DEBUG"],
  [9, "IA-32e mode guest", "ia32e_mode_guest", "IA32E_GUEST"],
  [10, "entry to SMM", "entry_to_smm", "SMM"],
  [11, "deactivate dual-monitor treatment", "deact_dual_monitor", "DEACT_DUAL_MONITOR"],
  [13, "load IA32_PERF_GLOBAL_CTRL", "load_perf_global_ctrl", "LOAD_PERF_GLOBAL_CTRL"],
  [14, "load IA32_PAT", "load_pat", "LOAD_PAT"],
  [15, "load IA32_EFER", "load_efer", "LOAD_EFER"],
  [16, "load IA32_BNDCFGS", "load_bndcfgs", "LOAD_BNDCFGS"],
  [17, "conceal VMX from PT", "pt_conceal", "PT_CONCEAL"],
  [18, "load IA32_RTIT_CTL", "load_rtit_ctl", "LOAD_RTIT_CTL"],
  [19, "load UINV", "load_uinv", "LOAD_UINV"],
  [20, "load CET state", "load_cet", "LOAD_CET"],
  [21, "load guest IA32_LBR_CTL", "load_lbr_ctl", "LOAD_LBR_CTL"],
  [22, "load PKRS", "load_pkrs", "LOAD_PKRS"],
  [23, "load FRED", "load_fred", "LOAD_FRED"],
  [24, "load IA32_SPEC_CTRL", "load_spec_ctrl", "LOAD_SPEC_CTRL"],
] as const satisfies readonly Row[];

const bits = (rows: readonly Row[]): readonly ControlBit[] =>
  rows.map(([bit, name, short]) => ({ bit, name, short }));

export const CONTROL_BITS: Readonly<Record<ControlWord, readonly ControlBit[]>> = {
  pin: bits(PIN_ROWS),
  proc: bits(PROC_ROWS),
  proc2: bits(PROC2_ROWS),
  proc3: bits(PROC3_ROWS),
  exit: bits(EXIT_ROWS),
  exit2: bits(EXIT2_ROWS),
  entry: bits(ENTRY_ROWS),
};

/** The masks of a control word by key, from its rows (`1 << bit`: bit 31 gives a negative int32, as `&` does). */
function masks<R extends readonly Row[]>(rows: R): { readonly [K in R[number][3]]: number } {
  return Object.freeze(Object.fromEntries(rows.map(([bit, , , key]) => [key, 1 << bit]))) as {
    readonly [K in R[number][3]]: number;
  };
}

/** Bit masks by name, for the checks, derived from the name table. Values are 32-bit (proc3/exit2 bits are below 32). */
export const PIN = masks(PIN_ROWS);
export const PROC = masks(PROC_ROWS);
export const PROC2 = masks(PROC2_ROWS);
export const PROC3 = masks(PROC3_ROWS);
export const EXIT = masks(EXIT_ROWS);
export const EXIT2 = masks(EXIT2_ROWS);
export const ENTRY = masks(ENTRY_ROWS);

/** VM-function controls (SDM 25.6.14). */
export const VMFUNC = { EPTP_SWITCHING: 1 << 0 } as const;

/** Names of the set bits of a control word, for reports. */
export function controlBitNames(word: ControlWord, value: number): string[] {
  const out: string[] = [];
  for (const b of CONTROL_BITS[word]) if ((value >>> b.bit) & 1) out.push(b.name);
  return out;
}
