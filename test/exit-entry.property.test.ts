/**
 * Property tests for the event-injection checks (SDM 29.2.1.3) and the MSR-area arithmetic (29.2.1.2/29.2.1.3):
 * the checks' verdicts are compared with an independent, straightforward reading of the SDM rules over the
 * whole value space of the injected-event identification field, error code and instruction length.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import entryControlsSection from "../src/checks/entry-controls.js";

const entryControlsChecks = entryControlsSection.checks;

import exitControlsSection from "../src/checks/exit-controls.js";

const exitControlsChecks = exitControlsSection.checks;

import type { Caps } from "../src/cpu/profile.js";
import { failingChecks } from "../src/entry/evaluate.js";
import { contextOf } from "../src/entry/run.js";
import { profileAll, runs, state } from "./helpers.js";

interface CpuOpts {
  mtf: boolean;
  anyErrorCode: boolean;
  nestedException: boolean;
  zeroLength: boolean;
}

const capsCache = new Map<string, Caps>();
function capsFor(o: CpuOpts): Caps {
  const key = JSON.stringify(o);
  let caps = capsCache.get(key);
  if (!caps) {
    caps = profileAll((d) => {
      // IA32_VMX_BASIC: bit 56 (any error code) and bit 58 (nested exception) on top of the test profile.
      let basic = BigInt(d.msrs.IA32_VMX_BASIC!) & ~((1n << 56n) | (1n << 58n));
      if (o.anyErrorCode) basic |= 1n << 56n;
      if (o.nestedException) basic |= 1n << 58n;
      d.msrs.IA32_VMX_BASIC = `0x${basic.toString(16)}`;
      if (!o.mtf) {
        d.msrs.IA32_VMX_PROCBASED_CTLS = "0xf7fffffe0401e172";
        d.msrs.IA32_VMX_TRUE_PROCBASED_CTLS = "0xf7fffffe04006172";
      }
      if (!o.zeroLength) d.msrs.IA32_VMX_MISC = "0x3004c1e5";
    });
    capsCache.set(key, caps);
  }
  return caps;
}

interface EventCase {
  cpu: CpuOpts;
  info: number;
  err: number;
  len: number;
  unrestricted: boolean;
  pe: boolean;
  ia32e: boolean;
  cr4Fred: boolean;
}

/** The SDM rules of 29.2.1.3 for event injection, written out plainly (ids without the `ctl.event.` prefix). */
function expectedViolations(k: EventCase): string[] {
  const out: string[] = [];
  const valid = k.info >= 0x80000000;
  if (!valid) return out;
  const type = Math.floor(k.info / 256) % 8;
  const vector = k.info % 256;
  const deliver = Math.floor(k.info / 2048) % 2 === 1;
  const nested = Math.floor(k.info / 8192) % 2 === 1;
  const fred = k.ia32e && k.cr4Fred;
  const protectedMode = !k.unrestricted || k.pe;
  const syscallOrSysenter = vector === 1 || vector === 2;
  const software = type === 4 || type === 5 || type === 6;

  if (type === 1) out.push("type-reserved");
  if (type === 7 && !k.cpu.mtf && !(fred && syscallOrSysenter)) out.push("other-event-needs-mtf");
  if (type === 2 && vector !== 2) out.push("nmi-vector");
  if (type === 3 && vector > 31) out.push("hw-exception-vector");
  if (type === 7 && !fred && vector !== 0) out.push("other-event-vector");
  if (type === 7 && fred && vector > 2) out.push("fred-other-event-vector");

  const withCode = [8, 10, 11, 12, 13, 14, 17];
  const withoutCode = [
    0, 1, 2, 3, 4, 5, 6, 7, 9, 15, 16, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
  ];
  const consistencyRule = type === 3 && protectedMode && !k.cpu.anyErrorCode;
  if (consistencyRule && withCode.includes(vector) && !deliver) out.push("error-code-required");
  if (type !== 3 && deliver) out.push("error-code-only-hw-exception");
  if (type === 3 && !protectedMode && deliver) out.push("error-code-real-mode");
  if (consistencyRule && withoutCode.includes(vector) && deliver) out.push("error-code-not-expected");

  // bits 30:14 and 12 reserved; bit 13 handled by the nested-exception rules
  for (let b = 12; b <= 30; b++)
    if (b !== 13 && Math.floor(k.info / 2 ** b) % 2 === 1) {
      out.push("reserved-bits");
      break;
    }
  if (nested && !k.cpu.nestedException) out.push("nested-exception-unsupported");
  if (nested && k.cpu.nestedException && type !== 3) out.push("nested-exception-type");
  if (deliver && k.err > 0xffff) out.push("error-code-reserved");
  if (software && k.len > 15) out.push("instruction-length-max");
  if (software && k.len === 0 && !k.cpu.zeroLength) out.push("instruction-length-zero");
  if (type === 7 && fred && syscallOrSysenter && k.len > 15) out.push("fred-instruction-length");
  return out.sort();
}

function actualViolations(k: EventCase): string[] {
  const e = state(capsFor(k.cpu), {
    vmcs: {
      VM_ENTRY_INTR_INFO_FIELD: k.info,
      VM_ENTRY_EXCEPTION_ERROR_CODE: k.err,
      VM_ENTRY_INSTRUCTION_LEN: k.len,
      SECONDARY_VM_EXEC_CONTROL: (old) => (k.unrestricted ? old | (1n << 7n) : old & ~(1n << 7n)),
      GUEST_CR0: (old) => (k.pe ? old | 1n : old & ~1n),
      GUEST_CR4: (old) => (k.cr4Fred ? old | (1n << 32n) : old & ~(1n << 32n)),
      VM_ENTRY_CONTROLS: (old) => (k.ia32e ? old | (1n << 9n) : old & ~(1n << 9n)),
    },
  });
  return failingChecks(contextOf(e), entryControlsChecks)
    .map((c) => c.id)
    .filter((id) => id.startsWith("ctl.event."))
    .map((id) => id.slice("ctl.event.".length))
    .sort();
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const vectorArb = fc.oneof(fc.integer({ min: 0, max: 33 }), fc.constantFrom(127, 128, 254, 255));
const infoArb = fc
  .record({
    valid: fc.boolean(),
    type: fc.integer({ min: 0, max: 7 }),
    vector: vectorArb,
    deliver: fc.boolean(),
    bit12: fc.boolean(),
    bit13: fc.boolean(),
    high: fc.oneof(
      { weight: 5, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x1ffff }) },
    ),
  })
  .map(
    (r) =>
      ((r.valid ? 0x80000000 : 0) |
        (r.high << 14) |
        (r.bit13 ? 1 << 13 : 0) |
        (r.bit12 ? 1 << 12 : 0) |
        (r.deliver ? 1 << 11 : 0) |
        (r.type << 8) |
        r.vector) >>>
      0,
  );
const eventCase: fc.Arbitrary<EventCase> = fc.record({
  cpu: fc.record({
    mtf: fc.boolean(),
    anyErrorCode: fc.boolean(),
    nestedException: fc.boolean(),
    zeroLength: fc.boolean(),
  }),
  info: fc.oneof({ weight: 6, arbitrary: infoArb }, { weight: 1, arbitrary: u32 }),
  err: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0xffff, max: 0x10001 }), u32),
  len: fc.oneof(fc.integer({ min: 0, max: 17 }), u32),
  unrestricted: fc.boolean(),
  pe: fc.boolean(),
  ia32e: fc.boolean(),
  cr4Fred: fc.boolean(),
});

describe("event injection (SDM 29.2.1.3)", () => {
  it("the checks agree with a plain reading of the SDM rules", () => {
    fc.assert(
      fc.property(eventCase, (k) => {
        expect(actualViolations(k)).toEqual(expectedViolations(k));
      }),
      { numRuns: runs(3000) },
    );
  });

  it("a valid hardware exception with the architectural error-code setting is accepted", () => {
    const cpu = { mtf: true, anyErrorCode: false, nestedException: true, zeroLength: true };
    for (let v = 0; v < 32; v++) {
      const withCode = [8, 10, 11, 12, 13, 14, 17].includes(v);
      const k: EventCase = {
        cpu,
        info: (0x80000300 | v | (withCode ? 0x800 : 0)) >>> 0,
        err: 0,
        len: 0,
        unrestricted: false,
        pe: true,
        ia32e: true,
        cr4Fred: false,
      };
      expect(actualViolations(k), `vector ${v}`).toEqual([]);
    }
  });
});

describe("MSR-area last byte (SDM 29.2.1.2, 29.2.1.3)", () => {
  const caps = profileAll();
  const limit = 1n << BigInt(caps.maxPhysAddr);
  it("matches a BigInt computation of address + count·16 − 1 against MAXPHYADDR", () => {
    const addr = fc.oneof(
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.bigInt({ min: limit - (1n << 37n), max: limit }),
    );
    fc.assert(
      fc.property(addr, u32, (a, n) => {
        const aligned = a & ~0xfn;
        fc.pre(n !== 0);
        const e = state(caps, { vmcs: { VM_EXIT_MSR_STORE_ADDR: aligned, VM_EXIT_MSR_STORE_COUNT: n } });
        const ids = failingChecks(contextOf(e), exitControlsChecks).map((c) => c.id);
        const startBeyond = aligned >= limit;
        const endBeyond = aligned + BigInt(n) * 16n - 1n >= limit;
        expect(ids.includes("ctl.exit.msr-store-addr-width")).toBe(startBeyond);
        expect(ids.includes("ctl.exit.msr-store-area-end-width")).toBe(!startBeyond && endBeyond);
      }),
      { numRuns: runs(1000) },
    );
  });
});
