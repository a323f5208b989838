/** vmcs12 from a KVM_GET_NESTED_STATE blob (src/nested/state.ts). */
import { describe, expect, it } from "vitest";
import { FIELDS } from "../../src/arch/fields.js";
import { formatNestedState, NESTED_HEADER_SIZE, VMCS12_SIZE } from "../../src/formats/nested-state.js";
import { baseEntry } from "../../src/gen/base.js";
import { vmcs12FromNestedState } from "../../src/nested/state.js";
import { profile, profileAll } from "../helpers.js";

describe("vmcs12FromNestedState", () => {
  const e = baseEntry(profileAll());
  const host = profile("skylake");

  it("the vmcs12 as an entry: writable fields as saved, read-only ones left 0, the launch state, notes", () => {
    const [b, ...more] = vmcs12FromNestedState(
      formatNestedState(e, { launched: true, exitReason: 0x80000021 }),
      host,
    );
    expect(more).toEqual([]);
    if (!b) throw new Error("no vmcs12");
    expect(b.which).toBe("vmcs12");
    expect(b.entry.caps).toBe(host);
    expect(b.entry.processor.launchState).toBe("launched");
    expect(b.entry.processor.instruction).toBe("vmresume");
    expect(b.entry.vmcs.getByName("GUEST_CR0")).toBe(e.vmcs.getByName("GUEST_CR0"));
    expect(b.entry.vmcs.getByName("HOST_RIP")).toBe(e.vmcs.getByName("HOST_RIP"));
    // the blob's exit reason is read-only in a VMCS: not part of the entry
    expect(b.entry.vmcs.getByName("VM_EXIT_REASON")).toBe(0n);
    const writable = FIELDS.filter((f) => f.type !== "read-only").map((f) => f.name);
    for (const [f] of b.entry.vmcs.nonzero()) expect(writable).toContain(f.name);
    expect(b.notes).toContain("launch_state=1: the entry is taken to be VMRESUME");
    expect(b.notes.some((n) => n.startsWith("vmxon_pa 0x1000, vmcs12_pa 0x2000"))).toBe(true);
  });

  it("a blob with a shadow vmcs12 gives both, the second named as the shadow", () => {
    const one = formatNestedState(e);
    const two = new Uint8Array(NESTED_HEADER_SIZE + 2 * VMCS12_SIZE);
    two.set(one);
    two.set(one.subarray(NESTED_HEADER_SIZE), NESTED_HEADER_SIZE + VMCS12_SIZE);
    new DataView(two.buffer).setUint32(4, two.length, true);
    const got = vmcs12FromNestedState(two, host);
    expect(got.map((b) => b.which)).toEqual(["vmcs12", "shadow vmcs12"]);
    expect(got.map((b) => b.entry.processor.instruction)).toEqual(["vmlaunch", "vmlaunch"]);
  });
});
