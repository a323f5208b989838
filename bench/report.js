// The README's speed tables, from the last `npm run bench` (bench/results.json), as Markdown on stdout.
// Run: node bench/report.js
import { readFileSync } from "node:fs";

const r = JSON.parse(readFileSync(new URL("./results.json", import.meta.url), "utf8"));
const c = r.corpus;
const m = r.machine;
const out = [];
const ns = (x) => (x >= 1000 ? `${(x / 1000).toFixed(1)} µs` : `${Math.round(x)} ns`);
const n = (x) => (x === undefined ? "–" : x.toLocaleString("en-US"));

out.push(
  `Run of ${m.date.slice(0, 16).replace("T", " ")} UTC on ${m.cpu}, ${m.cores} cores, Node ${m.node}; load average during the run ${m.loadAverage.join(", ")} (other jobs on the 2 cores).`,
  "",
);
const pm = c.pipelineMeasured;
if (pm)
  out.push(
    `The process rows (\`check --json\`, \`gen\`, \`nested --find-gaps\`) and the targets were measured again on ${pm.date.slice(0, 16).replace("T", " ")} UTC (\`node bench/run.js --pipeline-only\`); load average ${pm.loadAverage.join(", ")}.`,
    "",
  );
const profiles = [...new Set(c.checks.filter((x) => x.profile !== "(as logged)").map((x) => x.profile))];
const kinds = [
  "valid, MSR-load list",
  "valid, no MSR-load list",
  ...[...new Set(c.checks.map((x) => x.kind))].filter((k) => /mode$/.test(k)),
  "violate-each",
  "violate-each, with messages",
];
out.push(
  "Complete check per state, in-process after parsing: median (ratio to JSON.parse of the same document)",
  "",
  `| corpus | ${profiles.join(" | ")} |`,
  `|---|${profiles.map(() => "---:").join("|")}|`,
);
for (const k of kinds) {
  const cells = profiles.map((p) => {
    const x = c.checks.find((y) => y.profile === p && y.kind === k);
    return x ? `${ns(x.medianNs)} (${x.ratioToJsonParse})` : "–";
  });
  out.push(`| ${k} | ${cells.join(" | ")} |`);
}
const real = c.checks.find((x) => x.profile === "(as logged)");
if (real)
  out.push(
    "",
    `Real-log corpus (${real.states} states as logged), with messages: ${ns(real.medianNs)} (${real.ratioToJsonParse}).`,
  );
out.push(
  "",
  `| per profile | ${profiles.join(" | ")} |`,
  `|---|${profiles.map(() => "---:").join("|")}|`,
  `| \`check --json\`, documents per CPU-second (corpus ×4) | ${c.pipeline.map((x) => n(x.checkDocsPerCpuSec)).join(" | ")} |`,
  `| the same without start-up | ${c.pipeline.map((x) => n(x.checkDocsPerCpuSecAfterStartup)).join(" | ")} |`,
  `| JSON.parse of the same lines, per CPU-second | ${c.pipeline.map((x) => n(x.jsonParseDocsPerCpuSec)).join(" | ")} |`,
  `| ratio | ${c.pipeline.map((x) => `${x.ratioToJsonParse}×`).join(" | ")} |`,
  `| \`check --json\` max RSS | ${c.pipeline.map((x) => `${x.checkMaxRssMB} MB`).join(" | ")} |`,
  ...(c.fill
    ? [
        `| generator in-process (\`ValidStates.fill\`, ${n(c.fill[0].states)} states), valid states per CPU-second | ${c.fill.map((x) => n(x.validStatesPerCpuSec)).join(" | ")} |`,
      ]
    : []),
  `| \`gen --valid\` (default options), documents per CPU-second | ${c.pipeline.map((x) => n(x.genValidDocsPerCpuSec)).join(" | ")} |`,
  `| states built from scratch (\`generateValid\`, the corpus above), per CPU-second | ${c.generator.map((x) => n(x.validStatesPerCpuSec)).join(" | ")} |`,
  "",
  "Issue 15's targets (one core):",
  "",
  "| target | limit | measured | met |",
  "|---|---:|---:|:---:|",
);
for (const t of c.targets) out.push(`| ${t.target} | ${t.limit} | ${t.measured} | ${t.met ? "yes" : "no"} |`);
console.log(out.join("\n"));
