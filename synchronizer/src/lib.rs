//! Resamples extracted topic tables onto a fixed tick timeline: the latest
//! message of each topic at every tick (the contract's "Synchronized table").
//!
//! Pure library, no I/O: the caller reads each synchronized topic table into
//! one Arrow [`RecordBatch`] (sorted by `log_time_ns`, ties in bag order) and
//! writes the returned batch wherever it likes. The work is split in two, as
//! in polars' as-of join: [`asof_indices`] turns sorted times and the tick
//! grid into nullable take-indices (backward as-of, ties go to the last row),
//! then [`synchronize`] gathers each topic's columns with
//! [`arrow_select::take`] into one Struct column per topic (a null index gives
//! a null struct row, "no message").

mod stream;
pub use stream::{TopicStream, assemble, ticks};

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StructArray, UInt32Array};
use arrow_schema::{ArrowError, DataType, Field, Fields, Schema, SchemaRef};

/// Column name of the tick time in the synchronized table.
pub const TIME_COLUMN: &str = "time_ns";

/// Column name of the receive time, the first column of every topic table.
pub const LOG_TIME_COLUMN: &str = "log_time_ns";

/// Most ticks [`synchronize`] builds for one bag.
///
/// The tick count is `span / interval`, so a bag whose clock jumps (a
/// message stamped years away from the others) with a 1 ms interval would
/// otherwise allocate a row per tick for every topic until memory runs out.
/// 100 million ticks is over 115 days at 100 ms, far beyond any real
/// recording, while the tick column alone stays under 1 GB.
pub const MAX_TICKS: u64 = 100_000_000;

/// What can go wrong when synchronizing topic tables.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tick interval is zero or negative.
    #[error("synchronization interval must be positive, got {interval_ns} ns")]
    InvalidInterval {
        /// The interval that was asked for.
        interval_ns: i64,
    },
    /// The maximum message age is negative (no limit is `None`, not a value).
    #[error("maximum message age must not be negative, got {max_age_ns} ns")]
    NegativeMaxAge {
        /// The age that was asked for.
        max_age_ns: i64,
    },
    /// Two topics would get the same column, or a topic would shadow the
    /// tick column.
    #[error("topic column {column:?} appears twice in the synchronized table")]
    DuplicateColumn {
        /// The clashing column name.
        column: String,
    },
    /// A topic batch has no columns at all.
    #[error("topic {topic:?} has no columns, expected `{LOG_TIME_COLUMN}` first")]
    NoColumns {
        /// The topic's column name.
        topic: String,
    },
    /// A topic batch's first column is not `log_time_ns` Int64.
    #[error(
        "topic {topic:?} must start with an Int64 column `{LOG_TIME_COLUMN}`, \
         found {found:?} of type {data_type}"
    )]
    TimeColumn {
        /// The topic's column name.
        topic: String,
        /// Name of the topic's first column.
        found: String,
        /// Type of the topic's first column.
        data_type: DataType,
    },
    /// A topic's `log_time_ns` has nulls.
    #[error("topic {topic:?} has {nulls} null `{LOG_TIME_COLUMN}` values")]
    NullTime {
        /// The topic's column name.
        topic: String,
        /// How many values are null.
        nulls: usize,
    },
    /// A topic's rows are not sorted by `log_time_ns`.
    #[error(
        "topic {topic:?} is not sorted by `{LOG_TIME_COLUMN}`: row {row} has {time} \
         after {previous}"
    )]
    Unsorted {
        /// The topic's column name.
        topic: String,
        /// Index of the first row earlier than the row before it.
        row: usize,
        /// That row's time.
        time: i64,
        /// The time of the row before it.
        previous: i64,
    },
    /// A topic has more rows than a `UInt32` take-index can address.
    #[error("topic {topic:?} has {rows} rows, more than the {max} a take index can address")]
    TooManyRows {
        /// The topic's column name.
        topic: String,
        /// Its row count.
        rows: usize,
        /// The most rows supported.
        max: usize,
    },
    /// The time span holds more ticks than [`MAX_TICKS`].
    #[error(
        "log times from {t_min} to {t_max} ns at a {interval_ns} ns interval give {ticks} \
         ticks, more than the maximum of {max}"
    )]
    TooManyTicks {
        /// Smallest `log_time_ns` over all topics.
        t_min: i64,
        /// Largest `log_time_ns` over all topics.
        t_max: i64,
        /// The tick interval.
        interval_ns: i64,
        /// How many ticks the span holds.
        ticks: u128,
        /// [`MAX_TICKS`].
        max: u64,
    },
    /// Arrow refused to gather a topic's rows or assemble the table.
    #[error("{context}")]
    Arrow {
        /// What was being built, naming the topic.
        context: String,
        /// What Arrow said.
        #[source]
        source: ArrowError,
    },
}

/// Result of this crate's fallible functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The range of tick multipliers `k` with `t_min <= k * interval_ns <= t_max`,
/// or `None` when there is none. `interval_ns` must be positive.
fn tick_multipliers(t_min: i64, t_max: i64, interval_ns: i64) -> Option<(i64, i64)> {
    // Euclidean division never overflows for a positive divisor, and the
    // floor rounds toward negative infinity for negative times too. The first
    // multiplier is the ceiling of t_min / interval: the floor, plus one when
    // there is a remainder (then the floor is below i64::MAX, so no overflow).
    let first = t_min.div_euclid(interval_ns) + i64::from(t_min.rem_euclid(interval_ns) != 0);
    let last = t_max.div_euclid(interval_ns);
    (first <= last).then_some((first, last))
}

/// How many ticks [`tick_grid`] would return, without allocating them.
fn tick_count(t_min: i64, t_max: i64, interval_ns: i64) -> u128 {
    tick_multipliers(t_min, t_max, interval_ns).map_or(0, |(first, last)| {
        // Both ends fit in i64, so the difference fits in i128 and is >= 0.
        (i128::from(last) - i128::from(first) + 1).unsigned_abs()
    })
}

/// The ticks `k * interval_ns` for every integer `k` with
/// `t_min <= k * interval_ns <= t_max`, in increasing order (empty if none,
/// including when `t_min > t_max`).
///
/// Works over the whole `i64` range, negative times included, without
/// overflow. It allocates one value per tick: bound the span first (as
/// [`synchronize`] does with [`MAX_TICKS`]).
///
/// # Panics
///
/// If `interval_ns <= 0`.
pub fn tick_grid(t_min: i64, t_max: i64, interval_ns: i64) -> Vec<i64> {
    assert!(
        interval_ns > 0,
        "tick interval must be positive, got {interval_ns}"
    );
    let Some((first, last)) = tick_multipliers(t_min, t_max, interval_ns) else {
        return Vec::new();
    };
    let count = usize::try_from(tick_count(t_min, t_max, interval_ns)).unwrap_or(usize::MAX);
    let mut ticks = Vec::with_capacity(count);
    // Every k in first..=last has t_min <= k * interval <= t_max, so the
    // product fits; checked_mul only guards that reasoning.
    ticks.extend((first..=last).map_while(|k| k.checked_mul(interval_ns)));
    ticks
}

/// Backward as-of: for each tick `t`, the index of the row with the greatest
/// time `<= t`; among equal times the last one (bag order).
///
/// `None` where no row is at or before `t`, or where `max_age_ns` is
/// `Some(a)` and `t - time > a` (a message exactly `a` old is kept).
///
/// `times` must be sorted non-decreasing and `ticks` sorted increasing (or
/// non-decreasing); otherwise the answer is unspecified but nothing panics.
/// One merge walk over both, `O(n + m)`.
///
/// # Panics
///
/// If a chosen index does not fit in `u32` (more than `u32::MAX + 1` rows;
/// [`synchronize`] rejects such topics first).
pub fn asof_indices(times: &[i64], ticks: &[i64], max_age_ns: Option<i64>) -> Vec<Option<u32>> {
    // `next` is the number of rows with time <= the current tick, so the
    // as-of row is `next - 1`; advancing past every equal time is what sends
    // ties to the last row.
    let mut next = 0;
    ticks
        .iter()
        .map(|&tick| {
            while next < times.len() && times[next] <= tick {
                next += 1;
            }
            let row = next.checked_sub(1)?;
            if let Some(max_age) = max_age_ns {
                // i128: tick - time can exceed i64 near the limits.
                let age = i128::from(tick) - i128::from(times[row]);
                if age > i128::from(max_age) {
                    return None;
                }
            }
            Some(u32::try_from(row).expect("row index fits in u32"))
        })
        .collect()
}

/// One input topic: the column name it gets in the synchronized table (its
/// table name) and its rows.
///
/// `batch` starts with `log_time_ns` (Int64, no nulls, sorted non-decreasing,
/// ties in bag order), then the message columns.
#[derive(Debug, Clone, Copy)]
pub struct TopicRows<'a> {
    /// Column name in the synchronized table.
    pub column: &'a str,
    /// The topic table's rows.
    pub batch: &'a RecordBatch,
}

/// The struct fields of a topic's column: the topic's own fields, all made
/// nullable so a missing message can be a null row.
fn topic_fields(schema: &Schema) -> Fields {
    schema
        .fields()
        .iter()
        .map(|field| Arc::new(field.as_ref().clone().with_nullable(true)))
        .collect()
}

/// The synchronized table's schema: `time_ns` Int64 non-null, then per topic
/// (in the given order) a nullable Struct column named after it whose fields
/// are the topic batch's fields (`log_time_ns` first, then the message
/// columns) all made nullable (a null struct row is "no message").
///
/// Only top-level fields change; nested types are kept as they are. Column
/// names are not checked for clashes here ([`synchronize`] does).
pub fn schema(topics: &[(&str, &Schema)]) -> SchemaRef {
    let fields = std::iter::once(Field::new(TIME_COLUMN, DataType::Int64, false))
        .chain(topics.iter().map(|(column, schema)| {
            Field::new(*column, DataType::Struct(topic_fields(schema)), true)
        }))
        .collect::<Vec<_>>();
    Arc::new(Schema::new(fields))
}

/// Checks a topic's time column and returns its times.
fn topic_times<'a>(topic: &TopicRows<'a>) -> Result<&'a [i64]> {
    let name = || topic.column.to_owned();
    let batch = topic.batch;
    let Some(column) = batch.columns().first() else {
        return Err(Error::NoColumns { topic: name() });
    };
    let field = batch.schema_ref().field(0);
    let times = column
        .as_any()
        .downcast_ref::<Int64Array>()
        .filter(|_| field.name() == LOG_TIME_COLUMN)
        .ok_or_else(|| Error::TimeColumn {
            topic: name(),
            found: field.name().clone(),
            data_type: column.data_type().clone(),
        })?;
    if times.null_count() > 0 {
        return Err(Error::NullTime {
            topic: name(),
            nulls: times.null_count(),
        });
    }
    // Indices are u32, so the last row's index must fit.
    let max_rows = usize::try_from(u32::MAX).unwrap_or(usize::MAX);
    if times.len() > max_rows {
        return Err(Error::TooManyRows {
            topic: name(),
            rows: times.len(),
            max: max_rows,
        });
    }
    let values: &'a [i64] = times.values();
    if let Some(row) = values.windows(2).position(|pair| pair[1] < pair[0]) {
        return Err(Error::Unsorted {
            topic: name(),
            row: row + 1,
            time: values[row + 1],
            previous: values[row],
        });
    }
    Ok(values)
}

/// Refuses a topic column named twice, or named like the tick column.
fn check_columns<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let mut seen = HashSet::from([TIME_COLUMN]);
    for name in names {
        if !seen.insert(name) {
            return Err(Error::DuplicateColumn {
                column: name.to_owned(),
            });
        }
    }
    Ok(())
}

/// Gathers a topic's rows at `indices` into one Struct column of `fields`.
fn gather(topic: &TopicRows, fields: Fields, indices: Vec<Option<u32>>) -> Result<ArrayRef> {
    let len = indices.len();
    if topic.batch.num_rows() == 0 {
        // Nothing to take from: every tick is "no message".
        return Ok(Arc::new(StructArray::new_null(fields, len)));
    }
    let arrow = |source| Error::Arrow {
        context: format!("gathering topic {:?}", topic.column),
        source,
    };
    let indices = UInt32Array::from(indices);
    let columns = topic
        .batch
        .columns()
        .iter()
        .map(|column| arrow_select::take::take(column, &indices, None))
        .collect::<Result<Vec<_>, _>>()
        .map_err(arrow)?;
    // Built by hand rather than by `take` on a StructArray so the struct's
    // nulls are exactly the null indices and the children are all nullable.
    let nulls = indices.nulls().cloned();
    let array = StructArray::try_new_with_length(fields, columns, nulls, len).map_err(arrow)?;
    Ok(Arc::new(array))
}

/// Synchronizes topic tables onto the tick grid.
///
/// `t_min` / `t_max` are the smallest / largest `log_time_ns` over all given
/// topics (empty batches contribute nothing); the ticks are
/// [`tick_grid`]`(t_min, t_max, interval_ns)`. Each topic becomes a Struct
/// column (see [`schema`]) holding, at each tick, its row chosen by
/// [`asof_indices`], or null. A topic with no rows is all null.
///
/// `max_age_ns: Some(a)` drops messages strictly older than `a` at a tick;
/// `None` means no limit.
///
/// Returns `None` when there is no tick: no rows at all, or no multiple of
/// the interval in `[t_min, t_max]`.
///
/// # Errors
///
/// A non-positive interval, a negative maximum age, two topics with the same
/// column (or one named [`TIME_COLUMN`]), a topic whose first column is not a
/// sorted, non-null Int64 `log_time_ns`, more than [`MAX_TICKS`] ticks.
pub fn synchronize(
    topics: &[TopicRows],
    interval_ns: i64,
    max_age_ns: Option<i64>,
) -> Result<Option<RecordBatch>> {
    if interval_ns <= 0 {
        return Err(Error::InvalidInterval { interval_ns });
    }
    if let Some(max_age_ns) = max_age_ns.filter(|&age| age < 0) {
        return Err(Error::NegativeMaxAge { max_age_ns });
    }
    check_columns(topics.iter().map(|t| t.column))?;
    let times = topics.iter().map(topic_times).collect::<Result<Vec<_>>>()?;

    // Sorted, so each topic's extremes are its first and last rows.
    let t_min = times.iter().filter_map(|t| t.first()).min();
    let t_max = times.iter().filter_map(|t| t.last()).max();
    let (Some(&t_min), Some(&t_max)) = (t_min, t_max) else {
        return Ok(None);
    };
    let ticks = ticks(t_min, t_max, interval_ns)?;
    if ticks.is_empty() {
        return Ok(None);
    }

    let mut columns = Vec::with_capacity(topics.len());
    for (topic, times) in topics.iter().zip(&times) {
        let indices = asof_indices(times, &ticks, max_age_ns);
        // The same fields schema() gives the column.
        let fields = topic_fields(topic.batch.schema_ref());
        columns.push((
            topic.column,
            topic.batch.schema(),
            gather(topic, fields, indices)?,
        ));
    }
    let batch = assemble(ticks, columns)?;
    Ok(Some(batch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::{Decimal128Array, ListArray, StringArray};
    use arrow_buffer::OffsetBuffer;

    /// A topic table with `log_time_ns` and a `tag` column holding the row
    /// number, so a gathered row says which source row it came from.
    fn topic(times: &[i64]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new(LOG_TIME_COLUMN, DataType::Int64, false),
            Field::new("tag", DataType::Int64, false),
        ]);
        let tags = (0..times.len()).map(|i| i64::try_from(i).unwrap());
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(times.to_vec())),
                Arc::new(Int64Array::from_iter_values(tags)),
            ],
        )
        .unwrap()
    }

    /// Synchronizes `(column, batch)` pairs and checks the output is valid.
    fn sync(
        topics: &[(&str, &RecordBatch)],
        interval_ns: i64,
        max_age_ns: Option<i64>,
    ) -> Option<RecordBatch> {
        let topics = topics
            .iter()
            .map(|&(column, batch)| TopicRows { column, batch })
            .collect::<Vec<_>>();
        let out = synchronize(&topics, interval_ns, max_age_ns).unwrap();
        if let Some(out) = &out {
            StructArray::from(out.clone())
                .to_data()
                .validate_full()
                .unwrap();
        }
        out
    }

    fn ticks(batch: &RecordBatch) -> Vec<i64> {
        batch
            .column(0)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec()
    }

    /// The `tag` of each tick's row in the topic column `column`, None where null.
    fn tags(batch: &RecordBatch, column: &str) -> Vec<Option<i64>> {
        let topic = batch.column_by_name(column).unwrap().as_struct();
        let tag = topic
            .column_by_name("tag")
            .unwrap()
            .as_primitive::<Int64Type>();
        (0..topic.len())
            .map(|i| topic.is_valid(i).then(|| tag.value(i)))
            .collect()
    }

    fn error(topics: &[(&str, &RecordBatch)], interval_ns: i64, max_age_ns: Option<i64>) -> String {
        let topics = topics
            .iter()
            .map(|&(column, batch)| TopicRows { column, batch })
            .collect::<Vec<_>>();
        synchronize(&topics, interval_ns, max_age_ns)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn tick_grid_examples() {
        assert_eq!(tick_grid(0, 250, 100), [0, 100, 200]);
        assert_eq!(tick_grid(100, 200, 100), [100, 200]);
        assert_eq!(tick_grid(101, 199, 100), [] as [i64; 0]);
        assert_eq!(tick_grid(200, 100, 100), [] as [i64; 0]);
        assert_eq!(tick_grid(7, 7, 7), [7]);
        assert_eq!(tick_grid(-250, -50, 100), [-200, -100]);
        assert_eq!(tick_grid(-101, 101, 100), [-100, 0, 100]);
        assert_eq!(tick_grid(-1, 1, 1), [-1, 0, 1]);
    }

    #[test]
    fn tick_grid_at_the_limits_of_i64() {
        assert_eq!(
            tick_grid(i64::MIN, i64::MAX, i64::MAX),
            [-i64::MAX, 0, i64::MAX]
        );
        let quarter = 1 << 62;
        assert_eq!(
            tick_grid(i64::MIN, i64::MAX, quarter),
            [i64::MIN, -quarter, 0, quarter]
        );
        assert_eq!(tick_grid(i64::MAX - 1, i64::MAX, i64::MAX), [i64::MAX]);
        assert_eq!(tick_grid(i64::MAX, i64::MAX, 2), [] as [i64; 0]);
        assert_eq!(tick_grid(i64::MIN, i64::MIN, 2), [i64::MIN]);
        assert_eq!(tick_grid(i64::MIN, i64::MIN + 1, 3), [] as [i64; 0]);
    }

    #[test]
    #[should_panic(expected = "tick interval must be positive")]
    fn tick_grid_rejects_a_zero_interval() {
        tick_grid(0, 10, 0);
    }

    #[test]
    fn asof_ties_go_to_the_last_row() {
        let times = [0, 100, 100, 100, 200];
        assert_eq!(
            asof_indices(&times, &[-1, 0, 99, 100, 150, 200, 300], None),
            [None, Some(0), Some(0), Some(3), Some(3), Some(4), Some(4)]
        );
    }

    #[test]
    fn asof_max_age_keeps_exactly_that_old() {
        let times = [0, 100];
        assert_eq!(
            asof_indices(&times, &[0, 50, 51, 100, 150, 151], Some(50)),
            [Some(0), Some(0), None, Some(1), Some(1), None]
        );
        // Zero means "only a message at the tick itself".
        assert_eq!(
            asof_indices(&times, &[0, 1, 100], Some(0)),
            [Some(0), None, Some(1)]
        );
        // An age beyond i64 does not overflow.
        assert_eq!(
            asof_indices(&[i64::MIN], &[i64::MAX], Some(i64::MAX)),
            [None]
        );
        assert_eq!(asof_indices(&[i64::MIN], &[i64::MAX], None), [Some(0)]);
    }

    #[test]
    fn asof_with_no_rows_or_no_ticks() {
        assert_eq!(asof_indices(&[], &[0, 1], None), [None, None]);
        assert_eq!(asof_indices(&[0, 1], &[], None), []);
    }

    #[test]
    fn schema_makes_topic_fields_nullable() {
        let batch = topic(&[]);
        let schema = schema(&[("a", batch.schema_ref()), ("b", batch.schema_ref())]);
        assert_eq!(schema.fields().len(), 3);
        let time = schema.field(0);
        assert_eq!(
            (time.name().as_str(), time.data_type(), time.is_nullable()),
            (TIME_COLUMN, &DataType::Int64, false)
        );
        for (field, name) in schema.fields().iter().skip(1).zip(["a", "b"]) {
            assert_eq!(field.name(), name);
            assert!(field.is_nullable());
            let DataType::Struct(fields) = field.data_type() else {
                panic!("not a struct")
            };
            let names = fields.iter().map(|f| f.name().as_str()).collect::<Vec<_>>();
            assert_eq!(names, [LOG_TIME_COLUMN, "tag"]);
            assert!(fields.iter().all(|f| f.is_nullable()));
        }
    }

    #[test]
    fn two_messages_at_the_same_time_give_the_later_in_bag_order() {
        let a = topic(&[100, 100, 200]);
        let out = sync(&[("a", &a)], 100, None).unwrap();
        assert_eq!(ticks(&out), [100, 200]);
        assert_eq!(tags(&out, "a"), [Some(1), Some(2)]);
    }

    #[test]
    fn a_message_exactly_max_age_old_is_kept_one_ns_older_is_dropped() {
        // Ticks 0, 10, 20, 30: the message at 0 is 20 old at tick 20.
        let a = topic(&[0, 30]);
        let out = sync(&[("a", &a)], 10, Some(20)).unwrap();
        assert_eq!(ticks(&out), [0, 10, 20, 30]);
        assert_eq!(tags(&out, "a"), [Some(0), Some(0), Some(0), Some(1)]);
        let out = sync(&[("a", &a)], 10, Some(19)).unwrap();
        assert_eq!(tags(&out, "a"), [Some(0), Some(0), None, Some(1)]);
    }

    #[test]
    fn a_topic_starting_late_is_null_before_its_first_message() {
        let a = topic(&[0, 100, 200, 300]);
        let b = topic(&[150, 250]);
        let out = sync(&[("a", &a), ("b", &b)], 100, None).unwrap();
        assert_eq!(ticks(&out), [0, 100, 200, 300]);
        assert_eq!(tags(&out, "a"), [Some(0), Some(1), Some(2), Some(3)]);
        assert_eq!(tags(&out, "b"), [None, None, Some(0), Some(1)]);
        let b_times = out
            .column(2)
            .as_struct()
            .column(0)
            .as_primitive::<Int64Type>()
            .clone();
        assert_eq!(
            b_times,
            Int64Array::from(vec![None, None, Some(150), Some(250)])
        );
    }

    #[test]
    fn a_bag_with_no_tick_in_range_gives_none() {
        let a = topic(&[101, 199]);
        assert!(sync(&[("a", &a)], 100, None).is_none());
    }

    #[test]
    fn no_rows_at_all_gives_none() {
        let empty = topic(&[]);
        assert!(sync(&[], 100, None).is_none());
        assert!(sync(&[("a", &empty), ("b", &empty)], 100, None).is_none());
    }

    #[test]
    fn a_single_message_exactly_on_a_tick_gives_one_row() {
        let a = topic(&[300]);
        let out = sync(&[("a", &a)], 100, None).unwrap();
        assert_eq!(ticks(&out), [300]);
        assert_eq!(tags(&out, "a"), [Some(0)]);
    }

    #[test]
    fn negative_times() {
        let a = topic(&[-250, -100, -99, 20]);
        let out = sync(&[("a", &a)], 100, Some(150)).unwrap();
        assert_eq!(ticks(&out), [-200, -100, 0]);
        assert_eq!(tags(&out, "a"), [Some(0), Some(1), Some(2)]);
        // At -200 the message at -250 is 50 old, at 0 the one at -99 is 99 old.
        let out = sync(&[("a", &a)], 100, Some(50)).unwrap();
        assert_eq!(tags(&out, "a"), [Some(0), Some(1), None]);
        let out = sync(&[("a", &a)], 100, Some(49)).unwrap();
        assert_eq!(tags(&out, "a"), [None, Some(1), None]);
    }

    #[test]
    fn an_empty_topic_is_all_null() {
        let a = topic(&[0, 200]);
        let empty = topic(&[]);
        let out = sync(&[("a", &a), ("empty", &empty)], 100, None).unwrap();
        assert_eq!(tags(&out, "empty"), [None, None, None]);
        assert_eq!(out.column(2).null_count(), 3);
    }

    #[test]
    fn a_topic_with_only_log_time() {
        let schema = Schema::new(vec![Field::new(LOG_TIME_COLUMN, DataType::Int64, false)]);
        let a = RecordBatch::try_new(
            Arc::new(schema),
            vec![Arc::new(Int64Array::from(vec![5, 12]))],
        )
        .unwrap();
        let out = sync(&[("a", &a)], 10, None).unwrap();
        assert_eq!(ticks(&out), [10]);
        let column = out.column(1).as_struct();
        assert_eq!(column.column(0).as_primitive::<Int64Type>().value(0), 5);
    }

    #[test]
    fn invalid_arguments_are_errors() {
        let a = topic(&[0, 10]);
        assert_eq!(
            error(&[("a", &a)], 0, None),
            "synchronization interval must be positive, got 0 ns"
        );
        assert_eq!(
            error(&[("a", &a)], -5, None),
            "synchronization interval must be positive, got -5 ns"
        );
        assert_eq!(
            error(&[("a", &a)], 10, Some(-1)),
            "maximum message age must not be negative, got -1 ns"
        );
        assert_eq!(
            error(&[("a", &a), ("a", &a)], 10, None),
            "topic column \"a\" appears twice in the synchronized table"
        );
        assert_eq!(
            error(&[(TIME_COLUMN, &a)], 10, None),
            "topic column \"time_ns\" appears twice in the synchronized table"
        );
    }

    #[test]
    fn too_many_ticks_is_an_error_naming_span_and_interval() {
        let a = topic(&[0, 1_000_000_000]);
        assert_eq!(
            error(&[("a", &a)], 1, None),
            "log times from 0 to 1000000000 ns at a 1 ns interval give 1000000001 ticks, \
             more than the maximum of 100000000"
        );
        // The whole i64 range at 1 ns: the count itself does not overflow.
        let b = topic(&[i64::MIN, i64::MAX]);
        assert!(error(&[("b", &b)], 1, None).contains("18446744073709551616 ticks"));
    }

    #[test]
    fn a_bad_time_column_is_an_error_naming_the_topic() {
        let schema = Schema::new(vec![Field::new("stamp", DataType::Int64, false)]);
        let renamed =
            RecordBatch::try_new(Arc::new(schema), vec![Arc::new(Int64Array::from(vec![0]))])
                .unwrap();
        assert_eq!(
            error(&[("cam", &renamed)], 10, None),
            "topic \"cam\" must start with an Int64 column `log_time_ns`, found \"stamp\" of type Int64"
        );

        let schema = Schema::new(vec![Field::new(LOG_TIME_COLUMN, DataType::Utf8, false)]);
        let text = RecordBatch::try_new(
            Arc::new(schema),
            vec![Arc::new(StringArray::from(vec!["0"]))],
        )
        .unwrap();
        assert_eq!(
            error(&[("cam", &text)], 10, None),
            "topic \"cam\" must start with an Int64 column `log_time_ns`, found \"log_time_ns\" of type Utf8"
        );

        let schema = Schema::new(vec![Field::new(LOG_TIME_COLUMN, DataType::Int64, true)]);
        let nulls = RecordBatch::try_new(
            Arc::new(schema),
            vec![Arc::new(Int64Array::from(vec![Some(0), None]))],
        )
        .unwrap();
        assert_eq!(
            error(&[("cam", &nulls)], 10, None),
            "topic \"cam\" has 1 null `log_time_ns` values"
        );

        let unsorted = topic(&[0, 20, 10]);
        assert_eq!(
            error(&[("ok", &topic(&[0])), ("cam", &unsorted)], 10, None),
            "topic \"cam\" is not sorted by `log_time_ns`: row 2 has 10 after 20"
        );

        let none = RecordBatch::new_empty(Arc::new(Schema::empty()));
        assert_eq!(
            error(&[("cam", &none)], 10, None),
            "topic \"cam\" has no columns, expected `log_time_ns` first"
        );
    }

    /// Times 10, 20, 20 and a message column `pose` that is a Struct holding a
    /// Utf8, a Decimal128(20, 0) and a List<Struct>, with every nested field
    /// non-nullable, plus a top-level Decimal128(20, 0) `seq`.
    fn nested_topic() -> RecordBatch {
        let point_fields = Fields::from(vec![Field::new("x", DataType::Float64, false)]);
        let points = StructArray::try_new(
            point_fields.clone(),
            vec![Arc::new(arrow_array::Float64Array::from(vec![
                1.0, 2.0, 3.0, 4.0,
            ]))],
            None,
        )
        .unwrap();
        let item = Arc::new(Field::new("item", DataType::Struct(point_fields), false));
        // Row lists: [1, 2], [], [3, 4].
        let lists = ListArray::try_new(
            item,
            OffsetBuffer::new(vec![0, 2, 2, 4].into()),
            Arc::new(points),
            None,
        )
        .unwrap();
        let decimal = DataType::Decimal128(20, 0);
        let ids = Decimal128Array::from(vec![u64::MAX.into(), 0, 7])
            .with_precision_and_scale(20, 0)
            .unwrap();
        let pose_fields = Fields::from(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("id", decimal.clone(), false),
            Field::new("points", lists.data_type().clone(), false),
        ]);
        let pose = StructArray::try_new(
            pose_fields.clone(),
            vec![
                Arc::new(StringArray::from(vec!["first", "second", "third ü"])),
                Arc::new(ids.clone()),
                Arc::new(lists),
            ],
            None,
        )
        .unwrap();
        let schema = Schema::new(vec![
            Field::new(LOG_TIME_COLUMN, DataType::Int64, false),
            Field::new("pose", DataType::Struct(pose_fields), false),
            Field::new("seq", decimal, false),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(vec![10, 20, 20])),
                Arc::new(pose),
                Arc::new(ids),
            ],
        )
        .unwrap()
    }

    #[test]
    fn nested_types_survive_the_gather() {
        let nested = nested_topic();
        let early = topic(&[0]);
        let out = sync(&[("early", &early), ("nested", &nested)], 5, None).unwrap();
        assert_eq!(ticks(&out), [0, 5, 10, 15, 20]);
        let column = out.column_by_name("nested").unwrap().as_struct();
        let chosen = [None, None, Some(0), Some(0), Some(2)];
        for (tick, row) in chosen.into_iter().enumerate() {
            assert_eq!(column.is_valid(tick), row.is_some(), "tick {tick}");
            if let Some(row) = row {
                for (gathered, source) in column.columns().iter().zip(nested.columns()) {
                    assert_eq!(
                        &gathered.slice(tick, 1),
                        &source.slice(row, 1),
                        "tick {tick}"
                    );
                }
            }
        }
        let pose = column.column_by_name("pose").unwrap().as_struct();
        let name = pose.column_by_name("name").unwrap().as_string::<i32>();
        assert_eq!(name.value(4), "third ü");
        let points = pose.column_by_name("points").unwrap().as_list::<i32>();
        assert_eq!(points.value_length(4), 2);
        let seq = column
            .column_by_name("seq")
            .unwrap()
            .as_primitive::<arrow_array::types::Decimal128Type>();
        assert_eq!(seq.value(2), i128::from(u64::MAX));
        assert_eq!(seq.data_type(), &DataType::Decimal128(20, 0));
        // The schema promised is the schema delivered.
        let expected = schema(&[
            ("early", early.schema_ref()),
            ("nested", nested.schema_ref()),
        ]);
        assert_eq!(out.schema(), expected);
    }
}
