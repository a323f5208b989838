import type { ENTRY } from "./controls.js";

/**
 * VMCS fields of the current SDM (Vol. 3, Appendix B "Field Encoding in VMCS"), named as Linux KVM's
 * `enum vmcs_field` spells them. Width and type are not stored: they are bits 14:13 and 11:10 of the
 * encoding (SDM 25.11.2 "VMREAD, VMWRITE, and Encodings of VMCS Fields"), so they cannot disagree.
 */

export type FieldWidth = 16 | 32 | 64 | "natural";
export type FieldType = "control" | "read-only" | "guest" | "host";

export interface FieldDef {
  /** KVM `enum vmcs_field` name. */
  readonly name: string;
  /** Encoding of the full field (access type bit 0 clear). */
  readonly encoding: number;
  readonly width: FieldWidth;
  readonly type: FieldType;
  /** Slot index in the VMCS store (dense, in table order). */
  readonly index: number;
  /** Other accepted spellings (SDM prose name, Bochs, ia32-doc, kvm-unit-tests, vmcs12 member). */
  readonly aliases: readonly string[];
  /** Feature the field belongs to (for documentation and `caps show`). */
  readonly feature?: string;
  /**
   * Guest-state fields that VM entry loads only when a VM-entry control says so (SDM 28.3.2.1 "Loading
   * Guest Control Registers, Debug Registers, and MSRs"): the name of that control in `ENTRY`. Fields without
   * it are loaded on every VM entry. The nested model's merge derives its guest-field tables from this.
   */
  readonly loadedBy?: EntryLoadControl;
}

/** A VM-entry control that makes VM entry load guest-state fields (a key of `ENTRY`). */
export type EntryLoadControl = keyof typeof ENTRY;

/** [KVM name, encoding, SDM prose name, extra aliases?, feature?] */
type Row = readonly [string, number, string, (readonly string[])?, string?];

const SEG = ["ES", "CS", "SS", "DS", "FS", "GS", "LDTR", "TR"] as const;

type Seg = (typeof SEG)[number];

/** Rows of one field per segment register; the names keep their literal types (`FieldName` below). */
function segRows<N extends string, S extends Seg = Seg>(
  base: number,
  fmt: (s: S) => N,
  sdm: (s: S) => string,
  list: readonly S[] = SEG as readonly Seg[] as readonly S[],
): readonly (readonly [N, number, string])[] {
  return list.map((s, i) => [fmt(s), base + 2 * i, sdm(s)] as const);
}

const ROWS = [
  // 16-bit control fields (B.1.1)
  ["VIRTUAL_PROCESSOR_ID", 0x0000, "virtual-processor identifier (VPID)", ["VPID"]],
  ["POSTED_INTR_NV", 0x0002, "posted-interrupt notification vector", ["POSTED_INTR_NOTIFICATION_VECTOR"]],
  ["EPTP_INDEX", 0x0004, "EPTP index", [], "ve"],
  ["HLAT_PREFIX_SIZE", 0x0006, "HLAT prefix size", [], "hlat"],
  ["LAST_PID_POINTER_INDEX", 0x0008, "last PID-pointer index", [], "ipiv"],
  // 16-bit guest-state fields (B.1.2)
  ...segRows(
    0x0800,
    (s) => `GUEST_${s}_SELECTOR` as const,
    (s) => `guest ${s} selector`,
  ),
  ["GUEST_INTR_STATUS", 0x0810, "guest interrupt status"],
  ["GUEST_PML_INDEX", 0x0812, "PML index"],
  ["GUEST_UINV", 0x0814, "guest UINV", [], "uintr"],
  // 16-bit host-state fields (B.1.3)
  ...segRows(
    0x0c00,
    (s) => `HOST_${s}_SELECTOR` as const,
    (s) => `host ${s} selector`,
    ["ES", "CS", "SS", "DS", "FS", "GS", "TR"] as const,
  ),
  // 64-bit control fields (B.2.1)
  ["IO_BITMAP_A", 0x2000, "address of I/O bitmap A"],
  ["IO_BITMAP_B", 0x2002, "address of I/O bitmap B"],
  ["MSR_BITMAP", 0x2004, "address of MSR bitmaps"],
  ["VM_EXIT_MSR_STORE_ADDR", 0x2006, "VM-exit MSR-store address"],
  ["VM_EXIT_MSR_LOAD_ADDR", 0x2008, "VM-exit MSR-load address"],
  ["VM_ENTRY_MSR_LOAD_ADDR", 0x200a, "VM-entry MSR-load address"],
  ["EXECUTIVE_VMCS_POINTER", 0x200c, "executive-VMCS pointer"],
  ["PML_ADDRESS", 0x200e, "PML address"],
  ["TSC_OFFSET", 0x2010, "TSC offset"],
  ["VIRTUAL_APIC_PAGE_ADDR", 0x2012, "virtual-APIC address"],
  ["APIC_ACCESS_ADDR", 0x2014, "APIC-access address"],
  ["POSTED_INTR_DESC_ADDR", 0x2016, "posted-interrupt descriptor address"],
  ["VM_FUNCTION_CONTROL", 0x2018, "VM-function controls"],
  ["EPT_POINTER", 0x201a, "EPT pointer (EPTP)", ["EPTP"]],
  ["EOI_EXIT_BITMAP0", 0x201c, "EOI-exit bitmap 0"],
  ["EOI_EXIT_BITMAP1", 0x201e, "EOI-exit bitmap 1"],
  ["EOI_EXIT_BITMAP2", 0x2020, "EOI-exit bitmap 2"],
  ["EOI_EXIT_BITMAP3", 0x2022, "EOI-exit bitmap 3"],
  ["EPTP_LIST_ADDRESS", 0x2024, "EPTP-list address"],
  ["VMREAD_BITMAP", 0x2026, "VMREAD-bitmap address"],
  ["VMWRITE_BITMAP", 0x2028, "VMWRITE-bitmap address"],
  ["VE_INFORMATION_ADDRESS", 0x202a, "virtualization-exception information address"],
  ["XSS_EXIT_BITMAP", 0x202c, "XSS-exiting bitmap"],
  ["ENCLS_EXITING_BITMAP", 0x202e, "ENCLS-exiting bitmap"],
  ["SPP_TABLE_POINTER", 0x2030, "sub-page-permission-table pointer (SPPTP)", ["SPPTP"], "spp"],
  ["TSC_MULTIPLIER", 0x2032, "TSC multiplier"],
  ["TERTIARY_VM_EXEC_CONTROL", 0x2034, "tertiary processor-based VM-execution controls"],
  ["ENCLV_EXITING_BITMAP", 0x2036, "ENCLV-exiting bitmap"],
  ["LOW_PASID_DIRECTORY", 0x2038, "low PASID directory address", [], "uintr"],
  ["HIGH_PASID_DIRECTORY", 0x203a, "high PASID directory address", [], "uintr"],
  ["SHARED_EPT_POINTER", 0x203c, "shared EPT pointer", [], "tdx"],
  ["PCONFIG_EXITING_BITMAP", 0x203e, "PCONFIG-exiting bitmap"],
  [
    "HLAT_POINTER",
    0x2040,
    "hypervisor-managed linear-address translation pointer (HLATP)",
    ["HLATP"],
    "hlat",
  ],
  ["PID_POINTER_TABLE", 0x2042, "PID-pointer table address", [], "ipiv"],
  ["SECONDARY_VM_EXIT_CONTROLS", 0x2044, "secondary VM-exit controls"],
  ["IA32_SPEC_CTRL_MASK", 0x204a, "IA32_SPEC_CTRL mask", [], "spec_ctrl"],
  ["IA32_SPEC_CTRL_SHADOW", 0x204c, "IA32_SPEC_CTRL shadow", [], "spec_ctrl"],
  ["GUEST_DEADLINE_SHADOW", 0x204e, "virtual timer deadline shadow", [], "apic_timer_virt"],
  ["INJECTED_EVENT_DATA", 0x2052, "injected-event data", [], "fred"],
  // 64-bit read-only data fields (B.2.2)
  ["GUEST_PHYSICAL_ADDRESS", 0x2400, "guest-physical address"],
  ["MSR_DATA", 0x2402, "MSR data", [], "msrlist"],
  ["ORIGINAL_EVENT_DATA", 0x2404, "original-event data", [], "fred"],
  // 64-bit guest-state fields (B.2.3)
  ["VMCS_LINK_POINTER", 0x2800, "VMCS link pointer"],
  ["GUEST_IA32_DEBUGCTL", 0x2802, "guest IA32_DEBUGCTL"],
  ["GUEST_IA32_PAT", 0x2804, "guest IA32_PAT"],
  ["GUEST_IA32_EFER", 0x2806, "guest IA32_EFER"],
  ["GUEST_IA32_PERF_GLOBAL_CTRL", 0x2808, "guest IA32_PERF_GLOBAL_CTRL"],
  ["GUEST_PDPTR0", 0x280a, "guest PDPTE0", ["GUEST_PDPTE0"]],
  ["GUEST_PDPTR1", 0x280c, "guest PDPTE1", ["GUEST_PDPTE1"]],
  ["GUEST_PDPTR2", 0x280e, "guest PDPTE2", ["GUEST_PDPTE2"]],
  ["GUEST_PDPTR3", 0x2810, "guest PDPTE3", ["GUEST_PDPTE3"]],
  ["GUEST_BNDCFGS", 0x2812, "guest IA32_BNDCFGS", ["GUEST_IA32_BNDCFGS"], "mpx"],
  ["GUEST_IA32_RTIT_CTL", 0x2814, "guest IA32_RTIT_CTL", [], "intel_pt"],
  ["GUEST_IA32_LBR_CTL", 0x2816, "guest IA32_LBR_CTL", [], "arch_lbr"],
  ["GUEST_IA32_PKRS", 0x2818, "guest IA32_PKRS", [], "pks"],
  ["GUEST_IA32_FRED_CONFIG", 0x281a, "guest IA32_FRED_CONFIG", [], "fred"],
  ["GUEST_IA32_FRED_RSP1", 0x281c, "guest IA32_FRED_RSP1", [], "fred"],
  ["GUEST_IA32_FRED_RSP2", 0x281e, "guest IA32_FRED_RSP2", [], "fred"],
  ["GUEST_IA32_FRED_RSP3", 0x2820, "guest IA32_FRED_RSP3", [], "fred"],
  ["GUEST_IA32_FRED_STKLVLS", 0x2822, "guest IA32_FRED_STKLVLS", [], "fred"],
  ["GUEST_IA32_FRED_SSP1", 0x2824, "guest IA32_FRED_SSP1", [], "fred"],
  ["GUEST_IA32_FRED_SSP2", 0x2826, "guest IA32_FRED_SSP2", [], "fred"],
  ["GUEST_IA32_FRED_SSP3", 0x2828, "guest IA32_FRED_SSP3", [], "fred"],
  ["GUEST_IA32_SPEC_CTRL", 0x282e, "guest IA32_SPEC_CTRL", [], "spec_ctrl"],
  ["GUEST_DEADLINE_PHYS", 0x2830, "guest deadline (physical)", [], "apic_timer_virt"],
  // 64-bit host-state fields (B.2.4)
  ["HOST_IA32_PAT", 0x2c00, "host IA32_PAT"],
  ["HOST_IA32_EFER", 0x2c02, "host IA32_EFER"],
  ["HOST_IA32_PERF_GLOBAL_CTRL", 0x2c04, "host IA32_PERF_GLOBAL_CTRL"],
  ["HOST_IA32_PKRS", 0x2c06, "host IA32_PKRS", [], "pks"],
  ["HOST_IA32_FRED_CONFIG", 0x2c08, "host IA32_FRED_CONFIG", [], "fred"],
  ["HOST_IA32_FRED_RSP1", 0x2c0a, "host IA32_FRED_RSP1", [], "fred"],
  ["HOST_IA32_FRED_RSP2", 0x2c0c, "host IA32_FRED_RSP2", [], "fred"],
  ["HOST_IA32_FRED_RSP3", 0x2c0e, "host IA32_FRED_RSP3", [], "fred"],
  ["HOST_IA32_FRED_STKLVLS", 0x2c10, "host IA32_FRED_STKLVLS", [], "fred"],
  ["HOST_IA32_FRED_SSP1", 0x2c12, "host IA32_FRED_SSP1", [], "fred"],
  ["HOST_IA32_FRED_SSP2", 0x2c14, "host IA32_FRED_SSP2", [], "fred"],
  ["HOST_IA32_FRED_SSP3", 0x2c16, "host IA32_FRED_SSP3", [], "fred"],
  ["HOST_IA32_SPEC_CTRL", 0x2c1a, "host IA32_SPEC_CTRL", [], "spec_ctrl"],
  // 32-bit control fields (B.3.1)
  ["PIN_BASED_VM_EXEC_CONTROL", 0x4000, "pin-based VM-execution controls"],
  ["CPU_BASED_VM_EXEC_CONTROL", 0x4002, "primary processor-based VM-execution controls"],
  ["EXCEPTION_BITMAP", 0x4004, "exception bitmap"],
  ["PAGE_FAULT_ERROR_CODE_MASK", 0x4006, "page-fault error-code mask"],
  ["PAGE_FAULT_ERROR_CODE_MATCH", 0x4008, "page-fault error-code match"],
  ["CR3_TARGET_COUNT", 0x400a, "CR3-target count"],
  ["VM_EXIT_CONTROLS", 0x400c, "primary VM-exit controls"],
  ["VM_EXIT_MSR_STORE_COUNT", 0x400e, "VM-exit MSR-store count"],
  ["VM_EXIT_MSR_LOAD_COUNT", 0x4010, "VM-exit MSR-load count"],
  ["VM_ENTRY_CONTROLS", 0x4012, "VM-entry controls"],
  ["VM_ENTRY_MSR_LOAD_COUNT", 0x4014, "VM-entry MSR-load count"],
  [
    "VM_ENTRY_INTR_INFO_FIELD",
    0x4016,
    "VM-entry interruption-information field (injected-event identification)",
    ["VM_ENTRY_INTR_INFO"],
  ],
  ["VM_ENTRY_EXCEPTION_ERROR_CODE", 0x4018, "VM-entry exception error code"],
  ["VM_ENTRY_INSTRUCTION_LEN", 0x401a, "VM-entry instruction length"],
  ["TPR_THRESHOLD", 0x401c, "TPR threshold"],
  ["SECONDARY_VM_EXEC_CONTROL", 0x401e, "secondary processor-based VM-execution controls"],
  ["PLE_GAP", 0x4020, "PLE_Gap"],
  ["PLE_WINDOW", 0x4022, "PLE_Window"],
  ["NOTIFY_WINDOW", 0x4024, "instruction-timeout control"],
  // 32-bit read-only data fields (B.3.2)
  ["VM_INSTRUCTION_ERROR", 0x4400, "VM-instruction error"],
  ["VM_EXIT_REASON", 0x4402, "exit reason"],
  ["VM_EXIT_INTR_INFO", 0x4404, "VM-exit interruption information"],
  ["VM_EXIT_INTR_ERROR_CODE", 0x4406, "VM-exit interruption error code"],
  ["IDT_VECTORING_INFO_FIELD", 0x4408, "IDT-vectoring information field"],
  ["IDT_VECTORING_ERROR_CODE", 0x440a, "IDT-vectoring error code"],
  ["VM_EXIT_INSTRUCTION_LEN", 0x440c, "VM-exit instruction length"],
  ["VMX_INSTRUCTION_INFO", 0x440e, "VM-exit instruction information"],
  // 32-bit guest-state fields (B.3.3)
  ...segRows(
    0x4800,
    (s) => `GUEST_${s}_LIMIT` as const,
    (s) => `guest ${s} limit`,
  ),
  ["GUEST_GDTR_LIMIT", 0x4810, "guest GDTR limit"],
  ["GUEST_IDTR_LIMIT", 0x4812, "guest IDTR limit"],
  ...segRows(
    0x4814,
    (s) => `GUEST_${s}_AR_BYTES` as const,
    (s) => `guest ${s} access rights`,
  ),
  ["GUEST_INTERRUPTIBILITY_INFO", 0x4824, "guest interruptibility state"],
  ["GUEST_ACTIVITY_STATE", 0x4826, "guest activity state"],
  ["GUEST_SMBASE", 0x4828, "guest SMBASE"],
  ["GUEST_SYSENTER_CS", 0x482a, "guest IA32_SYSENTER_CS", ["GUEST_IA32_SYSENTER_CS"]],
  ["VMX_PREEMPTION_TIMER_VALUE", 0x482e, "VMX-preemption timer value"],
  // 32-bit host-state field (B.3.4)
  ["HOST_IA32_SYSENTER_CS", 0x4c00, "host IA32_SYSENTER_CS"],
  // natural-width control fields (B.4.1)
  ["CR0_GUEST_HOST_MASK", 0x6000, "CR0 guest/host mask"],
  ["CR4_GUEST_HOST_MASK", 0x6002, "CR4 guest/host mask"],
  ["CR0_READ_SHADOW", 0x6004, "CR0 read shadow"],
  ["CR4_READ_SHADOW", 0x6006, "CR4 read shadow"],
  ["CR3_TARGET_VALUE0", 0x6008, "CR3-target value 0"],
  ["CR3_TARGET_VALUE1", 0x600a, "CR3-target value 1"],
  ["CR3_TARGET_VALUE2", 0x600c, "CR3-target value 2"],
  ["CR3_TARGET_VALUE3", 0x600e, "CR3-target value 3"],
  // natural-width read-only data fields (B.4.2)
  ["EXIT_QUALIFICATION", 0x6400, "exit qualification"],
  ["EXIT_IO_RCX", 0x6402, "I/O RCX"],
  ["EXIT_IO_RSI", 0x6404, "I/O RSI"],
  ["EXIT_IO_RDI", 0x6406, "I/O RDI"],
  ["EXIT_IO_RIP", 0x6408, "I/O RIP"],
  ["GUEST_LINEAR_ADDRESS", 0x640a, "guest-linear address"],
  // natural-width guest-state fields (B.4.3)
  ["GUEST_CR0", 0x6800, "guest CR0"],
  ["GUEST_CR3", 0x6802, "guest CR3"],
  ["GUEST_CR4", 0x6804, "guest CR4"],
  ...segRows(
    0x6806,
    (s) => `GUEST_${s}_BASE` as const,
    (s) => `guest ${s} base`,
  ),
  ["GUEST_GDTR_BASE", 0x6816, "guest GDTR base"],
  ["GUEST_IDTR_BASE", 0x6818, "guest IDTR base"],
  ["GUEST_DR7", 0x681a, "guest DR7"],
  ["GUEST_RSP", 0x681c, "guest RSP"],
  ["GUEST_RIP", 0x681e, "guest RIP"],
  ["GUEST_RFLAGS", 0x6820, "guest RFLAGS"],
  ["GUEST_PENDING_DBG_EXCEPTIONS", 0x6822, "guest pending debug exceptions"],
  ["GUEST_SYSENTER_ESP", 0x6824, "guest IA32_SYSENTER_ESP", ["GUEST_IA32_SYSENTER_ESP"]],
  ["GUEST_SYSENTER_EIP", 0x6826, "guest IA32_SYSENTER_EIP", ["GUEST_IA32_SYSENTER_EIP"]],
  ["GUEST_S_CET", 0x6828, "guest IA32_S_CET", [], "cet"],
  ["GUEST_SSP", 0x682a, "guest SSP", [], "cet"],
  ["GUEST_INTR_SSP_TABLE", 0x682c, "guest IA32_INTERRUPT_SSP_TABLE_ADDR", [], "cet"],
  // natural-width host-state fields (B.4.4)
  ["HOST_CR0", 0x6c00, "host CR0"],
  ["HOST_CR3", 0x6c02, "host CR3"],
  ["HOST_CR4", 0x6c04, "host CR4"],
  ["HOST_FS_BASE", 0x6c06, "host FS base"],
  ["HOST_GS_BASE", 0x6c08, "host GS base"],
  ["HOST_TR_BASE", 0x6c0a, "host TR base"],
  ["HOST_GDTR_BASE", 0x6c0c, "host GDTR base"],
  ["HOST_IDTR_BASE", 0x6c0e, "host IDTR base"],
  ["HOST_IA32_SYSENTER_ESP", 0x6c10, "host IA32_SYSENTER_ESP"],
  ["HOST_IA32_SYSENTER_EIP", 0x6c12, "host IA32_SYSENTER_EIP"],
  ["HOST_RSP", 0x6c14, "host RSP"],
  ["HOST_RIP", 0x6c16, "host RIP"],
  ["HOST_S_CET", 0x6c18, "host IA32_S_CET", [], "cet"],
  ["HOST_SSP", 0x6c1a, "host SSP", [], "cet"],
  ["HOST_INTR_SSP_TABLE", 0x6c1c, "host IA32_INTERRUPT_SSP_TABLE_ADDR", [], "cet"],
] as const satisfies readonly Row[];

/** The KVM name of every VMCS field nvmx knows: a misspelled name is a type error. */
export type FieldName = (typeof ROWS)[number][0];

const WIDTHS: readonly FieldWidth[] = [16, 64, 32, "natural"];
const TYPES: readonly FieldType[] = ["control", "read-only", "guest", "host"];

export function widthOfEncoding(enc: number): FieldWidth {
  return WIDTHS[(enc >>> 13) & 3]!;
}
export function typeOfEncoding(enc: number): FieldType {
  return TYPES[(enc >>> 10) & 3]!;
}

/** Spellings other projects use, derived from the KVM name. */
function derivedAliases(name: string, sdm: string): string[] {
  const out = [sdm, name.toLowerCase(), `VMCS_${name}`];
  // kvm-unit-tests spells guest segment fields GUEST_SEL_ES, GUEST_LIMIT_ES, GUEST_AR_ES, GUEST_BASE_ES.
  const m = /^GUEST_(ES|CS|SS|DS|FS|GS|LDTR|TR|GDTR|IDTR)_(SELECTOR|LIMIT|AR_BYTES|BASE)$/.exec(name);
  if (m) {
    const kind = { SELECTOR: "SEL", LIMIT: "LIMIT", AR_BYTES: "AR", BASE: "BASE" }[m[2] as string];
    out.push(`GUEST_${kind}_${m[1]}`);
    if (m[2] === "AR_BYTES") out.push(`GUEST_${m[1]}_ACCESS_RIGHTS`, `GUEST_${m[1]}_AR`);
  }
  return out;
}

/**
 * Guest-state fields loaded only under a VM-entry control (SDM 28.3.2.1; 28.3.2.2 for SMBASE is not a
 * load control). Annotations of the rows above, kept beside them so that a new field gets one.
 */
const LOADED_BY: Readonly<Record<string, EntryLoadControl>> = {
  GUEST_DR7: "LOAD_DEBUG",
  GUEST_IA32_DEBUGCTL: "LOAD_DEBUG",
  GUEST_IA32_PERF_GLOBAL_CTRL: "LOAD_PERF_GLOBAL_CTRL",
  GUEST_IA32_PAT: "LOAD_PAT",
  GUEST_IA32_EFER: "LOAD_EFER",
  GUEST_BNDCFGS: "LOAD_BNDCFGS",
  GUEST_IA32_RTIT_CTL: "LOAD_RTIT_CTL",
  GUEST_UINV: "LOAD_UINV",
  GUEST_S_CET: "LOAD_CET",
  GUEST_SSP: "LOAD_CET",
  GUEST_INTR_SSP_TABLE: "LOAD_CET",
  GUEST_IA32_LBR_CTL: "LOAD_LBR_CTL",
  GUEST_IA32_PKRS: "LOAD_PKRS",
  GUEST_IA32_FRED_CONFIG: "LOAD_FRED",
  GUEST_IA32_FRED_RSP1: "LOAD_FRED",
  GUEST_IA32_FRED_RSP2: "LOAD_FRED",
  GUEST_IA32_FRED_RSP3: "LOAD_FRED",
  GUEST_IA32_FRED_STKLVLS: "LOAD_FRED",
  GUEST_IA32_FRED_SSP1: "LOAD_FRED",
  GUEST_IA32_FRED_SSP2: "LOAD_FRED",
  GUEST_IA32_FRED_SSP3: "LOAD_FRED",
  GUEST_IA32_SPEC_CTRL: "LOAD_SPEC_CTRL",
};

export const FIELDS: readonly FieldDef[] = (ROWS as readonly Row[]).map(
  ([name, encoding, sdm, extra, feature], index) => {
    const loadedBy = LOADED_BY[name];
    return {
      name,
      encoding,
      width: widthOfEncoding(encoding),
      type: typeOfEncoding(encoding),
      index,
      aliases: [...derivedAliases(name, sdm), ...(extra ?? [])],
      ...(feature ? { feature } : {}),
      ...(loadedBy ? { loadedBy } : {}),
    };
  },
);

const byName = new Map<string, FieldDef>();
const byEncoding = new Map<number, FieldDef>();
for (const f of FIELDS) {
  byName.set(f.name, f);
  byEncoding.set(f.encoding, f);
}
const byAlias = new Map<string, FieldDef>();
for (const f of FIELDS) for (const a of f.aliases) if (!byName.has(a)) byAlias.set(a.toUpperCase(), f);

/** The name is a field's KVM name (not an alias). */
export function isFieldName(name: string): name is FieldName {
  return byName.has(name);
}

export function fieldByName(name: string): FieldDef | undefined {
  return byName.get(name) ?? byAlias.get(name.toUpperCase());
}
export function fieldByEncoding(enc: number): FieldDef | undefined {
  return byEncoding.get(enc);
}

/**
 * The spellings an entry document may use for a field (docs/contract.md, the entry schema's `vmcs` keys):
 * each name the table lists (KVM name, SDM prose name, other projects' names, the vmcs12 member name) as
 * listed and in upper case, and for a 64-bit field `NAME_HIGH` / `name_high` (the high 32 bits, SDM 25.11.2
 * access type "high"). Log parsers are more lenient (`fieldByName`); documents are exactly this language.
 */
export const DOCUMENT_KEYS: ReadonlyMap<string, { field: FieldDef; high: boolean }> = (() => {
  const m = new Map<string, { field: FieldDef; high: boolean }>();
  const add = (k: string, field: FieldDef, high: boolean) => {
    const prev = m.get(k);
    // A spelling two fields share (none today) would be ambiguous: the KVM name wins, as in fieldByName.
    if (!prev || field.name === k) m.set(k, { field, high });
  };
  for (const f of FIELDS)
    for (const s of [f.name, ...f.aliases])
      for (const k of new Set([s, s.toUpperCase()])) {
        add(k, f, false);
        if (f.width === 64 && !k.includes(" "))
          add(k === k.toLowerCase() ? `${k}_high` : `${k}_HIGH`, f, true);
      }
  // KVM names win over aliases that spell another field's KVM name.
  for (const f of FIELDS) m.set(f.name, { field: f, high: false });
  return m;
})();

/**
 * Resolve a key of an entry document's `vmcs` object: a spelling of `DOCUMENT_KEYS` or a field's hex encoding
 * ("0x4002"; an odd encoding is the high half of a 64-bit field).
 */
export function resolveFieldKey(key: string): { field: FieldDef; high: boolean } | undefined {
  if (/^0x[0-9a-f]+$/i.test(key)) {
    const big = BigInt(key);
    if (big > 0x7ffen + 1n) return undefined; // encodings are 15 bits wide (SDM 25.11.2): never wrap a wider key
    const enc = Number(big);
    const f = byEncoding.get(enc & ~1);
    if (!f) return undefined;
    if (enc & 1) return f.width === 64 ? { field: f, high: true } : undefined;
    return { field: f, high: false };
  }
  return DOCUMENT_KEYS.get(key);
}

/**
 * Slot indices by KVM name, for the hot path: `F.GUEST_CR0`. Known names are typed; a name computed at run
 * time (`F[name]`) may be undefined, and a misspelled literal name (`F.GUEST_CRO`) does not compile
 * (`noPropertyAccessFromIndexSignature`).
 */
export const F = Object.freeze(Object.fromEntries(FIELDS.map((f) => [f.name, f.index]))) as Readonly<
  Record<FieldName, number>
> &
  Readonly<Record<string, number | undefined>>;

export const FIELD_COUNT = FIELDS.length;
