//! The scene rules, one edge case per test, and the fold's invariants.

use proptest::prelude::*;

use super::*;
use crate::config::{BoxGeometry, DetectionsConfig, LanesConfig};

/// 100 ms, the default tick interval.
const I: i64 = 100_000_000;
/// A tick time like the sample bags' (a multiple of the interval).
const T0: i64 = 1_715_679_067_400_000_000;

/// Ticks `T0 + k * I` with the given counts.
fn ticks(counts: &[i32]) -> Vec<(i64, i32)> {
    counts
        .iter()
        .enumerate()
        .map(|(k, &n)| (T0 + k as i64 * I, n))
        .collect()
}

/// The tick time of index `k`.
fn t(k: i64) -> i64 {
    T0 + k * I
}

fn scene(start: i64, end: i64, start_count: i32, max: i32) -> Scene {
    Scene {
        start_time_ns: t(start),
        end_time_ns: t(end),
        num_people_in_scene_start: start_count,
        max_people_in_lane: max,
    }
}

#[test]
fn no_people_no_scene() {
    assert_eq!(find_scenes(&ticks(&[0, 0, 0]), I), []);
    assert_eq!(find_scenes(&[], I), []);
}

#[test]
fn scene_at_the_first_tick() {
    // The first tick has people: it starts a scene though it has no
    // previous tick.
    assert_eq!(find_scenes(&ticks(&[2, 1, 0, 0]), I), [scene(0, 2, 2, 2)]);
}

#[test]
fn scene_open_at_the_last_tick_ends_one_interval_after_it() {
    assert_eq!(find_scenes(&ticks(&[0, 0, 1, 3]), I), [scene(2, 4, 1, 3)]);
    // The only tick of a bag.
    assert_eq!(find_scenes(&ticks(&[1]), I), [scene(0, 1, 1, 1)]);
}

#[test]
fn one_tick_flicker_is_a_scene_of_one_interval() {
    let scenes = find_scenes(&ticks(&[0, 1, 0, 0]), I);
    assert_eq!(scenes, [scene(1, 2, 1, 1)]);
    assert_eq!(scenes[0].length_ns(), I);
}

#[test]
fn a_tick_with_zero_splits_scenes() {
    assert_eq!(
        find_scenes(&ticks(&[1, 2, 0, 3, 1, 0]), I),
        [scene(0, 2, 1, 2), scene(3, 5, 3, 3)]
    );
}

#[test]
fn start_count_is_the_first_ticks_and_max_is_over_the_scene() {
    assert_eq!(
        find_scenes(&ticks(&[0, 1, 3, 2, 0, 4]), I),
        [scene(1, 4, 1, 3), scene(5, 6, 4, 4)]
    );
}

#[test]
fn merge_gap_of_exactly_merge_gap_is_not_merged() {
    // Scenes [0, 2) and [3, 5): the gap is one interval.
    let counts = ticks(&[1, 1, 0, 1, 1]);
    let scenes = find_scenes(&counts, I);
    assert_eq!(scenes.len(), 2);
    assert_eq!(merge_scenes(scenes.clone(), &counts, I), scenes);
}

#[test]
fn merge_gap_below_merge_gap_is_merged() {
    let counts = ticks(&[1, 1, 0, 1, 1]);
    let scenes = find_scenes(&counts, I);
    assert_eq!(merge_scenes(scenes, &counts, I + 1), [scene(0, 5, 1, 1)]);
}

#[test]
fn merge_off_when_zero() {
    let counts = ticks(&[1, 0, 1]);
    let scenes = find_scenes(&counts, I);
    assert_eq!(merge_scenes(scenes.clone(), &counts, 0), scenes);
}

#[test]
fn merged_scene_keeps_first_start_count_and_max_over_the_whole_span() {
    // Three parts: start counts 2, 1, 1; maxima 2, 4, 1.
    let counts = ticks(&[2, 0, 1, 4, 0, 1, 0]);
    let scenes = find_scenes(&counts, I);
    assert_eq!(
        scenes,
        [scene(0, 1, 2, 2), scene(2, 4, 1, 4), scene(5, 6, 1, 1)]
    );
    assert_eq!(merge_scenes(scenes, &counts, 2 * I), [scene(0, 6, 2, 4)]);
}

#[test]
fn merging_is_left_to_right() {
    // Gaps of 1, 2 and 1 intervals, merge below 2: the first two merge,
    // the last two merge, and the middle gap keeps them apart.
    let counts = ticks(&[1, 0, 1, 0, 0, 1, 0, 1]);
    let scenes = find_scenes(&counts, I);
    assert_eq!(scenes.len(), 4);
    assert_eq!(
        merge_scenes(scenes, &counts, 2 * I),
        [scene(0, 3, 1, 1), scene(5, 8, 1, 1)]
    );
}

#[test]
fn scene_of_exactly_min_scene_is_kept() {
    let scenes = vec![scene(0, 3, 1, 1)];
    assert_eq!(drop_short(scenes.clone(), 3 * I), scenes);
}

#[test]
fn scene_one_ns_shorter_than_min_scene_is_dropped() {
    let scenes = vec![scene(0, 3, 1, 1), scene(5, 9, 1, 1)];
    assert_eq!(drop_short(scenes, 3 * I + 1), [scene(5, 9, 1, 1)]);
}

#[test]
fn drop_off_when_zero() {
    let scenes = vec![scene(0, 1, 1, 1)];
    assert_eq!(drop_short(scenes.clone(), 0), scenes);
}

fn config(merge_gap_ms: u64, min_scene_ms: u64) -> ScenesConfig {
    ScenesConfig {
        person_classes: vec!["person".into()],
        min_scene_ms,
        merge_gap_ms,
        detections: DetectionsConfig {
            topic: "/detections".into(),
            boxes: "boxes".into(),
            class: "class".into(),
            score: None,
            geometry: BoxGeometry::Centre {
                x: "x".into(),
                y: "y".into(),
                width: "width".into(),
                height: "height".into(),
            },
        },
        lanes: LanesConfig {
            topic: "/lanes".into(),
            lanes: "lanes".into(),
            points: "points".into(),
            x: "x".into(),
            y: "y".into(),
        },
    }
}

#[test]
fn detect_scenes_merges_before_dropping() {
    // Two one-tick flickers 100 ms apart: each alone is shorter than
    // 250 ms, merged they span 300 ms and are kept.
    let counts = ticks(&[1, 0, 1, 0]);
    assert_eq!(detect_scenes(&counts, I, &config(0, 0)).len(), 2);
    assert_eq!(detect_scenes(&counts, I, &config(0, 250)), []);
    assert_eq!(
        detect_scenes(&counts, I, &config(101, 250)),
        [scene(0, 3, 1, 1)]
    );
}

/// A naive reading of the contract, tick by tick, to check the fold
/// against.
fn reference(ticks: &[(i64, i32)], interval_ns: i64) -> Vec<Scene> {
    let mut scenes = Vec::new();
    let mut k = 0;
    while k < ticks.len() {
        let starts = ticks[k].1 >= 1 && (k == 0 || ticks[k - 1].1 < 1);
        if !starts {
            k += 1;
            continue;
        }
        let end = (k + 1..ticks.len()).find(|&j| ticks[j].1 < 1);
        let end_time = end.map_or(ticks[ticks.len() - 1].0 + interval_ns, |j| ticks[j].0);
        let last = end.unwrap_or(ticks.len());
        scenes.push(Scene {
            start_time_ns: ticks[k].0,
            end_time_ns: end_time,
            num_people_in_scene_start: ticks[k].1,
            max_people_in_lane: ticks[k..last].iter().map(|&(_, n)| n).max().unwrap_or(0),
        });
        k = last;
    }
    scenes
}

proptest! {
    #[test]
    fn fold_invariants(counts in prop::collection::vec(prop_oneof![3 => Just(0), 2 => 1..4i32], 0..60)) {
        let ticks = ticks(&counts);
        let scenes = find_scenes(&ticks, I);
        prop_assert_eq!(&scenes, &reference(&ticks, I));

        // Ordered and disjoint, each at least one interval long.
        for pair in scenes.windows(2) {
            prop_assert!(pair[0].end_time_ns < pair[1].start_time_ns);
        }
        for s in &scenes {
            prop_assert!(s.length_ns() >= I);
            // A start has people and its previous tick (if any) has none.
            let k = ticks.iter().position(|&(t, _)| t == s.start_time_ns).unwrap();
            prop_assert!(ticks[k].1 >= 1);
            prop_assert!(k == 0 || ticks[k - 1].1 == 0);
            prop_assert_eq!(s.num_people_in_scene_start, ticks[k].1);
        }
        // Every tick with people lies in exactly one scene, and no tick
        // without people does.
        for &(time, n) in &ticks {
            let holding = scenes
                .iter()
                .filter(|s| s.start_time_ns <= time && time < s.end_time_ns)
                .count();
            prop_assert_eq!(holding, usize::from(n >= 1));
        }
    }

    #[test]
    fn merge_invariants(
        counts in prop::collection::vec(prop_oneof![3 => Just(0), 2 => 1..4i32], 0..60),
        gap_ticks in 0..4i64,
    ) {
        let ticks = ticks(&counts);
        let scenes = find_scenes(&ticks, I);
        let merged = merge_scenes(scenes.clone(), &ticks, gap_ticks * I);
        // Gaps left are at least the merge gap; every scene is inside one
        // merged scene; every maximum is the maximum over its span.
        for pair in merged.windows(2) {
            prop_assert!(pair[1].start_time_ns - pair[0].end_time_ns >= gap_ticks * I);
        }
        for s in &scenes {
            prop_assert_eq!(
                merged
                    .iter()
                    .filter(|m| m.start_time_ns <= s.start_time_ns && s.end_time_ns <= m.end_time_ns)
                    .count(),
                1
            );
        }
        for m in &merged {
            let span_max = ticks
                .iter()
                .filter(|&&(t, _)| m.start_time_ns <= t && t < m.end_time_ns)
                .map(|&(_, n)| n)
                .max()
                .unwrap();
            prop_assert_eq!(m.max_people_in_lane, span_max);
        }
    }
}
