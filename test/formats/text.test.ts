/** The line-reading layer every log reader shares (src/formats/text.ts), helper by helper. */
import { describe, expect, it } from "vitest";
import {
  collapse,
  excerpt,
  hexValue,
  isStub,
  joinStub,
  LineSplitter,
  type LogLine,
  logLines,
  looksBinary,
  MAX_LINE,
  makeLine,
  matchShape,
  shapeOf,
  stripPrefix,
} from "../../src/formats/text.js";

describe("shapeOf / matchShape", () => {
  it("digit runs become #, space runs one space, the rest stays; trimmed; at most 80 characters", () => {
    expect(shapeOf("[  123.456789] ")).toBe("[ #.#]");
    expect(shapeOf("Mar  3 10:22:01 host kernel: ")).toBe("Mar # #:#:# host kernel:");
    expect(shapeOf("x".repeat(100))).toBe("x".repeat(80));
    expect(shapeOf(`${"1 ".repeat(50)}`)).toHaveLength(79);
    expect(shapeOf("")).toBe("");
    expect(shapeOf("0 9/")).toBe("# #/");
  });
  it("matches a prefix of the same shape, digits and spaces of any length; -1 otherwise", () => {
    expect(matchShape("[ 9.1] rest", "[ #.#]")).toBe(6);
    expect(matchShape("[    12345.000001] rest", "[ #.#]")).toBe(18);
    expect(matchShape("[12.5] rest", "[ #.#]")).toBe(6); // " " also matches no space
    expect(matchShape("[ .1] rest", "[ #.#]")).toBe(-1); // "#" needs a digit
    expect(matchShape("( 9.1)", "[ #.#]")).toBe(-1);
    expect(matchShape("[ 9.1", "[ #.#]")).toBe(-1); // ends early
    expect(matchShape("anything", "")).toBe(0);
  });
});

describe("hexValue", () => {
  it("reads 1 to 16 hex digits, with or without 0x/0X, either case", () => {
    expect(hexValue("0x1F")).toBe(0x1fn);
    expect(hexValue("0XaB")).toBe(0xabn);
    expect(hexValue("ffffffffffffffff")).toBe(0xffffffffffffffffn);
    expect(hexValue("09")).toBe(9n);
    expect(hexValue("0x0")).toBe(0n);
    expect(hexValue("Af9")).toBe(0xaf9n);
  });
  it("refuses empty, too long and non-hex text", () => {
    for (const s of [
      "",
      "0x",
      "1ffffffffffffffff",
      "0xg",
      "12 ",
      "-1",
      "0x/",
      "0x:",
      "0x@",
      "0xG",
      "0x`",
      "0xg0",
    ])
      expect(hexValue(s), s).toBeUndefined();
  });
});

describe("looksBinary", () => {
  const b = (...xs: number[]) => new Uint8Array(xs);
  it("a NUL byte anywhere in the first 4 KiB is binary", () => {
    expect(looksBinary(b(65, 0, 65))).toBe(true);
    const late = new Uint8Array(5000).fill(65);
    late[4095] = 0;
    expect(looksBinary(late)).toBe(true);
    late[4095] = 65;
    late[4096] = 0;
    expect(looksBinary(late)).toBe(false);
  });
  it("more than 10% control characters (not tab, LF, VT, FF, CR) is binary; text and empty input are not", () => {
    const text = new TextEncoder().encode("CR0 = 0x80050033\tCR4 = 0x2606f0\r\n\v\f");
    expect(looksBinary(text)).toBe(false);
    expect(looksBinary(new Uint8Array())).toBe(false);
    // 1 control byte in 10 is not more than 10%; 2 in 10 is
    expect(looksBinary(b(1, 65, 65, 65, 65, 65, 65, 65, 65, 65))).toBe(false);
    expect(looksBinary(b(1, 8, 65, 65, 65, 65, 65, 65, 65, 65))).toBe(true);
    expect(looksBinary(b(14, 31, 65, 65, 65, 65, 65, 65, 65, 65))).toBe(true);
    expect(looksBinary(b(9, 13, 32, 65, 65, 65, 65, 65, 65, 65))).toBe(false);
    expect(looksBinary(b(9, 9, 65, 65, 65, 65, 65, 65, 65, 65))).toBe(false);
    expect(looksBinary(b(13, 13, 65, 65, 65, 65, 65, 65, 65, 65))).toBe(false);
  });
});

describe("excerpt / collapse", () => {
  it("keeps 60 characters, cuts longer text to 57 and three dots", () => {
    expect(excerpt("a".repeat(60))).toBe("a".repeat(60));
    expect(excerpt("a".repeat(61))).toBe(`${"a".repeat(57)}...`);
  });
  it("collapses space runs and trims", () => {
    expect(collapse("  a  b c   ")).toBe("a b c");
  });
});

describe("LineSplitter", () => {
  it("cuts at \\n, \\r\\n and a lone \\r, also across chunks, numbering lines", () => {
    const s = new LineSplitter();
    const out = [...s.push("a\r"), ...s.push("\nb\rc"), ...s.push("\r"), ...s.push("d\n"), ...s.end()];
    expect(out.map((l) => [l.line, l.text])).toEqual([
      [1, "a"],
      [2, "b"],
      [3, "c"],
      [4, "d"],
    ]);
    expect(s.lines).toBe(4);
  });
  it("an empty chunk after a \\r does not forget it", () => {
    const s = new LineSplitter();
    const out = [...s.push("a\r"), ...s.push(""), ...s.push("\nb"), ...s.end()];
    expect(out.map((l) => l.text)).toEqual(["a", "b"]);
  });
  it("a line longer than MAX_LINE keeps its first MAX_LINE characters and its length, over several chunks", () => {
    const s = new LineSplitter();
    s.push("x".repeat(MAX_LINE - 1));
    s.push("yy");
    s.push("zzz");
    const [l] = s.end();
    expect(l?.text).toBe(`${"x".repeat(MAX_LINE - 1)}y`);
    expect(l?.cut).toBe(MAX_LINE + 4);
    // the length counts from the line's own start inside the chunk
    const [, late] = logLines(`ab\n${"x".repeat(MAX_LINE + 5)}`);
    expect(late?.cut).toBe(MAX_LINE + 5);
    const [exact] = logLines("x".repeat(MAX_LINE));
    expect(exact?.cut).toBeUndefined();
  });
  it("end() gives nothing without an unfinished line", () => {
    const s = new LineSplitter();
    expect(s.push("a\n").length).toBe(1);
    expect(s.end()).toEqual([]);
  });
});

describe("stripPrefix / makeLine", () => {
  it("returns the content and the prefix removed (quote marks, no-break spaces, tabs)", () => {
    expect(stripPrefix("> [  1.5] kvm_intel: CR0 = 0x1")).toEqual({
      text: "CR0 = 0x1",
      prefix: "> [  1.5] kvm_intel: ",
    });
    expect(stripPrefix("\u00a0\tRSP = 0x1")).toEqual({ text: "  RSP = 0x1", prefix: "" });
    expect(makeLine("[  1.5] CR0  =  0x1", 7, 5000)).toEqual({
      text: "CR0 = 0x1",
      line: 7,
      prefix: "[ #.#]",
      cut: 5000,
    });
  });
  it("a journal host tag is stripped only after a timestamp", () => {
    expect(stripPrefix("[  1.5] build7 kernel: CR0 = 0x1").text).toBe("CR0 = 0x1");
    expect(stripPrefix("build7 kernel: CR0 = 0x1").text).toBe("build7 kernel: CR0 = 0x1");
    // "(XEN)" is no timestamp
    expect(stripPrefix("(XEN) build7 kernel: CR0 = 0x1").text).toBe("build7 kernel: CR0 = 0x1");
  });
  it.each([
    ["[  1.5] ", true],
    ["[T78789] ", true],
    ["[2019-11-02 14:09:46] ", true],
    ["<4>", false],
    ["Jun 24 17:25:51 host kernel: ", false],
    ["2024-01-02 03:04:05 ", true],
    ["03:04:05.123 ", true],
    ["(XEN) ", false],
    ["kvm: ", false],
    ["[host] ", true],
  ])("after %j a journal host tag is stripped: %s", (prefix, stripped) => {
    expect(stripPrefix(`${prefix}build7 qemu[12]: CR0 = 0x1`).text).toBe(
      stripped ? "CR0 = 0x1" : "build7 qemu[12]: CR0 = 0x1",
    );
  });
  it("stops after 8 prefixes", () => {
    expect(stripPrefix(`${"(XEN) ".repeat(9)}x`).text).toBe("(XEN) x");
  });
});

describe("isStub / joinStub: a prefixed record wrapped onto the next line", () => {
  const line = (text: string, prefix: string, n = 1): LogLine => ({ text, prefix, line: n });
  it("a stub is a prefixed line with no content, or a short word without '='", () => {
    expect(isStub(line("", "[ #.#]"))).toBe(true);
    expect(isStub(line("dump_vmcs:", "[ #.#]"))).toBe(true);
    expect(isStub(line("123456789012", "[ #.#]"))).toBe(true);
    expect(isStub(line("1234567890123", "[ #.#]"))).toBe(false);
    expect(isStub(line("CR0=1", "[ #.#]"))).toBe(false);
    expect(isStub(line("", ""))).toBe(false);
  });
  it("joins the continuation, keeping the stub's line number and prefix, and the continuation's cut", () => {
    const next = { ...line("CR0: actual=0x1", "", 9), cut: 5000 };
    expect(joinStub(line("dump_vmcs:", "x #"), next)).toEqual({
      text: "dump_vmcs: CR0: actual=0x1",
      line: 1,
      prefix: "x #",
      cut: 5000,
    });
  });
  it("a wrapped trace_printk record loses its function name; other stubs keep the continuation whole", () => {
    expect(
      joinStub(line("", "CPU #/KVM-# [#] #.#: bprint:"), line("vmx_dump_dtsel: GDTR: x", "", 2))?.text,
    ).toBe("GDTR: x");
    expect(joinStub(line("", "[ #.#]"), line("vmx_dump_dtsel: GDTR: x", "", 2))?.text).toBe(
      "vmx_dump_dtsel: GDTR: x",
    );
  });
  it("the continuation may carry the outer part of the stub's prefix only; not an empty line", () => {
    expect(joinStub(line("a", "> [ #.#]"), line("b", ">", 2))?.text).toBe("a b");
    expect(joinStub(line("a", "> [ #.#]"), line("b", "> [ #.#]", 2))).toBeUndefined();
    expect(joinStub(line("a", ">"), line("b", "> [", 2))).toBeUndefined();
    expect(joinStub(line("a", "> [ #.#]"), line("b", "[", 2))).toBeUndefined();
    expect(joinStub(line("a", "[ #.#]"), line("", "", 2))).toBeUndefined();
    expect(joinStub(line("a", "[ #.#]"), line("b", "", 2))).toEqual({
      text: "a b",
      line: 1,
      prefix: "[ #.#]",
    });
  });
});
