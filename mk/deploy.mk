# Packaging and deployment targets (see docs/deploy.md). Included by the Makefile.
.PHONY: package package-arm64 cfn-lint sam-build

## Builds both Lambda zips with cargo-lambda (ARCH=arm64 for Graviton; x86_64 by default).
package:
	@ARCH="$${ARCH:-x86_64}" bash scripts/package.sh

package-arm64:
	@ARCH=arm64 bash scripts/package.sh

## Lints template.yaml with cfn-lint from .local/venv (installed by `make deps`).
cfn-lint: deps
	.local/venv/bin/cfn-lint template.yaml

## `sam build` as samconfig.toml configures it (needs the SAM CLI; see docs/deploy.md).
sam-build:
	sam build
