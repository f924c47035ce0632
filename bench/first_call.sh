#!/usr/bin/env bash
# INVITE -> 200 OK of the first call after an idle spell, when the gateway has given back its
# code's resident pages (target: median <= 2 ms; the warm figure is bench/call_setup.sh's).
# Usage: bench/first_call.sh [ROUNDS] [IDLE_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p hasip -q
python3 bench/first_call.py target/release/hasip "${PORT:-25068}" "${1:-5}" "${2:-12}"
