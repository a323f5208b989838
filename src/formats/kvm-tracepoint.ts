/**
 * KVM's `kvm_nested_vmenter_failed` tracepoint (ftrace's trace / trace_pipe, `trace-cmd report`, `perf
 * script` output): the main evidence a failed nested VM entry leaves. Each line names the failed `CC()`
 * condition as the kernel's source spells it (or "early hardware check VM-instruction error: …" /
 * "hardware VM-instruction error: …" for a VMfail the processor found), and is mapped back to the kernel
 * check and the nvmx rules it enforces through the kernel presets' tables (src/nested/kernels), not through
 * a list of its own.
 */
import type { KernelId, KernelPhase, Source } from "../nested/kernel.js";
import { kernelTracepointIndex } from "../nested/tracepoint.js";
import { MAX_LINE } from "./text.js";

/** One tracepoint line and what it means. */
export interface TracepointLine {
  /** 1-based line number in the input. */
  line: number;
  /** The message after "kvm_nested_vmenter_failed:" (whitespace collapsed). */
  message: string;
  /** The task/CPU/timestamp prefix ftrace printed, when there is one. */
  context?: string;
  /** A VMfail the processor reported: "early" (the dry run) or "late" (the real VM entry), with its error. */
  hardware?: { when: "early" | "late"; error: string };
  /** The kernel checks whose CC() text is this message (several releases may print the same text). */
  matches: {
    kernel: KernelId;
    fn: string;
    phase: KernelPhase;
    source: Source;
    rules: readonly string[];
  }[];
}

const EVENT = "kvm_nested_vmenter_failed:";

/** True when the text holds at least one kvm_nested_vmenter_failed line. */
export function looksLikeKvmTracepoint(text: string): boolean {
  return text.includes(EVENT);
}

/** Every kvm_nested_vmenter_failed line of a trace, with the kernel checks it names. */
export function parseKvmTracepoint(text: string): TracepointLine[] {
  const r = new TracepointReader();
  r.push(text);
  return r.end();
}

/**
 * The kvm_nested_vmenter_failed lines of a trace read as it streams: text pushed in pieces of any size (a
 * line may span pieces), only the event's lines kept, so a trace of any length is read whole in memory
 * bounded by the events it holds.
 */
export class TracepointReader {
  private readonly idx = kernelTracepointIndex();
  private readonly out: TracepointLine[] = [];
  private partial = "";
  private lineNo = 0;
  /** the previous piece ended with "\r": a "\n" starting the next one ends no further line */
  private afterCr = false;

  push(text: string): void {
    let from = 0;
    if (this.afterCr && text.startsWith("\n")) from = 1;
    this.afterCr = false;
    for (;;) {
      const lf = text.indexOf("\n", from);
      const cr = text.indexOf("\r", from);
      const end = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
      if (end < 0) break;
      this.line(this.partial + text.slice(from, end));
      this.partial = "";
      if (text.charCodeAt(end) === 0x0d) {
        if (end + 1 === text.length) this.afterCr = true;
        from = text.charCodeAt(end + 1) === 0x0a ? end + 2 : end + 1;
      } else from = end + 1;
    }
    // the unfinished line, up to the readers' line limit (a longer line is cut there, as the log readers cut it)
    this.partial += text.slice(from);
    if (this.partial.length > MAX_LINE) this.partial = this.partial.slice(0, MAX_LINE);
  }

  end(): TracepointLine[] {
    if (this.partial) this.line(this.partial);
    this.partial = "";
    return this.out;
  }

  private line(raw: string): void {
    this.lineNo++;
    const at = raw.indexOf(EVENT);
    if (at < 0) return;
    const message = raw
      .slice(at + EVENT.length)
      .replace(/\s+/g, " ")
      .trim();
    const context = raw.slice(0, at).trim().replace(/:$/, "").trim();
    const t: TracepointLine = { line: this.lineNo, message, matches: [] };
    if (context) t.context = context;
    const hw = /^(early hardware check|hardware) VM-instruction error: ?(.*)$/.exec(message);
    if (hw) t.hardware = { when: hw[1] === "hardware" ? "late" : "early", error: hw[2] ?? "" };
    else
      for (const m of this.idx.get(message) ?? [])
        t.matches.push({
          kernel: m.kernel,
          fn: m.check.fn,
          phase: m.check.phase,
          source: m.check.source,
          rules: m.check.rules,
        });
    this.out.push(t);
  }
}

/** What a tracepoint line means, for people. */
export function describeTracepointLine(t: TracepointLine): string[] {
  const out = [`line ${t.line}: ${t.message}`];
  if (t.hardware) {
    out.push(
      t.hardware.when === "early"
        ? `  the dry run (nested_early_check=Y) VMfailed with ${t.hardware.error}: L1 sees VMfail(7); the controls of vmcs02 (merged from vmcs12) are invalid for this CPU`
        : `  the real VM entry of vmcs02 VMfailed with ${t.hardware.error}: KVM missed a consistency check, unwinds, and L1 sees VMfail(7)`,
    );
    return out;
  }
  if (!t.matches.length) {
    out.push("  no kernel preset has a check with this text (another release, or a line cut short)");
    return out;
  }
  // one line per distinct check: the releases that have it, with their line numbers
  const groups = new Map<string, typeof t.matches>();
  for (const m of t.matches) {
    const key = `${m.fn}|${m.phase}|${m.rules.join()}`;
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  for (const ms of groups.values()) {
    const m = ms[0]!;
    const what =
      m.phase === "controls" || m.phase === "late-controls"
        ? "VMfail(7)"
        : m.phase === "host"
          ? "VMfail(8)"
          : m.phase === "msr-load"
            ? "exit 34"
            : m.phase === "instruction"
              ? "an instruction-level failure"
              : "exit 33";
    const where = ms
      .map((x) => `${x.kernel} ${x.source.file.split("/").pop()}:${x.source.lines[0]}`)
      .join(", ");
    out.push(`  ${m.fn} → ${what} (${where})`);
    out.push(`    rules: ${m.rules.length ? m.rules.join(", ") : "none in the SDM (a KVM-only condition)"}`);
  }
  return out;
}
