/**
 * Linux 5.0 (the v5.0.1 stable tree): KVM's nested VMX of the seed's era, the first release with
 * nested.c split out of vmx.c. It has no `CC()` tracing (no `kvm_nested_vmenter_failed` tracepoint), so no
 * entry has a condition text; every entry cites its line range. Facts only, in our words.
 */
import { ENTRY, EXIT, PIN, PROC, PROC2 } from "../../arch/controls.js";
import { BASIC, EPT_CAP, MISC } from "../../arch/msrs.js";
import type { Divergence, KernelCheck, KernelPreset, MergeSpec } from "../kernel.js";
import {
  citations,
  ERROR_CODE_31_15,
  LINK_POINTER_UNBACKED,
  MSR_LOAD_UCODE_REV,
  MSR_LOAD_UCODE_WRITE,
  MSR_LOAD_UNBACKED,
  PDPTE_LOAD,
} from "./common.js";
import { mergeDivergences } from "./divergences.js";
import { ALWAYS_ON, KVM_EPT_ALWAYS, KVM_PROC_FROM_HOST } from "./l1-common.js";

const TAG = "v5.0.1";
const { nested, vmx, x86, vmcs12h } = citations(TAG);

const c = (
  fn: string,
  a: number,
  b: number,
  phase: KernelCheck["phase"],
  rules: readonly string[],
  extra: Partial<KernelCheck> = {},
): KernelCheck => ({ cc: null, fn, source: nested(a, b), phase, rules, ...extra });

const EXEC = "nested_check_vm_execution_controls";
const ENTRY_FN = "nested_check_vm_entry_controls";
const MSR_SWITCH = (p: string): string[] => [`${p}-addr-aligned`, `${p}-addr-width`, `${p}-area-end-width`];

/** The software checks, phase by phase, in the order v5.0 runs them. */
const CHECKS: readonly KernelCheck[] = [
  c("nested_vmx_run", 3082, 3083, "instruction", ["basic.current-vmcs"]),
  c("nested_vmx_run", 3093, 3094, "instruction", ["basic.current-vmcs-not-shadow"]),
  c("nested_vmx_run", 3114, 3116, "instruction", ["basic.mov-ss-blocking"]),
  c("nested_vmx_run", 3118, 3121, "instruction", [
    "basic.vmlaunch-launch-state",
    "basic.vmresume-launch-state",
  ]),
  // nested_vmx_check_vmentry_prereqs → nested_check_vm_execution_controls
  c(EXEC, 2448, 2454, "controls", [
    "ctl.exec.pin-allowed-0",
    "ctl.exec.pin-allowed-1",
    "ctl.exec.proc-allowed-0",
    "ctl.exec.proc-allowed-1",
  ]),
  c(EXEC, 2456, 2460, "controls", ["ctl.exec.proc2-reserved"]),
  c(EXEC, 2462, 2462, "controls", ["ctl.exec.cr3-target-count"]),
  c("nested_vmx_check_io_bitmap_controls", 405, 413, "controls", [
    "ctl.exec.io-bitmap-a-aligned",
    "ctl.exec.io-bitmap-a-phys",
    "ctl.exec.io-bitmap-b-aligned",
    "ctl.exec.io-bitmap-b-phys",
  ]),
  c("nested_vmx_check_msr_bitmap_controls", 418, 422, "controls", [
    "ctl.exec.msr-bitmap-aligned",
    "ctl.exec.msr-bitmap-phys",
  ]),
  c("nested_vmx_check_tpr_shadow_controls", 430, 434, "controls", [
    "ctl.exec.virtual-apic-aligned",
    "ctl.exec.virtual-apic-phys",
  ]),
  c("nested_vmx_check_apic_access_controls", 647, 649, "controls", [
    "ctl.exec.apic-access-aligned",
    "ctl.exec.apic-access-phys",
  ]),
  c("nested_vmx_check_apicv_controls", 667, 669, "controls", ["ctl.exec.x2apic-vs-apic-access"]),
  c("nested_vmx_check_apicv_controls", 675, 677, "controls", ["ctl.exec.vid-needs-ext-intr-exiting"]),
  c("nested_vmx_check_apicv_controls", 686, 692, "controls", [
    "ctl.exec.posted-intr-needs-vid",
    "ctl.exec.posted-intr-needs-ack-intr",
    "ctl.exec.posted-intr-vector",
    "ctl.exec.posted-intr-desc-aligned",
    "ctl.exec.posted-intr-desc-phys",
  ]),
  c("nested_vmx_check_apicv_controls", 695, 696, "controls", ["ctl.exec.apicv-needs-tpr-shadow"]),
  c("nested_vmx_check_nmi_controls", 2393, 2395, "controls", ["ctl.exec.virtual-nmis-need-nmi-exiting"]),
  c("nested_vmx_check_nmi_controls", 2397, 2399, "controls", ["ctl.exec.nmi-window-needs-virtual-nmis"]),
  c("nested_vmx_check_pml_controls", 744, 746, "controls", [
    "ctl.exec.pml-needs-ept",
    "ctl.exec.pml-aligned",
    "ctl.exec.pml-phys",
  ]),
  c("nested_vmx_check_unrestricted_guest_controls", 754, 756, "controls", [
    "ctl.exec.unrestricted-guest-needs-ept",
  ]),
  c("nested_vmx_check_mode_based_ept_exec_controls", 763, 765, "controls", ["ctl.exec.mbec-needs-ept"]),
  c("nested_vmx_check_shadow_vmcs_controls", 772, 777, "controls", [
    "ctl.exec.vmread-bitmap-aligned",
    "ctl.exec.vmread-bitmap-phys",
    "ctl.exec.vmwrite-bitmap-aligned",
    "ctl.exec.vmwrite-bitmap-phys",
  ]),
  c(EXEC, 2473, 2474, "controls", ["ctl.exec.vpid-nonzero"]),
  c(EXEC, 2476, 2478, "controls", ["ctl.exit.save-preemption-timer-needs-timer"]),
  c(
    "valid_ept_address",
    2404,
    2438,
    "controls",
    [
      "ctl.exec.eptp-memory-type",
      "ctl.exec.eptp-walk-length",
      "ctl.exec.eptp-phys",
      "ctl.exec.eptp-reserved",
      "ctl.exec.eptp-sss",
      "ctl.exec.eptp-ad",
    ],
    { note: "only a 4-level walk is accepted (the only length L1 is offered)" },
  ),
  c(EXEC, 2485, 2487, "controls", ["ctl.exec.vmfunc-reserved"]),
  c(EXEC, 2489, 2492, "controls", [
    "ctl.exec.eptp-switching-needs-ept",
    "ctl.exec.eptp-list-aligned",
    "ctl.exec.eptp-list-phys",
  ]),
  // nested_check_vm_exit_controls
  c("nested_check_vm_exit_controls", 2507, 2510, "controls", [
    "ctl.exit.allowed-0-settings",
    "ctl.exit.allowed-1-settings",
  ]),
  c("nested_vmx_check_exit_msr_switch_controls", 719, 723, "controls", [
    ...MSR_SWITCH("ctl.exit.msr-load"),
    ...MSR_SWITCH("ctl.exit.msr-store"),
  ]),
  // nested_check_vm_entry_controls
  c(ENTRY_FN, 2524, 2527, "controls", ["ctl.entry.allowed-0-settings", "ctl.entry.allowed-1-settings"]),
  c(ENTRY_FN, 2546, 2549, "controls", ["ctl.event.type-reserved", "ctl.event.other-event-needs-mtf"]),
  c(ENTRY_FN, 2552, 2555, "controls", [
    "ctl.event.nmi-vector",
    "ctl.event.hw-exception-vector",
    "ctl.event.other-event-vector",
  ]),
  c(ENTRY_FN, 2558, 2562, "controls", [
    "ctl.event.error-code-required",
    "ctl.event.error-code-not-expected",
    "ctl.event.error-code-only-hw-exception",
    "ctl.event.error-code-real-mode",
  ]),
  c(ENTRY_FN, 2565, 2567, "controls", ["ctl.event.error-code-reserved"], { test: ERROR_CODE_31_15 }),
  c(ENTRY_FN, 2570, 2571, "controls", [
    "ctl.event.reserved-bits",
    "ctl.event.nested-exception-unsupported",
    "ctl.event.nested-exception-type",
  ]),
  c(ENTRY_FN, 2578, 2581, "controls", [
    "ctl.event.instruction-length-max",
    "ctl.event.instruction-length-zero",
  ]),
  c("nested_vmx_check_entry_msr_switch_controls", 731, 733, "controls", MSR_SWITCH("ctl.entry.msr-load")),
  // nested_check_host_control_regs: the only host-state checks v5.0 makes
  c("nested_check_host_control_regs", 2599, 2602, "host", [
    "host.cr0.fixed-bits",
    "host.cr4.fixed-bits",
    "host.cr3.reserved-bits",
  ]),
  c("nested_check_host_control_regs", 2609, 2615, "host", [
    "host.efer.reserved-bits",
    "host.efer.lma-matches-hass",
    "host.efer.lme-matches-hass",
  ]),
  // nested_check_guest_non_reg_state, still in the prerequisites: a bad activity state is VMfail(7)
  c(
    "nested_check_guest_non_reg_state",
    2626,
    2628,
    "host",
    ["guest.activity.reserved", "guest.activity.unsupported"],
    {
      vmfail: 7,
      divergence: "activity-state-vmfail-7",
      note: "reported as VMfail(7), not exit 33; only active and HLT are accepted",
    },
  ),
  // nested_vmx_check_vmentry_postreqs (exit 33)
  c("nested_vmx_check_vmentry_postreqs", 2685, 2687, "guest", [
    "guest.cr0.required-bits-set",
    "guest.cr0.unsupported-bits-clear",
    "guest.cr4.required-bits-set",
    "guest.cr4.unsupported-bits-clear",
  ]),
  c(
    "nested_vmx_check_vmcs_link_ptr",
    2660,
    2661,
    "guest",
    ["guest.link-pointer.alignment", "guest.link-pointer.phys-width"],
    {
      qualification: 4,
    },
  ),
  c("nested_vmx_check_vmcs_link_ptr", 2663, 2665, "guest", [], {
    test: LINK_POINTER_UNBACKED,
    qualification: 4,
  }),
  c(
    "nested_vmx_check_vmcs_link_ptr",
    2669,
    2671,
    "guest",
    ["guest.link-pointer.revision", "guest.link-pointer.shadow-indicator"],
    {
      qualification: 4,
    },
  ),
  c("nested_vmx_check_vmentry_postreqs", 2703, 2710, "guest", [
    "guest.efer.reserved-bits",
    "guest.efer.lma-matches-ia32e",
    "guest.efer.lme-matches-lma",
  ]),
  c("nested_vmx_check_vmentry_postreqs", 2713, 2716, "guest", [
    "guest.bndcfgs.canonical-base",
    "guest.bndcfgs.reserved-bits",
  ]),
  // prepare_vmcs02 → nested_vmx_load_cr3
  c("nested_vmx_load_cr3", 915, 917, "prepare", ["guest.cr3.beyond-phys"]),
  c("nested_vmx_load_cr3", 924, 928, "prepare", ["guest.pdpte.memory-reserved"], {
    test: PDPTE_LOAD,
    qualification: 2,
  }),
  // nested_vmx_load_msr
  c("nested_vmx_load_msr", 828, 833, "msr-load", [], { test: MSR_LOAD_UNBACKED }),
  c("nested_vmx_msr_check_common", 786, 787, "msr-load", ["msr-load.x2apic-msr"]),
  c("nested_vmx_msr_check_common", 788, 790, "msr-load", [], { test: MSR_LOAD_UCODE_WRITE }),
  c("nested_vmx_msr_check_common", 788, 790, "msr-load", [], { test: MSR_LOAD_UCODE_REV }),
  c("nested_vmx_msr_check_common", 791, 792, "msr-load", ["msr-load.reserved-bits"]),
  c("nested_vmx_load_msr_check", 799, 803, "msr-load", ["msr-load.fs-gs-base", "msr-load.smm-only-msr"]),
  c(
    "nested_vmx_load_msr",
    843,
    847,
    "msr-load",
    [
      "msr-load.value-reserved-bits",
      "msr-load.pat-memory-type",
      "msr-load.non-canonical-address",
      "msr-load.smbase-read-only",
      "msr-load.efer-lme-with-paging",
      "msr-load.unavailable-msr",
    ],
    {
      note: "KVM's emulated WRMSR refuses the value, or an MSR it does not emulate or lets only userspace write",
    },
  ),
];

const MERGE: MergeSpec = {
  vmcs12Layout: vmcs12h(27, 189),
  vmcs12Lacks: [
    "GUEST_UINV",
    "GUEST_IA32_RTIT_CTL",
    "GUEST_IA32_LBR_CTL",
    "GUEST_IA32_PKRS",
    "GUEST_IA32_FRED_CONFIG",
    "GUEST_IA32_FRED_RSP1",
    "GUEST_IA32_FRED_RSP2",
    "GUEST_IA32_FRED_RSP3",
    "GUEST_IA32_FRED_STKLVLS",
    "GUEST_IA32_FRED_SSP1",
    "GUEST_IA32_FRED_SSP2",
    "GUEST_IA32_FRED_SSP3",
    "GUEST_IA32_SPEC_CTRL",
    "GUEST_DEADLINE_PHYS",
    "GUEST_SMBASE",
    "GUEST_S_CET",
    "GUEST_SSP",
    "GUEST_INTR_SSP_TABLE",
  ],
  debugctlMasked: false,
  apicAccessUnmapped: "clear-control",
  virtualApicUnmappedClearsTprShadow: false,
  piDescUnmapped: "keep-stale",
  sources: {
    "constant-state": nested(1914, 1957),
    "early-controls": nested(1974, 2143),
    "guest-state": nested(2145, 2248),
    "debug-controls": nested(2282, 2289),
    "cr0-cr4": vmx(2794, 2956),
    efer: nested(1903, 1912),
    tsc: nested(2305, 2316),
    "tsc-multiplier": nested(2305, 2316),
    pages: nested(2822, 2912),
    "activity-state": nested(3160, 3167),
    "late-vmfail": nested(3886, 3995),
    "msr-load-order": nested(2998, 3005),
  },
};

/** Divergences of this release only. */
const SPECIFIC: Divergence[] = [
  {
    kernel: "v5.0",
    id: "activity-state-vmfail-7",
    behaviour:
      "a guest activity state other than active or HLT is refused among the VMfail prerequisites: L1 sees VMfail(7) where the SDM gives exit 33 (and wait-for-SIPI, which L1 is not offered, is refused too)",
    source: nested(2624, 2645),
  },
  {
    kernel: "v5.0",
    id: "no-host-segment-checks",
    behaviour:
      "v5.0 checks only host CR0, CR4, CR3 and EFER in software: host selectors, bases, RIP, SYSENTER MSRs, PAT and the address-space-size rules are never checked, and vmcs02's host state is L0's, so such errors are missed",
    source: nested(2594, 2619),
  },
  {
    kernel: "v5.0",
    id: "no-guest-register-checks",
    behaviour:
      "v5.0's software guest checks are CR0/CR4 fixed bits, the link pointer, EFER and BNDCFGS; everything else is left to the processor, and with L0's unrestricted guest on (the default with EPT) KVM's segment checks never run",
    source: nested(2677, 2719),
  },
  {
    kernel: "v5.0",
    id: "dr7-refused",
    behaviour:
      "a vmcs12 DR7 with bits 63:32 set is refused by kvm_set_dr, which queues #GP instead of failing the entry; vmcs02 keeps its previous DR7",
    source: x86(1032, 1068),
  },
  {
    kernel: "v5.0",
    id: "apic-access-unmapped",
    behaviour:
      "an APIC-access page KVM cannot map makes KVM clear virtualize APIC accesses in vmcs02 and enter L2 anyway",
    source: MERGE.sources.pages,
  },
  {
    kernel: "v5.0",
    id: "pi-desc-unmapped",
    behaviour:
      "a posted-interrupt descriptor KVM cannot map leaves vmcs02's descriptor address as it was and stops preparing the remaining pages",
    source: MERGE.sources.pages,
  },
  {
    kernel: "v5.0",
    id: "dry-run-irq-before-dr7",
    behaviour:
      "after the dry run's VM exit, v5.0 enables interrupts before it restores the host DR7 (later fixed): an interrupt in between runs with L0's hardware breakpoints off",
    source: nested(2790, 2799),
  },
  {
    kernel: "v5.0",
    id: "dry-run-stale-vmcs02",
    behaviour:
      "the dry run enters vmcs02 after only its early preparation: its guest state and TSC multiplier are still those of the previous L2 entry (zero on a vCPU's first nested entry)",
    source: nested(2721, 2815),
  },
];

/** The Linux 5.0 preset. */
export const V5_0: KernelPreset = {
  id: "v5.0",
  name: "Linux 5.0",
  tree: {
    release: "v5.0.1",
    repository: "github.com/VVvector/linux-5.0.1",
    commit: "9422dd5e01dff59d5e9fe0d8483052826dd44f45",
    note: "the v5.0.1 stable tree imported under linux-5.0.1/ by this repository's first commit; its later commits touch no KVM file but vmenter.S. v5.0.1 is the nearest tree of v5.0 found (paths below are relative to linux-5.0.1/)",
  },
  parameter: {
    name: "nested_early_check",
    default: false,
    source: nested(19, 20),
    dryRun: nested(2721, 2815),
    restoreOrder: "irq-then-dr7",
    tscMultiplierStale: true,
  },
  checks: CHECKS,
  leftToHardware: {
    why: "nested_vmx_run checks the VMfail prerequisites and a few guest fields and leaves the rest of the guest state to the real VM entry",
    source: nested(3103, 3113),
  },
  l1: {
    pin: {
      fromHost: PIN.EXT_INTR | PIN.NMI_EXITING | PIN.VIRTUAL_NMIS | PIN.POSTED_INTR,
      always: ALWAYS_ON.pin | PIN.PREEMPTION_TIMER,
      must1: ALWAYS_ON.pin,
      default1: ALWAYS_ON.pin,
    },
    proc: {
      fromHost: KVM_PROC_FROM_HOST,
      always: ALWAYS_ON.proc | PROC.USE_MSR_BITMAPS,
      must1: ALWAYS_ON.proc & ~((1 << 15) | (1 << 16)),
      default1: ALWAYS_ON.proc,
    },
    proc2: {
      // the list in nested_vmx_setup_ctls_msrs plus the CPUID-dependent bits vmx.c adds (RDTSCP, INVPCID,
      // XSAVES, RDRAND and RDSEED exiting: vmx.c 3905–3990) when the host has them
      fromHost:
        PROC2.DESC_EXITING |
        PROC2.VIRT_X2APIC |
        PROC2.APIC_REGISTER_VIRT |
        PROC2.VID |
        (1 << 6) |
        PROC2.VMFUNC |
        (1 << 3) |
        (1 << 12) |
        (1 << 20) |
        (1 << 11) |
        (1 << 16),
      always: PROC2.SHADOW_VMCS,
      must1: 0,
      default1: 0,
    },
    proc2IfHost: PROC2.EPT | PROC2.VPID | PROC2.UNRESTRICTED_GUEST | PROC2.VIRT_APIC_ACCESSES,
    exit: {
      fromHost: EXIT.HOST_ADDR_SPACE_SIZE | EXIT.LOAD_PAT | EXIT.SAVE_PAT | EXIT.CLEAR_BNDCFGS,
      always: ALWAYS_ON.exit | EXIT.LOAD_EFER | EXIT.SAVE_EFER | EXIT.SAVE_PREEMPTION_TIMER | EXIT.ACK_INTR,
      must1: ALWAYS_ON.exit & ~EXIT.SAVE_DEBUG,
      default1: ALWAYS_ON.exit,
    },
    entry: {
      fromHost: ENTRY.IA32E_GUEST | ENTRY.LOAD_PAT | ENTRY.LOAD_BNDCFGS,
      always: ALWAYS_ON.entry | ENTRY.LOAD_EFER,
      must1: ALWAYS_ON.entry & ~ENTRY.LOAD_DEBUG,
      default1: ALWAYS_ON.entry,
    },
    ept: {
      fromHost: EPT_CAP.PWL4 | EPT_CAP.WB | EPT_CAP.INVEPT | EPT_CAP.EXECUTE_ONLY,
      always: KVM_EPT_ALWAYS,
    },
    misc: {
      fromHost: MISC.SAVE_EFER_LMA,
      always: MISC.VMWRITE_ANY_FIELD | 5 | MISC.ACTIVITY_HLT,
    },
    basicFromHost: BASIC.INS_OUTS_HI,
    cetNeedsHostCet: true,
    bndcfgsNeedsMpx: true,
    // kvm_set_msr_common: any bit but LBR and BTF raises #GP; those two are accepted and ignored
    debugctl: { busLockDetect: false, rtmDebug: false, source: x86(2466, 2477) },
    source: nested(5456, 5679),
  },
  merge: MERGE,
  divergences: [...mergeDivergences("v5.0", MERGE), ...SPECIFIC],
};
