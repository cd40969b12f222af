//! Big bags (issue 14): a bag cut into work items, run as plan, work
//! items in separate processes and finish, gives the lake a single process
//! gives: the same rows in the same order in every table, the same
//! catalogue item (but for the run's identifiers and times) and the same
//! scenes; and faults (an item run twice at once, a worker killed and run
//! again, a missing report, a second run while one holds the bag) change
//! nothing or are refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use crate::util::{bagpipe, catalog, files_under, real_bags, sample_bags, show, store_items};

/// Attributes that differ between two runs of a bag by design: the time,
/// the run, how many items it was cut into, where the outputs are.
const RUN_AND_PLACE: [&str; 8] = [
    "updated_at",
    "run_id",
    "work_items",
    "synchronized_path",
    "detections_path",
    "clip_url",
    "label_url",
    "report_url",
];

/// Columns of the lake's own tables that name where the outputs are.
fn is_place_column(name: &str) -> bool {
    name.ends_with("_url") || name.ends_with("_path")
}

/// Every partition of every table: its rows, all parts in name order.
fn lake_rows(root: &Path) -> BTreeMap<String, RecordBatch> {
    let mut parts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in files_under(root) {
        if f.ends_with(".parquet") && !f.starts_with("_runs/") {
            let dir = f.rsplit_once('/').unwrap().0.to_string();
            parts.entry(dir).or_default().push(f);
        }
    }
    parts
        .into_iter()
        .map(|(dir, files)| {
            let mut batches = Vec::new();
            for f in &files {
                let file = std::fs::File::open(root.join(f)).unwrap();
                let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .build()
                    .unwrap();
                for b in reader {
                    let b = b.unwrap();
                    let keep: Vec<usize> = (0..b.num_columns())
                        .filter(|&i| !is_place_column(b.schema().field(i).name()))
                        .collect();
                    batches.push(b.project(&keep).unwrap());
                }
            }
            let schema = batches[0].schema();
            (
                dir,
                arrow_select::concat::concat_batches(&schema, &batches).unwrap(),
            )
        })
        .collect()
}

/// Asserts that `lake` holds the rows, catalogue and scenes of `reference`.
pub fn assert_same_lake(lake: &Path, reference: &Path, what: &str) {
    let (got, want) = (lake_rows(lake), lake_rows(reference));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: not the same partitions"
    );
    for (dir, rows) in &want {
        assert!(
            got[dir] == *rows,
            "{what}: {dir} differs ({} rows against {})",
            got[dir].num_rows(),
            rows.num_rows()
        );
    }
    for store in ["bags.jsonl", "scenes.jsonl"] {
        let (got, want) = (
            store_items(lake, store, &RUN_AND_PLACE),
            store_items(reference, store, &RUN_AND_PLACE),
        );
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{what}: {store}"
        );
        for (key, item) in &want {
            assert_eq!(&got[key], item, "{what}: {store}: {key}");
        }
    }
    // The exports too: the same clips and labels, byte for byte.
    for f in files_under(reference)
        .iter()
        .filter(|f| f.starts_with("exports/"))
    {
        assert!(
            std::fs::read(lake.join(f)).ok() == std::fs::read(reference.join(f)).ok(),
            "{what}: {f} differs"
        );
    }
    let left: Vec<String> = files_under(lake)
        .into_iter()
        .filter(|f| f.starts_with("_runs/"))
        .collect();
    assert!(left.is_empty(), "{what}: run state left: {left:?}");
}

fn run_into(out: &Path, extra: &[&str], inputs: &[PathBuf]) -> Output {
    let mut cmd = bagpipe();
    cmd.args(["run", "--quiet", "--config"])
        .arg(sample_bags().join("bagpipe.toml"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .args(inputs);
    cmd.output().unwrap()
}

/// The sample bags and every real ROS1 bag and ROS 2 input with more than
/// one chunk or file, and the damaged ones (skipped chunks, bad
/// definitions) too: whatever a single run makes of a bag, slices make.
fn inputs() -> Vec<PathBuf> {
    let mut inputs = vec![sample_bags()];
    let mut real: Vec<PathBuf> = std::fs::read_dir(real_bags())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none_or(|e| e != "md"))
        .collect();
    real.sort();
    inputs.extend(real);
    inputs
}

#[test]
fn runs_with_workers_give_a_single_runs_lake_at_every_item_size() {
    let inputs = inputs();
    let single = tempfile::tempdir().unwrap();
    let out = run_into(single.path(), &[], &inputs);
    // Some real bags fail by design (an empty file): the same either way.
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", show(&out));
    for item_bytes in ["1", "65536", "2147483648"] {
        let sliced = tempfile::tempdir().unwrap();
        let out = run_into(
            sliced.path(),
            &["--workers", "2", "--item-bytes", item_bytes],
            &inputs,
        );
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", show(&out));
        assert_same_lake(
            sliced.path(),
            single.path(),
            &format!("items of {item_bytes} bytes"),
        );
        if item_bytes == "1" {
            // The sample bags and the multi-chunk real bags were cut.
            let cut = catalog(sliced.path())
                .values()
                .filter(|item| item["work_items"]["N"].as_str().is_some_and(|n| n != "1"))
                .count();
            assert!(cut >= 10, "only {cut} bags were cut into several items");
        }
    }
}

/// `bagpipe plan` for one bag: the run id and the item count.
fn plan(out: &Path, bag: &Path, item_bytes: &str) -> (String, usize) {
    let o = bagpipe()
        .args(["plan", "--item-bytes", item_bytes, "--config"])
        .arg(sample_bags().join("bagpipe.toml"))
        .arg("--out")
        .arg(out)
        .arg(bag)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    (
        v["run"].as_str().unwrap().to_string(),
        v["work_items"].as_u64().unwrap() as usize,
    )
}

fn step(out: &Path, bag: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = bagpipe();
    cmd.args(args)
        .arg("--config")
        .arg(sample_bags().join("bagpipe.toml"))
        .arg("--out")
        .arg(out)
        .arg(bag);
    cmd
}

fn work(out: &Path, bag: &Path, run: &str, k: usize) -> Output {
    step(out, bag, &["work", "--run", run, "--item", &k.to_string()])
        .output()
        .unwrap()
}

fn finish(out: &Path, bag: &Path, run: &str) -> Output {
    step(out, bag, &["finish", "--run", run]).output().unwrap()
}

#[test]
fn an_item_run_twice_at_once_and_a_killed_worker_run_again_leave_a_single_runs_lake() {
    let bag = sample_bags().join("drive_0002_bz2.bag");
    let single = tempfile::tempdir().unwrap();
    let out = run_into(single.path(), &[], std::slice::from_ref(&bag));
    assert!(out.status.success(), "{}", show(&out));

    let lake = tempfile::tempdir().unwrap();
    let (run, items) = plan(lake.path(), &bag, "1");
    assert!(items >= 3, "the bag is cut into {items} items");
    // Item 0 twice at once.
    let a = step(lake.path(), &bag, &["work", "--run", &run, "--item", "0"])
        .spawn()
        .unwrap();
    let b = step(lake.path(), &bag, &["work", "--run", &run, "--item", "0"])
        .spawn()
        .unwrap();
    for mut c in [a, b] {
        assert!(c.wait().unwrap().success());
    }
    // Item 1 killed at points through its run, then run again.
    for delay_ms in [1, 5, 20] {
        let mut child = step(lake.path(), &bag, &["work", "--run", &run, "--item", "1"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
    }
    for k in 1..items {
        let o = work(lake.path(), &bag, &run, k);
        assert!(o.status.success(), "{}", show(&o));
    }
    let o = finish(lake.path(), &bag, &run);
    assert!(o.status.success(), "{}", show(&o));
    assert_same_lake(lake.path(), single.path(), "faults");
    let item = &catalog(lake.path())["drive_0002_bz2"];
    assert_eq!(item["status"]["S"], "DONE");
    assert_eq!(item["work_items"]["N"], items.to_string());
    assert!(item.get("lease_until").is_none(), "{item}");
}

#[test]
fn a_missing_report_fails_finish_naming_the_item_and_writes_no_later_stage() {
    let bag = sample_bags().join("drive_0003_lz4.bag");
    let lake = tempfile::tempdir().unwrap();
    let (run, items) = plan(lake.path(), &bag, "1");
    assert!(items >= 3);
    let item = &catalog(lake.path())["drive_0003_lz4"];
    assert_eq!(item["status"]["S"], "EXTRACTING");
    assert_eq!(item["run_id"]["S"], run.as_str());
    assert_eq!(item["work_items"]["N"], items.to_string());
    assert!(item["lease_until"]["N"].as_str().is_some());
    let missing = items - 2;
    for k in (0..items).filter(|&k| k != missing) {
        let o = work(lake.path(), &bag, &run, k);
        assert!(o.status.success(), "{}", show(&o));
    }
    let o = finish(lake.path(), &bag, &run);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let item = &catalog(lake.path())["drive_0003_lz4"];
    assert_eq!(item["status"]["S"], "FAILED");
    let error = item["error"]["S"].as_str().unwrap();
    assert!(
        error.contains(&format!("work item {missing} of {items} has no report")),
        "{error}"
    );
    let files = files_under(lake.path());
    for stage in ["synchronized/", "scene_detections/", "scenes/", "exports/"] {
        assert!(
            !files.iter().any(|f| f.starts_with(stage)),
            "{stage} written: {files:?}"
        );
    }
}

#[test]
fn a_second_run_while_one_holds_the_bag_is_refused_as_retryable() {
    let bag = sample_bags().join("drive_0001_raw.bag");
    let lake = tempfile::tempdir().unwrap();
    let (run, items) = plan(lake.path(), &bag, "1");
    assert!(items >= 2);
    // Another plan, and a single run, while the lease is held.
    let o = step(lake.path(), &bag, &["plan", "--item-bytes", "1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(
        text.contains(&format!("is being extracted by run {run}")),
        "{text}"
    );
    let o = run_into(lake.path(), &[], std::slice::from_ref(&bag));
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is being extracted by run"),
        "{}",
        show(&o)
    );
    // The holder's item is untouched, and its run finishes.
    assert_eq!(
        catalog(lake.path())["drive_0001_raw"]["run_id"]["S"],
        run.as_str()
    );
    for k in 0..items {
        assert!(work(lake.path(), &bag, &run, k).status.success());
    }
    let o = finish(lake.path(), &bag, &run);
    assert!(o.status.success(), "{}", show(&o));
    // Then the bag is free again.
    let o = run_into(lake.path(), &[], std::slice::from_ref(&bag));
    assert!(o.status.success(), "{}", show(&o));
}

/// A plan trusts the index (it reads no chunk record); an index entry that
/// names a record that is not a chunk fails the work item that reads it,
/// and finish says why and to run the bag as one item, which then
/// recovers it as a single run does (the index checked first).
#[test]
fn an_index_naming_a_record_that_is_not_a_chunk_fails_the_sliced_run_and_a_single_run_recovers() {
    let built = crate::util::count_bag(60, 10_000_000);
    assert!(built.chunk_offsets.len() >= 8);
    let mut bytes = built.bytes;
    // The fifth chunk's record says it is a connection record (op 0x07).
    let at = built.chunk_offsets[4] as usize;
    let op = bytes[at..at + 200]
        .windows(4)
        .position(|w| w == b"op=\x05")
        .expect("the chunk record's op field");
    bytes[at + op + 3] = 0x07;
    let dir = tempfile::tempdir().unwrap();
    let bag = dir.path().join("lying_chunk.bag");
    std::fs::write(&bag, &bytes).unwrap();
    let lake = dir.path().join("lake");

    let out = run_into(
        &lake,
        &["--workers", "2", "--item-bytes", "1"],
        std::slice::from_ref(&bag),
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let item = &catalog(&lake)["lying_chunk"];
    assert_eq!(item["status"]["S"], "FAILED");
    let error = item["error"]["S"].as_str().unwrap();
    assert!(
        error.contains("has no report")
            && error.contains("the index is wrong")
            && error.contains("run it as one item"),
        "{error}"
    );
    assert!(!files_under(&lake).iter().any(|f| f.starts_with("_runs/")));

    let out = run_into(&lake, &[], std::slice::from_ref(&bag));
    assert!(out.status.success(), "{}", show(&out));
    let item = &catalog(&lake)["lying_chunk"];
    assert_eq!(item["status"]["S"], "DONE");
    assert!(
        crate::util::warnings(item)
            .iter()
            .any(|w| w.contains("not a chunk") || w.contains("scan")),
        "{item}"
    );
}

/// A work item of a bag cut into several opens it as plan left it (the
/// run state holds the layout and each item's units), reading no index:
/// with the bag's index section zeroed after plan, every item still
/// extracts, and finish on the bag restored gives the single run's lake. A
/// bag that changed size since plan is refused, saying to plan again.
#[test]
fn work_items_read_no_index_and_refuse_a_bag_changed_since_plan() {
    let dir = tempfile::tempdir().unwrap();
    let bag = dir.path().join("drive_0003_lz4.bag");
    let original = std::fs::read(sample_bags().join("drive_0003_lz4.bag")).unwrap();
    std::fs::write(&bag, &original).unwrap();
    let single = tempfile::tempdir().unwrap();
    let out = run_into(single.path(), &[], std::slice::from_ref(&bag));
    assert!(out.status.success(), "{}", show(&out));
    let lake = dir.path().join("lake");
    let (run, items) = plan(&lake, &bag, "1");
    assert!(items >= 3, "the bag is cut into {items} items");

    // The bag header's index_pos: the index section runs from there to
    // the end of the file.
    let at = original
        .windows(10)
        .position(|w| w == b"index_pos=")
        .expect("the bag header's index_pos")
        + 10;
    let index_pos = u64::from_le_bytes(original[at..at + 8].try_into().unwrap()) as usize;
    assert!(index_pos > 0 && index_pos < original.len());
    let mut blind = original.clone();
    blind[index_pos..].fill(0);
    std::fs::write(&bag, &blind).unwrap();
    // The zeroed index is unusable: inspect finds the chunks by a scan.
    let o = bagpipe().arg("inspect").arg(&bag).output().unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("scan"),
        "{}",
        show(&o)
    );
    for k in 0..items {
        let o = work(&lake, &bag, &run, k);
        assert!(o.status.success(), "item {k}: {}", show(&o));
    }

    // One byte more: the bag is not the one planned.
    let mut grown = original.clone();
    grown.push(0);
    std::fs::write(&bag, &grown).unwrap();
    let o = work(&lake, &bag, &run, 0);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(
        text.contains("changed since the run was planned") && text.contains("plan again"),
        "{text}"
    );

    std::fs::write(&bag, &original).unwrap();
    let o = finish(&lake, &bag, &run);
    assert!(o.status.success(), "{}", show(&o));
    assert_same_lake(&lake, single.path(), "items that read no index");
}
