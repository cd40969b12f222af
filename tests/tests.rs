//! Integration tests: the built `bagpipe` binary against real bags, bags
//! built in code, and the lake read back by DuckDB and pyarrow.

mod util;

mod athena;
mod aws;
mod cli;
mod crash;
mod damaged;
mod lake;
mod limits;
mod parity;
mod ros2;
mod scenes;
