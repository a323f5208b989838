/**
 * Fuzzers for every log reader and the nested-state reader (issue 17): random text and bytes, truncated,
 * line-shuffled and byte-mutated real logs, mutated nested-state blobs. A reader either returns a result or
 * throws InputError — never anything else — and explaining what it returns never throws. Fixed seeds in CI;
 * NVMX_FUZZ_LONG=1 runs the long campaign (figures in docs/formats.md "Fuzzing").
 */
import { readdirSync, readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import { parseInput } from "../../src/formats/detect.js";
import { explainDump } from "../../src/formats/explain.js";
import { parseKvmDump } from "../../src/formats/kvm-dump.js";
import { LogReader } from "../../src/formats/logs.js";
import { formatNestedState, parseNestedState } from "../../src/formats/nested-state.js";
import { parseQemuRegs } from "../../src/formats/qemu-regs.js";
import { parseVmxcap } from "../../src/formats/vmxcap.js";
import { parseXenDump } from "../../src/formats/xen-dump.js";
import { baseEntry } from "../../src/gen/base.js";
import { profileAll } from "../helpers.js";

const LONG = process.env["NVMX_FUZZ_LONG"] === "1";
/** Cases per fuzzer: CI runs a few; the long campaign many. */
const RUNS = LONG ? 20000 : 40;
const SEED = 0x17f022;

const CORPUS = new URL("../corpus/", import.meta.url);
const SAMPLES = new URL("./samples/", import.meta.url);
const files: string[] = [];
for (const dir of readdirSync(CORPUS, { withFileTypes: true }))
  if (dir.isDirectory())
    for (const f of readdirSync(new URL(`${dir.name}/`, CORPUS)))
      files.push(new URL(`${dir.name}/${f}`, CORPUS).pathname);
for (const f of readdirSync(SAMPLES)) if (f.endsWith(".txt")) files.push(new URL(f, SAMPLES).pathname);
const texts = files.map((f) => readFileSync(f, "utf8"));

/** Run a reader; anything thrown must be an InputError with a message. */
function safely(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    expect(e.message.length).toBeGreaterThan(0);
  }
}

/** Every reader on a text: each format's own, streaming in odd chunk sizes, and detect + explain. */
const TEXT_READERS: [string, (t: string) => unknown][] = [
  ["kvm", parseKvmDump],
  ["xen", parseXenDump],
  ["qemu", parseQemuRegs],
  ["vmxcap", (t) => parseVmxcap(t)],
  [
    "stream in 7-character chunks",
    (t) => {
      const r = new LogReader(() => {});
      for (let i = 0; i < t.length; i += 7) r.push(t.slice(i, i + 7));
      r.end();
    },
  ],
  [
    "detect+explain",
    (t) => {
      const p = parseInput(new TextEncoder().encode(t));
      if (p.format === "logs") for (const d of p.dumps) explainDump(d);
    },
  ],
];

const opts = (salt: number) => ({ seed: SEED + salt, numRuns: RUNS });

/** The long campaign takes minutes per fuzzer. */
const TIMEOUT = LONG ? 6 * 3_600_000 : 60_000;

describe("fuzz", { timeout: TIMEOUT }, () => {
  TEXT_READERS.forEach(([name, parse], k) => {
    it(`${name}: random text`, () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 400 }), (s) => safely(() => parse(s))),
        opts(k * 10 + 1),
      );
    });
    it(`${name}: random bytes`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 600 }), (b) =>
          safely(() => parse(new TextDecoder().decode(b))),
        ),
        opts(k * 10 + 2),
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
        opts(k * 10 + 3),
      );
    });
    it(`${name}: line-shuffled real logs`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: texts.length - 1 }), fc.integer(), (i, seed) => {
          const lines = texts[i]!.split("\n");
          let s = seed >>> 0;
          for (let j = lines.length - 1; j > 0; j--) {
            s = (Math.imul(s, 1103515245) + 12345) >>> 0;
            const r = s % (j + 1);
            [lines[j], lines[r]] = [lines[r]!, lines[j]!];
          }
          safely(() => parse(lines.join("\n")));
        }),
        opts(k * 10 + 4),
      );
    });
    it(`${name}: real logs with random characters changed`, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: texts.length - 1 }),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 9, max: 126 })), { maxLength: 12 }),
          (i, edits) => {
            const cs = [...texts[i]!];
            for (const [at, c] of edits) if (cs.length) cs[at % cs.length] = String.fromCharCode(c);
            safely(() => parse(cs.join("")));
          },
        ),
        opts(k * 10 + 5),
      );
    });
  });

  it("nested state: random bytes and mutated blobs", () => {
    const good = formatNestedState(baseEntry(profileAll()));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 9000 }), (b) => safely(() => parseNestedState(b))),
      opts(901),
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
      opts(902),
    );
  });
});
