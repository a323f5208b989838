/**
 * Agreement of the compiled fast path (src/entry/fast.ts: chunked straight-line runners with group gating)
 * with the reference loop over the registry (`failingChecksReference`: `when` + `fail` only), on the base
 * state of every built-in profile mutated by random field writes, single-field boundary values (generic edges
 * and the edges of particular rules: event vectors 31/32/33, instruction lengths 0/15/16, …), single-bit
 * flips and changes of every part of the processor state (instruction, launch states, flags, CPL, pointers). Also checks the promise behind group gating: a check never
 * applies while the gate of its group is false.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { F, FIELDS, type FieldDef } from "../src/arch/fields.js";
import { GROUPS } from "../src/checks/groups.js";
import { CHECKS } from "../src/checks/registry.js";
import { type Check, Ctx } from "../src/checks/types.js";
import { builtinNames, builtinProfile } from "../src/cpu/builtin.js";
import { countFailures, evaluate, failingChecks, failingChecksReference } from "../src/entry/evaluate.js";
import type { ProcessorState } from "../src/entry/processor.js";
import { baseEntry } from "../src/gen/base.js";

const U64 = (1n << 64n) - 1n;
const writable = FIELDS.filter((f) => f.type !== "read-only");

/** Values at the edges the rules care about: 0, all ones, single bits, low masks, canonical edges. */
const boundary: fc.Arbitrary<bigint> = fc.oneof(
  fc.constantFrom(0n, U64, 1n, 0xffffn, 0xffffffffn, 0x100000000n, 0xffff_ffff_0000_0000n),
  fc.integer({ min: 0, max: 63 }).map((b) => 1n << BigInt(b)),
  fc.integer({ min: 1, max: 64 }).map((b) => (1n << BigInt(b)) - 1n),
  fc
    .constantFrom(47, 48, 56, 57)
    .chain((w) =>
      fc.constantFrom(
        (1n << BigInt(w - 1)) - 1n,
        1n << BigInt(w - 1),
        BigInt.asUintN(64, -(1n << BigInt(w - 1))),
        BigInt.asUintN(64, -(1n << BigInt(w - 1)) - 1n),
      ),
    ),
);

type Mutation =
  | { kind: "set"; field: number; value: bigint }
  | { kind: "flip"; field: number; bit: number }
  | { kind: "processor"; patch: Partial<ProcessorState> };

const field = fc.integer({ min: 0, max: writable.length - 1 }).map((i) => (writable[i] as FieldDef).index);

/**
 * Every part of the processor state the signature encodes (src/entry/fast.ts `processorBits`), and the
 * pointers and CPL that only predicates read.
 */
const processorPatch: fc.Arbitrary<Partial<ProcessorState>> = fc.oneof(
  fc.record({ instruction: fc.constantFrom("vmlaunch" as const, "vmresume" as const) }),
  fc.record({ launchState: fc.constantFrom("clear" as const, "launched" as const) }),
  fc.record({ executiveVmcsLaunchState: fc.constantFrom("clear" as const, "launched" as const, undefined) }),
  fc
    .record({
      key: fc.constantFrom(
        "inSmm",
        "dualMonitorActive",
        "ia32e",
        "blockingByMovSs",
        "vmxRoot",
        "currentVmcsValid",
        "currentVmcsShadow",
      ),
      value: fc.boolean(),
    })
    .map(({ key, value }) => ({ [key]: value })),
  fc.record({ cpl: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ vmxonPointer: fc.constantFrom(0, 0x1000, 0x40000) }),
  fc.record({ currentVmcsPointer: fc.constantFrom(undefined, 0x1000, 0x2000, 0x40000) }),
);

/**
 * Values at the edges of the rules on particular fields: event vectors around 31/32 and the error-code
 * vectors, every event type with and without deliver-error-code, instruction lengths 0/1/15/16, activity and
 * interruptibility states, counts around the CPU's limits.
 */
const fieldBoundary: fc.Arbitrary<Mutation> = fc.oneof(
  fc
    .record({
      type: fc.integer({ min: 0, max: 7 }),
      vector: fc.constantFrom(0, 1, 2, 3, 6, 8, 14, 18, 21, 31, 32, 33, 255),
      deliver: fc.boolean(),
      extra: fc.constantFrom(0, 1 << 12, 1 << 13, 1 << 30),
    })
    .map(({ type, vector, deliver, extra }) => ({
      kind: "set" as const,
      field: F.VM_ENTRY_INTR_INFO_FIELD,
      value: BigInt(((1 << 31) | (type << 8) | vector | (deliver ? 1 << 11 : 0) | extra) >>> 0),
    })),
  fc.constantFrom(0n, 1n, 15n, 16n, 0xffffffffn).map((value) => ({
    kind: "set" as const,
    field: F.VM_ENTRY_INSTRUCTION_LEN,
    value,
  })),
  fc.constantFrom(0n, 0xffffn, 0x10000n).map((value) => ({
    kind: "set" as const,
    field: F.VM_ENTRY_EXCEPTION_ERROR_CODE,
    value,
  })),
  fc
    .integer({ min: 0, max: 5 })
    .map((a) => ({ kind: "set" as const, field: F.GUEST_ACTIVITY_STATE, value: BigInt(a) })),
  fc.integer({ min: 0, max: 0x3f }).map((i) => ({
    kind: "set" as const,
    field: F.GUEST_INTERRUPTIBILITY_INFO,
    value: BigInt(i),
  })),
  fc.constantFrom(3n, 4n, 5n).map((value) => ({ kind: "set" as const, field: F.CR3_TARGET_COUNT, value })),
  fc.constantFrom(0n, 1n, 511n, 512n, 513n).map((value) => ({
    kind: "set" as const,
    field: F.VM_ENTRY_MSR_LOAD_COUNT,
    value,
  })),
  fc.constantFrom(0xffn, 0x100n).map((value) => ({ kind: "set" as const, field: F.POSTED_INTR_NV, value })),
);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("set" as const), field, value: boundary }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("set" as const),
      field,
      value: fc.bigInt({ min: 0n, max: U64 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant("flip" as const), field, bit: fc.integer({ min: 0, max: 63 }) }),
  },
  { weight: 2, arbitrary: fieldBoundary },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("processor" as const), patch: processorPatch }) },
);

const ids = (cs: readonly Check[]) => cs.map((c) => c.id);

function agree(profile: string, muts: readonly Mutation[]): void {
  const e = baseEntry(builtinProfile(profile));
  for (const m of muts) {
    if (m.kind === "set") e.vmcs.set(m.field, m.value);
    else if (m.kind === "flip") e.vmcs.set(m.field, e.vmcs.get(m.field) ^ (1n << BigInt(m.bit)));
    else Object.assign(e.processor, m.patch);
  }
  const ctx = new Ctx(e.vmcs, e.caps, e.processor, e.memory);
  const reference = failingChecksReference(ctx);
  expect(ids(failingChecks(ctx))).toEqual(ids(reference));
  expect(countFailures(ctx)).toBe(reference.length);
  expect(evaluate(ctx).violations.map((v) => v.id)).toEqual(ids(reference));
  // Group gating: no check applies while its group's gate is false.
  for (const c of CHECKS)
    if (c.group !== undefined && !GROUPS[c.group](ctx) && c.when !== undefined)
      expect(c.when(ctx), `${c.id} applies with gate ${c.group} false`).toBe(false);
}

describe("fast path agrees with the reference loop (issue 6)", () => {
  const profiles = builtinNames();

  it("every grouped check has a `when` (the group only narrows it)", () => {
    for (const c of CHECKS) if (c.group !== undefined) expect(c.when, c.id).toBeDefined();
  });

  it("on the unmodified base state of every built-in profile", () => {
    for (const p of profiles) agree(p, []);
  });

  it("on single-field boundary values and bit flips", () => {
    fc.assert(
      fc.property(fc.constantFrom(...profiles), mutation, (p, m) => agree(p, [m])),
      { numRuns: 3000 },
    );
  });

  it("on several random field writes", () => {
    fc.assert(
      fc.property(fc.constantFrom(...profiles), fc.array(mutation, { minLength: 2, maxLength: 6 }), (p, ms) =>
        agree(p, ms),
      ),
      { numRuns: 1500 },
    );
  });
});
