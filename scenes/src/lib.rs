//! Assigns detected objects (image boxes) to lanes (image polylines) and
//! finds person-in-lane scenes (see `CONTRACT.md`, "Lane assignment and
//! scene detections" and "Scenes").
//!
//! The stage runs in three steps, each in its own module:
//!
//! 1. [`detect::detect`] reads the configured detections and lanes topics
//!    out of the synchronized table (field paths resolved by [`paths`]) and
//!    writes one `scene_detections` row per tick;
//! 2. the per-tick geometry behind it is pure and lives in [`geometry`]:
//!    lanes become regions, box corners are tested against them;
//! 3. [`scene`] folds the per-tick people counts into scenes, then merges
//!    and drops them as configured.

pub mod config;
pub mod detect;
pub mod export;
pub mod geometry;
pub mod paths;
pub mod scene;

pub use config::{BoxGeometry, DetectionsConfig, LanesConfig, ScenesConfig};
pub use detect::{
    DetectedBox, Error, Result, SCENE_DETECTIONS_TIME, detect, detections_schema, tick_counts,
};
pub use geometry::{Region, assign, corners, lane_regions};
pub use scene::{Scene, SceneFold, detect_scenes, drop_short, find_scenes, merge_scenes};
