/**
 * `nvmx check --jobs N`: N threads check documents — the main thread and N - 1 workers (node:worker_threads).
 * The main thread reads the inputs in pieces of whole lines (src/cli/input.ts), copies them into large
 * shared buffers (one message per ~500 documents, so message passing costs little) and numbers them; a
 * worker checks a piece exactly as the single-threaded path does (src/cli/batch.ts) and answers with the text
 * to print, which the main thread writes in input order. The main thread checks a piece itself when every
 * worker already has QUEUE pieces waiting: with --jobs 2 on two cores that is one worker and the main
 * thread, rather than two workers and a mostly idle main thread competing for the cores (and a third heap
 * and JIT warm-up, ~0.3 s of CPU). At most 4·N pieces are in flight or waiting to be written, so memory stays
 * bounded whatever the input size; when the input pauses, what is read goes out within a millisecond, so a
 * client that writes one document and waits for its answer gets it.
 *
 * This module is also the worker's entry point: loaded in a worker thread with `workerData.nvmxCheckWorker`,
 * it answers pieces instead of exporting anything useful.
 */
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { builtinProfile } from "../cpu/builtin.js";
import { type Caps, decodeProfile, type ProfileData } from "../cpu/profile.js";
import { BatchChecker, type BatchText, printBatch } from "./batch.js";
import type { Judged } from "./command.js";
import { type Piece, readPieces } from "./input.js";
import type { Output } from "./output.js";

interface Job {
  seq: number;
  /** the input's name as reported */
  file: string;
  /** a document, a read error, or lines (their bytes travel in `buffer`) */
  piece: Piece;
  /**
   * Lines: bytes [0, length) hold them. Shared memory, reused once the piece is answered: no copy, no
   * allocation, and no detached ArrayBuffer (transferring one would make V8 check for detachment on every
   * typed-array access from then on: the byte scanner measured ~30% slower).
   */
  buffer?: SharedArrayBuffer;
  length?: number;
}

interface JobResult {
  seq: number;
  text: BatchText;
}

interface WorkerConfig {
  nvmxCheckWorker: true;
  json: boolean;
  /** `--cpu` override: a built-in name or inline profile data */
  cpu?: { name?: string; data?: ProfileData };
}

/**
 * Lines go out in buffers of this size once half full, or when the input pauses. A read of a regular file
 * (1 MiB, src/cli/input.ts) fits whole, with the line it completes.
 */
const SLAB = 1 << 21;
const PIECE_BYTES = SLAB >> 1;
/** Pieces queued per worker before the main thread checks one itself. */
const QUEUE = 2;
/** Pieces in flight or waiting to be written, per thread. */
const IN_FLIGHT = 4;

function cpuOf(cfg: WorkerConfig["cpu"]): Caps | undefined {
  if (!cfg) return undefined;
  if (cfg.data) return decodeProfile(cfg.data, "cpu");
  if (cfg.name) return builtinProfile(cfg.name);
  return undefined;
}

if (!isMainThread && (workerData as WorkerConfig | undefined)?.nvmxCheckWorker && parentPort) {
  const cfg = workerData as WorkerConfig;
  const checker = new BatchChecker({ json: cfg.json, cpu: cpuOf(cfg.cpu) });
  const port = parentPort;
  port.on("message", (job: Job) => {
    const { buffer, length } = job;
    let text: BatchText;
    try {
      const p = job.piece;
      const piece: Piece = p.kind === "lines" && buffer ? { ...p, bytes: Buffer.from(buffer, 0, length) } : p;
      text = checker.piece(job.file, piece);
    } catch (e) {
      text = { parts: ["", `nvmx: internal error: ${String(e)}\n`], bad: 1, failed: 0 };
    }
    port.postMessage({ seq: job.seq, text } satisfies JobResult);
  });
}

export interface ParallelOptions {
  json: boolean;
  cpu?: Caps;
  jobs: number;
}

function workerConfig(opts: ParallelOptions): WorkerConfig {
  const cfg: WorkerConfig = { nvmxCheckWorker: true, json: opts.json };
  if (opts.cpu) {
    let builtin = false;
    try {
      builtin = builtinProfile(opts.cpu.name) === opts.cpu;
    } catch {}
    cfg.cpu = builtin ? { name: opts.cpu.name } : { data: opts.cpu.data };
  }
  return cfg;
}

/** Lines read but not sent yet: consecutive pieces of one input, copied into one buffer. */
interface Pending {
  file: string;
  firstLine: number;
  buffer: SharedArrayBuffer;
  size: number;
}

const EMPTY = Buffer.alloc(0);

/** The pieces of the inputs, checked on the workers and the main thread, their output written in order. */
class Pool {
  private readonly workers: Worker[];
  private readonly outstanding: number[];
  private readonly local: BatchChecker;
  private readonly done = new Map<number, BatchText>();
  /** Buffers of answered pieces, for the next ones (no allocation, no page faults, once warm). */
  private readonly free: SharedArrayBuffer[] = [];
  /** The buffer of each piece a worker holds, by sequence number. */
  private readonly held = new Map<number, SharedArrayBuffer>();
  private pending: Pending | undefined;
  private nextSeq = 0;
  private nextWrite = 0;
  private failure: unknown;
  private wake: (() => void) | undefined;
  private writing = false;
  private idleTimer: NodeJS.Timeout | undefined;
  readonly judged: Judged = { bad: 0, failed: 0 };

  constructor(
    private readonly opts: ParallelOptions,
    private readonly out: Output,
  ) {
    const cfg = workerConfig(opts);
    this.workers = Array.from(
      { length: opts.jobs - 1 },
      () => new Worker(new URL(import.meta.url), { workerData: cfg }),
    );
    this.outstanding = this.workers.map(() => 0);
    this.local = new BatchChecker(opts);
    this.workers.forEach((w, i) => {
      w.on("message", (r: JobResult) => this.finished(i, r));
      w.on("error", (e) => {
        this.failure = e;
        this.notify();
      });
    });
  }

  /** Take the next piece of input `file`; its bytes are valid only during the call. */
  async take(file: string, piece: Piece): Promise<void> {
    await this.drainTo(IN_FLIGHT * this.opts.jobs);
    // Workers' answers arrive as events, which a reader that never waits (a regular file) would not let in:
    // before the main thread takes a piece for itself, let them in, or it takes nearly every piece.
    if (!this.outstanding.some((n) => n < QUEUE)) await new Promise((resolve) => setImmediate(resolve));
    if (piece.kind === "lines") {
      this.append(file, piece.bytes, piece.firstLine);
      if (this.pending!.size >= PIECE_BYTES) this.sendPending();
    } else {
      this.sendPending();
      if (piece.kind === "doc") this.dispatch({ file, piece });
      else this.done.set(this.nextSeq++, this.local.piece(file, piece));
    }
    await this.flush();
  }

  /** All input taken: wait for the last pieces and write them. */
  async finish(): Promise<void> {
    this.sendPending();
    await this.drainTo(1);
  }

  close(): Promise<unknown> {
    clearTimeout(this.idleTimer);
    return Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** To the worker with the fewest pieces waiting, or checked here when every worker has QUEUE. */
  private dispatch(job: Omit<Job, "seq">): void {
    const seq = this.nextSeq++;
    const o = this.outstanding;
    let k = 0;
    for (let i = 1; i < o.length; i++) if (o[i]! < o[k]!) k = i;
    if (o[k]! < QUEUE) {
      o[k]!++;
      if (job.buffer) this.held.set(seq, job.buffer);
      this.workers[k]!.postMessage({ seq, ...job } satisfies Job);
      return;
    }
    const { buffer, length, piece } = job;
    const bytes = buffer ? Buffer.from(buffer, 0, length) : EMPTY;
    this.done.set(seq, this.local.piece(job.file, piece.kind === "lines" ? { ...piece, bytes } : piece));
    this.recycle(buffer);
  }

  private finished(i: number, r: JobResult): void {
    this.outstanding[i]!--;
    this.recycle(this.held.get(r.seq));
    this.held.delete(r.seq);
    this.done.set(r.seq, r.text);
    this.flushNow();
  }

  /** Write what is done now, not when the next input arrives: a client may be waiting for this answer. */
  private flushNow(): void {
    this.flush().then(
      () => this.notify(),
      (e: unknown) => {
        this.failure = e;
        this.notify();
      },
    );
  }

  private recycle(buffer: SharedArrayBuffer | undefined): void {
    if (buffer?.byteLength === SLAB) this.free.push(buffer);
  }

  /**
   * The input has nothing more for now. Send the lines taken so far if nothing arrives within a
   * millisecond: a client that waits for its answer gets it at once, and a fast writer, whose pipe runs
   * empty between two of its writes, still fills large pieces.
   */
  idle(): void {
    this.idleTimer ??= setTimeout(() => {
      this.idleTimer = undefined;
      this.sendPending();
      this.flushNow(); // if it was checked here
    }, 1);
  }

  private sendPending(): void {
    if (!this.pending) return;
    const { file, firstLine, buffer, size } = this.pending;
    this.pending = undefined;
    this.dispatch({ file, piece: { kind: "lines", bytes: EMPTY, firstLine }, buffer, length: size });
  }

  /** Append lines to the pending piece (a copy: the piece's bytes are only valid until the next is read). */
  private append(file: string, bytes: Buffer, firstLine: number): void {
    const p = this.pending;
    if (p && (p.file !== file || p.size + bytes.length > p.buffer.byteLength)) this.sendPending();
    if (!this.pending) {
      const buffer =
        bytes.length <= SLAB
          ? (this.free.pop() ?? new SharedArrayBuffer(SLAB))
          : new SharedArrayBuffer(bytes.length);
      this.pending = { file, firstLine, buffer, size: 0 };
    }
    new Uint8Array(this.pending.buffer).set(bytes, this.pending.size);
    this.pending.size += bytes.length;
  }

  /**
   * Write finished pieces in order (with backpressure). One writer at a time: a call while another writes
   * returns at once, as the running writer takes up pieces that finish meanwhile.
   */
  private async flush(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      for (let r = this.done.get(this.nextWrite); r; r = this.done.get(this.nextWrite)) {
        this.done.delete(this.nextWrite++);
        await printBatch(r, this.out, this.judged);
      }
    } finally {
      this.writing = false;
    }
  }

  /** Wait until fewer than `limit` pieces are in flight or unwritten. */
  private async drainTo(limit: number): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure;
      await this.flush();
      if (this.nextSeq - this.nextWrite < limit) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

/**
 * Check files with `jobs` threads checking (the main thread and jobs - 1 workers); output in input order.
 * Returns how the inputs went.
 */
export async function checkFilesParallel(
  files: string[],
  opts: ParallelOptions,
  out: Output,
): Promise<Judged> {
  // At most the core count (jobsValue in src/cli/check.ts caps --jobs).
  const pool = new Pool({ ...opts, jobs: Math.max(2, opts.jobs) }, out);
  try {
    for (const file of files) {
      const name = file === "-" ? "<stdin>" : file;
      const read = { beforeWait: () => pool.idle() };
      for await (const piece of readPieces(file, read)) await pool.take(name, piece);
    }
    await pool.finish();
  } finally {
    await pool.close();
  }
  return pool.judged;
}
