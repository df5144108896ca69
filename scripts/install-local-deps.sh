#!/usr/bin/env bash
# Installs the local services and tools the tests and `make dev` use into .local/ (git-ignored).
# Idempotent: each step is skipped when its marker already exists. Needs only what a fresh
# machine has: node/npm, Java 17, python3. Versions are pinned for repeatable runs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
local_dir="$root/.local"
mkdir -p "$local_dir"

DDB_SIM_VERSION="${DDB_SIM_VERSION:-2.9.30}"
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
CFN_LINT_VERSION="${CFN_LINT_VERSION:-1.58.0}"

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
  local marker="$venv/.installed-moto-$MOTO_VERSION-cfnlint-$CFN_LINT_VERSION"
  if [[ -f "$marker" ]]; then return; fi
  log "python venv: moto[server]==$MOTO_VERSION cfn-lint==$CFN_LINT_VERSION"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "moto[server]==$MOTO_VERSION" "cfn-lint==$CFN_LINT_VERSION"
  touch "$marker"
}

install_dynamodb_local
install_python_tools
log "local dependencies ready in $local_dir"
