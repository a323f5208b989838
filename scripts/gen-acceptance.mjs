#!/usr/bin/env node
/**
 * Generator acceptance run (issue 7), on the built dist/:
 * - for every built-in profile, N valid states (default 100,000; modes in turn) all check as entered (every
 *   100th also through serialize → JSON → parse); states/s measured;
 * - --violate-each coverage: for every check id, a state failing exactly that id (verified through the document
 *   format, plus replays on fresh valid states), or the reason it cannot be violated alone on that profile.
 * Writes the coverage table into docs/generator.md between the coverage markers (with --write-docs).
 *
 * usage: node scripts/gen-acceptance.mjs [--count N] [--profiles a,b] [--jobs J] [--write-docs] [--json FILE]
 */
import { readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";

const root = new URL("..", import.meta.url).pathname;

async function profileRun({ name, count }) {
  const { builtinProfile } = await import(`${root}dist/cpu/builtin.js`);
  const { generateValid, modesFor } = await import(`${root}dist/gen/valid.js`);
  const { violationSearch } = await import(`${root}dist/gen/violate.js`);
  const { serializeGenerated } = await import(`${root}dist/gen/serialize.js`);
  const { parseEntry } = await import(`${root}dist/entry/document.js`);
  const { runEntry } = await import(`${root}dist/entry/run.js`);
  const { Rng } = await import(`${root}dist/gen/rng.js`);
  const { CHECKS } = await import(`${root}dist/checks/registry.js`);
  const caps = builtinProfile(name);
  const modes = modesFor(caps);
  const byMode = Object.fromEntries(modes.map((m) => [m, 0]));
  let entered = 0;
  const failures = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const mode = modes[i % modes.length];
    let g;
    try {
      g = generateValid(caps, Rng.derive(2024, i), { mode });
    } catch (e) {
      failures.push(`#${i} ${mode}: ${e.message}`);
      continue;
    }
    let e = g.entry;
    if (i % 100 === 0) e = parseEntry(JSON.parse(JSON.stringify(serializeGenerated(e))));
    const r = runEntry(e);
    if (r.outcome.type === "entered") {
      entered++;
      byMode[mode]++;
    } else if (failures.length < 5)
      failures.push(`#${i} ${mode}: ${r.violations.map((v) => v.id).join(",")}`);
  }
  const genSeconds = (performance.now() - t0) / 1000;

  const t1 = performance.now();
  const search = violationSearch(caps);
  const results = search.findAll();
  const searchSeconds = (performance.now() - t1) / 1000;
  const wrong = [];
  let replays = 0;
  for (const r of results) {
    if (r.status !== "violated") continue;
    const check = (e) =>
      runEntry(parseEntry(JSON.parse(JSON.stringify(serializeGenerated(e))))).violations.map((v) => v.id);
    const ids = check(search.violate(r.id));
    if (ids.length !== 1 || ids[0] !== r.id) wrong.push(`${r.id} -> ${ids.join(",")}`);
    for (let k = 0; k < 3; k++) {
      const start = generateValid(caps, Rng.derive(99, replays++), {}).entry;
      const ids2 = check(search.violate(r.id, start));
      if (ids2.length !== 1 || ids2[0] !== r.id) wrong.push(`${r.id} (replay) -> ${ids2.join(",")}`);
    }
  }
  const of = (s) => results.filter((r) => r.status === s).map((r) => ({ id: r.id, reason: r.reason }));
  return {
    name,
    count,
    entered,
    byMode,
    failures,
    genSeconds,
    statesPerSecond: Math.round(count / genSeconds),
    checks: CHECKS.length,
    violated: results.filter((r) => r.status === "violated").length,
    notApplicable: of("not-applicable"),
    notAlone: of("not-alone"),
    wrong,
    searchSeconds,
  };
}

if (!isMainThread) {
  profileRun(workerData).then(
    (r) => parentPort.postMessage(r),
    (e) => parentPort.postMessage({ name: workerData.name, error: String(e?.stack ?? e) }),
  );
} else {
  const { values } = parseArgs({
    options: {
      count: { type: "string", default: "100000" },
      profiles: { type: "string" },
      jobs: { type: "string" },
      "write-docs": { type: "boolean", default: false },
      json: { type: "string" },
    },
  });
  const { builtinNames } = await import(`${root}dist/cpu/builtin.js`);
  const names = values.profiles ? values.profiles.split(",") : builtinNames();
  const jobs = Number(values.jobs ?? cpus().length);
  const count = Number(values.count);
  const queue = [...names];
  const results = [];
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: Math.min(jobs, names.length) }, async () => {
      for (let name = queue.shift(); name; name = queue.shift()) {
        const r = await new Promise((resolve) => {
          const w = new Worker(new URL(import.meta.url), { workerData: { name, count } });
          w.once("message", (m) => {
            resolve(m);
            w.terminate();
          });
          w.once("error", (e) => resolve({ name, error: String(e) }));
        });
        results.push(r);
        const applicable = r.error ? 0 : r.violated + r.notAlone.length;
        process.stderr.write(
          r.error
            ? `${name}: ERROR ${r.error}\n`
            : `${name}: ${r.entered}/${r.count} entered (${r.statesPerSecond} states/s); violated alone ${r.violated}/${applicable} applicable (${r.notApplicable.length} n/a, ${r.notAlone.length} not alone, ${r.wrong.length} wrong) in ${r.searchSeconds.toFixed(1)} s\n`,
        );
      }
    }),
  );
  results.sort((a, b) => names.indexOf(a.name) - names.indexOf(b.name));
  const ok = results.every((r) => !r.error && r.entered === r.count && r.wrong.length === 0);
  const table = [
    "| profile | valid states checked as entered | states/s (1 thread) | checks violated alone / applicable | not applicable | only with others |",
    "|---|---|---|---|---|---|",
    ...results.map((r) =>
      r.error
        ? `| ${r.name} | error | | | | |`
        : `| ${r.name} | ${r.entered.toLocaleString("en-US")} / ${r.count.toLocaleString("en-US")} | ${r.statesPerSecond} | ${r.violated} / ${r.violated + r.notAlone.length} | ${r.notApplicable.length} | ${r.notAlone.map((x) => `\`${x.id}\``).join(", ") || "—"} |`,
    ),
  ].join("\n");
  console.log(table);
  console.log(
    `\n${ok ? "PASS" : "FAIL"} in ${((Date.now() - t0) / 1000).toFixed(0)} s (${results[0]?.checks} checks in the registry)`,
  );
  if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 2));
  if (values["write-docs"]) {
    const f = `${root}docs/generator.md`;
    const doc = readFileSync(f, "utf8");
    const begin = "<!-- coverage:begin -->";
    const end = "<!-- coverage:end -->";
    const stamp = `Generated by \`node scripts/gen-acceptance.mjs --count ${count} --write-docs\` with ${results[0]?.checks} checks in the registry.`;
    const i = doc.indexOf(begin);
    const j = doc.indexOf(end);
    if (i >= 0 && j > i)
      writeFileSync(f, `${doc.slice(0, i + begin.length)}\n${stamp}\n\n${table}\n${doc.slice(j)}`);
  }
  process.exitCode = ok ? 0 : 1;
}
