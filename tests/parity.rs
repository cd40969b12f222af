//! Parity with an independent decoder: every message of every topic of
//! every ROS1 bag in `../shared/bags/real` and `sample-bags/`, as bagpipe
//! wrote it to Parquet, equals what the Python `rosbags` library decodes
//! (`tests/parity/rosbags_parity.py` does the comparison).

use std::path::PathBuf;

use crate::util::*;

fn check(bags: &[PathBuf]) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let args: Vec<&str> = bags.iter().map(|b| b.to_str().unwrap()).collect();
    let out = run(root, &args);
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "{}",
        show(&out)
    );
    let checked = python()
        .arg("tests/parity/rosbags_parity.py")
        .arg("--lake")
        .arg(root)
        .args(&args)
        .output()
        .expect("python3 runs (pip install rosbags pyarrow)");
    assert!(
        checked.status.success(),
        "parity failed:\n{}",
        show(&checked)
    );
    let report = String::from_utf8_lossy(&checked.stdout);
    eprintln!("{report}");
}

#[test]
fn real_bags_match_rosbags() {
    check(&real_ros1_bags());
}

#[test]
fn sample_bags_match_rosbags() {
    let mut bags: Vec<PathBuf> = std::fs::read_dir(sample_bags())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bag"))
        .collect();
    bags.sort();
    assert!(
        bags.len() >= 3,
        "sample-bags/ holds the raw, bz2 and lz4 bags"
    );
    check(&bags);
}
