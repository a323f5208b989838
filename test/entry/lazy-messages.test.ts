/**
 * Messages are built when they are read (issue 15): a result's violations carry their ids and fields at once,
 * and a message read later describes the state as it was evaluated, even after the VMCS, the processor state
 * or the memory changed (a fuzzer or a batch reader reuses them); serializing a result includes them.
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

describe("violation messages are built when read, from the state as evaluated", () => {
  it("a guest RFLAGS message first read after the field and the processor changed names the evaluated value", () => {
    const make = () => state(caps, { vmcs: { GUEST_RFLAGS: 0x8n } });
    const want = eager(make);
    expect(want).toEqual([
      "GUEST_RFLAGS=0x8 sets reserved bit 3 (0x8); bits 63:22, 15, 5 and 3 must be 0",
      "GUEST_RFLAGS=0x8 has bit 1 clear; RFLAGS bit 1 is reserved and must be 1",
    ]);
    const e = make();
    const r = evaluate(contextOf(e));
    e.vmcs.set(F.GUEST_RFLAGS!, 0x2n); // the store is reused for the next document
    e.processor.cpl = 3;
    expect(r.violations.map((v) => v.id)).toEqual(["guest.rflags.reserved-bits", "guest.rflags.bit1-set"]);
    expect(r.violations.map((v) => v.message)).toEqual(want);
  });

  it("a processor-state message first read after the processor state changed gives the evaluated CPL", () => {
    const e = state(caps);
    e.processor.cpl = 3;
    const r = evaluate(contextOf(e));
    e.processor.cpl = 1;
    expect(r.violations.map((v) => v.message)).toEqual([
      "CPL is 3; VMLAUNCH/VMRESUME require CPL 0 and raise #GP(0) otherwise",
    ]);
  });

  it("an MSR-load message first read after the memory changed names the entry as it was", () => {
    const make = () => {
      const e = state(caps, { vmcs: { VM_ENTRY_MSR_LOAD_COUNT: 1, VM_ENTRY_MSR_LOAD_ADDR: 0x10000 } });
      e.memory.write32(0x10000, 0x9e); // IA32_SMBASE: WRMSR cannot write it
      return e;
    };
    const want = eager(make);
    expect(want).toEqual([expect.stringContaining("MSR index 0x9e")]);
    const e = make();
    const r = evaluate(contextOf(e));
    e.memory.write32(0x10000, 0x10); // the batch reader's memory, reused for the next document
    expect(r.violations.map((v) => v.id)).toEqual(["msr-load.smbase-read-only"]);
    expect(r.violations.map((v) => v.message)).toEqual(want);
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
