//! Parquet partitions in the lake: `<table dir>/bag_file=<bag>/part-NNNNN.parquet`.
//!
//! [`PartitionWriter`] is the extractor's [`TableSink`]: it keeps one open
//! Parquet writer per table, flushes a row group whenever the buffered data
//! passes [`ROW_GROUP_BYTES`] (so memory stays flat whatever the bag size),
//! and starts a new part file after [`PART_BYTES`]. Files are committed only
//! when finished, so each appears whole; dropped unfinished, none appears.

use std::io;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use extractor::extract::{SinkError, TableSink};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::lake::{Lake, LakeFile};

/// Buffered (encoded, not yet written) bytes per table before a row group
/// is flushed. Bounds memory per table; large enough for good compression.
pub const ROW_GROUP_BYTES: usize = 32 << 20;

/// Bytes after which a table's part file is closed and the next begins.
pub const PART_BYTES: usize = 1 << 30;

/// Name of the `n`th part file of a partition.
pub fn part_name(n: u32) -> String {
    format!("part-{n:05}.parquet")
}

/// Directory of a bag's partition in a table directory.
pub fn partition_dir(table_dir: &str, bag_file: &str) -> String {
    format!("{table_dir}/bag_file={bag_file}")
}

/// Writer properties shared by every table: zstd, statistics on.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by(format!("bagpipe {}", env!("CARGO_PKG_VERSION")))
        .build()
}

struct TableOut {
    dir: String,
    schema: SchemaRef,
    writer: Option<ArrowWriter<Box<dyn LakeFile>>>,
    next_part: u32,
    files: Vec<String>,
}

/// Writes each table's batches into its partition of the lake.
pub struct PartitionWriter<'a> {
    lake: &'a dyn Lake,
    tables: Vec<TableOut>,
    props: WriterProperties,
}

impl<'a> PartitionWriter<'a> {
    /// One output per table: `(partition directory, schema)`.
    pub fn new(lake: &'a dyn Lake, tables: Vec<(String, SchemaRef)>) -> PartitionWriter<'a> {
        PartitionWriter {
            lake,
            tables: tables
                .into_iter()
                .map(|(dir, schema)| TableOut {
                    dir,
                    schema,
                    writer: None,
                    next_part: 0,
                    files: Vec::new(),
                })
                .collect(),
            props: writer_properties(),
        }
    }

    /// Closes every open file and returns, per table, the files written
    /// (paths relative to the root). A table with no rows has none.
    pub fn finish(mut self) -> io::Result<Vec<Vec<String>>> {
        for t in 0..self.tables.len() {
            self.close(t)?;
        }
        Ok(self.tables.into_iter().map(|t| t.files).collect())
    }

    fn close(&mut self, table: usize) -> io::Result<()> {
        let t = &mut self.tables[table];
        if let Some(writer) = t.writer.take() {
            let file = writer.into_inner().map_err(io::Error::other)?;
            file.commit()?;
        }
        Ok(())
    }

    fn write_batch(&mut self, table: usize, batch: &RecordBatch) -> io::Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let t = &mut self.tables[table];
        if t.writer.is_none() {
            let path = format!("{}/{}", t.dir, part_name(t.next_part));
            let file = self.lake.create(&path)?;
            let writer = ArrowWriter::try_new(file, t.schema.clone(), Some(self.props.clone()))
                .map_err(io::Error::other)?;
            t.writer = Some(writer);
            t.next_part += 1;
            t.files.push(path);
        }
        let writer = t.writer.as_mut().expect("opened above");
        writer.write(batch).map_err(io::Error::other)?;
        if writer.in_progress_size() > ROW_GROUP_BYTES {
            writer.flush().map_err(io::Error::other)?;
        }
        if writer.bytes_written() > PART_BYTES {
            self.close(table)?;
        }
        Ok(())
    }
}

impl TableSink for PartitionWriter<'_> {
    fn write(&mut self, table: usize, batch: RecordBatch) -> Result<(), SinkError> {
        self.write_batch(table, &batch).map_err(|e| {
            let dir = &self.tables[table].dir;
            Box::new(io::Error::new(e.kind(), format!("{dir}: {e}"))) as SinkError
        })
    }
}

/// Removes, from the bag's partitions of every table under `table_root`
/// (e.g. `topics`), every file the current run did not write, and the
/// partitions it did not write at all. Called after a run committed its
/// files, so a partition holds exactly one run's files.
pub fn remove_stale(
    lake: &dyn Lake,
    table_root: &str,
    bag_file: &str,
    written: &[String],
) -> io::Result<Vec<String>> {
    let keep: std::collections::HashSet<&str> = written.iter().map(String::as_str).collect();
    let mut removed = Vec::new();
    for table in lake.list_children(table_root)? {
        let dir = partition_dir(&format!("{table_root}/{table}"), bag_file);
        for name in lake.list_children(&dir)? {
            let path = format!("{dir}/{name}");
            if !keep.contains(path.as_str()) {
                lake.delete(&path)?;
                removed.push(path);
            }
        }
    }
    Ok(removed)
}
