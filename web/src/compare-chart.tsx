/**
 * `nvmx nested --compare` as a chart: per configuration of a kernel, how the corpus's invalid vmcs12 states
 * end — caught early, caught late, missed, answered wrongly, KVM internal error — as stacked bars for the
 * VMFail rules (errors 7 and 8) and the VM-exit rules (exits 33 and 34), with the dry runs, the valid states
 * refused and the modelled cycles per valid entry. The corpus runs in the web worker.
 */
import { useState } from "preact/hooks";
import { CHECKS } from "../../src/checks/registry.js";
import { builtinNames } from "../../src/cpu/builtin.js";
import type { CompareRow, OutcomeCounts } from "../../src/nested/compare.js";
import { type Compared, type CorpusChoice, GENERATED_LIMITS, type Progress, work } from "./work.js";

const SEGMENTS: readonly { key: keyof OutcomeCounts; name: string }[] = [
  { key: "early", name: "caught early" },
  { key: "late", name: "caught late" },
  { key: "missed", name: "missed" },
  { key: "wrong", name: "wrong outcome" },
  { key: "internalError", name: "KVM internal error" },
];

function Bar({ label, c }: { label: string; c: OutcomeCounts }) {
  const total = c.total || 1;
  return (
    <div class="bar-row" data-total={c.total}>
      <span class="bar-label">
        {label} <span class="muted">({c.total})</span>
      </span>
      <span
        class="bar"
        role="img"
        aria-label={`${label}: ${SEGMENTS.map((s) => `${c[s.key]} ${s.name}`).join(", ")}`}
      >
        {SEGMENTS.map((s) =>
          c[s.key] > 0 ? (
            <span
              key={s.key}
              class={`seg seg-${s.key}`}
              style={{ width: `${(100 * c[s.key]) / total}%` }}
              title={`${c[s.key]} ${s.name}`}
              data-count={c[s.key]}
            >
              {c[s.key] / total >= 0.08 ? c[s.key] : ""}
            </span>
          ) : null,
        )}
      </span>
    </div>
  );
}

function Row({ r }: { r: CompareRow }) {
  const config = `${r.parameter} · software ${r.softwareChecks}`;
  return (
    <li
      class="compare-row"
      data-config={`${r.parameter}|${r.softwareChecks}|${r.hypervisor ? "hypervisor" : "bare-metal"}`}
      data-vmfail-early={r.vmfail.early}
      data-vmfail-late={r.vmfail.late}
      data-vmfail-missed={r.vmfail.missed}
      data-vmfail-wrong={r.vmfail.wrong}
      data-exit-early={r.vmexit.early}
      data-exit-late={r.vmexit.late}
      data-exit-missed={r.vmexit.missed}
      data-exit-wrong={r.vmexit.wrong}
    >
      <p class="compare-config">
        <strong>{config}</strong>
      </p>
      <Bar label="VMFail rules" c={r.vmfail} />
      <Bar label="exit rules" c={r.vmexit} />
      <p class="compare-meta">
        {r.dryRuns} dry run{r.dryRuns === 1 ? "" : "s"} · valid refused {r.validRejected}/{r.valid} ·{" "}
        {r.cyclesPerValidEntry.toLocaleString("en")} cycles per valid entry
        {r.l0Bugs ? ` · ${r.l0Bugs} L0 bug reports` : ""}
      </p>
    </li>
  );
}

export function CompareChart({ data }: { data: Compared }) {
  const [where, setWhere] = useState<"bare" | "hv">("bare");
  const rows = data.rows.filter((r) => r.hypervisor === (where === "hv"));
  return (
    <div class="compare" data-kernel={data.kernel} data-states={data.states}>
      <p>
        {data.corpus}: {data.states} states ({data.valid} valid) on <code>{data.l1}</code>, host {data.host}
        {data.notViolable ? `; ${data.notViolable} rules cannot be broken alone on this profile` : ""}.
      </p>
      <div class="row" role="radiogroup" aria-label="L0 runs">
        <label>
          <input
            type="radio"
            name="compare-where"
            checked={where === "bare"}
            onChange={() => setWhere("bare")}
          />{" "}
          L0 on bare metal
        </label>
        <label>
          <input type="radio" name="compare-where" checked={where === "hv"} onChange={() => setWhere("hv")} />{" "}
          L0 under a hypervisor
        </label>
      </div>
      <ul class="legend" aria-label="Legend">
        {SEGMENTS.map((s) => (
          <li key={s.key}>
            <span class={`swatch seg-${s.key}`} /> {s.name}
          </li>
        ))}
      </ul>
      <ol class="compare-rows">
        {rows.map((r) => (
          <Row key={`${r.parameter}|${r.softwareChecks}|${r.hypervisor}`} r={r} />
        ))}
      </ol>
    </div>
  );
}

const CLASSES = [
  ["control", "controls (VMfail 7)"],
  ["host", "host state (VMfail 8)"],
  ["guest", "guest state (exit 33)"],
  ["msr-load", "MSR loading (exit 34)"],
] as const;

export function CompareSection({ kernel }: { kernel: string }) {
  const [corpus, setCorpus] = useState<"bundled" | "generated">("bundled");
  const [host, setHost] = useState("sapphirerapids");
  const [valid, setValid] = useState(20);
  const [classes, setClasses] = useState<string[]>(["control", "host"]);
  const [progress, setProgress] = useState<Progress>();
  const [data, setData] = useState<Compared>();
  const [error, setError] = useState("");
  const busy = progress !== undefined;

  const start = async () => {
    setError("");
    setData(undefined);
    setProgress({ label: "starting the worker" });
    const choice: CorpusChoice =
      corpus === "bundled"
        ? { kind: "bundled" }
        : {
            kind: "generated",
            host,
            valid: Math.min(GENERATED_LIMITS.maxValid, Math.max(0, valid)),
            classes: classes as ("control" | "host" | "guest" | "msr-load")[],
          };
    try {
      setData(await work.run({ kind: "compare", kernel, corpus: choice }, setProgress));
    } catch (e) {
      setError((e as Error).message === "cancelled" ? "Cancelled." : (e as Error).message);
    } finally {
      setProgress(undefined);
    }
  };

  return (
    <div class="compare-section">
      <fieldset class="corpus-choice">
        <legend>Corpus</legend>
        <label>
          <input
            type="radio"
            name="corpus"
            checked={corpus === "bundled"}
            onChange={() => setCorpus("bundled")}
          />{" "}
          bundled: <code>--compare violate-each</code> on sapphirerapids (20 valid states and one state per
          rule that breaks alone, ~300 states; a few seconds)
        </label>
        <label>
          <input
            type="radio"
            name="corpus"
            id="corpus-generated"
            checked={corpus === "generated"}
            onChange={() => setCorpus("generated")}
          />{" "}
          generated here, in a background worker
        </label>
        {corpus === "generated" && (
          <div class="generated-options">
            <label for="compare-host">Host CPU</label>
            <select id="compare-host" value={host} onChange={(e) => setHost(e.currentTarget.value)}>
              {builtinNames().map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
            <label for="compare-valid">Valid states (0–{GENERATED_LIMITS.maxValid})</label>
            <input
              id="compare-valid"
              type="number"
              min={0}
              max={GENERATED_LIMITS.maxValid}
              value={valid}
              onInput={(e) => setValid(Number(e.currentTarget.value) || 0)}
            />
            <span class="label">Rules broken alone</span>
            <span class="class-boxes">
              {CLASSES.map(([c, name]) => (
                <label key={c}>
                  <input
                    type="checkbox"
                    data-class={c}
                    checked={classes.includes(c)}
                    onChange={(e) => {
                      const on = e.currentTarget.checked;
                      setClasses((cs) => (on ? [...cs, c] : cs.filter((x) => x !== c)));
                    }}
                  />{" "}
                  {name}
                </label>
              ))}
            </span>
            <p class="hint">
              Limits: at most {GENERATED_LIMITS.maxValid} valid states and one state per rule of the chosen
              classes (with all four, about three in four of nvmx's {CHECKS.length} rules can be broken
              alone). The violation search takes up to a second per rule the first time (a minute or two for
              all classes); the worker keeps its results until you leave the page, so a second run is quick.
            </p>
          </div>
        )}
      </fieldset>
      <div class="row">
        <button
          type="button"
          id="compare-run"
          disabled={busy || (corpus === "generated" && classes.length === 0 && valid === 0)}
          onClick={start}
        >
          Run the comparison
        </button>
        {busy && (
          <button type="button" id="compare-cancel" onClick={() => work.cancel()}>
            Cancel
          </button>
        )}
      </div>
      {busy && <ProgressView p={progress} id="compare-progress" />}
      {error && (
        <p class="status-error" role="alert">
          {error}
        </p>
      )}
      {data && <CompareChart data={data} />}
    </div>
  );
}

export function ProgressView({ p, id }: { p: Progress; id: string }) {
  return (
    <div class="progress" id={id} role="status" aria-live="polite">
      {p.total ? <progress max={p.total} value={p.done ?? 0} /> : <progress />}
      <span>
        {p.label}
        {p.total ? ` (${p.done ?? 0}/${p.total})` : ""}
      </span>
    </div>
  );
}
