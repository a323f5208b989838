/**
 * The violation search's parts (src/gen/violate.ts): where its memory targets are in a state, mutations applied
 * and undone exactly (fields by width, processor keys by their values, memory words), the recipe texts users
 * read, which rules count as capability rules, the cache import's checks, and replaying a recipe on a given
 * valid state.
 */
import { describe, expect, it } from "vitest";
import { F } from "../../src/arch/fields.js";
import { checkById } from "../../src/checks/registry.js";
import type { Check } from "../../src/checks/types.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { serializeEntry } from "../../src/entry/document.js";
import { runEntry } from "../../src/entry/run.js";
import { baseEntry } from "../../src/gen/base.js";
import {
  applyMutation,
  type CachedResult,
  cloneEntry,
  describeMutation,
  isCapabilityCheck,
  type Mutation,
  memAddress,
  targetName,
  ViolationSearch,
} from "../../src/gen/violate.js";

const caps = builtinProfile("sapphirerapids");
const doc = (e: ReturnType<typeof baseEntry>) => JSON.stringify(serializeEntry(e));
const ids = (e: ReturnType<typeof baseEntry>) => runEntry(e).violations.map((v) => v.id);

describe("memory targets", () => {
  it("are located from the state: link pointer (none when ~0), PDPT at CR3, virtual TPR, MSR-load entries", () => {
    const e = baseEntry(caps);
    expect(memAddress(e, "link", 0)).toBeUndefined();
    e.vmcs.set(F.VMCS_LINK_POINTER!, 0x5000n);
    expect(memAddress(e, "link", 4)).toBe(0x5004);
    e.vmcs.set(F.VMCS_LINK_POINTER!, 0xffffffff00000000n);
    expect(memAddress(e, "link", 0)).toBe(0xffffffff00000000);
    e.vmcs.set(F.VMCS_LINK_POINTER!, 0x00000000ffffffffn);
    expect(memAddress(e, "link", 0)).toBe(0xffffffff);
    e.vmcs.set(F.GUEST_CR3!, 0x12345ffn);
    expect(memAddress(e, "pdpt", 8)).toBe(0x12345e0 + 8);
    e.vmcs.set(F.VIRTUAL_APIC_PAGE_ADDR!, 0x1_0000_3000n);
    expect(memAddress(e, "vtpr", 0)).toBe(0x1_0000_3080);
    e.vmcs.set(F.VM_ENTRY_MSR_LOAD_ADDR!, 0x2_0000_0010n);
    e.vmcs.set(F.VM_ENTRY_MSR_LOAD_COUNT!, 0n);
    expect(memAddress(e, "msr-load", 0)).toBeUndefined();
    e.vmcs.set(F.VM_ENTRY_MSR_LOAD_COUNT!, 2n);
    expect(memAddress(e, "msr-load", 28)).toBe(0x2_0000_0010 + 28);
    expect(memAddress(e, "msr-load", 32)).toBeUndefined();
    // at most 8 entries are targets, whatever the count
    e.vmcs.set(F.VM_ENTRY_MSR_LOAD_COUNT!, 100n);
    expect(memAddress(e, "msr-load", 16 * 8 - 4)).toBe(0x2_0000_0010 + 124);
    expect(memAddress(e, "msr-load", 16 * 8)).toBeUndefined();
  });
});

describe("applyMutation", () => {
  it("xors or sets a field within its width, and the undo restores it", () => {
    const e = baseEntry(caps);
    const before = doc(e);
    const rip = F.GUEST_RIP!;
    const u1 = applyMutation(e, { target: { kind: "field", index: rip }, op: "xor", lo: 1, hi: 0x80000000 })!;
    expect(e.vmcs.get(rip)).toBe(0xffffffff81000000n ^ 0x8000000000000001n);
    u1();
    expect(doc(e)).toBe(before);
    // a 16-bit field keeps bits 15:0, a 32-bit one no high half
    const sel = F.GUEST_CS_SELECTOR!;
    const u2 = applyMutation(e, { target: { kind: "field", index: sel }, op: "set", lo: 0x12345, hi: 7 })!;
    expect(e.vmcs.get(sel)).toBe(0x2345n);
    u2();
    const lim = F.GUEST_CS_LIMIT!;
    applyMutation(e, { target: { kind: "field", index: lim }, op: "set", lo: 0x12345, hi: 7 });
    expect(e.vmcs.get(lim)).toBe(0x12345n);
  });

  it("sets processor keys by the index of their value, and undoes an added key by deleting it", () => {
    const e = baseEntry(caps);
    const before = doc(e);
    const u = applyMutation(e, { target: { kind: "proc", key: "instruction" }, op: "set", lo: 1, hi: 0 })!;
    expect(e.processor.instruction).toBe("vmresume");
    u();
    expect(e.processor.instruction).toBe("vmlaunch");
    // xor on an index: cpl 0 ^ 3 = 3
    const c = applyMutation(e, { target: { kind: "proc", key: "cpl" }, op: "xor", lo: 3, hi: 0 })!;
    expect(e.processor.cpl).toBe(3);
    c();
    // booleans: [true, false]
    applyMutation(e, { target: { kind: "proc", key: "vmxRoot" }, op: "set", lo: 1, hi: 0 })!();
    expect(e.processor.vmxRoot).toBe(true);
    const b = applyMutation(e, { target: { kind: "proc", key: "vmxRoot" }, op: "set", lo: 1, hi: 0 })!;
    expect(e.processor.vmxRoot).toBe(false);
    b();
    // an index past the values: no such mutation
    expect(
      applyMutation(e, { target: { kind: "proc", key: "cpl" }, op: "set", lo: 4, hi: 0 }),
    ).toBeUndefined();
    expect(
      applyMutation(e, { target: { kind: "proc", key: "instruction" }, op: "set", lo: 2, hi: 0 }),
    ).toBeUndefined();
    // an address key: a number below 2^52
    expect("currentVmcsPointer" in e.processor).toBe(false);
    const a = applyMutation(e, {
      target: { kind: "proc", key: "currentVmcsPointer" },
      op: "set",
      lo: 0x1000,
      hi: 2,
    })!;
    expect(e.processor.currentVmcsPointer).toBe(2 * 2 ** 32 + 0x1000);
    a();
    expect("currentVmcsPointer" in e.processor).toBe(false);
    const big = {
      target: { kind: "proc", key: "currentVmcsPointer" },
      op: "set",
      lo: 0,
      hi: 1 << 20,
    } as const;
    expect(applyMutation(e, big)).toBeUndefined();
    expect(applyMutation(e, { ...big, hi: (1 << 20) - 1 })).toBeDefined();
    expect(e.processor.currentVmcsPointer).toBe(((1 << 20) - 1) * 2 ** 32);
    e.processor.currentVmcsPointer = undefined;
    delete e.processor.currentVmcsPointer;
    expect(doc(e)).toBe(before);
  });

  it("writes memory words at the target's address, and undoes them there even after the field moved", () => {
    const e = baseEntry(caps);
    e.vmcs.set(F.VMCS_LINK_POINTER!, 0x5000n);
    e.memory.write32(0x5000, 0x11);
    expect(
      applyMutation(e, { target: { kind: "mem", ref: "vtpr", offset: 0 }, op: "set", lo: 1, hi: 0 }),
    ).toBeDefined();
    const u = applyMutation(e, {
      target: { kind: "mem", ref: "link", offset: 0 },
      op: "xor",
      lo: 0x3,
      hi: 0,
    })!;
    expect(e.memory.read32(0x5000)).toBe(0x12);
    e.vmcs.set(F.VMCS_LINK_POINTER!, 0x6000n);
    u();
    expect(e.memory.read32(0x5000)).toBe(0x11);
    expect(e.memory.read32(0x6000)).toBe(0);
    e.vmcs.set(F.VMCS_LINK_POINTER!, 0xffffffffffffffffn);
    expect(
      applyMutation(e, { target: { kind: "mem", ref: "link", offset: 0 }, op: "set", lo: 1, hi: 0 }),
    ).toBeUndefined();
  });

  it("names targets and mutations as recipes are shown", () => {
    const m = (target: Mutation["target"], op: Mutation["op"], lo: number, hi: number): Mutation => ({
      target,
      op,
      lo,
      hi,
    });
    expect(describeMutation(m({ kind: "field", index: F.GUEST_RFLAGS! }, "xor", 0x8000, 0))).toBe(
      "GUEST_RFLAGS ^= 0x8000",
    );
    expect(describeMutation(m({ kind: "field", index: F.GUEST_RIP! }, "set", 0x10, 0xffff))).toBe(
      "GUEST_RIP = 0xffff00000010",
    );
    expect(describeMutation(m({ kind: "proc", key: "cpl" }, "set", 3, 0))).toBe("processor.cpl = 0x3");
    expect(targetName({ kind: "mem", ref: "msr-load", offset: 0x1c })).toBe("memory[msr-load+0x1c]");
  });
});

describe("isCapabilityCheck", () => {
  const check = (id: string) => checkById(id) as Check;
  it("is a control rule over control words about allowed or reserved settings, or a fixed/unsupported rule", () => {
    expect(isCapabilityCheck(check("ctl.exit.allowed-1-settings"))).toBe(true);
    expect(isCapabilityCheck(check("ctl.exec.pin-allowed-0"))).toBe(true);
    expect(isCapabilityCheck(check("ctl.exec.proc2-reserved"))).toBe(true);
    // reserved bits of a field that is not a control word
    expect(isCapabilityCheck(check("ctl.exec.tpr-threshold-reserved"))).toBe(false);
    expect(isCapabilityCheck(check("ctl.event.reserved-bits"))).toBe(false);
    expect(isCapabilityCheck(check("ctl.event.nested-exception-unsupported"))).toBe(true);
    expect(isCapabilityCheck(check("guest.cr0.required-bits-set"))).toBe(true);
    expect(isCapabilityCheck(check("guest.rflags.reserved-bits"))).toBe(false);
    expect(isCapabilityCheck(check("ctl.exec.pml-aligned"))).toBe(false);
    expect(isCapabilityCheck(check("guest.cs.l-and-d"))).toBe(false);
    // a control rule about control words that is not about allowed settings
    expect(isCapabilityCheck(check("ctl.exec.mbec-needs-ept"))).toBe(false);
    // an id with "allowed" outside the control class, over other fields, is not one
    const fake = { ...check("ctl.exit.allowed-1-settings"), cls: "guest" } as Check;
    expect(isCapabilityCheck(fake)).toBe(false);
    const noFields = { ...check("ctl.exit.allowed-1-settings"), fields: [] } as unknown as Check;
    expect(isCapabilityCheck(noFields)).toBe(false);
    const otherField = {
      ...check("ctl.exit.allowed-1-settings"),
      fields: ["VM_EXIT_CONTROLS", "GUEST_RIP"],
    } as unknown as Check;
    expect(isCapabilityCheck(otherField)).toBe(false);
  });
});

describe("the result cache and replay", () => {
  const search = new ViolationSearch(caps);
  const id = "guest.rflags.reserved-bits";
  const found = search.find(id);

  it("exports a violated result with its pool index and recipe, and re-imports only what still holds", () => {
    expect(found.status).toBe("violated");
    const [r] = search.exportResults().filter((x) => x.id === id) as [CachedResult];
    expect(r.base).toBe(search.pool.indexOf(found.base!));
    expect(r.recipe).toEqual(found.recipe);
    const fresh = () => new ViolationSearch(caps);
    expect(fresh().importResults([r])).toBe(1);
    for (const bad of [
      { ...r, base: -1 },
      { ...r, base: 1.5 },
      { ...r, base: undefined },
      // past the extended pool (240 states) and the SMM returns (4 at most)
      { ...r, base: search.pool.length + 240 + 4 },
      { ...r, recipe: undefined },
      { ...r, id: "no.such-check" },
      { ...r, recipe: [{ target: { kind: "mem", ref: "link", offset: 0 }, op: "set", lo: 0, hi: 0 }] },
    ] as CachedResult[])
      expect(fresh().importResults([bad]), JSON.stringify(bad)).toBe(0);
    // the same id twice: the first is kept
    const twice = fresh();
    expect(twice.importResults([r, r])).toBe(1);
    // a not-applicable result is taken as given, with its reason
    const na = fresh();
    expect(na.importResults([{ id: "ctl.exec.pml-aligned", status: "not-applicable", reason: "why" }])).toBe(
      1,
    );
    expect(na.find("ctl.exec.pml-aligned")).toEqual({
      id: "ctl.exec.pml-aligned",
      status: "not-applicable",
      reason: "why",
      evals: 0,
    });
  });

  it("replays the recipe on a given valid state (changing it), else returns a copy of the witness", () => {
    const start = baseEntry(caps);
    const v = search.violate(id, start)!;
    expect(v).toBe(start);
    expect(ids(v)).toEqual([id]);
    const w = search.violate(id)!;
    expect(w).not.toBe(found.base!.entry);
    expect(ids(w)).toEqual([id]);
    expect(ids(found.base!.entry)).toEqual([]);
    expect(
      new ViolationSearch(builtinProfile("westmere")).violate("ctl.exec.pml-aligned", baseEntry(caps)),
    ).toBeUndefined();
  });

  it("cloneEntry copies the VMCS, memory and processor state (changing the copy leaves the original)", () => {
    const e = baseEntry(caps);
    e.memory.write32(0x5000, 1);
    const c = cloneEntry(e);
    expect(doc(c)).toBe(doc(e));
    c.vmcs.set(F.GUEST_RIP!, 0n);
    c.memory.write32(0x5000, 2);
    c.processor.cpl = 3;
    expect(e.vmcs.get(F.GUEST_RIP!)).toBe(0xffffffff81000000n);
    expect(e.memory.read32(0x5000)).toBe(1);
    expect(e.processor.cpl).toBe(0);
    expect(c.cpu).toBe("sapphirerapids");
    const { cpu: _, ...noCpu } = e;
    expect("cpu" in cloneEntry(noCpu)).toBe(false);
  });
});
