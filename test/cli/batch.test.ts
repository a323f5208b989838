/**
 * The batch path of `nvmx check` (src/cli/batch.ts): per line, the text the plain path prints — the result
 * JSON of parseEntryText + runEntry, or the error record naming file, line and problem — whether the line
 * goes through the byte scanner or not.
 */
import { describe, expect, it } from "vitest";
import { FIELDS } from "../../src/arch/fields.js";
import { BatchChecker, resultJson } from "../../src/cli/batch.js";
import { errorRecord } from "../../src/cli/output.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import type { Caps } from "../../src/cpu/profile.js";
import { parseEntryText, serializeEntry } from "../../src/entry/document.js";
import { runEntry } from "../../src/entry/run.js";
import { EntryScanner } from "../../src/entry/scan.js";
import { InputError } from "../../src/errors.js";
import { baseEntry } from "../../src/gen/base.js";
import { Rng } from "../../src/gen/rng.js";
import { serializeGenerated } from "../../src/gen/serialize.js";
import { generateValid, modesFor } from "../../src/gen/valid.js";
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

type Doc = Record<string, unknown> & { vmcs: Record<string, unknown> };

const WRITABLE = FIELDS.filter((f) => f.type !== "read-only");

/** A generated state changed the way a fuzzer changes one: field values and processor keys. */
function mutated(doc: Doc, rng: Rng): Doc {
  const d: Doc = { ...doc, vmcs: { ...doc.vmcs } };
  for (let n = rng.int(4); n > 0; n--) {
    const f = rng.pick(WRITABLE);
    const max = f.width === 16 ? 0xffff : f.width === 32 ? 0xffffffff : 2 ** 53 - 1;
    d.vmcs[f.name] = `0x${rng.pick([0, 1, max, rng.int(0x10000), rng.u32()]).toString(16)}`;
  }
  if (rng.bool(0.3))
    d["processor"] = {
      ...(d["processor"] as object),
      ...rng.pick([
        { instruction: "vmresume", launchState: "launched" },
        { ia32e: false, cpl: rng.int(4) },
        { inSmm: true, executiveVmcsLaunchState: "clear", vmxonPointer: rng.int(2 ** 20) * 4096 },
        { currentVmcsPointer: `0x${(rng.int(2 ** 20) * 2 ** 24).toString(16)}`, blockingByMovSs: true },
        { vmxRoot: false },
      ]),
    };
  return d;
}

/** The same document written another way: odd spacing, other key orders, other spellings of keys and values. */
function respelled(doc: Doc, rng: Rng): string {
  const vmcs: [string, unknown][] = Object.entries(doc.vmcs).map(([k, v]) => {
    const f = FIELDS.find((x) => x.name === k)!;
    const key = rng.bool(0.1) ? k.toLowerCase() : rng.bool(0.1) ? `0x${f.encoding.toString(16)}` : k;
    const n = BigInt(v as string);
    const value = rng.pick<unknown>([
      v,
      `0X${n.toString(16).toUpperCase()}`,
      `0x${n.toString(16).padStart(16, "0")}`,
      n < 2n ** 50n ? n.toString() : v,
      n < 2n ** 50n ? Number(n) : v,
    ]);
    return [key, value];
  });
  const top = Object.entries({ ...doc, vmcs: Object.fromEntries(rng.shuffle(vmcs)) });
  const text = JSON.stringify(Object.fromEntries(rng.shuffle(top)), null, rng.pick([0, 1, "\t"]));
  return text.replace(/\n/g, rng.pick([" ", "", "\t "]));
}

/**
 * A varied stream: generated states of every mode (with MSR-load lists, memory sections and processor
 * state), changed as a fuzzer changes them (many violate a rule), written as nvmx writes them or another
 * way, with bad documents among them.
 */
function variedStream(): string[] {
  const rng = new Rng(1515);
  const out: string[] = [];
  for (const p of ["skylake", "sapphirerapids", "haswell"]) {
    const caps = builtinProfile(p);
    const modes = modesFor(caps);
    for (let i = 0; i < 40; i++) {
      const g = generateValid(caps, Rng.derive(21, i), { mode: modes[i % modes.length]! });
      const doc = serializeGenerated(g.entry) as unknown as Doc;
      const d = rng.bool(0.6) ? mutated(doc, rng) : doc;
      out.push(rng.bool(0.7) ? JSON.stringify(d) : respelled(d, rng));
      if (rng.bool(0.25)) out.push(rng.pick([...MALFORMED, ...BROKEN]));
    }
  }
  return out;
}

/** Bad documents a generated stream can hold: each is an error record in place. */
const BROKEN = [
  '{"vmcs":{"GUEST_CR0":"0x1","GUEST_CR0":"0x2"}}',
  '{"vmcs":{"GUEST_CR0":"0x10000000000000000"}}',
  '{"vmcs":{"GUEST_CR0":"0x"}}',
  '{"vmcs":{"VM_EXIT_REASON":"0x1"}}',
  '{"format":"nvmx-entry/2","vmcs":{}}',
  '{"processor":{"cpl":4},"vmcs":{}}',
  '{"processor":{"instruction":"vmresume","bogus":true},"vmcs":{}}',
  '{"processor":{"vmxonPointer":"0x10000000000000"},"vmcs":{}}',
  '{"memory":{"0x7004":["0x1"]},"vmcs":{}}',
  '{"memory":{"0x7000":["0x10000000000000000"]},"vmcs":{}}',
  '{"memory":{"0x7000":"0x1"},"vmcs":{}}',
  '{"vmcs":{"GUEST_CR0":"0x1"}',
  '{"vmcs":{"GUEST_CR0":"0x1"}} {}',
  "not json",
];

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

  for (const cpu of [undefined, builtinProfile("icelake-server")])
    it(`prints byte for byte what the plain path prints over a varied generated stream${cpu ? " (--cpu)" : ""}`, () => {
      const stream = variedStream();
      const bytes = Buffer.from(`${stream.join("\n")}\n`);
      const checker = new BatchChecker({ json: true, cpu });
      const t = checker.piece("f.ndjson", { kind: "lines", bytes, firstLine: 1 });
      const want = stream.map((l, i) => `${reference(l, 1 + i, cpu)}\n`);
      expect(t.parts.join("").split(/(?<=\n)/)).toEqual(want);
      // the stream is varied: entered and failed entries, errors, and most lines read by the byte scanner
      expect(t.failed).toBeGreaterThan(20);
      expect(stream.length - t.failed - t.bad).toBeGreaterThan(20);
      expect(t.bad).toBeGreaterThan(5);
      const scanner = new EntryScanner(cpu ? { cpu } : {});
      const scanned = stream.filter((l) => scanner.scan(Buffer.from(l), 0, Buffer.byteLength(l))).length;
      expect(scanned).toBeGreaterThan(0.7 * stream.length);
      // the same stream a second time, through the same checker (reused store, memory, processor state)
      const again = checker.piece("f.ndjson", { kind: "lines", bytes, firstLine: 1 });
      expect(again.parts).toEqual(t.parts);
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
