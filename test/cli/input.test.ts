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
import { describe, expect, it, vi } from "vitest";
import {
  LineCutter,
  Lines,
  type LongLine,
  type Piece,
  type PieceOptions,
  piecesOf,
  readDocuments,
  readPieces,
} from "../../src/cli/input.js";

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
  const take = (run: Buffer | LongLine) => {
    if (!Buffer.isBuffer(run)) throw new Error(`unexpected long line (${run.tooLong} bytes)`);
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
    expect(out).toEqual([{ kind: "error", message: "cannot read: no such file" }]);
  });
});

/** The items piecesOf gives for these chunks, as readDocuments makes them. */
async function items(chunks: Buffer[], opts: PieceOptions = {}) {
  const lines = new Lines();
  const out: ({ text: string; line?: number } | { error: string; line?: number })[] = [];
  for await (const p of piecesOf(
    chunks.map((c) => Buffer.from(c)),
    opts,
  )) {
    if (p.kind === "doc") out.push(p.line !== undefined ? { text: p.text, line: p.line } : { text: p.text });
    else if (p.kind === "error") out.push({ error: p.message, ...(p.line ? { line: p.line } : {}) });
    else
      for (let i = 0, n = lines.split(p.bytes); i < n; i++) {
        const text = p.bytes.toString("utf8", lines.start[i], lines.end[i]).trim();
        if (text) out.push({ text, line: p.firstLine + i });
      }
  }
  return out;
}

function split(text: string, sizes: number[]): Buffer[] {
  const b = Buffer.from(text);
  const out: Buffer[] = [];
  let at = 0;
  for (const s of sizes) {
    if (at >= b.length) break;
    out.push(b.subarray(at, at + s));
    at += s;
  }
  if (at < b.length) out.push(b.subarray(at));
  return out;
}

/**
 * The reading rule, written plainly (one JSON.parse per candidate span): NDJSON when the first non-empty line
 * is complete (or not JSON); otherwise values, each the shortest run of lines from a non-empty line that
 * parses as JSON (within maxDocument bytes, line breaks included); from the first value without such a run
 * on, NDJSON. Exactly one value (and nothing after it) is the whole input, without a line number.
 */
function model(ls: string[], eol: string, maxDocument: number) {
  const ndjson = (from: number) =>
    ls
      .map((l, i) => ({ text: l.trim(), line: i + 1 }))
      .slice(from)
      .filter((x) => x.text);
  const parses = (t: string) => {
    try {
      JSON.parse(t);
      return true;
    } catch {
      return false;
    }
  };
  let k = ls.findIndex((l) => l.trim());
  if (k < 0) return [];
  if (parses(ls[k]!)) return ndjson(k);
  const values: { text: string; line: number }[] = [];
  while (k >= 0 && k < ls.length) {
    let found = -1;
    let bytes = 0;
    for (let m = k; m < ls.length; m++) {
      bytes += Buffer.byteLength(ls[m]!) + (m < ls.length - 1 ? eol.length : 0);
      if (bytes > maxDocument) break;
      if (parses(ls.slice(k, m + 1).join(eol))) {
        found = m;
        break;
      }
    }
    if (found < 0) return [...values, ...ndjson(k)];
    values.push({
      text: ls
        .slice(k, found + 1)
        .join(eol)
        .trim(),
      line: k + 1,
    });
    k = ls.findIndex((l, i) => i > found && l.trim());
  }
  return values.length === 1 ? [{ text: values[0]!.text }] : values;
}

describe("one document, a sequence of documents or NDJSON: no line is lost (issue 17)", () => {
  const doc = '{"vmcs":{"GUEST_CR0":"0x1"}}';

  it("a first line that is not JSON is line 1 of NDJSON; every later line is read", async () => {
    expect(await documents(`oops\n${doc}\nx\n\ny\n`)).toEqual([
      { text: "oops", line: 1 },
      { text: doc, line: 2 },
      { text: "x", line: 3 },
      { text: "y", line: 5 },
    ]);
  });

  it("pretty-printed documents one after another (jq's output) are documents numbered by their first line", async () => {
    const pretty = JSON.stringify(JSON.parse(doc), null, 2);
    const n = pretty.split("\n").length;
    expect(await documents(`${pretty}\n${pretty}\n\n${doc}\n`)).toEqual([
      { text: pretty, line: 1 },
      { text: pretty, line: n + 1 },
      { text: doc, line: 2 * n + 2 },
    ]);
  });

  it("from a value that cannot be completed on, the input is NDJSON: no line lost", async () => {
    const pretty = JSON.stringify(JSON.parse(doc), null, 2);
    const n = pretty.split("\n").length;
    expect(await documents(`${pretty}\n{\n"vmcs": oops\n${doc}\n`)).toEqual([
      { text: pretty, line: 1 },
      { text: "{", line: n + 1 },
      { text: '"vmcs": oops', line: n + 2 },
      { text: doc, line: n + 3 },
    ]);
  });

  it("a one-line value first makes the input NDJSON: a pretty document after it is read line by line", async () => {
    const pretty = JSON.stringify(JSON.parse(doc), null, 2);
    const got = await documents(`${doc}\n${pretty}\n`);
    expect(got).toHaveLength(pretty.split("\n").length + 1);
    expect(got[1]).toEqual({ text: "{", line: 2 });
  });

  it("a document with a byte-order mark and blank lines around it is one document", async () => {
    const pretty = JSON.stringify(JSON.parse(doc), null, 2);
    expect(await documents(`\ufeff\n\n${pretty}\n\n`)).toEqual([{ text: pretty }]);
  });

  it("every non-empty line gives one item, in order, or is part of a JSON value read whole (property)", async () => {
    const line = fc.constantFrom(
      doc,
      "oops",
      "{bad",
      '{"vmcs": {',
      "[",
      "]",
      "}",
      '"GUEST_CR0": "0x1"',
      '"vmcs": {},',
      "",
      "  ",
      "1,",
      "[1]",
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { maxLength: 12 }),
        fc.constantFrom("\n", "\r\n", "\r"),
        fc.array(fc.integer({ min: 1, max: 9 }), { maxLength: 12 }),
        fc.constantFrom(8, 30, 1 << 20),
        async (ls, eol, sizes, maxDocument) => {
          const text = ls.join(eol);
          const got = await items(split(text, sizes), { maxDocument });
          expect(got).toEqual(model(ls, eol, maxDocument));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("holds no more than the document limit while an input may still be one document", async () => {
    // "[" and then lines that keep it the start of one JSON array: held only up to maxDocument.
    let consumed = 0;
    async function* source() {
      yield Buffer.from("[\n");
      for (let i = 0; i < 200; i++) {
        consumed++;
        yield Buffer.from(`"${"x".repeat(1000)}",\n`);
      }
    }
    const firstAfter: number[] = [];
    let first: Piece | undefined;
    let count = 0;
    for await (const p of piecesOf(source(), { maxDocument: 8192 })) {
      first ??= p;
      firstAfter.push(consumed);
      if (p.kind === "lines") count += new Lines().split(p.bytes);
    }
    expect(first).toMatchObject({ kind: "lines", firstLine: 1 });
    expect(firstAfter[0]).toBeLessThanOrEqual(9);
    expect(count).toBe(201);
  });
});

describe("long lines (issue 17)", () => {
  it("joins a line split over many chunks in linear time: bytes copied stay proportional to its length", () => {
    // Count the bytes that Buffer.concat and Buffer.from copy while a long line arrives in 64 KiB chunks.
    const copied = (length: number): number => {
      const chunk = Buffer.alloc(65536, 0x78);
      const cutter = new LineCutter();
      let bytes = 0;
      const concat = vi.spyOn(Buffer, "concat");
      const from = vi.spyOn(Buffer, "from");
      try {
        for (let at = 0; at < length; at += chunk.length) cutter.push(chunk);
        const runs = cutter.push(Buffer.from("\n{}\n"));
        expect(runs.map((r) => ("tooLong" in r ? -1 : r.length))).toEqual([length + 1, 3]);
        for (const r of concat.mock.results) bytes += (r.value as Buffer).length;
        for (const r of from.mock.results) bytes += (r.value as Buffer).length;
      } finally {
        concat.mockRestore();
        from.mockRestore();
      }
      return bytes;
    };
    const n = 1 << 22;
    expect(copied(n)).toBeLessThanOrEqual(3 * n);
    expect(copied(4 * n)).toBeLessThanOrEqual(3 * 4 * n);
  });

  it("skips a line over the limit with an error record naming it, and keeps the lines after it", async () => {
    const long = "y".repeat(100);
    // the long line arrives in pieces of 7 bytes, beside short lines
    const got = await items(split(`{"a":1}\n${long}\r\n{"b":2}\r\n${long}`, [10, ...Array(40).fill(7)]), {
      maxLine: 50,
    });
    expect(got).toEqual([
      { text: '{"a":1}', line: 1 },
      { error: "line too long: 100 bytes, over the limit of 50 bytes; skipped", line: 2 },
      { text: '{"b":2}', line: 3 },
      { error: "line too long: 100 bytes, over the limit of 50 bytes; skipped", line: 4 },
    ]);
  });

  it("an over-long first line makes the input NDJSON", async () => {
    const got = await items(split(`{${"z".repeat(60)}\n[\n]\n`, Array(20).fill(5)), {
      maxLine: 50,
    });
    expect(got).toEqual([
      { error: "line too long: 61 bytes, over the limit of 50 bytes; skipped", line: 1 },
      { text: "[", line: 2 },
      { text: "]", line: 3 },
    ]);
  });
});
