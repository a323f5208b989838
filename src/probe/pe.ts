/**
 * A PE32+ EFI application with one read/write/execute section (Microsoft PE/COFF specification; UEFI 2.x
 * §2.1.1: subsystem 10, machine x64). The code is position-independent (probe/uefi.asm), so the image has no
 * base relocations and may be loaded anywhere.
 */

const FILE_ALIGN = 0x200;
const SECTION_ALIGN = 0x1000;
const HEADERS = 0x200;

const align = (n: number, a: number) => Math.ceil(n / a) * a;

/** `section` is loaded at RVA 0x1000 and entered at its first byte; returns the file and the section's file offset. */
export function buildEfiApp(section: Uint8Array): { file: Uint8Array; sectionOffset: number } {
  const raw = align(section.length, FILE_ALIGN);
  const file = new Uint8Array(HEADERS + raw);
  const dv = new DataView(file.buffer);
  // DOS header: "MZ", e_lfanew
  file[0] = 0x4d;
  file[1] = 0x5a;
  dv.setUint32(0x3c, 0x40, true);
  let o = 0x40;
  file.set([0x50, 0x45, 0, 0], o); // "PE\0\0"
  o += 4;
  // COFF header
  dv.setUint16(o, 0x8664, true); // AMD64
  dv.setUint16(o + 2, 1, true); // sections
  dv.setUint16(o + 16, 240, true); // optional header size (PE32+)
  dv.setUint16(o + 18, 0x0022, true); // executable, large-address aware (relocations not stripped: none needed)
  o += 20;
  // optional header (PE32+)
  const opt = o;
  dv.setUint16(o, 0x20b, true);
  dv.setUint32(o + 4, raw, true); // size of code
  dv.setUint32(o + 16, SECTION_ALIGN, true); // entry point RVA
  dv.setUint32(o + 20, SECTION_ALIGN, true); // base of code
  dv.setBigUint64(o + 24, 0x10000000n, true); // preferred image base
  dv.setUint32(o + 32, SECTION_ALIGN, true);
  dv.setUint32(o + 36, FILE_ALIGN, true);
  dv.setUint32(o + 56, SECTION_ALIGN + align(section.length, SECTION_ALIGN), true); // size of image
  dv.setUint32(o + 60, HEADERS, true);
  dv.setUint16(o + 68, 10, true); // EFI application
  dv.setBigUint64(o + 72, 0x10000n, true); // stack reserve/commit, heap reserve/commit
  dv.setBigUint64(o + 80, 0x10000n, true);
  dv.setBigUint64(o + 88, 0x10000n, true);
  dv.setBigUint64(o + 96, 0x10000n, true);
  dv.setUint32(o + 108, 16, true); // data directories (all empty)
  o = opt + 240;
  // section header
  file.set(new TextEncoder().encode(".text\0\0\0"), o);
  dv.setUint32(o + 8, section.length, true); // virtual size
  dv.setUint32(o + 12, SECTION_ALIGN, true); // RVA
  dv.setUint32(o + 16, raw, true);
  dv.setUint32(o + 20, HEADERS, true);
  dv.setUint32(o + 36, 0xe0000060, true); // code, initialized data, execute, read, write
  file.set(section, HEADERS);
  return { file, sectionOffset: HEADERS };
}
