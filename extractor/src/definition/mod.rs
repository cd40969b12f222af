//! Message definitions: the one type tree every dialect parses into, and
//! the dialects.
//!
//! * [`ros1`]: the `message_definition` text of a ROS1 connection (and of
//!   an MCAP channel with schema encoding `ros1msg`).
//! * [`ros2`]: ROS 2 `.msg` text (`ros2msg`: the type, then `MSG:`
//!   sections), `.srv` text for service events, bounded types, defaults.
//! * [`idl`]: ROS 2 `ros2idl` text, the subset of OMG IDL that rosidl
//!   generates.
//! * [`rihs`]: the ROS 2 type hash (RIHS01, REP 2011) of a parsed type.
//! * [`builtin`]: where a ROS 2 definition comes from when the bag embeds
//!   none: the user's `msg_paths`, then the built-in standard interfaces.
//! * [`resolve`]: picks the dialect, wire format and version key of one
//!   connection and parses its definition.
//!
//! A tree is faithful to the definition (a ROS 2 `builtin_interfaces/msg/Time`
//! stays a nested message here); the mapping to Arrow columns is the
//! decoder's ([`crate::decode`]).

pub mod builtin;
pub mod idl;
pub mod resolve;
pub mod rihs;
pub mod ros1;
pub mod ros2;

use std::collections::HashMap;
use std::sync::Arc;

/// Deepest nesting of message types we accept. Real definitions nest a
/// handful of levels (the SICK radar scan, the deepest in our test set, about
/// six); the cap stops an absurd or hostile definition from recursing deeply
/// in the parser, the Arrow schema and the decoder.
pub const MAX_NESTING_DEPTH: usize = 64;

/// Largest fixed array length (`T[N]`) or bound (`T[<=N]`, `string<=N`) we
/// accept: a `uint8[N]` of an image row could be large, but beyond this it
/// is a corrupt definition.
pub const MAX_FIXED_ARRAY_LEN: usize = 1 << 24;

/// Most fields a definition may expand to, counting the fields of a nested
/// type again at every place it is used. A type used twice by a type used
/// twice... is text of a few lines that expands exponentially: 64 levels of
/// two fields each is 2^64 columns. The largest definition in our test set
/// expands to a few hundred fields.
pub const MAX_FIELDS: usize = 1 << 16;

/// A built-in type of either ROS generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Primitive {
    Bool,
    /// `int8`, and ROS1's `byte` (a signed byte there).
    Int8,
    /// `uint8`, and `char` (unsigned in both generations).
    UInt8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    Float32,
    Float64,
    String,
    /// ROS1 `time`: unsigned seconds and nanoseconds.
    Time,
    /// ROS1 `duration`: signed seconds and nanoseconds.
    Duration,
    /// ROS 2 `byte` (IDL `octet`): an unsigned byte.
    Octet,
}

impl Primitive {
    /// The name a ROS1 definition spells it with (`byte` and `char` are
    /// spelled `int8` and `uint8`; `Octet` has no ROS1 name and is `byte`
    /// as in ROS 2).
    pub fn name(self) -> &'static str {
        match self {
            Primitive::Bool => "bool",
            Primitive::Int8 => "int8",
            Primitive::UInt8 => "uint8",
            Primitive::Int16 => "int16",
            Primitive::UInt16 => "uint16",
            Primitive::Int32 => "int32",
            Primitive::UInt32 => "uint32",
            Primitive::Int64 => "int64",
            Primitive::UInt64 => "uint64",
            Primitive::Float32 => "float32",
            Primitive::Float64 => "float64",
            Primitive::String => "string",
            Primitive::Time => "time",
            Primitive::Duration => "duration",
            Primitive::Octet => "byte",
        }
    }

    /// Bytes on the wire, or `None` for `string` (a length, then bytes).
    pub fn fixed_size(self) -> Option<usize> {
        Some(match self {
            Primitive::Bool | Primitive::Int8 | Primitive::UInt8 | Primitive::Octet => 1,
            Primitive::Int16 | Primitive::UInt16 => 2,
            Primitive::Int32 | Primitive::UInt32 | Primitive::Float32 => 4,
            Primitive::Int64
            | Primitive::UInt64
            | Primitive::Float64
            | Primitive::Time
            | Primitive::Duration => 8,
            Primitive::String => return None,
        })
    }

    /// Whether arrays of it are stored as Binary (the raw bytes).
    pub fn is_byte(self) -> bool {
        matches!(self, Primitive::UInt8 | Primitive::Octet)
    }
}

/// How many elements a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arity {
    /// A single value.
    Scalar,
    /// `T[]`: a `uint32` length on the wire, then the elements.
    Variable,
    /// `T[N]`: exactly N elements, no length on the wire.
    Fixed(usize),
    /// ROS 2 `T[<=N]`: on the wire like `T[]`; the bound is not enforced
    /// on decoding (a writer that broke it still wrote the bytes).
    Bounded(usize),
}

/// The element type of a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    Primitive(Primitive),
    Message(Arc<MessageType>),
}

/// One field of a message, in definition order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
    pub arity: Arity,
    /// The bound of a ROS 2 `string<=N` (element type `string`).
    pub string_bound: Option<usize>,
}

impl Field {
    /// A field without a string bound.
    pub fn new(name: impl Into<String>, ty: FieldType, arity: Arity) -> Field {
        Field {
            name: name.into(),
            ty,
            arity,
            string_bound: None,
        }
    }
}

/// A resolved message type: its full name and its fields (constants and
/// default values dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageType {
    pub name: String,
    pub fields: Vec<Field>,
}

/// How many fields `msg` has with every nested type expanded where it is
/// used, saturating; memoised by type name (names are unique in a tree).
pub fn expanded_fields<'a>(msg: &'a MessageType, memo: &mut HashMap<&'a str, usize>) -> usize {
    if let Some(&n) = memo.get(msg.name.as_str()) {
        return n;
    }
    let n = msg.fields.iter().fold(0usize, |sum, f| {
        let nested = match &f.ty {
            FieldType::Primitive(_) => 0,
            FieldType::Message(m) => expanded_fields(m, memo),
        };
        sum.saturating_add(1).saturating_add(nested)
    });
    memo.insert(&msg.name, n);
    n
}

/// Refuses a tree that expands to more than [`MAX_FIELDS`] fields.
pub(crate) fn check_expansion(msg: &MessageType) -> Result<(), String> {
    if expanded_fields(msg, &mut HashMap::new()) > MAX_FIELDS {
        return Err(format!(
            "expands to more than {MAX_FIELDS} fields (types used many times over, nested)"
        ));
    }
    Ok(())
}

/// Whether `name` is a field or constant name: a letter, then letters,
/// digits and `_` (ROS 2 asks for lowercase; writers that do not are read
/// as they wrote).
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether a line is a section separator: three or more `=` and nothing
/// else (writers use 80).
pub(crate) fn is_separator(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 3 && t.bytes().all(|b| b == b'=')
}

/// The line of 80 `=` that separates definition sections.
pub const SEPARATOR: &str =
    "================================================================================";

/// The canonical definition text of a resolved type: its fields, then one
/// `MSG:` section for each type it uses (depth first, each once), every
/// type spelled with its full name and constants gone. The parser of the
/// tree's dialect ([`ros1::parse`] or [`ros2::parse`]) gives back the same
/// tree from it: the fuzz target of the
/// parser checks exactly that.
pub fn render(msg: &MessageType) -> String {
    let mut out = String::new();
    let mut done = vec![msg.name.as_str()];
    render_fields(msg, &mut out);
    render_dependencies(msg, &mut done, &mut out);
    out
}

fn render_fields(msg: &MessageType, out: &mut String) {
    for f in &msg.fields {
        out.push_str(match &f.ty {
            FieldType::Primitive(p) => p.name(),
            FieldType::Message(m) => &m.name,
        });
        if let Some(bound) = f.string_bound {
            out.push_str(&format!("<={bound}"));
        }
        match f.arity {
            Arity::Scalar => {}
            Arity::Variable => out.push_str("[]"),
            Arity::Fixed(n) => out.push_str(&format!("[{n}]")),
            Arity::Bounded(n) => out.push_str(&format!("[<={n}]")),
        }
        out.push(' ');
        out.push_str(&f.name);
        out.push('\n');
    }
}

fn render_dependencies<'a>(msg: &'a MessageType, done: &mut Vec<&'a str>, out: &mut String) {
    for f in &msg.fields {
        if let FieldType::Message(m) = &f.ty {
            if done.contains(&m.name.as_str()) {
                continue;
            }
            done.push(&m.name);
            out.push_str(SEPARATOR);
            out.push_str("\nMSG: ");
            out.push_str(&m.name);
            out.push('\n');
            render_fields(m, out);
            render_dependencies(m, done, out);
        }
    }
}
