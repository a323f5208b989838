/**
 * SDM 29.2.1.2 "VM-Exit Control Fields": allowed settings of the primary and secondary VM-exit controls, the
 * preemption-timer save rule and the VM-exit MSR-store / MSR-load areas. Failures are VMfailValid(7).
 *
 * The MSR-count limit (IA32_VMX_MISC[27:25]) is a recommendation, not a VM-entry check: SDM 25.7.2 and A.6
 * say that longer lists give unpredictable behaviour (possibly a machine check) at VM exit, so no check here.
 */
import * as archControls from "../arch/controls.js";
import * as archFields from "../arch/fields.js";
import * as u64 from "../util/u64.js";
import { allowedSettingsChecks, controlNames as names } from "./allowed.js";
import * as groups from "./groups.js";
import { beyondPhys, lo, misaligned, pred } from "./pred.js";
import type { Check } from "./types.js";
import * as util from "./util.js";

// Short local names for the imported tables and helpers.
const { CONTROL_BITS, EXIT, PIN } = archControls;
const { F } = archFields;
const { hex: h, hex64 } = u64;
const { G, smmReturn } = groups;
const { areaEnd, bitList, physLimit, show } = util;

/**
 * A VM entry that returns from SMM: executed in SMM under the dual-monitor treatment with "entry to SMM" = 0
 * (SDM 34.15.4; the same gate as the smm.* checks, src/checks/groups.ts).
 */
export const returnsFromSmm = smmReturn;

/** Checks on one MSR table (address field, count field): alignment, address width, last byte width. */
function msrArea(
  key: "store" | "load",
  addrField: string,
  countField: string,
  what: string,
  ids: readonly [string, string, string],
): Check[] {
  const a = F[addrField]!;
  const n = F[countField]!;
  const when = pred`${lo(n)} !== 0`;
  const fields = [addrField, countField];
  return [
    {
      id: `ctl.exit.msr-${key}-addr-aligned`,
      sdm: "29.2.1.2",
      cls: "control",
      fields,
      rule: `With a nonzero VM-exit MSR-${key} count, bits 3:0 of the ${what} address must be 0 (16-byte aligned)`,
      checklist: [ids[0]],
      when,
      fail: pred`${misaligned(a, 4)}`,
      message: (c) =>
        `${show(c, a)} is not 16-byte aligned (bits 3:0 = ${h(c.lo(a) & 0xf)}) while ${countField}=${c.lo(n)}; align the ${what} area to 16 bytes or set the count to 0`,
    },
    {
      id: `ctl.exit.msr-${key}-addr-width`,
      sdm: "29.2.1.2",
      cls: "control",
      fields,
      rule: `With a nonzero VM-exit MSR-${key} count, the ${what} address must not set bits beyond the physical-address width`,
      checklist: [ids[1]],
      when,
      fail: pred`${beyondPhys(a)}`,
      message: (c) =>
        `${show(c, a)} sets bits beyond the physical-address width while ${countField}=${c.lo(n)}: ${physLimit(c)}`,
    },
    {
      id: `ctl.exit.msr-${key}-area-end-width`,
      sdm: "29.2.1.2",
      cls: "control",
      fields,
      rule: `With a nonzero VM-exit MSR-${key} count, the last byte of the ${what} area (address + count·16 − 1) must be within the physical-address width`,
      checklist: [ids[2]],
      when,
      // Reported only when the start address itself is within the width (otherwise the address check says it).
      fail: pred`!${beyondPhys(a)} && ${util.areaEndBeyondPhys(a, lo(n), 16)}`,
      message: (c) =>
        `the ${what} area at ${show(c, a)} with ${countField}=${c.lo(n)} (16 bytes each) ends at ${areaEnd(c, a, c.lo(n), 16)}, beyond the physical-address width: ${physLimit(c)}; move the area lower or shorten the list`,
    },
  ];
}

export const exitControlsChecks: readonly Check[] = [
  ...allowedSettingsChecks({
    word: "exit",
    ids: ["ctl.exit.allowed-0-settings", "ctl.exit.allowed-1-settings"],
    sdm: "29.2.1.2",
    checklist: ["X1"],
  }),
  {
    id: "ctl.exit.secondary-reserved",
    sdm: "29.2.1.2",
    cls: "control",
    fields: ["VM_EXIT_CONTROLS", "SECONDARY_VM_EXIT_CONTROLS"],
    rule: 'With "activate secondary controls" (exit bit 31) set, secondary VM-exit controls not allowed by IA32_VMX_EXIT_CTLS2 must be 0',
    checklist: ["X2"],
    // c.exit2/exit2Hi are 0 unless primary exit bit 31 is 1 (SDM 25.7.1), so the gate is implicit too.
    when: pred`(c.exit & ${EXIT.SECONDARY}) !== 0`,
    fail: pred`((c.exit2 & ~c.caps.ctl.exit2.may1) | (c.exit2Hi & ~c.caps.ctl.exit2.may1Hi)) !== 0`,
    message: (c) => {
      const lo = c.exit2 & ~c.caps.ctl.exit2.may1;
      const hi = c.exit2Hi & ~c.caps.ctl.exit2.may1Hi;
      const bits = [lo ? bitList(lo) : "", hi ? bitList(hi, 32) : ""].filter(Boolean).join(" and ");
      return `SECONDARY_VM_EXIT_CONTROLS=${hex64(c.exit2, c.exit2Hi)} sets ${bits}${names("exit2", lo)}, reserved per IA32_VMX_EXIT_CTLS2 (allowed-1 ${hex64(c.caps.ctl.exit2.may1, c.caps.ctl.exit2.may1Hi)}); known bits: ${CONTROL_BITS.exit2.map((b) => `${b.bit} ${b.name}`).join(", ")}`;
    },
  },
  {
    id: "ctl.exit.save-preemption-timer-needs-timer",
    sdm: "29.2.1.2",
    cls: "control",
    fields: ["PIN_BASED_VM_EXEC_CONTROL", "VM_EXIT_CONTROLS"],
    rule: '"save VMX-preemption timer value" must be 0 when "activate VMX-preemption timer" is 0 (not checked on VM entries that return from SMM)',
    checklist: ["X3"],
    // SDM 34.15.4.2: VM entries that return from SMM do not perform this check.
    when: pred`!${G.smmReturn}`,
    fail: pred`(c.exit & ${EXIT.SAVE_PREEMPTION_TIMER}) !== 0 && (c.pin & ${PIN.PREEMPTION_TIMER}) === 0`,
    message: (c) =>
      `VM_EXIT_CONTROLS=${h(c.exit)} sets "save VMX-preemption timer value" (bit 22) but PIN_BASED_VM_EXEC_CONTROL=${h(c.pin)} has "activate VMX-preemption timer" (bit 6) clear; set bit 6 of the pin-based controls or clear bit 22 of the exit controls`,
  },
  ...msrArea("store", "VM_EXIT_MSR_STORE_ADDR", "VM_EXIT_MSR_STORE_COUNT", "VM-exit MSR-store", [
    "X4",
    "X5",
    "X6",
  ]),
  ...msrArea("load", "VM_EXIT_MSR_LOAD_ADDR", "VM_EXIT_MSR_LOAD_COUNT", "VM-exit MSR-load", [
    "X7",
    "X8",
    "X9",
  ]),
];
