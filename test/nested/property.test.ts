/**
 * Invariants of the nested model over generated vmcs12 states on each preset's L1 profile, for a named set of
 * host profiles (the host's MAXPHYADDR, TSC scaling and CET change results):
 * - a valid vmcs12 is entered as L1 sees it in every configuration, unless the result carries a divergence
 *   the preset's kernel really has (a behaviour with its source in that release);
 * - with a complete software check set, L1's outcome is the architecture's for every violate-each state.
 * CI runs a small share; NVMX_FULL=1 runs the full matrix (1,000 valid states per preset and host).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { configurations, variantConfig } from "../../src/nested/compare.js";
import { ALL_RAM, DEFAULT_CONFIG, DEFAULT_L1_RAM } from "../../src/nested/config.js";
import { validCorpus, violationCorpus } from "../../src/nested/corpus.js";
import { KERNELS, kernelPreset } from "../../src/nested/kernels/index.js";
import { type NestedResult, runNested } from "../../src/nested/l0.js";
import { l1Profile } from "../../src/nested/l1.js";

const FULL = process.env["NVMX_FULL"] === "1";
const HOSTS = FULL
  ? ["sapphirerapids", "skylake", "westmere", "alderlake", "icelake-server", "cascadelake"]
  : ["sapphirerapids", "skylake"];
const VALID = FULL ? 1000 : 12;
process.env["NVMX_CACHE_DIR"] ??= mkdtempSync(join(tmpdir(), "nvmx-prop-cache-"));

/** The divergence is one the preset's kernel has: its id and source come from that release. */
function kernelLabel(r: NestedResult, kernel: string): boolean {
  const preset = kernelPreset(kernel);
  const d = r.divergence;
  if (!d || d.kernel !== kernel) return false;
  const tag = preset.tree.release.replace(/^v(\d+\.\d+)\.0$/, "v$1");
  return d.source.tag === tag && d.source.lines[0] > 0;
}

describe.each(HOSTS)("host %s", (hostName) => {
  const host = builtinProfile(hostName);
  describe.each(KERNELS.map((k) => k.id))("kernel %s", (kernel) => {
    const preset = kernelPreset(kernel);
    const l1 = l1Profile(preset, host);
    const corpus = validCorpus(l1, VALID, 7);
    it(`${VALID} valid vmcs12 (seed 7): entered in every configuration, or labelled with a ${kernel} divergence`, () => {
      let runs = 0;
      const unlabelled: string[] = [];
      for (const ram of [ALL_RAM, DEFAULT_L1_RAM])
        for (const vmcs02 of ["reused", "fresh"] as const)
          for (const v of configurations(preset)) {
            if (vmcs02 === "fresh" && v.softwareChecks !== "kernel") continue;
            const cfg = variantConfig(preset, v, { l1RamBytes: ram, vmcs02 });
            for (const [i, e] of corpus.entries()) {
              expect(e.caps).toBe(l1);
              const r = runNested({ vmcs12: e, host, l1 }, cfg);
              runs++;
              expect(r.architectural.outcome, `state ${i}`).toEqual({ type: "entered" });
              if (r.detection !== "entered" && !kernelLabel(r, kernel))
                unlabelled.push(
                  `state ${i} ${v.parameter} ${v.softwareChecks} ram=${ram}: ${r.detection} ${JSON.stringify(r.toL1)}`,
                );
            }
          }
      expect(unlabelled.slice(0, 5)).toEqual([]);
      expect(runs).toBeGreaterThan(VALID);
    });
  });
});

describe("a complete software check set gives L1 the architecture's outcome", () => {
  // CI: the VMFail rules of the newest kernel on one host (the violation search of every rule costs ~20 s
  // of CPU cold); NVMX_FULL=1: every rule, every kernel and host.
  const classes = FULL ? undefined : (["control", "host"] as const);
  const cases = FULL
    ? KERNELS.flatMap((k) => HOSTS.map((h) => [k.id, h] as const))
    : ([["v6.19", "sapphirerapids"]] as const);
  it.each(cases)(
    "%s on %s: every violate-each state",
    (kernel, hostName) => {
      const host = builtinProfile(hostName);
      const preset = kernelPreset(kernel);
      const l1 = l1Profile(preset, host);
      const corpus = violationCorpus(l1, classes ? { classes } : {});
      const wrong: string[] = [];
      for (const [i, e] of corpus.entries.entries()) {
        const r = runNested(
          { vmcs12: e, host, l1 },
          { ...DEFAULT_CONFIG, kernel, softwareChecks: "full", l1RamBytes: ALL_RAM, vmcs02: "reused" },
        );
        if (!r.faithful || r.detection === "missed")
          wrong.push(`${corpus.ids[i]}: ${JSON.stringify(r.toL1)}`);
        else expect(r.detection).toBe("early");
      }
      expect(wrong).toEqual([]);
      expect(corpus.entries.length).toBeGreaterThan(classes ? 100 : 250);
    },
    600_000,
  );
});
