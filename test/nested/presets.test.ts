/** The kernel presets as data: every entry sourced, every rule known, every L1 profile what KVM offers. */
import { describe, expect, it } from "vitest";
import { ENTRY, EXIT, PROC, PROC2 } from "../../src/arch/controls.js";
import { CHECKS, checkById } from "../../src/checks/registry.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { parseKvmTracepoint } from "../../src/formats/kvm-tracepoint.js";
import type { KernelPreset, Source } from "../../src/nested/kernel.js";
import { KERNEL_IDS, PHASE_ORDER } from "../../src/nested/kernel.js";
import { KERNELS, kernelPreset, NEWEST_KERNEL } from "../../src/nested/kernels/index.js";
import { kernelRules } from "../../src/nested/l0.js";
import { l1Profile, VMCS12_REVISION } from "../../src/nested/l1.js";

function sourced(s: Source | undefined, preset: KernelPreset, where: string): void {
  expect(s, where).toBeDefined();
  expect(s!.file, where).toMatch(/^arch\/x86\/(kvm|include)\//);
  expect(s!.tag, where).toBe(preset.tree.release.replace(/^v(\d+\.\d+)\.0$/, "v$1"));
  const [a, b] = s!.lines;
  expect(Number.isInteger(a) && Number.isInteger(b) && a > 0 && b >= a, `${where}: lines ${a}-${b}`).toBe(
    true,
  );
  expect(b - a, `${where}: a line range, not a file`).toBeLessThan(400);
}

describe.each(KERNELS.map((k) => [k.id, k] as const))("preset %s", (_id, preset) => {
  it("names its kernel and the tree it was read from", () => {
    expect(preset.name).toMatch(/^Linux \d+\.\d+$/);
    expect(preset.tree.repository).toMatch(/^github\.com\/[\w.-]+\/[\w.-]+$/);
    expect(preset.tree.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(preset.tree.note.length).toBeGreaterThan(20);
  });
  it("every entry, divergence, merge fact and parameter cites a line range of that tree", () => {
    for (const [i, k] of preset.checks.entries()) {
      sourced(k.source, preset, `check ${i} (${k.fn})`);
      if (k.helper) sourced(k.helper, preset, `check ${i} helper`);
    }
    for (const d of preset.divergences) {
      expect(d.kernel).toBe(preset.id);
      sourced(d.source, preset, `divergence ${d.id}`);
    }
    for (const [topic, s] of Object.entries(preset.merge.sources)) sourced(s, preset, `merge ${topic}`);
    sourced(preset.merge.vmcs12Layout, preset, "vmcs12 layout");
    sourced(preset.parameter.source, preset, "parameter");
    if (preset.parameter.name === "nested_early_check") sourced(preset.parameter.dryRun, preset, "dry run");
    sourced(preset.l1.source, preset, "L1 capabilities");
    sourced(preset.leftToHardware.source, preset, "left to hardware");
  });
  it("every rule an entry names exists, and its class fits the phase", () => {
    for (const k of preset.checks)
      for (const r of k.rules) {
        const c = checkById(r);
        expect(c, `${k.fn}: ${r}`).toBeDefined();
        const ok: Record<string, string[]> = {
          instruction: ["basic"],
          controls: ["control"],
          "late-controls": ["control"],
          host: k.vmfail === 7 ? ["guest"] : ["host"],
          guest: ["guest"],
          prepare: ["guest"],
          "msr-load": ["msr-load"],
        };
        expect(ok[k.phase], `${k.fn}: ${r} (${c!.cls}) in phase ${k.phase}`).toContain(c!.cls);
      }
    for (const k of preset.checks) expect(PHASE_ORDER).toContain(k.phase);
  });
  it("a divergence an entry names is one of the preset's", () => {
    for (const k of preset.checks)
      if (k.divergence)
        expect(
          preset.divergences.map((d) => d.id),
          k.fn,
        ).toContain(k.divergence);
  });
  it("an entry without a rule has its own test that says how it differs", () => {
    for (const k of preset.checks) if (!k.rules.length) expect(k.test?.differs, k.fn).toMatch(/.{20,}/);
  });
  it("each CC() text of the preset maps back to its entry through the tracepoint reader", () => {
    for (const k of preset.checks) {
      if (!k.cc) continue;
      const [t] = parseKvmTracepoint(` qemu-kvm-1234 [002] .... 17.5: kvm_nested_vmenter_failed: ${k.cc}`);
      expect(
        t!.matches.some((m) => m.kernel === preset.id && m.source === k.source),
        `${preset.id} ${k.fn} ${k.cc}`,
      ).toBe(true);
    }
  });
});

describe("the presets differ where the kernels do", () => {
  it("v5.0 has no CC() tracing at all; the others print one per check", () => {
    expect(kernelPreset("v5.0").checks.every((k) => k.cc === null)).toBe(true);
    expect(kernelPreset("v6.6").checks.filter((k) => k.cc).length).toBeGreaterThan(100);
  });
  it("v6.19 adds the TPR-threshold and TSC-multiplier checks and the late vTPR check", () => {
    const has = (id: string, rule: string) => kernelRules(kernelPreset(id as "v6.19")).has(rule);
    expect(has("v6.18", "ctl.exec.tsc-multiplier-nonzero")).toBe(false);
    expect(has("v6.19", "ctl.exec.tsc-multiplier-nonzero")).toBe(true);
    expect(has("v6.18", "ctl.exec.tpr-threshold-reserved")).toBe(false);
    expect(has("v6.19", "ctl.exec.tpr-threshold-reserved")).toBe(true);
    expect(has("v6.19", "ctl.exec.tpr-threshold-vtpr")).toBe(true);
  });
  it("v6.18 checks guest IA32_DEBUGCTL and CET state; v6.6 does not", () => {
    expect(kernelRules(kernelPreset("v6.18")).has("guest.debugctl.reserved-bits")).toBe(true);
    expect(kernelRules(kernelPreset("v6.6")).has("guest.debugctl.reserved-bits")).toBe(false);
    expect(kernelRules(kernelPreset("v6.18")).has("host.s-cet.canonical")).toBe(true);
    expect(kernelRules(kernelPreset("v6.6")).has("host.s-cet.canonical")).toBe(false);
  });
  it("no preset claims every guest-segment rule (KVM checks a subset, and none under unrestricted guest)", () => {
    const seg = CHECKS.filter((c) => c.sdm === "29.3.1.2").map((c) => c.id);
    for (const k of KERNELS) {
      const covered = seg.filter((r) => kernelRules(k).has(r));
      expect(covered.length, k.id).toBeLessThan(seg.length / 2);
    }
    expect(KERNEL_IDS.at(-1)).toBe(NEWEST_KERNEL.id);
  });
});

describe("L1 profiles: nested_vmx_setup_ctls_msrs ∩ host", () => {
  const spr = builtinProfile("sapphirerapids");
  const l1 = l1Profile(NEWEST_KERNEL, spr);
  it("never offers what no release offers L1 (#VE, PAUSE-loop exiting, MBEC, SPP, PT uses GPA, bus lock, notify, tertiary, secondary exit)", () => {
    for (const bit of [PROC2.EPT_VE, 1 << 10, PROC2.MBEC, PROC2.SPP, PROC2.PT_USE_GPA, 1 << 30, 1 << 31])
      expect(l1.ctl.proc2.may1 & bit, `secondary bit ${Math.log2(bit >>> 0)}`).toBe(0);
    expect(l1.ctl.proc.may1 & PROC.TERTIARY).toBe(0);
    expect(l1.ctl.exit.may1 & EXIT.SECONDARY).toBe(0);
    expect(
      l1.ctl.entry.may1 & (ENTRY.LOAD_UINV | ENTRY.LOAD_PKRS | ENTRY.LOAD_FRED | ENTRY.LOAD_RTIT_CTL),
    ).toBe(0);
  });
  it("offers what KVM emulates (VMCS shadowing, EPT, VPID, unrestricted guest) with KVM's VMCS12 revision", () => {
    for (const bit of [PROC2.SHADOW_VMCS, PROC2.EPT, PROC2.VPID, PROC2.UNRESTRICTED_GUEST])
      expect(l1.ctl.proc2.may1 & bit).not.toBe(0);
    expect(l1.revision).toBe(VMCS12_REVISION);
    expect(l1.hypervisor).toBe(true);
    expect(l1.cr3Targets).toBe(0);
    expect(l1.name).toBe("kvm-v6.19@sapphirerapids");
  });
  it("carries the host's other facts unchanged (MAXPHYADDR, linear width, flags)", () => {
    expect(l1.maxPhysAddr).toBe(spr.maxPhysAddr);
    expect(l1.linearAddressBits).toBe(spr.linearAddressBits);
    for (const f of spr.flags) expect(l1.flags.has(f)).toBe(true);
  });
  it("load CET state only with host CET and from v6.18; TSC scaling and PERF_GLOBAL_CTRL not in v5.0", () => {
    const skl = builtinProfile("skylake");
    expect(l1Profile(kernelPreset("v6.18"), spr).ctl.entry.may1 & ENTRY.LOAD_CET).not.toBe(0);
    expect(l1Profile(kernelPreset("v6.18"), skl).ctl.entry.may1 & ENTRY.LOAD_CET).toBe(0);
    expect(l1Profile(kernelPreset("v6.6"), spr).ctl.entry.may1 & ENTRY.LOAD_CET).toBe(0);
    const v5 = l1Profile(kernelPreset("v5.0"), spr);
    expect(v5.ctl.proc2.may1 & PROC2.TSC_SCALING).toBe(0);
    expect(v5.ctl.entry.may1 & ENTRY.LOAD_PERF_GLOBAL_CTRL).toBe(0);
    expect(v5.activityWaitSipi).toBe(false);
    expect(l1.activityWaitSipi).toBe(true);
  });
});
