#!/usr/bin/env bash
# Builds Lambda binaries as `sam build` does: cargo-lambda, the workspace's [profile.release]
# and .cargo/config.toml. SAM's rust-cargolambda builder runs `cargo lambda build --release
# --bin <Binary>` at the root, which builds the workspace's default-members (the functions)
# with their features unified; here each package is built on its own (-p), with only its own.
# Output: $CARGO_TARGET_DIR/lambda/<binary>/bootstrap (or bootstrap.zip with --output-format zip).
#
#   usage: lambda-build.sh <x86_64|arm64> <binary>... [-- <more cargo lambda build flags>]
#   RUSTC        honoured (a toolchain other than the default)
#   LAMBDA_DIR   where the binaries go (default $CARGO_TARGET_DIR/lambda, as sam build expects)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

arch="${1:?usage: lambda-build.sh <x86_64|arm64> <binary>... [-- flags]}"
shift
binaries=()
while [[ $# -gt 0 && "$1" != "--" ]]; do binaries+=("$1"); shift; done
[[ "${1:-}" == "--" ]] && shift
extra=("$@")

case "$arch" in
  x86_64 | x86-64 | amd64) arch_flag=--x86-64; triple=x86_64-unknown-linux-gnu ;;
  arm64 | aarch64) arch_flag=--arm64; triple=aarch64-unknown-linux-gnu ;;
  *) echo "lambda-build: architecture must be x86_64 or arm64, got '$arch'" >&2; exit 2 ;;
esac

sysroot="$("${RUSTC:-rustc}" --print sysroot)"
if [[ ! -d "$sysroot/lib/rustlib/$triple/lib" ]]; then
  echo "lambda-build: the Rust standard library for $triple is not installed;" >&2
  echo "              run 'rustup target add $triple' (scripts/install-cargo-lambda.sh does)" >&2
  exit 1
fi

if command -v cargo-lambda >/dev/null && [[ -z "${PACKAGE_USE_VENV:-}" ]]; then
  cargo_lambda="$(command -v cargo-lambda)"
else
  # An x86_64 build does not need the aarch64 standard library installed.
  cargo_lambda="$(if [[ $triple == x86_64-* ]]; then export SKIP_ARM64_TARGET=1; fi
    bash "$root/scripts/install-cargo-lambda.sh")"
fi
# cargo-lambda finds zig (its cross-linker) on PATH; the PyPI wheel puts it beside itself.
PATH="$(dirname "$cargo_lambda"):$PATH"
export PATH

lambda_dir="${LAMBDA_DIR:-${CARGO_TARGET_DIR:-$root/target}/lambda}"
for b in "${binaries[@]}"; do
  # Each function is a package of its own name; the probes are binaries of glase-probes.
  case "$b" in
    bench-echo | bench-rng | probe-panic-worker) p=glase-probes ;;
    *) p="$b" ;;
  esac
  echo "[build] cargo lambda build --release $arch_flag -p $p --bin $b ${extra[*]}" >&2
  "$cargo_lambda" lambda build --release --locked "$arch_flag" --lambda-dir "$lambda_dir" \
    -p "$p" --bin "$b" "${extra[@]}"
done
