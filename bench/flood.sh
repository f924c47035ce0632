#!/usr/bin/env bash
# Floods from one source (issue 21): sipp sends INVITEs (tests/sipp/uac_call.xml: each call
# answered lasts 0.4 s) at RATE per second for SECONDS from 127.0.0.2, a private address
# the direct-call account takes calls from, then OPTIONS and then REGISTERs at the same
# rate (both answered statelessly: 200 and 405); meanwhile a legitimate call from 127.0.0.1
# must be answered. Reports RSS before, at the peak and 35 s after (when the last
# transactions are gone), how many incoming_call events the flood caused, and how many of
# the OPTIONS and REGISTERs were answered.
# Exits non-zero when the legitimate call fails, RSS after the flood is not back within
# 2 MiB of where it started, the flood got more than its rate limit's worth of calls
# (10 at once + 2 a second, the default --call-rate-limit), or an OPTIONS or REGISTER went
# unanswered.
# Usage: bench/flood.sh [RATE] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-300}; secs=${2:-20}
cargo build --release --locked -p hasip -q
work=$(mktemp -d /tmp/hasip-flood.XXXXXX)
gport=${PORT:-25166}
trap 'kill $gw $mon 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/options.json" <<JSON
{"sip_global": {"log_level": 3}, "sip": {"enabled": true, "registrar_uri": "", "id_uri": "sip:hasip@127.0.0.1", "answer_mode": "accept", "settle_time": 0}}
JSON
mkfifo "$work/stdin"
target/release/hasip --bind 127.0.0.1 --port "$gport" --config "$work/options.json" < "$work/stdin" > "$work/gw.log" 2>&1 &
gw=$!
exec 3> "$work/stdin"
sleep 0.5
rss() { awk '/^VmRSS/ {print $2}' "/proc/$gw/status"; }
rss0=$(rss)
# Peak RSS, sampled every 100 ms.
(peak=0; while kill -0 "$gw" 2>/dev/null; do r=$(rss); [ "${r:-0}" -gt "$peak" ] && peak=$r && echo "$peak" > "$work/peak"; sleep 0.1; done) &
mon=$!
total=$((rate * secs))
flood() { # NAME SCENARIO
  (cd "$work" && sipp "127.0.0.1:$gport" -sf "$OLDPWD/$2" -s hasip -i 127.0.0.2 -p 25167 \
     -mi 127.0.0.2 -mp 25170 -cp 25168 -m "$total" -r "$rate" -l 2000 -nostdin \
     -timeout $((secs + 30))s > "$1.out" 2>&1) || true
}
flood invite tests/sipp/uac_call.xml &
fpid=$!
sleep $((secs / 2))
# The legitimate call, from another address, in the middle of the flood.
legit=ok
(cd "$work" && sipp "127.0.0.1:$gport" -sf "$OLDPWD/tests/sipp/uac_call.xml" -s hasip -i 127.0.0.1 -p 25177 \
   -mi 127.0.0.1 -mp 25180 -cp 25178 -m 1 -nostdin -timeout 10s -timeout_error > legit.out 2>&1) || legit=failed
wait "$fpid"
rss_invite=$(rss)
flood options bench/sipp/options.xml
rss_options=$(rss)
flood register bench/sipp/register.xml
rss_register=$(rss)
# The flood's INVITE server transactions live Timer H/I (up to 32 s on UDP) after their
# answer; the REGISTERs and OPTIONS were answered without any.
sleep 35
rss1=$(cat "$work/peak"); rss2=$(rss)
events=$(grep -c '"event":"incoming_call"' "$work/gw.log" || true)
refused=$(grep -c 'refused a call' "$work/gw.log" || true)
# sipp's final statistics: the line "Successful call" holds the cumulative count last.
answered() { awk '/Successful call/ {n=$NF} END {print n+0}' "$work/$1.out"; }
ok_options=$(answered options); ok_register=$(answered register)
mib() { echo "$(($1 / 1024)).$(printf %02d $(( ($1 % 1024) * 100 / 1024 )))"; }
echo "flood: $total INVITEs at $rate/s from 127.0.0.2: $events incoming_call events;" \
  "then $total OPTIONS ($ok_options answered) and $total REGISTERs ($ok_register answered 405);" \
  "legitimate call during the flood: $legit;" \
  "RSS $(mib "$rss0") MiB -> peak $(mib "$rss1") (after the INVITEs $(mib "$rss_invite")," \
  "the OPTIONS $(mib "$rss_options"), the REGISTERs $(mib "$rss_register")) -> 35 s after $(mib "$rss2") MiB;" \
  "warnings logged: $refused"
fail=0
[ "$legit" = ok ] || { echo "  missed: the legitimate call was not answered" >&2; fail=1; }
[ "$rss2" -le $((rss0 + 2048)) ] || { echo "  missed: RSS not given back (within 2 MiB)" >&2; fail=1; }
# The legitimate call is the one event allowed beyond the flood's limit.
limit=$((10 + 2 * secs + 1))
[ "$events" -le "$limit" ] || { echo "  missed: $events incoming_call events, more than the rate limit's $limit" >&2; fail=1; }
[ "$ok_options" -eq "$total" ] || { echo "  missed: $((total - ok_options)) OPTIONS unanswered" >&2; fail=1; }
[ "$ok_register" -eq "$total" ] || { echo "  missed: $((total - ok_register)) REGISTERs not answered 405" >&2; fail=1; }
exit $fail
