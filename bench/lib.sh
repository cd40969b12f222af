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

# remove_lake DIR...: deletes an earlier run's output before a timed run,
# then waits for the disk to take the deletion (`sync`). On a filesystem
# mounted with `discard` (this machine's root is), freeing a lake's
# gigabytes sends TRIM commands that the next journal commit waits for:
# without the wait, the fsyncs of the timed run may pay for the last
# run's cleanup (the JPEG bag's export stage once took 5.1 s there, and
# 1.4 to 1.8 s in runs that followed a sync).
remove_lake() {
  rm -rf "$@"
  sync
}
