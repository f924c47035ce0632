#!/usr/bin/env bash
# INVITE -> 200 OK (target <= 0.5 ms median) and stdin command -> INVITE (target <= 1 ms).
# Usage: bench/call_setup.sh [CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p hasip -q
python3 bench/call_setup.py target/release/hasip "${PORT:-25064}" "${1:-200}"
