//! The CLI against S3 and DynamoDB served by a real moto server on
//! loopback (started by the test harness): bags read from S3 by range, the
//! lake written to S3, records in DynamoDB. The Parquet must be byte for
//! byte that of a local run; re-runs idempotent; the catalogue's conflict
//! rule a conditional write; injected S3 and DynamoDB faults retried with
//! nothing lost.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use bagpipe_test_harness::{
    Fault, FaultPlan, FaultProxy, aws_env, create_bucket, create_table, get_object, list_objects,
    moto, put_object, scan_table, unique,
};
use serde_json::Value;

use crate::crash::{KILLS, KillPoints, run_and_kill};
use crate::util::{
    bagpipe, files_under, items_by_key, python, run, sample_bags, sample_lake, show, store_items,
};

/// The sample bags: three ROS1 files and a rosbag2 directory.
const SAMPLES: [&str; 4] = [
    "drive_0001_raw.bag",
    "drive_0002_bz2.bag",
    "drive_0003_lz4.bag",
    "drive_0004_ros2",
];

/// Buckets and tables of one test, on the shared moto server.
struct Aws {
    endpoint: String,
    ingest: String,
    lake: String,
    scenes: String,
    bags: String,
}

impl Aws {
    /// Fresh buckets and tables, the sample bags uploaded under `drives/`.
    fn new() -> Aws {
        let endpoint = moto().endpoint.clone();
        let aws = Aws {
            ingest: unique("ingest"),
            lake: unique("lake"),
            scenes: unique("scenes"),
            bags: unique("bags"),
            endpoint,
        };
        create_bucket(&aws.endpoint, &aws.ingest);
        create_bucket(&aws.endpoint, &aws.lake);
        create_table(&aws.endpoint, &aws.scenes, "bag_file", Some("scene_id"));
        create_table(&aws.endpoint, &aws.bags, "bag_file", None);
        for name in SAMPLES {
            let path = sample_bags().join(name);
            // A rosbag2 directory goes up as its files, metadata.yaml last.
            let mut files: Vec<(String, std::path::PathBuf)> = if path.is_dir() {
                let mut inside: Vec<_> = std::fs::read_dir(&path)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .map(|p| {
                        (
                            format!("drives/{name}/{}", p.file_name().unwrap().to_string_lossy()),
                            p,
                        )
                    })
                    .collect();
                inside.sort_by_key(|(key, _)| key.ends_with("metadata.yaml"));
                inside
            } else {
                vec![(format!("drives/{name}"), path)]
            };
            for (key, file) in files.drain(..) {
                put_object(
                    &aws.endpoint,
                    &aws.ingest,
                    &key,
                    &std::fs::read(file).unwrap(),
                );
            }
        }
        aws
    }

    /// `bagpipe run` on `inputs` into `s3://<lake>/<prefix>`, through
    /// `endpoint` (moto, or a fault proxy in front of it).
    fn run(&self, endpoint: &str, prefix: &str, inputs: &[String]) -> Output {
        self.command(endpoint, prefix, inputs)
            .output()
            .expect("bagpipe runs")
    }

    /// The command [`Aws::run`] runs.
    fn command(&self, endpoint: &str, prefix: &str, inputs: &[String]) -> Command {
        let mut cmd = bagpipe();
        cmd.envs(aws_env(endpoint))
            .env("BAGPIPE_LOG", "warn")
            .args(["run", "--quiet", "--config"])
            .arg(sample_bags().join("bagpipe.toml"))
            .arg("--out")
            .arg(format!("s3://{}/{prefix}", self.lake))
            .args(["--scenes-table", &self.scenes, "--bags-table", &self.bags])
            .args(inputs);
        cmd
    }

    /// Every object under `prefix/` of the lake bucket: relative key → bytes.
    fn lake_files(&self, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        list_objects(&self.endpoint, &self.lake, &format!("{prefix}/"))
            .into_iter()
            .map(|(key, _)| {
                let bytes = get_object(&self.endpoint, &self.lake, &key).unwrap();
                (key[prefix.len() + 1..].to_string(), bytes)
            })
            .collect()
    }

    /// A table's items by key, without the attributes that name where
    /// things are or when they were written.
    fn items(&self, table: &str) -> BTreeMap<String, Value> {
        items_by_key(scan_table(&self.endpoint, table), &PLACE_AND_TIME)
    }

    /// The catalogue item of each sample bag, by bag: one each, no other.
    fn bag_records(&self) -> BTreeMap<String, Value> {
        let items = self.items(&self.bags);
        let expected: Vec<String> = SAMPLES
            .iter()
            .map(|name| format!("{}/", name.trim_end_matches(".bag")))
            .collect();
        assert_eq!(
            items.keys().cloned().collect::<Vec<_>>(),
            expected,
            "one catalogue item per bag: {items:#?}"
        );
        items
    }
}

/// The files of a local lake but its local record stores: path → bytes.
fn local_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(root)
        .into_iter()
        .filter(|f| !f.starts_with("dynamodb/"))
        .map(|f| {
            let bytes = std::fs::read(root.join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

/// Attributes that differ between a local and an S3 run by design (where
/// the source and outputs are) or between any two runs (the time, the run).
const PLACE_AND_TIME: [&str; 10] = [
    "source_url",
    "updated_at",
    "run_id",
    "bag_file_bucket",
    "bag_file_prefix",
    "synchronized_path",
    "detections_path",
    "clip_url",
    "label_url",
    "report_url",
];

/// The sample bags run locally: the reference for every S3 run.
fn local_reference() -> tempfile::TempDir {
    sample_lake()
}

/// Checks that the S3 lake under `prefix` holds exactly the local
/// reference's Parquet bytes and registry, and DynamoDB its records.
fn assert_same_as_local(aws: &Aws, prefix: &str, local: &Path) {
    let remote = aws.lake_files(prefix);
    let reference = local_files(local);
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&remote), names(&reference), "the same files");
    for (name, bytes) in &reference {
        // The scenes table names where the bag and the outputs are
        // (bucket, key, partition URLs): that differs by design; its other
        // columns are the scene items compared below.
        // A report names the bag's source URL, which differs by design.
        if name.starts_with("scenes/") || name.starts_with("reports/") {
            continue;
        }
        assert!(
            remote[name] == *bytes,
            "{name}: the S3 object differs from the local file"
        );
    }
    assert_eq!(
        aws.items(&aws.bags),
        store_items(local, "bags.jsonl", &PLACE_AND_TIME)
    );
    assert_eq!(
        aws.items(&aws.scenes),
        store_items(local, "scenes.jsonl", &PLACE_AND_TIME)
    );
}

#[test]
fn s3_run_writes_the_bytes_of_a_local_run_and_records_to_dynamodb() {
    let aws = Aws::new();
    let local = local_reference();
    let input = format!("s3://{}/drives/", aws.ingest);
    let out = aws.run(&aws.endpoint, "lake", std::slice::from_ref(&input));
    assert!(out.status.success(), "{}", show(&out));
    assert_same_as_local(&aws, "lake", local.path());

    // Where things are, as the records name them.
    let bags = scan_table(&aws.endpoint, &aws.bags);
    assert_eq!(bags.len(), 4);
    // A file's key, or a rosbag2 directory's (its prefix, ending in `/`).
    let key_of = |name: &str| {
        if name.ends_with("ros2") {
            format!("drives/{name}/")
        } else {
            format!("drives/{name}.bag")
        }
    };
    for item in &bags {
        let name = item["bag_file"]["S"].as_str().unwrap();
        assert_eq!(item["status"]["S"], "DONE", "{item}");
        assert_eq!(
            item["source_url"]["S"],
            format!("s3://{}/{}", aws.ingest, key_of(name))
        );
    }
    let ros2 = bags
        .iter()
        .find(|i| i["bag_file"]["S"] == "drive_0004_ros2")
        .unwrap();
    assert_eq!(ros2["format"]["S"], "mcap");
    assert_eq!(
        ros2["storage_files"]["L"][0]["M"]["name"]["S"],
        "drive_0004_ros2_0.mcap"
    );
    let scenes = scan_table(&aws.endpoint, &aws.scenes);
    assert_eq!(scenes.len(), 17, "4 + 5 + 4 + 4 scenes in the sample bags");
    for s in &scenes {
        let name = s["bag_file"]["S"].as_str().unwrap();
        assert_eq!(s["bag_file_bucket"]["S"], aws.ingest.as_str());
        assert_eq!(s["bag_file_prefix"]["S"], key_of(name));
        assert_eq!(
            s["synchronized_path"]["S"],
            format!("s3://{}/lake/synchronized/bag_file={name}/", aws.lake)
        );
    }

    // An analyst's reader over the S3 API sees every bag's rows.
    let read = python()
        .args([
            "tests/python/s3_read.py",
            &aws.endpoint,
            &aws.lake,
            "lake",
            "topics/imu_raw",
        ])
        .output()
        .unwrap();
    assert!(read.status.success(), "{}", show(&read));
    let table: Value = serde_json::from_slice(&read.stdout).unwrap();
    assert_eq!(
        table["rows"],
        2000 + 2500 + 2000,
        "100 Hz IMU over 20 + 25 + 20 s"
    );
    assert_eq!(
        table["bag_files"],
        serde_json::json!(["drive_0001_raw", "drive_0002_bz2", "drive_0003_lz4"])
    );
    assert!(table["columns"][0] == "log_time_ns", "{table}");

    // The same run again: the same objects, the same items.
    let before = aws.lake_files("lake");
    let out = aws.run(&aws.endpoint, "lake", &[input]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        aws.lake_files("lake") == before,
        "a re-run rewrites the same objects"
    );
    assert_same_as_local(&aws, "lake", local.path());
}

#[test]
fn a_second_source_for_a_bag_file_is_refused_by_the_conditional_write() {
    let aws = Aws::new();
    let bytes = std::fs::read(sample_bags().join("drive_0003_lz4.bag")).unwrap();
    put_object(
        &aws.endpoint,
        &aws.ingest,
        "other/drive_0003_lz4.bag",
        &bytes,
    );
    let first = format!("s3://{}/drives/drive_0003_lz4.bag", aws.ingest);
    let out = aws.run(&aws.endpoint, "lake", std::slice::from_ref(&first));
    assert!(out.status.success(), "{}", show(&out));

    let second = format!("s3://{}/other/drive_0003_lz4.bag", aws.ingest);
    let out = aws.run(&aws.endpoint, "lake", std::slice::from_ref(&second));
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("conflict") && stderr.contains(&second) && stderr.contains(&first),
        "{stderr}"
    );
    let bags = scan_table(&aws.endpoint, &aws.bags);
    assert_eq!(bags.len(), 1);
    assert_eq!(bags[0]["source_url"]["S"], first.as_str());
    assert_eq!(bags[0]["status"]["S"], "DONE");
}

/// Neighbouring chunks are fetched by a few large ranged GETs rather than
/// one GET per chunk (issue 14: at a terabyte, per-chunk GETs pass S3's
/// request rate), and the lake is the local run's.
#[test]
fn neighbouring_chunks_are_read_by_few_large_gets() {
    let aws = Aws::new();
    let mut b = extractor::testing::BagBuilder::new()
        .compression(extractor::container::compression::Compression::Lz4)
        .chunk_threshold(16 << 10)
        .connection(
            0,
            "/text",
            "std_msgs/String",
            "992ce8a1687cec8c8bd883ec73ca41d1",
            "string data\n",
        );
    let mut seed = 7u64;
    for i in 0..6000u64 {
        // Text that lz4 does not shrink to nothing.
        let text: String = (0..200)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                char::from(b'a' + (seed >> 59) as u8)
            })
            .collect();
        let mut data = (text.len() as u32).to_le_bytes().to_vec();
        data.extend_from_slice(text.as_bytes());
        b = b.message(0, 1_700_000_000_000_000_000 + i * 1_000_000, &data);
    }
    let built = b.build_bag();
    let chunks = built.chunk_offsets.len();
    assert!(chunks >= 60, "{chunks} chunks");
    put_object(
        &aws.endpoint,
        &aws.ingest,
        "many/many_chunks.bag",
        &built.bytes,
    );
    let dir = tempfile::tempdir().unwrap();
    let bag = dir.path().join("many_chunks.bag");
    std::fs::write(&bag, &built.bytes).unwrap();
    let local = dir.path().join("lake");
    let out = crate::util::run(
        &local,
        &[
            "--config",
            sample_bags().join("bagpipe.toml").to_str().unwrap(),
            bag.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", show(&out));

    let proxy = FaultProxy::start(&aws.endpoint, FaultPlan::default());
    let input = format!("s3://{}/many/many_chunks.bag", aws.ingest);
    let out = aws.run(&proxy.endpoint, "lake", &[input]);
    assert!(out.status.success(), "{}", show(&out));
    // The extractor hints a window of chunks at a time (a few per core):
    // each window is one GET, plus the header and index.
    let gets = proxy.injected().s3_bag_gets;
    assert!(
        gets * 5 < chunks as u64,
        "{gets} ranged GETs for {chunks} chunks"
    );
    let remote = aws.lake_files("lake");
    for (name, bytes) in local_files(&local) {
        if name.starts_with("topics/") {
            assert!(remote.get(&name) == Some(&bytes), "{name} differs");
        }
    }
}

/// Planning a bag on S3 reads its header and index only: a few GETs,
/// however many chunks it has (issue 14: a terabyte has over a million).
#[test]
fn planning_a_bag_on_s3_reads_only_its_header_and_index() {
    let aws = Aws::new();
    let built = crate::util::count_bag(3000, 1_000_000);
    let chunks = built.chunk_offsets.len();
    assert!(chunks >= 1000, "{chunks} chunks");
    put_object(&aws.endpoint, &aws.ingest, "many/count.bag", &built.bytes);
    let proxy = FaultProxy::start(&aws.endpoint, FaultPlan::default());
    let out = bagpipe()
        .envs(aws_env(&proxy.endpoint))
        .args(["plan", "--item-bytes", "4096", "--out"])
        .arg(format!("s3://{}/lake", aws.lake))
        .args(["--bags-table", &aws.bags])
        .arg(format!("s3://{}/many/count.bag", aws.ingest))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(plan["work_items"].as_u64().unwrap() > 10, "{plan}");
    let gets = proxy.injected().s3_bag_gets;
    assert!(
        gets <= 4,
        "{gets} ranged GETs of the bag to plan {chunks} chunks"
    );
}

/// S3 answers a conditional create with 409 while a conflicting write is
/// in flight; the schema registry's creates are tried again, so a bag never
/// fails on it (issue 14: concurrent bags claim tables at once).
#[test]
fn conditional_creates_answered_409_are_tried_again() {
    let aws = Aws::new();
    let local = local_reference();
    let plan = FaultPlan {
        s3_conflict: Some(
            Fault::every(2)
                .method("PUT")
                .with_header("if-none-match")
                .max(6),
        ),
        ..FaultPlan::default()
    };
    let proxy = FaultProxy::start(&aws.endpoint, plan);
    let input = format!("s3://{}/drives/", aws.ingest);
    let out = aws
        .command(&proxy.endpoint, "lake", &[input])
        .env("BAGPIPE_LOG", "bagpipe=info")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("conditional create in conflict"), "{log}");
    assert_eq!(proxy.injected().s3_conflict, 6);
    assert_same_as_local(&aws, "lake", local.path());
}

#[test]
fn s3_and_dynamodb_faults_are_retried_and_nothing_is_lost() {
    let aws = Aws::new();
    let local = local_reference();
    let plan = FaultPlan {
        s3_slow_down: Some(Fault::every(5).method("GET").max(4)),
        s3_internal_error: Some(Fault::every(7).method("PUT").max(3)),
        s3_conflict: Some(Fault::first(2).method("PUT").with_header("if-none-match")),
        s3_drop_mid_body: Some(Fault::every(3).method("GET").with_header("range").max(4)),
        dynamodb_throttle: Some(Fault::every(4).max(6)),
        dynamodb_unprocessed: Some(Fault::first(3).target("BatchWriteItem")),
    };
    let proxy = FaultProxy::start(&aws.endpoint, plan);
    let input = format!("s3://{}/drives/", aws.ingest);
    // The default log filter: every retry must show in it.
    let out = aws
        .command(&proxy.endpoint, "lake", &[input])
        .env("BAGPIPE_LOG", bagpipe::aws::DEFAULT_LOG_FILTER)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let log = String::from_utf8_lossy(&out.stderr);
    for line in [
        "backing off",
        "AWS call failed; the SDK retries it",
        "BatchWriteItem left items unprocessed; resending",
    ] {
        assert!(log.contains(line), "no retry logged as {line:?}:\n{log}");
    }
    let injected = proxy.injected();
    assert!(injected.s3_slow_down > 0, "{injected:?}");
    assert!(injected.s3_internal_error > 0, "{injected:?}");
    assert!(injected.s3_conflict > 0, "{injected:?}");
    assert!(injected.s3_drop_mid_body > 0, "{injected:?}");
    assert!(injected.dynamodb_throttle > 0, "{injected:?}");
    assert!(injected.dynamodb_unprocessed > 0, "{injected:?}");
    assert_same_as_local(&aws, "lake", local.path());
}

#[test]
fn a_missing_object_and_a_malformed_url_are_usage_errors() {
    let aws = Aws::new();
    let missing = format!("s3://{}/drives/", unique("nobucket"));
    let out = aws.run(&aws.endpoint, "lake", &[missing]);
    assert_ne!(out.status.code(), Some(0), "{}", show(&out));
    let out = aws.run(&aws.endpoint, "lake", &["s3:///x.bag".to_string()]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    // An empty prefix has no bags: a usage error, as for a local directory.
    let out = aws.run(
        &aws.endpoint,
        "lake",
        &[format!("s3://{}/none/", aws.ingest)],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no bags found"));
}

#[test]
fn a_file_larger_than_a_part_goes_up_by_multipart_and_matches_a_local_run() {
    use extractor::testing::BagBuilder;
    // 24 messages of 1 MiB of incompressible bytes: a ~24 MiB Parquet file,
    // three multipart parts and a last one.
    let mut b = BagBuilder::new().connection(
        0,
        "/blob",
        "test_msgs/Blob",
        "0123456789abcdef0123456789abcdef",
        "uint8[] data\n",
    );
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..24u64 {
        let mut data = Vec::with_capacity(4 + (1 << 20));
        data.extend_from_slice(&(1u32 << 20).to_le_bytes());
        for _ in 0..(1 << 20) / 8 {
            // xorshift64: cheap bytes zstd cannot shrink.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            data.extend_from_slice(&state.to_le_bytes());
        }
        b = b.message(0, 1_700_000_000_000_000_000 + i * 100_000_000, &data);
    }
    let dir = tempfile::tempdir().unwrap();
    let bag = dir.path().join("blobs.bag");
    std::fs::write(&bag, b.build()).unwrap();
    let local = dir.path().join("lake");
    let out = run(&local, &[bag.to_str().unwrap()]);
    assert!(out.status.success(), "{}", show(&out));

    let aws = Aws::new();
    put_object(
        &aws.endpoint,
        &aws.ingest,
        "big/blobs.bag",
        &std::fs::read(&bag).unwrap(),
    );
    let out = aws.run(
        &aws.endpoint,
        "lake",
        &[format!("s3://{}/big/blobs.bag", aws.ingest)],
    );
    assert!(out.status.success(), "{}", show(&out));
    let name = "topics/blob/bag_file=blobs/part-00000.parquet";
    let local_bytes = std::fs::read(local.join(name)).unwrap();
    assert!(
        local_bytes.len() > bagpipe::s3::PART_BYTES * 2,
        "{} bytes is not several parts",
        local_bytes.len()
    );
    let remote = aws.lake_files("lake");
    assert!(remote[name] == local_bytes, "the multipart object differs");
}

#[test]
fn a_run_killed_at_random_points_then_rerun_leaves_exactly_a_clean_runs_lake_on_s3() {
    let aws = Aws::new();
    let local = local_reference();
    let inputs = [format!("s3://{}/drives/", aws.ingest)];
    // A clean run times the span the kill points are drawn from.
    let started = Instant::now();
    let out = aws.run(&aws.endpoint, "clean", &inputs);
    assert!(out.status.success(), "{}", show(&out));
    let mut span = started.elapsed();

    // The same tables: a killed run leaves items the next run must replace.
    let mut points = KillPoints::new();
    let seed = points.seed;
    let mut killed = 0;
    for _ in 0..KILLS {
        let delay = points.next(span);
        if run_and_kill(
            &mut aws.command(&aws.endpoint, "crashed", &inputs),
            delay,
            &mut span,
        ) {
            killed += 1;
        }
    }
    assert!(
        killed >= KILLS / 2,
        "seed {seed}: only {killed} of {KILLS} runs were killed before they ended"
    );
    let out = aws.run(&aws.endpoint, "crashed", &inputs);
    assert!(out.status.success(), "seed {seed}: {}", show(&out));
    assert_same_as_local(&aws, "crashed", local.path());
    for (bag, item) in aws.bag_records() {
        assert_eq!(item["status"]["S"], "DONE", "seed {seed}: {bag}");
    }
}

#[test]
fn s3_failing_past_its_retries_fails_the_bags_cleanly_and_a_rerun_completes() {
    let aws = Aws::new();
    let local = local_reference();
    // Every PUT fails: each is retried (6 times, with backoff), then given up.
    let plan = FaultPlan {
        s3_internal_error: Some(Fault::always().method("PUT")),
        ..FaultPlan::default()
    };
    let proxy = FaultProxy::start(&aws.endpoint, plan);
    let input = format!("s3://{}/drives/", aws.ingest);
    let out = aws
        .command(&proxy.endpoint, "lake", std::slice::from_ref(&input))
        .env("BAGPIPE_LOG", bagpipe::aws::DEFAULT_LOG_FILTER)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", show(&out));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("retry 6 of 6") || log.contains("retry 5 of 6"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    for (bag, item) in aws.bag_records() {
        assert_eq!(item["status"]["S"], "FAILED", "{bag}: {item}\n{log}");
        let error = item["error"]["S"].as_str().unwrap();
        assert!(
            error.contains("500") || error.contains("Internal"),
            "{bag}: {error}"
        );
    }
    assert!(
        proxy.injected().s3_internal_error >= 7,
        "{:?}",
        proxy.injected()
    );

    // The store is back: a re-run completes, exactly as a clean run.
    let out = aws.run(&aws.endpoint, "lake", &[input]);
    assert!(out.status.success(), "{}", show(&out));
    assert_same_as_local(&aws, "lake", local.path());
}

/// A ROS1 bag of `n` topics, one std_msgs/String message each.
fn many_topics_bag(n: u32) -> Vec<u8> {
    let mut b = extractor::testing::BagBuilder::new();
    for i in 0..n {
        b = b
            .connection(
                i,
                &format!("/topic_{i:04}"),
                "std_msgs/String",
                "992ce8a1687cec8c8bd883ec73ca41d1",
                "string data\n",
            )
            .message(i, 1_000_000_000 + u64::from(i) * 1000, b"\x05\0\0\0hello");
    }
    b.build()
}

/// A bag of `n` chunks that each lie about their size, so every one is
/// skipped with a warning (and one honest message after them).
fn skipped_chunks_bag(n: usize) -> Vec<u8> {
    use extractor::container::ros1::bag::Compression;
    let mut b = extractor::testing::BagBuilder::new()
        .compression(Compression::None)
        .chunk_threshold(1)
        .connection(
            0,
            "/chatter",
            "std_msgs/String",
            "992ce8a1687cec8c8bd883ec73ca41d1",
            "string data\n",
        );
    for i in 0..=n {
        b = b.message(0, 1_000_000_000 + i as u64 * 1000, b"\x02\0\0\0hi");
    }
    let built = b.build_bag();
    let mut bytes = built.bytes;
    for &chunk in &built.chunk_offsets[..n] {
        let at = chunk as usize;
        let header_len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let header = &bytes[at + 4..at + 4 + header_len];
        let size = header.windows(5).position(|w| w == b"size=").unwrap() + at + 4 + 5;
        bytes[size..size + 4].copy_from_slice(&7u32.to_le_bytes());
    }
    bytes
}

#[test]
fn a_bag_of_thousands_of_topics_or_skipped_chunks_is_catalogued_in_dynamodb() {
    let aws = Aws::new();
    put_object(
        &aws.endpoint,
        &aws.ingest,
        "big/many_topics.bag",
        &many_topics_bag(4000),
    );
    put_object(
        &aws.endpoint,
        &aws.ingest,
        "big/skipped_chunks.bag",
        &skipped_chunks_bag(10_000),
    );
    // Only one topic extracted: the catalogue lists all 4000 all the same
    // (the whole pipeline on every topic is timed by bench/topics.sh).
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        "[extract]\ntopics = [\"/topic_0007\", \"/chatter\"]\n",
    )
    .unwrap();
    let out = bagpipe()
        .envs(aws_env(&aws.endpoint))
        .env("BAGPIPE_LOG", "warn")
        .args(["run", "--quiet", "--config"])
        .arg(config.path())
        .arg("--out")
        .arg(format!("s3://{}/lake", aws.lake))
        .args(["--bags-table", &aws.bags])
        .arg(format!("s3://{}/big/", aws.ingest))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let items: BTreeMap<String, Value> = scan_table(&aws.endpoint, &aws.bags)
        .into_iter()
        .map(|i| (i["bag_file"]["S"].as_str().unwrap().to_string(), i))
        .collect();
    let many = &items["many_topics"];
    assert_eq!(many["status"]["S"], "DONE", "{many}");
    assert!(many.get("topics").is_none());
    assert_eq!(many["topic_count"]["N"], "4000");
    let url = format!("s3://{}/lake/_catalog/many_topics.json", aws.lake);
    assert_eq!(many["topics_url"]["S"], url);
    let topics: Value = serde_json::from_slice(
        &get_object(&aws.endpoint, &aws.lake, "lake/_catalog/many_topics.json").unwrap(),
    )
    .unwrap();
    let topics = topics.as_object().unwrap();
    assert_eq!(topics.len(), 4000);
    assert_eq!(topics["/topic_0007"]["table"], "topic_0007");
    assert!(topics["/topic_0008"].get("table").is_none());
    assert_eq!(topics["/topic_3999"]["message_count"], 1);

    let skipped = &items["skipped_chunks"];
    assert_eq!(skipped["status"]["S"], "DONE", "{skipped}");
    assert_eq!(skipped["message_count"]["N"], "1");
    let warnings = skipped["warnings"]["L"].as_array().unwrap();
    assert_eq!(warnings.len(), 101);
    let last = warnings[100]["S"].as_str().unwrap();
    assert!(last.starts_with("9901 more warnings not listed"), "{last}");
}
