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
  PROCESSOR_KEYS,
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
/** Keys of the chain tried after a wrong guess (fields left out) before a lookup. */
const SKIPS = 4;

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
 * their fields in one order: a correct guess costs one comparison, eight bytes at a time, and no hashing.
 */
class KeyTable {
  private static readonly SLOTS = 2048;
  private static readonly MAX_KEYS = 1024;
  private readonly slots = new Int32Array(KeyTable.SLOTS).fill(-1);
  /**
   * Each key's bytes and closing quote as little-endian 64-bit words read as doubles: at 0, 8, 16, ... and a
   * last one that ends at the quote (overlapping the one before), so a comparison needs no byte loop. Equal
   * doubles are equal bytes here: a key's words are printable ASCII, so never NaN (which needs a top byte
   * 7F or FF) nor ±0, the only doubles equal with other bits. Keys of fewer than 7 characters (a hex
   * encoding, "0x681e") are two overlapping 32-bit words in `shortWords`.
   */
  private words = new Float64Array(1 << 11);
  private usedWords = 0;
  private shortWords = new Int32Array(1 << 8);
  private usedShort = 0;
  private readonly firstWord = new Int32Array(KeyTable.MAX_KEYS);
  readonly length = new Int32Array(KeyTable.MAX_KEYS);
  /** VMCS slot written: field index · 2 + 1 for the high half of a 64-bit field (access type high). */
  readonly slot = new Int32Array(KeyTable.MAX_KEYS);
  readonly width = new Int8Array(KeyTable.MAX_KEYS);
  /**
   * next[k + 1]: the key seen after key k (k = -1: first key of the object), as last found by a lookup. A
   * document that leaves out some fields (zero fields are left out) follows the chain with skips.
   */
  readonly next = new Int32Array(KeyTable.MAX_KEYS + 1).fill(-1);
  private count = 0;

  constructor() {
    // The chain starts as the order nvmx writes documents in (serializeEntry, `nvmx gen`: FIELDS order).
    let prev = -1;
    for (const f of FIELDS)
      if (f.type !== "read-only") {
        const k = this.add(f.name, hashOf(f.name), f.index, false, f.width);
        this.next[prev + 1] = k;
        prev = k;
      }
  }

  /** True when bytes[at ..] hold key k and its closing quote (within `end`). */
  matches(dv: DataView, at: number, end: number, k: number): boolean {
    const n = this.length[k]! + 1;
    if (at + n > end) return false;
    let i = this.firstWord[k]!;
    if (n < 8) {
      const w = this.shortWords;
      return dv.getInt32(at, true) === w[i] && dv.getInt32(at + n - 4, true) === w[i + 1];
    }
    const w = this.words;
    for (let j = 0; j < n - 8; j += 8) if (dv.getFloat64(at + j, true) !== w[i++]) return false;
    return dv.getFloat64(at + n - 8, true) === w[i];
  }

  /**
   * The key starting at `at`, after key `prev` (-1: the first), when it is not the one that came next last
   * time: fields left out make it one of the next few keys of the chain; else a lookup, which relinks the
   * chain. FAIL for a key the fast path leaves alone.
   */
  after(b: Buffer, dv: DataView, at: number, end: number, prev: number): number {
    for (let i = 0, g = this.next[prev + 1]!; i < SKIPS && g >= 0; i++) {
      g = this.next[g + 1]!;
      if (g >= 0 && this.matches(dv, at, end, g)) return g;
    }
    const k = this.find(b, dv, at, end);
    if (k !== FAIL) this.next[prev + 1] = k;
    return k;
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
    if (n < 8) {
      if (this.usedShort + 2 > this.shortWords.length) this.shortWords = grown(this.shortWords);
      this.firstWord[k] = this.usedShort;
      this.shortWords[this.usedShort++] = view.getInt32(0, true);
      this.shortWords[this.usedShort++] = view.getInt32(n - 4, true);
    } else {
      if (this.usedWords + (n >> 3) + 2 > this.words.length) this.words = grown(this.words);
      this.firstWord[k] = this.usedWords;
      for (let j = 0; j < n - 8; j += 8) this.words[this.usedWords++] = view.getFloat64(j, true);
      this.words[this.usedWords++] = view.getFloat64(n - 8, true);
    }
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

function grown<T extends Int32Array | Float64Array>(a: T): T {
  const b = new (a.constructor as new (n: number) => T)(a.length * 2);
  b.set(a);
  return b;
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

/** bytes[at ..] begin with `expected` (within `end`). */
function startsWith(b: Uint8Array, at: number, end: number, expected: Uint8Array): boolean {
  return at + expected.length <= end && bytesEqual(b, at, at + expected.length, expected);
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

/** Bytes [start, end) are a JSON string of printable ASCII without escapes (its text is its value). */
function isPlainString(b: Buffer, start: number, end: number): boolean {
  if (b[start] !== QUOTE) return false;
  for (let p = start + 1; p < end - 1; p++) {
    const c = b[p]!;
    if (c === BACKSLASH || c < 0x20 || c >= 0x80) return false;
  }
  return true;
}

/** The JSON value in bytes [start, end): a plain ASCII string without a string copy of more, else JSON.parse. */
function jsonValue(b: Buffer, start: number, end: number): unknown {
  if (isPlainString(b, start, end)) return b.toString("latin1", start + 1, end - 1);
  try {
    return JSON.parse(b.toString("utf8", start, end));
  } catch {
    return NOT_JSON;
  }
}

/** Value of two ASCII hex digits by their bytes read as a little-endian 16-bit word, -1 otherwise. */
const HEX_PAIR: Int16Array = (() => {
  const t = new Int16Array(1 << 16).fill(-1);
  const digits = [...HEX_DIGIT.keys()].filter((c) => HEX_DIGIT[c]! >= 0);
  for (const a of digits) for (const b of digits) t[a | (b << 8)] = (HEX_DIGIT[a]! << 4) | HEX_DIGIT[b]!;
  return t;
})();

/** `memory` (or `processor`) was read by the fast reader into the scanner's reused memory (processor state). */
const FAST: unique symbol = Symbol("read by the fast reader");

/**
 * The keys of `processor` and the kind of value each takes (parseProcessor's table), with their bytes and
 * closing quote. The values the fast reader takes: true/false, the two instruction or launch-state strings, a
 * CPL digit, an address as a JSON integer of at most 15 digits or "0x" and at most 14 hex digits below 2^52.
 * Anything else goes to JSON.parse + parseProcessor.
 */
const PROCESSOR_FIELDS = Object.entries(PROCESSOR_KEYS) as [
  keyof ProcessorState,
  (typeof PROCESSOR_KEYS)[keyof ProcessorState],
][];
const PROCESSOR_KEY_BYTES = PROCESSOR_FIELDS.map(([k]) => Buffer.from(`${k}"`, "latin1"));
/** The values of the other kinds, with their JSON bytes. */
const PROCESSOR_VALUES = Object.fromEntries(
  Object.entries({
    bool: [true, false],
    instruction: ["vmlaunch", "vmresume"],
    launch: ["clear", "launched"],
  }).map(([kind, values]) => [
    kind,
    values.map((value) => ({ value, bytes: Buffer.from(JSON.stringify(value), "latin1") })),
  ]),
) as Record<"bool" | "instruction" | "launch", { value: unknown; bytes: Buffer }[]>;

/** A processor state with every key (the optional ones undefined), reset to the defaults per document. */
function freshProcessor(): ProcessorState {
  const p = { ...DEFAULT_PROCESSOR, currentVmcsPointer: undefined } as ProcessorState;
  // The address keys take small integers, large ones and undefined: give them every kind of value now, so
  // that V8 does not change the object's layout (and drop the code optimized for it) when a document first
  // gives one above 2^31 or none.
  for (const v of [1, 2 ** 40, undefined]) p.vmxonPointer = p.currentVmcsPointer = v;
  p.vmxonPointer = DEFAULT_PROCESSOR.vmxonPointer;
  return p;
}
/** Keys of one `memory` object the fast reader takes (more: the exact parser). */
const MAX_MEMORY_KEYS = 64;
const TWO52 = 2 ** 52;

/**
 * Reads entry documents from bytes into one VMCS store that it reuses: an entry returned by `scan` is valid
 * until the next call (the batch checker is done with it by then).
 */
export class EntryScanner {
  private readonly vmcs = new Vmcs();
  /**
   * The memory of every document whose `memory` object `memoryObject` reads, and of those without one (then
   * empty): one object, so that the runner keeps its context (src/entry/run.ts).
   */
  private readonly mem = new Memory();
  /** `mem` may hold words: clear it before its next use. */
  private memUsed = false;
  /**
   * The processor state of every document whose `processor` the fast reader takes, or that has none (then
   * the defaults): one object, with every key, for the same reason. parseProcessor's result for the same
   * text, value for value (an optional key it leaves out is undefined here).
   */
  private readonly proc = freshProcessor();
  /** Keys of `proc` that may differ from the defaults (bit i: PROCESSOR_FIELDS[i]). */
  private procDirty = 0;
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
    // `memory` and `processor` in the common shape: read at once (a whole JSON object when they succeed).
    if (key === MEMORY) {
      const q = this.memoryObject(b, p, end);
      if (q !== FAIL) {
        this.memory = FAST;
        return q;
      }
    } else if (key === PROCESSOR) {
      const q = this.processorObject(b, p, end);
      if (q !== FAIL) {
        this.processor = FAST;
        return q;
      }
    }
    const valueEnd = skipValue(b, p, end);
    if (valueEnd === FAIL || valueEnd === p) return FAIL;
    if (key === FORMAT_KEY) return bytesEqual(b, p, valueEnd, FORMAT_JSON) ? valueEnd : FAIL;
    if (key !== CPU && key !== PROCESSOR && key !== MEMORY)
      // comment, description: strings, not read; one that is not plain is checked to be JSON
      return b[p] === QUOTE && (isPlainString(b, p, valueEnd) || jsonValue(b, p, valueEnd) !== NOT_JSON)
        ? valueEnd
        : FAIL;
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
      processor = this.proc;
      if (this.processor === undefined) this.resetProcessor();
      else if (this.processor !== FAST) {
        const parsed = parseProcessor(this.processor);
        this.resetProcessor();
        Object.assign(processor, parsed);
        this.procDirty = (1 << PROCESSOR_FIELDS.length) - 1;
      }
      if (this.memory === undefined) {
        memory = this.mem;
        if (this.memUsed) {
          this.mem.clear();
          this.memUsed = false;
        }
      } else memory = this.memory === FAST ? this.mem : parseMemory(this.memory);
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
    const dv = this.dv;
    const v = this.vmcs.v;
    const stamps = this.stamps;
    const serial = this.serial;
    let prev = -1;
    for (;;) {
      if (b[p] !== QUOTE) return FAIL;
      const at = p + 1;
      let k = keys.next[prev + 1]!;
      if (k < 0 || !keys.matches(dv, at, end, k)) {
        k = keys.after(b, dv, at, end, prev);
        if (k === FAIL) return FAIL;
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
        // four digits at a time, then maybe two, then maybe one
        for (; q + 3 < end; q += 4) {
          const x = dv.getInt32(q, true);
          const d1 = HEX_PAIR[x & 0xffff]!;
          const d2 = HEX_PAIR[x >>> 16]!;
          if ((d1 | d2) < 0) break;
          hi = (hi << 16) | (lo >>> 16);
          lo = (lo << 16) | (d1 << 8) | d2;
        }
        const pair = q + 1 < end ? HEX_PAIR[dv.getUint16(q, true)]! : -1;
        if (pair >= 0) {
          hi = (hi << 8) | (lo >>> 24);
          lo = (lo << 8) | pair;
          q += 2;
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

  /** The defaults back in `proc` (undefined for the keys without a default). */
  private resetProcessor(): void {
    const proc = this.proc as unknown as Record<string, unknown>;
    for (let m = this.procDirty, i = 0; m !== 0; m >>>= 1, i++)
      if (m & 1) {
        const name = PROCESSOR_FIELDS[i]![0];
        proc[name] = DEFAULT_PROCESSOR[name];
      }
    this.procDirty = 0;
  }

  /**
   * Read a `processor` object at p into the reused processor state, as parseProcessor would, in the common
   * shape (PROCESSOR_FIELDS, each key once). Position after it, or FAIL for anything else: then the caller
   * takes the JSON.parse + parseProcessor path, which decides and names any problem.
   */
  private processorObject(b: Buffer, p: number, end: number): number {
    if (b[p] !== LBRACE) return FAIL;
    this.resetProcessor();
    const proc = this.proc as unknown as Record<string, unknown>;
    let seen = 0;
    p = skipWs(b, p + 1, end);
    if (b[p] === RBRACE) return p + 1;
    for (;;) {
      if (b[p] !== QUOTE) return FAIL;
      let i = 0;
      while (i < PROCESSOR_FIELDS.length && !startsWith(b, p + 1, end, PROCESSOR_KEY_BYTES[i]!)) i++;
      if (i === PROCESSOR_FIELDS.length || seen & (1 << i)) return FAIL;
      seen |= 1 << i;
      const [name, kind] = PROCESSOR_FIELDS[i]!;
      p = skipWs(b, p + 1 + PROCESSOR_KEY_BYTES[i]!.length, end);
      if (b[p] !== COLON) return FAIL;
      p = skipWs(b, p + 1, end);
      let value: unknown;
      if (kind === "cpl") {
        const cpl = b[p]! - ZERO;
        if (!(cpl >= 0 && cpl <= 3)) return FAIL;
        value = cpl;
        p++;
      } else if (kind === "addr") {
        p = this.address(b, p, end);
        if (p === FAIL) return FAIL;
        value = this.lo;
      } else {
        const known = PROCESSOR_VALUES[kind].find((x) => startsWith(b, p, end, x.bytes));
        if (!known) return FAIL;
        value = known.value;
        p += known.bytes.length;
      }
      proc[name] = value;
      this.procDirty |= 1 << i;
      p = skipWs(b, p, end);
      if (b[p] === RBRACE) return p + 1;
      if (b[p] !== COMMA) return FAIL;
      p = skipWs(b, p + 1, end);
    }
  }

  /**
   * A physical address at p into lo (a whole number): a JSON integer of 1-15 digits (no leading zero) or a
   * string of "0x" and 1-13 hex digits, below 2^52. Position after it, or FAIL.
   */
  private address(b: Buffer, p: number, end: number): number {
    if (b[p] === QUOTE) {
      if (b[p + 1] !== ZERO || (b[p + 2]! | 0x20) !== 0x78) return FAIL;
      let a = 0;
      let q = p + 3;
      for (; q < end && q - p - 3 < 14; q++) {
        const d = HEX_DIGIT[b[q]!]!;
        if (d < 0) break;
        a = a * 16 + d;
      }
      if (q === p + 3 || a >= TWO52 || b[q] !== QUOTE) return FAIL;
      this.lo = a;
      return q + 1;
    }
    if (b[p] === ZERO && b[p + 1]! >= ZERO && b[p + 1]! <= NINE) return FAIL;
    const q = this.decimal(b, p, end);
    if (q === FAIL) return FAIL;
    const c = b[q];
    if (!(q === end || c === COMMA || c === RBRACE || isWs(c!))) return FAIL;
    this.lo += this.hi * 0x100000000;
    return this.lo < TWO52 ? q : FAIL;
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
    if (this.memUsed) mem.clear();
    this.memUsed = true;
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
