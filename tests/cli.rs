//! The command line at its boundary: exit codes, usage errors, the
//! `bag_file` conflict rule, `inspect`.

use crate::util::*;

#[test]
fn usage_errors_exit_2_before_any_bag_runs() {
    let dir = tempfile::tempdir().unwrap();
    let bag = real_bag("gps_navsatfix.bag");
    // No --out.
    let out = bagpipe()
        .args(["run", bag.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--out"));
    // An unknown key, named.
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[sync]\ninterval_msec = 10\n").unwrap();
    let root = dir.path().join("lake");
    let out = run(
        &root,
        &["--config", config.to_str().unwrap(), bag.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interval_msec"),
        "{}",
        show(&out)
    );
    assert!(catalog(&root).is_empty(), "no bag ran");
    // An invalid value, named.
    std::fs::write(&config, "[scenes.lanes]\npoints = \"\"\n").unwrap();
    let out = run(
        &root,
        &["--config", config.to_str().unwrap(), bag.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("scenes.lanes.points"));
    // A missing input.
    let out = run(&root, &["/no/such/bag.bag"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/bag.bag"));
}

#[test]
fn help_teaches_the_commands() {
    let out = bagpipe().args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in ["--out", "--config", "Exit status", "bag_file=", "Example"] {
        assert!(help.contains(needle), "run --help lacks {needle}:\n{help}");
    }
}

#[test]
fn a_second_source_with_the_same_bag_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::copy(real_bag("gps_navsatfix.bag"), a.join("drive.bag")).unwrap();
    std::fs::copy(real_bag("rovio_transformstamped.bag"), b.join("drive.bag")).unwrap();
    let root = dir.path().join("lake");
    let out = run(&root, &[a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a/drive.bag") && stderr.contains("b/drive.bag"),
        "{stderr}"
    );
    let cat = catalog(&root);
    assert_eq!(cat.len(), 1);
    assert!(
        cat["drive"]["source_url"]["S"]
            .as_str()
            .unwrap()
            .ends_with("/a/drive.bag")
    );
    assert_eq!(cat["drive"]["status"]["S"], "DONE");
    let parts = files_under(&root.join("topics"));
    assert_eq!(parts, ["gps_fix/bag_file=drive/part-00000.parquet"]);

    // A later run with the other source is refused too, the first untouched.
    let out = run(&root, &[b.join("drive.bag").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("conflict"));
    assert_eq!(files_under(&root.join("topics")), parts);
    assert!(
        catalog(&root)["drive"]["source_url"]["S"]
            .as_str()
            .unwrap()
            .ends_with("/a/drive.bag")
    );
}

#[test]
fn sources_are_found_recursively_in_byte_order() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(input.join("B/sub")).unwrap();
    std::fs::create_dir_all(input.join("a")).unwrap();
    std::fs::copy(real_bag("gps_navsatfix.bag"), input.join("B/sub/x y.bag")).unwrap();
    std::fs::copy(real_bag("marker_cube.bag"), input.join("a/z.bag")).unwrap();
    std::fs::write(input.join("a/notes.txt"), "not a bag").unwrap();
    let root = dir.path().join("lake");
    let out = run(&root, &[input.to_str().unwrap()]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let x = stdout.find("x_y").unwrap();
    let z = stdout.find("\nz ").unwrap();
    assert!(x < z, "B/ sorts before a/ in byte order:\n{stdout}");
    let url = catalog(&root)["x_y"]["source_url"]["S"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        url.starts_with("file:///") && url.ends_with("/B/sub/x%20y.bag"),
        "{url}"
    );
}

#[test]
fn inspect_summarises_a_bag() {
    let out = bagpipe()
        .args([
            "inspect",
            "--scan",
            real_bag("sick_radar_lidar_nested_bz2.bag")
                .to_str()
                .unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "bz2 [2/2 chunks]",
        "messages:    518",
        "/radar",
        "sick_scan/RadarScan",
        "/diagnostics",
        "(2 connections)",
        "2022-09-23 10:39:45",
        "scan:        2 chunks (0 failed), 518 messages",
    ] {
        assert!(text.contains(needle), "inspect lacks {needle:?}:\n{text}");
    }
    let out = bagpipe()
        .args(["inspect", real_bag("empty_file.bag").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a ROS bag"));
}
