//! Parquet partitions in the lake: `<table dir>/bag_file=<bag>/part-NNNNN.parquet`.
//!
//! [`PartitionWriter`] is the extractor's [`TableSink`]. Rows are buffered
//! per table; a table's buffer becomes a row group when it reaches
//! [`ROW_GROUP_BYTES`], or earlier when all buffers together pass
//! [`BUFFER_BUDGET`] (the largest goes first), so memory stays flat however
//! many topics a bag has and however long it is. Row groups are encoded
//! (compressed) on the rayon pool, several at once and each field of one
//! as a task of its own, while decoding goes on, and appended to their
//! file in order; at most [`max_in_flight`] are being encoded at a time.
//! One serial encoder would make zstd on camera frames the bottleneck of
//! the whole extraction.
//!
//! A part file is committed only when finished, so each appears whole; a
//! new part begins after [`PART_BYTES`]. Dropped unfinished, none appears.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError, sync_channel};
use std::time::Duration;

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{Schema, SchemaRef};
use extractor::extract::{SinkError, TableSink};
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use parquet::arrow::{ArrowSchemaConverter, add_encoded_arrow_schema_to_metadata};
use parquet::basic::{Compression, LogicalType, Type as PhysicalType, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;

pub use crate::config::Codec;
use crate::storage::lake::{Lake, LakeFile};

/// Arrow bytes of one table that make a row group.
pub const ROW_GROUP_BYTES: usize = 32 << 20;

/// Arrow bytes buffered across all tables before the largest buffer is
/// encoded early.
pub const BUFFER_BUDGET: usize = 48 << 20;

/// Bytes after which a table's part file is closed and the next begins.
pub const PART_BYTES: usize = 1 << 30;

/// Row groups being encoded at once: enough to keep every core busy.
pub fn max_in_flight() -> usize {
    rayon::current_num_threads()
}

/// Name of the `n`th part file of a partition.
pub fn part_name(n: u32) -> String {
    format!("part-{n:05}.parquet")
}

/// Directory of a bag's partition in a table directory.
pub fn partition_dir(table_dir: &str, bag_file: &str) -> String {
    format!("{table_dir}/bag_file={bag_file}")
}

/// What a blob column must save, as a share of its bytes, for `auto` to
/// compress it: JPEG frames, compressed point clouds and noisy float
/// arrays save a few percent for all the CPU zstd spends on them.
pub const WORTHWHILE: f64 = 0.10;
/// Bytes of a blob column compressed to decide (in slices spread over the
/// rows that open the part).
const SAMPLE_BYTES: usize = 1 << 20;
const SAMPLE_SLICES: usize = 8;

/// The Parquet compression of a codec.
fn compression_of(codec: Codec) -> Compression {
    match codec {
        Codec::Auto => Compression::ZSTD(ZstdLevel::default()),
        Codec::Zstd(level) => Compression::ZSTD(ZstdLevel::try_new(level).unwrap_or_default()),
        Codec::Lz4 => Compression::LZ4_RAW,
        Codec::Snappy => Compression::SNAPPY,
        Codec::None => Compression::UNCOMPRESSED,
    }
}

/// Writer properties of a table: the codec, page statistics, the Arrow
/// schema in the footer, and `plain` leaves left uncompressed. Dictionary
/// encoding stays on for strings and 32-bit-or-less integers (frame names,
/// classes, ids, status codes: few distinct values) and is off for floats,
/// 64-bit integers (times, sequence numbers) and blobs at any depth: those
/// are nearly all distinct, and the writer would hash every value of every
/// row group before giving up on the dictionary (30% of extraction time on
/// an IMU-heavy bag, measured with perf). Blobs (images, point clouds) and
/// array elements get no statistics either: min/max of a blob, or over the
/// elements of every array in a page, helps no query.
pub fn writer_properties(schema: &Schema, codec: Codec, plain: &[ColumnPath]) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(compression_of(codec))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by(format!("bagpipe {}", env!("CARGO_PKG_VERSION")));
    if let Ok(parquet_schema) = ArrowSchemaConverter::new().convert(schema) {
        for leaf in parquet_schema.columns() {
            let blob = is_blob(leaf);
            let distinct = matches!(
                leaf.physical_type(),
                PhysicalType::FLOAT
                    | PhysicalType::DOUBLE
                    | PhysicalType::INT64
                    | PhysicalType::FIXED_LEN_BYTE_ARRAY
            );
            if blob || distinct {
                builder = builder.set_column_dictionary_enabled(leaf.path().clone(), false);
            }
            // Array elements (covariances, points, lane polylines): a
            // min/max over every element of a page prunes no query, and
            // computing it was 4% of the instructions on a structured bag.
            if blob || leaf.max_rep_level() > 0 {
                builder = builder
                    .set_column_statistics_enabled(leaf.path().clone(), EnabledStatistics::None);
            }
        }
    }
    for path in plain {
        builder = builder.set_column_compression(path.clone(), Compression::UNCOMPRESSED);
    }
    let mut props = builder.build();
    add_encoded_arrow_schema_to_metadata(schema, &mut props);
    props
}

fn is_blob(leaf: &parquet::schema::types::ColumnDescriptor) -> bool {
    leaf.physical_type() == PhysicalType::BYTE_ARRAY
        && leaf.logical_type_ref() != Some(&LogicalType::String)
}

/// The blob leaves of `schema` whose bytes in `batches` do not shrink by
/// [`WORTHWHILE`] with the `auto` codec's zstd: a sample of each, in
/// slices spread over the rows, is compressed and measured.
pub fn incompressible_blobs(schema: &Schema, batches: &[RecordBatch]) -> Vec<ColumnPath> {
    let Ok(parquet_schema) = ArrowSchemaConverter::new().convert(schema) else {
        return Vec::new();
    };
    let leaves = parquet_schema.columns();
    if !leaves.iter().any(|l| is_blob(l)) {
        return Vec::new();
    }
    // The Arrow leaves of each batch, in the order of the Parquet leaves.
    let mut arrays: Vec<Vec<&dyn Array>> = vec![Vec::new(); leaves.len()];
    for batch in batches {
        let mut found = Vec::new();
        for column in batch.columns() {
            arrow_leaves(column.as_ref(), &mut found);
        }
        if found.len() != leaves.len() {
            return Vec::new(); // a shape this walk does not know: keep zstd
        }
        for (i, a) in found.into_iter().enumerate() {
            arrays[i].push(a);
        }
    }
    let mut plain = Vec::new();
    for (leaf, arrays) in leaves.iter().zip(&arrays) {
        if !is_blob(leaf) {
            continue;
        }
        let buffers: Vec<&[u8]> = arrays.iter().filter_map(|a| blob_bytes(*a)).collect();
        if !worth_compressing(&buffers) {
            plain.push(leaf.path().clone());
        }
    }
    plain
}

/// Collects the leaf arrays of `array` depth first, as Parquet numbers
/// its leaf columns.
fn arrow_leaves<'a>(array: &'a dyn Array, out: &mut Vec<&'a dyn Array>) {
    use arrow_array::cast::AsArray;
    use arrow_schema::DataType;
    match array.data_type() {
        DataType::Struct(_) => {
            for c in array.as_struct().columns() {
                arrow_leaves(c.as_ref(), out);
            }
        }
        DataType::List(_) => arrow_leaves(array.as_list::<i32>().values().as_ref(), out),
        DataType::LargeList(_) => arrow_leaves(array.as_list::<i64>().values().as_ref(), out),
        DataType::FixedSizeList(_, _) => {
            arrow_leaves(array.as_fixed_size_list().values().as_ref(), out)
        }
        _ => out.push(array),
    }
}

/// The value bytes of a binary array.
fn blob_bytes(array: &dyn Array) -> Option<&[u8]> {
    use arrow_array::cast::AsArray;
    if let Some(a) = array.as_binary_opt::<i32>() {
        return Some(a.values().as_slice());
    }
    if let Some(a) = array.as_binary_opt::<i64>() {
        return Some(a.values().as_slice());
    }
    array.as_fixed_size_binary_opt().map(|a| a.value_data())
}

/// Whether zstd (level 1) shrinks a sample of `buffers` by at least
/// [`WORTHWHILE`]; nothing to sample is worth compressing.
pub fn worth_compressing(buffers: &[&[u8]]) -> bool {
    let (raw, packed) = sample_ratio(buffers);
    raw == 0 || (packed as f64) <= (1.0 - WORTHWHILE) * raw as f64
}

/// Raw and zstd-compressed bytes of a sample of `buffers`: all of them up
/// to [`SAMPLE_BYTES`], else [`SAMPLE_SLICES`] slices spread evenly.
fn sample_ratio(buffers: &[&[u8]]) -> (usize, usize) {
    let total: usize = buffers.iter().map(|b| b.len()).sum();
    let slice = SAMPLE_BYTES / SAMPLE_SLICES;
    let starts: Vec<usize> = if total <= SAMPLE_BYTES {
        (0..total).step_by(slice.max(1)).collect()
    } else {
        (0..SAMPLE_SLICES)
            .map(|k| k * (total - slice) / (SAMPLE_SLICES - 1))
            .collect()
    };
    let (mut raw, mut packed) = (0, 0);
    for start in starts {
        let bytes = gather(buffers, start, slice.min(total - start));
        raw += bytes.len();
        packed += zstd::bulk::compress(&bytes, 1).map_or(bytes.len(), |c| c.len());
    }
    (raw, packed)
}

/// `len` bytes from offset `start` of the buffers taken end to end.
fn gather(buffers: &[&[u8]], mut start: usize, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    for b in buffers {
        if start >= b.len() {
            start -= b.len();
            continue;
        }
        let take = (len - out.len()).min(b.len() - start);
        out.extend_from_slice(&b[start..start + take]);
        start = 0;
        if out.len() == len {
            break;
        }
    }
    out
}

type Encoded = parquet::errors::Result<Vec<ArrowColumnChunk>>;

/// A row group being encoded on the pool: one task per top-level field,
/// each sending its field's column chunks with the field's index.
struct Job {
    seq: u64,
    result: Receiver<(usize, Encoded)>,
    parts: Vec<Option<Vec<ArrowColumnChunk>>>,
}

impl Job {
    /// Files a part that arrived; the row group's chunks, in order, once
    /// every part has.
    fn take(
        &mut self,
        (i, encoded): (usize, Encoded),
    ) -> io::Result<Option<Vec<ArrowColumnChunk>>> {
        self.parts[i] = Some(encoded.map_err(io::Error::other)?);
        let done = self.parts.iter().all(Option::is_some);
        Ok(done.then(|| self.parts.drain(..).flatten().flatten().collect()))
    }

    /// The row group's chunks if every part has arrived, without waiting.
    fn try_done(&mut self) -> io::Result<Option<Vec<ArrowColumnChunk>>> {
        loop {
            match self.result.try_recv() {
                Ok(part) => {
                    if let Some(done) = self.take(part)? {
                        return Ok(Some(done));
                    }
                }
                Err(TryRecvError::Empty) => return Ok(None),
                Err(TryRecvError::Disconnected) => return Err(encoder_stopped()),
            }
        }
    }

    /// Waits for every part. On a pool thread it runs other pool work
    /// meanwhile (the encoders may be queued behind it; blocking could
    /// deadlock a small pool).
    fn wait(&mut self) -> io::Result<Vec<ArrowColumnChunk>> {
        loop {
            if let Some(done) = self.try_done()? {
                return Ok(done);
            }
            let part = match rayon::yield_now() {
                Some(rayon::Yield::Executed) => continue,
                Some(rayon::Yield::Idle) => {
                    match self.result.recv_timeout(Duration::from_millis(1)) {
                        Ok(part) => part,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => return Err(encoder_stopped()),
                    }
                }
                // Not on a pool thread: the pool runs the encoders.
                None => self.result.recv().map_err(|_| encoder_stopped())?,
            };
            if let Some(done) = self.take(part)? {
                return Ok(done);
            }
        }
    }
}

/// The error of a row group whose encoding task went away unfinished.
fn encoder_stopped() -> io::Error {
    io::Error::other("a row group encoder stopped")
}

/// An open part file.
struct OpenFile {
    writer: SerializedFileWriter<Box<dyn LakeFile>>,
    factory: ArrowRowGroupWriterFactory,
    /// Parquet leaf columns per top-level field, in order.
    field_leaves: Vec<usize>,
    row_groups: usize,
    in_flight: VecDeque<Job>,
}

struct TableOut {
    dir: String,
    schema: SchemaRef,
    props: Arc<WriterProperties>,
    file: Option<OpenFile>,
    next_part: u32,
    files: Vec<String>,
    buffer: Vec<RecordBatch>,
    buffered: usize,
}

/// Writes each table's batches into its partition of the lake.
pub struct PartitionWriter<'a> {
    lake: &'a dyn Lake,
    tables: Vec<TableOut>,
    buffered: usize,
    in_flight: usize,
    next_seq: u64,
    codec: Codec,
}

impl<'a> PartitionWriter<'a> {
    /// One output per table: `(partition directory, schema)`.
    pub fn new(lake: &'a dyn Lake, tables: Vec<(String, SchemaRef)>) -> PartitionWriter<'a> {
        PartitionWriter {
            lake,
            tables: tables
                .into_iter()
                .map(|(dir, schema)| TableOut {
                    props: Arc::new(writer_properties(&schema, Codec::Auto, &[])),
                    dir,
                    schema,
                    file: None,
                    next_part: 0,
                    files: Vec::new(),
                    buffer: Vec::new(),
                    buffered: 0,
                })
                .collect(),
            buffered: 0,
            in_flight: 0,
            next_seq: 0,
            codec: Codec::Auto,
        }
    }

    /// Numbers every table's parts from `first` (a work item's block)
    /// instead of 0.
    pub fn with_first_part(mut self, first: u32) -> Self {
        for t in &mut self.tables {
            t.next_part = first;
        }
        self
    }

    /// Writes with `codec` instead of [`Codec::Auto`].
    pub fn with_codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        for t in &mut self.tables {
            t.props = Arc::new(writer_properties(&t.schema, codec, &[]));
        }
        self
    }

    /// Writes what is buffered, closes every file and returns, per table,
    /// the files written (paths relative to the root). A table with no
    /// rows has none.
    pub fn finish(mut self) -> io::Result<Vec<Vec<String>>> {
        // Each table's last row group goes to the encoders, and a table is
        // closed a few tables later: the encoders stay busy, and a bag of
        // thousands of small topics holds a few files open, not thousands.
        let lag = max_in_flight();
        for t in 0..self.tables.len() {
            self.dispatch(t)?;
            if t >= lag {
                self.close(t - lag)?;
            }
        }
        for t in self.tables.len().saturating_sub(lag)..self.tables.len() {
            self.close(t)?;
        }
        Ok(self.tables.into_iter().map(|t| t.files).collect())
    }

    fn write_batch(&mut self, table: usize, batch: RecordBatch) -> io::Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let size = batch.get_array_memory_size();
        let t = &mut self.tables[table];
        t.buffer.push(batch);
        t.buffered += size;
        self.buffered += size;
        if self.tables[table].buffered >= ROW_GROUP_BYTES {
            self.dispatch(table)?;
        }
        while self.buffered > BUFFER_BUDGET {
            let largest = (0..self.tables.len())
                .max_by_key(|&i| self.tables[i].buffered)
                .expect("a table is buffered");
            self.dispatch(largest)?;
        }
        Ok(())
    }

    /// Sends a table's buffered rows to be encoded as one row group.
    fn dispatch(&mut self, table: usize) -> io::Result<()> {
        if self.tables[table].buffer.is_empty() {
            return Ok(());
        }
        self.open(table)?;
        let seq = self.next_seq;
        self.next_seq += 1;
        let t = &mut self.tables[table];
        let batches = std::mem::take(&mut t.buffer);
        self.buffered -= std::mem::take(&mut t.buffered);
        let file = t.file.as_mut().expect("opened above");
        let writers = file
            .factory
            .create_column_writers(file.row_groups)
            .map_err(io::Error::other)?;
        file.row_groups += 1;
        let job = spawn_encoders(seq, writers, &file.field_leaves, &t.schema, &batches);
        file.in_flight.push_back(job);
        self.in_flight += 1;
        self.collect_done(table)?;
        while self.in_flight > max_in_flight() {
            let oldest = (0..self.tables.len())
                .filter_map(|i| {
                    let file = self.tables[i].file.as_ref()?;
                    file.in_flight.front().map(|j| (j.seq, i))
                })
                .min()
                .map(|(_, i)| i)
                .expect("a row group is in flight");
            self.wait_front(oldest)?;
        }
        let t = &self.tables[table];
        if t.file
            .as_ref()
            .is_some_and(|f| f.writer.bytes_written() > PART_BYTES)
        {
            self.close(table)?;
        }
        Ok(())
    }

    fn open(&mut self, table: usize) -> io::Result<()> {
        let t = &mut self.tables[table];
        if t.file.is_some() {
            return Ok(());
        }
        let path = format!("{}/{}", t.dir, part_name(t.next_part));
        if self.codec == Codec::Auto {
            // Blob columns that do not shrink stay uncompressed in this
            // part, judged by the rows that open it.
            let plain = incompressible_blobs(&t.schema, &t.buffer);
            t.props = Arc::new(writer_properties(&t.schema, Codec::Auto, &plain));
        }
        let sink = self.lake.create(&path)?;
        let parquet_schema = ArrowSchemaConverter::new()
            .with_coerce_types(t.props.coerce_types())
            .convert(&t.schema)
            .map_err(io::Error::other)?;
        let writer =
            SerializedFileWriter::new(sink, parquet_schema.root_schema_ptr(), t.props.clone())
                .map_err(io::Error::other)?;
        let factory = ArrowRowGroupWriterFactory::new(&writer, t.schema.clone());
        let mut field_leaves = vec![0; t.schema.fields().len()];
        for leaf in 0..parquet_schema.num_columns() {
            field_leaves[parquet_schema.get_column_root_idx(leaf)] += 1;
        }
        t.file = Some(OpenFile {
            writer,
            factory,
            field_leaves,
            row_groups: 0,
            in_flight: VecDeque::new(),
        });
        t.next_part += 1;
        t.files.push(path);
        Ok(())
    }

    /// Appends the table's row groups that are already encoded, in order.
    fn collect_done(&mut self, table: usize) -> io::Result<()> {
        let Some(file) = self.tables[table].file.as_mut() else {
            return Ok(());
        };
        while let Some(job) = file.in_flight.front_mut() {
            let Some(encoded) = job.try_done()? else {
                break;
            };
            file.in_flight.pop_front();
            self.in_flight -= 1;
            append(&mut file.writer, encoded)?;
        }
        Ok(())
    }

    /// Waits for the table's oldest row group and appends it.
    fn wait_front(&mut self, table: usize) -> io::Result<()> {
        let file = self.tables[table].file.as_mut().expect("a file is open");
        let mut job = file
            .in_flight
            .pop_front()
            .expect("a row group is in flight");
        self.in_flight -= 1;
        let encoded = job.wait()?;
        append(&mut file.writer, encoded)
    }

    fn close(&mut self, table: usize) -> io::Result<()> {
        while self.tables[table]
            .file
            .as_ref()
            .is_some_and(|f| !f.in_flight.is_empty())
        {
            self.wait_front(table)?;
        }
        if let Some(file) = self.tables[table].file.take() {
            let sink = file.writer.into_inner().map_err(io::Error::other)?;
            sink.commit()?;
        }
        Ok(())
    }
}

/// Sends a row group's batches to the pool to be encoded: each top-level
/// field (its leaves, over every batch) is a task of its own, so a row
/// group of a wide table spreads over the cores, and the last row groups
/// of a run, or one big table among small ones, keep every core busy (one
/// task per row group left a core idle for the last 0.1 s of a 1.2 s
/// structured work item). The tasks never wait on anything: a task that
/// blocked inside the pool could wait on work queued behind itself.
/// `field_leaves` is the number of the writers (Parquet leaf columns, in
/// order) that each top-level field has.
fn spawn_encoders(
    seq: u64,
    writers: Vec<ArrowColumnWriter>,
    field_leaves: &[usize],
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Job {
    let (send, result) = sync_channel(field_leaves.len());
    let parts = (0..field_leaves.len()).map(|_| None).collect();
    let mut rest = writers.into_iter();
    for (i, &n) in field_leaves.iter().enumerate() {
        let writers: Vec<ArrowColumnWriter> = rest.by_ref().take(n).collect();
        let send = send.clone();
        let field = schema.fields()[i].clone();
        let columns: Vec<ArrayRef> = batches.iter().map(|b| b.column(i).clone()).collect();
        rayon::spawn(move || {
            let _ = send.send((i, encode_field(writers, &field, &columns)));
        });
    }
    Job { seq, result, parts }
}

/// Encodes one top-level field, given its column in each batch, with its
/// leaves' writers, in order.
fn encode_field(
    mut writers: Vec<ArrowColumnWriter>,
    field: &arrow_schema::FieldRef,
    columns: &[ArrayRef],
) -> Encoded {
    for column in columns {
        let mut leaves = writers.iter_mut();
        for leaf in compute_leaves(field, column)? {
            leaves
                .next()
                .expect("one column writer per leaf")
                .write(&leaf)?;
        }
    }
    writers.into_iter().map(ArrowColumnWriter::close).collect()
}

fn append(
    writer: &mut SerializedFileWriter<Box<dyn LakeFile>>,
    encoded: Vec<ArrowColumnChunk>,
) -> io::Result<()> {
    let mut row_group = writer.next_row_group().map_err(io::Error::other)?;
    for chunk in encoded {
        chunk
            .append_to_row_group(&mut row_group)
            .map_err(io::Error::other)?;
    }
    row_group.close().map_err(io::Error::other)?;
    Ok(())
}

impl TableSink for PartitionWriter<'_> {
    fn write(&mut self, table: usize, batch: RecordBatch) -> Result<(), SinkError> {
        self.write_batch(table, batch).map_err(|e| {
            let dir = &self.tables[table].dir;
            Box::new(io::Error::new(e.kind(), format!("{dir}: {e}"))) as SinkError
        })
    }
}

/// Reads a table's part files back, in order, a batch at a time. Used by
/// the stages after extraction; they read only the tables they need, never
/// the whole lake, and hold one batch of it at a time.
pub fn for_each_batch(
    lake: &dyn Lake,
    files: &[String],
    mut f: impl FnMut(RecordBatch) -> io::Result<()>,
) -> io::Result<()> {
    for path in files {
        let bytes = lake
            .get(path)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{path} is missing")))?;
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            bytes::Bytes::from(bytes),
        )
        .and_then(|b| b.with_batch_size(READ_BATCH_ROWS).build())
        .map_err(|e| io::Error::other(format!("{path}: {e}")))?;
        for batch in reader {
            f(batch.map_err(|e| io::Error::other(format!("{path}: {e}")))?)?;
        }
    }
    Ok(())
}

/// A lake file as the Parquet reader reads it: by ranges (the footer, then
/// only the column chunks asked for), so reading one column of a table of
/// camera frames does not fetch the frames.
struct LakeObject {
    lake: Arc<dyn Lake>,
    path: String,
    len: u64,
}

impl parquet::file::reader::Length for LakeObject {
    fn len(&self) -> u64 {
        self.len
    }
}

impl parquet::file::reader::ChunkReader for LakeObject {
    type T = RangeRead;

    /// The Parquet reader reads each page's header through this, from the
    /// page's offset; it gets a reader that fetches a window at a time,
    /// not the rest of the file (which made reading a column of N pages
    /// fetch O(N x file) bytes).
    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(RangeRead {
            lake: Arc::clone(&self.lake),
            path: self.path.clone(),
            pos: start,
            end: self.len,
            buf: bytes::Bytes::new(),
            window: RangeRead::FIRST_WINDOW,
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        self.lake
            .get_range(&self.path, start, length as u64)
            .map(bytes::Bytes::from)
            .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
    }
}

/// Reads a lake file from an offset to its end as it is asked for: 1 KiB
/// first (a page header is rarely more than a few hundred bytes), then
/// twice as much each fetch, up to 1 MiB.
struct RangeRead {
    lake: Arc<dyn Lake>,
    path: String,
    pos: u64,
    end: u64,
    buf: bytes::Bytes,
    window: u64,
}

impl RangeRead {
    const FIRST_WINDOW: u64 = 1024;
    const MAX_WINDOW: u64 = 1024 * 1024;
}

impl io::Read for RangeRead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.buf.is_empty() && self.pos < self.end {
            let len = self.window.min(self.end - self.pos);
            self.window = (self.window * 2).min(Self::MAX_WINDOW);
            self.buf = bytes::Bytes::from(self.lake.get_range(&self.path, self.pos, len)?);
            self.pos += self.buf.len() as u64;
            if self.buf.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} ends before its length", self.path),
                ));
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf.split_to(n));
        Ok(n)
    }
}

/// Reads the top-level columns `columns` of a table's part files, in
/// order, a batch at a time; columns a file lacks are left out of its
/// batches. Only those columns' bytes are read.
pub fn for_each_batch_of(
    lake: &Arc<dyn Lake>,
    files: &[String],
    columns: &[&str],
    mut f: impl FnMut(RecordBatch) -> io::Result<()>,
) -> io::Result<()> {
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    for path in files {
        let object = LakeObject {
            lake: lake.clone(),
            path: path.clone(),
            len: lake.len(path)?,
        };
        let builder = ParquetRecordBatchReaderBuilder::try_new(object)
            .map_err(|e| io::Error::other(format!("{path}: {e}")))?;
        let roots: Vec<usize> = columns
            .iter()
            .filter_map(|c| builder.schema().index_of(c).ok())
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let reader = builder
            .with_projection(mask)
            .with_batch_size(READ_BATCH_ROWS)
            .build()
            .map_err(|e| io::Error::other(format!("{path}: {e}")))?;
        for batch in reader {
            f(batch.map_err(|e| io::Error::other(format!("{path}: {e}")))?)?;
        }
    }
    Ok(())
}

/// Rows per batch when reading a table back.
const READ_BATCH_ROWS: usize = 16 * 1024;

/// Writes one batch as a bag's partition of a single table at `dir`
/// (e.g. `synchronized/bag_file=<bag>`) and removes what an earlier run
/// left there. An empty batch leaves no partition.
pub fn replace_partition(
    lake: &dyn Lake,
    dir: &str,
    batch: Option<&RecordBatch>,
) -> io::Result<Vec<String>> {
    let mut written = Vec::new();
    if let Some(batch) = batch.filter(|b| b.num_rows() > 0) {
        let mut w = PartitionWriter::new(lake, vec![(dir.to_string(), batch.schema())]);
        for start in (0..batch.num_rows()).step_by(WRITE_BATCH_ROWS) {
            let len = WRITE_BATCH_ROWS.min(batch.num_rows() - start);
            w.write_batch(0, batch.slice(start, len))?;
        }
        written = w.finish()?.into_iter().flatten().collect();
    }
    let keep: std::collections::HashSet<&str> = written.iter().map(String::as_str).collect();
    remove_unwritten(lake, dir, &keep)?;
    Ok(written)
}

/// Removes every file of the partition `dir` not in `keep` (an earlier
/// run's parts, a crashed run's temporary files).
fn remove_unwritten(
    lake: &dyn Lake,
    dir: &str,
    keep: &std::collections::HashSet<&str>,
) -> io::Result<()> {
    for name in lake.list_children(dir)? {
        let path = format!("{dir}/{name}");
        if !keep.contains(path.as_str()) {
            lake.delete(&path)?;
        }
    }
    Ok(())
}

/// Rewrites the rows of `files` (in order) as new parts of the partition
/// `dir` numbered from 0, and returns them; `files` are left in place
/// (the caller removes them once the new parts are recorded).
pub fn rewrite(
    lake: &dyn Lake,
    dir: &str,
    schema: SchemaRef,
    files: &[String],
    codec: Codec,
) -> io::Result<Vec<String>> {
    let mut w = PartitionWriter::new(lake, vec![(dir.to_string(), schema)]).with_codec(codec);
    for_each_batch(lake, files, |batch| w.write_batch(0, batch))?;
    Ok(w.finish()?.into_iter().flatten().collect())
}

/// Rows handed to the writer at a time by [`replace_partition`], so a big
/// table becomes several row groups.
const WRITE_BATCH_ROWS: usize = 8192;

/// Removes, from the bag's partitions of every table under `table_root`
/// (e.g. `topics`), every file the current run did not write, and the
/// partitions it did not write at all. Called after a run committed its
/// files, so a partition holds exactly one run's files.
pub fn remove_stale(
    lake: &dyn Lake,
    table_root: &str,
    bag_file: &str,
    written: &[String],
) -> io::Result<()> {
    let keep: std::collections::HashSet<&str> = written.iter().map(String::as_str).collect();
    for table in lake.list_children(table_root)? {
        let dir = partition_dir(&format!("{table_root}/{table}"), bag_file);
        remove_unwritten(lake, &dir, &keep)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::storage::lake::LocalLake;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::{BinaryArray, Int64Array};
    use arrow_schema::{DataType, Field};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::schema::types::ColumnPath as ColumnPathOf;

    fn batch(schema: &SchemaRef, start: i64, rows: usize, blob: usize) -> RecordBatch {
        let times: Vec<i64> = (start..start + rows as i64).collect();
        let blobs: Vec<Vec<u8>> = times.iter().map(|t| vec![(*t % 251) as u8; blob]).collect();
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(times)),
                Arc::new(BinaryArray::from_iter_values(blobs.iter())),
            ],
        )
        .unwrap()
    }

    /// The codec of each leaf column of a part file, by path.
    fn codecs(path: &std::path::Path) -> BTreeMap<String, Compression> {
        let file = std::fs::File::open(path).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let group = builder.metadata().row_group(0);
        group
            .columns()
            .iter()
            .map(|c| (c.column_path().string(), c.compression()))
            .collect()
    }

    /// A lake that counts the bytes read by range.
    struct Counting {
        inner: LocalLake,
        read: std::sync::atomic::AtomicU64,
    }

    impl Lake for Counting {
        fn url(&self, path: &str) -> String {
            self.inner.url(path)
        }
        fn create(&self, path: &str) -> io::Result<Box<dyn crate::storage::lake::LakeFile>> {
            self.inner.create(path)
        }
        fn put_if_absent(&self, path: &str, bytes: &[u8]) -> io::Result<bool> {
            self.inner.put_if_absent(path, bytes)
        }
        fn get(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
            self.inner.get(path)
        }
        fn list_children(&self, prefix: &str) -> io::Result<Vec<String>> {
            self.inner.list_children(prefix)
        }
        fn delete(&self, path: &str) -> io::Result<()> {
            self.inner.delete(path)
        }
        fn len(&self, path: &str) -> io::Result<u64> {
            self.inner.len(path)
        }
        fn get_range(&self, path: &str, offset: u64, len: u64) -> io::Result<Vec<u8>> {
            let bytes = self.inner.get_range(path, offset, len)?;
            self.read
                .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(bytes)
        }
    }

    #[test]
    fn reading_one_column_of_many_pages_fetches_about_that_column() {
        // 200 pages of times beside 2 MB of blobs: reading the times must
        // not fetch the file once per page.
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("log_time_ns", DataType::Int64, false),
            Field::new("blob", DataType::Binary, false),
        ]));
        let props = WriterProperties::builder()
            .set_data_page_row_count_limit(100)
            .set_write_batch_size(100)
            .set_compression(Compression::UNCOMPRESSED)
            .set_dictionary_enabled(false)
            .build();
        let file = std::fs::File::create(dir.path().join("t.parquet")).unwrap();
        let mut w =
            parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props)).unwrap();
        w.write(&batch(&schema, 0, 20_000, 100)).unwrap();
        w.close().unwrap();
        let size = std::fs::metadata(dir.path().join("t.parquet"))
            .unwrap()
            .len();
        let counting = Arc::new(Counting {
            inner: LocalLake::new(dir.path()).unwrap(),
            read: Default::default(),
        });
        let lake: Arc<dyn Lake> = counting.clone();
        let mut rows = 0;
        for_each_batch_of(&lake, &["t.parquet".to_string()], &["log_time_ns"], |b| {
            assert_eq!(b.num_columns(), 1);
            rows += b.num_rows();
            Ok(())
        })
        .unwrap();
        assert_eq!(rows, 20_000);
        let read = counting.read.load(std::sync::atomic::Ordering::Relaxed);
        // The times are 160 KB and each of their 200 page headers is read
        // through a 1 KiB window: far below the 2 MB file (reading each
        // header through the rest of the file fetched it 200 times).
        assert!(
            read < size,
            "read {read} bytes of a {size}-byte file for one small column"
        );
    }

    #[test]
    fn auto_leaves_blobs_that_do_not_shrink_uncompressed() {
        // Noise (a JPEG's entropy) and a repetitive blob, at the top and
        // inside a list of structs, and the same in a second table written
        // with a fixed codec.
        let item = Field::new(
            "item",
            DataType::Struct(vec![Field::new("noise", DataType::Binary, false)].into()),
            true,
        );
        let schema = Arc::new(Schema::new(vec![
            Field::new("log_time_ns", DataType::Int64, false),
            Field::new("noise", DataType::Binary, false),
            Field::new("zeros", DataType::Binary, false),
            Field::new("nested", DataType::List(Arc::new(item.clone())), false),
        ]));
        let mut state = 0x9E3779B97F4A7C15u64;
        let mut noise = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect()
        };
        let rows = 40;
        let noisy: Vec<Vec<u8>> = (0..rows).map(|_| noise(64 << 10)).collect();
        let nested_values: Vec<Vec<u8>> = (0..rows).map(|_| noise(8 << 10)).collect();
        let nested = arrow_array::ListArray::new(
            Arc::new(item),
            arrow_buffer::OffsetBuffer::from_lengths(vec![1; rows]),
            Arc::new(arrow_array::StructArray::new(
                vec![Field::new("noise", DataType::Binary, false)].into(),
                vec![Arc::new(BinaryArray::from_iter_values(
                    nested_values.iter(),
                ))],
                None,
            )),
            None,
        );
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(0..rows as i64)),
                Arc::new(BinaryArray::from_iter_values(noisy.iter())),
                Arc::new(BinaryArray::from_iter_values(
                    (0..rows).map(|_| vec![0u8; 64 << 10]),
                )),
                Arc::new(nested),
            ],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(dir.path()).unwrap();
        let tables = vec![("auto/bag_file=b".to_string(), schema.clone())];
        let mut w = PartitionWriter::new(&lake, tables);
        w.write_batch(0, batch.clone()).unwrap();
        let files = w.finish().unwrap();
        let auto = codecs(&dir.path().join(&files[0][0]));
        assert_eq!(auto["noise"], Compression::UNCOMPRESSED);
        assert_eq!(auto["nested.list.item.noise"], Compression::UNCOMPRESSED);
        assert!(matches!(auto["zeros"], Compression::ZSTD(_)));
        assert!(matches!(auto["log_time_ns"], Compression::ZSTD(_)));

        let tables = vec![("fixed/bag_file=b".to_string(), schema.clone())];
        let mut w = PartitionWriter::new(&lake, tables).with_codec(Codec::Zstd(3));
        w.write_batch(0, batch).unwrap();
        let files = w.finish().unwrap();
        let fixed = codecs(&dir.path().join(&files[0][0]));
        assert!(
            fixed.values().all(|c| matches!(c, Compression::ZSTD(_))),
            "{fixed:?}"
        );
    }

    #[test]
    fn row_groups_encoded_in_parallel_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(dir.path()).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("log_time_ns", DataType::Int64, false),
            Field::new("data", DataType::Binary, true),
        ]));
        let tables = vec![
            ("t/big/bag_file=b".to_string(), schema.clone()),
            ("t/small/bag_file=b".to_string(), schema.clone()),
        ];
        let mut w = PartitionWriter::new(&lake, tables);
        // ~200 MiB to the big table (several row groups, the budget
        // exceeded) interleaved with small writes to the other.
        let mut next = [0i64, 0];
        for i in 0..100 {
            w.write_batch(0, batch(&schema, next[0], 8, 256 << 10))
                .unwrap();
            next[0] += 8;
            if i % 3 == 0 {
                w.write_batch(1, batch(&schema, next[1], 5, 10)).unwrap();
                next[1] += 5;
            }
        }
        let files = w.finish().unwrap();
        for (table, (f, rows)) in files.iter().zip(next).enumerate() {
            assert_eq!(f.len(), 1, "{f:?}");
            let file = std::fs::File::open(dir.path().join(&f[0])).unwrap();
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
            let groups = builder.metadata().num_row_groups();
            if table == 0 {
                assert!(groups >= 5, "{groups} row groups");
            }
            let mut times = Vec::new();
            for b in builder.build().unwrap() {
                let b = b.unwrap();
                times.extend_from_slice(b.column(0).as_primitive::<Int64Type>().values());
                let blobs = b.column(1).as_binary::<i32>();
                for (t, v) in b
                    .column(0)
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .zip(blobs)
                {
                    assert!(v.unwrap().iter().all(|&x| x == (*t % 251) as u8));
                }
            }
            assert_eq!(times, (0..rows).collect::<Vec<_>>(), "table {table}");
        }
        // Nothing but the two part files.
        let mut all = Vec::new();
        for d in ["t/big/bag_file=b", "t/small/bag_file=b"] {
            all.extend(lake.list_children(d).unwrap());
        }
        assert_eq!(all, ["part-00000.parquet", "part-00000.parquet"]);
    }

    /// A row group's top-level fields are encoded as tasks of their own;
    /// nested fields (structs, lists of structs, fixed-size arrays) must
    /// still get exactly their leaves' writers, and read back whole.
    #[test]
    fn nested_fields_encoded_as_tasks_of_their_own_read_back_whole() {
        use arrow_array::{FixedSizeListArray, Float64Array, ListArray, StringArray, StructArray};
        use arrow_buffer::OffsetBuffer;
        use arrow_schema::Fields;
        let point = Fields::from(vec![
            Field::new("x", DataType::Float64, false),
            Field::new("y", DataType::Float64, false),
        ]);
        let header = Fields::from(vec![
            Field::new("seq", DataType::Int64, false),
            Field::new("frame_id", DataType::Utf8, false),
        ]);
        let point_item = Arc::new(Field::new("item", DataType::Struct(point.clone()), false));
        let cov_item = Arc::new(Field::new("item", DataType::Float64, false));
        let schema = Arc::new(Schema::new(vec![
            Field::new("log_time_ns", DataType::Int64, false),
            Field::new("header", DataType::Struct(header.clone()), false),
            Field::new("points", DataType::List(point_item.clone()), false),
            Field::new(
                "covariance",
                DataType::FixedSizeList(cov_item.clone(), 3),
                false,
            ),
        ]));

        let make = |start: i64, rows: usize| {
            let t: Vec<i64> = (start..start + rows as i64).collect();
            let lens: Vec<usize> = t.iter().map(|v| (*v % 4) as usize).collect();
            let n: usize = lens.iter().sum();
            let xs = Float64Array::from_iter_values((0..n).map(|i| start as f64 + i as f64));
            let ys = Float64Array::from_iter_values((0..n).map(|i| -(i as f64)));
            let points = StructArray::new(point.clone(), vec![Arc::new(xs), Arc::new(ys)], None);
            let cov = Float64Array::from_iter_values((0..rows * 3).map(|i| i as f64 / 7.0));
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(t.clone())),
                    Arc::new(StructArray::new(
                        header.clone(),
                        vec![
                            Arc::new(Int64Array::from(t.clone())),
                            Arc::new(StringArray::from_iter_values(
                                t.iter().map(|v| format!("frame{}", v % 3)),
                            )),
                        ],
                        None,
                    )),
                    Arc::new(ListArray::new(
                        point_item.clone(),
                        OffsetBuffer::from_lengths(lens),
                        Arc::new(points),
                        None,
                    )),
                    Arc::new(FixedSizeListArray::new(
                        cov_item.clone(),
                        3,
                        Arc::new(cov),
                        None,
                    )),
                ],
            )
            .unwrap()
        };
        let written: Vec<RecordBatch> = (0..3).map(|i| make(i * 1000, 1000)).collect();
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(dir.path()).unwrap();
        let mut w =
            PartitionWriter::new(&lake, vec![("t/n/bag_file=b".to_string(), schema.clone())]);
        w.write_batch(0, written[0].clone()).unwrap();
        w.dispatch(0).unwrap(); // a row group of one batch, then one of two
        // Each top-level field's task gets exactly its leaves' writers:
        // log_time_ns, header (seq, frame_id), points (x, y), covariance.
        let open = w.tables[0].file.as_ref().unwrap();
        assert_eq!(open.field_leaves, [1, 2, 2, 1]);
        for b in &written[1..] {
            w.write_batch(0, b.clone()).unwrap();
        }
        let files = w.finish().unwrap();
        let file = std::fs::File::open(dir.path().join(&files[0][0])).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        assert_eq!(builder.metadata().num_row_groups(), 2);
        let read: Vec<RecordBatch> = builder
            .with_batch_size(1000)
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
        assert_eq!(read, written);
    }

    #[test]
    fn dictionary_is_off_for_floats_times_and_blobs() {
        let schema = Schema::new(vec![
            Field::new("log_time_ns", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("id", DataType::Int32, true),
            Field::new("x", DataType::Float64, true),
            Field::new("blob", DataType::Binary, true),
            Field::new_list(
                "covariance",
                Field::new("item", DataType::Float64, true),
                true,
            ),
        ]);
        let props = writer_properties(&schema, Codec::Auto, &[]);
        let dict = |c: &str| props.dictionary_enabled(&ColumnPathOf::from(c));
        assert!(dict("name") && dict("id"));
        assert!(!dict("x") && !dict("blob") && !dict("log_time_ns"));
        assert_eq!(
            props.statistics_enabled(&ColumnPathOf::from("blob")),
            EnabledStatistics::None
        );
        assert_eq!(
            props.statistics_enabled(&ColumnPathOf::from("x")),
            EnabledStatistics::Page
        );
        // Array elements: no statistics.
        assert_eq!(
            props.statistics_enabled(&ColumnPathOf::new(vec![
                "covariance".into(),
                "list".into(),
                "item".into()
            ])),
            EnabledStatistics::None
        );
    }
}
