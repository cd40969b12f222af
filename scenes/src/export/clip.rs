//! A scene clip: an MCAP file holding a bag's own messages (bytes and log
//! times untouched) for one window, so Foxglove or Lichtblick opens exactly
//! the scene. Written as the messages come, straight into any `Write` (no
//! seeking: a lake file or an S3 upload), chunked and zstd-compressed, with
//! a summary, statistics and indexes (the `mcap` crate's writer).
//!
//! Profiles follow the MCAP registry: `ros1` (schema encoding `ros1msg`,
//! message encoding `ros1`, channel metadata `md5sum`, `callerid`,
//! `latching` as `true`/`false`) and `ros2` (`ros2msg` or `ros2idl`,
//! `cdr`). Which connections go in, and with which definition text, is the
//! caller's choice ([`ClipChannel`]).

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::io::{self, Write};

use mcap::records::{MessageHeader, Metadata};
use mcap::write::NoSeek;
use mcap::{WriteOptions, Writer};

/// MCAP profile of a clip cut from a ROS1 bag.
pub const PROFILE_ROS1: &str = "ros1";
/// MCAP profile of a clip cut from a ROS 2 bag.
pub const PROFILE_ROS2: &str = "ros2";

/// Uncompressed bytes per chunk: the `mcap` writer's default, small enough
/// that a viewer seeking into a clip reads little.
const CHUNK_BYTES: u64 = 1 << 20;

/// One channel of a clip: a connection of the bag as MCAP describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipChannel {
    pub topic: String,
    /// The schema's name: the connection's type (`sensor_msgs/Imu` for
    /// ROS1, `sensor_msgs/msg/Imu` for ROS 2).
    pub schema_name: String,
    /// `ros1msg`, `ros2msg` or `ros2idl`.
    pub schema_encoding: String,
    /// The definition text.
    pub schema: String,
    /// `ros1` or `cdr`.
    pub message_encoding: String,
    pub metadata: BTreeMap<String, String>,
}

/// What a finished clip holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClipStats {
    pub messages: u64,
    /// Bytes written (the whole file).
    pub bytes: u64,
}

/// Writes one clip.
pub struct ClipWriter<W: Write> {
    writer: Writer<NoSeek<Counting<W>>>,
    /// The caller's key of each channel (a connection id) to its MCAP id.
    channels: HashMap<u32, u16>,
    sequence: u32,
    messages: u64,
}

impl<W: Write> std::fmt::Debug for ClipWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipWriter")
            .field("channels", &self.channels.len())
            .field("messages", &self.messages)
            .finish()
    }
}

fn mcap_error(e: mcap::McapError) -> io::Error {
    match e {
        mcap::McapError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

impl<W: Write> ClipWriter<W> {
    /// Starts a clip of `profile` ([`PROFILE_ROS1`] or [`PROFILE_ROS2`]);
    /// `library` names the writer in the header. Chunks are zstd when
    /// `compress`, else stored: for messages that hardly shrink (JPEG
    /// frames) zstd is most of a clip's CPU for a few percent of its size.
    pub fn new(out: W, profile: &str, library: &str, compress: bool) -> io::Result<ClipWriter<W>> {
        let writer = WriteOptions::new()
            .profile(profile)
            .library(library)
            .compression(compress.then_some(mcap::Compression::Zstd))
            // Level 1, as the lake's Parquet: zstd's default level spends
            // three times the CPU on camera frames (measured with bench/).
            .compression_level(1)
            .chunk_size(Some(CHUNK_BYTES))
            // One thread: clips of several scenes are cut side by side,
            // and the same input gives the same bytes.
            .compression_threads(0)
            .disable_seeking(true)
            .create(NoSeek::new(Counting {
                inner: out,
                bytes: 0,
            }))
            .map_err(mcap_error)?;
        Ok(ClipWriter {
            writer,
            channels: HashMap::new(),
            sequence: 0,
            messages: 0,
        })
    }

    /// Adds a channel under the caller's `key`; channels appear in the
    /// clip in the order they are added, each with its own id.
    pub fn add_channel(&mut self, key: u32, channel: &ClipChannel) -> io::Result<()> {
        let schema = self
            .writer
            .add_schema(
                &channel.schema_name,
                &channel.schema_encoding,
                channel.schema.as_bytes(),
            )
            .map_err(mcap_error)?;
        let id = u16::try_from(self.channels.len())
            .map_err(|_| io::Error::other("a clip holds at most 65536 channels"))?;
        self.writer
            .add_channel_with_id(
                id,
                schema,
                &channel.topic,
                &channel.message_encoding,
                &channel.metadata,
            )
            .map_err(mcap_error)?;
        self.channels.insert(key, id);
        Ok(())
    }

    /// Whether a channel was added under `key`.
    pub fn has_channel(&self, key: u32) -> bool {
        self.channels.contains_key(&key)
    }

    /// Writes a message of the channel added under `key`, with its log
    /// time as both log and publish time.
    pub fn write(&mut self, key: u32, log_time_ns: u64, data: &[u8]) -> io::Result<()> {
        let channel_id = *self
            .channels
            .get(&key)
            .ok_or_else(|| io::Error::other(format!("no channel was added for key {key}")))?;
        self.writer
            .write_to_known_channel(
                &MessageHeader {
                    channel_id,
                    sequence: self.sequence,
                    log_time: log_time_ns,
                    publish_time: log_time_ns,
                },
                data,
            )
            .map_err(mcap_error)?;
        self.sequence = self.sequence.wrapping_add(1);
        self.messages += 1;
        Ok(())
    }

    /// Writes a metadata record (a name and a string map).
    pub fn write_metadata(
        &mut self,
        name: &str,
        values: BTreeMap<String, String>,
    ) -> io::Result<()> {
        self.writer
            .write_metadata(&Metadata {
                name: name.to_string(),
                metadata: values,
            })
            .map_err(mcap_error)
    }

    /// Ends the clip (the last chunk, the summary, the footer) and gives
    /// back the output.
    pub fn finish(mut self) -> io::Result<(W, ClipStats)> {
        self.writer.finish().map_err(mcap_error)?;
        let counting = self.writer.into_inner().into_inner();
        let stats = ClipStats {
            messages: self.messages,
            bytes: counting.bytes,
        };
        Ok((counting.inner, stats))
    }
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(topic: &str) -> ClipChannel {
        ClipChannel {
            topic: topic.to_string(),
            schema_name: "std_msgs/String".to_string(),
            schema_encoding: "ros1msg".to_string(),
            schema: "string data\n".to_string(),
            message_encoding: "ros1".to_string(),
            metadata: BTreeMap::from([
                (
                    "md5sum".to_string(),
                    "992ce8a1687cec8c8bd883ec73ca41d1".to_string(),
                ),
                ("latching".to_string(), "false".to_string()),
            ]),
        }
    }

    fn string_msg(s: &str) -> Vec<u8> {
        let mut v = (s.len() as u32).to_le_bytes().to_vec();
        v.extend_from_slice(s.as_bytes());
        v
    }

    #[test]
    fn a_clip_reads_back_with_its_channels_messages_and_summary() {
        let mut w = ClipWriter::new(Vec::new(), PROFILE_ROS1, "bagpipe test", true).unwrap();
        w.add_channel(7, &channel("/a")).unwrap();
        w.add_channel(9, &channel("/a")).unwrap();
        w.write(7, 10, &string_msg("one")).unwrap();
        w.write(9, 20, &string_msg("two")).unwrap();
        w.write(7, 15, &string_msg("three")).unwrap();
        let (bytes, stats) = w.finish().unwrap();
        assert_eq!(stats.messages, 3);
        assert_eq!(stats.bytes, bytes.len() as u64);

        let summary = mcap::Summary::read(&bytes).unwrap().expect("a summary");
        let st = summary.stats.expect("statistics");
        assert_eq!(st.message_count, 3);
        assert_eq!((st.message_start_time, st.message_end_time), (10, 20));
        // Two connections with the same content stay two channels.
        assert_eq!(summary.channels.len(), 2);
        assert!(
            summary
                .chunk_indexes
                .iter()
                .all(|c| c.compression == "zstd")
        );

        let got: Vec<(u16, u64, Vec<u8>)> = mcap::MessageStream::new(&bytes)
            .unwrap()
            .map(|m| {
                let m = m.unwrap();
                (m.channel.id, m.log_time, m.data.into_owned())
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 10, string_msg("one")),
                (1, 20, string_msg("two")),
                (0, 15, string_msg("three")),
            ]
        );
    }

    #[test]
    fn a_clip_not_compressed_stores_its_chunks_and_reads_back_the_same() {
        let mut w = ClipWriter::new(Vec::new(), PROFILE_ROS1, "bagpipe test", false).unwrap();
        w.add_channel(1, &channel("/a")).unwrap();
        for t in 0..100u64 {
            w.write(1, t, &string_msg("the same text, again and again"))
                .unwrap();
        }
        let (bytes, _) = w.finish().unwrap();
        let summary = mcap::Summary::read(&bytes).unwrap().expect("a summary");
        assert!(!summary.chunk_indexes.is_empty());
        assert!(
            summary
                .chunk_indexes
                .iter()
                .all(|c| c.compression.is_empty())
        );
        let got: Vec<u64> = mcap::MessageStream::new(&bytes)
            .unwrap()
            .map(|m| m.unwrap().log_time)
            .collect();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn the_same_input_gives_the_same_bytes() {
        let cut = || {
            let mut w = ClipWriter::new(Vec::new(), PROFILE_ROS1, "bagpipe test", true).unwrap();
            w.add_channel(1, &channel("/a")).unwrap();
            for t in 0..1000u64 {
                w.write(1, t, &string_msg(&format!("message {t}"))).unwrap();
            }
            w.finish().unwrap().0
        };
        assert_eq!(cut(), cut());
    }

    #[test]
    fn a_message_of_a_channel_never_added_is_an_error() {
        let mut w = ClipWriter::new(Vec::new(), PROFILE_ROS2, "bagpipe test", true).unwrap();
        assert!(w.write(3, 1, b"x").is_err());
        assert!(!w.has_channel(3));
    }
}
