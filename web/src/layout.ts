/**
 * How the playground lays out the VMCS: the way the SDM describes it (Vol. 3 25.3 "Organization of VMCS
 * Data"): guest-state area, host-state area, VM-execution, VM-exit and VM-entry control fields. The
 * read-only VM-exit information fields are left out: VM entry does not read them.
 *
 * Every writable field of src/arch/fields.ts appears exactly once: fields no group names land in the
 * "Other" group of their area, so a field added to the table shows up without touching this file.
 */
import type { ControlWord } from "../../src/arch/controls.js";
import { FIELDS, type FieldDef } from "../../src/arch/fields.js";

export interface FieldGroup {
  title: string;
  /** SDM section describing these fields. */
  sdm?: string;
  /** "segments": a table of selector/base/limit/access rights per register. */
  kind?: "fields" | "segments";
  fields: readonly string[];
}

export interface Area {
  id: string;
  title: string;
  sdm: string;
  /** One sentence for a person learning VMX. */
  about: string;
  groups: FieldGroup[];
}

/** Control words whose bits the page shows as named toggles (src/arch/controls.ts names the bits). */
export const CONTROL_WORD_OF: Readonly<Record<string, ControlWord>> = {
  PIN_BASED_VM_EXEC_CONTROL: "pin",
  CPU_BASED_VM_EXEC_CONTROL: "proc",
  SECONDARY_VM_EXEC_CONTROL: "proc2",
  TERTIARY_VM_EXEC_CONTROL: "proc3",
  VM_EXIT_CONTROLS: "exit",
  SECONDARY_VM_EXIT_CONTROLS: "exit2",
  VM_ENTRY_CONTROLS: "entry",
};

const SEGMENTS = ["ES", "CS", "SS", "DS", "FS", "GS", "LDTR", "TR"] as const;
const seg = (kind: string) => SEGMENTS.map((s) => `GUEST_${s}_${kind}`);
const named = (prefix: string) => FIELDS.filter((f) => f.name.startsWith(prefix)).map((f) => f.name);
const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

const EXEC: FieldGroup[] = [
  {
    title: "Execution control words",
    sdm: "25.6.1–25.6.2",
    fields: [
      "PIN_BASED_VM_EXEC_CONTROL",
      "CPU_BASED_VM_EXEC_CONTROL",
      "SECONDARY_VM_EXEC_CONTROL",
      "TERTIARY_VM_EXEC_CONTROL",
    ],
  },
  {
    title: "Exceptions",
    sdm: "25.6.3",
    fields: ["EXCEPTION_BITMAP", "PAGE_FAULT_ERROR_CODE_MASK", "PAGE_FAULT_ERROR_CODE_MATCH"],
  },
  {
    title: "I/O and MSR bitmaps",
    sdm: "25.6.4, 25.6.9",
    fields: ["IO_BITMAP_A", "IO_BITMAP_B", "MSR_BITMAP"],
  },
  { title: "Time-stamp counter", sdm: "25.6.5", fields: ["TSC_OFFSET", "TSC_MULTIPLIER"] },
  {
    title: "Control-register masks, shadows and CR3 targets",
    sdm: "25.6.6–25.6.7",
    fields: [
      "CR0_GUEST_HOST_MASK",
      "CR0_READ_SHADOW",
      "CR4_GUEST_HOST_MASK",
      "CR4_READ_SHADOW",
      "CR3_TARGET_COUNT",
      ...range("CR3_TARGET_VALUE", 4),
    ],
  },
  {
    title: "APIC virtualization and posted interrupts",
    sdm: "25.6.8",
    fields: [
      "VIRTUAL_APIC_PAGE_ADDR",
      "APIC_ACCESS_ADDR",
      "TPR_THRESHOLD",
      ...range("EOI_EXIT_BITMAP", 4),
      "POSTED_INTR_NV",
      "POSTED_INTR_DESC_ADDR",
      "PID_POINTER_TABLE",
      "LAST_PID_POINTER_INDEX",
    ],
  },
  {
    title: "Address translation: VPID, EPT, PML",
    sdm: "25.6.11–25.6.12",
    fields: ["VIRTUAL_PROCESSOR_ID", "EPT_POINTER", "PML_ADDRESS", "HLAT_POINTER", "HLAT_PREFIX_SIZE"],
  },
  {
    title: "VM functions, VMCS shadowing, #VE",
    sdm: "25.6.14–25.6.16",
    fields: [
      "VM_FUNCTION_CONTROL",
      "EPTP_LIST_ADDRESS",
      "VMREAD_BITMAP",
      "VMWRITE_BITMAP",
      "VE_INFORMATION_ADDRESS",
      "EPTP_INDEX",
    ],
  },
];

const EXIT: FieldGroup[] = [
  {
    title: "VM-exit control words",
    sdm: "25.7.1",
    fields: ["VM_EXIT_CONTROLS", "SECONDARY_VM_EXIT_CONTROLS"],
  },
  {
    title: "VM-exit MSR lists",
    sdm: "25.7.2",
    fields: [
      "VM_EXIT_MSR_STORE_COUNT",
      "VM_EXIT_MSR_STORE_ADDR",
      "VM_EXIT_MSR_LOAD_COUNT",
      "VM_EXIT_MSR_LOAD_ADDR",
    ],
  },
];

const ENTRY: FieldGroup[] = [
  { title: "VM-entry control word", sdm: "25.8.1", fields: ["VM_ENTRY_CONTROLS"] },
  {
    title: "VM-entry MSR-load list",
    sdm: "25.8.2",
    fields: ["VM_ENTRY_MSR_LOAD_COUNT", "VM_ENTRY_MSR_LOAD_ADDR"],
  },
  {
    title: "Event injection",
    sdm: "25.8.3",
    fields: [
      "VM_ENTRY_INTR_INFO_FIELD",
      "VM_ENTRY_EXCEPTION_ERROR_CODE",
      "VM_ENTRY_INSTRUCTION_LEN",
      "INJECTED_EVENT_DATA",
    ],
  },
];

const GUEST: FieldGroup[] = [
  {
    title: "Control and debug registers, RSP, RIP, RFLAGS, SSP",
    sdm: "25.4.1",
    fields: [
      "GUEST_CR0",
      "GUEST_CR3",
      "GUEST_CR4",
      "GUEST_DR7",
      "GUEST_RSP",
      "GUEST_RIP",
      "GUEST_RFLAGS",
      "GUEST_SSP",
    ],
  },
  {
    title: "Segment and descriptor-table registers",
    sdm: "25.4.1",
    kind: "segments",
    fields: [
      ...seg("SELECTOR"),
      ...seg("BASE"),
      ...seg("LIMIT"),
      ...seg("AR_BYTES"),
      "GUEST_GDTR_BASE",
      "GUEST_GDTR_LIMIT",
      "GUEST_IDTR_BASE",
      "GUEST_IDTR_LIMIT",
    ],
  },
  {
    title: "MSRs",
    sdm: "25.4.1",
    fields: [
      "GUEST_IA32_DEBUGCTL",
      "GUEST_SYSENTER_CS",
      "GUEST_SYSENTER_ESP",
      "GUEST_SYSENTER_EIP",
      "GUEST_IA32_PERF_GLOBAL_CTRL",
      "GUEST_IA32_PAT",
      "GUEST_IA32_EFER",
      "GUEST_BNDCFGS",
      "GUEST_IA32_RTIT_CTL",
      "GUEST_IA32_LBR_CTL",
      "GUEST_S_CET",
      "GUEST_INTR_SSP_TABLE",
      "GUEST_IA32_PKRS",
      "GUEST_IA32_SPEC_CTRL",
      ...named("GUEST_IA32_FRED_"),
      "GUEST_SMBASE",
    ],
  },
  {
    title: "Non-register state",
    sdm: "25.4.2",
    fields: [
      "GUEST_ACTIVITY_STATE",
      "GUEST_INTERRUPTIBILITY_INFO",
      "GUEST_PENDING_DBG_EXCEPTIONS",
      "VMCS_LINK_POINTER",
      "VMX_PREEMPTION_TIMER_VALUE",
      ...range("GUEST_PDPTR", 4),
      "GUEST_INTR_STATUS",
      "GUEST_PML_INDEX",
      "GUEST_UINV",
    ],
  },
];

const HOST: FieldGroup[] = [
  {
    title: "Control registers, RSP, RIP, SSP",
    sdm: "25.5",
    fields: ["HOST_CR0", "HOST_CR3", "HOST_CR4", "HOST_RSP", "HOST_RIP", "HOST_SSP"],
  },
  {
    title: "Segment selectors and base addresses",
    sdm: "25.5",
    fields: [
      "HOST_ES_SELECTOR",
      "HOST_CS_SELECTOR",
      "HOST_SS_SELECTOR",
      "HOST_DS_SELECTOR",
      "HOST_FS_SELECTOR",
      "HOST_GS_SELECTOR",
      "HOST_TR_SELECTOR",
      "HOST_FS_BASE",
      "HOST_GS_BASE",
      "HOST_TR_BASE",
      "HOST_GDTR_BASE",
      "HOST_IDTR_BASE",
    ],
  },
  {
    title: "MSRs",
    sdm: "25.5",
    fields: [
      "HOST_IA32_SYSENTER_CS",
      "HOST_IA32_SYSENTER_ESP",
      "HOST_IA32_SYSENTER_EIP",
      "HOST_IA32_PERF_GLOBAL_CTRL",
      "HOST_IA32_PAT",
      "HOST_IA32_EFER",
      "HOST_S_CET",
      "HOST_INTR_SSP_TABLE",
      "HOST_IA32_PKRS",
      "HOST_IA32_SPEC_CTRL",
      ...named("HOST_IA32_FRED_"),
    ],
  },
];

const EXIT_FIELDS = new Set(EXIT.flatMap((g) => g.fields));
const ENTRY_FIELDS = new Set(ENTRY.flatMap((g) => g.fields));

function withOther(groups: FieldGroup[], belongs: (f: FieldDef) => boolean): FieldGroup[] {
  const named = new Set(groups.flatMap((g) => g.fields));
  const rest = FIELDS.filter((f) => belongs(f) && !named.has(f.name)).map((f) => f.name);
  return rest.length ? [...groups, { title: "Other fields", fields: rest }] : groups;
}

const isControl = (f: FieldDef) => f.type === "control";

/** The VMCS as the page shows it: controls first (they decide which guest/host checks apply), then state. */
export const AREAS: readonly Area[] = [
  {
    id: "exec",
    title: "VM-execution control fields",
    sdm: "25.6",
    about: "What the guest may do without a VM exit, and which virtualization features are on.",
    groups: withOther(EXEC, (f) => isControl(f) && !EXIT_FIELDS.has(f.name) && !ENTRY_FIELDS.has(f.name)),
  },
  {
    id: "exit",
    title: "VM-exit control fields",
    sdm: "25.7",
    about: "What the processor saves and loads when the guest exits back to the host.",
    groups: EXIT,
  },
  {
    id: "entry",
    title: "VM-entry control fields",
    sdm: "25.8",
    about: "What VM entry loads, and the event it injects into the guest.",
    groups: ENTRY,
  },
  {
    id: "guest",
    title: "Guest-state area",
    sdm: "25.4",
    about: "The processor state VM entry loads: VM entry fails with exit reason 33 when it is invalid.",
    groups: withOther(GUEST, (f) => f.type === "guest"),
  },
  {
    id: "host",
    title: "Host-state area",
    sdm: "25.5",
    about: "The state every VM exit loads: VM entry fails with VM-instruction error 8 when it is invalid.",
    groups: withOther(HOST, (f) => f.type === "host"),
  },
];

/** The segment registers of the guest segment table, in the SDM's order. */
export const GUEST_SEGMENTS: readonly string[] = [...SEGMENTS, "GDTR", "IDTR"];

/** Area and group of a field, to open the right section before scrolling to it. */
export function areaOf(name: string): Area | undefined {
  return AREAS.find((a) => a.groups.some((g) => g.fields.includes(name)));
}
