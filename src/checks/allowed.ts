/**
 * The allowed-settings checks of the four primary control words (SDM 29.2.1.1–29.2.1.3 with Appendix A.3–A.5):
 * a bit whose allowed 0-setting is 1 (bits 31:0 of the capability MSR) must be 1, and a bit whose allowed
 * 1-setting is 0 (bits 63:32) must be 0. The profile has already chosen the TRUE_ MSR per IA32_VMX_BASIC[55].
 * One factory, so the eight checks share one wording and one implementation.
 */
import { hex } from "../util/u64.js";
import type { section } from "./rule.js";
import type { State } from "./state.js";
import { bitList, controlNames } from "./util.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves this module's predicates here (compile.ts).
const scope = (name: string): unknown => eval(name);

type PrimaryWord = "pin" | "proc" | "exit" | "entry";

/** Field, capability MSR and title of each primary control word. */
const WORDS = {
  pin: { field: "PIN_BASED_VM_EXEC_CONTROL", msr: "PINBASED_CTLS", title: "Pin-based controls" },
  proc: {
    field: "CPU_BASED_VM_EXEC_CONTROL",
    msr: "PROCBASED_CTLS",
    title: "Primary processor-based controls",
  },
  exit: { field: "VM_EXIT_CONTROLS", msr: "EXIT_CTLS", title: "Primary VM-exit controls" },
  entry: { field: "VM_ENTRY_CONTROLS", msr: "ENTRY_CTLS", title: "VM-entry controls" },
} as const;

export interface AllowedSpec {
  word: PrimaryWord;
  ids: readonly [allowed0: string, allowed1: string];
  checklist: readonly string[];
}

/** The two allowed-settings checks of a primary control word, written with the section's `rule`. */
export function allowedSettingsChecks(rule: ReturnType<typeof section>["rule"], a: AllowedSpec) {
  const w = WORDS[a.word];
  const msrName = (s: State) => `IA32_VMX_${s.caps.trueCtls ? "TRUE_" : ""}${w.msr}`;
  const common = {
    checklist: a.checklist,
    p: { word: a.word },
    scope,
  };
  return [
    rule({
      ...common,
      id: a.ids[0],
      rule: `${w.title}: every bit whose allowed 0-setting is 1 in IA32_VMX_(TRUE_)${w.msr} must be 1`,
      fail: (s, p) => s.caps.ctl[p.word].must1 & ~s[p.word],
      message: (s, m) =>
        `${w.field}=${hex(s[a.word])} clears ${bitList(m)}${controlNames(a.word, m)}, which this CPU requires to be 1 (${msrName(s)} bits 31:0 = ${hex(s.caps.ctl[a.word].must1)}); set them`,
    }),
    rule({
      ...common,
      id: a.ids[1],
      rule: `${w.title}: every bit whose allowed 1-setting is 0 in IA32_VMX_(TRUE_)${w.msr} must be 0`,
      fail: (s, p) => s[p.word] & ~s.caps.ctl[p.word].may1,
      message: (s, m) =>
        `${w.field}=${hex(s[a.word])} sets ${bitList(m)}${controlNames(a.word, m)}, which this CPU does not allow to be 1 (${msrName(s)} bits 63:32 = ${hex(s.caps.ctl[a.word].may1)}); clear them`,
    }),
  ];
}
