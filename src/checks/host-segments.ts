/**
 * SDM 29.2.3 "Checks on Host Segment and Descriptor-Table Registers" (checklist S1–S5). Failures are
 * VMfailValid(8). These rules are unchanged since the first VMX SDMs; KVM (7 + 5 separate CC checks) and
 * Bochs implement the same set.
 *
 * Canonical checks on the bases use the processor's maximum linear-address width, not host CR4.LA57: the
 * bases are loaded into MSR-like registers (FS.base/GS.base) or descriptor-table registers, for which KVM found
 * that Intel CPUs ignore CR4.LA57 (`is_noncanonical_base_address`).
 */
import * as archFields from "../arch/fields.js";
import { G } from "./groups.js";
import { canonical, lo, pred } from "./pred.js";
import type { Check, Ctx } from "./types.js";
import * as util from "./util.js";

// Short local names for the imported tables and helpers.
const { F } = archFields;
const { show } = util;

/** "Host address-space size" VM-exit control (bit 9). */
const HASS = 1 << 9;

const SELECTORS = ["CS", "SS", "DS", "ES", "FS", "GS", "TR"] as const;

function selectorRplTi(seg: (typeof SELECTORS)[number]): Check {
  const name = `HOST_${seg}_SELECTOR`;
  const i = F[name]!;
  return {
    id: `host.${seg.toLowerCase()}-selector.rpl-ti`,
    sdm: "29.2.3",
    cls: "host",
    fields: [name],
    rule: `In the host ${seg} selector field, RPL (bits 1:0) and TI (bit 2) must be 0`,
    checklist: ["S1"],
    fail: pred`(${lo(i)} & 7) !== 0`,
    message: (c) =>
      `${show(c, i)} has RPL=${c.lo(i) & 3} and TI=${(c.lo(i) >>> 2) & 1}; the host ${seg} selector must have RPL 0 and TI 0 (a GDT selector such as 0x${(c.lo(i) & ~7).toString(16)})`,
  };
}

function baseCanonical(reg: "FS" | "GS" | "GDTR" | "IDTR" | "TR"): Check {
  const name = `HOST_${reg}_BASE`;
  const i = F[name]!;
  return {
    id: `host.${reg.toLowerCase()}-base.canonical`,
    sdm: "29.2.3",
    cls: "host",
    fields: [name],
    rule: `The host ${reg} base-address field must contain a canonical address`,
    checklist: ["S5"],
    when: pred`${G.intel64}`,
    fail: pred`!${canonical(i)}`,
    message: (c: Ctx) =>
      `${show(c, i)} is not canonical: with ${c.caps.linearAddressBits} linear-address bits, bits 63:${c.caps.linearAddressBits - 1} must all equal bit ${c.caps.linearAddressBits - 1}`,
  };
}

export const hostSegmentsChecks: readonly Check[] = [
  ...SELECTORS.map(selectorRplTi),
  {
    id: "host.cs-selector.nonzero",
    sdm: "29.2.3",
    cls: "host",
    fields: ["HOST_CS_SELECTOR"],
    rule: "The host CS selector field must not be 0000H",
    checklist: ["S2"],
    fail: pred`${lo(F.HOST_CS_SELECTOR!)} === 0`,
    message: () =>
      "HOST_CS_SELECTOR=0x0: the host CS selector must not be null (use the host's kernel code selector)",
  },
  {
    id: "host.tr-selector.nonzero",
    sdm: "29.2.3",
    cls: "host",
    fields: ["HOST_TR_SELECTOR"],
    rule: "The host TR selector field must not be 0000H",
    checklist: ["S3"],
    fail: pred`${lo(F.HOST_TR_SELECTOR!)} === 0`,
    message: () =>
      "HOST_TR_SELECTOR=0x0: the host TR selector must not be null (use the host's TSS selector)",
  },
  {
    id: "host.ss-selector.nonzero-without-hass",
    sdm: "29.2.3",
    cls: "host",
    fields: ["HOST_SS_SELECTOR", "VM_EXIT_CONTROLS"],
    rule: 'If "host address-space size" is 0, the host SS selector field must not be 0000H',
    checklist: ["S4"],
    when: pred`(c.exit & ${HASS}) === 0`,
    fail: pred`${lo(F.HOST_SS_SELECTOR!)} === 0`,
    message: () =>
      'HOST_SS_SELECTOR=0x0 with "host address-space size" 0: a 32-bit host needs a non-null SS (a null SS is allowed only for a 64-bit host)',
  },
  baseCanonical("FS"),
  baseCanonical("GS"),
  baseCanonical("GDTR"),
  baseCanonical("IDTR"),
  baseCanonical("TR"),
];
