/** `nvmx nested --find-gaps`: the rules a kernel's software checks let through, with why. */
import type { CheckClass } from "../checks/types.js";
import type { Caps } from "../cpu/profile.js";
import { findGaps, type Gap } from "../nested/compare.js";
import type { NestedConfig } from "../nested/config.js";
import { sourceText } from "../nested/kernel.js";
import { kernelPreset } from "../nested/kernels/index.js";
import type { Output } from "./output.js";

export interface FindGapsOptions {
  kernel: string;
  host: Caps;
  /** L1's profile when the user gives one (--l1-cpu) */
  l1?: Caps;
  /** vmfail: control and host-state rules (errors 7 and 8); exit: guest state and MSR loading; all */
  only: "vmfail" | "exit" | "all";
  json: boolean;
  base: NestedConfig;
  /** progress of the violation search (stderr, a terminal: src/cli/command.ts) */
  progress?: (done: number, total: number) => void;
}

const CLASSES: Record<FindGapsOptions["only"], CheckClass[] | undefined> = {
  vmfail: ["control", "host"],
  exit: ["guest", "msr-load"],
  all: undefined,
};

function line(g: Gap): string {
  const src = g.source ? ` [${sourceText(g.source)}]` : "";
  return `  ${g.id} (SDM ${g.sdm}) → L1 sees ${g.toL1}\n      ${g.why}${src}`;
}

export async function findGapsCommand(opts: FindGapsOptions, out: Output): Promise<number> {
  const preset = kernelPreset(opts.kernel);
  const classes = CLASSES[opts.only];
  const report = await findGaps(preset.id, opts.host, {
    ...(classes ? { classes } : {}),
    base: opts.base,
    ...(opts.l1 ? { l1: opts.l1 } : {}),
    ...(opts.progress ? { progress: opts.progress } : {}),
  });
  if (opts.json) {
    await out.line(JSON.stringify({ ...report, only: opts.only }));
    return 0;
  }
  const by = (k: Gap["kind"]) => report.gaps.filter((g) => g.kind === k);
  const lines = [
    `${preset.name} (${preset.tree.release}, ${preset.tree.repository}) on host ${report.host}, L1 profile ${report.l1}:`,
    `${report.checkedExactly} rules the kernel checks exactly in software (not searched); ${report.states} vmcs12 states, each violating one other ${opts.only === "vmfail" ? "VMFail (error 7/8) " : opts.only === "exit" ? "guest-state or MSR-load " : ""}rule: the kernel's software checks without a dry run let ${report.gaps.length} through${report.leftToHardware.length ? ` and leave ${report.leftToHardware.length} to the processor by design` : ""}.`,
  ];
  const section = (title: string, gs: Gap[]) => {
    if (!gs.length) return;
    lines.push("", `${title} (${gs.length}):`);
    for (const g of gs) lines.push(line(g));
  };
  section(
    "LATE: only the real VM entry catches it (KVM unwinds, or reflects the exit after acting on guest state)",
    by("late"),
  );
  section("MISSED: L2 enters although the architecture rejects the vmcs12", by("missed"));
  section("WRONG OUTCOME: L1 sees another outcome than the architecture's", by("wrong"));
  section("KVM INTERNAL ERROR: L1 sees nothing", by("internal-error"));
  section(
    "LEFT TO HARDWARE (by design, not gaps): vmcs02 carries vmcs12's value and the processor's exit is reflected",
    report.leftToHardware,
  );
  if (report.skipped.length)
    lines.push(
      "",
      `${report.skipped.length} rules cannot be violated alone on ${report.l1} (not applicable there), so they were not searched.`,
    );
  await out.line(lines.join("\n"));
  return 0;
}
