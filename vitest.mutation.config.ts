/**
 * The test suite as mutation testing runs it (stryker.config.mjs): the tests that exercise the source under
 * test/ directly. Tests that run the built CLI (dist/) or a browser cannot see a mutant in src/ and are left
 * out; so are the slow end-to-end batches.
 */
import { defineConfig, mergeConfig } from "vitest/config";
import base from "./vitest.config.js";

export default mergeConfig(
  base,
  defineConfig({
    test: {
      exclude: [
        "**/node_modules/**",
        "test/e2e/**",
        "test/cli.test.ts",
        "test/cli/check.test.ts",
        "test/gen/cli.test.ts",
      ],
    },
  }),
);
