#!/usr/bin/env bash
# Builds both Lambda functions as deployable zips with cargo-lambda (release profile: fat LTO)
# and prints each zip's path and size.
#
#   ARCH=x86_64 (default) | arm64     target architecture (arm64 needs the aarch64 std:
#                                     `rustup target add aarch64-unknown-linux-gnu`)
#   CARGO_TARGET_DIR                  honoured; zips land in $CARGO_TARGET_DIR/lambda/<binary>/
#
# Each function is built on its own (-p), as `sam build` does, so its features are not unified
# with the other's and the size printed is the size deployed. The workspace Cargo.lock is used
# as is (--locked).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

ARCH="${ARCH:-x86_64}"
BINARIES=(glase-webhook glase-worker)

case "$ARCH" in
  x86_64 | x86-64 | amd64) arch_flag=--x86-64; triple=x86_64-unknown-linux-gnu ;;
  arm64 | aarch64) arch_flag=--arm64; triple=aarch64-unknown-linux-gnu ;;
  *) echo "package: ARCH must be x86_64 or arm64, got '$ARCH'" >&2; exit 2 ;;
esac

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$triple"; then
  echo "package: the Rust standard library for $triple is not installed;" >&2
  echo "         run 'rustup target add $triple' (needs network) or build with ARCH=x86_64" >&2
  exit 1
fi

if command -v cargo-lambda >/dev/null && [[ -z "${PACKAGE_USE_VENV:-}" ]]; then
  cargo_lambda="$(command -v cargo-lambda)"
else
  cargo_lambda="$(bash "$root/scripts/install-cargo-lambda.sh")"
fi
# cargo-lambda finds zig (its cross-linker) on PATH; the PyPI wheel puts it in the venv.
export PATH="$(dirname "$cargo_lambda"):$PATH"

target_dir="${CARGO_TARGET_DIR:-$root/target}"
lambda_dir="$target_dir/lambda"

for bin in "${BINARIES[@]}"; do
  echo "[package] cargo lambda build --release $arch_flag -p $bin" >&2
  "$cargo_lambda" lambda build --release --locked "$arch_flag" \
    --output-format zip --lambda-dir "$lambda_dir" -p "$bin" --bin "$bin"
done

echo
printf '%-60s %12s %12s\n' "zip ($ARCH)" "zip bytes" "bootstrap"
for bin in "${BINARIES[@]}"; do
  zip="$lambda_dir/$bin/bootstrap.zip"
  [[ -f "$zip" ]] || { echo "package: expected $zip was not produced" >&2; exit 1; }
  zip_bytes=$(stat -c %s "$zip")
  # Uncompressed size of the bootstrap inside (what Lambda unpacks; the 250 MB limit applies to it).
  raw_bytes=$(python3 -c 'import sys, zipfile; print(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()))' "$zip")
  printf '%-60s %12s %12s\n' "${zip#"$root"/}" "$(numfmt --to=iec-i --suffix=B "$zip_bytes")" "$(numfmt --to=iec-i --suffix=B "$raw_bytes")"
done
