//! The TOML configuration of a run (`CONTRACT.md`, "Configuration").
//!
//! Every key is optional; partial tables merge with the defaults key by key.
//! [`RawConfig`] is what the file says (unknown keys are refused by serde,
//! naming the key); [`RawConfig::validate`] turns it into a checked
//! [`Config`] whose errors name the key at fault.

use serde::Deserialize;

pub use scenes::config::{BoxGeometry, DetectionsConfig, LanesConfig, ScenesConfig};

/// The configuration as written in the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    /// What the extract stage writes.
    pub extract: ExtractConfig,
    /// The synchronized (resampled) table.
    pub sync: SyncConfig,
    /// Lane assignment and scene detection.
    pub scenes: RawScenesConfig,
    /// Scene clips, labels, scenario skeletons and the bag report.
    pub export: ExportConfig,
}

/// `[export]`: what a person or a tool opens to see a scene.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ExportConfig {
    /// An MCAP clip per scene, `exports/<bag_file>/<scene_id>.mcap`.
    pub clips: bool,
    /// Time kept before a scene's start and after its end in its clip.
    pub clip_pad_ms: u64,
    /// Topics a clip holds; empty means every topic.
    pub clip_topics: Vec<String>,
    /// An OpenLABEL document per scene, `<scene_id>.openlabel.json`.
    pub labels: bool,
    /// An OpenSCENARIO skeleton per scene, `<scene_id>.xosc`.
    pub openscenario: bool,
    /// The bag report, `reports/<bag_file>.html`, and `reports/index.html`.
    pub report: bool,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            clips: true,
            clip_pad_ms: 2000,
            clip_topics: Vec::new(),
            labels: true,
            openscenario: false,
            report: true,
        }
    }
}

/// The Parquet codec of the tables a run writes (`[extract] compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// zstd (level 1), except blob columns whose data does not shrink by
    /// 10% (`writer::WORTHWHILE`): those are written uncompressed. Decided per table
    /// and part file from the rows that open it.
    #[default]
    Auto,
    /// zstd at this level, every column.
    Zstd(i32),
    /// LZ4 (the `LZ4_RAW` codec every current reader reads), every column.
    Lz4,
    Snappy,
    /// No compression.
    None,
}

impl Codec {
    /// Parses the `[extract] compression` value: `auto`, `zstd`,
    /// `zstd:<level>` (1 to 22), `lz4`, `snappy`, `none`.
    pub fn parse(text: &str) -> Result<Codec, String> {
        match text {
            "auto" => Ok(Codec::Auto),
            "zstd" => Ok(Codec::Zstd(1)),
            "lz4" => Ok(Codec::Lz4),
            "snappy" => Ok(Codec::Snappy),
            "none" => Ok(Codec::None),
            other => match other.strip_prefix("zstd:").map(str::parse::<i32>) {
                Some(Ok(level)) if (1..=22).contains(&level) => Ok(Codec::Zstd(level)),
                _ => Err(format!(
                    "{other:?} is not a codec: auto, zstd, zstd:<level 1 to 22>, lz4, snappy or none"
                )),
            },
        }
    }
}

/// `[extract]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ExtractConfig {
    /// Topics to extract; empty means every topic in the bag.
    pub topics: Vec<String>,
    /// Directories of `.msg` files (`<dir>/<package>/msg/<Type>.msg`, the
    /// layout of a ROS 2 install's `share/`) for types a ROS 2 bag does not
    /// define; searched before the built-in standard interfaces.
    pub msg_paths: Vec<std::path::PathBuf>,
    /// The Parquet codec: `auto` (zstd where it pays: blob columns that do
    /// not shrink by 10% are left uncompressed), `zstd`, `zstd:<level>`,
    /// `lz4`, `snappy` or `none`.
    pub compression: String,
}

impl Default for ExtractConfig {
    fn default() -> Self {
        ExtractConfig {
            topics: Vec::new(),
            msg_paths: Vec::new(),
            compression: "auto".to_string(),
        }
    }
}

impl ExtractConfig {
    /// The codec `compression` names (checked when the config was).
    pub fn codec(&self) -> Codec {
        Codec::parse(&self.compression).unwrap_or_default()
    }
}

/// `[sync]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// Tick spacing in milliseconds (ticks are multiples of it).
    pub interval_ms: u64,
    /// Topics to synchronize; empty means every extracted topic without
    /// Binary fields (images and point clouds stay out of the ticks).
    pub topics: Vec<String>,
    /// A message older than this at a tick is not used; 0 means no limit.
    pub max_age_ms: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            interval_ms: 100,
            topics: Vec::new(),
            max_age_ms: 0,
        }
    }
}

/// `[scenes]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawScenesConfig {
    /// Detection classes that count as people (exact match).
    pub person_classes: Vec<String>,
    /// Scenes strictly shorter than this are dropped (after merging).
    pub min_scene_ms: u64,
    /// Scenes whose gap is strictly less than this are merged.
    pub merge_gap_ms: u64,
    /// Where the detected boxes are.
    pub detections: RawDetectionsConfig,
    /// Where the lane polylines are.
    pub lanes: RawLanesConfig,
}

impl Default for RawScenesConfig {
    fn default() -> Self {
        RawScenesConfig {
            person_classes: vec!["person".to_string()],
            min_scene_ms: 0,
            merge_gap_ms: 0,
            detections: RawDetectionsConfig::default(),
            lanes: RawLanesConfig::default(),
        }
    }
}

/// `[scenes.detections]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawDetectionsConfig {
    /// The detections topic.
    pub topic: String,
    /// Dotted path from the message to the list of boxes.
    pub boxes: String,
    /// Path, inside one box, to its class string.
    pub class: String,
    /// Path to the box's score; without it scores are null.
    pub score: Option<String>,
    /// Path to the centre x (default `x`).
    pub x: Option<String>,
    /// Path to the centre y (default `y`).
    pub y: Option<String>,
    /// Path to the width (default `width`).
    pub width: Option<String>,
    /// Path to the height (default `height`).
    pub height: Option<String>,
    /// Path to the left edge; with ymin/xmax/ymax replaces x/y/width/height.
    pub xmin: Option<String>,
    /// Path to the top edge.
    pub ymin: Option<String>,
    /// Path to the right edge.
    pub xmax: Option<String>,
    /// Path to the bottom edge.
    pub ymax: Option<String>,
}

impl Default for RawDetectionsConfig {
    fn default() -> Self {
        RawDetectionsConfig {
            topic: "/rgb_right_detections_only".to_string(),
            boxes: "detections.bboxes".to_string(),
            class: "Class".to_string(),
            score: None,
            x: None,
            y: None,
            width: None,
            height: None,
            xmin: None,
            ymin: None,
            xmax: None,
            ymax: None,
        }
    }
}

/// `[scenes.lanes]` as written.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RawLanesConfig {
    /// The lanes topic.
    pub topic: String,
    /// Path from the message to the list of lanes.
    pub lanes: String,
    /// Path, inside one lane, to its list of points.
    pub points: String,
    /// Path, inside one point, to x.
    pub x: String,
    /// Path, inside one point, to y.
    pub y: String,
}

impl Default for RawLanesConfig {
    fn default() -> Self {
        RawLanesConfig {
            topic: "/post_process/lane_points/rgb_front_right".to_string(),
            lanes: "lanes".to_string(),
            points: "image_points".to_string(),
            x: "x".to_string(),
            y: "y".to_string(),
        }
    }
}

/// A checked configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub extract: ExtractConfig,
    pub sync: SyncConfig,
    pub scenes: ScenesConfig,
    pub export: ExportConfig,
}

impl Default for Config {
    fn default() -> Self {
        RawConfig::default()
            .validate()
            .expect("the defaults are valid")
    }
}

/// A configuration that cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Parses and checks TOML text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        raw.validate()
    }
}

fn check_path(key: &str, path: &str) -> Result<(), ConfigError> {
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(ConfigError(format!(
            "{key} = {path:?}: a field path is dot-separated names, none empty"
        )));
    }
    Ok(())
}

fn check_topics(key: &str, topics: &[String]) -> Result<(), ConfigError> {
    match topics.iter().find(|t| t.trim().is_empty()) {
        Some(_) => Err(ConfigError(format!("{key}: a topic name is empty"))),
        None => Ok(()),
    }
}

impl RawConfig {
    /// Checks every value, naming the key of the first one at fault.
    pub fn validate(self) -> Result<Config, ConfigError> {
        check_topics("extract.topics", &self.extract.topics)?;
        if let Some(p) = self
            .extract
            .msg_paths
            .iter()
            .find(|p| p.as_os_str().is_empty())
        {
            return Err(ConfigError(format!(
                "extract.msg_paths: {p:?}: a directory name is empty"
            )));
        }
        Codec::parse(&self.extract.compression)
            .map_err(|e| ConfigError(format!("extract.compression: {e}")))?;
        check_topics("sync.topics", &self.sync.topics)?;
        check_topics("export.clip_topics", &self.export.clip_topics)?;
        if self.sync.interval_ms == 0 {
            return Err(ConfigError(
                "sync.interval_ms = 0: the tick interval must be at least 1 ms".to_string(),
            ));
        }
        let s = self.scenes;
        if s.person_classes.is_empty() {
            return Err(ConfigError(
                "scenes.person_classes is empty: no detection could ever count as a person"
                    .to_string(),
            ));
        }
        let d = s.detections;
        check_topics("scenes.detections.topic", std::slice::from_ref(&d.topic))?;
        check_path("scenes.detections.boxes", &d.boxes)?;
        check_path("scenes.detections.class", &d.class)?;
        if let Some(score) = &d.score {
            check_path("scenes.detections.score", score)?;
        }
        let corners = [&d.xmin, &d.ymin, &d.xmax, &d.ymax];
        let centre = [&d.x, &d.y, &d.width, &d.height];
        let geometry = if corners.iter().any(|c| c.is_some()) {
            if let Some((name, _)) = ["x", "y", "width", "height"]
                .iter()
                .zip(centre)
                .find(|(_, v)| v.is_some())
            {
                return Err(ConfigError(format!(
                    "scenes.detections.{name} cannot be given with xmin/ymin/xmax/ymax: \
                     corner keys replace the centre keys"
                )));
            }
            let get = |name: &str, v: &Option<String>| match v {
                Some(p) => check_path(&format!("scenes.detections.{name}"), p).map(|()| p.clone()),
                None => Err(ConfigError(format!(
                    "scenes.detections.{name} is missing: xmin, ymin, xmax and ymax go together"
                ))),
            };
            BoxGeometry::Corners {
                xmin: get("xmin", &d.xmin)?,
                ymin: get("ymin", &d.ymin)?,
                xmax: get("xmax", &d.xmax)?,
                ymax: get("ymax", &d.ymax)?,
            }
        } else {
            let get = |name: &str, v: &Option<String>| {
                let p = v.clone().unwrap_or_else(|| name.to_string());
                check_path(&format!("scenes.detections.{name}"), &p).map(|()| p)
            };
            BoxGeometry::Centre {
                x: get("x", &d.x)?,
                y: get("y", &d.y)?,
                width: get("width", &d.width)?,
                height: get("height", &d.height)?,
            }
        };
        let l = s.lanes;
        check_topics("scenes.lanes.topic", std::slice::from_ref(&l.topic))?;
        check_path("scenes.lanes.lanes", &l.lanes)?;
        check_path("scenes.lanes.points", &l.points)?;
        check_path("scenes.lanes.x", &l.x)?;
        check_path("scenes.lanes.y", &l.y)?;
        Ok(Config {
            extract: self.extract,
            sync: self.sync,
            export: self.export,
            scenes: ScenesConfig {
                person_classes: s.person_classes,
                min_scene_ms: s.min_scene_ms,
                merge_gap_ms: s.merge_gap_ms,
                detections: DetectionsConfig {
                    topic: d.topic,
                    boxes: d.boxes,
                    class: d.class,
                    score: d.score,
                    geometry,
                },
                lanes: LanesConfig {
                    topic: l.topic,
                    lanes: l.lanes,
                    points: l.points,
                    x: l.x,
                    y: l.y,
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_the_defaults() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.sync.interval_ms, 100);
        assert_eq!(c.scenes.person_classes, ["person"]);
        assert_eq!(c.scenes.detections.boxes, "detections.bboxes");
        assert_eq!(c.scenes.detections.score, None);
        assert_eq!(
            c.scenes.detections.geometry,
            BoxGeometry::Centre {
                x: "x".into(),
                y: "y".into(),
                width: "width".into(),
                height: "height".into()
            }
        );
        assert_eq!(
            c.scenes.lanes.topic,
            "/post_process/lane_points/rgb_front_right"
        );
    }

    #[test]
    fn compression_names_a_codec() {
        use Codec;
        assert_eq!(Config::from_toml("").unwrap().extract.codec(), Codec::Auto);
        for (text, codec) in [
            ("zstd", Codec::Zstd(1)),
            ("zstd:9", Codec::Zstd(9)),
            ("lz4", Codec::Lz4),
            ("snappy", Codec::Snappy),
            ("none", Codec::None),
        ] {
            let c = Config::from_toml(&format!("[extract]\ncompression = \"{text}\"\n")).unwrap();
            assert_eq!(c.extract.codec(), codec, "{text}");
        }
        for bad in ["gzip", "zstd:0", "zstd:23", "zstd:x", ""] {
            let e =
                Config::from_toml(&format!("[extract]\ncompression = \"{bad}\"\n")).unwrap_err();
            assert!(e.0.contains("extract.compression"), "{e}");
        }
    }

    #[test]
    fn export_defaults_and_keys() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.export, ExportConfig::default());
        assert!(c.export.clips && c.export.labels && c.export.report && !c.export.openscenario);
        assert_eq!(c.export.clip_pad_ms, 2000);
        let c =
            Config::from_toml("[export]\nopenscenario = true\nclip_topics = [\"/gps\"]\n").unwrap();
        assert!(c.export.openscenario && c.export.clips);
        assert_eq!(c.export.clip_topics, ["/gps"]);
        let e = Config::from_toml("[export]\nclip = true\n").unwrap_err();
        assert!(e.0.contains("clip"), "{e}");
        let e = Config::from_toml("[export]\nclip_topics = [\" \"]\n").unwrap_err();
        assert!(e.0.contains("export.clip_topics"), "{e}");
    }

    /// The keys of a table as the parser itself lists them: serde names
    /// every field it accepts when it refuses an unknown one.
    fn accepted_keys(table: &str) -> Vec<String> {
        let text = if table.is_empty() {
            "__probe__ = 0\n".to_string()
        } else {
            format!("[{table}]\n__probe__ = 0\n")
        };
        let e = Config::from_toml(&text).unwrap_err().0;
        let list = e
            .split("expected one of ")
            .nth(1)
            .or_else(|| e.split("expected ").nth(1))
            .unwrap_or_else(|| panic!("no list of keys in {e:?}"));
        let list = list.lines().next().unwrap();
        list.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn every_key_the_parser_accepts_is_documented() {
        let docs = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md"),
        )
        .expect("docs/configuration.md");
        let tables = [
            "",
            "extract",
            "sync",
            "scenes",
            "scenes.detections",
            "scenes.lanes",
            "export",
        ];
        let mut checked = 0;
        for table in tables {
            let keys = accepted_keys(table);
            assert!(!keys.is_empty(), "[{table}]");
            for key in keys {
                let dotted = if table.is_empty() {
                    key.clone()
                } else {
                    format!("{table}.{key}")
                };
                if tables.contains(&dotted.as_str()) {
                    continue; // a table, probed on its own
                }
                assert!(
                    docs.contains(&format!("`{dotted}`")),
                    "docs/configuration.md does not document `{dotted}`"
                );
                checked += 1;
            }
        }
        // Every table's keys were found (a parser change that hid them
        // would make this test pass vacuously).
        assert!(checked >= 30, "only {checked} keys found");
    }

    #[test]
    fn partial_tables_merge_key_by_key() {
        let c = Config::from_toml("[scenes.lanes]\ntopic = \"/l\"\n[sync]\nmax_age_ms = 500\n")
            .unwrap();
        assert_eq!(c.scenes.lanes.topic, "/l");
        assert_eq!(c.scenes.lanes.points, "image_points");
        assert_eq!(c.sync.max_age_ms, 500);
        assert_eq!(c.sync.interval_ms, 100);
    }

    #[test]
    fn corners_replace_the_centre() {
        let c = Config::from_toml(
            "[scenes.detections]\nxmin = \"a\"\nymin = \"b\"\nxmax = \"c\"\nymax = \"d\"\n",
        )
        .unwrap();
        assert!(matches!(
            c.scenes.detections.geometry,
            BoxGeometry::Corners { .. }
        ));
        let e = Config::from_toml("[scenes.detections]\nxmin = \"a\"\n").unwrap_err();
        assert!(e.0.contains("scenes.detections.ymin"), "{e}");
        let e = Config::from_toml(
            "[scenes.detections]\nx = \"x\"\nxmin = \"a\"\nymin = \"b\"\nxmax = \"c\"\nymax = \"d\"\n",
        )
        .unwrap_err();
        assert!(e.0.contains("scenes.detections.x "), "{e}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let e = Config::from_toml("[sync]\ninterval_ms = 0\n").unwrap_err();
        assert!(e.0.contains("sync.interval_ms"), "{e}");
        let e = Config::from_toml("[scenes.lanes]\nx = \"a..b\"\n").unwrap_err();
        assert!(e.0.contains("scenes.lanes.x"), "{e}");
        let e = Config::from_toml("[sync]\ninterval = 5\n").unwrap_err();
        assert!(e.0.contains("interval"), "{e}");
        let e = Config::from_toml("[bogus]\n").unwrap_err();
        assert!(e.0.contains("bogus"), "{e}");
        let e = Config::from_toml("[sync]\ninterval_ms = -1\n").unwrap_err();
        assert!(e.0.contains("interval_ms"), "{e}");
    }
}
