// node scripts/mutants-apply.mjs REPORT.json SOURCE TEST... : re-tests, by hand, the mutants a StrykerJS run left
// (Survived, NoCoverage) against the tests as they are now, without a new Stryker run. Each mutant's replacement
// is written into SOURCE at the location the report gives, the tests run (vitest), and SOURCE is restored; the
// line printed per mutant says whether the tests now fail on it (killed). SOURCE must be the text the report was
// made from. Run it in a worktree of its own: SOURCE is rewritten while it runs.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

const [report, source, ...tests] = process.argv.slice(2);
if (!report || !source || tests.length === 0) {
  console.error("usage: node scripts/mutants-apply.mjs REPORT.json SOURCE TEST...");
  process.exit(2);
}
const original = readFileSync(source, "utf8");
const lines = original.split("\n");
/** Offset of a 1-based line and column (Stryker's locations). */
const offset = ({ line, column }) =>
  lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0) + column - 1;

/**
 * Seconds a test run may take (NVMX_APPLY_TIMEOUT, default 600): a mutant that makes a loop run forever is
 * stopped, with every process of the run (coreutils `timeout` signals its process group), and counts as killed,
 * as Stryker counts a timeout.
 */
const limit = Number(process.env.NVMX_APPLY_TIMEOUT ?? 600);

/** Whether the tests fail ("timeout" when they ran out of time); undefined when they ran no test. */
function fails() {
  const r = spawnSync("timeout", ["-s", "KILL", String(limit), "npx", "vitest", "run", ...tests], {
    encoding: "utf8",
  });
  if (r.status === 137) return "timeout";
  const out = `${r.stdout}${r.stderr}`;
  if (/no tests/.test(out)) return undefined;
  return r.status !== 0;
}

// a stopped run leaves the source as it found it
for (const signal of ["SIGINT", "SIGTERM"])
  process.on(signal, () => {
    writeFileSync(source, original);
    process.exit(130);
  });

if (fails() !== false) {
  console.error("the tests do not pass on the unchanged source (or ran no test): nothing to compare with");
  process.exit(2);
}
const mutants = Object.values(JSON.parse(readFileSync(report, "utf8")).files)
  .flatMap((f) => f.mutants)
  .filter((m) => m.status === "Survived" || m.status === "NoCoverage");
let killed = 0;
try {
  for (const m of mutants) {
    const { start, end } = m.location;
    writeFileSync(source, original.slice(0, offset(start)) + m.replacement + original.slice(offset(end)));
    const k = fails();
    if (k) killed++;
    console.log(
      [
        m.id,
        m.mutatorName,
        `line ${start.line}`,
        JSON.stringify(m.replacement.slice(0, 60)),
        m.status,
        k === "timeout" ? "killed (timeout)" : k ? "killed" : "survives",
      ].join(" | "),
    );
  }
} finally {
  writeFileSync(source, original);
}
console.log(`killed ${killed} of ${mutants.length}`);
