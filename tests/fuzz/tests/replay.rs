//! Every fuzz target's properties on stable, without a fuzzer: over the
//! seed corpus (cut from the sample and real bags, built in memory), and
//! over every input a fuzzer once failed on, kept in `fuzz/regressions/`.

use std::fs;

use bagpipe_fuzz_props::{TARGETS, check, seeds};

#[test]
fn the_seed_corpus_covers_every_target_from_real_bags() {
    let repo = seeds::repo_root();
    let dirs = seeds::bag_dirs(&repo);
    assert_eq!(
        dirs.len(),
        2,
        "sample-bags/ and ../shared/bags/real/ beside the checkout"
    );
    let corpus = seeds::generate(&repo, &dirs).unwrap();
    let count = |t: &str| corpus[t].len();
    // Real bags hold dozens of distinct definitions and chunks; a corpus
    // this small would mean the bags were not read.
    assert!(count("msgdef") >= 40, "{} definitions", count("msgdef"));
    assert!(count("decode") >= 60, "{} messages", count("decode"));
    assert!(count("decompress") >= 30, "{} chunks", count("decompress"));
    assert!(count("bag") >= 40 && count("records") >= 100);
    assert!(count("config") >= 5 && count("s3_event") >= 10);
    // The ROS 2 files: MCAPs, their definitions and messages, the
    // directories' metadata.yaml, and every built-in type.
    assert!(count("mcap") >= 12, "{} MCAP files", count("mcap"));
    assert!(count("cdr") >= 20, "{} CDR messages", count("cdr"));
    assert!(
        count("ros2def") >= 150,
        "{} ROS 2 definitions",
        count("ros2def")
    );
    assert!(
        count("metadata") >= 8,
        "{} metadata.yaml",
        count("metadata")
    );
    for target in TARGETS {
        for seed in &corpus[target] {
            check(target, seed);
        }
    }
}

#[test]
fn every_kept_regression_passes() {
    let root = seeds::repo_root().join("fuzz/regressions");
    let mut replayed = 0;
    for target in TARGETS {
        let dir = root.join(target);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                continue;
            }
            let input = fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| check(target, &input));
            assert!(outcome.is_ok(), "{} fails again", path.display());
            replayed += 1;
        }
    }
    assert!(
        replayed > 0,
        "no regression inputs under {}",
        root.display()
    );
}
