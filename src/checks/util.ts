/**
 * Shared decoders (typed expressions that predicates call and the compiler pastes, src/checks/compile.ts) and
 * message helpers. A message calls the same decoder on the real state, so a value is written once.
 */

import type { ControlWord } from "../arch/controls.js";
import * as archControls from "../arch/controls.js";
import type { FieldName } from "../arch/fields.js";
import * as archRegisters from "../arch/registers.js";
import { hex, hex64, join64 } from "../util/u64.js";
import { decoders } from "./compile.js";
import type { State } from "./state.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves predicates' names in this module (compile.ts).
const scope = (name: string): unknown => eval(name);

/** A VMCS field's KVM name (for messages). */
export type Field = FieldName;

// Short local names for the imported tables.
const { ENTRY, EXIT, PROC2, controlBitNames } = archControls;
const { CR4, EVENT, EVENT_TYPE, EVENT_TYPE_NAMES, EXCEPTION_NAMES } = archRegisters;

export const {
  ia32eGuest,
  unrestrictedGuest,
  fredGuest,
  hass,
  eventType,
  eventVector,
  arDpl,
  canonical,
  canonicalAt,
  beyondPhys,
  misaligned,
  outside,
  patHalfBad,
  areaEndBeyondPhys,
} = decoders(scope, {
  /** The "IA-32e mode guest" VM-entry control is 1. */
  ia32eGuest: (s: State) => (s.entry & ENTRY.IA32E_GUEST) !== 0,
  /** The "unrestricted guest" secondary control (as in effect) is 1. */
  unrestrictedGuest: (s: State) => (s.proc2 & PROC2.UNRESTRICTED_GUEST) !== 0,
  /** "The guest will use FRED transitions": "IA-32e mode guest" = 1 and guest CR4.FRED (bit 32) = 1. */
  fredGuest: (s: State) => (s.entry & ENTRY.IA32E_GUEST) !== 0 && (s.hi.GUEST_CR4 & CR4.FRED_HI) !== 0,
  /** The "host address-space size" VM-exit control (bit 9) is 1. */
  hass: (s: State) => (s.exit & EXIT.HOST_ADDR_SPACE_SIZE) !== 0,
  /** Type (bits 10:8) of the VM-entry interruption-information field (SDM 25.8.3). */
  eventType: (s: State) => (s.VM_ENTRY_INTR_INFO_FIELD >>> EVENT.TYPE_SHIFT) & 7,
  /** Vector (bits 7:0) of the VM-entry interruption-information field. */
  eventVector: (s: State) => s.VM_ENTRY_INTR_INFO_FIELD & EVENT.VECTOR,
  /** The DPL (bits 6:5) of access rights. */
  arDpl: (ar: number) => (ar >>> 5) & 3,
  /**
   * A 64-bit value with high half `hi` is canonical for the CPU's linear-address width (48 or 57): bits
   * 63:width-1 all equal.
   */
  canonical: (s: State, hi: number) => canonicalAt(hi, s.caps.linearAddressBits),
  /** The same for a given width (`bits` ≤ 63): bits 63:bits-1 all equal. */
  canonicalAt: (hi: number, bits: number) => (hi << (64 - bits)) >> (64 - bits) === (hi | 0),
  /** A physical address sets bits beyond MAXPHYADDR (or beyond bit 31 with IA32_VMX_BASIC[48]). */
  beyondPhys: (s: State, lo: number, hi: number) =>
    ((lo & s.caps.physReservedLo) | (hi & s.caps.physReservedHi)) !== 0,
  /** The bits of a 64-bit value (halves) outside a valid mask (halves); non-zero when any is set. */
  outside: (lo: number, hi: number, validLo: number, validHi: number) => (lo & ~validLo) | (hi & ~validHi),
  /**
   * Four PAT entries (one 32-bit half of IA32_PAT) hold an invalid memory type (valid: 0, 1, 4, 5, 6, 7; SDM
   * Vol. 3 13.12.2): some byte is above 7 (bits 7:3 set), or is 2 or 3 (bit 1 set, bit 2 clear: `x & ~(x >>> 1)`
   * puts bit 1 and NOT bit 2 of each byte together at its bit 1).
   */
  patHalfBad: (x: number) => (x & 0xf8f8f8f8) !== 0 || (x & ~(x >>> 1) & 0x02020202) !== 0,
  /** Any of the low n bits (n ≤ 31) is set: not aligned to 2^n bytes. */
  misaligned: (lo: number, n: number) => (lo & ((1 << n) - 1)) !== 0,
  /**
   * The last byte of a table of `count` entries of `size` bytes at the physical address (lo, hi) — address +
   * count·size − 1, computed wider than the physical-address width (SDM 29.2.1.2) — sets bits beyond the
   * physical-address width (or beyond bit 31 with IA32_VMX_BASIC[48]); a carry out of bit 63 counts as beyond.
   * The sum is < 2^40 above the address, exact in a double; bits 31:0 of it enter `&` directly (ToInt32 keeps
   * exactly those bits).
   */
  areaEndBeyondPhys: (s: State, lo: number, hi: number, count: number, size: number) =>
    hi + Math.floor((lo + count * size - 1) / 4294967296) > 4294967295 ||
    (((lo + count * size - 1) & s.caps.physReservedLo) |
      ((hi + Math.floor((lo + count * size - 1) / 4294967296)) & s.caps.physReservedHi)) !==
      0,
});

// ---------------------------------------------------------------------------------------------------------
// Message helpers (run only on failure).

/** A field's value as hex: all 64 bits (the one way messages print a field's value). */
export function val(s: State, name: FieldName): string {
  return hex64(s[name], s.hi[name]);
}

/**
 * A field's 64-bit value plus `offset`, as hex: an address inside the structure the field points to (an
 * MSR-load entry, the last byte of a table), every digit kept (the sum is not cut to 64 bits).
 */
export function valPlus(s: State, name: FieldName, offset: number): string {
  return hex(join64(s[name], s.hi[name]) + BigInt(offset));
}

/** `NAME=0x...` for a message. */
export function show(s: State, name: FieldName): string {
  return `${name}=${val(s, name)}`;
}

/** Description of the bits beyond MAXPHYADDR for a message. */
export function physLimit(s: State): string {
  return s.caps.addr32
    ? "bits 63:32 must be 0 (IA32_VMX_BASIC[48])"
    : `bits 63:${s.caps.maxPhysAddr} must be 0 (MAXPHYADDR ${s.caps.maxPhysAddr})`;
}

/** "is not canonical …": the one wording of every canonical-address rule (guest, host and MSR values). */
export function notCanonical(s: State, width = s.caps.linearAddressBits): string {
  return `is not canonical for a ${width}-bit linear-address width: bits 63:${width - 1} must all equal bit ${width - 1}`;
}

/** The numbers of the set bits of a 32-bit mask, plus `offset`. */
function bitNumbers(mask: number, offset: number): number[] {
  const bits: number[] = [];
  for (let b = 0; b < 32; b++) if ((mask >>> b) & 1) bits.push(b + offset);
  return bits;
}

/** Bit list of a 32-bit mask, e.g. "bits 3, 5". */
export function bitList(mask: number, offset = 0): string {
  const bits = bitNumbers(mask, offset);
  return `${bits.length === 1 ? "bit" : "bits"} ${bits.join(", ")}`;
}

/** The bits of a 64-bit mask given as halves, one list: "bits 3, 5, 40 (0x10000000028)". */
export function bitList64(lo: number, hi: number): string {
  const bits = [...bitNumbers(lo, 0), ...bitNumbers(hi, 32)];
  return `${bits.length === 1 ? "bit" : "bits"} ${bits.join(", ")} (${hex64(lo >>> 0, hi >>> 0)})`;
}

/** "NAME=0x… sets reserved bits …": the one wording of the reserved-bits rules (halves of the bits set). */
export function reservedBits(s: State, name: FieldName, lo: number, hi = 0): string {
  return `${show(s, name)} sets reserved ${bitList64(lo, hi)}`;
}

/** ` ("name", "name")` for the set bits of a control word, for messages. */
export function controlNames(word: ControlWord, mask: number): string {
  const n = controlBitNames(word, mask);
  return n.length ? ` (${n.map((x) => `"${x}"`).join(", ")})` : "";
}

/** The last-byte address of a table of `count` entries of `size` bytes at the address in a field (messages). */
export function areaEnd(s: State, name: FieldName, count: number, size: number): string {
  return valPlus(s, name, count * size - 1);
}

/** Message text for the valid IA32_EFER bits. */
export function eferValidText(s: State): string {
  return s.caps.eferValidLo === 0xd01
    ? "only SCE (0), LME (8), LMA (10) and NXE (11) may be 1"
    : "only SCE (0), LME (8) and LMA (10) may be 1 (NXE, bit 11, is reserved: the processor does not support execute-disable, no `nx` flag)";
}

/** The injected-event identification field decoded (VM-entry interruption information, SDM 25.8.3). */
export function describeEvent(info: number): string {
  const t = (info >>> 8) & 7;
  const v = info & 0xff;
  const vec =
    t === EVENT_TYPE.HW_EXCEPTION || t === EVENT_TYPE.SW_EXCEPTION || t === EVENT_TYPE.PRIV_SW_EXCEPTION
      ? `${v}${v < 32 ? ` ${EXCEPTION_NAMES[v]}` : ""}`
      : t === EVENT_TYPE.OTHER
        ? `${v}${v === 0 ? " (pending MTF VM exit)" : v === 1 ? " (SYSCALL)" : v === 2 ? " (SYSENTER)" : ""}`
        : `${v}`;
  return `${hex(info)} (valid=${info >>> 31}, type ${t} ${EVENT_TYPE_NAMES[t]}, vector ${vec}, deliver-error-code=${(info >>> 11) & 1}${(info >>> 13) & 1 ? ", nested-exception=1" : ""})`;
}

/** The entries of IA32_PAT (halves) that are not valid memory types: "PA1=0x2, PA7=0x8". */
export function badPatEntries(lo: number, hi: number): string {
  const bad: string[] = [];
  for (let e = 0; e < 8; e++) {
    const b = ((e < 4 ? lo : hi) >>> ((e & 3) * 8)) & 0xff;
    if (b > 7 || b === 2 || b === 3) bad.push(`PA${e}=${hex(b)}`);
  }
  return bad.join(", ");
}
