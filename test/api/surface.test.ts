/**
 * The library's public surface is deliberate: exactly these exports, each with a doc comment (TSDoc), no
 * internals (the evaluation context, evaluate, the stores' classes as values), and require("nvmx") works.
 */
import { createRequire } from "node:module";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import * as api from "../../src/index.js";

const INDEX = new URL("../../src/index.ts", import.meta.url).pathname;

/** Every export of src/index.ts (values and types) with whether it has a doc comment. */
function exports(): { name: string; documented: boolean }[] {
  const program = ts.createProgram([INDEX], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
  });
  const checker = program.getTypeChecker();
  const mod = checker.getSymbolAtLocation(program.getSourceFile(INDEX)!)!;
  return checker.getExportsOfModule(mod).map((e) => {
    const target = e.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(e) : e;
    const own = ts.displayPartsToString(target.getDocumentationComment(checker)).trim();
    // a namespace export (`export * as arch`) is documented where it is exported
    const at = e.declarations?.[0];
    const onExport = at ? ts.getJSDocCommentsAndTags(at.parent ?? at).length > 0 : false;
    return { name: e.name, documented: own.length > 0 || onExport };
  });
}

describe("public API surface", () => {
  const all = exports();

  it("every export has a doc comment", () => {
    expect(all.filter((e) => !e.documented).map((e) => e.name)).toEqual([]);
  });

  it("internals are not exported", () => {
    for (const name of ["Ctx", "contextOf", "evaluate", "benchCases", "nested", "Vmcs", "Memory"])
      expect(Object.keys(api), name).not.toContain(name);
    expect(all.length).toBeGreaterThan(90);
  });

  it("the headline features are importable: check a document, explain a log, generate, repair, the nested model", () => {
    for (const name of [
      "check",
      "runEntry",
      "parseEntry",
      "explainDump",
      "parseInput",
      "generateValid",
      "violationSearch",
      "repair",
      "runNested",
      "compareCorpus",
      "findGaps",
      "kernelPreset",
      "builtinProfile",
      "decodeProfile",
      "InputError",
    ])
      expect(typeof (api as Record<string, unknown>)[name], name).toBe("function");
    expect(Object.keys(api.arch)).toContain("FIELDS");
  });

  it('require("nvmx") loads the built package (Node >= 20.19 loads ESM through require)', () => {
    const require = createRequire(import.meta.url);
    const lib = require("../../dist/index.js") as typeof api;
    expect(typeof lib.check).toBe("function");
    expect(lib.check(require("../../examples/bad-cs-ar.json")).violations.map((v) => v.id)).toEqual([
      "guest.cs.l-and-d",
    ]);
  });
});
