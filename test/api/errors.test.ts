/**
 * InputError says where in its message (issue 16): a program that prints only `e.message` tells its user the
 * file, line and key; `reason`, `file`, `line` and `location` keep the parts (the NDJSON error record uses them).
 */
import { describe, expect, it } from "vitest";
import { InputError, parseEntry, parseEntryText } from "../../src/index.js";

describe("InputError", () => {
  it("message: file:line: location: problem, the parts that are known", () => {
    const all = new InputError("malformed value", { file: "a.ndjson", line: 3, location: "vmcs.GUEST_CR0" });
    expect(all.message).toBe("a.ndjson:3: vmcs.GUEST_CR0: malformed value");
    expect([all.reason, all.file, all.line, all.location]).toEqual([
      "malformed value",
      "a.ndjson",
      3,
      "vmcs.GUEST_CR0",
    ]);
    expect(all.describe()).toBe("a.ndjson:3: vmcs.GUEST_CR0: malformed value");
    expect(all.located()).toBe("vmcs.GUEST_CR0: malformed value");
    expect(new InputError("x", { location: "cpu" }).message).toBe("cpu: x");
    expect(new InputError("x", { line: 2 }).message).toBe("line 2: x");
    expect(new InputError("x").message).toBe("x");
    expect(new InputError("x", { location: "k" }).withFile("f.json", 4).message).toBe("f.json:4: k: x");
  });

  it("a bad document's error names the key in its message", () => {
    const doc = { format: "nvmx-entry/1", cpu: "skylake", vmcs: { GUEST_CR0: "zz" } };
    expect(() => parseEntry(doc)).toThrow(/^vmcs\.GUEST_CR0: /);
    expect(() => parseEntryText("{")).toThrow(/^not valid JSON: /);
  });
});
