/**
 * Xen's own dump lines (src/formats/xen-dump-grammar.ts): the positional segment table of vmcs_dump_vcpu()
 * (xen/arch/x86/hvm/vmx/vmcs.c, Xen 4.x: "  CS: %04x %05x %08x %016lx" under "sel attr limit base", "GDTR:
 * %08x %016lx"), whole, cut off or damaged, read as the reader passes it (prefix stripped, white space
 * collapsed); how much each kind of line says "this is Xen's dump"; and the layout's name.
 */
import { describe, expect, it } from "vitest";
import type { DumpFacts } from "../../src/formats/dump-grammar.js";
import { KVM_GRAMMAR } from "../../src/formats/kvm-dump-grammar.js";
import { newDump } from "../../src/formats/types.js";
import { XEN_GRAMMAR } from "../../src/formats/xen-dump-grammar.js";
import { facts } from "./dump-facts.js";

const pos = (t: string) => {
  const r = XEN_GRAMMAR.positional?.(t);
  return r && { ...r, values: r.values.map(([f, v]) => `${f}=0x${v.toString(16)}`) };
};

describe("the positional segment table", () => {
  it("the column header is a line of the table with no values", () => {
    expect(pos("sel attr limit base")).toEqual({ state: "complete", values: [], notes: [] });
    expect(pos("sel attr limit base x")).toBeUndefined();
  });
  it("segment lines: selector, access rights, limit, base (any case of the name)", () => {
    const cs = [
      "GUEST_CS_SELECTOR=0x10",
      "GUEST_CS_AR_BYTES=0x209b",
      "GUEST_CS_LIMIT=0x0",
      "GUEST_CS_BASE=0x0",
    ];
    expect(pos("CS: 0010 0209b 00000000 0000000000000000")).toEqual({
      state: "complete",
      values: cs,
      notes: [],
    });
    expect(pos("cs: 0010 0209b 00000000 0000000000000000")?.values).toEqual(cs);
    expect(pos("LDTR: 0000 1c000 ffffffff 0000000000000000")?.values).toEqual([
      "GUEST_LDTR_SELECTOR=0x0",
      "GUEST_LDTR_AR_BYTES=0x1c000",
      "GUEST_LDTR_LIMIT=0xffffffff",
      "GUEST_LDTR_BASE=0x0",
    ]);
    expect(pos("TR: 0040 0008b 00000067 fffff80459c60000")?.values).toEqual([
      "GUEST_TR_SELECTOR=0x40",
      "GUEST_TR_AR_BYTES=0x8b",
      "GUEST_TR_LIMIT=0x67",
      "GUEST_TR_BASE=0xfffff80459c60000",
    ]);
  });
  it("GDTR and IDTR: limit and base", () => {
    expect(pos("GDTR: 00000057 fffff80459c61fb0")).toEqual({
      state: "complete",
      values: ["GUEST_GDTR_LIMIT=0x57", "GUEST_GDTR_BASE=0xfffff80459c61fb0"],
      notes: [],
    });
    expect(pos("IDTR: 0000012f ffffd18a014a0980")?.values).toEqual([
      "GUEST_IDTR_LIMIT=0x12f",
      "GUEST_IDTR_BASE=0xffffd18a014a0980",
    ]);
    expect(pos("GDTR: 00000057")).toEqual({
      state: "prefix",
      values: ["GUEST_GDTR_LIMIT=0x57"],
      notes: ["the line stops before GUEST_GDTR_BASE: unknown"],
    });
  });
  it("a line cut off: the cut value and the columns after it are unknown", () => {
    expect(pos("CS: 0010 0209b 000000")).toEqual({
      state: "prefix",
      values: ["GUEST_CS_SELECTOR=0x10", "GUEST_CS_AR_BYTES=0x209b"],
      notes: [
        '"000000" has 6 hex digits where Xen prints 8: the value is cut off, so GUEST_CS_LIMIT is unknown',
        "the line stops before GUEST_CS_BASE: unknown",
      ],
    });
    expect(pos("CS: 0010 0209b")).toEqual({
      state: "prefix",
      values: ["GUEST_CS_SELECTOR=0x10", "GUEST_CS_AR_BYTES=0x209b"],
      notes: ["the line stops before GUEST_CS_LIMIT, GUEST_CS_BASE: unknown"],
    });
    expect(pos("CS: 0010 0209b 00000000 0")).toEqual({
      state: "prefix",
      values: ["GUEST_CS_SELECTOR=0x10", "GUEST_CS_AR_BYTES=0x209b", "GUEST_CS_LIMIT=0x0"],
      notes: ['"0" has 1 hex digit where Xen prints 16: the value is cut off, so GUEST_CS_BASE is unknown'],
    });
  });
  it("a short or damaged column inside the line: that field is unknown, the line is whole", () => {
    expect(pos("CS: 0010 209b 00000000 0000000000000000")).toEqual({
      state: "complete",
      values: ["GUEST_CS_SELECTOR=0x10", "GUEST_CS_LIMIT=0x0", "GUEST_CS_BASE=0x0"],
      notes: [
        '"209b" has 4 hex digits where Xen prints 5: the value is cut off, so GUEST_CS_AR_BYTES is unknown',
      ],
    });
    expect(pos("CS: 10 0209b 00000000 0000000000000000")?.notes).toEqual([
      '"10" has 2 hex digits where Xen prints 4: the value is cut off, so GUEST_CS_SELECTOR is unknown',
    ]);
    expect(pos("GDTR: 0057 fffff80459c61fb0")).toEqual({
      state: "complete",
      values: ["GUEST_GDTR_BASE=0xfffff80459c61fb0"],
      notes: [
        '"0057" has 4 hex digits where Xen prints 8: the value is cut off, so GUEST_GDTR_LIMIT is unknown',
      ],
    });
    expect(pos("CS: 0010 02g9b 00000000 0000000000000000")).toEqual({
      state: "complete",
      values: ["GUEST_CS_SELECTOR=0x10", "GUEST_CS_LIMIT=0x0", "GUEST_CS_BASE=0x0"],
      notes: ['"02g9b" is not a hex number: GUEST_CS_AR_BYTES is unknown'],
    });
  });
  it("not a positional line: KVM's labelled form, other labels, extra columns, a first column not hex", () => {
    for (const t of [
      "CS: sel=0x0010, attr=0x0a09b, limit=0xffffffff, base=0x0000000000000000",
      "CS: 0010 attr=0x0a09b",
      "CR0: actual=0x0000000080050031, shadow=0x0000000080050031, gh_mask=ffffffffffffffff",
      "CS: 0010 0209b 00000000 0000000000000000 0000",
      "CS: zz10 0209b 00000000 0000000000000000",
      "CS: 00g0 0209b 00000000 0000000000000000",
      "X: 0010 0209b 00000000 0000000000000000",
      "GDTRX: 00000057 fffff80459c61fb0",
      "CS 0010 0209b 00000000 0000000000000000",
      "CS: ",
    ])
      expect(pos(t), t).toBeUndefined();
  });
});

const xen = (over: Partial<DumpFacts>, prefixes: string[] = []) =>
  XEN_GRAMMAR.evidence(facts(over), new Set(prefixes));

describe("XEN_GRAMMAR.evidence: what only Xen prints, and its weight", () => {
  it("lines both formats print, KVM's flags and prefixes without (XEN) are no evidence", () => {
    expect(
      xen(
        {
          keys: new Set(["cr3", "efer", "pat", "cs.sel", "pdptr0"]),
          flags: new Set(["effective"]),
          header: true,
        },
        ["kernel: ", "[ 12.5] "],
      ),
    ).toBe(0);
  });
  it('4 for each "(XEN)" prefix form, 3 for the segment table, 2 for EFER(VMCS) or EFER(MSR LL)', () => {
    expect(xen({}, ["(XEN) "])).toBe(4);
    expect(xen({}, ["(XEN) ", "(XEN) [2019-11-02 14:09:46] "])).toBe(8);
    expect(xen({ positional: true })).toBe(3);
    expect(xen({ flags: new Set(["vmcs"]) })).toBe(2);
    expect(xen({ flags: new Set(["msr ll"]) })).toBe(2);
    expect(xen({ flags: new Set(["vmcs", "msr ll"]) })).toBe(2);
  });
  for (const key of [
    "preemptiontimer",
    "sm base",
    "eptp index",
    "vmfunc controls",
    "pdpte0",
    "spec_ctrl mask",
  ])
    it(`a "${key}" line weighs 1`, () => {
      expect(xen({ keys: new Set([key, "cr3"]) })).toBe(1);
    });
  it("the segment table and EFER(VMCS) outweigh KVM's header (5 against 4)", () => {
    const f = facts({ header: true, positional: true, flags: new Set(["vmcs"]) });
    expect(XEN_GRAMMAR.evidence(f, new Set())).toBe(5);
    expect(KVM_GRAMMAR.evidence(f, new Set())).toBe(4);
  });
});

describe("XEN_GRAMMAR.finish: the layout's name", () => {
  const layout = (over: Partial<DumpFacts>) => {
    const d = newDump("xen-dump", "", 1);
    XEN_GRAMMAR.finish(d, facts(over));
    return d.layout;
  };
  it("TertiaryExec (4.17+), the EFER/PAT line of every whole dump, or partial", () => {
    expect(layout({ keys: new Set(["tertiaryexec"]) })).toBe("Xen vmcs_dump_vcpu (4.17+, with TertiaryExec)");
    expect(layout({ keys: new Set(["tertiaryexec"]), eferWithPat: true })).toBe(
      "Xen vmcs_dump_vcpu (4.17+, with TertiaryExec)",
    );
    expect(layout({ eferWithPat: true })).toBe("Xen vmcs_dump_vcpu");
    expect(layout({ keys: new Set(["cr3"]) })).toBe("Xen vmcs_dump_vcpu (partial)");
  });
});
