/** 64-bit values as two unsigned 32-bit halves (the hot path never uses BigInt). */

export function lo32(v: bigint): number {
  return Number(v & 0xffffffffn);
}
export function hi32(v: bigint): number {
  return Number((v >> 32n) & 0xffffffffn);
}
export function join64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** "0x" + hex of a 64-bit value given as halves. */
export function hex64(lo: number, hi: number): string {
  return hi >>> 0
    ? `0x${(hi >>> 0).toString(16)}${(lo >>> 0).toString(16).padStart(8, "0")}`
    : `0x${(lo >>> 0).toString(16)}`;
}
/**
 * "0x" + hex of a value: a bigint, or a number — exactly as it is when not negative (an address up to 2^53
 * keeps every digit, bits above 31 included), as its 32-bit pattern when negative (a bitwise result).
 */
export function hex(v: number | bigint): string {
  if (typeof v === "bigint") return `0x${v.toString(16)}`;
  return `0x${(v < 0 ? v >>> 0 : v).toString(16)}`;
}

/** Mask of bits [n, 63] split in halves: the bits beyond an n-bit width. */
export function bitsFrom(n: number): { lo: number; hi: number } {
  if (n >= 64) return { lo: 0, hi: 0 };
  if (n >= 32) return { lo: 0, hi: (~0 << (n - 32)) >>> 0 };
  return { lo: (~0 << n) >>> 0, hi: 0xffffffff };
}

/**
 * Canonical for an n-bit linear-address width (48 or 57): bits 63:n-1 all equal (SDM Vol. 1 3.3.7.1).
 * With the halves: bits 63:32 must be the sign extension of bit n-1.
 */
export function isCanonical(_lo: number, hi: number, bits: number): boolean {
  // bit index n-1 lives in the high half (n = 48 or 57)
  const shift = 64 - bits; // sign-extend bits n-1..32 across 63..32
  const h = hi | 0;
  return (h << shift) >> shift === h;
}

const HEX = /^0x[0-9a-f]+$/i;
const DEC = /^[0-9]+$/;

/** A string in the entry schema's number syntax (hex "0x..." or decimal digits), whatever its magnitude. */
export function isNumberSyntax(v: unknown): v is string {
  return typeof v === "string" && (HEX.test(v) || DEC.test(v));
}

/** Parse a hex ("0x..") or decimal string or a safe integer; undefined when malformed. */
export function parseU64(v: unknown): bigint | undefined {
  if (typeof v === "number") return Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : undefined;
  if (typeof v !== "string") return undefined;
  const t = v.trim();
  if (HEX.test(t) || DEC.test(t)) return BigInt(t);
  return undefined;
}

const DEC_SHORT = /^[0-9]{1,15}$/;

/**
 * Parse like parseU64 but into [lo, hi] 32-bit halves without BigInt for the common short forms (the
 * entry-document hot path); undefined when malformed or wider than 64 bits.
 */
export function parseHalves(v: unknown): [number, number] | undefined {
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v) || v < 0) return undefined;
    return [v % 0x100000000, Math.floor(v / 0x100000000)];
  }
  if (typeof v !== "string") return undefined;
  const n = v.length;
  // "0x" + 1..16 hex digits, parsed by hand (the hot path of batch checking: no regex, no BigInt)
  if (n > 2 && n <= 18 && v.charCodeAt(0) === 48 && (v.charCodeAt(1) | 0x20) === 120) {
    let lo = 0;
    let hi = 0;
    for (let i = 2; i < n; i++) {
      const c = v.charCodeAt(i);
      const d = c >= 48 && c <= 57 ? c - 48 : (c | 0x20) >= 97 && (c | 0x20) <= 102 ? (c | 0x20) - 87 : -1;
      if (d < 0) return undefined;
      hi = ((hi << 4) | (lo >>> 28)) >>> 0;
      lo = ((lo << 4) | d) >>> 0;
    }
    return [lo, hi];
  }
  if (DEC_SHORT.test(v)) {
    const x = Number(v);
    return [x % 0x100000000, Math.floor(x / 0x100000000)];
  }
  // Exactly the entry schema's value syntax: no surrounding spaces (parseU64 trims, for log parsers). Leading
  // zeros are skipped before converting, so a huge value is refused in linear time.
  const start = HEX.test(v) ? 2 : DEC.test(v) ? 0 : -1;
  if (start < 0) return undefined;
  let i = start;
  while (i < n - 1 && v.charCodeAt(i) === 48) i++;
  if (n - i > (start ? 16 : 20)) return undefined;
  const b = BigInt(start ? `0x${v.slice(i)}` : v.slice(i));
  if (b >= 1n << 64n) return undefined;
  return [lo32(b), hi32(b)];
}

/** Value of an ASCII hex digit by byte (0-15), -1 for any other byte: for parsers that read UTF-8 bytes. */
export const HEX_DIGIT: Int8Array = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let c = 0; c < 10; c++) t[48 + c] = c;
  for (let c = 0; c < 6; c++) t[65 + c] = t[97 + c] = 10 + c;
  return t;
})();
