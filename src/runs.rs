//! The state of one run of a bag cut into work items, kept in the lake
//! under `_runs/<bag_file>/<run_id>/` from plan to finish and removed when
//! the run ends:
//!
//! - `plan.json`: the [`RunPlan`] (tables chosen, the items' windows and
//!   units), what every work item and finish read;
//! - `items.json`: one small object per item ([`WorkItem`]), what a Step
//!   Functions Distributed Map iterates over;
//! - `reports/<k>.json`: each item's [`ItemReport`], written last by the
//!   item, so its presence says the item's files are all written;
//! - `bag.json.zst` and `units/<k>.json.zst`: for a bag cut into several
//!   items, the layout plan read from the index (less its units) and each
//!   item's units, so that a work item opens the bag without reading its
//!   index again (a terabyte's index is over 100 MB);
//! - `compacted.json`: the small tables finish rewrote, so a finish that
//!   crashed after removing item parts does not read them again.

use extractor::container::{BagState, Unit};
use extractor::extract::{ExtractReport, Slice};
use serde::{Deserialize, Serialize};

use crate::failure::Failure;
use crate::storage::lake::Lake;

/// Directory of the runs' state under the output root.
pub const RUNS_DIR: &str = "_runs";

/// How long a run holds a bag against other runs of it, unless it ends
/// first: long enough for a terabyte's plan, work and finish.
pub const LEASE_MS: u64 = 6 * 3600 * 1000;

/// Part numbers a work item owns: `(k+1) * PARTS_PER_ITEM` and the next
/// `PARTS_PER_ITEM - 1`; block 0 is a single item's and finish's.
pub const PARTS_PER_ITEM: u32 = 100;

/// What plan decided, for work and finish.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunPlan {
    pub run_id: String,
    pub bag_file: String,
    pub source_url: String,
    pub size_bytes: u64,
    /// Units the bag's index gave: a work item that opens the bag and
    /// finds another count is not reading the bag plan read.
    pub units: usize,
    /// Table names per topic and type version, in connection-record order
    /// (`None`: not extracted).
    pub names: Vec<Vec<Option<String>>>,
    pub items: Vec<Slice>,
    /// Why the bag is one item, when it could not be cut.
    pub whole_because: Option<String>,
    /// Bytes the items read together over the bag's.
    pub amplification: f64,
    /// Whether the bag is opened trusting its index (no read of each
    /// chunk's head; each is checked when an item reads it): a bag cut
    /// into several items. A bag in one item is opened as a single run
    /// opens it.
    #[serde(default)]
    pub trusted: bool,
}

impl RunPlan {
    /// The first part number of item `k`: 0 for a bag in one item, else
    /// the item's own block of [`PARTS_PER_ITEM`].
    pub fn first_part(&self, k: usize) -> u32 {
        if self.items.len() == 1 {
            0
        } else {
            (k as u32 + 1) * PARTS_PER_ITEM
        }
    }

    /// The items as the Map iterates over them.
    pub fn work_items(&self) -> Vec<WorkItem> {
        self.items
            .iter()
            .enumerate()
            .map(|(k, s)| WorkItem {
                item: k,
                from_ns: s.from,
                to_ns: s.to,
                units: s.units.len(),
            })
            .collect()
    }
}

/// One element of `items.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkItem {
    pub item: usize,
    pub from_ns: Option<u64>,
    pub to_ns: Option<u64>,
    pub units: usize,
}

/// What one work item extracted and wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemReport {
    pub item: usize,
    pub run_id: String,
    pub report: ExtractReport,
    /// Per table of the plan: the part files written, in row order.
    pub files: Vec<Vec<String>>,
    /// How long the item took to extract and write.
    #[serde(default)]
    pub seconds: f64,
}

/// What work item `k` of a bag cut into several reads: its units, and its
/// slice numbered within them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemUnits {
    pub units: Vec<Unit>,
    pub slice: Slice,
}

impl ItemUnits {
    /// Item `k`'s units of `all` (the bag's), its slice renumbered.
    pub fn of(all: &[Unit], slice: &Slice) -> ItemUnits {
        let units: Vec<Unit> = slice.units.iter().map(|&i| all[i].clone()).collect();
        let first = slice.units.partition_point(|&i| i < slice.home.start);
        let home_len = slice
            .units
            .iter()
            .filter(|i| slice.home.contains(i))
            .count();
        ItemUnits {
            slice: Slice {
                units: (0..units.len()).collect(),
                home: first..first + home_len,
                from: slice.from,
                to: slice.to,
            },
            units,
        }
    }
}

/// The tables finish rewrote into block 0: per table index, its files.
pub type Compacted = std::collections::BTreeMap<usize, Vec<String>>;

/// A new run id: time-ordered, unique enough across machines.
pub fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}", std::process::id())
}

pub fn run_dir(bag_file: &str, run_id: &str) -> String {
    format!("{RUNS_DIR}/{bag_file}/{run_id}")
}

pub fn plan_path(bag_file: &str, run_id: &str) -> String {
    format!("{}/plan.json", run_dir(bag_file, run_id))
}

pub fn items_path(bag_file: &str, run_id: &str) -> String {
    format!("{}/items.json", run_dir(bag_file, run_id))
}

/// The run's directories: reports and failures of work items, their units.
fn reports_dir(bag_file: &str, run_id: &str) -> String {
    format!("{}/reports", run_dir(bag_file, run_id))
}

fn units_dir(bag_file: &str, run_id: &str) -> String {
    format!("{}/units", run_dir(bag_file, run_id))
}

pub fn report_path(bag_file: &str, run_id: &str, item: usize) -> String {
    format!("{}/{item}.json", reports_dir(bag_file, run_id))
}

/// Where a work item that failed for good says why.
pub fn failure_path(bag_file: &str, run_id: &str, item: usize) -> String {
    format!("{}/{item}.failed.json", reports_dir(bag_file, run_id))
}

fn bag_state_path(bag_file: &str, run_id: &str) -> String {
    format!("{}/bag.json.zst", run_dir(bag_file, run_id))
}

fn units_path(bag_file: &str, run_id: &str, item: usize) -> String {
    format!("{}/{item}.json.zst", units_dir(bag_file, run_id))
}

fn compacted_path(bag_file: &str, run_id: &str) -> String {
    format!("{}/compacted.json", run_dir(bag_file, run_id))
}

/// Writes `value` as JSON, compressed with zstd when `path` ends in `.zst`
/// (a terabyte's units are about 400 MB of JSON and a tenth of that
/// compressed).
fn put_json<T: Serialize>(lake: &dyn Lake, path: &str, value: &T) -> Result<(), Failure> {
    let mut bytes = serde_json::to_vec(value).map_err(|e| Failure::permanent(e.to_string()))?;
    if path.ends_with(".zst") {
        bytes = zstd::bulk::compress(&bytes, 3)
            .map_err(|e| Failure::io(format_args!("compressing {}", lake.url(path)), &e))?;
    }
    lake.put(path, &bytes)
        .map_err(|e| Failure::io(format_args!("writing {}", lake.url(path)), &e))
}

/// Reads what [`put_json`] wrote; `None` when there is nothing at `path`.
fn get_json<T: for<'de> Deserialize<'de>>(
    lake: &dyn Lake,
    path: &str,
) -> Result<Option<T>, Failure> {
    let Some(mut bytes) = lake
        .get(path)
        .map_err(|e| Failure::io(format_args!("reading {}", lake.url(path)), &e))?
    else {
        return Ok(None);
    };
    if path.ends_with(".zst") {
        bytes = zstd::stream::decode_all(bytes.as_slice())
            .map_err(|e| Failure::permanent(format!("{}: {e}", lake.url(path))))?;
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Failure::permanent(format!("{}: {e}", lake.url(path))))
}

/// Writes what work items read instead of the bag's index: the bag's
/// state and each item's units (in parallel: a terabyte has hundreds).
pub fn save_units(
    lake: &dyn Lake,
    plan: &RunPlan,
    state: &BagState,
    units: &[Unit],
) -> Result<(), Failure> {
    use rayon::prelude::*;
    put_json(lake, &bag_state_path(&plan.bag_file, &plan.run_id), state)?;
    plan.items
        .par_iter()
        .enumerate()
        .try_for_each(|(k, slice)| {
            put_json(
                lake,
                &units_path(&plan.bag_file, &plan.run_id, k),
                &ItemUnits::of(units, slice),
            )
        })
}

/// The bag's state and item `k`'s units, as plan saved them; missing ones
/// are a permanent failure.
pub fn load_units(
    lake: &dyn Lake,
    plan: &RunPlan,
    k: usize,
) -> Result<(BagState, ItemUnits), Failure> {
    let missing = |path: String| {
        Failure::permanent(format!(
            "run {} of {}: {} is missing: plan again",
            plan.run_id,
            plan.bag_file,
            lake.url(&path)
        ))
    };
    let path = bag_state_path(&plan.bag_file, &plan.run_id);
    let state = get_json(lake, &path)?.ok_or_else(|| missing(path))?;
    let path = units_path(&plan.bag_file, &plan.run_id, k);
    let units = get_json(lake, &path)?.ok_or_else(|| missing(path))?;
    Ok((state, units))
}

/// Writes the plan and the items list.
pub fn save_plan(lake: &dyn Lake, plan: &RunPlan) -> Result<(), Failure> {
    put_json(lake, &plan_path(&plan.bag_file, &plan.run_id), plan)?;
    put_json(
        lake,
        &items_path(&plan.bag_file, &plan.run_id),
        &plan.work_items(),
    )
}

/// Reads a run's plan; a run that does not exist is a permanent failure.
pub fn load_plan(lake: &dyn Lake, bag_file: &str, run_id: &str) -> Result<RunPlan, Failure> {
    let path = plan_path(bag_file, run_id);
    get_json(lake, &path)?.ok_or_else(|| {
        Failure::permanent(format!(
            "run {run_id} of {bag_file} has no plan ({} is missing): plan it first",
            lake.url(&path)
        ))
    })
}

pub fn save_report(lake: &dyn Lake, plan: &RunPlan, report: &ItemReport) -> Result<(), Failure> {
    put_json(
        lake,
        &report_path(&plan.bag_file, &plan.run_id, report.item),
        report,
    )
}

/// Records why work item `item` failed for good, for finish to say.
pub fn save_failure(
    lake: &dyn Lake,
    plan: &RunPlan,
    item: usize,
    message: &str,
) -> Result<(), Failure> {
    put_json(
        lake,
        &failure_path(&plan.bag_file, &plan.run_id, item),
        &serde_json::json!({ "item": item, "error": message }),
    )
}

/// Every item's report, in item order; a missing one fails, naming the
/// items that have none (and why the first failed, when it said).
pub fn load_reports(lake: &dyn Lake, plan: &RunPlan) -> Result<Vec<ItemReport>, Failure> {
    let mut reports = Vec::with_capacity(plan.items.len());
    let mut missing = Vec::new();
    let mut why = None;
    for k in 0..plan.items.len() {
        match get_json::<ItemReport>(lake, &report_path(&plan.bag_file, &plan.run_id, k))? {
            Some(r) if r.item == k && r.run_id == plan.run_id => reports.push(r),
            _ => {
                missing.push(k.to_string());
                if why.is_none()
                    && let Some(f) = get_json::<serde_json::Value>(
                        lake,
                        &failure_path(&plan.bag_file, &plan.run_id, k),
                    )?
                {
                    why = f["error"]
                        .as_str()
                        .map(|e| format!(" (item {k} failed: {e})"));
                }
            }
        }
    }
    if !missing.is_empty() {
        return Err(Failure::permanent(format!(
            "run {} of {}: work item {} of {} has no report (not run, or failed){}; nothing was registered",
            plan.run_id,
            plan.bag_file,
            missing.join(", "),
            plan.items.len(),
            why.unwrap_or_default()
        )));
    }
    Ok(reports)
}

pub fn save_compacted(lake: &dyn Lake, plan: &RunPlan, done: &Compacted) -> Result<(), Failure> {
    put_json(lake, &compacted_path(&plan.bag_file, &plan.run_id), done)
}

pub fn load_compacted(lake: &dyn Lake, plan: &RunPlan) -> Result<Compacted, Failure> {
    Ok(get_json(lake, &compacted_path(&plan.bag_file, &plan.run_id))?.unwrap_or_default())
}

/// Removes the run's state, and what killed workers were writing of it
/// (their temporary files).
pub fn remove_run(lake: &dyn Lake, plan: &RunPlan) -> std::io::Result<()> {
    let (bag, run) = (plan.bag_file.as_str(), plan.run_id.as_str());
    for dir in [
        run_dir(bag, run),
        reports_dir(bag, run),
        units_dir(bag, run),
    ] {
        lake.remove_dead_temps(&dir)?;
    }
    for k in 0..plan.items.len() {
        lake.delete(&report_path(&plan.bag_file, &plan.run_id, k))?;
        lake.delete(&failure_path(&plan.bag_file, &plan.run_id, k))?;
        lake.delete(&units_path(&plan.bag_file, &plan.run_id, k))?;
    }
    lake.delete(&bag_state_path(&plan.bag_file, &plan.run_id))?;
    lake.delete(&compacted_path(&plan.bag_file, &plan.run_id))?;
    lake.delete(&items_path(&plan.bag_file, &plan.run_id))?;
    lake.delete(&plan_path(&plan.bag_file, &plan.run_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use extractor::container::{UnitKind, compression::Compression};

    fn unit(i: usize) -> Unit {
        Unit {
            file: 0,
            offset: i as u64 * 100,
            read_len: 100,
            size: 100,
            compression: Compression::None,
            start_time_ns: Some(i as u64),
            end_time_ns: Some(i as u64),
            connections: None,
            kind: UnitKind::Sqlite {
                first_id: i as i64,
                last_id: i as i64,
            },
        }
    }

    #[test]
    fn an_items_units_are_its_own_and_its_home_is_renumbered_within_them() {
        let all: Vec<Unit> = (0..10).map(unit).collect();
        // Reads 2..=5 and 7; its home group is 3..6 (home units are
        // always read).
        let slice = Slice {
            units: vec![2, 3, 4, 5, 7],
            home: 3..6,
            from: Some(3),
            to: Some(7),
        };
        let item = ItemUnits::of(&all, &slice);
        let offsets: Vec<u64> = item.units.iter().map(|u| u.offset).collect();
        assert_eq!(offsets, [200, 300, 400, 500, 700]);
        assert_eq!(item.slice.units, [0, 1, 2, 3, 4]);
        assert_eq!(item.slice.home, 1..4);
        assert_eq!((item.slice.from, item.slice.to), (Some(3), Some(7)));
        // The home units are the same units either way.
        let home: Vec<u64> = item
            .slice
            .home
            .clone()
            .map(|i| item.units[i].offset)
            .collect();
        assert_eq!(home, [300, 400, 500]);
        // An item whose home group is empty (a window between groups).
        let empty = Slice {
            units: vec![4, 5],
            home: 6..6,
            from: Some(5),
            to: Some(6),
        };
        assert_eq!(ItemUnits::of(&all, &empty).slice.home, 2..2);
    }

    #[test]
    fn removing_a_run_removes_what_killed_workers_were_writing_of_it() {
        use crate::storage::lake::{LocalLake, TEMP_PREFIX};
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(dir.path()).unwrap();
        let plan = RunPlan {
            run_id: "r1".to_string(),
            bag_file: "b".to_string(),
            source_url: "file:///b.bag".to_string(),
            size_bytes: 1,
            units: 1,
            names: Vec::new(),
            items: vec![Slice {
                units: vec![0],
                home: 0..1,
                from: None,
                to: None,
            }],
            whole_because: None,
            amplification: 1.0,
            trusted: false,
        };
        save_plan(&lake, &plan).unwrap();
        lake.put(&report_path("b", "r1", 0), b"{}").unwrap();
        // A worker killed while writing its report and its units: a
        // process that has exited left them.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let run = run_dir("b", "r1");
        for sub in ["reports", "units"] {
            let sub = dir.path().join(&run).join(sub);
            std::fs::create_dir_all(&sub).unwrap();
            std::fs::write(sub.join(format!("{TEMP_PREFIX}{dead}-1-0.json")), b"{").unwrap();
        }
        remove_run(&lake, &plan).unwrap();
        for sub in ["", "/reports", "/units"] {
            let left: Vec<String> = lake
                .list_children(&format!("{run}{sub}"))
                .unwrap()
                .into_iter()
                .filter(|n| n.contains('.'))
                .collect();
            assert!(left.is_empty(), "{run}{sub}: {left:?}");
        }
    }
}
