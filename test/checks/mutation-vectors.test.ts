/**
 * Vectors added for the mutants a StrykerJS run left in the check modules (docs/mutation.md, "src/checks
 * survivors"): each case is a state the module's own vector table (test/vectors) did not have, asserted as
 * test/checks.test.ts asserts its tables — the check applies and fails (alone, message pinned), applies and
 * holds, or does not apply.
 */
import { describe, expect, it } from "vitest";
import { checkById } from "../../src/checks/registry.js";
import { contextOf, runEntry } from "../../src/entry/run.js";
import {
  type CheckCase,
  capsOf,
  ids,
  type Patch,
  SMM_RETURN,
  SMM_RETURN_ROOT,
  state,
  type VectorTables,
} from "../helpers.js";

const STI = 1;
const TF = 0x100;
const HLT = 1;
const ENTRY_SMM = 1n << 10n;
/** The synthetic profile's VMCS revision identifier (IA32_VMX_BASIC[30:0]). */
const REVISION = 4n;
const LINK = 0x30000;
/** A link pointer above 4 GiB whose low half is LINK's. */
const LINK_HIGH = 0x1_0003_0000;
const IN_SMM = { inSmm: true, dualMonitorActive: true };
const ENTRY_LOAD_EFER = 1n << 15n;
const ENTRY_LOAD_CET = 1n << 20n;

/** Injected-event identification field (valid bit, type, vector, deliver-error-code). */
const event = (type: number, vector: number, errorCode = false): number =>
  (0x80000000 | (type << 8) | vector | (errorCode ? 1 << 11 : 0)) >>> 0;
/** The guest will use FRED transitions: CR4.FRED (bit 32) in the base 64-bit guest. */
const EXIT_LOAD_EFER = 1n << 21n;
const EXIT_HASS = 1n << 9n;
const ENTRY_DEACT_DUAL_MONITOR = 1n << 11n;
/**
 * A 32-bit guest with PAE paging (as in test/vectors/guest-non-register.ts): IA-32e mode guest and EFER.LMA/LME
 * off, 32-bit CS, RIP below 4 GiB, CR4.PCIDE off; guest CR3 = 0x2000000 as in the base state.
 */
const PAE32: Patch["vmcs"] = {
  VM_ENTRY_CONTROLS: (old) => old & ~(1n << 9n),
  GUEST_IA32_EFER: 0x800,
  GUEST_CS_AR_BYTES: 0xc09b,
  GUEST_RIP: 0x1000000,
  GUEST_RSP: 0x1ff000,
  GUEST_CR4: (old) => old & ~(1n << 17n),
};
const PDPT = 0x2000000;
/** A present PDPTE with a reserved bit (1), one beyond MAXPHYADDR 46 as well, one with bit 5 (reserved). */
const PDPTE_BIT1 = 0x3n;
const PDPTE_BIT1_46 = (1n << 46n) | 0x3n;
const PDPTE_BIT5 = 0x21n;
const FRED_CR4 = (old: bigint) => old | (1n << 32n);

const TABLES: VectorTables = {
  "guest-non-register": [
    {
      // describeActivity's "reserved" (a reserved state fails its own rule too)
      id: "guest.activity.blocking-not-active",
      name: "STI blocking in reserved activity state 4",
      setup: { vmcs: { GUEST_RFLAGS: 0x202, GUEST_INTERRUPTIBILITY_INFO: STI } },
      fail: { vmcs: { GUEST_ACTIVITY_STATE: 4 } },
      alsoFails: ["guest.activity.reserved"],
    },
    {
      // an interruptibility state with no bit set is printed without a list
      id: "guest.intr.smm-entry-smi",
      name: "entry to SMM with interruptibility state 0",
      setup: { processor: IN_SMM, vmcs: { VM_ENTRY_CONTROLS: (old) => old | ENTRY_SMM } },
      fail: { vmcs: { GUEST_INTERRUPTIBILITY_INFO: 0 } },
    },
    {
      // two reasons for the BS rule are listed with a comma (STI blocking in HLT also fails T3)
      id: "guest.pending-dbg.bs-required",
      name: "STI blocking and HLT, TF=1, BTF=0",
      setup: {
        vmcs: { GUEST_RFLAGS: 0x202 | TF, GUEST_INTERRUPTIBILITY_INFO: STI, GUEST_ACTIVITY_STATE: HLT },
      },
      fail: { vmcs: { GUEST_PENDING_DBG_EXCEPTIONS: 0 } },
      alsoFails: ["guest.activity.blocking-not-active"],
    },
    {
      id: "guest.link-pointer.current-vmcs",
      name: "no current-VMCS pointer given: not checked",
      setup: { memory: { [LINK]: REVISION }, vmcs: { VMCS_LINK_POINTER: LINK } },
      inapplicable: {},
    },
    {
      // the link pointer's high half counts (a pointer above 4 GiB)
      id: "guest.link-pointer.current-vmcs",
      name: "link pointer above 4 GiB",
      setup: { memory: { [LINK_HIGH]: REVISION }, vmcs: { VMCS_LINK_POINTER: LINK_HIGH } },
      pass: { processor: { currentVmcsPointer: LINK } },
      fail: { processor: { currentVmcsPointer: LINK_HIGH } },
    },
    {
      // equal low halves are not enough: the high halves differ
      id: "guest.link-pointer.executive-vmcs",
      name: "executive-VMCS pointer differing only above 4 GiB",
      setup: {
        processor: IN_SMM,
        memory: { [LINK]: REVISION, [LINK_HIGH]: REVISION },
        vmcs: { VMCS_LINK_POINTER: LINK },
      },
      pass: { vmcs: { EXECUTIVE_VMCS_POINTER: LINK_HIGH } },
      fail: { vmcs: { EXECUTIVE_VMCS_POINTER: LINK } },
    },
  ],
  "guest-cr-dr-msr": [
    {
      // the EFER field is not compared with "IA-32e mode guest" when the entry does not load it
      id: "guest.efer.lma-matches-ia32e",
      name: '"load IA32_EFER" = 0: not checked',
      setup: { vmcs: { GUEST_IA32_EFER: 0x101n } },
      inapplicable: { vmcs: { VM_ENTRY_CONTROLS: (old) => old & ~ENTRY_LOAD_EFER } },
    },
    {
      // the message names bits 1:0 as reserved without shadow stacks
      id: "guest.s-cet.reserved-bits",
      name: "without shadow stacks, SH_STK_EN is reserved",
      cpu: (d) => {
        d.flags = d.flags?.filter((f) => f !== "shstk" && f !== "user_shstk");
      },
      setup: { vmcs: { VM_ENTRY_CONTROLS: (old) => old | ENTRY_LOAD_CET } },
      pass: { vmcs: { GUEST_S_CET: 0x4n } },
      fail: { vmcs: { GUEST_S_CET: 0x1n } },
    },
  ],
  "entry-controls": [
    {
      // a vector above 31 is only the vector rule's failure: its low 5 bits (8, #DF) do not make the error-code
      // list apply
      id: "ctl.event.hw-exception-vector",
      name: "vector 40 without an error code",
      fail: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: event(3, 40) } },
    },
    {
      id: "ctl.event.hw-exception-vector",
      name: "vector 32 with an error code",
      fail: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: event(3, 32, true), VM_ENTRY_EXCEPTION_ERROR_CODE: 0 } },
    },
    {
      // only hardware exceptions need an error code: an external interrupt with #PF's vector has none
      id: "ctl.event.error-code-required",
      name: "external interrupt with vector 14",
      pass: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: event(0, 14), GUEST_RFLAGS: 0x202 } },
    },
    {
      id: "ctl.event.fred-instruction-length",
      name: "SYSENTER (vector 2)",
      setup: { vmcs: { GUEST_CR4: FRED_CR4, VM_ENTRY_INTR_INFO_FIELD: event(7, 2) } },
      pass: { vmcs: { VM_ENTRY_INSTRUCTION_LEN: 15 } },
      fail: { vmcs: { VM_ENTRY_INSTRUCTION_LEN: 16 } },
    },
    {
      // the length limit is for other events: a #DB (vector 1, like SYSCALL) ignores the length field
      id: "ctl.event.fred-instruction-length",
      name: "hardware exception #DB with length 16",
      setup: { vmcs: { GUEST_CR4: FRED_CR4, VM_ENTRY_INTR_INFO_FIELD: event(3, 1) } },
      pass: { vmcs: { VM_ENTRY_INSTRUCTION_LEN: 16 } },
    },
  ],
  "host-cr-msr": [
    {
      // both kinds of fixed-bit violation are listed, separated
      id: "host.cr0.fixed-bits",
      name: "PE (fixed 1) cleared and bit 32 (fixed 0) set",
      fail: { vmcs: { HOST_CR0: (old) => (old & ~1n) | (1n << 32n) } },
    },
    {
      // without "load IA32_EFER" the host EFER field is not loaded, so it is not compared with HASS
      id: "host.efer.lma-matches-hass",
      name: '"load IA32_EFER" = 0: not checked',
      setup: { vmcs: { HOST_IA32_EFER: 0x901n } },
      inapplicable: { vmcs: { VM_EXIT_CONTROLS: (old) => old & ~EXIT_LOAD_EFER } },
    },
    {
      id: "host.efer.lme-matches-hass",
      name: '"load IA32_EFER" = 0: not checked',
      setup: { vmcs: { HOST_IA32_EFER: 0xc01n } },
      inapplicable: { vmcs: { VM_EXIT_CONTROLS: (old) => old & ~EXIT_LOAD_EFER } },
    },
  ],
  "address-space": [
    {
      // only "IA-32e mode guest" is named when only it is set (a 32-bit host, the guest left 64-bit)
      id: "host.no-intel64.ia32e-controls",
      name: "only IA-32e mode guest set",
      cpu: (d) => {
        // IA32_VMX_BASIC[48] = 1: a processor without Intel 64 architecture
        d.msrs.IA32_VMX_BASIC = "0x4db100000000004";
      },
      setup: {
        processor: { ia32e: false },
        vmcs: {
          VM_EXIT_CONTROLS: (old) => old & ~EXIT_HASS,
          HOST_CR4: (old) => old & ~(1n << 17n),
          HOST_RIP: 0x8100a000n,
          HOST_IA32_EFER: 0x800n,
        },
      },
      fail: {},
    },
    {
      // "host address-space size" alone (the base state's 64-bit host) does not make the host CET fields'
      // canonical checks apply: "load CET state" must be 1 too
      id: "host.s-cet.canonical",
      name: '"load CET state" = 0: not checked',
      inapplicable: { vmcs: { HOST_S_CET: 0x8000000000000000n } },
    },
    {
      id: "host.ssp.canonical",
      name: '"load CET state" = 0: not checked',
      inapplicable: { vmcs: { HOST_SSP: 0x8000000000000000n } },
    },
  ],
  smm: [
    {
      // a return from SMM that deactivates the dual-monitor treatment does not need a launched executive VMCS
      id: "smm.deactivate-needs-vmxon-ptr",
      name: "executive VMCS clear: only error 18",
      setup: {
        ...SMM_RETURN,
        processor: { ...SMM_RETURN.processor, executiveVmcsLaunchState: "clear" },
        vmcs: { ...SMM_RETURN.vmcs, VM_ENTRY_CONTROLS: (old) => old | ENTRY_DEACT_DUAL_MONITOR },
      },
      fail: {},
    },
    {
      // any hardware exception counts, vector 0 (#DE) too
      id: "smm.root-return-event",
      name: "#DE (vector 0)",
      setup: SMM_RETURN_ROOT,
      pass: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: event(7, 0) } },
      fail: { vmcs: { VM_ENTRY_INTR_INFO_FIELD: event(3, 0) } },
    },
  ],
  "guest-pdpte": [
    {
      // two bad PDPTEs are listed, separated, the first with both kinds of reserved bit; the word after the
      // four (PDPT + 32) is not a PDPTE
      id: "guest.pdpte.memory-reserved",
      name: "PDPTE0 (bits 1 and 46) and PDPTE1 (bit 5)",
      setup: {
        vmcs: { ...PAE32, SECONDARY_VM_EXEC_CONTROL: (old) => old & ~(1n << 1n) },
        memory: { [PDPT + 32]: PDPTE_BIT1 },
      },
      fail: { memory: { [PDPT]: PDPTE_BIT1_46, [PDPT + 8]: PDPTE_BIT5 } },
    },
    {
      id: "guest.pdpte.field-reserved",
      name: "GUEST_PDPTR0 (bit 1) and GUEST_PDPTR1 (bit 5)",
      setup: { vmcs: PAE32 },
      fail: { vmcs: { GUEST_PDPTR0: PDPTE_BIT1, GUEST_PDPTR1: PDPTE_BIT5 } },
    },
    {
      // EPT alone does not make the PDPTE fields count: the 64-bit guest does not use PAE paging
      id: "guest.pdpte.field-reserved",
      name: "64-bit guest with EPT: not checked",
      inapplicable: { vmcs: { GUEST_PDPTR0: PDPTE_BIT1 } },
    },
  ],
  "exit-controls": [
    {
      // without "activate secondary controls" (exit bit 31) the secondary word is not used, whatever it holds
      id: "ctl.exit.secondary-reserved",
      name: "exit bit 31 = 0: not checked",
      inapplicable: {
        vmcs: { VM_EXIT_CONTROLS: (old) => old & ~(1n << 31n), SECONDARY_VM_EXIT_CONTROLS: 0x10 },
      },
    },
  ],
};

for (const [module, table] of Object.entries(TABLES))
  describe(module, () => {
    for (const c of table) {
      const caps = capsOf(c);
      const name = `${c.id}: ${c.name ?? "fails alone"}`;
      const checkOf = (x: CheckCase) => {
        const check = checkById(x.id);
        if (!check) throw new Error(`unknown check ${x.id}`);
        return check;
      };
      const fail = c.fail;
      if (fail)
        it(`${name} — applies and fails`, () => {
          const check = checkOf(c);
          const e = state(caps, c.setup, fail);
          const ctx = contextOf(e);
          ctx.refresh();
          expect(check.when?.(ctx) ?? true, "applies").toBe(true);
          expect(check.fail(ctx), "fails").toBe(true);
          const r = runEntry(e);
          expect(ids(r).sort()).toEqual([c.id, ...(c.alsoFails ?? [])].sort());
          if (c.outcome) expect(r.outcome).toEqual(c.outcome);
          const v = r.violations.find((x) => x.id === c.id);
          expect({ message: v?.message, fields: v?.fields }).toMatchSnapshot();
        });
      if (c.pass !== undefined)
        it(`${name} — applies and holds`, () => {
          const check = checkOf(c);
          const e = state(caps, c.setup, c.pass);
          const ctx = contextOf(e);
          ctx.refresh();
          expect(check.when?.(ctx) ?? true, "applies").toBe(true);
          expect(check.fail(ctx), "holds").toBe(false);
          expect(ids(runEntry(e))).toEqual([]);
        });
      if (c.inapplicable !== undefined)
        it(`${name} — does not apply`, () => {
          const check = checkOf(c);
          const e = state(caps, c.setup, c.inapplicable);
          const ctx = contextOf(e);
          ctx.refresh();
          expect(check.when?.(ctx), "applies").toBe(false);
          expect(ids(runEntry(e))).toEqual([]);
        });
    }
  });
