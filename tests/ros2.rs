//! ROS 2 input end to end: every ROS 2 file in `../shared/bags/real` and
//! every bag `tests/parity/ros2_bags.py` writes with independent writers
//! (Python `rosbags` and `mcap`) equals what `rosbags` decodes, value for
//! value (`tests/parity/rosbags_parity.py`); the files `rosbags` cannot
//! read end as the contract says; the same drive recorded as ROS1 and as
//! ROS 2 gives equal values and scenes; the registry's rule across
//! generations; `msg_paths`; a WAL-mode database read in place.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::*;

/// Runs the parity checker over `inputs` of the lake at `root`.
fn parity(root: &Path, inputs: &[PathBuf], extra: &[&str]) -> String {
    let checked = python()
        .arg("tests/parity/rosbags_parity.py")
        .arg("--lake")
        .arg(root)
        .args(extra)
        .args(inputs)
        .output()
        .expect("python3 runs (pip install -r tests/requirements.txt)");
    assert!(
        checked.status.success(),
        "parity failed:\n{}",
        show(&checked)
    );
    String::from_utf8_lossy(&checked.stdout).into_owned()
}

fn args(inputs: &[PathBuf]) -> Vec<&str> {
    inputs.iter().map(|p| p.to_str().unwrap()).collect()
}

/// The catalogue entry of a topic.
fn topic<'a>(item: &'a Value, name: &str) -> &'a Value {
    &item["topics"]["M"][name]["M"]
}

#[test]
fn every_real_ros2_file_matches_rosbags_or_ends_as_the_contract_says() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let inputs = real_ros2_inputs();
    assert_eq!(inputs.len(), 21, "{inputs:?}");
    let out = run(root, &args(&inputs));
    // The CRLF-mangled MCAP fails; every other bag completes.
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let report = parity(root, &inputs, &[]);
    assert!(
        report.contains("parity: 16 ok, 0 failed, 5 skipped"),
        "{report}"
    );

    let cat = catalog(root);
    for (bag, item) in &cat {
        let status = item["status"]["S"].as_str().unwrap();
        assert_eq!(
            status == "FAILED",
            bag == "mcap_crlf_mangled_nonros",
            "{bag}: {item}"
        );
        // Computed type hashes equal the recorded ones (nav2's three types,
        // the service events, every Iron+ file): no mismatch warning.
        for w in warnings(item) {
            assert!(!w.contains("recorded type hash"), "{bag}: {w}");
        }
    }
    let crlf = &cat["mcap_crlf_mangled_nonros"];
    let error = crlf["error"]["S"].as_str().unwrap();
    assert!(
        error.contains("89 4D 43 41 50 30 0A 01") && error.contains("line-ending"),
        "{error}"
    );
    // What rosbags cannot read: counted, not decoded, a warning naming the
    // encoding per topic, DONE with no rows.
    for (bag, topic_name, what) in [
        (
            "mcap_conformance_unchunked_nosummary",
            "example",
            "message encoding 'a'",
        ),
        (
            "mcap_conformance_allfeatures",
            "example",
            "message encoding 'a'",
        ),
        (
            "mcap_conformance_stats_summary",
            "example",
            "message encoding 'a'",
        ),
        (
            "mcap_schema_encoding_cdr",
            "/example",
            "schema encoding 'cdr'",
        ),
        (
            "rosbag2_wrong_serialization_mcap",
            "/test_topic",
            "message encoding 'wrong_format'",
        ),
    ] {
        let item = &cat[bag];
        let t = topic(item, topic_name);
        assert!(t["table"].is_null(), "{bag}: {item}");
        assert_ne!(t["message_count"]["N"], "0", "{bag}");
        let w = data_warnings(item);
        assert!(
            w.iter().any(|w| w.contains(topic_name) && w.contains(what)),
            "{bag}: {w:?}"
        );
    }
    // The summary without channels: scanned, no error.
    assert!(
        data_warnings(&cat["mcap_conformance_stats_summary"])
            .iter()
            .any(|w| w.contains("recovered by scanning"))
    );
    // talker.db3 embeds a stub Log: its 10 messages are skipped, one
    // warning, and no table is registered for /rosout.
    let talker = &cat["rosbag2_talker_sqlite3"];
    assert!(topic(talker, "/rosout")["table"].is_null());
    assert!(
        !root.join("_schemas/rosout.json").exists() || {
            // Another bag of the run (talker_mcap) registers rosout.
            topic(&cat["rosbag2_talker_mcap"], "/rosout")["table"]["S"] == "rosout"
        }
    );
    assert!(
        data_warnings(talker)
            .iter()
            .any(|w| w.contains("/rosout") && w.contains("10 messages skipped"))
    );
    // The catalogue's ROS 2 fields.
    let nav2 = &cat["nav2_turtlebot_zstd"];
    assert_eq!(nav2["format"]["S"], "mcap");
    let odom = topic(nav2, "/odom");
    assert_eq!(odom["type"]["S"], "nav_msgs/msg/Odometry");
    assert!(odom["md5sum"].is_null());
    assert_eq!(
        odom["type_hash"]["S"],
        "RIHS01_3cc97dc7fb7502f8714462c526d369e35b603cfc34d946e3f2eda2766dfec6e0"
    );
    assert_eq!(odom["definition_source"]["S"], "embedded");
    let autoware = &cat["autoware_ego_odometry_humble"];
    assert_eq!(autoware["format"]["S"], "sqlite3");
    assert_eq!(autoware["ros_distro"]["S"], "humble");
    let state = topic(autoware, "/localization/kinematic_state");
    assert_eq!(state["definition_source"]["S"], "builtin");
    // A Humble db3 (built-in Odometry) and a Jazzy MCAP share a table.
    assert_eq!(state["type_hash"], odom["type_hash"]);
    let split = &cat["rosbag2_split_5files_mcap"];
    let files = split["storage_files"]["L"].as_array().unwrap();
    assert_eq!(files.len(), 5);
    let total: u64 = files
        .iter()
        .map(|f| {
            f["M"]["size_bytes"]["N"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(split["size_bytes"]["N"], total.to_string());
    // metadata.yaml says 2623 + 411; the storage files say 1000 to 2998.
    assert_eq!(split["start_time_ns"]["N"], "1000");
    assert_eq!(split["end_time_ns"]["N"], "2998");
    // The empty bag: DONE, no partitions, topics with count 0.
    let empty = &cat["rosbag2_empty_bag_sqlite3"];
    assert_eq!(empty["status"]["S"], "DONE");
    assert!(
        data_warnings(empty)
            .iter()
            .any(|w| w.contains("no messages"))
    );
    assert!(empty["start_time_ns"].is_null());
    assert!(
        !files_under(root)
            .iter()
            .any(|f| f.contains("bag_file=rosbag2_empty_bag_sqlite3"))
    );
}

#[test]
fn bags_written_by_independent_writers_match_rosbags() {
    let dir = tempfile::tempdir().unwrap();
    let inputs_dir = dir.path().join("in");
    let written = python()
        .arg("tests/parity/ros2_bags.py")
        .arg(&inputs_dir)
        .output()
        .unwrap();
    assert!(written.status.success(), "{}", show(&written));
    let inputs: Vec<PathBuf> = String::from_utf8_lossy(&written.stdout)
        .lines()
        .filter_map(|l| l.split('\t').next())
        .map(|p| inputs_dir.join(p.trim_end_matches('/')))
        .collect();
    assert!(inputs.len() >= 20, "{inputs:?}");
    let lake = dir.path().join("lake");
    let out = run(&lake, &args(&inputs));
    assert!(out.status.success(), "{}", show(&out));
    // The same corpus cut into one-chunk work items, two workers at once:
    // the lake of the single run (issue 14).
    let sliced = dir.path().join("sliced");
    let mut sliced_args = vec!["--workers", "2", "--item-bytes", "1"];
    sliced_args.extend(args(&inputs));
    let out = run(&sliced, &sliced_args);
    assert!(out.status.success(), "{}", show(&out));
    crate::workers::assert_same_lake(&sliced, &lake, "the ROS 2 corpus in work items");
    let report = parity(&lake, &inputs, &[]);
    assert!(
        report.contains(&format!("parity: {} ok, 0 failed, 0 skipped", inputs.len())),
        "{report}"
    );
    // rosbags records its own hash for types with `char`; bagpipe's follows
    // rosidl and says so.
    let cat = catalog(&lake);
    assert!(
        data_warnings(&cat["ros2_db3"])
            .iter()
            .any(|w| w.contains("/probe") && w.contains("recorded type hash"))
    );
}

/// `SELECT <select> FROM <topic table> WHERE bag_file = <bag> ORDER BY log_time_ns`.
fn rows(root: &Path, table: &str, bag: &str, select: &str) -> Vec<Vec<Value>> {
    duckdb(&format!(
        "SELECT {select} FROM read_parquet('{}/topics/{table}/*/*.parquet', hive_partitioning = true, union_by_name = true) WHERE bag_file = '{bag}' ORDER BY log_time_ns",
        root.display()
    ))
}

/// The table a bag's topic went to.
fn table_of(root: &Path, bag: &str, name: &str) -> String {
    let cat = catalog(root);
    topic(&cat[bag], name)["table"]["S"]
        .as_str()
        .unwrap_or_else(|| panic!("{bag} {name} has no table"))
        .to_string()
}

#[test]
fn the_same_drive_as_ros1_and_ros2_gives_equal_values_and_scenes() {
    let lake = sample_lake();
    let root = lake.path();
    let (ros1, ros2) = ("drive_0001_raw", "drive_0004_ros2");
    // Every topic, every field but ROS1's header.seq, every message.
    for (name, select) in [
        (
            "/gps",
            "log_time_ns, header.stamp, header.frame_id, status, latitude, longitude, altitude, position_covariance, position_covariance_type",
        ),
        (
            "/imu_raw",
            "log_time_ns, header.stamp, orientation, angular_velocity, linear_acceleration_covariance",
        ),
        (
            "/vehicle/steering_report",
            "log_time_ns, header.stamp, steering_wheel_angle, speed, enabled, fault_power",
        ),
        (
            "/rgb_right_detections_only",
            "log_time_ns, header.stamp, image_header.stamp, model_name, frame_number, inference_time, detections",
        ),
        (
            "/post_process/lane_points/rgb_front_right",
            "log_time_ns, header.stamp, lanes",
        ),
        ("/driver/annotation", "log_time_ns, data"),
    ] {
        let a = rows(root, &table_of(root, ros1, name), ros1, select);
        let b = rows(root, &table_of(root, ros2, name), ros2, select);
        assert!(!a.is_empty(), "{name}");
        assert_eq!(a, b, "{name}");
    }
    // ROS1 headers have a seq; the ROS 2 type is another layout, in its
    // hash-suffixed table, and std_msgs/String shares one table.
    assert_eq!(table_of(root, ros1, "/gps"), "gps");
    assert!(table_of(root, ros2, "/gps").starts_with("gps__"));
    assert_eq!(
        table_of(root, ros2, "/driver/annotation"),
        "driver_annotation"
    );
    // The same scenes (ids carry the bag_file).
    let scenes = |bag: &str| {
        duckdb(&format!(
            "SELECT start_time_ns, end_time_ns, num_people_in_scene_start, max_people_in_lane FROM read_parquet('{}/scenes/*/*.parquet', hive_partitioning = true) WHERE bag_file = '{bag}' ORDER BY 1",
            root.display()
        ))
    };
    assert_eq!(scenes(ros1).len(), 4);
    assert_eq!(scenes(ros1), scenes(ros2));
    let detections = |bag: &str| {
        duckdb(&format!(
            "SELECT time_ns, num_people_in_lane, objects_in_lane FROM read_parquet('{}/scene_detections/*/*.parquet', hive_partitioning = true) WHERE bag_file = '{bag}' ORDER BY 1",
            root.display()
        ))
    };
    assert_eq!(detections(ros1), detections(ros2));
}

#[test]
fn the_evo_pair_shares_stamps_and_the_registry_keeps_generations_apart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // ROS1 first: it registers tf; the ROS 2 TFMessage (no header.seq)
    // goes to its hash-suffixed table.
    let ros1 = real_bag("evo_tf_lz4.bag");
    let ros2 = real_bag("evo_tf_example_db3");
    let out = run(root, &[ros1.to_str().unwrap(), ros2.to_str().unwrap()]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(table_of(root, "evo_tf_lz4", "/tf"), "tf");
    assert_eq!(table_of(root, "evo_tf_example_db3", "/tf"), "tf__e369d0f0");
    assert_eq!(
        table_of(root, "evo_tf_example_db3", "/tf_static"),
        "tf_static__e369d0f0"
    );
    let registered: Value =
        serde_json::from_slice(&std::fs::read(root.join("_schemas/tf__e369d0f0.json")).unwrap())
            .unwrap();
    assert_eq!(registered["type"], "tf2_msgs/msg/TFMessage");
    assert!(
        registered["type_hash"]
            .as_str()
            .unwrap()
            .starts_with("RIHS01_e369d0f0")
    );
    assert!(registered.get("md5sum").is_none());
    let tf = |table: &str, bag: &str| {
        rows(
            root,
            table,
            bag,
            "log_time_ns, [(t.header.stamp, t.header.frame_id, t.child_frame_id, t.transform) FOR t IN transforms]",
        )
    };
    let a = tf("tf", "evo_tf_lz4");
    assert_eq!(a.len(), 517);
    assert_eq!(a, tf("tf__e369d0f0", "evo_tf_example_db3"));
    let seq = duckdb(&format!(
        "SELECT count(*) FROM (DESCRIBE SELECT transforms[1].header.seq FROM read_parquet('{}/topics/tf/*/*.parquet'))",
        root.display()
    ));
    assert_eq!(seq[0][0], 1, "the ROS1 header keeps its seq");
}

#[test]
fn string_types_of_both_generations_share_a_table() {
    use extractor::testing::BagBuilder;
    let dir = tempfile::tempdir().unwrap();
    // A ROS1 /chatter of std_msgs/String, then the real ROS 2 chatter.
    let mut b = BagBuilder::new().connection(
        0,
        "/chatter",
        "std_msgs/String",
        "992ce8a1687cec8c8bd883ec73ca41d1",
        "string data\n",
    );
    for i in 0..3u64 {
        let text = format!("ros1 {i}");
        let mut m = (text.len() as u32).to_le_bytes().to_vec();
        m.extend_from_slice(text.as_bytes());
        b = b.message(0, 1_000_000_000 + i, &m);
    }
    let bag = dir.path().join("ros1_chatter.bag");
    std::fs::write(&bag, b.build()).unwrap();
    let lake = dir.path().join("lake");
    let db3 = real_bag("chatter_no_msgdefs.db3");
    let out = run(&lake, &[bag.to_str().unwrap(), db3.to_str().unwrap()]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(table_of(&lake, "ros1_chatter", "/chatter"), "chatter");
    assert_eq!(table_of(&lake, "chatter_no_msgdefs", "/chatter"), "chatter");
    let n = duckdb(&format!(
        "SELECT bag_file, count(*) FROM read_parquet('{}/topics/chatter/*/*.parquet', hive_partitioning = true) GROUP BY 1 ORDER BY 1",
        lake.display()
    ));
    assert_eq!(
        n,
        [
            vec![Value::from("chatter_no_msgdefs"), Value::from(7)],
            vec![Value::from("ros1_chatter"), Value::from(3)]
        ]
    );
}

#[test]
fn msg_paths_supply_a_definition_the_bag_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let bag = real_bag("fiducial_transforms_no_msgdefs.db3");
    // The second definition has one more float64 per transform than the
    // bytes hold. (A `bool detected` after `fiducial_id` would not do: it
    // lands in the padding before the 8-aligned transform, and decodes.)
    let write_defs = |root: &Path, wrong: bool| {
        let pkg = root.join("fiducial_msgs/msg");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(
            pkg.join("FiducialTransformArray.msg"),
            "std_msgs/Header header\nint32 image_seq\nFiducialTransform[] transforms\n",
        )
        .unwrap();
        let extra = if wrong { "float64 extra\n" } else { "" };
        std::fs::write(
            pkg.join("FiducialTransform.msg"),
            format!(
                "int32 fiducial_id\ngeometry_msgs/Transform transform\nfloat64 image_error\nfloat64 object_error\nfloat64 fiducial_area\n{extra}"
            ),
        )
        .unwrap();
    };
    for (wrong, rows_expected) in [(false, 1), (true, 0)] {
        let case = dir.path().join(format!("case_{wrong}"));
        write_defs(&case.join("defs"), wrong);
        // msg_paths are relative to the configuration file.
        std::fs::write(
            case.join("bagpipe.toml"),
            "[extract]\nmsg_paths = [\"defs\"]\n",
        )
        .unwrap();
        let lake = case.join("lake");
        let out = run(
            &lake,
            &[
                "--config",
                case.join("bagpipe.toml").to_str().unwrap(),
                bag.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", show(&out));
        let cat = catalog(&lake);
        let item = &cat["fiducial_transforms_no_msgdefs"];
        let t = topic(item, "/fiducial_transforms");
        assert_eq!(t["definition_source"]["S"], "msg_paths");
        if rows_expected == 1 {
            let r = rows(
                &lake,
                "fiducial_transforms",
                "fiducial_transforms_no_msgdefs",
                "header.frame_id, image_seq, len(transforms)",
            );
            assert_eq!(
                r,
                [vec![
                    Value::from("raspicam"),
                    Value::from(4957),
                    Value::from(7)
                ]]
            );
        } else {
            // The wrong definition: the message does not decode to its
            // length, skipped alone, with a warning.
            assert!(t["table"].is_null());
            assert!(
                data_warnings(item)
                    .iter()
                    .any(|w| w.contains("/fiducial_transforms") && w.contains("1 messages skipped")),
                "{item}"
            );
        }
    }
}

#[test]
fn a_wal_mode_database_is_read_in_place_and_nothing_is_written_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let bag = dir.path().join("rosbag2_talker_sqlite3");
    std::fs::create_dir(&bag).unwrap();
    let real = real_bag("rosbag2_talker_sqlite3");
    for name in ["metadata.yaml", "talker.db3"] {
        std::fs::copy(real.join(name), bag.join(name)).unwrap();
    }
    let db = std::fs::read(bag.join("talker.db3")).unwrap();
    assert_eq!(db[18], 2, "the file is in WAL mode");
    let before = files_under(&bag);
    let out = run(&dir.path().join("lake"), &[bag.to_str().unwrap()]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(files_under(&bag), before, "no -wal or -shm file appeared");
    assert_eq!(std::fs::read(bag.join("talker.db3")).unwrap(), db);
}

#[test]
fn inspect_shows_ros2_bags() {
    let show_bag = |bag: &Path| {
        let out = bagpipe().arg("inspect").arg(bag).output().unwrap();
        assert!(out.status.success(), "{}", show(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let nav2 = show_bag(&real_bag("nav2_turtlebot_zstd.mcap"));
    assert!(
        nav2.contains("format:      MCAP (profile \"ros2\""),
        "{nav2}"
    );
    assert!(nav2.contains("zstd [1/1 chunks]"), "{nav2}");
    assert!(nav2.contains("messages:    8197"), "{nav2}");
    assert!(
        nav2.contains("/odom") && nav2.contains("2639 msgs  nav_msgs/msg/Odometry"),
        "{nav2}"
    );
    let split = show_bag(&real_bag("rosbag2_split_5files_mcap"));
    assert!(split.contains("storage:     5 files"), "{split}");
    assert!(split.contains("messages:    6074"), "{split}");
    let db3 = show_bag(&real_bag("autoware_ego_odometry_humble.db3"));
    assert!(db3.contains("format:      rosbag2 sqlite3"), "{db3}");
    assert!(db3.contains("ros_distro:  humble"), "{db3}");
    assert!(db3.contains("2130 msgs"), "{db3}");
    let zstd = show_bag(&real_bag("rosbag2_file_compressed.db3.zstd"));
    assert!(zstd.contains("messages:    249"), "{zstd}");
    let mangled = bagpipe()
        .arg("inspect")
        .arg(real_bag("mcap_crlf_mangled_nonros.mcap"))
        .output()
        .unwrap();
    assert_eq!(mangled.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&mangled.stderr).contains("line-ending"));
}
