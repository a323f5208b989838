/**
 * Every parser is fuzzed: random bytes, truncated and line-shuffled real logs, mutated nested-state blobs.
 * A parser either returns a result or throws InputError — never anything else.
 */
import { readdirSync, readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import { parseInput } from "../../src/formats/detect.js";
import { explainDump } from "../../src/formats/explain.js";
import { parseKvmDump } from "../../src/formats/kvm-dump.js";
import { formatNestedState, parseNestedState } from "../../src/formats/nested-state.js";
import { parseQemuRegs } from "../../src/formats/qemu-regs.js";
import { parseVmxcap } from "../../src/formats/vmxcap.js";
import { parseXenDump } from "../../src/formats/xen-dump.js";
import { baseEntry } from "../../src/gen/base.js";
import { profileAll } from "../helpers.js";

const CORPUS = new URL("../corpus/", import.meta.url);
const SAMPLES = new URL("./samples/", import.meta.url);
const files: string[] = [];
for (const dir of readdirSync(CORPUS, { withFileTypes: true }))
  if (dir.isDirectory())
    for (const f of readdirSync(new URL(`${dir.name}/`, CORPUS)))
      files.push(new URL(`${dir.name}/${f}`, CORPUS).pathname);
for (const f of readdirSync(SAMPLES)) if (f.endsWith(".txt")) files.push(new URL(f, SAMPLES).pathname);
const texts = files.map((f) => readFileSync(f, "utf8"));

/** Run a parser; anything thrown must be an InputError with a message. */
function safely(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    expect(e.message.length).toBeGreaterThan(0);
  }
}

const TEXT_PARSERS: [string, (t: string) => unknown][] = [
  ["kvm", parseKvmDump],
  ["xen", parseXenDump],
  ["qemu", parseQemuRegs],
  ["vmxcap", (t) => parseVmxcap(t)],
  [
    "detect+explain",
    (t) => {
      const p = parseInput(new TextEncoder().encode(t));
      if (p.format === "logs") for (const d of p.dumps) explainDump(d);
    },
  ],
];

const RUNS = 60;

describe("fuzz", () => {
  for (const [name, parse] of TEXT_PARSERS) {
    it(`${name}: random text`, () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 400 }), (s) => safely(() => parse(s))),
        { numRuns: RUNS },
      );
    });
    it(`${name}: random bytes`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 600 }), (b) =>
          safely(() => parse(new TextDecoder().decode(b))),
        ),
        { numRuns: RUNS },
      );
    });
    it(`${name}: truncated real logs`, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: texts.length - 1 }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          (i, at) => {
            const t = texts[i]!;
            safely(() => parse(t.slice(0, Math.floor(t.length * at))));
            safely(() => parse(t.slice(Math.floor(t.length * at))));
          },
        ),
        { numRuns: RUNS },
      );
    });
    it(`${name}: line-shuffled real logs`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: texts.length - 1 }), fc.integer(), (i, seed) => {
          const lines = texts[i]!.split("\n");
          let s = seed >>> 0;
          for (let k = lines.length - 1; k > 0; k--) {
            s = (Math.imul(s, 1103515245) + 12345) >>> 0;
            const j = s % (k + 1);
            [lines[k], lines[j]] = [lines[j]!, lines[k]!];
          }
          safely(() => parse(lines.join("\n")));
        }),
        { numRuns: RUNS },
      );
    });
  }

  it("nested state: random bytes and mutated blobs", () => {
    const good = formatNestedState(baseEntry(profileAll()));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 9000 }), (b) => safely(() => parseNestedState(b))),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 0, max: 255 })), {
          maxLength: 20,
        }),
        fc.integer({ min: 0, max: good.length }),
        (muts, len) => {
          const b = good.slice(0, len);
          for (const [at, v] of muts) if (at < b.length) b[at] = v;
          safely(() => {
            const p = parseInput(b);
            if (p.format === "logs") for (const d of p.dumps) explainDump(d);
          });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("parsers stay linear: a 2 MB log of repeated dumps parses in reasonable time", () => {
    const big = texts
      .filter((t) => t.includes("Guest State"))
      .join("\n")
      .repeat(60);
    const t0 = Date.now();
    parseKvmDump(big);
    expect(Date.now() - t0).toBeLessThan(15000);
  });
});
