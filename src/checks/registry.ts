/**
 * The one registry of VM-entry checks, in the SDM's order (29.1 basic; 29.2.1 controls; 29.2.2–29.2.4 host
 * state; 29.3.1 guest state; 29.4 MSR loading). Docs, the evaluator, the generator and the playground all
 * read it.
 */
import { addressSpaceChecks } from "./address-space.js";
import { basicChecks } from "./basic.js";
import { entryControlsChecks } from "./entry-controls.js";
import { execControlsChecks } from "./exec-controls.js";
import { exitControlsChecks } from "./exit-controls.js";
import { guestCrDrMsrChecks } from "./guest-cr-dr-msr.js";
import { guestDtrChecks } from "./guest-dtr.js";
import { guestNonRegisterChecks } from "./guest-non-register.js";
import { guestPdpteChecks } from "./guest-pdpte.js";
import { guestRipRflagsChecks } from "./guest-rip-rflags.js";
import { guestSegmentsChecks } from "./guest-segments.js";
import { hostCrMsrChecks } from "./host-cr-msr.js";
import { hostSegmentsChecks } from "./host-segments.js";
import { msrLoadChecks } from "./msr-load.js";
import { smmChecks } from "./smm.js";
import type { Check } from "./types.js";

/** The checks grouped by the SDM section that states them, in the SDM's order, with the section's title. */
export const SECTIONS: readonly { sdm: string; title: string; checks: readonly Check[] }[] = [
  { sdm: "29.1", title: "Basic VM-entry checks", checks: basicChecks },
  // SDM 34.15.4.1: on an SMM return the executive-VMCS checks come before all other checks of 29.2.
  { sdm: "34.15.4", title: "VM entries that return from SMM (dual-monitor treatment)", checks: smmChecks },
  { sdm: "29.2.1.1", title: "VM-execution control fields", checks: execControlsChecks },
  { sdm: "29.2.1.2", title: "VM-exit control fields", checks: exitControlsChecks },
  { sdm: "29.2.1.3", title: "VM-entry control fields", checks: entryControlsChecks },
  { sdm: "29.2.2", title: "Host control registers, MSRs and SSP", checks: hostCrMsrChecks },
  { sdm: "29.2.3", title: "Host segment and descriptor-table registers", checks: hostSegmentsChecks },
  { sdm: "29.2.4", title: "Address-space size", checks: addressSpaceChecks },
  { sdm: "29.3.1.1", title: "Guest control registers, debug registers and MSRs", checks: guestCrDrMsrChecks },
  { sdm: "29.3.1.2", title: "Guest segment registers", checks: guestSegmentsChecks },
  { sdm: "29.3.1.3", title: "Guest descriptor-table registers", checks: guestDtrChecks },
  { sdm: "29.3.1.4", title: "Guest RIP, RFLAGS and SSP", checks: guestRipRflagsChecks },
  { sdm: "29.3.1.5", title: "Guest non-register state", checks: guestNonRegisterChecks },
  { sdm: "29.3.1.6", title: "Guest PDPTEs", checks: guestPdpteChecks },
  { sdm: "29.4", title: "Loading MSRs", checks: msrLoadChecks },
];

const CLASS_ORDER = { basic: 0, control: 1, host: 2, guest: 3, "msr-load": 4 } as const;

/** All checks in evaluation order: by class (SDM order of classes), then by section order. */
export const CHECKS: readonly Check[] = SECTIONS.flatMap((s) => s.checks)
  .map((c, i) => ({ c, i }))
  .sort((a, b) => CLASS_ORDER[a.c.cls] - CLASS_ORDER[b.c.cls] || a.i - b.i)
  .map((x) => x.c);

const byId = new Map(CHECKS.map((c) => [c.id, c]));

/** The check with this id (`guest.cs.l-and-d`; docs/checks.md lists them all), or undefined. */
export function checkById(id: string): Check | undefined {
  return byId.get(id);
}
