/**
 * The reading context (src/entry/trace.ts): what a check read, by kind — VMCS fields (either half of a slot, and
 * the fields behind a derived control word), processor-state keys, memory bytes by access width — with the
 * values the plain context gives, and nothing recorded for what a short-circuit skipped.
 */
import { describe, expect, it } from "vitest";
import { F } from "../../src/arch/fields.js";
import { CHECKS } from "../../src/checks/registry.js";
import type { Check, Ctx } from "../../src/checks/types.js";
import { failingChecksReference } from "../../src/entry/evaluate.js";
import { contextOf } from "../../src/entry/run.js";
import { ReadingContext, traceAll } from "../../src/entry/trace.js";
import { profileAll, state } from "../helpers.js";

const caps = profileAll();
const f = (name: string): number => F[name]!;

/** A check for the reading context: only its `when` and `fail` are used. */
const check = (fail: (c: Ctx) => boolean, when?: (c: Ctx) => boolean): Check =>
  ({ id: "test.check", fail, when }) as unknown as Check;

/** The reads of one predicate run on a context of the base state (with a patch). */
function readsOf(fail: (c: Ctx) => boolean, e = state(caps)) {
  const r = new ReadingContext(contextOf(e)).run(check(fail));
  return {
    fails: r.fails,
    fields: [...r.reads.fields].sort((a, b) => a - b),
    processor: [...r.reads.processor],
    memory: [...r.reads.memory].sort((a, b) => a - b),
  };
}

describe("ReadingContext", () => {
  it("a VMCS slot read records its field, from either half, and gives the slot's value", () => {
    const e = state(caps, { vmcs: { GUEST_CR4: 0x1234_0000_2000n, GUEST_CR0: 0x80000031n } });
    let seen: number[] = [];
    const r = readsOf((c) => {
      seen = [
        c.v[f("GUEST_CR4") << 1]!,
        c.v[(f("GUEST_CR4") << 1) | 1]!,
        c.lo(f("GUEST_CR0")),
        c.hi(f("GUEST_RIP")),
      ];
      return seen[0] === 0x2000;
    }, e);
    expect(seen).toEqual([0x2000, 0x1234, 0x80000031, Number(e.vmcs.get(f("GUEST_RIP")) >> 32n)]);
    expect(r).toEqual({
      fails: true,
      fields: [f("GUEST_CR0"), f("GUEST_CR4"), f("GUEST_RIP")].sort((a, b) => a - b),
      processor: [],
      memory: [],
    });
  });

  it("slot 0 is field 0; keys that are not slot numbers record nothing and read through", () => {
    expect(readsOf((c) => c.v[0] === 0 && c.v[1] === 0).fields).toEqual([0]);
    const r = readsOf((c) => {
      const v = c.v as unknown as Record<string, unknown>;
      return (
        v[""] === undefined &&
        v["-2"] === undefined &&
        v["1.5"] === undefined &&
        c.v.length > 0 &&
        c.v[Symbol.toStringTag] === "Uint32Array"
      );
    });
    expect(r).toEqual({ fails: true, fields: [], processor: [], memory: [] });
    // a method of the slot array works on the real array (a typed array's methods reject a proxy receiver)
    expect(readsOf((c) => c.v.subarray(0, 2).length === 2)).toEqual({
      fails: true,
      fields: [],
      processor: [],
      memory: [],
    });
  });

  it("a derived control word records the fields it is computed from", () => {
    const cases: [keyof Ctx, string[]][] = [
      ["pin", ["PIN_BASED_VM_EXEC_CONTROL"]],
      ["proc2", ["CPU_BASED_VM_EXEC_CONTROL", "SECONDARY_VM_EXEC_CONTROL"]],
      ["exit2Hi", ["VM_EXIT_CONTROLS", "SECONDARY_VM_EXIT_CONTROLS"]],
      ["entry", ["VM_ENTRY_CONTROLS"]],
      ["v86", ["GUEST_RFLAGS"]],
    ];
    for (const [k, names] of cases) {
      let value: unknown;
      const r = readsOf((c) => {
        value = c[k];
        return false;
      });
      expect(r.fields, k).toEqual(names.map(f).sort((a, b) => a - b));
      expect(value, k).toBe(contextOf(state(caps))[k]);
    }
    // the profile is not state: reading it records nothing
    expect(readsOf((c) => c.caps.maxMsrList > 0)).toEqual({
      fails: true,
      fields: [],
      processor: [],
      memory: [],
    });
  });

  it("processor-state keys are recorded by name, with their values", () => {
    const e = state(caps, { processor: { cpl: 2 } });
    const symbol = Symbol("not a key");
    expect(
      readsOf(
        (c) =>
          (c.proc_ as unknown as Record<symbol, unknown>)[symbol] === undefined &&
          c.proc_.cpl === 2 &&
          !c.proc_.inSmm,
        e,
      ),
    ).toEqual({
      fails: true,
      fields: [],
      processor: ["cpl", "inSmm"],
      memory: [],
    });
  });

  it("memory reads record every byte of their width; other members of the memory read through unrecorded", () => {
    const e = state(caps, { memory: { 4096: 0x0807060504030201n } });
    let values: unknown[] = [];
    const r = readsOf((c) => {
      values = [
        c.mem.read8(0x1001),
        c.mem.read32(0x1004),
        c.mem.read64(0x1000),
        c.mem.version,
        c.mem.words(0x1000, 2)[1],
      ];
      return true;
    }, e);
    expect(values).toEqual([2, 0x08070605, 0x0807060504030201n, e.memory.version, 0x08070605]);
    expect(r.memory).toEqual([0x1000, 0x1001, 0x1002, 0x1003, 0x1004, 0x1005, 0x1006, 0x1007]);
    const apart = readsOf((c) => c.mem.read8(0x10) + c.mem.read32(0x20) + Number(c.mem.read64(0x40)) === 0);
    expect(apart.memory).toEqual([
      0x10,
      0x20,
      0x21,
      0x22,
      0x23,
      ...Array.from({ length: 8 }, (_, i) => 0x40 + i),
    ]);
  });

  it("a check whose `when` is false fails not and records only what `when` read; each run has its own reads", () => {
    const rc = new ReadingContext(contextOf(state(caps)));
    const skipped = rc.run(
      check(
        (c) => c.lo(f("GUEST_CR0")) >= 0,
        (c) => c.proc_.cpl === 3,
      ),
    );
    expect(skipped.fails).toBe(false);
    expect([...skipped.reads.fields, ...skipped.reads.processor]).toEqual(["cpl"]);
    const both = rc.run(
      check(
        (c) => c.lo(f("GUEST_CR0")) === 0,
        (c) => c.proc_.cpl === 0,
      ),
    );
    expect(both.fails).toBe(false);
    expect([[...both.reads.fields], [...both.reads.processor]]).toEqual([[f("GUEST_CR0")], ["cpl"]]);
    expect(
      rc.run(
        check(
          () => true,
          () => true,
        ),
      ).fails,
    ).toBe(true);
    expect(skipped.reads.fields.size).toBe(0);
  });
});

describe("traceAll", () => {
  it("every check in registry order, the verdicts of the reference loop, on the state as it is now", () => {
    const e = state(caps);
    const ctx = contextOf(e);
    // changed after the context was made: traceAll refreshes the derived control words first
    e.vmcs.set(f("GUEST_RFLAGS"), 0x8n);
    e.vmcs.set(f("PIN_BASED_VM_EXEC_CONTROL"), 0n);
    const t = traceAll(ctx);
    expect(t.map((x) => x.check)).toEqual(CHECKS);
    const failing = failingChecksReference(contextOf(e)).map((c) => c.id);
    expect(failing.length).toBeGreaterThan(1);
    expect(t.filter((x) => x.fails).map((x) => x.check.id)).toEqual(failing);
    const rflags = t.find((x) => x.check.id === "guest.rflags.reserved-bits")!;
    expect(rflags.reads.fields.has(f("GUEST_RFLAGS"))).toBe(true);
    // a subset of checks: only those
    expect(traceAll(ctx, CHECKS.slice(0, 3)).map((x) => x.check.id)).toEqual(
      CHECKS.slice(0, 3).map((c) => c.id),
    );
  });
});
