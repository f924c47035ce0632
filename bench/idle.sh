#!/usr/bin/env bash
# Idle RSS and CPU (targets <= 5 MiB, 0 %), in two configurations:
#   default  the embedded default (no account)
#   full     what ha-sip users run: an account in accept mode with an incoming_call_file
#            menu, Home Assistant (a local stand-in answering its API) with the webhook,
#            the health socket, MQTT with the discovery device (a local mosquitto
#            when one is installed) and the dashboard page (served, nobody looking)
# Each starts the release gateway, waits until it answers OPTIONS, lets it settle, then
# samples over SECONDS (default 30): RSS, private dirty memory and the resident pages of
# the program's own code, and CPU ticks. Exits non-zero when a target is missed.
# Usage: bench/idle.sh [SECONDS] [default|full|both]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
which=${2:-both}
. bench/full_config.sh
cargo build --release --locked -p hasip -q
# A just-written binary counts its pages as private dirty until writeback; measure the
# steady state.
sync
work=$(mktemp -d /tmp/hasip-idle.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
failed=0

wait_options() {
  python3 - "$1" <<'PY'
import socket, sys, time
p = int(sys.argv[1]); s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
for _ in range(50):
    s.sendto(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKi;rport\r\nFrom: <sip:b@x>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: i\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", ("127.0.0.1", p))
    try: s.recv(9999); break
    except OSError: time.sleep(0.05)
PY
}

measure() { # NAME PID
  local name=$1 pid=$2
  ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
  sleep 2
  local t0 t1 hz rss dirty code cpu
  t0=$(ticks); sleep "$secs"; t1=$(ticks)
  hz=$(getconf CLK_TCK)
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  dirty=$(awk '/^Private_Dirty/ {print $2}' "/proc/$pid/smaps_rollup")
  # Resident pages of the executable's own mappings (its code and read-only data).
  code=$(awk -v exe="$(readlink -f target/release/hasip)" '
    /^[0-9a-f]+-[0-9a-f]+ / { mine = ($6 == exe) }
    mine && /^Rss:/ { sum += $2 }
    END { print sum + 0 }' "/proc/$pid/smaps")
  cpu=$(python3 -c "print(f'{($t1-$t0)/$hz/$secs*100:.3f}')")
  echo "idle ($name) over ${secs}s: RSS $(python3 -c "print(f'{$rss/1024:.2f}')") MiB" \
    "(private dirty $(python3 -c "print(f'{$dirty/1024:.2f}')") MiB," \
    "program's own pages $(python3 -c "print(f'{$code/1024:.2f}')") MiB), CPU ${cpu} %" \
    "(cpu ticks $t0 -> $t1)"
  if [ "$rss" -gt $((5 * 1024)) ] || [ "$t1" != "$t0" ]; then
    echo "  missed: <= 5 MiB and 0 % CPU" >&2
    failed=1
  fi
}

if [ "$which" = default ] || [ "$which" = both ]; then
  port=${PORT:-25062}
  target/release/hasip --bind 127.0.0.1 --port "$port" --log-level 1 < <(sleep $((secs + 8))) &
  pid=$!; pids+=("$pid")
  wait_options "$port"
  measure default "$pid"
  kill "$pid"
fi

if [ "$which" = full ] || [ "$which" = both ]; then
  port=$(( ${PORT:-25062} + 1 ))
  full_config "$work" "$port"
  # NO_PAGE=1: without the dashboard page, to see what it costs.
  web=("WEB_LISTEN=127.0.0.1:$((port + 100))" WEB_TOKEN=idle-bench-token-0123)
  [ "${NO_PAGE:-0}" = 1 ] && web=(WEB_LISTEN=)
  env HA_BASE_URL="$HA_URL" HA_TOKEN=idle "${web[@]}" \
    target/release/hasip --bind 127.0.0.1 --port "$port" --config "$work/options.json" \
    < <(sleep $((secs + 8))) > /dev/null &
  pid=$!; pids+=("$pid")
  wait_options "$port"
  measure full "$pid"
fi
exit "$failed"
