/** `nvmx nested`: the L0 model with a step-by-step trace, `--compare` and `--find-gaps`. */
import { parseArgs } from "node:util";
import { builtinProfile } from "../cpu/builtin.js";
import type { Caps } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import { InputError } from "../errors.js";
import { compareCorpus } from "../nested/compare.js";
import {
  DEFAULT_CONFIG,
  type EarlyChecks,
  L0_BUGS,
  type L0Bug,
  type NestedConfig,
} from "../nested/config.js";
import { violationCorpus } from "../nested/corpus.js";
import { type NestedResult, runNested } from "../nested/l0.js";
import { describeOutcome } from "../report.js";
import { resolveCpuOption } from "./check.js";
import { readEntries } from "./input.js";
import type { Output } from "./output.js";

export const NESTED_USAGE = `  nvmx nested [--json] [--early-checks=1|0|-1] [--software-checks=full|kvm|none|ID,...]
              [--hypervisor | --bare-metal] [--host-cpu NAME|FILE] [--cpu NAME|FILE]
              [--bug ${L0_BUGS.join("|")}] [--no-host-breakpoints] FILE...
                                                  L0 emulating L1's VM entry on each vmcs12, step by step
  nvmx nested --compare CORPUS|violate-each [--json] [--cpu NAME] [--host-cpu NAME] [--hypervisor]
                                                  every configuration over a corpus of vmcs12 states
  nvmx nested --find-gaps [--software-checks=kvm] [--cpu NAME] [--host-cpu NAME]
                                                  vmcs12 states a software-check set lets through
`;

function parseEarly(v: string | undefined): EarlyChecks {
  if (v === undefined) return DEFAULT_CONFIG.earlyChecks;
  if (v === "1" || v === "0" || v === "-1") return Number(v) as EarlyChecks;
  throw new InputError(`--early-checks must be 1, 0 or -1, got "${v}"`, { file: "nvmx nested" });
}

function parseSoftware(v: string | undefined): NestedConfig["softwareChecks"] {
  if (v === undefined) return DEFAULT_CONFIG.softwareChecks;
  if (v === "full" || v === "kvm" || v === "none") return v;
  return v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

export function traceReport(file: string, r: NestedResult): string {
  const out = [`${file}: L1 sees: ${describeOutcome(r.toL1)}`];
  out.push(`  architecture (a CPU with L1's capabilities): ${describeOutcome(r.architectural.outcome)}`);
  const verdict =
    r.detection === "entered"
      ? "valid vmcs12, L2 entered"
      : r.detection === "early"
        ? `caught before any guest-visible side effect (by ${r.detectedBy})`
        : r.detection === "late"
          ? `caught late, by the hardware entry after L0 acted on guest state${r.msrsLoaded.length ? ` (${r.msrsLoaded.length} MSR(s) already loaded)` : ""}`
          : "MISSED: L1 was told the entry succeeded";
  out.push(`  ${verdict}${r.faithful ? "" : "; L1's outcome differs from the architecture's"}`);
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

/** All entry documents of the files, labelled `file[:line]`, and the number of bad inputs. */
async function collectEntries(
  files: string[],
  cpu: Caps | undefined,
  out: Output,
  json: boolean,
): Promise<{ entries: [string, Entry][]; bad: number }> {
  const stats = { bad: 0 };
  const entries: [string, Entry][] = [];
  for await (const r of readEntries(files, { cpu, json }, out, stats))
    entries.push([r.line !== undefined ? `${r.name}:${r.line}` : r.name, r.entry]);
  return { entries, bad: stats.bad };
}

export async function nestedCommand(argv: string[], out: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      "early-checks": { type: "string" },
      "software-checks": { type: "string" },
      hypervisor: { type: "boolean" },
      "bare-metal": { type: "boolean" },
      "host-cpu": { type: "string" },
      cpu: { type: "string" },
      bug: { type: "string" },
      "no-host-breakpoints": { type: "boolean", default: false },
      compare: { type: "string" },
      "find-gaps": { type: "boolean", default: false },
    },
  });
  const json = values.json ?? false;
  if (values.bug !== undefined && !(L0_BUGS as readonly string[]).includes(values.bug))
    throw new InputError(`--bug must be one of ${L0_BUGS.join(", ")}`, { file: "nvmx nested" });
  const hypervisor = values.hypervisor ? true : values["bare-metal"] ? false : undefined;
  const cfg: NestedConfig = {
    ...DEFAULT_CONFIG,
    earlyChecks: parseEarly(values["early-checks"]),
    softwareChecks: parseSoftware(values["software-checks"]),
    hostBreakpoints: !values["no-host-breakpoints"],
    ...(hypervisor !== undefined ? { hypervisor } : {}),
    ...(values.bug ? { bug: values.bug as L0Bug } : {}),
  };
  const hostCaps = values["host-cpu"] ? resolveCpuOption(values["host-cpu"]) : undefined;
  const cpu = values.cpu ? resolveCpuOption(values.cpu) : undefined;

  if (values["find-gaps"]) {
    const { findGapsCommand } = await import("./nested-gaps.js");
    return findGapsCommand(cfg, cpu ?? builtinProfile("kvm-nested"), hostCaps, json, out);
  }
  if (values.compare !== undefined) {
    const generated = values.compare === "violate-each";
    const { entries, bad } = generated
      ? {
          entries: violationCorpus(cpu ?? builtinProfile("kvm-nested"), { valid: 20 }).entries.map(
            (e): [string, Entry] => ["", e],
          ),
          bad: 0,
        }
      : await collectEntries([values.compare], cpu, out, json);
    const rows = compareCorpus(
      entries.map(([, e]) => e),
      { ...(hostCaps ? { hostCaps } : {}), ...(hypervisor !== undefined ? { hypervisor } : {}) },
    );
    if (json) await out.line(JSON.stringify({ corpus: values.compare, states: entries.length, rows }));
    else await out.line(compareTable(entries.length, rows));
    return bad ? 2 : 0;
  }
  if (positionals.length === 0)
    throw new InputError("needs at least one FILE (or --compare / --find-gaps)", {
      file: "nvmx nested",
    });
  // Each state as it is read: its trace (or its input's error record) in input order, memory bounded.
  const stats = { bad: 0 };
  for await (const { name: file, line, entry: e } of readEntries(positionals, { cpu, json }, out, stats)) {
    const name = line !== undefined ? `${file}:${line}` : file;
    const r = runNested({ vmcs12: e, ...(hostCaps ? { hostCaps } : {}) }, cfg);
    if (json) {
      const { architectural, ...rest } = r;
      await out.line(
        JSON.stringify({
          ...rest,
          architectural,
          msrsLoaded: r.msrsLoaded.map((m) => ({ index: m.index, value: `0x${m.value.toString(16)}` })),
        }),
      );
    } else await out.line(`${traceReport(name, r)}\n`);
  }
  return stats.bad ? 2 : 0;
}

export function compareTable(n: number, rows: ReturnType<typeof compareCorpus>): string {
  const head = [
    "early",
    "software",
    "dry runs",
    "VMFail: early",
    "late",
    "missed",
    "wrong err",
    "exit33/34: early",
    "late",
    "missed",
    "cycles/valid",
    "cycles/all",
  ];
  const lines = [head];
  for (const r of rows)
    lines.push([
      String(r.earlyChecks),
      r.softwareChecks,
      String(r.dryRuns),
      `${r.vmfail.early}/${r.vmfail.total}`,
      String(r.vmfail.late),
      String(r.vmfail.missed),
      String(r.vmfail.wrongError),
      `${r.vmexit.early}/${r.vmexit.total}`,
      String(r.vmexit.late),
      String(r.vmexit.missed),
      String(r.cyclesPerValidEntry),
      String(r.cyclesPerEntry),
    ]);
  const w = head.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return [`${n} vmcs12 states`, ...lines.map((l) => l.map((c, i) => c.padEnd(w[i]!)).join("  "))].join("\n");
}
