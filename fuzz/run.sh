#!/usr/bin/env bash
# Builds every fuzz target and runs each one for a bounded time, starting from its
# committed corpus (fuzz/corpus/TARGET). A crash, a panic, an overflow (debug assertions
# are on), a leak of time (-timeout) or memory (-rss_limit_mb) fails the run and leaves
# the input in fuzz/artifacts/TARGET/ to replay with `cargo fuzz run TARGET FILE`.
#
#   fuzz/run.sh [SECONDS]          each target SECONDS (default 20; FUZZ_SECONDS too)
#   fuzz/run.sh --grow [SECONDS]   also merge what was found into fuzz/corpus (commit it)
#
# cargo-fuzz comes from crates.io (installed when missing). It runs on the stable
# toolchain with `--sanitizer none`: libFuzzer's coverage guidance works without a
# sanitizer, and the code under test is safe Rust, whose faults are panics and overflows.
set -euo pipefail
cd "$(dirname "$0")"

grow=false
if [ "${1:-}" = "--grow" ]; then
  grow=true
  shift
fi
secs=${1:-${FUZZ_SECONDS:-20}}
case "$secs" in
  '' | *[!0-9]*) echo "fuzz/run.sh: SECONDS must be a whole number, not '$secs'" >&2; exit 2 ;;
esac

if ! command -v cargo-fuzz > /dev/null; then
  echo "fuzz/run.sh: installing cargo-fuzz from crates.io"
  cargo install cargo-fuzz --locked --quiet
fi

flags=(--sanitizer none --debug-assertions)
cargo fuzz build "${flags[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target" "$work/$target"
  before=$(find "corpus/$target" -type f | wc -l)
  # New inputs go to the first directory (scratch); the committed corpus is only read.
  if cargo fuzz run "${flags[@]}" "$target" "$work/$target" "corpus/$target" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 > "$work/$target.log" 2>&1; then
    found=$(find "$work/$target" -type f | wc -l)
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$target.log" | grep -o '[0-9]*$' || echo '?')
    echo "fuzz $target: ${secs} s, $runs runs from $before inputs, $found new, no fault"
    if $grow && [ "$found" -gt 0 ]; then
      # A greedy set cover of the old corpus and the new finds: what adds coverage joins
      # the corpus; the committed inputs stay.
      mkdir -p "$work/$target.merged"
      cargo fuzz run "${flags[@]}" "$target" "$work/$target.merged" "corpus/$target" "$work/$target" -- \
        -set_cover_merge=1 -max_len=65536 > "$work/$target.merge.log" 2>&1
      cp -n "$work/$target.merged"/* "corpus/$target"/
      echo "fuzz $target: corpus now $(find "corpus/$target" -type f | wc -l) inputs (commit fuzz/corpus)"
    fi
  else
    echo "fuzz $target: FAULT; the end of its log:" >&2
    tail -n 40 "$work/$target.log" >&2
    failed+=("$target")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: faults in ${failed[*]}; inputs in fuzz/artifacts/" >&2
  exit 1
fi
