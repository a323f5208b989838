/**
 * The line grammar shared by Linux KVM's `dump_vmcs()` and Xen's `vmcs_dump_vcpu()`: both print
 * "*** Guest State ***", "*** Host State ***", "*** Control State ***" sections of `Key=value` /
 * `Key = value` pairs, with a few positional lines (Xen's segment table) and MSR lists (KVM). Lines
 * wrapped by mail programs are joined back; a line that fits no rule ends the dump. Linear in the input.
 */
import { fieldByName } from "../arch/fields.js";
import { hexValue, type LogLine } from "./text.js";
import { type MsrEntry, newDump, type ParsedDump } from "./types.js";

type Section = "guest" | "host" | "control";
type Target = string | "cs:rip" | "svi|rvi";

const SEGS = ["cs", "ds", "ss", "es", "fs", "gs", "ldtr", "tr"] as const;

function seg(prefix: "GUEST"): Record<string, string> {
  const m: Record<string, string> = {};
  for (const s of SEGS) {
    const u = s.toUpperCase();
    m[`${s}.sel`] = `${prefix}_${u}_SELECTOR`;
    m[`${s}.attr`] = `${prefix}_${u}_AR_BYTES`;
    m[`${s}.limit`] = `${prefix}_${u}_LIMIT`;
    m[`${s}.base`] = `${prefix}_${u}_BASE`;
  }
  for (const d of ["gdtr", "idtr"]) {
    m[`${d}.limit`] = `GUEST_${d.toUpperCase()}_LIMIT`;
    m[`${d}.base`] = `GUEST_${d.toUpperCase()}_BASE`;
  }
  return m;
}

/** Dump label (lower case, `label.key` for labelled lines) → KVM field name, per section. */
export const DUMP_KEYS: Readonly<Record<Section, Readonly<Record<string, Target>>>> = {
  guest: {
    "cr0.actual": "GUEST_CR0",
    "cr0.shadow": "CR0_READ_SHADOW",
    "cr0.gh_mask": "CR0_GUEST_HOST_MASK",
    "cr4.actual": "GUEST_CR4",
    "cr4.shadow": "CR4_READ_SHADOW",
    "cr4.gh_mask": "CR4_GUEST_HOST_MASK",
    cr3: "GUEST_CR3",
    pdptr0: "GUEST_PDPTR0",
    pdptr1: "GUEST_PDPTR1",
    pdptr2: "GUEST_PDPTR2",
    pdptr3: "GUEST_PDPTR3",
    pdpte0: "GUEST_PDPTR0",
    pdpte1: "GUEST_PDPTR1",
    pdpte2: "GUEST_PDPTR2",
    pdpte3: "GUEST_PDPTR3",
    rsp: "GUEST_RSP",
    rip: "GUEST_RIP",
    rflags: "GUEST_RFLAGS",
    dr7: "GUEST_DR7",
    "sysenter rsp": "GUEST_SYSENTER_ESP",
    "cs:rip": "cs:rip",
    ...seg("GUEST"),
    efer: "GUEST_IA32_EFER",
    pat: "GUEST_IA32_PAT",
    debugctl: "GUEST_IA32_DEBUGCTL",
    debugexceptions: "GUEST_PENDING_DBG_EXCEPTIONS",
    perfglobctl: "GUEST_IA32_PERF_GLOBAL_CTRL",
    bndcfgs: "GUEST_BNDCFGS",
    pkrs: "GUEST_IA32_PKRS",
    interruptibility: "GUEST_INTERRUPTIBILITY_INFO",
    activitystate: "GUEST_ACTIVITY_STATE",
    interruptstatus: "GUEST_INTR_STATUS",
    preemptiontimer: "VMX_PREEMPTION_TIMER_VALUE",
    "sm base": "GUEST_SMBASE",
    "spec_ctrl mask": "IA32_SPEC_CTRL_MASK",
    shadow: "IA32_SPEC_CTRL_SHADOW",
    s_cet: "GUEST_S_CET",
    ssp: "GUEST_SSP",
    "ssp table": "GUEST_INTR_SSP_TABLE",
    "intr ssp table": "GUEST_INTR_SSP_TABLE",
  },
  host: {
    rip: "HOST_RIP",
    rsp: "HOST_RSP",
    cs: "HOST_CS_SELECTOR",
    ss: "HOST_SS_SELECTOR",
    ds: "HOST_DS_SELECTOR",
    es: "HOST_ES_SELECTOR",
    fs: "HOST_FS_SELECTOR",
    gs: "HOST_GS_SELECTOR",
    tr: "HOST_TR_SELECTOR",
    fsbase: "HOST_FS_BASE",
    gsbase: "HOST_GS_BASE",
    trbase: "HOST_TR_BASE",
    gdtbase: "HOST_GDTR_BASE",
    idtbase: "HOST_IDTR_BASE",
    cr0: "HOST_CR0",
    cr3: "HOST_CR3",
    cr4: "HOST_CR4",
    "sysenter rsp": "HOST_IA32_SYSENTER_ESP",
    "cs:rip": "cs:rip",
    efer: "HOST_IA32_EFER",
    pat: "HOST_IA32_PAT",
    perfglobctl: "HOST_IA32_PERF_GLOBAL_CTRL",
    pkrs: "HOST_IA32_PKRS",
    s_cet: "HOST_S_CET",
    ssp: "HOST_SSP",
    "ssp table": "HOST_INTR_SSP_TABLE",
    "intr ssp table": "HOST_INTR_SSP_TABLE",
  },
  control: {
    pinbased: "PIN_BASED_VM_EXEC_CONTROL",
    cpubased: "CPU_BASED_VM_EXEC_CONTROL",
    secondaryexec: "SECONDARY_VM_EXEC_CONTROL",
    tertiaryexec: "TERTIARY_VM_EXEC_CONTROL",
    entrycontrols: "VM_ENTRY_CONTROLS",
    exitcontrols: "VM_EXIT_CONTROLS",
    exceptionbitmap: "EXCEPTION_BITMAP",
    pfecmask: "PAGE_FAULT_ERROR_CODE_MASK",
    pfecmatch: "PAGE_FAULT_ERROR_CODE_MATCH",
    "vmentry.intr_info": "VM_ENTRY_INTR_INFO_FIELD",
    "vmentry.errcode": "VM_ENTRY_EXCEPTION_ERROR_CODE",
    "vmentry.ilen": "VM_ENTRY_INSTRUCTION_LEN",
    "vmexit.intr_info": "VM_EXIT_INTR_INFO",
    "vmexit.errcode": "VM_EXIT_INTR_ERROR_CODE",
    "vmexit.ilen": "VM_EXIT_INSTRUCTION_LEN",
    reason: "VM_EXIT_REASON",
    qualification: "EXIT_QUALIFICATION",
    "idtvectoring.info": "IDT_VECTORING_INFO_FIELD",
    "idtvectoring.errcode": "IDT_VECTORING_ERROR_CODE",
    "tsc offset": "TSC_OFFSET",
    "tsc multiplier": "TSC_MULTIPLIER",
    "svi|rvi": "svi|rvi",
    "tpr threshold": "TPR_THRESHOLD",
    "apic-access addr": "APIC_ACCESS_ADDR",
    "virt-apic addr": "VIRTUAL_APIC_PAGE_ADDR",
    postedintrvec: "POSTED_INTR_NV",
    "ept pointer": "EPT_POINTER",
    "eptp index": "EPTP_INDEX",
    "ple gap": "PLE_GAP",
    window: "PLE_WINDOW",
    "virtual processor id": "VIRTUAL_PROCESSOR_ID",
    "vmfunc controls": "VM_FUNCTION_CONTROL",
    "cr3 target0": "CR3_TARGET_VALUE0",
    "cr3 target1": "CR3_TARGET_VALUE1",
    "cr3 target2": "CR3_TARGET_VALUE2",
    "cr3 target3": "CR3_TARGET_VALUE3",
    target1: "CR3_TARGET_VALUE1",
    target3: "CR3_TARGET_VALUE3",
    // an out-of-tree CET series printed the host CET lines after the control state
    s_cet: "HOST_S_CET",
    ssp: "HOST_SSP",
    "ssp table": "HOST_INTR_SSP_TABLE",
    "intr ssp table": "HOST_INTR_SSP_TABLE",
  },
};

const LABELS = new Set([...SEGS, "gdtr", "idtr", "cr0", "cr4", "vmentry", "vmexit", "idtvectoring"]);

/** Keys that only continue a line (a mail program wrapped it before them). */
const CONT_KEYS: Readonly<Record<Section, ReadonlySet<string>>> = {
  guest: new Set([
    "shadow",
    "gh_mask",
    "sel",
    "attr",
    "limit",
    "base",
    "cs:rip",
    "rip",
    "dr7",
    "debugexceptions",
    "activitystate",
    "pdptr1",
    "pdptr3",
    "pdpte1",
    "pdpte3",
    "ssp table",
    "sm base",
    "bndcfgs",
  ]),
  host: new Set([
    "rsp",
    "ss",
    "ds",
    "es",
    "fs",
    "gs",
    "tr",
    "gsbase",
    "trbase",
    "idtbase",
    "cr3",
    "cr4",
    "cs:rip",
    "pat",
  ]),
  control: new Set([
    "cpubased",
    "secondaryexec",
    "tertiaryexec",
    "exitcontrols",
    "pfecmask",
    "pfecmatch",
    "errcode",
    "ilen",
    "qualification",
    "tsc multiplier",
    "window",
    "eptp index",
    "vmfunc controls",
    "postedintrvec",
    "virt-apic addr",
    "target1",
    "target3",
  ]),
};

const VMCS_HEADER = /^VMCS (?:0x)?[0-9a-f]+, last attempted VM-entry on CPU \d+$/i;
const SECTION_HEADER = /^\*\*\* (Guest|Host|Control) State \*\*\*$/;
const XEN_SEG =
  /^(CS|DS|SS|ES|FS|GS|LDTR|TR): ([0-9a-f]{1,4}) ([0-9a-f]{1,5}) ([0-9a-f]{1,8}) ([0-9a-f]{1,16})$/i;
const XEN_DTR = /^(GDTR|IDTR): ([0-9a-f]{1,8}) ([0-9a-f]{1,16})$/i;
const XEN_SEG_HEADER = /^sel attr limit base$/;
const MSR_HEADER = /^(?:MSR (guest|host) (autoload|autostore)|(VMEntry|VMExit) MSR (loads?|stores?))\s*:?$/i;
const MSR_ENTRY = /^(\d+): msr=(?:0x)?([0-9a-f]{1,8}) value=(?:0x)?([0-9a-f]{1,16})$/i;
const FOOTER = /^\*{10,}$/;
const ELISION = /^(?:\.{3}[ .]*|\[\.\.\.\]|<snip(?:ped)?>|\[snip(?:ped)?\])$/i;
const XEN_FAILURE = /vmentry failure \(reason (0x[0-9a-f]+)\)/i;
const XEN_MSR = /\bmsr ([0-9a-f]{1,8}) val ([0-9a-f]{1,16})(?: \(mbz (?:0x)?[0-9a-f]+\))?/i;
const PAIR = /([A-Za-z_][A-Za-z0-9_|:\- ]*?) ?= ?((?:0x)?[0-9a-fA-F]+(?:[:|][0-9a-fA-F]+)?)(?=[ ,;]|$)/g;

interface Parsed {
  pairs: { key: string; value: string }[];
  label?: string;
  flags: string[];
}

function parseLine(t: string): Parsed {
  let s = t;
  let label: string | undefined;
  const lm = /^([A-Za-z][A-Za-z0-9_]*): (?=\S)/.exec(s);
  if (lm && LABELS.has(lm[1]!.toLowerCase())) {
    label = lm[1]!.toLowerCase();
    s = s.slice(lm[0].length);
  }
  const flags: string[] = [];
  s = s.replace(/\((effective|autoload)\)/gi, (_m, f: string) => {
    flags.push(f.toLowerCase());
    return "";
  });
  s = s.replace(/\((VMCS|MSR LL)\)/g, (_m, f: string) => {
    flags.push(f);
    return "";
  });
  s = s.replace(/\([^()]*\)/g, " ");
  const pairs: { key: string; value: string }[] = [];
  PAIR.lastIndex = 0;
  for (let m = PAIR.exec(s); m; m = PAIR.exec(s)) {
    const key = m[1]!
      .trim()
      .replace(/^[,;]\s*/, "")
      .replace(/ +/g, " ")
      .toLowerCase();
    pairs.push({ key, value: m[2]! });
  }
  return label !== undefined ? { pairs, label, flags } : { pairs, flags };
}

function lookup(section: Section, label: string | undefined, key: string): Target | undefined {
  const m = DUMP_KEYS[section];
  if (label !== undefined) {
    const v = m[`${label}.${key}`];
    if (v !== undefined) return v;
  }
  return m[key];
}

function firstKey(t: string): string | undefined {
  const p = parseLine(t);
  if (p.label) return p.label;
  return p.pairs[0]?.key;
}

function startsWithValue(t: string): boolean {
  return /^\(|^(?:0x)?[0-9a-f]+(?:[ ,]|$)/i.test(t) && !MSR_ENTRY.test(t);
}

/** Last token of a line is a word without a value (a key cut off by a line wrap). */
function dangling(t: string): boolean {
  if (/[=,]$/.test(t)) return true;
  if (!t.includes("=")) return false;
  const last = t.slice(t.lastIndexOf(" ") + 1);
  return /^[A-Za-z][\w|-]*$/.test(last) && !/^(?:0x)?[0-9a-f]+$/i.test(last);
}

function isKnownStart(t: string, section: Section): boolean {
  if (XEN_SEG.test(t) || XEN_DTR.test(t) || XEN_SEG_HEADER.test(t) || MSR_HEADER.test(t) || MSR_ENTRY.test(t))
    return true;
  const p = parseLine(t);
  if (p.label) return true;
  const k = p.pairs[0]?.key;
  if (k === undefined) return false;
  return (
    DUMP_KEYS[section][k] !== undefined ||
    DUMP_KEYS.guest[k] !== undefined ||
    DUMP_KEYS.host[k] !== undefined ||
    DUMP_KEYS.control[k] !== undefined
  );
}

interface State {
  dump: ParsedDump;
  section: Section;
  /** line of the last section header: no line joins across it */
  boundary: number;
  lines: { text: string; line: number; section: Section }[];
  xen: boolean;
  elided: boolean;
}

export interface DumpParseResult {
  dumps: ParsedDump[];
}

/** Read every KVM or Xen VMCS dump in the lines, in order. */
export function parseVmcsDumps(lines: readonly LogLine[]): ParsedDump[] {
  const out: ParsedDump[] = [];
  let st: State | undefined;
  let pendingXen:
    | { reason: number; qual?: number; msr?: { msr: number; value: bigint }; line: number; text: string }
    | undefined;

  const start = (line: number, section: Section, hasHeader: boolean): State => {
    const d = newDump("kvm-dump", "", line);
    const s: State = { dump: d, section, lines: [], xen: false, elided: false, boundary: line };
    if (hasHeader) d.notes.push("");
    if (pendingXen) {
      s.xen = true;
      d.reported = {
        type: "vmexit",
        raw: pendingXen.reason,
        reason: pendingXen.reason & 0xffff,
        entryFailure: (pendingXen.reason & 0x80000000) !== 0,
        ...(pendingXen.qual !== undefined ? { qualification: pendingXen.qual } : {}),
        source: pendingXen.text,
        line: pendingXen.line,
      };
      if (pendingXen.msr && pendingXen.qual !== undefined && pendingXen.qual >= 1)
        d.entryMsrLoad = {
          entries: [{ index: pendingXen.qual - 1, msr: pendingXen.msr.msr, value: pendingXen.msr.value }],
          complete: false,
        };
      pendingXen = undefined;
    }
    return s;
  };
  const finish = () => {
    if (st) {
      const d = finishDump(st);
      if (d) out.push(d);
    }
    st = undefined;
  };

  for (let i = 0; i < lines.length; i++) {
    const { text: t, line } = lines[i]!;
    const xf = XEN_FAILURE.exec(t);
    if (xf) {
      finish();
      const around = `${t} ${lines[i + 1]?.text ?? ""} ${lines[i + 2]?.text ?? ""}`;
      const reason = Number.parseInt(xf[1]!, 16) >>> 0;
      const q = /Invalid guest state \((\d+)\)|MSR loading \(entry (\d+)\)/i.exec(around);
      const msr = XEN_MSR.exec(around);
      pendingXen = { reason, line, text: t };
      if (q?.[1] !== undefined) pendingXen.qual = Number(q[1]);
      // Xen prints the failing MSR-load entry 0-based (qualification - 1)
      if (q?.[2] !== undefined) pendingXen.qual = Number(q[2]) + 1;
      if (msr) pendingXen.msr = { msr: Number.parseInt(msr[1]!, 16), value: BigInt(`0x${msr[2]}`) };
      continue;
    }
    if (VMCS_HEADER.test(t)) {
      finish();
      st = start(line, "guest", true);
      st.dump.layout = "header";
      continue;
    }
    const sh = SECTION_HEADER.exec(t);
    if (sh) {
      const section = sh[1]!.toLowerCase() as Section;
      if (st && section === "guest" && (st.lines.length > 0 || st.section !== "guest")) finish();
      if (!st) st = start(line, section, false);
      st.section = section;
      st.boundary = line;
      continue;
    }
    if (!st) continue;
    if (t === "") continue;
    if (ELISION.test(t)) {
      st.elided = true;
      continue;
    }
    if (FOOTER.test(t)) {
      finish();
      continue;
    }
    const prev = st.lines[st.lines.length - 1];
    const k = firstKey(t);
    const cont =
      prev !== undefined &&
      prev.line > st.boundary &&
      prev.text.length < 1024 && // a real dump line is short; this also keeps the join linear
      !MSR_ENTRY.test(t) &&
      !XEN_SEG.test(t) &&
      (dangling(prev.text) ||
        startsWithValue(t) ||
        (k !== undefined && CONT_KEYS[st.section].has(k) && !XEN_SEG.test(prev.text)));
    if (cont && prev) {
      prev.text = `${prev.text} ${t}`;
      continue;
    }
    if (isKnownStart(t, st.section)) {
      st.lines.push({ text: t, line, section: st.section });
      continue;
    }
    // a line that fits no rule ends the dump
    finish();
  }
  finish();
  return out;
}

function setField(d: ParsedDump, name: string, raw: string): void {
  const v = hexValue(raw);
  const f = fieldByName(name);
  if (v === undefined || !f) return;
  d.values.set(f.name, v);
}

function finishDump(st: State): ParsedDump | undefined {
  const d = st.dump;
  const hadHeader = d.notes.length > 0 && d.notes[0] === "";
  if (hadHeader) d.notes.shift();
  let msrList: MsrEntry[] | undefined;
  let eferInlinePat = false;
  let ctl0x = false;
  let xenMarks = st.xen;
  let sawTertiary = false;
  let sawMsrList = false;
  let sawCet = false;
  let sawPkrs = false;
  let pinFirst = false;
  for (const { text, section } of st.lines) {
    const xs = XEN_SEG.exec(text);
    if (xs) {
      xenMarks = true;
      const s = xs[1]!.toUpperCase();
      setField(d, `GUEST_${s}_SELECTOR`, xs[2]!);
      setField(d, `GUEST_${s}_AR_BYTES`, xs[3]!);
      setField(d, `GUEST_${s}_LIMIT`, xs[4]!);
      setField(d, `GUEST_${s}_BASE`, xs[5]!);
      continue;
    }
    const xd = XEN_DTR.exec(text);
    if (xd) {
      xenMarks = true;
      setField(d, `GUEST_${xd[1]!.toUpperCase()}_LIMIT`, xd[2]!);
      setField(d, `GUEST_${xd[1]!.toUpperCase()}_BASE`, xd[3]!);
      continue;
    }
    if (XEN_SEG_HEADER.test(text)) {
      xenMarks = true;
      continue;
    }
    const mh = MSR_HEADER.exec(text);
    if (mh) {
      sawMsrList = true;
      const who = (mh[1] ?? (mh[3]?.toLowerCase() === "vmentry" ? "guest" : "host")).toLowerCase();
      const what = (mh[2] ?? mh[4] ?? "").toLowerCase();
      msrList = [];
      if (who === "guest" && what.startsWith("autoload"))
        d.entryMsrLoad = { entries: msrList, complete: true };
      else if (who === "guest" || what.startsWith("store")) d.exitMsrStore = msrList;
      else d.exitMsrLoad = msrList;
      if (mh[3]?.toLowerCase() === "vmentry") d.entryMsrLoad = { entries: msrList, complete: true };
      continue;
    }
    const me = MSR_ENTRY.exec(text);
    if (me) {
      msrList?.push({
        index: Number(me[1]),
        msr: Number.parseInt(me[2]!, 16),
        value: BigInt(`0x${me[3]}`),
      });
      continue;
    }
    msrList = undefined;
    const p = parseLine(text);
    if (p.flags.includes("VMCS") || p.flags.includes("MSR LL")) xenMarks = true;
    const keys = p.pairs.map((x) => x.key);
    if (section === "guest" && keys.includes("efer") && keys.includes("pat")) eferInlinePat = true;
    if (keys.includes("preemptiontimer") || keys.includes("eptp index") || keys.includes("vmfunc controls"))
      xenMarks = true;
    if (keys[0] === "pinbased") pinFirst = true;
    for (const { key, value } of p.pairs) {
      const target = lookup(section, p.label, key);
      if (target === undefined) continue;
      if (target === "cs:rip") {
        const [cs, rip] = value.split(":");
        const pre = section === "host" ? "HOST_IA32_SYSENTER" : "GUEST_SYSENTER";
        if (cs !== undefined && rip !== undefined) {
          setField(d, `${pre}_CS`, cs);
          setField(d, `${pre}_EIP`, rip);
        }
        continue;
      }
      if (target === "svi|rvi") {
        const [svi, rvi] = value.split("|");
        if (svi !== undefined && rvi !== undefined)
          setField(d, "GUEST_INTR_STATUS", `${svi}${rvi.padStart(2, "0")}`);
        continue;
      }
      if (value.includes(":") || value.includes("|")) continue;
      if (target === "CPU_BASED_VM_EXEC_CONTROL" && value.startsWith("0x")) ctl0x = true;
      if (target === "TERTIARY_VM_EXEC_CONTROL") sawTertiary = true;
      if (target.endsWith("S_CET") || target.endsWith("SSP")) sawCet = true;
      if (target.endsWith("PKRS")) sawPkrs = true;
      setField(d, target, value);
      if (target === "GUEST_IA32_EFER" && p.flags.length)
        for (const f of p.flags)
          if (f === "effective" || f === "autoload")
            d.notes.push(
              f === "effective"
                ? 'the guest EFER line is KVM\'s effective EFER (the VMCS field is not loaded: VM-entry control "load IA32_EFER" is 0)'
                : 'the guest EFER value comes from KVM\'s MSR autoload list ("load IA32_EFER" is 0)',
            );
    }
  }
  if (d.values.size === 0 && !d.entryMsrLoad && !sawMsrList) return undefined;
  if (xenMarks) {
    d.format = "xen-dump";
    d.layout = eferInlinePat ? "Xen vmcs_dump_vcpu" : "Xen vmcs_dump_vcpu (partial)";
    if (sawTertiary) d.layout = "Xen vmcs_dump_vcpu (4.17+, with TertiaryExec)";
  } else {
    const parts: string[] = [];
    if (eferInlinePat && pinFirst && !hadHeader) parts.push("Linux 4.x–5.2 layout");
    else if (ctl0x) parts.push("Linux 5.17+ layout");
    else if (hadHeader || sawMsrList) parts.push("Linux 5.3–5.16 layout");
    else parts.push(eferInlinePat ? "Linux 4.x–5.2 layout" : "Linux layout");
    if (sawTertiary) parts.push("TertiaryExec");
    if (sawMsrList) parts.push("MSR lists");
    if (sawCet) parts.push("CET");
    if (sawPkrs) parts.push("PKRS");
    d.layout = parts.length > 1 ? `${parts[0]} (${parts.slice(1).join(", ")})` : parts[0]!;
  }
  // Xen and Linux 4.x print one "CR3 target" line per pair of targets in use, so no line means a count of 0
  if (xenMarks || d.layout.startsWith("Linux 4.x")) {
    let n = 0;
    for (let i = 0; i < 4; i++) if (d.values.has(`CR3_TARGET_VALUE${i}`)) n = i + 1;
    if (!d.values.has("CR3_TARGET_COUNT")) d.values.set("CR3_TARGET_COUNT", BigInt(n));
  }
  if (st.elided) d.notes.push('the log elides lines ("..."): fields in them are unknown');
  const exitReason = d.values.get("VM_EXIT_REASON");
  if (!d.reported && exitReason !== undefined) {
    const r = Number(exitReason) >>> 0;
    const q = d.values.get("EXIT_QUALIFICATION");
    d.reported = {
      type: "vmexit",
      raw: r,
      reason: r & 0xffff,
      entryFailure: (r & 0x80000000) !== 0,
      ...(q !== undefined ? { qualification: Number(q) } : {}),
      source: `reason=${r.toString(16).padStart(8, "0")}`,
      line: d.line,
    };
  }
  return d;
}
