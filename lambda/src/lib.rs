//! The AWS Lambda entry point of bagpipe.
//!
//! An upload to the ingest bucket reaches the function in one of four
//! shapes ([`events`]); the handler ([`handler`]) turns it into bag
//! sources and runs them through the same per-bag pipeline as the CLI
//! (`bagpipe::pipeline::run`), then answers as the delivery wants it:
//! partial batch failures for SQS, an error for a retryable failure of an
//! asynchronous invocation. [`metrics`] writes CloudWatch embedded-metric
//! lines per bag and stage. `main.rs` only wires this to
//! `lambda_runtime`.

pub mod events;
pub mod handler;
pub mod metrics;
pub mod samples;
