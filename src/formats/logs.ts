/**
 * Reading a text log of any supported dump format from chunks, dump by dump: every line goes to each
 * format's reader (KVM/Xen VMCS dumps, QEMU register dumps); finished dumps come out in file order. Memory
 * is bounded by the largest dump (lines are cut at MAX_LINE characters, a dump ends after a run of lines that
 * are not its own), so a 50 MB log is read in the memory one dump takes.
 */
import { QemuRegsReader } from "./qemu-regs.js";
import { isStub, joinStub, LineSplitter, type LogLine } from "./text.js";
import type { ParsedDump } from "./types.js";
import { VmcsDumpReader } from "./vmcs-dump.js";

export class LogReader {
  private readonly splitter = new LineSplitter();
  private readonly vmcs: VmcsDumpReader;
  private readonly qemu: QemuRegsReader;
  private ready: ParsedDump[] = [];
  private buf: LogLine[] = [];
  /** A stub line waiting for its wrapped rest (text.ts isStub). */
  private held: LogLine | undefined;
  /** Dumps handed out so far. */
  count = 0;

  constructor(private readonly onDump: (d: ParsedDump) => void) {
    this.vmcs = new VmcsDumpReader((d) => this.ready.push(d));
    this.qemu = new QemuRegsReader((d) => this.ready.push(d));
  }

  /** A chunk of the log (any size; lines may span chunks). */
  push(chunk: string): void {
    this.buf.length = 0;
    for (const l of this.splitter.push(chunk, this.buf)) this.line(l);
    this.release(false);
  }

  /** End of the log: the last dumps come out. */
  end(): void {
    this.buf.length = 0;
    for (const l of this.splitter.end(this.buf)) this.line(l);
    if (this.held) this.read(this.held);
    this.held = undefined;
    this.vmcs.end();
    this.qemu.end();
    this.release(true);
  }

  /** A "KVM: entry failed" line that no register dump followed (for the error of a log without any dump). */
  get lonelyFailure(): { text: string; line: number; raw: number } | undefined {
    return this.qemu.lonely;
  }

  /** Lines read so far. */
  get lines(): number {
    return this.splitter.lines;
  }

  private line(l: LogLine): void {
    const h = this.held;
    if (h) {
      this.held = undefined;
      const joined = joinStub(h, l);
      if (joined) {
        this.read(joined);
        return;
      }
      this.read(h);
    }
    if (isStub(l)) {
      this.held = l;
      return;
    }
    this.read(l);
  }

  private read(l: LogLine): void {
    const q = this.qemu.line(l);
    this.vmcs.hostFailure = this.qemu.lonely;
    this.vmcs.line(l, q);
  }

  /** Hand out the finished dumps that start before every dump still being read. */
  private release(all: boolean): void {
    if (this.ready.length === 0) return;
    const a = this.vmcs.openSince();
    const b = this.qemu.openSince();
    const limit = all
      ? Number.POSITIVE_INFINITY
      : Math.min(a ?? Number.POSITIVE_INFINITY, b ?? Number.POSITIVE_INFINITY);
    this.ready.sort((x, y) => x.line - y.line);
    let n = 0;
    while (n < this.ready.length && this.ready[n]!.line < limit) n++;
    if (n === 0) return;
    const out = this.ready.splice(0, n);
    for (const d of out) {
      this.count++;
      this.onDump(d);
    }
  }
}

/** Every dump in a text, in file order. */
export function readLogText(text: string): { dumps: ParsedDump[]; reader: LogReader } {
  const dumps: ParsedDump[] = [];
  const reader = new LogReader((d) => dumps.push(d));
  // in slices, so a huge single-string input is not copied whole into one line buffer
  for (let i = 0; i < text.length; i += 1 << 20) reader.push(text.slice(i, i + (1 << 20)));
  reader.end();
  return { dumps, reader };
}
