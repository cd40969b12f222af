#!/usr/bin/env bash
# Planning a terabyte (issue 14): a sparse ROS1 bag of many chunks whose
# frames are holes (bench/sparse_bag.py), planned by `bagpipe plan` as a
# local file and from an S3 server on loopback (s3s-fs over a directory
# holding the same sparse file). Prints wall seconds, peak memory, the
# items and the run state's size; for S3 also the ranged GETs of the bag
# and the bytes the server sent, counted by bench/count_proxy.py in front
# of it (a second plan, so the proxy's cost is not in the timed one).
#
# Usage: bench/plan_tb.sh
#   BENCH_CHUNKS=1000000        chunks (the bag is written once, kept in $out)
#   BENCH_CHUNK_BYTES=1048576   bytes a chunk
#   BENCH_ITEM_BYTES=2147483648 compressed bytes an item
# Needs s3s-fs (`cargo install s3s-fs@0.14.1 --features binary --locked`)
# and boto3 (tests/requirements.txt).
set -euo pipefail
if [ -z "${BAGPIPE_BIN:-}" ]; then
  # S3 needs the AWS back-ends.
  (cd "$(dirname "$0")/.." && cargo build --release --locked -q --features aws)
  BAGPIPE_BIN=$(dirname "$0")/../target/release/bagpipe
fi
source "$(dirname "$0")/lib.sh"
chunks=${BENCH_CHUNKS:-1000000}
chunk_bytes=${BENCH_CHUNK_BYTES:-1048576}
item_bytes=${BENCH_ITEM_BYTES:-2147483648}
bag=$out/sparse_${chunks}x${chunk_bytes}.bag
[ -f "$bag" ] || python3 bench/sparse_bag.py "$bag" "$chunks" "$chunk_bytes" >/dev/null
size=$(stat -c %s "$bag")
on_disk=$(du -k "$bag" | cut -f1)

# Runs `bagpipe plan` under GNU time into a fresh lake; sets wall (s),
# peak (MiB), items and state (MB of run state).
plan() {
  local lake=$1 src=$2
  rm -rf "$lake"
  /usr/bin/time -f '%e %M' -o "$out/plan.time" \
    "$bin" plan --item-bytes "$item_bytes" --out "$lake" "$src" > "$out/plan.json" 2> "$out/plan.log" || {
    cat "$out/plan.log" >&2; exit 1; }
  items=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["work_items"])' "$out/plan.json")
  state=$(du -sk "$lake/_runs" | awk '{printf "%.1f", $1 / 1024}')
  read -r wall peak <<< "$(awk '{printf "%.2f %.0f", $1, $2 / 1024}' "$out/plan.time")"
}

echo "machine: $(nproc) cores, $(uname -m)"
printf 'bag: %s, %.2f TB, %d chunks of %d bytes, %.1f GB on disk; items of %d bytes\n' \
  "$(basename "$bag")" "$(echo "$size / 10^12" | bc -l)" "$chunks" "$chunk_bytes" \
  "$(echo "$on_disk / 10^6" | bc -l)" "$item_bytes"
printf '%-8s %8s %9s %6s %9s %10s %10s\n' from wall_s peak_MiB items state_MB bag_GETs bag_MB
plan "$out/plan_tb_lake" "$bag"
printf '%-8s %8s %9s %6s %9s %10s %10s\n' local "$wall" "$peak" "$items" "$state" - -

# The S3 server over a directory: the bag is a hard link to the sparse file.
s3s=$(command -v s3s-fs) || { echo "s3s-fs is not installed" >&2; exit 1; }
root=$out/s3s-plan
rm -rf "$root" && mkdir -p "$root/ingest"
ln "$bag" "$root/ingest/sparse.bag" 2>/dev/null || cp --sparse=always "$bag" "$root/ingest/sparse.bag"
# s3s-fs computes an object's MD5 for its ETag unless its sidecar has one:
# a terabyte's would take longer than any HEAD waits. Give it one.
python3 - "$root" <<'PY'
import base64, hashlib, json, os, sys
b64 = lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")
path = os.path.join(sys.argv[1], f".bucket-{b64('ingest')}.object-{b64('sparse.bag')}.internal.json")
size = os.path.getsize(os.path.join(sys.argv[1], "ingest", "sparse.bag"))
json.dump({"e_tag": hashlib.md5(str(size).encode()).hexdigest()}, open(path, "w"))
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$s3s" --host 127.0.0.1 --port "$port" --access-key test --secret-key test "$root" > "$out/s3s-plan.log" 2>&1 &
pids=($!)
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$trash"' EXIT
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
       AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
until curl -s -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.2; done
AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ENDPOINT_URL
plan "$out/plan_tb_lake" s3://ingest/sparse.bag
printf '%-8s %8s %9s %6s %9s %10s %10s\n' s3s-fs "$wall" "$peak" "$items" "$state" - -

# Again through the counting proxy.
coproc PROXY { exec python3 bench/count_proxy.py "$port"; }
pids+=("$PROXY_PID")
read -r proxy_port <&"${PROXY[0]}"
AWS_ENDPOINT_URL=http://127.0.0.1:$proxy_port
plan "$out/plan_tb_lake" s3://ingest/sparse.bag
read -r gets got <<< "$(curl -s "http://127.0.0.1:$proxy_port/__counts" | python3 -c '
import json, sys
c = json.load(sys.stdin).get("/ingest/sparse.bag", {"gets": 0, "bytes": 0})
print(c["gets"], "%.1f" % (c["bytes"] / 1e6))')"
printf '%-8s %8s %9s %6s %9s %10s %10s\n' "s3s+proxy" "$wall" "$peak" "$items" "$state" "$gets" "$got"
rm -rf "$out/plan_tb_lake" "$root"
