/**
 * `nvmx gen --cpu NAME --count N [--seed S] [--valid | --violate ID | --violate-each] [--mode 64|32|pae|real|v86]`:
 * NDJSON `nvmx-entry/1` documents on stdout (issue 7). Valid states pass every check; `--violate ID` states fail
 * exactly ID; `--violate-each` writes N states for every check the profile lets fail alone and reports the
 * others on stderr. The violation search is cached on disk per profile and registry (NVMX_CACHE_DIR, default
 * ~/.cache/nvmx; NVMX_NO_CACHE=1 disables it).
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { availableParallelism, homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CHECKS, checkById } from "../checks/registry.js";
import { defaultProfile } from "../cpu/builtin.js";
import type { Caps } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import { InputError } from "../errors.js";
import { Rng } from "../gen/rng.js";
import { serializeGenerated } from "../gen/serialize.js";
import { generateValid, MODES, type Mode, modesFor, modeUnsupported } from "../gen/valid.js";
import { type CachedResult, SEARCH_VERSION, type ViolationSearch, violationSearch } from "../gen/violate.js";
import { resolveCpuOption } from "./check.js";
import type { Output } from "./output.js";

export const GEN_USAGE = `  nvmx gen --cpu NAME --count N [--seed S] [--valid | --violate ID | --violate-each] [--mode 64|32|pae|real|v86]
                                                  generate entry documents (NDJSON): valid, or failing exactly one check
`;

/**
 * `--jobs N`: a whole number from 1, at most the number of cores (os.availableParallelism()): more threads
 * than cores only cost memory (~16 MB each) and time.
 */
export function parseJobs(s: string, cores = availableParallelism()): number {
  const n = Number(s);
  if (!/^\s*\d+\s*$/.test(s) || n < 1)
    throw new InputError(`--jobs must be a whole number from 1, got ${JSON.stringify(s)}`, { file: "nvmx" });
  return Math.min(n, cores);
}

export function intOption(
  name: string,
  s: string | undefined,
  dflt: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (s === undefined) return dflt;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > max)
    throw new InputError(`--${name} must be an integer 0..${max}, got ${JSON.stringify(s)}`, {
      file: "nvmx",
    });
  return n;
}

/**
 * Progress on stderr: only for people watching a terminal (stderr a terminal, stdout redirected) during a
 * large run, from 200 ms on.
 */
class Progress {
  private readonly start = Date.now();
  private last = this.start;
  private drawn = false;
  constructor(
    private readonly total: number,
    private readonly enabled: boolean,
  ) {}
  tick(done: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 200 && done < this.total) return;
    this.last = now;
    const width = 30;
    const f = this.total ? done / this.total : 1;
    const bar = "#".repeat(Math.round(f * width)).padEnd(width, ".");
    const rate = Math.round(done / Math.max(0.001, (now - this.start) / 1000));
    process.stderr.write(`\r[${bar}] ${(f * 100).toFixed(0).padStart(3)}% ${done}/${this.total} ${rate}/s `);
    this.drawn = true;
  }
  end(): void {
    if (this.drawn) process.stderr.write("\n");
  }
}

function progressWanted(total: number): boolean {
  return !process.stdout.isTTY && process.stderr.isTTY === true && total >= 10000;
}

function docLine(e: Entry, comment?: string): string {
  const doc = serializeGenerated(e);
  return JSON.stringify(comment ? { ...doc, comment } : doc);
}

// ---- disk cache of the violation search

function cacheFile(caps: Caps): string | undefined {
  if (process.env["NVMX_NO_CACHE"]) return undefined;
  const dir = process.env["NVMX_CACHE_DIR"] ?? join(homedir(), ".cache", "nvmx");
  const h = createHash("sha256");
  h.update(`v${SEARCH_VERSION}\n`);
  h.update(JSON.stringify(caps.data));
  for (const c of CHECKS) h.update(`${c.id}\n${String(c.when)}\n${String(c.fail)}\n${c.fields.join(",")}\n`);
  return join(
    dir,
    `violations-${caps.name.replace(/[^a-z0-9_-]/gi, "_")}-${h.digest("hex").slice(0, 16)}.json`,
  );
}

function loadCache(s: ViolationSearch): void {
  const f = cacheFile(s.caps);
  if (!f) return;
  try {
    s.importResults(JSON.parse(readFileSync(f, "utf8")) as CachedResult[]);
  } catch {
    // no cache yet, or unreadable: search afresh
  }
}

function saveCache(s: ViolationSearch): void {
  const f = cacheFile(s.caps);
  if (!f) return;
  try {
    mkdirSync(join(f, ".."), { recursive: true });
    writeFileSync(`${f}.tmp`, JSON.stringify(s.exportResults()));
    renameSync(`${f}.tmp`, f);
  } catch {
    // a read-only home is not an error
  }
}

// ---- the command

export async function genCommand(argv: string[], out: Output): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      cpu: { type: "string" },
      count: { type: "string" },
      seed: { type: "string" },
      valid: { type: "boolean", default: false },
      violate: { type: "string" },
      "violate-each": { type: "boolean", default: false },
      mode: { type: "string" },
    },
  });
  const caps = values.cpu !== undefined ? resolveCpuOption(values.cpu) : defaultProfile();
  const each = values["violate-each"] ?? false;
  const kinds = [values.valid, values.violate !== undefined, each].filter(Boolean).length;
  if (kinds > 1)
    throw new InputError("use only one of --valid, --violate ID, --violate-each", { file: "nvmx" });
  const count = intOption("count", values.count, each ? 1 : 1);
  const seed = intOption("seed", values.seed, 1, 0xffffffff);
  let mode: Mode | undefined;
  if (values.mode !== undefined) {
    if (!(MODES as readonly string[]).includes(values.mode))
      throw new InputError(`--mode must be one of ${MODES.join(", ")}, got ${JSON.stringify(values.mode)}`, {
        file: "nvmx",
      });
    mode = values.mode as Mode;
    const why = modeUnsupported(caps, mode);
    if (why) throw new InputError(why, { file: "--mode" });
  }
  const modes = mode ? [mode] : modesFor(caps);
  const valid = (i: number): Entry =>
    generateValid(caps, Rng.derive(seed, i), { mode: modes[i % modes.length]! }).entry;

  if (values.violate === undefined && !each) {
    const progress = new Progress(count, progressWanted(count));
    for (let i = 0; i < count; i++) {
      const p = out.line(docLine(valid(i)));
      if (p) await p;
      progress.tick(i + 1);
    }
    progress.end();
    return 0;
  }

  const search = violationSearch(caps);
  loadCache(search);
  const ids = each ? CHECKS.map((c) => c.id) : [values.violate!];
  for (const id of ids)
    if (!checkById(id))
      throw new InputError(`no check with id "${id}" (see docs/checks.md)`, { file: "--violate" });
  const progress = new Progress(count * ids.length, progressWanted(count * ids.length));
  let written = 0;
  let index = 0;
  let alone = 0;
  let na = 0;
  let notAlone = 0;
  for (const id of ids) {
    const r = search.find(id);
    if (r.status !== "violated") {
      if (r.status === "not-applicable") na++;
      else notAlone++;
      process.stderr.write(
        `nvmx: ${id}: ${r.status === "not-applicable" ? "not applicable" : "cannot be violated alone"} on ${caps.name}: ${r.reason ?? ""}\n`,
      );
      continue;
    }
    alone++;
    for (let k = 0; k < count; k++) {
      const e = search.violate(id, valid(index++));
      if (!e) break;
      const p = out.line(docLine(e, `violates ${id}`));
      if (p) await p;
      progress.tick(++written);
    }
  }
  progress.end();
  saveCache(search);
  if (each)
    process.stderr.write(
      `nvmx: ${caps.name}: ${alone} of ${alone + notAlone} applicable checks violated alone (${na} not applicable, ${notAlone} only together with others; ${ids.length} checks)\n`,
    );
  return alone === 0 && !each ? 2 : 0;
}
