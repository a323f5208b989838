/**
 * Messages print 64-bit values whole (issue 20 item 4): an address above 4 GiB shows every hex digit, in
 * the MSR-load entries, the SMM pointers, table ends and the VMX fixed-bit MSRs.
 */
import { describe, expect, it } from "vitest";
import { hex } from "../../src/util/u64.js";
import { type Patch, profileAll, run } from "../helpers.js";

const EFER = 0xc0000080;
const LSTAR = 0xc0000082;
const FS_BASE = 0xc0000100;

/** VM-entry MSR-load entries at `area`. */
function msrs(area: number, ...entries: [index: number, value: bigint][]): Patch {
  const memory: Record<number, bigint> = {};
  entries.forEach(([index, value], i) => {
    memory[area + 16 * i] = BigInt(index);
    memory[area + 16 * i + 8] = value;
  });
  return { vmcs: { VM_ENTRY_MSR_LOAD_ADDR: BigInt(area), VM_ENTRY_MSR_LOAD_COUNT: entries.length }, memory };
}

function messages(...patches: Patch[]): Record<string, string> {
  const r = run(profileAll(), ...patches);
  return Object.fromEntries(r.violations.map((v) => [v.id, v.message]));
}

describe("64-bit values in messages", () => {
  it("hex() keeps every digit of a number above 2^32 and shows a negative one as its 32-bit pattern", () => {
    expect(hex(0x2bcd12345690)).toBe("0x2bcd12345690");
    expect(hex(-1)).toBe("0xffffffff");
    expect(hex(0xffffffffn << 32n)).toBe("0xffffffff00000000");
  });

  it("an MSR-load entry in an area above 4 GiB is named at its full address", () => {
    const area = 0x2bcd12345670; // MAXPHYADDR 46 on the test profile
    const m = messages(msrs(area, [EFER, 0xd01n], [LSTAR, 0xffffffff81000000n], [FS_BASE, 0x7f0000000000n]));
    expect(Object.keys(m)).toEqual(["msr-load.fs-gs-base"]);
    expect(m["msr-load.fs-gs-base"]).toBe(
      "VM-entry MSR-load entry 3 of 3 at 0x2bcd12345690 (MSR index 0xc0000100, value 0x7f0000000000): IA32_FS_BASE and IA32_GS_BASE cannot be loaded from an MSR-load area; the FS and GS base fields of the VMCS load them; VM entry fails with exit reason 34, qualification 3 (unless an earlier entry fails first)",
    );
  });

  it("the last byte of an MSR-load area past the physical-address width is shown whole", () => {
    const m = messages(msrs(0x3ffffffffff0, [EFER, 0xd01n], [EFER, 0xd01n]));
    expect(m).toEqual({
      "ctl.entry.msr-load-area-end-width":
        "the VM-entry MSR-load area at VM_ENTRY_MSR_LOAD_ADDR=0x3ffffffffff0 with VM_ENTRY_MSR_LOAD_COUNT=2 (16 bytes each) ends at 0x40000000000f, beyond the physical-address width: bits 63:46 must be 0 (MAXPHYADDR 46)",
    });
  });

  // A VM entry that returns from SMM (dual-monitor treatment), executive VMCS and VMXON region above 4 GiB.
  const EXEC = 0x100040000;
  const VMXON = 0x123456000;
  const smm = (launch: "launched" | "clear", vmcs: Patch["vmcs"] = {}): Patch => ({
    processor: {
      inSmm: true,
      dualMonitorActive: true,
      vmxonPointer: VMXON,
      executiveVmcsLaunchState: launch,
    },
    vmcs: { EXECUTIVE_VMCS_POINTER: BigInt(EXEC), ...vmcs },
    memory: { [EXEC]: 4n, [VMXON]: 4n },
  });

  it("the SMM checks name the VMXON pointer above 4 GiB whole", () => {
    expect(messages(smm("clear"))).toEqual({
      "smm.executive-vmcs-launched":
        "the executive VMCS at EXECUTIVE_VMCS_POINTER=0x100040000 (not the VMXON pointer 0x123456000) has launch state clear (processor.executiveVmcsLaunchState): VMfailValid, error 17 (VM entry with non-launched executive VMCS)",
    });
    expect(messages(smm("launched", { VM_ENTRY_CONTROLS: (old) => old | (1n << 11n) }))).toEqual({
      "smm.deactivate-needs-vmxon-ptr":
        '"deactivate dual-monitor treatment" is 1 but EXECUTIVE_VMCS_POINTER=0x100040000 is not the VMXON pointer 0x123456000 (processor.vmxonPointer): VMfailValid, error 18 (executive-VMCS pointer not VMXON pointer)',
    });
  });

  it("the host CR0 fixed-bit message shows IA32_VMX_CR0_FIXED1 whole", () => {
    const caps = profileAll((d) => {
      d.msrs!.IA32_VMX_CR0_FIXED1 = "0x1ffffffff";
    });
    const r = run(caps, { vmcs: { HOST_CR0: (old) => old | (1n << 33n) } });
    const m = r.violations.find((v) => v.id === "host.cr0.fixed-bits")?.message;
    expect(m).toMatch(/FIXED1=0x1ffffffff\)/);
  });
});
