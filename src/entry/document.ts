/** The `nvmx-entry/1` entry document (docs/contract.md §1): parse with precise errors, and serialise back. */
import { FIELDS, resolveFieldKey } from "../arch/fields.js";
import { builtinProfile, defaultProfile } from "../cpu/builtin.js";
import { type Caps, decodeProfile, type ProfileData } from "../cpu/profile.js";
import { InputError, preview } from "../errors.js";
import { isNumberSyntax, parseHalves, parseU64 } from "../util/u64.js";
import { Memory } from "../vmcs/memory.js";
import { Vmcs } from "../vmcs/store.js";
import { DEFAULT_PROCESSOR, type ProcessorState } from "./processor.js";

/** The entry document format's id (`format` of a document). */
export const FORMAT = "nvmx-entry/1";

/** KVM names → field, for the common case of the entry-document hot path. */
const FIELD_BY_NAME = new Map(FIELDS.map((f) => [f.name, f]));

/** A resolved entry: everything the checker needs. */
export interface Entry {
  caps: Caps;
  processor: ProcessorState;
  vmcs: Vmcs;
  memory: Memory;
  /** The `cpu` value as given (name or inline object), for serialisation. */
  cpu?: string | ProfileData;
}

/** An `nvmx-entry/1` document as JSON holds it (docs/contract.md §1, schemas/entry.schema.json). */
export interface EntryDocument {
  format?: string;
  cpu?: string | ProfileData;
  processor?: Partial<ProcessorState>;
  vmcs: Record<string, string | number>;
  memory?: Record<string, string[]>;
}

/** The keys of `processor` and the kind of value each takes. */
export const PROCESSOR_KEYS: Readonly<
  Record<keyof ProcessorState, "bool" | "instruction" | "launch" | "cpl" | "addr">
> = {
  instruction: "instruction",
  launchState: "launch",
  ia32e: "bool",
  cpl: "cpl",
  vmxRoot: "bool",
  currentVmcsValid: "bool",
  inSmm: "bool",
  blockingByMovSs: "bool",
  dualMonitorActive: "bool",
  currentVmcsShadow: "bool",
  vmxonPointer: "addr",
  currentVmcsPointer: "addr",
  executiveVmcsLaunchState: "launch",
};

const TOP_KEYS = new Set([
  "$schema",
  "format",
  "cpu",
  "processor",
  "vmcs",
  "memory",
  "comment",
  "description",
]);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Options of parseEntry and parseEntryText. */
export interface ParseOptions {
  /** Overrides the document's `cpu` (CLI `--cpu`). */
  cpu?: Caps;
}

/** Validate and resolve a parsed JSON value. Throws InputError with the JSON path of the problem. */
export function parseEntry(doc: unknown, opts: ParseOptions = {}): Entry {
  if (!isObject(doc)) throw new InputError("an entry document must be a JSON object");
  for (const k of Object.keys(doc))
    if (!TOP_KEYS.has(k))
      throw new InputError(
        `unknown key "${k}" (expected $schema, format, cpu, processor, vmcs, memory, comment, description)`,
        { location: k },
      );
  for (const k of ["$schema", "comment", "description"] as const)
    if (doc[k] !== undefined && typeof doc[k] !== "string")
      throw new InputError(`${k} must be a string`, { location: k });
  if (doc["format"] !== undefined && doc["format"] !== FORMAT)
    throw new InputError(`format must be "${FORMAT}", got ${preview(doc["format"])}`, {
      location: "format",
    });
  const cpu = doc["cpu"];
  const caps = resolveCaps(cpu, opts);
  const processor: ProcessorState =
    doc["processor"] === undefined ? { ...DEFAULT_PROCESSOR } : parseProcessor(doc["processor"]);
  if (!isObject(doc["vmcs"]))
    throw new InputError("vmcs must be an object of field values", { location: "vmcs" });
  const vmcs = new Vmcs();
  parseVmcsFields(doc["vmcs"], vmcs);
  const memory = doc["memory"] === undefined ? new Memory() : parseMemory(doc["memory"]);
  const entry: Entry = { caps, processor, vmcs, memory };
  if (cpu !== undefined && !opts.cpu) entry.cpu = cpu as string | ProfileData;
  return entry;
}

/** The document's `cpu` (a built-in name or an inline profile), unless `--cpu` overrides it (then unread). */
export function resolveCaps(cpu: unknown, opts: ParseOptions): Caps {
  if (opts.cpu) return opts.cpu;
  if (cpu === undefined) return defaultProfile();
  if (typeof cpu === "string") return builtinProfile(cpu);
  if (isObject(cpu)) return decodeProfile(cpu as unknown as ProfileData, "cpu");
  throw new InputError("cpu must be a profile name or an inline profile object", { location: "cpu" });
}

/** The `processor` object: the defaults with the given keys applied. */
export function parseProcessor(value: unknown): ProcessorState {
  const processor: ProcessorState = { ...DEFAULT_PROCESSOR };
  if (!isObject(value)) throw new InputError("processor must be an object", { location: "processor" });
  for (const [k, v] of Object.entries(value)) {
    // Own keys only: `toString` and the other Object.prototype names are unknown keys like any other.
    const kind = Object.hasOwn(PROCESSOR_KEYS, k) ? PROCESSOR_KEYS[k as keyof ProcessorState] : undefined;
    const loc = `processor.${k}`;
    if (!kind)
      throw new InputError(`unknown key (expected ${Object.keys(PROCESSOR_KEYS).join(", ")})`, {
        location: loc,
      });
    const bad = (want: string) => new InputError(`expected ${want}, got ${preview(v)}`, { location: loc });
    if (kind === "bool") {
      if (typeof v !== "boolean") throw bad("true or false");
    } else if (kind === "instruction") {
      if (v !== "vmlaunch" && v !== "vmresume") throw bad('"vmlaunch" or "vmresume"');
    } else if (kind === "launch") {
      if (v !== "clear" && v !== "launched") throw bad('"clear" or "launched"');
    } else if (kind === "addr") {
      // Extension (SMM-return checks): a physical address as "0x..." hex, a decimal string or a safe integer.
      const a =
        typeof v === "string" ? (/^(0x[0-9a-f]+|[0-9]+)$/i.test(v) ? BigInt(v) : undefined) : parseU64(v);
      if (a === undefined || a >= 1n << 52n)
        throw bad('a physical address below 2^52 ("0x..." or an integer)');
      (processor as unknown as Record<string, unknown>)[k] = Number(a);
      continue;
    } else if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 3) throw bad("a CPL 0..3");
    (processor as unknown as Record<string, unknown>)[k] = v;
  }
  return processor;
}

/** Store the `vmcs` object's fields into `vmcs`, in the object's key order. */
function parseVmcsFields(fields: Record<string, unknown>, vmcs: Vmcs): void {
  for (const key in fields) {
    if (!Object.hasOwn(fields, key)) continue;
    const raw = fields[key];
    const loc = `vmcs.${key}`;
    const exact = FIELD_BY_NAME.get(key);
    const r = exact ? { field: exact, high: false } : resolveFieldKey(key);
    if (!r)
      throw new InputError("unknown VMCS field (use KVM's enum vmcs_field name or a hex encoding)", {
        location: loc,
      });
    if (r.field.type === "read-only")
      throw new InputError(
        `${r.field.name} is a read-only VM-exit information field; VM entry does not read it`,
        {
          location: loc,
        },
      );
    const h = parseHalves(raw);
    if (h === undefined) {
      throw new InputError(
        isNumberSyntax(raw)
          ? `value ${preview(raw)} does not fit the ${r.field.width === "natural" ? "natural-width" : `${r.field.width}-bit`} field ${r.field.name}`
          : `malformed value ${preview(raw)}: expected "0x..." hex, a decimal string or a safe integer`,
        { location: loc },
      );
    }
    const [lo, hi] = h;
    const w = r.high ? 32 : r.field.width;
    if ((w === 16 && (hi !== 0 || lo > 0xffff)) || (w === 32 && hi !== 0))
      throw new InputError(
        `value 0x${((BigInt(hi) << 32n) | BigInt(lo)).toString(16)} does not fit the ${r.high ? "high 32 bits of the" : `${w}-bit`} field ${r.field.name}`,
        { location: loc },
      );
    if (r.high) vmcs.setHalves(r.field.index, vmcs.lo(r.field.index), lo);
    else vmcs.setHalves(r.field.index, lo, hi);
  }
}

/** The `memory` object: 64-bit words at 8-byte-aligned physical addresses. */
export function parseMemory(value: unknown): Memory {
  const memory = new Memory();
  if (!isObject(value)) throw new InputError("memory must be an object", { location: "memory" });
  for (const [key, words] of Object.entries(value)) {
    const loc = `memory.${key}`;
    const a = /^0x[0-9a-f]+$/i.test(key) ? BigInt(key) : undefined;
    if (a === undefined)
      throw new InputError("memory keys must be hex physical addresses", { location: loc });
    if (a % 8n !== 0n) throw new InputError("memory addresses must be 8-byte aligned", { location: loc });
    if (a >= 1n << 52n) throw new InputError("address beyond 52 bits", { location: loc });
    if (!Array.isArray(words))
      throw new InputError("expected an array of 64-bit hex words", { location: loc });
    words.forEach((w, i) => {
      const v = typeof w === "string" && /^0x[0-9a-f]+$/i.test(w) ? BigInt(w) : undefined;
      if (v === undefined || v >= 1n << 64n)
        throw new InputError(`malformed 64-bit word ${preview(w)}`, { location: `${loc}[${i}]` });
      memory.write64(Number(a) + 8 * i, v);
    });
  }
  return memory;
}

/** Parse JSON text into an Entry; JSON syntax errors become InputError. */
export function parseEntryText(text: string, opts: ParseOptions = {}): Entry {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InputError(`not valid JSON: ${(e as Error).message}`);
  }
  return parseEntry(doc, opts);
}

/** Serialise an Entry to an `nvmx-entry/1` document: nonzero fields only, processor keys that differ from defaults. */
export function serializeEntry(e: Entry): EntryDocument {
  const doc: EntryDocument = { format: FORMAT, vmcs: {} };
  doc.cpu = e.cpu ?? e.caps.name;
  const p: Partial<ProcessorState> = {};
  const keys = new Set([...Object.keys(DEFAULT_PROCESSOR), ...Object.keys(e.processor)]) as Set<
    keyof ProcessorState
  >;
  for (const k of keys)
    if (e.processor[k] !== undefined && e.processor[k] !== DEFAULT_PROCESSOR[k])
      (p as Record<string, unknown>)[k] = e.processor[k];
  if (Object.keys(p).length) doc.processor = p;
  for (const f of FIELDS) {
    const v = e.vmcs.get(f.index);
    if (v !== 0n) doc.vmcs[f.name] = `0x${v.toString(16)}`;
  }
  const mem = e.memory.entries64();
  if (mem.length) {
    doc.memory = {};
    // consecutive words are grouped under their first address
    let start = -1;
    let prev = -16;
    for (const [a, v] of mem) {
      if (a !== prev + 8) {
        start = a;
        doc.memory[`0x${a.toString(16)}`] = [];
      }
      doc.memory[`0x${start.toString(16)}`]!.push(`0x${v.toString(16).padStart(16, "0")}`);
      prev = a;
    }
  }
  return doc;
}
