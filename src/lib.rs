//! bagpipe: ROS bag recordings to a Parquet analytics lake and a catalogue
//! of driving scenes.
//!
//! This library holds what every entry point shares (the CLI now, the
//! Lambda later): the configuration, the lake and record stores behind
//! small traits, the schema registry, the Parquet partition writer and the
//! per-bag pipeline. The stages themselves live in their own crates
//! (`extractor`, later `synchronizer` and `scenes`).

pub mod catalog;
pub mod config;
pub mod inspect;
pub mod lake;
pub mod naming;
pub mod pipeline;
pub mod registry;
pub mod stages;
pub mod writer;
