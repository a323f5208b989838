/**
 * L1's view of VMX: what a kernel preset's `nested_vmx_setup_ctls_msrs` advertises, intersected with a host
 * profile (the capability MSRs only; every other fact of the host profile is carried through unchanged).
 */
import { ENTRY, EXIT, PROC, PROC2 } from "../arch/controls.js";
import { BASIC, EPT_CAP } from "../arch/msrs.js";
import { DEBUGCTL } from "../arch/registers.js";
import { builtinNames } from "../cpu/builtin.js";
import { type Caps, decodeProfile, type ProfileData } from "../cpu/profile.js";
import { type CtlSpec, type KernelPreset, sourceText } from "./kernel.js";
import { supportedDebugctl, VPID_CAPS_HI } from "./kernels/l1-common.js";

/** KVM's VMCS12_REVISION (vmcs12.h): the revision identifier L1 sees in IA32_VMX_BASIC. */
export const VMCS12_REVISION = 0x11e57ed0;

const hex = (hi: number, lo: number): string =>
  `0x${(hi >>> 0).toString(16).padStart(8, "0")}${(lo >>> 0).toString(16).padStart(8, "0")}`;

/** Does the host offer a usable EPT to KVM (a 4-level walk and write-back paging structures)? */
function hostEpt(host: Caps): boolean {
  return (
    (host.ctl.proc.may1 & PROC.SECONDARY) !== 0 &&
    (host.ctl.proc2.may1 & PROC2.EPT) !== 0 &&
    (host.eptCap & EPT_CAP.PWL4) !== 0 &&
    (host.eptCap & EPT_CAP.WB) !== 0
  );
}

function word(spec: CtlSpec, hostMay1: number): { hi: number; lo: number; plainLo: number } {
  const hi = ((hostMay1 & spec.fromHost) | spec.always) >>> 0;
  return { hi, lo: spec.must1 >>> 0, plainLo: (spec.must1 | spec.default1) >>> 0 };
}

const cache = new WeakMap<KernelPreset, Map<Caps, Caps>>();

/**
 * The profile L1 sees under `preset` on `host`: named `kvm-<kernel>@<host>` (e.g. "kvm-v6.19@sapphirerapids").
 * Decoded once per pair.
 */
export function l1Profile(preset: KernelPreset, host: Caps): Caps {
  let m = cache.get(preset);
  if (!m) {
    m = new Map();
    cache.set(preset, m);
  }
  const hit = m.get(host);
  if (hit) return hit;
  const caps = decodeProfile(l1ProfileData(preset, host), `L1 profile of ${preset.id}`);
  m.set(host, caps);
  return caps;
}

/** The profile data (as a profile file would hold it) of L1 under `preset` on `host`. */
export function l1ProfileData(preset: KernelPreset, host: Caps): ProfileData {
  const s = preset.l1;
  const flags = host.flags;
  const hostCet = flags.has("ibt") || flags.has("shstk") || flags.has("user_shstk");
  const mpx = flags.has("mpx");
  const ept = hostEpt(host);

  const pin = word(s.pin, host.ctl.pin.may1);
  const proc = word(s.proc, host.ctl.proc.may1);
  const exit = word(s.exit, host.ctl.exit.may1);
  const entry = word(s.entry, host.ctl.entry.may1);
  if (!(s.cetNeedsHostCet && hostCet)) {
    exit.hi &= ~EXIT.LOAD_CET;
    entry.hi &= ~ENTRY.LOAD_CET;
  }
  if (s.bndcfgsNeedsMpx && !mpx) {
    exit.hi &= ~EXIT.CLEAR_BNDCFGS;
    entry.hi &= ~ENTRY.LOAD_BNDCFGS;
  }
  exit.hi >>>= 0;
  entry.hi >>>= 0;

  // Secondary controls: the pass-through list, the emulated ones, and those behind KVM module parameters
  // that are on by default when the host supports them (ept, vpid, unrestricted_guest, flexpriority, sgx).
  const h2 = host.ctl.proc.may1 & PROC.SECONDARY ? host.ctl.proc2.may1 : 0;
  let proc2 = (h2 & s.proc2.fromHost) | s.proc2.always;
  const ifHost = h2 & s.proc2IfHost;
  if (ept) proc2 |= ifHost & PROC2.EPT;
  if (ifHost & PROC2.VPID) proc2 |= PROC2.VPID;
  if (ept && ifHost & PROC2.UNRESTRICTED_GUEST) proc2 |= PROC2.UNRESTRICTED_GUEST;
  if (ifHost & PROC2.VIRT_APIC_ACCESSES && host.ctl.proc.may1 & PROC.TPR_SHADOW)
    proc2 |= PROC2.VIRT_APIC_ACCESSES;
  if (ifHost & (1 << 15) && flags.has("sgx")) proc2 |= 1 << 15;
  // EPT A/D bits on the host bring PML and A/D to L1 (enable_ept_ad_bits)
  const ad = ept && (host.eptCap & EPT_CAP.AD) !== 0;
  if (ad) proc2 |= PROC2.PML;
  // VM functions only with EPT (EPTP switching is emulated)
  if (!ept) proc2 &= ~(PROC2.VMFUNC | PROC2.PML);
  // UMIP emulation (host without UMIP but with descriptor-table exiting) lets L1 set CR4.UMIP
  proc2 >>>= 0;

  let eptLo = 0;
  if (proc2 & PROC2.EPT)
    eptLo = ((host.eptCap & s.ept.fromHost) | s.ept.always | (ad ? EPT_CAP.AD : 0)) >>> 0;
  const eptHi = proc2 & PROC2.VPID ? VPID_CAPS_HI : 0;
  const vmfunc = proc2 & PROC2.EPT && proc2 & PROC2.VMFUNC ? 1 : 0;

  const hostMisc = Number(host.msr.IA32_VMX_MISC ?? 0n) >>> 0;
  const misc = ((hostMisc & s.misc.fromHost) | s.misc.always) >>> 0;
  const hostBasicHi = Number((host.msr.IA32_VMX_BASIC ?? 0n) >> 32n) >>> 0;
  const basicHi = (4096 | (6 << 18) | BASIC.TRUE_CTLS_HI | (hostBasicHi & s.basicFromHost)) >>> 0;

  const umip = !flags.has("umip") && (h2 & PROC2.DESC_EXITING) !== 0 ? 1 << 11 : 0;
  const cr4f1 = host.msr.IA32_VMX_CR4_FIXED1 ?? 0xffffffffn;
  const cr0f1 = host.msr.IA32_VMX_CR0_FIXED1 ?? 0xffffffffn;

  const msrs: ProfileData["msrs"] = {
    IA32_VMX_BASIC: hex(basicHi, VMCS12_REVISION),
    IA32_VMX_PINBASED_CTLS: hex(pin.hi, pin.plainLo),
    IA32_VMX_PROCBASED_CTLS: hex(proc.hi, proc.plainLo),
    IA32_VMX_EXIT_CTLS: hex(exit.hi, exit.plainLo),
    IA32_VMX_ENTRY_CTLS: hex(entry.hi, entry.plainLo),
    IA32_VMX_MISC: hex(0, misc),
    IA32_VMX_CR0_FIXED0: hex(0, 0x80000021),
    IA32_VMX_CR0_FIXED1: `0x${cr0f1.toString(16)}`,
    IA32_VMX_CR4_FIXED0: hex(0, 0x2000),
    IA32_VMX_CR4_FIXED1: `0x${(cr4f1 | BigInt(umip)).toString(16)}`,
    IA32_VMX_PROCBASED_CTLS2: hex(proc2, 0),
    IA32_VMX_EPT_VPID_CAP: hex(eptHi, eptLo),
    IA32_VMX_TRUE_PINBASED_CTLS: hex(pin.hi, pin.lo),
    IA32_VMX_TRUE_PROCBASED_CTLS: hex(proc.hi, proc.lo),
    IA32_VMX_TRUE_EXIT_CTLS: hex(exit.hi, exit.lo),
    IA32_VMX_TRUE_ENTRY_CTLS: hex(entry.hi, entry.lo),
    IA32_VMX_VMFUNC: hex(0, vmfunc),
  };
  // IA32_DEBUGCTL as L1's WRMSR finds it (s.debugctl): bits KVM refuses are reserved on L1's processor
  // (within what the host's profile already says its WRMSR accepts, if it says)
  const hostDebugctl = host.data.msrWritableBits?.["0x1d9"];
  const debugctl =
    BigInt(DEBUGCTL.LBR | DEBUGCTL.BTF | supportedDebugctl(s.debugctl, host.debugctlValidLo)) &
    (hostDebugctl === undefined ? ~0n : BigInt(hostDebugctl));
  const name = `kvm-${preset.id}@${host.name}`;
  const src = preset.l1.source;
  const hostFlags = host.data.flags ?? [...host.flags];
  return {
    ...host.data,
    name,
    description: `L1's view of nested VMX under ${preset.name} on ${builtinNames().includes(host.name) ? `the ${host.name} profile` : host.name}`,
    source: `DERIVED: ${preset.name}'s nested_vmx_setup_ctls_msrs (${sourceText(src)}) intersected with the capability MSRs of ${host.name}; IA32_DEBUGCTL as its WRMSR accepts it (${sourceText(s.debugctl.source)}); every other fact is ${host.name}'s`,
    hypervisor: true,
    msrs,
    msrWritableBits: { ...host.data.msrWritableBits, "0x1d9": `0x${debugctl.toString(16)}` },
    flags: hostFlags.includes("hypervisor") ? hostFlags : [...hostFlags, "hypervisor"],
  };
}
