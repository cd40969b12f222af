//! The scenario skeleton: ASAM OpenSCENARIO XML 1.2 that replays the ego
//! track of a scene's window and places a pedestrian at a parameter. A
//! skeleton for simulation engineers, not a faithful reproduction: the bag
//! gives no road network and no pedestrian position.
//!
//! Shape (design notes `SCENE-EXPORT.md` §1.1 and §5):
//!
//! * `FileHeader` (`revMajor="1" revMinor="2"`, date = the scene start in
//!   UTC) with a `Properties` child (allowed from 1.2 on) recording the
//!   local frame's origin, the GPS topic and the window.
//! * `ParameterDeclarations`: `PedestrianDistanceAhead` (15 m) and
//!   `PedestrianLateralOffset` (0 m), the pedestrian's place relative to
//!   the ego when the scene starts; the bag does not give it.
//! * Empty `CatalogLocations` and `RoadNetwork`: there is no map.
//! * `Entities`: `Ego` (a car) and `Pedestrian1`.
//! * `Storyboard`: `Init` teleports `Ego` to the first vertex and hides
//!   `Pedestrian1` (`VisibilityAction`); one `Story` (named after the
//!   scene) with one `Act`: `Ego` follows a timed `Polyline` with one
//!   vertex per fix (`Timing` absolute, `followingMode="position"`), and
//!   at the scene start `Pedestrian1` is teleported relative to `Ego` and
//!   made visible. The `Act` starts at time 0; the `Storyboard` stops at
//!   the clip length.
//!
//! Positions are `WorldPosition`s in local east-north-up metres on the
//! WGS84 ellipsoid's tangent plane at the first usable fix (x east, y
//! north, z up); headings are radians counter-clockwise from +x. Simulation
//! time 0 is `clip_start_ns`. Times and coordinates have three decimals,
//! angles four. The text is deterministic: the same input gives the same
//! bytes.

use std::fmt::Write as _;

/// What a skeleton is made from.
#[derive(Debug, Clone, Default)]
pub struct ScenarioInput {
    pub scene_id: String,
    /// The clip's window `[clip_start_ns, clip_end_ns)`; simulation time 0
    /// is `clip_start_ns`.
    pub clip_start_ns: i64,
    pub clip_end_ns: i64,
    pub scene_start_ns: i64,
    pub scene_end_ns: i64,
    /// The GPS topic the track comes from.
    pub gps_topic: String,
    /// Fixes inside the window, in time order: `(log_time_ns, latitude,
    /// longitude, altitude)`, degrees and metres.
    pub fixes: Vec<(i64, f64, f64, f64)>,
}

/// The pedestrian's default distance ahead of the ego (m), a parameter.
const PEDESTRIAN_DISTANCE_AHEAD_M: &str = "15.0";
/// The pedestrian's default lateral offset from the ego (m, left
/// positive), a parameter.
const PEDESTRIAN_LATERAL_OFFSET_M: &str = "0.0";
/// A step shorter than this (m) between consecutive fixes gives no
/// heading; the vertex keeps the previous one (a standing car's GPS
/// jitter would otherwise spin it).
const MIN_HEADING_STEP_M: f64 = 0.05;

/// WGS84 semi-major axis (m) and flattening.
const WGS84_A: f64 = 6_378_137.0;
const WGS84_F: f64 = 1.0 / 298.257_223_563;

/// The `.xosc` text, or `None` when the window has fewer than two fixes
/// (no track to replay).
///
/// Fixes with a latitude or longitude that is not a finite number in range
/// are left out (a `NavSatFix` without a fix carries NaN); an altitude
/// that is not finite counts as the origin's altitude. The fixes are
/// stably sorted by time, so the vertex times never decrease; fixes that
/// share a time are all kept.
pub fn scenario(input: &ScenarioInput) -> Option<String> {
    let mut fixes: Vec<(i64, f64, f64, f64)> = input
        .fixes
        .iter()
        .copied()
        .filter(|&(_, lat, lon, _)| {
            lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0
        })
        .collect();
    if fixes.len() < 2 {
        return None;
    }
    fixes.sort_by_key(|f| f.0);

    let (_, lat0, lon0, _) = fixes[0];
    let alt0 = fixes.iter().map(|f| f.3).find(|a| a.is_finite());
    let frame = Enu::new(lat0, lon0, alt0.unwrap_or(0.0));
    let points: Vec<[f64; 3]> = fixes
        .iter()
        .map(|&(_, lat, lon, alt)| {
            let alt = if alt.is_finite() {
                alt
            } else {
                alt0.unwrap_or(0.0)
            };
            frame.local(lat, lon, alt)
        })
        .collect();
    let headings = headings(&points);

    let clip_start = i128::from(input.clip_start_ns);
    let sim_time = |ns: i64| secs(i128::from(ns) - clip_start);
    let clip_length = secs(i128::from(input.clip_end_ns) - clip_start);
    let scene_start = sim_time(input.scene_start_ns);
    let scene_end = sim_time(input.scene_end_ns);
    let story_name = if input.scene_id.is_empty() {
        "scene".to_owned()
    } else {
        literal(&input.scene_id)
    };
    let topic = literal(&input.gps_topic);
    let description = format!(
        "bagpipe replay skeleton of scene {}: the ego track from the GPS topic {} \
         in local metres about the first fix; no road network; the pedestrian's \
         position is not in the bag and is a parameter (PedestrianDistanceAhead, \
         PedestrianLateralOffset). Not a faithful reproduction.",
        input.scene_id, input.gps_topic
    );

    let mut x = Xml::default();
    x.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.open("OpenSCENARIO", &[]);

    // FileHeader, with the frame's origin and the window in Properties
    // (FileHeader/Properties exists from 1.2 on).
    x.open(
        "FileHeader",
        &[
            ("revMajor", "1"),
            ("revMinor", "2"),
            ("date", &date_time(input.scene_start_ns)),
            ("description", &description),
            ("author", "bagpipe"),
        ],
    );
    x.open("Properties", &[]);
    let origin_alt = alt0.map_or_else(|| "unknown".to_owned(), |a| format!("{a}"));
    let header_props: [(&str, String); 12] = [
        ("sceneId", literal(&input.scene_id)),
        ("gpsTopic", topic.clone()),
        ("originLatitudeDeg", format!("{lat0}")),
        ("originLongitudeDeg", format!("{lon0}")),
        ("originAltitudeM", origin_alt),
        (
            "localFrame",
            "ENU tangent plane of the WGS84 ellipsoid at the origin (the first fix): \
             x east, y north, z up, metres; heading counter-clockwise from +x, radians"
                .to_owned(),
        ),
        ("simulationTimeZeroNs", input.clip_start_ns.to_string()),
        ("clipEndNs", input.clip_end_ns.to_string()),
        ("sceneStartNs", input.scene_start_ns.to_string()),
        ("sceneEndNs", input.scene_end_ns.to_string()),
        ("sceneStartSimulationTime", scene_start.clone()),
        ("sceneEndSimulationTime", scene_end),
    ];
    for (name, value) in &header_props {
        x.empty("Property", &[("name", name), ("value", value)]);
    }
    x.close("Properties");
    x.close("FileHeader");

    x.open("ParameterDeclarations", &[]);
    x.empty(
        "ParameterDeclaration",
        &[
            ("name", "PedestrianDistanceAhead"),
            ("parameterType", "double"),
            ("value", PEDESTRIAN_DISTANCE_AHEAD_M),
        ],
    );
    x.empty(
        "ParameterDeclaration",
        &[
            ("name", "PedestrianLateralOffset"),
            ("parameterType", "double"),
            ("value", PEDESTRIAN_LATERAL_OFFSET_M),
        ],
    );
    x.close("ParameterDeclarations");
    x.empty("CatalogLocations", &[]);
    x.empty("RoadNetwork", &[]);

    // Entities.
    x.open("Entities", &[]);
    x.open("ScenarioObject", &[("name", "Ego")]);
    x.open(
        "Vehicle",
        &[
            ("name", "ego_vehicle"),
            ("vehicleCategory", "car"),
            ("mass", "1800"),
        ],
    );
    bounding_box(&mut x, ["1.4", "0.0", "0.75"], ["1.9", "4.7", "1.5"]);
    x.empty(
        "Performance",
        &[
            ("maxSpeed", "70"),
            ("maxAcceleration", "10"),
            ("maxDeceleration", "10"),
        ],
    );
    x.open("Axles", &[]);
    for (axle, steering, position_x) in [("FrontAxle", "0.5", "2.8"), ("RearAxle", "0", "0")] {
        x.empty(
            axle,
            &[
                ("maxSteering", steering),
                ("wheelDiameter", "0.65"),
                ("trackWidth", "1.6"),
                ("positionX", position_x),
                ("positionZ", "0.325"),
            ],
        );
    }
    x.close("Axles");
    x.open("Properties", &[]);
    x.empty("Property", &[("name", "trackSource"), ("value", &topic)]);
    x.close("Properties");
    x.close("Vehicle");
    x.close("ScenarioObject");
    x.open("ScenarioObject", &[("name", "Pedestrian1")]);
    x.open(
        "Pedestrian",
        &[
            ("name", "pedestrian"),
            ("model3d", "pedestrian"),
            ("mass", "80"),
            ("pedestrianCategory", "pedestrian"),
        ],
    );
    bounding_box(&mut x, ["0.0", "0.0", "0.9"], ["0.6", "0.5", "1.8"]);
    x.open("Properties", &[]);
    x.empty(
        "Property",
        &[
            ("name", "positionSource"),
            (
                "value",
                "parameters PedestrianDistanceAhead and PedestrianLateralOffset (not in the bag)",
            ),
        ],
    );
    x.close("Properties");
    x.close("Pedestrian");
    x.close("ScenarioObject");
    x.close("Entities");

    x.open("Storyboard", &[]);

    // Init: the ego at the first vertex; the pedestrian hidden until the
    // scene starts (an entity without an initial position would stand at
    // the world origin, which is the ego's start).
    x.open("Init", &[]);
    x.open("Actions", &[]);
    x.open("Private", &[("entityRef", "Ego")]);
    x.open("PrivateAction", &[]);
    x.open("TeleportAction", &[]);
    x.open("Position", &[]);
    world_position(&mut x, points[0], headings[0]);
    x.close("Position");
    x.close("TeleportAction");
    x.close("PrivateAction");
    x.close("Private");
    x.open("Private", &[("entityRef", "Pedestrian1")]);
    x.open("PrivateAction", &[]);
    visibility(&mut x, false);
    x.close("PrivateAction");
    x.close("Private");
    x.close("Actions");
    x.close("Init");

    x.open("Story", &[("name", &story_name)]);
    x.open("Act", &[("name", "Replay")]);

    // The ego replays the GPS track.
    maneuver_group_open(
        &mut x,
        "EgoTrack",
        "Ego",
        "FollowRecordedTrack",
        "FollowGps",
    );
    x.open("Action", &[("name", "FollowGpsTrack")]);
    x.open("PrivateAction", &[]);
    x.open("RoutingAction", &[]);
    x.open("FollowTrajectoryAction", &[]);
    x.open("Trajectory", &[("name", "gps_track"), ("closed", "false")]);
    x.open("Shape", &[]);
    x.open("Polyline", &[]);
    for ((fix, point), heading) in fixes.iter().zip(&points).zip(&headings) {
        x.open("Vertex", &[("time", &sim_time(fix.0))]);
        x.open("Position", &[]);
        world_position(&mut x, *point, *heading);
        x.close("Position");
        x.close("Vertex");
    }
    x.close("Polyline");
    x.close("Shape");
    x.close("Trajectory");
    x.open("TimeReference", &[]);
    x.empty(
        "Timing",
        &[
            ("domainAbsoluteRelative", "absolute"),
            ("scale", "1"),
            ("offset", "0"),
        ],
    );
    x.close("TimeReference");
    x.empty("TrajectoryFollowingMode", &[("followingMode", "position")]);
    x.close("FollowTrajectoryAction");
    x.close("RoutingAction");
    x.close("PrivateAction");
    x.close("Action");
    time_trigger(&mut x, "StartTrigger", "TrackStart", "0.000");
    maneuver_group_close(&mut x);

    // The pedestrian appears ahead of the ego when the scene starts.
    maneuver_group_open(
        &mut x,
        "PedestrianPlacement",
        "Pedestrian1",
        "PlacePedestrian",
        "PedestrianAppears",
    );
    x.open("Action", &[("name", "TeleportPedestrian")]);
    x.open("PrivateAction", &[]);
    x.open("TeleportAction", &[]);
    x.open("Position", &[]);
    x.empty(
        "RelativeObjectPosition",
        &[
            ("entityRef", "Ego"),
            ("dx", "$PedestrianDistanceAhead"),
            ("dy", "$PedestrianLateralOffset"),
        ],
    );
    x.close("Position");
    x.close("TeleportAction");
    x.close("PrivateAction");
    x.close("Action");
    x.open("Action", &[("name", "ShowPedestrian")]);
    x.open("PrivateAction", &[]);
    visibility(&mut x, true);
    x.close("PrivateAction");
    x.close("Action");
    time_trigger(&mut x, "StartTrigger", "SceneStart", &scene_start);
    maneuver_group_close(&mut x);

    time_trigger(&mut x, "StartTrigger", "ReplayStart", "0.000");
    x.close("Act");
    x.close("Story");
    time_trigger(&mut x, "StopTrigger", "ClipEnd", &clip_length);
    x.close("Storyboard");
    x.close("OpenSCENARIO");
    debug_assert_eq!(x.depth, 0);
    Some(x.out)
}

/// A tiny indenting XML writer; attribute values are escaped.
#[derive(Default)]
struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    fn start(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        self.out.push('<');
        self.out.push_str(tag);
        for (name, value) in attrs {
            let _ = write!(self.out, " {name}=\"{}\"", escape_attr(value));
        }
    }

    fn open(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.start(tag, attrs);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    fn empty(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.start(tag, attrs);
        self.out.push_str("/>\n");
    }

    fn close(&mut self, tag: &str) {
        self.depth -= 1;
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        let _ = writeln!(self.out, "</{tag}>");
    }
}

fn bounding_box(x: &mut Xml, center: [&str; 3], dimensions: [&str; 3]) {
    x.open("BoundingBox", &[]);
    x.empty(
        "Center",
        &[("x", center[0]), ("y", center[1]), ("z", center[2])],
    );
    x.empty(
        "Dimensions",
        &[
            ("width", dimensions[0]),
            ("length", dimensions[1]),
            ("height", dimensions[2]),
        ],
    );
    x.close("BoundingBox");
}

fn world_position(x: &mut Xml, p: [f64; 3], heading: f64) {
    x.empty(
        "WorldPosition",
        &[
            ("x", &fixed(p[0], 3)),
            ("y", &fixed(p[1], 3)),
            ("z", &fixed(p[2], 3)),
            ("h", &fixed(heading, 4)),
        ],
    );
}

fn visibility(x: &mut Xml, visible: bool) {
    let v = if visible { "true" } else { "false" };
    x.empty(
        "VisibilityAction",
        &[("graphics", v), ("traffic", v), ("sensors", v)],
    );
}

/// Opens `ManeuverGroup` (one actor) / `Maneuver` / `Event`.
fn maneuver_group_open(x: &mut Xml, group: &str, actor: &str, maneuver: &str, event: &str) {
    x.open(
        "ManeuverGroup",
        &[("name", group), ("maximumExecutionCount", "1")],
    );
    x.open("Actors", &[("selectTriggeringEntities", "false")]);
    x.empty("EntityRef", &[("entityRef", actor)]);
    x.close("Actors");
    x.open("Maneuver", &[("name", maneuver)]);
    x.open("Event", &[("name", event), ("priority", "override")]);
}

fn maneuver_group_close(x: &mut Xml) {
    x.close("Event");
    x.close("Maneuver");
    x.close("ManeuverGroup");
}

/// A trigger that fires once simulation time is greater than `seconds`.
fn time_trigger(x: &mut Xml, tag: &str, condition: &str, seconds: &str) {
    x.open(tag, &[]);
    x.open("ConditionGroup", &[]);
    x.open(
        "Condition",
        &[
            ("name", condition),
            ("delay", "0"),
            ("conditionEdge", "none"),
        ],
    );
    x.open("ByValueCondition", &[]);
    x.empty(
        "SimulationTimeCondition",
        &[("value", seconds), ("rule", "greaterThan")],
    );
    x.close("ByValueCondition");
    x.close("Condition");
    x.close("ConditionGroup");
    x.close(tag);
}

/// The local east-north-up frame on the WGS84 tangent plane at an origin.
struct Enu {
    origin: [f64; 3],
    sin_lat: f64,
    cos_lat: f64,
    sin_lon: f64,
    cos_lon: f64,
}

impl Enu {
    fn new(lat_deg: f64, lon_deg: f64, alt: f64) -> Self {
        let (sin_lat, cos_lat) = lat_deg.to_radians().sin_cos();
        let (sin_lon, cos_lon) = lon_deg.to_radians().sin_cos();
        Self {
            origin: ecef(lat_deg, lon_deg, alt),
            sin_lat,
            cos_lat,
            sin_lon,
            cos_lon,
        }
    }

    /// `[east, north, up]` metres of a geodetic point.
    fn local(&self, lat_deg: f64, lon_deg: f64, alt: f64) -> [f64; 3] {
        let p = ecef(lat_deg, lon_deg, alt);
        let (dx, dy, dz) = (
            p[0] - self.origin[0],
            p[1] - self.origin[1],
            p[2] - self.origin[2],
        );
        let east = -self.sin_lon * dx + self.cos_lon * dy;
        let north = -self.sin_lat * self.cos_lon * dx - self.sin_lat * self.sin_lon * dy
            + self.cos_lat * dz;
        let up =
            self.cos_lat * self.cos_lon * dx + self.cos_lat * self.sin_lon * dy + self.sin_lat * dz;
        [east, north, up]
    }
}

/// Earth-centred, earth-fixed metres of a WGS84 geodetic point.
fn ecef(lat_deg: f64, lon_deg: f64, alt: f64) -> [f64; 3] {
    let e2 = WGS84_F * (2.0 - WGS84_F);
    let (sin_lat, cos_lat) = lat_deg.to_radians().sin_cos();
    let (sin_lon, cos_lon) = lon_deg.to_radians().sin_cos();
    let n = WGS84_A / (1.0 - e2 * sin_lat * sin_lat).sqrt();
    [
        (n + alt) * cos_lat * cos_lon,
        (n + alt) * cos_lat * sin_lon,
        (n * (1.0 - e2) + alt) * sin_lat,
    ]
}

/// The heading (radians, counter-clockwise from +x) at each point: towards
/// the next point; the last point keeps the one before. A step shorter
/// than [`MIN_HEADING_STEP_M`] keeps the previous heading; leading short
/// steps take the first real heading, and a track without any real step
/// heads along +x.
fn headings(points: &[[f64; 3]]) -> Vec<f64> {
    let steps: Vec<Option<f64>> = points
        .windows(2)
        .map(|w| {
            let (dx, dy) = (w[1][0] - w[0][0], w[1][1] - w[0][1]);
            // Not `f64::hypot`: glibc 2.35 gave `hypot` a new symbol
            // version, and the Lambda runtime (Amazon Linux 2023) has 2.34.
            ((dx * dx + dy * dy).sqrt() >= MIN_HEADING_STEP_M).then(|| dy.atan2(dx))
        })
        .collect();
    let mut current = steps.iter().flatten().next().copied().unwrap_or(0.0);
    let mut out = Vec::with_capacity(points.len());
    for step in &steps {
        if let Some(h) = step {
            current = *h;
        }
        out.push(current);
    }
    out.push(current);
    out
}

/// Seconds with three decimals from nanoseconds, rounded half away from
/// zero in integer arithmetic (monotone, so ordered times stay ordered).
fn secs(ns: i128) -> String {
    let ms = (ns.abs() + 500_000) / 1_000_000;
    let sign = if ns < 0 && ms != 0 { "-" } else { "" };
    format!("{sign}{}.{:03}", ms / 1000, ms % 1000)
}

/// `v` with `decimals` decimals, without a negative zero.
fn fixed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    match s.strip_prefix('-') {
        Some(rest) if rest.bytes().all(|b| b == b'0' || b == b'.') => rest.to_owned(),
        _ => s,
    }
}

/// `xs:dateTime` in UTC, millisecond precision, of nanoseconds since the
/// Unix epoch.
fn date_time(ns: i64) -> String {
    let ms = ns.div_euclid(1_000_000);
    let days = ms.div_euclid(86_400_000);
    let ms_of_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let secs_of_day = ms_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60,
        ms_of_day % 1000
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Text from the input written where OpenSCENARIO would read a leading `$`
/// as a parameter reference: such text gets a leading `_`.
fn literal(text: &str) -> String {
    if text.starts_with('$') {
        format!("_{text}")
    } else {
        text.to_owned()
    }
}

/// Attribute text: markup characters as entities; tab, newline and
/// carriage return as character references (so attribute-value
/// normalisation keeps them); characters XML 1.0 forbids as U+FFFD.
fn escape_attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;

    const T0: i64 = 1_715_679_068_700_000_000;

    /// A track from `(lat, lon)` with a fix every 100 ms, each step moving
    /// `(east, north)` metres (flat-earth, good enough for a fixture).
    fn track(n: usize, lat: f64, lon: f64, step: impl Fn(usize) -> (f64, f64)) -> ScenarioInput {
        let r = 6_378_137.0_f64;
        let (mut la, mut lo) = (lat, lon);
        let mut fixes = Vec::new();
        for i in 0..n {
            fixes.push((
                T0 + 3_000_000 + i as i64 * 100_000_000,
                la,
                lo,
                480.0 + 0.01 * i as f64,
            ));
            let (e, nn) = step(i);
            la += (nn / r).to_degrees();
            lo += (e / (r * la.to_radians().cos())).to_degrees();
        }
        ScenarioInput {
            scene_id: "drive_0001_PersonInLane_1715679070700000000".into(),
            clip_start_ns: T0,
            clip_end_ns: T0 + n as i64 * 100_000_000,
            scene_start_ns: T0 + 2_000_000_000,
            scene_end_ns: T0 + n as i64 * 100_000_000 - 2_000_000_000,
            gps_topic: "/gps".into(),
            fixes,
        }
    }

    /// 67 fixes around Garching, 10 Hz over 6.7 s, curving left at ~10 m/s.
    fn garching() -> ScenarioInput {
        track(67, 48.2626, 11.6680, |i| {
            let a = 0.3 + 0.02 * i as f64;
            (a.cos(), a.sin())
        })
    }

    fn vertex_attr(xml: &str, attr: &str) -> Vec<f64> {
        let poly = &xml[xml.find("<Polyline>").unwrap()..xml.find("</Polyline>").unwrap()];
        poly.match_indices(&format!(" {attr}=\""))
            .map(|(i, m)| {
                let rest = &poly[i + m.len()..];
                rest[..rest.find('"').unwrap()].parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn fewer_than_two_fixes_is_none() {
        let mut input = garching();
        input.fixes.truncate(1);
        assert!(scenario(&input).is_none());
        input.fixes.clear();
        assert!(scenario(&input).is_none());
        // two fixes, one without a position
        let mut input = garching();
        input.fixes.truncate(2);
        input.fixes[1].1 = f64::NAN;
        assert!(scenario(&input).is_none());
        input.fixes[1].1 = 48.2627;
        assert!(scenario(&input).is_some());
    }

    #[test]
    fn local_metres_about_the_first_fix() {
        let frame = Enu::new(48.2626, 11.6680, 480.0);
        let p = frame.local(48.2626, 11.6680, 480.0);
        assert!(p.iter().all(|v| v.abs() < 1e-6), "{p:?}");
        // 100 m north along the meridian (meridian radius of curvature
        // at 48.26 deg is about 6,370,740 m)
        let p = frame.local(
            48.2626 + (100.0 / 6_370_740.0_f64).to_degrees(),
            11.6680,
            480.0,
        );
        assert!(
            p[0].abs() < 0.01 && (p[1] - 100.0).abs() < 0.05 && p[2].abs() < 0.01,
            "{p:?}"
        );
        // 100 m east along the parallel
        let east = (100.0 / (6_391_100.0 * 48.2626_f64.to_radians().cos())).to_degrees();
        let p = frame.local(48.2626, 11.6680 + east, 480.0);
        assert!(
            (p[0] - 100.0).abs() < 0.1 && p[1].abs() < 0.01 && p[2].abs() < 0.01,
            "{p:?}"
        );
        // the spherical approximation of the brief agrees to well under 1 %
        let p = frame.local(
            48.2626 + (100.0 / 6_378_137.0_f64).to_degrees(),
            11.6680,
            481.0,
        );
        assert!(p[0].abs() < 0.01 && (p[1] - 100.0).abs() < 0.5 && (p[2] - 1.0).abs() < 0.01);
    }

    #[test]
    fn first_vertex_is_origin_and_times_are_seconds_since_clip_start() {
        let xml = scenario(&garching()).unwrap();
        let xs = vertex_attr(&xml, "x");
        let ys = vertex_attr(&xml, "y");
        let ts = vertex_attr(&xml, "time");
        assert_eq!(xs.len(), 67);
        assert_eq!((xs[0], ys[0]), (0.0, 0.0));
        assert_eq!(ts[0], 0.003);
        assert_eq!(ts[66], 6.603);
        assert!(ts.windows(2).all(|w| w[0] <= w[1]));
        // ~1 m per step
        assert!((xs[1].hypot(ys[1]) - 1.0).abs() < 0.01);
        assert!(xml.contains("<Vertex time=\"0.003\">"));
        assert!(xml.contains("<SimulationTimeCondition value=\"2.000\" rule=\"greaterThan\"/>"));
        assert!(xml.contains("<SimulationTimeCondition value=\"6.700\" rule=\"greaterThan\"/>"));
        assert!(xml.contains("date=\"2024-05-14T09:31:10.700Z\""));
        assert!(xml.contains("<Property name=\"originLatitudeDeg\" value=\"48.2626\"/>"));
        assert!(xml.contains("<Property name=\"originLongitudeDeg\" value=\"11.668\"/>"));
        assert!(xml.contains("<Property name=\"originAltitudeM\" value=\"480\"/>"));
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<OpenSCENARIO>\n"));
        assert!(xml.contains("revMajor=\"1\" revMinor=\"2\""));
    }

    #[test]
    fn headings_east_north_and_standing() {
        let east = scenario(&track(5, 48.2626, 11.6680, |_| (1.0, 0.0))).unwrap();
        let hs = vertex_attr(&east, "h");
        assert_eq!(hs.len(), 5);
        assert!(hs.iter().all(|h| h.abs() < 1e-3), "{hs:?}");
        let north = scenario(&track(5, 48.2626, 11.6680, |_| (0.0, 1.0))).unwrap();
        let hs = vertex_attr(&north, "h");
        assert!(
            hs.iter()
                .all(|h| (h - std::f64::consts::FRAC_PI_2).abs() < 1e-3),
            "{hs:?}"
        );
        let west = scenario(&track(3, 48.2626, 11.6680, |_| (-1.0, 0.0))).unwrap();
        assert!(
            vertex_attr(&west, "h")
                .iter()
                .all(|h| (h.abs() - std::f64::consts::PI).abs() < 1e-3)
        );
        // drive north, stand (identical fixes), then drive east: the
        // standing vertices keep the northward heading
        let mut input = track(3, 48.2626, 11.6680, |_| (0.0, 1.0));
        let last = *input.fixes.last().unwrap();
        for k in 1..=3 {
            input
                .fixes
                .push((last.0 + k * 100_000_000, last.1, last.2, last.3));
        }
        let end = *input.fixes.last().unwrap();
        input
            .fixes
            .push((end.0 + 100_000_000, end.1, end.2 + 0.0001, end.3));
        let hs = vertex_attr(&scenario(&input).unwrap(), "h");
        let n = std::f64::consts::FRAC_PI_2;
        assert_eq!(hs.len(), 7);
        assert!(hs[..2].iter().all(|h| (h - n).abs() < 1e-3), "{hs:?}");
        assert!(hs[2..5].iter().all(|h| (h - n).abs() < 1e-3), "{hs:?}");
        assert!(hs[5..].iter().all(|h| h.abs() < 1e-3), "{hs:?}");
        // a standing car heads along +x
        let standing = scenario(&track(4, 48.2626, 11.6680, |_| (0.0, 0.0))).unwrap();
        assert_eq!(vertex_attr(&standing, "h"), vec![0.0; 4]);
    }

    #[test]
    fn shared_times_and_unsorted_fixes() {
        let mut input = garching();
        input.fixes.truncate(4);
        input.fixes[2].0 = input.fixes[1].0;
        input.fixes.swap(0, 3);
        let ts = vertex_attr(&scenario(&input).unwrap(), "time");
        assert_eq!(ts, vec![0.003, 0.103, 0.103, 0.303]);
    }

    #[test]
    fn escaping_and_parameter_like_text() {
        assert_eq!(
            escape_attr(r#"a&b<c>d"e'f"#),
            "a&amp;b&lt;c&gt;d&quot;e&apos;f"
        );
        assert_eq!(escape_attr("t\tn\nr\r\u{1}x"), "t&#9;n&#10;r&#13;\u{FFFD}x");
        let mut input = garching();
        input.scene_id = "$bag&<>\"'_PersonInLane_1".into();
        input.gps_topic = "/gps&\"<fix>'".into();
        let xml = scenario(&input).unwrap();
        assert!(xml.contains("<Story name=\"_$bag&amp;&lt;&gt;&quot;&apos;_PersonInLane_1\">"));
        assert!(xml.contains("value=\"/gps&amp;&quot;&lt;fix&gt;&apos;\""));
        assert!(!xml.contains("\"$bag"));
    }

    #[test]
    fn numbers_and_dates() {
        assert_eq!(secs(0), "0.000");
        assert_eq!(secs(1_234_500_000), "1.235");
        assert_eq!(secs(-400_000), "0.000");
        assert_eq!(secs(-1_500_000), "-0.002");
        assert_eq!(fixed(-0.0001, 3), "0.000");
        assert_eq!(fixed(-0.0, 4), "0.0000");
        assert_eq!(fixed(-1.25, 3), "-1.250");
        assert_eq!(date_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            date_time(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(date_time(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            date_time(1_715_679_070_700_000_000),
            "2024-05-14T09:31:10.700Z"
        );
    }

    #[test]
    fn deterministic() {
        let input = garching();
        assert_eq!(scenario(&input), scenario(&input.clone()));
    }

    fn python_check(files: &[PathBuf]) {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let checker = root.join("tests/python/check_xosc.py");
        assert!(checker.is_file(), "{} is missing", checker.display());
        let probe = Command::new("python3")
            .args(["-c", "import qc_openscenario, lxml"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run python3 ({e}); the xosc check needs it"));
        assert!(
            probe.status.success(),
            "python3 cannot import qc_openscenario/lxml (pip install -r tests/requirements.txt): {}",
            String::from_utf8_lossy(&probe.stderr)
        );
        let out = Command::new("python3")
            .arg(&checker)
            .args(files)
            .current_dir(&root)
            .output()
            .expect("run check_xosc.py");
        let stdout = String::from_utf8_lossy(&out.stdout);
        println!("{stdout}");
        assert!(
            out.status.success(),
            "check_xosc.py exit {:?}:\n{stdout}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            stdout.lines().filter(|l| l.starts_with("OK ")).count(),
            files.len()
        );
    }

    #[test]
    fn skeletons_pass_asam_checks() {
        let dir = std::env::temp_dir().join(format!("bagpipe-xosc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut two = garching();
        two.fixes.truncate(2);
        let standing = track(20, 48.2626, 11.6680, |_| (0.0, 0.0));
        let mut odd = garching();
        odd.scene_id = "$bag&<>\"'\t_PersonInLane_1".into();
        odd.gps_topic = "/gps&<>\"'".into();
        let mut files = Vec::new();
        for (name, input) in [
            ("garching", garching()),
            ("two_fixes", two),
            ("standing", standing),
            ("odd_id", odd),
        ] {
            let path = dir.join(format!("{name}.xosc"));
            std::fs::write(&path, scenario(&input).unwrap()).unwrap();
            files.push(path);
        }
        python_check(&files);
        // BAGPIPE_KEEP_XOSC=1 keeps the files to look at
        if std::env::var_os("BAGPIPE_KEEP_XOSC").is_none() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}
