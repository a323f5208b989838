/** Hostile values in entry documents give one clear InputError, quickly, whatever their size or depth (issue 17 item 4). */
import { describe, expect, it } from "vitest";
import { F } from "../../src/arch/fields.js";
import { parseEntryText } from "../../src/entry/document.js";
import { InputError, preview } from "../../src/errors.js";

const errorOf = (text: string): string => {
  try {
    parseEntryText(text);
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return (e as InputError).describe();
  }
  throw new Error("accepted");
};
const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;

describe("hostile values", () => {
  it("a 100,000-deep array in a field, the processor, an inline profile or the format names the key, not the stack", () => {
    expect(errorOf(`{"vmcs":{"GUEST_CR0":${deep(100000)}}}`)).toBe(
      '<input>: vmcs.GUEST_CR0: malformed value an array: expected "0x..." hex, a decimal string or a safe integer',
    );
    expect(errorOf(`{"processor":{"cpl":${deep(100000)}},"vmcs":{}}`)).toBe(
      "<input>: processor.cpl: expected a CPL 0..3, got an array",
    );
    expect(errorOf(`{"cpu":{"msrs":{"IA32_VMX_BASIC":${deep(100000)}}},"vmcs":{}}`)).toBe(
      "<input>: cpu.msrs.IA32_VMX_BASIC: malformed value an array: expected a 64-bit hex string",
    );
    expect(errorOf(`{"format":${deep(100000)},"vmcs":{}}`)).toBe(
      '<input>: format: format must be "nvmx-entry/1", got an array',
    );
  });

  it("a 5-million-digit value is refused with a short message (the count of characters, not the value)", () => {
    const msg = errorOf(`{"vmcs":{"GUEST_CR0":"${"9".repeat(5_000_000)}"}}`);
    expect(msg).toBe(
      '<input>: vmcs.GUEST_CR0: value "99999999999999999999999999999999"… (5000000 characters) does not fit the natural-width field GUEST_CR0',
    );
  });

  it("leading zeros do not make a small value too wide", () => {
    const e = parseEntryText(`{"vmcs":{"GUEST_CR0":"0x${"0".repeat(100000)}31"}}`);
    expect(e.vmcs.get(F.GUEST_CR0!)).toBe(0x31n);
    expect(errorOf(`{"vmcs":{"VIRTUAL_PROCESSOR_ID":"${"0".repeat(50)}65536"}}`)).toMatch(
      /does not fit the 16-bit field/,
    );
  });

  it("preview: scalars as JSON, long strings cut with their length, containers by kind", () => {
    expect([
      preview("ab"),
      preview(12),
      preview(null),
      preview([1]),
      preview({ a: 1 }),
      preview(true),
    ]).toEqual(['"ab"', "12", "null", "an array", "an object", "true"]);
    expect(preview("x".repeat(41))).toBe(`"${"x".repeat(32)}"… (41 characters)`);
  });
});

describe("keys named like Object.prototype members", () => {
  it.each(["toString", "constructor", "hasOwnProperty", "valueOf", "__proto__"])(
    "processor.%s is an unknown key, whatever its value",
    (key) => {
      for (const value of ["1", 1, true, {}]) {
        const text = `{"processor":{${JSON.stringify(key)}:${JSON.stringify(value)}},"vmcs":{}}`;
        expect(errorOf(text)).toMatch(
          new RegExp(`^<input>: processor\\.${key}: unknown key \\(expected [a-zA-Z0-9, ]+\\)$`),
        );
      }
    },
  );

  it.each(["toString", "constructor", "__proto__"])("vmcs.%s is an unknown field", (key) => {
    expect(errorOf(`{"vmcs":{${JSON.stringify(key)}:"0x1"}}`)).toBe(
      `<input>: vmcs.${key}: unknown VMCS field (use KVM's enum vmcs_field name or a hex encoding)`,
    );
  });
});
