/**
 * `nvmx probe`: run states as real VMLAUNCHes (issue 13, docs/probe.md).
 *
 *   nvmx probe caps --bochs [--model M] [--name N] | caps LOG [--name N]   a CPU profile from the CPU itself
 *   nvmx probe image STATES... -o disk.img [--cpu P] [--output both|serial|e9] [--exit none|qemu|bochs]
 *                    [--start N] [--efi FILE] [--final FILE]
 *   nvmx probe run --bochs [--model M] [--cpu P] [--dodge A] [--out DIR] [--json] [--cpus N] STATES...
 *   nvmx probe compare LOG STATES... [--cpu P] [--out DIR] [--json] [--bochs]
 *   nvmx probe kut STATES... [--cpu P] [--state N]                          kvm-unit-tests test cases
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CAPABILITY_MSRS } from "../arch/msrs.js";
import type { Caps } from "../cpu/profile.js";
import { InputError } from "../errors.js";
import { OUT } from "../probe/blob.js";
import { BOCHS_RAM, bochsMissing, bochsModels } from "../probe/bochs.js";
import { profileFromLog } from "../probe/caps.js";
import {
  agreementTable,
  type Compared,
  compareAll,
  formatTable,
  observedLabel,
  outcomeLabel,
} from "../probe/compare.js";
import { coreHeader, probeMissing } from "../probe/core.js";
import { BOCHS_DEVIATIONS, deviationById } from "../probe/deviations.js";
import { kutTests } from "../probe/kut.js";
import { type ProbeLog, parseLog } from "../probe/log.js";
import type { PreparedState } from "../probe/prepare.js";
import { BOCHS_PROFILES, bochsProfile, capsOnBochs, runOnBochs } from "../probe/run.js";
import { applyLog, buildRun, finalDocument, prepareAll, readStates } from "../probe/states.js";
import { resolveCpuOption } from "./check.js";
import type { Output } from "./output.js";

export const PROBE_USAGE = `  nvmx probe caps --bochs [--model M] [--name N] | caps LOG [--name N]
                                                  a CPU profile from the CPU's own MSRs and CPUID
  nvmx probe image STATES... -o disk.img [--cpu NAME|FILE] [--output both|serial|e9] [--exit none|qemu|bochs]
                   [--start N] [--efi FILE] [--final FILE]
                                                  a bootable image (BIOS and UEFI) that runs the states
  nvmx probe run --bochs [--model M] [--cpu NAME|FILE] [--dodge A] [--out DIR] [--json] STATES...
                                                  run the states in Bochs and compare with nvmx
  nvmx probe compare LOG STATES... [--cpu NAME|FILE] [--out DIR] [--json] [--bochs]
                                                  compare a probe log (any CPU) with nvmx
  nvmx probe kut STATES... [--cpu NAME|FILE] [--state N]   the states as kvm-unit-tests test cases
`;

const DEFAULT_MODEL = "corei7_skylake_x";

/** A Bochs CPU model with VMX (those `bochs --help cpu` lists that the probe has been run on, or any it lists). */
function checkModel(model: string): string {
  const models = bochsModels();
  if (!models.includes(model))
    throw new InputError(`unknown Bochs CPU model "${model}" (this Bochs has: ${models.join(", ")})`, {
      file: "--model",
    });
  return model;
}

function need(why: string | undefined): void {
  if (why) throw new InputError(why, { file: "nvmx probe" });
}

function cpuFor(values: {
  cpu?: string | undefined;
  bochs?: boolean | undefined;
  model?: string | undefined;
}): Caps | undefined {
  if (values.cpu !== undefined) return resolveCpuOption(values.cpu);
  if (values.bochs) return bochsProfile(values.model ?? DEFAULT_MODEL);
  return undefined;
}

async function loadStates(files: string[], cpu: Caps | undefined, out: Output) {
  if (files.length === 0)
    throw new InputError("give at least one STATES file (entry documents, JSON or NDJSON)", {
      file: "nvmx probe",
    });
  const { states, errors } = await readStates(files, cpu);
  for (const e of errors) await out.error(e, false);
  return { states, bad: errors.length };
}

export async function probeCommand(argv: string[], out: Output): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "caps":
      return caps(rest, out);
    case "image":
      return image(rest, out);
    case "run":
      return run(rest, out);
    case "compare":
      return compare(rest, out);
    case "kut":
      return kut(rest, out);
    default:
      process.stderr.write(
        `nvmx probe: ${sub ? `unknown subcommand "${sub}"` : "a subcommand is needed"}\nusage:\n${PROBE_USAGE}`,
      );
      return 2;
  }
}

// ---- caps

async function caps(argv: string[], out: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      bochs: { type: "boolean", default: false },
      model: { type: "string" },
      name: { type: "string" },
    },
  });
  let log: ProbeLog;
  let source: string;
  let description: string;
  const model = values.model ?? DEFAULT_MODEL;
  if (values.bochs) {
    need(probeMissing());
    need(bochsMissing());
    checkModel(model);
    const r = await capsOnBochs(model);
    log = r.log;
    description = `Bochs 2.7 CPU model ${model} (as the probe reads it)`;
    source = `REAL (emulated): \`nvmx probe caps --bochs --model ${model}\` on Debian's bochs 2.7+dfsg-4+deb12u1 (VMX capability MSRs 480H-493H as enumerated, CPUID leaves, MSRs 3AH/345H/10AH where readable)`;
  } else {
    if (positionals.length !== 1)
      throw new InputError("give one probe LOG (or --bochs)", { file: "nvmx probe caps" });
    const file = positionals[0]!;
    log = parseLog(readFileSync(file, "latin1"));
    description = `CPU read by the nvmx probe (${file})`;
    source = `REAL: the nvmx probe's report (${file})`;
  }
  const name = values.name ?? (values.bochs ? (BOCHS_PROFILES[model] ?? `bochs-2.7-${model}`) : "probed-cpu");
  let r: ReturnType<typeof profileFromLog>;
  try {
    r = profileFromLog(log, name, description, source);
  } catch (e) {
    throw new InputError((e as Error).message, { file: values.bochs ? `bochs ${model}` : positionals[0]! });
  }
  for (const n of r.notes) process.stderr.write(`nvmx probe caps: ${n}\n`);
  await out.line(JSON.stringify(r.profile, null, 2));
  return 0;
}

// ---- image

async function image(argv: string[], out: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      o: { type: "string", short: "o" },
      cpu: { type: "string" },
      efi: { type: "string" },
      final: { type: "string" },
      output: { type: "string", default: "both" },
      exit: { type: "string", default: "none" },
      start: { type: "string" },
    },
  });
  if (!values.o) throw new InputError("-o disk.img is required", { file: "nvmx probe image" });
  need(probeMissing());
  const flags = { both: OUT.e9 | OUT.com1, serial: OUT.com1, e9: OUT.e9 }[values.output ?? "both"];
  if (flags === undefined)
    throw new InputError('--output must be "both", "serial" or "e9"', { file: "nvmx probe image" });
  // how the probe ends the machine after its last state: QEMU's isa-debug-exit device at port 0xF4, Bochs's
  // shutdown port 0x8900, or not at all (it halts; the only safe choice on a real machine)
  const exit = { none: 0, qemu: OUT.qemuExit, bochs: OUT.bochsShutdown }[values.exit ?? "none"];
  if (exit === undefined)
    throw new InputError('--exit must be "none", "qemu" or "bochs"', { file: "nvmx probe image" });
  const { states, bad } = await loadStates(positionals, cpuFor(values), out);
  const host = coreHeader();
  const prepared = prepareAll(states, host);
  let start: number | undefined;
  if (values.start !== undefined) {
    start = Number(values.start);
    if (!Number.isInteger(start) || start < 0)
      throw new InputError(
        `--start must be a state number (0, 1, ...), got ${JSON.stringify(values.start)}`,
        {
          file: "nvmx probe image",
        },
      );
  }
  const built = buildRun(prepared, flags | exit, host, start);
  writeFileSync(values.o, built.image.bytes);
  if (values.efi) writeFileSync(values.efi, built.image.efi);
  if (values.final)
    writeFileSync(
      values.final,
      prepared
        .filter((p) => !p.skip)
        .map((p) => `${JSON.stringify(finalDocument(p))}\n`)
        .join(""),
    );
  const skipped = prepared.filter((p) => p.skip).length;
  process.stderr.write(
    `nvmx probe image: ${values.o} (${(built.image.bytes.length / 1048576).toFixed(1)} MiB): ${built.records.length} states${skipped ? `, ${skipped} skipped (processor state the probe cannot set)` : ""}; output on ${values.output === "serial" ? "COM1" : values.output === "e9" ? "port 0xE9" : "COM1 and port 0xE9"}\n`,
  );
  return bad ? 2 : 0;
}

// ---- run / compare

interface Report {
  compared: Compared[];
  log: ProbeLog;
  text: string;
  header: string[];
}

function disagreements(compared: readonly Compared[]): string[] {
  const lines: string[] = [];
  for (const c of compared) {
    if (c.verdict === "agree" || c.verdict === "skipped") continue;
    const nv = c.nvmx!;
    const outs = (nv.possibleOutcomes ?? [nv.outcome]).map(outcomeLabel).join(" or ");
    lines.push(
      `state ${c.p.n} (${c.p.where})${c.p.comment ? ` ${c.p.comment}` : ""}: ${c.verdict === "deviation" ? `Bochs deviation ${c.deviations.join("+")}` : c.verdict === "unexplained" ? "UNEXPLAINED" : "no result"}`,
      `    nvmx: ${outs}${nv.violations.length ? ` [${nv.violations.map((v) => v.id).join(", ")}]` : ""}`,
      `    CPU:  ${observedLabel(c.observed)}`,
    );
    if (c.p.removed.length)
      lines.push(`    (the probe's changes removed the intended violation ${c.p.removed.join(", ")})`);
    for (const id of c.deviations) {
      const d = deviationById(id);
      if (d) lines.push(`    ${id}: ${d.summary} (SDM ${d.sdm}; ${d.upstream})`);
    }
  }
  return lines;
}

async function report(
  r: Report,
  values: { json?: boolean | undefined; out?: string | undefined },
  out: Output,
): Promise<number> {
  const table = agreementTable(r.compared);
  const unexplained = table.total.unexplained;
  if (values.out) {
    mkdirSync(values.out, { recursive: true });
    writeFileSync(join(values.out, "probe.log"), r.text);
    writeFileSync(
      join(values.out, "final.ndjson"),
      r.compared
        .filter((c) => !c.p.skip)
        .map((c) => `${JSON.stringify(finalDocument(c.p))}\n`)
        .join(""),
    );
    writeFileSync(
      join(values.out, "results.ndjson"),
      r.compared.map((c) => `${JSON.stringify(resultRecord(c))}\n`).join(""),
    );
    writeFileSync(
      join(values.out, "report.md"),
      [
        ...r.header,
        "",
        formatTable(table),
        "",
        "Disagreements:",
        "",
        ...disagreements(r.compared).map((l) => `    ${l}`),
        "",
      ].join("\n"),
    );
  }
  if (values.json) {
    for (const c of r.compared) await out.line(JSON.stringify(resultRecord(c)));
    await out.line(
      JSON.stringify({ table: table.rows, total: table.total, skipped: Object.fromEntries(table.skipped) }),
    );
  } else {
    for (const h of r.header) await out.line(h);
    await out.line("");
    await out.line(formatTable(table));
    const d = disagreements(r.compared);
    if (d.length) {
      await out.line("");
      await out.line("Disagreements:");
      for (const l of d) await out.line(`  ${l}`);
    }
    await out.line("");
    await out.line(
      unexplained ? `${unexplained} unexplained disagreement(s)` : "0 unexplained disagreements",
    );
  }
  return unexplained ? 1 : 0;
}

function resultRecord(c: Compared): Record<string, unknown> {
  return {
    state: c.p.n,
    where: c.p.where,
    ...(c.p.comment ? { comment: c.p.comment } : {}),
    verdict: c.verdict,
    ...(c.p.skip ? { skip: c.p.skip } : {}),
    ...(c.nvmx
      ? {
          nvmx: c.nvmx.outcome,
          ...(c.nvmx.possibleOutcomes ? { possible: c.nvmx.possibleOutcomes } : {}),
          violations: c.nvmx.violations.map((v) => v.id),
        }
      : {}),
    observed: observedLabel(c.observed),
    ...(c.deviations.length ? { deviations: c.deviations } : {}),
    ...(c.p.removed.length ? { removed: c.p.removed } : {}),
    changes: c.p.changes.length,
  };
}

async function run(argv: string[], out: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      bochs: { type: "boolean", default: false },
      model: { type: "string" },
      cpu: { type: "string" },
      out: { type: "string" },
      json: { type: "boolean", default: false },
      cpus: { type: "string" },
      timeout: { type: "string" },
      dodge: { type: "string" },
    },
  });
  if (!values.bochs)
    throw new InputError(
      "only --bochs runs here; for QEMU/KVM or a real machine use `nvmx probe image` and `nvmx probe compare` (docs/probe.md)",
      { file: "nvmx probe run" },
    );
  need(probeMissing());
  need(bochsMissing());
  const model = checkModel(values.model ?? DEFAULT_MODEL);
  const cpu = cpuFor({ ...values, model });
  const { states, bad } = await loadStates(positionals, cpu, out);
  const t0 = Date.now();
  let done = 0;
  const progress = !process.stderr.isTTY
    ? undefined
    : () => process.stderr.write(`\r${++done}/${states.length}`);
  const r = await runOnBochs(states, {
    model,
    ...(values.cpus !== undefined ? { cpus: Number(values.cpus) } : {}),
    ...(values.timeout !== undefined ? { stateTimeoutMs: Number(values.timeout) } : {}),
    ...(progress ? { onState: progress } : {}),
    ...(values.dodge ? { dodge: values.dodge.split(",") } : {}),
  });
  if (progress) process.stderr.write("\n");
  const ran = r.prepared.filter((p) => !p.skip).length;
  const boots = r.runs.reduce((s, x) => s + x.boots, 0);
  const bootMs = r.runs.flatMap((x) => x.bootMs);
  const stateMs = r.runs.reduce((s, x) => s + x.stateMs, 0);
  const header = [
    `nvmx probe: Bochs ${model}, profile ${cpu?.name ?? "(as the states name)"}: ${states.length} states, ${ran} run, ${states.length - ran} skipped`,
    `Bochs: ${boots} start(s) (${bootMs.map((m) => `${(m / 1000).toFixed(2)} s`).join(", ")} to the first state), states ${(stateMs / 1000).toFixed(2)} s (${ran ? (stateMs / ran).toFixed(1) : "0"} ms per state), ${((Date.now() - t0) / 1000).toFixed(1)} s in all${r.log.helper ? "; helper CPU up" : ""}`,
  ];
  if (r.log.novmx) header.push(`the CPU has no usable VMX: ${r.log.novmx}`);
  const code = await report({ compared: r.compared, log: r.log, text: r.text, header }, values, out);
  return bad ? 2 : code;
}

async function compare(argv: string[], out: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      cpu: { type: "string" },
      out: { type: "string" },
      json: { type: "boolean", default: false },
      bochs: { type: "boolean", default: false },
    },
  });
  const [logFile, ...files] = positionals;
  if (!logFile)
    throw new InputError("give the probe LOG and the STATES it ran", { file: "nvmx probe compare" });
  need(probeMissing());
  const text = readFileSync(logFile, "latin1");
  const log = parseLog(text);
  const { states, bad } = await loadStates(files, cpuFor(values), out);
  const prepared: PreparedState[] = prepareAll(states, coreHeader());
  // a Bochs run's machine is known: its RAM ends at BOCHS_RAM (structures beyond it read as all ones)
  applyLog(prepared, log, values.bochs ? BOCHS_RAM : undefined);
  const compared = compareAll(prepared, log, values.bochs ? BOCHS_DEVIATIONS : []);
  const header = [`nvmx probe compare: ${logFile} (${log.boot ?? "no banner"}), ${states.length} states`];
  const differs = capsDiffer(log, prepared);
  if (differs)
    header.push(
      `warning: the CPU in the log is not the one the states name (${differs}); predictions use the states' profile (\`nvmx probe caps LOG\` makes one of the log's CPU for --cpu)`,
    );
  if (log.novmx) header.push(`the CPU has no usable VMX: ${log.novmx}`);
  const code = await report({ compared, log, text, header }, values, out);
  return bad ? 2 : code;
}

/** The first capability MSR where the log's CPU and the states' profile differ, if any. */
function capsDiffer(log: ProbeLog, prepared: readonly PreparedState[]): string | undefined {
  const caps = prepared.find((p) => !p.skip)?.final.caps;
  if (!caps || log.msrs.size === 0) return undefined;
  for (const [name, index] of CAPABILITY_MSRS) {
    const inLog = log.msrs.get(index);
    const inProfile = caps.msr[name];
    if (typeof inLog === "bigint" && inLog !== inProfile)
      return `${name}: 0x${inLog.toString(16)} in the log, ${inProfile === undefined ? "absent" : `0x${inProfile.toString(16)}`} in ${caps.name}`;
  }
  return undefined;
}

async function kut(argv: string[], out: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { cpu: { type: "string" }, state: { type: "string" } },
  });
  need(probeMissing());
  const { states, bad } = await loadStates(positionals, cpuFor(values), out);
  let prepared = prepareAll(states, coreHeader());
  if (values.state !== undefined) {
    const n = Number(values.state);
    prepared = prepared.filter((p) => p.n === n);
    if (!prepared.length)
      throw new InputError(`no state ${values.state} (states are numbered from 0)`, { file: "--state" });
  }
  await out.line(kutTests(prepared));
  return bad ? 2 : 0;
}
