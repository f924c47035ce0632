# Sourced by bench/idle.sh and bench/link_order.sh: what ha-sip users run, for an idle
# gateway. `full_config WORK PORT` starts a stand-in for Home Assistant's API (as far as an
# idle gateway asks: GET /api/config) and, when mosquitto is installed, a broker on PORT+1,
# adding their pids to the caller's `pids` array; writes WORK/menu.yaml (a PIN menu) and
# WORK/options.json (an account in accept mode with that menu, the TTS engine, the webhook,
# MQTT with the discovery device); sets HA_URL to the stand-in's API.
full_config() {
  local work=$1 port=$2 mqtt='{"enabled": false}' mport
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
  HA_URL="http://127.0.0.1:$(cat "$work/ha.port")/api"
}
