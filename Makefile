# glase-invoices: the two commands are `make dev` and `make test`; `make help` lists the rest.
# A target is documented by a `## text` comment at the end of its rule line (here or in mk/*.mk);
# `make help` prints exactly those, so no target is missing from it.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
# cargo-machete and cargo-deny, installed by scripts/install-cargo-tools.sh.
CARGO_TOOLS := .local/cargo-tools/bin

# Integration-test binaries that need no local service (glase-sim's own tests run it in-process;
# build_config reads files).
UNIT_TEST_TARGETS := --test admin_api --test glase_api --test notifications --test build_config
# The packages that ship as Lambda functions.
LAMBDA_PACKAGES := glase-webhook glase-worker glase-reconcile

.PHONY: help deps cargo-tools test unit lint fmt deny

help: ## This list.
	@awk 'BEGIN {FS = ":[^#]*## "} /^[a-zA-Z0-9_.-]+:[^=]*## / {printf "  make %-14s %s\n", $$1, $$2}' \
	  $(MAKEFILE_LIST) | sort

deps: ## Install DynamoDB Local, moto and cfn-lint into .local/ (git-ignored); skipped when present.
	@bash scripts/install-local-deps.sh

cargo-tools: ## Install cargo-machete and cargo-deny (pinned) into .local/cargo-tools; skipped when present.
	@bash scripts/install-cargo-tools.sh >/dev/null

test: deps ## Every test: unit, integration and end-to-end on real local services (installs them if missing).
	$(CARGO) test --workspace --all-targets --locked

# The same feature set as `make test` (test targets of the whole workspace), so the two share builds.
unit: ## Only the tests that need no local service (libraries, binaries, glase-sim): seconds once built.
	$(CARGO) test --workspace --lib --bins $(UNIT_TEST_TARGETS) --locked

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

# Licenses, bans and sources are checked from Cargo.lock alone. Advisories need the RustSec
# database from GitHub: checked when it can be fetched, else reported as skipped (not passed).
deny: cargo-tools ## cargo deny: licenses, bans, sources; advisories when the RustSec database is reachable.
	$(CARGO_TOOLS)/cargo-deny --locked check bans licenses sources
	@bash scripts/deny-advisories.sh "$(CARGO_TOOLS)/cargo-deny"

fmt: ## cargo fmt.
	$(CARGO) fmt --all

# Targets owned by other parts of the project (dev, demo, package, bench, …).
-include mk/*.mk
