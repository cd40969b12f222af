//! The ROS 2 type hash, RIHS01 (REP 2011), of a parsed type tree.
//!
//! rosidl hashes a JSON rendering of the type's description: the type and
//! every type it references (sorted by name), each a list of fields with a
//! numeric type id, array capacity, string capacity and nested type name;
//! default values, constants and comments are not part of it. The JSON is
//! Python's `json.dumps` with separators `", "` and `": "`, keys in a fixed
//! order; the hash is its SHA-256 in hex after `RIHS01_`
//! (`rosidl_generator_type_description.calculate_type_hash`).
//!
//! Two rules come from how `.msg` becomes IDL before hashing: `char` is
//! `uint8` there (so it hashes as UINT8, not CHAR), and an empty message
//! gets the member `uint8 structure_needs_at_least_one_member`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::{Arity, Field, FieldType, MessageType, Primitive};

/// The prefix of a version 1 type hash.
pub const PREFIX: &str = "RIHS01_";

/// The member rosidl gives a message that has no fields.
const PLACEHOLDER_FIELD: &str = "structure_needs_at_least_one_member";

/// `type_id` of a field (`type_description_interfaces/msg/FieldType`).
fn type_id(field: &Field) -> Result<u32, String> {
    let base = match &field.ty {
        FieldType::Message(_) => 1,
        FieldType::Primitive(p) => match p {
            Primitive::Int8 => 2,
            Primitive::UInt8 => 3,
            Primitive::Int16 => 4,
            Primitive::UInt16 => 5,
            Primitive::Int32 => 6,
            Primitive::UInt32 => 7,
            Primitive::Int64 => 8,
            Primitive::UInt64 => 9,
            Primitive::Float32 => 10,
            Primitive::Float64 => 11,
            Primitive::Bool => 15,
            Primitive::Octet => 16,
            Primitive::String if field.string_bound.is_some() => 21,
            Primitive::String => 17,
            Primitive::Time | Primitive::Duration => {
                return Err(format!(
                    "field {} has the ROS1 type {}, which has no ROS 2 type hash",
                    field.name,
                    p.name()
                ));
            }
        },
    };
    Ok(base
        + match field.arity {
            Arity::Scalar => 0,
            Arity::Fixed(_) => 48,
            Arity::Bounded(_) => 96,
            Arity::Variable => 144,
        })
}

/// One type's description as rosidl serialises it.
fn describe(msg: &MessageType, out: &mut String) -> Result<(), String> {
    let _ = write!(
        out,
        "{{\"type_name\": {}, \"fields\": [",
        json_string(&msg.name)
    );
    if msg.fields.is_empty() {
        let _ = write!(
            out,
            "{{\"name\": \"{PLACEHOLDER_FIELD}\", \"type\": {{\"type_id\": 3, \"capacity\": 0, \
             \"string_capacity\": 0, \"nested_type_name\": \"\"}}}}"
        );
    }
    for (i, f) in msg.fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let capacity = match f.arity {
            Arity::Fixed(n) | Arity::Bounded(n) => n,
            Arity::Scalar | Arity::Variable => 0,
        };
        let nested = match &f.ty {
            FieldType::Message(m) => m.name.as_str(),
            FieldType::Primitive(_) => "",
        };
        let _ = write!(
            out,
            "{{\"name\": {}, \"type\": {{\"type_id\": {}, \"capacity\": {capacity}, \
             \"string_capacity\": {}, \"nested_type_name\": {}}}}}",
            json_string(&f.name),
            type_id(f)?,
            f.string_bound.unwrap_or(0),
            json_string(nested)
        );
    }
    out.push_str("]}");
    Ok(())
}

/// Every type `msg` references, at any depth, by name.
fn referenced<'a>(msg: &'a MessageType, out: &mut BTreeMap<&'a str, &'a MessageType>) {
    for f in &msg.fields {
        if let FieldType::Message(m) = &f.ty
            && out.insert(m.name.as_str(), m).is_none()
        {
            referenced(m, out);
        }
    }
}

/// The RIHS01 hash of a ROS 2 type tree, `RIHS01_<64 hex digits>`. Fails
/// only for a tree holding ROS1 `time`/`duration` primitives.
pub fn type_hash(msg: &MessageType) -> Result<String, String> {
    let mut refs = BTreeMap::new();
    referenced(msg, &mut refs);
    let mut json = String::from("{\"type_description\": ");
    describe(msg, &mut json)?;
    json.push_str(", \"referenced_type_descriptions\": [");
    for (i, r) in refs.values().enumerate() {
        if i > 0 {
            json.push_str(", ");
        }
        describe(r, &mut json)?;
    }
    json.push_str("]}");
    let digest = Sha256::digest(json.as_bytes());
    let mut hex = String::with_capacity(PREFIX.len() + 64);
    hex.push_str(PREFIX);
    for b in digest {
        let _ = write!(hex, "{b:02x}");
    }
    Ok(hex)
}

/// Whether `text` is a well-formed RIHS01 hash (recorded values like
/// `hash1` or an empty string are not).
pub fn is_rihs01(text: &str) -> bool {
    text.strip_prefix(PREFIX)
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The first 8 hex digits after `RIHS01_`, for table suffixes.
pub fn short(hash: &str) -> String {
    hash.strip_prefix(PREFIX)
        .unwrap_or(hash)
        .chars()
        .take(8)
        .collect::<String>()
        .to_lowercase()
}

/// A string as JSON with only ASCII (`ensure_ascii=True`).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::ros2;

    fn none(_: &str) -> Option<std::sync::Arc<str>> {
        None
    }

    #[test]
    fn hashes_what_rosidl_hashes() {
        // std_msgs/msg/String, as recorded by every rosbag2 since Iron.
        let t = ros2::parse("std_msgs/msg/String", "string data\n", &none).unwrap();
        assert_eq!(
            type_hash(&t).unwrap(),
            "RIHS01_df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18"
        );
        // An empty message hashes with rosidl's placeholder member.
        let e = ros2::parse("std_msgs/msg/Empty", "", &none).unwrap();
        assert_eq!(
            type_hash(&e).unwrap(),
            "RIHS01_20b625256f32d5dbc0d04fee44f43c41e51c70d3502f84b4a08e7a9c26a96312"
        );
    }

    #[test]
    fn recognises_hashes() {
        assert!(is_rihs01(&format!("RIHS01_{}", "a".repeat(64))));
        assert!(!is_rihs01("hash1"));
        assert!(!is_rihs01(""));
        assert_eq!(short("RIHS01_E369D0F0aa"), "e369d0f0");
    }
}
