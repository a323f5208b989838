// npm run mutation -- <folder> [...]: StrykerJS on one source folder at a time (stryker.config.mjs), then the
// score per file. Incremental per folder (reports/mutation/<folder>.incremental.json).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

const folders = process.argv.slice(2);
if (folders.length === 0) {
  console.error("usage: npm run mutation -- <folder> [...]   e.g. src/checks src/entry");
  process.exit(2);
}
let status = 0;
for (const folder of folders) {
  const r = spawnSync("npx", ["stryker", "run"], {
    stdio: "inherit",
    // NVMX_MUTATION=1 tells heavy property tests to run fewer cases (test/helpers.ts runs()).
    env: { ...process.env, NVMX_MUTATE: folder, NVMX_MUTATION: "1" },
  });
  status ||= r.status ?? 1;
  const slug = folder
    .replace(/\/+$/, "")
    .replace(/[^\w.-]+/g, "-")
    .slice(0, 120);
  try {
    const report = JSON.parse(readFileSync(`reports/mutation/${slug}.json`, "utf8"));
    let killed = 0;
    let counted = 0;
    for (const f of Object.values(report.files))
      for (const m of f.mutants) {
        if (m.status === "Ignored" || m.status === "CompileError" || m.status === "RuntimeError") continue;
        counted++;
        if (m.status === "Killed" || m.status === "Timeout") killed++;
      }
    console.log(`${folder}: ${killed}/${counted} mutants killed (${((100 * killed) / counted).toFixed(1)}%)`);
  } catch {}
}
process.exit(status);
