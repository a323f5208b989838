/**
 * The incremental JSON syntax check (src/cli/json-prefix.ts) against JSON.parse: "complete" exactly when
 * JSON.parse accepts the text, never "bad" on a prefix of a valid text, and the same answer however the
 * bytes are split.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { JsonPrefix, type PrefixStatus } from "../../src/cli/json-prefix.js";

function status(text: string, cuts: number[] = []): PrefixStatus {
  const b = Buffer.from(text, "utf8");
  const p = new JsonPrefix();
  let at = 0;
  for (const c of [...cuts.map((x) => x % (b.length + 1)).sort((x, y) => x - y), b.length]) {
    if (!p.feed(b, at, c)) return "bad";
    at = c;
  }
  return p.end();
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** JSON texts: compact, pretty and with random whitespace between tokens. */
const jsonText = fc
  .tuple(fc.jsonValue(), fc.constantFrom(undefined, 1, 2, "\t"), fc.constantFrom("", " ", "\r\n", "\n\t "))
  .map(([v, indent, pad]) => `${pad}${JSON.stringify(v, null, indent)}${pad}`);

/** Small edits of JSON texts: most are not JSON any more. */
const edited = fc
  .tuple(
    jsonText,
    fc.nat(),
    fc.nat({ max: 3 }),
    fc.constantFrom(...'{}[]:,"\\ -+.eE0129tfnurx\u00e9\n\u0001'.split("")),
  )
  .map(([t, at, del, ins]) => {
    const i = at % (t.length + 1);
    return t.slice(0, i) + ins + t.slice(i + del);
  });

describe("JsonPrefix", () => {
  it("says complete exactly when JSON.parse accepts the text, however it is split (property)", () => {
    fc.assert(
      fc.property(fc.oneof(jsonText, edited), fc.array(fc.nat(), { maxLength: 4 }), (text, cuts) => {
        const s = status(text, cuts);
        expect(s === "complete", JSON.stringify(text)).toBe(parses(text));
      }),
      { numRuns: 10000 },
    );
  });

  it("never says bad on a prefix of a JSON text (property)", () => {
    fc.assert(
      fc.property(jsonText, fc.nat(), (text, at) => {
        expect(status(text.slice(0, at % (text.length + 1)))).not.toBe("bad");
      }),
      { numRuns: 5000 },
    );
  });

  it.each([
    ["oops", "bad"],
    ["{bad", "bad"],
    ['{"vmcs": {', "incomplete"],
    ['{"vmcs": {\n{"vmcs":{}}', "bad"],
    ["[\n1,\n", "incomplete"],
    ["[1]\n[2]", "bad"],
    ['"a\nb"', "bad"],
    ["-", "incomplete"],
    ["01", "bad"],
    ["1.e5", "bad"],
    ['"\\u00e', "incomplete"],
    ['"\\u00eg"', "bad"],
    ["  123  ", "complete"],
    ["nul", "incomplete"],
    ["nulL", "bad"],
    ["[".repeat(100000), "incomplete"],
  ])("%j is %s", (text, want) => {
    expect(status(text)).toBe(want);
  });
});
