//! Athena without a crawler: the DDL `bagpipe athena-ddl` prints matches
//! the Parquet schemas of the lake (checked against an independent pyarrow
//! mapping), and a run with `--glue-database` registers its tables and
//! partitions in the Glue Data Catalog of a real moto server, adding the
//! columns a later bag brings and dropping none.

use std::collections::BTreeMap;

use bagpipe_test_harness::aws_env;
#[cfg(feature = "aws")]
use bagpipe_test_harness::{create_bucket, moto, put_object, unique};
#[cfg(feature = "aws")]
use serde_json::Value;

#[cfg(feature = "aws")]
use crate::util::sample_bags;
use crate::util::{bagpipe, python, sample_lake, show};

/// A table of the DDL: its columns, location and partitions.
#[derive(Debug, Default, PartialEq)]
struct Ddl {
    columns: Vec<(String, String)>,
    partitioned_by: String,
    location: String,
    partitions: BTreeMap<String, String>,
}

/// Parses what `athena-ddl` prints.
fn parse_ddl(text: &str) -> BTreeMap<String, Ddl> {
    let mut tables: BTreeMap<String, Ddl> = BTreeMap::new();
    let mut current: Option<String> = None;
    let unquote = |s: &str| s.trim().trim_matches('`').to_string();
    let literal = |s: &str| {
        s.trim()
            .trim_end_matches(';')
            .trim_matches('\'')
            .to_string()
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("CREATE EXTERNAL TABLE IF NOT EXISTS ") {
            let name = unquote(rest.trim_end_matches('('));
            tables.insert(name.clone(), Ddl::default());
            current = Some(name);
        } else if let Some(col) = line.strip_prefix("  ") {
            let (name, ty) = col.trim_end_matches(',').split_once(' ').unwrap();
            let t = tables.get_mut(current.as_ref().unwrap()).unwrap();
            t.columns.push((unquote(name), ty.to_string()));
        } else if let Some(rest) = line.strip_prefix("PARTITIONED BY ") {
            tables
                .get_mut(current.as_ref().unwrap())
                .unwrap()
                .partitioned_by = rest.to_string();
        } else if let Some(rest) = line.strip_prefix("LOCATION ") {
            tables.get_mut(current.as_ref().unwrap()).unwrap().location = literal(rest);
        } else if let Some(rest) = line.strip_prefix("ALTER TABLE ") {
            let (name, rest) = rest.split_once(' ').unwrap();
            let (_, rest) = rest.split_once("PARTITION (bag_file=").unwrap();
            let (bag, location) = rest.split_once(") LOCATION ").unwrap();
            tables
                .get_mut(&unquote(name))
                .unwrap()
                .partitions
                .insert(literal(bag), literal(location));
        }
    }
    tables
}

/// A table directory of a local lake.
fn dir_of(root: &str, dir: &str) -> std::path::PathBuf {
    std::path::Path::new(root).join(dir)
}

/// `bagpipe athena-ddl ARGS`, with the AWS environment of `endpoint` if any.
fn athena_ddl(endpoint: Option<&str>, args: &[&str]) -> String {
    let out = bagpipe()
        .envs(endpoint.map(aws_env).unwrap_or_default())
        .arg("athena-ddl")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn athena_ddl_matches_the_parquet_schemas_of_the_sample_lake() {
    let dir = sample_lake();
    let root = dir.path().to_str().unwrap();
    let tables = parse_ddl(&athena_ddl(
        None,
        &[root, "--location", "s3://lake/drives/"],
    ));

    let reference = python()
        .args(["tests/python/hive_schema.py", root])
        .output()
        .unwrap();
    assert!(reference.status.success(), "{}", show(&reference));
    let reference: BTreeMap<String, Vec<(String, String)>> =
        serde_json::from_slice(&reference.stdout).unwrap();
    assert_eq!(
        tables.keys().collect::<Vec<_>>(),
        reference.keys().collect::<Vec<_>>()
    );
    for (name, t) in &tables {
        assert_eq!(t.columns, reference[name], "columns of {name}");
        assert_eq!(t.partitioned_by, "(`bag_file` string)");
        let dir = if ["synchronized", "scene_detections", "scenes"].contains(&name.as_str()) {
            name.clone()
        } else {
            format!("topics/{name}")
        };
        assert_eq!(t.location, format!("s3://lake/drives/{dir}/"));
        // One partition per bag that wrote rows to the table: the ROS1
        // drives, and the ROS 2 one where its type shares the table
        // (std_msgs/String, the tables it alone writes).
        let bags: Vec<_> = t.partitions.keys().cloned().collect();
        let mut on_disk: Vec<String> = std::fs::read_dir(dir_of(root, &dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|n| n.strip_prefix("bag_file=").map(str::to_string))
            .collect();
        on_disk.sort();
        assert_eq!(bags, on_disk, "{name}");
        assert!(!bags.is_empty(), "{name}");
        for (bag, location) in &t.partitions {
            assert_eq!(location, &format!("s3://lake/drives/{dir}/bag_file={bag}/"));
        }
    }
    // The kinds of column the contract names, as Athena spells them.
    let gps = &tables["gps"].columns;
    assert!(gps.contains(&(
        "header".into(),
        "struct<seq:bigint,stamp:bigint,frame_id:string>".into()
    )));
    assert!(gps.contains(&("position_covariance".into(), "array<double>".into())));
    // The ROS 2 drive's NavSatFix (no header.seq) has a table of its own,
    // keyed by its type hash; std_msgs/String is one layout in both
    // generations, so the ROS 2 drive's notes share the table.
    let (_, ros2_gps) = tables
        .iter()
        .find(|(name, _)| name.starts_with("gps__"))
        .expect("a hash-suffixed gps table");
    assert!(ros2_gps.columns.contains(&(
        "header".into(),
        "struct<stamp:bigint,frame_id:string>".into()
    )));
    assert_eq!(
        tables["driver_annotation"]
            .partitions
            .keys()
            .collect::<Vec<_>>(),
        [
            "drive_0001_raw",
            "drive_0002_bz2",
            "drive_0003_lz4",
            "drive_0004_ros2"
        ]
    );
    assert!(
        tables["scenes"]
            .columns
            .contains(&("topics_analyzed".into(), "array<string>".into()))
    );
}

/// The Glue tables of `database`, as `tests/python/glue.py dump` prints them.
#[cfg(feature = "aws")]
fn glue_tables(endpoint: &str, database: &str) -> BTreeMap<String, Value> {
    let out = python()
        .envs(aws_env(endpoint))
        .args(["tests/python/glue.py", "dump", database])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[cfg(feature = "aws")]
#[test]
fn a_run_registers_its_tables_in_glue_and_a_later_bag_adds_columns() {
    let endpoint = moto().endpoint.clone();
    let (ingest, lake, database) = (unique("ingest"), unique("lake"), unique("db"));
    create_bucket(&endpoint, &ingest);
    create_bucket(&endpoint, &lake);
    for name in ["drive_0001_raw.bag", "drive_0002_bz2.bag"] {
        let bytes = std::fs::read(sample_bags().join(name)).unwrap();
        put_object(&endpoint, &ingest, &format!("drives/{name}"), &bytes);
    }
    let created = python()
        .envs(aws_env(&endpoint))
        .args(["tests/python/glue.py", "create-db", &database])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", show(&created));
    let dir = tempfile::tempdir().unwrap();
    let run_bag = |config: &std::path::Path, bag: &str| {
        let out = bagpipe()
            .envs(aws_env(&endpoint))
            .args(["run", "--quiet", "--config"])
            .arg(config)
            .args([
                "--out",
                &format!("s3://{lake}/lake"),
                "--glue-database",
                &database,
            ])
            .arg(format!("s3://{ingest}/drives/{bag}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
    };

    // The first bag with two topics only: three tables.
    let narrow = dir.path().join("narrow.toml");
    std::fs::write(&narrow, "[extract]\ntopics = [\"/imu_raw\", \"/gps\"]\n").unwrap();
    run_bag(&narrow, "drive_0001_raw.bag");
    let first = glue_tables(&endpoint, &database);
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        ["gps", "imu_raw", "synchronized"]
    );
    let names = |t: &Value| -> Vec<String> {
        t["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c[0].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&first["synchronized"]), ["time_ns", "imu_raw", "gps"]);
    for t in first.values() {
        assert_eq!(
            t["partition_keys"],
            serde_json::json!([["bag_file", "string"]])
        );
        assert_eq!(
            t["serde"],
            "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
        );
    }
    assert_eq!(
        first["imu_raw"]["partitions"]["drive_0001_raw"],
        format!("s3://{lake}/lake/topics/imu_raw/bag_file=drive_0001_raw/")
    );

    // The second bag with every topic: the tables it brings are created,
    // the synchronized table gains columns at the end and loses none, and
    // no table is created twice.
    run_bag(&sample_bags().join("bagpipe.toml"), "drive_0002_bz2.bag");
    let second = glue_tables(&endpoint, &database);
    assert_eq!(second.len(), 9, "{:?}", second.keys().collect::<Vec<_>>());
    let sync = names(&second["synchronized"]);
    assert_eq!(sync[..3], ["time_ns", "imu_raw", "gps"]);
    assert!(sync.len() > 3, "{sync:?}");
    assert_eq!(
        second["synchronized"]["created"],
        first["synchronized"]["created"]
    );
    let parts = |t: &Value| {
        t["partitions"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        parts(&second["imu_raw"]),
        ["drive_0001_raw", "drive_0002_bz2"]
    );
    assert_eq!(parts(&second["scenes"]), ["drive_0002_bz2"]);

    // Glue holds exactly what the DDL of the same lake says.
    let ddl = parse_ddl(&athena_ddl(
        Some(&endpoint),
        &[&format!("s3://{lake}/lake")],
    ));
    for (name, t) in &second {
        let columns: Vec<(String, String)> = t["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c[0].as_str().unwrap().into(), c[1].as_str().unwrap().into()))
            .collect();
        assert_eq!(columns, ddl[name].columns, "{name}");
        assert_eq!(t["location"], ddl[name].location.as_str());
    }
}
