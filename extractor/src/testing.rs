//! Builds ROS bag v2.0 files in memory, for tests and fuzz seeds.
//!
//! [`BagBuilder`] writes what `rosbag record` writes: the bag header record
//! padded to 4096 bytes, chunks (none, bz2 or lz4) holding each connection's
//! record before its first message, index data records after each chunk,
//! and the index section (connection records, then chunk infos) at the end.
//! Header fields are written in name order, as rosbag's C++ writer (a
//! `std::map`) does. Tests corrupt the result at known offsets
//! ([`BagBuilder::build_with_offsets`]) to exercise every recovery path.

use std::collections::BTreeMap;
use std::io::Write;

use crate::container::ros1::records::{
    self, Compression, Connection, OP_BAG_HEADER, OP_CHUNK, OP_CHUNK_INFO, OP_CONNECTION,
    OP_INDEX_DATA, OP_MSG_DATA,
};

/// rosbag's default chunk threshold: a chunk is closed once its
/// uncompressed records reach this size.
pub const DEFAULT_CHUNK_THRESHOLD: usize = 768 * 1024;

/// rosbag pads the bag header record's header plus data to this size, so
/// that it can be rewritten in place when the bag is closed.
const BAG_HEADER_LEN: usize = 4096;

/// Builder of a v2.0 bag. Connections and messages are written in the
/// order they are added; times need not be sorted.
#[derive(Debug, Clone)]
pub struct BagBuilder {
    compression: Compression,
    chunk_threshold: usize,
    index: bool,
    connections: Vec<Connection>,
    messages: Vec<(u32, u64, Vec<u8>)>,
}

impl Default for BagBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// A built bag and where its parts are.
#[derive(Debug, Clone)]
pub struct BuiltBag {
    pub bytes: Vec<u8>,
    /// File offset of each chunk record, in file order.
    pub chunk_offsets: Vec<u64>,
    /// Offset of the index section (`None` when built without one).
    pub index_pos: Option<u64>,
}

impl BagBuilder {
    /// An empty bag: uncompressed chunks of rosbag's default size, indexed.
    pub fn new() -> Self {
        Self {
            compression: Compression::None,
            chunk_threshold: DEFAULT_CHUNK_THRESHOLD,
            index: true,
            connections: Vec::new(),
            messages: Vec::new(),
        }
    }

    /// Compression of every chunk.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Starts a new chunk once the current one holds `bytes` uncompressed
    /// bytes (1 gives one chunk per message).
    pub fn chunk_threshold(mut self, bytes: usize) -> Self {
        self.chunk_threshold = bytes.max(1);
        self
    }

    /// Whether to write the index section. Without it the bag looks like a
    /// recorder that stopped mid-write: `index_pos`, `conn_count` and
    /// `chunk_count` are 0 and the file ends after the last chunk's index
    /// data records.
    pub fn with_index(mut self, index: bool) -> Self {
        self.index = index;
        self
    }

    /// Adds a connection (not latched, no caller id).
    pub fn connection(
        self,
        id: u32,
        topic: &str,
        datatype: &str,
        md5sum: &str,
        definition: &str,
    ) -> Self {
        self.connection_record(Connection {
            id,
            topic: topic.to_string(),
            datatype: datatype.to_string(),
            md5sum: md5sum.to_string(),
            message_definition: definition.to_string(),
            callerid: None,
            latching: false,
        })
    }

    /// Adds a connection given in full. A connection with no message is
    /// written only to the index section (rosbag would not write it at all).
    pub fn connection_record(mut self, connection: Connection) -> Self {
        self.connections.push(connection);
        self
    }

    /// Adds a message on connection `conn` received at `time_ns`.
    ///
    /// # Panics
    /// When `time_ns` is past what a ROS time holds (`u32` seconds) or
    /// `conn` was never added: test input is expected to be valid.
    pub fn message(mut self, conn: u32, time_ns: u64, data: &[u8]) -> Self {
        assert!(
            self.connections.iter().any(|c| c.id == conn),
            "message on unknown connection {conn}"
        );
        assert!(
            time_ns / 1_000_000_000 <= u64::from(u32::MAX),
            "time {time_ns} does not fit a ROS time"
        );
        self.messages.push((conn, time_ns, data.to_vec()));
        self
    }

    /// The bag's bytes.
    pub fn build(&self) -> Vec<u8> {
        self.build_bag().bytes
    }

    /// The bag's bytes and the file offset of each chunk record.
    pub fn build_with_offsets(&self) -> (Vec<u8>, Vec<u64>) {
        let built = self.build_bag();
        (built.bytes, built.chunk_offsets)
    }

    /// The bag's bytes and where its chunks and index are.
    pub fn build_bag(&self) -> BuiltBag {
        let mut out = Vec::new();
        out.extend_from_slice(crate::container::ros1::bag::MAGIC);
        // Written once with placeholders, patched in place at the end, as rosbag does.
        let header_pos = out.len();
        write_bag_header(&mut out, 0, 0, 0);

        let mut written: Vec<u32> = Vec::new();
        let mut chunk_offsets = Vec::new();
        let mut chunk_infos = Vec::new();
        let mut chunk = OpenChunk::default();
        for (conn, time_ns, data) in &self.messages {
            if !written.contains(conn) {
                written.push(*conn);
                if let Some(c) = self.connections.iter().find(|c| c.id == *conn) {
                    write_connection(&mut chunk.buf, c);
                }
            }
            chunk.add_message(*conn, *time_ns, data);
            if chunk.buf.len() >= self.chunk_threshold {
                let c = std::mem::take(&mut chunk);
                chunk_infos.push(c.write(&mut out, self.compression));
                chunk_offsets.push(chunk_infos.last().map_or(0, |i| i.chunk_pos));
            }
        }
        if !chunk.buf.is_empty() {
            chunk_infos.push(chunk.write(&mut out, self.compression));
            chunk_offsets.push(chunk_infos.last().map_or(0, |i| i.chunk_pos));
        }

        let mut index_pos = None;
        if self.index {
            let pos = out.len() as u64;
            index_pos = Some(pos);
            for c in &self.connections {
                write_connection(&mut out, c);
            }
            for info in &chunk_infos {
                info.write(&mut out);
            }
            let mut header = Vec::new();
            write_bag_header(
                &mut header,
                pos,
                self.connections.len() as u32,
                chunk_infos.len() as u32,
            );
            out[header_pos..header_pos + header.len()].copy_from_slice(&header);
        }
        BuiltBag {
            bytes: out,
            chunk_offsets,
            index_pos,
        }
    }
}

/// The records of the chunk being filled.
#[derive(Default)]
struct OpenChunk {
    buf: Vec<u8>,
    /// Per connection: (time_ns, offset of the message record in `buf`).
    index: BTreeMap<u32, Vec<(u64, u32)>>,
    start: Option<u64>,
    end: Option<u64>,
}

impl OpenChunk {
    fn add_message(&mut self, conn: u32, time_ns: u64, data: &[u8]) {
        let offset = self.buf.len() as u32;
        let hdr = header(&[
            (records::FIELD_CONN, &conn.to_le_bytes()[..]),
            (records::FIELD_OP, &[OP_MSG_DATA][..]),
            (records::FIELD_TIME, &time_bytes(time_ns)[..]),
        ]);
        write_record(&mut self.buf, &hdr, data);
        self.index.entry(conn).or_default().push((time_ns, offset));
        self.start = Some(self.start.map_or(time_ns, |s| s.min(time_ns)));
        self.end = Some(self.end.map_or(time_ns, |e| e.max(time_ns)));
    }

    /// Writes the chunk record and its index data records to `out`.
    fn write(self, out: &mut Vec<u8>, compression: Compression) -> ChunkInfoOut {
        let chunk_pos = out.len() as u64;
        let data = compress(compression, &self.buf);
        let hdr = header(&[
            (records::FIELD_COMPRESSION, compression.as_str().as_bytes()),
            (records::FIELD_OP, &[OP_CHUNK][..]),
            (
                records::FIELD_SIZE,
                &(self.buf.len() as u32).to_le_bytes()[..],
            ),
        ]);
        write_record(out, &hdr, &data);
        let mut counts = Vec::new();
        for (conn, entries) in &self.index {
            let hdr = header(&[
                (records::FIELD_CONN, &conn.to_le_bytes()[..]),
                (
                    records::FIELD_COUNT,
                    &(entries.len() as u32).to_le_bytes()[..],
                ),
                (records::FIELD_OP, &[OP_INDEX_DATA][..]),
                (records::FIELD_VER, &1u32.to_le_bytes()[..]),
            ]);
            let mut data = Vec::new();
            for (time_ns, offset) in entries {
                data.extend_from_slice(&time_bytes(*time_ns));
                data.extend_from_slice(&offset.to_le_bytes());
            }
            write_record(out, &hdr, &data);
            counts.push((*conn, entries.len() as u32));
        }
        ChunkInfoOut {
            chunk_pos,
            start: self.start.unwrap_or(0),
            end: self.end.unwrap_or(0),
            counts,
        }
    }
}

struct ChunkInfoOut {
    chunk_pos: u64,
    start: u64,
    end: u64,
    counts: Vec<(u32, u32)>,
}

impl ChunkInfoOut {
    fn write(&self, out: &mut Vec<u8>) {
        let hdr = header(&[
            (records::FIELD_CHUNK_POS, &self.chunk_pos.to_le_bytes()[..]),
            (
                records::FIELD_COUNT,
                &(self.counts.len() as u32).to_le_bytes()[..],
            ),
            (records::FIELD_END_TIME, &time_bytes(self.end)[..]),
            (records::FIELD_OP, &[OP_CHUNK_INFO][..]),
            (records::FIELD_START_TIME, &time_bytes(self.start)[..]),
            (records::FIELD_VER, &1u32.to_le_bytes()[..]),
        ]);
        let mut data = Vec::new();
        for (conn, count) in &self.counts {
            data.extend_from_slice(&conn.to_le_bytes());
            data.extend_from_slice(&count.to_le_bytes());
        }
        write_record(out, &hdr, &data);
    }
}

/// Compresses a chunk's records as rosbag does (lz4: the frame format).
pub fn compress(compression: Compression, data: &[u8]) -> Vec<u8> {
    match compression {
        Compression::None => data.to_vec(),
        Compression::Bz2 => {
            let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            enc.write_all(data).expect("writing to a Vec cannot fail");
            enc.finish().expect("writing to a Vec cannot fail")
        }
        Compression::Lz4 => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
            enc.write_all(data).expect("writing to a Vec cannot fail");
            enc.finish().expect("writing to a Vec cannot fail")
        }
        Compression::Zstd => zstd::encode_all(data, 3).expect("writing to a Vec cannot fail"),
    }
}

/// Appends the bag header record, padded to 4096 bytes as rosbag writes it
/// (so it can be rewritten in place once the index position is known).
pub fn write_bag_header(out: &mut Vec<u8>, index_pos: u64, conn_count: u32, chunk_count: u32) {
    let hdr = header(&[
        (records::FIELD_CHUNK_COUNT, &chunk_count.to_le_bytes()[..]),
        (records::FIELD_CONN_COUNT, &conn_count.to_le_bytes()[..]),
        (records::FIELD_INDEX_POS, &index_pos.to_le_bytes()[..]),
        (records::FIELD_OP, &[OP_BAG_HEADER][..]),
    ]);
    let padding = vec![b' '; BAG_HEADER_LEN.saturating_sub(hdr.len())];
    write_record(out, &hdr, &padding);
}

/// Appends a connection record.
pub fn write_connection(out: &mut Vec<u8>, c: &Connection) {
    let hdr = header(&[
        (records::FIELD_CONN, &c.id.to_le_bytes()[..]),
        (records::FIELD_OP, &[OP_CONNECTION][..]),
        (records::FIELD_TOPIC, c.topic.as_bytes()),
    ]);
    let mut fields: Vec<(&str, &[u8])> = Vec::new();
    if let Some(callerid) = &c.callerid {
        fields.push((records::FIELD_CALLERID, callerid.as_bytes()));
    }
    if c.latching {
        fields.push((records::FIELD_LATCHING, b"1"));
    }
    fields.push((records::FIELD_MD5SUM, c.md5sum.as_bytes()));
    fields.push((
        records::FIELD_MESSAGE_DEFINITION,
        c.message_definition.as_bytes(),
    ));
    fields.push((records::FIELD_TOPIC, c.topic.as_bytes()));
    fields.push((records::FIELD_TYPE, c.datatype.as_bytes()));
    write_record(out, &hdr, &header(&fields));
}

/// A record header from `(name, value)` fields, in the order given.
pub fn header(fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in fields {
        h.extend_from_slice(&((name.len() + 1 + value.len()) as u32).to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        h.push(b'=');
        h.extend_from_slice(value);
    }
    h
}

/// Appends `<header_len><header><data_len><data>`.
pub fn write_record(out: &mut Vec<u8>, header: &[u8], data: &[u8]) {
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
}

/// The header of the record that starts at `offset` in `bag` (the
/// `<header>` of [`write_record`]'s layout), for checks of where a record is.
pub fn record_header_at(bag: &[u8], offset: u64) -> &[u8] {
    let at = usize::try_from(offset).expect("an offset inside a bag in memory");
    let len = u32::from_le_bytes(bag[at..at + 4].try_into().expect("4 bytes")) as usize;
    &bag[at + 4..at + 4 + len]
}

/// A ROS time (`sec` u32 LE, `nsec` u32 LE) from nanoseconds.
pub fn time_bytes(time_ns: u64) -> [u8; 8] {
    let sec = (time_ns / 1_000_000_000) as u32;
    let nsec = (time_ns % 1_000_000_000) as u32;
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&sec.to_le_bytes());
    b[4..].copy_from_slice(&nsec.to_le_bytes());
    b
}
