#!/usr/bin/env bash
# Talk's mouth-to-ear delay both ways and the gateway's CPU while one call talks (issue 19;
# goal: under 150 ms each way). Needs chromium, node and npm (./build.sh test installs
# them) and sox-free Python 3.11 (audioop). Exits non-zero when a median misses the goal.
# Usage: bench/talk_latency.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-20}
cargo build --release --locked -p hasip -q
work=$(mktemp -d /tmp/hasip-talk-latency.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp tests/peers/browser/package.json tests/peers/browser/package-lock.json tests/peers/browser/browser.mjs bench/talk_latency.mjs "$work"/
(cd "$work" && npm ci --silent --no-audit --no-fund)
python3 bench/talk_latency.py target/release/hasip "${PORT:-25070}" "$rounds" "$work"
