/** What the log parsers produce: the VMCS values a log shows, what it says happened, and what it cannot tell. */
import type { ProcessorState } from "../entry/processor.js";

/** The log formats nvmx reads dumps from. */
export type DumpFormat = "kvm-dump" | "xen-dump" | "qemu-regs" | "nested-state";
/** Every input format: a dump format, an entry document (`nvmx-json`) or vmxcap output. */
export type InputFormat = DumpFormat | "nvmx-json" | "vmxcap";

/**
 * What the log says the CPU reported for the VM entry.
 * - `vmexit`: an exit reason; `entryFailure` when bit 31 is set (SDM 25.9.1), otherwise an ordinary exit
 *   (so the entry before it succeeded);
 * - `vmfail-valid`: a VM-instruction error number (KVM passes it as "hardware error N" after VMfailValid);
 * - `non-vmx`: a code that is no VMX exit reason or error (e.g. AMD SVM's VMEXIT_INVALID, 0xffffffff).
 */
export type Reported =
  | {
      type: "vmexit";
      raw: number;
      reason: number;
      entryFailure: boolean;
      qualification?: number;
      source: string;
      line: number;
    }
  | { type: "vmfail-valid"; raw: number; error: number; source: string; line: number }
  | { type: "non-vmx"; raw: number; description: string; source: string; line: number };

/** One entry of an MSR list as a log shows it (SDM 25.7.2 / 25.8.2 layout: index, reserved, value). */
export interface MsrEntry {
  /** 0-based position in the list */
  index: number;
  msr: number;
  value: bigint;
}

/**
 * A value chosen because the log does not carry it exactly. `reading`: one of the readings of what the log
 * shows (QEMU's "II=1" read as blocking by MOV SS): kept as it is, but a finding that rests on it is only
 * possible. Otherwise nvmx's own choice for a field the log lacks, which the completion may change.
 */
export interface Assumption {
  field?: string;
  text: string;
  reading?: boolean;
}

/** Another reading of the log that the log cannot rule out; the explainer runs it and lists what else fails. */
export interface Alternative {
  description: string;
  vmcs: Record<string, bigint>;
}

/** One VMCS dump of a log: the values it shows (KVM field names), the bits it shows of partly shown fields, its MSR lists. */
export interface ParsedDump {
  format: DumpFormat;
  /** Which layout of the format (e.g. "Linux 4.x", "Linux 5.17+"). */
  layout: string;
  /** 1-based line of the file where the dump starts (0 for binary input). */
  line: number;
  /** Field (KVM name) → value, exactly as the log shows it; read-only exit-information fields included. */
  values: Map<string, bigint>;
  /** Fields of which the log shows only some bits: field → mask of the bits it shows (others unknown). */
  masks: Map<string, bigint>;
  /** The VM-entry MSR-load list (KVM "MSR guest autoload", Xen's failing entry); `complete` when the whole list is shown. */
  entryMsrLoad?: { entries: MsrEntry[]; complete: boolean; unread?: number[] };
  /** VM-exit MSR-load (KVM "MSR host autoload") and MSR-store ("MSR guest autostore") lists. */
  exitMsrLoad?: MsrEntry[];
  exitMsrStore?: MsrEntry[];
  /** Processor state the log reveals (e.g. launch state of a vmcs12). */
  processor: Partial<ProcessorState>;
  reported?: Reported;
  /** Facts worth telling the reader (effective EFER, SMM, what the format cannot show...). */
  notes: string[];
  /**
   * What could not be read: skipped, damaged, cut or missing lines, values with too few digits, conflicting
   * values. The fields involved are unknown; a report shows these next to its outcome.
   */
  warnings: string[];
  /** Values derived from other values rather than read (e.g. QEMU's entry controls from EFER.LMA). */
  assumptions: Assumption[];
  alternatives: Alternative[];
  /** True when the format carries no VM-execution/exit/entry control fields at all (QEMU). */
  noControls?: boolean;
  /** True when the format carries no host-state fields (QEMU, partial dumps). */
  noHostState?: boolean;
}

export function newDump(format: DumpFormat, layout: string, line: number): ParsedDump {
  return {
    format,
    layout,
    line,
    values: new Map(),
    masks: new Map(),
    processor: {},
    notes: [],
    warnings: [],
    assumptions: [],
    alternatives: [],
  };
}
