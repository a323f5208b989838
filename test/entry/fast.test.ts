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

/** A check with plain closures as its predicates (called from a chunk). */
const plain = (id: string, fail: () => boolean, when?: () => boolean): Check => ({
  id,
  sdm: "29.9",
  cls: "guest",
  fields: [],
  rule: id,
  fail,
  ...(when ? { when } : {}),
  message: () => "",
});

/** What a call throws (vitest's toThrow(regex) passes when `undefined` is thrown: assert on the value). */
function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    return e as Error;
  }
  throw new Error("did not throw");
}

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
  it("names the runner alone when no check throws again (the locator finds none); the first error is its cause", () => {
    let first: Error | undefined;
    const once = plain("test.once", () => {
      if (first) return false;
      // made here, so that its stack runs through the chunk that called this predicate
      first = new Error("first call only");
      throw first;
    });
    const run = compileRunner([once], { specializeAfter: 0 });
    const e = thrown(() => run(ctxOf("skylake"), new Int32Array(1)));
    expect(e.message).toMatch(/^nvmx-runner-\d+-generic: first call only$/);
    expect(e.cause).toBe(first);
    // the error came from the chunk function, named after its runner
    expect(first?.stack).toMatch(/nvmx-runner-\d+-generic-chunk\d+\.js/);
  });

  it("names the check that throws, skipping a check whose `when` is false; a thrown value that is not an Error is named as text", () => {
    const boom = new Error("boom");
    const run = compileRunner(
      [
        plain(
          "test.inapplicable",
          () => {
            throw new Error("never called");
          },
          () => false,
        ),
        plain("test.quiet", () => false),
        plain("test.boom", () => {
          throw boom;
        }),
      ],
      { specializeAfter: 0 },
    );
    const e = thrown(() => run(ctxOf("skylake"), new Int32Array(3)));
    expect(e.message).toMatch(/^check test\.boom threw in nvmx-runner-\d+-generic: boom$/);
    expect(e.cause).toBe(boom);
    for (const [value, text] of [
      ["not an error", "not an error"],
      [null, "null"],
      [undefined, "undefined"],
    ] as const) {
      const run2 = compileRunner(
        [
          plain("test.value", () => {
            throw value;
          }),
        ],
        { specializeAfter: 0 },
      );
      expect(thrown(() => run2(ctxOf("skylake"), new Int32Array(1))).message).toMatch(
        new RegExp(`^check test\\.value threw in nvmx-runner-\\d+-generic: ${text}$`),
      );
    }
    let once = true;
    const run3 = compileRunner(
      [
        plain("test.null-once", () => {
          if (once) {
            once = false;
            throw null;
          }
          return false;
        }),
      ],
      { specializeAfter: 0 },
    );
    expect(thrown(() => run3(ctxOf("skylake"), new Int32Array(1))).message).toMatch(
      /^nvmx-runner-\d+-generic: null$/,
    );
  });
});

describe("chunks (checks given as plain closures)", () => {
  it("test `when` before `fail`, and list the ids of a chunk's checks beside its call", () => {
    const checks = [
      plain(
        "test.off",
        () => true,
        () => false,
      ),
      plain(
        "test.on",
        () => true,
        () => true,
      ),
      plain("test.passes", () => false),
    ];
    const run = compileRunner(checks, { specializeAfter: 0 });
    const out = new Int32Array(3);
    expect(Array.from(out.subarray(0, run(ctxOf("skylake"), out)))).toEqual([1]);
    expect(runnerSources().get(names().at(-1)!)).toContain(
      "/* 0 test.off, 1 test.on, 2 test.passes */ n = k0(c, out, n);",
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
