#!/usr/bin/env bash
# How steadily the host lets this machine's CPUs run (see bench/cpu_speed.rs): prints the
# stretches of 10 ms or more in which a fixed piece of arithmetic ran more than twice as
# slow as its fastest, with nothing of ours running. Explains the late packets in the
# 500-call media benchmark (BENCHMARKS.md).
# Usage: bench/cpu_speed.sh [SECONDS] [CPU]   (CPU: pin with taskset; default: all CPUs at once)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
work=$(mktemp -d /tmp/hasip-cpu-speed.XXXXXX)
trap 'rm -rf "$work"' EXIT
rustc -O bench/cpu_speed.rs -o "$work/cpu_speed"
if [ -n "${2:-}" ]; then
  taskset -c "$2" "$work/cpu_speed" "$seconds"
  exit
fi
# One probe per CPU, side by side: on this virtual machine their slow stretches coincide.
pids=()
for cpu in $(seq 0 $(($(nproc) - 1))); do
  taskset -c "$cpu" "$work/cpu_speed" "$seconds" > "$work/cpu$cpu.txt" 2> "$work/cpu$cpu.err" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for cpu in $(seq 0 $(($(nproc) - 1))); do
  echo "CPU $cpu: $(cat "$work/cpu$cpu.err")"
  cat "$work/cpu$cpu.txt"
done
