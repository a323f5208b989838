/**
 * Repair: arbitrary states become valid (or fail exactly a chosen check) with changes that are each needed,
 * and the report lists exactly what changed.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { F, FIELDS, type FieldDef, fieldByName } from "../../src/arch/fields.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { runEntry } from "../../src/entry/run.js";
import { modeOf, repair } from "../../src/gen/repair.js";
import { Rng } from "../../src/gen/rng.js";
import { generateValid, MODES } from "../../src/gen/valid.js";
import { cloneEntry } from "../../src/gen/violate.js";

describe("repair", () => {
  const caps = builtinProfile("icelake-server");
  const writable = FIELDS.filter((f) => f.type !== "read-only");

  it("repairs randomly damaged valid states: the output passes, each change is needed, the report is exact", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e6 }),
        fc.array(
          fc.record({
            f: fc.integer({ min: 0, max: writable.length - 1 }),
            lo: fc.nat(),
            hi: fc.nat(),
            bit: fc.integer({ min: 0, max: 31 }),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        (seed, damage) => {
          const e = generateValid(caps, Rng.derive(seed, 0)).entry;
          for (const d of damage) {
            const f = writable[d.f] as FieldDef;
            const flip = d.lo % 2 === 0;
            if (flip)
              e.vmcs.setHalves(f.index, (e.vmcs.lo(f.index) ^ (1 << d.bit)) >>> 0, e.vmcs.hi(f.index));
            else e.vmcs.set(f.index, (BigInt(d.hi >>> 0) << 32n) | BigInt(d.lo >>> 0));
          }
          const input = cloneEntry(e);
          const r = repair(e);
          expect(r.ok).toBe(true);
          expect(runEntry(r.entry).violations).toEqual([]);
          // The report names exactly the VMCS fields that differ, with their old and new values.
          const changedFields = FIELDS.filter((f) => input.vmcs.get(f.index) !== r.entry.vmcs.get(f.index));
          const reported = r.changes.filter(
            (c) => !c.target.startsWith("memory") && !c.target.startsWith("processor"),
          );
          expect(reported.map((c) => c.target).sort()).toEqual(changedFields.map((f) => f.name).sort());
          for (const c of reported) {
            const f = fieldByName(c.target) as FieldDef;
            expect(BigInt(c.from), c.target).toBe(input.vmcs.get(f.index));
            expect(BigInt(c.to), c.target).toBe(r.entry.vmcs.get(f.index));
          }
          // Minimal: undoing any one field change makes the state fail again.
          for (const f of changedFields) {
            const back = cloneEntry(r.entry);
            back.vmcs.set(f.index, input.vmcs.get(f.index));
            expect(runEntry(back).violations.length, `undoing ${f.name}`).toBeGreaterThan(0);
          }
        },
      ),
      // Fixed seed: CI must be deterministic.
      { numRuns: 60, seed: 20261125 },
    );
  });

  it("repairs so that exactly one chosen check fails", () => {
    const e = generateValid(caps, 5).entry;
    e.vmcs.setByName("GUEST_CS_AR_BYTES", 0x1234n);
    const r = repair(e, { violate: "guest.rflags.reserved-bits" });
    expect(r.ok).toBe(true);
    expect(runEntry(r.entry).violations.map((v) => v.id)).toEqual(["guest.rflags.reserved-bits"]);
  });

  it("reports the changed fields with old and new values", () => {
    const e = generateValid(caps, 6, { mode: "64" }).entry;
    e.vmcs.setByName("GUEST_RFLAGS", 0x8002n);
    const r = repair(e);
    expect(r.changes).toEqual([{ target: "GUEST_RFLAGS", from: "0x8002", to: expect.stringMatching(/^0x/) }]);
  });

  it("names the guest mode a state is closest to, as the generator set it up", () => {
    const spr = builtinProfile("sapphirerapids");
    for (const mode of MODES)
      for (let i = 0; i < 10; i++)
        expect(modeOf(generateValid(spr, Rng.derive(41, i), { mode }).entry), `${mode} #${i}`).toBe(mode);
  });

  it("repairs a real-mode state with a real-mode value (templates of the state's own mode)", () => {
    const e = generateValid(caps, 6, { mode: "real" }).entry;
    e.vmcs.setByName("GUEST_CS_AR_BYTES", 0n);
    const r = repair(e);
    expect(r.ok).toBe(true);
    expect(r.failing).toEqual([]);
    expect(modeOf(r.entry)).toBe("real");
    expect(r.changes.map((c) => c.target)).toEqual(["GUEST_CS_AR_BYTES"]);
  });

  it("stops after maxSteps changes: none at 0 (the failures reported, nothing changed), one is enough here", () => {
    const e = generateValid(caps, 6, { mode: "64" }).entry;
    e.vmcs.setByName("GUEST_CS_AR_BYTES", 0n);
    const failing = runEntry(e).violations.map((v) => v.id);
    expect(failing.length).toBeGreaterThan(1);
    const none = repair(e, { maxSteps: 0 });
    expect(none).toMatchObject({ ok: false, changes: [] });
    expect(none.failing.sort()).toEqual(failing.sort());
    expect(none.entry.vmcs.getByName("GUEST_CS_AR_BYTES")).toBe(0n);
    const one = repair(e, { maxSteps: 1 });
    expect(one.ok).toBe(true);
    expect(one.changes.map((c) => c.target)).toEqual(["GUEST_CS_AR_BYTES"]);
  });

  it("reports processor-state changes by key with JSON values", () => {
    const e = generateValid(caps, 6, { mode: "64" }).entry;
    e.processor.instruction = "vmresume";
    e.processor.launchState = "clear";
    const r = repair(e);
    expect(r.ok).toBe(true);
    expect(r.changes).toEqual([{ target: "processor.instruction", from: '"vmresume"', to: '"vmlaunch"' }]);
  });

  it("says when a rule cannot be violated alone, and refuses an unknown rule id", () => {
    const west = builtinProfile("westmere");
    const e = generateValid(west, 3).entry;
    e.vmcs.setByName("GUEST_RFLAGS", 0x8002n);
    const r = repair(e, { violate: "ctl.exec.pml-aligned" });
    // repaired to valid, but no state of westmere fails the PML rule alone: not ok, nothing left failing
    expect(r.ok).toBe(false);
    expect(r.failing).toEqual([]);
    expect(runEntry(r.entry).violations).toEqual([]);
    expect(r.changes.map((c) => c.target)).toEqual(["GUEST_RFLAGS"]);
    let thrown: unknown;
    try {
      repair(e, { violate: "no.such-check" });
    } catch (x) {
      thrown = x;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).message).toBe("no check with id no.such-check");
  });

  describe("frozen parts (explain's completion of a partial log changes only what the log does not show)", () => {
    const all: readonly [number, number] = [0xffffffff, 0xffffffff];

    it("leaves a frozen field alone and fixes the rest, reporting what still fails", () => {
      const e = generateValid(caps, 6, { mode: "64" }).entry;
      e.vmcs.setByName("GUEST_RFLAGS", 0x8002n);
      e.vmcs.setByName("GUEST_CR0", e.vmcs.getByName("GUEST_CR0") & ~1n);
      const free = repair(e);
      expect(free.ok).toBe(true);
      expect(free.changes.map((c) => c.target).sort()).toEqual(["GUEST_CR0", "GUEST_RFLAGS"]);
      const r = repair(e, { frozen: { fields: new Map([[F.GUEST_RFLAGS!, all]]) } });
      expect(r.ok).toBe(false);
      expect(r.failing).toEqual(["guest.rflags.reserved-bits"]);
      expect(r.changes.map((c) => c.target)).toEqual(["GUEST_CR0"]);
      expect(r.entry.vmcs.getByName("GUEST_RFLAGS")).toBe(0x8002n);
    });

    it("keeps the frozen bits of a field and may change its others", () => {
      const e = generateValid(caps, 6, { mode: "64" }).entry;
      e.vmcs.setByName("GUEST_RFLAGS", 0x8002n);
      // the bad bit 15 frozen: nothing can help, and nothing is changed
      const stuck = repair(e, { frozen: { fields: new Map([[F.GUEST_RFLAGS!, [0x8000, 0]]]) } });
      expect(stuck).toMatchObject({ ok: false, failing: ["guest.rflags.reserved-bits"], changes: [] });
      // bit 1 frozen (it is 1): bit 15 can still go
      const ok = repair(e, { frozen: { fields: new Map([[F.GUEST_RFLAGS!, [0x2, 0]]]) } });
      expect(ok.ok).toBe(true);
      expect(ok.changes.map((c) => c.target)).toEqual(["GUEST_RFLAGS"]);
      const v = ok.entry.vmcs.getByName("GUEST_RFLAGS");
      expect(v & 0x8002n).toBe(0x2n);
    });

    it("fixes memory when the field pointing at it is frozen, and nothing when a byte of the word is frozen too", () => {
      const e = generateValid(caps, 6, { mode: "64" }).entry;
      e.vmcs.setByName("VMCS_LINK_POINTER", 0x5000n);
      e.memory.write32(0x5000, caps.revision ^ 1);
      // free: the link pointer goes back to ~0
      expect(repair(e).changes).toEqual([
        { target: "VMCS_LINK_POINTER", from: "0x5000", to: "0xffffffffffffffff" },
      ]);
      const link = new Map([[F.VMCS_LINK_POINTER!, all]]);
      const r = repair(e, { frozen: { fields: link } });
      expect(r.ok).toBe(true);
      expect(r.changes).toEqual([
        {
          target: "memory[0x5000]",
          from: `0x${(caps.revision ^ 1).toString(16)}`,
          to: `0x${caps.revision.toString(16)}`,
        },
      ]);
      // the low half alone frozen: the pointer could only move elsewhere, so memory is fixed as well
      expect(repair(e, { frozen: { fields: new Map([[F.VMCS_LINK_POINTER!, [0xffffffff, 0]]]) } }).ok).toBe(
        true,
      );
      for (const byte of [0x5000, 0x5003]) {
        const stuck = repair(e, { frozen: { fields: link, memory: new Set([byte]) } });
        expect(stuck, `byte 0x${byte.toString(16)}`).toMatchObject({
          ok: false,
          failing: ["guest.link-pointer.revision"],
          changes: [],
        });
      }
      // a frozen byte of another word does not stop it
      expect(repair(e, { frozen: { fields: link, memory: new Set([0x5004]) } }).ok).toBe(true);
    });

    it("keeps frozen high bits of a 64-bit field and changes its others", () => {
      const e = generateValid(caps, 6, { mode: "64" }).entry;
      // bit 47 of a kernel address cleared: not canonical
      e.vmcs.setByName("HOST_RIP", 0xffff7fff8100a000n);
      expect(runEntry(e).violations.length).toBeGreaterThan(0);
      const r = repair(e, { frozen: { fields: new Map([[F.HOST_RIP!, [0xffffffff, 0x80000000]]]) } });
      expect(r.ok).toBe(true);
      expect(r.changes.map((c) => c.target)).toEqual(["HOST_RIP"]);
      const rip = r.entry.vmcs.getByName("HOST_RIP");
      expect(rip & 0xffffffffn).toBe(0x8100a000n);
      expect(rip >> 47n).toBe(0x1ffffn);
    });

    it("keeps frozen bits of CR0 and sets the missing one", () => {
      const e = generateValid(caps, 6, { mode: "64" }).entry;
      const cr0 = e.vmcs.getByName("GUEST_CR0");
      e.vmcs.setByName("GUEST_CR0", cr0 & ~1n);
      const r = repair(e, { frozen: { fields: new Map([[F.GUEST_CR0!, [0x80000000, 0]]]) } });
      expect(r.ok).toBe(true);
      expect(r.entry.vmcs.getByName("GUEST_CR0") & 0x80000001n).toBe(0x80000001n);
    });

    it("changes a processor key the template lacks, to fix a rule it breaks", () => {
      const e = generateValid(caps, 6, { mode: "64" }).entry;
      e.vmcs.setByName("VMCS_LINK_POINTER", 0x5000n);
      e.memory.write32(0x5000, caps.revision);
      e.processor.currentVmcsPointer = 0x5000;
      expect(runEntry(e).violations.map((v) => v.id)).toEqual(["guest.link-pointer.current-vmcs"]);
      const r = repair(e, { frozen: { fields: new Map([[F.VMCS_LINK_POINTER!, all]]) } });
      expect(r.ok).toBe(true);
      expect(r.changes.map((c) => c.target)).toEqual(["processor.currentVmcsPointer"]);
    });

    it("copies the template where it helps, around a frozen field, when no single change does", () => {
      const e = generateValid(caps, Rng.derive(60, 1), { mode: "v86" }).entry;
      const sel = Number(e.vmcs.getByName("GUEST_DS_SELECTOR"));
      e.vmcs.setByName("GUEST_DS_SELECTOR", BigInt(sel ^ 0x5a50));
      const r = repair(e, { frozen: { fields: new Map([[F.EXCEPTION_BITMAP!, [0xffffffff, 0]]]) } });
      expect(r.ok).toBe(true);
      expect(r.entry.vmcs.getByName("EXCEPTION_BITMAP")).toBe(e.vmcs.getByName("EXCEPTION_BITMAP"));
      // of the whole template state copied, only what the fault needs stays
      expect(r.changes.map((c) => c.target).sort()).toEqual(["GUEST_DS_BASE", "GUEST_DS_SELECTOR"]);
    });

    it("leaves frozen processor keys alone and changes another one when that helps", () => {
      const e = generateValid(caps, 6, { mode: "64" }).entry;
      e.processor.instruction = "vmresume";
      e.processor.launchState = "clear";
      const r = repair(e, { frozen: { processor: new Set(["launchState"]) } });
      expect(r.ok).toBe(true);
      expect(r.changes).toEqual([{ target: "processor.instruction", from: '"vmresume"', to: '"vmlaunch"' }]);
      const stuck = repair(e, { frozen: { processor: new Set(["instruction", "launchState"]) } });
      expect(stuck).toMatchObject({ ok: false, failing: ["basic.vmresume-launch-state"], changes: [] });
    });
  });

  it("names an unpaged state with CR4.PAE set 32-bit protected mode, not PAE paging", () => {
    const e = generateValid(builtinProfile("sapphirerapids"), 3, { mode: "32" }).entry;
    e.vmcs.setByName("GUEST_CR0", e.vmcs.getByName("GUEST_CR0") & ~(1n << 31n));
    e.vmcs.setByName("GUEST_CR4", e.vmcs.getByName("GUEST_CR4") | 0x20n);
    expect(modeOf(e)).toBe("32");
    e.vmcs.setByName("GUEST_CR0", e.vmcs.getByName("GUEST_CR0") | (1n << 31n));
    expect(modeOf(e)).toBe("pae");
  });

  it("takes its templates from the seed (1 by default)", () => {
    const e = generateValid(caps, 6, { mode: "64" }).entry;
    e.vmcs.setByName("GUEST_RFLAGS", 0x8002n);
    const to = (seed?: number) => repair(e, seed === undefined ? {} : { seed }).changes.map((c) => c.to);
    expect(to()).toEqual(to(1));
    expect(to(2)).not.toEqual(to(1));
    expect(to(0)).not.toEqual(to(1));
  });

  it("fixes the first failing check first: one step leaves the later one", () => {
    const e = generateValid(caps, 6, { mode: "64" }).entry;
    e.vmcs.setByName("GUEST_RFLAGS", 0x8002n);
    e.vmcs.setByName("GUEST_DR7", 0x1_0000_0400n);
    expect(runEntry(e).violations.map((v) => v.id)).toEqual([
      "guest.dr7.high-bits",
      "guest.rflags.reserved-bits",
    ]);
    const r = repair(e, { maxSteps: 1 });
    expect(r).toMatchObject({ ok: false, failing: ["guest.rflags.reserved-bits"] });
    expect(r.changes.map((c) => c.target)).toEqual(["GUEST_DR7"]);
    expect(repair(e, { maxSteps: 2 }).ok).toBe(true);
  });

  it("asked for a violation of a state it could not repair: not ok, whatever fails", () => {
    const e = generateValid(caps, 6, { mode: "64" }).entry;
    e.vmcs.setByName("GUEST_DR7", 0x1_0000_0400n);
    // one other rule fails
    expect(repair(e, { maxSteps: 0, violate: "guest.rflags.reserved-bits" })).toMatchObject({
      ok: false,
      failing: ["guest.dr7.high-bits"],
    });
    // the rule asked for fails, and another
    e.vmcs.setByName("GUEST_RFLAGS", 0x8002n);
    expect(repair(e, { maxSteps: 0, violate: "guest.dr7.high-bits" })).toMatchObject({
      ok: false,
      failing: ["guest.dr7.high-bits", "guest.rflags.reserved-bits"],
    });
    expect(repair(e, { maxSteps: 0, violate: "guest.rflags.reserved-bits" }).ok).toBe(false);
  });

  it("a fault no single change fixes: the check's fields copied from a template, the unneeded ones put back", () => {
    const e = generateValid(caps, Rng.derive(60, 5), { mode: "v86" }).entry;
    const sel = Number(e.vmcs.getByName("GUEST_DS_SELECTOR"));
    e.vmcs.setByName("GUEST_DS_SELECTOR", BigInt(sel ^ 0x5a50));
    expect(runEntry(e).violations.map((v) => v.id)).toEqual(["guest.ds.v86-base"]);
    const r = repair(e);
    expect(r.ok).toBe(true);
    expect(r.changes.map((c) => c.target)).toEqual(["GUEST_DS_SELECTOR", "GUEST_DS_BASE"]);
    const base = Number(r.entry.vmcs.getByName("GUEST_DS_BASE"));
    expect(base).toBe(Number(r.entry.vmcs.getByName("GUEST_DS_SELECTOR")) * 16);
  });

  it("a guest-segment fault stays a guest-segment repair: changes needed only together are put back together", () => {
    // A v86 data selector no longer equal to its base / 16: no single change fixes it, so repair copies the rule's
    // fields (and, when that is not enough, the whole template state) from a valid v86 template. Before pairs were
    // put back, the template's VMRESUME and "launched" (and its other segments, exit controls, ...) stayed: each
    // is needed once the other is changed.
    // (#1 and #6 take the whole-template path)
    for (let i = 0; i < 12; i++) {
      const e = generateValid(caps, Rng.derive(60, i), { mode: "v86" }).entry;
      const sel = Number(e.vmcs.getByName("GUEST_DS_SELECTOR"));
      e.vmcs.setByName("GUEST_DS_SELECTOR", BigInt(sel ^ 0x5a50));
      const r = repair(e);
      expect(r.ok, `#${i}`).toBe(true);
      expect(r.changes.map((c) => c.target).sort(), `#${i}`).toEqual(["GUEST_DS_BASE", "GUEST_DS_SELECTOR"]);
      expect(r.entry.processor).toEqual(e.processor);
    }
  });
});
