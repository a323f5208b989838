/**
 * The line scanner both VMCS dump formats share (src/formats/dump-grammar.ts `scanLine`): each line below as
 * KVM's dump_vmcs() (arch/x86/kvm/vmx/vmx.c, v4.x–v6.x) or Xen's vmcs_dump_vcpu() (xen/arch/x86/hvm/vmx/vmcs.c)
 * prints it, whole, cut off at the end (a wrapped or truncated line), or damaged, with what the scanner reads
 * from it pinned: the state (complete / prefix = cut off / bad = not this grammar), the label, every
 * `key=value` with its judgement (`?`: a key the grammar lacks, `!short`: fewer digits than the format prints,
 * `!not-hex`), the flags in parentheses and the labelled keys missing. Lines are as the reader passes them:
 * the log prefix stripped and white space collapsed.
 */
import { describe, expect, it } from "vitest";
import { type LineParse, type Section, scanLine } from "../../src/formats/dump-grammar.js";
import { KVM_KEYS } from "../../src/formats/kvm-dump-grammar.js";
import { XEN_KEYS } from "../../src/formats/xen-dump-grammar.js";

function show(r: LineParse): string {
  const pairs = r.pairs
    .map((p) => `${p.key}=${p.value}${p.def ? "" : "?"}${p.bad ? `!${p.bad}` : ""}`)
    .join(" ");
  const label = r.label !== undefined ? ` [${r.label}]` : "";
  const flags = r.flags.length ? ` | flags ${r.flags.join(",")}` : "";
  const missing = r.missing.length ? ` | missing ${r.missing.join(",")}` : "";
  return `${r.state}${label} | ${pairs}${flags}${missing}`;
}

const ROWS: [string, "kvm" | "xen", Section, string][] = [
  // labelled lines: with or without the label's colon (a key of the group follows), cut before their last keys
  [
    "CS: sel=0x0010, attr=0x0a09b, limit=0xffffffff, base=0x0000000000000000",
    "kvm",
    "guest",
    "complete [cs] | sel=0x0010 attr=0x0a09b limit=0xffffffff base=0x0000000000000000",
  ],
  [
    "CS sel=0x0010, attr=0x0a09b, limit=0xffffffff, base=0x0000000000000000",
    "kvm",
    "guest",
    "complete [cs] | sel=0x0010 attr=0x0a09b limit=0xffffffff base=0x0000000000000000",
  ],
  [
    "GDTR: limit=0x00000057, base=0xfffff8024e652fb0",
    "kvm",
    "guest",
    "complete [gdtr] | limit=0x00000057 base=0xfffff8024e652fb0",
  ],
  [
    "CR0: actual=0x0000000080050031, shadow=0x0000000080050031, gh_mask=ffffffffffffffff",
    "kvm",
    "guest",
    "complete [cr0] | actual=0x0000000080050031 shadow=0x0000000080050031 gh_mask=ffffffffffffffff",
  ],
  [
    "VMEntry: intr_info=80000501 errcode=00000000 ilen=00000001",
    "kvm",
    "control",
    "complete [vmentry] | intr_info=80000501 errcode=00000000 ilen=00000001",
  ],
  [
    "VMEntry intr_info=80000501 errcode=00000000 ilen=00000001",
    "kvm",
    "control",
    "complete [vmentry] | intr_info=80000501 errcode=00000000 ilen=00000001",
  ],
  [
    "IDTVectoring: info=00000000 errcode=00000000",
    "kvm",
    "control",
    "complete [idtvectoring] | info=00000000 errcode=00000000",
  ],
  // unlabelled host lines ("CR0=…" is a key, not a label)
  [
    "CR0=0000000080050033 CR3=00000001226c8004 CR4=00000000001726e0",
    "kvm",
    "host",
    "complete | cr0=0000000080050033 cr3=00000001226c8004 cr4=00000000001726e0",
  ],
  [
    "CS=0010 SS=0018 DS=0000 ES=0000 FS=0000 GS=0000 TR=0040",
    "kvm",
    "host",
    "complete | cs=0010 ss=0018 ds=0000 es=0000 fs=0000 gs=0000 tr=0040",
  ],
  // a line cut off, a value with fewer digits than the format prints, a value that is not hex
  [
    "CS: sel=0x0010, attr=0x0a09b,",
    "kvm",
    "guest",
    "prefix [cs] | sel=0x0010 attr=0x0a09b | missing limit,base",
  ],
  ["CS:", "kvm", "guest", "bad | "],
  [
    "CS: sel=0x0010, attr=0x0a09b, limit=0xffffffff, base=0x00000000",
    "kvm",
    "guest",
    "prefix [cs] | sel=0x0010 attr=0x0a09b limit=0xffffffff base=0x00000000!short",
  ],
  ["CR3 = 0x1000", "kvm", "guest", "prefix | cr3=0x1000!short"],
  [
    "CR3 = 0x1000 RSP = 0xffff898cacda2c90",
    "kvm",
    "guest",
    "complete | cr3=0x1000!short rsp=0xffff898cacda2c90",
  ],
  ["CR3 = 0x000000013cbf400g", "kvm", "guest", "complete | cr3=0x000000013cbf400g!not-hex"],
  ["CR3 = 0x13cbf4002-1", "kvm", "guest", "complete | cr3=0x13cbf4002!not-hex"],
  ["CR3 = 0x0000000013cbf40021", "kvm", "guest", "complete | cr3=0x0000000013cbf40021!not-hex"],
  ["CR3 =", "kvm", "guest", "bad | "],
  ["CR3 = , RIP = 0x0000000000008000", "kvm", "guest", "bad | rip=0x0000000000008000"],
  ["RSP = 0xffff898cacda2c90 RIP", "kvm", "guest", "prefix | rsp=0xffff898cacda2c90"],
  ["RSP = 0xffff898cacda2c90 Hello", "kvm", "guest", "bad | rsp=0xffff898cacda2c90"],
  ["TSC Offset = 0xff96fad07396b5f8 TSC", "kvm", "control", "prefix | tsc offset=0xff96fad07396b5f8"],
  [
    "TSC Offset = 0xff96fad07396b5f8 TSC Multiplier",
    "kvm",
    "control",
    "prefix | tsc offset=0xff96fad07396b5f8",
  ],
  ["TSC Offset = 0xff96fad07396b5f8 Foo", "kvm", "control", "bad | tsc offset=0xff96fad07396b5f8"],
  // the compound values: SYSENTER CS:RIP (4 and 16 digits), SVI|RVI (2 and 2)
  [
    "Sysenter RSP=0000000000000000 CS:RIP=0000:0000000000000000",
    "kvm",
    "guest",
    "complete | sysenter rsp=0000000000000000 cs:rip=0000:0000000000000000",
  ],
  [
    "Sysenter RSP=0000000000000000 CS:RIP=00:0000000000000000",
    "kvm",
    "guest",
    "prefix | sysenter rsp=0000000000000000 cs:rip=00:0000000000000000!short",
  ],
  [
    "Sysenter RSP=0000000000000000 CS:RIP=0000:00000000",
    "kvm",
    "guest",
    "prefix | sysenter rsp=0000000000000000 cs:rip=0000:00000000!short",
  ],
  [
    "Sysenter RSP=0000000000000000 CS:RIP=0000",
    "kvm",
    "guest",
    "prefix | sysenter rsp=0000000000000000 cs:rip=0000!short",
  ],
  [
    "Sysenter RSP=0000000000000000 CS:RIP=0000:0000:0000",
    "kvm",
    "guest",
    "complete | sysenter rsp=0000000000000000 cs:rip=0000:0000:0000!not-hex",
  ],
  [
    "Sysenter RSP=0000000000000000 CS:RIP=0000:00000000000000000",
    "kvm",
    "guest",
    "complete | sysenter rsp=0000000000000000 cs:rip=0000:00000000000000000!not-hex",
  ],
  [
    "Sysenter RSP=0000000000000000 CS:RIP=00g0:0000000000000000",
    "kvm",
    "guest",
    "complete | sysenter rsp=0000000000000000 cs:rip=00g0:0000000000000000!not-hex",
  ],
  [
    "Sysenter RSP=0000000000000000 CS:RIP=00g0:00000000",
    "kvm",
    "guest",
    "complete | sysenter rsp=0000000000000000 cs:rip=00g0:00000000!not-hex",
  ],
  ["SVI|RVI = 00|2f TPR Threshold = 0x00", "kvm", "control", "complete | svi|rvi=00|2f tpr threshold=0x00"],
  [
    "SVI|RVI = 0|2f TPR Threshold = 0x00",
    "kvm",
    "control",
    "complete | svi|rvi=0|2f!short tpr threshold=0x00",
  ],
  [
    "SVI|RVI = 00|2 TPR Threshold = 0x00",
    "kvm",
    "control",
    "complete | svi|rvi=00|2!short tpr threshold=0x00",
  ],
  [
    "SVI|RVI = 002f TPR Threshold = 0x00",
    "kvm",
    "control",
    "complete | svi|rvi=002f!short tpr threshold=0x00",
  ],
  // words in parentheses: KVM's (effective)/(autoload), Xen's EFER(VMCS)/(MSR LL), a symbol or saved register
  [
    "EFER= 0x0000000000000500 (effective)",
    "kvm",
    "guest",
    "complete | efer=0x0000000000000500 | flags effective",
  ],
  [
    "EFER= 0x0000000000000d01 (autoload)",
    "kvm",
    "guest",
    "complete | efer=0x0000000000000d01 | flags autoload",
  ],
  [
    "EFER(VMCS) = 0x0000000000000d01 PAT = 0x0007010600070106",
    "xen",
    "guest",
    "complete | efer=0x0000000000000d01 pat=0x0007010600070106 | flags vmcs",
  ],
  [
    "EFER(MSR LL) = 0x0000000000000d01 PAT = 0x0007010600070106",
    "xen",
    "guest",
    "complete | efer=0x0000000000000d01 pat=0x0007010600070106 | flags msr ll",
  ],
  ["EFER(VMCS = 0x0000000000000d01", "xen", "guest", "bad | "],
  ["EFER(VMC", "xen", "guest", "bad | "],
  ["Hello(world", "xen", "guest", "bad | "],
  [
    "RIP = 0xffff82d080341950 (vmx_asm_vmexit_handler) RSP = 0xffff83083ff0ff70",
    "xen",
    "host",
    "complete | rip=0xffff82d080341950 rsp=0xffff83083ff0ff70",
  ],
  ["RIP = 0xffff82d080341950 (vmx_asm_vmexit_handler", "xen", "host", "prefix | rip=0xffff82d080341950"],
  [
    "RSP = 0xffff8c0f4dd71e98 (0xffff8c0f4dd71e98) RIP = 0xffffd18a040bb75e (0xffffd18a040bb75e)",
    "xen",
    "guest",
    "complete | rsp=0xffff8c0f4dd71e98 rip=0xffffd18a040bb75e",
  ],
  ["the value was nothing", "kvm", "guest", "bad | "],
  ["CS: sel=0x0010, attr(VMC", "kvm", "guest", "prefix [cs] | sel=0x0010 | missing attr,limit,base"],
  ["EFER(XYZ) = 0x0000000000000d01", "xen", "guest", "complete | efer=0x0000000000000d01"],
  ["RIP = 0xffff82d080341950(vmx_asm_vmexit_handler)", "xen", "host", "complete | rip=0xffff82d080341950"],
  // lines that are not this grammar's
  ["Foo=0x1", "kvm", "guest", "bad | foo=0x1?"],
  [
    "CR3 = 0x000000013cbf4002; RSP = 0xffff898cacda2c90",
    "kvm",
    "guest",
    "complete | cr3=0x000000013cbf4002 rsp=0xffff898cacda2c90",
  ],
  [
    "RFLAGS=0x00000002 DR7 = 0x0000000000000400",
    "kvm",
    "guest",
    "complete | rflags=0x00000002 dr7=0x0000000000000400",
  ],
  ["kvm [4321]: vcpu1, guest rIP: 0xffffffff8105e1b6 ignored rdmsr: 0x1a0", "kvm", "guest", "bad | "],
  [
    "TSC Offset ; TSC Multiplier = 0x0001000000000000",
    "kvm",
    "control",
    "bad | tsc multiplier=0x0001000000000000",
  ],
  // unknown keys are read whole (the dump's note names them)
  ["Zz9=0x1 Az_0=2", "kvm", "guest", "bad | zz9=0x1? az_0=2?"],
  // separators, digit counts, case, 0x
  [
    "RFLAGS=0x0000002 DR7 = 0x0000000000000400",
    "kvm",
    "guest",
    "complete | rflags=0x0000002!short dr7=0x0000000000000400",
  ],
  [
    "Interruptibility = 00000009 ActivityState = 00000000",
    "kvm",
    "guest",
    "complete | interruptibility=00000009 activitystate=00000000",
  ],
  ["CR3 = 0X000000013CBF4002", "kvm", "guest", "complete | cr3=0X000000013CBF4002"],
  ["CR3 = 0X00000000001AA002", "kvm", "guest", "complete | cr3=0X00000000001AA002"],
  ["CR3 = 0x", "kvm", "guest", "complete | cr3=0x!not-hex"],
  ["CR3 = 000000013cbf4002", "kvm", "guest", "complete | cr3=000000013cbf4002"],
  [
    "PreemptionTimer = 0x00000000 SM Base = 0x00000000",
    "xen",
    "guest",
    "complete | preemptiontimer=0x00000000 sm base=0x00000000",
  ],
  [
    "cr3 target0=0000000000001000 target1=0000000000002000",
    "kvm",
    "control",
    "complete | cr3 target0=0000000000001000 target1=0000000000002000",
  ],
  [
    "CR3 target0=0000000000001000 target1=0000000000002000",
    "kvm",
    "control",
    "complete | cr3 target0=0000000000001000 target1=0000000000002000",
  ],
  [
    "RSP = 0xffff898cacda2c90 , RIP = 0x0000000000008000",
    "kvm",
    "guest",
    "complete | rsp=0xffff898cacda2c90 rip=0x0000000000008000",
  ],
  ["DebugCtl = 0x0000000000000000 DebugExceptions =", "kvm", "guest", "prefix | debugctl=0x0000000000000000"],
  ["PAT = 0x0007010600070106 (", "kvm", "guest", "prefix | pat=0x0007010600070106"],
  ["CR3 = 0x000000013cbf4002 #", "kvm", "guest", "bad | cr3=0x000000013cbf4002"],
  [
    "TR: sel=0x0040, attr=0x0008b, limit=0x00000067, base=0xfffff8024e651000",
    "kvm",
    "guest",
    "complete [tr] | sel=0x0040 attr=0x0008b limit=0x00000067 base=0xfffff8024e651000",
  ],
  [
    "CR4 actual=0x0000000000002040, shadow=0x0000000000000000, gh_mask=fffffffffffef871",
    "kvm",
    "guest",
    "complete [cr4] | actual=0x0000000000002040 shadow=0x0000000000000000 gh_mask=fffffffffffef871",
  ],
  ["CR4 something=0x0000000000002040", "kvm", "guest", "bad | cr4 something=0x0000000000002040?"],
  ["CR4 =0x0000000000002040", "kvm", "guest", "bad | cr4=0x0000000000002040?"],
  // damaged values quoted as far as they are value characters; a key cut at the end of a line; a label alone
  ["CR3 = 0x000000013CBF400G", "kvm", "guest", "complete | cr3=0x000000013CBF400G!not-hex"],
  ["RFLAGS=0x0000:002", "kvm", "guest", "complete | rflags=0x0000:002!not-hex"],
  ["CR3 = 0x000000013cbf400Z", "kvm", "guest", "complete | cr3=0x000000013cbf400Z!not-hex"],
  ["CR3 = 0x000000013cbf400z", "kvm", "guest", "complete | cr3=0x000000013cbf400z!not-hex"],
  ["CR3 = 0x0000_13cbf4002", "kvm", "guest", "complete | cr3=0x0000!not-hex"],
  ["CR3 = 0x13cbf4002~", "kvm", "guest", "complete | cr3=0x13cbf4002!not-hex"],
  ["vcpu0.efer=0x500", "kvm", "guest", "bad | vcpu0.efer=0x500?"],
  ["CS: selector=0x0010", "kvm", "guest", "bad [cs] | selector=0x0010? | missing sel,attr,limit,base"],
  ["RSP = 0xffff898cacda2c90 Hello(world", "kvm", "guest", "bad | rsp=0xffff898cacda2c90"],
  ["CR3 = 0x00000000001aa002 EFER(VMC", "kvm", "guest", "prefix | cr3=0x00000000001aa002"],
  [
    "S_CET = 0x0000000000000000, SSP = 0xffffc90000004ff8,",
    "kvm",
    "guest",
    "prefix | s_cet=0x0000000000000000 ssp=0xffffc90000004ff8",
  ],
  [
    "CS: sel=0x0010, attr=0x0a09b",
    "kvm",
    "guest",
    "prefix [cs] | sel=0x0010 attr=0x0a09b | missing limit,base",
  ],
  ["CS: (unusable)", "kvm", "guest", "prefix [cs] |  | missing sel,attr,limit,base"],
  [
    "PLE Gap=00000080 Window=00020000 Virtual processor",
    "kvm",
    "control",
    "prefix | ple gap=00000080 window=00020000",
  ],
];

describe("scanLine", () => {
  for (const [line, format, section, want] of ROWS)
    it(`${format} ${section}: ${line}`, () => {
      expect(show(scanLine(line, (format === "kvm" ? KVM_KEYS : XEN_KEYS)[section]))).toBe(want);
    });
  it("a value's def is the grammar's own entry for the key (labelled keys by their label)", () => {
    const r = scanLine(
      "CS: sel=0x0010, attr=0x0a09b, limit=0xffffffff, base=0x0000000000000000",
      KVM_KEYS.guest,
    );
    expect(r.pairs.map((p) => p.def?.field)).toEqual([
      "GUEST_CS_SELECTOR",
      "GUEST_CS_AR_BYTES",
      "GUEST_CS_LIMIT",
      "GUEST_CS_BASE",
    ]);
    expect(scanLine("CS=0010 TR=0040", KVM_KEYS.host).pairs.map((p) => p.def?.field)).toEqual([
      "HOST_CS_SELECTOR",
      "HOST_TR_SELECTOR",
    ]);
  });
});
