#!/usr/bin/env node
/**
 * The playground's bundled nested corpus (web/src/data/nested-corpus-KERNEL.json): for each kernel preset, the
 * `nvmx nested --compare violate-each` corpus on the sapphirerapids host — 20 valid vmcs12 states and one
 * state per rule that can be violated alone on the kernel's L1 profile — as plain nvmx-entry/1 documents,
 * each violating state stored as its differences from one of a few base states (the search's starting
 * points). Documents, not search recipes: the corpus does not depend on the generator's internals, and the
 * page re-derives every verdict with the current checks.
 *
 * Run after `npm run build`:  node web/scripts/gen-corpus.mjs   (a cold search takes a minute or more per
 * kernel; the on-disk search cache makes later runs fast).
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dist = new URL("../../dist/", import.meta.url);
const { builtinProfile } = await import(new URL("cpu/builtin.js", dist).href);
const { KERNELS } = await import(new URL("nested/kernels/index.js", dist).href);
const { l1Profile } = await import(new URL("nested/l1.js", dist).href);
const { validCorpus } = await import(new URL("nested/corpus.js", dist).href);
const { violationSearch, cloneEntry, applyMutation } = await import(new URL("gen/violate.js", dist).href);
const { loadSearchCache, saveSearchCache } = await import(new URL("nested/cache.js", dist).href);
const { serializeGenerated } = await import(new URL("gen/serialize.js", dist).href);
const { CHECKS } = await import(new URL("checks/registry.js", dist).href);
const { VERSION } = await import(new URL("version.js", dist).href);

const HOST = "sapphirerapids";
const VALID = 20;

/** A document without its CPU (the nested model runs every vmcs12 on the kernel's L1 profile). */
function doc(e) {
  const d = serializeGenerated(e);
  delete d.cpu;
  return d;
}

/** What `state` changes in `base`: the fields that differ (0 for a field the state clears), processor, memory. */
function diff(base, state) {
  const out = {};
  const vmcs = {};
  for (const k of new Set([...Object.keys(base.vmcs), ...Object.keys(state.vmcs)]))
    if (base.vmcs[k] !== state.vmcs[k]) vmcs[k] = state.vmcs[k] ?? "0x0";
  if (Object.keys(vmcs).length) out.vmcs = vmcs;
  if (JSON.stringify(base.processor ?? {}) !== JSON.stringify(state.processor ?? {}))
    out.processor = state.processor ?? {};
  if (JSON.stringify(base.memory ?? {}) !== JSON.stringify(state.memory ?? {}))
    out.memory = state.memory ?? {};
  return out;
}

const host = builtinProfile(HOST);
/** corpus JSON → the kernel that wrote it first (a kernel with the same L1 profile gets the same states) */
const written = new Map();
for (const preset of KERNELS) {
  const l1 = l1Profile(preset, host);
  const search = violationSearch(l1);
  loadSearchCache(search);
  const bases = [];
  const baseIndex = new Map();
  const states = validCorpus(l1, VALID).map((e) => ({ rule: "", doc: doc(e) }));
  const skipped = [];
  const t0 = Date.now();
  for (const c of CHECKS) {
    if (c.cls === "basic") continue;
    const r = search.find(c.id);
    if (r.status !== "violated") {
      skipped.push(c.id);
      continue;
    }
    let b = baseIndex.get(r.base);
    if (b === undefined) {
      b = bases.length;
      bases.push(doc(r.base.entry));
      baseIndex.set(r.base, b);
    }
    const w = cloneEntry(r.base.entry);
    for (const m of r.recipe) applyMutation(w, m);
    states.push({ rule: c.id, base: b, ...diff(bases[b], doc(w)) });
  }
  saveSearchCache(search);
  const file = fileURLToPath(new URL(`../src/data/nested-corpus-${preset.id}.json`, import.meta.url));
  const key = JSON.stringify({ bases, states });
  const same = written.get(key);
  if (same) {
    const ref = {
      format: "nvmx-playground-corpus/1",
      kernel: preset.id,
      host: HOST,
      l1: l1.name,
      sameAs: same,
    };
    writeFileSync(file, `${JSON.stringify(ref)}\n`);
    console.log(`${preset.id}: the same states as ${same} (the same L1 profile) -> ${file}`);
    continue;
  }
  written.set(key, preset.id);
  const out = {
    format: "nvmx-playground-corpus/1",
    nvmx: VERSION,
    kernel: preset.id,
    host: HOST,
    l1: l1.name,
    note: `nvmx nested --compare violate-each on ${HOST}: ${VALID} valid vmcs12 states (seed 7) and one per rule violated alone on ${l1.name}; regenerate with node web/scripts/gen-corpus.mjs`,
    bases,
    states,
    notViolableAlone: skipped.length,
  };
  writeFileSync(file, `${JSON.stringify(out)}\n`);
  console.log(
    `${preset.id}: ${states.length} states (${bases.length} bases), ${skipped.length} rules not violable alone, ${Math.round((Date.now() - t0) / 1000)} s -> ${file}`,
  );
}
