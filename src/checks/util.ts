/** Shared predicates and message helpers for the checks. */
import * as archFields from "../arch/fields.js";
import * as u64 from "../util/u64.js";
import type { Ctx } from "./types.js";

// Module-local copies of the imported tables and helpers: V8 folds module-local constants into the
// compiled fast path (src/entry/fast.ts), but not imported bindings.
const { FIELDS } = archFields;
const { hex64, isCanonical } = u64;

/** A physical address with bits set beyond MAXPHYADDR (or beyond bit 31 with IA32_VMX_BASIC[48]). */
export function beyondPhys(c: Ctx, i: number): boolean {
  return ((c.lo(i) & c.caps.physReservedLo) | (c.hi(i) & c.caps.physReservedHi)) !== 0;
}

/** Low bits that must be 0 for an alignment of 2^n bytes (n ≤ 31). */
export function misaligned(c: Ctx, i: number, n: number): boolean {
  return (c.lo(i) & ((1 << n) - 1)) !== 0;
}

/** Canonical for the CPU's linear-address width (48 or 57 bits). */
export function canonical(c: Ctx, i: number): boolean {
  return isCanonical(c.lo(i), c.hi(i), c.caps.linearAddressBits);
}

/** Field value as hex. */
export function val(c: Ctx, i: number): string {
  return hex64(c.lo(i), c.hi(i));
}

/** `NAME=0x...` for a message. */
export function show(c: Ctx, i: number): string {
  return `${FIELDS[i]!.name}=${val(c, i)}`;
}

/** Description of the bits beyond MAXPHYADDR for a message. */
export function physLimit(c: Ctx): string {
  return c.caps.addr32
    ? "bits 63:32 must be 0 (IA32_VMX_BASIC[48])"
    : `bits 63:${c.caps.maxPhysAddr} must be 0 (MAXPHYADDR ${c.caps.maxPhysAddr})`;
}

/** Bit list of a 32-bit mask, e.g. "bits 3, 5". */
export function bitList(mask: number, offset = 0): string {
  let list = "";
  let count = 0;
  for (let b = 0; b < 32; b++)
    if ((mask >>> b) & 1) {
      list += count++ ? `, ${b + offset}` : `${b + offset}`;
    }
  return count === 1 ? `bit ${list}` : `bits ${list}`;
}

/**
 * The processor supports Intel 64 architecture. IA32_VMX_BASIC[48] is always 0 on such processors (SDM A.1),
 * so a profile that sets it describes a processor without Intel 64; all other profiles are taken as Intel 64.
 */
export function supportsIntel64(c: Ctx): boolean {
  return !c.caps.addr32;
}

/** The "host address-space size" VM-exit control (bit 9) is 1. */
export function hostAddrSpaceSize(c: Ctx): boolean {
  return (c.exit & (1 << 9)) !== 0;
}

/**
 * The last byte of a table of `count` entries of `size` bytes starting at the physical address in field `i`
 * (address + count·size − 1, computed wider than the physical-address width, SDM 29.2.1.2) sets bits beyond
 * the physical-address width (or beyond bit 31 with IA32_VMX_BASIC[48]). A carry out of bit 63 counts as beyond.
 */
export function areaEndBeyondPhys(c: Ctx, i: number, count: number, size: number): boolean {
  const total = c.lo(i) + count * size - 1; // < 2^40: exact in a double
  const carry = Math.floor(total / 0x100000000);
  const lo = total - carry * 0x100000000;
  const hi = c.hi(i) + carry;
  if (hi > 0xffffffff) return true;
  return ((lo & c.caps.physReservedLo) | (hi & c.caps.physReservedHi)) !== 0;
}

/** The last-byte address of such a table, as hex (message only). */
export function areaEnd(c: Ctx, i: number, count: number, size: number): string {
  const end = ((BigInt(c.hi(i)) << 32n) | BigInt(c.lo(i))) + BigInt(count) * BigInt(size) - 1n;
  return `0x${end.toString(16)}`;
}

/**
 * IA32_EFER bits WRMSR accepts on an Intel 64 processor: SCE (0), LME (8), LMA (10) and NXE (11). NXE is
 * reserved when the processor does not enumerate execute-disable (CPUID.80000001H:EDX[20], e.g. with
 * "XD bit disable" set in IA32_MISC_ENABLE). Absence of the `nx` flag counts only in a full /proc/cpuinfo flag
 * list (one that names `lm`), so a partial list never makes NXE reserved.
 */
export function eferValidLo(c: Ctx): number {
  return c.caps.eferValidLo;
}

/** Message text for the valid IA32_EFER bits. */
export function eferValidText(c: Ctx): string {
  return eferValidLo(c) === 0xd01
    ? "only SCE (0), LME (8), LMA (10) and NXE (11) may be 1"
    : "only SCE (0), LME (8) and LMA (10) may be 1 (NXE, bit 11, is reserved: the processor does not support execute-disable, no `nx` flag)";
}
