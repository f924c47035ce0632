#!/usr/bin/env bash
# Writes deny/advisories: from RustSec's advisory database, the advisories of every crate
# Cargo.lock takes from a registry or Git, with the database's commit and date and the list of crates it was
# taken for (SNAPSHOT). `./build.sh test` checks against it where the database cannot be
# fetched (CI cannot reach GitHub); tests/tests/tidy.rs fails when Cargo.lock names a crate
# the snapshot was not taken for. Run it after changing dependencies:
#
#   deny/snapshot.sh [DATABASE]   (default: fetched by cargo deny, else its last copy)
set -euo pipefail
cd "$(dirname "$0")/.."

db=${1:-}
if [ -z "$db" ]; then
  timeout 120 cargo deny fetch db >/dev/null 2>&1 || echo "deny/snapshot.sh: cannot fetch; using the last copy"
  db=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/advisory-dbs/advisory-db-* 2>/dev/null | head -n 1 || true)
fi
if [ -z "$db" ] || [ ! -d "$db/crates" ]; then
  echo "deny/snapshot.sh: no advisory database${db:+ at $db}" >&2
  exit 1
fi

out=deny/advisories
rm -rf "$out"
mkdir -p "$out/crates"
# The crates from a registry or Git (the workspace's own have no `source`).
names=$(awk '/^name = / { gsub(/"/, "", $3); name = $3 } /^source = / { print name }' Cargo.lock | sort -u)
taken=0
for name in $names; do
  if [ -d "$db/crates/$name" ]; then
    cp -r "$db/crates/$name" "$out/crates/"
    taken=$((taken + 1))
  fi
done
{
  echo "# RustSec's advisory database (https://github.com/rustsec/advisory-db, CC0-1.0):"
  echo "# the advisories of the crates below, written by deny/snapshot.sh."
  echo "commit $(git -C "$db" rev-parse HEAD)"
  echo "date $(git -C "$db" show -s --format=%cI HEAD)"
  for name in $names; do echo "crate $name"; done
} > "$out/SNAPSHOT"
echo "deny/snapshot.sh: $(echo "$names" | wc -w) crates, $taken with advisories, database of $(sed -n 's/^date //p' "$out/SNAPSHOT")"
