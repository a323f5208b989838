/**
 * The probe's TypeScript side without the emulator: the log format, a profile from a real log, the changes the
 * probe makes to a state, the Bochs deviation model, the blob and image formats, the kvm-unit-tests export.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { F } from "../../src/arch/fields.js";
import { builtinData, builtinProfile } from "../../src/cpu/builtin.js";
import type { Entry } from "../../src/entry/document.js";
import { runEntry } from "../../src/entry/run.js";
import { baseEntry } from "../../src/gen/base.js";
import { encodeBlob, FIELD_TABLE, RF } from "../../src/probe/blob.js";
import { flagsFrom, profileFromLog } from "../../src/probe/caps.js";
import { agreementTable, compareOne, formatTable, modelOutcomes } from "../../src/probe/compare.js";
import type { ProbeHost } from "../../src/probe/core.js";
import { BOCHS_DEVIATIONS } from "../../src/probe/deviations.js";
import { buildFat16 } from "../../src/probe/fat.js";
import { kutTests } from "../../src/probe/kut.js";
import { emptyLog, parseLog } from "../../src/probe/log.js";
import { buildEfiApp } from "../../src/probe/pe.js";
import { applyRefusals, applyUnbacked, prepareState } from "../../src/probe/prepare.js";

/** The probe's own state as its core header gives it (probe/core.asm); a literal so no build is needed. */
const HOST: ProbeHost = {
  cr0: 0x80010033n,
  cr3: 0x140000n,
  cr4: 0x2020n,
  efer: 0x500n,
  pat: 0x0007040600070406n,
  gdtrBase: 0x1000d0n,
  idtrBase: 0x146000n,
  trBase: 0x147000n,
  rip: 0x101210n,
  rsp: 0x160000n,
  cs: 8,
  ss: 0x10,
  ds: 0x10,
  es: 0x10,
  fs: 0x10,
  gs: 0x10,
  tr: 0x18,
  vmcs: 0x149000n,
  vmxon: 0x148000n,
  windowBase: 0x200000,
  windowSize: 0x200000,
  blobBase: 0x3000000,
  blobMax: 0x1000000,
  coreBase: 0x100000,
  cr3Host32: 0x14b000n,
  ripHost32: 0x101800n,
  csHost32: 0x28,
};

const SKX = builtinProfile("bochs-2.7-skylake-x");
const TGL = builtinProfile("bochs-2.7-tigerlake");
const fixture = (f: string) => readFileSync(new URL(`./fixtures/${f}`, import.meta.url), "latin1");
const set = (e: Entry, name: string, v: bigint) => e.vmcs.set(F[name]!, v);
const get = (e: Entry, name: string) => e.vmcs.get(F[name]!);
const ids = (e: Entry) => runEntry(e).violations.map((v) => v.id);
const prep = (e: Entry, comment?: string, dodge?: string[]) =>
  prepareState(e, 0, "test", HOST, comment, dodge ? { dodge } : {});

describe("probe log", () => {
  it("reads every line kind and ignores an emulator's own lines", () => {
    const log = parseLog(
      [
        "(0) [0x0000fffffff0] f000:fff0 (unk. ctxt): jmpf 0xf000:e05b",
        "NVMX-PROBE 1 bios",
        "CPUID 7 0 0 d19f27eb 0 0",
        "MSR 480 d810000000002b",
        "MSR 345 GP",
        "NOFIELD 2016",
        "HELPER 1",
        "STATES 3 0",
        "S 0",
        "W 0 6828 c",
        "R 0 vmfail-valid 7",
        "S 1",
        "R 1 exit 80000021 0",
        "S 2",
        "X 2 d 0 101234",
        "DONE 3",
      ].join("\r\n"),
    );
    expect(log.boot).toBe("bios");
    expect(log.cpuid.get("0x7.0")).toEqual([0, 0xd19f27eb, 0, 0]);
    expect(log.msrs.get(0x480)).toBe(0xd810000000002bn);
    expect(log.msrs.get(0x345)).toBe("GP");
    expect([...log.nofield]).toEqual([0x2016]);
    expect(log.helper).toBe(true);
    expect(log.states.get(0)).toEqual({
      started: true,
      writes: [{ encoding: 0x6828, error: 12 }],
      unplaced: [],
      result: { kind: "vmfail-valid", error: 7 },
    });
    expect(log.states.get(1)?.result).toEqual({ kind: "exit", reason: 0x80000021, qualification: 0n });
    expect(log.states.get(2)?.result).toEqual({ kind: "exception", vector: 13, error: 0n, rip: 0x101234n });
    expect(log.done).toBe(3);
  });

  it("a profile from a probe log: the built-in Bochs profiles are exactly what `probe caps` makes of their logs", () => {
    const log = parseLog(fixture("skylake-x-states.log"));
    const data = builtinData("bochs-2.7-skylake-x")!;
    const { profile, notes } = profileFromLog(log, data.name!, data.description!, data.source!);
    expect(profile).toEqual(data);
    expect(profile.maxPhysAddr).toBe(40);
    expect(profile.linearAddressBits).toBe(48);
    expect(profile.flags).toEqual(
      expect.arrayContaining(["vmx", "lm", "nx", "pcid", "ept", "vpid", "ept_ad"]),
    );
    expect(profile.flags).not.toContain("la57");
    expect(notes).toEqual(["RDMSR faulted for 0x345 (left out of msrValues)"]);
    expect(() => profileFromLog(parseLog("NOVMX CPUID.1:ECX.VMX[bit 5] = 0"), "x", "", "")).toThrow(
      /no usable VMX/,
    );
  });

  it("flags follow Linux's names for CPUID bits, and the VMX flags come from the capability MSRs", () => {
    const cpuid = new Map([
      ["0x7.0", [0, 1 << 7, 1 << 16, 1 << 20]],
      ["0x7.1", [1 << 26, 0, 0, 0]],
      ["0x80000001", [0, 0, 0, 1 << 29]],
    ]);
    expect(flagsFrom(cpuid, new Map())).toEqual(["lm", "smep", "la57", "ibt", "lam"]);
    const msrs = new Map<number, bigint | "GP">([[0x482, (1n << 21n) << 32n]]);
    expect(flagsFrom(new Map(), msrs)).toEqual(["tpr_shadow"]);
  });
});

describe("what the probe changes in a state", () => {
  it("the host state is the probe's except the fields the state's violations name", () => {
    const e = baseEntry(SKX);
    set(e, "HOST_CR4", get(e, "HOST_CR4") & ~0x20n);
    expect(ids(e)).toEqual(["host.cr4.pae-with-hass"]);
    const p = prep(e, "violates host.cr4.pae-with-hass");
    expect(get(p.final, "HOST_CR4")).toBe(get(e, "HOST_CR4"));
    expect(get(p.final, "HOST_RIP")).toBe(HOST.rip);
    expect(get(p.final, "HOST_CR3")).toBe(HOST.cr3);
    expect(p.keptHost).toContain("HOST_CR4");
    expect(ids(p.final)).toEqual(["host.cr4.pae-with-hass"]);
    expect(p.removed).toEqual([]);
    expect(p.final.processor.currentVmcsPointer).toBe(Number(HOST.vmcs));
  });

  it("relocates the VM-entry MSR-load area into the window with its page offset and entries", () => {
    const e = baseEntry(SKX);
    set(e, "VM_ENTRY_MSR_LOAD_ADDR", 0x7654321010n);
    set(e, "VM_ENTRY_MSR_LOAD_COUNT", 2n);
    e.memory.write64(0x7654321010, 0xc0000081n);
    e.memory.write64(0x7654321018, 0x1234n);
    e.memory.write64(0x7654321020, 0x1ffn << 32n); // reserved bits in entry 2: msr-load.reserved-bits
    const p = prep(e);
    const a = Number(get(p.final, "VM_ENTRY_MSR_LOAD_ADDR"));
    expect(a).toBe(HOST.windowBase + 0x010);
    expect(p.final.memory.read64(a)).toBe(0xc0000081n);
    expect(p.final.memory.read64(a + 8)).toBe(0x1234n);
    expect(p.final.memory.read64(0x7654321010)).toBe(0n);
    expect(ids(p.final)).toEqual(ids(e));
    expect(p.clear).toContainEqual([HOST.windowBase + 0x10, 0x20]);
  });

  it("keeps an address whose move would remove a violation, and reads beyond RAM as all ones afterwards", () => {
    const e = baseEntry(SKX);
    set(e, "VM_ENTRY_MSR_LOAD_ADDR", (1n << 40n) - 0x10n);
    set(e, "VM_ENTRY_MSR_LOAD_COUNT", 2n); // ends beyond MAXPHYADDR 40
    expect(ids(e)).toEqual(["ctl.entry.msr-load-area-end-width"]);
    const p = prep(e);
    expect(get(p.final, "VM_ENTRY_MSR_LOAD_ADDR")).toBe((1n << 40n) - 0x10n);
    expect(p.notApplied).toEqual([
      { change: "relocate the VM-entry MSR-load area", ids: ["ctl.entry.msr-load-area-end-width"] },
    ]);
    applyUnbacked(p, 128 << 20);
    expect(p.final.memory.read64(2 ** 40 - 0x10)).toBe(0xffffffffffffffffn);
    expect(ids(p.final)).toEqual(["ctl.entry.msr-load-area-end-width", "msr-load.reserved-bits"]);
  });

  it("stops an entered guest with the VMX-preemption timer at 0, unless that removes a violation", () => {
    const e = baseEntry(SKX);
    const p = prep(e);
    expect(get(p.final, "PIN_BASED_VM_EXEC_CONTROL") & 0x40n).toBe(0x40n);
    expect(get(p.final, "VMX_PREEMPTION_TIMER_VALUE")).toBe(0n);
    const e2 = baseEntry(SKX);
    set(e2, "VM_EXIT_CONTROLS", get(e2, "VM_EXIT_CONTROLS") | (1n << 22n)); // save timer without the timer
    set(e2, "PIN_BASED_VM_EXEC_CONTROL", get(e2, "PIN_BASED_VM_EXEC_CONTROL") & ~0x40n);
    expect(ids(e2)).toEqual(["ctl.exit.save-preemption-timer-needs-timer"]);
    const p2 = prep(e2, "violates ctl.exit.save-preemption-timer-needs-timer");
    expect(get(p2.final, "PIN_BASED_VM_EXEC_CONTROL") & 0x40n).toBe(0n);
    expect(p2.notApplied.map((n) => n.change)).toEqual(["the VMX-preemption timer (stop mechanism)"]);
    expect(p2.removed).toEqual([]);
  });

  it("wait-for-SIPI guests are flagged for the helper processor's SIPI", () => {
    const e = baseEntry(SKX);
    set(e, "GUEST_ACTIVITY_STATE", 3n);
    expect(prep(e).flags & RF.sipi).toBe(RF.sipi);
  });

  it("processor state it cannot set is a skip; a 32-bit host gets the probe's 32-bit host state", () => {
    const e = baseEntry(SKX);
    e.processor.cpl = 3;
    expect(prep(e).skip).toBe("processor.cpl = 3: the probe runs VMLAUNCH/VMRESUME with cpl = 0 only");
    const f = baseEntry(SKX);
    f.processor.ia32e = false;
    f.processor.instruction = "vmresume";
    f.processor.launchState = "launched";
    set(f, "GUEST_RSP", 0x1_0000_1000n);
    const p = prep(f);
    expect(p.flags & (RF.host32 | RF.launched | RF.resume)).toBe(RF.host32 | RF.launched | RF.resume);
    expect(get(p.final, "HOST_CR3")).toBe(HOST.cr3Host32);
    expect(get(p.final, "HOST_CS_SELECTOR")).toBe(BigInt(HOST.csHost32));
    expect(get(p.final, "GUEST_RSP")).toBe(0x1000n);
    expect(p.changes.find((c) => c.what === "GUEST_RSP")?.note).toMatch(/VMWRITE outside 64-bit mode/);
  });

  it("a link pointer naming the current VMCS names the probe's, whose first dword is the revision", () => {
    const e = baseEntry(SKX);
    e.processor.currentVmcsPointer = 0x5000;
    set(e, "VMCS_LINK_POINTER", 0x5000n);
    e.memory.write32(0x5000, SKX.revision);
    expect(ids(e)).toEqual(["guest.link-pointer.current-vmcs"]);
    const p = prep(e);
    expect(get(p.final, "VMCS_LINK_POINTER")).toBe(HOST.vmcs);
    expect(p.final.memory.read32(Number(HOST.vmcs))).toBe(SKX.revision);
    expect(ids(p.final)).toContain("guest.link-pointer.current-vmcs");
  });

  it("dodging deviation A sets CS.RPL to CS.DPL only under unrestricted guest", () => {
    const e = baseEntry(SKX);
    set(e, "CPU_BASED_VM_EXEC_CONTROL", get(e, "CPU_BASED_VM_EXEC_CONTROL") | (1n << 31n));
    set(e, "SECONDARY_VM_EXEC_CONTROL", get(e, "SECONDARY_VM_EXEC_CONTROL") | 0x82n); // EPT, unrestricted guest
    set(e, "EPT_POINTER", 0x1000n | 0x1en);
    set(e, "GUEST_CS_SELECTOR", 0x13n); // RPL 3, DPL 0: valid with unrestricted guest
    expect(ids(e)).toEqual([]);
    expect(prep(e).final.vmcs.get(F.GUEST_CS_SELECTOR!)).toBe(0x13n);
    const p = prep(e, undefined, ["A"]);
    expect(get(p.final, "GUEST_CS_SELECTOR")).toBe(0x10n);
    expect(ids(p.final)).toEqual([]);
  });

  it("fields the CPU refuses read as 0 in the final document", () => {
    const e = baseEntry(TGL);
    set(e, "GUEST_SSP", 0x1000n);
    const p = prep(e);
    const made = applyRefusals(p, new Map([[0x682a, 0]]));
    expect(made).toEqual([
      {
        kind: "refused",
        what: "GUEST_SSP",
        before: "0x1000",
        after: "0x0",
        note: "the CPU has no such field (VMWRITE fails)",
      },
    ]);
    expect(get(p.final, "GUEST_SSP")).toBe(0n);
  });
});

describe("Bochs deviation model and comparison", () => {
  const ug = () => {
    const e = baseEntry(SKX);
    set(e, "CPU_BASED_VM_EXEC_CONTROL", get(e, "CPU_BASED_VM_EXEC_CONTROL") | (1n << 31n));
    set(e, "SECONDARY_VM_EXEC_CONTROL", get(e, "SECONDARY_VM_EXEC_CONTROL") | 0x82n);
    set(e, "EPT_POINTER", 0x1000n | 0x1en);
    set(e, "GUEST_CS_SELECTOR", 0x13n);
    return e;
  };
  const logWith = (result: string) => parseLog(`S 0\nR 0 ${result}\n`);

  it("A: an SDM-valid CS.RPL != CS.DPL under unrestricted guest fails in Bochs with exit 33", () => {
    const p = prep(ug());
    expect(runEntry(p.final).outcome).toEqual({ type: "entered" });
    expect(modelOutcomes(p.final, BOCHS_DEVIATIONS).outcomes).toEqual([
      { type: "vmexit", reason: 33, qualification: 0 },
    ]);
    const c = compareOne(p, logWith("exit 80000021 0"), BOCHS_DEVIATIONS);
    expect(c.verdict).toBe("deviation");
    expect(c.deviations).toEqual(["A"]);
    expect(compareOne(p, logWith("exit 80000021 0"), []).verdict).toBe("unexplained");
    expect(compareOne(p, logWith("exit 34 0"), BOCHS_DEVIATIONS).verdict).toBe("agree");
  });

  it("B: a missing check explains 'entered'; an unrelated outcome stays unexplained", () => {
    const e = baseEntry(SKX);
    set(e, "GUEST_RIP", 0x0001000000000000n); // bits 63:48 not identical
    expect(ids(e)).toEqual(["guest.rip.linear-width"]);
    const p = prep(e, "violates guest.rip.linear-width");
    expect(compareOne(p, logWith("exit 34 0"), BOCHS_DEVIATIONS)).toMatchObject({
      verdict: "deviation",
      deviations: ["B"],
    });
    expect(compareOne(p, logWith("vmfail-valid 7"), BOCHS_DEVIATIONS).verdict).toBe("unexplained");
  });

  it("an MSR-load entry for an MSR the profile does not know: nvmx names exit 34 as possible, so it agrees", () => {
    const e = baseEntry(SKX);
    set(e, "VM_ENTRY_MSR_LOAD_ADDR", 0x10000n);
    set(e, "VM_ENTRY_MSR_LOAD_COUNT", 1n);
    e.memory.write64(0x10000, 0x1ffn);
    const p = prep(e);
    expect(runEntry(p.final).possibleOutcomes).toEqual([
      { type: "entered" },
      { type: "vmexit", reason: 34, qualification: 1 },
    ]);
    expect(compareOne(p, logWith("exit 80000022 1"), BOCHS_DEVIATIONS).verdict).toBe("agree");
    expect(compareOne(p, logWith("exit 80000022 2"), BOCHS_DEVIATIONS).verdict).toBe("unexplained");
  });

  it("the agreement table counts per outcome class, with the skipped states apart", () => {
    const a = prep(ug());
    const b = prep(baseEntry(SKX));
    b.n = 1;
    const s = baseEntry(SKX);
    s.processor.inSmm = true;
    const c = prepareState(s, 2, "t", HOST);
    const log = parseLog("R 0 exit 80000021 0\nR 1 exit 34 0\n");
    const t = agreementTable([a, b, c].map((p) => compareOne(p, log, BOCHS_DEVIATIONS)));
    expect(formatTable(t)).toBe(
      [
        "| nvmx outcome (final documents) | states | agree | CPU deviation | unexplained | no result | intended violation removed by the probe |",
        "|---|---:|---:|---:|---:|---:|---:|",
        "| entered | 2 | 1 | 1 | 0 | 0 | 0 |",
        "| **all** | 2 | 1 | 1 | 0 | 0 | 0 |",
        "",
        "Skipped (processor state the probe cannot set): 1 × processor.inSmm.",
      ].join("\n"),
    );
  });
});

describe("image formats", () => {
  it("the blob: header, field table, one record with bitmap, values, memory and ranges to clear", () => {
    const values = FIELD_TABLE.map((f) =>
      f.name === "GUEST_RIP" ? 0x1234n : f.name === "HOST_CR3" ? 0x5000n : 0n,
    );
    const blob = encodeBlob(
      [{ index: 7, flags: RF.resume, values, memory: [[0x200010, 5n]], clear: [[0x200000, 32]] }],
      3,
    );
    const dv = new DataView(blob.buffer);
    expect(new TextDecoder().decode(blob.subarray(0, 8))).toBe("NVMXSTAT");
    expect([dv.getUint32(12, true), dv.getUint32(16, true), dv.getUint32(24, true)]).toEqual([
      3,
      1,
      FIELD_TABLE.length,
    ]);
    const rec = dv.getUint32(32, true);
    expect(rec % 8).toBe(0);
    expect([dv.getUint32(rec + 4, true), dv.getUint32(rec + 8, true), dv.getUint32(rec + 12, true)]).toEqual([
      7,
      RF.resume,
      1,
    ]);
    const words = Math.ceil(FIELD_TABLE.length / 32);
    const vals = rec + ((20 + 4 * words + 7) & ~7);
    const rip = FIELD_TABLE.findIndex((f) => f.name === "GUEST_RIP");
    const cr3 = FIELD_TABLE.findIndex((f) => f.name === "HOST_CR3");
    const [first, second] = rip < cr3 ? [0x1234n, 0x5000n] : [0x5000n, 0x1234n];
    expect([dv.getBigUint64(vals, true), dv.getBigUint64(vals + 8, true)]).toEqual([first, second]);
    expect(dv.getBigUint64(vals + 16, true)).toBe(0x200010n);
    expect(dv.getBigUint64(vals + 40, true)).toBe(32n);
    expect(dv.getUint32(rec, true)).toBe(vals + 48 - rec);
  });

  it("FAT16: the BIOS parameter block, the directory chain and a contiguous file", () => {
    const data = new Uint8Array(70000).map((_, i) => i & 0xff);
    const fat = buildFat16([{ path: "EFI/BOOT/BOOTX64.EFI", data }], 2048);
    const dv = new DataView(fat.bytes.buffer);
    const spc = fat.bytes[13]!;
    const fatSectors = dv.getUint16(22, true);
    const total = dv.getUint16(19, true) || dv.getUint32(32, true);
    const clusters = (total - 1 - 2 * fatSectors - 32) / spc;
    expect(clusters).toBeGreaterThanOrEqual(4085);
    expect(clusters).toBeLessThan(65525);
    expect(dv.getUint32(28, true)).toBe(2048);
    const rootDir = (1 + 2 * fatSectors) * 512;
    expect(new TextDecoder().decode(fat.bytes.subarray(rootDir + 32, rootDir + 43))).toBe("EFI        ");
    const at = fat.offsets.get("EFI/BOOT/BOOTX64.EFI")!;
    expect(fat.bytes.subarray(at, at + data.length)).toEqual(data);
    // the file's clusters follow each other in the FAT
    const first = (at / 512 - (1 + 2 * fatSectors + 32)) / spc + 2;
    const n = Math.ceil(data.length / (spc * 512));
    for (let c = first; c < first + n - 1; c++) expect(dv.getUint16(512 + 2 * c, true)).toBe(c + 1);
    expect(dv.getUint16(512 + 2 * (first + n - 1), true)).toBe(0xffff);
  });

  it("PE32+: an x64 EFI application entered at its section's first byte", () => {
    const { file, sectionOffset } = buildEfiApp(new Uint8Array([0xeb, 0xfe]));
    const dv = new DataView(file.buffer);
    expect([file[0], file[1]]).toEqual([0x4d, 0x5a]);
    const pe = dv.getUint32(0x3c, true);
    expect(dv.getUint32(pe, true)).toBe(0x4550);
    expect(dv.getUint16(pe + 4, true)).toBe(0x8664);
    expect(dv.getUint16(pe + 24, true)).toBe(0x20b);
    expect(dv.getUint16(pe + 24 + 68, true)).toBe(10);
    expect(dv.getUint32(pe + 24 + 16, true)).toBe(0x1000);
    expect(file[sectionOffset]).toBe(0xeb);
  });
});

describe("kvm-unit-tests export", () => {
  it("writes the state's fields, keeps the suite's host state, and checks the predicted outcome", () => {
    const e = baseEntry(SKX);
    set(e, "VM_ENTRY_INTR_INFO_FIELD", 0x80000700n); // other event (type 7) without MTF support
    const p = prep(e, "violates ctl.event.other-event-needs-mtf");
    const c = kutTests([p]);
    expect(c).toContain("static void nvmx_state_0(void)");
    expect(c).toContain("\tvmcs_write(0x4016, 0x80000700ull); /* VM_ENTRY_INTR_INFO_FIELD */");
    expect(c).not.toContain("HOST_CR3 */");
    expect(c).toContain("report((err == 7),");
    expect(c).toContain("/* TEST(nvmx_state_0), */");
    const f = baseEntry(SKX);
    f.processor.ia32e = false;
    expect(kutTests([prep(f)])).toContain("not exported: a 32-bit host");
  });
});

describe("empty log", () => {
  it("has no states", () => {
    expect(emptyLog().states.size).toBe(0);
  });
});
