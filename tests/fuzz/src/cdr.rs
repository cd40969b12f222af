//! Target `cdr`: the CDR wire format of the decoder, definition (ROS 2
//! `.msg` text) and message bytes both from the input.
//!
//! Input: `[n, u16 LE][n bytes: a ros2def input][message bytes]`.
//!
//! Properties (as for the ROS1 `decode` target): a message decodes to one
//! row or to nothing (no partial row left behind); the row holds no more
//! values than its bytes can; the same bytes twice give equal rows; and the
//! batch is valid Arrow.

use std::sync::Arc;

use extractor::decode::{Layout, MessageDecoder, Wire};
use extractor::definition::ros2;

use crate::ros2def::split;

pub fn encode(datatype: &str, definition: &str, message: &[u8]) -> Vec<u8> {
    let def = crate::ros2def::encode(datatype, definition);
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
    let none = |_: &str| None;
    let Ok(t) = ros2::parse(&datatype, &definition, &none) else {
        return;
    };
    let layout = Arc::new(Layout::new(&t, Wire::Cdr));
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
    let held: usize = batch
        .columns()
        .iter()
        .skip(1)
        .map(crate::decode::wire_floor)
        .sum();
    assert!(
        held <= message.len(),
        "{held} values and string bytes from a {}-byte message",
        message.len()
    );
    let mut twice = MessageDecoder::new(layout);
    twice.decode(7, message).expect("decodes the first time");
    twice.decode(7, message).expect("decodes the second time");
    let both = twice.finish();
    assert_eq!(
        both.slice(0, 1),
        both.slice(1, 1),
        "the same bytes gave two rows"
    );
}
