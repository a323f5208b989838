/**
 * Short decodings of field values shown next to the inputs, for a person reading a VMCS: the set bits of
 * CR0/CR4/EFER/RFLAGS, segment access rights, activity and interruptibility state, the injected event.
 */
import { describeAr, EVENT_TYPE_NAMES, EXCEPTION_NAMES } from "../../src/arch/registers.js";

type BitNames = readonly (readonly [number, string])[];

const CR0_BITS: BitNames = [
  [0, "PE"],
  [1, "MP"],
  [2, "EM"],
  [3, "TS"],
  [4, "ET"],
  [5, "NE"],
  [16, "WP"],
  [18, "AM"],
  [29, "NW"],
  [30, "CD"],
  [31, "PG"],
];
const CR4_BITS: BitNames = [
  [0, "VME"],
  [1, "PVI"],
  [2, "TSD"],
  [3, "DE"],
  [4, "PSE"],
  [5, "PAE"],
  [6, "MCE"],
  [7, "PGE"],
  [8, "PCE"],
  [9, "OSFXSR"],
  [10, "OSXMMEXCPT"],
  [11, "UMIP"],
  [12, "LA57"],
  [13, "VMXE"],
  [14, "SMXE"],
  [16, "FSGSBASE"],
  [17, "PCIDE"],
  [18, "OSXSAVE"],
  [19, "KL"],
  [20, "SMEP"],
  [21, "SMAP"],
  [22, "PKE"],
  [23, "CET"],
  [24, "PKS"],
  [25, "UINTR"],
  [27, "LASS"],
  [28, "LAM_SUP"],
  [32, "FRED"],
];
const EFER_BITS: BitNames = [
  [0, "SCE"],
  [8, "LME"],
  [10, "LMA"],
  [11, "NXE"],
  [12, "SVME"],
  [13, "LMSLE"],
  [14, "FFXSR"],
  [15, "TCE"],
];
const RFLAGS_BITS: BitNames = [
  [0, "CF"],
  [1, "1"],
  [2, "PF"],
  [4, "AF"],
  [6, "ZF"],
  [7, "SF"],
  [8, "TF"],
  [9, "IF"],
  [10, "DF"],
  [11, "OF"],
  [14, "NT"],
  [16, "RF"],
  [17, "VM"],
  [18, "AC"],
  [19, "VIF"],
  [20, "VIP"],
  [21, "ID"],
];
const INTERRUPTIBILITY_BITS: BitNames = [
  [0, "blocking by STI"],
  [1, "blocking by MOV SS"],
  [2, "blocking by SMI"],
  [3, "blocking by NMI"],
  [4, "enclave interruption"],
];

function bitList(v: bigint, names: BitNames): string {
  const set = names.filter(([b]) => (v >> BigInt(b)) & 1n).map(([, n]) => n);
  let known = 0n;
  for (const [b] of names) known |= 1n << BigInt(b);
  const other = v & ~known;
  if (other) set.push(`other bits 0x${other.toString(16)}`);
  return set.length ? set.join(" ") : "no bits set";
}

const ACTIVITY = ["active", "HLT", "shutdown", "wait-for-SIPI"];

function event(v: bigint): string {
  const n = Number(v & 0xffffffffn);
  if (!(n & 0x80000000)) return "no event (valid bit 31 clear)";
  const type = (n >>> 8) & 7;
  const vector = n & 0xff;
  const exc = type === 3 && EXCEPTION_NAMES[vector] ? ` ${EXCEPTION_NAMES[vector]}` : "";
  return `${EVENT_TYPE_NAMES[type]}, vector ${vector}${exc}${n & 0x800 ? ", with error code" : ""}`;
}

/** A decoding of a field's value, or undefined when a plain number says it all. */
export function decodeField(name: string, v: bigint): string | undefined {
  if (name.endsWith("_AR_BYTES")) return describeAr(Number(v & 0xffffffffn)).replace(/^0x[0-9a-f]+ /, "");
  switch (name) {
    case "GUEST_CR0":
    case "HOST_CR0":
    case "CR0_READ_SHADOW":
      return bitList(v, CR0_BITS);
    case "GUEST_CR4":
    case "HOST_CR4":
    case "CR4_READ_SHADOW":
      return bitList(v, CR4_BITS);
    case "GUEST_IA32_EFER":
    case "HOST_IA32_EFER":
      return bitList(v, EFER_BITS);
    case "GUEST_RFLAGS":
      return `${bitList(v, RFLAGS_BITS)}, IOPL ${Number((v >> 12n) & 3n)}`;
    case "GUEST_INTERRUPTIBILITY_INFO":
      return v ? bitList(v, INTERRUPTIBILITY_BITS) : "no blocking";
    case "GUEST_ACTIVITY_STATE":
      return ACTIVITY[Number(v)] ?? "reserved activity state";
    case "VM_ENTRY_INTR_INFO_FIELD":
      return event(v);
    case "VMCS_LINK_POINTER":
      return v === 0xffffffffffffffffn ? "no shadow VMCS (all ones)" : undefined;
    default:
      return undefined;
  }
}
