/**
 * The allowed-settings checks of the four primary control words (SDM 29.2.1.1–29.2.1.3 with Appendix A.3–A.5):
 * a bit whose allowed 0-setting is 1 (bits 31:0 of the capability MSR) must be 1, and a bit whose allowed
 * 1-setting is 0 (bits 63:32) must be 0. The profile has already chosen the TRUE_ MSR per IA32_VMX_BASIC[55].
 * One factory, so the eight checks share one wording and one implementation.
 */
import { type ControlWord, controlBitNames } from "../arch/controls.js";
import { hex } from "../util/u64.js";
import { Code, pred } from "./pred.js";
import type { Check, Ctx } from "./types.js";
import { bitList } from "./util.js";

type PrimaryWord = "pin" | "proc" | "exit" | "entry";

interface WordInfo {
  field: string;
  msr: string;
  title: string;
  /** predicate source (src/checks/pred.ts): the control word as it takes effect (primary words never read as 0) */
  value: Code;
  /** predicate source: the allowed 0-settings (bits that must be 1) and allowed 1-settings of the profile */
  must1: Code;
  may1: Code;
}

/** Field, capability MSR and title of each primary control word; the predicate source follows from the key. */
const WORD_NAMES: Readonly<Record<PrimaryWord, readonly [field: string, msr: string, title: string]>> = {
  pin: ["PIN_BASED_VM_EXEC_CONTROL", "PINBASED_CTLS", "Pin-based controls"],
  proc: ["CPU_BASED_VM_EXEC_CONTROL", "PROCBASED_CTLS", "Primary processor-based controls"],
  exit: ["VM_EXIT_CONTROLS", "EXIT_CTLS", "Primary VM-exit controls"],
  entry: ["VM_ENTRY_CONTROLS", "ENTRY_CTLS", "VM-entry controls"],
};

const WORDS = Object.fromEntries(
  Object.entries(WORD_NAMES).map(([word, [field, msr, title]]) => [
    word,
    {
      field,
      msr,
      title,
      value: new Code(`c.${word}`),
      must1: new Code(`c.caps.ctl.${word}.must1`),
      may1: new Code(`c.caps.ctl.${word}.may1`),
    },
  ]),
) as Record<PrimaryWord, WordInfo>;

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
  /** extra applicability (e.g. not on an SMM return), applied to both checks */
  when?: (c: Ctx) => boolean;
  group?: Check["group"];
}

export function allowedSettingsChecks(s: AllowedSpec): Check[] {
  const w = WORDS[s.word];
  const word = s.word;
  const value = (c: Ctx) => c[word];
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
      fail: pred`(${w.must1} & ~${w.value}) !== 0`,
      message: (c) => {
        const m = (c.caps.ctl[word].must1 & ~value(c)) >>> 0;
        return `${w.field}=${hex(value(c))} clears ${bitList(m)}${controlNames(word, m)}, which this CPU requires to be 1 (${msrName(c)} bits 31:0 = ${hex(c.caps.ctl[word].must1)}); set them`;
      },
    },
    {
      ...common,
      id: s.ids[1],
      rule: `${w.title}: every bit whose allowed 1-setting is 0 in IA32_VMX_(TRUE_)${w.msr} must be 0`,
      fail: pred`(${w.value} & ~${w.may1}) !== 0`,
      message: (c) => {
        const m = (value(c) & ~c.caps.ctl[word].may1) >>> 0;
        return `${w.field}=${hex(value(c))} sets ${bitList(m)}${controlNames(word, m)}, which this CPU does not allow to be 1 (${msrName(c)} bits 63:32 = ${hex(c.caps.ctl[word].may1)}); clear them`;
      },
    },
  ];
}
