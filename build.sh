#!/usr/bin/env bash
# ha-sip-rs build entry point. The two commands README.md promises:
#
#   ./build.sh run [-- hasip flags]   build (release) and start the gateway with the
#                                     embedded default configuration
#   ./build.sh test                   install what the tests need (Debian packages),
#                                     then fmt, clippy and the whole test suite
#
# Also: ./build.sh deps (test dependencies only), ./build.sh bench NAME (see bench/).
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages the tests start as real peers (all on 127.0.0.1), plus build needs.
TEST_PACKAGES=(
  build-essential pkg-config   # C toolchain for -sys crates
  libopus-dev                  # Opus in hasip-media (opusic-c links Debian's libopus)
  sip-tester                   # sipp: scripted UAC/UAS, load, malformed input
  baresip-core                 # a real softphone / intercom
  kamailio kamailio-tls-modules  # registrar + proxy with digest auth
  mosquitto mosquitto-clients  # MQTT broker and clients
  sox libsox-fmt-mp3 espeak-ng # speech and tone fixtures
  libspandsp-dev               # tests/dtmf-yardstick: the in-band DTMF yardstick
  procps iproute2 openssl ca-certificates  # kill/ps, ss, certificates, system roots
  dnsmasq-base                 # a DNS server with SRV records for the registrar tests
  coturn                       # turnserver --stun-only: the STUN server
  # Home Assistant Core (tests/src/ha.rs): a venv made on first use under target/ha-peer
  # (pip install of tests/peers/ha/requirements.lock from PyPI, 80-200 s once per machine);
  # ffmpeg is what Home Assistant converts TTS audio with.
  python3 python3-venv ffmpeg
)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_test_deps() {
  local missing=() p
  for p in "${TEST_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "build.sh: test dependencies present"
    return 0
  fi
  echo "build.sh: installing ${missing[*]}"
  # Packages must not start their system daemons (mosquitto on 1883, kamailio on 5060):
  # the tests start their own instances on free loopback ports.
  local policy=/usr/sbin/policy-rc.d created=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod +x "$policy"
    created=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [ "$created" = 1 ]; then as_root rm -f "$policy"; fi
}

run_tests() {
  install_test_deps
  echo "build.sh: cargo fmt --check"
  cargo fmt --all -- --check
  echo "build.sh: cargo clippy"
  cargo clippy --workspace --all-targets --locked -- -D warnings
  # The black-box tests run the real binary, so build it first.
  cargo build --locked -p hasip
  if cargo nextest --version >/dev/null 2>&1; then
    cargo test --workspace --locked --doc
    cargo nextest run --workspace --locked --no-fail-fast
  else
    cargo test --workspace --locked --no-fail-fast
  fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  run)
    [ "${1:-}" = "--" ] && shift
    cargo build --release --locked -p hasip
    exec target/release/hasip "$@"
    ;;
  test) run_tests ;;
  deps) install_test_deps ;;
  bench)
    name=${1:?usage: ./build.sh bench NAME (see bench/)}
    shift
    exec "bench/$name.sh" "$@"
    ;;
  *)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
