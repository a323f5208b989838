/**
 * Decoders whose edge cases no rule reaches: the rules that use `areaEndBeyondPhys` report an area only when its
 * start is within the physical-address width, so its carry out of bit 63 is reached only by a direct call. The
 * decoder's own contract (src/checks/util.ts) still says that carry counts as beyond the width.
 */
import { describe, expect, it } from "vitest";
import { stateOf } from "../../src/checks/state.js";
import { areaEndBeyondPhys } from "../../src/checks/util.js";
import { contextOf } from "../../src/entry/run.js";
import { profileAll, state } from "../helpers.js";

describe("areaEndBeyondPhys (MAXPHYADDR 46)", () => {
  const ctx = contextOf(state(profileAll()));
  ctx.refresh();
  const s = stateOf(ctx);

  it("an area whose end wraps past 2^64 is beyond the width (the carry out of bit 63 counts)", () => {
    // 0xfffffffffffffff0 + 2·16 − 1 = 2^64 + 0xf: the wrapped end 0xf alone is within the width.
    expect(areaEndBeyondPhys(s, 0xfffffff0, 0xffffffff, 2, 16)).toBe(true);
  });

  it("the last byte is address + count·size − 1: an area ending exactly at 2^46 − 1 is within the width", () => {
    expect(areaEndBeyondPhys(s, 0xfffffff0, 0x3fff, 1, 16)).toBe(false);
    expect(areaEndBeyondPhys(s, 0xfffffff0, 0x3fff, 2, 16)).toBe(true);
    // the carry from the low half into the high half: 0x3ffe_fffffff0 + 2·16 − 1 = 0x3fff_0000000f
    expect(areaEndBeyondPhys(s, 0xfffffff0, 0x3ffe, 2, 16)).toBe(false);
  });
});
