/**
 * What a predicate reads, by name and with types (docs/architecture.md "Typed registry"). A rule's `when`,
 * `fail` and the decoders it calls are functions of a `State`: `s.GUEST_CR0` is bits 31:0 of the field,
 * `s.hi.GUEST_CR0` bits 63:32, `s.proc2` the secondary controls as they take effect, `s.caps` the CPU
 * profile, `s.cpu` the processor state, `s.mem` guest-physical memory. A misspelled name does not compile.
 *
 * The predicates are never called on a `State` object on the hot path: their source is compiled
 * (src/checks/compile.ts) into code over the VMCS slots. Messages, which run only on failure, get a real
 * object of this type (`stateOf`), so a message reads the same names and calls the same decoders.
 */
import { FIELDS, type FieldName } from "../arch/fields.js";
import type { Caps } from "../cpu/profile.js";
import type { ProcessorState } from "../entry/processor.js";
import type { Memory } from "../vmcs/memory.js";
import type { Ctx } from "./types.js";

/** One 32-bit half of every field, by KVM name (unsigned). */
export type Halves = { readonly [K in FieldName]: number };

/** The control words as they take effect (SDM 25.6.2, 25.7.1: inactive secondary/tertiary words read as 0). */
export const CONTROL_WORDS = [
  "pin",
  "proc",
  "proc2",
  "proc3",
  "proc3Hi",
  "exit",
  "exit2",
  "exit2Hi",
  "entry",
] as const;
export type ControlWordName = (typeof CONTROL_WORDS)[number];

/** The VMCS fields a control word in effect depends on (its own field and the word that activates it). */
export const WORD_FIELDS: Readonly<Record<ControlWordName | "v86", readonly FieldName[]>> = {
  pin: ["PIN_BASED_VM_EXEC_CONTROL"],
  proc: ["CPU_BASED_VM_EXEC_CONTROL"],
  proc2: ["CPU_BASED_VM_EXEC_CONTROL", "SECONDARY_VM_EXEC_CONTROL"],
  proc3: ["CPU_BASED_VM_EXEC_CONTROL", "TERTIARY_VM_EXEC_CONTROL"],
  proc3Hi: ["CPU_BASED_VM_EXEC_CONTROL", "TERTIARY_VM_EXEC_CONTROL"],
  exit: ["VM_EXIT_CONTROLS"],
  exit2: ["VM_EXIT_CONTROLS", "SECONDARY_VM_EXIT_CONTROLS"],
  exit2Hi: ["VM_EXIT_CONTROLS", "SECONDARY_VM_EXIT_CONTROLS"],
  entry: ["VM_ENTRY_CONTROLS"],
  v86: ["GUEST_RFLAGS"],
};

export interface State extends Halves {
  /** Bits 63:32 of every field. */
  readonly hi: Halves;
  readonly pin: number;
  readonly proc: number;
  /** Secondary processor-based controls in effect (0 unless primary bit 31). */
  readonly proc2: number;
  /** Tertiary controls in effect (0 unless primary bit 17), bits 31:0 and 63:32. */
  readonly proc3: number;
  readonly proc3Hi: number;
  readonly exit: number;
  /** Secondary VM-exit controls in effect (0 unless exit bit 31), bits 31:0 and 63:32. */
  readonly exit2: number;
  readonly exit2Hi: number;
  readonly entry: number;
  /** Guest RFLAGS.VM: the guest will be virtual-8086. */
  readonly v86: boolean;
  readonly caps: Caps;
  readonly cpu: Readonly<ProcessorState>;
  readonly mem: Memory;
}

/** One entry of the VM-entry MSR-load area (SDM 29.4) as 32-bit words. */
export interface MsrEntry {
  /** MSR index (bits 31:0). */
  readonly index: number;
  /** Bits 63:32 (reserved). */
  readonly reserved: number;
  /** The value, bits 31:0 and 63:32. */
  readonly lo: number;
  readonly hi: number;
}

/** The first MSR-load entry that breaks a rule, for messages. */
export interface FoundEntry extends MsrEntry {
  /** 1-based position in the list (the exit qualification). */
  readonly position: number;
  /** Its physical address. */
  readonly address: number;
}

class HalfView {
  constructor(protected readonly ctx: Ctx) {}
}
class HiView extends HalfView {}

class StateView extends HalfView {
  readonly hi = new HiView(this.ctx) as unknown as Halves;
  get pin(): number {
    return this.ctx.pin;
  }
  get proc(): number {
    return this.ctx.proc;
  }
  get proc2(): number {
    return this.ctx.proc2;
  }
  get proc3(): number {
    return this.ctx.proc3;
  }
  get proc3Hi(): number {
    return this.ctx.proc3Hi;
  }
  get exit(): number {
    return this.ctx.exit;
  }
  get exit2(): number {
    return this.ctx.exit2;
  }
  get exit2Hi(): number {
    return this.ctx.exit2Hi;
  }
  get entry(): number {
    return this.ctx.entry;
  }
  get v86(): boolean {
    return this.ctx.v86;
  }
  get caps(): Caps {
    return this.ctx.caps;
  }
  get cpu(): Readonly<ProcessorState> {
    return this.ctx.proc_;
  }
  get mem(): Memory {
    return this.ctx.mem;
  }
}

// One getter per field, from the field table.
for (const f of FIELDS) {
  const lo = f.index << 1;
  Object.defineProperty(StateView.prototype, f.name, {
    get(this: StateView) {
      return this.ctx.v[lo];
    },
  });
  Object.defineProperty(HiView.prototype, f.name, {
    get(this: HiView) {
      return this.ctx.v[lo | 1];
    },
  });
}

/** Views made so far, per context (kept off `Ctx` itself, whose shape the compiled runners rely on). */
const VIEWS = new WeakMap<Ctx, State>();
let lastCtx: Ctx | undefined;
let lastView: State | undefined;

/** The state of a context as an object (messages and tests; the hot path never builds one). */
export function stateOf(c: Ctx): State {
  if (c === lastCtx) return lastView as State;
  let v = VIEWS.get(c);
  if (!v) {
    v = new StateView(c) as unknown as State;
    VIEWS.set(c, v);
  }
  lastCtx = c;
  lastView = v;
  return v;
}
