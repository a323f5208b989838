// Two builds of nvmx on the same varied corpus, in alternating child processes (so a noisy machine weighs on
// both alike): the compiled runner alone and the complete check (`evaluate`, ids and fields; then with every
// message), per state, median of the passes, for valid states with and without a VM-entry MSR-load list and
// for violate-each states. The corpus (skylake, seed 1) is written once by this checkout's build.
// Run: node bench/compare.js OLD_DIST [NEW_DIST=dist] [--runs N]
//   e.g. git worktree add /tmp/old <rev> && (cd /tmp/old && npm ci && npm run build) && node bench/compare.js /tmp/old/dist
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";

const HERE = new URL(".", import.meta.url).pathname;
const argv = process.argv.slice(2);

if (process.env.NVMX_COMPARE_CHILD) await child();
else await parent();

async function parent() {
  const runsAt = argv.indexOf("--runs");
  const runs = runsAt >= 0 ? Number(argv[runsAt + 1]) : 3;
  const dists = argv.filter((a, i) => !a.startsWith("--") && argv[i - 1] !== "--runs").map((d) => resolve(d));
  if (dists.length === 0) {
    console.error("usage: node bench/compare.js OLD_DIST [NEW_DIST] [--runs N]");
    process.exit(2);
  }
  if (dists.length === 1) dists.push(resolve(HERE, "../dist"));
  for (const d of dists)
    if (!existsSync(join(d, "entry/evaluate.js")))
      throw new Error(`${d}: not an nvmx build (no entry/evaluate.js)`);
  const dir = mkdtempSync(join(os.tmpdir(), "nvmx-compare-"));
  writeCorpus(dir);
  const results = dists.map(() => []);
  for (let r = 0; r < runs; r++)
    for (const mode of ["runner", "evaluate", "messages"])
      dists.forEach((d, k) => {
        const out = spawnSync(process.execPath, [new URL(import.meta.url).pathname], {
          env: { ...process.env, NVMX_COMPARE_CHILD: "1", DIST: d, CORPUS: dir, MODE: mode },
          encoding: "utf8",
        });
        if (out.status !== 0) throw new Error(`${d} ${mode}: ${out.stderr}`);
        results[k].push(JSON.parse(out.stdout));
      });
  const rows = [];
  for (const mode of ["runner", "evaluate", "messages"])
    for (const kind of ["valid, no MSR-load list", "valid, MSR-load list", "violate-each"]) {
      const med = (k) => {
        const xs = results[k]
          .filter((x) => x.mode === mode)
          .map((x) => x[kind])
          .sort((a, b) => a - b);
        return xs[Math.floor(xs.length / 2)];
      };
      const a = med(0);
      const b = med(1);
      rows.push({ mode, kind, [`old ns`]: a, [`new ns`]: b, "new/old": +(b / a).toFixed(2) });
    }
  console.log(
    `old: ${dists[0]}\nnew: ${dists[1]}\n${runs} alternating runs, median per state of each run's median`,
  );
  console.table(rows);
}

/** The corpus: skylake, 2,000 valid states (seed 1, modes in turn) and 4 states per violable check. */
function writeCorpus(dir) {
  const script = `
    const D = ${JSON.stringify(resolve(HERE, "../dist"))};
    const { CHECKS } = await import(D + "/checks/registry.js");
    const { builtinProfile } = await import(D + "/cpu/builtin.js");
    const { Rng } = await import(D + "/gen/rng.js");
    const { serializeGenerated } = await import(D + "/gen/serialize.js");
    const { generateValid, modesFor } = await import(D + "/gen/valid.js");
    const { violationSearch } = await import(D + "/gen/violate.js");
    const { writeFileSync } = await import("node:fs");
    const caps = builtinProfile("skylake");
    const modes = modesFor(caps);
    const line = (e) => JSON.stringify(serializeGenerated(e));
    const valid = [];
    for (let i = 0; i < 2000; i++) valid.push(line(generateValid(caps, Rng.derive(1, i), { mode: modes[i % modes.length] }).entry));
    const search = violationSearch(caps);
    const bad = [];
    let k = 0;
    for (const c of CHECKS) {
      if (search.find(c.id).status !== "violated") continue;
      for (let j = 0; j < 4; j++) {
        const e = search.violate(c.id, generateValid(caps, Rng.derive(2, k++), { mode: modes[k % modes.length] }).entry);
        if (e) bad.push(line(e));
      }
    }
    writeFileSync(${JSON.stringify(join(dir, "valid.ndjson"))}, valid.join("\\n"));
    writeFileSync(${JSON.stringify(join(dir, "violating.ndjson"))}, bad.join("\\n"));
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`corpus: ${r.stderr}`);
}

async function child() {
  const D = process.env.DIST;
  const { CHECKS } = await import(`${D}/checks/registry.js`);
  const { F } = await import(`${D}/arch/fields.js`);
  const { compileRunner } = await import(`${D}/entry/fast.js`);
  const { contextOf } = await import(`${D}/entry/run.js`);
  const { parseEntryText } = await import(`${D}/entry/document.js`);
  const { evaluate } = await import(`${D}/entry/evaluate.js`);
  const { Rng } = await import(`${D}/gen/rng.js`);
  const load = (f) =>
    readFileSync(join(process.env.CORPUS, f), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((t) => contextOf(parseEntryText(t)));
  const valid = load("valid.ndjson");
  const bad = load("violating.ndjson");
  const all = [...valid, ...bad];
  const rng = new Rng(5);
  for (let i = all.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [all[i], all[j]] = [all[j], all[i]];
  }
  const mode = process.env.MODE;
  const run = compileRunner(CHECKS);
  const out = new Int32Array(CHECKS.length);
  const fn =
    mode === "runner"
      ? (c) => run(c, out)
      : (c) => {
          const r = evaluate(c);
          let n = r.violations.length;
          for (const v of r.violations)
            n += v.id.length + v.fields.length + (mode === "messages" ? v.message.length : 0);
          return n;
        };
  let sink = 0;
  for (let w = 0; w < 3; w++) for (const c of all) sink ^= fn(c);
  const groups = {
    "valid, no MSR-load list": valid.filter((c) => c.lo(F.VM_ENTRY_MSR_LOAD_COUNT) === 0),
    "valid, MSR-load list": valid.filter((c) => c.lo(F.VM_ENTRY_MSR_LOAD_COUNT) !== 0),
    "violate-each": bad,
  };
  const res = { mode };
  for (const [k, arr] of Object.entries(groups)) {
    const per = [];
    for (let p = 0; p < 15; p++) {
      const t = process.hrtime.bigint();
      for (const c of arr) sink ^= fn(c);
      per.push(Number(process.hrtime.bigint() - t) / arr.length);
    }
    per.sort((a, b) => a - b);
    res[k] = Math.round(per[7]);
  }
  if (sink === 0.5) console.error("");
  writeFileSync(1, JSON.stringify(res));
}
