/**
 * Decoded MSR masks against observations that do not come from the data the decoder reads (issue 20 item 5):
 * VBoxCpuReport's write probes of the skylake profile's own CPU, and the counter counts Intel and Linux
 * document per microarchitecture.
 */
import { describe, expect, it } from "vitest";
import { builtinData, builtinNames, builtinProfile } from "../../src/cpu/builtin.js";
import { decodeProfile } from "../../src/cpu/profile.js";

const all = (bits: bigint) => bits & 0xffffffffffffffffn;
/** Valid bits = complement of a write-#GP mask. */
const validOf = (gpMask: bigint) => all(~gpMask);
const range = (lo: number, hi: number): bigint => ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);

/**
 * VirtualBox CPU database entry of the skylake profile's CPU (src/VBox/VMM/VMMR3/cpus/Intel_Core_i7_6700K.h,
 * VBoxCpuReport 2015-11-04): the bits whose single-bit write raised #GP on the real i7-6700K.
 */
const VBOX_6700K_GP = {
  perfGlobalCtrl: 0xfffffff8fffffff0n,
  debugctl: 0xffffffffffff003cn,
  efer: 0xfffffffffffff2fen,
  rtitCtl: 0xffffffccf887d070n,
};

describe("skylake (i7-6700K) against VBoxCpuReport's write probes of the same CPU", () => {
  const sky = builtinProfile("skylake");
  const m = sky.facts.masks;

  it("IA32_PERF_GLOBAL_CTRL: strict = the probed mask (Hyper-Threading on); lenient adds only counters 4–7", () => {
    expect(m.perfGlobalCtrl.strict).toBe(validOf(VBOX_6700K_GP.perfGlobalCtrl));
    expect(m.perfGlobalCtrl.lenient ^ m.perfGlobalCtrl.strict).toBe(range(4, 7));
    expect(m.perfGlobalCtrl.lenient & ((1n << 35n) | (1n << 48n))).toBe(0n);
  });

  it("IA32_DEBUGCTL: the probed mask, definite (IA32_PERF_CAPABILITIES[12] and RTM known)", () => {
    expect([m.debugctl.strict, m.debugctl.lenient]).toEqual([
      validOf(VBOX_6700K_GP.debugctl),
      validOf(VBOX_6700K_GP.debugctl),
    ]);
  });

  it("msrWritableBits narrows a mask, its uncertain parts with it (a hypervisor's IA32_DEBUGCTL: BTF, LBR, RTM debug)", () => {
    const data = builtinData("skylake")!;
    // FREEZE_WHILE_SMM (bit 14) left uncertain: no IA32_PERF_CAPABILITIES value
    const { msrValues: _, factSources: __, ...noPerfCap } = data;
    const plain = decodeProfile(noPerfCap).facts.masks.debugctl;
    expect(plain.parts.map((p) => p.bits)).toEqual([1n << 14n]);
    const kvm = decodeProfile({ ...noPerfCap, msrWritableBits: { "0x1d9": "0x8003" } });
    expect(kvm.facts.masks.debugctl).toMatchObject({ strict: 0x8003n, lenient: 0x8003n, parts: [] });
    expect([kvm.debugctlValidLo, kvm.debugctlValidHi]).toEqual([0x8003, 0]);
    const withSmm = decodeProfile({ ...noPerfCap, msrWritableBits: { "0x1d9": "0xc003" } }).facts.masks
      .debugctl;
    expect([withSmm.strict, withSmm.lenient, withSmm.parts.map((p) => p.bits)]).toEqual([
      0x8003n,
      0xc003n,
      [1n << 14n],
    ]);
    // another MSR's writable bits leave IA32_DEBUGCTL alone
    expect(decodeProfile({ ...data, msrWritableBits: { "0x38f": "0x3" } }).facts.masks.debugctl).toEqual(
      m.debugctl,
    );
    expect(
      decodeProfile({ ...data, msrWritableBits: { "0x38f": "0x3" } }).facts.masks.perfGlobalCtrl.strict,
    ).toBe(0x3n);
  });

  it("IA32_EFER: SCE, LME, LMA, NXE", () => {
    expect(BigInt(sky.eferValidLo)).toBe(validOf(VBOX_6700K_GP.efer));
  });

  it("IA32_RTIT_CTL: equal outside the encoded fields; inside, the probe accepts exactly the encodings CPUID.(14H,1) lists", () => {
    const probed = validOf(VBOX_6700K_GP.rtitCtl);
    // MTCFreq 17:14, CycThresh 22:19, PSBFreq 27:24, ADDR0_CFG 35:32, ADDR1_CFG 39:36: a single-bit write is
    // the encoding 1, 2, 4 or 8, which WRMSR accepts only when the field's bitmap lists it.
    const fields: [number, number, number][] = [
      [14, 17, 0x0249], // CPUID.(14H,1):EAX[31:16], MTC period encodings
      [19, 22, 0x3fff], // CPUID.(14H,1):EBX[15:0], cycle-threshold encodings
      [24, 27, 0x003f], // CPUID.(14H,1):EBX[31:16], PSB-frequency encodings
      [32, 35, 0b111], // ADDRn_CFG: 0 off, 1 filter, 2 stop
      [36, 39, 0b111],
    ];
    let encoded = 0n;
    for (const [lo, hi] of fields) encoded |= range(lo, hi);
    expect(m.rtitCtl.lenient & ~encoded).toBe(probed & ~encoded);
    expect(m.rtitCtl.parts).toEqual([]);
    for (const [lo, hi, bitmap] of fields) {
      expect(m.rtitCtl.lenient & range(lo, hi), `field ${hi}:${lo} is defined`).toBe(range(lo, hi));
      for (let b = lo; b <= hi; b++)
        expect((probed >> BigInt(b)) & 1n, `bit ${b}`).toBe(BigInt((bitmap >> (1 << (b - lo))) & 1));
    }
  });

  it("MSR existence from CPUID alone agrees with the MSRs VBoxCpuReport found (its list removed from the profile)", () => {
    const data = structuredClone(builtinData("skylake")!);
    const listed = data.msrsImplemented!;
    delete data.msrsImplemented;
    delete data.factSources!["msrsImplemented"];
    const facts = decodeProfile(data).facts;
    const inList = (i: number) =>
      listed.some((r) => {
        const [a, b = a] = r.split("-").map(Number);
        return i >= a! && i <= b!;
      });
    const architectural = [
      0x6,
      0x10,
      0x1b,
      0x3b,
      0xe7,
      0xe8,
      0x174,
      0x175,
      0x176,
      0x17a,
      0x199,
      0x1b0,
      0x1c4,
      0x1d9,
      0x277,
      0x2ff,
      0x38d,
      0x38f,
      0x390,
      0x560,
      0x561,
      0x570,
      0x571,
      0x600,
      0x6a0,
      0x6a2,
      0x6a4,
      0x6e0,
      0x6e1,
      0xc80,
      0xd90,
      0xda0,
      0x14ce,
      0xc0000080,
      0xc0000081,
      0xc0000082,
      0xc0000083,
      0xc0000084,
      0xc0000102,
      0xc0000103,
      ...[0, 1, 2, 3, 4, 5, 6, 7].flatMap((i) => [0xc1 + i, 0x186 + i, 0x4c1 + i]),
      0x309,
      0x30a,
      0x30b,
      0x30c,
    ];
    for (const i of architectural) {
      const s = facts.msr(i).status;
      if (s === "loadable") expect(inList(i), `0x${i.toString(16)} decoded present`).toBe(true);
      else expect(inList(i), `0x${i.toString(16)} decoded ${s}`).toBe(false);
    }
    // counters 4–7 exist only with Hyper-Threading off: unknown, and absent from a dump taken with it on
    expect(facts.msr(0xc5).status).toBe("unknown");
  });
});

/**
 * IA32_PERF_GLOBAL_CTRL per profile from the counter counts documented per microarchitecture, independent of
 * the CPUID dumps the profiles carry: [strict, lenient, source].
 */
const GP4_HT = 0x70000000fn; // 4 general-purpose counters per logical processor with Hyper-Threading, 3 fixed
const GP8 = 0x7000000ffn;
const ICL = 0xf000000ffn; // 8 general-purpose, 4 fixed (fixed counter 3 = TOPDOWN.SLOTS)
const METRICS = 1n << 48n;
const DOCUMENTED: Record<string, [bigint, bigint, string]> = {
  westmere: [
    GP4_HT,
    GP4_HT,
    "SDM Vol. 3B (Nehalem/Westmere): 4 general-purpose counters per logical processor, 3 fixed",
  ],
  haswell: [
    GP4_HT,
    GP8,
    "SDM Vol. 3B 'Counter Coalescence': 8 per core, 4 per logical processor with HT; 3 fixed",
  ],
  "skylake-x": [GP4_HT, GP8, "SDM Vol. 3B: Skylake cores as Sandy Bridge: 4/8 general-purpose, 3 fixed"],
  cascadelake: [
    GP4_HT,
    GP8,
    "SDM Vol. 3B: Cascade Lake is a Skylake server core: 4/8 general-purpose, 3 fixed",
  ],
  "icelake-client": [
    ICL,
    ICL | METRICS,
    "SDM Vol. 3B (Ice Lake): 8 per logical processor, fixed counter 3, PERF_METRICS",
  ],
  "icelake-server": [
    ICL,
    ICL | METRICS,
    "SDM Vol. 3B (Ice Lake): 8 per logical processor, fixed counter 3, PERF_METRICS",
  ],
  tigerlake: [ICL, ICL | METRICS, "SDM Vol. 3B (Tiger Lake, Willow Cove = Ice Lake PMU)"],
  sapphirerapids: [
    ICL,
    ICL | METRICS,
    "SDM Vol. 3B (Golden Cove): 8 per logical processor, 4 fixed, PERF_METRICS",
  ],
  // Linux arch/x86/events/intel/core.c (Alder Lake hybrid): E-core (Gracemont) 6 general-purpose and 3 fixed,
  // P-core (Golden Cove) 2 and 1 more, with PERF_METRICS.
  alderlake: [0x70000003fn, ICL | METRICS, "Linux intel_pmu_init, Alder Lake hybrid PMU"],
  // Linux 6.11 (Arrow/Lunar Lake): the E-cores (Skymont) gain fixed counters 4–6; P-cores keep 0–3.
  arrowlake: [
    GP8,
    0x3ffn | (0x7fn << 32n) | METRICS,
    "Linux 6.11 Arrow Lake PMU; Lion Cove 10 general-purpose",
  ],
  wildcatlake: [GP8, 0x3ffn | (0x7fn << 32n) | METRICS, "as Arrow Lake (Cougar Cove / Darkmont)"],
  // Bochs 2.7's models as the probe reads them; their leaf 0AH is set in bochs/cpu/cpudb/intel/*.cc (REL_2_7_FINAL)
  "bochs-2.7-skylake-x": [
    GP4_HT,
    GP8,
    "Bochs corei7_skylake-x.cc leaf 0AH: 4 general-purpose (a Skylake core), 3 fixed",
  ],
  "bochs-2.7-tigerlake": [
    ICL,
    ICL | METRICS,
    "Bochs tigerlake.cc leaf 0AH: 8 general-purpose, 4 fixed; IA32_PERF_CAPABILITIES faults, so PERF_METRICS is unknown",
  ],
};

describe("IA32_PERF_GLOBAL_CTRL per built-in profile against the documented counters", () => {
  for (const [name, [strict, lenient, source]] of Object.entries(DOCUMENTED))
    it(`${name}: ${source}`, () => {
      const m = builtinProfile(name).facts.masks.perfGlobalCtrl;
      expect([m.strict, m.lenient]).toEqual([strict, lenient]);
    });

  it("every built-in profile is covered here or has no CPUID leaf 0AH (then nothing is definite)", () => {
    for (const name of builtinNames()) {
      if (name in DOCUMENTED || name === "skylake") continue;
      const m = builtinProfile(name).facts.masks.perfGlobalCtrl;
      expect(builtinData(name)!.cpuid?.["0xa"], name).toBeUndefined();
      expect([m.strict, m.parts[0]?.dependsOn], name).toEqual([0n, ["cpuid.0xa"]]);
    }
  });
});

describe("hybrid core types", () => {
  it("arrowlake: counters of one core type only are possible, with the leaf that differs", () => {
    const m = builtinProfile("arrowlake").facts.masks.perfGlobalCtrl;
    const hybrid = m.parts.find((p) => p.dependsOn.includes("cpuid.0x23.1"));
    expect(hybrid?.bits).toBe(0x300n | (0x78n << 32n) | METRICS);
    expect(hybrid?.condition).toMatch(/core type/);
  });
});
