/**
 * `nvmx check --jobs N`: checks documents on N worker threads (node:worker_threads). The main thread reads
 * the inputs line by line, sends batches with sequence numbers, and writes each batch's output in input order
 * (one output line per input document, an error line in place of a bad one). At most 2·N batches are in
 * flight or waiting to be written, so memory stays bounded whatever the input size.
 *
 * This module is also the worker's entry point: loaded in a worker thread with `workerData.nvmxCheckWorker`,
 * it answers batches instead of exporting anything useful.
 */
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { builtinProfile } from "../cpu/builtin.js";
import { type Caps, decodeProfile, type ProfileData } from "../cpu/profile.js";
import { parseEntryText } from "../entry/document.js";
import { runEntry } from "../entry/run.js";
import { InputError } from "../errors.js";
import { humanReport } from "../report.js";
import { readDocuments } from "./input.js";
import { Output } from "./output.js";

type Item = { text: string; line?: number } | { readError: string };

interface Batch {
  seq: number;
  file: string;
  items: Item[];
}

interface BatchResult {
  seq: number;
  /** text for stdout (lines joined, no trailing newline; empty when nothing) */
  out: string;
  /** text for stderr */
  err: string;
  bad: number;
}

interface WorkerConfig {
  nvmxCheckWorker: true;
  json: boolean;
  /** `--cpu` override: a built-in name or inline profile data */
  cpu?: { name?: string; data?: ProfileData };
}

const BATCH = 256;

/** Check one batch (in a worker, or inline for tests). Output text is exactly what check.ts would print. */
export async function runBatch(b: Batch, json: boolean, cpu: Caps | undefined): Promise<BatchResult> {
  const outLines: string[] = [];
  const errLines: string[] = [];
  const sink = (arr: string[]) =>
    ({
      write(s: string) {
        arr.push(s);
        return true;
      },
    }) as unknown as NodeJS.WritableStream;
  const out = new Output(sink(outLines), sink(errLines));
  let bad = 0;
  for (const item of b.items) {
    if ("readError" in item) {
      bad++;
      await out.error(new InputError(`cannot read: ${item.readError}`, { file: b.file }), json);
      continue;
    }
    try {
      const entry = parseEntryText(item.text, cpu ? { cpu } : {});
      const result = runEntry(entry);
      if (json) await out.line(JSON.stringify(result));
      else await out.line(`${humanReport(b.file, entry, result, item.line)}\n`);
    } catch (e) {
      bad++;
      if (e instanceof InputError) await out.error(e.withFile(b.file, item.line), json);
      else
        await out.error(
          new InputError(`internal error: ${e instanceof Error ? e.message : String(e)}`, {
            file: b.file,
            ...(item.line !== undefined ? { line: item.line } : {}),
          }),
          json,
        );
    }
  }
  const join = (a: string[]) => {
    const s = a.join("");
    return s.endsWith("\n") ? s.slice(0, -1) : s;
  };
  return { seq: b.seq, out: join(outLines), err: errLines.join(""), bad };
}

function cpuOf(cfg: WorkerConfig["cpu"]): Caps | undefined {
  if (!cfg) return undefined;
  if (cfg.data) return decodeProfile(cfg.data, "cpu");
  if (cfg.name) return builtinProfile(cfg.name);
  return undefined;
}

if (!isMainThread && (workerData as WorkerConfig | undefined)?.nvmxCheckWorker && parentPort) {
  const cfg = workerData as WorkerConfig;
  const cpu = cpuOf(cfg.cpu);
  const port = parentPort;
  port.on("message", (b: Batch) => {
    runBatch(b, cfg.json, cpu).then(
      (r) => port.postMessage(r),
      (e: unknown) =>
        port.postMessage({
          seq: b.seq,
          out: "",
          err: `nvmx: internal error: ${String(e)}\n`,
          bad: b.items.length,
        }),
    );
  });
}

export interface ParallelOptions {
  json: boolean;
  cpu?: Caps;
  jobs: number;
}

/** Check files on `jobs` worker threads; output in input order. Returns the number of bad inputs. */
export async function checkFilesParallel(
  files: string[],
  opts: ParallelOptions,
  out: Output,
): Promise<number> {
  const jobs = Math.max(1, Math.min(opts.jobs, 64));
  const cfg: WorkerConfig = { nvmxCheckWorker: true, json: opts.json };
  if (opts.cpu) {
    const builtin = (() => {
      try {
        return builtinProfile(opts.cpu.name) === opts.cpu;
      } catch {
        return false;
      }
    })();
    cfg.cpu = builtin ? { name: opts.cpu.name } : { data: opts.cpu.data };
  }
  const workers = Array.from(
    { length: jobs },
    () => new Worker(new URL(import.meta.url), { workerData: cfg }),
  );
  const outstanding = new Array<number>(jobs).fill(0);
  const done = new Map<number, BatchResult>();
  let nextSeq = 0;
  let nextWrite = 0;
  let bad = 0;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  workers.forEach((w, i) => {
    w.on("message", (r: BatchResult) => {
      outstanding[i]!--;
      done.set(r.seq, r);
      notify();
    });
    w.on("error", (e) => {
      failure = e;
      notify();
    });
  });

  /** Write finished batches in order (with backpressure). */
  const flush = async () => {
    for (let r = done.get(nextWrite); r; r = done.get(nextWrite)) {
      done.delete(nextWrite);
      nextWrite++;
      bad += r.bad;
      if (r.err) process.stderr.write(r.err);
      if (r.out) await out.line(r.out);
    }
  };
  const waitForProgress = () => new Promise<void>((resolve) => (wake = resolve));
  const maxInFlight = 2 * jobs;

  const dispatch = async (file: string, items: Item[]) => {
    while (nextSeq - nextWrite >= maxInFlight) {
      if (failure) throw failure;
      await flush();
      if (nextSeq - nextWrite >= maxInFlight) await waitForProgress();
    }
    let k = 0;
    for (let i = 1; i < jobs; i++) if (outstanding[i]! < outstanding[k]!) k = i;
    outstanding[k]!++;
    workers[k]!.postMessage({ seq: nextSeq++, file, items } satisfies Batch);
    await flush();
  };

  try {
    for (const file of files) {
      const name = file === "-" ? "<stdin>" : file;
      let batch: Item[] = [];
      for await (const item of readDocuments(file)) {
        batch.push(item);
        if (batch.length >= BATCH) {
          await dispatch(name, batch);
          batch = [];
        }
      }
      if (batch.length) await dispatch(name, batch);
    }
    while (nextWrite < nextSeq) {
      if (failure) throw failure;
      await flush();
      if (nextWrite < nextSeq) await waitForProgress();
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return bad;
}
