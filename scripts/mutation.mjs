// npm run mutation -- <target> [...]: StrykerJS (stryker.config.mjs), then the score per target. A target is a
// source folder (src/checks) or files of one folder joined by commas (src/entry/fast.ts,src/entry/run.ts).
// A folder is run one file at a time: instrumenting a whole folder puts every function of it behind mutant
// switches and makes every test run several times slower (src/formats: 9×), for every mutant. Each file keeps
// its own incremental file (reports/mutation/<file>.incremental.json), so a re-run tests only changed mutants.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

// --scores: only print the scores of the reports already there (no run).
const scoresOnly = process.argv.includes("--scores");
const targets = process.argv.slice(2).filter((a) => a !== "--scores");
if (targets.length === 0) {
  console.error(
    "usage: npm run mutation -- [--scores] <folder|files> [...]   e.g. src/checks src/entry/fast.ts",
  );
  process.exit(2);
}

const slug = (t) =>
  t
    .replace(/\/+$/, "")
    .replace(/[^\w.-]+/g, "-")
    .slice(0, 120);

/** The .ts files of a folder, subfolders included, generated files and type-only modules left out by Stryker. */
function filesOf(folder) {
  const out = [];
  for (const name of readdirSync(folder).sort()) {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) out.push(...filesOf(path));
    else if (name.endsWith(".ts") && !name.endsWith(".generated.ts")) out.push(path);
  }
  return out;
}

/** Mutant counts of one run's JSON report. */
function count(target) {
  const file = `reports/mutation/${slug(target)}.json`;
  const c = { killed: 0, timeout: 0, survived: 0, noCoverage: 0 };
  if (!existsSync(file)) return c;
  const report = JSON.parse(readFileSync(file, "utf8"));
  for (const f of Object.values(report.files))
    for (const m of f.mutants) {
      if (m.status === "Killed") c.killed++;
      else if (m.status === "Timeout") c.timeout++;
      else if (m.status === "Survived") c.survived++;
      else if (m.status === "NoCoverage") c.noCoverage++;
    }
  return c;
}

function line(name, c) {
  const n = c.killed + c.timeout + c.survived + c.noCoverage;
  const score = n ? ((100 * (c.killed + c.timeout)) / n).toFixed(1) : "—";
  return `${name}: ${c.killed + c.timeout}/${n} killed (${score}%): killed ${c.killed}, timeout ${c.timeout}, survived ${c.survived}, no coverage ${c.noCoverage}`;
}

let status = 0;
const summary = [];
for (const target of targets) {
  const folder = !target.includes(".ts");
  const runs = folder ? filesOf(target.replace(/\/+$/, "")) : [target];
  const total = { killed: 0, timeout: 0, survived: 0, noCoverage: 0 };
  let missing = 0;
  for (const run of runs) {
    if (scoresOnly) {
      const c = count(run);
      for (const k of Object.keys(total)) total[k] += c[k];
      const measured = existsSync(`reports/mutation/${slug(run)}.json`);
      if (!measured) missing++;
      summary.push(measured ? line(run, c) : `${run}: not measured`);
      continue;
    }
    const started = Date.now();
    const r = spawnSync("npx", ["stryker", "run"], {
      stdio: "inherit",
      // NVMX_MUTATION=1 tells heavy property tests to run fewer cases (test/helpers.ts runs()).
      env: { ...process.env, NVMX_MUTATE: run, NVMX_MUTATION: "1" },
    });
    status ||= r.status ?? 1;
    const c = count(run);
    for (const k of Object.keys(total)) total[k] += c[k];
    const l = `${line(run, c)} [${Math.round((Date.now() - started) / 1000)} s]`;
    console.log(l);
    if (folder) summary.push(l);
  }
  summary.push(line(target, total) + (missing ? ` (${missing} of ${runs.length} files not measured)` : ""));
}
console.log(summary.join("\n"));
process.exit(status);
