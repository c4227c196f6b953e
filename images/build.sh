#!/usr/bin/env bash
# Builds the node image from pinned inputs only (images/packages.lock, the workspace at its
# Cargo.lock, busd at a fixed version) and writes, into OUT_DIR (default <repo>/out/image):
#
#   vmlinuz             Debian's bzImage, as shipped
#   vmlinux             the same kernel uncompressed (ELF with a PVH note: QEMU -kernel boots it fast)
#   initramfs.cpio.zst  the whole root filesystem (see initramfs/README.md)
#   cmdline             the default kernel command line
#   BOOTX64.EFI         unified kernel image (systemd-boot stub + os-release + cmdline + kernel + initramfs)
#   zos.img             raw GPT disk, one FAT32 EFI system partition holding /EFI/BOOT/BOOTX64.EFI
#   SHA256SUMS          of the files above
#
# Usage: images/build.sh [OUT_DIR]
# Environment: SOURCE_DATE_EPOCH (default: the lock's source_date_epoch), ZOS_CMDLINE (replaces
# the default command line), ZOS_IMAGE_NO_CARGO=1 (take the binaries already in target/, build nothing),
# ZOS_IMAGE_FRESH=1 (recompress the initramfs and re-extract vmlinux instead of taking them from
# the cache; the reproducibility check uses it).
#
# Same inputs, same bytes: every timestamp is SOURCE_DATE_EPOCH, every owner 0:0, every mode
# normalised, the cpio sorted, FAT volume id and GPT GUIDs fixed. images/reproducible-check.sh proves it.
# Downloads, unpacked packages, the full-tree module index and compressed initramfs are cached
# under <repo>/out/cache, so a rebuild with nothing changed takes seconds.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=${1:-$root/out/image}
cache=$root/out/cache
lock=$here/packages.lock
musl_target=x86_64-unknown-linux-musl
busd_version=0.6.1
image_tools=$root/target/image-tools

# The default kernel command line (documented in images/README.md): serial console, reboot at
# once on a kernel panic (a test VM started with -no-reboot then exits instead of hanging), and
# runmode=dev (the development chain, and the init's debug shell on ttyS1).
default_cmdline="console=ttyS0 panic=-1 runmode=dev"
cmdline=${ZOS_CMDLINE:-$default_cmdline}

# Fixed identities of the boot disk, so that two builds give the same bytes. Change them only
# together with whatever looks the boot disk up by them.
gpt_disk_guid=6A5F0B4E-2C1D-4B7A-9E3F-5A1C0D7E2B10
gpt_esp_guid=0E5B1A7C-3D4F-4E21-8A6B-9C2D1F0E3A54
esp_type_guid=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
fat_volume_id=2a05e5f0
fat_label=ZOS-ESP

export LC_ALL=C TZ=UTC
umask 022

say() { echo "image: $*"; }
die() { echo "image: error: $*" >&2; exit 1; }

for tool in perl dpkg-deb depmod cpio zstd xz objcopy objdump readelf mkfs.vfat mmd mcopy sfdisk file; do
    command -v "$tool" >/dev/null || die "$tool is not installed (run make deps)"
done
[ -f "$lock" ] || die "$lock is missing (generate it with images/lock.sh)"

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(awk '$1 == "#" && $2 == "source_date_epoch" {print $3}' "$lock")
    [ -n "$SOURCE_DATE_EPOCH" ] || die "no SOURCE_DATE_EPOCH and no source_date_epoch line in $lock"
fi
export SOURCE_DATE_EPOCH

# ---------------------------------------------------------------------------------------------
# Inputs: pinned Debian packages
# ---------------------------------------------------------------------------------------------
"$here/fetch.sh" "$cache"

# pkgdir NAME-REGEX: the unpacked directory of the one locked package whose name matches.
pkgdir() {
    local line
    line=$(awk -v re="^$1\$" '$1 !~ /^#/ && $1 ~ re {print $1 "_" $3}' "$lock")
    [ -n "$line" ] && [ "$(wc -l <<<"$line")" -eq 1 ] || die "the lock must pin exactly one package matching $1"
    echo "$cache/unpacked/$line"
}
kernel_pkg=$(pkgdir 'linux-image-[0-9].*')
busybox_pkg=$(pkgdir busybox-static)
btrfs_pkg=$(pkgdir btrfs-progs)
boot_pkg=$(pkgdir systemd-boot-efi)
lib_pkgs=()
for p in libc6 libuuid1 libblkid1 libudev1 zlib1g liblzo2-2 libzstd1; do lib_pkgs+=("$(pkgdir "$p")"); done

kvers=("$kernel_pkg"/lib/modules/*)
[ ${#kvers[@]} -eq 1 ] && [ -d "${kvers[0]}" ] || die "expected one module tree in $kernel_pkg/lib/modules"
kver=$(basename "${kvers[0]}")
kmods=$kernel_pkg/lib/modules/$kver
vmlinuz_src=$kernel_pkg/boot/vmlinuz-$kver
stub=$boot_pkg/usr/lib/systemd/boot/efi/linuxx64.efi.stub
[ -f "$vmlinuz_src" ] || die "$vmlinuz_src is missing"
[ -f "$stub" ] || die "$stub is missing"

# The .deb ships no module index (the postinst makes it): index the full tree once, in the cache,
# to know every module's dependencies.
if [ ! -f "$kmods/.zos-depmod-complete" ]; then
    depmod -b "$kernel_pkg" "$kver"
    touch "$kmods/.zos-depmod-complete"
fi
# finit_module cannot decompress: the image relies on Debian shipping plain .ko files.
if find "$kmods/kernel" -name '*.ko.*' -print -quit | grep -q .; then
    die "kernel $kver ships compressed modules; the init loads with finit_module and needs plain .ko"
fi

# ---------------------------------------------------------------------------------------------
# Inputs: our static binaries and the bus broker
# ---------------------------------------------------------------------------------------------
if [ "${ZOS_IMAGE_NO_CARGO:-0}" != 1 ]; then
    say "cargo build --release --target $musl_target"
    (cd "$root" && cargo build --release --locked --target "$musl_target" \
        -p zos-init -p noded -p networkd -p storaged -p provisiond -p zdb -p zos-bus)
    if ! "$image_tools/bin/busd" --version 2>/dev/null | grep -q "$busd_version"; then
        say "cargo install busd $busd_version"
        cargo install --locked busd --version "$busd_version" --target "$musl_target" --root "$image_tools"
    fi
fi
bindir=$root/target/$musl_target/release
declare -A binaries=(
    [zos-init]=$bindir/zos-init
    [noded]=$bindir/noded
    [networkd]=$bindir/networkd
    [storaged]=$bindir/storaged
    [provisiond]=$bindir/provisiond
    [zdb]=$bindir/zdb
    [zbusdebug]=$bindir/zbusdebug
    [busd]=$image_tools/bin/busd
)

# ---------------------------------------------------------------------------------------------
# Staging (under out/, removed on exit)
# ---------------------------------------------------------------------------------------------
mkdir -p "$root/out/tmp"
stage=$(mktemp -d "$root/out/tmp/build.XXXXXX")
trap 'rm -rf "$stage"' EXIT
rootfs=$stage/rootfs
mkdir -p "$rootfs"

for d in bin sbin lib/x86_64-linux-gnu lib64 etc/modules-load.d etc/zinit \
         proc sys dev run tmp mnt root var/cache var/log usr/bin usr/sbin; do
    mkdir -p "$rootfs/$d"
done
cp -R "$root/initramfs/rootfs/." "$rootfs/"

# Our binaries: static, into /sbin; /init is what the kernel runs as PID 1.
for name in zos-init noded networkd storaged provisiond zdb zbusdebug busd; do
    src=${binaries[$name]}
    if [ ! -f "$src" ]; then
        echo "image: WARNING: $src was not built; /sbin/$name is not in the image" >&2
        continue
    fi
    file -b "$src" | grep -Eq 'statically linked|static-pie linked' || die "$src is not static: $(file -b "$src")"
    install -m 0755 "$src" "$rootfs/sbin/$name"
done
ln -s sbin/zos-init "$rootfs/init"

# busybox: the debug shell (runmode=dev) and /sbin/modprobe for the kernel's request_module.
# Applets that would act on PID 1 behind the init's back are left out (use the init's own verbs),
# and nothing of ours is replaced.
install -m 0755 "$busybox_pkg/bin/busybox" "$rootfs/bin/busybox"
while read -r applet; do
    case "$applet" in
        */*) ;;
        *) continue ;;
    esac
    case "${applet##*/}" in init|linuxrc|reboot|poweroff|halt) continue ;; esac
    [ -e "$rootfs/$applet" ] || [ -L "$rootfs/$applet" ] || ln -s /bin/busybox "$rootfs/$applet"
done < <("$rootfs/bin/busybox" --list-full | sort)

# btrfs-progs (glibc): the programs, their libraries at the paths ld.so looks in, and ld.so.
libsearch=()
for p in "${lib_pkgs[@]}"; do
    for d in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu; do
        [ -d "$p/$d" ] && libsearch+=("$p/$d")
    done
done
declare -A have_lib=()
copy_libs() {
    local elf=$1 soname dir found interp
    interp=$(readelf -l "$elf" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
    if [ -n "$interp" ] && [ ! -e "$rootfs$interp" ]; then
        # As in Debian: /lib64/ld-linux-x86-64.so.2 -> the one in the multiarch directory.
        [ "$interp" = /lib64/ld-linux-x86-64.so.2 ] || die "$elf asks for interpreter $interp"
        install -m 0755 "$(readlink -f "$(pkgdir libc6)/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")" \
            "$rootfs/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
        have_lib[ld-linux-x86-64.so.2]=1
        ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$rootfs$interp"
    fi
    for soname in $(readelf -d "$elf" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
        [ -z "${have_lib[$soname]:-}" ] || continue
        found=
        for dir in "${libsearch[@]}"; do
            if [ -e "$dir/$soname" ]; then found=$(readlink -f "$dir/$soname"); break; fi
        done
        [ -n "$found" ] || die "$(basename "$elf") needs $soname, which no locked package provides (add it to images/lock.sh)"
        install -m 0755 "$found" "$rootfs/lib/x86_64-linux-gnu/$soname"
        have_lib[$soname]=1
        copy_libs "$found"
    done
}
install -m 0755 "$btrfs_pkg/sbin/mkfs.btrfs" "$rootfs/sbin/mkfs.btrfs"
install -m 0755 "$btrfs_pkg/bin/btrfs" "$rootfs/sbin/btrfs"
copy_libs "$rootfs/sbin/mkfs.btrfs"
copy_libs "$rootfs/sbin/btrfs"
# Prove they resolve against what we ship (and nothing of the host's).
for prog in mkfs.btrfs btrfs; do
    "$rootfs/lib64/ld-linux-x86-64.so.2" --inhibit-cache --library-path "$rootfs/lib/x86_64-linux-gnu" \
        "$rootfs/sbin/$prog" --version >/dev/null || die "/sbin/$prog does not run with the shipped libraries"
done

# /etc/os-release (also the UKI's .osrel)
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml")
cat > "$rootfs/etc/os-release" <<EOF
NAME="Zero-OS"
ID=zos
VERSION="$version (kernel $kver)"
VERSION_ID=$version
PRETTY_NAME="Zero-OS $version"
EOF

# ---------------------------------------------------------------------------------------------
# Kernel modules: the listed ones, closed over modules.dep and modules.softdep
# ---------------------------------------------------------------------------------------------
read_list() { sed -e 's/#.*//' -e 's/[[:space:]]//g' "$1" | grep -v '^$' | tr - _; }

declare -A modpath=() moddeps=() modsoft=()
while IFS= read -r line; do
    path=${line%%:*}
    base=${path##*/}
    name=${base%.ko}
    name=${name//-/_}
    modpath[$name]=$path
    moddeps[$name]=${line#*:}
done < "$kmods/modules.dep"
while read -r word name rest; do
    [ "$word" = softdep ] || continue
    modsoft[${name//-/_}]=$(tr ' ' '\n' <<<"$rest" | grep -v -e '^pre:$' -e '^post:$' -e '^$' | tr '\n' ' ')
done < "$kmods/modules.softdep"
builtin_names=$(sed -e 's|.*/||' -e 's|\.ko$||' -e 's|-|_|g' "$kmods/modules.builtin")

# A softdep names a module or an alias (crypto-crc32c); an alias may be built in (nothing to ship).
resolve_soft() {
    local target=${1//-/_}
    if [ -n "${modpath[$target]:-}" ]; then echo "$target"; return; fi
    awk -v a="$1" '$1 == "alias" && $2 == a {print $3}' "$kmods/modules.alias" | tr - _
}

declare -A wanted=()
queue=()
for name in $(read_list "$root/initramfs/modules.list"); do
    if [ -z "${modpath[$name]:-}" ]; then
        grep -qx "$name" <<<"$builtin_names" && { say "module $name is built into $kver"; continue; }
        die "initramfs/modules.list: no module $name in kernel $kver"
    fi
    queue+=("$name")
done
while [ ${#queue[@]} -gt 0 ]; do
    name=${queue[0]}
    queue=("${queue[@]:1}")
    [ -z "${wanted[$name]:-}" ] || continue
    wanted[$name]=1
    for dep in ${moddeps[$name]}; do
        base=${dep##*/}
        base=${base%.ko}
        queue+=("${base//-/_}")
    done
    for soft in ${modsoft[$name]:-}; do
        for m in $(resolve_soft "$soft"); do queue+=("$m"); done
    done
done
for list in modules-boot.conf modules-load.conf; do
    for name in $(read_list "$root/initramfs/$list"); do
        [ -n "${wanted[$name]:-}" ] || die "initramfs/$list names $name, which modules.list does not ship"
    done
done

mdest=$rootfs/lib/modules/$kver
mkdir -p "$mdest"
for name in "${!wanted[@]}"; do
    mkdir -p "$mdest/$(dirname "${modpath[$name]}")"
    cp "$kmods/${modpath[$name]}" "$mdest/${modpath[$name]}"
done
cp "$kmods/modules.order" "$kmods/modules.builtin" "$kmods/modules.builtin.modinfo" "$mdest/"
depmod -b "$rootfs" "$kver"
[ "$(wc -l < "$mdest/modules.dep")" -eq ${#wanted[@]} ] || die "depmod indexed a different module set than shipped"
install -m 0644 "$root/initramfs/modules-boot.conf" "$rootfs/etc/modules-load.d/boot.conf"
install -m 0644 "$root/initramfs/modules-load.conf" "$rootfs/etc/modules-load.d/zos.conf"
say "kernel $kver: ${#wanted[@]} modules ($(du -sk "$mdest" | cut -f1) KiB)"

# ---------------------------------------------------------------------------------------------
# initramfs: normalised modes and times, sorted newc cpio, zstd
# ---------------------------------------------------------------------------------------------
find "$rootfs" -type d -exec chmod 0755 {} +
find "$rootfs" -type f -perm /111 -exec chmod 0755 {} +
find "$rootfs" -type f ! -perm /111 -exec chmod 0644 {} +
chmod 1777 "$rootfs/tmp"
chmod 0700 "$rootfs/root"
find "$rootfs" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

(cd "$rootfs" && find . -mindepth 1 -printf '%P\n' | sort | cpio --quiet --reproducible -o -H newc -R 0:0) > "$stage/initramfs.cpio"
cpio_sha=$(sha256sum < "$stage/initramfs.cpio" | cut -d' ' -f1)
zst_cache=$cache/initramfs/$cpio_sha.cpio.zst
if [ ! -f "$zst_cache" ] || [ "${ZOS_IMAGE_FRESH:-0}" = 1 ]; then
    mkdir -p "$cache/initramfs"
    # Single-threaded, level 19, default window: deterministic, and within what the kernel's
    # decompressor accepts (no --long, no --ultra).
    zstd -q -19 -T1 --no-progress -c "$stage/initramfs.cpio" > "$zst_cache.tmp"
    mv "$zst_cache.tmp" "$zst_cache"
fi
# Bounded: the compressed initramfs of this build and of the two builds before it (switching
# between branches stays fast), nothing older.
ls -1t "$cache/initramfs"/*.cpio.zst | tail -n +4 | xargs -r rm -f
cp "$zst_cache" "$stage/initramfs.cpio.zst"
say "initramfs: $(stat -c %s "$stage/initramfs.cpio") bytes uncompressed, $(stat -c %s "$stage/initramfs.cpio.zst") bytes zstd"

# ---------------------------------------------------------------------------------------------
# Kernel: bzImage as shipped, vmlinux extracted (cached per kernel package)
# ---------------------------------------------------------------------------------------------
cp "$vmlinuz_src" "$stage/vmlinuz"
vmlinux_cache=$cache/vmlinux/$(basename "$kernel_pkg")
if [ ! -f "$vmlinux_cache" ] || [ "${ZOS_IMAGE_FRESH:-0}" = 1 ]; then
    mkdir -p "$cache/vmlinux"
    "$here/extract-vmlinux.sh" "$vmlinuz_src" "$vmlinux_cache.tmp"
    mv "$vmlinux_cache.tmp" "$vmlinux_cache"
fi
# Only the locked kernel's vmlinux is kept.
find "$cache/vmlinux" -mindepth 1 -maxdepth 1 ! -name "$(basename "$kernel_pkg")" -exec rm -rf {} +
cp "$vmlinux_cache" "$stage/vmlinux"
printf '%s\n' "$cmdline" > "$stage/cmdline"

# ---------------------------------------------------------------------------------------------
# Unified kernel image: the stub with .osrel, .cmdline, .linux, .initrd appended after its last
# section, each page-aligned
# ---------------------------------------------------------------------------------------------
printf '%s' "$cmdline" > "$stage/cmdline.efi"
next=0
while read -r size vma; do
    [ $((0x$vma + 0x$size)) -le "$next" ] || next=$((0x$vma + 0x$size))
done < <(objdump -h "$stub" | awk 'NF >= 7 && $1 ~ /^[0-9]+$/ {print $3, $4}')
[ "$next" -gt 0 ] || die "cannot read the sections of $stub"
align() { echo $(( ($1 + 4095) / 4096 * 4096 )); }
objcopy_args=()
for pair in .osrel:"$rootfs/etc/os-release" .cmdline:"$stage/cmdline.efi" .linux:"$stage/vmlinuz" .initrd:"$stage/initramfs.cpio.zst"; do
    section=${pair%%:*}
    path=${pair#*:}
    next=$(align "$next")
    objcopy_args+=(--add-section "$section=$path" --change-section-vma "$section=$(printf '0x%x' "$next")")
    next=$(( next + $(stat -c %s "$path") ))
done
objcopy "${objcopy_args[@]}" "$stub" "$stage/BOOTX64.EFI"
# objcopy (binutils 2.40) stamps the PE header with the current time and ignores
# SOURCE_DATE_EPOCH: zero the stamp and recompute the PE checksum.
perl "$here/pe-normalize.pl" "$stage/BOOTX64.EFI"

# ---------------------------------------------------------------------------------------------
# zos.img: GPT, one FAT32 ESP (1 MiB aligned) with room for a second UKI (A/B upgrades)
# ---------------------------------------------------------------------------------------------
mib=$((1024 * 1024))
uki_size=$(stat -c %s "$stage/BOOTX64.EFI")
esp_mib=$(( (2 * uki_size + 8 * mib + mib - 1) / mib ))
[ "$esp_mib" -ge 64 ] || esp_mib=64
mkfs.vfat -C -F 32 -S 512 -s 1 --invariant -i "$fat_volume_id" -n "$fat_label" \
    "$stage/esp.img" $((esp_mib * 1024)) >/dev/null
# mtools stamps what it creates with SOURCE_DATE_EPOCH (exported above); -m keeps the file's time.
touch -d "@$SOURCE_DATE_EPOCH" "$stage/BOOTX64.EFI"
mmd -i "$stage/esp.img" ::/EFI ::/EFI/BOOT
mcopy -m -i "$stage/esp.img" "$stage/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
truncate -s $(( (esp_mib + 2) * mib )) "$stage/zos.img"
sfdisk --quiet --no-reread --no-tell-kernel "$stage/zos.img" <<EOF
label: gpt
label-id: $gpt_disk_guid
unit: sectors
first-lba: 2048
start=2048, size=$((esp_mib * 2048)), type=$esp_type_guid, uuid=$gpt_esp_guid, name="$fat_label"
EOF
dd if="$stage/esp.img" of="$stage/zos.img" bs=1M seek=1 conv=notrunc status=none

# ---------------------------------------------------------------------------------------------
# Publish
# ---------------------------------------------------------------------------------------------
outputs=(vmlinuz vmlinux initramfs.cpio.zst cmdline BOOTX64.EFI zos.img)
(cd "$stage" && sha256sum "${outputs[@]}") > "$stage/SHA256SUMS"
mkdir -p "$out"
for f in "${outputs[@]}" SHA256SUMS; do
    mv -f "$stage/$f" "$out/$f"
done
say "wrote $out:"
(cd "$out" && ls -l "${outputs[@]}" | awk '{printf "  %-20s %12s bytes\n", $9, $5}')
