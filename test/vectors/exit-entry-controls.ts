/**
 * Vectors for SDM 29.2.1.2 (VM-exit controls), 29.2.1.3 (VM-entry controls and event injection), 34.15.4 (VM
 * entries that return from SMM) and 29.4 (loading MSRs). Default profile: test/fixtures/profile-all.json
 * (TRUE controls, MTF, IA32_VMX_BASIC[58] nested exceptions, BASIC[56] = 0, MISC[30] = 1, MAXPHYADDR 46,
 * revision identifier 4, recommended MSR-list maximum 512).
 */
import { type CheckCase, type Patch, SMM_RETURN, SMM_RETURN_ROOT, type VectorTables } from "../helpers.js";
import { SETUP_32 } from "./host.js";

const VALID = 0x80000000;
const DEL = 1 << 11;
const NESTED = 1 << 13;
/** Injected-event identification field value (valid). */
const ev = (type: number, vector: number, extra = 0): number => (VALID | (type << 8) | vector | extra) >>> 0;
const info = (type: number, vector: number, extra = 0): Patch => ({
  vmcs: { VM_ENTRY_INTR_INFO_FIELD: ev(type, vector, extra) },
});

const MAXPHYS = 1n << 46n;

/** The guest will use FRED transitions: CR4.FRED (bit 32) in a 64-bit guest (the base guest is 64-bit). */
const FRED_GUEST: Patch = { vmcs: { GUEST_CR4: (old) => old | (1n << 32n) } };

/**
 * A real-mode guest under "unrestricted guest" (CR0.PE = PG = 0), valid per SDM 29.3.1: not IA-32e mode, EFER 0,
 * CR4.PCIDE 0, 16-bit real-mode-style segments, RIP below 4 GiB.
 */
const REAL_MODE: Patch = {
  vmcs: {
    SECONDARY_VM_EXEC_CONTROL: (old) => old | (1n << 7n),
    VM_ENTRY_CONTROLS: (old) => old & ~(1n << 9n),
    GUEST_CR0: 0x30,
    GUEST_CR4: (old) => old & ~(1n << 17n),
    GUEST_IA32_EFER: 0,
    GUEST_CS_SELECTOR: 0,
    GUEST_CS_LIMIT: 0xffff,
    GUEST_CS_AR_BYTES: 0x9b,
    GUEST_SS_SELECTOR: 0,
    GUEST_SS_LIMIT: 0xffff,
    GUEST_SS_AR_BYTES: 0x93,
    GUEST_DS_SELECTOR: 0,
    GUEST_DS_LIMIT: 0xffff,
    GUEST_DS_AR_BYTES: 0x93,
    GUEST_ES_SELECTOR: 0,
    GUEST_ES_LIMIT: 0xffff,
    GUEST_ES_AR_BYTES: 0x93,
    GUEST_RIP: 0x7c00,
    GUEST_RSP: 0x7000,
  },
};

/** Profile edits. */
const noMtf = (d: { msrs: Record<string, string> }) => {
  d.msrs["IA32_VMX_PROCBASED_CTLS"] = "0xf7fffffe0401e172";
  d.msrs["IA32_VMX_TRUE_PROCBASED_CTLS"] = "0xf7fffffe04006172";
};
const basic56 = (d: { msrs: Record<string, string> }) => {
  d.msrs["IA32_VMX_BASIC"] = "0x5da100000000004";
};
const noNestedException = (d: { msrs: Record<string, string> }) => {
  d.msrs["IA32_VMX_BASIC"] = "0xda100000000004";
};

// VM-entry MSR-load area at 0x20000.
const AREA = 0x20000;
type MsrEntry = readonly [index: number, value: bigint, reserved?: number];
function msrs(...entries: MsrEntry[]): Patch {
  const memory: Record<number, bigint> = {};
  entries.forEach(([index, value, reserved = 0], i) => {
    memory[AREA + 16 * i] = (BigInt(reserved) << 32n) | BigInt(index >>> 0);
    memory[AREA + 16 * i + 8] = value;
  });
  return {
    vmcs: { VM_ENTRY_MSR_LOAD_ADDR: AREA, VM_ENTRY_MSR_LOAD_COUNT: entries.length },
    memory,
  };
}
const EFER = 0xc0000080;
const PAT = 0x277;
const LINUX_PAT = 0x0007040600070406n;
const LSTAR = 0xc0000082;
/** Two harmless entries before the one under test: the failing entry is the 3rd. */
const pre: MsrEntry[] = [
  [EFER, 0xd01n],
  [PAT, LINUX_PAT],
];
const x34 = (q: number) => ({ type: "vmexit", reason: 34, qualification: q }) as const;

const exitCases: CheckCase[] = [
  {
    id: "ctl.exit.allowed-0-settings",
    fail: { vmcs: { VM_EXIT_CONTROLS: (old) => old & ~1n } },
    outcome: { type: "vmfail-valid", error: 7 },
  },
  {
    id: "ctl.exit.allowed-1-settings",
    cpu: (d) => {
      d.msrs["IA32_VMX_TRUE_EXIT_CTLS"] = "0x7fffffff00036dfb";
    },
    fail: { vmcs: { VM_EXIT_CONTROLS: (old) => old | (1n << 31n) } },
    outcome: { type: "vmfail-valid", error: 7 },
  },
  {
    id: "ctl.exit.secondary-reserved",
    setup: { vmcs: { VM_EXIT_CONTROLS: (old) => old | (1n << 31n) } },
    pass: { vmcs: { SECONDARY_VM_EXIT_CONTROLS: 0 } },
    fail: { vmcs: { SECONDARY_VM_EXIT_CONTROLS: 0x10 } },
  },
  {
    id: "ctl.exit.secondary-reserved",
    name: "a bit in the high half (bit 40)",
    setup: { vmcs: { VM_EXIT_CONTROLS: (old) => old | (1n << 31n) } },
    fail: { vmcs: { SECONDARY_VM_EXIT_CONTROLS: 1n << 40n } },
  },
  {
    id: "ctl.exit.save-preemption-timer-needs-timer",
    setup: { vmcs: { VM_EXIT_CONTROLS: (old) => old | (1n << 22n) } },
    pass: { vmcs: { PIN_BASED_VM_EXEC_CONTROL: (old) => old | (1n << 6n) } },
    fail: {},
    outcome: { type: "vmfail-valid", error: 7 },
  },
  {
    id: "ctl.exit.save-preemption-timer-needs-timer",
    name: "not checked on a VM entry that returns from SMM",
    setup: { vmcs: { VM_EXIT_CONTROLS: (old) => old | (1n << 22n) } },
    inapplicable: SMM_RETURN,
    fail: {},
  },
  // MSR-store area (X4–X6)
  {
    id: "ctl.exit.msr-store-addr-aligned",
    setup: { vmcs: { VM_EXIT_MSR_STORE_COUNT: 1 } },
    pass: { vmcs: { VM_EXIT_MSR_STORE_ADDR: 0x20010 } },
    fail: { vmcs: { VM_EXIT_MSR_STORE_ADDR: 0x20008 } },
  },
  {
    id: "ctl.exit.msr-store-addr-aligned",
    name: "bit 0 set",
    setup: { vmcs: { VM_EXIT_MSR_STORE_COUNT: 1 } },
    fail: { vmcs: { VM_EXIT_MSR_STORE_ADDR: 0x20001 } },
  },
  {
    id: "ctl.exit.msr-store-addr-width",
    setup: { vmcs: { VM_EXIT_MSR_STORE_COUNT: 1 } },
    pass: { vmcs: { VM_EXIT_MSR_STORE_ADDR: MAXPHYS - 16n } },
    fail: { vmcs: { VM_EXIT_MSR_STORE_ADDR: MAXPHYS } },
  },
  {
    id: "ctl.exit.msr-store-area-end-width",
    setup: { vmcs: { VM_EXIT_MSR_STORE_ADDR: MAXPHYS - 16n } },
    pass: { vmcs: { VM_EXIT_MSR_STORE_COUNT: 1 } },
    fail: { vmcs: { VM_EXIT_MSR_STORE_COUNT: 2 } },
  },
  {
    id: "ctl.exit.msr-store-area-end-width",
    name: "count 0xffffffff: the area ends exactly at / 16 bytes past the last valid byte",
    setup: { vmcs: { VM_EXIT_MSR_STORE_COUNT: 0xffffffff } },
    pass: { vmcs: { VM_EXIT_MSR_STORE_ADDR: MAXPHYS - 0xffffffff0n } },
    fail: { vmcs: { VM_EXIT_MSR_STORE_ADDR: MAXPHYS - 0xfffffffe0n } },
  },
  // MSR-load area (X7–X9)
  {
    id: "ctl.exit.msr-load-addr-aligned",
    setup: { vmcs: { VM_EXIT_MSR_LOAD_COUNT: 1 } },
    pass: { vmcs: { VM_EXIT_MSR_LOAD_ADDR: 0x21000 } },
    fail: { vmcs: { VM_EXIT_MSR_LOAD_ADDR: 0x21004 } },
  },
  {
    id: "ctl.exit.msr-load-addr-width",
    setup: { vmcs: { VM_EXIT_MSR_LOAD_COUNT: 1 } },
    pass: { vmcs: { VM_EXIT_MSR_LOAD_ADDR: MAXPHYS - 16n } },
    fail: { vmcs: { VM_EXIT_MSR_LOAD_ADDR: 1n << 63n } },
  },
  {
    id: "ctl.exit.msr-load-area-end-width",
    setup: { vmcs: { VM_EXIT_MSR_LOAD_ADDR: MAXPHYS - 32n } },
    pass: { vmcs: { VM_EXIT_MSR_LOAD_COUNT: 2 } },
    fail: { vmcs: { VM_EXIT_MSR_LOAD_COUNT: 3 } },
  },
];

const entryCases: CheckCase[] = [
  {
    id: "ctl.entry.allowed-0-settings",
    fail: { vmcs: { VM_ENTRY_CONTROLS: (old) => old & ~1n } },
    outcome: { type: "vmfail-valid", error: 7 },
  },
  {
    id: "ctl.entry.allowed-1-settings",
    cpu: (d) => {
      d.msrs["IA32_VMX_TRUE_ENTRY_CTLS"] = "0x1fdffff000011fb";
    },
    fail: { vmcs: { VM_ENTRY_CONTROLS: (old) => old | (1n << 17n) } },
  },
  // Event injection
  {
    id: "ctl.event.type-reserved",
    pass: info(3, 6),
    fail: info(1, 0),
    outcome: { type: "vmfail-valid", error: 7 },
  },
  {
    id: "ctl.event.type-reserved",
    name: "type 1 with any vector",
    pass: info(3, 0x1e),
    fail: info(1, 0x30),
  },
  {
    id: "ctl.event.other-event-needs-mtf",
    cpu: noMtf,
    pass: { vmcs: { ...FRED_GUEST.vmcs, VM_ENTRY_INTR_INFO_FIELD: ev(7, 1), VM_ENTRY_INSTRUCTION_LEN: 2 } },
    fail: info(7, 0),
  },
  { id: "ctl.event.nmi-vector", pass: info(2, 2), fail: info(2, 3) },
  { id: "ctl.event.nmi-vector", name: "vector 0", pass: info(2, 2), fail: info(2, 0) },
  { id: "ctl.event.hw-exception-vector", pass: info(3, 31), fail: info(3, 32) },
  { id: "ctl.event.hw-exception-vector", name: "vector 255", pass: info(3, 0), fail: info(3, 255) },
  { id: "ctl.event.other-event-vector", pass: info(7, 0), fail: info(7, 1) },
  { id: "ctl.event.other-event-vector", name: "vector 2 without FRED", pass: info(7, 0), fail: info(7, 2) },
  {
    id: "ctl.event.fred-other-event-vector",
    setup: FRED_GUEST,
    pass: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: ev(7, 2), VM_ENTRY_INSTRUCTION_LEN: 2 } },
    fail: info(7, 3),
  },
  {
    id: "ctl.event.fred-other-event-vector",
    name: "vector 0 (MTF) is still fine in a FRED guest",
    setup: FRED_GUEST,
    pass: info(7, 0),
    fail: info(7, 0xff),
  },
  {
    id: "ctl.event.error-code-required",
    pass: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: ev(3, 13, DEL), VM_ENTRY_EXCEPTION_ERROR_CODE: 0 } },
    fail: info(3, 13),
  },
  { id: "ctl.event.error-code-required", name: "#DF (8)", pass: info(3, 8, DEL), fail: info(3, 8) },
  { id: "ctl.event.error-code-required", name: "#AC (17)", pass: info(3, 17, DEL), fail: info(3, 17) },
  { id: "ctl.event.error-code-not-expected", pass: info(3, 6), fail: info(3, 6, DEL) },
  {
    id: "ctl.event.error-code-not-expected",
    name: "protected mode under unrestricted guest (CR0.PE = 1 read from the field)",
    setup: { vmcs: { SECONDARY_VM_EXEC_CONTROL: (old) => old | (1n << 7n) } },
    pass: info(3, 6),
    fail: info(3, 6, DEL),
  },
  {
    id: "ctl.event.error-code-not-expected",
    name: "#CP (21) per the SDM list",
    pass: info(3, 21),
    fail: info(3, 21, DEL),
  },
  { id: "ctl.event.error-code-not-expected", name: "vector 9", pass: info(3, 9), fail: info(3, 9, DEL) },
  {
    id: "ctl.event.error-code-only-hw-exception",
    setup: { vmcs: { VM_ENTRY_INSTRUCTION_LEN: 1 } },
    pass: info(6, 3),
    fail: info(6, 3, DEL),
  },
  {
    id: "ctl.event.error-code-only-hw-exception",
    name: "NMI; IA32_VMX_BASIC[56] does not lift it",
    cpu: basic56,
    pass: info(3, 6, DEL),
    fail: info(2, 2, DEL),
  },
  {
    id: "ctl.event.error-code-real-mode",
    setup: REAL_MODE,
    pass: info(3, 13),
    fail: info(3, 13, DEL),
  },
  {
    id: "ctl.event.error-code-real-mode",
    name: "IA32_VMX_BASIC[56] does not lift it",
    cpu: basic56,
    setup: REAL_MODE,
    pass: info(3, 6),
    fail: info(3, 6, DEL),
  },
  { id: "ctl.event.reserved-bits", pass: info(3, 6), fail: info(3, 6, 1 << 12) },
  { id: "ctl.event.reserved-bits", name: "bit 30", pass: info(2, 2), fail: info(3, 6, 1 << 30) },
  { id: "ctl.event.reserved-bits", name: "bit 14", pass: info(7, 0), fail: info(3, 6, 1 << 14) },
  {
    id: "ctl.event.nested-exception-unsupported",
    cpu: noNestedException,
    pass: info(3, 14, DEL),
    fail: info(3, 14, DEL | NESTED),
  },
  {
    id: "ctl.event.nested-exception-type",
    pass: info(3, 14, DEL | NESTED),
    fail: info(2, 2, NESTED),
  },
  {
    id: "ctl.event.error-code-reserved",
    setup: info(3, 13, DEL),
    pass: { vmcs: { VM_ENTRY_EXCEPTION_ERROR_CODE: 0xffff } },
    fail: { vmcs: { VM_ENTRY_EXCEPTION_ERROR_CODE: 0x10000 } },
  },
  {
    id: "ctl.event.error-code-reserved",
    name: "bit 31",
    setup: info(3, 14, DEL),
    fail: { vmcs: { VM_ENTRY_EXCEPTION_ERROR_CODE: 0x80000000 } },
  },
  {
    id: "ctl.event.instruction-length-max",
    setup: info(4, 0x80),
    pass: { vmcs: { VM_ENTRY_INSTRUCTION_LEN: 15 } },
    fail: { vmcs: { VM_ENTRY_INSTRUCTION_LEN: 16 } },
  },
  {
    id: "ctl.event.instruction-length-max",
    name: "privileged software exception (INT1)",
    setup: info(5, 1),
    pass: { vmcs: { VM_ENTRY_INSTRUCTION_LEN: 1 } },
    fail: { vmcs: { VM_ENTRY_INSTRUCTION_LEN: 0xffffffff } },
  },
  {
    id: "ctl.event.instruction-length-zero",
    cpu: (d) => {
      d.msrs["IA32_VMX_MISC"] = "0x3004c1e5";
    },
    setup: info(6, 3),
    pass: { vmcs: { VM_ENTRY_INSTRUCTION_LEN: 1 } },
    fail: { vmcs: { VM_ENTRY_INSTRUCTION_LEN: 0 } },
  },
  {
    id: "ctl.event.fred-instruction-length",
    setup: { vmcs: { ...FRED_GUEST.vmcs, VM_ENTRY_INTR_INFO_FIELD: ev(7, 1) } },
    pass: { vmcs: { VM_ENTRY_INSTRUCTION_LEN: 15 } },
    fail: { vmcs: { VM_ENTRY_INSTRUCTION_LEN: 16 } },
  },
  // VM-entry MSR-load area (N14–N16)
  {
    id: "ctl.entry.msr-load-addr-aligned",
    setup: { vmcs: { VM_ENTRY_MSR_LOAD_COUNT: 1 } },
    pass: { vmcs: { VM_ENTRY_MSR_LOAD_ADDR: 0x20010 } },
    fail: { vmcs: { VM_ENTRY_MSR_LOAD_ADDR: 0x20008 } },
    outcome: { type: "vmfail-valid", error: 7 },
  },
  {
    id: "ctl.entry.msr-load-addr-width",
    setup: { vmcs: { VM_ENTRY_MSR_LOAD_COUNT: 1 } },
    pass: { vmcs: { VM_ENTRY_MSR_LOAD_ADDR: MAXPHYS - 16n } },
    fail: { vmcs: { VM_ENTRY_MSR_LOAD_ADDR: MAXPHYS } },
  },
  {
    id: "ctl.entry.msr-load-area-end-width",
    setup: { vmcs: { VM_ENTRY_MSR_LOAD_ADDR: MAXPHYS - 16n } },
    pass: { vmcs: { VM_ENTRY_MSR_LOAD_COUNT: 1 } },
    fail: { vmcs: { VM_ENTRY_MSR_LOAD_COUNT: 2 } },
  },
  {
    id: "ctl.entry.msr-load-area-end-width",
    name: "IA32_VMX_BASIC[48] (32-bit physical addresses): an area ending at 0xffffffff holds, one crossing 4 GiB fails",
    cpu: (d) => {
      d.msrs.IA32_VMX_BASIC = "0x4db100000000004";
    },
    // such a processor has no Intel 64: a 32-bit host and guest (test/vectors/host.ts)
    setup: { ...SETUP_32, vmcs: { ...SETUP_32.vmcs, VM_ENTRY_MSR_LOAD_ADDR: 0xfffffff0 } },
    pass: { vmcs: { VM_ENTRY_MSR_LOAD_COUNT: 1 } },
    fail: { vmcs: { VM_ENTRY_MSR_LOAD_COUNT: 2 } },
  },
  // SMM-related entry controls (N17–N19)
  {
    id: "ctl.entry.smm-outside-smm",
    fail: { vmcs: { VM_ENTRY_CONTROLS: (old) => old | (1n << 10n) } },
    // "entry to SMM" also requires blocking by SMI, which must be 0 outside SMM (SDM 29.3.1.5).
    alsoFails: ["guest.intr.smm-entry-smi"],
    outcome: { type: "vmfail-valid", error: 7 },
  },
  {
    id: "ctl.entry.deactivate-dual-monitor-outside-smm",
    fail: { vmcs: { VM_ENTRY_CONTROLS: (old) => old | (1n << 11n) } },
  },
  {
    id: "ctl.entry.smm-and-deactivate",
    setup: { processor: { inSmm: true, dualMonitorActive: true }, vmcs: { GUEST_INTERRUPTIBILITY_INFO: 4 } },
    pass: { vmcs: { VM_ENTRY_CONTROLS: (old) => old | (1n << 10n) } },
    fail: { vmcs: { VM_ENTRY_CONTROLS: (old) => old | (3n << 10n) } },
  },
];

const smmCases: CheckCase[] = [
  {
    id: "smm.executive-vmcs-ptr-aligned",
    setup: SMM_RETURN,
    pass: { vmcs: { EXECUTIVE_VMCS_POINTER: 0x40000 } },
    fail: { vmcs: { EXECUTIVE_VMCS_POINTER: 0x40800 } },
    outcome: { type: "vmfail-valid", error: 16 },
  },
  {
    id: "smm.executive-vmcs-ptr-width",
    setup: SMM_RETURN,
    fail: { vmcs: { EXECUTIVE_VMCS_POINTER: MAXPHYS } },
    outcome: { type: "vmfail-valid", error: 16 },
  },
  {
    id: "smm.executive-vmcs-revision",
    setup: SMM_RETURN,
    pass: { memory: { 262144: 4n } },
    fail: { memory: { 262144: 5n } },
    outcome: { type: "vmfail-valid", error: 16 },
  },
  {
    id: "smm.executive-vmcs-revision",
    name: "shadow-VMCS indicator set",
    setup: SMM_RETURN,
    fail: { memory: { 262144: 0x80000004n } },
  },
  {
    id: "smm.executive-vmcs-revision",
    name: "not checked outside SMM or with entry to SMM",
    setup: { ...SMM_RETURN, memory: { 262144: 0n } },
    inapplicable: {
      processor: { inSmm: true },
      vmcs: { VM_ENTRY_CONTROLS: (old) => old | (1n << 10n), GUEST_INTERRUPTIBILITY_INFO: 4 },
    },
    fail: {},
  },
  {
    id: "smm.executive-vmcs-launched",
    setup: SMM_RETURN,
    pass: { processor: { executiveVmcsLaunchState: "launched" } },
    fail: { processor: { executiveVmcsLaunchState: "clear" } },
    outcome: { type: "vmfail-valid", error: 17 },
  },
  {
    id: "smm.executive-vmcs-launched",
    name: "a return to VMX root operation needs no launched executive VMCS",
    setup: { ...SMM_RETURN, processor: { ...SMM_RETURN.processor, executiveVmcsLaunchState: "clear" } },
    pass: { processor: { vmxonPointer: 0x40000 } },
    fail: {},
  },
  {
    id: "smm.deactivate-needs-vmxon-ptr",
    setup: { ...SMM_RETURN, vmcs: { ...SMM_RETURN.vmcs, VM_ENTRY_CONTROLS: (old) => old | (1n << 11n) } },
    pass: { processor: { vmxonPointer: 0x40000 } },
    fail: {},
    outcome: { type: "vmfail-valid", error: 18 },
  },
  {
    id: "smm.root-return-event",
    setup: SMM_RETURN_ROOT,
    pass: info(7, 0),
    fail: info(3, 6),
    outcome: { type: "vmfail-valid", error: 7 },
  },
  {
    id: "smm.root-return-event",
    name: "other event with vector 1",
    setup: SMM_RETURN_ROOT,
    pass: info(7, 0),
    fail: { vmcs: { ...FRED_GUEST.vmcs, VM_ENTRY_INTR_INFO_FIELD: ev(7, 1), VM_ENTRY_INSTRUCTION_LEN: 2 } },
  },
  {
    id: "smm.root-return-not-wait-for-sipi",
    setup: SMM_RETURN_ROOT,
    pass: { vmcs: { GUEST_ACTIVITY_STATE: 1 } },
    fail: { vmcs: { GUEST_ACTIVITY_STATE: 3 } },
    outcome: { type: "vmexit", reason: 33, qualification: 0 },
  },
];

const msrCases: CheckCase[] = [
  {
    id: "msr-load.fs-gs-base",
    pass: msrs(...pre, [0xc0000102, 0xffff888000000000n]),
    fail: msrs(...pre, [0xc0000100, 0x7f0000000000n]),
    outcome: x34(3),
  },
  {
    id: "msr-load.fs-gs-base",
    name: "IA32_GS_BASE first",
    pass: msrs([0xc0000102, 0n], ...pre),
    fail: msrs([0xc0000101, 0n], ...pre),
    outcome: x34(1),
  },
  {
    id: "msr-load.x2apic-msr",
    pass: msrs(...pre, [0x900, 0n]),
    fail: msrs(...pre, [0x808, 0n]),
    outcome: x34(3),
  },
  { id: "msr-load.x2apic-msr", name: "0x8ff (upper end)", pass: msrs([0x7ff, 0n]), fail: msrs([0x8ff, 0n]) },
  {
    id: "msr-load.x2apic-msr",
    name: "0x800 (lower end)",
    pass: msrs([0x7ff, 0n]),
    fail: msrs([0x800, 0n]),
    outcome: x34(1),
  },
  {
    id: "msr-load.smm-only-msr",
    pass: { ...msrs(...pre, [0x9b, 0n]), processor: { inSmm: true } },
    fail: msrs(...pre, [0x9b, 0n]),
    outcome: x34(3),
  },
  {
    id: "msr-load.reserved-bits",
    pass: msrs(...pre, [0x174, 0x10n, 0]),
    fail: msrs(...pre, [0x174, 0x10n, 1]),
    outcome: x34(3),
  },
  {
    id: "msr-load.reserved-bits",
    name: "bit 63",
    pass: msrs([0x174, 0x10n, 0]),
    fail: msrs([0x174, 0x10n, 0x80000000]),
    outcome: x34(1),
  },
  {
    id: "msr-load.value-reserved-bits",
    name: "IA32_EFER bit 1",
    pass: msrs([PAT, LINUX_PAT], [0x174, 0x10n], [EFER, 0xd01n]),
    fail: msrs([PAT, LINUX_PAT], [0x174, 0x10n], [EFER, 0xd03n]),
    outcome: x34(3),
  },
  {
    id: "msr-load.value-reserved-bits",
    name: "IA32_EFER bit 32",
    pass: msrs([EFER, 0xd01n]),
    fail: msrs([EFER, 0x100000d01n]),
  },
  {
    id: "msr-load.value-reserved-bits",
    name: "IA32_DEBUGCTL bit 16",
    pass: msrs([0x1d9, 1n]),
    fail: msrs([0x1d9, 0x10000n]),
  },
  {
    id: "msr-load.value-reserved-bits",
    name: "IA32_SPEC_CTRL bit 11",
    pass: msrs([0x48, 1n]),
    fail: msrs([0x48, 0x800n]),
  },
  {
    id: "msr-load.value-reserved-bits",
    name: "IA32_PERF_GLOBAL_CTRL bit 36",
    pass: msrs([0x38f, 0xf000000ffn]),
    fail: msrs([0x38f, 0x10000000ffn]),
  },
  {
    id: "msr-load.unavailable-msr",
    name: "IA32_ARCH_CAPABILITIES (10AH) is read-only",
    pass: msrs(...pre, [0x48, 1n]),
    fail: msrs(...pre, [0x10a, 0n]),
    outcome: x34(3),
  },
  {
    id: "msr-load.unavailable-msr",
    name: "IA32_BNDCFGS (D90H) without MPX (CPUID.(7,0):EBX[14] = 0)",
    cpu: (d) => {
      d.cpuid = {
        ...d.cpuid,
        "0x7.0": { eax: "0x2", ebx: "0xf3bfbffb", ecx: "0xbb417fee", edx: "0xffdd4430" },
      };
    },
    pass: msrs([0xc0000103, 1n]),
    fail: msrs([0xd90, 0n]),
    outcome: x34(1),
  },
  {
    id: "msr-load.pat-memory-type",
    pass: msrs(...pre, [PAT, LINUX_PAT]),
    fail: msrs(...pre, [PAT, 0x0007040600070402n]),
    outcome: x34(3),
  },
  {
    id: "msr-load.pat-memory-type",
    name: "type 8 in byte 7",
    pass: msrs([PAT, 0x0707040600070406n]),
    fail: msrs([PAT, 0x0807040600070406n]),
  },
  {
    id: "msr-load.pat-memory-type",
    name: "type 3 in byte 4",
    pass: msrs([PAT, 0x0007040100070406n]),
    fail: msrs([PAT, 0x0007040300070406n]),
  },
  {
    id: "msr-load.non-canonical-address",
    pass: msrs(...pre, [LSTAR, 0x00007fffffffffffn]),
    fail: msrs(...pre, [LSTAR, 0x0000800000000000n]),
    outcome: x34(3),
  },
  {
    id: "msr-load.non-canonical-address",
    name: "IA32_SYSENTER_EIP, upper half",
    pass: msrs([0x176, 0xffff800000000000n]),
    fail: msrs([0x176, 0xfffe800000000000n]),
  },
  {
    id: "msr-load.non-canonical-address",
    name: "IA32_CSTAR (hardware checks it although the SDM's WRMSR list omits it)",
    pass: msrs([0xc0000083, 0xffff800000001000n]),
    fail: msrs([0xc0000083, 0x0000800000001000n]),
    outcome: x34(1),
  },
  {
    id: "msr-load.smbase-read-only",
    pass: msrs(...pre, [0x174, 0x10n]),
    fail: msrs(...pre, [0x9e, 0x30000n]),
    outcome: x34(3),
  },
  {
    id: "msr-load.efer-lme-with-paging",
    pass: msrs([PAT, LINUX_PAT], [0x174, 0x10n], [EFER, 0xd01n]),
    fail: msrs([PAT, LINUX_PAT], [0x174, 0x10n], [EFER, 0xc01n]),
    outcome: x34(3),
  },
  {
    id: "msr-load.efer-lme-with-paging",
    name: "without load IA32_EFER the IA-32e mode guest control gives LME",
    setup: { vmcs: { VM_ENTRY_CONTROLS: (old) => old & ~(1n << 15n) } },
    pass: msrs([EFER, 0x501n]),
    fail: msrs([EFER, 0x1n]),
    outcome: x34(1),
  },
  {
    id: "msr-load.fs-gs-base",
    name: "the first failing entry decides the qualification across rules",
    pass: msrs([EFER, 0xd01n], [0x80f0, 0n], [0xc0000102, 0n]),
    fail: msrs([EFER, 0xd01n], [0x808, 0n], [0xc0000100, 0n]),
    alsoFails: ["msr-load.x2apic-msr"],
    outcome: x34(2),
  },
  {
    id: "msr-load.x2apic-msr",
    name: "maximum count: only the recommended maximum (512) of entries is examined",
    setup: { vmcs: { VM_ENTRY_MSR_LOAD_ADDR: AREA, VM_ENTRY_MSR_LOAD_COUNT: 0xffffffff } },
    pass: { memory: { [AREA + 16 * 512]: 0x808n } },
    fail: { memory: { [AREA + 16 * 511]: 0x808n } },
    outcome: x34(512),
  },
];

/** One table per check module (src/checks/<module>.ts): the vectors of its checks. */
export const tables: VectorTables = {
  "exit-controls": exitCases,
  "entry-controls": entryCases,
  smm: smmCases,
  "msr-load": msrCases,
};
