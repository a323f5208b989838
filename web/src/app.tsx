/**
 * The playground page: three views of one state — "Check" (outcome and failing checks on the left, the VMCS
 * on the right), "Nested entry" (L0 emulating L1's VMLAUNCH on it, nested-view.tsx) and "Generate & repair"
 * (generate-view.tsx) — under a compact status line that stays in view. All checking runs here in the
 * browser, on the same library as the `nvmx` command line; nothing is sent anywhere.
 */
import type { ComponentType } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { builtinNames, defaultProfile } from "../../src/cpu/builtin.js";
import type { Possible, Violation } from "../../src/entry/evaluate.js";
import { DEFAULT_PROCESSOR, type ProcessorState } from "../../src/entry/processor.js";
import { InputError } from "../../src/errors.js";
import { describeField, describePossible, describeResultOutcome } from "../../src/report.js";
import { DEFAULT_EXAMPLE, EXAMPLES } from "./examples.js";
import type { GenerateViewProps } from "./generate-view.js";
import { readInput } from "./input.js";
import {
  type Checked,
  checkDocument,
  documentText,
  type EntryDocument,
  normalise,
  withCpu,
  withField,
  withProcessor,
} from "./model.js";
import type { NestedOutcome, NestedUi, NestedViewProps } from "./nested-view.js";
import { decodeFragment, encodeFragment, LINK_BUDGET, linkTo } from "./share.js";
import { VmcsView } from "./vmcs-view.js";

type Outcome = Checked["result"]["outcome"];
interface Status {
  text: string;
  notes?: string[];
  kind: "info" | "error";
}

function exampleDoc(id: string): EntryDocument {
  const ex = EXAMPLES.find((e) => e.id === id) ?? EXAMPLES[0]!;
  return readInput(ex.text, ex.file).doc;
}

/** What the outcome means, in one sentence for a person learning VMX. */
function explain(o: Outcome): string {
  switch (o.type) {
    case "entered":
      return "Every check passes: the processor loads the guest state and runs the guest.";
    case "vmfail-valid":
      return `VMLAUNCH/VMRESUME fails like an instruction (RFLAGS.ZF = 1) and the VM-instruction error field holds ${o.error}. The guest never runs; the next instruction of the host executes.`;
    case "vmfail-invalid":
      return "VMLAUNCH/VMRESUME fails with RFLAGS.CF = 1: there is no current VMCS to hold an error number.";
    case "vmexit":
      return `VM entry got as far as loading guest state, then failed: the host sees a VM exit with exit reason ${o.reason} and bit 31 (VM-entry failure) set.`;
    case "fault":
      return "The instruction faults before VM entry begins; no VMCS check runs.";
  }
}

function outcomeKind(o: Outcome): "ok" | "exit" | "fail" | "fault" {
  return o.type === "entered" ? "ok" : o.type === "vmexit" ? "exit" : o.type === "fault" ? "fault" : "fail";
}

/** A loaded log's explanation, shown while the state is the one loaded (an edit makes it a plain check). */
interface Explained {
  doc: EntryDocument;
  result: Checked["result"];
  warnings: string[];
  /** the outcome in words, saying when it rests on nvmx's completion of fields the log lacks */
  outcomeText: string;
  /** how many fields VM entry reads the log lacks */
  unknown: number;
  agrees: boolean | null;
  agreement: string;
  assumptions: string[];
}

/** The outcome kind the page colours it by: never a plain (green) success while something could still fail. */
function kindOf(
  checked: Checked,
  explained: Explained | undefined,
): "ok" | "exit" | "fail" | "fault" | "possible" {
  const o = checked.result.outcome;
  const possible = checked.result.possible?.length ?? 0;
  return o.type === "entered" && (possible > 0 || (explained?.unknown ?? 0) > 0)
    ? "possible"
    : outcomeKind(o);
}

const ICONS = { ok: "✓", possible: "?", exit: "✗", fail: "✗", fault: "✗" } as const;

function Verdict({ explained }: { explained: Explained }) {
  const v = explained.agrees === true ? "agrees" : explained.agrees === false ? "disagrees" : "none";
  return (
    <div class={`verdict verdict-${v}`} id="verdict" data-agrees={v}>
      <p>
        <strong>
          {v === "agrees"
            ? "Agrees with the log"
            : v === "disagrees"
              ? "Disagrees with the log"
              : "Nothing to compare with"}
          :
        </strong>{" "}
        {explained.agreement.replace(/^(agrees|disagrees): /, "")}
      </p>
      {explained.assumptions.length > 0 && (
        <details class="assumptions" id="assumptions">
          <summary>What nvmx assumed to complete the log ({explained.assumptions.length})</summary>
          <ul>
            {explained.assumptions.map((a) => (
              <li key={a}>{a}</li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}

function OutcomeBanner({
  checked,
  doc,
  explained,
}: {
  checked: Checked | { error: string };
  doc: EntryDocument;
  /** the loaded log's explanation, while the state is the one loaded */
  explained: Explained | undefined;
}) {
  if ("error" in checked)
    return (
      <div class="outcome outcome-fail" id="outcome">
        <p class="outcome-text">The document cannot be checked: {checked.error}</p>
      </div>
    );
  const { result, entry } = checked;
  const o = result.outcome;
  const n = result.violations.length;
  const possible = result.possible?.length ?? 0;
  const warnings = explained?.warnings ?? [];
  const kind = kindOf(checked, explained);
  const instr = (doc.processor?.instruction ?? DEFAULT_PROCESSOR.instruction).toUpperCase();
  return (
    <div class={`outcome outcome-${kind}`} id="outcome" data-outcome={o.type}>
      <span class="outcome-icon" aria-hidden="true">
        {ICONS[kind]}
      </span>
      <div class="outcome-body">
        <p class="outcome-text">{explained?.outcomeText ?? describeResultOutcome(result)}</p>
        <p class="outcome-explain">
          {kind === "possible"
            ? possible > 0
              ? "No check fails on what is known; a possible finding below could still make the entry fail."
              : "No check fails with the values nvmx chose for what the log does not show; other values might fail."
            : explain(o)}
        </p>
        {explained && <Verdict explained={explained} />}
        <p class="outcome-meta">
          {instr} on CPU profile <strong>{entry.caps.name}</strong> ·{" "}
          {n === 0 ? "no check fails" : `${n} failing check${n === 1 ? "" : "s"}`}
          {possible > 0 && ` · ${possible} possible finding${possible === 1 ? "" : "s"}`}
        </p>
        {(warnings.length > 0 || (result.warnings?.length ?? 0) > 0) && (
          <ul class="outcome-warnings" aria-label="Warnings">
            {warnings.map((w) => (
              <li key={w}>warning: {w}</li>
            ))}
            {result.warnings?.map((w) => (
              <li key={w.id}>warning: {w.message}</li>
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}

/** The outcome in a few words, for the status line. */
function shortOutcome(checked: Checked | { error: string }, kind: string): string {
  if ("error" in checked) return "cannot be checked";
  const o = checked.result.outcome;
  switch (o.type) {
    case "entered":
      return kind === "possible" ? "VM entry succeeds on what is known" : "VM entry succeeds";
    case "vmfail-valid":
      return `VMfailValid, error ${o.error}`;
    case "vmfail-invalid":
      return "VMfailInvalid";
    case "vmexit":
      return `VM exit ${o.reason} (entry failure)`;
    case "fault":
      return "fault before VM entry";
  }
}

/**
 * The status line: sticky at the top of the viewport whatever the view and however far down the page an
 * edit is, so every re-check is seen. Screen readers hear it (aria-live); it links to the full outcome.
 */
function StatusBar({
  checked,
  explained,
  nested,
  onShow,
}: {
  checked: Checked | { error: string };
  explained: Explained | undefined;
  /** in the nested view: how L0's emulation ends for L1 */
  nested: NestedOutcome | undefined;
  onShow: () => void;
}) {
  const kind = "error" in checked ? "fail" : kindOf(checked, explained);
  const text = shortOutcome(checked, kind);
  // The status line wraps on a narrow screen: what scrolls under it (jumps, the sticky results column) keeps
  // clear of its real height.
  const bar = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = bar.current;
    if (!el || typeof ResizeObserver !== "function") return;
    const ro = new ResizeObserver(() =>
      document.documentElement.style.setProperty("--status-h", `${el.offsetHeight}px`),
    );
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const v = "error" in checked ? [] : checked.result.violations;
  const first = v[0]?.id;
  const verdict =
    explained?.agrees === true
      ? "agrees with the log"
      : explained?.agrees === false
        ? "disagrees with the log"
        : "";
  // restart the flash when the outcome text or the failing checks change
  const key = `${text}|${v.map((x) => x.id).join(",")}`;
  return (
    <div
      ref={bar}
      class={`statusbar status-${kind}`}
      id="status"
      data-outcome={"error" in checked ? "error" : checked.result.outcome.type}
    >
      <button type="button" class="status-main" onClick={onShow} title="Show the outcome">
        <span class="status-icon" aria-hidden="true">
          {ICONS[kind]}
        </span>
        <span class="status-text" key={key} role="status" aria-live="polite" aria-atomic="true">
          {text}
          {first && (
            <>
              {" "}
              · <code>{first}</code>
              {v.length > 1 ? ` +${v.length - 1}` : ""}
            </>
          )}
        </span>
      </button>
      {verdict && (
        <span class={`status-verdict verdict-${explained?.agrees ? "agrees" : "disagrees"}`}>{verdict}</span>
      )}
      {nested && (
        <span class={`status-nested detection-${nested.detection}`} id="status-nested">
          {nested.text}
        </span>
      )}
    </div>
  );
}

/** Findings nvmx cannot make definite (check order, fields a log does not show, CPU facts), apart. */
function PossibleList({ checked }: { checked: Checked | { error: string } }) {
  if ("error" in checked || !checked.result.possible?.length) return null;
  const p = checked.result.possible;
  return (
    <section class="panel possible" aria-labelledby="possible-title">
      <h2 id="possible-title">Possible findings ({p.length})</h2>
      <ol>
        {p.map((x: Possible, i) => (
          <li key={`${i}`} class="possible-finding" data-why={x.why}>
            <p class="message">{describePossible(x)}</p>
            {x.violations.length > 0 && (
              <ul class="possible-rules">
                {x.violations.map((v) => (
                  <li key={v.id}>
                    <code class="check-id">{v.id}</code> {v.message}
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}

function ViolationList({
  checked,
  onJump,
}: {
  checked: Checked | { error: string };
  onJump: (f: string) => void;
}) {
  if ("error" in checked) return null;
  const { result, entry } = checked;
  const v = result.violations;
  return (
    <section class="panel violations" aria-labelledby="violations-title">
      <h2 id="violations-title">Failing checks ({v.length})</h2>
      {v.length === 0 ? (
        <p class="none">No check fails. Flip a control bit or edit a field to see which rules it breaks.</p>
      ) : (
        <ol>
          {v.map((x: Violation, i) => (
            <li key={x.id} class="violation" data-check-id={x.id}>
              <div class="violation-head">
                <code class="check-id">{x.id}</code>
                <span class="sdm">SDM {x.sdm}</span>
                {i === 0 && <span class="decides">decides the outcome</span>}
              </div>
              <p class="message">{x.message}</p>
              {x.fields.length > 0 && (
                <ul class="violation-fields" aria-label="Fields this check reads">
                  {x.fields.map((f) => (
                    <li key={f}>
                      <button type="button" class="field-link" onClick={() => onJump(f)}>
                        {f}
                      </button>
                      <span class="field-value">{describeField(entry, f).replace(/^\S+ = /, " = ")}</span>
                    </li>
                  ))}
                </ul>
              )}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

function InputPanel({ onLoad, status }: { onLoad: (text: string, file: string) => void; status?: Status }) {
  const [example, setExample] = useState(DEFAULT_EXAMPLE);
  const [text, setText] = useState("");
  return (
    <section class="panel" aria-labelledby="input-title">
      <h2 id="input-title">Load a VMCS</h2>
      <div class="row">
        <label for="example">Example</label>
        <select id="example" value={example} onChange={(e) => setExample(e.currentTarget.value)}>
          {EXAMPLES.map((x) => (
            <option key={x.id} value={x.id}>
              {x.title}
            </option>
          ))}
        </select>
        <button
          type="button"
          id="load-example"
          onClick={() => {
            const ex = EXAMPLES.find((x) => x.id === example);
            if (ex) onLoad(ex.text, ex.file);
          }}
        >
          Load
        </button>
      </div>
      <label for="paste" class="block-label">
        Or paste an <code>nvmx-entry/1</code> document, a KVM <code>dump_vmcs</code>, a Xen or QEMU dump, or
        vmxcap output
      </label>
      <textarea
        id="paste"
        rows={5}
        spellcheck={false}
        placeholder='{"format": "nvmx-entry/1", "cpu": "icelake-server", "vmcs": {...}}'
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
      />
      <div class="row">
        <button type="button" id="load-paste" onClick={() => onLoad(text, "<pasted text>")}>
          Check pasted text
        </button>
        <label for="file" class="file-label">
          or open a file:
        </label>
        <input
          id="file"
          type="file"
          accept=".json,.ndjson,.txt,.log,application/json,text/plain"
          onChange={async (e) => {
            const file = e.currentTarget.files?.[0];
            if (file) onLoad(await file.text(), file.name);
            e.currentTarget.value = "";
          }}
        />
      </div>
      {status && (
        <p
          class={`status status-${status.kind}`}
          id="load-status"
          role={status.kind === "error" ? "alert" : undefined}
        >
          {status.text}
        </p>
      )}
      {status?.notes && status.notes.length > 0 && (
        <ul class="status-notes">
          {status.notes.map((n) => (
            <li key={n}>{n}</li>
          ))}
        </ul>
      )}
    </section>
  );
}

const FLAGS: readonly [keyof ProcessorState, string][] = [
  ["ia32e", "processor in IA-32e mode"],
  ["vmxRoot", "in VMX root operation"],
  ["currentVmcsValid", "current-VMCS pointer valid"],
  ["inSmm", "in SMM"],
  ["blockingByMovSs", "events blocked by MOV SS"],
  ["dualMonitorActive", "dual-monitor treatment of SMM active"],
];

function ProcessorPanel({
  doc,
  onChange,
}: {
  doc: EntryDocument;
  onChange: (p: Partial<ProcessorState>) => void;
}) {
  const p: ProcessorState = { ...DEFAULT_PROCESSOR, ...doc.processor };
  return (
    <section class="panel" aria-labelledby="processor-title">
      <h2 id="processor-title">Processor executing the instruction</h2>
      <div class="row">
        <label for="instruction">Instruction</label>
        <select
          id="instruction"
          value={p.instruction}
          onChange={(e) => onChange({ instruction: e.currentTarget.value as ProcessorState["instruction"] })}
        >
          <option value="vmlaunch">VMLAUNCH</option>
          <option value="vmresume">VMRESUME</option>
        </select>
        <label for="launch-state">VMCS launch state</label>
        <select
          id="launch-state"
          value={p.launchState}
          onChange={(e) => onChange({ launchState: e.currentTarget.value as ProcessorState["launchState"] })}
        >
          <option value="clear">clear</option>
          <option value="launched">launched</option>
        </select>
        <label for="cpl">CPL</label>
        <select
          id="cpl"
          value={String(p.cpl)}
          onChange={(e) => onChange({ cpl: Number(e.currentTarget.value) })}
        >
          {[0, 1, 2, 3].map((c) => (
            <option key={c} value={String(c)}>
              {c}
            </option>
          ))}
        </select>
      </div>
      <div class="flags">
        {FLAGS.map(([k, text]) => (
          <label key={k}>
            <input
              type="checkbox"
              checked={p[k] === true}
              onChange={(e) => onChange({ [k]: e.currentTarget.checked })}
            />{" "}
            {text}
          </label>
        ))}
      </div>
      {doc.memory && (
        <details class="memory">
          <summary>Memory given by the document ({Object.keys(doc.memory).length} ranges)</summary>
          <pre>{JSON.stringify(doc.memory, null, 1)}</pre>
        </details>
      )}
    </section>
  );
}

/** Copy text to the clipboard; falls back to a hidden textarea where the Clipboard API is unavailable. */
async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const t = document.createElement("textarea");
    t.value = text;
    document.body.append(t);
    t.select();
    document.execCommand("copy");
    t.remove();
  }
}

function download(doc: EntryDocument): void {
  const url = URL.createObjectURL(new Blob([documentText(doc)], { type: "application/json" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = "nvmx-entry.json";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Open the sections around a field, scroll to it, focus its input and flash it. */
function jumpTo(name: string): void {
  const row = document.getElementById(`row-${name}`);
  if (!row) return;
  for (let d = row.closest("details"); d; d = d.parentElement?.closest("details") ?? null) d.open = true;
  row.scrollIntoView({ block: "center", behavior: "smooth" });
  document.getElementById(`field-${name}`)?.focus({ preventScroll: true });
  row.classList.remove("flash");
  void row.offsetWidth; // restart the animation
  row.classList.add("flash");
}

type View = "check" | "nested" | "generate";
const VIEWS: readonly { id: View; title: string }[] = [
  { id: "check", title: "Check" },
  { id: "nested", title: "Nested entry" },
  { id: "generate", title: "Generate & repair" },
];

/** A view loaded on first use (the nested model and the generator are large; the checker is not). */
function useLazy<T>(load: () => Promise<T>, want: boolean): T | undefined {
  const [mod, setMod] = useState<T>();
  useEffect(() => {
    if (want && !mod) void load().then(setMod);
  }, [want]);
  return mod;
}

export function App() {
  const [doc, setDoc] = useState<EntryDocument>(() => exampleDoc(DEFAULT_EXAMPLE));
  // Bumped on every load, so inputs holding a half-typed value start afresh.
  const [generation, setGeneration] = useState(0);
  const [ready, setReady] = useState(false);
  const [status, setStatus] = useState<Status>();
  const [notice, setNotice] = useState("");
  const [filter, setFilter] = useState("");
  const [nonzeroOnly, setNonzeroOnly] = useState(false);
  const [explained, setExplained] = useState<Explained>();
  const [view, setView] = useState<View>("check");
  const [nestedParams, setNestedParams] = useState<Record<string, string>>({});
  const [nestedOutcome, setNestedOutcome] = useState<NestedOutcome>();
  const nestedMod = useLazy(() => import("./nested-view.js"), view === "nested");
  const generateMod = useLazy(() => import("./generate-view.js"), view === "generate");
  const plain = useMemo(() => checkDocument(doc), [doc]);
  const checked = useMemo(
    () =>
      explained?.doc === doc && !("error" in plain)
        ? { entry: plain.entry, result: explained.result }
        : plain,
    [plain, explained, doc],
  );
  const caps = "error" in checked ? defaultProfile() : checked.entry.caps;
  const failing = useMemo(() => {
    const m = new Map<string, Violation[]>();
    if (!("error" in checked))
      for (const v of checked.result.violations) for (const f of v.fields) m.set(f, [...(m.get(f) ?? []), v]);
    return m;
  }, [checked]);
  const current = explained?.doc === doc ? explained : undefined;

  const load = (
    next: EntryDocument,
    text: string,
    notes: string[] = [],
    explanation?: Omit<Explained, "doc">,
  ) => {
    setExplained(explanation && { doc: next, ...explanation });
    setDoc(next);
    setGeneration((g) => g + 1);
    setStatus({ text, notes, kind: "info" });
  };
  const loadText = (text: string, file: string) => {
    try {
      const r = readInput(text, file, doc);
      load(
        r.doc,
        `Loaded ${file === "<pasted text>" ? "the pasted text" : file}: ${r.format}`,
        r.notes,
        r.explained,
      );
      // The load controls sit below the outcome: bring the outcome (and the verdict on a log) into view.
      requestAnimationFrame(() => document.getElementById("outcome")?.scrollIntoView({ block: "start" }));
    } catch (e) {
      setStatus({ text: e instanceof InputError ? e.describe() : String(e), kind: "error" });
    }
  };
  const loadFragment = async () => {
    try {
      const f = await decodeFragment(location.hash);
      if (f.state !== undefined) load(normalise(f.state), "Loaded the state from the link");
      const v = f.params.view;
      if (v === "nested" || v === "generate" || v === "check") setView(v);
      setNestedParams(f.params);
    } catch (e) {
      setStatus({
        text: `The link's state cannot be read: ${e instanceof InputError ? e.describe() : String(e)}`,
        kind: "error",
      });
    }
  };

  // On start, and when someone pastes another playground link into this tab: restore the state it carries.
  useEffect(() => {
    loadFragment().finally(() => setReady(true));
    const onHash = () => void loadFragment();
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);

  // The view's parameters in the link: which view, and the nested configuration (only what differs).
  const viewParams = useMemo((): Record<string, string> => {
    if (view === "check") return {};
    if (view === "generate") return { view };
    const { view: _v, ...rest } = nestedParams;
    return { view, ...rest };
  }, [view, nestedParams]);

  // Keep the URL in step with the state (replaceState fires no hashchange), newest edit wins.
  const latest = useRef(0);
  useEffect(() => {
    if (!ready) return;
    const n = ++latest.current;
    void encodeFragment(doc, viewParams).then((f) => {
      if (n === latest.current) history.replaceState(null, "", `#${f}`);
    });
  }, [doc, ready, viewParams]);

  const say = (text: string) => {
    setNotice("");
    setTimeout(() => setNotice(text), 10);
  };
  const copy = (text: string, done: string) => void copyText(text).then(() => say(done));
  const cpuName = typeof doc.cpu === "string" ? doc.cpu : "";
  const showOutcome = () => {
    setView("check");
    setTimeout(() => {
      const o = document.getElementById("outcome");
      o?.scrollIntoView({ block: "nearest" });
      document.querySelector<HTMLElement>(".results")?.scrollTo({ top: 0 });
      scrollTo({ top: 0 });
    }, 0);
  };
  const loadExample = (id: string) => {
    const ex = EXAMPLES.find((x) => x.id === id);
    if (ex) loadText(ex.text, ex.file);
  };

  const NestedView = nestedMod?.NestedView as ComponentType<NestedViewProps> | undefined;
  const GenerateView = generateMod?.GenerateView as ComponentType<GenerateViewProps> | undefined;

  return (
    <div class="page" data-ready={ready ? "true" : undefined} data-view={view}>
      <a class="skip" href="#main">
        Skip to the content
      </a>
      <header class="top">
        <div class="title">
          <h1>nvmx playground</h1>
          <p>
            Does this VMCS pass Intel VMX VM entry? Every check of the SDM, run in your browser: nothing
            leaves this machine.
          </p>
        </div>
        <div class="toolbar">
          <label for="cpu">CPU profile</label>
          <select
            id="cpu"
            value={cpuName || "(inline)"}
            title={caps.description}
            onChange={(e) => setDoc(withCpu(doc, e.currentTarget.value))}
          >
            {!cpuName && <option value="(inline)">inline profile from the input</option>}
            {builtinNames().map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
          <button type="button" id="download" onClick={() => download(doc)}>
            Download JSON
          </button>
          <button
            type="button"
            id="copy-json"
            onClick={() => copy(documentText(doc), "Copied the nvmx-entry/1 JSON")}
          >
            Copy JSON
          </button>
          <button
            type="button"
            id="copy-link"
            onClick={async () => {
              const url = linkTo(await encodeFragment(doc, viewParams));
              if (url.length > LINK_BUDGET)
                say(
                  `This state needs a ${url.length.toLocaleString("en")}-character link, over the ${LINK_BUDGET.toLocaleString("en")} a link may have: use Download JSON`,
                );
              else copy(url, "Copied a link that carries this state");
            }}
          >
            Copy link
          </button>
          <span class="notice" role="status" aria-live="polite">
            {notice}
          </span>
        </div>
        <nav class="tabs" aria-label="Views">
          {VIEWS.map((v) => (
            <button
              type="button"
              key={v.id}
              id={`tab-${v.id}`}
              class="tab"
              aria-current={view === v.id ? "page" : undefined}
              onClick={() => setView(v.id)}
            >
              {v.title}
            </button>
          ))}
        </nav>
      </header>
      <StatusBar
        checked={checked}
        explained={current}
        nested={view === "nested" ? nestedOutcome : undefined}
        onShow={showOutcome}
      />
      <div id="main" tabIndex={-1}>
        {view === "check" && (
          <div class="columns">
            <aside class="results" aria-label="Result of VM entry">
              <OutcomeBanner checked={checked} doc={doc} explained={current} />
              <ViolationList checked={checked} onJump={jumpTo} />
              <PossibleList checked={checked} />
              <InputPanel onLoad={loadText} {...(status ? { status } : {})} />
              <ProcessorPanel doc={doc} onChange={(p) => setDoc(withProcessor(doc, p, DEFAULT_PROCESSOR))} />
            </aside>
            <main class="vmcs" id="vmcs" tabIndex={-1} aria-label="The VMCS">
              <div class="vmcs-tools">
                <label for="filter">Find field</label>
                <input
                  id="filter"
                  type="search"
                  placeholder="e.g. CR4, AR_BYTES, EPT"
                  value={filter}
                  onInput={(e) => setFilter(e.currentTarget.value.trim().toLowerCase())}
                />
                <label>
                  <input
                    type="checkbox"
                    checked={nonzeroOnly}
                    onChange={(e) => setNonzeroOnly(e.currentTarget.checked)}
                  />{" "}
                  only nonzero fields
                </label>
                <span class="hint">Values are hex. Fields read by a failing check are marked ✗.</span>
              </div>
              <VmcsView
                key={generation}
                doc={doc}
                caps={caps}
                failing={failing}
                filter={filter}
                nonzeroOnly={nonzeroOnly}
                onField={(name, v) => setDoc((d) => withField(d, name, v))}
              />
            </main>
          </div>
        )}
        {view === "nested" && (
          <main class="single" aria-label="Nested VM entry">
            {"error" in checked ? (
              <p class="panel status-error">The document cannot be checked: {checked.error}</p>
            ) : NestedView && nestedMod ? (
              <NestedView
                entry={checked.entry}
                ui={nestedMod.uiFromParams(nestedParams)}
                onUi={(ui: NestedUi) => setNestedParams(nestedMod.uiParams(ui))}
                onExample={() => loadExample("vmcs12-bad-host-tr")}
                onOutcome={setNestedOutcome}
              />
            ) : (
              <p class="panel">Loading the nested model…</p>
            )}
          </main>
        )}
        {view === "generate" && (
          <main class="single" aria-label="Generate and repair">
            {GenerateView ? (
              <GenerateView
                doc={doc}
                caps={caps}
                copy={copy}
                download={download}
                onLoad={(next, what) => {
                  load(
                    normalise(next),
                    `Loaded the ${what === "valid" ? "generated" : what === "violate" ? "rule-breaking" : "repaired"} state`,
                  );
                  setView("check");
                  scrollTo({ top: 0 });
                }}
              />
            ) : (
              <p class="panel">Loading the generator…</p>
            )}
          </main>
        )}
      </div>
    </div>
  );
}
