/**
 * Shared conditions of the checks as predicate source (src/checks/pred.ts), and message helpers. Conditions a
 * message also needs are compiled from the same source (a `Pred` is a function of the context).
 */
import { ENTRY, EXIT } from "../arch/controls.js";
import { F, FIELDS } from "../arch/fields.js";
import { EVENT } from "../arch/registers.js";
import { hex, hex64, join64 } from "../util/u64.js";
import { type Code, code, compilePred, compileValue, hi, lo } from "./pred.js";
import type { Ctx } from "./types.js";

/** The "IA-32e mode guest" VM-entry control is 1. */
export const IA32E_GUEST: Code = code`(c.entry & ${ENTRY.IA32E_GUEST}) !== 0`;
/** The "host address-space size" VM-exit control (bit 9) is 1. */
export const HASS: Code = code`(c.exit & ${EXIT.HOST_ADDR_SPACE_SIZE}) !== 0`;
/** The same, as a function (messages). */
export const hostAddrSpaceSize = compilePred(HASS.code);

/** Type (bits 10:8) and vector (bits 7:0) of the VM-entry interruption-information field (SDM 25.8.3). */
export const EVENT_TYPE: Code = code`(${lo(F.VM_ENTRY_INTR_INFO_FIELD!)} >>> ${EVENT.TYPE_SHIFT}) & 7`;
export const EVENT_VECTOR: Code = code`${lo(F.VM_ENTRY_INTR_INFO_FIELD!)} & ${EVENT.VECTOR}`;
/** The same, as functions (messages). */
export const eventType = compileValue(EVENT_TYPE);
export const eventVector = compileValue(EVENT_VECTOR);

/** The DPL (bits 6:5) of the access rights in field i (registers.ts `arDpl`). */
export const arDpl = (i: number): Code => code`(${lo(i)} >>> 5) & 3`;

/**
 * The last byte of a table of `count` entries of `size` bytes at the physical address in field `i` (address +
 * count·size − 1, computed wider than the physical-address width, SDM 29.2.1.2) sets bits beyond the
 * physical-address width (or beyond bit 31 with IA32_VMX_BASIC[48]); a carry out of bit 63 counts as beyond.
 * The sum is < 2^40, exact in a double; its bits 31:0 enter `&` directly (ToInt32 keeps exactly those bits).
 */
export const areaEndBeyondPhys = (i: number, count: Code, size: number): Code => {
  const total = code`${lo(i)} + ${count} * ${size} - 1`;
  const endHi = code`${hi(i)} + Math.floor(${total} / 4294967296)`;
  return code`${endHi} > 4294967295 || ((${total} & c.caps.physReservedLo) | (${endHi} & c.caps.physReservedHi)) !== 0`;
};

/** Field value as hex: all 64 bits (the one way messages print a field's value). */
export function val(c: Ctx, i: number): string {
  return hex64(c.lo(i), c.hi(i));
}

/**
 * The 64-bit value of field i plus `offset`, as hex: an address inside the structure the field points to
 * (an MSR-load entry, the last byte of a table), every digit kept (the sum is not cut to 64 bits).
 */
export function valPlus(c: Ctx, i: number, offset: number): string {
  return hex(join64(c.lo(i), c.hi(i)) + BigInt(offset));
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

/** The last-byte address of such a table, as hex (message only). */
export function areaEnd(c: Ctx, i: number, count: number, size: number): string {
  return valPlus(c, i, count * size - 1);
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
