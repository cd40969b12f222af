#!/usr/bin/env bash
# A bag cut into work items (issue 14) against the same bag in one process:
# for each BAG, the whole run (`bagpipe run`, exports off) in one process,
# then with `--workers N` (plan, N `bagpipe work` processes, finish) at the
# given item size; prints wall seconds, peak memory (the largest of the
# processes), the items, and read amplification (compressed bytes the
# items read over the bag's, from `bagpipe plan`).
#
# Usage: bench/workers.sh BAG ...
#   BENCH_WORKERS=2          worker processes
#   BENCH_ITEM_BYTES=...     compressed bytes an item (default 268435456, 256 MiB)
#   BAGPIPE_BIN=path         this bagpipe instead of target/release/bagpipe
set -euo pipefail
source "$(dirname "$0")/lib.sh"
workers=${BENCH_WORKERS:-2}
item_bytes=${BENCH_ITEM_BYTES:-268435456}
printf '[export]\nclips = false\nlabels = false\nreport = false\n' > "$out/workers.toml"

# Runs a command under GNU time; prints "wall_s peak_MiB" (children included).
timed() {
  /usr/bin/time -f '%e %M' -o "$out/workers.time" "$@" > /dev/null 2> "$out/workers.log" || {
    cat "$out/workers.log" >&2; exit 1; }
  awk '{printf "%.2f %.0f", $1, $2 / 1024}' "$out/workers.time"
}

echo "machine: $(nproc) cores, $(uname -m); items of $item_bytes bytes, $workers workers"
printf '%-24s %-14s %8s %9s %6s %14s\n' bag how wall_s peak_MiB items amplification
for bag in "$@"; do
  name=$(basename "$bag")
  cat "$bag" > /dev/null  # page cache warm for both alike
  rm -rf "$out/workers_lake"
  read -r wall peak <<< "$(timed "$bin" run --quiet --config "$out/workers.toml" --out "$out/workers_lake" "$bag")"
  printf '%-24s %-14s %8s %9s %6s %14s\n' "$name" "one process" "$wall" "$peak" 1 1.000
  rm -rf "$out/workers_lake" "$out/plan_lake"
  plan=$("$bin" plan --item-bytes "$item_bytes" --config "$out/workers.toml" --out "$out/plan_lake" "$bag")
  items=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["work_items"])' "$plan")
  amp=$(python3 -c 'import json,sys; print("%.3f" % json.loads(sys.argv[1])["amplification"])' "$plan")
  rm -rf "$out/plan_lake"
  read -r wall peak <<< "$(timed "$bin" run --quiet --workers "$workers" --item-bytes "$item_bytes" \
    --config "$out/workers.toml" --out "$out/workers_lake" "$bag")"
  printf '%-24s %-14s %8s %9s %6s %14s\n' "$name" "--workers $workers" "$wall" "$peak" "$items" "$amp"
done
rm -rf "$out/workers_lake" "$out/workers.toml" "$out/workers.log" "$out/workers.time"
