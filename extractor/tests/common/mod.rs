//! What the extractor's integration tests share: the sample and real bags
//! beside the checkout, opened as container inputs.

use std::path::{Path, PathBuf};

use extractor::container::{self, Input};
use extractor::source::FileSource;

/// The storage files of a bag file or a rosbag2 directory, as inputs.
pub fn inputs(path: &Path) -> Vec<Input> {
    let mut files: Vec<PathBuf> = if path.is_dir() {
        std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| container::is_bag_name(&p.to_string_lossy()))
            .collect()
    } else {
        vec![path.to_path_buf()]
    };
    files.sort();
    files
        .into_iter()
        .map(|p| {
            Input::new(
                p.file_name().unwrap().to_string_lossy(),
                Box::new(FileSource::open(&p).unwrap()),
            )
        })
        .collect()
}

/// Every bag file and rosbag2 directory of `sample-bags/` and
/// `../shared/bags/real`, in path order.
pub fn sample_and_real_bags() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut bags: Vec<PathBuf> = Vec::new();
    for dir in ["sample-bags", "../shared/bags/real"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            let name = p.to_string_lossy().to_string();
            if container::is_bag_name(&name) || p.join("metadata.yaml").exists() {
                bags.push(p);
            }
        }
    }
    bags.sort();
    bags
}
