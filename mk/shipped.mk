# Checks on the binaries that ship (README, "Tests"). Included by the Makefile.
.PHONY: check-shipped check-arm64

# glase-webhook and glase-worker as `sam build` builds them (cargo-lambda, [profile.release]),
# and the panic probe (tools/probes/panic-worker: the worker with one invoice whose fetch panics).
SHIPPED_PACKAGES := glase-webhook glase-worker probe-panic-worker
# The smoke and panic-isolation tests (ignored in make test) and the secrets-at-trace tests.
SHIPPED_TESTS := $(CARGO) test --locked -p glase-tests --test shipped --test secrets -- --include-ignored

check-shipped: deps ## Build the functions with cargo-lambda (x86_64) and run smoke, panic-isolation and secrets tests on those binaries.
	@bash scripts/lambda-build.sh x86_64 $(SHIPPED_PACKAGES)
	SHIPPED_BIN_DIR=target/lambda $(SHIPPED_TESTS)

check-arm64: deps ## check-shipped on the arm64 builds, under qemu-user (correctness only; installs qemu-user and the aarch64 target).
	@runner="$$(bash scripts/install-arm64-deps.sh)" \
	  && LAMBDA_DIR=target/lambda-arm64 bash scripts/lambda-build.sh arm64 $(SHIPPED_PACKAGES) \
	  && echo "[check-arm64] running the tests through: $$runner" \
	  && SHIPPED_BIN_DIR=target/lambda-arm64 SHIPPED_RUNNER="$$runner" $(SHIPPED_TESTS)
