//! Damaged input built in code, run through the binary: each ends as the
//! contract says (recovered and DONE with warnings naming offsets, or
//! FAILED with an error saying why), and none panics.

use std::path::{Path, PathBuf};

use extractor::container::ros1::bag::Compression;
use extractor::testing::{BagBuilder, record_header_at};
use serde_json::Value;

use crate::util::*;

const POINT_DEF: &str = "float64 x\nfloat64 y\n";
const POINT_MD5: &str = "209f516d3eb691f0663e25cb750d67c1";
const TEXT_DEF: &str = "string data\n";
const TEXT_MD5: &str = "992ce8a1687cec8c8bd883ec73ca41d1";

fn point(x: f64, y: f64) -> Vec<u8> {
    let mut v = x.to_le_bytes().to_vec();
    v.extend_from_slice(&y.to_le_bytes());
    v
}

fn text(s: &[u8]) -> Vec<u8> {
    let mut v = (s.len() as u32).to_le_bytes().to_vec();
    v.extend_from_slice(s);
    v
}

/// 40 points on /points and 40 strings on /text, 1 s apart, in chunks of
/// a few messages each.
fn drive(compression: Compression) -> BagBuilder {
    let mut b = BagBuilder::new()
        .compression(compression)
        .chunk_threshold(200)
        .connection(0, "/points", "test_msgs/Point2", POINT_MD5, POINT_DEF)
        .connection(1, "/text", "std_msgs/String", TEXT_MD5, TEXT_DEF);
    for i in 0..40u64 {
        let t = 1_600_000_000_000_000_000 + i * 1_000_000_000;
        b = b.message(0, t, &point(i as f64, -(i as f64)));
        b = b.message(1, t + 1, &text(format!("msg {i}").as_bytes()));
    }
    b
}

/// Writes `bytes` as `<name>.bag`, runs the pipeline, returns the item.
fn run_bytes(dir: &Path, name: &str, bytes: &[u8]) -> (Value, std::process::Output) {
    let bag = dir.join(format!("{name}.bag"));
    std::fs::write(&bag, bytes).unwrap();
    let root = dir.join(format!("lake-{name}"));
    let out = run(&root, &[bag.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{name}: {}", show(&out));
    let item = catalog(&root)
        .remove(name)
        .unwrap_or_else(|| panic!("{name}: no catalogue item\n{}", show(&out)));
    (item, out)
}

fn status(item: &Value) -> &str {
    item["status"]["S"].as_str().unwrap()
}

fn count(item: &Value, topic: &str) -> u64 {
    item["topics"]["M"][topic]["M"]["message_count"]["N"]
        .as_str()
        .map_or(0, |n| n.parse().unwrap())
}

fn lake_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("lake-{name}"))
}

#[test]
fn intact_bags_in_every_compression_with_and_without_index() {
    let dir = tempfile::tempdir().unwrap();
    for compression in [Compression::None, Compression::Bz2, Compression::Lz4] {
        for index in [true, false] {
            let name = format!("{compression}_{index}");
            let bytes = drive(compression).with_index(index).build();
            let (item, out) = run_bytes(dir.path(), &name, &bytes);
            assert!(out.status.success(), "{}", show(&out));
            assert_eq!(status(&item), "DONE");
            assert_eq!(count(&item, "/points"), 40);
            assert_eq!(count(&item, "/text"), 40);
            let w = data_warnings(&item);
            if index {
                assert!(w.is_empty(), "{w:?}");
            } else {
                assert!(w.iter().any(|w| w.contains("scanning")), "{w:?}");
            }
        }
    }
}

#[test]
fn truncated_bags_keep_every_intact_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let built = drive(Compression::Lz4).build_bag();
    let offsets = &built.chunk_offsets;
    assert!(offsets.len() > 10);
    let index_pos = built.index_pos.unwrap() as usize;
    let cuts = [
        ("in_header", 20usize),
        ("in_first_chunk", offsets[0] as usize + 30),
        ("mid_chunks", offsets[5] as usize + 10),
        ("before_index", index_pos),
        ("in_index", index_pos + 25),
    ];
    for (name, cut) in cuts {
        let (item, out) = run_bytes(dir.path(), name, &built.bytes[..cut]);
        assert_eq!(status(&item), "DONE", "{name}: {}", show(&out));
        assert!(out.status.success(), "{name}: {}", show(&out));
        // Chunks before the cut are whole: every one of their messages is kept.
        let whole = offsets
            .iter()
            .filter(|&&o| (o as usize) < cut)
            .count()
            .saturating_sub(1);
        let kept = count(&item, "/points") + count(&item, "/text");
        assert!(
            kept as usize >= whole * 2,
            "{name}: {kept} messages kept from {whole} whole chunks"
        );
        let w = warnings(&item);
        assert!(
            !w.is_empty(),
            "{name}: a truncated bag is recovered with a warning"
        );
        let rows: u64 = item["message_count"]["N"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(rows, kept);
    }
    // Cut inside a chunk: that chunk is named by its offset.
    let (item, _) = run_bytes(
        dir.path(),
        "cut_chunk",
        &built.bytes[..offsets[5] as usize + 10],
    );
    let w = warnings(&item).join("\n");
    assert!(w.contains(&offsets[5].to_string()), "{w}");
}

#[test]
fn garbage_inside_a_chunk_skips_that_chunk_alone() {
    let dir = tempfile::tempdir().unwrap();
    for compression in [Compression::None, Compression::Bz2, Compression::Lz4] {
        let built = drive(compression).build_bag();
        let mut bytes = built.bytes.clone();
        let victim = built.chunk_offsets[3] as usize;
        // Past the chunk's header into its data.
        for b in &mut bytes[victim + 60..victim + 90] {
            *b = 0xA5;
        }
        let name = format!("garbage_{compression}");
        let (item, out) = run_bytes(dir.path(), &name, &bytes);
        assert_eq!(status(&item), "DONE", "{}", show(&out));
        let w = warnings(&item).join("\n");
        assert!(w.contains(&format!("offset {victim}")), "{name}: {w}");
        let kept = count(&item, "/points") + count(&item, "/text");
        assert!((70..80).contains(&kept), "{name}: kept {kept} of 80");
        // What was kept is readable and in time order.
        let sql = format!(
            "SELECT count(*), bool_and(x = -y) FROM read_parquet('{}/topics/points/*/*.parquet')",
            lake_of(dir.path(), &name).display()
        );
        let rows = duckdb(&sql);
        assert_eq!(rows[0][0].as_u64(), Some(count(&item, "/points")));
        assert_eq!(rows[0][1], Value::Bool(true));
    }
}

#[test]
fn a_lying_chunk_size_is_refused_without_allocating_it() {
    let dir = tempfile::tempdir().unwrap();
    let built = drive(Compression::Lz4).build_bag();
    for (name, size) in [("size_small", 10u32), ("size_huge", 0xFFFF_FFF0)] {
        let mut bytes = built.bytes.clone();
        let victim = built.chunk_offsets[2] as usize;
        let header_len = u32::from_le_bytes(bytes[victim..victim + 4].try_into().unwrap()) as usize;
        let header = &bytes[victim + 4..victim + 4 + header_len];
        let at = header.windows(5).position(|w| w == b"size=").unwrap() + victim + 4 + 5;
        bytes[at..at + 4].copy_from_slice(&size.to_le_bytes());
        let (item, out) = run_bytes(dir.path(), name, &bytes);
        assert_eq!(status(&item), "DONE", "{}", show(&out));
        let w = warnings(&item).join("\n");
        assert!(w.contains(&format!("offset {victim}")), "{name}: {w}");
    }
}

#[test]
fn files_that_are_not_bags_fail_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 4] = [
        ("zero", b"", "empty"),
        (
            "text",
            b"hello, this is a text file\nwith lines\n",
            "not a ROS bag",
        ),
        ("v12", b"#ROSBAG V1.2\nsome old bag data", "1.2"),
        ("magic_only", b"#ROSBAG V2.0\n", ""),
    ];
    for (name, bytes, reason) in cases {
        let (item, out) = run_bytes(dir.path(), name, bytes);
        if name == "magic_only" {
            // A valid magic with nothing after it: a bag with no messages.
            assert_eq!(status(&item), "DONE", "{}", show(&out));
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        assert_eq!(status(&item), "FAILED");
        let error = item["error"]["S"].as_str().unwrap();
        assert!(error.contains(reason), "{name}: {error}");
        assert!(
            error.contains(&format!("{name}.bag")),
            "the error names the bag: {error}"
        );
        assert!(!lake_of(dir.path(), name).join("topics").exists());
    }
}

#[test]
fn unknown_connection_ids_and_bad_definitions_are_warnings() {
    let dir = tempfile::tempdir().unwrap();
    // A definition that does not parse, next to a good topic.
    let b = BagBuilder::new()
        .connection(0, "/points", "test_msgs/Point2", POINT_MD5, POINT_DEF)
        .connection(
            1,
            "/broken",
            "test_msgs/Broken",
            "0123456789abcdef0123456789abcdef",
            "float64[x] bad\n",
        )
        .connection(
            2,
            "/undefined",
            "test_msgs/Wrapper",
            "fedcba9876543210fedcba9876543210",
            "test_msgs/Missing m\n",
        )
        .message(0, 1_000_000_000, &point(1.0, 2.0))
        .message(1, 1_000_000_001, &point(1.0, 2.0))
        .message(1, 1_000_000_002, &point(1.0, 2.0))
        .message(2, 1_000_000_003, &point(1.0, 2.0))
        // One message of the good topic that is too short: skipped alone.
        .message(0, 2_000_000_000, &[1, 2, 3])
        .message(0, 3_000_000_000, &point(3.0, 4.0));
    let bytes = b.build();
    let (item, out) = run_bytes(dir.path(), "defs", &bytes);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(status(&item), "DONE");
    let w = warnings(&item);
    let broken = w
        .iter()
        .find(|w| w.contains("/broken") && w.contains("2 messages skipped"))
        .unwrap_or_else(|| panic!("{w:?}"));
    // The warning names the connection and where its record is: at that
    // offset the bag holds a connection record (op 7) of `/broken`.
    let offset: u64 = broken
        .split("(connection 1, defined at offset ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no connection offset in {broken:?}"));
    let header = record_header_at(&bytes, offset);
    let has = |field: &[u8]| header.windows(field.len()).any(|w| w == field);
    assert!(
        has(b"op=\x07") && has(b"topic=/broken"),
        "offset {offset} is not /broken's connection record: {:?}",
        String::from_utf8_lossy(header)
    );
    assert!(
        w.iter()
            .any(|w| w.contains("/undefined") && w.contains("test_msgs/Missing")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.contains("/points") && w.contains("1 messages skipped")),
        "{w:?}"
    );
    assert!(item["topics"]["M"]["/broken"]["M"].get("table").is_none());
    let sql = format!(
        "SELECT list(x ORDER BY log_time_ns) FROM read_parquet('{}/topics/points/*/*.parquet')",
        lake_of(dir.path(), "defs").display()
    );
    assert_eq!(duckdb(&sql)[0][0], serde_json::json!([1.0, 3.0]));

    // A message naming a connection id no record defines (patched in an
    // uncompressed chunk): skipped with a warning naming the id.
    let mut bytes = BagBuilder::new()
        .connection(7, "/points", "test_msgs/Point2", POINT_MD5, POINT_DEF)
        .message(7, 1_000_000_000, &point(1.0, 2.0))
        .message(7, 2_000_000_000, &point(3.0, 4.0))
        .build();
    let needle: Vec<u8> = [
        b"conn=".as_slice(),
        &7u32.to_le_bytes(),
        &4u32.to_le_bytes(),
        b"op=\x02",
    ]
    .concat();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .unwrap();
    bytes[at + 5..at + 9].copy_from_slice(&99u32.to_le_bytes());
    let (item, out) = run_bytes(dir.path(), "unknown_conn", &bytes);
    assert!(out.status.success(), "{}", show(&out));
    let w = warnings(&item).join("\n");
    assert!(w.contains("connection id 99"), "{w}");
    assert_eq!(count(&item, "/points"), 1);
}

#[test]
fn messages_come_out_in_log_time_order_across_unsorted_chunks() {
    let dir = tempfile::tempdir().unwrap();
    // One message per chunk, written out of time order, with ties.
    let times = [5u64, 3, 9, 3, 1, 7, 5];
    let mut b = BagBuilder::new().chunk_threshold(1).connection(
        0,
        "/points",
        "test_msgs/Point2",
        POINT_MD5,
        POINT_DEF,
    );
    for (i, t) in times.iter().enumerate() {
        b = b.message(0, t * 1_000_000_000, &point(i as f64, 0.0));
    }
    for index in [true, false] {
        let name = format!("unsorted_{index}");
        let (_, out) = run_bytes(dir.path(), &name, &b.clone().with_index(index).build());
        assert!(out.status.success(), "{}", show(&out));
        let sql = format!(
            "SELECT list(x), list(log_time_ns // 1000000000) FROM read_parquet('{}/topics/points/*/*.parquet')",
            lake_of(dir.path(), &name).display()
        );
        let rows = duckdb(&sql);
        // Ties keep bag order: x=1 (t=3) before x=3 (t=3), x=0 before x=6.
        assert_eq!(
            rows[0][0],
            serde_json::json!([4.0, 1.0, 3.0, 0.0, 6.0, 5.0, 2.0]),
            "{name}"
        );
        assert_eq!(rows[0][1], serde_json::json!([1, 3, 3, 5, 5, 7, 9]));
    }
}
