/**
 * The VMCS store: every field as two 32-bit slots (low, high) in one Uint32Array, indexed by the field
 * table, so the checks read plain numbers. VMREAD/VMWRITE follow SDM 25.11.2 and the instruction pages
 * (Vol. 3 33.3): unsupported component → error 12, read-only component → error 13 unless
 * IA32_VMX_MISC[29], and the width/access-type rules below.
 */
import { FIELD_COUNT, FIELDS, type FieldDef, fieldByEncoding, fieldByName } from "../arch/fields.js";
import { hi32, join64, lo32 } from "../util/u64.js";

export type VmInstructionResult = { ok: true; value: bigint } | { ok: false; error: number };

/** The VMCS of a state: field values by encoding, with the widths and the fields written. */
export class Vmcs {
  /** slots: [2*i] = bits 31:0, [2*i+1] = bits 63:32 of field i. */
  readonly v: Uint32Array;
  /**
   * Writes through the methods below (`set`, `setHalves`, `setByName`, `vmwrite`), counted: a result's
   * messages, built when first read, check that the VMCS has not changed since it was evaluated. Writing `v`
   * directly is not counted.
   */
  version = 0;

  constructor(v?: Uint32Array) {
    this.v = v ?? new Uint32Array(FIELD_COUNT * 2);
  }

  clone(): Vmcs {
    return new Vmcs(this.v.slice());
  }

  lo(index: number): number {
    return this.v[index << 1]!;
  }
  hi(index: number): number {
    return this.v[(index << 1) | 1]!;
  }
  get(index: number): bigint {
    return join64(this.v[index << 1]!, this.v[(index << 1) | 1]!);
  }
  /** Store a value into a field, truncated to the field's width (no instruction semantics). */
  set(index: number, value: bigint): void {
    this.version++;
    const f = FIELDS[index]!;
    const w = f.width;
    this.v[index << 1] = w === 16 ? lo32(value) & 0xffff : lo32(value);
    this.v[(index << 1) | 1] = w === 16 || w === 32 ? 0 : hi32(value);
  }
  setHalves(index: number, lo: number, hi: number): void {
    this.version++;
    this.v[index << 1] = lo >>> 0;
    this.v[(index << 1) | 1] = hi >>> 0;
  }

  getByName(name: string): bigint {
    const f = fieldByName(name);
    if (!f) throw new Error(`no VMCS field ${name}`);
    return this.get(f.index);
  }
  setByName(name: string, value: bigint): void {
    const f = fieldByName(name);
    if (!f) throw new Error(`no VMCS field ${name}`);
    this.set(f.index, value);
  }

  /**
   * VMREAD (Vol. 3 33.3). `mode64`: executed in 64-bit mode (natural-width fields read 64 bits; outside
   * 64-bit mode only bits 31:0 are returned). Access type high (bit 0) is valid only for 64-bit fields.
   */
  vmread(encoding: number, mode64 = true): VmInstructionResult {
    const f = fieldByEncoding(encoding & ~1);
    if (!f || ((encoding & 1) === 1 && f.width !== 64) || encoding > 0xffffffff || encoding < 0)
      return { ok: false, error: 12 };
    if (encoding & 1) return { ok: true, value: BigInt(this.hi(f.index)) };
    const v = this.get(f.index);
    if (!mode64 && (f.width === 64 || f.width === "natural")) return { ok: true, value: v & 0xffffffffn };
    return { ok: true, value: v };
  }

  /**
   * VMWRITE (Vol. 3 33.3). The source operand is truncated to the field width; a full-access write of a
   * 64-bit field outside 64-bit mode clears bits 63:32; a high-access write sets bits 63:32 only.
   */
  vmwrite(
    encoding: number,
    value: bigint,
    opts: { mode64?: boolean; vmwriteAnyField?: boolean } = {},
  ): VmInstructionResult {
    const mode64 = opts.mode64 ?? true;
    const f = fieldByEncoding(encoding & ~1);
    if (!f || ((encoding & 1) === 1 && f.width !== 64)) return { ok: false, error: 12 };
    if (f.type === "read-only" && !opts.vmwriteAnyField) return { ok: false, error: 13 };
    const src = mode64 ? value & 0xffffffffffffffffn : value & 0xffffffffn;
    if (encoding & 1) {
      this.version++;
      this.v[(f.index << 1) | 1] = lo32(src);
      return { ok: true, value: src };
    }
    this.set(f.index, src);
    return { ok: true, value: this.get(f.index) };
  }

  /** Fields whose value is nonzero, in table order. */
  *nonzero(): Generator<[FieldDef, bigint]> {
    for (const f of FIELDS)
      if (this.v[f.index << 1] || this.v[(f.index << 1) | 1]) yield [f, this.get(f.index)];
  }
}

/** Largest value a field can hold. */
export function fieldMax(f: FieldDef): bigint {
  return f.width === 16 ? 0xffffn : f.width === 32 ? 0xffffffffn : 0xffffffffffffffffn;
}
