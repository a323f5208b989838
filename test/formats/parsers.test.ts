/** Parser details, round trips through the formatters, the synthetic samples and the CLI commands. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FIELDS } from "../../src/arch/fields.js";
import { permissiveProfile } from "../../src/cpu/permissive.js";
import { parseEntry, serializeEntry } from "../../src/entry/document.js";
import { runEntry } from "../../src/entry/run.js";
import { InputError } from "../../src/errors.js";
import { detectFormat, parseInput } from "../../src/formats/detect.js";
import { dumpToEntry } from "../../src/formats/entry.js";
import { explainDump } from "../../src/formats/explain.js";
import { formatKvmDump, parseKvmDump } from "../../src/formats/kvm-dump.js";
import { formatNestedState, parseNestedState, VMCS12_LAYOUT } from "../../src/formats/nested-state.js";
import { parseQemuRegs } from "../../src/formats/qemu-regs.js";
import { decodeHardwareError } from "../../src/formats/reported.js";
import { stripLine } from "../../src/formats/text.js";
import { baseEntry } from "../../src/gen/base.js";
import { profileAll } from "../helpers.js";

const sample = (f: string) => readFileSync(new URL(`./samples/${f}`, import.meta.url));

/** A valid state with every conditional line of the newest layout switched on. */
function richEntry() {
  const e = baseEntry(profileAll());
  const s = (n: string, v: bigint | number) => e.vmcs.setByName(n, BigInt(v));
  const g = (n: string) => e.vmcs.getByName(n);
  s("CPU_BASED_VM_EXEC_CONTROL", g("CPU_BASED_VM_EXEC_CONTROL") | (1n << 17n));
  s("TERTIARY_VM_EXEC_CONTROL", 0x10);
  s(
    "SECONDARY_VM_EXEC_CONTROL",
    g("SECONDARY_VM_EXEC_CONTROL") | 1n | (1n << 8n) | (1n << 9n) | (1n << 10n) | (1n << 25n),
  );
  s("PIN_BASED_VM_EXEC_CONTROL", g("PIN_BASED_VM_EXEC_CONTROL") | 0x81n);
  s("VM_EXIT_CONTROLS", g("VM_EXIT_CONTROLS") | (1n << 28n) | (1n << 29n) | (1n << 12n));
  s("VM_ENTRY_CONTROLS", g("VM_ENTRY_CONTROLS") | (1n << 20n) | (1n << 22n) | (1n << 13n) | (1n << 16n));
  s("POSTED_INTR_NV", 0xf2);
  s("PLE_GAP", 0x80);
  s("PLE_WINDOW", 0x1000);
  s("TSC_MULTIPLIER", 0x1000000000000n);
  s("APIC_ACCESS_ADDR", 0x15000);
  s("GUEST_INTR_STATUS", 0x2f31);
  s("GUEST_SSP", 0xffffc90000004ff8n);
  s("GUEST_IA32_PKRS", 0x55555554);
  s("HOST_SSP", 0xffffc90000104ff8n);
  s("GUEST_BNDCFGS", 0x1000);
  s("VM_ENTRY_MSR_LOAD_COUNT", 2);
  s("VM_ENTRY_MSR_LOAD_ADDR", 0x30000);
  e.memory.write64(0x30000, 0x600n);
  e.memory.write64(0x30008, 0xfffffe0000020000n);
  e.memory.write64(0x30010, 0x48n);
  e.memory.write64(0x30018, 1n);
  return e;
}

/** Wrap lines at `width` columns at spaces, as a mail program does. */
function wrap(text: string, width: number): string {
  return text
    .split("\n")
    .flatMap((l) => {
      const out: string[] = [];
      let rest = l;
      while (rest.length > width) {
        const cut = rest.lastIndexOf(" ", width);
        if (cut <= 0) break;
        out.push(rest.slice(0, cut));
        rest = rest.slice(cut + 1);
      }
      out.push(rest);
      return out;
    })
    .join("\n");
}

describe("line prefixes", () => {
  it.each([
    ["[  123.456789] kvm_intel: RSP = 0x1", "RSP = 0x1"],
    ["Mar  3 10:22:01 host kernel: [ 8812.003311] CR3 = 0x0", "CR3 = 0x0"],
    ["2024-01-02T03:04:05.123456+00:00 host kernel: CR3 = 0x0", "CR3 = 0x0"],
    ["> > >> (XEN) [2019-11-02 14:09:46] CR3 = 0x0", "CR3 = 0x0"],
    ["(d1) hello", "hello"],
    [
      "Jun 24 17:25:51 testhost QEMU[2997]: KVM: entry failed, hardware error 0x80000021",
      "KVM: entry failed, hardware error 0x80000021",
    ],
    [
      "(XEN)\u00a0\u00a0 CS: 0010 0209b 00000000 0000000000000000\r",
      "CS: 0010 0209b 00000000 0000000000000000",
    ],
    ["(XEN) >>> Domain 3 <<<", ">>> Domain 3 <<<"],
  ])("%j → %j", (raw, want) => expect(stripLine(raw)).toBe(want));
});

describe("hardware error codes", () => {
  it("0x80000021: VM-entry failure, reason 33", () =>
    expect(decodeHardwareError(0x80000021, "", 1)).toMatchObject({
      type: "vmexit",
      reason: 33,
      entryFailure: true,
    }));
  it("0x7: VM-instruction error 7", () =>
    expect(decodeHardwareError(7, "", 1)).toMatchObject({ type: "vmfail-valid", error: 7 }));
  it("0xffffffff: SVM, not VMX", () => {
    const r = decodeHardwareError(0xffffffff, "", 1);
    expect(r.type).toBe("non-vmx");
    expect(r.type === "non-vmx" && r.description).toMatch(/SVM/);
  });
});

describe("KVM dump round trip (formatKvmDump → parseKvmDump)", () => {
  const e = richEntry();
  const check = (text: string) => {
    const [d] = parseKvmDump(text);
    expect(d).toBeDefined();
    for (const [name, v] of d!.values)
      expect(`${name}=0x${v.toString(16)}`).toBe(`${name}=0x${e.vmcs.getByName(name).toString(16)}`);
    for (const n of [
      "TERTIARY_VM_EXEC_CONTROL",
      "GUEST_SSP",
      "GUEST_IA32_PKRS",
      "HOST_SSP",
      "GUEST_BNDCFGS",
      "GUEST_INTR_STATUS",
      "POSTED_INTR_NV",
      "PLE_WINDOW",
      "TSC_MULTIPLIER",
      "APIC_ACCESS_ADDR",
      "GUEST_TR_AR_BYTES",
      "HOST_IA32_SYSENTER_EIP",
    ])
      expect(d!.values.has(n), n).toBe(true);
    expect(d!.entryMsrLoad?.entries).toEqual([
      { index: 0, msr: 0x600, value: 0xfffffe0000020000n },
      { index: 1, msr: 0x48, value: 1n },
    ]);
    return d!;
  };
  it("plain", () => {
    const d = check(formatKvmDump(e));
    expect(d.layout).toMatch(/5\.17\+.*TertiaryExec.*MSR lists.*CET.*PKRS/);
  });
  it("with prefixes, CRLF, quote markers and lines wrapped at 60 columns", () => {
    const text = wrap(formatKvmDump(e, { prefix: "kvm_intel: " }), 60)
      .split("\n")
      .map((l, i) => `> [${(100 + i / 1000).toFixed(6).padStart(12)}] ${l}`)
      .join("\r\n");
    check(`noise before\r\n${text}\r\nnoise after: netlink: 5 bytes leftover\r\n`);
  });
  it("the valid state explains with no violation, and its converted document checks the same", () => {
    const base = baseEntry(permissiveProfile());
    const [d] = parseKvmDump(formatKvmDump(base));
    const x = explainDump(d!);
    expect(x.result.violations).toEqual([]);
    // The converted document, through JSON, checks as the explanation does, and holds the dump's fields.
    const converted = dumpToEntry(d!, permissiveProfile()).entry;
    const doc = parseEntry(JSON.parse(JSON.stringify(serializeEntry(converted))), {
      cpu: permissiveProfile(),
    });
    const r = runEntry(doc);
    expect(r.outcome).toEqual(x.result.outcome);
    expect(r.violations.map((v) => v.id)).toEqual(x.result.violations.map((v) => v.id));
    for (const f of FIELDS)
      if (d!.values.has(f.name)) expect(doc.vmcs.get(f.index), f.name).toBe(d!.values.get(f.name));
  });
  it("several dumps in one file are all returned", () => {
    const t = formatKvmDump(e);
    expect(parseKvmDump(`${t}some noise\n${t}`)).toHaveLength(2);
  });
});

describe("KVM_GET_NESTED_STATE", () => {
  it("round trip of every vmcs12 field", () => {
    const e = richEntry();
    const [d] = parseNestedState(formatNestedState(e, { launched: true }));
    for (const [, , name] of VMCS12_LAYOUT) {
      const f = FIELDS.find((x) => x.name === name)!;
      if (f.type === "read-only") continue;
      expect(`${name}=${d!.values.get(name)}`).toBe(`${name}=${e.vmcs.getByName(name)}`);
    }
    expect(d!.processor).toMatchObject({ launchState: "launched", instruction: "vmresume" });
    expect(detectFormat(formatNestedState(e))).toBe("nested-state");
  });
  it("a vmcs12 with a failed-entry exit reason reports it", () => {
    const bytes = formatNestedState(baseEntry(profileAll()), { exitReason: 0x80000021 });
    const parsed = parseInput(bytes);
    expect(parsed.format).toBe("logs");
    if (parsed.format === "logs")
      expect(parsed.dumps[0]!.reported).toMatchObject({ reason: 33, entryFailure: true });
  });
  it("bad blobs are InputErrors", () => {
    const good = formatNestedState(baseEntry(profileAll()));
    const rev = good.slice();
    rev[128] = 0x42;
    expect(() => parseNestedState(rev)).toThrow(/revision/);
    const svm = good.slice();
    svm[2] = 1;
    expect(() => parseNestedState(svm)).toThrow(/SVM/);
    expect(() => parseNestedState(good.slice(0, 100))).toThrow(InputError);
    expect(() => parseInput(new Uint8Array([0, 1, 2, 3, 0, 0, 0]))).toThrow(InputError);
  });
});

describe("QEMU register dump", () => {
  it("descriptor flags → VMCS access rights: (flags >> 8) & 0xf0ff, unusable when not present, accessed set", () => {
    const [d] = parseQemuRegs(sample("qemu-64bit-ii-synthetic.txt").toString());
    expect(d!.values.get("GUEST_CS_AR_BYTES")).toBe(0xe09bn);
    expect(d!.values.get("GUEST_SS_AR_BYTES")).toBe(0xc093n);
    expect(d!.values.get("GUEST_DS_AR_BYTES")).toBe(0x10001n);
    expect(d!.values.get("GUEST_LDTR_AR_BYTES")).toBe(0x10000n);
    expect(d!.values.get("GUEST_TR_AR_BYTES")).toBe(0x8bn);
    expect(d!.values.get("GUEST_FS_BASE")).toBe(0x7f0d4c8e9740n);
    expect(d!.values.get("GUEST_CR4")).toBe(0x352ef0n);
    expect(d!.noControls).toBe(true);
  });
  it("without control fields it invents no control violation; entry controls follow EFER.LMA", () => {
    const [d] = parseQemuRegs(sample("qemu-64bit-ii-synthetic.txt").toString());
    const x = explainDump(d!);
    expect(x.result.violations.every((v) => v.id.startsWith("guest."))).toBe(true);
    expect(Number(x.entry.vmcs.getByName("VM_ENTRY_CONTROLS")) & (1 << 9)).not.toBe(0);
    expect(x.unknownFields).toContain("VM_ENTRY_CONTROLS");
    expect(x.assumptions.join(" ")).toMatch(/no control fields/);
  });
  it("a lone 'hardware error' line without a dump is an InputError that decodes the code", () => {
    expect(() =>
      parseInput(new TextEncoder().encode("KVM: entry failed, hardware error 0xffffffff\n")),
    ).toThrow(/SVM/);
  });
});

describe("synthetic samples", () => {
  const cases: [string, string[], string[]][] = [
    ["kvm-4x-cs-l-and-d-synthetic.txt", ["kvm-dump"], ["guest.cs.l-and-d"]],
    ["kvm-6x-tertiary-cet-pkrs-msrload-synthetic.txt", ["kvm-dump"], ["msr-load.non-canonical-address"]],
    ["xen-4.17-tertiary-two-vcpus-synthetic.txt", ["xen-dump", "xen-dump"], ["guest.ss.rpl-eq-cs-rpl"]],
  ];
  for (const [file, formats, ids] of cases)
    it(`${file}: ${ids.join(", ")} (definite: the dump shows every field the check reads)`, () => {
      const p = parseInput(sample(file));
      expect(p.format).toBe("logs");
      if (p.format !== "logs") return;
      expect(p.dumps.map((d) => d.format)).toEqual(formats);
      const xs = p.dumps.map((d) => explainDump(d));
      const last = xs[xs.length - 1]!;
      for (const id of ids) expect(last.result.violations.map((v) => v.id)).toContain(id);
      expect(last.agrees).toBe(true);
      if (xs.length > 1) expect(xs[0]!.result.violations).toEqual([]);
    });
  it("qemu-64bit-ii-synthetic.txt: CS.L and D/B is possible, on the IA-32e control KVM sets from EFER.LMA", () => {
    const p = parseInput(sample("qemu-64bit-ii-synthetic.txt"));
    if (p.format !== "logs") throw new Error("not a log");
    const x = explainDump(p.dumps[0]!);
    expect(x.result.violations.map((v) => v.id)).not.toContain("guest.cs.l-and-d");
    const p1 = x.result.possible?.find((q) => q.violations.some((v) => v.id === "guest.cs.l-and-d"));
    expect(p1).toMatchObject({ why: "unknown-field", dependsOn: ["VM_ENTRY_CONTROLS"] });
    expect(p1?.condition).toBe("if VM_ENTRY_CONTROLS has IA-32e mode guest (bit 9), as KVM and Xen set it");
    const sti = x.result.possible?.find((q) => q.condition.includes("STI"));
    expect(sti?.violations.map((v) => v.id)).toContain("guest.intr.sti-if");
    expect(x.agrees).toBe(true);
  });
  it("the 4.x sample carries its CR3-target count and the 6.x one its tertiary controls", () => {
    const p4 = parseInput(sample("kvm-4x-cs-l-and-d-synthetic.txt"));
    if (p4.format === "logs") expect(p4.dumps[0]!.values.get("CR3_TARGET_COUNT")).toBe(2n);
    const p6 = parseInput(sample("kvm-6x-tertiary-cet-pkrs-msrload-synthetic.txt"));
    if (p6.format === "logs") expect(p6.dumps[0]!.values.get("TERTIARY_VM_EXEC_CONTROL")).toBe(0x10n);
  });
});

describe("convert", () => {
  it("a converted dump is a valid nvmx-entry/1 document with the same outcome", async () => {
    const { convertBytes } = await import("../../src/cli/convert.js");
    const text = sample("kvm-4x-cs-l-and-d-synthetic.txt");
    const docs = convertBytes(text, "x");
    expect(docs).toHaveLength(1);
    const e = parseEntry(docs[0]);
    const [d] = parseKvmDump(text.toString());
    const x = explainDump(d!);
    const r = runEntry(e);
    expect(r.violations.map((v) => v.id)).toContain("guest.cs.l-and-d");
    expect(r.outcome).toEqual(x.result.outcome);
    expect(r.violations.map((v) => v.id)).toEqual(x.result.violations.map((v) => v.id));
  });
});

describe("CLI", () => {
  const cli = new URL("../../dist/cli/main.js", import.meta.url).pathname;
  const run = (...args: string[]) => {
    try {
      return { out: execFileSync("node", [cli, ...args], { encoding: "utf8", stdio: "pipe" }), code: 0 };
    } catch (e) {
      const x = e as { stdout: string; status: number };
      return { out: x.stdout, code: x.status };
    }
  };
  const corpus = (f: string) => new URL(`../corpus/${f}`, import.meta.url).pathname;
  it("explain --json gives one line per dump with format, unknownFields, reported, agrees", () => {
    const { out, code } = run(
      "explain",
      "--json",
      corpus("kvm-dump/kvm-list-2022-proxmox-smm-sti-shadow-if0.txt"),
    );
    expect(code).toBe(0);
    const lines = out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      format: "nvmx-result/1",
      logFormat: "kvm-dump",
      agrees: true,
      reported: { reason: 33 },
    });
    expect(Array.isArray(lines[0].unknownFields)).toBe(true);
    expect(lines[1].logFormat).toBe("qemu-regs");
  });
  it("explain (for people) says the CPU was assumed and decodes the hardware error", () => {
    const { out } = run("explain", corpus("qemu-regs/kvm-list-2019-jailhouse-nested-reset-error-0x7.txt"));
    expect(out).toMatch(/assumed the least strict CPU/);
    expect(out).toMatch(/VM-instruction error 7/);
    expect(out).toMatch(/the log does not show \d+ fields VM entry reads/);
  });
  it("explain --cpu vmxcap-file uses the rebuilt profile", () => {
    const { out } = run(
      "explain",
      "--cpu",
      corpus("vmxcap/cs590-nfv-2016-suricata-kvm-host.txt"),
      corpus("kvm-dump/kvm-list-2021-dosemu2-ds-es-not-accessed.txt"),
    );
    expect(out).toMatch(/cpu: .*cs590/);
  });
  it("a bad input gives an error line and status 2, the others are still explained", () => {
    const { out, code } = run(
      "explain",
      "--json",
      corpus("vmxcap/kvm-list-2019-jailhouse-vmxcap-diffs.txt"),
      corpus("other/xen-devel-2020-pvh-debugkey-v-vmcs-healthy.txt"),
    );
    expect(code).toBe(2);
    const lines = out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines[0].error.message).toMatch(/unified diff/);
    expect(lines[1].agrees).toBe(true);
  });
  it("check and repair given a log, vmxcap output or a nested-state blob name the command that reads it; nested reads or names them", () => {
    const dir = mkdtempSync(join(tmpdir(), "nvmx-sniff-"));
    const blob = join(dir, "state.bin");
    writeFileSync(blob, formatNestedState(baseEntry(profileAll())));
    const cases: [string, RegExp][] = [
      [corpus("kvm-dump/kvm-list-2022-proxmox-smm-sti-shadow-if0.txt"), /Linux KVM dump_vmcs.*nvmx explain /],
      [corpus("xen-dump/xen-devel-2019-freebsd-nested-vmlaunch-error-7.txt"), /Xen VMCS dump.*nvmx explain /],
      [corpus("vmxcap/cs590-nfv-2016-suricata-kvm-host.txt"), /vmxcap output.*--cpu /],
      [blob, /KVM_GET_NESTED_STATE.*nvmx explain /],
    ];
    for (const cmd of ["check", "repair"]) {
      const { out, code } = run(cmd, "--json", ...cases.map(([f]) => f));
      expect(code, cmd).toBe(2);
      const lines = out.trim().split("\n");
      expect(lines, cmd).toHaveLength(cases.length);
      for (const [i, [, re]] of cases.entries())
        expect(JSON.parse(lines[i]!).error.message, `${cmd} ${i}`).toMatch(re);
    }
    // nested reads some of them itself (a blob's vmcs12, a dump with --as vmcs12) and says so for the others
    const { out } = run("nested", "--json", ...cases.map(([f]) => f));
    expect(out.trim().split("\n").length).toBeGreaterThanOrEqual(cases.length);
    rmSync(dir, { recursive: true });
  });
  it("explain: an input it cannot read (100k-deep JSON, a bad blob) is an error record; later files still get theirs", () => {
    const dir = mkdtempSync(join(tmpdir(), "nvmx-deep-"));
    const deep = join(dir, "deep.json");
    writeFileSync(deep, `${"[".repeat(100_000)}${"]".repeat(100_000)}`);
    const deepObj = join(dir, "deep-object.json");
    writeFileSync(
      deepObj,
      `{"format":"nvmx-entry/1","vmcs":${'{"a":'.repeat(100_000)}1${"}".repeat(100_001)}`,
    );
    const bad = join(dir, "bad.bin");
    const b = formatNestedState(baseEntry(profileAll()));
    b[128] = 0x42;
    writeFileSync(bad, b);
    const dump = corpus("kvm-dump/kvm-list-2021-dosemu2-ds-es-not-accessed.txt");
    const { out, code } = run("explain", "--json", deep, dump, deepObj, bad, dump);
    expect(code).toBe(2);
    const lines = out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => (l.error ? `error ${l.error.file.replace(/.*\//, "")}` : l.logFormat))).toEqual([
      "error deep.json",
      "kvm-dump",
      "error deep-object.json",
      "error bad.bin",
      "kvm-dump",
    ]);
    rmSync(dir, { recursive: true });
  });
  it("explain reads standard input as a stream", () => {
    const text = readFileSync(corpus("kvm-dump/kvm-list-2021-dosemu2-ds-es-not-accessed.txt"), "utf8");
    const out = execFileSync("node", [cli, "explain", "--json", "-"], { input: text, encoding: "utf8" });
    expect(JSON.parse(out.trim().split("\n")[0]!)).toMatchObject({ file: "<stdin>", logFormat: "kvm-dump" });
  });
  it("convert --to json emits NDJSON for several dumps", () => {
    const { out, code } = run(
      "convert",
      corpus("kvm-dump/kvm-list-2022-proxmox-smm-sti-shadow-if0.txt"),
      "--to",
      "json",
    );
    expect(code).toBe(0);
    expect(
      out
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).format),
    ).toEqual(["nvmx-entry/1", "nvmx-entry/1"]);
  });
});
