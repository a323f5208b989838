/**
 * Compile-time tests of the typed registry: every `@ts-expect-error` below must stay an error, or
 * `npm run typecheck` (tsc -p tsconfig.test.json, part of `npm test`) fails. Never run.
 */
import { F } from "../../src/arch/fields.js";
import { section } from "../../src/checks/rule.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves the names these predicates use here.
const scope = (name: string): unknown => eval(name);

export function misspellingsDoNotCompile(): void {
  const { rule } = section({ scope, sdm: "1", title: "t", cls: "guest" });
  rule({
    id: "x",
    rule: "x",
    // @ts-expect-error a misspelled field
    fail: (s) => s.GUEST_CRO !== 0,
    message: () => "",
  });
  rule({
    id: "y",
    rule: "y",
    // @ts-expect-error a misspelled capability
    fail: (s) => s.caps.eptCapp !== 0,
    message: () => "",
  });
  rule({
    id: "z",
    rule: "z",
    p: { f: "GUEST_RIP" as const },
    // @ts-expect-error a misspelled binding
    fail: (s, p) => s[p.g] !== 0,
    message: () => "",
  });
  // @ts-expect-error a misspelled field in the slot table
  void F.GUEST_CRO;
}
