/**
 * The runner builder's plans and signature table (src/entry/fast.ts), seen from outside: which scalar
 * capabilities become literals in a profile's or a signature's code, how a signature's plan folds group gates,
 * when the signature table compiles specialized code (the n-th sighting, sampled sightings, slots shared by two
 * signatures, one table per profile) and which code then runs. What ran is observed through the runners' names
 * and source (`runnerSources()`) and through checks whose predicates count their calls on a global object.
 */
import { afterEach, describe, expect, it } from "vitest";
import { F } from "../../src/arch/fields.js";
import { toFunction } from "../../src/checks/compile.js";
import { CHECKS } from "../../src/checks/registry.js";
import { type Check, Ctx, type Pred } from "../../src/checks/types.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { type Caps, decodeProfile } from "../../src/cpu/profile.js";
import { failingChecksReference } from "../../src/entry/evaluate.js";
import { compileRunner, runnerSources } from "../../src/entry/fast.js";
import { DEFAULT_PROCESSOR } from "../../src/entry/processor.js";
import { baseEntry } from "../../src/gen/base.js";
import { Memory } from "../../src/vmcs/memory.js";
import { Vmcs } from "../../src/vmcs/store.js";
import { ALL_PROFILE_DATA, profileAll } from "../helpers.js";

/** A predicate with source, as a typed rule compiles to (the fast path pastes the source inline). */
const pred = (src: string, name: string): Pred => Object.assign(toFunction<boolean>(src, name), { src });

/** A check whose `fail` (and `when`) have source. */
function check(id: string, fail: string, extra: Partial<Pick<Check, "when" | "group">> = {}): Check {
  return {
    id,
    sdm: "29.9",
    cls: "guest",
    fields: [],
    rule: id,
    fail: pred(fail, `${id}.fail`),
    ...extra,
    message: () => "",
  };
}

/** Calls of the counting checks' predicates (read by their source through `globalThis`). */
const hits = { fixed: 0, data: 0 };
Object.assign(globalThis, { nvmxFastPlanHits: hits });
afterEach(() => {
  hits.fixed = 0;
  hits.data = 0;
});
const RIP = F.GUEST_RIP! << 1;
/**
 * Two checks that never fail and count their calls: the first reads nothing of the state (the signature fixes
 * it, so specialized code drops it and only the generic or profile runner calls it), the second reads guest
 * RIP (not in the signature, so every runner calls it once per state). A signature's plan probes each once.
 */
const COUNTING = [
  check("test.count-fixed", "globalThis.nvmxFastPlanHits.fixed++ < 0"),
  check("test.count-data", `globalThis.nvmxFastPlanHits.data++ < 0 || v[${RIP}] === 7`),
];

const SKYLAKE = builtinProfile("skylake");
/**
 * A state of zeros but for the host FS selector (part of the signature), on the default processor: its
 * signature, and so its slot in a runner's table, depends on nothing else.
 */
function state(selector: number, caps: Caps = SKYLAKE): Ctx {
  const vmcs = new Vmcs();
  vmcs.set(F.HOST_FS_SELECTOR!, BigInt(selector));
  return new Ctx(vmcs, caps, { ...DEFAULT_PROCESSOR }, new Memory());
}

/** Runner names made since `before` (a snapshot of `runnerSources()`'s keys), by kind. */
const madeSince = (before: ReadonlySet<string>, suffix = "-specialized") =>
  [...runnerSources().keys()].filter((n) => !before.has(n) && n.endsWith(suffix));
const snapshot = () => new Set(runnerSources().keys());

describe("a profile's scalar capabilities as literals", () => {
  // A capabilities object with members holding null and undefined (a caller's own object), beside the
  // decoded ones: paths through them must be left as they are.
  const decoded = profileAll();
  const withHoles: unknown = { ...decoded, none: null, unset: undefined };
  const caps = withHoles as Caps;
  // Each reads guest RIP first (not in the signature), so that specialized code keeps it too.
  const rip = `v[${RIP}] === 7 || `;
  const scalars = check(
    "test.caps-scalars",
    `${rip}c.caps.maxMsrList !== ${caps.maxMsrList} || c.caps.activityHlt !== ${caps.activityHlt}`,
  );
  const object = check("test.caps-object", `${rip}c.caps.ctl === undefined`);
  const holes = check(
    "test.caps-holes",
    `${rip}c.caps.none !== null && c.caps.none.deeper === 1 || c.caps.unset !== undefined && c.caps.unset.deeper === 1 || c.caps.nope !== undefined && c.caps.nope.deeper === 1`,
  );
  const checks = [scalars, object, holes];

  for (const [kind, opts] of [
    ["a profile's runner", { specializeAfter: 0, profileAfter: 1 }],
    ["specialized code", { specializeAfter: 1, profileAfter: 0 }],
  ] as const)
    it(`${kind}: numbers and booleans become literals; objects, and paths through null, undefined or a missing member stay reads`, () => {
      expect(typeof caps.activityHlt).toBe("boolean");
      const before = snapshot();
      const run = compileRunner(checks, opts);
      const out = new Int32Array(checks.length);
      // none fails: the literals have the values the reads had
      for (let k = 0; k < 3; k++) expect(run(state(0, caps), out)).toBe(0);
      // the profile's runner or the specialized code, beside the generic runner
      const made = madeSince(before, "").filter((n) => !n.endsWith("-generic"));
      expect(made).toHaveLength(1);
      const src = runnerSources().get(made[0]!)!;
      expect(src).toContain(`(${caps.maxMsrList}) !== ${caps.maxMsrList} || (${caps.activityHlt}) !== `);
      expect(src).not.toContain("c.caps.maxMsrList");
      expect(src).not.toContain("c.caps.activityHlt");
      expect(src).toContain("c.caps.ctl === undefined)");
      expect(src).toContain("c.caps.none.deeper === 1");
      expect(src).toContain("c.caps.unset.deeper === 1");
      expect(src).toContain("c.caps.nope.deeper === 1");
    });
});

describe("a signature's plan", () => {
  it("folds every gate the signature decides: the registry's specialized code tests no group gate, and gives the reference verdict", () => {
    const e = baseEntry(builtinProfile("sapphirerapids"));
    const ctx = new Ctx(e.vmcs, e.caps, e.processor, e.memory);
    const before = snapshot();
    const run = compileRunner(CHECKS, { specializeAfter: 1, profileAfter: 0 });
    const out = new Int32Array(CHECKS.length);
    const n = run(ctx, out);
    expect(Array.from(out.subarray(0, n), (i) => CHECKS[i]!.id)).toEqual(
      failingChecksReference(ctx).map((c) => c.id),
    );
    const generic = madeSince(before, "-generic");
    const specialized = madeSince(before);
    expect(generic).toHaveLength(1);
    expect(specialized).toHaveLength(1);
    // the generic runner tests the gates; the groups left in specialized code (EPT on here) have none
    expect(runnerSources().get(generic[0]!)).toMatch(/\/\* group eptOn \*\/ if \(/);
    const src = runnerSources().get(specialized[0]!)!;
    expect(src).not.toContain("/* group ");
    expect(src).toMatch(/eptp/i);
  });

  it("skips a group's checks while the gate is false, in generic and specialized code alike", () => {
    // The check's own predicates ignore the gate (its `when` is absent), so only the group skips it.
    const gated = [check("test.gated", "true", { group: "eptOn" })];
    const ept = (on: boolean): Ctx => {
      const ctx = state(0);
      if (on) {
        ctx.vmcs.set(F.CPU_BASED_VM_EXEC_CONTROL!, 1n << 31n); // activate secondary controls
        ctx.vmcs.set(F.SECONDARY_VM_EXEC_CONTROL!, 1n << 1n); // enable EPT
        ctx.refresh();
      }
      return ctx;
    };
    for (const specializeAfter of [0, 1]) {
      const out = new Int32Array(1);
      // a runner each, so that the specialized code is built for that state's signature
      for (const on of [false, true, false]) {
        const run = compileRunner(gated, { specializeAfter, profileAfter: 0 });
        for (let k = 0; k < 2; k++) expect(run(ept(on), out), `${specializeAfter} ${on}`).toBe(on ? 1 : 0);
      }
    }
  });
});

describe("the signature table", () => {
  const run3 = (opts: { specializeAfter: number; profileAfter?: number }) =>
    compileRunner(COUNTING, { profileAfter: 0, ...opts });

  it("specializes a signature on its specializeAfter-th sighting, not before, and once", () => {
    const run = run3({ specializeAfter: 3 });
    const out = new Int32Array(2);
    const before = snapshot();
    for (let k = 1; k <= 2; k++) {
      expect(run(state(8), out)).toBe(0);
      expect(madeSince(before), `sighting ${k}`).toEqual([]);
    }
    run(state(8), out);
    expect(madeSince(before)).toHaveLength(1);
    for (let k = 0; k < 5; k++) expect(run(state(8), out)).toBe(0);
    expect(madeSince(before)).toHaveLength(1);
  });

  // The host FS selectors below were found, for the states of `state()`, to take distinct slots of a table
  // (0 and 216) and the same slot (48 and 264); a change to the table's hash or to the signature's layout may
  // need new ones.
  it("specializes two alternating signatures that take distinct slots, each once", () => {
    const run = run3({ specializeAfter: 2 });
    const out = new Int32Array(2);
    const before = snapshot();
    for (let round = 0; round < 4; round++) for (const sel of [0, 216]) expect(run(state(sel), out)).toBe(0);
    const made = madeSince(before);
    expect(made).toHaveLength(2);
    const sel = `v[${F.HOST_FS_SELECTOR! << 1}] !== `;
    expect(made.map((n) => runnerSources().get(n)!.includes(`${sel}216 `))).toEqual([false, true]);
  });

  it("lets two signatures that share a slot take it over from each other: alternating, neither is specialized", () => {
    const run = run3({ specializeAfter: 2 });
    const out = new Int32Array(2);
    const before = snapshot();
    for (let round = 0; round < 4; round++) for (const sel of [48, 264]) expect(run(state(sel), out)).toBe(0);
    expect(madeSince(before)).toEqual([]);
    // one of them twice in a row: its second sighting
    run(state(48), out);
    expect(madeSince(before)).toEqual([]);
    run(state(48), out);
    expect(madeSince(before)).toHaveLength(1);
  });

  it("runs a signature's code once per state from the sighting that made it, without compiling it again", () => {
    const run = run3({ specializeAfter: 1 });
    const out = new Int32Array(2);
    const before = snapshot();
    expect(run(state(0), out)).toBe(0);
    // the plan probed each predicate once; the specialized code then called the data check only
    expect(hits).toEqual({ fixed: 1, data: 2 });
    // the same signature: the previous state's code applies
    for (let k = 0; k < 4; k++) run(state(0), out);
    expect(hits).toEqual({ fixed: 1, data: 6 });
    // alternating with a second signature: each found in the table, neither compiled again
    for (let k = 0; k < 3; k++) for (const sel of [216, 0]) run(state(sel), out);
    expect(hits).toEqual({ fixed: 2, data: 13 });
    expect(madeSince(before)).toHaveLength(2);
  });

  it("with a threshold of 64 or more, looks up every 64th state only, counting it as 64 sightings", () => {
    const run = run3({ specializeAfter: 64 });
    const out = new Int32Array(2);
    const before = snapshot();
    for (let k = 0; k < 63; k++) run(state(0), out);
    expect(madeSince(before)).toEqual([]);
    expect(hits).toEqual({ fixed: 63, data: 63 });
    // the 64th state, of another signature seen for the first time, is the one sampled
    run(state(216), out);
    const made = madeSince(before);
    expect(made).toHaveLength(1);
    expect(runnerSources().get(made[0]!)).toContain(`v[${F.HOST_FS_SELECTOR! << 1}] !== 216 `);
    expect(hits).toEqual({ fixed: 64, data: 65 });
  });

  it("with a threshold of 64 or more, runs a specialized signature's code on every later state with it", () => {
    const run = run3({ specializeAfter: 64 });
    const out = new Int32Array(2);
    for (let k = 0; k < 64; k++) run(state(0), out);
    // 63 generic runs, then the plan's probe
    expect(hits).toEqual({ fixed: 64, data: 65 });
    for (let k = 0; k < 200; k++) run(state(0), out);
    expect(hits).toEqual({ fixed: 64, data: 265 });
  });

  it("keeps a table per profile: states of two profiles that alternate each count toward their own runners", () => {
    const icelake = builtinProfile("icelake-server");
    const before = snapshot();
    const run = compileRunner(COUNTING, { specializeAfter: 2, profileAfter: 2 });
    const out = new Int32Array(2);
    for (let round = 0; round < 2; round++) for (const caps of [SKYLAKE, icelake]) run(state(0, caps), out);
    expect(madeSince(before, "").map((n) => n.replace(/^nvmx-runner-\d+-/, ""))).toEqual([
      "generic",
      "skylake",
      "skylake-specialized",
      "icelake-server",
      "icelake-server-specialized",
    ]);
  });

  it("names specialized code after its profile, made safe, or 'profile' when the profile has no name", () => {
    const odd = decodeProfile({ ...structuredClone(ALL_PROFILE_DATA), name: "my cpu/2" });
    const unnamed = decodeProfile({ ...structuredClone(ALL_PROFILE_DATA), name: "" });
    const run = run3({ specializeAfter: 1 });
    const out = new Int32Array(2);
    const before = snapshot();
    for (const caps of [odd, unnamed]) run(state(0, caps), out);
    expect(madeSince(before).map((n) => n.replace(/^nvmx-runner-\d+-/, ""))).toEqual([
      "my_cpu_2-specialized",
      "profile-specialized",
    ]);
  });
});

describe("a runner for a context the caller refreshed (refreshed: true)", () => {
  it("neither refreshes the context nor compiles a profile's or a signature's code", () => {
    const pin = [check("test.pin", "c.pin !== 0")];
    const before = snapshot();
    const refreshed = compileRunner(pin, { refreshed: true, specializeAfter: 1, profileAfter: 1 });
    const plain = compileRunner(pin, { specializeAfter: 0, profileAfter: 0 });
    expect(madeSince(before, "")).toHaveLength(2);
    const out = new Int32Array(1);
    for (let k = 0; k < 3; k++) {
      const ctx = state(0);
      // a control word written after the context was refreshed
      ctx.vmcs.set(F.PIN_BASED_VM_EXEC_CONTROL!, 1n);
      expect(refreshed(ctx, out), "the context as refreshed").toBe(0);
      expect(plain(ctx, out), "refreshed by the runner").toBe(1);
    }
    expect(madeSince(before, "")).toHaveLength(2);
  });
});
