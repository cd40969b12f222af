//! PersonInLane scenes from the per-tick people counts (`CONTRACT.md`,
//! "Scenes"): a fold over the ticks ([`SceneFold`], driven by
//! [`find_scenes`]), then two separate passes, [`merge_scenes`] and
//! [`drop_short`].
//!
//! Ticks are `(time_ns, num_people_in_lane)` in increasing time order, one
//! per synchronized tick (see [`crate::detect::tick_counts`]).

use crate::config::ScenesConfig;

/// Nanoseconds in a millisecond, for the `_ms` settings.
const NS_PER_MS: i64 = 1_000_000;

/// A PersonInLane scene: the ticks `[start_time_ns, end_time_ns)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scene {
    /// The first tick with people in lane.
    pub start_time_ns: i64,
    /// The first later tick with none, or the last tick + the interval.
    pub end_time_ns: i64,
    /// `num_people_in_lane` at the start tick.
    pub num_people_in_scene_start: i32,
    /// The largest `num_people_in_lane` in `[start, end)`.
    pub max_people_in_lane: i32,
}

impl Scene {
    /// `end - start` in nanoseconds.
    pub fn length_ns(&self) -> i64 {
        self.end_time_ns - self.start_time_ns
    }
}

/// The state of the scene fold: the scene open so far, if any, and the last
/// tick seen. Feed it the ticks in time order with [`SceneFold::push`], then
/// call [`SceneFold::finish`].
#[derive(Debug, Clone)]
pub struct SceneFold {
    interval_ns: i64,
    open: Option<Scene>,
    last_time_ns: Option<i64>,
}

impl SceneFold {
    /// An empty fold for ticks spaced `interval_ns` apart.
    pub fn new(interval_ns: i64) -> Self {
        SceneFold {
            interval_ns,
            open: None,
            last_time_ns: None,
        }
    }

    /// Takes the next tick; returns the scene it closes, if any.
    ///
    /// A tick with a count >= 1 opens a scene when none is open (its
    /// previous tick had 0, or it is the first), or raises the open scene's
    /// maximum; a tick with 0 closes the open scene, which ends there.
    pub fn push(&mut self, (time_ns, count): (i64, i32)) -> Option<Scene> {
        debug_assert!(
            self.last_time_ns.is_none_or(|last| last < time_ns),
            "ticks in increasing time order"
        );
        self.last_time_ns = Some(time_ns);
        if count < 1 {
            return self.open.take().map(|scene| Scene {
                end_time_ns: time_ns,
                ..scene
            });
        }
        match &mut self.open {
            Some(scene) => scene.max_people_in_lane = scene.max_people_in_lane.max(count),
            None => {
                self.open = Some(Scene {
                    start_time_ns: time_ns,
                    // Set when the scene closes.
                    end_time_ns: time_ns,
                    num_people_in_scene_start: count,
                    max_people_in_lane: count,
                })
            }
        }
        None
    }

    /// Ends the fold: the scene still open at the last tick, if any, ends
    /// at that tick + the interval.
    pub fn finish(self) -> Option<Scene> {
        let mut scene = self.open?;
        scene.end_time_ns = self.last_time_ns? + self.interval_ns;
        Some(scene)
    }
}

/// The scenes of `ticks` (in time order, spaced `interval_ns`): a scene
/// starts at a tick with count >= 1 whose previous tick has 0 (or that is
/// the first tick) and ends at the first later tick with 0; a scene still
/// open at the last tick ends at last tick + `interval_ns`. Its maximum is
/// over `[start, end)`.
pub fn find_scenes(ticks: &[(i64, i32)], interval_ns: i64) -> Vec<Scene> {
    let mut fold = SceneFold::new(interval_ns);
    let mut scenes: Vec<Scene> = ticks.iter().filter_map(|&tick| fold.push(tick)).collect();
    scenes.extend(fold.finish());
    scenes
}

/// Merges, left to right, scenes whose gap (next start − previous end) is
/// strictly less than `merge_gap_ns` (0 or less: off, the scenes are
/// returned as they are).
///
/// A merged scene keeps its first part's start count; its maximum is over
/// the whole span `[start, end)`, recomputed from `ticks` (the ticks
/// [`find_scenes`] was given).
pub fn merge_scenes(scenes: Vec<Scene>, ticks: &[(i64, i32)], merge_gap_ns: i64) -> Vec<Scene> {
    if merge_gap_ns <= 0 {
        return scenes;
    }
    let mut merged: Vec<Scene> = Vec::with_capacity(scenes.len());
    for scene in scenes {
        match merged.last_mut() {
            Some(prev) if scene.start_time_ns.saturating_sub(prev.end_time_ns) < merge_gap_ns => {
                prev.end_time_ns = prev.end_time_ns.max(scene.end_time_ns);
                prev.max_people_in_lane = prev
                    .max_people_in_lane
                    .max(scene.max_people_in_lane)
                    .max(max_count(ticks, prev.start_time_ns, prev.end_time_ns));
            }
            _ => merged.push(scene),
        }
    }
    merged
}

/// The largest count among `ticks` (sorted by time) in `[start, end)`; 0
/// when none is there.
fn max_count(ticks: &[(i64, i32)], start: i64, end: i64) -> i32 {
    let from = ticks.partition_point(|&(t, _)| t < start);
    let to = ticks.partition_point(|&(t, _)| t < end);
    ticks[from..to.max(from)]
        .iter()
        .map(|&(_, n)| n)
        .max()
        .unwrap_or(0)
}

/// Drops the scenes strictly shorter than `min_scene_ns` (0 or less: off).
pub fn drop_short(scenes: Vec<Scene>, min_scene_ns: i64) -> Vec<Scene> {
    if min_scene_ns <= 0 {
        return scenes;
    }
    scenes
        .into_iter()
        .filter(|s| s.length_ns() >= min_scene_ns)
        .collect()
}

/// The scenes of `ticks` as configured: [`find_scenes`], then
/// [`merge_scenes`] with `merge_gap_ms`, then [`drop_short`] with
/// `min_scene_ms`.
pub fn detect_scenes(ticks: &[(i64, i32)], interval_ns: i64, cfg: &ScenesConfig) -> Vec<Scene> {
    let ms = |v: u64| {
        i64::try_from(v)
            .unwrap_or(i64::MAX)
            .saturating_mul(NS_PER_MS)
    };
    let scenes = find_scenes(ticks, interval_ns);
    let scenes = merge_scenes(scenes, ticks, ms(cfg.merge_gap_ms));
    drop_short(scenes, ms(cfg.min_scene_ms))
}

#[cfg(test)]
mod tests;
