import { describe, expect, it } from "vitest";
import { FIELDS } from "../../src/arch/fields.js";
import { type Reads, toFunction } from "../../src/checks/compile.js";
import { G, GATES } from "../../src/checks/groups.js";
import { CHECK_MODULES } from "../../src/checks/registry.js";
import type { RuleCheck } from "../../src/checks/rule.js";
import { type ControlWordName, stateOf, WORD_FIELDS } from "../../src/checks/state.js";
import type { Ctx } from "../../src/checks/types.js";
import { contextOf } from "../../src/entry/run.js";
import { Memory } from "../../src/vmcs/memory.js";
import { type CheckCase, capsOf, state, type VectorTables } from "../helpers.js";
import { tables as basic } from "../vectors/basic.js";
import { tables as execControls } from "../vectors/exec-controls.js";
import { tables as exitEntry } from "../vectors/exit-entry-controls.js";
import { tables as guestCrDtrRip } from "../vectors/guest-cr-dtr-rip.js";
import { tables as guestNonRegister } from "../vectors/guest-non-register.js";
import { tables as guestSegments } from "../vectors/guest-segments.js";
import { tables as host } from "../vectors/host.js";

const TABLES: VectorTables = {
  ...basic,
  ...execControls,
  ...exitEntry,
  ...host,
  ...guestCrDtrRip,
  ...guestSegments,
  ...guestNonRegister,
};

/** Every state of a vector table: setup with its fail, pass and inapplicable patches. */
function statesOf(table: readonly CheckCase[]): Ctx[] {
  const out: Ctx[] = [];
  for (const c of table)
    for (const p of [c.fail, c.pass, c.inapplicable, {}]) {
      if (p === undefined) continue;
      const ctx = contextOf(state(capsOf(c), c.setup, p));
      ctx.refresh();
      out.push(ctx);
    }
  return out;
}

const WORDS: readonly (ControlWordName | "v86")[] = Object.keys(WORD_FIELDS) as (ControlWordName | "v86")[];

/**
 * The fields an expression actually reads on a state: it runs on a stand-in context whose VMCS slots and
 * control words record every read (short-circuits included, so only what this state makes it read).
 */
function readsOn(
  src: string,
  ctx: Ctx,
  into: Set<string>,
  more?: { readonly cpu: Set<string>; mem: boolean },
): unknown {
  const v = new Proxy(ctx.v, {
    get(t, k) {
      if (typeof k === "string" && /^[0-9]+$/.test(k))
        into.add((FIELDS[Number(k) >> 1] as { name: string }).name);
      const x: unknown = Reflect.get(t, k);
      return typeof x === "function" ? x.bind(t) : x;
    },
  });
  const stand: Record<string, unknown> = { v, caps: ctx.caps, proc_: ctx.proc_, mem: ctx.mem };
  if (more) {
    // processor properties and memory too
    stand["proc_"] = new Proxy(ctx.proc_, {
      get(t, k) {
        if (typeof k === "string") more.cpu.add(k);
        return Reflect.get(t, k);
      },
    });
    Object.defineProperty(stand, "mem", {
      get() {
        more.mem = true;
        return ctx.mem;
      },
    });
  }
  for (const w of WORDS)
    Object.defineProperty(stand, w, {
      get() {
        for (const f of WORD_FIELDS[w]) into.add(f);
        return ctx[w];
      },
    });
  return toFunction(src, "reads")(stand as unknown as Ctx);
}

const MODULES = CHECK_MODULES.map(({ file, section }) => ({
  module: file.replace(/^src\/checks\/|\.ts$/g, ""),
  section,
  checks: section.checks as readonly RuleCheck[],
}));

describe("declared fields agree with what the checks read", () => {
  for (const { module, checks } of MODULES) {
    it(module, () => {
      const states = statesOf(TABLES[module] ?? []);
      for (const check of checks) {
        const read = new Set<string>();
        for (const ctx of states) {
          // The section's exemption (e.g. not on an SMM return) is not the rule's: it is left out of `fields`.
          if (check.parts.exempt && readsOn(check.parts.exempt, ctx, new Set())) continue;
          const applies =
            (!check.parts.gate || readsOn(check.parts.gate, ctx, read)) &&
            (!check.parts.when || readsOn(check.parts.when, ctx, read));
          if (applies) readsOn(check.parts.fail, ctx, read);
        }
        const declared = new Set(check.fields);
        expect(
          [...read].filter((f) => !declared.has(f)),
          `${check.id} reads undeclared fields`,
        ).toEqual([]);
        expect(
          check.fields.filter((f) => !read.has(f)),
          `${check.id} declares fields it never reads`,
        ).toEqual([]);
      }
    });
  }
});

// The violation search (src/gen/violate.ts) skips changes of what a check's verdict does not read: every read
// of any part (the section's exemption, gate, own condition, fail), short-circuits or not, must be in it.
describe("verdictReads and whenReads hold everything a verdict and its applicability read", () => {
  /** Every read `parts` make on `states` is in `reads`. */
  function holds(label: string, reads: Reads, parts: (string | undefined)[], states: readonly Ctx[]): void {
    const fields = new Set<string>();
    const more = { cpu: new Set<string>(), mem: false };
    for (const ctx of states) for (const src of parts) if (src !== undefined) readsOn(src, ctx, fields, more);
    const listed = new Set<string>(reads.fields);
    expect(
      [...fields].filter((f) => !listed.has(f)),
      `${label}: fields`,
    ).toEqual([]);
    expect(
      [...more.cpu].filter((k) => !reads.cpu.has(k)),
      `${label}: processor`,
    ).toEqual([]);
    if (more.mem) expect(reads.mem, `${label}: memory`).toBe(true);
  }
  for (const { module, checks } of MODULES) {
    it(module, () => {
      const states = statesOf(TABLES[module] ?? []);
      for (const check of checks) {
        const { exempt, gate, when, fail } = check.parts;
        holds(`${check.id} verdict`, check.verdictReads, [exempt, gate, when, fail], states);
        holds(`${check.id} applicability`, check.whenReads, [exempt, gate, when], states);
      }
    });
  }
});

/** The first MSR-load entry (1-based) for which a typed entry predicate holds, walked here by hand. */
function firstEntry(check: RuleCheck, ctx: Ctx): number {
  const s = stateOf(ctx);
  const entry = check.typed.entry;
  if (!entry) throw new Error(`${check.id} is not an MSR-load check`);
  const n = Math.min(s.VM_ENTRY_MSR_LOAD_COUNT, s.caps.maxMsrList);
  let a = Memory.addr(s.VM_ENTRY_MSR_LOAD_ADDR, s.hi.VM_ENTRY_MSR_LOAD_ADDR);
  for (let i = 1; i <= n; i++, a += 16) {
    const e = {
      index: s.mem.read32(a),
      reserved: s.mem.read32(a + 4),
      lo: s.mem.read32(a + 8),
      hi: s.mem.read32(a + 12),
    };
    if (entry(s, e, check.typed.p)) return i;
  }
  return 0;
}

describe("compiled predicates agree with the typed functions they come from", () => {
  for (const { module, section, checks } of MODULES) {
    it(module, () => {
      for (const ctx of statesOf(TABLES[module] ?? [])) {
        const s = stateOf(ctx);
        for (const check of checks) {
          const t = check.typed;
          const gate = check.group ? !!G[check.group](s) : true;
          const exempt = section.unless ? !!G[section.unless](s) : false;
          const applies = gate && !exempt && (t.when ? !!t.when(s, t.p) : true);
          expect(check.when?.(ctx) ?? true, `${check.id} applies`).toBe(applies);
          if (t.fail) expect(check.fail(ctx), `${check.id} fails`).toBe(!!t.fail(s, t.p));
          else {
            expect(check.entryIndex?.(ctx), `${check.id} entry`).toBe(firstEntry(check, ctx));
            expect(check.fail(ctx), `${check.id} fails`).toBe(firstEntry(check, ctx) !== 0);
          }
        }
      }
    });
  }

  it("the gates too", () => {
    for (const ctx of statesOf(Object.values(TABLES).flat())) {
      const s = stateOf(ctx);
      for (const [name, gate] of Object.entries(GATES))
        expect(!!toFunction(gate.src, name)(ctx), name).toBe(!!G[name as keyof typeof G](s));
    }
  });
});

describe("every registered check", () => {
  it("compiles (predicates are compiled on first use; a mistake must not wait for a user)", () => {
    for (const { checks } of MODULES)
      for (const c of checks) {
        expect(c.fail.src, c.id).toBeTypeOf("string");
        expect(c.fields, c.id).toBeInstanceOf(Array);
        if (c.when) expect(c.when.src, c.id).toBeTypeOf("string");
      }
  });
});

describe("sections", () => {
  it("give every check its module's SDM section (or a subsection of it) and a class", () => {
    for (const { section, checks } of MODULES)
      for (const c of checks) {
        expect(`${c.sdm}.`.startsWith(`${section.sdm}.`), `${c.id} in ${section.sdm}`).toBe(true);
        expect(c.cls, c.id).toBeDefined();
      }
  });
});
