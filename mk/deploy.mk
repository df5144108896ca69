# Packaging and deployment helpers (see README.md, "Deploy"). Included by the Makefile.
.PHONY: package cfn-lint deploy-tools

# x86_64 by default; `make package ARCH=arm64` (or ARCH=arm64 in the environment) for Graviton.
package: ## Build the three Lambda zips with cargo-lambda (as sam build does) and print their sizes; ARCH=arm64 for Graviton.
	@ARCH="$(or $(ARCH),x86_64)" bash scripts/package.sh

deploy-tools: ## Install cargo-lambda into .local/cargo-lambda and the aarch64 Rust target (before a first sam build).
	@bash scripts/install-cargo-lambda.sh

cfn-lint: deps ## Lint template.yaml with the cfn-lint `make deps` installs (the template test runs it too).
	.local/venv/bin/cfn-lint template.yaml
