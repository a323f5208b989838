/**
 * Each documented Bochs 2.7 deviation (docs/deviations.md, src/probe/deviations.ts) pinned by a state that shows
 * it, run in Bochs: the disagreement must be explained by that deviation. (A is pinned in
 * bochs-skylake-x.test.ts, where the states run without the dodge.)
 */
import { expect, it } from "vitest";
import { F } from "../../src/arch/fields.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import type { Entry } from "../../src/entry/document.js";
import { runEntry } from "../../src/entry/run.js";
import { baseEntry } from "../../src/gen/base.js";
import { violationSearch } from "../../src/gen/violate.js";
import type { Compared } from "../../src/probe/compare.js";
import { runOnBochs } from "../../src/probe/run.js";
import { describeWith } from "./env.js";

const set = (e: Entry, name: string, v: bigint) => e.vmcs.set(F[name]!, v);
const get = (e: Entry, name: string) => e.vmcs.get(F[name]!);

interface Pin {
  id: string;
  entry: Entry;
  /** What Bochs does (observed kind / outcome type). */
  observed: string;
}

function witness(profile: string, check: string): Entry {
  const e = violationSearch(builtinProfile(profile)).violate(check);
  if (!e) throw new Error(`${check} cannot be violated alone on ${profile}`);
  return e;
}

const observedKind = (c: Compared) =>
  c.observed.kind === "outcome"
    ? c.observed.outcome.type + (c.observed.outcome.type === "vmexit" ? ` ${c.observed.outcome.reason}` : "")
    : c.observed.kind;

async function pins(model: string, list: Pin[]): Promise<void> {
  const r = await runOnBochs(
    list.map((p) => ({ entry: p.entry, where: p.id, comment: `pins Bochs deviation ${p.id}` })),
    { model, dodge: ["A"] },
  );
  expect(
    r.compared.map((c) => [c.p.where, c.verdict, c.deviations.includes(c.p.where), observedKind(c)]),
  ).toEqual(list.map((p) => [p.id, "deviation", true, p.observed]));
}

describeWith(["probe", "bochs"], "Bochs 2.7 deviations, one state each", () => {
  it("corei7_skylake_x: B C D E F G H J K L M O", async () => {
    const P = "bochs-2.7-skylake-x";
    const caps = builtinProfile(P);
    // L: 0x10000000 entries = 4 GiB, which Bochs multiplies into 0 in 32 bits; the area ends beyond MAXPHYADDR
    const l = baseEntry(caps);
    set(l, "VM_ENTRY_MSR_LOAD_ADDR", (1n << 40n) - 0x1000n);
    set(l, "VM_ENTRY_MSR_LOAD_COUNT", 0x10000000n);
    // M: the current VMCS is a shadow VMCS
    const m = baseEntry(caps);
    m.processor.currentVmcsShadow = true;
    // J: non-conforming CS with DPL 0 and SS with DPL 3 under unrestricted guest
    const j = baseEntry(caps);
    set(j, "CPU_BASED_VM_EXEC_CONTROL", get(j, "CPU_BASED_VM_EXEC_CONTROL") | (1n << 31n));
    set(j, "SECONDARY_VM_EXEC_CONTROL", get(j, "SECONDARY_VM_EXEC_CONTROL") | 0x82n);
    set(j, "EPT_POINTER", 0x1000n | 0x1en);
    set(j, "GUEST_SS_AR_BYTES", 0xc0f3n);
    set(j, "GUEST_SS_SELECTOR", 0x1bn);
    // K: an injected "other event" (type 7) without monitor-trap-flag support
    const k = baseEntry(caps);
    set(k, "VM_ENTRY_INTR_INFO_FIELD", 0x80000700n);
    for (const [e, id] of [
      [l, "ctl.entry.msr-load-area-end-width"],
      [m, "basic.current-vmcs-not-shadow"],
      [j, "guest.cs.dpl-eq-ss-dpl"],
      [k, "ctl.event.other-event-needs-mtf"],
    ] as const)
      expect(runEntry(e).violations.map((v) => v.id)).toEqual([id]);
    await pins("corei7_skylake_x", [
      { id: "B", entry: witness(P, "guest.rip.linear-width"), observed: "entered" },
      { id: "C", entry: witness(P, "guest.rflags.vm-without-pe"), observed: "entered" },
      { id: "D", entry: witness(P, "guest.pending-dbg.bs-required"), observed: "entered" },
      { id: "E", entry: witness(P, "guest.activity.hlt-event"), observed: "entered" },
      { id: "F", entry: witness(P, "guest.intr.vnmi-nmi-blocking"), observed: "entered" },
      { id: "G", entry: witness(P, "guest.debugctl.reserved-bits"), observed: "entered" },
      { id: "H", entry: witness(P, "guest.perf-global-ctrl.reserved-bits"), observed: "entered" },
      { id: "H", entry: witness(P, "host.perf-global-ctrl.reserved-bits"), observed: "entered" },
      { id: "J", entry: j, observed: "entered" },
      { id: "K", entry: k, observed: "crash" },
      { id: "L", entry: l, observed: "vmexit 34" },
      { id: "M", entry: m, observed: "entered" },
      { id: "O", entry: witness(P, "guest.cr0.pg-in-ia32e"), observed: "entered" },
    ]);
  }, 600_000);

  it("not a deviation: an MSR-load entry for an MSR Bochs lacks (1FFH) gives exit 34, which nvmx names as possible", async () => {
    const e = baseEntry(builtinProfile("bochs-2.7-skylake-x"));
    set(e, "VM_ENTRY_MSR_LOAD_ADDR", 0x10000n);
    set(e, "VM_ENTRY_MSR_LOAD_COUNT", 1n);
    e.memory.write64(0x10000, 0x1ffn);
    const r = await runOnBochs([{ entry: e, where: "msr 1ff" }], { model: "corei7_skylake_x", dodge: ["A"] });
    expect(r.compared[0]!.observed).toEqual({
      kind: "outcome",
      outcome: { type: "vmexit", reason: 34, qualification: 1 },
    });
    expect(r.compared[0]!.verdict).toBe("agree");
    expect(r.compared[0]!.nvmx!.outcome).toEqual({ type: "entered" });
  }, 300_000);

  it("tigerlake (CET): I N", async () => {
    const P = "bochs-2.7-tigerlake";
    const caps = builtinProfile(P);
    // N: host CR4.CET = 1 with CR0.WP = 0 while "load CET state" (exit control 28) is 0
    const n = baseEntry(caps);
    set(n, "HOST_CR4", get(n, "HOST_CR4") | (1n << 23n));
    set(n, "HOST_CR0", get(n, "HOST_CR0") & ~(1n << 16n));
    set(n, "VM_EXIT_CONTROLS", get(n, "VM_EXIT_CONTROLS") & ~(1n << 28n));
    expect(runEntry(n).violations.map((v) => v.id)).toEqual(["host.cr4.cet-requires-cr0-wp"]);
    // I: an error code delivered with an external interrupt
    const i = baseEntry(caps);
    set(i, "VM_ENTRY_INTR_INFO_FIELD", 0x80000820n);
    set(i, "GUEST_RFLAGS", get(i, "GUEST_RFLAGS") | 0x200n); // IF: an external interrupt may be injected
    expect(runEntry(i).violations.map((v) => v.id)).toEqual(["ctl.event.error-code-only-hw-exception"]);
    await pins("tigerlake", [
      { id: "I", entry: i, observed: "entered" },
      { id: "N", entry: n, observed: "entered" },
    ]);
  }, 600_000);
});
