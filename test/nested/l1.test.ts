/**
 * L1's capability MSRs as KVM's nested_vmx_setup_ctls_msrs builds them from the host's (v6.18.2
 * arch/x86/kvm/vmx/nested.c 7161–7444; v5.0.1 the same function, cited by each preset's `l1.source`), on hosts
 * that lack what the built-in profiles all have: EPT, its A/D bits, a TPR shadow, SGX, UMIP, MPX.
 */
import { describe, expect, it } from "vitest";
import { ENTRY, EXIT, PROC, PROC2 } from "../../src/arch/controls.js";
import { EPT_CAP } from "../../src/arch/msrs.js";
import { CR4 } from "../../src/arch/registers.js";
import { builtinData, builtinProfile } from "../../src/cpu/builtin.js";
import { type Caps, decodeProfile, type ProfileData } from "../../src/cpu/profile.js";
import type { KernelId } from "../../src/nested/kernel.js";
import { kernelPreset } from "../../src/nested/kernels/index.js";
import { l1Profile, l1ProfileData, VMCS12_REVISION } from "../../src/nested/l1.js";

type Msr = keyof ProfileData["msrs"];

/** A built-in profile with some capability MSRs and flags changed, under another name. */
function hostFrom(
  base: string,
  name: string,
  edit: { clear?: Partial<Record<Msr, bigint>>; set?: Partial<Record<Msr, bigint>>; drop?: Msr[] },
  flags?: (f: string[]) => string[],
): Caps {
  const d = structuredClone(builtinData(base)!);
  d.name = name;
  for (const [k, bits] of Object.entries(edit.clear ?? {}))
    d.msrs[k as Msr] = `0x${(BigInt(d.msrs[k as Msr]!) & ~bits!).toString(16)}`;
  for (const [k, bits] of Object.entries(edit.set ?? {}))
    d.msrs[k as Msr] = `0x${(BigInt(d.msrs[k as Msr] ?? "0") | bits!).toString(16)}`;
  for (const k of edit.drop ?? []) delete d.msrs[k];
  if (flags) d.flags = flags(d.flags ?? []);
  return decodeProfile(d, name);
}

const hi = (bits: number): bigint => BigInt(bits >>> 0) << 32n;
const spr = builtinProfile("sapphirerapids");
const l1 = (k: KernelId, h: Caps): Caps => l1Profile(kernelPreset(k), h);
const msr = (k: KernelId, h: Caps, m: Msr): bigint => BigInt(l1ProfileData(kernelPreset(k), h).msrs[m]!);

describe("EPT for L1 only with a usable EPT on the host (enable_ept: 4-level walks and write-back)", () => {
  const noEpt = hostFrom("sapphirerapids", "spr-no-ept", {
    clear: { IA32_VMX_PROCBASED_CTLS2: hi(PROC2.EPT) },
  });
  const no4 = hostFrom("sapphirerapids", "spr-no-pwl4", {
    clear: { IA32_VMX_EPT_VPID_CAP: BigInt(EPT_CAP.PWL4) },
  });
  const noWb = hostFrom("sapphirerapids", "spr-no-wb", {
    clear: { IA32_VMX_EPT_VPID_CAP: BigInt(EPT_CAP.WB) },
  });
  const noSecondary = hostFrom("sapphirerapids", "spr-no-secondary", {
    clear: { IA32_VMX_PROCBASED_CTLS: hi(PROC.SECONDARY), IA32_VMX_TRUE_PROCBASED_CTLS: hi(PROC.SECONDARY) },
  });
  it.each(["v5.0", "v6.18", "v6.19"] as const)(
    "%s: without it, no EPT, unrestricted guest, PML or VM functions, and no EPT capabilities",
    (k) => {
      expect(l1(k, spr).ctl.proc2.may1 & (PROC2.EPT | PROC2.UNRESTRICTED_GUEST)).toBe(
        PROC2.EPT | PROC2.UNRESTRICTED_GUEST,
      );
      for (const h of [noEpt, no4, noWb]) {
        const p = l1(k, h);
        expect(
          p.ctl.proc2.may1 & (PROC2.EPT | PROC2.UNRESTRICTED_GUEST | PROC2.PML | PROC2.VMFUNC),
          h.name,
        ).toBe(0);
        expect(p.eptCap, h.name).toBe(0);
        expect(p.vmfuncLo, h.name).toBe(0);
        // VPID does not need EPT: INVVPID and its extents stay
        expect(p.ctl.proc2.may1 & PROC2.VPID, h.name).toBe(PROC2.VPID);
        expect(p.eptCapHi, h.name).toBe(0x00000f01);
      }
    },
  );
  it("a host without secondary controls: none of its secondary controls for L1, only the emulated VMCS shadowing", () => {
    const p = l1("v6.19", noSecondary);
    expect(msr("v6.19", noSecondary, "IA32_VMX_PROCBASED_CTLS2")).toBe(hi(PROC2.SHADOW_VMCS));
    expect(p.ctl.proc.may1 & PROC.SECONDARY).toBe(0);
    expect(p.eptCap).toBe(0);
    expect(p.eptCapHi).toBe(0); // no VPID, so no INVVPID
  });
  it("with EPT: the host's walk lengths, WB and INVEPT, plus what KVM emulates (extents, 2M/1G pages, A/D)", () => {
    const ept = msr("v6.19", spr, "IA32_VMX_EPT_VPID_CAP");
    expect(Number(ept & 0xffffffffn)).toBe(
      EPT_CAP.EXECUTE_ONLY |
        EPT_CAP.PWL4 |
        EPT_CAP.PWL5 |
        EPT_CAP.WB |
        EPT_CAP.PDE_2M |
        EPT_CAP.PDPTE_1G |
        EPT_CAP.INVEPT |
        EPT_CAP.AD |
        (1 << 25) |
        (1 << 26),
    );
    expect(Number(ept >> 32n)).toBe(0x00000f01);
    // EPTP switching is the one VM function (emulated whatever the host has)
    expect(msr("v6.19", spr, "IA32_VMX_VMFUNC")).toBe(1n);
  });
});

describe("VM functions: EPTP switching, emulated, but only when the host has VM functions and EPT", () => {
  it.each(["v5.0", "v6.19"] as const)("%s", (k) => {
    const noVmfunc = hostFrom("sapphirerapids", "spr-no-vmfunc", {
      clear: { IA32_VMX_PROCBASED_CTLS2: hi(PROC2.VMFUNC) },
      drop: ["IA32_VMX_VMFUNC"],
    });
    expect(l1(k, spr).ctl.proc2.may1 & PROC2.VMFUNC).toBe(PROC2.VMFUNC);
    expect(l1(k, spr).vmfuncLo).toBe(1);
    expect(l1(k, noVmfunc).ctl.proc2.may1 & PROC2.VMFUNC).toBe(0);
    expect(l1(k, noVmfunc).ctl.proc2.may1 & PROC2.EPT).toBe(PROC2.EPT);
    expect(msr(k, noVmfunc, "IA32_VMX_VMFUNC")).toBe(0n);
  });
});

describe("EPT A/D bits on the host bring PML and EPT A/D to L1 (enable_ept_ad_bits)", () => {
  const noAd = hostFrom("sapphirerapids", "spr-no-ad", {
    clear: { IA32_VMX_EPT_VPID_CAP: BigInt(EPT_CAP.AD) },
  });
  it.each(["v5.0", "v6.19"] as const)("%s", (k) => {
    expect(l1(k, spr).ctl.proc2.may1 & PROC2.PML).toBe(PROC2.PML);
    expect(l1(k, spr).eptCap & EPT_CAP.AD).toBe(EPT_CAP.AD);
    expect(l1(k, noAd).ctl.proc2.may1 & PROC2.PML).toBe(0);
    expect(l1(k, noAd).eptCap & EPT_CAP.AD).toBe(0);
    expect(l1(k, noAd).ctl.proc2.may1 & PROC2.EPT).toBe(PROC2.EPT);
  });
});

describe("secondary controls behind KVM module parameters", () => {
  it("virtualize APIC accesses needs the host's TPR shadow (flexpriority)", () => {
    const noTpr = hostFrom("sapphirerapids", "spr-no-tpr", {
      clear: {
        IA32_VMX_PROCBASED_CTLS: hi(PROC.TPR_SHADOW),
        IA32_VMX_TRUE_PROCBASED_CTLS: hi(PROC.TPR_SHADOW),
      },
    });
    expect(l1("v6.19", spr).ctl.proc2.may1 & PROC2.VIRT_APIC_ACCESSES).toBe(PROC2.VIRT_APIC_ACCESSES);
    expect(l1("v6.19", noTpr).ctl.proc2.may1 & PROC2.VIRT_APIC_ACCESSES).toBe(0);
  });
  it("ENCLS exiting from v6.x with host SGX (flag and control); v5.0 never offers it", () => {
    const ENCLS = 1 << 15;
    const noSgx = hostFrom("sapphirerapids", "spr-no-sgx", {}, (f) => f.filter((x) => x !== "sgx"));
    expect(l1("v6.19", spr).ctl.proc2.may1 & ENCLS).toBe(ENCLS);
    expect(l1("v6.6", spr).ctl.proc2.may1 & ENCLS).toBe(ENCLS);
    expect(l1("v6.19", noSgx).ctl.proc2.may1 & ENCLS).toBe(0);
    expect(l1("v5.0", spr).ctl.proc2.may1 & ENCLS).toBe(0);
  });
  it("VPID comes from the host alone", () => {
    const noVpid = hostFrom("sapphirerapids", "spr-no-vpid", {
      clear: { IA32_VMX_PROCBASED_CTLS2: hi(PROC2.VPID) },
    });
    expect(l1("v6.19", noVpid).ctl.proc2.may1 & PROC2.VPID).toBe(0);
    expect(l1("v6.19", noVpid).eptCapHi).toBe(0);
    expect(l1("v6.19", noVpid).ctl.proc2.may1 & PROC2.EPT).toBe(PROC2.EPT);
  });
  it("unrestricted guest needs the host's, as well as EPT", () => {
    const noUg = hostFrom("sapphirerapids", "spr-no-ug", {
      clear: { IA32_VMX_PROCBASED_CTLS2: hi(PROC2.UNRESTRICTED_GUEST) },
    });
    expect(l1("v6.19", noUg).ctl.proc2.may1 & PROC2.UNRESTRICTED_GUEST).toBe(0);
  });
});

describe("CR4 for L1: UMIP emulated when the host lacks UMIP but has descriptor-table exiting", () => {
  it("skylake (no UMIP, descriptor-table exiting): L1 may set CR4.UMIP; sapphirerapids has UMIP itself", () => {
    const skl = builtinProfile("skylake");
    expect(skl.cr4Fixed1 & CR4.UMIP).toBe(0);
    expect(l1("v6.19", skl).cr4Fixed1 & CR4.UMIP).toBe(CR4.UMIP);
    // and the rest of CR4_FIXED1 is the host's
    expect(l1("v6.19", skl).cr4Fixed1).toBe((skl.cr4Fixed1 | CR4.UMIP) >>> 0);
    expect(l1("v6.19", spr).cr4Fixed1).toBe(spr.cr4Fixed1);
    const noDesc = hostFrom("skylake", "skl-no-desc", {
      clear: { IA32_VMX_PROCBASED_CTLS2: hi(PROC2.DESC_EXITING) },
    });
    expect(l1("v6.19", noDesc).cr4Fixed1 & CR4.UMIP).toBe(0);
  });
  it("fixed-0 bits: CR0.PE, NE, PG and CR4.VMXE; fixed-1 from the host, all ones when the host omits them", () => {
    expect(msr("v6.19", spr, "IA32_VMX_CR0_FIXED0")).toBe(0x80000021n);
    expect(msr("v6.19", spr, "IA32_VMX_CR4_FIXED0")).toBe(0x2000n);
    const bare = hostFrom("sapphirerapids", "spr-no-fixed1", {
      drop: ["IA32_VMX_CR0_FIXED1", "IA32_VMX_CR4_FIXED1"],
    });
    expect(msr("v6.19", bare, "IA32_VMX_CR0_FIXED1")).toBe(0xffffffffn);
    expect(msr("v6.19", bare, "IA32_VMX_CR4_FIXED1")).toBe(0xffffffffn);
    expect(msr("v6.19", spr, "IA32_VMX_CR4_FIXED1")).toBe(spr.msr.IA32_VMX_CR4_FIXED1);
  });
});

describe("IA32_VMX_BASIC and IA32_VMX_MISC for L1", () => {
  it("KVM's revision, a 4 KiB write-back vmcs12, TRUE_ controls; INS/OUTS information and any error code from the host", () => {
    const b = msr("v6.19", spr, "IA32_VMX_BASIC");
    expect(Number(b & 0xffffffffn)).toBe(VMCS12_REVISION);
    expect(Number((b >> 32n) & 0x1fffn)).toBe(4096);
    expect(Number((b >> 50n) & 0xfn)).toBe(6);
    expect((b >> 55n) & 1n).toBe(1n);
    // the host's bits 54 (INS/OUTS) and 56 (no error-code check) pass, its others (e.g. 48, 49) do not
    const hostBits = (spr.msr.IA32_VMX_BASIC! >> 32n) & ((1n << 22n) | (1n << 24n));
    expect((b >> 32n) & ((1n << 22n) | (1n << 24n))).toBe(hostBits);
    const dual = hostFrom("sapphirerapids", "spr-dual", {
      set: { IA32_VMX_BASIC: (1n << 49n) | (1n << 48n) },
    });
    expect(msr("v6.19", dual, "IA32_VMX_BASIC")).toBe(b);
    const plain = hostFrom("sapphirerapids", "spr-plain-basic", {
      clear: { IA32_VMX_BASIC: (1n << 54n) | (1n << 56n) },
    });
    expect(msr("v6.19", plain, "IA32_VMX_BASIC")).toBe(b & ~((1n << 54n) | (1n << 56n)));
    expect(l1("v6.19", plain).anyErrorCode).toBe(false);
    expect(l1("v6.19", spr).anyErrorCode).toBe(spr.anyErrorCode);
  });
  it("MISC: HLT and wait-for-SIPI, VMWRITE to any field, preemption-timer rate 5, no CR3 targets; EFER.LMA saving from the host", () => {
    const m = l1("v6.19", spr);
    expect(m.activityHlt && m.activityWaitSipi && m.vmwriteAnyField).toBe(true);
    expect(m.activityShutdown).toBe(false);
    expect(m.preemptionRate).toBe(5);
    expect(m.cr3Targets).toBe(0);
    expect(m.saveEferLma).toBe(true);
    const noLma = hostFrom("sapphirerapids", "spr-no-lma", { clear: { IA32_VMX_MISC: 1n << 5n } });
    expect(l1("v6.19", noLma).saveEferLma).toBe(false);
    const noMisc = hostFrom("sapphirerapids", "spr-no-misc", { drop: ["IA32_VMX_MISC"] });
    expect(l1("v6.19", noMisc).saveEferLma).toBe(false);
    expect(l1("v6.19", noMisc).activityHlt).toBe(true);
  });
});

describe("control words: TRUE_ and plain MSRs", () => {
  it("the plain MSRs add the default1 bits as must-be-1 (SDM A.2); the TRUE_ ones let L1 clear CR3-load/store exiting and the debug controls", () => {
    const d = l1ProfileData(kernelPreset("v6.19"), spr).msrs;
    const lo = (m: Msr) => Number(BigInt(d[m]!) & 0xffffffffn);
    const hiOf = (m: Msr) => Number(BigInt(d[m]!) >> 32n);
    expect(lo("IA32_VMX_PROCBASED_CTLS")).toBe(0x0401e172);
    expect(lo("IA32_VMX_TRUE_PROCBASED_CTLS")).toBe(0x0401e172 & ~((1 << 15) | (1 << 16)));
    expect(lo("IA32_VMX_EXIT_CTLS")).toBe(0x00036dff);
    expect(lo("IA32_VMX_TRUE_EXIT_CTLS")).toBe(0x00036dff & ~EXIT.SAVE_DEBUG);
    expect(lo("IA32_VMX_ENTRY_CTLS")).toBe(0x000011ff);
    expect(lo("IA32_VMX_TRUE_ENTRY_CTLS")).toBe(0x000011ff & ~ENTRY.LOAD_DEBUG);
    expect(lo("IA32_VMX_PINBASED_CTLS")).toBe(0x16);
    expect(lo("IA32_VMX_TRUE_PINBASED_CTLS")).toBe(0x16);
    for (const w of ["PINBASED", "PROCBASED", "EXIT", "ENTRY"] as const)
      expect(hiOf(`IA32_VMX_TRUE_${w}_CTLS`), w).toBe(hiOf(`IA32_VMX_${w}_CTLS`));
    // allowed-1: the host's pass-through bits and the emulated ones, never a host bit outside the list
    expect(hiOf("IA32_VMX_PINBASED_CTLS")).toBe(0xff & (0x16 | 1 | 8 | 32 | 64 | 128));
  });
  it("entry load BNDCFGS / exit clear BNDCFGS only with host MPX", () => {
    const skl = builtinProfile("skylake");
    expect(skl.flags.has("mpx")).toBe(true);
    expect(l1("v6.19", skl).ctl.entry.may1 & ENTRY.LOAD_BNDCFGS).toBe(ENTRY.LOAD_BNDCFGS);
    expect(l1("v6.19", skl).ctl.exit.may1 & EXIT.CLEAR_BNDCFGS).toBe(EXIT.CLEAR_BNDCFGS);
    const noMpx = hostFrom("skylake", "skl-no-mpx", {}, (f) => f.filter((x) => x !== "mpx"));
    expect(l1("v6.19", noMpx).ctl.entry.may1 & ENTRY.LOAD_BNDCFGS).toBe(0);
    expect(l1("v6.19", noMpx).ctl.exit.may1 & EXIT.CLEAR_BNDCFGS).toBe(0);
  });
  it("load CET state (entry and exit) with any host CET: IBT or shadow stacks", () => {
    const both = ENTRY.LOAD_CET;
    for (const keep of ["ibt", "shstk", "user_shstk"]) {
      const h = hostFrom("sapphirerapids", `spr-${keep}`, {}, (f) =>
        f.filter((x) => !["ibt", "shstk", "user_shstk"].includes(x) || x === keep),
      );
      expect(l1("v6.19", h).ctl.entry.may1 & both, keep).toBe(both);
      expect(l1("v6.19", h).ctl.exit.may1 & EXIT.LOAD_CET, keep).toBe(EXIT.LOAD_CET);
    }
    const none = hostFrom("sapphirerapids", "spr-no-cet", {}, (f) =>
      f.filter((x) => !["ibt", "shstk", "user_shstk"].includes(x)),
    );
    expect(l1("v6.19", none).ctl.exit.may1 & EXIT.LOAD_CET).toBe(0);
    expect(l1("v6.6", spr).ctl.exit.may1 & EXIT.LOAD_CET).toBe(0);
    // and nothing else changes: the other entry and exit controls are those offered with CET
    expect(l1("v6.19", none).ctl.entry.may1).toBe((l1("v6.19", spr).ctl.entry.may1 & ~ENTRY.LOAD_CET) >>> 0);
    expect(l1("v6.19", none).ctl.exit.may1).toBe((l1("v6.19", spr).ctl.exit.may1 & ~EXIT.LOAD_CET) >>> 0);
    expect(l1("v6.6", spr).ctl.entry.may1).toBe((l1("v6.19", spr).ctl.entry.may1 & ~ENTRY.LOAD_CET) >>> 0);
  });
});

describe("the L1 profile as a profile", () => {
  it("is named after kernel and host, says where it comes from, and runs under a hypervisor", () => {
    const d = l1ProfileData(kernelPreset("v6.18"), spr);
    expect(d.name).toBe("kvm-v6.18@sapphirerapids");
    expect(d.description).toBe("L1's view of nested VMX under Linux 6.18 on the sapphirerapids profile");
    const s = kernelPreset("v6.18").l1.source;
    expect(d.source).toBe(
      `DERIVED: Linux 6.18's nested_vmx_setup_ctls_msrs (v6.18.2 ${s.file}:${s.lines[0]}-${s.lines[1]}) intersected with the capability MSRs of sapphirerapids; IA32_DEBUGCTL as its WRMSR accepts it (v6.18.2 arch/x86/kvm/vmx/vmx.c:2143-2172); every other fact is sapphirerapids's`,
    );
    expect(d.hypervisor).toBe(true);
    expect(d.flags!.filter((f) => f === "hypervisor")).toEqual(["hypervisor"]);
    const own = hostFrom("sapphirerapids", "my-host", {});
    expect(l1ProfileData(kernelPreset("v6.18"), own).description).toBe(
      "L1's view of nested VMX under Linux 6.18 on my-host",
    );
    // a host that already runs under a hypervisor keeps one "hypervisor" flag
    const hv = builtinProfile("hyperv-nested");
    expect(l1ProfileData(kernelPreset("v6.18"), hv).flags!.filter((f) => f === "hypervisor")).toEqual([
      "hypervisor",
    ]);
  });
  it("a host profile without flags gives an L1 whose only flag is hypervisor", () => {
    const d = structuredClone(builtinData("westmere")!);
    delete d.flags;
    d.name = "westmere-no-flags";
    const h = decodeProfile(d, "westmere-no-flags");
    expect(l1ProfileData(kernelPreset("v6.19"), h).flags).toEqual(["hypervisor"]);
    expect([...l1("v6.19", h).flags]).toEqual(["hypervisor"]);
  });
  it("is decoded once per kernel and host", () => {
    const a = l1("v6.19", spr);
    expect(l1("v6.19", spr)).toBe(a);
    expect(l1("v6.18", spr)).not.toBe(a);
    expect(l1("v6.19", builtinProfile("skylake"))).not.toBe(a);
    expect(l1("v6.19", builtinProfile("skylake")).name).toBe("kvm-v6.19@skylake");
  });
});

// IA32_DEBUGCTL on L1's processor is what KVM's WRMSR accepts (v5.0.1 x86.c kvm_set_msr_common 2466–2477;
// v6.6 vmx.c 2140–2234; v6.18.2 vmx.c 2143–2172): BTF and LBR always (dropped), bus-lock detect from the
// releases that virtualize it, RTM debug from v6.18, each where the host has it. Any other bit makes L1's WRMSR
// raise #GP, so on L1's processor it is reserved, and a vmcs12 that sets it fails "reserved bits of
// IA32_DEBUGCTL" (SDM 29.3.1.1) with exit 33.
describe("IA32_DEBUGCTL as L1's WRMSR finds it", () => {
  const writable = (k: KernelId, h: Caps): string | undefined =>
    l1ProfileData(kernelPreset(k), h).msrWritableBits?.["0x1d9"];
  it("per release on sapphirerapids (bus-lock detect and RTM in its CPUID): v5.0 BTF and LBR; v6.6 with bus-lock detect; v6.18+ with RTM debug", () => {
    expect(spr.debugctlValidLo & 0x8004).toBe(0x8004);
    expect(["v5.0", "v6.6", "v6.18", "v6.19"].map((k) => writable(k as KernelId, spr))).toEqual([
      "0x3",
      "0x7",
      "0x8007",
      "0x8007",
    ]);
    expect(l1("v6.19", spr).debugctlValidLo).toBe(0x8007);
    expect(l1("v5.0", spr).debugctlValidLo).toBe(0x3);
  });
  it("a host without RTM or bus-lock detect: BTF and LBR only, whatever the release; with one of them, that one", () => {
    const tgl = builtinProfile("tigerlake");
    expect(tgl.debugctlValidLo & 0x8004).toBe(0);
    for (const k of ["v5.0", "v6.6", "v6.18", "v6.19"] as const) expect(writable(k, tgl), k).toBe("0x3");
    const icx = builtinProfile("icelake-server");
    expect(icx.debugctlValidLo & 0x8004).toBe(0x8000);
    expect(["v6.6", "v6.18"].map((k) => writable(k as KernelId, icx))).toEqual(["0x3", "0x8003"]);
    const wcl = builtinProfile("wildcatlake");
    expect(wcl.debugctlValidLo & 0x8004).toBe(0x4);
    expect(["v5.0", "v6.6", "v6.19"].map((k) => writable(k as KernelId, wcl))).toEqual(["0x3", "0x7", "0x7"]);
  });
  it("a host profile that already narrows IA32_DEBUGCTL narrows L1's too", () => {
    const d = structuredClone(builtinData("sapphirerapids")!);
    d.name = "narrow";
    d.msrWritableBits = { "0x1d9": "0x8001" };
    expect(writable("v6.19", decodeProfile(d, "narrow"))).toBe("0x8001");
  });
});
