/**
 * The processor part of a runner's signature (src/entry/fast.ts `processorBits`, the signature table, the
 * specialized runner's guard): every processor mode gets its own specialized code, which gives the reference
 * verdict, and a state in another mode never runs code specialized for the first — also when the modes alternate
 * on one runner, with and without RFLAGS.VM, and for a processor object holding a value outside its type.
 */
import { describe, expect, it } from "vitest";
import { F } from "../../src/arch/fields.js";
import { CHECKS } from "../../src/checks/registry.js";
import { type Check, Ctx } from "../../src/checks/types.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { failingChecksReference } from "../../src/entry/evaluate.js";
import { compileRunner, runnerSources } from "../../src/entry/fast.js";
import { DEFAULT_PROCESSOR, type ProcessorState } from "../../src/entry/processor.js";
import { baseEntry } from "../../src/gen/base.js";

const FLAGS = [
  "ia32e",
  "vmxRoot",
  "currentVmcsValid",
  "inSmm",
  "blockingByMovSs",
  "dualMonitorActive",
  "currentVmcsShadow",
] as const;

/** Processor modes: the defaults, each property changed alone, and a few together. */
const MODES: Partial<ProcessorState>[] = [
  {},
  { instruction: "vmresume" },
  { launchState: "launched" },
  { instruction: "vmresume", launchState: "launched" },
  { executiveVmcsLaunchState: undefined },
  { executiveVmcsLaunchState: "clear" },
  ...FLAGS.map((f) => ({ [f]: !DEFAULT_PROCESSOR[f] })),
  { inSmm: true, dualMonitorActive: true, executiveVmcsLaunchState: "clear" },
  // every property at its zero encoding
  {
    instruction: "vmlaunch",
    launchState: "clear",
    executiveVmcsLaunchState: undefined,
    ...Object.fromEntries(FLAGS.map((f) => [f, false])),
  },
];

const ids = (out: Int32Array, n: number) =>
  n < 0 ? [`runner returned ${n}`] : Array.from(out.subarray(0, n), (i) => CHECKS[i]!.id);
const specialized = () => [...runnerSources().keys()].filter((n) => n.endsWith("-specialized"));

describe("a runner's processor signature", () => {
  it("specializes each processor mode on its own, and gives the reference verdict as modes alternate", () => {
    const e = baseEntry(builtinProfile("sapphirerapids"));
    const v86 = e.vmcs.clone();
    v86.set(F.GUEST_RFLAGS!, v86.get(F.GUEST_RFLAGS!) | (1n << 17n));
    const run = compileRunner(CHECKS, { specializeAfter: 1 });
    const out = new Int32Array(CHECKS.length);
    const verdicts = new Set<string>();
    for (let round = 0; round < 3; round++)
      for (const vmcs of [e.vmcs, v86]) {
        const before = new Set(specialized());
        for (const m of round === 1 ? [...MODES].reverse() : MODES) {
          const processor = { ...DEFAULT_PROCESSOR, ...m } as ProcessorState;
          const ctx = new Ctx(vmcs, e.caps, processor, e.memory);
          const want = failingChecksReference(ctx).map((c) => c.id);
          verdicts.add(want.join());
          expect(ids(out, run(ctx, out)), `round ${round}, ${JSON.stringify(m)}`).toEqual(want);
        }
        // the first sighting of each mode compiles its code (specializeAfter 1)
        if (round === 0) expect(specialized().filter((n) => !before.has(n))).toHaveLength(MODES.length);
      }
    // the modes are told apart by the verdicts too, not only by the code
    expect(verdicts.size).toBeGreaterThan(6);
  });

  it("never specializes a processor object holding a value outside its type, and gives the reference verdict", () => {
    const e = baseEntry(builtinProfile("skylake"));
    const run = compileRunner(CHECKS, { specializeAfter: 1 });
    const out = new Int32Array(CHECKS.length);
    const odd: Record<string, unknown>[] = [
      { instruction: "VMLAUNCH" },
      { launchState: "" },
      { executiveVmcsLaunchState: "launch" },
      ...FLAGS.map((f) => ({ [f]: 1 })),
      ...FLAGS.map((f) => ({ [f]: undefined })),
    ];
    const before = new Set(specialized());
    for (let round = 0; round < 2; round++)
      for (const m of odd) {
        const processor = { ...DEFAULT_PROCESSOR, ...m } as unknown as ProcessorState;
        const ctx = new Ctx(e.vmcs, e.caps, processor, e.memory);
        const want = failingChecksReference(ctx).map((c) => c.id);
        expect(ids(out, run(ctx, out)), JSON.stringify(m)).toEqual(want);
      }
    expect(specialized().filter((n) => !before.has(n))).toEqual([]);
  });

  it("never folds a check given as plain closures (no source to probe) into its value: it runs on every state", () => {
    const e = baseEntry(builtinProfile("skylake"));
    let fails = true;
    const check: Check = {
      id: "test.plain",
      sdm: "29.9",
      cls: "guest",
      fields: [],
      rule: "test.plain",
      when: () => true,
      fail: () => fails,
      message: () => "",
    };
    const run = compileRunner([check], { specializeAfter: 1 });
    const out = new Int32Array(1);
    const ctx = new Ctx(e.vmcs, e.caps, e.processor, e.memory);
    for (const f of [true, false, true, true, false]) {
      fails = f;
      expect(run(ctx, out), String(f)).toBe(f ? 1 : 0);
    }
  });

  it("folds every field of the signature into a literal: a specialized runner reads none of them but in its guard", () => {
    // the signature's fields, listed here rather than taken from fast.ts
    const names = [
      ...["CS", "SS", "DS", "ES", "FS", "GS", "TR", "LDTR"].map((s) => `GUEST_${s}_AR_BYTES`),
      "GUEST_CR0",
      "GUEST_CR4",
      "GUEST_IA32_EFER",
      "GUEST_RFLAGS",
      "GUEST_ACTIVITY_STATE",
      "GUEST_INTERRUPTIBILITY_INFO",
      "GUEST_PENDING_DBG_EXCEPTIONS",
      "VMCS_LINK_POINTER",
      "VM_ENTRY_INTR_INFO_FIELD",
      "VM_ENTRY_MSR_LOAD_COUNT",
      "VM_EXIT_MSR_LOAD_COUNT",
      "VM_EXIT_MSR_STORE_COUNT",
      "HOST_CR0",
      "HOST_CR4",
      "HOST_IA32_EFER",
      ...["CS", "SS", "DS", "ES", "FS", "GS", "TR"].map((s) => `HOST_${s}_SELECTOR`),
    ];
    const e = baseEntry(builtinProfile("sapphirerapids"));
    const before = new Set(specialized());
    const generic = compileRunner(CHECKS, { specializeAfter: 0 });
    const genericName = [...runnerSources().keys()].at(-1)!;
    const run = compileRunner(CHECKS, { specializeAfter: 1 });
    const out = new Int32Array(CHECKS.length);
    const ctx = new Ctx(e.vmcs, e.caps, e.processor, e.memory);
    expect(run(ctx, out)).toBe(generic(ctx, out));
    const made = specialized().filter((n) => !before.has(n));
    expect(made).toHaveLength(1);
    const src = runnerSources().get(made[0]!)!;
    // the guard: the runner's first statement, after the functions of its parts
    const guardEnd = src.indexOf(") return -1;");
    const guardStart = src.lastIndexOf("\nif (", guardEnd);
    expect(guardStart).toBeGreaterThan(0);
    const guard = src.slice(guardStart, guardEnd);
    const body = src.slice(0, guardStart) + src.slice(guardEnd);
    const genericSrc = runnerSources().get(genericName)!;
    const reads: [string, string][] = [
      ...names.map((n): [string, string] => [n, `v[${F[n]! << 1}]`]),
      // high halves
      ...["GUEST_CR4", "VMCS_LINK_POINTER", "HOST_CR4"].map((n): [string, string] => [
        `${n}.hi`,
        `v[${(F[n]! << 1) | 1}]`,
      ]),
    ];
    // the control words: the checks read them as folded words (c.pin, c.proc3, ...), the guard by slot
    const words = [
      ...[
        "PIN_BASED_VM_EXEC_CONTROL",
        "CPU_BASED_VM_EXEC_CONTROL",
        "SECONDARY_VM_EXEC_CONTROL",
        "TERTIARY_VM_EXEC_CONTROL",
        "VM_EXIT_CONTROLS",
        "SECONDARY_VM_EXIT_CONTROLS",
        "VM_ENTRY_CONTROLS",
      ].map((n) => `v[${F[n]! << 1}]`),
      ...["TERTIARY_VM_EXEC_CONTROL", "SECONDARY_VM_EXIT_CONTROLS"].map((n) => `v[${(F[n]! << 1) | 1}]`),
    ];
    for (const w of words) expect(guard.includes(`${w} !== `), w).toBe(true);
    // the processor mode: tested by the guard (checks that read it with data fields still read it)
    for (const k of ["instruction", "launchState", "executiveVmcsLaunchState", ...FLAGS])
      expect(guard.includes(`c.proc_.${k} !== `), k).toBe(true);
    for (const [n, read] of reads) {
      expect(genericSrc.includes(read), `the checks read ${n}`).toBe(true);
      expect(guard.includes(`${read} !== `), `the guard tests ${n}`).toBe(true);
      expect(body.includes(read), `${n} is a literal`).toBe(false);
    }
  });

  it("never folds a predicate that reads memory: memory is not part of the signature", () => {
    const e = baseEntry(builtinProfile("skylake"));
    const src = "(c.mem.read32(4096) !== 0)";
    const fail = Object.assign((c: Ctx) => c.mem.read32(4096) !== 0, { src });
    const check: Check = {
      id: "test.memory",
      sdm: "29.9",
      cls: "guest",
      fields: [],
      rule: "test.memory",
      fail,
      message: () => "",
    };
    const run = compileRunner([check], { specializeAfter: 1 });
    const out = new Int32Array(1);
    const ctx = new Ctx(e.vmcs, e.caps, e.processor, e.memory);
    for (const word of [0, 1, 0, 1, 1, 0]) {
      e.memory.write32(4096, word);
      expect(run(ctx, out), String(word)).toBe(word ? 1 : 0);
    }
  });
});
