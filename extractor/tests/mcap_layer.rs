//! The MCAP container on files written by the `mcap` crate's writer (an
//! independent writer): the summary path and the scan agree; damage (a file
//! cut at or around every chunk, a chunk whose bytes or CRC are wrong, a
//! chunk index that lies, messages outside chunks) is recovered as the
//! contract says, each lost chunk named by the offset of its record.

use std::collections::BTreeMap;
use std::io::Cursor;

use extractor::container::{self, Bag, IndexMode, Input};
use mcap::records::MessageHeader;

/// A std_msgs/msg/String CDR payload.
fn string_payload(text: &str) -> Vec<u8> {
    let mut out = vec![0, 1, 0, 0];
    out.extend_from_slice(&(text.len() as u32 + 1).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.push(0);
    out
}

struct Written {
    bytes: Vec<u8>,
    /// Chunk record offsets, with the log times of their messages.
    chunks: Vec<(u64, Vec<u64>)>,
}

/// `n` messages on two channels, times 1000 + i, in small zstd chunks
/// (with CRCs), with a summary, chunk indexes and statistics; or, with
/// `chunked` false, every message outside chunks.
fn write_mcap(n: u64, chunked: bool, crcs: bool) -> Written {
    let opts = mcap::WriteOptions::new()
        .profile("ros2")
        .compression(Some(mcap::Compression::Zstd))
        .chunk_size(Some(200))
        .use_chunks(chunked)
        .calculate_chunk_crcs(crcs);
    let mut w = opts.create(Cursor::new(Vec::new())).unwrap();
    let schema = w
        .add_schema("std_msgs/msg/String", "ros2msg", b"string data\n")
        .unwrap();
    let a = w
        .add_channel(schema, "/a", "cdr", &BTreeMap::new())
        .unwrap();
    let b = w
        .add_channel(schema, "/b", "cdr", &BTreeMap::new())
        .unwrap();
    for i in 0..n {
        let header = MessageHeader {
            channel_id: if i % 3 == 0 { b } else { a },
            sequence: i as u32,
            log_time: 1000 + i,
            publish_time: 1000 + i,
        };
        w.write_to_known_channel(&header, &string_payload(&format!("message number {i}")))
            .unwrap();
    }
    let summary = w.finish().unwrap();
    let bytes = w.into_inner().into_inner();
    let mut chunks: Vec<(u64, Vec<u64>)> = summary
        .chunk_indexes
        .iter()
        .map(|c| {
            (
                c.chunk_start_offset,
                (c.message_start_time..=c.message_end_time).collect(),
            )
        })
        .collect();
    chunks.sort();
    Written { bytes, chunks }
}

fn open(bytes: &[u8]) -> Bag {
    container::open(vec![Input::new("test.mcap", Box::new(bytes.to_vec()))]).unwrap()
}

/// Every message time the bag gives, reading every unit, and the unit
/// failures by the unit's offset.
fn read_all(bag: &Bag) -> (Vec<u64>, Vec<u64>) {
    let mut times = Vec::new();
    let mut failed = Vec::new();
    for u in &bag.layout.units {
        match bag.read_unit(u) {
            Ok(c) => times.extend(c.messages.iter().map(|m| m.time_ns)),
            Err(_) => failed.push(u.offset),
        }
    }
    times.sort_unstable();
    (times, failed)
}

#[test]
fn the_summary_and_the_scan_find_the_same_messages() {
    let w = write_mcap(300, true, true);
    assert!(w.chunks.len() > 20, "{} chunks", w.chunks.len());
    let bag = open(&w.bytes);
    assert_eq!(bag.layout.mode, IndexMode::Indexed);
    assert_eq!(bag.layout.units.len(), w.chunks.len());
    let (times, failed) = read_all(&bag);
    assert_eq!(times, (1000..1300).collect::<Vec<_>>());
    assert!(failed.is_empty());
    let counts: Vec<u64> = bag.layout.message_counts.values().copied().collect();
    assert_eq!(counts, [200, 100]);
    assert_eq!(bag.layout.profile.as_deref(), Some("ros2"));
    // The same file without its footer: scanned, the same messages.
    let cut = &w.bytes[..w.bytes.len() - 8];
    let scanned = open(cut);
    assert!(matches!(scanned.layout.mode, IndexMode::Scanned { .. }));
    assert_eq!(read_all(&scanned).0, times);
    assert_eq!(scanned.layout.message_counts, bag.layout.message_counts);
    assert_eq!(scanned.layout.connections, bag.layout.connections);
}

#[test]
fn a_file_cut_anywhere_keeps_every_whole_chunk_before_the_cut() {
    let w = write_mcap(120, true, true);
    for (i, (offset, _)) in w.chunks.iter().enumerate() {
        // Messages of the chunks before this one are kept; this one is
        // whole only when the cut is after its end (never here).
        let before: Vec<u64> = w.chunks[..i].iter().flat_map(|c| c.1.clone()).collect();
        for cut in [offset - 1, *offset, offset + 1, offset + 30] {
            let bag = open(&w.bytes[..cut as usize]);
            let (times, failed) = read_all(&bag);
            assert!(
                failed.is_empty(),
                "cut {cut}: units that fail are not units"
            );
            // Cutting one byte short of a chunk record cuts the record
            // before it (a message index): nothing lost.
            assert_eq!(times, before, "cut at {cut} (chunk {i} at {offset})");
            let warnings: Vec<&str> = bag
                .layout
                .warnings
                .iter()
                .map(|w| w.message.as_str())
                .collect();
            if cut > *offset {
                assert!(
                    warnings.iter().any(
                        |w| w.contains(&format!("chunk at offset {offset} skipped: cut short"))
                    ),
                    "cut {cut}: {warnings:?}"
                );
            }
            assert!(matches!(bag.layout.mode, IndexMode::Scanned { .. }));
        }
    }
}

#[test]
fn a_damaged_chunk_is_skipped_whole_and_named() {
    let w = write_mcap(120, true, true);
    let (victim, lost) = &w.chunks[3];
    let expected: Vec<u64> = (1000..1120).filter(|t| !lost.contains(t)).collect();
    // A flipped byte in the compressed records: zstd fails or the CRC does.
    for delta in [60u64, 90] {
        let mut bytes = w.bytes.clone();
        let at = (victim + delta) as usize;
        bytes[at] ^= 0x5a;
        let bag = open(&bytes);
        let (times, failed) = read_all(&bag);
        assert_eq!(times, expected, "byte {at}");
        assert_eq!(failed, [*victim], "byte {at}");
    }
    // A wrong CRC on intact records.
    let mut bytes = w.bytes.clone();
    // The CRC follows the start and end times and the size in the header.
    let crc_at = (victim + 9 + 24) as usize;
    bytes[crc_at] ^= 1;
    let bag = open(&bytes);
    let unit = bag
        .layout
        .units
        .iter()
        .find(|u| u.offset == *victim)
        .unwrap();
    let e = bag.read_unit(unit).unwrap_err().to_string();
    assert!(
        e.contains(&format!("offset {victim}")) && e.contains("CRC"),
        "{e}"
    );
}

#[test]
fn a_chunk_index_that_lies_is_not_trusted() {
    let w = write_mcap(120, true, false);
    let intact = read_all(&open(&w.bytes)).0;
    // Find the first chunk index record in the summary and point it past
    // the end of the file, then at a message index record.
    let summary_start = u64::from_le_bytes(
        w.bytes[w.bytes.len() - 8 - 20..w.bytes.len() - 8 - 12]
            .try_into()
            .unwrap(),
    ) as usize;
    let mut pos = summary_start;
    let index_at = loop {
        let op = w.bytes[pos];
        let len = u64::from_le_bytes(w.bytes[pos + 1..pos + 9].try_into().unwrap()) as usize;
        if op == 0x08 {
            break pos;
        }
        pos += 9 + len;
    };
    // ChunkIndex body: start time, end time, then chunk_start_offset.
    let field = index_at + 9 + 16;
    for target in [w.bytes.len() as u64 + 100, w.chunks[1].0 - 50] {
        let mut bytes = w.bytes.clone();
        bytes[field..field + 8].copy_from_slice(&target.to_le_bytes());
        let bag = open(&bytes);
        assert!(
            matches!(&bag.layout.mode, IndexMode::Scanned { reason } if reason.contains("chunk index")),
            "{:?}",
            bag.layout.mode
        );
        assert_eq!(read_all(&bag).0, intact);
    }
}

#[test]
fn messages_outside_chunks_are_read_by_a_scan() {
    let w = write_mcap(500, false, false);
    let bag = open(&w.bytes);
    assert!(matches!(bag.layout.mode, IndexMode::Scanned { .. }));
    assert_eq!(read_all(&bag).0, (1000..1500).collect::<Vec<_>>());
    let counts: Vec<u64> = bag.layout.message_counts.values().copied().collect();
    assert_eq!(counts.iter().sum::<u64>(), 500);
}

#[test]
fn not_mcap_at_all_is_an_error_saying_what_was_found() {
    let mut mangled = b"\x89MCAP0\n\x01".to_vec();
    mangled.extend_from_slice(&[0; 64]);
    let e = container::open(vec![Input::new("x.mcap", Box::new(mangled))])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("89 4D 43 41 50 30 0A 01") && e.contains("line-ending"),
        "{e}"
    );
    let e = container::open(vec![Input::new("x.mcap", Box::new(Vec::new()))])
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty file"), "{e}");
}
