# Burrow: `make up` builds and runs with embedded defaults; `make test` runs every test.

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never
# Tools the project installs for itself (uv) come first.
export PATH := $(CURDIR)/.tools/bin:$(PATH)
# A CI run builds once from a fresh clone: incremental caches would only fill its disk.
ifdef CI
export CARGO_INCREMENTAL ?= 0
endif

.PHONY: up deps test-deps web build test web-test web-types api-conformance e2e lint fmt bench base-lock

deps:
	@bash scripts/install-deps.sh

test-deps:
	@bash scripts/install-deps.sh test

# The web UI: npm installs exactly what package-lock.json pins, again only when
# the lock changes; Vite builds web/dist, which the binary embeds.
web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

web: deps web/node_modules/.package-lock.json
	cd web && npm run build

build: web
	$(CARGO) build --release --bin burrow

up: build
	./target/release/burrow serve

# Lints first: they are quick and fail fast. Then every test: the web UI's unit
# tests, the Rust tests with a real PostgreSQL started for the run beside the
# SQLite databases they make, and the browser tests against the built binary.
test: test-deps web lint web-test
	bash scripts/with-postgres.sh $(CARGO) test --workspace --all-targets
	$(MAKE) api-conformance
	$(MAKE) e2e

# Schemathesis against a live `burrow serve`: the API answers as its OpenAPI document says.
api-conformance:
	$(CARGO) build --bin burrow
	bash scripts/api-conformance.sh

# openapi-typescript, in a folder of its own: it needs TypeScript 5's compiler API.
web/openapi/node_modules/.package-lock.json: web/openapi/package-lock.json
	cd web/openapi && npm ci --no-audit --no-fund
	@touch $@

# The UI's API types (web/src/api/schema.ts), generated from the OpenAPI document.
web-types: web/openapi/node_modules/.package-lock.json
	bash scripts/web-types.sh

# The UI's API types are what the OpenAPI document gives; then ESLint (React's rules of
# hooks and effect dependencies); then the unit tests.
web-test: web/node_modules/.package-lock.json web/openapi/node_modules/.package-lock.json
	bash scripts/web-types.sh --check
	cd web && npm run lint && npm test

# Chromium drives the dashboard of a real `burrow serve`; screenshots land in test-artifacts/web.
# PostgreSQL runs beside it as the data sources' external database.
e2e: web/node_modules/.package-lock.json
	$(CARGO) build --bin burrow
	cd web && bash ../scripts/with-postgres.sh npm run e2e

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# Benchmarks print ratios against a baseline measured in the same run.
bench: web
	bash scripts/install-bench-deps.sh
	$(CARGO) build --release --bin burrow
	$(CARGO) build --release -p burrow-bench
	./target/release/sandbox_overhead 40
	./target/release/env_build 3
	PATH="$$PATH:/usr/sbin" ./target/release/app_proxy 5
	PATH="$$PATH:/usr/sbin" ./target/release/egress_proxy 5
	PATH="$$PATH:/usr/sbin" bash scripts/with-postgres.sh ./target/release/replicas 5
	bash scripts/with-postgres.sh ./target/release/events 1000
	bash scripts/with-postgres.sh ./target/release/data_bridge 5
	bash scripts/with-postgres.sh ./target/release/transform_job 3
	./target/release/workspace_terminal 500
	./target/release/pod_agent 2000
	./target/release/review 10

# Re-pins the base environment after crates/burrow-envs/base/requirements.in changes.
base-lock: deps
	uv pip compile --universal --python-version 3.11 --only-binary :all: --generate-hashes --no-header \
		crates/burrow-envs/base/requirements.in -o crates/burrow-envs/base/requirements.lock
