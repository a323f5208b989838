#!/usr/bin/env node
/**
 * NDJSON streaming check (issue 7): builds an N-line stream of generated entry documents with malformed lines
 * mixed in (every 97th line is not JSON, every 89th is JSON but not an entry document), pipes it through
 * `nvmx check --json [--jobs J]`, and verifies that exactly N lines come back, each error line at the
 * position of its malformed input line. Measures wall time and the checker process's RSS (sampled from
 * /proc/PID/status) at the start and end of the run.
 *
 * usage: node scripts/ndjson-stream.mjs [--lines N] [--jobs J] [--cpu NAME]
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    lines: { type: "string", default: "1000000" },
    jobs: { type: "string" },
    cpu: { type: "string", default: "skylake" },
  },
});
const N = Number(values.lines);
const root = new URL("..", import.meta.url).pathname;
const { builtinProfile } = await import(`${root}dist/cpu/builtin.js`);
const { generateValid, modesFor } = await import(`${root}dist/gen/valid.js`);
const { serializeGenerated } = await import(`${root}dist/gen/serialize.js`);
const { Rng } = await import(`${root}dist/gen/rng.js`);

// A few hundred distinct documents, repeated (generation is not what is measured here).
const caps = builtinProfile(values.cpu);
const modes = modesFor(caps);
const docs = Array.from({ length: 500 }, (_, i) =>
  JSON.stringify(
    serializeGenerated(generateValid(caps, Rng.derive(42, i), { mode: modes[i % modes.length] }).entry),
  ),
);
const kind = (i) => (i % 97 === 96 ? "bad-json" : i % 89 === 88 ? "bad-doc" : "ok");
const lineText = (i) => {
  const k = kind(i);
  if (k === "bad-json") return `{"format":"nvmx-entry/1","vmcs":{"GUEST_CR0": 0x${i.toString(16)}`;
  if (k === "bad-doc") return JSON.stringify({ vmcs: { NOT_A_FIELD: i } });
  return docs[i % docs.length];
};

const args = [
  `${root}dist/cli/main.js`,
  "check",
  "--json",
  ...(values.jobs ? ["--jobs", values.jobs] : []),
  "-",
];
const t0 = Date.now();
const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "inherit"] });
const rss = () => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
};
const samples = [];
const timer = setInterval(() => {
  const r = rss();
  if (r !== undefined) samples.push(r);
}, 250);

// writer with backpressure
(async () => {
  for (let i = 0; i < N; i++) {
    if (!child.stdin.write(`${lineText(i)}\n`)) await new Promise((r) => child.stdin.once("drain", r));
  }
  child.stdin.end();
})();

let n = 0;
let misplaced = 0;
let errors = 0;
const rl = createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY });
for await (const line of rl) {
  const isError = line.startsWith('{"error"');
  const expectError = kind(n) !== "ok";
  if (isError) {
    errors++;
    const l = JSON.parse(line).error.line;
    if (l !== n + 1) misplaced++;
  }
  if (isError !== expectError) misplaced++;
  n++;
}
const code = await new Promise((r) => child.on("close", r));
clearInterval(timer);
const secs = (Date.now() - t0) / 1000;
const early = samples.slice(0, Math.max(1, Math.floor(samples.length / 10)));
const late = samples.slice(-Math.max(1, Math.floor(samples.length / 10)));
const avg = (a) => a.reduce((x, y) => x + y, 0) / a.length;
const report = {
  lines: N,
  outputLines: n,
  errorLines: errors,
  misplaced,
  exitCode: code,
  seconds: secs,
  linesPerSecond: Math.round(N / secs),
  rssMiB: {
    first: samples[0]?.toFixed(1),
    startAvg: avg(early).toFixed(1),
    endAvg: avg(late).toFixed(1),
    max: Math.max(...samples).toFixed(1),
  },
  jobs: values.jobs ?? "1 (no --jobs)",
};
console.log(JSON.stringify(report, null, 2));
process.exitCode = n === N && misplaced === 0 ? 0 : 1;
