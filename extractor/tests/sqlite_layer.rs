//! The rosbag2 sqlite3 container on databases made here with SQLite itself:
//! schema versions, per-message zstd, a WAL-mode file opened without a
//! side file appearing, a file cut short (the rows before the damage are
//! kept, with one warning), and a database that is not a rosbag2 one.

use std::path::Path;

use extractor::container::{self, Bag, Format, Input};
use extractor::source::FileSource;
use rusqlite::Connection;

/// A std_msgs/msg/String CDR payload.
fn string_payload(text: &str) -> Vec<u8> {
    let mut out = vec![0, 1, 0, 0];
    out.extend_from_slice(&(text.len() as u32 + 1).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.push(0);
    out
}

/// A rosbag2 database of `schema` version (1 to 4) with `n` String
/// messages on two topics; with `zstd`, every blob compressed.
fn make_db(path: &Path, schema: u32, n: i64, zstd: bool, wal: bool) {
    let db = Connection::open(path).unwrap();
    if wal {
        db.pragma_update(None, "journal_mode", "WAL").unwrap();
    }
    let topics = match schema {
        1 => {
            "CREATE TABLE topics(id INTEGER PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, serialization_format TEXT NOT NULL)"
        }
        2 | 3 => {
            "CREATE TABLE topics(id INTEGER PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, serialization_format TEXT NOT NULL, offered_qos_profiles TEXT NOT NULL)"
        }
        _ => {
            "CREATE TABLE topics(id INTEGER PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, serialization_format TEXT NOT NULL, offered_qos_profiles TEXT NOT NULL, type_description_hash TEXT NOT NULL)"
        }
    };
    db.execute_batch(topics).unwrap();
    db.execute_batch(
        "CREATE TABLE messages(id INTEGER PRIMARY KEY, topic_id INTEGER NOT NULL, timestamp INTEGER NOT NULL, data BLOB NOT NULL);",
    )
    .unwrap();
    if schema >= 3 {
        db.execute_batch(
            "CREATE TABLE schema(schema_version INTEGER PRIMARY KEY, ros_distro TEXT NOT NULL);
             CREATE TABLE metadata(id INTEGER PRIMARY KEY, metadata_version INTEGER NOT NULL, metadata TEXT NOT NULL);",
        )
        .unwrap();
        db.execute("INSERT INTO schema VALUES (?1, 'humble')", [schema])
            .unwrap();
    }
    if schema >= 4 {
        db.execute_batch(
            "CREATE TABLE message_definitions(id INTEGER PRIMARY KEY, topic_type TEXT NOT NULL, encoding TEXT NOT NULL, encoded_message_definition TEXT NOT NULL, type_description_hash TEXT NOT NULL);
             INSERT INTO message_definitions VALUES (1, 'std_msgs/msg/String', 'ros2msg', 'string data', '');",
        )
        .unwrap();
    }
    for (id, name) in [(1, "/a"), (2, "/b")] {
        let mut cols = vec![
            id.to_string(),
            format!("'{name}'"),
            "'std_msgs/msg/String'".into(),
            "'cdr'".into(),
        ];
        if schema >= 2 {
            cols.push("''".into());
        }
        if schema >= 4 {
            cols.push("''".into());
        }
        db.execute(
            &format!("INSERT INTO topics VALUES ({})", cols.join(",")),
            [],
        )
        .unwrap();
    }
    let tx = db.unchecked_transaction().unwrap();
    for i in 0..n {
        let mut data = string_payload(&format!("message number {i} {}", "x".repeat(200)));
        if zstd {
            data = zstd::encode_all(&data[..], 3).unwrap();
        }
        tx.execute(
            "INSERT INTO messages(topic_id, timestamp, data) VALUES (?1, ?2, ?3)",
            rusqlite::params![1 + i % 2, 1_000 + i, data],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

fn open(path: &Path) -> extractor::Result<Bag> {
    container::open(vec![Input::new(
        "x.db3",
        Box::new(FileSource::open(path).unwrap()),
    )])
}

fn times(bag: &Bag) -> Vec<u64> {
    let mut t: Vec<u64> = bag
        .layout
        .units
        .iter()
        .flat_map(|u| {
            let c = bag.read_unit(u).unwrap();
            assert!(c.unreadable.is_empty());
            c.messages.into_iter().map(|m| m.time_ns)
        })
        .collect();
    t.sort_unstable();
    t
}

#[test]
fn every_schema_version_and_per_message_zstd_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    for schema in 1..=4 {
        for zstd in [false, true] {
            let path = dir.path().join(format!("s{schema}_{zstd}.db3"));
            make_db(&path, schema, 70_000, zstd, false);
            let bag = open(&path).unwrap();
            assert_eq!(bag.layout.format, Format::Sqlite3);
            assert_eq!(bag.layout.connections.len(), 2);
            // 70 000 rows: more than one unit.
            assert!(bag.layout.units.len() >= 2);
            assert_eq!(times(&bag), (1_000..71_000).collect::<Vec<_>>());
            let expect_distro = (schema >= 3).then(|| "humble".to_string());
            assert_eq!(bag.layout.ros_distro, expect_distro, "schema {schema}");
            let defined = bag.layout.connections[0].definition.clone();
            assert_eq!(defined.is_empty(), schema < 4, "schema {schema}");
        }
    }
}

#[test]
fn a_wal_mode_file_is_read_without_writing_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.db3");
    make_db(&path, 4, 100, false, true);
    // Checkpointed and closed: a WAL-mode file alone.
    let before: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(before.len(), 1);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes[18], 2, "WAL mode");
    let bag = open(&path).unwrap();
    assert_eq!(times(&bag).len(), 100);
    drop(bag);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["wal.db3"]);
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_file_cut_short_keeps_the_rows_before_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whole.db3");
    make_db(&path, 4, 20_000, false, false);
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.db3");
    std::fs::write(&cut, &bytes[..bytes.len() * 3 / 5]).unwrap();
    let bag = open(&cut).unwrap();
    let got = times(&bag);
    assert!(!got.is_empty() && got.len() < 20_000, "{}", got.len());
    // What was read is a prefix, in order.
    assert_eq!(got, (1_000..1_000 + got.len() as u64).collect::<Vec<_>>());
    let warnings: Vec<&str> = bag
        .layout
        .warnings
        .iter()
        .map(|w| w.message.as_str())
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("SQLite error"), "{warnings:?}");
}

#[test]
fn a_database_that_is_not_a_rosbag2_one_is_refused_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db3");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE people(name TEXT);")
        .unwrap();
    let e = open(&path).unwrap_err().to_string();
    assert!(
        e.contains("not a rosbag2 one") && e.contains("people"),
        "{e}"
    );
}
