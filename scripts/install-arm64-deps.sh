#!/usr/bin/env bash
# Installs what `make check-arm64` needs to run arm64 function binaries on an x86_64 machine:
# cargo-lambda and the aarch64 Rust standard library (scripts/install-cargo-lambda.sh), and
# user-mode emulation (Debian's qemu-user) with the arm64 C library and loader it runs the
# binaries against (libc6-arm64-cross, under /usr/aarch64-linux-gnu).
# For correctness only: emulated timings mean nothing. Idempotent.
# Prints the runner prefix for the arm64 binaries (qemu-aarch64 -L <sysroot>).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install-cargo-lambda.sh" >/dev/null

sysroot=/usr/aarch64-linux-gnu
if ! command -v qemu-aarch64 >/dev/null || [[ ! -e "$sysroot/lib/ld-linux-aarch64.so.1" ]]; then
  if ! command -v apt-get >/dev/null; then
    echo "[install] qemu-user and an arm64 C library are needed: on Debian/Ubuntu" >&2
    echo "          'apt-get install qemu-user libc6-arm64-cross'; elsewhere, their equivalents" >&2
    exit 1
  fi
  sudo=()
  [[ "$(id -u)" == 0 ]] || sudo=(sudo)
  printf '[install] apt-get install qemu-user libc6-arm64-cross\n' >&2
  "${sudo[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    qemu-user libc6-arm64-cross >&2
fi
echo "qemu-aarch64 -L $sysroot"
