#!/usr/bin/env bash
# Builds both Lambda functions as deployable zips with cargo-lambda (release profile: fat LTO),
# as `sam build` does, and prints each zip's path and size. Portable: bash, python3 and POSIX
# tools only (no GNU-only stat -c or numfmt), so it runs on Linux and macOS alike.
#
#   ARCH=x86_64 (default) | arm64     target architecture (arm64 needs the aarch64 std:
#                                     `rustup target add aarch64-unknown-linux-gnu`, which
#                                     scripts/install-cargo-lambda.sh runs)
#   CARGO_TARGET_DIR                  honoured; zips land in $CARGO_TARGET_DIR/lambda/<binary>/
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

ARCH="${ARCH:-x86_64}"
BINARIES=(glase-webhook glase-worker glase-reconcile glase-events)

bash "$root/scripts/lambda-build.sh" "$ARCH" "${BINARIES[@]}" -- --output-format zip

# Bytes as KiB/MiB with one decimal, like `numfmt --to=iec-i`.
human() { awk -v b="$1" 'BEGIN { split("B KiB MiB GiB", u, " "); i = 1;
  while (b >= 1024 && i < 4) { b /= 1024; i++ } printf (i == 1 ? "%d%s\n" : "%.1f%s\n"), b, u[i] }'; }

lambda_dir="${CARGO_TARGET_DIR:-$root/target}/lambda"
echo
printf '%-60s %12s %12s\n' "zip ($ARCH)" "zip" "bootstrap"
for bin in "${BINARIES[@]}"; do
  zip="$lambda_dir/$bin/bootstrap.zip"
  [[ -f "$zip" ]] || { echo "package: expected $zip was not produced" >&2; exit 1; }
  zip_bytes=$(wc -c <"$zip" | tr -d ' ')
  # Uncompressed size of the bootstrap inside (what Lambda unpacks; the 250 MB limit applies to it).
  raw_bytes=$(python3 -c 'import sys, zipfile; print(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()))' "$zip")
  printf '%-60s %12s %12s\n' "${zip#"$root"/}" "$(human "$zip_bytes")" "$(human "$raw_bytes")"
done
