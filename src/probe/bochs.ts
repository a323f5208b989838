/**
 * Running the probe image in Bochs (Debian's `bochs` 2.7 with `bochs-term`, `bochsbios`, `vgabios`), headless:
 *
 * - display `term` (this build has no `nogui`; with the debugger compiled in, the term display draws on a new
 *   pseudo-terminal, so stdout carries only the debugger's start-up lines and port 0xE9), a debugger rc file
 *   with `c` then `quit` (SIGINT breaks into the debugger, which then quits), stdin from /dev/null;
 * - `cpu: ignore_bad_msrs=0` (otherwise unknown MSRs are silently accepted, in MSR-load lists too) and
 *   `reset_on_triple_fault=0` (a triple fault ends Bochs instead of rebooting the probe from its first state);
 * - the probe leaves through Bochs's shutdown port 0x8900.
 *
 * A watchdog ends a run whose state does not report within `stateTimeoutMs` ("entered (did not stop)"); a crash
 * (Bochs exits without the probe's DONE line) is recorded for the state that was running, and the run resumes
 * at the next state by patching the blob's start index in the image (progress is kept here, outside the guest).
 */
import { spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DiskImage } from "./image.js";
import { emptyLog, type ProbeLog, parseLine } from "./log.js";

export interface BochsOptions {
  model: string;
  /** Logical processors (2 gives the probe its helper CPU, which stops wait-for-SIPI guests; default 2). */
  cpus?: number;
  /** ms without a result line while a state runs before the watchdog ends Bochs (default 4000). */
  stateTimeoutMs?: number;
  /** ms from start until the probe's banner (default 30000). */
  bootTimeoutMs?: number;
  /** Keep the work directory (bochsrc, logs) here instead of a temporary one. */
  keepDir?: string;
  /** Progress callback: state number finished. */
  onState?: (n: number) => void;
}

export interface BochsRun {
  log: ProbeLog;
  /** The probe's output of every boot, in order. */
  text: string;
  boots: number;
  /** Per boot: ms from starting Bochs to the probe's STATES line (BIOS, loaders, capability report). */
  bootMs: number[];
  /** ms spent running states (after STATES lines). */
  stateMs: number;
  seconds: number;
  /** Bochs's exit message per crash. */
  crashes: { n: number; message: string }[];
}

const BIOS = "/usr/share/bochs/BIOS-bochs-latest";
/** The machine's RAM (bochsrc `megs`). */
export const BOCHS_RAM = 128 << 20;
const VGABIOS = "/usr/share/bochs/VGABIOS-lgpl-latest";

/** Why Bochs cannot run here, or undefined. */
export function bochsMissing(): string | undefined {
  const r = spawnSync("bochs", ["--help", "cpu"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.error) return "bochs is not installed (apt-get install bochs bochs-term bochsbios vgabios)";
  for (const f of [BIOS, VGABIOS])
    if (!existsSync(f)) return `${f} is missing (apt-get install bochsbios vgabios)`;
  return undefined;
}

/** CPU models this Bochs offers (`bochs --help cpu`). */
export function bochsModels(): string[] {
  const r = spawnSync("bochs", ["--help", "cpu"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const text = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /^[a-z0-9_]+$/.test(l) && l !== "cpu");
}

function bochsrc(model: string, cpus: number, image: string, log: string): string {
  return `# nvmx probe run (src/probe/bochs.ts)
megs: ${BOCHS_RAM >> 20}
romimage: file=${BIOS}
vgaromimage: file=${VGABIOS}
cpu: model=${model}, count=${cpus}, ips=4000000, reset_on_triple_fault=0, ignore_bad_msrs=0
ata0-master: type=disk, path=${image}, mode=flat
boot: disk
display_library: term
port_e9_hack: enabled=1
speaker: enabled=0
log: ${log}
panic: action=fatal
error: action=report
info: action=ignore
debug: action=ignore
clock: sync=none, time0=946681200
`;
}

/** The "Bochs is exiting with the following message" text of a run, if any. */
function exitMessage(stderr: string): string {
  const m = /Bochs is exiting with the following message:\s*\n([^\n]*)/.exec(stderr);
  return m ? m[1]!.trim() : (stderr.trim().split("\n").slice(-1)[0] ?? "");
}

/** Run the image; `records` = the state number of each blob record, in order (for resuming after a crash). */
export async function runBochs(
  image: DiskImage,
  records: readonly number[],
  opts: BochsOptions,
): Promise<BochsRun> {
  const dir = opts.keepDir ?? mkdtempSync(join(tmpdir(), "nvmx-bochs-"));
  const img = join(dir, "probe.img");
  writeFileSync(img, image.bytes);
  writeFileSync(join(dir, "debugger.rc"), "c\nquit\n");
  const log = emptyLog();
  const run: BochsRun = { log, text: "", boots: 0, bootMs: [], stateMs: 0, seconds: 0, crashes: [] };
  const t0 = Date.now();
  let start = 0;
  try {
    for (;;) {
      const fd = openSync(img, "r+");
      const b = Buffer.alloc(4);
      b.writeUInt32LE(start, 0);
      writeSync(fd, b, 0, 4, image.startOffset);
      closeSync(fd);
      writeFileSync(
        join(dir, "bochsrc"),
        bochsrc(opts.model, opts.cpus ?? 2, img, join(dir, `bochs-${run.boots}.log`)),
      );
      const boot = await oneBoot(dir, log, opts, join(dir, `bochs-${run.boots}.log`));
      run.boots++;
      run.text += boot.text;
      if (boot.bootMs !== undefined) run.bootMs.push(boot.bootMs);
      run.stateMs += boot.stateMs;
      if (log.done !== undefined || log.novmx !== undefined) break;
      if (boot.running !== undefined) {
        const s = log.states.get(boot.running)!;
        if (!s.result)
          s.result = boot.watchdog
            ? { kind: "no-result", why: "watchdog" }
            : { kind: "no-result", why: "crash", detail: boot.message };
        if (!boot.watchdog) run.crashes.push({ n: boot.running, message: boot.message });
        opts.onState?.(boot.running);
        start = records.indexOf(boot.running) + 1;
      } else if (boot.lastDone !== undefined) start = records.indexOf(boot.lastDone) + 1;
      else
        throw new Error(
          `Bochs (${opts.model}) stopped before the probe ran a state: ${boot.message || "no message"}`,
        );
      if (start <= 0 || start >= records.length) break;
    }
  } finally {
    run.seconds = (Date.now() - t0) / 1000;
    if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
  }
  return run;
}

interface Boot {
  text: string;
  bootMs?: number;
  stateMs: number;
  /** State started without a result when Bochs ended. */
  running?: number;
  lastDone?: number;
  watchdog: boolean;
  message: string;
}

function oneBoot(dir: string, log: ProbeLog, opts: BochsOptions, bxlog: string): Promise<Boot> {
  const stateTimeout = opts.stateTimeoutMs ?? 4000;
  const bootTimeout = opts.bootTimeoutMs ?? 30000;
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    let tStates: number | undefined;
    const child = spawn(
      "bochs",
      ["-q", "-unlock", "-f", join(dir, "bochsrc"), "-rc", join(dir, "debugger.rc")],
      {
        cwd: dir,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, TERM: "vt100" },
      },
    );
    const boot: Boot = { text: "", stateMs: 0, watchdog: false, message: "" };
    let pending = "";
    let stderr = "";
    let timer: NodeJS.Timeout | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      child.kill("SIGINT");
      killTimer = setTimeout(() => child.kill("SIGKILL"), 3000);
    };
    const arm = (ms: number) => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        if (boot.running !== undefined) boot.watchdog = true;
        stop();
      }, ms);
    };
    arm(bootTimeout);
    child.stdout.setEncoding("latin1");
    child.stdout.on("data", (chunk: string) => {
      pending += chunk;
      let i = pending.indexOf("\n");
      while (i >= 0) {
        const line = pending.slice(0, i);
        pending = pending.slice(i + 1);
        i = pending.indexOf("\n");
        const n = parseLine(line, log);
        if (/^(NVMX-PROBE|CPUID|MSR|NOVMX|HOST|NOFIELD|HELPER|STATES|DONE|[SMWRX] )/.test(line))
          boot.text += `${line}\n`;
        if (line.startsWith("STATES")) {
          tStates = Date.now();
          boot.bootMs = tStates - t0;
        }
        if (n !== undefined) {
          const s = log.states.get(n)!;
          if (s.result) {
            boot.running = undefined;
            boot.lastDone = n;
            opts.onState?.(n);
          } else boot.running = n;
        }
        if (tStates !== undefined && !line.startsWith("DONE")) arm(stateTimeout);
      }
    });
    child.stderr.setEncoding("latin1");
    child.stderr.on("data", (c: string) => {
      stderr += c;
    });
    child.on("error", reject);
    child.on("close", () => {
      if (timer) clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      if (tStates !== undefined) boot.stateMs = Date.now() - tStates;
      boot.message = exitMessage(stderr);
      if (!boot.watchdog && boot.running !== undefined && existsSync(bxlog)) {
        const tail = readFileSync(bxlog, "latin1")
          .split("\n")
          .filter((l) => /\d[pe]\[/.test(l))
          .slice(-3);
        if (tail.length)
          boot.message = `${boot.message} (${tail.map((l) => l.replace(/^\d+[pe]/, "")).join("; ")})`;
      }
      resolve(boot);
    });
  });
}
