#!/usr/bin/env bash
# Downloads every package pinned in images/packages.lock into the .deb cache, checks each sha256
# against the lock (failing loudly on a mismatch) and unpacks each one (dpkg-deb -x, no install)
# into its own directory. Both are reused when present and their hash still matches, so a second
# run does no network access at all. Packages the lock no longer names are removed, so the
# cache stays the size of one lock.
#
# Usage: images/fetch.sh [CACHE_DIR]     (default: <repo>/out/cache)
# Output: CACHE_DIR/debs/NAME_SHA256.deb and CACHE_DIR/unpacked/NAME_SHA256/ (with a .complete stamp)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
lock="$here/packages.lock"
cache=${1:-$root/out/cache}
debs="$cache/debs"
unpacked="$cache/unpacked"
mkdir -p "$debs" "$unpacked"

die() { echo "fetch: $*" >&2; exit 1; }
# As root, apt drops to the _apt user for downloads, which cannot write into our private temp dir.
apt_opts=()
[ "$(id -u)" -ne 0 ] || apt_opts=(-o APT::Sandbox::User=root)
[ -f "$lock" ] || die "$lock is missing (generate it with images/lock.sh)"

while read -r name version sha rest; do
    case "$name" in ''|'#'*) continue ;; esac
    [ -n "$version" ] && [ ${#sha} -eq 64 ] && [ -z "$rest" ] || die "malformed lock line: $name $version $sha $rest"
    deb="$debs/${name}_$sha.deb"
    if [ -f "$deb" ] && [ "$(sha256sum < "$deb" | cut -d' ' -f1)" = "$sha" ]; then
        :
    else
        rm -f "$deb"
        dl=$(mktemp -d "$debs/.dl.XXXXXX")
        echo "fetch: downloading $name=$version"
        if ! (cd "$dl" && apt-get download -qq "${apt_opts[@]}" "$name=$version" >/dev/null); then
            rm -rf "$dl"
            die "apt-get download $name=$version failed: the mirror may have dropped this version \
(run apt-get update; if it is gone, regenerate the lock with images/lock.sh)"
        fi
        files=("$dl"/*.deb)
        [ ${#files[@]} -eq 1 ] && [ -f "${files[0]}" ] || { rm -rf "$dl"; die "apt-get download $name=$version gave ${#files[@]} files"; }
        got=$(sha256sum < "${files[0]}" | cut -d' ' -f1)
        if [ "$got" != "$sha" ]; then
            rm -rf "$dl"
            die "SHA256 MISMATCH for $name=$version: lock says $sha, download is $got"
        fi
        mv "${files[0]}" "$deb"
        rm -rf "$dl"
    fi
    dir="$unpacked/${name}_$sha"
    if [ ! -f "$dir/.complete" ]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        dpkg-deb -x "$deb" "$dir"
        touch "$dir/.complete"
    fi
done < "$lock"
# The cache holds what the lock pins and nothing else: packages of earlier locks go.
keep=$(awk '$1 !~ /^#/ && NF == 3 {print $1 "_" $3}' "$lock")
for entry in "$debs"/*.deb "$unpacked"/*; do
    [ -e "$entry" ] || continue
    base=$(basename "$entry" .deb)
    grep -qxF "$base" <<<"$keep" || { echo "fetch: dropping $base (not in the lock)"; rm -rf "$entry"; }
done
echo "fetch: all packages in the lock are present and verified"
