//! Target `msgdef`: the message-definition parser (`extractor::msgdef`).
//!
//! Input: UTF-8 text (invalid bytes replaced): the first line is the type
//! name, the rest its `message_definition`.
//!
//! Properties: a definition that parses nests no deeper than the cap and
//! expands to no more than the field cap; its canonical text re-parses to
//! the same tree; and the table layout compiled from it has one column per
//! field that has bytes, after the leading log time.

use std::sync::Arc;

use extractor::decode::{LOG_TIME_COLUMN, Layout, Wire};
use extractor::definition::{self, FieldType, MAX_NESTING_DEPTH, MessageType, ros1 as msgdef};

pub fn encode(datatype: &str, definition: &str) -> Vec<u8> {
    format!("{datatype}\n{definition}").into_bytes()
}

/// The type name and the definition text of an input.
pub fn split(input: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(input);
    match text.split_once('\n') {
        Some((datatype, definition)) => (datatype.to_string(), definition.to_string()),
        None => (text.into_owned(), String::new()),
    }
}

pub fn check(input: &[u8]) {
    let (datatype, definition) = split(input);
    if let Ok(t) = msgdef::parse(&datatype, &definition) {
        check_parsed(&t);
    }
}

/// The properties of a definition that parsed.
pub fn check_parsed(t: &Arc<MessageType>) {
    check_depth(t);
    let text = definition::render(t);
    let again = msgdef::parse(&t.name, &text)
        .unwrap_or_else(|e| panic!("the canonical text does not parse: {e}\n{text}"));
    assert_eq!(
        &again, t,
        "the canonical text parses to another tree:\n{text}"
    );
    let layout = Layout::new(t, Wire::Ros1);
    let schema = layout.schema();
    assert_eq!(schema.field(0).name(), LOG_TIME_COLUMN);
    let names: Vec<&str> = schema
        .fields()
        .iter()
        .skip(1)
        .map(|f| f.name().as_str())
        .collect();
    let fields: Vec<&str> = t.fields.iter().map(|f| f.name.as_str()).collect();
    assert!(
        names.iter().all(|n| fields.contains(n)),
        "a column that is no field: {names:?} of {fields:?}"
    );
}

/// A parsed tree nests no deeper than the cap.
pub(crate) fn check_depth(t: &MessageType) {
    assert!(depth(t) <= MAX_NESTING_DEPTH + 1, "nests {} deep", depth(t));
}

fn depth(t: &MessageType) -> usize {
    1 + t
        .fields
        .iter()
        .map(|f| match &f.ty {
            FieldType::Message(m) => depth(m),
            FieldType::Primitive(_) => 0,
        })
        .max()
        .unwrap_or(0)
}
