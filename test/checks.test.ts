/**
 * Every check has a state that fails only it and one that passes it (test/vectors/*.ts), on the realistic
 * valid base state of src/gen/base.ts.
 */
import { describe, expect, it } from "vitest";
import { CHECKS } from "../src/checks/registry.js";
import { type CheckCase, capsOf, ids, profileAll, run } from "./helpers.js";
import { cases as basic } from "./vectors/basic.js";
import { cases as execControls } from "./vectors/exec-controls.js";
import { cases as exitEntry } from "./vectors/exit-entry-controls.js";
import { cases as guestCrDtrRip } from "./vectors/guest-cr-dtr-rip.js";
import { cases as guestNonRegister } from "./vectors/guest-non-register.js";
import { cases as guestSegments } from "./vectors/guest-segments.js";
import { cases as host } from "./vectors/host.js";

const ALL: CheckCase[] = [
  ...basic,
  ...execControls,
  ...exitEntry,
  ...host,
  ...guestCrDtrRip,
  ...guestSegments,
  ...guestNonRegister,
];

describe("base state", () => {
  it("is valid on the all-features test profile", () => {
    expect(ids(run(profileAll()))).toEqual([]);
  });
});

describe("check vectors", () => {
  for (const c of ALL) {
    const caps = capsOf(c);
    it(`${c.id}: ${c.name ?? "fails alone"}`, () => {
      const r = run(caps, c.setup, c.fail);
      expect(ids(r).sort()).toEqual([c.id, ...(c.alsoFails ?? [])].sort());
      if (c.outcome) expect(r.outcome).toEqual(c.outcome);
    });
    it(`${c.id}: passes`, () => {
      expect(ids(run(caps, c.setup, c.pass))).toEqual([]);
    });
  }
});

describe("coverage", () => {
  it("every registered check has a failing and a passing vector", () => {
    const covered = new Set(ALL.map((c) => c.id));
    const missing = CHECKS.map((c) => c.id).filter((id) => !covered.has(id));
    expect(missing).toEqual([]);
  });
  it("check ids are unique and vectors name registered checks", () => {
    const seen = new Set<string>();
    for (const c of CHECKS) {
      expect(seen.has(c.id), c.id).toBe(false);
      seen.add(c.id);
    }
    for (const c of ALL) expect(seen.has(c.id), c.id).toBe(true);
  });
});
