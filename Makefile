# Burrow: `make up` builds and runs with embedded defaults; `make test` runs every test.

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never
# Tools the project installs for itself (uv) come first.
export PATH := $(CURDIR)/.tools/bin:$(PATH)

.PHONY: up deps build test lint fmt bench base-lock

deps:
	@bash scripts/install-deps.sh

build: deps
	$(CARGO) build --release --bin burrow

up: build
	./target/release/burrow serve

# Lints first: they are quick and fail fast. Then every test, with a real
# PostgreSQL started for the run beside the SQLite databases the tests make.
test: deps lint
	bash scripts/with-postgres.sh $(CARGO) test --workspace --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# Benchmarks print ratios against a baseline measured in the same run.
bench: deps
	bash scripts/install-bench-deps.sh
	$(CARGO) build --release --bin burrow
	$(CARGO) build --release -p burrow-bench
	./target/release/sandbox_overhead 40
	./target/release/env_build 3
	PATH="$$PATH:/usr/sbin" ./target/release/app_proxy 5

# Re-pins the base environment after crates/burrow-envs/base/requirements.in changes.
base-lock: deps
	uv pip compile --universal --python-version 3.11 --only-binary :all: --generate-hashes --no-header \
		crates/burrow-envs/base/requirements.in -o crates/burrow-envs/base/requirements.lock
