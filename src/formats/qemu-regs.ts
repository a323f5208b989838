/**
 * QEMU's "KVM: entry failed, hardware error 0x…" message and the register dump that follows it
 * (`x86_cpu_dump_state()` in target/i386/cpu-dump.c). It shows the guest registers as KVM_GET_SREGS returns
 * them, not the VMCS: the converter rebuilds the guest-state fields the way KVM writes them into the VMCS
 * (with unrestricted guest): access rights = (descriptor flags >> 8) & 0xf0ff, plus "unusable" (bit 16) for
 * a non-present segment, the accessed bit set except for LDTR; CR0 without CD/NW and with NE; CR4 with
 * VMXE; the shadows hold the guest's values. It has no control fields and no host state.
 */
import { InputError } from "../errors.js";
import { decodeHardwareError } from "./reported.js";
import { logLines } from "./text.js";
import { newDump, type ParsedDump } from "./types.js";

const ENTRY_FAILED = /KVM: entry failed, hardware error (0x[0-9a-f]+|\d+)/i;
const GPR = /^(?:EAX|RAX)=[0-9a-f]+ (?:EBX|RBX)=[0-9a-f]+/i;
const IP =
  /^(EIP|RIP)=([0-9a-f]+) (?:EFL|RFL)=([0-9a-f]+) \[[^\]]*\] CPL=(\d) II=(\d) A20=(\d) SMM=(\d) HLT=(\d)/i;
const SEG =
  /^(ES|CS|SS|DS|FS|GS|LDT|TR) ?=([0-9a-f]{1,4}) ([0-9a-f]{1,16}) ([0-9a-f]{1,8}) ([0-9a-f]{1,8})\b/i;
const DTR = /^(GDT|IDT)= ?([0-9a-f]{1,16}) ([0-9a-f]{1,8})\b/i;
const CRS = /^CR0=([0-9a-f]+) CR2=([0-9a-f]+) CR3=([0-9a-f]+) CR4=([0-9a-f]+)/i;
const DR7 = /\bDR7=([0-9a-f]+)/i;
const EFER_RE = /^EFER=([0-9a-f]+)/i;
const SKIP =
  /^(?:(?:[ER](?:SI|DI|BP|SP)|R\d+ ?|R1\d|CCS|FCW|FPR\d|XMM\d+|YMM\d+|ZMM\d+|Opmask\d+|DR[0-6])=|If you're running|support, the failure|state for Intel VT|which is not supported)/i;

const SEG_NAMES: Record<string, string> = {
  ES: "ES",
  CS: "CS",
  SS: "SS",
  DS: "DS",
  FS: "FS",
  GS: "GS",
  LDT: "LDTR",
  TR: "TR",
};

const CR0_NE = 1n << 5n;
const CR0_CD_NW = (1n << 30n) | (1n << 29n);
const CR4_VMXE = 1n << 13n;
const EFER_LMA = 1n << 10n;

/** Every QEMU register dump in the text, each with the "hardware error" that precedes it (if any). */
export function parseQemuRegs(text: string): ParsedDump[] {
  const lines = logLines(text);
  const out: ParsedDump[] = [];
  let pending: { raw: number; line: number; text: string } | undefined;
  let cur: ParsedDump | undefined;
  let seen = new Set<string>();
  let wide = false;
  let gap = 0;
  const finish = () => {
    if (cur && seen.size > 0) out.push(finalize(cur, seen, wide));
    cur = undefined;
    seen = new Set();
  };
  for (const { text: t, line } of lines) {
    const ef = ENTRY_FAILED.exec(t);
    if (ef) {
      finish();
      const s = ef[1]!;
      const raw = s.startsWith("0x") || s.startsWith("0X") ? Number.parseInt(s, 16) : Number.parseInt(s, 10);
      pending = { raw: raw >>> 0, line, text: t };
      gap = 0;
      continue;
    }
    if (GPR.test(t)) {
      finish();
      cur = newDump("qemu-regs", "QEMU x86_cpu_dump_state", line);
      wide = /^RAX=/i.test(t);
      cur.layout = wide ? "QEMU register dump (64-bit form)" : "QEMU register dump (32-bit form)";
      cur.noControls = true;
      cur.noHostState = true;
      if (pending && line - pending.line <= 12)
        cur.reported = decodeHardwareError(pending.raw, pending.text, pending.line);
      pending = undefined;
      continue;
    }
    if (!cur) {
      if (pending && ++gap > 12) pending = undefined;
      continue;
    }
    const d = cur;
    const set = (name: string, v: bigint) => {
      d.values.set(name, v);
      seen.add(name);
    };
    let m = IP.exec(t);
    if (m) {
      set("GUEST_RIP", BigInt(`0x${m[2]}`));
      set("GUEST_RFLAGS", BigInt(`0x${m[3]}`));
      seen.add("ip");
      if (m[5] === "1") {
        // QEMU folds KVM's interrupt shadow into one bit: STI or MOV SS, it does not say which.
        set("GUEST_INTERRUPTIBILITY_INFO", 2n);
        d.assumptions.push({
          field: "GUEST_INTERRUPTIBILITY_INFO",
          text: "II=1 is an interrupt shadow (STI or MOV SS; QEMU does not say which): assumed blocking by MOV SS (0x2)",
        });
        d.alternatives.push({
          description: "if the interrupt shadow II=1 was blocking by STI",
          vmcs: { GUEST_INTERRUPTIBILITY_INFO: 1n },
        });
      } else set("GUEST_INTERRUPTIBILITY_INFO", 0n);
      if (m[7] === "1")
        d.notes.push(
          "SMM=1: the guest was in system-management mode (KVM emulates SMM; the VMCS has no SMM control set)",
        );
      if (m[8] === "1")
        d.notes.push("HLT=1: the vCPU was halted (KVM keeps this outside the VMCS activity state)");
      d.notes.push(`CPL=${m[4]} (from SS.DPL)`);
      continue;
    }
    m = SEG.exec(t);
    if (m) {
      const name = SEG_NAMES[m[1]!.toUpperCase()]!;
      const flags = Number.parseInt(m[5]!, 16) >>> 0;
      const present = (flags & 0x8000) !== 0;
      let ar = (flags >>> 8) & 0xf0ff;
      if (name !== "LDTR") ar |= 1; // KVM sets the accessed bit with unrestricted guest (vmx_set_segment)
      if (!present) ar |= 0x10000;
      set(`GUEST_${name}_SELECTOR`, BigInt(`0x${m[2]}`));
      set(`GUEST_${name}_BASE`, BigInt(`0x${m[3]}`));
      set(`GUEST_${name}_LIMIT`, BigInt(`0x${m[4]}`));
      set(`GUEST_${name}_AR_BYTES`, BigInt(ar));
      continue;
    }
    m = DTR.exec(t);
    if (m) {
      const name = m[1]!.toUpperCase() === "GDT" ? "GDTR" : "IDTR";
      set(`GUEST_${name}_BASE`, BigInt(`0x${m[2]}`));
      set(`GUEST_${name}_LIMIT`, BigInt(`0x${m[3]}`));
      continue;
    }
    m = CRS.exec(t);
    if (m) {
      const cr0 = BigInt(`0x${m[1]}`);
      const cr4 = BigInt(`0x${m[4]}`);
      set("CR0_READ_SHADOW", cr0);
      set("GUEST_CR0", (cr0 & ~CR0_CD_NW) | CR0_NE);
      set("GUEST_CR3", BigInt(`0x${m[3]}`));
      set("CR4_READ_SHADOW", cr4);
      set("GUEST_CR4", cr4 | CR4_VMXE);
      continue;
    }
    m = EFER_RE.exec(t);
    if (m) {
      set("GUEST_IA32_EFER", BigInt(`0x${m[1]}`));
      continue;
    }
    const dr7 = DR7.exec(t);
    if (dr7) {
      set("GUEST_DR7", BigInt(`0x${dr7[1]}`));
      continue;
    }
    if (/^RSP=|^ESI=/i.test(t)) {
      const sp = /\b[ER]SP=([0-9a-f]+)/i.exec(t);
      if (sp) set("GUEST_RSP", BigInt(`0x${sp[1]}`));
      continue;
    }
    if (SKIP.test(t) || t === "") continue;
    // "Code=..." or anything else ends the dump
    finish();
  }
  finish();
  return out;
}

function finalize(d: ParsedDump, seen: Set<string>, wide: boolean): ParsedDump {
  if (!seen.has("ip"))
    throw new InputError("QEMU register dump without its EIP=/RIP= line: cannot tell RIP and RFLAGS", {
      line: d.line,
    });
  d.notes.push(
    "a QEMU register dump shows the guest registers as KVM reports them to QEMU, not the VMCS; the guest-state fields are rebuilt the way KVM writes them (unrestricted guest assumed)",
  );
  const efer = d.values.get("GUEST_IA32_EFER") ?? 0n;
  if (!wide && efer & EFER_LMA)
    d.notes.push(
      "the 32-bit form of the dump truncates segment and descriptor-table bases to 32 bits although EFER.LMA=1",
    );
  return d;
}
