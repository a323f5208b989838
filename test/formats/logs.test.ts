/** LogReader (src/formats/logs.ts): dumps of every format come out in file order, as soon as they are finished. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { LogReader, readLogText } from "../../src/formats/logs.js";
import type { ParsedDump } from "../../src/formats/types.js";

const sample = (f: string) => readFileSync(new URL(`./samples/${f}`, import.meta.url), "utf8");
const KVM = sample("kvm-6x-tertiary-cet-pkrs-msrload-synthetic.txt");
const QEMU = sample("qemu-64bit-ii-synthetic.txt");
const OTHER = "an unrelated line\n".repeat(40);

describe("LogReader", () => {
  it("hands out a finished dump before the log ends, and counts lines and dumps", () => {
    const got: ParsedDump[] = [];
    const r = new LogReader((d) => got.push(d));
    r.push(KVM + OTHER);
    expect(got.map((d) => d.format)).toEqual(["kvm-dump"]);
    expect(r.count).toBe(1);
    r.push(QEMU);
    r.end();
    expect(got.map((d) => d.format)).toEqual(["kvm-dump", "qemu-regs"]);
    expect(r.count).toBe(2);
    expect(r.lines).toBe((KVM + OTHER + QEMU).split(/\r\n|\r|\n/).length - (QEMU.endsWith("\n") ? 1 : 0));
  });

  it("dumps of two formats come out in file order, whichever finished first", () => {
    for (const [first, second, order] of [
      [QEMU, KVM, ["qemu-regs", "kvm-dump"]],
      [KVM, QEMU, ["kvm-dump", "qemu-regs"]],
    ] as const) {
      const got: ParsedDump[] = [];
      const r = new LogReader((d) => got.push(d));
      for (const line of `${first}\n${second}`.split("\n")) r.push(`${line}\n`);
      r.end();
      expect(got.map((d) => d.format)).toEqual(order);
      expect(got[0]!.line).toBeLessThan(got[1]!.line);
    }
  });
});

describe("readLogText", () => {
  it("reads a text longer than its 1 MiB slices once", () => {
    const { dumps, reader } = readLogText(`${KVM}${"\n".repeat(1 << 20)}${QEMU}`);
    expect(dumps.map((d) => d.format)).toEqual(["kvm-dump", "qemu-regs"]);
    expect(reader.count).toBe(2);
  });
});
