# Entry points of the project. `make run` boots a node in QEMU; `make test` runs every test.
# Every target installs what it needs through `make deps` (idempotent, fast when present).

SHELL := /bin/bash
.DEFAULT_GOAL := help

IMAGE_DIR := out/image
CARGO ?= cargo

.PHONY: help deps build image run chain test test-unit test-boot fuzz-smoke lint fmt bench bench-boot bench-chain bench-storage bench-deploy bench-zdb clean

help:
	@echo "make run         build the image and boot a node in QEMU on a local chain (serial console on this terminal)"
	@echo "make test        lint, unit and integration tests, image build, QEMU boot tests"
	@echo "make image       build out/image/{vmlinux,vmlinuz,initramfs.cpio.zst,cmdline,zos.img}"
	@echo "make bench       every benchmark (bench-boot, bench-chain, bench-storage, bench-deploy, bench-zdb)"
	@echo "make chain       run a local TFChain on 127.0.0.1:8040"
	@echo "make deps        install host packages and tools (run by the targets above)"

deps:
	@scripts/deps.sh

build: deps
	$(CARGO) build --workspace --locked

image: deps
	images/build.sh

# A local chain (unless TFCHAIN_URL) and the activation service in the background, then the node.
run: image
	$(CARGO) build --locked -p zosctl -p zos-activation
	scripts/run-node.sh

# A local TFChain on 127.0.0.1:$${PORT:-8040}, in the foreground.
chain: deps
	chain/start.sh

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# Unit and host integration tests (root: network namespaces, loop devices); no VM.
test-unit: deps
	$(CARGO) test --workspace --locked --no-fail-fast --exclude qemu-test

# Whole-node tests: boot the real image under QEMU (TCG); the registration tests run zosctl.
test-boot: image
	$(CARGO) build --locked -p zosctl
	$(CARGO) test --locked -p qemu-test -- --test-threads=1

# Every cargo-fuzz target (fuzz/), bounded: parsing never panics.
fuzz-smoke: deps
	scripts/fuzz-smoke.sh

test: lint test-unit fuzz-smoke test-boot
	images/reproducible-check.sh

bench: bench-boot bench-chain bench-storage bench-deploy bench-zdb

bench-boot: image
	$(CARGO) run --release --locked -p qemu-test --bin bench-boot

# READY -> REGISTERED of a booted node against a local chain, vs zosctl's two commands.
bench-chain: image
	$(CARGO) build --locked -p zosctl
	$(CARGO) run --release --locked -p qemu-test --bin bench-chain

# Volume create+delete through storaged's bus against the btrfs CLI, on loop devices (root).
bench-storage: deps
	$(CARGO) build --release --locked -p storaged --bins --examples
	target/release/examples/bench_storage

# A one-volume deployment through provisiond against the bare storaged call, and 1000
# deployments re-provisioned after a restart (root, local chain).
bench-deploy: deps
	$(CARGO) build --release --locked -p provisiond --examples
	target/release/examples/bench_deploy

# zdb against redis-server (appendonly everysec) with redis-benchmark; start-up on 10^6 keys.
bench-zdb: deps
	$(CARGO) build --release --locked -p zdb
	scripts/bench-zdb.sh

clean:
	rm -rf out
