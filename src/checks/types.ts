/**
 * What a check is (design.md "A check"): a declarative entry with a stable id, its SDM section, the class
 * of failure that fixes the outcome, the fields it reads, when it applies, the predicate and a message
 * built from the actual values. Predicates read the VMCS through `Ctx` as 32-bit halves.
 */
import { F } from "../arch/fields.js";
import { RFLAGS } from "../arch/registers.js";
import type { Caps } from "../cpu/profile.js";
import type { ProcessorState } from "../entry/processor.js";
import type { Memory } from "../vmcs/memory.js";
import type { Vmcs } from "../vmcs/store.js";
import type { GroupName } from "./groups.js";

/**
 * basic: SDM 29.1 (outcome given by the check itself); control: VMfailValid(7); host: VMfailValid(8);
 * guest: VM exit 33 with the check's qualification; msr-load: VM exit 34 with the failing entry's index.
 */
export type CheckClass = "basic" | "control" | "host" | "guest" | "msr-load";

/**
 * What VM entry does: `entered`; `vmfail-invalid` (no current VMCS); `vmfail-valid` with the VM-instruction
 * error number (7 controls, 8 host state, 4/5/26...); `vmexit` with the basic exit reason (33 guest state,
 * 34 MSR loading) and the exit qualification; `fault` (an exception before any check, e.g. #UD, #GP).
 */
export type Outcome =
  | { type: "vmfail-invalid" }
  | { type: "vmfail-valid"; error: number }
  | { type: "vmexit"; reason: number; qualification: number }
  | { type: "entered" }
  /** Extension: the instruction faults before any VMCS check (SDM 33.3 VMLAUNCH/VMRESUME: #UD, #GP(0)). */
  | { type: "fault"; exception: "#UD" | "#GP(0)" };

/** One rule of VM entry: its stable id, the SDM section that states it, its class (the outcome it causes) and its test. */
export interface Check {
  /** Stable id that reads as the rule, e.g. `guest.cs.l-and-d`. */
  readonly id: string;
  /** SDM section of the newest revision, e.g. "29.3.1.2". */
  readonly sdm: string;
  readonly cls: CheckClass;
  /** KVM names of the fields the check reads (for reports and the playground's links). */
  readonly fields: readonly string[];
  /** The rule in one line, for docs/checks.md. */
  readonly rule: string;
  /** Items of ../shared/docs/reference/sdm-checks.md this check implements (coverage table). */
  readonly checklist?: readonly string[];
  /** Applicability: capability/control conditions (the group gate included). Absent = always. */
  readonly when?: ((c: Ctx) => boolean) | Pred;
  /** True when the rule is violated (only called when `when` holds). */
  readonly fail: ((c: Ctx) => boolean) | Pred;
  /** Message with the actual values and what would be valid; built only on failure. */
  readonly message: (c: Ctx) => string;
  /** basic class: the outcome of this check's failure. */
  readonly outcome?: Outcome;
  /** control class: VM-instruction error when not 7 (e.g. 16–18, 25 for entries that return from SMM, SDM 34.15.4). */
  readonly error?: number;
  /** guest class: exit qualification (SDM 29.8): 0 default, 2 PDPTE, 4 VMCS link pointer. */
  readonly qualification?: number;
  /** msr-load class: 1-based index of the first failing MSR-load entry. */
  readonly entryIndex?: (c: Ctx) => number;
  /**
   * Optional shared gate (src/checks/groups.ts) that `when` implies: the fast path skips a run of consecutive
   * checks of one group when the gate is false. Never changes a verdict; `when` stays the full condition.
   */
  readonly group?: GroupName;
}

/**
 * A predicate compiled from a typed rule (src/checks/compile.ts), with the expression it was compiled from:
 * the fast path pastes `src` inline. A plain function (e.g. a `when` another module wrapped) has no `src`
 * and is called.
 */
export interface Pred {
  (c: Ctx): boolean;
  /** Expression over `c` (the context) and `v` (its VMCS slots). */
  readonly src: string;
  /** A `when` with a group gate: the rest of the condition, once the gate holds. */
  readonly afterGate?: string;
  /** An MSR-load check's `fail`: the condition on one entry (over c, v and the entry's words mi, mr, ml, mh). */
  readonly entry?: string;
}

/** The source of a compiled predicate; undefined for a plain function. */
export function srcOf(f: ((c: Ctx) => boolean) | undefined): string | undefined {
  const s = (f as Partial<Pred> | undefined)?.src;
  return typeof s === "string" ? s : undefined;
}

/**
 * Evaluation context: the VMCS, the decoded CPU profile, the processor and memory, plus the control words
 * as they take effect (secondary/tertiary/secondary-exit controls read as 0 when not activated, SDM 25.6.2,
 * 25.7.1).
 */
export class Ctx {
  v: Uint32Array;
  pin = 0;
  proc = 0;
  /** secondary processor-based controls in effect (0 unless primary bit 31) */
  proc2 = 0;
  /** tertiary controls in effect (0 unless primary bit 17), halves */
  proc3 = 0;
  proc3Hi = 0;
  exit = 0;
  /** secondary exit controls in effect (0 unless exit bit 31), halves */
  exit2 = 0;
  exit2Hi = 0;
  entry = 0;
  /** Guest RFLAGS.VM (the guest will be virtual-8086), derived in refresh(). */
  v86 = false;

  constructor(
    public vmcs: Vmcs,
    public caps: Caps,
    public proc_: ProcessorState,
    public mem: Memory,
  ) {
    this.v = vmcs.v;
    this.refresh();
  }

  /**
   * Recompute the effective control words and derived values after the VMCS changed. The evaluators
   * (src/entry/evaluate.ts) call it at the start of every evaluation.
   */
  refresh(): void {
    this.v = this.vmcs.v;
    const v = this.v;
    // Slots are in range (the store has one pair per field): `| 0` / `& ` turn the read into an int32.
    this.pin = (v[F.PIN_BASED_VM_EXEC_CONTROL << 1] as number) | 0;
    this.proc = (v[F.CPU_BASED_VM_EXEC_CONTROL << 1] as number) | 0;
    this.proc2 = this.proc & (1 << 31) ? (v[F.SECONDARY_VM_EXEC_CONTROL << 1] as number) | 0 : 0;
    const t = F.TERTIARY_VM_EXEC_CONTROL << 1;
    this.proc3 = this.proc & (1 << 17) ? (v[t] as number) | 0 : 0;
    this.proc3Hi = this.proc & (1 << 17) ? (v[t + 1] as number) | 0 : 0;
    this.exit = (v[F.VM_EXIT_CONTROLS << 1] as number) | 0;
    const e2 = F.SECONDARY_VM_EXIT_CONTROLS << 1;
    this.exit2 = this.exit & (1 << 31) ? (v[e2] as number) | 0 : 0;
    this.exit2Hi = this.exit & (1 << 31) ? (v[e2 + 1] as number) | 0 : 0;
    this.entry = (v[F.VM_ENTRY_CONTROLS << 1] as number) | 0;
    this.v86 = ((v[F.GUEST_RFLAGS << 1] as number) & RFLAGS.VM) !== 0;
  }

  /** Bits 31:0 of a field, as an unsigned number. */
  lo(i: number): number {
    return this.v[i << 1] as number;
  }
  /** Bits 63:32 of a field, as an unsigned number. */
  hi(i: number): number {
    return this.v[(i << 1) | 1] as number;
  }
}
