#!/usr/bin/env bash
# Bounded connections (issue 21): the release gateway (embedded default configuration)
# against 5,000 silent TCP connections and 200 half-sent requests (bench/connections.py).
# Exits non-zero when a bound is missed: at most 500 connections held, at most 12 KiB of
# RSS each, all closed after the 10 s first-message deadline, OPTIONS answered throughout,
# RSS back within 2 MiB of the start once the storm has been calm (the give-back).
# Usage: bench/connections.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p hasip -q
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
work=$(mktemp -d /tmp/hasip-conns.XXXXXX)
target/release/hasip --port "$port" --bind 127.0.0.1 --log-level 1 > "$work/log" 2>&1 < <(sleep 120) &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do
  python3 -c "
import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
s.sendto(b'OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKw;rport\r\nFrom: <sip:b@x>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: w\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n', ('127.0.0.1', $port))
s.recv(9999)" 2>/dev/null && break
  sleep 0.1
done
python3 bench/connections.py "$pid" "$port"
