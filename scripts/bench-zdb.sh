#!/usr/bin/env bash
# `make bench-zdb`: our zdb against Debian's redis-server (appendonly, appendfsync everysec) as
# the baseline, measured in the same run with Debian's redis-benchmark: SET, GET and PING with
# 4096-byte values, without pipelining (-P 1) and with 16 requests in flight (-P 16); then the
# time zdb takes to start on 10^6 keys (index replay until PING answers). With
# ZDB_REFERENCE_BIN=/path/to/0-db/bin/zdb (ThreeFold's C 0-db, built with `make release`; not a
# package) the same tests also run against it, and its start-up is timed on the same files.
# A last table times zdb with its default connection policy against zdb with every limit off
# (the cost of the limits: the ratio should be 1 within noise).
# Loopback only; the servers this script starts are stopped by pid.
set -euo pipefail
cd "$(dirname "$0")/.."
zdb=target/release/zdb
for tool in redis-benchmark redis-server "$zdb"; do
    command -v "$tool" >/dev/null || [[ -x "$tool" ]] || { echo "bench-zdb: $tool missing (make deps; cargo build --release -p zdb)" >&2; exit 1; }
done
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ping() { for _ in $(seq 1 500); do redis-cli -p "$1" PING 2>/dev/null | grep -q PONG && return 0; sleep 0.01; done; echo "no PONG on $1" >&2; exit 1; }
requests=${ZDB_BENCH_REQUESTS:-200000}

redis_port=$(free_port)
mkdir -p "$work/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" --appendonly yes \
    --appendfsync everysec --save '' --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)
zdb_port=$(free_port)
"$zdb" --data "$work/zdb/data" --index "$work/zdb/index" --listen 127.0.0.1 --port "$zdb_port" \
    >"$work/zdb.log" 2>&1 &
pids+=($!)
wait_ping "$redis_port"; wait_ping "$zdb_port"
reference=${ZDB_REFERENCE_BIN:-}
if [[ -n $reference ]]; then
    ref_port=$(free_port)
    "$reference" --data "$work/ref/data" --index "$work/ref/index" --listen 127.0.0.1 --port "$ref_port" \
        >"$work/ref.log" 2>&1 &
    pids+=($!)
    wait_ping "$ref_port"
fi

# ops/s of one test: redis-benchmark's CSV is "test","rps",...
rps() { redis-benchmark -p "$1" -t "$2" -n "$requests" -P "$3" -d 4096 -r 100000 -c 16 --csv -q 2>/dev/null |
    awk -F'","' 'NR>1 {gsub(/"/,"",$2); print $2; exit}'; }
if [[ -n $reference ]]; then
    printf '%-10s %-5s %14s %14s %7s %14s %9s\n' test depth "redis ops/s" "zdb ops/s" ratio "0-db ops/s" "zdb/0-db"
else
    printf '%-10s %-5s %14s %14s %7s\n' test depth "redis ops/s" "zdb ops/s" ratio
fi
for depth in 1 16; do
    for t in set get ping_mbulk; do
        r=$(rps "$redis_port" "$t" "$depth"); z=$(rps "$zdb_port" "$t" "$depth")
        line=$(printf '%-10s -P%-3s %14s %14s %7.2f' "$t" "$depth" "$r" "$z" "$(awk -v z="$z" -v r="$r" 'BEGIN { print z / r }')")
        if [[ -n $reference ]]; then
            o=$(rps "$ref_port" "$t" "$depth")
            line+=$(printf ' %14s %9.2f' "$o" "$(awk -v z="$z" -v o="$o" 'BEGIN { print z / o }')")
        fi
        echo "$line"
    done
done

# The connection policy's cost: two fresh servers, default limits and every limit off, measured
# in turns (5 rounds, each test on both back to back): the median of the rounds' ratios, since a
# shared machine's noise is larger than what is looked for.
on_port=$(free_port); off_port=$(free_port)
"$zdb" --data "$work/on/data" --index "$work/on/index" --listen 127.0.0.1 --port "$on_port" \
    >"$work/on.log" 2>&1 &
pids+=($!)
"$zdb" --data "$work/off/data" --index "$work/off/index" --listen 127.0.0.1 --port "$off_port" \
    --max-clients 0 --max-clients-per-ip 0 --request-timeout 0 --idle-timeout 0 --max-buffer-bytes 0 \
    >"$work/off.log" 2>&1 &
pids+=($!)
wait_ping "$on_port"; wait_ping "$off_port"
rounds=${ZDB_BENCH_ROUNDS:-5}
printf '%-10s %-5s %16s %16s %13s\n' test depth "no-limits ops/s" "limits ops/s" "median ratio"
for depth in 1 16; do
    for t in set get; do
        ratios=(); os=(); zs=()
        for _ in $(seq 1 "$rounds"); do
            o=$(rps "$off_port" "$t" "$depth"); z=$(rps "$on_port" "$t" "$depth")
            os+=("$o"); zs+=("$z"); ratios+=("$(awk -v z="$z" -v o="$o" 'BEGIN { print z / o }')")
        done
        med() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
        printf '%-10s -P%-3s %16s %16s %13.2f\n' "$t" "$depth" "$(med "${os[@]}")" "$(med "${zs[@]}")" "$(med "${ratios[@]}")"
    done
done

# Start-up on 10^6 keys: fill, stop, time the restart until PING answers.
redis-benchmark -p "$zdb_port" -t set -n 1000000 -r 100000000 -d 16 -P 64 -c 4 -q >/dev/null 2>&1
keys=$(redis-cli -p "$zdb_port" DBSIZE)
# Stops server number $1 (in pids), starts $2 on zdb's files on port $3 (log $4), and sets
# elapsed_ms to the time until it answers PING. Not in a subshell: pids must keep the new pid.
time_start() {
    local slot=$1 bin=$2 port=$3 log=$4 start
    kill "${pids[$slot]}"; wait "${pids[$slot]}" 2>/dev/null || true
    start=$(date +%s%N)
    "$bin" --data "$work/zdb/data" --index "$work/zdb/index" --listen 127.0.0.1 --port "$port" >>"$log" 2>&1 &
    pids[$slot]=$!
    wait_ping "$port"
    elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
}
time_start 1 "$zdb" "$zdb_port" "$work/zdb.log"
echo "zdb start-up on $keys keys: $elapsed_ms ms"
if [[ -n $reference ]]; then
    # 0-db on the very files our zdb wrote (the same format), once our zdb is stopped.
    kill "${pids[1]}"; wait "${pids[1]}" 2>/dev/null || true
    time_start 2 "$reference" "$ref_port" "$work/ref.log"
    echo "0-db start-up on the same $keys keys: $elapsed_ms ms"
fi
