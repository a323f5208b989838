/**
 * The allowed-settings checks of the four primary control words (SDM 29.2.1.1–29.2.1.3 with Appendix A.3–A.5):
 * a bit whose allowed 0-setting is 1 (bits 31:0 of the capability MSR) must be 1, and a bit whose allowed
 * 1-setting is 0 (bits 63:32) must be 0. The profile has already chosen the TRUE_ MSR per IA32_VMX_BASIC[55].
 * One factory, so the eight checks share one wording and one implementation.
 */
import { type ControlWord, controlBitNames } from "../arch/controls.js";
import { hex } from "../util/u64.js";
import type { Check, Ctx } from "./types.js";
import { bitList } from "./util.js";

type PrimaryWord = "pin" | "proc" | "exit" | "entry";

const WORDS: Readonly<Record<PrimaryWord, { field: string; msr: string; title: string }>> = {
  pin: { field: "PIN_BASED_VM_EXEC_CONTROL", msr: "PINBASED_CTLS", title: "Pin-based controls" },
  proc: {
    field: "CPU_BASED_VM_EXEC_CONTROL",
    msr: "PROCBASED_CTLS",
    title: "Primary processor-based controls",
  },
  exit: { field: "VM_EXIT_CONTROLS", msr: "EXIT_CTLS", title: "Primary VM-exit controls" },
  entry: { field: "VM_ENTRY_CONTROLS", msr: "ENTRY_CTLS", title: "VM-entry controls" },
};

/** ` ("name", "name")` for the set bits of a control word, for messages. */
export function controlNames(word: ControlWord, mask: number): string {
  const n = controlBitNames(word, mask);
  return n.length ? ` (${n.map((s) => `"${s}"`).join(", ")})` : "";
}

export interface AllowedSpec {
  word: PrimaryWord;
  ids: readonly [allowed0: string, allowed1: string];
  sdm: string;
  checklist: readonly string[];
  /** the control word as it takes effect (e.g. `(c) => c.pin`) */
  value: (c: Ctx) => number;
  /** extra applicability (e.g. not on an SMM return), applied to both checks */
  when?: (c: Ctx) => boolean;
  group?: Check["group"];
}

export function allowedSettingsChecks(s: AllowedSpec): Check[] {
  const w = WORDS[s.word];
  const word = s.word;
  const value = s.value;
  const msrName = (c: Ctx) => `IA32_VMX_${c.caps.trueCtls ? "TRUE_" : ""}${w.msr}`;
  const common = {
    sdm: s.sdm,
    cls: "control" as const,
    fields: [w.field],
    checklist: s.checklist,
    ...(s.when ? { when: s.when } : {}),
    ...(s.group ? { group: s.group } : {}),
  };
  return [
    {
      ...common,
      id: s.ids[0],
      rule: `${w.title}: every bit whose allowed 0-setting is 1 in IA32_VMX_(TRUE_)${w.msr} must be 1`,
      fail: (c) => (c.caps.ctl[word].must1 & ~value(c)) !== 0,
      message: (c) => {
        const m = (c.caps.ctl[word].must1 & ~value(c)) >>> 0;
        return `${w.field}=${hex(value(c))} clears ${bitList(m)}${controlNames(word, m)}, which this CPU requires to be 1 (${msrName(c)} bits 31:0 = ${hex(c.caps.ctl[word].must1)}); set them`;
      },
    },
    {
      ...common,
      id: s.ids[1],
      rule: `${w.title}: every bit whose allowed 1-setting is 0 in IA32_VMX_(TRUE_)${w.msr} must be 0`,
      fail: (c) => (value(c) & ~c.caps.ctl[word].may1) !== 0,
      message: (c) => {
        const m = (value(c) & ~c.caps.ctl[word].may1) >>> 0;
        return `${w.field}=${hex(value(c))} sets ${bitList(m)}${controlNames(word, m)}, which this CPU does not allow to be 1 (${msrName(c)} bits 63:32 = ${hex(c.caps.ctl[word].may1)}); clear them`;
      },
    },
  ];
}
