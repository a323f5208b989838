// Generates the JSON Schemas of the contract (docs/contract.md) from the tables they describe: schemas/*.json.
// `npm run schemas` regenerates them (it reads dist/); test/contract/schemas.test.ts fails when they are stale.
import { writeFileSync } from "node:fs";
import { DOCUMENT_KEYS, FIELDS } from "../dist/arch/fields.js";
import { CAPABILITY_MSRS } from "../dist/arch/msrs.js";
import { HEX64 as HEX64_RE } from "../dist/cpu/cpuid.js";
import { DEFAULT_PROCESSOR } from "../dist/entry/processor.js";

// Hex with any number of leading zeros: the pattern the profile reader itself uses.
const HEX64 = HEX64_RE.source;
const BASE = "urn:nvmx:schema";
const hex = (n) => `0x${n.toString(16).padStart(4, "0")}`;

/** Every field's encoding (and the high access of a 64-bit field), in hex, any case, leading zeros allowed. */
function encodingPattern() {
  const encs = FIELDS.flatMap((f) => (f.width === 64 ? [f.encoding, f.encoding + 1] : [f.encoding]));
  const alt = encs
    .sort((a, b) => a - b)
    .map((e) => e.toString(16).replace(/[a-f]/g, (c) => `[${c}${c.toUpperCase()}]`))
    .join("|");
  return `^0[xX]0*(${alt})$`;
}

export function entrySchema() {
  const widthText = (f) => (f.width === "natural" ? "natural-width" : `${f.width}-bit`);
  const properties = {};
  for (const f of FIELDS)
    properties[f.name] = {
      $ref: "#/$defs/value",
      description: `${f.aliases[0]} (encoding ${hex(f.encoding)}, ${widthText(f)} ${f.type} field)`,
    };
  const boolKey = (d) => ({ type: "boolean", default: d });
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: `${BASE}:entry:1`,
    title: "nvmx-entry/1: one attempted VM entry",
    description:
      "The CPU's capabilities, the state of the logical processor executing VMLAUNCH/VMRESUME, the current VMCS and the memory VM entry reads. docs/contract.md §1.",
    type: "object",
    additionalProperties: false,
    required: ["vmcs"],
    properties: {
      $schema: { type: "string", description: "Where an editor finds this schema; ignored by nvmx." },
      format: { const: "nvmx-entry/1" },
      cpu: {
        description: "A built-in profile name (`nvmx caps list`) or an inline profile.",
        oneOf: [{ type: "string", minLength: 1 }, { $ref: `${BASE}:profile:1` }],
      },
      processor: {
        type: "object",
        additionalProperties: false,
        properties: {
          instruction: { enum: ["vmlaunch", "vmresume"], default: DEFAULT_PROCESSOR.instruction },
          launchState: { enum: ["clear", "launched"], default: DEFAULT_PROCESSOR.launchState },
          ia32e: boolKey(true),
          cpl: { type: "integer", minimum: 0, maximum: 3, default: 0 },
          vmxRoot: boolKey(true),
          currentVmcsValid: boolKey(true),
          inSmm: boolKey(false),
          blockingByMovSs: boolKey(false),
          dualMonitorActive: boolKey(false),
          currentVmcsShadow: {
            ...boolKey(false),
            description: "Extension: the current VMCS is a shadow VMCS (SDM 29.1).",
          },
          vmxonPointer: {
            $ref: "#/$defs/physAddr",
            description: "Extension: the VMXON pointer (SDM 34.15.4).",
          },
          currentVmcsPointer: {
            $ref: "#/$defs/physAddr",
            description: "Extension: the current-VMCS pointer (link-pointer check, SDM 29.3.1.5).",
          },
          executiveVmcsLaunchState: {
            enum: ["clear", "launched"],
            description: "Extension: launch state of the executive VMCS (SDM 34.15.4.1).",
          },
        },
      },
      vmcs: {
        type: "object",
        description:
          "Field values. Keys: KVM enum vmcs_field names (listed as properties), the other spellings nvmx accepts, NAME_HIGH for the high half of a 64-bit field, or a hex encoding. An absent field reads as 0. A value must fit its field's width.",
        properties,
        propertyNames: {
          anyOf: [{ enum: [...DOCUMENT_KEYS.keys()].sort() }, { pattern: encodingPattern() }],
        },
        additionalProperties: { $ref: "#/$defs/value" },
      },
      memory: {
        type: "object",
        description: "64-bit words at consecutive 8-byte-aligned physical addresses from each key.",
        propertyNames: { pattern: "^0[xX][0-9a-fA-F]*[08]$" },
        additionalProperties: { type: "array", items: { type: "string", pattern: HEX64 } },
      },
      comment: { type: "string", description: "Free text (e.g. what `nvmx gen` made the state for)." },
      description: { type: "string", description: "Free text." },
    },
    $defs: {
      value: {
        description: '"0x..." hex, a decimal string, or a JSON number that is a safe non-negative integer.',
        oneOf: [
          { type: "string", pattern: HEX64 },
          { type: "string", pattern: "^0*[0-9]{1,20}$" },
          { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
        ],
      },
      physAddr: {
        description: "A physical address below 2^52.",
        oneOf: [
          { type: "string", pattern: "^0[xX]0*[0-9a-fA-F]{1,13}$" },
          { type: "string", pattern: "^0*[0-9]{1,16}$" },
          { type: "integer", minimum: 0, maximum: 2 ** 52 - 1 },
        ],
      },
    },
  };
}

export function profileSchema() {
  const msrs = {};
  for (const [name, index, sdm] of CAPABILITY_MSRS)
    msrs[name] = { type: "string", pattern: HEX64, description: `MSR ${hex(index)} (SDM ${sdm})` };
  const reg = { type: "string", pattern: "^0x[0-9a-fA-F]{1,8}$" };
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: `${BASE}:profile:1`,
    title: "nvmx CPU profile",
    description:
      "What a CPU reports: its VMX capability MSRs and the raw CPUID/MSR facts the VM-entry checks depend on. docs/contract.md §2, docs/cpu-profiles.md.",
    type: "object",
    additionalProperties: false,
    required: ["msrs"],
    properties: {
      $schema: { type: "string" },
      name: { type: "string" },
      description: { type: "string" },
      source: { type: "string", description: "Where the facts come from (cited)." },
      hypervisor: { type: "boolean", description: "CPUID.1:ECX[31]: the CPU is virtual." },
      msrs: {
        type: "object",
        additionalProperties: false,
        required: ["IA32_VMX_BASIC"],
        properties: msrs,
        description: "VMX capability MSRs by SDM name; an MSR the CPU does not have is absent.",
      },
      maxPhysAddr: { type: "integer", minimum: 32, maximum: 52, description: "CPUID.80000008H:EAX[7:0]" },
      linearAddressBits: { enum: [48, 57] },
      flags: {
        type: "array",
        items: { type: "string", pattern: "^[a-z0-9_]+$" },
        uniqueItems: true,
        description: "CPU features as Linux names them in /proc/cpuinfo.",
      },
      cpuid: {
        type: "object",
        description:
          'Raw CPUID leaves: "LEAF" or "LEAF.SUBLEAF" in hex. A leaf whose value differs between the core types of a hybrid CPU is an array, one value per core type, in the same order in every such leaf.',
        propertyNames: { pattern: "^0x[0-9a-fA-F]{1,8}(\\.[0-9a-fA-F]{1,8})?$" },
        additionalProperties: {
          oneOf: [
            { $ref: "#/$defs/cpuidRegs" },
            { type: "array", items: { $ref: "#/$defs/cpuidRegs" }, minItems: 2 },
          ],
        },
      },
      msrValues: {
        type: "object",
        description: "Non-VMX MSRs as read from the CPU, by hex index.",
        propertyNames: { pattern: "^0x[0-9a-fA-F]{1,8}$" },
        additionalProperties: { type: "string", pattern: HEX64 },
      },
      msrsImplemented: {
        type: "array",
        description:
          'MSRs the source shows to exist on this CPU: hex indices or inclusive ranges ("0x680-0x69f").',
        items: { type: "string", pattern: "^0x[0-9a-fA-F]{1,8}(-0x[0-9a-fA-F]{1,8})?$" },
        uniqueItems: true,
      },
      msrWritableBits: {
        type: "object",
        description:
          "Bits WRMSR accepts, by hex MSR index, where the processor accepts fewer than its CPUID facts imply (a hypervisor's virtual CPU, e.g. KVM's IA32_DEBUGCTL). Narrows the valid masks of IA32_DEBUGCTL, IA32_PERF_GLOBAL_CTRL, IA32_RTIT_CTL, IA32_LBR_CTL and IA32_SPEC_CTRL.",
        propertyNames: { pattern: "^0x[0-9a-fA-F]{1,8}$" },
        additionalProperties: { type: "string", pattern: HEX64 },
      },
      factSources: {
        type: "object",
        description:
          'Citation per fact: "cpuid", "cpuid.LEAF[.SUBLEAF]", "msrValues", "msrValues.0xINDEX", "msrsImplemented"; each must name a fact the profile gives.',
        propertyNames: {
          pattern:
            "^(cpuid(\\.0x[0-9a-fA-F]{1,8}(\\.[0-9a-fA-F]{1,8})?)?|msrValues(\\.0x[0-9a-fA-F]{1,8})?|msrsImplemented)$",
        },
        additionalProperties: { type: "string", minLength: 1 },
      },
    },
    $defs: {
      cpuidRegs: {
        type: "object",
        additionalProperties: false,
        required: ["eax", "ebx", "ecx", "edx"],
        properties: { eax: reg, ebx: reg, ecx: reg, edx: reg },
      },
    },
  };
}

export function resultSchema() {
  const violation = {
    type: "object",
    additionalProperties: false,
    required: ["id", "sdm", "message", "fields"],
    properties: {
      id: {
        type: "string",
        pattern: "^[a-z0-9-]+(\\.[a-z0-9-]+)+$",
        description: "Stable check id (docs/checks.md).",
      },
      sdm: { type: "string", pattern: "^[0-9]+(\\.[0-9]+)*$" },
      message: { type: "string" },
      fields: { type: "array", items: { type: "string" } },
    },
  };
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: `${BASE}:result:1`,
    title: "nvmx-result/1: what VM entry does with one state",
    description:
      "One line of `nvmx check --json`: a result, or an error record for an input nvmx could not read. docs/contract.md §2–3.",
    oneOf: [{ $ref: "#/$defs/result" }, { $ref: "#/$defs/error" }],
    $defs: {
      outcome: {
        oneOf: [
          {
            type: "object",
            additionalProperties: false,
            required: ["type"],
            properties: { type: { const: "vmfail-invalid" } },
          },
          {
            type: "object",
            additionalProperties: false,
            required: ["type", "error"],
            properties: {
              type: { const: "vmfail-valid" },
              error: { type: "integer", minimum: 1, maximum: 28 },
            },
          },
          {
            type: "object",
            additionalProperties: false,
            required: ["type", "reason", "qualification"],
            properties: {
              type: { const: "vmexit" },
              reason: { type: "integer", minimum: 0, maximum: 65535 },
              qualification: { type: "integer", minimum: 0 },
            },
          },
          {
            type: "object",
            additionalProperties: false,
            required: ["type"],
            properties: { type: { const: "entered" } },
          },
          {
            type: "object",
            additionalProperties: false,
            required: ["type", "exception"],
            properties: { type: { const: "fault" }, exception: { enum: ["#UD", "#GP(0)"] } },
          },
        ],
      },
      violation,
      possible: {
        type: "object",
        additionalProperties: false,
        required: ["why", "dependsOn", "condition", "outcome", "violations"],
        properties: {
          why: { enum: ["check-order", "unknown-field", "cpu-fact"] },
          dependsOn: { type: "array", items: { type: "string" }, minItems: 1 },
          condition: { type: "string" },
          outcome: { $ref: "#/$defs/outcome" },
          violations: { type: "array", items: { $ref: "#/$defs/violation" } },
        },
      },
      result: {
        type: "object",
        required: ["format", "nvmx", "outcome", "violations"],
        properties: {
          format: { const: "nvmx-result/1" },
          nvmx: { type: "string", description: "The nvmx version that produced the result." },
          outcome: { $ref: "#/$defs/outcome" },
          possibleOutcomes: { type: "array", items: { $ref: "#/$defs/outcome" }, minItems: 2 },
          violations: { type: "array", items: { $ref: "#/$defs/violation" } },
          possible: { type: "array", items: { $ref: "#/$defs/possible" }, minItems: 1 },
          warnings: { type: "array", items: { $ref: "#/$defs/violation" }, minItems: 1 },
          file: { type: "string" },
          line: { type: "integer", minimum: 1 },
        },
      },
      error: {
        type: "object",
        additionalProperties: false,
        required: ["error"],
        properties: {
          error: {
            type: "object",
            additionalProperties: false,
            required: ["file", "message"],
            properties: {
              file: { type: "string" },
              line: { type: "integer", minimum: 1 },
              location: { type: "string" },
              message: { type: "string" },
            },
          },
        },
      },
    },
  };
}

export const SCHEMAS = {
  "entry.schema.json": entrySchema,
  "profile.schema.json": profileSchema,
  "result.schema.json": resultSchema,
};

if (process.argv[1] === new URL(import.meta.url).pathname)
  for (const [file, make] of Object.entries(SCHEMAS))
    writeFileSync(new URL(`../schemas/${file}`, import.meta.url), `${JSON.stringify(make(), null, 2)}\n`);
