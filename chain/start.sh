#!/usr/bin/env bash
# Runs the local TFChain (runtime spec 144, pinned by sha256) under chopsticks in the foreground,
# on 127.0.0.1:${PORT:-8040}. Used by `make chain`. Needs `make deps` (npm ci in chain/).
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
spec="$dir/tfchain-local-spec144.json"
expected="4c284cdc03cd2b872fe9e5895271c5e8a69b2b1ef761241b220dce6a96be3489"
chopsticks="$dir/node_modules/@acala-network/chopsticks/chopsticks.cjs"
port="${PORT:-8040}"

if [[ ! -f "$chopsticks" ]]; then
    echo "chopsticks is not installed: run make deps (npm ci in chain/)" >&2
    exit 1
fi
if ! command -v node >/dev/null 2>&1; then
    echo "node (Node.js) is not installed: run make deps" >&2
    exit 1
fi
actual="$(sha256sum "$spec" | cut -d' ' -f1)"
if [[ "$actual" != "$expected" ]]; then
    echo "chain spec $spec has sha256 $actual, expected $expected" >&2
    exit 1
fi

echo "local TFChain on ws://127.0.0.1:$port (state in memory; Ctrl-C stops it)" >&2
exec node "$chopsticks" --genesis "$spec" --host 127.0.0.1 --port "$port"
