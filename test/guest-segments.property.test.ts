/**
 * SDM 29.3.1.2 guest segment checks: the mode setups are valid as a whole, every vector behaves as stated
 * against this module alone, and (property) the module's verdicts for CS, SS and TR agree with a direct,
 * independent transcription of the SDM rules over random access rights, selectors, limits, bases and modes.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { resolveFieldKey } from "../src/arch/fields.js";
import guestSegmentsSection from "../src/checks/guest-segments.js";

const guestSegmentsChecks = guestSegmentsSection.checks;

import type { Entry } from "../src/entry/document.js";
import { runEntry } from "../src/entry/run.js";
import { capsOf, ids, type Patch, profileAll, run, runs, state } from "./helpers.js";
import { cases, FRED, merge, PM32, SETUPS, UG_64, UG_PM32, UG_REAL, V86 } from "./vectors/guest-segments.js";

const caps = profileAll();
const own = (e: Entry) => ids(runEntry(e, guestSegmentsChecks)).sort();

describe("guest-segment mode setups", () => {
  for (const [name, p] of Object.entries(SETUPS)) {
    it(`${name} is a valid state for the whole checker`, () => {
      expect(ids(run(caps, p))).toEqual([]);
    });
  }
});

describe("guest-segment vectors against this module alone", () => {
  for (const c of cases) {
    const cc = capsOf(c);
    if (c.fail)
      it(`${c.id}: ${c.name ?? "fails alone"} / passes`, () => {
        expect(own(state(cc, c.setup, c.fail))).toEqual([c.id, ...(c.alsoFails ?? [])].sort());
        expect(own(state(cc, c.setup, c.pass))).toEqual([]);
      });
    if (c.inapplicable)
      it(`${c.id}: ${c.name ?? "does not apply"} / nothing fails`, () => {
        expect(own(state(cc, c.setup, c.inapplicable))).toEqual([]);
      });
  }
});

describe("guest-segment rules that do not apply", () => {
  const none: [string, Patch][] = [
    [
      "unusable LDTR with TI=1 and junk AR",
      { vmcs: { GUEST_LDTR_SELECTOR: 0x54, GUEST_LDTR_AR_BYTES: 0x1ffff } },
    ],
    [
      "unusable DS with bits 63:32 of the base set",
      { vmcs: { GUEST_DS_AR_BYTES: 0x1c000, GUEST_DS_BASE: 1n << 40n } },
    ],
    ["unusable SS with a bad type (DPL = RPL)", { vmcs: { GUEST_SS_AR_BYTES: 0x1c0f1 & ~0x60 } }],
    ["SS RPL ≠ CS RPL under unrestricted guest", merge(UG_64, { vmcs: { GUEST_CS_SELECTOR: 0x13 } })],
    ["DS RPL 3 > DPL 0 under unrestricted guest", merge(UG_64, { vmcs: { GUEST_DS_SELECTOR: 0x1b } })],
    [
      "DS RPL 3 > DPL 0 for conforming readable code",
      { vmcs: { GUEST_DS_SELECTOR: 0x1b, GUEST_DS_AR_BYTES: 0xc09f } },
    ],
    [
      "SS DPL 3 with RPL 0 under unrestricted guest (conforming CS)",
      merge(UG_64, { vmcs: { GUEST_CS_AR_BYTES: 0xa09f, GUEST_SS_AR_BYTES: 0xc0f3 } }),
    ],
    [
      "virtual-8086: protected-mode rules off (SS RPL ≠ CS RPL)",
      merge(V86, { vmcs: { GUEST_CS_SELECTOR: 0x1003, GUEST_CS_BASE: 0x10030 } }),
    ],
    ["TR type 3 outside IA-32e mode", merge(PM32, { vmcs: { GUEST_TR_AR_BYTES: 0x83 } })],
    ["CS type 3 in unrestricted 32-bit protected mode", UG_PM32],
    ["real mode with conforming CS", merge(UG_REAL, { vmcs: { GUEST_CS_AR_BYTES: 0x9f } })],
    [
      "FRED, CPL 3 in compatibility mode",
      merge(FRED, {
        vmcs: {
          GUEST_CS_SELECTOR: 0x23,
          GUEST_CS_AR_BYTES: 0xc0fb,
          GUEST_SS_SELECTOR: 0x2b,
          GUEST_SS_AR_BYTES: 0xc0f3,
          GUEST_RIP: 0x401000,
        },
      }),
    ],
    [
      "G=1 with limit 0xfff; G=0 with limit 0xfffff",
      { vmcs: { GUEST_CS_LIMIT: 0xfff, GUEST_SS_AR_BYTES: 0x4093, GUEST_SS_LIMIT: 0xfffff } },
    ],
  ];
  for (const [name, p] of none) {
    it(name, () => {
      expect(own(state(caps, p))).toEqual([]);
    });
  }
});

describe("base rules need Intel 64", () => {
  it("are skipped on a processor without Intel 64 (IA32_VMX_BASIC[48] = 1)", () => {
    const noLm = profileAll((d) => {
      d.msrs.IA32_VMX_BASIC = "0x4db100000000004";
    });
    const p: Patch = {
      vmcs: {
        GUEST_TR_BASE: 0x0000800000000000n,
        GUEST_CS_BASE: 1n << 32n,
        GUEST_SS_BASE: 1n << 32n,
        GUEST_FS_BASE: 0x0000800000000000n,
      },
    };
    expect(own(state(caps, p))).toEqual([
      "guest.cs.base-high-zero",
      "guest.fs.base-canonical",
      "guest.ss.base-high-zero",
      "guest.tr.base-canonical",
    ]);
    expect(own(state(noLm, p))).toEqual([]);
  });
});

describe("messages decode access rights and say what is valid", () => {
  it("CS type", () => {
    const r = runEntry(state(caps, { vmcs: { GUEST_CS_AR_BYTES: 0xa093 } }), guestSegmentsChecks);
    expect(r.violations[0]!.message).toMatch(/type=3 data read\/write accessed, S=1, DPL=0, P=1/);
    expect(r.violations[0]!.message).toMatch(/9, 11, 13 or 15/);
    expect(r.outcome).toEqual({ type: "vmexit", reason: 33, qualification: 0 });
  });
});

// ---------------------------------------------------------------------------------------------------------
// Independent formulation of the SDM 29.3.1.2 rules for CS, SS and TR (read straight from the VMCS values).

interface Ar {
  type: number;
  s: number;
  dpl: number;
  p: number;
  res11_8: number;
  l: number;
  db: number;
  g: number;
  unusable: number;
  res31_17: number;
}
function decode(ar: number): Ar {
  const bit = (n: number) => Math.floor(ar / 2 ** n) % 2;
  return {
    type: ar % 16,
    s: bit(4),
    dpl: bit(5) + 2 * bit(6),
    p: bit(7),
    res11_8: Math.floor(ar / 256) % 16,
    l: bit(13),
    db: bit(14),
    g: bit(15),
    unusable: bit(16),
    res31_17: Math.floor(ar / 2 ** 17),
  };
}

function oracle(e: Entry): string[] {
  const get = (name: string) => e.vmcs.get(resolveFieldKey(name)!.field.index);
  const num = (name: string) => Number(get(name));
  const v86 = ((get("GUEST_RFLAGS") >> 17n) & 1n) === 1n;
  const ia32e = ((get("VM_ENTRY_CONTROLS") >> 9n) & 1n) === 1n;
  const secondaryOn = ((get("CPU_BASED_VM_EXEC_CONTROL") >> 31n) & 1n) === 1n;
  const ug = secondaryOn && ((get("SECONDARY_VM_EXEC_CONTROL") >> 7n) & 1n) === 1n;
  const pe = get("GUEST_CR0") & 1n;
  const fred = ia32e && ((get("GUEST_CR4") >> 32n) & 1n) === 1n;
  const cs = decode(num("GUEST_CS_AR_BYTES"));
  const ss = decode(num("GUEST_SS_AR_BYTES"));
  const tr = decode(num("GUEST_TR_AR_BYTES"));
  const csRpl = num("GUEST_CS_SELECTOR") % 4;
  const ssRpl = num("GUEST_SS_SELECTOR") % 4;
  const out: string[] = [];
  const add = (cond: boolean, id: string) => {
    if (cond) out.push(id);
  };
  const canonical48 = (v: bigint) => {
    const top = v >> 47n;
    return top === 0n || top === (1n << 17n) - 1n;
  };
  const gRules = (name: string, a: Ar, limit: number) => {
    add(a.g === 1 && limit % 4096 !== 4095, `guest.${name}.g-limit-11-0`);
    add(a.g === 0 && limit > 0xfffff, `guest.${name}.g-limit-31-20`);
  };

  // selectors
  add((num("GUEST_TR_SELECTOR") & 4) !== 0, "guest.tr.selector-ti");
  add(!v86 && !ug && ssRpl !== csRpl, "guest.ss.rpl-eq-cs-rpl");
  // bases
  for (const [n, a] of [
    ["cs", cs],
    ["ss", ss],
  ] as const) {
    const up = n.toUpperCase();
    if (v86)
      add(get(`GUEST_${up}_BASE`) !== BigInt(num(`GUEST_${up}_SELECTOR`)) * 16n, `guest.${n}.v86-base`);
    if (n === "cs" || a.unusable === 0)
      add(get(`GUEST_${up}_BASE`) >> 32n !== 0n, `guest.${n}.base-high-zero`);
    if (v86) add(num(`GUEST_${up}_LIMIT`) !== 0xffff, `guest.${n}.v86-limit`);
    if (v86) add(num(`GUEST_${up}_AR_BYTES`) !== 0xf3, `guest.${n}.v86-ar`);
  }
  add(!canonical48(get("GUEST_TR_BASE")), "guest.tr.base-canonical");
  // access rights, protected/real mode
  if (!v86) {
    add(!([9, 11, 13, 15].includes(cs.type) || (ug && cs.type === 3)), "guest.cs.type");
    add(ss.unusable === 0 && ![3, 7].includes(ss.type), "guest.ss.type");
    add(cs.s === 0, "guest.cs.s-set");
    add(ss.unusable === 0 && ss.s === 0, "guest.ss.s-set");
    add(cs.type === 3 && cs.dpl !== 0, "guest.cs.dpl-type3");
    add((cs.type === 9 || cs.type === 11) && cs.dpl !== ss.dpl, "guest.cs.dpl-eq-ss-dpl");
    add((cs.type === 13 || cs.type === 15) && cs.dpl > ss.dpl, "guest.cs.dpl-le-ss-dpl");
    add(!ug && ss.dpl !== ssRpl, "guest.ss.dpl-eq-rpl");
    add(cs.type === 3 && ss.dpl !== 0, "guest.ss.dpl-zero-cs-type3");
    add(pe === 0n && ss.dpl !== 0, "guest.ss.dpl-zero-real-mode");
    add(cs.p === 0, "guest.cs.present");
    add(ss.unusable === 0 && ss.p === 0, "guest.ss.present");
    add(cs.res11_8 !== 0, "guest.cs.ar-reserved-11-8");
    add(ss.unusable === 0 && ss.res11_8 !== 0, "guest.ss.ar-reserved-11-8");
    add(ia32e && cs.l === 1 && cs.db === 1, "guest.cs.l-and-d");
    gRules("cs", cs, num("GUEST_CS_LIMIT"));
    if (ss.unusable === 0) gRules("ss", ss, num("GUEST_SS_LIMIT"));
    add(cs.res31_17 !== 0, "guest.cs.ar-reserved-31-17");
    add(ss.unusable === 0 && ss.res31_17 !== 0, "guest.ss.ar-reserved-31-17");
  }
  if (fred) {
    add(ss.dpl === 1 || ss.dpl === 2, "guest.ss.fred-dpl");
    add(ss.dpl === 0 && cs.l === 0, "guest.ss.fred-dpl0-cs-l");
  }
  // TR
  add(ia32e ? tr.type !== 11 : tr.type !== 3 && tr.type !== 11, "guest.tr.type");
  add(tr.s !== 0, "guest.tr.s-clear");
  add(tr.p !== 1, "guest.tr.present");
  add(tr.res11_8 !== 0, "guest.tr.ar-reserved-11-8");
  gRules("tr", tr, num("GUEST_TR_LIMIT"));
  add(tr.unusable !== 0, "guest.tr.usable");
  add(tr.res31_17 !== 0, "guest.tr.ar-reserved-31-17");
  return out.sort();
}

const MODES: Record<string, Patch> = {
  ia32e: {},
  fred: FRED,
  pm32: PM32,
  v86: V86,
  ugReal: UG_REAL,
  ugPm32: UG_PM32,
  ug64: UG_64,
  ugFred: merge(UG_64, FRED),
};

/** Access rights: mostly well-formed descriptors with one or two odd bits, sometimes anything at all. */
const arb32 = fc.integer({ min: 0, max: 0xffffffff });
const arAr = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({
        type: fc.integer({ min: 0, max: 15 }),
        s: fc.integer({ min: 0, max: 1 }),
        dpl: fc.integer({ min: 0, max: 3 }),
        p: fc.integer({ min: 0, max: 1 }),
        avl: fc.integer({ min: 0, max: 1 }),
        l: fc.integer({ min: 0, max: 1 }),
        db: fc.integer({ min: 0, max: 1 }),
        g: fc.integer({ min: 0, max: 1 }),
        unusable: fc.integer({ min: 0, max: 1 }),
        junk: fc.oneof(
          { weight: 8, arbitrary: fc.constant(0) },
          { weight: 1, arbitrary: fc.constantFrom(0x100, 0x800, 0x20000, 0x80000000) },
        ),
      })
      .map(
        (r) =>
          (r.type |
            (r.s << 4) |
            (r.dpl << 5) |
            (r.p << 7) |
            (r.avl << 12) |
            (r.l << 13) |
            (r.db << 14) |
            (r.g << 15) |
            (r.unusable << 16) |
            r.junk) >>>
          0,
      ),
  },
  { weight: 1, arbitrary: fc.constantFrom(0xf3, 0x93, 0x9b, 0x8b, 0x83, 0xa09b, 0xc093, 0x1c000, 0x10000) },
  { weight: 1, arbitrary: arb32 },
);
const limitAr = fc.oneof(
  fc.constantFrom(0, 0xfff, 0xffe, 0xffff, 0xfffff, 0x100000, 0x100fff, 0xfffffffe, 0xffffffff, 0x4087),
  arb32,
);
const baseAr = fc.oneof(
  fc.constantFrom(
    0n,
    0x10000n,
    0xfffff000n,
    0x100000000n,
    0x00007fffffffffffn,
    0x0000800000000000n,
    0xffff800000000000n,
  ),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
);
const selAr = fc.oneof(
  fc.integer({ min: 0, max: 0xffff }),
  fc.constantFrom(0x10, 0x13, 0x18, 0x1b, 0x40, 0x44),
);

describe("property: CS, SS and TR verdicts match the SDM rules", () => {
  it("over random access rights × modes", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.keys(MODES)),
        fc.record({
          csAr: arAr,
          ssAr: arAr,
          trAr: arAr,
          csSel: selAr,
          ssSel: selAr,
          trSel: selAr,
          csLimit: limitAr,
          ssLimit: limitAr,
          trLimit: limitAr,
          csBase: baseAr,
          ssBase: baseAr,
          trBase: baseAr,
          keep: fc.constantFrom("none", "bases", "all"),
        }),
        (mode, r) => {
          const vmcs: NonNullable<Patch["vmcs"]> = {
            GUEST_CS_AR_BYTES: r.csAr,
            GUEST_SS_AR_BYTES: r.ssAr,
            GUEST_TR_AR_BYTES: r.trAr,
            GUEST_CS_SELECTOR: r.csSel,
            GUEST_SS_SELECTOR: r.ssSel,
            GUEST_TR_SELECTOR: r.trSel,
            GUEST_CS_LIMIT: r.csLimit,
            GUEST_SS_LIMIT: r.ssLimit,
            GUEST_TR_LIMIT: r.trLimit,
          };
          // keep the mode's own bases/limits sometimes, so v86/real-mode states also pass the base rules
          if (r.keep !== "all") {
            vmcs["GUEST_CS_BASE"] = r.csBase;
            vmcs["GUEST_SS_BASE"] = r.ssBase;
          }
          if (r.keep === "none") vmcs["GUEST_TR_BASE"] = r.trBase;
          const e = state(caps, MODES[mode], { vmcs });
          const got = own(e).filter((id) => /^guest\.(cs|ss|tr)\./.test(id));
          expect(got).toEqual(oracle(e));
        },
      ),
      { numRuns: runs(3000) },
    );
  });
});
