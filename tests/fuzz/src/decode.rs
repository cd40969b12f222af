//! Target `decode`: the message decoder (`extractor::decode`), definition
//! and bytes both from the input.
//!
//! Input: `[n, u16 LE][n bytes: a msgdef input][message bytes]`.
//!
//! Properties: a message decodes to exactly one row or to nothing (a failed
//! message leaves no partial row behind); the row holds no more values than
//! its bytes can (every number took at least one byte on the wire, every
//! string or blob byte one byte); decoding is deterministic (the same bytes
//! twice give two equal rows); and the batch is valid Arrow.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use extractor::decode::{Layout, MessageDecoder, Wire};
use extractor::definition::ros1 as msgdef;

use crate::msgdef::split;

pub fn encode(datatype: &str, definition: &str, message: &[u8]) -> Vec<u8> {
    let def = crate::msgdef::encode(datatype, definition);
    let n = u16::try_from(def.len()).expect("a seed definition under 64 KiB");
    let mut out = n.to_le_bytes().to_vec();
    out.extend_from_slice(&def);
    out.extend_from_slice(message);
    out
}

pub fn check(input: &[u8]) {
    let Some(n) = input
        .get(..2)
        .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
    else {
        return;
    };
    let Some(def) = input.get(2..2 + n) else {
        return;
    };
    let message = &input[2 + n..];
    let (datatype, definition) = split(def);
    let Ok(t) = msgdef::parse(&datatype, &definition) else {
        return;
    };
    let layout = Arc::new(Layout::new(&t, Wire::Ros1));

    let mut once = MessageDecoder::new(layout.clone());
    let decoded = once.decode(7, message);
    let batch = once.finish();
    assert_eq!(batch.schema(), *layout.schema());
    let Ok(()) = decoded else {
        assert_eq!(batch.num_rows(), 0, "a failed message left a row");
        return;
    };
    assert_eq!(batch.num_rows(), 1);
    for column in batch.columns() {
        column.to_data().validate_full().expect("valid Arrow");
    }
    let held: usize = batch.columns().iter().skip(1).map(wire_floor).sum();
    assert!(
        held <= message.len(),
        "{held} values and string bytes from a {}-byte message",
        message.len()
    );

    let mut twice = MessageDecoder::new(layout);
    twice.decode(7, message).expect("decodes the first time");
    twice.decode(7, message).expect("decodes the second time");
    let both = twice.finish();
    assert_eq!(both.num_rows(), 2);
    assert_eq!(
        both.slice(0, 1),
        both.slice(1, 1),
        "the same bytes gave two rows"
    );
}

/// The fewest wire bytes an array's values can have come from: one per
/// number or bool, one per string character or blob byte (their lengths
/// and the lists' lengths only add to it).
pub(crate) fn wire_floor(array: &ArrayRef) -> usize {
    match array.data_type() {
        DataType::Struct(_) => array.as_struct().columns().iter().map(wire_floor).sum(),
        DataType::List(_) => wire_floor(array.as_list::<i32>().values()),
        // Characters, not bytes: an invalid byte comes out as U+FFFD,
        // three bytes for one, but still one character for one byte.
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .flatten()
            .map(|s| s.chars().count())
            .sum(),
        DataType::Binary => array.as_binary::<i32>().values().len(),
        _ => array.len(),
    }
}
