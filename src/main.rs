//! The `bagpipe` command line: `run` turns bags into the lake, `inspect`
//! shows what a bag holds. `main` alone maps outcomes to exit codes:
//! 0 every bag succeeded, 1 any bag failed, 2 a usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use bagpipe::catalog::{JsonlStore, LOCAL_SCENES_PATH, Status};
use bagpipe::config::Config;
use bagpipe::inspect::{describe, format_bytes, scan};
use bagpipe::outputs::{open_lake, open_stores};
use bagpipe::pipeline::{self, BagOutcome, Context, NoProgress, Progress, Source};
use clap::{Parser, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// ROS bags to a Parquet analytics lake and a catalogue of driving scenes.
///
/// `bagpipe run` reads ROS1 bags (v2.0; chunks raw, bz2 or lz4) and ROS 2
/// bags (MCAP, rosbag2 sqlite3 `.db3`, rosbag2 directories, whole files
/// compressed `.zstd`), decodes every message from the definitions the bag
/// carries, and writes one Hive-partitioned Parquet table per topic under
/// the output root, the synchronized table, the scenes and what a person
/// opens to see them, with a catalogue item per bag. `bagpipe inspect`
/// shows what a bag holds. The reference of every output and key is in
/// the repository's docs/ (docs/README.md).
#[derive(Parser, Debug)]
#[command(name = "bagpipe", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Compressed bytes of a bag per work item, by default.
const DEFAULT_ITEM_BYTES: u64 = 2 << 30;

/// Where a run writes, and how it runs: shared by run, plan, work, finish.
#[derive(clap::Args, Debug, Clone)]
struct Outputs {
    /// TOML configuration (every key optional; see
    /// docs/configuration.md).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output root: a local directory (plain path or file://) or
    /// s3://bucket/prefix.
    #[arg(long, value_name = "ROOT")]
    out: String,
    /// DynamoDB table for the scene records (partition key bag_file,
    /// sort key scene_id); default: the local store in the lake.
    #[arg(long, value_name = "NAME")]
    scenes_table: Option<String>,
    /// DynamoDB table for the bag catalogue (partition key bag_file);
    /// default: the local store in the lake.
    #[arg(long, value_name = "NAME")]
    bags_table: Option<String>,
    /// Glue database to register each table the run writes in (created
    /// if absent, new columns added) with the bag's partition, so
    /// Athena sees it at once; default: none (see athena-ddl).
    #[arg(long, value_name = "NAME")]
    glue_database: Option<String>,
}

/// A run `plan` started: where it writes, its bag, its id.
#[derive(clap::Args, Debug, Clone)]
struct Planned {
    #[command(flatten)]
    outputs: Outputs,
    /// The bag the run planned.
    #[arg(value_name = "BAG")]
    bag: String,
    /// The run id `plan` printed.
    #[arg(long, value_name = "RUN_ID")]
    run: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the pipeline on bags and write the lake.
    ///
    /// Each INPUT is a bag file (`.bag`, `.mcap`, `.db3`, each optionally
    /// `.zstd`), a rosbag2 directory (with `metadata.yaml`), a directory
    /// searched recursively for bags (in byte order of the full path),
    /// `s3://bucket/key` or `s3://bucket/prefix/` (every bag under it).
    /// Every stage runs on each bag: the topic tables
    /// `topics/<table>/bag_file=<bag>/`, the 100 ms timeline
    /// `synchronized/`, lane assignment per tick `scene_detections/`, the
    /// person-in-lane scenes `scenes/`, all Parquet files
    /// `part-NNNNN.parquet`; the schema registry `_schemas/`; per scene an
    /// MCAP clip and an OpenLABEL label in `exports/<bag>/`; the report
    /// `reports/<bag>.html` and `reports/index.html`; the scene records and
    /// the bag catalogue in `dynamodb/scenes.jsonl` and
    /// `dynamodb/bags.jsonl` (DynamoDB export format). docs/lake.md,
    /// docs/catalogue.md and docs/exports.md describe each.
    ///
    /// With --scenes-table/--bags-table the records go to those DynamoDB
    /// tables instead (endpoint, region and credentials from the standard
    /// AWS environment, AWS_ENDPOINT_URL included; S3 likewise).
    ///
    /// Re-running a bag replaces its outputs exactly. Exit status: 0 when
    /// every bag succeeded, 1 when any failed (the others still complete),
    /// 2 for a usage error.
    ///
    /// Example: bagpipe run --config sample-bags/bagpipe.toml --out lake sample-bags
    Run {
        #[command(flatten)]
        outputs: Outputs,
        /// Bag files, directories of bags, s3://bucket/key or s3://bucket/prefix/.
        #[arg(value_name = "INPUT", required = true)]
        inputs: Vec<String>,
        /// Print no progress bars.
        #[arg(long, short)]
        quiet: bool,
        /// Extract each bag with N worker processes at once: plan, N
        /// concurrent `bagpipe work` processes over the plan's items, then
        /// finish (the same steps the state machine runs on AWS). Default:
        /// one process, the bag in one item.
        #[arg(long, value_name = "N")]
        workers: Option<usize>,
        /// With --workers: compressed bytes of the bag per work item
        /// (about; at most 998 items).
        #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_ITEM_BYTES)]
        item_bytes: u64,
    },
    /// Plan a run of one bag cut into work items (the first of the three
    /// steps `run --workers` and the state machine drive).
    ///
    /// Reads only the bag's header and index, claims its tables, cuts it
    /// into log-time windows of about --item-bytes compressed bytes (a bag
    /// that cannot be cut is one item), marks its catalogue item
    /// EXTRACTING, and writes the run's state under
    /// `_runs/<bag_file>/<run_id>/`. Prints the run as JSON: run, work_items,
    /// items_key (the items list, one element per item).
    Plan {
        #[command(flatten)]
        outputs: Outputs,
        /// The bag: a file, a rosbag2 directory or s3://bucket/key.
        #[arg(value_name = "BAG")]
        bag: String,
        /// Compressed bytes of the bag per work item (about).
        #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_ITEM_BYTES)]
        item_bytes: u64,
    },
    /// Extract one work item of a planned run into its own part files,
    /// then write its report (running an item again writes the same files).
    Work {
        #[command(flatten)]
        planned: Planned,
        /// The item's number, from 0.
        #[arg(long, value_name = "K")]
        item: usize,
    },
    /// Finish a planned run: requires every item's report, merges them into
    /// the catalogue item, removes stale files, rewrites small tables,
    /// then synchronizes, finds scenes, exports and registers as `run` does.
    Finish {
        #[command(flatten)]
        planned: Planned,
    },
    /// List the scene records of a lake's local scene store (a local
    /// directory or s3://bucket/prefix), each with its MCAP clip.
    ///
    /// Example: bagpipe scenes lake --bag drive_0001_raw
    Scenes {
        /// The output root given to `run --out`.
        #[arg(value_name = "LAKE")]
        lake: String,
        /// Only the scenes of this bag_file.
        #[arg(long, value_name = "BAG_FILE")]
        bag: Option<String>,
    },
    /// Print the Athena DDL that registers a lake's tables: one CREATE
    /// EXTERNAL TABLE per table (columns from the Parquet footers, the union
    /// over the partitions) and one ALTER TABLE ... ADD PARTITION per bag.
    ///
    /// Example: bagpipe athena-ddl lake --location s3://my-lake/lake
    AthenaDdl {
        /// The output root given to `run --out` (local or s3://).
        #[arg(value_name = "ROOT")]
        root: String,
        /// Where the lake is for Athena, if not at ROOT (a local lake
        /// copied to S3): replaces ROOT's URL in every LOCATION.
        #[arg(long, value_name = "URL")]
        location: Option<String>,
    },
    /// Show what a bag holds: topics, types, counts, time span, chunks.
    ///
    /// With --scan, also read and decompress every chunk (decoding
    /// nothing) and print how fast: the floor for extraction speed.
    Inspect {
        /// The bag: a file, a rosbag2 directory or s3://bucket/key.
        #[arg(value_name = "BAG")]
        bag: String,
        /// Read and decompress every chunk and report the throughput.
        #[arg(long)]
        scan: bool,
    },
}

/// mimalloc returns freed chunk and row-group buffers to the system promptly;
/// with glibc's allocator peak RSS crept up with bag size (250 MiB at 1 GB,
/// 296 MiB at 4 GB, `bench/extract.sh`), and pinning glibc's mmap threshold
/// flattened it but cost a third more time in page faults.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `writeln!` into a `String` (which cannot fail).
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Writes a command's output to stdout. A reader that went away (`| head`)
/// ends the output quietly, as in any Unix tool; other errors are reported.
fn emit(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => eprintln!("error: writing to stdout: {e}"),
    }
}

/// A usage error: exit status 2, before any bag runs.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

fn main() -> ExitCode {
    bagpipe::no_huge_pages();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BAGPIPE_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(bagpipe::DEFAULT_LOG_FILTER)
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Run {
            outputs,
            inputs,
            quiet,
            workers,
            item_bytes,
        } => run(&outputs, &inputs, quiet, workers.map(|n| (n, item_bytes))),
        Command::Plan {
            outputs,
            bag,
            item_bytes,
        } => plan(&outputs, &bag, item_bytes),
        Command::Work { planned, item } => work(&planned, item),
        Command::Finish { planned } => finish(&planned),
        Command::Scenes { lake, bag } => {
            list_scenes(&lake, bag.as_deref()).map(|()| ExitCode::SUCCESS)
        }
        Command::AthenaDdl { root, location } => {
            athena_ddl(&root, location.as_deref()).map(|()| ExitCode::SUCCESS)
        }
        Command::Inspect { bag, scan } => inspect(&bag, scan).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The DynamoDB tables named on the command line.
struct Tables {
    scenes: Option<String>,
    bags: Option<String>,
    glue_database: Option<String>,
}

/// The lake at an output root; a malformed root is a usage error.
fn lake_at(root: &str) -> Result<Arc<dyn bagpipe::lake::Lake>> {
    open_lake(root).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput => usage(e.to_string()),
        _ => anyhow::Error::new(e).context(format!("opening the output root {root}")),
    })
}

/// The configuration a `--config` names, or the defaults.
fn load_config(config: Option<&PathBuf>) -> Result<Config> {
    let Some(path) = config else {
        return Ok(Config::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("--config {}: {e}", path.display())))?;
    let mut config =
        Config::from_toml(&text).map_err(|e| usage(format!("--config {}: {e}", path.display())))?;
    // msg_paths are relative to the configuration file.
    let base = path.parent().unwrap_or(std::path::Path::new(""));
    for dir in &mut config.extract.msg_paths {
        if dir.is_relative() {
            *dir = base.join(&*dir);
        }
    }
    Ok(config)
}

/// The bags the inputs name; none is a usage error.
fn sources_of(inputs: &[String]) -> Result<Vec<Source>> {
    let mut sources: Vec<Source> = Vec::new();
    for input in inputs {
        if input.contains("://") && !input.starts_with("s3://") && !input.starts_with("file://") {
            return Err(usage(format!(
                "{input}: an input is a local file or directory, s3://bucket/key or s3://bucket/prefix/"
            )));
        }
        let found = pipeline::inputs(input).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidInput => {
                usage(format!("{input}: {e}"))
            }
            _ => anyhow::Error::new(e).context(format!("listing {input}")),
        })?;
        if found.is_empty() {
            return Err(usage(format!(
                "{input}: no bags found (.bag, .mcap or .db3 files, each also as .zstd, or rosbag2 directories)"
            )));
        }
        sources.extend(found);
    }
    Ok(sources)
}

/// The one bag a step names.
fn one_source(bag: &str) -> Result<Source> {
    let mut sources = sources_of(&[bag.to_string()])?;
    if sources.len() != 1 {
        return Err(usage(format!(
            "{bag}: names {} bags; plan, work and finish take one",
            sources.len()
        )));
    }
    Ok(sources.remove(0))
}

/// The context of a run writing to `outputs`.
fn context(outputs: &Outputs, inputs: &[String], quiet: bool) -> Result<Context> {
    let config = load_config(outputs.config.as_ref())?;
    let tables = Tables {
        scenes: outputs.scenes_table.clone(),
        bags: outputs.bags_table.clone(),
        glue_database: outputs.glue_database.clone(),
    };
    needs_aws(&outputs.out, inputs, &tables)?;
    let lake = lake_at(&outputs.out)?;
    let stores = open_stores(&lake, tables.bags.as_deref(), tables.scenes.as_deref())?;
    let bars = MultiProgress::new();
    Ok(Context {
        lake,
        bags: stores.bags,
        scenes: stores.scenes,
        tables: tables
            .glue_database
            .map(|db| glue_catalog(&db))
            .transpose()?,
        config,
        progress: Box::new(move |name, total| progress_bar(&bars, name, total, quiet)),
    })
}

fn exit_code(outcomes: &[BagOutcome]) -> ExitCode {
    if outcomes.iter().any(|o| o.status == Status::Failed) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn run(
    outputs: &Outputs,
    inputs: &[String],
    quiet: bool,
    workers: Option<(usize, u64)>,
) -> Result<ExitCode> {
    let sources = sources_of(inputs)?;
    let ctx = context(outputs, inputs, quiet)?;
    let outcomes = match workers {
        None => pipeline::run(&ctx, &sources),
        Some((0, _)) => return Err(usage("--workers: at least 1")),
        Some((n, item_bytes)) => sources
            .iter()
            .map(|source| run_with_workers(&ctx, outputs, source, n, item_bytes))
            .collect(),
    };
    print_summary(&outcomes);
    Ok(exit_code(&outcomes))
}

/// Plan, `workers` concurrent `bagpipe work` processes over the items,
/// finish: one bag, as the state machine runs it on AWS.
fn run_with_workers(
    ctx: &Context,
    outputs: &Outputs,
    source: &Source,
    workers: usize,
    item_bytes: u64,
) -> BagOutcome {
    let run = match pipeline::plan(ctx, source, item_bytes) {
        Ok(run) => run,
        // Refused (another run holds the bag, another source owns its
        // name): nothing written. Otherwise the bag is marked failed.
        Err(failure) if failure.retryable => {
            return BagOutcome::failed(source.bag_file(), source, failure);
        }
        Err(failure) => return pipeline::fail(ctx, source, None, &failure.message),
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return pipeline::fail(ctx, source, Some(&run.run_id), &e.to_string()),
    };
    let pending: std::sync::Mutex<Vec<usize>> =
        std::sync::Mutex::new((0..run.items.len()).rev().collect());
    let failed: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers.min(run.items.len()) {
            scope.spawn(|| {
                while let Some(k) = pending.lock().expect("lock").pop() {
                    let mut cmd = std::process::Command::new(&exe);
                    cmd.arg("work").arg("--out").arg(&outputs.out);
                    if let Some(config) = &outputs.config {
                        cmd.arg("--config").arg(config);
                    }
                    cmd.args(["--run", &run.run_id, "--item", &k.to_string()])
                        .arg(&source.url)
                        .stdout(std::process::Stdio::null());
                    match cmd.status() {
                        Ok(status) if status.success() => {}
                        Ok(status) => failed
                            .lock()
                            .expect("lock")
                            .push(format!("item {k} ({status})")),
                        Err(e) => failed.lock().expect("lock").push(format!("item {k} ({e})")),
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().expect("lock");
    if !failed.is_empty() {
        tracing::warn!(bag = %run.bag_file, items = %failed.join(", "), "work items failed");
    }
    // Finish names any item without a report.
    pipeline::finish(ctx, source, &run.run_id)
}

fn plan(outputs: &Outputs, bag: &str, item_bytes: u64) -> Result<ExitCode> {
    let source = one_source(bag)?;
    let ctx = context(outputs, &[bag.to_string()], true)?;
    match pipeline::plan(&ctx, &source, item_bytes) {
        Ok(run) => {
            let items = bagpipe::runs::items_path(&run.bag_file, &run.run_id);
            emit(&format!(
                "{}\n",
                serde_json::json!({
                    "run": run.run_id,
                    "bag_file": run.bag_file,
                    "work_items": run.items.len(),
                    "items_key": ctx.lake.url(&items),
                    "whole_because": run.whole_because,
                    "amplification": run.amplification,
                })
            ));
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => Err(anyhow::anyhow!("{}: {}", source.url, failure.message)),
    }
}

fn work(planned: &Planned, item: usize) -> Result<ExitCode> {
    let Planned { outputs, bag, run } = planned;
    let source = one_source(bag)?;
    let ctx = context(outputs, std::slice::from_ref(bag), true)?;
    pipeline::work(&ctx, &source, run, item)
        .map_err(|failure| anyhow::anyhow!("{}: item {item}: {}", source.url, failure.message))?;
    Ok(ExitCode::SUCCESS)
}

fn finish(planned: &Planned) -> Result<ExitCode> {
    let Planned { outputs, bag, run } = planned;
    let source = one_source(bag)?;
    let ctx = context(outputs, std::slice::from_ref(bag), true)?;
    let outcomes = vec![pipeline::finish(&ctx, &source, run)];
    print_summary(&outcomes);
    Ok(exit_code(&outcomes))
}

/// In a build without AWS support, anything on AWS is a usage error before
/// any bag runs (not a failed bag).
#[cfg(not(feature = "aws"))]
fn needs_aws(out: &str, inputs: &[String], tables: &Tables) -> Result<()> {
    let named = [
        ("--scenes-table", &tables.scenes),
        ("--bags-table", &tables.bags),
        ("--glue-database", &tables.glue_database),
    ];
    let what = std::iter::once(out)
        .chain(inputs.iter().map(String::as_str))
        .find(|s| s.starts_with("s3://"))
        .map(str::to_string)
        .or_else(|| {
            named
                .iter()
                .find_map(|(flag, v)| v.as_ref().map(|v| format!("{flag} {v}")))
        });
    match what {
        Some(what) => Err(usage(bagpipe::s3::unsupported(&what).to_string())),
        None => Ok(()),
    }
}

/// This build reaches AWS.
#[cfg(feature = "aws")]
fn needs_aws(_: &str, _: &[String], _: &Tables) -> Result<()> {
    Ok(())
}

/// The Glue Data Catalog database tables are registered in.
#[cfg(feature = "aws")]
fn glue_catalog(db: &str) -> Result<Arc<dyn bagpipe::athena::TableCatalog>> {
    Ok(Arc::new(bagpipe::glue::GlueCatalog::new(db)))
}

/// Glue: not in this build (a usage error, before any bag runs).
#[cfg(not(feature = "aws"))]
fn glue_catalog(db: &str) -> Result<Arc<dyn bagpipe::athena::TableCatalog>> {
    Err(usage(
        bagpipe::s3::unsupported(&format!("--glue-database {db}")).to_string(),
    ))
}

/// A progress bar that appears only once a bag takes more than a moment,
/// and only on a terminal.
struct Bar {
    bars: MultiProgress,
    bar: ProgressBar,
    started: Instant,
    shown: std::sync::atomic::AtomicBool,
    quiet: bool,
}

/// How long a bag runs before its progress bar appears.
const PROGRESS_DELAY: Duration = Duration::from_millis(700);

impl Progress for Bar {
    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
        if !self.quiet
            && self.started.elapsed() > PROGRESS_DELAY
            && !self.shown.swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            self.bars.add(self.bar.clone());
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn progress_bar(bars: &MultiProgress, name: &str, total: u64, quiet: bool) -> Box<dyn Progress> {
    if quiet {
        return Box::new(NoProgress);
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(name.to_string());
    Box::new(Bar {
        bars: bars.clone(),
        bar,
        started: Instant::now(),
        shown: std::sync::atomic::AtomicBool::new(false),
        quiet,
    })
}

fn print_summary(outcomes: &[BagOutcome]) {
    let mut out = String::new();
    for o in outcomes {
        for w in &o.warnings {
            eprintln!("warning: {}: {w}", o.bag_file);
        }
        if let Some(e) = &o.error {
            eprintln!("error: {}: {e}", o.bag_file);
        }
    }
    let width = outcomes
        .iter()
        .map(|o| o.bag_file.len())
        .max()
        .unwrap_or(8)
        .max(8);
    outln!(
        out,
        "{:width$}  {:12}  {:>10}  {:>6}  {:>6}  {:>6}  {:>6}  {:>8}  {:>9}  {:>8}",
        "bag_file",
        "status",
        "messages",
        "topics",
        "tables",
        "ticks",
        "scenes",
        "warnings",
        "size",
        "time"
    );
    for o in outcomes {
        outln!(
            out,
            "{:width$}  {:12}  {:>10}  {:>6}  {:>6}  {:>6}  {:>6}  {:>8}  {:>9}  {:>7.2}s",
            o.bag_file,
            o.status.as_str(),
            o.message_count,
            o.topics,
            o.tables_written,
            o.ticks,
            o.scenes,
            o.warnings.len(),
            format_bytes(o.bytes),
            o.elapsed.as_secs_f64()
        );
    }
    let failed = outcomes
        .iter()
        .filter(|o| o.status == Status::Failed)
        .count();
    outln!(out, "{} bags, {} failed", outcomes.len(), failed);
    emit(&out);
}

/// Prints the scene records of a local lake as a table.
fn list_scenes(root: &str, bag: Option<&str>) -> Result<()> {
    let lake = lake_at(root)?;
    if lake.get(LOCAL_SCENES_PATH)?.is_none() {
        return Err(usage(format!(
            "{root}: no scene store ({LOCAL_SCENES_PATH}); is it the --out of a run?"
        )));
    }
    let store = JsonlStore::open(
        lake.clone(),
        LOCAL_SCENES_PATH,
        "bag_file",
        Some("scene_id"),
    )?;
    let mut out = String::new();
    let mut items = store.all();
    if let Some(bag) = bag {
        items.retain(|i| i.get("bag_file").and_then(|a| a.as_s()) == Some(bag));
    }
    let text = |i: &bagpipe::catalog::Item, k: &str| match i.get(k) {
        Some(bagpipe::catalog::Attr::S(s) | bagpipe::catalog::Attr::N(s)) => s.clone(),
        _ => String::new(),
    };
    let num = |i: &bagpipe::catalog::Item, k: &str| text(i, k).parse::<i64>().unwrap_or(0);
    items.sort_by_key(|i| (text(i, "bag_file"), num(i, "start_time_ns")));
    let width = items
        .iter()
        .map(|i| text(i, "bag_file").len())
        .max()
        .unwrap_or(8)
        .max(8);
    outln!(
        out,
        "{:width$}  {:13}  {:27}  {:>10}  {:>7}  {:>7}  clip",
        "bag_file",
        "scene_type",
        "start (UTC)",
        "length_ms",
        "start_n",
        "max_n"
    );
    for i in &items {
        let start = u64::try_from(num(i, "start_time_ns")).unwrap_or(0);
        let clip = text(i, "clip_url");
        outln!(
            out,
            "{:width$}  {:13}  {:27}  {:>10}  {:>7}  {:>7}  {}",
            text(i, "bag_file"),
            text(i, "scene_type"),
            bagpipe::inspect::format_time(start),
            text(i, "scene_length_ms"),
            text(i, "num_people_in_scene_start"),
            text(i, "max_people_in_lane"),
            if clip.is_empty() { "-" } else { clip.as_str() },
        );
    }
    outln!(out, "{} scenes", items.len());
    emit(&out);
    Ok(())
}

fn athena_ddl(root: &str, location: Option<&str>) -> Result<()> {
    let lake = lake_at(root)?;
    let tables = bagpipe::athena::lake_tables(lake.as_ref())
        .with_context(|| format!("reading the tables of {root}"))?;
    if tables.is_empty() {
        return Err(usage(format!(
            "{root}: no tables; is it the --out of a run?"
        )));
    }
    let base = lake.url("");
    let rebase = location.map(|to| (base.as_str(), format!("{}/", to.trim_end_matches('/'))));
    emit(&bagpipe::athena::ddl(
        &tables,
        rebase.as_ref().map(|(from, to)| (*from, to.as_str())),
    ));
    Ok(())
}

fn inspect(bag: &str, do_scan: bool) -> Result<()> {
    let found = pipeline::inputs(bag).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidInput => {
            usage(format!("{bag}: {e}"))
        }
        _ => anyhow::Error::new(e).context(format!("listing {bag}")),
    })?;
    let source = match found.as_slice() {
        [one] => one.clone(),
        [] => return Err(usage(format!("{bag}: no bag there"))),
        many => {
            return Err(usage(format!(
                "{bag}: holds {} bags; inspect one of them ({}, ...)",
                many.len(),
                many[0].url
            )));
        }
    };
    // The error names the file or object already.
    let opened = source
        .open()
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let layout = &opened.layout;
    let mut out = String::new();
    out.push_str(&describe(bag, layout));
    if do_scan {
        let r = scan(&opened);
        let mb = r.compressed_bytes as f64 / 1e6;
        outln!(
            out,
            "scan:        {} chunks ({} failed), {} messages, {} read, {} decompressed in {:.3} s: {:.1} MB/s",
            r.chunks,
            r.failed_chunks,
            r.messages,
            format_bytes(r.compressed_bytes),
            format_bytes(r.uncompressed_bytes),
            r.seconds,
            mb / r.seconds.max(1e-9)
        );
    }
    emit(&out);
    Ok(())
}
