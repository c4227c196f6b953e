#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time (`make fuzz-smoke`, part of `make
# test`): a smoke test that parsing and validation never panic, not a fuzzing campaign. New
# inputs go to a temporary directory; the committed seeds in fuzz/corpus/<target> stay as they
# are. Needs the nightly toolchain pinned in fuzz/rust-toolchain.toml and cargo-fuzz (make deps
# installs both).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/target/tools/bin:$PATH"
toolchain=+$(sed -n 's/^channel = "\(.*\)"$/\1/p' fuzz/rust-toolchain.toml)
runs=${FUZZ_RUNS:-200000}
seconds=${FUZZ_SECONDS:-30}
# The commands target keeps a zdb engine's files here.
ZDB_FUZZ_DIR=$(mktemp -d)
export ZDB_FUZZ_DIR
for target in $(cargo "$toolchain" fuzz list --fuzz-dir fuzz); do
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch" "$ZDB_FUZZ_DIR"' EXIT
    echo "fuzz-smoke: $target ($runs runs or ${seconds}s)"
    cargo "$toolchain" fuzz run --fuzz-dir fuzz "$target" "$scratch" "fuzz/corpus/$target" -- \
        -runs="$runs" -max_total_time="$seconds" -print_final_stats=1 2>&1 |
        grep -E '^(Done|stat::number_of_executed_units|==|SUMMARY|thread|panicked)' || true
    # grep hides libFuzzer's chatter; the exit status is cargo fuzz's.
    test "${PIPESTATUS[0]}" -eq 0 || { echo "fuzz-smoke: $target FAILED (see fuzz/artifacts/$target)"; exit 1; }
    rm -rf "$scratch"
done
echo "fuzz-smoke: ok"
