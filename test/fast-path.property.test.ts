/**
 * Agreement of the compiled fast path (src/entry/fast.ts: chunked straight-line runners with group gating)
 * with the reference loop over the registry (`failingChecksReference`: `when` + `fail` only), on the base
 * state of every built-in profile mutated by random field writes, single-field boundary values, single-bit
 * flips and processor-state changes (issue 6). Also checks the promise behind group gating: a check never
 * applies while the gate of its group is false.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FIELDS } from "../src/arch/fields.js";
import { GROUPS } from "../src/checks/groups.js";
import { CHECKS } from "../src/checks/registry.js";
import { type Check, Ctx } from "../src/checks/types.js";
import { builtinNames, builtinProfile } from "../src/cpu/builtin.js";
import { countFailures, evaluate, failingChecks, failingChecksReference } from "../src/entry/evaluate.js";
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
  | { kind: "processor"; key: "inSmm" | "dualMonitorActive" | "ia32e" | "blockingByMovSs"; value: boolean };

const field = fc.integer({ min: 0, max: writable.length - 1 }).map((i) => writable[i]!.index);
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
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("processor" as const),
      key: fc.constantFrom(
        "inSmm" as const,
        "dualMonitorActive" as const,
        "ia32e" as const,
        "blockingByMovSs" as const,
      ),
      value: fc.boolean(),
    }),
  },
);

const ids = (cs: readonly Check[]) => cs.map((c) => c.id);

function agree(profile: string, muts: readonly Mutation[]): void {
  const e = baseEntry(builtinProfile(profile));
  for (const m of muts) {
    if (m.kind === "set") e.vmcs.set(m.field, m.value);
    else if (m.kind === "flip") e.vmcs.set(m.field, e.vmcs.get(m.field) ^ (1n << BigInt(m.bit)));
    else e.processor[m.key] = m.value;
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
