/**
 * `nvmx nested`: L0 (a named Linux release) emulating L1's VMLAUNCH/VMRESUME, step by step; `--compare`
 * runs a corpus under every configuration of the kernel; `--find-gaps` lists the rules its software checks
 * let through.
 */
import { type Command, Option } from "commander";
import { defaultProfile } from "../cpu/builtin.js";
import type { Caps } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import { InputError } from "../errors.js";
import { detectFormat, parseInput } from "../formats/detect.js";
import { dumpToEntry } from "../formats/entry.js";
import { type CompareRow, compareCorpus } from "../nested/compare.js";
import {
  ALL_RAM,
  DEFAULT_CONFIG,
  describeParameter,
  type EarlyCheckParam,
  L0_BUGS,
  type L0Bug,
  type NestedConfig,
  parseSize,
  type SoftwareChecks,
  validateConfig,
} from "../nested/config.js";
import { validCorpus, violationCorpus } from "../nested/corpus.js";
import { KERNEL_IDS } from "../nested/kernel.js";
import { kernelPreset, NEWEST_KERNEL } from "../nested/kernels/index.js";
import { type L1View, type NestedResult, runNested } from "../nested/l0.js";
import { l1Profile } from "../nested/l1.js";
import { vmcs12FromNestedState } from "../nested/state.js";
import { describeOutcome } from "../report.js";
import { cpuValue } from "./check.js";
import {
  type Cli,
  choiceValue,
  defineCommand,
  exitCodeOption,
  exitStatus,
  jsonOption,
  quietOption,
  type UsageError,
  usage,
} from "./command.js";
import { readInput } from "./explain.js";
import { readEntries } from "./input.js";
import type { Output } from "./output.js";

/** A one-line usage error of `nvmx nested` naming the flag. */
const bad = (flag: string, msg: string): UsageError => usage("nested", `${flag}: ${msg}`);

function yn(flag: string, v: string): boolean {
  if (/^(y|yes|1|true|on)$/i.test(v)) return true;
  if (/^(n|no|0|false|off)$/i.test(v)) return false;
  throw bad(flag, `must be Y or N, got "${v}"`);
}

function kernelValue(k: string) {
  try {
    return kernelPreset(k);
  } catch (e) {
    if (e instanceof InputError) throw bad("--kernel", e.reason);
    throw e;
  }
}

function parseSoftware(v: string | undefined, note: (s: string) => void): SoftwareChecks {
  if (v === undefined) return DEFAULT_CONFIG.softwareChecks;
  if (v === "kvm") {
    note("--software-checks=kvm is now --software-checks=kernel (the chosen kernel's own checks)");
    return "kernel";
  }
  if (v === "kernel" || v === "full" || v === "none") return v;
  return v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

function describeL1(o: L1View): string {
  return o.type === "kvm-internal-error"
    ? `nothing: KVM exits to userspace (${o.reason})`
    : describeOutcome(o);
}

/** The human report of one nested entry. */
export function traceReport(file: string, r: NestedResult): string {
  const out = [`${file}: L1 sees: ${describeL1(r.toL1)}`];
  out.push(
    `  kernel: ${r.kernel}; ${r.config.parameter}; software checks: ${r.config.softwareChecks}; host ${r.config.host}${r.config.hypervisor ? " (under a hypervisor)" : ""}; L1 ${r.config.l1}`,
  );
  out.push(`  architecture (a CPU with L1's capabilities): ${describeOutcome(r.architectural.outcome)}`);
  const verdict = {
    entered: "valid vmcs12, L2 entered",
    early: `caught before any guest-visible side effect (by ${r.detectedBy})`,
    late: `caught late, by the real VM entry after L0 acted on guest state${r.msrsLoaded.length ? ` (${r.msrsLoaded.length} MSR(s) already loaded)` : ""}`,
    missed: "MISSED: L1 is told the entry succeeded",
    "false-failure": "FALSE FAILURE: the architecture enters this vmcs12",
    "internal-error": "KVM stops with an internal error; L1 sees nothing",
  }[r.detection];
  out.push(
    `  ${verdict}${r.faithful || r.detection === "internal-error" ? "" : "; L1's outcome differs from the architecture's"}`,
  );
  for (const d of r.divergences ?? (r.divergence ? [r.divergence] : []))
    out.push(
      `  divergence (${d.kernel} ${d.source.file}:${d.source.lines[0]}-${d.source.lines[1]}): ${d.behaviour}`,
    );
  for (const p of r.possible ?? []) out.push(`  possible: ${describeOutcome(p.outcome)} ${p.condition}`);
  if (r.kernelCheck)
    out.push(
      `  kernel check: ${r.kernelCheck.fn} (${r.kernelCheck.source.tag} ${r.kernelCheck.source.file}:${r.kernelCheck.source.lines[0]})${r.kernelCheck.rules.length ? ` → ${r.kernelCheck.rules.join(", ")}` : ""}`,
    );
  for (const t of r.tracepoint) out.push(`  trace: ${t}`);
  if (r.l0Bug) out.push(`  L0 BUG: ${r.l0Bug}`);
  out.push("  steps:");
  for (const [i, s] of r.trace.entries())
    out.push(`    ${String(i + 1).padStart(2)}. [${s.phase}] ${s.what}`);
  out.push(
    `  modelled cost: ${r.cost.cycles} cycles (${Object.entries(r.cost.parts)
      .map(([k, v]) => `${k} ${Math.round(v)}`)
      .join(", ")})`,
  );
  for (const v of r.architectural.violations) out.push(`  - ${v.id} (SDM ${v.sdm}): ${v.message}`);
  return out.join("\n");
}

/** A result as JSON (bigints as hex strings). */
export function resultJson(file: string, r: NestedResult): string {
  return JSON.stringify({
    file,
    ...r,
    msrsLoaded: r.msrsLoaded.map((m) => ({ index: m.index, value: `0x${m.value.toString(16)}` })),
  });
}

interface Named {
  name: string;
  entry: Entry;
  host?: Caps;
}

/**
 * The vmcs12 states of the input files, by format, as they are read (entry documents are streamed, so memory
 * stays bounded); bad inputs are reported in place and counted in `stats.bad`.
 */
async function* inputs(
  files: string[],
  opts: { asVmcs12: boolean; json: boolean; host: Caps; l1: Caps },
  out: Output,
  stats: { bad: number },
): AsyncGenerator<Named> {
  for (const file of files) {
    const name = file === "-" ? "<stdin>" : file;
    // binary blobs and dumps are small and read whole; anything else is streamed as entry documents
    let head: Uint8Array | undefined;
    if (file !== "-") {
      try {
        head = readInput(file);
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        stats.bad++;
        await out.error(e, opts.json);
        continue;
      }
    }
    const fmt = head ? detectFormat(head) : undefined;
    if (head && fmt && fmt !== "nvmx-json") {
      try {
        yield* special(head, fmt, name, opts);
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        stats.bad++;
        await out.error(e.file === "<input>" ? e.withFile(name) : e, opts.json);
      }
      continue;
    }
    for await (const r of readEntries([file], { json: opts.json }, out, stats))
      yield {
        name: r.line !== undefined ? `${r.name}:${r.line}` : r.name,
        entry: r.entry,
        // the document's CPU is the host, unless it is a hypervisor's (L1) profile
        ...(r.entry.cpu !== undefined && !r.entry.caps.hypervisor ? { host: r.entry.caps } : {}),
      };
  }
}

/** A KVM_GET_NESTED_STATE blob, or a dump read only with --as vmcs12; other formats are refused with why. */
function* special(
  bytes: Uint8Array,
  fmt: ReturnType<typeof detectFormat>,
  name: string,
  opts: { asVmcs12: boolean; host: Caps; l1: Caps },
): Generator<Named> {
  if (fmt === "nested-state") {
    for (const b of vmcs12FromNestedState(bytes, opts.host))
      yield { name: `${name} (${b.which})`, entry: b.entry };
    return;
  }
  if (fmt === "kvm-tracepoint")
    throw new InputError(
      "a kvm_nested_vmenter_failed trace names the check KVM failed but holds no vmcs12; `nvmx explain` maps it to rules",
      { file: name },
    );
  if (fmt === "vmxcap")
    throw new InputError("vmxcap output describes a CPU, not a vmcs12; give it as --host-cpu", {
      file: name,
    });
  if (!opts.asVmcs12)
    throw new InputError(
      `this is a ${fmt} — a VMCS dump printed by the hypervisor that ran the entry. Printed by L0 it shows vmcs02 (L0's merge: its host state, VPID, EPTP, link pointer and MSR lists are L0's), not the vmcs12 L1 wrote, so the nested model cannot read it as L1's input. If L1 printed it (it is L1's VMCS), give --as vmcs12; a KVM_GET_NESTED_STATE blob holds the real vmcs12`,
      { file: name },
    );
  const parsed = parseInput(bytes, name);
  if (parsed.format !== "logs") return;
  for (const d of parsed.dumps) {
    // fields the dump lacks are filled with values that pass on L1's view of the CPU (reported by explain)
    const conv = dumpToEntry(d, opts.l1, opts.l1.data);
    yield { name: `${name}${d.line ? `:${d.line}` : ""} (as vmcs12)`, entry: conv.entry };
  }
}

/** What each injectable L0 mistake (--bug) is, for the help. */
const BUGS: Readonly<Record<L0Bug, string>> = {
  "late-host-cr4": "L0 writes a HOST_CR4 with VMXE clear into vmcs02 after the dry run",
  "skip-dr7-restore": "the dry run's VM exit loads DR7=0x400 and L0 does not restore its own DR7",
  "irq-before-dr7": "L0 re-enables interrupts before restoring DR7, as v5.0 did",
  "skip-irq-enable": "the dry run's VM exit clears RFLAGS.IF and L0 does not re-enable interrupts",
};

interface NestedFlags {
  json?: true;
  kernel?: string;
  nestedEarlyCheck?: string;
  earlyConsistencyChecks?: string;
  earlyChecks?: string;
  skipDryRunWhenComplete?: true;
  warnOnMissedCc?: string;
  softwareChecks?: string;
  hypervisor?: true;
  bareMetal?: true;
  hostCpu?: string;
  l1Cpu?: string;
  cpu?: string;
  l1Ram?: string;
  vmcs02: string;
  bug?: string;
  hostBreakpoints: boolean;
  compare?: string;
  findGaps?: true;
  only?: string;
  as?: string;
  exitCode?: true;
  quiet?: true;
}

export function register(program: Command, cli: Cli): void {
  const o = (flags: string, what: string) => new Option(flags, what);
  defineCommand(program, "nested", {
    summary: "a Linux release as L0 emulating L1's VM entry, step by step; --compare; --find-gaps",
    description: `The nested model (docs/nested.md): Linux KVM of a given release, as L0, emulating L1's
VMLAUNCH/VMRESUME on each vmcs12 — its software checks, the dry run (if the parameter asks), the
merge into vmcs02, the real entry — and what L1 sees, beside what the architecture prescribes
(a CPU with L1's capabilities). --compare runs a corpus under every configuration of the kernel;
--find-gaps lists the rules its software checks let through.
Inputs: entry documents (the document's CPU is the host, unless it is a hypervisor's), and
KVM_GET_NESTED_STATE blobs. A dump printed by L0 shows vmcs02, not vmcs12: read only with --as vmcs12.`,
    more: "Kernels, parameters and every modelled divergence: docs/nested.md.",
    examples: [
      "nvmx nested examples/bad-cs-ar.json",
      "nvmx nested --kernel v6.6 --nested-early-check=Y --json examples/bad-cs-ar.json",
    ],
  })
    .argument(
      "[FILE...]",
      "vmcs12 states: entry documents (JSON or NDJSON), nested-state blobs; - for standard input",
    )
    .addOption(
      jsonOption(
        "one JSON record per vmcs12 (what L1 sees, detection, trace, cost, the architecture's result)",
      ),
    )
    .addOption(
      o("--kernel <K>", `the Linux release L0 runs: ${KERNEL_IDS.join(", ")} (default: ${NEWEST_KERNEL.id})`),
    )
    .addOption(
      o(
        "--nested-early-check <Y|N>",
        "kvm_intel.nested_early_check as merged (v5.0-v6.18; default N): Y runs the dry run (a hardware VM entry of vmcs02 before acting on guest state) on every nested entry",
      ).conflicts("earlyConsistencyChecks"),
    )
    .addOption(
      o(
        "--early-consistency-checks <1|0|-1>",
        "the parameter as the commit message of 52017608da33 describes it (no released kernel): 1 always, 0 never, -1 only on bare metal",
      ),
    )
    .addOption(o("--early-checks <1|0|-1>", "old name of --early-consistency-checks"))
    .addOption(
      o(
        "--skip-dry-run-when-complete",
        "with --early-consistency-checks=-1: the commit message's proposal, no dry run when software covers every VMFail rule",
      ),
    )
    .addOption(
      o(
        "--warn-on-missed-cc <Y|N>",
        "v6.19's parameter (default N): warn when the hardware catches what the software missed",
      ),
    )
    .addOption(
      o(
        "--software-checks <SET>",
        "L0's software checks: kernel (the release's own, default), full (every rule), none, or a comma-separated list of check ids",
      ),
    )
    .addOption(
      o("--hypervisor", "L0 itself runs under a hypervisor (its dry run costs an emulated entry)").conflicts(
        "bareMetal",
      ),
    )
    .addOption(o("--bare-metal", "L0 runs on bare metal (default: as the host profile says)"))
    .addOption(
      o(
        "--host-cpu <NAME|FILE>",
        "the host CPU L0 runs on (default: the document's CPU, else sapphirerapids)",
      ),
    )
    .addOption(o("--l1-cpu <NAME|FILE>", "L1's view of VMX (default: what the kernel offers L1 on the host)"))
    .addOption(o("--cpu <NAME|FILE>", "old name of --l1-cpu"))
    .addOption(
      o(
        "--l1-ram <SIZE>",
        "L1's memory, e.g. 16G or 512M: pages outside it take KVM's paths (default 16G; all of the guest-physical space for --compare/--find-gaps)",
      ),
    )
    .addOption(
      o(
        "--vmcs02 <reused|fresh>",
        "the vmcs02 the dry run finds: the previous entry's stale fields, or zeros",
      ).default("reused"),
    )
    .addOption(
      o(
        "--bug <BUG>",
        `inject an L0 mistake to see how it is detected: ${L0_BUGS.map((b) => `${b} (${BUGS[b]})`).join("; ")}`,
      ),
    )
    .addOption(
      o("--no-host-breakpoints", "the host has no hardware breakpoints armed (DR7 restore costs nothing)"),
    )
    .addOption(
      o(
        "--compare <CORPUS>",
        "every configuration of the kernel over a corpus: violate-each (one vmcs12 per rule + 20 valid), valid (200), or a FILE",
      ),
    )
    .addOption(o("--find-gaps", "the rules the kernel's software checks let through, with why"))
    .addOption(
      o(
        "--only <CLASS>",
        "with --find-gaps: vmfail (controls, host state), exit (guest state, MSR loading) or all",
      ).default("all"),
    )
    .addOption(o("--as <vmcs12>", "read a VMCS dump as vmcs12 (a dump L1 printed of its own VMCS)"))
    .addOption(
      exitCodeOption(
        "exit 1 when L1 does not see some entry succeed (a VMfail, a VM exit, or nothing: KVM internal error), 0 when every vmcs12 enters; 2 (bad input) wins",
      ),
    )
    .addOption(quietOption())
    .action(async (files: string[], flags: NestedFlags) => {
      cli.status = await nested(files, flags, cli);
    });
}

async function nested(files: string[], values: NestedFlags, cli: Cli): Promise<number> {
  const out = cli.out;
  const json = values.json ?? false;
  const note = (s: string) => cli.note("nested", s, values.quiet);

  // the kernel and its parameter
  const preset = values.kernel !== undefined ? kernelValue(values.kernel) : NEWEST_KERNEL;
  let earlyCheck: EarlyCheckParam | undefined;
  if (values.nestedEarlyCheck !== undefined)
    earlyCheck = {
      form: "merged",
      nestedEarlyCheck: yn("--nested-early-check", values.nestedEarlyCheck),
    };
  let described = values.earlyConsistencyChecks;
  if (values.earlyChecks !== undefined) {
    note(
      "--early-checks is now --early-consistency-checks (the form the commit message describes; the merged parameter is --nested-early-check=Y|N)",
    );
    described ??= values.earlyChecks;
  }
  if (described !== undefined) {
    if (earlyCheck)
      throw bad(
        "--early-consistency-checks",
        "cannot be used with --nested-early-check (two forms of one parameter)",
      );
    if (!["1", "0", "-1"].includes(described))
      throw bad("--early-consistency-checks", `must be 1, 0 or -1, got "${described}"`);
    earlyCheck = {
      form: "described",
      earlyConsistencyChecks: Number(described) as 1 | 0 | -1,
      ...(values.skipDryRunWhenComplete ? { skipWhenComplete: true } : {}),
    };
  } else if (values.skipDryRunWhenComplete)
    throw bad("--skip-dry-run-when-complete", "applies only to --early-consistency-checks=-1");

  const hypervisor = values.hypervisor ? true : values.bareMetal ? false : undefined;
  if (values.bug !== undefined) choiceValue("nested", "--bug", values.bug, L0_BUGS);
  // a generated corpus puts L1's pages anywhere below 2^MAXPHYADDR: back all of it unless told otherwise
  let l1RamBytes = values.compare !== undefined || values.findGaps ? ALL_RAM : DEFAULT_CONFIG.l1RamBytes;
  if (values.l1Ram !== undefined) {
    const n = parseSize(values.l1Ram);
    if (n === undefined) throw bad("--l1-ram", `expected a size like 16G or 512M, got "${values.l1Ram}"`);
    l1RamBytes = n;
  }
  const vmcs02 = choiceValue("nested", "--vmcs02", values.vmcs02, ["reused", "fresh"] as const);
  if (values.as !== undefined && values.as !== "vmcs12")
    throw bad("--as", `the only reading is --as vmcs12, got "${values.as}"`);
  if (values.exitCode && (values.compare !== undefined || values.findGaps))
    throw bad("--exit-code", "judges the entries of FILE...; --compare and --find-gaps report on the kernel");

  const cfg: NestedConfig = {
    ...DEFAULT_CONFIG,
    kernel: preset.id,
    softwareChecks: parseSoftware(values.softwareChecks, note),
    hostBreakpoints: values.hostBreakpoints,
    l1RamBytes,
    vmcs02,
    ...(earlyCheck ? { earlyCheck } : {}),
    ...(values.warnOnMissedCc !== undefined
      ? { warnOnMissedCc: yn("--warn-on-missed-cc", values.warnOnMissedCc) }
      : {}),
    ...(hypervisor !== undefined ? { hypervisor } : {}),
    ...(values.bug ? { bug: values.bug as L0Bug } : {}),
  };
  try {
    validateConfig(cfg);
  } catch (e) {
    // the configuration's errors name the option in their location
    if (e instanceof InputError && e.location?.startsWith("--")) throw bad(e.location, e.reason);
    throw e;
  }
  const hostGiven = values.hostCpu !== undefined;
  const host = hostGiven ? cpuValue("nested", "--host-cpu", values.hostCpu!) : defaultProfile();
  if (values.cpu !== undefined)
    note("--cpu is now --l1-cpu (L1's view of VMX; by default the kernel's own on the host)");
  const l1Option = values.l1Cpu ?? values.cpu;
  const l1Override = l1Option !== undefined ? cpuValue("nested", "--l1-cpu", l1Option) : undefined;

  if (values.findGaps) {
    if (files.length) throw bad("--find-gaps", "takes no FILE (it generates its own vmcs12 states)");
    const { findGapsCommand } = await import("./nested-gaps.js");
    const only = choiceValue("nested", "--only", values.only ?? "all", ["vmfail", "exit", "all"] as const);
    const progress = cli.progress("violation search", values.quiet);
    return findGapsCommand(
      {
        kernel: preset.id,
        host,
        only,
        json,
        base: cfg,
        ...(l1Override ? { l1: l1Override } : {}),
        ...(progress ? { progress } : {}),
      },
      out,
    );
  }

  if (values.compare !== undefined) {
    if (files.length)
      throw bad("--compare", "takes its corpus as its value (--compare FILE), not as FILE...");
    const l1 = l1Override ?? l1Profile(preset, host);
    let entries: Entry[];
    const stats = { bad: 0 };
    if (values.compare === "violate-each") {
      const progress = cli.progress("violation search", values.quiet);
      const c = violationCorpus(l1, { valid: 20, ...(progress ? { progress } : {}) });
      entries = c.entries;
    } else if (values.compare === "valid") entries = validCorpus(l1, 200);
    else {
      entries = [];
      const opts = { asVmcs12: values.as === "vmcs12", json, host, l1 };
      for await (const x of inputs([values.compare], opts, out, stats)) entries.push(x.entry);
    }
    const p = cli.progress("configurations", values.quiet);
    // judged against the L1 profile the corpus was made for (--l1-cpu, or the kernel's own on the host)
    const rows = compareCorpus(entries, preset.id, host, { base: cfg, l1, ...(p ? { progress: p } : {}) });
    if (json)
      await out.line(
        JSON.stringify({
          kernel: preset.id,
          corpus: values.compare,
          host: host.name,
          l1: l1.name,
          states: entries.length,
          rows,
        }),
      );
    else await out.line(compareTable(preset.id, host.name, entries.length, rows));
    return exitStatus({ bad: stats.bad, failed: 0 }, false);
  }

  if (files.length === 0)
    throw usage("nested", "needs at least one FILE (- for standard input), or --compare or --find-gaps");
  // Each state as it is read: its trace (or its input's error record) in input order, memory bounded.
  const stats = { bad: 0 };
  let n = 0;
  let failed = 0;
  for await (const x of inputs(
    files,
    { asVmcs12: values.as === "vmcs12", json, host, l1: l1Override ?? l1Profile(preset, host) },
    out,
    stats,
  )) {
    const h = hostGiven ? host : (x.host ?? host);
    const r = runNested({ vmcs12: x.entry, host: h, ...(l1Override ? { l1: l1Override } : {}) }, cfg);
    n++;
    if (r.toL1.type !== "entered") failed++;
    if (json) await out.line(resultJson(x.name, r));
    else await out.line(`${traceReport(x.name, r)}\n`);
  }
  if (!json && n && !hostGiven)
    note(
      `host: ${host.name} unless a document names its CPU (--host-cpu to choose); ${describeParameter(cfg, preset)}`,
    );
  return exitStatus({ bad: stats.bad, failed }, values.exitCode ?? false);
}

/** The compare table for people. */
export function compareTable(kernel: string, host: string, n: number, rows: readonly CompareRow[]): string {
  const head = [
    "parameter",
    "software",
    "hv",
    "dry runs",
    "VMFail early",
    "late",
    "missed",
    "wrong",
    "exit early",
    "late",
    "missed",
    "wrong",
    "valid rejected",
    "labelled",
    "cycles/valid",
  ];
  const lines = [head];
  for (const r of rows)
    lines.push([
      r.parameter,
      r.softwareChecks,
      r.hypervisor ? "yes" : "no",
      String(r.dryRuns),
      `${r.vmfail.early}/${r.vmfail.total}`,
      String(r.vmfail.late),
      String(r.vmfail.missed),
      String(r.vmfail.wrong + r.vmfail.internalError),
      `${r.vmexit.early}/${r.vmexit.total}`,
      String(r.vmexit.late),
      String(r.vmexit.missed),
      String(r.vmexit.wrong + r.vmexit.internalError),
      `${r.validRejected}/${r.valid}`,
      String(r.labelled),
      String(r.cyclesPerValidEntry),
    ]);
  const w = head.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return [
    `${kernel} on ${host}: ${n} vmcs12 states ("wrong": another outcome than the architecture's, KVM internal errors included; "labelled": results that carry a kernel divergence)`,
    ...lines.map((l) =>
      l
        .map((c, i) => c.padEnd(w[i]!))
        .join("  ")
        .trimEnd(),
    ),
  ].join("\n");
}
