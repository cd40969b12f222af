//! Where a run reads and writes, behind small traits so the local and the
//! AWS back-ends share every other line:
//!
//! | trait | local | AWS |
//! | --- | --- | --- |
//! | [`lake::Lake`] (the output root's files) | [`lake::LocalLake`] | `s3::S3Lake` |
//! | [`catalog::ItemStore`] (bag catalogue, scene records) | [`catalog::JsonlStore`] | `dynamo::DynamoStore` |
//! | [`crate::athena::TableCatalog`] (tables for Athena) | none (`bagpipe athena-ddl`) | `glue::GlueCatalog` |
//!
//! and what is built on them: the schema registry (`registry`), and the
//! choice of back-ends from the settings (`outputs`). Bags are read from S3
//! through `s3::S3Source`. Without the `aws` feature, `s3` is a stand-in
//! that says this build cannot reach S3.

#[cfg(feature = "aws")]
pub mod aws;
pub mod catalog;
#[cfg(target_os = "linux")]
mod direct;
#[cfg(feature = "aws")]
pub mod dynamo;
#[cfg(feature = "aws")]
pub mod glue;
pub mod lake;
pub mod outputs;
pub mod registry;
#[cfg(feature = "aws")]
pub mod s3;
#[cfg(not(feature = "aws"))]
#[path = "no_aws.rs"]
pub mod s3;
pub mod s3url;
