/**
 * Evaluation (src/entry/evaluate.ts) beyond the result-model and message tests: outcomes per class, the
 * check-order alternatives among guest checks, the MSR-load qualification, a message that fails to build,
 * results that refuse to describe a context whose members were swapped, and runners kept per list of checks.
 */
import { describe, expect, it } from "vitest";
import { F } from "../../src/arch/fields.js";
import { CHECKS } from "../../src/checks/registry.js";
import type { Check, Ctx } from "../../src/checks/types.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { countFailures, decide, evaluate, failingChecks, sameOutcome } from "../../src/entry/evaluate.js";
import { contextOf } from "../../src/entry/run.js";
import { Memory } from "../../src/vmcs/memory.js";
import { ids, profileAll, run, state } from "../helpers.js";

const caps = profileAll();
const sky = builtinProfile("skylake");
/** Where the MSR-load lists of these tests live. */
const AREA = 0x20000;
/** An MSR-load list of `count` entries at AREA, with `entries` written there (more than count: after the list). */
const list = (count: number, ...entries: [number, bigint][]) => {
  const memory: Record<number, bigint> = {};
  entries.forEach(([i, v], k) => {
    memory[AREA + 16 * k] = BigInt(i);
    memory[AREA + 16 * k + 8] = v;
  });
  return { vmcs: { VM_ENTRY_MSR_LOAD_ADDR: AREA, VM_ENTRY_MSR_LOAD_COUNT: count }, memory };
};
const byId = (id: string): Check => {
  const c = CHECKS.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id}`);
  return c;
};

describe("outcomes", () => {
  it("a valid state enters, with one shared frozen result", () => {
    const a = run(caps);
    expect(a).toEqual({ outcome: { type: "entered" }, violations: [] });
    expect(Object.isFrozen(a)).toBe(true);
    expect(run(caps)).toBe(a);
  });

  it("guest checks of different exit qualifications: the first decides, the others are possible by check order", () => {
    // RFLAGS reserved bit 3 (qualification 0); a misaligned link pointer beyond the address width (qualification 4)
    const r = run(caps, { vmcs: { GUEST_RFLAGS: 0xan, VMCS_LINK_POINTER: 0xfff0_0000_0000_1001n } });
    expect(ids(r)).toEqual([
      "guest.rflags.reserved-bits",
      "guest.link-pointer.alignment",
      "guest.link-pointer.phys-width",
    ]);
    expect(r.outcome).toEqual({ type: "vmexit", reason: 33, qualification: 0 });
    expect(r.possibleOutcomes).toEqual([
      { type: "vmexit", reason: 33, qualification: 0 },
      { type: "vmexit", reason: 33, qualification: 4 },
    ]);
    expect(r.possible).toEqual([
      {
        why: "check-order",
        dependsOn: ["guest.link-pointer.alignment", "guest.link-pointer.phys-width"],
        condition:
          "if the processor meets guest.link-pointer.alignment before guest.rflags.reserved-bits (SDM 29.3 does not fix the order of guest-state checks)",
        outcome: { type: "vmexit", reason: 33, qualification: 4 },
        violations: [],
      },
    ]);
  });

  it("guest checks of one qualification, or a guest check beside a control: no alternative", () => {
    const one = run(caps, { vmcs: { GUEST_RFLAGS: 0x8n } });
    expect(ids(one)).toEqual(["guest.rflags.reserved-bits", "guest.rflags.bit1-set"]);
    expect(Object.keys(one)).toEqual(["outcome", "violations"]);
    const mixed = run(caps, { vmcs: { CR3_TARGET_COUNT: 5, GUEST_RFLAGS: 0xan } });
    expect(mixed.outcome).toEqual({ type: "vmfail-valid", error: 7 });
    expect(Object.keys(mixed)).toEqual(["outcome", "violations"]);
  });

  it("a host check before a control check in the list: error 8, the controls possible", () => {
    const host = byId("host.cr0.fixed-bits");
    const control = byId("ctl.exec.cr3-target-count");
    const e = state(caps, { vmcs: { CR3_TARGET_COUNT: 5, HOST_CR0: (v: bigint) => v & ~0x80000000n } });
    const r = evaluate(contextOf(e), [host, control]);
    expect(r.outcome).toEqual({ type: "vmfail-valid", error: 8 });
    expect(r.possible?.map((p) => [p.condition, p.outcome])).toEqual([
      [
        "if the processor checks the controls before host state (SDM 29.2 allows either order)",
        { type: "vmfail-valid", error: 7 },
      ],
    ]);
  });

  it("a basic check's own outcome, or VMfailInvalid; basic checks decide alone", () => {
    const gp = run(caps, { processor: { cpl: 3 } });
    expect(gp.outcome).toEqual({ type: "fault", exception: "#GP(0)" });
    const noVmcs = run(caps, { processor: { currentVmcsValid: false }, vmcs: { GUEST_RFLAGS: 0x8n } });
    expect(noVmcs.outcome).toEqual({ type: "vmfail-invalid" });
    expect("possible" in noVmcs).toBe(false);
  });

  it("MSR loading: the qualification is the first failing entry over every failing MSR-load check", () => {
    const STAR: [number, bigint] = [0xc0000081, 0x0023001000000000n];
    // IA32_FS_BASE cannot be loaded (msr-load.fs-gs-base); IA32_PERF_GLOBAL_CTRL bit 35 does not exist on skylake
    const FS: [number, bigint] = [0xc0000100, 0n];
    const PERF: [number, bigint] = [0x38f, 1n << 35n];
    for (const [entries, at] of [
      [[STAR, PERF, FS], 2],
      [[STAR, FS, PERF], 2],
      [[PERF, STAR, STAR, FS], 1],
    ] as [[number, bigint][], number][]) {
      const r = run(sky, list(entries.length, ...entries));
      // the registry lists msr-load.fs-gs-base first, whichever entry it fails on
      expect(ids(r)).toEqual(["msr-load.fs-gs-base", "msr-load.value-reserved-bits"]);
      expect(r.outcome).toEqual({ type: "vmexit", reason: 34, qualification: at });
    }
  });
});

describe("possible findings from CPU facts", () => {
  const STAR: [number, bigint] = [0xc0000081, 0x0023001000000000n];
  const UNKNOWN: [number, bigint] = [0x1ff, 0n];

  it("an MSR the profile does not know, in the list: possible; after the list's end: nothing", () => {
    const listed = run(sky, list(2, STAR, UNKNOWN));
    expect(listed.possible?.map((p) => [p.dependsOn, p.outcome])).toEqual([
      [["msr-exists.0x1ff"], { type: "vmexit", reason: 34, qualification: 2 }],
    ]);
    expect(run(sky, list(1, STAR, UNKNOWN))).toEqual({ outcome: { type: "entered" }, violations: [] });
    // a profile whose capability masks are all certain (no uncertain mask fact): the MSR is still possible
    expect(caps.facts.anyUncertainMask).toBe(false);
    expect(run(caps, list(2, STAR, UNKNOWN)).possible?.map((p) => [p.dependsOn, p.outcome])).toEqual([
      [["msr-exists.0x1ff"], { type: "vmexit", reason: 34, qualification: 2 }],
    ]);
  });

  it("the evaluation leaves the context's profile as it found it", () => {
    const ctx = contextOf(state(sky, list(2, STAR, UNKNOWN)));
    const before = ctx.caps;
    expect(evaluate(ctx).possible).toHaveLength(1);
    expect(ctx.caps).toBe(before);
    // a valid state: the profile's uncertain facts are tried and change nothing
    const valid = contextOf(state(sky));
    const caps0 = valid.caps;
    expect(caps0.facts.anyUncertainMask).toBe(true);
    expect(evaluate(valid)).toEqual({ outcome: { type: "entered" }, violations: [] });
    expect(valid.caps).toBe(caps0);
  });
});

// icelake-server's profile has no IA32_PERF_CAPABILITIES: whether IA32_PERF_GLOBAL_CTRL bit 48 (PERF_METRICS)
// and IA32_DEBUGCTL bit 14 (FREEZE_WHILE_SMM) exist is an uncertain fact (both depend on msr.0x345).
describe("possible findings from CPU facts: which checks are tried, and on which profile", () => {
  const ice = builtinProfile("icelake-server");
  const LOAD_DEBUGCTL = 1n << 2n;
  const LOAD_PERF = 1n << 13n;
  const debugctl = {
    vmcs: { VM_ENTRY_CONTROLS: (v: bigint) => v | LOAD_DEBUGCTL, GUEST_IA32_DEBUGCTL: 1n << 14n },
  };
  const perf = {
    vmcs: { VM_ENTRY_CONTROLS: (v: bigint) => v | LOAD_PERF, GUEST_IA32_PERF_GLOBAL_CTRL: 1n << 48n },
  };
  const EXIT33 = { type: "vmexit", reason: 33, qualification: 0 };
  const found = (r: ReturnType<typeof run>) =>
    r.possible?.map((p) => [p.dependsOn, p.outcome, p.violations.map((v) => v.id)]);

  it("two uncertain facts with one outcome: both findings listed, the outcome once", () => {
    const both = {
      vmcs: {
        VM_ENTRY_CONTROLS: (v: bigint) => v | LOAD_DEBUGCTL | LOAD_PERF,
        GUEST_IA32_DEBUGCTL: 1n << 14n,
        GUEST_IA32_PERF_GLOBAL_CTRL: 1n << 48n,
      },
    };
    const r = run(ice, both);
    expect(r.outcome).toEqual({ type: "entered" });
    expect(r.possibleOutcomes).toEqual([{ type: "entered" }, EXIT33]);
    expect(found(r)).toEqual([
      [["msr.0x345"], EXIT33, ["guest.perf-global-ctrl.reserved-bits"]],
      [["msr.0x345"], EXIT33, ["guest.debugctl.reserved-bits"]],
    ]);
  });

  it("an uncertain MSR before a definite failure of the same check: possible, at the earlier entry", () => {
    // on skylake IA32_PKRS (0x6e1) cannot be loaded; whether IA32_UINTR_RR (0x985) exists is not known
    const r = run(sky, list(2, [0x985, 0n], [0x6e1, 0n]));
    expect(ids(r)).toEqual(["msr-load.unavailable-msr"]);
    expect(r.outcome).toEqual({ type: "vmexit", reason: 34, qualification: 2 });
    expect(found(r)).toEqual([
      [["msr-exists.0x985"], { type: "vmexit", reason: 34, qualification: 1 }, ["msr-load.unavailable-msr"]],
    ]);
  });

  it("an MSR-load entry whose value only an uncertain mask decides: possible exit 34", () => {
    const r = run(ice, list(1, [0x38f, 1n << 48n]));
    expect(r.outcome).toEqual({ type: "entered" });
    expect(found(r)).toEqual([
      [["msr.0x345"], { type: "vmexit", reason: 34, qualification: 1 }, ["msr-load.value-reserved-bits"]],
    ]);
  });

  it("an uncertain mask beside an MSR-load list whose uncertain MSR changes nothing: the mask still tried", () => {
    // IA32_PKRS (0x6e1) cannot be loaded on icelake-server (entry 1); IA32_UINTR_RR (0x985, entry 2) may not
    // exist, which changes nothing after entry 1; IA32_DEBUGCTL bit 14 may be reserved (guest state: exit 33)
    const r = run(ice, list(2, [0x6e1, 0n], [0x985, 0n]), debugctl);
    expect(ids(r)).toEqual(["msr-load.unavailable-msr"]);
    expect(r.outcome).toEqual({ type: "vmexit", reason: 34, qualification: 1 });
    expect(found(r)).toEqual([[["msr.0x345"], EXIT33, ["guest.debugctl.reserved-bits"]]]);
  });

  it("at most 16 uncertain MSRs of one list are tried alone, the first 16", () => {
    const many = Array.from({ length: 17 }, (_, k): [number, bigint] => [0x12345600 + k, 0n]);
    const r = run(sky, list(17, ...many));
    expect(r.possible?.map((p) => p.dependsOn[0])).toEqual(
      many.slice(0, 16).map(([i]) => `msr-exists.0x${i.toString(16)}`),
    );
  });

  it("a list of checks or a profile evaluated just before does not decide what is tried next", () => {
    const want = [[["msr.0x345"], EXIT33, ["guest.debugctl.reserved-bits"]]];
    // another list first (one that reads no uncertain fact), on the same profile and state
    const ctx = contextOf(state(ice, debugctl));
    evaluate(ctx, [byId("guest.rflags.reserved-bits")]);
    expect(found(evaluate(ctx))).toEqual(want);
    // another profile first, whose uncertain facts do not include IA32_DEBUGCTL's (a list of its own, so that
    // no earlier test has evaluated it)
    const checks = CHECKS.slice();
    const next = contextOf(state(ice, debugctl));
    evaluate(contextOf(state(sky, debugctl)), checks);
    expect(found(evaluate(next, checks))).toEqual(want);
  });

  it("the context's profile is restored when the last fact tried finds nothing", () => {
    // the perf fact is tried first and finds the bit; the IA32_DEBUGCTL and IA32_SPEC_CTRL facts after it find nothing
    const ctx = contextOf(state(ice, perf));
    const before = ctx.caps;
    expect(found(evaluate(ctx))).toEqual([[["msr.0x345"], EXIT33, ["guest.perf-global-ctrl.reserved-bits"]]]);
    expect(ctx.caps).toBe(before);
  });

  it("an MSR-load check is tried on every uncertain fact, even when its source names none (it reads them through helpers)", () => {
    const perfValid = (c: Ctx): boolean => (c.mem.read32(AREA + 12) & ~c.caps.perfGlobalCtrlValidHi) === 0;
    const custom: Check = {
      id: "custom.msr-load-perf",
      sdm: "29.4",
      cls: "msr-load",
      fields: ["VM_ENTRY_MSR_LOAD_ADDR", "VM_ENTRY_MSR_LOAD_COUNT"],
      rule: "a custom MSR-load check whose condition lives in a helper",
      fail: (c) => !perfValid(c),
      message: () => "IA32_PERF_GLOBAL_CTRL",
    };
    const r = evaluate(contextOf(state(ice, list(1, [0x38f, 1n << 48n]))), [custom]);
    expect(r.possible?.map((p) => [p.dependsOn, p.violations.map((v) => v.id)])).toEqual([
      [["msr.0x345"], ["custom.msr-load-perf"]],
    ]);
  });

  it("a check given as plain closures: its reads of uncertain facts found in its source, its message built at once", () => {
    const GUEST_DEBUGCTL = F.GUEST_IA32_DEBUGCTL!;
    const custom: Check = {
      id: "custom.debugctl-bits",
      sdm: "29.3.1.1",
      cls: "guest",
      fields: ["GUEST_IA32_DEBUGCTL"],
      rule: "a custom check written as closures",
      fail: (c) => (c.lo(GUEST_DEBUGCTL) & ~c.caps.debugctlValidLo) !== 0,
      message: (c) => `CPL ${c.proc_.cpl}`,
    };
    const ctx = contextOf(state(ice, { vmcs: { GUEST_IA32_DEBUGCTL: 1n << 14n } }));
    const r = evaluate(ctx, [custom]);
    expect(r.possible?.map((p) => [p.dependsOn, p.violations.map((v) => v.id)])).toEqual([
      [["msr.0x345"], ["custom.debugctl-bits"]],
    ]);
    // failing definitely (a bit no reading allows): the message was built during the evaluation, as it may read
    // the processor state, which a result cannot watch for changes
    const bad = contextOf(state(ice, { vmcs: { GUEST_IA32_DEBUGCTL: 1n << 31n } }));
    const v = evaluate(bad, [custom]).violations[0]!;
    bad.proc_.cpl = 3;
    expect(v.message).toBe("CPL 0");
  });
});

describe("sameOutcome", () => {
  it("compares every part of an outcome", () => {
    const cases: [unknown, unknown, boolean][] = [
      [{ type: "entered" }, { type: "entered" }, true],
      [{ type: "vmfail-invalid" }, { type: "entered" }, false],
      [{ type: "vmfail-valid", error: 7 }, { type: "vmfail-valid", error: 7 }, true],
      [{ type: "vmfail-valid", error: 7 }, { type: "vmfail-valid", error: 8 }, false],
      [{ type: "vmfail-valid", error: 7 }, { type: "vmexit", reason: 33, qualification: 0 }, false],
      [
        { type: "vmexit", reason: 33, qualification: 0 },
        { type: "vmexit", reason: 33, qualification: 0 },
        true,
      ],
      [
        { type: "vmexit", reason: 33, qualification: 0 },
        { type: "vmexit", reason: 33, qualification: 4 },
        false,
      ],
      [
        { type: "vmexit", reason: 33, qualification: 1 },
        { type: "vmexit", reason: 34, qualification: 1 },
        false,
      ],
      [{ type: "vmexit", reason: 33, qualification: 0 }, { type: "vmfail-valid", error: 33 }, false],
      [{ type: "fault", exception: "#UD" }, { type: "fault", exception: "#UD" }, true],
      [{ type: "fault", exception: "#UD" }, { type: "fault", exception: "#GP(0)" }, false],
      [{ type: "fault", exception: "#UD" }, { type: "vmfail-invalid" }, false],
    ];
    for (const [a, b, same] of cases)
      expect(sameOutcome(a as never, b as never), `${JSON.stringify(a)} ${JSON.stringify(b)}`).toBe(same);
  });

  it("decide: entered with nothing failing; alternatives listed with their outcomes after the outcome", () => {
    expect(decide([], contextOf(state(caps)))).toEqual({ outcome: { type: "entered" } });
    const ctx = contextOf(state(caps, { vmcs: { GUEST_RFLAGS: 0xan, VMCS_LINK_POINTER: 0x1001n } }));
    const d = decide([byId("guest.rflags.reserved-bits"), byId("guest.link-pointer.alignment")], ctx);
    expect(d.possibleOutcomes).toEqual([
      { type: "vmexit", reason: 33, qualification: 0 },
      { type: "vmexit", reason: 33, qualification: 4 },
    ]);
  });
});

describe("messages", () => {
  it("a message that throws gives the rule and the error, not an exception", () => {
    const real = byId("guest.rflags.reserved-bits");
    const broken: Check = {
      id: real.id,
      sdm: real.sdm,
      cls: real.cls,
      fields: real.fields,
      rule: real.rule,
      fail: real.fail,
      message: () => {
        throw new Error("no such bit");
      },
    };
    const r = evaluate(contextOf(state(caps, { vmcs: { GUEST_RFLAGS: 0x8n } })), [broken]);
    expect(r.violations.map((v) => [v.id, v.message])).toEqual([
      [real.id, `${real.rule} (message failed: no such bit)`],
    ]);
  });

  it("a result refuses to describe its context after the context's VMCS, memory or profile was replaced", () => {
    const swaps: [string, (c: Ctx) => void][] = [
      ["vmcs", (c) => (c.vmcs = state(caps).vmcs)],
      ["memory", (c) => (c.mem = new Memory())],
      ["profile", (c) => (c.caps = sky)],
    ];
    for (const [what, swap] of swaps) {
      const ctx = contextOf(state(caps, { vmcs: { GUEST_RFLAGS: 0x8n } }));
      const r = evaluate(ctx);
      swap(ctx);
      expect(() => r.violations[0]!.message, what).toThrow(
        "the message of guest.rflags.reserved-bits was read after the state changed",
      );
    }
  });

  it("a violation's fields are its own copy", () => {
    const r = run(caps, { vmcs: { GUEST_RFLAGS: 0x8n } });
    const v = r.violations[0]!;
    expect(v.fields).toEqual(byId(v.id).fields);
    v.fields.push("changed");
    expect(byId(v.id).fields).not.toContain("changed");
    expect(JSON.parse(JSON.stringify(v))).toEqual({
      id: v.id,
      sdm: v.sdm,
      message: v.message,
      fields: v.fields,
    });
    // a processor-state check's violation (its message built at once) too
    const cpl = run(caps, { processor: { cpl: 3 } }).violations[0]!;
    cpl.fields.push("changed");
    expect(byId(cpl.id).fields).not.toContain("changed");
  });
});

describe("runners per list of checks", () => {
  it("two lists used in turn each get their own verdicts", () => {
    const a = [byId("guest.rflags.reserved-bits"), byId("guest.rflags.bit1-set")];
    const b = [byId("ctl.exec.cr3-target-count")];
    const ctx = contextOf(state(caps, { vmcs: { GUEST_RFLAGS: 0x8n, CR3_TARGET_COUNT: 5 } }));
    for (let k = 0; k < 2; k++) {
      expect(failingChecks(ctx, a)).toEqual(a);
      expect(countFailures(ctx, a)).toBe(2);
      expect(failingChecks(ctx, b)).toEqual(b);
      expect(countFailures(ctx, b)).toBe(1);
      expect(failingChecks(ctx).map((c) => c.id)).toEqual(ids(evaluate(ctx)));
    }
    const valid = contextOf(state(caps));
    expect(failingChecks(valid, a)).toEqual([]);
    expect(countFailures(valid)).toBe(0);
  });
});
