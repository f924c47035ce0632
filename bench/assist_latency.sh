#!/usr/bin/env bash
# Assist (issue 20): end of the caller's speech -> first sound of the spoken answer, the
# gateway's Assist against Home Assistant's own VoIP integration on the same Home
# Assistant, pipeline and machine, turns alternating in one run (tests/benches/
# assist_latency.rs says where each end is measured). Needs what ./build.sh test installs
# (the Home Assistant peer, sox, espeak-ng). Exits non-zero unless the gateway is faster.
# Usage: bench/assist_latency.sh [TURNS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p hasip -q
ASSIST_TURNS=${1:-5} cargo bench --locked -q -p hasip-tests --bench assist_latency
