import { ENTRY, EXIT, PIN, PROC, PROC2, PROC3 } from "../../src/arch/controls.js";
import { type CheckCase, type Patch, SMM_RETURN, SMM_RETURN_ROOT, type VectorTables } from "../helpers.js";

/**
 * SDM 29.2.1.1 VM-execution control checks. The base state (src/gen/base.ts) on the all-features profile has
 * pin = ext-intr | NMI exiting | virtual NMIs (+ default1), primary = HLT | TPR shadow | I/O + MSR bitmaps |
 * secondary, secondary = EPT | VPID | RDTSCP, EPTP 0x1401e (WB, 4-level), virtual-APIC page 0x13000,
 * TPR threshold 0 and VTPR 0. Every failure is VMfailValid(7).
 */

const FAIL7 = { type: "vmfail-valid", error: 7 } as const;
const or = (m: number) => (old: bigint) => old | BigInt(m >>> 0);
const clr = (m: number) => (old: bigint) => old & ~BigInt(m >>> 0);

/** Tertiary controls activated with `bits`. */
const tertiary = (bits: number, more: Patch["vmcs"] = {}): Patch => ({
  vmcs: { CPU_BASED_VM_EXEC_CONTROL: or(PROC.TERTIARY), TERTIARY_VM_EXEC_CONTROL: bits, ...more },
});
const proc2 = (bits: number, more: Patch["vmcs"] = {}): Patch => ({
  vmcs: { SECONDARY_VM_EXEC_CONTROL: or(bits), ...more },
});

/** Base EPTP without its memory-type / walk-length bits. */
const EPTP_ADDR = 0x14000n;
const eptp = (type: number, walk: number, extra = 0n) => EPTP_ADDR | BigInt(walk << 3) | BigInt(type) | extra;

/** A bit just beyond the test profile's 46-bit physical-address width, and the highest valid page. */
const BEYOND = 1n << 46n;
const TOP_PAGE = (1n << 46n) - 0x1000n;

/** The two standard vectors of an address rule (alignment and physical-address width). */
function addressCases(
  stem: string,
  field: string,
  setup: Patch | undefined,
  good: bigint,
  alignBit: bigint,
  extra: { cpu?: CheckCase["cpu"] } = {},
): CheckCase[] {
  return [
    {
      id: `ctl.exec.${stem}-aligned`,
      ...extra,
      ...(setup ? { setup } : {}),
      pass: { vmcs: { [field]: good } },
      fail: { vmcs: { [field]: good | alignBit } },
      outcome: FAIL7,
    },
    {
      id: `ctl.exec.${stem}-phys`,
      ...extra,
      ...(setup ? { setup } : {}),
      pass: { vmcs: { [field]: TOP_PAGE } },
      fail: { vmcs: { [field]: good | BEYOND } },
      outcome: FAIL7,
    },
    {
      id: `ctl.exec.${stem}-phys`,
      name: "bit 63 set",
      ...extra,
      ...(setup ? { setup } : {}),
      fail: { vmcs: { [field]: good | (1n << 63n) } },
    },
  ];
}

/** One table per check module (src/checks/<module>.ts): the vectors of its checks. */
export const tables: VectorTables = {
  "exec-controls": [
    {
      id: "ctl.exec.pin-allowed-0",
      name: "not checked on a VM entry that returns from SMM to non-root operation (SDM 34.15.4.2)",
      setup: { vmcs: { PIN_BASED_VM_EXEC_CONTROL: clr(1 << 1) } },
      inapplicable: SMM_RETURN,
      fail: {},
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.vpid-nonzero",
      name: "not checked on a VM entry that returns from SMM to VMX root operation (SDM 34.15.4.2)",
      setup: { vmcs: { VIRTUAL_PROCESSOR_ID: 0 } },
      inapplicable: SMM_RETURN_ROOT,
      fail: {},
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.vpid-nonzero",
      name: "checked in SMM without the dual-monitor treatment being active",
      setup: { processor: { inSmm: true } },
      pass: { vmcs: { VIRTUAL_PROCESSOR_ID: 1 } },
      fail: { vmcs: { VIRTUAL_PROCESSOR_ID: 0 } },
    },
    // E1, E2: allowed settings. Test profile: pin must1 0x16 (bits 1, 2, 4), may1 0xff; TRUE primary must1
    // 0x04006172, may1 0xfffffffe.
    {
      id: "ctl.exec.pin-allowed-0",
      pass: { vmcs: { PIN_BASED_VM_EXEC_CONTROL: 0x3f } },
      fail: { vmcs: { PIN_BASED_VM_EXEC_CONTROL: clr(1 << 1) } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.pin-allowed-0",
      name: "default1 bit 4 cleared",
      fail: { vmcs: { PIN_BASED_VM_EXEC_CONTROL: clr(1 << 4) } },
    },
    {
      id: "ctl.exec.pin-allowed-0",
      name: "non-TRUE MSR when BASIC[55] = 0",
      // Without TRUE controls, IA32_VMX_PINBASED_CTLS decides; make it require bit 6 (preemption timer).
      cpu: (d) => {
        d.msrs.IA32_VMX_BASIC = "0x45a100000000004";
        d.msrs.IA32_VMX_PINBASED_CTLS = "0xff00000056";
        d.msrs.IA32_VMX_PROCBASED_CTLS = "0xfffffffe04006172";
        d.msrs.IA32_VMX_EXIT_CTLS = "0xffffffff00036dfb";
        d.msrs.IA32_VMX_ENTRY_CTLS = "0x1ffffff000011fb";
      },
      pass: { vmcs: { PIN_BASED_VM_EXEC_CONTROL: or(PIN.PREEMPTION_TIMER) } },
      fail: { vmcs: { PIN_BASED_VM_EXEC_CONTROL: clr(PIN.PREEMPTION_TIMER) } },
    },
    {
      id: "ctl.exec.pin-allowed-1",
      pass: { vmcs: { PIN_BASED_VM_EXEC_CONTROL: or(PIN.PREEMPTION_TIMER) } },
      fail: { vmcs: { PIN_BASED_VM_EXEC_CONTROL: or(1 << 8) } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.pin-allowed-1",
      name: "bit 31",
      fail: { vmcs: { PIN_BASED_VM_EXEC_CONTROL: or(1 << 31) } },
    },
    {
      id: "ctl.exec.pin-allowed-1",
      name: "two named controls the CPU does not allow (NMI exiting, virtual NMIs): both named",
      cpu: (d) => {
        d.msrs.IA32_VMX_TRUE_PINBASED_CTLS = "0xd700000016";
      },
      fail: { vmcs: { PIN_BASED_VM_EXEC_CONTROL: or(PIN.NMI_EXITING | PIN.VIRTUAL_NMIS) } },
    },
    {
      id: "ctl.exec.proc-allowed-0",
      fail: { vmcs: { CPU_BASED_VM_EXEC_CONTROL: clr(1 << 26) } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.proc-allowed-1",
      fail: { vmcs: { CPU_BASED_VM_EXEC_CONTROL: or(1 << 0) } },
      outcome: FAIL7,
    },
    // E3: secondary controls, only when activated.
    {
      id: "ctl.exec.proc2-reserved",
      cpu: (d) => {
        d.msrs.IA32_VMX_PROCBASED_CTLS2 = "0x7fffffff00000000";
      },
      pass: { vmcs: { SECONDARY_VM_EXEC_CONTROL: or(1 << 30) } },
      fail: { vmcs: { SECONDARY_VM_EXEC_CONTROL: or(1 << 31) } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.proc2-reserved",
      name: "allowed-0 bit reported by the profile",
      cpu: (d) => {
        d.msrs.IA32_VMX_PROCBASED_CTLS2 = "0xffffffff00000004";
      },
      fail: { vmcs: { SECONDARY_VM_EXEC_CONTROL: clr(PROC2.DESC_EXITING) } },
    },
    {
      id: "ctl.exec.proc2-reserved",
      name: "a bit not allowed to be 1 and a bit required to be 1, one message",
      cpu: (d) => {
        d.msrs.IA32_VMX_PROCBASED_CTLS2 = "0x7fffffff00000004";
      },
      fail: {
        vmcs: { SECONDARY_VM_EXEC_CONTROL: (old) => (old | (1n << 31n)) & ~BigInt(PROC2.DESC_EXITING) },
      },
    },
    // E4: tertiary controls (64-bit, allowed-1 only; test profile allows bits 8:0).
    {
      id: "ctl.exec.proc3-reserved",
      setup: tertiary(0),
      pass: { vmcs: { TERTIARY_VM_EXEC_CONTROL: 0x1c1 } },
      fail: { vmcs: { TERTIARY_VM_EXEC_CONTROL: 0x200 } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.proc3-reserved",
      name: "bit 32",
      setup: tertiary(0),
      fail: { vmcs: { TERTIARY_VM_EXEC_CONTROL: 1n << 32n } },
    },
    {
      id: "ctl.exec.proc3-reserved",
      name: "not activated: a disallowed bit in the field is not read",
      setup: { vmcs: { TERTIARY_VM_EXEC_CONTROL: 0x200 } },
      inapplicable: { vmcs: { CPU_BASED_VM_EXEC_CONTROL: clr(PROC.TERTIARY) } },
    },
    // E5: the test profile supports 4 CR3-target values.
    {
      id: "ctl.exec.cr3-target-count",
      pass: { vmcs: { CR3_TARGET_COUNT: 4 } },
      fail: { vmcs: { CR3_TARGET_COUNT: 5 } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.cr3-target-count",
      name: "CPU reporting 0 CR3-target values",
      cpu: (d) => {
        d.msrs.IA32_VMX_MISC = "0x7000c1e5";
      },
      pass: { vmcs: { CR3_TARGET_COUNT: 0 } },
      fail: { vmcs: { CR3_TARGET_COUNT: 1 } },
    },
    // E6–E11
    ...addressCases("io-bitmap-a", "IO_BITMAP_A", undefined, 0x10000n, 0x800n),
    ...addressCases("io-bitmap-b", "IO_BITMAP_B", undefined, 0x11000n, 0x1n),
    ...addressCases("msr-bitmap", "MSR_BITMAP", undefined, 0x12000n, 0x10n),
    ...addressCases("virtual-apic", "VIRTUAL_APIC_PAGE_ADDR", undefined, 0x13000n, 0x80n),
    // E13 reads VTPR only from a virtual-APIC address that passes E10/E11.
    {
      id: "ctl.exec.virtual-apic-aligned",
      name: "TPR threshold above the VTPR read at the misaligned address: E13 waits for a usable address",
      setup: { vmcs: { TPR_THRESHOLD: 0xf }, memory: { 77952: 0xf0n } },
      fail: { vmcs: { VIRTUAL_APIC_PAGE_ADDR: 0x13080n } },
    },
    {
      id: "ctl.exec.virtual-apic-phys",
      name: "TPR threshold above the VTPR read beyond the width: E13 waits for a usable address",
      setup: { vmcs: { TPR_THRESHOLD: 0xf }, memory: { 77952: 0xf0n } },
      fail: { vmcs: { VIRTUAL_APIC_PAGE_ADDR: BEYOND | 0x13000n } },
    },
    // E12
    {
      id: "ctl.exec.tpr-threshold-reserved",
      pass: { vmcs: { TPR_THRESHOLD: 0xf }, memory: { 77952: 0xf0n } },
      fail: { vmcs: { TPR_THRESHOLD: 0x10 } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.tpr-threshold-reserved",
      name: "bit 31",
      fail: { vmcs: { TPR_THRESHOLD: 0x80000000 } },
    },
    // E13: VTPR is byte 0x80 of the virtual-APIC page at 0x13000.
    {
      id: "ctl.exec.tpr-threshold-vtpr",
      setup: { vmcs: { TPR_THRESHOLD: 5 } },
      pass: { memory: { 77952: 0x50n } },
      fail: { memory: { 77952: 0x4fn } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.tpr-threshold-vtpr",
      name: "VTPR 0 (unwritten page)",
      pass: { vmcs: { TPR_THRESHOLD: 0 } },
      fail: { vmcs: { TPR_THRESHOLD: 1 } },
    },
    {
      id: "ctl.exec.tpr-threshold-vtpr",
      name: "bytes 3:1 of VTPR do not count",
      setup: { vmcs: { TPR_THRESHOLD: 2 } },
      pass: { memory: { 77952: 0xffffff20n } },
      fail: { memory: { 77952: 0xffffff1fn } },
    },
    {
      id: "ctl.exec.tpr-threshold-vtpr",
      name: "virtual-APIC page above 4 GiB",
      setup: { vmcs: { VIRTUAL_APIC_PAGE_ADDR: 0x123456000n, TPR_THRESHOLD: 9 } },
      pass: { memory: { 4886716544: 0x90n } },
      fail: { memory: { 4886716544: 0x80n, 77952: 0x90n } },
    },
    // E14, E15
    {
      id: "ctl.exec.virtual-nmis-need-nmi-exiting",
      fail: { vmcs: { PIN_BASED_VM_EXEC_CONTROL: clr(PIN.NMI_EXITING) } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.nmi-window-needs-virtual-nmis",
      pass: { vmcs: { CPU_BASED_VM_EXEC_CONTROL: or(PROC.NMI_WINDOW) } },
      fail: {
        vmcs: {
          CPU_BASED_VM_EXEC_CONTROL: or(PROC.NMI_WINDOW),
          PIN_BASED_VM_EXEC_CONTROL: clr(PIN.VIRTUAL_NMIS),
        },
      },
      outcome: FAIL7,
    },
    // E16, E17
    ...addressCases(
      "apic-access",
      "APIC_ACCESS_ADDR",
      proc2(PROC2.VIRT_APIC_ACCESSES, { APIC_ACCESS_ADDR: 0xfee00000n }),
      0xfee00000n,
      0x400n,
    ),
    // E18
    {
      id: "ctl.exec.apicv-needs-tpr-shadow",
      pass: proc2(PROC2.VIRT_X2APIC | PROC2.APIC_REGISTER_VIRT),
      fail: {
        vmcs: {
          CPU_BASED_VM_EXEC_CONTROL: clr(PROC.TPR_SHADOW),
          SECONDARY_VM_EXEC_CONTROL: or(PROC2.VIRT_X2APIC),
        },
      },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.apicv-needs-tpr-shadow",
      name: "APIC-register virtualization alone",
      pass: { vmcs: { SECONDARY_VM_EXEC_CONTROL: or(PROC2.APIC_REGISTER_VIRT) } },
      fail: {
        vmcs: {
          CPU_BASED_VM_EXEC_CONTROL: clr(PROC.TPR_SHADOW),
          SECONDARY_VM_EXEC_CONTROL: or(PROC2.APIC_REGISTER_VIRT),
        },
      },
    },
    {
      id: "ctl.exec.apicv-needs-tpr-shadow",
      name: "virtual-interrupt delivery alone",
      pass: {
        vmcs: { SECONDARY_VM_EXEC_CONTROL: or(PROC2.VID), PIN_BASED_VM_EXEC_CONTROL: or(PIN.EXT_INTR) },
      },
      fail: {
        vmcs: {
          CPU_BASED_VM_EXEC_CONTROL: clr(PROC.TPR_SHADOW),
          SECONDARY_VM_EXEC_CONTROL: or(PROC2.VID),
        },
      },
    },
    {
      id: "ctl.exec.ipiv-needs-tpr-shadow",
      setup: tertiary(PROC3.IPI_VIRT, { PID_POINTER_TABLE: 0x18000n }),
      fail: { vmcs: { CPU_BASED_VM_EXEC_CONTROL: clr(PROC.TPR_SHADOW) } },
      outcome: FAIL7,
    },
    // E19, E20
    {
      id: "ctl.exec.x2apic-vs-apic-access",
      pass: proc2(PROC2.VIRT_X2APIC),
      fail: proc2(PROC2.VIRT_X2APIC | PROC2.VIRT_APIC_ACCESSES),
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.vid-needs-ext-intr-exiting",
      pass: proc2(PROC2.VID, { TPR_THRESHOLD: 0xff }),
      fail: {
        vmcs: { SECONDARY_VM_EXEC_CONTROL: or(PROC2.VID), PIN_BASED_VM_EXEC_CONTROL: clr(PIN.EXT_INTR) },
      },
      outcome: FAIL7,
    },
    // E21–E25
    {
      id: "ctl.exec.posted-intr-needs-vid",
      pass: {
        vmcs: { PIN_BASED_VM_EXEC_CONTROL: or(PIN.POSTED_INTR), SECONDARY_VM_EXEC_CONTROL: or(PROC2.VID) },
      },
      fail: { vmcs: { PIN_BASED_VM_EXEC_CONTROL: or(PIN.POSTED_INTR) } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.posted-intr-needs-vid",
      name: "secondary controls not activated",
      pass: {
        vmcs: { PIN_BASED_VM_EXEC_CONTROL: or(PIN.POSTED_INTR), SECONDARY_VM_EXEC_CONTROL: or(PROC2.VID) },
      },
      fail: {
        vmcs: {
          PIN_BASED_VM_EXEC_CONTROL: or(PIN.POSTED_INTR),
          SECONDARY_VM_EXEC_CONTROL: or(PROC2.VID),
          CPU_BASED_VM_EXEC_CONTROL: clr(PROC.SECONDARY),
        },
      },
    },
    {
      id: "ctl.exec.posted-intr-needs-ack-intr",
      setup: {
        vmcs: { PIN_BASED_VM_EXEC_CONTROL: or(PIN.POSTED_INTR), SECONDARY_VM_EXEC_CONTROL: or(PROC2.VID) },
      },
      fail: { vmcs: { VM_EXIT_CONTROLS: clr(EXIT.ACK_INTR) } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.posted-intr-vector",
      setup: {
        vmcs: { PIN_BASED_VM_EXEC_CONTROL: or(PIN.POSTED_INTR), SECONDARY_VM_EXEC_CONTROL: or(PROC2.VID) },
      },
      pass: { vmcs: { POSTED_INTR_NV: 0xff } },
      fail: { vmcs: { POSTED_INTR_NV: 0x100 } },
      outcome: FAIL7,
    },
    ...addressCases(
      "posted-intr-desc",
      "POSTED_INTR_DESC_ADDR",
      { vmcs: { PIN_BASED_VM_EXEC_CONTROL: or(PIN.POSTED_INTR), SECONDARY_VM_EXEC_CONTROL: or(PROC2.VID) } },
      0x15040n,
      0x20n,
    ),
    // E26
    {
      id: "ctl.exec.vpid-nonzero",
      pass: { vmcs: { VIRTUAL_PROCESSOR_ID: 0xffff } },
      fail: { vmcs: { VIRTUAL_PROCESSOR_ID: 0 } },
      outcome: FAIL7,
    },
    // E27–E31 (test profile EPT_VPID_CAP: UC, WB, 4- and 5-level, A/D, supervisor shadow-stack control)
    {
      id: "ctl.exec.eptp-memory-type",
      pass: { vmcs: { EPT_POINTER: eptp(0, 3) } },
      fail: { vmcs: { EPT_POINTER: eptp(1, 3) } },
      outcome: FAIL7,
    },
    ...[2, 3, 4, 5, 7].map(
      (t): CheckCase => ({
        id: "ctl.exec.eptp-memory-type",
        name: `reserved type ${t}`,
        fail: { vmcs: { EPT_POINTER: eptp(t, 3) } },
      }),
    ),
    {
      id: "ctl.exec.eptp-memory-type",
      name: "UC not enumerated",
      cpu: (d) => {
        d.msrs.IA32_VMX_EPT_VPID_CAP = "0x80f0106f340c1";
      },
      pass: { vmcs: { EPT_POINTER: eptp(6, 3) } },
      fail: { vmcs: { EPT_POINTER: eptp(0, 3) } },
    },
    {
      id: "ctl.exec.eptp-memory-type",
      name: "WB not enumerated: the message offers UC alone",
      cpu: (d) => {
        d.msrs.IA32_VMX_EPT_VPID_CAP = "0x80f0106f301c1";
      },
      setup: proc2(PROC2.EPT, { EPT_POINTER: eptp(0, 3) }),
      pass: { vmcs: { EPT_POINTER: eptp(0, 3) } },
      fail: { vmcs: { EPT_POINTER: eptp(6, 3) } },
    },
    {
      id: "ctl.exec.eptp-memory-type",
      name: "no memory type enumerated",
      cpu: (d) => {
        d.msrs.IA32_VMX_EPT_VPID_CAP = "0x80f0106f300c1";
      },
      setup: proc2(PROC2.EPT, { EPT_POINTER: eptp(0, 3) }),
      fail: { vmcs: { EPT_POINTER: eptp(6, 3) } },
      inapplicable: { vmcs: { SECONDARY_VM_EXEC_CONTROL: clr(PROC2.EPT) } },
    },
    {
      id: "ctl.exec.eptp-walk-length",
      pass: { vmcs: { EPT_POINTER: eptp(6, 4) } },
      fail: { vmcs: { EPT_POINTER: eptp(6, 5) } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.eptp-walk-length",
      name: "2 (3-level)",
      fail: { vmcs: { EPT_POINTER: eptp(6, 2) } },
    },
    {
      id: "ctl.exec.eptp-walk-length",
      name: "5-level not enumerated",
      cpu: (d) => {
        d.msrs.IA32_VMX_EPT_VPID_CAP = "0x80f0106f34141";
      },
      pass: { vmcs: { EPT_POINTER: eptp(6, 3) } },
      fail: { vmcs: { EPT_POINTER: eptp(6, 4) } },
    },
    {
      id: "ctl.exec.eptp-walk-length",
      name: "4-level not enumerated: the message offers 5-level alone",
      cpu: (d) => {
        d.msrs.IA32_VMX_EPT_VPID_CAP = "0x80f0106f34181";
      },
      setup: proc2(PROC2.EPT, { EPT_POINTER: eptp(6, 4) }),
      pass: { vmcs: { EPT_POINTER: eptp(6, 4) } },
      fail: { vmcs: { EPT_POINTER: eptp(6, 3) } },
    },
    {
      id: "ctl.exec.eptp-walk-length",
      name: "no page-walk length enumerated",
      cpu: (d) => {
        d.msrs.IA32_VMX_EPT_VPID_CAP = "0x80f0106f34101";
      },
      setup: proc2(PROC2.EPT, { EPT_POINTER: eptp(6, 4) }),
      fail: { vmcs: { EPT_POINTER: eptp(6, 3) } },
      inapplicable: { vmcs: { SECONDARY_VM_EXEC_CONTROL: clr(PROC2.EPT) } },
    },
    {
      id: "ctl.exec.eptp-ad",
      cpu: (d) => {
        d.msrs.IA32_VMX_EPT_VPID_CAP = "0x80f0106d341c1";
      },
      fail: { vmcs: { EPT_POINTER: eptp(6, 3, 0x40n) } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.eptp-sss",
      name: "EPT_VPID_CAP[23] clear",
      cpu: (d) => {
        d.msrs.IA32_VMX_EPT_VPID_CAP = "0x80f01067341c1";
      },
      pass: { vmcs: { EPT_POINTER: eptp(6, 3, 0x40n) } },
      fail: { vmcs: { EPT_POINTER: eptp(6, 3, 0x80n) } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.eptp-reserved",
      fail: { vmcs: { EPT_POINTER: eptp(6, 3, 0x100n) } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.eptp-reserved",
      name: "bit 11",
      fail: { vmcs: { EPT_POINTER: eptp(6, 3, 0x800n) } },
    },
    {
      id: "ctl.exec.eptp-phys",
      pass: { vmcs: { EPT_POINTER: TOP_PAGE | 0x1en } },
      fail: { vmcs: { EPT_POINTER: eptp(6, 3, BEYOND) } },
      outcome: FAIL7,
    },
    // E32–E34
    {
      id: "ctl.exec.pml-needs-ept",
      setup: proc2(PROC2.PML, { PML_ADDRESS: 0x16000n }),
      fail: { vmcs: { SECONDARY_VM_EXEC_CONTROL: clr(PROC2.EPT) } },
      outcome: FAIL7,
    },
    ...addressCases("pml", "PML_ADDRESS", proc2(PROC2.PML), 0x16000n, 0x8n),
    // E35–E38
    {
      id: "ctl.exec.unrestricted-guest-needs-ept",
      pass: proc2(PROC2.UNRESTRICTED_GUEST),
      fail: {
        vmcs: { SECONDARY_VM_EXEC_CONTROL: (old) => (old | BigInt(PROC2.UNRESTRICTED_GUEST)) & ~2n },
      },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.mbec-needs-ept",
      pass: proc2(PROC2.MBEC),
      fail: { vmcs: { SECONDARY_VM_EXEC_CONTROL: (old) => (old | BigInt(PROC2.MBEC)) & ~2n } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.spp-needs-ept",
      pass: proc2(PROC2.SPP, { SPP_TABLE_POINTER: 0x17000n }),
      fail: { vmcs: { SECONDARY_VM_EXEC_CONTROL: (old) => (old | BigInt(PROC2.SPP)) & ~2n } },
      outcome: FAIL7,
    },
    ...addressCases("spptp", "SPP_TABLE_POINTER", proc2(PROC2.SPP), 0x17000n, 0x1n),
    // E39–E42 (test profile IA32_VMX_VMFUNC = 1: EPTP switching only)
    {
      id: "ctl.exec.vmfunc-reserved",
      setup: proc2(PROC2.VMFUNC),
      pass: { vmcs: { VM_FUNCTION_CONTROL: 1 } },
      fail: { vmcs: { VM_FUNCTION_CONTROL: 2 } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.vmfunc-reserved",
      name: "bit 63",
      setup: proc2(PROC2.VMFUNC),
      fail: { vmcs: { VM_FUNCTION_CONTROL: 1n << 63n } },
    },
    {
      id: "ctl.exec.eptp-switching-needs-ept",
      setup: proc2(PROC2.VMFUNC, { VM_FUNCTION_CONTROL: 1, EPTP_LIST_ADDRESS: 0x18000n }),
      fail: { vmcs: { SECONDARY_VM_EXEC_CONTROL: clr(PROC2.EPT) } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.eptp-switching-needs-ept",
      name: "EPTP switching set in the VM-function controls but VM functions not enabled",
      setup: { vmcs: { VM_FUNCTION_CONTROL: 1, EPTP_LIST_ADDRESS: 0x18000n } },
      inapplicable: { vmcs: { SECONDARY_VM_EXEC_CONTROL: clr(PROC2.EPT) } },
    },
    {
      id: "ctl.exec.eptp-switching-needs-ept",
      name: "VM functions enabled without EPTP switching",
      setup: proc2(PROC2.VMFUNC, { VM_FUNCTION_CONTROL: 0 }),
      inapplicable: { vmcs: { SECONDARY_VM_EXEC_CONTROL: clr(PROC2.EPT) } },
    },
    ...addressCases(
      "eptp-list",
      "EPTP_LIST_ADDRESS",
      proc2(PROC2.VMFUNC, { VM_FUNCTION_CONTROL: 1 }),
      0x18000n,
      0x100n,
    ),
    // E43–E45
    ...addressCases("vmread-bitmap", "VMREAD_BITMAP", proc2(PROC2.SHADOW_VMCS), 0x19000n, 0x4n),
    ...addressCases("vmwrite-bitmap", "VMWRITE_BITMAP", proc2(PROC2.SHADOW_VMCS), 0x1a000n, 0x200n),
    ...addressCases("ve-info", "VE_INFORMATION_ADDRESS", proc2(PROC2.EPT_VE), 0x1b000n, 0x40n),
    // E46
    {
      id: "ctl.exec.pt-gpa-needs-ept",
      setup: {
        vmcs: {
          SECONDARY_VM_EXEC_CONTROL: or(PROC2.PT_USE_GPA),
          VM_ENTRY_CONTROLS: or(ENTRY.LOAD_RTIT_CTL),
          VM_EXIT_CONTROLS: or(EXIT.CLEAR_RTIT_CTL),
        },
      },
      fail: { vmcs: { SECONDARY_VM_EXEC_CONTROL: clr(PROC2.EPT) } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.pt-gpa-needs-load-rtit-ctl",
      setup: {
        vmcs: { SECONDARY_VM_EXEC_CONTROL: or(PROC2.PT_USE_GPA), VM_EXIT_CONTROLS: or(EXIT.CLEAR_RTIT_CTL) },
      },
      pass: { vmcs: { VM_ENTRY_CONTROLS: or(ENTRY.LOAD_RTIT_CTL) } },
      fail: {},
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.pt-gpa-needs-clear-rtit-ctl",
      setup: {
        vmcs: { SECONDARY_VM_EXEC_CONTROL: or(PROC2.PT_USE_GPA), VM_ENTRY_CONTROLS: or(ENTRY.LOAD_RTIT_CTL) },
      },
      pass: { vmcs: { VM_EXIT_CONTROLS: or(EXIT.CLEAR_RTIT_CTL) } },
      fail: {},
      outcome: FAIL7,
    },
    // TSC scaling (SDM bullet not in the checklist)
    {
      id: "ctl.exec.tsc-multiplier-nonzero",
      setup: proc2(PROC2.TSC_SCALING),
      pass: { vmcs: { TSC_MULTIPLIER: 1n << 48n } },
      fail: { vmcs: { TSC_MULTIPLIER: 0 } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.tsc-multiplier-nonzero",
      name: "only bit 32 set passes",
      setup: proc2(PROC2.TSC_SCALING),
      pass: { vmcs: { TSC_MULTIPLIER: 1n << 32n } },
      fail: {},
    },
    // E47: PID-pointer table (8-byte entries)
    ...addressCases("pid-table", "PID_POINTER_TABLE", tertiary(PROC3.IPI_VIRT), 0x1c008n, 0x4n),
    // E48–E50: HLAT (test profile: max HLAT prefix size 8)
    ...addressCases("hlatp", "HLAT_POINTER", tertiary(PROC3.HLAT), 0x1d018n, 0x1n),
    {
      id: "ctl.exec.hlatp-aligned",
      name: "bit 5 (PWT/PCD in 4:3 are allowed)",
      setup: tertiary(PROC3.HLAT),
      pass: { vmcs: { HLAT_POINTER: 0x1d018n } },
      fail: { vmcs: { HLAT_POINTER: 0x1d020n } },
    },
    {
      id: "ctl.exec.hlatp-aligned",
      name: "bit 11",
      setup: tertiary(PROC3.HLAT),
      fail: { vmcs: { HLAT_POINTER: 0x1d800n } },
    },
    {
      id: "ctl.exec.hlat-needs-ept",
      setup: tertiary(PROC3.HLAT, { HLAT_POINTER: 0x1d000n }),
      fail: { vmcs: { SECONDARY_VM_EXEC_CONTROL: clr(PROC2.EPT) } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.hlat-needs-ept",
      name: "secondary controls not activated",
      setup: tertiary(PROC3.HLAT, { HLAT_POINTER: 0x1d000n }),
      fail: { vmcs: { CPU_BASED_VM_EXEC_CONTROL: clr(PROC.SECONDARY) } },
    },
    {
      id: "ctl.exec.ept-paging-write-needs-ept",
      setup: tertiary(PROC3.EPT_PAGING_WRITE),
      fail: { vmcs: { SECONDARY_VM_EXEC_CONTROL: clr(PROC2.EPT) } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.guest-paging-verify-needs-ept",
      setup: tertiary(PROC3.GUEST_PAGING_VERIFY),
      fail: { vmcs: { SECONDARY_VM_EXEC_CONTROL: clr(PROC2.EPT) } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.hlat-prefix-size",
      setup: tertiary(PROC3.HLAT),
      pass: { vmcs: { HLAT_PREFIX_SIZE: 8 } },
      fail: { vmcs: { HLAT_PREFIX_SIZE: 9 } },
      outcome: FAIL7,
    },
    {
      id: "ctl.exec.hlat-prefix-size",
      name: "CPU reporting maximum 0",
      cpu: (d) => {
        d.msrs.IA32_VMX_EPT_VPID_CAP = "0xf0106f341c1";
      },
      setup: tertiary(PROC3.HLAT),
      pass: { vmcs: { HLAT_PREFIX_SIZE: 0 } },
      fail: { vmcs: { HLAT_PREFIX_SIZE: 1 } },
    },
  ],
};
