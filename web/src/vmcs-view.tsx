/**
 * The VMCS editor: the areas of src/layout.ts, each field as a hex input with its decoded value, control
 * words with their named bits as checkboxes, the guest segment registers as a table. Fields read by a
 * failing check are marked; `row-NAME` / `field-NAME` ids let the violation list jump to them.
 */

import { useEffect, useState } from "preact/hooks";
import { CONTROL_BITS, type ControlWord } from "../../src/arch/controls.js";
import type { Caps } from "../../src/cpu/profile.js";
import type { Violation } from "../../src/entry/evaluate.js";
import { decodeField } from "./decode.js";
import { HexInput } from "./hex-input.js";
import { AREAS, type Area, CONTROL_WORD_OF, type FieldGroup, GUEST_SEGMENTS } from "./layout.js";
import { type EntryDocument, field, fieldValue, hexText, widthText } from "./model.js";

export interface VmcsViewProps {
  doc: EntryDocument;
  caps: Caps;
  /** Failing checks by the fields they read. */
  failing: ReadonlyMap<string, readonly Violation[]>;
  onField: (name: string, value: bigint) => void;
  /** Lower-case text a field's name or description must contain; "" for all. */
  filter: string;
  nonzeroOnly: boolean;
}

type RowProps = Omit<VmcsViewProps, "filter" | "nonzeroOnly"> & { name: string };

function FailingNote({ name, failing }: { name: string; failing: RowProps["failing"] }) {
  const v = failing.get(name);
  if (!v) return null;
  return (
    <span class="failing-note">
      <span aria-hidden="true">✗ </span>read by failing {v.length === 1 ? "check" : "checks"}{" "}
      {v.map((x) => x.id).join(", ")}
    </span>
  );
}

/** A long field name with line-break opportunities after its underscores. */
function breakable(name: string) {
  return name.split("_").map((part, i, all) => (
    <span key={part + String(i)}>
      {part}
      {i < all.length - 1 && (
        <>
          _<wbr />
        </>
      )}
    </span>
  ));
}

/** The SDM's name for a field, unless it only repeats the KVM name ("guest CR0" for GUEST_CR0). */
function proseAddsInformation(name: string, prose: string): boolean {
  const squash = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");
  return squash(name) !== squash(prose);
}

function FieldRow({ name, doc, failing, onField }: RowProps) {
  const f = field(name);
  const value = fieldValue(doc, name);
  const decoded = decodeField(name, value);
  return (
    <div class={`field${failing.has(name) ? " is-failing" : ""}`} id={`row-${name}`}>
      <label
        for={`field-${name}`}
        title={`${f.aliases[0]}: ${widthText(f)}, encoding 0x${f.encoding.toString(16)}`}
      >
        <code>{breakable(name)}</code>
        {proseAddsInformation(name, f.aliases[0]!) && <span class="prose">{f.aliases[0]}</span>}
      </label>
      <HexInput
        id={`field-${name}`}
        field={f}
        value={value}
        invalid={failing.has(name)}
        onValue={(v) => onField(name, v)}
      />
      {decoded && <span class="decoded">{decoded}</span>}
      <FailingNote name={name} failing={failing} />
    </div>
  );
}

/** One control word: its hex value and a checkbox per named bit, with what the CPU allows for it. */
function ControlWordEditor({ name, word, doc, caps, failing, onField }: RowProps & { word: ControlWord }) {
  const f = field(name);
  const value = fieldValue(doc, name);
  const allowed = caps.ctl[word];
  let named = 0n;
  for (const b of CONTROL_BITS[word]) named |= 1n << BigInt(b.bit);
  const other = value & ~named;
  // Bits without a name are reserved; a CPU requires some of them to be 1 (its "default1" bits, SDM A.2).
  const halves = (lo: number, hi: number) => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  const reservedMust1 = halves(allowed.must1, allowed.must1Hi) & ~named;
  const reservedMay1 = halves(allowed.may1, allowed.may1Hi) & ~named;
  const reservedOk = (other & ~reservedMay1) === 0n && (reservedMust1 & ~other) === 0n;
  return (
    <fieldset class={`control-word${failing.has(name) ? " is-failing" : ""}`} id={`row-${name}`}>
      <legend>
        <code>{name}</code> <span class="prose">{f.aliases[0]}</span>
      </legend>
      <div class="control-value">
        <label for={`field-${name}`}>Value</label>
        <HexInput
          id={`field-${name}`}
          field={f}
          value={value}
          invalid={failing.has(name)}
          onValue={(v) => onField(name, v)}
        />
        <FailingNote name={name} failing={failing} />
      </div>
      <div class="bits">
        {CONTROL_BITS[word].map((b) => {
          const on = ((value >> BigInt(b.bit)) & 1n) === 1n;
          const must1 = ((allowed.must1 >>> b.bit) & 1) === 1;
          const may1 = ((allowed.may1 >>> b.bit) & 1) === 1;
          const conflict = on ? !may1 : must1;
          const cap = must1 ? "CPU requires 1" : may1 ? "" : "CPU: not supported";
          return (
            <label key={b.bit} class={`bit${conflict ? " conflict" : ""}${may1 ? "" : " unsupported"}`}>
              <input
                type="checkbox"
                id={`bit-${name}-${b.bit}`}
                checked={on}
                onChange={() => onField(name, value ^ (1n << BigInt(b.bit)))}
              />
              <span class="bit-no">{b.bit}</span>
              <span class="bit-name">
                {b.name}
                {cap && <span class="cap"> · {cap}</span>}
              </span>
            </label>
          );
        })}
      </div>
      {(other !== 0n || reservedMust1 !== 0n) && (
        <p class={`other-bits${reservedOk ? "" : " conflict"}`}>
          Reserved bits set: {hexText(other)}
          {reservedMust1 !== 0n && <> · the CPU requires {hexText(reservedMust1)} (its default1 bits)</>}
        </p>
      )}
    </fieldset>
  );
}

const SEG_COLUMNS = [
  ["SELECTOR", "Selector"],
  ["BASE", "Base"],
  ["LIMIT", "Limit"],
  ["AR_BYTES", "Access rights"],
] as const;

function segField(seg: string, col: string): string | undefined {
  if (seg === "GDTR" || seg === "IDTR")
    return col === "BASE" || col === "LIMIT" ? `GUEST_${seg}_${col}` : undefined;
  return `GUEST_${seg}_${col}`;
}

function SegmentTable({
  doc,
  failing,
  onField,
  visible,
}: Omit<RowProps, "name"> & { visible: (n: string) => boolean }) {
  const rows = GUEST_SEGMENTS.filter((s) =>
    SEG_COLUMNS.some(([c]) => {
      const n = segField(s, c);
      return n !== undefined && visible(n);
    }),
  );
  if (rows.length === 0) return null;
  return (
    <table class="segments">
      <thead>
        <tr>
          <th scope="col">Register</th>
          {SEG_COLUMNS.map(([c, title]) => (
            <th key={c} scope="col" class={`col-${c}`}>
              {title}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((s) => (
          <tr key={s}>
            <th scope="row">{s}</th>
            {SEG_COLUMNS.map(([c, title]) => {
              const name = segField(s, c);
              if (!name) return <td key={c} class={`col-${c} empty`} />;
              const f = field(name);
              const value = fieldValue(doc, name);
              const decoded = c === "AR_BYTES" ? decodeField(name, value) : undefined;
              return (
                <td
                  key={c}
                  id={`row-${name}`}
                  class={`col-${c}${failing.has(name) ? " is-failing" : ""}`}
                  data-col={title}
                >
                  <HexInput
                    id={`field-${name}`}
                    field={f}
                    value={value}
                    label={name}
                    invalid={failing.has(name)}
                    onValue={(v) => onField(name, v)}
                  />
                  {decoded && <span class="decoded">{decoded}</span>}
                  {failing.has(name) && (
                    <span
                      class="failing-note"
                      title={failing
                        .get(name)!
                        .map((x) => x.id)
                        .join(", ")}
                    >
                      ✗{" "}
                      {failing
                        .get(name)!
                        .map((x) => x.id)
                        .join(", ")}
                    </span>
                  )}
                </td>
              );
            })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Group({
  group,
  props,
  visible,
}: {
  group: FieldGroup;
  props: VmcsViewProps;
  visible: (n: string) => boolean;
}) {
  const names = group.fields.filter(visible);
  if (names.length === 0) return null;
  const rowProps = { doc: props.doc, caps: props.caps, failing: props.failing, onField: props.onField };
  return (
    <section class="group">
      <h3>
        {group.title}
        {group.sdm && <span class="sdm">SDM {group.sdm}</span>}
      </h3>
      {group.kind === "segments" ? (
        <SegmentTable {...rowProps} visible={visible} />
      ) : (
        <div class="fields">
          {names.map((n) => {
            const word = CONTROL_WORD_OF[n];
            return word ? (
              <ControlWordEditor key={n} name={n} word={word} {...rowProps} />
            ) : (
              <FieldRow key={n} name={n} {...rowProps} />
            );
          })}
        </div>
      )}
    </section>
  );
}

/** A phone-sized viewport. */
const NARROW = "(max-width: 700px)";

function AreaView({
  area,
  props,
  visible,
}: {
  area: Area;
  props: VmcsViewProps;
  visible: (n: string) => boolean;
}) {
  const failingHere = area.groups.flatMap((g) => g.fields).filter((n) => props.failing.has(n)).length;
  // On a phone the areas without a failing field start closed (the whole VMCS is some 10,000 px tall there);
  // searching or filtering opens them all.
  const [open, setOpen] = useState(() => failingHere > 0 || !matchMedia(NARROW).matches);
  useEffect(() => {
    if (props.filter !== "" || props.nonzeroOnly) setOpen(true);
  }, [props.filter, props.nonzeroOnly]);
  const groups = area.groups.map((g) => <Group key={g.title} group={g} props={props} visible={visible} />);
  return (
    <details
      class="area"
      id={`area-${area.id}`}
      open={open}
      onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}
    >
      <summary>
        <h2>
          {area.title} <span class="sdm">SDM {area.sdm}</span>
          {failingHere > 0 && (
            <span class="area-badge">
              {failingHere} failing field{failingHere === 1 ? "" : "s"}
            </span>
          )}
        </h2>
        <p class="about">{area.about}</p>
      </summary>
      {groups}
    </details>
  );
}

export function VmcsView(props: VmcsViewProps) {
  const { filter, nonzeroOnly, doc, failing } = props;
  const visible = (name: string): boolean => {
    if (failing.has(name)) return true;
    if (nonzeroOnly && fieldValue(doc, name) === 0n) return false;
    if (filter === "") return true;
    return name.toLowerCase().includes(filter) || field(name).aliases[0]!.toLowerCase().includes(filter);
  };
  return (
    <>
      {AREAS.map((a) => (
        <AreaView key={a.id} area={a} props={props} visible={visible} />
      ))}
    </>
  );
}
