/**
 * The states blob the probe reads (probe/core.asm, "blob layout"): a header, the table of VMCS field encodings
 * the records refer to, then one record per state — its flags, a bitmap of nonzero fields with their values,
 * the memory words to place and the ranges to zero afterwards. Little-endian.
 */
import { FIELDS, type FieldDef } from "../arch/fields.js";

export const BLOB_MAGIC = "NVMXSTAT";
export const BLOB_VERSION = 1;
const HEADER = 64;
/** Byte offset of the `start` field (first state index to run), patched by the runner to resume. */
export const BLOB_START_OFFSET = 20;

/** Output and exit switches (blob header `flags`). */
export const OUT = { e9: 1, com1: 2, bochsShutdown: 4, qemuExit: 8 } as const;

/** Record flags. */
export const RF = { resume: 1, launched: 2, noCurrent: 4, shadow: 8, host32: 16, sipi: 32 } as const;

/** Every field VMWRITE can set (read-only data fields are never written). */
export const FIELD_TABLE: readonly FieldDef[] = FIELDS.filter((f) => f.type !== "read-only");

export interface BlobRecord {
  /** State number (the log's index). */
  index: number;
  flags: number;
  /** Values in FIELD_TABLE order. */
  values: readonly bigint[];
  /** Memory words: [address, value]. */
  memory: readonly (readonly [number, bigint])[];
  /** Ranges zeroed after the state: [address, length]. */
  clear: readonly (readonly [number, number])[];
}

const align8 = (n: number) => (n + 7) & ~7;

function recordSize(r: BlobRecord): number {
  const words = Math.ceil(FIELD_TABLE.length / 32);
  const nonzero = r.values.filter((v) => v !== 0n).length;
  return align8(20 + 4 * words) + 8 * nonzero + 16 * r.memory.length + 16 * r.clear.length;
}

export function encodeBlob(records: readonly BlobRecord[], flags: number, start = 0): Uint8Array {
  const n = FIELD_TABLE.length;
  const words = Math.ceil(n / 32);
  const recordsOff = align8(HEADER + 4 * n);
  const size = recordsOff + records.reduce((s, r) => s + recordSize(r), 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out.set(new TextEncoder().encode(BLOB_MAGIC), 0);
  dv.setUint32(8, BLOB_VERSION, true);
  dv.setUint32(12, flags, true);
  dv.setUint32(16, records.length, true);
  dv.setUint32(BLOB_START_OFFSET, start, true);
  dv.setUint32(24, n, true);
  dv.setUint32(28, HEADER, true);
  dv.setUint32(32, recordsOff, true);
  dv.setUint32(36, size, true);
  FIELD_TABLE.forEach((f, i) => {
    dv.setUint32(HEADER + 4 * i, f.encoding, true);
  });
  let o = recordsOff;
  for (const r of records) {
    if (r.values.length !== n) throw new Error("record values must follow FIELD_TABLE");
    const len = recordSize(r);
    dv.setUint32(o, len, true);
    dv.setUint32(o + 4, r.index, true);
    dv.setUint32(o + 8, r.flags, true);
    dv.setUint32(o + 12, r.memory.length, true);
    dv.setUint32(o + 16, r.clear.length, true);
    let v = o + align8(20 + 4 * words);
    r.values.forEach((val, i) => {
      if (val === 0n) return;
      dv.setUint32(o + 20 + 4 * (i >> 5), dv.getUint32(o + 20 + 4 * (i >> 5), true) | (1 << (i & 31)), true);
      dv.setBigUint64(v, val, true);
      v += 8;
    });
    for (const [a, w] of r.memory) {
      dv.setBigUint64(v, BigInt(a), true);
      dv.setBigUint64(v + 8, w, true);
      v += 16;
    }
    for (const [a, l] of r.clear) {
      dv.setBigUint64(v, BigInt(a), true);
      dv.setBigUint64(v + 8, BigInt(l), true);
      v += 16;
    }
    o += len;
  }
  return out;
}
