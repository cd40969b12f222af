//! Property tests: the tick grid and the as-of choice against naive
//! references, and `synchronize` gathering exactly the chosen rows.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, Int64Array, RecordBatch, StringArray, StructArray};
use arrow_schema::{DataType, Field, Schema};
use proptest::prelude::*;
use synchronizer::{TIME_COLUMN, TopicRows, asof_indices, synchronize, tick_grid};

/// Largest gap between consecutive messages of a topic.
const MAX_GAP: i64 = 2_000;
/// Latest a topic starts after the bag's base time.
const MAX_START: i64 = 20_000;
/// Most rows per topic.
const MAX_ROWS: usize = 200;
/// Upper bound of any time offset from the base: keeps bases near the i64
/// limits from overflowing.
const MAX_OFFSET: i64 = MAX_START + MAX_GAP * MAX_ROWS as i64;

/// A gap between consecutive messages: many ties, short steps, long gaps.
fn gap() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => Just(0i64),
        3 => 1i64..50,
        1 => 50i64..=MAX_GAP,
    ]
}

/// One topic's times as offsets from the bag's base: a late start, then gaps.
fn topic_offsets() -> impl Strategy<Value = Vec<i64>> {
    (0i64..=MAX_START, prop::collection::vec(gap(), 0..=MAX_ROWS)).prop_map(|(start, gaps)| {
        gaps.iter()
            .scan(start, |time, gap| {
                *time += gap;
                Some(*time)
            })
            .collect()
    })
}

/// Where a bag's times sit: around zero (crossing into negatives), far
/// negative, or right at either limit of i64.
fn base() -> impl Strategy<Value = i64> {
    prop_oneof![
        -50_000i64..50_000,
        -2_000_000_000_000_000i64..2_000_000_000_000_000,
        i64::MIN..=i64::MIN + 1_000,
        i64::MAX - MAX_OFFSET - 1_000..=i64::MAX - MAX_OFFSET,
    ]
}

/// The maximum message age, possibly a whole number of intervals so ages
/// land exactly on the boundary.
#[derive(Debug, Clone, Copy)]
enum MaxAge {
    None,
    Ns(i64),
    Intervals(i64),
}

fn max_age() -> impl Strategy<Value = MaxAge> {
    prop_oneof![
        Just(MaxAge::None),
        (0i64..20_000).prop_map(MaxAge::Ns),
        (0i64..5).prop_map(MaxAge::Intervals),
    ]
}

/// A topic table: `log_time_ns`, the row number as `tag`, and a nullable
/// `label` derived from the row number.
fn topic_batch(times: &[i64]) -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("log_time_ns", DataType::Int64, false),
        Field::new("tag", DataType::Int64, false),
        Field::new("label", DataType::Utf8, true),
    ]);
    let rows = 0..i64::try_from(times.len()).unwrap();
    let labels = rows
        .clone()
        .map(|i| (i % 3 != 0).then(|| format!("row {i}")));
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Int64Array::from(times.to_vec())),
            Arc::new(Int64Array::from_iter_values(rows)),
            Arc::new(StringArray::from_iter(labels)),
        ],
    )
    .unwrap()
}

/// Naive as-of: scan every row, keep the last one at or before the tick.
fn naive_asof(times: &[i64], tick: i64, max_age: Option<i64>) -> Option<u32> {
    let mut chosen = None;
    for (row, &time) in times.iter().enumerate() {
        if time <= tick {
            chosen = Some(row);
        }
    }
    let row = chosen?;
    let age = i128::from(tick) - i128::from(times[row]);
    if max_age.is_some_and(|max| age > i128::from(max)) {
        return None;
    }
    Some(u32::try_from(row).unwrap())
}

/// Checks `ticks` is exactly the multiples of `interval` in `[t_min, t_max]`.
fn check_grid(ticks: &[i64], t_min: i64, t_max: i64, interval: i64) -> Result<(), TestCaseError> {
    let (lo, hi, step) = (i128::from(t_min), i128::from(t_max), i128::from(interval));
    for &tick in ticks {
        prop_assert_eq!(tick.rem_euclid(interval), 0, "tick {} not a multiple", tick);
        prop_assert!(t_min <= tick && tick <= t_max, "tick {} out of range", tick);
    }
    for pair in ticks.windows(2) {
        prop_assert_eq!(
            i128::from(pair[1]) - i128::from(pair[0]),
            step,
            "ticks {:?}",
            pair
        );
    }
    match (ticks.first(), ticks.last()) {
        (Some(&first), Some(&last)) => {
            prop_assert!(
                i128::from(first) - step < lo,
                "tick before {} is in range",
                first
            );
            prop_assert!(
                i128::from(last) + step > hi,
                "tick after {} is in range",
                last
            );
        }
        _ => {
            // No tick: the largest multiple at or below t_max is below t_min.
            let below = hi - hi.rem_euclid(step);
            prop_assert!(t_min > t_max || below < lo, "missed tick {}", below);
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn tick_grid_is_every_multiple_in_range(
        t_min in any::<i64>(),
        span in 0i64..20_000,
        interval in 1i64..1_000,
    ) {
        let t_max = t_min.saturating_add(span);
        check_grid(&tick_grid(t_min, t_max, interval), t_min, t_max, interval)?;
        // Reversed bounds give nothing.
        if t_min < t_max {
            prop_assert!(tick_grid(t_max, t_min, interval).is_empty());
        }
    }

    #[test]
    fn tick_grid_does_not_overflow_with_huge_intervals(
        a in any::<i64>(),
        b in any::<i64>(),
        interval in i64::MAX / 1_000..=i64::MAX,
    ) {
        let (t_min, t_max) = (a.min(b), a.max(b));
        check_grid(&tick_grid(t_min, t_max, interval), t_min, t_max, interval)?;
    }

    #[test]
    fn asof_indices_match_the_naive_reference(
        base in base(),
        offsets in topic_offsets(),
        tick_offsets in prop::collection::btree_set(-1_000i64..=MAX_OFFSET + 1_000, 0..300),
        max_age in prop_oneof![Just(None), (0i64..5_000).prop_map(Some), any::<u32>().prop_map(|a| Some(i64::from(a) << 31))],
    ) {
        let times = offsets.iter().map(|o| base + o).collect::<Vec<_>>();
        let ticks = tick_offsets.iter().map(|o| base.saturating_add(*o)).collect::<Vec<_>>();
        // Saturation may repeat the last tick; the input must be increasing.
        let mut ticks = ticks;
        ticks.dedup();
        let chosen = asof_indices(&times, &ticks, max_age);
        prop_assert_eq!(chosen.len(), ticks.len());
        for (&tick, &row) in ticks.iter().zip(&chosen) {
            prop_assert_eq!(row, naive_asof(&times, tick, max_age), "tick {}", tick);
        }
    }

    #[test]
    fn synchronize_matches_the_naive_reference(
        base in base(),
        topics in prop::collection::vec(topic_offsets(), 0..5),
        interval in 1i64..10_000,
        max_age in max_age(),
        snap in any::<bool>(),
    ) {
        // Snapping times down to a multiple of the interval puts messages
        // exactly on ticks (and ages exactly on the max age); it keeps order.
        let snap_time = |time: i64| {
            if snap { time.checked_sub(time.rem_euclid(interval)).unwrap_or(time) } else { time }
        };
        let times = topics
            .iter()
            .map(|offsets| offsets.iter().map(|o| snap_time(base + o)).collect::<Vec<_>>())
            .collect::<Vec<_>>();
        let max_age = match max_age {
            MaxAge::None => None,
            MaxAge::Ns(ns) => Some(ns),
            MaxAge::Intervals(k) => Some(k * interval),
        };
        let batches = times.iter().map(|t| topic_batch(t)).collect::<Vec<_>>();
        let names = (0..batches.len()).map(|i| format!("topic_{i}")).collect::<Vec<_>>();
        let rows = names
            .iter()
            .zip(&batches)
            .map(|(column, batch)| TopicRows { column, batch })
            .collect::<Vec<_>>();
        let out = synchronize(&rows, interval, max_age).unwrap();

        let all = times.iter().flatten().copied();
        let (Some(t_min), Some(t_max)) = (all.clone().min(), all.max()) else {
            prop_assert!(out.is_none(), "no rows but a table");
            return Ok(());
        };
        let ticks = tick_grid(t_min, t_max, interval);
        check_grid(&ticks, t_min, t_max, interval)?;
        let Some(out) = out else {
            prop_assert!(ticks.is_empty(), "ticks {:?} but no table", ticks);
            return Ok(());
        };
        StructArray::from(out.clone()).to_data().validate_full().unwrap();
        prop_assert_eq!(out.num_columns(), 1 + batches.len());
        prop_assert_eq!(out.schema_ref().field(0).name(), TIME_COLUMN);
        prop_assert_eq!(out.column(0).as_primitive::<Int64Type>().values().as_ref(), &ticks[..]);

        for (topic, topic_times) in times.iter().enumerate() {
            let column = out.column_by_name(&names[topic]).unwrap().as_struct();
            let chosen = asof_indices(topic_times, &ticks, max_age);
            let log_time = column.column_by_name("log_time_ns").unwrap().as_primitive::<Int64Type>();
            let tag = column.column_by_name("tag").unwrap().as_primitive::<Int64Type>();
            let label = column.column_by_name("label").unwrap().as_string::<i32>();
            let source_label = batches[topic].column(2).as_string::<i32>();
            for (i, (&tick, &row)) in ticks.iter().zip(&chosen).enumerate() {
                prop_assert_eq!(row, naive_asof(topic_times, tick, max_age), "topic {} tick {}", topic, tick);
                prop_assert_eq!(column.is_valid(i), row.is_some(), "topic {} tick {}", topic, tick);
                if let Some(row) = row {
                    let row = usize::try_from(row).unwrap();
                    prop_assert!(tick - log_time.value(i) <= max_age.unwrap_or(i64::MAX));
                    prop_assert_eq!(log_time.value(i), topic_times[row]);
                    prop_assert_eq!(tag.value(i), i64::try_from(row).unwrap());
                    prop_assert_eq!(
                        label.is_valid(i).then(|| label.value(i)),
                        source_label.is_valid(row).then(|| source_label.value(row))
                    );
                }
            }
        }
    }
}

proptest! {
    /// Streaming the same rows in batches of any size gives the same table
    /// as synchronizing them in memory.
    #[test]
    fn streaming_equals_in_memory(
        base in -50_000i64..50_000,
        topics in prop::collection::vec((topic_offsets(), 1usize..40), 1..4),
        interval in 1i64..5_000,
        max_age in max_age(),
    ) {
        let max_age = match max_age {
            MaxAge::None => None,
            MaxAge::Ns(ns) => Some(ns),
            MaxAge::Intervals(k) => Some(k * interval),
        };
        let batches: Vec<RecordBatch> = topics
            .iter()
            .map(|(offsets, _)| topic_batch(&offsets.iter().map(|o| base + o).collect::<Vec<_>>()))
            .collect();
        let names: Vec<String> = (0..batches.len()).map(|i| format!("topic_{i}")).collect();
        let rows: Vec<TopicRows> = names
            .iter()
            .zip(&batches)
            .map(|(column, batch)| TopicRows { column, batch })
            .collect();
        let expected = synchronize(&rows, interval, max_age).unwrap();
        let all = batches.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec());
        let (Some(t_min), Some(t_max)) = (all.clone().min(), all.max()) else {
            prop_assert!(expected.is_none());
            return Ok(());
        };
        let ticks = synchronizer::ticks(t_min, t_max, interval).unwrap();
        if ticks.is_empty() {
            prop_assert!(expected.is_none());
            return Ok(());
        }
        let mut columns = Vec::new();
        for ((name, batch), (_, split)) in names.iter().zip(&batches).zip(&topics) {
            let mut stream = synchronizer::TopicStream::new(name, batch.schema(), &ticks, max_age);
            let mut start = 0;
            while start < batch.num_rows() {
                let len = (*split).min(batch.num_rows() - start);
                stream.push(&batch.slice(start, len)).unwrap();
                start += len;
            }
            columns.push((name.as_str(), batch.schema(), stream.finish().unwrap()));
        }
        let streamed = synchronizer::assemble(ticks, columns).unwrap();
        prop_assert_eq!(&streamed, &expected.unwrap());
    }
}
