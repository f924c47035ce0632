#!/usr/bin/env bash
# Idle RSS and CPU (targets <= 5 MiB, 0 %). Starts the release gateway with the embedded
# default, lets it settle, then samples RSS and CPU ticks over SECONDS (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
cargo build --release --locked -p hasip -q
# A just-written binary counts its pages as private dirty until writeback; measure the
# steady state.
sync
port=${PORT:-25062}
target/release/hasip --bind 127.0.0.1 --port "$port" --log-level 1 < <(sleep $((secs + 5))) &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
# Wait until it answers OPTIONS (at most 2.5 s).
python3 - "$port" <<'PY'
import socket, sys, time
p = int(sys.argv[1]); s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
for _ in range(50):
    s.sendto(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKi;rport\r\nFrom: <sip:b@x>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: i\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", ("127.0.0.1", p))
    try: s.recv(9999); break
    except OSError: time.sleep(0.05)
PY
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
t0=$(ticks); sleep "$secs"; t1=$(ticks)
hz=$(getconf CLK_TCK)
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
cpu=$(python3 -c "print(f'{($t1-$t0)/$hz/$secs*100:.3f}')")
echo "idle over ${secs}s: RSS $(python3 -c "print(f'{$rss_kb/1024:.2f}')") MiB, CPU ${cpu} %  (cpu ticks $t0 -> $t1)"
