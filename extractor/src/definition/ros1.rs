//! ROS1 message definitions: the `message_definition` text that a bag embeds
//! in every connection record (and an MCAP channel of schema encoding
//! `ros1msg`), parsed into the shared type tree.
//!
//! The text is the main type's `.msg` file followed by one section per type it
//! depends on, each introduced by a line of `=` and a `MSG: pkg/Type` line.
//! Comments (`#`), constants (`TYPE NAME=VALUE`, never columns), fixed and
//! variable arrays, `Header` (always `std_msgs/Header`), `time` and `duration`
//! are handled here. A definition that does not parse, names a type it does
//! not define, is recursive or nests deeper than [`MAX_NESTING_DEPTH`] is an
//! [`Error::Definition`]: the caller skips that connection.

use std::collections::HashMap;
use std::sync::Arc;

use super::{
    Arity, Field, FieldType, MAX_FIXED_ARRAY_LEN, MAX_NESTING_DEPTH, MessageType, Primitive,
    check_expansion, is_identifier, is_separator,
};
use crate::error::{Error, Result};

/// The primitive a ROS1 type name denotes, if it is a built-in (`byte` is
/// the deprecated alias of `int8`, `char` of `uint8`).
pub fn primitive(name: &str) -> Option<Primitive> {
    Some(match name {
        "bool" => Primitive::Bool,
        "int8" | "byte" => Primitive::Int8,
        "uint8" | "char" => Primitive::UInt8,
        "int16" => Primitive::Int16,
        "uint16" => Primitive::UInt16,
        "int32" => Primitive::Int32,
        "uint32" => Primitive::UInt32,
        "int64" => Primitive::Int64,
        "uint64" => Primitive::UInt64,
        "float32" => Primitive::Float32,
        "float64" => Primitive::Float64,
        "string" => Primitive::String,
        "time" => Primitive::Time,
        "duration" => Primitive::Duration,
        _ => return None,
    })
}

/// A field or constant line as written, before type names are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RawField {
    type_name: String,
    name: String,
    arity: Arity,
}

/// One `.msg` section of the definition text.
#[derive(Debug, Default)]
struct RawSection {
    fields: Vec<RawField>,
}

/// Parses a connection's `message_definition` for the type `datatype`
/// (`pkg/Name`) into a resolved type tree.
pub fn parse(datatype: &str, text: &str) -> Result<Arc<MessageType>> {
    let err = |reason: String| Error::Definition {
        datatype: datatype.to_string(),
        reason,
    };
    let sections = split_sections(text).map_err(err)?;
    let mut resolver = Resolver {
        sections,
        done: HashMap::new(),
        stack: Vec::new(),
    };
    let resolved = resolver.resolve(datatype).map_err(err)?;
    check_expansion(&resolved).map_err(err)?;
    Ok(resolved)
}

/// Splits the text into the main section (keyed by `""`) and the `MSG:`
/// sections, parsing each one's lines.
fn split_sections(text: &str) -> std::result::Result<HashMap<String, RawSection>, String> {
    let mut sections: HashMap<String, RawSection> = HashMap::new();
    let mut current = String::new();
    let mut body = RawSection::default();
    let mut expect_msg_line = false;
    for (lineno, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if is_separator(trimmed) {
            sections
                .entry(std::mem::take(&mut current))
                .or_insert(std::mem::take(&mut body));
            body = RawSection::default();
            expect_msg_line = true;
            continue;
        }
        if expect_msg_line {
            if trimmed.is_empty() {
                continue;
            }
            let Some(name) = trimmed.strip_prefix("MSG:") else {
                return Err(format!(
                    "line {}: expected `MSG: pkg/Type` after a separator, found {trimmed:?}",
                    lineno + 1
                ));
            };
            current = name.trim().to_string();
            if current.is_empty() {
                return Err(format!("line {}: `MSG:` without a type name", lineno + 1));
            }
            if !is_type_name(&current) {
                return Err(format!(
                    "line {}: malformed type name {current:?} after `MSG:`",
                    lineno + 1
                ));
            }
            expect_msg_line = false;
            continue;
        }
        if let Some(field) = parse_line(trimmed).map_err(|e| format!("line {}: {e}", lineno + 1))? {
            body.fields.push(field);
        }
    }
    if expect_msg_line {
        return Err("the text ends with a separator and no `MSG:` section".to_string());
    }
    // A repeated section keeps its first text: writers never repeat one with
    // different contents, and the first is what the main type was built with.
    sections.entry(current).or_insert(body);
    Ok(sections)
}

/// Parses one line: `None` for blanks, comments and constants.
fn parse_line(line: &str) -> std::result::Result<Option<RawField>, String> {
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (type_token, rest) = match line.find(char::is_whitespace) {
        Some(i) => (&line[..i], line[i..].trim_start()),
        None => return Err(format!("{line:?} has a type but no field name")),
    };
    let (type_name, arity) = parse_type_token(type_token)?;
    // A string constant's value runs to the end of the line, `#` included;
    // for every other line `#` starts a comment.
    let is_string_constant = type_name == "string" && arity == Arity::Scalar && rest.contains('=');
    let rest = if is_string_constant {
        rest
    } else {
        rest.split('#').next().unwrap_or("").trim()
    };
    if let Some(eq) = rest.find('=') {
        let name = rest[..eq].trim();
        check_identifier(name)?;
        if arity != Arity::Scalar || primitive(&type_name).is_none() {
            return Err(format!(
                "constant {name} must have a built-in scalar type, not {type_token}"
            ));
        }
        return Ok(None);
    }
    let name = rest.trim();
    check_identifier(name)?;
    Ok(Some(RawField {
        type_name,
        name: name.to_string(),
        arity,
    }))
}

/// Splits `float64[9]`, `Point[]` or `int32` into a base name and arity.
fn parse_type_token(token: &str) -> std::result::Result<(String, Arity), String> {
    let (base, arity) = match token.find('[') {
        None => (token, Arity::Scalar),
        Some(open) => {
            let Some(inner) = token[open + 1..].strip_suffix(']') else {
                return Err(format!("malformed array type {token:?}"));
            };
            let arity = if inner.is_empty() {
                Arity::Variable
            } else {
                let n: usize = inner
                    .parse()
                    .map_err(|_| format!("malformed array length in {token:?}"))?;
                if n > MAX_FIXED_ARRAY_LEN {
                    return Err(format!(
                        "fixed array length {n} in {token:?} exceeds the cap of {MAX_FIXED_ARRAY_LEN}"
                    ));
                }
                Arity::Fixed(n)
            };
            (&token[..open], arity)
        }
    };
    if !is_type_name(base) {
        return Err(format!("malformed type name {token:?}"));
    }
    Ok((base.to_string(), arity))
}

/// `Name` or `pkg/Name`: letters, digits and `_` on either side of at most
/// one `/`.
fn is_type_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').count() <= 2
        && name.split('/').all(|part| {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

fn check_identifier(name: &str) -> std::result::Result<(), String> {
    if is_identifier(name) {
        Ok(())
    } else {
        Err(format!("malformed field name {name:?}"))
    }
}

/// Resolves type names to sections, memoising each resolved type.
struct Resolver {
    sections: HashMap<String, RawSection>,
    done: HashMap<String, Arc<MessageType>>,
    stack: Vec<String>,
}

impl Resolver {
    /// Resolves the main type (the section keyed `""`, named `datatype`).
    fn resolve(&mut self, datatype: &str) -> std::result::Result<Arc<MessageType>, String> {
        let main = self.sections.remove("").unwrap_or_default();
        // The main type may also appear as its own `MSG:` section; the
        // main text wins.
        self.sections.insert(datatype.to_string(), main);
        self.resolve_named(datatype)
    }

    fn resolve_named(&mut self, full: &str) -> std::result::Result<Arc<MessageType>, String> {
        if let Some(done) = self.done.get(full) {
            return Ok(done.clone());
        }
        if self.stack.iter().any(|s| s == full) {
            return Err(format!(
                "recursive type: {} -> {full}",
                self.stack.join(" -> ")
            ));
        }
        if self.stack.len() >= MAX_NESTING_DEPTH {
            return Err(format!(
                "types nest deeper than {MAX_NESTING_DEPTH} levels at {full}"
            ));
        }
        let raw = match self.sections.get(full) {
            Some(section) => section.fields.clone(),
            None => return Err(format!("names type {full} but does not define it")),
        };
        let package = full.split('/').next().unwrap_or("").to_string();
        self.stack.push(full.to_string());
        let mut fields = Vec::with_capacity(raw.len());
        for f in raw {
            let ty = match primitive(&f.type_name) {
                Some(p) => FieldType::Primitive(p),
                None => {
                    let target = self.full_name(&f.type_name, &package);
                    FieldType::Message(self.resolve_named(&target)?)
                }
            };
            fields.push(Field::new(f.name, ty, f.arity));
        }
        self.stack.pop();
        let resolved = Arc::new(MessageType {
            name: full.to_string(),
            fields,
        });
        self.done.insert(full.to_string(), resolved.clone());
        Ok(resolved)
    }

    /// The full name of a field's type as ROS resolves it: `Header` is
    /// `std_msgs/Header`; a bare name is in the referring type's package,
    /// or, for writers that abbreviate across packages, the one section of
    /// that short name.
    fn full_name(&self, name: &str, package: &str) -> String {
        if name.contains('/') {
            return name.to_string();
        }
        if name == "Header" {
            return "std_msgs/Header".to_string();
        }
        let local = format!("{package}/{name}");
        if self.sections.contains_key(&local) {
            return local;
        }
        let suffix = format!("/{name}");
        let mut candidates = self.sections.keys().filter(|k| k.ends_with(&suffix));
        match (candidates.next(), candidates.next()) {
            (Some(only), None) => only.clone(),
            _ => local,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMU_LIKE: &str = "\
# a comment
Header header
float64[9] covariance  # trailing comment
uint8 STATUS_OK=0
string NAME=a # not a comment
geometry_msgs/Point[] points
================================================================================
MSG: std_msgs/Header
uint32 seq
time stamp
string frame_id
================================================================================
MSG: geometry_msgs/Point
float64 x
float64 y
float64 z
";

    #[test]
    fn parses_fields_constants_and_sections() {
        let t = parse("pkg/Thing", IMU_LIKE).unwrap();
        let names: Vec<_> = t.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["header", "covariance", "points"]);
        assert_eq!(t.fields[1].arity, Arity::Fixed(9));
        assert_eq!(t.fields[2].arity, Arity::Variable);
        let FieldType::Message(header) = &t.fields[0].ty else {
            panic!("header is a message")
        };
        assert_eq!(header.name, "std_msgs/Header");
        assert_eq!(header.fields[1].ty, FieldType::Primitive(Primitive::Time));
    }

    #[test]
    fn resolves_bare_names_in_the_same_package() {
        let text = "Inner a\n===\nMSG: pkg/Inner\nint32 v\n";
        let t = parse("pkg/Outer", text).unwrap();
        let FieldType::Message(inner) = &t.fields[0].ty else {
            panic!()
        };
        assert_eq!(inner.name, "pkg/Inner");
    }

    #[test]
    fn string_constant_keeps_quotes_and_hashes() {
        let text =
            "string str2 = this string has \"quotes\" and \\slashes\\ in it # still value\nint32 x";
        let t = parse("a/B", text).unwrap();
        assert_eq!(t.fields.len(), 1);
        assert_eq!(t.fields[0].name, "x");
    }

    #[test]
    fn empty_definition_is_a_message_with_no_fields() {
        let t = parse("std_msgs/Empty", "").unwrap();
        assert!(t.fields.is_empty());
    }

    #[test]
    fn undefined_type_is_an_error_naming_it() {
        let e = parse("a/B", "pkg/Missing m\n").unwrap_err().to_string();
        assert!(e.contains("pkg/Missing") && e.contains("a/B"), "{e}");
    }

    #[test]
    fn recursion_and_garbage_are_errors() {
        let rec = "a/B child\n===\nMSG: a/B\na/B child\n";
        assert!(
            parse("a/B", rec)
                .unwrap_err()
                .to_string()
                .contains("recursive")
        );
        assert!(parse("a/B", "int32\n").is_err());
        assert!(parse("a/B", "int32 1abc\n").is_err());
        assert!(parse("a/B", "int32[x] a\n").is_err());
        assert!(parse("a/B", "int32[] K=3\n").is_err());
        assert!(parse("a/B", "int32 a\n===\nnot a msg line\n").is_err());
    }

    #[test]
    fn render_parses_back_to_the_same_tree() {
        let t = parse("pkg/Thing", IMU_LIKE).unwrap();
        let text = super::super::render(&t);
        assert!(text.starts_with("std_msgs/Header header\nfloat64[9] covariance\n"));
        assert!(text.contains("\nMSG: geometry_msgs/Point\nfloat64 x\n"));
        assert_eq!(parse("pkg/Thing", &text).unwrap(), t);
    }

    #[test]
    fn malformed_section_names_are_errors() {
        let e = parse("a/B", "a/C c\n===\nMSG: a/C extra\nint32 v\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("after `MSG:`"), "{e}");
    }

    #[test]
    fn exponential_expansion_is_capped() {
        // 40 levels, each using the next twice: 2^40 fields in 120 lines.
        let mut text = String::from("a/T0 l\na/T0 r\n");
        for i in 0..40 {
            text.push_str(&format!("===\nMSG: a/T{i}\na/T{0} l\na/T{0} r\n", i + 1));
        }
        text.push_str("===\nMSG: a/T40\nint32 v\n");
        let e = parse("a/Root", &text).unwrap_err().to_string();
        assert!(e.contains("more than 65536 fields"), "{e}");
        // Ten levels (2^11 fields) are fine.
        let small: String = text.lines().take(2 + 3 * 10).collect::<Vec<_>>().join("\n")
            + "\n===\nMSG: a/T10\nint32 v\n";
        assert!(parse("a/Root", &small).is_ok());
    }

    #[test]
    fn deep_nesting_is_capped() {
        let mut text = String::from("a/T0 f\n");
        for i in 0..(MAX_NESTING_DEPTH + 5) {
            text.push_str(&format!("===\nMSG: a/T{i}\na/T{} f\n", i + 1));
        }
        text.push_str(&format!(
            "===\nMSG: a/T{}\nint32 v\n",
            MAX_NESTING_DEPTH + 5
        ));
        let e = parse("a/Root", &text).unwrap_err().to_string();
        assert!(e.contains("deeper"), "{e}");
    }
}
