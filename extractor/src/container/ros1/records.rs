//! Sans-I/O parsing of ROS bag v2.0 records from byte slices.
//!
//! A record is `<header_len u32 LE><header><data_len u32 LE><data>`, and a
//! header is a run of `<field_len u32 LE><name>=<value>` fields. Everything
//! here works on `&[u8]` (a piece of the file, or a decompressed chunk) with
//! a bounds-checked cursor: no I/O, no panics, and every length read from
//! the bytes is checked against a named cap and against the bytes that are
//! actually there before it is used. [`super::bag`] does the file access.
//!
//! Offsets in errors are `base_offset + position in the buffer`: callers
//! pass the file offset of the buffer's first byte, or 0 for a decompressed
//! chunk (whose errors [`super::bag::read_chunk`] then reports as
//! "record at +N" inside the chunk at its file offset).

pub use crate::container::compression::Compression;
use crate::error::{Error, Result};

/// `op` of a message data record (`conn`, `time`; data = the message bytes).
pub const OP_MSG_DATA: u8 = 0x02;
/// `op` of the bag header record (`index_pos`, `conn_count`, `chunk_count`).
pub const OP_BAG_HEADER: u8 = 0x03;
/// `op` of an index data record (`ver`, `conn`, `count`), after each chunk.
pub const OP_INDEX_DATA: u8 = 0x04;
/// `op` of a chunk record (`compression`, `size`; data = compressed records).
pub const OP_CHUNK: u8 = 0x05;
/// `op` of a chunk info record (`ver`, `chunk_pos`, `start_time`, `end_time`, `count`).
pub const OP_CHUNK_INFO: u8 = 0x06;
/// `op` of a connection record (`conn`, `topic`; data = a second header).
pub const OP_CONNECTION: u8 = 0x07;

/// Header field names, named once (they are matched in several places).
pub const FIELD_OP: &str = "op";
pub const FIELD_CONN: &str = "conn";
pub const FIELD_TOPIC: &str = "topic";
pub const FIELD_TIME: &str = "time";
pub const FIELD_TYPE: &str = "type";
pub const FIELD_MD5SUM: &str = "md5sum";
pub const FIELD_MESSAGE_DEFINITION: &str = "message_definition";
pub const FIELD_CALLERID: &str = "callerid";
pub const FIELD_LATCHING: &str = "latching";
pub const FIELD_COMPRESSION: &str = "compression";
pub const FIELD_SIZE: &str = "size";
pub const FIELD_INDEX_POS: &str = "index_pos";
pub const FIELD_CONN_COUNT: &str = "conn_count";
pub const FIELD_CHUNK_COUNT: &str = "chunk_count";
pub const FIELD_VER: &str = "ver";
pub const FIELD_CHUNK_POS: &str = "chunk_pos";
pub const FIELD_START_TIME: &str = "start_time";
pub const FIELD_END_TIME: &str = "end_time";
pub const FIELD_COUNT: &str = "count";

/// Largest record *header* accepted: 1 MiB.
///
/// Record headers hold only short fields (op, ids, times, sizes, a topic
/// name, a compression name); real ones are under 200 bytes. The big text
/// of a connection (its message definition) lives in the record's *data*,
/// which [`MAX_RECORD_DATA_LEN`] bounds. 1 MiB leaves room for absurdly long
/// topic names while a garbage length (4 random bytes, typically in the
/// gigabytes) is refused at once.
pub const MAX_HEADER_LEN: u64 = 1 << 20;

/// Largest data of a record other than a chunk: 512 MiB.
///
/// A single message can be big (a dense point cloud or an uncompressed
/// 4K image is tens of MiB); 512 MiB is far above any real message yet still
/// an allocation the machine survives.
pub const MAX_RECORD_DATA_LEN: u64 = 512 << 20;

/// Largest chunk, compressed or uncompressed: 1 GiB.
///
/// rosbag's default chunk threshold is 768 KiB, but a chunk holds at least
/// one whole message, so a chunk is at most about one message larger than
/// the threshold; 1 GiB covers a [`MAX_RECORD_DATA_LEN`] message plus a
/// generous threshold. A chunk is held in memory whole while it is decoded.
pub const MAX_CHUNK_LEN: u64 = 1 << 30;

/// Most distinct connections accepted in one bag: 100 000.
///
/// A busy robot records a few hundred to a few thousand connections; the
/// cap bounds the per-connection tables built downstream.
pub const MAX_CONNECTIONS: usize = 100_000;

/// Size in bytes of the two length prefixes of a record.
const LEN_PREFIX: usize = 4;

/// A parsed record header: its fields in file order, borrowed from the
/// buffer, plus the record's offset for error messages.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    offset: u64,
    // Inline: a message record's header (conn, op, time) is parsed once
    // per message, and a heap allocation each time showed in profiles.
    fields: smallvec::SmallVec<[(&'a [u8], &'a [u8]); 6]>,
}

impl<'a> Fields<'a> {
    /// Offset of the record these fields belong to (for errors).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The fields as `(name, value)` pairs, in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + '_ {
        self.fields.iter().copied()
    }

    /// The value of field `name`; when a header repeats a name, the first wins.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name.as_bytes())
            .map(|(_, v)| *v)
    }

    /// The record's `op` code.
    pub fn op(&self) -> Result<u8> {
        Ok(self.fixed::<1>(FIELD_OP)?[0])
    }

    /// A little-endian `u32` field.
    pub fn u32(&self, name: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.fixed::<4>(name)?))
    }

    /// A little-endian `u64` field.
    pub fn u64(&self, name: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.fixed::<8>(name)?))
    }

    /// A ROS time field (`sec` u32 then `nsec` u32) as nanoseconds,
    /// `sec * 1e9 + nsec`, not normalised. It cannot overflow:
    /// `u32::MAX * 1e9 + u32::MAX < u64::MAX`.
    pub fn time_ns(&self, name: &str) -> Result<u64> {
        let b = self.fixed::<8>(name)?;
        Ok(time_ns_from_bytes(b))
    }

    /// A required text field, invalid UTF-8 replaced by U+FFFD.
    pub fn string(&self, name: &str) -> Result<String> {
        self.get(name).map(lossy).ok_or_else(|| self.missing(name))
    }

    /// An optional text field, invalid UTF-8 replaced by U+FFFD.
    pub fn optional_string(&self, name: &str) -> Option<String> {
        self.get(name).map(lossy)
    }

    fn fixed<const N: usize>(&self, name: &str) -> Result<[u8; N]> {
        let value = self.get(name).ok_or_else(|| self.missing(name))?;
        value.try_into().map_err(|_| Error::Record {
            offset: self.offset,
            reason: format!("field `{name}` is {} bytes long, expected {N}", value.len()),
        })
    }

    fn missing(&self, name: &str) -> Error {
        Error::Record {
            offset: self.offset,
            reason: format!("header has no `{name}` field"),
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `sec` u32 LE then `nsec` u32 LE, as nanoseconds.
pub fn time_ns_from_bytes(b: [u8; 8]) -> u64 {
    let sec = u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let nsec = u64::from(u32::from_le_bytes([b[4], b[5], b[6], b[7]]));
    sec * 1_000_000_000 + nsec
}

/// Reads a little-endian u32 at `pos`, or `None` when fewer than 4 bytes remain.
pub fn le_u32_at(buf: &[u8], pos: usize) -> Option<u32> {
    let end = pos.checked_add(4)?;
    let b: [u8; 4] = buf.get(pos..end)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

/// Parses a record header (`bytes` is exactly the header, without its
/// length prefix). `offset` is the record's offset, used in errors.
///
/// A field length that runs past the header, or a field without `=`, is
/// an error naming the offset.
pub fn parse_header(bytes: &[u8], offset: u64) -> Result<Fields<'_>> {
    let mut fields = smallvec::SmallVec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let Some(len) = le_u32_at(bytes, pos) else {
            return Err(Error::Record {
                offset,
                reason: format!(
                    "header field length at +{pos} is cut short ({} bytes left of a {}-byte header)",
                    bytes.len() - pos,
                    bytes.len()
                ),
            });
        };
        let start = pos + LEN_PREFIX;
        let field = usize::try_from(len)
            .ok()
            .and_then(|len| bytes.get(start..start.checked_add(len)?))
            .ok_or_else(|| Error::Record {
                offset,
                reason: format!(
                    "header field at +{pos} claims {len} bytes, past the end of the {}-byte header",
                    bytes.len()
                ),
            })?;
        let Some(eq) = field.iter().position(|&b| b == b'=') else {
            return Err(Error::Record {
                offset,
                reason: format!("header field at +{pos} has no '=' ({:?})", preview(field)),
            });
        };
        fields.push((&field[..eq], &field[eq + 1..]));
        pos = start + field.len();
    }
    Ok(Fields { offset, fields })
}

/// A short printable rendering of some bytes, for error messages.
pub fn preview(bytes: &[u8]) -> String {
    const MAX: usize = 24;
    let shown: String = bytes
        .iter()
        .take(MAX)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    if bytes.len() > MAX {
        format!("{shown}...")
    } else {
        shown
    }
}

/// One record borrowed from a buffer.
#[derive(Debug, Clone)]
pub struct RawRecord<'a> {
    /// `base_offset` + the record's position in the buffer.
    pub offset: u64,
    pub header: Fields<'a>,
    pub data: &'a [u8],
}

/// The cap on a record's data length, which depends on its kind: a chunk
/// holds many messages, any other record at most one.
pub fn data_len_cap(op: u8) -> u64 {
    if op == OP_CHUNK {
        MAX_CHUNK_LEN
    } else {
        MAX_RECORD_DATA_LEN
    }
}

/// Checks a header length read from the file against [`MAX_HEADER_LEN`].
pub fn check_header_len(len: u32, offset: u64) -> Result<()> {
    if u64::from(len) > MAX_HEADER_LEN {
        return Err(Error::TooLarge {
            what: "record header",
            offset,
            len: len.into(),
            cap: MAX_HEADER_LEN,
        });
    }
    Ok(())
}

/// Checks a data length read from the file against the cap for `op`.
pub fn check_data_len(op: u8, len: u32, offset: u64) -> Result<()> {
    let cap = data_len_cap(op);
    if u64::from(len) > cap {
        let what = if op == OP_CHUNK {
            "chunk data"
        } else {
            "record data"
        };
        return Err(Error::TooLarge {
            what,
            offset,
            len: len.into(),
            cap,
        });
    }
    Ok(())
}

/// Reads the record starting at `buf[pos]`; returns it and the position of
/// the next record. `base_offset` is the offset of `buf[0]` (for errors).
///
/// The record must lie entirely inside `buf`: a length that runs past the
/// end is an error, as is a header without a 1-byte `op`.
pub fn read_record(buf: &[u8], pos: usize, base_offset: u64) -> Result<(RawRecord<'_>, usize)> {
    let offset = base_offset.saturating_add(pos as u64);
    let left = buf.len().saturating_sub(pos);
    let cut = |what: &str, need: u64| Error::Record {
        offset,
        reason: format!("{what} needs {need} bytes but only {left} remain"),
    };
    let header_len =
        le_u32_at(buf, pos).ok_or_else(|| cut("record header length", LEN_PREFIX as u64))?;
    check_header_len(header_len, offset)?;
    // header_len <= MAX_HEADER_LEN, so these additions cannot overflow.
    let header_start = pos + LEN_PREFIX;
    let header_end = header_start + header_len as usize;
    let header_bytes = buf
        .get(header_start..header_end)
        .ok_or_else(|| cut("record header", LEN_PREFIX as u64 + u64::from(header_len)))?;
    let header = parse_header(header_bytes, offset)?;
    let op = header.op()?;
    let data_len = le_u32_at(buf, header_end).ok_or_else(|| {
        cut(
            "record header and data length",
            (header_end - pos + LEN_PREFIX) as u64,
        )
    })?;
    check_data_len(op, data_len, offset)?;
    let data_start = header_end + LEN_PREFIX;
    let data_end = data_start + data_len as usize;
    let data = buf
        .get(data_start..data_end)
        .ok_or_else(|| cut("record", (data_end - pos) as u64))?;
    Ok((
        RawRecord {
            offset,
            header,
            data,
        },
        data_end,
    ))
}

/// Iterates over the records of a whole buffer, in order. After the first
/// error it yields that error and then nothing (a record that does not parse
/// leaves no way to find the next one).
#[derive(Debug, Clone)]
pub struct RecordIter<'a> {
    buf: &'a [u8],
    pos: usize,
    base_offset: u64,
    failed: bool,
}

/// The records of `buf`, whose first byte is at `base_offset`.
pub fn records(buf: &[u8], base_offset: u64) -> RecordIter<'_> {
    RecordIter {
        buf,
        pos: 0,
        base_offset,
        failed: false,
    }
}

impl RecordIter<'_> {
    /// Position in the buffer of the next record to read.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<RawRecord<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        match read_record(self.buf, self.pos, self.base_offset) {
            Ok((record, next)) => {
                self.pos = next;
                Some(Ok(record))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// One connection: a publisher on a topic with its message type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: u32,
    pub topic: String,
    pub datatype: String,
    pub md5sum: String,
    /// The full definition text (empty when the writer left it out).
    pub message_definition: String,
    pub callerid: Option<String>,
    pub latching: bool,
}

/// Parses a connection record: `conn` and `topic` from the record header,
/// the rest from the second header in its data. A missing
/// `message_definition` is an empty string, not an error (some writers
/// leave it out); `latching` is true only for the value `1`.
pub fn parse_connection(rec: &RawRecord<'_>) -> Result<Connection> {
    let id = rec.header.u32(FIELD_CONN)?;
    let data = parse_header(rec.data, rec.offset).map_err(|e| match e {
        Error::Record { offset, reason } => Error::Record {
            offset,
            reason: format!("connection {id} data: {reason}"),
        },
        other => other,
    })?;
    // The outer `topic` is authoritative; the copy in the data is a fallback.
    let topic = match rec.header.optional_string(FIELD_TOPIC) {
        Some(t) => t,
        None => data.string(FIELD_TOPIC)?,
    };
    Ok(Connection {
        id,
        topic,
        datatype: data.string(FIELD_TYPE)?,
        md5sum: data.string(FIELD_MD5SUM)?,
        message_definition: data
            .optional_string(FIELD_MESSAGE_DEFINITION)
            .unwrap_or_default(),
        callerid: data.optional_string(FIELD_CALLERID),
        latching: data.get(FIELD_LATCHING) == Some(b"1"),
    })
}

/// The fields of a chunk record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    pub compression: Compression,
    /// Uncompressed size of the chunk data.
    pub size: u32,
}

/// Parses a chunk record header (`compression`, `size`).
pub fn parse_chunk_header(header: &Fields<'_>) -> Result<ChunkHeader> {
    let compression = header
        .get(FIELD_COMPRESSION)
        .ok_or_else(|| header.missing(FIELD_COMPRESSION))?;
    Ok(ChunkHeader {
        compression: Compression::parse(compression, header.offset())?,
        size: header.u32(FIELD_SIZE)?,
    })
}

/// The fields of the bag header record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BagHeader {
    /// Offset of the index section (0 while a recorder is still writing).
    pub index_pos: u64,
    pub conn_count: u32,
    pub chunk_count: u32,
}

/// Parses the bag header record's header (`index_pos`, `conn_count`, `chunk_count`).
pub fn parse_bag_header(header: &Fields<'_>) -> Result<BagHeader> {
    Ok(BagHeader {
        index_pos: header.u64(FIELD_INDEX_POS)?,
        conn_count: header.u32(FIELD_CONN_COUNT)?,
        chunk_count: header.u32(FIELD_CHUNK_COUNT)?,
    })
}

/// A chunk info record from the index section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkInfoRecord {
    /// File offset of the chunk record it describes.
    pub chunk_pos: u64,
    pub start_time_ns: u64,
    pub end_time_ns: u64,
    /// `(connection id, message count)` for each connection in the chunk.
    pub counts: Vec<(u32, u32)>,
}

/// Size of one `(conn, count)` entry in chunk info data.
const CHUNK_INFO_ENTRY: usize = 8;

/// Parses a chunk info record (version 1). Its data must hold exactly
/// `count` entries: the entries are read from the data, so the count never
/// sizes an allocation by itself.
pub fn parse_chunk_info(rec: &RawRecord<'_>) -> Result<ChunkInfoRecord> {
    let h = &rec.header;
    let ver = h.u32(FIELD_VER)?;
    if ver != 1 {
        return Err(Error::Record {
            offset: rec.offset,
            reason: format!("chunk info version {ver}, expected 1"),
        });
    }
    let count = h.u32(FIELD_COUNT)?;
    if rec.data.len() as u64 != u64::from(count) * CHUNK_INFO_ENTRY as u64 {
        return Err(Error::Record {
            offset: rec.offset,
            reason: format!(
                "chunk info claims {count} connections but its data is {} bytes",
                rec.data.len()
            ),
        });
    }
    let counts = rec
        .data
        .chunks_exact(CHUNK_INFO_ENTRY)
        .map(|e| {
            let conn = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
            let n = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
            (conn, n)
        })
        .collect();
    Ok(ChunkInfoRecord {
        chunk_pos: h.u64(FIELD_CHUNK_POS)?,
        start_time_ns: h.time_ns(FIELD_START_TIME)?,
        end_time_ns: h.time_ns(FIELD_END_TIME)?,
        counts,
    })
}

/// The header fields of a message data record: connection id and receive time.
pub fn parse_message_header(header: &Fields<'_>) -> Result<(u32, u64)> {
    Ok((header.u32(FIELD_CONN)?, header.time_ns(FIELD_TIME)?))
}

/// A message data record read the quick way: its connection id, receive
/// time, the range of its data in `buf`, and where the next record starts.
///
/// Most records of every chunk are message data records, and reading each
/// through [`read_record`] (every field into a [`Fields`], each looked up
/// by name) was about a tenth of a structured bag's instructions
/// (callgrind). This reads `op`, `conn` and `time` in one pass over the
/// header. `None` for anything else: another kind of record, a field
/// missing, repeated or of another length, a malformed header or a length
/// past the end; the caller then reads the record with [`read_record`],
/// which gives the same answer for every record this accepts and says what
/// is wrong with the others.
pub fn quick_message(buf: &[u8], pos: usize) -> Option<(u32, u64, std::ops::Range<usize>, usize)> {
    let header_len = le_u32_at(buf, pos)?;
    check_header_len(header_len, 0).ok()?;
    let header_start = pos + LEN_PREFIX;
    let header_end = header_start + header_len as usize;
    let (conn, time_ns) = quick_message_header(buf.get(header_start..header_end)?)?;
    let data_len = le_u32_at(buf, header_end)?;
    check_data_len(OP_MSG_DATA, data_len, 0).ok()?;
    let data_start = header_end + LEN_PREFIX;
    let data_end = data_start + data_len as usize;
    (data_end <= buf.len()).then_some((conn, time_ns, data_start..data_end, data_end))
}

/// `conn` and `time` of a header whose `op` is message data, each present
/// once with its length, every field well formed; else `None` (see
/// [`quick_message`]). A name is what precedes a field's first `=`, as in
/// [`parse_header`].
fn quick_message_header(header: &[u8]) -> Option<(u32, u64)> {
    let (mut op, mut conn, mut time) = (None, None, None);
    let mut pos = 0;
    while pos < header.len() {
        let len = usize::try_from(le_u32_at(header, pos)?).ok()?;
        let start = pos + LEN_PREFIX;
        let field = header.get(start..start.checked_add(len)?)?;
        let eq = field.iter().position(|&b| b == b'=')?;
        let (name, value) = (&field[..eq], &field[eq + 1..]);
        match name {
            b"op" => {
                let [v] = value else { return None };
                op.replace(*v).is_none().then_some(())?;
            }
            b"conn" => {
                let v = u32::from_le_bytes(value.try_into().ok()?);
                conn.replace(v).is_none().then_some(())?;
            }
            b"time" => {
                let v = time_ns_from_bytes(value.try_into().ok()?);
                time.replace(v).is_none().then_some(())?;
            }
            _ => {}
        }
        pos = start + len;
    }
    (op? == OP_MSG_DATA).then_some((conn?, time?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, value: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&((name.len() + 1 + value.len()) as u32).to_le_bytes());
        f.extend_from_slice(name.as_bytes());
        f.push(b'=');
        f.extend_from_slice(value);
        f
    }

    fn record(header: &[u8], data: &[u8]) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(&(header.len() as u32).to_le_bytes());
        r.extend_from_slice(header);
        r.extend_from_slice(&(data.len() as u32).to_le_bytes());
        r.extend_from_slice(data);
        r
    }

    #[test]
    fn parses_fields_and_typed_values() {
        let mut h = field("op", &[OP_MSG_DATA]);
        h.extend(field("conn", &7u32.to_le_bytes()));
        let mut t = 3u32.to_le_bytes().to_vec();
        t.extend(5u32.to_le_bytes());
        h.extend(field("time", &t));
        h.extend(field("eq", b"a=b"));
        let f = parse_header(&h, 100).unwrap();
        assert_eq!(f.op().unwrap(), OP_MSG_DATA);
        assert_eq!(f.u32("conn").unwrap(), 7);
        assert_eq!(f.time_ns("time").unwrap(), 3_000_000_005);
        // Split at the first '=' only.
        assert_eq!(f.get("eq"), Some(&b"a=b"[..]));
        let err = f.u64("conn").unwrap_err().to_string();
        assert!(
            err.contains("offset 100") && err.contains("4 bytes long, expected 8"),
            "{err}"
        );
        let err = f.u32("nope").unwrap_err().to_string();
        assert!(
            err.contains("offset 100") && err.contains("no `nope` field"),
            "{err}"
        );
    }

    /// What the full path makes of the record at the start of `buf`, as
    /// [`quick_message`] would give it.
    fn full_message(buf: &[u8]) -> Result<(u32, u64, std::ops::Range<usize>, usize)> {
        let (record, next) = read_record(buf, 0, 0)?;
        if record.header.op()? != OP_MSG_DATA {
            return Err(Error::Record {
                offset: 0,
                reason: "not a message".into(),
            });
        }
        let (conn, time) = parse_message_header(&record.header)?;
        Ok((conn, time, next - record.data.len()..next, next))
    }

    #[test]
    fn the_quick_message_path_agrees_with_the_full_one() {
        let time: Vec<u8> = [3u32.to_le_bytes(), 5u32.to_le_bytes()].concat();
        let op = field("op", &[OP_MSG_DATA]);
        let conn = field("conn", &7u32.to_le_bytes());
        let t = field("time", &time);
        let cat = |parts: &[&[u8]]| parts.concat();
        let headers: Vec<(Vec<u8>, bool)> = vec![
            // (header, whether the quick path must take it)
            (cat(&[&op, &conn, &t]), true),
            (cat(&[&t, &conn, &op]), true),
            (cat(&[&op, &field("x", b"y=z"), &conn, &t]), true),
            (cat(&[&op, &conn, &t, &field("op", &[OP_MSG_DATA])]), false),
            (cat(&[&op, &conn, &conn, &t]), false),
            (
                cat(&[&field("op", &[OP_MSG_DATA, 0]), &op, &conn, &t]),
                false,
            ),
            (cat(&[&op, &field("conn", &[7, 0]), &t]), false),
            (cat(&[&op, &conn, &field("time", &[1, 2, 3, 4])]), false),
            (cat(&[&op, &conn]), false),
            (cat(&[&field("op", &[OP_CONNECTION]), &conn, &t]), false),
            (cat(&[&op, &conn, &t, &3u32.to_le_bytes(), b"abc"]), false),
            (cat(&[&op, &conn, &t, &[9, 0]]), false),
            (cat(&[&op, &conn, &t, &99u32.to_le_bytes()]), false),
        ];
        let data = b"payload";
        for (i, (header, quick)) in headers.iter().enumerate() {
            let whole = record(header, data);
            let mut buf = whole.clone();
            buf.extend(record(&cat(&[&op, &conn, &t]), b"next"));
            let cut = &whole[..whole.len() - 1];
            for buf in [&buf[..], &whole[..], cut] {
                let got = quick_message(buf, 0);
                if let Some(got) = &got {
                    assert_eq!(
                        full_message(buf).as_ref().ok(),
                        Some(got),
                        "header {i}: the quick path took what the full path reads otherwise"
                    );
                    assert_eq!(&buf[got.2.clone()], data, "header {i}");
                }
                if *quick && buf.len() >= whole.len() {
                    assert_eq!(
                        got.map(|g| (g.0, g.1)),
                        Some((7, 3_000_000_005)),
                        "header {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn max_time_does_not_overflow() {
        assert_eq!(
            time_ns_from_bytes([0xff; 8]),
            u64::from(u32::MAX) * 1_000_000_000 + u64::from(u32::MAX)
        );
    }

    #[test]
    fn header_errors_name_the_offset() {
        let mut h = field("op", &[2]);
        h.extend_from_slice(&50u32.to_le_bytes());
        h.extend_from_slice(b"x=1");
        let err = parse_header(&h, 4242).unwrap_err().to_string();
        assert!(
            err.contains("4242") && err.contains("claims 50 bytes"),
            "{err}"
        );
        let mut h = 3u32.to_le_bytes().to_vec();
        h.extend_from_slice(b"abc");
        let err = parse_header(&h, 7).unwrap_err().to_string();
        assert!(err.contains("offset 7") && err.contains("no '='"), "{err}");
        let err = parse_header(&[1, 0], 9).unwrap_err().to_string();
        assert!(
            err.contains("offset 9") && err.contains("cut short"),
            "{err}"
        );
    }

    #[test]
    fn read_record_checks_every_length() {
        let h = field("op", &[OP_INDEX_DATA]);
        let rec = record(&h, b"abcd");
        let (r, next) = read_record(&rec, 0, 1000).unwrap();
        assert_eq!((r.offset, r.data, next), (1000, &b"abcd"[..], rec.len()));
        // Every truncation is an error naming the record's offset, never a panic.
        for cut in 0..rec.len() {
            let err = read_record(&rec[..cut], 0, 1000).unwrap_err().to_string();
            assert!(err.contains("1000"), "cut {cut}: {err}");
        }
        // A huge header length is refused by the cap.
        let mut huge = vec![0xff; 4];
        huge.extend_from_slice(&rec);
        assert!(matches!(
            read_record(&huge, 0, 0),
            Err(Error::TooLarge {
                what: "record header",
                ..
            })
        ));
        // A huge data length too (a message record is capped lower than a chunk).
        let mut big = Vec::new();
        big.extend_from_slice(&(h.len() as u32).to_le_bytes());
        big.extend_from_slice(&h);
        big.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            read_record(&big, 0, 0),
            Err(Error::TooLarge {
                what: "record data",
                ..
            })
        ));
        // No op field.
        let rec = record(&field("x", b"1"), b"");
        assert!(
            read_record(&rec, 0, 0)
                .unwrap_err()
                .to_string()
                .contains("`op`")
        );
    }

    #[test]
    fn iterator_stops_after_an_error() {
        let mut buf = record(&field("op", &[OP_INDEX_DATA]), b"");
        buf.extend(record(&field("op", &[OP_INDEX_DATA]), b"zz"));
        buf.extend_from_slice(&[9, 9]);
        let items: Vec<_> = records(&buf, 0).collect();
        assert_eq!(items.len(), 3);
        assert!(items[0].is_ok() && items[1].is_ok() && items[2].is_err());
    }

    #[test]
    fn connection_defaults_and_fallbacks() {
        let mut h = field("op", &[OP_CONNECTION]);
        h.extend(field("conn", &3u32.to_le_bytes()));
        h.extend(field("topic", b"/a"));
        let mut d = field("topic", b"/a");
        d.extend(field("type", b"std_msgs/Empty"));
        d.extend(field("md5sum", b"d41d8cd98f00b204e9800998ecf8427e"));
        let rec = record(&h, &d);
        let (r, _) = read_record(&rec, 0, 0).unwrap();
        let c = parse_connection(&r).unwrap();
        assert_eq!(c.id, 3);
        assert_eq!(c.topic, "/a");
        assert_eq!(c.message_definition, "");
        assert_eq!(c.callerid, None);
        assert!(!c.latching);
        // Missing type is an error naming the record.
        let rec = record(&h, &field("md5sum", b"x"));
        let (r, _) = read_record(&rec, 0, 55).unwrap();
        assert!(
            parse_connection(&r)
                .unwrap_err()
                .to_string()
                .contains("`type`")
        );
    }

    #[test]
    fn chunk_info_count_must_match_data() {
        let mut h = field("op", &[OP_CHUNK_INFO]);
        h.extend(field("ver", &1u32.to_le_bytes()));
        h.extend(field("chunk_pos", &4117u64.to_le_bytes()));
        h.extend(field("start_time", &[0; 8]));
        h.extend(field("end_time", &[0; 8]));
        h.extend(field("count", &u32::MAX.to_le_bytes()));
        let rec = record(&h, &[0; 8]);
        let (r, _) = read_record(&rec, 0, 0).unwrap();
        assert!(
            parse_chunk_info(&r)
                .unwrap_err()
                .to_string()
                .contains("claims 4294967295")
        );
    }
}
