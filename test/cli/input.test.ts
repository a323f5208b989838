/**
 * Reading inputs (src/cli/input.ts): lines are cut on bytes exactly where node:readline cut them (the reader
 * it replaces, whose line numbers error records keep), however the input arrives in chunks; and an input is
 * NDJSON, one document, or NDJSON with a malformed first line, as before.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LineCutter, Lines, type Piece, readDocuments, readPieces } from "../../src/cli/input.js";

/** The lines readline gives for these chunks (crlfDelay: Infinity, as the old reader). */
async function readlineLines(chunks: Buffer[]): Promise<string[]> {
  const rl = createInterface({ input: Readable.from(chunks), crlfDelay: Number.POSITIVE_INFINITY });
  const out: string[] = [];
  for await (const l of rl) out.push(l);
  return out;
}

/** The lines LineCutter + Lines give for these chunks (each run decoded at once: buffers are reused). */
function cutLines(chunks: Buffer[]): string[] {
  const cutter = new LineCutter();
  const lines = new Lines();
  const out: string[] = [];
  const take = (run: Buffer) => {
    const n = lines.split(run);
    for (let i = 0; i < n; i++) out.push(run.toString("utf8", lines.start[i], lines.end[i]));
  };
  for (const c of chunks) {
    // the reader reuses its buffer: hand over a copy that is overwritten afterwards
    const copy = Buffer.from(c);
    for (const run of cutter.push(copy)) take(run);
    copy.fill(0x58);
  }
  const last = cutter.end();
  if (last) take(last);
  return out;
}

const dir = mkdtempSync(join(tmpdir(), "nvmx-input-"));

async function pieces(text: string): Promise<Piece[]> {
  const f = join(dir, `in-${Math.random().toString(36).slice(2)}`);
  writeFileSync(f, text);
  const out: Piece[] = [];
  for await (const p of readPieces(f))
    out.push(p.kind === "lines" ? { ...p, bytes: Buffer.from(p.bytes) } : p);
  return out;
}

async function documents(text: string) {
  const f = join(dir, `in-${Math.random().toString(36).slice(2)}`);
  writeFileSync(f, text);
  const out = [];
  for await (const d of readDocuments(f)) out.push(d);
  return out;
}

describe("line cutting", () => {
  it("matches node:readline for any chunking of text with \\n, \\r\\n and lone \\r (property)", async () => {
    const text = fc
      .array(fc.constantFrom("a", "{}", "é", "\n", "\r", "\r\n", " ", "\n\r"), { maxLength: 40 })
      .map((a) => Buffer.from(a.join(""), "utf8"));
    await fc.assert(
      fc.asyncProperty(
        text,
        fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 20 }),
        async (bytes, sizes) => {
          const chunks: Buffer[] = [];
          let at = 0;
          for (const s of sizes) {
            if (at >= bytes.length) break;
            chunks.push(bytes.subarray(at, at + s));
            at += s;
          }
          if (at < bytes.length) chunks.push(bytes.subarray(at));
          expect(cutLines(chunks)).toEqual(await readlineLines(chunks));
        },
      ),
      { numRuns: 1500 },
    );
  });
});

describe("readPieces / readDocuments", () => {
  it("NDJSON: pieces of whole lines numbered from 1, empty lines skipped by readDocuments", async () => {
    const text = '\n{"vmcs":{}}\r\n\n  {"vmcs":{"GUEST_CR0":"0x1"}}  \r{bad\n';
    const ps = await pieces(text);
    expect(ps[0]).toMatchObject({ kind: "lines", firstLine: 2 });
    expect(await documents(text)).toEqual([
      { text: '{"vmcs":{}}', line: 2 },
      { text: '{"vmcs":{"GUEST_CR0":"0x1"}}', line: 4 },
      { text: "{bad", line: 5 },
    ]);
  });

  it("one pretty-printed document is read whole, without a line number", async () => {
    const text = '{\n  "vmcs": {\n    "GUEST_CR0": "0x1"\n  }\n}\n';
    expect(await documents(text)).toEqual([{ text: text.slice(0, -1) }]);
  });

  it("a malformed first line that opens a document: NDJSON with errors in place", async () => {
    const text = '{"vmcs": {\n{"vmcs":{}}\n{"vmcs":{}}\n';
    expect(await documents(text)).toEqual([
      { text: '{"vmcs": {', line: 1 },
      { text: '{"vmcs":{}}', line: 2 },
      { text: '{"vmcs":{}}', line: 3 },
    ]);
  });

  it("a missing file is a read error", async () => {
    const out = [];
    for await (const p of readPieces(join(dir, "none"))) out.push(p);
    expect(out).toEqual([{ kind: "error", message: "no such file" }]);
  });
});
