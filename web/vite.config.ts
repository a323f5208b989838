/**
 * The playground's build: a static single page in web/dist that imports the library source (../src)
 * directly. Every asset is bundled (no CDN, no external request), so the page works offline once loaded.
 */
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const repo = fileURLToPath(new URL("..", import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  // Relative asset URLs: the page works from any path, from `nvmx serve` and from a file server alike.
  base: "./",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // One small JS and one CSS file; no source maps in the shipped page.
    sourcemap: false,
    rollupOptions: {
      // The check modules resolve their predicates' names with a direct `eval` of one identifier
      // (src/checks/compile.ts); the bundler keeps those names, which is what that needs.
      onwarn(w, warn) {
        if (w.code !== "EVAL") warn(w);
      },
    },
  },
  // The dev server (npx vite web) reads the library source and the examples from the repository.
  server: { host: "127.0.0.1", fs: { allow: [repo] } },
});
