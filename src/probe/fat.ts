/**
 * A minimal FAT16 file-system writer for the probe's EFI system partition: directories and files, each file
 * in consecutive clusters (so the BIOS loader can read parts of BOOTX64.EFI by sector number). FAT16 layout
 * per Microsoft's "FAT: General Overview of On-Disk Format" (1.03): 1 reserved sector, 2 FATs, 512 root
 * entries, 4,085 ≤ clusters < 65,525.
 */

export interface FatFile {
  /** Path with "/" separators, 8.3 names, e.g. "EFI/BOOT/BOOTX64.EFI". */
  path: string;
  data: Uint8Array;
}

export interface FatImage {
  /** The partition's sectors. */
  bytes: Uint8Array;
  /** Byte offset of each file's data inside the partition (files are contiguous). */
  offsets: Map<string, number>;
}

const SECTOR = 512;
const ROOT_ENTRIES = 512;
const MIN_CLUSTERS = 4085;
const MAX_CLUSTERS = 65524;
const LABEL = new TextEncoder().encode("NVMX PROBE ");

interface Dir {
  name: string;
  dirs: Map<string, Dir>;
  files: FatFile[];
  cluster: number;
}

function name83(n: string): Uint8Array {
  const m = /^([A-Z0-9_~-]{1,8})(?:\.([A-Z0-9_~-]{1,3}))?$/.exec(n);
  if (!m) throw new Error(`not an upper-case 8.3 name: ${n}`);
  const out = new Uint8Array(11).fill(0x20);
  for (let i = 0; i < m[1]!.length; i++) out[i] = m[1]!.charCodeAt(i);
  for (let i = 0; i < (m[2]?.length ?? 0); i++) out[8 + i] = m[2]!.charCodeAt(i);
  return out;
}

function dirEntry(
  buf: Uint8Array,
  off: number,
  name: Uint8Array,
  attr: number,
  cluster: number,
  size: number,
) {
  buf.set(name, off);
  buf[off + 11] = attr;
  const dv = new DataView(buf.buffer, buf.byteOffset);
  // 2026-01-01 00:00:00
  dv.setUint16(off + 14, 0, true);
  dv.setUint16(off + 16, ((2026 - 1980) << 9) | (1 << 5) | 1, true);
  dv.setUint16(off + 18, ((2026 - 1980) << 9) | (1 << 5) | 1, true);
  dv.setUint16(off + 22, 0, true);
  dv.setUint16(off + 24, ((2026 - 1980) << 9) | (1 << 5) | 1, true);
  dv.setUint16(off + 26, cluster, true);
  dv.setUint32(off + 28, size, true);
}

/** Build a FAT16 volume holding `files`; `hiddenSectors` = the partition's first LBA on the disk. */
export function buildFat16(files: FatFile[], hiddenSectors: number): FatImage {
  const root: Dir = { name: "", dirs: new Map(), files: [], cluster: 0 };
  for (const f of files) {
    const parts = f.path.split("/");
    let d = root;
    for (const p of parts.slice(0, -1)) {
      let sub = d.dirs.get(p);
      if (!sub) {
        sub = { name: p, dirs: new Map(), files: [], cluster: 0 };
        d.dirs.set(p, sub);
      }
      d = sub;
    }
    d.files.push({ path: parts.at(-1)!, data: f.data });
  }
  // cluster size: the smallest that keeps the cluster count below the FAT16 maximum
  const dataBytes = files.reduce((s, f) => s + f.data.length, 0);
  let spc = 4;
  while (spc < 128 && Math.ceil(dataBytes / (spc * SECTOR)) + 64 > MAX_CLUSTERS) spc *= 2;
  const clusterBytes = spc * SECTOR;
  const dirs: Dir[] = [];
  const walk = (d: Dir) => {
    for (const s of d.dirs.values()) {
      dirs.push(s);
      walk(s);
    }
  };
  walk(root);
  const needed =
    dirs.length + files.reduce((s, f) => s + Math.max(1, Math.ceil(f.data.length / clusterBytes)), 0);
  const clusters = Math.max(MIN_CLUSTERS + 16, needed + 16);
  const fatSectors = Math.ceil(((clusters + 2) * 2) / SECTOR);
  const rootSectors = (ROOT_ENTRIES * 32) / SECTOR;
  const firstData = 1 + 2 * fatSectors + rootSectors;
  const total = firstData + clusters * spc;
  const bytes = new Uint8Array(total * SECTOR);
  const dv = new DataView(bytes.buffer);
  // boot sector with the BIOS parameter block
  bytes.set([0xeb, 0x3c, 0x90], 0);
  bytes.set(new TextEncoder().encode("NVMXPROB"), 3);
  dv.setUint16(11, SECTOR, true);
  bytes[13] = spc;
  dv.setUint16(14, 1, true);
  bytes[16] = 2;
  dv.setUint16(17, ROOT_ENTRIES, true);
  dv.setUint16(19, total < 0x10000 ? total : 0, true);
  bytes[21] = 0xf8;
  dv.setUint16(22, fatSectors, true);
  dv.setUint16(24, 63, true);
  dv.setUint16(26, 255, true);
  dv.setUint32(28, hiddenSectors, true);
  dv.setUint32(32, total < 0x10000 ? 0 : total, true);
  bytes[36] = 0x80;
  bytes[38] = 0x29;
  dv.setUint32(39, 0x4e564d58, true);
  bytes.set(LABEL, 43);
  bytes.set(new TextEncoder().encode("FAT16   "), 54);
  // a boot sector that is booted by mistake just halts
  bytes.set([0xfa, 0xf4, 0xeb, 0xfd], 62);
  bytes[510] = 0x55;
  bytes[511] = 0xaa;
  // allocate clusters: directories first, then files, each contiguous
  const fat = new Uint16Array(clusters + 2);
  fat[0] = 0xfff8;
  fat[1] = 0xffff;
  let next = 2;
  const offsets = new Map<string, number>();
  const clusterOffset = (c: number) => (firstData + (c - 2) * spc) * SECTOR;
  for (const d of dirs) {
    d.cluster = next;
    fat[next++] = 0xffff;
  }
  const fileCluster = new Map<FatFile, number>();
  const place = (d: Dir, prefix: string) => {
    for (const f of d.files) {
      const n = Math.max(1, Math.ceil(f.data.length / clusterBytes));
      const first = next;
      for (let i = 0; i < n; i++) fat[next + i] = i === n - 1 ? 0xffff : next + i + 1;
      next += n;
      fileCluster.set(f, f.data.length ? first : 0);
      if (f.data.length) bytes.set(f.data, clusterOffset(first));
      offsets.set(prefix + f.path, clusterOffset(first));
    }
    for (const s of d.dirs.values()) place(s, `${prefix}${s.name}/`);
  };
  place(root, "");
  // directory contents
  const writeDir = (d: Dir, parent: number, at: number, capacity: number) => {
    let i = 0;
    const add = (nm: Uint8Array, attr: number, cl: number, size: number) => {
      if (i >= capacity) throw new Error("directory full");
      dirEntry(bytes, at + 32 * i++, nm, attr, cl, size);
    };
    if (d !== root) {
      add(new Uint8Array([0x2e, ...Array(10).fill(0x20)]), 0x10, d.cluster, 0);
      add(new Uint8Array([0x2e, 0x2e, ...Array(9).fill(0x20)]), 0x10, parent, 0);
    } else {
      add(LABEL, 0x08, 0, 0);
    }
    for (const s of d.dirs.values()) add(name83(s.name), 0x10, s.cluster, 0);
    for (const f of d.files) add(name83(f.path), 0x20, fileCluster.get(f)!, f.data.length);
    for (const s of d.dirs.values())
      writeDir(s, d === root ? 0 : d.cluster, clusterOffset(s.cluster), clusterBytes / 32);
  };
  writeDir(root, 0, (1 + 2 * fatSectors) * SECTOR, ROOT_ENTRIES);
  for (let k = 0; k < 2; k++) {
    const base = (1 + k * fatSectors) * SECTOR;
    for (let c = 0; c < fat.length; c++) dv.setUint16(base + 2 * c, fat[c]!, true);
  }
  return { bytes, offsets };
}
