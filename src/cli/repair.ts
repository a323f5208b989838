/**
 * `nvmx repair FILE [--json] [--violate ID] [--cpu NAME|FILE]`: change few fields of each entry document so it
 * passes every check (or fails exactly ID). Prints the repaired documents as NDJSON and lists the changed
 * fields on stderr; with --json, one line per input: {"entry", "changes", "violations", "ok"}.
 */
import { parseArgs } from "node:util";
import { checkById } from "../checks/registry.js";
import { InputError } from "../errors.js";
import { repair } from "../gen/repair.js";
import { serializeGenerated } from "../gen/serialize.js";
import { resolveCpuOption } from "./check.js";
import { intOption } from "./gen.js";
import { readEntries } from "./input.js";
import type { Output } from "./output.js";

export const REPAIR_USAGE = `  nvmx repair FILE [--json] [--violate ID] [--cpu NAME|FILE]
                                                  change few fields so a state passes (or fails exactly ID)
`;

export async function repairCommand(argv: string[], out: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      violate: { type: "string" },
      cpu: { type: "string" },
      seed: { type: "string" },
    },
  });
  if (positionals.length === 0)
    throw new InputError("needs at least one FILE (or - for stdin)", { file: "nvmx repair" });
  if (values.violate !== undefined && !checkById(values.violate))
    throw new InputError(`no check with id "${values.violate}"`, { file: "--violate" });
  const cpu = values.cpu !== undefined ? resolveCpuOption(values.cpu) : undefined;
  const seed = values.seed !== undefined ? intOption("seed", values.seed, 0, 0xffffffff) : undefined;
  const json = values.json ?? false;
  const stats = { bad: 0 };
  let failed = 0;
  for await (const { name, line, entry } of readEntries(positionals, { cpu, json }, out, stats)) {
    const r = repair(entry, {
      ...(values.violate !== undefined ? { violate: values.violate } : {}),
      ...(seed !== undefined ? { seed } : {}),
    });
    if (!r.ok) failed++;
    const doc = serializeGenerated(r.entry);
    if (json)
      await out.line(JSON.stringify({ entry: doc, changes: r.changes, violations: r.failing, ok: r.ok }));
    else {
      await out.line(JSON.stringify(doc));
      const where = line !== undefined ? `${name}:${line}` : name;
      process.stderr.write(
        `${where}: ${r.ok ? "repaired" : "NOT repaired"}, ${r.changes.length} change(s)${r.changes.length ? `: ${r.changes.map((c) => `${c.target} ${c.from} -> ${c.to}`).join("; ")}` : ""}${r.ok ? "" : `; still failing: ${r.failing.join(", ")}`}\n`,
      );
    }
  }
  const bad = stats.bad;
  return bad ? 2 : failed ? 1 : 0;
}
