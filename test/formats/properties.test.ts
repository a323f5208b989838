/**
 * Properties of `explain` over the whole real-log corpus (and the synthetic samples), under named mutation
 * operators with fixed seeds (issue 14, part 4):
 * - deleting, duplicating or corrupting any one line never turns a failing verdict into a plain "succeeds"
 *   without a warning;
 * - adding a prefix to every line, or wrapping long lines, changes no finding;
 * - a definite violation never names a field the log lacks.
 * NVMX_FUZZ_LONG=1 runs many more cases.
 */
import { readdirSync, readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import { parseInput } from "../../src/formats/detect.js";
import { type Explanation, explainDump } from "../../src/formats/explain.js";
import { shownFields } from "./helpers.js";

const LONG = process.env["NVMX_FUZZ_LONG"] === "1";
const SEED = 0x14c0ffee;

const CORPUS = new URL("../corpus/", import.meta.url);
const SAMPLES = new URL("./samples/", import.meta.url);
const FILES: { name: string; text: string }[] = [];
for (const dir of readdirSync(CORPUS, { withFileTypes: true }))
  if (dir.isDirectory() && dir.name !== "vmxcap")
    for (const f of readdirSync(new URL(`${dir.name}/`, CORPUS)))
      FILES.push({
        name: `${dir.name}/${f}`,
        text: readFileSync(new URL(`${dir.name}/${f}`, CORPUS), "utf8"),
      });
for (const f of readdirSync(SAMPLES))
  if (f.endsWith(".txt")) FILES.push({ name: f, text: readFileSync(new URL(f, SAMPLES), "utf8") });

function explainText(text: string): Explanation[] | "refused" {
  try {
    const p = parseInput(new TextEncoder().encode(text));
    if (p.format !== "logs") return "refused";
    return p.dumps.map((d) => explainDump(d));
  } catch (e) {
    if (e instanceof InputError) return "refused";
    throw e;
  }
}

const ORIGINAL = new Map(FILES.map((f) => [f.name, explainText(f.text)]));

/** The findings people read: outcome, definite ids, possible conditions and ids. */
function findings(x: Explanation): string {
  return JSON.stringify({
    outcome: x.result.outcome,
    definite: x.result.violations.map((v) => v.id),
    possible: (x.result.possible ?? []).map((p) => [p.why, p.condition, p.violations.map((v) => v.id)]),
  });
}
const plainSucceeds = (x: Explanation) => x.result.outcome.type === "entered" && !x.result.possible?.length;

interface Mutation {
  text: string;
  /** original line of a mutated line (1-based) */
  origin: (line: number) => number;
}

const lines = (t: string) => t.split("\n");

/** The named operators on one line (index i; `at` picks a position inside it). */
const OPERATORS: Record<string, (text: string, i: number, at: number) => Mutation> = {
  "delete-line": (text, i) => {
    const ls = lines(text);
    ls.splice(i, 1);
    return { text: ls.join("\n"), origin: (l) => (l <= i ? l : l + 1) };
  },
  "duplicate-line": (text, i) => {
    const ls = lines(text);
    ls.splice(i + 1, 0, ls[i]!);
    return { text: ls.join("\n"), origin: (l) => (l <= i + 1 ? l : l - 1) };
  },
  /** a hex digit of the line becomes a letter that is no hex digit */
  "corrupt-digit": (text, i, at) => {
    const ls = lines(text);
    const l = ls[i]!;
    const digits = [...l].map((c, k) => (/[0-9a-f]/i.test(c) ? k : -1)).filter((k) => k >= 0);
    if (digits.length) {
      const k = digits[at % digits.length]!;
      ls[i] = `${l.slice(0, k)}g${l.slice(k + 1)}`;
    }
    return { text: ls.join("\n"), origin: (x) => x };
  },
  /** the line is cut off at a position (as a truncated paste ends) */
  "cut-line": (text, i, at) => {
    const ls = lines(text);
    const l = ls[i]!;
    ls[i] = l.slice(0, l.length ? at % l.length : 0);
    return { text: ls.join("\n"), origin: (x) => x };
  },
};

/** The original dump a mutated dump comes from: the last original dump starting at or before its origin. */
function originOf(xs: Explanation[], line: number): Explanation | undefined {
  let best: Explanation | undefined;
  for (const x of xs) if (x.dump.line <= line) best = x;
  return best;
}

describe("mutations of one line never hide a failure", { timeout: LONG ? 6 * 3_600_000 : 60_000 }, () => {
  for (const [name, op] of Object.entries(OPERATORS))
    it(`${name}: a failing dump never becomes a plain "succeeds" without a warning`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: FILES.length - 1 }), fc.nat(), fc.nat(), (fi, li, at) => {
          const f = FILES[fi]!;
          const orig = ORIGINAL.get(f.name)!;
          if (orig === "refused") return;
          // mutate a line of a dump (the lines between dumps do not matter here)
          const dumpLines = orig.flatMap((x) => (x.dump.line > 0 ? [x.dump.line - 1] : []));
          const n = lines(f.text).length;
          const i = dumpLines.length
            ? Math.min(n - 1, dumpLines[li % dumpLines.length]! + (at % 40))
            : li % n;
          const m = op(f.text, i, at);
          const got = explainText(m.text);
          if (got === "refused") return; // refused with an error naming the problem: never a verdict
          for (const x of got) {
            const from = originOf(orig, m.origin(x.dump.line));
            if (!from || from.result.outcome.type === "entered") continue;
            if (plainSucceeds(x))
              expect(
                x.dump.warnings.length,
                `${f.name} ${name} line ${i + 1}: ${findings(x)}`,
              ).toBeGreaterThan(0);
          }
          // and a definite violation still names only fields the (mutated) log shows
          for (const x of got) {
            const shown = shownFields(x);
            for (const v of x.result.violations)
              for (const fld of v.fields)
                expect(shown.has(fld), `${f.name} ${name}: ${v.id} ${fld}`).toBe(true);
          }
        }),
        { seed: SEED, numRuns: LONG ? 3000 : 40 },
      );
    });
});

describe("presentation changes change no finding", () => {
  const PREFIXES = [
    ["dmesg", (k: number) => `[ ${(1000 + k * 0.000123).toFixed(6)}] `],
    ["syslog", (k: number) => `Mar  3 10:22:${String(k % 60).padStart(2, "0")} host kernel: `],
    ["bracket", () => "[…] "],
    ["docker compose", () => "vm-1  | "],
    ["mail quote", () => "> "],
    ["tab", () => "\t"],
  ] as const;
  const comparable = FILES.filter((f) => ORIGINAL.get(f.name) !== "refused");
  for (const [name, prefix] of PREFIXES)
    it(`a ${name} prefix on every line`, () => {
      for (const f of comparable) {
        const text = lines(f.text)
          .map((l, k) => (l.trim() ? prefix(k) + l : l))
          .join("\n");
        const got = explainText(text);
        const orig = ORIGINAL.get(f.name) as Explanation[];
        expect(got === "refused" ? "refused" : got.map(findings), f.name).toEqual(orig.map(findings));
      }
    });
  it("lines wrapped at 72 columns as a mail program wraps them", () => {
    for (const f of comparable) {
      const text = lines(f.text)
        .flatMap((l) => {
          const out: string[] = [];
          let rest = l;
          while (rest.length > 72) {
            const cut = rest.lastIndexOf(" ", 72);
            if (cut <= 0) break;
            out.push(rest.slice(0, cut));
            rest = rest.slice(cut + 1);
          }
          out.push(rest);
          return out;
        })
        .join("\n");
      const got = explainText(text);
      const orig = ORIGINAL.get(f.name) as Explanation[];
      expect(got === "refused" ? "refused" : got.map(findings), f.name).toEqual(orig.map(findings));
    }
  });
});
