/** The static proofs that a rule cannot fail alone on a profile (src/gen/bound.ts), and the SMM-return starts. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { F, type FieldName } from "../../src/arch/fields.js";
import { GATES } from "../../src/checks/groups.js";
import { CHECKS, checkById } from "../../src/checks/registry.js";
import { type Check, Ctx } from "../../src/checks/types.js";
import { builtinNames, builtinProfile } from "../../src/cpu/builtin.js";

import { parseEntry } from "../../src/entry/document.js";
import { runEntry } from "../../src/entry/run.js";
import { boundReason, coFailing, FORBIDDEN, witnesses } from "../../src/gen/bound.js";
import { Rng } from "../../src/gen/rng.js";
import { serializeGenerated } from "../../src/gen/serialize.js";
import { generateValid } from "../../src/gen/valid.js";
import { ViolationSearch, violationSearch } from "../../src/gen/violate.js";
import type { Vmcs } from "../../src/vmcs/store.js";
import { runs } from "../helpers.js";

const skylake = builtinProfile("skylake");
const fails = (c: Check, ctx: Ctx) => (c.when === undefined || !!c.when(ctx)) && !!c.fail(ctx);

/**
 * Where each key of FORBIDDEN lives in the VMCS: the field and half, and the primary control bit that puts a
 * secondary or tertiary word in effect (written here from the SDM, not from the code under test).
 */
const PLACES: Record<string, { field: FieldName; hi?: true; activate?: [FieldName, number] }> = {
  pin: { field: "PIN_BASED_VM_EXEC_CONTROL" },
  proc: { field: "CPU_BASED_VM_EXEC_CONTROL" },
  proc2: { field: "SECONDARY_VM_EXEC_CONTROL", activate: ["CPU_BASED_VM_EXEC_CONTROL", 31] },
  proc3: { field: "TERTIARY_VM_EXEC_CONTROL", activate: ["CPU_BASED_VM_EXEC_CONTROL", 17] },
  proc3Hi: { field: "TERTIARY_VM_EXEC_CONTROL", hi: true, activate: ["CPU_BASED_VM_EXEC_CONTROL", 17] },
  exit: { field: "VM_EXIT_CONTROLS" },
  exit2: { field: "SECONDARY_VM_EXIT_CONTROLS", activate: ["VM_EXIT_CONTROLS", 31] },
  exit2Hi: { field: "SECONDARY_VM_EXIT_CONTROLS", hi: true, activate: ["VM_EXIT_CONTROLS", 31] },
  entry: { field: "VM_ENTRY_CONTROLS" },
  GUEST_CR4: { field: "GUEST_CR4" },
  "GUEST_CR4.hi": { field: "GUEST_CR4", hi: true },
  HOST_CR4: { field: "HOST_CR4" },
  "HOST_CR4.hi": { field: "HOST_CR4", hi: true },
};

describe("bits a profile forbids", () => {
  it("every key of the table is placed here", () => {
    expect(Object.keys(FORBIDDEN).sort()).toEqual(Object.keys(PLACES).sort());
  });

  it("setting any forbidden bit in a valid state of any built-in profile fails the rule the table names", () => {
    let tried = 0;
    for (const name of builtinNames()) {
      const caps = builtinProfile(name);
      const base = generateValid(caps, Rng.derive(3, 0)).entry;
      for (const [key, where] of Object.entries(FORBIDDEN)) {
        const place = PLACES[key]!;
        const rule = checkById(where.rule)!;
        const allowed = where.allowed(caps);
        for (let b = 0; b < 32; b++) {
          const bit = 2 ** b;
          if ((allowed & bit) !== 0) continue;
          const v = base.vmcs.clone();
          const i = F[place.field];
          if (place.hi) v.setHalves(i, v.lo(i), (v.hi(i) | bit) >>> 0);
          else v.setHalves(i, (v.lo(i) | bit) >>> 0, v.hi(i));
          if (place.activate) {
            const [field, at] = place.activate;
            v.setHalves(F[field], (v.lo(F[field]) | (1 << at)) >>> 0, v.hi(F[field]));
          }
          const ctx = new Ctx(v, caps, base.processor, base.memory);
          expect(fails(rule, ctx), `${name}: ${key} bit ${b} should fail ${where.rule}`).toBe(true);
          tried++;
        }
      }
    }
    expect(tried).toBeGreaterThan(1000);
  });
});

describe("rules that forbid a bit on a profile lacking a feature (witnesses)", () => {
  it("are the registry's rules failing on a bit and the capabilities alone: SGX's and RTM's (SDM 29.3.1.5)", () => {
    expect(witnesses().map((w) => [w.rule.id, w.key, w.bits])).toEqual([
      ["guest.intr.enclave-sgx", "GUEST_INTERRUPTIBILITY_INFO", 1 << 4],
      ["guest.pending-dbg.rtm-support", "GUEST_PENDING_DBG_EXCEPTIONS", 1 << 16],
    ]);
  });

  it("setting the bit in a valid state of a built-in profile without the feature fails the rule", () => {
    let tried = 0;
    for (const name of builtinNames()) {
      const caps = builtinProfile(name);
      const base = generateValid(caps, Rng.derive(3, 0)).entry;
      for (const w of witnesses()) {
        const v = base.vmcs.clone();
        const i = F[w.key as FieldName];
        v.setHalves(i, (v.lo(i) | w.bits) >>> 0, v.hi(i));
        const ctx = new Ctx(v, caps, base.processor, base.memory);
        expect(fails(w.rule, ctx), `${name}: ${w.rule.id}`).toBe(w.fails(caps));
        if (w.fails(caps)) tried++;
      }
    }
    expect(tried).toBeGreaterThan(4);
  });

  it("prove the rules gated on the bit not applicable, as the full search finds (alderlake: no RTM, no SGX)", () => {
    const alderlake = builtinProfile("alderlake");
    const ids = [
      "guest.intr.enclave-mov-ss",
      "guest.pending-dbg.rtm-other-bits",
      "guest.pending-dbg.rtm-enabled-bp",
      "guest.pending-dbg.rtm-mov-ss",
    ];
    expect(boundReason(checkById(ids[1]!)!, alderlake)).toBe(
      "the rule can fail only with GUEST_PENDING_DBG_EXCEPTIONS bit 16 = 1, which alderlake does not allow (a state setting it fails guest.pending-dbg.rtm-support)",
    );
    expect(boundReason(checkById(ids[0]!)!, alderlake)).toMatch(
      /GUEST_INTERRUPTIBILITY_INFO bit 4 = 1, .* fails guest\.intr\.enclave-sgx\)$/,
    );
    // the witness proves nothing about itself, nor where the feature is there (skylake has RTM and SGX)
    expect(boundReason(checkById("guest.pending-dbg.rtm-support")!, alderlake)).toBeUndefined();
    for (const id of ids) expect(boundReason(checkById(id)!, skylake), id).toBeUndefined();
    const search = new ViolationSearch(alderlake, 7, { proofs: false });
    for (const id of ids) expect(search.find(id).status, id).toBe("not-applicable");
  });
});

describe("boundReason", () => {
  const SMM = GATES.smmReturn.src;
  const parts = (p: Record<string, string>, id = "test.rule") => ({ id, parts: p }) as unknown as Check;
  // on skylake: "load CET state" (VM-entry control bit 20) and "mode-based execute control" (secondary bit 22)
  // are not allowed; SGX is there
  const CET = "(c.entry & 1048576) !== 0";
  const MBEC = "(c.proc2 & 4194304) !== 0";

  it("names the forbidden control and the rule a state setting it fails", () => {
    expect(boundReason(parts({ fail: `v[2]/*X*/ === 0 && ${CET}` }), skylake)).toBe(
      'the rule can fail only with "load CET state" = 1, which skylake does not allow (a state setting it fails ctl.entry.allowed-1-settings)',
    );
    // a gate, a condition, a failing condition: whichever has it
    expect(boundReason(parts({ gate: CET, fail: "v[2] === 0" }), skylake)).toMatch(/"load CET state"/);
    expect(boundReason(parts({ when: `(${CET})`, fail: "v[2] === 0" }), skylake)).toMatch(/"load CET state"/);
  });

  it("names a bit by its half: a high half's bits are 32-63, and its allowed settings are its own", () => {
    // skylake: CR4 bit 0 (VME) is allowed, bit 32 (FRED) is not; no tertiary controls at all
    expect(boundReason(parts({ fail: "(v[337]/*GUEST_CR4.hi*/ & 1) !== 0" }), skylake)).toBe(
      "the rule can fail only with CR4 bit 32 = 1, which skylake does not allow (a state setting it fails guest.cr4.unsupported-bits-clear)",
    );
    expect(boundReason(parts({ fail: "(v[336]/*GUEST_CR4*/ & 1) !== 0" }), skylake)).toBeUndefined();
    expect(boundReason(parts({ fail: "(v[382]/*HOST_CR4*/ & 8388608) !== 0" }), skylake)).toBe(
      "the rule can fail only with CR4 bit 23 = 1, which skylake does not allow (a state setting it fails host.cr4.fixed-bits)",
    );
    expect(boundReason(parts({ fail: "(c.proc3Hi & 1) !== 0", exempt: SMM }), skylake)).toBe(
      "the rule can fail only with proc3 control bit 32 = 1, which skylake does not allow (a state setting it fails ctl.exec.proc3-reserved)",
    );
    // wildcatlake allows secondary VM-exit controls 0-3, none of 32-63
    const wildcat = builtinProfile("wildcatlake");
    expect(boundReason(parts({ fail: "(c.exit2Hi & 1) !== 0" }), wildcat)).toMatch(
      /exit2 control bit 32 = 1/,
    );
    expect(boundReason(parts({ fail: "(c.exit2 & 1) !== 0" }), wildcat)).toBeUndefined();
    // a mask of several forbidden bits: any of them fails the rule, each is named
    expect(boundReason(parts({ fail: "(c.entry & 5242880) !== 0" }), skylake)).toBe(
      'the rule can fail only with one of "load CET state", "load PKRS" = 1, which skylake does not allow (a state setting it fails ctl.entry.allowed-1-settings)',
    );
    expect(boundReason(parts({ fail: "(v[337]/*GUEST_CR4.hi*/ & 3) !== 0" }), skylake)).toMatch(
      /only with one of CR4 bit 32, CR4 bit 33 = 1/,
    );
    // a bit without a name is named by its number
    expect(boundReason(parts({ fail: "(c.entry & 2147483648) !== 0" }), skylake)).toMatch(
      /only with entry control bit 31 = 1, which skylake does not allow/,
    );
  });

  it("takes an execution control only for a rule that SMM returns skip too (their allowed settings are skipped)", () => {
    expect(boundReason(parts({ fail: MBEC }), skylake)).toBeUndefined();
    // ... the very exemption of that rule's section: another one proves nothing
    expect(boundReason(parts({ fail: MBEC, exempt: "c.proc_.inSmm" }), skylake)).toBeUndefined();
    expect(boundReason(parts({ fail: MBEC, exempt: SMM }), skylake)).toBe(
      'the rule can fail only with "mode-based execute control for EPT" = 1, which skylake does not allow (a state setting it fails ctl.exec.proc2-reserved)',
    );
  });

  it("evaluates conditions on the capabilities alone, and needs every case of an `||` proved", () => {
    expect(boundReason(parts({ gate: "v[4] !== 0", fail: "!c.caps.sgx" }), skylake)).toBe(
      "the rule can fail only where !sgx, false on skylake",
    );
    expect(boundReason(parts({ fail: "c.caps.sgx" }), skylake)).toBeUndefined();
    // a double negation (a gate negated by a rule's `when`) is shown without it
    expect(boundReason(parts({ when: "!(!c.caps.addr32)", fail: "v[1] === 0" }), skylake)).toBe(
      "the rule can fail only where addr32, false on skylake",
    );
    expect(boundReason(parts({ fail: `(v[1] === 0 && ${CET}) || !c.caps.sgx` }), skylake)).toBe(
      'the rule can fail only with "load CET state" = 1, which skylake does not allow (a state setting it fails ctl.entry.allowed-1-settings); or only where !sgx, false on skylake',
    );
    expect(boundReason(parts({ fail: `${CET} || v[1] === 0` }), skylake)).toBeUndefined();
  });

  it("proves nothing from what it cannot read", () => {
    for (const fail of [
      "(c.entry & 1048576) === 0", // a bit that must be 0
      "(c.entry & 1048577) !== 0", // bit 0 is allowed: either bit will do
      `v[1] ? ${CET} : true`, // a conditional
      `v[1] ? 0 : v[2] && ${CET}`, // a conditional around an \`&&\`
      `(c.proc_.s === "a) && ${CET}`, // a string left open
      `c.proc_.s === "a && ${CET}`,
      "(c.entry & 0) !== 0", // no bit at all
      `(c.proc_.x ?? ${CET})`,
      `\`\${v[1]}\` && ${CET}`, // a template string
      "(v[9]/*GUEST_RIP*/ & 8) !== 0", // a field with no forbidden bits
      "c.caps.nonesuch.deeper", // throws: no proof
    ])
      expect(boundReason(parts({ fail }), skylake), fail).toBeUndefined();
    // a string with operators or brackets in it is one operand, inside brackets too
    expect(boundReason(parts({ fail: `c.proc_.s === "a && (b" && ${CET}` }), skylake)).toMatch(/CET/);
    expect(boundReason(parts({ fail: `(c.proc_.s === ")") && ${CET}` }), skylake)).toMatch(/CET/);
    expect(boundReason(parts({ fail: `(c.proc_.s === 'a || b') && ${CET}` }), skylake)).toMatch(/CET/);
    expect(boundReason(parts({ fail: `(c.proc_.s === ')') && ${CET}` }), skylake)).toMatch(/CET/);
    // ... and so is a string at the top level with an `||` in it
    expect(boundReason(parts({ fail: `c.proc_.s === "x || " && ${CET}` }), skylake)).toMatch(/CET/);
    expect(boundReason(parts({ fail: `c.proc_.s === 'x || ' && ${CET}` }), skylake)).toMatch(/CET/);
    // an `||` inside brackets does not split the `&&` around it
    expect(boundReason(parts({ fail: `(v[1] || v[2]) && ${CET}` }), skylake)).toMatch(/CET/);
    expect(boundReason(parts({ fail: `v[v[1] || 2] && ${CET}` }), skylake)).toMatch(/CET/);
    // parentheses and spaces around an operand
    expect(boundReason(parts({ fail: `( ${CET} )` }), skylake)).toMatch(/CET/);
    expect(boundReason(parts({ fail: "!(c.caps.sgx)" }), skylake)).toBe(
      "the rule can fail only where !(sgx), false on skylake",
    );
    // the rule that a forbidden bit fails proves nothing about itself
    expect(boundReason(parts({ fail: CET }, "ctl.entry.allowed-1-settings"), skylake)).toBeUndefined();
    // a check without compiled parts (an MSR-load rule's form differs) is left to the search
    expect(boundReason({ id: "x" } as Check, skylake)).toBeUndefined();
  });

  it("agrees with the search: a rule it proves is one the full search cannot violate alone either", () => {
    const full = process.env["NVMX_FULL"] === "1";
    const profiles = full ? ["skylake", "westmere", "sapphirerapids", "kvm-nested"] : ["skylake"];
    for (const name of profiles) {
      const caps = builtinProfile(name);
      const proved = CHECKS.filter((c) => boundReason(c, caps) !== undefined).map((c) => c.id);
      expect(proved.length).toBeGreaterThan(20);
      const sample = full
        ? proved
        : [...new Set(fc.sample(fc.constantFrom(...proved), { numRuns: runs(12), seed: 5 }))];
      const search = new ViolationSearch(caps, 7, { proofs: false });
      for (const id of sample) expect(search.find(id).status, `${name} ${id}`).toBe("not-applicable");
    }
  });
});

describe("rules that fail only together with others (coFailing)", () => {
  // SDM 29.2.4 / 29.3.1.5: an IA-32e guest needs a host in IA-32e mode with "host address-space size" = 1;
  // "entry to SMM" needs blocking by SMI, which is itself illegal outside SMM
  const PROVED: Record<string, string[]> = {
    "ctl.entry.smm-outside-smm": ["guest.intr.smi-outside-smm", "guest.intr.smm-entry-smi"],
    "host.ia32e-guest.outside-ia32e": ["host.hass.outside-ia32e", "host.ia32e-guest.requires-hass"],
    "host.ia32e-guest.requires-hass": ["host.ia32e-guest.outside-ia32e", "host.hass.in-ia32e"],
  };

  it("proves on skylake the rules the search finds only with others, naming the rules they need", () => {
    const proved = Object.fromEntries(
      CHECKS.filter((c) => !boundReason(c, skylake))
        .map((c) => [c.id, coFailing(c, skylake)] as const)
        .filter(([, r]) => r !== undefined),
    );
    expect(proved).toEqual(PROVED);
  });

  it("every state failing a proved rule fails one of the rules named (random states on every built-in profile)", () => {
    const bit = (v: Vmcs, field: FieldName, mask: number, on: boolean) => {
      const i = F[field];
      v.setHalves(i, on ? (v.lo(i) | mask) >>> 0 : v.lo(i) & ~mask, v.hi(i));
    };
    let failing = 0;
    for (const name of builtinNames()) {
      const caps = builtinProfile(name);
      const proved = Object.keys(PROVED).filter((id) => coFailing(checkById(id)!, caps) !== undefined);
      const bases = [0, 1, 2].map((k) => generateValid(caps, Rng.derive(11, k)).entry);
      fc.assert(
        fc.property(
          fc.nat(2),
          fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }),
          (k, [smmEntry, ia32eGuest, hass, smiBlocking, inSmm, ia32e, dual]) => {
            const base = bases[k]!;
            const v = base.vmcs.clone();
            bit(v, "VM_ENTRY_CONTROLS", 1 << 10, smmEntry!);
            bit(v, "VM_ENTRY_CONTROLS", 1 << 9, ia32eGuest!);
            bit(v, "VM_EXIT_CONTROLS", 1 << 9, hass!);
            bit(v, "GUEST_INTERRUPTIBILITY_INFO", 1 << 2, smiBlocking!);
            const proc = { ...base.processor, inSmm: inSmm!, ia32e: ia32e!, dualMonitorActive: dual! };
            const ctx = new Ctx(v, caps, proc, base.memory);
            for (const id of proved) {
              if (!fails(checkById(id)!, ctx)) continue;
              failing++;
              const others = coFailing(checkById(id)!, caps)!;
              expect(
                others.some((o) => fails(checkById(o)!, ctx)),
                `${name}: ${id} fails alone`,
              ).toBe(true);
            }
          },
        ),
        { numRuns: runs(60), seed: 4 },
      );
    }
    expect(failing).toBeGreaterThan(50);
  });

  it("reads negations and comparisons of the rules' sources: the same condition written apart is proved alike", () => {
    const rule = (fail: string) =>
      ({ id: "test.rule", parts: { when: "!c.proc_.inSmm", fail } }) as unknown as Check;
    expect(coFailing(rule("(c.entry & 1024) !== 0"), skylake)).toEqual(PROVED["ctl.entry.smm-outside-smm"]);
    expect(coFailing(rule("!((c.entry & 1024) === 0)"), skylake)).toEqual(
      PROVED["ctl.entry.smm-outside-smm"],
    );
    // "deactivate dual-monitor treatment" (bit 11) outside SMM is the very condition of another rule
    expect(coFailing(rule("(c.entry & 2048) !== 0"), skylake)).toEqual([
      "ctl.entry.deactivate-dual-monitor-outside-smm",
    ]);
    // "load debug controls" (bit 2) outside SMM: legal, nothing to prove from
    expect(coFailing(rule("(c.entry & 4) !== 0"), skylake)).toBeUndefined();
    // `a && b || c` is `(a && b) || c`: not the conjuncts a and `b || c` (its case c fails with nothing else)
    expect(
      coFailing(rule("(c.entry & 1024) !== 0 && v[7]/*X*/ === 0 || v[8]/*Y*/ === 0"), skylake),
    ).toBeUndefined();
  });

  it("settle the search at its first hit without a capability rule: the answer of the full search", () => {
    for (const id of Object.keys(PROVED)) {
      const quick = new ViolationSearch(skylake).find(id);
      expect(quick.status).toBe("not-alone");
      expect(quick.evals).toBeLessThan(100);
      expect(quick.reason).toBe(
        `the rule fails only together with others (every state failing it fails one of ${PROVED[id]!.join(", ")} too)`,
      );
      expect(new ViolationSearch(skylake, 7, { proofs: false }).find(id).status).toBe("not-alone");
    }
  });
});

describe("VM entries that return from SMM as search starts", () => {
  const ids = (e: Parameters<typeof runEntry>[0]) => runEntry(e).violations.map((v) => v.id);

  it("violate each executive-VMCS rule alone on a profile with the dual-monitor treatment", () => {
    const search = violationSearch(skylake);
    for (const id of [
      "smm.executive-vmcs-ptr-aligned",
      "smm.executive-vmcs-ptr-width",
      "smm.executive-vmcs-revision",
      "smm.executive-vmcs-launched",
      "smm.deactivate-needs-vmxon-ptr",
      "smm.root-return-event",
      "smm.root-return-not-wait-for-sipi",
      "guest.link-pointer.executive-vmcs",
    ]) {
      expect(search.find(id).status, id).toBe("violated");
      const e = search.violate(id)!;
      expect(e.processor.inSmm && e.processor.dualMonitorActive, id).toBe(true);
      const back = parseEntry(JSON.parse(JSON.stringify(serializeGenerated(e))));
      expect(ids(back), id).toEqual([id]);
    }
  });

  it("keep their results through the disk cache (an SMM start is found again by its index)", () => {
    const search = violationSearch(skylake);
    const id = "smm.executive-vmcs-revision";
    expect(search.find(id).status).toBe("violated");
    const [r] = search.exportResults().filter((x) => x.id === id);
    // after the pool and the 240 extended states
    expect(r!.base).toBeGreaterThanOrEqual(search.pool.length + 240);
    const fresh = new ViolationSearch(skylake);
    expect(fresh.importResults(JSON.parse(JSON.stringify([r])))).toBe(1);
    expect(fresh.violate(id)!.processor.inSmm).toBe(true);
  });

  it("are not made on a profile without it", () => {
    const kvm = builtinProfile("kvm-nested");
    expect(kvm.dualMonitor).toBe(false);
    expect(violationSearch(kvm).find("smm.executive-vmcs-ptr-aligned").status).toBe("not-applicable");
  });
});
