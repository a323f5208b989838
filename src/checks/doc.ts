/** docs/checks.md, generated from the registry (the single source of truth). */
import { CHECKLIST, NOT_CHECKED } from "./checklist.js";
import { SECTIONS } from "./registry.js";
import type { Check } from "./types.js";

function outcome(c: Check): string {
  switch (c.cls) {
    case "basic":
      if (!c.outcome) return "VMfailInvalid";
      return c.outcome.type === "fault"
        ? c.outcome.exception
        : c.outcome.type === "vmfail-valid"
          ? `VMfailValid(${c.outcome.error})`
          : "VMfailInvalid";
    case "control":
      return `VMfailValid(${c.error ?? 7})`;
    case "host":
      return "VMfailValid(8)";
    case "guest":
      return `exit 33, qual ${c.qualification ?? 0}`;
    case "msr-load":
      return "exit 34, qual = entry";
  }
}

const esc = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** An extra column of the per-section tables (e.g. which kernel checks the rule in software). */
export interface DocColumn {
  title: string;
  cell: (id: string) => string;
}

export function checksMarkdown(columns: readonly DocColumn[] = []): string {
  const out: string[] = [];
  const total = SECTIONS.reduce((n, s) => n + s.checks.length, 0);
  out.push(
    "# VM-entry checks",
    "",
    "Generated from the registry (`src/checks/registry.ts`) by `npm run docs`; do not edit by hand.",
    "Section numbers are those of the newest Intel SDM (VM entries are chapter 29).",
    "",
    `**${total} checks.**`,
    "",
    "| Section | Title | Checks |",
    "|---|---|---:|",
  );
  for (const s of SECTIONS) out.push(`| ${s.sdm} | ${s.title} | ${s.checks.length} |`);
  for (const s of SECTIONS) {
    const extra = columns.map((c) => ` ${c.title} |`).join("");
    out.push(
      "",
      `## ${s.sdm} ${s.title}`,
      "",
      `| id | outcome | rule | checklist |${extra}`,
      `|---|---|---|---|${columns.map(() => "---|").join("")}`,
    );
    for (const c of s.checks)
      out.push(
        `| \`${c.id}\` | ${outcome(c)} | ${esc(c.rule)} | ${(c.checklist ?? []).join(", ")} |${columns.map((x) => ` ${esc(x.cell(c.id))} |`).join("")}`,
      );
  }
  // Coverage against the research checklist.
  const by = new Map<string, string[]>();
  for (const s of SECTIONS)
    for (const c of s.checks)
      for (const item of c.checklist ?? []) {
        if (!by.has(item)) by.set(item, []);
        by.get(item)!.push(c.id);
      }
  const missing = CHECKLIST.filter(([id]) => !by.has(id) && !NOT_CHECKED[id]);
  out.push(
    "",
    "## Coverage against the SDM checklist",
    "",
    "Items of `../shared/docs/reference/sdm-checks.md`; each is implemented by the checks named, or is not a",
    "check nvmx evaluates, for the reason given.",
    "",
    `Implemented: ${CHECKLIST.filter(([id]) => by.has(id)).length}; not checked (with reason): ${CHECKLIST.filter(([id]) => !by.has(id) && NOT_CHECKED[id]).length}; gaps: ${missing.length}.`,
    "",
    "| item | rule (our words) | nvmx |",
    "|---|---|---|",
  );
  for (const [id, text] of CHECKLIST) {
    const ids = by.get(id);
    const cell = ids
      ? ids.map((i) => `\`${i}\``).join(", ")
      : NOT_CHECKED[id]
        ? `not checked: ${NOT_CHECKED[id]}`
        : "**GAP**";
    out.push(`| ${id} | ${esc(text)} | ${cell} |`);
  }
  return `${out.join("\n")}\n`;
}
