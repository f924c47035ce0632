#!/usr/bin/env bash
# Writes crates/hasip/link-order.ld: the functions of the release binary that start-up and
# an idle gateway run, found by running it under valgrind's callgrind (package valgrind)
# until it answers an OPTIONS request and has idled for two seconds: first with the
# embedded default, then with the full configuration of bench/idle.sh (an account with a
# menu, Home Assistant, MQTT and its discovery device); the default's functions first. The
# release build lists them first in its code (crates/hasip/build.rs), which keeps idle RSS
# low (BENCHMARKS.md). Rerun when start-up runs new functions (idle RSS creeps up), then
# rebuild and check with bench/idle.sh.
# Usage: bench/link_order.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)"; exit 1; }
cargo build --release --locked -p hasip -q
work=$(mktemp -d /tmp/hasip-link-order.XXXXXX)
vg=""
port=${PORT:-25066}
pids=()
trap '[ -z "$vg" ] || kill "$vg" 2>/dev/null || true; kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

# The full configuration of bench/idle.sh (bench/full_config.sh).
. bench/full_config.sh
full_config "$work" "$port"

# One callgrind run: start, answer OPTIONS, idle a second (two seconds with MQTT: the
# connection and the device's messages), stop.
profile() { # OUT HA_API ARGS... (an empty HA_API: no Home Assistant)
  local out=$1 ha=$2
  shift 2
  rm -f "$work/stdin"
  mkfifo "$work/stdin"
  HA_BASE_URL="$ha" HA_TOKEN="${ha:+link-order}" \
  valgrind --tool=callgrind --callgrind-out-file="$out" --compress-strings=no \
    --compress-pos=no --demangle=no target/release/hasip --bind 127.0.0.1 --port "$port" \
    --log-level 1 "$@" < "$work/stdin" > "$work/vg.log" 2>&1 &
  vg=$!
  exec 3> "$work/stdin"
  # Valgrind runs the program some 50 times slower: wait up to 20 s for the answer.
  python3 - "$port" <<'PY'
import socket, sys, time
p = int(sys.argv[1]); s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5)
for _ in range(40):
    s.sendto(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKo;rport\r\nFrom: <sip:b@x>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", ("127.0.0.1", p))
    try:
        s.recv(9999); sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit("no answer to OPTIONS under valgrind")
PY
  sleep 2
  kill -TERM "$vg"
  wait "$vg" || true
  vg=""
  exec 3>&-
}
profile "$work/cg-default.out" ""
WEB_LISTEN="127.0.0.1:$((port + 100))" WEB_TOKEN=link-order-token-0123 \
  profile "$work/cg-full.out" "$HA_URL" --config "$work/options.json"

# Functions of the hasip binary itself ("ob=" names the object, "fn=" the function; a
# "'N" suffix marks a recursion level), each once, in the order callgrind lists them, as a
# linker script that lists their sections (function sections: ".text.<symbol>", and
# ".text.unlikely.<symbol>" for #[cold] ones) first in .text. Rust's symbol names carry
# hashes that change whenever a crate's dependencies or the compiler change. Each function
# is listed twice: first by its exact name (in the order found: a tight cluster of exactly
# the code that runs), then, after all exact names, with "*" for the hashes (also taking
# along the other instances of a generic function). A rule places only what no earlier one
# placed, so while the list is fresh the code that runs is packed together, and once hashes
# have changed the patterns still gather it, in a looser cluster (exact names alone gave
# 3.95 MiB idle RSS, but after one new dependency a third of them matched nothing and idle
# RSS was back at 4.7 MiB; patterns alone cost ~0.5 MiB more than exact names).
python3 - crates/hasip/link-order.ld "$work/cg-default.out" "$work/cg-full.out" <<'PY'
import re, sys
def pattern(name):
    name = re.sub(r"\.llvm\.\d+$", "", name)
    name = re.sub(r"17h[0-9a-f]{16}E$", "17h", name)  # legacy mangling: the hash at the end
    return re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", name)   # v0 mangling: each crate's hash
ob, seen, lines, exact, exact_seen = "", set(), [], [], set()
def lines_of(path):
    for line in open(path, encoding="utf-8", errors="replace"):
        yield line
for line in (l for path in sys.argv[2:] for l in lines_of(path)):
    if line.startswith("ob="):
        ob = line[3:].strip()
    elif line.startswith("fn=") and ob.endswith("/release/hasip"):
        name = re.sub(r"'\d+$", "", line[3:].strip())
        # Skip what has no symbol: "0x…" addresses, "(below main)".
        if not name or name[0] in "0(":
            continue
        e = re.sub(r"\.llvm\.\d+$", "", name)
        if e not in exact_seen:
            exact_seen.add(e); exact.append(f"    *(.text.{e} .text.{e}.llvm.* .text.unlikely.{e} .text.unlikely.{e}.llvm.*)")
        p = pattern(name)
        if p not in seen:
            seen.add(p); lines.append(f"    *(.text.{p}* .text.unlikely.{p}*)")
if len(lines) < 100:
    sys.exit(f"only {len(lines)} functions found; the list was not written")
with open(sys.argv[1], "w") as out:
    out.write("/* Written by bench/link_order.sh: the functions that start-up and an idle gateway\n"
              "   run, first in the code (crates/hasip/build.rs). */\n"
              "SECTIONS\n{\n  .text :\n  {\n" + "\n".join(exact + lines)
              + "\n  }\n}\nINSERT BEFORE .init;\n")
print(f"{sys.argv[1]}: {len(exact)} exact names, {len(lines)} patterns")
PY
