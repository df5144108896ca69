# glase-invoices: the two commands are `make dev` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo

.PHONY: help deps test lint fmt

help:
	@echo "make dev      run the whole pipeline locally (DynamoDB Local, SQS, glase-sim, webhook, worker)"
	@echo "make test     install local services if missing, then run every test"
	@echo "make lint     cargo fmt --check and clippy -D warnings"
	@echo "make demo     pay ~20 invoices in the simulator beside a running 'make dev'"
	@echo "make package  build both Lambda zips with cargo-lambda"
	@echo "make bench    cold start, per-call cost, memory, size and throughput"

## Installs DynamoDB Local, moto and cfn-lint into .local/ (git-ignored); skipped when present.
deps:
	@bash scripts/install-local-deps.sh

test: deps
	$(CARGO) test --workspace --all-targets --locked

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

# Targets owned by other parts of the project (dev, demo, package, bench).
-include mk/*.mk
