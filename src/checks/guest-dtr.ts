/**
 * SDM 29.3.1.3 "Checks on Guest Descriptor-Table Registers": GDTR and IDTR. Failures are VM exits with
 * reason 33, qualification 0. The base checks apply on processors that support Intel 64 architecture,
 * which nvmx always models; "canonical" is relative to the processor's linear-address width (48 or 57),
 * not to the guest's CR4.LA57.
 */
import { section } from "./rule.js";
import * as util from "./util.js";

// biome-ignore lint/security/noGlobalEval: the compiler resolves predicates' names in this module (compile.ts).
const scope = (name: string): unknown => eval(name);

// Short local names (predicates name decoders as they are registered; see src/checks/compile.ts).
const { canonical, notCanonical, show } = util;

const { rule, checks } = section({
  scope,
  sdm: "29.3.1.3",
  title: "Guest descriptor-table registers",
  cls: "guest",
});

const DTR = [
  { reg: "GDTR", base: "GUEST_GDTR_BASE", limit: "GUEST_GDTR_LIMIT", items: ["D1", "D3"] },
  { reg: "IDTR", base: "GUEST_IDTR_BASE", limit: "GUEST_IDTR_LIMIT", items: ["D2", "D4"] },
] as const;

export default checks([
  DTR.map(({ reg, base, items }) =>
    rule({
      id: `guest.${reg.toLowerCase()}.base-canonical`,
      rule: `The guest ${reg} base must be canonical`,
      checklist: [items[0]],
      p: { base },
      fail: (s, p) => !canonical(s, s.hi[p.base]),
      message: (s) => `${show(s, base)} ${notCanonical(s)}`,
    }),
  ),
  DTR.map(({ reg, limit, items }) =>
    rule({
      id: `guest.${reg.toLowerCase()}.limit-high-bits`,
      rule: `Bits 31:16 of the guest ${reg} limit must be 0`,
      checklist: [items[1]],
      p: { limit },
      fail: (s, p) => s[p.limit] >>> 16,
      message: (s, high) =>
        `${show(s, limit)} has bits 31:16 = 0x${high.toString(16)}; ${reg} limits are 16 bits wide, so the field must be at most 0xffff`,
    }),
  ),
]);
