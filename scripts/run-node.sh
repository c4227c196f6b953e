#!/usr/bin/env bash
# Boots the node image in QEMU with its serial console on this terminal.
#
# The node keeps its identity on out/run/cache.raw (created empty on the first run, formatted by the
# node itself), so every `make run` boots the same node. Delete that file for a brand-new node.
# Extra kernel arguments: ZOS_CMDLINE="farmer_id=1 zos-debug" make run
set -euo pipefail
cd "$(dirname "$0")/.."

image=out/image
run=out/run
mkdir -p "$run"
[ -f "$run/cache.raw" ] || truncate -s 4G "$run/cache.raw"

cmdline="$(cat "$image/cmdline") ${ZOS_CMDLINE:-}"
rm -f "$run/shell.sock"

cat <<TXT
Booting the node (TCG, $(nproc) vCPUs). Serial console below.
  leave:        Ctrl-A then X
  debug shell:  socat -,raw,echo=0 UNIX-CONNECT:$run/shell.sock   (runmode=dev only)
  node state:   $run/cache.raw (delete it for a new node identity)
TXT

exec qemu-system-x86_64 \
    -accel tcg -M pc -cpu max -smp "$(nproc)" -m 2048 \
    -nographic -serial mon:stdio \
    -chardev socket,id=shell,path="$run/shell.sock",server=on,wait=off -serial chardev:shell \
    -kernel "$image/vmlinux" -initrd "$image/initramfs.cpio.zst" -append "$cmdline" \
    -drive file="$run/cache.raw",format=raw,if=virtio \
    -netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0 \
    -device virtio-rng-pci
