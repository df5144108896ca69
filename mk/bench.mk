# Benchmarks (see README.md, "Performance"). Included by the Makefile.
.PHONY: bench bench-quick

# Each function is built on its own (-p), as `make package` and `sam build` do, so features
# are not unified across them (or with the harness) and the binary measured is the one deployed.
BENCH_FUNCTIONS := bench-echo glase-webhook glase-worker
# The harness itself needs no fat LTO: its profile (Cargo.toml) links in seconds.
BENCH_HARNESS := --profile bench-harness
# Extra arguments for the harness, e.g. `make bench BENCH_ARGS="--cold-starts 30 --no-e2e"`.
BENCH_ARGS ?=

## Builds the functions (release) and the bare echo function, then runs the benchmark;
## prints the table and writes target/bench/results.json and table.md.
bench: deps ## Cold start, per-call cost, memory, size and throughput vs a bare lambda (target/bench/table.md).
	@for p in $(BENCH_FUNCTIONS); do \
	  echo "[bench] cargo build --release -p $$p" >&2; \
	  $(CARGO) build --release --locked -p $$p --bin $$p || exit 1; \
	done
	$(CARGO) run --locked $(BENCH_HARNESS) -p glase-bench -- $(BENCH_ARGS)

## A smoke run with small counts (figures not for publishing).
bench-quick: ## A smoke run of make bench with small counts (figures not for publishing).
	$(MAKE) bench BENCH_ARGS="--quick $(BENCH_ARGS)"
