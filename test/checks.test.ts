/**
 * Every check has, in its module's vector table (test/vectors/*.ts, one table per src/checks module), a state
 * where it applies and fails alone and a state where it applies and holds — on the realistic valid base state
 * of src/gen/base.ts. "Applies" is asserted on the check's own applicability (`when`, its group gate included),
 * not assumed; each failing vector's report (id, message, fields) is pinned by a snapshot.
 */
import { describe, expect, it } from "vitest";
import { CHECK_MODULES, CHECKS, checkById } from "../src/checks/registry.js";
import type { Check } from "../src/checks/types.js";
import { contextOf, runEntry } from "../src/entry/run.js";
import { type CheckCase, capsOf, ids, profileAll, run, state, type VectorTables } from "./helpers.js";
import { tables as basic } from "./vectors/basic.js";
import { tables as execControls } from "./vectors/exec-controls.js";
import { tables as exitEntry } from "./vectors/exit-entry-controls.js";
import { tables as guestCrDtrRip } from "./vectors/guest-cr-dtr-rip.js";
import { tables as guestNonRegister } from "./vectors/guest-non-register.js";
import { tables as guestSegments } from "./vectors/guest-segments.js";
import { tables as host } from "./vectors/host.js";

const TABLES: VectorTables = {
  ...basic,
  ...execControls,
  ...exitEntry,
  ...host,
  ...guestCrDtrRip,
  ...guestSegments,
  ...guestNonRegister,
};

/** The check a vector names (the coverage test below reports unknown ids). */
function checkOf(c: CheckCase): Check {
  const check = checkById(c.id);
  if (!check) throw new Error(`vector names unknown check ${c.id}`);
  return check;
}

describe("base state", () => {
  it("is valid on the all-features test profile", () => {
    expect(ids(run(profileAll()))).toEqual([]);
  });
});

for (const { file, section } of CHECK_MODULES) {
  const module = file.replace(/^src\/checks\/|\.ts$/g, "");
  const table = TABLES[module] ?? [];
  describe(`${module} (SDM ${section.sdm})`, () => {
    it("has a vector table that covers every check of the module and only those", () => {
      const own = section.checks.map((c) => c.id);
      expect([...new Set(table.map((c) => c.id))].sort()).toEqual([...own].sort());
      // every check has a vector whose passing state, and one whose failing state, is checked to apply
      const passing = new Set(table.filter((c) => c.pass !== undefined || !c.inapplicable).map((c) => c.id));
      expect(own.filter((id) => !passing.has(id))).toEqual([]);
      const failing = new Set(table.filter((c) => c.fail).map((c) => c.id));
      expect(own.filter((id) => !failing.has(id))).toEqual([]);
    });

    for (const c of table) {
      const caps = capsOf(c);
      const name = `${c.id}: ${c.name ?? "fails alone"}`;
      const fail = c.fail;
      if (fail)
        it(`${name} — applies and fails`, () => {
          const check = checkOf(c);
          const e = state(caps, c.setup, fail);
          const ctx = contextOf(e);
          ctx.refresh();
          expect(check.when?.(ctx) ?? true, "applies").toBe(true);
          expect(check.fail(ctx), "fails").toBe(true);
          const r = runEntry(e);
          expect(ids(r).sort()).toEqual([c.id, ...(c.alsoFails ?? [])].sort());
          if (c.outcome) expect(r.outcome).toEqual(c.outcome);
          const v = r.violations.find((x) => x.id === c.id);
          expect({ message: v?.message, fields: v?.fields }).toMatchSnapshot();
        });
      if (c.pass !== undefined || c.inapplicable === undefined)
        it(`${name} — applies and holds`, () => {
          const check = checkOf(c);
          const e = state(caps, c.setup, c.pass);
          const ctx = contextOf(e);
          ctx.refresh();
          expect(check.when?.(ctx) ?? true, "applies").toBe(true);
          expect(check.fail(ctx), "holds").toBe(false);
          expect(ids(runEntry(e))).toEqual([]);
        });
      if (c.inapplicable !== undefined)
        it(`${name} — does not apply`, () => {
          const check = checkOf(c);
          const e = state(caps, c.setup, c.inapplicable);
          const ctx = contextOf(e);
          ctx.refresh();
          expect(check.when?.(ctx), "applies").toBe(false);
          expect(ids(runEntry(e))).toEqual([]);
        });
    }
  });
}

describe("vector tables", () => {
  it("name only registered checks, each in its own module's table", () => {
    const moduleOf = new Map(
      CHECK_MODULES.flatMap((m) =>
        m.section.checks.map((c) => [c.id, m.file.replace(/^src\/checks\/|\.ts$/g, "")] as const),
      ),
    );
    for (const [module, table] of Object.entries(TABLES))
      for (const c of table) expect(moduleOf.get(c.id), `${module}: ${c.id}`).toBe(module);
  });
  it("check ids are unique", () => {
    expect(new Set(CHECKS.map((c) => c.id)).size).toBe(CHECKS.length);
  });
});
