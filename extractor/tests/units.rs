//! What a layout says about its units holds for what the units hold: a
//! unit that lists its connections (ROS1 chunk infos, MCAP chunk indexes,
//! sqlite3 row ranges) holds no message of any other, and its time range
//! covers its messages. Exports skip units by these (a latched message is
//! looked for only in the units that can hold it), so a lie here would
//! drop a message from a clip.

mod common;

use extractor::container;

#[test]
fn units_hold_only_the_connections_and_times_they_claim() {
    let bags = common::sample_and_real_bags();
    let mut listed = 0;
    for path in &bags {
        let Ok(bag) = container::open(common::inputs(path)) else {
            continue;
        };
        for unit in &bag.layout.units {
            let Ok(contents) = bag.read_unit(unit) else {
                continue;
            };
            if let Some(ids) = &unit.connections {
                listed += 1;
                for m in &contents.messages {
                    assert!(
                        ids.contains(&i64::from(m.conn)),
                        "{}: {} holds a message of connection {} it does not list ({ids:?})",
                        path.display(),
                        unit.describe(&bag.layout),
                        m.conn
                    );
                    assert!(unit.may_hold(m.conn));
                }
            }
            if let (Some(lo), Some(hi)) = (unit.start_time_ns, unit.end_time_ns) {
                for m in &contents.messages {
                    assert!(
                        (lo..=hi).contains(&m.time_ns),
                        "{}: {} holds a message at {} outside [{lo}, {hi}]",
                        path.display(),
                        unit.describe(&bag.layout),
                        m.time_ns
                    );
                }
            }
        }
    }
    assert!(listed > 100, "only {listed} units list their connections");
}
