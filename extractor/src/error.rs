//! The error type of the extractor: every variant carries the offset in the
//! file (or the type and field) that it is about, so a message can name it.

/// Result alias for the extractor.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while reading a bag or decoding a message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading from the underlying source failed.
    #[error("I/O error reading {len} bytes at offset {offset}: {source}")]
    Io {
        offset: u64,
        len: u64,
        #[source]
        source: std::io::Error,
    },
    /// The input is not a ROS bag at all (wrong magic, empty file, ...).
    #[error("not a ROS bag: {0}")]
    NotABag(String),
    /// A ROS bag of a version other than 2.0.
    #[error("unsupported bag version {0:?} (only ROS bag v2.0 is supported)")]
    UnsupportedVersion(String),
    /// A record (header or data) that does not parse.
    #[error("malformed record at offset {offset}: {reason}")]
    Record { offset: u64, reason: String },
    /// A length read from the file is larger than the cap we allow.
    #[error("{what} of {len} bytes at offset {offset} exceeds the cap of {cap} bytes")]
    TooLarge {
        what: &'static str,
        offset: u64,
        len: u64,
        cap: u64,
    },
    /// A chunk that cannot be decompressed or whose contents do not parse.
    #[error("chunk at offset {offset}: {reason}")]
    Chunk { offset: u64, reason: String },
    /// A message definition that does not parse or names an undefined type.
    #[error("message definition of {datatype}: {reason}")]
    Definition { datatype: String, reason: String },
    /// Message bytes that do not decode to exactly their length.
    #[error("{reason}")]
    Decode { reason: String },
    /// A unit holds a message outside the time range the index gives it:
    /// the bag cannot be extracted in time slices (run it as one item).
    #[error(
        "{unit} holds a message at {time_ns} ns, outside the time range [{start}, {end}] its index entry claims; the bag cannot be extracted in slices: run it as one item"
    )]
    IndexLies {
        unit: String,
        time_ns: u64,
        start: u64,
        end: u64,
    },
    /// A trusted index named something that is not what it said (a chunk
    /// position that holds no chunk): the bag cannot be extracted in
    /// slices (run it as one item, which checks the index first).
    #[error(
        "{unit}: the index is wrong ({reason}); the bag cannot be extracted in slices: run it as one item"
    )]
    IndexWrong { unit: String, reason: String },
    /// A storage file is not what the plan of a run read (another size,
    /// another format): the run must be planned again.
    #[error("{file} changed since the run was planned ({reason}); plan again")]
    Changed { file: String, reason: String },
    /// The sink that receives decoded rows failed (a write to the lake).
    #[error("writing table {table}: {source}")]
    Sink {
        table: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
