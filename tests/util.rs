//! Helpers shared by the integration tests: the built binary, the bag
//! folders, the catalogue on disk, and DuckDB through Python.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The `bagpipe` binary under test.
pub fn bagpipe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bagpipe"))
}

/// Runs `bagpipe run --out ROOT ARGS...` and returns its output.
pub fn run(root: &Path, args: &[&str]) -> Output {
    let mut cmd = bagpipe();
    cmd.arg("run")
        .arg("--quiet")
        .arg("--out")
        .arg(root)
        .args(args);
    cmd.output().expect("bagpipe runs")
}

/// Exit code, stdout and stderr of an output, for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The third-party bags beside the checkout.
pub fn real_bags() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bags/real");
    assert!(
        dir.is_dir(),
        "{} is missing: the tests need ../shared beside the checkout",
        dir.display()
    );
    dir.canonicalize().unwrap()
}

/// One third-party bag.
pub fn real_bag(name: &str) -> PathBuf {
    real_bags().join(name)
}

/// Every ROS1 bag among the third-party files.
pub fn real_ros1_bags() -> Vec<PathBuf> {
    let mut bags: Vec<PathBuf> = std::fs::read_dir(real_bags())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bag"))
        .collect();
    bags.sort();
    bags
}

/// Every ROS 2 input among the third-party files (sections C and D of
/// their README): MCAP and sqlite3 files, `.zstd` files, rosbag2
/// directories.
pub fn real_ros2_inputs() -> Vec<PathBuf> {
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(real_bags())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e != "bag" && e != "md"))
        .collect();
    inputs.sort();
    inputs
}

/// The committed sample bags.
pub fn sample_bags() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-bags")
}

/// `bagpipe run --quiet --config sample-bags/bagpipe.toml --out OUT sample-bags`.
pub fn sample_run(out: &Path) -> Command {
    let mut cmd = bagpipe();
    cmd.args(["run", "--quiet", "--config"])
        .arg(sample_bags().join("bagpipe.toml"))
        .arg("--out")
        .arg(out)
        .arg(sample_bags());
    cmd
}

/// The sample bags run with their config into a new local lake.
pub fn sample_lake() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = sample_run(dir.path()).output().expect("bagpipe runs");
    assert!(out.status.success(), "{}", show(&out));
    dir
}

/// The items of a local JSONL store (`dynamodb/<file>`) keyed
/// `bag_file/scene_id`, without the attributes in `strip`.
pub fn store_items(
    root: &Path,
    file: &str,
    strip: &[&str],
) -> std::collections::BTreeMap<String, Value> {
    let text = std::fs::read_to_string(root.join("dynamodb").join(file)).unwrap();
    items_by_key(
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["Item"].clone())
            .collect(),
        strip,
    )
}

/// Items keyed `bag_file/scene_id` (DynamoDB JSON), without the
/// attributes in `strip`.
pub fn items_by_key(
    items: Vec<Value>,
    strip: &[&str],
) -> std::collections::BTreeMap<String, Value> {
    items
        .into_iter()
        .map(|mut item| {
            let bag_file = item["bag_file"]["S"]
                .as_str()
                .unwrap_or_else(|| panic!("an item without a string bag_file: {item}"));
            let key = format!(
                "{bag_file}/{}",
                item["scene_id"]["S"].as_str().unwrap_or("")
            );
            let obj = item.as_object_mut().unwrap();
            for k in strip {
                obj.remove(*k);
            }
            (key, item)
        })
        .collect()
}

/// The catalogue items of a local lake, by `bag_file`.
pub fn catalog(root: &Path) -> std::collections::BTreeMap<String, Value> {
    let text = std::fs::read_to_string(root.join("dynamodb/bags.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("catalogue lines are JSON");
            let item = v["Item"].clone();
            (item["bag_file"]["S"].as_str().unwrap().to_string(), item)
        })
        .collect()
}

/// The warnings of a catalogue item.
pub fn warnings(item: &Value) -> Vec<String> {
    item["warnings"]["L"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["S"].as_str().unwrap().to_string())
        .collect()
}

/// Prefix of the warning a bag without the configured scene topics gets
/// (most third-party bags): the contract asks for it.
pub const NO_SCENES: &str = "no scene detections:";

/// The warnings of a catalogue item other than [`NO_SCENES`].
pub fn data_warnings(item: &Value) -> Vec<String> {
    warnings(item)
        .into_iter()
        .filter(|w| !w.starts_with(NO_SCENES))
        .collect()
}

/// Python 3 with the modules the tests need; fails the test with a clear
/// message when they are missing (`.ci/run` installs them).
pub fn python() -> Command {
    let mut cmd = Command::new("python3");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// Runs a DuckDB query and returns its rows.
pub fn duckdb(sql: &str) -> Vec<Vec<Value>> {
    let out = python()
        .arg("tests/python/query.py")
        .arg(sql)
        .output()
        .expect("python3 runs (install it and `pip install duckdb`)");
    assert!(
        out.status.success(),
        "duckdb query failed: {sql}\n{}",
        show(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every file under a directory, relative to it, sorted.
pub fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().to_string());
            }
        }
    }
    out.sort();
    out
}

/// A ROS1 bag of `messages` `std_msgs/Int32` counts on `/count`, `step_ns`
/// apart, with a new chunk every 64 bytes (one message or so a chunk).
pub fn count_bag(messages: u64, step_ns: u64) -> extractor::testing::BuiltBag {
    let mut b = extractor::testing::BagBuilder::new()
        .chunk_threshold(64)
        .connection(
            0,
            "/count",
            "std_msgs/Int32",
            "da5909fbe378aeaf85e547e830cc1bb7",
            "int32 data\n",
        );
    for i in 0..messages {
        b = b.message(
            0,
            1_700_000_000_000_000_000 + i * step_ns,
            &(i as i32).to_le_bytes(),
        );
    }
    b.build_bag()
}
