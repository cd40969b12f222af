//! ROS1 bag v2.0 reading and message decoding into Arrow record batches.
//!
//! Three layers, each usable alone:
//!
//! * [`records`]: sans-I/O parsing of bag records (`<len><header><len><data>`)
//!   from byte slices, every length checked against a named cap.
//! * [`bag`]: the file-level reader over any [`source::ReadAt`]: the bag header,
//!   the index at the end (connections and chunk infos), a linear scan that
//!   recovers every intact chunk when the index is missing or lies, and chunk
//!   decompression (none, bz2, lz4) capped by the size the chunk header claims.
//! * [`msgdef`] and [`decode`]: the ROS1 message-definition parser, the
//!   ROS-to-Arrow type mapping, and a decoder compiled once per definition
//!   that decodes message bytes straight into Arrow builders.
//!
//! [`extract`] drives the three: it decodes chunks in parallel and hands
//! per-table batches, in log-time order, to a [`extract::TableSink`].

pub mod bag;
pub mod decode;
pub mod error;
pub mod extract;
pub mod msgdef;
pub mod records;
pub mod source;
pub mod testing;

pub use error::{Error, Result};
