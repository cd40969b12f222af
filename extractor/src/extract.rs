//! Drives a whole bag through the decoder, whatever its format: units
//! (chunks, runs of records, ranges of rows) are read and decoded in
//! parallel, a bounded window at a time, and each table's rows reach the
//! [`TableSink`] in log-time order (ties in bag order) while the next window
//! decodes.
//!
//! Order across units: units are processed in bag order, and a table's
//! rows are held in a small reorder buffer until no later unit can still
//! hold an earlier row, i.e. up to the smallest start time of the units not
//! yet read (from the index, or from the recovery scan). For a bag recorded
//! in order that buffer holds at most one unit's rows; a bag whose units
//! are out of order holds what it must, and no more.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{Array, Int64Array, RecordBatch, UInt32Array};
use arrow_select::interleave::interleave_record_batch;
use arrow_select::take::take_record_batch;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::container::{Bag, Unit};
use crate::decode::{Layout, MessageDecoder};
use crate::definition::resolve::Version;
use crate::error::{Error, Result};

/// Uncompressed bytes decoded in one parallel window. Two windows are alive
/// at once (one decoding, one being written), so this bounds the memory the
/// decoded-but-unwritten rows take.
pub const WINDOW_BYTES: u64 = 32 << 20;

/// Where decoded rows go: one call per batch, in log-time order per table.
pub trait TableSink: Send {
    /// Receives the next rows of table `table` (an index into the plan).
    fn write(&mut self, table: usize, batch: RecordBatch) -> std::result::Result<(), SinkError>;
}

/// An error from a [`TableSink`], passed through unchanged.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// One output table: its name and the layout of the messages that fill it.
#[derive(Debug, Clone)]
pub struct TablePlan {
    pub name: String,
    pub topic: String,
    /// The type name of its messages.
    pub datatype: String,
    /// The type version the table is keyed by.
    pub version: Version,
    pub layout: Arc<Layout>,
}

/// What to extract: the tables, and which connection fills which table.
/// Connections not in `conn_table` are read and counted but not decoded.
#[derive(Debug, Clone, Default)]
pub struct ExtractPlan {
    pub tables: Vec<TablePlan>,
    /// Looked up once per message: a fast hash of the connection id.
    pub conn_table: FxHashMap<u32, usize>,
}

/// Messages of one connection that could not be decoded.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct DecodeFailures {
    pub count: u64,
    pub first_reason: String,
}

/// What an extraction read and wrote; warnings are data, the caller turns
/// them into catalogue entries.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ExtractReport {
    /// Messages read from intact chunks, whatever was extracted.
    pub message_count: u64,
    pub start_time_ns: Option<u64>,
    pub end_time_ns: Option<u64>,
    /// Messages read per connection id.
    pub messages_per_conn: BTreeMap<u32, u64>,
    /// Rows written per table (index into the plan).
    pub rows_per_table: Vec<u64>,
    /// Strings with invalid UTF-8 replaced, per table.
    pub invalid_utf8_per_table: Vec<u64>,
    /// First and last `log_time_ns` written, per table (`None`: no rows).
    pub time_range_per_table: Vec<Option<(i64, i64)>>,
    /// Messages that did not decode to exactly their length, per connection.
    pub decode_failures: BTreeMap<u32, DecodeFailures>,
    /// Messages naming a connection id that no connection record defines.
    pub unknown_connections: BTreeMap<u32, u64>,
    /// Units skipped whole: (the unit, as a warning names it: "chunk at
    /// offset N"; why).
    pub skipped_chunks: Vec<(String, String)>,
    /// Units read only in part (a sqlite3 error part-way): why.
    pub partial_units: Vec<String>,
    /// Uncompressed bytes read.
    pub uncompressed_bytes: u64,
}

/// The part of a bag one work item extracts: the messages whose log time
/// is in `[from, to)`, read from the units that may hold them.
///
/// Facts about a unit as a whole (skipped, messages of unknown
/// connections or unreadable, bytes decompressed) are reported by its
/// *home* item only, so that reports of items that share a boundary unit
/// add up to the whole bag's.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Slice {
    /// Indices into the layout's units, in bag order: those read.
    pub units: Vec<usize>,
    /// Indices of the units this item reports whole-unit facts for.
    pub home: std::ops::Range<usize>,
    /// The first log time kept; `None`: from the start.
    pub from: Option<u64>,
    /// The first log time no longer kept; `None`: to the end.
    pub to: Option<u64>,
}

impl Slice {
    /// The whole bag: every unit, every message.
    pub fn whole(bag: &Bag) -> Slice {
        let n = bag.layout.units.len();
        Slice {
            units: (0..n).collect(),
            home: 0..n,
            from: None,
            to: None,
        }
    }

    /// Whether a message at `time` belongs to this slice.
    pub fn keeps(&self, time: u64) -> bool {
        self.from.is_none_or(|f| time >= f) && self.to.is_none_or(|t| time < t)
    }

    fn bounded(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }
}

/// Extracts every unit of `bag` into `sink` per `plan`. `progress` is
/// called with the bytes read of each unit done.
pub fn extract(
    bag: &Bag,
    plan: &ExtractPlan,
    sink: &mut dyn TableSink,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ExtractReport> {
    extract_slice(bag, plan, &Slice::whole(bag), sink, progress)
}

/// Extracts one [`Slice`] of `bag` into `sink` per `plan`: rows in log-time
/// order (ties in bag order) within the slice, so the slices of a bag, one
/// after the other, give the whole bag's rows in the whole bag's order.
pub fn extract_slice(
    bag: &Bag,
    plan: &ExtractPlan,
    slice: &Slice,
    sink: &mut dyn TableSink,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ExtractReport> {
    let whole = slice.units.len() == bag.layout.units.len();
    let picked: Vec<Unit>;
    let units: &[Unit] = if whole {
        &bag.layout.units
    } else {
        picked = slice
            .units
            .iter()
            .map(|&i| bag.layout.units[i].clone())
            .collect();
        &picked
    };
    let home: Vec<bool> = slice.units.iter().map(|i| slice.home.contains(i)).collect();
    let mut state = Merger::new(plan, units);
    let windows = windows(units);
    let mut ready: Option<Vec<ChunkOutput>> = None;
    for (i, range) in windows.iter().enumerate() {
        let range = range.clone();
        // A remote source fetches the next window's units while this one
        // decodes.
        if i == 0 {
            bag.prefetch(&units[range.clone()]);
        }
        if let Some(next) = windows.get(i + 1) {
            bag.prefetch(&units[next.clone()]);
        }
        let chunk_units = &units[range.clone()];
        let (decoded, written) = rayon::join(
            || {
                chunk_units
                    .par_iter()
                    .enumerate()
                    .map(|(i, unit)| {
                        let index = range.start + i;
                        let out = decode_unit(bag, unit, index, home[index], slice, plan);
                        progress(unit.read_len);
                        out
                    })
                    .collect::<Vec<_>>()
            },
            || match ready.take() {
                Some(outputs) => state.consume(outputs, sink),
                None => Ok(()),
            },
        );
        written?;
        ready = Some(decoded);
    }
    if let Some(outputs) = ready.take() {
        state.consume(outputs, sink)?;
    }
    state.finish(sink)
}

/// Splits the units into consecutive windows of about [`WINDOW_BYTES`]
/// uncompressed (at least one unit, at most a few per thread).
fn windows(units: &[Unit]) -> Vec<std::ops::Range<usize>> {
    let max_chunks = rayon::current_num_threads() * 4;
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, c) in units.iter().enumerate() {
        if i > start && (bytes.saturating_add(c.size) > WINDOW_BYTES || i - start >= max_chunks) {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes = bytes.saturating_add(c.size);
    }
    if start < units.len() {
        out.push(start..units.len());
    }
    out
}

/// The decoded contents of one unit.
struct ChunkOutput {
    index: usize,
    /// Whether the slice reports this unit's whole-unit facts.
    home: bool,
    /// The unit as warnings name it.
    name: String,
    outcome: std::result::Result<DecodedChunk, Error>,
}

#[derive(Default)]
struct DecodedChunk {
    /// Per table: its rows from this chunk, sorted by log time (stable).
    batches: Vec<(usize, RecordBatch)>,
    invalid_utf8: Vec<(usize, u64)>,
    message_count: u64,
    min_time: Option<u64>,
    max_time: Option<u64>,
    per_conn: BTreeMap<u32, u64>,
    failures: BTreeMap<u32, DecodeFailures>,
    unknown: BTreeMap<u32, u64>,
    partial: Option<String>,
    uncompressed: u64,
}

/// Reads, decompresses and decodes one unit, keeping the messages of
/// `slice`. Runs on the rayon pool.
fn decode_unit(
    bag: &Bag,
    unit: &Unit,
    index: usize,
    home: bool,
    slice: &Slice,
    plan: &ExtractPlan,
) -> ChunkOutput {
    let name = unit.describe(&bag.layout);
    let outcome = bag.read_unit(unit).and_then(|contents| {
        // A slice trusts the index's time range of each unit: a message
        // outside it could belong to a window whose item never reads this
        // unit, and be lost.
        if slice.bounded()
            && let (Some(start), Some(end)) = (unit.start_time_ns, unit.end_time_ns)
            && let Some(stray) = contents
                .messages
                .iter()
                .find(|m| m.time_ns < start || m.time_ns > end)
        {
            return Err(Error::IndexLies {
                unit: name.clone(),
                time_ns: stray.time_ns,
                start,
                end,
            });
        }
        let mut out = DecodedChunk::default();
        if home {
            out.uncompressed = contents.data.len() as u64;
            out.unknown = contents.unknown;
            out.partial = contents.warning.map(|w| bag.layout.in_file(unit.file, w));
        }
        let unreadable = if home {
            contents.unreadable
        } else {
            BTreeMap::new()
        };
        for (conn, (count, reason)) in unreadable {
            let f = out.failures.entry(conn).or_default();
            if f.count == 0 {
                f.first_reason = reason;
            }
            f.count += count;
            *out.per_conn.entry(conn).or_default() += count;
            out.message_count += count;
        }
        // The tables this chunk fills, each with its rows and bytes so its
        // decoder's buffers are sized once, and each kept message with the
        // index of its table in `tables`.
        let mut tables: Vec<(usize, usize, usize)> = Vec::new();
        let mut local: FxHashMap<usize, usize> = FxHashMap::default();
        let mut routed: Vec<(usize, &crate::container::MessageRef)> = Vec::new();
        for msg in &contents.messages {
            if !slice.keeps(msg.time_ns) {
                continue;
            }
            out.message_count += 1;
            *out.per_conn.entry(msg.conn).or_default() += 1;
            out.min_time = Some(out.min_time.map_or(msg.time_ns, |t| t.min(msg.time_ns)));
            out.max_time = Some(out.max_time.map_or(msg.time_ns, |t| t.max(msg.time_ns)));
            if let Some(&table) = plan.conn_table.get(&msg.conn) {
                let k = *local.entry(table).or_insert_with(|| {
                    tables.push((table, 0, 0));
                    tables.len() - 1
                });
                tables[k].1 += 1;
                tables[k].2 += msg.range.len();
                routed.push((k, msg));
            }
        }
        let mut decoders: Vec<MessageDecoder> = tables
            .iter()
            .map(|&(table, rows, bytes)| {
                MessageDecoder::with_capacity(plan.tables[table].layout.clone(), rows, bytes)
            })
            .collect();
        for (k, msg) in routed {
            let decoder = &mut decoders[k];
            let bytes = &contents.data[msg.range.clone()];
            // Receive times are u64 ns; past i64::MAX (year 2262) they are
            // clamped rather than wrapped.
            let time = i64::try_from(msg.time_ns).unwrap_or(i64::MAX);
            if let Err(e) = decoder.decode(time, bytes) {
                let f = out.failures.entry(msg.conn).or_default();
                if f.count == 0 {
                    f.first_reason = format!("{e} ({name})");
                }
                f.count += 1;
            }
        }
        let mut decoders: Vec<(usize, MessageDecoder)> = tables
            .iter()
            .map(|&(table, ..)| table)
            .zip(decoders)
            .collect();
        decoders.sort_by_key(|(t, _)| *t);
        for (table, mut decoder) in decoders {
            out.invalid_utf8.push((table, decoder.invalid_utf8()));
            if decoder.is_empty() {
                continue;
            }
            out.batches.push((table, sort_by_time(decoder.finish())));
        }
        Ok(out)
    });
    ChunkOutput {
        index,
        home,
        name,
        outcome,
    }
}

/// The log times of a topic batch (its first column).
fn times(batch: &RecordBatch) -> &Int64Array {
    batch
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("the first column of a topic batch is log_time_ns")
}

/// Sorts a batch by log time, keeping the order of equal times.
fn sort_by_time(batch: RecordBatch) -> RecordBatch {
    let t = times(&batch).values();
    if t.windows(2).all(|w| w[0] <= w[1]) {
        return batch;
    }
    let mut order: Vec<u32> = (0..t.len() as u32).collect();
    order.sort_by_key(|&i| t[i as usize]);
    take_record_batch(&batch, &UInt32Array::from(order)).expect("indices are in range")
}

/// Per-table reorder buffers and the running report.
struct Merger {
    pending: Vec<Vec<RecordBatch>>,
    /// `suffix_min[i]`: the smallest start time of chunks `i..`; rows at or
    /// before it can be released once chunk `i - 1` is merged.
    suffix_min: Vec<u64>,
    report: ExtractReport,
}

impl Merger {
    fn new(plan: &ExtractPlan, units: &[Unit]) -> Merger {
        let n = units.len();
        let mut suffix_min = vec![u64::MAX; n + 1];
        for i in (0..n).rev() {
            // A unit of unknown start may hold anything: hold all before
            // it. A unit known to hold no message holds nothing back.
            let start = match (units[i].start_time_ns, units[i].end_time_ns) {
                (Some(s), _) => s,
                (None, None) if units[i].size == 0 => u64::MAX,
                _ => 0,
            };
            suffix_min[i] = suffix_min[i + 1].min(start);
        }
        Merger {
            pending: vec![Vec::new(); plan.tables.len()],
            suffix_min,
            report: ExtractReport {
                rows_per_table: vec![0; plan.tables.len()],
                invalid_utf8_per_table: vec![0; plan.tables.len()],
                time_range_per_table: vec![None; plan.tables.len()],
                ..ExtractReport::default()
            },
        }
    }

    /// Merges decoded chunks, in file order, and releases what is ready.
    fn consume(&mut self, outputs: Vec<ChunkOutput>, sink: &mut dyn TableSink) -> Result<()> {
        for out in outputs {
            let watermark = self.suffix_min[out.index + 1];
            match out.outcome {
                // A lying index fails the slice: its messages may be lost.
                Err(e @ (Error::IndexLies { .. } | Error::IndexWrong { .. })) => return Err(e),
                // A unit skipped whole is reported by its home item.
                Err(_) if !out.home => {}
                Err(e) => {
                    let reason = match e {
                        Error::Chunk { reason, .. } => reason,
                        other => other.to_string(),
                    };
                    self.report.skipped_chunks.push((out.name, reason));
                }
                Ok(chunk) => self.absorb(chunk),
            }
            self.release(watermark, sink)?;
        }
        Ok(())
    }

    fn absorb(&mut self, chunk: DecodedChunk) {
        let r = &mut self.report;
        r.partial_units.extend(chunk.partial);
        r.message_count += chunk.message_count;
        r.uncompressed_bytes += chunk.uncompressed;
        if let Some(t) = chunk.min_time {
            r.start_time_ns = Some(r.start_time_ns.map_or(t, |s| s.min(t)));
        }
        if let Some(t) = chunk.max_time {
            r.end_time_ns = Some(r.end_time_ns.map_or(t, |e| e.max(t)));
        }
        for (conn, n) in chunk.per_conn {
            *r.messages_per_conn.entry(conn).or_default() += n;
        }
        for (conn, n) in chunk.unknown {
            *r.unknown_connections.entry(conn).or_default() += n;
        }
        for (conn, f) in chunk.failures {
            let total = r.decode_failures.entry(conn).or_default();
            if total.count == 0 {
                total.first_reason = f.first_reason;
            }
            total.count += f.count;
        }
        for (table, n) in chunk.invalid_utf8 {
            r.invalid_utf8_per_table[table] += n;
        }
        for (table, batch) in chunk.batches {
            self.pending[table].push(batch);
        }
    }

    /// Writes every held row at or before `watermark`, in time order.
    fn release(&mut self, watermark: u64, sink: &mut dyn TableSink) -> Result<()> {
        let watermark = i64::try_from(watermark).unwrap_or(i64::MAX);
        for table in 0..self.pending.len() {
            let held = std::mem::take(&mut self.pending[table]);
            let (ready, keep) = split_at_watermark(held, watermark);
            self.pending[table] = keep;
            if let Some(batch) = ready {
                self.report.rows_per_table[table] += batch.num_rows() as u64;
                // Rows leave in time order: the first batch's first time is
                // the table's minimum, each batch's last its running maximum.
                let t = times(&batch).values();
                if let (Some(&first), Some(&last)) = (t.first(), t.last()) {
                    let range = &mut self.report.time_range_per_table[table];
                    *range = Some(range.map_or((first, last), |(lo, _)| (lo, last)));
                }
                sink.write(table, batch).map_err(|source| Error::Sink {
                    table: table.to_string(),
                    source,
                })?;
            }
        }
        Ok(())
    }

    fn finish(mut self, sink: &mut dyn TableSink) -> Result<ExtractReport> {
        self.release(u64::MAX, sink)?;
        Ok(self.report)
    }
}

/// Merges sorted batches (in arrival order) by time, stably, and splits the
/// result into the rows at or before `watermark` and the rest.
fn split_at_watermark(
    held: Vec<RecordBatch>,
    watermark: i64,
) -> (Option<RecordBatch>, Vec<RecordBatch>) {
    match held.as_slice() {
        [] => return (None, held),
        [only] => {
            let t = times(only).values();
            let cut = t.partition_point(|&x| x <= watermark);
            if cut == t.len() {
                return (held.into_iter().next(), Vec::new());
            }
            if cut == 0 {
                return (None, held);
            }
            let batch = &held[0];
            return (
                Some(batch.slice(0, cut)),
                vec![batch.slice(cut, batch.num_rows() - cut)],
            );
        }
        _ => {}
    }
    // (time, batch, row) in arrival order; a stable sort by time keeps bag
    // order among equal times.
    let mut rows: Vec<(i64, usize, usize)> = held
        .iter()
        .enumerate()
        .flat_map(|(b, batch)| {
            times(batch)
                .values()
                .iter()
                .enumerate()
                .map(move |(r, &t)| (t, b, r))
        })
        .collect();
    rows.sort_by_key(|&(t, _, _)| t);
    let cut = rows.partition_point(|&(t, _, _)| t <= watermark);
    let refs: Vec<&RecordBatch> = held.iter().collect();
    let pick = |slice: &[(i64, usize, usize)]| {
        let idx: Vec<(usize, usize)> = slice.iter().map(|&(_, b, r)| (b, r)).collect();
        interleave_record_batch(&refs, &idx).expect("indices come from these batches")
    };
    let ready = (cut > 0).then(|| pick(&rows[..cut]));
    let keep = if cut < rows.len() {
        vec![pick(&rows[cut..])]
    } else {
        Vec::new()
    };
    (ready, keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{DataType, Field, Schema};

    fn batch(times: &[i64], tags: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("log_time_ns", DataType::Int64, false),
            Field::new("tag", DataType::Int64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(times.to_vec())),
                Arc::new(Int64Array::from(tags.to_vec())),
            ],
        )
        .unwrap()
    }

    fn tags(b: &RecordBatch) -> Vec<i64> {
        b.column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .values()
            .to_vec()
    }

    #[test]
    fn sorting_within_a_chunk_is_stable() {
        let b = sort_by_time(batch(&[3, 1, 3, 1], &[0, 1, 2, 3]));
        assert_eq!(tags(&b), [1, 3, 0, 2]);
    }

    #[test]
    fn watermark_releases_only_rows_no_later_chunk_can_precede() {
        let held = vec![batch(&[1, 5, 9], &[0, 1, 2]), batch(&[2, 5, 7], &[3, 4, 5])];
        let (ready, keep) = split_at_watermark(held, 5);
        // Equal times keep arrival (bag) order: tag 1 before tag 4.
        assert_eq!(tags(&ready.unwrap()), [0, 3, 1, 4]);
        assert_eq!(keep.len(), 1);
        assert_eq!(tags(&keep[0]), [5, 2]);
    }

    #[test]
    fn in_order_single_batch_passes_through() {
        let (ready, keep) = split_at_watermark(vec![batch(&[1, 2], &[0, 1])], i64::MAX);
        assert_eq!(tags(&ready.unwrap()), [0, 1]);
        assert!(keep.is_empty());
        let (ready, keep) = split_at_watermark(vec![batch(&[1, 2], &[0, 1])], 0);
        assert!(ready.is_none());
        assert_eq!(keep.len(), 1);
    }
}
