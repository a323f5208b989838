/**
 * The image boots under QEMU without KVM (TCG has no VMX): from a legacy BIOS (SeaBIOS) and as a UEFI application
 * (Debian's OVMF), and reports the absence of VMX in one line, on COM1.
 */
import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { builtinProfile } from "../../src/cpu/builtin.js";
import { baseEntry } from "../../src/gen/base.js";
import { OUT } from "../../src/probe/blob.js";
import { coreHeader } from "../../src/probe/core.js";
import { buildRun, prepareAll } from "../../src/probe/states.js";
import { describeWith, OVMF_CODE, OVMF_VARS } from "./env.js";

const dir = mkdtempSync(join(tmpdir(), "nvmx-qemu-"));

function qemu(args: string[], timeoutMs: number): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(
      "qemu-system-x86_64",
      [
        "-nographic",
        "-no-reboot",
        "-monitor",
        "none",
        "-net",
        "none",
        "-m",
        "256",
        "-serial",
        "stdio",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ...args,
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString("latin1");
    });
    const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(t);
      resolve({ out, code });
    });
  });
}

function image(): string {
  const host = coreHeader();
  const states = [{ entry: baseEntry(builtinProfile("bochs-2.7-skylake-x")), where: "base" }];
  const built = buildRun(prepareAll(states, host), OUT.com1 | OUT.qemuExit, host);
  const f = join(dir, "probe.img");
  writeFileSync(f, built.image.bytes);
  return f;
}

const NOVMX = "NOVMX CPUID.1:ECX.VMX[bit 5] = 0: this CPU (or hypervisor) does not offer VMX";

describeWith(["probe", "qemu"], "probe image under QEMU (TCG, no VMX)", () => {
  it("boots from SeaBIOS and reports the absence of VMX, then ends QEMU through isa-debug-exit", async () => {
    const { out, code } = await qemu(["-drive", `file=${image()},format=raw,if=ide`], 120_000);
    const lines = out.split(/\r?\n/);
    expect(lines).toContain("NVMX-PROBE 1 bios");
    expect(lines).toContain(NOVMX);
    expect(lines).toContain("DONE 0");
    expect(code).toBe(1); // isa-debug-exit: (0 << 1) | 1
  }, 150_000);
});

describeWith(["probe", "qemu", "ovmf"], "probe image under QEMU with OVMF (UEFI)", () => {
  it("starts as a UEFI application, leaves boot services and reports the absence of VMX", async () => {
    const vars = join(dir, "vars.fd");
    copyFileSync(OVMF_VARS, vars);
    const { out, code } = await qemu(
      [
        "-drive",
        `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`,
        "-drive",
        `if=pflash,format=raw,file=${vars}`,
        "-drive",
        `file=${image()},format=raw,if=ide`,
      ],
      180_000,
    );
    const ESC = String.fromCharCode(27);
    const lines = out.replaceAll(new RegExp(`${ESC}\\[[0-9;=]*[a-zA-Z]`, "g"), "").split(/\r?\n/);
    expect(lines).toContain("NVMX-PROBE 1 uefi");
    // the UEFI loader says it on the firmware console (which OVMF mirrors to COM1), the core on COM1
    expect(lines.filter((l) => l === NOVMX).length).toBeGreaterThanOrEqual(1);
    expect(lines).toContain("DONE 0");
    expect(code).toBe(1);
  }, 200_000);
});
