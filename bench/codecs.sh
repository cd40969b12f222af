#!/usr/bin/env bash
# What each `[extract] compression` choice costs and saves: runs the extract
# stage of each BAG (exports off) once per codec into a fresh lake and prints
# the extract stage's seconds and the size of the topic tables.
#
# Usage: bench/codecs.sh BAG ...
#   BENCH_CODECS="auto zstd ..."  the codecs to try (default below)
#   BAGPIPE_BIN=path              this bagpipe instead of target/release/bagpipe
set -euo pipefail
source "$(dirname "$0")/lib.sh"
read -r -a codecs <<< "${BENCH_CODECS:-auto zstd zstd:3 zstd:9 lz4 snappy none}"

echo "machine: $(nproc) cores, $(uname -m)"
printf '%-28s %-8s %10s %12s\n' bag codec extract_s lake_MB
for bag in "$@"; do
  cat "$bag" > /dev/null  # page cache warm for every codec alike
  for codec in "${codecs[@]}"; do
    printf '[extract]\ncompression = "%s"\n[export]\nclips = false\nlabels = false\nreport = false\n' "$codec" \
      > "$out/codec.toml"
    rm -rf "$out/codec_lake"
    BAGPIPE_LOG=info "$bin" run --quiet --config "$out/codec.toml" --out "$out/codec_lake" "$bag" \
      > /dev/null 2> "$out/codec.log"
    secs=$(grep 'stage="extract"' "$out/codec.log" | grep -o 'seconds=[0-9.e-]*' | cut -d= -f2)
    bytes=$(find "$out/codec_lake/topics" -name '*.parquet' -printf '%s\n' | awk '{s += $1} END {printf "%.0f", s}')
    printf '%-28s %-8s %10.2f %12.1f\n' "$(basename "$bag")" "$codec" "$secs" "$(awk -v b="$bytes" 'BEGIN {print b/1e6}')"
  done
done
rm -rf "$out/codec_lake" "$out/codec.toml" "$out/codec.log"
