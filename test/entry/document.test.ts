/**
 * The `nvmx-entry/1` document (src/entry/document.ts): what parseEntry accepts and how it resolves it, and for
 * every rejection the message and the JSON path users read; serializeEntry's document, key by key.
 */
import { describe, expect, it } from "vitest";
import { F } from "../../src/arch/fields.js";
import { builtinData, builtinProfile, defaultProfile } from "../../src/cpu/builtin.js";
import { type Entry, parseEntry, parseEntryText, serializeEntry } from "../../src/entry/document.js";
import { DEFAULT_PROCESSOR } from "../../src/entry/processor.js";
import { InputError } from "../../src/errors.js";
import { Memory } from "../../src/vmcs/memory.js";
import { Vmcs } from "../../src/vmcs/store.js";

const sky = builtinProfile("skylake");

/** The error a document gets: its location (JSON path) and reason. */
function rejects(doc: unknown): { location: string | undefined; reason: string } {
  try {
    parseEntry(doc);
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return { location: (e as InputError).location, reason: (e as InputError).reason };
  }
  throw new Error(`accepted: ${JSON.stringify(doc)}`);
}
const withVmcs = (vmcs: Record<string, unknown>) => rejects({ vmcs });
const withProcessor = (processor: unknown) => rejects({ vmcs: {}, processor });
const withMemory = (memory: unknown) => rejects({ vmcs: {}, memory });
const field = (e: Entry, name: string) => e.vmcs.get(F[name]!);

describe("parseEntry: the top level", () => {
  it("a document is a JSON object", () => {
    for (const doc of [[], null, "x", 1])
      expect(rejects(doc)).toEqual({
        location: undefined,
        reason: "an entry document must be a JSON object",
      });
  });

  it("an unknown key is named, with the keys a document may have", () => {
    expect(rejects({ vmcs: {}, vmcss: {} })).toEqual({
      location: "vmcss",
      reason:
        'unknown key "vmcss" (expected $schema, format, cpu, processor, vmcs, memory, comment, description)',
    });
  });

  it("$schema, comment and description are strings when given", () => {
    for (const k of ["$schema", "comment", "description"]) {
      expect(rejects({ vmcs: {}, [k]: 1 })).toEqual({ location: k, reason: `${k} must be a string` });
      expect(parseEntry({ vmcs: {}, [k]: "text" }).caps).toBe(defaultProfile());
    }
  });

  it("format is nvmx-entry/1 when given", () => {
    expect(rejects({ vmcs: {}, format: "nvmx-entry/2" })).toEqual({
      location: "format",
      reason: 'format must be "nvmx-entry/1", got "nvmx-entry/2"',
    });
    expect(parseEntry({ format: "nvmx-entry/1", vmcs: {} }).caps).toBe(defaultProfile());
  });

  it("vmcs is an object", () => {
    for (const vmcs of [[], "x", null, undefined])
      expect(rejects({ vmcs })).toEqual({
        location: "vmcs",
        reason: "vmcs must be an object of field values",
      });
  });
});

describe("parseEntry: cpu", () => {
  it("a name, an inline profile, or the default; the value given is kept for serialisation", () => {
    const named = parseEntry({ cpu: "skylake", vmcs: {} });
    expect([named.caps, named.cpu]).toEqual([sky, "skylake"]);
    const data = structuredClone(builtinData("skylake")!);
    const inline = parseEntry({ cpu: data, vmcs: {} });
    expect(inline.caps.ctl.proc.may1).toBe(sky.ctl.proc.may1);
    expect(inline.cpu).toBe(data);
    const none = parseEntry({ vmcs: {} });
    expect(none.caps).toBe(defaultProfile());
    expect("cpu" in none).toBe(false);
  });

  it("anything else is an error naming cpu", () => {
    for (const cpu of [5, [], true])
      expect(rejects({ cpu, vmcs: {} })).toEqual({
        location: "cpu",
        reason: "cpu must be a profile name or an inline profile object",
      });
  });

  it("--cpu overrides the document's cpu, which is then neither read nor kept", () => {
    const e = parseEntry({ cpu: 5, vmcs: {} }, { cpu: sky });
    expect(e.caps).toBe(sky);
    expect("cpu" in e).toBe(false);
    expect(parseEntry({ cpu: "nehalem", vmcs: {} }, { cpu: sky }).caps).toBe(sky);
  });
});

describe("parseEntry: processor", () => {
  it("absent: the defaults, as a copy the caller may change", () => {
    const e = parseEntry({ vmcs: {} });
    expect(e.processor).toEqual(DEFAULT_PROCESSOR);
    e.processor.cpl = 3;
    expect(DEFAULT_PROCESSOR.cpl).toBe(0);
  });

  it("the given keys over the defaults", () => {
    const p = parseEntry({
      vmcs: {},
      processor: {
        instruction: "vmresume",
        launchState: "launched",
        ia32e: false,
        cpl: 3,
        vmxonPointer: "0x2000",
        currentVmcsPointer: "8192",
        executiveVmcsLaunchState: "clear",
      },
    }).processor;
    expect(p).toEqual({
      ...DEFAULT_PROCESSOR,
      instruction: "vmresume",
      launchState: "launched",
      ia32e: false,
      cpl: 3,
      vmxonPointer: 0x2000,
      currentVmcsPointer: 8192,
      executiveVmcsLaunchState: "clear",
    });
    expect(
      parseEntry({ vmcs: {}, processor: { instruction: "vmlaunch", launchState: "clear" } }).processor,
    ).toEqual(DEFAULT_PROCESSOR);
    expect(parseEntry({ vmcs: {}, processor: { cpl: 0, vmxonPointer: 4096 } }).processor.vmxonPointer).toBe(
      4096,
    );
    expect(
      parseEntry({ vmcs: {}, processor: { vmxonPointer: "0xFFFFFFFFFFFFF" } }).processor.vmxonPointer,
    ).toBe(2 ** 52 - 1);
  });

  it("not an object, or an unknown key (own keys only)", () => {
    const keys =
      "instruction, launchState, ia32e, cpl, vmxRoot, currentVmcsValid, inSmm, blockingByMovSs, dualMonitorActive, currentVmcsShadow, vmxonPointer, currentVmcsPointer, executiveVmcsLaunchState";
    for (const p of [[], "x", 1])
      expect(withProcessor(p)).toEqual({ location: "processor", reason: "processor must be an object" });
    for (const k of ["cpu", "toString", "constructor"])
      expect(withProcessor({ [k]: 0 })).toEqual({
        location: `processor.${k}`,
        reason: `unknown key (expected ${keys})`,
      });
  });

  it("a value of the wrong kind: what was expected, and what was given", () => {
    const cases: [string, unknown, string][] = [
      ["inSmm", 1, "expected true or false, got 1"],
      ["vmxRoot", "true", 'expected true or false, got "true"'],
      ["instruction", "vmcall", 'expected "vmlaunch" or "vmresume", got "vmcall"'],
      ["launchState", "dirty", 'expected "clear" or "launched", got "dirty"'],
      ["executiveVmcsLaunchState", true, 'expected "clear" or "launched", got true'],
      ["cpl", 4, "expected a CPL 0..3, got 4"],
      ["cpl", -1, "expected a CPL 0..3, got -1"],
      ["cpl", 1.5, "expected a CPL 0..3, got 1.5"],
      ["cpl", "0", 'expected a CPL 0..3, got "0"'],
    ];
    const addr = 'expected a physical address below 2^52 ("0x..." or an integer)';
    for (const v of ["0x10000000000000", 2 ** 52, "zz", "0x", -1, "1e3", " 12", true])
      cases.push([
        "vmxonPointer",
        v,
        `${addr}, got ${typeof v === "string" ? JSON.stringify(v) : String(v)}`,
      ]);
    for (const [k, v, reason] of cases)
      expect(withProcessor({ [k]: v }), `${k}: ${String(v)}`).toEqual({ location: `processor.${k}`, reason });
  });
});

describe("parseEntry: vmcs", () => {
  it("names, encodings, _HIGH halves; the high half alone keeps the low one", () => {
    const e = parseEntry({
      vmcs: {
        VMCS_LINK_POINTER: "0x5",
        VMCS_LINK_POINTER_HIGH: "0x7",
        "0x6800": 0x31,
        GUEST_CS_SELECTOR: "0xffff",
        GUEST_CS_LIMIT: "0xffffffff",
        GUEST_RIP: "0xffffffffffffffff",
      },
    });
    expect(field(e, "VMCS_LINK_POINTER")).toBe(0x700000005n);
    expect(field(e, "GUEST_CR0")).toBe(0x31n);
    expect(field(e, "GUEST_CS_SELECTOR")).toBe(0xffffn);
    expect(field(e, "GUEST_CS_LIMIT")).toBe(0xffffffffn);
    expect(field(e, "GUEST_RIP")).toBe(0xffffffffffffffffn);
  });

  it("inherited keys of the vmcs object are not fields", () => {
    const vmcs = Object.create({ GUEST_CR0: "0x1" }) as Record<string, unknown>;
    vmcs["GUEST_CR4"] = "0x2000";
    const e = parseEntry({ vmcs });
    expect([field(e, "GUEST_CR0"), field(e, "GUEST_CR4")]).toEqual([0n, 0x2000n]);
  });

  it("an unknown or read-only field", () => {
    expect(withVmcs({ GUEST_FOO: "0x1" })).toEqual({
      location: "vmcs.GUEST_FOO",
      reason: "unknown VMCS field (use KVM's enum vmcs_field name or a hex encoding)",
    });
    expect(withVmcs({ VM_EXIT_REASON: "0x21" })).toEqual({
      location: "vmcs.VM_EXIT_REASON",
      reason: "VM_EXIT_REASON is a read-only VM-exit information field; VM entry does not read it",
    });
  });

  it("a malformed value, or a number too wide for the field", () => {
    const cases: [string, unknown, string][] = [
      [
        "GUEST_CR0",
        "0xzz",
        'malformed value "0xzz": expected "0x..." hex, a decimal string or a safe integer',
      ],
      ["GUEST_CR0", -1, 'malformed value -1: expected "0x..." hex, a decimal string or a safe integer'],
      [
        "GUEST_CR0",
        "0x10000000000000000",
        'value "0x10000000000000000" does not fit the natural-width field GUEST_CR0',
      ],
      [
        "VMCS_LINK_POINTER",
        "18446744073709551616",
        'value "18446744073709551616" does not fit the 64-bit field VMCS_LINK_POINTER',
      ],
      ["GUEST_CS_SELECTOR", "0x10000", "value 0x10000 does not fit the 16-bit field GUEST_CS_SELECTOR"],
      [
        "GUEST_CS_SELECTOR",
        "0x100000000",
        "value 0x100000000 does not fit the 16-bit field GUEST_CS_SELECTOR",
      ],
      ["GUEST_CS_LIMIT", "0x100000000", "value 0x100000000 does not fit the 32-bit field GUEST_CS_LIMIT"],
      [
        "VMCS_LINK_POINTER_HIGH",
        "0x100000000",
        "value 0x100000000 does not fit the high 32 bits of the field VMCS_LINK_POINTER",
      ],
    ];
    for (const [k, v, reason] of cases)
      expect(withVmcs({ [k]: v }), k).toEqual({ location: `vmcs.${k}`, reason });
  });
});

describe("parseEntry: memory", () => {
  it("64-bit words from 8-byte-aligned hex addresses, one after another", () => {
    const m = parseEntry({
      vmcs: {},
      memory: { "0x1000": ["0x1", "0xffffffffffffffff"], "0xFFFFFFFFFFFF8": ["0x2"] },
    }).memory;
    expect(m.entries64()).toEqual([
      [0x1000, 1n],
      [0x1008, 0xffffffffffffffffn],
      [2 ** 52 - 8, 2n],
    ]);
  });

  it("each problem named at its key or word", () => {
    const cases: [unknown, string, string][] = [
      [[], "memory", "memory must be an object"],
      ["x", "memory", "memory must be an object"],
      [{ "4096": ["0x1"] }, "memory.4096", "memory keys must be hex physical addresses"],
      [{ "0x1000x": ["0x1"] }, "memory.0x1000x", "memory keys must be hex physical addresses"],
      [{ a0x1000: ["0x1"] }, "memory.a0x1000", "memory keys must be hex physical addresses"],
      [{ "0x1004": ["0x1"] }, "memory.0x1004", "memory addresses must be 8-byte aligned"],
      [{ "0x10000000000000": ["0x1"] }, "memory.0x10000000000000", "address beyond 52 bits"],
      [{ "0x1000": "0x1" }, "memory.0x1000", "expected an array of 64-bit hex words"],
      [{ "0x1000": ["0x1", "0xzz"] }, "memory.0x1000[1]", 'malformed 64-bit word "0xzz"'],
      [
        { "0x1000": ["0x10000000000000000"] },
        "memory.0x1000[0]",
        'malformed 64-bit word "0x10000000000000000"',
      ],
      [{ "0x1000": [1] }, "memory.0x1000[0]", "malformed 64-bit word 1"],
      [{ "0x1000": ["1"] }, "memory.0x1000[0]", 'malformed 64-bit word "1"'],
      [{ "0x1000": ["x0x1"] }, "memory.0x1000[0]", 'malformed 64-bit word "x0x1"'],
      [{ "0x1000": ["0x12g"] }, "memory.0x1000[0]", 'malformed 64-bit word "0x12g"'],
      [{ "0x1000": [["0x1"]] }, "memory.0x1000[0]", "malformed 64-bit word an array"],
    ];
    for (const [memory, location, reason] of cases)
      expect(withMemory(memory), location).toEqual({ location, reason });
  });
});

describe("parseEntryText", () => {
  it("JSON syntax errors are input errors; a document is parsed as parseEntry does", () => {
    expect(() => parseEntryText("{")).toThrow(InputError);
    expect(() => parseEntryText("{")).toThrow(/^not valid JSON: \S/);
    expect(parseEntryText('{"vmcs":{"GUEST_CR0":"0x31"}}', { cpu: sky }).caps).toBe(sky);
    expect(() => parseEntryText('{"vmcs":{"GUEST_FOO":1}}')).toThrow(/^vmcs\.GUEST_FOO: unknown VMCS field/);
  });
});

describe("serializeEntry", () => {
  it("format, cpu, the processor keys that differ from the defaults, nonzero fields, memory runs by first address", () => {
    const vmcs = new Vmcs();
    vmcs.set(F.GUEST_CR0!, 0x80000031n);
    vmcs.set(F.VMCS_LINK_POINTER!, 0xffffffffffffffffn);
    const memory = new Memory();
    memory.write64(0x1000, 1n);
    memory.write64(0x1008, 0xabcn);
    memory.write64(0x2000, 0x10n);
    memory.write64(0x2010, 0x20n);
    const processor = { ...DEFAULT_PROCESSOR, cpl: 3, currentVmcsPointer: 0x3000, vmxonPointer: undefined };
    const doc = serializeEntry({ caps: sky, processor, vmcs, memory });
    expect(doc).toEqual({
      format: "nvmx-entry/1",
      cpu: "skylake",
      processor: { cpl: 3, currentVmcsPointer: 0x3000 },
      vmcs: { GUEST_CR0: "0x80000031", VMCS_LINK_POINTER: "0xffffffffffffffff" },
      memory: {
        "0x1000": ["0x0000000000000001", "0x0000000000000abc"],
        "0x2000": ["0x0000000000000010"],
        "0x2010": ["0x0000000000000020"],
      },
    });
    expect(Object.keys(doc)).toEqual(["format", "vmcs", "cpu", "processor", "memory"]);
    // keys only for values that differ (toEqual above passes over undefined values)
    expect(Object.keys(doc.processor!)).toEqual(["cpl", "currentVmcsPointer"]);
    // round trip
    const back = parseEntry(JSON.parse(JSON.stringify(doc)));
    expect([...back.vmcs.v]).toEqual([...vmcs.v]);
    expect(back.memory.entries64()).toEqual(memory.entries64());
  });

  it("the cpu value as the document gave it; no processor or memory key when there is nothing to say", () => {
    const data = structuredClone(builtinData("skylake")!);
    const e = parseEntry({ cpu: data, vmcs: {} });
    expect(serializeEntry(e)).toEqual({ format: "nvmx-entry/1", cpu: data, vmcs: {} });
    const first = parseEntry({ vmcs: {}, memory: { "0x0": ["0x5"] } });
    expect(serializeEntry(first).memory).toEqual({ "0x0": ["0x0000000000000005"] });
  });
});
