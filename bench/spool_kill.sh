#!/usr/bin/env bash
# What a SIGKILL loses with the webhook spool (issue 21): the release gateway is killed
# while calls pour in and Home Assistant is away, then started again with Home Assistant
# back; the webhooks received are compared with the events the first run logged
# (bench/spool_kill.py). Exits non-zero when an event arrives twice, out of its call's
# order, or more are lost than a kill can cut off. Needs sipp.
# Usage: bench/spool_kill.sh [ROUNDS] [CALLS_PER_SECOND]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p hasip -q
python3 bench/spool_kill.py target/release/hasip "${PORT:-25266}" "${1:-5}" "${2:-50}"
