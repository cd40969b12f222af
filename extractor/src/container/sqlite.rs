//! rosbag2 sqlite3 files (`.db3`), database schema versions 1 to 4.
//!
//! | schema | how it is told apart | what it adds |
//! | --- | --- | --- |
//! | 1 | no `schema` table, `topics` without `offered_qos_profiles` | `topics`, `messages` |
//! | 2 | no `schema` table, `offered_qos_profiles` present | QoS |
//! | 3 | a `schema` table | `schema` (version, `ros_distro`), `metadata` |
//! | 4 | `schema_version = 4` | `message_definitions`, `topics.type_description_hash` |
//!
//! The file is opened read-only and immutable (`file:...?immutable=1`):
//! SQLite then never writes beside it (a WAL-mode file opened merely
//! read-only creates `-shm` and `-wal` files, and fails in a read-only
//! directory). A message stored zstd-compressed (rosbag2's per-message
//! compression) is recognised by the zstd magic and decompressed.
//!
//! Units are ranges of `messages.id` (bag order), of at most
//! [`UNIT_ROWS`] rows or [`UNIT_BYTES`] bytes, found by one pass over the
//! ids, times and lengths. An SQLite error part-way (a corrupt page, a
//! truncated file) keeps the rows read before it, with one warning.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection as Db3, OpenFlags};

use super::compression::{Compression, decompress_unclaimed};
use super::ros1::records::MAX_RECORD_DATA_LEN;
use super::spool::Spooled;
use super::{
    Connection, Format, IndexMode, MessageRef, Opened, Storage, Unit, UnitContents, UnitKind,
    Warning, ZSTD_MAGIC,
};
use crate::error::{Error, Result};
use crate::source::ReadAt;

/// Most rows in one unit.
pub const UNIT_ROWS: u64 = 65_536;
/// Most message bytes (as stored) in one unit.
pub const UNIT_BYTES: u64 = 32 << 20;

/// An open rosbag2 database.
pub struct Db {
    // Declared first: closed before its temporary file is removed.
    conn: Mutex<Db3>,
    _spooled: Option<Spooled>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Db")
    }
}

/// What SQLite said, as an error of the bag.
fn sql_error(what: &str, e: rusqlite::Error) -> Error {
    Error::NotABag(format!("{what}: {e}"))
}

impl Db {
    /// Opens `path` read-only and immutable. `spooled` is the temporary
    /// copy it is, if it is one (kept until the database is closed).
    pub fn open(path: &Path, spooled: Option<Spooled>) -> Result<Db> {
        use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
        const PATH: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'/')
            .remove(b'.')
            .remove(b'_')
            .remove(b'-');
        let uri = format!(
            "file:{}?immutable=1",
            utf8_percent_encode(&path.to_string_lossy(), PATH)
        );
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Db3::open_with_flags(&uri, flags)
            .map_err(|e| sql_error("opening the SQLite database", e))?;
        Ok(Db {
            conn: Mutex::new(conn),
            _spooled: spooled,
        })
    }

    /// Reads the messages with ids `first..=last`; their topics become the
    /// bag's connection ids (`ids`). An error part-way keeps the rows read.
    pub(super) fn read_rows(
        &self,
        first: i64,
        last: i64,
        ids: &HashMap<i64, u32>,
    ) -> Result<UnitContents> {
        let conn = self.conn.lock().expect("database lock");
        let mut out = UnitContents::default();
        let mut read = || -> rusqlite::Result<()> {
            let mut stmt = conn.prepare(
                "SELECT id, topic_id, timestamp, data FROM messages WHERE id >= ?1 AND id <= ?2 ORDER BY id",
            )?;
            let mut rows = stmt.query([first, last])?;
            while let Some(row) = rows.next()? {
                let id: i64 = row.get(0)?;
                let topic: i64 = row.get(1)?;
                let time: i64 = row.get(2)?;
                let data = row.get_ref(3)?;
                let bytes = match data {
                    rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => b,
                    _ => &[],
                };
                let Some(&conn_id) = ids.get(&topic) else {
                    *out.unknown
                        .entry(u32::try_from(topic).unwrap_or(u32::MAX))
                        .or_default() += 1;
                    continue;
                };
                let start = out.data.len();
                if bytes.starts_with(ZSTD_MAGIC) {
                    match decompress_unclaimed(Compression::Zstd, bytes, MAX_RECORD_DATA_LEN) {
                        Ok(plain) => out.data.extend_from_slice(&plain),
                        Err(e) => {
                            let entry = out
                                .unreadable
                                .entry(conn_id)
                                .or_insert_with(|| (0, format!("message id {id}: {e}")));
                            entry.0 += 1;
                            continue;
                        }
                    }
                } else {
                    out.data.extend_from_slice(bytes);
                }
                out.messages.push(MessageRef {
                    conn: conn_id,
                    time_ns: u64::try_from(time).unwrap_or(0),
                    range: start..out.data.len(),
                });
            }
            Ok(())
        };
        if let Err(e) = read() {
            let after = out.messages.len();
            out.warning = Some(format!(
                "SQLite error reading messages {first} to {last} after {after} of them: {e}; the rows after it are not read"
            ));
        }
        Ok(out)
    }
}

/// A database file shorter than its header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    pub page_size: u64,
    pub pages_claimed: u64,
    pub pages_present: u64,
}

/// Reads the database header: `Some` when the file holds fewer pages than
/// the header's page count (a copy cut short, a recorder that stopped
/// mid-write), which SQLite would refuse to open.
pub fn truncation(src: &dyn ReadAt) -> Result<Option<Truncation>> {
    let len = src.len();
    if len < 100 {
        return Ok(None);
    }
    let mut h = [0u8; 100];
    src.read_exact_at(0, &mut h).map_err(|source| Error::Io {
        offset: 0,
        len: 100,
        source,
    })?;
    let page_size = match u16::from_be_bytes([h[16], h[17]]) {
        1 => 65_536,
        n => u64::from(n),
    };
    let pages_claimed = u64::from(u32::from_be_bytes([h[28], h[29], h[30], h[31]]));
    // The page count is only in force when "version-valid-for" matches
    // the change counter (SQLite's rule); otherwise the file size is used.
    let valid = h[24..28] == h[92..96];
    if page_size < 512 || !valid || pages_claimed.saturating_mul(page_size) <= len {
        return Ok(None);
    }
    Ok(Some(Truncation {
        page_size,
        pages_claimed,
        pages_present: len / page_size,
    }))
}

/// Writes a page count into a (temporary) database file's header.
pub fn patch_page_count(path: &Path, pages: u64) -> Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let io = |source: std::io::Error| Error::Io {
        offset: 28,
        len: 4,
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io)?;
    f.seek(SeekFrom::Start(28)).map_err(io)?;
    f.write_all(&u32::try_from(pages).unwrap_or(u32::MAX).to_be_bytes())
        .map_err(io)
}

/// A table's column names.
fn columns(conn: &Db3, table: &str) -> rusqlite::Result<HashSet<String>> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(names)
}

/// A row of `topics`: id, name, type, serialization format, QoS, hash.
type TopicRow = (i64, String, String, String, Option<String>, Option<String>);

/// Reads a rosbag2 database's topics, definitions and units.
pub(super) fn open(db: Db) -> Result<Opened> {
    let conn = db.conn.lock().expect("database lock");
    let tables: HashSet<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(|e| sql_error("an SQLite file whose tables cannot be listed", e))?;
    if !tables.contains("topics") || !tables.contains("messages") {
        return Err(Error::NotABag(format!(
            "an SQLite database, but not a rosbag2 one: it has no topics and messages tables (it has {})",
            if tables.is_empty() {
                "no tables".to_string()
            } else {
                let mut t: Vec<&str> = tables.iter().map(String::as_str).collect();
                t.sort_unstable();
                t.join(", ")
            }
        )));
    }
    let topic_columns = columns(&conn, "topics").map_err(|e| sql_error("reading topics", e))?;
    let mut warnings = Vec::new();
    let mut ros_distro = None;
    if tables.contains("schema")
        && let Ok(distro) = conn.query_row("SELECT ros_distro FROM schema LIMIT 1", [], |r| {
            r.get::<_, String>(0)
        })
        && !distro.trim().is_empty()
    {
        ros_distro = Some(distro);
    }
    if ros_distro.is_none()
        && tables.contains("metadata")
        && let Ok(text) = conn.query_row(
            "SELECT metadata FROM metadata ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get::<_, String>(0),
        )
        && let Ok(meta) = super::rosbag2::parse_metadata(&text)
    {
        ros_distro = meta.ros_distro;
    }
    // Definitions by type name (schema 4).
    let mut definitions: HashMap<String, (String, String, String)> = HashMap::new();
    if tables.contains("message_definitions") {
        let mut read = || -> rusqlite::Result<()> {
            let mut stmt = conn.prepare(
                "SELECT topic_type, encoding, encoded_message_definition, type_description_hash FROM message_definitions",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                definitions.insert(r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?));
            }
            Ok(())
        };
        if let Err(e) = read() {
            warnings.push(Warning::general(format!(
                "the message_definitions table cannot be read ({e}); types are looked up as if the bag had none"
            )));
            definitions.clear();
        }
    }
    let qos = topic_columns.contains("offered_qos_profiles");
    let hash = topic_columns.contains("type_description_hash");
    let sql = format!(
        "SELECT id, name, type, serialization_format, {}, {} FROM topics ORDER BY id",
        if qos { "offered_qos_profiles" } else { "NULL" },
        if hash {
            "type_description_hash"
        } else {
            "NULL"
        }
    );
    let mut connections = Vec::new();
    let mut local_ids = Vec::new();
    let read_topics = || -> rusqlite::Result<Vec<TopicRow>> {
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?;
        rows.collect()
    };
    for (id, name, datatype, format, qos, hash) in
        read_topics().map_err(|e| sql_error("reading the topics table", e))?
    {
        let (schema_encoding, definition, def_hash) = match definitions.get(&datatype) {
            Some((enc, text, h)) if enc != "unknown" && !text.trim().is_empty() => {
                (enc.clone(), text.clone(), Some(h.clone()))
            }
            Some((_, _, h)) => (String::new(), String::new(), Some(h.clone())),
            None => (String::new(), String::new(), None),
        };
        connections.push(Connection {
            id: 0,
            topic: name,
            datatype,
            encoding: format,
            schema_encoding,
            definition,
            md5sum: None,
            type_hash: hash.filter(|h| !h.is_empty()).or(def_hash),
            callerid: None,
            latching: false,
            qos,
            metadata: BTreeMap::new(),
            file: 0,
        });
        local_ids.push(id);
    }
    // One pass over the messages: counts, and the units with their times.
    let mut units = Vec::new();
    let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
    let mut current: Option<(i64, i64, u64, u64, u64, u64)> = None; // first, last, rows, bytes, min, max
    let mut topics: std::collections::BTreeSet<i64> = std::collections::BTreeSet::new();
    let push = |units: &mut Vec<Unit>,
                u: (i64, i64, u64, u64, u64, u64),
                topics: &mut std::collections::BTreeSet<i64>| {
        let (first, last, _, bytes, lo, hi) = u;
        units.push(Unit {
            file: 0,
            offset: u64::try_from(first).unwrap_or(0),
            read_len: bytes,
            size: bytes,
            compression: Compression::None,
            start_time_ns: Some(lo),
            end_time_ns: Some(hi),
            connections: Some(std::mem::take(topics).into_iter().collect()),
            kind: UnitKind::Sqlite {
                first_id: first,
                last_id: last,
            },
        });
    };
    let mut last_id = None;
    let scan = (|| -> rusqlite::Result<()> {
        let mut stmt =
            conn.prepare("SELECT id, topic_id, timestamp, length(data) FROM messages ORDER BY id")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let topic: i64 = r.get(1)?;
            let time = u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0);
            let len = u64::try_from(r.get::<_, Option<i64>>(3)?.unwrap_or(0)).unwrap_or(0);
            *counts.entry(topic).or_default() += 1;
            topics.insert(topic);
            last_id = Some(id);
            let u = current.get_or_insert((id, id, 0, 0, time, time));
            u.1 = id;
            u.2 += 1;
            u.3 += len;
            u.4 = u.4.min(time);
            u.5 = u.5.max(time);
            if u.2 >= UNIT_ROWS || u.3 >= UNIT_BYTES {
                push(&mut units, current.take().expect("a unit"), &mut topics);
            }
        }
        Ok(())
    })();
    if let Some(u) = current.take() {
        push(&mut units, u, &mut topics);
    }
    if let Err(e) = scan {
        let after = match last_id {
            Some(id) => format!("after message id {id}"),
            None => "before the first message".to_string(),
        };
        warnings.push(Warning::general(format!(
            "SQLite error reading the messages {after}: {e}; the rows read before it are kept"
        )));
    }
    let message_counts = local_ids
        .iter()
        .map(|id| (*id, counts.get(id).copied().unwrap_or(0)))
        .collect();
    drop(conn);
    Ok(Opened {
        format: Format::Sqlite3,
        connections,
        local_ids,
        connection_offsets: BTreeMap::new(),
        units,
        message_counts,
        mode: IndexMode::Indexed,
        warnings,
        ros_distro,
        profile: None,
        library: None,
        storage: Storage::Sqlite {
            db,
            ids: HashMap::new(),
        },
    })
}
