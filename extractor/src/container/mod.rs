//! Containers: the files a bag is stored in, read into connections and raw
//! messages. Everything above this module (definitions, decoding,
//! ordering, windows, sinks) is the same for every format.
//!
//! * [`ros1`]: ROS1 bag v2.0 (chunks raw, bz2 or lz4; index or scan).
//! * [`mcap`]: MCAP (chunks none, zstd or lz4; summary or scan), profiles
//!   `ros2` and `ros1`.
//! * [`sqlite`]: rosbag2 sqlite3 (`.db3`, schema versions 1 to 4).
//! * [`rosbag2`]: rosbag2 directories (`metadata.yaml` and storage files).
//! * [`spool`]: whole-file `.zstd` and sqlite3 files that are not local,
//!   copied to a temporary file first.
//!
//! A bag is one storage file, or the storage files of a rosbag2 directory
//! in order. [`open`] reads where everything is ([`BagLayout`]): its
//! connections and its *units* (ROS1 and MCAP chunks, runs of MCAP records
//! outside chunks, ranges of sqlite3 rows), each with its time range when
//! known. [`Bag::read_unit`] reads one unit's messages; units are read in
//! parallel and in any order, so a unit is also the grain of damage (a
//! unit that cannot be read is skipped whole, with a warning naming where
//! it starts).

pub mod compression;
pub mod mcap;
pub mod ros1;
pub mod rosbag2;
pub mod spool;
pub mod sqlite;

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::source::ReadAt;

/// Message encoding of a ROS1 connection (and of an MCAP `ros1` channel).
pub const ENCODING_ROS1: &str = "ros1";
/// Message encoding of a ROS 2 connection.
pub const ENCODING_CDR: &str = "cdr";
/// Schema encoding of a ROS1 definition.
pub const SCHEMA_ROS1MSG: &str = "ros1msg";
/// Schema encoding of a ROS 2 `.msg` definition.
pub const SCHEMA_ROS2MSG: &str = "ros2msg";
/// Schema encoding of a ROS 2 IDL definition.
pub const SCHEMA_ROS2IDL: &str = "ros2idl";

/// The storage format of a bag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Format {
    Ros1,
    Mcap,
    Sqlite3,
}

impl Format {
    /// The catalogue's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Ros1 => "ros1",
            Format::Mcap => "mcap",
            Format::Sqlite3 => "sqlite3",
        }
    }
}

/// What a file's leading bytes say it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detected {
    Ros1,
    Mcap,
    Sqlite3,
    /// A whole file compressed with zstd: decompress, then look again.
    Zstd,
}

/// The MCAP magic, `\x89MCAP0\r\n`.
pub const MCAP_MAGIC: &[u8] = b"\x89MCAP0\r\n";
/// The SQLite magic.
pub const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
/// The zstd frame magic.
pub const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// The extensions a bag's file name ends with, before an optional `.zstd`.
pub const BAG_EXTENSIONS: [&str; 3] = [".bag", ".mcap", ".db3"];

/// The extension of a whole file compressed with zstd.
pub const ZSTD_EXTENSION: &str = ".zstd";

/// Whether a file name (or a path's last part) is a bag's: a non-empty
/// name followed by `.bag`, `.mcap` or `.db3`, each optionally followed by
/// `.zstd` (case-sensitive; the format itself is told from the bytes).
pub fn is_bag_name(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let name = name.strip_suffix(ZSTD_EXTENSION).unwrap_or(name);
    BAG_EXTENSIONS
        .iter()
        .any(|ext| name.len() > ext.len() && name.ends_with(ext))
}

/// Reads a file's leading bytes and says what it is; anything else is an
/// error saying what was found (a 0-byte file, another ROS bag version, an
/// MCAP whose line endings a text-mode transfer converted).
pub fn detect(src: &dyn ReadAt) -> Result<Detected> {
    let len = src.len();
    if len == 0 {
        return Err(Error::NotABag("empty file (0 bytes)".to_string()));
    }
    let n = len.min(64);
    let mut head = vec![0u8; n as usize];
    src.read_exact_at(0, &mut head)
        .map_err(|source| Error::Io {
            offset: 0,
            len: n,
            source,
        })?;
    if head.starts_with(MCAP_MAGIC) {
        return Ok(Detected::Mcap);
    }
    if head.starts_with(SQLITE_MAGIC) {
        return Ok(Detected::Sqlite3);
    }
    if head.starts_with(ZSTD_MAGIC) {
        return Ok(Detected::Zstd);
    }
    if head.starts_with(b"\x89MCAP") {
        let bytes: Vec<String> = head.iter().take(8).map(|b| format!("{b:02X}")).collect();
        let hint = if head.starts_with(b"\x89MCAP0\n") {
            ": line-ending conversion damaged this file (its \\r\\n became \\n)"
        } else {
            ""
        };
        return Err(Error::NotABag(format!(
            "not an MCAP file: bad magic {}{hint}",
            bytes.join(" ")
        )));
    }
    // ROS1 bags, and what the ROS1 reader says about anything else.
    ros1::bag::check_magic(src, len).map(|()| Detected::Ros1)
}

/// One connection: a ROS1 connection record, an MCAP channel (with its
/// schema), or a row of a sqlite3 `topics` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// Unique in the bag (for a split bag, storage files' ids are renumbered).
    pub id: u32,
    pub topic: String,
    /// The type name as the bag writes it.
    pub datatype: String,
    /// How messages are serialized: [`ENCODING_ROS1`], [`ENCODING_CDR`] or
    /// something this version does not decode.
    pub encoding: String,
    /// How `definition` is written: [`SCHEMA_ROS1MSG`], [`SCHEMA_ROS2MSG`],
    /// [`SCHEMA_ROS2IDL`], `""` when the bag holds none (or says `unknown`),
    /// or something else.
    pub schema_encoding: String,
    /// The definition text the bag embeds (empty when none).
    pub definition: String,
    /// ROS1: the md5sum the connection names.
    pub md5sum: Option<String>,
    /// ROS 2: the type hash the bag records (any text; may not be RIHS01).
    pub type_hash: Option<String>,
    pub callerid: Option<String>,
    pub latching: bool,
    /// ROS 2 `offered_qos_profiles`, as recorded.
    pub qos: Option<String>,
    /// The MCAP channel's metadata as written (empty for other formats).
    pub metadata: BTreeMap<String, String>,
    /// The storage file it belongs to (index into [`BagLayout::files`]).
    pub file: usize,
}

impl Connection {
    /// Whether a subscriber joining late still gets its last message: a
    /// ROS1 connection's `latching`, or a ROS 2 connection whose every
    /// offered QoS profile has durability `transient_local` (`1` in the
    /// older numeric form).
    pub fn latched(&self) -> bool {
        if self.latching {
            return true;
        }
        let Some(qos) = self.qos.as_deref().filter(|q| !q.trim().is_empty()) else {
            return false;
        };
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Durability {
            Number(i64),
            Name(String),
        }
        #[derive(serde::Deserialize)]
        struct Profile {
            durability: Option<Durability>,
        }
        match serde_saphyr::from_str::<Vec<Profile>>(qos) {
            Ok(profiles) => {
                !profiles.is_empty()
                    && profiles.iter().all(|p| match &p.durability {
                        Some(Durability::Number(n)) => *n == 1,
                        Some(Durability::Name(s)) => s == "transient_local",
                        None => false,
                    })
            }
            Err(_) => false,
        }
    }
}

/// One storage file of a bag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageFile {
    /// Its name (the file name, or the object key's last part).
    pub name: String,
    pub size_bytes: u64,
}

/// How the layout was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexMode {
    /// From the index (ROS1), the summary (MCAP) or the database (sqlite3).
    Indexed,
    /// By walking the records, because the index was unusable for `reason`.
    Scanned { reason: String },
}

/// Something wrong with the bag that was recovered from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// File offset it is about (a chunk record's start, for a skipped chunk).
    pub offset: Option<u64>,
    /// A sentence that names the offset too, for the bag catalogue.
    pub message: String,
}

impl Warning {
    pub(crate) fn at(offset: u64, message: String) -> Self {
        Self {
            offset: Some(offset),
            message,
        }
    }

    pub(crate) fn general(message: String) -> Self {
        Self {
            offset: None,
            message,
        }
    }
}

/// Where a unit's bytes are, per format.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum UnitKind {
    Ros1(ros1::bag::ChunkInfo),
    Mcap(mcap::McapUnit),
    /// Rows of the sqlite3 `messages` table, by `id`, both ends included.
    Sqlite {
        first_id: i64,
        last_id: i64,
    },
}

/// A piece of a bag read whole: the unit of parallel reading and of damage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Unit {
    /// The storage file it is in.
    pub file: usize,
    /// Where it starts (a chunk record's offset; a sqlite3 unit's first
    /// message id): named in warnings.
    pub offset: u64,
    /// Bytes read from storage (compressed).
    pub read_len: u64,
    /// Bytes once decompressed.
    pub size: u64,
    pub compression: compression::Compression,
    /// Earliest and latest log time in it, when known.
    pub start_time_ns: Option<u64>,
    pub end_time_ns: Option<u64>,
    /// The connections with messages in it, when the index says (ROS1
    /// chunk infos, MCAP chunk indexes); `None`: any may be. Local ids
    /// while a storage file is opened, bag-wide ids in a [`BagLayout`].
    pub connections: Option<Vec<i64>>,
    pub kind: UnitKind,
}

impl Unit {
    /// Whether it may hold messages of connection `id` (bag-wide).
    pub fn may_hold(&self, id: u32) -> bool {
        self.connections
            .as_ref()
            .is_none_or(|ids| ids.contains(&i64::from(id)))
    }

    /// The byte range read from its storage file, when it is one range.
    pub fn range(&self) -> Option<(u64, u64)> {
        match &self.kind {
            UnitKind::Ros1(c) => Some((c.data_offset, c.compressed_len)),
            UnitKind::Mcap(u) => Some(u.range()),
            UnitKind::Sqlite { .. } => None,
        }
    }

    /// Names the unit in a warning: `chunk at offset N` (with the storage
    /// file when the bag has several), or the sqlite3 rows.
    pub fn describe(&self, layout: &BagLayout) -> String {
        let what = match &self.kind {
            UnitKind::Ros1(_) => format!("chunk at offset {}", self.offset),
            UnitKind::Mcap(u) => u.describe(),
            UnitKind::Sqlite { first_id, last_id } => {
                format!("messages with id {first_id} to {last_id}")
            }
        };
        layout.in_file(self.file, what)
    }
}

/// One message of a unit.
#[derive(Debug, Clone)]
pub struct MessageRef {
    /// Connection id (bag-wide).
    pub conn: u32,
    /// Receive time, ns since the epoch.
    pub time_ns: u64,
    /// The message bytes within [`UnitContents::data`].
    pub range: Range<usize>,
}

/// The messages of one unit.
#[derive(Debug, Clone, Default)]
pub struct UnitContents {
    /// Messages in bag order.
    pub messages: Vec<MessageRef>,
    /// The unit's bytes; message ranges point into it.
    pub data: Vec<u8>,
    /// Messages naming a connection id nothing defines, per id.
    pub unknown: BTreeMap<u32, u64>,
    /// Messages that could not be read (a per-message blob that does not
    /// decompress): count and the first reason, per connection.
    pub unreadable: BTreeMap<u32, (u64, String)>,
    /// A unit read only in part (a sqlite3 error part-way): why.
    pub warning: Option<String>,
}

/// Where everything in a bag is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BagLayout {
    pub format: Format,
    /// The storage files, in bag order.
    pub files: Vec<StorageFile>,
    /// Unique by id, in bag order (connection-record order for ROS1,
    /// channel order for MCAP, `topics.id` for sqlite3; file by file).
    pub connections: Vec<Connection>,
    /// Where each connection is defined (a ROS1 record's offset), for errors.
    pub connection_offsets: BTreeMap<u32, u64>,
    /// In bag order.
    pub units: Vec<Unit>,
    /// Messages per connection id; every connection has an entry.
    pub message_counts: BTreeMap<u32, u64>,
    pub mode: IndexMode,
    /// Everything recovered from, file by file.
    pub warnings: Vec<Warning>,
    /// The ROS distribution the bag says it was recorded with.
    pub ros_distro: Option<String>,
    /// MCAP: the header's profile and library.
    pub profile: Option<String>,
    pub library: Option<String>,
}

impl BagLayout {
    /// Total bytes of the storage files.
    pub fn size_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size_bytes).sum()
    }

    /// `what`, prefixed with the storage file's name when there are several.
    pub fn in_file(&self, file: usize, what: String) -> String {
        match self.files.get(file) {
            Some(f) if self.files.len() > 1 => format!("{}: {what}", f.name),
            _ => what,
        }
    }

    /// The connection with this id.
    pub fn connection(&self, id: u32) -> Option<&Connection> {
        self.connections.iter().find(|c| c.id == id)
    }
}

/// One storage file to open: its name and its bytes.
pub struct Input {
    pub name: String,
    pub src: Box<dyn ReadAt>,
}

impl Input {
    pub fn new(name: impl Into<String>, src: Box<dyn ReadAt>) -> Input {
        Input {
            name: name.into(),
            src,
        }
    }
}

/// An opened storage file.
enum Storage {
    Ros1 {
        src: Box<dyn ReadAt>,
    },
    Mcap {
        src: Box<dyn ReadAt>,
        /// Channel id in the file to connection id in the bag.
        ids: HashMap<u16, u32>,
    },
    Sqlite {
        db: sqlite::Db,
        /// `topics.id` to connection id in the bag.
        ids: HashMap<i64, u32>,
    },
}

/// An open bag: its layout and the files to read units from.
pub struct Bag {
    pub layout: BagLayout,
    files: Vec<Storage>,
    /// ROS1: every connection id the layout knows (others in a chunk are
    /// counted as unknown, unless the chunk defines them); a fast hash, as
    /// it is looked up per message.
    ros1_known: rustc_hash::FxHashSet<u32>,
}

impl std::fmt::Debug for Bag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bag").field("layout", &self.layout).finish()
    }
}

/// A storage file opened on its own, before connection ids are made
/// bag-wide.
struct Opened {
    format: Format,
    storage: Storage,
    connections: Vec<Connection>,
    /// Local id of each connection, in `connections` order.
    local_ids: Vec<i64>,
    connection_offsets: BTreeMap<i64, u64>,
    units: Vec<Unit>,
    message_counts: BTreeMap<i64, u64>,
    mode: IndexMode,
    warnings: Vec<Warning>,
    ros_distro: Option<String>,
    profile: Option<String>,
    library: Option<String>,
}

/// How a bag is opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Take a ROS1 index's chunk infos as they are, without reading each
    /// chunk's record head (one small read per chunk): each is checked when
    /// it is read instead. For a bag cut into work items, where the plan
    /// must read only the header and the index.
    pub trust_index: bool,
}

/// Opens a bag's storage files (one, or a rosbag2 directory's in order)
/// and reads its layout. Errors only when a file is not a bag at all or
/// cannot be read; damage inside is recovered and reported as warnings.
pub fn open(inputs: Vec<Input>) -> Result<Bag> {
    open_with(inputs, OpenOptions::default())
}

/// [`open`] with `options`.
pub fn open_with(inputs: Vec<Input>, options: OpenOptions) -> Result<Bag> {
    let single = inputs.len() == 1;
    let mut files = Vec::new();
    let mut opened = Vec::new();
    for input in inputs {
        files.push(StorageFile {
            name: input.name.clone(),
            size_bytes: input.src.len(),
        });
        let file = opened.len();
        let o = open_file(input, options).map_err(|e| match e {
            // Name the storage file of a directory.
            Error::NotABag(m) if !single => Error::NotABag(format!("{}: {m}", files[file].name)),
            other => other,
        })?;
        if !single && o.format == Format::Ros1 {
            return Err(Error::NotABag(format!(
                "{}: a ROS1 bag is not a storage file of a rosbag2 directory",
                files[file].name
            )));
        }
        opened.push(o);
    }
    let format = opened.first().map_or(Format::Ros1, |o| o.format);
    let mut layout = BagLayout {
        format,
        files,
        connections: Vec::new(),
        connection_offsets: BTreeMap::new(),
        units: Vec::new(),
        message_counts: BTreeMap::new(),
        mode: IndexMode::Indexed,
        warnings: Vec::new(),
        ros_distro: None,
        profile: None,
        library: None,
    };
    let mut storages = Vec::new();
    let mut next_id: u32 = 0;
    let mut ros1_known = rustc_hash::FxHashSet::default();
    for (file, o) in opened.into_iter().enumerate() {
        let mut map: HashMap<i64, u32> = HashMap::new();
        for (mut conn, local) in o.connections.into_iter().zip(o.local_ids) {
            // One file keeps its own ids (warnings name them as written);
            // several are renumbered in order.
            let id = if single {
                u32::try_from(local).map_err(|_| {
                    Error::NotABag(format!("connection id {local} does not fit in 32 bits"))
                })?
            } else {
                let id = next_id;
                next_id += 1;
                id
            };
            map.insert(local, id);
            conn.id = id;
            conn.file = file;
            if let Some(&offset) = o.connection_offsets.get(&local) {
                layout.connection_offsets.insert(id, offset);
            }
            layout
                .message_counts
                .insert(id, o.message_counts.get(&local).copied().unwrap_or(0));
            if o.format == Format::Ros1 {
                ros1_known.insert(id);
            }
            layout.connections.push(conn);
        }
        for mut unit in o.units {
            unit.file = file;
            if let Some(ids) = &mut unit.connections {
                // Ids no connection record defines stay unknown (-1).
                for id in ids.iter_mut() {
                    *id = map.get(id).map_or(-1, |&g| i64::from(g));
                }
            }
            layout.units.push(unit);
        }
        if let IndexMode::Scanned { reason } = o.mode {
            layout.mode = IndexMode::Scanned {
                reason: layout.in_file(file, reason),
            };
        }
        let name = layout.files[file].name.clone();
        let many = layout.files.len() > 1;
        layout
            .warnings
            .extend(o.warnings.into_iter().map(|w| Warning {
                message: if many {
                    format!("{name}: {}", w.message)
                } else {
                    w.message
                },
                ..w
            }));
        layout.ros_distro = layout.ros_distro.take().or(o.ros_distro);
        layout.profile = layout.profile.take().or(o.profile);
        layout.library = layout.library.take().or(o.library);
        storages.push(match o.storage {
            Storage::Mcap { src, .. } => Storage::Mcap {
                src,
                ids: map
                    .iter()
                    .filter_map(|(&l, &g)| Some((u16::try_from(l).ok()?, g)))
                    .collect(),
            },
            Storage::Sqlite { db, .. } => Storage::Sqlite { db, ids: map },
            ros1 => ros1,
        });
    }
    Ok(Bag {
        layout,
        files: storages,
        ros1_known,
    })
}

/// What a work item needs to read its units of a bag without reading the
/// bag's index again: the layout its plan read, less the units (each item
/// is given its own), and how each MCAP file's channel ids map to the
/// bag's connection ids.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BagState {
    /// The layout, `units` left empty.
    pub layout: BagLayout,
    /// Per storage file: MCAP channel id to connection id (empty for a
    /// ROS1 file).
    pub channel_ids: Vec<Vec<(u16, u32)>>,
}

/// Opens a bag's storage files as `state` says they are, reading no index
/// and no chunk head: a work item's bag, whose `units` its plan located
/// (from a trusted index, so each unit's record is checked as it is read).
/// A file of another size or format than the plan saw is
/// [`Error::Changed`]. ROS1 and MCAP files only (sqlite3 bags are never
/// cut into items).
pub fn reopen(inputs: Vec<Input>, state: BagState, units: Vec<Unit>) -> Result<Bag> {
    let BagState {
        mut layout,
        channel_ids,
    } = state;
    if inputs.len() != layout.files.len() {
        return Err(Error::Changed {
            file: inputs.first().map_or_else(String::new, |i| i.name.clone()),
            reason: format!(
                "{} storage files then, {} now",
                layout.files.len(),
                inputs.len()
            ),
        });
    }
    let mut files = Vec::new();
    for (file, input) in inputs.into_iter().enumerate() {
        let planned = &layout.files[file];
        let changed = |reason: String| Error::Changed {
            file: input.name.clone(),
            reason,
        };
        if input.src.len() != planned.size_bytes {
            return Err(changed(format!(
                "{} bytes then, {} now",
                planned.size_bytes,
                input.src.len()
            )));
        }
        let src: Box<dyn ReadAt> = match detect(input.src.as_ref())? {
            Detected::Zstd => Box::new(spool::decompress(input.src.as_ref(), &input.name)?),
            _ => input.src,
        };
        let storage = match (detect(src.as_ref())?, layout.format) {
            (Detected::Ros1, Format::Ros1) => Storage::Ros1 { src },
            (Detected::Mcap, Format::Mcap) => Storage::Mcap {
                src,
                ids: channel_ids
                    .get(file)
                    .map(|ids| ids.iter().copied().collect())
                    .unwrap_or_default(),
            },
            (found, format) => {
                return Err(changed(format!(
                    "a {} file then, {found:?} now, or a format whose units are not read in items",
                    format.as_str()
                )));
            }
        };
        files.push(storage);
    }
    let ros1_known = if layout.format == Format::Ros1 {
        layout.connections.iter().map(|c| c.id).collect()
    } else {
        rustc_hash::FxHashSet::default()
    };
    layout.units = units;
    Ok(Bag {
        layout,
        files,
        ros1_known,
    })
}

/// Opens one storage file by its leading bytes.
fn open_file(input: Input, options: OpenOptions) -> Result<Opened> {
    match detect(input.src.as_ref())? {
        Detected::Ros1 => ros1::open(input.src, options.trust_index),
        Detected::Mcap => mcap::open(input.src),
        Detected::Sqlite3 => {
            let truncated = sqlite::truncation(input.src.as_ref())?;
            let path = input.src.local_path().map(Path::to_path_buf);
            let db = match (path, truncated) {
                (Some(path), None) => sqlite::Db::open(&path, None)?,
                (_, truncated) => {
                    let spooled = spool::copy(input.src.as_ref(), &input.name)?;
                    if let Some(t) = &truncated {
                        // SQLite refuses a file shorter than its header says;
                        // the copy is told the pages that are there, so the
                        // rows in them are read.
                        sqlite::patch_page_count(spooled.path(), t.pages_present)?;
                    }
                    let path = spooled.path().to_path_buf();
                    sqlite::Db::open(&path, Some(spooled))?
                }
            };
            let mut opened = sqlite::open(db)?;
            if let Some(t) = truncated {
                let what = format!(
                    "the file is truncated ({} of the {} pages of {} bytes its header counts)",
                    t.pages_present, t.pages_claimed, t.page_size
                );
                // One warning: the error the truncation caused, if any.
                match opened
                    .warnings
                    .iter_mut()
                    .find(|w| w.message.starts_with("SQLite error"))
                {
                    Some(w) => w.message = format!("{what}: {}", w.message),
                    None => opened.warnings.insert(0, Warning::general(what)),
                }
            }
            Ok(opened)
        }
        Detected::Zstd => {
            let spooled = spool::decompress(input.src.as_ref(), &input.name)?;
            let inner = Input {
                name: input.name,
                src: Box::new(spooled),
            };
            match detect(inner.src.as_ref())? {
                Detected::Zstd => Err(Error::NotABag(
                    "a zstd file holding another zstd file".to_string(),
                )),
                _ => open_file(inner, options),
            }
        }
    }
}

impl Bag {
    /// Reads one unit's messages. A failure is an error naming the unit's
    /// start; the caller skips the unit whole.
    pub fn read_unit(&self, unit: &Unit) -> Result<UnitContents> {
        match (&self.files[unit.file], &unit.kind) {
            (Storage::Ros1 { src }, UnitKind::Ros1(chunk)) => {
                ros1::read_unit(src.as_ref(), chunk, &self.ros1_known)
            }
            (Storage::Mcap { src, ids }, UnitKind::Mcap(u)) => {
                mcap::read_unit(src.as_ref(), u, ids)
            }
            (Storage::Sqlite { db, ids }, UnitKind::Sqlite { first_id, last_id }) => {
                db.read_rows(*first_id, *last_id, ids)
            }
            _ => Err(Error::Chunk {
                offset: unit.offset,
                reason: "unit of another format than its file".to_string(),
            }),
        }
    }

    /// A hint that these units will be read soon: a remote file fetches
    /// their bytes in the background.
    pub fn prefetch(&self, units: &[Unit]) {
        let mut per_file: BTreeMap<usize, Vec<(u64, u64)>> = BTreeMap::new();
        for u in units {
            if let Some(r) = u.range() {
                per_file.entry(u.file).or_default().push(r);
            }
        }
        for (file, ranges) in per_file {
            match &self.files[file] {
                Storage::Ros1 { src } | Storage::Mcap { src, .. } => src.prefetch(&ranges),
                Storage::Sqlite { .. } => {}
            }
        }
    }

    /// What [`reopen`] needs besides the units: the layout without them,
    /// and the MCAP channel ids of each file.
    pub fn state(&self) -> BagState {
        let layout = BagLayout {
            units: Vec::new(),
            ..self.layout.clone()
        };
        let channel_ids = self
            .files
            .iter()
            .map(|f| match f {
                Storage::Mcap { ids, .. } => {
                    let mut ids: Vec<(u16, u32)> = ids.iter().map(|(&l, &g)| (l, g)).collect();
                    ids.sort_unstable();
                    ids
                }
                _ => Vec::new(),
            })
            .collect();
        BagState {
            layout,
            channel_ids,
        }
    }

    /// The bytes of a storage file that is one (ROS1 or MCAP), for readers
    /// that need more than units (clip export of latched messages).
    pub fn source(&self, file: usize) -> Option<&dyn ReadAt> {
        match self.files.get(file)? {
            Storage::Ros1 { src } | Storage::Mcap { src, .. } => Some(src.as_ref()),
            Storage::Sqlite { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(latching: bool, qos: Option<&str>) -> Connection {
        Connection {
            id: 0,
            topic: "/t".into(),
            datatype: "std_msgs/msg/String".into(),
            encoding: ENCODING_CDR.into(),
            schema_encoding: SCHEMA_ROS2MSG.into(),
            definition: String::new(),
            md5sum: None,
            type_hash: None,
            callerid: None,
            latching,
            qos: qos.map(str::to_string),
            metadata: BTreeMap::new(),
            file: 0,
        }
    }

    #[test]
    fn latched_is_latching_or_transient_local_everywhere() {
        assert!(conn(true, None).latched());
        assert!(!conn(false, None).latched());
        // Jazzy names, Humble numbers (1 = transient_local, 2 = volatile).
        let named = "- history: keep_last\n  depth: 1\n  durability: transient_local\n";
        assert!(conn(false, Some(named)).latched());
        let numbered = "- history: 3\n  depth: 0\n  reliability: 1\n  durability: 1\n";
        assert!(conn(false, Some(numbered)).latched());
        let mixed = "- durability: 1\n- durability: 2\n";
        assert!(!conn(false, Some(mixed)).latched());
        assert!(!conn(false, Some("- durability: volatile\n")).latched());
        assert!(!conn(false, Some("[]")).latched());
        assert!(!conn(false, Some("not: [yaml")).latched());
    }
}
