/**
 * On-disk cache of the violation search (src/gen/violate.ts) for the nested model's corpora: one file per
 * profile, keyed by the profile's data, the search version and the registry's predicates, so a change to
 * any of them starts afresh. Directory: $NVMX_CACHE_DIR, else $XDG_CACHE_HOME/nvmx, else ~/.cache/nvmx;
 * NVMX_NO_CACHE=1 turns it off. A cache that cannot be read or written is not an error.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { CHECKS } from "../checks/registry.js";
import type { Caps } from "../cpu/profile.js";
import { type CachedResult, SEARCH_VERSION, type ViolationSearch } from "../gen/violate.js";

let registryHash: string | undefined;
function registryKey(): string {
  if (!registryHash) {
    const h = createHash("sha256");
    for (const c of CHECKS)
      h.update(`${c.id}\n${String(c.when)}\n${String(c.fail)}\n${c.fields.join(",")}\n`);
    registryHash = h.digest("hex");
  }
  return registryHash;
}

/** The cache directory, or undefined when caching is off. */
export function cacheDir(): string | undefined {
  if (process.env["NVMX_NO_CACHE"]) return undefined;
  if (process.env["NVMX_CACHE_DIR"]) return process.env["NVMX_CACHE_DIR"];
  const xdg = process.env["XDG_CACHE_HOME"];
  return join(xdg || join(homedir(), ".cache"), "nvmx");
}

/** The cache file of a profile's violation search. */
export function searchCacheFile(caps: Caps): string | undefined {
  const dir = cacheDir();
  if (!dir) return undefined;
  const h = createHash("sha256");
  h.update(`v${SEARCH_VERSION}\n${registryKey()}\n`);
  h.update(JSON.stringify(caps.data));
  return join(
    dir,
    `violations-${caps.name.replace(/[^a-z0-9_.-]/gi, "_")}-${h.digest("hex").slice(0, 16)}.json`,
  );
}

/** Load cached results into a search; returns how many were accepted. */
export function loadSearchCache(s: ViolationSearch): number {
  const f = searchCacheFile(s.caps);
  if (!f) return 0;
  try {
    return s.importResults(JSON.parse(readFileSync(f, "utf8")) as CachedResult[]);
  } catch {
    return 0;
  }
}

/** Save a search's results (atomically). */
export function saveSearchCache(s: ViolationSearch): void {
  const f = searchCacheFile(s.caps);
  if (!f) return;
  try {
    mkdirSync(join(f, ".."), { recursive: true });
    writeFileSync(`${f}.tmp`, JSON.stringify(s.exportResults()));
    renameSync(`${f}.tmp`, f);
  } catch {
    // a read-only cache directory is not an error
  }
}
