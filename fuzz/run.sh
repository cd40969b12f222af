#!/usr/bin/env bash
# Fuzzes every target for SECONDS each (default 30), one after another, on
# stable Rust: `cargo fuzz` with `--sanitizer none` (address sanitizing
# needs nightly; every target is safe Rust, but for lz4_flex's block
# decoder, which checks its bounds itself and is fuzzed upstream under
# sanitizers, and each checks its properties and its memory itself). Seeds come from the sample and real bags
# (tests/fuzz/src/seeds.rs) plus every kept regression; new coverage is
# added to fuzz/corpus/<target>. A failing input is saved under
# fuzz/artifacts/<target>/ and the script stops with an error.
#
#   bash fuzz/run.sh            # CI: 30 s a target
#   bash fuzz/run.sh 600        # the 10-minute run the README reports
#   bash fuzz/run.sh 600 decode # one target
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(records bag decompress msgdef decode config s3_event mcap cdr ros2def metadata)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2

# SEEDS_BIN: the seeds binary `cargo test --workspace --release` already
# built (CI passes target/release/seeds: building it alone unifies other
# features and recompiles for two minutes).
if [ -n "${SEEDS_BIN:-}" ] && [ -x "$SEEDS_BIN" ]; then
    "$SEEDS_BIN" fuzz/corpus >/dev/null
else
    cargo run --release --locked --quiet -p bagpipe-fuzz-props --bin seeds -- fuzz/corpus >/dev/null
fi
(cd fuzz && cargo fuzz build -s none -O)

mkdir -p fuzz/artifacts
for target in "${targets[@]}"; do
    echo "== fuzz $target for ${seconds}s ($(date +%T))"
    mkdir -p "fuzz/regressions/$target"
    log="fuzz/artifacts/$target.log"
    # -max_len: the seeds' cap; -timeout: an input taking 10 s is a hang;
    # -rss_limit_mb: the process's resident memory, beside the targets'
    # own per-input allocation budget.
    if (cd fuzz && cargo fuzz run -s none -O "$target" "corpus/$target" "regressions/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1) >"$log" 2>&1; then
        grep -E "^#[0-9]+ +DONE|^stat::(number_of_executed_units|peak_rss_mb)" "$log" | tr '\n' ' '
        echo
    else
        # The failing check and its backtrace, not the input's bytes.
        grep -a -A12 -E "panicked|ERROR: libFuzzer|Timeout|out-of-memory" "$log" | cut -c1-400 | head -n 60 >&2
        echo "fuzz target $target failed: the input is under fuzz/artifacts/$target/, the log in $log" >&2
        exit 1
    fi
done
