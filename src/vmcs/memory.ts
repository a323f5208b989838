/**
 * Sparse physical memory for the structures VM entry reads (interface.md §1 `memory`): the MSR-load area,
 * PDPTEs, the revision identifier at the VMCS link pointer, the virtual TPR. Unwritten memory reads 0.
 * Stored as 32-bit words keyed by 4-byte-aligned address.
 */
export class Memory {
  private readonly words = new Map<number, number>();

  get size(): number {
    return this.words.size;
  }

  clone(): Memory {
    const m = new Memory();
    for (const [k, v] of this.words) m.words.set(k, v);
    return m;
  }

  /** Physical address from halves (addresses up to 2^53 are exact as numbers). */
  static addr(lo: number, hi: number): number {
    return hi * 0x100000000 + (lo >>> 0);
  }

  read32(addr: number): number {
    if (addr % 4 === 0) return this.words.get(addr) ?? 0;
    let v = 0;
    for (let i = 3; i >= 0; i--) v = (v << 8) | this.read8(addr + i);
    return v >>> 0;
  }
  read8(addr: number): number {
    const base = addr - (addr % 4);
    return ((this.words.get(base) ?? 0) >>> ((addr - base) * 8)) & 0xff;
  }
  read64(addr: number): bigint {
    return (BigInt(this.read32(addr + 4)) << 32n) | BigInt(this.read32(addr));
  }
  write32(addr: number, value: number): void {
    if (value === 0) this.words.delete(addr);
    else this.words.set(addr, value >>> 0);
  }
  write64(addr: number, value: bigint): void {
    this.write32(addr, Number(value & 0xffffffffn));
    this.write32(addr + 4, Number((value >> 32n) & 0xffffffffn));
  }
  write8(addr: number, value: number): void {
    const base = addr - (addr % 4);
    const sh = (addr - base) * 8;
    const old = this.words.get(base) ?? 0;
    this.write32(base, ((old & ~(0xff << sh)) | ((value & 0xff) << sh)) >>> 0);
  }

  /** Nonzero 64-bit words, for serialisation: address → value. */
  entries64(): [number, bigint][] {
    const bases = new Set<number>();
    for (const k of this.words.keys()) bases.add(k - (k % 8));
    return [...bases].sort((a, b) => a - b).map((b) => [b, this.read64(b)]);
  }
}
