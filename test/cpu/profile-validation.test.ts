/** Profiles are validated strictly (issue 17 item 3, issue 20): every key known, every value of its type. */
import { describe, expect, it } from "vitest";
import { decodeProfile, PROFILE_KEYS, type ProfileData } from "../../src/cpu/profile.js";
import { InputError } from "../../src/errors.js";

const BASE: ProfileData = { msrs: { IA32_VMX_BASIC: "0xda040000000004" } };

function error(edit: (d: Record<string, unknown>) => void): InputError {
  const d = structuredClone(BASE) as unknown as Record<string, unknown>;
  edit(d);
  try {
    decodeProfile(d as unknown as ProfileData, "cpu");
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error("no error");
}

const regs = { eax: "0x7300404", ebx: "0x0", ecx: "0x0", edx: "0x603" };

describe("profile validation", () => {
  it("an unknown key names itself and lists the valid keys", () => {
    const e = error((d) => {
      d["perfGlobalCtrlValid"] = "0xff";
    });
    expect(e.location).toBe("cpu.perfGlobalCtrlValid");
    expect(e.reason).toBe(
      `unknown profile key "perfGlobalCtrlValid" (valid keys: ${PROFILE_KEYS.join(", ")})`,
    );
  });

  it.each([
    ["name", 3, "cpu.name"],
    ["hypervisor", "yes", "cpu.hypervisor"],
    ["flags", "lm nx", "cpu.flags"],
    ["cpuid", [], "cpu.cpuid"],
    ["msrValues", "0x345", "cpu.msrValues"],
    ["msrsImplemented", { "0x1d9": true }, "cpu.msrsImplemented"],
    ["msrWritableBits", ["0x1d9"], "cpu.msrWritableBits"],
    ["factSources", "VirtualBox", "cpu.factSources"],
  ])("%s of the wrong type is refused at its key", (key, value, location) => {
    expect(error((d) => (d[key] = value)).location).toBe(location);
  });

  it.each(PROFILE_KEYS.filter((k) => k !== "msrs"))(
    "%s: null is refused at its key, never read as the default",
    (key) => {
      expect(error((d) => (d[key] = null)).location).toBe(`cpu.${key}`);
    },
  );

  it("maxPhysAddr null names the value it got", () => {
    expect(error((d) => (d["maxPhysAddr"] = null)).reason).toBe(
      "maxPhysAddr must be an integer in 32..52, got null",
    );
  });

  it("CPUID keys: 'LEAF' or 'LEAF.SUBLEAF' in hex; the same leaf twice is refused", () => {
    expect(error((d) => (d["cpuid"] = { "10": regs })).message).toMatch(/malformed CPUID key "10"/);
    expect(error((d) => (d["cpuid"] = { "0x7": regs, "0x7.0": regs })).message).toMatch(/given twice/);
    expect(() =>
      decodeProfile({ ...BASE, cpuid: { "0xa": regs, "0x7.0": regs, "0xd.1": regs } }),
    ).not.toThrow();
  });

  it("CPUID registers: all four, hex, below 2^32", () => {
    expect(error((d) => (d["cpuid"] = { "0xa": { ...regs, eax: "0x100000000" } })).location).toBe(
      'cpu.cpuid["0xa"].eax',
    );
    expect(error((d) => (d["cpuid"] = { "0xa": { eax: "0x1", ebx: "0x0", ecx: "0x0" } })).reason).toBe(
      "register edx is missing",
    );
    expect(error((d) => (d["cpuid"] = { "0xa": { ...regs, esi: "0x0" } })).message).toMatch(
      /unknown register "esi"/,
    );
    expect(error((d) => (d["cpuid"] = { "0xa": { ...regs, ebx: 7 } })).message).toMatch(/32-bit hex string/);
  });

  it("per-core-type leaves must list the same core types", () => {
    const e = error((d) => (d["cpuid"] = { "0x1a": [regs, regs], "0x23.1": [regs, regs, regs] }));
    expect(e.message).toMatch(/lists 3 core types, another leaf 2/);
  });

  it("MSR values: hex index, 64-bit hex value (2^64 refused)", () => {
    expect(error((d) => (d["msrValues"] = { "0x345": "0x10000000000000000" })).location).toBe(
      'cpu.msrValues["0x345"]',
    );
    expect(error((d) => (d["msrValues"] = { "837": "0x1" })).message).toMatch(/malformed MSR index "837"/);
  });

  it("msrWritableBits: an object of 64-bit hex values by hex MSR index, named as such", () => {
    expect(error((d) => (d["msrWritableBits"] = "0x8003")).reason).toBe(
      '`msrWritableBits` must be an object of the bits WRMSR accepts by hex MSR index, e.g. {"0x1d9": "0x8003"}',
    );
    expect(error((d) => (d["msrWritableBits"] = { "0x1d9": 3 })).location).toBe(
      'cpu.msrWritableBits["0x1d9"]',
    );
    expect(error((d) => (d["msrWritableBits"] = { "1d9": "0x3" })).message).toMatch(
      /malformed MSR index "1d9"/,
    );
  });

  it("msrsImplemented: indices or ascending ranges", () => {
    expect(error((d) => (d["msrsImplemented"] = ["0x68f-0x680"])).message).toMatch(/ends before it starts/);
    expect(error((d) => (d["msrsImplemented"] = [0x1d9])).location).toBe("cpu.msrsImplemented[0]");
  });

  it("factSources must name facts the profile gives", () => {
    const e = error((d) => {
      d["cpuid"] = { "0xa": regs };
      d["factSources"] = { "cpuid.0x7.0": "somewhere" };
    });
    expect(e.message).toMatch(/"cpuid.0x7.0" names no leaf/);
    expect(error((d) => (d["factSources"] = { pmu: "x" })).message).toMatch(/unknown fact key "pmu"/);
  });
});

describe("facts a profile lacks decode to uncertainty, never to a silent default", () => {
  it("no CPUID leaf 0AH: no counter bit is definite", () => {
    const m = decodeProfile(BASE).facts.masks.perfGlobalCtrl;
    expect(m.strict).toBe(0n);
    expect(m.parts).toHaveLength(1);
    expect(m.parts[0]!.dependsOn).toEqual(["cpuid.0xa"]);
  });

  it("leaf 0AH without IA32_PERF_CAPABILITIES: PERF_METRICS possible only when fixed counter 3 exists", () => {
    const icl = { eax: "0x8300805", ebx: "0x0", ecx: "0xf", edx: "0x8604" };
    const withSlots = decodeProfile({ ...BASE, cpuid: { "0xa": icl } }).facts.masks.perfGlobalCtrl;
    expect(withSlots.parts.map((p) => [p.bits, p.dependsOn])).toEqual([[1n << 48n, ["msr.0x345"]]]);
    const noSlots = decodeProfile({ ...BASE, cpuid: { "0xa": { ...icl, ecx: "0x7", edx: "0x8603" } } }).facts
      .masks.perfGlobalCtrl;
    expect(noSlots).toMatchObject({ strict: 0x7000000ffn, lenient: 0x7000000ffn, parts: [] });
  });

  it("leaf 0 bounds the known leaves: a leaf above the maximum is all zero (known), one below it unknown", () => {
    const lowMax = decodeProfile({ ...BASE, cpuid: { "0x0": { ...regs, eax: "0x7" } } }).facts.masks
      .perfGlobalCtrl;
    expect(lowMax).toMatchObject({ strict: 0n, lenient: 0n });
    const highMax = decodeProfile({ ...BASE, cpuid: { "0x0": { ...regs, eax: "0x16" } } }).facts.masks
      .perfGlobalCtrl;
    expect(highMax.lenient).not.toBe(0n);
  });

  it("flags name features (present); a flag list cannot prove one absent", () => {
    const withFlag = decodeProfile({ ...BASE, flags: ["lm", "bus_lock_detect"] }).facts.masks.debugctl;
    expect(withFlag.strict & 4n).toBe(4n);
    const without = decodeProfile({ ...BASE, flags: ["lm"] }).facts.masks.debugctl;
    expect([without.strict & 4n, without.lenient & 4n]).toEqual([0n, 4n]);
  });
});
