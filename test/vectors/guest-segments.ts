import type { CheckCase, Patch, VectorTables } from "../helpers.js";

/**
 * SDM 29.3.1.2 guest segment-register checks. The base state is a 64-bit guest (CS 0xa09b, SS/DS/ES 0xc093,
 * FS/GS/LDTR unusable, TR 0x8b). The setups below switch to other guest modes; each is a valid state as a
 * whole (test/guest-segments.property.test.ts runs the full checker on them).
 */

type Vmcs = NonNullable<Patch["vmcs"]>;

/** Merge patches left to right (later keys win). */
export function merge(...ps: Patch[]): Patch {
  const vmcs: Vmcs = {};
  for (const p of ps) Object.assign(vmcs, p.vmcs ?? {});
  return { vmcs };
}

const IA32E_GUEST = 1n << 9n;
const UNRESTRICTED_GUEST = 1n << 7n;
const CR4_PAE = 1n << 5n;
const CR4_PCIDE = 1n << 17n;
const CR4_FRED = 1n << 32n;

/** Leave IA-32e mode: entry control off, EFER.LMA/LME off, 32-bit paging (no PAE, no PCIDE), 32-bit RIP. */
const leaveIa32e: Vmcs = {
  VM_ENTRY_CONTROLS: (o) => o & ~IA32E_GUEST,
  GUEST_IA32_EFER: 0,
  GUEST_CR4: (o) => o & ~(CR4_PAE | CR4_PCIDE),
};

/** 32-bit protected-mode guest with paging: flat 32-bit CS (0xc09b), SS/DS/ES as in the base. */
export const PM32: Patch = {
  vmcs: {
    ...leaveIa32e,
    GUEST_CS_AR_BYTES: 0xc09b,
    GUEST_RIP: 0xc1000000,
    GUEST_TR_BASE: 0xc0003000,
    GUEST_GDTR_BASE: 0xc0001000,
    GUEST_IDTR_BASE: 0xc0000000,
  },
};

/** Virtual-8086 guest: protected mode with paging, RFLAGS.VM=1, every code/data segment real-mode-like. */
export const V86: Patch = {
  vmcs: {
    ...PM32.vmcs,
    GUEST_RFLAGS: 0x20002,
    GUEST_RIP: 0x100,
    ...v86Seg("CS", 0x1000),
    ...v86Seg("SS", 0x2000),
    ...v86Seg("DS", 0x3000),
    ...v86Seg("ES", 0x4000),
    ...v86Seg("FS", 0x5000),
    ...v86Seg("GS", 0x6000),
  },
};

function v86Seg(s: string, sel: number): Vmcs {
  return {
    [`GUEST_${s}_SELECTOR`]: sel,
    [`GUEST_${s}_BASE`]: sel << 4,
    [`GUEST_${s}_LIMIT`]: 0xffff,
    [`GUEST_${s}_AR_BYTES`]: 0xf3,
  };
}

function realSeg(s: string, sel: number, ar = 0x93): Vmcs {
  return {
    [`GUEST_${s}_SELECTOR`]: sel,
    [`GUEST_${s}_BASE`]: sel << 4,
    [`GUEST_${s}_LIMIT`]: 0xffff,
    [`GUEST_${s}_AR_BYTES`]: ar,
  };
}

/** Unrestricted guest on (the base state has EPT, which unrestricted guest requires). */
const ugOn: Vmcs = { SECONDARY_VM_EXEC_CONTROL: (o) => o | UNRESTRICTED_GUEST };

/** Unrestricted guest in real mode (CR0.PE=PG=0), CS a type-3 data segment at F000:FFF0 as after reset. */
export const UG_REAL: Patch = {
  vmcs: {
    ...leaveIa32e,
    ...ugOn,
    GUEST_CR0: 0x30, // NE ET; PE and PG are free with unrestricted guest
    GUEST_RIP: 0xfff0,
    ...realSeg("CS", 0xf000),
    ...realSeg("SS", 0),
    ...realSeg("DS", 0),
    ...realSeg("ES", 0),
    ...realSeg("FS", 0),
    ...realSeg("GS", 0),
    GUEST_TR_SELECTOR: 0,
    GUEST_TR_BASE: 0,
    GUEST_TR_LIMIT: 0xffff,
    GUEST_TR_AR_BYTES: 0x8b,
    GUEST_GDTR_BASE: 0,
    GUEST_GDTR_LIMIT: 0xffff,
    GUEST_IDTR_BASE: 0,
    GUEST_IDTR_LIMIT: 0xffff,
  },
};

/** Unrestricted guest in 32-bit protected mode with a flat type-3 (data) CS at DPL 0. */
export const UG_PM32: Patch = { vmcs: { ...PM32.vmcs, ...ugOn, GUEST_CS_AR_BYTES: 0xc093 } };

/** Unrestricted guest in the base 64-bit state. */
export const UG_64: Patch = { vmcs: { ...ugOn } };

/** A usable LDTR (type 2, present, byte granular). */
export const LDTR_USABLE: Patch = {
  vmcs: {
    GUEST_LDTR_SELECTOR: 0x50,
    GUEST_LDTR_BASE: 0xfffffe0000002000n,
    GUEST_LDTR_LIMIT: 0xffff,
    GUEST_LDTR_AR_BYTES: 0x82,
  },
};

/** Usable flat FS and GS in the 64-bit base state. */
export const FSGS_USABLE: Patch = {
  vmcs: {
    GUEST_FS_SELECTOR: 0x18,
    GUEST_FS_LIMIT: 0xffffffff,
    GUEST_FS_AR_BYTES: 0xc093,
    GUEST_GS_SELECTOR: 0x18,
    GUEST_GS_LIMIT: 0xffffffff,
    GUEST_GS_AR_BYTES: 0xc093,
  },
};

/** A 64-bit guest that will use FRED transitions (CR4.FRED = bit 32). */
export const FRED: Patch = { vmcs: { GUEST_CR4: (o) => o | CR4_FRED } };

/** Every setup, for the validity test. */
export const SETUPS: Record<string, Patch> = {
  PM32,
  V86,
  UG_REAL,
  UG_PM32,
  UG_64,
  LDTR_USABLE,
  FSGS_USABLE,
  FRED,
};

const EXIT33 = { type: "vmexit", reason: 33, qualification: 0 } as const;

const CODE_DATA = ["CS", "SS", "DS", "ES", "FS", "GS"] as const;
const DATA = ["DS", "ES", "FS", "GS"] as const;
/** Default (valid) flat AR of each code/data register in the 64-bit base state once usable. */
const FLAT_AR: Record<string, number> = {
  CS: 0xa09b,
  SS: 0xc093,
  DS: 0xc093,
  ES: 0xc093,
  FS: 0xc093,
  GS: 0xc093,
};
/** setup making a code/data register usable in the base state */
const usableSetup = (s: string): Patch | undefined => (s === "FS" || s === "GS" ? FSGS_USABLE : undefined);
const lc = (s: string) => s.toLowerCase();
const arOf = (s: string, v: number): Patch => ({ vmcs: { [`GUEST_${s}_AR_BYTES`]: v } });

const cases: CheckCase[] = [];

// ---- Selector fields (R1–R3)
cases.push(
  {
    id: "guest.tr.selector-ti",
    pass: { vmcs: { GUEST_TR_SELECTOR: 0x40 } },
    fail: { vmcs: { GUEST_TR_SELECTOR: 0x44 } },
    outcome: EXIT33,
  },
  {
    id: "guest.ldtr.selector-ti",
    setup: LDTR_USABLE,
    pass: { vmcs: { GUEST_LDTR_SELECTOR: 0x50 } },
    fail: { vmcs: { GUEST_LDTR_SELECTOR: 0x54 } },
  },
  {
    id: "guest.ss.rpl-eq-cs-rpl",
    name: "CS RPL 3, SS RPL 0",
    pass: { vmcs: { GUEST_CS_SELECTOR: 0x10, GUEST_SS_SELECTOR: 0x18 } },
    fail: { vmcs: { GUEST_CS_SELECTOR: 0x13 } },
  },
  {
    id: "guest.ss.rpl-eq-cs-rpl",
    name: "32-bit guest, conforming CS with RPL 1, SS RPL 0",
    setup: PM32,
    pass: { vmcs: { GUEST_SS_SELECTOR: 0x18 } },
    fail: { vmcs: { GUEST_CS_SELECTOR: 0x11, GUEST_CS_AR_BYTES: 0xc09f, GUEST_SS_SELECTOR: 0x18 } },
  },
);

// ---- Base-address fields (R4–R8)
const V86_SEL: Record<string, number> = {
  CS: 0x1000,
  SS: 0x2000,
  DS: 0x3000,
  ES: 0x4000,
  FS: 0x5000,
  GS: 0x6000,
};
for (const s of CODE_DATA) {
  const good = V86_SEL[s]! << 4;
  cases.push(
    {
      id: `guest.${lc(s)}.v86-base`,
      name: "base one byte off",
      setup: V86,
      pass: { vmcs: { [`GUEST_${s}_BASE`]: good } },
      fail: { vmcs: { [`GUEST_${s}_BASE`]: good + 1 } },
    },
    {
      id: `guest.${lc(s)}.v86-base`,
      name: "bits 63:32 of the base set (CS/SS/DS/ES: the base-high rule breaks too)",
      setup: V86,
      fail: { vmcs: { [`GUEST_${s}_BASE`]: (1n << 32n) | BigInt(good) } },
      alsoFails: s === "FS" || s === "GS" ? [] : [`guest.${lc(s)}.base-high-zero`],
    },
  );
}
cases.push(
  {
    id: "guest.tr.base-canonical",
    pass: { vmcs: { GUEST_TR_BASE: 0xffff800000000000n } },
    fail: { vmcs: { GUEST_TR_BASE: 0x0000800000000000n } },
  },
  {
    id: "guest.fs.base-canonical",
    name: "unusable FS (checked anyway)",
    pass: { vmcs: { GUEST_FS_BASE: 0x00007ffffffff000n } },
    fail: { vmcs: { GUEST_FS_BASE: 0x0000800000000000n } },
  },
  {
    id: "guest.gs.base-canonical",
    name: "unusable GS (checked anyway)",
    pass: { vmcs: { GUEST_GS_BASE: 0xffff800000000000n } },
    fail: { vmcs: { GUEST_GS_BASE: 0xfffe800000000000n } },
  },
  {
    id: "guest.gs.base-canonical",
    name: "usable GS",
    setup: FSGS_USABLE,
    pass: { vmcs: { GUEST_GS_BASE: 0x00007fffffffffffn } },
    fail: { vmcs: { GUEST_GS_BASE: 0x0000800000000000n } },
  },
  {
    id: "guest.ldtr.base-canonical",
    setup: LDTR_USABLE,
    pass: { vmcs: { GUEST_LDTR_BASE: 0xffff800000000000n } },
    fail: { vmcs: { GUEST_LDTR_BASE: 0xffff7ffffffff000n } },
  },
  {
    id: "guest.cs.base-high-zero",
    pass: { vmcs: { GUEST_CS_BASE: 0xfffff000 } },
    fail: { vmcs: { GUEST_CS_BASE: 0x100000000n } },
  },
);
for (const s of ["SS", "DS", "ES"]) {
  cases.push({
    id: `guest.${lc(s)}.base-high-zero`,
    pass: { vmcs: { [`GUEST_${s}_BASE`]: 0xffffffff } },
    fail: { vmcs: { [`GUEST_${s}_BASE`]: 0x100000000n } },
  });
}

// ---- Limit fields (R9) and access rights in virtual-8086 mode (R10)
for (const s of CODE_DATA) {
  cases.push(
    {
      id: `guest.${lc(s)}.v86-limit`,
      setup: V86,
      pass: { vmcs: { [`GUEST_${s}_LIMIT`]: 0xffff } },
      fail: { vmcs: { [`GUEST_${s}_LIMIT`]: 0x10000 } },
    },
    {
      id: `guest.${lc(s)}.v86-limit`,
      name: "limit 0xfffe",
      setup: V86,
      fail: { vmcs: { [`GUEST_${s}_LIMIT`]: 0xfffe } },
    },
    {
      id: `guest.${lc(s)}.v86-ar`,
      name: "type 2 (not accessed)",
      setup: V86,
      pass: arOf(s, 0xf3),
      fail: arOf(s, 0xf2),
    },
    { id: `guest.${lc(s)}.v86-ar`, name: "unusable bit set", setup: V86, fail: arOf(s, 0x100f3) },
    { id: `guest.${lc(s)}.v86-ar`, name: "DPL 0", setup: V86, fail: arOf(s, 0x93) },
  );
}

// ---- Access rights, not virtual-8086: type (R11–R14)
cases.push(
  {
    id: "guest.cs.type",
    name: "type 3 without unrestricted guest",
    pass: arOf("CS", 0xa09b),
    fail: arOf("CS", 0xa093),
  },
  { id: "guest.cs.type", name: "type 8 (not accessed)", fail: arOf("CS", 0xa098) },
  { id: "guest.cs.type", name: "type 10 (not accessed)", pass: arOf("CS", 0xa099), fail: arOf("CS", 0xa09a) },
  {
    id: "guest.cs.type",
    name: "unrestricted guest: type 3 passes, type 2 fails",
    setup: UG_REAL,
    pass: arOf("CS", 0x93),
    fail: arOf("CS", 0x92),
  },
  {
    id: "guest.ss.type",
    name: "type 1 (read-only)",
    pass: arOf("SS", 0xc097),
    fail: arOf("SS", 0xc091),
  },
  { id: "guest.ss.type", name: "type 11 (code)", pass: arOf("SS", 0xc093), fail: arOf("SS", 0xc09b) },
);
for (const s of DATA) {
  cases.push(
    {
      id: `guest.${lc(s)}.type-accessed`,
      setup: usableSetup(s),
      pass: arOf(s, 0xc093),
      fail: arOf(s, 0xc092),
    },
    {
      id: `guest.${lc(s)}.code-readable`,
      setup: usableSetup(s),
      pass: arOf(s, 0xc09b),
      fail: arOf(s, 0xc099),
    },
  );
}

// ---- S (R15)
for (const s of CODE_DATA) {
  const flat = FLAT_AR[s]!;
  cases.push({
    id: `guest.${lc(s)}.s-set`,
    setup: usableSetup(s),
    pass: arOf(s, flat),
    // keep the type (11 for CS, 3 for data) and clear S: a busy TSS descriptor
    fail: arOf(s, flat & ~0x10),
  });
}

// ---- DPL (R16–R21)
cases.push(
  {
    id: "guest.cs.dpl-type3",
    setup: UG_REAL,
    pass: arOf("CS", 0x93),
    fail: arOf("CS", 0xb3),
  },
  {
    id: "guest.cs.dpl-eq-ss-dpl",
    name: "CS DPL 3, SS DPL 0",
    pass: arOf("CS", 0xa09b),
    fail: arOf("CS", 0xa0fb),
  },
  {
    id: "guest.cs.dpl-eq-ss-dpl",
    name: "type 9, CS DPL 0, SS DPL 1 under unrestricted guest",
    setup: UG_64,
    pass: { vmcs: { GUEST_CS_AR_BYTES: 0xa099, GUEST_SS_AR_BYTES: 0xc093 } },
    fail: { vmcs: { GUEST_CS_AR_BYTES: 0xa099, GUEST_SS_AR_BYTES: 0xc0b3 } },
  },
  {
    id: "guest.cs.dpl-le-ss-dpl",
    name: "conforming CS DPL 1 > SS DPL 0; DPL equal passes",
    pass: arOf("CS", 0xa09f),
    fail: arOf("CS", 0xa0bf),
  },
  {
    id: "guest.cs.dpl-le-ss-dpl",
    name: "type 13, CS DPL 3 > SS DPL 2",
    setup: {
      vmcs: { GUEST_CS_SELECTOR: 0x12, GUEST_SS_SELECTOR: 0x1a, GUEST_SS_AR_BYTES: 0xc0d3 },
    },
    pass: arOf("CS", 0xa09d),
    fail: arOf("CS", 0xa0fd),
  },
  {
    id: "guest.ss.dpl-eq-rpl",
    name: "SS DPL 3, RPL 0 (conforming CS so CS.DPL ≤ SS.DPL holds)",
    setup: arOf("CS", 0xa09f),
    pass: arOf("SS", 0xc093),
    fail: arOf("SS", 0xc0f3),
  },
  {
    id: "guest.ss.dpl-eq-rpl",
    name: "unusable SS is checked too",
    setup: arOf("CS", 0xa09f),
    pass: arOf("SS", 0x1c000),
    fail: arOf("SS", 0x1c060),
  },
  {
    id: "guest.ss.dpl-zero-cs-type3",
    setup: UG_PM32,
    pass: arOf("SS", 0xc093),
    fail: arOf("SS", 0xc0f3),
  },
  {
    id: "guest.ss.dpl-zero-real-mode",
    name: "real mode, conforming CS so CS.DPL ≤ SS.DPL holds",
    setup: merge(UG_REAL, arOf("CS", 0x9f)),
    pass: arOf("SS", 0x93),
    fail: arOf("SS", 0xf3),
  },
);
for (const s of DATA) {
  cases.push(
    {
      id: `guest.${lc(s)}.dpl-ge-rpl`,
      name: "RPL 3, DPL 0 data",
      setup: merge(usableSetup(s) ?? {}, { vmcs: { [`GUEST_${s}_SELECTOR`]: 0x1b } }),
      pass: arOf(s, 0xc0f3),
      fail: arOf(s, 0xc093),
    },
    {
      id: `guest.${lc(s)}.dpl-ge-rpl`,
      name: "RPL 2, DPL 1 non-conforming readable code (type 11, the last checked type)",
      setup: merge(usableSetup(s) ?? {}, { vmcs: { [`GUEST_${s}_SELECTOR`]: 0x1a } }),
      pass: arOf(s, 0xc0db),
      fail: arOf(s, 0xc0bb),
    },
    {
      id: `guest.${lc(s)}.dpl-ge-rpl`,
      name: "unusable, RPL 3 with DPL 0: not checked",
      setup: { vmcs: { [`GUEST_${s}_SELECTOR`]: 0x1b } },
      inapplicable: arOf(s, 0x10000),
    },
  );
}

// ---- P (R22), reserved 11:8 (R23)
for (const s of CODE_DATA) {
  const flat = FLAT_AR[s]!;
  cases.push(
    {
      id: `guest.${lc(s)}.present`,
      setup: usableSetup(s),
      pass: arOf(s, flat),
      fail: arOf(s, flat & ~0x80),
    },
    {
      id: `guest.${lc(s)}.ar-reserved-11-8`,
      name: "bit 8",
      setup: usableSetup(s),
      pass: arOf(s, flat),
      fail: arOf(s, flat | 0x100),
    },
    {
      id: `guest.${lc(s)}.ar-reserved-11-8`,
      name: "bit 11",
      setup: usableSetup(s),
      fail: arOf(s, flat | 0x800),
    },
  );
}

// ---- D/B (R24)
cases.push(
  {
    id: "guest.cs.l-and-d",
    name: "64-bit CS with D/B=1",
    pass: arOf("CS", 0xa09b),
    fail: arOf("CS", 0xe09b),
  },
  {
    id: "guest.cs.l-and-d",
    name: "compatibility-mode CS (L=0, D=1) passes",
    pass: { vmcs: { GUEST_CS_AR_BYTES: 0xc09b, GUEST_RIP: 0x81000000 } },
    fail: arOf("CS", 0xe09b),
  },
);

// ---- G (R25, R26) and reserved 31:17 (R27)
for (const s of CODE_DATA) {
  const flat = FLAT_AR[s]!;
  const limit = `GUEST_${s}_LIMIT`;
  const noG = flat & ~0x8000;
  cases.push(
    {
      id: `guest.${lc(s)}.g-limit-11-0`,
      name: "G=1, limit 0xfffffffe",
      setup: usableSetup(s),
      pass: { vmcs: { [limit]: 0xffffffff } },
      fail: { vmcs: { [limit]: 0xfffffffe } },
    },
    {
      id: `guest.${lc(s)}.g-limit-11-0`,
      name: "G=1, limit 0x100000 (boundary) vs 0xfffff",
      setup: usableSetup(s),
      pass: { vmcs: { [limit]: 0xfffff } },
      fail: { vmcs: { [limit]: 0x100000 } },
    },
    {
      id: `guest.${lc(s)}.g-limit-31-20`,
      name: "G=0, limit 0x100000 vs 0xfffff",
      setup: merge(usableSetup(s) ?? {}, arOf(s, noG)),
      pass: { vmcs: { [limit]: 0xfffff } },
      fail: { vmcs: { [limit]: 0x100000 } },
    },
    {
      id: `guest.${lc(s)}.g-limit-31-20`,
      name: "G=0, limit 0x80000000",
      setup: merge(usableSetup(s) ?? {}, arOf(s, noG)),
      pass: { vmcs: { [limit]: 0 } },
      fail: { vmcs: { [limit]: 0x80000000 } },
    },
    {
      id: `guest.${lc(s)}.ar-reserved-31-17`,
      name: "bit 17",
      setup: usableSetup(s),
      pass: arOf(s, flat),
      fail: arOf(s, flat | 0x20000),
    },
    {
      id: `guest.${lc(s)}.ar-reserved-31-17`,
      name: "bit 31",
      setup: usableSetup(s),
      fail: arOf(s, (flat | 0x80000000) >>> 0),
    },
  );
}

// ---- FRED (R28, R29)
cases.push(
  {
    id: "guest.ss.fred-dpl",
    name: "CPL 1 fails, CPL 3 passes",
    setup: FRED,
    pass: {
      vmcs: {
        GUEST_CS_SELECTOR: 0x33,
        GUEST_CS_AR_BYTES: 0xa0fb,
        GUEST_SS_SELECTOR: 0x2b,
        GUEST_SS_AR_BYTES: 0xc0f3,
      },
    },
    fail: {
      vmcs: {
        GUEST_CS_SELECTOR: 0x11,
        GUEST_CS_AR_BYTES: 0xa0bb,
        GUEST_SS_SELECTOR: 0x19,
        GUEST_SS_AR_BYTES: 0xc0b3,
      },
    },
  },
  {
    id: "guest.ss.fred-dpl",
    name: "CPL 2",
    setup: FRED,
    fail: {
      vmcs: {
        GUEST_CS_SELECTOR: 0x12,
        GUEST_CS_AR_BYTES: 0xa0db,
        GUEST_SS_SELECTOR: 0x1a,
        GUEST_SS_AR_BYTES: 0xc0d3,
      },
    },
  },
  {
    id: "guest.ss.fred-dpl0-cs-l",
    setup: merge(FRED, { vmcs: { GUEST_RIP: 0x81000000 } }),
    pass: arOf("CS", 0xa09b),
    fail: arOf("CS", 0xc09b),
  },
);

// ---- TR (R30–R37)
cases.push(
  { id: "guest.tr.type", name: "IA-32e: type 3 fails", pass: arOf("TR", 0x8b), fail: arOf("TR", 0x83) },
  {
    id: "guest.tr.type",
    name: "32-bit: type 3 passes, 9 fails",
    setup: PM32,
    pass: arOf("TR", 0x83),
    fail: arOf("TR", 0x89),
  },
  { id: "guest.tr.type", name: "32-bit: type 1 (available 16-bit TSS)", setup: PM32, fail: arOf("TR", 0x81) },
  { id: "guest.tr.s-clear", pass: arOf("TR", 0x8b), fail: arOf("TR", 0x9b) },
  { id: "guest.tr.present", pass: arOf("TR", 0x8b), fail: arOf("TR", 0x0b) },
  { id: "guest.tr.ar-reserved-11-8", pass: arOf("TR", 0x8b), fail: arOf("TR", 0x18b) },
  {
    id: "guest.tr.g-limit-11-0",
    pass: { vmcs: { GUEST_TR_AR_BYTES: 0x808b, GUEST_TR_LIMIT: 0x4fff } },
    fail: { vmcs: { GUEST_TR_AR_BYTES: 0x808b, GUEST_TR_LIMIT: 0x4087 } },
  },
  {
    id: "guest.tr.g-limit-31-20",
    pass: { vmcs: { GUEST_TR_LIMIT: 0xfffff } },
    fail: { vmcs: { GUEST_TR_LIMIT: 0x100000 } },
  },
  { id: "guest.tr.usable", pass: arOf("TR", 0x8b), fail: arOf("TR", 0x1008b) },
  { id: "guest.tr.ar-reserved-31-17", pass: arOf("TR", 0x8b), fail: arOf("TR", 0x2008b) },
);

// ---- LDTR (R38–R44)
cases.push(
  { id: "guest.ldtr.type", setup: LDTR_USABLE, pass: arOf("LDTR", 0x82), fail: arOf("LDTR", 0x83) },
  { id: "guest.ldtr.s-clear", setup: LDTR_USABLE, pass: arOf("LDTR", 0x82), fail: arOf("LDTR", 0x92) },
  { id: "guest.ldtr.present", setup: LDTR_USABLE, pass: arOf("LDTR", 0x82), fail: arOf("LDTR", 0x02) },
  {
    id: "guest.ldtr.ar-reserved-11-8",
    setup: LDTR_USABLE,
    pass: arOf("LDTR", 0x82),
    fail: arOf("LDTR", 0x882),
  },
  {
    id: "guest.ldtr.g-limit-11-0",
    setup: LDTR_USABLE,
    pass: { vmcs: { GUEST_LDTR_AR_BYTES: 0x8082, GUEST_LDTR_LIMIT: 0xfff } },
    fail: { vmcs: { GUEST_LDTR_AR_BYTES: 0x8082, GUEST_LDTR_LIMIT: 0xffe } },
  },
  {
    id: "guest.ldtr.g-limit-31-20",
    setup: LDTR_USABLE,
    pass: { vmcs: { GUEST_LDTR_LIMIT: 0xfffff } },
    fail: { vmcs: { GUEST_LDTR_LIMIT: 0x100000 } },
  },
  {
    id: "guest.ldtr.ar-reserved-31-17",
    setup: LDTR_USABLE,
    pass: arOf("LDTR", 0x82),
    fail: arOf("LDTR", 0x40082),
  },
);

/** One table per check module (src/checks/<module>.ts): the vectors of its checks. */
export const tables: VectorTables = { "guest-segments": cases };
export { cases };
