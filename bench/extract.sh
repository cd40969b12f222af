#!/usr/bin/env bash
# Extraction benchmark: prints bagpipe's extraction time and MB/s, the floor
# (reading and decompressing every chunk, decoding nothing), the ratio, the
# peak RSS, and the same bag through rosbags + pyarrow for comparison.
#
# Two kinds of bag, written by sample-bags/generate.py --big:
#   camera:     a 30 Hz 1280x720 rgb8 camera plus the structured topics
#               (bytes dominated by frames), SIZE_GB each;
#   structured: only the structured topics of the sample drives (IMU 100 Hz,
#               steering 50 Hz, GPS, detections, lanes): many small messages.
# Each as a ROS1 bag with lz4 chunks, then as a ROS 2 MCAP file with zstd
# chunks (--ros2) holding the same messages (ROS 2 types, CDR; cut at the
# ROS1 bag's message count), benchmarked alike; each pair ends with a line
# comparing ROS 2's extraction speed (messages/s) with ROS1's.
#
# Usage: bench/extract.sh [SIZE_GB ...]      (camera bags; default: 1)
#   BENCH_STRUCTURED_GB=0.2  size of the structured bag (0 skips it)
#   BENCH_ROS2=0             skips the ROS 2 MCAP bags
#   BENCH_PYTHON=0           skips the rosbags+pyarrow comparison
#   BENCH_DIR=dir            where the bags and lakes go (default bench/out)
#   BAGPIPE_BIN=path         runs this bagpipe binary instead of building
#                            and running target/release/bagpipe
# Generating the bags takes a few minutes the first time; they are kept.
set -euo pipefail
[ -z "${BAGPIPE_BIN:-}" ] || BAGPIPE_BIN=$(realpath -e "$BAGPIPE_BIN")
cd "$(dirname "$0")/.."
out=${BENCH_DIR:-bench/out}
mkdir -p "$out"
if [ -n "${BAGPIPE_BIN:-}" ]; then
  bin=$BAGPIPE_BIN
else
  cargo build --release --locked -q
  bin=target/release/bagpipe
fi
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1)
ros2=${BENCH_ROS2:-1}

peak_rss_mib() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$1"; }
elapsed_s() {
  awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; printf "%.2f", s}' "$1"
}
messages() { "$bin" inspect "$1" | awk '/^messages:/ {print $2}'; }
# rate MESSAGES SECONDS: messages/s, in thousands from 10k on
rate() { awk -v m="$1" -v s="$2" 'BEGIN {r = m/s; if (r >= 10000) printf "%.0fk", r/1000; else printf "%.0f", r}'; }
stage_s() { grep "stage=\"$1\"" "$out/run.log" | grep -o 'seconds=[0-9.e-]*' | cut -d= -f2; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m)"

# The ROS1 bags, and at the same index each one's ROS 2 twin (or "").
ros1_bags=(); ros2_bags=()
# make_pair NAME SIZE_GB [--no-camera]: writes NAME.bag, and NAME.mcap with
# the same messages, unless they are there already.
make_pair() {
  local name=$1 size=$2; shift 2
  local bag="$out/$name.bag" mcap="$out/$name.mcap"
  [ -f "$bag" ] || python3 sample-bags/generate.py --big "$bag" --size-gb "$size" "$@" >/dev/null
  ros1_bags+=("$bag")
  if [ "$ros2" = 0 ]; then ros2_bags+=(""); return; fi
  local n
  n=$(messages "$bag")
  # a kept MCAP written for another ROS1 bag is written again
  if [ ! -f "$mcap" ] || [ "$(messages "$mcap")" != "$n" ]; then
    python3 sample-bags/generate.py --big "$mcap" --size-gb "$size" "$@" --ros2 --messages "$n" >/dev/null
  fi
  ros2_bags+=("$mcap")
}
for size in "${sizes[@]}"; do
  make_pair "camera_${size}gb" "$size"
done
structured=${BENCH_STRUCTURED_GB:-0.2}
if [ "$structured" != 0 ]; then
  make_pair "structured_${structured}gb" "$structured" --no-camera
fi

# bench_bag BAG: prints the block of figures for one bag; leaves its message
# count and extract-stage seconds in $msgs and $t.
bench_bag() {
  local bag=$1
  bytes=$(stat -c %s "$bag")
  mb=$(awk -v b="$bytes" 'BEGIN {printf "%.1f", b/1e6}')
  msgs=$(messages "$bag")
  local compression
  compression=$("$bin" inspect "$bag" | awk '/^compression:/ {print $2}')
  [[ "$bag" != *.mcap ]] || compression="MCAP $compression"
  echo "== $bag ($mb MB, $compression, $msgs messages)"
  # Warm the page cache so every path reads from memory alike.
  cat "$bag" > /dev/null

  /usr/bin/time -v "$bin" inspect --scan "$bag" > "$out/scan.txt" 2> "$out/scan.time"
  floor=$(elapsed_s "$out/scan.time")
  echo "floor (read + decompress, no decoding): ${floor} s, $(awk -v b="$bytes" -v s="$floor" 'BEGIN {printf "%.0f", b/1e6/s}') MB/s"

  rm -rf "$out/lake"
  local status=0
  BAGPIPE_LOG=info /usr/bin/time -v -o "$out/run.time" "$bin" run --quiet --out "$out/lake" "$bag" \
    > "$out/run.txt" 2> "$out/run.log" || status=$?
  if [ "$status" != 0 ] || ! grep -q 'stage="extract"' "$out/run.log"; then
    echo "bagpipe run failed (exit $status); $out/run.txt and $out/run.log say:"
    tail -n 5 "$out/run.txt" "$out/run.log"
    exit 1
  fi
  total=$(elapsed_s "$out/run.time")
  t=$(stage_s extract)
  rss=$(peak_rss_mib "$out/run.time")
  echo "bagpipe extract stage: $(printf %.2f "$t") s, $(awk -v b="$bytes" -v s="$t" 'BEGIN {printf "%.0f", b/1e6/s}') MB/s, $(rate "$msgs" "$t") messages/s"
  echo "extract / floor: $(awk -v a="$t" -v b="$floor" 'BEGIN {printf "%.2f", a/b}')x"
  echo "bagpipe run, all stages: ${total} s, peak RSS ${rss} MiB"
  # the bag's warnings in the catalogue, and any logged warning or error
  local warnings
  warnings=$(python3 -c 'import json, sys
for line in open(sys.argv[1]):
    for w in json.loads(line)["Item"].get("warnings", {}).get("L", []):
        print(w["S"])' "$out/lake/dynamodb/bags.jsonl"; grep -E ' (WARN|ERROR) ' "$out/run.log" || true)
  [ -z "$warnings" ] || echo "bagpipe warnings: $(echo "$warnings" | wc -l), the first: $(echo "$warnings" | head -n 1 | cut -c1-300)"
  echo "lake size: $(du -sh "$out/lake/topics" | cut -f1)"

  # The later stages, timed inside the same run, against DuckDB resampling
  # the same topic tables with ASOF JOIN (bench/sync.sql).
  local name
  name=$(basename "$bag"); name=${name%.*}
  ticks=$(grep 'stage="sync"' "$out/run.log" | grep -o 'ticks=[0-9]*' | cut -d= -f2)
  sync_s=$(stage_s sync); scenes_s=$(stage_s scenes)
  printf "bagpipe sync: %.3f s (%s ticks), scenes: %.3f s\n" "$sync_s" "$ticks" "$scenes_s"
  tables=$(python3 -c "import duckdb,sys; print(' '.join(r[0] for r in duckdb.sql(\"DESCRIBE SELECT * FROM read_parquet('$out/lake/synchronized/bag_file=$name/*.parquet', hive_partitioning=false)\").fetchall() if r[0] != 'time_ns'))")
  duck=$(python3 bench/sync_duckdb.py "$out/lake" "$name" $tables)
  echo "$duck"
  duck_s=$(echo "$duck" | awk '{print $3}')
  echo "bagpipe sync / duckdb asof: $(awk -v a="$sync_s" -v b="$duck_s" 'BEGIN {printf "%.2f", a/b}')x"

  if [ "${BENCH_PYTHON:-1}" = 1 ]; then
    rm -rf "$out/pylake"
    /usr/bin/time -v python3 bench/rosbags_pyarrow.py "$bag" "$out/pylake" > /dev/null 2> "$out/py.time"
    py=$(elapsed_s "$out/py.time")
    echo "rosbags + pyarrow: ${py} s, $(awk -v b="$bytes" -v s="$py" 'BEGIN {printf "%.0f", b/1e6/s}') MB/s, peak RSS $(peak_rss_mib "$out/py.time") MiB"
    echo "bagpipe extract speed-up over rosbags + pyarrow: $(awk -v a="$py" -v b="$t" 'BEGIN {printf "%.1f", a/b}')x"
  fi
}

for i in "${!ros1_bags[@]}"; do
  bench_bag "${ros1_bags[$i]}"
  [ -n "${ros2_bags[$i]}" ] || continue
  msgs1=$msgs t1=$t
  bench_bag "${ros2_bags[$i]}"
  same=""
  [ "$msgs" = "$msgs1" ] || same=" (NOT the same messages: $msgs1 in ROS1)"
  echo "ROS 2 vs ROS1 extract: $(rate "$msgs" "$t") vs $(rate "$msgs1" "$t1") messages/s, ROS1 / ROS 2: $(awk -v m1="$msgs1" -v t1="$t1" -v m2="$msgs" -v t2="$t" 'BEGIN {printf "%.2f", (m1/t1)/(m2/t2)}')x (target: at most 1.20x)$same"
done
