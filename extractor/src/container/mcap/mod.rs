//! MCAP files: profile `ros2` (CDR messages, `ros2msg`/`ros2idl` schemas),
//! profile `ros1` (ROS1 messages and definitions), and any other channel
//! (counted, left to the caller to refuse).
//!
//! [`records`] parses records from bytes (no I/O); this module reads them
//! over [`ReadAt`], so a file on S3 is read by ranged GETs as a ROS1 bag is.
//! Two paths lead to the layout, as for ROS1:
//!
//! * **Summary**: the footer (the last 37 bytes) points at the summary
//!   section, whose schemas, channels and chunk indexes say where
//!   everything is. It is trusted when it parses whole, indexes at least
//!   one chunk, every chunk index points at a chunk record inside the data
//!   section with the same sizes, every channel a chunk names is defined,
//!   and the data between chunks holds no message.
//! * **Scan**: otherwise (no footer or summary, a truncated file, a summary
//!   that lies, messages outside chunks), the records are walked from the
//!   start. Every chunk is decompressed once to learn its channels (a
//!   chunk that does not decompress, fails its CRC or is cut short is
//!   skipped with a warning naming where its record starts); runs of
//!   message records outside chunks become units of their own.
//!
//! Chunks are decompressed whole (never streamed out half-read), so a
//! damaged chunk is skipped whole.

pub mod records;

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use self::records::{
    self as rec, MESSAGE_HEADER_LEN, OP_CHANNEL, OP_CHUNK, OP_CHUNK_INDEX, OP_DATA_END, OP_FOOTER,
    OP_HEADER, OP_MESSAGE, OP_MESSAGE_INDEX, OP_METADATA, OP_METADATA_INDEX, OP_SCHEMA,
    OP_STATISTICS, RECORD_PREFIX, split_record,
};

use super::compression::{self, Compression};
use super::ros1::records::{MAX_CHUNK_LEN, MAX_RECORD_DATA_LEN};
use super::{
    Connection, Format, IndexMode, MCAP_MAGIC, MessageRef, Opened, Storage, Unit, UnitContents,
    UnitKind, Warning,
};
use crate::error::{Error, Result};
use crate::source::{ReadAt, read_vec};

/// The footer record and the closing magic.
const TAIL_LEN: u64 = RECORD_PREFIX + 20 + 8;
/// A chunk header's fixed fields: start, end, uncompressed size and CRC.
const CHUNK_FIXED_LEN: u64 = 8 + 8 + 8 + 4;
/// Largest summary section read in one piece (as for a ROS1 index).
pub const MAX_SUMMARY_LEN: u64 = 512 << 20;
/// Largest total of bytes between indexed chunks read to check that no
/// message hides there; past it the gaps are not checked.
const MAX_GAP_CHECK: u64 = 64 << 20;
/// Record bytes outside chunks gathered into one unit.
const RUN_BYTES: u64 = 16 << 20;
/// Uncompressed bytes decompressed at once by a scan.
const SCAN_GROUP_BYTES: u64 = 512 << 20;

/// Where a unit of an MCAP file is.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum McapUnit {
    /// A chunk record.
    Chunk {
        /// Where the chunk record starts (named in warnings).
        record_offset: u64,
        /// Where its compressed records start.
        data_offset: u64,
        compressed_len: u64,
        uncompressed_len: u64,
        compression: Compression,
        /// 0 when the writer left it out.
        crc: u32,
    },
    /// Records outside chunks, `[start, end)` of the file.
    Records { start: u64, end: u64 },
}

impl McapUnit {
    /// The byte range read.
    pub fn range(&self) -> (u64, u64) {
        match self {
            McapUnit::Chunk {
                data_offset,
                compressed_len,
                ..
            } => (*data_offset, *compressed_len),
            McapUnit::Records { start, end } => (*start, end - start),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            McapUnit::Chunk { record_offset, .. } => format!("chunk at offset {record_offset}"),
            McapUnit::Records { start, end } => {
                format!("records outside chunks at offsets {start} to {end}")
            }
        }
    }

    fn offset(&self) -> u64 {
        match self {
            McapUnit::Chunk { record_offset, .. } => *record_offset,
            McapUnit::Records { start, .. } => *start,
        }
    }
}

/// What the file says about itself, from either path.
#[derive(Default)]
struct Found {
    profile: Option<String>,
    library: Option<String>,
    schemas: HashMap<u16, rec::Schema>,
    /// In the order first met.
    channels: Vec<rec::Channel>,
    channel_index: HashMap<u16, usize>,
    units: Vec<Unit>,
    counts: BTreeMap<u16, u64>,
    warnings: Vec<Warning>,
    ros_distro: Option<String>,
}

impl Found {
    fn add_schema(&mut self, schema: rec::Schema, offset: u64) {
        let id = schema.id;
        if id == 0 {
            return; // Reserved: "no schema" (spec).
        }
        match self.schemas.get(&id) {
            Some(first) if *first != schema => self.warnings.push(Warning::at(
                offset,
                format!(
                    "schema {id} is defined again at offset {offset} differently ({}); the first definition is kept",
                    schema.name
                ),
            )),
            Some(_) => {}
            None => {
                self.schemas.insert(id, schema);
            }
        }
    }

    fn add_channel(&mut self, channel: rec::Channel, offset: u64) {
        match self.channel_index.get(&channel.id) {
            Some(&i) if self.channels[i] != channel => self.warnings.push(Warning::at(
                offset,
                format!(
                    "channel {} is defined again at offset {offset} differently (topic {}); the first definition is kept",
                    channel.id, channel.topic
                ),
            )),
            Some(_) => {}
            None => {
                self.channel_index.insert(channel.id, self.channels.len());
                self.channels.push(channel);
            }
        }
    }

    fn define(&mut self, d: Defined, offset: u64) {
        match d {
            Defined::Schema(s) => self.add_schema(s, offset),
            Defined::Channel(c) => self.add_channel(c, offset),
            Defined::Metadata(m) => self.add_metadata(&m),
        }
    }

    fn add_metadata(&mut self, m: &rec::Metadata) {
        if let Some(d) = m
            .metadata
            .get("ROS_DISTRO")
            .or_else(|| m.metadata.get("ros_distro"))
        {
            self.ros_distro.get_or_insert_with(|| d.clone());
        }
        if m.name == "rosbag2"
            && let Some(yaml) = m.metadata.get("serialized_metadata")
            && let Ok(meta) = super::rosbag2::parse_metadata(yaml)
            && let Some(d) = meta.ros_distro
        {
            self.ros_distro.get_or_insert(d);
        }
    }
}

/// Opens an MCAP file: from its summary when that can be trusted, else by
/// a scan.
pub(super) fn open(src: Box<dyn ReadAt>) -> Result<Opened> {
    let file_len = src.len();
    let mut found = Found::default();
    let header_end = read_header(src.as_ref(), &mut found)?;
    let mode = match from_summary(src.as_ref(), header_end, &mut found) {
        Ok(()) => IndexMode::Indexed,
        Err(Problem::Io(e)) => return Err(e),
        Err(Problem::Unusable(reason)) => {
            // Start again from what the header said.
            let mut fresh = Found {
                profile: found.profile.take(),
                library: found.library.take(),
                ..Found::default()
            };
            fresh.warnings.push(Warning::general(format!(
                "summary missing or unusable ({reason}): recovered by scanning"
            )));
            scan(
                src.as_ref(),
                header_end.unwrap_or(MCAP_MAGIC.len() as u64),
                file_len,
                &mut fresh,
            )?;
            found = fresh;
            IndexMode::Scanned { reason }
        }
    };
    let mut connections = Vec::new();
    let mut local_ids = Vec::new();
    let mut message_counts = BTreeMap::new();
    for ch in &found.channels {
        let schema = found.schemas.get(&ch.schema_id);
        if ch.schema_id != 0 && schema.is_none() {
            found.warnings.push(Warning::general(format!(
                "channel {} (topic {}) names schema {}, which the file does not define",
                ch.id, ch.topic, ch.schema_id
            )));
        }
        let meta = |k: &str| ch.metadata.get(k).cloned();
        connections.push(Connection {
            id: u32::from(ch.id),
            topic: ch.topic.clone(),
            datatype: schema.map(|s| s.name.clone()).unwrap_or_default(),
            encoding: ch.message_encoding.clone(),
            schema_encoding: schema.map(|s| s.encoding.clone()).unwrap_or_default(),
            definition: schema
                .map(|s| String::from_utf8_lossy(&s.data).into_owned())
                .unwrap_or_default(),
            md5sum: meta("md5sum"),
            type_hash: meta("topic_type_hash"),
            callerid: meta("callerid"),
            latching: matches!(meta("latching").as_deref(), Some("1" | "true")),
            qos: meta("offered_qos_profiles"),
            metadata: ch.metadata.clone(),
            file: 0,
        });
        local_ids.push(i64::from(ch.id));
        message_counts.insert(
            i64::from(ch.id),
            found.counts.get(&ch.id).copied().unwrap_or(0),
        );
    }
    Ok(Opened {
        format: Format::Mcap,
        connections,
        local_ids,
        connection_offsets: BTreeMap::new(),
        units: found.units,
        message_counts,
        mode,
        warnings: found.warnings,
        ros_distro: found.ros_distro,
        profile: found.profile,
        library: found.library,
        storage: Storage::Mcap {
            src,
            ids: HashMap::new(),
        },
    })
}

/// Why the summary was not used.
enum Problem {
    Io(Error),
    Unusable(String),
}

impl From<String> for Problem {
    fn from(reason: String) -> Self {
        Problem::Unusable(reason)
    }
}

/// An opcode and body length read from the file.
struct Head {
    op: u8,
    len: u64,
}

fn read_head(src: &dyn ReadAt, pos: u64) -> Result<Head> {
    let mut b = [0u8; RECORD_PREFIX as usize];
    src.read_exact_at(pos, &mut b).map_err(|source| Error::Io {
        offset: pos,
        len: RECORD_PREFIX,
        source,
    })?;
    Ok(Head {
        op: b[0],
        len: u64::from_le_bytes(b[1..9].try_into().expect("8 bytes")),
    })
}

/// Reads a record's body (capped), for records that are small.
fn read_body(src: &dyn ReadAt, pos: u64, len: u64, what: &'static str) -> Result<Vec<u8>> {
    read_vec(src, pos + RECORD_PREFIX, len, what, MAX_RECORD_DATA_LEN)
}

/// A record's body parsed, or why not (naming its offset).
fn parsed<T>(
    body: &[u8],
    offset: u64,
    f: fn(&[u8]) -> std::result::Result<T, String>,
) -> std::result::Result<T, String> {
    f(body).map_err(|e| format!("the record at offset {offset} does not parse: {e}"))
}

/// Reads the header record after the magic; returns where it ends (`None`
/// when there is none to read, and the scan starts after the magic).
fn read_header(src: &dyn ReadAt, found: &mut Found) -> Result<Option<u64>> {
    let start = MCAP_MAGIC.len() as u64;
    let file_len = src.len();
    if file_len < start + RECORD_PREFIX {
        return Ok(None);
    }
    let head = read_head(src, start)?;
    if head.op != OP_HEADER || head.len > file_len - start - RECORD_PREFIX {
        found.warnings.push(Warning::at(
            start,
            format!(
                "no header record after the magic (op {:#04x} at offset {start})",
                head.op
            ),
        ));
        return Ok(None);
    }
    let body = read_body(src, start, head.len, "MCAP header")?;
    if let Ok(h) = rec::header(&body) {
        found.profile = Some(h.profile);
        found.library = Some(h.library);
    }
    Ok(Some(start + RECORD_PREFIX + head.len))
}

/// The layout from the footer and summary, checked against the file.
fn from_summary(
    src: &dyn ReadAt,
    header_end: Option<u64>,
    found: &mut Found,
) -> std::result::Result<(), Problem> {
    let file_len = src.len();
    let data_start = header_end.ok_or("the file has no header record".to_string())?;
    if file_len < data_start + TAIL_LEN {
        return Err("the file is too short for a footer: it is truncated"
            .to_string()
            .into());
    }
    let tail = read_vec(src, file_len - TAIL_LEN, TAIL_LEN, "MCAP footer", TAIL_LEN)
        .map_err(Problem::Io)?;
    if &tail[TAIL_LEN as usize - 8..] != MCAP_MAGIC {
        return Err("the file does not end with the MCAP magic: it is truncated"
            .to_string()
            .into());
    }
    let footer_len = u64::from_le_bytes(tail[1..9].try_into().expect("8 bytes"));
    if tail[0] != OP_FOOTER || footer_len != 20 {
        return Err("the record before the closing magic is not a footer"
            .to_string()
            .into());
    }
    let summary_start = u64::from_le_bytes(tail[9..17].try_into().expect("8 bytes"));
    let summary_end = file_len - TAIL_LEN;
    if summary_start == 0 {
        return Err("the file has no summary".to_string().into());
    }
    if summary_start < data_start || summary_start > summary_end {
        return Err(format!(
            "the footer's summary_start {summary_start} is outside the file's data ({data_start} to {summary_end})"
        )
        .into());
    }
    let summary = read_vec(
        src,
        summary_start,
        summary_end - summary_start,
        "MCAP summary",
        MAX_SUMMARY_LEN,
    )
    .map_err(|e| match e {
        e @ Error::Io { .. } => Problem::Io(e),
        other => Problem::Unusable(format!("the summary is unusable: {other}")),
    })?;
    let mut indexes: Vec<rec::ChunkIndex> = Vec::new();
    let mut statistics = None;
    let mut metadata_indexes = Vec::new();
    let mut pos = 0usize;
    while pos < summary.len() {
        let offset = summary_start + pos as u64;
        let (op, body, next) = split_record(&summary, pos)
            .map_err(|e| format!("the summary does not parse at offset {offset}: {e}"))?;
        pos = next;
        match op {
            OP_SCHEMA => found.add_schema(parsed(body, offset, rec::schema)?, offset),
            OP_CHANNEL => found.add_channel(parsed(body, offset, rec::channel)?, offset),
            OP_CHUNK_INDEX => indexes.push(parsed(body, offset, rec::chunk_index)?),
            OP_STATISTICS => statistics = Some(parsed(body, offset, rec::statistics)?),
            OP_METADATA_INDEX => {
                metadata_indexes.push(parsed(body, offset, rec::metadata_index)?);
            }
            _ => {}
        }
    }
    if indexes.is_empty() {
        return Err(
            "the summary indexes no chunk (messages outside chunks are found by scanning)"
                .to_string()
                .into(),
        );
    }
    indexes.sort_by_key(|c| c.chunk_start_offset);
    let mut end_of_previous = data_start;
    let mut gaps: Vec<(u64, u64)> = Vec::new();
    for c in &indexes {
        let at = c.chunk_start_offset;
        let end = at.saturating_add(c.chunk_length);
        if at < end_of_previous || end > summary_start {
            return Err(format!(
                "the chunk index for offset {at} (length {}) overlaps another chunk or leaves the data section",
                c.chunk_length
            )
            .into());
        }
        if Compression::parse_mcap(&c.compression).is_none() {
            return Err(format!(
                "the chunk at offset {at} has an unknown compression {:?}",
                c.compression
            )
            .into());
        }
        for ch in c.message_index_offsets.keys() {
            if !found.channel_index.contains_key(ch) {
                return Err(format!(
                    "the chunk at offset {at} holds messages of channel {ch}, which the summary does not define"
                )
                .into());
            }
        }
        if at > end_of_previous {
            gaps.push((end_of_previous, at));
        }
        end_of_previous = end.saturating_add(c.message_index_length);
    }
    if end_of_previous < summary_start {
        gaps.push((end_of_previous, summary_start));
    }
    // Every index must point at a chunk record with the same sizes: one
    // small read per chunk, fetched ahead by a remote source.
    let heads: Vec<(u64, u64)> = indexes
        .iter()
        .map(|c| (c.chunk_start_offset, 64.min(c.chunk_length)))
        .collect();
    src.prefetch(&heads);
    let checked: Vec<std::result::Result<Unit, Problem>> =
        indexes.par_iter().map(|c| check_chunk(src, c)).collect();
    for unit in checked {
        found.units.push(unit?);
    }
    check_gaps(src, &gaps, found)?;
    match statistics {
        Some(s) => found.counts = s.channel_message_counts,
        None => count_from_message_indexes(src, &indexes, found).map_err(Problem::Io)?,
    }
    for m in metadata_indexes {
        if m.offset < summary_start
            && let Ok(head) = read_head(src, m.offset)
            && head.op == OP_METADATA
            && let Ok(body) = read_body(src, m.offset, head.len, "MCAP metadata")
            && let Ok(meta) = rec::metadata(&body)
        {
            found.add_metadata(&meta);
        }
    }
    Ok(())
}

/// Checks that a chunk index points at a chunk record that says the same.
fn check_chunk(src: &dyn ReadAt, c: &rec::ChunkIndex) -> std::result::Result<Unit, Problem> {
    let at = c.chunk_start_offset;
    let lie = |what: String| Problem::Unusable(format!("the chunk index for offset {at}: {what}"));
    let head = read_head(src, at).map_err(Problem::Io)?;
    if head.op != OP_CHUNK {
        return Err(lie(format!(
            "the record there has op {:#04x}, not a chunk",
            head.op
        )));
    }
    if head.len.saturating_add(RECORD_PREFIX) != c.chunk_length {
        return Err(lie(format!(
            "the chunk record is {} bytes long, the index says {}",
            head.len + RECORD_PREFIX,
            c.chunk_length
        )));
    }
    let header = read_chunk_header(src, at, head.len).map_err(|e| match e {
        e @ Error::Io { .. } => Problem::Io(e),
        other => lie(other.to_string()),
    })?;
    if header.compressed_len != c.compressed_size
        || header.uncompressed_len != c.uncompressed_size
        || header.compression_name != c.compression
    {
        return Err(lie(
            "the chunk's header and its index disagree on its sizes or compression".to_string(),
        ));
    }
    let has_messages = !c.message_index_offsets.is_empty();
    Ok(chunk_unit(
        at,
        &header,
        has_messages.then_some((c.message_start_time, c.message_end_time)),
        Some(
            c.message_index_offsets
                .keys()
                .map(|&ch| i64::from(ch))
                .collect(),
        ),
    ))
}

/// A chunk record's header fields.
struct ChunkHead {
    uncompressed_len: u64,
    crc: u32,
    compression_name: String,
    compression: Compression,
    data_offset: u64,
    compressed_len: u64,
}

/// Reads a chunk record's header (not its data) and checks its lengths
/// against the record's and the caps.
fn read_chunk_header(src: &dyn ReadAt, at: u64, record_len: u64) -> Result<ChunkHead> {
    let fail = |reason: String| Error::Chunk { offset: at, reason };
    let body_start = at + RECORD_PREFIX;
    let fixed = read_vec(src, body_start, CHUNK_FIXED_LEN + 4, "chunk header", 64)?;
    let u64_at = |i: usize| u64::from_le_bytes(fixed[i..i + 8].try_into().expect("8 bytes"));
    let name_len = u64::from(u32::from_le_bytes(
        fixed[28..32].try_into().expect("4 bytes"),
    ));
    if name_len > 64 {
        return Err(fail(format!(
            "its compression name is {name_len} bytes long"
        )));
    }
    let rest = read_vec(
        src,
        body_start + CHUNK_FIXED_LEN + 4,
        name_len + 8,
        "chunk header",
        72,
    )?;
    let name = String::from_utf8_lossy(&rest[..name_len as usize]).into_owned();
    let compressed_len = u64::from_le_bytes(rest[name_len as usize..].try_into().expect("8 bytes"));
    let data_offset = body_start + CHUNK_FIXED_LEN + 4 + name_len + 8;
    let uncompressed_len = u64_at(16);
    if data_offset.saturating_add(compressed_len) > body_start.saturating_add(record_len) {
        return Err(fail(format!(
            "its {compressed_len} bytes of records run past the end of its record"
        )));
    }
    if compressed_len > MAX_CHUNK_LEN || uncompressed_len > MAX_CHUNK_LEN {
        return Err(fail(format!(
            "it claims {compressed_len} compressed and {uncompressed_len} uncompressed bytes, over the cap of {MAX_CHUNK_LEN}"
        )));
    }
    let compression = Compression::parse_mcap(&name)
        .ok_or_else(|| fail(format!("unknown compression {name:?}")))?;
    Ok(ChunkHead {
        uncompressed_len,
        crc: u32::from_le_bytes(fixed[24..28].try_into().expect("4 bytes")),
        compression_name: name,
        compression,
        data_offset,
        compressed_len,
    })
}

fn chunk_unit(
    at: u64,
    h: &ChunkHead,
    times: Option<(u64, u64)>,
    connections: Option<Vec<i64>>,
) -> Unit {
    Unit {
        file: 0,
        offset: at,
        read_len: h.compressed_len,
        size: h.uncompressed_len,
        compression: h.compression,
        start_time_ns: times.map(|t| t.0),
        end_time_ns: times.map(|t| t.1),
        connections,
        kind: UnitKind::Mcap(McapUnit::Chunk {
            record_offset: at,
            data_offset: h.data_offset,
            compressed_len: h.compressed_len,
            uncompressed_len: h.uncompressed_len,
            compression: h.compression,
            crc: h.crc,
        }),
    }
}

/// Reads the bytes between indexed chunks (schemas, channels, metadata
/// normally) and refuses the summary if a message hides there.
fn check_gaps(
    src: &dyn ReadAt,
    gaps: &[(u64, u64)],
    found: &mut Found,
) -> std::result::Result<(), Problem> {
    let total: u64 = gaps.iter().map(|(a, b)| b - a).sum();
    if total > MAX_GAP_CHECK {
        return Ok(());
    }
    for &(start, end) in gaps {
        let bytes =
            read_vec(src, start, end - start, "MCAP data", MAX_GAP_CHECK).map_err(Problem::Io)?;
        let mut pos = 0usize;
        while pos < bytes.len() {
            let offset = start + pos as u64;
            let (op, body, next) = split_record(&bytes, pos).map_err(|e| {
                format!("the data between chunks does not parse at offset {offset}: {e}")
            })?;
            pos = next;
            match op {
                OP_MESSAGE => {
                    return Err(format!(
                        "a message record at offset {offset} lies outside every indexed chunk"
                    )
                    .into());
                }
                OP_SCHEMA | OP_CHANNEL | OP_METADATA => {
                    if let Ok(Some(d)) = parse_definition(op, body) {
                        found.define(d, offset);
                    }
                }
                OP_DATA_END => break,
                _ => {}
            }
        }
    }
    Ok(())
}

/// Message counts per channel from the message index records after each
/// chunk, when the summary has no statistics.
fn count_from_message_indexes(
    src: &dyn ReadAt,
    indexes: &[rec::ChunkIndex],
    found: &mut Found,
) -> Result<()> {
    for c in indexes {
        let start = c.chunk_start_offset + c.chunk_length;
        if c.message_index_length == 0 || c.message_index_length > MAX_RECORD_DATA_LEN {
            continue;
        }
        let bytes = read_vec(
            src,
            start,
            c.message_index_length,
            "message index",
            MAX_RECORD_DATA_LEN,
        )?;
        let mut pos = 0;
        while pos < bytes.len() {
            let Ok((op, body, next)) = split_record(&bytes, pos) else {
                break;
            };
            pos = next;
            if op == OP_MESSAGE_INDEX
                && let Ok((channel, n)) = rec::message_index_count(body)
            {
                *found.counts.entry(channel).or_default() += n;
            }
        }
    }
    Ok(())
}

/// A record that defines something, met outside chunks.
enum Defined {
    Schema(rec::Schema),
    Channel(rec::Channel),
    Metadata(rec::Metadata),
}

fn parse_definition(op: u8, body: &[u8]) -> std::result::Result<Option<Defined>, String> {
    Ok(match op {
        OP_SCHEMA => Some(Defined::Schema(rec::schema(body)?)),
        OP_CHANNEL => Some(Defined::Channel(rec::channel(body)?)),
        OP_METADATA => Some(Defined::Metadata(rec::metadata(body)?)),
        _ => None,
    })
}

/// A chunk found by a scan, before it is decompressed.
struct Candidate {
    at: u64,
    head: ChunkHead,
}

/// Walks the records from `start`: schemas, channels and metadata are
/// learnt, runs of messages outside chunks become units, and every chunk
/// is decompressed (in parallel, in bounded groups) to learn its channels.
fn scan(src: &dyn ReadAt, start: u64, file_len: u64, found: &mut Found) -> Result<()> {
    let mut pos = start;
    let mut candidates: Vec<Candidate> = Vec::new();
    // Units in file order: chunks as indexes into `candidates`, runs whole.
    enum Pending {
        Chunk(usize),
        Run(Unit),
    }
    let mut order: Vec<Pending> = Vec::new();
    let mut run: Option<(u64, u64, Option<u64>, Option<u64>)> = None;
    let close_run = |run: &mut Option<(u64, u64, Option<u64>, Option<u64>)>,
                     order: &mut Vec<Pending>| {
        if let Some((s, e, lo, hi)) = run.take() {
            order.push(Pending::Run(Unit {
                file: 0,
                offset: s,
                read_len: e - s,
                size: e - s,
                compression: Compression::None,
                start_time_ns: lo,
                end_time_ns: hi,
                connections: None,
                kind: UnitKind::Mcap(McapUnit::Records { start: s, end: e }),
            }));
        }
    };
    while pos < file_len {
        if file_len - pos < RECORD_PREFIX {
            let mut op = [0u8; 1];
            let is_chunk = src.read_exact_at(pos, &mut op).is_ok() && op[0] == OP_CHUNK;
            let message = if is_chunk {
                format!(
                    "chunk at offset {pos} skipped: cut short by the end of the file (inside its record prefix)"
                )
            } else {
                format!("the file ends inside a record prefix at offset {pos}: it is truncated")
            };
            found.warnings.push(Warning::at(pos, message));
            break;
        }
        let head = read_head(src, pos)?;
        let end = pos.saturating_add(RECORD_PREFIX).saturating_add(head.len);
        if end > file_len {
            let message = if head.op == OP_CHUNK {
                format!(
                    "chunk at offset {pos} skipped: cut short by the end of the file (its record needs {} bytes, {} remain)",
                    head.len,
                    file_len - pos - RECORD_PREFIX
                )
            } else {
                format!(
                    "the record of op {:#04x} at offset {pos} is cut short by the end of the file; the scan stopped there",
                    head.op
                )
            };
            found.warnings.push(Warning::at(pos, message));
            break;
        }
        match head.op {
            OP_MESSAGE => {
                if head.len < MESSAGE_HEADER_LEN as u64 {
                    found.warnings.push(Warning::at(
                        pos,
                        format!("the message record at offset {pos} is too short for its header; skipped"),
                    ));
                } else {
                    let h = read_vec(
                        src,
                        pos + RECORD_PREFIX,
                        MESSAGE_HEADER_LEN as u64,
                        "message header",
                        64,
                    )?;
                    let channel = u16::from_le_bytes([h[0], h[1]]);
                    let time = u64::from_le_bytes(h[6..14].try_into().expect("8 bytes"));
                    *found.counts.entry(channel).or_default() += 1;
                    let r = run.get_or_insert((pos, end, None, None));
                    r.1 = end;
                    r.2 = Some(r.2.map_or(time, |t: u64| t.min(time)));
                    r.3 = Some(r.3.map_or(time, |t: u64| t.max(time)));
                    if r.1 - r.0 >= RUN_BYTES {
                        close_run(&mut run, &mut order);
                    }
                }
            }
            OP_SCHEMA | OP_CHANNEL | OP_METADATA | OP_HEADER => {
                match read_body(src, pos, head.len, "MCAP record") {
                    Ok(body) => match parse_definition(head.op, &body) {
                        Ok(Some(d)) => found.define(d, pos),
                        Ok(None) => {}
                        Err(e) => found.warnings.push(Warning::at(
                            pos,
                            format!("the record of op {:#04x} at offset {pos} does not parse ({e}); skipped", head.op),
                        )),
                    },
                    Err(e @ Error::Io { .. }) => return Err(e),
                    Err(e) => found.warnings.push(Warning::at(pos, format!("the record at offset {pos} is skipped: {e}"))),
                }
                if let Some(r) = run.as_mut() {
                    // Definitions between messages stay in the run.
                    r.1 = end;
                }
            }
            OP_CHUNK => {
                close_run(&mut run, &mut order);
                match read_chunk_header(src, pos, head.len) {
                    Ok(h) => {
                        order.push(Pending::Chunk(candidates.len()));
                        candidates.push(Candidate { at: pos, head: h });
                    }
                    Err(e @ Error::Io { .. }) => return Err(e),
                    Err(e) => found.warnings.push(Warning::at(
                        pos,
                        format!("chunk at offset {pos} skipped: {}", chunk_reason(&e)),
                    )),
                }
            }
            OP_DATA_END | OP_FOOTER => break,
            _ => close_run(&mut run, &mut order),
        }
        pos = end;
    }
    close_run(&mut run, &mut order);

    // Decompress every chunk once: its channels, counts and whether it is whole.
    let mut summaries: Vec<Option<ChunkSummary>> = Vec::with_capacity(candidates.len());
    for group in scan_groups(&candidates) {
        let ranges: Vec<(u64, u64)> = group
            .iter()
            .map(|c| (c.head.data_offset, c.head.compressed_len))
            .collect();
        src.prefetch(&ranges);
        let done: Vec<Result<ChunkSummary>> = group.par_iter().map(|c| summarize(src, c)).collect();
        for (c, s) in group.iter().zip(done) {
            match s {
                Ok(s) => summaries.push(Some(s)),
                Err(e @ Error::Io { .. }) => return Err(e),
                Err(e) => {
                    found.warnings.push(Warning::at(
                        c.at,
                        format!("chunk at offset {} skipped: {}", c.at, chunk_reason(&e)),
                    ));
                    summaries.push(None);
                }
            }
        }
    }
    for p in order {
        match p {
            Pending::Run(u) => found.units.push(u),
            Pending::Chunk(i) => {
                let Some(s) = summaries[i].take() else {
                    continue;
                };
                let c = &candidates[i];
                for schema in s.schemas {
                    found.add_schema(schema, c.at);
                }
                for ch in s.channels {
                    found.add_channel(ch, c.at);
                }
                let in_chunk = s.counts.keys().map(|&ch| i64::from(ch)).collect();
                for (ch, n) in s.counts {
                    *found.counts.entry(ch).or_default() += n;
                }
                found
                    .units
                    .push(chunk_unit(c.at, &c.head, s.times, Some(in_chunk)));
            }
        }
    }
    found.warnings.sort_by_key(|w| w.offset);
    Ok(())
}

/// Groups of chunks decompressed at once: a few per thread, bounded bytes.
fn scan_groups(chunks: &[Candidate]) -> Vec<&[Candidate]> {
    let per_group = (rayon::current_num_threads() * 2).max(1);
    let mut groups = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, c) in chunks.iter().enumerate() {
        let size = c
            .head
            .uncompressed_len
            .saturating_add(c.head.compressed_len);
        if i > start && (i - start >= per_group || bytes.saturating_add(size) > SCAN_GROUP_BYTES) {
            groups.push(&chunks[start..i]);
            start = i;
            bytes = 0;
        }
        bytes = bytes.saturating_add(size);
    }
    if start < chunks.len() {
        groups.push(&chunks[start..]);
    }
    groups
}

/// What a scan learns from one chunk.
struct ChunkSummary {
    schemas: Vec<rec::Schema>,
    channels: Vec<rec::Channel>,
    counts: BTreeMap<u16, u64>,
    times: Option<(u64, u64)>,
}

fn summarize(src: &dyn ReadAt, c: &Candidate) -> Result<ChunkSummary> {
    let data = read_chunk_data(src, c.at, &c.head.as_unit())?;
    let mut s = ChunkSummary {
        schemas: Vec::new(),
        channels: Vec::new(),
        counts: BTreeMap::new(),
        times: None,
    };
    walk(&data, c.at, |op, body| {
        match op {
            OP_MESSAGE => {
                let (channel, time) = rec::message_header(body)?;
                *s.counts.entry(channel).or_default() += 1;
                s.times = Some(
                    s.times
                        .map_or((time, time), |(a, b)| (a.min(time), b.max(time))),
                );
            }
            OP_SCHEMA => s.schemas.push(rec::schema(body)?),
            OP_CHANNEL => s.channels.push(rec::channel(body)?),
            _ => {}
        }
        Ok(())
    })?;
    Ok(s)
}

impl ChunkHead {
    fn as_unit(&self) -> McapUnit {
        McapUnit::Chunk {
            record_offset: 0,
            data_offset: self.data_offset,
            compressed_len: self.compressed_len,
            uncompressed_len: self.uncompressed_len,
            compression: self.compression,
            crc: self.crc,
        }
    }
}

/// Walks the records of a chunk's decompressed data (or of a run of the
/// file); only schemas, channels and messages belong in a chunk.
fn walk(
    data: &[u8],
    at: u64,
    mut f: impl FnMut(u8, &[u8]) -> std::result::Result<(), String>,
) -> Result<()> {
    let fail = |reason: String| Error::Chunk { offset: at, reason };
    let mut pos = 0;
    while pos < data.len() {
        let (op, body, next) =
            split_record(data, pos).map_err(|e| fail(format!("record at +{pos}: {e}")))?;
        f(op, body).map_err(|e| fail(format!("record at +{pos}: {e}")))?;
        pos = next;
    }
    Ok(())
}

/// A chunk's records, decompressed to exactly the claimed size and, when
/// the writer recorded one, checked against their CRC.
fn read_chunk_data(src: &dyn ReadAt, at: u64, unit: &McapUnit) -> Result<Vec<u8>> {
    let McapUnit::Chunk {
        data_offset,
        compressed_len,
        uncompressed_len,
        compression,
        crc,
        ..
    } = unit
    else {
        unreachable!("a chunk unit");
    };
    let compressed = read_vec(
        src,
        *data_offset,
        *compressed_len,
        "chunk data",
        MAX_CHUNK_LEN,
    )
    .map_err(|e| match e {
        e @ Error::Io { .. } => e,
        other => Error::Chunk {
            offset: at,
            reason: chunk_reason(&other),
        },
    })?;
    let data = if *compression == Compression::None && compressed.len() as u64 == *uncompressed_len
    {
        compressed
    } else {
        compression::decompress(*compression, &compressed, *uncompressed_len, at)?
    };
    if *crc != 0 {
        let actual = crc32fast::hash(&data);
        if actual != *crc {
            return Err(Error::Chunk {
                offset: at,
                reason: format!(
                    "its records fail their CRC (recorded {crc:#010x}, computed {actual:#010x})"
                ),
            });
        }
    }
    Ok(data)
}

/// An error's reason without the "chunk at offset N:" prefix.
fn chunk_reason(e: &Error) -> String {
    match e {
        Error::Chunk { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

/// Reads one unit's messages; channel ids become the bag's connection ids
/// (`ids`; a file read alone keeps its own).
pub(super) fn read_unit(
    src: &dyn ReadAt,
    unit: &McapUnit,
    ids: &HashMap<u16, u32>,
) -> Result<UnitContents> {
    let at = unit.offset();
    let data = match unit {
        McapUnit::Chunk { .. } => read_chunk_data(src, at, unit)?,
        McapUnit::Records { start, end } => read_vec(
            src,
            *start,
            end - start,
            "MCAP records",
            RUN_BYTES.max(MAX_RECORD_DATA_LEN),
        )?,
    };
    let mut out = UnitContents::default();
    let mut messages = Vec::new();
    let mut unknown: BTreeMap<u32, u64> = BTreeMap::new();
    let base = data.as_ptr() as usize;
    walk(&data, at, |op, body| {
        match op {
            OP_MESSAGE => {
                let (channel, time) = rec::message_header(body)?;
                let start = body.as_ptr() as usize - base + MESSAGE_HEADER_LEN;
                let end = body.as_ptr() as usize - base + body.len();
                match ids.get(&channel) {
                    Some(&conn) => messages.push(MessageRef {
                        conn,
                        time_ns: time,
                        range: start..end,
                    }),
                    None => *unknown.entry(u32::from(channel)).or_default() += 1,
                }
            }
            OP_SCHEMA | OP_CHANNEL => {}
            // A run of the file also holds the metadata and unknown records
            // the scan passed over.
            _ if matches!(unit, McapUnit::Records { .. }) => {}
            op => {
                return Err(format!("op {op:#04x} has no place in a chunk"));
            }
        }
        Ok(())
    })?;
    out.messages = messages;
    out.unknown = unknown;
    out.data = data;
    Ok(out)
}
