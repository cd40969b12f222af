//! Streaming as-of: a topic's rows arrive as a sequence of sorted batches
//! (as read from its Parquet parts) and only the rows some tick picks are
//! kept, so memory grows with the number of ticks, not of messages (a
//! 100 Hz IMU keeps one row in ten at 100 ms ticks). Same choices as
//! [`crate::synchronize`], which is the in-memory reference the tests
//! compare this with.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, UInt32Array};
use arrow_schema::SchemaRef;
use arrow_select::concat::concat_batches;
use arrow_select::take::take_record_batch;

use crate::{
    Error, MAX_TICKS, Result, TopicRows, check_columns, gather, schema, tick_count, tick_grid,
    topic_fields, topic_times,
};

/// The tick grid for `[t_min, t_max]`, refusing a bad interval or more
/// than [`MAX_TICKS`] ticks before allocating them.
pub fn ticks(t_min: i64, t_max: i64, interval_ns: i64) -> Result<Vec<i64>> {
    if interval_ns <= 0 {
        return Err(Error::InvalidInterval { interval_ns });
    }
    let count = tick_count(t_min, t_max, interval_ns);
    if count > u128::from(MAX_TICKS) {
        return Err(Error::TooManyTicks {
            t_min,
            t_max,
            interval_ns,
            ticks: count,
            max: MAX_TICKS,
        });
    }
    Ok(tick_grid(t_min, t_max, interval_ns))
}

/// Whether a message at `time` may be used at tick `t`.
fn fresh(t: i64, time: i64, max_age_ns: Option<i64>) -> bool {
    max_age_ns.is_none_or(|age| i128::from(t) - i128::from(time) <= i128::from(age))
}

/// One topic's as-of choice over a tick grid, fed batch by batch.
#[derive(Debug)]
pub struct TopicStream<'a> {
    column: String,
    schema: SchemaRef,
    ticks: &'a [i64],
    max_age_ns: Option<i64>,
    /// The first tick not yet decided: later rows may still win it.
    next: usize,
    /// The latest row so far, as a one-row batch, and its time.
    carry: Option<(RecordBatch, i64)>,
    /// Where the carry is in `kept`, once a tick picked it.
    carry_kept: Option<u32>,
    kept: Vec<RecordBatch>,
    kept_rows: u32,
    /// Per decided tick, its row in the concatenation of `kept`.
    choice: Vec<Option<u32>>,
}

impl<'a> TopicStream<'a> {
    /// A stream for the topic column `column` whose batches have `schema`.
    /// `max_age_ns` must not be negative (see [`crate::synchronize`]).
    pub fn new(column: &str, schema: SchemaRef, ticks: &'a [i64], max_age_ns: Option<i64>) -> Self {
        TopicStream {
            column: column.to_owned(),
            schema,
            ticks,
            max_age_ns,
            next: 0,
            carry: None,
            carry_kept: None,
            kept: Vec::new(),
            kept_rows: 0,
            choice: Vec::with_capacity(ticks.len()),
        }
    }

    /// Takes the next batch of the topic's rows (sorted by `log_time_ns`,
    /// not before the previous batch's last row).
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        // The times borrow the name they were checked under; a local
        // copy leaves `self` free to change below.
        let column = self.column.clone();
        let times = topic_times(&TopicRows {
            column: &column,
            batch,
        })?;
        let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
            return Ok(());
        };
        if let Some((_, previous)) = &self.carry
            && first < *previous
        {
            return Err(Error::Unsorted {
                topic: self.column.clone(),
                row: 0,
                time: first,
                previous: *previous,
            });
        }
        // Ticks before this batch: the latest earlier row, if fresh.
        while self.next < self.ticks.len() && self.ticks[self.next] < first {
            let picked = self.pick_carry(self.ticks[self.next]);
            self.choice.push(picked);
            self.next += 1;
        }
        // Ticks before this batch's last time are decided here: every later
        // row is at least that late. A tick at exactly the last time waits,
        // as a later batch may hold rows of the same time (later in bag order).
        let mut local: Vec<u32> = Vec::new();
        let mut pos = 0usize;
        while self.next < self.ticks.len() && self.ticks[self.next] < last {
            let t = self.ticks[self.next];
            while pos + 1 < times.len() && times[pos + 1] <= t {
                pos += 1;
            }
            if fresh(t, times[pos], self.max_age_ns) {
                self.choice.push(Some(self.kept_rows + local.len() as u32));
                local.push(pos as u32);
            } else {
                self.choice.push(None);
            }
            self.next += 1;
        }
        let arrow = |source| Error::Arrow {
            context: format!("streaming topic {:?}", self.column),
            source,
        };
        if !local.is_empty() {
            self.kept_rows += local.len() as u32;
            self.kept
                .push(take_record_batch(batch, &UInt32Array::from(local)).map_err(arrow)?);
        }
        // A copy, not a slice: a slice would pin the whole batch.
        let last_row = UInt32Array::from(vec![(times.len() - 1) as u32]);
        self.carry = Some((take_record_batch(batch, &last_row).map_err(arrow)?, last));
        self.carry_kept = None;
        Ok(())
    }

    /// The carry for tick `t`, kept once however many ticks pick it.
    fn pick_carry(&mut self, t: i64) -> Option<u32> {
        let (row, time) = self.carry.as_ref()?;
        if !fresh(t, *time, self.max_age_ns) {
            return None;
        }
        if self.carry_kept.is_none() {
            self.kept.push(row.clone());
            self.carry_kept = Some(self.kept_rows);
            self.kept_rows += 1;
        }
        self.carry_kept
    }

    /// Decides the remaining ticks and returns the topic's Struct column.
    pub fn finish(mut self) -> Result<ArrayRef> {
        while self.next < self.ticks.len() {
            let picked = self.pick_carry(self.ticks[self.next]);
            self.choice.push(picked);
            self.next += 1;
        }
        let rows = concat_batches(&self.schema, &self.kept).map_err(|source| Error::Arrow {
            context: format!("collecting topic {:?}", self.column),
            source,
        })?;
        let topic = TopicRows {
            column: &self.column,
            batch: &rows,
        };
        gather(&topic, topic_fields(&self.schema), self.choice)
    }
}

/// The synchronized table from the ticks and each topic's column (as
/// [`TopicStream::finish`] made it), in order.
pub fn assemble(ticks: Vec<i64>, topics: Vec<(&str, SchemaRef, ArrayRef)>) -> Result<RecordBatch> {
    let schemas: Vec<(&str, &arrow_schema::Schema)> =
        topics.iter().map(|(c, s, _)| (*c, s.as_ref())).collect();
    check_columns(schemas.iter().map(|(c, _)| *c))?;
    let table = schema(&schemas);
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(ticks))];
    arrays.extend(topics.into_iter().map(|(_, _, a)| a));
    RecordBatch::try_new(table, arrays).map_err(|source| Error::Arrow {
        context: "assembling the synchronized table".to_owned(),
        source,
    })
}
