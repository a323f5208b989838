/**
 * `nvmx nested`: L0 (a named Linux release) emulating L1's VMLAUNCH/VMRESUME, step by step; `--compare`
 * runs a corpus under every configuration of the kernel; `--find-gaps` lists the rules its software checks
 * let through. Option parsing lives here (the CLI layer will move to commander, docs/architecture.md §4).
 */
import { parseArgs } from "node:util";
import { builtinProfile, defaultProfile } from "../cpu/builtin.js";
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
import { resolveCpuOption } from "./check.js";
import { readInput } from "./explain.js";
import { readEntries } from "./input.js";
import type { Output } from "./output.js";

export const NESTED_USAGE = `  nvmx nested [--kernel ${KERNEL_IDS.join("|")}] [--nested-early-check=Y|N | --early-consistency-checks=1|0|-1]
              [--warn-on-missed-cc=Y|N] [--software-checks=kernel|full|none|ID,...] [--hypervisor | --bare-metal]
              [--host-cpu NAME|FILE] [--l1-ram SIZE] [--vmcs02 reused|fresh] [--bug ${L0_BUGS.join("|")}]
              [--as vmcs12] [--json] FILE...       L0 emulating L1's VM entry on each vmcs12 (entry documents,
                                                  KVM_GET_NESTED_STATE blobs), step by step
  nvmx nested --compare violate-each|valid|FILE [--kernel K] [--host-cpu NAME] [--json]
                                                  every configuration of the kernel over a corpus
  nvmx nested --find-gaps [--kernel K] [--only vmfail|exit|all] [--host-cpu NAME] [--json]
                                                  rules the kernel's software checks let through
`;

/** A one-line usage error naming the flag. */
const usage = (flag: string, msg: string): InputError =>
  new InputError(`${msg} (try \`nvmx nested --help\`)`, { file: "nvmx nested", location: flag });

function yn(flag: string, v: string): boolean {
  if (/^(y|yes|1|true|on)$/i.test(v)) return true;
  if (/^(n|no|0|false|off)$/i.test(v)) return false;
  throw usage(flag, `must be Y or N, got "${v}"`);
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

/** Progress on stderr when it is a terminal. */
function progressTo(label: string): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (done < total && now - last < 100) return;
    last = now;
    process.stderr.write(`\r${label} ${done}/${total}${done === total ? "\n" : ""}`);
  };
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

export async function nestedCommand(argv: string[], out: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      kernel: { type: "string" },
      "nested-early-check": { type: "string" },
      "early-consistency-checks": { type: "string" },
      "early-checks": { type: "string" },
      "skip-dry-run-when-complete": { type: "boolean", default: false },
      "warn-on-missed-cc": { type: "string" },
      "software-checks": { type: "string" },
      hypervisor: { type: "boolean" },
      "bare-metal": { type: "boolean" },
      "host-cpu": { type: "string" },
      "l1-cpu": { type: "string" },
      cpu: { type: "string" },
      "l1-ram": { type: "string" },
      vmcs02: { type: "string" },
      bug: { type: "string" },
      "no-host-breakpoints": { type: "boolean", default: false },
      compare: { type: "string" },
      "find-gaps": { type: "boolean", default: false },
      only: { type: "string" },
      as: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    await out.line(NESTED_USAGE);
    return 0;
  }
  const json = values.json ?? false;
  const note = (s: string) => process.stderr.write(`nvmx nested: note: ${s}\n`);

  // the kernel and its parameter
  const preset = values.kernel !== undefined ? kernelPreset(values.kernel) : NEWEST_KERNEL;
  let earlyCheck: EarlyCheckParam | undefined;
  if (values["nested-early-check"] !== undefined)
    earlyCheck = {
      form: "merged",
      nestedEarlyCheck: yn("--nested-early-check", values["nested-early-check"]),
    };
  let described = values["early-consistency-checks"];
  if (values["early-checks"] !== undefined) {
    note(
      "--early-checks is now --early-consistency-checks (the form the commit message describes; the merged parameter is --nested-early-check=Y|N)",
    );
    described ??= values["early-checks"];
  }
  if (described !== undefined) {
    if (earlyCheck)
      throw usage(
        "--early-consistency-checks",
        "give either --nested-early-check or --early-consistency-checks",
      );
    if (!["1", "0", "-1"].includes(described))
      throw usage("--early-consistency-checks", `must be 1, 0 or -1, got "${described}"`);
    earlyCheck = {
      form: "described",
      earlyConsistencyChecks: Number(described) as 1 | 0 | -1,
      ...(values["skip-dry-run-when-complete"] ? { skipWhenComplete: true } : {}),
    };
  } else if (values["skip-dry-run-when-complete"])
    throw usage("--skip-dry-run-when-complete", "the proposal only applies to --early-consistency-checks=-1");

  const hypervisor = values.hypervisor ? true : values["bare-metal"] ? false : undefined;
  if (values.hypervisor && values["bare-metal"])
    throw usage("--hypervisor", "give --hypervisor or --bare-metal, not both");
  if (values.bug !== undefined && !(L0_BUGS as readonly string[]).includes(values.bug))
    throw usage("--bug", `must be one of ${L0_BUGS.join(", ")}`);
  // a generated corpus puts L1's pages anywhere below 2^MAXPHYADDR: back all of it unless told otherwise
  let l1RamBytes = values.compare !== undefined || values["find-gaps"] ? ALL_RAM : DEFAULT_CONFIG.l1RamBytes;
  if (values["l1-ram"] !== undefined) {
    const n = parseSize(values["l1-ram"]);
    if (n === undefined)
      throw usage("--l1-ram", `expected a size like 16G or 512M, got "${values["l1-ram"]}"`);
    l1RamBytes = n;
  }
  const vmcs02 = values.vmcs02 ?? "reused";
  if (vmcs02 !== "reused" && vmcs02 !== "fresh")
    throw usage("--vmcs02", `must be reused or fresh, got "${vmcs02}"`);
  if (values.as !== undefined && values.as !== "vmcs12")
    throw usage("--as", `the only reading is --as vmcs12, got "${values.as}"`);

  const cfg: NestedConfig = {
    ...DEFAULT_CONFIG,
    kernel: preset.id,
    softwareChecks: parseSoftware(values["software-checks"], note),
    hostBreakpoints: !values["no-host-breakpoints"],
    l1RamBytes,
    vmcs02,
    ...(earlyCheck ? { earlyCheck } : {}),
    ...(values["warn-on-missed-cc"] !== undefined
      ? { warnOnMissedCc: yn("--warn-on-missed-cc", values["warn-on-missed-cc"]) }
      : {}),
    ...(hypervisor !== undefined ? { hypervisor } : {}),
    ...(values.bug ? { bug: values.bug as L0Bug } : {}),
  };
  validateConfig(cfg);
  const hostGiven = values["host-cpu"] !== undefined;
  const host = hostGiven ? resolveCpuOption(values["host-cpu"]!) : defaultProfile();
  if (values.cpu !== undefined)
    note("--cpu is now --l1-cpu (L1's view of VMX; by default the kernel's own on the host)");
  const l1Option = values["l1-cpu"] ?? values.cpu;
  const l1Override = l1Option !== undefined ? resolveCpuOption(l1Option) : undefined;

  if (values["find-gaps"]) {
    const { findGapsCommand } = await import("./nested-gaps.js");
    const only = values.only ?? "all";
    if (!["vmfail", "exit", "all"].includes(only))
      throw usage("--only", `must be vmfail, exit or all, got "${only}"`);
    return findGapsCommand(
      { kernel: preset.id, host, only: only as "vmfail" | "exit" | "all", json, base: cfg },
      out,
    );
  }

  if (values.compare !== undefined) {
    const l1 = l1Override ?? l1Profile(preset, host);
    let entries: Entry[];
    let bad = 0;
    if (values.compare === "violate-each") {
      const c = violationCorpus(l1, {
        valid: 20,
        ...(progressTo("violation search") ? { progress: progressTo("violation search")! } : {}),
      });
      entries = c.entries;
    } else if (values.compare === "valid") entries = validCorpus(l1, 200);
    else {
      const stats = { bad: 0 };
      entries = [];
      const opts = { asVmcs12: values.as === "vmcs12", json, host, l1 };
      for await (const x of inputs([values.compare], opts, out, stats)) entries.push(x.entry);
      bad = stats.bad;
    }
    const p = progressTo("configurations");
    const rows = compareCorpus(entries, preset.id, host, { base: cfg, ...(p ? { progress: p } : {}) });
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
    return bad ? 2 : 0;
  }

  if (positionals.length === 0)
    throw usage("FILE", "nvmx nested needs at least one FILE (or --compare / --find-gaps)");
  // Each state as it is read: its trace (or its input's error record) in input order, memory bounded.
  const stats = { bad: 0 };
  let n = 0;
  for await (const x of inputs(
    positionals,
    { asVmcs12: values.as === "vmcs12", json, host, l1: l1Override ?? l1Profile(preset, host) },
    out,
    stats,
  )) {
    const h = hostGiven ? host : (x.host ?? host);
    const r = runNested({ vmcs12: x.entry, host: h, ...(l1Override ? { l1: l1Override } : {}) }, cfg);
    n++;
    if (json) await out.line(resultJson(x.name, r));
    else await out.line(`${traceReport(x.name, r)}\n`);
  }
  if (!json && n && !hostGiven)
    note(
      `host: ${host.name} unless a document names its CPU (--host-cpu to choose); ${describeParameter(cfg, preset)}`,
    );
  return stats.bad ? 2 : 0;
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

export { builtinProfile };
