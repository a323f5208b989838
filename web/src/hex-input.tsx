/**
 * A hex input for one VMCS field. What the person types stays as typed while it is being edited; every
 * valid value is applied at once (live re-check), an invalid one is shown inline and not applied.
 * Escape puts back the current value.
 */
import { useState } from "preact/hooks";
import type { FieldDef } from "../../src/arch/fields.js";
import { hexText, parseHexInput } from "./model.js";

export interface HexInputProps {
  id: string;
  field: FieldDef;
  value: bigint;
  onValue: (v: bigint) => void;
  /** Accessible name when no <label for> names the input (table cells). */
  label?: string;
  invalid?: boolean;
}

/** Hex digits of the widest value a field holds (16 for natural-width fields). */
function hexDigits(f: FieldDef): number {
  return f.width === "natural" ? 16 : f.width / 4;
}

export function HexInput({ id, field, value, onValue, label, invalid }: HexInputProps) {
  const [draft, setDraft] = useState<string | null>(null);
  const parsed = draft === null ? undefined : parseHexInput(draft, field);
  const error = parsed && "error" in parsed ? parsed.error : undefined;
  const errorId = `${id}-error`;
  return (
    <span class="hex-input">
      <input
        id={id}
        class={`hex${invalid ? " failing" : ""}`}
        style={`--digits:${hexDigits(field)}`}
        type="text"
        inputMode="text"
        spellcheck={false}
        autocomplete="off"
        value={draft ?? hexText(value)}
        aria-label={label}
        aria-invalid={error ? "true" : undefined}
        aria-describedby={error ? errorId : undefined}
        onInput={(e) => {
          const text = e.currentTarget.value;
          setDraft(text);
          const p = parseHexInput(text, field);
          if ("value" in p && p.value !== value) onValue(p.value);
        }}
        onBlur={() => {
          if (draft !== null && !error) setDraft(null);
        }}
        onKeyDown={(e) => {
          if (e.key === "Escape") setDraft(null);
        }}
      />
      {error && (
        <span id={errorId} class="input-error" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}
