#!/usr/bin/env bash
# Installs cargo-lambda (with the zig linker it needs) from PyPI into .local/venv (git-ignored).
# Idempotent: skipped when the pinned version is already there. Prints the binary's path.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.local/venv"
CARGO_LAMBDA_VERSION="${CARGO_LAMBDA_VERSION:-1.9.2}"
marker="$venv/.installed-cargo-lambda-$CARGO_LAMBDA_VERSION"

if [[ ! -f "$marker" ]]; then
  printf '[install] cargo-lambda==%s into %s\n' "$CARGO_LAMBDA_VERSION" "$venv" >&2
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "cargo-lambda==$CARGO_LAMBDA_VERSION"
  touch "$marker"
fi
echo "$venv/bin/cargo-lambda"
