//! bagpipe: ROS bag recordings to a Parquet analytics lake and a catalogue
//! of driving scenes.
//!
//! This library holds what every entry point shares (the CLI and the
//! Lambda): the configuration; `pipeline`, a bag's run as its three steps
//! (plan, work, finish) and the stages after extraction; `storage`, the
//! lake and record stores behind small traits with their local and AWS
//! back-ends, the schema registry; the Parquet partition writer. The
//! stages themselves live in their own crates (`extractor`,
//! `synchronizer`, `scenes`).

pub mod athena;
pub mod config;
pub mod exports;
pub mod failure;
pub mod input;
pub mod inspect;
pub mod naming;
pub mod pipeline;
pub mod runs;
pub mod stages;
pub mod storage;
pub mod writer;

// The storage modules by their short names, as the entry points and tests
// use them.
#[cfg(feature = "aws")]
pub use storage::{aws, dynamo, glue};
pub use storage::{catalog, lake, outputs, registry, s3, s3url};

/// Turns transparent huge pages off for this process (Linux; a no-op
/// elsewhere), as both binaries do first. mimalloc asks for huge pages
/// (`madvise`), and each first touch of one made the kernel zero 2 MiB:
/// extracting the 1.96 M-message structured bag of `bench/extract.sh` as
/// one work item, six runs each, took 1.49 to 2.13 s wall (0.64 to 1.84 s
/// of system time) with them and 1.41 to 1.47 s (0.41 to 0.48 s) without,
/// at a lower peak RSS. A failure (an old kernel) changes nothing else.
pub fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(error = %e, "transparent huge pages stay on");
    }
}

/// The default log filter: warnings, and object_store's retry lines
/// (logged at info, one per S3 retry with its backoff), so every retry
/// shows in a default run's log.
pub const DEFAULT_LOG_FILTER: &str = "warn,object_store::client::retry=info";
