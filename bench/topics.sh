#!/usr/bin/env bash
# A bag of many small topics (issue 12): what one table per topic costs
# when the bytes are few. Writes (once) a ROS1 bag of BENCH_TOPICS topics
# (default 4000) with one std_msgs/String message each
# (bench/many_topics.py), then runs the whole pipeline on it (default
# config) BENCH_RUNS times (default 3), each into a fresh lake, and prints
# wall, user and system seconds, peak RSS and the files written. Every
# table is a Parquet file and a schema object, each written to a
# temporary name, fsynced and renamed into place.
#
# Usage: bench/topics.sh
#   BENCH_TOPICS=4000   topics in the bag
#   BENCH_RUNS=3        runs
set -euo pipefail
source "$(dirname "$0")/lib.sh"
topics=${BENCH_TOPICS:-4000}
runs=${BENCH_RUNS:-3}
bag=$out/many_topics_${topics}.bag
[ -f "$bag" ] || python3 bench/many_topics.py "$bag" --topics "$topics"
echo "machine: $(nproc) cores, $(uname -m)"
echo "bag: $(basename "$bag"), $(stat -c %s "$bag") bytes, $topics topics, one message each"
printf '%-4s %8s %8s %8s %10s %8s %14s\n' run wall_s user_s sys_s peak_MiB files ms_per_topic
for ((i = 1; i <= runs; i++)); do
  remove_lake "$out/topics_lake"
  /usr/bin/time -f '%e %U %S %M' -o "$out/topics.time" \
    "$bin" run --quiet --out "$out/topics_lake" "$bag" > /dev/null 2> "$out/topics.log"
  read -r wall user sys rss < "$out/topics.time"
  files=$(find "$out/topics_lake" -type f | wc -l)
  printf '%-4s %8.2f %8.2f %8.2f %10.0f %8d %14.2f\n' "$i" "$wall" "$user" "$sys" \
    "$(awk -v k="$rss" 'BEGIN {print k/1024}')" "$files" \
    "$(awk -v w="$wall" -v n="$topics" 'BEGIN {print 1000*w/n}')"
done
remove_lake "$out/topics_lake"
rm -f "$out/topics.time" "$out/topics.log"
