/** Bochs 2.7 tigerlake as the probe's CPU: the capability report and the differential run. */
import { expect, it } from "vitest";
import { builtinData } from "../../src/cpu/builtin.js";
import { profileFromLog } from "../../src/probe/caps.js";
import { capsOnBochs } from "../../src/probe/run.js";
import { differential } from "./differential.js";
import { describeWith } from "./env.js";

const MODEL = "tigerlake";
const PROFILE = "bochs-2.7-tigerlake";

describeWith(["probe", "bochs"], `probe on Bochs ${MODEL}`, () => {
  it("`probe caps` reads the profile shipped as bochs-2.7-tigerlake", async () => {
    const run = await capsOnBochs(MODEL);
    const data = builtinData(PROFILE)!;
    expect(profileFromLog(run.log, data.name!, data.description!, data.source!).profile).toEqual(data);
  }, 120_000);

  differential(MODEL, PROFILE);
});
