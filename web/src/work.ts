/**
 * The page's background work (web/src/worker.ts): generation, the violation search, repair and the nested
 * compare run in a web worker, so the page never freezes while they run (a cold violation search takes
 * seconds per rule). This module is the page's side: the messages, and a client that sends one job at a
 * time, passes progress on, and can cancel a job (the worker is stopped and a fresh one started; the search
 * results the old one had cached are lost).
 */
import type { Change } from "../../src/gen/repair.js";
import type { FeatureLevel, Mode } from "../../src/gen/valid.js";
import type { CompareRow } from "../../src/nested/compare.js";
import type { EntryDocument } from "./model.js";

/** Corpus of a compare: the bundled one, or one the worker generates (bounded, see GENERATED_LIMITS). */
export type CorpusChoice =
  | { kind: "bundled" }
  | {
      kind: "generated";
      host: string;
      valid: number;
      classes: readonly ("control" | "host" | "guest" | "msr-load")[];
    };

/** Bounds of a generated corpus: valid states (and at most one state per rule of the chosen classes). */
export const GENERATED_LIMITS = { maxValid: 200 } as const;

export type Job =
  /** a valid state on the document's CPU (only `cpu` of `doc` is read) */
  | { kind: "valid"; doc: EntryDocument; mode?: Mode; features: FeatureLevel; seed: number }
  /** a state failing exactly `rule`: from `doc` when it passes every check, else from a valid state (seed) */
  | { kind: "violate"; doc: EntryDocument; rule: string; seed: number }
  /** the fewest changes that make `doc` pass (or fail exactly `violate`) */
  | { kind: "repair"; doc: EntryDocument; violate?: string; seed: number }
  /** every configuration of `kernel` over a corpus */
  | { kind: "compare"; kernel: string; corpus: CorpusChoice };

export interface Progress {
  /** what is running, in words */
  label: string;
  done?: number;
  total?: number;
}

/** A state the worker made, with how it differs from where it started. */
export interface Made {
  doc: EntryDocument;
  /** the changes from the starting state (violate, repair) */
  changes: Change[];
  /** check ids failing on the result */
  failing: string[];
  /** what the state is, in one sentence */
  summary: string;
  /** where it started from, in words (violate) */
  start?: string;
  ok: boolean;
}

export interface Compared {
  kernel: string;
  host: string;
  l1: string;
  states: number;
  valid: number;
  /** rules that cannot be violated alone on L1's profile (not in the corpus) */
  notViolable: number;
  corpus: string;
  rows: CompareRow[];
}

export type JobResult<J extends Job> = J extends { kind: "compare" } ? Compared : Made;

export type FromWorker =
  | { id: number; type: "progress"; progress: Progress }
  | { id: number; type: "done"; result: Made | Compared }
  | { id: number; type: "error"; message: string };

export type ToWorker = { id: number; job: Job };

/** One job at a time; a new job or `cancel()` stops the one running. */
export class WorkClient {
  private worker: Worker | undefined;
  private seq = 0;
  private pending:
    | {
        id: number;
        resolve: (r: Made | Compared) => void;
        reject: (e: Error) => void;
        onProgress: (p: Progress) => void;
      }
    | undefined;

  private start(): Worker {
    const w = new Worker(new URL("./worker.ts", import.meta.url), { type: "module", name: "nvmx-work" });
    w.onmessage = (e: MessageEvent<FromWorker>) => {
      const m = e.data;
      const p = this.pending;
      if (!p || p.id !== m.id) return;
      if (m.type === "progress") p.onProgress(m.progress);
      else {
        this.pending = undefined;
        if (m.type === "done") p.resolve(m.result);
        else p.reject(new Error(m.message));
      }
    };
    w.onerror = (e) => {
      e.preventDefault();
      const p = this.pending;
      this.pending = undefined;
      this.worker?.terminate();
      this.worker = undefined;
      p?.reject(new Error(e.message || "the background worker stopped"));
    };
    return w;
  }

  run<J extends Job>(job: J, onProgress: (p: Progress) => void): Promise<JobResult<J>> {
    if (this.pending) this.cancel();
    this.worker ??= this.start();
    const id = ++this.seq;
    return new Promise<JobResult<J>>((resolve, reject) => {
      this.pending = { id, resolve: resolve as (r: Made | Compared) => void, reject, onProgress };
      this.worker!.postMessage({ id, job } satisfies ToWorker);
    });
  }

  get busy(): boolean {
    return this.pending !== undefined;
  }

  /** Stop the running job (its promise rejects with "cancelled"). */
  cancel(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    this.worker?.terminate();
    this.worker = undefined;
    p.reject(new Error("cancelled"));
  }
}

/** The one client of the page. */
export const work = new WorkClient();
