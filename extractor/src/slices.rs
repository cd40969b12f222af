//! Cuts a bag into work items for extraction by many workers at once:
//! log-time windows `[t_k, t_k+1)` of about `item_bytes` compressed bytes
//! each, from the index alone.
//!
//! Units (chunks) are grouped in file order into *home* groups of about
//! `item_bytes`; the cut times are the start times of each group's first
//! unit (made non-decreasing), the first window open to the left and the
//! last to the right. An item reads every unit whose `[start, end]` meets
//! its window and keeps only the messages inside it, so each message is
//! extracted by exactly one item, and the items' rows one after the other
//! are the bag's rows in the bag's order (log time, ties in bag order):
//! equal times always fall in one window, where the item keeps bag order.
//!
//! A bag whose index gives no time range for some unit (a recovery scan,
//! rosbag2 sqlite3 rows), or whose units overlap so much that the items
//! would read far more than the bag, is one item: the whole bag.

use crate::container::{BagLayout, IndexMode};
use crate::extract::Slice;

/// At most this many items, so part numbers `(k+1) * 100 + j` keep five
/// digits.
pub const MAX_ITEMS: usize = 998;

/// Bytes the items read together, over the bag's, above which fewer
/// (larger) items are tried.
pub const MAX_AMPLIFICATION: f64 = 1.25;

/// The work items of a bag, and why it is one item when it is.
#[derive(Debug, Clone, PartialEq)]
pub struct SlicePlan {
    pub items: Vec<Slice>,
    /// Why the bag could not be cut (it is then one item).
    pub whole_because: Option<String>,
    /// Bytes the items read together over the bag's unit bytes.
    pub amplification: f64,
}

impl SlicePlan {
    fn whole(layout: &BagLayout, why: Option<String>) -> SlicePlan {
        let n = layout.units.len();
        SlicePlan {
            items: vec![Slice {
                units: (0..n).collect(),
                home: 0..n,
                from: None,
                to: None,
            }],
            whole_because: why,
            amplification: 1.0,
        }
    }
}

/// Plans the items of a bag of `layout` for items of about `item_bytes`.
pub fn plan(layout: &BagLayout, item_bytes: u64) -> SlicePlan {
    let units = &layout.units;
    let total: u64 = units.iter().map(|u| u.read_len).sum();
    let wanted = total.div_ceil(item_bytes.max(1)) as usize;
    let mut n = wanted.clamp(1, MAX_ITEMS).min(units.len().max(1));
    while n > 1 {
        let items = match cut_into(layout, n) {
            Ok(items) => items,
            Err(why) => return SlicePlan::whole(layout, Some(why)),
        };
        let amplification = amplification(layout, &items);
        if amplification <= MAX_AMPLIFICATION || items.len() == 1 {
            return SlicePlan {
                amplification,
                items,
                whole_because: None,
            };
        }
        n /= 2;
    }
    let why = if wanted <= 1 {
        // Small enough for one item: nothing to explain.
        None
    } else if units.len() < 2 {
        Some(format!("it has {} chunk", units.len()))
    } else if let Err(why) = cut_into(layout, 2) {
        Some(why)
    } else {
        Some(
            "its chunks overlap in time so much that slices would read the bag several times over"
                .to_string(),
        )
    };
    SlicePlan::whole(layout, why)
}

/// Bytes the items read together over the bag's unit bytes.
pub fn amplification(layout: &BagLayout, items: &[Slice]) -> f64 {
    let total: u64 = layout.units.iter().map(|u| u.read_len).sum();
    let read: u64 = items
        .iter()
        .flat_map(|s| s.units.iter())
        .map(|&i| layout.units[i].read_len)
        .sum();
    read as f64 / total.max(1) as f64
}

/// Cuts the bag into at most `n` items, however much they read; `Err`
/// says why the bag cannot be cut at all.
pub fn cut_into(layout: &BagLayout, n: usize) -> Result<Vec<Slice>, String> {
    let units = &layout.units;
    if let IndexMode::Scanned { reason } = &layout.mode {
        return Err(format!("the bag has no usable index ({reason})"));
    }
    let mut times = Vec::with_capacity(units.len());
    for u in units {
        match (u.start_time_ns, u.end_time_ns, u.range()) {
            (Some(s), Some(e), Some(_)) if s <= e => times.push((s, e)),
            _ => {
                return Err(format!(
                    "{} has no time range in the index",
                    u.describe(layout)
                ));
            }
        }
    }
    if units.is_empty() {
        return Ok(SlicePlan::whole(layout, None).items);
    }
    Ok(cut(
        units.iter().map(|u| u.read_len),
        &times,
        n.clamp(1, MAX_ITEMS),
    ))
}

/// Cuts units (their read lengths and `[start, end]` times, in file order)
/// into at most `n` items.
fn cut(lens: impl Iterator<Item = u64>, times: &[(u64, u64)], n: usize) -> Vec<Slice> {
    let lens: Vec<u64> = lens.collect();
    let total: u64 = lens.iter().sum();
    // Home groups: a new group starts once the bytes before a unit pass
    // the next multiple of total / n.
    let mut starts = vec![0usize];
    let mut before = 0u64;
    for (i, len) in lens.iter().enumerate() {
        let k = starts.len() as u64;
        if i > 0 && (k as usize) < n && before as u128 * n as u128 >= k as u128 * total as u128 {
            starts.push(i);
        }
        before += len;
    }
    // Cut times, non-decreasing; a group whose cut equals the next one's
    // would have an empty window, so it joins the next group.
    let mut cuts: Vec<(usize, u64)> = Vec::new();
    for &s in &starts[1..] {
        let t = times[s].0.max(cuts.last().map_or(0, |c| c.1));
        match cuts.last_mut() {
            Some(last) if last.1 == t => last.0 = s,
            _ => cuts.push((s, t)),
        }
    }
    // A cut at time 0 would leave the first window empty: its group joins
    // the next.
    if cuts.first().is_some_and(|c| c.1 == 0) {
        cuts.remove(0);
    }
    let mut items = Vec::with_capacity(cuts.len() + 1);
    let mut home_start = 0;
    for k in 0..=cuts.len() {
        let from = k.checked_sub(1).map(|j| cuts[j].1);
        let to = cuts.get(k).map(|c| c.1);
        let home_end = cuts.get(k).map_or(lens.len(), |c| c.0);
        // Its home units too, even without a message in the window: their
        // whole-unit facts (a chunk skipped) are this item's to report.
        let units = (0..times.len())
            .filter(|&i| {
                let (s, e) = times[i];
                (home_start..home_end).contains(&i)
                    || (from.is_none_or(|f| e >= f) && to.is_none_or(|t| s < t))
            })
            .collect();
        items.push(Slice {
            units,
            home: home_start..home_end,
            from,
            to,
        });
        home_start = home_end;
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(lens: &[u64], times: &[(u64, u64)], n: usize) -> Vec<Slice> {
        let items = cut(lens.iter().copied(), times, n);
        // Homes cover every unit once, in order.
        let homes: Vec<usize> = items.iter().flat_map(|s| s.home.clone()).collect();
        assert_eq!(homes, (0..lens.len()).collect::<Vec<_>>());
        // Windows are contiguous, open at both ends, non-empty.
        assert_eq!(items.first().unwrap().from, None);
        assert_eq!(items.last().unwrap().to, None);
        for w in items.windows(2) {
            assert_eq!(w[0].to, w[1].from);
        }
        for s in &items {
            if let (Some(f), Some(t)) = (s.from, s.to) {
                assert!(f < t, "{s:?}");
            }
        }
        items
    }

    #[test]
    fn units_in_order_cut_into_groups_of_about_equal_bytes() {
        let times: Vec<(u64, u64)> = (0..8).map(|i| (i * 10 + 1, i * 10 + 9)).collect();
        let items = check(&[100; 8], &times, 4);
        assert_eq!(items.len(), 4);
        for (k, s) in items.iter().enumerate() {
            assert_eq!(s.home, 2 * k..2 * k + 2);
            assert_eq!(s.units, (2 * k..2 * k + 2).collect::<Vec<_>>());
        }
        assert_eq!(items[1].from, Some(21));
    }

    #[test]
    fn a_unit_that_crosses_a_cut_is_read_by_both_items() {
        // Unit 1 runs past unit 2's start: rosbag record's overlap.
        let times = [(0, 10), (11, 25), (20, 30), (31, 40)];
        let items = check(&[1; 4], &times, 2);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].units, [0, 1]);
        assert_eq!(items[1].from, Some(20));
        assert_eq!(items[1].units, [1, 2, 3]);
    }

    #[test]
    fn equal_cut_times_merge_groups_so_no_window_is_empty() {
        let times = [(5, 5), (5, 5), (5, 5), (6, 9)];
        let items = check(&[1; 4], &times, 4);
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].home, 0..2);
        // Its home units are read though no message of them is kept.
        assert_eq!(items[0].units, [0, 1]);
        assert_eq!(items[1].home, 2..3);
        assert_eq!(items[1].units, [0, 1, 2]);
        assert_eq!(items[2].from, Some(6));
    }
}
