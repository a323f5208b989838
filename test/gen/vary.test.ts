/**
 * Valid states at fuzzing speed (src/gen/vary.ts): every variation passes the reference evaluation on the
 * profile (not only the runner that verified it), keeps its template's signature, memory and processor,
 * differs from its template, is reproducible and random-access, and its document is the one
 * `serializeGenerated` writes.
 */
import { describe, expect, it } from "vitest";
import { FIELDS } from "../../src/arch/fields.js";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { decodeProfile } from "../../src/cpu/profile.js";
import { evaluate, failingChecksReference } from "../../src/entry/evaluate.js";
import { SIGNATURE_SLOTS } from "../../src/entry/fast.js";
import { contextOf } from "../../src/entry/run.js";
import { Rng } from "../../src/gen/rng.js";
import { serializeGenerated } from "../../src/gen/serialize.js";
import { generateValid, modesFor } from "../../src/gen/valid.js";
import { POOL, ValidStates } from "../../src/gen/vary.js";

const PROFILES = ["skylake", "icelake-server", "sapphirerapids", "wildcatlake"];
const deepJson = (name: string, seed: number, j: number) => {
  const caps = builtinProfile(name);
  const modes = modesFor(caps);
  return JSON.stringify(
    serializeGenerated(generateValid(caps, Rng.derive(seed, j), { mode: modes[j % modes.length]! }).entry),
  );
};

describe("ValidStates", () => {
  // first in the file: the field plans are computed once per process, on the first use
  it("learns the free bits: whole fields no check reads, canonical addresses below bit 47, nothing of the signature or read-only fields; free bits flip alone", () => {
    const caps = builtinProfile("skylake");
    const s = new ValidStates(caps, 1, { variants: 2 });
    s.fill(0);
    const fb = s.freeBits();
    const ALL = (1n << 64n) - 1n;
    expect(fb.get("GUEST_RSP")).toBe(ALL);
    expect(fb.get("HOST_RSP")).toBe(ALL);
    for (const f of ["GUEST_SYSENTER_ESP", "HOST_IA32_SYSENTER_ESP", "GUEST_GDTR_BASE", "HOST_GDTR_BASE"])
      expect(fb.get(f), f).toBe((1n << 47n) - 1n);
    let flips = 0;
    let failing = 0;
    const signature = new Set(SIGNATURE_SLOTS);
    const fields = new Map(FIELDS.map((f) => [f.name, f]));
    for (let j = 0; j < POOL; j++) {
      s.fill(j);
      for (const [name, mask] of s.freeBits()) {
        const f = fields.get(name)!;
        expect(f.type, name).not.toBe("read-only");
        const width = f.width === 16 ? 16n : f.width === 32 ? 32n : 64n;
        expect(mask >> width, name).toBe(0n);
        for (const half of [0n, 1n])
          if (signature.has((f.index << 1) | Number(half)))
            expect((mask >> (32n * half)) & 0xffffffffn, name).toBe(0n);
        for (let b = 0n; b < width; b++) {
          if (((mask >> b) & 1n) === 0n) continue;
          const v = s.vmcs.get(f.index);
          s.vmcs.set(f.index, v ^ (1n << b));
          flips++;
          if (failingChecksReference(contextOf(s.entry())).length) failing++;
          s.vmcs.set(f.index, v);
        }
      }
    }
    // a value a check forbids alone (VPID 0) can hide in a range of random values; variations redraw it
    expect(flips).toBeGreaterThan(30000);
    expect(failing / flips).toBeLessThan(0.001);
  });

  it("a field the template leaves 0 varies in about one template of four", () => {
    // GUEST_SMBASE, PLE_GAP and the like: no check reads them, and the generator leaves them 0
    const s = new ValidStates(builtinProfile("icelake-server"), 2, { variants: 1 });
    let zero = 0;
    let varied = 0;
    for (let j = 0; j < 48; j++) {
      s.fill(j);
      const fb = s.freeBits();
      for (const name of ["GUEST_SMBASE", "PLE_GAP", "PLE_WINDOW", "CR3_TARGET_VALUE3", "EOI_EXIT_BITMAP3"]) {
        if (s.vmcs.getByName(name) !== 0n) continue;
        zero++;
        if (fb.has(name)) varied++;
      }
    }
    expect(zero).toBeGreaterThan(100);
    expect(varied / zero).toBeGreaterThan(0.12);
    expect(varied / zero).toBeLessThan(0.4);
  });

  it.each(PROFILES)("%s: every variation passes every check of the reference evaluation", (name) => {
    const caps = builtinProfile(name);
    const s = new ValidStates(caps, 5, { variants: 24 });
    let varied = 0;
    for (let i = 0; i < POOL * 24; i += 3) {
      s.fill(i);
      const ids = failingChecksReference(contextOf(s.entry())).map((c) => c.id);
      expect(ids, `state ${i}`).toEqual([]);
      if (i % POOL !== i) varied++;
    }
    expect(varied).toBeGreaterThan(100);
  });

  it("the first POOL states are the generator's own; with variants 1 every state is", () => {
    const s = new ValidStates(builtinProfile("skylake"), 11);
    for (let i = 0; i < POOL; i++) {
      s.fill(i);
      expect(s.json()).toBe(deepJson("skylake", 11, i));
    }
    const one = new ValidStates(builtinProfile("skylake"), 11, { variants: 1 });
    for (const i of [0, 17, 40, 41]) {
      one.fill(i);
      expect(one.json()).toBe(deepJson("skylake", 11, i));
    }
  });

  it("a variation keeps its template's signature, memory and processor state, and changes other values", () => {
    const s = new ValidStates(builtinProfile("icelake-server"), 3, { variants: 8 });
    const templates = Array.from({ length: POOL }, (_, j) => {
      s.fill(j);
      return { v: s.vmcs.v.slice(), memory: s.memory, processor: s.processor, mode: s.mode };
    });
    const changed = new Set<string>();
    for (let i = POOL; i < POOL * 8; i++) {
      s.fill(i);
      const t = templates[i % POOL]!;
      expect(s.memory).toBe(t.memory);
      expect(s.processor).toBe(t.processor);
      expect(s.mode).toBe(t.mode);
      for (const k of SIGNATURE_SLOTS) expect(s.vmcs.v[k], `slot ${k} of state ${i}`).toBe(t.v[k]);
      let differ = 0;
      for (const f of FIELDS)
        if (
          s.vmcs.v[f.index << 1] !== t.v[f.index << 1] ||
          s.vmcs.v[(f.index << 1) | 1] !== t.v[(f.index << 1) | 1]
        ) {
          differ++;
          changed.add(f.name);
        }
      expect(differ, `fields state ${i} changes`).toBeGreaterThan(20);
    }
    // values that checks constrain vary too, not only fields no check reads
    for (const f of [
      "GUEST_RIP",
      "GUEST_RSP",
      "HOST_RIP",
      "GUEST_GDTR_BASE",
      "GUEST_SYSENTER_EIP",
      "HOST_FS_BASE",
    ])
      expect(changed).toContain(f);
  });

  it("state i depends only on (profile, seed, i, options): random access gives the sequential documents", () => {
    const a = new ValidStates(builtinProfile("sapphirerapids"), 9, { variants: 4 });
    const docs: string[] = [];
    for (let i = 0; i < POOL * 4 * 2 + 5; i++) {
      a.fill(i);
      docs.push(a.json());
    }
    const b = new ValidStates(builtinProfile("sapphirerapids"), 9, { variants: 4 });
    for (const i of [70, 3, 69, 16, 0, 35, 64, 17]) {
      b.fill(i);
      expect(b.json(), `state ${i}`).toBe(docs[i]);
    }
    expect(new Set(docs).size).toBe(docs.length);
    const c = new ValidStates(builtinProfile("sapphirerapids"), 10, { variants: 4 });
    c.fill(20);
    expect(c.json()).not.toBe(docs[20]);
  });

  it("json() and writeJson() write what serializeGenerated does, also for a profile whose name is not ASCII", () => {
    const data = { ...builtinProfile("skylake").data, name: "skylake-é" };
    for (const caps of [builtinProfile("wildcatlake"), decodeProfile(data)]) {
      const s = new ValidStates(caps, 2, { variants: 6 });
      const buf = Buffer.alloc(1 << 16);
      for (let i = 0; i < POOL * 6; i += 5) {
        s.fill(i);
        const want = JSON.stringify(serializeGenerated(s.entry()));
        expect(s.json()).toBe(want);
        const end = s.writeJson(buf, 3);
        expect(buf.subarray(3, end).toString("utf8")).toBe(want);
        expect(end - 3).toBeLessThanOrEqual(s.jsonBound());
      }
    }
  });

  it("fill refuses an index that is not a whole number from 0", () => {
    const s = new ValidStates(builtinProfile("skylake"), 1);
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53])
      expect(() => s.fill(bad)).toThrow(
        `ValidStates.fill: i must be a whole number from 0, got ${String(bad)}`,
      );
  });

  it("a result's messages cannot be read after the next fill rewrote the store", () => {
    const s = new ValidStates(builtinProfile("skylake"), 1, { variants: 2 });
    s.fill(POOL);
    s.vmcs.setByName("GUEST_RFLAGS", 0n); // bit 1 must be 1
    const r = evaluate(contextOf(s.entry()));
    const v = r.violations.find((x) => x.id === "guest.rflags.bit1-set");
    expect(v).toBeDefined();
    s.fill(POOL + 1);
    expect(() => v!.message).toThrow(/guest.rflags.bit1-set/);
  });
});
