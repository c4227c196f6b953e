#!/usr/bin/env bash
# Builds the image twice into two fresh directories and compares every output byte for byte.
# The first build may take the cached compressed initramfs and vmlinux; the second recomputes them
# (ZOS_IMAGE_FRESH=1) and reuses the binaries the first one built (ZOS_IMAGE_NO_CARGO=1), so that
# the check covers compression and extraction too, and a concurrent cargo build cannot skew it.
#
# Usage: images/reproducible-check.sh        exit 0 when both builds are identical
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
mkdir -p "$root/out/tmp"
work=$(mktemp -d "$root/out/tmp/repro.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$here/build.sh" "$work/a" > "$work/a.log" 2>&1 || { cat "$work/a.log" >&2; echo "reproducible-check: first build failed" >&2; exit 1; }
ZOS_IMAGE_FRESH=1 ZOS_IMAGE_NO_CARGO=1 "$here/build.sh" "$work/b" > "$work/b.log" 2>&1 \
    || { cat "$work/b.log" >&2; echo "reproducible-check: second build failed" >&2; exit 1; }

(cd "$work/a" && sha256sum vmlinuz vmlinux initramfs.cpio.zst cmdline BOOTX64.EFI zos.img) > "$work/a.sums"
(cd "$work/b" && sha256sum vmlinuz vmlinux initramfs.cpio.zst cmdline BOOTX64.EFI zos.img) > "$work/b.sums"
cat "$work/a.sums"
if ! diff -u "$work/a.sums" "$work/b.sums"; then
    echo "reproducible-check: FAILED: the two builds differ (see the diff above)" >&2
    exit 1
fi
echo "reproducible-check: ok: two builds gave identical bytes"
