#!/usr/bin/env bash
# Installs make bench's Python peer (tools/bench/python/webhook.py): a venv with the Lambda
# runtime interface client and boto3, pinned, in .local/bench-python (git-ignored).
# Idempotent. Prints the venv's python.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.local/bench-python"
AWSLAMBDARIC_VERSION="${AWSLAMBDARIC_VERSION:-4.2.2}"
BOTO3_VERSION="${BOTO3_VERSION:-1.44.8}"
marker="$venv/.installed-$AWSLAMBDARIC_VERSION-$BOTO3_VERSION"

if [[ ! -f "$marker" ]]; then
  printf '[install] awslambdaric==%s boto3==%s into %s\n' \
    "$AWSLAMBDARIC_VERSION" "$BOTO3_VERSION" "$venv" >&2
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "awslambdaric==$AWSLAMBDARIC_VERSION" "boto3==$BOTO3_VERSION"
  touch "$marker"
fi
echo "$venv/bin/python"
