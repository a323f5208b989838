/**
 * The probe's disk image: one raw disk that boots under a legacy BIOS and under UEFI.
 *
 *   LBA 0        MBR: the BIOS boot sector (probe/mbr.asm) with its parameters, and one partition entry
 *   LBA 1..      stage 2 of the BIOS loader (probe/stage2.asm)
 *   LBA 2048..   EFI system partition (FAT16) with EFI/BOOT/BOOTX64.EFI = the UEFI loader (probe/uefi.asm),
 *                the core (probe/core.asm) and the states blob, each 512-byte aligned inside the file
 *
 * The BIOS loader reads the core and the blob straight from BOOTX64.EFI's sectors (the file is contiguous), so
 * the data is on the disk once.
 */
import { BLOB_START_OFFSET } from "./blob.js";
import { readBinary } from "./core.js";
import { buildFat16 } from "./fat.js";
import { buildEfiApp } from "./pe.js";

const SECTOR = 512;
const PART_START = 2048;

const align = (n: number, a: number) => Math.ceil(n / a) * a;

export interface DiskImage {
  bytes: Uint8Array;
  /** The UEFI application alone (for users who copy it to an existing ESP). */
  efi: Uint8Array;
  /** Byte offset in `bytes` of the blob header's `start` field (the runner patches it to resume). */
  startOffset: number;
  /** Byte offset of the blob in `bytes`. */
  blobOffset: number;
}

/** The UEFI section: loader, then the core and the blob at 512-byte-aligned offsets (parameters patched in). */
function efiSection(blob: Uint8Array): { section: Uint8Array; coreOff: number; blobOff: number } {
  const uefi = readBinary("uefi.bin");
  const core = readBinary("core.bin");
  const coreOff = align(uefi.length, SECTOR);
  const blobOff = align(coreOff + core.length, SECTOR);
  const section = new Uint8Array(align(blobOff + blob.length, SECTOR));
  section.set(uefi, 0);
  section.set(core, coreOff);
  section.set(blob, blobOff);
  const dv = new DataView(section.buffer);
  dv.setUint32(8, coreOff, true);
  dv.setUint32(12, core.length, true);
  dv.setUint32(16, blobOff, true);
  dv.setUint32(20, section.length - blobOff, true);
  return { section, coreOff, blobOff };
}

export function buildImage(blob: Uint8Array): DiskImage {
  const mbr = new Uint8Array(readBinary("mbr.bin"));
  const stage2 = readBinary("stage2.bin");
  const core = readBinary("core.bin");
  const { section, coreOff, blobOff } = efiSection(blob);
  const { file: efi, sectionOffset } = buildEfiApp(section);
  const fat = buildFat16([{ path: "EFI/BOOT/BOOTX64.EFI", data: efi }], PART_START);
  const efiAt = PART_START * SECTOR + fat.offsets.get("EFI/BOOT/BOOTX64.EFI")!;
  const stage2Sectors = Math.ceil(stage2.length / SECTOR);
  if (1 + stage2Sectors > PART_START) throw new Error("stage 2 does not fit before the partition");
  const total = PART_START * SECTOR + fat.bytes.length;
  const bytes = new Uint8Array(total);
  const dv = new DataView(mbr.buffer);
  const coreLba = (efiAt + sectionOffset + coreOff) / SECTOR;
  const blobLba = (efiAt + sectionOffset + blobOff) / SECTOR;
  dv.setUint32(3, 1, true); // stage 2 LBA
  dv.setUint16(7, stage2Sectors, true);
  dv.setUint32(9, coreLba, true);
  dv.setUint16(13, Math.ceil(core.length / SECTOR), true);
  dv.setUint32(15, blobLba, true);
  dv.setUint32(19, Math.ceil(blob.length / SECTOR), true);
  // disk signature and one partition: bootable, EFI system partition (type 0xEF), LBA addressing
  dv.setUint32(440, 0x4e564d58, true);
  const p = 446;
  mbr[p] = 0x80;
  mbr.set([0xfe, 0xff, 0xff], p + 1);
  mbr[p + 4] = 0xef;
  mbr.set([0xfe, 0xff, 0xff], p + 5);
  dv.setUint32(p + 8, PART_START, true);
  dv.setUint32(p + 12, fat.bytes.length / SECTOR, true);
  bytes.set(mbr, 0);
  bytes.set(stage2, SECTOR);
  bytes.set(fat.bytes, PART_START * SECTOR);
  const blobOffset = efiAt + sectionOffset + blobOff;
  return { bytes, efi, startOffset: blobOffset + BLOB_START_OFFSET, blobOffset };
}
