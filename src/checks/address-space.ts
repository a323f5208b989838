/**
 * SDM 29.2.4 "Checks Related to Address-Space Size" (checklist A1–A10), plus the CET rules of 29.2.2/29.2.4
 * whose form depends on the "host address-space size" (HASS) exit control (H8, H10).
 *
 * Error number: the SDM says these checks are "performed on VMX controls and fields in the host-state area"
 * and does not say which of errors 7 and 8 a failure reports (29.2: controls and host state may be checked in
 * any order). KVM (`nested_vmx_check_address_space_size`, `nested_vmx_check_host_state`) and Bochs
 * (`VMenterLoadCheckHostState`) both report error 8, "VM entry with invalid host-state field(s)"; we classify
 * them as host state (error 8) too.
 *
 * Evidence notes:
 * - A1–A6, A8–A10: verbatim in every SDM revision since 2007 (22.2.4 / 26.2.4); A5 (CR4.PCIDE) since PCID.
 * - "Processor in IA-32e mode" is `processor.ia32e` (IA32_EFER.LMA when VMLAUNCH/VMRESUME executes).
 * - Intel 64 support: a profile with IA32_VMX_BASIC[48]=1 describes a processor without Intel 64 (that bit is
 *   always 0 on Intel 64 processors, SDM A.1); A1–A9 apply only with Intel 64, A10 only without it.
 * - A9: with 5-level paging the host RIP is canonical relative to the paging mode the VM exit establishes,
 *   i.e. 57 bits if bit 12 (LA57) of the host CR4 field is 1, else 48 (5-level paging white paper; KVM
 *   `is_l1_noncanonical_address_on_vmexit`, "fix canonical check of vmcs12 HOST_RIP", 2024).
 * - H8/H10 [CET]: with HASS=1, host IA32_S_CET and SSP must be canonical; with HASS=0 their bits 63:32 must
 *   be 0 (KVM CET series summarising the SDM; Bochs). Canonical here uses the maximum linear-address width,
 *   as KVM does (`is_noncanonical_msr_address`).
 * - A7 [FRED]: with HASS=0, bit 32 (FRED) of the host CR4 field must be 0 (KVM FRED series; FRED can be
 *   enabled only in IA-32e mode). Not seen in Bochs, which relies on its CR4 fixed bits; SDM text not at hand.
 */
import * as archRegisters from "../arch/registers.js";
import { hex } from "../util/u64.js";
import { decoders } from "./compile.js";
import * as groups from "./groups.js";
import { section } from "./rule.js";
import type { State } from "./state.js";
import * as util from "./util.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves predicates' names in this module (compile.ts).
const scope = (name: string): unknown => eval(name);

// Short local names for the imported tables and helpers.
const { CR4 } = archRegisters;
const { intel64, hostLoadCet } = groups.G;
const { canonical, canonicalAt, hass, ia32eGuest, notCanonical, show } = util;

const { rule, checks } = section({ scope, sdm: "29.2.4", title: "Address-space size", cls: "host" });

const { hostRipWidth } = decoders(scope, {
  /** The linear-address width the VM exit establishes for the host RIP: 57 with host CR4.LA57, else 48. */
  hostRipWidth: (s: State) => ((s.HOST_CR4 & CR4.LA57) !== 0 ? 57 : 48),
});

export default checks([
  rule({
    id: "host.ia32e-guest.outside-ia32e",
    rule: 'If the processor is outside IA-32e mode (IA32_EFER.LMA = 0), "IA-32e mode guest" must be 0',
    checklist: ["A1"],
    group: "intel64",
    when: (s) => !s.cpu.ia32e,
    fail: (s) => ia32eGuest(s),
    message: () =>
      'the processor executing VMLAUNCH/VMRESUME is outside IA-32e mode (IA32_EFER.LMA = 0) but the "IA-32e mode guest" entry control is 1; a 64-bit guest can be entered only from IA-32e mode',
  }),
  rule({
    id: "host.hass.outside-ia32e",
    rule: 'If the processor is outside IA-32e mode (IA32_EFER.LMA = 0), "host address-space size" must be 0',
    checklist: ["A2"],
    group: "intel64",
    when: (s) => !s.cpu.ia32e,
    fail: (s) => hass(s),
    message: () =>
      'the processor is outside IA-32e mode (IA32_EFER.LMA = 0) but the "host address-space size" exit control is 1; clear it so the VM exit returns to a 32-bit host',
  }),
  rule({
    id: "host.hass.in-ia32e",
    rule: 'If the processor is in IA-32e mode (IA32_EFER.LMA = 1), "host address-space size" must be 1',
    checklist: ["A3"],
    group: "intel64",
    when: (s) => s.cpu.ia32e,
    fail: (s) => !hass(s),
    message: (s) =>
      `the processor is in IA-32e mode (IA32_EFER.LMA = 1) but the "host address-space size" exit control is 0 (VM_EXIT_CONTROLS=${hex(s.exit)}); set bit 9 so the VM exit returns to a 64-bit host`,
  }),
  rule({
    id: "host.ia32e-guest.requires-hass",
    rule: 'If "host address-space size" is 0, "IA-32e mode guest" must be 0',
    checklist: ["A4"],
    group: "intel64",
    when: (s) => !hass(s),
    fail: (s) => ia32eGuest(s),
    message: () =>
      '"IA-32e mode guest" is 1 but "host address-space size" is 0: a 64-bit guest requires a 64-bit host; set the exit control or clear the entry control',
  }),
  rule({
    id: "host.cr4.pcide-without-hass",
    rule: 'If "host address-space size" is 0, bit 17 (PCIDE) of the host CR4 field must be 0',
    checklist: ["A5"],
    group: "intel64",
    when: (s) => !hass(s),
    fail: (s) => (s.HOST_CR4 & CR4.PCIDE) !== 0,
    message: (s) =>
      `${show(s, "HOST_CR4")} sets PCIDE (bit 17) but "host address-space size" is 0; PCIDs exist only in IA-32e mode, clear CR4.PCIDE for a 32-bit host`,
  }),
  rule({
    id: "host.rip.high-bits-without-hass",
    rule: 'If "host address-space size" is 0, bits 63:32 of the host RIP field must be 0',
    checklist: ["A6"],
    group: "intel64",
    when: (s) => !hass(s),
    fail: (s) => s.hi.HOST_RIP !== 0,
    message: (s) =>
      `${show(s, "HOST_RIP")} has bits 63:32 set but "host address-space size" is 0; a 32-bit host entry point must be below 4 GiB`,
  }),
  rule({
    id: "host.s-cet.high-bits-without-hass",
    rule: 'If "host address-space size" is 0 and "load CET state" is 1, bits 63:32 of the host IA32_S_CET field must be 0',
    checklist: ["H8"],
    group: "intel64",
    when: (s) => !hass(s) && hostLoadCet(s),
    fail: (s) => s.hi.HOST_S_CET !== 0,
    message: (s) =>
      `${show(s, "HOST_S_CET")} has bits 63:32 set while "load CET state" is 1 and "host address-space size" is 0; a 32-bit host's IA32_S_CET must fit in 32 bits`,
  }),
  rule({
    id: "host.ssp.high-bits-without-hass",
    rule: 'If "host address-space size" is 0 and "load CET state" is 1, bits 63:32 of the host SSP field must be 0',
    checklist: ["H10"],
    group: "intel64",
    when: (s) => !hass(s) && hostLoadCet(s),
    fail: (s) => s.hi.HOST_SSP !== 0,
    message: (s) =>
      `${show(s, "HOST_SSP")} has bits 63:32 set while "load CET state" is 1 and "host address-space size" is 0; a 32-bit host's SSP must be below 4 GiB`,
  }),
  rule({
    id: "host.cr4.fred-without-hass",
    rule: 'If "host address-space size" is 0, bit 32 (FRED) of the host CR4 field must be 0',
    checklist: ["A7"],
    group: "intel64",
    when: (s) => !hass(s),
    fail: (s) => (s.hi.HOST_CR4 & CR4.FRED_HI) !== 0,
    message: (s) =>
      `${show(s, "HOST_CR4")} sets FRED (bit 32) but "host address-space size" is 0; FRED can be enabled only in IA-32e mode`,
  }),
  rule({
    id: "host.cr4.pae-with-hass",
    rule: 'If "host address-space size" is 1, bit 5 (PAE) of the host CR4 field must be 1',
    checklist: ["A8"],
    group: "intel64",
    when: (s) => hass(s),
    fail: (s) => (s.HOST_CR4 & CR4.PAE) === 0,
    message: (s) =>
      `${show(s, "HOST_CR4")} has PAE (bit 5) = 0 but "host address-space size" is 1; 64-bit paging requires CR4.PAE = 1`,
  }),
  rule({
    id: "host.rip.canonical",
    rule: 'If "host address-space size" is 1, the host RIP field must be canonical (57-bit if host CR4.LA57 is 1, else 48-bit)',
    checklist: ["A9"],
    group: "intel64",
    when: (s) => hass(s),
    fail: (s) => !canonicalAt(s.hi.HOST_RIP, hostRipWidth(s)),
    message: (s) =>
      `${show(s, "HOST_RIP")} ${notCanonical(s, hostRipWidth(s))} (the host's ${hostRipWidth(s) === 57 ? "5" : "4"}-level paging, host CR4.LA57=${hostRipWidth(s) === 57 ? 1 : 0})`,
  }),
  rule({
    id: "host.s-cet.canonical",
    rule: 'If "host address-space size" is 1 and "load CET state" is 1, the host IA32_S_CET field must be canonical',
    checklist: ["H8"],
    group: "intel64",
    when: (s) => hass(s) && hostLoadCet(s),
    fail: (s) => !canonical(s, s.hi.HOST_S_CET),
    message: (s) =>
      `${show(s, "HOST_S_CET")} ${notCanonical(s)} (with "load CET state" = 1; its bits 63:12 are the legacy-bitmap linear address)`,
  }),
  rule({
    id: "host.ssp.canonical",
    rule: 'If "host address-space size" is 1 and "load CET state" is 1, the host SSP field must be canonical',
    checklist: ["H10"],
    group: "intel64",
    when: (s) => hass(s) && hostLoadCet(s),
    fail: (s) => !canonical(s, s.hi.HOST_SSP),
    message: (s) => `${show(s, "HOST_SSP")} ${notCanonical(s)} (with "load CET state" = 1)`,
  }),
  rule({
    id: "host.no-intel64.ia32e-controls",
    rule: 'On a processor without Intel 64, "IA-32e mode guest" and "host address-space size" must both be 0',
    checklist: ["A10"],
    when: (s) => !intel64(s),
    fail: (s) => ia32eGuest(s) || hass(s),
    message: (s) => {
      const set = [ia32eGuest(s) ? '"IA-32e mode guest"' : "", hass(s) ? '"host address-space size"' : ""]
        .filter(Boolean)
        .join(" and ");
      return `${set} set on a processor without Intel 64 architecture (IA32_VMX_BASIC[48] = 1); both controls must be 0`;
    },
  }),
]);
