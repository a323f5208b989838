/** Dump facts for the grammars' evidence and finish tests: nothing seen, but what `over` sets. */
import type { DumpFacts } from "../../src/formats/dump-grammar.js";

export function facts(over: Partial<DumpFacts> = {}): DumpFacts {
  return {
    header: false,
    keys: new Set(),
    flags: new Set(),
    controls0x: false,
    pinFirst: false,
    eferWithPat: false,
    msrLists: false,
    positional: false,
    ...over,
  };
}
