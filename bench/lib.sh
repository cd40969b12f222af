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

# remove_lake DIR...: moves an earlier run's output out of the way before a
# timed run, into $out/trash, which is deleted when the benchmark ends, and
# waits for the disk (`sync`). Deleting it there would cost the timed run
# twice on this machine's root (ext4 without a journal, mounted with
# `discard`): freeing a lake's gigabytes sends TRIM commands that the next
# fsyncs wait for (the JPEG bag's export stage once took 5.1 s, and 1.4 to
# 1.8 s after a sync), and for 30 s ext4 will not reuse a deleted inode,
# scanning past every one each time it creates a file: a run writing the
# structured bag's 4,350 exports spent a quarter of its CPU in ext4's
# `recently_deleted` after the previous run's lake was deleted.
trash=$out/trash
remove_lake() {
  local d
  mkdir -p "$trash"
  for d in "$@"; do
    [ ! -e "$d" ] || mv "$d" "$trash/$(basename "$d").$$.$RANDOM$RANDOM"
  done
  sync
}
trap 'rm -rf "$trash"' EXIT
