/**
 * The playground's nested timeline (web/src/timeline.ts): one runNested result cut into lanes and steps.
 * Pinned for the cases a learner meets first — a valid vmcs12, a bad host-state field with and without L0's
 * software checks, a guest-state error only the real entry finds, a kernel without a dry run — as the lane
 * and status sequence, what L1 is told, and the fields the processor saw.
 */
import { describe, expect, it } from "vitest";
import { F } from "../../src/arch/fields.js";
import type { Entry } from "../../src/entry/document.js";
import type { NestedConfig } from "../../src/nested/config.js";
import { ALL_RAM, DEFAULT_CONFIG } from "../../src/nested/config.js";
import type { KernelId } from "../../src/nested/kernel.js";
import { runNested } from "../../src/nested/l0.js";
import type { Vmcs } from "../../src/vmcs/store.js";
import { timeline } from "../../web/src/timeline.js";
import { host, vmcs12 } from "../nested/helpers.js";

function watch(kernel: KernelId, e: Entry, c: Partial<NestedConfig> = {}) {
  let vmcs02: Vmcs | undefined;
  let dry: Vmcs | undefined;
  const r = runNested(
    { vmcs12: e, host },
    { ...DEFAULT_CONFIG, l1RamBytes: ALL_RAM, ...c, kernel },
    {
      vmcs02: (b) => {
        vmcs02 = b.vmcs;
      },
      dryRun: (v) => {
        dry = v;
      },
    },
  );
  const t = timeline(r, e.vmcs, vmcs02, dry);
  return { r, t, marks: t.stages.map((s) => `${s.lane}:${s.status}`) };
}

const DRY_RUN = { earlyCheck: { form: "merged", nestedEarlyCheck: true } } as const;
const badHostTr = (k: KernelId) => vmcs12(k, (x) => x.vmcs.set(F.HOST_TR_SELECTOR!, 0n));

describe("nested timeline", () => {
  it("a valid vmcs12: every lane passes, the dry run's intended exit is a pass, L1 is told success", () => {
    const { r, t, marks } = watch("v6.18", vmcs12("v6.18"), DRY_RUN);
    expect(r.detection).toBe("entered");
    expect(marks).toEqual([
      "l1:pass",
      "software:pass",
      "merge:info",
      "dry-run:pass",
      "msr-load:skipped",
      "entry:pass",
      "l1:pass",
    ]);
    expect(t.told).toBe("VM entry succeeds");
    expect(t.stages.find((s) => s.lane === "dry-run")!.title).toMatch(/^dry run passes/);
    expect(t.fields).toEqual([]);
    // the stages' cycles are parts of the modelled total
    const parts = t.stages.reduce((n, s) => n + (s.cycles ?? 0), 0);
    expect(parts).toBeGreaterThan(0);
    expect(parts).toBeLessThan(r.cost.cycles);
  });

  it("a bad host-state field without software checks: the dry run passes on L0's host state, missed", () => {
    const { r, t, marks } = watch("v6.18", badHostTr("v6.18"), { ...DRY_RUN, softwareChecks: "none" });
    expect(r.detection).toBe("missed");
    expect(marks).toEqual([
      "l1:pass",
      "software:skipped",
      "merge:info",
      "dry-run:pass",
      "msr-load:skipped",
      "entry:pass",
      "l1:fail",
    ]);
    expect(t.told).toBe("VM entry succeeds");
    const [f] = t.fields;
    expect(f!.field).toBe("HOST_TR_SELECTOR");
    expect(f!.vmcs12).toBe("0x0");
    // vmcs02 carries L0's own (valid) host TR selector, at the dry run and at the real entry
    expect(f!.dryRun).not.toBe("0x0");
    expect(f!.vmcs02).toBe(f!.dryRun);
  });

  it("the same state with the kernel's software checks: caught early, nothing after them runs", () => {
    const { r, t, marks } = watch("v6.18", badHostTr("v6.18"), DRY_RUN);
    expect(r.detection).toBe("early");
    expect(marks).toEqual([
      "l1:pass",
      "software:fail",
      "merge:not-reached",
      "dry-run:not-reached",
      "msr-load:not-reached",
      "entry:not-reached",
      "l1:info",
    ]);
    expect(t.stages[1]!.title).toContain("nested_vmx_check_host_state");
    expect(t.told).toContain("VM-instruction error 8");
    expect(t.fields[0]!.dryRun).toBeUndefined();
  });

  it("a guest-state error the kernel does not check in software: only the real entry finds it", () => {
    // CS.L and CS.D/B both set in a 64-bit guest (SDM 29.3.1.2); KVM's software checks stop short of it
    const e = vmcs12("v6.18", (x) => x.vmcs.set(F.GUEST_CS_AR_BYTES!, 0xe09bn));
    const { r, t, marks } = watch("v6.18", e, DRY_RUN);
    expect(r.architectural.violations.map((v) => v.id)).toEqual(["guest.cs.l-and-d"]);
    expect(r.detection).toBe("late");
    expect(marks.at(-2)).toBe("entry:fail");
    expect(marks).toContain("dry-run:pass");
    expect(t.stages.find((s) => s.lane === "entry")!.title).toContain("late");
    expect(t.told).toContain("VM exit 33");
  });

  it("a kernel without a dry run (v6.19): the dry-run lane is skipped and says why", () => {
    const { t, marks } = watch("v6.19", vmcs12("v6.19"));
    expect(marks).toContain("dry-run:skipped");
    expect(t.stages.find((s) => s.lane === "dry-run")!.title).toMatch(/^no dry run: /);
  });
});
