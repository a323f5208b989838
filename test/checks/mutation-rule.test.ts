/**
 * What src/checks/rule.ts adds to a rule when it compiles it, pinned where the rest of the suite does not look
 * (mutants a StrykerJS run of rule.ts left, docs/mutation.md): the parts and applicability the fast path
 * reads (`parts`, `afterGate`), the reads of applicability alone (`whenReads`), the typed originals, the
 * source URLs a debugger shows, the MSR-load walk's reads and entry index.
 */
import { describe, expect, it } from "vitest";
import * as archRegisters from "../../src/arch/registers.js";
import { GATES } from "../../src/checks/groups.js";
import { checkById } from "../../src/checks/registry.js";
import { type RuleCheck, section } from "../../src/checks/rule.js";
import type { State } from "../../src/checks/state.js";
import { Ctx } from "../../src/checks/types.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { evaluate } from "../../src/entry/evaluate.js";
import { contextOf } from "../../src/entry/run.js";
import { baseEntry } from "../../src/gen/base.js";
import { Memory } from "../../src/vmcs/memory.js";
import { msrLoadList, profileAll, state } from "../helpers.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves the names these predicates use here.
const scope = (name: string): unknown => eval(name);
const { CR0 } = archRegisters;

/** A section with an exemption, like 29.2.1.1 (`unless: "smmReturn"`). */
const exempted = section({ scope, sdm: "29.9.9", title: "test", cls: "guest", unless: "smmReturn" });
const plain = section({ scope, sdm: "29.9.8", title: "test", cls: "guest" });

const guestPe = (s: State) => (s.GUEST_CR0 & CR0.PE) !== 0;
const sspLow = (s: State) => s.GUEST_SSP & 3;

const full = exempted.rule({
  id: "test.full",
  rule: "test",
  group: "guestLoadCet",
  when: guestPe,
  fail: sspLow,
  message: (_s, low) => `low ${low}`,
  p: { n: 1 },
});
const gateOnly = plain.rule({
  id: "test.gate-only",
  rule: "test",
  group: "guestLoadCet",
  fail: sspLow,
  message: () => "x",
});
const bare = plain.rule({ id: "test.bare", rule: "test", fail: sspLow, message: () => "x" });

const msrs = msrLoadList;
const STAR: [number, bigint] = [0xc0000081, 0x0023001000000000n];
/** IA32_FS_BASE: refused in a VM-entry MSR-load list (SDM 29.4). */
const FS_BASE: [number, bigint] = [0xc0000100, 0n];

describe("a compiled rule's parts", () => {
  it("name the gate, the section's exemption and the own condition; only an MSR-load rule has `entry`", () => {
    const smm = GATES.smmReturn;
    const cet = GATES.guestLoadCet;
    expect(full.parts.gate).toBe(cet.src);
    expect(full.parts.exempt).toBe(smm.src);
    expect(Object.keys(full.parts).sort()).toEqual(["exempt", "fail", "gate", "when"]);
    expect(full.parts.fail).toMatch(/^v\[\d+\]\/\*GUEST_SSP\*\/ & 3$/);
    expect(full.parts.when).toMatch(/^\(v\[\d+\]\/\*GUEST_CR0\*\/ & 1\) !== 0$/);
    expect(Object.keys(bare.parts)).toEqual(["fail"]);
    const entry = checkById("msr-load.fs-gs-base") as RuleCheck;
    expect(Object.keys(entry.parts).sort()).toEqual(["entry", "fail", "gate"]);
    expect(entry.parts.entry).toContain("mi");
    expect(entry.parts.fail).toContain(entry.parts.entry as string);
  });

  it("give the fast path what follows the group gate (`afterGate`): the exemption and own condition, or `true`", () => {
    const afterGateOf = (c: RuleCheck) => (c.when as { afterGate?: string } | undefined)?.afterGate;
    expect(afterGateOf(full)).toBe(`!(${GATES.smmReturn.src}) && (${full.parts.when})`);
    expect(afterGateOf(gateOnly)).toBe("true");
    expect(bare.when).toBeUndefined();
  });

  it("keep apart what applicability reads (`whenReads`) from what the verdict reads", () => {
    expect(full.whenReads.fields).toEqual(["VM_ENTRY_CONTROLS", "GUEST_CR0"]);
    expect([...full.whenReads.cpu].sort()).toEqual(["dualMonitorActive", "inSmm"]);
    expect(full.reads.fields).toEqual(["GUEST_SSP", "VM_ENTRY_CONTROLS", "GUEST_CR0"]);
    expect([...full.reads.cpu]).toEqual([]);
    expect([...full.verdictReads.cpu].sort()).toEqual(["dualMonitorActive", "inSmm"]);
    expect(gateOnly.whenReads.fields).toEqual(["VM_ENTRY_CONTROLS"]);
    expect(bare.whenReads.fields).toEqual([]);
  });

  it("keep the typed originals and bindings", () => {
    expect(full.typed.fail).toBe(sspLow);
    expect(full.typed.when).toBe(guestPe);
    expect(full.typed.p).toEqual({ n: 1 });
    expect("when" in bare.typed).toBe(false);
    const entry = (s: State, e: { index: number }) => e.index === 0x10 && s.GUEST_CR0 !== 0;
    const own = (s: State) => s.GUEST_CR0 !== 1;
    const r = plain.entryRule({ id: "test.entry", rule: "t", when: own, entry, message: () => "x" });
    expect(r.typed.entry).toBe(entry);
    expect(r.typed.when).toBe(own);
    expect(r.typed.fail).toBeUndefined();
  });

  it("carry a source URL naming the check and the part (what a debugger and a stack trace show)", () => {
    /** Memory whose every read throws: the stack of the error shows the predicate that read. */
    class Throwing extends Memory {
      override read32(): number {
        throw new Error("memory read");
      }
      override words(): Uint32Array {
        throw new Error("memory read");
      }
    }
    const reads = plain.rule({
      id: "test.url",
      rule: "t",
      when: (s) => s.mem.read32(0) === 0,
      fail: (s) => s.mem.read32(4) !== 0,
      message: () => "x",
    });
    const e = state(builtinProfile("skylake"), msrLoadList(STAR));
    const ctx = new Ctx(e.vmcs, e.caps, e.processor, new Throwing());
    const stackOf = (f: () => unknown) => {
      try {
        f();
      } catch (x) {
        return (x as Error).stack ?? "";
      }
      return "(no error)";
    };
    expect(stackOf(() => reads.fail(ctx))).toContain("nvmx-predicate-test.url.fail.js");
    expect(stackOf(() => reads.when?.(ctx))).toContain("nvmx-predicate-test.url.when.js");
    const entry = checkById("msr-load.fs-gs-base") as RuleCheck;
    expect(stackOf(() => entry.fail(ctx))).toContain("nvmx-predicate-msr-load.fs-gs-base.fail.js");
  });

  it("a message's failing value is computed by a function that names its check", () => {
    class Throwing extends Memory {
      override read32(): number {
        throw new Error("memory read");
      }
    }
    const r = plain.rule({
      id: "test.witness",
      rule: "t",
      fail: (s) => s.mem.read32(0),
      message: (_s, w) => `read ${w}`,
    });
    const e = baseEntry(builtinProfile("skylake"));
    const ctx = new Ctx(e.vmcs, e.caps, e.processor, new Throwing());
    let thrown: unknown;
    try {
      r.message(ctx);
    } catch (x) {
      thrown = x;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).stack).toContain("nvmx-predicate-test.witness.witness.js");
  });

  it("a rule that cannot compile throws an error naming it, with the compiler's error as its cause", () => {
    const outside = 5;
    const bad = section({ scope: () => undefined, sdm: "1", title: "t", cls: "guest" }).rule({
      id: "bad.cause",
      rule: "x",
      fail: (s) => s.GUEST_CR0 === outside,
      message: () => "",
    });
    let thrown: unknown;
    try {
      void bad.fail;
    } catch (x) {
      thrown = x;
    }
    expect(thrown).toBeInstanceOf(Error);
    const cause = (thrown as Error).cause;
    expect(cause).toBeInstanceOf(Error);
    expect((cause as Error).message).toMatch(/^`outside` is not defined in the module/);
  });
});

describe("an MSR-load rule", () => {
  it("reads the list's address and count, the list bound and memory", () => {
    const c = checkById("msr-load.fs-gs-base") as RuleCheck;
    expect(c.reads.fields.slice(0, 2)).toEqual(["VM_ENTRY_MSR_LOAD_ADDR", "VM_ENTRY_MSR_LOAD_COUNT"]);
    expect(c.reads.caps.has("maxMsrList")).toBe(true);
    expect(c.reads.mem).toBe(true);
  });

  it("gives the 1-based index of the first failing entry, which the reference evaluation reports", () => {
    const e = state(profileAll(), msrs(STAR, STAR, FS_BASE, FS_BASE));
    const ctx = contextOf(e);
    ctx.refresh();
    const c = checkById("msr-load.fs-gs-base") as RuleCheck;
    expect(c.entryIndex?.(ctx)).toBe(3);
    const r = evaluate(ctx);
    expect(r.outcome).toEqual({ type: "vmexit", reason: 34, qualification: 3 });
    expect(r.violations.map((v) => v.id)).toEqual(["msr-load.fs-gs-base"]);
  });

  it("walks the list in a function that names its check (a stack trace through it says which)", () => {
    class Throwing extends Memory {
      override words(): Uint32Array {
        throw new Error("memory read");
      }
    }
    const e = state(profileAll(), msrs(FS_BASE));
    const ctx = new Ctx(e.vmcs, e.caps, e.processor, new Throwing());
    const c = checkById("msr-load.fs-gs-base") as RuleCheck;
    let thrown: unknown;
    try {
      c.entryIndex?.(ctx);
    } catch (x) {
      thrown = x;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).stack).toContain("nvmx-predicate-msr-load.fs-gs-base.entry.js");
  });
});
