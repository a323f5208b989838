/**
 * The differential run of one Bochs CPU model (shared by the per-model test files so that vitest runs the models
 * in parallel): generated valid states (fixed seed) and every state of `--violate-each` — in CI a subset of the
 * check ids (those behind a known Bochs deviation and every fourth other), with NVMX_PROBE_FULL=1 all of them
 * and 1,000 valid states.
 */
import { writeFileSync } from "node:fs";
import { expect, it } from "vitest";
import { CHECKS } from "../../src/checks/registry.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { Rng } from "../../src/gen/rng.js";
import { generateValid, modesFor } from "../../src/gen/valid.js";
import { violationSearch } from "../../src/gen/violate.js";
import { formatTable } from "../../src/probe/compare.js";
import { BOCHS_DEVIATIONS } from "../../src/probe/deviations.js";
import { runOnBochs } from "../../src/probe/run.js";
import type { InputState } from "../../src/probe/states.js";
import { FULL } from "./env.js";

const SEED = 1;

export function corpus(profile: string, valid: number, allIds: boolean): InputState[] {
  const caps = builtinProfile(profile);
  const modes = modesFor(caps);
  const gen = (i: number) =>
    generateValid(caps, Rng.derive(SEED, i), { mode: modes[i % modes.length]! }).entry;
  const out: InputState[] = [];
  for (let i = 0; i < valid; i++) out.push({ entry: gen(i), where: `valid #${i}` });
  const deviating = new Set(BOCHS_DEVIATIONS.flatMap((d) => d.missing ?? []));
  const search = violationSearch(caps);
  let k = valid;
  CHECKS.forEach((c, i) => {
    if (!allIds && !deviating.has(c.id) && i % 4 !== 0) return;
    if (search.find(c.id).status !== "violated") return;
    const e = search.violate(c.id, gen(k++));
    if (e) out.push({ entry: e, where: `violate ${c.id}`, comment: `violates ${c.id}` });
  });
  return out;
}

/**
 * One model: with the deviation-A dodge (so that Bochs's extra CS rule masks nothing) every disagreement must
 * be a known deviation or the known nvmx gap (each deviation has a state of its own in bochs-deviations.test.ts).
 */
export function differential(model: string, profile: string): void {
  it(
    `Bochs ${model}: ${FULL ? "1,000 valid states and every --violate-each state" : "the CI subset"}, 0 unexplained disagreements`,
    async () => {
      const states = corpus(profile, FULL ? 1000 : 150, FULL);
      const r = await runOnBochs(states, { model, dodge: ["A"] });
      const t = r.table;
      if (process.env["NVMX_PROBE_REPORT"])
        writeFileSync(`${process.env["NVMX_PROBE_REPORT"]}/${model}.md`, `${formatTable(t)}\n`);
      const unexplained = r.compared.filter((c) => c.verdict === "unexplained" || c.verdict === "no-result");
      expect(
        unexplained.map((c) => `${c.p.where}: ${c.nvmx?.outcome.type} vs ${JSON.stringify(c.observed)}`),
      ).toEqual([]);
      // every state that ran has a result, and nearly all were run
      expect(t.total.states).toBe(r.prepared.filter((p) => !p.skip).length);
      expect(t.total.states).toBeGreaterThan(states.length * 0.95);
      // the violate-each states meet many of the documented deviations (which ones depends on their base states)
      expect(new Set(r.compared.flatMap((c) => c.deviations)).size).toBeGreaterThanOrEqual(8);
      // the valid states all entered Bochs (stopped by the preemption timer or, in wait-for-SIPI, by a SIPI)
      const valid = r.compared.filter((c) => c.p.where.startsWith("valid"));
      expect(valid.every((c) => c.verdict === "agree")).toBe(true);
      expect(r.log.helper).toBe(true);
    },
    FULL ? 1_800_000 : 600_000,
  );
}
