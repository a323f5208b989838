/**
 * The typed-predicate compiler (src/checks/compile.ts), pinned where test/checks/compile.test.ts does not look
 * (mutants a StrykerJS run of compile.ts left, docs/mutation.md): the exact source it writes for the forms a
 * loader or minifier may give (spacing, comments, a single parameter, computed members, calls), where a
 * decoder's argument is put in parentheses, what it records as read, what it caches, and the message of each
 * mistake it refuses at load time. Predicates are given as source text (a function whose `toString` is that
 * text), so the text the compiler reads is exactly the one written here.
 */
import { describe, expect, it } from "vitest";
import { F, type FieldName } from "../../src/arch/fields.js";
import {
  compilePredicate,
  type Decoder,
  decoders,
  emptyReads,
  mergeReads,
  type Scope,
  tokenize,
} from "../../src/checks/compile.js";

const slot = (name: FieldName, hi = false) =>
  `v[${(F[name] << 1) | (hi ? 1 : 0)}]/*${name}${hi ? ".hi" : ""}*/`;
const CR0 = slot("GUEST_CR0");
const CR4 = slot("GUEST_CR4");

/** A function whose source, as the compiler reads it, is `text`. */
const fromText = (text: string): Decoder =>
  Object.assign((..._: unknown[]) => undefined, { toString: () => text });

/** A scope holding exactly `names` (nothing else is defined). */
const scopeOf =
  (names: Record<string, unknown>): Scope =>
  (name) => {
    if (Object.hasOwn(names, name)) return names[name];
    throw new ReferenceError(`${name} is not defined`);
  };

type Extra = Parameters<typeof compilePredicate>[2];
const compile = (text: string, names: Record<string, unknown> = {}, extra?: Extra) =>
  compilePredicate(fromText(text), scopeOf(names), extra);
const srcOf = (text: string, names: Record<string, unknown> = {}, extra?: Extra) =>
  compile(text, names, extra).src;
/** The message of the error compiling `text` throws. */
const errorOf = (text: string, names: Record<string, unknown> = {}, extra?: Extra): string => {
  try {
    compile(text, names, extra);
  } catch (e) {
    return (e as Error).message;
  }
  return "(compiled)";
};

/** Decoders registered in a scope of their own; returns the scope (which also holds `names`). */
function withDecoders(
  texts: Record<string, string>,
  names: Record<string, unknown> = {},
): Record<string, unknown> {
  const all: Record<string, unknown> = { ...names };
  const table: Record<string, Decoder> = {};
  for (const [name, text] of Object.entries(texts)) table[name] = fromText(text);
  decoders(scopeOf(all), table);
  Object.assign(all, table);
  return all;
}

describe("tokenize", () => {
  it("refuses an unterminated string with its own message, not the template-literal one", () => {
    expect(() => tokenize('"abc')).toThrow(/^unterminated string$/);
    expect(() => tokenize("a === 'b")).toThrow(/^unterminated string$/);
  });
});

describe("what a predicate reads", () => {
  it("starts empty (no memory read) and records a field once however often it is read", () => {
    const e = emptyReads();
    expect(e.mem).toBe(false);
    const c = compile("(s) => s.GUEST_CR0 + s.GUEST_CR4 + s.GUEST_CR0");
    expect(c.reads.fields).toEqual(["GUEST_CR0", "GUEST_CR4"]);
    expect(c.reads.mem).toBe(false);
  });

  it("merges memory reads: a read on either side is a read", () => {
    const a = emptyReads();
    a.mem = true;
    expect(mergeReads(a, emptyReads()).mem).toBe(true);
    expect(mergeReads(emptyReads(), a).mem).toBe(true);
    expect(mergeReads(emptyReads(), emptyReads()).mem).toBe(false);
  });

  it("records a capability method by its path (computed or dotted) and writes the call as it was", () => {
    const m = compile('(s) => s.caps["msrLoad"](0)');
    expect(m.src).toBe('c.caps["msrLoad"](0)');
    expect([...m.reads.caps]).toEqual(["msrLoad"]);
    const n = compile("(s) => s.caps.ctl.f(0)");
    expect(n.src).toBe("c.caps.ctl.f(0)");
    expect([...n.reads.caps]).toEqual(["ctl.f"]);
    const spaced = compile("(s) => s.caps. msrLoad(0)");
    expect(spaced.src).toBe("c.caps. msrLoad(0)");
    expect([...spaced.reads.caps]).toEqual(["msrLoad"]);
  });

  it("records no capability for the profile read whole", () => {
    const c = compile("(s) => s.caps");
    expect(c.src).toBe("c.caps");
    expect([...c.reads.caps]).toEqual([]);
  });

  it("reads one processor property and leaves the members after it to run as written", () => {
    const c = compile("(s) => s.cpu.instruction.length");
    expect(c.src).toBe("c.proc_.instruction.length");
    expect([...c.reads.cpu]).toEqual(["instruction"]);
  });
});

describe("the source a predicate becomes", () => {
  it("drops a trailing comment, line or block", () => {
    expect(srcOf("(s) => s.GUEST_CR0 // the low half")).toBe(CR0);
    expect(srcOf("(s) => s.GUEST_CR0 /* c */ ")).toBe(CR0);
    expect(srcOf("/* lead */ (s) => s.GUEST_CR0")).toBe(CR0);
  });

  it("accepts a single parameter without parentheses", () => {
    expect(srcOf("s => s.GUEST_CR0 === 0")).toBe(`${CR0} === 0`);
  });

  it("compiles an arrow with no body to nothing", () => {
    expect(srcOf("(s) =>")).toBe("");
  });

  it("reads members across spaces, and keeps names after `.` or `?.` as they are", () => {
    expect(srcOf("(s) => s . GUEST_CR0 === 0")).toBe(`${CR0} === 0`);
    expect(srcOf("(s) => s.mem . read8(0)")).toBe("c.mem . read8(0)");
    expect(srcOf("(s) => s.mem?.read8(0)")).toBe("c.mem?.read8(0)");
  });

  it("reads a computed member: in parentheses, with spaces, or not closed before the end of the text", () => {
    expect(srcOf('(s) => s[("GUEST_CR0")] === 0')).toBe(`${CR0} === 0`);
    expect(srcOf('(s) => s[ "GUEST_CR0" ] === 0')).toBe(`${CR0} === 0`);
    expect(srcOf('(s) => s["GUEST_CR0"')).toBe(CR0);
  });

  it("unwraps what loaders write around an imported call, `( 0 ,ns.f ) (…)`, whatever the spacing", () => {
    const names = withDecoders({ twice: "(x) => x * 2" });
    const ns = { twice: names["twice"] };
    expect(srcOf("(s) => ( 0 ,ns.twice ) (s.GUEST_CR0)", { ...names, ns })).toBe(`(${CR0} * 2)`);
    expect(srcOf("(s) => (0,ns.twice)(s.GUEST_CR0)", { ...names, ns })).toBe(`(${CR0} * 2)`);
  });

  it("folds zero as `0` and negative zero in parentheses", () => {
    expect(srcOf("(s) => s.GUEST_CR0 === ZERO", { ZERO: 0 })).toBe(`${CR0} === 0`);
    expect(srcOf("(s) => s.GUEST_CR0 === NZ", { NZ: -0 })).toBe(`${CR0} === (0)`);
  });

  it("follows members of a function (a table that is callable) to a constant", () => {
    const fn = Object.assign(() => 0, { K: 3 });
    expect(srcOf("(s) => s.GUEST_CR0 === FN.K", { FN: fn })).toBe(`${CR0} === 3`);
  });

  it("replaces a record binding's members by their sources (trimmed) and a binding named `record` by its value", () => {
    expect(srcOf("(s, r) => r.a + 1", {}, [{ record: { a: "mi" } }])).toBe("mi + 1");
    expect(srcOf("(s, p) => p.record", {}, [{ record: 5 }])).toBe("5");
    expect(srcOf("(s, r) => r.a", {}, [{ record: { a: " mi " } }])).toBe("mi");
  });
});

describe("a decoder's arguments", () => {
  const names = () => withDecoders({ twice: "(x) => x * 2", add: "(x, y) => x + y", zero: "() => 1" });

  it("are pasted bare when they are one operand, in parentheses otherwise", () => {
    const n = names();
    expect(srcOf("(s) => twice(s.proc2)", n)).toBe("(c.proc2 * 2)");
    expect(srcOf("(s) => twice(s.GUEST_CR0)", n)).toBe(`(${CR0} * 2)`);
    expect(srcOf("(s) => twice(s.GUEST_CR0 + 1)", n)).toBe(`((${CR0} + 1) * 2)`);
    expect(srcOf("(s) => twice(s.mem.read8(0))", n)).toBe("((c.mem.read8(0)) * 2)");
  });

  it("are pasted as they are when one group in parentheses, wrapped when several", () => {
    const n = names();
    expect(srcOf("(s) => twice((s.GUEST_CR0 + 1))", n)).toBe(`((${CR0} + 1) * 2)`);
    expect(srcOf("(s) => twice(((s.GUEST_CR0) + 1))", n)).toBe(`(((${CR0}) + 1) * 2)`);
    expect(srcOf("(s) => twice((s.GUEST_CR0) + (s.GUEST_CR4))", n)).toBe(`(((${CR0}) + (${CR4})) * 2)`);
    expect(srcOf('(s) => twice(("(") + 1)', n)).toBe('((("(") + 1) * 2)');
    // a bracket in a string literal is not one: two groups, wrapped (it was pasted bare: `("(") + (1) * 2`)
    expect(srcOf('(s) => twice(("(") + (1))', n)).toBe('((("(") + (1)) * 2)');
    expect(srcOf("(s) => twice((')') + (1))", n)).toBe("(((')') + (1)) * 2)");
    expect(srcOf("(s) => twice((s.cpu.inSmm) + (s.cpu.inSmm))", n)).toBe(
      "(((c.proc_.inSmm) + (c.proc_.inSmm)) * 2)",
    );
  });

  it("are split at top-level commas only (not inside braces), and an empty call has none", () => {
    const n = names();
    expect(srcOf('(s) => add({"k": 1, "j": 2}.k, 3)', n)).toBe('(({"k": 1, "j": 2}.k) + 3)');
    expect(srcOf("(s) => zero() + zero( )", n)).toBe("(1) + (1)");
  });

  it("run to the end of the text when the call is not closed", () => {
    expect(srcOf("(s) => twice(s.GUEST_CR0", names())).toBe(`(${CR0} * 2)`);
  });
});

describe("caches", () => {
  it("look a name up once per scope", () => {
    let calls = 0;
    const scope: Scope = (name) => {
      calls++;
      return name === "K" ? 5 : undefined;
    };
    expect(compilePredicate(fromText("(s) => K"), scope).src).toBe("5");
    expect(compilePredicate(fromText("(s) => K + K"), scope).src).toBe("5 + 5");
    expect(calls).toBe(1);
  });

  it("parse a function's text once", () => {
    let reads = 0;
    const fn = Object.assign(() => 0, {
      toString: () => {
        reads++;
        return "(s) => s.GUEST_CR0";
      },
    });
    const scope = scopeOf({});
    expect(compilePredicate(fn, scope).src).toBe(CR0);
    expect(compilePredicate(fn, scope).src).toBe(CR0);
    expect(reads).toBe(1);
  });
});

describe("what the compiler refuses, and the message it gives", () => {
  const long = "s.GUEST_CR0 + s.GUEST_CR4 + s.GUEST_CR3 + s.GUEST_RIP + s.GUEST_RSP";

  it("names the text that is not an arrow function (its first 60 characters)", () => {
    expect(errorOf("(s")).toBe("expected a parameter name in `(s`");
    expect(errorOf(`(s, 0) => ${long}`)).toBe(
      `expected a parameter name in \`${`(s, 0) => ${long}`.slice(0, 60)}\``,
    );
    expect(errorOf("1 => 1")).toBe("not an arrow function: `1 => 1`");
    expect(errorOf("")).toBe("not an arrow function: ``");
    expect(errorOf("s")).toBe("not an arrow function: `s`");
    const notFn = `"${"x".repeat(70)}" + 1`;
    expect(errorOf(notFn)).toBe(`not an arrow function: \`${notFn.slice(0, 60)}\``);
    const fn = `function predicateWithALongName(s) { return ${long}; }`;
    expect(errorOf(fn)).toBe(`not an arrow function: \`${fn.slice(0, 60)}\``);
  });

  it("names a block body (its first 80 characters)", () => {
    const block = `(s) => { return ${long} + s.GUEST_RFLAGS; }`;
    expect(block.length).toBeGreaterThan(80);
    expect(errorOf(block)).toBe(`a predicate is one expression, not a block: \`${block.slice(0, 80)}\``);
  });

  it("refuses a state not read through a member, an empty `s.hi` and `s.cpu`, a `.` without a name", () => {
    expect(errorOf("(s) => s === 0")).toBe(
      "the state is read through its members (`s.GUEST_CR0`), not passed around",
    );
    expect(errorOf("(s) => s.hi === 0")).toBe("s.hi.? is not a VMCS field");
    expect(errorOf("(s) => s.cpu")).toBe("read processor properties by name (`s.cpu.inSmm`)");
    expect(errorOf("(s) => s.")).toBe("expected a property name after `.`");
    expect(errorOf("(s) => s.(1)")).toBe("expected a property name after `.`");
  });

  it("refuses a computed member that is not a constant name, quoting it", () => {
    const msg = (x: string) =>
      `a computed member must be a constant name (a binding such as \`p.field\`), got \`${x}\``;
    expect(errorOf('(s) => s[1 + "GUEST_CR0"]')).toBe(msg('1 + "GUEST_CR0"'));
    expect(errorOf('(s) => s["GUEST_CR0" + 1]')).toBe(msg('"GUEST_CR0" + 1'));
  });

  it("names a name the module's scope cannot evaluate, with the scope's error", () => {
    const throwing: Scope = () => {
      throw new Error("boom");
    };
    expect(() => compilePredicate(fromText("(s) => K"), throwing)).toThrow(
      new Error(
        "`K` is not defined in the module (boom); a predicate reads only the state, its bindings, module-level constants and decoders",
      ),
    );
  });

  it("names what a module name or its member is when it is not a number or boolean", () => {
    expect(errorOf("(s) => LABEL.length", { LABEL: "abc" })).toBe(
      "`LABEL` is a string, not a number or boolean",
    );
    expect(errorOf("(s) => NUL.x", { NUL: null })).toBe("`NUL` is a object, not a number or boolean");
    expect(errorOf("(s) => T.FOO", { T: { A: 1 } })).toBe("`T.FOO` is undefined, not a number or boolean");
    expect(errorOf("(s) => INF", { INF: Number.POSITIVE_INFINITY })).toBe("INF is not a finite number");
    expect(errorOf("(s) => T.NAN", { T: { NAN: Number.NaN } })).toBe("T.NAN is not a finite number");
  });

  it("refuses a decoder that is not called, or that calls itself", () => {
    expect(errorOf("(s) => twice.length === 0", withDecoders({ twice: "(x) => x * 2" }))).toBe(
      "decoder twice must be called",
    );
    expect(errorOf("(s) => loop(1)", withDecoders({ loop: "(x) => loop(x)" }))).toBe(
      "decoder loop calls itself",
    );
  });

  it("names a binding read whole, a missing member of a binding or record, a binding that is not a literal", () => {
    expect(errorOf("(s, p) => p === 0", {}, [{}])).toBe("p is read through its members");
    expect(errorOf("(s, r) => r.b", {}, [{ record: { a: "mi" } }])).toBe("r.b is not defined");
    expect(errorOf("(s, p) => p.zz", {}, [{ a: 1 }])).toBe("binding p.zz is not defined");
    expect(errorOf("(s, p) => p.o", {}, [{ o: {} }])).toBe("binding p.o is not a number, boolean or string");
  });

  it("names a parameter given no value", () => {
    expect(() => compilePredicate(fromText("(s, p) => p.a"), scopeOf({}))).toThrow(
      new Error("parameter p has no value"),
    );
  });
});
