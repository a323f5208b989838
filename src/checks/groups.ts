/**
 * Named gates shared by several checks. A check that names a `group` applies only while the gate holds (the
 * gate is part of its applicability, src/checks/rule.ts); the compiled runner (src/entry/fast.ts) evaluates the
 * gate once for a run of consecutive checks of the group and skips them all when it is false. The reference
 * loop uses each check's full `when`; test/fast-path.property.test.ts proves both agree.
 *
 * The gates are typed predicates (src/checks/state.ts) and decoders: a rule's `when` may call them by name
 * (`eptOn(s) && …`).
 */
import * as archControls from "../arch/controls.js";
import * as archRegisters from "../arch/registers.js";
import { type Compiled, compilePredicate, decoders, toFunction } from "./compile.js";
import type { State } from "./state.js";
import type { Pred } from "./types.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves predicates' names in this module (compile.ts).
const scope = (name: string): unknown => eval(name);

// Short local names for the imported tables.
const { ENTRY, EXIT, EXIT2, PIN, PROC, PROC2, PROC3 } = archControls;
const { AR, INTR, PENDING_DBG } = archRegisters;

export const G = decoders(scope, {
  /** A VM entry that returns from SMM under the dual-monitor treatment (SDM 34.15.4). */
  smmReturn: (s: State) => s.cpu.inSmm && s.cpu.dualMonitorActive && (s.entry & ENTRY.SMM) === 0,
  /** An event is being injected: VM-entry interruption-information bit 31 (SDM 29.2.1.3). */
  eventValid: (s: State) => s.VM_ENTRY_INTR_INFO_FIELD >>> 31 === 1,
  /** The guest will be virtual-8086: RFLAGS.VM = 1 (SDM 29.3.1.2). */
  v86: (s: State) => s.v86,
  /** The VMCS link pointer is not all ones (SDM 29.3.1.5). */
  linkValid: (s: State) => (s.VMCS_LINK_POINTER & s.hi.VMCS_LINK_POINTER) >>> 0 !== 0xffffffff,
  /** The VM-entry MSR-load list is not empty (SDM 29.2.1.3, 29.4). */
  entryMsrLoad: (s: State) => s.VM_ENTRY_MSR_LOAD_COUNT !== 0,
  /** LDTR is usable: access-rights bit 16 = 0 (SDM 29.3.1.2). */
  ldtrUsable: (s: State) => (s.GUEST_LDTR_AR_BYTES & AR.UNUSABLE) === 0,
  /** Pending debug exceptions report an RTM event (bit 16, SDM 29.3.1.5). */
  pendingRtm: (s: State) => (s.GUEST_PENDING_DBG_EXCEPTIONS & PENDING_DBG.RTM) !== 0,
  /** Interruptibility state: blocking by enclave interruption (bit 4, SDM 29.3.1.5). */
  enclaveBlocking: (s: State) => (s.GUEST_INTERRUPTIBILITY_INFO & INTR.ENCLAVE) !== 0,
  /** "Load CET state" VM-exit control. */
  hostLoadCet: (s: State) => (s.exit & EXIT.LOAD_CET) !== 0,
  /** "Load FRED" secondary VM-exit control. */
  hostLoadFred: (s: State) => (s.exit2 & EXIT2.LOAD_FRED) !== 0,
  /** "Load CET state" VM-entry control. */
  guestLoadCet: (s: State) => (s.entry & ENTRY.LOAD_CET) !== 0,
  /** "Load FRED" VM-entry control. */
  guestLoadFred: (s: State) => (s.entry & ENTRY.LOAD_FRED) !== 0,
  /** "Process posted interrupts" pin-based control. */
  postedIntr: (s: State) => (s.pin & PIN.POSTED_INTR) !== 0,
  /** "Use I/O bitmaps" processor-based control. */
  ioBitmaps: (s: State) => (s.proc & PROC.USE_IO_BITMAPS) !== 0,
  /** "Enable EPT" secondary control (as in effect). */
  eptOn: (s: State) => (s.proc2 & PROC2.EPT) !== 0,
  /** "VMCS shadowing" secondary control. */
  shadowVmcs: (s: State) => (s.proc2 & PROC2.SHADOW_VMCS) !== 0,
  /** "Enable HLAT" tertiary control. */
  hlatOn: (s: State) => (s.proc3 & PROC3.HLAT) !== 0,
  /**
   * The processor supports Intel 64 architecture. IA32_VMX_BASIC[48] is always 0 on such processors (SDM A.1),
   * so a profile that sets it describes a processor without Intel 64; all other profiles are taken as Intel 64.
   */
  intel64: (s: State) => !s.caps.addr32,
});

export type GroupName = keyof typeof G;

/** A table whose entries are made on first use (compiling happens where it is used, see rule.ts). */
function lazyTable<T>(make: (name: GroupName) => T): Readonly<Record<GroupName, T>> {
  const table = {} as Record<GroupName, T>;
  for (const name of Object.keys(G) as GroupName[]) {
    let made: T | undefined;
    Object.defineProperty(table, name, { get: () => (made ??= make(name)), enumerable: true });
  }
  return table;
}

/** Each gate compiled: its source and what it reads. */
export const GATES: Readonly<Record<GroupName, Compiled>> = lazyTable((name) =>
  compilePredicate(G[name], scope),
);

/** The gates as compiled predicates (the fast path tests a group's gate once per run of its checks). */
export const GROUPS: Readonly<Record<GroupName, Pred>> = lazyTable((name) =>
  Object.assign(toFunction<boolean>(`!!(${GATES[name].src})`, `gate-${name}`), { src: GATES[name].src }),
);
