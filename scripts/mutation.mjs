// npm run mutation -- <target> [...]: StrykerJS (stryker.config.mjs), then the score per target. A target is a
// source folder (src/checks) or files of one folder joined by commas (src/entry/fast.ts,src/entry/run.ts).
// A folder is run one file at a time: instrumenting a whole folder puts every function of it behind mutant
// switches and makes every test run several times slower (src/formats: 9×), for every mutant. Each file keeps
// its own incremental file (reports/mutation/<file>.incremental.json), so a re-run tests only changed mutants.
// The incremental files are kept, compressed, in mutation/ (committed): a run on a fresh clone starts from the
// last recorded results, and --scores reads them when no report of a run is there.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";

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

const reportFile = (t) => `reports/mutation/${slug(t)}.json`;
const incrementalFile = (t) => `reports/mutation/${slug(t)}.incremental.json`;
const storedFile = (t) => `mutation/${slug(t)}.json.gz`;

/** The recorded results of a target, as Stryker's incremental file, before its run (a fresh clone has none). */
function restore(target) {
  if (existsSync(incrementalFile(target)) || !existsSync(storedFile(target))) return;
  mkdirSync("reports/mutation", { recursive: true });
  writeFileSync(incrementalFile(target), gunzipSync(readFileSync(storedFile(target))));
}

/** A run's results (its incremental file), compressed into mutation/ to be committed. */
function store(target) {
  if (!existsSync(incrementalFile(target))) return;
  mkdirSync("mutation", { recursive: true });
  writeFileSync(storedFile(target), gzipSync(readFileSync(incrementalFile(target)), { level: 9 }));
}

/** The report of a target: the last run's here, else the recorded one; undefined when neither exists. */
function report(target) {
  if (existsSync(reportFile(target))) return JSON.parse(readFileSync(reportFile(target), "utf8"));
  if (existsSync(storedFile(target)))
    return JSON.parse(gunzipSync(readFileSync(storedFile(target))).toString("utf8"));
  return undefined;
}

/**
 * The reports that cover a file: its whole-file run's, else those of its line ranges (src/entry/fast.ts:481-743),
 * from this checkout's runs or the recorded ones.
 */
function reportsOf(file) {
  const whole = report(file);
  if (whole) return [whole];
  const prefix = `${slug(file)}-`;
  const ranges = new Set();
  for (const dir of ["reports/mutation", "mutation"]) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const m = /^(.*)\.(?:incremental\.json|json\.gz)$/.exec(name);
      if (m?.[1].startsWith(prefix) && /^\d+-\d+$/.test(m[1].slice(prefix.length))) ranges.add(m[1]);
    }
  }
  return [...ranges].sort().map((r) => report(`${file}:${r.slice(prefix.length)}`));
}

/**
 * Mutant counts of a target's reports (a mutant in two overlapping ranges counted once), and whether the source
 * a report was made from differs from the file here (then the counts are of an older text: run it again).
 */
function count(target) {
  const c = { killed: 0, timeout: 0, survived: 0, noCoverage: 0, stale: false };
  const seen = new Set();
  const reports = target.includes(":") ? [report(target)].filter(Boolean) : reportsOf(target);
  for (const r of reports)
    for (const [path, f] of Object.entries(r.files)) {
      if (!existsSync(path) || readFileSync(path, "utf8") !== f.source) c.stale = true;
      for (const m of f.mutants) {
        const l = m.location;
        const key = `${path}:${l.start.line}:${l.start.column}:${l.end.line}:${l.end.column}:${m.mutatorName}:${m.replacement}`;
        if (seen.has(key)) continue;
        seen.add(key);
        if (m.status === "Killed") c.killed++;
        else if (m.status === "Timeout") c.timeout++;
        else if (m.status === "Survived") c.survived++;
        else if (m.status === "NoCoverage") c.noCoverage++;
      }
    }
  return { c, measured: reports.length > 0 };
}

function line(name, c) {
  const n = c.killed + c.timeout + c.survived + c.noCoverage;
  const score = n ? ((100 * (c.killed + c.timeout)) / n).toFixed(1) : "—";
  return `${name}: ${c.killed + c.timeout}/${n} killed (${score}%): killed ${c.killed}, timeout ${c.timeout}, survived ${c.survived}, no coverage ${c.noCoverage}${c.stale ? " (recorded on an older source: run it again)" : ""}`;
}

const KINDS = ["killed", "timeout", "survived", "noCoverage"];

let status = 0;
const summary = [];
for (const target of targets) {
  const folder = !target.includes(".ts");
  const runs = folder ? filesOf(target.replace(/\/+$/, "")) : [target];
  const total = { killed: 0, timeout: 0, survived: 0, noCoverage: 0, stale: false };
  let missing = 0;
  for (const run of runs) {
    if (scoresOnly) {
      const { c, measured } = count(run);
      for (const k of KINDS) total[k] += c[k];
      total.stale ||= c.stale;
      if (!measured) missing++;
      summary.push(measured ? line(run, c) : `${run}: not measured`);
      continue;
    }
    restore(run);
    const started = Date.now();
    const r = spawnSync("npx", ["stryker", "run"], {
      stdio: "inherit",
      // NVMX_MUTATION=1 tells heavy property tests to run fewer cases (test/helpers.ts runs()).
      env: { ...process.env, NVMX_MUTATE: run, NVMX_MUTATION: "1" },
    });
    status ||= r.status ?? 1;
    if (r.status === 0) store(run);
    const { c } = count(run);
    for (const k of KINDS) total[k] += c[k];
    total.stale ||= c.stale;
    const l = `${line(run, c)} [${Math.round((Date.now() - started) / 1000)} s]`;
    console.log(l);
    if (folder) summary.push(l);
  }
  summary.push(line(target, total) + (missing ? ` (${missing} of ${runs.length} files not measured)` : ""));
}
console.log(summary.join("\n"));
process.exit(status);
