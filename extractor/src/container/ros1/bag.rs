//! The file-level ROS bag v2.0 reader: the bag header, the index at the end
//! of the file, the linear scan that replaces a missing or lying index, and
//! chunk decompression.
//!
//! Two clear paths lead to a [`BagLayout`] (the list of chunks and
//! connections that [`crate::extract`] then reads chunk by chunk):
//!
//! * **Indexed**: the bag header's `index_pos` points at the index section
//!   (connection records, then one chunk info per chunk). It is trusted only
//!   when it parses whole, holds exactly the counts the header claims, and
//!   every chunk info points at a real chunk record inside the file; that
//!   costs one small read per chunk and catches an index that lies.
//! * **Scanned**: otherwise (a recorder that crashed before writing the
//!   index, a truncated download, a header claiming chunks that are not
//!   there), the records after the bag header are walked one by one. Every
//!   chunk that is whole and decompresses is kept; each one that is not is
//!   skipped with a warning naming the offset of its chunk record, and the
//!   walk stops at the first record that does not parse, keeping what came
//!   before. Damaged input is recovered, not refused; only a file that is
//!   not a v2.0 bag at all is an error.
//!
//! Every length read from the file is checked against a cap from
//! [`super::records`] before it sizes an allocation, and decompression is
//! capped by the size the chunk header claims.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use rayon::prelude::*;

use super::records::{
    self, BagHeader, MAX_CHUNK_LEN, MAX_CONNECTIONS, MAX_RECORD_DATA_LEN, OP_BAG_HEADER, OP_CHUNK,
    OP_CHUNK_INFO, OP_CONNECTION, OP_INDEX_DATA, OP_MSG_DATA, RawRecord,
};
use crate::error::{Error, Result};
use crate::source::{ReadAt, read_vec};

pub use super::records::{Compression, Connection};
pub use crate::container::compression::decompress;
pub use crate::container::{IndexMode, Warning};

/// The first line of every ROS bag v2.0 file.
pub const MAGIC: &[u8] = b"#ROSBAG V2.0\n";

/// What every ROS bag's first line starts with, whatever its version.
const VERSION_PREFIX: &[u8] = b"#ROSBAG V";

/// Bytes of the index section read at a time. The index holds one
/// connection record per connection (with its definition, a few KiB) and a
/// chunk info of `108 + 8 * connections` bytes per chunk: hundreds of MiB
/// for a terabyte. It is parsed as it arrives, so only what it says (the
/// connections and chunk infos) is kept, not its bytes.
pub const INDEX_PIECE: u64 = 16 << 20;

/// Bytes read at once at a record's offset to get its header (and data
/// length) in one read; real headers are under 200 bytes, and a longer one
/// costs a second read.
const RECORD_HEAD_READ: u64 = 256;

/// Upper bound on the uncompressed bytes held at once by one group of chunks
/// decompressed in parallel during a scan (a single larger chunk still
/// goes alone).
const SCAN_GROUP_BYTES: u64 = 512 << 20;

/// Size of a record length prefix.
const LEN_PREFIX: u64 = 4;

/// One chunk of the bag, located in the file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ChunkInfo {
    /// File offset where the chunk *record* starts (named in warnings).
    pub offset: u64,
    pub compression: Compression,
    /// File offset of the chunk's (compressed) data.
    pub data_offset: u64,
    pub compressed_len: u64,
    /// The size the chunk header claims; decompression must give exactly this.
    pub uncompressed_len: u64,
    /// Receive time of the earliest message: from the chunk info (indexed)
    /// or computed (scanned); `None` when unknown (an empty chunk).
    pub start_time_ns: Option<u64>,
    /// Receive time of the latest message, as `start_time_ns`.
    pub end_time_ns: Option<u64>,
    /// The connections with messages in it (from the chunk info, or found
    /// by the scan), ascending; `None` when unknown.
    pub connections: Option<Vec<u32>>,
    /// Located from the index alone, its record not read yet (a trusted
    /// index): `data_offset` is the record's start, `compressed_len` the
    /// bytes up to the next chunk (the record and its index data), and the
    /// compression and size come from the record when it is read.
    pub head_unread: bool,
}

/// The connections a chunk info counts messages for, ascending.
fn connections_of(counts: &[(u32, u32)]) -> Vec<u32> {
    let mut ids: Vec<u32> = counts
        .iter()
        .filter(|&&(_, n)| n > 0)
        .map(|&(c, _)| c)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Where everything in a bag is.
#[derive(Debug, Clone)]
pub struct BagLayout {
    pub file_len: u64,
    /// Unique by id, in connection-record order in the file (index section
    /// order when indexed; chunk order, then the index section, when scanned).
    pub connections: Vec<Connection>,
    /// Where each connection in `connections` is defined: the offset of
    /// the record kept, or of the chunk holding it (a record inside a
    /// compressed chunk has no offset of its own in the file). For errors.
    pub connection_offsets: BTreeMap<u32, u64>,
    /// In file order.
    pub chunks: Vec<ChunkInfo>,
    /// Messages per connection id, from the chunk infos (indexed) or the
    /// scan; every connection in `connections` has an entry (0 if none).
    pub message_counts: BTreeMap<u32, u64>,
    pub mode: IndexMode,
    /// Everything recovered from, in file order after the reason for a scan.
    pub warnings: Vec<Warning>,
}

/// The records of one decompressed chunk.
#[derive(Debug, Clone)]
pub struct ChunkContents {
    /// Connection records inside the chunk, in order (rosbag writes each
    /// connection's record into the chunk where it is first used).
    pub connections: Vec<Connection>,
    /// Message data records, in order.
    pub messages: Vec<MessageRef>,
    /// The decompressed chunk; `MessageRef::range` points into it.
    pub data: Vec<u8>,
}

/// One message in a decompressed chunk.
#[derive(Debug, Clone)]
pub struct MessageRef {
    /// Connection id, as written (the caller checks it is known).
    pub conn: u32,
    /// Receive time, ns since the epoch.
    pub time_ns: u64,
    /// The message bytes within [`ChunkContents::data`].
    pub range: Range<usize>,
    /// Offset of the chunk record holding the message (for errors).
    pub offset: u64,
}

/// Reads where everything in the bag is: from the index when it can be
/// trusted, else by scanning. Errors only when the input is not a v2.0 bag
/// (empty, other magic, other version) or cannot be read at all (I/O).
pub fn read_layout(src: &dyn ReadAt) -> Result<BagLayout> {
    read_layout_with(src, false)
}

/// [`read_layout`], trusting the index's chunk infos when `trust_index`:
/// no read of each chunk's record head (one small read per chunk: on S3 a
/// million GETs for a terabyte), only checks of the index itself (counts,
/// positions inside the chunk area, strictly increasing). Each chunk's
/// record is then checked when it is read ([`Error::IndexWrong`] if it is
/// not a chunk). For a bag cut into work items.
pub fn read_layout_with(src: &dyn ReadAt, trust_index: bool) -> Result<BagLayout> {
    let file_len = src.len();
    check_magic(src, file_len)?;
    let mut warnings = Vec::new();
    let header_pos = MAGIC.len() as u64;

    if file_len == header_pos {
        let reason = "the file ends right after the magic: no bag header and no chunks".to_string();
        return Ok(scanned_layout(
            file_len,
            reason,
            warnings,
            ScanResult::default(),
        ));
    }
    let head = match read_record_head(src, header_pos, file_len) {
        Ok(head) => head,
        Err(e @ Error::Io { .. }) => return Err(e),
        Err(e) => {
            let reason = format!(
                "the bag header record at offset {header_pos} does not parse: {}",
                describe(&e)
            );
            return Ok(scanned_layout(
                file_len,
                reason,
                warnings,
                ScanResult::default(),
            ));
        }
    };
    if head.op != OP_BAG_HEADER {
        // No header to trust, but the first record may still be a chunk.
        let reason = format!(
            "the first record, at offset {header_pos}, is not a bag header (op {:#04x})",
            head.op
        );
        let scan = scan(src, header_pos, file_len)?;
        return Ok(scanned_layout(file_len, reason, warnings, scan));
    }
    let header_end = head.data_end();
    if header_end > file_len {
        // truncated_3kb.bag: the fields are whole, the padding is cut.
        warnings.push(Warning::at(
            header_pos,
            format!(
                "the bag header record at offset {header_pos} runs past the end of the file \
                 (its data ends at {header_end}, the file has {file_len} bytes): the file is truncated"
            ),
        ));
    }
    let bag_header = match head.fields().and_then(|f| records::parse_bag_header(&f)) {
        Ok(h) => h,
        Err(e) => {
            let reason = format!(
                "the bag header at offset {header_pos} is unusable: {}",
                describe(&e)
            );
            let scan = scan(src, header_end, file_len)?;
            return Ok(scanned_layout(file_len, reason, warnings, scan));
        }
    };
    match read_index(src, &bag_header, header_end, file_len, trust_index) {
        Ok(indexed) => Ok(BagLayout {
            file_len,
            connections: indexed.connections,
            connection_offsets: indexed.connection_offsets,
            chunks: indexed.chunks,
            message_counts: indexed.message_counts,
            mode: IndexMode::Indexed,
            warnings: {
                warnings.extend(indexed.warnings);
                warnings
            },
        }),
        Err(IndexProblem::Io(e)) => Err(e),
        Err(IndexProblem::Unusable(reason)) => {
            let scan = scan(src, header_end, file_len)?;
            Ok(scanned_layout(file_len, reason, warnings, scan))
        }
    }
}

/// The decompressed data of a chunk whose record the index check read.
fn checked_chunk_data(src: &dyn ReadAt, chunk: &ChunkInfo) -> Result<Vec<u8>> {
    let compressed = read_vec(
        src,
        chunk.data_offset,
        chunk.compressed_len,
        "chunk data",
        MAX_CHUNK_LEN,
    )
    .map_err(|e| chunk_error(chunk.offset, e))?;
    if chunk.compression == Compression::None && compressed.len() as u64 == chunk.uncompressed_len {
        // Already what decompression would give: skip the copy.
        return Ok(compressed);
    }
    // The compressed copy is dropped on return: one copy of the chunk is
    // held while its records are walked.
    decompress(
        chunk.compression,
        &compressed,
        chunk.uncompressed_len,
        chunk.offset,
    )
}

/// Reads and decompresses one chunk and lists its records. Any failure
/// (data past the end of the file, bad compression, a size that does not
/// match, a record cut short, a record kind that has no place in a chunk)
/// is an [`Error::Chunk`] naming `chunk.offset`: the caller skips the chunk
/// whole.
pub fn read_chunk(src: &dyn ReadAt, chunk: &ChunkInfo) -> Result<ChunkContents> {
    let data = if chunk.head_unread {
        trusted_chunk_data(src, chunk)?
    } else {
        checked_chunk_data(src, chunk)?
    };
    let mut connections = Vec::new();
    let mut messages = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        // The common case, a message data record, the quick way; any
        // other record, or one that is not well formed, in full.
        if let Some((conn, time_ns, range, next)) = records::quick_message(&data, pos) {
            messages.push(MessageRef {
                conn,
                time_ns,
                range,
                offset: chunk.offset,
            });
            pos = next;
            continue;
        }
        let (record, next) =
            records::read_record(&data, pos, 0).map_err(|e| in_chunk_error(chunk.offset, e))?;
        pos = next;
        match record
            .header
            .op()
            .map_err(|e| in_chunk_error(chunk.offset, e))?
        {
            OP_CONNECTION => {
                connections.push(
                    records::parse_connection(&record)
                        .map_err(|e| in_chunk_error(chunk.offset, e))?,
                );
            }
            OP_MSG_DATA => {
                let (conn, time_ns) = records::parse_message_header(&record.header)
                    .map_err(|e| in_chunk_error(chunk.offset, e))?;
                // The data is the last part of the record, which ends where the next begins.
                let range = next - record.data.len()..next;
                messages.push(MessageRef {
                    conn,
                    time_ns,
                    range,
                    offset: chunk.offset,
                });
            }
            op => {
                return Err(Error::Chunk {
                    offset: chunk.offset,
                    reason: format!(
                        "record at +{} of the decompressed data has op {op:#04x} ({}), which has no place in a chunk",
                        record.offset,
                        op_name(op)
                    ),
                });
            }
        }
    }
    Ok(ChunkContents {
        connections,
        messages,
        data,
    })
}

/// The decompressed data of a chunk located from a trusted index: its
/// whole extent is read at once (the range a remote source prefetched),
/// and its first record must be a chunk that fits in it, else
/// [`Error::IndexWrong`] (the index cannot be trusted after all).
fn trusted_chunk_data(src: &dyn ReadAt, chunk: &ChunkInfo) -> Result<Vec<u8>> {
    let wrong = |reason: String| Error::IndexWrong {
        unit: format!("chunk at offset {}", chunk.offset),
        reason,
    };
    let extent = read_vec(
        src,
        chunk.offset,
        chunk.compressed_len,
        "chunk record",
        MAX_CHUNK_LEN + records::MAX_HEADER_LEN + 2 * LEN_PREFIX,
    )
    .map_err(|e| match e {
        e @ Error::Io { .. } => e,
        e => wrong(describe(&e)),
    })?;
    let record = match records::records(&extent, chunk.offset).next() {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            return Err(wrong(format!(
                "chunk_pos {} from the index holds no whole record before the next chunk: {}",
                chunk.offset,
                describe(&e)
            )));
        }
        None => return Err(wrong(format!("chunk_pos {} is empty", chunk.offset))),
    };
    let op = record.header.op().map_err(|e| wrong(describe(&e)))?;
    if op != OP_CHUNK {
        return Err(wrong(format!(
            "chunk_pos {} from the index holds a record with op {op:#04x} ({}), not a chunk",
            chunk.offset,
            op_name(op)
        )));
    }
    let header = records::parse_chunk_header(&record.header).map_err(|e| {
        wrong(format!(
            "the chunk at offset {} named by the index: {}",
            chunk.offset,
            describe(&e)
        ))
    })?;
    let size = u64::from(header.size);
    if header.compression == Compression::None && record.data.len() as u64 == size {
        return Ok(record.data.to_vec());
    }
    decompress(header.compression, record.data, size, chunk.offset)
}

/// Checks the magic; every way of failing says what was found instead.
pub(crate) fn check_magic(src: &dyn ReadAt, file_len: u64) -> Result<()> {
    if file_len == 0 {
        return Err(Error::NotABag("empty file (0 bytes)".to_string()));
    }
    // A few bytes more than the magic, to show a wrong version whole.
    let n = file_len.min(64);
    let mut head = vec![0u8; n as usize];
    src.read_exact_at(0, &mut head)
        .map_err(|source| Error::Io {
            offset: 0,
            len: n,
            source,
        })?;
    if head.starts_with(MAGIC) {
        return Ok(());
    }
    if let Some(rest) = head.strip_prefix(VERSION_PREFIX)
        && let Some(newline) = rest.iter().position(|&b| b == b'\n')
    {
        let version = &rest[..newline];
        if version == b"2.0\r" {
            // A v2.0 bag that went through a CRLF conversion: every offset
            // after the magic is shifted, so it is not readable.
            return Err(Error::NotABag(
                "the magic line ends in \"\\r\\n\": a v2.0 bag damaged by a text-mode (CRLF) conversion"
                    .to_string(),
            ));
        }
        return Err(Error::UnsupportedVersion(
            String::from_utf8_lossy(version).into_owned(),
        ));
    }
    if MAGIC.starts_with(&head) {
        return Err(Error::NotABag(format!(
            "the file is {file_len} bytes long and ends inside the bag magic (\"{}\")",
            records::preview(&head)
        )));
    }
    let what = if head.starts_with(b"\x89MCAP") {
        "an MCAP file, not a ROS1 bag".to_string()
    } else if head.starts_with(b"SQLite format 3\0") {
        "an SQLite database (a ROS2 .db3?), not a ROS1 bag".to_string()
    } else {
        format!(
            "no \"#ROSBAG V2.0\" magic; the file starts with \"{}\"",
            records::preview(&head)
        )
    };
    Err(Error::NotABag(what))
}

/// A record's header read straight from the source: enough to decide what
/// to do with the record without reading its data.
struct RecordHead {
    offset: u64,
    op: u8,
    header_bytes: Vec<u8>,
    data_offset: u64,
    data_len: u64,
}

impl RecordHead {
    fn fields(&self) -> Result<records::Fields<'_>> {
        records::parse_header(&self.header_bytes, self.offset)
    }

    /// Where the record ends (may be past the end of the file: the caller checks).
    fn data_end(&self) -> u64 {
        self.data_offset.saturating_add(self.data_len)
    }
}

/// Reads the header and data length of the record at `pos`, which must lie
/// before `limit`. The data is neither read nor checked against `limit`:
/// the caller decides what a record cut short means.
fn read_record_head(src: &dyn ReadAt, pos: u64, limit: u64) -> Result<RecordHead> {
    let left = limit.saturating_sub(pos);
    let cut = |need: u64| Error::Record {
        offset: pos,
        reason: format!(
            "record header needs {need} bytes but only {left} remain before offset {limit}"
        ),
    };
    if left < LEN_PREFIX {
        return Err(cut(LEN_PREFIX));
    }
    let window = read_vec(
        src,
        pos,
        left.min(RECORD_HEAD_READ),
        "record header",
        RECORD_HEAD_READ,
    )?;
    let header_len = records::le_u32_at(&window, 0).ok_or_else(|| cut(LEN_PREFIX))?;
    records::check_header_len(header_len, pos)?;
    let need = LEN_PREFIX + u64::from(header_len) + LEN_PREFIX;
    if need > left {
        return Err(cut(need));
    }
    let bytes = if need <= window.len() as u64 {
        window
    } else {
        read_vec(
            src,
            pos,
            need,
            "record header",
            records::MAX_HEADER_LEN + 2 * LEN_PREFIX,
        )?
    };
    let header_end = LEN_PREFIX as usize + header_len as usize;
    let header_bytes = bytes
        .get(LEN_PREFIX as usize..header_end)
        .ok_or_else(|| cut(need))?
        .to_vec();
    let data_len = records::le_u32_at(&bytes, header_end).ok_or_else(|| cut(need))?;
    let op = records::parse_header(&header_bytes, pos)?.op()?;
    Ok(RecordHead {
        offset: pos,
        op,
        header_bytes,
        data_offset: pos + need,
        data_len: u64::from(data_len),
    })
}

/// Why the index was not used.
enum IndexProblem {
    /// Reading failed: not a property of the bag, so no scan either.
    Io(Error),
    /// The index is missing or does not match the file.
    Unusable(String),
}

impl From<String> for IndexProblem {
    fn from(reason: String) -> Self {
        IndexProblem::Unusable(reason)
    }
}

struct Indexed {
    connections: Vec<Connection>,
    connection_offsets: BTreeMap<u32, u64>,
    chunks: Vec<ChunkInfo>,
    message_counts: BTreeMap<u32, u64>,
    warnings: Vec<Warning>,
}

/// Reads the index section and checks it against the file.
fn read_index(
    src: &dyn ReadAt,
    header: &BagHeader,
    header_end: u64,
    file_len: u64,
    trust_index: bool,
) -> std::result::Result<Indexed, IndexProblem> {
    let index_pos = header.index_pos;
    if index_pos == 0 {
        return Err(
            "the bag header's index_pos is 0: the recorder did not finish writing the index"
                .to_string()
                .into(),
        );
    }
    if index_pos > file_len {
        return Err(format!(
            "index_pos {index_pos} is past the end of the file ({file_len} bytes)"
        )
        .into());
    }
    if index_pos < header_end {
        return Err(format!(
            "index_pos {index_pos} points inside the bag header record (which ends at {header_end})"
        )
        .into());
    }
    let mut connections = ConnectionSet::default();
    let mut connection_records = 0u64;
    let mut infos = Vec::new();
    let mut warnings = Vec::new();
    let mut handle = |record: records::RawRecord<'_>| -> std::result::Result<(), IndexProblem> {
        let op = record.header.op().map_err(|e| describe(&e))?;
        match op {
            OP_CONNECTION => {
                let conn = records::parse_connection(&record).map_err(|e| {
                    format!(
                        "a connection record in the index does not parse: {}",
                        describe(&e)
                    )
                })?;
                connection_records += 1;
                connections.add(conn, record.offset, &mut warnings);
            }
            OP_CHUNK_INFO => {
                let info = records::parse_chunk_info(&record).map_err(|e| {
                    format!(
                        "a chunk info record in the index does not parse: {}",
                        describe(&e)
                    )
                })?;
                infos.push((record.offset, info));
            }
            op => {
                return Err(format!(
                    "the index section holds a record with op {op:#04x} ({}) at offset {}",
                    op_name(op),
                    record.offset
                )
                .into());
            }
        }
        Ok(())
    };
    stream_index(src, index_pos, file_len, INDEX_PIECE, &mut handle)?;
    if connection_records != u64::from(header.conn_count) {
        return Err(format!(
            "the index holds {connection_records} connection records but the bag header claims {}",
            header.conn_count
        )
        .into());
    }
    if infos.len() as u64 != u64::from(header.chunk_count) {
        return Err(format!(
            "the index holds {} chunk infos but the bag header claims {} chunks",
            infos.len(),
            header.chunk_count
        )
        .into());
    }

    let chunks = if trust_index {
        trusted_chunks(&infos, header_end, index_pos)?
    } else {
        checked_chunks(src, &infos, header_end, index_pos)?
    };

    let ConnectionSet {
        list: connections,
        offsets: connection_offsets,
        ..
    } = connections;
    let mut message_counts: BTreeMap<u32, u64> = connections.iter().map(|c| (c.id, 0)).collect();
    for (_, info) in &infos {
        for &(conn, count) in &info.counts {
            *message_counts.entry(conn).or_default() += u64::from(count);
        }
    }
    Ok(Indexed {
        connections,
        connection_offsets,
        chunks,
        message_counts,
        warnings,
    })
}

/// Reads the index section from `index_pos` to the end of the file in
/// pieces of `piece` bytes and hands each whole record to `handle`, in
/// order. A record cut by the end of the file, or one that does not
/// parse, makes the index unusable.
fn stream_index(
    src: &dyn ReadAt,
    index_pos: u64,
    file_len: u64,
    piece: u64,
    handle: &mut dyn FnMut(records::RawRecord<'_>) -> std::result::Result<(), IndexProblem>,
) -> std::result::Result<(), IndexProblem> {
    let unparsable =
        |e: &Error| -> IndexProblem { format!("the index does not parse: {}", describe(e)).into() };
    // Bytes not parsed yet, from file offset `at`.
    let mut buf: Vec<u8> = Vec::new();
    let mut at = index_pos;
    let mut next = index_pos;
    loop {
        let mut pos = 0;
        while record_complete(&buf[pos..]) {
            let (record, end) = records::read_record(&buf, pos, at).map_err(|e| unparsable(&e))?;
            handle(record)?;
            pos = end;
        }
        buf.drain(..pos);
        at += pos as u64;
        if next >= file_len {
            return match buf.is_empty() {
                true => Ok(()),
                // A record cut by the end of the file: say how.
                false => Err(records::read_record(&buf, 0, at).err().map_or_else(
                    || "the index ends inside a record".to_string().into(),
                    |e| unparsable(&e),
                )),
            };
        }
        let len = piece.min(file_len - next);
        let bytes = match read_vec(src, next, len, "index section", piece) {
            Ok(b) => b,
            Err(e @ Error::Io { .. }) => return Err(IndexProblem::Io(e)),
            Err(e) => return Err(unparsable(&e)),
        };
        buf.extend_from_slice(&bytes);
        next += len;
    }
}

/// Whether `buf` starts with a whole record (or with lengths no record may
/// have, which [`records::read_record`] then reports).
fn record_complete(buf: &[u8]) -> bool {
    let Some(header_len) = records::le_u32_at(buf, 0) else {
        return false;
    };
    if u64::from(header_len) > records::MAX_HEADER_LEN {
        return true;
    }
    let data_at = LEN_PREFIX as usize + header_len as usize;
    let Some(data_len) = records::le_u32_at(buf, data_at) else {
        return false;
    };
    if u64::from(data_len) > MAX_CHUNK_LEN {
        return true;
    }
    buf.len() >= data_at + LEN_PREFIX as usize + data_len as usize
}

/// Checks that the chunk info at `info_offset` names a position between
/// the bag header and the index.
fn in_chunk_area(
    info_offset: u64,
    pos: u64,
    header_end: u64,
    index_pos: u64,
) -> std::result::Result<(), IndexProblem> {
    if pos < header_end || pos >= index_pos {
        return Err(format!(
            "the chunk info at offset {info_offset} points at chunk_pos {pos}, outside the chunk \
             area [{header_end}, {index_pos})"
        )
        .into());
    }
    Ok(())
}

/// The chunks the chunk infos name, from the index alone: each reaches to
/// the next one's position (the last to the index).
fn trusted_chunks(
    infos: &[(u64, records::ChunkInfoRecord)],
    header_end: u64,
    index_pos: u64,
) -> std::result::Result<Vec<ChunkInfo>, IndexProblem> {
    let mut sorted: Vec<&(u64, records::ChunkInfoRecord)> = infos.iter().collect();
    sorted.sort_by_key(|(_, info)| info.chunk_pos);
    let mut chunks = Vec::with_capacity(sorted.len());
    for (i, (info_offset, info)) in sorted.iter().enumerate() {
        let pos = info.chunk_pos;
        in_chunk_area(*info_offset, pos, header_end, index_pos)?;
        let end = sorted
            .get(i + 1)
            .map_or(index_pos, |(_, next)| next.chunk_pos);
        if end == pos {
            return Err(format!("the index names the chunk at offset {pos} twice").into());
        }
        chunks.push(ChunkInfo {
            offset: pos,
            compression: Compression::None,
            data_offset: pos,
            compressed_len: end - pos,
            uncompressed_len: 0,
            start_time_ns: Some(info.start_time_ns),
            end_time_ns: Some(info.end_time_ns),
            connections: Some(connections_of(&info.counts)),
            head_unread: true,
        });
    }
    Ok(chunks)
}

/// The chunks the chunk infos name, each checked against its record.
fn checked_chunks(
    src: &dyn ReadAt,
    infos: &[(u64, records::ChunkInfoRecord)],
    header_end: u64,
    index_pos: u64,
) -> std::result::Result<Vec<ChunkInfo>, IndexProblem> {
    // Each chunk info must point at a real chunk record between the bag
    // header and the index: one small read per chunk, in parallel. A
    // remote source fetches them all ahead (a bounded number at once)
    // rather than one round trip per chunk.
    let heads: Vec<(u64, u64)> = infos
        .iter()
        .map(|(_, info)| info.chunk_pos)
        .filter(|&pos| pos >= header_end && pos < index_pos)
        .map(|pos| (pos, (index_pos - pos).min(RECORD_HEAD_READ)))
        .collect();
    src.prefetch(&heads);
    let checked: Vec<std::result::Result<ChunkInfo, IndexProblem>> = infos
        .par_iter()
        .map(|(info_offset, info)| {
            let pos = info.chunk_pos;
            in_chunk_area(*info_offset, pos, header_end, index_pos)?;
            let head = match read_record_head(src, pos, index_pos) {
                Ok(h) => h,
                Err(e @ Error::Io { .. }) => return Err(IndexProblem::Io(e)),
                Err(e) => {
                    return Err(format!("chunk_pos {pos} from the index holds no readable record: {}", describe(&e))
                        .into());
                }
            };
            if head.op != OP_CHUNK {
                return Err(format!(
                    "chunk_pos {pos} from the index holds a record with op {:#04x} ({}), not a chunk",
                    head.op,
                    op_name(head.op)
                )
                .into());
            }
            if head.data_end() > index_pos {
                return Err(format!(
                    "the chunk at offset {pos} runs to {}, past the start of the index at {index_pos}",
                    head.data_end()
                )
                .into());
            }
            let chunk = head
                .fields()
                .and_then(|f| records::parse_chunk_header(&f))
                .map_err(|e| format!("the chunk at offset {pos} named by the index: {}", describe(&e)))?;
            Ok(ChunkInfo {
                offset: pos,
                compression: chunk.compression,
                data_offset: head.data_offset,
                compressed_len: head.data_len,
                uncompressed_len: u64::from(chunk.size),
                start_time_ns: Some(info.start_time_ns),
                end_time_ns: Some(info.end_time_ns),
                connections: Some(connections_of(&info.counts)),
                head_unread: false,
            })
        })
        .collect();
    let mut chunks = Vec::with_capacity(checked.len());
    for c in checked {
        chunks.push(c?);
    }
    chunks.sort_by_key(|c| c.offset);
    for pair in chunks.windows(2) {
        if let [a, b] = pair
            && b.offset < a.data_offset.saturating_add(a.compressed_len)
        {
            return Err(format!(
                "the index names chunks at offsets {} and {} that overlap (or the same chunk twice)",
                a.offset, b.offset
            )
            .into());
        }
    }

    Ok(chunks)
}

/// Connections unique by id, in the order first met.
#[derive(Default)]
struct ConnectionSet {
    list: Vec<Connection>,
    /// The offset each kept connection was added with.
    offsets: BTreeMap<u32, u64>,
    index_of: HashMap<u32, usize>,
    capped: bool,
}

impl ConnectionSet {
    /// Adds a connection unless its id is known (the first record of an id
    /// wins). A repeat is normal (rosbag writes each connection in its first
    /// chunk and again in the index); one that disagrees is a warning, and
    /// so is going past [`MAX_CONNECTIONS`] (once).
    fn add(&mut self, conn: Connection, offset: u64, warnings: &mut Vec<Warning>) {
        if let Some(&i) = self.index_of.get(&conn.id) {
            if self.list.get(i).is_some_and(|first| *first != conn) {
                warnings.push(Warning::at(
                    offset,
                    format!(
                        "connection {} is defined again at offset {offset} differently (topic {}, type {}); \
                         the first definition is kept",
                        conn.id, conn.topic, conn.datatype
                    ),
                ));
            }
            return;
        }
        if self.list.len() >= MAX_CONNECTIONS {
            if !self.capped {
                self.capped = true;
                warnings.push(Warning::at(
                    offset,
                    format!(
                        "more than {MAX_CONNECTIONS} connections: connection {} at offset {offset} and every later \
                         new one are ignored",
                        conn.id
                    ),
                ));
            }
            return;
        }
        self.index_of.insert(conn.id, self.list.len());
        self.offsets.insert(conn.id, offset);
        self.list.push(conn);
    }
}

/// What a scan found.
#[derive(Default)]
struct ScanResult {
    connections: Vec<Connection>,
    connection_offsets: BTreeMap<u32, u64>,
    chunks: Vec<ChunkInfo>,
    message_counts: BTreeMap<u32, u64>,
    /// In file order.
    warnings: Vec<Warning>,
}

/// What a scan learns from one chunk by decompressing it.
struct ChunkSummary {
    connections: Vec<(u64, Connection)>,
    counts: BTreeMap<u32, u64>,
    start_time_ns: Option<u64>,
    end_time_ns: Option<u64>,
}

/// Walks the records from `start`, then decompresses every whole chunk
/// (in parallel, in bounded groups) to learn its connections and times.
fn scan(src: &dyn ReadAt, start: u64, file_len: u64) -> Result<ScanResult> {
    let mut found: Vec<Warning> = Vec::new();
    let mut candidates = Vec::new();
    let mut loose_connections: Vec<(u64, Connection)> = Vec::new();
    let mut pos = start;
    while pos < file_len {
        let head = match read_record_head(src, pos, file_len) {
            Ok(h) => h,
            Err(e @ Error::Io { .. }) => return Err(e),
            Err(e) => {
                found.push(Warning::at(
                    pos,
                    format!(
                        "the record at offset {pos} does not parse; the scan stopped there and the last {} bytes \
                         were not read: {}",
                        file_len - pos,
                        describe(&e)
                    ),
                ));
                break;
            }
        };
        let end = head.data_end();
        if end > file_len {
            let message = if head.op == OP_CHUNK {
                format!(
                    "chunk at offset {pos} skipped: cut short by the end of the file (its data needs {} bytes, \
                     {} remain)",
                    head.data_len,
                    file_len.saturating_sub(head.data_offset)
                )
            } else {
                format!(
                    "the {} record at offset {pos} is cut short by the end of the file; the scan stopped there",
                    op_name(head.op)
                )
            };
            found.push(Warning::at(pos, message));
            break;
        }
        match head.op {
            OP_CHUNK => match head.fields().and_then(|f| records::parse_chunk_header(&f)) {
                Ok(chunk) => candidates.push(ChunkInfo {
                    offset: pos,
                    compression: chunk.compression,
                    data_offset: head.data_offset,
                    compressed_len: head.data_len,
                    uncompressed_len: u64::from(chunk.size),
                    start_time_ns: None,
                    end_time_ns: None,
                    connections: None,
                    head_unread: false,
                }),
                Err(e) => found.push(Warning::at(
                    pos,
                    format!("chunk at offset {pos} skipped: {}", describe(&e)),
                )),
            },
            // Index data follows each chunk and chunk infos end the file:
            // the scan learns the same from the chunks themselves.
            OP_INDEX_DATA | OP_CHUNK_INFO => {}
            OP_CONNECTION => match read_loose_connection(src, &head) {
                Ok(conn) => loose_connections.push((pos, conn)),
                Err(e @ Error::Io { .. }) => return Err(e),
                Err(e) => found.push(Warning::at(
                    pos,
                    format!(
                        "the connection record at offset {pos} is skipped: {}",
                        describe(&e)
                    ),
                )),
            },
            OP_BAG_HEADER => {
                found.push(Warning::at(
                    pos,
                    format!("a second bag header record at offset {pos} is ignored"),
                ));
            }
            OP_MSG_DATA => found.push(Warning::at(
                pos,
                format!(
                    "the message data record at offset {pos} is outside any chunk and is ignored"
                ),
            )),
            op => found.push(Warning::at(
                pos,
                format!("the record at offset {pos} has an unknown op {op:#04x} and is skipped"),
            )),
        }
        pos = end;
    }

    let mut result = ScanResult::default();
    let mut connections = ConnectionSet::default();
    let groups = scan_groups(&candidates);
    for (i, group) in groups.iter().enumerate() {
        if i == 0 {
            src.prefetch(&chunk_ranges(group));
        }
        if let Some(next) = groups.get(i + 1) {
            src.prefetch(&chunk_ranges(next));
        }
        let summaries: Vec<Result<ChunkSummary>> =
            group.par_iter().map(|c| summarize_chunk(src, c)).collect();
        for (chunk, summary) in group.iter().zip(summaries) {
            match summary {
                Ok(s) => {
                    for (offset, conn) in s.connections {
                        connections.add(conn, offset, &mut found);
                    }
                    let in_chunk = s.counts.keys().copied().collect();
                    for (conn, n) in s.counts {
                        *result.message_counts.entry(conn).or_default() += n;
                    }
                    result.chunks.push(ChunkInfo {
                        start_time_ns: s.start_time_ns,
                        end_time_ns: s.end_time_ns,
                        connections: Some(in_chunk),
                        head_unread: false,
                        ..chunk.clone()
                    });
                }
                Err(e @ Error::Io { .. }) => return Err(e),
                Err(e) => found.push(Warning::at(
                    chunk.offset,
                    skipped_chunk_message(chunk.offset, &e),
                )),
            }
        }
    }
    // Connection records outside chunks (the index section of a bag whose
    // chunk infos were unusable) come after every chunk in the file.
    for (offset, conn) in loose_connections {
        connections.add(conn, offset, &mut found);
    }
    result.connections = connections.list;
    result.connection_offsets = connections.offsets;
    for conn in &result.connections {
        result.message_counts.entry(conn.id).or_default();
    }
    // A stable sort: the walk and the decompression find things out of
    // order, the catalogue lists them in file order.
    found.sort_by_key(|w| w.offset);
    result.warnings = found;
    Ok(result)
}

/// Splits the chunks into groups that are decompressed in parallel: about
/// two per thread, and no more than [`SCAN_GROUP_BYTES`] uncompressed at
/// once (a larger chunk goes alone).
fn scan_groups(chunks: &[ChunkInfo]) -> Vec<&[ChunkInfo]> {
    let per_group = (rayon::current_num_threads() * 2).max(1);
    let mut groups = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, c) in chunks.iter().enumerate() {
        let size = c.uncompressed_len.saturating_add(c.compressed_len);
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

/// The byte ranges of the chunks' compressed data, for a prefetch hint.
pub(crate) fn chunk_ranges(chunks: &[ChunkInfo]) -> Vec<(u64, u64)> {
    chunks
        .iter()
        .map(|c| (c.data_offset, c.compressed_len))
        .collect()
}

fn summarize_chunk(src: &dyn ReadAt, chunk: &ChunkInfo) -> Result<ChunkSummary> {
    let contents = read_chunk(src, chunk)?;
    let mut counts = BTreeMap::new();
    for m in &contents.messages {
        *counts.entry(m.conn).or_default() += 1;
    }
    Ok(ChunkSummary {
        connections: contents
            .connections
            .into_iter()
            .map(|c| (chunk.offset, c))
            .collect(),
        counts,
        start_time_ns: contents.messages.iter().map(|m| m.time_ns).min(),
        end_time_ns: contents.messages.iter().map(|m| m.time_ns).max(),
    })
}

/// Reads and parses a connection record found outside any chunk.
fn read_loose_connection(src: &dyn ReadAt, head: &RecordHead) -> Result<Connection> {
    let data = read_vec(
        src,
        head.data_offset,
        head.data_len,
        "connection data",
        MAX_RECORD_DATA_LEN,
    )?;
    let record = RawRecord {
        offset: head.offset,
        header: head.fields()?,
        data: &data,
    };
    records::parse_connection(&record)
}

/// A scanned layout; `warnings` (about the bag header) come first, then why
/// the index was not used, then what the scan met, in file order.
fn scanned_layout(
    file_len: u64,
    reason: String,
    mut warnings: Vec<Warning>,
    scan: ScanResult,
) -> BagLayout {
    warnings.push(Warning {
        offset: None,
        message: format!("index missing or unusable ({reason}): recovered by scanning"),
    });
    warnings.extend(scan.warnings);
    BagLayout {
        file_len,
        connections: scan.connections,
        connection_offsets: scan.connection_offsets,
        chunks: scan.chunks,
        message_counts: scan.message_counts,
        mode: IndexMode::Scanned { reason },
        warnings,
    }
}

/// The warning for a chunk that a scan could not read.
fn skipped_chunk_message(chunk_offset: u64, e: &Error) -> String {
    match e {
        Error::Chunk { offset, reason } if *offset == chunk_offset => {
            format!("chunk at offset {chunk_offset} skipped: {reason}")
        }
        other => format!("chunk at offset {chunk_offset} skipped: {other}"),
    }
}

/// An error from reading a chunk's compressed bytes, as an [`Error::Chunk`].
fn chunk_error(chunk_offset: u64, e: Error) -> Error {
    let reason = match e {
        Error::Chunk { reason, .. } => reason,
        other => describe(&other),
    };
    Error::Chunk {
        offset: chunk_offset,
        reason,
    }
}

/// An error at a position inside a decompressed chunk (parsed with base
/// offset 0), as an [`Error::Chunk`] that says "+position".
fn in_chunk_error(chunk_offset: u64, e: Error) -> Error {
    let reason = match e {
        Error::Record { offset, reason } => {
            format!("record at +{offset} of the decompressed data: {reason}")
        }
        Error::TooLarge {
            what,
            offset,
            len,
            cap,
        } => {
            format!(
                "{what} of {len} bytes at +{offset} of the decompressed data exceeds the cap of {cap} bytes"
            )
        }
        Error::Chunk { reason, .. } => reason,
        other => other.to_string(),
    };
    Error::Chunk {
        offset: chunk_offset,
        reason,
    }
}

/// An error's text without the variant's own prefix where the caller
/// words the sentence itself.
fn describe(e: &Error) -> String {
    match e {
        Error::Record { offset, reason } => format!("{reason} (record at offset {offset})"),
        other => other.to_string(),
    }
}

/// A name for an `op` code, for messages.
fn op_name(op: u8) -> &'static str {
    match op {
        OP_MSG_DATA => "message data",
        OP_BAG_HEADER => "bag header",
        OP_INDEX_DATA => "index data",
        OP_CHUNK => "chunk",
        OP_CHUNK_INFO => "chunk info",
        OP_CONNECTION => "connection",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index records, as (offset, op), read in pieces of `piece` bytes.
    fn index_records(bag: &[u8], index_pos: u64, piece: u64) -> Vec<(u64, u8)> {
        let mut seen = Vec::new();
        let mut handle = |r: records::RawRecord<'_>| {
            seen.push((r.offset, r.header.op().unwrap()));
            Ok(())
        };
        let src = bag.to_vec();
        assert!(stream_index(&src, index_pos, bag.len() as u64, piece, &mut handle).is_ok());
        seen
    }

    #[test]
    fn the_index_read_in_pieces_of_any_size_gives_the_same_records() {
        let mut b = crate::testing::BagBuilder::new().chunk_threshold(1);
        // Long definitions: connection records larger than small pieces.
        for c in 0..5u32 {
            b = b.connection(
                c,
                &format!("/t{c}"),
                "std_msgs/String",
                "x",
                &"string data\n".repeat(50),
            );
        }
        for i in 0..40u64 {
            b = b.message((i % 5) as u32, 1_000 + i, &[0, 0, 0, 0]);
        }
        let built = b.build_bag();
        let index_pos = built.index_pos.unwrap();
        let whole = index_records(&built.bytes, index_pos, u64::MAX);
        assert_eq!(whole.len(), 5 + 40);
        for piece in [1, 3, 64, 1000] {
            assert_eq!(
                index_records(&built.bytes, index_pos, piece),
                whole,
                "pieces of {piece}"
            );
        }
        // An index cut inside a record is unusable, whatever the pieces.
        let cut = &built.bytes[..built.bytes.len() - 3];
        let src = cut.to_vec();
        for piece in [1, 64, u64::MAX] {
            let r = stream_index(&src, index_pos, cut.len() as u64, piece, &mut |_| Ok(()));
            assert!(
                matches!(r, Err(IndexProblem::Unusable(_))),
                "pieces of {piece}"
            );
        }
    }

    #[test]
    fn magic_errors_say_what_was_found() {
        let e = read_layout(&Vec::new()).unwrap_err();
        assert_eq!(e.to_string(), "not a ROS bag: empty file (0 bytes)");
        let e = read_layout(&b"#ROSBAG V1.2\nxxxxxxxx".to_vec()).unwrap_err();
        assert!(
            matches!(&e, Error::UnsupportedVersion(v) if v == "1.2"),
            "{e}"
        );
        let e = read_layout(&b"hello, world\n".to_vec()).unwrap_err();
        assert!(
            matches!(&e, Error::NotABag(m) if m.contains("hello, world")),
            "{e}"
        );
        let e = read_layout(&b"#ROSBAG V2".to_vec()).unwrap_err();
        assert!(
            matches!(&e, Error::NotABag(m) if m.contains("ends inside the bag magic")),
            "{e}"
        );
        let e = read_layout(&b"#ROSBAG V2.0\r\n\x45\x00".to_vec()).unwrap_err();
        assert!(matches!(&e, Error::NotABag(m) if m.contains("CRLF")), "{e}");
        let e = read_layout(&b"\x89MCAP0\r\n".to_vec()).unwrap_err();
        assert!(matches!(&e, Error::NotABag(m) if m.contains("MCAP")), "{e}");
    }

    #[test]
    fn scan_groups_are_bounded() {
        let chunk = |len: u64| ChunkInfo {
            offset: 0,
            compression: Compression::None,
            data_offset: 0,
            compressed_len: len,
            uncompressed_len: len,
            start_time_ns: None,
            end_time_ns: None,
            connections: None,
            head_unread: false,
        };
        let many: Vec<ChunkInfo> = (0..100).map(|_| chunk(10)).collect();
        let groups = scan_groups(&many);
        assert_eq!(groups.iter().map(|g| g.len()).sum::<usize>(), 100);
        assert!(
            groups
                .iter()
                .all(|g| !g.is_empty() && g.len() <= rayon::current_num_threads() * 2)
        );
        let big = vec![chunk(SCAN_GROUP_BYTES), chunk(1), chunk(SCAN_GROUP_BYTES)];
        assert_eq!(scan_groups(&big).len(), 3);
        assert!(scan_groups(&[]).is_empty());
    }
}
