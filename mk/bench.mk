# Benchmarks (see README.md, "Performance"). Included by the Makefile.
.PHONY: bench bench-quick bench-build

# What is measured is what ships: each function built by cargo-lambda on its own (-p), as
# `sam build` does (scripts/lambda-build.sh), with the workspace's [profile.release] and
# .cargo/config.toml, into target/lambda/<name>/bootstrap.
BENCH_FUNCTIONS := bench-echo bench-rng glase-webhook glase-worker
# The RNG probe once more with aws-lc's jitter entropy on (aws-lc-sys's default), in its own
# target dir so the shipped builds' aws-lc is never rebuilt back and forth.
BENCH_JITTER := CARGO_TARGET_DIR=target/bench-jitter LAMBDA_DIR=target/lambda-jitter AWS_LC_SYS_NO_JITTER_ENTROPY=0
# The harness itself needs no fat LTO: its profile (Cargo.toml) links in seconds.
BENCH_HARNESS := --profile bench-harness
# Extra arguments for the harness, e.g. `make bench BENCH_ARGS="--cold-starts 30 --no-e2e"`.
BENCH_ARGS ?=

bench-build: ## Build what make bench measures: the functions with cargo-lambda, the probes, the Python peer.
	@bash scripts/lambda-build.sh x86_64 $(BENCH_FUNCTIONS)
	@$(BENCH_JITTER) bash scripts/lambda-build.sh x86_64 bench-rng
	@bash scripts/install-bench-python.sh >/dev/null

bench: deps bench-build ## Cold start, per-call cost, memory and size vs a bare lambda and a Python peer (target/bench/table.md).
	$(CARGO) run --locked $(BENCH_HARNESS) -p glase-bench -- $(BENCH_ARGS)

bench-quick: ## A smoke run of make bench with small counts (figures not for publishing).
	$(MAKE) bench BENCH_ARGS="--quick $(BENCH_ARGS)"
