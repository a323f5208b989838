/**
 * Whether the probe's toolchain is here (nasm-built images, bochs, qemu, OVMF). Without it the probe's tests
 * are skipped with a message on stderr; NVMX_PROBE_REQUIRED=1 (set by .ci/run) turns the skip into a failure.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, it } from "vitest";
import { bochsMissing } from "../../src/probe/bochs.js";
import { probeMissing } from "../../src/probe/core.js";

export const OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd";
export const OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd";

export type Tool = "probe" | "bochs" | "qemu" | "ovmf";

function missing(tool: Tool): string | undefined {
  switch (tool) {
    case "probe":
      return probeMissing();
    case "bochs":
      return bochsMissing();
    case "qemu":
      return spawnSync("qemu-system-x86_64", ["--version"], { stdio: "ignore" }).error
        ? "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
        : undefined;
    case "ovmf":
      return existsSync(OVMF_CODE) ? undefined : `${OVMF_CODE} is missing (apt-get install ovmf)`;
  }
}

/** `describe` that runs only when the tools are here. */
export function describeWith(tools: Tool[], name: string, fn: () => void): void {
  const why = tools.map(missing).find((m) => m !== undefined);
  if (!why) {
    describe(name, fn);
    return;
  }
  if (process.env["NVMX_PROBE_REQUIRED"] === "1") {
    describe(name, () => {
      it("has its toolchain (NVMX_PROBE_REQUIRED=1)", () => {
        throw new Error(why);
      });
    });
    return;
  }
  process.stderr.write(`nvmx probe tests skipped (${name}): ${why}\n`);
  describe.skip(name, fn);
}

/** NVMX_PROBE_FULL=1: the full differential run (1,000 valid states per model) instead of the CI subset. */
export const FULL = process.env["NVMX_PROBE_FULL"] === "1";
