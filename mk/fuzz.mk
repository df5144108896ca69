# make fuzz: the cargo-fuzz targets in fuzz/ (README "Fuzzing"), each for FUZZ_SECONDS.
# Needs the nightly toolchain (`rustup toolchain install nightly`); cargo-fuzz itself is pinned
# and installed into .local/ by scripts/install-cargo-fuzz.sh.
.PHONY: fuzz fuzz-build

FUZZ_TARGETS ?= notification glase_invoice sqs_batch
FUZZ_SECONDS ?= 60
FUZZ_TOOLCHAIN ?= nightly
# Safe Rust: libFuzzer alone catches panics, aborts, stack overflows, timeouts and runaway
# memory. FUZZ_SANITIZER=address adds ASan (slower build and runs).
FUZZ_SANITIZER ?= none
# Extra libFuzzer flags, e.g. FUZZ_ARGS="-jobs=2 -workers=2".
FUZZ_ARGS ?=
FUZZ_CARGO = PATH="$$(bash $(CURDIR)/scripts/install-cargo-fuzz.sh):$$PATH" $(CARGO) +$(FUZZ_TOOLCHAIN) fuzz

## Builds every fuzz target.
fuzz-build: ## Build every cargo-fuzz target (nightly).
	cd fuzz && $(FUZZ_CARGO) build --sanitizer $(FUZZ_SANITIZER) --debug-assertions

## Runs each target for FUZZ_SECONDS from its seeds (fuzz/seeds, checked in) and the corpus it
## grew before (fuzz/corpus, git-ignored). A crash stops the run; its input is left in
## fuzz/artifacts/<target>/ (keep it as a regression test; see README).
fuzz: fuzz-build ## Run each fuzz target for FUZZ_SECONDS (default 60).
	@set -e; cd fuzz; for t in $(FUZZ_TARGETS); do \
	  mkdir -p corpus/$$t; \
	  echo "[fuzz] $$t for $(FUZZ_SECONDS) s" >&2; \
	  $(FUZZ_CARGO) run --sanitizer $(FUZZ_SANITIZER) --debug-assertions $$t corpus/$$t seeds/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -dict=json.dict -timeout=10 -print_final_stats=1 $(FUZZ_ARGS); \
	done
