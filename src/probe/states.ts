/**
 * From entry documents to a runnable image and back: read the states (keeping their "violates ID" comments),
 * prepare them (src/probe/prepare.ts), encode the blob, and after a run apply the refusals the log reports.
 */

import { readDocuments } from "../cli/input.js";
import type { Caps } from "../cpu/profile.js";
import { type Entry, parseEntry } from "../entry/document.js";
import { InputError } from "../errors.js";
import { serializeGenerated } from "../gen/serialize.js";
import { type BlobRecord, encodeBlob, FIELD_TABLE } from "./blob.js";
import type { ProbeHost } from "./core.js";
import { buildImage, type DiskImage } from "./image.js";
import type { ProbeLog } from "./log.js";
import {
  applyRefusals,
  applyUnbacked,
  type PreparedState,
  type PrepareOptions,
  prepareState,
  recordMemory,
  recordValues,
} from "./prepare.js";

export interface InputState {
  entry: Entry;
  where: string;
  comment?: string;
}

/** Read entry documents (JSON or NDJSON); bad documents are returned as errors, the others go on. */
export async function readStates(
  files: readonly string[],
  cpu?: Caps,
): Promise<{ states: InputState[]; errors: InputError[] }> {
  const states: InputState[] = [];
  const errors: InputError[] = [];
  for (const file of files) {
    const name = file === "-" ? "<stdin>" : file;
    for await (const item of readDocuments(file)) {
      if ("error" in item) {
        errors.push(
          new InputError(item.error, { file: name, ...(item.line !== undefined ? { line: item.line } : {}) }),
        );
        continue;
      }
      const where = item.line !== undefined ? `${name}:${item.line}` : name;
      try {
        let doc: unknown;
        try {
          doc = JSON.parse(item.text);
        } catch (e) {
          throw new InputError(`not valid JSON: ${(e as Error).message}`);
        }
        const entry = parseEntry(doc, cpu ? { cpu } : {});
        const comment = (doc as { comment?: unknown }).comment;
        states.push({ entry, where, ...(typeof comment === "string" ? { comment } : {}) });
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        errors.push(e.withFile(name, item.line));
      }
    }
  }
  return { states, errors };
}

export function prepareAll(
  states: readonly InputState[],
  host: ProbeHost,
  opts: PrepareOptions = {},
): PreparedState[] {
  return states.map((s, n) => prepareState(s.entry, n, s.where, host, s.comment, opts));
}

export interface Built {
  image: DiskImage;
  blob: Uint8Array;
  /** State number of each record, in blob order (skipped states have no record). */
  records: number[];
}

/** `startAt`: the state number to begin with (a resumed run on a machine that crashed at the one before). */
export function buildRun(
  prepared: readonly PreparedState[],
  outFlags: number,
  host: ProbeHost,
  startAt?: number,
): Built {
  const recs: BlobRecord[] = [];
  const records: number[] = [];
  for (const p of prepared) {
    if (p.skip) continue;
    records.push(p.n);
    recs.push({
      index: p.n,
      flags: p.flags,
      values: recordValues(p.final, FIELD_TABLE),
      memory: recordMemory(p.final, host),
      clear: p.clear,
    });
  }
  const start = startAt === undefined ? 0 : records.findIndex((n) => n >= startAt);
  const blob = encodeBlob(recs, outFlags, start < 0 ? records.length : start);
  return { image: buildImage(blob), blob, records };
}

/**
 * Apply what the log says the CPU refused (NOFIELD for every state, W lines per state); with `ramTop` (the
 * machine's RAM size, known for Bochs), structures left beyond it read as all ones.
 */
export function applyLog(prepared: readonly PreparedState[], log: ProbeLog, ramTop?: number): void {
  for (const p of prepared) {
    if (p.skip) continue;
    if (ramTop !== undefined) applyUnbacked(p, ramTop);
    const refused = new Map<number, number>();
    for (const e of log.nofield) refused.set(e, 0);
    for (const w of log.states.get(p.n)?.writes ?? []) refused.set(w.encoding, w.error);
    applyRefusals(p, refused);
  }
}

/** The final document of a prepared state, as written out (NDJSON line), with the probe's notes. */
export function finalDocument(p: PreparedState): Record<string, unknown> {
  return {
    ...serializeGenerated(p.final),
    comment: `probe state ${p.n} (${p.where})${p.comment ? `: ${p.comment}` : ""}`,
  };
}
