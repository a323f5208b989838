/// <reference lib="webworker" />
/**
 * The page's web worker (protocol in work.ts): valid states, single-rule violations, repair and the nested
 * compare, on the same library as `nvmx gen`, `nvmx repair` and `nvmx nested --compare`. One job at a time;
 * the violation search keeps its results per CPU profile for as long as the worker lives, so a second search
 * on the same profile is fast.
 */
import { CHECKS, checkById } from "../../src/checks/registry.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import type { Caps } from "../../src/cpu/profile.js";
import { type Entry, type EntryDocument, parseEntry, resolveCaps } from "../../src/entry/document.js";
import { runEntry } from "../../src/entry/run.js";
import { InputError } from "../../src/errors.js";
import { type Change, repair } from "../../src/gen/repair.js";
import { Rng } from "../../src/gen/rng.js";
import { serializeGenerated } from "../../src/gen/serialize.js";
import { generateValid, type Mode, modesFor, modeUnsupported } from "../../src/gen/valid.js";
import { type SearchProgress, violationSearch } from "../../src/gen/violate.js";
import { compareCorpus } from "../../src/nested/compare.js";
import { ALL_RAM } from "../../src/nested/config.js";
import { validCorpus } from "../../src/nested/corpus.js";
import { kernelPreset } from "../../src/nested/kernels/index.js";
import { l1Profile } from "../../src/nested/l1.js";
import { type BundledCorpus, corpusDocuments } from "./corpus-data.js";
import type { Compared, CorpusChoice, FromWorker, Job, Made, Progress, ToWorker } from "./work.js";

declare const self: DedicatedWorkerGlobalScope;

/** One Caps object per CPU given (so the violation search's per-profile cache stays warm). */
const capsByCpu = new Map<string, Caps>();
function capsOf(doc: EntryDocument): Caps {
  const key = JSON.stringify(doc.cpu ?? null);
  let c = capsByCpu.get(key);
  if (!c) {
    c = resolveCaps(doc.cpu, {});
    capsByCpu.set(key, c);
  }
  return c;
}

/** A generated entry as a document that names the CPU it was made for (a built-in's name, or the inline profile). */
function docOf(e: Entry, cpu: EntryDocument["cpu"]): EntryDocument {
  const d = serializeGenerated(e);
  if (cpu === undefined) delete d.cpu;
  else d.cpu = cpu;
  return d;
}

/** Memory words of a document, by address. */
function words(doc: EntryDocument): Map<string, string> {
  const out = new Map<string, string>();
  for (const [start, list] of Object.entries(doc.memory ?? {}))
    for (const [i, w] of list.entries()) out.set(`0x${(BigInt(start) + 8n * BigInt(i)).toString(16)}`, w);
  return out;
}

/** What changed from one document to another: fields, processor keys, memory words. */
export function docChanges(from: EntryDocument, to: EntryDocument): Change[] {
  const out: Change[] = [];
  for (const k of new Set([...Object.keys(from.vmcs), ...Object.keys(to.vmcs)]))
    if (from.vmcs[k] !== to.vmcs[k])
      out.push({ target: k, from: String(from.vmcs[k] ?? "0x0"), to: String(to.vmcs[k] ?? "0x0") });
  const pa = (from.processor ?? {}) as Record<string, unknown>;
  const pb = (to.processor ?? {}) as Record<string, unknown>;
  for (const k of new Set([...Object.keys(pa), ...Object.keys(pb)]))
    if (pa[k] !== pb[k])
      out.push({
        target: `processor.${k}`,
        from: String(pa[k] ?? "(default)"),
        to: String(pb[k] ?? "(default)"),
      });
  const ma = words(from);
  const mb = words(to);
  for (const a of new Set([...ma.keys(), ...mb.keys()]))
    if (ma.get(a) !== mb.get(a))
      out.push({ target: `memory[${a}]`, from: ma.get(a) ?? "0", to: mb.get(a) ?? "0" });
  return out;
}

function failingIds(e: Entry): string[] {
  return runEntry(e).violations.map((v) => v.id);
}

/** State 0 of `nvmx gen --cpu C --seed S [--mode M]`. */
function validState(caps: Caps, seed: number, mode?: Mode): { entry: Entry; mode: Mode } {
  const m = mode ?? modesFor(caps)[0]!;
  const why = modeUnsupported(caps, m);
  if (why) throw new InputError(why, { location: "mode" });
  return { entry: generateValid(caps, Rng.derive(seed, 0), { mode: m }).entry, mode: m };
}

function stageText(p: SearchProgress): string {
  const what = ["", "single changes", "extending partial hits", "from a neighbouring valid state"][p.stage];
  return `searching for ${p.id}: stage ${p.stage} of 3 (${what}), ${p.evals.toLocaleString("en")} states tried`;
}

function run(job: Exclude<Job, { kind: "compare" }>, progress: (p: Progress) => void): Made {
  switch (job.kind) {
    case "valid": {
      const caps = capsOf(job.doc);
      progress({ label: `generating a valid state on ${caps.name}` });
      const { entry, mode } = validState(caps, job.seed, job.mode);
      return {
        doc: docOf(entry, job.doc.cpu),
        changes: [],
        failing: failingIds(entry),
        summary: `a valid ${mode === "64" ? "64-bit" : mode} guest on ${caps.name}, seed ${job.seed}: the same state as \`nvmx gen --cpu ${caps.name} --seed ${job.seed} --mode ${mode} --count 1\``,
        ok: true,
      };
    }
    case "violate": {
      const caps = capsOf(job.doc);
      const check = checkById(job.rule);
      if (!check) throw new InputError(`no check with id "${job.rule}"`, { location: "rule" });
      const mine = parseEntry(job.doc);
      const passes = failingIds(mine).length === 0;
      const start = passes ? mine : validState(caps, job.seed).entry;
      const startText = passes
        ? "your state (it passes every check)"
        : `a valid state (seed ${job.seed}), because your state does not pass every check`;
      progress({ label: `building the search's valid states on ${caps.name}` });
      const search = violationSearch(caps);
      const before = docOf(start, job.doc.cpu);
      const found = search.find(job.rule, (p) => progress({ label: stageText(p) }));
      if (found.status !== "violated")
        throw new InputError(
          `${job.rule} cannot be violated alone on ${caps.name} (${found.status === "not-applicable" ? "not applicable" : "only together with other rules"}): ${found.reason ?? ""}`,
          { location: "rule" },
        );
      const e = search.violate(job.rule, start)!;
      const derived = e === start;
      const doc = docOf(e, job.doc.cpu);
      return {
        doc,
        changes: derived ? docChanges(before, doc) : [],
        failing: failingIds(e),
        summary: `fails exactly ${job.rule} (SDM ${check.sdm})`,
        start: derived
          ? `derived from ${startText}`
          : `the search's own state: ${startText} could not be changed to fail this rule alone`,
        ok: true,
      };
    }
    case "repair": {
      const entry = parseEntry(job.doc);
      progress({ label: `repairing on ${entry.caps.name}` });
      const r = repair(entry, { seed: job.seed, ...(job.violate ? { violate: job.violate } : {}) });
      return {
        doc: docOf(r.entry, job.doc.cpu),
        changes: r.changes,
        failing: r.failing,
        summary: r.ok
          ? job.violate
            ? `fails exactly ${job.violate} after ${r.changes.length} change${r.changes.length === 1 ? "" : "s"}`
            : `passes every check after ${r.changes.length} change${r.changes.length === 1 ? "" : "s"}`
          : `not repaired: still failing ${r.failing.join(", ")}`,
        ok: r.ok,
      };
    }
  }
}

/** The bundled corpora (web/scripts/gen-corpus.mjs), loaded when first asked for. */
const BUNDLED = import.meta.glob<BundledCorpus>("./data/nested-corpus-*.json", { import: "default" });

async function bundled(
  kernel: string,
): Promise<BundledCorpus & { docs: { rule: string; doc: EntryDocument }[] }> {
  const load = BUNDLED[`./data/nested-corpus-${kernel}.json`];
  if (!load) throw new InputError(`no bundled corpus for ${kernel}`);
  const c = await load();
  const data = c.sameAs ? await BUNDLED[`./data/nested-corpus-${c.sameAs}.json`]!() : c;
  return { ...data, kernel: c.kernel, l1: c.l1, docs: corpusDocuments(data) };
}

async function compareAsync(
  kernel: string,
  choice: CorpusChoice,
  progress: (p: Progress) => void,
): Promise<Compared> {
  const preset = kernelPreset(kernel);
  let entries: Entry[];
  let host: Caps;
  let notViolable = 0;
  let valid: number;
  let corpus: string;
  if (choice.kind === "bundled") {
    progress({ label: "reading the bundled corpus" });
    const c = await bundled(kernel);
    host = builtinProfile(c.host);
    entries = c.docs.map((d) => parseEntry(d.doc));
    valid = c.docs.filter((d) => d.rule === "").length;
    notViolable = c.notViolableAlone ?? 0;
    corpus = `bundled: nvmx nested --compare violate-each on ${c.host} (${entries.length} states)`;
  } else {
    host = builtinProfile(choice.host);
    const l1 = l1Profile(preset, host);
    valid = Math.min(Math.max(0, Math.floor(choice.valid)), 200);
    progress({ label: `generating ${valid} valid states on ${l1.name}` });
    entries = validCorpus(l1, valid);
    const search = violationSearch(l1);
    const rules = CHECKS.filter((c) => c.cls !== "basic" && choice.classes.includes(c.cls as never));
    rules.forEach((c, i) => {
      const e = search.violate(c.id, undefined, (p) =>
        progress({
          label: `${stageText(p)} (rule ${i + 1} of ${rules.length})`,
          done: i,
          total: rules.length,
        }),
      );
      progress({
        label: `violation search: rule ${i + 1} of ${rules.length}`,
        done: i + 1,
        total: rules.length,
      });
      if (e) entries.push(e);
      else notViolable++;
    });
    corpus = `generated: ${valid} valid states and one state per rule (${choice.classes.join(", ")}) on ${host.name}`;
  }
  const l1 = l1Profile(preset, host);
  const rows = compareCorpus(entries, preset.id, host, {
    base: { l1RamBytes: ALL_RAM },
    progress: (done, total) => progress({ label: "running every configuration", done, total }),
  });
  return {
    kernel: preset.id,
    host: host.name,
    l1: l1.name,
    states: entries.length,
    valid,
    notViolable,
    corpus,
    rows,
  };
}

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const { id, job } = e.data;
  const post = (m: FromWorker) => self.postMessage(m);
  const progress = (p: Progress) => post({ id, type: "progress", progress: p });
  try {
    const result =
      job.kind === "compare" ? await compareAsync(job.kernel, job.corpus, progress) : run(job, progress);
    post({ id, type: "done", result });
  } catch (err) {
    post({
      id,
      type: "error",
      message: err instanceof InputError ? err.describe() : err instanceof Error ? err.message : String(err),
    });
  }
};
