//! Finding and opening bags: a local file or directory, `s3://bucket/key`,
//! or `s3://bucket/prefix/`. A directory (or prefix) is searched
//! recursively, in byte order of the full path, for `.bag`, `.mcap` and
//! `.db3` files (each also as `.zstd`) and for rosbag2 directories (a
//! `metadata.yaml`, or storage files named `<directory>_<N>.<ext>`), each
//! one bag whose storage files are never bags of their own.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use extractor::container::rosbag2::{self, METADATA_FILE};
use extractor::container::{self, Bag, Input, Warning};
use extractor::source::FileSource;

use crate::failure::Failure;
use crate::naming::{bag_file, is_bag_name};
use crate::storage::lake::encode_path;
use crate::storage::s3::{S3Source, S3Url};

/// One input bag: a file, or a rosbag2 directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `file:///abs/path` (percent-encoded) or `s3://bucket/key`; a
    /// directory's ends with `/`.
    pub url: String,
    /// The bucket (`""` for a local file).
    pub bucket: String,
    /// The object key, or the absolute path of a local file; a
    /// directory's ends with `/`.
    pub key: String,
    /// The local file or directory, for local sources.
    pub path: Option<PathBuf>,
    /// For a rosbag2 directory: the names of the files in it.
    pub dir_entries: Option<Vec<String>>,
}

impl Source {
    /// A local file source (the path made absolute and canonical, so the
    /// same file always gives the same `source_url`), or a rosbag2
    /// directory.
    pub fn local(path: &Path) -> io::Result<Source> {
        let abs = std::fs::canonicalize(path)?;
        if abs.is_dir() {
            let entries = dir_files(&abs)?;
            let key = format!("{}/", abs.to_string_lossy().trim_end_matches('/'));
            return Ok(Source {
                url: format!("file://{}", encode_path(&key)),
                bucket: String::new(),
                key,
                path: Some(abs),
                dir_entries: Some(entries),
            });
        }
        let key = abs.to_string_lossy().to_string();
        Ok(Source {
            url: format!("file://{}", encode_path(&key)),
            bucket: String::new(),
            key,
            path: Some(abs),
            dir_entries: None,
        })
    }

    /// An object on S3.
    pub fn s3(bucket: &str, key: &str) -> Source {
        Source {
            url: S3Url::url_of(bucket, key),
            bucket: bucket.to_string(),
            key: key.to_string(),
            path: None,
            dir_entries: None,
        }
    }

    /// A rosbag2 directory on S3 (`prefix` ends with `/`), with the names of
    /// the objects directly in it.
    pub fn s3_directory(bucket: &str, prefix: &str, entries: Vec<String>) -> Source {
        Source {
            dir_entries: Some(entries),
            ..Source::s3(bucket, prefix)
        }
    }

    /// Whether this is a rosbag2 directory.
    pub fn is_directory(&self) -> bool {
        self.dir_entries.is_some()
    }

    /// The bytes of the source, when they can be told (a file's size, an
    /// object's, a directory's files' together), for a bag that could not
    /// be opened.
    pub fn size_bytes(&self) -> Option<u64> {
        let keys: Vec<String> = match &self.dir_entries {
            None => vec![self.key.clone()],
            Some(entries) => entries.iter().map(|n| format!("{}{n}", self.key)).collect(),
        };
        let mut total = 0;
        for key in keys {
            total += if self.bucket.is_empty() {
                std::fs::metadata(&key).ok()?.len()
            } else {
                extractor::source::ReadAt::len(&S3Source::open(&self.bucket, &key).ok()?)
            };
        }
        Some(total)
    }

    /// The `bag_file` this source gives.
    pub fn bag_file(&self) -> String {
        bag_file(&self.key)
    }

    /// Opens the bag and reads its layout. An error that retrying may cure
    /// (a storage error) is retryable; what the bytes say (not a bag) is not.
    pub fn open(&self) -> Result<Bag, Failure> {
        self.open_with(container::OpenOptions::default())
    }

    /// [`Source::open`] with `options` (a trusted index for work items).
    pub fn open_with(&self, options: container::OpenOptions) -> Result<Bag, Failure> {
        let (inputs, warnings, distro) = match &self.dir_entries {
            None => (vec![self.open_file(&self.key)?], Vec::new(), None),
            Some(entries) => self.open_directory(entries)?,
        };
        let mut bag =
            container::open_with(inputs, options).map_err(|e| extractor_failure(&self.url, &e))?;
        // A directory's metadata.yaml names the distribution when its
        // storage files do not.
        if bag.layout.ros_distro.is_none() {
            bag.layout.ros_distro = distro;
        }
        // What the directory got wrong comes first.
        let mut all: Vec<Warning> = warnings
            .into_iter()
            .map(|m| Warning {
                offset: None,
                message: m,
            })
            .collect();
        all.append(&mut bag.layout.warnings);
        bag.layout.warnings = all;
        Ok(bag)
    }

    /// Opens the bag as a run's plan saved it, reading no index: a work
    /// item of a bag cut into several, with its own `units`.
    pub fn reopen(
        &self,
        state: container::BagState,
        units: Vec<container::Unit>,
    ) -> Result<Bag, Failure> {
        let inputs = match &self.dir_entries {
            None => vec![self.open_file(&self.key)?],
            Some(entries) => self.open_directory(entries)?.0,
        };
        container::reopen(inputs, state, units).map_err(|e| extractor_failure(&self.url, &e))
    }

    /// One storage file, by its key (or local path).
    fn open_file(&self, key: &str) -> Result<Input, Failure> {
        let name = key.rsplit('/').next().unwrap_or(key).to_string();
        let src: Box<dyn extractor::source::ReadAt> = if self.bucket.is_empty() {
            let path = Path::new(key);
            Box::new(FileSource::open(path).map_err(|e| {
                Failure::io(
                    format_args!("opening {}", path.display()),
                    &io::Error::new(e.kind(), format!("{}: {e}", path.display())),
                )
            })?)
        } else {
            Box::new(S3Source::open(&self.bucket, key).map_err(|e| {
                Failure::io(
                    format_args!("opening {}", S3Url::url_of(&self.bucket, key)),
                    &e,
                )
            })?)
        };
        Ok(Input::new(name, src))
    }

    /// A rosbag2 directory's storage files in order, with what the
    /// directory gets wrong and the distribution its metadata.yaml names.
    fn open_directory(&self, entries: &[String]) -> Result<Directory, Failure> {
        let dir_name = dir_name(&self.key);
        let listed;
        let entries = if entries.is_empty() && !self.bucket.is_empty() {
            // Not listed yet (the Lambda could not): list now.
            listed = s3_directory_at(&self.bucket, &self.key)
                .map_err(|e| Failure::io(format_args!("listing {}", self.url), &e))?
                .dir_entries
                .unwrap_or_default();
            &listed
        } else {
            entries
        };
        let metadata = if entries.iter().any(|e| e == METADATA_FILE) {
            let key = format!("{}{METADATA_FILE}", self.key);
            let bytes = if self.bucket.is_empty() {
                std::fs::read(&key).map_err(|e| Failure::io(format_args!("reading {key}"), &e))?
            } else {
                crate::storage::s3::get_object(&self.bucket, &key)
                    .map_err(|e| Failure::io(format_args!("reading {key}"), &e))?
            };
            Some(String::from_utf8_lossy(&bytes).into_owned())
        } else {
            None
        };
        let plan = rosbag2::plan(&dir_name, metadata.as_deref(), entries)
            .map_err(|e| Failure::permanent(format!("{}: {e}", self.url)))?;
        let mut inputs = Vec::new();
        for name in &plan.files {
            inputs.push(self.open_file(&format!("{}{name}", self.key))?);
        }
        let distro = plan.metadata.and_then(|m| m.ros_distro);
        Ok((inputs, plan.warnings, distro))
    }
}

/// A rosbag2 directory opened: its storage files, its warnings, its
/// `ros_distro`.
type Directory = (Vec<Input>, Vec<String>, Option<String>);

/// The last path component of a directory key (`a/b/` gives `b`).
fn dir_name(key: &str) -> String {
    key.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string()
}

/// The names of the files directly in a local directory.
fn dir_files(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// An extractor error as a failure of the bag at `url`. Reading that
/// failed (a dropped connection, a storage error) may pass; anything else
/// is what the bytes say (not a bag, an unsupported version).
pub fn extractor_failure(url: &str, e: &extractor::Error) -> Failure {
    let message = format!("{url}: {e}");
    match e {
        extractor::Error::Io { source, .. } => Failure {
            retryable: Failure::io_is_retryable(source),
            message,
        },
        extractor::Error::Sink { .. } => Failure::transient(message),
        _ => Failure::permanent(message),
    }
}

/// A bag found in a listing: a file, or a rosbag2 directory (its path
/// ends with `/`) with the names of its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    File(String),
    Directory(String, Vec<String>),
}

impl Found {
    fn path(&self) -> &str {
        match self {
            Found::File(p) | Found::Directory(p, _) => p,
        }
    }
}

/// Groups the files of a listing (paths relative to the input, `/`
/// separated; `root` is the input's own name) into bags, in byte order of
/// the path: rosbag2 directories first claim the files directly in them,
/// then every other bag file is a bag.
pub fn find_bags(root: &str, files: &[String]) -> Vec<Found> {
    let mut dirs: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for f in files {
        let (dir, name) = f.rsplit_once('/').unwrap_or(("", f));
        dirs.entry(dir).or_default().push(name.to_string());
    }
    let mut bag_dirs: BTreeSet<&str> = BTreeSet::new();
    for (dir, names) in &dirs {
        let own = if dir.is_empty() {
            root
        } else {
            dir.rsplit('/').next().unwrap_or(dir)
        };
        if rosbag2::is_bag_directory(own, names) {
            bag_dirs.insert(dir);
        }
    }
    let mut found: Vec<Found> = Vec::new();
    for dir in &bag_dirs {
        let mut names = dirs[dir].clone();
        names.sort();
        let path = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        found.push(Found::Directory(path, names));
    }
    for f in files {
        let dir = f.rsplit_once('/').map_or("", |(d, _)| d);
        if !bag_dirs.contains(dir) && is_bag_name(f) {
            found.push(Found::File(f.clone()));
        }
    }
    found.sort_by(|a, b| a.path().as_bytes().cmp(b.path().as_bytes()));
    found
}

/// Finds the bags of one command-line input: `s3://bucket/key` (one bag;
/// a key ending in `metadata.yaml` is its directory), `s3://bucket/prefix/`
/// (every bag under it), a local bag file, or a local directory (itself a
/// rosbag2 directory, or searched recursively).
pub fn inputs(input: &str) -> io::Result<Vec<Source>> {
    match S3Url::parse(input) {
        Some(Err(e)) => Err(io::Error::new(io::ErrorKind::InvalidInput, e)),
        Some(Ok(url)) if url.key.is_empty() || url.key.ends_with('/') => {
            let prefix = url.key.clone();
            let objects = crate::storage::s3::list_objects(&url.bucket, &prefix)?;
            let rel: Vec<String> = objects
                .iter()
                .filter_map(|(k, _)| k.strip_prefix(&prefix).map(str::to_string))
                .collect();
            Ok(find_bags(&dir_name(&prefix), &rel)
                .into_iter()
                .map(|f| match f {
                    Found::File(p) => Source::s3(&url.bucket, &format!("{prefix}{p}")),
                    Found::Directory(p, names) => {
                        Source::s3_directory(&url.bucket, &format!("{prefix}{p}"), names)
                    }
                })
                .collect())
        }
        Some(Ok(url))
            if url.key.ends_with(&format!("/{METADATA_FILE}")) || url.key == METADATA_FILE =>
        {
            let prefix = &url.key[..url.key.len() - METADATA_FILE.len()];
            Ok(vec![s3_directory_at(&url.bucket, prefix)?])
        }
        Some(Ok(url)) => Ok(vec![Source::s3(&url.bucket, &url.key)]),
        None => local_inputs(Path::new(input.strip_prefix("file://").unwrap_or(input))),
    }
}

/// The rosbag2 directory at `prefix` on S3, its objects listed.
pub fn s3_directory_at(bucket: &str, prefix: &str) -> io::Result<Source> {
    let names: Vec<String> = crate::storage::s3::list_objects(bucket, prefix)?
        .into_iter()
        .filter_map(|(k, _)| {
            let rest = k.strip_prefix(prefix)?;
            (!rest.contains('/')).then(|| rest.to_string())
        })
        .collect();
    Ok(Source::s3_directory(bucket, prefix, names))
}

/// Finds the bags of a local input: a bag file, a rosbag2 directory, or a
/// directory searched recursively in byte order of the full path.
pub fn local_inputs(input: &Path) -> io::Result<Vec<Source>> {
    let meta = std::fs::metadata(input)?;
    if meta.is_file() {
        return Ok(vec![Source::local(input)?]);
    }
    let root = std::fs::canonicalize(input)?;
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(&root) {
                files.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let root_name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    find_bags(&root_name, &files)
        .into_iter()
        .map(|f| Source::local(&root.join(f.path())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn listings_group_into_bags() {
        let files = s(&[
            "drive_0001.bag",
            "ros2/run_a/metadata.yaml",
            "ros2/run_a/run_a_0.mcap",
            "ros2/run_a/run_a_1.mcap",
            "ros2/crashed/crashed_0.db3",
            "ros2/crashed/crashed_1.db3",
            "ros2/loose.mcap",
            "ros2/old.db3.zstd",
            "notes.txt",
            "x/y/z.mcap.zstd",
        ]);
        let found = find_bags("in", &files);
        let paths: Vec<&str> = found.iter().map(Found::path).collect();
        assert_eq!(
            paths,
            [
                "drive_0001.bag",
                "ros2/crashed/",
                "ros2/loose.mcap",
                "ros2/old.db3.zstd",
                "ros2/run_a/",
                "x/y/z.mcap.zstd"
            ]
        );
        assert_eq!(
            found[4],
            Found::Directory(
                "ros2/run_a/".into(),
                s(&["metadata.yaml", "run_a_0.mcap", "run_a_1.mcap"])
            )
        );
        // The input itself is a rosbag2 directory.
        let found = find_bags("run_b", &s(&["metadata.yaml", "run_b_0.db3"]));
        assert_eq!(
            found,
            [Found::Directory(
                String::new(),
                s(&["metadata.yaml", "run_b_0.db3"])
            )]
        );
    }

    #[test]
    fn directories_name_their_bag() {
        let src = Source::s3_directory("b", "drives/run 4/", vec![]);
        assert_eq!(src.bag_file(), "run_4");
        assert!(src.url.ends_with('/'));
    }
}
