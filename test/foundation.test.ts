import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CONTROL_BITS } from "../src/arch/controls.js";
import { FIELDS, fieldByName, resolveFieldKey, typeOfEncoding, widthOfEncoding } from "../src/arch/fields.js";
import { builtinNames, builtinProfile } from "../src/cpu/builtin.js";
import { decodeProfile } from "../src/cpu/profile.js";
import { parseEntry, serializeEntry } from "../src/entry/document.js";
import { InputError } from "../src/errors.js";
import { baseEntry } from "../src/gen/base.js";
import { isCanonical } from "../src/util/u64.js";
import { Memory } from "../src/vmcs/memory.js";
import { Vmcs } from "../src/vmcs/store.js";
import { profileAll } from "./helpers.js";

describe("field table (SDM Appendix B)", () => {
  it("has no duplicate encodings or names", () => {
    expect(new Set(FIELDS.map((f) => f.encoding)).size).toBe(FIELDS.length);
    expect(new Set(FIELDS.map((f) => f.name)).size).toBe(FIELDS.length);
  });
  it("widths and types match the encoding bits", () => {
    for (const f of FIELDS) {
      expect(f.encoding & 1, f.name).toBe(0);
      expect(f.width).toBe(widthOfEncoding(f.encoding));
      expect(f.type).toBe(typeOfEncoding(f.encoding));
      // bit 12 and bits 31:15 are reserved in encodings (SDM 25.11.2)
      expect(f.encoding & ~0x6fff, f.name).toBe(0);
    }
  });
  it("names agree with the width/type the name implies", () => {
    for (const f of FIELDS) {
      if (
        f.name.startsWith("GUEST_") &&
        !["GUEST_PHYSICAL_ADDRESS", "GUEST_LINEAR_ADDRESS", "GUEST_DEADLINE_SHADOW"].includes(f.name)
      )
        expect(f.type, f.name).toBe("guest");
      if (f.name.startsWith("HOST_")) expect(f.type, f.name).toBe("host");
      if (/_AR_BYTES$|_LIMIT$/.test(f.name)) expect(f.width, f.name).toBe(32);
      if (/_SELECTOR$/.test(f.name)) expect(f.width, f.name).toBe(16);
    }
  });
  it("known encodings (spot checks against the SDM)", () => {
    expect(fieldByName("GUEST_CS_AR_BYTES")?.encoding).toBe(0x4816);
    expect(fieldByName("VMCS_LINK_POINTER")?.encoding).toBe(0x2800);
    expect(fieldByName("HOST_RIP")?.encoding).toBe(0x6c16);
    expect(fieldByName("SECONDARY_VM_EXEC_CONTROL")?.encoding).toBe(0x401e);
    expect(fieldByName("GUEST_INTR_SSP_TABLE")?.encoding).toBe(0x682c);
  });
  it("resolves aliases, encodings and _HIGH", () => {
    expect(resolveFieldKey("GUEST_AR_CS")?.field.name).toBe("GUEST_CS_AR_BYTES");
    expect(resolveFieldKey("guest_cs_ar_bytes")?.field.name).toBe("GUEST_CS_AR_BYTES");
    expect(resolveFieldKey("VMCS_GUEST_CR0")?.field.name).toBe("GUEST_CR0");
    expect(resolveFieldKey("0x4002")?.field.name).toBe("CPU_BASED_VM_EXEC_CONTROL");
    expect(resolveFieldKey("0x2801")).toEqual({ field: fieldByName("VMCS_LINK_POINTER"), high: true });
    expect(resolveFieldKey("EPT_POINTER_HIGH")?.high).toBe(true);
    expect(resolveFieldKey("0x4003")).toBeUndefined();
    expect(resolveFieldKey("NOPE")).toBeUndefined();
  });
  it("control bit tables have unique bits per word", () => {
    for (const [w, bits] of Object.entries(CONTROL_BITS))
      expect(new Set(bits.map((b) => b.bit)).size, w).toBe(bits.length);
  });
});

describe("VMCS store: VMREAD/VMWRITE (SDM 25.11.2, 33.3)", () => {
  it("unsupported component → error 12", () => {
    const v = new Vmcs();
    expect(v.vmread(0x7777)).toEqual({ ok: false, error: 12 });
    expect(v.vmwrite(0x4003, 1n)).toEqual({ ok: false, error: 12 });
  });
  it("read-only component → error 13 unless IA32_VMX_MISC[29]", () => {
    const v = new Vmcs();
    expect(v.vmwrite(0x4402, 1n)).toEqual({ ok: false, error: 13 });
    expect(v.vmwrite(0x4402, 33n, { vmwriteAnyField: true }).ok).toBe(true);
    expect(v.vmread(0x4402)).toEqual({ ok: true, value: 33n });
  });
  it("truncates to the field width", () => {
    const v = new Vmcs();
    v.vmwrite(0x0800, 0x12345n);
    expect(v.vmread(0x0800)).toEqual({ ok: true, value: 0x2345n });
    v.vmwrite(0x4000, 0x1_0000_0016n);
    expect(v.vmread(0x4000)).toEqual({ ok: true, value: 0x16n });
  });
  it("high access and 32-bit mode", () => {
    const v = new Vmcs();
    v.vmwrite(0x2800, 0xffffffffffffffffn);
    v.vmwrite(0x2800, 0x1234n, { mode64: false });
    expect(v.vmread(0x2800)).toEqual({ ok: true, value: 0x1234n });
    v.vmwrite(0x2801, 0xabcdn);
    expect(v.vmread(0x2800)).toEqual({ ok: true, value: 0xabcd00001234n });
    expect(v.vmread(0x2801)).toEqual({ ok: true, value: 0xabcdn });
    expect(v.vmread(0x6800, false).ok).toBe(true);
    expect(v.vmread(0x4001)).toEqual({ ok: false, error: 12 });
  });
  it("memory reads what was written, zero elsewhere", () => {
    const m = new Memory();
    m.write64(0x1000, 0x1122334455667788n);
    expect(m.read32(0x1000)).toBe(0x55667788);
    expect(m.read32(0x1004)).toBe(0x11223344);
    expect(m.read8(0x1001)).toBe(0x77);
    expect(m.read64(0x2000)).toBe(0n);
  });
});

describe("CPU profiles (SDM Appendix A)", () => {
  it("decodes allowed-0/allowed-1 settings", () => {
    const c = decodeProfile({ msrs: { IA32_VMX_BASIC: "0x0", IA32_VMX_PINBASED_CTLS: "0x7f00000016" } });
    expect(c.ctl.pin.must1).toBe(0x16);
    expect(c.ctl.pin.may1).toBe(0x7f);
    expect(c.trueCtls).toBe(false);
  });
  it("uses TRUE_ MSRs for allowed-0 only when IA32_VMX_BASIC[55]", () => {
    const msrs = {
      IA32_VMX_PINBASED_CTLS: "0x7f00000016",
      IA32_VMX_TRUE_PINBASED_CTLS: "0x7f00000010",
    };
    expect(decodeProfile({ msrs: { ...msrs, IA32_VMX_BASIC: "0x80000000000000" } }).ctl.pin.must1).toBe(0x10);
    expect(decodeProfile({ msrs: { ...msrs, IA32_VMX_BASIC: "0x0" } }).ctl.pin.must1).toBe(0x16);
  });
  it("reads secondary controls only when primary bit 63 allows them", () => {
    const c = decodeProfile({
      msrs: {
        IA32_VMX_BASIC: "0x0",
        IA32_VMX_PROCBASED_CTLS: "0x7fffffff00000000",
        IA32_VMX_PROCBASED_CTLS2: "0xff00000000",
      },
    });
    expect(c.ctl.proc2.may1).toBe(0);
  });
  it("physical-address width: MAXPHYADDR and IA32_VMX_BASIC[48]", () => {
    expect(decodeProfile({ msrs: { IA32_VMX_BASIC: "0x0" }, maxPhysAddr: 39 }).physReservedHi).toBe(
      0xffffff80,
    );
    const c = decodeProfile({ msrs: { IA32_VMX_BASIC: "0x1000000000000" }, maxPhysAddr: 39 });
    expect(c.addr32).toBe(true);
    expect(c.physReservedHi).toBe(0xffffffff);
  });
  it("decodes MISC", () => {
    const c = decodeProfile({ msrs: { IA32_VMX_BASIC: "0x0", IA32_VMX_MISC: "0x7004c1e7" } });
    expect(c.cr3Targets).toBe(4);
    expect(c.activityHlt && c.activityShutdown && c.activityWaitSipi).toBe(true);
    expect(c.preemptionRate).toBe(7);
    expect(c.vmwriteAnyField).toBe(true);
    expect(c.zeroLengthInjection).toBe(true);
  });
  it("rejects bad profiles with the key named", () => {
    const where = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as InputError).describe();
      }
      return "";
    };
    expect(where(() => decodeProfile({ msrs: { IA32_VMX_BASIC: "zz" } }))).toMatch(
      /cpu\.msrs\.IA32_VMX_BASIC: malformed/,
    );
    expect(() => decodeProfile({ msrs: { IA32_VMX_FOO: "0x1" } as never })).toThrow(/unknown capability MSR/);
    expect(() => decodeProfile({ msrs: {} })).toThrow(/IA32_VMX_BASIC is required/);
  });
  it("built-in profiles are consistent", () => {
    expect(builtinNames().length).toBeGreaterThanOrEqual(7);
    for (const n of builtinNames()) {
      const c = builtinProfile(n);
      for (const [w, a] of Object.entries(c.ctl))
        expect(a.must1 & ~a.may1, `${n} ${w}: allowed-0 ⊆ allowed-1`).toBe(0);
      expect(c.cr0Fixed0 & ~c.cr0Fixed1, n).toBe(0);
      expect(c.cr4Fixed0 & ~c.cr4Fixed1, n).toBe(0);
      expect(c.source.length, `${n} names its source`).toBeGreaterThan(0);
    }
  });
  it("the base state is valid on every built-in profile", async () => {
    const { runEntry } = await import("../src/entry/run.js");
    for (const n of builtinNames()) {
      const r = runEntry(baseEntry(builtinProfile(n)));
      expect(
        r.violations.map((v) => `${v.id}: ${v.message}`),
        n,
      ).toEqual([]);
    }
  });
});

describe("entry documents (interface.md §1)", () => {
  const err = (doc: unknown) => {
    try {
      parseEntry(doc);
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      return (e as InputError).describe();
    }
    throw new Error("no error");
  };
  it("reports unknown fields, too-wide values, read-only fields, bad hex, unknown profiles", () => {
    expect(err({ vmcs: { GUEST_FOO: "0x1" } })).toMatch(/vmcs\.GUEST_FOO: unknown VMCS field/);
    expect(err({ vmcs: { GUEST_CS_SELECTOR: "0x10000" } })).toMatch(/does not fit the 16-bit field/);
    expect(err({ vmcs: { VM_EXIT_REASON: "0x21" } })).toMatch(/read-only/);
    expect(err({ vmcs: { GUEST_CR0: "0xzz" } })).toMatch(/vmcs\.GUEST_CR0: malformed value/);
    expect(err({ vmcs: { GUEST_CR0: -1 } })).toMatch(/malformed/);
    expect(err({ vmcs: {}, cpu: "pentium" })).toMatch(/unknown CPU profile "pentium"/);
    expect(err({ vmcs: {}, format: "nvmx-entry/2" })).toMatch(/format/);
    expect(err({ vmcs: {}, processor: { launchState: "dirty" } })).toMatch(/processor\.launchState/);
    expect(err({ vmcs: {}, memory: { "0x1004": ["0x1"] } })).toMatch(/8-byte aligned/);
    expect(err([])).toMatch(/JSON object/);
    expect(err({})).toMatch(/vmcs must be an object/);
  });
  it("accepts names, encodings, decimal strings and numbers", () => {
    const e = parseEntry({
      vmcs: { GUEST_CR0: "0x80000031", "0x681e": "4096", GUEST_RSP: 16, "0x2801": "0x1" },
    });
    expect(e.vmcs.getByName("GUEST_CR0")).toBe(0x80000031n);
    expect(e.vmcs.getByName("GUEST_RIP")).toBe(4096n);
    expect(e.vmcs.getByName("GUEST_RSP")).toBe(16n);
    expect(e.vmcs.getByName("VMCS_LINK_POINTER")).toBe(0x100000000n);
  });
  it("parse ∘ serialize is the identity on states", () => {
    const caps = profileAll();
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: FIELDS.length - 1 }),
            fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
          ),
          {
            maxLength: 20,
          },
        ),
        fc.array(
          fc.tuple(fc.integer({ min: 0, max: 1 << 20 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
          {
            maxLength: 5,
          },
        ),
        (writes, mem) => {
          const e = baseEntry(builtinProfile("skylake"));
          for (const [i, v] of writes) if (FIELDS[i]!.type !== "read-only") e.vmcs.set(i, v);
          for (const [a, v] of mem) e.memory.write64(a * 8, v);
          const doc = JSON.parse(JSON.stringify(serializeEntry(e)));
          const back = parseEntry(doc);
          expect([...back.vmcs.v]).toEqual([...e.vmcs.v]);
          expect(back.memory.entries64()).toEqual(e.memory.entries64());
          void caps;
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("canonical addresses", () => {
  it("matches a BigInt formulation", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constantFrom(48, 57), (v, bits) => {
        const top = v >> BigInt(bits - 1);
        const want = top === 0n || top === (1n << BigInt(65 - bits)) - 1n;
        expect(isCanonical(Number(v & 0xffffffffn), Number(v >> 32n), bits)).toBe(want);
      }),
    );
  });
});

describe("profiles with IA32_VMX_BASIC[55] but no TRUE_ MSRs", () => {
  it("do not require the default1 bits (no false violation from a missing capability MSR)", () => {
    const c = decodeProfile({
      msrs: { IA32_VMX_BASIC: "0x80000000000000", IA32_VMX_PINBASED_CTLS: "0x7f00000016" },
    });
    expect(c.ctl.pin.must1).toBe(0);
    expect(c.ctl.pin.may1).toBe(0x7f);
  });
});

describe("value parsing", () => {
  it("parseHalves agrees with the BigInt parser on hex, decimal and numbers", async () => {
    const { parseHalves, parseU64 } = await import("../src/util/u64.js");
    // The entry schema's syntax: parseU64 without its trimming of surrounding spaces (kept for log parsers).
    const ref = (v: unknown) => {
      if (typeof v === "string" && v !== v.trim()) return undefined;
      const b = parseU64(v);
      return b === undefined || b >= 1n << 64n ? undefined : [Number(b & 0xffffffffn), Number(b >> 32n)];
    };
    fc.assert(
      fc.property(
        fc.oneof(
          fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((b) => `0x${b.toString(16)}`),
          fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((b) => `0X${b.toString(16).toUpperCase()}`),
          fc.bigInt({ min: 0n, max: 1n << 66n }).map((b) => b.toString()),
          fc.string({ maxLength: 20 }),
          fc.constantFrom("0x", "0x0000000000000000001", "0xg", "-1", " 0x1", "1e3"),
          fc.integer({ min: -5, max: Number.MAX_SAFE_INTEGER }),
        ),
        (v) => {
          expect(parseHalves(v)).toEqual(ref(v));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
