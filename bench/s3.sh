#!/usr/bin/env bash
# S3 benchmark: the same camera bag run from a local file and from S3 (a
# moto server on loopback), lake written locally resp. to S3. Prints wall
# time, the extract stage's time and MB/s, and peak RSS for each, to show
# that reading by ranged GETs keeps memory flat in bag size.
#
# Usage: bench/s3.sh [SIZE_GB ...]    (default: 1; bags from bench/extract.sh's
#                                      generator, kept in bench/out)
# Needs: pip install -r tests/requirements.txt (boto3; moto[server] as the
# fallback server). The S3 figures are against a server on loopback, not
# AWS's throughput; what they show is that memory does not grow with the
# bag when it is read by ranged GETs.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCH_DIR:-bench/out}
mkdir -p "$out"
cargo build --release --locked -q -p bagpipe
bin=$PWD/target/release/bagpipe
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The S3 server: s3s-fs (Rust, over a directory; `cargo install s3s-fs@0.14.1
# --features binary`) when installed, else moto, which is far slower (one
# Python thread serves every ranged GET) and makes the S3 run measure moto.
s3s=$(command -v s3s-fs || true)
if [ -n "$s3s" ]; then
  server="s3s-fs"
  rm -rf "$out/s3s-root" && mkdir -p "$out/s3s-root"
  "$s3s" --host 127.0.0.1 --port "$port" --access-key test --secret-key test "$out/s3s-root" >"$out/s3-server.log" 2>&1 &
else
  server="moto"
  moto_server -H 127.0.0.1 -p "$port" >"$out/s3-server.log" 2>&1 &
fi
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
       AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
until curl -s -o /dev/null "$AWS_ENDPOINT_URL/"; do sleep 0.2; done
python3 - <<'PY'
import boto3
s3 = boto3.client("s3")
for b in ("ingest", "lake"):
    s3.create_bucket(Bucket=b)
PY

peak_rss_mib() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$1"; }
elapsed_s() {
  awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; printf "%.2f", s}' "$1"
}

echo "machine: $(nproc) cores, $(uname -m); S3 = $server on loopback"
printf '%-18s %-6s %10s %10s %10s %10s\n' bag from wall_s extract_s MB/s peak_MiB
for size in "${sizes[@]}"; do
  bag="$out/camera_${size}gb.bag"
  [ -f "$bag" ] || python3 sample-bags/generate.py --big "$bag" --size-gb "$size" >/dev/null
  bytes=$(stat -c %s "$bag")
  name=$(basename "$bag")
  python3 -c "import boto3,sys; boto3.client('s3').upload_file(sys.argv[1], 'ingest', sys.argv[2])" "$bag" "$name"
  for from in local s3; do
    rm -rf "$out/lake-s3bench"
    if [ "$from" = local ]; then
      input=$bag; root=$out/lake-s3bench
    else
      input=s3://ingest/$name; root=s3://lake/${name%.bag}-$RANDOM
    fi
    BAGPIPE_LOG=info /usr/bin/time -v "$bin" run --quiet --out "$root" "$input" \
      >"$out/s3bench.stdout" 2>"$out/s3bench.log"
    wall=$(elapsed_s "$out/s3bench.log")
    ext=$(grep 'stage="extract"\|stage=extract' "$out/s3bench.log" | grep -o 'seconds=[0-9.]*' | head -1 | cut -d= -f2)
    mbps=$(awk -v b="$bytes" -v s="$ext" 'BEGIN {printf "%.0f", b/1e6/s}')
    printf '%-18s %-6s %10s %10.2f %10s %10s\n' "$name" "$from" "$wall" "$ext" "$mbps" "$(peak_rss_mib "$out/s3bench.log")"
  done
done
