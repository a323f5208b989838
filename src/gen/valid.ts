/**
 * Seeded, reproducible generation of VMCS states that pass every check of the registry for a given CPU
 * profile (issue 7). Generation starts from the valid 64-bit base state (`base.ts`), sets up a guest mode
 * (64-bit, 32-bit protected, PAE, real mode, virtual-8086), then applies independent *aspects* in turn. Each
 * aspect proposes a coherent setting — a control together with what it depends on (fields, memory, other
 * controls) — chosen only among what the profile allows; the proposal is kept when the whole state still
 * passes every check and reverted otherwise (propose-and-verify, using the registry as the oracle). So every
 * intermediate state is valid, the result is valid by construction, and any legal setting of a control that
 * is legal together with the rest is reachable.
 */
import { CONTROL_BITS, type ControlWord, ENTRY, EXIT, PIN, PROC, PROC2 } from "../arch/controls.js";
import { F } from "../arch/fields.js";
import { EPT_CAP } from "../arch/msrs.js";
import { ACTIVITY, CR0, CR4, EFER, EVENT, INTR, PENDING_DBG, RFLAGS } from "../arch/registers.js";
import { Ctx } from "../checks/types.js";
import type { Caps } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import { countFailures } from "../entry/evaluate.js";
import type { ProcessorState } from "../entry/processor.js";
import type { Memory } from "../vmcs/memory.js";
import type { Vmcs } from "../vmcs/store.js";
import { baseEntry } from "./base.js";
import { Rng } from "./rng.js";

/** A guest mode: 64 (IA-32e), 32 (protected), pae, real (unrestricted guest), v86. */
export type Mode = "64" | "32" | "pae" | "real" | "v86";
/** Every guest mode the generator knows. */
export const MODES: readonly Mode[] = ["64", "32", "pae", "real", "v86"];

/** How eagerly optional features are switched on: at random, all that fit, or none. */
export type FeatureLevel = "random" | "max" | "min";

/** Options of {@link generateValid}. */
export interface GenOptions {
  /** Guest mode; default: a random mode the profile supports. */
  mode?: Mode;
  features?: FeatureLevel;
}

/** A generated state: the entry, its guest mode, and what the generator chose. */
export interface Generated {
  entry: Entry;
  mode: Mode;
  /** Aspects whose proposal was kept, e.g. "ept", "posted-interrupts", "event:hw-exception". */
  aspects: string[];
}

const CTL_FIELD: Record<ControlWord, number> = {
  pin: F.PIN_BASED_VM_EXEC_CONTROL!,
  proc: F.CPU_BASED_VM_EXEC_CONTROL!,
  proc2: F.SECONDARY_VM_EXEC_CONTROL!,
  proc3: F.TERTIARY_VM_EXEC_CONTROL!,
  exit: F.VM_EXIT_CONTROLS!,
  exit2: F.SECONDARY_VM_EXIT_CONTROLS!,
  entry: F.VM_ENTRY_CONTROLS!,
};

const TWO32 = 0x100000000;

/** EPT with a usable walk length and memory type (a prerequisite of unrestricted guest). */
function eptUsable(caps: Caps): boolean {
  return (
    (caps.ctl.proc.may1 & PROC.SECONDARY) !== 0 &&
    (caps.ctl.proc2.may1 & PROC2.EPT) !== 0 &&
    (caps.eptCap & (EPT_CAP.PWL4 | EPT_CAP.PWL5)) !== 0 &&
    (caps.eptCap & (EPT_CAP.WB | EPT_CAP.UC)) !== 0
  );
}

function ugUsable(caps: Caps): boolean {
  return eptUsable(caps) && (caps.ctl.proc2.may1 & PROC2.UNRESTRICTED_GUEST) !== 0;
}

/** Guest modes the profile can run (real mode needs unrestricted guest). */
export function modesFor(caps: Caps): Mode[] {
  const out: Mode[] = [];
  if ((caps.ctl.entry.may1 & ENTRY.IA32E_GUEST) !== 0 && !caps.addr32) out.push("64");
  out.push("32", "pae");
  if (ugUsable(caps)) out.push("real");
  out.push("v86");
  return out;
}

/** Why a mode cannot be generated on a profile, or undefined when it can. */
export function modeUnsupported(caps: Caps, mode: Mode): string | undefined {
  if (modesFor(caps).includes(mode)) return undefined;
  if (mode === "real")
    return `${caps.name} does not support unrestricted guest with EPT (needed for real mode)`;
  return `${caps.name} does not support IA-32e mode guests`;
}

/** The working state of one generation: the entry being built and the propose-and-verify machinery. */
export class Work {
  readonly vmcs: Vmcs;
  mem: Memory;
  readonly proc: ProcessorState;
  readonly ctx: Ctx;
  readonly aspects: string[] = [];
  /** Evaluate every check after each proposal (a fallback when the fast path let an invalid state by). */
  strict = false;
  private readonly pages = new Set<number>();
  /**
   * The profile's narrowest reading (src/cpu/profile.ts `conservative`): MSR values within the strict masks,
   * MSR-load entries only for MSRs known to be loadable. Proposals are chosen and verified on it, so a valid
   * state is valid on every CPU the profile stands for (Hyper-Threading on or off, either core type, …).
   */
  readonly caps: Caps;

  constructor(
    readonly profile: Caps,
    readonly rng: Rng,
    readonly level: FeatureLevel = "random",
    start?: Entry,
  ) {
    this.caps = profile.facts.conservative();
    const e = start ?? baseEntry(profile);
    this.vmcs = e.vmcs;
    this.mem = e.memory;
    this.proc = e.processor;
    this.ctx = new Ctx(this.vmcs, this.caps, this.proc, this.mem);
  }

  entry(): Entry {
    return {
      caps: this.profile,
      processor: this.proc,
      vmcs: this.vmcs,
      memory: this.mem,
      cpu: this.profile.name,
    };
  }

  /** Every check passes. */
  ok(): boolean {
    this.ctx.refresh();
    return countFailures(this.ctx) === 0;
  }

  /**
   * After a proposal: a state in which no field changed is still valid; otherwise every check runs (the
   * compiled registry costs ~150 ns, less than compiling a runner for the checks that read the changed fields,
   * which is what this did while a check took ~1 µs).
   */
  private okAfter(before: Uint32Array, full: boolean): boolean {
    this.ctx.refresh();
    if (full || this.strict) return countFailures(this.ctx) === 0;
    const v = this.vmcs.v;
    for (let i = 0; i < v.length; i++) if (v[i] !== before[i]) return countFailures(this.ctx) === 0;
    return true;
  }

  /** Copies of the VMCS slots before each open proposal, by nesting depth (reused: no allocation per proposal). */
  private readonly saved: Uint32Array[] = [];
  private depth = 0;

  /**
   * Apply a proposal; keep it if the state stays valid, else revert (the VMCS from a copy, memory from its undo
   * log). `fn` may return false to give up.
   */
  attempt(name: string | undefined, fn: () => unknown, touchesMemory = false): boolean {
    const depth = this.depth++;
    if (this.saved.length === depth) this.saved.push(new Uint32Array(this.vmcs.v.length));
    const v = this.saved[depth] as Uint32Array;
    v.set(this.vmcs.v);
    const mark = this.mem.mark();
    const p = { ...this.proc };
    const keys = Object.keys(this.proc).length;
    try {
      if (fn() !== false) {
        const procChanged =
          Object.keys(this.proc).length !== keys ||
          (Object.keys(p) as (keyof ProcessorState)[]).some((k) => p[k] !== this.proc[k]);
        const memChanged = touchesMemory && this.mem.changedSince(mark);
        if (this.okAfter(v, memChanged || procChanged)) {
          this.mem.keep(mark);
          if (name) this.aspects.push(name);
          return true;
        }
      }
      this.vmcs.v.set(v);
      this.mem.rollback(mark);
      for (const k of Object.keys(this.proc))
        if (!(k in p)) delete (this.proc as unknown as Record<string, unknown>)[k];
      Object.assign(this.proc, p);
      this.ctx.refresh();
      return false;
    } finally {
      this.depth--;
    }
  }

  /**
   * Propose several independent changes at once; when the whole set is rejected, split it in halves
   * (group testing): few evaluations when most changes are legal.
   */
  attemptAll(changes: readonly (() => unknown)[]): void {
    if (changes.length === 0) return;
    if (this.attempt(undefined, () => changes.every((c) => c() !== false))) return;
    if (changes.length === 1) return;
    const mid = changes.length >> 1;
    this.attemptAll(changes.slice(0, mid));
    this.attemptAll(changes.slice(mid));
  }

  /** Up to n proposals (fresh random choices each time) until one is kept. */
  tryN(n: number, name: string | undefined, fn: () => unknown, mem = false): boolean {
    for (let i = 0; i < n; i++) if (this.attempt(name, fn, mem)) return true;
    return false;
  }

  /** Probability that an optional feature is proposed. */
  p(random = 0.5): number {
    return this.level === "max" ? 1 : this.level === "min" ? 0 : random;
  }

  // ---- fields
  lo(f: number): number {
    return this.vmcs.v[f << 1]!;
  }
  hi(f: number): number {
    return this.vmcs.v[(f << 1) | 1]!;
  }
  set(f: number, lo: number, hi = 0): void {
    this.vmcs.v[f << 1] = lo >>> 0;
    this.vmcs.v[(f << 1) | 1] = hi >>> 0;
  }
  /** Set a field to a non-negative number below 2^53 (addresses). */
  setNum(f: number, n: number): void {
    this.set(f, n % TWO32, Math.floor(n / TWO32));
  }
  num(f: number): number {
    return this.hi(f) * TWO32 + this.lo(f);
  }
  orBits(f: number, mask: number): void {
    this.vmcs.v[f << 1] = (this.vmcs.v[f << 1]! | mask) >>> 0;
  }
  clearBits(f: number, mask: number): void {
    this.vmcs.v[f << 1] = (this.vmcs.v[f << 1]! & ~mask) >>> 0;
  }

  // ---- controls
  may(word: ControlWord, mask: number): boolean {
    return (this.caps.ctl[word].may1 & mask) === mask;
  }
  must(word: ControlWord, mask: number): boolean {
    return (this.caps.ctl[word].must1 & mask) !== 0;
  }
  /** Set or clear control bits (low half); returns false when the profile does not allow it. */
  ctl(word: ControlWord, mask: number, on: boolean): boolean {
    if (on && !this.may(word, mask)) return false;
    if (!on && this.must(word, mask)) return false;
    if (on) this.orBits(CTL_FIELD[word], mask);
    else this.clearBits(CTL_FIELD[word], mask);
    if (on && (word === "proc2" || word === "proc3")) {
      const gate = word === "proc2" ? PROC.SECONDARY : PROC.TERTIARY;
      if (!this.may("proc", gate)) return false;
      this.orBits(CTL_FIELD.proc, gate);
    }
    if (on && word === "exit2") {
      if (!this.may("exit", EXIT.SECONDARY)) return false;
      this.orBits(CTL_FIELD.exit, EXIT.SECONDARY);
    }
    return true;
  }
  has(word: ControlWord, mask: number): boolean {
    return (this.lo(CTL_FIELD[word]) & mask) !== 0;
  }

  // ---- physical addresses
  /** Physical-address width usable for VMX structures. */
  physBits(): number {
    return this.caps.addr32 ? Math.min(32, this.caps.maxPhysAddr) : this.caps.maxPhysAddr;
  }
  /** A fresh 4-KByte page, distinct from the others of this state; sometimes the highest page. */
  page(maxBits = 64): number {
    const bits = Math.min(this.physBits(), maxBits);
    for (;;) {
      let a: number;
      const r = this.rng.float();
      if (r < 0.08) a = 2 ** bits - 0x1000 * (1 + this.rng.int(4));
      else if (r < 0.5) a = 0x100000 + this.rng.int(0x3ff00) * 0x1000;
      else a = this.rng.int(2 ** (Math.min(bits, 40) - 12)) * 0x1000;
      if (a >= 0x1000 && !this.pages.has(a)) {
        this.pages.add(a);
        return a;
      }
    }
  }
  /** A random canonical linear address for the CPU's width, biased to the edges. */
  canonical(): [number, number] {
    const bits = this.caps.linearAddressBits;
    const r = this.rng.float();
    const hiBits = bits - 32; // 16 or 25
    const top = (1 << (hiBits - 1)) - 1; // highest high-half value of the lower half
    if (r < 0.1) return [0xffffffff, top]; // highest lower-half canonical address
    if (r < 0.2) return [0, (~top >>> 0) | 0]; // lowest upper-half canonical address
    const high = this.rng.bool();
    const h = this.rng.int(top + 1);
    return [this.rng.u32() & ~0xf, high ? (~top | h) >>> 0 : h];
  }
}

// ---------------------------------------------------------------------------------------------------------
// Segments

const SEGS = ["ES", "CS", "SS", "DS", "FS", "GS", "LDTR", "TR"] as const;
type SegName = (typeof SEGS)[number];
const segF = (s: SegName, part: "SELECTOR" | "BASE" | "LIMIT" | "AR_BYTES") => F[`GUEST_${s}_${part}`]!;

function setSeg(w: Work, s: SegName, sel: number, base: number, limit: number, ar: number): void {
  w.set(segF(s, "SELECTOR"), sel & 0xffff);
  w.setNum(segF(s, "BASE"), base);
  w.set(segF(s, "LIMIT"), limit);
  w.set(segF(s, "AR_BYTES"), ar);
}

// ---------------------------------------------------------------------------------------------------------
// EPT and modes

function eptp(w: Work): number {
  const c = w.caps.eptCap;
  const types: number[] = [];
  if (c & EPT_CAP.WB) types.push(6);
  if (c & EPT_CAP.UC) types.push(0);
  const walks: number[] = [];
  if (c & EPT_CAP.PWL4) walks.push(3);
  if (c & EPT_CAP.PWL5) walks.push(4);
  let v = w.rng.pick(types) | (w.rng.pick(walks) << 3);
  if (c & EPT_CAP.AD && w.rng.bool()) v |= 0x40;
  if (c & EPT_CAP.SSS && w.rng.bool(0.3)) v |= 0x80;
  return w.page() + v;
}

function enableEpt(w: Work): boolean {
  if (!eptUsable(w.caps)) return false;
  if (!w.ctl("proc2", PROC2.EPT, true)) return false;
  w.setNum(F.EPT_POINTER!, eptp(w));
  return true;
}

function enableUg(w: Work): boolean {
  return ugUsable(w.caps) && enableEpt(w) && w.ctl("proc2", PROC2.UNRESTRICTED_GUEST, true);
}

/** CR0/CR4 with the profile's fixed bits applied (the CR0 fixed PE/PG bits are relaxed by UG). */
function fixCr0(w: Work, cr0: number): number {
  let must = w.caps.cr0Fixed0;
  if (w.has("proc2", PROC2.UNRESTRICTED_GUEST) && w.has("proc", PROC.SECONDARY)) must &= ~(CR0.PE | CR0.PG);
  return ((cr0 | must) & w.caps.cr0Fixed1) >>> 0;
}
function fixCr4(w: Work, cr4: number): number {
  return ((cr4 | w.caps.cr4Fixed0) & w.caps.cr4Fixed1) >>> 0;
}

/** Common part of every non-IA-32e mode: controls, EFER, CR4, 32-bit addresses. */
function leaveLongMode(w: Work, pg: boolean, pae: boolean): void {
  w.clearBits(F.VM_ENTRY_CONTROLS!, ENTRY.IA32E_GUEST);
  w.set(F.GUEST_IA32_EFER!, w.lo(F.GUEST_IA32_EFER!) & ~(EFER.LMA | EFER.LME));
  let cr0 = w.lo(F.GUEST_CR0!) | CR0.PE;
  cr0 = pg ? cr0 | CR0.PG : cr0 & ~CR0.PG;
  w.set(F.GUEST_CR0!, fixCr0(w, cr0));
  let cr4 = w.lo(F.GUEST_CR4!) & ~(CR4.PCIDE | CR4.LA57 | CR4.PAE);
  if (pae) cr4 |= CR4.PAE;
  w.set(F.GUEST_CR4!, fixCr4(w, cr4), 0);
  // CR3: a 32-bit page (bits 31:5 locate the PDPT under PAE paging)
  w.setNum(F.GUEST_CR3!, w.page(32));
  for (const f of [
    "GUEST_RSP",
    "GUEST_SYSENTER_ESP",
    "GUEST_SYSENTER_EIP",
    "GUEST_GDTR_BASE",
    "GUEST_IDTR_BASE",
  ])
    w.set(F[f]!, w.rng.u32() & ~0xfff, 0);
  w.set(F.GUEST_RIP!, 0xc1000000 + (w.rng.int(0x100000) << 4), 0);
}

function flat32(w: Work): void {
  setSeg(w, "CS", 0x10, 0, 0xffffffff, 0xc09b);
  for (const s of ["SS", "DS", "ES"] as const) setSeg(w, s, 0x18, 0, 0xffffffff, 0xc093);
  setSeg(w, "FS", 0, 0, 0, 0x1c000);
  setSeg(w, "GS", 0x18, w.rng.u32() & ~0xfff, 0xfffff, 0x4093);
  setSeg(w, "TR", 0x40, w.rng.u32() & ~0x7f, 0x67, 0x8b);
  setSeg(w, "LDTR", 0, 0, 0, 0x10000);
}

function setMode(w: Work, mode: Mode): boolean {
  const r = w.rng;
  switch (mode) {
    case "64": {
      // Sometimes compatibility mode (CS.L = 0) inside an IA-32e guest, sometimes a user-mode RIP.
      if (r.bool(0.2)) {
        setSeg(w, "CS", 0x23, 0, 0xffffffff, 0xc0fb);
        setSeg(w, "SS", 0x2b, 0, 0xffffffff, 0xc0f3);
        w.set(F.GUEST_RIP!, r.u32() & 0x7fffffff, 0);
      } else if (r.bool(0.3)) {
        setSeg(w, "CS", 0x33, 0, 0xffffffff, 0xa0fb);
        setSeg(w, "SS", 0x2b, 0, 0xffffffff, 0xc0f3);
        const [lo, hi] = w.canonical();
        w.set(F.GUEST_RIP!, lo, hi & 0xffff);
      }
      return true;
    }
    case "32":
    case "pae": {
      const pg = mode === "pae" || !ugUsable(w.caps) || r.bool(0.7);
      if (!pg && !enableUg(w)) return false;
      leaveLongMode(w, pg, mode === "pae");
      flat32(w);
      return true;
    }
    case "v86": {
      const choice = r.int(ugUsable(w.caps) ? 3 : 2); // 0: 32-bit paging, 1: PAE paging, 2: no paging (UG)
      if (choice === 2 && !enableUg(w)) return false;
      leaveLongMode(w, choice !== 2, choice === 1);
      for (const s of ["CS", "SS", "DS", "ES", "FS", "GS"] as const) {
        const sel = r.int(0x10000);
        setSeg(w, s, sel, sel << 4, 0xffff, 0xf3);
      }
      setSeg(w, "TR", 0x40, r.u32() & ~0x7f, 0x2067, 0x8b);
      setSeg(w, "LDTR", 0, 0, 0, 0x10000);
      w.set(F.GUEST_RFLAGS!, RFLAGS.FIXED1 | RFLAGS.VM);
      w.set(F.GUEST_RIP!, r.int(0x10000));
      w.set(F.GUEST_RSP!, r.int(0x10000));
      if (r.bool() && (w.caps.cr4Fixed1 & CR4.VME) !== 0) w.orBits(F.GUEST_CR4!, CR4.VME);
      return true;
    }
    case "real": {
      if (!enableUg(w)) return false;
      w.clearBits(F.VM_ENTRY_CONTROLS!, ENTRY.IA32E_GUEST);
      w.set(F.GUEST_IA32_EFER!, w.lo(F.GUEST_IA32_EFER!) & ~(EFER.LMA | EFER.LME));
      w.set(F.GUEST_CR0!, fixCr0(w, CR0.NE | CR0.ET));
      w.set(F.GUEST_CR4!, fixCr4(w, CR4.VMXE), 0);
      w.set(F.GUEST_CR3!, 0);
      const reset = r.bool(0.3);
      const csSel = reset ? 0xf000 : r.int(0x10000);
      setSeg(w, "CS", csSel, reset ? 0xffff0000 : csSel << 4, 0xffff, 0x9b);
      for (const s of ["SS", "DS", "ES", "FS", "GS"] as const) {
        const sel = reset ? 0 : r.int(0x10000);
        setSeg(w, s, sel, sel << 4, 0xffff, 0x93);
      }
      setSeg(w, "TR", 0, 0, 0xffff, 0x8b);
      setSeg(w, "LDTR", 0, 0, 0xffff, r.bool() ? 0x82 : 0x10000);
      w.set(F.GUEST_GDTR_BASE!, 0, 0);
      w.set(F.GUEST_GDTR_LIMIT!, 0xffff);
      w.set(F.GUEST_IDTR_BASE!, 0, 0);
      w.set(F.GUEST_IDTR_LIMIT!, 0x3ff);
      w.set(F.GUEST_RIP!, reset ? 0xfff0 : r.int(0x10000));
      w.set(F.GUEST_RSP!, r.int(0x10000));
      w.set(F.GUEST_RFLAGS!, RFLAGS.FIXED1);
      w.set(F.GUEST_SYSENTER_ESP!, 0);
      w.set(F.GUEST_SYSENTER_EIP!, 0);
      return true;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Feature aspects: each returns false when the profile cannot have it. Run under Work.attempt.

function writeVtpr(w: Work, threshold: number): void {
  const vapic = w.num(F.VIRTUAL_APIC_PAGE_ADDR!);
  const hiNibble = w.rng.range(threshold, 15);
  w.mem.write8(vapic + 0x80, (hiNibble << 4) | w.rng.int(16));
}

const FEATURES: readonly { name: string; p: number; run: (w: Work) => boolean }[] = [
  {
    name: "ept",
    p: 0.7,
    run: (w) => enableEpt(w),
  },
  {
    name: "no-ept",
    p: 0.15,
    run: (w) => w.ctl("proc2", PROC2.EPT | PROC2.UNRESTRICTED_GUEST, false),
  },
  {
    name: "vpid",
    p: 0.6,
    run: (w) => {
      if (!w.ctl("proc2", PROC2.VPID, true)) return false;
      const r = w.rng.float();
      w.set(F.VIRTUAL_PROCESSOR_ID!, r < 0.1 ? 0xffff : r < 0.2 ? 1 : 1 + w.rng.int(0xfffe));
      return true;
    },
  },
  {
    name: "tpr-shadow",
    p: 0.6,
    run: (w) => {
      if (!w.ctl("proc", PROC.TPR_SHADOW, true)) return false;
      const t = w.rng.int(16);
      w.set(F.TPR_THRESHOLD!, t);
      writeVtpr(w, t);
      return true;
    },
  },
  {
    name: "no-tpr-shadow",
    p: 0.1,
    run: (w) => w.ctl("proc", PROC.TPR_SHADOW, false),
  },
  {
    name: "apic-virtualization",
    p: 0.5,
    run: (w) => {
      if (!w.ctl("proc", PROC.TPR_SHADOW, true)) return false;
      const r = w.rng;
      if (r.bool()) {
        if (!w.ctl("proc2", PROC2.VIRT_APIC_ACCESSES, true)) return false;
      } else if (!w.ctl("proc2", PROC2.VIRT_X2APIC, true)) return false;
      if (r.bool(w.p(0.6))) w.ctl("proc2", PROC2.APIC_REGISTER_VIRT, true);
      if (r.bool(w.p(0.6)) && w.ctl("proc2", PROC2.VID, true)) {
        w.ctl("pin", PIN.EXT_INTR, true);
        w.set(F.GUEST_INTR_STATUS!, r.int(0x10000));
        for (const f of ["EOI_EXIT_BITMAP0", "EOI_EXIT_BITMAP1", "EOI_EXIT_BITMAP2", "EOI_EXIT_BITMAP3"])
          w.set(F[f]!, r.u32(), r.u32());
      } else {
        const t = w.rng.int(16);
        w.set(F.TPR_THRESHOLD!, t);
        writeVtpr(w, t);
      }
      return true;
    },
  },
  {
    name: "posted-interrupts",
    p: 0.4,
    run: (w) => {
      if (!w.ctl("pin", PIN.POSTED_INTR | PIN.EXT_INTR, true)) return false;
      if (!w.ctl("proc", PROC.TPR_SHADOW, true) || !w.ctl("proc2", PROC2.VID, true)) return false;
      if (!w.ctl("exit", EXIT.ACK_INTR, true)) return false;
      w.set(F.POSTED_INTR_NV!, w.rng.int(256));
      w.setNum(F.POSTED_INTR_DESC_ADDR!, w.page() + 64 * w.rng.int(64));
      w.set(F.GUEST_INTR_STATUS!, w.rng.int(0x10000));
      return true;
    },
  },
  {
    name: "preemption-timer",
    p: 0.4,
    run: (w) => {
      if (!w.ctl("pin", PIN.PREEMPTION_TIMER, true)) return false;
      const r = w.rng.float();
      w.set(F.VMX_PREEMPTION_TIMER_VALUE!, r < 0.1 ? 0 : r < 0.2 ? 0xffffffff : w.rng.u32());
      if (w.rng.bool(w.p())) w.ctl("exit", EXIT.SAVE_PREEMPTION_TIMER, true);
      return true;
    },
  },
  {
    name: "vmcs-shadowing",
    p: 0.3,
    run: (w) => {
      if (!w.ctl("proc2", PROC2.SHADOW_VMCS, true)) return false;
      const link = w.page();
      w.setNum(F.VMCS_LINK_POINTER!, link);
      w.mem.write32(link, (w.caps.revision | 0x80000000) >>> 0);
      w.setNum(F.VMREAD_BITMAP!, w.page());
      w.setNum(F.VMWRITE_BITMAP!, w.page());
      return true;
    },
  },
  {
    name: "link-pointer-ordinary-vmcs",
    p: 0.1,
    run: (w) => {
      if (w.has("proc2", PROC2.SHADOW_VMCS) && w.has("proc", PROC.SECONDARY)) return false;
      const link = w.page();
      w.setNum(F.VMCS_LINK_POINTER!, link);
      w.mem.write32(link, w.caps.revision);
      return true;
    },
  },
  {
    name: "pml",
    p: 0.4,
    run: (w) => {
      if (!w.has("proc2", PROC2.EPT) || !w.ctl("proc2", PROC2.PML, true)) return false;
      w.setNum(F.PML_ADDRESS!, w.page());
      w.set(F.GUEST_PML_INDEX!, w.rng.bool(0.3) ? 511 : w.rng.int(0x10000));
      return true;
    },
  },
  {
    name: "vm-functions",
    p: 0.3,
    run: (w) => {
      if (!w.ctl("proc2", PROC2.VMFUNC, true)) return false;
      const lo = w.caps.vmfuncLo & w.rng.u32();
      const hi = w.caps.vmfuncHi & w.rng.u32();
      w.set(
        F.VM_FUNCTION_CONTROL!,
        w.level === "max" ? w.caps.vmfuncLo : lo,
        w.level === "max" ? w.caps.vmfuncHi : hi,
      );
      w.setNum(F.EPTP_LIST_ADDRESS!, w.page());
      if (w.rng.bool()) w.set(F.EPTP_INDEX!, w.rng.int(512));
      return true;
    },
  },
  {
    name: "msr-load-list",
    p: 0.4,
    run: (w) => {
      const n = w.level === "max" ? 4 : 1 + w.rng.int(Math.min(8, w.caps.maxMsrList));
      const area = w.page() + 16 * w.rng.int(8);
      w.setNum(F.VM_ENTRY_MSR_LOAD_ADDR!, area);
      w.set(F.VM_ENTRY_MSR_LOAD_COUNT!, n);
      for (let i = 0; i < n; i++) {
        const m = benignMsr(w);
        if (!m) return false;
        const [msr, value] = m;
        w.mem.write32(area + 16 * i, msr);
        w.mem.write32(area + 16 * i + 4, 0);
        w.mem.write32(area + 16 * i + 8, value[0]);
        w.mem.write32(area + 16 * i + 12, value[1]);
      }
      return true;
    },
  },
  {
    name: "exit-msr-lists",
    p: 0.3,
    run: (w) => {
      w.setNum(F.VM_EXIT_MSR_STORE_ADDR!, w.page() + 16 * w.rng.int(8));
      w.set(F.VM_EXIT_MSR_STORE_COUNT!, w.rng.int(9));
      w.setNum(F.VM_EXIT_MSR_LOAD_ADDR!, w.page() + 16 * w.rng.int(8));
      w.set(F.VM_EXIT_MSR_LOAD_COUNT!, w.rng.int(9));
      return true;
    },
  },
  {
    // VMLAUNCH from a 32-bit (non-IA-32e) host: "host address-space size" = 0 (SDM 29.2.4).
    name: "host-32-bit",
    p: 0.15,
    run: (w) => {
      if (w.has("entry", ENTRY.IA32E_GUEST) || !w.ctl("exit", EXIT.HOST_ADDR_SPACE_SIZE, false)) return false;
      w.proc.ia32e = false;
      w.set(F.HOST_CR4!, w.lo(F.HOST_CR4!) & ~(CR4.PCIDE | (w.rng.bool() ? CR4.PAE : 0)), 0);
      w.set(F.HOST_IA32_EFER!, w.lo(F.HOST_IA32_EFER!) & ~(EFER.LMA | EFER.LME));
      for (const f of [
        "HOST_RIP",
        "HOST_RSP",
        "HOST_FS_BASE",
        "HOST_GS_BASE",
        "HOST_TR_BASE",
        "HOST_GDTR_BASE",
        "HOST_IDTR_BASE",
        "HOST_IA32_SYSENTER_ESP",
        "HOST_IA32_SYSENTER_EIP",
        "HOST_CR3",
      ])
        w.set(F[f]!, w.rng.u32() & ~0xfff, 0);
      return true;
    },
  },
  {
    name: "cr3-targets",
    p: 0.3,
    run: (w) => {
      const n = w.rng.int(w.caps.cr3Targets + 1);
      w.set(F.CR3_TARGET_COUNT!, n);
      for (let i = 0; i < 4; i++) w.setNum(F[`CR3_TARGET_VALUE${i}`]!, w.page());
      return true;
    },
  },
];

/** MSRs an MSR-load list may name, each with a value generator legal for it (SDM 29.4). */
const BENIGN_MSRS: readonly [number, (w: Work) => [number, number]][] = [
  [0xc0000081, (w) => [w.rng.u32(), w.rng.u32()]], // IA32_STAR
  [0xc0000082, (w) => w.canonical()], // IA32_LSTAR
  [0xc0000083, (w) => w.canonical()], // IA32_CSTAR
  [0xc0000084, (w) => [w.rng.u32(), 0]], // IA32_FMASK
  [0xc0000102, (w) => w.canonical()], // IA32_KERNEL_GS_BASE
  [0xc0000103, (w) => [w.rng.u32(), 0]], // IA32_TSC_AUX
  [0x175, (w) => w.canonical()], // IA32_SYSENTER_ESP
];

/**
 * An MSR the profile's facts show loadable on every CPU it stands for, with a legal value; undefined when the
 * profile knows none (its CPU facts do not say Intel 64, SYSENTER or RDTSCP exist).
 */
function benignMsr(w: Work): [number, [number, number]] | undefined {
  const ok = BENIGN_MSRS.filter(([i]) => w.caps.msrLoad(i) === 0);
  if (!ok.length) return undefined;
  const [i, value] = w.rng.pick(ok);
  return [i, value(w)];
}

/** Each defined control bit the profile leaves optional, proposed at random (max: set). */
function controlToggles(w: Work): void {
  const words: ControlWord[] = ["pin", "proc", "proc2", "proc3", "exit", "exit2", "entry"];
  const bits: [ControlWord, number][] = [];
  for (const word of words)
    for (const b of CONTROL_BITS[word]) {
      if (b.bit >= 32) continue;
      const m = 1 << b.bit;
      // Mode-defining and SMM-related bits are owned by other aspects.
      if (word === "entry" && (m & (ENTRY.IA32E_GUEST | ENTRY.SMM | ENTRY.DEACT_DUAL_MONITOR)) !== 0)
        continue;
      if (w.may(word, m) && !w.must(word, m)) bits.push([word, m]);
    }
  w.rng.shuffle(bits);
  const changes: (() => unknown)[] = [];
  for (const [word, m] of bits) {
    const on = w.level === "max" ? true : w.level === "min" ? false : w.rng.bool();
    if (w.has(word, m) !== on) changes.push(() => w.ctl(word, m, on));
  }
  w.attemptAll(changes);
}

/** Control fields whose every value is legal at VM entry: random values. */
function miscControlFields(w: Work): void {
  const r = w.rng;
  const props: [string, () => [number, number]][] = [
    ["EXCEPTION_BITMAP", () => [r.u32(), 0]],
    ["PAGE_FAULT_ERROR_CODE_MASK", () => [r.u32(), 0]],
    ["PAGE_FAULT_ERROR_CODE_MATCH", () => [r.u32(), 0]],
    ["TSC_OFFSET", () => [r.u32(), r.u32()]],
    ["TSC_MULTIPLIER", () => [r.u32() | 1, r.u32()]],
    ["PLE_GAP", () => [r.u32(), 0]],
    ["PLE_WINDOW", () => [r.u32(), 0]],
    ["CR0_GUEST_HOST_MASK", () => [r.u32(), r.u32()]],
    ["CR4_GUEST_HOST_MASK", () => [r.u32(), r.u32()]],
    ["CR0_READ_SHADOW", () => [r.u32(), 0]],
    ["CR4_READ_SHADOW", () => [r.u32(), 0]],
    ["XSS_EXIT_BITMAP", () => [r.u32(), r.u32()]],
    ["NOTIFY_WINDOW", () => [r.u32(), 0]],
    ["IO_BITMAP_A", () => [w.page(), 0]],
    ["IO_BITMAP_B", () => [w.page(), 0]],
    ["MSR_BITMAP", () => [w.page(), 0]],
  ];
  const changes: (() => unknown)[] = [];
  for (const [name, gen] of props) {
    if (!r.bool(w.p(0.5))) continue;
    changes.push(() => {
      const [lo, hi] = gen();
      if (name.startsWith("IO_") || name === "MSR_BITMAP") w.setNum(F[name]!, lo);
      else w.set(F[name]!, lo, hi);
    });
  }
  w.attemptAll(changes);
}

/**
 * Optional CR0/CR4 bits the profile allows, toggled at random; CR3 low bits. CR4.PAE is not toggled: it
 * decides the paging mode, which the mode step set (a "32" guest must not become a PAE guest).
 */
function controlRegisters(w: Work): void {
  const r = w.rng;
  const cr0Bits = [CR0.MP, CR0.EM, CR0.TS, CR0.WP, CR0.AM, CR0.CD, CR0.NW];
  const changes: (() => unknown)[] = [];
  for (const b of cr0Bits)
    if (r.bool(0.3)) changes.push(() => w.set(F.GUEST_CR0!, w.lo(F.GUEST_CR0!) ^ b, w.hi(F.GUEST_CR0!)));
  for (let bit = 0; bit < 32; bit++) {
    const b = 1 << bit;
    if ((w.caps.cr4Fixed1 & b) === 0 || (w.caps.cr4Fixed0 & b) !== 0 || b === CR4.PAE || !r.bool(0.3))
      continue;
    changes.push(() => w.set(F.GUEST_CR4!, (w.lo(F.GUEST_CR4!) ^ b) >>> 0, w.hi(F.GUEST_CR4!)));
  }
  w.attemptAll(changes);
  if (r.bool(0.3))
    w.attempt(undefined, () => {
      const cr3 = w.lo(F.GUEST_CR3!);
      const pae =
        (w.lo(F.GUEST_CR4!) & CR4.PAE) !== 0 && (w.lo(F.VM_ENTRY_CONTROLS!) & ENTRY.IA32E_GUEST) === 0;
      w.set(F.GUEST_CR3!, (cr3 & ~0xfff) | (r.u32() & (pae ? 0xfe0 : 0xfff)), w.hi(F.GUEST_CR3!));
    });
}

/** Guest MSR fields loaded or checked at entry: random values within their valid bits. */
function guestMsrs(w: Work): void {
  const r = w.rng;
  const c = w.caps;
  const patType = () => r.pick([0, 1, 4, 5, 6, 7]);
  const pat = (): [number, number] => {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 4; i++) {
      lo |= patType() << (8 * i);
      hi |= patType() << (8 * i);
    }
    return [lo >>> 0, hi >>> 0];
  };
  const props: [string, () => [number, number]][] = [
    ["GUEST_IA32_DEBUGCTL", () => [c.debugctlValidLo & r.u32(), c.debugctlValidHi & r.u32()]],
    ["GUEST_IA32_PAT", pat],
    ["HOST_IA32_PAT", pat],
    [
      "GUEST_IA32_PERF_GLOBAL_CTRL",
      () => [c.perfGlobalCtrlValidLo & r.u32(), c.perfGlobalCtrlValidHi & r.u32()],
    ],
    ["GUEST_IA32_RTIT_CTL", () => [c.rtitCtlValidLo & r.u32(), c.rtitCtlValidHi & r.u32()]],
    ["GUEST_IA32_LBR_CTL", () => [c.lbrCtlValidLo & r.u32(), c.lbrCtlValidHi & r.u32()]],
    ["GUEST_IA32_SPEC_CTRL", () => [c.specCtrlValidLo & r.u32(), c.specCtrlValidHi & r.u32()]],
    ["GUEST_IA32_PKRS", () => [r.u32(), 0]],
    ["GUEST_BNDCFGS", () => [(r.u32() & ~0xffc) >>> 0, r.u32() & 0x7fff]],
    ["GUEST_SYSENTER_CS", () => [r.int(0x10000), 0]],
    ["GUEST_DR7", () => [(r.u32() & 0xffff2fff) | 0x400, 0]],
    ["GUEST_IA32_EFER", () => [w.lo(F.GUEST_IA32_EFER!) ^ (r.bool() ? EFER.SCE : EFER.NXE), 0]],
    ["GUEST_SSP", () => [(r.u32() & ~3) >>> 0, 0]],
    ["GUEST_S_CET", () => [((r.u32() & ~0x3ff) >>> 0) & 0xfffff000, 0]],
    ["GUEST_INTR_SSP_TABLE", () => w.canonical()],
  ];
  for (const [name, gen] of props) {
    if (!r.bool(0.5)) continue;
    w.tryN(2, undefined, () => {
      const [lo, hi] = gen();
      w.set(F[name]!, lo, hi);
    });
  }
}

/** Segment attributes: accessed bit, DPL/RPL, AVL, D/B, G with limit, unusable. */
function segmentAttributes(w: Work): void {
  const r = w.rng;
  const glimit = (ar: number): [number, number] => {
    const k = r.int(4);
    if (k === 0) return [ar | 0x8000, 0xffffffff];
    if (k === 1) return [ar | 0x8000, ((r.int(0x100000) << 12) | 0xfff) >>> 0];
    if (k === 2) return [ar & ~0x8000, r.bool() ? 0xfffff : r.int(0x100000)];
    return [ar & ~0x8000, r.int(0x10000)];
  };
  for (const s of ["CS", "SS", "DS", "ES", "FS", "GS", "LDTR", "TR"] as const) {
    if (!r.bool(0.5)) continue;
    const arF = segF(s, "AR_BYTES");
    const limF = segF(s, "LIMIT");
    const selF = segF(s, "SELECTOR");
    w.tryN(3, undefined, () => {
      let ar = w.lo(arF);
      let limit = w.lo(limF);
      const kind = r.int(6);
      if (kind === 0 && s !== "CS" && s !== "TR" && s !== "SS")
        ar ^= 0x10000; // usable <-> unusable
      else if (kind === 1)
        ar ^= 1; // accessed bit / TSS busy bit
      else if (kind === 2)
        ar = (ar & ~0x60) | (r.int(4) << 5); // DPL
      else if (kind === 3)
        ar ^= 0x1000; // AVL
      else if (kind === 4) [ar, limit] = glimit(ar);
      else {
        w.set(selF, (w.lo(selF) & ~3) | r.int(4));
        if (s === "SS" || s === "CS") {
          // keep SS.RPL = CS.RPL (required without UG)
          const rpl = w.lo(selF) & 3;
          const other = segF(s === "SS" ? "CS" : "SS", "SELECTOR");
          w.set(other, (w.lo(other) & ~3) | rpl);
        }
      }
      if (r.bool(0.2) && s !== "CS" && s !== "TR" && s !== "LDTR") ar ^= 0x4000; // D/B
      w.set(arF, ar >>> 0);
      w.set(limF, limit >>> 0);
    });
  }
  // Unusable registers: their other AR bits are ignored, so vary them.
  for (const s of ["DS", "ES", "FS", "GS", "LDTR"] as const) {
    const arF = segF(s, "AR_BYTES");
    if ((w.lo(arF) & 0x10000) !== 0 && r.bool(0.3))
      w.attempt(undefined, () => w.set(arF, 0x10000 | (r.u32() & 0xf0ff)));
  }
}

/** PAE paging without IA-32e mode: the four PDPTEs, in the VMCS with EPT or in memory at CR3 without. */
function pdptes(w: Work): void {
  const paging =
    (w.lo(F.GUEST_CR0!) & CR0.PG) !== 0 &&
    (w.lo(F.GUEST_CR4!) & CR4.PAE) !== 0 &&
    (w.lo(F.VM_ENTRY_CONTROLS!) & ENTRY.IA32E_GUEST) === 0;
  if (!paging) return;
  const r = w.rng;
  const ept = w.has("proc", PROC.SECONDARY) && w.has("proc2", PROC2.EPT);
  const phys = w.caps.maxPhysAddr;
  const entry = (): [number, number] => {
    if (r.bool(0.2)) return [(r.u32() & ~1) >>> 0, r.u32()]; // not present: other bits ignored
    const page = r.int(2 ** Math.min(phys - 12, 40)) * 0x1000;
    const lo = (page % TWO32) | 1 | (r.int(4) << 3) | (r.int(8) << 9);
    return [lo >>> 0, Math.floor(page / TWO32)];
  };
  w.tryN(
    4,
    ept ? "pdptes:vmcs" : "pdptes:memory",
    () => {
      const base = (w.lo(F.GUEST_CR3!) & ~0x1f) >>> 0;
      for (let i = 0; i < 4; i++) {
        const [lo, hi] = entry();
        if (ept) w.set(F[`GUEST_PDPTR${i}`]!, lo, hi);
        else {
          w.mem.write32(base + 8 * i, lo);
          w.mem.write32(base + 8 * i + 4, hi);
        }
      }
    },
    true,
  );
}

function rflags(w: Work): void {
  const r = w.rng;
  const arith = RFLAGS.CF | RFLAGS.PF | RFLAGS.AF | RFLAGS.ZF | RFLAGS.SF | RFLAGS.DF | RFLAGS.OF;
  const extra =
    RFLAGS.IF |
    RFLAGS.TF |
    RFLAGS.IOPL |
    RFLAGS.NT |
    RFLAGS.RF |
    RFLAGS.AC |
    RFLAGS.ID |
    RFLAGS.VIF |
    RFLAGS.VIP;
  w.attempt(undefined, () => {
    const keep = w.lo(F.GUEST_RFLAGS!) & (RFLAGS.VM | RFLAGS.FIXED1);
    w.set(F.GUEST_RFLAGS!, keep | (r.u32() & arith) | (r.bool(0.7) ? RFLAGS.IF : 0));
  });
  if (r.bool(0.3))
    w.tryN(2, undefined, () => w.set(F.GUEST_RFLAGS!, w.lo(F.GUEST_RFLAGS!) ^ (r.u32() & extra & r.u32())));
}

/** Activity state, interruptibility and pending debug exceptions. */
function activityAndInterruptibility(w: Work): void {
  const r = w.rng;
  const c = w.caps;
  const acts: number[] = [ACTIVITY.ACTIVE];
  if (c.activityHlt) acts.push(ACTIVITY.HLT);
  if (c.activityShutdown) acts.push(ACTIVITY.SHUTDOWN);
  if (c.activityWaitSipi) acts.push(ACTIVITY.WAIT_FOR_SIPI);
  if (acts.length > 1 && r.bool(0.4)) {
    const a = r.pick(acts.slice(1));
    w.tryN(2, `activity:${["active", "hlt", "shutdown", "wait-for-sipi"][a]}`, () => {
      w.set(F.GUEST_ACTIVITY_STATE!, a);
      if (a === ACTIVITY.HLT) {
        // HLT needs SS.DPL = 0 (SDM 29.3.1.5)
        const ss = segF("SS", "AR_BYTES");
        w.set(ss, w.lo(ss) & ~0x60);
        const cs = segF("CS", "AR_BYTES");
        if ((w.lo(cs) & 0x60) !== 0 && (w.lo(cs) & 0xc) !== 0xc) w.set(cs, w.lo(cs) & ~0x60);
      }
    });
  }
  if (r.bool(0.5)) {
    const cands = [INTR.STI, INTR.MOV_SS, INTR.NMI, INTR.NMI | INTR.STI, INTR.NMI | INTR.MOV_SS];
    if (c.flags.has("sgx")) cands.push(INTR.ENCLAVE, INTR.ENCLAVE | INTR.NMI);
    w.tryN(3, "interruptibility", () => {
      w.set(F.GUEST_INTERRUPTIBILITY_INFO!, r.pick(cands));
    });
  }
  if (r.bool(0.4)) {
    w.tryN(3, "pending-debug-exceptions", () => {
      let v = r.u32() & (PENDING_DBG.B0_3 | PENDING_DBG.ENABLED_BP | PENDING_DBG.BS);
      if (c.flags.has("rtm") && r.bool(0.2)) v = PENDING_DBG.RTM | PENDING_DBG.ENABLED_BP;
      w.set(F.GUEST_PENDING_DBG_EXCEPTIONS!, v);
    });
  }
}

const EVENT_NAMES = [
  "ext-interrupt",
  "reserved",
  "nmi",
  "hw-exception",
  "sw-interrupt",
  "priv-sw-exception",
  "sw-exception",
  "other",
];
const ERROR_CODE_VECTORS = [8, 10, 11, 12, 13, 14, 17, 21];

/** One injected event: each type with legal vectors, error codes and instruction lengths. */
function eventInjection(w: Work): void {
  const r = w.rng;
  if (!r.bool(w.level === "min" ? 0 : 0.4)) return;
  const c = w.caps;
  for (let tries = 0; tries < 4; tries++) {
    const type = r.pick([0, 2, 3, 3, 4, 5, 6, 7]);
    let vector: number;
    let deliver = false;
    switch (type) {
      case 0:
        vector = r.bool(0.8) ? r.range(32, 255) : r.int(256);
        break;
      case 2:
        vector = 2;
        break;
      case 3:
        vector = r.bool(0.5) ? r.pick(ERROR_CODE_VECTORS) : r.int(32);
        deliver = ERROR_CODE_VECTORS.includes(vector);
        if (c.anyErrorCode && r.bool(0.2)) deliver = !deliver;
        break;
      case 7:
        vector = 0;
        break;
      default:
        vector = type === 5 ? 1 : type === 6 ? r.pick([3, 4]) : r.int(256);
    }
    const ok = w.attempt(`event:${EVENT_NAMES[type]}`, () => {
      if (type === 7 && !w.ctl("proc", PROC.MTF, true)) return false;
      let info = EVENT.VALID | (type << 8) | vector;
      if (deliver) info |= EVENT.DELIVER_ERROR_CODE;
      if (c.nestedException && type === 3 && r.bool(0.1)) info |= EVENT.NESTED_EXCEPTION;
      w.set(F.VM_ENTRY_INTR_INFO_FIELD!, info >>> 0);
      if (deliver) w.set(F.VM_ENTRY_EXCEPTION_ERROR_CODE!, r.bool(0.3) ? 0 : r.int(0x10000));
      if (type >= 4 && type <= 6) {
        const zero = c.zeroLengthInjection && r.bool(0.1);
        w.set(F.VM_ENTRY_INSTRUCTION_LEN!, zero ? 0 : r.bool(0.2) ? 15 : r.range(1, 15));
      }
      if (type === 0 && (w.lo(F.GUEST_RFLAGS!) & RFLAGS.IF) === 0) w.orBits(F.GUEST_RFLAGS!, RFLAGS.IF);
    });
    if (ok) return;
  }
}

function processorState(w: Work): void {
  if (w.rng.bool(0.3))
    w.attempt("current-vmcs-pointer", () => {
      w.proc.currentVmcsPointer = w.page();
    });
  if (w.rng.bool(0.3))
    w.attempt("vmresume", () => {
      w.proc.instruction = "vmresume";
      w.proc.launchState = "launched";
    });
}

// ---------------------------------------------------------------------------------------------------------

/** Generate one valid state. Deterministic for (profile, seed, options). */
export function generateValid(caps: Caps, seed: number | Rng, opts: GenOptions = {}): Generated {
  const rng = typeof seed === "number" ? new Rng(seed) : seed;
  const saved = rng.clone();
  const g = generateOnce(caps, rng, opts, false);
  // The fast path evaluates only the checks that read the changed fields; if a check reads more than it
  // declares, the final full evaluation catches it and the state is regenerated checking everything.
  return g ?? (generateOnce(caps, saved, opts, true) as Generated);
}

function generateOnce(caps: Caps, rng: Rng, opts: GenOptions, strict: boolean): Generated | undefined {
  const w = new Work(caps, rng, opts.features ?? "random");
  w.strict = strict;
  if (!w.ok()) throw new Error(`the base state of ${caps.name} does not pass the checks`);
  const supported = modesFor(caps);
  const mode = opts.mode ?? rng.pick(supported);
  const why = modeUnsupported(caps, mode);
  if (why) throw new Error(why);

  w.attempt("addresses", () => {
    for (const f of [
      "IO_BITMAP_A",
      "IO_BITMAP_B",
      "MSR_BITMAP",
      "VIRTUAL_APIC_PAGE_ADDR",
      "APIC_ACCESS_ADDR",
      "PML_ADDRESS",
      "EPTP_LIST_ADDRESS",
      "VMREAD_BITMAP",
      "VMWRITE_BITMAP",
      "VE_INFORMATION_ADDRESS",
      "PID_POINTER_TABLE",
      "HLAT_POINTER",
      "SPP_TABLE_POINTER",
    ])
      w.setNum(F[f]!, w.page());
    w.setNum(F.POSTED_INTR_DESC_ADDR!, w.page());
    w.set(F.TSC_MULTIPLIER!, rng.u32() | 1, rng.u32());
    if (w.has("proc2", PROC2.EPT)) w.setNum(F.EPT_POINTER!, eptp(w));
  });
  // The mode must hold (a few random variants of it), else generation fails loudly.
  if (!w.tryN(6, `mode:${mode}`, () => setMode(w, mode)))
    throw new Error(`could not set up mode ${mode} on ${caps.name} (a check rejects the mode template)`);

  const features = [...FEATURES];
  rng.shuffle(features);
  for (const f of features) {
    if (f.name.startsWith("no-") ? !rng.bool(w.level === "random" ? f.p : 0) : !rng.bool(w.p(f.p))) continue;
    w.tryN(2, f.name, () => f.run(w), true);
  }
  miscControlFields(w);
  controlToggles(w);
  controlRegisters(w);
  guestMsrs(w);
  segmentAttributes(w);
  pdptes(w);
  rflags(w);
  activityAndInterruptibility(w);
  eventInjection(w);
  processorState(w);

  if (!w.ok()) {
    if (strict) throw new Error("internal error: generated state does not pass");
    fastPathMisses++;
    return undefined;
  }
  return { entry: w.entry(), mode, aspects: w.aspects };
}

let fastPathMisses = 0;
/** How often the fast path produced an invalid state and generation was redone in strict mode. */
export function strictFallbacks(): number {
  return fastPathMisses;
}

/** A reproducible stream of valid states: state i depends only on (profile, seed, i, options). */
export function* validStream(caps: Caps, seed: number, opts: GenOptions = {}): Generator<Generated> {
  const modes = modesFor(caps);
  for (let i = 0; ; i++) {
    const rng = Rng.derive(seed, i);
    const mode = opts.mode ?? modes[i % modes.length]!;
    yield generateValid(caps, rng, { ...opts, mode });
  }
}
