#!/usr/bin/env bash
# Installs what `sam build`, `make package` and `make bench` need to build the functions:
# cargo-lambda (with the zig linker it uses) from PyPI into its own venv, .local/cargo-lambda
# (git-ignored), both pinned and hash-checked (scripts/cargo-lambda-requirements.txt: the zig
# links every deployed binary, so it is pinned as exactly as cargo-lambda), and the aarch64 Rust standard library (the stack deploys on arm64 by default).
# Installing the target here, before any build, is what lets a first `sam build` succeed:
# otherwise cargo-lambda installs it mid-build, racing the other function's build.
# Idempotent. Prints cargo-lambda's path; put its directory on PATH for `sam build`.
#
#   SKIP_ARM64_TARGET=1   do not install the aarch64 standard library (x86_64-only builds)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.local/cargo-lambda"
requirements="$root/scripts/cargo-lambda-requirements.txt"
# Named after the requirements' content: a changed pin reinstalls.
marker="$venv/.installed-$(sha256sum "$requirements" | cut -c1-16)"

if [[ ! -f "$marker" ]]; then
  printf '[install] cargo-lambda and ziglang (scripts/cargo-lambda-requirements.txt) into %s\n' "$venv" >&2
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$requirements"
  touch "$marker"
fi

triple=aarch64-unknown-linux-gnu
if [[ -z "${SKIP_ARM64_TARGET:-}" ]] && command -v rustup >/dev/null \
  && ! rustup target list --installed | grep -qx "$triple"; then
  printf '[install] rustup target add %s\n' "$triple" >&2
  rustup target add "$triple" >&2 || {
    echo "[install] could not install $triple (offline?); arm64 builds will fail until it is" >&2
  }
fi
echo "$venv/bin/cargo-lambda"
