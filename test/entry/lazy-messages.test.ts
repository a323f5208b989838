/**
 * Messages are built when they are read (issue 15): a result's violations carry their ids and fields at once;
 * a message read later is the one an eager build gives, as long as the VMCS has not changed; after a change
 * through the store's or the memory's methods the read throws (it would describe another state). Checks that
 * read the processor state, which nvmx cannot watch, get their message at once.
 */
import { describe, expect, it } from "vitest";
import { F } from "../../src/arch/fields.js";
import type { Entry } from "../../src/entry/document.js";
import { evaluate } from "../../src/entry/evaluate.js";
import { contextOf, runEntry } from "../../src/entry/run.js";
import { profileAll, state } from "../helpers.js";

const caps = profileAll();

/** The messages of a fresh evaluation of a state, read at once. */
function eager(make: () => Entry): string[] {
  return runEntry(make()).violations.map((v) => v.message);
}

describe("violation messages are built when read", () => {
  it("a message read later, the VMCS unchanged, is the eager one", () => {
    const make = () => state(caps, { vmcs: { GUEST_RFLAGS: 0x8n } });
    const want = [
      "GUEST_RFLAGS=0x8 sets reserved bit 3 (0x8); bits 63:22, 15, 5 and 3 must be 0",
      "GUEST_RFLAGS=0x8 has bit 1 clear; RFLAGS bit 1 is reserved and must be 1",
    ];
    expect(eager(make)).toEqual(want);
    const e = make();
    const ctx = contextOf(e);
    const r = evaluate(ctx);
    evaluate(contextOf(state(caps))); // other states evaluated in between
    expect(r.violations.map((v) => v.id)).toEqual(["guest.rflags.reserved-bits", "guest.rflags.bit1-set"]);
    expect(r.violations.map((v) => v.message)).toEqual(want);
  });

  it("a message first read after the VMCS changed through the store throws, naming the check; one read before stays", () => {
    const e = state(caps, { vmcs: { GUEST_RFLAGS: 0x8n } });
    const r = evaluate(contextOf(e));
    const first = r.violations[0]!.message;
    e.vmcs.set(F.GUEST_RFLAGS!, 0x2n);
    expect(r.violations[0]!.message).toBe(first);
    expect(() => r.violations[1]!.message).toThrow(
      "the message of guest.rflags.bit1-set was read after the state changed: read (or serialize) a result's messages before changing its VMCS or memory",
    );
    for (const change of [
      (x: Entry) => x.vmcs.setHalves(F.GUEST_RFLAGS!, 2, 0),
      (x: Entry) => x.vmcs.vmwrite(0x6820, 2n),
      (x: Entry) => x.vmcs.setByName("GUEST_RFLAGS", 2n),
    ]) {
      const x = state(caps, { vmcs: { GUEST_RFLAGS: 0x8n } });
      const rx = evaluate(contextOf(x));
      change(x);
      expect(() => JSON.stringify(rx)).toThrow("was read after the state changed");
    }
  });

  it("a processor-state check's message is built at once: the CPL as evaluated", () => {
    const e = state(caps);
    e.processor.cpl = 3;
    const r = evaluate(contextOf(e));
    e.processor.cpl = 1;
    expect(r.violations.map((v) => v.message)).toEqual([
      "CPL is 3; VMLAUNCH/VMRESUME require CPL 0 and raise #GP(0) otherwise",
    ]);
  });

  it("an MSR-load message reads memory when read: the eager one while memory is unchanged, an error after a write", () => {
    const make = () => {
      const e = state(caps, { vmcs: { VM_ENTRY_MSR_LOAD_COUNT: 1, VM_ENTRY_MSR_LOAD_ADDR: 0x10000 } });
      e.memory.write32(0x10000, 0x9e); // IA32_SMBASE: WRMSR cannot write it
      return e;
    };
    const want = eager(make);
    expect(want).toEqual([expect.stringContaining("MSR index 0x9e")]);
    const e = make();
    const r = evaluate(contextOf(e));
    expect(r.violations.map((v) => v.id)).toEqual(["msr-load.smbase-read-only"]);
    expect(r.violations.map((v) => v.message)).toEqual(want);
    const later = evaluate(contextOf(e));
    e.memory.write32(0x10000, 0x10); // the batch reader's memory, reused for the next document
    expect(() => later.violations[0]!.message).toThrow(
      "the message of msr-load.smbase-read-only was read after the state changed: read (or serialize) a result's messages before changing its VMCS or memory",
    );
    const cleared = evaluate(contextOf(make()));
    const m = make();
    const rc = evaluate(contextOf(m));
    m.memory.clear();
    expect(() => rc.violations[0]!.message).toThrow("was read after the state changed");
    expect(cleared.violations[0]!.message).toBe(want[0]);
  });

  it("JSON gives every violation's message, in the key order id, sdm, message, fields", () => {
    const r = runEntry(state(caps, { vmcs: { GUEST_RFLAGS: 0n } }));
    const json = JSON.parse(JSON.stringify(r)) as { violations: Record<string, unknown>[] };
    expect(json.violations.map((v) => Object.keys(v))).toEqual([["id", "sdm", "message", "fields"]]);
    expect(json.violations[0]).toEqual({
      id: "guest.rflags.bit1-set",
      sdm: r.violations[0]!.sdm,
      message: r.violations[0]!.message,
      fields: ["GUEST_RFLAGS"],
    });
  });
});
