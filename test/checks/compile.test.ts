/**
 * The typed-predicate compiler (src/checks/compile.ts): what a predicate's source becomes, what it records as
 * read, and the mistakes it refuses at load time. The type errors a misspelling gives are checked by
 * `npm run typecheck` on test/checks/misspellings.ts.
 */
import { describe, expect, it } from "vitest";
import * as archControls from "../../src/arch/controls.js";
import { F, type FieldName } from "../../src/arch/fields.js";
import * as archRegisters from "../../src/arch/registers.js";
import { compilePredicate, decoders, tokenize } from "../../src/checks/compile.js";
import { section } from "../../src/checks/rule.js";
import type { State } from "../../src/checks/state.js";
import { Ctx } from "../../src/checks/types.js";
import * as util from "../../src/checks/util.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { baseEntry } from "../../src/gen/base.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves the names these predicates use here.
const scope = (name: string): unknown => eval(name);
const { CR0, CR4 } = archRegisters;
const { PROC2 } = archControls;
const { canonical } = util;
const NEGATIVE = -8;
const FLAG = true;
const LABEL = "not a number";
const notADecoder = (x: number) => x + 1;
const { twice, plusCr0 } = decoders(scope, {
  twice: (x: number) => x * 2,
  plusCr0: (s: State, x: number) => s.GUEST_CR0 + twice(x),
});

/** The decoder `twice`, typed so that a wrong arity compiles (the compiler must refuse it). */
const looseTwice = twice as (...a: number[]) => number;

const slot = (name: FieldName, hi = false) => (F[name] << 1) | (hi ? 1 : 0);

describe("compilePredicate", () => {
  it("turns fields, halves, control words, capabilities, processor and memory into context reads", () => {
    const c = compilePredicate(
      (s: State) =>
        s.GUEST_CR0 +
        s.hi.GUEST_CR4 +
        s.proc2 +
        s.caps.ctl.proc2.may1 +
        (s.cpu.inSmm ? 1 : 0) +
        s.mem.read8(0),
      scope,
    );
    expect(c.src).toBe(
      `v[${slot("GUEST_CR0")}]/*GUEST_CR0*/ + v[${slot("GUEST_CR4", true)}]/*GUEST_CR4.hi*/ + c.proc2 + c.caps.ctl.proc2.may1 + (c.proc_.inSmm ? 1 : 0) + c.mem.read8(0)`,
    );
    expect(c.reads.fields).toEqual([
      "GUEST_CR0",
      "GUEST_CR4",
      "CPU_BASED_VM_EXEC_CONTROL",
      "SECONDARY_VM_EXEC_CONTROL",
    ]);
    expect([...c.reads.words]).toEqual(["proc2"]);
    expect([...c.reads.caps]).toEqual(["ctl.proc2.may1"]);
    expect([...c.reads.cpu]).toEqual(["inSmm"]);
    expect(c.reads.mem).toBe(true);
  });

  it("folds module constants and members of tables into literals (negatives in parentheses)", () => {
    const c = compilePredicate(
      (s: State) =>
        (s.GUEST_CR0 & CR0.PG) !== 0 && s.proc2 !== NEGATIVE && FLAG && (s.proc2 & PROC2.EPT) !== 0,
      scope,
    );
    expect(c.src).toContain("& (-2147483648)"); // CR0.PG is 1 << 31
    expect(c.src).toContain("!== (-8)");
    expect(c.src).toContain("&& true &&");
    expect(c.src).toContain("& 2)");
  });

  it("pastes decoders with their arguments, decoders inside decoders, and records their reads", () => {
    const c = compilePredicate((s: State) => plusCr0(s, s.GUEST_CR4) > 3, scope);
    expect(c.src).toBe(
      `(v[${slot("GUEST_CR0")}]/*GUEST_CR0*/ + (v[${slot("GUEST_CR4")}]/*GUEST_CR4*/ * 2)) > 3`,
    );
    expect(c.reads.fields).toEqual(["GUEST_CR4", "GUEST_CR0"]);
    const k = compilePredicate((s: State) => !canonical(s, s.hi.GUEST_RIP), scope);
    expect(k.src).toContain("c.caps.linearAddressBits");
    expect([...k.reads.caps]).toEqual(["linearAddressBits"]);
  });

  it("replaces a rule's bindings: field names index the state, numbers become literals", () => {
    const c = compilePredicate((s: State, p: { f: "GUEST_RIP"; n: number }) => s.hi[p.f] > p.n, scope, [
      { f: "GUEST_RIP", n: 7 },
    ]);
    expect(c.src).toBe(`v[${slot("GUEST_RIP", true)}]/*GUEST_RIP.hi*/ > 7`);
  });

  it("evaluates the compiled source like the typed function", () => {
    const e = baseEntry(builtinProfile("skylake"));
    const ctx = new Ctx(e.vmcs, e.caps, e.processor, e.memory);
    const c = compilePredicate(
      (s: State) => (s.GUEST_CR0 & CR0.PG) !== 0 && (s.GUEST_CR4 & CR4.PAE) !== 0,
      scope,
    );
    expect(new Function("c", `const v = c.v; return ${c.src};`)(ctx)).toBe(true);
  });

  it("accepts what loaders and minifiers write: `(0, ns.f)(…)`, template strings without substitutions, `!0`", () => {
    const ns = { twice };
    const fn = (s: State) => s.GUEST_CR0 === 1;
    const text = "(s) => (0, ns.twice)(s.GUEST_CR0) === 2 && s.cpu.instruction === `vmlaunch` && !0";
    const minified = Object.assign(fn, { toString: () => text });
    const local = (name: string): unknown => (name === "ns" ? ns : scope(name));
    const c = compilePredicate(minified, local);
    expect(c.src).toBe(
      `(v[${slot("GUEST_CR0")}]/*GUEST_CR0*/ * 2) === 2 && c.proc_.instruction === \`vmlaunch\` && !0`,
    );
  });

  it("refuses what cannot be pasted: closure variables, strings, objects, other functions, blocks", () => {
    const closure = 3;
    expect(() =>
      compilePredicate(
        (s: State) => s.GUEST_CR0 === closure,
        () => undefined,
      ),
    ).toThrow(/closure|not a number/);
    expect(() => compilePredicate((s: State) => s.cpu.instruction === (LABEL as "vmlaunch"), scope)).toThrow(
      /a string/,
    );
    expect(() => compilePredicate((s: State) => notADecoder(s.GUEST_CR0) === 0, scope)).toThrow(
      /not a decoder/,
    );
    expect(() => compilePredicate((s: State) => s.caps === (CR0 as unknown), scope)).toThrow(/object/);
    expect(() =>
      compilePredicate((s: State) => {
        return s.GUEST_CR0 === 0;
      }, scope),
    ).toThrow(/one expression/);
    expect(() => compilePredicate((s: State) => looseTwice(s.GUEST_CR0, 1) === 0, scope)).toThrow(
      /takes 1 arguments, got 2/,
    );
    expect(() => compilePredicate((s: State) => `${s.GUEST_CR0}` === "0", scope)).toThrow(/template/);
  });

  it("refuses names that are not part of the state, even where the types were bypassed", () => {
    const wrong = (s: State) => (s as unknown as Record<string, number>)["GUEST_CRO"] === 0;
    expect(() => compilePredicate(wrong, scope)).toThrow(/GUEST_CRO is not part of the state/);
    const hi = (s: State) => (s.hi as unknown as Record<string, number>)["NOT_A_FIELD"] === 0;
    expect(() => compilePredicate(hi, scope)).toThrow(/s\.hi\.NOT_A_FIELD is not a VMCS field/);
  });

  it("publishes instrumentation hooks (mutation testing) on globalThis and calls them there", () => {
    const hook = (id: string) => id === "never";
    const local = (name: string): unknown => (name === "stryMutAct_0abcd" ? hook : scope(name));
    const fn = Object.assign((s: State) => s.GUEST_CR0 === 0, {
      toString: () => '(s) => stryMutAct_0abcd("1") ? false : s.GUEST_CR0 === 0',
    });
    const c = compilePredicate(fn, local);
    expect(c.src).toContain('globalThis.stryMutAct_0abcd("1")');
    expect((globalThis as Record<string, unknown>)["stryMutAct_0abcd"]).toBe(hook);
  });
});

describe("tokenize", () => {
  it("keeps strings, comments and numbers whole", () => {
    const t = tokenize(`a.b >>> 0x1f_ff /* c.d */ !== "x\\"y" && 1e3`).filter((x) => x.k !== "space");
    expect(t.map((x) => x.s)).toEqual(["a", ".", "b", ">>>", "0x1f_ff", "!==", '"x\\"y"', "&&", "1e3"]);
  });
});

describe("section.rule", () => {
  const { rule } = section({ scope, sdm: "29.9.9", title: "test", cls: "guest" });

  it("derives fields from every predicate (group gate included) and gives the message the failing value", () => {
    const r = rule({
      id: "test.rule",
      rule: "test",
      group: "guestLoadCet",
      when: (s) => (s.GUEST_CR0 & CR0.PE) !== 0,
      fail: (s) => s.GUEST_SSP & 3,
      message: (s, low) => `SSP low bits ${low}, CR0 ${s.GUEST_CR0 & CR0.PE}`,
    });
    expect(r.fields).toEqual(["GUEST_SSP", "VM_ENTRY_CONTROLS", "GUEST_CR0"]);
    expect(r.sdm).toBe("29.9.9");
    expect(r.cls).toBe("guest");
    const e = baseEntry(builtinProfile("sapphirerapids"));
    e.vmcs.setByName("GUEST_SSP", 0x1003n);
    const ctx = new Ctx(e.vmcs, e.caps, e.processor, e.memory);
    expect(r.fail(ctx)).toBe(true);
    expect(r.message(ctx)).toBe("SSP low bits 3, CR0 1");
  });

  it("compiles on first use, and names the rule when its predicate cannot be compiled", () => {
    const outside = 5;
    const bad = section({ scope: () => undefined, sdm: "1", title: "t", cls: "guest" }).rule({
      id: "bad.rule",
      rule: "x",
      fail: (s) => s.GUEST_CR0 === outside,
      message: () => "",
    });
    expect(bad.id).toBe("bad.rule");
    expect(() => bad.fail).toThrow(/^check bad\.rule: `outside` is not defined in the module/);
    expect(() => bad.fields).toThrow(/^check bad\.rule: /);
  });
});
