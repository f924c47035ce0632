#!/usr/bin/env bash
# 200 OK -> first prompt packet (target <= 5 ms) and RFC 4733 digit -> webhook (target
# <= 2 ms median, <= 5 ms p99). Usage: bench/media_latency.sh [CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p hasip -q
python3 bench/media_latency.py target/release/hasip "${PORT:-25072}" "${1:-200}"
