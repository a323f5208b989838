/**
 * Serialising generated states. `serializeEntry` writes the processor keys of DEFAULT_PROCESSOR only; optional
 * extension keys without a default (e.g. `currentVmcsPointer`) are added here so that parse∘serialize is the
 * identity on every generated state.
 */
import { type Entry, type EntryDocument, serializeEntry } from "../entry/document.js";
import { DEFAULT_PROCESSOR, type ProcessorState } from "../entry/processor.js";

export function serializeGenerated(e: Entry): EntryDocument {
  const doc = serializeEntry(e);
  const extra: Partial<ProcessorState> = {};
  for (const k of Object.keys(e.processor) as (keyof ProcessorState)[])
    if (!(k in DEFAULT_PROCESSOR) && e.processor[k] !== undefined)
      (extra as Record<string, unknown>)[k] = e.processor[k];
  if (Object.keys(extra).length) doc.processor = { ...doc.processor, ...extra };
  return doc;
}
