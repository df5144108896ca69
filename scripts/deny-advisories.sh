#!/usr/bin/env bash
# `cargo deny check advisories` needs the RustSec advisory database, which cargo-deny fetches
# with git from GitHub. Where GitHub is unreachable (a machine that reaches only the package
# registries), the check is reported as SKIPPED, never as passed; a database fetched earlier is
# used, with its age, when present.
#
#   usage: deny-advisories.sh <path to cargo-deny>
#   DENY_ADVISORIES=require   fail instead of skipping when the database cannot be had.
set -euo pipefail

deny="${1:-cargo-deny}"
db_root="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"

if timeout 120 "$deny" --locked fetch db >/dev/null 2>&1; then
  exec "$deny" --locked check --disable-fetch advisories
fi

db=""
for d in "$db_root"/*/; do
  # Only a complete clone (a failed fetch can leave an empty directory behind).
  if git -C "$d" rev-parse --verify -q HEAD >/dev/null 2>&1; then db="${d%/}"; break; fi
done
if [[ -n "$db" ]]; then
  echo "[deny] advisories: could not refresh the RustSec database; checking against the copy in $db" >&2
  git -C "$db" log -1 --format='[deny] that copy is from %cs' 2>/dev/null >&2 || true
  exec "$deny" --locked check --disable-fetch advisories
fi

if [[ "${DENY_ADVISORIES:-}" == require ]]; then
  echo "[deny] advisories: FAILED: the RustSec advisory database (GitHub) is unreachable" >&2
  exit 1
fi
echo "[deny] advisories: SKIPPED: the RustSec advisory database (GitHub) is unreachable from here." >&2
echo "[deny]             Run 'make deny' where GitHub is reachable (licenses, bans and sources passed)." >&2
