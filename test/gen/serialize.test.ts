/**
 * serializeGenerated: the processor keys a generated state changes are written (extension keys without a
 * default, such as `currentVmcsPointer`, included), keys left at their default are not, and parsing the
 * document gives the same state back.
 */
import { describe, expect, it } from "vitest";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { parseEntry } from "../../src/entry/document.js";
import { baseEntry } from "../../src/gen/base.js";
import { serializeGenerated } from "../../src/gen/serialize.js";

describe("serializeGenerated", () => {
  it("writes changed and extension processor keys only, and parses back to the same processor state", () => {
    const e = baseEntry(builtinProfile("sapphirerapids"));
    expect(serializeGenerated(e).processor).toBeUndefined();
    e.processor.currentVmcsPointer = 0x5000;
    e.processor.instruction = "vmresume";
    e.processor.launchState = "launched";
    const doc = serializeGenerated(e);
    expect(doc.processor).toEqual({
      instruction: "vmresume",
      launchState: "launched",
      currentVmcsPointer: 0x5000,
    });
    expect(parseEntry(JSON.parse(JSON.stringify(doc))).processor).toEqual(e.processor);
  });
});
