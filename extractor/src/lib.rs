//! Reading ROS bags and decoding their messages into Arrow record batches.
//!
//! Three seams, each in its own module:
//!
//! * [`container`]: the files a bag is stored in (ROS1 bag v2.0, MCAP,
//!   rosbag2 sqlite3, rosbag2 directories, whole-file zstd) yield
//!   connections and raw messages, a unit (chunk, run of records, range of
//!   rows) at a time; damage is recovered there, every length checked
//!   against a named cap.
//! * [`definition`]: message definitions in the ROS1 and ROS 2 dialects
//!   (`.msg` text, `.srv` for service events, IDL) parse into one type
//!   tree; the ROS 2 type hash and the fallback definitions live there.
//! * [`decode`]: the ROS-to-Arrow type mapping, and a decoder compiled once
//!   per definition that the two wire formats (ROS1 serialization, CDR)
//!   drive straight into Arrow buffers.
//!
//! [`extract`] sits above all three and is the same for every format: it
//! decodes units in parallel and hands per-table batches, in log-time
//! order, to a [`extract::TableSink`].

pub mod container;
pub mod decode;
pub mod definition;
pub mod error;
pub mod extract;
pub mod slices;
pub mod source;
pub mod testing;

pub use error::{Error, Result};
