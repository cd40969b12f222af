#!/usr/bin/env bash
# Extraction benchmark: prints bagpipe's extraction time and MB/s, the floor
# (reading and decompressing every chunk, decoding nothing), the ratio, the
# peak RSS, and the same bag through rosbags + pyarrow for comparison.
#
# Two kinds of bag, both lz4, written by sample-bags/generate.py --big:
#   camera:     a 30 Hz 1280x720 rgb8 camera plus the structured topics
#               (bytes dominated by frames), SIZE_GB each;
#   structured: only the structured topics of the sample drives (IMU 100 Hz,
#               steering 50 Hz, GPS, detections, lanes): many small messages.
#
# Usage: bench/extract.sh [SIZE_GB ...]      (camera bags; default: 1)
#   BENCH_STRUCTURED_GB=0.2  size of the structured bag (0 skips it)
#   BENCH_PYTHON=0           skips the rosbags+pyarrow comparison
#   BENCH_DIR=dir            where the bags and lakes go (default bench/out)
# Generating the bags takes a few minutes the first time; they are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCH_DIR:-bench/out}
mkdir -p "$out"
cargo build --release --locked -q
bin=target/release/bagpipe
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1)

peak_rss_mib() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$1"; }
elapsed_s() {
  awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; printf "%.2f", s}' "$1"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -m)"
bags=()
for size in "${sizes[@]}"; do
  bag="$out/camera_${size}gb.bag"
  [ -f "$bag" ] || python3 sample-bags/generate.py --big "$bag" --size-gb "$size" >/dev/null
  bags+=("$bag")
done
structured=${BENCH_STRUCTURED_GB:-0.2}
if [ "$structured" != 0 ]; then
  bag="$out/structured_${structured}gb.bag"
  [ -f "$bag" ] || python3 sample-bags/generate.py --big "$bag" --size-gb "$structured" --no-camera >/dev/null
  bags+=("$bag")
fi

for bag in "${bags[@]}"; do
  bytes=$(stat -c %s "$bag")
  mb=$(awk -v b="$bytes" 'BEGIN {printf "%.1f", b/1e6}')
  msgs=$("$bin" inspect "$bag" | awk '/^messages:/ {print $2}')
  echo "== $bag ($mb MB, lz4, $msgs messages)"
  # Warm the page cache so every path reads from memory alike.
  cat "$bag" > /dev/null

  /usr/bin/time -v "$bin" inspect --scan "$bag" > "$out/scan.txt" 2> "$out/scan.time"
  floor=$(elapsed_s "$out/scan.time")
  echo "floor (read + decompress, no decoding): ${floor} s, $(awk -v b="$bytes" -v s="$floor" 'BEGIN {printf "%.0f", b/1e6/s}') MB/s"

  rm -rf "$out/lake"
  BAGPIPE_LOG=info /usr/bin/time -v -o "$out/run.time" "$bin" run --quiet --out "$out/lake" "$bag" > "$out/run.txt" 2> "$out/run.log"
  stage_s() { grep "stage=\"$1\"" "$out/run.log" | grep -o 'seconds=[0-9.e-]*' | cut -d= -f2; }
  total=$(elapsed_s "$out/run.time")
  t=$(stage_s extract)
  rss=$(peak_rss_mib "$out/run.time")
  echo "bagpipe extract stage: $(printf %.2f "$t") s, $(awk -v b="$bytes" -v s="$t" 'BEGIN {printf "%.0f", b/1e6/s}') MB/s, $(awk -v m="$msgs" -v s="$t" 'BEGIN {printf "%.0f", m/s/1000}')k messages/s"
  echo "extract / floor: $(awk -v a="$t" -v b="$floor" 'BEGIN {printf "%.2f", a/b}')x"
  echo "bagpipe run, all stages: ${total} s, peak RSS ${rss} MiB"
  echo "lake size: $(du -sh "$out/lake/topics" | cut -f1)"

  # The later stages, timed inside the same run, against DuckDB resampling
  # the same topic tables with ASOF JOIN (bench/sync.sql).
  name=$(basename "$bag" .bag)
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
done
