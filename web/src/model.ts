/**
 * The playground's state is one `nvmx-entry/1` document (../shared/docs/interface.md §1), kept in the
 * canonical form `serializeEntry` writes: KVM field names, hex values, nonzero fields only. Every edit
 * makes a new document; every document is checked by the same library the CLI uses.
 */
import { type FieldDef, fieldByName } from "../../src/arch/fields.js";
import { type Entry, type EntryDocument, parseEntry, serializeEntry } from "../../src/entry/document.js";
import type { EntryResult } from "../../src/entry/evaluate.js";
import type { ProcessorState } from "../../src/entry/processor.js";
import { runEntry } from "../../src/entry/run.js";
import { InputError } from "../../src/errors.js";
import { fieldMax } from "../../src/vmcs/store.js";

export type { Entry, EntryDocument, EntryResult };

/** Parse any JSON value as an entry document and rewrite it canonically. Throws InputError. */
export function normalise(raw: unknown): EntryDocument {
  return serializeEntry(parseEntry(raw));
}

export interface Checked {
  entry: Entry;
  result: EntryResult;
}

/** Run VM entry on a document. A canonical document never fails to parse; the error is kept for safety. */
export function checkDocument(doc: EntryDocument): Checked | { error: string } {
  try {
    const entry = parseEntry(doc);
    return { entry, result: runEntry(entry) };
  } catch (e) {
    return { error: e instanceof InputError ? e.describe() : String(e) };
  }
}

export function fieldValue(doc: EntryDocument, name: string): bigint {
  const v = doc.vmcs[name];
  return v === undefined ? 0n : BigInt(v);
}

/** A new document with one field changed (absent when zero, as serializeEntry writes it). */
export function withField(doc: EntryDocument, name: string, value: bigint): EntryDocument {
  const vmcs = { ...doc.vmcs };
  if (value === 0n) delete vmcs[name];
  else vmcs[name] = `0x${value.toString(16)}`;
  return { ...doc, vmcs };
}

export function withCpu(doc: EntryDocument, cpu: string): EntryDocument {
  return { ...doc, cpu };
}

/** A new document with processor state changed; keys equal to the defaults are left out. */
export function withProcessor(
  doc: EntryDocument,
  change: Partial<ProcessorState>,
  defaults: Readonly<ProcessorState>,
): EntryDocument {
  const p: Record<string, unknown> = { ...doc.processor, ...change };
  for (const k of Object.keys(p)) if (p[k] === defaults[k as keyof ProcessorState]) delete p[k];
  const next: EntryDocument = { ...doc };
  if (Object.keys(p).length) next.processor = p as Partial<ProcessorState>;
  else delete next.processor;
  return next;
}

export function widthText(f: FieldDef): string {
  return f.width === "natural" ? "natural-width (64-bit)" : `${f.width}-bit`;
}

/** Parse what a person typed into a field: hex, with or without 0x, `_` allowed as a digit separator. */
export function parseHexInput(text: string, f: FieldDef): { value: bigint } | { error: string } {
  const t = text.trim().replace(/_/g, "");
  if (t === "") return { error: "enter a hex value (0 for none)" };
  const m = /^(?:0x)?([0-9a-f]+)$/i.exec(t);
  if (!m) return { error: `"${text.trim()}" is not a hex number` };
  const v = BigInt(`0x${m[1]}`);
  if (v > fieldMax(f)) return { error: `does not fit this ${widthText(f)} field` };
  return { value: v };
}

export function hexText(v: bigint): string {
  return `0x${v.toString(16)}`;
}

export function field(name: string): FieldDef {
  const f = fieldByName(name);
  if (!f) throw new Error(`playground: no VMCS field ${name}`);
  return f;
}

/** The document as the text a person downloads or copies. */
export function documentText(doc: EntryDocument): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}
