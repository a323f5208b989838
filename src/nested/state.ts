/**
 * vmcs12 from a KVM_GET_NESTED_STATE blob (src/formats/nested-state.ts reads the layout): the whole vmcs12
 * as L0 saved it, so every field is known; L1's memory (MSR-load lists, the link-pointer page, the
 * virtual-APIC page) is not in the blob.
 */
import { fieldByName } from "../arch/fields.js";
import type { Caps } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import { DEFAULT_PROCESSOR } from "../entry/processor.js";
import { parseNestedState } from "../formats/nested-state.js";
import { Memory } from "../vmcs/memory.js";
import { Vmcs } from "../vmcs/store.js";

/** One vmcs12 of a blob, as an entry (its `caps` are a placeholder: the nested model uses L1's profile). */
export interface BlobVmcs12 {
  entry: Entry;
  /** "vmcs12" or "shadow vmcs12" */
  which: string;
  notes: string[];
}

/** The vmcs12 (and the shadow vmcs12, when the blob has one) of a KVM_GET_NESTED_STATE blob. */
export function vmcs12FromNestedState(bytes: Uint8Array, caps: Caps): BlobVmcs12[] {
  return parseNestedState(bytes).map((d, i) => {
    const vmcs = new Vmcs();
    for (const [name, v] of d.values) {
      const f = fieldByName(name);
      if (f && f.type !== "read-only") vmcs.set(f.index, v);
    }
    return {
      entry: { caps, processor: { ...DEFAULT_PROCESSOR, ...d.processor }, vmcs, memory: new Memory() },
      which: i === 0 ? "vmcs12" : "shadow vmcs12",
      notes: [...d.notes, ...d.assumptions.map((a) => a.text)],
    };
  });
}
