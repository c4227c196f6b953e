#!/usr/bin/env bash
# Boots the built image once under QEMU (TCG) and reports how long the kernel took to start /init
# and, if it gets there, the node's "ZOS READY" marker. A quick check of images/build.sh's output,
# not a test suite (qemu-test/ has those).
#
# Usage: images/smoke-boot.sh pvh|bzimage|uefi [OUT_DIR] [TIMEOUT_SECONDS]
#   pvh      -kernel vmlinux (PVH entry), -initrd, -append "$(cat cmdline)", a blank virtio disk
#   bzimage  the same with -kernel vmlinuz
#   uefi     OVMF firmware booting zos.img (the UKI on the ESP), snapshot=on so the image stays as built
# Exit status: 0 when /init started, 1 otherwise. The serial log is kept in <repo>/out/logs/smoke-MODE.log.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mode=${1:-}
out=${2:-$(dirname "$here")/out/image}
limit=${3:-90}
die() { echo "smoke-boot: $*" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is not installed (run make deps)"
for f in vmlinux vmlinuz initramfs.cpio.zst cmdline zos.img; do
    [ -f "$out/$f" ] || die "$out/$f is missing (run images/build.sh)"
done

tmp=$(mktemp -d)
mkdir -p "$(dirname "$here")/out/logs"
log=$(dirname "$here")/out/logs/smoke-$mode.log
qpid=
cleanup() {
    if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
        kill "$qpid" 2>/dev/null || true
        wait "$qpid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck disable=SC2054 # the commas are inside QEMU option values
common=(-accel tcg -M pc -m 1024 -nographic -no-reboot
        -device virtio-rng-pci -netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0)
case "$mode" in
    pvh|bzimage)
        kernel=$out/vmlinux
        [ "$mode" = pvh ] || kernel=$out/vmlinuz
        truncate -s 2G "$tmp/disk.raw"
        args=(-kernel "$kernel" -initrd "$out/initramfs.cpio.zst" -append "$(cat "$out/cmdline")"
              -drive "file=$tmp/disk.raw,format=raw,if=virtio")
        ;;
    uefi)
        ovmf=/usr/share/ovmf/OVMF.fd
        [ -f "$ovmf" ] || die "$ovmf is missing (the ovmf package, make deps)"
        args=(-bios "$ovmf" -drive "file=$out/zos.img,format=raw,snapshot=on")
        ;;
    *) die "usage: $0 pvh|bzimage|uefi [OUT_DIR] [TIMEOUT_SECONDS]" ;;
esac

start=$(date +%s%N)
qemu-system-x86_64 "${common[@]}" "${args[@]}" </dev/null >"$log" 2>&1 &
qpid=$!
elapsed() { awk -v ns=$(( $(date +%s%N) - start )) 'BEGIN { printf "%.1f", ns / 1e9 }'; }

init_at=''
ready_at=''
deadline=$(( $(date +%s) + limit ))
while [ "$(date +%s)" -lt "$deadline" ] && kill -0 "$qpid" 2>/dev/null; do
    if [ -z "$init_at" ] && grep -aq 'Run /init as init process' "$log"; then init_at=$(elapsed); fi
    if [ -z "$ready_at" ] && grep -aq 'ZOS READY' "$log"; then ready_at=$(elapsed); break; fi
    sleep 0.1
done

if [ -z "$init_at" ]; then
    tail -n 20 "$log" >&2
    die "$mode: the kernel did not start /init within ${limit}s (log: $log)"
fi
echo "smoke-boot: $mode: /init started after ${init_at}s (wall clock, TCG)"
if [ -n "$ready_at" ]; then
    echo "smoke-boot: $mode: ZOS READY after ${ready_at}s"
else
    echo "smoke-boot: $mode: no ZOS READY marker within ${limit}s (the init may not print it yet); log: $log"
fi
