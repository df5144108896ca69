# glase-invoices: the two commands are `make dev` and `make test`; `make help` lists the rest.
# A target is documented by a `## text` comment at the end of its rule line; `make help` prints
# exactly those, so no target is missing from it (tests/tests/api/build_config.rs checks).
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
# cargo-machete and cargo-deny, installed by scripts/install-cargo-tools.sh.
CARGO_TOOLS := .local/cargo-tools/bin

.PHONY: help deps cargo-tools deploy-tools dev demo sim test unit lint fmt deny fuzz fuzz-build \
	check-shipped check-arm64 package cfn-lint bench bench-quick bench-build bench-scale load

help: ## This list.
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-zA-Z0-9_.-]+:[^=]*## / {printf "  make %-14s %s\n", $$1, $$2}' \
	  $(MAKEFILE_LIST) | sort

# ---- Setup: everything is installed into .local/ (git-ignored) and skipped when present.

deps: ## Install DynamoDB Local, moto and cfn-lint into .local/ (git-ignored); skipped when present.
	@bash scripts/install-local-deps.sh

cargo-tools: ## Install cargo-machete and cargo-deny (pinned) into .local/cargo-tools; skipped when present.
	@bash scripts/install-cargo-tools.sh >/dev/null

deploy-tools: ## Install cargo-lambda into .local/cargo-lambda and the aarch64 Rust target (before a first sam build).
	@bash scripts/install-cargo-lambda.sh

# ---- Run locally (README, "The two commands"; docs/glase-sim.md).

# What `make demo` sets for pointing glase-invoices at `make dev`'s services.
DEV_AWS_ENV = AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$(or $(DYNAMODB_PORT),8000) \
	AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
	TABLE_NAME=$(or $(TABLE_NAME),glase-invoices)

dev: deps ## The whole pipeline locally: DynamoDB Local, SQS, glase-sim, webhook, worker (Ctrl-C stops).
	$(CARGO) build -p glase-dev
	exec "$${CARGO_TARGET_DIR:-target}/debug/glase-dev" up

# The list comes before the events, so the demo ends with what issue 19 added.
demo: ## Pay invoices in glase-sim beside a running make dev, list them with glase-invoices, then show their InvoicePaid events.
	$(CARGO) run -p glase-dev -- demo --no-events
	@echo
	@echo '$$ glase-invoices list'
	@$(DEV_AWS_ENV) $(CARGO) run -p glase-invoices -- list --format table
	@echo
	@$(CARGO) run -p glase-dev -- events

# glase-sim alone, notifying SIM_NOTIFY_URL as issuer demo. Extra flags go in SIM_ARGS, e.g.
# make sim SIM_ARGS="--time-scale 0.001 --error-rate 0.2".
SIM_PORT ?= 4000
SIM_NOTIFY_URL ?= http://127.0.0.1:3000/notifications
SIM_ARGS ?=

sim: ## glase-sim alone on SIM_PORT, notifying SIM_NOTIFY_URL.
	$(CARGO) run -p glase-sim -- serve --port $(SIM_PORT) --issuer demo:demo-secret:$(SIM_NOTIFY_URL) $(SIM_ARGS)

# ---- Tests and checks (docs/testing.md).

# The integration tests that need no local service: glase-sim's own (it runs in-process), the
# worker's and reconcile's EMF documents (own binaries: the metrics recorder is process-wide), and
# the modules of glase-tests' binary that only read files or parse configuration.
UNIT_API_MODULES := build_config:: config_errors::
# The packages that ship as Lambda functions.
LAMBDA_PACKAGES := glase-webhook glase-worker glase-reconcile glase-events

test: deps ## Every test: unit, integration and end-to-end on real local services (installs them if missing).
	$(CARGO) test --workspace --all-targets --locked

# The same feature set as `make test` (test targets of the whole workspace), so the two share builds.
unit: ## Only the tests that need no local service (libraries, binaries, glase-sim): seconds once built.
	$(CARGO) test --workspace --lib --bins --test sim --test emf --test metrics --locked
	$(CARGO) test --workspace --test api --locked -- $(UNIT_API_MODULES)

lint: cargo-tools ## rustfmt check, clippy -D warnings (workspace, then each function alone), unused dependencies (cargo-machete), cargo deny.
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	@# Each function alone, with only its own features, as sam build builds it: the workspace-wide
	@# run above unifies features and hid functions that did not compile on their own.
	@for p in $(LAMBDA_PACKAGES); do \
	  echo "$(CARGO) clippy --locked -p $$p -- -D warnings"; \
	  $(CARGO) clippy --locked -p $$p -- -D warnings || exit 1; \
	done
	@# The fuzz targets live outside the workspace (nightly, own lock): compile them here on
	@# stable too, so an API change cannot leave make fuzz broken unnoticed.
	$(CARGO) clippy --manifest-path fuzz/Cargo.toml --locked --bins -- -D warnings
	$(CARGO_TOOLS)/cargo-machete
	@$(MAKE) --no-print-directory deny

fmt: ## cargo fmt.
	$(CARGO) fmt --all

# Licenses, bans and sources are checked from Cargo.lock alone. Advisories need the RustSec
# database from GitHub: checked when it can be fetched (advisories fail the target); a fetch
# failing while GitHub is reachable fails too; only an unreachable GitHub passes, with a loud
# ADVISORIES NOT CHECKED (scripts/deny-advisories.sh).
deny: cargo-tools ## cargo deny: licenses, bans, sources; advisories when the RustSec database is reachable.
	$(CARGO_TOOLS)/cargo-deny --locked check bans licenses sources
	@bash scripts/deny-advisories.sh "$(CARGO_TOOLS)/cargo-deny"

# The cargo-fuzz targets in fuzz/ (docs/testing.md, "Fuzzing"), each for FUZZ_SECONDS. Needs the nightly
# toolchain (`rustup toolchain install nightly`); cargo-fuzz itself is pinned and installed into
# .local/ by scripts/install-cargo-fuzz.sh.
FUZZ_TARGETS ?= notification glase_invoice sqs_batch
FUZZ_SECONDS ?= 60
FUZZ_TOOLCHAIN ?= nightly
# Safe Rust: libFuzzer alone catches panics, aborts, stack overflows, timeouts and runaway
# memory. FUZZ_SANITIZER=address adds ASan (slower build and runs).
FUZZ_SANITIZER ?= none
# Extra libFuzzer flags, e.g. FUZZ_ARGS="-jobs=2 -workers=2".
FUZZ_ARGS ?=
FUZZ_CARGO = PATH="$$(bash $(CURDIR)/scripts/install-cargo-fuzz.sh):$$PATH" $(CARGO) +$(FUZZ_TOOLCHAIN) fuzz

fuzz-build: ## Build every cargo-fuzz target (nightly).
	cd fuzz && $(FUZZ_CARGO) build --sanitizer $(FUZZ_SANITIZER) --debug-assertions

# Each target runs from its seeds (fuzz/seeds, checked in) and the corpus it grew before
# (fuzz/corpus, git-ignored). A crash stops the run; its input is left in
# fuzz/artifacts/<target>/ (keep it as a regression test; see docs/testing.md).
fuzz: fuzz-build ## Run each fuzz target for FUZZ_SECONDS (default 60).
	@set -e; cd fuzz; for t in $(FUZZ_TARGETS); do \
	  mkdir -p corpus/$$t; \
	  echo "[fuzz] $$t for $(FUZZ_SECONDS) s" >&2; \
	  $(FUZZ_CARGO) run --sanitizer $(FUZZ_SANITIZER) --debug-assertions $$t corpus/$$t seeds/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -dict=json.dict -timeout=10 -print_final_stats=1 $(FUZZ_ARGS); \
	done

# ---- The binaries that ship, built as `sam build` builds them: cargo-lambda, each package on
# its own, [profile.release] and .cargo/config.toml, into target/lambda/<binary>/bootstrap
# (scripts/lambda-build.sh).

# glase-webhook and glase-worker, and the panic probe (tools/probes: the worker with one invoice
# whose fetch panics).
SHIPPED_BINARIES := glase-webhook glase-worker probe-panic-worker
# The smoke and panic-isolation tests (ignored in make test) and the secrets-at-trace tests.
SHIPPED_TESTS := $(CARGO) test --locked -p glase-tests --test api -- --include-ignored shipped:: secrets::

check-shipped: deps ## Build the functions with cargo-lambda (x86_64) and run smoke, panic-isolation and secrets tests on those binaries.
	@bash scripts/lambda-build.sh x86_64 $(SHIPPED_BINARIES)
	SHIPPED_BIN_DIR=target/lambda $(SHIPPED_TESTS)

check-arm64: deps ## check-shipped on the arm64 builds, under qemu-user (correctness only; installs qemu-user and the aarch64 target).
	@runner="$$(bash scripts/install-arm64-deps.sh)" \
	  && LAMBDA_DIR=target/lambda-arm64 bash scripts/lambda-build.sh arm64 $(SHIPPED_BINARIES) \
	  && echo "[check-arm64] running the tests through: $$runner" \
	  && SHIPPED_BIN_DIR=target/lambda-arm64 SHIPPED_RUNNER="$$runner" $(SHIPPED_TESTS)

# x86_64 by default; `make package ARCH=arm64` (or ARCH=arm64 in the environment) for Graviton.
package: ## Build the three Lambda zips with cargo-lambda (as sam build does) and print their sizes; ARCH=arm64 for Graviton.
	@ARCH="$(or $(ARCH),x86_64)" bash scripts/package.sh

cfn-lint: deps ## Lint template.yaml with the cfn-lint `make deps` installs (the template test runs it too).
	.local/venv/bin/cfn-lint template.yaml

# ---- Measurements (docs/performance.md; load: docs/testing.md).

# What is measured is what ships: the functions as check-shipped builds them, beside the probes
# (tools/probes) built without the worker's crates (--no-default-features), so the floor is the
# bare runtime.
BENCH_FUNCTIONS := glase-webhook glase-worker glase-events
BENCH_PROBES := bench-echo bench-rng
# The RNG probe once more with aws-lc's jitter entropy on (aws-lc-sys's default), in its own
# target dir so the shipped builds' aws-lc is never rebuilt back and forth.
BENCH_JITTER := CARGO_TARGET_DIR=target/bench-jitter LAMBDA_DIR=target/lambda-jitter AWS_LC_SYS_NO_JITTER_ENTROPY=0
# The harness (and make load) need no fat LTO: their profile (Cargo.toml) links in seconds.
HARNESS_PROFILE := --profile bench-harness
# Extra arguments for the harness, e.g. `make bench BENCH_ARGS="--cold-starts 30 --no-e2e"`.
BENCH_ARGS ?=
LOAD_SECONDS ?= 60
LOAD_CLIENTS ?= 16

bench-build: ## Build what make bench measures: the functions with cargo-lambda, the probes, the Python peer.
	@bash scripts/lambda-build.sh x86_64 $(BENCH_PROBES) -- --no-default-features
	@bash scripts/lambda-build.sh x86_64 $(BENCH_FUNCTIONS)
	@$(BENCH_JITTER) bash scripts/lambda-build.sh x86_64 bench-rng -- --no-default-features
	@bash scripts/install-bench-python.sh >/dev/null

bench: deps bench-build ## Cold start, per-call cost, memory, size vs a bare lambda and a Python peer, on moto and a keep-alive SQS (target/bench/table.md).
	$(CARGO) run --locked $(HARNESS_PROFILE) -p glase-bench --bin glase-bench -- $(BENCH_ARGS)

# No function binaries needed: the reconcile runs are the bench binary itself, in child processes.
# The scale sections, minutes each; one alone with e.g. `make bench-scale BENCH_SCALE=backlog`.
BENCH_SCALE ?= reconcile,backlog,cost

bench-scale: deps bench-build ## At issuer scale: reconcile over 10k/100k/1M report rows, a 100k backlog drain, requests and cost per invoice.
	$(CARGO) run --locked $(HARNESS_PROFILE) -p glase-bench --bin glase-bench -- --only $(BENCH_SCALE) $(BENCH_ARGS)

bench-quick: ## A smoke run of make bench with small counts (figures not for publishing).
	$(MAKE) bench BENCH_ARGS="--quick $(BENCH_ARGS)"

# Drives the webhook for LOAD_SECONDS with LOAD_CLIENTS concurrent clients, drains the queue,
# and fails unless every 200 left exactly one queued message.
load: deps ## Drive the webhook over loopback for LOAD_SECONDS against SQS; every 200 queued once.
	LOAD_SECONDS=$(LOAD_SECONDS) LOAD_CLIENTS=$(LOAD_CLIENTS) \
	  $(CARGO) run --locked $(HARNESS_PROFILE) -p glase-bench --bin glase-load
