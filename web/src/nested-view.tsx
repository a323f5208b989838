/**
 * The nested view: L0 (a Linux KVM release) emulating L1's VMLAUNCH/VMRESUME on the editor's state as
 * vmcs12, drawn as a timeline with lanes (timeline.ts), and the `nvmx nested --compare` table as a chart
 * over a corpus (compare-chart.tsx). Loaded on demand: the kernel presets are large.
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import { builtinNames, builtinProfile } from "../../src/cpu/builtin.js";
import type { Entry } from "../../src/entry/document.js";
import {
  DEFAULT_CONFIG,
  describeParameter,
  type EarlyCheckParam,
  L0_BUGS,
  type L0Bug,
  type NestedConfig,
} from "../../src/nested/config.js";
import { KERNEL_IDS, type KernelId } from "../../src/nested/kernel.js";
import { KERNELS, kernelPreset } from "../../src/nested/kernels/index.js";
import { type NestedResult, runNested } from "../../src/nested/l0.js";
import { describeOutcome, describePossible } from "../../src/report.js";
import type { Vmcs } from "../../src/vmcs/store.js";
import { CompareSection } from "./compare-chart.js";
import { DETECTION_TEXT, LANES, type Stage, timeline } from "./timeline.js";

/** The nested configuration as the page (and a shared link) holds it. */
export interface NestedUi {
  kernel: KernelId;
  /** as merged: N/Y; as described: 1/0/-1, -1s = -1 with the skip-when-complete proposal */
  early: "N" | "Y" | "1" | "0" | "-1" | "-1s";
  /** v6.19's warn_on_missed_cc */
  warn: boolean;
  sw: "kernel" | "full" | "none";
  /** L0 on bare metal, under a hypervisor, or as the host profile says */
  hv: "auto" | "bare" | "hv";
  bug: "" | L0Bug;
  vmcs02: "reused" | "fresh";
  /** the host CPU; "" = the document's (unless it is a hypervisor's profile), else sapphirerapids */
  host: string;
}

export const DEFAULT_UI: NestedUi = {
  kernel: "v6.18",
  early: "Y",
  warn: false,
  sw: "kernel",
  hv: "auto",
  bug: "",
  vmcs02: "reused",
  host: "",
};

const EARLY = ["N", "Y", "1", "0", "-1", "-1s"] as const;

/** The configuration from a link's parameters (unknown values fall back to the defaults). */
export function uiFromParams(p: Readonly<Record<string, string>>): NestedUi {
  const pick = <T extends string>(v: string | undefined, allowed: readonly T[], d: T): T =>
    v !== undefined && (allowed as readonly string[]).includes(v) ? (v as T) : d;
  return {
    kernel: pick(p.kernel, KERNEL_IDS, DEFAULT_UI.kernel),
    early: pick(p.early, EARLY, DEFAULT_UI.early),
    warn: p.warn === "Y",
    sw: pick(p.sw, ["kernel", "full", "none"] as const, DEFAULT_UI.sw),
    hv: pick(p.hv, ["auto", "bare", "hv"] as const, DEFAULT_UI.hv),
    bug: pick(p.bug, ["", ...L0_BUGS] as const, DEFAULT_UI.bug),
    vmcs02: pick(p.vmcs02, ["reused", "fresh"] as const, DEFAULT_UI.vmcs02),
    host: p.host && builtinNames().includes(p.host) ? p.host : "",
  };
}

/** The parameters of a configuration that differ from the defaults (for the link). */
export function uiParams(ui: NestedUi): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(ui) as (keyof NestedUi)[]) {
    const v = ui[k];
    if (v === DEFAULT_UI[k]) continue;
    out[k] = typeof v === "boolean" ? (v ? "Y" : "N") : v;
  }
  return out;
}

function earlyParam(ui: NestedUi): EarlyCheckParam | undefined {
  switch (ui.early) {
    case "N":
    case "Y":
      return { form: "merged", nestedEarlyCheck: ui.early === "Y" };
    case "-1s":
      return { form: "described", earlyConsistencyChecks: -1, skipWhenComplete: true };
    default:
      return { form: "described", earlyConsistencyChecks: Number(ui.early) as 1 | 0 | -1 };
  }
}

export function configOf(ui: NestedUi): NestedConfig {
  const preset = kernelPreset(ui.kernel);
  const dry = preset.parameter.name === "nested_early_check";
  const early = dry ? earlyParam(ui) : undefined;
  return {
    ...DEFAULT_CONFIG,
    kernel: ui.kernel,
    softwareChecks: ui.sw,
    vmcs02: ui.vmcs02,
    ...(early ? { earlyCheck: early } : {}),
    ...(!dry ? { warnOnMissedCc: ui.warn } : {}),
    ...(ui.hv !== "auto" ? { hypervisor: ui.hv === "hv" } : {}),
    ...(ui.bug ? { bug: ui.bug } : {}),
  };
}

/** The host: the chosen CPU, else the document's (unless it is a hypervisor's profile), else sapphirerapids. */
function hostOf(ui: NestedUi, entry: Entry) {
  if (ui.host) return builtinProfile(ui.host);
  if (typeof entry.cpu === "string" && !entry.caps.hypervisor) return entry.caps;
  return builtinProfile("sapphirerapids");
}

const BUG_TEXT: Record<L0Bug, string> = {
  "late-host-cr4": "writes HOST_CR4 without CR4.VMXE into vmcs02 after the dry run",
  "skip-dr7-restore": "forgets to restore its DR7 after the dry run",
  "irq-before-dr7": "enables interrupts before restoring DR7 (v5.0's order)",
  "skip-irq-enable": "forgets to re-enable interrupts after the dry run",
};

interface Run {
  result: NestedResult;
  vmcs02?: Vmcs;
  dryRun?: Vmcs;
}

function Marker({ status }: { status: Stage["status"] }) {
  const sym = { pass: "✓", fail: "✗", skipped: "–", "not-reached": "·", info: "i" }[status];
  return (
    <span class={`marker marker-${status}`} aria-hidden="true">
      {sym}
    </span>
  );
}

const STATUS_WORD: Record<Stage["status"], string> = {
  pass: "pass",
  fail: "fail",
  skipped: "skipped",
  "not-reached": "not reached",
  info: "",
};

function TimelineView({ run, entry }: { run: Run; entry: Entry }) {
  const r = run.result;
  const t = useMemo(() => timeline(r, entry.vmcs, run.vmcs02, run.dryRun), [r, entry, run]);
  const parts = r.cost.parts;
  return (
    <>
      <section class="panel nested-summary" aria-labelledby="nested-told" data-detection={r.detection}>
        <h2 id="nested-told">
          L1 is told: <span class="told">{t.told}</span>
        </h2>
        <p class={`detection detection-${r.detection}`} id="nested-detection">
          {DETECTION_TEXT[r.detection]}
          {r.detection !== "entered" && r.detection !== "internal-error" && r.detectedBy !== "none"
            ? ` (by ${r.detectedBy === "hardware" ? "the real entry" : r.detectedBy === "software" ? "L0's software checks" : r.detectedBy})`
            : ""}
        </p>
        <p>
          The architecture (a CPU with L1's capabilities, <code>{r.config.l1}</code>):{" "}
          <strong>{describeOutcome(r.architectural.outcome)}</strong>
          {r.architectural.violations.length > 0 &&
            ` — ${r.architectural.violations.map((v) => `${v.id} (SDM ${v.sdm})`).join(", ")}`}
        </p>
        {(r.divergences ?? (r.divergence ? [r.divergence] : [])).map((d) => (
          <p key={d.id} class="divergence" data-divergence={d.id}>
            <strong>Kernel divergence</strong> <code>{d.id}</code>: {d.behaviour}{" "}
            <span class="source">
              ({d.kernel} {d.source.file}:{d.source.lines[0]}–{d.source.lines[1]})
            </span>
          </p>
        ))}
        {r.l0Bug && (
          <p class="l0bug">
            <strong>L0 bug:</strong> {r.l0Bug}
          </p>
        )}
        {r.possible?.map((p) => (
          <p key={p.condition} class="possible-note">
            <strong>Possible:</strong> {describePossible(p)}
          </p>
        ))}
        {r.tracepoint.length > 0 && (
          <pre class="tracepoint" title="Tracepoint lines the kernel prints">
            {r.tracepoint.join("\n")}
          </pre>
        )}
        <p class="cost">
          Modelled cost: <strong>{r.cost.cycles.toLocaleString("en")} cycles</strong> (
          {Object.entries(parts)
            .map(([k, v]) => `${COST_NAMES[k] ?? k} ${Math.round(v).toLocaleString("en")}`)
            .join(", ")}
          )
        </p>
      </section>

      <section class="panel" aria-labelledby="timeline-title">
        <h2 id="timeline-title">L1's VM entry, step by step</h2>
        <p class="hint">
          Time runs downward; each column is a lane. {r.config.parameter}; software checks:{" "}
          {r.config.softwareChecks}; host {r.config.host}
          {r.config.hypervisor ? " (L0 under a hypervisor)" : " (L0 on bare metal)"}.
        </p>
        <ol class="timeline">
          <li class="lane-heads" aria-hidden="true">
            <div class="tracks">
              {LANES.map((l) => (
                <span key={l.id} class={`lane-head lane-${l.id}`}>
                  {l.short}
                </span>
              ))}
            </div>
          </li>
          {t.stages.map((s, i) => (
            <li key={i} class={`stage stage-${s.status}`} data-lane={s.lane} data-status={s.status}>
              <div class="tracks" aria-hidden="true">
                {LANES.map((l) => (
                  <span key={l.id} class={`track lane-${l.id}`}>
                    {l.id === s.lane && <Marker status={s.status} />}
                  </span>
                ))}
              </div>
              <div class="stage-body">
                <p class="stage-title">
                  <span class={`lane-tag lane-${s.lane}`}>{LANES.find((l) => l.id === s.lane)!.name}</span>
                  {STATUS_WORD[s.status] && (
                    <span class={`status-word status-${s.status}`}>{STATUS_WORD[s.status]}</span>
                  )}
                  <span class="stage-text">{s.title}</span>
                  {s.cycles !== undefined && (
                    <span class="cycles">{s.cycles.toLocaleString("en")} cycles</span>
                  )}
                </p>
                {s.saw.length > 0 && (
                  <ul class="saw">
                    {s.saw.map((w, j) => (
                      <li key={j}>{w}</li>
                    ))}
                  </ul>
                )}
              </div>
            </li>
          ))}
        </ol>
      </section>

      {t.fields.length > 0 && (
        <section class="panel" aria-labelledby="seen-title">
          <h2 id="seen-title">What the processor saw of the fields vmcs12 gets wrong</h2>
          <p class="hint">
            The dry run and the real entry run on vmcs02, which L0 builds: a field L0 owns (its own host
            state, VPID, EPT pointer, link pointer) never reaches the processor as vmcs12 has it, so only a
            software check can find an error in it.
          </p>
          <div class="table-scroll">
            <table class="seen">
              <thead>
                <tr>
                  <th scope="col">Field</th>
                  <th scope="col">vmcs12 (L1 wrote)</th>
                  <th scope="col">vmcs02 at the dry run</th>
                  <th scope="col">vmcs02 at the real entry</th>
                </tr>
              </thead>
              <tbody>
                {t.fields.map((f) => (
                  <tr key={f.field} data-field={f.field}>
                    <th scope="row">
                      <code>{f.field}</code>
                    </th>
                    <td>
                      <code>{f.vmcs12}</code>
                    </td>
                    <td class={f.dryRun !== undefined && f.dryRun !== f.vmcs12 ? "differs" : undefined}>
                      <code>{f.dryRun ?? "no dry run"}</code>
                    </td>
                    <td class={f.vmcs02 !== undefined && f.vmcs02 !== f.vmcs12 ? "differs" : undefined}>
                      <code>{f.vmcs02 ?? "not prepared"}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </>
  );
}

const COST_NAMES: Record<string, string> = {
  base: "L0's emulation (assumed)",
  softwareChecks: "software checks",
  dryRun: "dry run",
  msrLoads: "MSR loads",
  entry: "real entry",
  unwind: "unwind",
};

export interface NestedViewProps {
  entry: Entry;
  ui: NestedUi;
  onUi: (ui: NestedUi) => void;
  /** load the bundled example "vmcs12 with a bad host-state field" into the editor */
  onExample: () => void;
  /** the nested outcome in a few words, for the page's status line (undefined: the run failed) */
  onOutcome?: (o: NestedOutcome | undefined) => void;
}

export interface NestedOutcome {
  detection: NestedResult["detection"];
  /** "L1: caught early", "L1: missed", ... */
  text: string;
}

const SHORT_DETECTION: Record<NestedResult["detection"], string> = {
  entered: "L2 entered",
  early: "caught early",
  late: "caught late",
  missed: "missed",
  "false-failure": "false failure",
  "internal-error": "KVM internal error",
};

export function NestedView({ entry, ui, onUi, onExample, onOutcome }: NestedViewProps) {
  const preset = kernelPreset(ui.kernel);
  const hasDryRun = preset.parameter.name === "nested_early_check";
  const set = (change: Partial<NestedUi>) => onUi({ ...ui, ...change });
  const host = hostOf(ui, entry);
  const cfg = configOf(ui);
  const run = useMemo((): Run | { error: string } => {
    try {
      const out: Run = { result: undefined as unknown as NestedResult };
      out.result = runNested({ vmcs12: entry, host }, cfg, {
        vmcs02: (b) => {
          out.vmcs02 = b.vmcs;
        },
        dryRun: (v) => {
          out.dryRun = v;
        },
      });
      return out;
    } catch (e) {
      return { error: e instanceof Error ? e.message : String(e) };
    }
  }, [entry, host, JSON.stringify(cfg)]);
  const [showCompare, setShowCompare] = useState(false);
  // tell the page only when the verdict changes (a new object on every render would re-render the page)
  const detection = "result" in run ? run.result.detection : undefined;
  useEffect(() => {
    onOutcome?.(detection && { detection, text: `nested: ${SHORT_DETECTION[detection]}` });
  }, [detection]);
  useEffect(() => () => onOutcome?.(undefined), []);

  return (
    <div class="nested">
      <section class="panel nested-config" aria-labelledby="nested-config-title">
        <h2 id="nested-config-title">Nested VM entry: L0 emulates L1's VMLAUNCH on this state as vmcs12</h2>
        <p class="hint">
          L0 is a Linux KVM release ({preset.name}); L1 is a guest hypervisor that wrote the VMCS in the
          editor (vmcs12). L0 checks it in software, builds vmcs02 from it, may try a dry run, loads MSRs and
          enters L2 for real.{" "}
          <button type="button" class="linkish" id="nested-example" onClick={onExample}>
            Try: vmcs12 with a bad host-state field
          </button>
        </p>
        <div class="config-grid">
          <label for="nested-kernel">Kernel</label>
          <select
            id="nested-kernel"
            value={ui.kernel}
            onChange={(e) => set({ kernel: e.currentTarget.value as KernelId })}
          >
            {KERNELS.map((k) => (
              <option key={k.id} value={k.id}>
                {k.id} ({k.tree.release}){k.parameter.name === "warn_on_missed_cc" ? ": no dry run" : ""}
              </option>
            ))}
          </select>

          {hasDryRun ? (
            <>
              <label for="nested-early">Dry run (early checks)</label>
              <select
                id="nested-early"
                value={ui.early}
                onChange={(e) => set({ early: e.currentTarget.value as NestedUi["early"] })}
              >
                <optgroup label="as merged: nested_early_check (bool, default N)">
                  <option value="N">nested_early_check=N</option>
                  <option value="Y">nested_early_check=Y</option>
                </optgroup>
                <optgroup label="as described in commit 52017608da's message (no released kernel)">
                  <option value="1">early_consistency_checks=1 (always)</option>
                  <option value="0">early_consistency_checks=0 (never)</option>
                  <option value="-1">early_consistency_checks=-1 (auto: bare metal only)</option>
                  <option value="-1s">-1 + skip when software is complete (proposal)</option>
                </optgroup>
              </select>
            </>
          ) : (
            <>
              <label for="nested-warn">warn_on_missed_cc</label>
              <select
                id="nested-warn"
                value={ui.warn ? "Y" : "N"}
                onChange={(e) => set({ warn: e.currentTarget.value === "Y" })}
              >
                <option value="N">N (default): no late vTPR check</option>
                <option value="Y">Y: late vTPR check</option>
              </select>
            </>
          )}

          <label for="nested-sw">Software checks</label>
          <select
            id="nested-sw"
            value={ui.sw}
            onChange={(e) => set({ sw: e.currentTarget.value as NestedUi["sw"] })}
          >
            <option value="kernel">kernel: {preset.name}'s own</option>
            <option value="full">full: every nvmx rule</option>
            <option value="none">none</option>
          </select>

          <label for="nested-hv">L0 runs</label>
          <select
            id="nested-hv"
            value={ui.hv}
            onChange={(e) => set({ hv: e.currentTarget.value as NestedUi["hv"] })}
          >
            <option value="auto">
              as the host profile says ({host.hypervisor ? "under a hypervisor" : "bare metal"})
            </option>
            <option value="bare">on bare metal</option>
            <option value="hv">under a hypervisor</option>
          </select>

          <label for="nested-host">Host CPU</label>
          <select id="nested-host" value={ui.host} onChange={(e) => set({ host: e.currentTarget.value })}>
            <option value="">the document's ({host.name})</option>
            {builtinNames().map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>

          <label for="nested-vmcs02">vmcs02 before this entry</label>
          <select
            id="nested-vmcs02"
            value={ui.vmcs02}
            onChange={(e) => set({ vmcs02: e.currentTarget.value as NestedUi["vmcs02"] })}
          >
            <option value="reused">reused (L1 ran this L2 before)</option>
            <option value="fresh">fresh (the vCPU's first nested entry)</option>
          </select>

          <label for="nested-bug">Injected L0 bug</label>
          <select
            id="nested-bug"
            value={ui.bug}
            onChange={(e) => set({ bug: e.currentTarget.value as NestedUi["bug"] })}
          >
            <option value="">none</option>
            {L0_BUGS.map((b) => (
              <option key={b} value={b}>
                {b}: L0 {BUG_TEXT[b]}
              </option>
            ))}
          </select>
        </div>
        {"result" in run && (
          <p class="hint">
            {describeParameter(cfg, preset)}; L1's view of VMX: <code>{run.result.config.l1}</code>.
          </p>
        )}
      </section>
      {"error" in run ? (
        <p class="panel status-error" role="alert">
          This configuration cannot run: {run.error}
        </p>
      ) : (
        <TimelineView run={run} entry={entry} />
      )}
      <section class="panel" aria-labelledby="compare-title">
        <h2 id="compare-title">Compare every configuration of {preset.id}</h2>
        {showCompare ? (
          <CompareSection kernel={ui.kernel} />
        ) : (
          <p>
            <code>nvmx nested --compare</code> as a chart: a corpus of vmcs12 states (valid ones, and one per
            rule broken alone) under every setting of the dry-run parameter × software checks × bare metal /
            hypervisor.{" "}
            <button type="button" id="compare-open" onClick={() => setShowCompare(true)}>
              Open the comparison
            </button>
          </p>
        )}
      </section>
    </div>
  );
}
