/**
 * A fast reader for `nvmx-entry/1` documents given as UTF-8 bytes (one NDJSON line), for batch checking
 * (`nvmx check --json` on a stream). It reads the `vmcs` object straight from the bytes into a reused
 * VMCS store — no JSON.parse, no string per key or value, no BigInt, no allocation per field — which is
 * where a document's parsing time went (~70 fields of ~2.2 KB: JSON.parse built an object of 70 strings,
 * then every key was looked up and every value parsed again).
 *
 * It never reports an error. Whenever a line strays from the well-formed common case — an escape, an
 * unknown, duplicate or integer-like key, a value that is not a plain hex/decimal string or small integer or
 * does not fit its field, anything that is not plain JSON — `scan` returns undefined and the caller parses the
 * line with `parseEntryText`, which decides it and names the problem precisely. So validation costs nothing
 * extra on good input, error messages come from one implementation, and for every line `scan` accepts it
 * yields the same entry as `parseEntryText`: keys are taken in document order (JSON.parse's order too, as
 * integer-like keys and duplicates are left to the slow path) and the other top-level values are handed to
 * the same validators (`resolveCaps`, `parseProcessor`, `parseMemory`) after JSON.parse of their text alone.
 */
import { FIELD_COUNT, FIELDS, resolveFieldKey } from "../arch/fields.js";
import type { Caps } from "../cpu/profile.js";
import { HEX_DIGIT } from "../util/u64.js";
import { Memory } from "../vmcs/memory.js";
import { Vmcs } from "../vmcs/store.js";
import {
  type Entry,
  FORMAT,
  type ParseOptions,
  parseMemory,
  parseProcessor,
  resolveCaps,
} from "./document.js";
import { DEFAULT_PROCESSOR, type ProcessorState } from "./processor.js";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const ZERO = 0x30;
const NINE = 0x39;
const FAIL = -1;

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Width class of a slot write: the value must fit 16 or 32 bits, or any 64. */
enum Width {
  W16 = 0,
  W32 = 1,
  W64 = 2,
}

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/**
 * The keys of a `vmcs` object, as bytes: KVM names up front, other spellings (aliases, hex encodings,
 * `_HIGH`) added as `resolveFieldKey` resolves them. Open addressing on an FNV-1a hash, verified byte by
 * byte; plus, for each key, the key that followed it last time, since a stream's documents usually list
 * their fields in one order: a correct guess costs one comparison, four bytes at a time, and no hashing.
 */
class KeyTable {
  private static readonly SLOTS = 2048;
  private static readonly MAX_KEYS = 1024;
  private readonly slots = new Int32Array(KeyTable.SLOTS).fill(-1);
  /**
   * Each key's bytes and closing quote as little-endian 32-bit words: at 0, 4, 8, ... and a last one that
   * ends at the quote (overlapping the one before), so a comparison needs no byte loop.
   */
  private words = new Int32Array(1 << 12);
  private usedWords = 0;
  private readonly firstWord = new Int32Array(KeyTable.MAX_KEYS);
  readonly length = new Int32Array(KeyTable.MAX_KEYS);
  /** VMCS slot written: field index · 2 + 1 for the high half of a 64-bit field (access type high). */
  readonly slot = new Int32Array(KeyTable.MAX_KEYS);
  readonly width = new Int8Array(KeyTable.MAX_KEYS);
  /** next[k + 1]: the key seen after key k last time (k = -1: first key of the object). */
  readonly next = new Int32Array(KeyTable.MAX_KEYS + 1).fill(-1);
  private count = 0;

  constructor() {
    for (const f of FIELDS)
      if (f.type !== "read-only") this.add(f.name, hashOf(f.name), f.index, false, f.width);
  }

  /** True when bytes[at ..] hold key k and its closing quote (within `end`). */
  matches(dv: DataView, at: number, end: number, k: number): boolean {
    const n = this.length[k]! + 1;
    if (at + n > end) return false;
    const w = this.words;
    let i = this.firstWord[k]!;
    for (let j = 0; j < n - 4; j += 4) if (dv.getInt32(at + j, true) !== w[i++]) return false;
    return dv.getInt32(at + n - 4, true) === w[i];
  }

  /** The key starting at `at` (just after its opening quote), or FAIL for a key the fast path leaves alone. */
  find(b: Buffer, dv: DataView, at: number, end: number): number {
    let h = FNV_OFFSET;
    let p = at;
    for (; p < end; p++) {
      const c = b[p]!;
      if (c === QUOTE) break;
      if (c === BACKSLASH || c < 0x20 || c >= 0x80) return FAIL;
      h = Math.imul(h ^ c, FNV_PRIME);
    }
    // Keys of fewer than 3 characters are no field's (and the word comparison needs 4 bytes).
    if (p >= end || p - at < 3) return FAIL;
    const mask = KeyTable.SLOTS - 1;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const k = this.slots[s]!;
      if (k < 0) break;
      if (this.length[k] === p - at && this.matches(dv, at, end, k)) return k;
    }
    return this.resolve(b.toString("latin1", at, p), h);
  }

  /** A spelling not seen yet: resolve it like parseEntry, remember it when the fast path can take it. */
  private resolve(key: string, h: number): number {
    // JSON.parse puts integer-like keys first, out of document order: leave those to it.
    if (/^[0-9]+$/.test(key) || this.count >= KeyTable.MAX_KEYS / 2) return FAIL;
    const r = resolveFieldKey(key);
    if (!r || r.field.type === "read-only") return FAIL;
    return this.add(key, h, r.field.index, r.high, r.field.width);
  }

  private add(key: string, h: number, index: number, high: boolean, width: number | string): number {
    const k = this.count++;
    const bytes = Buffer.from(`${key}"`, "latin1");
    const n = bytes.length;
    const view = new DataView(bytes.buffer, bytes.byteOffset, n);
    if (this.usedWords + (n >> 2) + 2 > this.words.length) {
      const bigger = new Int32Array(this.words.length * 2);
      bigger.set(this.words);
      this.words = bigger;
    }
    this.firstWord[k] = this.usedWords;
    for (let j = 0; j < n - 4; j += 4) this.words[this.usedWords++] = view.getInt32(j, true);
    this.words[this.usedWords++] = view.getInt32(n - 4, true);
    this.length[k] = key.length;
    this.slot[k] = (index << 1) | (high ? 1 : 0);
    this.width[k] = high || width === 32 ? Width.W32 : width === 16 ? Width.W16 : Width.W64;
    const mask = KeyTable.SLOTS - 1;
    let s = h & mask;
    while (this.slots[s]! >= 0) s = (s + 1) & mask;
    this.slots[s] = k;
    return k;
  }
}

function hashOf(s: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h;
}

/** Top-level keys of an entry document (docs/contract.md §1); their bytes with the closing quote. */
const TOP = ["vmcs", "cpu", "format", "processor", "memory", "comment", "description"] as const;
const [VMCS, CPU, FORMAT_KEY, PROCESSOR, MEMORY] = [0, 1, 2, 3, 4] as const;
const TOP_BYTES = TOP.map((k) => Buffer.from(`${k}"`, "latin1"));
const FORMAT_JSON = Buffer.from(JSON.stringify(FORMAT), "latin1");

function bytesEqual(b: Uint8Array, start: number, end: number, expected: Uint8Array): boolean {
  if (end - start !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (b[start + i] !== expected[i]) return false;
  return true;
}

/** Position just after the JSON value starting at p (which JSON.parse then validates), or FAIL. */
function skipValue(b: Uint8Array, p: number, end: number): number {
  let depth = 0;
  for (; p < end; p++) {
    const c = b[p]!;
    if (c === QUOTE) {
      for (p++; p < end && b[p] !== QUOTE; p++) if (b[p] === BACKSLASH) p++;
      if (p >= end) return FAIL;
      if (depth === 0) return p + 1;
    } else if (c === LBRACE || c === LBRACKET) depth++;
    else if (depth === 0 && (c === COMMA || c === RBRACE || c === RBRACKET || isWs(c))) return p;
    else if ((c === RBRACE || c === RBRACKET) && --depth === 0) return p + 1;
  }
  return depth === 0 ? p : FAIL;
}

const NOT_JSON: unique symbol = Symbol("not JSON");

/** The JSON value in bytes [start, end): a plain ASCII string without a string copy of more, else JSON.parse. */
function jsonValue(b: Buffer, start: number, end: number): unknown {
  if (b[start] === QUOTE) {
    let plain = true;
    for (let p = start + 1; p < end - 1 && plain; p++) {
      const c = b[p]!;
      plain = c !== BACKSLASH && c >= 0x20 && c < 0x80;
    }
    if (plain) return b.toString("latin1", start + 1, end - 1);
  }
  try {
    return JSON.parse(b.toString("utf8", start, end));
  } catch {
    return NOT_JSON;
  }
}

/** Value of two ASCII hex digits by their bytes read as a little-endian 16-bit word, -1 otherwise. */
const HEX_PAIR: Int16Array = (() => {
  const t = new Int16Array(1 << 16).fill(-1);
  for (let a = 0; a < 256; a++)
    for (let b = 0; b < 256; b++)
      if (HEX_DIGIT[a]! >= 0 && HEX_DIGIT[b]! >= 0) t[a | (b << 8)] = (HEX_DIGIT[a]! << 4) | HEX_DIGIT[b]!;
  return t;
})();

/** Memory of documents without `memory`: nothing reads as nonzero, and checks only read it. */
const NO_MEMORY = new Memory();
/** `memory` was read by the fast reader into the scanner's reused memory. */
const FAST_MEMORY: unique symbol = Symbol("fast memory");
/** Keys of one `memory` object the fast reader takes (more: the exact parser). */
const MAX_MEMORY_KEYS = 64;
const TWO52 = 2 ** 52;

/**
 * Reads entry documents from bytes into one VMCS store that it reuses: an entry returned by `scan` is valid
 * until the next call (the batch checker is done with it by then).
 */
export class EntryScanner {
  private readonly vmcs = new Vmcs();
  /** The memory of the current document, when its `memory` object was read by `memoryObject`. */
  private readonly mem = new Memory();
  /** Addresses of the current `memory` object's keys (duplicates go to the exact parser). */
  private readonly memKeys = new Float64Array(MAX_MEMORY_KEYS);
  private readonly keys = new KeyTable();
  /** stamps[slot] = serial of the document that last wrote the slot: finds duplicate keys. */
  private readonly stamps = new Int32Array(FIELD_COUNT * 2);
  private serial = 0;
  private buf: Buffer | undefined;
  private dv: DataView = new DataView(new ArrayBuffer(0));
  /** The value just read by `number` (halves). */
  private lo = 0;
  private hi = 0;
  /** Top-level keys seen in the current document (bit i: TOP[i]), and their values. */
  private seen = 0;
  private cpu: unknown;
  /** The `cpu` value last decoded, and its profile. */
  private capsOf: unknown;
  private caps: Caps | undefined;
  private processor: unknown;
  private memory: unknown;
  /** The last `cpu` string, and its JSON bytes: a stream names few profiles (no string per document). */
  private lastCpu: unknown;
  private lastCpuJson = Buffer.alloc(0);

  constructor(private readonly opts: ParseOptions = {}) {}

  /** The entry in bytes [start, end) of `b`, or undefined when the exact parser must decide. */
  scan(b: Buffer, start: number, end: number): Entry | undefined {
    if (b !== this.buf) {
      this.buf = b;
      this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    }
    let p = skipWs(b, start, end);
    if (b[p] !== LBRACE) return undefined;
    this.startDocument();
    p = skipWs(b, p + 1, end);
    for (;;) {
      if (b[p] !== QUOTE) return undefined;
      const key = topKey(b, p + 1, end);
      if (key < 0 || this.seen & (1 << key)) return undefined; // unknown, or twice (JSON.parse keeps the last)
      this.seen |= 1 << key;
      p = skipWs(b, p + TOP[key]!.length + 2, end);
      if (b[p] !== COLON) return undefined;
      p = skipWs(b, p + 1, end);
      p = key === VMCS ? this.vmcsObject(b, p, end) : this.topValue(key, b, p, end);
      if (p === FAIL) return undefined;
      p = skipWs(b, p, end);
      if (b[p] === RBRACE) break;
      if (b[p] !== COMMA) return undefined;
      p = skipWs(b, p + 1, end);
    }
    if (skipWs(b, p + 1, end) !== end || !(this.seen & (1 << VMCS))) return undefined;
    return this.entry();
  }

  private startDocument(): void {
    this.vmcs.v.fill(0);
    this.seen = 0;
    this.cpu = this.processor = this.memory = undefined;
    if (++this.serial === 0x7fffffff) {
      this.serial = 1;
      this.stamps.fill(0);
    }
  }

  /** A top-level value other than `vmcs`, kept for entry(); position after it, or FAIL. */
  private topValue(key: number, b: Buffer, p: number, end: number): number {
    const valueEnd = skipValue(b, p, end);
    if (valueEnd === FAIL || valueEnd === p) return FAIL;
    if (key === FORMAT_KEY) return bytesEqual(b, p, valueEnd, FORMAT_JSON) ? valueEnd : FAIL;
    if (key !== CPU && key !== PROCESSOR && key !== MEMORY) return b[p] === QUOTE ? valueEnd : FAIL; // comment, description: strings
    if (key === MEMORY) {
      const q = this.memoryObject(b, p, end);
      if (q === valueEnd) {
        this.memory = FAST_MEMORY;
        return q;
      }
    }
    if (key === CPU && bytesEqual(b, p, valueEnd, this.lastCpuJson)) {
      this.cpu = this.lastCpu;
      return valueEnd;
    }
    const v = jsonValue(b, p, valueEnd);
    if (v === NOT_JSON) return FAIL;
    if (key === CPU) {
      this.cpu = this.lastCpu = v;
      this.lastCpuJson = Buffer.from(b.subarray(p, valueEnd));
    } else if (key === PROCESSOR) this.processor = v;
    else if (key === MEMORY) this.memory = v;
    return valueEnd;
  }

  /** The entry from the values read, through the same validators as parseEntry; undefined on any doubt. */
  private entry(): Entry | undefined {
    let caps: Caps;
    let processor: ProcessorState;
    let memory: Memory;
    try {
      // An inline profile repeated from the previous line is the same object: decode it once.
      if (this.cpu === undefined || this.cpu !== this.capsOf) {
        this.caps = resolveCaps(this.cpu, this.opts);
        this.capsOf = this.cpu;
      }
      caps = this.caps!;
      // Shared defaults: checks only read the processor state and memory.
      processor =
        this.processor !== undefined ? parseProcessor(this.processor) : (DEFAULT_PROCESSOR as ProcessorState);
      memory =
        this.memory === FAST_MEMORY
          ? this.mem
          : this.memory !== undefined
            ? parseMemory(this.memory)
            : NO_MEMORY;
    } catch {
      return undefined;
    }
    const entry: Entry = { caps, processor, vmcs: this.vmcs, memory };
    if (this.cpu !== undefined && !this.opts.cpu) entry.cpu = this.cpu as Entry["cpu"];
    return entry;
  }

  /**
   * Read the `vmcs` object at p into the store; position after it, or FAIL. The hot loop of batch checking:
   * whitespace is skipped only where a token is not found at once, and "0x..." values are read inline.
   */
  private vmcsObject(b: Buffer, p: number, end: number): number {
    if (b[p] !== LBRACE) return FAIL;
    p = skipWs(b, p + 1, end);
    if (b[p] === RBRACE) return p + 1;
    const keys = this.keys;
    const v = this.vmcs.v;
    const stamps = this.stamps;
    const serial = this.serial;
    let prev = -1;
    for (;;) {
      if (b[p] !== QUOTE) return FAIL;
      const at = p + 1;
      let k = keys.next[prev + 1]!;
      if (k < 0 || !keys.matches(this.dv, at, end, k)) {
        k = keys.find(b, this.dv, at, end);
        if (k === FAIL) return FAIL;
        keys.next[prev + 1] = k;
      }
      prev = k;
      p = at + keys.length[k]! + 1;
      if (b[p] !== COLON) {
        p = skipWs(b, p, end);
        if (b[p] !== COLON) return FAIL;
      }
      p++;
      if (b[p] !== QUOTE) p = skipWs(b, p, end);
      // "0x" + 1-16 hex digits + '"' here, the other forms in number()
      let lo = 0;
      let hi = 0;
      if (b[p] === QUOTE && b[p + 1] === ZERO && (b[p + 2]! | 0x20) === 0x78) {
        const start = p + 3;
        let q = start;
        // two digits at a time, then maybe one
        const dv = this.dv;
        for (; q + 1 < end; q += 2) {
          const d = HEX_PAIR[dv.getUint16(q, true)]!;
          if (d < 0) break;
          hi = (hi << 8) | (lo >>> 24);
          lo = (lo << 8) | d;
        }
        const d = HEX_DIGIT[b[q]!]!;
        if (d >= 0) {
          hi = (hi << 4) | (lo >>> 28);
          lo = (lo << 4) | d;
          q++;
        }
        if (q === start || q - start > 16 || q >= end || b[q] !== QUOTE) return FAIL;
        p = q + 1;
      } else {
        p = this.number(b, p, end);
        if (p === FAIL) return FAIL;
        lo = this.lo;
        hi = this.hi;
      }
      const w = keys.width[k]!;
      if (w !== Width.W64 && (hi !== 0 || (w === Width.W16 && lo >>> 0 > 0xffff))) return FAIL;
      const slot = keys.slot[k]!;
      if (stamps[slot] === serial) return FAIL; // a key twice: JSON.parse keeps the first position
      stamps[slot] = serial;
      // The slot is the field's low half, or the high half of a 64-bit field (access type high).
      v[slot] = lo;
      if ((slot & 1) === 0) v[slot + 1] = hi;
      if (b[p] === COMMA) p++;
      else if (b[p] === RBRACE) return p + 1;
      else {
        p = skipWs(b, p, end);
        if (b[p] === RBRACE) return p + 1;
        if (b[p] !== COMMA) return FAIL;
        p++;
      }
      if (b[p] !== QUOTE) p = skipWs(b, p, end);
    }
  }

  /**
   * Read a `memory` object at p into the reused memory, as parseMemory would, in the common shape: keys
   * "0x..." (8-byte aligned, below 2^52, each once) and arrays of "0x..." strings of 1-16 hex digits. Position
   * after it, or FAIL for anything else (then the caller takes the JSON.parse + parseMemory path, which decides
   * and names any problem). Written in document order, which is parseMemory's (Object.entries) order for keys
   * that are not integer-like and not repeated.
   */
  private memoryObject(b: Buffer, p: number, end: number): number {
    if (b[p] !== LBRACE) return FAIL;
    const mem = this.mem;
    mem.clear();
    const keys = this.memKeys;
    let nkeys = 0;
    p = skipWs(b, p + 1, end);
    if (b[p] === RBRACE) return p + 1;
    for (;;) {
      if (b[p] !== QUOTE || b[p + 1] !== ZERO || (b[p + 2]! | 0x20) !== 0x78) return FAIL;
      let q = p + 3;
      let a = 0;
      for (; q < end; q++) {
        const d = HEX_DIGIT[b[q]!]!;
        if (d < 0) break;
        a = a * 16 + d;
        if (a >= TWO52) return FAIL;
      }
      if (q === p + 3 || b[q] !== QUOTE || a % 8 !== 0 || nkeys === MAX_MEMORY_KEYS) return FAIL;
      for (let i = 0; i < nkeys; i++) if (keys[i] === a) return FAIL;
      keys[nkeys++] = a;
      p = skipWs(b, q + 1, end);
      if (b[p] !== COLON) return FAIL;
      p = skipWs(b, p + 1, end);
      if (b[p] !== LBRACKET) return FAIL;
      p = skipWs(b, p + 1, end);
      if (b[p] === RBRACKET) p++;
      else
        for (let i = 0; ; i++) {
          if (b[p] !== QUOTE || b[p + 1] !== ZERO || (b[p + 2]! | 0x20) !== 0x78) return FAIL;
          const start = p + 3;
          let lo = 0;
          let hi = 0;
          for (q = start; q < end; q++) {
            const d = HEX_DIGIT[b[q]!]!;
            if (d < 0) break;
            hi = (hi << 4) | (lo >>> 28);
            lo = (lo << 4) | d;
          }
          if (q === start || q - start > 16 || b[q] !== QUOTE) return FAIL;
          mem.write32(a + 8 * i, lo);
          mem.write32(a + 8 * i + 4, hi);
          p = skipWs(b, q + 1, end);
          if (b[p] === COMMA) {
            p = skipWs(b, p + 1, end);
            continue;
          }
          if (b[p] !== RBRACKET) return FAIL;
          p++;
          break;
        }
      p = skipWs(b, p, end);
      if (b[p] === RBRACE) return p + 1;
      if (b[p] !== COMMA) return FAIL;
      p = skipWs(b, p + 1, end);
    }
  }

  /**
   * A field value at p other than "0x..." into lo/hi, the forms parseHalves reads without BigInt: 1-15
   * decimal digits in a string, or a JSON integer of at most 15 digits. Position after it, or FAIL.
   */
  private number(b: Buffer, p: number, end: number): number {
    if (b[p] === QUOTE) {
      const q = this.decimal(b, p + 1, end);
      return q === FAIL || b[q] !== QUOTE ? FAIL : q + 1;
    }
    // A JSON number: no leading zero (not JSON), fraction, exponent or sign (left to the exact parser).
    if (b[p] === ZERO && b[p + 1]! >= ZERO && b[p + 1]! <= NINE) return FAIL;
    const q = this.decimal(b, p, end);
    if (q === FAIL) return FAIL;
    const c = b[q];
    return q === end || c === COMMA || c === RBRACE || isWs(c!) ? q : FAIL;
  }

  /** 1-15 decimal digits at p into lo/hi (exact as a double); position after them, or FAIL. */
  private decimal(b: Buffer, p: number, end: number): number {
    let x = 0;
    let q = p;
    for (; q < end; q++) {
      const c = b[q]!;
      if (c < ZERO || c > NINE) break;
      x = x * 10 + (c - ZERO);
    }
    if (q === p || q - p > 15) return FAIL;
    this.lo = x % 0x100000000;
    this.hi = (x - this.lo) / 0x100000000;
    return q;
  }
}

function skipWs(b: Uint8Array, p: number, end: number): number {
  while (p < end && isWs(b[p]!)) p++;
  return p;
}

/** The top-level key starting at `at` (after its quote): its index in TOP, or -1. */
function topKey(b: Uint8Array, at: number, end: number): number {
  for (let i = 0; i < TOP.length; i++) {
    const k = TOP_BYTES[i]!;
    if (at + k.length <= end && bytesEqual(b, at, at + k.length, k)) return i;
  }
  return -1;
}
