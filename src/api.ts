/**
 * The library's public functions (re-exported by src/index.ts): each checks its arguments before the library
 * touches them, so a wrong argument is one `InputError` naming the function, the parameter, what it must be
 * and what it got (`runEntry: entry must be an Entry (from parseEntry), got null`) — never a TypeError from
 * deep inside. Results are the caller's own: nothing returned is shared with another call or frozen.
 */
import { checkById } from "./checks/registry.js";
import type { Check, Outcome } from "./checks/types.js";
import { builtinProfile as builtinProfileRaw } from "./cpu/builtin.js";
import { type Caps, decodeProfile as decodeProfileRaw, type ProfileData } from "./cpu/profile.js";
import {
  type Entry,
  type EntryDocument,
  type ParseOptions,
  parseEntry as parseEntryRaw,
  parseEntryText as parseEntryTextRaw,
  serializeEntry as serializeEntryRaw,
} from "./entry/document.js";
import type { EntryResult } from "./entry/evaluate.js";
import { runEntry as runEntryRaw } from "./entry/run.js";
import { InputError, preview } from "./errors.js";
import {
  detectFormat as detectFormatRaw,
  type ParsedInput,
  parseInput as parseInputRaw,
} from "./formats/detect.js";
import { type Converted, dumpToEntry as dumpToEntryRaw } from "./formats/entry.js";
import {
  type Explanation,
  explainDump as explainDumpRaw,
  explanationJson as explanationJsonRaw,
} from "./formats/explain.js";
import {
  type FormatOptions,
  formatKvmDump as formatKvmDumpRaw,
  parseKvmDump as parseKvmDumpRaw,
} from "./formats/kvm-dump.js";
import {
  parseKvmTracepoint as parseKvmTracepointRaw,
  type TracepointLine,
} from "./formats/kvm-tracepoint.js";
import {
  formatNestedState as formatNestedStateRaw,
  parseNestedState as parseNestedStateRaw,
} from "./formats/nested-state.js";
import { parseQemuRegs as parseQemuRegsRaw } from "./formats/qemu-regs.js";
import type { DumpFormat, InputFormat, ParsedDump } from "./formats/types.js";
import { parseVmxcap as parseVmxcapRaw } from "./formats/vmxcap.js";
import { parseXenDump as parseXenDumpRaw } from "./formats/xen-dump.js";
import { type RepairResult, repair as repairRaw } from "./gen/repair.js";
import { Rng } from "./gen/rng.js";
import { serializeGenerated as serializeGeneratedRaw } from "./gen/serialize.js";
import {
  type Generated,
  type GenOptions,
  generateValid as generateValidRaw,
  MODES,
  type Mode,
  modesFor as modesForRaw,
  modeUnsupported,
} from "./gen/valid.js";
import { ValidStates, type VaryOptions } from "./gen/vary.js";
import {
  type Coverage,
  coverage as coverageRaw,
  type ViolationSearch,
  violationSearch as violationSearchRaw,
} from "./gen/violate.js";
import {
  type CompareOptions,
  type CompareRow,
  compareCorpus as compareCorpusRaw,
  findGaps as findGapsRaw,
  type GapOptions,
  type GapReport,
} from "./nested/compare.js";
import { DEFAULT_COST, L0_BUGS, type NestedConfig, validateConfig } from "./nested/config.js";
import type { KernelPreset } from "./nested/kernel.js";
import { kernelPreset as kernelPresetRaw } from "./nested/kernels/index.js";
import { type NestedInput, type NestedResult, runNested as runNestedRaw } from "./nested/l0.js";
import { l1Profile as l1ProfileRaw } from "./nested/l1.js";
import { type BlobVmcs12, vmcs12FromNestedState as vmcs12FromNestedStateRaw } from "./nested/state.js";
import { describeOutcome as describeOutcomeRaw, humanReport as humanReportRaw } from "./report.js";
import { Memory } from "./vmcs/memory.js";
import { Vmcs } from "./vmcs/store.js";

// ---- argument checks

function wrong(fn: string, param: string, expected: string, got: unknown): never {
  throw new InputError(`${param} must be ${expected}, got ${describe(got)}`, { location: fn });
}

/** What a wrong argument is, for the message: a value's preview, or its kind. */
function describe(v: unknown): string {
  if (v === undefined) return "undefined";
  if (typeof v === "function") return "a function";
  if (typeof v === "symbol") return "a symbol";
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (v instanceof Map) return "a Map";
  return preview(v);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function caps(fn: string, param: string, v: unknown): Caps {
  if (
    !isObject(v) ||
    typeof v["name"] !== "string" ||
    !isObject(v["ctl"]) ||
    !isObject(v["msr"]) ||
    !isObject(v["data"])
  )
    wrong(fn, param, "a CPU profile (from builtinProfile or decodeProfile)", v);
  return v as unknown as Caps;
}

function entry(fn: string, param: string, v: unknown): Entry {
  if (
    !isObject(v) ||
    !(v["vmcs"] instanceof Vmcs) ||
    !(v["memory"] instanceof Memory) ||
    !isObject(v["processor"])
  )
    wrong(fn, param, "an Entry (from parseEntry or parseEntryText)", v);
  caps(fn, `${param}.caps`, v["caps"]);
  return v as unknown as Entry;
}

function text(fn: string, param: string, v: unknown): string {
  if (typeof v !== "string") wrong(fn, param, "a string", v);
  return v;
}

function bytes(fn: string, param: string, v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) wrong(fn, param, "a Uint8Array (a Buffer is one)", v);
  return v;
}

function options<T>(fn: string, param: string, v: unknown): T {
  if (v !== undefined && !isObject(v)) wrong(fn, param, "an options object or undefined", v);
  return (v ?? {}) as T;
}

function optionalCaps(fn: string, param: string, v: unknown): Caps | undefined {
  return v === undefined ? undefined : caps(fn, param, v);
}

function dump(fn: string, param: string, v: unknown): ParsedDump {
  const formats: readonly DumpFormat[] = ["kvm-dump", "xen-dump", "qemu-regs", "nested-state"];
  if (
    !isObject(v) ||
    !(v["values"] instanceof Map) ||
    !(v["masks"] instanceof Map) ||
    !(formats as readonly unknown[]).includes(v["format"])
  )
    wrong(fn, param, "a ParsedDump (from parseInput or a parse* function)", v);
  return v as unknown as ParsedDump;
}

function wholeNumber(fn: string, param: string, v: unknown, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max)
    wrong(fn, param, `a whole number 0..${max}`, v);
  return v;
}

function optionalNumber(fn: string, param: string, v: unknown, max: number): void {
  if (v !== undefined) wholeNumber(fn, param, v, max);
}

/** One of a list of words. */
function oneOf(fn: string, param: string, v: unknown, words: readonly string[], optional = false): void {
  if (optional && v === undefined) return;
  if (typeof v !== "string" || !words.includes(v)) wrong(fn, param, `one of ${words.join(", ")}`, v);
}

function optionalBoolean(fn: string, param: string, v: unknown): void {
  if (v !== undefined && typeof v !== "boolean") wrong(fn, param, "true, false or undefined", v);
}

/** A NestedConfig, key by key (validateConfig then checks what the chosen kernel allows). */
function nestedConfig(fn: string, param: string, cfg: unknown): void {
  if (!isObject(cfg)) wrong(fn, param, "a NestedConfig (DEFAULT_NESTED_CONFIG with changes)", cfg);
  text(fn, `${param}.kernel`, cfg["kernel"]);
  const sw = cfg["softwareChecks"];
  if (Array.isArray(sw)) {
    for (const [i, id] of sw.entries())
      if (typeof id !== "string" || !checkById(id))
        wrong(fn, `${param}.softwareChecks[${i}]`, "a check id", id);
  } else oneOf(fn, `${param}.softwareChecks`, sw, ["kernel", "full", "none"]);
  const ram = cfg["l1RamBytes"];
  if (typeof ram !== "number" || !Number.isFinite(ram) || ram < 2 ** 20)
    wrong(fn, `${param}.l1RamBytes`, "a number of bytes, at least 1 MiB", ram);
  oneOf(fn, `${param}.vmcs02`, cfg["vmcs02"], ["reused", "fresh"]);
  if (typeof cfg["hostBreakpoints"] !== "boolean")
    wrong(fn, `${param}.hostBreakpoints`, "true or false", cfg["hostBreakpoints"]);
  oneOf(fn, `${param}.hardwareOrder`, cfg["hardwareOrder"], ["controls-first", "host-first"]);
  oneOf(fn, `${param}.bug`, cfg["bug"], L0_BUGS, true);
  optionalBoolean(fn, `${param}.warnOnMissedCc`, cfg["warnOnMissedCc"]);
  optionalBoolean(fn, `${param}.hypervisor`, cfg["hypervisor"]);
  const cost = cfg["cost"];
  if (!isObject(cost)) wrong(fn, `${param}.cost`, "a CostParams object (DEFAULT_COST with changes)", cost);
  for (const k of Object.keys(DEFAULT_COST))
    if (typeof cost[k] !== "number" || !Number.isFinite(cost[k]) || (cost[k] as number) < 0)
      wrong(fn, `${param}.cost.${k}`, "a number from 0", cost[k]);
  const early = cfg["earlyCheck"];
  if (early !== undefined) {
    if (!isObject(early)) wrong(fn, `${param}.earlyCheck`, "an EarlyCheckParam or undefined", early);
    if (early["form"] === "merged") {
      if (typeof early["nestedEarlyCheck"] !== "boolean")
        wrong(fn, `${param}.earlyCheck.nestedEarlyCheck`, "true or false", early["nestedEarlyCheck"]);
    } else if (early["form"] === "described") {
      if (![1, 0, -1].includes(early["earlyConsistencyChecks"] as number))
        wrong(
          fn,
          `${param}.earlyCheck.earlyConsistencyChecks`,
          "1, 0 or -1",
          early["earlyConsistencyChecks"],
        );
      optionalBoolean(fn, `${param}.earlyCheck.skipWhenComplete`, early["skipWhenComplete"]);
    } else wrong(fn, `${param}.earlyCheck.form`, 'one of "merged", "described"', early["form"]);
  }
}

/** A result the caller owns: the valid path's shared frozen result copied. */
function own(r: EntryResult): EntryResult {
  return Object.isFrozen(r) ? { ...r, outcome: { ...r.outcome }, violations: [...r.violations] } : r;
}

// ---- entry documents

/**
 * Validate a parsed `nvmx-entry/1` document (docs/contract.md §1) and resolve it into an {@link Entry}: the
 * VMCS fields, the processor state, the memory and the CPU profile it names.
 *
 * @param doc - the document as `JSON.parse` gives it
 * @param opts - `cpu`: a profile that overrides the document's `cpu`
 * @throws {@link InputError} naming the key path of the first problem (`vmcs.GUEST_CR0: malformed value "zz"`)
 */
export function parseEntry(doc: unknown, opts?: ParseOptions): Entry {
  const o = options<ParseOptions>("parseEntry", "opts", opts);
  optionalCaps("parseEntry", "opts.cpu", o.cpu);
  return parseEntryRaw(doc, o);
}

/**
 * Parse the text of one `nvmx-entry/1` document (JSON) into an {@link Entry}; see {@link parseEntry}.
 *
 * @throws {@link InputError} for text that is not JSON (with the position) or not a valid document
 */
export function parseEntryText(text_: string, opts?: ParseOptions): Entry {
  text("parseEntryText", "text", text_);
  const o = options<ParseOptions>("parseEntryText", "opts", opts);
  optionalCaps("parseEntryText", "opts.cpu", o.cpu);
  return parseEntryTextRaw(text_, o);
}

/** An {@link Entry} as an `nvmx-entry/1` document (every field it holds, canonical spelling), ready for JSON. */
export function serializeEntry(e: Entry): EntryDocument {
  return serializeEntryRaw(entry("serializeEntry", "e", e));
}

/**
 * What VM entry (VMLAUNCH/VMRESUME) does with a state: the {@link Outcome} (VMfail with its error number, a VM
 * exit with reason 33/34, or "entered") and every violated rule, with its SDM section and values.
 *
 * @param e - a state from {@link parseEntry}, {@link parseEntryText} or {@link generateValid}
 * @param checks - the rules to run (default: all of them, {@link CHECKS})
 */
export function runEntry(e: Entry, checks?: readonly Check[]): EntryResult {
  entry("runEntry", "e", e);
  if (checks !== undefined && !Array.isArray(checks))
    wrong("runEntry", "checks", "an array of checks (CHECKS)", checks);
  return own(checks === undefined ? runEntryRaw(e) : runEntryRaw(e, checks));
}

/**
 * Check one `nvmx-entry/1` document: {@link parseEntry} then {@link runEntry}.
 *
 * @example
 * ```ts
 * import { readFileSync } from "node:fs";
 * import { check } from "nvmx";
 * const r = check(JSON.parse(readFileSync("state.json", "utf8")));
 * if (r.outcome.type !== "entered") for (const v of r.violations) console.log(v.id, v.sdm, v.message);
 * ```
 * @throws {@link InputError} on a bad document
 */
export function check(doc: unknown): EntryResult {
  return own(runEntryRaw(parseEntryRaw(doc)));
}

// ---- CPU profiles

/**
 * A built-in CPU profile by name (`builtinNames()` lists them; `nvmx caps list`).
 *
 * @throws {@link InputError} for an unknown name, listing the known ones
 */
export function builtinProfile(name: string): Caps {
  return builtinProfileRaw(text("builtinProfile", "name", name));
}

/**
 * Validate a CPU profile document (docs/contract.md §2, schemas/profile.schema.json) and decode what its
 * capability MSRs and CPU facts allow.
 *
 * @param where - the name errors give the profile (default "cpu")
 * @throws {@link InputError} naming the key of the first problem
 */
export function decodeProfile(data: ProfileData, where?: string): Caps {
  if (where !== undefined) text("decodeProfile", "where", where);
  return decodeProfileRaw(data, where);
}

// ---- logs

/** Which format some input is (an entry document, a log's dump format, vmxcap output), or undefined. */
export function detectFormat(input: Uint8Array): InputFormat | "kvm-tracepoint" | undefined {
  return detectFormatRaw(bytes("detectFormat", "input", input));
}

/**
 * Read any input nvmx understands — KVM's dump_vmcs, Xen's VMCS dump, QEMU's register dump, a
 * KVM_GET_NESTED_STATE blob, vmxcap output, an entry document — into its dumps (or profile, or document).
 *
 * @param name - the input's name, for errors and for a profile made from vmxcap output
 * @throws {@link InputError} for input in none of the formats
 */
export function parseInput(input: Uint8Array, name?: string): ParsedInput {
  bytes("parseInput", "input", input);
  if (name !== undefined) text("parseInput", "name", name);
  return parseInputRaw(input, name);
}

/**
 * Explain one dump: complete the state it shows on a CPU, run the checks, and say what VM entry does, which
 * findings are only possible (they rest on a field the log lacks) and whether it agrees with what the log
 * reports (`nvmx explain`).
 *
 * @param cpu - the CPU the log comes from (default: a permissive CPU)
 */
export function explainDump(d: ParsedDump, cpu?: Caps): Explanation {
  return explainDumpRaw(dump("explainDump", "d", d), optionalCaps("explainDump", "cpu", cpu));
}

/** An {@link Explanation} as the JSON record `nvmx explain --json` prints for it. */
export function explanationJson(file: string, x: Explanation): Record<string, unknown> {
  text("explanationJson", "file", file);
  if (!isObject(x) || !isObject(x["result"]))
    wrong("explanationJson", "x", "an Explanation (from explainDump)", x);
  return explanationJsonRaw(file, x);
}

/**
 * A dump as an {@link Entry} on a CPU: the log's values, the fields it lacks completed with values that pass,
 * and which fields those are (`nvmx convert`).
 */
export function dumpToEntry(d: ParsedDump, cpu: Caps, profile?: string | ProfileData): Converted {
  dump("dumpToEntry", "d", d);
  caps("dumpToEntry", "cpu", cpu);
  if (profile !== undefined && typeof profile !== "string" && !isObject(profile))
    wrong("dumpToEntry", "profile", "a profile name or a profile document", profile);
  return dumpToEntryRaw(d, cpu, profile);
}

/** The dumps of Linux KVM's dump_vmcs in a log (every layout since Linux 4.x; prefixed, wrapped or cut short). */
export function parseKvmDump(log: string): ParsedDump[] {
  return parseKvmDumpRaw(text("parseKvmDump", "log", log));
}

/** The VMCS dumps Xen prints (`vmcs_dump_vcpu`, the 'v' debug key) in a log. */
export function parseXenDump(log: string): ParsedDump[] {
  return parseXenDumpRaw(text("parseXenDump", "log", log));
}

/** QEMU's register dumps ("KVM: entry failed, hardware error 0x80000021") in a log. */
export function parseQemuRegs(log: string): ParsedDump[] {
  return parseQemuRegsRaw(text("parseQemuRegs", "log", log));
}

/** The vmcs12 (and its state) in a KVM_GET_NESTED_STATE blob, as a dump. */
export function parseNestedState(blob: Uint8Array): ParsedDump[] {
  return parseNestedStateRaw(bytes("parseNestedState", "blob", blob));
}

/** The lines of KVM's kvm_nested_vmenter_failed tracepoint in a log. */
export function parseKvmTracepoint(log: string): TracepointLine[] {
  return parseKvmTracepointRaw(text("parseKvmTracepoint", "log", log));
}

/**
 * A CPU profile document from the output of QEMU's `scripts/kvm/vmxcap` (give it to {@link decodeProfile}).
 *
 * @param name - the profile's name
 */
export function parseVmxcap(output: string, name?: string): ProfileData {
  text("parseVmxcap", "output", output);
  if (name !== undefined) text("parseVmxcap", "name", name);
  return parseVmxcapRaw(output, name);
}

/** A state printed as Linux KVM's dump_vmcs prints it (for tests of log readers). */
export function formatKvmDump(e: Entry, opts?: FormatOptions): string {
  entry("formatKvmDump", "e", e);
  const o = options<FormatOptions>("formatKvmDump", "opts", opts);
  optionalNumber("formatKvmDump", "opts.exitReason", o.exitReason, 0xffffffff);
  if (o.prefix !== undefined) text("formatKvmDump", "opts.prefix", o.prefix);
  return formatKvmDumpRaw(e, o);
}

/** A state as a KVM_GET_NESTED_STATE blob (vmcs12 in KVM's layout, in guest mode with a pending entry). */
export function formatNestedState(e: Entry, opts?: { launched?: boolean; exitReason?: number }): Uint8Array {
  entry("formatNestedState", "e", e);
  const o = options<{ launched?: boolean; exitReason?: number }>("formatNestedState", "opts", opts);
  optionalNumber("formatNestedState", "opts.exitReason", o.exitReason, 0xffffffff);
  return formatNestedStateRaw(e, o);
}

// ---- the generator and repair

/** The guest modes a CPU profile lets the generator build (unrestricted guest for real mode, ...). */
export function modesFor(cpu: Caps): Mode[] {
  return modesForRaw(caps("modesFor", "cpu", cpu));
}

/**
 * A state that passes every check on the CPU (and on every CPU the profile stands for), for fuzzing.
 *
 * @param seed - a whole number 0..2^32-1, or an {@link Rng}: the same seed gives the same state
 * @param opts - `mode`: the guest's mode (one of {@link MODES} that {@link modesFor} allows); `features`
 */
export function generateValid(cpu: Caps, seed: number | Rng, opts?: GenOptions): Generated {
  caps("generateValid", "cpu", cpu);
  if (!(seed instanceof Rng)) wholeNumber("generateValid", "seed", seed, 0xffffffff);
  const o = options<GenOptions>("generateValid", "opts", opts);
  if (o.mode !== undefined && !(MODES as readonly unknown[]).includes(o.mode))
    wrong("generateValid", "opts.mode", `one of ${MODES.join(", ")}`, o.mode);
  if (o.features !== undefined && !["random", "max", "min"].includes(o.features))
    wrong("generateValid", "opts.features", "one of random, max, min", o.features);
  return generateValidRaw(cpu, seed, o);
}

/**
 * Valid states at fuzzing speed (docs/generator.md): state i of the stream, in one reused VMCS store, with
 * `fill(i)`; each state built from scratch is followed by variations of its values that every check allows.
 *
 * @param seed - a whole number 0..2^32-1: the same seed gives the same states
 * @param opts - `variants`: states per state built from scratch (default 4096; 1 builds each from scratch);
 *   `mode`, `features` as for {@link generateValid}
 */
export function validStates(cpu: Caps, seed: number, opts?: VaryOptions): ValidStates {
  caps("validStates", "cpu", cpu);
  wholeNumber("validStates", "seed", seed, 0xffffffff);
  const o = options<VaryOptions>("validStates", "opts", opts);
  oneOf("validStates", "opts.mode", o.mode, MODES, true);
  oneOf("validStates", "opts.features", o.features, ["random", "max", "min"], true);
  const v = o.variants;
  if (v !== undefined && (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 2 ** 31))
    wrong("validStates", "opts.variants", "a whole number 1..2147483648", v);
  if (o.mode !== undefined) {
    const why = modeUnsupported(cpu, o.mode);
    if (why) wrong("validStates", "opts.mode", `a mode the CPU supports (${why})`, o.mode);
  }
  return new ValidStates(cpu, seed, o);
}

/**
 * The violation search of a CPU profile: for each check, a state failing exactly it (or why none exists).
 * Results are cached in the object; `nvmx gen --violate` uses it.
 */
export function violationSearch(cpu: Caps): ViolationSearch {
  return violationSearchRaw(caps("violationSearch", "cpu", cpu));
}

/** Of every check, whether the generator can violate it alone on the CPU, and why not. */
export function coverage(cpu: Caps): Coverage {
  return coverageRaw(caps("coverage", "cpu", cpu));
}

/**
 * Change few fields of a state so it passes every check (or fails exactly `opts.violate`); the input is not
 * changed (`nvmx repair`).
 */
export function repair(
  e: Entry,
  opts?: { violate?: string; seed?: number; maxSteps?: number },
): RepairResult {
  entry("repair", "e", e);
  const o = options<{ violate?: string; seed?: number; maxSteps?: number }>("repair", "opts", opts);
  if (o.violate !== undefined && (typeof o.violate !== "string" || !checkById(o.violate)))
    wrong("repair", "opts.violate", "a check id (docs/checks.md)", o.violate);
  optionalNumber("repair", "opts.seed", o.seed, 0xffffffff);
  optionalNumber("repair", "opts.maxSteps", o.maxSteps, 1_000_000);
  return repairRaw(e, o);
}

/** A generated {@link Entry} as a compact `nvmx-entry/1` document (what `nvmx gen` prints). */
export function serializeGenerated(e: Entry): EntryDocument {
  return serializeGeneratedRaw(entry("serializeGenerated", "e", e));
}

// ---- the nested model

/**
 * A Linux release's model as L0 (`v5.0`, `v6.6`, `v6.18`, `v6.19`; {@link KERNELS}).
 *
 * @throws {@link InputError} for an unknown release, listing the known ones
 */
export function kernelPreset(name: string): KernelPreset {
  return kernelPresetRaw(text("kernelPreset", "name", name));
}

/** L1's view of VMX: what the kernel's nested VMX offers L1 on the host CPU. */
export function l1Profile(preset: KernelPreset, host: Caps): Caps {
  if (!isObject(preset) || typeof preset["id"] !== "string")
    wrong("l1Profile", "preset", "a KernelPreset", preset);
  return l1ProfileRaw(preset, caps("l1Profile", "host", host));
}

/**
 * L0 (a Linux release) emulating L1's VMLAUNCH/VMRESUME of a vmcs12, step by step: its software checks, the
 * dry run, the merge into vmcs02, the real entry — what L1 sees, and what the architecture prescribes.
 *
 * @param cfg - the kernel and its parameters ({@link DEFAULT_NESTED_CONFIG} with changes)
 */
export function runNested(input: NestedInput, cfg: NestedConfig): NestedResult {
  if (!isObject(input)) wrong("runNested", "input", "{ vmcs12, host, l1? }", input);
  entry("runNested", "input.vmcs12", input["vmcs12"]);
  caps("runNested", "input.host", input["host"]);
  optionalCaps("runNested", "input.l1", input["l1"]);
  nestedConfig("runNested", "cfg", cfg);
  validateConfig(cfg);
  return runNestedRaw(input, cfg);
}

/** A corpus of vmcs12 states under every configuration of a kernel (`nvmx nested --compare`). */
export function compareCorpus(
  entries: readonly Entry[],
  kernel: string,
  host: Caps,
  opts?: CompareOptions,
): CompareRow[] {
  if (!Array.isArray(entries)) wrong("compareCorpus", "entries", "an array of Entry", entries);
  for (const [i, e] of entries.entries()) entry("compareCorpus", `entries[${i}]`, e);
  text("compareCorpus", "kernel", kernel);
  caps("compareCorpus", "host", host);
  return compareCorpusRaw(entries, kernel, host, options<CompareOptions>("compareCorpus", "opts", opts));
}

/** The rules a kernel's software checks let through, with why (`nvmx nested --find-gaps`). */
export function findGaps(kernel: string, host: Caps, opts?: GapOptions): Promise<GapReport> {
  text("findGaps", "kernel", kernel);
  caps("findGaps", "host", host);
  return findGapsRaw(kernel, host, options<GapOptions>("findGaps", "opts", opts));
}

/** The vmcs12 states of a KVM_GET_NESTED_STATE blob, as entries on the host CPU. */
export function vmcs12FromNestedState(blob: Uint8Array, host: Caps): BlobVmcs12[] {
  bytes("vmcs12FromNestedState", "blob", blob);
  return vmcs12FromNestedStateRaw(blob, caps("vmcs12FromNestedState", "host", host));
}

// ---- reports

/** An {@link Outcome} in words: "VM entry fails: VMfailValid, error 7 (...)". */
export function describeOutcome(o: Outcome): string {
  if (!isObject(o) || typeof o["type"] !== "string") wrong("describeOutcome", "o", "an Outcome", o);
  return describeOutcomeRaw(o);
}

/** The report `nvmx check` prints for people: the outcome, then each violation with its values. */
export function humanReport(file: string, e: Entry, r: EntryResult, index?: number): string {
  text("humanReport", "file", file);
  entry("humanReport", "e", e);
  if (!isObject(r) || !isObject(r["outcome"]) || !Array.isArray(r["violations"]))
    wrong("humanReport", "r", "an EntryResult (from runEntry)", r);
  optionalNumber("humanReport", "index", index, Number.MAX_SAFE_INTEGER);
  return humanReportRaw(file, e, r, index);
}
