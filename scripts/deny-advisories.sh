#!/usr/bin/env bash
# `cargo deny check advisories` needs the RustSec advisory database, which cargo-deny fetches
# with git from GitHub. Passing means checked: a database that was fetched and has advisories
# for Cargo.lock fails, and so does a fetch that fails while the database is reachable. Only
# where the database is unreachable (a machine that reaches only the package registries) does
# this exit 0, with a loud ADVISORIES NOT CHECKED line, never as passed; a database fetched
# earlier is then used, with its age, when present.
#
#   usage: deny-advisories.sh <path to cargo-deny>
#   DENY_ADVISORIES=require   fail instead of exiting 0 when the database cannot be had.
#   ADVISORY_DB_URL           the database's address (the tests point it elsewhere).
set -euo pipefail

deny="${1:-cargo-deny}"
db_root="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
db_url="${ADVISORY_DB_URL:-https://github.com/rustsec/advisory-db}"

if fetch_error="$(timeout 120 "$deny" --locked fetch db 2>&1 >/dev/null)"; then
  exec "$deny" --locked check --disable-fetch advisories
fi

# The fetch failed: an unreachable network is the one reason to go on without it.
if timeout 30 git ls-remote --quiet "$db_url" HEAD >/dev/null 2>&1; then
  echo "[deny] ADVISORIES NOT CHECKED: the RustSec database at $db_url is reachable, yet cargo deny could not fetch it:" >&2
  printf '%s\n' "$fetch_error" >&2
  exit 1
fi

db=""
for d in "$db_root"/*/; do
  # Only a complete clone (a failed fetch can leave an empty directory behind).
  if git -C "$d" rev-parse --verify -q HEAD >/dev/null 2>&1; then db="${d%/}"; break; fi
done
if [[ -n "$db" ]]; then
  echo "[deny] advisories: could not refresh the RustSec database ($db_url unreachable); checking against the copy in $db" >&2
  git -C "$db" log -1 --format='[deny] that copy is from %cs' 2>/dev/null >&2 || true
  exec "$deny" --locked check --disable-fetch advisories
fi

if [[ "${DENY_ADVISORIES:-}" == require ]]; then
  echo "[deny] ADVISORIES NOT CHECKED: FAILED: the RustSec advisory database ($db_url) is unreachable" >&2
  exit 1
fi
{
  echo "[deny] ################################################################################"
  echo "[deny] ADVISORIES NOT CHECKED: the RustSec advisory database ($db_url) is unreachable"
  echo "[deny] from here. Known vulnerabilities in Cargo.lock were NOT looked for. Run 'make deny'"
  echo "[deny] where GitHub is reachable (licenses, bans and sources passed)."
  echo "[deny] ################################################################################"
} >&2
