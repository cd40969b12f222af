//! The Lambda end to end: the real `bootstrap` binary in its real
//! `lambda_runtime` loop, fed by a local Lambda Runtime API, reading bags
//! from and writing the lake to a moto S3, records to moto DynamoDB. Every
//! delivery shape, the answers (partial batch failures, retryable errors),
//! idempotent re-delivery, concurrent invocations, the EMF metric lines,
//! and injected faults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bagpipe::catalog::{JsonlStore, LOCAL_BAGS_PATH, LOCAL_SCENES_PATH};
use bagpipe::config::Config;
use bagpipe::lake::{Lake, LocalLake};
use bagpipe::pipeline::{self, Context, NoProgress, Source};
use bagpipe_lambda::samples::{
    eventbridge_event, s3_notification, s3_record, sns_event, sqs_event, sqs_record,
};
use bagpipe_test_harness::{
    Fault, FaultPlan, FaultProxy, Invocation, Outcome, RuntimeApi, aws_env, create_bucket,
    create_table, get_object, list_objects, moto, put_object, scan_table, unique,
};
use serde_json::{Value, json};

fn sample_bags() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-bags")
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(sample_bags().join(name)).unwrap()
}

/// Buckets and tables of one test on the shared moto server; the sample
/// configuration uploaded as `s3://<ingest>/config/bagpipe.toml`.
struct Aws {
    endpoint: String,
    ingest: String,
    lake: String,
    scenes: String,
    bags: String,
    glue: String,
}

/// Runs one of the tests' Python helpers with the AWS environment of
/// `endpoint`; its stdout as JSON, if any.
fn python(endpoint: &str, args: &[&str]) -> Option<Value> {
    let out = Command::new("python3")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .envs(aws_env(endpoint))
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).ok()
}

impl Aws {
    fn new() -> Aws {
        let aws = Aws {
            endpoint: moto().endpoint.clone(),
            ingest: unique("ingest"),
            lake: unique("lake"),
            scenes: unique("scenes"),
            bags: unique("bags"),
            glue: unique("db"),
        };
        python(
            &aws.endpoint,
            &["tests/python/glue.py", "create-db", &aws.glue],
        );
        create_bucket(&aws.endpoint, &aws.ingest);
        create_bucket(&aws.endpoint, &aws.lake);
        create_table(&aws.endpoint, &aws.scenes, "bag_file", Some("scene_id"));
        create_table(&aws.endpoint, &aws.bags, "bag_file", None);
        let config = std::fs::read(sample_bags().join("bagpipe.toml")).unwrap();
        aws.put("config/bagpipe.toml", &config);
        aws
    }

    fn put(&self, key: &str, bytes: &[u8]) {
        put_object(&self.endpoint, &self.ingest, key, bytes);
    }

    /// Starts the `bootstrap` binary against `api`, talking to AWS through
    /// `endpoint`; its stdout (EMF lines) and stderr (JSON logs) go to
    /// files in `logs`.
    fn lambda(&self, api: &RuntimeApi, endpoint: &str, logs: &Path, name: &str) -> Lambda {
        self.lambda_with(api, endpoint, logs, name, &[])
    }

    /// [`Aws::lambda`] with more environment variables.
    fn lambda_with(
        &self,
        api: &RuntimeApi,
        endpoint: &str,
        logs: &Path,
        name: &str,
        env: &[(&str, &str)],
    ) -> Lambda {
        let stdout = logs.join(format!("{name}.stdout"));
        let stderr = logs.join(format!("{name}.stderr"));
        let child = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
            .envs(aws_env(endpoint))
            .env("AWS_LAMBDA_RUNTIME_API", &api.addr)
            .env("AWS_LAMBDA_FUNCTION_NAME", "bagpipe")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bagpipe")
            .env("BAGPIPE_OUT", format!("s3://{}/lake", self.lake))
            .env("BAGPIPE_SCENES_TABLE", &self.scenes)
            .env("BAGPIPE_BAGS_TABLE", &self.bags)
            .env("BAGPIPE_GLUE_DATABASE", &self.glue)
            .env(
                "BAGPIPE_CONFIG",
                format!("s3://{}/config/bagpipe.toml", self.ingest),
            )
            .envs(env.iter().copied())
            .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
            .spawn()
            .expect("the bootstrap binary starts");
        Lambda {
            child,
            stdout,
            stderr,
        }
    }

    /// The catalogue items by `bag_file`.
    fn catalogue(&self) -> BTreeMap<String, Value> {
        scan_table(&self.endpoint, &self.bags)
            .into_iter()
            .map(|i| (i["bag_file"]["S"].as_str().unwrap().to_string(), i))
            .collect()
    }

    /// The scene items of one bag, by `scene_id`.
    fn scenes_of(&self, bag_file: &str) -> BTreeMap<String, Value> {
        scan_table(&self.endpoint, &self.scenes)
            .into_iter()
            .filter(|i| i["bag_file"]["S"] == bag_file)
            .map(|i| (i["scene_id"]["S"].as_str().unwrap().to_string(), i))
            .collect()
    }

    /// The lake's objects whose key contains `part` (relative key → bytes).
    fn lake_files(&self, part: &str) -> BTreeMap<String, Vec<u8>> {
        list_objects(&self.endpoint, &self.lake, "lake/")
            .into_iter()
            .filter(|(key, _)| key.contains(part))
            .map(|(key, _)| {
                let bytes = get_object(&self.endpoint, &self.lake, &key).unwrap();
                (key["lake/".len()..].to_string(), bytes)
            })
            .collect()
    }
}

/// A running `bootstrap`, killed on drop.
struct Lambda {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Lambda {
    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Lambda {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The S3 notification of one upload, the key already encoded as S3
/// sends it (the tests give exact encodings, `+` and `%2B` among them).
fn s3_event(bucket: &str, encoded_key: &str) -> Value {
    s3_notification(vec![s3_record(
        "ObjectCreated:Put",
        bucket,
        encoded_key,
        Some(1),
    )])
}

fn response(inv: &Invocation) -> &Value {
    match &inv.outcome {
        Outcome::Response(v) => v,
        other => panic!("invocation {} did not succeed: {other:?}", inv.request_id),
    }
}

/// The sample bags run locally through the library: the reference.
fn local_run(bags: &[&str]) -> tempfile::TempDir {
    let paths: Vec<PathBuf> = bags.iter().map(|b| sample_bags().join(b)).collect();
    local_run_of(&paths)
}

/// Bags run locally through the library, each ending `DONE` or `FAILED`
/// as it may.
fn local_run_of(paths: &[PathBuf]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let lake: Arc<dyn Lake> = Arc::new(LocalLake::new(dir.path()).unwrap());
    let config =
        Config::from_toml(&std::fs::read_to_string(sample_bags().join("bagpipe.toml")).unwrap())
            .unwrap();
    let ctx = Context {
        bags: Arc::new(JsonlStore::open(lake.clone(), LOCAL_BAGS_PATH, "bag_file", None).unwrap()),
        scenes: Arc::new(
            JsonlStore::open(
                lake.clone(),
                LOCAL_SCENES_PATH,
                "bag_file",
                Some("scene_id"),
            )
            .unwrap(),
        ),
        lake,
        tables: None,
        config,
        progress: Box::new(|_, _| Box::new(NoProgress)),
    };
    let sources: Vec<Source> = paths.iter().map(|p| Source::local(p).unwrap()).collect();
    for o in pipeline::run(&ctx, &sources) {
        assert!(
            o.error.is_none() || o.bag_file.starts_with("garbage"),
            "{o:?}"
        );
    }
    dir
}

/// The local lake's files of `bag_file` (Parquet, except the scenes
/// table, which names where things are) and the schema registry.
fn local_files(root: &Path, bag_file: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            if rel.contains(&format!("bag_file={bag_file}/")) || rel.starts_with("_schemas/") {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

const WAIT: Duration = Duration::from_secs(150);

#[test]
fn every_delivery_shape_runs_the_pipeline_through_the_runtime_loop() {
    let aws = Aws::new();
    aws.put("drives/drive_0001_raw.bag", &sample("drive_0001_raw.bag"));
    aws.put("drive 4/run+0002.bag", &sample("drive_0002_bz2.bag"));
    aws.put("drives/drive_0003_lz4.bag", &sample("drive_0003_lz4.bag"));
    aws.put(
        "junk/not_a_bag.bag",
        b"these are someone's notes, not a bag\n",
    );
    aws.put("notes/readme.txt", b"hello");
    let logs = tempfile::tempdir().unwrap();

    // 1. A direct S3 notification.
    let api = RuntimeApi::start(vec![s3_event(&aws.ingest, "drives/drive_0001_raw.bag")]);
    let lambda = aws.lambda(&api, &aws.endpoint, logs.path(), "lambda");
    let first = api.wait(WAIT);
    assert_eq!(
        response(&first[0])["bags"][0]["status"],
        "DONE",
        "{:?}\n{}",
        first[0],
        lambda.stderr()
    );
    let files_after_first = aws.lake_files("bag_file=drive_0001_raw/");
    let scenes_after_first = aws.scenes_of("drive_0001_raw");
    assert_eq!(scenes_after_first.len(), 4);

    // 2. SQS: a bag under a key with a space and a `+`, a file that is not
    // a bag, a malformed message, a key that is not a .bag, a missing object.
    let sqs = sqs_event(vec![
        sqs_record(
            "m1",
            &s3_event(&aws.ingest, "drive+4/run%2B0002.bag").to_string(),
        ),
        sqs_record(
            "m2",
            &s3_event(&aws.ingest, "junk/not_a_bag.bag").to_string(),
        ),
        sqs_record("m3", "{this is not json"),
        sqs_record("m4", &s3_event(&aws.ingest, "notes/readme.txt").to_string()),
        sqs_record("m5", &s3_event(&aws.ingest, "drives/gone.bag").to_string()),
    ]);
    api.add_event(sqs);
    // 3. SNS. 4. EventBridge, for the first bag again.
    api.add_event(sns_event(
        &s3_event(&aws.ingest, "drives/drive_0003_lz4.bag").to_string(),
    ));
    api.add_event(eventbridge_event(
        "Object Created",
        &aws.ingest,
        "drives/drive_0001_raw.bag",
        1,
    ));
    let all = api.wait(WAIT);
    assert_eq!(all.len(), 4);

    // Only the malformed message goes back to the queue: the others either
    // succeeded or would fail the same way again.
    assert_eq!(
        response(&all[1]),
        &json!({ "batchItemFailures": [{ "itemIdentifier": "m3" }] }),
        "{}",
        lambda.stderr()
    );
    assert_eq!(response(&all[2])["bags"][0]["bag_file"], "drive_0003_lz4");
    assert_eq!(response(&all[2])["bags"][0]["status"], "DONE");
    assert_eq!(response(&all[3])["bags"][0]["status"], "DONE");

    let catalogue = aws.catalogue();
    assert_eq!(
        catalogue.keys().collect::<Vec<_>>(),
        [
            "drive_0001_raw",
            "drive_0003_lz4",
            "gone",
            "not_a_bag",
            "run_0002"
        ],
        "no item for the .txt upload"
    );
    assert_eq!(
        catalogue["run_0002"]["source_url"]["S"],
        format!("s3://{}/drive%204/run+0002.bag", aws.ingest)
    );
    for done in ["drive_0001_raw", "drive_0003_lz4", "run_0002"] {
        assert_eq!(catalogue[done]["status"]["S"], "DONE", "{done}");
    }
    assert_eq!(catalogue["not_a_bag"]["status"]["S"], "FAILED");
    let error = catalogue["not_a_bag"]["error"]["S"].as_str().unwrap();
    assert!(error.contains("not a ROS bag"), "{error}");
    assert_eq!(catalogue["gone"]["status"]["S"], "FAILED");
    assert!(
        catalogue["gone"]["error"]["S"]
            .as_str()
            .unwrap()
            .contains("gone.bag"),
        "{}",
        catalogue["gone"]
    );
    assert_eq!(aws.scenes_of("run_0002").len(), 5);
    assert_eq!(aws.scenes_of("drive_0003_lz4").len(), 4);

    // The re-delivered bag: the same files, the same scene items.
    assert!(aws.lake_files("bag_file=drive_0001_raw/") == files_after_first);
    assert_eq!(aws.scenes_of("drive_0001_raw"), scenes_after_first);

    // Byte for byte what a local run of the same bag writes.
    let local = local_run(&["drive_0001_raw.bag"]);
    let reference = local_files(local.path(), "drive_0001_raw");
    let remote = aws.lake_files("");
    for (name, bytes) in &reference {
        if name.starts_with("scenes/") {
            continue;
        }
        assert!(
            remote.get(name) == Some(bytes),
            "{name} differs or is missing"
        );
    }

    // Every table in Glue, with a partition per bag that reached it.
    let glue = python(&aws.endpoint, &["tests/python/glue.py", "dump", &aws.glue]).unwrap();
    let partitions: Vec<&String> = glue["imu_raw"]["partitions"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(partitions, ["drive_0001_raw", "drive_0003_lz4", "run_0002"]);
    assert!(
        glue["scenes"]["partitions"]["run_0002"].is_string(),
        "{glue}"
    );

    // One EMF line per bag and stage, the figures as numbers.
    let emf: Vec<Value> = lambda
        .stdout()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect();
    let extract = emf
        .iter()
        .find(|v| v["stage"] == "extract" && v["bag_file"] == "run_0002")
        .expect("an extract metric line for run_0002");
    assert_eq!(
        extract["Messages"],
        catalogue["run_0002"]["message_count"]["N"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    );
    assert!(extract["MBps"].as_f64().unwrap() > 0.0);
    assert!(extract["PeakMemoryMiB"].as_f64().unwrap() > 1.0);
    let failed = emf
        .iter()
        .find(|v| v["stage"] == "bag" && v["bag_file"] == "not_a_bag")
        .expect("a bag line for the failed bag");
    assert_eq!(failed["Failed"], 1);
    assert_eq!(failed["retryable"], false);
    // The logs are JSON lines naming the bag.
    let logged = lambda.stderr();
    let log_lines: Vec<Value> = logged
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(
        log_lines
            .iter()
            .any(|l| l["bag"] == "run_0002" && l["stage"] == "extract"),
        "{logged}"
    );
}

#[test]
fn a_rosbag2_directory_runs_once_when_its_metadata_yaml_arrives() {
    let aws = Aws::new();
    let dir = "drive_0004_ros2";
    let mcap = format!("{dir}_0.mcap");
    // The recorder writes metadata.yaml last; an uploader may not.
    aws.put(
        &format!("drives/{dir}/{mcap}"),
        &sample(&format!("{dir}/{mcap}")),
    );
    aws.put(
        &format!("drives/{dir}/metadata.yaml"),
        &sample(&format!("{dir}/metadata.yaml")),
    );
    // A file beside the metadata.yaml that it does not list.
    aws.put(
        &format!("drives/{dir}/spare.mcap"),
        &sample(&format!("{dir}/{mcap}")),
    );
    let logs = tempfile::tempdir().unwrap();
    let api = RuntimeApi::start(vec![
        s3_event(&aws.ingest, &format!("drives/{dir}/{mcap}")),
        s3_event(&aws.ingest, &format!("drives/{dir}/spare.mcap")),
        s3_event(&aws.ingest, &format!("drives/{dir}/metadata.yaml")),
        // Delivered twice: the same outputs.
        s3_event(&aws.ingest, &format!("drives/{dir}/metadata.yaml")),
    ]);
    let lambda = aws.lambda(&api, &aws.endpoint, logs.path(), "lambda");
    let all = api.wait(WAIT);
    assert_eq!(all.len(), 4);
    // The storage files start nothing; metadata.yaml runs the directory.
    for inv in &all[..2] {
        assert_eq!(response(inv), &json!({ "bags": [] }), "{}", lambda.stderr());
    }
    for inv in &all[2..] {
        let bag = &response(inv)["bags"][0];
        assert_eq!(bag["bag_file"], dir, "{}", lambda.stderr());
        assert_eq!(bag["status"], "DONE", "{bag}");
    }
    let logged = lambda.stderr();
    assert!(
        logged.contains("a storage file of a rosbag2 directory"),
        "{logged}"
    );
    assert!(
        logged.contains("a storage file beside a metadata.yaml"),
        "{logged}"
    );
    let catalogue = aws.catalogue();
    assert_eq!(catalogue.keys().collect::<Vec<_>>(), [dir]);
    let item = &catalogue[dir];
    assert_eq!(
        item["source_url"]["S"],
        format!("s3://{}/drives/{dir}/", aws.ingest)
    );
    assert_eq!(item["storage_files"]["L"].as_array().unwrap().len(), 1);
    assert_eq!(aws.scenes_of(dir).len(), 4);
    // The lake a local run of the directory writes.
    let local = local_run(&[dir]);
    let remote = aws.lake_files(&format!("bag_file={dir}/"));
    let reference: BTreeMap<String, Vec<u8>> = local_files(local.path(), dir)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("scenes/") && !k.starts_with("_schemas/"))
        .collect();
    assert!(!reference.is_empty());
    for (name, bytes) in &reference {
        assert!(
            remote.get(name) == Some(bytes),
            "{name} differs or is missing"
        );
    }
}

#[test]
fn concurrent_invocations_for_different_bags_share_the_tables() {
    let aws = Aws::new();
    aws.put("a/drive_0001_raw.bag", &sample("drive_0001_raw.bag"));
    aws.put("b/drive_0003_lz4.bag", &sample("drive_0003_lz4.bag"));
    let logs = tempfile::tempdir().unwrap();
    let api = RuntimeApi::start(Vec::new());
    // Two function instances poll the same API: each takes one event.
    let one = aws.lambda(&api, &aws.endpoint, logs.path(), "one");
    let two = aws.lambda(&api, &aws.endpoint, logs.path(), "two");
    api.add_event(s3_event(&aws.ingest, "a/drive_0001_raw.bag"));
    api.add_event(s3_event(&aws.ingest, "b/drive_0003_lz4.bag"));
    let all = api.wait(WAIT);
    for inv in &all {
        assert_eq!(
            response(inv)["bags"][0]["status"],
            "DONE",
            "{inv:?}\n{}\n{}",
            one.stderr(),
            two.stderr()
        );
    }
    // Every table and partition of both bags, the registry as one run
    // writes it.
    let local = local_run(&["drive_0001_raw.bag", "drive_0003_lz4.bag"]);
    let remote = aws.lake_files("");
    for bag in ["drive_0001_raw", "drive_0003_lz4"] {
        for (name, bytes) in local_files(local.path(), bag) {
            if name.starts_with("scenes/") {
                continue;
            }
            assert!(
                remote.get(&name) == Some(&bytes),
                "{name} differs or is missing"
            );
        }
    }
    let registry = |m: &BTreeMap<String, Vec<u8>>| {
        m.iter()
            .filter(|(k, _)| k.starts_with("_schemas/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        registry(&remote),
        registry(&local_files(local.path(), "none")),
        "the same schema registry"
    );
    assert_eq!(aws.catalogue().len(), 2);
}

#[test]
fn faults_are_retried_and_throttling_that_persists_asks_for_a_retry() {
    let aws = Aws::new();
    aws.put("drives/drive_0002_bz2.bag", &sample("drive_0002_bz2.bag"));
    let logs = tempfile::tempdir().unwrap();
    // Faults that retries absorb: the bag is done.
    let proxy = FaultProxy::start(
        &aws.endpoint,
        FaultPlan {
            s3_slow_down: Some(Fault::every(3).max(5)),
            s3_drop_mid_body: Some(Fault::first(2).method("GET").with_header("range")),
            dynamodb_throttle: Some(Fault::every(3).max(5)),
            dynamodb_unprocessed: Some(Fault::first(2).target("BatchWriteItem")),
            ..FaultPlan::default()
        },
    );
    let api = RuntimeApi::start(vec![s3_event(&aws.ingest, "drives/drive_0002_bz2.bag")]);
    let lambda = aws.lambda(&api, &proxy.endpoint, logs.path(), "faults");
    let done = api.wait(WAIT);
    assert_eq!(
        response(&done[0])["bags"][0]["status"],
        "DONE",
        "{}",
        lambda.stderr()
    );
    let injected = proxy.injected();
    assert!(
        injected.s3_slow_down > 0 && injected.s3_drop_mid_body > 0,
        "{injected:?}"
    );
    assert!(
        injected.dynamodb_throttle > 0 && injected.dynamodb_unprocessed > 0,
        "{injected:?}"
    );
    assert_eq!(aws.scenes_of("drive_0002_bz2").len(), 5);
    drop(lambda);

    // Throttling that outlasts the retries: SQS gets the message back (a
    // partial batch failure), a direct invocation an error Lambda retries.
    proxy.set_plan(FaultPlan {
        dynamodb_throttle: Some(Fault::always().target("GetItem")),
        ..FaultPlan::default()
    });
    let body = s3_event(&aws.ingest, "drives/drive_0002_bz2.bag").to_string();
    let api = RuntimeApi::start(vec![
        sqs_event(vec![sqs_record("q1", &body)]),
        s3_event(&aws.ingest, "drives/drive_0002_bz2.bag"),
    ]);
    let lambda = aws.lambda(&api, &proxy.endpoint, logs.path(), "throttled");
    let throttled = api.wait(WAIT);
    assert_eq!(
        response(&throttled[0]),
        &json!({ "batchItemFailures": [{ "itemIdentifier": "q1" }] }),
        "{}",
        lambda.stderr()
    );
    let Outcome::Error(error) = &throttled[1].outcome else {
        panic!("expected an error: {:?}", throttled[1]);
    };
    assert_eq!(error["errorType"], "bagpipe.Retryable");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("ProvisionedThroughputExceeded"),
        "{error}"
    );
    // The earlier, complete run is untouched.
    assert_eq!(aws.catalogue()["drive_0002_bz2"]["status"]["S"], "DONE");
}

/// Every row of the bag's partitions in a lake directory (without the
/// columns that name where outputs are), per partition directory.
fn partition_rows(root: &Path, bag_file: &str) -> BTreeMap<String, String> {
    let lake = LocalLake::new(root).unwrap();
    let mut parts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in local_files(root, bag_file).into_keys() {
        if name.ends_with(".parquet") {
            let dir = name.rsplit_once('/').unwrap().0.to_string();
            parts.entry(dir).or_default().push(name);
        }
    }
    parts
        .into_iter()
        .map(|(dir, files)| {
            let mut rows = String::new();
            bagpipe::writer::for_each_batch(&lake, &files, |b| {
                let keep: Vec<usize> = (0..b.num_columns())
                    .filter(|&i| {
                        let n = b.schema().field(i).name().clone();
                        !n.ends_with("_url") && !n.ends_with("_path")
                    })
                    .collect();
                rows.push_str(&format!("{:?}", b.project(&keep).unwrap().columns()));
                Ok(())
            })
            .unwrap();
            (dir, rows)
        })
        .collect()
}

/// The lake objects of a bag written into a local directory.
fn download(aws: &Aws, bag_file: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in aws.lake_files(&format!("bag_file={bag_file}/")) {
        let path = dir.path().join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    dir
}

/// The state machine's step events, sent as it sends them, run a bag cut
/// into one-chunk items, through S3 503s and GETs cut mid-body: the same
/// rows as a local single run, the catalogue item `DONE` with the run's
/// item count, the run state gone.
#[test]
fn the_state_machine_steps_run_a_bag_in_items_as_one_run_would() {
    let aws = Aws::new();
    aws.put("drives/drive_0002_bz2.bag", &sample("drive_0002_bz2.bag"));
    let logs = tempfile::tempdir().unwrap();
    let api = RuntimeApi::start(Vec::new());
    // The work items' ranged GETs meet S3's 503s and bodies cut short.
    let proxy = FaultProxy::start(
        &aws.endpoint,
        FaultPlan {
            s3_slow_down: Some(Fault::every(3).method("GET").with_header("range").max(5)),
            s3_drop_mid_body: Some(Fault::every(4).method("GET").with_header("range").max(3)),
            ..FaultPlan::default()
        },
    );
    let lambda = aws.lambda_with(
        &api,
        &proxy.endpoint,
        logs.path(),
        "task",
        &[("BAGPIPE_ITEM_BYTES", "1")],
    );
    let bag = json!({"bucket": aws.ingest, "key": "drives/drive_0002_bz2.bag"});
    api.add_event(json!({"step": "plan", "bag": bag}));
    let planned = response(&api.wait(WAIT)[0]).clone();
    assert_eq!(planned["mode"], "fanout", "{planned}");
    assert_eq!(planned["items_bucket"], aws.lake.as_str());
    let run = planned["run"].as_str().unwrap().to_string();
    let key = planned["items_key"].as_str().unwrap();
    assert!(key.starts_with("lake/_runs/drive_0002_bz2/"), "{key}");
    let items: Vec<Value> =
        serde_json::from_slice(&get_object(&aws.endpoint, &aws.lake, key).unwrap()).unwrap();
    assert_eq!(items.len() as u64, planned["work_items"].as_u64().unwrap());
    assert!(items.len() >= 3, "{items:?}");
    assert_eq!(
        aws.catalogue()["drive_0002_bz2"]["status"]["S"],
        "EXTRACTING"
    );
    // The Map's items, last first: order does not matter.
    for item in items.iter().rev() {
        api.add_event(json!({"step": "work", "bag": bag, "run": run, "item": item}));
    }
    api.add_event(json!({"step": "finish", "bag": bag, "run": run}));
    let all = api.wait(WAIT);
    for inv in &all {
        response(inv);
    }
    assert_eq!(
        response(all.last().unwrap())["status"],
        "DONE",
        "{}",
        lambda.stderr()
    );
    let item = &aws.catalogue()["drive_0002_bz2"];
    assert_eq!(item["status"]["S"], "DONE");
    assert_eq!(item["work_items"]["N"], items.len().to_string());
    assert!(item.get("lease_until").is_none(), "{item}");
    assert!(
        aws.lake_files("_runs/").is_empty(),
        "the run's state is removed"
    );
    let injected = proxy.injected();
    assert!(
        injected.s3_slow_down > 0 && injected.s3_drop_mid_body > 0,
        "{injected:?}"
    );
    let local = local_run(&["drive_0002_bz2.bag"]);
    let remote = download(&aws, "drive_0002_bz2");
    let (got, want) = (
        partition_rows(remote.path(), "drive_0002_bz2"),
        partition_rows(local.path(), "drive_0002_bz2"),
    );
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (dir, rows) in &want {
        // The scenes table names where the bag was read (S3 here).
        if !dir.starts_with("scenes/") {
            assert!(got[dir] == *rows, "{dir} differs from a single run's");
        }
    }
}

/// The failure path: a `fail` step marks the bag `FAILED` with the state
/// machine's error (the Lambda error's message out of its cause), releases
/// the lease and removes the run's state; a step that cannot work answers
/// `bagpipe.Failed`.
#[test]
fn the_fail_step_marks_the_bag_failed_and_a_bad_step_is_a_permanent_error() {
    let aws = Aws::new();
    aws.put("drives/drive_0003_lz4.bag", &sample("drive_0003_lz4.bag"));
    let logs = tempfile::tempdir().unwrap();
    let api = RuntimeApi::start(Vec::new());
    let _lambda = aws.lambda_with(
        &api,
        &aws.endpoint,
        logs.path(),
        "task",
        &[("BAGPIPE_ITEM_BYTES", "1")],
    );
    let bag = json!({"bucket": aws.ingest, "key": "drives/drive_0003_lz4.bag"});
    api.add_event(json!({"step": "plan", "bag": bag}));
    let run = response(&api.wait(WAIT)[0])["run"]
        .as_str()
        .unwrap()
        .to_string();
    // Item 99 does not exist; the finish of a run without reports fails.
    api.add_event(json!({"step": "work", "bag": bag, "run": run, "item": {"item": 99}}));
    api.add_event(json!({"step": "finish", "bag": bag, "run": run}));
    let cause = json!({"errorType": "bagpipe.Failed", "errorMessage": "item 2 ran out of disk"});
    api.add_event(json!({
        "step": "fail", "bag": bag, "run": run,
        "error": {"Error": "bagpipe.Failed", "Cause": cause.to_string()}
    }));
    let all = api.wait(WAIT);
    for inv in &all[1..3] {
        match &inv.outcome {
            Outcome::Error(e) => assert_eq!(e["errorType"], "bagpipe.Failed", "{e}"),
            other => panic!("{:?}: {other:?}", inv.event),
        }
    }
    assert_eq!(response(&all[3])["status"], "FAILED");
    let item = &aws.catalogue()["drive_0003_lz4"];
    assert_eq!(item["status"]["S"], "FAILED");
    assert_eq!(item["error"]["S"], "item 2 ran out of disk", "{item}");
    assert!(item.get("lease_until").is_none(), "{item}");
    assert!(aws.lake_files("_runs/").is_empty());
}

/// The router: with a state machine set, an upload over the threshold
/// starts one execution named from bucket, key and ETag, also when the
/// event is delivered twice; nothing runs in the function.
#[test]
fn a_big_upload_starts_one_execution_of_the_state_machine() {
    let aws = Aws::new();
    aws.put("drives/drive_0001_raw.bag", &sample("drive_0001_raw.bag"));
    let created = python(
        &aws.endpoint,
        &[
            "-c",
            &format!(
                "import boto3, json; sfn = boto3.client('stepfunctions'); \
                 print(json.dumps(sfn.create_state_machine(name='{}', roleArn='arn:aws:iam::123456789012:role/sfn', \
                 definition=json.dumps({{'StartAt': 'P', 'States': {{'P': {{'Type': 'Pass', 'End': True}}}}}}))['stateMachineArn']))",
                unique("bigbag")
            ),
        ],
    )
    .unwrap();
    let arn = created.as_str().unwrap().to_string();
    let logs = tempfile::tempdir().unwrap();
    let api = RuntimeApi::start(Vec::new());
    let lambda = aws.lambda_with(
        &api,
        &aws.endpoint,
        logs.path(),
        "ingest",
        &[
            ("BAGPIPE_STATE_MACHINE", &arn),
            ("BAGPIPE_FANOUT_BYTES", "1000"),
        ],
    );
    let size = sample("drive_0001_raw.bag").len() as u64;
    let event = s3_notification(vec![s3_record(
        "ObjectCreated:Put",
        &aws.ingest,
        "drives/drive_0001_raw.bag",
        Some(size),
    )]);
    for _ in 0..2 {
        api.add_event(event.clone());
    }
    for inv in api.wait(WAIT) {
        let bags = &response(&inv)["bags"];
        assert_eq!(
            bags[0]["status"],
            "EXTRACTING",
            "{bags}\n{}",
            lambda.stderr()
        );
    }
    let executions = python(
        &aws.endpoint,
        &[
            "-c",
            &format!(
                "import boto3, json; sfn = boto3.client('stepfunctions'); \
                 ex = sfn.list_executions(stateMachineArn='{arn}')['executions']; \
                 print(json.dumps([[e['name'], sfn.describe_execution(executionArn=e['executionArn'])['input']] for e in ex]))"
            ),
        ],
    )
    .unwrap();
    let executions = executions.as_array().unwrap();
    assert_eq!(executions.len(), 1, "{executions:?}");
    let name = executions[0][0].as_str().unwrap();
    assert!(name.starts_with("bag-drive_0001_raw-"), "{name}");
    let input: Value = serde_json::from_str(executions[0][1].as_str().unwrap()).unwrap();
    assert_eq!(input["bag"]["key"], "drives/drive_0001_raw.bag");
    assert_eq!(input["bag"]["bucket"], aws.ingest.as_str());
    assert!(input["bag"]["size"].as_u64().unwrap() > 1000);
    // Nothing ran here: no catalogue item, no table.
    assert!(aws.catalogue().is_empty());
    assert!(aws.lake_files("topics/").is_empty());
}

/// The local store's items (`dynamodb/<file>`) by `bag_file/scene_id`,
/// without the attributes that name a run or a place.
fn store(root: &Path, file: &str) -> BTreeMap<String, Value> {
    const RUN_AND_PLACE: [&str; 12] = [
        "updated_at",
        "run_id",
        "work_items",
        "source_url",
        "report_url",
        "synchronized_path",
        "detections_path",
        "clip_url",
        "label_url",
        "bag_file_bucket",
        "bag_file_prefix",
        "error",
    ];
    let text = std::fs::read_to_string(root.join("dynamodb").join(file)).unwrap_or_default();
    text.lines()
        .map(|l| {
            let mut item = serde_json::from_str::<Value>(l).unwrap()["Item"].clone();
            let key = format!(
                "{}/{}",
                item["bag_file"]["S"].as_str().unwrap(),
                item["scene_id"]["S"].as_str().unwrap_or("")
            );
            for k in RUN_AND_PLACE {
                item.as_object_mut().unwrap().remove(k);
            }
            (key, item)
        })
        .collect()
}

/// The state machine itself, executed by moto's interpreter
/// (`tests/python/state_machine.py`): uploads over the threshold go through
/// the real router (each event delivered twice), the Distributed Map runs
/// the real task `bootstrap` behind a Runtime API over one-chunk items, and
/// the lake and records equal a local run's. A sqlite3 bag, which cannot be
/// cut, takes the single-item path; a file that is not a bag fails through
/// the failure path and is marked `FAILED`.
#[test]
fn the_state_machine_runs_uploads_end_to_end_into_a_local_runs_lake() {
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bags/real");
    let work = tempfile::tempdir().unwrap();
    let garbage = work.path().join("garbage.bag");
    std::fs::write(&garbage, b"these are notes, not a bag").unwrap();
    let bags = [
        sample_bags().join("drive_0002_bz2.bag"),
        sample_bags().join("drive_0003_lz4.bag"),
        real.join("autoware_ego_odometry_humble.db3"),
        garbage,
    ];
    let out = work.path().join("sfn");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let run = Command::new("python3")
        .current_dir(&root)
        .arg("tests/python/state_machine.py")
        .arg("--bootstrap")
        .arg(env!("CARGO_BIN_EXE_bootstrap"))
        .arg("--config")
        .arg(sample_bags().join("bagpipe.toml"))
        .arg("--asl")
        .arg(root.join("infra/statemachine.asl.json"))
        .arg("--out")
        .arg(&out)
        .args(&bags)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let result: Value = serde_json::from_slice(&run.stdout).unwrap();
    let executions = result["executions"].as_array().unwrap();
    // One execution per upload, though each event came twice.
    assert_eq!(executions.len(), 4, "{result}");
    for e in executions {
        let name = e["name"].as_str().unwrap();
        let want = if name.starts_with("bag-garbage-") {
            "FAILED"
        } else {
            "SUCCEEDED"
        };
        assert_eq!(e["status"], want, "{e}\n{stderr}");
    }
    let calls = &result["invocations"];
    assert_eq!(calls["upload"], 8, "{result}");
    assert_eq!(calls["plan"], 4, "{result}");
    assert_eq!(calls["finish"], 3, "{result}");
    assert_eq!(calls["fail"], 1, "{result}");
    // The two ROS1 bags are cut into one-chunk items, the sqlite3 one not.
    assert!(calls["work"].as_u64().unwrap() >= 7, "{result}");

    let lake = out.join("lake");
    let local = local_run_of(&bags);
    for bag in [
        "drive_0002_bz2",
        "drive_0003_lz4",
        "autoware_ego_odometry_humble",
    ] {
        let (got, want) = (
            partition_rows(&lake, bag),
            partition_rows(local.path(), bag),
        );
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{bag}"
        );
        for (dir, rows) in &want {
            if !dir.starts_with("scenes/") {
                assert!(got[dir] == *rows, "{dir} differs from a local run's");
            }
        }
    }
    for file in ["bags.jsonl", "scenes.jsonl"] {
        let (got, want) = (store(&lake, file), store(local.path(), file));
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{file}"
        );
        for (key, item) in &want {
            assert_eq!(&got[key], item, "{file}: {key}");
        }
    }
    let failed = &store(&lake, "bags.jsonl")["garbage/"];
    assert_eq!(failed["status"]["S"], "FAILED");
    let text = std::fs::read_to_string(lake.join("dynamodb/bags.jsonl")).unwrap();
    assert!(text.contains("not a ROS bag"), "{text}");
    assert!(!lake.join("_runs").exists(), "the runs' state is removed");
}
