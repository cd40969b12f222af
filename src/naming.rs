//! Names the contract derives from inputs: a bag's `bag_file`, a topic's
//! table name, and the md5 suffixes that keep tables apart.

use md5::{Digest, Md5};

pub use extractor::container::{BAG_EXTENSIONS, ZSTD_EXTENSION, is_bag_name};

/// `bag_file` of an input: its file name without directory and extension
/// (`.bag`, `.mcap`, `.db3`, each optionally followed by `.zstd`), or a
/// rosbag2 directory's own name (a key ending in `/`); every character
/// outside `[A-Za-z0-9._-]` replaced by `_`.
///
/// `s3://ingest/drive 4/run_0012.bag` gives `run_0012`.
pub fn bag_file(source: &str) -> String {
    let trimmed = source.trim_end_matches('/');
    let name = trimmed.rsplit('/').next().unwrap_or(trimmed);
    let stem = if source.ends_with('/') {
        name
    } else {
        let unzipped = name.strip_suffix(ZSTD_EXTENSION).unwrap_or(name);
        BAG_EXTENSIONS
            .iter()
            .find_map(|ext| unzipped.strip_suffix(ext))
            .unwrap_or(name)
    };
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Table name of a topic: no leading `/`, lowercase, every character
/// outside `[a-z0-9_]` replaced by `_`.
pub fn table_name(topic: &str) -> String {
    topic
        .strip_prefix('/')
        .unwrap_or(topic)
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The first 8 hex digits of an md5sum as written in a connection header.
pub fn md5_prefix(md5sum: &str) -> String {
    md5sum.chars().take(8).collect::<String>().to_lowercase()
}

/// The first 8 hex digits of the md5 of `text` (used for topic names).
pub fn md5_prefix_of(text: &str) -> String {
    let digest = Md5::digest(text.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bag_file_follows_the_contract() {
        assert_eq!(bag_file("s3://ingest/drive 4/run_0012.bag"), "run_0012");
        assert_eq!(bag_file("/data/a b+c.bag"), "a_b_c");
        assert_eq!(bag_file("x.v2.mcap"), "x.v2");
        assert_eq!(bag_file("dir/rec.db3"), "rec");
        assert_eq!(bag_file("name.bag.active"), "name.bag.active");
        assert_eq!(bag_file("ünï.bag"), "_n_");
        assert_eq!(
            bag_file("rosbag2_file_compressed.db3.zstd"),
            "rosbag2_file_compressed"
        );
        assert_eq!(bag_file("x.mcap.zstd"), "x");
        assert_eq!(bag_file("x.zstd"), "x.zstd");
        assert_eq!(bag_file("/data/rosbag2 talker/"), "rosbag2_talker");
        assert_eq!(bag_file("s3://b/drives/run_7/"), "run_7");
        assert!(is_bag_name("a.db3.zstd") && is_bag_name("a.bag") && !is_bag_name("a.yaml"));
    }

    #[test]
    fn table_name_follows_the_contract() {
        assert_eq!(
            table_name("/post_process/lane_points/rgb_front_right"),
            "post_process_lane_points_rgb_front_right"
        );
        assert_eq!(table_name("ORB-SLAM"), "orb_slam");
        assert_eq!(
            table_name("raspicam_node/camera/image/compressed"),
            "raspicam_node_camera_image_compressed"
        );
        assert_eq!(table_name("/A.b"), "a_b");
    }

    #[test]
    fn md5_prefixes() {
        assert_eq!(md5_prefix("D3812C3CBC69362B77DC0B19B345F8F5"), "d3812c3c");
        // md5("/a/b") = 6b8fb9e2...
        assert_eq!(md5_prefix_of("/a/b").len(), 8);
        assert_eq!(md5_prefix_of(""), "d41d8cd9");
    }
}
