//! Scene exports and the bag report, per bag (`CONTRACT.md`, "Scene
//! exports and the bag report"): what an engineer opens to see a scene (an
//! MCAP clip), what scenario tooling indexes (an OpenLABEL label, an
//! OpenSCENARIO skeleton) and the page a person reads about a bag.
//!
//! This module gathers what those need and writes them; the formats are
//! the `scenes` crate's ([`scenes::export`]). Clips are cut from the open
//! bag by its index: only the units (chunks) that meet a scene's window
//! are read, and, for each latched connection, the units that can hold its
//! latest message before the window (the index says which connections a
//! unit holds). The report's timelines and the GPS track are read from the
//! lake, one column at a time.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, RecordBatch};
use extractor::container::{
    Bag, Connection, ENCODING_ROS1, SCHEMA_ROS1MSG, SCHEMA_ROS2IDL, SCHEMA_ROS2MSG,
};
use extractor::decode::MessageDecoder;
use extractor::definition::builtin::Definitions;
use extractor::definition::resolve::resolve;
use rayon::prelude::*;
use scenes::export::clip::{
    CHUNK_BYTES, Chunk, ChunkBuilder, ClipChannel, ClipChannels, ClipStats, ClipWriter,
    PROFILE_ROS1, PROFILE_ROS2,
};
use scenes::export::report::{Frame, GpsTrack, SceneCard, TopicStats};
use scenes::export::{frame, label, xosc};

use crate::config::{ExportConfig, ScenesConfig};
use crate::failure::Failure;
use crate::stages::{ExtractedTable, Found, SceneRecord, Synced};
use crate::storage::catalog::BagRecord;
use crate::storage::lake::{Committer, Lake, LakeFile, encode_path};
use crate::writer::{for_each_batch_of, worth_compressing};

/// Directory of the scene exports under the output root.
pub const EXPORTS_DIR: &str = "exports";
/// Directory of the bag reports.
pub const REPORTS_DIR: &str = "reports";
/// The index of every bag's report.
pub const INDEX_PATH: &str = "reports/index.html";
/// How far before a scene's start its camera frame is looked for.
const FRAME_LOOKBACK_NS: u64 = 5_000_000_000;
/// Gaps kept per topic for the report's timeline (the longest).
const MAX_GAPS: usize = 200;

/// What wrote the exports, as their headers say.
pub fn generator() -> String {
    format!("bagpipe {}", env!("CARGO_PKG_VERSION"))
}

/// `exports/<bag_file>/<scene_id><ext>`.
pub fn export_path(bag_file: &str, scene_id: &str, ext: &str) -> String {
    format!("{EXPORTS_DIR}/{bag_file}/{scene_id}{ext}")
}

/// `reports/<bag_file>.html`.
pub fn report_path(bag_file: &str) -> String {
    format!("{REPORTS_DIR}/{bag_file}.html")
}

/// Extensions of a scene's exports.
pub const CLIP_EXT: &str = ".mcap";
pub const LABEL_EXT: &str = ".openlabel.json";
pub const SCENARIO_EXT: &str = ".xosc";

/// What the exports stage needs of a bag.
pub struct ExportInput<'a> {
    pub lake: &'a Arc<dyn Lake>,
    pub bag: &'a Bag,
    pub definitions: &'a Definitions,
    pub bag_file: &'a str,
    pub tables: &'a [ExtractedTable],
    pub synced: &'a Synced,
    pub scenes: &'a ScenesConfig,
    pub interval_ms: u64,
    pub cfg: &'a ExportConfig,
}

/// What the exports stage gives the report.
#[derive(Debug, Default)]
pub struct Exported {
    pub cards: Vec<SceneCard>,
    pub gps: Option<GpsTrack>,
    pub camera_topic: Option<String>,
    /// Bytes of clips written.
    pub clip_bytes: u64,
    /// Files written under `exports/<bag_file>/`.
    pub files: usize,
}

/// Writes the scenes' clips, labels and scenario skeletons, sets the
/// records' URLs, removes what an earlier run wrote for scenes no longer
/// found, and gathers the scene cards for the report.
pub fn export_scenes(
    input: &ExportInput<'_>,
    found: &mut Found,
    warnings: &mut Vec<String>,
) -> Result<Exported, Failure> {
    let lake = input.lake.as_ref();
    let cfg = input.cfg;
    let mut out = Exported::default();
    // Clips, labels and scenarios are committed (fsynced, renamed) off the
    // threads that make them; all are in place before stale ones go.
    let committer = Committer::new(COMMITTERS);
    let gps_table = input
        .tables
        .iter()
        .find(|t| is_type(&t.datatype, "NavSatFix"));
    let fixes = match gps_table {
        Some(t) if cfg.report || cfg.openscenario => read_gps(input.lake, t)?,
        _ => Vec::new(),
    };
    // The report's camera frames are grabbed while the files are made: a
    // thread of their own takes scenes in turn, then every core helps with
    // what is left.
    let camera = input
        .tables
        .iter()
        .filter(|t| t.first_type)
        .find(|t| is_type(&t.datatype, "Image") || is_type(&t.datatype, "CompressedImage"));
    let grabs = camera
        .filter(|_| cfg.report)
        .map(|t| FrameGrabs::new(input.bag, t, &found.records));
    let files = std::thread::scope(|scope| {
        if let Some(g) = &grabs {
            scope.spawn(|| g.help());
        }
        let made = make_scene_files(input, found, &committer, gps_table, &fixes, warnings);
        if let Some(g) = &grabs {
            match made {
                Ok(_) => (0..rayon::current_num_threads())
                    .into_par_iter()
                    .for_each(|_| g.help()),
                Err(_) => g.stop(),
            }
        }
        made
    })?;
    out.clip_bytes = files.clip_bytes;
    let written = files.written;
    let scenarios = files.scenarios;

    // What only the report needs: the camera frame and the lanes and
    // boxes at each scene's start.
    if cfg.report {
        out.camera_topic = camera.map(|t| t.topic.clone());
        let reader = match (&input.synced.batch, &found.columns) {
            (Some(sync), Some((det, lanes))) => {
                scenes::detect::TickReader::new(sync, det, lanes, input.scenes).ok()
            }
            _ => None,
        };
        let rows: HashMap<i64, usize> = reader
            .as_ref()
            .map(|r| (0..r.len()).map(|i| (r.time_ns(i), i)).collect())
            .unwrap_or_default();
        let mut grabbed = grabs
            .map(FrameGrabs::finish)
            .unwrap_or_default()
            .into_iter();
        for record in &found.records {
            let (frame, frame_note) = match camera {
                None => (None, Some("no camera topic: the bag has no sensor_msgs Image or CompressedImage topic extracted".to_string())),
                Some(t) => match grabbed.next().flatten() {
                    Some(Ok(f)) => (Some(f), None),
                    Some(Err(e)) => (None, Some(format!("{}: {e}", t.topic))),
                    None => (
                        None,
                        Some(format!(
                            "no message of {} within {} s before or after the scene's start",
                            t.topic,
                            FRAME_LOOKBACK_NS / 1_000_000_000
                        )),
                    ),
                },
            };
            let link = |ext: &str| {
                format!(
                    "../{EXPORTS_DIR}/{}/{}",
                    encode_path(input.bag_file),
                    encode_path(&format!("{}{ext}", record.scene_id))
                )
            };
            out.cards.push(SceneCard {
                scene_id: record.scene_id.clone(),
                start_time_ns: record.start_time_ns,
                end_time_ns: record.end_time_ns,
                num_people_in_scene_start: record.num_people_in_scene_start,
                max_people_in_lane: record.max_people_in_lane,
                clip: record.clip_url.as_ref().map(|_| link(CLIP_EXT)),
                label: record.label_url.as_ref().map(|_| link(LABEL_EXT)),
                scenario: scenarios.get(&record.scene_id).map(|_| link(SCENARIO_EXT)),
                frame,
                frame_note,
                tick: reader
                    .as_ref()
                    .and_then(|r| rows.get(&record.start_time_ns).and_then(|&row| r.tick(row))),
            });
        }
    }
    out.gps = gps_table.filter(|_| !fixes.is_empty()).map(|t| GpsTrack {
        topic: t.topic.clone(),
        fixes: fixes.iter().map(|&(t, la, lo, _)| (t, la, lo)).collect(),
    });
    out.files = written.len();
    committer
        .finish()
        .map_err(|(path, e)| Failure::io(format_args!("writing {}", lake.url(&path)), &e))?;
    remove_stale_exports(lake, input.bag_file, &written)?;
    Ok(out)
}

/// What [`make_scene_files`] wrote.
#[derive(Default)]
struct SceneFiles {
    /// Every file's path under `exports/<bag_file>/`.
    written: Vec<String>,
    /// Each scene's scenario skeleton, by scene id.
    scenarios: HashMap<String, String>,
    /// Bytes of clips.
    clip_bytes: u64,
}

/// Writes the scenes' clips, labels and scenario skeletons as the
/// configuration asks, handing each to `committer`, and sets the records'
/// URLs.
fn make_scene_files(
    input: &ExportInput<'_>,
    found: &mut Found,
    committer: &Committer,
    gps_table: Option<&ExtractedTable>,
    fixes: &[(i64, f64, f64, f64)],
    warnings: &mut Vec<String>,
) -> Result<SceneFiles, Failure> {
    let lake = input.lake.as_ref();
    let cfg = input.cfg;
    let mut files = SceneFiles::default();
    let pad = cfg.clip_pad_ms.saturating_mul(1_000_000);
    let window = |r: &SceneRecord| {
        let start = u64::try_from(r.start_time_ns).unwrap_or(0);
        let end = u64::try_from(r.end_time_ns).unwrap_or(0);
        (start.saturating_sub(pad), end.saturating_add(pad))
    };

    if cfg.clips && !found.records.is_empty() {
        let channels = clip_channels(input.bag, input.definitions, &cfg.clip_topics, warnings);
        let windows: Vec<ClipWindow> = found
            .records
            .iter()
            .map(|r| {
                let (lo, hi) = window(r);
                ClipWindow {
                    path: export_path(input.bag_file, &r.scene_id, CLIP_EXT),
                    lo,
                    hi,
                    metadata: BTreeMap::from([
                        ("scene_id".to_string(), r.scene_id.clone()),
                        (
                            "scene_type".to_string(),
                            crate::stages::PERSON_IN_LANE.to_string(),
                        ),
                        ("start_time_ns".to_string(), r.start_time_ns.to_string()),
                        ("end_time_ns".to_string(), r.end_time_ns.to_string()),
                        (
                            "num_people_in_scene_start".to_string(),
                            r.num_people_in_scene_start.to_string(),
                        ),
                        (
                            "max_people_in_lane".to_string(),
                            r.max_people_in_lane.to_string(),
                        ),
                    ]),
                }
            })
            .collect();
        let stats = cut_clips(lake, input.bag, &channels, &windows, committer)?;
        for ((record, w), s) in found.records.iter_mut().zip(&windows).zip(stats) {
            record.clip_url = Some(lake.url(&w.path));
            files.clip_bytes += s.bytes;
            files.written.push(w.path.clone());
        }
    }

    if cfg.labels
        && let Some(detections) = &found.detections
    {
        // One scene per core (the structured bench bag's 2,175 labels:
        // export stage 1.44-1.71 s on one core, 1.31-1.49 s on two).
        let made: Vec<Result<String, Failure>> = found
            .records
            .par_iter()
            .map(|record| {
                let ticks =
                    label::scene_ticks(detections, record.start_time_ns, record.end_time_ns);
                let speed =
                    input.synced.batch.as_ref().and_then(|s| {
                        label::speed_range(s, record.start_time_ns, record.end_time_ns)
                    });
                let doc = label::label(&label::LabelInput {
                    scene_id: record.scene_id.clone(),
                    clip_file: record
                        .clip_url
                        .as_ref()
                        .map(|_| format!("{}{CLIP_EXT}", record.scene_id)),
                    detections_topic: input.scenes.detections.topic.clone(),
                    ticks,
                    speed_range: speed.as_ref().map(|(r, _)| *r),
                    speed_source: speed.map(|(_, s)| s),
                    generator: generator(),
                });
                let path = export_path(input.bag_file, &record.scene_id, LABEL_EXT);
                put(committer, lake, &path, doc.as_bytes())?;
                Ok(path)
            })
            .collect();
        for (record, path) in found.records.iter_mut().zip(made) {
            let path = path?;
            record.label_url = Some(lake.url(&path));
            files.written.push(path);
        }
    }

    if cfg.openscenario && !found.records.is_empty() {
        let mut without = 0;
        for record in &found.records {
            let (lo, hi) = window(record);
            let window: Vec<(i64, f64, f64, f64)> = fixes
                .iter()
                .filter(|f| (lo as i64..hi as i64).contains(&f.0))
                .copied()
                .collect();
            let text = xosc::scenario(&xosc::ScenarioInput {
                scene_id: record.scene_id.clone(),
                clip_start_ns: lo as i64,
                clip_end_ns: hi as i64,
                scene_start_ns: record.start_time_ns,
                scene_end_ns: record.end_time_ns,
                gps_topic: gps_table.map(|t| t.topic.clone()).unwrap_or_default(),
                fixes: window,
            });
            match text {
                Some(text) => {
                    let path = export_path(input.bag_file, &record.scene_id, SCENARIO_EXT);
                    put(committer, lake, &path, text.as_bytes())?;
                    files
                        .scenarios
                        .insert(record.scene_id.clone(), path.clone());
                    files.written.push(path);
                }
                None => without += 1,
            }
        }
        if without > 0 {
            warnings.push(match gps_table {
                None => format!(
                    "no scenario skeleton for {without} scene(s): the bag has no sensor_msgs/NavSatFix topic extracted"
                ),
                Some(t) => format!(
                    "no scenario skeleton for {without} scene(s): fewer than two fixes of {} in the scene's window",
                    t.topic
                ),
            });
        }
    }
    Ok(files)
}

/// Removes every file under `exports/<bag_file>/` but `keep`.
pub fn remove_stale_exports(
    lake: &dyn Lake,
    bag_file: &str,
    keep: &[String],
) -> Result<(), Failure> {
    let dir = format!("{EXPORTS_DIR}/{bag_file}");
    let keep: HashSet<&str> = keep.iter().map(String::as_str).collect();
    let names = lake
        .list_children(&dir)
        .map_err(|e| Failure::io(format_args!("listing {}", lake.url(&dir)), &e))?;
    for name in names {
        let path = format!("{dir}/{name}");
        if !keep.contains(path.as_str()) {
            lake.delete(&path)
                .map_err(|e| Failure::io(format_args!("removing {}", lake.url(&path)), &e))?;
        }
    }
    Ok(())
}

/// Threads committing a bag's exports: a commit mostly waits for the disk
/// or the network.
const COMMITTERS: usize = 4;

fn put(committer: &Committer, lake: &dyn Lake, path: &str, bytes: &[u8]) -> Result<(), Failure> {
    committer
        .put(lake, path, bytes)
        .map_err(|e| Failure::io(format_args!("writing {}", lake.url(path)), &e))
}

/// Whether `datatype` is `sensor_msgs/<name>` (ROS1) or
/// `sensor_msgs/msg/<name>` (ROS 2).
fn is_type(datatype: &str, name: &str) -> bool {
    datatype == format!("sensor_msgs/{name}") || datatype == format!("sensor_msgs/msg/{name}")
}

/// One clip to cut: where it goes and its window `[lo, hi)`.
struct ClipWindow {
    path: String,
    lo: u64,
    hi: u64,
    metadata: BTreeMap<String, String>,
}

/// A connection that goes into clips.
struct Selected {
    channel: ClipChannel,
    latched: bool,
}

/// The connections clips hold (every topic, or `topics`), each as an MCAP
/// channel; a connection whose definition is unusable (or, for ROS1,
/// empty, which viewers refuse) is left out with a warning.
fn clip_channels(
    bag: &Bag,
    definitions: &Definitions,
    topics: &[String],
    warnings: &mut Vec<String>,
) -> BTreeMap<u32, Selected> {
    let mut out = BTreeMap::new();
    for conn in &bag.layout.connections {
        if !topics.is_empty() && !topics.contains(&conn.topic) {
            continue;
        }
        match channel_of(conn, definitions) {
            Ok(channel) => {
                out.insert(
                    conn.id,
                    Selected {
                        channel,
                        latched: conn.latched(),
                    },
                );
            }
            Err(reason) => warnings.push(format!(
                "clips leave out topic {} (connection {}, {}): {reason}",
                conn.topic, conn.id, conn.datatype
            )),
        }
    }
    out
}

/// A connection as an MCAP channel of a clip.
fn channel_of(conn: &Connection, definitions: &Definitions) -> Result<ClipChannel, String> {
    let resolution = resolve(conn, definitions);
    let resolved = resolution.outcome?;
    let ros1 = conn.encoding == ENCODING_ROS1;
    if ros1 {
        if conn.definition.trim().is_empty() && conn.datatype != "std_msgs/Empty" {
            return Err(
                "its connection carries no message definition, and viewers refuse an empty ros1msg schema"
                    .to_string(),
            );
        }
        let mut metadata = BTreeMap::new();
        if let Some(md5) = conn.md5sum.as_ref().filter(|m| !m.is_empty()) {
            metadata.insert("md5sum".to_string(), md5.clone());
        }
        if let Some(caller) = &conn.callerid {
            metadata.insert("callerid".to_string(), caller.clone());
        }
        metadata.insert("latching".to_string(), conn.latching.to_string());
        return Ok(ClipChannel {
            topic: conn.topic.clone(),
            schema_name: conn.datatype.clone(),
            schema_encoding: SCHEMA_ROS1MSG.to_string(),
            schema: conn.definition.clone(),
            message_encoding: ENCODING_ROS1.to_string(),
            metadata,
        });
    }
    // ROS 2: the bag's own text when it has one, else the definition it
    // was decoded with (msg_paths, built-in), in the .msg dialect.
    let embedded = !conn.definition.trim().is_empty()
        && [SCHEMA_ROS2MSG, SCHEMA_ROS2IDL].contains(&conn.schema_encoding.as_str());
    let (schema_encoding, schema) = if embedded {
        (conn.schema_encoding.clone(), conn.definition.clone())
    } else {
        (
            SCHEMA_ROS2MSG.to_string(),
            extractor::definition::render(&resolved.msg),
        )
    };
    let mut metadata = BTreeMap::new();
    if let Some(qos) = &conn.qos {
        metadata.insert("offered_qos_profiles".to_string(), qos.clone());
    }
    if let Some(hash) = &conn.type_hash {
        metadata.insert("topic_type_hash".to_string(), hash.clone());
    }
    Ok(ClipChannel {
        topic: conn.topic.clone(),
        schema_name: resolution.datatype,
        schema_encoding,
        schema,
        message_encoding: conn.encoding.clone(),
        metadata,
    })
}

/// Whether a unit may hold messages in `[lo, hi)`.
fn meets(unit: &extractor::container::Unit, lo: u64, hi: u64) -> bool {
    match (unit.start_time_ns, unit.end_time_ns) {
        (Some(a), Some(b)) => a < hi && b >= lo,
        _ => true,
    }
}

/// Cuts every clip. The units that meet any window are read once each, in
/// bag order, several at once (one per core): a unit's messages of the
/// clip channels are cut into chunks of about [`CHUNK_BYTES`], the same
/// for every window, and a chunk inside several windows is compressed once
/// and written into each of their clips (scenes' padded windows overlap,
/// and compressing is most of a clip's cost). One thread writes the clips,
/// each opened at its first unit and committed after its last, so only
/// the clips of windows that overlap are open at once. The latched
/// connections' latest messages before each window are looked up first,
/// for every clip (units read for them are read once), and open its clip.
fn cut_clips(
    lake: &dyn Lake,
    bag: &Bag,
    channels: &BTreeMap<u32, Selected>,
    windows: &[ClipWindow],
    committer: &Committer,
) -> Result<Vec<ClipStats>, Failure> {
    let latched: Vec<u32> = channels
        .iter()
        .filter(|(_, s)| s.latched)
        .map(|(&c, _)| c)
        .collect();
    let mut cache = LatchedCache::default();
    let before: Vec<Vec<(u32, u64, Vec<u8>)>> = windows
        .iter()
        .map(|w| {
            latched
                .iter()
                .filter_map(|&conn| {
                    cache
                        .latest_before(bag, conn, w.lo)
                        .map(|(time, bytes)| (conn, time, bytes))
                })
                .collect()
        })
        .collect();
    drop(cache);
    let profile = if bag
        .layout
        .connections
        .iter()
        .all(|c| c.encoding == ENCODING_ROS1)
    {
        PROFILE_ROS1
    } else {
        PROFILE_ROS2
    };
    let compress = clips_worth_compressing(bag, channels, windows);
    let ids = ClipChannels::new(channels.iter().map(|(&k, s)| (k, &s.channel)))
        .map_err(|e| Failure::io("numbering the clips' channels", &e))?;
    // Each unit some window reads, with those windows.
    let readers: Vec<(usize, Vec<usize>)> = bag
        .layout
        .units
        .iter()
        .enumerate()
        .filter(|(_, u)| holds_any(u, channels))
        .filter_map(|(i, u)| {
            let ws: Vec<usize> = (0..windows.len())
                .filter(|&w| meets(u, windows[w].lo, windows[w].hi))
                .collect();
            (!ws.is_empty()).then_some((i, ws))
        })
        .collect();
    let io_error = |w: &ClipWindow, e: std::io::Error| {
        Failure::io(format_args!("writing {}", lake.url(&w.path)), &e)
    };
    let unit_error = |k: usize, e: std::io::Error| {
        let unit = &bag.layout.units[readers[k].0];
        Failure::io(
            format_args!("compressing clip chunks of {}", unit.describe(&bag.layout)),
            &e,
        )
    };
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Prepared>(UNITS_AHEAD);
        let writer = scope.spawn(|| -> Result<Vec<ClipStats>, Failure> {
            let mut clips = ClipsWriter {
                lake,
                committer,
                windows,
                before: &before,
                ids: &ids,
                profile,
                compress,
                open: (0..windows.len()).map(|_| None).collect(),
                stats: vec![None; windows.len()],
            };
            let mut last = vec![None; windows.len()];
            for (k, (_, ws)) in readers.iter().enumerate() {
                for &w in ws {
                    last[w] = Some(k);
                }
            }
            // Units arrive about in order (taken in order, finished in
            // any): each is written once those before it are.
            let mut arrived = BTreeMap::new();
            let mut k = 0;
            for (at, pieces) in rx {
                arrived.insert(at, pieces);
                while let Some(pieces) = arrived.remove(&k) {
                    let pieces = pieces.map_err(|e| unit_error(k, e))?;
                    for &w in &readers[k].1 {
                        clips.open(w).map_err(|e| io_error(&windows[w], e))?;
                    }
                    for piece in &pieces {
                        for &w in &piece.windows {
                            clips
                                .write(w, &piece.chunk)
                                .map_err(|e| io_error(&windows[w], e))?;
                        }
                    }
                    for &w in &readers[k].1 {
                        if last[w] == Some(k) {
                            clips.finish(w).map_err(|e| io_error(&windows[w], e))?;
                        }
                    }
                    k += 1;
                }
            }
            // Windows no unit meets: the latched messages alone.
            for (w, window) in windows.iter().enumerate() {
                if clips.stats[w].is_none() {
                    clips.open(w).map_err(|e| io_error(window, e))?;
                    clips.finish(w).map_err(|e| io_error(window, e))?;
                }
            }
            Ok(clips
                .stats
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect())
        });
        // One preparer per core, each taking the next unit in bag order,
        // so the writer never waits long for the one it needs; a full
        // channel holds them back, a failed writer stops them.
        rayon::scope(|workers| {
            for _ in 0..rayon::current_num_threads() {
                let tx = tx.clone();
                let next = &next;
                let readers = &readers;
                let ids = &ids;
                workers.spawn(move |_| {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some((i, ws)) = readers.get(k) else {
                            break;
                        };
                        let unit = &bag.layout.units[*i];
                        let pieces = unit_pieces(bag, unit, ws, windows, ids, compress);
                        if tx.send((k, pieces)).is_err() {
                            break; // the writer failed: its error is the one to give
                        }
                    }
                });
            }
        });
        drop(tx);
        writer.join().expect("the clip writer thread panicked")
    })
}

/// A unit's chunks, by its place among the units clips read.
type Prepared = (usize, std::io::Result<Vec<Piece>>);

/// Units prepared ahead of the clip writer, at most (beyond one per
/// core being prepared).
const UNITS_AHEAD: usize = 16;

/// A chunk and the windows whose clips it goes into.
struct Piece {
    windows: Vec<usize>,
    chunk: Chunk,
}

/// The chunks of one unit for the windows `ws` that read it, in bag order
/// per window: its messages of the clip channels are grouped into runs of
/// about [`CHUNK_BYTES`] (the same runs for every window); a run wholly
/// inside several windows is one chunk for all of them, a run a window's
/// edge cuts is that window's own chunk of the messages inside it. A unit
/// that cannot be read gives nothing: the extraction skipped it, with a
/// warning, too.
fn unit_pieces(
    bag: &Bag,
    unit: &extractor::container::Unit,
    ws: &[usize],
    windows: &[ClipWindow],
    ids: &ClipChannels,
    compress: bool,
) -> std::io::Result<Vec<Piece>> {
    let Ok(contents) = bag.read_unit(unit) else {
        return Ok(Vec::new());
    };
    let mut pieces = Vec::new();
    let mut run: Vec<(u16, &extractor::container::MessageRef)> = Vec::new();
    let mut run_bytes = 0;
    let messages = contents
        .messages
        .iter()
        .filter_map(|m| ids.id(m.conn).map(|id| (id, m)));
    let mut flush =
        |run: &mut Vec<(u16, &extractor::container::MessageRef)>| -> std::io::Result<()> {
            if run.is_empty() {
                return Ok(());
            }
            let lo = run.iter().map(|(_, m)| m.time_ns).min().unwrap_or(0);
            let hi = run.iter().map(|(_, m)| m.time_ns).max().unwrap_or(0);
            let (whole, cut): (Vec<usize>, Vec<usize>) = ws
                .iter()
                .partition(|&&w| windows[w].lo <= lo && hi < windows[w].hi);
            let chunk = |keep: &dyn Fn(u64) -> bool| {
                let mut c = ChunkBuilder::new();
                for (id, m) in run.iter().filter(|(_, m)| keep(m.time_ns)) {
                    c.push(*id, m.time_ns, &contents.data[m.range.clone()]);
                }
                (!c.is_empty()).then(|| c.finish(compress)).transpose()
            };
            if !whole.is_empty()
                && let Some(chunk) = chunk(&|_| true)?
            {
                pieces.push(Piece {
                    windows: whole,
                    chunk,
                });
            }
            for w in cut {
                let (a, b) = (windows[w].lo, windows[w].hi);
                if let Some(chunk) = chunk(&|t| (a..b).contains(&t))? {
                    pieces.push(Piece {
                        windows: vec![w],
                        chunk,
                    });
                }
            }
            run.clear();
            Ok(())
        };
    for (id, m) in messages {
        run.push((id, m));
        run_bytes += m.range.len();
        if run_bytes >= CHUNK_BYTES {
            flush(&mut run)?;
            run_bytes = 0;
        }
    }
    flush(&mut run)?;
    Ok(pieces)
}

/// The clips being written, one per window.
struct ClipsWriter<'a> {
    lake: &'a dyn Lake,
    committer: &'a Committer,
    windows: &'a [ClipWindow],
    before: &'a [Vec<(u32, u64, Vec<u8>)>],
    ids: &'a ClipChannels,
    profile: &'a str,
    compress: bool,
    open: Vec<Option<ClipWriter<'a, Box<dyn LakeFile>>>>,
    /// What each finished clip holds.
    stats: Vec<Option<ClipStats>>,
}

impl ClipsWriter<'_> {
    /// Starts window `w`'s clip unless it is open: the header, channels,
    /// the scene's metadata, then the latched messages as a chunk.
    fn open(&mut self, w: usize) -> std::io::Result<()> {
        if self.open[w].is_some() {
            return Ok(());
        }
        let window = &self.windows[w];
        let file = self.lake.create_large(&window.path)?;
        let mut clip = ClipWriter::new(file, self.profile, &generator(), self.ids)?;
        clip.write_metadata("bagpipe.scene", &window.metadata)?;
        let mut latched = ChunkBuilder::new();
        for (conn, time, bytes) in &self.before[w] {
            if let Some(id) = self.ids.id(*conn) {
                latched.push(id, *time, bytes);
            }
        }
        if !latched.is_empty() {
            clip.write_chunk(&latched.finish(self.compress)?)?;
        }
        self.open[w] = Some(clip);
        Ok(())
    }

    fn write(&mut self, w: usize, chunk: &Chunk) -> std::io::Result<()> {
        match &mut self.open[w] {
            Some(clip) => clip.write_chunk(chunk),
            None => Err(std::io::Error::other("a chunk for a clip not opened")),
        }
    }

    /// Ends window `w`'s clip and hands it over to be committed.
    fn finish(&mut self, w: usize) -> std::io::Result<()> {
        let clip = self.open[w]
            .take()
            .ok_or_else(|| std::io::Error::other("finishing a clip not opened"))?;
        let (file, stats) = clip.finish()?;
        self.committer.commit(&self.windows[w].path, file)?;
        self.stats[w] = Some(stats);
        Ok(())
    }
}

/// Whether the bag's clips get zstd chunks: the rule of the lake's `auto`
/// codec ([`worth_compressing`]) on the messages of the clip channels in
/// the first unit of up to [`SAMPLE_WINDOWS`] windows spread over the bag.
/// Clips of JPEG frames that zstd hardly shrinks are stored uncompressed:
/// zstd would be most of their CPU for a few percent of their size.
fn clips_worth_compressing(
    bag: &Bag,
    channels: &BTreeMap<u32, Selected>,
    windows: &[ClipWindow],
) -> bool {
    let step = windows.len().div_ceil(SAMPLE_WINDOWS).max(1);
    let contents: Vec<_> = windows
        .iter()
        .step_by(step)
        .filter_map(|w| bag.layout.units.iter().find(|u| clip_reads(u, channels, w)))
        .filter_map(|u| bag.read_unit(u).ok())
        .collect();
    let messages: Vec<&[u8]> = contents
        .iter()
        .flat_map(|c| {
            c.messages
                .iter()
                .filter(|m| channels.contains_key(&m.conn))
                .map(|m| &c.data[m.range.clone()])
        })
        .collect();
    worth_compressing(&messages)
}

/// Whether the clip of window `w` reads unit `u`: it meets the window and
/// may hold a message of one of the clip's channels.
fn clip_reads(
    u: &extractor::container::Unit,
    channels: &BTreeMap<u32, Selected>,
    w: &ClipWindow,
) -> bool {
    meets(u, w.lo, w.hi) && holds_any(u, channels)
}

/// Whether unit `u` may hold a message of one of the clip's channels.
fn holds_any(u: &extractor::container::Unit, channels: &BTreeMap<u32, Selected>) -> bool {
    u.connections.is_none() || channels.keys().any(|&c| u.may_hold(c))
}

/// Windows whose first unit is sampled to choose the clips' compression.
const SAMPLE_WINDOWS: usize = 8;

/// The messages of latched connections in the units read to find them,
/// kept so several clips looking back to the same units read them once.
#[derive(Default)]
struct LatchedCache {
    /// (unit index, connection) to that connection's messages in the unit.
    units: HashMap<(usize, u32), Vec<TimedBytes>>,
}

/// A message's log time and bytes.
type TimedBytes = (u64, Vec<u8>);

impl LatchedCache {
    /// The latest message of `conn` before `lo` (among equal times the
    /// last in bag order), reading only units that can hold it, latest
    /// first, until none left can hold a later one.
    fn latest_before(&mut self, bag: &Bag, conn: u32, lo: u64) -> Option<(u64, Vec<u8>)> {
        let units = &bag.layout.units;
        let candidates = (0..units.len())
            .filter(|&i| {
                let u = &units[i];
                u.may_hold(conn) && u.start_time_ns.is_none_or(|s| s < lo)
            })
            .collect();
        let (time, unit, at) = latest_in_units(units, candidates, |i| {
            let messages = self.units.entry((i, conn)).or_insert_with(|| {
                bag.read_unit(&units[i])
                    .map(|c| {
                        c.messages
                            .iter()
                            .filter(|m| m.conn == conn)
                            .map(|m| (m.time_ns, c.data[m.range.clone()].to_vec()))
                            .collect()
                    })
                    .unwrap_or_default()
            });
            // The last of the latest time in this unit, by its position.
            messages
                .iter()
                .enumerate()
                .filter(|(_, (t, _))| *t < lo)
                .max_by_key(|(_, (t, _))| *t)
                .map(|(at, (t, _))| (*t, at))
        })?;
        Some((time, self.units[&(unit, conn)][at].1.clone()))
    }
}

/// The latest of the messages `latest_in` finds in the units `candidates`
/// (indexes into `units`), with the unit it is in: units are tried latest
/// end first (those of unknown time first of all) until none left can
/// hold a later message than the one found; among equal times the last in
/// bag order wins. `latest_in(i)` gives unit `i`'s latest wanted message
/// (the last of equal times), or `None`.
fn latest_in_units<T>(
    units: &[extractor::container::Unit],
    mut candidates: Vec<usize>,
    mut latest_in: impl FnMut(usize) -> Option<(u64, T)>,
) -> Option<(u64, usize, T)> {
    candidates.sort_by_key(|&i| Reverse((units[i].end_time_ns.unwrap_or(u64::MAX), i)));
    let mut best: Option<(u64, usize, T)> = None;
    for i in candidates {
        if let (Some((t, _, _)), Some(end)) = (&best, units[i].end_time_ns)
            && end < *t
        {
            break;
        }
        if let Some((t, found)) = latest_in(i)
            && best.as_ref().is_none_or(|&(bt, bi, _)| (t, i) > (bt, bi))
        {
            best = Some((t, i, found));
        }
    }
    best
}

/// The report's camera frames, one per scene (read, decoded, scaled,
/// encoded again), taken in turn by whichever threads [`FrameGrabs::help`]:
/// cutting clips of JPEG frames (stored as they are) leaves a core half
/// idle, which a thread grabbing frames meanwhile fills.
struct FrameGrabs<'a> {
    bag: &'a Bag,
    camera: &'a ExtractedTable,
    starts: Vec<i64>,
    /// The next scene to take.
    next: AtomicUsize,
    frames: Vec<std::sync::OnceLock<Option<Result<Frame, String>>>>,
}

impl<'a> FrameGrabs<'a> {
    fn new(bag: &'a Bag, camera: &'a ExtractedTable, records: &[SceneRecord]) -> FrameGrabs<'a> {
        FrameGrabs {
            bag,
            camera,
            starts: records.iter().map(|r| r.start_time_ns).collect(),
            next: AtomicUsize::new(0),
            frames: records.iter().map(|_| std::sync::OnceLock::new()).collect(),
        }
    }

    /// Grabs scenes' frames until none is left.
    fn help(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(&start) = self.starts.get(i) else {
                return;
            };
            let _ = self.frames[i].set(grab_frame(self.bag, self.camera, start));
        }
    }

    /// Leaves the frames not taken yet (the export failed).
    fn stop(&self) {
        self.next.store(self.starts.len(), Ordering::Relaxed);
    }

    /// Each scene's frame, in order (`None`: none near its start).
    fn finish(self) -> Vec<Option<Result<Frame, String>>> {
        self.frames
            .into_iter()
            .map(|f| f.into_inner().flatten())
            .collect()
    }
}

/// The camera frame of a scene: the latest message of the camera table's
/// connections at or before `start` (within [`FRAME_LOOKBACK_NS`]), else
/// the first after it (as far). `None`: no message there.
fn grab_frame(bag: &Bag, camera: &ExtractedTable, start: i64) -> Option<Result<Frame, String>> {
    let start = u64::try_from(start).ok()?;
    let units = &bag.layout.units;
    let holds = |u: &extractor::container::Unit| camera.conns.iter().any(|&c| u.may_hold(c));
    // The look-back is seconds of camera data, and one frame is wanted.
    let candidates = (0..units.len())
        .filter(|&i| {
            holds(&units[i])
                && meets(
                    &units[i],
                    start.saturating_sub(FRAME_LOOKBACK_NS),
                    start + 1,
                )
        })
        .collect();
    let found = latest_in_units(units, candidates, |i| {
        let c = bag.read_unit(&units[i]).ok()?;
        c.messages
            .iter()
            .filter(|m| {
                camera.conns.contains(&m.conn)
                    && m.time_ns <= start
                    && m.time_ns + FRAME_LOOKBACK_NS >= start
            })
            .max_by_key(|m| m.time_ns) // the last of equal times
            .map(|m| (m.time_ns, c.data[m.range.clone()].to_vec()))
    });
    let mut best: Option<(u64, Vec<u8>)> = found.map(|(t, _, bytes)| (t, bytes));
    if best.is_none() {
        'after: for u in units
            .iter()
            .filter(|u| holds(u) && meets(u, start + 1, start + FRAME_LOOKBACK_NS))
        {
            let Ok(c) = bag.read_unit(u) else { continue };
            for m in &c.messages {
                if camera.conns.contains(&m.conn)
                    && m.time_ns > start
                    && m.time_ns <= start + FRAME_LOOKBACK_NS
                {
                    best = Some((m.time_ns, c.data[m.range.clone()].to_vec()));
                    break 'after;
                }
            }
        }
    }
    let (time, bytes) = best?;
    Some(decode_frame(camera, time, &bytes))
}

/// A camera message, decoded with its table's layout, as a frame.
fn decode_frame(camera: &ExtractedTable, time: u64, bytes: &[u8]) -> Result<Frame, String> {
    let time = time as i64;
    let mut decoder = MessageDecoder::new(camera.layout.clone());
    decoder
        .decode(time, bytes)
        .map_err(|e| format!("the message at {time} does not decode: {e}"))?;
    let batch = decoder.finish();
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| format!("no field {name}"))
    };
    let data = binary(column("data")?.as_ref()).ok_or("field data is not bytes")?;
    if is_type(&camera.datatype, "CompressedImage") {
        let format = column("format")?
            .as_string_opt::<i32>()
            .map(|a| a.value(0).to_string())
            .unwrap_or_default();
        return frame::from_compressed(&format, data, time);
    }
    // Unsigned ROS integers land in wider signed columns (Athena has no
    // unsigned types): read any integer width.
    let uint = |name: &str| -> Result<u32, String> {
        use arrow_array::types::{
            Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type,
        };
        let c = column(name)?;
        let value: Option<i64> = c
            .as_primitive_opt::<Int64Type>()
            .map(|a| a.value(0))
            .or_else(|| {
                c.as_primitive_opt::<UInt32Type>()
                    .map(|a| i64::from(a.value(0)))
            })
            .or_else(|| {
                c.as_primitive_opt::<Int32Type>()
                    .map(|a| i64::from(a.value(0)))
            })
            .or_else(|| {
                c.as_primitive_opt::<UInt16Type>()
                    .map(|a| i64::from(a.value(0)))
            })
            .or_else(|| {
                c.as_primitive_opt::<Int16Type>()
                    .map(|a| i64::from(a.value(0)))
            })
            .or_else(|| {
                c.as_primitive_opt::<UInt8Type>()
                    .map(|a| i64::from(a.value(0)))
            });
        value
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| format!("field {name} is not an unsigned 32-bit integer"))
    };
    let encoding = column("encoding")?
        .as_string_opt::<i32>()
        .map(|a| a.value(0).to_string())
        .ok_or("field encoding is not a string")?;
    let big_endian = uint("is_bigendian").is_ok_and(|v| v != 0);
    frame::from_raw(
        &frame::RawImage {
            width: uint("width")?,
            height: uint("height")?,
            encoding: &encoding,
            big_endian,
            step: uint("step")?,
            data,
        },
        time,
    )
}

/// The bytes of the first row of a binary column (any offset size).
fn binary(array: &dyn Array) -> Option<&[u8]> {
    if let Some(a) = array.as_binary_opt::<i32>() {
        return Some(a.value(0));
    }
    if let Some(a) = array.as_binary_opt::<i64>() {
        return Some(a.value(0));
    }
    None
}

/// The fixes of a NavSatFix table, in row order: `(log_time_ns, latitude,
/// longitude, altitude)`, leaving out non-finite ones and the `(0, 0)` a
/// receiver without a fix reports.
fn read_gps(
    lake: &Arc<dyn Lake>,
    table: &ExtractedTable,
) -> Result<Vec<(i64, f64, f64, f64)>, Failure> {
    let mut fixes: Vec<(i64, f64, f64, f64)> = Vec::new();
    let columns = ["log_time_ns", "latitude", "longitude", "altitude"];
    for_each_batch_of(lake, &table.files, &columns, |batch| {
        let col = |name: &str| batch.column_by_name(name).cloned();
        let (Some(t), Some(lat), Some(lon)) =
            (col("log_time_ns"), col("latitude"), col("longitude"))
        else {
            return Ok(());
        };
        let alt = col("altitude");
        let t = t.as_primitive::<Int64Type>();
        let f64s = |a: &Arc<dyn Array>| {
            a.as_primitive_opt::<arrow_array::types::Float64Type>()
                .cloned()
        };
        let (Some(lat), Some(lon)) = (f64s(&lat), f64s(&lon)) else {
            return Ok(());
        };
        let alt = alt.as_ref().and_then(f64s);
        for i in 0..batch.num_rows() {
            let (la, lo) = (lat.value(i), lon.value(i));
            if !la.is_finite() || !lo.is_finite() || (la == 0.0 && lo == 0.0) {
                continue;
            }
            let a = alt.as_ref().map_or(f64::NAN, |a| a.value(i));
            fixes.push((t.value(i), la, lo, a));
        }
        Ok(())
    })
    .map_err(|e| Failure::io(format_args!("reading table {}", table.name), &e))?;
    Ok(fixes)
}

/// Per topic of the catalogue, what the report's timeline and topic table
/// show: times from the topic's tables (its `log_time_ns` column only),
/// and the share of synchronized ticks where it is null.
pub fn topic_stats(
    lake: &Arc<dyn Lake>,
    record: &BagRecord,
    tables: &[ExtractedTable],
    synced: &Synced,
    interval_ms: u64,
) -> Result<Vec<TopicStats>, Failure> {
    let mut out = Vec::new();
    for (topic, t) in &record.topics {
        let mut stats = TopicStats {
            topic: topic.clone(),
            datatype: t.first.datatype.clone(),
            message_count: t.first.message_count
                + t.variants.iter().map(|v| v.message_count).sum::<u64>(),
            table: t.first.table.clone(),
            ..TopicStats::default()
        };
        for table in tables.iter().filter(|x| &x.topic == topic) {
            let s = table_gaps(lake, table, interval_ms)?;
            stats.first_ns = Some(stats.first_ns.map_or(s.first, |f| f.min(s.first)));
            stats.last_ns = Some(stats.last_ns.map_or(s.last, |l| l.max(s.last)));
            stats.largest_gap_ns = Some(stats.largest_gap_ns.unwrap_or(0).max(s.largest));
            stats.gaps.extend(s.gaps);
            if table.first_type
                && let Some(sync) = &synced.batch
                && let Some(column) = sync.column_by_name(&table.name)
                && sync.num_rows() > 0
            {
                stats.null_share = Some(column.null_count() as f64 / sync.num_rows() as f64);
            }
        }
        stats.gaps.sort_by_key(|(a, b)| Reverse(b - a));
        stats.gaps.truncate(MAX_GAPS);
        out.push(stats);
    }
    Ok(out)
}

struct Gaps {
    first: i64,
    last: i64,
    largest: i64,
    gaps: Vec<(i64, i64)>,
}

/// One table's time span, its longest gap, and its gaps longer than
/// three mean periods (and than one tick), the longest [`MAX_GAPS`].
fn table_gaps(
    lake: &Arc<dyn Lake>,
    table: &ExtractedTable,
    interval_ms: u64,
) -> Result<Gaps, Failure> {
    let (first, last) = table.time_range;
    let mean = if table.rows > 1 {
        (last - first) / (table.rows as i64 - 1)
    } else {
        0
    };
    let threshold = (3 * mean).max(i64::try_from(interval_ms).unwrap_or(100) * 1_000_000);
    let mut largest = 0i64;
    let mut heap: BinaryHeap<Reverse<(i64, i64, i64)>> = BinaryHeap::new();
    let mut previous: Option<i64> = None;
    for_each_batch_of(lake, &table.files, &["log_time_ns"], |batch| {
        let Some(times) = batch
            .column_by_name("log_time_ns")
            .and_then(|c| c.as_primitive_opt::<Int64Type>().cloned())
        else {
            return Ok(());
        };
        for &t in times.values() {
            if let Some(p) = previous
                && t > p
            {
                let gap = t - p;
                largest = largest.max(gap);
                if gap > threshold {
                    heap.push(Reverse((gap, p, t)));
                    if heap.len() > MAX_GAPS {
                        heap.pop();
                    }
                }
            }
            previous = Some(previous.map_or(t, |p| p.max(t)));
        }
        Ok(())
    })
    .map_err(|e| Failure::io(format_args!("reading table {}", table.name), &e))?;
    Ok(Gaps {
        first,
        last,
        largest,
        gaps: heap.into_iter().map(|Reverse((_, a, b))| (a, b)).collect(),
    })
}

/// A column's name in a batch, for errors.
#[allow(dead_code)]
fn names(batch: &RecordBatch) -> Vec<String> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use extractor::container::{Input, open};
    use extractor::testing::BagBuilder;

    fn window(lo: u64, hi: u64) -> ClipWindow {
        ClipWindow {
            path: format!("exports/b/{lo}.mcap"),
            lo,
            hi,
            metadata: BTreeMap::new(),
        }
    }

    #[test]
    fn a_run_of_messages_inside_several_windows_is_one_chunk_for_all() {
        // 100 messages, 1 ms apart, in units of 10 (each message's record
        // is about 70 bytes).
        let mut b = BagBuilder::new().chunk_threshold(700).connection(
            0,
            "/a",
            "std_msgs/String",
            "992ce8a1687cec8c8bd883ec73ca41d1",
            "string data\n",
        );
        for i in 0..100u64 {
            b = b.message(0, i * 1_000_000, &[7u8; 24]);
        }
        let bag = open(vec![Input::new("b.bag", Box::new(b.build()))]).unwrap();
        let units = &bag.layout.units;
        assert!(units.len() >= 8, "{} units", units.len());
        let channel = ClipChannel {
            topic: "/a".to_string(),
            schema_name: "std_msgs/String".to_string(),
            schema_encoding: "ros1msg".to_string(),
            schema: "string data\n".to_string(),
            message_encoding: "ros1".to_string(),
            metadata: BTreeMap::new(),
        };
        let ids = ClipChannels::new([(0, &channel)]).unwrap();
        // Two windows that overlap from 25 ms to 60 ms, a third apart.
        let ms = 1_000_000;
        let windows = [
            window(0, 60 * ms),
            window(25 * ms, 200 * ms),
            window(95 * ms, 97 * ms),
        ];
        let mut messages = [0u64; 3];
        let mut shared = 0;
        for unit in units {
            let ws: Vec<usize> = (0..windows.len())
                .filter(|&w| meets(unit, windows[w].lo, windows[w].hi))
                .collect();
            let (lo, hi) = (unit.start_time_ns.unwrap(), unit.end_time_ns.unwrap());
            let pieces = unit_pieces(&bag, unit, &ws, &windows, &ids, true).unwrap();
            let inside: Vec<usize> = ws
                .iter()
                .copied()
                .filter(|&w| windows[w].lo <= lo && hi < windows[w].hi)
                .collect();
            if inside.len() > 1 {
                // Wholly inside both: one chunk, for both.
                assert_eq!(pieces.len(), 1, "unit {lo}..={hi}");
                assert_eq!(pieces[0].windows, inside);
                shared += 1;
            }
            for piece in &pieces {
                assert!(piece.chunk.messages() > 0);
                for &w in &piece.windows {
                    messages[w] += piece.chunk.messages();
                }
            }
        }
        // Each window gets exactly its messages.
        assert_eq!(messages, [60, 75, 2]);
        assert!(shared >= 2, "{shared} shared units");
    }
}
