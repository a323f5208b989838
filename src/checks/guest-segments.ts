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
import * as archRegisters from "../arch/registers.js";
import { hex, hex64 } from "../util/u64.js";
import { decoders } from "./compile.js";
import { section } from "./rule.js";
import type { State } from "./state.js";
import * as util from "./util.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves predicates' names in this module (compile.ts).
const scope = (name: string): unknown => eval(name);

// Short local names for the imported tables and helpers.
const { AR, CR0, describeAr } = archRegisters;
const { arDpl, canonical, fredGuest, ia32eGuest, notCanonical, show, unrestrictedGuest } = util;

const { rule, checks } = section({ scope, sdm: "29.3.1.2", title: "Guest segment registers", cls: "guest" });

// ---------------------------------------------------------------------------------------------------------
// Segment registers and their fields.

type SegName = "CS" | "SS" | "DS" | "ES" | "FS" | "GS" | "TR" | "LDTR";

function seg<N extends SegName>(name: N) {
  return {
    /** upper-case name as in the field names: CS, SS, ... */
    name,
    /** lower-case name for check ids */
    id: name.toLowerCase(),
    /** the fields, as rule bindings (`p.ar`) */
    p: {
      sel: `GUEST_${name}_SELECTOR` as const,
      base: `GUEST_${name}_BASE` as const,
      limit: `GUEST_${name}_LIMIT` as const,
      ar: `GUEST_${name}_AR_BYTES` as const,
    },
  };
}
type Seg = ReturnType<typeof seg<SegName>>;

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

const { usable, rpl, arType, gLowBad, gHighBad } = decoders(scope, {
  /** The register is usable: access-rights bit 16 = 0. */
  usable: (ar: number) => (ar & AR.UNUSABLE) === 0,
  /** Selector RPL (bits 1:0). */
  rpl: (sel: number) => sel & 3,
  /** Access-rights type (bits 3:0). */
  arType: (ar: number) => ar & AR.TYPE,
  /** G rule, first half: if any of limit bits 11:0 is 0, G must be 0. */
  gLowBad: (ar: number, limit: number) => (ar & AR.G) !== 0 && (limit & 0xfff) !== 0xfff,
  /** G rule, second half: if any of limit bits 31:20 is 1, G must be 1. */
  gHighBad: (ar: number, limit: number) => (ar & AR.G) === 0 && (limit & 0xfff00000) !== 0,
});

/** Code/data AR sub-field rules apply to CS always and to the others only when usable (not virtual-8086). */
const csOrUsable = (g: Seg) =>
  g === CS ? (s: State) => !s.v86 : (s: State, p: Seg["p"]) => !s.v86 && usable(s[p.ar]);
/** "If usable" for any register (LDTR, and the others outside virtual-8086 mode). */
const ifUsable = (s: State, p: Seg["p"]) => usable(s[p.ar]);

// Message helpers (run only on failure).
/** `GUEST_CS_AR_BYTES=0xa09b (type=11 code ..., S=1, ...)` */
const showAr = (s: State, g: Seg): string => `${g.p.ar}=${describeAr(s[g.p.ar])}`;
const showSel = (s: State, g: Seg): string => `${g.p.sel}=${hex(s[g.p.sel])} (RPL=${rpl(s[g.p.sel])})`;
const showLimit = (s: State, g: Seg): string => `${g.p.limit}=${hex(s[g.p.limit])}`;
const modeText = (s: State): string =>
  s.v86
    ? "virtual-8086 guest"
    : `${ia32eGuest(s) ? "IA-32e mode" : "non-IA-32e"} guest, CR0.PE=${s.GUEST_CR0 & CR0.PE}, unrestricted guest=${unrestrictedGuest(s) ? 1 : 0}`;
/** Which AR value a code/data register would need to be "usable": unusable registers skip these rules. */
const unusableHint = (g: Seg): string =>
  g === CS ? "" : ` (or mark ${g.name} unusable: AR bit 16 = 1, which skips this rule)`;
/** "CS" / "If DS is usable, its" at the start of a rule. */
const whose = (g: Seg): string => (g === CS ? "CS" : `If ${g.name} is usable, its`);

// ---------------------------------------------------------------------------------------------------------
// Factories, one per SDM rule shape, for the registers it applies to.

const v86Base = (g: Seg) =>
  rule({
    id: `guest.${g.id}.v86-base`,
    rule: `In a virtual-8086 guest, the ${g.name} base must be the ${g.name} selector shifted left by 4`,
    checklist: ["R4"],
    group: "v86",
    p: g.p,
    fail: (s, p) => s.hi[p.base] !== 0 || s[p.base] !== (s[p.sel] & 0xffff) << 4,
    message: (s) =>
      `${show(s, g.p.base)} but ${g.p.sel}=${hex(s[g.p.sel])} in a virtual-8086 guest (RFLAGS.VM=1); the base must be selector × 16 = ${hex((s[g.p.sel] & 0xffff) << 4)}`,
  });

const v86Limit = (g: Seg) =>
  rule({
    id: `guest.${g.id}.v86-limit`,
    rule: `In a virtual-8086 guest, the ${g.name} limit must be 0000FFFFH`,
    checklist: ["R9"],
    group: "v86",
    p: g.p,
    fail: (s, p) => s[p.limit] !== 0xffff,
    message: (s) => `${showLimit(s, g)} in a virtual-8086 guest (RFLAGS.VM=1); the limit must be 0xffff`,
  });

const v86Ar = (g: Seg) =>
  rule({
    id: `guest.${g.id}.v86-ar`,
    rule: `In a virtual-8086 guest, the ${g.name} access rights must be 000000F3H`,
    checklist: ["R10"],
    group: "v86",
    p: g.p,
    fail: (s, p) => s[p.ar] !== 0xf3,
    message: (s) =>
      `${showAr(s, g)} in a virtual-8086 guest (RFLAGS.VM=1); the access rights must be exactly 0xf3 (type=3 read/write accessed data, S=1, DPL=3, P=1, usable, every other bit 0)`,
  });

const baseCanonical = (g: Seg, onlyUsable: boolean, checklist: string) =>
  rule({
    id: `guest.${g.id}.base-canonical`,
    rule: onlyUsable
      ? `If ${g.name} is usable, its base must be canonical (Intel 64 processors)`
      : `The ${g.name} base must be canonical, even when ${g.name} is unusable (Intel 64 processors)`,
    checklist: [checklist],
    group: "intel64",
    p: g.p,
    ...(onlyUsable ? { when: ifUsable } : {}),
    fail: (s, p) => !canonical(s, s.hi[p.base]),
    message: (s) =>
      `${show(s, g.p.base)} ${notCanonical(s)}${onlyUsable ? ` (${g.name} is usable: ${describeAr(s[g.p.ar])})` : ""}`,
  });

const baseHighZero = (g: Seg, checklist: string) =>
  rule({
    id: `guest.${g.id}.base-high-zero`,
    rule:
      g !== CS
        ? `If ${g.name} is usable, bits 63:32 of its base must be 0 (Intel 64 processors)`
        : `Bits 63:32 of the ${g.name} base must be 0 (Intel 64 processors)`,
    checklist: [checklist],
    group: "intel64",
    p: g.p,
    ...(g !== CS ? { when: ifUsable } : {}),
    fail: (s, p) => s.hi[p.base] !== 0,
    message: (s) =>
      `${show(s, g.p.base)} has bits 63:32 set (${hex(s.hi[g.p.base])}); they must be 0, e.g. ${hex64(s[g.p.base], 0)}${unusableHint(g)}`,
  });

/** S = 1 for CS and usable SS/DS/ES/FS/GS (R15). */
const sSet = (g: Seg) =>
  rule({
    id: `guest.${g.id}.s-set`,
    rule: `${whose(g)} access-rights S bit (4) must be 1 (code or data segment)`,
    checklist: ["R15"],
    p: g.p,
    when: csOrUsable(g),
    fail: (s, p) => (s[p.ar] & AR.S) === 0,
    message: (s) =>
      `${showAr(s, g)}: S=0 describes a system segment; ${g.name} needs a code or data descriptor (S=1)${unusableHint(g)}`,
  });

const present = (g: Seg) =>
  rule({
    id: `guest.${g.id}.present`,
    rule: `${whose(g)} access-rights P bit (7) must be 1`,
    checklist: ["R22"],
    p: g.p,
    when: csOrUsable(g),
    fail: (s, p) => (s[p.ar] & AR.P) === 0,
    message: (s) => `${showAr(s, g)}: the segment is not present; set P=1${unusableHint(g)}`,
  });

/** The applicability of the shared AR rules: CS/usable data registers; TR always; LDTR when usable. */
const arGate = (g: Seg) =>
  g === TR ? {} : g === LDTR ? { group: "ldtrUsable" as const } : { when: csOrUsable(g) };
const arWhat = (g: Seg, colon = "") =>
  g === TR
    ? `TR${colon}`
    : g === LDTR
      ? `If LDTR is usable${colon || ", its"}`
      : colon
        ? `${g === CS ? "CS" : `If ${g.name} is usable`}${colon}`
        : whose(g);

const reserved118 = (g: Seg, checklist: string) =>
  rule({
    id: `guest.${g.id}.ar-reserved-11-8`,
    rule: `${arWhat(g)} access-rights bits 11:8 (reserved) must be 0`,
    checklist: [checklist],
    p: g.p,
    ...arGate(g),
    fail: (s, p) => s[p.ar] & AR.RESERVED_11_8,
    message: (s, bad) =>
      `${showAr(s, g)} sets reserved bits 11:8 (${hex(bad)}); clear them: ${hex(s[g.p.ar] & ~AR.RESERVED_11_8)}`,
  });

const reserved3117 = (g: Seg, checklist: string) =>
  rule({
    id: `guest.${g.id}.ar-reserved-31-17`,
    rule: `${arWhat(g)} access-rights bits 31:17 (reserved) must be 0`,
    checklist: [checklist],
    p: g.p,
    ...arGate(g),
    fail: (s, p) => s[p.ar] & AR.RESERVED_31_17,
    message: (s, bad) =>
      `${showAr(s, g)} sets reserved bits 31:17 (${hex(bad)}); clear them: ${hex(s[g.p.ar] & ~AR.RESERVED_31_17)}`,
  });

const gLow = (g: Seg, checklist: string) =>
  rule({
    id: `guest.${g.id}.g-limit-11-0`,
    rule: `${arWhat(g, ":")} G must be 0 if any of limit bits 11:0 is 0`,
    checklist: [checklist],
    p: g.p,
    ...arGate(g),
    fail: (s, p) => gLowBad(s[p.ar], s[p.limit]),
    message: (s) =>
      `${showAr(s, g)} has G=1 (4-KByte granularity) but ${showLimit(s, g)} has limit bits 11:0 = ${hex(s[g.p.limit] & 0xfff)}; with G=1 bits 11:0 must all be 1 (e.g. limit ${hex(s[g.p.limit] | 0xfff)}), or use G=0 (only possible when limit bits 31:20 are 0)`,
  });

const gHigh = (g: Seg, checklist: string) =>
  rule({
    id: `guest.${g.id}.g-limit-31-20`,
    rule: `${arWhat(g, ":")} G must be 1 if any of limit bits 31:20 is 1`,
    checklist: [checklist],
    p: g.p,
    ...arGate(g),
    fail: (s, p) => gHighBad(s[p.ar], s[p.limit]),
    message: (s) =>
      `${showAr(s, g)} has G=0 (byte granularity) but ${showLimit(s, g)} exceeds 0xfffff; a byte-granular limit must be at most 0xfffff, otherwise set G=1 (and limit bits 11:0 to 1)`,
  });

/** DS/ES/FS/GS type bit 0 (accessed) must be 1 when usable (R13). */
const dataAccessed = (g: Seg) =>
  rule({
    id: `guest.${g.id}.type-accessed`,
    rule: `If ${g.name} is usable, its type must have bit 0 (accessed) set`,
    checklist: ["R13"],
    p: g.p,
    when: csOrUsable(g),
    fail: (s, p) => (s[p.ar] & AR.ACCESSED) === 0,
    message: (s) =>
      `${showAr(s, g)}: type ${arType(s[g.p.ar])} is not marked accessed; use type ${arType(s[g.p.ar]) | 1}${unusableHint(g)}`,
  });

/** DS/ES/FS/GS: a code segment must be readable (R14). */
const dataCodeReadable = (g: Seg) =>
  rule({
    id: `guest.${g.id}.code-readable`,
    rule: `If ${g.name} is usable and its type is code (bit 3), the type must be readable (bit 1)`,
    checklist: ["R14"],
    p: g.p,
    when: csOrUsable(g),
    fail: (s, p) => (s[p.ar] & (AR.CODE | AR.RW)) === AR.CODE,
    message: (s) =>
      `${showAr(s, g)}: ${g.name} holds an execute-only code segment; a data register can only hold readable code (type ${arType(s[g.p.ar]) | 2}) or data${unusableHint(g)}`,
  });

/** DS/ES/FS/GS: DPL ≥ RPL for data and non-conforming code (types 0–11), unless UG (R21). */
const dataDplGeRpl = (g: Seg) =>
  rule({
    id: `guest.${g.id}.dpl-ge-rpl`,
    rule: `If ${g.name} is usable, its type is 0–11 (data or non-conforming code) and unrestricted guest is 0, its DPL must not be less than the selector's RPL`,
    checklist: ["R21"],
    p: g.p,
    when: (s, p) => !s.v86 && usable(s[p.ar]) && !unrestrictedGuest(s) && arType(s[p.ar]) <= 11,
    fail: (s, p) => arDpl(s[p.ar]) < rpl(s[p.sel]),
    message: (s) =>
      `${showAr(s, g)} has DPL=${arDpl(s[g.p.ar])} below ${showSel(s, g)}; for data and non-conforming code the DPL must be ≥ RPL (raise the DPL to ${rpl(s[g.p.sel])} or more, or lower the RPL)${unusableHint(g)}`,
  });

// ---------------------------------------------------------------------------------------------------------
// The checks, in the SDM's order.

const CS_TYPES = "9, 11, 13 or 15 (accessed code)";
const trTypes = (s: State): string =>
  ia32eGuest(s)
    ? "11 (64-bit busy TSS) in an IA-32e mode guest"
    : "3 (16-bit busy TSS) or 11 (32-bit busy TSS)";

export default checks([
  // Selectors (R1–R3)
  rule({
    id: "guest.tr.selector-ti",
    rule: "The TR selector's TI flag (bit 2) must be 0 (the TSS descriptor is in the GDT)",
    checklist: ["R1"],
    fail: (s) => (s.GUEST_TR_SELECTOR & 4) !== 0,
    message: (s) =>
      `GUEST_TR_SELECTOR=${hex(s.GUEST_TR_SELECTOR)} has TI=1 (LDT); TR must select a GDT entry: ${hex(s.GUEST_TR_SELECTOR & ~4 & 0xffff)}`,
  }),
  rule({
    id: "guest.ldtr.selector-ti",
    rule: "If LDTR is usable, its selector's TI flag (bit 2) must be 0",
    checklist: ["R2"],
    group: "ldtrUsable",
    fail: (s) => (s.GUEST_LDTR_SELECTOR & 4) !== 0,
    message: (s) =>
      `GUEST_LDTR_SELECTOR=${hex(s.GUEST_LDTR_SELECTOR)} has TI=1 while LDTR is usable (${describeAr(s.GUEST_LDTR_AR_BYTES)}); the LDT descriptor must come from the GDT (TI=0: ${hex(s.GUEST_LDTR_SELECTOR & ~4 & 0xffff)}), or mark LDTR unusable`,
  }),
  rule({
    id: "guest.ss.rpl-eq-cs-rpl",
    rule: "Unless the guest is virtual-8086 or unrestricted guest is 1, the SS selector's RPL must equal the CS selector's RPL",
    checklist: ["R3"],
    when: (s) => !s.v86 && !unrestrictedGuest(s),
    fail: (s) => rpl(s.GUEST_SS_SELECTOR) !== rpl(s.GUEST_CS_SELECTOR),
    message: (s) =>
      `${showSel(s, SS)} but ${showSel(s, CS)} (${modeText(s)}); both RPLs give the CPL and must be equal`,
  }),

  // Bases (R4–R8)
  CODE_DATA.map(v86Base),
  baseCanonical(TR, false, "R5"),
  baseCanonical(FS, false, "R5"),
  baseCanonical(GS, false, "R5"),
  baseCanonical(LDTR, true, "R6"),
  baseHighZero(CS, "R7"),
  [SS, DS, ES].map((g) => baseHighZero(g, "R8")),

  // Limits (R9)
  CODE_DATA.map(v86Limit),

  // Access rights (R10–R27)
  CODE_DATA.map(v86Ar),
  // Type (R11–R14)
  rule({
    id: "guest.cs.type",
    rule: "CS type must be 9, 11, 13 or 15 (accessed code); type 3 (read/write accessed data) is also allowed with unrestricted guest",
    checklist: ["R11"],
    when: (s) => !s.v86,
    // 9, 11, 13, 15 are exactly the types with bits 3 and 0 set.
    fail: (s) =>
      (arType(s.GUEST_CS_AR_BYTES) & 9) !== 9 && !(arType(s.GUEST_CS_AR_BYTES) === 3 && unrestrictedGuest(s)),
    message: (s) =>
      `${showAr(s, CS)} (${modeText(s)}): CS type must be ${CS_TYPES}${unrestrictedGuest(s) ? ", or 3 (read/write accessed data) with unrestricted guest" : "; type 3 would need unrestricted guest"}`,
  }),
  rule({
    id: "guest.ss.type",
    rule: "If SS is usable, its type must be 3 or 7 (read/write accessed data)",
    checklist: ["R12"],
    p: SS.p,
    when: csOrUsable(SS),
    fail: (s) => (arType(s.GUEST_SS_AR_BYTES) | 4) !== 7,
    message: (s) =>
      `${showAr(s, SS)}: a usable SS must be read/write accessed data, type 3 (expand-up) or 7 (expand-down)${unusableHint(SS)}`,
  }),
  DATA.map(dataAccessed),
  DATA.map(dataCodeReadable),
  // S (R15)
  CODE_DATA.map(sSet),
  // DPL (R16–R21)
  rule({
    id: "guest.cs.dpl-type3",
    rule: "If the CS type is 3 (read/write accessed data, unrestricted guest), the CS DPL must be 0",
    checklist: ["R16"],
    when: (s) => !s.v86 && arType(s.GUEST_CS_AR_BYTES) === 3,
    fail: (s) => arDpl(s.GUEST_CS_AR_BYTES) !== 0,
    message: (s) =>
      `${showAr(s, CS)}: a type-3 (data) CS is only the real-mode-like state of an unrestricted guest and must have DPL=0: ${hex(s.GUEST_CS_AR_BYTES & ~AR.DPL)}`,
  }),
  rule({
    id: "guest.cs.dpl-eq-ss-dpl",
    rule: "If the CS type is 9 or 11 (non-conforming code), the CS DPL must equal the SS DPL",
    checklist: ["R17"],
    when: (s) => !s.v86 && (arType(s.GUEST_CS_AR_BYTES) === 9 || arType(s.GUEST_CS_AR_BYTES) === 11),
    fail: (s) => arDpl(s.GUEST_CS_AR_BYTES) !== arDpl(s.GUEST_SS_AR_BYTES),
    message: (s) =>
      `CS is non-conforming code with DPL=${arDpl(s.GUEST_CS_AR_BYTES)} but SS DPL=${arDpl(s.GUEST_SS_AR_BYTES)} (${showAr(s, CS)}; ${showAr(s, SS)}); the two DPLs are the CPL and must be equal`,
  }),
  rule({
    id: "guest.cs.dpl-le-ss-dpl",
    rule: "If the CS type is 13 or 15 (conforming code), the CS DPL must not be greater than the SS DPL",
    checklist: ["R18"],
    when: (s) => !s.v86 && (arType(s.GUEST_CS_AR_BYTES) === 13 || arType(s.GUEST_CS_AR_BYTES) === 15),
    fail: (s) => arDpl(s.GUEST_CS_AR_BYTES) > arDpl(s.GUEST_SS_AR_BYTES),
    message: (s) =>
      `CS is conforming code with DPL=${arDpl(s.GUEST_CS_AR_BYTES)} above SS DPL=${arDpl(s.GUEST_SS_AR_BYTES)} (the CPL) (${showAr(s, CS)}; ${showAr(s, SS)}); a conforming CS needs DPL ≤ ${arDpl(s.GUEST_SS_AR_BYTES)}`,
  }),
  rule({
    id: "guest.ss.dpl-eq-rpl",
    rule: "Unless unrestricted guest is 1, the SS DPL must equal the SS selector's RPL (also when SS is unusable)",
    checklist: ["R19"],
    when: (s) => !s.v86 && !unrestrictedGuest(s),
    fail: (s) => arDpl(s.GUEST_SS_AR_BYTES) !== rpl(s.GUEST_SS_SELECTOR),
    message: (s) =>
      `${showAr(s, SS)} has DPL=${arDpl(s.GUEST_SS_AR_BYTES)} but ${showSel(s, SS)}; without unrestricted guest they must be equal (SS.DPL is the CPL and is loaded even when SS is unusable)`,
  }),
  rule({
    id: "guest.ss.dpl-zero-cs-type3",
    rule: "If the CS type is 3 (unrestricted guest with a data CS), the SS DPL must be 0",
    checklist: ["R20"],
    when: (s) => !s.v86 && arType(s.GUEST_CS_AR_BYTES) === 3,
    fail: (s) => arDpl(s.GUEST_SS_AR_BYTES) !== 0,
    message: (s) =>
      `CS has type 3 (${describeAr(s.GUEST_CS_AR_BYTES)}) so the guest runs at CPL 0, but ${showAr(s, SS)} has DPL=${arDpl(s.GUEST_SS_AR_BYTES)}; SS DPL must be 0`,
  }),
  rule({
    id: "guest.ss.dpl-zero-real-mode",
    rule: "If guest CR0.PE is 0 (real mode, unrestricted guest), the SS DPL must be 0",
    checklist: ["R20"],
    when: (s) => !s.v86 && (s.GUEST_CR0 & CR0.PE) === 0,
    fail: (s) => arDpl(s.GUEST_SS_AR_BYTES) !== 0,
    message: (s) =>
      `${show(s, "GUEST_CR0")} has PE=0 (real mode, CPL 0) but ${showAr(s, SS)} has DPL=${arDpl(s.GUEST_SS_AR_BYTES)}; SS DPL must be 0`,
  }),
  DATA.map(dataDplGeRpl),
  // P (R22)
  CODE_DATA.map(present),
  // Reserved bits 11:8 (R23)
  CODE_DATA.map((g) => reserved118(g, "R23")),
  // D/B (R24)
  rule({
    id: "guest.cs.l-and-d",
    rule: "In an IA-32e mode guest, CS.L and CS.D/B must not both be 1",
    checklist: ["R24"],
    when: (s) => !s.v86 && ia32eGuest(s),
    fail: (s) => (s.GUEST_CS_AR_BYTES & (AR.L | AR.DB)) === (AR.L | AR.DB),
    message: (s) =>
      `${showAr(s, CS)}: L=1 and D/B=1 in an IA-32e mode guest; clear D/B for 64-bit code (${hex(s.GUEST_CS_AR_BYTES & ~AR.DB)}) or clear L for compatibility mode (${hex(s.GUEST_CS_AR_BYTES & ~AR.L)})`,
  }),
  // G (R25, R26)
  CODE_DATA.map((g) => gLow(g, "R25")),
  CODE_DATA.map((g) => gHigh(g, "R26")),
  // Reserved bits 31:17 (R27)
  CODE_DATA.map((g) => reserved3117(g, "R27")),

  // FRED (R28, R29)
  rule({
    id: "guest.ss.fred-dpl",
    rule: "If the guest will use FRED transitions (IA-32e mode guest, CR4.FRED=1), the SS DPL must be 0 or 3",
    checklist: ["R28"],
    when: (s) => fredGuest(s),
    fail: (s) => arDpl(s.GUEST_SS_AR_BYTES) === 1 || arDpl(s.GUEST_SS_AR_BYTES) === 2,
    message: (s) =>
      `${showAr(s, SS)} has DPL=${arDpl(s.GUEST_SS_AR_BYTES)} while the guest will use FRED transitions (IA-32e mode guest, CR4.FRED=1); FRED knows only CPL 0 and 3, so SS DPL must be 0 or 3`,
  }),
  rule({
    id: "guest.ss.fred-dpl0-cs-l",
    rule: "If the guest will use FRED transitions and the SS DPL is 0, CS.L must be 1 (no CPL-0 compatibility mode)",
    checklist: ["R29"],
    when: (s) => fredGuest(s) && arDpl(s.GUEST_SS_AR_BYTES) === 0,
    fail: (s) => (s.GUEST_CS_AR_BYTES & AR.L) === 0,
    message: (s) =>
      `SS DPL=0 (CPL 0) with ${showAr(s, CS)} (L=0, compatibility mode) while the guest will use FRED transitions; with FRED, CPL 0 must run 64-bit code: set CS.L=1 and D/B=0 (${hex((s.GUEST_CS_AR_BYTES | AR.L) & ~AR.DB)})`,
  }),

  // TR (R30–R37)
  rule({
    id: "guest.tr.type",
    rule: "TR type must be 11 (busy 32/64-bit TSS), or 3 (busy 16-bit TSS) if the guest is not IA-32e mode",
    checklist: ["R30"],
    fail: (s) => arType(s.GUEST_TR_AR_BYTES) !== 11 && (arType(s.GUEST_TR_AR_BYTES) !== 3 || ia32eGuest(s)),
    message: (s) => `${showAr(s, TR)}: TR type must be ${trTypes(s)}`,
  }),
  rule({
    id: "guest.tr.s-clear",
    rule: "TR access-rights S bit (4) must be 0 (system segment)",
    checklist: ["R31"],
    fail: (s) => (s.GUEST_TR_AR_BYTES & AR.S) !== 0,
    message: (s) => `${showAr(s, TR)}: S=1 describes a code/data segment; a TSS is a system segment (S=0)`,
  }),
  rule({
    id: "guest.tr.present",
    rule: "TR access-rights P bit (7) must be 1",
    checklist: ["R32"],
    fail: (s) => (s.GUEST_TR_AR_BYTES & AR.P) === 0,
    message: (s) => `${showAr(s, TR)}: the TSS is not present; set P=1`,
  }),
  reserved118(TR, "R33"),
  gLow(TR, "R34"),
  gHigh(TR, "R35"),
  rule({
    id: "guest.tr.usable",
    rule: "TR must be usable (access-rights bit 16 = 0)",
    checklist: ["R36"],
    fail: (s) => (s.GUEST_TR_AR_BYTES & AR.UNUSABLE) !== 0,
    message: (s) =>
      `${showAr(s, TR)}: TR is marked unusable; every guest needs a task register: clear bit 16 (e.g. ${hex(s.GUEST_TR_AR_BYTES & ~AR.UNUSABLE)})`,
  }),
  reserved3117(TR, "R37"),

  // LDTR (R38–R44)
  rule({
    id: "guest.ldtr.type",
    rule: "If LDTR is usable, its type must be 2 (LDT)",
    checklist: ["R38"],
    group: "ldtrUsable",
    fail: (s) => arType(s.GUEST_LDTR_AR_BYTES) !== 2,
    message: (s) =>
      `${showAr(s, LDTR)}: a usable LDTR must have type 2 (LDT), or mark LDTR unusable (AR bit 16 = 1)`,
  }),
  rule({
    id: "guest.ldtr.s-clear",
    rule: "If LDTR is usable, its S bit (4) must be 0 (system segment)",
    checklist: ["R39"],
    group: "ldtrUsable",
    fail: (s) => (s.GUEST_LDTR_AR_BYTES & AR.S) !== 0,
    message: (s) =>
      `${showAr(s, LDTR)}: S=1 describes a code/data segment; an LDT is a system segment (S=0), or mark LDTR unusable`,
  }),
  rule({
    id: "guest.ldtr.present",
    rule: "If LDTR is usable, its P bit (7) must be 1",
    checklist: ["R40"],
    group: "ldtrUsable",
    fail: (s) => (s.GUEST_LDTR_AR_BYTES & AR.P) === 0,
    message: (s) => `${showAr(s, LDTR)}: a usable LDTR must be present (P=1), or mark LDTR unusable`,
  }),
  reserved118(LDTR, "R41"),
  gLow(LDTR, "R42"),
  gHigh(LDTR, "R43"),
  reserved3117(LDTR, "R44"),
]);
