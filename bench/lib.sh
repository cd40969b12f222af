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

# remove_lake DIR...: empties an earlier run's output before a timed run
# and waits for the disk (`sync`): its files are cut to nothing (the
# kernel drops their pages still waiting to be written, and frees their
# blocks) and moved, empty, into $out/trash, which is deleted when the
# benchmark ends. Both halves matter on this machine's root (ext4 without
# a journal, mounted with `discard`): freeing a lake's gigabytes sends TRIM
# commands that the next fsyncs wait for (the JPEG bag's export stage once
# took 5.1 s, and 1.4 to 1.8 s after a sync); moving whole lakes aside
# instead made the disk write every earlier run's lake (the JPEG bag's
# extraction 0.8 s -> 3.6 s); and for 30 s ext4 will not reuse a deleted
# inode, scanning past every one each time it creates a file (a run
# writing the structured bag's 4,350 exports spent a quarter of its CPU in
# ext4's `recently_deleted` right after the previous run's were deleted).
trash=$out/trash
remove_lake() {
  local d
  mkdir -p "$trash"
  for d in "$@"; do
    [ -e "$d" ] || continue
    find "$d" -type f -exec truncate -s 0 {} +
    mv "$d" "$trash/$(basename "$d").$$.$RANDOM$RANDOM"
  done
  sync
}
trap 'rm -rf "$trash"' EXIT
