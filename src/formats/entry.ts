/**
 * From what a log shows to an entry the checker can run, and what is known about it. Fields the log does not
 * carry start from nvmx's valid base state for the CPU (src/gen/base.ts); they are unknown (free variables:
 * explain.ts lets the repair engine complete them). Where a format implies a value (QEMU's controls are
 * KVM's; a list's address is somewhere), the choice is an assumption, stated; nothing is guessed silently.
 *
 * `Knowledge` says what the log fixes: fields (whole or some bits), memory bytes (MSR-list entries it shows),
 * processor-state keys (a nested-state blob's launch state), and "readings" — fields whose value is one of
 * the readings the log allows (QEMU's "II=1"): kept as they are, but a finding resting on one is possible.
 */
import { ENTRY, EXIT, PROC, PROC2 } from "../arch/controls.js";
import { F, FIELDS, fieldByName } from "../arch/fields.js";
import type { Caps, ProfileData } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import { DEFAULT_PROCESSOR } from "../entry/processor.js";
import { contextOf } from "../entry/run.js";
import { traceAll } from "../entry/trace.js";
import { baseVmcs } from "../gen/base.js";
import { Memory } from "../vmcs/memory.js";
import type { Assumption, MsrEntry, ParsedDump } from "./types.js";

export interface Knowledge {
  /** field index → masks [bits 31:0, bits 63:32] of the bits the log shows */
  fields: Map<number, readonly [number, number]>;
  /** fields holding one reading of what the log shows: kept, but not known */
  readings: Set<number>;
  /** memory bytes the log shows */
  memory: Set<number>;
  /** processor-state keys the log shows */
  processor: Set<string>;
  /**
   * Bits set by an assumption that follows from what the log shows and how the hypervisor behaves (KVM sets
   * "IA-32e mode guest" = EFER.LMA and loads EFER through the VMCS): field index → masks [31:0, 63:32].
   */
  likely: Map<number, readonly [number, number]>;
}

/** A dump as an entry: the entry, and which fields the log lacked and were completed. */
export interface Converted {
  /** The state before completion: the log's values over nvmx's base state, with the assumptions. */
  entry: Entry;
  knowledge: Knowledge;
  /** Fields VM entry reads on this state that the log does not show (KVM names, in VMCS field order). */
  unknownFields: string[];
  assumptions: Assumption[];
}

/** Where nvmx places MSR lists whose address the log does not show. */
export const ASSUMED_ADDR = {
  entryMsrLoad: 0x20000,
  exitMsrLoad: 0x21000,
  exitMsrStore: 0x22000,
} as const;

/** A harmless MSR-load entry for list positions the log does not show: IA32_SYSENTER_CS (0x174) = 0. */
const FILLER_MSR = 0x174;

const ALL: readonly [number, number] = [0xffffffff, 0xffffffff];

function legal(want: number, a: { must1: number; may1: number }): number {
  return ((want & a.may1) | a.must1) >>> 0;
}

const CONTROL_WORDS = [
  "PIN_BASED_VM_EXEC_CONTROL",
  "CPU_BASED_VM_EXEC_CONTROL",
  "SECONDARY_VM_EXEC_CONTROL",
  "VM_EXIT_CONTROLS",
  "VM_ENTRY_CONTROLS",
];

const EFER_LMA = 1n << 10n;

function writeList(
  mem: Memory,
  addr: number,
  entries: MsrEntry[],
  count: number,
  known: Set<number>,
): number {
  let filled = 0;
  const byIndex = new Map(entries.map((e) => [e.index, e]));
  for (let i = 0; i < count; i++) {
    const e = byIndex.get(i);
    if (!e) filled++;
    mem.write64(addr + 16 * i, BigInt(e ? e.msr >>> 0 : FILLER_MSR));
    mem.write64(addr + 16 * i + 8, e ? e.value : 0n);
    if (e) for (let b = 0; b < 16; b++) known.add(addr + 16 * i + b);
  }
  return filled;
}

/** Is every bit of a field known? */
export function fullyKnown(k: Knowledge, index: number): boolean {
  const m = k.fields.get(index);
  return m !== undefined && m[0] === 0xffffffff && m[1] === 0xffffffff;
}

/** Build the entry for a parsed dump on a CPU. `cpu` is what a converted document names (name or inline profile). */
export function dumpToEntry(d: ParsedDump, caps: Caps, cpu?: string | ProfileData): Converted {
  const vmcs = baseVmcs(caps);
  const memory = new Memory();
  const processor = { ...DEFAULT_PROCESSOR, ...d.processor };
  const assumptions: Assumption[] = [...d.assumptions];
  const knowledge: Knowledge = {
    fields: new Map(),
    readings: new Set(),
    memory: new Set(),
    processor: new Set(Object.keys(d.processor)),
    likely: new Map(),
  };
  const known = (n: string) => {
    const f = fieldByName(n);
    return f !== undefined && fullyKnown(knowledge, f.index);
  };
  for (const [name, v] of d.values) {
    const f = fieldByName(name);
    if (!f || f.type === "read-only") continue;
    const m = d.masks.get(f.name);
    if (m !== undefined) {
      // only the shown bits: the others keep the base state's value
      const old = vmcs.get(f.index);
      vmcs.set(f.index, (old & ~m) | (v & m));
      knowledge.fields.set(f.index, [Number(m & 0xffffffffn) >>> 0, Number((m >> 32n) & 0xffffffffn) >>> 0]);
    } else {
      vmcs.set(f.index, v);
      knowledge.fields.set(f.index, ALL);
    }
  }
  for (const a of d.assumptions)
    if (a.reading && a.field) {
      const f = fieldByName(a.field);
      if (f) {
        knowledge.fields.delete(f.index);
        knowledge.readings.add(f.index);
      }
    }
  const get = (n: string) => vmcs.getByName(n);
  const set = (n: string, v: bigint | number) => vmcs.setByName(n, BigInt(v));

  // Control fields: a format without them (QEMU, a partial dump) gets the controls a KVM host uses.
  if (!CONTROL_WORDS.some((w) => known(w))) {
    const eferKnown = known("GUEST_IA32_EFER");
    const efer = get("GUEST_IA32_EFER");
    const lma = eferKnown && (efer & EFER_LMA) !== 0n;
    const c = caps.ctl;
    set("PIN_BASED_VM_EXEC_CONTROL", legal(0x16, c.pin));
    set("CPU_BASED_VM_EXEC_CONTROL", legal(0x0401e172 | PROC.SECONDARY, c.proc));
    set("SECONDARY_VM_EXEC_CONTROL", legal(PROC2.EPT | PROC2.UNRESTRICTED_GUEST, c.proc2));
    set("VM_EXIT_CONTROLS", legal(0x36dff | EXIT.HOST_ADDR_SPACE_SIZE, c.exit));
    set(
      "VM_ENTRY_CONTROLS",
      legal(0x11ff | (lma ? ENTRY.IA32E_GUEST : 0) | (eferKnown ? ENTRY.LOAD_EFER : 0), c.entry),
    );
    for (const n of ["EXCEPTION_BITMAP", "TPR_THRESHOLD", "VIRTUAL_PROCESSOR_ID"]) set(n, 0);
    // KVM and Xen keep the default-1 entry and exit controls set (load/save debug controls, ...), and KVM
    // sets "IA-32e mode guest" from EFER.LMA and loads EFER through the VMCS
    knowledge.likely.set(F.VM_ENTRY_CONTROLS!, [
      (0x11ff | (eferKnown ? ENTRY.IA32E_GUEST | ENTRY.LOAD_EFER : 0)) >>> 0,
      0,
    ]);
    knowledge.likely.set(F.VM_EXIT_CONTROLS!, [0x36dff, 0]);
    // and the execution controls assumed above: default-1 settings, secondary controls with EPT and
    // unrestricted guest (KVM's defaults where the CPU has them)
    knowledge.likely.set(F.PIN_BASED_VM_EXEC_CONTROL!, [0x16, 0]);
    knowledge.likely.set(F.CPU_BASED_VM_EXEC_CONTROL!, [(0x0401e172 | PROC.SECONDARY) >>> 0, 0]);
    knowledge.likely.set(F.SECONDARY_VM_EXEC_CONTROL!, [PROC2.EPT | PROC2.UNRESTRICTED_GUEST, 0]);
    assumptions.push({
      text: `the log has no control fields: assumed the controls a KVM host uses — pin-based and primary controls at their default-1 settings plus "activate secondary controls", secondary "enable EPT" and "unrestricted guest", VM-exit "host address-space size"${eferKnown ? `, VM-entry "IA-32e mode guest" = EFER.LMA (${lma ? 1 : 0}) as KVM sets it, and "load IA32_EFER" (KVM loads the guest EFER through the VMCS whenever it differs from the host's)` : ""}`,
    });
    // KVM loads the guest EFER through the VMCS whenever it differs from the host's (update_transition_efer,
    // arch/x86/kvm/vmx/vmx.c v4.x–v6.x); a value with reserved bits differs from any host's, so the bit is known.
    const reserved = (Number(efer & 0xffffffffn) & ~caps.eferValidLo) !== 0 || efer >> 32n !== 0n;
    if (eferKnown && reserved && d.format === "qemu-regs") {
      const f = F.VM_ENTRY_CONTROLS!;
      knowledge.fields.set(f, [ENTRY.LOAD_EFER, 0]);
      vmcs.setHalves(f, (vmcs.lo(f) | ENTRY.LOAD_EFER) >>> 0, 0);
      d.notes.push(
        'the guest EFER has reserved bits set, so it differs from any host\'s EFER and KVM loads it through the VMCS ("load IA32_EFER" = 1; on a CPU without that control KVM uses the VM-entry MSR-load list and the entry fails with exit reason 34 instead)',
      );
    }
  } else {
    for (const w of CONTROL_WORDS)
      if (!known(w))
        assumptions.push({
          field: w,
          text: `${w} is not in the log: nvmx completes it`,
        });
  }
  const proc = Number(get("CPU_BASED_VM_EXEC_CONTROL"));
  const proc2 = proc & PROC.SECONDARY ? Number(get("SECONDARY_VM_EXEC_CONTROL")) : 0;
  const exit = Number(get("VM_EXIT_CONTROLS"));

  if (d.noHostState || !["HOST_CR0", "HOST_RIP", "HOST_CS_SELECTOR"].some((n) => known(n)))
    assumptions.push({
      text: "the log has no host state: the host-state fields are nvmx's completion (a valid 64-bit host)",
    });
  if (known("VM_EXIT_CONTROLS")) {
    processor.ia32e = (exit & EXIT.HOST_ADDR_SPACE_SIZE) !== 0;
    assumptions.push({
      text: `the processor executing VMLAUNCH/VMRESUME is taken to be ${processor.ia32e ? "in" : "outside"} IA-32e mode, as "host address-space size" = ${processor.ia32e ? 1 : 0} says`,
    });
  }
  if (!known("VMCS_LINK_POINTER")) {
    set("VMCS_LINK_POINTER", 0xffffffffffffffffn);
    assumptions.push({
      field: "VMCS_LINK_POINTER",
      text: "VMCS_LINK_POINTER is not in the log: taken as 0xffffffffffffffff (no shadow VMCS), as KVM and Xen set it",
    });
  }
  if (proc2 & PROC2.EPT && !known("EPT_POINTER")) {
    if ((get("EPT_POINTER") & 0x38n) === 0n) set("EPT_POINTER", 0x1401e);
    assumptions.push({
      field: "EPT_POINTER",
      text: `EPT is on but the log has no EPT pointer: taken as 0x${get("EPT_POINTER").toString(16)} (write-back, 4-level walk)`,
    });
  }

  // MSR lists
  const lists: [string, string, string, MsrEntry[] | undefined, boolean, number][] = [
    [
      "VM_ENTRY_MSR_LOAD_COUNT",
      "VM_ENTRY_MSR_LOAD_ADDR",
      "VM-entry MSR-load",
      d.entryMsrLoad?.entries,
      d.entryMsrLoad?.complete ?? true,
      ASSUMED_ADDR.entryMsrLoad,
    ],
    [
      "VM_EXIT_MSR_LOAD_COUNT",
      "VM_EXIT_MSR_LOAD_ADDR",
      "VM-exit MSR-load",
      d.exitMsrLoad,
      true,
      ASSUMED_ADDR.exitMsrLoad,
    ],
    [
      "VM_EXIT_MSR_STORE_COUNT",
      "VM_EXIT_MSR_STORE_ADDR",
      "VM-exit MSR-store",
      d.exitMsrStore,
      true,
      ASSUMED_ADDR.exitMsrStore,
    ],
  ];
  for (const [countF, addrF, what, entries, complete, defAddr] of lists) {
    const unread = countF === "VM_ENTRY_MSR_LOAD_COUNT" ? (d.entryMsrLoad?.unread ?? []) : [];
    if (entries?.length || unread.length) {
      const max = Math.max(0, ...(entries ?? []).map((e) => e.index + 1), ...unread.map((i) => i + 1));
      const count = complete ? Math.max(entries?.length ?? 0, max) : max;
      if (!known(addrF)) {
        set(addrF, defAddr);
        // the entries are known wherever the list is: its address stands for the real one (kept, and known)
        knowledge.fields.set(F[addrF]!, ALL);
        assumptions.push({
          field: addrF,
          text: `the log shows the ${what} entries but not their address: placed at 0x${defAddr.toString(16)}`,
        });
      }
      if (!known(countF)) {
        set(countF, count);
        if (complete) knowledge.fields.set(F[countF]!, ALL);
        else {
          knowledge.readings.add(F[countF]!);
          assumptions.push({
            field: countF,
            reading: true,
            text: `the log shows ${what} entry ${max} only: count taken as ${count}`,
          });
        }
      }
      const filled = writeList(
        memory,
        Number(get(addrF)),
        entries ?? [],
        Math.min(Number(get(countF)), 4096),
        knowledge.memory,
      );
      if (filled)
        assumptions.push({
          text: `${filled} ${what} entr${filled === 1 ? "y" : "ies"} the log does not show: filled with a harmless load of IA32_SYSENTER_CS (0x174) = 0`,
        });
    } else if (known(countF) && get(countF) > 0n) {
      const n = Math.min(Number(get(countF)), 512);
      const filled = writeList(memory, Number(get(addrF)), [], n, knowledge.memory);
      assumptions.push({
        text: `the ${n} ${what} entr${filled === 1 ? "y is" : "ies are"} in memory the input does not include: filled with harmless loads of IA32_SYSENTER_CS (0x174) = 0`,
      });
    }
  }

  // The virtual TPR lives in the virtual-APIC page, which no log shows.
  if (proc & PROC.TPR_SHADOW && get("TPR_THRESHOLD") & 0xfn) {
    memory.write8(Number(get("VIRTUAL_APIC_PAGE_ADDR")) + 0x80, 0xf0);
    assumptions.push({
      text: "the virtual TPR (byte 0x80 of the virtual-APIC page) is not in the log: taken as 0xf0 so the TPR-threshold check cannot fail on it",
    });
  }

  const entry: Entry = { caps, processor, vmcs, memory, ...(cpu !== undefined ? { cpu } : {}) };
  return { entry, knowledge, unknownFields: unknownRead(entry, knowledge), assumptions };
}

/** Fields the checks read on this state that the log does not show entirely (VMCS field order). */
export function unknownRead(e: Entry, k: Knowledge): string[] {
  const read = new Set<number>();
  for (const t of traceAll(contextOf(e))) for (const f of t.reads.fields) read.add(f);
  return FIELDS.filter((f) => f.type !== "read-only" && read.has(f.index) && !fullyKnown(k, f.index)).map(
    (f) => f.name,
  );
}

/** Apply another reading of the log (an Alternative's field values) to a copy of an entry. */
export function withValues(e: Entry, values: Record<string, bigint>): Entry {
  const vmcs = e.vmcs.clone();
  for (const [n, v] of Object.entries(values)) vmcs.setByName(n, v);
  return { ...e, vmcs };
}
