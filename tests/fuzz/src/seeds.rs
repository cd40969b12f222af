//! The seed corpus: real inputs for every target, cut from the bags in
//! `sample-bags/` and `../shared/bags/real/` (the bag's first bytes, its
//! chunks compressed and decompressed, each connection's definition and
//! first message), from small bags built in code (every compression, with
//! and without an index), the sample configuration, and each Lambda event
//! shape.
//!
//! `cargo run -p bagpipe-fuzz-props --bin seeds -- fuzz/corpus` writes them
//! where `cargo fuzz` looks; `tests/replay.rs` checks them in memory.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use extractor::container::compression::Compression;
use extractor::container::ros1::bag;
use extractor::container::{self, Input, rosbag2};
use extractor::definition::builtin::{self, Definitions};
use extractor::definition::{self, ros2};
use extractor::source::FileSource;
use extractor::testing::BagBuilder;

use crate::s3_event;
use crate::samples::{s3_notification, s3_record, test_event};

/// Largest seed: fuzzing is fastest on small inputs, and the targets run
/// with `-max_len` of this size.
pub const SEED_MAX: usize = 64 << 10;

/// Chunks taken from each bag.
const CHUNKS_PER_BAG: usize = 8;

/// Bags larger than this are left out of the corpus (their first bytes
/// and chunks say nothing a smaller bag does not).
const BAG_MAX: u64 = 256 << 20;

/// The seeds of every target, by target name, without duplicates.
pub type Corpus = BTreeMap<&'static str, BTreeSet<Vec<u8>>>;

/// The repository root (this crate is `tests/fuzz`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The directories bags are taken from: the sample bags, and the shared
/// real bags when they are beside the checkout.
pub fn bag_dirs(repo: &Path) -> Vec<PathBuf> {
    [repo.join("sample-bags"), repo.join("../shared/bags/real")]
        .into_iter()
        .filter(|d| d.is_dir())
        .collect()
}

/// Every seed, from the bags under `dirs` and from code.
pub fn generate(repo: &Path, dirs: &[PathBuf]) -> std::io::Result<Corpus> {
    let mut corpus = Corpus::new();
    for target in crate::TARGETS {
        corpus.insert(target, BTreeSet::new());
    }
    let mut datatypes = HashSet::new();
    for bag in built_bags() {
        add_bag(&mut corpus, &bag, &mut datatypes);
    }
    for dir in dirs {
        let mut paths: Vec<PathBuf> = fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        paths.sort();
        for path in paths {
            let is_bag = path.extension().is_some_and(|e| e == "bag");
            if is_bag && path.metadata()?.len() <= BAG_MAX {
                add_bag(&mut corpus, &fs::read(&path)?, &mut datatypes);
            } else if !is_bag {
                add_ros2(&mut corpus, &path, &mut datatypes)?;
            }
        }
    }
    add_builtin_definitions(&mut corpus);
    add_configs(&mut corpus, repo)?;
    add_events(&mut corpus);
    Ok(corpus)
}

/// Writes each target's seeds to `out/<target>/<hash>`.
pub fn write(corpus: &Corpus, out: &Path) -> std::io::Result<usize> {
    let mut written = 0;
    for (target, seeds) in corpus {
        let dir = out.join(target);
        fs::create_dir_all(&dir)?;
        for seed in seeds {
            fs::write(dir.join(format!("seed-{:016x}", fnv1a(seed))), seed)?;
            written += 1;
        }
    }
    Ok(written)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn put(corpus: &mut Corpus, target: &'static str, seed: Vec<u8>) {
    if seed.len() <= SEED_MAX {
        corpus.get_mut(target).expect("a known target").insert(seed);
    }
}

/// Small bags of every compression, indexed and cut before their index,
/// with a nested type, arrays, strings and a blob.
fn built_bags() -> Vec<Vec<u8>> {
    const POSE: &str = "std_msgs/Header header\nfloat64[] values\nuint8[] blob\n\
                        ================================================================================\n\
                        MSG: std_msgs/Header\nuint32 seq\ntime stamp\nstring frame_id\n";
    let pose = |seq: u32| {
        let mut m = Vec::new();
        m.extend_from_slice(&seq.to_le_bytes());
        m.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(&4u32.to_le_bytes());
        m.extend_from_slice(b"base");
        m.extend_from_slice(&2u32.to_le_bytes());
        m.extend_from_slice(&1.5f64.to_le_bytes());
        m.extend_from_slice(&(-2.0f64).to_le_bytes());
        m.extend_from_slice(&3u32.to_le_bytes());
        m.extend_from_slice(&[1, 2, 3]);
        m
    };
    let mut bags = Vec::new();
    for compression in [Compression::None, Compression::Bz2, Compression::Lz4] {
        for index in [true, false] {
            let mut b = BagBuilder::new()
                .compression(compression)
                .chunk_threshold(200)
                .with_index(index)
                .connection(0, "/pose", "fuzz/Pose", "0", POSE)
                .connection(1, "/chatter", "std_msgs/String", "0", "string data\n");
            for i in 0..6u32 {
                b = b
                    .message(0, 1_000_000_000 + u64::from(i) * 100_000_000, &pose(i))
                    .message(
                        1,
                        1_000_000_050 + u64::from(i) * 100_000_000,
                        b"\x02\0\0\0hi",
                    );
            }
            bags.push(b.build());
        }
    }
    bags
}

/// The seeds one bag gives every bag-level target.
fn add_bag(corpus: &mut Corpus, bytes: &[u8], datatypes: &mut HashSet<String>) {
    put(corpus, "bag", bytes[..bytes.len().min(SEED_MAX)].to_vec());
    let body = bytes.get(bag::MAGIC.len()..).unwrap_or_default();
    put(corpus, "records", body[..body.len().min(SEED_MAX)].to_vec());
    let Ok(layout) = bag::read_layout(&bytes) else {
        return;
    };
    for conn in &layout.connections {
        if datatypes.insert(format!("{}\n{}", conn.datatype, conn.message_definition)) {
            put(
                corpus,
                "msgdef",
                crate::msgdef::encode(&conn.datatype, &conn.message_definition),
            );
        }
    }
    let mut first_message = HashSet::new();
    for chunk in layout.chunks.iter().take(CHUNKS_PER_BAG) {
        let start = usize::try_from(chunk.data_offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(usize::try_from(chunk.compressed_len).unwrap_or(0));
        if let (Some(data), Ok(claimed)) =
            (bytes.get(start..end), u32::try_from(chunk.uncompressed_len))
        {
            put(
                corpus,
                "decompress",
                crate::decompress::encode(chunk.compression, claimed, data),
            );
        }
        let Ok(contents) = bag::read_chunk(&bytes, chunk) else {
            continue;
        };
        put(
            corpus,
            "records",
            contents.data[..contents.data.len().min(SEED_MAX)].to_vec(),
        );
        for m in &contents.messages {
            let Some(conn) = layout.connections.iter().find(|c| c.id == m.conn) else {
                continue;
            };
            let definition_len = conn.datatype.len() + 1 + conn.message_definition.len();
            if definition_len <= usize::from(u16::MAX) && first_message.insert(m.conn) {
                put(
                    corpus,
                    "decode",
                    crate::decode::encode(
                        &conn.datatype,
                        &conn.message_definition,
                        &contents.data[m.range.clone()],
                    ),
                );
            }
        }
    }
}

/// The seeds a ROS 2 input gives (an MCAP, a db3, a `.zstd` file, or a
/// rosbag2 directory): its files' first bytes, `metadata.yaml`, each
/// connection's definition and first message.
fn add_ros2(
    corpus: &mut Corpus,
    path: &Path,
    datatypes: &mut HashSet<String>,
) -> std::io::Result<()> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut inside: Vec<PathBuf> = fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        inside.sort();
        inside
    } else {
        vec![path.to_path_buf()]
    };
    let mut inputs = Vec::new();
    for f in &files {
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name == rosbag2::METADATA_FILE {
            put(corpus, "metadata", fs::read(f)?);
            continue;
        }
        if !container::is_bag_name(&name) || f.metadata()?.len() > BAG_MAX {
            continue;
        }
        if name.ends_with(".mcap") {
            let bytes = fs::read(f)?;
            put(corpus, "mcap", bytes[..bytes.len().min(SEED_MAX)].to_vec());
        }
        inputs.push(Input::new(name, Box::new(FileSource::open(f)?)));
    }
    let Ok(bag) = container::open(inputs) else {
        return Ok(());
    };
    let mut first_message = HashSet::new();
    for unit in bag.layout.units.iter().take(CHUNKS_PER_BAG) {
        let Ok(contents) = bag.read_unit(unit) else {
            continue;
        };
        for m in &contents.messages {
            let Some(conn) = bag.layout.connection(m.conn) else {
                continue;
            };
            if conn.encoding != container::ENCODING_CDR
                || conn.schema_encoding != container::SCHEMA_ROS2MSG
                || conn.definition.is_empty()
            {
                continue;
            }
            if datatypes.insert(format!("{}\n{}", conn.datatype, conn.definition)) {
                put(
                    corpus,
                    "ros2def",
                    crate::ros2def::encode(&conn.datatype, &conn.definition),
                );
            }
            let definition_len = conn.datatype.len() + 1 + conn.definition.len();
            if definition_len <= usize::from(u16::MAX) && first_message.insert(m.conn) {
                put(
                    corpus,
                    "cdr",
                    crate::cdr::encode(
                        &conn.datatype,
                        &conn.definition,
                        &contents.data[m.range.clone()],
                    ),
                );
            }
        }
    }
    Ok(())
}

/// Built-in definitions, as the canonical text of their trees (every type
/// of the standard interfaces, dependencies in `MSG:` sections).
fn add_builtin_definitions(corpus: &mut Corpus) {
    let defs = Definitions::default();
    for name in builtin::builtin_names() {
        if let Ok(t) = ros2::parse_from(name, &|n| defs.text(n)) {
            put(
                corpus,
                "ros2def",
                crate::ros2def::encode(name, &definition::render(&t)),
            );
        }
    }
    put(
        corpus,
        "metadata",
        b"rosbag2_bagfile_information:\n  version: 9\n  relative_file_paths: [run_0.mcap, run_1.mcap]\n  ros_distro: jazzy\n".to_vec(),
    );
}

/// The sample configuration, the empty one, and one of each box geometry.
fn add_configs(corpus: &mut Corpus, repo: &Path) -> std::io::Result<()> {
    put(
        corpus,
        "config",
        fs::read(repo.join("sample-bags/bagpipe.toml"))?,
    );
    for text in [
        "",
        "[sync]\ninterval_ms = 50\nmax_age_ms = 500\ntopics = [\"/imu\"]\n",
        "[extract]\ntopics = [\"/camera/detections\", \"/lanes\"]\n",
        "[scenes]\nperson_classes = [\"person\", \"pedestrian\"]\nmin_scene_ms = 200\n\
         [scenes.detections]\ntopic = \"/det\"\nboxes = \"objects\"\nclass = \"label\"\n\
         xmin = \"x0\"\nymin = \"y0\"\nxmax = \"x1\"\nymax = \"y1\"\n",
    ] {
        put(corpus, "config", text.as_bytes().to_vec());
    }
    Ok(())
}

/// Every delivery shape of an upload whose key needs encoding, the S3 test
/// event, a removal, and a few bare keys.
fn add_events(corpus: &mut Corpus) {
    for (_, event) in s3_event::shapes("ingest", "drive 4/run+0002 ü.bag", 1_234_567) {
        put(corpus, "s3_event", event.to_string().into_bytes());
    }
    put(corpus, "s3_event", test_event().to_string().into_bytes());
    let removed = s3_notification(vec![s3_record(
        "ObjectRemoved:Delete",
        "ingest",
        "old.bag",
        None,
    )]);
    put(corpus, "s3_event", removed.to_string().into_bytes());
    for key in ["drives/run.bag", "a b/c+d%2B.bag", "日本/データ.bag"] {
        put(corpus, "s3_event", key.as_bytes().to_vec());
    }
}
