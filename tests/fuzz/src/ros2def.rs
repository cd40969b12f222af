//! Target `ros2def`: the ROS 2 definition dialects (`extractor::definition`
//! `ros2` and `idl`) and the RIHS01 hash.
//!
//! Input: UTF-8 text (invalid bytes replaced): the first line is the type
//! name, the rest its definition (`.msg` text with `MSG:` sections, or a
//! `.srv` text for a `pkg/srv/X_Event` name, or IDL).
//!
//! Properties: a `.msg` definition that parses keeps the nesting and field
//! caps; its canonical text parses back to the same tree; the tree hashes
//! (RIHS01: `RIHS01_` and 64 hex digits) and hashes the same from the
//! canonical text; CDR and ROS1 layouts compile from it. The IDL parser
//! takes the same text and either parses it (the same properties but the
//! round trip) or refuses it, never panics.

use std::sync::Arc;

use extractor::decode::{Layout, Wire};
use extractor::definition::{self, MessageType, idl, rihs, ros2};

pub fn encode(datatype: &str, definition: &str) -> Vec<u8> {
    format!("{datatype}\n{definition}").into_bytes()
}

pub use crate::msgdef::split;

pub fn check(input: &[u8]) {
    let (datatype, text) = split(input);
    let builtin = |name: &str| definition::builtin::builtin_text(name);
    if let Ok(t) = ros2::parse(&datatype, &text, &builtin) {
        check_parsed(&t);
        let canonical = definition::render(&t);
        let again = ros2::parse(&t.name, &canonical, &builtin)
            .unwrap_or_else(|e| panic!("the canonical text does not parse: {e}\n{canonical}"));
        assert_eq!(
            again, t,
            "the canonical text parses to another tree:\n{canonical}"
        );
    }
    if let Ok(t) = idl::parse(&datatype, &text) {
        check_parsed(&t);
    }
}

fn check_parsed(t: &Arc<MessageType>) {
    crate::msgdef::check_depth(t);
    let hash = rihs::type_hash(t).expect("a ROS 2 tree hashes");
    assert!(rihs::is_rihs01(&hash), "{hash}");
    let _ = Layout::new(t, Wire::Cdr);
    let _ = Layout::new(t, Wire::Ros1);
}
