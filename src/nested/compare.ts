/**
 * Running a corpus of vmcs12 states under every configuration of the nested model, and the oracle search
 * for checks an L0's software set misses.
 */
import { CHECKS } from "../checks/registry.js";
import type { Caps } from "../cpu/profile.js";
import type { Entry } from "../entry/document.js";
import { DEFAULT_CONFIG, type EarlyChecks, type NestedConfig } from "./config.js";
import { type NestedResult, runNested, softwareCheckSet } from "./l0.js";

export interface CompareRow {
  earlyChecks: EarlyChecks;
  softwareChecks: string;
  hypervisor: boolean;
  dryRuns: number;
  /** architectural VMFail (error 7/8) states */
  vmfail: { total: number; early: number; late: number; missed: number; wrongError: number };
  /** architectural VM-exit (33/34) states */
  vmexit: { total: number; early: number; late: number; missed: number };
  /** mean modelled cycles per entry over the states that enter */
  cyclesPerValidEntry: number;
  /** mean modelled cycles over all states */
  cyclesPerEntry: number;
  l0Bugs: number;
}

export const MATRIX: readonly { earlyChecks: EarlyChecks; softwareChecks: "full" | "kvm" | "none" }[] = [
  { earlyChecks: 1, softwareChecks: "kvm" },
  { earlyChecks: 0, softwareChecks: "kvm" },
  { earlyChecks: -1, softwareChecks: "kvm" },
  { earlyChecks: 1, softwareChecks: "full" },
  { earlyChecks: 0, softwareChecks: "full" },
  { earlyChecks: -1, softwareChecks: "full" },
  { earlyChecks: 1, softwareChecks: "none" },
  { earlyChecks: 0, softwareChecks: "none" },
  { earlyChecks: -1, softwareChecks: "none" },
];

export function compareCorpus(
  entries: readonly Entry[],
  opts: { hostCaps?: Caps; hypervisor?: boolean; base?: Partial<NestedConfig> } = {},
): CompareRow[] {
  const rows: CompareRow[] = [];
  for (const m of MATRIX) {
    const cfg: NestedConfig = {
      ...DEFAULT_CONFIG,
      ...opts.base,
      ...m,
      ...(opts.hypervisor !== undefined ? { hypervisor: opts.hypervisor } : {}),
    };
    const row: CompareRow = {
      earlyChecks: m.earlyChecks,
      softwareChecks: m.softwareChecks,
      hypervisor: cfg.hypervisor ?? opts.hostCaps?.hypervisor ?? false,
      dryRuns: 0,
      vmfail: { total: 0, early: 0, late: 0, missed: 0, wrongError: 0 },
      vmexit: { total: 0, early: 0, late: 0, missed: 0 },
      cyclesPerValidEntry: 0,
      cyclesPerEntry: 0,
      l0Bugs: 0,
    };
    let validCycles = 0;
    let valid = 0;
    let all = 0;
    for (const e of entries) {
      const r = runNested({ vmcs12: e, ...(opts.hostCaps ? { hostCaps: opts.hostCaps } : {}) }, cfg);
      all += r.cost.cycles;
      if (r.dryRun.performed) row.dryRuns++;
      if (r.l0Bug) row.l0Bugs++;
      const a = r.architectural.outcome;
      if (a.type === "entered") {
        valid++;
        validCycles += r.cost.cycles;
        continue;
      }
      const bucket = a.type === "vmfail-valid" ? row.vmfail : a.type === "vmexit" ? row.vmexit : undefined;
      if (!bucket) continue;
      bucket.total++;
      bucket[r.detection === "entered" ? "missed" : r.detection]++;
      if (a.type === "vmfail-valid" && r.toL1.type === "vmfail-valid" && !r.faithful) row.vmfail.wrongError++;
    }
    row.cyclesPerValidEntry = valid ? Math.round(validCycles / valid) : 0;
    row.cyclesPerEntry = entries.length ? Math.round(all / entries.length) : 0;
    rows.push(row);
  }
  return rows;
}

export interface Gap {
  id: string;
  sdm: string;
  /** what happens to such a vmcs12 without a dry run: caught late by hardware, or never */
  consequence: "late" | "missed" | "early";
  toL1: string;
  note: string;
}

/**
 * Oracle mode: for states that each violate one check (`violations[i]` = id violated by `entries[i]`), find
 * those the software set lets through (no dry run) although the architecture rejects them.
 */
export function findGaps(
  entries: readonly Entry[],
  violated: readonly string[],
  softwareChecks: NestedConfig["softwareChecks"],
  hostCaps?: Caps,
): Gap[] {
  const cfg: NestedConfig = { ...DEFAULT_CONFIG, earlyChecks: 0, softwareChecks };
  const gaps = new Map<string, Gap>();
  entries.forEach((e, i) => {
    const id = violated[i]!;
    const r: NestedResult = runNested({ vmcs12: e, ...(hostCaps ? { hostCaps } : {}) }, cfg);
    if (r.architectural.outcome.type === "entered") return;
    if (r.detectedBy === "software" || r.detectedBy === "instruction" || r.detectedBy === "msr-load") return;
    if (gaps.has(id)) return;
    const c = CHECKS.find((x) => x.id === id);
    gaps.set(id, {
      id,
      sdm: c?.sdm ?? "",
      consequence: r.detection === "entered" ? "missed" : r.detection,
      toL1: JSON.stringify(r.toL1),
      note:
        r.detection === "missed"
          ? "L2 enters although the architecture rejects this vmcs12 (the field is L0-owned or L0 rewrites it)"
          : "caught only by the hardware entry, after L0 acted on guest state (MSR loads)",
    });
  });
  return [...gaps.values()];
}

/** Ids in the software set vs the registry, for the report. */
export function softwareCoverage(sel: NestedConfig["softwareChecks"]): {
  checks: number;
  vmfailComplete: boolean;
} {
  const s = softwareCheckSet(sel);
  return { checks: s.all.length, vmfailComplete: s.complete };
}
