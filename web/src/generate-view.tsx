/**
 * Generate and repair in the page (src/gen, run in the web worker): a new valid state (profile, mode,
 * seed), a state that breaks exactly one chosen rule, and the repair of the editor's state (the fewest
 * changes, shown as a diff). Each result can be loaded into the editor, downloaded, or shared by link.
 */
import { useMemo, useState } from "preact/hooks";
import { CHECKS } from "../../src/checks/registry.js";
import { builtinNames, builtinProfile } from "../../src/cpu/builtin.js";
import type { Caps } from "../../src/cpu/profile.js";
import { MODES, type Mode, modeUnsupported } from "../../src/gen/valid.js";
import { ProgressView } from "./compare-chart.js";
import type { EntryDocument } from "./model.js";
import { encodeFragment, LINK_BUDGET, linkTo } from "./share.js";
import { type Made, type Progress, work } from "./work.js";

const MODE_NAMES: Record<Mode, string> = {
  "64": "64-bit (IA-32e)",
  "32": "32-bit protected",
  pae: "32-bit with PAE paging",
  real: "real mode (unrestricted guest)",
  v86: "virtual-8086",
};

/** The rule list: id, SDM section and the rule in words, searchable by any of them. */
const RULES = CHECKS.map((c) => ({
  id: c.id,
  sdm: c.sdm,
  text: c.rule,
  haystack: `${c.id} ${c.sdm} ${c.rule}`.toLowerCase(),
}));

/** Show at most this many matches (a narrower search shows the rest). */
const SHOWN = 60;

export interface GenerateViewProps {
  doc: EntryDocument;
  caps: Caps;
  onLoad: (doc: EntryDocument, what: string) => void;
  copy: (text: string, notice: string) => void;
  download: (doc: EntryDocument) => void;
}

interface Result {
  what: "valid" | "violate" | "repair";
  made: Made;
  link: string;
}

function ResultView({ r, onLoad, copy, download }: { r: Result } & Omit<GenerateViewProps, "doc" | "caps">) {
  const m = r.made;
  const fits = r.link.length <= LINK_BUDGET;
  return (
    <section
      class="panel gen-result"
      id="gen-result"
      data-kind={r.what}
      data-ok={m.ok ? "true" : "false"}
      data-failing={m.failing.join(" ")}
      aria-labelledby="gen-result-title"
    >
      <h2 id="gen-result-title">
        {r.what === "valid"
          ? "New valid state"
          : r.what === "violate"
            ? "A state that breaks one rule"
            : "Repair"}
      </h2>
      <p class="gen-summary">{m.summary}</p>
      {m.start && <p class="hint">Start: {m.start}.</p>}
      <p>
        Checked here:{" "}
        {m.failing.length === 0 ? (
          <strong class="ok-text">every check passes</strong>
        ) : (
          <>
            failing <strong>{m.failing.join(", ")}</strong>
          </>
        )}
      </p>
      {(r.what !== "valid" || m.changes.length > 0) && (
        <section class="diff" aria-label="Changes">
          <h3>
            {m.changes.length} change{m.changes.length === 1 ? "" : "s"}
            {r.what === "repair" ? " (the fewest the repair found)" : ""}
          </h3>
          {m.changes.length > 0 && (
            <table class="diff-table">
              <thead>
                <tr>
                  <th scope="col">Field</th>
                  <th scope="col">before</th>
                  <th scope="col">after</th>
                </tr>
              </thead>
              <tbody>
                {m.changes.map((c) => (
                  <tr key={c.target} data-target={c.target}>
                    <th scope="row">
                      <code>{c.target}</code>
                    </th>
                    <td class="del">
                      <code>− {c.from}</code>
                    </td>
                    <td class="ins">
                      <code>+ {c.to}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      )}
      <div class="row">
        <button type="button" id="result-load" onClick={() => onLoad(m.doc, r.what)}>
          Load into the editor
        </button>
        <button
          type="button"
          id="result-link"
          disabled={!fits}
          onClick={() => copy(r.link, "Copied a link that carries this state")}
        >
          Copy link
        </button>
        <button type="button" onClick={() => download(m.doc)}>
          Download JSON
        </button>
        <span class="hint" id="result-link-length">
          link: {r.link.length.toLocaleString("en")} characters
          {fits
            ? ` (within the ${LINK_BUDGET.toLocaleString("en")} budget)`
            : ` — over the ${LINK_BUDGET.toLocaleString("en")} budget: download the JSON instead`}
        </span>
      </div>
    </section>
  );
}

export function GenerateView({ doc, caps, onLoad, copy, download }: GenerateViewProps) {
  const cpuName = typeof doc.cpu === "string" ? doc.cpu : "";
  const [cpu, setCpu] = useState(cpuName || "(inline)");
  const [mode, setMode] = useState<"" | Mode>("");
  const [seed, setSeed] = useState(1);
  const [query, setQuery] = useState("");
  const [rule, setRule] = useState("");
  const [repairTo, setRepairTo] = useState(false);
  const [progress, setProgress] = useState<Progress>();
  const [result, setResult] = useState<Result>();
  const [error, setError] = useState("");
  const genCaps = cpu === "(inline)" ? caps : builtinProfile(cpu);
  const cpuDoc: EntryDocument = {
    format: "nvmx-entry/1",
    cpu: cpu === "(inline)" ? doc.cpu! : cpu,
    vmcs: {},
  };

  const matches = useMemo(() => {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    return RULES.filter((r) => words.every((w) => r.haystack.includes(w)));
  }, [query]);

  const go = async (what: Result["what"], job: Parameters<typeof work.run>[0]) => {
    setError("");
    setProgress({ label: "starting the worker" });
    requestAnimationFrame(() =>
      document.getElementById("gen-progress")?.scrollIntoView({ block: "nearest" }),
    );
    try {
      const made = (await work.run(job, setProgress)) as Made;
      setResult({ what, made, link: linkTo(await encodeFragment(made.doc)) });
      // the result appears below the forms: bring it into view (on a phone it is a screen or two down)
      requestAnimationFrame(() =>
        document.getElementById("gen-result")?.scrollIntoView({ block: "nearest" }),
      );
    } catch (e) {
      setError((e as Error).message === "cancelled" ? "Cancelled." : (e as Error).message);
    } finally {
      setProgress(undefined);
    }
  };
  const busy = progress !== undefined;

  return (
    <div class="generate">
      <section class="panel" aria-labelledby="gen-valid-title">
        <h2 id="gen-valid-title">New valid state</h2>
        <p class="hint">
          A state that passes every check on the CPU, built by nvmx's generator (<code>nvmx gen</code>): the
          same seed gives the same state.
        </p>
        <div class="config-grid">
          <label for="gen-cpu">CPU profile</label>
          <select id="gen-cpu" value={cpu} onChange={(e) => setCpu(e.currentTarget.value)}>
            {!cpuName && <option value="(inline)">the document's inline profile</option>}
            {builtinNames().map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
          <label for="gen-mode">Guest mode</label>
          <select id="gen-mode" value={mode} onChange={(e) => setMode(e.currentTarget.value as "" | Mode)}>
            <option value="">the CPU's first (64-bit where it can)</option>
            {MODES.map((m) => {
              const why = modeUnsupported(genCaps, m);
              return (
                <option key={m} value={m} disabled={why !== undefined} title={why}>
                  {MODE_NAMES[m]}
                  {why ? " (not on this CPU)" : ""}
                </option>
              );
            })}
          </select>
          <label for="gen-seed">Seed</label>
          <span class="seed">
            <input
              id="gen-seed"
              type="number"
              min={0}
              max={0xffffffff}
              value={seed}
              onInput={(e) =>
                setSeed(Math.max(0, Math.min(0xffffffff, Math.floor(Number(e.currentTarget.value) || 0))))
              }
            />
            <button type="button" onClick={() => setSeed(Math.floor(Math.random() * 0x100000000))}>
              Another seed
            </button>
          </span>
        </div>
        <div class="row">
          <button
            type="button"
            id="gen-valid"
            disabled={busy}
            onClick={() =>
              go("valid", {
                kind: "valid",
                doc: cpuDoc,
                features: "random",
                seed,
                ...(mode && !modeUnsupported(genCaps, mode) ? { mode } : {}),
              })
            }
          >
            Generate a valid state
          </button>
        </div>
      </section>

      <section class="panel" aria-labelledby="gen-violate-title">
        <h2 id="gen-violate-title">Break a rule on purpose</h2>
        <p class="hint">
          Pick any of nvmx's {RULES.length} rules: the violation search finds a state that fails exactly that
          one, starting from the editor's state when it passes every check (else from the valid state of the
          seed above). The search runs in the background; the first search on a CPU can take a few seconds.
        </p>
        <label for="rule-search" class="block-label">
          Find a rule by id, SDM section or words
        </label>
        <input
          id="rule-search"
          type="search"
          placeholder="e.g. host.tr, 28.2.3, canonical, CR4"
          value={query}
          onInput={(e) => setQuery(e.currentTarget.value)}
        />
        <ul class="rule-list" id="rule-list" aria-label="Rules">
          {matches.slice(0, SHOWN).map((r) => (
            <li key={r.id} class={r.id === rule ? "chosen" : undefined} data-rule={r.id}>
              <button
                type="button"
                class="rule-pick"
                aria-pressed={r.id === rule}
                onClick={() => setRule(r.id)}
              >
                <code class="check-id">{r.id}</code> <span class="sdm">SDM {r.sdm}</span>
                <span class="rule-text">{r.text}</span>
              </button>
            </li>
          ))}
        </ul>
        <p class="hint" id="rule-count">
          {matches.length} rule{matches.length === 1 ? "" : "s"} match
          {matches.length > SHOWN ? ` (showing ${SHOWN}: narrow the search)` : ""}.
        </p>
        <div class="row">
          <button
            type="button"
            id="gen-violate"
            disabled={busy || !rule}
            onClick={() =>
              go("violate", {
                kind: "violate",
                doc: { ...doc, ...(cpu !== "(inline)" && cpu !== cpuName ? { cpu } : {}) },
                rule,
                seed,
              })
            }
          >
            {rule ? `Break ${rule}` : "Pick a rule first"}
          </button>
        </div>
      </section>

      <section class="panel" aria-labelledby="gen-repair-title">
        <h2 id="gen-repair-title">Repair the editor's state</h2>
        <p class="hint">
          The fewest changes nvmx's repair finds (<code>nvmx repair</code>) so that the state passes every
          check — or, with the box ticked, fails exactly the rule picked above.
        </p>
        <label>
          <input type="checkbox" checked={repairTo} onChange={(e) => setRepairTo(e.currentTarget.checked)} />{" "}
          …so that it fails exactly {rule || "the picked rule"}
        </label>
        <div class="row">
          <button
            type="button"
            id="gen-repair"
            disabled={busy || (repairTo && !rule)}
            onClick={() =>
              go("repair", { kind: "repair", doc, seed, ...(repairTo && rule ? { violate: rule } : {}) })
            }
          >
            Repair
          </button>
        </div>
      </section>

      {busy && (
        <div class="panel">
          <ProgressView p={progress} id="gen-progress" />
          <button type="button" id="gen-cancel" onClick={() => work.cancel()}>
            Cancel
          </button>
        </div>
      )}
      {error && (
        <p class="panel status-error" role="alert" id="gen-error">
          {error}
        </p>
      )}
      {result && !busy && <ResultView r={result} onLoad={onLoad} copy={copy} download={download} />}
    </div>
  );
}
