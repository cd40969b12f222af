//! One run of the pipeline over a list of bags: the `bag_file` conflict
//! rule, and each bag's stages (extract, synchronize, scenes, Glue), with
//! its catalogue item kept current.
//!
//! Everything here goes through [`Lake`] and [`ItemStore`], so the local
//! back-ends and the AWS ones share this logic, and through the extractor's
//! shared container types, so ROS1 and ROS 2 bags share it too.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use extractor::container::{Bag, Connection, OpenOptions};
use extractor::decode::Layout;
use extractor::definition::builtin::Definitions;
use extractor::definition::resolve::{self, Version};
use extractor::extract::{self, ExtractPlan, ExtractReport, Slice, TablePlan};

use crate::athena::{self, TableCatalog, TableDef};
use crate::config::Config;
use crate::exports;
use crate::failure::Failure;
use crate::input::extractor_failure;
pub use crate::input::{Source, inputs, local_inputs};
use crate::naming::{md5_prefix_of, table_name};
use crate::runs::{self, ItemReport, RunPlan};
use crate::stages::{self, ExtractedTable};
use crate::storage::catalog::{
    Attr, BagRecord, ItemStore, LEASE_UNTIL, RUN_ID, RunInfo, Status, TopicRecord, TopicVariant,
    catalog_path, fit_item, now_ms,
};
use crate::storage::lake::Lake;
use crate::storage::registry::{Registry, suffixed};
use crate::writer::{PartitionWriter, partition_dir, remove_stale};

/// Directory of the per-topic tables under the output root.
pub const TOPICS_DIR: &str = "topics";

/// What a run needs: where outputs go and how to run.
pub struct Context {
    pub lake: Arc<dyn Lake>,
    pub bags: Arc<dyn ItemStore>,
    pub scenes: Arc<dyn ItemStore>,
    /// Where the tables a bag wrote are registered for Athena (the Glue
    /// Data Catalog), if anywhere.
    pub tables: Option<Arc<dyn TableCatalog>>,
    pub config: Config,
    /// Called per bag with its total bytes; returns the progress callback.
    pub progress: ProgressFactory,
}

/// Makes the progress reporter of a bag from its name and total bytes.
pub type ProgressFactory = Box<dyn Fn(&str, u64) -> Box<dyn Progress> + Send + Sync>;

/// Progress of one bag.
pub trait Progress: Send + Sync {
    /// `bytes` more of the bag were read.
    fn advance(&self, bytes: u64);
    /// The bag is done.
    fn finish(&self);
}

/// Progress that shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// The result of one bag, for the summary and the exit status.
#[derive(Debug, Clone)]
pub struct BagOutcome {
    pub bag_file: String,
    pub source: String,
    pub status: Status,
    pub message_count: u64,
    pub topics: usize,
    pub tables_written: usize,
    pub rows_written: u64,
    pub ticks: usize,
    pub scenes: usize,
    pub warnings: Vec<String>,
    pub error: Option<String>,
    /// For a failed bag: whether running it again could help.
    pub retryable: bool,
    pub bytes: u64,
    pub elapsed: Duration,
    /// What each stage that ran did.
    pub stages: Vec<StageReport>,
}

/// What one stage of a bag did, for logs and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct StageReport {
    pub stage: &'static str,
    pub seconds: f64,
    /// Messages (extract), ticks (sync) or scenes (scenes).
    pub count: u64,
    /// Bytes of the bag read (extract only).
    pub bytes: u64,
}

impl BagOutcome {
    /// A bag refused or failed before anything of it was written.
    pub fn failed(bag_file: String, source: &Source, failure: Failure) -> BagOutcome {
        BagOutcome {
            bag_file,
            source: source.url.clone(),
            status: Status::Failed,
            message_count: 0,
            topics: 0,
            tables_written: 0,
            rows_written: 0,
            ticks: 0,
            scenes: 0,
            warnings: Vec::new(),
            error: Some(failure.message),
            retryable: failure.retryable,
            bytes: 0,
            elapsed: Duration::ZERO,
            stages: Vec::new(),
        }
    }
}

/// Runs every bag, several at once where cores allow; outcomes come back
/// in input order. A bag that fails does not stop the others. Sources that
/// give a `bag_file` already taken by another source (earlier on the
/// command line, or in the catalogue) are refused and get no item.
pub fn run(ctx: &Context, sources: &[Source]) -> Vec<BagOutcome> {
    use rayon::prelude::*;
    let mut seen: HashMap<String, &Source> = HashMap::new();
    let mut planned: Vec<Result<&Source, Box<BagOutcome>>> = Vec::new();
    for source in sources {
        let name = source.bag_file();
        if let Some(first) = seen.get(&name) {
            if first.url != source.url {
                planned.push(Err(Box::new(BagOutcome::failed(
                    name.clone(),
                    source,
                    Failure::permanent(format!(
                        "bag_file {name} conflict: {} gives the same bag_file as {}, which came first; refused",
                        source.url, first.url
                    )),
                ))));
            }
            // The same bag named twice runs once.
            continue;
        }
        seen.insert(name.clone(), source);
        planned.push(match ctx.bags.get(&name, None) {
            Ok(Some(item)) => {
                let owner = item.get("source_url").and_then(Attr::as_s).unwrap_or("");
                if owner == source.url {
                    Ok(source)
                } else {
                    Err(Box::new(BagOutcome::failed(
                        name.clone(),
                        source,
                        conflict(&name, source, owner),
                    )))
                }
            }
            Ok(None) => Ok(source),
            Err(e) => Err(Box::new(BagOutcome::failed(
                name.clone(),
                source,
                Failure::io("reading the bag catalogue", &e),
            ))),
        });
    }
    // Phase 1, in parallel: open every bag and read its layout (the index,
    // the summary, the database, or a recovery scan).
    let opened: Vec<Option<Result<Opened, Failure>>> = planned
        .par_iter()
        .map(|p| p.as_ref().ok().map(|source| open_bag(source)))
        .collect();
    // Phase 2, in input order: choose tables, so which bag gets a table
    // name first does not depend on thread timing.
    let definitions = Definitions::new(ctx.config.extract.msg_paths.clone());
    let registry = Registry::new(ctx.lake.as_ref());
    let mut intents = Intents::default();
    let jobs: Vec<Result<(&Source, Prepared), Box<BagOutcome>>> = planned
        .into_iter()
        .zip(opened)
        .map(|(p, opened)| {
            let source = p?;
            let opened = opened.expect("opened when planned");
            Ok((
                source,
                prepare(ctx, source, opened, &definitions, &registry, &mut intents),
            ))
        })
        .collect();
    // Phase 3, in parallel: extract, register what was written, synchronize,
    // find scenes.
    let outcomes: Vec<BagOutcome> = jobs
        .into_par_iter()
        .map(|job| match job {
            Ok((source, prepared)) => run_bag(ctx, source, prepared, &definitions),
            Err(refused) => *refused,
        })
        .collect();
    // The index of reports, from the catalogue as it now is (other runs'
    // bags included).
    if ctx.config.export.report
        && let Err(e) = write_index(ctx)
    {
        tracing::warn!(error = %e.message, "the index of reports was not written");
    }
    outcomes
}

/// The refusal of a source whose `bag_file` belongs to another.
fn conflict(name: &str, source: &Source, owner: &str) -> Failure {
    Failure::permanent(format!(
        "bag_file {name} conflict: {} gives the same bag_file as {owner}, already in the catalogue; refused",
        source.url
    ))
}

/// A bag opened and its layout read.
struct Opened {
    started: Instant,
    bag: Bag,
}

/// A bag that could not be opened: when it started, its size if known,
/// and why.
struct NotOpened {
    started: Instant,
    size: u64,
    failure: Failure,
}

/// A bag ready to extract: opened, its topics grouped, its tables chosen.
type Prepared = Result<Ready, NotOpened>;

struct Ready {
    started: Instant,
    bag: Bag,
    topics: Vec<TopicGroup>,
    plan: ExtractPlan,
    names: TableNames,
}

/// Opens a source and reads its layout.
fn open_bag(source: &Source) -> Result<Opened, Failure> {
    open_bag_with(source, OpenOptions::default())
}

fn open_bag_with(source: &Source, options: OpenOptions) -> Result<Opened, Failure> {
    let started = Instant::now();
    let bag = source.open_with(options)?;
    Ok(Opened { started, bag })
}

/// Groups the bag's topics and chooses their tables (registering nothing:
/// a table is registered once a row is written to it).
fn prepare(
    ctx: &Context,
    source: &Source,
    opened: Result<Opened, Failure>,
    definitions: &Definitions,
    registry: &Registry,
    intents: &mut Intents,
) -> Prepared {
    let opened = opened.map_err(|failure| NotOpened {
        started: Instant::now(),
        size: source.size_bytes().unwrap_or(0),
        failure,
    })?;
    let topics = group_topics(&opened.bag.layout.connections, definitions);
    match plan_tables(&topics, &ctx.config, registry, intents) {
        Ok((plan, names)) => Ok(Ready {
            started: opened.started,
            bag: opened.bag,
            topics,
            plan,
            names,
        }),
        Err(e) => Err(NotOpened {
            started: opened.started,
            size: opened.bag.layout.size_bytes(),
            failure: Failure::io("schema registry", &e),
        }),
    }
}

/// Runs every stage on one bag in this process, as plan, one work item
/// and finish, and records it in the catalogue.
fn run_bag(
    ctx: &Context,
    source: &Source,
    prepared: Prepared,
    definitions: &Definitions,
) -> BagOutcome {
    let started = match &prepared {
        Ok(ready) => ready.started,
        Err(n) => n.started,
    };
    let mut record = new_record(source);
    let mut outcome = new_outcome(source);
    let mut parts = ReportParts::default();
    let result = match prepared {
        Ok(ready) => {
            // Plan: the whole bag, one item.
            let run = RunPlan {
                run_id: runs::new_run_id(),
                bag_file: record.bag_file.clone(),
                source_url: source.url.clone(),
                size_bytes: ready.bag.layout.size_bytes(),
                units: ready.bag.layout.units.len(),
                names: ready.names.clone(),
                items: vec![Slice::whole(&ready.bag)],
                whole_because: None,
                amplification: 1.0,
                trusted: false,
            };
            describe_bag(source, &ready.bag, &mut record);
            // Refused (another source's bag_file, another run's lease):
            // nothing of this run is written.
            if let Err(failure) = begin(ctx, source, &run, &mut record) {
                let mut outcome = BagOutcome::failed(record.bag_file, source, failure);
                outcome.elapsed = started.elapsed();
                return outcome;
            }
            // Work: the one item.
            work_item_progress(ctx, &ready, &run)
                // Finish: the item's files become the bag's tables, then the
                // other stages.
                .and_then(|report| {
                    finish_stages(
                        ctx,
                        source,
                        ready,
                        &run,
                        vec![report],
                        definitions,
                        &mut record,
                        &mut outcome,
                        &mut parts,
                    )
                })
        }
        Err(n) => {
            record.size_bytes = n.size;
            Err(n.failure)
        }
    };
    conclude(ctx, source, started, record, outcome, parts, result)
}

/// Work on the one item of a single run, with the bag's progress.
fn work_item_progress(ctx: &Context, ready: &Ready, run: &RunPlan) -> Result<ItemReport, Failure> {
    let slice = &run.items[0];
    let progress = (ctx.progress)(&run.bag_file, item_bytes(&ready.bag, slice));
    let report = work_item(ctx, &ready.bag, &ready.plan, run, 0, slice, &|n| {
        progress.advance(n)
    });
    progress.finish();
    report
}

/// A catalogue item for `source` before anything is known of the bag.
fn new_record(source: &Source) -> BagRecord {
    BagRecord {
        bag_file: source.bag_file(),
        source_url: source.url.clone(),
        format: None,
        storage_files: Vec::new(),
        ros_distro: None,
        size_bytes: 0,
        start_time_ns: None,
        end_time_ns: None,
        message_count: 0,
        topics: BTreeMap::new(),
        status: Status::Failed,
        warnings: Vec::new(),
        error: None,
        report_url: None,
        run: None,
    }
}

fn new_outcome(source: &Source) -> BagOutcome {
    BagOutcome {
        bag_file: source.bag_file(),
        source: source.url.clone(),
        status: Status::Failed,
        message_count: 0,
        topics: 0,
        tables_written: 0,
        rows_written: 0,
        ticks: 0,
        scenes: 0,
        warnings: Vec::new(),
        error: None,
        retryable: false,
        bytes: 0,
        elapsed: Duration::ZERO,
        stages: Vec::new(),
    }
}

/// Ends a bag's run: `DONE` or `FAILED` with its error, the report, the
/// catalogue item (the run's lease released).
fn conclude(
    ctx: &Context,
    source: &Source,
    started: Instant,
    mut record: BagRecord,
    mut outcome: BagOutcome,
    parts: ReportParts,
    result: Result<(), Failure>,
) -> BagOutcome {
    outcome.message_count = record.message_count;
    outcome.topics = record.topics.len();
    outcome.bytes = record.size_bytes;
    match result {
        Ok(()) => record.status = Status::Done,
        Err(e) => {
            record.status = Status::Failed;
            record.error = Some(e.message);
            outcome.retryable = e.retryable;
        }
    }
    if let Some(run) = &mut record.run {
        run.lease_until_ms = None;
    }
    if !ctx.config.export.report {
        // A re-run without reports leaves none of an earlier run's.
        let path = exports::report_path(&record.bag_file);
        if let Err(e) = ctx.lake.delete(&path) {
            tracing::warn!(bag = %record.bag_file, error = %e, "an earlier report was not removed");
        }
    } else {
        // The report says what the item will: written before it, so the
        // item names a report that exists.
        if let Err(e) = write_report(ctx, &mut record, parts) {
            if record.status == Status::Done {
                record.status = Status::Failed;
                outcome.retryable = e.retryable;
                record.error = Some(e.message);
            } else {
                tracing::warn!(bag = %record.bag_file, error = %e.message, "the failed bag's report was not written");
            }
        }
    }
    if let Err(e) = put_record(ctx, source, &record) {
        record.status = Status::Failed;
        record.error = Some(e.message);
        outcome.retryable = e.retryable;
    }
    outcome.status = record.status;
    outcome.warnings = record.warnings;
    outcome.error = record.error;
    outcome.elapsed = started.elapsed();
    outcome
}

/// What the bag's layout tells the catalogue item.
fn describe_bag(source: &Source, bag: &Bag, record: &mut BagRecord) {
    let layout = &bag.layout;
    record.size_bytes = layout.size_bytes();
    record.format = Some(layout.format.as_str().to_string());
    if source.is_directory() {
        record.storage_files = layout
            .files
            .iter()
            .map(|f| (f.name.clone(), f.size_bytes))
            .collect();
    }
    record.ros_distro = layout.ros_distro.clone();
    record
        .warnings
        .extend(layout.warnings.iter().map(|w| w.message.clone()));
}

/// The plan's catalogue item: `EXTRACTING`, with the run, and for a bag
/// cut into several items the run's lease, so another run of the bag is
/// refused until this one ends.
fn begin(
    ctx: &Context,
    source: &Source,
    run: &RunPlan,
    record: &mut BagRecord,
) -> Result<(), Failure> {
    record.status = Status::Extracting;
    record.run = Some(RunInfo {
        run_id: run.run_id.clone(),
        work_items: run.items.len(),
        lease_until_ms: (run.items.len() > 1).then(|| now_ms() + runs::LEASE_MS),
    });
    put_record(ctx, source, record)
}

/// Compressed bytes a slice reads.
fn item_bytes(bag: &Bag, slice: &Slice) -> u64 {
    slice
        .units
        .iter()
        .map(|&u| bag.layout.units[u].read_len)
        .sum()
}

/// The work step: extracts item `k` of the run (`slice` of `bag`) into
/// part files of its own block of numbers.
fn work_item(
    ctx: &Context,
    bag: &Bag,
    plan: &ExtractPlan,
    run: &RunPlan,
    k: usize,
    slice: &Slice,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ItemReport, Failure> {
    let started = Instant::now();
    let table_dirs: Vec<(String, arrow_schema::SchemaRef)> = plan
        .tables
        .iter()
        .map(|t| {
            (
                partition_dir(&format!("{TOPICS_DIR}/{}", t.name), &run.bag_file),
                t.layout.schema().clone(),
            )
        })
        .collect();
    let mut writer = PartitionWriter::new(ctx.lake.as_ref(), table_dirs)
        .with_codec(ctx.config.extract.codec())
        .with_first_part(run.first_part(k));
    let report = extract::extract_slice(bag, plan, slice, &mut writer, progress)
        .map_err(|e| extractor_failure(&run.source_url, &e))?;
    let files = writer
        .finish()
        .map_err(|e| Failure::io("writing the topic tables", &e))?;
    if run.items.len() > 1
        && let Some(i) = files
            .iter()
            .position(|f| f.len() > runs::PARTS_PER_ITEM as usize)
    {
        return Err(Failure::permanent(format!(
            "work item {k} wrote {} parts of table {}, more than its block of {}: plan smaller items",
            files[i].len(),
            plan.tables[i].name,
            runs::PARTS_PER_ITEM
        )));
    }
    Ok(ItemReport {
        item: k,
        run_id: run.run_id.clone(),
        report,
        files,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The plan step of a bag run by many workers: reads only the bag's
/// layout (its index), chooses and claims its tables, cuts it into items
/// of about `item_bytes`, marks the catalogue item `EXTRACTING` with the
/// run's lease, and writes the run's state under `_runs/`.
pub fn plan(ctx: &Context, source: &Source, item_bytes: u64) -> Result<RunPlan, Failure> {
    let name = source.bag_file();
    if let Some(item) = ctx
        .bags
        .get(&name, None)
        .map_err(|e| Failure::io("reading the bag catalogue", &e))?
    {
        let owner = item.get("source_url").and_then(Attr::as_s).unwrap_or("");
        if owner != source.url {
            return Err(conflict(&name, source, owner));
        }
    }
    let definitions = Definitions::new(ctx.config.extract.msg_paths.clone());
    let registry = Registry::new(ctx.lake.as_ref());
    let prepared = |trust_index: bool| {
        prepare(
            ctx,
            source,
            open_bag_with(source, OpenOptions { trust_index }),
            &definitions,
            &registry,
            &mut Intents::default(),
        )
        .map_err(|n| n.failure)
    };
    // The index alone first (no read of each chunk); a bag that stays one
    // item is opened again as a single run opens it, index checked.
    let mut ready = prepared(true)?;
    let mut sliced = extractor::slices::plan(&ready.bag.layout, item_bytes);
    let trusted = sliced.items.len() > 1;
    if !trusted {
        let why = sliced.whole_because.take();
        ready = prepared(false)?;
        sliced = extractor::slices::SlicePlan {
            items: vec![Slice::whole(&ready.bag)],
            whole_because: why,
            amplification: 1.0,
        };
    }
    let layout = &ready.bag.layout;
    let run = RunPlan {
        run_id: runs::new_run_id(),
        bag_file: name.clone(),
        source_url: source.url.clone(),
        size_bytes: layout.size_bytes(),
        units: layout.units.len(),
        names: ready.names.clone(),
        items: sliced.items,
        whole_because: sliced.whole_because,
        amplification: sliced.amplification,
        trusted,
    };
    if run.items.len() > 1 {
        // The tables of every topic the index shows messages for, claimed
        // once here, in connection-record order: items never touch the
        // registry.
        for (i, t) in ready.plan.tables.iter().enumerate() {
            let has_messages =
                ready.plan.conn_table.iter().any(|(c, &ti)| {
                    ti == i && layout.message_counts.get(c).copied().unwrap_or(0) > 0
                });
            if !has_messages {
                continue;
            }
            let claimed = registry
                .claim(&t.name, &t.datatype, &t.version, t.layout.schema())
                .map_err(|e| Failure::io(format_args!("registering table {}", t.name), &e))?;
            if !claimed {
                return Err(Failure::transient(format!(
                    "table {} was registered for another type version by a concurrent run; plan again",
                    t.name
                )));
            }
        }
    }
    let mut record = new_record(source);
    describe_bag(source, &ready.bag, &mut record);
    runs::save_plan(ctx.lake.as_ref(), &run)?;
    if run.trusted {
        runs::save_units(
            ctx.lake.as_ref(),
            &run,
            &ready.bag.state(),
            &ready.bag.layout.units,
        )?;
    }
    begin(ctx, source, &run, &mut record)?;
    tracing::info!(
        bag = %name,
        run = %run.run_id,
        items = run.items.len(),
        amplification = run.amplification,
        whole_because = run.whole_because.as_deref().unwrap_or(""),
        "planned"
    );
    Ok(run)
}

/// Opens the bag a run planned, checking it is the bag plan read.
fn open_planned(source: &Source, run: &RunPlan) -> Result<Bag, Failure> {
    let bag = source.open_with(OpenOptions {
        trust_index: run.trusted,
    })?;
    if bag.layout.units.len() != run.units || bag.layout.size_bytes() != run.size_bytes {
        return Err(Failure::permanent(format!(
            "{} changed since run {} planned it ({} bytes and {} units then, {} and {} now); plan again",
            source.url,
            run.run_id,
            run.size_bytes,
            run.units,
            bag.layout.size_bytes(),
            bag.layout.units.len()
        )));
    }
    Ok(bag)
}

/// The work step: extracts item `k` of run `run_id` and writes its report
/// last. Running an item again, or twice at once, writes the same files.
pub fn work(ctx: &Context, source: &Source, run_id: &str, k: usize) -> Result<(), Failure> {
    let run = runs::load_plan(ctx.lake.as_ref(), &source.bag_file(), run_id)?;
    if k >= run.items.len() {
        return Err(Failure::permanent(format!(
            "run {run_id} of {} has {} work items; there is no item {k}",
            run.bag_file,
            run.items.len()
        )));
    }
    // A bag cut into items is opened as plan left it, its index not read
    // again; a bag in one item as a single run opens it.
    let (bag, slice) = if run.trusted {
        let (state, item) = runs::load_units(ctx.lake.as_ref(), &run, k)?;
        (source.reopen(state, item.units)?, item.slice)
    } else {
        (open_planned(source, &run)?, run.items[k].clone())
    };
    let definitions = Definitions::new(ctx.config.extract.msg_paths.clone());
    let topics = group_topics(&bag.layout.connections, &definitions);
    let plan = extract_plan_of(&topics, &run.names);
    let progress = (ctx.progress)(
        &format!("{} item {k}", run.bag_file),
        item_bytes(&bag, &slice),
    );
    let started = Instant::now();
    let report = work_item(ctx, &bag, &plan, &run, k, &slice, &|n| progress.advance(n));
    progress.finish();
    let report = match report {
        Ok(r) => r,
        Err(failure) => {
            // For good: finish says why, not only that a report is missing.
            if !failure.retryable
                && let Err(e) = runs::save_failure(ctx.lake.as_ref(), &run, k, &failure.message)
            {
                tracing::warn!(error = %e.message, "the item's failure was not recorded");
            }
            return Err(failure);
        }
    };
    runs::save_report(ctx.lake.as_ref(), &run, &report)?;
    tracing::info!(
        bag = %run.bag_file,
        run = %run.run_id,
        item = k,
        messages = report.report.message_count,
        seconds = started.elapsed().as_secs_f64(),
        "work item extracted"
    );
    Ok(())
}

/// The finish step: requires every item's report, merges them into the
/// catalogue item, removes stale files, rewrites small tables into block
/// 0, then runs the stages after extraction as a single run does, and
/// removes the run's state.
pub fn finish(ctx: &Context, source: &Source, run_id: &str) -> BagOutcome {
    let started = Instant::now();
    let mut record = new_record(source);
    let mut outcome = new_outcome(source);
    let mut parts = ReportParts::default();
    let mut planned = None;
    let result = (|| {
        let run = runs::load_plan(ctx.lake.as_ref(), &record.bag_file, run_id)?;
        record.run = Some(RunInfo {
            run_id: run.run_id.clone(),
            work_items: run.items.len(),
            lease_until_ms: (run.items.len() > 1).then(|| now_ms() + runs::LEASE_MS),
        });
        planned = Some(run.clone());
        let reports = runs::load_reports(ctx.lake.as_ref(), &run)?;
        let bag = open_planned(source, &run)?;
        let definitions = Definitions::new(ctx.config.extract.msg_paths.clone());
        let topics = group_topics(&bag.layout.connections, &definitions);
        let plan = extract_plan_of(&topics, &run.names);
        describe_bag(source, &bag, &mut record);
        let ready = Ready {
            started,
            bag,
            topics,
            plan,
            names: run.names.clone(),
        };
        finish_stages(
            ctx,
            source,
            ready,
            &run,
            reports,
            &definitions,
            &mut record,
            &mut outcome,
            &mut parts,
        )
    })();
    let retryable = result.as_ref().err().is_some_and(|e| e.retryable);
    let outcome = conclude(ctx, source, started, record, outcome, parts, result);
    // The run's state goes with the run, unless finishing again may help.
    if let Some(run) = planned
        && !retryable
        && let Err(e) = runs::remove_run(ctx.lake.as_ref(), &run)
    {
        tracing::warn!(bag = %run.bag_file, error = %e, "the run's state was not removed");
    }
    if ctx.config.export.report
        && let Err(e) = write_index(ctx)
    {
        tracing::warn!(error = %e.message, "the index of reports was not written");
    }
    outcome
}

/// Marks a bag `FAILED` with `error` (a run that could not plan or finish,
/// as the state machine's failure path reports it), releasing its lease.
pub fn fail(ctx: &Context, source: &Source, run_id: Option<&str>, error: &str) -> BagOutcome {
    let mut record = new_record(source);
    // A bag another run holds is that run's to conclude.
    let mut ours = crate::storage::catalog::Item::new();
    ours.insert(RUN_ID.into(), Attr::s(run_id.unwrap_or("")));
    if let Ok(Some(existing)) = ctx.bags.get(&record.bag_file, None)
        && (crate::storage::catalog::leased_to_another(&existing, &ours)
            || existing.get("source_url").and_then(Attr::as_s) != Some(source.url.as_str()))
    {
        return BagOutcome::failed(
            record.bag_file,
            source,
            Failure::transient(format!(
                "{error} (the bag is another run's or source's: left as it is)"
            )),
        );
    }
    record.size_bytes = source.size_bytes().unwrap_or(0);
    if let Some(run_id) = run_id
        && let Ok(run) = runs::load_plan(ctx.lake.as_ref(), &record.bag_file, run_id)
    {
        record.size_bytes = run.size_bytes;
        record.run = Some(RunInfo {
            run_id: run.run_id.clone(),
            work_items: run.items.len(),
            lease_until_ms: None,
        });
        if let Err(e) = runs::remove_run(ctx.lake.as_ref(), &run) {
            tracing::warn!(bag = %run.bag_file, error = %e, "the run's state was not removed");
        }
    }
    let outcome = new_outcome(source);
    conclude(
        ctx,
        source,
        Instant::now(),
        record,
        outcome,
        ReportParts::default(),
        Err(Failure::permanent(error.to_string())),
    )
}

/// Writes the bag's catalogue item, unless another source has claimed its
/// `bag_file` meanwhile (a conditional write: two runs racing for one
/// `bag_file` cannot both win).
fn put_record(ctx: &Context, source: &Source, record: &BagRecord) -> Result<(), Failure> {
    // An item over DynamoDB's limit keeps its topics in the lake instead.
    let path = catalog_path(&record.bag_file);
    let (item, topics) = fit_item(record.to_item(), &ctx.lake.url(&path));
    match ctx.bags.put_if_owner(item, "source_url") {
        // The item is this source's: so is the topics object (written
        // after the conditional write, so a refused source touches none).
        Ok(None) => match topics {
            Some(bytes) => ctx.lake.put(&path, &bytes),
            // A re-run that fits removes what an earlier run moved out.
            None => ctx.lake.delete(&path),
        }
        .map_err(|e| Failure::io(format_args!("writing {}", ctx.lake.url(&path)), &e)),
        Ok(Some(existing)) => {
            let owner = existing
                .get("source_url")
                .and_then(Attr::as_s)
                .unwrap_or("");
            if owner != source.url {
                return Err(conflict(&record.bag_file, source, owner));
            }
            // Ours, but another run of it holds the lease.
            let run = existing.get(RUN_ID).and_then(Attr::as_s).unwrap_or("");
            let until = match existing.get(LEASE_UNTIL) {
                Some(Attr::N(n)) => n.parse::<u64>().unwrap_or(0),
                _ => 0,
            };
            Err(Failure::transient(format!(
                "bag_file {} is being extracted by run {run} (its lease ends in {} s); try again once it ends",
                record.bag_file,
                until.saturating_sub(now_ms()) / 1000
            )))
        }
        Err(e) => Err(Failure::io("writing the bag catalogue", &e)),
    }
}

/// What the stages found that the bag's report shows beyond the
/// catalogue item.
#[derive(Default)]
struct ReportParts {
    topics: Vec<scenes::export::report::TopicStats>,
    exported: exports::Exported,
}

/// Finish: the items' files become the bag's tables, then synchronize,
/// find scenes, export them; the catalogue item is updated after each
/// stage (`EXTRACTED`, `SYNCHRONIZED`; the caller writes `DONE`).
#[allow(clippy::too_many_arguments)]
fn finish_stages(
    ctx: &Context,
    source: &Source,
    ready: Ready,
    run: &RunPlan,
    reports: Vec<ItemReport>,
    definitions: &Definitions,
    record: &mut BagRecord,
    outcome: &mut BagOutcome,
    parts: &mut ReportParts,
) -> Result<(), Failure> {
    // The stage's seconds: the items' extraction (one after the other in a
    // single run; worker-seconds across workers) and the commit.
    let items_seconds: f64 = reports.iter().map(|r| r.seconds).sum();
    let started = Instant::now();
    let (tables, written, bag) = commit_extract(ctx, source, ready, run, reports, record)?;
    let seconds = items_seconds + started.elapsed().as_secs_f64();
    tracing::info!(
        bag = %record.bag_file,
        stage = "extract",
        seconds,
        messages = record.message_count,
        bytes = record.size_bytes,
        tables = written.tables,
        "extracted"
    );
    outcome.stages.push(StageReport {
        stage: "extract",
        seconds,
        count: record.message_count,
        bytes: record.size_bytes,
    });
    outcome.tables_written = written.tables;
    outcome.rows_written = written.rows;
    if record.message_count == 0 {
        // Nothing to resample: remove what an earlier run may have left.
        stages::synchronize(
            ctx.lake.as_ref(),
            &record.bag_file,
            &[],
            &ctx.config.sync,
            &mut Vec::new(),
        )?;
        stages::write_scene_outputs(
            ctx.lake.as_ref(),
            ctx.scenes.as_ref(),
            &record.bag_file,
            &stages::Found::default(),
        )?;
        exports::remove_stale_exports(ctx.lake.as_ref(), &record.bag_file, &[])?;
        return Ok(());
    }
    let started = Instant::now();
    let synced = stages::synchronize(
        ctx.lake.as_ref(),
        &record.bag_file,
        &tables,
        &ctx.config.sync,
        &mut record.warnings,
    )?;
    outcome.ticks = synced.ticks();
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        bag = %record.bag_file,
        stage = "sync",
        seconds,
        ticks = synced.ticks(),
        topics = synced.columns.len(),
        "synchronized"
    );
    outcome.stages.push(StageReport {
        stage: "sync",
        seconds,
        count: synced.ticks() as u64,
        bytes: 0,
    });
    record.status = Status::Synchronized;
    put_record(ctx, source, record)?;
    let started = Instant::now();
    let mut found = stages::find_scenes(
        ctx.lake.as_ref(),
        &record.bag_file,
        &scene_source(source),
        &synced,
        &tables,
        &ctx.config.scenes,
        ctx.config.sync.interval_ms,
        &mut record.warnings,
    )?;
    outcome.scenes = found.records.len();
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        bag = %record.bag_file,
        stage = "scenes",
        seconds,
        scenes = found.records.len(),
        "scenes found"
    );
    outcome.stages.push(StageReport {
        stage: "scenes",
        seconds,
        count: found.records.len() as u64,
        bytes: 0,
    });
    let started = Instant::now();
    parts.exported = exports::export_scenes(
        &exports::ExportInput {
            lake: &ctx.lake,
            bag: &bag,
            definitions,
            bag_file: &record.bag_file,
            tables: &tables,
            synced: &synced,
            scenes: &ctx.config.scenes,
            interval_ms: ctx.config.sync.interval_ms,
            cfg: &ctx.config.export,
        },
        &mut found,
        &mut record.warnings,
    )?;
    drop(bag);
    if ctx.config.export.report {
        parts.topics = exports::topic_stats(
            &ctx.lake,
            record,
            &tables,
            &synced,
            ctx.config.sync.interval_ms,
        )?;
    }
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        bag = %record.bag_file,
        stage = "export",
        seconds,
        files = parts.exported.files,
        clip_bytes = parts.exported.clip_bytes,
        "scenes exported"
    );
    outcome.stages.push(StageReport {
        stage: "export",
        seconds,
        count: parts.exported.files as u64,
        bytes: parts.exported.clip_bytes,
    });
    stages::write_scene_outputs(
        ctx.lake.as_ref(),
        ctx.scenes.as_ref(),
        &record.bag_file,
        &found,
    )?;
    if let Some(catalog) = &ctx.tables {
        let started = Instant::now();
        let written = written_tables(ctx, &record.bag_file, &tables, &synced, &found);
        for (def, partition) in &written {
            catalog
                .register(def, &record.bag_file, partition)
                .map_err(|e| Failure::io(format_args!("registering table {}", def.name), &e))?;
        }
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            bag = %record.bag_file,
            stage = "register",
            seconds,
            tables = written.len(),
            "tables registered"
        );
        outcome.stages.push(StageReport {
            stage: "register",
            seconds,
            count: written.len() as u64,
            bytes: 0,
        });
    }
    Ok(())
}

/// Writes the bag's report (`reports/<bag_file>.html`) from its catalogue
/// item and what the stages found, and names it in the item.
fn write_report(ctx: &Context, record: &mut BagRecord, parts: ReportParts) -> Result<(), Failure> {
    let path = exports::report_path(&record.bag_file);
    let topics = if parts.topics.is_empty() {
        // A bag that failed before its tables were read: the catalogue's
        // counts alone.
        record
            .topics
            .iter()
            .map(|(topic, t)| scenes::export::report::TopicStats {
                topic: topic.clone(),
                datatype: t.first.datatype.clone(),
                message_count: t.first.message_count
                    + t.variants.iter().map(|v| v.message_count).sum::<u64>(),
                table: t.first.table.clone(),
                ..Default::default()
            })
            .collect()
    } else {
        parts.topics
    };
    let report = scenes::export::report::BagReport {
        bag_file: record.bag_file.clone(),
        source_url: record.source_url.clone(),
        format: record.format.clone(),
        size_bytes: record.size_bytes,
        start_time_ns: record.start_time_ns.map(|t| t as i64),
        end_time_ns: record.end_time_ns.map(|t| t as i64),
        message_count: record.message_count,
        status: record.status.as_str().to_string(),
        error: record.error.clone(),
        warnings: record.warnings.clone(),
        topics,
        interval_ms: ctx.config.sync.interval_ms,
        scenes: parts.exported.cards,
        gps: parts.exported.gps,
        camera_topic: parts.exported.camera_topic,
        generator: exports::generator(),
    };
    let html = scenes::export::report::render(&report);
    ctx.lake
        .put(&path, html.as_bytes())
        .map_err(|e| Failure::io(format_args!("writing {}", ctx.lake.url(&path)), &e))?;
    record.report_url = Some(ctx.lake.url(&path));
    Ok(())
}

/// Rewrites `reports/index.html` from the bag catalogue: every bag, with a
/// link to its report when the catalogue names one.
pub fn write_index(ctx: &Context) -> Result<(), Failure> {
    let items = ctx
        .bags
        .scan(&[
            "bag_file",
            "status",
            "start_time_ns",
            "end_time_ns",
            "message_count",
            "size_bytes",
            "warnings",
            "report_url",
        ])
        .map_err(|e| Failure::io("reading the bag catalogue", &e))?;
    let mut rows: Vec<scenes::export::report::IndexRow> = items
        .iter()
        .map(|item| {
            let s = |k: &str| item.get(k).and_then(Attr::as_s).unwrap_or("").to_string();
            let n = |k: &str| match item.get(k) {
                Some(Attr::N(n)) => n.parse::<i64>().ok(),
                _ => None,
            };
            let bag_file = s("bag_file");
            scenes::export::report::IndexRow {
                report: item
                    .get("report_url")
                    .map(|_| crate::storage::lake::encode_path(&format!("{bag_file}.html"))),
                status: s("status"),
                start_time_ns: n("start_time_ns"),
                end_time_ns: n("end_time_ns"),
                message_count: n("message_count").unwrap_or(0).max(0) as u64,
                size_bytes: n("size_bytes").unwrap_or(0).max(0) as u64,
                warnings: match item.get("warnings") {
                    Some(Attr::L(l)) => l.len(),
                    _ => 0,
                },
                bag_file,
            }
        })
        .collect();
    rows.sort_by(|a, b| a.bag_file.cmp(&b.bag_file));
    let html = scenes::export::report::render_index(&rows);
    ctx.lake
        .put(exports::INDEX_PATH, html.as_bytes())
        .map_err(|e| {
            Failure::io(
                format_args!("writing {}", ctx.lake.url(exports::INDEX_PATH)),
                &e,
            )
        })
}

/// The tables the bag wrote a partition of, as Athena tables, each with
/// the bag's partition directory.
fn written_tables(
    ctx: &Context,
    bag_file: &str,
    tables: &[ExtractedTable],
    synced: &stages::Synced,
    scenes: &stages::Found,
) -> Vec<(TableDef, String)> {
    let mut dirs: Vec<(String, arrow_schema::SchemaRef)> = tables
        .iter()
        .map(|t| (format!("{TOPICS_DIR}/{}", t.name), t.schema.clone()))
        .collect();
    if let Some(batch) = &synced.batch {
        dirs.push((stages::SYNCHRONIZED_DIR.to_string(), batch.schema()));
    }
    if scenes.detections.as_ref().is_some_and(|d| d.num_rows() > 0) {
        dirs.push((
            stages::SCENE_DETECTIONS_DIR.to_string(),
            scenes::detect::detections_schema(),
        ));
    }
    if !scenes.records.is_empty() {
        dirs.push((stages::SCENES_DIR.to_string(), stages::scenes_schema()));
    }
    dirs.into_iter()
        .map(|(dir, schema)| {
            let def = TableDef::new(
                &athena::table_name(&dir),
                &ctx.lake.url(&format!("{dir}/")),
                &schema,
            );
            let partition = ctx.lake.url(&format!("{}/", partition_dir(&dir, bag_file)));
            (def, partition)
        })
        .collect()
}

fn scene_source(source: &Source) -> stages::SceneSource {
    stages::SceneSource {
        bucket: source.bucket.clone(),
        key: source.key.clone(),
    }
}

struct Written {
    tables: usize,
    rows: u64,
}

/// Tables of a bag cut into items smaller than this (all their parts
/// together) are rewritten by finish into block 0, so a low-rate topic is
/// not left in one tiny file per item.
pub const COMPACT_BYTES: u64 = 64 << 20;

/// Finish's extract stage: the items' reports and files become the bag's
/// tables, filling in `record`; registers each table a row was written
/// to, removes what this run did not write, writes `EXTRACTED`.
fn commit_extract(
    ctx: &Context,
    source: &Source,
    ready: Ready,
    run: &RunPlan,
    reports: Vec<ItemReport>,
    record: &mut BagRecord,
) -> Result<(Vec<ExtractedTable>, Written, Bag), Failure> {
    let Ready {
        bag,
        topics,
        plan,
        mut names,
        ..
    } = ready;
    let (report, mut files) = merge_reports(plan.tables.len(), reports);
    if run.items.len() > 1 {
        compact_small_tables(ctx, run, &plan, &mut files)?;
    }
    // Register the tables rows went to (a table nothing was written to
    // claims nothing), then remove what this run did not write.
    let registry = Registry::new(ctx.lake.as_ref());
    let mut lost = Vec::new();
    for (i, t) in plan.tables.iter().enumerate() {
        if files[i].is_empty() {
            continue;
        }
        let claimed = registry
            .claim(&t.name, &t.datatype, &t.version, t.layout.schema())
            .map_err(|e| Failure::io(format_args!("registering table {}", t.name), &e))?;
        if !claimed {
            lost.push(t.name.clone());
        }
    }
    let written: Vec<String> = files
        .iter()
        .zip(&plan.tables)
        .filter(|(_, t)| !lost.contains(&t.name))
        .flat_map(|(f, _)| f.iter().cloned())
        .collect();
    remove_stale(ctx.lake.as_ref(), TOPICS_DIR, &record.bag_file, &written)
        .map_err(|e| Failure::io("removing the previous run's files", &e))?;
    if !lost.is_empty() {
        return Err(Failure::transient(format!(
            "table {} was registered for another type version by a concurrent run while this bag was extracted; run it again",
            lost.join(", ")
        )));
    }
    // Only tables that hold this bag's rows are named in the catalogue.
    for name in names.iter_mut().flatten() {
        let wrote = name
            .as_ref()
            .and_then(|n| plan.tables.iter().position(|t| t.name == *n))
            .is_some_and(|i| !files[i].is_empty());
        if !wrote {
            *name = None;
        }
    }

    record.message_count = report.message_count;
    record.start_time_ns = report.start_time_ns;
    record.end_time_ns = report.end_time_ns;
    record.topics = topic_records(&topics, &names, &report);
    record
        .warnings
        .extend(report_warnings(&bag, &topics, &plan, &report));
    if report.message_count == 0 {
        record.warnings.push("the bag has no messages".to_string());
    }
    record.status = Status::Extracted;
    put_record(ctx, source, record)?;
    let first_tables: Vec<&str> = names
        .iter()
        .filter_map(|variants| variants.first().and_then(Option::as_deref))
        .collect();
    let conns_of = |table: usize| -> Vec<u32> {
        let mut c: Vec<u32> = plan
            .conn_table
            .iter()
            .filter(|&(_, &t)| t == table)
            .map(|(&c, _)| c)
            .collect();
        c.sort_unstable();
        c
    };
    let tables = plan
        .tables
        .iter()
        .enumerate()
        .zip(files.iter())
        .zip(&report.time_range_per_table)
        .filter_map(|(((i, t), f), range)| Some((i, t, f, (*range)?)))
        .filter(|(_, _, f, _)| !f.is_empty())
        .map(|(i, t, f, time_range)| ExtractedTable {
            name: t.name.clone(),
            topic: t.topic.clone(),
            datatype: t.datatype.clone(),
            conns: conns_of(i),
            layout: t.layout.clone(),
            schema: t.layout.schema().clone(),
            has_binary: t.layout.has_binary(),
            first_type: first_tables.contains(&t.name.as_str()),
            files: f.clone(),
            time_range,
            rows: report.rows_per_table[i],
        })
        .collect();
    Ok((
        tables,
        Written {
            tables: files.iter().filter(|f| !f.is_empty()).count(),
            rows: report.rows_per_table.iter().sum(),
        },
        bag,
    ))
}

/// The items' reports, in item order, as the whole bag's: counts summed,
/// times widened, warnings in item order (each unit's whole-unit facts
/// come from its home item alone); and each table's files, in row order.
fn merge_reports(tables: usize, reports: Vec<ItemReport>) -> (ExtractReport, Vec<Vec<String>>) {
    let mut all = ExtractReport {
        rows_per_table: vec![0; tables],
        invalid_utf8_per_table: vec![0; tables],
        time_range_per_table: vec![None; tables],
        ..ExtractReport::default()
    };
    let mut files = vec![Vec::new(); tables];
    for item in reports {
        let r = item.report;
        all.message_count += r.message_count;
        all.uncompressed_bytes += r.uncompressed_bytes;
        all.start_time_ns = match (all.start_time_ns, r.start_time_ns) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        all.end_time_ns = all.end_time_ns.max(r.end_time_ns);
        for (c, n) in r.messages_per_conn {
            *all.messages_per_conn.entry(c).or_default() += n;
        }
        for (c, n) in r.unknown_connections {
            *all.unknown_connections.entry(c).or_default() += n;
        }
        for (c, f) in r.decode_failures {
            let total = all.decode_failures.entry(c).or_default();
            if total.count == 0 {
                total.first_reason = f.first_reason;
            }
            total.count += f.count;
        }
        all.skipped_chunks.extend(r.skipped_chunks);
        all.partial_units.extend(r.partial_units);
        for t in 0..tables {
            all.rows_per_table[t] += r.rows_per_table.get(t).copied().unwrap_or(0);
            all.invalid_utf8_per_table[t] += r.invalid_utf8_per_table.get(t).copied().unwrap_or(0);
            if let Some(Some((lo, hi))) = r.time_range_per_table.get(t) {
                let range = &mut all.time_range_per_table[t];
                *range = Some(range.map_or((*lo, *hi), |(a, b)| (a.min(*lo), b.max(*hi))));
            }
        }
        for (t, f) in item.files.into_iter().enumerate().take(tables) {
            files[t].extend(f);
        }
    }
    (all, files)
}

/// Rewrites each table whose item parts are several and small together
/// into parts numbered from 0, recording what was rewritten under the
/// run's state first, so a finish run again after a crash uses the new
/// parts instead of reading item parts it may already have removed.
fn compact_small_tables(
    ctx: &Context,
    run: &RunPlan,
    plan: &ExtractPlan,
    files: &mut [Vec<String>],
) -> Result<(), Failure> {
    let lake = ctx.lake.as_ref();
    let mut done = runs::load_compacted(lake, run)?;
    let mut changed = false;
    for (i, t) in plan.tables.iter().enumerate() {
        if let Some(new) = done.get(&i) {
            files[i] = new.clone();
            continue;
        }
        if files[i].len() < 2 {
            continue;
        }
        let mut bytes = 0;
        for f in &files[i] {
            bytes += lake
                .len(f)
                .map_err(|e| Failure::io(format_args!("reading {}", lake.url(f)), &e))?;
        }
        if bytes >= COMPACT_BYTES {
            continue;
        }
        let dir = partition_dir(&format!("{TOPICS_DIR}/{}", t.name), &run.bag_file);
        let new = crate::writer::rewrite(
            lake,
            &dir,
            t.layout.schema().clone(),
            &files[i],
            ctx.config.extract.codec(),
        )
        .map_err(|e| Failure::io(format_args!("compacting table {}", t.name), &e))?;
        done.insert(i, new.clone());
        files[i] = new;
        changed = true;
    }
    if changed {
        runs::save_compacted(lake, run, &done)?;
    }
    Ok(())
}

/// The connections of one topic that share a type version (one layout).
struct Variant {
    /// As the catalogue names it (ROS 2: `pkg/msg/Type`).
    datatype: String,
    /// What groups the connections: the version, or the type name when no
    /// version is known.
    key: Version,
    /// The version the catalogue shows (md5sum, or the type hash computed
    /// or recorded), when known.
    version: Option<Version>,
    conns: Vec<u32>,
    layout: Result<Arc<Layout>, String>,
    /// Where the definition came from (ROS 2).
    source: Option<&'static str>,
    /// What resolving the type noticed (a recorded hash that differs).
    notes: Vec<String>,
    ros2: bool,
}

/// A topic and its types, first type first.
struct TopicGroup {
    topic: String,
    variants: Vec<Variant>,
}

/// Groups connections by topic and type version, in bag order, resolving
/// and compiling each distinct definition once.
fn group_topics(connections: &[Connection], definitions: &Definitions) -> Vec<TopicGroup> {
    type Key = (String, String, String, String, Option<String>);
    let mut groups: Vec<TopicGroup> = Vec::new();
    let mut compiled: HashMap<Key, (resolve::Resolution, Result<Arc<Layout>, String>)> =
        HashMap::new();
    let mut compile = |c: &Connection| {
        let key = (
            c.encoding.clone(),
            c.schema_encoding.clone(),
            c.datatype.clone(),
            c.definition.clone(),
            c.md5sum.clone().or_else(|| c.type_hash.clone()),
        );
        compiled
            .entry(key)
            .or_insert_with(|| {
                let r = resolve::resolve(c, definitions);
                let layout = r
                    .outcome
                    .as_ref()
                    .map(|ok| Arc::new(Layout::new(&ok.msg, ok.wire)))
                    .map_err(Clone::clone);
                (r, layout)
            })
            .clone()
    };
    for c in connections {
        let gi = match groups.iter().position(|g| g.topic == c.topic) {
            Some(i) => i,
            None => {
                groups.push(TopicGroup {
                    topic: c.topic.clone(),
                    variants: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let (resolution, layout) = compile(c);
        let key = resolution.version_key();
        let group = &mut groups[gi];
        match group.variants.iter_mut().find(|v| v.key.same(&key)) {
            Some(v) => {
                v.conns.push(c.id);
                // A later connection of the same version may carry a usable
                // definition where the first did not.
                if v.layout.is_err() && layout.is_ok() {
                    v.layout = layout;
                    v.source = resolution.outcome.as_ref().ok().map(|r| r.source.as_str());
                }
            }
            None => group.variants.push(Variant {
                datatype: resolution.datatype.clone(),
                version: resolution
                    .outcome
                    .as_ref()
                    .ok()
                    .map(|r| r.version.clone())
                    .or(resolution.version.clone()),
                key,
                conns: vec![c.id],
                source: resolution.outcome.as_ref().ok().map(|r| r.source.as_str()),
                notes: resolution.warnings.clone(),
                ros2: c.encoding != extractor::container::ENCODING_ROS1,
                layout,
            }),
        }
    }
    groups
}

/// Table names per topic group and variant (`None`: not extracted, or,
/// once extracted, no row written).
type TableNames = Vec<Vec<Option<String>>>;

/// The tables this run means to write, in input order: what a later bag
/// of the run must not take for another version before the first
/// registers it.
#[derive(Default)]
struct Intents {
    by_table: HashMap<String, (Version, serde_json::Value)>,
}

impl Intents {
    /// The table (`name`, or its suffixed form) messages of this version
    /// and schema go to, given the registry and the run's earlier bags.
    fn choose(
        &mut self,
        registry: &Registry,
        name: &str,
        version: &Version,
        schema: &arrow_schema::Schema,
        suffix_only: bool,
    ) -> std::io::Result<String> {
        let json = serde_json::to_value(schema).map_err(std::io::Error::other)?;
        let candidates = if suffix_only {
            vec![suffixed(name, version)]
        } else {
            vec![name.to_string(), suffixed(name, version)]
        };
        for (i, table) in candidates.iter().enumerate() {
            let last = i + 1 == candidates.len();
            let free = match registry.read(table)? {
                Some(_) => registry.choose(table, version, schema)? == *table,
                None => match self.by_table.get(table) {
                    Some((v, s)) => {
                        v.same(version)
                            || (std::mem::discriminant(v) != std::mem::discriminant(version)
                                && *s == json)
                    }
                    None => true,
                },
            };
            if free {
                self.by_table
                    .entry(table.clone())
                    .or_insert((version.clone(), json.clone()));
                return Ok(table.clone());
            }
            if last {
                return Err(std::io::Error::other(format!(
                    "table {table} is registered in _schemas/{table}.json for another type version than {}",
                    version.text()
                )));
            }
        }
        unreachable!("the last candidate returns")
    }
}

/// Chooses a table for every extracted, decodable topic type.
fn plan_tables(
    groups: &[TopicGroup],
    config: &Config,
    registry: &Registry,
    intents: &mut Intents,
) -> std::io::Result<(ExtractPlan, TableNames)> {
    let mut taken: HashMap<String, &str> = HashMap::new();
    let mut names: TableNames = groups
        .iter()
        .map(|g| vec![None; g.variants.len()])
        .collect();
    for (gi, g) in groups.iter().enumerate() {
        if !config.extract.topics.is_empty() && !config.extract.topics.contains(&g.topic) {
            continue;
        }
        let mut base = table_name(&g.topic);
        match taken.get(&base) {
            Some(other) if *other != g.topic => {
                base = format!("{base}__{}", md5_prefix_of(&g.topic));
            }
            _ => {}
        }
        taken.insert(base.clone(), &g.topic);
        for (vi, v) in g.variants.iter().enumerate() {
            let Ok(layout) = &v.layout else { continue };
            let Some(version) = &v.version else { continue };
            let name = intents.choose(registry, &base, version, layout.schema(), vi > 0)?;
            names[gi][vi] = Some(name);
        }
    }
    Ok((extract_plan_of(groups, &names), names))
}

/// The extract plan of the tables `names` chose: one table per named
/// topic type, in topic order.
fn extract_plan_of(groups: &[TopicGroup], names: &TableNames) -> ExtractPlan {
    let mut plan = ExtractPlan::default();
    for (g, names) in groups.iter().zip(names) {
        for (v, name) in g.variants.iter().zip(names) {
            let (Some(name), Ok(layout), Some(version)) = (name, &v.layout, &v.version) else {
                continue;
            };
            let index = plan.tables.len();
            plan.tables.push(TablePlan {
                name: name.clone(),
                topic: g.topic.clone(),
                datatype: v.datatype.clone(),
                version: version.clone(),
                layout: layout.clone(),
            });
            for &conn in &v.conns {
                plan.conn_table.insert(conn, index);
            }
        }
    }
    plan
}

/// The `topics` map of the catalogue item.
fn topic_records(
    groups: &[TopicGroup],
    names: &TableNames,
    report: &ExtractReport,
) -> BTreeMap<String, TopicRecord> {
    groups
        .iter()
        .zip(names)
        .map(|(g, names)| {
            let mut variants = g.variants.iter().zip(names).map(|(v, table)| {
                let (md5sum, type_hash) = match (&v.version, v.ros2) {
                    (Some(Version::Md5(m)), _) => (Some(m.clone()), None),
                    (Some(Version::TypeHash(h)), _) => (None, Some(h.clone())),
                    (None, _) => (None, None),
                };
                TopicVariant {
                    datatype: v.datatype.clone(),
                    md5sum,
                    type_hash,
                    definition_source: v.source.map(str::to_string).filter(|_| v.ros2),
                    message_count: v
                        .conns
                        .iter()
                        .map(|c| report.messages_per_conn.get(c).copied().unwrap_or(0))
                        .sum(),
                    table: table.clone(),
                }
            });
            let first = variants
                .next()
                .expect("a topic has at least one connection");
            (
                g.topic.clone(),
                TopicRecord {
                    first,
                    variants: variants.collect(),
                },
            )
        })
        .collect()
}

/// Per-topic warnings: unusable definitions, messages that did not decode,
/// replaced UTF-8, units skipped, unknown connections.
fn report_warnings(
    bag: &Bag,
    groups: &[TopicGroup],
    plan: &ExtractPlan,
    report: &ExtractReport,
) -> Vec<String> {
    let layout = &bag.layout;
    let mut warnings = Vec::new();
    for (unit, reason) in &report.skipped_chunks {
        warnings.push(format!("{unit} skipped: {reason}"));
    }
    warnings.extend(report.partial_units.iter().cloned());
    for (conn, n) in &report.unknown_connections {
        warnings.push(format!(
            "{n} messages name connection id {conn}, which no connection record defines; skipped"
        ));
    }
    for g in groups {
        for v in &g.variants {
            let read: u64 = v
                .conns
                .iter()
                .map(|c| report.messages_per_conn.get(c).copied().unwrap_or(0))
                .sum();
            for note in &v.notes {
                warnings.push(format!("topic {}: {note}", g.topic));
            }
            if let Err(reason) = &v.layout {
                let at = v
                    .conns
                    .first()
                    .map(|c| match layout.connection_offsets.get(c) {
                        Some(offset) => format!(" (connection {c}, defined at offset {offset})"),
                        None => {
                            let file = layout.connection(*c).map_or(0, |conn| conn.file);
                            format!(" ({})", layout.in_file(file, format!("connection {c}")))
                        }
                    })
                    .unwrap_or_default();
                let what = if v.datatype.is_empty() {
                    "definition".to_string()
                } else {
                    format!("definition of {}", v.datatype)
                };
                // A topic with no message needs no warning: nothing is lost.
                if read > 0 {
                    warnings.push(format!(
                        "topic {}: {what}{at} unusable ({reason}); {read} messages skipped",
                        g.topic
                    ));
                }
            }
        }
        let failed: Vec<_> = g
            .variants
            .iter()
            .flat_map(|v| v.conns.iter())
            .filter_map(|c| report.decode_failures.get(c))
            .collect();
        let count: u64 = failed.iter().map(|f| f.count).sum();
        if count > 0 {
            warnings.push(format!(
                "topic {}: {count} messages skipped: {}",
                g.topic, failed[0].first_reason
            ));
        }
        let invalid: u64 = plan
            .tables
            .iter()
            .enumerate()
            .filter(|(_, t)| t.topic == g.topic)
            .map(|(i, _)| report.invalid_utf8_per_table[i])
            .sum();
        if invalid > 0 {
            warnings.push(format!(
                "topic {}: {invalid} strings with invalid UTF-8 replaced by U+FFFD",
                g.topic
            ));
        }
    }
    warnings
}
