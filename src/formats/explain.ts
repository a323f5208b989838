/**
 * Explaining a parsed log: run the checker on it (and on the readings the log cannot rule out), compare
 * nvmx's outcome with what the log says the CPU reported, and list what the log cannot tell.
 */
import type { Outcome } from "../checks/types.js";
import { builtinNames } from "../cpu/builtin.js";
import { PERMISSIVE_PROFILE, permissiveProfile, STRICTER_VARIANTS } from "../cpu/permissive.js";
import { type Caps, decodeProfile, type ProfileData } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import { type EntryResult, sameOutcome, type Violation } from "../entry/evaluate.js";
import { runEntry } from "../entry/run.js";
import { describeOutcome } from "../report.js";
import { dumpToEntry, withValues } from "./entry.js";
import { describeReported } from "./reported.js";
import type { ParsedDump, Reported } from "./types.js";

export interface Possible {
  /** "if …" */
  condition: string;
  violations: Violation[];
}

export interface Explanation {
  dump: ParsedDump;
  entry: Entry;
  result: EntryResult;
  cpuAssumed: boolean;
  unknownFields: string[];
  assumptions: string[];
  possible: Possible[];
  agrees: boolean | null;
  agreement: string;
}

/** The CPU to name in a converted document: a built-in's name, otherwise the profile inline. */
export function cpuSpecOf(caps: Caps): string | ProfileData {
  return builtinNames().includes(caps.name) ? caps.name : caps.data;
}

export function compare(
  d: ParsedDump,
  r: EntryResult,
  unknown: string[],
): { agrees: boolean | null; text: string } {
  const rep: Reported | undefined = d.reported;
  const outcomes = [r.outcome, ...(r.possibleOutcomes ?? [])];
  const unknownNote = unknown.length
    ? ` — the cause may be in what the log does not show (${unknown.length} field${unknown.length === 1 ? "" : "s"} VM entry reads${d.noControls ? ", every control field" : ""}) or in a rule nvmx does not check`
    : " — the cause is in a rule nvmx does not check, or the dump does not match the state the CPU saw";
  if (!rep)
    return {
      agrees: null,
      text: "the log does not show what the CPU reported, so there is nothing to compare",
    };
  if (rep.type === "non-vmx") return { agrees: null, text: `not comparable: ${rep.description}` };
  if (rep.type === "vmfail-valid") {
    if ((rep.error === 7 && d.noControls) || (rep.error === 8 && d.noHostState))
      return {
        agrees: null,
        text: `not comparable: the CPU reported VM-instruction error ${rep.error} (invalid ${rep.error === 7 ? "control" : "host-state"} fields), and this log has no ${rep.error === 7 ? "control" : "host-state"} fields; nvmx assumed values that pass`,
      };
    const want: Outcome = { type: "vmfail-valid", error: rep.error };
    if (outcomes.some((o) => sameOutcome(o, want)))
      return { agrees: true, text: `agrees: nvmx also finds VMfailValid with error ${rep.error}` };
    return {
      agrees: false,
      text: `disagrees: the CPU reported VM-instruction error ${rep.error}, nvmx finds "${describeOutcome(r.outcome)}"${unknownNote}`,
    };
  }
  if (!rep.entryFailure) {
    if (r.outcome.type === "entered")
      return {
        agrees: true,
        text: "agrees: the log shows an ordinary VM exit, so the entry before it succeeded, and nvmx finds no violation",
      };
    return {
      agrees: false,
      text: `disagrees: the log shows an ordinary VM exit (the entry succeeded), but nvmx finds "${describeOutcome(r.outcome)}" — a check may be too strict for this CPU, or the state changed after the entry`,
    };
  }
  const match = outcomes.find(
    (o) =>
      o.type === "vmexit" &&
      o.reason === rep.reason &&
      (rep.qualification === undefined || o.qualification === rep.qualification),
  );
  if (match)
    return {
      agrees: true,
      text: `agrees: nvmx also finds a VM exit with reason ${rep.reason}${rep.qualification !== undefined ? ` and qualification ${rep.qualification}` : ""}`,
    };
  const failing =
    rep.reason === 34 && rep.qualification
      ? d.entryMsrLoad?.entries.find((e) => e.index === rep.qualification! - 1)
      : undefined;
  const msrNote = failing
    ? `; the failing MSR-load entry ${rep.qualification} loads MSR 0x${failing.msr.toString(16)} with 0x${failing.value.toString(16)}, which nvmx cannot judge (it models WRMSR validity only for the MSRs whose valid values it knows, not model-specific ones)`
    : "";
  if (r.outcome.type === "entered")
    return {
      agrees: false,
      text: `disagrees: the CPU reported exit reason ${rep.reason}, but nvmx finds no violation in the fields the log shows${msrNote || unknownNote}`,
    };
  return {
    agrees: false,
    text: `disagrees: the CPU reported exit reason ${rep.reason}${rep.qualification !== undefined ? ` (qualification ${rep.qualification})` : ""}, nvmx finds "${describeOutcome(r.outcome)}"${unknownNote}`,
  };
}

function extra(base: EntryResult, other: EntryResult): Violation[] {
  const have = new Set(base.violations.map((v) => v.id));
  return other.violations.filter((v) => !have.has(v.id));
}

/** Explain one dump. Without `cpu`, the permissive profile is assumed and stricter CPUs are tried as well. */
export function explainDump(d: ParsedDump, cpu?: Caps): Explanation {
  const caps = cpu ?? permissiveProfile();
  const conv = dumpToEntry(d, caps, cpu ? cpuSpecOf(cpu) : PERMISSIVE_PROFILE);
  const result = runEntry(conv.entry);
  const possible: Possible[] = [];
  for (const alt of d.alternatives) {
    const v = extra(result, runEntry(withValues(conv.entry, alt.vmcs)));
    if (v.length) possible.push({ condition: alt.description, violations: v });
  }
  if (!cpu)
    for (const variant of STRICTER_VARIANTS) {
      const c = decodeProfile(variant.data, "variant");
      const v = extra(result, runEntry({ ...conv.entry, caps: c }));
      if (v.length) possible.push({ condition: variant.description, violations: v });
    }
  const cmp = compare(d, result, conv.unknownFields);
  return {
    dump: d,
    entry: conv.entry,
    result,
    cpuAssumed: !cpu,
    unknownFields: conv.unknownFields,
    assumptions: conv.assumptions.map((a) => a.text),
    possible,
    agrees: cmp.agrees,
    agreement: cmp.text,
  };
}

export const FORMAT_NAMES: Record<ParsedDump["format"], string> = {
  "kvm-dump": "Linux KVM dump_vmcs",
  "xen-dump": "Xen VMCS dump",
  "qemu-regs": 'QEMU "KVM: entry failed" register dump',
  "nested-state": "KVM_GET_NESTED_STATE vmcs12",
};

/** The `--json` line: the result document plus what the log says and what it cannot tell. */
export function explanationJson(file: string, x: Explanation): Record<string, unknown> {
  const rep = x.dump.reported;
  return {
    ...x.result,
    file,
    line: x.dump.line,
    format: x.dump.format,
    layout: x.dump.layout,
    cpu: x.entry.caps.name,
    cpuAssumed: x.cpuAssumed,
    unknownFields: x.unknownFields,
    reported: rep ? { ...rep, description: describeReported(rep) } : null,
    agrees: x.agrees,
    agreement: x.agreement,
    possible: x.possible,
    assumptions: x.assumptions,
    notes: x.dump.notes,
  };
}
