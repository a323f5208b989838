/**
 * The probe's log (port 0xE9 / COM1 output of probe/core.asm), one fact per line, hex without "0x":
 *
 *   NVMX-PROBE 1 bios|uefi            boot
 *   CPUID leaf sub eax ebx ecx edx    a CPUID leaf as the CPU reports it
 *   MSR index value | MSR index GP    an MSR (GP: RDMSR faulted)
 *   NOVMX reason                      the CPU cannot run VMX (the run ends)
 *   HOST cr0 cr3 cr4 efer pat gdtr idtr tr rip rsp vmcs vmxon   the probe's own state
 *   NOFIELD encoding                  VMWRITE refuses this field (the CPU does not have it)
 *   HELPER 1|0                        a second processor stops wait-for-SIPI guests (1) or none answered (0)
 *   STATES count start
 *   S n                               state n starts
 *   M n address                       a memory word outside the relocation window was not written
 *   W n encoding error                a nonzero value not written (error 0: NOFIELD; ffffffff: VMfailInvalid;
 *                                     fffffffe: only bits 31:0 written, 32-bit host mode)
 *   R n vmfail-invalid | R n vmfail-valid error | R n exit reason qualification
 *   R n launcher-vmfail error | R n launcher-exit reason | R n vmptrld-failed
 *   X n vector error rip              an exception in the probe while running state n
 *   DONE count
 *
 * Other lines (an emulator's own messages) are ignored, so a captured serial console can be given as is.
 */

export type ProbeResult =
  | { kind: "vmfail-invalid" }
  | { kind: "vmfail-valid"; error: number }
  | { kind: "exit"; reason: number; qualification: bigint }
  | { kind: "probe-error"; detail: string }
  | { kind: "exception"; vector: number; error: bigint; rip: bigint }
  /** Set by the runner: no result line (the watchdog fired, or the machine crashed and was restarted). */
  | { kind: "no-result"; why: "watchdog" | "crash"; detail?: string };

export interface StateLog {
  started: boolean;
  writes: { encoding: number; error: number }[];
  unplaced: bigint[];
  result?: ProbeResult;
}

export interface ProbeLog {
  boot?: string;
  cpuid: Map<string, [number, number, number, number]>;
  msrs: Map<number, bigint | "GP">;
  novmx?: string;
  host?: bigint[];
  nofield: Set<number>;
  /** HELPER 1: a second processor stops wait-for-SIPI guests. */
  helper?: boolean;
  count?: number;
  states: Map<number, StateLog>;
  done?: number;
}

export function emptyLog(): ProbeLog {
  return { cpuid: new Map(), msrs: new Map(), nofield: new Set(), states: new Map() };
}

/** CPUID key: leaf and subleaf in hex, "0x7.0" style as profiles store them ("0x1" for subleaf-less leaves). */
export function cpuidKey(leaf: number, sub: number): string {
  const indexed =
    leaf === 0x7 || leaf === 0xd || leaf === 0x14 || leaf === 0x4 || leaf === 0xb || leaf === 0x1f;
  return indexed ? `0x${leaf.toString(16)}.${sub.toString(16)}` : `0x${leaf.toString(16)}`;
}

const H = (s: string | undefined) =>
  s !== undefined && /^[0-9a-f]+$/i.test(s) ? BigInt(`0x${s}`) : undefined;
const N = (s: string | undefined) => {
  const v = H(s);
  return v === undefined ? undefined : Number(v);
};

function stateOf(log: ProbeLog, n: number): StateLog {
  let s = log.states.get(n);
  if (!s) {
    s = { started: false, writes: [], unplaced: [] };
    log.states.set(n, s);
  }
  return s;
}

/** Parse one line into `log`; returns the state number it concerns, if any. */
export function parseLine(line: string, log: ProbeLog): number | undefined {
  const t = line.replace(/\r$/, "").trim().split(/\s+/);
  switch (t[0]) {
    case "NVMX-PROBE":
      if (t[1] === "1") log.boot = t[2];
      return undefined;
    case "CPUID": {
      const v = t.slice(1, 7).map(N);
      if (v.length === 6 && v.every((x) => x !== undefined))
        log.cpuid.set(cpuidKey(v[0]!, v[1]!), [v[2]!, v[3]!, v[4]!, v[5]!]);
      return undefined;
    }
    case "MSR": {
      const i = N(t[1]);
      if (i === undefined) return undefined;
      const v = t[2] === "GP" ? "GP" : H(t[2]);
      if (v !== undefined) log.msrs.set(i, v);
      return undefined;
    }
    case "NOVMX":
      log.novmx = t.slice(1).join(" ");
      return undefined;
    case "HOST": {
      const v = t.slice(1).map(H);
      if (v.every((x) => x !== undefined)) log.host = v as bigint[];
      return undefined;
    }
    case "NOFIELD": {
      const e = N(t[1]);
      if (e !== undefined) log.nofield.add(e);
      return undefined;
    }
    case "HELPER":
      log.helper = t[1] === "1";
      return undefined;
    case "STATES":
      log.count = N(t[1]);
      return undefined;
    case "DONE":
      log.done = N(t[1]);
      return undefined;
    case "S":
    case "M":
    case "W":
    case "R":
    case "X": {
      const n = N(t[1]);
      if (n === undefined) return undefined;
      const s = stateOf(log, n);
      if (t[0] === "S") s.started = true;
      else if (t[0] === "M") {
        const a = H(t[2]);
        if (a !== undefined) s.unplaced.push(a);
      } else if (t[0] === "W") {
        const enc = N(t[2]);
        const err = N(t[3]);
        if (enc !== undefined && err !== undefined) s.writes.push({ encoding: enc, error: err });
      } else if (t[0] === "X") {
        const vector = N(t[2]);
        const error = H(t[3]);
        const rip = H(t[4]);
        if (vector !== undefined && error !== undefined && rip !== undefined)
          s.result = { kind: "exception", vector, error, rip };
      } else s.result = parseResult(t.slice(2));
      return n;
    }
    default:
      return undefined;
  }
}

function parseResult(t: string[]): ProbeResult {
  switch (t[0]) {
    case "vmfail-invalid":
      return { kind: "vmfail-invalid" };
    case "vmfail-valid": {
      const e = N(t[1]);
      if (e !== undefined) return { kind: "vmfail-valid", error: e };
      break;
    }
    case "exit": {
      const r = N(t[1]);
      const q = H(t[2]);
      if (r !== undefined && q !== undefined) return { kind: "exit", reason: r, qualification: q };
      break;
    }
  }
  return { kind: "probe-error", detail: t.join(" ") };
}

export function parseLog(text: string, log: ProbeLog = emptyLog()): ProbeLog {
  for (const line of text.split("\n")) parseLine(line, log);
  return log;
}

/** The probe's HOST line as named values. */
export function hostLine(log: ProbeLog): Record<string, bigint> | undefined {
  const h = log.host;
  if (!h || h.length < 12) return undefined;
  const names = ["cr0", "cr3", "cr4", "efer", "pat", "gdtr", "idtr", "tr", "rip", "rsp", "vmcs", "vmxon"];
  return Object.fromEntries(names.map((n, i) => [n, h[i]!]));
}
