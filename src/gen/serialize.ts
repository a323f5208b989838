/**
 * Serialising generated states: the entry document of a state (`serializeEntry`). It writes every processor
 * key whose value differs from DEFAULT_PROCESSOR, optional extension keys without a default (e.g.
 * `currentVmcsPointer`) included, so parse∘serialize is the identity on every generated state
 * (test/gen/valid.test.ts). Kept as the generator's name for it (api.ts, the CLI, the playground use it).
 */
import { type Entry, type EntryDocument, serializeEntry } from "../entry/document.js";

export function serializeGenerated(e: Entry): EntryDocument {
  return serializeEntry(e);
}
