/** `nvmx nested` as a user runs it: inputs it reads and refuses, the flags, find-gaps, and the tracepoint in explain. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { F } from "../../src/arch/fields.js";
import { serializeEntry } from "../../src/entry/document.js";
import { formatNestedState } from "../../src/formats/nested-state.js";
import { vmcs12 } from "./helpers.js";

const CLI = new URL("../../dist/cli/main.js", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "nvmx-nested-"));
const run = (args: string[]) =>
  spawnSync("node", [CLI, "nested", ...args], {
    encoding: "utf8",
    env: { ...process.env, NVMX_CACHE_DIR: join(dir, "cache") },
  });

const doc = join(dir, "vmcs12.json");
writeFileSync(doc, JSON.stringify({ ...serializeEntry(vmcs12("v6.19")), cpu: "sapphirerapids" }));

describe("inputs", () => {
  it("an entry document: the newest kernel by default, its CPU taken as the host", () => {
    const r = run(["--json", doc]);
    expect(r.status).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o).toMatchObject({
      kernel: "v6.19",
      detection: "entered",
      config: { host: "sapphirerapids", l1: "kvm-v6.19@sapphirerapids" },
    });
  });
  it("a KVM_GET_NESTED_STATE blob is read as vmcs12", () => {
    const e = vmcs12("v6.19", (x) => x.vmcs.set(F.HOST_TR_SELECTOR!, 0n));
    const blob = join(dir, "state.bin");
    writeFileSync(blob, formatNestedState(e));
    const r = run(["--json", blob]);
    expect(r.status).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.file).toBe(`${blob} (vmcs12)`);
    expect(o.toL1).toEqual({ type: "vmfail-valid", error: 8 });
    expect(o.tracepoint).toEqual(["kvm_nested_vmenter_failed: vmcs12->host_tr_selector == 0"]);
  });
  it("a dump_vmcs is refused unless the user says it is vmcs12, with why", () => {
    const dump = new URL("../corpus/kvm-dump/kvm-list-2021-dosemu2-ds-es-not-accessed.txt", import.meta.url)
      .pathname;
    const r = run([dump]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/Printed by L0 it shows vmcs02 .* not the vmcs12 L1 wrote.*--as vmcs12/);
    const ok = run(["--as", "vmcs12", "--json", dump]);
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout.split("\n")[0]!).file).toMatch(/\(as vmcs12\)$/);
  });
});

describe("flags", () => {
  it("--early-checks maps to --early-consistency-checks with a one-line note", () => {
    const r = run(["--kernel", "v6.18", "--early-checks=-1", "--bare-metal", "--json", doc]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/note: --early-checks is now --early-consistency-checks/);
    const o = JSON.parse(r.stdout);
    expect(o.config.parameter).toBe("early_consistency_checks=-1");
    expect(o.dryRun.performed).toBe(true);
  });
  it("--nested-early-check on v6.19 is refused in one line naming the option", () => {
    const r = run(["--nested-early-check=Y", doc]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--nested-early-check: v6\.19 has no dry-run parameter/);
  });
  it("--software-checks=kvm is read as kernel, --l1-ram takes sizes, bad values name the flag", () => {
    const a = run(["--software-checks=kvm", "--l1-ram", "4G", "--json", doc]);
    expect(a.status).toBe(0);
    expect(a.stderr).toMatch(/--software-checks=kernel/);
    const b = run(["--l1-ram", "lots", doc]);
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/--l1-ram: expected a size/);
  });
});

describe("--find-gaps", () => {
  it("v6.19, VMFail rules only: the vTPR rule alone, explained with its source", () => {
    const r = run(["--find-gaps", "--only", "vmfail", "--json"]);
    expect(r.status).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.kernel).toBe("v6.19");
    expect(o.gaps.map((g: { id: string }) => g.id)).toEqual(["ctl.exec.tpr-threshold-vtpr"]);
    expect(o.gaps[0].source).toMatchObject({ tag: "v6.19", file: "arch/x86/kvm/vmx/nested.c" });
    expect(o.leftToHardware).toEqual([]);
  }, 240_000);
});

describe("explain reads the kvm_nested_vmenter_failed tracepoint", () => {
  it("maps each line to the kernel check and nvmx rules", () => {
    const log = join(dir, "trace.txt");
    writeFileSync(
      log,
      [
        "# tracer: nop",
        " qemu-system-x86-4021  [003] ....  8141.296021: kvm_nested_vmenter_failed: nested_cpu_has_vpid(vmcs12) && !vmcs12->virtual_processor_id",
        " qemu-system-x86-4021  [003] ....  8141.297533: kvm_nested_vmenter_failed: early hardware check VM-instruction error: VMENTRY_INVALID_CONTROL_FIELD",
      ].join("\n"),
    );
    const r = spawnSync("node", [CLI, "explain", "--json", log], { encoding: "utf8" });
    expect(r.status).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.format).toBe("kvm-tracepoint");
    expect(o.lines[0].matches.map((m: { kernel: string }) => m.kernel)).toEqual(["v6.19", "v6.18", "v6.6"]);
    expect(o.lines[0].matches[0].rules).toEqual(["ctl.exec.vpid-nonzero"]);
    expect(o.lines[1].hardware).toEqual({ when: "early", error: "VMENTRY_INVALID_CONTROL_FIELD" });
    const human = spawnSync("node", [CLI, "explain", log], { encoding: "utf8" });
    expect(human.stdout).toMatch(
      /nested_check_vm_execution_controls → VMfail\(7\) \(v6\.19 nested\.c:2936, v6\.18 nested\.c:\d+, v6\.6 nested\.c:\d+\)/,
    );
  });

  it("finds the event anywhere in a long trace (after 4 MiB of other events), with its line number", () => {
    const log = join(dir, "long-trace.txt");
    const other =
      " qemu-system-x86-4021  [003] ....  8141.000001: kvm_exit: reason EPT_VIOLATION rip 0xffffffff81000000 info 181 0\n";
    const n = Math.ceil((4 << 20) / other.length);
    writeFileSync(
      log,
      `${other.repeat(n)} qemu-system-x86-4021  [003] ....  8141.296021: kvm_nested_vmenter_failed: nested_cpu_has_vpid(vmcs12) && !vmcs12->virtual_processor_id\n`,
    );
    const r = spawnSync("node", [CLI, "explain", "--json", log], { encoding: "utf8" });
    expect(r.status).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.lines.map((l: { line: number }) => l.line)).toEqual([n + 1]);
    expect(o.lines[0].matches[0].rules).toEqual(["ctl.exec.vpid-nonzero"]);
  });
});
