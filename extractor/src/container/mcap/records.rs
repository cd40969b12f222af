//! MCAP records parsed from bytes, with no I/O: the record prefix (opcode
//! and length) and the bodies of the records a reader needs.
//!
//! Written here rather than taken from the `mcap` crate's parser, which
//! sizes a vector from a string's or map's length field before checking it
//! against the record's bytes: a 13 KB file claiming a 1.4 GB string made
//! it allocate 1.4 GB (found by the `mcap` fuzz target). Every length here
//! is checked against the bytes that remain before anything is allocated.
//! The crate's writer is still what writes clips and test files.
//!
//! Records may gain fields at their end (MCAP spec): a body longer than the
//! fields read is fine; a shorter one is an error.

use std::collections::BTreeMap;

pub const OP_HEADER: u8 = 0x01;
pub const OP_FOOTER: u8 = 0x02;
pub const OP_SCHEMA: u8 = 0x03;
pub const OP_CHANNEL: u8 = 0x04;
pub const OP_MESSAGE: u8 = 0x05;
pub const OP_CHUNK: u8 = 0x06;
pub const OP_MESSAGE_INDEX: u8 = 0x07;
pub const OP_CHUNK_INDEX: u8 = 0x08;
pub const OP_STATISTICS: u8 = 0x0B;
pub const OP_METADATA: u8 = 0x0C;
pub const OP_METADATA_INDEX: u8 = 0x0D;
pub const OP_DATA_END: u8 = 0x0F;

/// Opcode and length before every record's body.
pub const RECORD_PREFIX: u64 = 9;
/// A message record's header: channel, sequence, log time, publish time.
pub const MESSAGE_HEADER_LEN: usize = 2 + 4 + 8 + 8;

type Parsed<T> = Result<T, String>;

/// A bounds-checked little-endian reader over one record's body.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Parsed<&'a [u8]> {
        let left = self.buf.len() - self.pos;
        if n > left {
            return Err(format!(
                "needs {n} bytes at +{}, only {left} remain",
                self.pos
            ));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Parsed<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    fn u16(&mut self) -> Parsed<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Parsed<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Parsed<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// `u32` length, then that many bytes (checked before taken).
    fn bytes(&mut self) -> Parsed<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn string(&mut self) -> Parsed<String> {
        Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
    }

    /// A map: `u32` byte length, then entries until those bytes are used.
    fn map<K, V>(
        &mut self,
        mut entry: impl FnMut(&mut Cursor<'a>) -> Parsed<(K, V)>,
    ) -> Parsed<BTreeMap<K, V>>
    where
        K: Ord,
    {
        let bytes = self.bytes()?;
        let mut inner = Cursor { buf: bytes, pos: 0 };
        let mut out = BTreeMap::new();
        while inner.pos < bytes.len() {
            let (k, v) = entry(&mut inner)?;
            out.insert(k, v);
        }
        Ok(out)
    }
}

fn parse<T>(body: &[u8], f: impl FnOnce(&mut Cursor<'_>) -> Parsed<T>) -> Parsed<T> {
    f(&mut Cursor { buf: body, pos: 0 })
}

/// Splits the record at `pos` of `buf`: (opcode, body, next position).
pub fn split_record(buf: &[u8], pos: usize) -> Parsed<(u8, &[u8], usize)> {
    let prefix = buf
        .get(pos..pos + RECORD_PREFIX as usize)
        .ok_or_else(|| format!("a record prefix needs 9 bytes, {} remain", buf.len() - pos))?;
    let len = u64::from_le_bytes(prefix[1..9].try_into().expect("8 bytes"));
    let start = pos + RECORD_PREFIX as usize;
    let end = usize::try_from(len)
        .ok()
        .and_then(|l| start.checked_add(l))
        .filter(|&e| e <= buf.len())
        .ok_or_else(|| {
            format!(
                "a record of op {:#04x} claims {len} bytes, {} remain",
                prefix[0],
                buf.len() - start
            )
        })?;
    Ok((prefix[0], &buf[start..end], end))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub profile: String,
    pub library: String,
}

pub fn header(body: &[u8]) -> Parsed<Header> {
    parse(body, |c| {
        Ok(Header {
            profile: c.string()?,
            library: c.string()?,
        })
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    pub id: u16,
    pub name: String,
    pub encoding: String,
    pub data: Vec<u8>,
}

pub fn schema(body: &[u8]) -> Parsed<Schema> {
    parse(body, |c| {
        Ok(Schema {
            id: c.u16()?,
            name: c.string()?,
            encoding: c.string()?,
            data: c.bytes()?.to_vec(),
        })
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: u16,
    pub schema_id: u16,
    pub topic: String,
    pub message_encoding: String,
    pub metadata: BTreeMap<String, String>,
}

fn string_map(c: &mut Cursor<'_>) -> Parsed<BTreeMap<String, String>> {
    c.map(|e| Ok((e.string()?, e.string()?)))
}

pub fn channel(body: &[u8]) -> Parsed<Channel> {
    parse(body, |c| {
        Ok(Channel {
            id: c.u16()?,
            schema_id: c.u16()?,
            topic: c.string()?,
            message_encoding: c.string()?,
            metadata: string_map(c)?,
        })
    })
}

/// The channel and log time of a message record's body.
pub fn message_header(body: &[u8]) -> Parsed<(u16, u64)> {
    parse(body, |c| {
        let channel = c.u16()?;
        let _sequence = c.u32()?;
        Ok((channel, c.u64()?))
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkIndex {
    pub message_start_time: u64,
    pub message_end_time: u64,
    pub chunk_start_offset: u64,
    pub chunk_length: u64,
    /// Channel to the offset of its message index record.
    pub message_index_offsets: BTreeMap<u16, u64>,
    pub message_index_length: u64,
    pub compression: String,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
}

pub fn chunk_index(body: &[u8]) -> Parsed<ChunkIndex> {
    parse(body, |c| {
        Ok(ChunkIndex {
            message_start_time: c.u64()?,
            message_end_time: c.u64()?,
            chunk_start_offset: c.u64()?,
            chunk_length: c.u64()?,
            message_index_offsets: c.map(|e| Ok((e.u16()?, e.u64()?)))?,
            message_index_length: c.u64()?,
            compression: c.string()?,
            compressed_size: c.u64()?,
            uncompressed_size: c.u64()?,
        })
    })
}

/// What a reader needs of a Statistics record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statistics {
    pub message_count: u64,
    pub chunk_count: u32,
    pub channel_message_counts: BTreeMap<u16, u64>,
}

pub fn statistics(body: &[u8]) -> Parsed<Statistics> {
    parse(body, |c| {
        let message_count = c.u64()?;
        let _schema_count = c.u16()?;
        let _channel_count = c.u32()?;
        let _attachment_count = c.u32()?;
        let _metadata_count = c.u32()?;
        let chunk_count = c.u32()?;
        let _start = c.u64()?;
        let _end = c.u64()?;
        Ok(Statistics {
            message_count,
            chunk_count,
            channel_message_counts: c.map(|e| Ok((e.u16()?, e.u64()?)))?,
        })
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub name: String,
    pub metadata: BTreeMap<String, String>,
}

pub fn metadata(body: &[u8]) -> Parsed<Metadata> {
    parse(body, |c| {
        Ok(Metadata {
            name: c.string()?,
            metadata: string_map(c)?,
        })
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataIndex {
    pub offset: u64,
    pub length: u64,
    pub name: String,
}

pub fn metadata_index(body: &[u8]) -> Parsed<MetadataIndex> {
    parse(body, |c| {
        Ok(MetadataIndex {
            offset: c.u64()?,
            length: c.u64()?,
            name: c.string()?,
        })
    })
}

/// The channel of a message index record, and how many messages it lists.
pub fn message_index_count(body: &[u8]) -> Parsed<(u16, u64)> {
    parse(body, |c| {
        let channel = c.u16()?;
        let entries = c.bytes()?;
        Ok((channel, entries.len() as u64 / 16))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_length_past_the_body_is_an_error_not_an_allocation() {
        // A schema whose name claims 1.4 GB in a few bytes.
        let mut body = 1u16.to_le_bytes().to_vec();
        body.extend_from_slice(&0x5400_0000u32.to_le_bytes());
        body.extend_from_slice(b"abc");
        let e = schema(&body).unwrap_err();
        assert!(e.contains("needs 1409286144 bytes"), "{e}");
        // A map whose byte length runs past the body.
        let mut body = vec![0, 0, 0, 0, 0, 0];
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(channel(&body).is_err());
    }

    #[test]
    fn records_parse_and_may_grow_fields() {
        let mut body = 7u16.to_le_bytes().to_vec();
        body.extend_from_slice(&3u16.to_le_bytes());
        for s in ["/topic", "cdr"] {
            body.extend_from_slice(&(s.len() as u32).to_le_bytes());
            body.extend_from_slice(s.as_bytes());
        }
        let mut map = Vec::new();
        for s in ["k", "v"] {
            map.extend_from_slice(&(s.len() as u32).to_le_bytes());
            map.extend_from_slice(s.as_bytes());
        }
        body.extend_from_slice(&(map.len() as u32).to_le_bytes());
        body.extend_from_slice(&map);
        body.extend_from_slice(b"a field of a later version");
        let c = channel(&body).unwrap();
        assert_eq!((c.id, c.schema_id, c.topic.as_str()), (7, 3, "/topic"));
        assert_eq!(c.metadata["k"], "v");
    }
}
