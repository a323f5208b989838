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
import * as archFields from "../arch/fields.js";
import * as archRegisters from "../arch/registers.js";
import * as u64 from "../util/u64.js";
import { G } from "./groups.js";
import { type Code, code, hi, lo, or, pred } from "./pred.js";
import type { Check, Ctx } from "./types.js";

// Short local names for the imported tables and helpers.
const { ENTRY } = archControls;
const { F } = archFields;
const { CR0, CR4 } = archRegisters;
const { hex64 } = u64;

const SDM = "29.3.1.6";
const PRESENT = 1 << 0;
/** Bits 2:1 and 8:5 of a PAE PDPTE are reserved (bits 11:9 are ignored). */
const RESERVED_LO = 0x6 | 0x1e0;
const PDPTR_FIELDS: readonly number[] = [F.GUEST_PDPTR0, F.GUEST_PDPTR1, F.GUEST_PDPTR2, F.GUEST_PDPTR3];

/** Bits 63:MAXPHYADDR of the high half (MAXPHYADDR is 32..52 in a profile). */
const reservedHi = (c: Ctx) => (~0 << (c.caps.maxPhysAddr - 32)) >>> 0;

/** A present PDPTE that sets a reserved bit. */
function badPdpte(c: Ctx, lo: number, hi: number): boolean {
  return (lo & PRESENT) !== 0 && ((lo & RESERVED_LO) !== 0 || (hi & reservedHi(c)) !== 0);
}

/** The same test on the PDPTE in VMCS field f, as predicate source (src/checks/pred.ts). */
const badPdpteField = (f: number): Code =>
  code`(${lo(f)} & ${PRESENT}) !== 0 && ((${lo(f)} & ${RESERVED_LO}) !== 0 || (${hi(f)} & ((~0 << (c.caps.maxPhysAddr - 32)) >>> 0)) !== 0)`;

/** Guest PAE paging: CR0.PG = 1, CR4.PAE = 1 and "IA-32e mode guest" = 0 (SDM 29.3.1.6). */
const paePaging = code`(${lo(F.GUEST_CR0)} & ${CR0.PG}) !== 0 && (${lo(F.GUEST_CR4)} & ${CR4.PAE}) !== 0 && (c.entry & ${ENTRY.IA32E_GUEST}) === 0`;

/** Physical address of the page-directory-pointer table: guest CR3 bits 31:5. */
const pdptBase = (c: Ctx) => (c.lo(F.GUEST_CR3) & ~0x1f) >>> 0;

/** What is wrong with one PDPTE, for a message. */
function describeBad(c: Ctx, name: string, lo: number, hi: number): string {
  const parts: string[] = [];
  const rl = lo & RESERVED_LO;
  const rh = (hi & reservedHi(c)) >>> 0;
  if (rl) parts.push(`reserved bits 2:1/8:5 = 0x${rl.toString(16)}`);
  if (rh) parts.push(`bits 63:${c.caps.maxPhysAddr} set (beyond MAXPHYADDR ${c.caps.maxPhysAddr})`);
  return `${name}=${hex64(lo, hi)} (present; ${parts.join(", ")})`;
}

export const guestPdpteChecks: readonly Check[] = [
  {
    id: "guest.pdpte.memory-reserved",
    sdm: SDM,
    cls: "guest",
    fields: ["GUEST_CR0", "GUEST_CR3", "GUEST_CR4", "VM_ENTRY_CONTROLS", "SECONDARY_VM_EXEC_CONTROL"],
    rule: "PAE guest without EPT: the four PDPTEs at guest CR3 must not set reserved bits when present",
    checklist: ["Q1"],
    qualification: 2,
    when: pred`${paePaging} && !${G.eptOn}`,
    fail: (c) => {
      const base = pdptBase(c);
      for (let i = 0; i < 4; i++) {
        const a = base + 8 * i;
        if (badPdpte(c, c.mem.read32(a), c.mem.read32(a + 4))) return true;
      }
      return false;
    },
    message: (c) => {
      const base = pdptBase(c);
      const bad: string[] = [];
      for (let i = 0; i < 4; i++) {
        const a = base + 8 * i;
        const lo = c.mem.read32(a);
        const hi = c.mem.read32(a + 4);
        if (badPdpte(c, lo, hi)) bad.push(describeBad(c, `PDPTE${i} at 0x${a.toString(16)}`, lo, hi));
      }
      return `PAE paging without EPT: the PDPTEs at guest CR3 bits 31:5 (0x${base.toString(16)}) are invalid: ${bad.join("; ")}; a present PDPTE must have bits 2:1, 8:5 and 63:${c.caps.maxPhysAddr} clear`;
    },
  },
  {
    id: "guest.pdpte.field-reserved",
    sdm: SDM,
    cls: "guest",
    fields: [
      "GUEST_CR0",
      "GUEST_CR4",
      "VM_ENTRY_CONTROLS",
      "SECONDARY_VM_EXEC_CONTROL",
      "GUEST_PDPTR0",
      "GUEST_PDPTR1",
      "GUEST_PDPTR2",
      "GUEST_PDPTR3",
    ],
    rule: "PAE guest with EPT: the guest PDPTE fields must not set reserved bits when present",
    checklist: ["Q2"],
    qualification: 2,
    when: pred`${paePaging} && ${G.eptOn}`,
    // The loop over the four fields, unrolled into one expression.
    fail: pred`${or(...PDPTR_FIELDS.map(badPdpteField))}`,
    message: (c) => {
      const bad: string[] = [];
      for (let i = 0; i < 4; i++) {
        const f = PDPTR_FIELDS[i]!;
        if (badPdpte(c, c.lo(f), c.hi(f))) bad.push(describeBad(c, `GUEST_PDPTR${i}`, c.lo(f), c.hi(f)));
      }
      return `PAE paging with EPT: invalid guest PDPTE fields: ${bad.join("; ")}; a present PDPTE must have bits 2:1, 8:5 and 63:${c.caps.maxPhysAddr} clear`;
    },
  },
];
