#!/bin/sh
# Assembles the nvmx probe (nasm, from Debian's `nasm` package) into OUT (default: dist/probe-bin).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/../dist/probe-bin"}
mkdir -p "$out"
for f in mbr stage2 core uefi; do
  nasm -f bin -w+all -I "$here/" -o "$out/$f.bin" "$here/$f.asm"
done
# core.asm keeps its page tables and stacks 256 KiB above its start
size=$(wc -c < "$out/core.bin")
if [ "$size" -gt 262144 ]; then echo "probe: core.bin is $size bytes, more than 256 KiB" >&2; exit 1; fi
# stage 2 is read with one INT 13h call of at most 127 sectors
size=$(wc -c < "$out/stage2.bin")
if [ "$size" -gt 32768 ]; then echo "probe: stage2.bin is $size bytes" >&2; exit 1; fi
