//! rosbag2 directories: `metadata.yaml` (versions 1 to 9) and the storage
//! files it lists, or, when a recorder stopped before writing it, the files
//! named `<directory>_<N>.<ext>` in `N` order.
//!
//! `metadata.yaml` is a hint: it says which files make the bag and in what
//! order, and which distribution recorded it; counts, times, types and
//! encodings come from the storage files (in our test set it is wrong
//! about times in one bag and about encodings in another). This module
//! plans a directory from the names in it; the caller lists the directory
//! (a local one, or a prefix on S3) and opens the files.

use serde::Deserialize;

/// The name of a rosbag2 directory's metadata file.
pub const METADATA_FILE: &str = "metadata.yaml";

/// What bagpipe reads of `metadata.yaml`; everything else is ignored.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Metadata {
    pub version: Option<u32>,
    pub storage_identifier: Option<String>,
    pub relative_file_paths: Vec<String>,
    /// Version 8 and later.
    pub ros_distro: Option<String>,
    pub compression_format: Option<String>,
    pub compression_mode: Option<String>,
    pub message_count: Option<u64>,
}

#[derive(Deserialize)]
struct Root {
    rosbag2_bagfile_information: Metadata,
}

/// Parses `metadata.yaml` text (or the copy rosbag2 keeps in an MCAP
/// metadata record or the sqlite3 `metadata` table).
pub fn parse_metadata(text: &str) -> Result<Metadata, String> {
    let root: Root = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    let mut m = root.rosbag2_bagfile_information;
    // Versions before 4 may carry a directory prefix; the file is beside
    // metadata.yaml either way.
    for p in &mut m.relative_file_paths {
        if let Some(name) = p.rsplit('/').next() {
            *p = name.to_string();
        }
    }
    m.ros_distro = m.ros_distro.filter(|d| !d.trim().is_empty());
    Ok(m)
}

/// Whether a file name is one a rosbag2 storage file (or a bag) can have.
pub fn is_storage_name(name: &str) -> bool {
    let name = name.strip_suffix(".zstd").unwrap_or(name);
    name.ends_with(".mcap") || name.ends_with(".db3")
}

/// `N` when `name` is `<dir>_<N>.<ext>`, the name rosbag2 gives the parts
/// of a bag in directory `dir`.
pub fn part_number(dir: &str, name: &str) -> Option<u64> {
    if !is_storage_name(name) {
        return None;
    }
    let stem = name.strip_prefix(dir)?.strip_prefix('_')?;
    let digits = stem.split('.').next()?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether a directory holding `names` is a rosbag2 bag: it has a
/// `metadata.yaml`, or storage files named after it.
pub fn is_bag_directory(dir: &str, names: &[String]) -> bool {
    names
        .iter()
        .any(|n| n == METADATA_FILE || part_number(dir, n).is_some())
}

/// How to read a rosbag2 directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The storage files to read, in order.
    pub files: Vec<String>,
    /// What the directory gets wrong (a missing metadata.yaml or part).
    pub warnings: Vec<String>,
    /// `metadata.yaml`, when it parsed.
    pub metadata: Option<Metadata>,
}

/// Plans the bag in directory `dir` (its own name) from its
/// `metadata.yaml` (if any) and the names of the files in it. Fails only
/// when no storage file is there to read.
pub fn plan(dir: &str, metadata: Option<&str>, present: &[String]) -> Result<Plan, String> {
    let mut warnings = Vec::new();
    let parsed = match metadata {
        Some(text) => match parse_metadata(text) {
            Ok(m) => Some(m),
            Err(e) => {
                warnings.push(format!(
                    "{METADATA_FILE} does not parse ({e}); the storage files named {dir}_<N> are read in N order"
                ));
                None
            }
        },
        None => None,
    };
    let mut files = Vec::new();
    if let Some(m) = &parsed {
        for name in &m.relative_file_paths {
            if files.contains(name) {
                // Listed twice: read once.
                continue;
            }
            if present.contains(name) {
                files.push(name.clone());
            } else {
                warnings.push(format!(
                    "storage file {name}, listed in {METADATA_FILE}, is missing; the bag is read from the files present"
                ));
            }
        }
    }
    if files.is_empty() {
        let mut parts: Vec<(u64, &String)> = present
            .iter()
            .filter_map(|n| Some((part_number(dir, n)?, n)))
            .collect();
        parts.sort();
        if metadata.is_none() && !parts.is_empty() {
            warnings.push(format!(
                "no {METADATA_FILE} (a recorder that stopped?): the storage files named {dir}_<N> are read in N order"
            ));
        }
        files = parts.into_iter().map(|(_, n)| n.clone()).collect();
        if files.is_empty() {
            // Storage files under other names: in name order.
            let mut others: Vec<String> = present
                .iter()
                .filter(|n| is_storage_name(n))
                .cloned()
                .collect();
            others.sort();
            files = others;
        }
    }
    if files.is_empty() {
        return Err(format!(
            "the rosbag2 directory {dir} holds no storage file (.mcap or .db3) to read"
        ));
    }
    Ok(Plan {
        files,
        warnings,
        metadata: parsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: &str = r#"rosbag2_bagfile_information:
  version: 4
  storage_identifier: mcap
  relative_file_paths:
    - talker/talker.mcap
  duration:
    nanoseconds: 3
  topics_with_message_count:
    - topic_metadata:
        name: /topic
        type: std_msgs/msg/String
        serialization_format: cdr
        offered_qos_profiles: "- history: 3\n  depth: 0\n  reliability: 1\n  deadline:\n    sec: 2147483647\n    nsec: \
          4294967295\n"
      message_count: 10
  compression_format: ""
  compression_mode: ""
"#;

    #[test]
    fn parses_old_and_new_metadata() {
        let m = parse_metadata(V4).unwrap();
        assert_eq!(m.version, Some(4));
        assert_eq!(m.relative_file_paths, ["talker.mcap"]);
        assert_eq!(m.ros_distro, None);
        let v9 = "rosbag2_bagfile_information:\n  version: 9\n  relative_file_paths: [a_0.mcap, a_1.mcap]\n  \
                  ros_distro: jazzy\n  topics_with_message_count:\n    - topic_metadata:\n        offered_qos_profiles:\n          - history: keep_last\n";
        let m = parse_metadata(v9).unwrap();
        assert_eq!(m.ros_distro.as_deref(), Some("jazzy"));
        assert_eq!(m.relative_file_paths.len(), 2);
        assert!(parse_metadata("not: [yaml").is_err());
        assert!(parse_metadata("other: 1").is_err());
    }

    #[test]
    fn plans_directories() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let meta =
            "rosbag2_bagfile_information:\n  relative_file_paths: [b_0.mcap, b_1.mcap, b_2.mcap]\n";
        let p = plan(
            "b",
            Some(meta),
            &names(&["b_0.mcap", "b_2.mcap", "metadata.yaml"]),
        )
        .unwrap();
        assert_eq!(p.files, ["b_0.mcap", "b_2.mcap"]);
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].contains("b_1.mcap"), "{:?}", p.warnings);
        // No metadata.yaml: parts in N order, not name order.
        let p = plan(
            "b",
            None,
            &names(&["b_10.db3", "b_2.db3", "b_1.db3.zstd", "x.txt"]),
        )
        .unwrap();
        assert_eq!(p.files, ["b_1.db3.zstd", "b_2.db3", "b_10.db3"]);
        assert!(p.warnings[0].contains("no metadata.yaml"));
        // Broken metadata: parts, with a warning.
        let p = plan("b", Some(": :"), &names(&["b_0.mcap"])).unwrap();
        assert_eq!(p.files, ["b_0.mcap"]);
        assert!(p.warnings[0].contains("does not parse"));
        assert!(plan("b", None, &names(&["x.txt"])).is_err());
        assert!(is_bag_directory("b", &names(&["b_0.mcap"])));
        assert!(!is_bag_directory("b", &names(&["c_0.mcap"])));
        assert_eq!(part_number("run_7", "run_7_12.mcap.zstd"), Some(12));
        assert_eq!(part_number("run_7", "run_7.mcap"), None);
    }
}

#[cfg(test)]
mod sample_tests {
    #[test]
    fn the_sample_drives_metadata_parses_with_its_distro() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../sample-bags/drive_0004_ros2/metadata.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let m = super::parse_metadata(&text).unwrap();
        assert_eq!(m.ros_distro.as_deref(), Some("rosbags"));
    }
}
