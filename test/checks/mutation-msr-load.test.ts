/**
 * src/checks/msr-load.ts where the rest of the suite did not look (mutants a StrykerJS run left,
 * docs/mutation.md): the MSRs each WRMSR rule names one by one, which EFER.LME the guest has after loading
 * guest state, the wording of an MSR a processor may refuse or a profile cannot place, and the VM-exit
 * MSR-load list's warnings (their text, the list bound, the cap of 8 possible warnings).
 */
import { describe, expect, it } from "vitest";
import { ENTRY } from "../../src/arch/controls.js";
import { exitMsrLoadWarnings } from "../../src/checks/msr-load.js";
import { checkById } from "../../src/checks/registry.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import type { Caps } from "../../src/cpu/profile.js";
import { contextOf } from "../../src/entry/run.js";
import { type Patch, profileAll, run, state } from "../helpers.js";

const AREA = 0x20000;
const EXIT_AREA = 0x30000;
const sky = builtinProfile("skylake");
const all = profileAll();

/** An MSR-load list of [index, value] entries at `at`, in the entry list or the exit list. */
function list(kind: "ENTRY" | "EXIT", at: number, ...entries: [number, bigint][]): Patch {
  const memory: Record<number, bigint> = {};
  entries.forEach(([index, value], i) => {
    memory[at + 16 * i] = BigInt(index);
    memory[at + 16 * i + 8] = value;
  });
  return {
    vmcs: { [`VM_${kind}_MSR_LOAD_ADDR`]: at, [`VM_${kind}_MSR_LOAD_COUNT`]: entries.length },
    memory,
  };
}
const msrs = (...e: [number, bigint][]) => list("ENTRY", AREA, ...e);
const exitList = (...e: [number, bigint][]) => list("EXIT", EXIT_AREA, ...e);

/** Whether the check fails on the state, and its message then. */
function verdict(id: string, caps: Caps, ...patches: Patch[]): string | false {
  const check = checkById(id);
  if (!check) throw new Error(`no check ${id}`);
  const ctx = contextOf(state(caps, ...patches));
  ctx.refresh();
  if (!(check.when?.(ctx) ?? true)) throw new Error(`${id} does not apply`);
  return check.fail(ctx) ? check.message(ctx) : false;
}

const or =
  (bits: number) =>
  (old: bigint): bigint =>
    old | BigInt(bits >>> 0);
const clr =
  (bits: number) =>
  (old: bigint): bigint =>
    old & ~BigInt(bits >>> 0);

describe("value-reserved-bits names each MSR with a known valid mask", () => {
  // The all-features profile: IA32_RTIT_CTL valid 0x180ffff_8f7bffef, IA32_LBR_CTL valid 0x7f000f.
  it("IA32_RTIT_CTL (570H): bit 4 is reserved", () => {
    expect(verdict("msr-load.value-reserved-bits", all, msrs([0x570, 0x8f7bffefn]))).toBe(false);
    expect(verdict("msr-load.value-reserved-bits", all, msrs([0x570, 0x10n]))).toBe(
      "VM-entry MSR-load entry 1 of 1 at 0x20000 (MSR index 0x570, value 0x10): the value sets bits that WRMSR to this MSR rejects with #GP (reserved bits 0x10); VM entry fails with exit reason 34, qualification 1 (unless an earlier entry fails first)",
    );
  });

  it("IA32_LBR_CTL (14CEH): bit 4 and bit 32 are reserved", () => {
    expect(verdict("msr-load.value-reserved-bits", all, msrs([0x14ce, 0x7f000fn]))).toBe(false);
    expect(verdict("msr-load.value-reserved-bits", all, msrs([0x14ce, 0x1_0000_0010n]))).toMatch(
      /\(reserved bits 0x100000010\); VM entry fails/,
    );
  });
});

describe("non-canonical-address covers every MSR WRMSR checks for a canonical address", () => {
  for (const [name, index] of [
    ["IA32_KERNEL_GS_BASE", 0xc0000102],
    ["IA32_SYSENTER_ESP", 0x175],
    ["IA32_SYSENTER_EIP", 0x176],
    ["IA32_DS_AREA", 0x600],
    ["IA32_LSTAR", 0xc0000082],
    ["IA32_CSTAR", 0xc0000083],
  ] as const)
    it(`${name} (${index.toString(16).toUpperCase()}H)`, () => {
      expect(verdict("msr-load.non-canonical-address", all, msrs([index, 0xffff800000000000n]))).toBe(false);
      expect(verdict("msr-load.non-canonical-address", all, msrs([index, 0x0000800000000000n]))).toMatch(
        /: the value is not canonical for a 48-bit linear-address width: bits 63:47 must all equal bit 47; WRMSR would raise #GP;/,
      );
    });

  it("not IA32_STAR (C0000081H), whose value is no address", () => {
    expect(verdict("msr-load.non-canonical-address", all, msrs([0xc0000081, 0x0000800000000000n]))).toBe(
      false,
    );
  });
});

describe("efer-lme-with-paging: EFER.LME after guest state is loaded", () => {
  const EFER = 0xc0000080;
  it("with 'load IA32_EFER', the guest IA32_EFER field gives it (not the 'IA-32e mode guest' control)", () => {
    // A guest EFER with LME but the control clear (a guest-state failure too; the MSR rule reads the field).
    const setup: Patch = { vmcs: { VM_ENTRY_CONTROLS: clr(ENTRY.IA32E_GUEST) } };
    expect(verdict("msr-load.efer-lme-with-paging", all, setup, msrs([EFER, 0xd01n]))).toBe(false);
    expect(verdict("msr-load.efer-lme-with-paging", all, setup, msrs([EFER, 0x801n]))).toMatch(
      /: the guest has CR0\.PG=1 and EFER\.LME=1 after loading guest state; WRMSR that changes LME/,
    );
  });

  it("without it, the 'IA-32e mode guest' control gives it: a legacy-paging guest may load EFER without LME", () => {
    const legacy: Patch = {
      vmcs: { VM_ENTRY_CONTROLS: clr(ENTRY.IA32E_GUEST | ENTRY.LOAD_EFER), GUEST_IA32_EFER: 0n },
    };
    expect(verdict("msr-load.efer-lme-with-paging", all, legacy, msrs([EFER, 0x801n]))).toBe(false);
    expect(verdict("msr-load.efer-lme-with-paging", all, legacy, msrs([EFER, 0xd01n]))).toMatch(
      /EFER\.LME=0 after loading guest state/,
    );
    const long: Patch = {
      vmcs: { VM_ENTRY_CONTROLS: (old) => clr(ENTRY.LOAD_EFER)(or(ENTRY.IA32E_GUEST)(old)) },
    };
    expect(verdict("msr-load.efer-lme-with-paging", all, long, msrs([EFER, 0xd01n]))).toBe(false);
    expect(verdict("msr-load.efer-lme-with-paging", all, long, msrs([EFER, 0x801n]))).toMatch(/EFER\.LME=1/);
  });
});

describe("unavailable-msr says why an MSR may fail", () => {
  it("one the SDM lets a processor refuse (IA32_BIOS_UPDT_TRIG, 79H)", () => {
    const r = run(sky, msrs([0x79, 0n]));
    expect(r.possible?.[0]?.violations[0]?.message).toBe(
      "VM-entry MSR-load entry 1 of 1 at 0x20000 (MSR index 0x79, value 0x0): the processor may refuse to load MSR 0x79 (IA32_BIOS_UPDT_TRIG) on VM entry (the SDM lets a processor refuse to load it on VM entry (Vol. 4 Table 2-2)); KVM refuses it; VM entry fails with exit reason 34, qualification 1 (unless an earlier entry fails first)",
    );
  });

  it("one the profile cannot place (1FFH), named by number only", () => {
    const r = run(sky, msrs([0x1ff, 0n]));
    expect(r.possible?.[0]?.violations[0]?.message).toMatch(
      /: WRMSR to MSR 0x1ff may raise #GP on this CPU: [^;]+; VM entry fails with exit reason 34/,
    );
  });
});

describe("the VM-exit MSR-load list", () => {
  const warnings = (caps: Caps, ...p: Patch[]) => {
    const ctx = contextOf(state(caps, ...p));
    ctx.refresh();
    return exitMsrLoadWarnings(ctx);
  };

  it("words a definite warning with the entry's place, index, reserved bits and value", () => {
    const p = exitList([0xc0000081, 0n], [0xc0000100, 0x1234n]);
    (p.memory as Record<number, bigint>)[EXIT_AREA + 16 + 4] = 0n;
    expect(warnings(sky, p)).toEqual([
      {
        id: "exit-msr-load.fs-gs-base",
        sdm: "28.6",
        message:
          "VM-exit MSR-load entry 2 of 2 at 0x30010 (MSR index 0xc0000100, value 0x1234): IA32_FS_BASE and IA32_GS_BASE cannot be loaded from an MSR-load area; the FS and GS base fields of the VMCS load them; the next VM exit would end in a VMX abort (indicator 4, SDM 28.7) instead of returning to the host",
        fields: ["VM_EXIT_MSR_LOAD_ADDR", "VM_EXIT_MSR_LOAD_COUNT"],
      },
    ]);
    const reserved = exitList([0xc0000081, 0n]);
    (reserved.memory as Record<number, bigint>)[EXIT_AREA + 4] = 0x5n;
    expect(warnings(sky, reserved)?.map((w) => w.message)).toEqual([
      "VM-exit MSR-load entry 1 of 1 at 0x30000 (MSR index 0xc0000081, bits 63:32 0x5, value 0x0): bits 63:32 of the entry must be 0; the MSR index is only 32 bits; the next VM exit would end in a VMX abort (indicator 4, SDM 28.7) instead of returning to the host",
    ]);
  });

  it("words a possible warning (an MSR a processor may refuse), and stops at the first definite one", () => {
    const w = warnings(sky, exitList([0x79, 0n], [0xc0000100, 0n], [0x8b, 0n]));
    expect(w?.map((x) => [x.id, x.sdm])).toEqual([
      ["exit-msr-load.unavailable-msr", "28.6"],
      ["exit-msr-load.fs-gs-base", "28.6"],
    ]);
    expect(w?.[0]?.message).toBe(
      "VM-exit MSR-load entry 1 of 3 at 0x30000 (MSR index 0x79, value 0x0): on some CPUs this profile stands for, the processor may refuse to load MSR 0x79 (IA32_BIOS_UPDT_TRIG) on VM entry (the SDM lets a processor refuse to load it on VM entry (Vol. 4 Table 2-2)); KVM refuses it; the next VM exit would then end in a VMX abort (indicator 4, SDM 28.7)",
    );
    expect(w?.[0]?.fields).toEqual(["VM_EXIT_MSR_LOAD_ADDR", "VM_EXIT_MSR_LOAD_COUNT"]);
  });

  it("lists at most 8 possible warnings", () => {
    const ten = Array.from({ length: 10 }, (): [number, bigint] => [0x79, 0n]);
    expect(warnings(sky, exitList(...ten))).toHaveLength(8);
    const nine: [number, bigint][] = [...ten.slice(0, 8), [0xc0000100, 0n]];
    expect(warnings(sky, exitList(...nine))?.map((x) => x.id.replace("exit-msr-load.", ""))).toEqual([
      ...Array(8).fill("unavailable-msr"),
      "fs-gs-base",
    ]);
  });

  it("examines no more entries than the recommended maximum (512 on skylake)", () => {
    const entries = Array.from({ length: 513 }, (_, i): [number, bigint] => [
      i === 512 ? 0xc0000100 : 0xc0000081,
      0n,
    ]);
    expect(sky.maxMsrList).toBe(512);
    expect(warnings(sky, exitList(...entries))).toBeUndefined();
    expect(warnings(sky, exitList(...entries.slice(1)))?.map((x) => x.message.slice(0, 40))).toEqual([
      "VM-exit MSR-load entry 512 of 512 at 0x3",
    ]);
  });
});
