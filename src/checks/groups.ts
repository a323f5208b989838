/**
 * Named gates shared by several checks (the fast path's group gating). A check that names a `group` promises
 * that its `when` implies the group's gate: whenever the gate is false the check cannot apply. The compiled
 * runner (src/entry/fast.ts) then evaluates the gate once for a run of consecutive checks of the group and
 * skips them all when it is false; the reference loop ignores groups and uses `when` + `fail` only, and
 * test/fast-path.property.test.ts proves both agree (and that no check applies while its gate is false).
 *
 * Modules build their `when` from these gates (e.g. `when: smmReturn` or `(c) => loadFredGuest(c) && …`), so
 * each condition is written once.
 */
import * as archControls from "../arch/controls.js";
import * as archFields from "../arch/fields.js";
import * as archRegisters from "../arch/registers.js";
import { code, compilePred, hi, lo, type Pred } from "./pred.js";

// Short local names for the imported tables and helpers.
const { ENTRY, EXIT, EXIT2, PIN, PROC, PROC2, PROC3 } = archControls;
const { F } = archFields;
const { AR, INTR, PENDING_DBG } = archRegisters;

const INFO = F.VM_ENTRY_INTR_INFO_FIELD!;
const LINK = F.VMCS_LINK_POINTER!;
const ENTRY_MSR_COUNT = F.VM_ENTRY_MSR_LOAD_COUNT!;
const LDTR_AR = F.GUEST_LDTR_AR_BYTES!;
const PENDING = F.GUEST_PENDING_DBG_EXCEPTIONS!;
const INTERRUPTIBILITY = F.GUEST_INTERRUPTIBILITY_INFO!;

/**
 * The gates as predicate source (src/checks/pred.ts), for modules that build a `when` out of them
 * (`pred\`${G.eventValid} && …\``). The functions below are compiled from the same text.
 */
export const G = {
  /** A VM entry that returns from SMM under the dual-monitor treatment (SDM 34.15.4). */
  smmReturn: code`c.proc_.inSmm && c.proc_.dualMonitorActive && (c.entry & ${ENTRY.SMM}) === 0`,
  /** An event is being injected: VM-entry interruption-information bit 31 (SDM 29.2.1.3). */
  eventValid: code`${lo(INFO)} >>> 31 === 1`,
  /** The guest will be virtual-8086: RFLAGS.VM = 1 (SDM 29.3.1.2). */
  v86: code`c.v86`,
  /** The VMCS link pointer is not all ones (SDM 29.3.1.5). */
  linkValid: code`(${lo(LINK)} & ${hi(LINK)}) >>> 0 !== 0xffffffff`,
  /** The VM-entry MSR-load list is not empty (SDM 29.2.1.3, 29.4). */
  entryMsrLoad: code`${lo(ENTRY_MSR_COUNT)} !== 0`,
  /** LDTR is usable: access-rights bit 16 = 0 (SDM 29.3.1.2). */
  ldtrUsable: code`(${lo(LDTR_AR)} & ${AR.UNUSABLE}) === 0`,
  /** Pending debug exceptions report an RTM event (bit 16, SDM 29.3.1.5). */
  pendingRtm: code`(${lo(PENDING)} & ${PENDING_DBG.RTM}) !== 0`,
  /** Interruptibility state: blocking by enclave interruption (bit 4, SDM 29.3.1.5). */
  enclaveBlocking: code`(${lo(INTERRUPTIBILITY)} & ${INTR.ENCLAVE}) !== 0`,
  /** "Load CET state" VM-exit control. */
  hostLoadCet: code`(c.exit & ${EXIT.LOAD_CET}) !== 0`,
  /** "Load FRED" secondary VM-exit control. */
  hostLoadFred: code`(c.exit2 & ${EXIT2.LOAD_FRED}) !== 0`,
  /** "Load CET state" VM-entry control. */
  guestLoadCet: code`(c.entry & ${ENTRY.LOAD_CET}) !== 0`,
  /** "Load FRED" VM-entry control. */
  guestLoadFred: code`(c.entry & ${ENTRY.LOAD_FRED}) !== 0`,
  /** "Process posted interrupts" pin-based control. */
  postedIntr: code`(c.pin & ${PIN.POSTED_INTR}) !== 0`,
  /** "Use I/O bitmaps" processor-based control. */
  ioBitmaps: code`(c.proc & ${PROC.USE_IO_BITMAPS}) !== 0`,
  /** "Enable EPT" secondary control (as in effect). */
  eptOn: code`(c.proc2 & ${PROC2.EPT}) !== 0`,
  /** "VMCS shadowing" secondary control. */
  shadowVmcs: code`(c.proc2 & ${PROC2.SHADOW_VMCS}) !== 0`,
  /** "Enable HLAT" tertiary control. */
  hlatOn: code`(c.proc3 & ${PROC3.HLAT}) !== 0`,
  /**
   * The processor supports Intel 64 architecture. IA32_VMX_BASIC[48] is always 0 on such processors (SDM A.1),
   * so a profile that sets it describes a processor without Intel 64; all other profiles are taken as Intel 64.
   */
  intel64: code`!c.caps.addr32`,
} as const;

export type GroupName = keyof typeof G;

/** The gate table: group name → gate predicate. */
export const GROUPS = Object.fromEntries(
  Object.entries(G).map(([k, x]) => [k, compilePred(x.code)]),
) as Record<GroupName, Pred>;

export const {
  smmReturn,
  eventValid,
  v86,
  linkValid,
  entryMsrLoad,
  ldtrUsable,
  pendingRtm,
  enclaveBlocking,
  hostLoadCet,
  hostLoadFred,
  guestLoadCet,
  guestLoadFred,
  postedIntr,
  ioBitmaps,
  eptOn,
  shadowVmcs,
  hlatOn,
  intel64,
} = GROUPS;
