//! bagpipe: ROS bag recordings to a Parquet analytics lake and a catalogue
//! of driving scenes.
//!
//! This library holds what every entry point shares (the CLI and the
//! Lambda): the configuration, the lake and record stores behind small
//! traits with their local and AWS back-ends (`lake` and `catalog` local,
//! `s3` and `dynamo` on AWS), the schema registry, the Parquet partition
//! writer and the per-bag pipeline. The stages themselves live in their own
//! crates (`extractor`, `synchronizer`, `scenes`).

pub mod athena;
#[cfg(feature = "aws")]
pub mod aws;
pub mod catalog;
pub mod config;
#[cfg(feature = "aws")]
pub mod dynamo;
pub mod exports;
pub mod failure;
#[cfg(feature = "aws")]
pub mod glue;
pub mod input;
pub mod inspect;
pub mod lake;
pub mod naming;
pub mod outputs;
pub mod pipeline;
pub mod registry;
pub mod runs;
#[cfg(feature = "aws")]
pub mod s3;
#[cfg(not(feature = "aws"))]
#[path = "no_aws.rs"]
pub mod s3;
pub mod s3url;
pub mod stages;
pub mod writer;

/// The default log filter: warnings, and object_store's retry lines
/// (logged at info, one per S3 retry with its backoff), so every retry
/// shows in a default run's log.
pub const DEFAULT_LOG_FILTER: &str = "warn,object_store::client::retry=info";
