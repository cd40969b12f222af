//! The properties bagpipe's fuzz targets check, one module per target.
//!
//! Each module has a `check(input)` that panics when a property fails (the
//! fuzzer reports a panic as a crash and keeps the input), and the input
//! format the target reads, with an `encode` that the seed corpus uses.
//! The targets in `fuzz/fuzz_targets/` are one line each around these, so
//! the same checks also run on stable in `cargo test` (`tests/replay.rs`),
//! over the seed corpus and every input kept in `fuzz/regressions/`.
//!
//! A target asserts more than "no panic": a parsed record re-encodes to its
//! bytes, a parsed definition re-parses to the same tree, a decoded message
//! holds no more values than its bytes can, a decompressed chunk is exactly
//! the size its header claims, an S3 key survives every delivery shape.
//!
//! The config parser, the Lambda's event parser and its sample events are
//! included by path rather than through their crates: all are leaf modules
//! (serde, toml, `scenes::config`; serde_json, percent-encoding) whose
//! crates pull in the AWS SDK, which the fuzz build would otherwise compile
//! a second time with coverage instrumentation (about 15 minutes of CI on
//! 2 cores).

#[path = "../../../src/config.rs"]
pub mod cli_config;
#[path = "../../../lambda/src/events.rs"]
pub mod lambda_events;
// Named as in the Lambda crate: `events.rs`'s unit tests use `crate::samples`.
#[path = "../../../lambda/src/samples.rs"]
pub mod samples;

pub mod bag;
pub mod cdr;
pub mod config;
pub mod decode;
pub mod decompress;
pub mod mcap;
pub mod metadata;
pub mod msgdef;
pub mod records;
pub mod ros2def;
pub mod s3_event;
pub mod seeds;

/// The fuzz targets, by name (the directory names under `fuzz/corpus/` and
/// `fuzz/regressions/`, and the binaries in `fuzz/fuzz_targets/`).
pub const TARGETS: [&str; 11] = [
    "records",
    "bag",
    "decompress",
    "msgdef",
    "decode",
    "config",
    "s3_event",
    "mcap",
    "cdr",
    "ros2def",
    "metadata",
];

/// Runs the property check of `target` on one input.
pub fn check(target: &str, input: &[u8]) {
    match target {
        "records" => records::check(input),
        "bag" => bag::check(input),
        "decompress" => decompress::check(input),
        "msgdef" => msgdef::check(input),
        "decode" => decode::check(input),
        "config" => config::check(input),
        "s3_event" => s3_event::check(input),
        "mcap" => mcap::check(input),
        "cdr" => cdr::check(input),
        "ros2def" => ros2def::check(input),
        "metadata" => metadata::check(input),
        other => panic!("no fuzz target named {other:?}"),
    }
}

/// Most bytes a target may hold allocated at once for an input of `len`
/// bytes, whatever the input claims: a fixed allowance for decoder state
/// (bz2 needs about 4 MiB, a 2^16-field schema some tens) plus a multiple
/// of the input. The fuzz binaries count allocations and check this.
pub fn memory_budget(len: usize) -> usize {
    (256 << 20) + 64 * len
}
