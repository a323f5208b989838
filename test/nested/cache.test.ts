/** The on-disk cache of the violation search for the nested model's corpora (src/nested/cache.ts). */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { decodeProfile } from "../../src/cpu/profile.js";
import { ViolationSearch } from "../../src/gen/violate.js";
import { cacheDir, loadSearchCache, saveSearchCache, searchCacheFile } from "../../src/nested/cache.js";

const KEYS = ["NVMX_NO_CACHE", "NVMX_CACHE_DIR", "XDG_CACHE_HOME"] as const;

describe("the nested model's search cache", () => {
  const saved: Partial<Record<(typeof KEYS)[number], string>> = {};
  let dir: string;
  beforeEach(() => {
    for (const k of KEYS) {
      saved[k] = process.env[k];
      delete process.env[k];
    }
    dir = mkdtempSync(join(tmpdir(), "nvmx-cache-test-"));
  });
  afterEach(() => {
    for (const k of KEYS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("lives in NVMX_CACHE_DIR, else $XDG_CACHE_HOME/nvmx, else ~/.cache/nvmx; NVMX_NO_CACHE turns it off", () => {
    expect(cacheDir()).toBe(join(homedir(), ".cache", "nvmx"));
    process.env["XDG_CACHE_HOME"] = "/x/cache";
    expect(cacheDir()).toBe("/x/cache/nvmx");
    process.env["NVMX_CACHE_DIR"] = dir;
    expect(cacheDir()).toBe(dir);
    process.env["NVMX_NO_CACHE"] = "1";
    expect(cacheDir()).toBeUndefined();
    expect(searchCacheFile(builtinProfile("skylake"))).toBeUndefined();
  });

  it("keeps one file per profile, named after it and keyed by its data", () => {
    process.env["NVMX_CACHE_DIR"] = dir;
    const skylake = searchCacheFile(builtinProfile("skylake"))!;
    expect(dirname(skylake)).toBe(dir);
    expect(basename(skylake)).toMatch(/^violations-skylake-[0-9a-f]{16}\.json$/);
    expect(searchCacheFile(builtinProfile("skylake"))).toBe(skylake);
    expect(searchCacheFile(builtinProfile("westmere"))).toMatch(/violations-westmere-[0-9a-f]{16}\.json$/);
    // the same name with other facts is another file; a name's unsafe characters become "_"
    const data = builtinProfile("skylake").data;
    const other = decodeProfile({ ...data, name: "my cpu@host/1" }, "test");
    const file = basename(searchCacheFile(other)!);
    expect(file).toMatch(/^violations-my_cpu_host_1-[0-9a-f]{16}\.json$/);
    const renamed = decodeProfile({ ...data, name: "skylake", description: "another description" }, "test");
    expect(searchCacheFile(renamed)).not.toBe(skylake);
  });

  it("saves a search's results and loads them into a fresh search; an unreadable file loads nothing", () => {
    process.env["NVMX_CACHE_DIR"] = join(dir, "a", "b");
    const caps = builtinProfile("skylake");
    const search = new ViolationSearch(caps);
    search.find("guest.cs.l-and-d");
    search.find("ctl.exec.proc3-reserved");
    saveSearchCache(search);
    const file = searchCacheFile(caps)!;
    expect(existsSync(file)).toBe(true);
    expect(existsSync(`${file}.tmp`)).toBe(false);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(search.exportResults());
    const fresh = new ViolationSearch(caps);
    expect(loadSearchCache(fresh)).toBe(2);
    expect(fresh.find("guest.cs.l-and-d").evals).toBe(0);
    writeFileSync(file, "{ not json");
    expect(loadSearchCache(new ViolationSearch(caps))).toBe(0);
  });

  it("is no error where it cannot be written, and does nothing when turned off", () => {
    const blocker = join(dir, "file");
    writeFileSync(blocker, "");
    process.env["NVMX_CACHE_DIR"] = join(blocker, "sub");
    const search = new ViolationSearch(builtinProfile("skylake"));
    search.find("guest.cs.l-and-d");
    expect(() => saveSearchCache(search)).not.toThrow();
    expect(loadSearchCache(new ViolationSearch(builtinProfile("skylake")))).toBe(0);
    process.env["NVMX_CACHE_DIR"] = dir;
    process.env["NVMX_NO_CACHE"] = "1";
    saveSearchCache(search);
    expect(loadSearchCache(new ViolationSearch(builtinProfile("skylake")))).toBe(0);
    delete process.env["NVMX_NO_CACHE"];
    expect(existsSync(searchCacheFile(builtinProfile("skylake"))!)).toBe(false);
  });
});
