// Benchmarks over what users run (issue 15): fixed-seed varied corpora per profile, walked once per pass in
// shuffled order, each row reported with its ratio to a baseline measured in the same run. The corpora are
// the generator's own output (as a fuzzing campaign sees it): valid states of every mode the profile allows
// (with and without VM-entry MSR-load lists), every --violate-each state, and the real-log corpus converted
// to entry documents.
import { spawn } from "node:child_process";
import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { F } from "../dist/arch/fields.js";
import { CHECKS } from "../dist/checks/registry.js";
import { builtinProfile } from "../dist/cpu/builtin.js";
import { parseEntryText } from "../dist/entry/document.js";
import { evaluate } from "../dist/entry/evaluate.js";
import { contextOf } from "../dist/entry/run.js";
import { parseInput } from "../dist/formats/detect.js";
import { explainDump } from "../dist/formats/explain.js";
import { Rng } from "../dist/gen/rng.js";
import { serializeGenerated } from "../dist/gen/serialize.js";
import { generateValid, modesFor } from "../dist/gen/valid.js";
import { POOL, VARIANTS, ValidStates } from "../dist/gen/vary.js";
import { violationSearch } from "../dist/gen/violate.js";

const CLI = new URL("../dist/cli/main.js", import.meta.url).pathname;
const CORPUS_DIR = new URL("../test/corpus/", import.meta.url).pathname;

/** CPU seconds of this process so far (robust to other load on the machine, unlike wall time). */
function cpuSecs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Per-state times: a chunk of states is timed together (a timer read costs ~50 ns); stats over chunks. */
const CHUNK = 16;

function stats(samples) {
  const s = Float64Array.from(samples).sort();
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { medianNs: +q(0.5).toFixed(1), p99Ns: +q(0.99).toFixed(1), samples: s.length };
}

/** Time fn(item) over `items`, `passes` times, each pass in a new shuffled order; per-item ns per chunk. */
function timeWalk(items, fn, passes, seed) {
  const rng = new Rng(seed);
  const order = items.map((_, i) => i);
  const samples = [];
  let sink = 0;
  for (let p = 0; p < passes; p++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let c = 0; c + CHUNK <= order.length; c += CHUNK) {
      const t0 = process.hrtime.bigint();
      for (let k = c; k < c + CHUNK; k++) sink ^= fn(items[order[k]]);
      samples.push(Number(process.hrtime.bigint() - t0) / CHUNK);
    }
  }
  if (sink === 0.5) console.log("");
  return stats(samples);
}

/** A complete check with the ids and fields of every violation (what a fuzzer reads back). */
function checkOne(ctx) {
  const r = evaluate(ctx);
  let n = r.violations.length;
  for (const v of r.violations) n += v.id.length + v.fields.length;
  return n;
}

/** The same, with every message built (what a report or --json prints). */
function checkWithMessages(ctx) {
  const r = evaluate(ctx);
  let n = 0;
  for (const v of r.violations) n += v.message.length;
  return n;
}

/** Fixed-seed corpora of one profile, as NDJSON text lines by kind. Generator throughput is measured here. */
export function buildCorpus(name, { valid = 10000, perViolation = 4, seed = 1 } = {}) {
  const caps = builtinProfile(name);
  const modes = modesFor(caps);
  const kinds = { "valid, MSR-load list": [], "valid, no MSR-load list": [] };
  for (const m of modes) kinds[`valid, ${m} mode`] = [];
  const t0 = cpuSecs();
  const generated = [];
  for (let i = 0; i < valid; i++)
    generated.push(generateValid(caps, Rng.derive(seed, i), { mode: modes[i % modes.length] }));
  const genSecs = cpuSecs() - t0;
  for (const g of generated) {
    const line = JSON.stringify(serializeGenerated(g.entry));
    const msr = g.entry.vmcs.lo(F.VM_ENTRY_MSR_LOAD_COUNT) > 0;
    kinds[msr ? "valid, MSR-load list" : "valid, no MSR-load list"].push(line);
    kinds[`valid, ${g.mode} mode`].push(line);
  }
  const t1 = cpuSecs();
  const search = violationSearch(caps);
  const violating = [];
  let k = 0;
  for (const c of CHECKS) {
    if (search.find(c.id).status !== "violated") continue;
    for (let j = 0; j < perViolation; j++) {
      const e = search.violate(
        c.id,
        generateValid(caps, Rng.derive(seed + 1, k++), { mode: modes[k % modes.length] }).entry,
      );
      if (e) violating.push(JSON.stringify(serializeGenerated(e)));
    }
  }
  const violateSecs = cpuSecs() - t1;
  kinds["violate-each"] = violating;
  return {
    caps,
    kinds,
    all: [...generated.map((g) => JSON.stringify(serializeGenerated(g.entry))), ...violating],
    genSecs,
    violateSecs,
    valid,
  };
}

/** The real-log corpus converted to entry documents (the states users paste), as JSON text lines. */
export function realLogCorpus() {
  const lines = [];
  const walk = (dir) => {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (f.endsWith(".txt") || f.endsWith(".log")) {
        try {
          const parsed = parseInput(readFileSync(p), p);
          for (const d of parsed.dumps ?? []) {
            const x = explainDump(d);
            lines.push(JSON.stringify(serializeGenerated(x.entry)));
          }
        } catch {
          // a corpus file that is not a dump (e.g. vmxcap) has no state to check
        }
      }
    }
  };
  walk(CORPUS_DIR);
  return lines;
}

/** In-process rows: parse each document once, then time the complete check per kind. */
export function checkRows(corpora, realLines, passes) {
  const rows = [];
  const baseline = (lines) => timeWalk(lines, (t) => JSON.parse(t).vmcs !== undefined, passes, 3);
  for (const { caps, kinds } of corpora) {
    for (const [kind, lines] of Object.entries(kinds)) {
      if (lines.length < CHUNK) continue;
      const ctxs = lines.map((t) => contextOf(parseEntryText(t)));
      for (let w = 0; w < 3; w++) for (const c of ctxs) checkOne(c); // let V8 optimize the runners first
      const base = baseline(lines);
      const r = timeWalk(ctxs, checkOne, passes, 1);
      const m = kind === "violate-each" ? timeWalk(ctxs, checkWithMessages, passes, 2) : undefined;
      rows.push({
        profile: caps.name,
        kind,
        states: lines.length,
        ...r,
        jsonParseMedianNs: base.medianNs,
        ratioToJsonParse: +(r.medianNs / base.medianNs).toFixed(2),
      });
      if (m)
        rows.push({
          profile: caps.name,
          kind: `${kind}, with messages`,
          states: lines.length,
          ...m,
          jsonParseMedianNs: base.medianNs,
          ratioToJsonParse: +(m.medianNs / base.medianNs).toFixed(2),
        });
    }
  }
  if (realLines.length) {
    const ctxs = realLines.map((t) => contextOf(parseEntryText(t)));
    // the corpus is small: repeat it so that a pass has enough chunks
    const rep = [];
    while (rep.length < 2000) rep.push(...ctxs);
    const reps = [];
    while (reps.length < 2000) reps.push(...realLines);
    const base = baseline(reps);
    const r = timeWalk(rep, checkWithMessages, passes, 4);
    rows.push({
      profile: "(as logged)",
      kind: "real-log corpus, with messages",
      states: realLines.length,
      ...r,
      jsonParseMedianNs: base.medianNs,
      ratioToJsonParse: +(r.medianNs / base.medianNs).toFixed(2),
    });
  }
  return rows;
}

/** States `ValidStates` fills per profile in the in-process generator row (a quick run: a fifth). */
const FILL_COUNT = 300000;
/**
 * States filled first from another stream of the same profile, not timed: a fuzzing campaign fills millions
 * in one process, so the row measures code V8 has optimized. (It did not lift skylake, the profile timed first:
 * ~400,000/s with and without it.)
 */
const FILL_WARMUP = 30000;

/**
 * The generator as a fuzzer calls it (src/gen/vary.ts): `ValidStates.fill(i)` into one reused VMCS store, no
 * JSON, default options (a state built from scratch every VARIANTS states of a template, POOL templates at
 * once), from a fresh stream after a warm-up on another (FILL_WARMUP): the templates' construction and learning
 * are in the time.
 */
export function fillRow(name, quick) {
  const caps = builtinProfile(name);
  const n = quick ? FILL_COUNT / 5 : FILL_COUNT;
  const warm = new ValidStates(caps, 2);
  for (let i = 0; i < FILL_WARMUP; i++) warm.fill(i);
  const s = new ValidStates(caps, 1);
  const t0 = cpuSecs();
  for (let i = 0; i < n; i++) s.fill(i);
  const secs = cpuSecs() - t0;
  return {
    profile: name,
    states: n,
    validStatesPerCpuSec: Math.round(n / secs),
    templates: Math.ceil(n / (POOL * VARIANTS)) * POOL,
    redrawsPer1000: +((s.redraws * 1000) / n).toFixed(1),
    templateTaken: s.fallbacks,
  };
}

/** Times the corpus is streamed to `nvmx check --json` (so V8's warm-up and start-up weigh as in a long run). */
const STREAM_REPEAT = 4;
/** Documents `nvmx gen --valid` writes per run (default options). */
const GEN_COUNT = 100000;

/**
 * `nvmx check --json` over a corpus file on stdin (the corpus STREAM_REPEAT times), end to end, per CPU-second
 * of the nvmx process; also without the start-up cost (the CPU time of an empty input). Baseline: JSON.parse
 * of the same lines in this process, CPU time. And `nvmx gen --valid` per CPU-second.
 */
export async function pipelineRows(corpora) {
  const rows = [];
  const dir = mkdtempSync(join(os.tmpdir(), "nvmx-bench-"));
  const empty = join(dir, "empty.ndjson");
  writeFileSync(empty, "");
  const median = async (argv, input) => {
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await timeCommand(argv, input));
    return runs.sort((a, b) => a.cpuSecs - b.cpuSecs)[1];
  };
  const start = await median([CLI, "check", "--json", "-"], empty);
  for (const { caps, all } of corpora) {
    const file = join(dir, `${caps.name}.ndjson`);
    const text = `${all.join("\n")}\n`;
    writeFileSync(file, text.repeat(STREAM_REPEAT));
    const docs = all.length * STREAM_REPEAT;
    // JSON.parse alone: the median CPU time of 5 passes after a warm-up pass (one pass is noisy here)
    const passes = [];
    for (let pass = 0; pass < 6; pass++) {
      const t0 = cpuSecs();
      for (const l of all) JSON.parse(l);
      if (pass > 0) passes.push(cpuSecs() - t0);
    }
    const parseSecs = passes.sort((a, b) => a - b)[2];
    const parseRate = all.length / parseSecs;
    const r = await median([CLI, "check", "--json", "-"], file);
    const g = await median([
      CLI,
      "gen",
      "--cpu",
      caps.name,
      "--valid",
      "--count",
      String(GEN_COUNT),
      "--seed",
      "1",
    ]);
    const rate = docs / r.cpuSecs;
    rows.push({
      profile: caps.name,
      documents: docs,
      avgBytes: Math.round(Buffer.byteLength(text) / all.length),
      // per CPU-second of the nvmx process (start-up included): robust to other load on the machine
      checkDocsPerCpuSec: Math.round(rate),
      checkDocsPerCpuSecAfterStartup: Math.round(docs / (r.cpuSecs - start.cpuSecs)),
      jsonParseDocsPerCpuSec: Math.round(parseRate),
      ratioToJsonParse: +(rate / parseRate).toFixed(2),
      checkWallSecs: +r.secs.toFixed(2),
      checkMaxRssMB: r.maxRssMB,
      genValidDocsPerCpuSec: Math.round(GEN_COUNT / g.cpuSecs),
    });
  }
  return rows;
}

const HOOK = new URL("./usage-hook.mjs", import.meta.url).href;

/** Wall time of a command (stdin from `file`), its own CPU time and peak RSS (reported by usage-hook.mjs). */
export async function timeCommand(argv, file, env = process.env) {
  const input = file ? openSync(file, "r") : "ignore";
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, ["--import", HOOK, ...argv], {
    stdio: [input, "pipe", "pipe"],
    env,
  });
  let err = "";
  child.stdout.on("data", () => {});
  child.stderr.on("data", (d) => {
    err += d;
  });
  const code = await new Promise((resolve) => child.on("close", resolve));
  if (typeof input === "number") closeSync(input);
  const m = /\{"nvmxBenchUsage":.*\}/.exec(err);
  const u = m ? JSON.parse(m[0]).nvmxBenchUsage : { cpuSecs: Number.NaN, maxRssKB: Number.NaN };
  return {
    code,
    secs: Number(process.hrtime.bigint() - t0) / 1e9,
    cpuSecs: u.cpuSecs,
    maxRssMB: Math.round(u.maxRssKB / 1024),
  };
}

/** `nvmx gen --violate-each` for one profile, cold (no search cache). */
export async function violateEachCold(name) {
  const dir = mkdtempSync(join(os.tmpdir(), "nvmx-bench-cache-"));
  const r = await timeCommand([CLI, "gen", "--cpu", name, "--violate-each", "--count", "1"], undefined, {
    ...process.env,
    NVMX_CACHE_DIR: dir,
  });
  return { profile: name, wallSecs: +r.secs.toFixed(2), cpuSecs: +r.cpuSecs.toFixed(2) };
}

/**
 * `nvmx nested --find-gaps` for the newest kernel preset (its default L1 profile): cold (an empty search
 * cache), then warm (the cache the cold run wrote), every rule class (the default).
 */
export async function findGapsRows() {
  const rows = [];
  for (const only of ["all"]) {
    const env = { ...process.env, NVMX_CACHE_DIR: mkdtempSync(join(os.tmpdir(), "nvmx-bench-cache-")) };
    const argv = [CLI, "nested", "--find-gaps", "--only", only];
    const cold = await timeCommand(argv, undefined, env);
    const warm = await timeCommand(argv, undefined, env);
    rows.push({
      command: `nested --find-gaps --only ${only}`,
      coldCpuSecs: +cold.cpuSecs.toFixed(2),
      coldWallSecs: +cold.secs.toFixed(2),
      warmCpuSecs: +warm.cpuSecs.toFixed(2),
      warmWallSecs: +warm.secs.toFixed(2),
    });
  }
  return rows;
}

/** Issue 15's targets against this run's figures: one row per target, with the measured value and whether it is met. */
export function targetRows(h) {
  const rows = [];
  const worst = (pred) => {
    const r = h.checks.filter(pred);
    return r.length ? Math.max(...r.map((x) => x.medianNs)) : Number.NaN;
  };
  const row = (target, limit, measured, unit, atMost) =>
    rows.push({
      target,
      limit: `${atMost ? "≤" : "≥"} ${limit} ${unit}`,
      measured: `${measured} ${unit}`,
      met: atMost ? measured <= limit : measured >= limit,
    });
  row(
    "valid state, complete check, median (worst profile and kind)",
    250,
    worst((r) => r.kind.startsWith("valid")),
    "ns",
    true,
  );
  row(
    "violating state (violate-each), ids + fields, median (worst profile)",
    300,
    worst((r) => r.kind === "violate-each"),
    "ns",
    true,
  );
  const minOf = (xs) => Math.min(...xs);
  row(
    "check --json throughput / JSON.parse throughput (worst profile)",
    2,
    minOf(h.pipeline.map((r) => r.ratioToJsonParse)),
    "×",
    false,
  );
  row(
    "generator in-process (ValidStates.fill), valid states per CPU-second (worst profile)",
    500000,
    minOf(h.fill.map((r) => r.validStatesPerCpuSec)),
    "/s",
    false,
  );
  row(
    "gen --valid CLI, documents per CPU-second (worst profile)",
    50000,
    minOf(h.pipeline.map((r) => r.genValidDocsPerCpuSec)),
    "/s",
    false,
  );
  // the other form of the same target: `gen --valid` writes at least as fast as `check --json` reads
  // (its rate on the profile's corpus, measured in the same run: robust to the machine's load)
  row(
    "gen --valid documents per CPU-second / check --json documents per CPU-second (worst profile)",
    1,
    minOf(h.pipeline.map((r) => +(r.genValidDocsPerCpuSec / r.checkDocsPerCpuSec).toFixed(2))),
    "×",
    false,
  );
  for (const v of h.violateEachCold)
    row(`gen --violate-each cold, ${v.profile}`, 2, v.cpuSecs, "CPU-s", true);
  for (const g of h.findGaps) {
    row(`${g.command}, warm cache`, 2, g.warmCpuSecs, "CPU-s", true);
    row(`${g.command}, cold`, 10, g.coldCpuSecs, "CPU-s", true);
  }
  return rows;
}
