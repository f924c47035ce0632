#!/usr/bin/env bash
# Idle RSS and CPU (targets <= 5 MiB, 0 %), in two configurations:
#   default  the embedded default (no account)
#   full     what ha-sip users run: an account in accept mode with an incoming_call_file
#            menu, Home Assistant (a local stand-in answering its API) with the webhook,
#            the health socket, and MQTT with the discovery device (a local mosquitto
#            when one is installed)
# Each starts the release gateway, waits until it answers OPTIONS, lets it settle, then
# samples over SECONDS (default 30): RSS, private dirty memory and the resident pages of
# the program's own code, and CPU ticks. Exits non-zero when a target is missed.
# Usage: bench/idle.sh [SECONDS] [default|full|both]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
which=${2:-both}
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
  # Home Assistant's API, as far as the gateway asks at idle: GET /api/config.
  python3 - "$work/ha.port" <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        b = b'{"state": "RUNNING"}'
        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    do_POST = do_GET
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
  pids+=("$!")
  for _ in $(seq 50); do [ -s "$work/ha.port" ] && break; sleep 0.1; done
  mqtt='{"enabled": false}'
  if command -v mosquitto >/dev/null; then
    mport=$((port + 1))
    printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$mport" > "$work/mosquitto.conf"
    mosquitto -c "$work/mosquitto.conf" >/dev/null 2>&1 &
    pids+=("$!")
    mqtt="{\"enabled\": true, \"broker_address\": \"127.0.0.1\", \"broker_port\": $mport}"
  fi
  printf 'menu:\n  message: Welcome.\n  choices_are_pin: true\n  choices:\n    "1234":\n      message: Open.\n      post_action: hangup\n' > "$work/menu.yaml"
  cat > "$work/options.json" <<JSON
{"sip_global": {"log_level": 1},
 "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1",
         "answer_mode": "accept", "settle_time": 0, "incoming_call_file": "$work/menu.yaml"},
 "tts": {"engine_id": "tts.piper", "language": "en"},
 "webhook": {"id": "sip_call_webhook_id"},
 "mqtt": $mqtt}
JSON
  HA_BASE_URL="http://127.0.0.1:$(cat "$work/ha.port")/api" HA_TOKEN=idle \
    target/release/hasip --bind 127.0.0.1 --port "$port" --config "$work/options.json" \
    < <(sleep $((secs + 8))) > /dev/null &
  pid=$!; pids+=("$pid")
  wait_options "$port"
  measure full "$pid"
fi
exit "$failed"
