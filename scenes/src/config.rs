//! The checked configuration of the scene stage (parsed and validated from
//! TOML by the `bagpipe` crate; see `CONTRACT.md`, "Configuration").

/// How a box's geometry is given, as dotted paths relative to one box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoxGeometry {
    /// Centre and size.
    Centre {
        x: String,
        y: String,
        width: String,
        height: String,
    },
    /// Corners, reported as centre `(min + max) / 2` and size `max - min`.
    Corners {
        xmin: String,
        ymin: String,
        xmax: String,
        ymax: String,
    },
}

/// `[scenes.detections]`: where the boxes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectionsConfig {
    /// The detections topic.
    pub topic: String,
    /// Dotted path from the message to the list of boxes.
    pub boxes: String,
    /// Path, inside one box, to its class.
    pub class: String,
    /// Path, inside one box, to its score; `None`: scores are null.
    pub score: Option<String>,
    /// Paths, inside one box, to its geometry.
    pub geometry: BoxGeometry,
}

/// `[scenes.lanes]`: where the lane polylines are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanesConfig {
    /// The lanes topic.
    pub topic: String,
    /// Dotted path from the message to the list of lanes.
    pub lanes: String,
    /// Path, inside one lane, to its list of points.
    pub points: String,
    /// Path, inside one point, to x.
    pub x: String,
    /// Path, inside one point, to y.
    pub y: String,
}

/// `[scenes]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenesConfig {
    /// Classes that count as people (exact match).
    pub person_classes: Vec<String>,
    /// Scenes strictly shorter than this (after merging) are dropped; 0: off.
    pub min_scene_ms: u64,
    /// Scenes whose gap is strictly less than this are merged; 0: off.
    pub merge_gap_ms: u64,
    /// `[scenes.detections]`.
    pub detections: DetectionsConfig,
    /// `[scenes.lanes]`.
    pub lanes: LanesConfig,
}
