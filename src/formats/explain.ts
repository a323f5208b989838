/**
 * Explaining a parsed log (docs/architecture.md §1, docs/formats.md "What is unknown"): a field the log
 * lacks is a free variable. The state is completed by the repair engine (src/gen/repair.ts), which changes
 * only what the log does not show and so respects what the known fields imply (CR0.PG = 0 ⇒ no IA-32e
 * guest, RFLAGS.VM = 1 ⇒ virtual-8086 segments …); it can demote a finding, never invent one. Then every
 * check runs in a reading context (src/entry/trace.ts):
 * - a failing check that read only known fields (gates included) is a definite violation;
 * - a failing check that read something the log lacks is a possible finding (`unknown-field`), with the
 *   bits it depends on found by flipping them one at a time ("if VM_ENTRY_CONTROLS has IA-32e mode guest");
 * - a check that the format's likely reading fails (QEMU's controls as KVM sets them) and the completion
 *   avoids is a possible finding too, with that reading as its condition;
 * - other readings of the log (QEMU's II=1 as STI) and, without --cpu, stricter CPUs than the permissive
 *   profile (`cpu-fact`) add possible findings.
 * The outcome is what the definite findings decide; `possibleOutcomes` lists every other outcome a possible
 * finding leads to. Then nvmx's result is compared with what the log says the CPU reported.
 */
import { CONTROL_BITS, type ControlWord } from "../arch/controls.js";
import { FIELDS } from "../arch/fields.js";
import { CHECKS } from "../checks/registry.js";
import type { Check, Outcome } from "../checks/types.js";
import { builtinNames } from "../cpu/builtin.js";
import { PERMISSIVE_PROFILE, permissiveProfile, STRICTER_VARIANTS } from "../cpu/permissive.js";
import { type Caps, decodeProfile, type ProfileData } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import {
  decide,
  type EntryResult,
  evaluate,
  failingChecks,
  type Possible,
  sameOutcome,
  type Violation,
} from "../entry/evaluate.js";
import { contextOf } from "../entry/run.js";
import { ReadingContext, type Reads, traceAll } from "../entry/trace.js";
import { type Change, repair } from "../gen/repair.js";
import { describeResultOutcome } from "../report.js";
import { RESULT_FORMAT, VERSION } from "../version.js";
import { FORMAT_NAMES as INPUT_FORMAT_NAMES } from "./detect.js";
import { dumpToEntry, fullyKnown, type Knowledge, unknownRead } from "./entry.js";
import { describeReported } from "./reported.js";
import type { DumpFormat, ParsedDump, Reported } from "./types.js";

/** What {@link explainDump} says of a dump: the completed state, its result, the unknown fields, and the log's report compared. */
export interface Explanation {
  dump: ParsedDump;
  /** The completed state the result is about (the log's values, the rest chosen by the repair engine). */
  entry: Entry;
  /** Definite violations, and possible findings with why and on what they depend. */
  result: EntryResult;
  cpuAssumed: boolean;
  /** Fields VM entry reads that the log does not show (KVM names, VMCS order). */
  unknownFields: string[];
  assumptions: string[];
  /** What the completion changed in nvmx's starting values to fit the log ({target, from, to}). */
  completed: Change[];
  agrees: boolean | null;
  agreement: string;
}

/** The CPU to name in a converted document: a built-in's name, otherwise the profile inline. */
export function cpuSpecOf(caps: Caps): string | ProfileData {
  return builtinNames().includes(caps.name) ? caps.name : caps.data;
}

/**
 * The outcome in one line for people: describeResultOutcome, and for an entry that succeeds on a log that
 * lacks fields, that it succeeds with nvmx's completion of them (chosen to pass), not on the log alone.
 */
export function describeExplainedOutcome(x: Explanation): string {
  const r = x.result;
  const n = x.unknownFields.length;
  if (r.outcome.type !== "entered" || n === 0 || r.possible?.length) return describeResultOutcome(r);
  return `${describeResultOutcome(r)} with the ${n} field${n === 1 ? "" : "s"} VM entry reads that the log does not show completed to pass`;
}

export function compare(
  d: ParsedDump,
  r: EntryResult,
  unknown: string[],
): { agrees: boolean | null; text: string } {
  const rep: Reported | undefined = d.reported;
  // causes searched for because they give the reported outcome do not make nvmx agree: they are listed
  const own = (r.possible ?? []).filter((p) => !PROBED.has(p));
  const causes = (r.possible ?? []).filter((p) => PROBED.has(p));
  const outcomes = [r.outcome, ...own.map((p) => p.outcome)];
  const said = describeResultOutcome(r);
  const causeNote = causes.length
    ? `; what the log does not show could give it: ${causes.map((p) => `${p.violations.map((v) => v.id).join(", ")} ${p.condition.replace(CAUSE_SUFFIX, "")}`).join("; ")}`
    : "";
  const unknownNote = unknown.length
    ? ` — the cause may be in what the log does not show (${unknown.length} field${unknown.length === 1 ? "" : "s"} VM entry reads${d.noControls ? ", every control field" : ""}) or in a rule nvmx does not check${causeNote}`
    : " — the cause is in a rule nvmx does not check, or the dump does not match the state the CPU saw";
  if (!rep)
    return {
      agrees: null,
      text: "the log does not show what the CPU reported, so there is nothing to compare",
    };
  if (rep.type === "non-vmx") return { agrees: null, text: `not comparable: ${rep.description}` };
  const only = (o: Outcome) =>
    sameOutcome(o, r.outcome)
      ? ""
      : ` if ${own
          .filter((p) => sameOutcome(p.outcome, o))
          .map((p) => p.condition.replace(/^if /, ""))
          .join(", or if ")}`;
  if (rep.type === "vmfail-valid") {
    if ((rep.error === 7 && d.noControls) || (rep.error === 8 && d.noHostState))
      return {
        agrees: null,
        text: `not comparable: the CPU reported VM-instruction error ${rep.error} (invalid ${rep.error === 7 ? "control" : "host-state"} fields), and this log has no ${rep.error === 7 ? "control" : "host-state"} fields; nvmx completed them with values that pass`,
      };
    const want: Outcome = { type: "vmfail-valid", error: rep.error };
    const m = outcomes.find((o) => sameOutcome(o, want));
    if (m)
      return { agrees: true, text: `agrees: nvmx also finds VMfailValid with error ${rep.error}${only(m)}` };
    return {
      agrees: false,
      text: `disagrees: the CPU reported VM-instruction error ${rep.error}, nvmx finds "${said}"${unknownNote}`,
    };
  }
  if (!rep.entryFailure) {
    if (r.outcome.type === "entered")
      return {
        agrees: true,
        text: `agrees: the log shows an ordinary VM exit, so the entry before it succeeded, and nvmx finds no definite violation${r.possible?.length ? ` (${r.possible.length} possible finding${r.possible.length === 1 ? "" : "s"} rest on what the log does not show)` : ""}`,
      };
    return {
      agrees: false,
      text: `disagrees: the log shows an ordinary VM exit (the entry succeeded), but nvmx finds "${said}" — a check may be too strict for this CPU, or the state changed after the entry`,
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
      text: `agrees: nvmx also finds a VM exit with reason ${rep.reason}${rep.qualification !== undefined ? ` and qualification ${rep.qualification}` : ""}${only(match)}`,
    };
  const failing =
    rep.reason === 34 && rep.qualification
      ? d.entryMsrLoad?.entries.find((e) => e.index === rep.qualification! - 1)
      : undefined;
  const msrNote = failing
    ? `; the failing MSR-load entry ${rep.qualification} loads MSR 0x${failing.msr.toString(16)} with 0x${failing.value.toString(16)}, which nvmx cannot judge (it models WRMSR validity only for the MSRs whose valid values it knows, not model-specific ones)`
    : "";
  if (r.outcome.type === "entered" && !own.length)
    return {
      agrees: false,
      text: `disagrees: the CPU reported exit reason ${rep.reason}, but nvmx finds no violation in the fields the log shows${msrNote || unknownNote}`,
    };
  return {
    agrees: false,
    text: `disagrees: the CPU reported exit reason ${rep.reason}${rep.qualification !== undefined ? ` (qualification ${rep.qualification})` : ""}, nvmx finds "${said}"${msrNote || unknownNote}`,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Knowledge and findings

/** Names of what a check read that the log does not show entirely ([] when everything is known). */
function unknownOf(r: Reads, k: Knowledge): { fields: number[]; memory: boolean; processor: string[] } {
  const fields = [...r.fields].filter((f) => !fullyKnown(k, f)).sort((a, b) => a - b);
  let memory = false;
  for (const b of r.memory)
    if (!k.memory.has(b)) {
      memory = true;
      break;
    }
  const processor = [...r.processor].filter((p) => !k.processor.has(p));
  return { fields, memory, processor };
}

function isEmpty(u: ReturnType<typeof unknownOf>): boolean {
  return u.fields.length === 0 && !u.memory && u.processor.length === 0;
}

/** Field width in bits (natural = 64). */
function widthOf(index: number): number {
  const w = FIELDS[index]!.width;
  return w === "natural" ? 64 : w;
}

/** Does the check fail on this context (the reference loop's test)? */
function failsOn(c: Check, ctx: ReturnType<typeof contextOf>): boolean {
  ctx.refresh();
  return (c.when === undefined || c.when(ctx)) && c.fail(ctx);
}

const WORD_OF: Readonly<Record<string, ControlWord>> = {
  PIN_BASED_VM_EXEC_CONTROL: "pin",
  CPU_BASED_VM_EXEC_CONTROL: "proc",
  SECONDARY_VM_EXEC_CONTROL: "proc2",
  TERTIARY_VM_EXEC_CONTROL: "proc3",
  VM_EXIT_CONTROLS: "exit",
  SECONDARY_VM_EXIT_CONTROLS: "exit2",
  VM_ENTRY_CONTROLS: "entry",
};

/** Names of the register bits a condition most often names. */
const BIT_NAMES: Readonly<Record<string, Readonly<Record<number, string>>>> = {
  GUEST_RFLAGS: { 8: "TF", 9: "IF", 14: "NT", 16: "RF", 17: "VM" },
  GUEST_CR0: { 0: "PE", 16: "WP", 29: "NW", 30: "CD", 31: "PG" },
  GUEST_CR4: { 5: "PAE", 7: "PGE", 12: "LA57", 13: "VMXE", 17: "PCIDE", 23: "CET" },
  GUEST_IA32_EFER: { 8: "LME", 10: "LMA", 11: "NXE" },
  GUEST_IA32_DEBUGCTL: { 1: "BTF" },
  GUEST_INTERRUPTIBILITY_INFO: { 0: "blocking by STI", 1: "blocking by MOV SS", 3: "blocking by NMI" },
};

/** "VM_ENTRY_CONTROLS has IA-32e mode guest (bit 9)", "GUEST_RFLAGS has TF (bit 8) set". */
function describeBit(index: number, bit: number, set: boolean): string {
  const name = FIELDS[index]!.name;
  const word = WORD_OF[name];
  const ctl = word ? CONTROL_BITS[word].find((b) => b.bit === bit) : undefined;
  if (ctl) return `${name} ${set ? "has" : "lacks"} ${ctl.name} (bit ${bit})`;
  const named = BIT_NAMES[name]?.[bit];
  if (named) return `${name} has ${named} (bit ${bit}) ${set ? "set" : "clear"}`;
  return `${name} has bit ${bit} ${set ? "set" : "clear"}`;
}

/** Bits of unknown (or partly known) fields whose single flip makes the check pass: the finding's condition. */
function conditionBits(
  c: Check,
  e: Entry,
  fields: readonly number[],
  k: Knowledge,
): { index: number; bit: number; set: boolean }[] {
  const ctx = contextOf(e);
  const out: { index: number; bit: number; set: boolean }[] = [];
  for (const f of fields) {
    const m = k.fields.get(f) ?? [0, 0];
    const lo0 = e.vmcs.lo(f);
    const hi0 = e.vmcs.hi(f);
    const w = widthOf(f);
    for (let b = 0; b < w; b++) {
      const half = b < 32 ? 0 : 1;
      const bit = 1 << (b & 31);
      if (((half === 0 ? m[0] : m[1]) & bit) !== 0) continue; // a bit the log shows
      if (half === 0) e.vmcs.setHalves(f, (lo0 ^ bit) >>> 0, hi0);
      else e.vmcs.setHalves(f, lo0, (hi0 ^ bit) >>> 0);
      const fails = failsOn(c, ctx);
      e.vmcs.setHalves(f, lo0, hi0);
      if (!fails) out.push({ index: f, bit: b, set: ((half === 0 ? lo0 : hi0) & bit) !== 0 });
    }
  }
  ctx.refresh();
  // a condition on a control bit says it best; other fields' bits only when no control bit decides
  const gates = out.filter((b) => WORD_OF[FIELDS[b.index]!.name] !== undefined);
  return gates.length ? gates : out;
}

/**
 * Does some filling of the fields' unknown bits (those the log does not show) make the check pass? Single-bit
 * flips are conditionBits' job; this tries what they miss — bits that matter only together: every unknown bit
 * clear, every one set, and fixed-seed random fillings. A finding on partly known fields is definite only when
 * none of these avoids it.
 */
const FILLINGS = 64;
/** (exported for tests) */
export function someFillingAvoids(c: Check, e: Entry, fields: readonly number[], k: Knowledge): boolean {
  const ctx = contextOf(e);
  const saved = fields.map((f) => [e.vmcs.lo(f), e.vmcs.hi(f)] as const);
  let seed = 0x9e3779b9;
  const random = () => {
    // xorshift32: a fixed sequence, so the same log always gives the same verdict
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  let avoided = false;
  for (let n = 0; n < FILLINGS + 2 && !avoided; n++) {
    fields.forEach((f, i) => {
      const m = k.fields.get(f) ?? [0, 0];
      const w = widthOf(f);
      const widthLo = w >= 32 ? 0xffffffff : (1 << w) - 1;
      const widthHi = w > 32 ? (w >= 64 ? 0xffffffff : (1 << (w - 32)) - 1) : 0;
      const fill = (known: number, width: number, value: number) =>
        ((value & known) | ((n === 0 ? 0 : n === 1 ? 0xffffffff : random()) & ~known & width)) >>> 0;
      const [lo, hi] = saved[i]!;
      e.vmcs.setHalves(f, fill(m[0], widthLo, lo), fill(m[1], widthHi, hi));
    });
    avoided = !failsOn(c, ctx);
  }
  for (const [i, f] of fields.entries()) e.vmcs.setHalves(f, saved[i]![0], saved[i]![1]);
  ctx.refresh();
  return avoided;
}

function joinConditions(bits: { index: number; bit: number; set: boolean }[]): string {
  return bits.map((b) => describeBit(b.index, b.bit, b.set)).join(" and ");
}

/** The finding's violation as people read it: the fields it read, in its declared order first. */
function violationOf(c: Check, ctxView: ReturnType<typeof contextOf>, reads: Reads): Violation {
  let message: string;
  try {
    message = c.message(ctxView);
  } catch (e) {
    message = `${c.rule} (message failed: ${(e as Error).message})`;
  }
  const readNames = new Set([...reads.fields].map((i) => FIELDS[i]!.name));
  const fields = c.fields.filter((f) => readNames.has(f));
  for (const n of [...readNames].sort()) if (!fields.includes(n)) fields.push(n);
  return { id: c.id, sdm: c.sdm, message, fields };
}

const ORDER = new Map(CHECKS.map((c, i) => [c, i]));
const byOrder = (a: Check, b: Check) => (ORDER.get(a) ?? 0) - (ORDER.get(b) ?? 0);

interface Finding {
  check: Check;
  reads: Reads;
}

/** The CPU facts a stricter variant changes (profile keys), derived from its data. */
function factKeys(data: ProfileData): string[] {
  const out: string[] = [];
  const base = PERMISSIVE_PROFILE;
  if (data.maxPhysAddr !== base.maxPhysAddr) out.push("maxPhysAddr");
  if (data.linearAddressBits !== base.linearAddressBits) out.push("linearAddressBits");
  for (const [k, v] of Object.entries(data.msrs))
    if (base.msrs[k as keyof typeof base.msrs] !== v) out.push(`msrs.${k}`);
  for (const f of base.flags ?? []) if (!(data.flags ?? []).includes(f)) out.push(`flags.${f}`);
  return out;
}

let variantCaps: { caps: Caps; description: string; facts: string[] }[] | undefined;
function variants() {
  variantCaps ??= STRICTER_VARIANTS.map((v) => ({
    caps: decodeProfile(v.data, "variant"),
    description: v.description,
    facts: factKeys(v.data),
  }));
  return variantCaps;
}

const fieldIndexOf = (name: string) => FIELDS.find((f) => f.name === name)!.index;
const ENTRY_CONTROLS = fieldIndexOf("VM_ENTRY_CONTROLS");
const SECONDARY = fieldIndexOf("SECONDARY_VM_EXEC_CONTROL");

/**
 * The control bits that set the guest's mode and that hypervisors set differently: probed when the log does
 * not show them. VM-entry "IA-32e mode guest" and "load IA32_EFER", secondary "enable EPT" and "unrestricted
 * guest". (Other bits — "entry to SMM", say — no ordinary hypervisor sets; a condition on them is noise.)
 */
const GATES: readonly [number, number][] = [
  [ENTRY_CONTROLS, 9],
  [ENTRY_CONTROLS, 15],
  [SECONDARY, 1],
  [SECONDARY, 7],
];

/** Fields an IA-32e mode guest fixes: [field, bits set, bits clear] (RFLAGS.VM, CR0.PG, CR4.PAE). */
const IA32E_IMPLIES: readonly [number, number, number][] = [
  [fieldIndexOf("GUEST_RFLAGS"), 0, 1 << 17],
  [fieldIndexOf("GUEST_CR0"), 1 << 31, 0],
  [fieldIndexOf("GUEST_CR4"), 1 << 5, 0],
];

/**
 * Settings the log rules out, so no finding is conditioned on them (SDM 29.3.1.1, 29.3.1.4): an IA-32e mode
 * guest needs CR0.PG = 1, CR4.PAE = 1 and RFLAGS.VM = 0.
 */
function ruledOut(e: Entry, k: Knowledge, word: number, bit: number, to: boolean): boolean {
  if (word !== ENTRY_CONTROLS || bit !== 9 || !to) return false;
  const shown = (name: string, b: number) => {
    const i = fieldIndexOf(name);
    const m = k.fields.get(i);
    return m !== undefined && ((m[0] >>> b) & 1) === 1 ? ((e.vmcs.lo(i) >>> b) & 1) === 1 : undefined;
  };
  return (
    shown("GUEST_CR0", 31) === false || shown("GUEST_CR4", 5) === false || shown("GUEST_RFLAGS", 17) === true
  );
}

/**
 * Possible findings from flipping one unknown gate bit at a time on the completion: the checks that then fail
 * on what the log shows ("fails if VM_ENTRY_CONTROLS has IA-32e mode guest"). A bit the completion had to
 * set to fit the log (it differs from the starting state `c0`), a likely bit and a ruled-out setting are not
 * probed.
 */
function probeGates(
  e: Entry,
  c0: Entry,
  k: Knowledge,
  ctx: ReturnType<typeof contextOf>,
  have: Set<Check>,
): { possible: Omit<Possible, "outcome">; checks: Check[] }[] {
  const out: { possible: Omit<Possible, "outcome">; checks: Check[] }[] = [];
  for (const [w, b] of GATES) {
    const bit = 1 << b;
    const m = k.fields.get(w) ?? [0, 0];
    const lm = k.likely.get(w) ?? [0, 0];
    if (k.readings.has(w) || ((m[0] | lm[0]) & bit) !== 0) continue;
    const lo0 = e.vmcs.lo(w);
    if (((lo0 ^ c0.vmcs.lo(w)) & bit) !== 0) continue;
    const to = (lo0 & bit) === 0;
    if (ruledOut(e, k, w, b, to)) continue;
    // what the setting implies for fields the log lacks: an IA-32e mode guest has RFLAGS.VM = 0, CR0.PG = 1
    // and CR4.PAE = 1 (SDM 29.3.1.1, 29.3.1.4); those fields are set so and may be read
    const implied = w === ENTRY_CONTROLS && b === 9 && to ? IA32E_IMPLIES : [];
    const saved = implied.map(([f]) => [e.vmcs.lo(f), e.vmcs.hi(f)] as const);
    for (const [f, set, clear] of implied)
      if (!fullyKnown(k, f)) e.vmcs.setHalves(f, ((e.vmcs.lo(f) | set) & ~clear) >>> 0, e.vmcs.hi(f));
    e.vmcs.setHalves(w, (lo0 ^ bit) >>> 0, e.vmcs.hi(w));
    ctx.refresh();
    const fresh = failingChecks(ctx).filter((c) => !have.has(c));
    const found: { c: Check; v: Violation }[] = [];
    if (fresh.length) {
      const rc = new ReadingContext(ctx);
      for (const c of fresh) {
        const r = rc.run(c);
        const u = unknownOf(r.reads, k);
        const allowed = (f: number) => GATES.some(([g]) => g === f) || implied.some(([i]) => i === f);
        if (!u.memory && u.processor.length === 0 && u.fields.every(allowed))
          found.push({ c, v: violationOf(c, rc.view, r.reads) });
      }
    }
    for (const [i, [f]] of implied.entries()) e.vmcs.setHalves(f, saved[i]![0], saved[i]![1]);
    e.vmcs.setHalves(w, lo0, e.vmcs.hi(w));
    ctx.refresh();
    if (found.length)
      out.push({
        possible: {
          why: "unknown-field",
          dependsOn: [FIELDS[w]!.name],
          condition: `if ${describeBit(w, b, to)}`,
          violations: found.map((f) => f.v),
        },
        checks: found.map((f) => f.c),
      });
  }
  return out;
}

/** What the log says the CPU did (entry failures only); a VM exit's qualification only when the log shows it. */
type Reported1 =
  | Exclude<Outcome, { type: "vmexit" }>
  | { type: "vmexit"; reason: number; qualification?: number };

function reportedOutcome(rep: Reported | undefined): Reported1 | undefined {
  if (rep?.type === "vmfail-valid") return { type: "vmfail-valid", error: rep.error };
  if (rep?.type === "vmexit" && rep.entryFailure)
    return rep.qualification !== undefined
      ? { type: "vmexit", reason: rep.reason, qualification: rep.qualification }
      : { type: "vmexit", reason: rep.reason };
  return undefined;
}

/** Does an outcome give what the CPU reported? */
function gives(o: Outcome, want: Reported1): boolean {
  if (want.type === "vmexit")
    return (
      o.type === "vmexit" &&
      o.reason === want.reason &&
      (want.qualification === undefined || o.qualification === want.qualification)
    );
  return sameOutcome(o, want);
}

/**
 * Possible findings found by searching for causes of what the log reports: they never count as nvmx agreeing
 * with the log (they were chosen to give its outcome).
 */
const PROBED = new WeakSet<Possible>();
const CAUSE_SUFFIX_TEXT = " (a cause that gives what the log reports)";
const CAUSE_SUFFIX = / \(a cause that gives what the log reports\)$/;

/** At most this many causes of a reported failure are listed, and this many bits per cause. */
const MAX_CAUSES = 8;
const MAX_BITS = 3;

/**
 * Causes of what the CPU reported, when nothing nvmx found gives it: checks that read what the log shows and
 * fail once one bit the log does not show is flipped on the completion, with the reported outcome then
 * following ("the CPU reported exit 33; fails if GUEST_RFLAGS has TF (bit 8) set"). A fragment of two lines
 * thus keeps its finding as a possible one. Bits the log shows, its readings and ruled-out settings are not
 * flipped.
 */
function probeReported(
  e: Entry,
  k: Knowledge,
  traced: readonly { check: Check; reads: Reads }[],
  want: Reported1,
  have: Set<Check>,
): { possible: Omit<Possible, "outcome">; checks: Check[] }[] {
  const out: { possible: Omit<Possible, "outcome">; checks: Check[] }[] = [];
  const ctx = contextOf(e);
  const shows = (f: number) => {
    const m = k.fields.get(f);
    return m !== undefined && (m[0] !== 0 || m[1] !== 0);
  };
  for (const t of traced) {
    if (out.length >= MAX_CAUSES) break;
    if (have.has(t.check)) continue;
    const fields = [...t.reads.fields];
    if (!fields.some(shows)) continue;
    const free = fields.filter((f) => !fullyKnown(k, f) && !k.readings.has(f)).sort((a, b) => a - b);
    if (!free.length) continue;
    const bits: { index: number; bit: number; set: boolean }[] = [];
    for (const f of free) {
      if (bits.length >= MAX_BITS) break;
      const m = k.fields.get(f) ?? [0, 0];
      const lo0 = e.vmcs.lo(f);
      const hi0 = e.vmcs.hi(f);
      for (let b = 0; b < widthOf(f) && bits.length < MAX_BITS; b++) {
        const half = b < 32 ? 0 : 1;
        const bit = 1 << (b & 31);
        if (((half === 0 ? m[0] : m[1]) & bit) !== 0) continue;
        const to = ((half === 0 ? lo0 : hi0) & bit) === 0;
        // a bit at the value a KVM or Xen host likely uses, or one the log rules out, is not flipped
        if ((((k.likely.get(f) ?? [0, 0])[half] ?? 0) & bit) !== 0 || ruledOut(e, k, f, b, to)) continue;
        if (half === 0) e.vmcs.setHalves(f, (lo0 ^ bit) >>> 0, hi0);
        else e.vmcs.setHalves(f, lo0, (hi0 ^ bit) >>> 0);
        if (failsOn(t.check, ctx)) {
          const failing = failingChecks(ctx);
          if (failing.includes(t.check) && gives(decide(failing, ctx).outcome, want))
            bits.push({ index: f, bit: b, set: to });
        }
        e.vmcs.setHalves(f, lo0, hi0);
      }
    }
    ctx.refresh();
    if (!bits.length) continue;
    // the finding as it reads with the first such bit flipped
    const [b0] = bits;
    const lo0 = e.vmcs.lo(b0!.index);
    const hi0 = e.vmcs.hi(b0!.index);
    const m = 1 << (b0!.bit & 31);
    e.vmcs.setHalves(b0!.index, b0!.bit < 32 ? (lo0 ^ m) >>> 0 : lo0, b0!.bit < 32 ? hi0 : (hi0 ^ m) >>> 0);
    ctx.refresh();
    const rc = new ReadingContext(ctx);
    const v = violationOf(t.check, rc.view, rc.run(t.check).reads);
    e.vmcs.setHalves(b0!.index, lo0, hi0);
    ctx.refresh();
    out.push({
      possible: {
        why: "unknown-field",
        dependsOn: [...new Set(bits.map((b) => FIELDS[b.index]!.name))],
        condition: `if ${bits.map((b) => describeBit(b.index, b.bit, b.set)).join(", or if ")}${CAUSE_SUFFIX_TEXT}`,
        violations: [v],
      },
      checks: [t.check],
    });
  }
  return out;
}

interface Core {
  entry: Entry;
  result: EntryResult;
  unknownFields: string[];
  assumptions: string[];
  completed: Change[];
}

/** The result model for one dump on one CPU. */
function assess(d: ParsedDump, cpu: Caps | undefined): Core {
  const caps = cpu ?? permissiveProfile();
  const conv = dumpToEntry(d, caps, cpu ? cpuSpecOf(cpu) : PERMISSIVE_PROFILE);
  const k = conv.knowledge;
  const c0 = conv.entry;
  const t0 = traceAll(contextOf(c0));
  let entry = c0;
  let completed: Change[] = [];
  if (t0.some((t) => t.fails && !isEmpty(unknownOf(t.reads, k)))) {
    const frozenFields = new Map(k.fields);
    for (const f of k.readings) frozenFields.set(f, [0xffffffff, 0xffffffff]);
    const r = repair(c0, {
      seed: 1,
      frozen: { fields: frozenFields, memory: k.memory, processor: k.processor },
    });
    entry = r.entry;
    completed = r.changes;
  }
  const ctx = contextOf(entry);
  const traced = entry === c0 ? t0 : traceAll(ctx);
  ctx.refresh();
  const rc = new ReadingContext(ctx);

  const definite: Finding[] = [];
  const possible: Possible[] = [];
  const possibleChecks = new Set<Check>();
  const addPossible = (p: Omit<Possible, "outcome">, checks: Check[]) => {
    const have = possible.find((x) => x.why === p.why && x.condition === p.condition);
    if (have) {
      for (const v of p.violations) if (!have.violations.some((w) => w.id === v.id)) have.violations.push(v);
      for (const x of p.dependsOn) if (!have.dependsOn.includes(x)) have.dependsOn.push(x);
      (have as Possible & { checks: Check[] }).checks.push(...checks);
    } else possible.push({ ...p, outcome: { type: "entered" }, checks } as Possible & { checks: Check[] });
    for (const c of checks) possibleChecks.add(c);
  };

  for (const t of traced) {
    if (!t.fails) continue;
    const u = unknownOf(t.reads, k);
    if (isEmpty(u)) {
      definite.push({ check: t.check, reads: t.reads });
      continue;
    }
    // only partly known fields, and no flip of one of their unknown bits, nor any filling of them tried,
    // avoids it: definite
    const partial = u.fields.every((f) => k.fields.has(f) && !k.readings.has(f));
    const bits = conditionBits(t.check, entry, u.fields, k);
    if (
      partial &&
      !u.memory &&
      u.processor.length === 0 &&
      bits.length === 0 &&
      !someFillingAvoids(t.check, entry, u.fields, k)
    ) {
      definite.push({ check: t.check, reads: t.reads });
      continue;
    }
    const names = u.fields.map((f) => FIELDS[f]!.name);
    const depends = [...names, ...(u.memory ? ["memory"] : []), ...u.processor.map((p) => `processor.${p}`)];
    const readings = u.fields.filter((f) => k.readings.has(f));
    const likely =
      bits.length > 0 &&
      bits.every((b) => ((k.likely.get(b.index)?.[b.bit < 32 ? 0 : 1] ?? 0) >>> (b.bit & 31)) & 1);
    const condition = bits.length
      ? `if ${joinConditions(bits)}${likely ? ", as KVM and Xen set it" : ""}`
      : readings.length === u.fields.length && readings.length > 0
        ? `if ${readings.map((f) => FIELDS[f]!.name).join(", ")} ${readings.length === 1 ? "is" : "are"} as read (${d.assumptions.find((a) => a.field === FIELDS[readings[0]!]!.name)?.text ?? "one reading of the log"})`
        : `if ${depends.join(", ")} (not in the log) hold values like nvmx's completion (no single-bit change avoids it)`;
    addPossible(
      {
        why: "unknown-field",
        dependsOn: depends,
        condition,
        violations: [violationOf(t.check, rc.view, rc.run(t.check).reads)],
      },
      [t.check],
    );
  }

  // Findings of the format's likely reading that the completion avoided (QEMU's controls as KVM sets them).
  if (entry !== c0 && k.likely.size)
    for (const t of t0) {
      if (!t.fails || possibleChecks.has(t.check) || definite.some((f) => f.check === t.check)) continue;
      const bits: { index: number; bit: number; set: boolean }[] = [];
      const scratch = contextOf(entry);
      for (const f of t.reads.fields) {
        const lm = k.likely.get(f);
        if (!lm) continue;
        const a = [c0.vmcs.lo(f), c0.vmcs.hi(f)];
        const b = [entry.vmcs.lo(f), entry.vmcs.hi(f)];
        for (let bit = 0; bit < widthOf(f); bit++) {
          const h = bit < 32 ? 0 : 1;
          const m = 1 << (bit & 31);
          if (((a[h]! ^ b[h]!) & m & lm[h]!) === 0) continue;
          entry.vmcs.setHalves(f, h === 0 ? (b[0]! ^ m) >>> 0 : b[0]!, h === 1 ? (b[1]! ^ m) >>> 0 : b[1]!);
          if (failsOn(t.check, scratch)) bits.push({ index: f, bit, set: (a[h]! & m) !== 0 });
          entry.vmcs.setHalves(f, b[0]!, b[1]!);
        }
      }
      scratch.refresh();
      if (!bits.length) continue;
      // the finding as it stands on the likely reading
      const rc0 = new ReadingContext(contextOf(c0));
      const v = violationOf(t.check, rc0.view, rc0.run(t.check).reads);
      addPossible(
        {
          why: "unknown-field",
          dependsOn: [...new Set(bits.map((b) => FIELDS[b.index]!.name))],
          condition: `if ${joinConditions(bits)}, as KVM and Xen set it`,
          violations: [v],
        },
        [t.check],
      );
    }

  // Gates the log does not show: a control bit whose flip alone makes a check fail on what the log shows
  // ("fails if VM_ENTRY_CONTROLS has IA-32e mode guest"), unless the log rules the setting out.
  for (const p of probeGates(
    entry,
    c0,
    k,
    ctx,
    new Set([...definite.map((f) => f.check), ...possibleChecks]),
  ))
    addPossible(p.possible, p.checks);

  const definiteChecks = definite.map((f) => f.check);
  const known = new Set([...definiteChecks, ...possibleChecks]);

  // Other readings of the log (QEMU's II=1 as STI).
  for (const alt of d.alternatives) {
    const scratch = contextOf({ ...entry, vmcs: entry.vmcs.clone() });
    for (const [n, v] of Object.entries(alt.vmcs)) scratch.vmcs.setByName(n, v);
    const extra = failingChecks(scratch).filter((c) => !known.has(c));
    if (!extra.length) continue;
    const arc = new ReadingContext(scratch);
    addPossible(
      {
        why: "unknown-field",
        dependsOn: Object.keys(alt.vmcs),
        condition: alt.description,
        violations: extra.map((c) => violationOf(c, arc.view, arc.run(c).reads)),
      },
      extra,
    );
  }

  // What the CPU reported, when nothing found so far gives it: causes among what the log does not show.
  const want = reportedOutcome(d.reported);
  const outcomeWith = (checks: Check[]) => {
    ctx.refresh();
    return decide([...new Set([...definite.map((f) => f.check), ...checks])].sort(byOrder), ctx).outcome;
  };
  if (
    want &&
    !gives(outcomeWith([]), want) &&
    !(possible as (Possible & { checks: Check[] })[]).some((p) => gives(outcomeWith(p.checks), want))
  )
    for (const p of probeReported(entry, k, traced, want, new Set([...known, ...possibleChecks]))) {
      addPossible(p.possible, p.checks);
      PROBED.add(possible[possible.length - 1]!);
    }

  // Stricter CPUs than the permissive profile (no --cpu): what only they add is a cpu-fact finding.
  if (!cpu)
    for (const v of variants()) {
      const scratch = contextOf({ ...entry, caps: v.caps });
      const extra = failingChecks(scratch).filter((c) => !known.has(c));
      if (!extra.length) continue;
      const vrc = new ReadingContext(scratch);
      const found: { c: Check; reads: Reads }[] = [];
      for (const c of extra) {
        const r = vrc.run(c);
        // a stricter-CPU finding that also reads a field the log lacks is not listed (the completion was
        // chosen for the permissive CPU, and another completion may avoid it)
        if (isEmpty(unknownOf(r.reads, k))) found.push({ c, reads: r.reads });
      }
      if (!found.length) continue;
      addPossible(
        {
          why: "cpu-fact",
          dependsOn: v.facts,
          condition: v.description,
          violations: found.map((f) => violationOf(f.c, vrc.view, f.reads)),
        },
        found.map((f) => f.c),
      );
    }

  // The profile's own uncertain facts (the cpu-fact pass of src/entry/evaluate.ts, on the completed state):
  // an MSR the profile cannot say exists, a count that depends on Hyper-Threading. Their outcome is the
  // pass's (on the strict reading); one a stricter variant above already gave is not repeated. The pass's
  // warnings (a VM-exit MSR-load entry that will abort) are the result's.
  ctx.refresh();
  const core = evaluate(ctx);
  const variantIds = new Set(
    possible.filter((p) => p.why === "cpu-fact").flatMap((p) => p.violations.map((v) => v.id)),
  );
  const facts = (core.possible ?? []).filter(
    (p) => p.why === "cpu-fact" && !p.violations.every((v) => variantIds.has(v.id)),
  );

  // Outcomes: what the definite findings decide, and each possible finding's.
  ctx.refresh();
  const sorted = definiteChecks.slice().sort(byOrder);
  const base = decide(sorted, ctx);
  for (const p of possible as (Possible & { checks: Check[] })[]) {
    p.outcome = decide([...new Set([...sorted, ...p.checks])].sort(byOrder), ctx).outcome;
    delete (p as Partial<Possible & { checks: Check[] }>).checks;
  }
  const all = [...(base.possible ?? []), ...possible, ...facts];
  const violations = definite
    .slice()
    .sort((a, b) => byOrder(a.check, b.check))
    .map((f) => violationOf(f.check, rc.view, f.reads));
  const outcomes: Outcome[] = [base.outcome];
  for (const p of all) if (!outcomes.some((o) => sameOutcome(o, p.outcome))) outcomes.push(p.outcome);
  const result: EntryResult = all.length
    ? { outcome: base.outcome, possibleOutcomes: outcomes, violations, possible: all }
    : { outcome: base.outcome, violations };
  if (core.warnings?.length) result.warnings = core.warnings;
  return {
    entry,
    result,
    unknownFields: entry === c0 ? conv.unknownFields : unknownRead(entry, k),
    assumptions: conv.assumptions.map((a) => a.text),
    completed,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Explaining, with a cache for logs that repeat one dump

const cache = new Map<string, Core>();
const CACHE_SIZE = 256;

function keyOf(d: ParsedDump, cpu: Caps | undefined): string {
  const hex = (_k: string, v: unknown) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v);
  return JSON.stringify(
    [
      cpu?.name ?? "",
      d.format,
      [...d.values],
      [...d.masks],
      d.entryMsrLoad ?? null,
      d.exitMsrLoad ?? null,
      d.exitMsrStore ?? null,
      d.processor,
      d.assumptions,
      d.alternatives,
      d.noControls ?? false,
      d.noHostState ?? false,
    ],
    hex,
  );
}

/** Explain one dump. Without `cpu`, the permissive profile is assumed and stricter CPUs are tried as well. */
export function explainDump(d: ParsedDump, cpu?: Caps): Explanation {
  const key = cpu && !builtinNames().includes(cpu.name) ? undefined : keyOf(d, cpu);
  let core = key !== undefined ? cache.get(key) : undefined;
  if (!core) {
    const notes = d.notes.length;
    core = assess(d, cpu);
    if (key !== undefined && d.notes.length === notes) {
      if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
      cache.set(key, core);
    }
  }
  const cmp = compare(d, core.result, core.unknownFields);
  return {
    dump: d,
    entry: core.entry,
    result: core.result,
    cpuAssumed: !cpu,
    unknownFields: core.unknownFields,
    assumptions: core.assumptions,
    completed: core.completed,
    agrees: cmp.agrees,
    agreement: cmp.text,
  };
}

export const FORMAT_NAMES: Record<DumpFormat, string> = {
  "kvm-dump": INPUT_FORMAT_NAMES["kvm-dump"],
  "xen-dump": INPUT_FORMAT_NAMES["xen-dump"],
  "qemu-regs": INPUT_FORMAT_NAMES["qemu-regs"],
  "nested-state": INPUT_FORMAT_NAMES["nested-state"],
};

/** The `--json` line: the result document plus what the log says and what it cannot tell. */
export function explanationJson(file: string, x: Explanation): Record<string, unknown> {
  const rep = x.dump.reported;
  return {
    format: RESULT_FORMAT,
    nvmx: VERSION,
    ...x.result,
    file,
    line: x.dump.line,
    logFormat: x.dump.format,
    layout: x.dump.layout,
    cpu: x.entry.caps.name,
    cpuAssumed: x.cpuAssumed,
    unknownFields: x.unknownFields,
    completed: x.completed,
    reported: rep ? { ...rep, description: describeReported(rep) } : null,
    readWarnings: x.dump.warnings,
    agrees: x.agrees,
    agreement: x.agreement,
    assumptions: x.assumptions,
    notes: x.dump.notes,
  };
}
