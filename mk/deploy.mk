# Packaging and deployment helpers (see README.md, "Deploy"). Included by the Makefile.
.PHONY: package cfn-lint

## Builds both Lambda zips with cargo-lambda and prints their sizes.
## x86_64 by default; `make package ARCH=arm64` (or ARCH=arm64 in the environment) for Graviton.
package:
	@ARCH="$(or $(ARCH),x86_64)" bash scripts/package.sh

## Lints template.yaml with the cfn-lint `make deps` installs (the template test runs it too).
cfn-lint: deps
	.local/venv/bin/cfn-lint template.yaml
