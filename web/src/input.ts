/**
 * Reading what a person pastes or opens: an `nvmx-entry/1` JSON document (or the first document of NDJSON).
 *
 * Extension point: each reader below gets the whole text and returns a document, or undefined when the text
 * is not its format. Readers for logs (KVM dump_vmcs, Xen, QEMU) and for vmxcap output plug in here, in
 * front of the JSON reader; see `READERS`.
 */
import { InputError } from "../../src/errors.js";
import { type EntryDocument, normalise } from "./model.js";

export interface Loaded {
  doc: EntryDocument;
  /** What the text was, for the status line ("nvmx-entry/1 JSON", "KVM dump_vmcs", ...). */
  format: string;
  /** What a person should know about the conversion (assumptions, ignored lines). */
  notes: string[];
}

export type InputReader = (text: string) => Loaded | undefined;

function readJson(text: string): Loaded | undefined {
  const t = text.trim();
  if (!t.startsWith("{")) return undefined;
  const notes: string[] = [];
  let value: unknown;
  try {
    value = JSON.parse(t);
  } catch (e) {
    // NDJSON: one document per line; the page shows the first.
    const lines = t.split("\n").filter((l) => l.trim() !== "");
    if (lines.length < 2) throw new InputError(`not valid JSON: ${(e as Error).message}`);
    try {
      value = JSON.parse(lines[0]!);
    } catch (e2) {
      throw new InputError(`not valid JSON: ${(e2 as Error).message}`, { line: 1 });
    }
    notes.push(`NDJSON with ${lines.length} documents: showing the first`);
  }
  return { doc: normalise(value), format: "nvmx-entry/1 JSON", notes };
}

/** Readers in the order they are tried; the first that recognises the text wins. */
export const READERS: InputReader[] = [readJson];

/** Read pasted or uploaded text. Throws InputError (with the file name) when nothing can read it. */
export function readInput(text: string, file = "<pasted text>"): Loaded {
  try {
    for (const read of READERS) {
      const r = read(text);
      if (r) return r;
    }
  } catch (e) {
    if (e instanceof InputError) throw e.withFile(file);
    throw e;
  }
  throw new InputError("not an nvmx-entry/1 JSON document (it should start with {)", { file });
}
