/**
 * The browser's stand-in for src/nested/cache.ts (the on-disk cache of the violation search, which needs
 * node:fs): in the page the search's results live in the web worker's memory for as long as the page is open.
 * web/vite.config.ts puts this module in place of the real one.
 */
import type { ViolationSearch } from "../../../src/gen/violate.js";

export function cacheDir(): string | undefined {
  return undefined;
}

export function searchCacheFile(): string | undefined {
  return undefined;
}

export function loadSearchCache(_s: ViolationSearch): number {
  return 0;
}

export function saveSearchCache(_s: ViolationSearch): void {}
