#!/usr/bin/env bash
# Call setup under sipp load: CALLS calls at RATE calls/s from sipp (tests/sipp/uac_call.xml:
# INVITE with SDP, 200 OK, ACK, BYE) against the release gateway in accept mode; reports
# sipp's INVITE -> 200 OK response times (median, p99) from -trace_rtt. sipp counts in whole
# milliseconds, so a "1 ms" here means "at most 1 ms"; bench/call_setup.sh measures finer.
# Usage: bench/sipp_load.sh [CALLS] [RATE]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-100}; rate=${2:-20}
cargo build --release --locked -p hasip -q
work=$(mktemp -d)
trap 'kill $gw 2>/dev/null || true; rm -rf "$work"' EXIT
gport=${PORT:-25066}
cat > "$work/options.json" <<JSON
{"sip_global": {"log_level": 1, "global_options": "--call-rate-limit 0"}, "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1", "answer_mode": "accept", "settle_time": 0}}
JSON
# stdin stays open (a FIFO held by this script), as the Supervisor keeps it open.
mkfifo "$work/stdin"
target/release/hasip --bind 127.0.0.1 --port "$gport" --config "$work/options.json" < "$work/stdin" > "$work/gw.log" 2>&1 &
gw=$!
exec 3> "$work/stdin"
sleep 0.2
(cd "$work" && sipp "127.0.0.1:$gport" -sf "$OLDPWD/tests/sipp/uac_call.xml" -s hasip -i 127.0.0.1 -p 25067 \
   -mi 127.0.0.1 -mp 25070 -cp 25068 -m "$calls" -r "$rate" -l 50 -nostdin -timeout 120s -timeout_error \
   -trace_rtt -rtt_freq 1 > sipp.out 2>&1) || { tail -20 "$work/sipp.out"; exit 1; }
python3 - "$work" <<'PY'
import glob, statistics, sys
rows = []
for f in glob.glob(sys.argv[1] + "/*_rtt.csv"):
    for line in open(f):
        parts = line.strip().split(";")
        if len(parts) >= 3 and parts[0][0].isdigit():
            rows.append(float(parts[2]))
rows.sort()
p = lambda q: rows[min(len(rows) - 1, int(len(rows) * q))]
print(f"sipp INVITE -> 200 OK over {len(rows)} calls: median {statistics.median(rows):.3f} ms, p99 {p(.99):.3f} ms, max {rows[-1]:.3f} ms (sipp rounds up to whole ms)")
PY
exec 3>&-
