//! From the synchronized table to the `scene_detections` table: per tick,
//! the objects in lane and the number of people among them (`CONTRACT.md`,
//! "Lane assignment and scene detections").
//!
//! The configured paths are resolved and type-checked once against the
//! batch's schema (a `Plan`), so a bad path fails even for a bag with no
//! ticks; the arrays are then walked by offsets, tick by tick, and the
//! geometry of each tick is left to [`crate::geometry`].
//!
//! Decoded ROS messages have no nulls inside a message, but the Arrow types
//! allow them, so they are given a meaning here: a null box list or lane
//! list inside a present message is an empty one; a lane whose point list
//! is null has no points (and is ignored); a point with a null coordinate
//! is left out of its lane; a box with a null class or coordinate cannot be
//! placed and is left out; a null score is reported as null.

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int32Array, ListArray, RecordBatch, StructArray};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{ArrowError, DataType, Field, FieldRef, Fields, Schema, SchemaRef};

use crate::config::{BoxGeometry, ScenesConfig};
use crate::geometry::{Region, assign_corners, box_corners, lane_regions};
use crate::paths::{FieldPath, Lists, Numbers, Strings, Validity, expect_struct_items};

pub use crate::geometry::DetectedBox;

/// An error of the scene stage: the configuration does not fit the
/// synchronized table.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The synchronized table has no column of that name.
    #[error(
        "the synchronized table has no column {column:?} (its columns: {})",
        list(existing)
    )]
    NoColumn {
        column: String,
        existing: Vec<String>,
    },
    /// A column of the synchronized table has a type that cannot be used.
    #[error(
        "column {column:?} of the synchronized table is {}, expected {expected}",
        describe(actual)
    )]
    ColumnType {
        column: String,
        expected: &'static str,
        actual: DataType,
    },
    /// A configured path names a field that does not exist.
    #[error(
        "{key} = {path:?}: no field {segment:?} in {level}; the fields there are: {}",
        list(existing)
    )]
    NoField {
        /// The config key, e.g. `scenes.detections.boxes`.
        key: &'static str,
        /// The path as configured.
        path: String,
        /// The segment of the path that was not found.
        segment: String,
        /// Where it was looked up.
        level: String,
        /// The fields that exist there.
        existing: Vec<String>,
    },
    /// A configured path reaches a type it cannot use.
    #[error(
        "{key} = {path:?}: {at:?} is {}, expected {expected}",
        describe(actual)
    )]
    FieldType {
        /// The config key.
        key: &'static str,
        /// The path as configured.
        path: String,
        /// The part of the path that has the wrong type.
        at: String,
        /// What the key needs there.
        expected: &'static str,
        /// What is there.
        actual: DataType,
    },
    /// Arrow refused the output (a null `time_ns` in the input, say).
    #[error("building the scene_detections table: {0}")]
    Arrow(#[from] ArrowError),
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}

/// A type for an error message: a struct by its field names (its full type
/// can run to lines), anything else as Arrow prints it.
fn describe(data_type: &DataType) -> String {
    match data_type {
        DataType::Struct(fields) => format!(
            "a struct with fields {}",
            list(&fields.iter().map(|f| f.name().clone()).collect::<Vec<_>>())
        ),
        other => other.to_string(),
    }
}

/// `Result` of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The tick column, in the synchronized table and in `scene_detections`.
pub const SCENE_DETECTIONS_TIME: &str = "time_ns";
/// The per-tick people count column of `scene_detections`.
pub const NUM_PEOPLE_IN_LANE: &str = "num_people_in_lane";
/// The per-tick objects column of `scene_detections`.
pub const OBJECTS_IN_LANE: &str = "objects_in_lane";

const KEY_BOXES: &str = "scenes.detections.boxes";
const KEY_CLASS: &str = "scenes.detections.class";
const KEY_SCORE: &str = "scenes.detections.score";
const KEY_X: &str = "scenes.detections.x";
const KEY_Y: &str = "scenes.detections.y";
const KEY_WIDTH: &str = "scenes.detections.width";
const KEY_HEIGHT: &str = "scenes.detections.height";
const KEY_XMIN: &str = "scenes.detections.xmin";
const KEY_YMIN: &str = "scenes.detections.ymin";
const KEY_XMAX: &str = "scenes.detections.xmax";
const KEY_YMAX: &str = "scenes.detections.ymax";
const KEY_LANES: &str = "scenes.lanes.lanes";
const KEY_POINTS: &str = "scenes.lanes.points";
const KEY_LANE_X: &str = "scenes.lanes.x";
const KEY_LANE_Y: &str = "scenes.lanes.y";

/// The `lanes` field of one object: the region names it touches.
fn lanes_field() -> Field {
    Field::new(
        "lanes",
        DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, false))),
        false,
    )
}

/// The fields of one object in `objects_in_lane`.
fn object_fields() -> Fields {
    Fields::from(vec![
        Field::new("class", DataType::Utf8, false),
        Field::new("score", DataType::Float64, true),
        Field::new("x", DataType::Float64, false),
        Field::new("y", DataType::Float64, false),
        Field::new("width", DataType::Float64, false),
        Field::new("height", DataType::Float64, false),
        Field::new("corners_in_lane", DataType::Int32, false),
        lanes_field(),
    ])
}

/// The item field of `objects_in_lane`.
fn object_item() -> FieldRef {
    Arc::new(Field::new_list_field(
        DataType::Struct(object_fields()),
        false,
    ))
}

/// The scene_detections schema: `time_ns` Int64; `num_people_in_lane`
/// Int32; `objects_in_lane`
/// `List<Struct{class: Utf8, score: Float64 nullable, x, y, width, height:
/// Float64, corners_in_lane: Int32, lanes: List<Utf8>}>`, the list nullable
/// (null where detections or lanes are missing at that tick).
pub fn detections_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(SCENE_DETECTIONS_TIME, DataType::Int64, false),
        Field::new(NUM_PEOPLE_IN_LANE, DataType::Int32, false),
        Field::new(OBJECTS_IN_LANE, DataType::List(object_item()), true),
    ]))
}

/// The paths to a box's geometry, in the order of [`BoxGeometry`]'s
/// fields.
#[derive(Debug)]
struct GeometryPaths {
    /// `true`: xmin, ymin, xmax, ymax; `false`: x, y, width, height.
    corners: bool,
    paths: [FieldPath; 4],
}

/// Every configured path, resolved and type-checked against one schema.
#[derive(Debug)]
struct Plan {
    time: usize,
    detections: usize,
    lanes: usize,
    boxes: FieldPath,
    class: FieldPath,
    score: Option<FieldPath>,
    geometry: GeometryPaths,
    lane_list: FieldPath,
    points: FieldPath,
    x: FieldPath,
    y: FieldPath,
}

/// The index and fields of struct column `name`.
fn struct_column<'a>(schema: &'a Schema, name: &str) -> Result<(usize, &'a Fields)> {
    let (index, field) = schema
        .column_with_name(name)
        .ok_or_else(|| Error::NoColumn {
            column: name.to_string(),
            existing: schema.fields().iter().map(|f| f.name().clone()).collect(),
        })?;
    match field.data_type() {
        DataType::Struct(fields) => Ok((index, fields)),
        other => Err(Error::ColumnType {
            column: name.to_string(),
            expected: "a struct (one topic's messages)",
            actual: other.clone(),
        }),
    }
}

fn number(key: &'static str, path: &str, fields: &Fields, level: &str) -> Result<FieldPath> {
    let resolved = FieldPath::resolve(key, path, fields, level)?;
    resolved.expect_number()?;
    Ok(resolved)
}

impl Plan {
    fn new(
        schema: &Schema,
        detections_column: &str,
        lanes_column: &str,
        cfg: &ScenesConfig,
    ) -> Result<Plan> {
        let (time, time_field) =
            schema
                .column_with_name(SCENE_DETECTIONS_TIME)
                .ok_or_else(|| Error::NoColumn {
                    column: SCENE_DETECTIONS_TIME.to_string(),
                    existing: schema.fields().iter().map(|f| f.name().clone()).collect(),
                })?;
        if time_field.data_type() != &DataType::Int64 {
            return Err(Error::ColumnType {
                column: SCENE_DETECTIONS_TIME.to_string(),
                expected: "Int64",
                actual: time_field.data_type().clone(),
            });
        }

        let d = &cfg.detections;
        let (detections, message) = struct_column(schema, detections_column)?;
        let level = format!("the message in column {detections_column:?}");
        let boxes = FieldPath::resolve(KEY_BOXES, &d.boxes, message, &level)?;
        let item = expect_struct_items(KEY_BOXES, &boxes, boxes.expect_list()?)?;
        let level = format!("one box of {:?}", d.boxes);
        let class = FieldPath::resolve(KEY_CLASS, &d.class, item, &level)?;
        class.expect_string()?;
        let score = match &d.score {
            Some(path) => Some(number(KEY_SCORE, path, item, &level)?),
            None => None,
        };
        let geometry = match &d.geometry {
            BoxGeometry::Centre {
                x,
                y,
                width,
                height,
            } => GeometryPaths {
                corners: false,
                paths: [
                    number(KEY_X, x, item, &level)?,
                    number(KEY_Y, y, item, &level)?,
                    number(KEY_WIDTH, width, item, &level)?,
                    number(KEY_HEIGHT, height, item, &level)?,
                ],
            },
            BoxGeometry::Corners {
                xmin,
                ymin,
                xmax,
                ymax,
            } => GeometryPaths {
                corners: true,
                paths: [
                    number(KEY_XMIN, xmin, item, &level)?,
                    number(KEY_YMIN, ymin, item, &level)?,
                    number(KEY_XMAX, xmax, item, &level)?,
                    number(KEY_YMAX, ymax, item, &level)?,
                ],
            },
        };

        let l = &cfg.lanes;
        let (lanes, message) = struct_column(schema, lanes_column)?;
        let level = format!("the message in column {lanes_column:?}");
        let lane_list = FieldPath::resolve(KEY_LANES, &l.lanes, message, &level)?;
        let lane = expect_struct_items(KEY_LANES, &lane_list, lane_list.expect_list()?)?;
        let level = format!("one lane of {:?}", l.lanes);
        let points = FieldPath::resolve(KEY_POINTS, &l.points, lane, &level)?;
        let point = expect_struct_items(KEY_POINTS, &points, points.expect_list()?)?;
        let level = format!("one point of {:?}", l.points);
        let x = number(KEY_LANE_X, &l.x, point, &level)?;
        let y = number(KEY_LANE_Y, &l.y, point, &level)?;

        Ok(Plan {
            time,
            detections,
            lanes,
            boxes,
            class,
            score,
            geometry,
            lane_list,
            points,
            x,
            y,
        })
    }
}

// The readers below unwrap what `Plan::new` checked: the batch's columns
// have the schema's types, so a path that type-checked reaches an array of
// that type.
const CHECKED: &str = "the type was checked when the plan was made";

fn lists<'a>(path: &FieldPath, root: &'a StructArray) -> (Lists<'a>, Validity) {
    let (array, valid) = path.follow(root);
    (Lists::new(array.as_ref()).expect(CHECKED), valid)
}

fn numbers<'a>(path: &FieldPath, root: &'a StructArray) -> (Numbers<'a>, Validity) {
    let (array, valid) = path.follow(root);
    (Numbers::new(array.as_ref()).expect(CHECKED), valid)
}

/// The `objects_in_lane` column under construction.
struct ObjectsBuilder {
    offsets: Vec<i32>,
    valid: Vec<bool>,
    class: StringBuilder,
    score: Float64Builder,
    x: Vec<f64>,
    y: Vec<f64>,
    width: Vec<f64>,
    height: Vec<f64>,
    corners_in_lane: Vec<i32>,
    lanes: ListBuilder<StringBuilder>,
}

impl ObjectsBuilder {
    fn new(ticks: usize) -> Self {
        let mut offsets = Vec::with_capacity(ticks + 1);
        offsets.push(0);
        let DataType::List(item) = lanes_field().data_type().clone() else {
            unreachable!("lanes_field is a list")
        };
        ObjectsBuilder {
            offsets,
            valid: Vec::with_capacity(ticks),
            class: StringBuilder::new(),
            score: Float64Builder::new(),
            x: Vec::new(),
            y: Vec::new(),
            width: Vec::new(),
            height: Vec::new(),
            corners_in_lane: Vec::new(),
            lanes: ListBuilder::new(StringBuilder::new()).with_field(item),
        }
    }

    fn push_object(&mut self, b: &DetectedBox, corners_in_lane: i32, lanes: &[String]) {
        self.class.append_value(&b.class);
        self.score.append_option(b.score);
        self.x.push(b.x);
        self.y.push(b.y);
        self.width.push(b.width);
        self.height.push(b.height);
        self.corners_in_lane.push(corners_in_lane);
        for name in lanes {
            self.lanes.values().append_value(name);
        }
        self.lanes.append(true);
    }

    /// Ends the tick's list: null (`valid == false`) or the objects pushed
    /// since the previous tick.
    fn end_tick(&mut self, valid: bool) {
        self.offsets.push(self.x.len() as i32);
        self.valid.push(valid);
    }

    fn finish(mut self) -> Result<ListArray> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.class.finish()),
            Arc::new(self.score.finish()),
            Arc::new(Float64Array::from(self.x)),
            Arc::new(Float64Array::from(self.y)),
            Arc::new(Float64Array::from(self.width)),
            Arc::new(Float64Array::from(self.height)),
            Arc::new(Int32Array::from(self.corners_in_lane)),
            Arc::new(self.lanes.finish()),
        ];
        let objects = StructArray::try_new(object_fields(), columns, None)?;
        let offsets = OffsetBuffer::new(self.offsets.into());
        let nulls = NullBuffer::from(self.valid);
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        Ok(ListArray::try_new(
            object_item(),
            offsets,
            Arc::new(objects),
            nulls,
        )?)
    }
}

/// One box of a tick, placed against the tick's lanes.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedBox {
    pub detected: DetectedBox,
    /// Corners inside (or on) at least one region; `>= 1`: in lane.
    pub corners_in_lane: i32,
    /// The regions hit, in corner order, then region order.
    pub lanes: Vec<String>,
    /// Whether its class is one of `person_classes`.
    pub person: bool,
}

impl PlacedBox {
    /// Whether the box is in lane.
    pub fn in_lane(&self) -> bool {
        self.corners_in_lane >= 1
    }
}

/// What one tick holds: its lanes and every box that could be placed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tick {
    /// Each lane's points, in the message's order (lanes with fewer than
    /// two points included: they are drawn, but make no region).
    pub lanes: Vec<Vec<(f64, f64)>>,
    /// Every box of the message in its order, in lane or not.
    pub boxes: Vec<PlacedBox>,
}

impl Tick {
    /// People in lane: in-lane boxes whose class counts as a person.
    pub fn people_in_lane(&self) -> i32 {
        self.boxes
            .iter()
            .filter(|b| b.person && b.in_lane())
            .count() as i32
    }
}

/// The configured detections and lanes of a synchronized batch, read tick
/// by tick: what [`detect`] writes and what a report draws come from here.
pub struct TickReader<'a> {
    time: &'a arrow_array::Int64Array,
    detections: &'a StructArray,
    lanes: &'a StructArray,
    corners: bool,
    boxes: (Lists<'a>, Validity),
    classes: (Strings<'a>, Validity),
    score: Option<(Numbers<'a>, Validity)>,
    geometry: [(Numbers<'a>, Validity); 4],
    lane_list: (Lists<'a>, Validity),
    points: (Lists<'a>, Validity),
    xs: (Numbers<'a>, Validity),
    ys: (Numbers<'a>, Validity),
    person_classes: &'a [String],
}

impl<'a> TickReader<'a> {
    /// Resolves the configured paths against `sync`'s schema.
    ///
    /// # Errors
    ///
    /// As [`detect`].
    pub fn new(
        sync: &'a RecordBatch,
        detections_column: &str,
        lanes_column: &str,
        cfg: &'a ScenesConfig,
    ) -> Result<TickReader<'a>> {
        let plan = Plan::new(&sync.schema(), detections_column, lanes_column, cfg)?;
        let time = sync
            .column(plan.time)
            .as_primitive_opt::<Int64Type>()
            .expect(CHECKED);
        let detections = sync.column(plan.detections).as_struct();
        let boxes = lists(&plan.boxes, detections);
        let box_items = boxes.0.values().as_struct();
        let (class_array, class_valid) = plan.class.follow(box_items);
        let classes = (
            Strings::new(class_array.as_ref()).expect(CHECKED),
            class_valid,
        );
        let score = plan.score.as_ref().map(|p| numbers(p, box_items));
        let geometry = plan
            .geometry
            .paths
            .each_ref()
            .map(|p| numbers(p, box_items));
        let lanes = sync.column(plan.lanes).as_struct();
        let lane_list = lists(&plan.lane_list, lanes);
        let lane_items = lane_list.0.values().as_struct();
        let points = lists(&plan.points, lane_items);
        let point_items = points.0.values().as_struct();
        let xs = numbers(&plan.x, point_items);
        let ys = numbers(&plan.y, point_items);
        Ok(TickReader {
            time,
            detections,
            lanes,
            corners: plan.geometry.corners,
            boxes,
            classes,
            score,
            geometry,
            lane_list,
            points,
            xs,
            ys,
            person_classes: &cfg.person_classes,
        })
    }

    /// Ticks in the batch.
    pub fn len(&self) -> usize {
        self.time.len()
    }

    /// Whether the batch has no ticks.
    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }

    /// The tick's time.
    pub fn time_ns(&self, row: usize) -> i64 {
        self.time.value(row)
    }

    /// The tick's lanes and boxes; `None` where detections or lanes are
    /// missing at that tick.
    pub fn tick(&self, row: usize) -> Option<Tick> {
        if self.detections.is_null(row) || self.lanes.is_null(row) {
            return None;
        }
        let mut tick = Tick::default();
        let (lane_list, lane_list_valid) = &self.lane_list;
        let (points, points_valid) = &self.points;
        if lane_list_valid.get(row) {
            for lane in lane_list.range(row) {
                let mut line = Vec::new();
                if points_valid.get(lane) {
                    for p in points.range(lane) {
                        if self.xs.1.get(p) && self.ys.1.get(p) {
                            line.push((self.xs.0.value(p), self.ys.0.value(p)));
                        }
                    }
                }
                tick.lanes.push(line);
            }
        }
        let regions: Vec<Region> = lane_regions(&tick.lanes);
        let (boxes, boxes_valid) = &self.boxes;
        if !boxes_valid.get(row) {
            return Some(tick);
        }
        let (classes, class_valid) = &self.classes;
        for i in boxes.range(row) {
            if !class_valid.get(i) || !self.geometry.iter().all(|(_, valid)| valid.get(i)) {
                continue;
            }
            let [a, b, c, d] = self.geometry.each_ref().map(|(n, _)| n.value(i));
            let (x, y, width, height) = if self.corners {
                ((a + c) / 2.0, (b + d) / 2.0, c - a, d - b)
            } else {
                (a, b, c, d)
            };
            let (corners_in_lane, lanes) =
                assign_corners(&box_corners(x, y, width, height), &regions);
            let class = classes.value(i);
            tick.boxes.push(PlacedBox {
                person: self.person_classes.iter().any(|c| c == class),
                detected: DetectedBox {
                    class: class.to_string(),
                    score: self
                        .score
                        .as_ref()
                        .and_then(|(n, valid)| valid.get(i).then(|| n.value(i))),
                    x,
                    y,
                    width,
                    height,
                },
                corners_in_lane,
                lanes,
            });
        }
        Some(tick)
    }
}

/// The `scene_detections` table of one synchronized batch: one row per
/// input row, with the same `time_ns`.
///
/// Where the detections struct or the lanes struct is null at a tick,
/// `num_people_in_lane` is 0 and `objects_in_lane` is null. Otherwise
/// `objects_in_lane` lists the objects in lane (`corners_in_lane >= 1`) in
/// the message's box order (an empty list when there are none, fewer than
/// two usable lanes included) and `num_people_in_lane` counts those whose
/// class is exactly one of `cfg.person_classes`.
///
/// `detections_column` and `lanes_column` are the names of the two topics'
/// struct columns (their table names). The configured paths are dotted,
/// through Struct fields: `boxes` and `lanes` from the message, `points`
/// from one lane, the box fields from one box and `x`/`y` from one point.
/// Numbers of any numeric type are read as f64; a box given by corners is
/// reported by its centre `(min + max) / 2` and size `max - min`.
///
/// # Errors
///
/// Before any tick is read (so even for an empty batch): a missing column,
/// a topic column that is not a struct, a `time_ns` that is not Int64, a
/// configured path that does not exist (the message names the key, the
/// path, the missing segment and the fields that exist there), or one that
/// reaches a type it cannot use.
pub fn detect(
    sync: &RecordBatch,
    detections_column: &str,
    lanes_column: &str,
    cfg: &ScenesConfig,
) -> Result<RecordBatch> {
    let reader = TickReader::new(sync, detections_column, lanes_column, cfg)?;
    let ticks = reader.len();
    let mut people = Vec::with_capacity(ticks);
    let mut objects = ObjectsBuilder::new(ticks);
    for row in 0..ticks {
        let Some(tick) = reader.tick(row) else {
            people.push(0);
            objects.end_tick(false);
            continue;
        };
        for b in tick.boxes.iter().filter(|b| b.in_lane()) {
            objects.push_object(&b.detected, b.corners_in_lane, &b.lanes);
        }
        people.push(tick.people_in_lane());
        objects.end_tick(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(reader.time.clone()),
        Arc::new(Int32Array::from(people)),
        Arc::new(objects.finish()?),
    ];
    Ok(RecordBatch::try_new(detections_schema(), columns)?)
}

/// The per-tick `(time_ns, num_people_in_lane)` of a `scene_detections`
/// batch, in row order: the input of [`crate::scene::find_scenes`].
///
/// # Panics
///
/// When `detections` does not have the columns of [`detections_schema`]
/// (it is meant for the output of [`detect`]).
pub fn tick_counts(detections: &RecordBatch) -> Vec<(i64, i32)> {
    let column = |name: &str| {
        detections
            .column_by_name(name)
            .unwrap_or_else(|| panic!("a scene_detections batch has a {name} column"))
    };
    let times = column(SCENE_DETECTIONS_TIME).as_primitive::<Int64Type>();
    let counts = column(NUM_PEOPLE_IN_LANE).as_primitive::<Int32Type>();
    times
        .values()
        .iter()
        .zip(counts.values().iter())
        .map(|(&t, &n)| (t, n))
        .collect()
}

#[cfg(test)]
mod tests;
