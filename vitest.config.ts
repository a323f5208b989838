import { defineConfig } from "vitest/config";
// The registry's module list (src/checks/sections.generated.ts) is generated; keep it current for test runs
// that do not go through `npm run build`.
import "./scripts/gen-sections.mjs";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/setup.ts"],
    testTimeout: 60000,
    hookTimeout: 120000,
  },
});
