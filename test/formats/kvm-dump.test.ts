/**
 * formatKvmDump (src/formats/kvm-dump.ts): the text of the newest dump_vmcs() layout (arch/x86/kvm/vmx/vmx.c,
 * v6.x) for an entry — what `nvmx convert --to kvm-dump` prints and what a failing KVM would log — pinned for
 * a bare state (no optional line), a state with every optional line, and one with the TPR shadow but neither
 * virtual-interrupt delivery nor APIC-access virtualization; parseKvmDump/parseXenDump keep only their own
 * format's dumps.
 */
import { describe, expect, it } from "vitest";
import { ENTRY, EXIT, PIN, PROC, PROC2 } from "../../src/arch/controls.js";
import { FIELDS } from "../../src/arch/fields.js";
import { permissiveProfile } from "../../src/cpu/permissive.js";
import type { Entry } from "../../src/entry/document.js";
import { formatKvmDump, kvmDumpCarries, parseKvmDump } from "../../src/formats/kvm-dump.js";
import { parseXenDump } from "../../src/formats/xen-dump.js";
import { baseEntry } from "../../src/gen/base.js";

// 32-bit fields get 16 bits: the dump prints the access rights with 5 digits
const MASK = { 16: 0xffffn, 32: 0xffffn, 64: (1n << 64n) - 1n, natural: (1n << 64n) - 1n } as const;

/** Every field a different value (its index in every byte), so a line that prints the wrong field shows. */
function distinct(): Entry {
  const e = baseEntry(permissiveProfile());
  for (const f of FIELDS) {
    const b = BigInt((f.index % 0xef) + 0x10);
    let v = 0n;
    for (let i = 0n; i < 8n; i++) v |= b << (8n * i);
    e.vmcs.setByName(f.name, v & MASK[f.width]);
  }
  return e;
}
const set = (e: Entry, name: string, v: number | bigint) => e.vmcs.setByName(name, BigInt(v));

/** Controls chosen so no optional line is printed: the secondary and tertiary words hold bits, unused. */
function bare(): Entry {
  const e = distinct();
  set(e, "PIN_BASED_VM_EXEC_CONTROL", 0x16);
  set(e, "CPU_BASED_VM_EXEC_CONTROL", 0x0401e172);
  set(e, "SECONDARY_VM_EXEC_CONTROL", 0xffffffff);
  set(e, "TERTIARY_VM_EXEC_CONTROL", 0xff);
  set(e, "VM_ENTRY_CONTROLS", ENTRY.IA32E_GUEST | 0x11ff);
  set(
    e,
    "VM_EXIT_CONTROLS",
    EXIT.HOST_ADDR_SPACE_SIZE | (0x36dff & ~(EXIT.LOAD_EFER | EXIT.LOAD_PAT | EXIT.LOAD_PERF_GLOBAL_CTRL)),
  );
  for (const n of ["VM_ENTRY_MSR_LOAD_COUNT", "VM_EXIT_MSR_STORE_COUNT", "VM_EXIT_MSR_LOAD_COUNT"])
    set(e, n, 0);
  return e;
}

/** Every optional line: every load control, TPR shadow with VID and APIC accesses, the three MSR lists. */
function rich(): Entry {
  const e = distinct();
  set(e, "PIN_BASED_VM_EXEC_CONTROL", 0x16 | PIN.POSTED_INTR);
  set(e, "CPU_BASED_VM_EXEC_CONTROL", 0x0401e172 | PROC.TPR_SHADOW | PROC.SECONDARY | PROC.TERTIARY);
  set(
    e,
    "SECONDARY_VM_EXEC_CONTROL",
    PROC2.VIRT_APIC_ACCESSES | PROC2.EPT | PROC2.VPID | PROC2.VID | (1 << 10) | PROC2.TSC_SCALING,
  );
  set(e, "TERTIARY_VM_EXEC_CONTROL", 0x10);
  set(
    e,
    "VM_ENTRY_CONTROLS",
    0x11ff |
      ENTRY.IA32E_GUEST |
      ENTRY.LOAD_EFER |
      ENTRY.LOAD_PAT |
      ENTRY.LOAD_PERF_GLOBAL_CTRL |
      ENTRY.LOAD_BNDCFGS |
      ENTRY.LOAD_PKRS |
      ENTRY.LOAD_CET,
  );
  set(
    e,
    "VM_EXIT_CONTROLS",
    0x36dff |
      EXIT.HOST_ADDR_SPACE_SIZE |
      EXIT.LOAD_EFER |
      EXIT.LOAD_PAT |
      EXIT.LOAD_PERF_GLOBAL_CTRL |
      EXIT.LOAD_PKRS |
      EXIT.LOAD_CET,
  );
  set(e, "VM_ENTRY_MSR_LOAD_COUNT", 2);
  set(e, "VM_ENTRY_MSR_LOAD_ADDR", 0x30000);
  set(e, "VM_EXIT_MSR_STORE_COUNT", 1);
  set(e, "VM_EXIT_MSR_STORE_ADDR", 0x31000);
  set(e, "VM_EXIT_MSR_LOAD_COUNT", 1);
  set(e, "VM_EXIT_MSR_LOAD_ADDR", 0x32000);
  const m = e.memory;
  m.write64(0x30000, 0x600n);
  m.write64(0x30008, 0xfffffe0000020000n);
  m.write64(0x30010, 0xc0000100n);
  m.write64(0x30018, 0x7f1bf7fff700n);
  m.write64(0x31000, 0x10n);
  m.write64(0x31008, 0x1234n);
  m.write64(0x32000, 0xc0000080n);
  m.write64(0x32008, 0xd01n);
  return e;
}

/** TPR shadow alone: its line without "SVI|RVI" and "APIC-access addr"; EFER not loaded: "(effective)". */
function tprOnly(): Entry {
  const e = bare();
  set(e, "CPU_BASED_VM_EXEC_CONTROL", 0x0401e172 | PROC.TPR_SHADOW | PROC.SECONDARY);
  set(e, "SECONDARY_VM_EXEC_CONTROL", PROC2.EPT);
  set(e, "TPR_THRESHOLD", 0x5);
  set(e, "POSTED_INTR_NV", 0xf2);
  return e;
}

describe("formatKvmDump", () => {
  it("a bare state: no optional line, unused secondary and tertiary words printed as 0", () => {
    expect(formatKvmDump(bare())).toMatchSnapshot();
  });
  it("every optional line, the three MSR lists", () => {
    expect(formatKvmDump(rich())).toMatchSnapshot();
  });
  it("the TPR shadow alone; EFER marked (effective)", () => {
    expect(formatKvmDump(tprOnly())).toMatchSnapshot();
  });
  it("vectors below 0x10 with two digits, as dump_vmcs prints them (%02x)", () => {
    const e = rich();
    set(e, "GUEST_INTR_STATUS", 0x0a05);
    set(e, "POSTED_INTR_NV", 0x7);
    const t = formatKvmDump(e);
    expect(t).toContain("SVI|RVI = 0a|05 TPR Threshold = 0x");
    expect(t).toContain("PostedIntrVec = 0x07\n");
  });
  it("a line prefix on every line, and the exit reason the caller gives", () => {
    const t = formatKvmDump(bare(), { prefix: "kvm_intel: ", exitReason: 0x80000021 });
    const lines = t.split("\n");
    expect(lines.at(-1)).toBe("");
    expect(lines.slice(0, -1).every((l) => l.startsWith("kvm_intel: "))).toBe(true);
    expect(lines.find((l) => l.includes("reason="))).toBe(
      "kvm_intel:         reason=80000021 qualification=b0b0b0b0b0b0b0b0",
    );
    // without the option, the VMCS field
    expect(
      formatKvmDump(bare())
        .split("\n")
        .find((l) => l.includes("reason=")),
    ).toBe("        reason=00008989 qualification=b0b0b0b0b0b0b0b0");
  });
  it("every value read back: parseKvmDump of the text gives the entry's fields", () => {
    for (const e of [bare(), rich(), tprOnly()]) {
      const [d] = parseKvmDump(formatKvmDump(e));
      expect(d?.values.size).toBeGreaterThan(80);
      const proc = e.vmcs.getByName("CPU_BASED_VM_EXEC_CONTROL");
      const unused = (name: string, bit: number) =>
        e.vmcs.getByName(name) !== 0n && (proc & BigInt(bit)) === 0n ? name : undefined;
      // formatKvmDump prints a control word its activate bit leaves unused as 0
      const zero = [
        unused("SECONDARY_VM_EXEC_CONTROL", PROC.SECONDARY),
        unused("TERTIARY_VM_EXEC_CONTROL", PROC.TERTIARY),
      ];
      for (const [name, v] of d!.values)
        expect(v, name).toBe(zero.includes(name) ? 0n : e.vmcs.getByName(name));
    }
  });
});

describe("kvmDumpCarries: the fields the newest layout prints for the entry", () => {
  it("PAT only when it is loaded, the secondary controls only when used", () => {
    const b = kvmDumpCarries(bare());
    const r = kvmDumpCarries(rich());
    expect(b.has("GUEST_CR0")).toBe(true);
    expect(b.has("GUEST_IA32_PAT")).toBe(false);
    expect(r.has("GUEST_IA32_PAT")).toBe(true);
    expect(r.has("TSC_MULTIPLIER")).toBe(true);
    expect(r.size - b.size).toBeGreaterThan(15);
  });
});

describe("parseKvmDump / parseXenDump keep their own format's dumps", () => {
  const XEN = [
    "(XEN) d2v0 vmentry failure (reason 0x80000021): Invalid guest state (0)",
    "(XEN) *** Guest State ***",
    "(XEN) CR3 = 0x00000000001aa002",
    "(XEN)   CS: 0010 0209b 00000000 0000000000000000",
    "(XEN) *** Host State ***",
    "(XEN) RIP = 0xffff82d080341950 (vmx_asm_vmexit_handler)  RSP = 0xffff83083ff0ff70",
    "",
  ].join("\n");
  it("a KVM dump then a Xen dump", () => {
    const text = `${formatKvmDump(bare())}${XEN}`;
    expect(parseKvmDump(text).map((d) => d.format)).toEqual(["kvm-dump"]);
    const x = parseXenDump(text);
    expect(x.map((d) => d.format)).toEqual(["xen-dump"]);
    expect(x[0]?.values.get("GUEST_CR3")).toBe(0x1aa002n);
    expect(parseXenDump(formatKvmDump(rich()))).toEqual([]);
    expect(parseKvmDump(XEN)).toEqual([]);
  });
});
