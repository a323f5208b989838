/**
 * From what a log shows to an entry the checker can run. Fields the log does not carry take the values of
 * nvmx's valid base state for the CPU (src/gen/base.ts), so they cannot cause a violation; they are listed
 * as unknown. Where a value is needed to make the known ones meaningful (the VMCS link pointer, an EPT
 * pointer, the MSR-load area's address, the virtual TPR, QEMU's control fields) the choice is stated as an
 * assumption. Nothing is guessed silently.
 */
import { ENTRY, EXIT, PROC, PROC2 } from "../arch/controls.js";
import { FIELDS, fieldByName } from "../arch/fields.js";
import { CHECKS } from "../checks/registry.js";
import type { Caps, ProfileData } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import { DEFAULT_PROCESSOR } from "../entry/processor.js";
import { contextOf } from "../entry/run.js";
import { baseVmcs } from "../gen/base.js";
import { Memory } from "../vmcs/memory.js";
import type { Assumption, MsrEntry, ParsedDump } from "./types.js";

export interface Converted {
  entry: Entry;
  /** Fields VM entry reads that the log does not carry (KVM names, in VMCS field order). */
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

/**
 * Fields VM entry reads for this entry: those of every check that applies to it (its `when` holds), so a
 * field whose feature is off (FRED state without "load FRED", say) is not reported as unknown.
 */
function fieldsChecksRead(e: Entry): Set<string> {
  const out = new Set<string>(["VMCS_LINK_POINTER"]);
  const ctx = contextOf(e);
  for (const c of CHECKS) {
    let applies = true;
    try {
      applies = c.when === undefined || c.when(ctx);
    } catch {
      applies = true;
    }
    if (applies) for (const f of c.fields) out.add(f);
  }
  return out;
}

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

function writeList(mem: Memory, addr: number, entries: MsrEntry[], count: number): number {
  let filled = 0;
  const byIndex = new Map(entries.map((e) => [e.index, e]));
  for (let i = 0; i < count; i++) {
    const e = byIndex.get(i);
    if (!e) filled++;
    mem.write64(addr + 16 * i, BigInt(e ? e.msr >>> 0 : FILLER_MSR));
    mem.write64(addr + 16 * i + 8, e ? e.value : 0n);
  }
  return filled;
}

/** Build the entry for a parsed dump on a CPU. `cpu` is what a converted document names (name or inline profile). */
export function dumpToEntry(d: ParsedDump, caps: Caps, cpu?: string | ProfileData): Converted {
  const vmcs = baseVmcs(caps);
  const memory = new Memory();
  const processor = { ...DEFAULT_PROCESSOR, ...d.processor };
  const assumptions: Assumption[] = [...d.assumptions];
  const known = new Set<string>();
  for (const [name, v] of d.values) {
    const f = fieldByName(name);
    if (!f || f.type === "read-only") continue;
    vmcs.set(f.index, v);
    known.add(f.name);
  }
  const get = (n: string) => vmcs.getByName(n);
  const set = (n: string, v: bigint | number) => vmcs.setByName(n, BigInt(v));

  // Control fields: a format without them (QEMU, a partial dump) gets the least strict KVM-like setting.
  if (!CONTROL_WORDS.some((w) => known.has(w))) {
    const efer = get("GUEST_IA32_EFER");
    const lma = (efer & (1n << 10n)) !== 0n;
    const c = caps.ctl;
    set("PIN_BASED_VM_EXEC_CONTROL", legal(0x16, c.pin));
    set("CPU_BASED_VM_EXEC_CONTROL", legal(0x0401e172 | PROC.SECONDARY, c.proc));
    set("SECONDARY_VM_EXEC_CONTROL", legal(PROC2.EPT | PROC2.UNRESTRICTED_GUEST, c.proc2));
    set("VM_EXIT_CONTROLS", legal(0x36dff | EXIT.HOST_ADDR_SPACE_SIZE, c.exit));
    set("VM_ENTRY_CONTROLS", legal(0x11ff | (lma ? ENTRY.IA32E_GUEST : 0), c.entry));
    for (const n of ["EXCEPTION_BITMAP", "TPR_THRESHOLD", "VIRTUAL_PROCESSOR_ID"]) set(n, 0);
    assumptions.push({
      text: `the log has no control fields: assumed the least strict KVM-like controls — pin-based and primary controls at their default-1 settings plus "activate secondary controls", secondary "enable EPT" and "unrestricted guest", VM-exit "host address-space size", VM-entry "IA-32e mode guest" = EFER.LMA (${lma ? 1 : 0}) and no "load IA32_EFER"`,
    });
  } else {
    for (const w of CONTROL_WORDS)
      if (!known.has(w))
        assumptions.push({
          field: w,
          text: `${w} is not in the log: taken from nvmx's valid base state (${`0x${get(w).toString(16)}`})`,
        });
  }
  const proc = Number(get("CPU_BASED_VM_EXEC_CONTROL"));
  const proc2 = proc & PROC.SECONDARY ? Number(get("SECONDARY_VM_EXEC_CONTROL")) : 0;
  const exit = Number(get("VM_EXIT_CONTROLS"));

  if (d.noHostState || !["HOST_CR0", "HOST_RIP", "HOST_CS_SELECTOR"].some((n) => known.has(n)))
    assumptions.push({
      text: "the log has no host state: the host-state fields are nvmx's valid 64-bit base host",
    });
  if (known.has("VM_EXIT_CONTROLS")) {
    processor.ia32e = (exit & EXIT.HOST_ADDR_SPACE_SIZE) !== 0;
    assumptions.push({
      text: `the processor executing VMLAUNCH/VMRESUME is taken to be ${processor.ia32e ? "in" : "outside"} IA-32e mode, as "host address-space size" = ${processor.ia32e ? 1 : 0} says`,
    });
  }
  if (!known.has("VMCS_LINK_POINTER")) {
    set("VMCS_LINK_POINTER", 0xffffffffffffffffn);
    assumptions.push({
      field: "VMCS_LINK_POINTER",
      text: "VMCS_LINK_POINTER is not in the log: taken as 0xffffffffffffffff (no shadow VMCS), as KVM and Xen set it",
    });
  }
  if (proc2 & PROC2.EPT && !known.has("EPT_POINTER")) {
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
  const listsShown = d.format === "kvm-dump" && !d.layout.startsWith("Linux 4.x");
  for (const [countF, addrF, what, entries, complete, defAddr] of lists) {
    if (entries?.length) {
      const max = entries.reduce((m, e) => Math.max(m, e.index), 0) + 1;
      const count = complete ? Math.max(entries.length, max) : max;
      if (!known.has(addrF)) {
        set(addrF, defAddr);
        assumptions.push({
          field: addrF,
          text: `the log shows the ${what} entries but not their address: placed at 0x${defAddr.toString(16)}`,
        });
      }
      if (!known.has(countF)) {
        set(countF, count);
        if (!complete)
          assumptions.push({
            field: countF,
            text: `the log shows ${what} entry ${max} only: count taken as ${count}`,
          });
        known.add(countF);
      }
      const filled = writeList(memory, Number(get(addrF)), entries, Math.min(Number(get(countF)), 4096));
      if (filled)
        assumptions.push({
          text: `${filled} ${what} entr${filled === 1 ? "y" : "ies"} the log does not show: filled with a harmless load of IA32_SYSENTER_CS (0x174) = 0`,
        });
      known.add(addrF);
    } else if (known.has(countF) && get(countF) > 0n) {
      const n = Math.min(Number(get(countF)), 512);
      const filled = writeList(memory, Number(get(addrF)), [], n);
      assumptions.push({
        text: `the ${n} ${what} entr${filled === 1 ? "y is" : "ies are"} in memory the input does not include: filled with harmless loads of IA32_SYSENTER_CS (0x174) = 0`,
      });
    } else if (listsShown && !known.has(countF)) {
      // Linux 5.3+ prints each list exactly when its count is nonzero
      set(countF, 0);
      known.add(countF);
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
  const reads = fieldsChecksRead(entry);
  const unknownFields = FIELDS.filter(
    (f) => f.type !== "read-only" && reads.has(f.name) && !known.has(f.name),
  ).map((f) => f.name);
  return { entry, unknownFields, assumptions };
}

/** Apply another reading of the log (an Alternative's field values) to a copy of an entry. */
export function withValues(e: Entry, values: Record<string, bigint>): Entry {
  const vmcs = e.vmcs.clone();
  for (const [n, v] of Object.entries(values)) vmcs.setByName(n, v);
  return { ...e, vmcs };
}
