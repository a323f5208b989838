/**
 * Where Bochs 2.7's VM entry departs from the SDM, as a model: the checks it does not perform (removed from
 * nvmx's registry) and the rules it has that the SDM does not (with the outcome they give). A disagreement
 * between Bochs and nvmx is *explained* when nvmx with these departures predicts what Bochs did. Every entry
 * was seen in probe runs and confirmed in Bochs's source (bochs/cpu/vmx.cc at tag REL_2_7_FINAL; upstream
 * status read at REL_3_0_FINAL and the 2026 HEAD 783b58fd6); docs/deviations.md (Bochs section) lists them with
 * the SDM rule. Letters follow the project's research notes.
 */
import { F } from "../arch/fields.js";
import type { Outcome } from "../checks/types.js";
import type { Entry } from "../entry/document.js";

export interface BochsDeviation {
  id: string;
  /** What Bochs does. */
  summary: string;
  /** The SDM rule (section, checklist item). */
  sdm: string;
  upstream: string;
  /** nvmx checks Bochs does not perform (when `when` holds, default always). */
  missing?: readonly string[];
  when?: (e: Entry) => boolean;
  /** A rule Bochs applies that the SDM does not: when it holds, Bochs fails with `outcome` in `phase`. */
  extra?: { holds: (e: Entry) => boolean; outcome: Outcome; phase: "control" | "host" | "guest" };
  /** Bochs accepts the state and then panics (the machine ends): "entered" is observed as a crash. */
  crashesWhenEntered?: boolean;
}

const v = (e: Entry, name: string) => e.vmcs.get(F[name]!);
const bit = (x: bigint, n: number) => ((x >> BigInt(n)) & 1n) === 1n;
const proc2 = (e: Entry) =>
  bit(v(e, "CPU_BASED_VM_EXEC_CONTROL"), 31) ? v(e, "SECONDARY_VM_EXEC_CONTROL") : 0n;
const unrestricted = (e: Entry) => bit(proc2(e), 7);
const v86 = (e: Entry) => bit(v(e, "GUEST_RFLAGS"), 17);
const csType = (e: Entry) => Number(v(e, "GUEST_CS_AR_BYTES") & 0xfn);
const csDpl = (e: Entry) => Number((v(e, "GUEST_CS_AR_BYTES") >> 5n) & 3n);
const csRpl = (e: Entry) => Number(v(e, "GUEST_CS_SELECTOR") & 3n);
/** The guest has CET (the model's CPUID.7.0:ECX[7] or EDX[20], as nvmx's profile flags say). */
const cetModel = (e: Entry) => e.caps.shstk || e.caps.ibt;

/** MSR-area end as Bochs 2.7 computes it: the count times 16 in 32 bits (vmx.cc, VM-exit/VM-entry control checks). */
function bochsAreaEndBad(e: Entry, addrField: string, countField: string): boolean {
  const count = v(e, countField);
  if (count === 0n) return false;
  const addr = v(e, addrField);
  const last = (addr + ((count * 16n) & 0xffffffffn) - 1n) & 0xffffffffffffffffn;
  return last >> BigInt(e.caps.maxPhysAddr) !== 0n;
}
const wraps = (e: Entry, countField: string) => v(e, countField) * 16n > 0xffffffffn;

export const BOCHS_DEVIATIONS: readonly BochsDeviation[] = [
  {
    id: "A",
    summary:
      "with unrestricted guest = 1, Bochs still requires CS.RPL = CS.DPL for non-conforming code (types 9/11) and CS.RPL ≥ CS.DPL for conforming code (13/15): exit 33",
    sdm: "29.3.1.2 (R17/R18 compare CS.DPL with SS.DPL; the RPL rules R3/R19 apply only without unrestricted guest)",
    upstream: "fixed in Bochs 3.0 (PR #51, 2023)",
    extra: {
      holds: (e) => {
        if (!unrestricted(e) || v86(e)) return false;
        const t = csType(e);
        if (t === 9 || t === 11) return csRpl(e) !== csDpl(e);
        if (t === 13 || t === 15) return csRpl(e) < csDpl(e);
        return false;
      },
      outcome: { type: "vmexit", reason: 33, qualification: 0 },
      phase: "guest",
    },
  },
  {
    id: "J",
    summary:
      "with unrestricted guest = 1, Bochs does not compare CS.DPL with SS.DPL (it checks CS.RPL instead, class A)",
    sdm: "29.3.1.2 R17/R18",
    upstream: "fixed in Bochs 3.0 (PR #51, 2023)",
    missing: ["guest.cs.dpl-eq-ss-dpl", "guest.cs.dpl-le-ss-dpl"],
    when: (e) => unrestricted(e) && !v86(e),
  },
  {
    id: "B",
    summary: "no check that guest RIP fits the linear-address width in a 64-bit guest",
    sdm: "29.3.1.4 P2",
    upstream: "still present in HEAD",
    missing: ["guest.rip.linear-width"],
  },
  {
    id: "C",
    summary: "RFLAGS.VM = 1 is rejected only for IA-32e guests, not when guest CR0.PE = 0",
    sdm: "29.3.1.4 P5",
    upstream: "still present in HEAD",
    missing: ["guest.rflags.vm-without-pe"],
  },
  {
    id: "D",
    summary: "pending debug exceptions: only the reserved bits are checked, no BS rule",
    sdm: "29.3.1.5 T21/T22",
    upstream: "still present in HEAD",
    missing: ["guest.pending-dbg.bs-required", "guest.pending-dbg.bs-forbidden"],
  },
  {
    id: "E",
    summary: "no restriction on the events injected into the HLT activity state",
    sdm: "29.3.1.5 T4",
    upstream: "still present in HEAD",
    missing: ["guest.activity.hlt-event"],
  },
  {
    id: "F",
    summary: "the check of an NMI injected with virtual NMIs and blocking by NMI is commented out",
    sdm: "29.3.1.5 T16",
    upstream: "fixed in HEAD (2025), not in 3.0",
    missing: ["guest.intr.vnmi-nmi-blocking"],
  },
  {
    id: "G",
    summary: "the guest IA32_DEBUGCTL field is never checked",
    sdm: "29.3.1.1 G5",
    upstream: "still present in HEAD",
    missing: ["guest.debugctl.reserved-bits"],
  },
  {
    id: "H",
    summary: 'the guest and host IA32_PERF_GLOBAL_CTRL fields are never checked ("MSR not implemented yet")',
    sdm: "29.3.1.1 G15, 29.2.2 H12",
    upstream: "still present in HEAD",
    missing: ["guest.perf-global-ctrl.reserved-bits", "host.perf-global-ctrl.reserved-bits"],
  },
  {
    id: "I",
    summary: "CPU models with CET skip every deliver-error-code consistency check of event injection",
    sdm: "29.2.1.3 N6/N7",
    upstream: "still present in HEAD",
    missing: [
      "ctl.event.error-code-required",
      "ctl.event.error-code-not-expected",
      "ctl.event.error-code-real-mode",
      "ctl.event.error-code-only-hw-exception",
    ],
    when: cetModel,
  },
  {
    id: "K",
    summary:
      "event type 7 (other event) is accepted without monitor-trap-flag support; Bochs then panics injecting it",
    sdm: "29.2.1.3 N2",
    upstream: "fixed in HEAD (2026), present in 3.0",
    missing: ["ctl.event.other-event-needs-mtf"],
    crashesWhenEntered: true,
  },
  {
    id: "L",
    summary: "MSR-load/store area end computed as address + count × 16 with the product in 32 bits (wraps)",
    sdm: "29.2.1.2 X6/X9, 29.2.1.3 N16",
    upstream: "still present in HEAD",
    missing: [
      "ctl.exit.msr-store-area-end-width",
      "ctl.exit.msr-load-area-end-width",
      "ctl.entry.msr-load-area-end-width",
    ],
    when: (e) =>
      wraps(e, "VM_EXIT_MSR_STORE_COUNT") ||
      wraps(e, "VM_EXIT_MSR_LOAD_COUNT") ||
      wraps(e, "VM_ENTRY_MSR_LOAD_COUNT"),
    extra: {
      holds: (e) =>
        bochsAreaEndBad(e, "VM_EXIT_MSR_STORE_ADDR", "VM_EXIT_MSR_STORE_COUNT") ||
        bochsAreaEndBad(e, "VM_EXIT_MSR_LOAD_ADDR", "VM_EXIT_MSR_LOAD_COUNT") ||
        bochsAreaEndBad(e, "VM_ENTRY_MSR_LOAD_ADDR", "VM_ENTRY_MSR_LOAD_COUNT"),
      outcome: { type: "vmfail-valid", error: 7 },
      phase: "control",
    },
  },
  {
    id: "N",
    summary:
      'host CR4.CET = 1 with CR0.WP = 0 is rejected only when the "load CET state" VM-exit control is 1',
    sdm: "29.2.2 (host CR4.CET requires CR0.WP, unconditionally)",
    upstream: "still present in HEAD",
    missing: ["host.cr4.cet-requires-cr0-wp"],
    when: (e) => !bit(v(e, "VM_EXIT_CONTROLS"), 28),
  },
  {
    id: "O",
    summary:
      'no check that guest CR0.PG = 1 with "IA-32e mode guest" (Bochs relies on IA32_VMX_CR0_FIXED0, which exempts PG under unrestricted guest)',
    sdm: "29.3.1.1 (IA-32e mode guest requires CR0.PG = 1)",
    upstream: "still present in HEAD",
    missing: ["guest.cr0.pg-in-ia32e"],
  },
  {
    id: "M",
    summary: "VMLAUNCH/VMRESUME do not check whether the current VMCS is a shadow VMCS",
    sdm: "29.1 B5 (VMfailInvalid)",
    upstream: "still present in HEAD",
    missing: ["basic.current-vmcs-not-shadow"],
  },
];

export function deviationById(id: string): BochsDeviation | undefined {
  return BOCHS_DEVIATIONS.find((d) => d.id === id);
}
