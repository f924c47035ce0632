#!/usr/bin/env bash
# 200 OK -> first prompt packet (target <= 5 ms); a key press's first RFC 4733 packet
# -> webhook (<= 2 ms median, <= 5 ms p99); an end-only event; an in-band tone -> webhook
# (<= 60 ms median). Exits non-zero on a miss. Usage: bench/media_latency.sh [CALLS]
# SPOOL_DIR=DIR keeps the webhooks in a spool folder (the add-on's default) meanwhile.
# STALLS=1 also runs bench/cpu_speed.rs at the lowest priority meanwhile and reports the
# figures again without the samples that overlap a stretch in which the host ran this
# virtual machine's CPUs slower (BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p hasip -q
if [ -n "${STALLS:-}" ]; then
  work=$(mktemp -d /tmp/hasip-media-latency.XXXXXX)
  rustc -O bench/cpu_speed.rs -o "$work/cpu_speed"
  chrt -i 0 "$work/cpu_speed" 600 > "$work/stalls.txt" 2>/dev/null &
  probe=$!
  trap 'kill $probe 2>/dev/null || true; rm -rf "$work"' EXIT
  export HASIP_STALLS="$work/stalls.txt"
fi
python3 bench/media_latency.py target/release/hasip "${PORT:-25072}" "${1:-200}"
