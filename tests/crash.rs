//! Crash safety: `bagpipe run` killed with SIGKILL at random points while
//! it writes a lake, again and again into the same lake, then run to the
//! end, leaves exactly the lake and catalogue of a clean run: the same
//! files byte for byte (no duplicate rows, no missing partition), no
//! temporary file, every bag `DONE`.
//!
//! The kill points are drawn from a seed printed with every failure;
//! `BAGPIPE_CRASH_SEED=<n>` replays one. (The same test against S3 and
//! DynamoDB is in `aws.rs`.)

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{catalog, files_under, sample_run, show, store_items};

/// Runs killed before the one that completes.
pub const KILLS: usize = 16;

/// A small xorshift generator: the kill points, reproducible from a seed.
pub struct KillPoints {
    state: u64,
    pub seed: u64,
}

impl KillPoints {
    /// From `BAGPIPE_CRASH_SEED`, else from the clock.
    pub fn new() -> KillPoints {
        let seed = std::env::var("BAGPIPE_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        KillPoints {
            state: seed | 1,
            seed,
        }
    }

    /// A delay in `[0, span)`.
    pub fn next(&mut self, span: Duration) -> Duration {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        span.mul_f64((self.state >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// Starts `cmd`, kills it (SIGKILL) after `delay` if it still runs, and
/// says whether it was killed; a run that ended first shortens `span` to
/// its own length, so later kill points fall inside a run even when the
/// clean run that measured the span was slowed by a busy machine.
pub fn run_and_kill(cmd: &mut Command, delay: Duration, span: &mut Duration) -> bool {
    let started = Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("bagpipe starts");
    let deadline = Instant::now() + delay;
    loop {
        if child.try_wait().unwrap().is_some() {
            *span = (*span).min(started.elapsed());
            return false;
        }
        if Instant::now() >= deadline {
            // `Child::kill` sends SIGKILL: no destructor, no cleanup runs.
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Attributes of the catalogue and scene items that differ between any
/// two runs (the time, the run) or lakes (the paths of the outputs).
const TIME_AND_LAKE: [&str; 7] = [
    "updated_at",
    "run_id",
    "synchronized_path",
    "detections_path",
    "clip_url",
    "label_url",
    "report_url",
];

#[test]
fn a_run_killed_at_random_points_then_rerun_leaves_exactly_a_clean_runs_lake() {
    let clean = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = sample_run(clean.path()).output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let mut span = started.elapsed();

    let crashed = tempfile::tempdir().unwrap();
    let mut points = KillPoints::new();
    let seed = points.seed;
    let mut killed = 0;
    for _ in 0..KILLS {
        let delay = points.next(span);
        if run_and_kill(&mut sample_run(crashed.path()), delay, &mut span) {
            killed += 1;
        }
    }
    assert!(
        killed >= KILLS / 2,
        "seed {seed}: only {killed} of {KILLS} runs were killed before they ended"
    );
    let out = sample_run(crashed.path()).output().unwrap();
    assert!(out.status.success(), "seed {seed}: {}", show(&out));

    let files = files_under(crashed.path());
    let reference = files_under(clean.path());
    assert!(
        files
            .iter()
            .all(|f| !f.contains("/.tmp-") && !f.starts_with(".tmp-")),
        "seed {seed}: temporary files left: {files:?}"
    );
    assert_eq!(
        files, reference,
        "seed {seed}: not the files of a clean run"
    );
    for name in reference.iter().filter(|f| !f.starts_with("dynamodb/")) {
        // The scenes table names where the outputs are, in the lake's own
        // path; its other columns are the scene items compared below.
        if name.starts_with("scenes/") {
            continue;
        }
        assert!(
            std::fs::read(crashed.path().join(name)).unwrap()
                == std::fs::read(clean.path().join(name)).unwrap(),
            "seed {seed}: {name} differs from a clean run's"
        );
    }
    for store in ["bags.jsonl", "scenes.jsonl"] {
        assert_eq!(
            store_items(crashed.path(), store, &TIME_AND_LAKE),
            store_items(clean.path(), store, &TIME_AND_LAKE),
            "seed {seed}: {store}"
        );
    }
    let bags = catalog(crashed.path());
    // Three ROS1 drives and the ROS 2 one.
    assert_eq!(bags.len(), 4);
    for (bag, item) in &bags {
        assert_eq!(item["status"]["S"], "DONE", "seed {seed}: {bag}");
    }
}
