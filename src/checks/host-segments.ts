/**
 * SDM 29.2.3 "Checks on Host Segment and Descriptor-Table Registers" (checklist S1–S5). Failures are
 * VMfailValid(8). These rules are unchanged since the first VMX SDMs; KVM (7 + 5 separate CC checks) and
 * Bochs implement the same set.
 *
 * Canonical checks on the bases use the processor's maximum linear-address width, not host CR4.LA57: the
 * bases are loaded into MSR-like registers (FS.base/GS.base) or descriptor-table registers, for which KVM found
 * that Intel CPUs ignore CR4.LA57 (`is_noncanonical_base_address`).
 */
import { hex } from "../util/u64.js";
import { section } from "./rule.js";
import * as util from "./util.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves predicates' names in this module (compile.ts).
const scope = (name: string): unknown => eval(name);

// Short local names (predicates name decoders as they are registered; see src/checks/compile.ts).
const { canonical, hass, notCanonical, show } = util;

const { rule, checks } = section({
  scope,
  sdm: "29.2.3",
  title: "Host segment and descriptor-table registers",
  cls: "host",
});

const SELECTORS = ["CS", "SS", "DS", "ES", "FS", "GS", "TR"] as const;
const BASES = ["FS", "GS", "GDTR", "IDTR", "TR"] as const;

export default checks([
  SELECTORS.map((seg) =>
    rule({
      id: `host.${seg.toLowerCase()}-selector.rpl-ti`,
      rule: `In the host ${seg} selector field, RPL (bits 1:0) and TI (bit 2) must be 0`,
      checklist: ["S1"],
      p: { sel: `HOST_${seg}_SELECTOR` as const },
      fail: (s, p) => s[p.sel] & 7,
      message: (s, _, p) =>
        `${show(s, p.sel)} has RPL=${s[p.sel] & 3} and TI=${(s[p.sel] >>> 2) & 1}; the host ${seg} selector must have RPL 0 and TI 0 (a GDT selector such as ${hex(s[p.sel] & ~7)})`,
    }),
  ),
  rule({
    id: "host.cs-selector.nonzero",
    rule: "The host CS selector field must not be 0000H",
    checklist: ["S2"],
    fail: (s) => s.HOST_CS_SELECTOR === 0,
    message: () =>
      "HOST_CS_SELECTOR=0x0: the host CS selector must not be null (use the host's kernel code selector)",
  }),
  rule({
    id: "host.tr-selector.nonzero",
    rule: "The host TR selector field must not be 0000H",
    checklist: ["S3"],
    fail: (s) => s.HOST_TR_SELECTOR === 0,
    message: () =>
      "HOST_TR_SELECTOR=0x0: the host TR selector must not be null (use the host's TSS selector)",
  }),
  rule({
    id: "host.ss-selector.nonzero-without-hass",
    rule: 'If "host address-space size" is 0, the host SS selector field must not be 0000H',
    checklist: ["S4"],
    when: (s) => !hass(s),
    fail: (s) => s.HOST_SS_SELECTOR === 0,
    message: () =>
      'HOST_SS_SELECTOR=0x0 with "host address-space size" 0: a 32-bit host needs a non-null SS (a null SS is allowed only for a 64-bit host)',
  }),
  BASES.map((reg) =>
    rule({
      id: `host.${reg.toLowerCase()}-base.canonical`,
      rule: `The host ${reg} base-address field must contain a canonical address`,
      checklist: ["S5"],
      group: "intel64",
      p: { base: `HOST_${reg}_BASE` as const },
      fail: (s, p) => !canonical(s, s.hi[p.base]),
      message: (s, _, p) => `${show(s, p.base)} ${notCanonical(s)}`,
    }),
  ),
]);
