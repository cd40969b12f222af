//! `detect` on small synchronized batches built by hand in the shape of the
//! sample bags: `perception_msgs/ObjectDetections` (boxes at
//! `detections.bboxes`, Int32 centre and size) and
//! `perception_msgs/LaneDetections` (`lanes[].image_points[]`, Float32).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type};
use arrow_array::{
    Array, ArrayRef, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Int64Array,
    ListArray, RecordBatch, StringArray, StructArray, new_empty_array,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field, Fields, Schema};
use arrow_select::concat::concat;

use super::*;
use crate::config::{BoxGeometry, DetectionsConfig, LanesConfig, ScenesConfig};

const DETECTIONS: &str = "rgb_right_detections_only";
const LANES: &str = "post_process_lane_points_rgb_front_right";
const T0: i64 = 1_715_679_067_500_000_000;
const INTERVAL: i64 = 100_000_000;
const REGION: &str = "between_0_and_1";

/// One `perception_msgs/BoundingBox`.
struct Bx {
    class: &'static str,
    probability: f64,
    x: i32,
    y: i32,
    width: i32,
    height: i32,
}

fn bx(class: &'static str, x: i32, y: i32, width: i32, height: i32) -> Bx {
    Bx {
        class,
        probability: 0.9,
        x,
        y,
        width,
        height,
    }
}

fn struct_array(fields: Vec<(&str, ArrayRef)>, nulls: Option<NullBuffer>) -> StructArray {
    let (fields, columns): (Vec<Field>, Vec<ArrayRef>) = fields
        .into_iter()
        .map(|(name, a)| (Field::new(name, a.data_type().clone(), true), a))
        .unzip();
    StructArray::try_new(Fields::from(fields), columns, nulls).unwrap()
}

fn list_array(lengths: Vec<usize>, items: ArrayRef) -> ArrayRef {
    let item = Arc::new(Field::new_list_field(items.data_type().clone(), true));
    Arc::new(ListArray::new(
        item,
        OffsetBuffer::from_lengths(lengths),
        items,
        None,
    ))
}

fn nulls_of<T>(ticks: &[Option<T>]) -> NullBuffer {
    NullBuffer::from(ticks.iter().map(Option::is_some).collect::<Vec<_>>())
}

/// The boxes of one tick, as `BoundingBox` structs.
fn boxes(b: &[Bx]) -> ArrayRef {
    let ints =
        |f: fn(&Bx) -> i32| -> ArrayRef { Arc::new(Int32Array::from_iter_values(b.iter().map(f))) };
    Arc::new(struct_array(
        vec![
            (
                "Class",
                Arc::new(StringArray::from_iter_values(b.iter().map(|b| b.class))),
            ),
            (
                "probability",
                Arc::new(Float64Array::from_iter_values(
                    b.iter().map(|b| b.probability),
                )),
            ),
            (
                "id",
                Arc::new(Int16Array::from_iter_values(b.iter().map(|_| 1))),
            ),
            (
                "track_id",
                Arc::new(Int64Array::from_iter_values(b.iter().map(|_| 7))),
            ),
            ("x", ints(|b| b.x)),
            ("y", ints(|b| b.y)),
            ("width", ints(|b| b.width)),
            ("height", ints(|b| b.height)),
        ],
        None,
    ))
}

/// The `ObjectDetections` struct column: per tick, the box items (as made
/// by [`boxes`] or any struct array of type `item`), or no message.
fn detections_column(item: &DataType, ticks: &[Option<ArrayRef>]) -> ArrayRef {
    let empty = new_empty_array(item);
    let parts: Vec<&dyn Array> = ticks
        .iter()
        .map(|t| t.as_deref().unwrap_or(empty.as_ref()))
        .collect();
    // `concat` wants at least one array: lead with the empty one.
    let items = concat(&[&[empty.as_ref()], parts.as_slice()].concat()).unwrap();
    let bboxes = list_array(parts.iter().map(|p| p.len()).collect(), items);
    let n = ticks.len();
    let inner = struct_array(
        vec![
            ("image_width", Arc::new(Int64Array::from(vec![1920; n]))),
            ("image_height", Arc::new(Int64Array::from(vec![1200; n]))),
            ("bboxes", bboxes),
        ],
        None,
    );
    Arc::new(struct_array(
        vec![
            ("log_time_ns", Arc::new(Int64Array::from(vec![T0; n]))),
            ("model_name", Arc::new(StringArray::from(vec!["yolo"; n]))),
            ("detections", Arc::new(inner)),
        ],
        Some(nulls_of(ticks)),
    ))
}

type Lanes = Vec<Vec<(f32, f32)>>;

/// The `LaneDetections` struct column: per tick, the lanes' image points,
/// or no message.
fn lanes_column(ticks: &[Option<Lanes>]) -> ArrayRef {
    let lanes: Vec<&Vec<(f32, f32)>> = ticks.iter().flatten().flatten().collect();
    let points: Vec<(f32, f32)> = lanes.iter().flat_map(|l| l.iter().copied()).collect();
    let point_items: ArrayRef = Arc::new(struct_array(
        vec![
            (
                "x",
                Arc::new(Float32Array::from_iter_values(points.iter().map(|p| p.0))),
            ),
            (
                "y",
                Arc::new(Float32Array::from_iter_values(points.iter().map(|p| p.1))),
            ),
            ("z", Arc::new(Float32Array::from(vec![0.0; points.len()]))),
        ],
        None,
    ));
    let m = lanes.len();
    let lane_items: ArrayRef = Arc::new(struct_array(
        vec![
            ("id", Arc::new(Int8Array::from(vec![1; m]))),
            ("type", Arc::new(Int16Array::from(vec![1; m]))),
            ("confidence", Arc::new(Float32Array::from(vec![0.8; m]))),
            (
                "image_points",
                list_array(lanes.iter().map(|l| l.len()).collect(), point_items),
            ),
        ],
        None,
    ));
    let n = ticks.len();
    let per_tick = ticks
        .iter()
        .map(|t| t.as_ref().map_or(0, Vec::len))
        .collect();
    Arc::new(struct_array(
        vec![
            ("log_time_ns", Arc::new(Int64Array::from(vec![T0; n]))),
            ("lanes", list_array(per_tick, lane_items)),
        ],
        Some(nulls_of(ticks)),
    ))
}

fn sync_batch(detections: ArrayRef, lanes: ArrayRef) -> RecordBatch {
    let n = detections.len() as i64;
    let time: ArrayRef = Arc::new(Int64Array::from_iter_values(
        (0..n).map(|k| T0 + k * INTERVAL),
    ));
    let schema = Schema::new(vec![
        Field::new("time_ns", DataType::Int64, false),
        Field::new(DETECTIONS, detections.data_type().clone(), true),
        Field::new(LANES, lanes.data_type().clone(), true),
    ]);
    RecordBatch::try_new(Arc::new(schema), vec![time, detections, lanes]).unwrap()
}

/// A batch of the sample bags' shape.
fn sample_batch(ticks: &[(Option<Vec<Bx>>, Option<Lanes>)]) -> RecordBatch {
    let items: Vec<Option<ArrayRef>> = ticks.iter().map(|(d, _)| d.as_deref().map(boxes)).collect();
    let lanes: Vec<Option<Lanes>> = ticks.iter().map(|(_, l)| l.clone()).collect();
    sync_batch(
        detections_column(boxes(&[]).data_type(), &items),
        lanes_column(&lanes),
    )
}

/// `sample-bags/bagpipe.toml`.
fn sample_config() -> ScenesConfig {
    ScenesConfig {
        person_classes: vec!["person".into()],
        min_scene_ms: 0,
        merge_gap_ms: 0,
        detections: DetectionsConfig {
            topic: "/rgb_right_detections_only".into(),
            boxes: "detections.bboxes".into(),
            class: "Class".into(),
            score: Some("probability".into()),
            geometry: BoxGeometry::Centre {
                x: "x".into(),
                y: "y".into(),
                width: "width".into(),
                height: "height".into(),
            },
        },
        lanes: LanesConfig {
            topic: "/post_process/lane_points/rgb_front_right".into(),
            lanes: "lanes".into(),
            points: "image_points".into(),
            x: "x".into(),
            y: "y".into(),
        },
    }
}

/// The ego lane as the sample bags publish it: right line first, points
/// from the bottom of the image up. Between x = 800..1200 at the bottom
/// (y = 1190) and 900..1000 at y = 670.
fn ego_lane() -> Lanes {
    vec![
        vec![(1200.0, 1190.0), (1100.0, 930.0), (1000.0, 670.0)],
        vec![(800.0, 1190.0), (850.0, 930.0), (900.0, 670.0)],
    ]
}

fn run(batch: &RecordBatch, cfg: &ScenesConfig) -> RecordBatch {
    detect(batch, DETECTIONS, LANES, cfg).unwrap()
}

fn counts(out: &RecordBatch) -> Vec<i32> {
    out.column(1).as_primitive::<Int32Type>().values().to_vec()
}

fn objects(out: &RecordBatch) -> &ListArray {
    out.column(2).as_list::<i32>()
}

/// One object read back: (class, score, [x, y, width, height],
/// corners_in_lane, lanes).
type Object = (String, Option<f64>, [f64; 4], i32, Vec<String>);

/// The objects of tick `row`.
fn objects_at(out: &RecordBatch, row: usize) -> Vec<Object> {
    let list = objects(out).value(row);
    let s = list.as_struct();
    let f = |name: &str| {
        s.column_by_name(name)
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone()
    };
    let (class, score) = (s.column(0).as_string::<i32>(), f("score"));
    let (x, y, w, h) = (f("x"), f("y"), f("width"), f("height"));
    let corners = s.column(6).as_primitive::<Int32Type>();
    let lanes = s.column(7).as_list::<i32>();
    (0..s.len())
        .map(|i| {
            (
                class.value(i).to_string(),
                score.is_valid(i).then(|| score.value(i)),
                [x.value(i), y.value(i), w.value(i), h.value(i)],
                corners.value(i),
                lanes
                    .value(i)
                    .as_string::<i32>()
                    .iter()
                    .map(|n| n.unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn output_has_the_contract_schema_and_the_input_ticks() {
    let batch = sample_batch(&[
        (Some(vec![]), Some(ego_lane())),
        (Some(vec![]), Some(ego_lane())),
    ]);
    let out = run(&batch, &sample_config());
    assert_eq!(out.schema(), detections_schema());
    assert_eq!(
        tick_counts(&out),
        [(T0, 0), (T0 + INTERVAL, 0)],
        "same time_ns, one row per tick"
    );
}

#[test]
fn missing_detections_or_lanes_give_count_0_and_a_null_list() {
    let person = || Some(vec![bx("person", 1000, 1000, 40, 100)]);
    let batch = sample_batch(&[
        (None, Some(ego_lane())),
        (person(), None),
        (None, None),
        (person(), Some(ego_lane())),
    ]);
    let out = run(&batch, &sample_config());
    assert_eq!(counts(&out), [0, 0, 0, 1]);
    let list = objects(&out);
    assert_eq!(
        (0..4).map(|i| list.is_null(i)).collect::<Vec<_>>(),
        [true, true, true, false]
    );
}

#[test]
fn nothing_in_lane_is_an_empty_list() {
    // A person on the right pavement, beside the lanes; a box high in the
    // image, above the lanes' last points.
    let batch = sample_batch(&[(
        Some(vec![
            bx("person", 1700, 1000, 40, 100),
            bx("person", 950, 300, 40, 100),
        ]),
        Some(ego_lane()),
    )]);
    let out = run(&batch, &sample_config());
    assert_eq!(counts(&out), [0]);
    assert!(objects(&out).is_valid(0));
    assert_eq!(objects(&out).value_length(0), 0);
}

#[test]
fn fewer_than_two_usable_lanes_is_an_empty_list() {
    let person = || Some(vec![bx("person", 1000, 1000, 40, 100)]);
    let one_line = vec![ego_lane()[0].clone()];
    // The left line has a single point: ignored, which leaves one.
    let short_left = vec![ego_lane()[0].clone(), vec![(850.0, 930.0)]];
    let batch = sample_batch(&[
        (person(), Some(vec![])),
        (person(), Some(one_line)),
        (person(), Some(short_left)),
    ]);
    let out = run(&batch, &sample_config());
    assert_eq!(counts(&out), [0, 0, 0]);
    for row in 0..3 {
        assert!(objects(&out).is_valid(row), "row {row}");
        assert_eq!(objects(&out).value_length(row), 0, "row {row}");
    }
}

#[test]
fn person_and_car_in_lane_are_both_listed_and_one_is_counted() {
    let batch = sample_batch(&[(
        Some(vec![
            bx("car", 950, 800, 100, 60),
            bx("person", 1700, 1000, 40, 100), // beside the lanes
            Bx {
                probability: 0.75,
                ..bx("person", 1000, 1000, 40, 100)
            },
        ]),
        Some(ego_lane()),
    )]);
    let out = run(&batch, &sample_config());
    assert_eq!(counts(&out), [1]);
    assert_eq!(
        objects_at(&out, 0),
        [
            (
                "car".to_string(),
                Some(0.9),
                [950.0, 800.0, 100.0, 60.0],
                4,
                vec![REGION.to_string()]
            ),
            (
                "person".to_string(),
                Some(0.75),
                [1000.0, 1000.0, 40.0, 100.0],
                4,
                vec![REGION.to_string()]
            ),
        ]
    );
}

#[test]
fn a_box_with_one_corner_in_lane_is_in_lane() {
    // Bottom-left corner (1180, 1140) is inside; the others are right of
    // the right line.
    let batch = sample_batch(&[(
        Some(vec![bx("person", 1200, 1100, 40, 80)]),
        Some(ego_lane()),
    )]);
    let out = run(&batch, &sample_config());
    assert_eq!(counts(&out), [1]);
    assert_eq!(objects_at(&out, 0)[0].3, 1);
}

#[test]
fn classes_match_exactly() {
    let batch = sample_batch(&[(
        Some(vec![
            bx("Person", 1000, 1000, 40, 100),
            bx("person ", 1000, 1000, 40, 100),
            bx("person", 1000, 1000, 40, 100),
        ]),
        Some(ego_lane()),
    )]);
    let out = run(&batch, &sample_config());
    // All three are in lane and listed; only the exact "person" counts.
    assert_eq!(objects(&out).value_length(0), 3);
    assert_eq!(counts(&out), [1]);

    let mut cfg = sample_config();
    cfg.person_classes = vec!["Person".into(), "person".into()];
    assert_eq!(counts(&run(&batch, &cfg)), [2]);
}

#[test]
fn scores_are_null_without_a_score_path() {
    let batch = sample_batch(&[(
        Some(vec![bx("person", 1000, 1000, 40, 100)]),
        Some(ego_lane()),
    )]);
    let mut cfg = sample_config();
    cfg.detections.score = None;
    let out = run(&batch, &cfg);
    assert_eq!(objects_at(&out, 0)[0].1, None);
}

#[test]
fn corner_boxes_are_reported_by_centre_and_size() {
    // Boxes given as xmin/ymin/xmax/ymax, of other numeric types: Int64
    // and Float32.
    let items: ArrayRef = Arc::new(struct_array(
        vec![
            ("label", Arc::new(StringArray::from(vec!["person"]))),
            ("xmin", Arc::new(Int64Array::from(vec![980]))),
            ("ymin", Arc::new(Int64Array::from(vec![950]))),
            ("xmax", Arc::new(Float32Array::from(vec![1020.0]))),
            ("ymax", Arc::new(Float32Array::from(vec![1051.0]))),
        ],
        None,
    ));
    let batch = sync_batch(
        detections_column(items.data_type(), &[Some(items.clone())]),
        lanes_column(&[Some(ego_lane())]),
    );
    let mut cfg = sample_config();
    cfg.detections.class = "label".into();
    cfg.detections.score = None;
    cfg.detections.geometry = BoxGeometry::Corners {
        xmin: "xmin".into(),
        ymin: "ymin".into(),
        xmax: "xmax".into(),
        ymax: "ymax".into(),
    };
    let out = run(&batch, &cfg);
    assert_eq!(counts(&out), [1]);
    assert_eq!(objects_at(&out, 0)[0].2, [1000.0, 1000.5, 40.0, 101.0]);
}

#[test]
fn lane_order_in_the_message_does_not_matter() {
    let mut lanes = ego_lane();
    lanes.reverse();
    for p in &mut lanes {
        p.reverse();
    }
    let batch = sample_batch(&[
        (
            Some(vec![bx("person", 1000, 1000, 40, 100)]),
            Some(ego_lane()),
        ),
        (Some(vec![bx("person", 1000, 1000, 40, 100)]), Some(lanes)),
    ]);
    let out = run(&batch, &sample_config());
    assert_eq!(counts(&out), [1, 1]);
    assert_eq!(objects_at(&out, 0), objects_at(&out, 1));
}

fn error_text(batch: &RecordBatch, cfg: &ScenesConfig) -> String {
    detect(batch, DETECTIONS, LANES, cfg)
        .unwrap_err()
        .to_string()
}

fn assert_contains(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} not in {text:?}");
    }
}

#[test]
fn a_missing_path_names_the_key_the_path_and_the_fields_there() {
    let mut cfg = sample_config();
    cfg.detections.boxes = "detections.boxes".into();
    let batch = sample_batch(&[(Some(vec![]), Some(ego_lane()))]);
    let err = error_text(&batch, &cfg);
    assert_contains(
        &err,
        &[
            "scenes.detections.boxes",
            "\"detections.boxes\"",
            "\"boxes\"",
            "image_width, image_height, bboxes",
        ],
    );
}

#[test]
fn a_missing_path_fails_even_without_ticks() {
    let mut cfg = sample_config();
    cfg.lanes.points = "points".into();
    let batch = sample_batch(&[]);
    assert_eq!(batch.num_rows(), 0);
    let err = error_text(&batch, &cfg);
    assert_contains(
        &err,
        &[
            "scenes.lanes.points",
            "\"points\"",
            "id, type, confidence, image_points",
        ],
    );
    // The good config gives an empty table.
    assert_eq!(run(&batch, &sample_config()).num_rows(), 0);
}

#[test]
fn a_missing_box_field_names_the_box_fields() {
    let mut cfg = sample_config();
    cfg.detections.class = "class".into();
    let err = error_text(&sample_batch(&[]), &cfg);
    assert_contains(
        &err,
        &[
            "scenes.detections.class",
            "Class, probability, id, track_id, x, y, width, height",
        ],
    );
}

/// What is wrong, how to break the config, what the error must say.
type ErrorCase = (&'static str, fn(&mut ScenesConfig), &'static [&'static str]);

#[test]
fn paths_to_unusable_types_are_errors() {
    let batch = sample_batch(&[]);
    let cases: [ErrorCase; 4] = [
        (
            "boxes not a list",
            |c| c.detections.boxes = "detections".into(),
            &[
                "scenes.detections.boxes",
                "a list",
                "a struct with fields image_width, image_height, bboxes",
            ],
        ),
        (
            "class not a string",
            |c| c.detections.class = "x".into(),
            &["scenes.detections.class", "a string", "Int32"],
        ),
        (
            "x not a number",
            |c| {
                c.detections.geometry = BoxGeometry::Centre {
                    x: "Class".into(),
                    y: "y".into(),
                    width: "width".into(),
                    height: "height".into(),
                }
            },
            &["scenes.detections.x", "a number", "Utf8"],
        ),
        (
            "through a scalar",
            |c| c.lanes.x = "x.value".into(),
            &["scenes.lanes.x", "\"x.value\"", "a struct", "Float32"],
        ),
    ];
    for (what, change, parts) in cases {
        let mut cfg = sample_config();
        change(&mut cfg);
        let err = error_text(&batch, &cfg);
        for part in parts {
            assert!(err.contains(part), "{what}: {part:?} not in {err:?}");
        }
    }
}

#[test]
fn a_missing_topic_column_is_an_error() {
    let batch = sample_batch(&[]);
    let err = detect(&batch, "nope", LANES, &sample_config())
        .unwrap_err()
        .to_string();
    assert_contains(&err, &["\"nope\"", DETECTIONS]);
}
