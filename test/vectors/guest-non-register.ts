import type { ProfileData } from "../../src/cpu/profile.js";
import type { Patch, VectorTables } from "../helpers.js";

/**
 * SDM 29.3.1.5 (guest non-register state) and 29.3.1.6 (guest PDPTEs). Every fail state breaks exactly one
 * rule of an otherwise valid 64-bit guest; the setups below are valid as a whole.
 */

const Q0 = { type: "vmexit", reason: 33, qualification: 0 } as const;
const Q2 = { type: "vmexit", reason: 33, qualification: 2 } as const;
const Q4 = { type: "vmexit", reason: 33, qualification: 4 } as const;

// Injected events (SDM 25.8.3): valid bit 31, type 10:8, vector 7:0.
const EV_EXT = 0x80000020; // external interrupt, vector 32
const EV_NMI = 0x80000202; // NMI
const EV_DB = 0x80000301; // hardware exception #DB
const EV_UD = 0x80000306; // hardware exception #UD (no error code)
const EV_MC = 0x80000312; // hardware exception #MC
const EV_MTF = 0x80000700; // other event 0: pending MTF VM exit
const EV_SWINT = 0x80000480; // software interrupt INT 80h (needs an instruction length)

const IF = 0x202; // RFLAGS with IF
const TF = 0x100;
const STI = 1;
const MOV_SS = 2;
const SMI = 4;
const NMI_BLOCK = 8;
const ENCLAVE = 0x10;
const BS = 0x4000;
const RTM = 0x10000;
const BP = 0x1000;

const HLT = 1;
const SHUTDOWN = 2;
const WFS = 3;

const ENTRY_SMM = 1n << 10n;
const ENTRY_IA32E = 1n << 9n;
const SHADOW_VMCS = 1n << 14n;
const EPT = 1n << 1n;

/** The synthetic profile's VMCS revision identifier (IA32_VMX_BASIC[30:0]). */
const REVISION = 4n;
const LINK = 0x30000;

const addFlag = (flag: string) => (d: ProfileData) => {
  d.flags = [...(d.flags ?? []), flag];
};

/** A user-mode (CPL 3) 64-bit guest: CS.DPL = SS.DPL = 3 with matching RPLs. */
const USER_MODE: Patch = {
  vmcs: {
    GUEST_CS_SELECTOR: 0x33,
    GUEST_CS_AR_BYTES: 0xa0fb,
    GUEST_SS_SELECTOR: 0x2b,
    GUEST_SS_AR_BYTES: 0xc0f3,
  },
};

/** A 64-bit guest that will use FRED transitions (IA-32e mode guest, CR4.FRED = bit 32). */
const FRED_USER: Patch = {
  vmcs: {
    ...USER_MODE.vmcs,
    GUEST_CR4: (old) => old | (1n << 32n),
    GUEST_RFLAGS: IF,
  },
};

/**
 * A 32-bit protected-mode guest with PAE paging: IA-32e mode guest off, EFER.LMA/LME off, 32-bit CS, RIP below
 * 4 GiB, CR4.PCIDE off (CR4.PCIDE requires an IA-32e mode guest, SDM 29.3.1.1). CR3 = 0x2000000 as in the base.
 */
const PAE32 = {
  VM_ENTRY_CONTROLS: (old: bigint) => old & ~ENTRY_IA32E,
  GUEST_IA32_EFER: 0x800,
  GUEST_CS_AR_BYTES: 0xc09b,
  GUEST_RIP: 0x1000000,
  GUEST_RSP: 0x1ff000,
  GUEST_CR4: (old: bigint) => old & ~(1n << 17n),
};
const PAE_NO_EPT: Patch = {
  vmcs: { ...PAE32, SECONDARY_VM_EXEC_CONTROL: (old: bigint) => old & ~EPT },
};
const PAE_EPT: Patch = { vmcs: PAE32 };

/** In SMM under the dual-monitor treatment. */
const IN_SMM = { inSmm: true, dualMonitorActive: true };

/** One table per check module (src/checks/<module>.ts): the vectors of its checks. */
export const tables: VectorTables = {
  "guest-non-register": [
    // ---- activity state ----
    {
      id: "guest.activity.reserved",
      pass: { vmcs: { GUEST_ACTIVITY_STATE: WFS } },
      fail: { vmcs: { GUEST_ACTIVITY_STATE: 4 } },
      outcome: Q0,
    },
    {
      id: "guest.activity.unsupported",
      name: "shutdown without IA32_VMX_MISC[7]",
      cpu: (d) => {
        d.msrs.IA32_VMX_MISC = "0x7004c165";
      },
      pass: { vmcs: { GUEST_ACTIVITY_STATE: HLT } },
      fail: { vmcs: { GUEST_ACTIVITY_STATE: SHUTDOWN } },
      outcome: Q0,
    },
    {
      id: "guest.activity.unsupported",
      name: "HLT without IA32_VMX_MISC[6]",
      cpu: (d) => {
        d.msrs.IA32_VMX_MISC = "0x7004c1a5";
      },
      pass: { vmcs: { GUEST_ACTIVITY_STATE: WFS } },
      fail: { vmcs: { GUEST_ACTIVITY_STATE: HLT } },
    },
    {
      id: "guest.activity.unsupported",
      name: "wait-for-SIPI without IA32_VMX_MISC[8]",
      cpu: (d) => {
        d.msrs.IA32_VMX_MISC = "0x7004c0e5";
      },
      pass: { vmcs: { GUEST_ACTIVITY_STATE: SHUTDOWN } },
      fail: { vmcs: { GUEST_ACTIVITY_STATE: WFS } },
    },
    {
      id: "guest.activity.hlt-ss-dpl",
      pass: { vmcs: { GUEST_ACTIVITY_STATE: HLT } },
      inapplicable: USER_MODE,
      fail: { ...USER_MODE, vmcs: { ...USER_MODE.vmcs, GUEST_ACTIVITY_STATE: HLT } },
      outcome: Q0,
    },
    {
      id: "guest.activity.blocking-not-active",
      name: "STI blocking in HLT",
      setup: { vmcs: { GUEST_RFLAGS: IF, GUEST_INTERRUPTIBILITY_INFO: STI } },
      pass: { vmcs: { GUEST_ACTIVITY_STATE: 0 } },
      fail: { vmcs: { GUEST_ACTIVITY_STATE: HLT } },
      outcome: Q0,
    },
    {
      id: "guest.activity.blocking-not-active",
      name: "MOV-SS blocking in wait-for-SIPI",
      setup: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: MOV_SS } },
      pass: { vmcs: { GUEST_ACTIVITY_STATE: 0 } },
      fail: { vmcs: { GUEST_ACTIVITY_STATE: WFS } },
    },
    {
      id: "guest.activity.hlt-event",
      name: "#UD into HLT",
      setup: { vmcs: { GUEST_ACTIVITY_STATE: HLT } },
      pass: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: EV_DB } },
      fail: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: EV_UD } },
      outcome: Q0,
    },
    {
      id: "guest.activity.hlt-event",
      name: "software interrupt into HLT (external interrupt passes)",
      setup: { vmcs: { GUEST_ACTIVITY_STATE: HLT, GUEST_RFLAGS: IF, VM_ENTRY_INSTRUCTION_LEN: 2 } },
      pass: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: EV_EXT } },
      fail: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: EV_SWINT } },
    },
    {
      id: "guest.activity.hlt-event",
      name: "FRED SYSCALL (other event 1) into HLT (MTF passes)",
      // other event vector 1 is legal only for a guest that will use FRED transitions (SDM 29.2.1.3)
      setup: {
        vmcs: {
          GUEST_ACTIVITY_STATE: HLT,
          GUEST_CR4: (old) => old | (1n << 32n),
          VM_ENTRY_INSTRUCTION_LEN: 2,
        },
      },
      pass: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: EV_MTF } },
      fail: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: 0x80000701 } },
    },
    {
      id: "guest.activity.hlt-event",
      name: "#MC into HLT passes; #NM fails",
      setup: { vmcs: { GUEST_ACTIVITY_STATE: HLT } },
      pass: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: EV_MC } },
      fail: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: 0x80000307 } },
    },
    {
      id: "guest.activity.shutdown-event",
      name: "external interrupt into shutdown",
      setup: { vmcs: { GUEST_ACTIVITY_STATE: SHUTDOWN, GUEST_RFLAGS: IF } },
      pass: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: EV_MC } },
      fail: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: EV_EXT } },
      outcome: Q0,
    },
    {
      id: "guest.activity.shutdown-event",
      name: "#DB into shutdown (NMI passes)",
      setup: { vmcs: { GUEST_ACTIVITY_STATE: SHUTDOWN } },
      pass: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: EV_NMI } },
      fail: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: EV_DB } },
    },
    {
      id: "guest.activity.wait-for-sipi-event",
      setup: { vmcs: { GUEST_ACTIVITY_STATE: WFS } },
      pass: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: 0 } },
      fail: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: EV_NMI } },
      outcome: Q0,
    },
    {
      id: "guest.activity.smm-wait-for-sipi",
      setup: {
        processor: IN_SMM,
        vmcs: { VM_ENTRY_CONTROLS: (old) => old | ENTRY_SMM, GUEST_INTERRUPTIBILITY_INFO: SMI },
      },
      pass: { vmcs: { GUEST_ACTIVITY_STATE: HLT } },
      fail: { vmcs: { GUEST_ACTIVITY_STATE: WFS } },
      outcome: Q0,
    },

    // ---- interruptibility state ----
    {
      id: "guest.intr.reserved",
      pass: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: NMI_BLOCK } },
      fail: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: 0x20 } },
      outcome: Q0,
    },
    {
      id: "guest.intr.reserved",
      name: "bit 31",
      fail: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: 0x80000000 } },
    },
    {
      id: "guest.intr.sti-and-mov-ss",
      setup: { vmcs: { GUEST_RFLAGS: IF } },
      pass: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: STI } },
      fail: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: STI | MOV_SS } },
      outcome: Q0,
    },
    {
      id: "guest.intr.sti-if",
      setup: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: STI } },
      pass: { vmcs: { GUEST_RFLAGS: IF } },
      fail: { vmcs: { GUEST_RFLAGS: 0x2 } },
      outcome: Q0,
    },
    {
      id: "guest.intr.ext-intr-blocking",
      name: "STI blocking",
      setup: { vmcs: { GUEST_RFLAGS: IF, VM_ENTRY_INTR_INFO_FIELD: EV_EXT } },
      pass: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: NMI_BLOCK } },
      fail: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: STI } },
      outcome: Q0,
    },
    {
      id: "guest.intr.ext-intr-blocking",
      name: "MOV-SS blocking",
      setup: { vmcs: { GUEST_RFLAGS: IF, VM_ENTRY_INTR_INFO_FIELD: EV_EXT } },
      fail: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: MOV_SS } },
    },
    {
      id: "guest.intr.ext-intr-blocking",
      name: "a hardware exception may be injected in an STI shadow",
      setup: { vmcs: { GUEST_RFLAGS: IF, GUEST_INTERRUPTIBILITY_INFO: STI } },
      inapplicable: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: EV_UD } },
      fail: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: EV_EXT } },
    },
    {
      id: "guest.intr.nmi-mov-ss",
      setup: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: EV_NMI } },
      pass: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: 0 } },
      fail: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: MOV_SS } },
      outcome: Q0,
    },
    {
      id: "guest.intr.nmi-sti",
      setup: { vmcs: { GUEST_RFLAGS: IF, VM_ENTRY_INTR_INFO_FIELD: EV_NMI } },
      pass: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: 0 } },
      fail: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: STI } },
      outcome: Q0,
    },
    {
      id: "guest.intr.smi-outside-smm",
      pass: {},
      // in SMM, an entry to SMM (an entry with "entry to SMM" = 0 would be a return from SMM, SDM 34.15.4)
      inapplicable: {
        processor: IN_SMM,
        vmcs: { VM_ENTRY_CONTROLS: (old) => old | ENTRY_SMM, GUEST_INTERRUPTIBILITY_INFO: SMI },
      },
      fail: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: SMI } },
      outcome: Q0,
    },
    {
      id: "guest.intr.smm-entry-smi",
      setup: { processor: IN_SMM, vmcs: { VM_ENTRY_CONTROLS: (old) => old | ENTRY_SMM } },
      pass: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: SMI } },
      fail: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: NMI_BLOCK } },
      outcome: Q0,
    },
    {
      id: "guest.intr.vnmi-nmi-blocking",
      setup: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: EV_NMI } },
      pass: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: 0 } },
      fail: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: NMI_BLOCK } },
      outcome: Q0,
    },
    {
      id: "guest.intr.vnmi-nmi-blocking",
      name: 'no rule with "virtual NMIs" = 0',
      setup: {
        vmcs: {
          VM_ENTRY_INTR_INFO_FIELD: EV_NMI,
          GUEST_INTERRUPTIBILITY_INFO: NMI_BLOCK,
          // virtual NMIs off (bit 5); NMI exiting may stay on
        },
      },
      inapplicable: { vmcs: { PIN_BASED_VM_EXEC_CONTROL: (old) => old & ~(1n << 5n) } },
      fail: { vmcs: { PIN_BASED_VM_EXEC_CONTROL: (old) => old | (1n << 5n) } },
    },
    {
      id: "guest.intr.enclave-mov-ss",
      cpu: addFlag("sgx"),
      pass: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: ENCLAVE } },
      fail: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: ENCLAVE | MOV_SS } },
      outcome: Q0,
    },
    {
      id: "guest.intr.enclave-sgx",
      inapplicable: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: 0 } },
      fail: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: ENCLAVE } },
      outcome: Q0,
    },
    {
      id: "guest.intr.enclave-sgx",
      name: "holds on a CPU with SGX",
      cpu: addFlag("sgx"),
      pass: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: ENCLAVE } },
    },
    {
      id: "guest.intr.fred-sti-user",
      setup: FRED_USER,
      pass: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: 0 } },
      fail: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: STI } },
      outcome: Q0,
    },
    {
      id: "guest.intr.fred-sti-user",
      name: "STI blocking is fine for a FRED guest at SS.DPL 0",
      setup: {
        vmcs: { GUEST_CR4: (old) => old | (1n << 32n), GUEST_RFLAGS: IF, GUEST_INTERRUPTIBILITY_INFO: STI },
      },
      inapplicable: {},
      fail: FRED_USER,
    },

    // ---- pending debug exceptions ----
    {
      id: "guest.pending-dbg.reserved",
      pass: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: 0x100f } },
      fail: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: 0x10 } },
      outcome: Q0,
    },
    {
      id: "guest.pending-dbg.reserved",
      name: "bit 13",
      fail: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: 0x2000 } },
    },
    {
      id: "guest.pending-dbg.reserved",
      name: "bit 17",
      fail: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: 0x20000 } },
    },
    {
      id: "guest.pending-dbg.reserved",
      name: "bit 32",
      fail: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: 0x100000000n } },
    },
    {
      id: "guest.pending-dbg.bs-required",
      name: "STI blocking, TF=1, BTF=0",
      setup: { vmcs: { GUEST_RFLAGS: IF | TF, GUEST_INTERRUPTIBILITY_INFO: STI } },
      pass: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: BS } },
      fail: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: 0 } },
      outcome: Q0,
    },
    {
      id: "guest.pending-dbg.bs-required",
      name: "HLT, TF=1, BTF=0",
      setup: { vmcs: { GUEST_RFLAGS: TF | 2, GUEST_ACTIVITY_STATE: HLT } },
      pass: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: BS | 1 } },
      fail: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: 1 } },
    },
    {
      id: "guest.pending-dbg.bs-forbidden",
      name: "MOV-SS blocking, TF=0",
      setup: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: MOV_SS } },
      pass: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: 0 } },
      fail: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: BS } },
      outcome: Q0,
    },
    {
      id: "guest.pending-dbg.bs-forbidden",
      name: "STI blocking, TF=1 but BTF=1",
      setup: {
        vmcs: { GUEST_RFLAGS: IF | TF, GUEST_INTERRUPTIBILITY_INFO: STI, GUEST_IA32_DEBUGCTL: 0x2 },
      },
      pass: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: 0 } },
      fail: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: BS } },
    },
    {
      id: "guest.pending-dbg.bs-forbidden",
      name: "no rule without blocking or HLT",
      setup: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: BS } },
      inapplicable: { vmcs: { GUEST_ACTIVITY_STATE: 0 } },
      fail: { vmcs: { GUEST_ACTIVITY_STATE: HLT } },
    },
    {
      id: "guest.pending-dbg.rtm-other-bits",
      cpu: addFlag("rtm"),
      pass: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: RTM | BP } },
      fail: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: RTM | BP | 1 } },
      outcome: Q0,
    },
    {
      id: "guest.pending-dbg.rtm-other-bits",
      name: "BS with RTM",
      cpu: addFlag("rtm"),
      pass: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: RTM | BP } },
      fail: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: RTM | BP | BS } },
    },
    {
      id: "guest.pending-dbg.rtm-enabled-bp",
      cpu: addFlag("rtm"),
      pass: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: RTM | BP } },
      fail: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: RTM } },
      outcome: Q0,
    },
    {
      id: "guest.pending-dbg.rtm-support",
      inapplicable: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: BP } },
      fail: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: RTM | BP } },
      outcome: Q0,
    },
    {
      id: "guest.pending-dbg.rtm-support",
      name: "holds on a CPU with RTM",
      cpu: addFlag("rtm"),
      pass: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: RTM | BP } },
    },
    {
      id: "guest.pending-dbg.rtm-mov-ss",
      cpu: addFlag("rtm"),
      setup: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: RTM | BP } },
      pass: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: 0 } },
      fail: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: MOV_SS } },
      outcome: Q0,
    },

    // ---- VMCS link pointer (qualification 4) ----
    {
      id: "guest.link-pointer.alignment",
      setup: { memory: { [LINK]: REVISION } },
      pass: { vmcs: { VMCS_LINK_POINTER: LINK } },
      fail: { vmcs: { VMCS_LINK_POINTER: LINK + 0x800 } },
      outcome: Q4,
    },
    {
      id: "guest.link-pointer.phys-width",
      pass: { vmcs: { VMCS_LINK_POINTER: 0x3ffffffff000n }, memory: { 70368744173568: REVISION } },
      fail: { vmcs: { VMCS_LINK_POINTER: 0x400000000000n } },
      outcome: Q4,
    },
    {
      id: "guest.link-pointer.revision",
      setup: { vmcs: { VMCS_LINK_POINTER: LINK } },
      pass: { memory: { [LINK]: REVISION } },
      fail: { memory: { [LINK]: REVISION + 1n } },
      outcome: Q4,
    },
    {
      id: "guest.link-pointer.revision",
      name: "unwritten memory reads 0",
      setup: { vmcs: { VMCS_LINK_POINTER: LINK } },
      pass: { memory: { [LINK]: REVISION | 0xabcd_0000_0000n } },
      fail: {},
    },
    {
      id: "guest.link-pointer.shadow-indicator",
      name: "shadow VMCS without VMCS shadowing",
      setup: { vmcs: { VMCS_LINK_POINTER: LINK } },
      pass: { memory: { [LINK]: REVISION } },
      fail: { memory: { [LINK]: REVISION | 0x80000000n } },
      outcome: Q4,
    },
    {
      id: "guest.link-pointer.shadow-indicator",
      name: "ordinary VMCS with VMCS shadowing",
      setup: {
        vmcs: { VMCS_LINK_POINTER: LINK, SECONDARY_VM_EXEC_CONTROL: (old) => old | SHADOW_VMCS },
      },
      pass: { memory: { [LINK]: REVISION | 0x80000000n } },
      fail: { memory: { [LINK]: REVISION } },
      outcome: Q4,
    },
    {
      id: "guest.link-pointer.current-vmcs",
      setup: { memory: { [LINK]: REVISION }, vmcs: { VMCS_LINK_POINTER: LINK } },
      pass: { processor: { currentVmcsPointer: 0x31000 } },
      fail: { processor: { currentVmcsPointer: LINK } },
      outcome: Q4,
    },
    {
      id: "guest.link-pointer.current-vmcs",
      name: "an entry to SMM is checked too",
      setup: {
        processor: IN_SMM,
        memory: { [LINK]: REVISION },
        vmcs: {
          VMCS_LINK_POINTER: LINK,
          VM_ENTRY_CONTROLS: (old) => old | ENTRY_SMM,
          GUEST_INTERRUPTIBILITY_INFO: SMI,
        },
      },
      pass: { processor: { currentVmcsPointer: 0x31000 } },
      fail: { processor: { currentVmcsPointer: LINK } },
      outcome: Q4,
    },
    {
      id: "guest.link-pointer.executive-vmcs",
      setup: {
        processor: IN_SMM,
        memory: { [LINK]: REVISION, 200704: REVISION },
        vmcs: { VMCS_LINK_POINTER: LINK },
      },
      pass: { vmcs: { EXECUTIVE_VMCS_POINTER: 0x31000 } },
      fail: { vmcs: { EXECUTIVE_VMCS_POINTER: LINK } },
      outcome: Q4,
    },
  ],
  "guest-pdpte": [
    // ---- PDPTEs (SDM 29.3.1.6, qualification 2) ----
    {
      id: "guest.pdpte.memory-reserved",
      name: "PDPTE0 bit 1",
      setup: PAE_NO_EPT,
      pass: { memory: { 33554432: 0x3000e01n, 33554440: 0x6n } },
      fail: { memory: { 33554432: 0x3000003n } },
      outcome: Q2,
    },
    {
      id: "guest.pdpte.memory-reserved",
      name: "PDPTE3 beyond MAXPHYADDR",
      setup: PAE_NO_EPT,
      pass: { memory: { 33554456: 0x3fff00000001n } },
      fail: { memory: { 33554456: 0x400000000001n } },
    },
    {
      id: "guest.pdpte.memory-reserved",
      name: "table at CR3 bits 31:5",
      setup: { vmcs: { ...PAE_NO_EPT.vmcs, GUEST_CR3: 0x2000020 }, memory: { 33554432: 0x3n } },
      pass: { memory: { 33554472: 0x1001n } },
      fail: { memory: { 33554480: 0x101n } },
    },
    {
      id: "guest.pdpte.memory-reserved",
      name: "not checked in an IA-32e guest",
      setup: { memory: { 33554432: 0x3n }, vmcs: { SECONDARY_VM_EXEC_CONTROL: (old) => old & ~EPT } },
      inapplicable: {},
      fail: PAE_NO_EPT,
    },
    {
      id: "guest.pdpte.field-reserved",
      name: "PDPTE2 bit 5",
      setup: PAE_EPT,
      pass: { vmcs: { GUEST_PDPTR2: 0x3000001n, GUEST_PDPTR1: 0x1e6n } },
      fail: { vmcs: { GUEST_PDPTR2: 0x3000021n } },
      outcome: Q2,
    },
    {
      id: "guest.pdpte.field-reserved",
      name: "PDPTE0 bit 63",
      setup: PAE_EPT,
      fail: { vmcs: { GUEST_PDPTR0: 0x8000000000000001n } },
    },
    {
      id: "guest.pdpte.field-reserved",
      name: "memory is not read with EPT",
      setup: { ...PAE_EPT, memory: { 33554432: 0x3n } },
      pass: {},
      fail: { vmcs: { GUEST_PDPTR1: 0x81n } },
    },
  ],
};
