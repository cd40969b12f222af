//! Scene exports and the bag report, each checked by a tool nobody here
//! wrote (`tests/python/check_*.py`): clips by the `mcap` readers and
//! decoders against the bag read with `rosbags`; labels by the OpenLABEL
//! 1.0.0 schema and `openlabel-checker` against the lake read with
//! pyarrow; scenario skeletons by the OpenSCENARIO 1.2 XSD and ASAM's
//! `qc_openscenario`; reports in a real headless browser (Debian
//! `chromium`). Plus what a user checks by hand: the records name files
//! that exist, a re-run replaces the exports exactly, and a bag without a
//! camera, a GPS or scenes still gets a report that says so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::*;

/// A config file: the sample config plus `extra` TOML.
fn config_with(dir: &Path, extra: &str) -> PathBuf {
    let base = std::fs::read_to_string(sample_bags().join("bagpipe.toml")).unwrap();
    let path = dir.join("bagpipe.toml");
    std::fs::write(&path, format!("{base}\n{extra}\n")).unwrap();
    path
}

/// `bagpipe run --quiet --config CONFIG --out OUT INPUTS...`, which must
/// succeed.
fn run_ok(config: &Path, out: &Path, inputs: &[&Path]) {
    let mut cmd = bagpipe();
    cmd.args(["run", "--quiet", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .args(inputs);
    let output = cmd.output().unwrap();
    assert!(output.status.success(), "{}", show(&output));
}

/// The scene records of a lake, by scene_id.
fn scenes(out: &Path) -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(out.join("dynamodb/scenes.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["Item"].clone())
        .map(|i| (i["scene_id"]["S"].as_str().unwrap().to_string(), i))
        .collect()
}

fn s(item: &Value, key: &str) -> String {
    item[key]["S"].as_str().unwrap_or_default().to_string()
}

fn n(item: &Value, key: &str) -> i64 {
    item[key]["N"].as_str().unwrap().parse().unwrap()
}

/// The local path of a `file://` URL.
fn path_of(url: &str) -> PathBuf {
    let p = url.strip_prefix("file://").expect("a file:// URL");
    PathBuf::from(
        percent_encoding::percent_decode_str(p)
            .decode_utf8()
            .unwrap()
            .to_string(),
    )
}

/// Runs a checker script; it must exit 0 and print `OK`.
fn check(script: &str, args: &[String]) -> String {
    let out = python()
        .arg(format!("tests/python/{script}"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("python3 runs {script}: {e}"));
    let text = show(&out);
    assert!(out.status.success(), "{script} {}:\n{text}", args.join(" "));
    text
}

/// Checks every scene's clip and label, every scenario skeleton, and the
/// report of each bag, against `inputs` (bag_file to the path it came
/// from); returns the checker outputs.
fn check_exports(
    out: &Path,
    inputs: &BTreeMap<String, PathBuf>,
    pad_ms: u64,
    xosc: bool,
) -> String {
    let mut log = String::new();
    let records = scenes(out);
    assert!(!records.is_empty(), "no scenes to check");
    let mut scenarios = Vec::new();
    for (id, item) in &records {
        let bag_file = s(item, "bag_file");
        let clip = path_of(&s(item, "clip_url"));
        let label = path_of(&s(item, "label_url"));
        assert_eq!(
            clip,
            out.join(format!("exports/{bag_file}/{id}.mcap")),
            "clip_url names the clip's place"
        );
        assert!(clip.exists() && label.exists(), "{id}: the exports exist");
        log += &check(
            "check_clip.py",
            &[
                "--bag".into(),
                inputs[&bag_file].to_string_lossy().into(),
                "--clip".into(),
                clip.to_string_lossy().into(),
                "--start".into(),
                n(item, "start_time_ns").to_string(),
                "--end".into(),
                n(item, "end_time_ns").to_string(),
                "--pad-ms".into(),
                pad_ms.to_string(),
            ],
        );
        log += &check(
            "check_label.py",
            &[
                label.to_string_lossy().into(),
                "--lake".into(),
                out.to_string_lossy().into(),
                "--bag".into(),
                bag_file.clone(),
                "--scene".into(),
                id.clone(),
            ],
        );
        let xosc_path = out.join(format!("exports/{bag_file}/{id}.xosc"));
        assert_eq!(xosc_path.exists(), xosc, "{id}: xosc written iff asked for");
        if xosc {
            scenarios.push(xosc_path.to_string_lossy().to_string());
        }
    }
    if !scenarios.is_empty() {
        log += &check("check_xosc.py", &scenarios);
    }
    let bags = catalog(out);
    for (bag_file, item) in &bags {
        let report = path_of(item["report_url"]["S"].as_str().expect("a report_url"));
        assert_eq!(report, out.join(format!("reports/{bag_file}.html")));
        let count = records
            .values()
            .filter(|r| &s(r, "bag_file") == bag_file)
            .count();
        let topics = item["topics"]["M"].as_object().map_or(0, |m| m.len());
        log += &check(
            "check_report.py",
            &[
                report.to_string_lossy().into(),
                "--scenes".into(),
                count.to_string(),
                "--topics".into(),
                topics.to_string(),
            ],
        );
    }
    log += &check(
        "check_report.py",
        &[
            out.join("reports/index.html").to_string_lossy().into(),
            "--scenes".into(),
            "0".into(),
            "--topics".into(),
            "0".into(),
        ],
    );
    log
}

/// The sample inputs by bag_file.
fn sample_inputs() -> BTreeMap<String, PathBuf> {
    [
        "drive_0001_raw.bag",
        "drive_0002_bz2.bag",
        "drive_0003_lz4.bag",
        "drive_0004_ros2",
    ]
    .iter()
    .map(|name| {
        let bag_file = name.trim_end_matches(".bag").to_string();
        (bag_file, sample_bags().join(name))
    })
    .collect()
}

#[test]
fn the_sample_bags_exports_pass_the_independent_checkers() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(dir.path(), "[export]\nopenscenario = true\n");
    let out = dir.path().join("lake");
    run_ok(&config, &out, &[&sample_bags()]);
    let log = check_exports(&out, &sample_inputs(), 2000, true);
    // The sample drives' scenes: 4 + 5 + 4 + 4 clips, labels, skeletons.
    assert_eq!(log.matches("OK ").count(), 17 * 3 + 4 + 1, "{log}");
    // The records in the scenes table name the same files as the store.
    let rows = duckdb(&format!(
        "SELECT count(*) FROM read_parquet('{}/scenes/*/*.parquet') WHERE clip_url LIKE 'file://%.mcap' AND label_url LIKE 'file://%.openlabel.json'",
        out.display()
    ));
    assert_eq!(rows[0][0], 17);
}

#[test]
fn a_rerun_replaces_the_exports_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lake");
    let bag = sample_bags().join("drive_0001_raw.bag");
    let first = config_with(dir.path(), "[export]\nopenscenario = true\n");
    run_ok(&first, &out, &[&bag]);
    let exported = |out: &Path| -> BTreeSet<String> {
        let dir = out.join("exports/drive_0001_raw");
        if dir.exists() {
            files_under(&dir).into_iter().collect()
        } else {
            BTreeSet::new()
        }
    };
    assert_eq!(exported(&out).len(), 4 * 3);
    let clip_bytes = |out: &Path| {
        exported(out)
            .iter()
            .filter(|f| f.ends_with(".mcap"))
            .map(|f| std::fs::read(out.join("exports/drive_0001_raw").join(f)).unwrap())
            .collect::<Vec<_>>()
    };
    let before = clip_bytes(&out);
    // The same run again writes the same bytes.
    run_ok(&first, &out, &[&bag]);
    assert_eq!(clip_bytes(&out), before, "a re-run writes the same clips");

    // Fewer scenes, no skeletons, no labels: only the kept scenes' clips
    // remain, and the records say so.
    let dir2 = tempfile::tempdir().unwrap();
    let second = config_with(dir2.path(), "[export]\nlabels = false\n");
    let text = std::fs::read_to_string(&second)
        .unwrap()
        .replace("[scenes]\n", "[scenes]\nmin_scene_ms = 2000\n");
    std::fs::write(&second, text).unwrap();
    run_ok(&second, &out, &[&bag]);
    let records = scenes(&out);
    assert!(!records.is_empty() && records.len() < 4, "{records:?}");
    let expected: BTreeSet<String> = records.keys().map(|id| format!("{id}.mcap")).collect();
    assert_eq!(exported(&out), expected);
    for item in records.values() {
        assert!(item.get("label_url").is_none(), "no label, no label_url");
        assert!(path_of(&s(item, "clip_url")).exists());
    }

    // Exports off: nothing left of them, the report stays.
    let third = config_with(dir2.path(), "[export]\nclips = false\nlabels = false\n");
    run_ok(&third, &out, &[&bag]);
    assert!(exported(&out).is_empty());
    assert!(scenes(&out).values().all(|i| i.get("clip_url").is_none()));
    assert!(out.join("reports/drive_0001_raw.html").exists());
}

/// Real bags with a camera, a GPS, or neither, and none of the configured
/// detections: each report says what is missing, and passes the browser
/// check with no scene.
#[test]
fn bags_without_scenes_camera_or_gps_get_reports_that_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lake");
    let bags = [
        real_bag("raspicam_compressed_images.bag"),
        real_bag("gps_navsatfix.bag"),
        real_bag("marker_cube.bag"),
    ];
    let inputs: Vec<&Path> = bags.iter().map(PathBuf::as_path).collect();
    let config = config_with(dir.path(), "");
    run_ok(&config, &out, &inputs);
    let bags = catalog(&out);
    assert_eq!(bags.len(), 3);
    for (bag_file, item) in &bags {
        let report = path_of(item["report_url"]["S"].as_str().unwrap());
        let html = std::fs::read_to_string(&report).unwrap();
        assert!(html.contains("No scenes found"), "{bag_file}");
        let has_gps = bag_file == "gps_navsatfix";
        assert_eq!(!html.contains("No GPS topic"), has_gps, "{bag_file}");
        let has_camera = bag_file == "raspicam_compressed_images";
        assert_eq!(!html.contains("No camera topic"), has_camera, "{bag_file}");
        let topics = item["topics"]["M"].as_object().unwrap().len();
        check(
            "check_report.py",
            &[
                report.to_string_lossy().into(),
                "--scenes".into(),
                "0".into(),
                "--topics".into(),
                topics.to_string(),
            ],
        );
    }
    assert!(!out.join("exports").exists() || files_under(&out.join("exports")).is_empty());
}

/// A bag (drive_0001 rewritten by rosbags) with one more connection whose
/// definition names a type it does not define: its clips leave that topic
/// out with one warning, and everything else checks.
#[test]
fn a_connection_with_an_unusable_definition_is_left_out_of_the_clips() {
    let dir = tempfile::tempdir().unwrap();
    let bag = dir.path().join("drive_broken_def.bag");
    let script = r#"
import sys
from rosbags.rosbag1 import Reader, Writer
src, dst = sys.argv[1], sys.argv[2]
with Reader(src) as r, Writer(dst) as w:
    conns = {}
    for c in r.connections:
        conns[c.id] = w.add_connection(c.topic, c.msgtype, msgdef=c.msgdef.data, md5sum=c.digest,
                                       callerid=c.ext.callerid, latching=c.ext.latching)
    broken = w.add_connection('/broken', 'custom_msgs/msg/Broken', msgdef='int32 x\nmissing_pkg/Nope y\n',
                              md5sum='0123456789abcdef0123456789abcdef')
    first = True
    for c, t, data in r.messages():
        w.write(conns[c.id], t, data)
        if first or t % 1000 == 0:
            w.write(broken, t, b'\x01\x00\x00\x00')
            first = False
"#;
    let out = python()
        .args(["-c", script])
        .arg(sample_bags().join("drive_0001_raw.bag"))
        .arg(&bag)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let lake = dir.path().join("lake");
    run_ok(&config_with(dir.path(), ""), &lake, &[&bag]);
    let item = &catalog(&lake)["drive_broken_def"];
    let left_out: Vec<String> = warnings(item)
        .into_iter()
        .filter(|w| w.starts_with("clips leave out topic /broken"))
        .collect();
    assert_eq!(left_out.len(), 1, "{:?}", warnings(item));
    let inputs = BTreeMap::from([("drive_broken_def".to_string(), bag.clone())]);
    let log = check_exports(&lake, &inputs, 2000, false);
    assert!(log.contains("note:") && log.contains("/broken"), "{log}");
}

/// The camera drives (`sample-bags/generate.py --camera-drives`): drive
/// 0001's story with a JPEG camera and a latched calibration (ROS1), and
/// with a raw mono8 camera and a transient_local calibration (ROS 2).
/// Every clip holds the latched message, every card the camera frame, and
/// everything checks; the report's screenshot is kept in `target/` (the
/// README's picture).
#[test]
fn camera_drives_give_frames_in_the_report_and_latched_messages_in_every_clip() {
    let dir = tempfile::tempdir().unwrap();
    let drives = dir.path().join("drives");
    let out = python()
        .arg("sample-bags/generate.py")
        .arg("--camera-drives")
        .arg(&drives)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let inputs = BTreeMap::from([
        (
            "drive_0005_camera".to_string(),
            drives.join("drive_0005_camera.bag"),
        ),
        (
            "drive_0006_camera_ros2".to_string(),
            drives.join("drive_0006_camera_ros2"),
        ),
    ]);
    let lake = dir.path().join("lake");
    let config = config_with(dir.path(), "[export]\nopenscenario = true\n");
    let paths: Vec<&Path> = inputs.values().map(PathBuf::as_path).collect();
    run_ok(&config, &lake, &paths);
    let log = check_exports(&lake, &inputs, 2000, true);
    // 4 scenes per drive; the calibration is sent once, at the start, so
    // every clip holds it as a latched message (the ROS 2 drive's
    // transient_local /driver/annotation adds one to its later clips).
    let latched = log
        .lines()
        .filter(|l| l.starts_with("OK") && l.ends_with(" latched") && !l.ends_with(", 0 latched"))
        .count();
    assert_eq!(latched, 8, "{log}");
    for (bag_file, camera) in [
        ("drive_0005_camera", "/rgb_front_right/image_raw/compressed"),
        ("drive_0006_camera_ros2", "/rgb_front_right/image_raw"),
    ] {
        let html = std::fs::read_to_string(lake.join(format!("reports/{bag_file}.html"))).unwrap();
        assert_eq!(
            html.matches("data:image/jpeg;base64,").count(),
            4,
            "{bag_file}: a frame per scene card"
        );
        assert!(html.contains(camera), "{bag_file} names its camera topic");
    }
    // The README's picture: the ROS1 camera drive's report.
    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/report-drive_0005_camera.png");
    check(
        "check_report.py",
        &[
            lake.join("reports/drive_0005_camera.html")
                .to_string_lossy()
                .into(),
            "--scenes".into(),
            "4".into(),
            "--topics".into(),
            "8".into(),
            "--screenshot".into(),
            shot.to_string_lossy().into(),
            // Tall enough to show the first scene cards' frames.
            "--height".into(),
            "3300".into(),
        ],
    );
}

/// The checkers themselves: each passes its good fixtures and fails its
/// broken ones (a missing message, a swapped pair, a wrong flag, a schema
/// violation, a script in a report...), so a green export test means the
/// checks could have failed.
#[test]
fn the_checkers_fail_on_broken_exports() {
    let out = python()
        .arg("tests/python/exports_selftest.py")
        .output()
        .unwrap();
    let text = show(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(" 0 failed"), "{text}");
    assert!(!text.contains("skipped"), "no case may be skipped: {text}");
}
