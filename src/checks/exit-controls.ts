/**
 * SDM 29.2.1.2 "VM-Exit Control Fields": allowed settings of the primary and secondary VM-exit controls, the
 * preemption-timer save rule and the VM-exit MSR-store / MSR-load areas. Failures are VMfailValid(7).
 *
 * The MSR-count limit (IA32_VMX_MISC[27:25]) is a recommendation, not a VM-entry check: SDM 25.7.2 and A.6
 * say that longer lists give unpredictable behaviour (possibly a machine check) at VM exit, so no check here.
 */
import * as archControls from "../arch/controls.js";
import { hex as h, hex64 } from "../util/u64.js";
import { allowedSettingsChecks } from "./allowed.js";
import * as groups from "./groups.js";
import { section } from "./rule.js";
import type { State } from "./state.js";
import * as util from "./util.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves predicates' names in this module (compile.ts).
const scope = (name: string): unknown => eval(name);

// Short local names for the imported tables and helpers.
const { CONTROL_BITS, EXIT, PIN } = archControls;
const { smmReturn } = groups.G;
const { areaEnd, areaEndBeyondPhys, beyondPhys, bitList64, controlNames, misaligned, physLimit, show } = util;

const { rule, checks } = section({ scope, sdm: "29.2.1.2", title: "VM-exit control fields", cls: "control" });

/** The two VM-exit MSR areas (address field, count field) and their checklist items. */
const AREAS = [
  {
    key: "store",
    what: "VM-exit MSR-store",
    addr: "VM_EXIT_MSR_STORE_ADDR",
    count: "VM_EXIT_MSR_STORE_COUNT",
    items: ["X4", "X5", "X6"],
  },
  {
    key: "load",
    what: "VM-exit MSR-load",
    addr: "VM_EXIT_MSR_LOAD_ADDR",
    count: "VM_EXIT_MSR_LOAD_COUNT",
    items: ["X7", "X8", "X9"],
  },
] as const;

export default checks([
  allowedSettingsChecks(rule, {
    word: "exit",
    ids: ["ctl.exit.allowed-0-settings", "ctl.exit.allowed-1-settings"],
    checklist: ["X1"],
  }),
  rule({
    id: "ctl.exit.secondary-reserved",
    rule: 'With "activate secondary controls" (exit bit 31) set, secondary VM-exit controls not allowed by IA32_VMX_EXIT_CTLS2 must be 0',
    checklist: ["X2"],
    // s.exit2/exit2Hi are 0 unless primary exit bit 31 is 1 (SDM 25.7.1), so the gate is implicit too.
    when: (s) => (s.exit & EXIT.SECONDARY) !== 0,
    fail: (s) => (s.exit2 & ~s.caps.ctl.exit2.may1) | (s.exit2Hi & ~s.caps.ctl.exit2.may1Hi),
    message: (s) => {
      const lo = s.exit2 & ~s.caps.ctl.exit2.may1;
      const hi = s.exit2Hi & ~s.caps.ctl.exit2.may1Hi;
      return `SECONDARY_VM_EXIT_CONTROLS=${hex64(s.exit2, s.exit2Hi)} sets ${bitList64(lo, hi)}${controlNames("exit2", lo)}, reserved per IA32_VMX_EXIT_CTLS2 (allowed-1 ${hex64(s.caps.ctl.exit2.may1, s.caps.ctl.exit2.may1Hi)}); known bits: ${CONTROL_BITS.exit2.map((b) => `${b.bit} ${b.name}`).join(", ")}`;
    },
  }),
  rule({
    id: "ctl.exit.save-preemption-timer-needs-timer",
    rule: '"save VMX-preemption timer value" must be 0 when "activate VMX-preemption timer" is 0 (not checked on VM entries that return from SMM)',
    checklist: ["X3"],
    // SDM 34.15.4.2: VM entries that return from SMM do not perform this check.
    when: (s) => !smmReturn(s),
    fail: (s) => (s.exit & EXIT.SAVE_PREEMPTION_TIMER) !== 0 && (s.pin & PIN.PREEMPTION_TIMER) === 0,
    message: (s) =>
      `VM_EXIT_CONTROLS=${h(s.exit)} sets "save VMX-preemption timer value" (bit 22) but PIN_BASED_VM_EXEC_CONTROL=${h(s.pin)} has "activate VMX-preemption timer" (bit 6) clear; set bit 6 of the pin-based controls or clear bit 22 of the exit controls`,
  }),
  AREAS.map(({ key, what, addr, count, items }) => {
    const p = { addr, count };
    const counted = (s: State) => `${count}=${s[count]}`;
    return [
      rule({
        id: `ctl.exit.msr-${key}-addr-aligned`,
        rule: `With a nonzero VM-exit MSR-${key} count, bits 3:0 of the ${what} address must be 0 (16-byte aligned)`,
        checklist: [items[0]],
        p,
        when: (s, p) => s[p.count] !== 0,
        fail: (s, p) => misaligned(s[p.addr], 4),
        message: (s) =>
          `${show(s, addr)} is not 16-byte aligned (bits 3:0 = ${h(s[addr] & 0xf)}) while ${counted(s)}; align the ${what} area to 16 bytes or set the count to 0`,
      }),
      rule({
        id: `ctl.exit.msr-${key}-addr-width`,
        rule: `With a nonzero VM-exit MSR-${key} count, the ${what} address must not set bits beyond the physical-address width`,
        checklist: [items[1]],
        p,
        when: (s, p) => s[p.count] !== 0,
        fail: (s, p) => beyondPhys(s, s[p.addr], s.hi[p.addr]),
        message: (s) =>
          `${show(s, addr)} sets bits beyond the physical-address width while ${counted(s)}: ${physLimit(s)}`,
      }),
      rule({
        id: `ctl.exit.msr-${key}-area-end-width`,
        rule: `With a nonzero VM-exit MSR-${key} count, the last byte of the ${what} area (address + count·16 − 1) must be within the physical-address width`,
        checklist: [items[2]],
        p,
        when: (s, p) => s[p.count] !== 0,
        // Reported only when the start address itself is within the width (otherwise the address check says it).
        fail: (s, p) =>
          !beyondPhys(s, s[p.addr], s.hi[p.addr]) &&
          areaEndBeyondPhys(s, s[p.addr], s.hi[p.addr], s[p.count], 16),
        message: (s) =>
          `the ${what} area at ${show(s, addr)} with ${counted(s)} (16 bytes each) ends at ${areaEnd(s, addr, s[count], 16)}, beyond the physical-address width: ${physLimit(s)}; move the area lower or shorten the list`,
      }),
    ];
  }),
]);
