/**
 * A probe run on Bochs, end to end: prepare the states, build the image(s) (at most BLOB_MAX bytes of states
 * each), run Bochs, apply the refusals the log reports, compare with nvmx.
 */
import { builtinNames, builtinProfile } from "../cpu/builtin.js";
import type { Caps } from "../cpu/profile.js";
import { OUT } from "./blob.js";
import { BOCHS_RAM, type BochsRun, runBochs } from "./bochs.js";
import { agreementTable, type Compared, compareAll } from "./compare.js";
import { coreHeader, type ProbeHost } from "./core.js";
import { BOCHS_DEVIATIONS } from "./deviations.js";
import { emptyLog, type ProbeLog } from "./log.js";
import type { PreparedState } from "./prepare.js";
import { applyLog, buildRun, type InputState, prepareAll } from "./states.js";

/** The built-in profile made by `nvmx probe caps` for a Bochs CPU model, if there is one. */
export const BOCHS_PROFILES: Readonly<Record<string, string>> = {
  corei7_skylake_x: "bochs-2.7-skylake-x",
  tigerlake: "bochs-2.7-tigerlake",
};

export function bochsProfile(model: string): Caps | undefined {
  const name = BOCHS_PROFILES[model];
  return name && builtinNames().includes(name) ? builtinProfile(name) : undefined;
}

export interface ProbeRunOptions {
  model: string;
  cpus?: number;
  stateTimeoutMs?: number;
  keepDir?: string;
  onState?: (n: number) => void;
  /** Bochs deviations to step around (src/probe/prepare.ts PrepareOptions.dodge). */
  dodge?: readonly string[];
}

export interface ProbeRunResult {
  host: ProbeHost;
  prepared: PreparedState[];
  log: ProbeLog;
  compared: Compared[];
  table: ReturnType<typeof agreementTable>;
  runs: BochsRun[];
  /** Per-state probe text of every run, in order (the log as the CPU printed it). */
  text: string;
}

/** Split records so that each image's blob stays within the probe's limit (approximate: 4 KiB per record). */
function chunks<T>(xs: readonly T[], bytesPer: (x: T) => number, max: number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let size = 0;
  for (const x of xs) {
    const b = bytesPer(x);
    if (cur.length && size + b > max) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(x);
    size += b;
  }
  if (cur.length) out.push(cur);
  return out;
}

export async function runOnBochs(
  states: readonly InputState[],
  opts: ProbeRunOptions,
): Promise<ProbeRunResult> {
  const host = coreHeader();
  const prepared = prepareAll(states, host, opts.dodge ? { dodge: opts.dodge } : {});
  const runnable = prepared.filter((p) => !p.skip);
  const log = emptyLog();
  const runs: BochsRun[] = [];
  let text = "";
  // records are at most ~3 KiB (every field 8 bytes, memory words 16): keep a margin below the blob limit
  for (const part of chunks(runnable, (p) => 2048 + 16 * p.final.memory.size, host.blobMax - 0x10000)) {
    const built = buildRun(part, OUT.e9 | OUT.bochsShutdown, host);
    const run = await runBochs(built.image, built.records, {
      model: opts.model,
      ...(opts.cpus !== undefined ? { cpus: opts.cpus } : {}),
      ...(opts.stateTimeoutMs !== undefined ? { stateTimeoutMs: opts.stateTimeoutMs } : {}),
      ...(opts.keepDir !== undefined ? { keepDir: opts.keepDir } : {}),
      ...(opts.onState ? { onState: opts.onState } : {}),
    });
    runs.push(run);
    text += run.text;
    mergeLog(log, run.log);
    if (run.log.novmx) break;
  }
  applyLog(prepared, log, BOCHS_RAM);
  const compared = compareAll(prepared, log, BOCHS_DEVIATIONS);
  return { host, prepared, log, compared, table: agreementTable(compared), runs, text };
}

/** Boot the probe with no states: the CPU's capability report (for `nvmx probe caps --bochs`). */
export async function capsOnBochs(model: string, keepDir?: string): Promise<BochsRun> {
  const host = coreHeader();
  const built = buildRun([], OUT.e9 | OUT.bochsShutdown, host);
  return runBochs(built.image, built.records, { model, cpus: 1, ...(keepDir ? { keepDir } : {}) });
}

function mergeLog(into: ProbeLog, from: ProbeLog): void {
  if (from.boot) into.boot = from.boot;
  for (const [k, v] of from.cpuid) into.cpuid.set(k, v);
  for (const [k, v] of from.msrs) into.msrs.set(k, v);
  if (from.novmx) into.novmx = from.novmx;
  if (from.host) into.host = from.host;
  for (const f of from.nofield) into.nofield.add(f);
  if (from.helper !== undefined) into.helper = from.helper;
  into.count = (into.count ?? 0) + (from.count ?? 0);
  for (const [k, v] of from.states) into.states.set(k, v);
  if (from.done !== undefined) into.done = (into.done ?? 0) + from.done;
}
