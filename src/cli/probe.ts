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
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Command, Option } from "commander";
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
import { cpuValue } from "./check.js";
import {
  type Cli,
  choiceValue,
  cpuOption,
  defineCommand,
  intValue,
  jsonOption,
  quietOption,
  usage,
} from "./command.js";
import { readInput } from "./explain.js";
import type { Output } from "./output.js";

const DEFAULT_MODEL = "corei7_skylake_x";

/** A Bochs CPU model with VMX (those `bochs --help cpu` lists that the probe has been run on, or any it lists). */
function checkModel(command: string, model: string): string {
  const models = bochsModels();
  if (!models.includes(model))
    throw usage(
      command,
      `--model: unknown Bochs CPU model "${model}" (this Bochs has: ${models.join(", ")})`,
    );
  return model;
}

function need(why: string | undefined): void {
  if (why) throw new InputError(why, { file: "nvmx probe" });
}

function cpuFor(
  command: string,
  values: {
    cpu?: string | undefined;
    bochs?: boolean | undefined;
    model?: string | undefined;
  },
): Caps | undefined {
  if (values.cpu !== undefined) return cpuValue(command, "--cpu", values.cpu);
  if (values.bochs) return bochsProfile(values.model ?? DEFAULT_MODEL);
  return undefined;
}

async function loadStates(files: string[], cpu: Caps | undefined, out: Output) {
  const { states, errors } = await readStates(files, cpu);
  for (const e of errors) await out.error(e, false);
  return { states, bad: errors.length };
}

// ---- caps

interface CapsFlags {
  bochs?: true;
  model?: string;
  name?: string;
  quiet?: true;
}

async function caps(file: string | undefined, values: CapsFlags, cli: Cli): Promise<number> {
  const out = cli.out;
  let log: ProbeLog;
  let source: string;
  let description: string;
  const model = values.model ?? DEFAULT_MODEL;
  if (values.bochs) {
    need(probeMissing());
    need(bochsMissing());
    if (file !== undefined) throw usage("probe caps", "give a LOG or --bochs, not both");
    checkModel("probe caps", model);
    const r = await capsOnBochs(model);
    log = r.log;
    description = `Bochs 2.7 CPU model ${model} (as the probe reads it)`;
    source = `REAL (emulated): \`nvmx probe caps --bochs --model ${model}\` on Debian's bochs 2.7+dfsg-4+deb12u1 (VMX capability MSRs 480H-493H as enumerated, CPUID leaves, MSRs 3AH/345H/10AH where readable)`;
  } else {
    if (file === undefined) throw usage("probe caps", "give the probe's LOG, or --bochs");
    log = parseLog(readText(file));
    description = `CPU read by the nvmx probe (${file})`;
    source = `REAL: the nvmx probe's report (${file})`;
  }
  const name = values.name ?? (values.bochs ? (BOCHS_PROFILES[model] ?? `bochs-2.7-${model}`) : "probed-cpu");
  let r: ReturnType<typeof profileFromLog>;
  try {
    r = profileFromLog(log, name, description, source);
  } catch (e) {
    throw new InputError((e as Error).message, { file: values.bochs ? `bochs ${model}` : file! });
  }
  for (const n of r.notes) if (!values.quiet) await out.errorText(`nvmx probe caps: ${n}\n`);
  await out.line(JSON.stringify(r.profile, null, 2));
  return 0;
}

// ---- image

interface ImageFlags {
  image?: string;
  cpu?: string;
  efi?: string;
  final?: string;
  output: string;
  exit: string;
  start?: string;
  quiet?: true;
}

async function image(files: string[], values: ImageFlags, cli: Cli): Promise<number> {
  const out = cli.out;
  if (!values.image) throw usage("probe image", "-o FILE (the disk image to write) is required");
  const output = choiceValue("probe image", "--output", values.output, ["both", "serial", "e9"] as const);
  const flags = { both: OUT.e9 | OUT.com1, serial: OUT.com1, e9: OUT.e9 }[output];
  // how the probe ends the machine after its last state: QEMU's isa-debug-exit device at port 0xF4, Bochs's
  // shutdown port 0x8900, or not at all (it halts; the only safe choice on a real machine)
  const exitWord = choiceValue("probe image", "--exit", values.exit, ["none", "qemu", "bochs"] as const);
  const exit = { none: 0, qemu: OUT.qemuExit, bochs: OUT.bochsShutdown }[exitWord];
  const start = values.start !== undefined ? intValue("probe image", "--start", values.start) : undefined;
  const cpu = cpuFor("probe image", values);
  need(probeMissing());
  const { states, bad } = await loadStates(files, cpu, out);
  const host = coreHeader();
  const prepared = prepareAll(states, host);
  const built = buildRun(prepared, flags | exit, host, start);
  writeFileSync(values.image, built.image.bytes);
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
  cli.note(
    "probe image",
    `${values.image} (${(built.image.bytes.length / 1048576).toFixed(1)} MiB): ${built.records.length} states${skipped ? `, ${skipped} skipped (processor state the probe cannot set)` : ""}; output on ${output === "serial" ? "COM1" : output === "e9" ? "port 0xE9" : "COM1 and port 0xE9"}`,
    values.quiet,
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

interface RunFlags {
  bochs?: true;
  model?: string;
  cpu?: string;
  out?: string;
  json?: true;
  cpus?: string;
  timeout?: string;
  dodge?: string;
  quiet?: true;
}

async function run(files: string[], values: RunFlags, cli: Cli): Promise<number> {
  const out = cli.out;
  if (!values.bochs)
    throw usage(
      "probe run",
      "only --bochs runs here; for QEMU/KVM or a real machine use `nvmx probe image` and `nvmx probe compare` (docs/probe.md)",
    );
  const cpus = values.cpus !== undefined ? intValue("probe run", "--cpus", values.cpus, 1, 2) : undefined;
  const timeout =
    values.timeout !== undefined ? intValue("probe run", "--timeout", values.timeout, 1) : undefined;
  const dodge = values.dodge?.split(",").map((d) => d.trim());
  for (const d of dodge ?? [])
    if (d !== "A")
      throw usage("probe run", `--dodge: the probe can step around deviation A only, got "${d}"`);
  need(probeMissing());
  need(bochsMissing());
  const model = checkModel("probe run", values.model ?? DEFAULT_MODEL);
  const cpu = cpuFor("probe run", { ...values, model });
  const { states, bad } = await loadStates(files, cpu, out);
  const t0 = Date.now();
  const draw = cli.progress("states", values.quiet);
  let done = 0;
  const progress = draw ? () => draw(++done, states.length) : undefined;
  const r = await runOnBochs(states, {
    model,
    ...(cpus !== undefined ? { cpus } : {}),
    ...(timeout !== undefined ? { stateTimeoutMs: timeout } : {}),
    ...(progress ? { onState: progress } : {}),
    ...(dodge ? { dodge } : {}),
  });
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

interface CompareFlags {
  cpu?: string;
  out?: string;
  json?: true;
  bochs?: true;
}

async function compare(logFile: string, files: string[], values: CompareFlags, cli: Cli): Promise<number> {
  const out = cli.out;
  const cpu = cpuFor("probe compare", values);
  need(probeMissing());
  const text = readText(logFile);
  const log = parseLog(text);
  const { states, bad } = await loadStates(files, cpu, out);
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

async function kut(files: string[], values: { cpu?: string; state?: string }, cli: Cli): Promise<number> {
  const out = cli.out;
  const n = values.state !== undefined ? intValue("probe kut", "--state", values.state) : undefined;
  const cpu = cpuFor("probe kut", values);
  need(probeMissing());
  const { states, bad } = await loadStates(files, cpu, out);
  let prepared = prepareAll(states, coreHeader());
  if (n !== undefined) {
    prepared = prepared.filter((p) => p.n === n);
    if (!prepared.length)
      throw usage(
        "probe kut",
        `--state: no state ${n} among the ${states.length} given (states are numbered from 0)`,
      );
  }
  await out.line(kutTests(prepared));
  return bad ? 2 : 0;
}

/** A log read whole (latin1: the probe writes ASCII, a serial capture may hold noise); - is standard input. */
function readText(file: string): string {
  return Buffer.from(readInput(file)).toString("latin1");
}

const MODEL_HELP = `a Bochs CPU model with VMX (\`bochs --help cpu\`; default ${DEFAULT_MODEL}); the states are judged with its built-in profile (${Object.values(BOCHS_PROFILES).join(", ")}) unless --cpu names another`;

export function register(program: Command, cli: Cli): void {
  const probe = defineCommand(program, "probe", {
    summary: "run states as real VMLAUNCHes (Bochs, QEMU/KVM, a bare-metal machine) and compare with nvmx",
    description: `The probe (docs/probe.md): a small bootable program that enables VMX and runs each state of an image
as a real VMLAUNCH/VMRESUME, one result line per state. \`probe image\` builds the image (BIOS and UEFI),
\`probe run --bochs\` runs it in Bochs and compares, \`probe compare\` compares the log of a run anywhere
else (a KVM guest, a real machine), \`probe caps\` makes a CPU profile from the probe's report, \`probe kut\`
writes the states as kvm-unit-tests cases. Needs the assembled probe (npm run build with nasm installed);
\`run --bochs\` also needs Bochs 2.7.`,
    more: "How it runs, what it cannot set, and the Bochs deviations it found: docs/probe.md.",
  });
  const states = "entry documents (JSON or NDJSON files, - for standard input): the states to run";

  defineCommand(probe, "caps", {
    summary: "a CPU profile from the CPU's own capability MSRs and CPUID",
    description: `Print the CPU profile (docs/contract.md §2) of the CPU the probe ran on: from the report at the start
of a probe LOG, or, with --bochs, from a Bochs run of the probe made for it. MSRs the CPU would not let the
probe read are left out and named on stderr.`,
  })
    .argument("[LOG]", "the probe's output (a serial capture)")
    .addOption(new Option("--bochs", "boot the probe in Bochs and read its CPU"))
    .addOption(new Option("--model <M>", `with --bochs: ${MODEL_HELP.split(";")[0]}`))
    .addOption(
      new Option("--name <N>", "the profile's name (default: the Bochs profile's name, or probed-cpu)"),
    )
    .addOption(quietOption())
    .action(async (file: string | undefined, o: CapsFlags) => {
      cli.status = await caps(file, o, cli);
    });

  defineCommand(probe, "image", {
    summary: "a bootable disk image (BIOS and UEFI) that runs the states",
    description: `Write a raw disk image that boots (legacy BIOS or UEFI) into the probe and runs each state as a
VMLAUNCH/VMRESUME, printing one line per state on COM1 (115200 8N1) and port 0xE9. States the probe cannot
set up are skipped (the count is printed). Boot it in QEMU/KVM or write it to a USB stick (docs/probe.md).`,
  })
    .argument("<STATES...>", states)
    .addOption(new Option("-o, --image <FILE>", "the disk image to write (required)"))
    .addOption(cpuOption("the CPU the states are prepared for (default: each document's cpu)"))
    .addOption(
      new Option("--efi <FILE>", "also write the UEFI application alone (for \\EFI\\BOOT\\BOOTX64.EFI)"),
    )
    .addOption(
      new Option("--final <FILE>", "also write the final documents, as the probe runs them (NDJSON)"),
    )
    .addOption(
      new Option("--output <WHERE>", "where the probe prints: both (COM1 and port 0xE9), serial, e9").default(
        "both",
      ),
    )
    .addOption(
      new Option(
        "--exit <HOW>",
        "how the machine ends after the last state: none (halt; the only safe choice on a real machine), qemu (isa-debug-exit at 0xF4), bochs (port 0x8900)",
      ).default("none"),
    )
    .addOption(
      new Option("--start <N>", "begin at state N (to go on after a state that hung or reset the machine)"),
    )
    .addOption(quietOption())
    .action(async (files: string[], o: ImageFlags) => {
      cli.status = await image(files, o, cli);
    });

  defineCommand(probe, "run", {
    summary: "run the states in Bochs and compare with nvmx",
    description: `Boot the probe in Bochs 2.7 with the states and compare what the emulated CPU did with what nvmx
predicts: the agreement table per outcome, then every disagreement with both outcomes and the known Bochs
deviation that explains it. Exit status 1 when some disagreement is unexplained (2: bad input).`,
  })
    .argument("<STATES...>", states)
    .addOption(new Option("--bochs", "run in Bochs (the only emulator run here; required)"))
    .addOption(new Option("--model <M>", MODEL_HELP))
    .addOption(cpuOption("the CPU the states are judged on (default: the Bochs model's profile)"))
    .addOption(
      new Option(
        "--dodge <A>",
        "step around Bochs deviation A (it masks a fifth of all valid states; docs/probe.md)",
      ),
    )
    .addOption(
      new Option("--out <DIR>", "also write probe.log, final.ndjson, results.ndjson and report.md into DIR"),
    )
    .addOption(jsonOption("one JSON record per state, then the table as one record"))
    .addOption(
      new Option("--cpus <N>", "processors of the emulated machine, 1 or 2 (default 2: a helper processor)"),
    )
    .addOption(
      new Option(
        "--timeout <MS>",
        "milliseconds a state may run before it counts as entered (did not stop); default 4000",
      ),
    )
    .addOption(quietOption())
    .action(async (files: string[], o: RunFlags) => {
      cli.status = await run(files, o, cli);
    });

  defineCommand(probe, "compare", {
    summary: "compare a probe log (any CPU) with nvmx",
    description: `Compare the log of a probe run (QEMU/KVM, a real machine, Bochs) with what nvmx predicts for the
states it ran, as \`probe run\` does. Give the same STATES the image was built from. Exit status 1 when
some disagreement is unexplained (2: bad input).`,
  })
    .argument("<LOG>", "the probe's output (a serial capture)")
    .argument("<STATES...>", states)
    .addOption(cpuOption("the CPU the states are judged on (default: each document's cpu)"))
    .addOption(
      new Option("--bochs", "the log is a Bochs run: explain disagreements with the known Bochs deviations"),
    )
    .addOption(
      new Option("--out <DIR>", "also write probe.log, final.ndjson, results.ndjson and report.md into DIR"),
    )
    .addOption(jsonOption("one JSON record per state, then the table as one record"))
    .action(async (log: string, files: string[], o: CompareFlags) => {
      cli.status = await compare(log, files, o, cli);
    });

  defineCommand(probe, "kut", {
    summary: "the states as kvm-unit-tests test cases",
    description: `Print the states as C test cases for kvm-unit-tests' x86/vmx_tests.c: each writes the prepared VMCS,
enters, and reports whether the outcome is the one nvmx predicts.`,
  })
    .argument("<STATES...>", states)
    .addOption(cpuOption("the CPU the states are prepared for (default: each document's cpu)"))
    .addOption(new Option("--state <N>", "only state N (numbered from 0)"))
    .action(async (files: string[], o: { cpu?: string; state?: string }) => {
      cli.status = await kut(files, o, cli);
    });
}
