# Sourced by the benchmarks (bench/extract.sh, bench/codecs.sh): moves to
# the repository root and sets
#   out  where bags and lakes go: $BENCH_DIR, default bench/out (created);
#   bin  the bagpipe to run: $BAGPIPE_BIN (resolved before the move), else
#        target/release/bagpipe, built first.
[ -z "${BAGPIPE_BIN:-}" ] || BAGPIPE_BIN=$(realpath -e "$BAGPIPE_BIN")
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${BENCH_DIR:-bench/out}
mkdir -p "$out"
if [ -n "${BAGPIPE_BIN:-}" ]; then
  bin=$BAGPIPE_BIN
else
  cargo build --release --locked -q
  bin=target/release/bagpipe
fi
