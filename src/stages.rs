//! The stages after extraction, per bag: the synchronized table
//! (`synchronizer`), then the scene detections and scenes (`scenes`), each
//! written as the bag's partition of its table and, for scenes, as records
//! in the scene store. The stage crates are pure; this module reads their
//! inputs from the lake and writes their outputs back.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::config::{ScenesConfig, SyncConfig};
use crate::failure::Failure;
use crate::storage::catalog::{Attr, Item, ItemStore};
use crate::storage::lake::Lake;
use crate::writer::{for_each_batch, partition_dir, replace_partition};

/// Directory of the synchronized table under the output root.
pub const SYNCHRONIZED_DIR: &str = "synchronized";
/// Directory of the scene detections table.
pub const SCENE_DETECTIONS_DIR: &str = "scene_detections";
/// Directory of the scenes table.
pub const SCENES_DIR: &str = "scenes";
/// The one scene type this version finds.
pub const PERSON_IN_LANE: &str = "PersonInLane";

/// One topic table written by the extract stage.
#[derive(Debug, Clone)]
pub struct ExtractedTable {
    pub name: String,
    pub topic: String,
    /// The type of its messages, as the catalogue names it.
    pub datatype: String,
    /// The connections whose messages fill it.
    pub conns: Vec<u32>,
    /// How its messages decode (a camera frame is decoded again for the
    /// report).
    pub layout: Arc<extractor::decode::Layout>,
    pub schema: SchemaRef,
    pub has_binary: bool,
    /// Whether this table holds the topic's first type (the catalogue's
    /// `table`), rather than one of its `variants`.
    pub first_type: bool,
    pub files: Vec<String>,
    /// First and last `log_time_ns` of its rows.
    pub time_range: (i64, i64),
    /// Rows written.
    pub rows: u64,
}

/// The synchronized table of a bag, kept for the scene stage.
#[derive(Debug, Default)]
pub struct Synced {
    /// `None` when the bag has no tick in range.
    pub batch: Option<RecordBatch>,
    /// The synchronized tables (column names) with their topics.
    pub columns: Vec<(String, String)>,
}

impl Synced {
    /// Ticks in the synchronized table.
    pub fn ticks(&self) -> usize {
        self.batch.as_ref().map_or(0, RecordBatch::num_rows)
    }
}

/// Builds and writes the bag's synchronized table.
pub fn synchronize(
    lake: &dyn Lake,
    bag_file: &str,
    tables: &[ExtractedTable],
    cfg: &SyncConfig,
    warnings: &mut Vec<String>,
) -> Result<Synced, Failure> {
    let selected: Vec<&ExtractedTable> = if cfg.topics.is_empty() {
        tables.iter().filter(|t| !t.has_binary).collect()
    } else {
        for topic in &cfg.topics {
            if !tables.iter().any(|t| &t.topic == topic) {
                warnings.push(format!(
                    "sync.topics names {topic}, which this bag has no extracted table for"
                ));
            }
        }
        tables
            .iter()
            .filter(|t| cfg.topics.contains(&t.topic))
            .collect()
    };
    let interval_ns = ms_to_ns(cfg.interval_ms);
    let max_age_ns = (cfg.max_age_ms > 0).then(|| ms_to_ns(cfg.max_age_ms));
    let t_min = selected.iter().map(|t| t.time_range.0).min();
    let t_max = selected.iter().map(|t| t.time_range.1).max();
    let ticks = match (t_min, t_max) {
        (Some(lo), Some(hi)) => synchronizer::ticks(lo, hi, interval_ns)
            .map_err(|e| Failure::permanent(format!("synchronizing: {e}")))?,
        _ => Vec::new(),
    };
    let batch = if ticks.is_empty() {
        None
    } else {
        // One topic at a time, streamed: only the rows ticks pick are kept.
        let mut columns = Vec::with_capacity(selected.len());
        for t in &selected {
            let mut stream =
                synchronizer::TopicStream::new(&t.name, t.schema.clone(), &ticks, max_age_ns);
            for_each_batch(lake, &t.files, |batch| {
                stream.push(&batch).map_err(std::io::Error::other)
            })
            .map_err(|e| Failure::io(format_args!("synchronizing table {}", t.name), &e))?;
            let column = stream
                .finish()
                .map_err(|e| Failure::permanent(format!("synchronizing table {}: {e}", t.name)))?;
            columns.push((t.name.as_str(), t.schema.clone(), column));
        }
        Some(
            synchronizer::assemble(ticks, columns)
                .map_err(|e| Failure::permanent(format!("synchronizing: {e}")))?,
        )
    };
    let dir = partition_dir(SYNCHRONIZED_DIR, bag_file);
    replace_partition(lake, &dir, batch.as_ref())
        .map_err(|e| Failure::io("writing the synchronized table", &e))?;
    Ok(Synced {
        batch,
        columns: selected
            .iter()
            .map(|t| (t.name.clone(), t.topic.clone()))
            .collect(),
    })
}

fn ms_to_ns(ms: u64) -> i64 {
    i64::try_from(ms)
        .unwrap_or(i64::MAX / 1_000_000)
        .saturating_mul(1_000_000)
}

/// Where the bag came from, as scene records name it.
#[derive(Debug, Clone)]
pub struct SceneSource {
    pub bucket: String,
    pub key: String,
}

/// What the scene stage found, before anything is written.
#[derive(Debug, Default)]
pub struct Found {
    /// The `scene_detections` table; `None` without the configured topics
    /// or ticks.
    pub detections: Option<RecordBatch>,
    pub records: Vec<SceneRecord>,
    /// The synchronized columns of the detections and lanes topics, when
    /// both are there.
    pub columns: Option<(String, String)>,
}

/// Finds the bag's scenes (writing nothing: the exports add their URLs to
/// the records first, then [`write_scene_outputs`] writes them). Without
/// the configured topics the bag gets a warning and finds none.
#[allow(clippy::too_many_arguments)]
pub fn find_scenes(
    lake: &dyn Lake,
    bag_file: &str,
    source: &SceneSource,
    synced: &Synced,
    tables: &[ExtractedTable],
    cfg: &ScenesConfig,
    interval_ms: u64,
    warnings: &mut Vec<String>,
) -> Result<Found, Failure> {
    let column_of = |topic: &str| {
        tables
            .iter()
            .find(|t| t.topic == topic && t.first_type)
            .map(|t| t.name.clone())
            .filter(|name| synced.columns.iter().any(|(c, _)| c == name))
    };
    let det_topic = &cfg.detections.topic;
    let lane_topic = &cfg.lanes.topic;
    let (det, lanes) = match (column_of(det_topic), column_of(lane_topic)) {
        (Some(d), Some(l)) => (d, l),
        (d, l) => {
            let missing: Vec<&str> = [(d, det_topic), (l, lane_topic)]
                .into_iter()
                .filter(|(c, _)| c.is_none())
                .map(|(_, t)| t.as_str())
                .collect();
            let (noun, verb) = if missing.len() == 1 {
                ("topic", "is")
            } else {
                ("topics", "are")
            };
            warnings.push(format!(
                "no scene detections: the configured {noun} {} {verb} not among the bag's synchronized topics",
                missing.join(" and ")
            ));
            return Ok(Found::default());
        }
    };
    let Some(sync) = &synced.batch else {
        return Ok(Found::default());
    };
    let detections = scenes::detect::detect(sync, &det, &lanes, cfg)
        .map_err(|e| Failure::permanent(e.to_string()))?;
    let ticks = scenes::detect::tick_counts(&detections);
    let interval_ns = ms_to_ns(interval_ms);
    let found = scenes::scene::find_scenes(&ticks, interval_ns);
    let merged = scenes::scene::merge_scenes(found, &ticks, ms_to_ns(cfg.merge_gap_ms));
    let kept = scenes::scene::drop_short(merged, ms_to_ns(cfg.min_scene_ms));
    let common = SceneCommon {
        bag_file: bag_file.to_string(),
        topics: vec![det_topic.clone(), lane_topic.clone()],
        bucket: source.bucket.clone(),
        key: source.key.clone(),
        synchronized_path: lake.url(&format!("{}/", partition_dir(SYNCHRONIZED_DIR, bag_file))),
        detections_path: lake.url(&format!(
            "{}/",
            partition_dir(SCENE_DETECTIONS_DIR, bag_file)
        )),
    };
    Ok(Found {
        records: kept.iter().map(|s| SceneRecord::new(&common, s)).collect(),
        detections: Some(detections),
        columns: Some((det, lanes)),
    })
}

/// Writes (or, with nothing, removes) the bag's scene detections and scenes
/// partitions and replaces its scene set in the store.
pub fn write_scene_outputs(
    lake: &dyn Lake,
    store: &dyn ItemStore,
    bag_file: &str,
    found: &Found,
) -> Result<(), Failure> {
    replace_partition(
        lake,
        &partition_dir(SCENE_DETECTIONS_DIR, bag_file),
        found.detections.as_ref(),
    )
    .map_err(|e| Failure::io("writing the scene detections table", &e))?;
    let records = &found.records;
    let batch = (!records.is_empty()).then(|| scenes_batch(records));
    replace_partition(lake, &partition_dir(SCENES_DIR, bag_file), batch.as_ref())
        .map_err(|e| Failure::io("writing the scenes table", &e))?;
    store
        .replace_partition(bag_file, records.iter().map(SceneRecord::to_item).collect())
        .map_err(|e| Failure::io("writing the scene records", &e))
}

/// What every scene of a bag shares.
struct SceneCommon {
    bag_file: String,
    topics: Vec<String>,
    bucket: String,
    key: String,
    synchronized_path: String,
    detections_path: String,
}

/// One scene record, as in DynamoDB, the local store and the scenes table.
#[derive(Debug, Clone)]
pub struct SceneRecord {
    pub bag_file: String,
    pub scene_id: String,
    pub start_time_ns: i64,
    pub end_time_ns: i64,
    pub scene_length_ms: f64,
    pub num_people_in_scene_start: i64,
    pub max_people_in_lane: i64,
    pub topics_analyzed: Vec<String>,
    pub bag_file_bucket: String,
    pub bag_file_prefix: String,
    pub synchronized_path: String,
    pub detections_path: String,
    /// URLs of the scene's clip and label, when written.
    pub clip_url: Option<String>,
    pub label_url: Option<String>,
}

impl SceneRecord {
    fn new(common: &SceneCommon, s: &scenes::scene::Scene) -> SceneRecord {
        SceneRecord {
            bag_file: common.bag_file.clone(),
            scene_id: format!("{}_{PERSON_IN_LANE}_{}", common.bag_file, s.start_time_ns),
            start_time_ns: s.start_time_ns,
            end_time_ns: s.end_time_ns,
            scene_length_ms: (s.end_time_ns - s.start_time_ns) as f64 / 1e6,
            num_people_in_scene_start: i64::from(s.num_people_in_scene_start),
            max_people_in_lane: i64::from(s.max_people_in_lane),
            topics_analyzed: common.topics.clone(),
            bag_file_bucket: common.bucket.clone(),
            bag_file_prefix: common.key.clone(),
            synchronized_path: common.synchronized_path.clone(),
            detections_path: common.detections_path.clone(),
            clip_url: None,
            label_url: None,
        }
    }

    pub fn to_item(&self) -> Item {
        let mut item: BTreeMap<String, Attr> = BTreeMap::new();
        item.insert("bag_file".into(), Attr::s(&self.bag_file));
        item.insert("scene_id".into(), Attr::s(&self.scene_id));
        item.insert("scene_type".into(), Attr::s(PERSON_IN_LANE));
        item.insert("start_time_ns".into(), Attr::n(self.start_time_ns));
        item.insert("end_time_ns".into(), Attr::n(self.end_time_ns));
        item.insert("scene_length_ms".into(), Attr::n(self.scene_length_ms));
        item.insert(
            "num_people_in_scene_start".into(),
            Attr::n(self.num_people_in_scene_start),
        );
        item.insert(
            "max_people_in_lane".into(),
            Attr::n(self.max_people_in_lane),
        );
        item.insert(
            "topics_analyzed".into(),
            Attr::L(self.topics_analyzed.iter().map(Attr::s).collect()),
        );
        item.insert("bag_file_bucket".into(), Attr::s(&self.bag_file_bucket));
        item.insert("bag_file_prefix".into(), Attr::s(&self.bag_file_prefix));
        item.insert("synchronized_path".into(), Attr::s(&self.synchronized_path));
        item.insert("detections_path".into(), Attr::s(&self.detections_path));
        if let Some(url) = &self.clip_url {
            item.insert("clip_url".into(), Attr::s(url));
        }
        if let Some(url) = &self.label_url {
            item.insert("label_url".into(), Attr::s(url));
        }
        item
    }
}

/// The `scenes` table's schema: the record's attributes in the contract's
/// order, without `bag_file` (the partition).
pub fn scenes_schema() -> SchemaRef {
    let utf8 = |n: &str| Field::new(n, DataType::Utf8, false);
    let int64 = |n: &str| Field::new(n, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        utf8("scene_id"),
        utf8("scene_type"),
        int64("start_time_ns"),
        int64("end_time_ns"),
        Field::new("scene_length_ms", DataType::Float64, false),
        int64("num_people_in_scene_start"),
        int64("max_people_in_lane"),
        Field::new(
            "topics_analyzed",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            false,
        ),
        utf8("bag_file_bucket"),
        utf8("bag_file_prefix"),
        utf8("synchronized_path"),
        utf8("detections_path"),
        Field::new("clip_url", DataType::Utf8, true),
        Field::new("label_url", DataType::Utf8, true),
    ]))
}

fn scenes_batch(records: &[SceneRecord]) -> RecordBatch {
    let strings = |f: fn(&SceneRecord) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(records.iter().map(f)))
    };
    let ints = |f: fn(&SceneRecord) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(records.iter().map(f)))
    };
    let mut topics = ListBuilder::new(StringBuilder::new());
    for r in records {
        for t in &r.topics_analyzed {
            topics.values().append_value(t);
        }
        topics.append(true);
    }
    RecordBatch::try_new(
        scenes_schema(),
        vec![
            strings(|r| &r.scene_id),
            strings(|_| PERSON_IN_LANE),
            ints(|r| r.start_time_ns),
            ints(|r| r.end_time_ns),
            Arc::new(Float64Array::from_iter_values(
                records.iter().map(|r| r.scene_length_ms),
            )),
            ints(|r| r.num_people_in_scene_start),
            ints(|r| r.max_people_in_lane),
            Arc::new(topics.finish()),
            strings(|r| &r.bag_file_bucket),
            strings(|r| &r.bag_file_prefix),
            strings(|r| &r.synchronized_path),
            strings(|r| &r.detections_path),
            Arc::new(StringArray::from_iter(
                records.iter().map(|r| r.clip_url.as_deref()),
            )),
            Arc::new(StringArray::from_iter(
                records.iter().map(|r| r.label_url.as_deref()),
            )),
        ],
    )
    .expect("the columns match the scenes schema")
}
