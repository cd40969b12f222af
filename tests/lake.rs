//! The lake on disk: layout, DuckDB reading every table with Hive
//! partitioning, exact replacement on re-run, and the schema registry.

use std::path::Path;

use crate::util::*;

/// `part-NNNNN.parquet` and nothing else in a partition.
fn is_part_file(name: &str) -> bool {
    name.len() == "part-00000.parquet".len()
        && name.starts_with("part-")
        && name.ends_with(".parquet")
        && name[5..10].bytes().all(|b| b.is_ascii_digit())
}

/// Every file of the lake is a part file in a `bag_file=` partition of a
/// table, a registry entry, or the local stores.
fn assert_layout(root: &Path) {
    for f in files_under(root) {
        let parts: Vec<&str> = f.split('/').collect();
        match parts.as_slice() {
            ["topics", _table, partition, name] => {
                assert!(partition.starts_with("bag_file="), "{f}");
                assert!(is_part_file(name), "{f} is not a part file");
            }
            [
                "synchronized" | "scene_detections" | "scenes",
                partition,
                name,
            ] => {
                assert!(partition.starts_with("bag_file="), "{f}");
                assert!(is_part_file(name), "{f} is not a part file");
            }
            ["_schemas" | "_catalog", name] => assert!(name.ends_with(".json"), "{f}"),
            ["exports", bag, name] => assert!(
                name.starts_with(&format!("{bag}_PersonInLane_"))
                    && [".mcap", ".openlabel.json", ".xosc"]
                        .iter()
                        .any(|ext| name.ends_with(ext)),
                "{f}"
            ),
            ["reports", name] => assert!(name.ends_with(".html"), "{f}"),
            ["dynamodb", "bags.jsonl" | "scenes.jsonl"] => {}
            _ => panic!("unexpected file in the lake: {f}"),
        }
    }
}

fn table_rows(root: &Path, table: &str, bag: &str) -> i64 {
    let sql = format!(
        "SELECT count(*) FROM read_parquet('{}/topics/{table}/*/*.parquet', hive_partitioning=true, union_by_name=true) WHERE bag_file = '{bag}'",
        root.display()
    );
    duckdb(&sql)[0][0].as_i64().unwrap()
}

#[test]
fn every_real_bag_lands_and_duckdb_reads_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let out = run(root, &[real_bags().to_str().unwrap()]);
    // empty_file.bag and the MCAP whose line endings were converted are
    // not bags: those fail, the others (ROS1 and ROS 2) complete.
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let cat = catalog(root);
    assert_eq!(cat.len(), real_ros1_bags().len() + real_ros2_inputs().len());
    for (bag, item) in &cat {
        let status = item["status"]["S"].as_str().unwrap();
        if bag == "empty_file" || bag == "mcap_crlf_mangled_nonros" {
            assert_eq!(status, "FAILED");
            let error = item["error"]["S"].as_str().unwrap();
            assert!(error.contains("not a ROS bag"), "{error}");
            // Its size is known, and in the item.
            let file = if bag == "empty_file" {
                "empty_file.bag"
            } else {
                "mcap_crlf_mangled_nonros.mcap"
            };
            let size = std::fs::metadata(real_bag(file)).unwrap().len();
            assert_eq!(item["size_bytes"]["N"], size.to_string(), "{item}");
            continue;
        }
        assert_eq!(status, "DONE", "{bag}: {item}");
        // Each extracted topic's rows are in its table, readable by DuckDB.
        for (topic, t) in item["topics"]["M"].as_object().unwrap() {
            let Some(table) = t["M"]["table"]["S"].as_str() else {
                continue;
            };
            let count: i64 = t["M"]["message_count"]["N"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            if count == 0 {
                continue;
            }
            assert_eq!(
                table_rows(root, table, bag),
                count,
                "{bag} {topic} -> {table}"
            );
        }
    }
    assert_layout(root);
    // Typed as the contract says, across every bag: a NavSatFix's status
    // is a struct, covariance a list of doubles, header.stamp ns.
    let sql = format!(
        "SELECT typeof(status), typeof(position_covariance), typeof(header.stamp), typeof(log_time_ns) FROM read_parquet('{}/topics/gps_fix/*/*.parquet', hive_partitioning=true) LIMIT 1",
        root.display()
    );
    assert_eq!(
        duckdb(&sql)[0],
        [
            "STRUCT(status TINYINT, service INTEGER)",
            "DOUBLE[]",
            "BIGINT",
            "BIGINT"
        ]
    );
}

#[test]
fn rerun_replaces_a_bags_partitions_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let bag = real_bag("turtlesim_lz4.bag");
    let first = run(root, &[bag.to_str().unwrap()]);
    assert!(first.status.success(), "{}", show(&first));
    let before = files_under(root);
    let rows_before = table_rows(root, "turtle1_pose", "turtlesim_lz4");
    assert!(rows_before > 0);
    // Leftovers a crashed or older run could leave: a stale part, a
    // temporary file, a partition of a table no longer written.
    let partition = root.join("topics/turtle1_pose/bag_file=turtlesim_lz4");
    std::fs::write(partition.join("part-00007.parquet"), b"stale").unwrap();
    std::fs::write(partition.join(".tmp-1-2-part-00000.parquet"), b"partial").unwrap();
    // A report a killed run was writing (no process has that id: Linux
    // pids stop at 2^22).
    std::fs::write(
        root.join("reports/.tmp-4194305-1-turtlesim_lz4.html"),
        b"partial",
    )
    .unwrap();
    let gone = root.join("topics/old_topic/bag_file=turtlesim_lz4");
    std::fs::create_dir_all(&gone).unwrap();
    std::fs::write(gone.join("part-00000.parquet"), b"old").unwrap();
    // Another bag's partition of the same table is not touched.
    let other = root.join("topics/turtle1_pose/bag_file=other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("part-00000.parquet"), b"other").unwrap();

    let second = run(root, &[bag.to_str().unwrap()]);
    assert!(second.status.success(), "{}", show(&second));
    let mut after = files_under(root);
    after.retain(|f| !f.contains("bag_file=other"));
    assert_eq!(after, before, "a re-run leaves exactly one run's files");
    assert!(other.join("part-00000.parquet").exists());
    std::fs::remove_dir_all(&other).unwrap();
    assert_eq!(
        table_rows(root, "turtle1_pose", "turtlesim_lz4"),
        rows_before
    );

    // Re-run extracting one topic only: the other topics' partitions go.
    let config = root.join("one_topic.toml");
    std::fs::write(&config, "[extract]\ntopics = [\"/turtle1/pose\"]\n").unwrap();
    let third = run(
        root,
        &["--config", config.to_str().unwrap(), bag.to_str().unwrap()],
    );
    assert!(third.status.success(), "{}", show(&third));
    let tables: Vec<String> = files_under(&root.join("topics"))
        .into_iter()
        .filter(|f| f.contains("bag_file=turtlesim_lz4"))
        .collect();
    assert_eq!(
        tables,
        ["turtle1_pose/bag_file=turtlesim_lz4/part-00000.parquet"]
    );
    let item = &catalog(root)["turtlesim_lz4"];
    let topics = item["topics"]["M"].as_object().unwrap();
    assert_eq!(
        topics.len(),
        9,
        "every topic is catalogued, extracted or not"
    );
    assert!(topics["/turtle2/pose"]["M"].get("table").is_none());
    assert_eq!(topics["/turtle1/pose"]["M"]["table"]["S"], "turtle1_pose");
}

#[test]
fn a_changed_definition_goes_to_the_md5_suffixed_table() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // The same recording before and after /imu/mag changed type.
    let newer = real_bag("imu_razor_magneticfield_bz2.bag");
    let older = real_bag("imu_razor_vector3mag_none.bag");
    let out = run(root, &[newer.to_str().unwrap(), older.to_str().unwrap()]);
    assert!(out.status.success(), "{}", show(&out));
    let cat = catalog(root);
    let first = &cat["imu_razor_magneticfield_bz2"]["topics"]["M"]["/imu/mag"]["M"];
    let second = &cat["imu_razor_vector3mag_none"]["topics"]["M"]["/imu/mag"]["M"];
    assert_eq!(first["table"]["S"], "imu_mag");
    let md5 = second["md5sum"]["S"].as_str().unwrap();
    let suffixed = format!("imu_mag__{}", &md5[..8]);
    assert_eq!(second["table"]["S"].as_str().unwrap(), suffixed);
    for table in ["imu_mag", suffixed.as_str()] {
        let reg: serde_json::Value = serde_json::from_slice(
            &std::fs::read(root.join(format!("_schemas/{table}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(reg["table"], table);
        assert!(reg["schema"]["fields"].is_array());
    }
    let reg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("_schemas/imu_mag.json")).unwrap())
            .unwrap();
    assert_eq!(reg["type"], "sensor_msgs/MagneticField");
    assert_eq!(
        table_rows(root, &suffixed, "imu_razor_vector3mag_none"),
        2144
    );
    assert_eq!(
        table_rows(root, "imu_mag", "imu_razor_magneticfield_bz2"),
        2144
    );
    // /imu/data_raw kept its type: one table for both bags.
    assert_eq!(
        cat["imu_razor_vector3mag_none"]["topics"]["M"]["/imu/data_raw"]["M"]["table"]["S"],
        "imu_data_raw"
    );

    // Registrations are permanent and a re-run in the other order agrees.
    let again = run(root, &[older.to_str().unwrap()]);
    assert!(again.status.success(), "{}", show(&again));
    assert_eq!(
        catalog(root)["imu_razor_vector3mag_none"]["topics"]["M"]["/imu/mag"]["M"]["table"]["S"]
            .as_str()
            .unwrap(),
        suffixed
    );
}

#[test]
fn one_topic_with_two_types_and_tables_that_share_an_md5() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // turtlesim's /tf is published as tf/tfMessage; tf2_msgs/TFMessage has
    // the same md5sum, so /tf_static shares the layout but not the table.
    let out = run(root, &[real_bag("turtlesim_none.bag").to_str().unwrap()]);
    assert!(out.status.success(), "{}", show(&out));
    let cat = catalog(root);
    let topics = &cat["turtlesim_none"]["topics"]["M"];
    assert_eq!(topics["/tf"]["M"]["type"]["S"], "tf/tfMessage");
    assert_eq!(topics["/tf"]["M"]["table"]["S"], "tf");
    assert_eq!(topics["/tf_static"]["M"]["table"]["S"], "tf_static");
    let total: u64 = topics
        .as_object()
        .unwrap()
        .values()
        .map(|t| {
            t["M"]["message_count"]["N"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(total, 8647);
    assert_eq!(cat["turtlesim_none"]["message_count"]["N"], "8647");
}

#[test]
fn bags_rosbags_refuses_still_follow_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let bags = [
        real_bag("constants_md5_mismatch.bag"),
        real_bag("empty_message_definition.bag"),
        real_bag("empty_msgs.bag"),
    ];
    let args: Vec<&str> = bags.iter().map(|b| b.to_str().unwrap()).collect();
    let out = run(root, &args);
    assert!(out.status.success(), "{}", show(&out));
    let cat = catalog(root);
    // The md5sum is taken as given, not recomputed: a definition of only
    // constants is a message with no fields, a table of log times only.
    let constants = &cat["constants_md5_mismatch"]["topics"]["M"]["/constants"]["M"];
    assert_eq!(constants["md5sum"]["S"].as_str().unwrap().len(), 32);
    // An empty definition describes 0-byte messages exactly: kept, no columns.
    for (table, bag, rows) in [
        ("constants", "constants_md5_mismatch", 1),
        ("led_array_status", "empty_message_definition", 14),
        ("empty", "empty_msgs", 10),
    ] {
        let file = root.join(format!("topics/{table}/bag_file={bag}/part-00000.parquet"));
        let sql = format!("SELECT count(*) FROM read_parquet('{}')", file.display());
        assert_eq!(duckdb(&sql)[0][0].as_i64(), Some(rows), "{table}");
        let sql = format!(
            "SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet('{}', hive_partitioning = false))",
            file.display()
        );
        assert_eq!(
            duckdb(&sql),
            vec![vec![serde_json::json!("log_time_ns")]],
            "{table}"
        );
        assert!(
            data_warnings(&cat[bag]).is_empty(),
            "{bag}: {:?}",
            warnings(&cat[bag])
        );
    }
}
