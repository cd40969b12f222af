//! Target `metadata`: rosbag2's `metadata.yaml` (`extractor::container::
//! rosbag2`), parsed and planned against the files a directory holds.
//!
//! Input: UTF-8 text (invalid bytes replaced): the YAML.
//!
//! Properties: parsing never panics; the storage file names it gives are
//! bare names (no `/`); a plan of the directory `run` holding those files
//! and `run_0.mcap` reads only files that are there, each once, or fails
//! because there is none.

use extractor::container::rosbag2;

pub fn check(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let parsed = rosbag2::parse_metadata(&text);
    let mut present = vec!["run_0.mcap".to_string(), "metadata.yaml".to_string()];
    if let Ok(m) = &parsed {
        for name in &m.relative_file_paths {
            assert!(!name.contains('/'), "{name:?} is not a bare name");
        }
        present.extend(m.relative_file_paths.iter().take(4).cloned());
    }
    if let Ok(plan) = rosbag2::plan("run", Some(&text), &present) {
        let mut seen = std::collections::HashSet::new();
        for f in &plan.files {
            assert!(present.contains(f), "{f} is not in the directory");
            assert!(seen.insert(f), "{f} read twice");
        }
        assert!(!plan.files.is_empty());
    }
}
