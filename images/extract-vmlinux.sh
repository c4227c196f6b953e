#!/usr/bin/env bash
# Extracts the uncompressed kernel ELF (vmlinux) from an x86 bzImage, for QEMU's PVH boot
# (`-kernel vmlinux`, which skips the in-kernel decompressor: about twice as fast under TCG).
#
# Usage: images/extract-vmlinux.sh BZIMAGE OUT_VMLINUX
#
# Exact, not a magic-number scan: the boot protocol header says where the compressed payload is
# (setup_sects at 0x1f1; payload_offset and payload_length at 0x248 and 0x24c, boot protocol
# 2.08+). The payload's first bytes say which decompressor to use; every format but gzip carries
# the uncompressed size in its last 4 bytes (the kernel's size_append), which we strip and check.
# Debian's amd64 kernels use xz (CONFIG_KERNEL_XZ).
set -euo pipefail

die() { echo "extract-vmlinux: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: $0 BZIMAGE OUT_VMLINUX"
in=$1 out=$2
[ -f "$in" ] || die "$in: no such file"

u8()  { od -An -t u1 -j "$2" -N 1 "$1" | tr -d ' '; }
u32() { od -An -t u4 -j "$2" -N 4 --endian=little "$1" | tr -d ' '; }

[ "$(od -An -c -j 0x202 -N 4 "$in" | tr -d ' ')" = "HdrS" ] || die "$in is not a bzImage (no HdrS)"
setup_sects=$(u8 "$in" $((0x1f1)))
[ "$setup_sects" -ne 0 ] || setup_sects=4
payload_offset=$(u32 "$in" $((0x248)))
payload_length=$(u32 "$in" $((0x24c)))
start=$(( (setup_sects + 1) * 512 + payload_offset ))
[ "$payload_length" -gt 4 ] || die "$in: boot protocol too old or empty payload"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dd if="$in" of="$tmp/payload" bs=64K skip="$start" count="$payload_length" iflag=skip_bytes,count_bytes status=none

magic=$(od -An -t x1 -N 6 "$tmp/payload" | tr -d ' \n')
case "$magic" in
    1f8b*)         kind=gzip;  cmd=(gzip -dc) ;;
    fd377a585a00)  kind=xz;    cmd=(xz -dc --single-stream) ;;
    28b52ffd*)     kind=zstd;  cmd=(zstd -dcq) ;;
    5d0000*)       kind=lzma;  cmd=(xz -dc --format=lzma) ;;
    425a68*)       kind=bzip2; cmd=(bzip2 -dc) ;;
    02214c18*)     kind=lz4;   cmd=(lz4 -dc) ;;
    *) die "$in: unknown payload compression (magic $magic)" ;;
esac
command -v "${cmd[0]}" >/dev/null || die "${cmd[0]} is not installed (make deps)"

if [ "$kind" = gzip ]; then
    "${cmd[@]}" < "$tmp/payload" > "$tmp/vmlinux"
else
    want=$(u32 "$tmp/payload" $((payload_length - 4)))
    truncate -s $((payload_length - 4)) "$tmp/payload"
    "${cmd[@]}" < "$tmp/payload" > "$tmp/vmlinux"
    got=$(stat -c %s "$tmp/vmlinux")
    [ "$got" -eq "$want" ] || die "$kind payload decompressed to $got bytes, the kernel says $want"
fi
file -b "$tmp/vmlinux" | grep -q '^ELF 64-bit LSB executable, x86-64' \
    || die "decompressed payload is not an x86-64 ELF: $(file -b "$tmp/vmlinux")"
# QEMU's -kernel boots an ELF only through the PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY).
readelf -n "$tmp/vmlinux" | grep -q 'Unknown note type: (0x00000012)' \
    || die "vmlinux has no PVH entry note (CONFIG_PVH): QEMU cannot boot it with -kernel"
mv "$tmp/vmlinux" "$out"
echo "extract-vmlinux: $kind payload -> $out ($(stat -c %s "$out") bytes)"
