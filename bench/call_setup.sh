#!/usr/bin/env bash
# INVITE -> 200 OK (target <= 0.5 ms median), stdin command -> INVITE (target <= 1 ms) and
# MQTT command -> INVITE (target <= 1 ms, SIP unaffected in MQTT mode). Runs the gateway
# without MQTT, then twice in MQTT mode against a mosquitto started here on loopback:
# mosquitto's default configuration with commands 100 ms apart (as automations send them),
# then `set_tcp_nodelay true` with commands back to back.
# Exits non-zero when a median misses its target. Usage: bench/call_setup.sh [CALLS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p hasip -q
calls=${1:-200}
python3 bench/call_setup.py target/release/hasip "${PORT:-25064}" "$calls"
mport=${MQTT_PORT:-25070}
work=$(mktemp -d /tmp/hasip-bench-mqtt.XXXXXX)
mq=""
trap 'kill $mq 2>/dev/null || true; rm -rf "$work"' EXIT
broker() {
  [ -n "$mq" ] && { kill "$mq"; wait "$mq" 2>/dev/null || true; }
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nuser %s\n%s\n' \
    "$mport" "$(id -un)" "$1" > "$work/m.conf"
  mosquitto -c "$work/m.conf" > "$work/m.log" 2>&1 &
  mq=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$mport") 2>/dev/null && return; sleep 0.05; done
  echo "mosquitto did not start" >&2; exit 1
}
broker ""
MQTT_PORT=$mport MQTT_GAP_MS=100 MQTT_LABEL=" (default mosquitto, 100 ms apart)" \
  python3 bench/call_setup.py target/release/hasip "${PORT:-25064}" "$calls" | tail -1
broker "set_tcp_nodelay true"
MQTT_PORT=$mport MQTT_LABEL=" (mosquitto set_tcp_nodelay, back to back)" \
  python3 bench/call_setup.py target/release/hasip "${PORT:-25064}" "$calls"
