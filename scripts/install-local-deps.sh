#!/usr/bin/env bash
# Installs the local services and tools the tests and `make dev` use into .local/ (git-ignored).
# Idempotent: each step is skipped when its marker already exists. Needs only what a fresh
# machine has: node/npm, Java 17, python3. Versions are pinned for repeatable runs; the Python
# packages (and all they pull in) are hash-checked against scripts/local-deps-requirements.txt.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
local_dir="$root/.local"
mkdir -p "$local_dir"

DDB_SIM_VERSION="${DDB_SIM_VERSION:-2.9.30}"
requirements="$root/scripts/local-deps-requirements.txt"

log() { printf '[install] %s\n' "$*" >&2; }

install_dynamodb_local() {
  local dir="$local_dir/dynamodb-local"
  if [[ -f "$dir/package/emulator/DynamoDBLocal.jar" ]]; then return; fi
  command -v java >/dev/null || { log "java not found: install a JRE 17 (e.g. apt-get install openjdk-17-jre-headless)"; exit 1; }
  log "DynamoDB Local: npm pack amplify-dynamodb-simulator@$DDB_SIM_VERSION"
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  (cd "$dir.tmp" && npm pack --silent "amplify-dynamodb-simulator@$DDB_SIM_VERSION" >/dev/null \
    && tar -xzf amplify-dynamodb-simulator-*.tgz && rm -f amplify-dynamodb-simulator-*.tgz)
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

install_python_tools() {
  local venv="$local_dir/venv"
  # Named after the requirements' content: a changed pin reinstalls.
  local marker="$venv/.installed-$(sha256sum "$requirements" | cut -c1-16)"
  if [[ -f "$marker" ]]; then return; fi
  log "python venv: moto[server], cfn-lint (scripts/local-deps-requirements.txt)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$requirements"
  touch "$marker"
}

install_dynamodb_local
install_python_tools
log "local dependencies ready in $local_dir"
