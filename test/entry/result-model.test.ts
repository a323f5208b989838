/** The result model (docs/architecture.md §1): check-order alternatives as possible findings. */
import { describe, expect, it } from "vitest";
import { humanReport } from "../../src/report.js";
import { ids, profileAll, run, state } from "../helpers.js";

const caps = profileAll();
// A control violation (CR3-target count above the CPU's limit) and a host-state violation (host CR0.PG = 0).
const bad = {
  vmcs: { CR3_TARGET_COUNT: 5, HOST_CR0: (v: bigint) => v & ~0x80000000n },
};

describe("result model: check order", () => {
  it("a control and a host violation: outcome error 7, error 8 possible with why=check-order and the host check id", () => {
    const r = run(caps, bad);
    expect(ids(r)).toEqual(["ctl.exec.cr3-target-count", "host.cr0.fixed-bits"]);
    expect(r.outcome).toEqual({ type: "vmfail-valid", error: 7 });
    expect(r.possible).toEqual([
      {
        why: "check-order",
        dependsOn: ["host.cr0.fixed-bits"],
        condition: "if the processor checks host state before the controls (SDM 29.2 allows either order)",
        outcome: { type: "vmfail-valid", error: 8 },
        violations: [],
      },
    ]);
    expect(r.possibleOutcomes).toEqual([
      { type: "vmfail-valid", error: 7 },
      { type: "vmfail-valid", error: 8 },
    ]);
  });

  it("a single class of failure has no possible findings and no possibleOutcomes key", () => {
    const r = run(caps, { vmcs: { CR3_TARGET_COUNT: 5 } });
    expect(r.possible).toBeUndefined();
    expect("possibleOutcomes" in r).toBe(false);
  });

  it("the report qualifies the outcome and prints the possible finding", () => {
    const e = state(caps, bad);
    const text = humanReport("x.json", e, run(caps, bad));
    expect(text.split("\n").slice(0, 2)).toEqual([
      "x.json (cpu test-all): VM entry fails: VMfailValid, VM-instruction error 7 (VM entry with invalid control field(s)), unless the possible finding below holds",
      "  possible: VM entry fails: VMfailValid, VM-instruction error 8 (VM entry with invalid host-state field(s)), if the processor checks host state before the controls (SDM 29.2 allows either order) [check-order]",
    ]);
  });
});
