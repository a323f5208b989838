import type { CheckCase, Patch, VectorTables } from "../helpers.js";

/**
 * SDM 29.3.1.1 (guest CRs, DRs, MSRs), 29.3.1.3 (GDTR/IDTR) and 29.3.1.4 (RIP, RFLAGS, SSP). The base state
 * is the 64-bit Linux-like guest of src/gen/base.ts on the synthetic all-features profile
 * (MAXPHYADDR 46, 48-bit linear addresses, LAM, CET, FRED…).
 */

const EXIT33 = { type: "vmexit", reason: 33, qualification: 0 } as const;

// Entry-control bits (SDM 25.8.1).
const E_IA32E = 1n << 9n;
const E_PERF = 1n << 13n;
const E_BNDCFGS = 1n << 16n;
const E_RTIT = 1n << 18n;
const E_UINV = 1n << 19n;
const E_CET = 1n << 20n;
const E_LBR = 1n << 21n;
const E_PKRS = 1n << 22n;
const E_FRED = 1n << 23n;
const E_SPEC = 1n << 24n;

const CR4_PAE = 1n << 5n;
const CR4_VMXE = 1n << 13n;
const CR4_PCIDE = 1n << 17n;
const CR4_CET = 1n << 23n;
const CR4_FRED = 1n << 32n;

const entryOn = (bit: bigint): Patch => ({ vmcs: { VM_ENTRY_CONTROLS: (o) => o | bit } });

/** A valid 32-bit protected-mode guest with PAE paging: "IA-32e mode guest" 0, EFER.LMA/LME 0, no PCIDE. */
const NON64: Patch = {
  vmcs: {
    VM_ENTRY_CONTROLS: (o) => o & ~E_IA32E,
    GUEST_IA32_EFER: 0x801n,
    GUEST_CR4: (o) => o & ~CR4_PCIDE,
    GUEST_CS_AR_BYTES: 0xc09bn,
    GUEST_RIP: 0x1000000n,
  },
};
const UG: Patch = { vmcs: { SECONDARY_VM_EXEC_CONTROL: (o) => o | 0x80n } };
/** Both at once (CheckCase has one setup patch). */
const merge = (...ps: Patch[]): Patch => ({ vmcs: Object.assign({}, ...ps.map((p) => p.vmcs)) });
const NON64_UG = merge(NON64, UG);

/** Virtual-8086 segment registers: base = selector << 4, limit FFFFH, access rights F3H (SDM 29.3.1.2). */
const V86_SEGS: Patch = {
  vmcs: Object.fromEntries(
    ["CS", "SS", "DS", "ES", "FS", "GS"].flatMap((s) => [
      [`GUEST_${s}_SELECTOR`, 0x1000n],
      [`GUEST_${s}_BASE`, 0x10000n],
      [`GUEST_${s}_LIMIT`, 0xffffn],
      [`GUEST_${s}_AR_BYTES`, 0xf3n],
    ]),
  ),
};

/** A 64-bit user-mode guest (CPL 3) with CR4.FRED: it "will use FRED transitions". */
const FRED_USER: Patch = {
  vmcs: {
    GUEST_CR4: (o) => o | CR4_FRED,
    GUEST_CS_SELECTOR: 0x33n,
    GUEST_CS_AR_BYTES: 0xa0fbn,
    GUEST_SS_SELECTOR: 0x2bn,
    GUEST_SS_AR_BYTES: 0xc0f3n,
    GUEST_DS_SELECTOR: 0x2bn,
    GUEST_DS_AR_BYTES: 0xc0f3n,
    GUEST_ES_SELECTOR: 0x2bn,
    GUEST_ES_AR_BYTES: 0xc0f3n,
  },
};

const NONCANON48 = 0x0000800000000000n; // bit 47 set, 63:48 clear
const CANON48_HI = 0xffff800000000000n;

const la57 = (d: { linearAddressBits?: number }) => {
  d.linearAddressBits = 57;
};

/** FRED RSPn/SSPn: canonical and aligned vectors for one field. */
function fredCases(kind: "rsp" | "ssp", n: number): CheckCase[] {
  const field = `GUEST_IA32_FRED_${kind.toUpperCase()}${n}`;
  const align = kind === "rsp" ? 0x40n : 0x8n;
  return [
    {
      id: `guest.fred-${kind}${n}.canonical`,
      setup: entryOn(E_FRED),
      pass: { vmcs: { [field]: CANON48_HI | align } },
      fail: { vmcs: { [field]: NONCANON48 } },
      outcome: EXIT33,
    },
    {
      id: `guest.fred-${kind}${n}.aligned`,
      setup: entryOn(E_FRED),
      pass: { vmcs: { [field]: 0xffffc90000004000n | align } },
      fail: { vmcs: { [field]: align >> 1n } },
    },
  ];
}

/** One table per check module (src/checks/<module>.ts): the vectors of its checks. */
export const tables: VectorTables = {
  "guest-cr-dr-msr": [
    // ---- 29.3.1.1 -------------------------------------------------------------------------------------
    {
      id: "guest.cr0.required-bits-set",
      name: "NE clear",
      fail: { vmcs: { GUEST_CR0: 0x80050013n } },
      outcome: EXIT33,
    },
    {
      id: "guest.cr0.required-bits-set",
      name: "unrestricted guest: PE=PG=0 allowed, NE still required",
      setup: NON64_UG,
      pass: { vmcs: { GUEST_CR0: 0x00050030n } },
      fail: { vmcs: { GUEST_CR0: 0x00050010n } },
    },
    {
      id: "guest.cr0.required-bits-set",
      name: "unrestricted guest 0: PE required (and PG without PE)",
      fail: { vmcs: { GUEST_CR0: 0x80050032n } },
      alsoFails: ["guest.cr0.pg-requires-pe"],
    },
    {
      id: "guest.cr0.unsupported-bits-clear",
      name: "bit 32",
      fail: { vmcs: { GUEST_CR0: 0x180050033n } },
      outcome: EXIT33,
    },
    {
      id: "guest.cr0.unsupported-bits-clear",
      name: "FIXED1 forbids EM; NW and CD never checked",
      cpu: (d) => {
        d.msrs.IA32_VMX_CR0_FIXED1 = "0x9ffffffb";
      },
      pass: { vmcs: { GUEST_CR0: 0xe0050033n } },
      fail: { vmcs: { GUEST_CR0: 0x80050037n } },
    },
    {
      id: "guest.cr0.pg-requires-pe",
      setup: UG,
      fail: { vmcs: { GUEST_CR0: 0x80050032n } },
      outcome: EXIT33,
    },
    {
      id: "guest.cr4.required-bits-set",
      name: "VMXE clear (also with unrestricted guest)",
      setup: UG,
      fail: { vmcs: { GUEST_CR4: (o) => o & ~CR4_VMXE } },
      outcome: EXIT33,
    },
    {
      id: "guest.cr4.unsupported-bits-clear",
      name: "bit 15; FRED (bit 32) allowed by FIXED1",
      pass: { vmcs: { GUEST_CR4: (o) => o | CR4_FRED } },
      fail: { vmcs: { GUEST_CR4: (o) => o | 0x8000n } },
      outcome: EXIT33,
    },
    {
      id: "guest.cr4.unsupported-bits-clear",
      name: "bit 33",
      fail: { vmcs: { GUEST_CR4: (o) => o | (1n << 33n) } },
    },
    {
      id: "guest.cr4.cet-requires-wp",
      pass: { vmcs: { GUEST_CR4: (o) => o | CR4_CET } },
      fail: { vmcs: { GUEST_CR4: (o) => o | CR4_CET, GUEST_CR0: 0x80040033n } },
      outcome: EXIT33,
    },
    {
      id: "guest.debugctl.reserved-bits",
      name: "bit 3",
      pass: { vmcs: { GUEST_IA32_DEBUGCTL: 0xffc7n } },
      fail: { vmcs: { GUEST_IA32_DEBUGCTL: 0x8n } },
      outcome: EXIT33,
    },
    {
      id: "guest.debugctl.reserved-bits",
      name: "bus-lock bit 2 reserved without bus-lock detection (CPUID.(7,0):ECX[24] = 0); bit 16",
      cpu: (d) => {
        d.cpuid = {
          ...d.cpuid,
          "0x7.0": { eax: "0x2", ebx: "0xf3bffffb", ecx: "0xba417fee", edx: "0xffdd4430" },
        };
      },
      pass: { vmcs: { GUEST_IA32_DEBUGCTL: 0xffc3n } },
      fail: { vmcs: { GUEST_IA32_DEBUGCTL: 0x10004n } },
    },
    {
      id: "guest.cr0.pg-in-ia32e",
      setup: UG,
      fail: { vmcs: { GUEST_CR0: 0x00050031n } },
      outcome: EXIT33,
    },
    {
      id: "guest.cr4.pae-in-ia32e",
      fail: { vmcs: { GUEST_CR4: (o) => o & ~CR4_PAE } },
      outcome: EXIT33,
    },
    {
      id: "guest.cr4.pcide-outside-ia32e",
      setup: NON64,
      fail: { vmcs: { GUEST_CR4: (o) => o | CR4_PCIDE } },
      outcome: EXIT33,
    },
    {
      id: "guest.cr4.fred-outside-ia32e",
      setup: NON64,
      fail: { vmcs: { GUEST_CR4: (o) => o | CR4_FRED } },
      outcome: EXIT33,
    },
    {
      id: "guest.cr3.beyond-phys",
      name: "bit 46 with MAXPHYADDR 46",
      pass: { vmcs: { GUEST_CR3: 0x3ffffffff000n } },
      fail: { vmcs: { GUEST_CR3: 0x400000000000n } },
      outcome: EXIT33,
    },
    {
      id: "guest.cr3.beyond-phys",
      name: "LAM bits 62:61 allowed, bit 63 never",
      pass: { vmcs: { GUEST_CR3: (o) => o | (3n << 61n) } },
      fail: { vmcs: { GUEST_CR3: (o) => o | (1n << 63n) } },
    },
    {
      id: "guest.cr3.beyond-phys",
      name: "without LAM bit 62 is reserved",
      cpu: (d) => {
        d.flags = d.flags?.filter((f) => f !== "lam");
      },
      fail: { vmcs: { GUEST_CR3: (o) => o | (1n << 62n) } },
    },
    {
      id: "guest.cr3.beyond-phys",
      name: "MAXPHYADDR 52: bit 52",
      cpu: (d) => {
        d.maxPhysAddr = 52;
      },
      pass: { vmcs: { GUEST_CR3: 0xffffffffff000n } },
      fail: { vmcs: { GUEST_CR3: 0x10000000000000n } },
    },
    {
      id: "guest.dr7.high-bits",
      pass: { vmcs: { GUEST_DR7: 0xffffffffn } },
      fail: { vmcs: { GUEST_DR7: 0x100000400n } },
      outcome: EXIT33,
    },
    {
      id: "guest.sysenter-esp.canonical",
      pass: { vmcs: { GUEST_SYSENTER_ESP: CANON48_HI } },
      fail: { vmcs: { GUEST_SYSENTER_ESP: NONCANON48 } },
      outcome: EXIT33,
    },
    {
      id: "guest.sysenter-esp.canonical",
      name: "57-bit linear addresses",
      cpu: la57,
      pass: { vmcs: { GUEST_SYSENTER_ESP: NONCANON48 } },
      fail: { vmcs: { GUEST_SYSENTER_ESP: 0x0100000000000000n } },
    },
    {
      id: "guest.sysenter-eip.canonical",
      pass: { vmcs: { GUEST_SYSENTER_EIP: 0x00007fffffffffffn } },
      fail: { vmcs: { GUEST_SYSENTER_EIP: 0xfffe800000000000n } },
      outcome: EXIT33,
    },
    {
      id: "guest.s-cet.reserved-bits",
      name: "bit 6; non-canonical legacy-bitmap base is accepted",
      setup: entryOn(E_CET),
      pass: { vmcs: { GUEST_S_CET: 0x7ffffffffffff43fn } },
      fail: { vmcs: { GUEST_S_CET: 0x40n } },
      outcome: EXIT33,
    },
    {
      id: "guest.s-cet.reserved-bits",
      name: "bit 9",
      setup: entryOn(E_CET),
      fail: { vmcs: { GUEST_S_CET: 0x200n } },
    },
    {
      id: "guest.s-cet.reserved-bits",
      name: "without IBT, ENDBR_EN is reserved",
      cpu: (d) => {
        d.flags = d.flags?.filter((f) => f !== "ibt");
      },
      setup: entryOn(E_CET),
      pass: { vmcs: { GUEST_S_CET: 0x3n } },
      fail: { vmcs: { GUEST_S_CET: 0x4n } },
    },
    {
      id: "guest.s-cet.suppress-and-tracker",
      setup: entryOn(E_CET),
      pass: { vmcs: { GUEST_S_CET: 0x800n } },
      fail: { vmcs: { GUEST_S_CET: 0xc00n } },
      outcome: EXIT33,
    },
    {
      id: "guest.intr-ssp-table.canonical",
      setup: entryOn(E_CET),
      pass: { vmcs: { GUEST_INTR_SSP_TABLE: CANON48_HI | 0x1000n } },
      fail: { vmcs: { GUEST_INTR_SSP_TABLE: NONCANON48 } },
      outcome: EXIT33,
    },
    {
      id: "guest.perf-global-ctrl.reserved-bits",
      name: "bit 8 (ninth general-purpose counter)",
      setup: entryOn(E_PERF),
      pass: { vmcs: { GUEST_IA32_PERF_GLOBAL_CTRL: 0x1000f000000ffn } },
      fail: { vmcs: { GUEST_IA32_PERF_GLOBAL_CTRL: 0x100n } },
      outcome: EXIT33,
    },
    {
      id: "guest.perf-global-ctrl.reserved-bits",
      name: "bit 36 (fifth fixed counter)",
      setup: entryOn(E_PERF),
      fail: { vmcs: { GUEST_IA32_PERF_GLOBAL_CTRL: 1n << 36n } },
    },
    {
      id: "guest.pat.memory-types",
      name: "PA7 = 8",
      pass: { vmcs: { GUEST_IA32_PAT: 0x0706050401000706n } },
      fail: { vmcs: { GUEST_IA32_PAT: 0x0807040600070406n } },
      outcome: EXIT33,
    },
    {
      id: "guest.pat.memory-types",
      name: "PA0 = 2 (reserved type)",
      fail: { vmcs: { GUEST_IA32_PAT: 0x0007040600070402n } },
    },
    {
      id: "guest.pat.memory-types",
      name: "PA4 = 3 (reserved type)",
      fail: { vmcs: { GUEST_IA32_PAT: 0x0007040300070406n } },
    },
    {
      id: "guest.pat.memory-types",
      name: "PA1 = 2 and PA6 = 9: both entries named",
      fail: { vmcs: { GUEST_IA32_PAT: 0x0009040600070206n } },
    },
    {
      id: "guest.efer.reserved-bits",
      name: "bit 12 (AMD SVME)",
      fail: { vmcs: { GUEST_IA32_EFER: 0x1d01n } },
      outcome: EXIT33,
    },
    {
      id: "guest.efer.reserved-bits",
      name: "bit 32",
      fail: { vmcs: { GUEST_IA32_EFER: 0x100000d01n } },
    },
    {
      id: "guest.efer.reserved-bits",
      name: "bits 12, 13, 33 and 34: both halves named",
      fail: { vmcs: { GUEST_IA32_EFER: 0x600003d01n } },
    },
    {
      id: "guest.efer.reserved-bits",
      name: "NXE without execute-disable support (CPUID.80000001H:EDX[20] = 0)",
      cpu: (d) => {
        d.cpuid = { ...d.cpuid, "0x80000001": { eax: "0x0", ebx: "0x0", ecx: "0x121", edx: "0x2c000800" } };
      },
      pass: { vmcs: { GUEST_IA32_EFER: 0x501n } },
      fail: { vmcs: { GUEST_IA32_EFER: 0xd01n } },
    },
    {
      id: "guest.efer.reserved-bits",
      name: "NXE valid with nx",
      cpu: (d) => {
        d.flags = [...(d.flags ?? []), "lm", "nx"];
      },
      pass: { vmcs: { GUEST_IA32_EFER: 0xd01n } },
      fail: { vmcs: { GUEST_IA32_EFER: 0x2d01n } },
    },
    {
      id: "guest.efer.lma-matches-ia32e",
      name: "IA-32e guest with LMA=LME=0",
      fail: { vmcs: { GUEST_IA32_EFER: 0x801n } },
      outcome: EXIT33,
    },
    {
      id: "guest.efer.lma-matches-ia32e",
      name: "32-bit guest with LMA=LME=1",
      setup: NON64,
      fail: { vmcs: { GUEST_IA32_EFER: 0xd01n } },
    },
    {
      id: "guest.efer.lme-matches-lma",
      fail: { vmcs: { GUEST_IA32_EFER: 0xc01n } },
      outcome: EXIT33,
    },
    {
      id: "guest.efer.lme-matches-lma",
      name: "CR0.PG=0 exempts LME (unrestricted guest)",
      setup: merge(NON64_UG, { vmcs: { GUEST_IA32_EFER: 0x901n } }),
      inapplicable: { vmcs: { GUEST_CR0: 0x00050031n } },
      fail: { vmcs: { GUEST_CR0: 0x80050031n } },
    },
    {
      id: "guest.bndcfgs.reserved-bits",
      setup: entryOn(E_BNDCFGS),
      pass: { vmcs: { GUEST_BNDCFGS: CANON48_HI | 0x3n } },
      fail: { vmcs: { GUEST_BNDCFGS: 0x4n } },
      outcome: EXIT33,
    },
    {
      id: "guest.bndcfgs.reserved-bits",
      name: "bit 11",
      setup: entryOn(E_BNDCFGS),
      fail: { vmcs: { GUEST_BNDCFGS: 0x800n } },
    },
    {
      id: "guest.bndcfgs.canonical-base",
      setup: entryOn(E_BNDCFGS),
      pass: { vmcs: { GUEST_BNDCFGS: 0x00007ffffffff001n } },
      fail: { vmcs: { GUEST_BNDCFGS: NONCANON48 | 1n } },
      outcome: EXIT33,
    },
    {
      id: "guest.rtit-ctl.reserved-bits",
      name: "bit 4",
      setup: entryOn(E_RTIT),
      pass: { vmcs: { GUEST_IA32_RTIT_CTL: 0x180ffff8f7bffefn } },
      fail: { vmcs: { GUEST_IA32_RTIT_CTL: 0x10n } },
      outcome: EXIT33,
    },
    {
      id: "guest.rtit-ctl.reserved-bits",
      name: "bit 57",
      setup: entryOn(E_RTIT),
      fail: { vmcs: { GUEST_IA32_RTIT_CTL: 1n << 57n } },
    },
    {
      id: "guest.lbr-ctl.reserved-bits",
      setup: entryOn(E_LBR),
      pass: { vmcs: { GUEST_IA32_LBR_CTL: 0x7f000fn } },
      fail: { vmcs: { GUEST_IA32_LBR_CTL: 0x10n } },
      outcome: EXIT33,
    },
    {
      id: "guest.pkrs.high-bits",
      setup: entryOn(E_PKRS),
      pass: { vmcs: { GUEST_IA32_PKRS: 0xffffffffn } },
      fail: { vmcs: { GUEST_IA32_PKRS: 0x100000000n } },
      outcome: EXIT33,
    },
    {
      id: "guest.uinv.high-bits",
      setup: entryOn(E_UINV),
      pass: { vmcs: { GUEST_UINV: 0xffn } },
      fail: { vmcs: { GUEST_UINV: 0x100n } },
      outcome: EXIT33,
    },
    {
      id: "guest.fred-config.reserved-bits",
      name: "bit 2",
      setup: entryOn(E_FRED),
      pass: { vmcs: { GUEST_IA32_FRED_CONFIG: 0xffffffff800007cbn } },
      fail: { vmcs: { GUEST_IA32_FRED_CONFIG: 0x4n } },
      outcome: EXIT33,
    },
    {
      id: "guest.fred-config.reserved-bits",
      name: "bit 11",
      setup: entryOn(E_FRED),
      fail: { vmcs: { GUEST_IA32_FRED_CONFIG: 0x800n } },
    },
    {
      id: "guest.fred-config.reserved-bits",
      name: "bit 5",
      setup: entryOn(E_FRED),
      fail: { vmcs: { GUEST_IA32_FRED_CONFIG: 0x20n } },
    },
    {
      id: "guest.fred-config.canonical",
      setup: entryOn(E_FRED),
      pass: { vmcs: { GUEST_IA32_FRED_CONFIG: 0xffffffff81a00000n } },
      fail: { vmcs: { GUEST_IA32_FRED_CONFIG: NONCANON48 } },
      outcome: EXIT33,
    },
    ...fredCases("rsp", 1),
    ...fredCases("rsp", 2),
    ...fredCases("rsp", 3),
    ...fredCases("ssp", 1),
    ...fredCases("ssp", 2),
    ...fredCases("ssp", 3),
    {
      id: "guest.spec-ctrl.reserved-bits",
      setup: entryOn(E_SPEC),
      pass: { vmcs: { GUEST_IA32_SPEC_CTRL: 0x5ffn } },
      fail: { vmcs: { GUEST_IA32_SPEC_CTRL: 0x200n } },
      outcome: EXIT33,
    },
  ],
  "guest-dtr": [
    // ---- 29.3.1.3 -------------------------------------------------------------------------------------
    {
      id: "guest.gdtr.base-canonical",
      pass: { vmcs: { GUEST_GDTR_BASE: CANON48_HI } },
      fail: { vmcs: { GUEST_GDTR_BASE: NONCANON48 } },
      outcome: EXIT33,
    },
    {
      id: "guest.idtr.base-canonical",
      pass: { vmcs: { GUEST_IDTR_BASE: 0x00007ffffffff000n } },
      fail: { vmcs: { GUEST_IDTR_BASE: 0xfffe800000000000n } },
      outcome: EXIT33,
    },
    {
      id: "guest.idtr.base-canonical",
      name: "57-bit linear addresses",
      cpu: la57,
      pass: { vmcs: { GUEST_IDTR_BASE: 0xff00000000000000n } },
      fail: { vmcs: { GUEST_IDTR_BASE: 0xfe00000000000000n } },
    },
    {
      id: "guest.gdtr.limit-high-bits",
      pass: { vmcs: { GUEST_GDTR_LIMIT: 0xffffn } },
      fail: { vmcs: { GUEST_GDTR_LIMIT: 0x10000n } },
      outcome: EXIT33,
    },
    {
      id: "guest.idtr.limit-high-bits",
      pass: { vmcs: { GUEST_IDTR_LIMIT: 0xffffn } },
      fail: { vmcs: { GUEST_IDTR_LIMIT: 0x80000000n } },
      outcome: EXIT33,
    },
  ],
  "guest-rip-rflags": [
    // ---- 29.3.1.4 -------------------------------------------------------------------------------------
    {
      id: "guest.rip.high-bits-outside-64-bit-mode",
      name: "32-bit guest",
      setup: NON64,
      pass: { vmcs: { GUEST_RIP: 0xffffffffn } },
      fail: { vmcs: { GUEST_RIP: 0x100000000n } },
      outcome: EXIT33,
    },
    {
      id: "guest.rip.high-bits-outside-64-bit-mode",
      name: "IA-32e guest in compatibility mode (CS.L=0)",
      setup: { vmcs: { GUEST_CS_AR_BYTES: 0xc09bn } },
      pass: { vmcs: { GUEST_RIP: 0x81000000n } },
      fail: { vmcs: { GUEST_RIP: 0xffffffff81000000n } },
    },
    {
      id: "guest.rip.high-bits-outside-64-bit-mode",
      name: "compatibility mode, bits 63:48 not identical: only this rule (the width rule is 64-bit mode's)",
      setup: { vmcs: { GUEST_CS_AR_BYTES: 0xc09bn } },
      pass: { vmcs: { GUEST_RIP: 0x81000000n } },
      fail: { vmcs: { GUEST_RIP: 0x0001000081000000n } },
    },
    {
      id: "guest.rip.linear-width",
      name: "bits 63:48 must be identical (bit 47 may differ); not applied in compatibility mode",
      pass: { vmcs: { GUEST_RIP: NONCANON48 } },
      fail: { vmcs: { GUEST_RIP: 0x0001000000000000n } },
      inapplicable: { vmcs: { GUEST_CS_AR_BYTES: 0xc09bn, GUEST_RIP: 0x81000000n } },
      outcome: EXIT33,
    },
    {
      id: "guest.rip.linear-width",
      name: "57-bit linear addresses",
      cpu: la57,
      pass: { vmcs: { GUEST_RIP: 0xff00000000000000n } },
      fail: { vmcs: { GUEST_RIP: 0xfd00000000000000n } },
    },
    {
      id: "guest.rflags.reserved-bits",
      name: "bit 15",
      pass: { vmcs: { GUEST_RFLAGS: 0x3d7fd7n } },
      fail: { vmcs: { GUEST_RFLAGS: 0x8002n } },
      outcome: EXIT33,
    },
    { id: "guest.rflags.reserved-bits", name: "bit 3", fail: { vmcs: { GUEST_RFLAGS: 0xan } } },
    { id: "guest.rflags.reserved-bits", name: "bit 5", fail: { vmcs: { GUEST_RFLAGS: 0x22n } } },
    { id: "guest.rflags.reserved-bits", name: "bit 22", fail: { vmcs: { GUEST_RFLAGS: 0x400002n } } },
    { id: "guest.rflags.reserved-bits", name: "bit 63", fail: { vmcs: { GUEST_RFLAGS: (1n << 63n) | 2n } } },
    {
      id: "guest.rflags.bit1-set",
      pass: { vmcs: { GUEST_RFLAGS: 0x2n } },
      fail: { vmcs: { GUEST_RFLAGS: 0x0n } },
      outcome: EXIT33,
    },
    {
      id: "guest.rflags.vm-in-ia32e",
      fail: merge(V86_SEGS, { vmcs: { GUEST_RIP: 0x100n, GUEST_RFLAGS: 0x20002n } }),
      outcome: EXIT33,
    },
    {
      id: "guest.rflags.vm-without-pe",
      setup: merge(NON64_UG, { vmcs: { GUEST_CR0: 0x00050030n } }),
      fail: merge(V86_SEGS, { vmcs: { GUEST_RIP: 0x100n, GUEST_RFLAGS: 0x20002n } }),
      outcome: EXIT33,
    },
    {
      id: "guest.rflags.if-for-external-interrupt",
      setup: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: 0x80000030n } },
      pass: { vmcs: { GUEST_RFLAGS: 0x202n } },
      fail: { vmcs: { GUEST_RFLAGS: 0x2n } },
      outcome: EXIT33,
    },
    {
      id: "guest.rflags.iopl-with-fred-user",
      setup: FRED_USER,
      pass: { vmcs: { GUEST_RFLAGS: 0x202n } },
      fail: { vmcs: { GUEST_RFLAGS: 0x1202n } },
      outcome: EXIT33,
    },
    {
      id: "guest.ssp.aligned",
      setup: entryOn(E_CET),
      pass: { vmcs: { GUEST_SSP: 0xffffc90000003ff8n } },
      fail: { vmcs: { GUEST_SSP: 0xffffc90000003ff9n } },
      outcome: EXIT33,
    },
    {
      id: "guest.ssp.linear-width",
      name: "bits 63:48 must be identical (bit 47 may differ)",
      setup: entryOn(E_CET),
      pass: { vmcs: { GUEST_SSP: NONCANON48 } },
      fail: { vmcs: { GUEST_SSP: 0xfffe800000000000n } },
      outcome: EXIT33,
    },
  ],
};
