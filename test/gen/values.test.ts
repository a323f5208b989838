/**
 * The valid generator reaches the values the checks test at their edges (fixed seeds, a profile that supports
 * everything): EPTP memory types and walk lengths, VPID 1 and 0xffff, preemption-timer 0 and 2^32 − 1, the
 * last PML index, MSR-load lists of every length, injected events with and without error codes and every
 * instruction length, the real-mode reset state, compatibility and user mode in an IA-32e guest, VME in
 * virtual-8086 mode, a 32-bit host. A generator that proposes a narrower set still makes valid states; these
 * are what make its states worth generating.
 */
import { describe, expect, it } from "vitest";
import { EXIT, PIN, PROC, PROC2 } from "../../src/arch/controls.js";
import { EPT_CAP } from "../../src/arch/msrs.js";
import { EVENT } from "../../src/arch/registers.js";
import type { Entry } from "../../src/entry/document.js";
import { Rng } from "../../src/gen/rng.js";
import { type FeatureLevel, type Generated, generateValid, type Mode } from "../../src/gen/valid.js";
import { profileAll } from "../helpers.js";

const caps = profileAll();
const lo = (e: Entry, f: string) => Number(e.vmcs.getByName(f) & 0xffffffffn);
const on = (e: Entry, f: string, bit: number) => (lo(e, f) & bit) !== 0;

function states(n: number, seed: number, mode?: Mode, features: FeatureLevel = "random"): Generated[] {
  return Array.from({ length: n }, (_, i) =>
    generateValid(caps, Rng.derive(seed, i), { ...(mode ? { mode } : {}), features }),
  );
}

/** The distinct values a function takes over states where `when` holds. */
function valuesOf(
  gs: Generated[],
  when: (e: Entry) => boolean,
  f: (e: Entry) => number | string,
): Set<number | string> {
  return new Set(gs.filter((g) => when(g.entry)).map((g) => f(g.entry)));
}

describe("generated values reach the edges", () => {
  const g64 = states(300, 31, "64");

  it("EPTP: both memory types, both walk lengths, accessed/dirty and supervisor shadow stack on and off", () => {
    expect(
      caps.eptCap & (EPT_CAP.WB | EPT_CAP.UC | EPT_CAP.PWL4 | EPT_CAP.PWL5 | EPT_CAP.AD | EPT_CAP.SSS),
    ).toBe(EPT_CAP.WB | EPT_CAP.UC | EPT_CAP.PWL4 | EPT_CAP.PWL5 | EPT_CAP.AD | EPT_CAP.SSS);
    const ept = (e: Entry) =>
      on(e, "CPU_BASED_VM_EXEC_CONTROL", PROC.SECONDARY) && on(e, "SECONDARY_VM_EXEC_CONTROL", PROC2.EPT);
    const eptp = (e: Entry) => lo(e, "EPT_POINTER");
    expect(valuesOf(g64, ept, (e) => eptp(e) & 7)).toEqual(new Set([0, 6]));
    expect(valuesOf(g64, ept, (e) => (eptp(e) >> 3) & 7)).toEqual(new Set([3, 4]));
    expect(valuesOf(g64, ept, (e) => (eptp(e) >> 6) & 3)).toEqual(new Set([0, 1, 2, 3]));
    // the rest is a page
    expect(valuesOf(g64, ept, (e) => eptp(e) & 0xf00)).toEqual(new Set([0]));
  });

  it("VPID 1, 0xffff and values between; preemption timer 0, 2^32 − 1 and between, saved or not", () => {
    const vpid = valuesOf(
      g64,
      (e) => on(e, "SECONDARY_VM_EXEC_CONTROL", PROC2.VPID),
      (e) => lo(e, "VIRTUAL_PROCESSOR_ID"),
    );
    expect(vpid).toContain(1);
    expect(vpid).toContain(0xffff);
    expect(vpid.size).toBeGreaterThan(10);
    expect(vpid).not.toContain(0);
    const timed = (e: Entry) => on(e, "PIN_BASED_VM_EXEC_CONTROL", PIN.PREEMPTION_TIMER);
    const timer = valuesOf(g64, timed, (e) => lo(e, "VMX_PREEMPTION_TIMER_VALUE"));
    expect(timer).toContain(0);
    expect(timer).toContain(0xffffffff);
    expect(timer.size).toBeGreaterThan(5);
    expect(
      valuesOf(g64, timed, (e) => Number(on(e, "VM_EXIT_CONTROLS", EXIT.SAVE_PREEMPTION_TIMER))),
    ).toEqual(new Set([0, 1]));
  });

  it("PML: the last index (511) and others; VM functions: all the profile allows under max", () => {
    const pml = valuesOf(
      g64,
      (e) => on(e, "SECONDARY_VM_EXEC_CONTROL", PROC2.PML),
      (e) => lo(e, "GUEST_PML_INDEX"),
    );
    expect(pml).toContain(511);
    expect(pml.size).toBeGreaterThan(5);
    for (const g of states(5, 32, "64", "max")) {
      expect(on(g.entry, "SECONDARY_VM_EXEC_CONTROL", PROC2.VMFUNC)).toBe(true);
      expect(lo(g.entry, "VM_FUNCTION_CONTROL")).toBe(caps.vmfuncLo);
      expect(lo(g.entry, "VM_ENTRY_MSR_LOAD_COUNT")).toBe(4);
    }
  });

  it("MSR-load lists of 1 to 8 entries, each a loadable MSR with a legal value", () => {
    const listed = g64.filter((g) => g.aspects.includes("msr-load-list"));
    expect(new Set(listed.map((g) => lo(g.entry, "VM_ENTRY_MSR_LOAD_COUNT")))).toEqual(
      new Set([1, 2, 3, 4, 5, 6, 7, 8]),
    );
    const msrs = new Set<number>();
    for (const g of listed) {
      const area = Number(g.entry.vmcs.getByName("VM_ENTRY_MSR_LOAD_ADDR"));
      expect(area % 16).toBe(0);
      for (let i = 0; i < lo(g.entry, "VM_ENTRY_MSR_LOAD_COUNT"); i++) {
        msrs.add(g.entry.memory.read32(area + 16 * i));
        expect(g.entry.memory.read32(area + 16 * i + 4)).toBe(0);
      }
    }
    expect(msrs).toEqual(
      new Set([0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, 0xc0000102, 0xc0000103, 0x175]),
    );
  });

  it("injected events: every type, error codes delivered for the vectors that push one, lengths up to 15 and 0", () => {
    const gs = states(500, 33);
    const injected = gs.map((g) => g.entry).filter((e) => on(e, "VM_ENTRY_INTR_INFO_FIELD", EVENT.VALID));
    const info = (e: Entry) => lo(e, "VM_ENTRY_INTR_INFO_FIELD");
    expect(new Set(injected.map((e) => (info(e) >> 8) & 7))).toEqual(new Set([0, 2, 3, 4, 5, 6, 7]));
    const hw = injected.filter((e) => ((info(e) >> 8) & 7) === 3);
    const withCode = hw.filter((e) => (info(e) & EVENT.DELIVER_ERROR_CODE) !== 0).map((e) => info(e) & 0xff);
    for (const v of [8, 10, 11, 12, 13, 14, 17]) expect(withCode).toContain(v);
    expect(hw.some((e) => (info(e) & EVENT.DELIVER_ERROR_CODE) === 0)).toBe(true);
    const soft = injected.filter((e) => [4, 5, 6].includes((info(e) >> 8) & 7));
    const lens = new Set(soft.map((e) => lo(e, "VM_ENTRY_INSTRUCTION_LEN")));
    expect(lens).toContain(15);
    expect([...lens].filter((l) => l > 0 && l < 15).length).toBeGreaterThan(10);
    if (caps.zeroLengthInjection) expect(lens).toContain(0);
    expect(Math.max(...lens)).toBe(15);
    // software exceptions are #BP or #OF, privileged ones #DB
    for (const e of soft) {
      const t = (info(e) >> 8) & 7;
      if (t === 5) expect(info(e) & 0xff).toBe(1);
      if (t === 6) expect([3, 4]).toContain(info(e) & 0xff);
    }
  });

  it("real mode: the reset state (CS 0xf000 at 0xffff0000, RIP 0xfff0) and others", () => {
    const gs = states(60, 34, "real");
    const reset = gs.filter(
      (g) => lo(g.entry, "GUEST_CS_SELECTOR") === 0xf000 && lo(g.entry, "GUEST_RIP") === 0xfff0,
    );
    expect(reset.length).toBeGreaterThan(5);
    for (const g of reset) expect(g.entry.vmcs.getByName("GUEST_CS_BASE")).toBe(0xffff0000n);
    expect(reset.length).toBeLessThan(gs.length);
    // base = selector · 16 (the selector's RPL bits may have been varied since)
    for (const g of gs.filter((x) => x.entry.vmcs.getByName("GUEST_CS_BASE") !== 0xffff0000n))
      expect((Number(g.entry.vmcs.getByName("GUEST_CS_BASE")) >> 4) & ~3).toBe(
        lo(g.entry, "GUEST_CS_SELECTOR") & ~3,
      );
  });

  it("IA-32e guests in 64-bit kernel, 64-bit user and compatibility mode", () => {
    const cs = valuesOf(
      g64,
      () => true,
      (e) => lo(e, "GUEST_CS_AR_BYTES") & 0x6060,
    );
    // L=1 DPL 0, L=1 DPL 3, L=0 (D=1) DPL 3
    expect(cs).toContain(0x2000);
    expect(cs).toContain(0x2060);
    expect(cs).toContain(0x4060);
  });

  it("virtual-8086 guests with CR4.VME on and off; 32-bit hosts", () => {
    const v86 = states(60, 35, "v86");
    expect(
      valuesOf(
        v86,
        () => true,
        (e) => Number(on(e, "GUEST_CR4", 1)),
      ),
    ).toEqual(new Set([0, 1]));
    const host32 = states(200, 36, "32").filter((g) => g.aspects.includes("host-32-bit"));
    expect(host32.length).toBeGreaterThan(0);
    for (const g of host32) {
      expect(g.entry.processor.ia32e).toBe(false);
      expect(on(g.entry, "VM_EXIT_CONTROLS", EXIT.HOST_ADDR_SPACE_SIZE)).toBe(false);
    }
  });
});

describe("guest modes: every paging variant of each", () => {
  const paging = (e: Entry) =>
    `${on(e, "GUEST_CR0", 1 << 31) ? "pg" : "nopg"}${on(e, "GUEST_CR4", 1 << 5) ? "+pae" : ""}`;

  it("32-bit protected mode with and without paging (unpaged needs unrestricted guest); v86 under each", () => {
    expect(valuesOf(states(60, 37, "32"), () => true, paging)).toEqual(new Set(["pg", "nopg"]));
    expect(valuesOf(states(60, 38, "v86"), () => true, paging)).toEqual(new Set(["pg", "nopg", "pg+pae"]));
    expect(valuesOf(states(30, 39, "pae"), () => true, paging)).toEqual(new Set(["pg+pae"]));
    const noUg = profileAll((d) => {
      const msrs = d.msrs as Record<string, string>;
      msrs["IA32_VMX_PROCBASED_CTLS2"] =
        `0x${(BigInt(msrs["IA32_VMX_PROCBASED_CTLS2"]!) & ~(BigInt(PROC2.UNRESTRICTED_GUEST) << 32n)).toString(16)}`;
    });
    const noUgStates = (mode: Mode, seed: number) =>
      Array.from({ length: 40 }, (_, i) => generateValid(noUg, Rng.derive(seed, i), { mode }));
    expect(valuesOf(noUgStates("32", 40), () => true, paging)).toEqual(new Set(["pg"]));
    expect(valuesOf(noUgStates("v86", 41), () => true, paging)).toEqual(new Set(["pg", "pg+pae"]));
  });

  it("outside IA-32e mode: EFER.LME/LMA and CR4.PCIDE clear, CR3 and the guest's addresses below 4 GiB", () => {
    for (const mode of ["32", "pae", "v86", "real"] as const)
      for (const g of states(20, 42, mode)) {
        const e = g.entry;
        expect(lo(e, "GUEST_IA32_EFER") & 0x500, mode).toBe(0);
        expect(lo(e, "GUEST_CR4") & (1 << 17), mode).toBe(0);
        for (const f of ["GUEST_CR3", "GUEST_RIP", "GUEST_RSP", "GUEST_GDTR_BASE", "GUEST_IDTR_BASE"])
          expect(e.vmcs.getByName(f) >> 32n, `${mode} ${f}`).toBe(0n);
      }
  });
});
