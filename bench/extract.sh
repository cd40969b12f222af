#!/usr/bin/env bash
# Extraction benchmark: prints bagpipe's extraction time and MB/s, the floor
# (reading and decompressing every chunk, decoding nothing), the ratio, the
# peak RSS, what the scene exports cost, and the same bag through rosbags +
# pyarrow for comparison; then how fast the bag report renders.
#
# Three kinds of bag, written by sample-bags/generate.py --big:
#   camera:      a 30 Hz 1280x720 rgb8 camera plus the structured topics
#                (bytes dominated by frames), SIZE_GB each (camera_<size>gb);
#   camera_jpeg: the same camera as a fleet records it, JPEG
#                (sensor_msgs/CompressedImage, quality 80, --jpeg), plus the
#                structured topics: a longer drive for the same SIZE_GB
#                (camera_jpeg_<size>gb);
#   structured:  only the structured topics of the sample drives (IMU 100 Hz,
#                steering 50 Hz, GPS, detections, lanes): many small messages.
# Each as a ROS1 bag with lz4 chunks, then as a ROS 2 MCAP file with zstd
# chunks (--ros2) holding the same messages (ROS 2 types, CDR; cut at the
# ROS1 bag's message count), benchmarked alike; each pair ends with a line
# comparing ROS 2's extraction speed (messages/s) with ROS1's.
#
# Per bag: the floor; the extract stage (s, MB/s, messages/s) and its ratio
# to the floor (with issue 15's target for the JPEG and structured bags);
# the disk write floor (bench/write_floor.py: the lake's table bytes
# written with O_DIRECT and fsynced, no CPU spent on them) and extraction's
# ratio to floor + that; on
# the raw camera bags, zstd level 1 compressing the frames alone on every
# core (bench/zstd_frames.py) and extraction's ratio to floor + that; the whole `bagpipe run` (default config: the [export] clips,
# labels and report on) with peak RSS; warnings; the lake's size; what the
# exports cost: the bag run with clips, labels and report off, then on and
# off again, alternately, BENCH_EXPORT_RUNS times each (the first run on
# is the one above), each into a fresh lake; one line per pair, then
#   exports (medians of R): N clips, X MB of clips, run with exports A s,
#   without B s: +D s, D/X s per clip MB vs extract T s per bag MB (target: below)
#   bagpipe export stage (median): S s, S/X s per clip MB vs extract stage T ...
#   per message byte (medians): the same per MB of serialized messages
#   (bench/message_bytes.py) in the clips and in the bag
# (N: the .mcap files under the lake's exports/; A, B, S and T the medians
# of the runs' wall times, export stages and extract stages; T per MB of
# bag); the sync and scene stages against DuckDB; then rosbags + pyarrow.
#
# Last, the report render check (when `chromium` is on PATH): a structured
# bag of about 100 scenes (report_100scenes.bag, --big --no-camera
# --size-gb 0.01, 10 MB: about 28 cycles of drive 0001's 20-second story, 4
# scenes each, 112 scenes; no camera, so no frames in the report) run through
# bagpipe, and its report checked in headless chromium by
# tests/python/check_report.py (N scenes from dynamodb/scenes.jsonl, M topics
# from the catalogue item, --max-seconds 1); prints its `rendered in X s`
# line (target: under 1 s for 100 scenes) and its OK / FAIL line.
#
# Usage: bench/extract.sh [SIZE_GB ...]      (camera bags; default: 1)
#   BENCH_STRUCTURED_GB=0.2  size of the structured bag (0 skips it)
#   BENCH_CAMERA=0           skips the camera bags (raw and JPEG)
#   BENCH_JPEG=0             skips the JPEG camera bags
#   BENCH_ROS2=0             skips the ROS 2 MCAP bags
#   BENCH_PYTHON=0           skips the rosbags+pyarrow comparison
#   BENCH_EXPORTS=0          skips the runs without exports
#   BENCH_EXPORT_RUNS=3      runs with and without exports, each
#   BENCH_REPORT=0           skips the report render check
#   BENCH_DIR=dir            where the bags and lakes go (default bench/out)
#   BAGPIPE_BIN=path         runs this bagpipe binary instead of building
#                            and running target/release/bagpipe
# Generating the bags takes a few minutes the first time (the JPEG bag about
# 1.5 minutes per GB: every frame is encoded); they are kept.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1)
[ "${BENCH_CAMERA:-1}" != 0 ] || sizes=()
ros2=${BENCH_ROS2:-1}

peak_rss_mib() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$1"; }
elapsed_s() {
  awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; printf "%.2f", s}' "$1"
}
messages() { "$bin" inspect "$1" | awk '/^messages:/ {print $2}'; }
# rate MESSAGES SECONDS: messages/s, in thousands from 10k on
rate() { awk -v m="$1" -v s="$2" 'BEGIN {r = m/s; if (r >= 10000) printf "%.0fk", r/1000; else printf "%.0f", r}'; }
# stage_s STAGE [LOG]: a stage's seconds as the run logged them (LOG:
# $out/run.log by default).
stage_s() { grep "stage=\"$1\"" "${2:-$out/run.log}" | grep -o 'seconds=[0-9.e-]*' | cut -d= -f2; }

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
  [ "${BENCH_JPEG:-1}" = 0 ] || make_pair "camera_jpeg_${size}gb" "$size" --jpeg
done
structured=${BENCH_STRUCTURED_GB:-0.2}
if [ "$structured" != 0 ]; then
  make_pair "structured_${structured}gb" "$structured" --no-camera
fi

# The config of the second run: the default one with the exports off.
printf '[export]\nclips = false\nlabels = false\nreport = false\n' > "$out/no_exports.toml"

# bench_exports BAG: after bench_bag's run (default config, exports on, in
# $out/lake, timed in $out/run.time, logged in $out/run.log), runs BAG
# without exports, then with and without again, alternately, until each
# has BENCH_EXPORT_RUNS runs (default 3), each into a fresh lake; prints
# every pair, then what the exports cost on the medians. Timings on this
# machine swing by a third from run to run (its disk and its memory), so
# one pair says little. Uses bench_bag's $bytes; leaves every run's
# extract stage (with exports and without) in $extract_all.
bench_exports() {
  local bag=$1 runs=${BENCH_EXPORT_RUNS:-3} i
  local with=() without=() extract=() exp_s=()
  extract_all=()
  with+=("$(elapsed_s "$out/run.time")"); extract+=("$(stage_s extract)"); exp_s+=("$(stage_s export)")
  local clips=0 clip_bytes=0 clip_msg_bytes=0 bag_msg_bytes
  if [ -d "$out/lake/exports" ]; then  # no scenes, no exports/
    clips=$(find "$out/lake/exports" -name '*.mcap' | wc -l)
    clip_bytes=$(find "$out/lake/exports" -name '*.mcap' -printf '%s\n' | awk '{s += $1} END {printf "%.0f", s}')
    clip_msg_bytes=$(python3 bench/message_bytes.py "$out/lake/exports")
  fi
  bag_msg_bytes=$(python3 bench/message_bytes.py "$bag")
  for ((i = 1; i <= runs; i++)); do
    timed_run noexp "$out/lake_noexports" extract "$bag" --config "$out/no_exports.toml"
    without+=("$(elapsed_s "$out/noexp.time")")
    extract_all+=("$(stage_s extract "$out/noexp.log")")
    [ "$i" -lt "$runs" ] || break
    timed_run again "$out/lake_again" export "$bag"
    with+=("$(elapsed_s "$out/again.time")")
    extract+=("$(stage_s extract "$out/again.log")"); exp_s+=("$(stage_s export "$out/again.log")")
  done
  remove_lake "$out/lake_noexports" "$out/lake_again"
  for ((i = 0; i < runs; i++)); do
    printf "exports pair %d: run with exports %.2f s (extract stage %.2f s, export stage %.2f s), without %.2f s\n" \
      $((i + 1)) "${with[$i]}" "${extract[$i]}" "${exp_s[$i]}" "${without[$i]}"
  done
  extract_all+=("${extract[@]}")
  local mw mo me mx
  mw=$(median "${with[@]}"); mo=$(median "${without[@]}"); me=$(median "${extract[@]}"); mx=$(median "${exp_s[@]}")
  awk -v n="$clips" -v cb="$clip_bytes" -v a="$mw" -v b="$mo" -v t="$me" -v x="$mx" -v bytes="$bytes" -v r="$runs" 'BEGIN {
    cmb = cb / 1e6
    per = cmb > 0 ? sprintf("%.4f s per clip MB", (a - b) / cmb) : "no clips"
    printf "exports (medians of %d): %d clips, %.1f MB of clips, run with exports %.2f s, without %.2f s: %+.2f s, %s vs extract %.4f s per bag MB (target: below)\n",
      r, n, cmb, a, b, a - b, per, t / (bytes / 1e6)
    per = cmb > 0 ? sprintf("%.4f s per clip MB", x / cmb) : "no clips"
    printf "bagpipe export stage (median): %.3f s, %s vs extract stage %.4f s per bag MB\n", x, per, t / (bytes / 1e6) }'
  # The same per byte of messages carried (the serialized payloads, before
  # any compression: the clips' zstd packs frames 2.5x, the bag's lz4 1.5x,
  # so per stored byte the two sides are not counted alike).
  awk -v cm="$clip_msg_bytes" -v bm="$bag_msg_bytes" -v a="$mw" -v b="$mo" -v t="$me" 'BEGIN {
    cmb = cm / 1e6
    per = cmb > 0 ? sprintf("%.5f s per clip message MB", (a - b) / cmb) : "no clips"
    printf "per message byte (medians): %.1f MB of messages in the clips, %.1f MB in the bag: exports %s vs extract %.5f s per bag message MB\n",
      cmb, bm / 1e6, per, t / (bm / 1e6) }'
}

# timed_run NAME LAKE STAGE BAG [ARGS...]: `bagpipe run ARGS` of BAG into
# a fresh LAKE, timed in $out/NAME.time, its output and log in
# $out/NAME.txt and .log; stops the benchmark unless the log has STAGE's
# line.
timed_run() {
  local name=$1 lake=$2 stage=$3 bag=$4 status=0
  shift 4
  remove_lake "$lake"
  BAGPIPE_LOG=info /usr/bin/time -v -o "$out/$name.time" "$bin" run --quiet "$@" \
    --out "$lake" "$bag" > "$out/$name.txt" 2> "$out/$name.log" || status=$?
  if [ "$status" != 0 ] || ! grep -q "stage=\"$stage\"" "$out/$name.log"; then
    echo "bagpipe run $* failed (exit $status); $out/$name.txt and $out/$name.log say:"
    tail -n 5 "$out/$name.txt" "$out/$name.log"
    exit 1
  fi
}

# median X...: the middle value (the lower middle of an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

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

  timed_run run "$out/lake" extract "$bag"
  total=$(elapsed_s "$out/run.time")
  t=$(stage_s extract)
  rss=$(peak_rss_mib "$out/run.time")
  echo "bagpipe extract stage: $(printf %.2f "$t") s, $(awk -v b="$bytes" -v s="$t" 'BEGIN {printf "%.0f", b/1e6/s}') MB/s, $(rate "$msgs" "$t") messages/s"
  local target=""
  case "$(basename "$bag")" in
    camera_jpeg_*) target=" (target: within 2x on JPEG frames)" ;;
    structured_*) target=" (target: within 3.5x, at least 2000k messages/s)" ;;
  esac
  echo "extract / floor: $(awk -v a="$t" -v b="$floor" 'BEGIN {printf "%.2f", a/b}')x$target"
  # The disk's part: writing the tables' bytes durably, no CPU spent on
  # them (bench/write_floor.py); what a bag of incompressible frames
  # cannot go below whatever the extraction does.
  local wline ws
  wline=$(python3 bench/write_floor.py "$out" "$(du -sb "$out/lake/topics" | cut -f1)")
  ws=$(echo "$wline" | awk '{print $7}')
  echo "$wline"
  echo "extract / (floor + disk write floor): $(awk -v a="$t" -v f="$floor" -v w="$ws" 'BEGIN {printf "%.2f", a/(f+w)}')x"
  # Raw frames: the floor plus zstd compressing the same frame bytes alone,
  # on every core (bench/zstd_frames.py), is what extraction is held to.
  if [[ "$(basename "$bag")" == camera_[0-9]* ]]; then
    local zline zs
    zline=$(python3 bench/zstd_frames.py "$bag" 1)
    zs=$(echo "$zline" | awk '{print $(NF-1)}')
    echo "$zline"
    echo "extract / (floor + zstd of the frames): $(awk -v a="$t" -v f="$floor" -v z="$zs" 'BEGIN {printf "%.2f", a/(f+z)}')x (target: within 1.5x)"
  fi
  echo "bagpipe run, all stages: ${total} s, peak RSS ${rss} MiB"
  # the bag's warnings in the catalogue, and any logged warning or error
  local warnings
  warnings=$(python3 -c 'import json, sys
for line in open(sys.argv[1]):
    for w in json.loads(line)["Item"].get("warnings", {}).get("L", []):
        print(w["S"])' "$out/lake/dynamodb/bags.jsonl"; grep -E ' (WARN|ERROR) ' "$out/run.log" || true)
  [ -z "$warnings" ] || echo "bagpipe warnings: $(echo "$warnings" | wc -l), the first: $(echo "$warnings" | head -n 1 | cut -c1-300)"
  echo "lake size: $(du -sh "$out/lake/topics" | cut -f1)"
  if [ "${BENCH_EXPORTS:-1}" != 0 ]; then
    bench_exports "$bag"
    # The extract stage over all of the bag's runs: one run says little
    # on this machine (see bench_exports).
    local me lo hi
    me=$(median "${extract_all[@]}")
    lo=$(printf '%s\n' "${extract_all[@]}" | sort -g | head -n 1)
    hi=$(printf '%s\n' "${extract_all[@]}" | sort -g | tail -n 1)
    echo "bagpipe extract stage over ${#extract_all[@]} runs: median $(printf %.2f "$me") s (min $(printf %.2f "$lo"), max $(printf %.2f "$hi")), $(rate "$msgs" "$me") messages/s at the median, median / floor $(awk -v a="$me" -v b="$floor" 'BEGIN {printf "%.2f", a/b}')x"
    if [ -n "${zs:-}" ]; then
      echo "median extract / (floor + zstd of the frames): $(awk -v a="$me" -v f="$floor" -v z="$zs" 'BEGIN {printf "%.2f", a/(f+z)}')x (target: within 1.5x)"
    fi
    echo "median extract / (floor + disk write floor): $(awk -v a="$me" -v f="$floor" -v w="$ws" 'BEGIN {printf "%.2f", a/(f+w)}')x"
  fi

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
    remove_lake "$out/pylake"
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

# The report render check: a bag of about 100 scenes, its report in chromium.
if [ "${BENCH_REPORT:-1}" != 0 ] && ! command -v chromium > /dev/null; then
  echo "report render check: skipped, no chromium on PATH (apt-get install -y chromium)"
elif [ "${BENCH_REPORT:-1}" != 0 ]; then
  rbag="$out/report_100scenes.bag"
  [ -f "$rbag" ] || python3 sample-bags/generate.py --big "$rbag" --size-gb 0.01 --no-camera >/dev/null
  remove_lake "$out/report_lake"
  status=0
  "$bin" run --quiet --out "$out/report_lake" "$rbag" > "$out/report_run.txt" 2>&1 || status=$?
  if [ "$status" != 0 ]; then
    echo "bagpipe run failed (exit $status) on $rbag; $out/report_run.txt says:"
    tail -n 5 "$out/report_run.txt"
    exit 1
  fi
  scenes=$(wc -l < "$out/report_lake/dynamodb/scenes.jsonl")
  topics=$(python3 -c 'import json, sys
print(len(json.loads(open(sys.argv[1]).readline())["Item"]["topics"]["M"]))' "$out/report_lake/dynamodb/bags.jsonl")
  report="$out/report_lake/reports/$(basename "$rbag" .bag).html"
  echo "== report of $rbag ($scenes scenes, $topics topics, $(awk -v b="$(stat -c %s "$report")" 'BEGIN {printf "%.2f", b/1e6}') MB of HTML)"
  status=0
  python3 tests/python/check_report.py "$report" --scenes "$scenes" --topics "$topics" --max-seconds 1 \
    > "$out/report_check.txt" 2>&1 || status=$?
  rendered=$(grep '^rendered in' "$out/report_check.txt" || true)
  echo "${rendered:-rendered in: not printed} (target: under 1 s for 100 scenes)"
  grep '^MISMATCH' "$out/report_check.txt" | head -n 5 || true
  verdict=$(grep -E '^(OK|FAIL) ' "$out/report_check.txt" || true)
  if [ -n "$verdict" ]; then
    echo "$verdict"
  else
    echo "check_report.py failed (exit $status); $out/report_check.txt says:"
    tail -n 5 "$out/report_check.txt"
  fi
fi
