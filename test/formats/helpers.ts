/** Helpers shared by the format tests. */
import type { Explanation } from "../../src/formats/explain.js";

/** The fields a dump shows: its values, and the count and address of an MSR list it prints. */
export function shownFields(x: Explanation): Set<string> {
  const d = x.dump;
  const out = new Set([...d.values.keys()].filter((k) => !d.masks.has(k)));
  if (d.entryMsrLoad?.entries.length) out.add("VM_ENTRY_MSR_LOAD_ADDR").add("VM_ENTRY_MSR_LOAD_COUNT");
  if (d.exitMsrLoad?.length) out.add("VM_EXIT_MSR_LOAD_ADDR").add("VM_EXIT_MSR_LOAD_COUNT");
  if (d.exitMsrStore?.length) out.add("VM_EXIT_MSR_STORE_ADDR").add("VM_EXIT_MSR_STORE_COUNT");
  return out;
}
