/**
 * The generator's PRNG: the published xoshiro128** stream seeded through splitmix32 (restated here in BigInt
 * arithmetic, independently of the Math.imul code), so a seed names the same states in every version; and the
 * helpers built on it (float, int, range, bool, pick, shuffle, clone, derive) cover their whole ranges.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Rng } from "../../src/gen/rng.js";
import { runs } from "../helpers.js";

const M32 = 0xffffffffn;
const mul = (a: bigint, b: bigint) => (a * b) & M32;
const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & M32;

/** splitmix32 as the generator seeds with it: a Weyl step of 0x9e3779b9, then murmur3's 32-bit finaliser. */
function splitmix(seed: number): () => bigint {
  let s = BigInt(seed >>> 0);
  return () => {
    s = (s + 0x9e3779b9n) & M32;
    let z = s;
    z = mul(z ^ (z >> 16n), 0x85ebca6bn);
    z = mul(z ^ (z >> 13n), 0xc2b2ae35n);
    return z ^ (z >> 16n);
  };
}

/** xoshiro128** (Blackman & Vigna), its four words seeded by four splitmix32 outputs. */
function reference(seed: number, n: number): number[] {
  const sm = splitmix(seed);
  const s = [sm(), sm(), sm(), sm()] as [bigint, bigint, bigint, bigint];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(Number(mul(rotl(mul(s[1], 5n), 7n), 9n)));
    const t = (s[1] << 9n) & M32;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11n);
  }
  return out;
}

const take = (r: Rng, n: number) => Array.from({ length: n }, () => r.u32());

describe("Rng", () => {
  it("is xoshiro128** seeded by splitmix32, for any 32-bit seed", () => {
    for (const seed of [0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff])
      expect(take(new Rng(seed), 64), `seed ${seed}`).toEqual(reference(seed, 64));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (seed) => {
        expect(take(new Rng(seed), 16)).toEqual(reference(seed, 16));
      }),
      { numRuns: runs(200), seed: 19 },
    );
  });

  it("pins the first outputs (a seed names the same generated states in every version)", () => {
    expect(take(new Rng(0), 4)).toEqual(reference(0, 4));
    expect(take(new Rng(0), 4).map((x) => x.toString(16))).toMatchInlineSnapshot(`
      [
        "e308dc58",
        "4392d0e4",
        "3318f97",
        "ac593a63",
      ]
    `);
    expect(take(Rng.derive(7, 0), 2).map((x) => x.toString(16))).toMatchInlineSnapshot(`
      [
        "5883d8c2",
        "72000792",
      ]
    `);
    expect(take(Rng.derive(7, 1), 2).map((x) => x.toString(16))).toMatchInlineSnapshot(`
      [
        "3d373fd6",
        "137aae54",
      ]
    `);
  });

  it("derive(seed, i) is the stream of seed·0x9e3779b1 XOR (i+1)·0x85ebca77 (mod 2^32)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.nat(1e6), (seed, i) => {
        const s = Number(mul(BigInt(seed), 0x9e3779b1n) ^ mul(BigInt(i + 1), 0x85ebca77n));
        expect(take(Rng.derive(seed, i), 4)).toEqual(reference(s, 4));
      }),
      { numRuns: runs(200), seed: 20 },
    );
    // different indexes, different streams
    const firsts = new Set(Array.from({ length: 1000 }, (_, i) => Rng.derive(3, i).u32()));
    expect(firsts.size).toBe(1000);
  });

  it("clone replays the same sequence, and the two advance independently", () => {
    const r = new Rng(42);
    take(r, 5);
    const c = r.clone();
    const a = take(r, 8);
    expect(take(c, 8)).toEqual(a);
    expect(take(new Rng(42), 13).slice(5)).toEqual(a);
    // advancing the copy did not advance the original, and vice versa
    const d = r.clone();
    take(d, 3);
    expect(take(r, 2)).toEqual(reference(42, 15).slice(13, 15));
  });

  it("float is u32 / 2^32, in [0, 1)", () => {
    const a = new Rng(9);
    const b = new Rng(9);
    for (let i = 0; i < 100; i++) {
      const f = a.float();
      expect(f).toBe(b.u32() / 2 ** 32);
      expect(f).toBeGreaterThanOrEqual(0);
      expect(f).toBeLessThan(1);
    }
  });

  it("int(n) is floor(float·n): every value of [0, n) and no other", () => {
    const a = new Rng(5);
    const b = new Rng(5);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = a.int(7);
      expect(v).toBe(Math.floor(b.float() * 7));
      seen.add(v);
    }
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it("range(lo, hi) covers both ends and nothing outside", () => {
    const r = new Rng(6);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(r.range(3, 8));
    expect([...seen].sort()).toEqual([3, 4, 5, 6, 7, 8]);
    expect(new Rng(1).range(4, 4)).toBe(4);
  });

  it("bool(p) is float < p: never at 0, always at 1, about half by default", () => {
    const r = new Rng(8);
    const check = new Rng(8);
    let trues = 0;
    for (let i = 0; i < 4000; i++) {
      const b = r.bool();
      expect(b).toBe(check.float() < 0.5);
      if (b) trues++;
    }
    expect(trues).toBeGreaterThan(1800);
    expect(trues).toBeLessThan(2200);
    const z = new Rng(10);
    for (let i = 0; i < 200; i++) {
      expect(z.bool(0)).toBe(false);
      expect(z.bool(1)).toBe(true);
    }
    // a probability is honoured: 0.1 gives about a tenth
    const t = new Rng(11);
    let n = 0;
    for (let i = 0; i < 4000; i++) if (t.bool(0.1)) n++;
    expect(n).toBeGreaterThan(300);
    expect(n).toBeLessThan(500);
  });

  it("pick returns each element, uniformly drawn by int(length)", () => {
    const r = new Rng(12);
    const check = new Rng(12);
    const xs = ["a", "b", "c", "d"];
    const seen = new Set<string>();
    for (let i = 0; i < 400; i++) {
      const x = r.pick(xs);
      expect(x).toBe(xs[check.int(4)]);
      seen.add(x);
    }
    expect(seen.size).toBe(4);
  });

  it("shuffle is an in-place Fisher–Yates permutation reaching every order", () => {
    const r = new Rng(13);
    const orders = new Map<string, number>();
    for (let i = 0; i < 6000; i++) {
      const xs = [1, 2, 3];
      const out = r.shuffle(xs);
      expect(out).toBe(xs);
      expect([...out].sort()).toEqual([1, 2, 3]);
      const k = out.join("");
      orders.set(k, (orders.get(k) ?? 0) + 1);
    }
    // uniform: each of the 6 orders about 1000 times (a biased swap, e.g. j drawn from [0, i), misses some)
    expect(orders.size).toBe(6);
    for (const [k, n] of orders) {
      expect(n, k).toBeGreaterThan(850);
      expect(n, k).toBeLessThan(1150);
    }
    // the swaps are the textbook ones: j = int(i + 1) for i from the end down to 1
    const a = new Rng(14);
    const b = new Rng(14);
    const xs = [0, 1, 2, 3, 4, 5, 6, 7];
    const ys = [...xs];
    a.shuffle(xs);
    for (let i = ys.length - 1; i > 0; i--) {
      const j = b.int(i + 1);
      [ys[i], ys[j]] = [ys[j]!, ys[i]!];
    }
    expect(xs).toEqual(ys);
    // one element, none: unchanged
    expect(new Rng(1).shuffle([9])).toEqual([9]);
    expect(new Rng(1).shuffle([])).toEqual([]);
  });
});
