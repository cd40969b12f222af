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
pub mod aws;
pub mod catalog;
pub mod config;
pub mod dynamo;
pub mod failure;
pub mod glue;
pub mod input;
pub mod inspect;
pub mod lake;
pub mod naming;
pub mod outputs;
pub mod pipeline;
pub mod registry;
pub mod s3;
pub mod stages;
pub mod writer;
