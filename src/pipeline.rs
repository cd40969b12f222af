//! One run of the pipeline over a list of bags: resolving inputs, the
//! `bag_file` conflict rule, and each bag's stages (extract now; sync and
//! scenes in later stages), with its catalogue item kept current.
//!
//! Everything here goes through [`Lake`] and [`ItemStore`], so the local
//! back-ends and the AWS ones share this logic.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use extractor::bag::{self, BagLayout};
use extractor::decode::Layout;
use extractor::extract::{self, ExtractPlan, ExtractReport, TablePlan};
use extractor::records::Connection;
use extractor::source::{FileSource, ReadAt};

use crate::athena::{self, TableCatalog, TableDef};
use crate::catalog::{Attr, BagRecord, ItemStore, Status, TopicRecord, TopicVariant};
use crate::config::Config;
use crate::failure::Failure;
use crate::lake::{Lake, encode_path};
use crate::naming::{bag_file, md5_prefix, md5_prefix_of, table_name};
use crate::registry::Registry;
use crate::s3::{S3Source, S3Url};
use crate::stages::{self, ExtractedTable};
use crate::writer::{PartitionWriter, partition_dir, remove_stale};

/// Directory of the per-topic tables under the output root.
pub const TOPICS_DIR: &str = "topics";

/// One input bag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `file:///abs/path` (percent-encoded) or `s3://bucket/key`.
    pub url: String,
    /// The bucket (`""` for a local file).
    pub bucket: String,
    /// The object key, or the absolute path of a local file.
    pub key: String,
    /// The local file, for local sources.
    pub path: Option<PathBuf>,
}

impl Source {
    /// A local file source (the path made absolute and canonical, so the
    /// same file always gives the same `source_url`).
    pub fn local(path: &Path) -> std::io::Result<Source> {
        let abs = std::fs::canonicalize(path)?;
        let key = abs.to_string_lossy().to_string();
        Ok(Source {
            url: format!("file://{}", encode_path(&key)),
            bucket: String::new(),
            key,
            path: Some(abs),
        })
    }

    /// An object on S3.
    pub fn s3(bucket: &str, key: &str) -> Source {
        Source {
            url: S3Url::url_of(bucket, key),
            bucket: bucket.to_string(),
            key: key.to_string(),
            path: None,
        }
    }

    /// Opens the bag for ranged reads: a local file, or the S3 object.
    pub fn open(&self) -> std::io::Result<Box<dyn ReadAt>> {
        match &self.path {
            Some(path) => Ok(Box::new(FileSource::open(path).map_err(|e| {
                std::io::Error::new(e.kind(), format!("opening {}: {e}", path.display()))
            })?)),
            None => Ok(Box::new(S3Source::open(&self.bucket, &self.key)?)),
        }
    }

    /// The `bag_file` this source gives.
    pub fn bag_file(&self) -> String {
        bag_file(&self.key)
    }
}

/// Finds the bags of one command-line input: `s3://bucket/key` (one bag),
/// `s3://bucket/prefix/` (every `.bag` under it, in byte order of the
/// key), a local bag file, or a local directory searched recursively in
/// byte order of the full path.
pub fn inputs(input: &str) -> std::io::Result<Vec<Source>> {
    match S3Url::parse(input) {
        Some(Err(e)) => Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)),
        Some(Ok(url)) if url.key.is_empty() || url.key.ends_with('/') => {
            Ok(crate::s3::list_bags(&url.bucket, &url.key)?
                .into_iter()
                .map(|(key, _)| Source::s3(&url.bucket, &key))
                .collect())
        }
        Some(Ok(url)) => Ok(vec![Source::s3(&url.bucket, &url.key)]),
        None => local_inputs(Path::new(input.strip_prefix("file://").unwrap_or(input))),
    }
}

/// Finds the bags of a local input: a bag file, or a directory searched
/// recursively in byte order of the full path.
pub fn local_inputs(input: &Path) -> std::io::Result<Vec<Source>> {
    let meta = std::fs::metadata(input)?;
    if meta.is_file() {
        return Ok(vec![Source::local(input)?]);
    }
    let mut found = Vec::new();
    let mut stack = vec![input.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "bag") {
                found.push(Source::local(&path)?);
            }
        }
    }
    found.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
    Ok(found)
}

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
    fn failed(bag_file: String, source: &Source, failure: Failure) -> BagOutcome {
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
    // or a recovery scan).
    let opened: Vec<Option<Result<Opened, Failure>>> = planned
        .par_iter()
        .map(|p| p.as_ref().ok().map(|source| open_bag(source)))
        .collect();
    // Phase 2, in input order: assign tables, so which bag registers a
    // table first does not depend on thread timing.
    let jobs: Vec<Result<(&Source, Prepared), Box<BagOutcome>>> = planned
        .into_iter()
        .zip(opened)
        .map(|(p, opened)| {
            let source = p?;
            let opened = opened.expect("opened when planned");
            Ok((source, prepare(ctx, opened)))
        })
        .collect();
    // Phase 3, in parallel: extract, synchronize, find scenes.
    jobs.into_par_iter()
        .map(|job| match job {
            Ok((source, prepared)) => run_bag(ctx, source, prepared),
            Err(refused) => *refused,
        })
        .collect()
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
    src: Box<dyn ReadAt>,
    layout: BagLayout,
}

/// A bag ready to extract: opened, its topics grouped, its tables assigned.
/// On error, what failed and when the bag started.
type Prepared = Result<Ready, (Instant, u64, Failure)>;

struct Ready {
    started: Instant,
    src: Box<dyn ReadAt>,
    layout: BagLayout,
    topics: Vec<TopicGroup>,
    plan: ExtractPlan,
    names: TableNames,
}

/// Opens a source and reads its layout.
fn open_bag(source: &Source) -> Result<Opened, Failure> {
    let started = Instant::now();
    let src = source
        .open()
        .map_err(|e| Failure::io(format_args!("opening {}", source.url), &e))?;
    let layout = bag::read_layout(src.as_ref()).map_err(|e| extractor_failure(&source.url, &e))?;
    Ok(Opened {
        started,
        src,
        layout,
    })
}

/// An extractor error as a failure of the bag at `url`. Reading or writing
/// that failed (a dropped connection, a storage error) may pass; anything
/// else is what the bytes say (not a bag, an unsupported version).
fn extractor_failure(url: &str, e: &extractor::Error) -> Failure {
    let message = format!("{url}: {e}");
    match e {
        extractor::Error::Io { source, .. } => Failure {
            retryable: Failure::io_is_retryable(source),
            message,
        },
        extractor::Error::Sink { .. } => Failure::transient(message),
        _ => Failure::permanent(message),
    }
}

/// Groups the bag's topics and assigns their tables (registering them).
fn prepare(ctx: &Context, opened: Result<Opened, Failure>) -> Prepared {
    let opened = opened.map_err(|e| (Instant::now(), 0, e))?;
    let topics = group_topics(&opened.layout.connections);
    let registry = Registry::new(ctx.lake.as_ref());
    match plan_tables(&topics, &ctx.config, &registry) {
        Ok((plan, names)) => Ok(Ready {
            started: opened.started,
            src: opened.src,
            layout: opened.layout,
            topics,
            plan,
            names,
        }),
        Err(e) => Err((
            opened.started,
            opened.src.len(),
            Failure::io("schema registry", &e),
        )),
    }
}

/// Runs every stage on one bag and records it in the catalogue.
fn run_bag(ctx: &Context, source: &Source, prepared: Prepared) -> BagOutcome {
    let started = match &prepared {
        Ok(ready) => ready.started,
        Err((started, _, _)) => *started,
    };
    let name = source.bag_file();
    let mut record = BagRecord {
        bag_file: name.clone(),
        source_url: source.url.clone(),
        size_bytes: 0,
        start_time_ns: None,
        end_time_ns: None,
        message_count: 0,
        topics: BTreeMap::new(),
        status: Status::Failed,
        warnings: Vec::new(),
        error: None,
    };
    let mut outcome = BagOutcome {
        bag_file: name.clone(),
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
    };
    let result = match prepared {
        Ok(ready) => run_stages(ctx, source, ready, &mut record, &mut outcome),
        Err((_, size, e)) => {
            record.size_bytes = size;
            Err(e)
        }
    };
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

/// Writes the bag's catalogue item, unless another source has claimed its
/// `bag_file` meanwhile (a conditional write: two runs racing for one
/// `bag_file` cannot both win).
fn put_record(ctx: &Context, source: &Source, record: &BagRecord) -> Result<(), Failure> {
    match ctx.bags.put_if_owner(record.to_item(), "source_url") {
        Ok(None) => Ok(()),
        Ok(Some(owner)) => {
            let owner = owner.get("source_url").and_then(Attr::as_s).unwrap_or("");
            Err(conflict(&record.bag_file, source, owner))
        }
        Err(e) => Err(Failure::io("writing the bag catalogue", &e)),
    }
}

/// Extract, synchronize, find scenes; the catalogue item is updated after
/// each stage (`EXTRACTED`, `SYNCHRONIZED`; the caller writes `DONE`).
fn run_stages(
    ctx: &Context,
    source: &Source,
    ready: Ready,
    record: &mut BagRecord,
    outcome: &mut BagOutcome,
) -> Result<(), Failure> {
    let started = Instant::now();
    let (tables, written) = extract_bag(ctx, source, ready, record)?;
    let seconds = started.elapsed().as_secs_f64();
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
        let empty = stages::Synced::default();
        stages::synchronize(
            ctx.lake.as_ref(),
            &record.bag_file,
            &[],
            &ctx.config.sync,
            &mut Vec::new(),
        )?;
        stages::find_scenes(
            ctx.lake.as_ref(),
            ctx.scenes.as_ref(),
            &record.bag_file,
            &scene_source(source),
            &empty,
            &[],
            &ctx.config.scenes,
            ctx.config.sync.interval_ms,
            &mut Vec::new(),
        )?;
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
    let scenes = stages::find_scenes(
        ctx.lake.as_ref(),
        ctx.scenes.as_ref(),
        &record.bag_file,
        &scene_source(source),
        &synced,
        &tables,
        &ctx.config.scenes,
        ctx.config.sync.interval_ms,
        &mut record.warnings,
    )?;
    outcome.scenes = scenes.scenes;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        bag = %record.bag_file,
        stage = "scenes",
        seconds,
        scenes = scenes.scenes,
        "scenes found"
    );
    outcome.stages.push(StageReport {
        stage: "scenes",
        seconds,
        count: scenes.scenes as u64,
        bytes: 0,
    });
    if let Some(catalog) = &ctx.tables {
        let started = Instant::now();
        let written = written_tables(ctx, &record.bag_file, &tables, &synced, &scenes);
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

/// The tables the bag wrote a partition of, as Athena tables, each with
/// the bag's partition directory.
fn written_tables(
    ctx: &Context,
    bag_file: &str,
    tables: &[ExtractedTable],
    synced: &stages::Synced,
    scenes: &stages::SceneOutcome,
) -> Vec<(TableDef, String)> {
    let mut dirs: Vec<(String, arrow_schema::SchemaRef)> = tables
        .iter()
        .map(|t| (format!("{TOPICS_DIR}/{}", t.name), t.schema.clone()))
        .collect();
    if let Some(batch) = &synced.batch {
        dirs.push((stages::SYNCHRONIZED_DIR.to_string(), batch.schema()));
    }
    if scenes.detection_rows > 0 {
        dirs.push((
            stages::SCENE_DETECTIONS_DIR.to_string(),
            scenes::detect::detections_schema(),
        ));
    }
    if scenes.scenes > 0 {
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

/// The extract stage: bag → topic tables, filling in `record`.
fn extract_bag(
    ctx: &Context,
    source: &Source,
    ready: Ready,
    record: &mut BagRecord,
) -> Result<(Vec<ExtractedTable>, Written), Failure> {
    let Ready {
        src,
        layout,
        topics,
        plan,
        names,
        ..
    } = ready;
    record.size_bytes = src.len();
    record
        .warnings
        .extend(layout.warnings.iter().map(|w| w.message.clone()));

    let table_dirs: Vec<(String, arrow_schema::SchemaRef)> = plan
        .tables
        .iter()
        .map(|t| {
            (
                partition_dir(&format!("{TOPICS_DIR}/{}", t.name), &record.bag_file),
                t.layout.schema().clone(),
            )
        })
        .collect();
    let mut writer = PartitionWriter::new(ctx.lake.as_ref(), table_dirs);
    let progress = (ctx.progress)(
        &record.bag_file,
        layout.chunks.iter().map(|c| c.compressed_len).sum(),
    );
    let report = extract::extract(src.as_ref(), &layout, &plan, &mut writer, &|n| {
        progress.advance(n)
    });
    progress.finish();
    let report = report.map_err(|e| extractor_failure(&source.url, &e))?;
    let files = writer
        .finish()
        .map_err(|e| Failure::io("writing the topic tables", &e))?;
    let written: Vec<String> = files.iter().flatten().cloned().collect();
    remove_stale(ctx.lake.as_ref(), TOPICS_DIR, &record.bag_file, &written)
        .map_err(|e| Failure::io("removing the previous run's files", &e))?;

    record.message_count = report.message_count;
    record.start_time_ns = report.start_time_ns;
    record.end_time_ns = report.end_time_ns;
    record.topics = topic_records(&topics, &names, &report);
    record.warnings.extend(report_warnings(
        &topics,
        &plan,
        &report,
        &layout.connection_offsets,
    ));
    if report.message_count == 0 {
        record.warnings.push("the bag has no messages".to_string());
    }
    record.status = Status::Extracted;
    put_record(ctx, source, record)?;
    let first_tables: Vec<&str> = names
        .iter()
        .filter_map(|variants| variants.first().and_then(Option::as_deref))
        .collect();
    let tables = plan
        .tables
        .iter()
        .zip(files.iter())
        .zip(&report.time_range_per_table)
        .filter_map(|((t, f), range)| Some((t, f, (*range)?)))
        .filter(|(_, f, _)| !f.is_empty())
        .map(|(t, f, time_range)| ExtractedTable {
            name: t.name.clone(),
            topic: t.topic.clone(),
            schema: t.layout.schema().clone(),
            has_binary: t.layout.has_binary(),
            first_type: first_tables.contains(&t.name.as_str()),
            files: f.clone(),
            time_range,
        })
        .collect();
    Ok((
        tables,
        Written {
            tables: files.iter().filter(|f| !f.is_empty()).count(),
            rows: report.rows_per_table.iter().sum(),
        },
    ))
}

/// The connections of one topic that share an md5sum (one layout).
struct Variant {
    datatype: String,
    md5sum: String,
    conns: Vec<u32>,
    layout: Result<Arc<Layout>, String>,
}

/// A topic and its types, first type first.
struct TopicGroup {
    topic: String,
    variants: Vec<Variant>,
}

/// Groups connections by topic and md5sum, in connection-record order,
/// compiling each distinct definition once.
fn group_topics(connections: &[Connection]) -> Vec<TopicGroup> {
    let mut groups: Vec<TopicGroup> = Vec::new();
    let mut compiled: HashMap<(String, String), Result<Arc<Layout>, String>> = HashMap::new();
    let mut compile = |c: &Connection| {
        compiled
            .entry((c.datatype.clone(), c.message_definition.clone()))
            .or_insert_with(|| {
                extractor::msgdef::parse(&c.datatype, &c.message_definition)
                    .map(|t| Arc::new(Layout::new(&t)))
                    .map_err(|e| e.to_string())
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
        let group = &mut groups[gi];
        match group
            .variants
            .iter_mut()
            .find(|v| v.md5sum.eq_ignore_ascii_case(&c.md5sum))
        {
            Some(v) => {
                v.conns.push(c.id);
                // A later connection of the same layout may carry a usable
                // definition where the first did not.
                if v.layout.is_err()
                    && let Ok(l) = compile(c)
                {
                    v.layout = Ok(l);
                }
            }
            None => group.variants.push(Variant {
                datatype: c.datatype.clone(),
                md5sum: c.md5sum.clone(),
                conns: vec![c.id],
                layout: compile(c),
            }),
        }
    }
    groups
}

/// Table names per topic group and variant (`None`: not extracted).
type TableNames = Vec<Vec<Option<String>>>;

/// Assigns a table to every extracted, decodable topic type.
fn plan_tables(
    groups: &[TopicGroup],
    config: &Config,
    registry: &Registry,
) -> std::io::Result<(ExtractPlan, TableNames)> {
    let mut plan = ExtractPlan::default();
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
            let name = if vi == 0 {
                registry.assign(&base, &v.datatype, &v.md5sum, layout.schema())?
            } else {
                let suffixed = format!("{base}__{}", md5_prefix(&v.md5sum));
                registry.assign_exact(&suffixed, &v.datatype, &v.md5sum, layout.schema())?
            };
            let index = plan.tables.len();
            names[gi][vi] = Some(name.clone());
            plan.tables.push(TablePlan {
                name,
                topic: g.topic.clone(),
                layout: layout.clone(),
            });
            for &conn in &v.conns {
                plan.conn_table.insert(conn, index);
            }
        }
    }
    Ok((plan, names))
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
            let mut variants = g.variants.iter().zip(names).map(|(v, table)| TopicVariant {
                datatype: v.datatype.clone(),
                md5sum: v.md5sum.clone(),
                message_count: v
                    .conns
                    .iter()
                    .map(|c| report.messages_per_conn.get(c).copied().unwrap_or(0))
                    .sum(),
                table: table.clone(),
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
/// replaced UTF-8, chunks skipped, unknown connections.
fn report_warnings(
    groups: &[TopicGroup],
    plan: &ExtractPlan,
    report: &ExtractReport,
    connection_offsets: &BTreeMap<u32, u64>,
) -> Vec<String> {
    let mut warnings = Vec::new();
    for (offset, reason) in &report.skipped_chunks {
        warnings.push(format!("chunk at offset {offset} skipped: {reason}"));
    }
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
            if let Err(reason) = &v.layout {
                let at = v
                    .conns
                    .first()
                    .and_then(|c| {
                        let offset = connection_offsets.get(c)?;
                        Some(format!(" (connection {c}, defined at offset {offset})"))
                    })
                    .unwrap_or_default();
                warnings.push(format!(
                    "topic {}: definition of {}{at} unusable ({reason}); {read} messages skipped",
                    g.topic, v.datatype
                ));
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
