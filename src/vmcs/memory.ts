/**
 * Sparse physical memory for the structures VM entry reads (docs/contract.md, the document's `memory`): the
 * MSR-load area, PDPTEs, the revision identifier at the VMCS link pointer, the virtual TPR. Unwritten memory
 * reads 0.
 *
 * Stored as 256-byte chunks of 32-bit words keyed by chunk number, with the last chunk looked up kept at
 * hand: VM entry reads its structures in runs (an MSR-load list is 16-byte entries in a row, read once per
 * MSR-load rule), so a run costs one map lookup instead of one per word (addresses above 2^31 are heap
 * numbers, whose map lookups are slow).
 */
const CHUNK = 256;
const WORDS = CHUNK / 4;
/** The buffer `words` returns (grown when a longer run is asked for). */
let SCRATCH = new Uint32Array(64);

/** The physical memory an entry document defines (the `memory` object), read as VM entry reads it. */
export class Memory {
  private readonly chunks = new Map<number, Uint32Array>();
  /** Nonzero words. */
  private nonzero = 0;
  /** The chunk looked up last (NaN: none; never equal to a key) and its words (undefined: not stored). */
  private lastKey = Number.NaN;
  private lastWords: Uint32Array | undefined = undefined;

  /** Writes and clears, counted: a result's messages, built when first read, check that memory has not changed. */
  version = 0;

  /** Number of nonzero 32-bit words. */
  get size(): number {
    return this.nonzero;
  }

  /**
   * Undo log while a proposal is open (`mark`): address and previous value of every aligned word written, so a
   * rejected proposal is rolled back without a copy of the memory (the generator's propose-and-verify loop).
   */
  private journal: number[] | undefined;

  /** Marks open (nested proposals). */
  private open = 0;

  /** Start (or nest) recording writes; the mark to roll back to or to keep from. */
  mark(): number {
    this.journal ??= [];
    this.open++;
    return this.journal.length;
  }

  /** Undo every write since `mark`, and close it. */
  rollback(mark: number): void {
    const log = this.journal;
    if (log === undefined) return;
    this.journal = undefined;
    for (let i = log.length - 2; i >= mark; i -= 2) this.write32(log[i]!, log[i + 1]!);
    log.length = mark;
    this.close(log);
  }

  /** Keep the writes since `mark`, and close it (an outer mark can still roll them back). */
  keep(_mark: number): void {
    if (this.journal !== undefined) this.close(this.journal);
  }

  private close(log: number[]): void {
    this.open--;
    this.journal = this.open > 0 ? log : undefined;
  }

  /** Writes were recorded since `mark`. */
  changedSince(mark: number): boolean {
    return (this.journal?.length ?? 0) > mark;
  }

  /** Chunks of cleared contents, zeroed, for reuse (a reader reusing one memory allocates none per document). */
  private spare: Uint32Array[] = [];

  /** Forget every word (a reader reusing one memory per document). */
  clear(): void {
    this.version++;
    for (const w of this.chunks.values()) {
      if (this.spare.length >= 64) break;
      this.spare.push(w.fill(0));
    }
    this.chunks.clear();
    this.nonzero = 0;
    this.lastKey = Number.NaN;
    this.lastWords = undefined;
  }

  clone(): Memory {
    const m = new Memory();
    for (const [k, w] of this.chunks) m.chunks.set(k, w.slice());
    m.nonzero = this.nonzero;
    return m;
  }

  /** Physical address from halves (addresses up to 2^53 are exact as numbers). */
  static addr(lo: number, hi: number): number {
    return hi * 0x100000000 + (lo >>> 0);
  }

  private chunk(key: number): Uint32Array | undefined {
    if (key === this.lastKey) return this.lastWords;
    const w = this.chunks.get(key);
    this.lastKey = key;
    this.lastWords = w;
    return w;
  }

  /** The word at a 4-byte-aligned address. */
  private word(base: number): number {
    const key = Math.floor(base / CHUNK);
    const w = this.chunk(key);
    return w === undefined ? 0 : (w[(base - key * CHUNK) >>> 2] ?? 0);
  }

  read32(addr: number): number {
    const r = addr % 4;
    if (r === 0) return this.word(addr);
    // unaligned: the two aligned words it straddles (byte by byte where addresses are not exact numbers)
    if (Number.isSafeInteger(addr + 4)) {
      const base = addr - r;
      return ((this.word(base) >>> (8 * r)) | (this.word(base + 4) << (32 - 8 * r))) >>> 0;
    }
    let v = 0;
    for (let i = 3; i >= 0; i--) v = (v << 8) | this.read8(addr + i);
    return v >>> 0;
  }
  /**
   * `count` consecutive 32-bit words from `addr` (as `read32(addr + 4·k)` gives them), in a buffer shared by
   * every Memory and valid until the next call: one call per walk of an MSR-load area instead of four per
   * entry. Whole chunks are copied at once when `addr` is 4-byte aligned.
   */
  words(addr: number, count: number): Uint32Array {
    let out = SCRATCH;
    if (out.length < count) out = SCRATCH = new Uint32Array(Math.max(count, out.length * 2));
    if (addr % 4 !== 0 || !Number.isSafeInteger(addr + 4 * count)) {
      for (let k = 0; k < count; k++) out[k] = this.read32(addr + 4 * k);
      return out;
    }
    let k = 0;
    while (k < count) {
      const a = addr + 4 * k;
      const key = Math.floor(a / CHUNK);
      const from = (a - key * CHUNK) >>> 2;
      const take = Math.min(WORDS - from, count - k);
      const w = this.chunk(key);
      if (w === undefined) out.fill(0, k, k + take);
      else out.set(w.subarray(from, from + take), k);
      k += take;
    }
    return out;
  }
  read8(addr: number): number {
    const base = addr - (addr % 4);
    return (this.word(base) >>> ((addr - base) * 8)) & 0xff;
  }
  read64(addr: number): bigint {
    return (BigInt(this.read32(addr + 4)) << 32n) | BigInt(this.read32(addr));
  }
  write32(addr: number, value: number): void {
    if (addr % 4 !== 0) {
      for (let i = 0; i < 4; i++) this.write8(addr + i, (value >>> (8 * i)) & 0xff);
      return;
    }
    const v = value >>> 0;
    this.version++;
    if (this.journal !== undefined) this.journal.push(addr, this.word(addr));
    const key = Math.floor(addr / CHUNK);
    let w = this.chunk(key);
    if (w === undefined) {
      if (v === 0 || !Number.isFinite(key)) return;
      w = this.spare.pop() ?? new Uint32Array(WORDS);
      this.chunks.set(key, w);
      this.lastKey = key;
      this.lastWords = w;
    }
    const i = (addr - key * CHUNK) >>> 2;
    const old = w[i]!;
    if (old === 0 && v !== 0) this.nonzero++;
    else if (old !== 0 && v === 0) this.nonzero--;
    w[i] = v;
  }
  write64(addr: number, value: bigint): void {
    this.write32(addr, Number(value & 0xffffffffn));
    this.write32(addr + 4, Number((value >> 32n) & 0xffffffffn));
  }
  write8(addr: number, value: number): void {
    const base = addr - (addr % 4);
    const sh = (addr - base) * 8;
    const old = this.word(base);
    this.write32(base, ((old & ~(0xff << sh)) | ((value & 0xff) << sh)) >>> 0);
  }

  /** Nonzero 64-bit words, for serialisation: address → value, by address. */
  entries64(): [number, bigint][] {
    const out: [number, bigint][] = [];
    for (const key of [...this.chunks.keys()].sort((a, b) => a - b)) {
      const w = this.chunks.get(key)!;
      for (let i = 0; i < WORDS; i += 2)
        if (w[i] !== 0 || w[i + 1] !== 0) {
          const a = key * CHUNK + 4 * i;
          out.push([a, (BigInt(w[i + 1]!) << 32n) | BigInt(w[i]!)]);
        }
    }
    return out;
  }
}
