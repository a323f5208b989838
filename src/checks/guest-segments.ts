/**
 * SDM 29.3.1.2 "Checks on Guest Segment Registers" (checklist R1–R44 of sdm-checks.md §3.2).
 *
 * Terms (SDM 29.3.1.2): the guest "will be virtual-8086" when RFLAGS.VM (bit 17) is 1 in the guest RFLAGS
 * field; "IA-32e mode" when the "IA-32e mode guest" entry control is 1; a register is "usable" when bit 16 of
 * its access-rights field is 0. "Unrestricted guest" (UG) is secondary control bit 7 as in effect (`c.proc2`).
 *
 * Evidence notes (checked while writing this module):
 * - Every item R1–R27 and R30–R44 is [V] in the checklist; no [R] item exists in §3.2. The wording was
 *   re-read in the SDM text (rev. 059 chapter 26 and the older chapter-22 copy) and in SDM quotes in public
 *   VMCS checkers. Two points the checklist states tersely and the SDM text confirms:
 *   - the SS DPL rules (DPL = RPL unless UG; DPL = 0 if CS type is 3 or CR0.PE = 0) are NOT gated on SS being
 *     usable: SS.DPL is loaded even for an unusable SS and becomes the CPL (SDM 29.3.2.2), so the rules bind
 *     an unusable SS too. Only the SS type rule says "if SS is usable".
 *   - "if the Type is 3, the DPL must be 0" for CS is stated without a UG condition (the SDM adds that type 3
 *     itself needs UG), so it is checked whenever the guest is not virtual-8086.
 * - R28/R29 (FRED, [S]): confirmed by the SDM quote in Bochs issue #732 ("The following checks apply if the
 *   guest will use FRED transitions: the DPL must be 0 or 3; if the DPL is 0, the L bit in the CS
 *   access-rights field must be 1") and by KVM's FRED nested patch. "Will use FRED transitions" = IA-32e mode
 *   guest and guest CR4.FRED (bit 32) = 1. The FRED rules on RFLAGS.IOPL and STI blocking belong to 29.3.1.4
 *   and 29.3.1.5, not here.
 * - "On processors that support Intel 64 architecture" (base checks R5–R8): gated with the shared
 *   `G.intel64` (groups.ts; a profile with IA32_VMX_BASIC[48] = 1 describes a processor without Intel 64).
 */
import * as archControls from "../arch/controls.js";
import * as archFields from "../arch/fields.js";
import * as archRegisters from "../arch/registers.js";
import * as u64 from "../util/u64.js";
import { G } from "./groups.js";
import { type Code, canonical, code, hi, lo, pred } from "./pred.js";
import type { Check, Ctx } from "./types.js";
import * as util from "./util.js";

// Short local names for the imported tables and helpers.
const { ENTRY, PROC2 } = archControls;
const { F } = archFields;
const { AR, arDpl, CR0, CR4, describeAr } = archRegisters;
const { hex, hex64 } = u64;
const { show } = util;

// ---------------------------------------------------------------------------------------------------------
// Local helpers: predicate fragments (`Code`, src/checks/pred.ts) for `when`/`fail`, plain functions for
// messages only

const SDM = "29.3.1.2";

/** AR bits 11:8 (reserved). */
const AR_RES_11_8 = 0xf00;
/** AR bits 31:17 (reserved); bit 16 is the unusable bit and bits 15:12 are G, D/B, L, AVL. */
const AR_RES_31_17 = 0xfffe0000 | 0;

interface Seg {
  /** upper-case name as in the field names: CS, SS, ... */
  readonly name: string;
  /** lower-case name for check ids */
  readonly id: string;
  readonly sel: number;
  readonly base: number;
  readonly limit: number;
  readonly ar: number;
  readonly fSel: string;
  readonly fBase: string;
  readonly fLimit: string;
  readonly fAr: string;
}

function seg(name: string): Seg {
  const fSel = `GUEST_${name}_SELECTOR`;
  const fBase = `GUEST_${name}_BASE`;
  const fLimit = `GUEST_${name}_LIMIT`;
  const fAr = `GUEST_${name}_AR_BYTES`;
  return {
    name,
    id: name.toLowerCase(),
    sel: F[fSel]!,
    base: F[fBase]!,
    limit: F[fLimit]!,
    ar: F[fAr]!,
    fSel,
    fBase,
    fLimit,
    fAr,
  };
}

const CS = seg("CS");
const SS = seg("SS");
const DS = seg("DS");
const ES = seg("ES");
const FS = seg("FS");
const GS = seg("GS");
const TR = seg("TR");
const LDTR = seg("LDTR");
/** The six code/data segment registers, in the SDM's order. */
const CODE_DATA: readonly Seg[] = [CS, SS, DS, ES, FS, GS];
/** The four data segment registers that have "if usable" rules of their own. */
const DATA: readonly Seg[] = [DS, ES, FS, GS];

const F_CR0 = F.GUEST_CR0!;
const F_CR4 = F.GUEST_CR4!;

// Predicate fragments (pasted into the `pred` templates below; the fast path inlines them).
/** The register is usable: access-rights bit 16 = 0. */
const usable = (s: Seg): Code => code`(${lo(s.ar)} & ${AR.UNUSABLE}) === 0`;
/** Selector RPL (bits 1:0). */
const rpl = (s: Seg): Code => code`${lo(s.sel)} & 3`;
/** Access-rights type (bits 3:0). */
const type = (s: Seg): Code => code`${lo(s.ar)} & ${AR.TYPE}`;
/** Access-rights DPL (bits 6:5). */
const dpl = (s: Seg): Code => util.arDpl(s.ar);
/** "IA-32e mode guest" VM-entry control. */
const ia32e = util.IA32E_GUEST;
/** "Unrestricted guest" secondary control (as in effect). */
const ug = code`(c.proc2 & ${PROC2.UNRESTRICTED_GUEST}) !== 0`;
/** "The guest will use FRED transitions": IA-32e mode guest and guest CR4.FRED (bit 32) = 1. */
const fredGuest = code`${ia32e} && (${hi(F_CR4)} & ${CR4.FRED_HI}) !== 0`;
/** Code/data AR sub-field rules apply to CS always and to the others only when usable (not v8086). */
const csOrUsable = (s: Seg): Code => (s === CS ? code`!${G.v86}` : code`!${G.v86} && ${usable(s)}`);

/** G rule, first half: if any of limit bits 11:0 is 0, G must be 0. */
const gLowBad = (s: Seg): Code => code`(${lo(s.ar)} & ${AR.G}) !== 0 && (${lo(s.limit)} & 0xfff) !== 0xfff`;
/** G rule, second half: if any of limit bits 31:20 is 1, G must be 1. */
const gHighBad = (s: Seg): Code => code`(${lo(s.ar)} & ${AR.G}) === 0 && (${lo(s.limit)} & 0xfff00000) !== 0`;

// Message helpers (closures; built only on failure).
const ar = (c: Ctx, s: Seg): number => c.lo(s.ar);
const rplOf = (c: Ctx, s: Seg): number => c.lo(s.sel) & 3;
const typeOf = (c: Ctx, s: Seg): number => c.lo(s.ar) & AR.TYPE;
const ia32eOn = (c: Ctx): boolean => (c.entry & ENTRY.IA32E_GUEST) !== 0;
const ugOn = (c: Ctx): boolean => (c.proc2 & PROC2.UNRESTRICTED_GUEST) !== 0;

/** `GUEST_CS_AR_BYTES=0xa09b (type=11 code ..., S=1, ...)` */
const showAr = (c: Ctx, s: Seg): string => `${s.fAr}=${describeAr(ar(c, s))}`;
const showSel = (c: Ctx, s: Seg): string => `${s.fSel}=${hex(c.lo(s.sel))} (RPL=${rplOf(c, s)})`;
const showLimit = (c: Ctx, s: Seg): string => `${s.fLimit}=${hex(c.lo(s.limit))}`;
const modeText = (c: Ctx): string =>
  c.v86
    ? "virtual-8086 guest"
    : `${ia32eOn(c) ? "IA-32e mode" : "non-IA-32e"} guest, CR0.PE=${c.lo(F_CR0) & CR0.PE}, unrestricted guest=${ugOn(c) ? 1 : 0}`;

/** Which AR value a code/data register would need to be "usable": unusable registers skip these rules. */
const unusableHint = (s: Seg): string =>
  s === CS ? "" : ` (or mark ${s.name} unusable: AR bit 16 = 1, which skips this rule)`;

// ---------------------------------------------------------------------------------------------------------
// Check factories, one per SDM rule shape. Predicates are compiled once, at module load.

const V86_FIELDS = ["GUEST_RFLAGS"];
const MODE_FIELDS = ["GUEST_RFLAGS", "SECONDARY_VM_EXEC_CONTROL", "CPU_BASED_VM_EXEC_CONTROL"];

function v86Base(s: Seg): Check {
  return {
    id: `guest.${s.id}.v86-base`,
    sdm: SDM,
    cls: "guest",
    fields: [s.fBase, s.fSel, ...V86_FIELDS],
    rule: `In a virtual-8086 guest, the ${s.name} base must be the ${s.name} selector shifted left by 4`,
    checklist: ["R4"],
    group: "v86",
    when: pred`${G.v86}`,
    fail: pred`${hi(s.base)} !== 0 || ${lo(s.base)} !== (${lo(s.sel)} & 0xffff) << 4`,
    message: (c) =>
      `${show(c, s.base)} but ${s.fSel}=${hex(c.lo(s.sel))} in a virtual-8086 guest (RFLAGS.VM=1); the base must be selector × 16 = ${hex((c.lo(s.sel) & 0xffff) << 4)}`,
  };
}

function v86Limit(s: Seg): Check {
  return {
    id: `guest.${s.id}.v86-limit`,
    sdm: SDM,
    cls: "guest",
    fields: [s.fLimit, ...V86_FIELDS],
    rule: `In a virtual-8086 guest, the ${s.name} limit must be 0000FFFFH`,
    checklist: ["R9"],
    group: "v86",
    when: pred`${G.v86}`,
    fail: pred`${lo(s.limit)} !== 0xffff`,
    message: (c) => `${showLimit(c, s)} in a virtual-8086 guest (RFLAGS.VM=1); the limit must be 0xffff`,
  };
}

function v86Ar(s: Seg): Check {
  return {
    id: `guest.${s.id}.v86-ar`,
    sdm: SDM,
    cls: "guest",
    fields: [s.fAr, ...V86_FIELDS],
    rule: `In a virtual-8086 guest, the ${s.name} access rights must be 000000F3H`,
    checklist: ["R10"],
    group: "v86",
    when: pred`${G.v86}`,
    fail: pred`${lo(s.ar)} !== 0xf3`,
    message: (c) =>
      `${showAr(c, s)} in a virtual-8086 guest (RFLAGS.VM=1); the access rights must be exactly 0xf3 (type=3 read/write accessed data, S=1, DPL=3, P=1, usable, every other bit 0)`,
  };
}

function baseCanonical(s: Seg, onlyUsable: boolean, checklist: string): Check {
  return {
    id: `guest.${s.id}.base-canonical`,
    sdm: SDM,
    cls: "guest",
    fields: onlyUsable ? [s.fBase, s.fAr] : [s.fBase],
    rule: onlyUsable
      ? `If ${s.name} is usable, its base must be canonical (Intel 64 processors)`
      : `The ${s.name} base must be canonical, even when ${s.name} is unusable (Intel 64 processors)`,
    checklist: [checklist],
    when: onlyUsable ? pred`${G.intel64} && ${usable(s)}` : pred`${G.intel64}`,
    fail: pred`!${canonical(s.base)}`,
    message: (c) =>
      `${show(c, s.base)} is not canonical for a ${c.caps.linearAddressBits}-bit linear-address width; bits 63:${c.caps.linearAddressBits - 1} must all equal bit ${c.caps.linearAddressBits - 1}${onlyUsable ? ` (${s.name} is usable: ${describeAr(ar(c, s))})` : ""}`,
  };
}

function baseHighZero(s: Seg, checklist: string): Check {
  const onlyUsable = s !== CS;
  return {
    id: `guest.${s.id}.base-high-zero`,
    sdm: SDM,
    cls: "guest",
    fields: onlyUsable ? [s.fBase, s.fAr] : [s.fBase],
    rule: onlyUsable
      ? `If ${s.name} is usable, bits 63:32 of its base must be 0 (Intel 64 processors)`
      : `Bits 63:32 of the ${s.name} base must be 0 (Intel 64 processors)`,
    checklist: [checklist],
    when: onlyUsable ? pred`${G.intel64} && ${usable(s)}` : pred`${G.intel64}`,
    fail: pred`${hi(s.base)} !== 0`,
    message: (c) =>
      `${show(c, s.base)} has bits 63:32 set (${hex(c.hi(s.base))}); they must be 0, e.g. ${hex64(c.lo(s.base), 0)}${onlyUsable ? unusableHint(s) : ""}`,
  };
}

/** S = 1 for CS and usable SS/DS/ES/FS/GS (R15). */
function sSet(s: Seg): Check {
  return {
    id: `guest.${s.id}.s-set`,
    sdm: SDM,
    cls: "guest",
    fields: [s.fAr, ...V86_FIELDS],
    rule: `${s === CS ? "CS" : `If ${s.name} is usable, its`} access-rights S bit (4) must be 1 (code or data segment)`,
    checklist: ["R15"],
    when: pred`${csOrUsable(s)}`,
    fail: pred`(${lo(s.ar)} & ${AR.S}) === 0`,
    message: (c) =>
      `${showAr(c, s)}: S=0 describes a system segment; ${s.name} needs a code or data descriptor (S=1)${unusableHint(s)}`,
  };
}

function present(s: Seg): Check {
  return {
    id: `guest.${s.id}.present`,
    sdm: SDM,
    cls: "guest",
    fields: [s.fAr, ...V86_FIELDS],
    rule: `${s === CS ? "CS" : `If ${s.name} is usable, its`} access-rights P bit (7) must be 1`,
    checklist: ["R22"],
    when: pred`${csOrUsable(s)}`,
    fail: pred`(${lo(s.ar)} & ${AR.P}) === 0`,
    message: (c) => `${showAr(c, s)}: the segment is not present; set P=1${unusableHint(s)}`,
  };
}

function reserved118(s: Seg, checklist: string, gate: Code | undefined, what: string): Check {
  return {
    id: `guest.${s.id}.ar-reserved-11-8`,
    sdm: SDM,
    cls: "guest",
    fields: [s.fAr],
    rule: `${what} access-rights bits 11:8 (reserved) must be 0`,
    checklist: [checklist],
    when: gate === undefined ? undefined : pred`${gate}`,
    fail: pred`(${lo(s.ar)} & ${AR_RES_11_8}) !== 0`,
    message: (c) =>
      `${showAr(c, s)} sets reserved bits 11:8 (${hex(ar(c, s) & AR_RES_11_8)}); clear them: ${hex(ar(c, s) & ~AR_RES_11_8)}`,
  };
}

function reserved3117(s: Seg, checklist: string, gate: Code | undefined, what: string): Check {
  return {
    id: `guest.${s.id}.ar-reserved-31-17`,
    sdm: SDM,
    cls: "guest",
    fields: [s.fAr],
    rule: `${what} access-rights bits 31:17 (reserved) must be 0`,
    checklist: [checklist],
    when: gate === undefined ? undefined : pred`${gate}`,
    fail: pred`(${lo(s.ar)} & ${AR_RES_31_17}) !== 0`,
    message: (c) =>
      `${showAr(c, s)} sets reserved bits 31:17 (${hex(ar(c, s) & AR_RES_31_17)}); clear them: ${hex(ar(c, s) & ~AR_RES_31_17)}`,
  };
}

function gLow(s: Seg, checklist: string, gate: Code | undefined, what: string): Check {
  return {
    id: `guest.${s.id}.g-limit-11-0`,
    sdm: SDM,
    cls: "guest",
    fields: [s.fAr, s.fLimit],
    rule: `${what} G must be 0 if any of limit bits 11:0 is 0`,
    checklist: [checklist],
    when: gate === undefined ? undefined : pred`${gate}`,
    fail: pred`${gLowBad(s)}`,
    message: (c) =>
      `${showAr(c, s)} has G=1 (4-KByte granularity) but ${showLimit(c, s)} has limit bits 11:0 = ${hex(c.lo(s.limit) & 0xfff)}; with G=1 bits 11:0 must all be 1 (e.g. limit ${hex(c.lo(s.limit) | 0xfff)}), or use G=0 (only possible when limit bits 31:20 are 0)`,
  };
}

function gHigh(s: Seg, checklist: string, gate: Code | undefined, what: string): Check {
  return {
    id: `guest.${s.id}.g-limit-31-20`,
    sdm: SDM,
    cls: "guest",
    fields: [s.fAr, s.fLimit],
    rule: `${what} G must be 1 if any of limit bits 31:20 is 1`,
    checklist: [checklist],
    when: gate === undefined ? undefined : pred`${gate}`,
    fail: pred`${gHighBad(s)}`,
    message: (c) =>
      `${showAr(c, s)} has G=0 (byte granularity) but ${showLimit(c, s)} exceeds 0xfffff; a byte-granular limit must be at most 0xfffff, otherwise set G=1 (and limit bits 11:0 to 1)`,
  };
}

/** DS/ES/FS/GS type bit 0 (accessed) must be 1 when usable (R13). */
function dataAccessed(s: Seg): Check {
  return {
    id: `guest.${s.id}.type-accessed`,
    sdm: SDM,
    cls: "guest",
    fields: [s.fAr, ...V86_FIELDS],
    rule: `If ${s.name} is usable, its type must have bit 0 (accessed) set`,
    checklist: ["R13"],
    when: pred`${csOrUsable(s)}`,
    fail: pred`(${lo(s.ar)} & ${AR.ACCESSED}) === 0`,
    message: (c) =>
      `${showAr(c, s)}: type ${typeOf(c, s)} is not marked accessed; use type ${typeOf(c, s) | 1}${unusableHint(s)}`,
  };
}

/** DS/ES/FS/GS: a code segment must be readable (R14). */
function dataCodeReadable(s: Seg): Check {
  return {
    id: `guest.${s.id}.code-readable`,
    sdm: SDM,
    cls: "guest",
    fields: [s.fAr, ...V86_FIELDS],
    rule: `If ${s.name} is usable and its type is code (bit 3), the type must be readable (bit 1)`,
    checklist: ["R14"],
    when: pred`${csOrUsable(s)}`,
    fail: pred`(${lo(s.ar)} & ${AR.CODE | AR.RW}) === ${AR.CODE}`,
    message: (c) =>
      `${showAr(c, s)}: ${s.name} holds an execute-only code segment; a data register can only hold readable code (type ${typeOf(c, s) | 2}) or data${unusableHint(s)}`,
  };
}

/** DS/ES/FS/GS: DPL ≥ RPL for data and non-conforming code (types 0–11), unless UG (R21). */
function dataDplGeRpl(s: Seg): Check {
  return {
    id: `guest.${s.id}.dpl-ge-rpl`,
    sdm: SDM,
    cls: "guest",
    fields: [s.fAr, s.fSel, ...MODE_FIELDS],
    rule: `If ${s.name} is usable, its type is 0–11 (data or non-conforming code) and unrestricted guest is 0, its DPL must not be less than the selector's RPL`,
    checklist: ["R21"],
    when: pred`${csOrUsable(s)} && !${ug} && ${type(s)} <= 11`,
    fail: pred`${dpl(s)} < ${rpl(s)}`,
    message: (c) =>
      `${showAr(c, s)} has DPL=${arDpl(ar(c, s))} below ${showSel(c, s)}; for data and non-conforming code the DPL must be ≥ RPL (raise the DPL to ${rplOf(c, s)} or more, or lower the RPL)${unusableHint(s)}`,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The checks, in the SDM's order.

const notV86 = pred`!${G.v86}`;

const selectorChecks: Check[] = [
  {
    id: "guest.tr.selector-ti",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_TR_SELECTOR"],
    rule: "The TR selector's TI flag (bit 2) must be 0 (the TSS descriptor is in the GDT)",
    checklist: ["R1"],
    fail: pred`(${lo(TR.sel)} & 4) !== 0`,
    message: (c) =>
      `GUEST_TR_SELECTOR=${hex(c.lo(TR.sel))} has TI=1 (LDT); TR must select a GDT entry: ${hex(c.lo(TR.sel) & ~4 & 0xffff)}`,
  },
  {
    id: "guest.ldtr.selector-ti",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_LDTR_SELECTOR", "GUEST_LDTR_AR_BYTES"],
    rule: "If LDTR is usable, its selector's TI flag (bit 2) must be 0",
    checklist: ["R2"],
    group: "ldtrUsable",
    when: pred`${G.ldtrUsable}`,
    fail: pred`(${lo(LDTR.sel)} & 4) !== 0`,
    message: (c) =>
      `GUEST_LDTR_SELECTOR=${hex(c.lo(LDTR.sel))} has TI=1 while LDTR is usable (${describeAr(ar(c, LDTR))}); the LDT descriptor must come from the GDT (TI=0: ${hex(c.lo(LDTR.sel) & ~4 & 0xffff)}), or mark LDTR unusable`,
  },
  {
    id: "guest.ss.rpl-eq-cs-rpl",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_SS_SELECTOR", "GUEST_CS_SELECTOR", ...MODE_FIELDS],
    rule: "Unless the guest is virtual-8086 or unrestricted guest is 1, the SS selector's RPL must equal the CS selector's RPL",
    checklist: ["R3"],
    when: pred`!${G.v86} && !${ug}`,
    fail: pred`${rpl(SS)} !== ${rpl(CS)}`,
    message: (c) =>
      `${showSel(c, SS)} but ${showSel(c, CS)} (${modeText(c)}); both RPLs give the CPL and must be equal`,
  },
];

const baseChecks: Check[] = [
  ...CODE_DATA.map(v86Base),
  baseCanonical(TR, false, "R5"),
  baseCanonical(FS, false, "R5"),
  baseCanonical(GS, false, "R5"),
  baseCanonical(LDTR, true, "R6"),
  baseHighZero(CS, "R7"),
  baseHighZero(SS, "R8"),
  baseHighZero(DS, "R8"),
  baseHighZero(ES, "R8"),
];

const limitChecks: Check[] = CODE_DATA.map(v86Limit);

const CS_TYPES = "9, 11, 13 or 15 (accessed code)";

const arChecks: Check[] = [
  ...CODE_DATA.map(v86Ar),
  // Type (R11–R14)
  {
    id: "guest.cs.type",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_CS_AR_BYTES", ...MODE_FIELDS],
    rule: "CS type must be 9, 11, 13 or 15 (accessed code); type 3 (read/write accessed data) is also allowed with unrestricted guest",
    checklist: ["R11"],
    when: notV86,
    // 9, 11, 13, 15 are exactly the types with bits 3 and 0 set.
    fail: pred`(${type(CS)} & 9) !== 9 && !(${type(CS)} === 3 && ${ug})`,
    message: (c) =>
      `${showAr(c, CS)} (${modeText(c)}): CS type must be ${CS_TYPES}${ugOn(c) ? ", or 3 (read/write accessed data) with unrestricted guest" : "; type 3 would need unrestricted guest"}`,
  },
  {
    id: "guest.ss.type",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_SS_AR_BYTES", ...V86_FIELDS],
    rule: "If SS is usable, its type must be 3 or 7 (read/write accessed data)",
    checklist: ["R12"],
    when: pred`${csOrUsable(SS)}`,
    fail: pred`(${type(SS)} | 4) !== 7`,
    message: (c) =>
      `${showAr(c, SS)}: a usable SS must be read/write accessed data, type 3 (expand-up) or 7 (expand-down)${unusableHint(SS)}`,
  },
  ...DATA.map(dataAccessed),
  ...DATA.map(dataCodeReadable),
  // S (R15)
  ...CODE_DATA.map(sSet),
  // DPL (R16–R21)
  {
    id: "guest.cs.dpl-type3",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_CS_AR_BYTES", ...V86_FIELDS],
    rule: "If the CS type is 3 (read/write accessed data, unrestricted guest), the CS DPL must be 0",
    checklist: ["R16"],
    when: pred`!${G.v86} && ${type(CS)} === 3`,
    fail: pred`${dpl(CS)} !== 0`,
    message: (c) =>
      `${showAr(c, CS)}: a type-3 (data) CS is only the real-mode-like state of an unrestricted guest and must have DPL=0: ${hex(ar(c, CS) & ~AR.DPL)}`,
  },
  {
    id: "guest.cs.dpl-eq-ss-dpl",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_CS_AR_BYTES", "GUEST_SS_AR_BYTES", ...V86_FIELDS],
    rule: "If the CS type is 9 or 11 (non-conforming code), the CS DPL must equal the SS DPL",
    checklist: ["R17"],
    when: pred`!${G.v86} && (${type(CS)} === 9 || ${type(CS)} === 11)`,
    fail: pred`${dpl(CS)} !== ${dpl(SS)}`,
    message: (c) =>
      `CS is non-conforming code with DPL=${arDpl(ar(c, CS))} but SS DPL=${arDpl(ar(c, SS))} (${showAr(c, CS)}; ${showAr(c, SS)}); the two DPLs are the CPL and must be equal`,
  },
  {
    id: "guest.cs.dpl-le-ss-dpl",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_CS_AR_BYTES", "GUEST_SS_AR_BYTES", ...V86_FIELDS],
    rule: "If the CS type is 13 or 15 (conforming code), the CS DPL must not be greater than the SS DPL",
    checklist: ["R18"],
    when: pred`!${G.v86} && (${type(CS)} === 13 || ${type(CS)} === 15)`,
    fail: pred`${dpl(CS)} > ${dpl(SS)}`,
    message: (c) =>
      `CS is conforming code with DPL=${arDpl(ar(c, CS))} above SS DPL=${arDpl(ar(c, SS))} (the CPL) (${showAr(c, CS)}; ${showAr(c, SS)}); a conforming CS needs DPL ≤ ${arDpl(ar(c, SS))}`,
  },
  {
    id: "guest.ss.dpl-eq-rpl",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_SS_AR_BYTES", "GUEST_SS_SELECTOR", ...MODE_FIELDS],
    rule: "Unless unrestricted guest is 1, the SS DPL must equal the SS selector's RPL (also when SS is unusable)",
    checklist: ["R19"],
    when: pred`!${G.v86} && !${ug}`,
    fail: pred`${dpl(SS)} !== ${rpl(SS)}`,
    message: (c) =>
      `${showAr(c, SS)} has DPL=${arDpl(ar(c, SS))} but ${showSel(c, SS)}; without unrestricted guest they must be equal (SS.DPL is the CPL and is loaded even when SS is unusable)`,
  },
  {
    id: "guest.ss.dpl-zero-cs-type3",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_SS_AR_BYTES", "GUEST_CS_AR_BYTES", ...V86_FIELDS],
    rule: "If the CS type is 3 (unrestricted guest with a data CS), the SS DPL must be 0",
    checklist: ["R20"],
    when: pred`!${G.v86} && ${type(CS)} === 3`,
    fail: pred`${dpl(SS)} !== 0`,
    message: (c) =>
      `CS has type 3 (${describeAr(ar(c, CS))}) so the guest runs at CPL 0, but ${showAr(c, SS)} has DPL=${arDpl(ar(c, SS))}; SS DPL must be 0`,
  },
  {
    id: "guest.ss.dpl-zero-real-mode",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_SS_AR_BYTES", "GUEST_CR0", ...V86_FIELDS],
    rule: "If guest CR0.PE is 0 (real mode, unrestricted guest), the SS DPL must be 0",
    checklist: ["R20"],
    when: pred`!${G.v86} && (${lo(F_CR0)} & ${CR0.PE}) === 0`,
    fail: pred`${dpl(SS)} !== 0`,
    message: (c) =>
      `${show(c, F_CR0)} has PE=0 (real mode, CPL 0) but ${showAr(c, SS)} has DPL=${arDpl(ar(c, SS))}; SS DPL must be 0`,
  },
  ...DATA.map(dataDplGeRpl),
  // P (R22)
  ...CODE_DATA.map(present),
  // Reserved bits 11:8 (R23)
  ...CODE_DATA.map((s) =>
    reserved118(s, "R23", csOrUsable(s), s === CS ? "CS" : `If ${s.name} is usable, its`),
  ),
  // D/B (R24)
  {
    id: "guest.cs.l-and-d",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_CS_AR_BYTES", "VM_ENTRY_CONTROLS", ...V86_FIELDS],
    rule: "In an IA-32e mode guest, CS.L and CS.D/B must not both be 1",
    checklist: ["R24"],
    when: pred`!${G.v86} && ${ia32e}`,
    fail: pred`(${lo(CS.ar)} & ${AR.L | AR.DB}) === ${AR.L | AR.DB}`,
    message: (c) =>
      `${showAr(c, CS)}: L=1 and D/B=1 in an IA-32e mode guest; clear D/B for 64-bit code (${hex(ar(c, CS) & ~AR.DB)}) or clear L for compatibility mode (${hex(ar(c, CS) & ~AR.L)})`,
  },
  // G (R25, R26)
  ...CODE_DATA.map((s) => gLow(s, "R25", csOrUsable(s), s === CS ? "CS:" : `If ${s.name} is usable:`)),
  ...CODE_DATA.map((s) => gHigh(s, "R26", csOrUsable(s), s === CS ? "CS:" : `If ${s.name} is usable:`)),
  // Reserved bits 31:17 (R27)
  ...CODE_DATA.map((s) =>
    reserved3117(s, "R27", csOrUsable(s), s === CS ? "CS" : `If ${s.name} is usable, its`),
  ),
];

const fredChecks: Check[] = [
  {
    id: "guest.ss.fred-dpl",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_SS_AR_BYTES", "GUEST_CR4", "VM_ENTRY_CONTROLS"],
    rule: "If the guest will use FRED transitions (IA-32e mode guest, CR4.FRED=1), the SS DPL must be 0 or 3",
    checklist: ["R28"],
    when: pred`${fredGuest}`,
    fail: pred`${dpl(SS)} === 1 || ${dpl(SS)} === 2`,
    message: (c) =>
      `${showAr(c, SS)} has DPL=${arDpl(ar(c, SS))} while the guest will use FRED transitions (IA-32e mode guest, CR4.FRED=1); FRED knows only CPL 0 and 3, so SS DPL must be 0 or 3`,
  },
  {
    id: "guest.ss.fred-dpl0-cs-l",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_SS_AR_BYTES", "GUEST_CS_AR_BYTES", "GUEST_CR4", "VM_ENTRY_CONTROLS"],
    rule: "If the guest will use FRED transitions and the SS DPL is 0, CS.L must be 1 (no CPL-0 compatibility mode)",
    checklist: ["R29"],
    when: pred`${fredGuest} && ${dpl(SS)} === 0`,
    fail: pred`(${lo(CS.ar)} & ${AR.L}) === 0`,
    message: (c) =>
      `SS DPL=0 (CPL 0) with ${showAr(c, CS)} (L=0, compatibility mode) while the guest will use FRED transitions; with FRED, CPL 0 must run 64-bit code: set CS.L=1 and D/B=0 (${hex((ar(c, CS) | AR.L) & ~AR.DB)})`,
  },
];

const TR_TYPES = (c: Ctx): string =>
  ia32eOn(c) ? "11 (64-bit busy TSS) in an IA-32e mode guest" : "3 (16-bit busy TSS) or 11 (32-bit busy TSS)";

const trChecks: Check[] = [
  {
    id: "guest.tr.type",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_TR_AR_BYTES", "VM_ENTRY_CONTROLS"],
    rule: "TR type must be 11 (busy 32/64-bit TSS), or 3 (busy 16-bit TSS) if the guest is not IA-32e mode",
    checklist: ["R30"],
    fail: pred`${type(TR)} !== 11 && (${type(TR)} !== 3 || ${ia32e})`,
    message: (c) => `${showAr(c, TR)}: TR type must be ${TR_TYPES(c)}`,
  },
  {
    id: "guest.tr.s-clear",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_TR_AR_BYTES"],
    rule: "TR access-rights S bit (4) must be 0 (system segment)",
    checklist: ["R31"],
    fail: pred`(${lo(TR.ar)} & ${AR.S}) !== 0`,
    message: (c) => `${showAr(c, TR)}: S=1 describes a code/data segment; a TSS is a system segment (S=0)`,
  },
  {
    id: "guest.tr.present",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_TR_AR_BYTES"],
    rule: "TR access-rights P bit (7) must be 1",
    checklist: ["R32"],
    fail: pred`(${lo(TR.ar)} & ${AR.P}) === 0`,
    message: (c) => `${showAr(c, TR)}: the TSS is not present; set P=1`,
  },
  reserved118(TR, "R33", undefined, "TR"),
  gLow(TR, "R34", undefined, "TR:"),
  gHigh(TR, "R35", undefined, "TR:"),
  {
    id: "guest.tr.usable",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_TR_AR_BYTES"],
    rule: "TR must be usable (access-rights bit 16 = 0)",
    checklist: ["R36"],
    fail: pred`(${lo(TR.ar)} & ${AR.UNUSABLE}) !== 0`,
    message: (c) =>
      `${showAr(c, TR)}: TR is marked unusable; every guest needs a task register: clear bit 16 (e.g. ${hex(ar(c, TR) & ~AR.UNUSABLE)})`,
  },
  reserved3117(TR, "R37", undefined, "TR"),
];

const ldtrChecks: Check[] = [
  {
    id: "guest.ldtr.type",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_LDTR_AR_BYTES"],
    rule: "If LDTR is usable, its type must be 2 (LDT)",
    checklist: ["R38"],
    group: "ldtrUsable",
    when: pred`${G.ldtrUsable}`,
    fail: pred`${type(LDTR)} !== 2`,
    message: (c) =>
      `${showAr(c, LDTR)}: a usable LDTR must have type 2 (LDT), or mark LDTR unusable (AR bit 16 = 1)`,
  },
  {
    id: "guest.ldtr.s-clear",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_LDTR_AR_BYTES"],
    rule: "If LDTR is usable, its S bit (4) must be 0 (system segment)",
    checklist: ["R39"],
    group: "ldtrUsable",
    when: pred`${G.ldtrUsable}`,
    fail: pred`(${lo(LDTR.ar)} & ${AR.S}) !== 0`,
    message: (c) =>
      `${showAr(c, LDTR)}: S=1 describes a code/data segment; an LDT is a system segment (S=0), or mark LDTR unusable`,
  },
  {
    id: "guest.ldtr.present",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_LDTR_AR_BYTES"],
    rule: "If LDTR is usable, its P bit (7) must be 1",
    checklist: ["R40"],
    group: "ldtrUsable",
    when: pred`${G.ldtrUsable}`,
    fail: pred`(${lo(LDTR.ar)} & ${AR.P}) === 0`,
    message: (c) => `${showAr(c, LDTR)}: a usable LDTR must be present (P=1), or mark LDTR unusable`,
  },
  { ...reserved118(LDTR, "R41", G.ldtrUsable, "If LDTR is usable, its"), group: "ldtrUsable" },
  { ...gLow(LDTR, "R42", G.ldtrUsable, "If LDTR is usable:"), group: "ldtrUsable" },
  { ...gHigh(LDTR, "R43", G.ldtrUsable, "If LDTR is usable:"), group: "ldtrUsable" },
  { ...reserved3117(LDTR, "R44", G.ldtrUsable, "If LDTR is usable, its"), group: "ldtrUsable" },
];

export const guestSegmentsChecks: readonly Check[] = [
  ...selectorChecks,
  ...baseChecks,
  ...limitChecks,
  ...arChecks,
  ...fredChecks,
  ...trChecks,
  ...ldtrChecks,
];
