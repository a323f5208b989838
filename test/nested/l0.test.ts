/**
 * L0's emulation of VMLAUNCH/VMRESUME step by step, as users read it in `nvmx nested` reports: the VM-entry
 * MSR-load list in software, the host state restored after the dry run (and the L0 bugs that break it), the
 * order the processor checks controls and host state in, the tracepoint lines and the trace.
 */
import { describe, expect, it } from "vitest";
import { F } from "../../src/arch/fields.js";
import type { Entry } from "../../src/entry/document.js";
import type { KernelId } from "../../src/nested/kernel.js";
import { run, vmcs12 } from "./helpers.js";

const AREA = 0x30000;

/** vmcs12 with a VM-entry MSR-load list of [index, reserved dword, value] entries at `addr`. */
function withMsrs(kernel: KernelId, list: [number, number, bigint][], addr = AREA): Entry {
  return vmcs12(kernel, (e) => {
    list.forEach(([index, reserved, value], i) => {
      e.memory.write32(addr + 16 * i, index);
      e.memory.write32(addr + 16 * i + 4, reserved);
      e.memory.write64(addr + 16 * i + 8, value);
    });
    e.vmcs.set(F.VM_ENTRY_MSR_LOAD_ADDR!, BigInt(addr));
    e.vmcs.set(F.VM_ENTRY_MSR_LOAD_COUNT!, BigInt(list.length));
  });
}

const steps = (r: { trace: { phase: string; what: string }[] }, phase: string) =>
  r.trace.filter((s) => s.phase === phase).map((s) => s.what);

// v6.19 arch/x86/kvm/vmx/nested.c: nested_vmx_load_msr (1000–1030) reads and checks the list entry by entry and
// stops at the first entry that fails (exit 34 with its 1-based index); the checks of one entry are the CC()s of
// nested_vmx_load_msr_check / nested_vmx_msr_check_common (960–975), each printing its
// kvm_nested_vmenter_failed line.
describe("the VM-entry MSR-load list in software (SDM 29.4; v6.19 nested_vmx_load_msr)", () => {
  it("the tracepoint is the CC() of the first failing entry, not of the first check that fails some later entry", () => {
    // entry 1 loads FS_BASE (SDM 29.4: not loadable from the list), entry 2 has its reserved dword set
    const r = run(
      "v6.19",
      withMsrs("v6.19", [
        [0xc0000100, 0, 0n],
        [0x175, 1, 0x20n],
      ]),
    );
    expect(r.toL1).toEqual({ type: "vmexit", reason: 34, qualification: 1 });
    expect(r.tracepoint).toEqual(["kvm_nested_vmenter_failed: e->index == MSR_FS_BASE"]);
    const r2 = run(
      "v6.19",
      withMsrs("v6.19", [
        [0x174, 0, 0x10n],
        [0x175, 1, 0x20n],
        [0xc0000100, 0, 0n],
      ]),
    );
    expect(r2.toL1).toEqual({ type: "vmexit", reason: 34, qualification: 2 });
    expect(r2.tracepoint).toEqual(["kvm_nested_vmenter_failed: e->reserved != 0"]);
  });
  it("KVM's own refusal of IA32_BIOS_SIGN_ID (0x8b) prints its CC() too", () => {
    const r = run(
      "v6.19",
      withMsrs("v6.19", [
        [0x174, 0, 0x10n],
        [0x8b, 0, 0n],
      ]),
    );
    expect(r.toL1).toEqual({ type: "vmexit", reason: 34, qualification: 2 });
    expect(r.tracepoint).toEqual(["kvm_nested_vmenter_failed: e->index == MSR_IA32_UCODE_REV"]);
    // the SDM allows loading it: a processor may enter, so L1 is told of a failure the architecture need not give
    expect(r.detection).toBe("false-failure");
    expect(r.msrsLoaded).toEqual([{ index: 0x174, value: 0x10n }]);
  });
  it("an entry outside L1's memory fails where KVM cannot read it, without a tracepoint (a plain read error)", () => {
    const top = 2 ** 30;
    const r = run(
      "v6.19",
      withMsrs(
        "v6.19",
        [
          [0x174, 0, 0x10n],
          [0x175, 0, 0x20n],
        ],
        top - 16,
      ),
      {
        l1RamBytes: top,
      },
    );
    expect(r.toL1).toEqual({ type: "vmexit", reason: 34, qualification: 2 });
    expect(r.tracepoint).toEqual([]);
    expect(r.divergence?.id).toBe("msr-load-unbacked");
    expect(r.msrsLoaded).toEqual([{ index: 0x174, value: 0x10n }]);
  });
});
