/**
 * nvmx, the library: what an Intel VMX VM entry (VMLAUNCH/VMRESUME) does with a VMCS on a CPU, the log
 * readers of `nvmx explain`, the generator and repair of `nvmx gen`/`nvmx repair`, and the nested model of
 * `nvmx nested`. The API reference is docs/api (npm run docs:api); the formats are docs/contract.md.
 *
 * Every function checks its arguments: a wrong one is an {@link InputError} naming the function and the
 * parameter. Results belong to the caller (nothing is shared between calls or frozen).
 *
 * ```ts
 * import { check } from "nvmx";
 * const r = check(JSON.parse(text)); // an nvmx-entry/1 document
 * console.log(r.outcome, r.violations.map((v) => v.id));
 * ```
 * @packageDocumentation
 */

// Entry documents and their results
// CPU profiles
// Logs: KVM/Xen/QEMU dumps, nested-state blobs, KVM's tracepoint, vmxcap output
// The generator and repair
// The nested model: a Linux release as L0 emulating L1's VM entry
export {
  builtinProfile,
  check,
  compareCorpus,
  coverage,
  decodeProfile,
  describeOutcome,
  detectFormat,
  dumpToEntry,
  explainDump,
  explanationJson,
  findGaps,
  formatKvmDump,
  formatNestedState,
  generateValid,
  humanReport,
  kernelPreset,
  l1Profile,
  modesFor,
  parseEntry,
  parseEntryText,
  parseInput,
  parseKvmDump,
  parseKvmTracepoint,
  parseNestedState,
  parseQemuRegs,
  parseVmxcap,
  parseXenDump,
  repair,
  runEntry,
  runNested,
  serializeEntry,
  serializeGenerated,
  validStates,
  violationSearch,
  vmcs12FromNestedState,
} from "./api.js";
/**
 * The SDM's tables as nvmx uses them: VMCS fields (`FIELDS`, `fieldByName`), control bits (`PROC`, `EXIT`,
 * `ENTRY`, ...), register bits (`CR0`, `EFER`, ...), exit reasons, VM-instruction errors, capability MSRs.
 */
export * as arch from "./arch/index.js";
export { CHECKS, checkById, SECTIONS } from "./checks/registry.js";
export type { Check, CheckClass, Outcome } from "./checks/types.js";
export { builtinNames, DEFAULT_PROFILE, defaultProfile } from "./cpu/builtin.js";
export { PERMISSIVE_PROFILE, permissiveProfile, STRICTER_VARIANTS } from "./cpu/permissive.js";
export type { Caps, ProfileData } from "./cpu/profile.js";
export { type Entry, type EntryDocument, FORMAT, type ParseOptions } from "./entry/document.js";
export type { EntryResult, Violation } from "./entry/evaluate.js";
export { DEFAULT_PROCESSOR, type ProcessorState } from "./entry/processor.js";
export { InputError } from "./errors.js";
export type { ParsedInput } from "./formats/detect.js";
export type { Converted } from "./formats/entry.js";
export type { Explanation } from "./formats/explain.js";
export type { FormatOptions } from "./formats/kvm-dump.js";
export type { TracepointLine } from "./formats/kvm-tracepoint.js";
export { VMCS12_REVISION } from "./formats/nested-state.js";
export type { DumpFormat, InputFormat, ParsedDump, Reported } from "./formats/types.js";
export type { Change, RepairResult } from "./gen/repair.js";
export { Rng } from "./gen/rng.js";
export { type Generated, type GenOptions, MODES, type Mode } from "./gen/valid.js";
export type { ValidStates, VaryOptions } from "./gen/vary.js";
export type { Coverage, ViolationResult, ViolationSearch } from "./gen/violate.js";
export {
  type CompareOptions,
  type CompareRow,
  configurations,
  type Gap,
  type GapOptions,
  type GapReport,
} from "./nested/compare.js";
export {
  ALL_RAM,
  DEFAULT_CONFIG as DEFAULT_NESTED_CONFIG,
  type EarlyCheckParam,
  L0_BUGS,
  type L0Bug,
  type NestedConfig,
  type SoftwareChecks,
} from "./nested/config.js";
export type { Divergence, KernelCheck, KernelId, KernelPreset } from "./nested/kernel.js";
export { KERNELS, NEWEST_KERNEL } from "./nested/kernels/index.js";
export type { L1View, NestedInput, NestedResult } from "./nested/l0.js";
export type { BlobVmcs12 } from "./nested/state.js";
export { RESULT_FORMAT, VERSION } from "./version.js";
export type { Memory } from "./vmcs/memory.js";
export type { Vmcs } from "./vmcs/store.js";
