/** What a log says the CPU reported, decoded for people (src/formats/reported.ts): every sentence pinned. */
import { describe, expect, it } from "vitest";
import { decodeHardwareError, describeReported } from "../../src/formats/reported.js";

const said = (raw: number) => describeReported(decodeHardwareError(raw, "KVM: entry failed", 3));

describe("decodeHardwareError / describeReported", () => {
  it("bit 31: a VM exit that failed VM entry, with its basic reason", () => {
    expect(decodeHardwareError(0x80000021, "s", 3)).toEqual({
      type: "vmexit",
      raw: 0x80000021,
      reason: 33,
      entryFailure: true,
      source: "s",
      line: 3,
    });
    expect(said(0x80000021)).toBe(
      "exit reason 0x80000021 = VM-entry failure (bit 31) with basic exit reason 33 (VM-entry failure due to invalid guest state)",
    );
  });

  it("a small number is the VM-instruction error of a VMfailValid", () => {
    expect(decodeHardwareError(7, "s", 1)).toEqual({
      type: "vmfail-valid",
      raw: 7,
      error: 7,
      source: "s",
      line: 1,
    });
    expect(said(7)).toBe(
      "0x7 = VM-instruction error 7 (VM entry with invalid control field(s)): VMLAUNCH/VMRESUME failed with VMfailValid",
    );
  });

  it("0xffffffff is AMD's VMEXIT_INVALID; another number is no VMX code", () => {
    expect(said(0xffffffff)).toBe(
      "0xffffffff is AMD SVM's VMEXIT_INVALID (VMRUN with invalid guest state), not an Intel VMX code",
    );
    expect(said(0x7fff)).toBe(
      "0x7fff is neither a VM-entry-failure exit reason (bit 31 clear) nor a known VM-instruction error",
    );
  });

  it("an exit reason from a dump: with its qualification, an ordinary exit, an unknown reason", () => {
    const base = { type: "vmexit", source: "s", line: 1 } as const;
    expect(
      describeReported({ ...base, raw: 0x80000022, reason: 34, entryFailure: true, qualification: 2 }),
    ).toBe(
      "exit reason 0x80000022 = VM-entry failure (bit 31) with basic exit reason 34 (VM-entry failure due to MSR loading), exit qualification 2",
    );
    expect(describeReported({ ...base, raw: 0x1e, reason: 30, entryFailure: false })).toBe(
      "exit reason 0x1e = an ordinary VM exit, basic reason 30 (I/O instruction); bit 31 is clear, so the VM entry before it succeeded",
    );
    expect(describeReported({ ...base, raw: 0x800000ff, reason: 255, entryFailure: true })).toBe(
      "exit reason 0x800000ff = VM-entry failure (bit 31) with basic exit reason 255 (unknown exit reason)",
    );
  });
});
