/**
 * `nvmx caps list` and `nvmx caps show NAME|FILE`: the built-in CPU profiles, and what a profile (built-in, a
 * profile JSON file, or vmxcap output) allows; `--json` gives the list, or the profile document itself.
 */
import type { Command } from "commander";
import { CONTROL_BITS, type ControlWord } from "../arch/controls.js";
import { builtinData, builtinNames, builtinProfile } from "../cpu/builtin.js";
import type { Caps } from "../cpu/profile.js";
import { hex64 } from "../util/u64.js";
import { cpuValue } from "./check.js";
import { type Cli, defineCommand, jsonOption } from "./command.js";

export function capsList(): string {
  const names = builtinNames();
  const w = Math.max(...names.map((n) => n.length));
  return names
    .map((n) => {
      const d = builtinData(n)!;
      return `${n.padEnd(w)}  ${d.description ?? ""}${d.hypervisor ? " [runs under a hypervisor]" : ""}`;
    })
    .join("\n");
}

const WORD_TITLES: Record<ControlWord, string> = {
  pin: "Pin-based VM-execution controls",
  proc: "Primary processor-based VM-execution controls",
  proc2: "Secondary processor-based VM-execution controls",
  proc3: "Tertiary processor-based VM-execution controls",
  exit: "Primary VM-exit controls",
  exit2: "Secondary VM-exit controls",
  entry: "VM-entry controls",
};

function setting(c: Caps, word: ControlWord, bit: number): string {
  const a = c.ctl[word];
  const must1 = bit < 32 ? (a.must1 >>> bit) & 1 : (a.must1Hi >>> (bit - 32)) & 1;
  const may1 = bit < 32 ? (a.may1 >>> bit) & 1 : (a.may1Hi >>> (bit - 32)) & 1;
  return must1 ? "must be 1" : may1 ? "0 or 1" : "must be 0 (unsupported)";
}

export function capsShow(c: Caps): string {
  const out: string[] = [];
  out.push(`${c.name}: ${c.description}`);
  if (c.source) out.push(`source: ${c.source}`);
  out.push(
    `VMCS revision 0x${c.revision.toString(16)}, region ${c.vmcsSize} bytes, MAXPHYADDR ${c.maxPhysAddr}${c.addr32 ? " (addresses limited to 32 bits)" : ""}, linear addresses ${c.linearAddressBits} bits${c.hypervisor ? ", reports a hypervisor" : ""}`,
  );
  out.push(
    `TRUE_ controls: ${c.trueCtls ? "yes" : "no"}; any error code on injection (BASIC[56]): ${c.anyErrorCode ? "yes" : "no"}; nested exception (BASIC[58]): ${c.nestedException ? "yes" : "no"}; dual-monitor SMM: ${c.dualMonitor ? "yes" : "no"}`,
  );
  const acts = [
    "active",
    c.activityHlt && "HLT",
    c.activityShutdown && "shutdown",
    c.activityWaitSipi && "wait-for-SIPI",
  ];
  out.push(
    `activity states: ${acts.filter(Boolean).join(", ")}; CR3 targets: ${c.cr3Targets}; MSR-list limit: ${c.maxMsrList}; preemption-timer rate: TSC/2^${c.preemptionRate}; zero-length injection: ${c.zeroLengthInjection ? "yes" : "no"}; VMWRITE to exit-information fields: ${c.vmwriteAnyField ? "yes" : "no"}`,
  );
  out.push(
    `CR0 fixed-1 ${hex64(c.cr0Fixed0, 0)}, may-be-1 ${hex64(c.cr0Fixed1, c.cr0Fixed1Hi)}; CR4 fixed-1 ${hex64(c.cr4Fixed0, 0)}, may-be-1 ${hex64(c.cr4Fixed1, c.cr4Fixed1Hi)}`,
  );
  out.push(
    `EPT/VPID capabilities ${hex64(c.eptCap, c.eptCapHi)}; VM functions ${hex64(c.vmfuncLo, c.vmfuncHi)}`,
  );
  out.push(`flags: ${[...c.flags].join(" ") || "(none)"}`);
  // MSR valid bits decoded from the profile's CPU facts (src/cpu/facts.ts): strict … lenient, and why.
  out.push("", "MSR valid bits (strict, or strict … lenient where a CPU fact is uncertain):");
  for (const m of Object.values(c.facts.masks)) {
    const range =
      m.strict === m.lenient
        ? `0x${m.strict.toString(16)}`
        : `0x${m.strict.toString(16)} … 0x${m.lenient.toString(16)}`;
    out.push(`  ${m.name.padEnd(22)} ${range}`);
    for (const p of m.parts) out.push(`    0x${p.bits.toString(16)}: ${p.condition}`);
  }
  for (const word of Object.keys(CONTROL_BITS) as ControlWord[]) {
    out.push("", `${WORD_TITLES[word]}:`);
    for (const b of CONTROL_BITS[word])
      out.push(`  ${String(b.bit).padStart(2)} ${b.name.padEnd(42)} ${setting(c, word, b.bit)}`);
  }
  return out.join("\n");
}

export function capsShowName(name: string): string {
  return capsShow(builtinProfile(name));
}

/** `caps list --json`: name, description and whether the profile is a hypervisor's, per built-in profile. */
export function capsListJson(): string {
  return JSON.stringify(
    builtinNames().map((name) => {
      const d = builtinData(name)!;
      return { name, description: d.description ?? "", hypervisor: d.hypervisor ?? false };
    }),
  );
}

export function register(program: Command, cli: Cli): void {
  const caps = defineCommand(program, "caps", {
    summary: "the built-in CPU profiles, and what a profile allows",
    description: `CPU profiles: what a CPU's VMX capability MSRs and CPUID report (docs/contract.md §2,
docs/cpu-profiles.md). \`caps list\` names the built-in ones; \`caps show\` decodes one.`,
  });
  defineCommand(caps, "list", {
    summary: "list the built-in CPU profiles",
    examples: ["nvmx caps list", "nvmx caps list --json"],
  })
    .addOption(jsonOption("a JSON array of {name, description, hypervisor}"))
    .action(async (o: { json?: true }) => {
      await cli.out.line(o.json ? capsListJson() : capsList());
    });
  defineCommand(caps, "show", {
    summary: "what each capability of a profile allows",
    description: `What a CPU profile allows: the VMCS revision and limits, fixed CR0/CR4 bits, the MSR valid bits
decoded from its CPU facts, and every VM-execution, VM-exit and VM-entry control (must be 1, 0 or 1,
or unsupported). With --json, the profile document itself (docs/contract.md §2), ready to edit and
give as --cpu FILE.`,
    examples: [
      "nvmx caps show skylake",
      "nvmx caps show test/corpus/vmxcap/cs590-nfv-2016-suricata-kvm-host.txt",
    ],
  })
    .argument("<NAME|FILE>", "a built-in profile (nvmx caps list), a CPU profile JSON file, or vmxcap output")
    .addOption(jsonOption("the profile document (schemas/profile.schema.json)"))
    .action(async (what: string, o: { json?: true }) => {
      const c = cpuValue("caps show", "", what);
      await cli.out.line(o.json ? JSON.stringify(c.data, null, 2) : capsShow(c));
    });
}
