import type { CheckCase, Patch, VectorTables } from "../helpers.js";

/**
 * SDM 29.2.2–29.2.4 host-state checks (VMfailValid 8). Each fail state breaks one rule of the valid 64-bit
 * base state; HASS=0 cases start from a consistent 32-bit host/guest (`SETUP_32`).
 */

const HASS = 1n << 9n;
const IA32E_GUEST = 1n << 9n;
const LOAD_PERF = 1n << 12n;
const LOAD_CET = 1n << 28n;
const LOAD_PKRS = 1n << 29n;
const EXIT_SECONDARY = 1n << 31n;
const LOAD_FRED = 1n << 1n;
const LOAD_SPEC_CTRL = 1n << 2n;
const PCIDE = 1n << 17n;
const PAE = 1n << 5n;
const LA57 = 1n << 12n;
const CET = 1n << 23n;
const FRED = 1n << 32n;
const WP = 1n << 16n;

const or = (m: bigint) => (old: bigint) => old | m;
const andNot = (m: bigint) => (old: bigint) => old & ~m;

const FAIL8 = { type: "vmfail-valid", error: 8 } as const;

/** A 32-bit (non-IA-32e) guest, consistent with the base state otherwise. */
const GUEST_32: Patch["vmcs"] = {
  VM_ENTRY_CONTROLS: andNot(IA32E_GUEST),
  GUEST_CR4: andNot(PCIDE),
  GUEST_IA32_EFER: 0x800n,
  GUEST_CS_AR_BYTES: 0xc09bn,
  GUEST_RIP: 0x01000000n,
};

/** The processor outside IA-32e mode with a 32-bit host (HASS = 0) and a 32-bit guest. */
export const SETUP_32: Patch = {
  processor: { ia32e: false },
  vmcs: {
    ...GUEST_32,
    VM_EXIT_CONTROLS: andNot(HASS),
    HOST_CR4: andNot(PCIDE),
    HOST_RIP: 0x8100a000n,
    HOST_IA32_EFER: 0x800n,
  },
};

const CET_ON: Patch = { vmcs: { VM_EXIT_CONTROLS: or(LOAD_CET) } };
const SETUP_32_CET: Patch = {
  processor: SETUP_32.processor,
  vmcs: { ...SETUP_32.vmcs, VM_EXIT_CONTROLS: (o) => (o & ~HASS) | LOAD_CET },
};
const FRED_ON: Patch = {
  vmcs: { VM_EXIT_CONTROLS: or(EXIT_SECONDARY), SECONDARY_VM_EXIT_CONTROLS: LOAD_FRED },
};

const NONCANON48 = 0x0000800000000000n; // bit 47 set, bits 63:48 clear
const CANON48_HI = 0xffff800000000000n;
const CANON48_LO = 0x00007ffffffff000n;
const NONCANON57 = 0x0100000000000000n; // bit 56 set, bits 63:57 clear
const CANON57_HI = 0xff00000000000000n;
const LA57_CPU = (d: { linearAddressBits?: number }) => {
  d.linearAddressBits = 57;
};

function canonicalCases(id: string, field: string, setup?: Patch): CheckCase[] {
  return [
    {
      id,
      setup,
      pass: { vmcs: { [field]: CANON48_HI } },
      fail: { vmcs: { [field]: NONCANON48 } },
      outcome: FAIL8,
    },
    {
      id,
      name: "bits 63:48 set, bit 47 clear",
      setup,
      pass: { vmcs: { [field]: CANON48_LO } },
      fail: { vmcs: { [field]: 0xffff7ffffffff000n } },
    },
    {
      id,
      name: "57-bit CPU: bit 56 is the sign bit",
      cpu: LA57_CPU,
      setup,
      pass: { vmcs: { [field]: NONCANON48 } },
      fail: { vmcs: { [field]: NONCANON57 } },
    },
    {
      id,
      name: "57-bit CPU: upper half",
      cpu: LA57_CPU,
      setup,
      pass: { vmcs: { [field]: CANON57_HI } },
      fail: { vmcs: { [field]: 0xfe00000000000000n } },
    },
  ];
}

function fredStackCases(kind: "rsp" | "ssp"): CheckCase[] {
  const out: CheckCase[] = [];
  for (const n of [1, 2, 3]) {
    const field = `HOST_IA32_FRED_${kind.toUpperCase()}${n}`;
    out.push(...canonicalCases(`host.fred-${kind}${n}.canonical`, field, FRED_ON));
    out.push(
      kind === "rsp"
        ? {
            id: `host.fred-rsp${n}.alignment`,
            setup: FRED_ON,
            pass: { vmcs: { [field]: 0xffffc90000004040n } },
            fail: { vmcs: { [field]: 0xffffc90000004020n } },
            outcome: FAIL8,
          }
        : {
            id: `host.fred-ssp${n}.alignment`,
            setup: FRED_ON,
            pass: { vmcs: { [field]: 0xffffc90000004008n } },
            fail: { vmcs: { [field]: 0xffffc90000004004n } },
            outcome: FAIL8,
          },
    );
  }
  return out;
}

function selectorCases(seg: string, bad: bigint[], good: bigint): CheckCase[] {
  const field = `HOST_${seg.toUpperCase()}_SELECTOR`;
  return bad.map((b) => ({
    id: `host.${seg}-selector.rpl-ti`,
    name: `selector 0x${b.toString(16)}`,
    pass: { vmcs: { [field]: good } },
    fail: { vmcs: { [field]: b } },
    outcome: FAIL8,
  }));
}

/** One table per check module (src/checks/<module>.ts): the vectors of its checks. */
export const tables: VectorTables = {
  "host-cr-msr": [
    // ---- 29.2.2 host control registers, MSRs and SSP ----
    {
      id: "host.cr0.fixed-bits",
      name: "NE (fixed 1) cleared",
      fail: { vmcs: { HOST_CR0: andNot(1n << 5n) } },
      outcome: FAIL8,
    },
    { id: "host.cr0.fixed-bits", name: "PE (fixed 1) cleared", fail: { vmcs: { HOST_CR0: andNot(1n) } } },
    { id: "host.cr0.fixed-bits", name: "bit 32 (fixed 0)", fail: { vmcs: { HOST_CR0: or(1n << 32n) } } },
    {
      id: "host.cr0.fixed-bits",
      name: "a bit clear in FIXED1; CD/NW are exempt",
      cpu: (d) => {
        d.msrs.IA32_VMX_CR0_FIXED1 = "0x9ffbffff";
      },
      pass: { vmcs: { HOST_CR0: or(3n << 29n) } },
      fail: { vmcs: { HOST_CR0: or(1n << 18n) } },
    },
    {
      id: "host.cr4.fixed-bits",
      name: "VMXE (fixed 1) cleared",
      fail: { vmcs: { HOST_CR4: andNot(1n << 13n) } },
      outcome: FAIL8,
    },
    {
      id: "host.cr4.fixed-bits",
      name: "bit 15 (clear in FIXED1)",
      pass: { vmcs: { HOST_CR4: or(1n << 14n) } },
      fail: { vmcs: { HOST_CR4: or(1n << 15n) } },
    },
    {
      id: "host.cr4.fixed-bits",
      name: "bit 33 (clear in FIXED1)",
      pass: { vmcs: { HOST_CR4: or(FRED) } },
      fail: { vmcs: { HOST_CR4: or(1n << 33n) } },
    },
    {
      id: "host.cr4.fixed-bits",
      name: "LA57 unsupported",
      cpu: (d) => {
        d.msrs.IA32_VMX_CR4_FIXED1 = "0x11bffefff";
      },
      fail: { vmcs: { HOST_CR4: or(LA57) } },
    },
    {
      id: "host.cr4.cet-requires-cr0-wp",
      pass: { vmcs: { HOST_CR4: or(CET) } },
      fail: { vmcs: { HOST_CR4: or(CET), HOST_CR0: andNot(WP) } },
      outcome: FAIL8,
    },
    {
      id: "host.cr4.cet-requires-cr0-wp",
      name: 'applies without "load CET state"',
      setup: CET_ON,
      fail: { vmcs: { HOST_CR4: or(CET), HOST_CR0: andNot(WP) } },
    },
    {
      id: "host.cr3.reserved-bits",
      name: "bit 46 = MAXPHYADDR",
      pass: { vmcs: { HOST_CR3: 0x00003ffffffff000n } },
      fail: { vmcs: { HOST_CR3: 0x0000400000001000n } },
      outcome: FAIL8,
    },
    {
      id: "host.cr3.reserved-bits",
      name: "bit 63 even with LAM",
      pass: { vmcs: { HOST_CR3: 0x6000000001000000n } },
      fail: { vmcs: { HOST_CR3: 0x8000000001000000n } },
    },
    { id: "host.cr3.reserved-bits", name: "bit 60", fail: { vmcs: { HOST_CR3: 0x1000000001000000n } } },
    {
      id: "host.cr3.reserved-bits",
      name: "bits 62:61 without LAM",
      cpu: (d) => {
        d.flags = d.flags?.filter((f) => f !== "lam");
      },
      pass: { vmcs: { HOST_CR3: 0x00003ffffffff000n } },
      fail: { vmcs: { HOST_CR3: 0x4000000001000000n } },
    },
    {
      id: "host.cr3.reserved-bits",
      name: "52-bit MAXPHYADDR",
      cpu: (d) => {
        d.maxPhysAddr = 52;
      },
      pass: { vmcs: { HOST_CR3: 0x000ffffffffff000n } },
      fail: { vmcs: { HOST_CR3: 0x0010000001000000n } },
    },
    ...canonicalCases("host.sysenter-esp.canonical", "HOST_IA32_SYSENTER_ESP"),
    ...canonicalCases("host.sysenter-eip.canonical", "HOST_IA32_SYSENTER_EIP"),
    {
      id: "host.s-cet.reserved-bits",
      setup: CET_ON,
      pass: { vmcs: { HOST_S_CET: 0xfffff03fn } },
      fail: { vmcs: { HOST_S_CET: 0x40n } },
      outcome: FAIL8,
    },
    { id: "host.s-cet.reserved-bits", name: "bit 9", setup: CET_ON, fail: { vmcs: { HOST_S_CET: 0x204n } } },
    {
      id: "host.s-cet.suppress-and-tracker",
      setup: CET_ON,
      pass: { vmcs: { HOST_S_CET: 0x804n } },
      fail: { vmcs: { HOST_S_CET: 0xc04n } },
      outcome: FAIL8,
    },
    {
      id: "host.ssp.alignment",
      setup: CET_ON,
      pass: { vmcs: { HOST_SSP: 0xffffc90000004ffcn } },
      fail: { vmcs: { HOST_SSP: 0xffffc90000004ffen } },
      outcome: FAIL8,
    },
    {
      id: "host.ssp.alignment",
      name: "bit 0",
      setup: CET_ON,
      fail: { vmcs: { HOST_SSP: 0xffffc90000004ff9n } },
    },
    ...canonicalCases("host.intr-ssp-table.canonical", "HOST_INTR_SSP_TABLE", CET_ON),
    {
      id: "host.perf-global-ctrl.reserved-bits",
      setup: { vmcs: { VM_EXIT_CONTROLS: or(LOAD_PERF) } },
      pass: { vmcs: { HOST_IA32_PERF_GLOBAL_CTRL: 0x1000f000000ffn } },
      fail: { vmcs: { HOST_IA32_PERF_GLOBAL_CTRL: 0x1000f000001ffn } },
      outcome: FAIL8,
    },
    {
      id: "host.perf-global-ctrl.reserved-bits",
      name: "bit 36 (fifth fixed counter) with 4 fixed counters",
      setup: { vmcs: { VM_EXIT_CONTROLS: or(LOAD_PERF) } },
      fail: { vmcs: { HOST_IA32_PERF_GLOBAL_CTRL: 0x1f00000000n } },
    },
    {
      id: "host.perf-global-ctrl.reserved-bits",
      name: "counters from CPUID.0AH: 5 fixed counters, no PERF_METRICS",
      cpu: (d) => {
        d.cpuid = { ...d.cpuid, "0xa": { eax: "0x8300805", ebx: "0x0", ecx: "0x0", edx: "0x8605" } };
        d.msrValues = { "0x345": "0x33c5" };
      },
      setup: { vmcs: { VM_EXIT_CONTROLS: or(LOAD_PERF) } },
      pass: { vmcs: { HOST_IA32_PERF_GLOBAL_CTRL: 0x1f00000000n } },
      fail: { vmcs: { HOST_IA32_PERF_GLOBAL_CTRL: 0x1000000000000n } },
    },
    {
      id: "host.pat.memory-types",
      name: "PA0=2",
      pass: { vmcs: { HOST_IA32_PAT: 0x0706050401000706n } },
      fail: { vmcs: { HOST_IA32_PAT: 0x0007040600070402n } },
      outcome: FAIL8,
    },
    { id: "host.pat.memory-types", name: "PA3=3", fail: { vmcs: { HOST_IA32_PAT: 0x0007040603070406n } } },
    { id: "host.pat.memory-types", name: "PA7=8", fail: { vmcs: { HOST_IA32_PAT: 0x0807040600070406n } } },
    { id: "host.pat.memory-types", name: "PA4=0xff", fail: { vmcs: { HOST_IA32_PAT: 0x000704ff00070406n } } },
    {
      id: "host.efer.reserved-bits",
      name: "bit 12 (SVME)",
      pass: { vmcs: { HOST_IA32_EFER: 0x500n } },
      fail: { vmcs: { HOST_IA32_EFER: 0x1d01n } },
      outcome: FAIL8,
    },
    { id: "host.efer.reserved-bits", name: "bit 32", fail: { vmcs: { HOST_IA32_EFER: 0x100000d01n } } },
    { id: "host.efer.reserved-bits", name: "bit 1", fail: { vmcs: { HOST_IA32_EFER: 0xd03n } } },
    {
      id: "host.efer.reserved-bits",
      name: "NXE without execute-disable support (CPUID.80000001H:EDX[20] = 0)",
      cpu: (d) => {
        d.cpuid = { ...d.cpuid, "0x80000001": { eax: "0x0", ebx: "0x0", ecx: "0x121", edx: "0x2c000800" } };
      },
      pass: { vmcs: { HOST_IA32_EFER: 0x501n } },
      fail: { vmcs: { HOST_IA32_EFER: 0xd01n } },
    },
    {
      id: "host.efer.lma-matches-hass",
      name: "LMA=0 with HASS=1",
      fail: { vmcs: { HOST_IA32_EFER: 0x901n } },
      outcome: FAIL8,
    },
    {
      id: "host.efer.lma-matches-hass",
      name: "LMA=1 with HASS=0",
      setup: SETUP_32,
      pass: { vmcs: { HOST_IA32_EFER: 0x801n } },
      fail: { vmcs: { HOST_IA32_EFER: 0x401n } },
    },
    {
      id: "host.efer.lme-matches-hass",
      name: "LME=0 with HASS=1",
      fail: { vmcs: { HOST_IA32_EFER: 0xc01n } },
      outcome: FAIL8,
    },
    {
      id: "host.efer.lme-matches-hass",
      name: "LME=1 with HASS=0",
      setup: SETUP_32,
      fail: { vmcs: { HOST_IA32_EFER: 0x101n } },
    },
    {
      id: "host.pkrs.high-bits",
      setup: { vmcs: { VM_EXIT_CONTROLS: or(LOAD_PKRS) } },
      pass: { vmcs: { HOST_IA32_PKRS: 0xffffffffn } },
      fail: { vmcs: { HOST_IA32_PKRS: 0x100000000n } },
      outcome: FAIL8,
    },
    {
      id: "host.fred-config.reserved-bits",
      name: "bit 2",
      setup: FRED_ON,
      pass: { vmcs: { HOST_IA32_FRED_CONFIG: 0xffffffff810007c8n } },
      fail: { vmcs: { HOST_IA32_FRED_CONFIG: 0xffffffff81000004n } },
      outcome: FAIL8,
    },
    {
      id: "host.fred-config.reserved-bits",
      name: "bit 4",
      setup: FRED_ON,
      fail: { vmcs: { HOST_IA32_FRED_CONFIG: 0xffffffff81000010n } },
    },
    {
      id: "host.fred-config.reserved-bits",
      name: "bit 5",
      setup: FRED_ON,
      fail: { vmcs: { HOST_IA32_FRED_CONFIG: 0xffffffff81000020n } },
    },
    {
      id: "host.fred-config.reserved-bits",
      name: "bit 11",
      setup: FRED_ON,
      fail: { vmcs: { HOST_IA32_FRED_CONFIG: 0xffffffff81000800n } },
    },
    {
      id: "host.fred-config.reserved-bits",
      name: 'not checked unless "activate secondary exit controls"',
      setup: { vmcs: { SECONDARY_VM_EXIT_CONTROLS: LOAD_FRED, HOST_IA32_FRED_CONFIG: 0x834n } },
      inapplicable: {},
      fail: { vmcs: { VM_EXIT_CONTROLS: or(EXIT_SECONDARY) } },
    },
    ...canonicalCases("host.fred-config.canonical", "HOST_IA32_FRED_CONFIG", FRED_ON),
    ...fredStackCases("rsp"),
    ...fredStackCases("ssp"),
    {
      id: "host.spec-ctrl.reserved-bits",
      setup: { vmcs: { VM_EXIT_CONTROLS: or(EXIT_SECONDARY), SECONDARY_VM_EXIT_CONTROLS: LOAD_SPEC_CTRL } },
      pass: { vmcs: { HOST_IA32_SPEC_CTRL: 0x5ffn } },
      fail: { vmcs: { HOST_IA32_SPEC_CTRL: 0x200n } },
      outcome: FAIL8,
    },
    {
      id: "host.spec-ctrl.reserved-bits",
      name: "IBRS/STIBP/SSBD only (CPUID.(7,2):EDX = 0): bit 11 still reserved",
      cpu: (d) => {
        d.cpuid = { ...d.cpuid, "0x7.2": { eax: "0x0", ebx: "0x0", ecx: "0x0", edx: "0x0" } };
      },
      setup: { vmcs: { VM_EXIT_CONTROLS: or(EXIT_SECONDARY), SECONDARY_VM_EXIT_CONTROLS: LOAD_SPEC_CTRL } },
      pass: { vmcs: { HOST_IA32_SPEC_CTRL: 0x7n } },
      fail: { vmcs: { HOST_IA32_SPEC_CTRL: 0x800n } },
    },
  ],
  "host-segments": [
    // ---- 29.2.3 host segment and descriptor-table registers ----
    ...selectorCases("cs", [0x13n, 0x14n, 0x11n], 0x10n),
    ...selectorCases("ss", [0x1bn, 0x1cn], 0x18n),
    ...selectorCases("ds", [0x3n, 0x4n], 0x18n),
    ...selectorCases("es", [0x2n, 0x1cn], 0x18n),
    ...selectorCases("fs", [0x1n, 0x7n], 0x18n),
    ...selectorCases("gs", [0x3n, 0x4n], 0x18n),
    ...selectorCases("tr", [0x43n, 0x44n], 0x48n),
    {
      id: "host.cs-selector.nonzero",
      pass: { vmcs: { HOST_CS_SELECTOR: 0x8n } },
      fail: { vmcs: { HOST_CS_SELECTOR: 0n } },
      outcome: FAIL8,
    },
    {
      id: "host.tr-selector.nonzero",
      pass: { vmcs: { HOST_TR_SELECTOR: 0x8n } },
      fail: { vmcs: { HOST_TR_SELECTOR: 0n } },
      outcome: FAIL8,
    },
    {
      id: "host.ss-selector.nonzero-without-hass",
      setup: SETUP_32,
      pass: { vmcs: { HOST_SS_SELECTOR: 0x8n } },
      fail: { vmcs: { HOST_SS_SELECTOR: 0n } },
      outcome: FAIL8,
    },
    ...canonicalCases("host.fs-base.canonical", "HOST_FS_BASE"),
    ...canonicalCases("host.gs-base.canonical", "HOST_GS_BASE"),
    ...canonicalCases("host.gdtr-base.canonical", "HOST_GDTR_BASE"),
    ...canonicalCases("host.idtr-base.canonical", "HOST_IDTR_BASE"),
    ...canonicalCases("host.tr-base.canonical", "HOST_TR_BASE"),
  ],
  "address-space": [
    // ---- 29.2.4 address-space size ----
    {
      // A1 cannot fail alone: with IA-32e guest = 1 outside IA-32e mode, HASS=0 (A4) or HASS=1 (A2) also fails.
      id: "host.ia32e-guest.outside-ia32e",
      setup: SETUP_32,
      fail: {
        vmcs: {
          VM_ENTRY_CONTROLS: or(IA32E_GUEST),
          GUEST_CR4: or(PCIDE),
          GUEST_IA32_EFER: 0xd01n,
          GUEST_CS_AR_BYTES: 0xa09bn,
          GUEST_RIP: 0xffffffff81000000n,
        },
      },
      alsoFails: ["host.ia32e-guest.requires-hass"],
      outcome: FAIL8,
    },
    {
      id: "host.hass.outside-ia32e",
      pass: SETUP_32,
      fail: { processor: { ia32e: false }, vmcs: GUEST_32 },
      outcome: FAIL8,
    },
    {
      id: "host.hass.in-ia32e",
      pass: {},
      inapplicable: SETUP_32,
      fail: { processor: { ia32e: true }, vmcs: SETUP_32.vmcs },
      outcome: FAIL8,
    },
    {
      // A4 cannot fail alone either: in IA-32e mode, HASS=0 also fails A3.
      id: "host.ia32e-guest.requires-hass",
      setup: SETUP_32,
      fail: {
        processor: { ia32e: true },
        vmcs: {
          VM_ENTRY_CONTROLS: or(IA32E_GUEST),
          GUEST_CR4: or(PCIDE),
          GUEST_IA32_EFER: 0xd01n,
          GUEST_CS_AR_BYTES: 0xa09bn,
          GUEST_RIP: 0xffffffff81000000n,
        },
      },
      alsoFails: ["host.hass.in-ia32e"],
      outcome: FAIL8,
    },
    {
      id: "host.cr4.pcide-without-hass",
      setup: SETUP_32,
      fail: { vmcs: { HOST_CR4: or(PCIDE) } },
      outcome: FAIL8,
    },
    {
      id: "host.rip.high-bits-without-hass",
      setup: SETUP_32,
      pass: { vmcs: { HOST_RIP: 0xfffffff0n } },
      fail: { vmcs: { HOST_RIP: 0x100000000n } },
      outcome: FAIL8,
    },
    {
      id: "host.s-cet.high-bits-without-hass",
      setup: SETUP_32_CET,
      pass: { vmcs: { HOST_S_CET: 0xfffff004n } },
      fail: { vmcs: { HOST_S_CET: 0x100000004n } },
      outcome: FAIL8,
    },
    {
      id: "host.ssp.high-bits-without-hass",
      setup: SETUP_32_CET,
      pass: { vmcs: { HOST_SSP: 0xfffffffcn } },
      fail: { vmcs: { HOST_SSP: 0x100000000n } },
      outcome: FAIL8,
    },
    {
      id: "host.cr4.fred-without-hass",
      setup: SETUP_32,
      fail: { vmcs: { HOST_CR4: or(FRED) } },
      outcome: FAIL8,
    },
    {
      id: "host.cr4.fred-without-hass",
      name: "FRED with HASS=1 is fine",
      inapplicable: { vmcs: { HOST_CR4: or(FRED) } },
      fail: { processor: { ia32e: false }, vmcs: { ...SETUP_32.vmcs, HOST_CR4: (o) => (o & ~PCIDE) | FRED } },
    },
    {
      id: "host.cr4.pae-with-hass",
      pass: {},
      inapplicable: { ...SETUP_32, vmcs: { ...SETUP_32.vmcs, HOST_CR4: andNot(PAE | PCIDE) } },
      fail: { vmcs: { HOST_CR4: andNot(PAE) } },
      outcome: FAIL8,
    },
    {
      id: "host.rip.canonical",
      pass: { vmcs: { HOST_RIP: CANON48_LO } },
      fail: { vmcs: { HOST_RIP: NONCANON48 } },
      outcome: FAIL8,
    },
    {
      id: "host.rip.canonical",
      name: "bits 63:48 set, bit 47 clear",
      fail: { vmcs: { HOST_RIP: 0xffff7ffffffff000n } },
    },
    {
      id: "host.rip.canonical",
      name: "57-bit CPU, host CR4.LA57=1",
      cpu: LA57_CPU,
      setup: { vmcs: { HOST_CR4: or(LA57) } },
      pass: { vmcs: { HOST_RIP: NONCANON48 } },
      fail: { vmcs: { HOST_RIP: NONCANON57 } },
    },
    {
      // 57-bit CPU, but the host returns to 4-level paging: RIP must be 48-bit canonical although the MSR-style
      // checks (SYSENTER_EIP) accept the same value.
      id: "host.rip.canonical",
      name: "57-bit CPU, host CR4.LA57=0",
      cpu: LA57_CPU,
      pass: { vmcs: { HOST_IA32_SYSENTER_EIP: NONCANON48 } },
      fail: { vmcs: { HOST_RIP: NONCANON48 } },
    },
    ...canonicalCases("host.s-cet.canonical", "HOST_S_CET", CET_ON),
    ...canonicalCases("host.ssp.canonical", "HOST_SSP", CET_ON),
    {
      id: "host.no-intel64.ia32e-controls",
      cpu: (d) => {
        // IA32_VMX_BASIC[48] = 1: a processor without Intel 64 architecture
        d.msrs.IA32_VMX_BASIC = "0x4db100000000004";
      },
      pass: SETUP_32,
      fail: {},
      outcome: FAIL8,
    },
    {
      id: "host.no-intel64.ia32e-controls",
      name: "only HASS set",
      cpu: (d) => {
        d.msrs.IA32_VMX_BASIC = "0x4db100000000004";
      },
      setup: SETUP_32,
      fail: { vmcs: { VM_EXIT_CONTROLS: or(HASS), HOST_IA32_EFER: 0xd01n } },
    },
  ],
};
