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

/// The default log filter: warnings, and object_store's retry lines
/// (logged at info, one per S3 retry with its backoff), so every retry
/// shows in a default run's log.
pub const DEFAULT_LOG_FILTER: &str = "warn,object_store::client::retry=info";
