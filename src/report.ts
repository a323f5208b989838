/** Reports for people (`nvmx check` without --json). */

import { type ControlWord, controlBitNames } from "./arch/controls.js";
import { ENTRY_FAILURE_QUALIFICATION, EXIT_REASONS, VM_INSTRUCTION_ERRORS } from "./arch/exits.js";
import { fieldByName } from "./arch/fields.js";
import { describeAr } from "./arch/registers.js";
import type { Outcome } from "./checks/types.js";
import type { Entry } from "./entry/document.js";
import type { EntryResult, Possible } from "./entry/evaluate.js";
import { hex64 } from "./util/u64.js";

export function describeOutcome(o: Outcome): string {
  switch (o.type) {
    case "entered":
      return "VM entry succeeds";
    case "vmfail-invalid":
      return "VM entry fails: VMfailInvalid (CF=1, no VM-instruction error)";
    case "vmfail-valid":
      return `VM entry fails: VMfailValid, VM-instruction error ${o.error} (${VM_INSTRUCTION_ERRORS[o.error] ?? "unknown"})`;
    case "vmexit": {
      const q =
        o.reason === 34
          ? `qualification ${o.qualification}: MSR-load entry ${o.qualification}`
          : `qualification ${o.qualification}${ENTRY_FAILURE_QUALIFICATION[o.qualification] ? ` (${ENTRY_FAILURE_QUALIFICATION[o.qualification]})` : ""}`;
      return `VM entry fails: VM exit ${o.reason}, ${EXIT_REASONS[o.reason] ?? "unknown reason"}, ${q}`;
    }
    case "fault":
      return `the instruction raises ${o.exception} (no VM entry is attempted)`;
  }
}

const CONTROL_WORDS: Readonly<Record<string, ControlWord>> = {
  PIN_BASED_VM_EXEC_CONTROL: "pin",
  CPU_BASED_VM_EXEC_CONTROL: "proc",
  SECONDARY_VM_EXEC_CONTROL: "proc2",
  TERTIARY_VM_EXEC_CONTROL: "proc3",
  VM_EXIT_CONTROLS: "exit",
  SECONDARY_VM_EXIT_CONTROLS: "exit2",
  VM_ENTRY_CONTROLS: "entry",
};

/** A field's value decoded for people (access rights spelled out). */
export function describeField(e: Entry, name: string): string {
  const f = fieldByName(name);
  if (!f) return name;
  const lo = e.vmcs.lo(f.index);
  const hi = e.vmcs.hi(f.index);
  if (name.endsWith("_AR_BYTES")) return `${name} = ${describeAr(lo)}`;
  const word = CONTROL_WORDS[name];
  if (word) {
    const names = controlBitNames(word, lo);
    return `${name} = ${hex64(lo, hi)}${names.length ? ` (${names.join(", ")})` : ""}`;
  }
  return `${name} = ${hex64(lo, hi)}`;
}

/**
 * The outcome line of a result: the definite outcome, qualified when a possible finding could change it
 * (a result never says "succeeds" plainly while something may make it fail).
 */
export function describeResultOutcome(r: EntryResult): string {
  const base = describeOutcome(r.outcome);
  const n = r.possible?.length ?? 0;
  if (n === 0) return base;
  return `${base}, unless ${n === 1 ? "the possible finding below holds" : `one of the ${n} possible findings below holds`}`;
}

/** One line per possible finding, for people. */
export function describePossible(p: Possible): string {
  const rules = p.violations.length ? ` (${p.violations.map((v) => v.id).join(", ")})` : "";
  return `${describeOutcome(p.outcome)}${rules}, ${p.condition} [${p.why}]`;
}

export function humanReport(file: string, e: Entry, r: EntryResult, index?: number): string {
  const lines: string[] = [];
  lines.push(
    `${file}${index !== undefined ? ` #${index}` : ""} (cpu ${e.caps.name}): ${describeResultOutcome(r)}`,
  );
  for (const p of r.possible ?? []) lines.push(`  possible: ${describePossible(p)}`);
  if (r.violations.length === 0) lines.push("  no check fails");
  else lines.push(`  ${r.violations.length} violation${r.violations.length === 1 ? "" : "s"}:`);
  for (const v of r.violations) {
    lines.push(`  - ${v.id} (SDM ${v.sdm}): ${v.message}`);
    for (const f of v.fields) lines.push(`      ${describeField(e, f)}`);
  }
  for (const w of r.warnings ?? []) lines.push(`  warning: ${w.id} (SDM ${w.sdm}): ${w.message}`);
  return lines.join("\n");
}
