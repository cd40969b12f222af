//! The `bagpipe` command line: `run` turns bags into the lake, `inspect`
//! shows what a bag holds. `main` alone maps outcomes to exit codes:
//! 0 every bag succeeded, 1 any bag failed, 2 a usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use bagpipe::catalog::{JsonlStore, LOCAL_BAGS_PATH, Status};
use bagpipe::config::Config;
use bagpipe::inspect::{describe, format_bytes, scan};
use bagpipe::lake::{Lake, LocalLake};
use bagpipe::pipeline::{self, BagOutcome, Context, NoProgress, Progress, Source};
use clap::{Parser, Subcommand};
use extractor::source::FileSource;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// ROS bags to a Parquet analytics lake and a catalogue of driving scenes.
///
/// `bagpipe run` reads ROS1 bags (v2.0; chunks raw, bz2 or lz4), decodes
/// every message from the definitions embedded in the bag, and writes one
/// Hive-partitioned Parquet table per topic under the output root, with a
/// catalogue item per bag. `bagpipe inspect` shows what a bag holds.
#[derive(Parser, Debug)]
#[command(name = "bagpipe", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the pipeline on bags and write the lake.
    ///
    /// Each INPUT is a bag file or a directory searched recursively for
    /// `.bag` files (in byte order of the full path). Outputs go under
    /// ROOT: `topics/<table>/bag_file=<bag>/part-NNNNN.parquet`, the
    /// schema registry `_schemas/`, and the bag catalogue
    /// `dynamodb/bags.jsonl` (DynamoDB export format).
    ///
    /// Re-running a bag replaces its outputs exactly. Exit status: 0 when
    /// every bag succeeded, 1 when any failed (the others still complete),
    /// 2 for a usage error.
    ///
    /// Example: bagpipe run --config sample-bags/bagpipe.toml --out lake sample-bags
    Run {
        /// TOML configuration (every key optional; see CONTRACT.md).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Output root: a local directory (plain path or file://).
        #[arg(long, value_name = "ROOT")]
        out: String,
        /// Bag files or directories of bags.
        #[arg(value_name = "INPUT", required = true)]
        inputs: Vec<String>,
        /// Print no progress bars.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Show what a bag holds: topics, types, counts, time span, chunks.
    ///
    /// With --scan, also read and decompress every chunk (decoding
    /// nothing) and print how fast: the floor for extraction speed.
    Inspect {
        /// The bag file.
        #[arg(value_name = "BAG")]
        bag: PathBuf,
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
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BAGPIPE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Run {
            config,
            out,
            inputs,
            quiet,
        } => run(config, &out, &inputs, quiet),
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

/// A local output root from a plain path or a `file://` URL.
fn local_root(out: &str) -> Result<PathBuf> {
    if let Some(path) = out.strip_prefix("file://") {
        let decoded = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| usage(format!("--out {out}: not valid UTF-8 once decoded")))?;
        return Ok(PathBuf::from(decoded.as_ref()));
    }
    if out.contains("://") {
        return Err(usage(format!(
            "--out {out}: only local output roots are supported in this version (S3 comes with the AWS back-end)"
        )));
    }
    Ok(PathBuf::from(out))
}

fn run(config: Option<PathBuf>, out: &str, inputs: &[String], quiet: bool) -> Result<ExitCode> {
    let config = match config {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| usage(format!("--config {}: {e}", path.display())))?;
            Config::from_toml(&text)
                .map_err(|e| usage(format!("--config {}: {e}", path.display())))?
        }
        None => Config::default(),
    };
    let mut sources: Vec<Source> = Vec::new();
    for input in inputs {
        if input.contains("://") {
            return Err(usage(format!(
                "{input}: only local files and directories are supported in this version"
            )));
        }
        let found = pipeline::local_inputs(std::path::Path::new(input))
            .map_err(|e| usage(format!("{input}: {e}")))?;
        if found.is_empty() {
            return Err(usage(format!("{input}: no .bag files found")));
        }
        sources.extend(found);
    }
    let root = local_root(out)?;
    let lake: Arc<dyn Lake> =
        Arc::new(LocalLake::new(&root).with_context(|| format!("creating {}", root.display()))?);
    let bags = JsonlStore::open(lake.clone(), LOCAL_BAGS_PATH, "bag_file", None)
        .with_context(|| format!("opening the bag catalogue {}", lake.url(LOCAL_BAGS_PATH)))?;
    let ctx = Context {
        lake,
        bags: Arc::new(bags),
        config,
        progress: Box::new(move |name, total| progress_bar(name, total, quiet)),
    };
    let outcomes = pipeline::run(&ctx, &sources);
    print_summary(&outcomes);
    let failed = outcomes.iter().any(|o| o.status == Status::Failed);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A progress bar that appears only once a bag takes more than a moment,
/// and only on a terminal.
struct Bar {
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
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn progress_bar(name: &str, total: u64, quiet: bool) -> Box<dyn Progress> {
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
        bar,
        started: Instant::now(),
        shown: std::sync::atomic::AtomicBool::new(false),
        quiet,
    })
}

fn print_summary(outcomes: &[BagOutcome]) {
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
    println!(
        "{:width$}  {:9}  {:>10}  {:>6}  {:>6}  {:>8}  {:>9}  {:>8}",
        "bag_file", "status", "messages", "topics", "tables", "warnings", "size", "time"
    );
    for o in outcomes {
        println!(
            "{:width$}  {:9}  {:>10}  {:>6}  {:>6}  {:>8}  {:>9}  {:>7.2}s",
            o.bag_file,
            o.status.as_str(),
            o.message_count,
            o.topics,
            o.tables_written,
            o.warnings.len(),
            format_bytes(o.bytes),
            o.elapsed.as_secs_f64()
        );
    }
    let failed = outcomes
        .iter()
        .filter(|o| o.status == Status::Failed)
        .count();
    println!("{} bags, {} failed", outcomes.len(), failed);
}

fn inspect(bag: &std::path::Path, do_scan: bool) -> Result<()> {
    let src = FileSource::open(bag).map_err(|e| usage(format!("{}: {e}", bag.display())))?;
    let layout = extractor::bag::read_layout(&src).with_context(|| bag.display().to_string())?;
    print!("{}", describe(&bag.display().to_string(), &layout));
    if do_scan {
        let r = scan(&src, &layout);
        let mb = r.compressed_bytes as f64 / 1e6;
        println!(
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
    Ok(())
}
