// The chunked memory (src/vmcs/memory.ts) against a byte-map model: any sequence of 8/32/64-bit writes at
// addresses around chunk edges, 2^32 and 2^52 reads back byte for byte, with the same nonzero-word count and
// 64-bit word list, and clones that stay independent.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Memory } from "../../src/vmcs/memory.js";

/** Addresses near the interesting edges: chunk (256) and page boundaries, 2^31, 2^32, 2^52. */
const address = fc
  .tuple(
    fc.constantFrom(0, 0xf00, 0x7fffff00, 0xffffff00, 0x1_0000_0000, 0xf_ffff_ff00, 2 ** 52 - 0x100),
    fc.integer({ min: 0, max: 0x1ff }),
  )
  .map(([b, o]) => b + o);

type Op =
  | { k: "w8"; a: number; v: number }
  | { k: "w32"; a: number; v: number }
  | { k: "w64"; a: number; v: bigint }
  | { k: "clone" };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant("w8" as const), a: address, v: fc.integer({ min: 0, max: 0xff }) }),
  fc.record({
    k: fc.constant("w32" as const),
    a: address.map((a) => a - (a % 4)),
    v: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff })),
  }),
  fc.record({
    k: fc.constant("w64" as const),
    a: address.map((a) => a - (a % 8)),
    v: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
  }),
  fc.constant({ k: "clone" as const }),
);

class Model {
  bytes = new Map<number, number>();
  w(a: number, n: number, v: bigint): void {
    for (let i = 0; i < n; i++) this.bytes.set(a + i, Number((v >> BigInt(8 * i)) & 0xffn));
  }
  r(a: number, n: number): bigint {
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.bytes.get(a + i) ?? 0);
    return v;
  }
  clone(): Model {
    const m = new Model();
    m.bytes = new Map(this.bytes);
    return m;
  }
}

describe("Memory", () => {
  it("reads back what was written, counts nonzero words and lists 64-bit words like a byte map", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.array(address, { maxLength: 20 }), (ops, reads) => {
        let mem = new Memory();
        let model = new Model();
        const clones: [Memory, Model][] = [];
        for (const o of ops) {
          if (o.k === "clone") {
            clones.push([mem, model]);
            mem = mem.clone();
            model = model.clone();
          } else if (o.k === "w8") {
            mem.write8(o.a, o.v);
            model.w(o.a, 1, BigInt(o.v));
          } else if (o.k === "w32") {
            mem.write32(o.a, o.v);
            model.w(o.a, 4, BigInt(o.v));
          } else {
            mem.write64(o.a, o.v);
            model.w(o.a, 8, o.v);
          }
        }
        for (const [m, md] of [[mem, model] as const, ...clones]) {
          for (const a of [...reads, ...[...md.bytes.keys()]]) {
            expect(m.read8(a)).toBe(Number(md.r(a, 1)));
            expect(m.read32(a)).toBe(Number(md.r(a, 4)));
            const w = a - (a % 4);
            if (w % 8 === 0) expect(m.read64(w)).toBe(md.r(w, 8));
          }
          const words = new Set<number>();
          for (const [a, b] of md.bytes) if (b !== 0) words.add(a - (a % 4));
          expect(m.size).toBe(words.size);
          const quads = [...new Set([...words].map((a) => a - (a % 8)))].sort((x, y) => x - y);
          expect(m.entries64()).toEqual(quads.map((a) => [a, md.r(a, 8)]));
        }
      }),
      { seed: 15, numRuns: 300 },
    );
  });

  it("reads a run of words (an MSR-load walk) as read32 reads each one: any alignment, across chunks, past written memory", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(address, fc.integer({ min: 0, max: 0xffffffff })), { maxLength: 40 }),
        fc.oneof(address, fc.constantFrom(2 ** 53 - 8, 2 ** 64 - 16)),
        fc.integer({ min: 0, max: 300 }),
        (writes, from, count) => {
          const mem = new Memory();
          for (const [a, v] of writes) mem.write32(a - (a % 4), v);
          // the area starts at a written word half the time, so runs read data, not only zeros
          const start = writes.length && count % 2 ? (writes[0]![0] & ~3) + (from % 4) : from;
          const got = Array.from(mem.words(start, count).subarray(0, count));
          const want = Array.from({ length: count }, (_, k) => mem.read32(start + 4 * k));
          expect(got).toEqual(want);
        },
      ),
      { seed: 16, numRuns: 400 },
    );
  });

  it("rolls back the writes of a rejected proposal, nested in kept or rejected ones, to what a copy would hold", () => {
    type J = { k: "w"; a: number; v: number } | { k: "open" } | { k: "close"; keep: boolean };
    const jop: fc.Arbitrary<J> = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({
          k: fc.constant("w" as const),
          a: address,
          v: fc.integer({ min: 0, max: 0xffffffff }),
        }),
      },
      { weight: 1, arbitrary: fc.constant({ k: "open" as const }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant("close" as const), keep: fc.boolean() }) },
    );
    fc.assert(
      fc.property(fc.array(jop, { maxLength: 60 }), (ops) => {
        const mem = new Memory();
        let model = new Model();
        const open: { mark: number; copy: Model }[] = [];
        for (const o of ops) {
          if (o.k === "w") {
            // unaligned writes too: they are byte writes of aligned words
            mem.write32(o.a, o.v);
            model.w(o.a, 4, BigInt(o.v));
          } else if (o.k === "open") open.push({ mark: mem.mark(), copy: model.clone() });
          else {
            const top = open.pop();
            if (!top) continue;
            if (o.keep) mem.keep(top.mark);
            else {
              mem.rollback(top.mark);
              model = top.copy;
            }
          }
        }
        const words = new Set<number>();
        for (const [a, b] of model.bytes) if (b !== 0) words.add(a - (a % 4));
        for (const a of [...model.bytes.keys()]) expect(mem.read8(a)).toBe(Number(model.r(a, 1)));
        expect(mem.size).toBe(words.size);
        // with every proposal closed, nothing is recorded any more (no log grows behind the generator's back)
        if (open.length === 0) {
          mem.write32(0x40, 5);
          expect(mem.changedSince(0)).toBe(false);
        }
      }),
      { seed: 17, numRuns: 400 },
    );
  });
});
