#!/usr/bin/env bash
# Start -> answers OPTIONS (target <= 10 ms median; exits non-zero on a miss).
# Usage: bench/startup.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p hasip -q
python3 bench/startup.py target/release/hasip "${PORT:-25060}" "${1:-20}"
