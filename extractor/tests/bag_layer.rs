//! The bag reading layer (`source`, `records`, `bag`) against bags built in
//! code ([`BagBuilder`]), damaged on purpose at known offsets, and against
//! the third-party bags in `shared/bags/real`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use extractor::Error;
use extractor::container::ros1::bag::{
    self, BagLayout, Compression, IndexMode, read_chunk, read_layout,
};
use extractor::container::ros1::records::{
    self, MAX_CHUNK_LEN, OP_CHUNK, OP_INDEX_DATA, OP_MSG_DATA,
};
use extractor::source::{FileSource, ReadAt};
use extractor::testing::{self, BagBuilder};

const COMPRESSIONS: [Compression; 3] = [Compression::None, Compression::Bz2, Compression::Lz4];

/// A message as read back: (connection id, receive time, bytes).
type Msg = (u32, u64, Vec<u8>);

/// Every message of every chunk the layout lists, in bag order, and the
/// chunks that failed to read (by offset).
fn read_all(src: &dyn ReadAt, layout: &BagLayout) -> (Vec<Msg>, Vec<(u64, Error)>) {
    let mut msgs = Vec::new();
    let mut failed = Vec::new();
    for chunk in &layout.chunks {
        match read_chunk(src, chunk) {
            Ok(contents) => {
                for m in &contents.messages {
                    msgs.push((m.conn, m.time_ns, contents.data[m.range.clone()].to_vec()));
                }
            }
            Err(e) => failed.push((chunk.offset, e)),
        }
    }
    (msgs, failed)
}

/// Three connections and `n` messages of varying sizes on them, in time
/// order, each connection first used in the order it was added.
fn sample(n: usize) -> (BagBuilder, Vec<Msg>) {
    let mut b = BagBuilder::new()
        .connection(
            0,
            "/imu",
            "sensor_msgs/Imu",
            "6a62c6daae103f4ff57a132d6f95cec2",
            "float64 x\n",
        )
        .connection(
            1,
            "/odom",
            "nav_msgs/Odometry",
            "cd5e73d190d741a2f92e81eda573aca7",
            "int32 y\n",
        )
        .connection_record(records::Connection {
            id: 7,
            topic: "/rosout".into(),
            datatype: "rosgraph_msgs/Log".into(),
            md5sum: "acffd30cd6b6de30f120938c17c593fb".into(),
            message_definition: "string msg\n".into(),
            callerid: Some("/record_1".into()),
            latching: true,
        });
    let mut msgs = Vec::new();
    for i in 0..n {
        let conn = [0u32, 1, 7][i % 3];
        let time = 1_400_000_000_000_000_000 + i as u64 * 10_000_000;
        let data: Vec<u8> = (0..(i * 37 % 300)).map(|j| (i + j) as u8).collect();
        b = b.message(conn, time, &data);
        msgs.push((conn, time, data));
    }
    (b, msgs)
}

fn assert_warned_at(layout: &BagLayout, offset: u64) {
    assert!(
        layout
            .warnings
            .iter()
            .any(|w| w.offset == Some(offset) && w.message.contains(&offset.to_string())),
        "no warning naming offset {offset}: {:#?}",
        layout.warnings
    );
}

fn count_by_conn(msgs: &[Msg]) -> BTreeMap<u32, u64> {
    let mut counts = BTreeMap::new();
    for (c, _, _) in msgs {
        *counts.entry(*c).or_default() += 1;
    }
    counts
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Overwrites the value of header field `name` in the first record header
/// at or after `from` that has it.
fn patch_field(bag: &mut [u8], from: usize, name: &str, value: &[u8]) {
    let key = format!("{name}=");
    let at = find(bag, key.as_bytes(), from).unwrap_or_else(|| panic!("no {key} after {from}"))
        + key.len();
    bag[at..at + value.len()].copy_from_slice(value);
}

// ---------------------------------------------------------------- round trips

/// The header of the record at `offset`, as text (for field checks).
fn header_at(bag: &[u8], offset: u64) -> String {
    String::from_utf8_lossy(testing::record_header_at(bag, offset)).into_owned()
}

#[test]
fn each_connection_is_placed_at_its_record_or_its_chunk() {
    for compression in COMPRESSIONS {
        let (builder, _) = sample(300);
        let builder = builder.compression(compression).chunk_threshold(4000);
        // Indexed: the connection record in the index section.
        let bytes = builder.build();
        let layout = read_layout(&bytes).unwrap();
        assert_eq!(layout.connection_offsets.len(), layout.connections.len());
        for c in &layout.connections {
            let header = header_at(&bytes, layout.connection_offsets[&c.id]);
            assert!(
                header.contains("op=\u{7}") && header.contains(&format!("topic={}", c.topic)),
                "{compression}: connection {}: {header:?}",
                c.id
            );
        }
        // Scanned: the chunk that holds the record (its first use).
        let bytes = builder.clone().with_index(false).build();
        let layout = read_layout(&bytes).unwrap();
        let chunks: Vec<u64> = layout.chunks.iter().map(|c| c.offset).collect();
        for c in &layout.connections {
            let offset = layout.connection_offsets[&c.id];
            assert!(chunks.contains(&offset), "{compression}: {offset}");
            assert!(header_at(&bytes, offset).contains("op=\u{5}"));
        }
    }
}

#[test]
fn round_trip_every_compression_with_and_without_index() {
    for compression in COMPRESSIONS {
        let (builder, expected) = sample(300);
        let builder = builder.compression(compression).chunk_threshold(4000);
        let (bytes, offsets) = builder.build_with_offsets();
        assert!(offsets.len() > 5, "{compression}: {} chunks", offsets.len());
        let indexed = read_layout(&bytes).unwrap();
        assert_eq!(indexed.mode, IndexMode::Indexed, "{compression}");
        assert!(
            indexed.warnings.is_empty(),
            "{compression}: {:?}",
            indexed.warnings
        );
        assert_eq!(
            indexed.chunks.iter().map(|c| c.offset).collect::<Vec<_>>(),
            offsets
        );
        assert!(indexed.chunks.iter().all(|c| c.compression == compression));
        assert_eq!(
            indexed.connections.iter().map(|c| c.id).collect::<Vec<_>>(),
            [0, 1, 7]
        );
        let rosout = &indexed.connections[2];
        assert_eq!(
            (
                rosout.topic.as_str(),
                rosout.callerid.as_deref(),
                rosout.latching
            ),
            ("/rosout", Some("/record_1"), true)
        );
        assert_eq!(indexed.message_counts, count_by_conn(&expected));
        let (msgs, failed) = read_all(&bytes, &indexed);
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(msgs, expected, "{compression}");

        let unindexed = builder.clone().with_index(false).build();
        let scanned = read_layout(&unindexed).unwrap();
        assert!(
            matches!(&scanned.mode, IndexMode::Scanned { reason } if reason.contains("index_pos is 0"))
        );
        // One warning, the reason for the scan; nothing was skipped.
        assert_eq!(scanned.warnings.len(), 1, "{:?}", scanned.warnings);
        assert!(
            scanned.warnings[0]
                .message
                .contains("recovered by scanning")
        );
        assert_eq!(scanned.connections, indexed.connections, "{compression}");
        assert_eq!(scanned.message_counts, indexed.message_counts);
        assert_eq!(scanned.chunks.len(), indexed.chunks.len());
        for (s, i) in scanned.chunks.iter().zip(&indexed.chunks) {
            assert_eq!(
                (
                    s.offset,
                    s.data_offset,
                    s.compressed_len,
                    s.uncompressed_len,
                    s.start_time_ns,
                    s.end_time_ns
                ),
                (
                    i.offset,
                    i.data_offset,
                    i.compressed_len,
                    i.uncompressed_len,
                    i.start_time_ns,
                    i.end_time_ns
                )
            );
        }
        let (msgs, failed) = read_all(&unindexed, &scanned);
        assert!(failed.is_empty());
        assert_eq!(msgs, expected);
    }
}

#[test]
fn builder_writes_what_rosbag_writes() {
    let (builder, _) = sample(10);
    let built = builder.build_bag();
    let bytes = &built.bytes;
    assert!(bytes.starts_with(bag::MAGIC));
    // The bag header record's header plus data is 4096 bytes, so the first
    // chunk starts at 13 + 4 + 4 + 4096.
    assert_eq!(built.chunk_offsets, [4117]);
    let (header, next) = records::read_record(bytes, 13, 0).unwrap();
    assert_eq!(next, 4117);
    let h = records::parse_bag_header(&header.header).unwrap();
    assert_eq!(
        (Some(h.index_pos), h.conn_count, h.chunk_count),
        (built.index_pos, 3, 1)
    );
    // After the chunk: one index data record per connection.
    let (chunk, mut pos) = records::read_record(bytes, 4117, 0).unwrap();
    assert_eq!(chunk.header.op().unwrap(), OP_CHUNK);
    for conn in [0, 1, 7] {
        let (rec, next) = records::read_record(bytes, pos, 0).unwrap();
        assert_eq!(rec.header.op().unwrap(), OP_INDEX_DATA);
        assert_eq!(rec.header.u32("conn").unwrap(), conn);
        pos = next;
    }
    assert_eq!(Some(pos as u64), built.index_pos);
    // The file source reads the same thing from disk.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.bag");
    std::fs::write(&path, bytes).unwrap();
    let from_file = read_layout(&FileSource::open(&path).unwrap()).unwrap();
    assert_eq!(
        from_file.connections,
        read_layout(bytes).unwrap().connections
    );
}

#[test]
fn empty_bags_are_bags() {
    let bytes = BagBuilder::new().build();
    let layout = read_layout(&bytes).unwrap();
    assert_eq!(layout.mode, IndexMode::Indexed);
    assert!(
        layout.chunks.is_empty() && layout.connections.is_empty() && layout.warnings.is_empty()
    );
    // A connection with no messages is listed, with a count of 0.
    let bytes = BagBuilder::new()
        .connection(
            3,
            "/a",
            "std_msgs/Empty",
            "d41d8cd98f00b204e9800998ecf8427e",
            "",
        )
        .build();
    let layout = read_layout(&bytes).unwrap();
    assert_eq!(layout.connections.len(), 1);
    assert_eq!(layout.message_counts, BTreeMap::from([(3, 0)]));
}

// ---------------------------------------------------------------- real bags

/// Messages, chunks and connections per intact bag, from the README of
/// `shared/bags/real` (the "Msgs" column: what the index reports).
const REAL: &[(&str, u64, Option<usize>, Option<usize>)] = &[
    ("husky_gps_imu_odom_bz2.bag", 16806, Some(10), Some(3)),
    ("ardrone_imu_odom_bz2.bag", 46182, Some(34), None),
    ("xsens_wheel_stereo_odom_bz2.bag", 29274, Some(15), Some(4)),
    ("jackal_imu_odom_simtime_bz2.bag", 6121, Some(5), None),
    ("imu_phidgets_upside_down_bz2.bag", 27928, Some(10), None),
    ("imu_razor_magneticfield_bz2.bag", 4288, Some(2), None),
    ("imu_razor_vector3mag_none.bag", 4288, Some(2), None),
    ("raspicam_compressed_images.bag", 16, None, None),
    ("raspicam_board_topic_noslash.bag", 33, None, None),
    ("fiducial_transforms_nested.bag", 1, None, None),
    ("gps_navsatfix.bag", 151, None, None),
    ("luminar_lidar_pointcloud_lz4.bag", 15, Some(6), None),
    (
        "jsk_humanoid_tf_multiconn_pointcloud.bag",
        3533,
        Some(5),
        Some(7),
    ),
    ("ft_sensor_wrench_650hz.bag", 7035, Some(2), None),
    ("jsk_depth_error_custom_48min.bag", 3373, None, None),
    ("sick_radar_lidar_nested_bz2.bag", 518, Some(2), Some(13)),
    ("rovio_transformstamped.bag", 2130, None, None),
    ("evo_posestamped_noslash_topics.bag", 26566, Some(5), None),
    ("evo_tf_lz4.bag", 518, Some(1), None),
    ("turtlesim_none.bag", 8647, Some(1), Some(12)),
    ("turtlesim_bz2.bag", 8647, Some(1), Some(9)),
    ("turtlesim_lz4.bag", 8647, Some(1), Some(9)),
    ("turtlesim_lz4_webviz.bag", 8647, Some(1), None),
    ("unsorted_chunks.bag", 3, Some(3), None),
    ("multiple_connections_per_topic.bag", 6, None, Some(5)),
    ("embag_arrays.bag", 20, None, None),
    ("marker_cube.bag", 2, None, None),
    ("empty_msgs.bag", 13, None, None),
    ("constants_md5_mismatch.bag", 1, None, None),
    ("empty_message_definition.bag", 14, None, None),
    ("no_messages.bag", 0, Some(0), Some(0)),
];

/// The damaged ones, checked one by one below.
const DAMAGED: &[&str] = &[
    "empty_file.bag",
    "truncated_3kb.bag",
    "header_only_claims_600_chunks.bag",
];

fn real_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/bags/real");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: no real bags at {} (shared/ is not beside the repository)",
            dir.display()
        );
        None
    }
}

fn real(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

#[test]
fn every_intact_real_bag_reads_whole_from_its_index_and_by_scanning() {
    let Some(dir) = real_dir() else { return };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bag"))
        .collect();
    names.sort();
    for name in names.iter().filter(|n| !DAMAGED.contains(&n.as_str())) {
        let Some(&(_, msgs, chunks, conns)) = REAL.iter().find(|r| r.0 == name) else {
            panic!(
                "{name} is new in {}: add its counts from the README to REAL",
                dir.display()
            );
        };
        let src = FileSource::open(&dir.join(name)).unwrap();
        let layout = read_layout(&src).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(layout.mode, IndexMode::Indexed, "{name}");
        assert!(layout.warnings.is_empty(), "{name}: {:?}", layout.warnings);
        if let Some(n) = chunks {
            assert_eq!(layout.chunks.len(), n, "{name}: chunks");
        }
        if let Some(n) = conns {
            assert_eq!(layout.connections.len(), n, "{name}: connections");
        }
        assert_eq!(
            layout.message_counts.values().sum::<u64>(),
            msgs,
            "{name}: index counts"
        );

        let ids: Vec<u32> = layout.connections.iter().map(|c| c.id).collect();
        let mut read = BTreeMap::<u32, u64>::new();
        for chunk in &layout.chunks {
            let contents = read_chunk(&src, chunk).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(contents.data.len() as u64, chunk.uncompressed_len);
            for c in &contents.connections {
                let indexed = layout.connections.iter().find(|i| i.id == c.id);
                assert_eq!(
                    indexed,
                    Some(c),
                    "{name}: connection {} in the chunk differs from the index",
                    c.id
                );
            }
            for m in &contents.messages {
                assert!(
                    ids.contains(&m.conn),
                    "{name}: message on unknown connection {}",
                    m.conn
                );
                assert!(m.range.end <= contents.data.len());
                *read.entry(m.conn).or_default() += 1;
            }
            // The chunk info's time range is exactly that of its messages.
            let times = contents.messages.iter().map(|m| m.time_ns);
            assert_eq!(
                chunk.start_time_ns,
                times.clone().min(),
                "{name}: chunk {} start",
                chunk.offset
            );
            assert_eq!(
                chunk.end_time_ns,
                times.max(),
                "{name}: chunk {} end",
                chunk.offset
            );
        }
        let nonzero: BTreeMap<u32, u64> = layout
            .message_counts
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| (*c, *n))
            .collect();
        assert_eq!(
            read, nonzero,
            "{name}: messages read per connection vs the index"
        );

        // The same bag with its index_pos zeroed, as a recorder that crashed
        // leaves it: the scan finds the same chunks, connections and counts.
        let mut bytes = real(&dir, name);
        patch_field(&mut bytes, 13, "index_pos", &0u64.to_le_bytes());
        let scanned = read_layout(&bytes).unwrap();
        assert!(matches!(scanned.mode, IndexMode::Scanned { .. }), "{name}");
        assert_eq!(scanned.warnings.len(), 1, "{name}: {:?}", scanned.warnings);
        assert_eq!(
            scanned.chunks.iter().map(|c| c.offset).collect::<Vec<_>>(),
            layout.chunks.iter().map(|c| c.offset).collect::<Vec<_>>(),
            "{name}"
        );
        let mut a = scanned.connections.clone();
        let mut b = layout.connections.clone();
        a.sort_by_key(|c| c.id);
        b.sort_by_key(|c| c.id);
        assert_eq!(a, b, "{name}: connections by scan vs index");
        assert_eq!(scanned.message_counts, layout.message_counts, "{name}");
    }
}

#[test]
fn real_damaged_bags_do_what_the_contract_says() {
    let Some(dir) = real_dir() else { return };

    let e = read_layout(&real(&dir, "empty_file.bag")).unwrap_err();
    assert!(
        matches!(&e, Error::NotABag(m) if m.contains("empty file (0 bytes)")),
        "{e}"
    );

    // Cut inside the bag header's padding: the fields are whole (index_pos
    // 3766069570, 532 chunks), nothing after them survives.
    let layout = read_layout(&real(&dir, "truncated_3kb.bag")).unwrap();
    assert!(
        matches!(&layout.mode, IndexMode::Scanned { reason } if reason.contains("3766069570")),
        "{:?}",
        layout.mode
    );
    assert!(layout.chunks.is_empty() && layout.connections.is_empty());
    assert_warned_at(&layout, 13);
    assert!(
        layout.warnings.iter().any(|w| w.message.contains("3072")),
        "{:?}",
        layout.warnings
    );

    // 90 bytes: index_pos = EOF, claims 600 chunks.
    let layout = read_layout(&real(&dir, "header_only_claims_600_chunks.bag")).unwrap();
    assert!(
        matches!(&layout.mode, IndexMode::Scanned { reason } if reason.contains("600")),
        "{:?}",
        layout.mode
    );
    assert!(layout.chunks.is_empty() && layout.connections.is_empty());
    assert!(!layout.warnings.is_empty());

    // A valid bag with nothing in it: indexed, no warning at this layer (the
    // "no messages" warning belongs to the bag as a whole).
    let layout = read_layout(&real(&dir, "no_messages.bag")).unwrap();
    assert_eq!(layout.mode, IndexMode::Indexed);
    assert!(
        layout.chunks.is_empty() && layout.connections.is_empty() && layout.warnings.is_empty()
    );

    // Not bags at all.
    for name in [
        "mcap_conformance_allfeatures.mcap",
        "mcap_crlf_mangled_nonros.mcap",
        "rosbag2_per_message_zstd.db3",
    ] {
        let e = read_layout(&real(&dir, name)).unwrap_err();
        assert!(matches!(e, Error::NotABag(_)), "{name}: {e}");
    }
}

// ---------------------------------------------------------------- damaged, built in code

/// A bag of 60 messages in several uncompressed-or-not chunks, and its parts.
fn damaged_base(compression: Compression, index: bool) -> (testing::BuiltBag, Vec<Msg>) {
    let (builder, msgs) = sample(60);
    let built = builder
        .compression(compression)
        .chunk_threshold(1500)
        .with_index(index)
        .build_bag();
    assert!(
        built.chunk_offsets.len() >= 4,
        "{}",
        built.chunk_offsets.len()
    );
    (built, msgs)
}

/// The messages that live in the chunks before chunk `k`.
fn messages_before_chunk(bytes: &[u8], k: usize) -> Vec<Msg> {
    let layout = read_layout(&bytes.to_vec()).unwrap();
    let mut kept = layout.clone();
    kept.chunks.truncate(k);
    read_all(&bytes.to_vec(), &kept).0
}

#[test]
fn truncation_keeps_every_chunk_before_the_cut() {
    for compression in COMPRESSIONS {
        let (built, all) = damaged_base(compression, true);
        let bytes = &built.bytes;
        let offsets = &built.chunk_offsets;
        let index_pos = built.index_pos.unwrap() as usize;

        // Right after the magic, and inside the bag header: a bag, empty.
        for cut in [13, 15, 40, 4000] {
            let layout = read_layout(&bytes[..cut].to_vec()).unwrap();
            assert!(
                matches!(layout.mode, IndexMode::Scanned { .. }),
                "cut {cut}"
            );
            assert!(layout.chunks.is_empty(), "cut {cut}");
            assert!(!layout.warnings.is_empty(), "cut {cut}");
        }

        // Inside chunk 2's record header, and inside its data.
        let k = 2;
        let chunk = offsets[k] as usize;
        let next = offsets[k + 1] as usize;
        for cut in [chunk + 2, chunk + 20, chunk + 40, (chunk + next) / 2] {
            let truncated = bytes[..cut].to_vec();
            let layout = read_layout(&truncated).unwrap();
            assert!(matches!(layout.mode, IndexMode::Scanned { .. }));
            assert_eq!(
                layout.chunks.iter().map(|c| c.offset).collect::<Vec<_>>(),
                offsets[..k],
                "cut {cut}"
            );
            assert_warned_at(&layout, offsets[k]);
            let (msgs, failed) = read_all(&truncated, &layout);
            assert!(failed.is_empty());
            assert_eq!(
                msgs,
                messages_before_chunk(bytes, k),
                "{compression} cut {cut}"
            );
        }

        // Inside the index: every chunk is whole, so every message is kept.
        for cut in [index_pos + 1, index_pos + 30, bytes.len() - 5] {
            let truncated = bytes[..cut].to_vec();
            let layout = read_layout(&truncated).unwrap();
            assert!(
                matches!(layout.mode, IndexMode::Scanned { .. }),
                "cut {cut}"
            );
            assert_eq!(layout.chunks.len(), offsets.len());
            let (msgs, failed) = read_all(&truncated, &layout);
            assert!(failed.is_empty());
            assert_eq!(msgs, all, "{compression} cut {cut}");
            assert!(layout.warnings.len() >= 2, "{:?}", layout.warnings);
        }
    }
}

#[test]
fn garbage_inside_a_chunk_skips_that_chunk_only() {
    for compression in COMPRESSIONS {
        for index in [true, false] {
            let (built, _) = damaged_base(compression, index);
            let mut bytes = built.bytes.clone();
            let k = 1;
            let layout = read_layout(&bytes).unwrap();
            let target = layout.chunks[k].clone();
            // 0xff bytes at the start of the data: a record header length of
            // 0xffffffff when uncompressed, a broken stream when compressed.
            let at = target.data_offset as usize;
            bytes[at..at + 16].fill(0xff);
            let expected: Vec<Msg> = {
                let (all, _) = read_all(&built.bytes, &layout);
                let skipped = read_chunk(&built.bytes, &target).unwrap().messages.len();
                let before = messages_before_chunk(&built.bytes, k).len();
                all[..before]
                    .iter()
                    .chain(&all[before + skipped..])
                    .cloned()
                    .collect()
            };

            let damaged = read_layout(&bytes).unwrap();
            let (msgs, failed) = read_all(&bytes, &damaged);
            if index {
                // The index is intact: the chunk is listed and fails to read.
                assert_eq!(damaged.mode, IndexMode::Indexed);
                assert_eq!(failed.len(), 1, "{compression}");
                let (offset, e) = &failed[0];
                assert_eq!(*offset, target.offset);
                assert!(
                    matches!(e, Error::Chunk { offset, .. } if *offset == target.offset),
                    "{e}"
                );
                assert!(e.to_string().contains(&target.offset.to_string()), "{e}");
            } else {
                // The scan tries it, skips it, and says where.
                assert!(failed.is_empty());
                assert_eq!(damaged.chunks.len(), layout.chunks.len() - 1);
                assert!(damaged.chunks.iter().all(|c| c.offset != target.offset));
                assert_warned_at(&damaged, target.offset);
            }
            assert_eq!(msgs, expected, "{compression} index={index}");
        }
    }
}

#[test]
fn a_lying_chunk_size_fails_that_chunk() {
    for compression in COMPRESSIONS {
        let (built, _) = damaged_base(compression, true);
        let layout = read_layout(&built.bytes).unwrap();
        let target = &layout.chunks[0];
        let real_size = target.uncompressed_len as u32;
        for lie in [real_size - 1, real_size + 1, real_size / 2, real_size * 3] {
            let mut bytes = built.bytes.clone();
            patch_field(
                &mut bytes,
                target.offset as usize,
                "size",
                &lie.to_le_bytes(),
            );
            let layout = read_layout(&bytes).unwrap();
            let chunk = &layout.chunks[0];
            assert_eq!(chunk.uncompressed_len, u64::from(lie));
            let e = read_chunk(&bytes, chunk).unwrap_err();
            let text = e.to_string();
            assert!(
                matches!(e, Error::Chunk { offset, .. } if offset == target.offset),
                "{text}"
            );
            assert!(
                text.contains(&format!("chunk at offset {}", target.offset)),
                "{text}"
            );
            assert!(text.contains(&lie.to_string()), "{text}");
            // The other chunks still read.
            for c in &layout.chunks[1..] {
                read_chunk(&bytes, c).unwrap();
            }
        }
    }
}

/// A bag with one chunk whose data is `data` and whose header claims `size`,
/// and no index (so the scan decompresses it).
fn bag_with_raw_chunk(compression: Compression, size: u32, data: &[u8]) -> Vec<u8> {
    let mut bag = BagBuilder::new().with_index(false).build();
    let header = testing::header(&[
        ("compression", compression.to_string().as_bytes()),
        ("op", &[OP_CHUNK][..]),
        ("size", &size.to_le_bytes()[..]),
    ]);
    testing::write_record(&mut bag, &header, data);
    bag
}

#[test]
fn a_decompression_bomb_is_stopped_at_the_claimed_size() {
    // 64 MiB of zeros, a few hundred bytes of bz2, claiming 1000 bytes.
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    let block = vec![0u8; 1 << 20];
    for _ in 0..64 {
        std::io::Write::write_all(&mut enc, &block).unwrap();
    }
    let bomb = enc.finish().unwrap();
    let bag = bag_with_raw_chunk(Compression::Bz2, 1000, &bomb);
    let started = std::time::Instant::now();
    let layout = read_layout(&bag).unwrap();
    assert!(layout.chunks.is_empty());
    assert_warned_at(&layout, 4117);
    let w = layout
        .warnings
        .iter()
        .find(|w| w.offset == Some(4117))
        .unwrap();
    assert!(
        w.message.contains("more than the 1000 bytes"),
        "{}",
        w.message
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // A size over the cap is refused before anything is allocated or inflated.
    let claimed = u64::from(u32::MAX);
    assert!(claimed > MAX_CHUNK_LEN);
    let e = bag::decompress(Compression::Bz2, &bomb, claimed, 4117).unwrap_err();
    assert!(
        e.to_string().contains("chunk at offset 4117") && e.to_string().contains("over the cap"),
        "{e}"
    );
    let bag = bag_with_raw_chunk(Compression::Bz2, u32::MAX, &bomb);
    let layout = read_layout(&bag).unwrap();
    assert!(layout.chunks.is_empty());
    assert_warned_at(&layout, 4117);
}

/// Something done to a bag's bytes.
type Damage<'a> = Box<dyn Fn(&mut Vec<u8>) + 'a>;

#[test]
fn an_index_that_lies_is_replaced_by_a_scan() {
    let (built, all) = damaged_base(Compression::Lz4, true);
    let index_pos = built.index_pos.unwrap() as usize;
    let file_len = built.bytes.len() as u64;
    let cases: [(&str, Damage, &str); 5] = [
        (
            "chunk_pos past EOF",
            Box::new(|b| patch_field(b, index_pos, "chunk_pos", &(file_len + 1000).to_le_bytes())),
            "outside the chunk area",
        ),
        (
            "chunk_pos at garbage",
            Box::new(|b| {
                let garbage = built.chunk_offsets[1] + 7;
                patch_field(b, index_pos, "chunk_pos", &garbage.to_le_bytes())
            }),
            "chunk_pos",
        ),
        (
            "chunk_pos at an index data record",
            Box::new(|b| {
                let layout = read_layout(&built.bytes).unwrap();
                let c = &layout.chunks[0];
                let index_data = c.data_offset + c.compressed_len;
                patch_field(b, index_pos, "chunk_pos", &index_data.to_le_bytes())
            }),
            "not a chunk",
        ),
        (
            "index_pos past EOF",
            Box::new(|b| patch_field(b, 13, "index_pos", &u64::MAX.to_le_bytes())),
            "past the end",
        ),
        (
            "chunk_count lies",
            Box::new(|b| patch_field(b, 13, "chunk_count", &600u32.to_le_bytes())),
            "600",
        ),
    ];
    for (what, damage, reason_has) in cases {
        let mut bytes = built.bytes.clone();
        damage(&mut bytes);
        let layout = read_layout(&bytes).unwrap();
        match &layout.mode {
            IndexMode::Scanned { reason } => {
                assert!(reason.contains(reason_has), "{what}: {reason}")
            }
            IndexMode::Indexed => panic!("{what}: the index was trusted"),
        }
        assert!(
            layout.warnings[0].message.contains("recovered by scanning"),
            "{what}"
        );
        let (msgs, failed) = read_all(&bytes, &layout);
        assert!(failed.is_empty(), "{what}");
        assert_eq!(msgs, all, "{what}");
    }
}

#[test]
fn files_that_are_not_v2_bags_are_refused_with_what_they_are() {
    let e = read_layout(&b"just some text\nin a file\n".to_vec()).unwrap_err();
    assert!(
        matches!(&e, Error::NotABag(m) if m.contains("just some text")),
        "{e}"
    );
    let e = read_layout(&b"#ROSBAG V1.2\n\x00\x00\x00\x00".to_vec()).unwrap_err();
    assert!(
        matches!(&e, Error::UnsupportedVersion(v) if v == "1.2"),
        "{e}"
    );
    assert!(e.to_string().contains("1.2"));
    let e = read_layout(&Vec::new()).unwrap_err();
    assert_eq!(e.to_string(), "not a ROS bag: empty file (0 bytes)");
}

#[test]
fn a_huge_header_length_is_an_error_not_an_allocation() {
    // As the bag header.
    let mut bag = bag::MAGIC.to_vec();
    bag.extend_from_slice(&u32::MAX.to_le_bytes());
    bag.extend_from_slice(&[0; 32]);
    let layout = read_layout(&bag).unwrap();
    assert!(layout.chunks.is_empty());
    let IndexMode::Scanned { reason } = &layout.mode else {
        panic!("{:?}", layout.mode)
    };
    assert!(
        reason.contains("offset 13") && reason.contains("exceeds the cap"),
        "{reason}"
    );

    // After a good chunk: the scan keeps the chunk and stops at offset X.
    let (bytes, offsets) = sample(5).0.with_index(false).build_with_offsets();
    let mut bad = bytes.clone();
    let x = bad.len() as u64;
    bad.extend_from_slice(&u32::MAX.to_le_bytes());
    bad.extend_from_slice(&[1; 64]);
    let layout = read_layout(&bad).unwrap();
    assert_eq!(
        layout.chunks.iter().map(|c| c.offset).collect::<Vec<_>>(),
        offsets
    );
    assert_warned_at(&layout, x);

    // Inside a chunk: the chunk fails, naming its offset and the position.
    let mut data = u32::MAX.to_le_bytes().to_vec();
    data.extend_from_slice(&[0; 16]);
    let bag = bag_with_raw_chunk(Compression::None, data.len() as u32, &data);
    let layout = read_layout(&bag).unwrap();
    assert!(layout.chunks.is_empty());
    let w = layout
        .warnings
        .iter()
        .find(|w| w.offset == Some(4117))
        .expect("a warning at 4117");
    assert!(
        w.message.contains("chunk at offset 4117 skipped") && w.message.contains("+0"),
        "{}",
        w.message
    );
    assert!(matches!(
        records::read_record(&data, 0, 0),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn chunk_contents_are_checked() {
    let message = |conn: u32| {
        let mut r = Vec::new();
        let h = testing::header(&[
            ("conn", &conn.to_le_bytes()[..]),
            ("op", &[OP_MSG_DATA][..]),
            ("time", &testing::time_bytes(5_000_000_001)[..]),
        ]);
        testing::write_record(&mut r, &h, b"xyz");
        r
    };
    // A message on a connection this chunk never defined is returned as is
    // (the caller knows the connections of the whole bag).
    let data = message(42);
    let bag = bag_with_raw_chunk(Compression::None, data.len() as u32, &data);
    let layout = read_layout(&bag).unwrap();
    let contents = read_chunk(&bag, &layout.chunks[0]).unwrap();
    assert_eq!(contents.messages.len(), 1);
    let m = &contents.messages[0];
    assert_eq!(
        (m.conn, m.time_ns, &contents.data[m.range.clone()], m.offset),
        (42, 5_000_000_001, &b"xyz"[..], 4117)
    );
    assert_eq!(layout.message_counts, BTreeMap::from([(42, 1)]));

    // An index data record has no place inside a chunk.
    let mut data = message(1);
    let h = testing::header(&[("op", &[OP_INDEX_DATA][..])]);
    let second = data.len();
    testing::write_record(&mut data, &h, b"");
    let bag = bag_with_raw_chunk(Compression::None, data.len() as u32, &data);
    let layout = read_layout(&bag).unwrap();
    let w = layout
        .warnings
        .iter()
        .find(|w| w.offset == Some(4117))
        .expect("a warning at 4117");
    assert!(
        w.message.contains(&format!("+{second}")) && w.message.contains("index data"),
        "{}",
        w.message
    );

    // A record cut short at the end of the chunk.
    let mut data = message(1);
    data.truncate(data.len() - 1);
    let bag = bag_with_raw_chunk(Compression::None, data.len() as u32, &data);
    let layout = read_layout(&bag).unwrap();
    assert!(layout.chunks.is_empty());
    assert_warned_at(&layout, 4117);
}

#[test]
fn a_connection_redefined_differently_is_a_warning_and_the_first_wins() {
    let def = |topic: &str| records::Connection {
        id: 1,
        topic: topic.into(),
        datatype: "std_msgs/Empty".into(),
        md5sum: "d41d8cd98f00b204e9800998ecf8427e".into(),
        message_definition: String::new(),
        callerid: None,
        latching: false,
    };
    let bytes = BagBuilder::new()
        .connection_record(def("/first"))
        .connection_record(def("/second"))
        .message(1, 1, b"")
        .build();
    // The chunk holds /first; the index holds both (conn_count 2 matches).
    let layout = read_layout(&bytes).unwrap();
    assert_eq!(layout.connections.len(), 1);
    assert_eq!(layout.connections[0].topic, "/first");
    assert!(
        layout
            .warnings
            .iter()
            .any(|w| w.message.contains("defined again")),
        "{:?}",
        layout.warnings
    );
}

#[test]
fn no_prefix_of_a_bag_panics_or_fails() {
    // Every prefix of a small bag of each compression is a bag or an error
    // saying it is not (only the first 13 bytes), never a panic.
    for compression in COMPRESSIONS {
        let (bytes, _) = sample(12)
            .0
            .compression(compression)
            .chunk_threshold(600)
            .build_with_offsets();
        for cut in (0..bytes.len()).step_by(7) {
            let prefix = bytes[..cut].to_vec();
            match read_layout(&prefix) {
                Ok(layout) => {
                    assert!(cut >= bag::MAGIC.len());
                    let _ = read_all(&prefix, &layout);
                }
                Err(e) => assert!(cut < bag::MAGIC.len(), "cut {cut}: {e}"),
            }
        }
    }
}

/// A small deterministic generator (xorshift64*), so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_corruption_never_panics() {
    // Random bytes overwritten anywhere after the magic (headers, lengths,
    // compressed streams, the index), sometimes with a truncation: the
    // reader recovers or refuses, and never panics.
    let mut rng = Rng(0x5eed_0fba);
    for compression in COMPRESSIONS {
        for index in [true, false] {
            let (builder, _) = sample(40);
            let bytes = builder
                .compression(compression)
                .chunk_threshold(800)
                .with_index(index)
                .build();
            // The header padding is 4000 bytes of spaces; aim mostly elsewhere.
            let interesting: Vec<usize> = (13..90).chain(4100..bytes.len()).collect();
            for round in 0..200 {
                let mut damaged = bytes.clone();
                for _ in 0..1 + rng.below(4) {
                    let at = interesting[rng.below(interesting.len())];
                    damaged[at] = match rng.below(4) {
                        0 => 0,
                        1 => 0xff,
                        _ => rng.next() as u8,
                    };
                }
                if rng.below(5) == 0 {
                    damaged.truncate(13 + rng.below(damaged.len() - 13));
                }
                match read_layout(&damaged) {
                    Ok(layout) => {
                        let _ = read_all(&damaged, &layout);
                    }
                    Err(e) => panic!("{compression} index={index} round {round}: refused: {e}"),
                }
            }
        }
    }
}
