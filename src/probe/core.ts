/**
 * The built probe (probe/*.asm, assembled by probe/build.sh into dist/probe-bin/): where the binaries are, and
 * the probe's own state read from the core's header — the host state it gives every state it runs, its VMCS
 * and VMXON regions, the relocation window and where the states blob goes. One source of truth: the numbers
 * come from the assembled core, never from a copy here.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const PROBE_BINARIES = ["mbr.bin", "stage2.bin", "core.bin", "uefi.bin"] as const;
export type ProbeBinary = (typeof PROBE_BINARIES)[number];

/** dist/probe-bin, from src/probe (tests) or dist/probe (the built CLI): both sit two levels below the root. */
export function probeBinDir(): string {
  return process.env["NVMX_PROBE_BIN"] ?? fileURLToPath(new URL("../../dist/probe-bin/", import.meta.url));
}

/** Why the probe cannot be used here (binaries not built), or undefined. */
export function probeMissing(): string | undefined {
  const dir = probeBinDir();
  const missing = PROBE_BINARIES.filter((b) => !existsSync(`${dir}/${b}`));
  if (missing.length === 0) return undefined;
  return `the probe is not built (${missing.join(", ")} missing in ${dir}): install nasm and run \`npm run build:probe\``;
}

export function readBinary(name: ProbeBinary): Uint8Array {
  const why = probeMissing();
  if (why) throw new Error(why);
  return new Uint8Array(readFileSync(`${probeBinDir()}/${name}`));
}

/** The probe's own state, from the core header (probe/core.asm `header`). */
export interface ProbeHost {
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
  pat: bigint;
  gdtrBase: bigint;
  idtrBase: bigint;
  trBase: bigint;
  rip: bigint;
  rsp: bigint;
  cs: number;
  ss: number;
  ds: number;
  es: number;
  fs: number;
  gs: number;
  tr: number;
  vmcs: bigint;
  vmxon: bigint;
  windowBase: number;
  windowSize: number;
  blobBase: number;
  blobMax: number;
  coreBase: number;
  /** The 32-bit host mode (processor.ia32e = false): PAE paging, a 32-bit code segment, its exit handler. */
  cr3Host32: bigint;
  ripHost32: bigint;
  csHost32: number;
}

export function coreHeader(core: Uint8Array = readBinary("core.bin")): ProbeHost {
  const dv = new DataView(core.buffer, core.byteOffset, core.byteLength);
  const magic = new TextDecoder().decode(core.subarray(16, 24));
  if (magic !== "NVMXCORE" || dv.getUint32(24, true) !== 1)
    throw new Error("core.bin has no nvmx core header (version 1): rebuild the probe");
  const q = (o: number) => dv.getBigUint64(o, true);
  const w = (o: number) => dv.getUint16(o, true);
  return {
    cr0: q(48),
    cr3: q(56),
    cr4: q(64),
    efer: q(72),
    pat: q(80),
    gdtrBase: q(88),
    idtrBase: q(96),
    trBase: q(104),
    rip: q(112),
    rsp: q(120),
    cs: w(128),
    ss: w(130),
    ds: w(132),
    es: w(134),
    fs: w(136),
    gs: w(138),
    tr: w(140),
    vmcs: q(144),
    vmxon: q(152),
    windowBase: Number(q(160)),
    windowSize: Number(q(168)),
    blobBase: Number(q(176)),
    blobMax: Number(q(184)),
    coreBase: Number(q(192)),
    cr3Host32: q(200),
    ripHost32: q(208),
    csHost32: w(216),
  };
}
