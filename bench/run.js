// nvmx benchmarks. Headline (bench/corpus.js): the complete check over fixed-seed varied corpora per profile
// (valid states of every mode with and without MSR-load lists, every --violate-each state, the real-log
// corpus), generator and `nvmx check --json` throughput, each with a baseline measured in the same run.
// Secondary: one state checked over and over ("hot signature"), the nested path, and a repeated 9-state
// NDJSON stream. Prints tables and writes bench/results.json naming the machine.
// Run: npm run bench   (options: --quick for smaller corpora and fewer samples, --corpus-only,
// --no-corpus, --no-ndjson to skip the stream runs, --ndjson-only for the stream runs alone, --pipeline-only
// to measure the process rows again into the last results)
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { bench, do_not_optimize, run } from "mitata";
import { F } from "../dist/arch/fields.js";
import { CHECKS } from "../dist/checks/registry.js";
import { builtinProfile } from "../dist/cpu/builtin.js";
import { serializeEntry } from "../dist/entry/document.js";
import { countFailures, evaluate } from "../dist/entry/evaluate.js";
import { compileRunner } from "../dist/entry/fast.js";
import { contextOf } from "../dist/entry/run.js";
import { baseEntry } from "../dist/gen/base.js";
import * as corpus from "./corpus.js";

const args = new Set(process.argv.slice(2));
const PROFILES = ["skylake", "icelake-server", "sapphirerapids", "wildcatlake"];
const CLI = new URL("../dist/cli/main.js", import.meta.url).pathname;

function states(name) {
  const caps = builtinProfile(name);
  const valid = baseEntry(caps);
  const guestBad = baseEntry(caps);
  guestBad.vmcs.set(F.GUEST_RFLAGS, 0n); // RFLAGS bit 1 must be 1 (SDM 29.3.1.4)
  const ctlBad = baseEntry(caps);
  ctlBad.vmcs.set(F.PIN_BASED_VM_EXEC_CONTROL, 0n); // default-1 pin-based bits cleared (SDM 29.2.1.1)
  const many = baseEntry(caps);
  for (const [f, v] of [
    ["GUEST_CS_AR_BYTES", 0xe09bn],
    ["GUEST_TR_AR_BYTES", 0x83n],
    ["GUEST_RFLAGS", 0x20n],
    ["HOST_CR0", 0n],
    ["HOST_TR_SELECTOR", 0n],
    ["GUEST_RIP", 0x800000000000n],
    ["VMCS_LINK_POINTER", 0x1001n],
    ["CPU_BASED_VM_EXEC_CONTROL", 0x80000000n],
  ])
    many.vmcs.set(F[f], v);
  return { valid, guestBad, ctlBad, many };
}

const QUICK = args.has("--quick");
const headline = {};
if (args.has("--pipeline-only")) {
  // Measure the process rows again (`check --json`, `gen --valid`, gen --violate-each, find-gaps) after a
  // change that touches only them, keeping every other row of bench/results.json; the report names both runs.
  const previous = JSON.parse(readFileSync(new URL("./results.json", import.meta.url), "utf8"));
  const corpora = PROFILES.map((p) =>
    corpus.buildCorpus(p, { valid: QUICK ? 2000 : 10000, perViolation: QUICK ? 1 : 4 }),
  );
  const rows = previous.corpus;
  rows.pipeline = await corpus.pipelineRows(corpora);
  rows.violateEachCold = [await corpus.violateEachCold("skylake")];
  rows.findGaps = await corpus.findGapsRows();
  rows.targets = corpus.targetRows(rows);
  rows.pipelineMeasured = machineNow();
  console.table(rows.pipeline);
  console.table(rows.targets);
  writeFileSync(new URL("./results.json", import.meta.url), `${JSON.stringify(previous, null, 2)}\n`);
  process.exit(0);
}
if (!args.has("--no-corpus") && !args.has("--ndjson-only")) {
  const corpora = PROFILES.map((p) =>
    corpus.buildCorpus(p, { valid: QUICK ? 2000 : 10000, perViolation: QUICK ? 1 : 4 }),
  );
  headline.generator = corpora.map((c) => ({
    profile: c.caps.name,
    validStatesPerCpuSec: Math.round(c.valid / c.genSecs),
    violateEachStates: c.kinds["violate-each"].length,
    violateEachCpuSecs: +c.violateSecs.toFixed(2),
  }));
  headline.fill = PROFILES.map((p) => corpus.fillRow(p, QUICK));
  console.table(headline.fill);
  headline.checks = corpus.checkRows(corpora, corpus.realLogCorpus(), QUICK ? 2 : 5);
  headline.pipeline = await corpus.pipelineRows(corpora);
  headline.violateEachCold = [await corpus.violateEachCold("skylake")];
  headline.findGaps = await corpus.findGapsRows();
  headline.targets = corpus.targetRows(headline);
  console.log(
    "\nvaried corpora (per state, shuffled, one pass after another; ratio = time / JSON.parse of the same document):",
  );
  console.table(headline.checks);
  console.table(headline.generator);
  console.table(headline.pipeline);
  console.table(headline.violateEachCold);
  console.table(headline.findGaps);
  console.log("\nissue 15 targets (one core of this machine):");
  console.table(headline.targets);
}
if (args.has("--corpus-only")) {
  writeResults([], [], []);
  process.exit(0);
}

const WARMUP = 30000;
const rows = [];
for (const p of PROFILES) {
  const s = states(p);
  const ctx = {
    valid: contextOf(s.valid),
    guestBad: contextOf(s.guestBad),
    ctlBad: contextOf(s.ctlBad),
    many: contextOf(s.many),
  };
  const counts = Object.fromEntries(Object.entries(ctx).map(([k, c]) => [k, countFailures(c)]));
  // Steady state: V8 optimizes the large generated runners on a background thread, which can take longer than
  // mitata's own warm-up on a busy 2-core machine; run each state until its code is optimized.
  for (let i = 0; i < WARMUP; i++) for (const c of Object.values(ctx)) evaluate(c);
  rows.push({ profile: p, counts });
  bench(`${p} valid 64-bit guest`, () => do_not_optimize(evaluate(ctx.valid)));
  bench(`${p} one guest-state violation`, () => do_not_optimize(evaluate(ctx.guestBad)));
  bench(`${p} one control violation`, () => do_not_optimize(evaluate(ctx.ctlBad)));
  bench(`${p} many violations (${counts.many}) + report`, () => do_not_optimize(evaluate(ctx.many)));
  // The same valid state through the generic runner: what a state with a control signature not seen before
  // costs (evaluate() specializes a signature on its third sighting; see src/entry/fast.ts).
  const generic = compileRunner(CHECKS, { specializeAfter: 0 });
  const out = new Int32Array(CHECKS.length);
  for (let i = 0; i < WARMUP; i++) generic(ctx.valid, out);
  bench(`${p} valid, new control signature (generic runner)`, () => do_not_optimize(generic(ctx.valid, out)));
}

const nested = await import("../dist/nested/index.js").catch(() => undefined);
if (nested?.benchCases) for (const [name, fn] of nested.benchCases()) bench(`nested: ${name}`, fn);

const results = args.has("--ndjson-only")
  ? { benchmarks: [] }
  : await run({ format: args.has("--json") ? "json" : "mitata", throw: true });
const table = [];
for (const b of results.benchmarks) {
  const st = b.runs[0]?.stats;
  if (!st) continue;
  table.push({
    name: b.alias,
    medianNs: +st.p50.toFixed(1),
    p99Ns: +st.p99.toFixed(1),
    avgNs: +st.avg.toFixed(1),
  });
}

/** The bench stream: n NDJSON lines cycling through valid / one guest / one control violation on 3 profiles. */
function streamFile(n) {
  const docs = [];
  for (const p of ["skylake", "icelake-server", "sapphirerapids"]) {
    const s = states(p);
    for (const e of [s.valid, s.guestBad, s.ctlBad]) docs.push(JSON.stringify(serializeEntry(e)));
  }
  const file = join(mkdtempSync(join(os.tmpdir(), "nvmx-bench-")), `stream-${n}.ndjson`);
  const lines = [];
  for (let i = 0; i < n; i++) lines.push(docs[i % docs.length]);
  writeFileSync(file, n ? `${lines.join("\n")}\n` : "");
  return file;
}

/**
 * `nvmx check --json` reading the stream on stdin (redirected from a file, so this process does not compete
 * for the 2 cores while it runs). Wall time from spawn to exit, so process start-up and JIT warm-up count.
 */
async function timeCheck(file, jobs) {
  const argv = [CLI, "check", "--json", ...(jobs > 1 ? ["--jobs", String(jobs)] : []), "-"];
  const input = openSync(file, "r");
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, argv, { stdio: [input, "pipe", "inherit"] });
  let lines = 0;
  child.stdout.on("data", (d) => {
    for (const b of d) if (b === 10) lines++;
  });
  const code = await new Promise((resolve) => child.on("close", resolve));
  closeSync(input);
  return { code, lines, secs: Number(process.hrtime.bigint() - t0) / 1e9 };
}

/** Median of three runs; throughput both end to end and without the start-up cost (an empty stream's time). */
async function ndjson(file, empty, n, jobs) {
  const median = async (f) => {
    const r = [];
    for (let i = 0; i < 3; i++) r.push(await timeCheck(f, jobs));
    return r.sort((a, b) => a.secs - b.secs)[1];
  };
  const full = await median(file);
  const start = await median(empty);
  return {
    documents: n,
    jobs,
    exitCode: full.code,
    lines: full.lines,
    seconds: +full.secs.toFixed(2),
    startupSeconds: +start.secs.toFixed(2),
    docsPerSecond: Math.round(n / full.secs),
    docsPerSecondAfterStartup: Math.round(n / (full.secs - start.secs)),
  };
}

const stream = [];
if (!args.has("--no-ndjson")) {
  const n = args.has("--quick") ? 20000 : 100000;
  const file = streamFile(n);
  const empty = streamFile(0);
  stream.push(await ndjson(file, empty, n, 1));
  stream.push(await ndjson(file, empty, n, os.cpus().length));
}

console.log("\nhot signature (one state checked over and over; secondary):");
console.table(table);
console.log("failing checks per state:", rows);
if (stream.length) console.table(stream);
writeResults(table, rows, stream);

function machineNow() {
  return {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadAverage: os.loadavg().map((x) => +x.toFixed(2)),
    date: new Date().toISOString(),
  };
}

function writeResults(hot, counts, ndjsonRows) {
  const machine = machineNow();
  console.log("\nmachine:", machine);
  writeFileSync(
    new URL("./results.json", import.meta.url),
    `${JSON.stringify({ machine, corpus: headline, hotSignature: hot, counts, ndjson: ndjsonRows }, null, 2)}\n`,
  );
}
