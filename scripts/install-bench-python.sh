#!/usr/bin/env bash
# Installs make bench's Python peer (tools/bench/python/webhook.py): a venv with the Lambda
# runtime interface client and boto3, pinned and hash-checked (scripts/bench-python-requirements.txt),
# in .local/bench-python (git-ignored).
# Idempotent. Prints the venv's python.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.local/bench-python"
requirements="$root/scripts/bench-python-requirements.txt"
# Named after the requirements' content: a changed pin reinstalls.
marker="$venv/.installed-$(sha256sum "$requirements" | cut -c1-16)"

if [[ ! -f "$marker" ]]; then
  printf '[install] awslambdaric, boto3 (scripts/bench-python-requirements.txt) into %s\n' "$venv" >&2
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$requirements"
  touch "$marker"
fi
echo "$venv/bin/python"
