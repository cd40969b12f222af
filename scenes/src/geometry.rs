//! Lane regions and box-in-lane tests: the pure geometry of one tick
//! (`CONTRACT.md`, "Lane assignment and scene detections", steps 1 to 3).
//!
//! Everything here is in image coordinates (x to the right, y down, any
//! unit) and knows nothing of Arrow: [`crate::detect()`] reads the numbers out
//! of the synchronized table and calls these functions once per tick.
//!
//! # Edge cases, as decided
//!
//! - "Inside or on the boundary" is geo's [`Covers`], not `Contains` (which
//!   excludes the boundary), so a corner exactly on a lane line, on an edge
//!   or on a vertex, counts.
//! - A corner on the line shared by two neighbouring regions is in both: it
//!   counts once for `corners_in_lane`, and both regions are listed.
//! - A lane whose points all have the same x (a vertical line) is an
//!   ordinary lane. Two lanes that coincide make a region of zero area: it
//!   still covers the points on that line (its boundary) and nothing else.
//!   Lanes that cross make a self-intersecting polygon; geo decides inside
//!   and outside of it by its winding rule, and no attempt is made to repair
//!   it (the image is what the lane detector reported).

use geo::{Covers, LineString, Point, Polygon};

/// Lanes with fewer points than this are ignored.
pub const MIN_LANE_POINTS: usize = 2;

/// A box as reported: centre, size, class, score.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectedBox {
    /// The detector's class name, e.g. `person`.
    pub class: String,
    /// The detector's confidence; `None` when no score path is configured.
    pub score: Option<f64>,
    /// Centre x.
    pub x: f64,
    /// Centre y.
    pub y: f64,
    /// Width (x extent).
    pub width: f64,
    /// Height (y extent).
    pub height: f64,
}

/// The area between two neighbouring lanes.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// `between_<i>_and_<i+1>`, the 0-based positions of its lanes counted
    /// from the left among the usable lanes.
    pub name: String,
    /// Lane i's points by y ascending, then lane i+1's by y descending
    /// (closed by geo).
    pub polygon: Polygon<f64>,
}

/// The name of the region between usable lanes `i` and `i + 1`.
pub fn region_name(i: usize) -> String {
    format!("between_{i}_and_{}", i + 1)
}

/// Lanes (each a list of (x, y) points) → regions.
///
/// Lanes with fewer than [`MIN_LANE_POINTS`] points are ignored; the rest
/// are stably sorted left to right by the mean x of their points (so lanes
/// with equal means keep their input order). Region i is lane i's points
/// sorted by y ascending followed by lane i+1's points sorted by y
/// descending (stable sorts, floats ordered by `total_cmp`). Fewer than two
/// usable lanes give no region.
pub fn lane_regions(lanes: &[Vec<(f64, f64)>]) -> Vec<Region> {
    let mut usable: Vec<(f64, &[(f64, f64)])> = lanes
        .iter()
        .filter(|points| points.len() >= MIN_LANE_POINTS)
        .map(|points| (mean_x(points), points.as_slice()))
        .collect();
    // `sort_by` is stable: lanes with equal mean x keep their input order.
    usable.sort_by(|a, b| a.0.total_cmp(&b.0));

    usable
        .windows(2)
        .enumerate()
        .map(|(i, pair)| {
            let mut left = pair[0].1.to_vec();
            left.sort_by(|a, b| a.1.total_cmp(&b.1));
            let mut right = pair[1].1.to_vec();
            right.sort_by(|a, b| b.1.total_cmp(&a.1));
            left.extend(right);
            Region {
                name: region_name(i),
                polygon: Polygon::new(LineString::from(left), Vec::new()),
            }
        })
        .collect()
}

fn mean_x(points: &[(f64, f64)]) -> f64 {
    points.iter().map(|p| p.0).sum::<f64>() / points.len() as f64
}

/// The four corners in the contract's order: (x-w/2, y-h/2),
/// (x+w/2, y-h/2), (x-w/2, y+h/2), (x+w/2, y+h/2).
pub fn corners(b: &DetectedBox) -> [(f64, f64); 4] {
    box_corners(b.x, b.y, b.width, b.height)
}

/// [`corners`] of a box given by its centre and size.
pub(crate) fn box_corners(x: f64, y: f64, width: f64, height: f64) -> [(f64, f64); 4] {
    let (hw, hh) = (width / 2.0, height / 2.0);
    [
        (x - hw, y - hh),
        (x + hw, y - hh),
        (x - hw, y + hh),
        (x + hw, y + hh),
    ]
}

/// `corners_in_lane` (the number of corners in at least one region, inside
/// or on its boundary: geo's [`Covers`]) and the distinct regions hit, in
/// corner order then region order.
///
/// The box is in lane when the count is at least 1. A corner on the line
/// shared by two regions counts once and lists both.
pub fn assign(b: &DetectedBox, regions: &[Region]) -> (i32, Vec<String>) {
    assign_corners(&corners(b), regions)
}

/// [`assign`] for corners already computed.
pub(crate) fn assign_corners(corners: &[(f64, f64); 4], regions: &[Region]) -> (i32, Vec<String>) {
    let mut in_lane = 0;
    let mut hit: Vec<String> = Vec::new();
    for &(x, y) in corners {
        let point = Point::new(x, y);
        let mut any = false;
        for region in regions {
            if region.polygon.covers(&point) {
                any = true;
                if !hit.contains(&region.name) {
                    hit.push(region.name.clone());
                }
            }
        }
        in_lane += i32::from(any);
    }
    (in_lane, hit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two straight lanes that narrow towards the top of the image, like a
    /// road seen from a car: left from (0, 100) up to (40, 0), right from
    /// (100, 100) up to (60, 0), each with a midpoint.
    fn road() -> Vec<Vec<(f64, f64)>> {
        vec![
            vec![(0.0, 100.0), (20.0, 50.0), (40.0, 0.0)],
            vec![(100.0, 100.0), (80.0, 50.0), (60.0, 0.0)],
        ]
    }

    /// A box whose top-left corner is at (x, y) and that extends 10 to the
    /// right and 10 down (so its other corners are far from `road()`'s
    /// lines when `(x, y)` is on one).
    fn box_with_top_left(x: f64, y: f64) -> DetectedBox {
        DetectedBox {
            class: "person".into(),
            score: None,
            x: x + 5.0,
            y: y + 5.0,
            width: 10.0,
            height: 10.0,
        }
    }

    fn names(regions: &[Region]) -> Vec<&str> {
        regions.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn corners_are_in_the_contract_order() {
        let b = DetectedBox {
            class: "car".into(),
            score: Some(0.5),
            x: 10.0,
            y: 20.0,
            width: 4.0,
            height: 6.0,
        };
        assert_eq!(
            corners(&b),
            [(8.0, 17.0), (12.0, 17.0), (8.0, 23.0), (12.0, 23.0)]
        );
    }

    #[test]
    fn region_is_left_lane_up_then_right_lane_down() {
        let regions = lane_regions(&road());
        assert_eq!(names(&regions), ["between_0_and_1"]);
        let ring: Vec<(f64, f64)> = regions[0]
            .polygon
            .exterior()
            .points()
            .map(|p| p.x_y())
            .collect();
        assert_eq!(
            ring,
            [
                (40.0, 0.0),
                (20.0, 50.0),
                (0.0, 100.0),
                (100.0, 100.0),
                (80.0, 50.0),
                (60.0, 0.0),
                (40.0, 0.0), // closed by geo
            ]
        );
    }

    #[test]
    fn corner_on_an_edge_not_a_vertex_counts() {
        // (10, 75) is the midpoint of the left lane's segment
        // (0, 100)-(20, 50). The box lies left of the lane with its
        // bottom-right corner there; its top-right corner (10, 71) is left
        // of the line (at y = 71 the line is at x = 11.6), so outside.
        let regions = lane_regions(&road());
        let b = DetectedBox {
            class: "person".into(),
            score: None,
            x: 8.0,
            y: 73.0,
            width: 4.0,
            height: 4.0,
        };
        assert_eq!(corners(&b)[3], (10.0, 75.0));
        assert_eq!(
            assign(&b, &regions),
            (1, vec!["between_0_and_1".to_string()])
        );
    }

    #[test]
    fn corner_on_a_vertex_counts() {
        // The right lane's middle vertex is (80, 50); the box lies to the
        // right of the lane with its bottom-left corner on it.
        let regions = lane_regions(&road());
        let b = DetectedBox {
            class: "person".into(),
            score: None,
            x: 85.0,
            y: 45.0,
            width: 10.0,
            height: 10.0,
        };
        assert_eq!(corners(&b)[2], (80.0, 50.0));
        assert_eq!(
            assign(&b, &regions),
            (1, vec!["between_0_and_1".to_string()])
        );
    }

    #[test]
    fn corner_just_outside_does_not_count() {
        let regions = lane_regions(&road());
        // Bottom-left corner 1e-9 to the right of the vertex (80, 50).
        let b = DetectedBox {
            class: "person".into(),
            score: None,
            x: 85.0 + 1e-9,
            y: 45.0,
            width: 10.0,
            height: 10.0,
        };
        assert_eq!(assign(&b, &regions), (0, Vec::<String>::new()));
    }

    #[test]
    fn corner_on_the_shared_line_counts_once_and_lists_both_regions() {
        // Three vertical lanes at x = 0, 10, 20: two regions sharing x = 10.
        let lanes = vec![
            vec![(0.0, 0.0), (0.0, 100.0)],
            vec![(10.0, 0.0), (10.0, 100.0)],
            vec![(20.0, 0.0), (20.0, 100.0)],
        ];
        let regions = lane_regions(&lanes);
        assert_eq!(names(&regions), ["between_0_and_1", "between_1_and_2"]);
        // A box from x = 10 to 30: its left corners (10, 40) and (10, 50)
        // are on the shared line, its right corners right of every region.
        let b = DetectedBox {
            class: "person".into(),
            score: None,
            x: 20.0,
            y: 45.0,
            width: 20.0,
            height: 10.0,
        };
        assert_eq!(
            assign(&b, &regions),
            (
                2,
                vec!["between_0_and_1".to_string(), "between_1_and_2".to_string()]
            )
        );
    }

    #[test]
    fn regions_are_listed_in_corner_order_not_region_order() {
        // The middle lane slants from (5, 0) at the top to (25, 100) at the
        // bottom, so a thin box at x = 10..12 starts (top corners) in the
        // right region and ends (bottom corners) in the left one.
        let lanes = vec![
            vec![(0.0, 0.0), (0.0, 100.0)],
            vec![(5.0, 0.0), (25.0, 100.0)],
            vec![(40.0, 0.0), (40.0, 100.0)],
        ];
        let regions = lane_regions(&lanes);
        let b = DetectedBox {
            class: "person".into(),
            score: None,
            x: 11.0,
            y: 50.0,
            width: 2.0,
            height: 80.0,
        };
        assert_eq!(
            assign(&b, &regions),
            (
                4,
                vec!["between_1_and_2".to_string(), "between_0_and_1".to_string()]
            )
        );
    }

    #[test]
    fn lanes_with_fewer_than_two_points_are_ignored() {
        let lanes = vec![
            vec![(-50.0, 50.0)], // a single point: ignored
            road()[0].clone(),
            vec![], // no points: ignored
            road()[1].clone(),
        ];
        let regions = lane_regions(&lanes);
        // Without the filter the single point (mean x -50) would be lane 0.
        assert_eq!(regions, lane_regions(&road()));
        assert_eq!(names(&regions), ["between_0_and_1"]);
    }

    #[test]
    fn unsorted_lanes_and_points_are_sorted() {
        let mut right = road()[1].clone();
        right.swap(0, 2); // points not in y order
        let mut left = road()[0].clone();
        left.swap(0, 1);
        // Right lane first.
        let regions = lane_regions(&[right, left]);
        assert_eq!(regions, lane_regions(&road()));
    }

    #[test]
    fn fewer_than_two_usable_lanes_give_no_region() {
        assert!(lane_regions(&[]).is_empty());
        assert!(lane_regions(&road()[..1]).is_empty());
        assert!(lane_regions(&[road()[0].clone(), vec![(90.0, 10.0)]]).is_empty());
        let b = box_with_top_left(45.0, 45.0);
        assert_eq!(assign(&b, &[]), (0, Vec::<String>::new()));
    }

    #[test]
    fn vertical_lane_is_an_ordinary_lane() {
        // Every point of each lane has the same x: a rectangle between them.
        let lanes = vec![
            vec![(0.0, 0.0), (0.0, 50.0), (0.0, 100.0)],
            vec![(10.0, 100.0), (10.0, 0.0)],
        ];
        let regions = lane_regions(&lanes);
        assert_eq!(names(&regions), ["between_0_and_1"]);
        let inside = box_with_top_left(2.0, 2.0); // corners (2,2)..(12,12)
        assert_eq!(assign(&inside, &regions).0, 2);
        let outside = box_with_top_left(11.0, 2.0);
        assert_eq!(assign(&outside, &regions).0, 0);
    }

    #[test]
    fn coincident_lanes_make_a_zero_area_region_that_covers_its_line() {
        // Two lanes on the same vertical line x = 10 (equal mean x: input
        // order kept). The region has no area; only points on the line are
        // covered.
        let lane = vec![(10.0, 0.0), (10.0, 100.0)];
        let regions = lane_regions(&[lane.clone(), lane]);
        assert_eq!(names(&regions), ["between_0_and_1"]);
        let touching = box_with_top_left(10.0, 20.0);
        assert_eq!(
            assign(&touching, &regions),
            (2, vec!["between_0_and_1".to_string()])
        );
        let beside = box_with_top_left(10.5, 20.0);
        assert_eq!(assign(&beside, &regions).0, 0);
    }

    #[test]
    fn lane_of_one_repeated_point_makes_a_triangle() {
        // A lane whose points are all equal has two points, so it is
        // usable: the region is a triangle with that point as apex.
        let lanes = vec![
            vec![(0.0, 0.0), (0.0, 100.0)],
            vec![(50.0, 50.0), (50.0, 50.0)],
        ];
        let regions = lane_regions(&lanes);
        assert_eq!(names(&regions), ["between_0_and_1"]);
        // (40, 50) lies inside the triangle (0,0)-(0,100)-(50,50).
        let inside = DetectedBox {
            class: "person".into(),
            score: None,
            x: 40.0,
            y: 50.0,
            width: 0.0,
            height: 0.0,
        };
        assert_eq!(assign(&inside, &regions).0, 4);
        let above = DetectedBox { y: 10.0, ..inside };
        assert_eq!(assign(&above, &regions).0, 0);
    }
}
