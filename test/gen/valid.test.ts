/**
 * Generated valid states: in the mode asked for (restated independently) and accepted by the reference
 * evaluation, on every built-in profile and mode; reproducible; covering every optional control and aspect.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CONTROL_BITS, ENTRY, PROC, PROC2 } from "../../src/arch/controls.js";
import { CR0, CR4, RFLAGS } from "../../src/arch/registers.js";
import { builtinNames, builtinProfile } from "../../src/cpu/builtin.js";
import { type Entry, parseEntry } from "../../src/entry/document.js";
import { failingChecksReference } from "../../src/entry/evaluate.js";
import { contextOf, runEntry } from "../../src/entry/run.js";
import { Rng } from "../../src/gen/rng.js";
import { serializeGenerated } from "../../src/gen/serialize.js";
import { generateValid, type Mode, modesFor } from "../../src/gen/valid.js";

const PER_MODE = Number(process.env["NVMX_GEN_PER_MODE"] ?? 200);

/**
 * The guest mode a state is in, restated from the SDM's definitions (not from the generator): IA-32e mode is
 * the "IA-32e mode guest" entry control with CR0.PG and CR4.PAE; virtual-8086 is RFLAGS.VM; real mode is
 * CR0.PE = 0 (which needs "unrestricted guest"); PAE paging is CR0.PG and CR4.PAE outside IA-32e mode.
 */
function modeOf(e: Entry): Mode | "inconsistent" {
  const v = e.vmcs;
  const ia32e = (Number(v.getByName("VM_ENTRY_CONTROLS")) & ENTRY.IA32E_GUEST) !== 0;
  const cr0 = Number(v.getByName("GUEST_CR0") & 0xffffffffn);
  const cr4 = Number(v.getByName("GUEST_CR4") & 0xffffffffn);
  const vm = (Number(v.getByName("GUEST_RFLAGS") & 0xffffffffn) & RFLAGS.VM) !== 0;
  const pe = (cr0 & CR0.PE) !== 0;
  const pg = (cr0 & CR0.PG) !== 0;
  const pae = (cr4 & CR4.PAE) !== 0;
  const proc = Number(v.getByName("CPU_BASED_VM_EXEC_CONTROL"));
  const ug =
    (proc & PROC.SECONDARY) !== 0 &&
    (Number(v.getByName("SECONDARY_VM_EXEC_CONTROL")) & PROC2.UNRESTRICTED_GUEST) !== 0;
  if (ia32e) return pe && pg && pae && !vm ? "64" : "inconsistent";
  if (!pe) return ug && !pg && !vm ? "real" : "inconsistent";
  if (vm) return "v86";
  return pg && pae ? "pae" : "32";
}

describe("generateValid", () => {
  for (const name of builtinNames()) {
    it(`${name}: ${PER_MODE} states per mode are in that mode and the reference evaluation accepts them`, () => {
      const caps = builtinProfile(name);
      for (const mode of modesFor(caps)) {
        for (let i = 0; i < PER_MODE; i++) {
          const g = generateValid(caps, Rng.derive(11, i), { mode });
          expect(modeOf(g.entry), `${name} ${mode} #${i}`).toBe(mode);
          // The generator keeps states the compiled runner accepts; the reference loop is another path.
          const failing = failingChecksReference(contextOf(g.entry));
          if (failing.length)
            throw new Error(`${name} ${mode} #${i}: ${failing.map((c) => c.id).join(", ")}`);
        }
      }
    });
  }

  it("is reproducible: same profile, seed and options give the same document", () => {
    const caps = builtinProfile("sapphirerapids");
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (seed) => {
        const a = JSON.stringify(serializeGenerated(generateValid(caps, seed).entry));
        const b = JSON.stringify(serializeGenerated(generateValid(caps, seed).entry));
        expect(a).toBe(b);
      }),
      { numRuns: 50 },
    );
  });

  it("parse∘serialize is the identity on generated states (and they still check as entered)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...builtinNames()),
        fc.integer({ min: 0, max: 0xffffffff }),
        (name, seed) => {
          const caps = builtinProfile(name);
          const g = generateValid(caps, seed);
          const doc = serializeGenerated(g.entry);
          const back = parseEntry(JSON.parse(JSON.stringify(doc)));
          expect(serializeGenerated(back)).toEqual(doc);
          expect(Array.from(back.vmcs.v)).toEqual(Array.from(g.entry.vmcs.v));
          expect(back.processor).toEqual(g.entry.processor);
          expect(back.memory.entries64()).toEqual(g.entry.memory.entries64());
          expect(runEntry(back).outcome).toEqual({ type: "entered" });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("reaches both settings of every optional control bit the profile allows (sapphirerapids)", () => {
    const caps = builtinProfile("sapphirerapids");
    const words = {
      pin: "PIN_BASED_VM_EXEC_CONTROL",
      proc: "CPU_BASED_VM_EXEC_CONTROL",
      proc2: "SECONDARY_VM_EXEC_CONTROL",
      exit: "VM_EXIT_CONTROLS",
      entry: "VM_ENTRY_CONTROLS",
    } as const;
    const seen1 = new Set<string>();
    const seen0 = new Set<string>();
    for (let i = 0; i < 1500; i++) {
      const e = generateValid(caps, Rng.derive(3, i)).entry;
      for (const [w, f] of Object.entries(words)) {
        const v = Number(e.vmcs.getByName(f));
        for (const b of CONTROL_BITS[w as keyof typeof words])
          ((v >>> b.bit) & 1 ? seen1 : seen0).add(`${w}.${b.short}`);
      }
    }
    const missing: string[] = [];
    for (const [w] of Object.entries(words))
      for (const b of CONTROL_BITS[w as keyof typeof words]) {
        const c = caps.ctl[w as keyof typeof words];
        const k = `${w}.${b.short}`;
        // SMM-related entry controls need a VM entry from SMM (not generated); host address-space size
        // needs a host outside IA-32e mode, which only 32-bit guests allow.
        if (/entry_to_smm|deact_dual_monitor/.test(k)) continue;
        if ((c.may1 >>> b.bit) & 1 && !seen1.has(k)) missing.push(`${k}=1`);
        if (!((c.must1 >>> b.bit) & 1) && !seen0.has(k)) missing.push(`${k}=0`);
      }
    expect(missing).toEqual([]);
  });

  it("covers modes, injected events, activity states, PDPTE placements and memory structures", () => {
    const caps = builtinProfile("sapphirerapids");
    const aspects = new Set<string>();
    for (let i = 0; i < 1000; i++)
      for (const a of generateValid(caps, Rng.derive(5, i)).aspects) aspects.add(a);
    for (const a of [
      "mode:64",
      "mode:32",
      "mode:pae",
      "mode:real",
      "mode:v86",
      "ept",
      "vpid",
      "posted-interrupts",
      "apic-virtualization",
      "tpr-shadow",
      "preemption-timer",
      "vmcs-shadowing",
      "pml",
      "vm-functions",
      "msr-load-list",
      "pdptes:vmcs",
      "pdptes:memory",
      "activity:hlt",
      "activity:shutdown",
      "activity:wait-for-sipi",
      "interruptibility",
      "event:ext-interrupt",
      "event:nmi",
      "event:hw-exception",
      "event:sw-interrupt",
      "event:priv-sw-exception",
      "event:sw-exception",
      "event:other",
      "host-32-bit",
      "vmresume",
    ])
      expect(aspects, a).toContain(a);
  });
});
