/**
 * `nvmx repair FILE... [--json] [--violate ID] [--cpu NAME|FILE] [--seed S] [--exit-code]`: change few fields
 * of each entry document so it passes every check (or fails exactly ID). Prints the repaired documents as
 * NDJSON and lists the changed fields on stderr; with --json, one line per input: {"entry", "changes",
 * "violations", "ok"}.
 */
import { type Command, Option } from "commander";
import { checkById } from "../checks/registry.js";
import { repair } from "../gen/repair.js";
import { serializeGenerated } from "../gen/serialize.js";
import { cpuValue } from "./check.js";
import {
  type Cli,
  cpuOption,
  defineCommand,
  exitCodeOption,
  exitStatus,
  intValue,
  jsonOption,
  quietOption,
  usage,
} from "./command.js";
import { readEntries } from "./input.js";

interface RepairFlags {
  json?: true;
  violate?: string;
  cpu?: string;
  seed?: string;
  exitCode?: true;
}

export function register(program: Command, cli: Cli): void {
  defineCommand(program, "repair", {
    summary: "change few fields so a state passes every check (or fails exactly one)",
    description: `Repair entry documents: for each, the fewest field changes the search finds that make the state pass
every check on its CPU (or, with --violate ID, fail exactly the check ID). Prints each repaired
document (one per line) and, on stderr, what changed; with --json one record per document instead.
A log is named and left to \`nvmx explain\` (\`nvmx convert\` turns its dumps into documents).`,
    more: "How the search works: docs/generator.md.",
    examples: ["nvmx repair examples/bad-cs-ar.json"],
  })
    .argument("<FILE...>", "entry documents: JSON or NDJSON files, - for standard input")
    .addOption(
      jsonOption(
        'one JSON record per document: {"entry", "changes": [{target, from, to}], "violations", "ok"}',
      ),
    )
    .addOption(new Option("--violate <ID>", "repair towards failing exactly the check ID"))
    .addOption(cpuOption("the CPU to repair for, for every document (default: each document's cpu)"))
    .addOption(new Option("--seed <S>", "the search's seed, 0..4294967295 (default: from the state)"))
    .addOption(
      exitCodeOption(
        "exit 1 when some document could not be repaired (it still fails, or fails more than ID), 0 when all were; 2 (bad input) wins",
      ),
    )
    .addOption(quietOption())
    .action(async (files: string[], o: RepairFlags) => {
      cli.status = await repairFiles(files, o, cli);
    });
}

async function repairFiles(files: string[], o: RepairFlags, cli: Cli): Promise<number> {
  const out = cli.out;
  if (o.violate !== undefined && !checkById(o.violate))
    throw usage("repair", `--violate: no check with id "${o.violate}" (docs/checks.md lists them)`);
  const cpu = o.cpu !== undefined ? cpuValue("repair", "--cpu", o.cpu) : undefined;
  const seed = o.seed !== undefined ? intValue("repair", "--seed", o.seed, 0, 0xffffffff) : undefined;
  const json = o.json ?? false;
  const stats = { bad: 0 };
  let failed = 0;
  for await (const { name, line, entry } of readEntries(files, { cpu, json }, out, stats)) {
    const r = repair(entry, {
      ...(o.violate !== undefined ? { violate: o.violate } : {}),
      ...(seed !== undefined ? { seed } : {}),
    });
    if (!r.ok) failed++;
    const doc = serializeGenerated(r.entry);
    if (json)
      await out.line(JSON.stringify({ entry: doc, changes: r.changes, violations: r.failing, ok: r.ok }));
    else {
      await out.line(JSON.stringify(doc));
      const where = line !== undefined ? `${name}:${line}` : name;
      const changes = r.changes.map((c) => `${c.target} ${c.from} -> ${c.to}`).join("; ");
      await out.errorText(
        `${where}: ${r.ok ? "repaired" : "NOT repaired"}, ${r.changes.length} change(s)${r.changes.length ? `: ${changes}` : ""}${r.ok ? "" : `; still failing: ${r.failing.join(", ")}`}\n`,
      );
    }
  }
  return exitStatus({ bad: stats.bad, failed }, o.exitCode ?? false);
}
