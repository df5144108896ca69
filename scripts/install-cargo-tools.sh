#!/usr/bin/env bash
# Installs the cargo subcommands `make lint` runs (cargo-machete, cargo-deny) into
# .local/cargo-bin (git-ignored), built from crates.io with `cargo install --locked` at pinned
# versions. Idempotent: a tool is skipped when that version is already there.
# Prints the directory to put on PATH.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$root/.local/cargo-tools"
bin="$prefix/bin"

CARGO_MACHETE_VERSION="${CARGO_MACHETE_VERSION:-0.9.2}"
CARGO_DENY_VERSION="${CARGO_DENY_VERSION:-0.20.2}"

install_tool() {
  local crate="$1" version="$2" binary="$1"
  local marker="$prefix/.installed-$crate-$version"
  [[ -f "$marker" && -x "$bin/$binary" ]] && return
  printf '[install] cargo install --locked %s@%s into %s (a few minutes, once)\n' \
    "$crate" "$version" "$prefix" >&2
  # Its own target dir, so the project's target/ is not filled with the tool's build; removed after.
  local build="$prefix/build-$crate"
  CARGO_TARGET_DIR="$build" cargo install --locked --root "$prefix" "$crate@$version" >&2
  rm -rf "$build"
  touch "$marker"
}

mkdir -p "$prefix"
install_tool cargo-machete "$CARGO_MACHETE_VERSION"
install_tool cargo-deny "$CARGO_DENY_VERSION"
echo "$bin"
