//! Target `mcap`: the MCAP container (`extractor::container::mcap`), the
//! layout and every unit, over any bytes.
//!
//! Input: a file's bytes; when they do not start with the MCAP magic it is
//! put in front, so the fuzzer spends its time past the magic.
//!
//! Units that claim more than [`CLAIM_MAX`] uncompressed bytes are not
//! read: a zstd frame of a few bytes can truly expand to a 1 GiB claim,
//! which takes the memory it claims (`tests/limits.rs` checks such bombs
//! under a memory limit); below it, the memory budget holds.
//!
//! Properties: the file opens as MCAP or fails with an error that is not a
//! panic; every unit lies inside the file; every unit reads, or fails with
//! an error naming the offset where it starts; every message of a unit
//! lies inside the unit's bytes and names a connection of the layout or is
//! counted as unknown; reading a unit twice gives the same messages.

use extractor::container::{self, Input, MCAP_MAGIC, UnitKind};

/// The file the target opens for an input.
pub fn file(input: &[u8]) -> Vec<u8> {
    if input.starts_with(MCAP_MAGIC) {
        input.to_vec()
    } else {
        let mut out = MCAP_MAGIC.to_vec();
        out.extend_from_slice(input);
        out
    }
}

/// Largest uncompressed claim of a unit the target reads.
pub const CLAIM_MAX: u64 = 64 << 20;

pub fn check(input: &[u8]) {
    let bytes = file(input);
    let len = bytes.len() as u64;
    let Ok(bag) = container::open(vec![Input::new("fuzz.mcap", Box::new(bytes))]) else {
        return;
    };
    let ids: Vec<u32> = bag.layout.connections.iter().map(|c| c.id).collect();
    for unit in &bag.layout.units {
        if let UnitKind::Mcap(u) = &unit.kind {
            let (start, n) = u.range();
            assert!(
                start.checked_add(n).is_some_and(|end| end <= len),
                "unit {unit:?} past the end"
            );
        }
        if unit.size > CLAIM_MAX {
            continue;
        }
        match bag.read_unit(unit) {
            Ok(contents) => {
                for m in &contents.messages {
                    assert!(
                        m.range.end <= contents.data.len(),
                        "message past its unit's bytes"
                    );
                    assert!(
                        ids.contains(&m.conn),
                        "message of an unknown connection {}",
                        m.conn
                    );
                }
                let again = bag.read_unit(unit).expect("read once, read twice");
                assert_eq!(again.messages.len(), contents.messages.len());
                assert_eq!(again.data, contents.data);
            }
            Err(e) => {
                let message = e.to_string();
                assert!(
                    message.contains(&unit.offset.to_string()),
                    "the error does not name offset {}: {message}",
                    unit.offset
                );
            }
        }
    }
}
