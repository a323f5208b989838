/**
 * SDM 29.3.1.3 "Checks on Guest Descriptor-Table Registers": GDTR and IDTR. Failures are VM exits with
 * reason 33, qualification 0. The base checks apply on processors that support Intel 64 architecture,
 * which nvmx always models; "canonical" is relative to the processor's linear-address width (48 or 57),
 * not to the guest's CR4.LA57.
 */
import * as archFields from "../arch/fields.js";
import { canonical, lo, pred } from "./pred.js";
import type { Check, Ctx } from "./types.js";
import * as util from "./util.js";

// Short local names for the imported tables and helpers.
const { F } = archFields;
const { show } = util;

function baseCheck(reg: "GDTR" | "IDTR", field: number): Check {
  return {
    id: `guest.${reg.toLowerCase()}.base-canonical`,
    sdm: "29.3.1.3",
    cls: "guest",
    fields: [`GUEST_${reg}_BASE`],
    rule: `The guest ${reg} base must be canonical`,
    checklist: [reg === "GDTR" ? "D1" : "D2"],
    fail: pred`!${canonical(field)}`,
    message: (c: Ctx) =>
      `${show(c, field)} is not canonical for a ${c.caps.linearAddressBits}-bit linear-address width: bits 63:${c.caps.linearAddressBits - 1} must all equal bit ${c.caps.linearAddressBits - 1}`,
  };
}

function limitCheck(reg: "GDTR" | "IDTR", field: number): Check {
  return {
    id: `guest.${reg.toLowerCase()}.limit-high-bits`,
    sdm: "29.3.1.3",
    cls: "guest",
    fields: [`GUEST_${reg}_LIMIT`],
    rule: `Bits 31:16 of the guest ${reg} limit must be 0`,
    checklist: [reg === "GDTR" ? "D3" : "D4"],
    fail: pred`${lo(field)} >>> 16 !== 0`,
    message: (c: Ctx) =>
      `${show(c, field)} has bits 31:16 = 0x${(c.lo(field) >>> 16).toString(16)}; ${reg} limits are 16 bits wide, so the field must be at most 0xffff`,
  };
}

export const guestDtrChecks: readonly Check[] = [
  baseCheck("GDTR", F.GUEST_GDTR_BASE),
  baseCheck("IDTR", F.GUEST_IDTR_BASE),
  limitCheck("GDTR", F.GUEST_GDTR_LIMIT),
  limitCheck("IDTR", F.GUEST_IDTR_LIMIT),
];
