/** What a log says the CPU reported, decoded (SDM 25.9.1 exit reasons, 31.4 VM-instruction errors). */
import { EXIT_REASONS, VM_INSTRUCTION_ERRORS } from "../arch/exits.js";
import type { Reported } from "./types.js";

/**
 * Decode KVM's `hardware_entry_failure_reason` as QEMU prints it ("KVM: entry failed, hardware error 0x…"):
 * with bit 31 it is the exit reason of a VM exit that failed VM entry (0x80000021 = reason 33, invalid
 * guest state); a small number is the VM-instruction error of a VMfailValid (KVM passes
 * VM_INSTRUCTION_ERROR after a failed VMLAUNCH/VMRESUME); 0xffffffff is AMD SVM's VMEXIT_INVALID, not VMX.
 */
export function decodeHardwareError(raw: number, source: string, line: number): Reported {
  const r = raw >>> 0;
  if (r === 0xffffffff)
    return {
      type: "non-vmx",
      raw: r,
      description:
        "0xffffffff is AMD SVM's VMEXIT_INVALID (VMRUN with invalid guest state), not an Intel VMX code",
      source,
      line,
    };
  if (r & 0x80000000) return { type: "vmexit", raw: r, reason: r & 0xffff, entryFailure: true, source, line };
  if (VM_INSTRUCTION_ERRORS[r] !== undefined) return { type: "vmfail-valid", raw: r, error: r, source, line };
  return {
    type: "non-vmx",
    raw: r,
    description: `0x${r.toString(16)} is neither a VM-entry-failure exit reason (bit 31 clear) nor a known VM-instruction error`,
    source,
    line,
  };
}

/** One sentence for people. */
export function describeReported(r: Reported): string {
  const hex = `0x${r.raw.toString(16)}`;
  switch (r.type) {
    case "vmexit": {
      const name = EXIT_REASONS[r.reason] ?? "unknown exit reason";
      const q = r.qualification !== undefined ? `, exit qualification ${r.qualification}` : "";
      if (r.entryFailure)
        return `exit reason ${hex} = VM-entry failure (bit 31) with basic exit reason ${r.reason} (${name})${q}`;
      return `exit reason ${hex} = an ordinary VM exit, basic reason ${r.reason} (${name}); bit 31 is clear, so the VM entry before it succeeded`;
    }
    case "vmfail-valid":
      return `${hex} = VM-instruction error ${r.error} (${VM_INSTRUCTION_ERRORS[r.error]}): VMLAUNCH/VMRESUME failed with VMfailValid`;
    case "non-vmx":
      return r.description;
  }
}
