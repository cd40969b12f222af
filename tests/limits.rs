//! The memory bound: `bagpipe run` in 512 MiB of address space
//! (`ulimit -v 524288`, which also counts what is reserved and never
//! touched) on a bag crafted to claim huge sizes and on a 4 GB bag. Neither
//! may fail for memory: the first ends with warnings naming each lie's
//! offset, the second with every message in the lake.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Output};

use extractor::container::ros1::bag::{Compression, MAGIC};
use extractor::container::ros1::records::{self, Connection, OP_CHUNK, OP_CHUNK_INFO, OP_MSG_DATA};
use extractor::testing::{
    BagBuilder, compress, header, time_bytes, write_bag_header, write_connection, write_record,
};

use crate::util::{catalog, data_warnings, show, warnings};

/// 512 MiB, in the KiB `ulimit -v` takes.
const ADDRESS_SPACE_KIB: u64 = 512 * 1024;

/// `bagpipe run --out LAKE BAG` with its address space capped.
fn run_capped(lake: &Path, bag: &Path) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_bagpipe"))
        .args(["run", "--quiet", "--out"])
        .arg(lake)
        .arg(bag)
        .output()
        .expect("sh runs")
}

/// A run that ended by itself (no signal, no allocation abort).
fn assert_not_killed_by_memory(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some()
            && !stderr.contains("memory allocation")
            && !stderr.contains("panicked"),
        "{}",
        show(out)
    );
}

const FRAME_DEF: &str = "uint32 seq\nuint8[] data\n";

fn frame_connection(id: u32, topic: &str) -> Connection {
    Connection {
        id,
        topic: topic.to_string(),
        datatype: "test_msgs/Frame".to_string(),
        md5sum: "0123456789abcdef0123456789abcdef".to_string(),
        message_definition: FRAME_DEF.to_string(),
        callerid: None,
        latching: false,
    }
}

fn frame(seq: u32, data: &[u8]) -> Vec<u8> {
    let mut m = seq.to_le_bytes().to_vec();
    m.extend_from_slice(&(data.len() as u32).to_le_bytes());
    m.extend_from_slice(data);
    m
}

/// A chunk record holding `data` (already compressed) that claims `size`.
fn chunk_record(compression: Compression, size: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let hdr = header(&[
        (records::FIELD_COMPRESSION, compression.as_str().as_bytes()),
        (records::FIELD_OP, &[OP_CHUNK][..]),
        (records::FIELD_SIZE, &size.to_le_bytes()[..]),
    ]);
    write_record(&mut out, &hdr, data);
    out
}

/// A message data record.
fn message_record(conn: u32, time_ns: u64, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let hdr = header(&[
        (records::FIELD_CONN, &conn.to_le_bytes()[..]),
        (records::FIELD_OP, &[OP_MSG_DATA][..]),
        (records::FIELD_TIME, &time_bytes(time_ns)[..]),
    ]);
    write_record(&mut out, &hdr, data);
    out
}

#[test]
fn a_bag_claiming_huge_sizes_runs_in_512_mib() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_700_000_000_000_000_000u64;
    // Honest messages, then every kind of lie, in a bag whose index is
    // missing (a recorder that died), so every record is walked.
    let empty_elements = "a/Z[] zs\n===\nMSG: a/Z\nint32[0] v\n";
    let mut exponential = String::from("a/T0 l\na/T0 r\n");
    for i in 0..40 {
        exponential.push_str(&format!("===\nMSG: a/T{i}\na/T{0} l\na/T{0} r\n", i + 1));
    }
    // 2^40 fields, 41 levels deep (under the depth cap).
    exponential.push_str("===\nMSG: a/T40\nint32 v\n");
    let mut b = BagBuilder::new()
        .with_index(false)
        .compression(Compression::Lz4)
        .chunk_threshold(1)
        .connection_record(frame_connection(0, "/frames"))
        .connection(1, "/empty_elements", "a/M", "0", empty_elements)
        .connection(2, "/exponential", "a/Root", "0", &exponential);
    for i in 0..10u32 {
        b = b.message(0, t0 + u64::from(i) * 100_000_000, &frame(i, &[7; 1000]));
    }
    // An array of 2^32 - 1 elements of no bytes; any bytes for the other.
    b = b
        .message(1, t0 + 5, &u32::MAX.to_le_bytes())
        .message(2, t0 + 6, &[0; 16]);
    let mut bytes = b.build();

    let mut lies = Vec::new();
    // A few bytes of lz4 claiming a gigabyte (the cap) once decompressed.
    lies.push((bytes.len(), "claims 1 GiB"));
    let tiny = compress(
        Compression::Lz4,
        &message_record(0, t0, &frame(99, &[1; 64])),
    );
    bytes.extend(chunk_record(Compression::Lz4, 1 << 30, &tiny));
    // A bomb that keeps its word: 768 MiB of zeros in 3 MiB of lz4,
    // more than the whole address space.
    lies.push((bytes.len(), "bomb"));
    let zeros = vec![0u8; 768 << 20];
    let bomb = compress(Compression::Lz4, &zeros);
    drop(zeros);
    bytes.extend(chunk_record(Compression::Lz4, 768 << 20, &bomb));
    // A chunk claiming 1 GiB of data that the file does not hold.
    lies.push((bytes.len(), "past the end"));
    let mut cut = chunk_record(Compression::None, 1 << 30, &[]);
    let data_len_at = cut.len() - 4;
    cut[data_len_at..].copy_from_slice(&(1u32 << 30).to_le_bytes());
    bytes.extend(cut);
    bytes.extend_from_slice(&[0; 100]);

    let bag = dir.path().join("claims.bag");
    std::fs::write(&bag, &bytes).unwrap();
    let lake = dir.path().join("lake");
    let out = run_capped(&lake, &bag);
    assert_not_killed_by_memory(&out);
    let item = catalog(&lake).remove("claims").expect("a catalogue item");
    assert_eq!(item["status"]["S"], "DONE", "{}", show(&out));
    let topics = &item["topics"]["M"];
    assert_eq!(topics["/frames"]["M"]["message_count"]["N"], "10");
    let w = warnings(&item).join("\n");
    for (offset, what) in &lies[..2] {
        assert!(w.contains(&format!("offset {offset}")), "{what}: {w}");
    }
    assert!(w.contains("no memory"), "the bomb: {w}");
    assert!(w.contains("no bytes"), "the empty elements: {w}");
    assert!(
        w.contains("65536 fields"),
        "the exponential definition: {w}"
    );
}

/// Writes a bag of `frames` messages of `frame_len` bytes each, one chunk
/// per message, uncompressed, with its index. The frames are zeros left as
/// holes in a sparse file: the reader reads every byte, but the disk holds
/// only the records' headers.
fn write_big_bag(path: &Path, frames: u32, frame_len: u32) {
    let mut f = File::create(path).unwrap();
    let conn = frame_connection(0, "/camera/image");
    let mut head = MAGIC.to_vec();
    write_bag_header(&mut head, 0, 0, 0);
    f.write_all(&head).unwrap();
    let t0 = 1_700_000_000_000_000_000u64;
    let mut infos = Vec::new();
    for i in 0..frames {
        let time = t0 + u64::from(i) * 33_000_000;
        let mut inner = Vec::new();
        if i == 0 {
            write_connection(&mut inner, &conn);
        }
        let msg_hdr = header(&[
            (records::FIELD_CONN, &0u32.to_le_bytes()[..]),
            (records::FIELD_OP, &[OP_MSG_DATA][..]),
            (records::FIELD_TIME, &time_bytes(time)[..]),
        ]);
        inner.extend_from_slice(&(msg_hdr.len() as u32).to_le_bytes());
        inner.extend_from_slice(&msg_hdr);
        inner.extend_from_slice(&(8 + frame_len).to_le_bytes());
        inner.extend_from_slice(&i.to_le_bytes());
        inner.extend_from_slice(&frame_len.to_le_bytes());
        let size = inner.len() as u32 + frame_len;
        let chunk_hdr = header(&[
            (records::FIELD_COMPRESSION, b"none"),
            (records::FIELD_OP, &[OP_CHUNK][..]),
            (records::FIELD_SIZE, &size.to_le_bytes()[..]),
        ]);
        let pos = f.stream_position().unwrap();
        f.write_all(&(chunk_hdr.len() as u32).to_le_bytes())
            .unwrap();
        f.write_all(&chunk_hdr).unwrap();
        f.write_all(&size.to_le_bytes()).unwrap();
        f.write_all(&inner).unwrap();
        f.seek(SeekFrom::Current(i64::from(frame_len))).unwrap();
        infos.push((pos, time));
    }
    let index_pos = f.stream_position().unwrap();
    let mut index = Vec::new();
    write_connection(&mut index, &conn);
    for (pos, time) in &infos {
        let hdr = header(&[
            (records::FIELD_CHUNK_POS, &pos.to_le_bytes()[..]),
            (records::FIELD_COUNT, &1u32.to_le_bytes()[..]),
            (records::FIELD_END_TIME, &time_bytes(*time)[..]),
            (records::FIELD_OP, &[OP_CHUNK_INFO][..]),
            (records::FIELD_START_TIME, &time_bytes(*time)[..]),
            (records::FIELD_VER, &1u32.to_le_bytes()[..]),
        ]);
        let mut counts = 0u32.to_le_bytes().to_vec();
        counts.extend_from_slice(&1u32.to_le_bytes());
        write_record(&mut index, &hdr, &counts);
    }
    f.write_all(&index).unwrap();
    let mut head = Vec::new();
    write_bag_header(&mut head, index_pos, 1, frames);
    f.seek(SeekFrom::Start(MAGIC.len() as u64)).unwrap();
    f.write_all(&head).unwrap();
}

#[test]
fn a_4_gb_bag_runs_in_512_mib() {
    let dir = tempfile::tempdir().unwrap();
    let bag = dir.path().join("camera_4gb.bag");
    // 1000 frames of 4 MiB: 4.19 GB.
    let frames = 1000;
    write_big_bag(&bag, frames, 4 << 20);
    assert!(std::fs::metadata(&bag).unwrap().len() > 4_000_000_000);
    let lake = dir.path().join("lake");
    let out = run_capped(&lake, &bag);
    assert_not_killed_by_memory(&out);
    assert!(out.status.success(), "{}", show(&out));
    let item = catalog(&lake)
        .remove("camera_4gb")
        .expect("a catalogue item");
    assert_eq!(item["status"]["S"], "DONE");
    assert_eq!(
        item["topics"]["M"]["/camera/image"]["M"]["message_count"]["N"],
        frames.to_string()
    );
    assert!(data_warnings(&item).is_empty(), "{:?}", warnings(&item));
    let parts = crate::util::files_under(&lake.join("topics/camera_image"));
    assert!(!parts.is_empty(), "no Parquet written");
}
