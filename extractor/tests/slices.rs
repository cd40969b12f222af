//! The window rule: a bag extracted item by item, in the items a plan cuts
//! it into, gives exactly the whole bag's rows in the whole bag's order
//! (log time, ties in bag order) and the same counts, on every real and
//! sample bag at the harshest splits (one and two chunks an item), and on
//! generated bags whose chunks overlap at random.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use extractor::container::{self, Bag, Input, OpenOptions};
use extractor::decode::Layout;
use extractor::definition::builtin::Definitions;
use extractor::definition::resolve;
use extractor::extract::{self, ExtractPlan, ExtractReport, Slice, TablePlan, TableSink};
use extractor::slices;
use extractor::testing::BagBuilder;
use proptest::prelude::*;

/// Collects each table's batches.
#[derive(Default)]
struct Collect(HashMap<usize, Vec<RecordBatch>>);

impl TableSink for Collect {
    fn write(&mut self, table: usize, batch: RecordBatch) -> Result<(), extract::SinkError> {
        self.0.entry(table).or_default().push(batch);
        Ok(())
    }
}

/// One table per connection whose definition compiles.
fn plan_of(bag: &Bag) -> ExtractPlan {
    let defs = Definitions::new(Vec::new());
    let mut plan = ExtractPlan::default();
    for c in &bag.layout.connections {
        let r = resolve::resolve(c, &defs);
        let Ok(ok) = &r.outcome else { continue };
        plan.conn_table.insert(c.id, plan.tables.len());
        plan.tables.push(TablePlan {
            name: format!("t{}", c.id),
            topic: c.topic.clone(),
            datatype: c.datatype.clone(),
            version: ok.version.clone(),
            layout: Arc::new(Layout::new(&ok.msg, ok.wire)),
        });
    }
    plan
}

/// Each table's rows as one batch (`None`: no rows).
fn tables(plan: &ExtractPlan, sink: Collect) -> Vec<Option<RecordBatch>> {
    (0..plan.tables.len())
        .map(|t| {
            let batches = sink.0.get(&t)?;
            Some(
                arrow_select::concat::concat_batches(&batches[0].schema(), batches)
                    .expect("one schema a table"),
            )
        })
        .collect()
}

/// What a report says that items must add up to.
fn totals(r: &ExtractReport) -> String {
    format!(
        "messages {} times {:?}..{:?} per_conn {:?} rows {:?} utf8 {:?} failures {:?} unknown {:?} skipped {:?} bytes {}",
        r.message_count,
        r.start_time_ns,
        r.end_time_ns,
        r.messages_per_conn,
        r.rows_per_table,
        r.invalid_utf8_per_table,
        r.decode_failures
            .iter()
            .map(|(c, f)| (*c, f.count))
            .collect::<Vec<_>>(),
        r.unknown_connections,
        r.skipped_chunks,
        r.uncompressed_bytes
    )
}

/// Extracts the bag whole and item by item and compares.
fn check_items(bag: &Bag, items: &[Slice], what: &str) {
    check_items_against(bag, bag, items, what);
}

/// Extracts `reference` whole and `bag` (the same file, perhaps opened
/// otherwise) item by item and compares.
fn check_items_against(reference: &Bag, bag: &Bag, items: &[Slice], what: &str) {
    let plan = plan_of(bag);
    let mut whole = Collect::default();
    let report = extract::extract(reference, &plan, &mut whole, &|_| {}).unwrap();
    let whole = tables(&plan, whole);
    let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); plan.tables.len()];
    let mut sum = ExtractReport {
        rows_per_table: vec![0; plan.tables.len()],
        invalid_utf8_per_table: vec![0; plan.tables.len()],
        ..ExtractReport::default()
    };
    for item in items {
        let mut sink = Collect::default();
        let r = extract::extract_slice(bag, &plan, item, &mut sink, &|_| {})
            .unwrap_or_else(|e| panic!("{what}: item {item:?}: {e}"));
        for (t, b) in tables(&plan, sink).into_iter().enumerate() {
            parts[t].extend(b);
        }
        sum.message_count += r.message_count;
        sum.start_time_ns = sum
            .start_time_ns
            .min(r.start_time_ns)
            .or(sum.start_time_ns.or(r.start_time_ns));
        sum.end_time_ns = sum.end_time_ns.max(r.end_time_ns);
        for (c, n) in r.messages_per_conn {
            *sum.messages_per_conn.entry(c).or_default() += n;
        }
        for (t, n) in r.rows_per_table.iter().enumerate() {
            sum.rows_per_table[t] += n;
            sum.invalid_utf8_per_table[t] += r.invalid_utf8_per_table[t];
        }
        for (c, f) in r.decode_failures {
            sum.decode_failures.entry(c).or_default().count += f.count;
        }
        for (c, n) in r.unknown_connections {
            *sum.unknown_connections.entry(c).or_default() += n;
        }
        sum.skipped_chunks.extend(r.skipped_chunks);
        sum.uncompressed_bytes += r.uncompressed_bytes;
    }
    assert_eq!(totals(&sum), totals(&report), "{what}: counts differ");
    for (t, (whole, parts)) in whole.iter().zip(parts).enumerate() {
        let parts = (!parts.is_empty())
            .then(|| arrow_select::concat::concat_batches(&parts[0].schema(), &parts).unwrap());
        assert_eq!(
            whole.as_ref(),
            parts.as_ref(),
            "{what}: table {} differs",
            plan.tables[t].topic
        );
    }
}

#[test]
fn every_real_and_sample_bag_cut_into_items_of_one_and_two_chunks_gives_the_whole_bag() {
    let bags = common::sample_and_real_bags();
    let mut cut = 0;
    let mut trusted_cut = 0;
    for path in &bags {
        let Ok(bag) = container::open(common::inputs(path)) else {
            continue;
        };
        let n = bag.layout.units.len();
        for per_item in [1, 2] {
            let Ok(items) = slices::cut_into(&bag.layout, n.div_ceil(per_item)) else {
                continue;
            };
            if items.len() > 1 {
                cut += 1;
            }
            check_items(
                &bag,
                &items,
                &format!("{} ({per_item} a item)", path.display()),
            );
        }
        // Opened trusting the index (no read of each chunk's head), as the
        // work items of a bag cut into several open it: the same rows.
        let trusted =
            container::open_with(common::inputs(path), OpenOptions { trust_index: true }).unwrap();
        if bag.layout.mode == extractor::container::IndexMode::Indexed
            && let Ok(items) = slices::cut_into(&trusted.layout, trusted.layout.units.len())
        {
            trusted_cut += 1;
            check_items_against(
                &bag,
                &trusted,
                &items,
                &format!("{} (trusted)", path.display()),
            );
        }
    }
    assert!(
        trusted_cut >= 10,
        "only {trusted_cut} bags opened trusting their index"
    );
    // The sample bags and the multi-chunk real bags are cut.
    assert!(cut >= 10, "only {cut} bags were cut into several items");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Messages written in order with random jitter (so chunks overlap in
    /// time, as `rosbag record`'s do) and random ties.
    #[test]
    fn bags_with_overlapping_chunks_cut_anywhere_give_the_whole_bag(
        jitter in prop::collection::vec(0u64..40, 20..120),
        chunk in 1usize..64,
        n in 1usize..12,
        budget in 1u64..2000,
    ) {
        let mut b = BagBuilder::new()
            .chunk_threshold(chunk)
            .connection(0, "/a", "std_msgs/Int32", "da5909fbe378aeaf85e547e830cc1bb7", "int32 data\n")
            .connection(1, "/b", "std_msgs/Int32", "da5909fbe378aeaf85e547e830cc1bb7", "int32 data\n");
        for (i, j) in jitter.iter().enumerate() {
            let t = 1_000 + (i as u64 / 3) * 10 + j / 2;
            b = b.message((i % 2) as u32, t, &(i as i32).to_le_bytes());
        }
        let bytes = b.build();
        let bag = container::open(vec![Input::new("gen.bag", Box::new(bytes))]).unwrap();
        let items = slices::cut_into(&bag.layout, n).unwrap();
        check_items(&bag, &items, &format!("{n} items"));
        let planned = slices::plan(&bag.layout, budget);
        prop_assert!(planned.amplification <= slices::MAX_AMPLIFICATION || planned.items.len() == 1);
        check_items(&bag, &planned.items, &format!("plan for {budget} bytes an item"));
    }
}
