/** nvmx library API. */
export * from "./arch/controls.js";
export * from "./arch/exits.js";
export * from "./arch/fields.js";
export * from "./arch/msrs.js";
export * from "./arch/registers.js";
export { CHECKS, checkById, SECTIONS } from "./checks/registry.js";
export type { Check, CheckClass, Outcome } from "./checks/types.js";
export { Ctx } from "./checks/types.js";
export { builtinNames, builtinProfile, DEFAULT_PROFILE, defaultProfile } from "./cpu/builtin.js";
export { PERMISSIVE_PROFILE, permissiveProfile, STRICTER_VARIANTS } from "./cpu/permissive.js";
export { type Caps, decodeProfile, type ProfileData } from "./cpu/profile.js";
export {
  type Entry,
  type EntryDocument,
  FORMAT,
  parseEntry,
  parseEntryText,
  serializeEntry,
} from "./entry/document.js";
export { type EntryResult, evaluate, type Violation } from "./entry/evaluate.js";
export { DEFAULT_PROCESSOR, type ProcessorState } from "./entry/processor.js";
export { contextOf, runEntry } from "./entry/run.js";
export { InputError } from "./errors.js";
export { detectFormat, type ParsedInput, parseInput } from "./formats/detect.js";
export { type Converted, dumpToEntry } from "./formats/entry.js";
export { type Explanation, explainDump, explanationJson } from "./formats/explain.js";
export { formatKvmDump, parseKvmDump } from "./formats/kvm-dump.js";
export {
  describeTracepointLine,
  looksLikeKvmTracepoint,
  parseKvmTracepoint,
  type TracepointLine,
} from "./formats/kvm-tracepoint.js";
export { formatNestedState, parseNestedState, VMCS12_REVISION } from "./formats/nested-state.js";
export { parseQemuRegs } from "./formats/qemu-regs.js";
export { decodeHardwareError, describeReported } from "./formats/reported.js";
export type { DumpFormat, InputFormat, ParsedDump, Reported } from "./formats/types.js";
export { parseVmxcap } from "./formats/vmxcap.js";
export { parseXenDump } from "./formats/xen-dump.js";
/**
 * The nested VM-entry model (src/nested): a named Linux release as L0 emulating L1's VMLAUNCH/VMRESUME.
 * The main entry points are at the top level; everything else (presets' types, the merge, the cost model)
 * is in the `nested` namespace.
 */
export * as nested from "./nested/index.js";
export {
  ALL_RAM,
  type CompareRow,
  compareCorpus,
  configurations,
  DEFAULT_CONFIG as DEFAULT_NESTED_CONFIG,
  type Divergence,
  type EarlyCheckParam,
  findGaps,
  type Gap,
  type GapReport,
  KERNELS,
  type KernelCheck,
  type KernelId,
  type KernelPreset,
  kernelPreset,
  type L1View,
  l1Profile,
  NEWEST_KERNEL,
  type NestedConfig,
  type NestedInput,
  type NestedResult,
  runNested,
  vmcs12FromNestedState,
} from "./nested/index.js";
export { describeOutcome, humanReport } from "./report.js";
export { Memory } from "./vmcs/memory.js";
export { Vmcs } from "./vmcs/store.js";

import { parseEntry } from "./entry/document.js";
import type { EntryResult } from "./entry/evaluate.js";
import { runEntry } from "./entry/run.js";

/** Check one `nvmx-entry/1` document (already parsed JSON). Throws InputError on a bad document. */
export function check(doc: unknown): EntryResult {
  return runEntry(parseEntry(doc));
}
export { type Change, type RepairResult, repair } from "./gen/repair.js";
export { Rng } from "./gen/rng.js";
export { serializeGenerated } from "./gen/serialize.js";
export { type Generated, type GenOptions, generateValid, MODES, type Mode, modesFor } from "./gen/valid.js";
export { type Coverage, coverage, type ViolationResult, violationSearch } from "./gen/violate.js";
