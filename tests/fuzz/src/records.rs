//! Target `records`: the record parser (`extractor::records`) over any bytes.
//!
//! Input: raw bytes, read as a run of records (a bag's body, or a
//! decompressed chunk).
//!
//! Properties: records come back to back from the start; each re-encodes
//! (`<len><fields><len><data>`) to exactly the bytes it was read from; after
//! an error the iterator stops; every error names an offset inside the
//! input; the typed parsers (connection, chunk, chunk info, bag header,
//! message header) never panic, and what they accept agrees with the header;
//! the quick reader of message records (`records::quick_message`) accepts
//! only records the full reader reads as message data, with the same
//! connection, time, data and end.

use extractor::container::ros1::records::{
    self, OP_BAG_HEADER, OP_CHUNK, OP_CHUNK_INFO, OP_CONNECTION, OP_MSG_DATA,
};

/// Where the input is taken to start in its file, so offsets are checked
/// to be relative to it.
const BASE: u64 = 1_000_000;

pub fn check(input: &[u8]) {
    let mut iter = records::records(input, BASE);
    let mut expected_start = 0usize;
    loop {
        let quick = records::quick_message(input, iter.position());
        let Some(item) = iter.next() else { break };
        let record = match item {
            Ok(record) => record,
            Err(e) => {
                assert_names_offset_inside(&e.to_string(), input.len());
                assert!(iter.next().is_none(), "the iterator goes on after an error");
                assert_eq!(
                    quick, None,
                    "the quick reader took a record the full one refuses"
                );
                return;
            }
        };
        if let Some((conn, time, data, next)) = quick {
            assert_eq!(
                record.header.op().ok(),
                Some(OP_MSG_DATA),
                "quick read of another op"
            );
            assert_eq!(
                records::parse_message_header(&record.header).ok(),
                Some((conn, time)),
                "the quick reader's connection and time differ"
            );
            assert_eq!(&input[data], record.data, "the quick reader's data differ");
            assert_eq!(
                next,
                iter.position(),
                "the quick reader's next record differs"
            );
        }
        let start = usize::try_from(record.offset - BASE).unwrap();
        assert_eq!(start, expected_start, "records are read back to back");
        let end = iter.position();
        assert!(
            end > start && end <= input.len(),
            "record {start}..{end} of {}",
            input.len()
        );
        assert_eq!(
            encode_record(&record),
            &input[start..end],
            "record at {start} re-encodes to other bytes"
        );
        check_typed(&record);
        expected_start = end;
    }
    assert_eq!(
        expected_start,
        input.len(),
        "records stop short of the end without an error"
    );
}

/// `<header_len><name=value fields><data_len><data>`, as a writer would.
fn encode_record(record: &records::RawRecord<'_>) -> Vec<u8> {
    let mut header = Vec::new();
    for (name, value) in record.header.iter() {
        header.extend_from_slice(&((name.len() + 1 + value.len()) as u32).to_le_bytes());
        header.extend_from_slice(name);
        header.push(b'=');
        header.extend_from_slice(value);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&(record.data.len() as u32).to_le_bytes());
    out.extend_from_slice(record.data);
    out
}

fn check_typed(record: &records::RawRecord<'_>) {
    let Ok(op) = record.header.op() else { return };
    match op {
        OP_CONNECTION => {
            if let Ok(conn) = records::parse_connection(record) {
                assert_eq!(
                    Ok(conn.id),
                    record.header.u32(records::FIELD_CONN).map_err(|_| ())
                );
                // The record header's topic wins; a writer that left it
                // out has it in the data's header only.
                if let Ok(topic) = record.header.string(records::FIELD_TOPIC) {
                    assert_eq!(conn.topic, topic);
                }
            }
        }
        OP_CHUNK => {
            let _ = records::parse_chunk_header(&record.header);
        }
        OP_CHUNK_INFO => {
            if let Ok(info) = records::parse_chunk_info(record) {
                // Each (conn, count) pair takes 8 bytes of the data.
                assert!(info.counts.len() * 8 <= record.data.len());
            }
        }
        OP_BAG_HEADER => {
            let _ = records::parse_bag_header(&record.header);
        }
        OP_MSG_DATA => {
            let _ = records::parse_message_header(&record.header);
        }
        _ => {}
    }
}

/// Errors say "at offset N"; N must be inside the input (or its end).
pub(crate) fn assert_names_offset_inside(message: &str, len: usize) {
    let Some(at) = message.find("offset ") else {
        panic!("error names no offset: {message}");
    };
    let digits: String = message[at + 7..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let offset: u64 = digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after offset: {message}"));
    assert!(
        (BASE..=BASE + len as u64).contains(&offset),
        "offset {offset} is outside the input ({BASE}..={}): {message}",
        BASE + len as u64
    );
}
