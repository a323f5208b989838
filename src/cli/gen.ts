/**
 * `nvmx gen [--cpu NAME|FILE] [--count N] [--seed S] [--valid | --violate ID | --violate-each] [--mode M]`:
 * NDJSON `nvmx-entry/1` documents on stdout (issue 7). Valid states pass every check; `--violate ID` states fail
 * exactly ID; `--violate-each` writes N states for every check the profile lets fail alone and reports the
 * others on stderr. The violation search is cached on disk per profile and registry (src/nested/cache.ts:
 * NVMX_CACHE_DIR, default $XDG_CACHE_HOME/nvmx or ~/.cache/nvmx; NVMX_NO_CACHE=1 disables it).
 */
import { type Command, Option } from "commander";
import { CHECKS, checkById } from "../checks/registry.js";
import { defaultProfile } from "../cpu/builtin.js";
import type { Entry } from "../entry/document.js";
import { Rng } from "../gen/rng.js";
import { serializeGenerated } from "../gen/serialize.js";
import { generateValid, MODES, type Mode, modesFor, modeUnsupported } from "../gen/valid.js";
import { VARIANTS, ValidStates } from "../gen/vary.js";
import { violationSearch } from "../gen/violate.js";
import { loadSearchCache, saveSearchCache } from "../nested/cache.js";
import { cpuValue } from "./check.js";
import { type Cli, choiceValue, cpuOption, defineCommand, intValue, quietOption, usage } from "./command.js";

/**
 * Progress on stderr: only for people watching a terminal (stderr a terminal, stdout redirected, no --quiet)
 * during a large run, from 200 ms on.
 */
class Progress {
  private readonly start = Date.now();
  private last = this.start;
  private drawn = false;
  constructor(
    private readonly total: number,
    private readonly enabled: boolean,
  ) {}
  tick(done: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 200 && done < this.total) return;
    this.last = now;
    const width = 30;
    const f = this.total ? done / this.total : 1;
    const bar = "#".repeat(Math.round(f * width)).padEnd(width, ".");
    const rate = Math.round(done / Math.max(0.001, (now - this.start) / 1000));
    process.stderr.write(`\r[${bar}] ${(f * 100).toFixed(0).padStart(3)}% ${done}/${this.total} ${rate}/s `);
    this.drawn = true;
  }
  end(): void {
    if (this.drawn) process.stderr.write("\n");
  }
}

/** Bytes of valid-state documents per write. */
const CHUNK = 1 << 18;

function docLine(e: Entry, comment?: string): string {
  const doc = serializeGenerated(e);
  return JSON.stringify(comment ? { ...doc, comment } : doc);
}

// ---- the command

interface GenFlags {
  cpu?: string;
  count: string;
  seed: string;
  valid?: true;
  violate?: string;
  violateEach?: true;
  mode?: string;
  variants: string;
  quiet?: true;
}

export function register(program: Command, cli: Cli): void {
  defineCommand(program, "gen", {
    summary: "generate entry documents (NDJSON): valid, or failing exactly one check",
    description: `Generate nvmx-entry/1 documents, one per line, for fuzzing and tests: states that pass every check on
the CPU (valid on every CPU the profile stands for), or states that fail exactly one check
(--violate ID; --violate-each: COUNT states for every check the profile lets fail alone, and on
stderr the checks it does not). Valid states come from states built from scratch, each followed by
variations of its values (--variants). The same --seed gives the same documents. The violation search is
cached on disk per profile and registry (NVMX_CACHE_DIR, default $XDG_CACHE_HOME/nvmx or ~/.cache/nvmx;
NVMX_NO_CACHE=1 disables it).`,
    more: "How states are built and verified: docs/generator.md; check ids: docs/checks.md.",
    examples: [
      "nvmx gen --cpu skylake --count 2 --seed 7",
      "nvmx gen --violate guest.cs.l-and-d --mode 64 | nvmx check -",
    ],
  })
    .addOption(cpuOption("the CPU to generate for (default: sapphirerapids)"))
    .addOption(new Option("--count <N>", "documents to write (per check with --violate-each)").default("1"))
    .addOption(
      new Option("--seed <S>", "the seed, 0..4294967295: the same seed, the same documents").default("1"),
    )
    .addOption(new Option("--valid", "states that pass every check (the default)"))
    .addOption(new Option("--violate <ID>", "states that fail exactly the check ID (docs/checks.md)"))
    .addOption(new Option("--violate-each", "COUNT states failing each check alone, for every check"))
    .addOption(
      new Option(
        "--variants <N>",
        `with --valid: states per state built from scratch; the others vary its values within what every check allows (docs/generator.md); 1 builds each from scratch`,
      ).default(String(VARIANTS)),
    )
    .addOption(
      new Option(
        "--mode <MODE>",
        "the guest's mode: 64 (IA-32e), 32 (protected), pae, real (unrestricted guest), v86 (default: each mode the CPU supports in turn)",
      ),
    )
    .addOption(quietOption())
    .action(async (o: GenFlags) => {
      cli.status = await gen(o, cli);
    });
}

async function gen(o: GenFlags, cli: Cli): Promise<number> {
  const out = cli.out;
  const caps = o.cpu !== undefined ? cpuValue("gen", "--cpu", o.cpu) : defaultProfile();
  const each = o.violateEach ?? false;
  const kinds = [o.valid, o.violate !== undefined, each].filter(Boolean).length;
  if (kinds > 1) throw usage("gen", "give only one of --valid, --violate ID, --violate-each");
  const count = intValue("gen", "--count", o.count);
  const seed = intValue("gen", "--seed", o.seed, 0, 0xffffffff);
  let mode: Mode | undefined;
  if (o.mode !== undefined) {
    mode = choiceValue("gen", "--mode", o.mode, MODES);
    const why = modeUnsupported(caps, mode);
    if (why) throw usage("gen", `--mode ${mode}: ${why}`);
  }
  const modes = mode ? [mode] : modesFor(caps);
  const valid = (i: number): Entry =>
    generateValid(caps, Rng.derive(seed, i), { mode: modes[i % modes.length]! }).entry;
  const progressWanted = (total: number) =>
    !process.stdout.isTTY && cli.progressWanted(o.quiet) && total >= 10000;

  const variants = intValue("gen", "--variants", o.variants, 1);
  if (o.violate === undefined && !each) {
    const progress = new Progress(count, progressWanted(count));
    const states = new ValidStates(caps, seed, { variants, ...(mode ? { mode } : {}) });
    // documents written as bytes, in chunks of about CHUNK bytes; a chunk is reused once the stream wrote it
    const free: Buffer[] = [];
    const fresh = (need: number) => {
      const b = free.pop();
      return b && b.length >= need ? b : Buffer.allocUnsafe(Math.max(CHUNK, need));
    };
    let chunk = fresh(0);
    let p = 0;
    const send = (): Promise<void> | undefined => {
      const b = chunk;
      return out.bytes(b.subarray(0, p), () => free.push(b));
    };
    for (let i = 0; i < count; i++) {
      states.fill(i);
      const need = states.jsonBound() + 1;
      if (p + need > chunk.length) {
        const w = p ? send() : undefined;
        // the stream hands written chunks back from its callbacks: let them run, so two chunks serve a run
        if (w) await w;
        else await new Promise((resolve) => setImmediate(resolve));
        chunk = fresh(need);
        p = 0;
      }
      p = states.writeJson(chunk, p);
      chunk[p++] = 10;
      progress.tick(i + 1);
    }
    if (p) await send();
    progress.end();
    return 0;
  }

  if (o.violate !== undefined && !checkById(o.violate))
    throw usage("gen", `--violate: no check with id "${o.violate}" (docs/checks.md lists them)`);
  const search = violationSearch(caps);
  loadSearchCache(search);
  const ids = each ? CHECKS.map((c) => c.id) : [o.violate!];
  const progress = new Progress(count * ids.length, progressWanted(count * ids.length));
  let written = 0;
  let index = 0;
  let alone = 0;
  let na = 0;
  let notAlone = 0;
  for (const id of ids) {
    const r = search.find(id);
    if (r.status !== "violated") {
      if (r.status === "not-applicable") na++;
      else notAlone++;
      // with --violate ID this is the answer, not a note: always said
      if (!each || !o.quiet)
        await out.errorText(
          `nvmx gen: ${id}: ${r.status === "not-applicable" ? "not applicable" : "cannot be violated alone"} on ${caps.name}: ${r.reason ?? ""}\n`,
        );
      continue;
    }
    alone++;
    for (let k = 0; k < count; k++) {
      const e = search.violate(id, valid(index++));
      if (!e) break;
      const p = out.line(docLine(e, `violates ${id}`));
      if (p) await p;
      progress.tick(++written);
    }
  }
  progress.end();
  saveSearchCache(search);
  if (each)
    cli.note(
      "gen",
      `${caps.name}: ${alone} of ${alone + notAlone} applicable checks violated alone (${na} not applicable, ${notAlone} only together with others; ${ids.length} checks)`,
      o.quiet,
    );
  return alone === 0 && !each ? 2 : 0;
}
