/**
 * QEMU's "KVM: entry failed, hardware error 0x…" message and the register dump that follows it
 * (`x86_cpu_dump_state()` in target/i386/cpu-dump.c). It shows the guest registers as KVM_GET_SREGS returns
 * them, not the VMCS: the converter rebuilds the guest-state fields the way KVM writes them into the VMCS
 * (with unrestricted guest): access rights = (descriptor flags >> 8) & 0xf0ff, plus "unusable" (bit 16) for
 * a non-present segment, the accessed bit set except for LDTR; CR0 without CD/NW and with NE; CR4 with
 * VMXE; the shadows hold the guest's values; EFER as KVM loads it (LME cleared unless LMA, KVM's
 * update_transition_efer()). It has no control fields and no host state.
 *
 * Read line by line (streaming, `QemuRegsReader`): each line is a row of `KEY=value` columns whose widths
 * QEMU fixes (%04x selectors, %08x or %016x bases, %08x limits and flags); a column with fewer digits was
 * cut off and is unknown, with a note. A fragment (a few register lines without the banner or the first
 * line) is read too; a line from another program between two register lines is skipped with a note.
 */
import { decodeHardwareError } from "./reported.js";
import { excerpt, hexValue, type LogLine, logLines } from "./text.js";
import { newDump, type ParsedDump } from "./types.js";

const ENTRY_FAILED = /KVM: entry failed, hardware error (0x[0-9a-f]{1,8}|\d{1,10})/i;
const SKIP =
  /^(?:CCS=|FCW=|FPR\d|XMM\d|YMM\d|ZMM\d|Opmask\d|If you're running|support, the failure|state for Intel VT|which is not supported)/i;

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
const EFER_LME = 1n << 8n;
const EFER_LMA = 1n << 10n;

type Kind = "gpr" | "ip" | "seg" | "dtr" | "cr" | "dr" | "efer";

/**
 * What kind of register line this is. QEMU's shapes are exact (`%-3s=` pads two-letter names: "ES =0010",
 * "LDT=0000"; "CR0=… CR2=…"), so KVM's host lines ("CS=0010 SS=0018", "CR0=… CR3=…") are not taken for them.
 */
const KINDS: readonly [RegExp, Kind][] = [
  [/^(?:[ER]AX=[0-9a-f]{1,16} [ER]BX=|[ER]SI=[0-9a-f]{1,16} [ER]DI=|R8 =|R12=)/i, "gpr"],
  [/^(?:EIP|RIP)=[0-9a-f]{0,16}(?: |$)/i, "ip"],
  [/^(?:(?:ES|CS|SS|DS|FS|GS|TR) =|LDT=)[0-9a-f]/i, "seg"],
  [/^(?:GDT|IDT)= [0-9a-f]/i, "dtr"],
  [/^CR0=[0-9a-f]{0,16} CR2=/i, "cr"],
  [/^DR[0-7]=[0-9a-f]{0,16}(?: DR[0-7]=[0-9a-f]{0,16}){0,3} ?$/i, "dr"],
  [/^EFER=[0-9a-f]/i, "efer"],
];

function kindOf(t: string): Kind | undefined {
  for (const [re, kind] of KINDS) if (re.test(t)) return kind;
  return undefined;
}

/** `KEY=value` columns of a line (QEMU pads "ES =", "R8 ="). */
function columns(t: string): Map<string, string> {
  const out = new Map<string, string>();
  const toks = t.replace(/^([A-Z0-9]{2,3}) =/i, "$1=").split(" ");
  for (const tok of toks) {
    const eq = tok.indexOf("=");
    if (eq > 0) out.set(tok.slice(0, eq).toUpperCase(), tok.slice(eq + 1));
  }
  return out;
}

interface Open {
  d: ParsedDump;
  /** the 64-bit form (RAX=, 16-digit bases) */
  wide: boolean | undefined;
  seen: Set<string>;
  skipped: LogLine[];
  noise: number;
}

/** Streaming reader of QEMU register dumps. `line` returns true when the line belongs to one. */
export class QemuRegsReader {
  private pending: { raw: number; line: number; text: string } | undefined;
  private gap = 0;
  private open: Open | undefined;
  private candidate: LogLine | undefined;
  /** The last "hardware error" line with no dump after it (for the error message of a log without a dump). */
  lonely: { text: string; line: number; raw: number } | undefined;

  constructor(private readonly emit: (d: ParsedDump) => void) {}

  openSince(): number | undefined {
    return this.open?.d.line ?? this.candidate?.line ?? this.pending?.line;
  }

  line(l: LogLine): boolean {
    const t = l.text;
    const ef = ENTRY_FAILED.exec(t);
    if (ef) {
      this.finish();
      const s = ef[1]!;
      const raw = s.startsWith("0x") || s.startsWith("0X") ? Number.parseInt(s, 16) : Number.parseInt(s, 10);
      this.pending = { raw: raw >>> 0, line: l.line, text: t };
      this.lonely = { text: ef[0], line: l.line, raw: raw >>> 0 };
      this.gap = 0;
      return true;
    }
    const kind = kindOf(t);
    const o = this.open;
    if (o) {
      if (kind === "gpr" && /^[ER]AX=/i.test(t)) {
        this.finish();
        this.begin(l);
        this.read(this.open!, l, "gpr");
        return true;
      }
      if (kind) {
        this.flushSkipped(o);
        this.read(o, l, kind);
        return true;
      }
      if (t === "" || SKIP.test(t)) return true;
      if (/^Code=/i.test(t)) {
        this.finish();
        return true;
      }
      o.skipped.push(l);
      if (++o.noise > 3) this.finish();
      return false;
    }
    if (this.pending && t !== "" && ++this.gap > 12) this.pending = undefined;
    if (!kind) {
      if (t !== "") this.candidate = undefined;
      return false;
    }
    const c = this.candidate;
    if (this.pending || kind === "gpr" || (c && c.line >= l.line - 2 && c.prefix === l.prefix)) {
      const first = !this.pending && kind !== "gpr" && c ? c : l;
      this.begin(first);
      if (first === c) this.read(this.open!, c, kindOf(c.text)!);
      this.read(this.open!, l, kind);
      return true;
    }
    this.candidate = l;
    return false;
  }

  end(): void {
    this.finish();
  }

  private begin(l: LogLine): void {
    const d = newDump("qemu-regs", "QEMU register dump", l.line);
    d.noControls = true;
    d.noHostState = true;
    if (this.pending) {
      d.reported = decodeHardwareError(this.pending.raw, this.pending.text, this.pending.line);
      this.lonely = undefined;
    }
    this.pending = undefined;
    this.candidate = undefined;
    this.open = { d, wide: undefined, seen: new Set(), skipped: [], noise: 0 };
  }

  private flushSkipped(o: Open): void {
    for (const s of o.skipped)
      o.d.warnings.push(
        `line ${s.line} is not part of the register dump and was skipped: "${excerpt(s.text)}"`,
      );
    o.skipped = [];
    o.noise = 0;
  }

  /** A hex column of at least `digits` digits, or undefined with a note naming the field. */
  private hex(
    o: Open,
    l: LogLine,
    col: string | undefined,
    digits: number,
    what: string,
  ): bigint | undefined {
    if (col === undefined) {
      o.d.warnings.push(`line ${l.line} ("${excerpt(l.text)}") stops before ${what}: unknown`);
      return undefined;
    }
    const v = hexValue(col);
    if (v === undefined) {
      o.d.warnings.push(`line ${l.line}: "${excerpt(col)}" is not a hex number: ${what} is unknown`);
      return undefined;
    }
    if (col.length < digits) {
      o.d.warnings.push(
        `line ${l.line}: "${col}" has ${col.length} hex digit${col.length === 1 ? "" : "s"} where QEMU prints ${digits}: the value is cut off, so ${what} is unknown`,
      );
      return undefined;
    }
    return v;
  }

  private read(o: Open, l: LogLine, kind: Kind): void {
    const d = o.d;
    const set = (name: string, v: bigint | undefined) => {
      if (v === undefined) return;
      d.values.set(name, v);
      o.seen.add(name);
    };
    const t = l.text;
    const cols = columns(t);
    const natural = () => (o.wide === false ? 8 : 16);
    switch (kind) {
      case "gpr": {
        if (/^RAX=|^RSI=|^R8 ?=/i.test(t)) o.wide = true;
        else if (/^EAX=|^ESI=/i.test(t)) o.wide = false;
        const sp = cols.get("RSP") ?? cols.get("ESP");
        if (sp !== undefined) set("GUEST_RSP", this.hex(o, l, sp, cols.has("RSP") ? 16 : 8, "GUEST_RSP"));
        return;
      }
      case "ip": {
        const wide = cols.has("RIP");
        if (o.wide === undefined) o.wide = wide;
        set("GUEST_RIP", this.hex(o, l, cols.get(wide ? "RIP" : "EIP"), wide ? 16 : 8, "GUEST_RIP"));
        set("GUEST_RFLAGS", this.hex(o, l, cols.get(wide ? "RFL" : "EFL"), 8, "GUEST_RFLAGS"));
        const ii = cols.get("II");
        if (ii === "1") {
          // QEMU folds KVM's interrupt shadow into one bit: STI or MOV SS, it does not say which.
          set("GUEST_INTERRUPTIBILITY_INFO", 2n);
          d.assumptions.push({
            field: "GUEST_INTERRUPTIBILITY_INFO",
            reading: true,
            text: "II=1 is an interrupt shadow (STI or MOV SS; QEMU does not say which): read as blocking by MOV SS (0x2)",
          });
          d.alternatives.push({
            description: "if the interrupt shadow II=1 was blocking by STI",
            vmcs: { GUEST_INTERRUPTIBILITY_INFO: 1n },
          });
        } else if (ii === "0") set("GUEST_INTERRUPTIBILITY_INFO", 0n);
        else d.warnings.push(`line ${l.line} does not show II=: the interrupt shadow is unknown`);
        if (cols.get("SMM") === "1")
          d.notes.push(
            "SMM=1: the guest was in system-management mode (KVM emulates SMM; the VMCS has no SMM control set)",
          );
        if (cols.get("HLT") === "1")
          d.notes.push("HLT=1: the vCPU was halted (KVM keeps this outside the VMCS activity state)");
        const cpl = cols.get("CPL");
        if (cpl !== undefined) d.notes.push(`CPL=${cpl} (from SS.DPL)`);
        return;
      }
      case "seg": {
        const eq = t.indexOf("=");
        const name = SEG_NAMES[t.slice(0, eq).trim().toUpperCase()]!;
        const parts = t
          .slice(eq + 1)
          .split(" ")
          .slice(0, 4);
        const baseLen = parts[1]?.length ?? 0;
        if (o.wide === undefined && (baseLen === 8 || baseLen === 16)) o.wide = baseLen === 16;
        set(`GUEST_${name}_SELECTOR`, this.hex(o, l, parts[0], 4, `GUEST_${name}_SELECTOR`));
        set(`GUEST_${name}_BASE`, this.hex(o, l, parts[1], natural(), `GUEST_${name}_BASE`));
        set(`GUEST_${name}_LIMIT`, this.hex(o, l, parts[2], 8, `GUEST_${name}_LIMIT`));
        const flags = this.hex(o, l, parts[3], 8, `GUEST_${name}_AR_BYTES`);
        if (flags !== undefined) {
          const f = Number(flags) >>> 0;
          let ar = (f >>> 8) & 0xf0ff;
          if (name !== "LDTR") ar |= 1; // KVM sets the accessed bit with unrestricted guest (vmx_set_segment)
          if ((f & 0x8000) === 0) ar |= 0x10000;
          set(`GUEST_${name}_AR_BYTES`, BigInt(ar));
        }
        return;
      }
      case "dtr": {
        const eq = t.indexOf("=");
        const name = t.slice(0, eq).trim().toUpperCase() === "GDT" ? "GDTR" : "IDTR";
        const parts = t
          .slice(eq + 1)
          .trim()
          .split(" ");
        set(`GUEST_${name}_BASE`, this.hex(o, l, parts[0], natural(), `GUEST_${name}_BASE`));
        set(`GUEST_${name}_LIMIT`, this.hex(o, l, parts[1], 8, `GUEST_${name}_LIMIT`));
        return;
      }
      case "cr": {
        const cr0 = this.hex(o, l, cols.get("CR0"), 8, "GUEST_CR0");
        if (cr0 !== undefined) {
          set("CR0_READ_SHADOW", cr0);
          set("GUEST_CR0", (cr0 & ~CR0_CD_NW) | CR0_NE);
        }
        set("GUEST_CR3", this.hex(o, l, cols.get("CR3"), natural(), "GUEST_CR3"));
        const cr4 = this.hex(o, l, cols.get("CR4"), 8, "GUEST_CR4");
        if (cr4 !== undefined) {
          set("CR4_READ_SHADOW", cr4);
          set("GUEST_CR4", cr4 | CR4_VMXE);
        }
        return;
      }
      case "dr":
        if (cols.has("DR7")) set("GUEST_DR7", this.hex(o, l, cols.get("DR7"), natural(), "GUEST_DR7"));
        return;
      case "efer": {
        const efer = this.hex(o, l, cols.get("EFER"), 16, "GUEST_IA32_EFER");
        if (efer === undefined) return;
        // KVM loads LME only with LMA (update_transition_efer, v4.x–v6.x arch/x86/kvm/vmx/vmx.c)
        set("GUEST_IA32_EFER", efer & EFER_LMA ? efer : efer & ~EFER_LME);
        if ((efer & EFER_LMA) === 0n && efer & EFER_LME)
          d.notes.push(
            "EFER.LME=1 with LMA=0: KVM loads the guest EFER with LME cleared (it sets LME only with LMA)",
          );
        return;
      }
    }
  }

  private finish(): void {
    const o = this.open;
    this.open = undefined;
    if (!o || o.seen.size === 0) return;
    const d = o.d;
    d.layout =
      o.wide === false
        ? "QEMU register dump (32-bit form)"
        : o.wide
          ? "QEMU register dump (64-bit form)"
          : "QEMU register dump";
    if (!o.seen.has("GUEST_RIP")) d.layout += ", fragment";
    d.notes.push(
      "a QEMU register dump shows the guest registers as KVM reports them to QEMU, not the VMCS; the guest-state fields are rebuilt the way KVM writes them (unrestricted guest assumed)",
    );
    const efer = d.values.get("GUEST_IA32_EFER") ?? 0n;
    if (o.wide === false && efer & EFER_LMA) {
      d.notes.push(
        "the 32-bit form of the dump shows bits 31:0 of RIP, RSP, CR3 and the segment and descriptor-table bases although EFER.LMA=1: their bits 63:32 are unknown",
      );
      for (const f of d.values.keys())
        if (/_BASE$|^GUEST_(?:RIP|RSP|CR3)$/.test(f)) d.masks.set(f, 0xffffffffn);
    }
    this.emit(d);
  }
}

/** Every QEMU register dump in the text, each with the "hardware error" that precedes it (if any). */
export function parseQemuRegs(text: string): ParsedDump[] {
  const out: ParsedDump[] = [];
  const r = new QemuRegsReader((d) => out.push(d));
  for (const l of logLines(text)) r.line(l);
  r.end();
  return out;
}
