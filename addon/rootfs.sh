#!/bin/sh
# Gathers what the gateway needs at run time into ROOT, for an image built FROM scratch:
# the binary, exactly the shared libraries it links (as this system's loader resolves
# them: libopus, libc, libm, libgcc_s and the loader itself), the CA bundle for TLS to
# registrars, brokers and Home Assistant, name resolution that reads /etc/hosts first
# (the Supervisor names itself there), and /tmp (the health socket).
#
#   rootfs.sh BINARY ROOT
#
# Runs in the image's BUILD_FROM stage (Debian): installs libopus0 and ca-certificates
# there when the base lacks them.
set -eu
bin=$1
root=$2
if ldd "$bin" | grep -q "not found" || [ ! -e /etc/ssl/certs/ca-certificates.crt ]; then
  apt-get update
  apt-get install -y --no-install-recommends libopus0 ca-certificates
  rm -rf /var/lib/apt/lists/*
fi
if ldd "$bin" | grep -q "not found"; then
  echo "rootfs.sh: $bin links libraries this base does not have:" >&2
  ldd "$bin" >&2
  exit 1
fi
mkdir -p "$root/usr/bin" "$root/tmp" "$root/etc/ssl/certs" "$root/data"
chmod 1777 "$root/tmp"
cp "$bin" "$root/usr/bin/hasip"
# "libx.so => /path (addr)" for libraries; "/path (addr)" for the loader itself.
ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
  while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
