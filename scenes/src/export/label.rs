//! A scene's label: an ASAM OpenLABEL 1.0.0 document (JSON) that scenario
//! tooling indexes. One frame per tick of the scene, `[start, end)`; each
//! frame holds the tick's in-lane objects exactly as `scene_detections`
//! has them (class, score, centre box `[x, y, w, h]`); one `PersonInLane`
//! action over every frame; and ASAM scenario tags: `HumanPedestrian`, and
//! `SubjectVehicleSpeed` with the ego speed range (km/h) when the
//! synchronized table has a speed.
//!
//! Object uids are numbered from 0 in frame order, one per box per frame:
//! a detector gives no track ids, so the same person in two ticks is two
//! objects, each in one frame.

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, RecordBatch, StructArray};
use arrow_schema::DataType;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::detect::{NUM_PEOPLE_IN_LANE, OBJECTS_IN_LANE, SCENE_DETECTIONS_TIME};
use crate::paths::Numbers;

/// ASAM's scenario tag ontology, which the tags are from.
pub const SCENARIO_TAGS_ONTOLOGY: &str =
    "https://openlabel.asam.net/V1-0-0/ontologies/openlabel_ontology_scenario_tags.ttl";
/// The ontology of the detector's classes and of the `PersonInLane`
/// action: bagpipe's own, described in `docs/exports.md`.
pub const BAGPIPE_ONTOLOGY: &str = "urn:bagpipe:ontology:scenes:1";

/// One in-lane object of a tick.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelObject {
    pub class: String,
    pub score: Option<f64>,
    /// Centre x, centre y, width, height.
    pub bbox: [f64; 4],
}

/// What a label is made from.
#[derive(Debug, Clone, Default)]
pub struct LabelInput {
    pub scene_id: String,
    /// The clip the label describes (its file name), when one is written.
    pub clip_file: Option<String>,
    /// The detections topic: the image the boxes are in.
    pub detections_topic: String,
    /// Each tick of the scene, `[start, end)`, with its in-lane objects.
    pub ticks: Vec<(i64, Vec<LabelObject>)>,
    /// The ego speed's range over the scene's ticks, m/s.
    pub speed_range: Option<(f64, f64)>,
    /// Where the speed comes from (a synchronized column and field).
    pub speed_source: Option<String>,
    /// What wrote it, e.g. `bagpipe 0.1.0`.
    pub generator: String,
}

/// A time in ns as seconds with 9 decimals, written as a JSON number
/// (exact: not through a float).
fn seconds(ns: i64) -> Box<RawValue> {
    let sign = if ns < 0 { "-" } else { "" };
    let abs = ns.unsigned_abs();
    RawValue::from_string(format!(
        "{sign}{}.{:09}",
        abs / 1_000_000_000,
        abs % 1_000_000_000
    ))
    .expect("digits and a point are JSON")
}

fn frame_interval(start: usize, end: usize) -> Value {
    json!({"frame_start": start, "frame_end": end})
}

/// One frame: its time and its objects.
#[derive(Serialize)]
struct Frame {
    frame_properties: FrameProperties,
    #[serde(skip_serializing_if = "Map::is_empty")]
    objects: Map<String, Value>,
}

#[derive(Serialize)]
struct FrameProperties {
    /// Seconds, an exact decimal (a `Value` would go through a float).
    timestamp: Box<RawValue>,
}

/// The document; `frames` is keyed by frame number, in order.
#[derive(Serialize)]
struct OpenLabel {
    metadata: Value,
    ontologies: Value,
    streams: Value,
    frame_intervals: Value,
    frames: BTreeMap<usize, Frame>,
    objects: Map<String, Value>,
    actions: Value,
    tags: Value,
}

/// The OpenLABEL document, pretty-printed.
pub fn label(input: &LabelInput) -> String {
    let intervals = if input.ticks.is_empty() {
        json!([])
    } else {
        json!([frame_interval(0, input.ticks.len() - 1)])
    };
    let mut frames = BTreeMap::new();
    let mut objects = Map::new();
    let mut uid = 0usize;
    for (i, (time_ns, in_lane)) in input.ticks.iter().enumerate() {
        let mut frame_objects = Map::new();
        for o in in_lane {
            let mut data = Map::new();
            data.insert("bbox".into(), json!([{"name": "box", "val": o.bbox}]));
            if let Some(score) = o.score {
                data.insert("num".into(), json!([{"name": "score", "val": score}]));
            }
            frame_objects.insert(uid.to_string(), json!({ "object_data": data }));
            objects.insert(
                uid.to_string(),
                json!({
                    "name": format!("{}_{uid}", o.class),
                    "type": o.class,
                    "ontology_uid": "1",
                    "frame_intervals": [frame_interval(i, i)],
                }),
            );
            uid += 1;
        }
        frames.insert(
            i,
            Frame {
                frame_properties: FrameProperties {
                    timestamp: seconds(*time_ns),
                },
                objects: frame_objects,
            },
        );
    }

    let mut tags = Map::new();
    tags.insert(
        "0".into(),
        json!({"type": "HumanPedestrian", "ontology_uid": "0"}),
    );
    let mut boundary = vec!["HumanPedestrian"];
    if let Some((lo, hi)) = input.speed_range {
        boundary.push("SubjectVehicleSpeed");
        let kmh = |v: f64| (v * 3.6 * 1000.0).round() / 1000.0;
        tags.insert(
            "1".into(),
            json!({
                "type": "SubjectVehicleSpeed",
                "ontology_uid": "0",
                "tag_data": {"vec": [{"name": "km/h", "type": "range", "val": [kmh(lo), kmh(hi)]}]},
            }),
        );
    }

    let mut metadata = Map::new();
    metadata.insert("schema_version".into(), json!("1.0.0"));
    metadata.insert("name".into(), json!(input.scene_id));
    metadata.insert(
        "annotator".into(),
        json!(format!("{} (automatic)", input.generator)),
    );
    if let Some(clip) = &input.clip_file {
        metadata.insert("tagged_file".into(), json!(clip));
    }
    let mut comment = format!(
        "In-lane objects of each synchronized tick of {}; boxes are centre x, centre y, width, height in the image of {}",
        input.scene_id, input.detections_topic
    );
    if let Some(source) = &input.speed_source {
        comment.push_str(&format!("; ego speed range in km/h from {source}"));
    }
    metadata.insert("comment".into(), json!(comment));

    let doc = OpenLabel {
        metadata: Value::Object(metadata),
        ontologies: json!({
            "0": {
                "uri": SCENARIO_TAGS_ONTOLOGY,
                "boundary_list": boundary,
                "boundary_mode": "include",
            },
            "1": {"uri": BAGPIPE_ONTOLOGY},
        }),
        streams: json!({
            "camera": {
                "type": "camera",
                "uri": input.detections_topic,
                "description": "the image the detections and lanes are in",
            },
        }),
        frame_intervals: intervals.clone(),
        frames,
        objects,
        actions: json!({
            "0": {
                "name": input.scene_id,
                "type": "PersonInLane",
                "ontology_uid": "1",
                "frame_intervals": intervals,
            },
        }),
        tags: Value::Object(tags),
    };
    let mut text = serde_json::to_string_pretty(&json_root(doc)).expect("the label serializes");
    text.push('\n');
    text
}

/// `{"openlabel": ...}`.
fn json_root(doc: OpenLabel) -> BTreeMap<&'static str, OpenLabel> {
    BTreeMap::from([("openlabel", doc)])
}

/// The ticks of `[start, end)` from a `scene_detections` batch (as
/// [`crate::detect::detect`] writes it), each with its in-lane objects; a
/// null `objects_in_lane` is an empty list.
pub fn scene_ticks(
    detections: &RecordBatch,
    start_ns: i64,
    end_ns: i64,
) -> Vec<(i64, Vec<LabelObject>)> {
    let (Some(times), Some(objects)) = (
        detections.column_by_name(SCENE_DETECTIONS_TIME),
        detections.column_by_name(OBJECTS_IN_LANE),
    ) else {
        return Vec::new();
    };
    let _ = NUM_PEOPLE_IN_LANE;
    let times = times.as_primitive::<Int64Type>();
    let lists = objects.as_list::<i32>();
    let items = lists.values().as_struct();
    let column = |name: &str| {
        items
            .column_by_name(name)
            .expect("an objects_in_lane field")
    };
    let class = column("class").as_string::<i32>();
    let score = column("score").as_primitive::<arrow_array::types::Float64Type>();
    let coord = |name: &str| {
        column(name)
            .as_primitive::<arrow_array::types::Float64Type>()
            .clone()
    };
    let (x, y, w, h) = (coord("x"), coord("y"), coord("width"), coord("height"));
    let mut out = Vec::new();
    for row in rows_in(times.values(), start_ns, end_ns) {
        let t = times.value(row);
        let mut tick = Vec::new();
        if lists.is_valid(row) {
            let offsets = lists.value_offsets();
            for i in offsets[row] as usize..offsets[row + 1] as usize {
                tick.push(LabelObject {
                    class: class.value(i).to_string(),
                    score: score.is_valid(i).then(|| score.value(i)),
                    bbox: [x.value(i), y.value(i), w.value(i), h.value(i)],
                });
            }
        }
        out.push((t, tick));
    }
    out
}

/// The ego speed in the synchronized table: the first struct column with
/// a numeric `speed` field (`dbw_msgs/SteeringReport`, say), else with
/// `twist.linear.x` (`TwistStamped`) or `twist.twist.linear.x`
/// (`Odometry`), that has a value in `[start, end)`. Returns its range and
/// where it came from.
pub fn speed_range(sync: &RecordBatch, start_ns: i64, end_ns: i64) -> Option<((f64, f64), String)> {
    let times = sync
        .column_by_name(SCENE_DETECTIONS_TIME)?
        .as_primitive_opt::<Int64Type>()?;
    let rows = rows_in(times.values(), start_ns, end_ns);
    const PATHS: [&[&str]; 3] = [
        &["speed"],
        &["twist", "linear", "x"],
        &["twist", "twist", "linear", "x"],
    ];
    for path in PATHS {
        for (field, column) in sync.schema().fields().iter().zip(sync.columns()) {
            if !matches!(field.data_type(), DataType::Struct(_)) {
                continue;
            }
            let Some((values, valid)) = follow(column.as_struct(), path) else {
                continue;
            };
            let mut range: Option<(f64, f64)> = None;
            for r in rows.clone() {
                if valid(r) {
                    let v = values.value(r);
                    if v.is_finite() {
                        range = Some(match range {
                            None => (v, v),
                            Some((lo, hi)) => (lo.min(v), hi.max(v)),
                        });
                    }
                }
            }
            if let Some(range) = range {
                return Some((range, format!("{}.{}", field.name(), path.join("."))));
            }
        }
    }
    None
}

/// The rows of `times` in `[start_ns, end_ns)`. Both tables are written in
/// tick order, so the rows are found by bisection: scanning every tick for
/// every scene was quadratic (2,175 scenes of a 1.8-hour drive, 108,600
/// ticks).
fn rows_in(times: &[i64], start_ns: i64, end_ns: i64) -> std::ops::Range<usize> {
    debug_assert!(times.is_sorted(), "ticks in time order");
    let lo = times.partition_point(|&t| t < start_ns);
    let hi = times.partition_point(|&t| t < end_ns);
    lo..hi.max(lo)
}

/// A numeric field down `path` of a struct column, with a row's validity
/// (every struct on the way and the value itself present).
fn follow<'a>(
    root: &'a StructArray,
    path: &[&str],
) -> Option<(Numbers<'a>, impl Fn(usize) -> bool + 'a)> {
    let mut chain: Vec<&'a dyn Array> = vec![root];
    let mut current: &'a StructArray = root;
    for (i, part) in path.iter().enumerate() {
        let child = current.column_by_name(part)?;
        chain.push(child.as_ref());
        if i + 1 < path.len() {
            current = child.as_struct_opt()?;
        }
    }
    let leaf = *chain.last()?;
    let numbers = Numbers::new(leaf)?;
    Some((numbers, move |r: usize| chain.iter().all(|a| a.is_valid(r))))
}

/// The in-lane objects of each tick as a map, for tests and callers that
/// look a tick up by time.
pub fn by_time(ticks: &[(i64, Vec<LabelObject>)]) -> BTreeMap<i64, &[LabelObject]> {
    ticks.iter().map(|(t, o)| (*t, o.as_slice())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> LabelInput {
        LabelInput {
            scene_id: "drive_PersonInLane_1000000000".into(),
            clip_file: Some("drive_PersonInLane_1000000000.mcap".into()),
            detections_topic: "/detections".into(),
            ticks: vec![
                (
                    1_000_000_000,
                    vec![LabelObject {
                        class: "person".into(),
                        score: Some(0.5),
                        bbox: [10.0, 20.0, 4.0, 8.0],
                    }],
                ),
                (1_100_000_000, vec![]),
                (
                    1_200_000_000,
                    vec![
                        LabelObject {
                            class: "person".into(),
                            score: None,
                            bbox: [1.0, 2.0, 3.0, 4.0],
                        },
                        LabelObject {
                            class: "car".into(),
                            score: Some(0.9),
                            bbox: [5.0, 6.0, 7.0, 8.0],
                        },
                    ],
                ),
            ],
            speed_range: Some((2.0, 5.0)),
            speed_source: Some("vehicle_steering_report.speed".into()),
            generator: "bagpipe test".into(),
        }
    }

    #[test]
    fn frames_objects_action_and_tags_follow_the_ticks() {
        let text = label(&input());
        let doc: Value = serde_json::from_str(&text).unwrap();
        let ol = &doc["openlabel"];
        assert_eq!(ol["metadata"]["schema_version"], "1.0.0");
        assert_eq!(
            ol["frame_intervals"],
            json!([{"frame_start": 0, "frame_end": 2}])
        );
        let frames = ol["frames"].as_object().unwrap();
        assert_eq!(frames.keys().collect::<Vec<_>>(), ["0", "1", "2"]);
        assert!(frames["1"].get("objects").is_none());
        let f2 = frames["2"]["objects"].as_object().unwrap();
        assert_eq!(f2.keys().collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(
            f2["1"]["object_data"]["bbox"][0]["val"],
            json!([1.0, 2.0, 3.0, 4.0])
        );
        assert!(
            f2["1"]["object_data"].get("num").is_none(),
            "no score, no num"
        );
        assert_eq!(f2["2"]["object_data"]["num"][0]["val"], json!(0.9));
        assert_eq!(ol["objects"]["2"]["type"], "car");
        assert_eq!(
            ol["objects"]["2"]["frame_intervals"],
            json!([{"frame_start": 2, "frame_end": 2}])
        );
        assert_eq!(ol["actions"]["0"]["type"], "PersonInLane");
        assert_eq!(
            ol["tags"]["1"]["tag_data"]["vec"][0]["val"],
            json!([7.2, 18.0])
        );
        // Timestamps are exact decimals, not floats.
        assert!(text.contains("\"timestamp\": 1.100000000"), "{text}");
    }

    #[test]
    fn a_window_holds_its_start_tick_and_not_its_end_tick() {
        let ticks = [100, 200, 200, 300, 400];
        assert_eq!(rows_in(&ticks, 200, 400), 1..4);
        assert_eq!(rows_in(&ticks, 150, 201), 1..3);
        assert_eq!(rows_in(&ticks, 0, 1000), 0..5);
        assert_eq!(rows_in(&ticks, 401, 500), 5..5);
        assert_eq!(rows_in(&ticks, 0, 100), 0..0);
        assert_eq!(rows_in(&ticks, 300, 200), 3..3);
        assert_eq!(rows_in(&[], 0, 10), 0..0);
    }

    #[test]
    fn without_a_speed_there_is_no_speed_tag() {
        let mut i = input();
        i.speed_range = None;
        let doc: Value = serde_json::from_str(&label(&i)).unwrap();
        assert_eq!(doc["openlabel"]["tags"].as_object().unwrap().len(), 1);
        assert_eq!(
            doc["openlabel"]["ontologies"]["0"]["boundary_list"],
            json!(["HumanPedestrian"])
        );
    }

    #[test]
    fn seconds_are_written_exactly() {
        assert_eq!(
            seconds(1_715_679_070_700_000_000).get(),
            "1715679070.700000000"
        );
        assert_eq!(seconds(5).get(), "0.000000005");
        assert_eq!(seconds(-1_500_000_000).get(), "-1.500000000");
    }
}
