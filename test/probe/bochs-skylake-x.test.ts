/**
 * Bochs 2.7 corei7_skylake_x as the probe's CPU: the capability report, the differential run, and the runner's
 * recovery paths (a guest that never stops, a crash).
 */
import { expect, it } from "vitest";
import { F } from "../../src/arch/fields.js";
import { builtinData, builtinProfile } from "../../src/cpu/builtin.js";
import { baseEntry } from "../../src/gen/base.js";
import { profileFromLog } from "../../src/probe/caps.js";
import { capsOnBochs, runOnBochs } from "../../src/probe/run.js";
import { corpus, differential } from "./differential.js";
import { describeWith } from "./env.js";

const MODEL = "corei7_skylake_x";
const PROFILE = "bochs-2.7-skylake-x";

describeWith(["probe", "bochs"], `probe on Bochs ${MODEL}`, () => {
  it("`probe caps` reads the profile shipped as bochs-2.7-skylake-x", async () => {
    const run = await capsOnBochs(MODEL);
    const data = builtinData(PROFILE)!;
    expect(profileFromLog(run.log, data.name!, data.description!, data.source!).profile).toEqual(data);
    expect(run.log.nofield.size).toBeGreaterThan(10); // fields Bochs refuses (e.g. the posted-interrupt descriptor)
    expect(run.log.nofield.has(0x2016)).toBe(true);
  }, 120_000);

  differential(MODEL, PROFILE);

  it("without the dodge, deviation A fails SDM-valid unrestricted guests (and explains them)", async () => {
    const r = await runOnBochs(corpus(PROFILE, 40, false).slice(0, 40), { model: MODEL });
    const a = r.compared.filter((c) => c.deviations.includes("A"));
    expect(a.length).toBeGreaterThan(3);
    for (const c of a)
      expect(c.observed).toEqual({
        kind: "outcome",
        outcome: { type: "vmexit", reason: 33, qualification: 0 },
      });
    expect(r.compared.filter((c) => c.verdict === "unexplained")).toEqual([]);
  }, 300_000);

  it("a guest that never stops ends by the watchdog, a crash by a restart; the run resumes at the next state", async () => {
    const caps = builtinProfile(PROFILE);
    const sipi = baseEntry(caps);
    sipi.vmcs.set(F.GUEST_ACTIVITY_STATE!, 3n); // wait-for-SIPI: with one CPU nothing stops it
    const k = baseEntry(caps);
    k.vmcs.set(F.VM_ENTRY_INTR_INFO_FIELD!, 0x80000700n); // type 7 without MTF: Bochs accepts it, then panics
    const ok = baseEntry(caps);
    const states = [sipi, ok, k, ok].map((entry, i) => ({ entry, where: `state ${i}` }));
    const r = await runOnBochs(states, { model: MODEL, cpus: 1, stateTimeoutMs: 2000 });
    expect(r.runs[0]!.boots).toBe(3);
    expect(
      r.compared.map((c) => [
        c.verdict,
        c.observed.kind === "outcome" ? c.observed.outcome.type : c.observed.kind,
      ]),
    ).toEqual([
      ["agree", "entered"],
      ["agree", "entered"],
      ["deviation", "crash"],
      ["agree", "entered"],
    ]);
    expect(r.compared[0]!.observed).toMatchObject({ didNotStop: true });
    expect(r.compared[2]!.deviations).toEqual(["K"]);
    expect(r.log.helper).toBe(false);
  }, 300_000);
});
