//! The full local pipeline end to end on the sample bags: the synchronized
//! table, scene detections, scenes, the scene store and the catalogue, as a
//! user would check them (DuckDB, the JSONL store, the CLI).

use std::path::Path;

use serde_json::{Value, json};

use crate::util::*;

fn sample_config() -> String {
    sample_bags()
        .join("bagpipe.toml")
        .to_string_lossy()
        .to_string()
}

/// The scene store of a lake: (bag_file, scene_id) → item.
fn scene_items(root: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(root.join("dynamodb/scenes.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["Item"].clone())
        .collect()
}

fn golden() -> Vec<(String, i64, i64, f64, i64, i64)> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/sample_scenes.txt"),
    )
    .unwrap();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = |s: &str, p: &str| s.strip_prefix(p).unwrap().parse::<i64>().unwrap();
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                n(f[5], "start="),
                n(f[6], "max="),
            )
        })
        .collect()
}

fn summary(items: &[Value]) -> Vec<(String, i64, i64, f64, i64, i64)> {
    let s = |v: &Value| v["S"].as_str().unwrap().to_string();
    let n = |v: &Value| v["N"].as_str().unwrap().parse::<f64>().unwrap();
    let mut out: Vec<_> = items
        .iter()
        .map(|i| {
            (
                s(&i["bag_file"]),
                n(&i["start_time_ns"]) as i64,
                n(&i["end_time_ns"]) as i64,
                n(&i["scene_length_ms"]),
                n(&i["num_people_in_scene_start"]) as i64,
                n(&i["max_people_in_lane"]) as i64,
            )
        })
        .collect();
    out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    out
}

/// `SELECT <select> FROM <table of the lake> <rest>`.
fn query(root: &Path, table: &str, select: &str, rest: &str) -> Vec<Vec<Value>> {
    duckdb(&format!(
        "SELECT {select} FROM read_parquet('{}/{table}/*/*.parquet', hive_partitioning = true, union_by_name = true) {rest}",
        root.display()
    ))
}

#[test]
fn sample_bags_give_the_reviewed_scenes_in_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let out = run(
        root,
        &[
            "--config",
            &sample_config(),
            sample_bags().to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", show(&out));

    // The scene store holds exactly the reviewed scenes.
    let items = scene_items(root);
    assert_eq!(summary(&items), golden());
    let item = items
        .iter()
        .find(|i| i["scene_id"]["S"] == "drive_0003_lz4_PersonInLane_1715686924000000000")
        .expect("the scene open at the end of drive 3");
    assert_eq!(item["scene_type"]["S"], "PersonInLane");
    assert_eq!(item["end_time_ns"]["N"], "1715686925000000000");
    assert_eq!(
        item["topics_analyzed"]["L"],
        json!([{"S": "/rgb_right_detections_only"}, {"S": "/post_process/lane_points/rgb_front_right"}])
    );
    assert_eq!(item["bag_file_bucket"]["S"], "");
    let prefix = item["bag_file_prefix"]["S"].as_str().unwrap();
    assert!(
        prefix.starts_with('/') && prefix.ends_with("sample-bags/drive_0003_lz4.bag"),
        "{prefix}"
    );
    let sync_path = item["synchronized_path"]["S"].as_str().unwrap();
    assert!(
        sync_path.starts_with("file:///")
            && sync_path.ends_with("/synchronized/bag_file=drive_0003_lz4/")
    );
    let det_path = item["detections_path"]["S"].as_str().unwrap();
    assert!(
        det_path.ends_with("/scene_detections/bag_file=drive_0003_lz4/"),
        "{det_path}"
    );
    assert!(Path::new(det_path.strip_prefix("file://").unwrap()).is_dir());

    // The scenes table says the same.
    let rows = query(
        root,
        "scenes",
        "bag_file, scene_id, start_time_ns, end_time_ns, scene_length_ms, num_people_in_scene_start, max_people_in_lane, topics_analyzed",
        "ORDER BY bag_file, start_time_ns",
    );
    assert_eq!(rows.len(), golden().len());
    for (row, g) in rows.iter().zip(golden()) {
        assert_eq!(row[0], g.0);
        assert_eq!(row[1], format!("{}_PersonInLane_{}", g.0, g.1));
        assert_eq!(
            (row[2].as_i64().unwrap(), row[3].as_i64().unwrap()),
            (g.1, g.2)
        );
        assert_eq!(row[4].as_f64().unwrap(), g.3);
        assert_eq!(
            (row[5].as_i64().unwrap(), row[6].as_i64().unwrap()),
            (g.4, g.5)
        );
    }

    // An independent implementation of the rules agrees with the store.
    let check = python()
        .arg("tests/parity/reference_scenes.py")
        .args([
            "--config",
            &sample_config(),
            "--lake",
            root.to_str().unwrap(),
        ])
        .args([
            "sample-bags/drive_0001_raw.bag",
            "sample-bags/drive_0002_bz2.bag",
            "sample-bags/drive_0003_lz4.bag",
            "sample-bags/drive_0004_ros2",
        ])
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", show(&check));

    // The synchronized table: ticks on the 100 ms grid, one struct per topic
    // without blobs, as-of values equal to DuckDB's own ASOF JOIN.
    let ticks = query(
        root,
        "synchronized",
        "count(*), bool_and(time_ns % 100000000 = 0), count(DISTINCT bag_file)",
        "",
    );
    assert_eq!(ticks[0][1], Value::Bool(true));
    // The three ROS1 drives and the ROS 2 one.
    assert_eq!(ticks[0][2].as_i64(), Some(4));
    // The ROS1 drives' gps column (the ROS 2 drive's NavSatFix has a table
    // of its own, checked in tests/ros2.rs).
    let ros1_ticks = query(
        root,
        "synchronized",
        "count(*)",
        "WHERE bag_file <> 'drive_0004_ros2'",
    );
    let asof = duckdb(&format!(
        "WITH s AS (SELECT bag_file, time_ns, gps.log_time_ns AS got FROM read_parquet('{root}/synchronized/*/*.parquet', hive_partitioning = true, union_by_name = true) WHERE bag_file <> 'drive_0004_ros2'),
              g AS (SELECT bag_file, log_time_ns FROM read_parquet('{root}/topics/gps/*/*.parquet', hive_partitioning = true))
         SELECT count(*), count(*) FILTER (WHERE s.got IS NOT DISTINCT FROM g.log_time_ns)
         FROM s ASOF LEFT JOIN g ON s.bag_file = g.bag_file AND s.time_ns >= g.log_time_ns",
        root = root.display()
    ));
    assert_eq!(
        asof[0][0], asof[0][1],
        "every tick's gps message is DuckDB's as-of choice"
    );
    assert_eq!(asof[0][0], ros1_ticks[0][0]);
    let columns = duckdb(&format!(
        "SELECT list(column_name ORDER BY column_name) FROM (DESCRIBE SELECT * FROM read_parquet('{}/synchronized/bag_file=drive_0001_raw/*.parquet', hive_partitioning = false))",
        root.display()
    ));
    assert_eq!(
        columns[0][0],
        json!([
            "driver_annotation",
            "gps",
            "imu_raw",
            "post_process_lane_points_rgb_front_right",
            "rgb_right_detections_only",
            "time_ns",
            "vehicle_steering_report"
        ])
    );

    // Scene detections: one row per tick; in-lane objects listed; null
    // before the detector's first message.
    let det = query(
        root,
        "scene_detections",
        "count(*), count(*) FILTER (WHERE objects_in_lane IS NULL), max(num_people_in_lane), sum(len(objects_in_lane))",
        "",
    );
    assert_eq!(det[0][0], ticks[0][0]);
    assert!(
        det[0][1].as_i64().unwrap() >= 3,
        "the first 0.3 s of each drive have no detections"
    );
    assert_eq!(det[0][2].as_i64(), Some(3));
    // The person whose box corner lies exactly on a lane-line vertex
    // (drive 0001, the scene starting at ...76.5 s) is in lane by one corner.
    let corner = duckdb(&format!(
        "SELECT o.class, o.corners_in_lane, len(o.lanes) FROM (SELECT unnest(objects_in_lane) AS o FROM read_parquet('{}/scene_detections/bag_file=drive_0001_raw/*.parquet') WHERE time_ns = 1715679076500000000) WHERE o.class = 'person'",
        root.display()
    ));
    assert_eq!(corner, vec![vec![json!("person"), json!(1), json!(1)]]);

    // Catalogue: every bag DONE, no warnings.
    for (bag, item) in catalog(root) {
        assert_eq!(item["status"]["S"], "DONE", "{bag}");
        assert!(warnings(&item).is_empty(), "{bag}: {:?}", warnings(&item));
    }

    // `bagpipe scenes` lists them.
    let listed = bagpipe()
        .args(["scenes", root.to_str().unwrap(), "--bag", "drive_0002_bz2"])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", show(&listed));
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains("5 scenes"), "{text}");
    assert!(text.contains("2024-05-14 10:26:50.100 UTC"), "{text}");
}

#[test]
fn rerun_replaces_the_scene_set_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let bag = sample_bags().join("drive_0002_bz2.bag");
    let out = run(root, &["--config", &sample_config(), bag.to_str().unwrap()]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(scene_items(root).len(), 5);

    // merge_gap_ms 200 joins the scene split by one missed frame (gap
    // 100 ms); min_scene_ms 1500 then drops the shortest.
    let config = root.join("merge.toml");
    let base = std::fs::read_to_string(sample_config()).unwrap();
    let merged = base.replace(
        "[scenes]\n",
        "[scenes]\nmerge_gap_ms = 200\nmin_scene_ms = 2000\n",
    );
    std::fs::write(&config, merged).unwrap();
    let out = run(
        root,
        &["--config", config.to_str().unwrap(), bag.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", show(&out));
    let got = summary(&scene_items(root));
    let bag_file = "drive_0002_bz2".to_string();
    assert_eq!(
        got,
        [
            (
                bag_file.clone(),
                1715682393800000000,
                1715682395900000000,
                2100.0,
                1,
                1
            ),
            (
                bag_file.clone(),
                1715682398600000000,
                1715682401800000000,
                3200.0,
                1,
                1
            ),
            (
                bag_file.clone(),
                1715682410100000000,
                1715682413100000000,
                3000.0,
                1,
                3
            ),
        ]
    );
    assert_eq!(
        query(root, "scenes", "count(*)", "")[0][0].as_i64(),
        Some(3)
    );

    // A config whose scene topics this bag lacks: no scenes remain, a warning.
    std::fs::write(&config, "[scenes.detections]\ntopic = \"/not/there\"\n").unwrap();
    let out = run(
        root,
        &["--config", config.to_str().unwrap(), bag.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(scene_items(root).is_empty());
    assert!(!root.join("scenes").join("bag_file=drive_0002_bz2").exists());
    assert!(
        !root
            .join("scene_detections")
            .join("bag_file=drive_0002_bz2")
            .exists()
    );
    let item = &catalog(root)["drive_0002_bz2"];
    assert_eq!(item["status"]["S"], "DONE");
    assert!(
        warnings(item).iter().any(|w| w.contains("/not/there")),
        "{:?}",
        warnings(item)
    );
}

#[test]
fn a_bad_field_path_fails_only_that_bag() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let config = root.join("bad.toml");
    let base = std::fs::read_to_string(sample_config()).unwrap();
    std::fs::write(
        &config,
        base.replace(
            "boxes = \"detections.bboxes\"",
            "boxes = \"detections.boxes\"",
        ),
    )
    .unwrap();
    let sample = sample_bags().join("drive_0001_raw.bag");
    let gps = real_bag("gps_navsatfix.bag");
    let out = run(
        root,
        &[
            "--config",
            config.to_str().unwrap(),
            sample.to_str().unwrap(),
            gps.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let cat = catalog(root);
    let failed = &cat["drive_0001_raw"];
    assert_eq!(failed["status"]["S"], "FAILED");
    let error = failed["error"]["S"].as_str().unwrap();
    for needle in ["scenes.detections.boxes", "detections.boxes", "bboxes"] {
        assert!(error.contains(needle), "the error names {needle}: {error}");
    }
    // The topic tables already written stay.
    assert!(
        root.join("topics/gps/bag_file=drive_0001_raw/part-00000.parquet")
            .exists()
    );
    // The other bag completes, with a warning that it has no scene topics.
    assert_eq!(cat["gps_navsatfix"]["status"]["S"], "DONE");
    assert!(
        warnings(&cat["gps_navsatfix"])
            .iter()
            .any(|w| w.contains("no scene detections"))
    );
    assert!(
        root.join("synchronized/bag_file=gps_navsatfix/part-00000.parquet")
            .exists()
    );
}
