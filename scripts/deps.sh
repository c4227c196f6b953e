#!/usr/bin/env bash
# Installs everything `make run`, `make image` and `make test` need on a Debian 12 (bookworm) host.
# Idempotent and fast when everything is present: each step checks before it acts.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cargo_fuzz_version=0.13.2
busd_version=0.6.1

# Debian packages the build and the tests use, by what needs them.
apt_packages=(
    # image build: unpack .debs, module index, cpio/zstd, ESP and GPT disk, UKI
    dpkg-dev kmod cpio zstd xz-utils dosfstools mtools fdisk binutils file
    # building static binaries
    musl-tools
    # tests: DHCP server in network namespaces, btrfs checks, network tools
    dnsmasq btrfs-progs e2fsprogs iproute2 socat
    # UEFI and PXE boots
    ovmf ipxe-qemu
    # zdb: Python's redis client in its tests, redis-benchmark and the redis baseline in bench-zdb
    python3-redis redis-tools redis-server
    # provisiond: the certificate of the https KYC service in its tests
    openssl
)

need_update=0
backports_missing=0
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# qemu-system-x86 must come from bookworm-backports (MACHINE.md): the host's qemu-utils is the
# backports build and conflicts with bookworm's qemu 7.2. The backports entry reuses the mirror the
# host's own Debian sources already name, so this script names no host itself.
backports=/etc/apt/sources.list.d/zos-backports.sources
if ! dpkg-query -W -f='${Status}' qemu-system-x86 2>/dev/null | grep -q "install ok installed"; then
    if [ ! -f "$backports" ]; then
        mirror=$(grep -h -m1 -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
        [ -n "$mirror" ] || mirror=$(grep -h -m1 -E '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}')
        [ -n "$mirror" ] || { echo "deps: cannot find the Debian mirror in the apt sources" >&2; exit 1; }
        printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$mirror" > "$backports"
    fi
    need_update=1
    backports_missing=1
fi

install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"; }
}
if [ $need_update -eq 1 ] || [ -z "$(ls /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]; then
    apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    install "${missing[@]}"
fi
if [ $backports_missing -eq 1 ]; then
    echo "deps: installing qemu-system-x86 from bookworm-backports"
    # -t pulls qemu's own dependencies (qemu-system-common, -data, seabios) from backports too.
    install -t bookworm-backports qemu-system-x86
fi

rustup target list --installed | grep -q x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

# The local TFChain (chopsticks, pinned in chain/package-lock.json) for `make chain` and the tests.
command -v npm >/dev/null || install nodejs npm
if [ ! -f "$root/chain/node_modules/@acala-network/chopsticks/chopsticks.cjs" ]; then
    (cd "$root/chain" && npm ci --no-audit --no-fund)
fi

# Fuzz targets (make fuzz-smoke): cargo-fuzz needs a nightly compiler, pinned in fuzz/.
fuzz_toolchain=$(sed -n 's/^channel = "\(.*\)"$/\1/p' "$root/fuzz/rust-toolchain.toml")
rustup toolchain list | grep -q "^$fuzz_toolchain" || rustup toolchain install "$fuzz_toolchain" --profile minimal
if ! "$root/target/tools/bin/cargo-fuzz" --version 2>/dev/null | grep -q "$cargo_fuzz_version"; then
    cargo install --locked cargo-fuzz --version "$cargo_fuzz_version" --root "$root/target/tools"
fi

# The bus broker, for tests on the host (the image builds its own static copy).
if ! "$root/target/tools/bin/busd" --version 2>/dev/null | grep -q "$busd_version"; then
    cargo install --locked busd --version "$busd_version" --root "$root/target/tools"
fi
echo "deps: ok"
