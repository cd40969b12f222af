//! Names the contract derives from inputs: a bag's `bag_file`, a topic's
//! table name, and the md5 suffixes that keep tables apart.

use md5::{Digest, Md5};

/// Extensions stripped from a bag's file name to form its `bag_file`.
pub const BAG_EXTENSIONS: [&str; 3] = [".bag", ".mcap", ".db3"];

/// `bag_file` of an input: its file name without directory and extension,
/// every character outside `[A-Za-z0-9._-]` replaced by `_`.
///
/// `s3://ingest/drive 4/run_0012.bag` gives `run_0012`.
pub fn bag_file(source: &str) -> String {
    let name = source.rsplit('/').next().unwrap_or(source);
    let stem = BAG_EXTENSIONS
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .unwrap_or(name);
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
