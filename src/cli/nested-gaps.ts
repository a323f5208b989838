/** `nvmx nested --find-gaps`: the oracle for missing software checks in an L0. */
import type { Caps } from "../cpu/profile.js";
import { findGaps, softwareCoverage } from "../nested/compare.js";
import type { NestedConfig } from "../nested/config.js";
import { violationCorpus } from "../nested/corpus.js";
import type { Output } from "./output.js";

export async function findGapsCommand(
  cfg: NestedConfig,
  l1: Caps,
  host: Caps | undefined,
  json: boolean,
  out: Output,
): Promise<number> {
  const corpus = violationCorpus(l1, { valid: 0 });
  const gaps = findGaps(corpus.entries, corpus.ids, cfg.softwareChecks, host);
  const sw = softwareCoverage(cfg.softwareChecks);
  const name = typeof cfg.softwareChecks === "string" ? cfg.softwareChecks : "custom";
  if (json) {
    await out.line(
      JSON.stringify({
        softwareChecks: name,
        l1: l1.name,
        host: host?.name ?? l1.name,
        states: corpus.entries.length,
        gaps,
        skipped: corpus.skipped,
      }),
    );
    return 0;
  }
  const lines = [
    `software checks "${name}" (${sw.checks} checks) on L1 profile ${l1.name}, host ${host?.name ?? l1.name}:`,
    `${corpus.entries.length} vmcs12 states, each violating one rule; ${gaps.length} rules are not caught by the software checks:`,
  ];
  const late = gaps.filter((g) => g.consequence === "late");
  const missed = gaps.filter((g) => g.consequence === "missed");
  if (missed.length) {
    lines.push("", `MISSED (${missed.length}): L2 enters although the architecture rejects the vmcs12:`);
    for (const g of missed) lines.push(`  ${g.id} (SDM ${g.sdm})`);
  }
  if (late.length) {
    lines.push(
      "",
      `LATE (${late.length}): only the hardware entry catches it, after L0 acted on guest state:`,
    );
    for (const g of late) lines.push(`  ${g.id} (SDM ${g.sdm}) → L1 sees ${g.toL1}`);
  }
  if (corpus.skipped.length)
    lines.push(
      "",
      `${corpus.skipped.length} rules cannot be violated alone on ${l1.name} (not applicable there), so they were not searched.`,
    );
  await out.line(lines.join("\n"));
  return 0;
}
