#!/usr/bin/env bash
# Boots the node image in QEMU with its serial console on this terminal, registered on a local
# TFChain.
#
# In the background, for as long as the node runs: a local TFChain (chain/start.sh, chopsticks) on
# 127.0.0.1:8040 unless TFCHAIN_URL names one already running (ws://127.0.0.1:PORT), and the dev
# activation service (zos-activation, funder //Alice) on 127.0.0.1:8041. //Alice gets a twin and a
# farm "dev-farm" (made with zosctl, only if missing) and the node boots with farmer_id=<that farm>.
# The guest reaches the chain and the service only through QEMU guestfwd rules (restrict=on):
# ws://10.0.2.100:9944 and http://10.0.2.101:8041/activation/activate. On exit the chain and the
# service this script started are stopped (by pid).
#
# The node keeps its identity on out/run/ssd.raw (a sparse 120 GiB plain virtio disk, as a
# farmer's VM has; storaged counts it as an SSD in a VM. The runtime refuses nodes
# with less than 100 GiB of SSD or 2 GiB of memory), so every `make run` boots the same node;
# delete that file for a brand-new node. out/run/hdd.raw (a sparse 64 GiB spinning disk) is the
# HDD capacity zdb namespaces live on. Extra kernel arguments: ZOS_CMDLINE="runmode=dev" make run
# Needs: make image, cargo build -p zosctl -p zos-activation (make run does both), make deps.
set -euo pipefail
cd "$(dirname "$0")/.."

image=out/image
run=out/run
ssd="$run/ssd.raw"
ssd_size=120G
hdd="$run/hdd.raw"
hdd_size=64G
bin=target/debug
zosctl="$bin/zosctl"
activation_bin="$bin/zos-activation"
activation_port="${ACTIVATION_PORT:-8041}"
# The node API (provisiond, guest port 2021) on this machine's loopback.
api_port="${NODE_API_PORT:-2021}"
# The first zdb (guest port 9900, the HDD pool's) on this machine's loopback.
zdb_port="${ZDB_PORT:-9900}"
farm_name=dev-farm
guest_chain="10.0.2.100:9944"
guest_activation="10.0.2.101:8041"

for f in "$image/vmlinux" "$image/initramfs.cpio.zst" "$image/cmdline"; do
    [[ -f "$f" ]] || { echo "$f missing: run make image" >&2; exit 1; }
done
for b in "$zosctl" "$activation_bin"; do
    [[ -x "$b" ]] || { echo "$b missing: run cargo build -p zosctl -p zos-activation (make run does)" >&2; exit 1; }
done
for t in qemu-system-x86_64 socat; do
    command -v "$t" >/dev/null || { echo "$t is not installed: run make deps" >&2; exit 1; }
done

mkdir -p "$run"
[[ -f "$ssd" ]] || truncate -s "$ssd_size" "$ssd"
[[ -f "$hdd" ]] || truncate -s "$hdd_size" "$hdd"
# Early builds formatted the whole disk as the cache; storaged leaves such a disk alone (foreign).
if [[ "$(blkid -o value -s LABEL "$ssd" 2>/dev/null || true)" == zos-cache ]]; then
    echo "run-node: $ssd was made by an earlier build (a whole-disk zos-cache); the node now keeps" >&2
    echo "run-node: its cache on a storaged pool and will not touch that disk. Delete it: rm $ssd" >&2
    exit 1
fi

pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits until 127.0.0.1:$1 accepts connections; $2 names it, $3 is the pid that must stay alive,
# $4 its log.
wait_port() {
    local port=$1 what=$2 pid=$3 log=$4 i
    for ((i = 0; i < 300; i++)); do
        port_open "$port" && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$what exited; its log ($log):" >&2
            tail -n 20 "$log" >&2
            exit 1
        fi
        sleep 0.2
    done
    echo "$what did not answer on 127.0.0.1:$port within 60 s; log: $log" >&2
    exit 1
}

# The chain: the user's (TFCHAIN_URL, on this machine's loopback), or one we start.
if [[ -n "${TFCHAIN_URL:-}" ]]; then
    chain_url="$TFCHAIN_URL"
    if [[ ! "$chain_url" =~ ^ws://(127\.0\.0\.1|localhost):([0-9]+)/?$ ]]; then
        echo "TFCHAIN_URL=$chain_url: the node can only be given a chain on this machine's loopback (ws://127.0.0.1:PORT)" >&2
        exit 1
    fi
    chain_port="${BASH_REMATCH[2]}"
    port_open "$chain_port" || { echo "nothing answers on $chain_url (TFCHAIN_URL)" >&2; exit 1; }
    chain_note="the chain at $chain_url (TFCHAIN_URL; not started here)"
    identity_note="a node this chain knows keeps its twin and node id"
else
    chain_port=8040
    chain_url="ws://127.0.0.1:$chain_port"
    if port_open "$chain_port"; then
        echo "127.0.0.1:$chain_port is taken (a chain from make chain?): use it with TFCHAIN_URL=$chain_url make run, or stop it" >&2
        exit 1
    fi
    PORT=$chain_port chain/start.sh >"$run/chain.log" 2>&1 &
    pids+=($!)
    wait_port "$chain_port" "the local chain (chain/start.sh)" "$!" "$run/chain.log"
    chain_note="a fresh local chain (chopsticks, state in memory: gone when the node stops; log $run/chain.log)"
    identity_note="this fresh chain does not know the identity an earlier run left there:
                the node simply registers again (new twin, new node id)"
fi

if port_open "$activation_port"; then
    echo "127.0.0.1:$activation_port is taken: stop what listens there or set ACTIVATION_PORT" >&2
    exit 1
fi
RUST_LOG="${RUST_LOG:-info}" "$activation_bin" --listen "127.0.0.1:$activation_port" --chain "$chain_url" \
    --funder //Alice >"$run/activation.log" 2>&1 &
pids+=($!)
wait_port "$activation_port" "the activation service (zos-activation)" "$!" "$run/activation.log"

# //Alice's twin and the farm, only if missing (a chain given by TFCHAIN_URL may have them).
z() { "$zosctl" --chain "$chain_url" "$@"; }
farm_id() { z farm list | awk -v n="$farm_name" 'NR > 1 && $2 == n { print $1 }'; }
z --key //Alice twin show >/dev/null 2>&1 || z --key //Alice twin create >/dev/null
farm="$(farm_id)"
if [[ -z "$farm" ]]; then
    z --key //Alice farm create "$farm_name" >/dev/null
    farm="$(farm_id)"
fi
[[ -n "$farm" ]] || { echo "farm $farm_name not found after creating it" >&2; exit 1; }

cmdline="$(cat "$image/cmdline") farmer_id=$farm tfchain=ws://$guest_chain"
cmdline+=" activation=http://$guest_activation/activation/activate ${ZOS_CMDLINE:-}"
rm -f "$run/shell.sock"

cat <<TXT
Booting the node (TCG, $(nproc) vCPUs, 3 GiB) into farm $farm ($farm_name) on
$chain_note.
  chain:        $chain_url    e.g. $zosctl --chain $chain_url node list
  activation:   http://127.0.0.1:$activation_port/activation/activate (log $run/activation.log)
  leave:        Ctrl-A then X (stops the chain and the activation service too)
  debug shell:  socat -,raw,echo=0 UNIX-CONNECT:$run/shell.sock   (runmode=dev only)
  node state:   $ssd (delete it for a new node identity); $identity_note.
  registered:   noded prints "ZOS REGISTERED node_id=<n> twin_id=<t>" on the console.
  node API:     http://127.0.0.1:$api_port (signed requests, e.g. zosctl deploy --node-url ...)
  zdb:          127.0.0.1:$zdb_port (the namespaces of zdb workloads, e.g. redis-cli -p $zdb_port)
Serial console below.
TXT

qemu-system-x86_64 \
    -accel tcg -M pc -cpu max -smp "$(nproc)" -m 3072 \
    -nographic -serial mon:stdio \
    -chardev socket,id=shell,path="$run/shell.sock",server=on,wait=off -serial chardev:shell \
    -kernel "$image/vmlinux" -initrd "$image/initramfs.cpio.zst" -append "$cmdline" \
    -drive file="$ssd",format=raw,if=virtio \
    -device virtio-scsi-pci,id=scsi0 \
    -drive file="$hdd",format=raw,if=none,id=hdd -device scsi-hd,drive=hdd,bus=scsi0.0,rotation_rate=7200 \
    -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$api_port-:2021,hostfwd=tcp:127.0.0.1:$zdb_port-:9900,guestfwd=tcp:$guest_chain-cmd:socat STDIO TCP:127.0.0.1:$chain_port,guestfwd=tcp:$guest_activation-cmd:socat STDIO TCP:127.0.0.1:$activation_port" \
    -device virtio-net-pci,netdev=n0 \
    -object rng-random,id=rng0,filename=/dev/urandom -device virtio-rng-pci,rng=rng0
