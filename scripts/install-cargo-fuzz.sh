#!/usr/bin/env bash
# Installs cargo-fuzz (pinned) from crates.io into .local/cargo-fuzz-<version> (git-ignored).
# Idempotent: skipped when that version is already there. Prints the directory to put on PATH.
# Fuzzing itself needs the nightly toolchain (`rustup toolchain install nightly`).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_FUZZ_VERSION="${CARGO_FUZZ_VERSION:-0.13.2}"
dir="$root/.local/cargo-fuzz-$CARGO_FUZZ_VERSION"

if [[ ! -x "$dir/bin/cargo-fuzz" ]]; then
  printf '[install] cargo-fuzz %s into %s\n' "$CARGO_FUZZ_VERSION" "$dir" >&2
  # Its own target dir, so the project's CARGO_TARGET_DIR is not filled with its build.
  CARGO_TARGET_DIR="$dir/build" cargo install --quiet --locked \
    --version "$CARGO_FUZZ_VERSION" --root "$dir" cargo-fuzz
  rm -rf "$dir/build"
fi
echo "$dir/bin"
