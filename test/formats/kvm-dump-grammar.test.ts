/**
 * KVM's own dump lines (src/formats/kvm-dump-grammar.ts): how much each kind of line says "this is KVM's
 * dump_vmcs()" against Xen's vmcs_dump_vcpu(), and the layout a dump's lines name. The real logs' layouts are
 * pinned in layouts.test.ts; these are the combinations no log in the corpus has (a fragment with one CET
 * line, a 4.x layout with a posted MSR-list series, evidence of both formats in one fragment).
 */
import { describe, expect, it } from "vitest";
import type { DumpFacts } from "../../src/formats/dump-grammar.js";
import { KVM_GRAMMAR, kvmLayoutIs4x } from "../../src/formats/kvm-dump-grammar.js";
import { logLines } from "../../src/formats/text.js";
import { newDump } from "../../src/formats/types.js";
import { parseVmcsDumps } from "../../src/formats/vmcs-dump.js";
import { XEN_GRAMMAR } from "../../src/formats/xen-dump-grammar.js";
import { facts } from "./dump-facts.js";

const NO_PREFIX: ReadonlySet<string> = new Set();
const kvm = (over: Partial<DumpFacts>) => KVM_GRAMMAR.evidence(facts(over), NO_PREFIX);

function layout(over: Partial<DumpFacts>): string {
  const d = newDump("kvm-dump", "", 1);
  KVM_GRAMMAR.finish(d, facts(over));
  return d.layout;
}

const dumps = (lines: string[]) => parseVmcsDumps(logLines(`${lines.join("\n")}\n`));

describe("KVM_GRAMMAR.evidence: what only KVM prints, and its weight", () => {
  it("lines both formats print are no evidence", () => {
    expect(kvm({ keys: new Set(["cr3", "rip", "efer", "pat", "pinbased", "cpubased"]) })).toBe(0);
    expect(kvm({ flags: new Set(["vmcs", "msr ll"]), positional: true, eferWithPat: true })).toBe(0);
  });
  it("the 5.3+ header weighs 4, the MSR lists 2, an (effective) or (autoload) EFER 2", () => {
    expect(kvm({ header: true })).toBe(4);
    expect(kvm({ msrLists: true })).toBe(2);
    expect(kvm({ flags: new Set(["effective"]) })).toBe(2);
    expect(kvm({ flags: new Set(["autoload"]) })).toBe(2);
    expect(kvm({ flags: new Set(["effective", "autoload"]) })).toBe(2);
  });
  for (const key of ["cs.sel", "ss.attr", "pdptr0", "svi|rvi", "apic-access addr", "virt-apic addr", "pkrs"])
    it(`a "${key}" line weighs 1`, () => {
      expect(kvm({ keys: new Set([key, "cr3"]) })).toBe(1);
    });
  it("everything at once: 15", () => {
    const all = ["cs.sel", "ss.attr", "pdptr0", "svi|rvi", "apic-access addr", "virt-apic addr", "pkrs"];
    expect(kvm({ header: true, msrLists: true, flags: new Set(["effective"]), keys: new Set(all) })).toBe(15);
  });
  it("the header outweighs Xen's segment table and one Xen-only line (a tie goes to KVM)", () => {
    const f = facts({ header: true, positional: true, keys: new Set(["pdpte0"]) });
    expect(KVM_GRAMMAR.evidence(f, NO_PREFIX)).toBe(4);
    expect(XEN_GRAMMAR.evidence(f, NO_PREFIX)).toBe(4);
  });
});

describe("fragments: the format the lines decide", () => {
  const XEN_ONE = "EPT pointer = 0x000000011aa2d01e  EPTP index = 0x0000";
  it("one KVM-only line against one Xen-only line: KVM (the tie)", () => {
    for (const kvmLine of [
      "CS:   sel=0x0010, attr=0x0a09b, limit=0xffffffff, base=0x0000000000000000",
      "PDPTR0 = 0x0000003300050011  PDPTR1 = 0x0000000000000000",
      "SVI|RVI = 00|2f TPR Threshold = 0x00",
      "virt-APIC addr = 0x000000014afe7000",
      "PKRS = 0x0000000055555554",
    ])
      expect(
        dumps([kvmLine, XEN_ONE]).map((d) => d.format),
        kvmLine,
      ).toEqual(["kvm-dump"]);
  });
  it("an SS line and an APIC-access line each count", () => {
    for (const kvmLine of [
      "SS:   sel=0x0018, attr=0x0c093, limit=0xffffffff, base=0x0000000000000000",
      "APIC-access addr = 0x000000014516c000",
    ])
      expect(
        dumps([kvmLine, XEN_ONE]).map((d) => d.format),
        kvmLine,
      ).toEqual(["kvm-dump"]);
  });
  it("an (effective) or (autoload) EFER outweighs one Xen-only line, which alone makes a fragment Xen's", () => {
    expect(dumps(["EFER= 0x0000000000000500 (effective)", XEN_ONE]).map((d) => d.format)).toEqual([
      "kvm-dump",
    ]);
    expect(dumps(["EFER= 0x0000000000000d01 (autoload)", XEN_ONE]).map((d) => d.format)).toEqual([
      "kvm-dump",
    ]);
    expect(dumps(["CR3 = 0x000000013cbf4002", XEN_ONE]).map((d) => d.format)).toEqual(["xen-dump"]);
  });
});

describe("KVM_GRAMMAR.finish: the layout's name", () => {
  it("4.x–5.2: EFER and PAT on one line, PinBased first, no header", () => {
    expect(layout({ eferWithPat: true, pinFirst: true })).toBe("Linux 4.x–5.2 layout");
    // a 4.x layout with a posted series' MSR lists is still 4.x
    expect(layout({ eferWithPat: true, pinFirst: true, msrLists: true })).toBe(
      "Linux 4.x–5.2 layout (MSR lists)",
    );
    // the guest lines of a 4.x dump alone (the controls not quoted)
    expect(layout({ eferWithPat: true })).toBe("Linux 4.x–5.2 layout");
  });
  it("a header makes it 5.3+, whatever the EFER line looks like", () => {
    expect(layout({ eferWithPat: true, pinFirst: true, header: true })).toBe("Linux 5.3–5.16 layout");
    expect(layout({ eferWithPat: true, header: true, controls0x: true })).toBe("Linux 5.17+ layout");
  });
  it("5.3–5.16 from MSR lists without the EFER/PAT line; a plain fragment is just Linux", () => {
    expect(layout({ msrLists: true })).toBe("Linux 5.3–5.16 layout (MSR lists)");
    expect(layout({})).toBe("Linux layout");
  });
  it("CET from either of its lines (the out-of-tree series prints S_CET and SSP on lines of their own)", () => {
    expect(layout({ controls0x: true, keys: new Set(["s_cet"]) })).toBe("Linux 5.17+ layout (CET)");
    expect(layout({ controls0x: true, keys: new Set(["ssp"]) })).toBe("Linux 5.17+ layout (CET)");
    expect(layout({ controls0x: true, keys: new Set(["ssp table"]) })).toBe("Linux 5.17+ layout");
    expect(
      layout({ controls0x: true, msrLists: true, keys: new Set(["tertiaryexec", "s_cet", "ssp", "pkrs"]) }),
    ).toBe("Linux 5.17+ layout (TertiaryExec, MSR lists, CET, PKRS)");
  });
  it("kvmLayoutIs4x reads the name", () => {
    const d = newDump("kvm-dump", "Linux 5.17+ layout (TertiaryExec)", 1);
    expect(kvmLayoutIs4x(d)).toBe(false);
    d.layout = "Linux 4.x–5.2 layout (CET)";
    expect(kvmLayoutIs4x(d)).toBe(true);
  });
  it("end to end: the guest lines of a 4.x dump quoted without header or controls", () => {
    const [d] = dumps([
      "CR3 = 0x000000013cbf4002",
      "EFER =     0x0000000000000d01  PAT = 0x0007010600070106",
      "DebugCtl = 0x0000000000000000  DebugExceptions = 0x0000000000000000",
    ]);
    expect(d?.format).toBe("kvm-dump");
    expect(d?.layout).toBe("Linux 4.x–5.2 layout, fragment without section headers");
  });
});
