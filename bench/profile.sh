#!/usr/bin/env bash
# Where extraction spends its CPU (issue 15): plans BAG as one work item
# (exports off), runs that item under `perf record` with DWARF call
# chains, and prints the share of samples per phase (decompression, record
# parsing, decoding, Parquet encoding, zstd, statistics, I/O) with the
# kernel's page zeroing inside each (bench/profile_phases.py), and the
# item's wall, user and system seconds.
#
# Usage: bench/profile.sh BAG       (needs perf: apt-get install linux-perf)
#   BENCH_PERF_HZ=499   sampling frequency
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bag=$1
hz=${BENCH_PERF_HZ:-499}
printf '[export]\nclips = false\nlabels = false\nreport = false\n' > "$out/profile.toml"
lake=$out/profile_lake
rm -rf "$lake"
run=$("$bin" plan --config "$out/profile.toml" --item-bytes 1000000000000 --out "$lake" "$bag" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["run"])')
perf record -q -e cpu-clock -F "$hz" --call-graph dwarf,16384 -o "$out/profile.data" \
  /usr/bin/time -f '%e %U %S' -o "$out/profile.time" \
  "$bin" work --config "$out/profile.toml" --run "$run" --item 0 --out "$lake" "$bag" 2> "$out/profile.log"
read -r wall user sys < "$out/profile.time"
echo "$(basename "$bag"): one work item, ${wall} s wall, ${user} s user, ${sys} s system"
perf script -i "$out/profile.data" 2>/dev/null | python3 bench/profile_phases.py
rm -rf "$lake"
