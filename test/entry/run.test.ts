/**
 * EntryRunner (batch checking) reuses one context per CPU profile while the entry's VMCS store, processor state and
 * memory are the objects it saw last; an entry that brings another object of any of the three gets a verdict on
 * its own state, not on the state the reused context still holds.
 */
import { describe, expect, it } from "vitest";
import { builtinProfile } from "../../src/cpu/builtin.js";
import type { Entry } from "../../src/entry/document.js";
import type { EntryResult } from "../../src/entry/evaluate.js";
import { EntryRunner, runEntry } from "../../src/entry/run.js";
import { type Patch, state } from "../helpers.js";

const sky = builtinProfile("skylake");
const AREA = 0x20000;

/** A VM-entry MSR-load list of one [index, value] entry at AREA. */
function msr(index: number, value: bigint): Patch {
  return {
    vmcs: { VM_ENTRY_MSR_LOAD_ADDR: AREA, VM_ENTRY_MSR_LOAD_COUNT: 1 },
    memory: { [AREA]: BigInt(index), [AREA + 8]: value },
  };
}

const verdict = (r: EntryResult) => ({ outcome: r.outcome, ids: r.violations.map((v) => v.id) });

describe("EntryRunner", () => {
  // STAR loads; IA32_PERF_GLOBAL_CTRL bit 35 does not exist on skylake (test/checks-msr/msr-outcomes.test.ts).
  const ok = state(sky, msr(0xc0000081, 0x0023001000000000n));
  const others: [string, Entry][] = [
    ["VMCS", { ...ok, vmcs: state(sky, msr(0xc0000081, 0n), { vmcs: { GUEST_RFLAGS: 0x8n } }).vmcs }],
    ["processor state", { ...ok, processor: state(sky, { processor: { cpl: 3 } }).processor }],
    ["memory", { ...ok, memory: state(sky, msr(0x38f, 1n << 35n)).memory }],
  ];

  for (const [what, other] of others)
    it(`an entry with another ${what} object (same profile) is judged on its own state, and so is the next one`, () => {
      const want = { ok: verdict(runEntry(ok)), other: verdict(runEntry(other)) };
      expect(want.ok).toEqual({ outcome: { type: "entered" }, ids: [] });
      expect(want.other.ids).not.toEqual([]);
      const runner = new EntryRunner();
      expect(verdict(runner.run(ok))).toEqual(want.ok);
      expect(verdict(runner.run(other))).toEqual(want.other);
      expect(verdict(runner.run(ok))).toEqual(want.ok);
    });
});
