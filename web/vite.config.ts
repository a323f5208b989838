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
  },
  // The dev server (npx vite web) reads the library source and the examples from the repository.
  server: { host: "127.0.0.1", fs: { allow: [repo] } },
});
