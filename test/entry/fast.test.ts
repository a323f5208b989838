/**
 * The runner builder (src/entry/fast.ts) beyond agreement with the reference loop (test/fast-path.property.test.ts,
 * test/fast-specialize.property.test.ts): which runners it makes and when (a profile's own runner after
 * `profileAfter` states, at most eight profiles per runner), the names and source it keeps (the newest 64), and
 * the error an unlocatable failure gives.
 */
import { describe, expect, it } from "vitest";
import { CHECKS } from "../../src/checks/registry.js";
import { type Check, Ctx } from "../../src/checks/types.js";
import { builtinNames, builtinProfile } from "../../src/cpu/builtin.js";
import { decodeProfile } from "../../src/cpu/profile.js";
import { failingChecksReference } from "../../src/entry/evaluate.js";
import { compileRunner, runnerSources } from "../../src/entry/fast.js";
import { baseEntry } from "../../src/gen/base.js";
import { ALL_PROFILE_DATA } from "../helpers.js";

/** A check with a plain closure as its predicate (called from a chunk). */
const plain = (id: string, fail: () => boolean): Check => ({
  id,
  sdm: "29.9",
  cls: "guest",
  fields: [],
  rule: id,
  fail,
  message: () => "",
});

const names = () => [...runnerSources().keys()];
const ctxOf = (profile: string) => {
  const e = baseEntry(builtinProfile(profile));
  e.vmcs.setByName("GUEST_CS_AR_BYTES", 0xe09bn); // L and D both set: guest.cs.l-and-d fails
  return new Ctx(e.vmcs, e.caps, e.processor, e.memory);
};
const ids = (out: Int32Array, n: number) => Array.from(out.subarray(0, n), (i) => CHECKS[i]!.id);

describe("runnerSources", () => {
  it("keeps the newest 64 runners, oldest dropped first", () => {
    const first = names().length;
    const made: string[] = [];
    for (let k = 0; k < 70; k++) {
      compileRunner([plain(`test.sources-${k}`, () => false)], { specializeAfter: 0 });
      made.push(names().at(-1)!);
    }
    expect(runnerSources().size).toBe(64);
    expect(names()).toEqual(made.slice(-64));
    expect(first).toBeLessThanOrEqual(64);
    for (const [k, name] of made.slice(-64).entries())
      expect(runnerSources().get(name)).toContain(`/* 0 test.sources-${k + 6} */ n = k0(c, out, n);`);
  });
});

describe("a runner's error", () => {
  it("names the runner alone when no check throws again (the locator finds none)", () => {
    let calls = 0;
    const once = plain("test.once", () => {
      if (calls++ === 0) throw new Error("first call only");
      return false;
    });
    const run = compileRunner([once], { specializeAfter: 0 });
    const ctx = ctxOf("skylake");
    expect(() => run(ctx, new Int32Array(1))).toThrow(/^nvmx-runner-\d+-generic: first call only$/);
  });

  it("a thrown value that is not an Error is named as text", () => {
    const run = compileRunner(
      [
        plain("test.quiet", () => false),
        plain("test.string", () => {
          throw "not an error";
        }),
      ],
      { specializeAfter: 0 },
    );
    expect(() => run(ctxOf("skylake"), new Int32Array(2))).toThrow(
      /^check test\.string threw in nvmx-runner-\d+-generic: not an error$/,
    );
  });
});

describe("a profile's own runner", () => {
  it("is compiled on the profileAfter-th state of a profile, named after it, and gives the reference verdict", () => {
    const run = compileRunner(CHECKS, { specializeAfter: 0, profileAfter: 3 });
    const out = new Int32Array(CHECKS.length);
    const ctx = ctxOf("skylake");
    const want = failingChecksReference(ctx).map((c) => c.id);
    expect(want).toEqual(["guest.cs.l-and-d"]);
    const before = names().at(-1)!;
    for (let k = 1; k <= 2; k++) {
      expect(ids(out, run(ctx, out))).toEqual(want);
      expect(names().at(-1), `state ${k}`).toBe(before);
    }
    expect(ids(out, run(ctx, out))).toEqual(want);
    const own = names().at(-1)!;
    expect(own).toMatch(/^nvmx-runner-\d+-skylake$/);
    // its capabilities are literals: no read of the profile's allowed settings is left
    expect(runnerSources().get(own)).not.toMatch(/c\.caps\.ctl\.proc\.may1\b/);
    expect(runnerSources().get(before)).toMatch(/c\.caps\.ctl\.proc\.may1\b/);
    // and it is used from then on
    for (let k = 0; k < 3; k++) expect(ids(out, run(ctx, out))).toEqual(want);
    expect(names().at(-1)).toBe(own);
  });

  it("never with profileAfter 0; at most eight profiles get one; odd profile names are made safe", () => {
    const none = compileRunner(CHECKS, { specializeAfter: 0, profileAfter: 0 });
    const out = new Int32Array(CHECKS.length);
    const before = names().at(-1);
    for (let k = 0; k < 5; k++) none(ctxOf("skylake"), out);
    expect(names().at(-1)).toBe(before);

    const run = compileRunner(CHECKS, { specializeAfter: 0, profileAfter: 1 });
    const profiles = builtinNames().slice(0, 9);
    expect(profiles).toHaveLength(9);
    const made: string[] = [];
    for (const p of profiles) {
      const last = names().at(-1);
      const ctx = ctxOf(p);
      expect(ids(out, run(ctx, out)), p).toEqual(failingChecksReference(ctx).map((c) => c.id));
      if (names().at(-1) !== last) made.push(names().at(-1)!);
    }
    expect(made.map((n) => n.replace(/^nvmx-runner-\d+-/, ""))).toEqual(
      profiles.slice(0, 8).map((p) => p.replace(/[^\w.-]/g, "_")),
    );

    const odd = decodeProfile({ ...structuredClone(ALL_PROFILE_DATA), name: "my cpu/2" });
    const unnamed = decodeProfile({ ...structuredClone(ALL_PROFILE_DATA), name: "" });
    const run2 = compileRunner(CHECKS, { specializeAfter: 0, profileAfter: 1 });
    for (const caps of [odd, unnamed]) {
      const e = baseEntry(caps);
      run2(new Ctx(e.vmcs, caps, e.processor, e.memory), out);
    }
    expect(
      names()
        .slice(-2)
        .map((n) => n.replace(/^nvmx-runner-\d+-/, "")),
    ).toEqual(["my_cpu_2", "profile"]);
  });
});
