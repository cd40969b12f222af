//! A scene clip: an MCAP file holding a bag's own messages (bytes and log
//! times untouched) for one window, so Foxglove or Lichtblick opens exactly
//! the scene. Written front to back into any `Write` (no seeking: a lake
//! file or an S3 upload), chunked, zstd-compressed or stored, with CRCs,
//! message indexes and a summary (schemas, channels, statistics, chunk and
//! metadata indexes, summary offsets).
//!
//! A clip is built from [`Chunk`]s made apart from any one clip: the
//! scenes of a bag overlap (each window is padded by seconds), and a chunk
//! of messages that lies inside several windows is compressed once and
//! written into each of their clips. Compressing is most of a clip's cost,
//! so this is why the clip format is written here and not by the `mcap`
//! crate's `Writer`, which compresses every message it is given itself and
//! cannot take a chunk built elsewhere. Channel ids are fixed once per bag
//! ([`ClipChannels`]) so that a chunk means the same in every clip. The
//! `mcap` crate is still what the tests read clips with.
//!
//! Profiles follow the MCAP registry: `ros1` (schema encoding `ros1msg`,
//! message encoding `ros1`, channel metadata `md5sum`, `callerid`,
//! `latching` as `true`/`false`) and `ros2` (`ros2msg` or `ros2idl`,
//! `cdr`). Which connections go in, and with which definition text, is the
//! caller's choice ([`ClipChannel`]).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use mcap::records::op;

/// MCAP profile of a clip cut from a ROS1 bag.
pub const PROFILE_ROS1: &str = "ros1";
/// MCAP profile of a clip cut from a ROS 2 bag.
pub const PROFILE_ROS2: &str = "ros2";

/// Uncompressed bytes after which a chunk is closed: the `mcap` writer's
/// default, small enough that a viewer seeking into a clip reads little.
pub const CHUNK_BYTES: usize = 1 << 20;

/// zstd level of the chunks. Level 1, as the lake's Parquet: zstd's
/// default level spends three times the CPU on camera frames (measured
/// with bench/).
const ZSTD_LEVEL: i32 = 1;

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

/// The channels of every clip of a bag, numbered once: channel ids from 0
/// in the order given, schema ids from 1, one per distinct schema (name,
/// encoding and text). Their records are serialized here, once: every clip
/// writes them twice (in its data section and in its summary).
#[derive(Debug, Clone)]
pub struct ClipChannels {
    /// The schema records, one per distinct schema.
    schema_records: Vec<u8>,
    schema_count: u16,
    /// The channel records, one per channel.
    channel_records: Vec<u8>,
    channel_count: u32,
    /// The caller's key of each channel (a connection id) to its id.
    ids: HashMap<u32, u16>,
}

impl ClipChannels {
    /// Numbers `channels`, each under the caller's key.
    pub fn new<'a>(
        channels: impl IntoIterator<Item = (u32, &'a ClipChannel)>,
    ) -> io::Result<ClipChannels> {
        let too_many = || io::Error::other("a clip holds at most 65535 channels");
        let mut schemas: Vec<(&str, &str, &str)> = Vec::new();
        let mut channel_count = 0usize;
        let mut out = ClipChannels {
            schema_records: Vec::new(),
            schema_count: 0,
            channel_records: Vec::new(),
            channel_count: 0,
            ids: HashMap::new(),
        };
        for (key, c) in channels {
            let schema = (
                c.schema_name.as_str(),
                c.schema_encoding.as_str(),
                c.schema.as_str(),
            );
            let at = match schemas.iter().position(|s| *s == schema) {
                Some(at) => at,
                None => {
                    schemas.push(schema);
                    let id = u16::try_from(schemas.len()).map_err(|_| too_many())?;
                    let mut b = Vec::new();
                    put_u16(&mut b, id);
                    put_str(&mut b, schema.0);
                    put_str(&mut b, schema.1);
                    put_str(&mut b, schema.2); // bytes with a u32 length: the same layout
                    out.schema_records
                        .extend_from_slice(&record(op::SCHEMA, &b));
                    schemas.len() - 1
                }
            };
            let schema_id = u16::try_from(at + 1).map_err(|_| too_many())?;
            let id = u16::try_from(channel_count).map_err(|_| too_many())?;
            channel_count += 1;
            let mut b = Vec::new();
            put_u16(&mut b, id);
            put_u16(&mut b, schema_id);
            put_str(&mut b, &c.topic);
            put_str(&mut b, &c.message_encoding);
            put_map(&mut b, &c.metadata);
            out.channel_records
                .extend_from_slice(&record(op::CHANNEL, &b));
            out.ids.insert(key, id);
        }
        out.schema_count = schemas.len() as u16;
        out.channel_count = channel_count as u32;
        Ok(out)
    }

    /// The channel id of the caller's `key`.
    pub fn id(&self, key: u32) -> Option<u16> {
        self.ids.get(&key).copied()
    }
}

/// Messages gathered for one chunk, in the order pushed.
#[derive(Debug, Default)]
pub struct ChunkBuilder {
    /// The message records, uncompressed.
    records: Vec<u8>,
    /// Per channel: (log time, offset of the record in `records`).
    index: BTreeMap<u16, Vec<(u64, u64)>>,
    times: Option<(u64, u64)>,
}

impl ChunkBuilder {
    pub fn new() -> ChunkBuilder {
        ChunkBuilder::default()
    }

    /// Adds a message of channel `channel` (an id of [`ClipChannels`]),
    /// its log time as both log and publish time. The sequence is 0: a
    /// ROS1 bag and rosbag2's storage record none, and a chunk must mean
    /// the same in every clip it is written into.
    pub fn push(&mut self, channel: u16, log_time_ns: u64, data: &[u8]) {
        let offset = self.records.len() as u64;
        let body = 2 + 4 + 8 + 8 + data.len() as u64;
        self.records.reserve(9 + body as usize);
        self.records.push(op::MESSAGE);
        put_u64(&mut self.records, body);
        put_u16(&mut self.records, channel);
        put_u32(&mut self.records, 0);
        put_u64(&mut self.records, log_time_ns);
        put_u64(&mut self.records, log_time_ns);
        self.records.extend_from_slice(data);
        self.index
            .entry(channel)
            .or_default()
            .push((log_time_ns, offset));
        self.times = Some(match self.times {
            None => (log_time_ns, log_time_ns),
            Some((a, b)) => (a.min(log_time_ns), b.max(log_time_ns)),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The chunk, its records zstd-compressed (level 1) when `compress`,
    /// else stored.
    pub fn finish(self, compress: bool) -> io::Result<Chunk> {
        let crc = crc32fast::hash(&self.records);
        let uncompressed_size = self.records.len() as u64;
        let (compression, data, data_crc) = if compress {
            thread_local! {
                static ZSTD: RefCell<Option<zstd::bulk::Compressor<'static>>> =
                    const { RefCell::new(None) };
            }
            let data = ZSTD.with(|z| -> io::Result<Vec<u8>> {
                let mut z = z.borrow_mut();
                if z.is_none() {
                    *z = Some(zstd::bulk::Compressor::new(ZSTD_LEVEL)?);
                }
                z.as_mut().expect("set above").compress(&self.records)
            })?;
            let mut data_crc = crc32fast::Hasher::new();
            data_crc.update(&data);
            ("zstd", data, data_crc)
        } else {
            // Stored: the records' CRC is the data's.
            let data_crc = crc32fast::Hasher::new_with_initial_len(crc, uncompressed_size);
            ("", self.records, data_crc)
        };
        let mut message_indexes = Vec::new();
        let mut index_offsets = Vec::new();
        let mut counts = Vec::new();
        for (channel, entries) in &self.index {
            index_offsets.push((*channel, message_indexes.len() as u64));
            counts.push((*channel, entries.len() as u64));
            message_indexes.push(op::MESSAGE_INDEX);
            put_u64(&mut message_indexes, 2 + 4 + 16 * entries.len() as u64);
            put_u16(&mut message_indexes, *channel);
            put_u32(&mut message_indexes, 16 * entries.len() as u32);
            for &(time, offset) in entries {
                put_u64(&mut message_indexes, time);
                put_u64(&mut message_indexes, offset);
            }
        }
        Ok(Chunk {
            times: self.times.unwrap_or((0, 0)),
            uncompressed_size,
            crc,
            compression,
            data,
            data_crc,
            message_indexes,
            index_offsets,
            counts,
        })
    }
}

/// A chunk ready to be written into any clip of the same [`ClipChannels`]:
/// its records compressed once, its message index records serialized.
#[derive(Debug)]
pub struct Chunk {
    /// Earliest and latest log time of its messages.
    times: (u64, u64),
    uncompressed_size: u64,
    /// CRC-32 of the uncompressed records.
    crc: u32,
    /// `zstd` or `` (stored).
    compression: &'static str,
    data: Vec<u8>,
    /// CRC-32 of `data`, so that a clip's data section CRC takes it in
    /// without reading the bytes again (for every clip it is written to).
    data_crc: crc32fast::Hasher,
    /// The message index records that follow the chunk, one per channel.
    message_indexes: Vec<u8>,
    /// Each channel's message index record, by its offset in
    /// `message_indexes`.
    index_offsets: Vec<(u16, u64)>,
    /// Messages per channel.
    counts: Vec<(u16, u64)>,
}

impl Chunk {
    /// Messages in it.
    pub fn messages(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }
}

/// One chunk index of the summary.
struct ChunkIndex {
    times: (u64, u64),
    start: u64,
    length: u64,
    index_offsets: Vec<(u16, u64)>,
    index_length: u64,
    compression: &'static str,
    compressed_size: u64,
    uncompressed_size: u64,
}

/// Writes one clip: the header, the schemas and channels, then metadata
/// and chunks as given, then the summary on [`ClipWriter::finish`].
pub struct ClipWriter<'c, W: Write> {
    out: W,
    channels: &'c ClipChannels,
    /// Bytes written so far: the next record's offset.
    pos: u64,
    /// CRC-32 of the data section (the magic to the data end record).
    crc: crc32fast::Hasher,
    chunk_indexes: Vec<ChunkIndex>,
    /// Each metadata record: offset, length, name.
    metadata: Vec<(u64, u64, String)>,
    counts: BTreeMap<u16, u64>,
    times: Option<(u64, u64)>,
}

impl<W: Write> std::fmt::Debug for ClipWriter<'_, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipWriter")
            .field("bytes", &self.pos)
            .field("chunks", &self.chunk_indexes.len())
            .finish()
    }
}

impl<'c, W: Write> ClipWriter<'c, W> {
    /// Starts a clip of `profile` ([`PROFILE_ROS1`] or [`PROFILE_ROS2`])
    /// holding `channels`; `library` names the writer in the header.
    pub fn new(
        out: W,
        profile: &str,
        library: &str,
        channels: &'c ClipChannels,
    ) -> io::Result<ClipWriter<'c, W>> {
        let mut w = ClipWriter {
            out,
            channels,
            pos: 0,
            crc: crc32fast::Hasher::new(),
            chunk_indexes: Vec::new(),
            metadata: Vec::new(),
            counts: BTreeMap::new(),
            times: None,
        };
        w.put(mcap::MAGIC)?;
        let mut header = Vec::new();
        put_str(&mut header, profile);
        put_str(&mut header, library);
        w.put(&record(op::HEADER, &header))?;
        w.put(&channels.schema_records)?;
        w.put(&channels.channel_records)?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.crc.update(bytes);
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Writes a metadata record (a name and a string map).
    pub fn write_metadata(
        &mut self,
        name: &str,
        values: &BTreeMap<String, String>,
    ) -> io::Result<()> {
        let mut body = Vec::new();
        put_str(&mut body, name);
        put_map(&mut body, values);
        let rec = record(op::METADATA, &body);
        self.metadata
            .push((self.pos, rec.len() as u64, name.to_string()));
        self.put(&rec)
    }

    /// Writes a chunk (built with the same [`ClipChannels`]) and its
    /// message indexes.
    pub fn write_chunk(&mut self, chunk: &Chunk) -> io::Result<()> {
        let start = self.pos;
        let mut head = Vec::with_capacity(64);
        head.push(op::CHUNK);
        let body = 8 + 8 + 8 + 4 + 4 + chunk.compression.len() + 8 + chunk.data.len();
        put_u64(&mut head, body as u64);
        put_u64(&mut head, chunk.times.0);
        put_u64(&mut head, chunk.times.1);
        put_u64(&mut head, chunk.uncompressed_size);
        put_u32(&mut head, chunk.crc);
        put_str(&mut head, chunk.compression);
        put_u64(&mut head, chunk.data.len() as u64);
        self.put(&head)?;
        self.out.write_all(&chunk.data)?;
        self.crc.combine(&chunk.data_crc);
        self.pos += chunk.data.len() as u64;
        let indexes = self.pos;
        self.put(&chunk.message_indexes)?;
        self.chunk_indexes.push(ChunkIndex {
            times: chunk.times,
            start,
            length: indexes - start,
            index_offsets: chunk
                .index_offsets
                .iter()
                .map(|&(c, at)| (c, indexes + at))
                .collect(),
            index_length: chunk.message_indexes.len() as u64,
            compression: chunk.compression,
            compressed_size: chunk.data.len() as u64,
            uncompressed_size: chunk.uncompressed_size,
        });
        for &(c, n) in &chunk.counts {
            *self.counts.entry(c).or_default() += n;
        }
        if !chunk.counts.is_empty() {
            self.times = Some(match self.times {
                None => chunk.times,
                Some((a, b)) => (a.min(chunk.times.0), b.max(chunk.times.1)),
            });
        }
        Ok(())
    }

    /// Ends the clip (the data end, the summary, the footer) and gives
    /// back the output.
    pub fn finish(mut self) -> io::Result<(W, ClipStats)> {
        let mut data_end = Vec::new();
        put_u32(&mut data_end, self.crc.clone().finalize());
        let data_end = record(op::DATA_END, &data_end);
        self.out.write_all(&data_end)?;
        self.pos += data_end.len() as u64;

        // The summary: each group of records, then an offset record per group.
        let summary_start = self.pos;
        let mut summary = Vec::new();
        let mut groups = Vec::new();
        let mut group = |summary: &mut Vec<u8>, opcode: u8, start: usize| {
            if summary.len() > start {
                groups.push((
                    opcode,
                    summary_start + start as u64,
                    (summary.len() - start) as u64,
                ));
            }
        };
        let at = summary.len();
        summary.extend_from_slice(&self.channels.schema_records);
        group(&mut summary, op::SCHEMA, at);
        let at = summary.len();
        summary.extend_from_slice(&self.channels.channel_records);
        group(&mut summary, op::CHANNEL, at);

        let at = summary.len();
        let (first, last) = self.times.unwrap_or((0, 0));
        let mut st = Vec::new();
        put_u64(&mut st, self.counts.values().sum());
        put_u16(&mut st, self.channels.schema_count);
        put_u32(&mut st, self.channels.channel_count);
        put_u32(&mut st, 0); // attachments
        put_u32(&mut st, self.metadata.len() as u32);
        put_u32(&mut st, self.chunk_indexes.len() as u32);
        put_u64(&mut st, first);
        put_u64(&mut st, last);
        put_u32(&mut st, 10 * self.counts.len() as u32);
        for (&c, &n) in &self.counts {
            put_u16(&mut st, c);
            put_u64(&mut st, n);
        }
        summary.extend_from_slice(&record(op::STATISTICS, &st));
        group(&mut summary, op::STATISTICS, at);

        let at = summary.len();
        for c in &self.chunk_indexes {
            let mut b = Vec::new();
            put_u64(&mut b, c.times.0);
            put_u64(&mut b, c.times.1);
            put_u64(&mut b, c.start);
            put_u64(&mut b, c.length);
            put_u32(&mut b, 10 * c.index_offsets.len() as u32);
            for &(channel, offset) in &c.index_offsets {
                put_u16(&mut b, channel);
                put_u64(&mut b, offset);
            }
            put_u64(&mut b, c.index_length);
            put_str(&mut b, c.compression);
            put_u64(&mut b, c.compressed_size);
            put_u64(&mut b, c.uncompressed_size);
            summary.extend_from_slice(&record(op::CHUNK_INDEX, &b));
        }
        group(&mut summary, op::CHUNK_INDEX, at);

        let at = summary.len();
        for (offset, length, name) in &self.metadata {
            let mut b = Vec::new();
            put_u64(&mut b, *offset);
            put_u64(&mut b, *length);
            put_str(&mut b, name);
            summary.extend_from_slice(&record(op::METADATA_INDEX, &b));
        }
        group(&mut summary, op::METADATA_INDEX, at);

        let summary_offset_start = summary_start + summary.len() as u64;
        for (opcode, start, length) in groups {
            let mut b = vec![opcode];
            put_u64(&mut b, start);
            put_u64(&mut b, length);
            summary.extend_from_slice(&record(op::SUMMARY_OFFSET, &b));
        }
        // The footer: its CRC covers the summary and the footer up to it.
        summary.push(op::FOOTER);
        put_u64(&mut summary, 8 + 8 + 4);
        put_u64(&mut summary, summary_start);
        put_u64(&mut summary, summary_offset_start);
        let crc = crc32fast::hash(&summary);
        put_u32(&mut summary, crc);
        summary.extend_from_slice(mcap::MAGIC);
        self.out.write_all(&summary)?;
        self.out.flush()?;
        self.pos += summary.len() as u64;
        let stats = ClipStats {
            messages: self.counts.values().sum(),
            bytes: self.pos,
        };
        Ok((self.out, stats))
    }
}

// MCAP's primitive encodings (little-endian; strings and byte arrays with
// a u32 length; maps with a u32 length in bytes).

/// A record: opcode, u64 length, body.
fn record(opcode: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + body.len());
    out.push(opcode);
    put_u64(&mut out, body.len() as u64);
    out.extend_from_slice(body);
    out
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

fn put_map(out: &mut Vec<u8>, map: &BTreeMap<String, String>) {
    let len: usize = map.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
    put_u32(out, len as u32);
    for (k, v) in map {
        put_str(out, k);
        put_str(out, v);
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

    /// A clip of `messages` (key, time, text) in one chunk per `per_chunk`
    /// messages, with one metadata record.
    fn clip_of(
        channels: &ClipChannels,
        messages: &[(u32, u64, &str)],
        per_chunk: usize,
        compress: bool,
    ) -> (Vec<u8>, ClipStats) {
        let mut w = ClipWriter::new(Vec::new(), PROFILE_ROS1, "bagpipe test", channels).unwrap();
        w.write_metadata(
            "bagpipe.scene",
            &BTreeMap::from([("scene_id".to_string(), "s1".to_string())]),
        )
        .unwrap();
        for part in messages.chunks(per_chunk) {
            let mut c = ChunkBuilder::new();
            for &(key, t, text) in part {
                c.push(channels.id(key).unwrap(), t, &string_msg(text));
            }
            w.write_chunk(&c.finish(compress).unwrap()).unwrap();
        }
        w.finish().unwrap()
    }

    /// Checks the data section's CRC (in the data end record, which ends
    /// where the summary starts) and the summary's (in the footer).
    fn check_crcs(bytes: &[u8]) {
        let footer = bytes.len() - 8 - 29;
        assert_eq!(bytes[footer], op::FOOTER);
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let summary_start = u64_at(footer + 9) as usize;
        let data_end = summary_start - 13;
        assert_eq!(bytes[data_end], op::DATA_END);
        assert_eq!(u32_at(data_end + 9), crc32fast::hash(&bytes[..data_end]));
        assert_eq!(
            u32_at(footer + 25),
            crc32fast::hash(&bytes[summary_start..footer + 25])
        );
    }

    #[test]
    fn a_clip_reads_back_with_its_channels_messages_and_summary() {
        let (a, b) = (channel("/a"), channel("/a"));
        let channels = ClipChannels::new([(7, &a), (9, &b)]).unwrap();
        let (bytes, stats) = clip_of(
            &channels,
            &[(7, 10, "one"), (9, 20, "two"), (7, 15, "three")],
            2,
            true,
        );
        assert_eq!(stats.messages, 3);
        assert_eq!(stats.bytes, bytes.len() as u64);
        check_crcs(&bytes);

        let summary = mcap::Summary::read(&bytes).unwrap().expect("a summary");
        let st = summary.stats.as_ref().expect("statistics");
        assert_eq!(st.message_count, 3);
        assert_eq!((st.message_start_time, st.message_end_time), (10, 20));
        assert_eq!(st.chunk_count, 2);
        assert_eq!(st.metadata_count, 1);
        assert_eq!(st.channel_message_counts, BTreeMap::from([(0, 2), (1, 1)]));
        // Two connections with the same content stay two channels, of one
        // schema.
        assert_eq!(summary.channels.len(), 2);
        assert_eq!((st.channel_count, st.schema_count), (2, 1));
        assert_eq!(summary.schemas.len(), 1);
        assert_eq!(summary.metadata_indexes.len(), 1);
        assert_eq!(summary.chunk_indexes.len(), 2);
        assert!(
            summary
                .chunk_indexes
                .iter()
                .all(|c| c.compression == "zstd")
        );
        let ch = &summary.channels[&0];
        assert_eq!(ch.topic, "/a");
        assert_eq!(ch.message_encoding, "ros1");
        assert_eq!(ch.metadata["latching"], "false");
        let schema = ch.schema.as_ref().unwrap();
        assert_eq!(
            (schema.name.as_ref(), schema.encoding.as_ref()),
            ("std_msgs/String", "ros1msg")
        );
        assert_eq!(schema.data.as_ref(), b"string data\n");

        // The messages in file order, the chunk indexes pointing at their
        // chunks and the message indexes at their messages.
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
        let mut seen = Vec::new();
        for index in &summary.chunk_indexes {
            for m in summary.stream_chunk(&bytes, index).unwrap() {
                seen.push(m.unwrap().log_time);
            }
            for (_, entries) in summary.read_message_indexes(&bytes, index).unwrap() {
                for e in entries {
                    let m = summary.seek_message(&bytes, index, &e).unwrap();
                    assert_eq!(m.log_time, e.log_time);
                }
            }
        }
        assert_eq!(seen, vec![10, 20, 15]);
        // The metadata record, where its index says.
        let meta = &summary.metadata_indexes[0];
        assert_eq!(meta.name, "bagpipe.scene");
        let m = mcap::read::metadata(&bytes, meta).unwrap();
        assert_eq!(m.metadata["scene_id"], "s1");
    }

    #[test]
    fn a_chunk_written_into_two_clips_reads_back_in_both() {
        let a = channel("/a");
        let channels = ClipChannels::new([(1, &a)]).unwrap();
        let mut shared = ChunkBuilder::new();
        shared.push(0, 5, &string_msg("shared"));
        let shared = shared.finish(true).unwrap();
        let clip = |before: &[&str]| {
            let mut w =
                ClipWriter::new(Vec::new(), PROFILE_ROS1, "bagpipe test", &channels).unwrap();
            for (i, text) in before.iter().enumerate() {
                let mut c = ChunkBuilder::new();
                c.push(0, i as u64, &string_msg(text));
                w.write_chunk(&c.finish(true).unwrap()).unwrap();
            }
            w.write_chunk(&shared).unwrap();
            w.finish().unwrap().0
        };
        for bytes in [clip(&[]), clip(&["a", "longer one"])] {
            check_crcs(&bytes);
            let summary = mcap::Summary::read(&bytes).unwrap().unwrap();
            let last = summary.chunk_indexes.last().unwrap();
            let m: Vec<_> = summary
                .stream_chunk(&bytes, last)
                .unwrap()
                .map(|m| m.unwrap().data.into_owned())
                .collect();
            assert_eq!(m, vec![string_msg("shared")]);
            let (_, entries) = summary
                .read_message_indexes(&bytes, last)
                .unwrap()
                .into_iter()
                .next()
                .unwrap();
            let m = summary.seek_message(&bytes, last, &entries[0]).unwrap();
            assert_eq!(m.data.as_ref(), string_msg("shared"));
        }
    }

    #[test]
    fn a_clip_not_compressed_stores_its_chunks_and_reads_back_the_same() {
        let a = channel("/a");
        let channels = ClipChannels::new([(1, &a)]).unwrap();
        let messages: Vec<(u32, u64, &str)> = (0..100u64)
            .map(|t| (1, t, "the same text, again and again"))
            .collect();
        let (bytes, _) = clip_of(&channels, &messages, 30, false);
        check_crcs(&bytes);
        let summary = mcap::Summary::read(&bytes).unwrap().expect("a summary");
        assert_eq!(summary.chunk_indexes.len(), 4);
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
    fn a_clip_without_messages_still_reads_back() {
        let a = channel("/a");
        let channels = ClipChannels::new([(1, &a)]).unwrap();
        let (bytes, stats) = clip_of(&channels, &[], 1, true);
        assert_eq!(stats.messages, 0);
        let summary = mcap::Summary::read(&bytes).unwrap().expect("a summary");
        assert_eq!(summary.stats.unwrap().message_count, 0);
        assert_eq!(summary.channels.len(), 1);
        assert_eq!(mcap::MessageStream::new(&bytes).unwrap().count(), 0);
    }

    #[test]
    fn the_same_input_gives_the_same_bytes() {
        let a = channel("/a");
        let channels = ClipChannels::new([(1, &a)]).unwrap();
        let texts: Vec<String> = (0..1000).map(|t| format!("message {t}")).collect();
        let messages: Vec<(u32, u64, &str)> = texts
            .iter()
            .enumerate()
            .map(|(t, s)| (1, t as u64, s.as_str()))
            .collect();
        let cut = || clip_of(&channels, &messages, 100, true).0;
        assert_eq!(cut(), cut());
    }

    #[test]
    fn a_key_never_added_has_no_channel() {
        let a = channel("/a");
        let channels = ClipChannels::new([(1, &a)]).unwrap();
        assert_eq!(channels.id(1), Some(0));
        assert_eq!(channels.id(3), None);
    }
}
