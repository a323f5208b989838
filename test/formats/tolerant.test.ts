/**
 * What people really paste (issue 14): every damaged form of a log gives the findings of its clean, complete
 * counterpart, or an honest "possible" — never a definite violation resting on a value the log lacks, never
 * a plain "succeeds" while something the log hides could make the entry fail.
 *
 * The clean counterpart is test/formats/samples/kvm-4x-cs-l-and-d-synthetic.txt (a complete dump whose CS
 * has L = 1 and D/B = 1 in an IA-32e guest); the damaged forms below are built from it line by line.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseInput } from "../../src/formats/detect.js";
import { type Explanation, explainDump } from "../../src/formats/explain.js";
import { describeResultOutcome } from "../../src/report.js";

const raw = readFileSync(new URL("./samples/kvm-4x-cs-l-and-d-synthetic.txt", import.meta.url), "utf8");
/** The dump's own lines (the sample's 5-line description removed), with their mail/syslog prefixes. */
const BODY = raw.split("\n").slice(5);
/** The same lines without the "> Mar  3 … kernel: [ … ] " prefix. */
const PLAIN = BODY.map((l) =>
  l.replace(/^> /, "").replace(/^Mar {2}3 10:22:01 build7 kernel: \[ \d+\.\d+\] /, ""),
);

function explain(text: string): Explanation[] {
  const p = parseInput(new TextEncoder().encode(text));
  if (p.format !== "logs") throw new Error(`not a log: ${p.format}`);
  return p.dumps.map((d) => explainDump(d));
}
const ids = (x: Explanation) => x.result.violations.map((v) => v.id).sort();
const possibleIds = (x: Explanation) =>
  (x.result.possible ?? []).flatMap((p) => p.violations.map((v) => v.id));

const clean = explain(BODY.join("\n"));

describe("the clean counterpart", () => {
  it("is one dump with guest.cs.l-and-d definite and nothing possible", () => {
    expect(clean).toHaveLength(1);
    expect(ids(clean[0]!)).toContain("guest.cs.l-and-d");
    expect(clean[0]!.result.possible).toBeUndefined();
    expect(clean[0]!.dump.warnings).toEqual([]);
  });
});

describe("one odd line does not split the dump", () => {
  const csAt = PLAIN.findIndex((l) => l.startsWith("CS: "));
  it("an interleaved line from another program is skipped, named in a warning", () => {
    const lines = PLAIN.slice();
    lines.splice(csAt + 2, 0, "kvm [4321]: vcpu1, guest rIP: 0xffffffff8105e1b6 ignored rdmsr: 0x1a0");
    const xs = explain(lines.join("\n"));
    expect(xs).toHaveLength(1);
    expect(ids(xs[0]!)).toEqual(ids(clean[0]!));
    expect(xs[0]!.dump.warnings.join("\n")).toMatch(
      /line \d+ is not part of the dump and was skipped: "kvm \[4321\]/,
    );
  });
  it("a non-hex digit makes that one value unknown", () => {
    const lines = PLAIN.map((l) => l.replace("DS:   sel=0x0018", "DS:   sel=0x00g8"));
    const [x] = explain(lines.join("\n"));
    expect(ids(x!)).toEqual(ids(clean[0]!));
    expect(x!.dump.values.has("GUEST_DS_SELECTOR")).toBe(false);
    expect(x!.dump.values.get("GUEST_DS_AR_BYTES")).toBe(0xc093n);
    expect(x!.dump.warnings.join("\n")).toMatch(
      /"sel=0x00g8" is not a hex number: GUEST_DS_SELECTOR is unknown/,
    );
  });
  it("a missing colon after a segment label still reads the line", () => {
    const [x] = explain(PLAIN.map((l) => l.replace("CS:   sel=", "CS   sel=")).join("\n"));
    expect(ids(x!)).toEqual(ids(clean[0]!));
    expect(x!.dump.values.get("GUEST_CS_AR_BYTES")).toBe(0xe09bn);
  });
  it("a truncated last line is unknown, not read as a shorter value (SS attr=0x0c0 is not AR 0xc0)", () => {
    const ss = PLAIN.findIndex((l) => l.startsWith("SS: "));
    const [x] = explain([...PLAIN.slice(0, ss), "SS:   sel=0x0018, attr=0x0c0"].join("\n"));
    expect(x!.dump.values.has("GUEST_SS_AR_BYTES")).toBe(false);
    expect(x!.dump.values.get("GUEST_SS_SELECTOR")).toBe(0x18n);
    expect(x!.result.violations.filter((v) => v.fields.some((f) => f.startsWith("GUEST_SS_")))).toEqual([]);
    const w = x!.dump.warnings.join("\n");
    expect(w).toMatch(
      /"attr=0x0c0" has fewer hex digits than KVM prints \(5\): the value is cut off, so GUEST_SS_AR_BYTES is unknown/,
    );
    expect(w).toMatch(/stops before limit, base/);
    // the controls are gone with the rest of the dump: CS.L and D/B now rests on IA-32e mode guest
    expect(possibleIds(x!)).toContain("guest.cs.l-and-d");
    expect(describeResultOutcome(x!.result)).not.toBe("VM entry succeeds");
  });
});

describe("any consistent per-line prefix", () => {
  for (const [name, prefix] of [
    ["[…] ", "[…] "],
    ["docker compose", "vm-1  | "],
    ["a tab", "\t"],
    ["a Go log timestamp", "2024/03/03 10:22:01 "],
    ["a mail quote at depth 3", "> > > "],
  ] as const)
    it(`${name}: the same findings`, () => {
      const xs = explain(PLAIN.map((l) => prefix + l).join("\n"));
      expect(xs).toHaveLength(1);
      expect(ids(xs[0]!)).toEqual(ids(clean[0]!));
      expect(xs[0]!.dump.values.size).toBe(clean[0]!.dump.values.size);
    });
  it("an unknown prefix on every line ('myvm: ') is learned from the line that starts the dump", () => {
    const xs = explain(PLAIN.map((l) => `myvm: ${l}`).join("\n"));
    expect(xs).toHaveLength(1);
    expect(ids(xs[0]!)).toEqual(ids(clean[0]!));
  });
});

describe("fragments without section headers", () => {
  it("two lines of a KVM dump quoted in a mail: CS.L and D/B is possible, on IA-32e mode guest", () => {
    const cs = PLAIN.find((l) => l.startsWith("CS: "))!;
    const [x] = explain(
      [
        "> CS:   sel=0x0010, attr=0x0e09b, limit=0xffffffff, base=0x0000000000000000",
        "> RSP = 0xffffc90000c43e98  RIP = 0xffffffff8105e1b6",
      ].join("\n"),
    );
    expect(cs).toContain("attr=0x0e09b");
    expect(x!.result.violations).toEqual([]);
    const p = x!.result.possible?.find((q) => q.violations.some((v) => v.id === "guest.cs.l-and-d"));
    expect(p).toMatchObject({
      why: "unknown-field",
      dependsOn: ["VM_ENTRY_CONTROLS"],
      condition: "if VM_ENTRY_CONTROLS has IA-32e mode guest (bit 9)",
      outcome: { type: "vmexit", reason: 33, qualification: 0 },
    });
    // and without IA-32e mode guest, RIP's high bits fail: either way the fragment cannot say "succeeds"
    const q = x!.result.possible?.find(
      (r) => r.condition === "if VM_ENTRY_CONTROLS lacks IA-32e mode guest (bit 9)",
    );
    expect(q?.violations.map((v) => v.id)).toEqual(["guest.rip.high-bits-outside-64-bit-mode"]);
    expect(describeResultOutcome(x!.result)).toBe(
      "VM entry succeeds, unless one of the 2 possible findings below holds",
    );
  });
  it("a Xen failure line plus one register line", () => {
    const [x] = explain(
      "(XEN) d12v0 vmentry failure (reason 0x80000021): Invalid guest state (0)\n(XEN) CR3 = 0x800000001a02f080\n",
    );
    expect(x!.dump.format).toBe("xen-dump");
    expect(ids(x!)).toEqual(["guest.cr3.beyond-phys"]);
    expect(x!.agrees).toBe(true);
  });
  it("a single stray key=value line is no dump", () => {
    expect(() => explain("the value was CR3 = 0x0000000000001000 yesterday\n")).toThrow(
      /no VM-entry log found/,
    );
  });
});

describe("unknown means unknown: partial dumps", () => {
  const guest = (edit: (l: string) => string | undefined) => {
    const out: string[] = [];
    for (const l of PLAIN) {
      if (l.startsWith("*** Host State ***")) break;
      const e = edit(l);
      if (e !== undefined) out.push(e);
    }
    return out.join("\n");
  };
  const pg0 = (l: string) =>
    l
      .replace("actual=0x0000000080050033", "actual=0x0000000000000031")
      .replace("shadow=0x0000000080050033", "shadow=0x0000000000000031");
  it("CR0.PG = 0 and no EFER in the log: the completion is no IA-32e guest, and nothing rests on it", () => {
    const [x] = explain(guest((l) => (l.startsWith("EFER") ? undefined : pg0(l))));
    expect(x!.dump.values.get("GUEST_CR0")).toBe(0x31n);
    expect(x!.dump.values.has("GUEST_IA32_EFER")).toBe(false);
    expect(x!.entry.vmcs.getByName("VM_ENTRY_CONTROLS") & (1n << 9n)).toBe(0n);
    for (const v of x!.result.violations) expect(v.fields).not.toContain("VM_ENTRY_CONTROLS");
    // an IA-32e guest is ruled out by CR0.PG = 0: no finding is conditioned on one
    for (const p of x!.result.possible ?? []) expect(p.condition).not.toMatch(/has IA-32e mode guest/);
  });
  it("CR0.PG = 0 with EFER.LMA = 1 in the log: the IA-32e findings are possible, as KVM sets the control from LMA", () => {
    const [x] = explain(guest(pg0));
    for (const v of x!.result.violations) expect(v.fields).not.toContain("VM_ENTRY_CONTROLS");
    const p = x!.result.possible?.find((q) => q.violations.some((v) => v.id === "guest.cr0.pg-in-ia32e"));
    expect(p?.condition).toBe("if VM_ENTRY_CONTROLS has IA-32e mode guest (bit 9), as KVM and Xen set it");
  });
  it("RFLAGS.VM = 1 without FS/GS lines: their template bases are not checked as definite", () => {
    const [x] = explain(
      guest((l) =>
        l.startsWith("FS: ") || l.startsWith("GS: ")
          ? undefined
          : l.replace("RFLAGS=0x00000246", "RFLAGS=0x00020246"),
      ),
    );
    expect(x!.dump.values.get("GUEST_RFLAGS")).toBe(0x20246n);
    for (const v of x!.result.violations)
      expect(
        v.fields.some((f) => f.startsWith("GUEST_FS_") || f.startsWith("GUEST_GS_")),
        v.id,
      ).toBe(false);
  });
  it("a Control State-only excerpt of an entry that succeeded: no definite violation, and it says succeeds", () => {
    const text = readFileSync(
      new URL(
        "../corpus/kvm-dump/kvm-list-2022-tertiary-controls-sample-control-state-only.txt",
        import.meta.url,
      ),
      "utf8",
    );
    const [x] = explain(text);
    expect(x!.result.violations).toEqual([]);
    expect(x!.result.outcome).toEqual({ type: "entered" });
    expect(x!.unknownFields).toContain("GUEST_CR4");
    expect(x!.agrees).toBe(true);
  });
});

describe("QEMU dumps: EFER as KVM loads it", () => {
  const qemu = (efer: string) =>
    [
      "KVM: entry failed, hardware error 0x80000021",
      "RAX=0000000000000000 RBX=0000000000000000 RCX=0000000000000000 RDX=0000000000000000",
      "RIP=ffffffff8105e1b6 RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=0",
      "ES =0000 0000000000000000 ffffffff 00c00000",
      "CS =0010 0000000000000000 ffffffff 00a09b00 DPL=0 CS64 [-RA]",
      "SS =0018 0000000000000000 ffffffff 00c09300 DPL=0 DS   [-WA]",
      "DS =0000 0000000000000000 ffffffff 00c00000",
      "FS =0000 00007f3a1c2e4700 ffffffff 00c00000",
      "GS =0000 ffff88003fc00000 ffffffff 00c00000",
      "LDT=0000 0000000000000000 ffffffff 00c00000",
      "TR =0040 fffffe0000003000 00004087 00008b00 DPL=0 TSS64-busy",
      "GDT=     fffffe0000001000 0000007f",
      "IDT=     fffffe0000000000 00000fff",
      "CR0=80050033 CR2=0000000000000000 CR3=000000003a61c000 CR4=000626e0",
      "DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000",
      "DR6=00000000fffe0ff0 DR7=0000000000000400",
      `EFER=${efer}`,
    ].join("\n");
  it("reserved EFER bits are a definite violation (KVM loads an EFER that differs from the host's)", () => {
    const [x] = explain(qemu("0000000000100d01"));
    expect(ids(x!)).toContain("guest.efer.reserved-bits");
    expect(x!.dump.notes.join(" ")).toMatch(/reserved bits set, so it differs from any host's EFER/);
  });
  it("a clean 64-bit EFER: nothing on EFER", () => {
    const [x] = explain(qemu("0000000000000d01"));
    expect(ids(x!)).toEqual([]);
    expect(possibleIds(x!).filter((i) => i.startsWith("guest.efer"))).toEqual([]);
  });
  it("EFER.LMA = 0 with a 64-bit CS: the IA-32e findings are possible, with KVM's behaviour named", () => {
    const [x] = explain(qemu("0000000000000001"));
    expect(ids(x!)).toEqual([]);
    for (const p of x!.result.possible ?? []) expect(p.dependsOn).toEqual(["VM_ENTRY_CONTROLS"]);
  });
});
