/**
 * The batch path of `nvmx check` (src/cli/batch.ts): per line, the text the plain path prints — the result
 * JSON of parseEntryText + runEntry, or the error record naming file, line and problem — whether the line
 * goes through the byte scanner or not.
 */
import { describe, expect, it } from "vitest";
import { BatchChecker, resultJson } from "../../src/cli/batch.js";
import { errorRecord } from "../../src/cli/output.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import type { Caps } from "../../src/cpu/profile.js";
import { parseEntryText, serializeEntry } from "../../src/entry/document.js";
import { runEntry } from "../../src/entry/run.js";
import { InputError } from "../../src/errors.js";
import { baseEntry } from "../../src/gen/base.js";
import { humanReport } from "../../src/report.js";

function docs(): string[] {
  const out: string[] = [];
  for (const p of ["skylake", "icelake-server", "sapphirerapids"]) {
    const caps = builtinProfile(p);
    const valid = baseEntry(caps);
    const guest = baseEntry(caps);
    guest.vmcs.setByName("GUEST_RFLAGS", 0n);
    const ctl = baseEntry(caps);
    ctl.vmcs.setByName("PIN_BASED_VM_EXEC_CONTROL", 0n);
    for (const e of [valid, guest, ctl]) out.push(JSON.stringify(serializeEntry(e)));
  }
  return out;
}

const MALFORMED = [
  '{"vmcs":{"GUEST_CR0": 0x1',
  '{"vmcs":{"NOPE":1}}',
  '{"vmcs":{"GUEST_CR0":true}}',
  '{"vmcs":{"GUEST_CS_SELECTOR":"0x10000"}}',
  '{"extra":1,"vmcs":{}}',
  "[1]",
  '{"cpu":"nope","vmcs":{}}',
];

/** What the plain path prints for one line. */
function reference(text: string, line: number, cpu?: Caps): string {
  try {
    return resultJson(runEntry(parseEntryText(text, cpu ? { cpu } : {})));
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    return errorRecord(e.withFile("f.ndjson", line));
  }
}

describe("BatchChecker", () => {
  const lines = [...docs(), ...MALFORMED, "", "   ", ...docs().map((d) => ` ${d}\t`)];

  for (const cpu of [undefined, builtinProfile("haswell")])
    it(`prints what the plain path prints, line by line${cpu ? " (--cpu)" : ""}`, () => {
      const bytes = Buffer.from(`${lines.join("\r\n")}\n`);
      const t = new BatchChecker({ json: true, cpu }).piece("f.ndjson", {
        kind: "lines",
        bytes,
        firstLine: 10,
      });
      const want = lines.map((l, i) => (l.trim() ? `${reference(l.trim(), 10 + i, cpu)}\n` : "")).join("");
      expect(t.parts).toEqual([want]);
      expect(t.bad).toBe(cpu ? MALFORMED.length - 1 : MALFORMED.length);
    });

  it("without --json: reports for people on stdout, one line per bad input on stderr, in order", () => {
    const [good] = docs();
    const bytes = Buffer.from(`${good}\n{"vmcs":{"NOPE":1}}\n${good}\n`);
    const t = new BatchChecker({ json: false }).piece("f", { kind: "lines", bytes, firstLine: 1 });
    const entry = parseEntryText(good!);
    const report = `${humanReport("f", entry, runEntry(entry), 1)}\n\n`;
    expect(t.parts).toEqual([
      report,
      "nvmx: f:2: vmcs.NOPE: unknown VMCS field (use KVM's enum vmcs_field name or a hex encoding)\n",
      `${humanReport("f", entry, runEntry(entry), 3)}\n\n`,
    ]);
    expect(t.bad).toBe(1);
  });

  it("a read error is an error record without a line", () => {
    const t = new BatchChecker({ json: true }).piece("f", { kind: "error", message: "cannot read: EIO" });
    expect(t.parts).toEqual(['{"error":{"file":"f","message":"cannot read: EIO"}}\n']);
  });
});
