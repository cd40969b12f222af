//! Integration tests: the built `bagpipe` binary against real bags, bags
//! built in code, and the lake read back by DuckDB and pyarrow.

mod util;

mod athena;
// The AWS back-ends: in the build `cargo test --workspace` makes (the
// Lambda crate turns the `aws` feature on).
#[cfg(feature = "aws")]
mod aws;
mod cli;
mod crash;
mod damaged;
mod exports;
mod lake;
mod limits;
mod parity;
mod ros2;
mod scenes;
mod workers;
