/**
 * SDM 29.3.1.6 "Checks on Guest Page-Directory-Pointer-Table Entries". A VM entry to a guest that uses PAE
 * paging (guest CR0.PG = 1, CR4.PAE = 1 and "IA-32e mode guest" = 0) checks the four PDPTEs as MOV to CR3
 * would (SDM Vol. 3 4.4.1, Table 4-8): in a present PDPTE (bit 0 = 1) bits 2:1, 8:5 and bits 63:MAXPHYADDR are
 * reserved; bits 11:9 are ignored, and a non-present PDPTE is not checked further. Failures are VM exits with
 * reason 33 and exit qualification 2 (SDM 29.8).
 *
 * - "enable EPT" = 0: the PDPTEs are read from memory at guest CR3 bits 31:5. The SDM requires the check when
 *   PAE paging was not in use before the entry or CR3 changes, and allows it otherwise; the previous paging
 *   mode is not part of the model, so the check is always made (checklist Q1).
 * - "enable EPT" = 1: the four guest PDPTE fields of the VMCS are checked (checklist Q2).
 *
 * The width is MAXPHYADDR itself: IA32_VMX_BASIC[48] limits VMX structure addresses, not guest paging.
 */
import * as archControls from "../arch/controls.js";
import * as archRegisters from "../arch/registers.js";
import { hex, hex64 } from "../util/u64.js";
import { decoders } from "./compile.js";
import * as groups from "./groups.js";
import { section } from "./rule.js";
import type { State } from "./state.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves predicates' names in this module (compile.ts).
const scope = (name: string): unknown => eval(name);

// Short local names for the imported tables and helpers.
const { ENTRY } = archControls;
const { CR0, CR4, PDPTE } = archRegisters;
const { eptOn } = groups.G;

const { rule, checks } = section({ scope, sdm: "29.3.1.6", title: "Guest PDPTEs", cls: "guest" });

const { pdpteReservedHi, paePaging, pdptBase } = decoders(scope, {
  /** Bits 63:MAXPHYADDR of a PDPTE's high half (MAXPHYADDR is 32..52 in a profile). */
  pdpteReservedHi: (s: State) => (~0 << (s.caps.maxPhysAddr - 32)) >>> 0,
  /** Guest PAE paging: CR0.PG = 1, CR4.PAE = 1 and "IA-32e mode guest" = 0 (SDM 29.3.1.6). */
  paePaging: (s: State) =>
    (s.GUEST_CR0 & CR0.PG) !== 0 && (s.GUEST_CR4 & CR4.PAE) !== 0 && (s.entry & ENTRY.IA32E_GUEST) === 0,
  /** Physical address of the page-directory-pointer table: guest CR3 bits 31:5. */
  pdptBase: (s: State) => (s.GUEST_CR3 & ~0x1f) >>> 0,
});
const { badPdpte } = decoders(scope, {
  /** A present PDPTE that sets a reserved bit. */
  badPdpte: (s: State, lo: number, hi: number) =>
    (lo & PDPTE.PRESENT) !== 0 && ((lo & PDPTE.RESERVED_LO) !== 0 || (hi & pdpteReservedHi(s)) !== 0),
});
const { badPdpteAt } = decoders(scope, {
  /** The PDPTE at a physical address is present and sets a reserved bit. */
  badPdpteAt: (s: State, a: number) => badPdpte(s, s.mem.read32(a), s.mem.read32(a + 4)),
});

/** What is wrong with one PDPTE, for a message. */
function describeBad(s: State, name: string, lo: number, hi: number): string {
  const parts: string[] = [];
  const rl = lo & PDPTE.RESERVED_LO;
  const rh = (hi & pdpteReservedHi(s)) >>> 0;
  if (rl) parts.push(`reserved bits 2:1/8:5 = ${hex(rl)}`);
  if (rh) parts.push(`bits 63:${s.caps.maxPhysAddr} set (beyond MAXPHYADDR ${s.caps.maxPhysAddr})`);
  return `${name}=${hex64(lo, hi)} (present; ${parts.join(", ")})`;
}

const PDPTRS = ["GUEST_PDPTR0", "GUEST_PDPTR1", "GUEST_PDPTR2", "GUEST_PDPTR3"] as const;

export default checks([
  rule({
    id: "guest.pdpte.memory-reserved",
    rule: "PAE guest without EPT: the four PDPTEs at guest CR3 must not set reserved bits when present",
    checklist: ["Q1"],
    qualification: 2,
    when: (s) => paePaging(s) && !eptOn(s),
    fail: (s) =>
      badPdpteAt(s, pdptBase(s)) ||
      badPdpteAt(s, pdptBase(s) + 8) ||
      badPdpteAt(s, pdptBase(s) + 16) ||
      badPdpteAt(s, pdptBase(s) + 24),
    message: (s) => {
      const base = pdptBase(s);
      const bad: string[] = [];
      for (let i = 0; i < 4; i++) {
        const a = base + 8 * i;
        const lo = s.mem.read32(a);
        const hi = s.mem.read32(a + 4);
        if (badPdpte(s, lo, hi)) bad.push(describeBad(s, `PDPTE${i} at ${hex(a)}`, lo, hi));
      }
      return `PAE paging without EPT: the PDPTEs at guest CR3 bits 31:5 (${hex(base)}) are invalid: ${bad.join("; ")}; a present PDPTE must have bits 2:1, 8:5 and 63:${s.caps.maxPhysAddr} clear`;
    },
  }),
  rule({
    id: "guest.pdpte.field-reserved",
    rule: "PAE guest with EPT: the guest PDPTE fields must not set reserved bits when present",
    checklist: ["Q2"],
    qualification: 2,
    when: (s) => paePaging(s) && eptOn(s),
    fail: (s) =>
      badPdpte(s, s.GUEST_PDPTR0, s.hi.GUEST_PDPTR0) ||
      badPdpte(s, s.GUEST_PDPTR1, s.hi.GUEST_PDPTR1) ||
      badPdpte(s, s.GUEST_PDPTR2, s.hi.GUEST_PDPTR2) ||
      badPdpte(s, s.GUEST_PDPTR3, s.hi.GUEST_PDPTR3),
    message: (s) => {
      const bad = PDPTRS.filter((f) => badPdpte(s, s[f], s.hi[f])).map((f) =>
        describeBad(s, f, s[f], s.hi[f]),
      );
      return `PAE paging with EPT: invalid guest PDPTE fields: ${bad.join("; ")}; a present PDPTE must have bits 2:1, 8:5 and 63:${s.caps.maxPhysAddr} clear`;
    },
  }),
]);
