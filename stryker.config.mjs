// Mutation testing (StrykerJS 9 with its vitest runner; docs/mutation.md). Run one folder at a time:
//   npm run mutation -- src/checks        (or src/entry, src/formats, src/gen, src/nested)
// The folder comes from NVMX_MUTATE (scripts/mutation.mjs sets it). Incremental: each folder keeps its own
// incremental file, so a re-run only tests mutants in changed code or covered by changed tests.
// StrykerJS 9.x is the newest line that runs on Node 20 (10.x needs Node 22).
const folder = (process.env.NVMX_MUTATE ?? "src/checks").replace(/\/+$/, "");
const slug = folder.replace(/[^\w.-]+/g, "-").slice(0, 120);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.mutation.config.ts", related: false },
  // A folder, or files of one folder joined by commas (src/entry/fast.ts,src/entry/run.ts), or line ranges of a
  // file (src/checks/util.ts:75-87).
  mutate: folder.includes(".ts") ? folder.split(",") : [`${folder}/**/*.ts`, "!**/*.generated.ts"],
  // Per-test coverage: a mutant runs only the tests that reach it.
  coverageAnalysis: "perTest",
  // Mutants in module set-up (tables, ids, rule texts) run no test under coverage and would need the whole
  // suite each; they are reported as ignored. The predicates, decoders, messages and the compiler are not
  // static: checks compile on first use (src/checks/rule.ts).
  ignoreStatic: true,
  incremental: true,
  incrementalFile: `reports/mutation/${slug}.incremental.json`,
  reporters: ["clear-text", "progress", "json", "html"],
  jsonReporter: { fileName: `reports/mutation/${slug}.json` },
  htmlReporter: { fileName: `reports/mutation/${slug}.html` },
  concurrency: Number(process.env.NVMX_MUTATE_JOBS ?? 2),
  // A mutant times out after 1.5× the covering tests' own time + 10 s (timeouts count as killed). A mutant that
  // makes a loop run forever is caught sooner by Stryker's hit limit; the margin is for a machine shared with
  // builds and benchmarks, where a tighter one turned slow runs into false timeouts (and worker restarts).
  timeoutMS: 10000,
  // The initial test run of src/gen with valid.ts instrumented took over Stryker's default 5 minutes on the shared
  // 2 cores (every test generates states through it).
  dryRunTimeoutMinutes: 30,
  timeoutFactor: 1.5,
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
  // dist/ is copied: a few tests run the built CLI (they cannot see a mutant, but must pass).
  ignorePatterns: ["reports", "test-artifacts", ".stryker-tmp"],
};
