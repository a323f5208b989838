/**
 * The playground's build: a static single page in web/dist that imports the library source (../src)
 * directly. Every asset is bundled (no CDN, no external request), so the page works offline once loaded.
 * The nested view and the generator are chunks loaded on first use; the web worker (src/worker.ts) is its
 * own bundle.
 */
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

const repo = fileURLToPath(new URL("..", import.meta.url));
const nestedCache = fileURLToPath(new URL("../src/nested/cache.ts", import.meta.url));
const cacheStub = fileURLToPath(new URL("./src/stubs/nested-cache.ts", import.meta.url));

/** The violation search's disk cache (node:fs) has no place in a browser: a memory-only stand-in replaces it. */
function browserStubs(): Plugin {
  return {
    name: "nvmx-browser-stubs",
    enforce: "pre",
    async resolveId(source, importer, options) {
      if (!importer || !/cache\.(js|ts)$/.test(source)) return null;
      const r = await this.resolve(source, importer, { ...options, skipSelf: true });
      return r && r.id === nestedCache ? cacheStub : null;
    },
  };
}

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  // Relative asset URLs: the page works from any path, from `nvmx serve` and from a file server alike.
  base: "./",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  plugins: [browserStubs()],
  worker: { format: "es", plugins: () => [browserStubs()] },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // No source maps in the shipped page.
    sourcemap: false,
    // The library (every check, the nested presets) is one large module graph; its size is reported in
    // docs/playground.md rather than warned about.
    chunkSizeWarningLimit: 1024,
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
