/**
 * The test suite as mutation testing runs it (stryker.config.mjs). Each source folder is tested by the tests
 * that exercise it directly (a surviving mutant then runs tens of seconds, not the whole suite); tests that run
 * the built CLI (dist/) or a browser cannot see a mutant in src/ and are left out.
 */
import { defineConfig } from "vitest/config";
import base from "./vitest.config.js";

const TESTS: Readonly<Record<string, readonly string[]>> = {
  "src/checks": [
    "test/checks.test.ts",
    "test/checks/**/*.test.ts",
    "test/exec-controls.property.test.ts",
    "test/exit-entry.property.test.ts",
    "test/guest-cr.property.test.ts",
    "test/guest-non-register.property.test.ts",
    "test/guest-segments.property.test.ts",
    "test/host.property.test.ts",
    "test/entry/runner-debug.test.ts",
    "test/checks-msr/**/*.test.ts",
  ],
  "src/entry": [
    "test/entry/**/*.test.ts",
    "test/fast-path.property.test.ts",
    "test/fast-specialize.property.test.ts",
    "test/checks.test.ts",
    "test/foundation.test.ts",
    "test/cli/input.test.ts",
    "test/cli/batch.test.ts",
    "test/checks-msr/**/*.test.ts",
  ],
  // Not the fuzzers (they assert only "no crash" and each reruns for a minute instrumented) nor the linear-time
  // tests (time ratios mean nothing in instrumented code on a shared machine).
  "src/formats": [
    "test/formats/corpus.test.ts",
    "test/formats/parsers.test.ts",
    "test/formats/partial-fields.test.ts",
    "test/formats/properties.test.ts",
    "test/formats/tolerant.test.ts",
    "test/formats/tracepoint-reader.test.ts",
  ],
  "src/gen": ["test/gen/**/*.test.ts"],
  "src/nested": ["test/nested/**/*.test.ts"],
};

// NVMX_MUTATE is a folder or files of one folder (comma-separated); files (subfolders too: src/nested/kernels)
// are tested by their top folder's tests.
const target = (process.env["NVMX_MUTATE"] ?? "").replace(/\/+$/, "").split(",")[0] ?? "";
const folder = Object.keys(TESTS).find((f) => target === f || target.startsWith(`${f}/`)) ?? target;

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: [...(TESTS[folder] ?? ["test/**/*.test.ts"])],
    // Instrumented code on a shared 2-core machine is several times slower: the timeout is only a hang guard.
    testTimeout: 600000,
    exclude: [
      "**/node_modules/**",
      "test/e2e/**",
      "test/cli.test.ts",
      "test/cli/check.test.ts",
      "test/gen/cli.test.ts",
      "test/nested/cli.test.ts",
      // Imports a copy of src inside a test: every module-level mutant would count as covered by it.
      "test/checks/new-module.test.ts",
    ],
  },
});
