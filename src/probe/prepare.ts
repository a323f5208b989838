/**
 * What the probe must change in a state before it can run it, applied explicitly so that nvmx predicts on the
 * exact document the CPU saw (issue 13):
 *
 * - **processor**: the probe executes VMLAUNCH/VMRESUME at CPL 0 in 64-bit mode, in VMX root operation, outside
 *   SMM, without MOV-SS blocking. A state that needs anything else is skipped (counted, with the reason). The
 *   VMCS and VMXON pointers become the probe's own.
 * - **host state**: the probe's own (its CR0/CR3/CR4, GDT, IDT, TSS, stack, exit handler, PAT, EFER), except the
 *   host fields named by the state's own violations, which keep their values so that VMfail 8 stays testable.
 * - **relocation**: the structures VM entry (or the VM exit that stops the guest) touches in memory — the
 *   VM-entry MSR-load area, the VM-exit MSR-store and MSR-load areas, the virtual-APIC page, the VMCS the link
 *   pointer names, the PDPTEs at guest CR3 — move into the probe's relocation window, keeping their page offset
 *   and contents. The VM-exit areas get benign entries (store IA32_TIME_STAMP_COUNTER, load the probe's PAT).
 * - **stop**: an entered guest is stopped by the VMX-preemption timer with value 0 (SDM 26.5.1: a VM exit before
 *   the first guest instruction). It does not fire in wait-for-SIPI (SDM 26.5.1), where the runner's watchdog
 *   ends the run ("entered (did not stop)").
 * - **memory** the state defines outside those structures cannot be placed (it would overwrite the probe or lie
 *   outside its RAM) and is dropped.
 *
 * Relocation and the stop mechanism are applied only when they remove none of the state's violations; the host
 * state and the processor state are not optional. Refused VMWRITEs (fields the CPU does not have) are applied
 * after the run (`applyRefusals`). `removed` lists intended violations the final document no longer has.
 */
import { F, FIELDS, type FieldDef } from "../arch/fields.js";
import type { Entry } from "../entry/document.js";
import { DEFAULT_PROCESSOR, type ProcessorState } from "../entry/processor.js";
import { runEntry } from "../entry/run.js";
import { cloneEntry } from "../gen/violate.js";
import { RF } from "./blob.js";
import type { ProbeHost } from "./core.js";

export type ChangeKind = "processor" | "host" | "relocate" | "stop" | "memory" | "refused" | "dodge";

export interface Change {
  kind: ChangeKind;
  /** VMCS field, processor key or memory address. */
  what: string;
  before: string;
  after: string;
  note?: string;
}

export interface PreparedState {
  /** Position in the input (0-based): the record index and the log's state number. */
  n: number;
  /** Where the state came from ("file:line"). */
  where: string;
  comment?: string;
  original: Entry;
  final: Entry;
  changes: Change[];
  /** Check ids the state is meant to violate (its "violates ID" comment, else its own violations). */
  intended: string[];
  /** Intended violations the changes removed (the final document no longer has them). */
  removed: string[];
  /** Changes not applied because they would remove a violation, with the ids. */
  notApplied: { change: string; ids: string[] }[];
  flags: number;
  /** Host fields kept from the state (its violations name them); the others are the probe's. */
  keptHost: string[];
  /** Ranges the probe zeroes after the state: [address, length]. */
  clear: [number, number][];
  /** Why the probe cannot run this state. */
  skip?: string;
  /** Structures VM entry reads that stay where the state put them (moving them would remove a violation). */
  unplaced: { address: bigint; kind: StructureKind }[];
}

/** What VM entry reads at a structure's address (nvmx's memory model): see `unbackedWords`. */
export type StructureKind = "msr-load" | "exit-msr" | "virtual-apic" | "link" | "pdpte";

const hex = (v: bigint | number) => `0x${v.toString(16)}`;
const HOST_FIELDS: readonly FieldDef[] = FIELDS.filter((f) => f.type === "host");

/** The probe's value for every host-state field (`ia32e`: the 64-bit host mode, else the 32-bit one). */
export function probeHostValues(h: ProbeHost, ia32e = true): Map<string, bigint> {
  const m = new Map<string, bigint>();
  for (const f of HOST_FIELDS) m.set(f.name, 0n);
  const set = (k: string, v: bigint | number) => m.set(k, BigInt(v));
  set("HOST_CR0", h.cr0);
  set("HOST_CR3", h.cr3);
  set("HOST_CR4", h.cr4);
  set("HOST_ES_SELECTOR", h.es);
  set("HOST_CS_SELECTOR", h.cs);
  set("HOST_SS_SELECTOR", h.ss);
  set("HOST_DS_SELECTOR", h.ds);
  set("HOST_FS_SELECTOR", h.fs);
  set("HOST_GS_SELECTOR", h.gs);
  set("HOST_TR_SELECTOR", h.tr);
  set("HOST_TR_BASE", h.trBase);
  set("HOST_GDTR_BASE", h.gdtrBase);
  set("HOST_IDTR_BASE", h.idtrBase);
  set("HOST_RSP", h.rsp);
  set("HOST_RIP", h.rip);
  set("HOST_IA32_PAT", h.pat);
  set("HOST_IA32_EFER", h.efer);
  if (!ia32e) {
    set("HOST_CR3", h.cr3Host32);
    set("HOST_CS_SELECTOR", h.csHost32);
    set("HOST_RIP", h.ripHost32);
    set("HOST_IA32_EFER", 0);
  }
  return m;
}

/** Slots of the relocation window (offsets from its base); each keeps the structure's page offset. */
const SLOT = {
  entryMsrLoad: 0x00000,
  exitMsrStore: 0x40000,
  exitMsrLoad: 0x80000,
  virtualApic: 0xc0000,
  link: 0xc1000,
  pdpte: 0xc2000,
} as const;
const MSR_SLOT_SIZE = 0x40000;

const IA32_TIME_STAMP_COUNTER = 0x10n;
const IA32_PAT = 0x277n;

interface Structure {
  name: string;
  structure: StructureKind;
  slot: number;
  /** Address field. */
  field: string;
  /** Bytes at the address VM entry or the VM exit uses; undefined when not used. */
  size(e: Entry): number | undefined;
  /** Address the structure starts at (default: the field's value). */
  address?(e: Entry): bigint;
  /** New field value for a new address (default: the address). */
  fieldValue?(e: Entry, newAddr: bigint): bigint;
  /** Memory the probe places when the state defines none (the VM-exit MSR areas). */
  fill?(n: number, h: ProbeHost): bigint[];
}

const get = (e: Entry, name: string) => e.vmcs.get(F[name]!);
const setF = (e: Entry, name: string, v: bigint) => e.vmcs.set(F[name]!, v);

function msrArea(
  name: string,
  slot: number,
  addr: string,
  count: string,
  structure: StructureKind,
  maxOf?: (e: Entry) => number,
) {
  return {
    name,
    structure,
    slot,
    field: addr,
    size(e: Entry) {
      const n = Number(get(e, count));
      const used = maxOf ? Math.min(n, maxOf(e)) : n;
      return used > 0 ? used * 16 : undefined;
    },
  };
}

function pagingPae(e: Entry): boolean {
  const cr0 = get(e, "GUEST_CR0");
  const cr4 = get(e, "GUEST_CR4");
  const entry = get(e, "VM_ENTRY_CONTROLS");
  const proc = get(e, "CPU_BASED_VM_EXEC_CONTROL");
  const ept = (proc & (1n << 31n)) !== 0n && (get(e, "SECONDARY_VM_EXEC_CONTROL") & 2n) !== 0n;
  return (cr0 & (1n << 31n)) !== 0n && (cr4 & 0x20n) !== 0n && (entry & (1n << 9n)) === 0n && !ept;
}

const STRUCTURES: readonly Structure[] = [
  msrArea(
    "VM-entry MSR-load area",
    SLOT.entryMsrLoad,
    "VM_ENTRY_MSR_LOAD_ADDR",
    "VM_ENTRY_MSR_LOAD_COUNT",
    "msr-load",
    (e) => e.caps.maxMsrList,
  ),
  {
    ...msrArea(
      "VM-exit MSR-store area",
      SLOT.exitMsrStore,
      "VM_EXIT_MSR_STORE_ADDR",
      "VM_EXIT_MSR_STORE_COUNT",
      "exit-msr",
    ),
    fill: (n) => Array.from({ length: n }, (_, i) => (i % 2 === 0 ? IA32_TIME_STAMP_COUNTER : 0n)),
  },
  {
    ...msrArea(
      "VM-exit MSR-load area",
      SLOT.exitMsrLoad,
      "VM_EXIT_MSR_LOAD_ADDR",
      "VM_EXIT_MSR_LOAD_COUNT",
      "exit-msr",
    ),
    fill: (n, h) => Array.from({ length: n }, (_, i) => (i % 2 === 0 ? IA32_PAT : h.pat)),
  },
  {
    name: "virtual-APIC page",
    structure: "virtual-apic",
    slot: SLOT.virtualApic,
    field: "VIRTUAL_APIC_PAGE_ADDR",
    size: (e) => ((get(e, "CPU_BASED_VM_EXEC_CONTROL") & (1n << 21n)) !== 0n ? 0x1000 : undefined),
  },
  {
    name: "VMCS at the link pointer",
    structure: "link",
    slot: SLOT.link,
    field: "VMCS_LINK_POINTER",
    size: (e) => (get(e, "VMCS_LINK_POINTER") !== 0xffffffffffffffffn ? 0x1000 : undefined),
  },
  {
    name: "PDPTEs at guest CR3",
    structure: "pdpte",
    slot: SLOT.pdpte,
    field: "GUEST_CR3",
    size: (e) => (pagingPae(e) ? 32 : undefined),
    address: (e) => get(e, "GUEST_CR3") & ~0x1fn,
    fieldValue: (e, a) => a | (get(e, "GUEST_CR3") & 0x1fn),
  },
];

/** Processor state the probe has: what it cannot set gives the skip reason. */
function processorPlan(
  p: ProcessorState,
  e: Entry,
): { skip?: string; flags: number; changes: Change[]; processor?: ProcessorState } {
  const cannot: [keyof ProcessorState, unknown][] = [
    ["cpl", 0],
    ["vmxRoot", true],
    ["inSmm", false],
    ["blockingByMovSs", false],
    ["dualMonitorActive", false],
  ];
  for (const [k, want] of cannot)
    if ((p[k] ?? DEFAULT_PROCESSOR[k]) !== want)
      return {
        skip: `processor.${k} = ${JSON.stringify(p[k])}: the probe runs VMLAUNCH/VMRESUME with ${k} = ${JSON.stringify(want)} only`,
        flags: 0,
        changes: [],
      };
  let flags = 0;
  if (!p.ia32e) flags |= RF.host32;
  if (p.instruction === "vmresume") flags |= RF.resume;
  if (p.launchState === "launched") flags |= RF.launched;
  if (!p.currentVmcsValid) flags |= RF.noCurrent;
  if (p.currentVmcsShadow) {
    if ((e.caps.ctl.proc2.may1 & (1 << 14)) === 0)
      return {
        skip: "processor.currentVmcsShadow = true: the CPU has no VMCS shadowing, so the probe cannot load a shadow VMCS",
        flags: 0,
        changes: [],
      };
    flags |= RF.shadow;
  }
  return { flags, changes: [] };
}

function idsOf(e: Entry): Set<string> {
  return new Set(runEntry(e).violations.map((v) => v.id));
}

export interface PrepareOptions {
  /**
   * Known departures of the CPU (Bochs deviation letters) to step around when that changes no violation of the
   * state: "A" gives a non-conforming (conforming) CS under unrestricted guest an RPL equal to (not below) its
   * DPL, so that Bochs 2.7's extra CS.RPL rule does not mask what the state is about.
   */
  dodge?: readonly string[];
}

/** Prepare one state. `host` is the probe's own state (core header). */
export function prepareState(
  original: Entry,
  n: number,
  where: string,
  host: ProbeHost,
  comment?: string,
  opts: PrepareOptions = {},
): PreparedState {
  const origIds = idsOf(original);
  const m = comment ? /violates ([\w.-]+)/.exec(comment) : null;
  const intended = m ? [m[1]!] : [...origIds];
  const base: PreparedState = {
    n,
    where,
    ...(comment ? { comment } : {}),
    original,
    final: original,
    changes: [],
    intended,
    removed: [],
    notApplied: [],
    keptHost: [],
    flags: 0,
    clear: [],
    unplaced: [],
  };
  const plan = processorPlan(original.processor, original);
  if (plan.skip) return { ...base, skip: plan.skip };
  const e = cloneEntry(original);
  const changes: Change[] = [];
  const notApplied: PreparedState["notApplied"] = [];

  // a launched VMCS for the 32-bit host mode is written with 32-bit VMWRITEs: natural-width fields keep bits 31:0
  if ((plan.flags & RF.host32) !== 0 && (plan.flags & RF.launched) !== 0)
    for (const f of FIELDS) {
      if (f.width !== "natural" || f.type === "read-only") continue;
      const v = e.vmcs.get(f.index);
      if (v >> 32n === 0n) continue;
      e.vmcs.set(f.index, v & 0xffffffffn);
      changes.push({
        kind: "processor",
        what: f.name,
        before: hex(v),
        after: hex(v & 0xffffffffn),
        note: "launched VMCS of the 32-bit host mode: VMWRITE outside 64-bit mode sets bits 31:0 of a natural-width field",
      });
    }

  // processor: the probe's VMCS and VMXON region
  const p = e.processor;
  const origVmcsPtr = p.currentVmcsPointer;
  for (const [k, v] of [
    ["currentVmcsPointer", Number(host.vmcs)],
    ["vmxonPointer", Number(host.vmxon)],
  ] as const) {
    if (p[k] !== v)
      changes.push({ kind: "processor", what: k, before: String(p[k] ?? "unset"), after: hex(v) });
    p[k] = v;
  }

  // host state: the probe's, except the fields the state's violations name
  const named = new Set(runEntry(e).violations.flatMap((v) => v.fields));
  const hostValues = probeHostValues(host, original.processor.ia32e);
  for (const f of HOST_FIELDS) {
    if (named.has(f.name)) continue;
    const v = hostValues.get(f.name)!;
    const old = e.vmcs.get(f.index);
    if (old !== v) {
      changes.push({ kind: "host", what: f.name, before: hex(old), after: hex(v) });
      e.vmcs.set(f.index, v);
    }
  }

  // optional changes: kept only when every violation the state still has survives
  let cur = e;
  const tryChange = (label: string, mutate: (c: Entry) => Change[]): boolean => {
    const c = cloneEntry(cur);
    const made = mutate(c);
    if (made.length === 0) return true;
    const before = idsOf(cur);
    const after = idsOf(c);
    const lost = [...before].filter((id) => origIds.has(id) && !after.has(id));
    if (lost.length) {
      notApplied.push({ change: label, ids: lost });
      return false;
    }
    cur = c;
    changes.push(...made);
    return true;
  };

  const inWindow = (a: number) => a >= host.windowBase && a + 8 <= host.windowBase + host.windowSize;

  // relocation
  const clear: [number, number][] = [];
  const unplaced: [bigint, StructureKind][] = [];
  const consumed = new Set<number>();
  const win = BigInt(host.windowBase);
  for (const s of STRUCTURES) {
    const size = s.size(cur);
    if (size === undefined) continue;
    const addr = s.address ? s.address(cur) : get(cur, s.field);
    const isLinkToVmcs =
      s.field === "VMCS_LINK_POINTER" && origVmcsPtr !== undefined && addr === BigInt(origVmcsPtr);
    const offset = addr & 0xfffn;
    if (!isLinkToVmcs && Number(offset) + size > (s.slot >= SLOT.virtualApic ? 0x1000 : MSR_SLOT_SIZE)) {
      unplaced.push([addr, s.structure]);
      continue;
    }
    const target = isLinkToVmcs ? host.vmcs : win + BigInt(s.slot) + offset;
    const words: [number, bigint][] = [];
    const src = Number(addr & ~7n);
    for (let a = src; a < Number(addr) + size; a += 8) words.push([a, original.memory.read64(a)]);
    const ok = tryChange(`relocate the ${s.name}`, (c) => {
      const value = s.fieldValue ? s.fieldValue(c, target) : target;
      if (value === get(c, s.field) && target === addr) return [];
      setF(c, s.field, value);
      if (isLinkToVmcs) {
        // the probe's VMCS starts with the revision identifier (and the shadow-VMCS indicator when shadow)
        const rev = BigInt(c.caps.revision) | (c.processor.currentVmcsShadow ? 0x80000000n : 0n);
        c.memory.write64(Number(host.vmcs), rev);
        return [
          {
            kind: "relocate",
            what: s.field,
            before: hex(addr),
            after: hex(target),
            note: "the current VMCS is the probe's (its first dword: the revision identifier)",
          },
        ];
      }
      const dst = Number(target & ~7n);
      const anyDefined = words.some(([, w]) => w !== 0n);
      const fill =
        !anyDefined && s.fill
          ? s.fill(Number(get(c, s.field.replace("_ADDR", "_COUNT"))) * 2, host)
          : undefined;
      for (const [a] of words) if (!inWindow(a)) c.memory.write64(a, 0n);
      words.forEach(([, w], i) => {
        c.memory.write64(dst + 8 * i, fill ? (fill[i] ?? 0n) : w);
      });
      return [
        {
          kind: "relocate",
          what: s.field,
          before: hex(get(cur, s.field)),
          after: hex(value),
          note: fill ? `${s.name}: benign entries placed by the probe` : s.name,
        },
      ];
    });
    if (!ok) unplaced.push([addr, s.structure]);
    if (ok && !isLinkToVmcs) {
      for (const [a] of words) consumed.add(a);
      clear.push([Number(target & ~7n), Math.ceil((Number(offset & 7n) + size) / 8) * 8]);
    }
  }

  // dodges of known CPU departures (opt-in)
  if (opts.dodge?.includes("A")) {
    const ug =
      (get(cur, "CPU_BASED_VM_EXEC_CONTROL") & (1n << 31n)) !== 0n &&
      (get(cur, "SECONDARY_VM_EXEC_CONTROL") & 0x80n) !== 0n;
    const ar = get(cur, "GUEST_CS_AR_BYTES");
    const sel = get(cur, "GUEST_CS_SELECTOR");
    const type = Number(ar & 0xfn);
    const dpl = (ar >> 5n) & 3n;
    const rpl = sel & 3n;
    const vm = (get(cur, "GUEST_RFLAGS") & (1n << 17n)) !== 0n;
    if (
      ug &&
      !vm &&
      (((type === 9 || type === 11) && rpl !== dpl) || ((type === 13 || type === 15) && rpl < dpl))
    )
      tryChange("the CS selector RPL (dodging Bochs deviation A)", (c) => {
        setF(c, "GUEST_CS_SELECTOR", (sel & ~3n) | dpl);
        return [
          {
            kind: "dodge",
            what: "GUEST_CS_SELECTOR",
            before: hex(sel),
            after: hex((sel & ~3n) | dpl),
            note: "CS.RPL = CS.DPL, valid either way under unrestricted guest; Bochs 2.7 would fail it (deviation A)",
          },
        ];
      });
  }

  // stop: VMX-preemption timer with value 0
  if ((e.caps.ctl.pin.may1 & 0x40) !== 0) {
    tryChange("the VMX-preemption timer (stop mechanism)", (c) => {
      const pin = get(c, "PIN_BASED_VM_EXEC_CONTROL");
      const timer = get(c, "VMX_PREEMPTION_TIMER_VALUE");
      const made: Change[] = [];
      if ((pin & 0x40n) === 0n) {
        setF(c, "PIN_BASED_VM_EXEC_CONTROL", pin | 0x40n);
        made.push({
          kind: "stop",
          what: "PIN_BASED_VM_EXEC_CONTROL",
          before: hex(pin),
          after: hex(pin | 0x40n),
          note: "activate VMX-preemption timer",
        });
      }
      if (timer !== 0n) {
        setF(c, "VMX_PREEMPTION_TIMER_VALUE", 0n);
        made.push({ kind: "stop", what: "VMX_PREEMPTION_TIMER_VALUE", before: hex(timer), after: "0x0" });
      }
      return made;
    });
  }

  // memory outside what was relocated cannot be placed
  for (const [a, w] of cur.memory.entries64()) {
    if (inWindow(a) || a === Number(host.vmcs)) continue;
    if (!consumed.has(a))
      changes.push({
        kind: "memory",
        what: hex(a),
        before: hex(w),
        after: "not placed",
        note: "outside the probe's relocation window",
      });
    cur.memory.write64(a, 0n);
  }

  const finalIds = idsOf(cur);
  // a guest that would wait for a SIPI is stopped by one from the probe's helper processor
  const sipi = get(cur, "GUEST_ACTIVITY_STATE") === 3n ? RF.sipi : 0;
  return {
    ...base,
    final: cur,
    keptHost: HOST_FIELDS.filter((f) => named.has(f.name)).map((f) => f.name),
    changes,
    removed: intended.filter((id) => !finalIds.has(id)),
    notApplied,
    flags: plan.flags | sipi,
    clear,
    unplaced: unplaced.map(([a, k]) => ({ address: a, kind: k })),
  };
}

/** The values of FIELD_TABLE fields of a prepared state, for the blob. */
export function recordValues(e: Entry, table: readonly FieldDef[]): bigint[] {
  return table.map((f) => e.vmcs.get(f.index));
}

/** Memory words of the final document the probe writes (those inside its relocation window). */
export function recordMemory(e: Entry, host: ProbeHost): [number, bigint][] {
  return e.memory
    .entries64()
    .filter(([a]) => a >= host.windowBase && a + 8 <= host.windowBase + host.windowSize);
}

/**
 * Memory of a machine at addresses it has no RAM or device for: on PC platforms (Bochs's memory model too) such
 * reads return all ones. For a structure left where the state put it, beyond `ramTop`, the words VM entry reads
 * are all ones in the final document (what the CPU saw). Returns the changes made.
 */
export function applyUnbacked(s: PreparedState, ramTop: number): Change[] {
  const made: Change[] = [];
  const e = s.final;
  for (const u of s.unplaced) {
    if (u.address < BigInt(ramTop) || u.address >= 1n << 52n) continue;
    const at = Number(u.address);
    let words: number[] = [];
    if (u.kind === "msr-load") {
      const n = Math.min(Number(get(e, "VM_ENTRY_MSR_LOAD_COUNT")), e.caps.maxMsrList);
      words = Array.from({ length: 2 * n }, (_, i) => at + 8 * i);
    } else if (u.kind === "virtual-apic") words = [at + 0x80];
    else if (u.kind === "link") words = [at];
    else if (u.kind === "pdpte") words = [0, 1, 2, 3].map((i) => Number(u.address & ~0x1fn) + 8 * i);
    for (const a of words) e.memory.write64(a - (a % 8), 0xffffffffffffffffn);
    if (words.length)
      made.push({
        kind: "memory",
        what: hex(u.address),
        before: "not placed",
        after: "all ones",
        note: `no RAM at this address (the machine has ${ramTop >> 20} MiB): reads return all ones`,
      });
  }
  if (made.length) {
    s.changes.push(...made);
    const ids = idsOf(s.final);
    s.removed = s.intended.filter((id) => !ids.has(id));
  }
  return made;
}

/** `W` error code of the probe's 32-bit host mode: only bits 31:0 of a natural-width field were written. */
export const TRUNCATED = 0xfffffffe;

/**
 * After the run: fields the CPU refused (VMWRITE failed; the probe wrote nothing) read as 0 in the final
 * document. Returns the changes made.
 */
export function applyRefusals(s: PreparedState, refused: ReadonlyMap<number, number>): Change[] {
  const made: Change[] = [];
  for (const f of FIELDS) {
    if (!refused.has(f.encoding)) continue;
    const v = s.final.vmcs.get(f.index);
    if (v === 0n) continue;
    const err = refused.get(f.encoding)!;
    // 32-bit host mode with a launched VMCS: VMWRITE outside 64-bit mode sets bits 31:0 of a natural-width field
    const truncated = err === TRUNCATED;
    const after = truncated ? v & 0xffffffffn : 0n;
    s.final.vmcs.set(f.index, after);
    made.push({
      kind: "refused",
      what: f.name,
      before: hex(v),
      after: hex(after),
      note: truncated
        ? "bits 63:32 of a natural-width field cannot be written outside 64-bit mode (launched VMCS, 32-bit host)"
        : err === 0
          ? "the CPU has no such field (VMWRITE fails)"
          : err === 0xffffffff
            ? "VMWRITE failed (VMfailInvalid)"
            : `VMWRITE failed with VM-instruction error ${err}`,
    });
  }
  if (made.length) {
    s.changes.push(...made);
    const ids = idsOf(s.final);
    s.removed = s.intended.filter((id) => !ids.has(id));
  }
  return made;
}
