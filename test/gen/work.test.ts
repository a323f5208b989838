/**
 * The valid generator's machinery (src/gen/valid.ts `Work` and its entry points): propose-and-verify keeps a
 * proposal only when every check still passes and otherwise restores the VMCS, memory and processor state
 * exactly; group testing keeps the legal changes of a rejected set; control changes respect the profile and
 * set the gate of the control word they need; fresh pages and canonical addresses stay in range and reach their
 * edges; modes the profile cannot run are refused with the reason; feature levels and streams behave as
 * documented.
 */
import { describe, expect, it } from "vitest";
import { ENTRY, EXIT, PROC, PROC2 } from "../../src/arch/controls.js";
import { F } from "../../src/arch/fields.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import type { Caps, ProfileData } from "../../src/cpu/profile.js";
import { serializeEntry } from "../../src/entry/document.js";
import { runEntry } from "../../src/entry/run.js";
import { Rng } from "../../src/gen/rng.js";
import { generateValid, MODES, modesFor, modeUnsupported, validStream, Work } from "../../src/gen/valid.js";
import { profileAll } from "../helpers.js";

const spr = builtinProfile("sapphirerapids");
const snapshot = (w: Work) => JSON.stringify(serializeEntry(w.entry()));
const violations = (w: Work) => runEntry(w.entry()).violations.map((v) => v.id);

function msr(d: ProfileData, name: string, set: bigint, clear: bigint): void {
  const msrs = d.msrs as Record<string, string>;
  msrs[name] = `0x${((BigInt(msrs[name] ?? "0") | set) & ~clear).toString(16)}`;
}

describe("Work.attempt (propose and verify)", () => {
  it("keeps a proposal that leaves every check passing, and names it", () => {
    const w = new Work(spr, new Rng(1));
    expect(w.attempt("bitmap", () => w.set(F.EXCEPTION_BITMAP!, 0xffff))).toBe(true);
    expect(w.lo(F.EXCEPTION_BITMAP!)).toBe(0xffff);
    expect(w.aspects).toEqual(["bitmap"]);
    // unnamed: kept, not listed
    expect(w.attempt(undefined, () => w.set(F.EXCEPTION_BITMAP!, 0xfff))).toBe(true);
    expect(w.aspects).toEqual(["bitmap"]);
  });

  it("restores the VMCS, memory and processor state exactly when a check fails, and names nothing", () => {
    const w = new Work(spr, new Rng(1));
    w.mem.write32(0x7000, 0x1234);
    const before = snapshot(w);
    const kept = w.attempt(
      "bad",
      () => {
        w.set(F.EXCEPTION_BITMAP!, 0xffff);
        w.mem.write32(0x7000, 0x5678);
        w.mem.write32(0x8000, 0x9abc);
        w.proc.cpl = 3;
        w.proc.currentVmcsPointer = 0x9000;
        w.set(F.GUEST_RFLAGS!, 0x8002); // reserved bit 15
      },
      true,
    );
    expect(kept).toBe(false);
    expect(snapshot(w)).toBe(before);
    expect("currentVmcsPointer" in w.proc).toBe(false);
    expect(w.aspects).toEqual([]);
    expect(violations(w)).toEqual([]);
    expect(w.ok()).toBe(true);
  });

  it("rejects a proposal that gives up (returns false), however valid", () => {
    const w = new Work(spr, new Rng(1));
    const before = snapshot(w);
    expect(
      w.attempt("given-up", () => {
        w.set(F.EXCEPTION_BITMAP!, 0xffff);
        return false;
      }),
    ).toBe(false);
    expect(snapshot(w)).toBe(before);
    expect(w.aspects).toEqual([]);
  });

  it("verifies a proposal that changes only the processor state (no VMCS field)", () => {
    const w = new Work(spr, new Rng(1));
    // VMRESUME of a clear VMCS fails; nothing in the VMCS changed
    expect(w.attempt("resume", () => (w.proc.instruction = "vmresume"))).toBe(false);
    expect(w.proc.instruction).toBe("vmlaunch");
    // a key added (no value changed): the current-VMCS pointer equal to the link pointer fails
    expect(w.attempt("link", () => w.setNum(F.VMCS_LINK_POINTER!, 0x6000))).toBe(false); // no VMCS there
    w.mem.write32(0x6000, spr.revision);
    expect(w.attempt("link", () => w.setNum(F.VMCS_LINK_POINTER!, 0x6000))).toBe(true);
    expect(w.attempt("pointer", () => (w.proc.currentVmcsPointer = 0x6000))).toBe(false);
    expect("currentVmcsPointer" in w.proc).toBe(false);
    expect(w.attempt("pointer", () => (w.proc.currentVmcsPointer = 0x7000))).toBe(true);
    expect(w.aspects).toEqual(["link", "pointer"]);
  });

  it("verifies a memory-only proposal when it says it touches memory", () => {
    const w = new Work(spr, new Rng(1));
    w.mem.write32(0x6000, spr.revision);
    expect(w.attempt(undefined, () => w.setNum(F.VMCS_LINK_POINTER!, 0x6000))).toBe(true);
    expect(w.attempt("bad-revision", () => w.mem.write32(0x6000, spr.revision ^ 1), true)).toBe(false);
    expect(w.mem.read32(0x6000)).toBe(spr.revision);
    expect(w.attempt("same-revision", () => w.mem.write32(0x6000, spr.revision), true)).toBe(true);
  });

  it("nests: an inner kept proposal is undone with the outer one it is part of", () => {
    const w = new Work(spr, new Rng(1));
    const before = snapshot(w);
    let inner: boolean | undefined;
    const outer = w.attempt("outer", () => {
      w.set(F.GUEST_RFLAGS!, 0x8002);
      inner = w.attempt("inner", () => w.set(F.EXCEPTION_BITMAP!, 0xffff));
      return true;
    });
    // the inner proposal was judged on a state that already failed
    expect(inner).toBe(false);
    expect(outer).toBe(false);
    expect(snapshot(w)).toBe(before);
    // and the other way round: an inner rejected proposal leaves the outer one's own change
    const ok = w.attempt("outer2", () => {
      w.set(F.EXCEPTION_BITMAP!, 0xff);
      expect(w.attempt("inner2", () => w.set(F.GUEST_RFLAGS!, 0x8002))).toBe(false);
      expect(w.lo(F.EXCEPTION_BITMAP!)).toBe(0xff);
      expect(w.attempt("inner3", () => w.set(F.PAGE_FAULT_ERROR_CODE_MASK!, 7))).toBe(true);
    });
    expect(ok).toBe(true);
    expect(w.lo(F.EXCEPTION_BITMAP!)).toBe(0xff);
    expect(w.lo(F.PAGE_FAULT_ERROR_CODE_MASK!)).toBe(7);
    expect(w.aspects).toEqual(["inner3", "outer2"]);
  });

  it("in strict mode evaluates every proposal, even one that changes nothing the fast path sees", () => {
    const w = new Work(spr, new Rng(1));
    w.strict = true;
    w.mem.write32(0x6000, spr.revision);
    expect(w.attempt(undefined, () => w.setNum(F.VMCS_LINK_POINTER!, 0x6000))).toBe(true);
    // a memory write not declared as such: only strict mode sees it fail
    expect(w.attempt("undeclared", () => w.mem.write32(0x6000, 0))).toBe(false);
    const lax = new Work(spr, new Rng(1));
    lax.mem.write32(0x6000, spr.revision);
    expect(lax.attempt(undefined, () => lax.setNum(F.VMCS_LINK_POINTER!, 0x6000))).toBe(true);
    expect(lax.attempt("undeclared", () => lax.mem.write32(0x6000, 0))).toBe(true);
    expect(lax.ok()).toBe(false);
  });
});

describe("Work.attemptAll and tryN", () => {
  it("keeps every legal change of a set and drops the illegal ones (group testing)", () => {
    const w = new Work(spr, new Rng(1));
    const fields = [
      "EXCEPTION_BITMAP",
      "PAGE_FAULT_ERROR_CODE_MASK",
      "PAGE_FAULT_ERROR_CODE_MATCH",
      "PLE_GAP",
    ];
    const changes = [
      ...fields.map((f) => () => w.set(F[f]!, 0x55)),
      () => w.set(F.GUEST_RFLAGS!, 0x8002),
      () => w.set(F.GUEST_CS_AR_BYTES!, 0),
    ];
    // the bad ones in the middle
    changes.splice(1, 0, changes.pop()!);
    changes.splice(3, 0, changes.pop()!);
    w.attemptAll(changes);
    for (const f of fields) expect(w.lo(F[f]!), f).toBe(0x55);
    expect(w.lo(F.GUEST_RFLAGS!)).toBe(0x2);
    expect(w.lo(F.GUEST_CS_AR_BYTES!)).toBe(0xa09b);
    expect(w.ok()).toBe(true);
    w.attemptAll([]);
    expect(w.ok()).toBe(true);
  });

  it("tryN makes up to n fresh proposals and stops at the first kept", () => {
    const w = new Work(spr, new Rng(1));
    let calls = 0;
    expect(w.tryN(3, "never", () => ++calls && w.set(F.GUEST_RFLAGS!, 0x8002))).toBe(false);
    expect(calls).toBe(3);
    calls = 0;
    expect(
      w.tryN(5, "third", () => {
        calls++;
        w.set(F.GUEST_RFLAGS!, calls === 3 ? 0x2 : 0x8002);
      }),
    ).toBe(true);
    expect(calls).toBe(3);
    expect(w.aspects).toEqual(["third"]);
  });

  it("p(): the feature level decides the probability of an optional feature", () => {
    expect(new Work(spr, new Rng(1), "max").p(0.3)).toBe(1);
    expect(new Work(spr, new Rng(1), "min").p(0.3)).toBe(0);
    expect(new Work(spr, new Rng(1), "random").p(0.3)).toBe(0.3);
    expect(new Work(spr, new Rng(1)).p()).toBe(0.5);
  });
});

describe("Work.ctl (control bits)", () => {
  it("refuses what the profile does not allow, and sets the gate of a secondary or tertiary word", () => {
    const caps = profileAll((d) => {
      msr(d, "IA32_VMX_PROCBASED_CTLS2", 0n, BigInt(PROC2.VPID) << 32n); // VPID not allowed
    });
    const w = new Work(caps, new Rng(1));
    w.clearBits(F.CPU_BASED_VM_EXEC_CONTROL!, PROC.SECONDARY | PROC.TERTIARY);
    w.set(F.SECONDARY_VM_EXEC_CONTROL!, 0);
    expect(w.ctl("proc2", PROC2.VPID, true)).toBe(false);
    expect(w.has("proc2", PROC2.VPID)).toBe(false);
    expect(w.ctl("proc2", PROC2.EPT, true)).toBe(true);
    expect(w.has("proc2", PROC2.EPT)).toBe(true);
    expect(w.has("proc", PROC.SECONDARY)).toBe(true);
    expect(w.has("proc", PROC.TERTIARY)).toBe(false);
    expect(w.ctl("proc3", 1, true)).toBe(true);
    expect(w.has("proc", PROC.TERTIARY)).toBe(true);
    w.clearBits(F.VM_EXIT_CONTROLS!, EXIT.SECONDARY);
    expect(w.ctl("exit2", 1, true)).toBe(true);
    expect(w.lo(F.SECONDARY_VM_EXIT_CONTROLS!) & 1).toBe(1);
    expect(w.has("exit", EXIT.SECONDARY)).toBe(true);
    // clearing does not touch the gate
    expect(w.ctl("proc2", PROC2.EPT, false)).toBe(true);
    expect(w.has("proc2", PROC2.EPT)).toBe(false);
    expect(w.has("proc", PROC.SECONDARY)).toBe(true);
    // a bit the profile requires cannot be cleared (profile-all requires pin bits 1, 2, 4)
    expect(w.must("pin", 1 << 1)).toBe(true);
    expect(w.ctl("pin", 1 << 1, false)).toBe(false);
    expect(w.lo(F.PIN_BASED_VM_EXEC_CONTROL!) & 2).toBe(2);
    // may: every bit of the mask allowed; must: any bit of it required
    expect(w.may("proc2", PROC2.EPT | PROC2.VPID)).toBe(false);
    expect(w.may("proc2", PROC2.EPT | PROC2.UNRESTRICTED_GUEST)).toBe(true);
    expect(w.must("pin", (1 << 1) | (1 << 3))).toBe(true);
    expect(w.must("pin", 1 << 3)).toBe(false);
  });

  it("reports a control whose gate the profile forbids as not set", () => {
    const caps = profileAll((d) => {
      msr(d, "IA32_VMX_PROCBASED_CTLS", 0n, BigInt(PROC.SECONDARY | PROC.TERTIARY) << 32n);
      msr(d, "IA32_VMX_TRUE_PROCBASED_CTLS", 0n, BigInt(PROC.SECONDARY | PROC.TERTIARY) << 32n);
      msr(d, "IA32_VMX_EXIT_CTLS", 0n, BigInt(EXIT.SECONDARY) << 32n);
      msr(d, "IA32_VMX_TRUE_EXIT_CTLS", 0n, BigInt(EXIT.SECONDARY) << 32n);
    });
    const w = new Work(caps, new Rng(1));
    expect(w.ctl("proc2", PROC2.EPT, true)).toBe(false);
    expect(w.ctl("proc3", 1, true)).toBe(false);
    expect(w.ctl("exit2", 1, true)).toBe(false);
    expect(w.has("proc", PROC.SECONDARY)).toBe(false);
    expect(w.has("exit", EXIT.SECONDARY)).toBe(false);
  });
});

describe("Work addresses", () => {
  it("page(): distinct 4-KByte pages above the first, below the physical-address width, reaching the top", () => {
    for (const [caps, bits] of [
      [spr, spr.maxPhysAddr],
      [profileAll((d) => msr(d, "IA32_VMX_BASIC", 1n << 48n, 0n)), 32],
    ] as [Caps, number][]) {
      const w = new Work(caps, new Rng(3));
      expect(w.physBits()).toBe(bits);
      const seen = new Set<number>();
      let top = 0;
      let low32 = 0;
      for (let i = 0; i < 400; i++) {
        const a = w.page();
        expect(a % 0x1000).toBe(0);
        expect(a).toBeGreaterThanOrEqual(0x1000);
        expect(a).toBeLessThan(2 ** bits);
        expect(seen.has(a)).toBe(false);
        seen.add(a);
        if (a >= 2 ** bits - 0x4000) top++;
        const b = w.page(32);
        expect(b).toBeLessThan(2 ** 32);
        seen.add(b);
        if (b >= 2 ** 32 - 0x4000) low32++;
      }
      expect(top).toBeGreaterThan(0);
      if (bits > 32) expect(low32).toBeGreaterThan(0);
      // most pages are below 2^40 whatever the width: physical memory the tests can hold
      expect([...seen].filter((a) => a < 2 ** 40).length).toBeGreaterThan(600);
    }
  });

  it("canonical(): canonical for the CPU's linear-address width, with both edges of the hole", () => {
    for (const caps of [builtinProfile("skylake"), spr]) {
      const bits = caps.linearAddressBits;
      const w = new Work(caps, new Rng(4));
      const seen = new Set<string>();
      let upper = 0;
      for (let i = 0; i < 600; i++) {
        const [lo, hi] = w.canonical();
        const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
        const top = v >> BigInt(bits - 1);
        // bits 63:bits-1 all equal
        expect(top === 0n || top === (1n << BigInt(65 - bits)) - 1n, v.toString(16)).toBe(true);
        if (top !== 0n) upper++;
        seen.add(v.toString(16));
      }
      const highestLower = (1n << BigInt(bits - 1)) - 1n;
      const lowestUpper = (1n << 64n) - (1n << BigInt(bits - 1));
      expect(seen.has(highestLower.toString(16)), `${bits}: highest lower`).toBe(true);
      expect(seen.has(lowestUpper.toString(16)), `${bits}: lowest upper`).toBe(true);
      expect(upper).toBeGreaterThan(150);
      expect(upper).toBeLessThan(450);
      expect(seen.size).toBeGreaterThan(400);
    }
  });
});

describe("modes, levels and streams", () => {
  it("refuses a mode the profile cannot run, saying why", () => {
    const noUg = profileAll((d) =>
      msr(d, "IA32_VMX_PROCBASED_CTLS2", 0n, BigInt(PROC2.UNRESTRICTED_GUEST) << 32n),
    );
    expect(modesFor(noUg)).toEqual(["64", "32", "pae", "v86"]);
    expect(modeUnsupported(noUg, "real")).toBe(
      "test-all does not support unrestricted guest with EPT (needed for real mode)",
    );
    expect(modeUnsupported(noUg, "v86")).toBeUndefined();
    expect(() => generateValid(noUg, 1, { mode: "real" })).toThrow(
      "test-all does not support unrestricted guest with EPT (needed for real mode)",
    );
    const noEptWb = profileAll((d) => msr(d, "IA32_VMX_EPT_VPID_CAP", 0n, (1n << 14n) | (1n << 8n)));
    expect(modesFor(noEptWb)).not.toContain("real");
    const noLong = profileAll((d) => msr(d, "IA32_VMX_BASIC", 1n << 48n, 0n));
    expect(modesFor(noLong)).toEqual(["32", "pae", "real", "v86"]);
    expect(modeUnsupported(noLong, "64")).toBe("test-all does not support IA-32e mode guests");
    const noIa32e = profileAll((d) => {
      msr(d, "IA32_VMX_ENTRY_CTLS", 0n, BigInt(ENTRY.IA32E_GUEST) << 32n);
      msr(d, "IA32_VMX_TRUE_ENTRY_CTLS", 0n, BigInt(ENTRY.IA32E_GUEST) << 32n);
    });
    expect(modesFor(noIa32e)).toEqual(["32", "pae", "real", "v86"]);
    expect(modesFor(profileAll())).toEqual([...MODES]);
  });

  it("min switches no optional feature on; max switches on every one the mode allows", () => {
    const optional = [
      "ept",
      "vpid",
      "posted-interrupts",
      "preemption-timer",
      "vmcs-shadowing",
      "pml",
      "vm-functions",
    ];
    for (let i = 0; i < 10; i++) {
      const min = generateValid(spr, Rng.derive(8, i), { mode: "64", features: "min" });
      for (const a of optional) expect(min.aspects, `min #${i}`).not.toContain(a);
      expect(min.aspects.filter((a) => a.startsWith("event:"))).toEqual([]);
      const max = generateValid(spr, Rng.derive(8, i), { mode: "64", features: "max" });
      expect(max.aspects.filter((a) => optional.includes(a)).length, `max #${i}`).toBeGreaterThanOrEqual(5);
    }
  });

  it("validStream: state i is generateValid(seed, i) in the i-th mode of the profile, modes in turn", () => {
    const it = validStream(spr, 21);
    const modes = modesFor(spr);
    for (let i = 0; i < 2 * modes.length; i++) {
      const g = it.next().value!;
      expect(g.mode).toBe(modes[i % modes.length]);
      const again = generateValid(spr, Rng.derive(21, i), { mode: modes[i % modes.length]! });
      expect(JSON.stringify(serializeEntry(g.entry))).toBe(JSON.stringify(serializeEntry(again.entry)));
    }
    const fixed = validStream(spr, 21, { mode: "pae" });
    for (let i = 0; i < 3; i++) expect(fixed.next().value!.mode).toBe("pae");
  });

  it("a seed and a stream give the same state (generateValid takes either)", () => {
    const a = generateValid(spr, 99, { mode: "v86" });
    const b = generateValid(spr, new Rng(99), { mode: "v86" });
    expect(JSON.stringify(serializeEntry(a.entry))).toBe(JSON.stringify(serializeEntry(b.entry)));
    expect(a.aspects).toEqual(b.aspects);
  });

  it("chooses on the profile's narrowest reading: no MSR-load entry for an MSR not known to be loadable", () => {
    // without CPUID data or flags, RDTSCP (IA32_TSC_AUX) and SYSENTER (IA32_SYSENTER_ESP) are not known
    const vague = profileAll((d) => {
      delete d.cpuid;
      d.flags = [];
    });
    expect(vague.facts.conservative().msrLoad(0xc0000103)).not.toBe(0);
    const seen = new Set<number>();
    for (let i = 0; i < 40; i++) {
      const g = generateValid(vague, Rng.derive(50, i), { mode: "64", features: "max" });
      expect(g.entry.caps).toBe(vague);
      const e = g.entry;
      const area = Number(e.vmcs.getByName("VM_ENTRY_MSR_LOAD_ADDR"));
      for (let k = 0; k < Number(e.vmcs.getByName("VM_ENTRY_MSR_LOAD_COUNT")); k++)
        seen.add(e.memory.read32(area + 16 * k));
    }
    expect(seen.size).toBeGreaterThan(2);
    expect(seen.has(0xc0000103)).toBe(false);
    expect(seen.has(0x175)).toBe(false);
  });

  it("builds on a given start state instead of the base state", () => {
    const start = generateValid(spr, 5, { mode: "pae" }).entry;
    const w = new Work(spr, new Rng(1), "random", start);
    expect(w.vmcs).toBe(start.vmcs);
    expect(w.entry().memory).toBe(start.memory);
    expect(w.entry().processor).toBe(start.processor);
    expect(w.entry().cpu).toBe("sapphirerapids");
    expect(w.ok()).toBe(true);
  });
});
