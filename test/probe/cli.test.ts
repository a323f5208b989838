/**
 * `nvmx probe` as a user runs it (built dist/): compare a recorded Bochs log with its states, build an image,
 * export kvm-unit-tests cases, make a profile from a log; bad invocations get one clear line.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { builtinData } from "../../src/cpu/builtin.js";
import { describeWith } from "./env.js";

const CLI = new URL("../../dist/cli/main.js", import.meta.url).pathname;
const run = (args: string[]) => spawnSync("node", [CLI, ...args], { encoding: "utf8" });
const FX = new URL("./fixtures/", import.meta.url).pathname;
const STATES = join(FX, "skylake-x-states.ndjson");
const LOG = join(FX, "skylake-x-states.log");
const dir = mkdtempSync(join(tmpdir(), "nvmx-probe-cli-"));

describeWith(["probe"], "nvmx probe (CLI)", () => {
  it("compare: the agreement table of a recorded Bochs run, every disagreement explained", () => {
    const r = run(["probe", "compare", "--bochs", "--cpu", "bochs-2.7-skylake-x", LOG, STATES]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines.slice(0, 12)).toEqual([
      `nvmx probe compare: ${LOG} (bios), 22 states`,
      "",
      "| nvmx outcome (final documents) | states | agree | CPU deviation | unexplained | no result | intended violation removed by the probe |",
      "|---|---:|---:|---:|---:|---:|---:|",
      "| entered | 7 | 5 | 2 | 0 | 0 | 0 |",
      "| VMfailInvalid | 1 | 0 | 1 | 0 | 0 | 0 |",
      "| VMfailValid(7) controls | 2 | 0 | 2 | 0 | 0 | 0 |",
      "| VMfailValid(8) host state | 2 | 1 | 1 | 0 | 0 | 0 |",
      "| exit 33 (invalid guest state) | 9 | 1 | 8 | 0 | 0 | 1 |",
      "| exit 34 (MSR loading) | 1 | 0 | 1 | 0 | 0 | 0 |",
      "| **all** | 22 | 7 | 15 | 0 | 0 | 1 |",
      "",
    ]);
    expect(r.stdout).toContain(
      [
        `  state 17 (${STATES}:18) violates guest.rip.linear-width: Bochs deviation B`,
        "      nvmx: exit 33 (qual. 0) [guest.rip.linear-width]",
        "      CPU:  entered (stopped by exit 52)",
        "      B: no check that guest RIP fits the linear-address width in a 64-bit guest (SDM 29.3.1.4 P2; still present in HEAD)",
      ].join("\n"),
    );
    expect(lines.at(-2)).toBe("0 unexplained disagreements");
  });

  it("compare without the Bochs deviation model: the same disagreements are unexplained (exit status 1)", () => {
    const r = run(["probe", "compare", "--json", "--cpu", "bochs-2.7-skylake-x", LOG, STATES]);
    expect(r.status).toBe(1);
    const recs = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(recs).toHaveLength(23);
    expect(recs.filter((x) => x.verdict === "unexplained")).toHaveLength(15);
    expect(recs[17]).toMatchObject({
      state: 17,
      verdict: "unexplained",
      violations: ["guest.rip.linear-width"],
    });
  });

  it("image: a hybrid BIOS/UEFI disk, the EFI application alone, and the prepared documents", () => {
    const img = join(dir, "probe.img");
    const efi = join(dir, "BOOTX64.EFI");
    const fin = join(dir, "final.ndjson");
    const r = run([
      "probe",
      "image",
      STATES,
      "-o",
      img,
      "--efi",
      efi,
      "--final",
      fin,
      "--cpu",
      "bochs-2.7-skylake-x",
    ]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(
      /^nvmx probe image: .*probe\.img \(9\.\d MiB\): 22 states; output on COM1 and port 0xE9\n$/,
    );
    const b = readFileSync(img);
    expect([b[510], b[511], b[446], b[450]]).toEqual([0x55, 0xaa, 0x80, 0xef]);
    expect(readFileSync(efi).subarray(0, 2).toString()).toBe("MZ");
    const docs = readFileSync(fin, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(docs).toHaveLength(22);
    expect(docs[0].vmcs.HOST_RIP).toMatch(/^0x10[0-9a-f]{4}$/);
    const check = spawnSync("node", [CLI, "check", "--json", fin], { encoding: "utf8" });
    expect(check.status).toBe(0);
    // --start N: the blob (whose sectors the MBR names) begins at state N
    const blobAt = (f: string) => readFileSync(f).readUInt32LE(15) * 512;
    const img5 = join(dir, "from5.img");
    expect(run(["probe", "image", STATES, "-o", img5, "--start", "5"]).status).toBe(0);
    const b5 = readFileSync(img5);
    expect(b5.subarray(blobAt(img5), blobAt(img5) + 8).toString()).toBe("NVMXSTAT");
    expect(b5.readUInt32LE(blobAt(img5) + 20)).toBe(5);
    expect(b.readUInt32LE(blobAt(img) + 20)).toBe(0);
  });

  it("kut: a state as a kvm-unit-tests case", () => {
    const r = run(["probe", "kut", "--cpu", "bochs-2.7-skylake-x", "--state", "17", STATES]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("static void nvmx_state_17(void)");
    expect(r.stdout).toContain("/* TEST(nvmx_state_17), */");
    expect(r.stdout).toContain("report((!err && reason == (VMX_ENTRY_FAILURE | 33) && qual == 0),");
    expect(r.stdout).toContain("vmcs_write(0x2012, virt_to_phys(mem0) + 0x0); /* VIRTUAL_APIC_PAGE_ADDR */");
  });

  it("caps LOG: the profile of the CPU in a log", () => {
    const r = run(["probe", "caps", LOG, "--name", "bochs-2.7-skylake-x"]);
    expect(r.status).toBe(0);
    const p = JSON.parse(r.stdout);
    const shipped = builtinData("bochs-2.7-skylake-x")!;
    expect({ ...p, description: "", source: "" }).toEqual({ ...shipped, description: "", source: "" });
    expect(r.stderr).toBe("nvmx probe caps: RDMSR faulted for 0x345 (left out of msrValues)\n");
  });

  it("the npm package ships the assembled probe", () => {
    const root = new URL("../../", import.meta.url).pathname;
    const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts", "--loglevel=error"], {
      cwd: root,
      encoding: "utf8",
    });
    const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const b of ["mbr", "stage2", "core", "uefi"]) expect(files).toContain(`dist/probe-bin/${b}.bin`);
  });

  it("bad invocations: one line each, exit status 2", () => {
    const none = run(["probe"]);
    expect(none.status).toBe(2);
    expect(none.stderr).toBe(
      "nvmx probe: needs a subcommand: caps, image, run, compare, kut; try `nvmx probe --help`\n",
    );
    const noBochs = run(["probe", "run", STATES]);
    expect(noBochs.status).toBe(2);
    expect(noBochs.stderr).toBe(
      "nvmx probe run: only --bochs runs here; for QEMU/KVM or a real machine use `nvmx probe image` and `nvmx probe compare` (docs/probe.md); try `nvmx probe run --help`\n",
    );
    const noOut = run(["probe", "image", STATES]);
    expect(noOut.stderr).toBe(
      "nvmx probe image: -o FILE (the disk image to write) is required; try `nvmx probe image --help`\n",
    );
    const noLog = run(["probe", "compare", join(FX, "missing.log"), STATES]);
    expect(noLog.status).toBe(2);
    expect(noLog.stderr).toBe(`nvmx: ${join(FX, "missing.log")}: no such file\n`);
    const badLog = run(["probe", "caps", STATES]);
    expect(badLog.status).toBe(2);
    expect(badLog.stderr).toMatch(/IA32_VMX_BASIC/);
  });
});
