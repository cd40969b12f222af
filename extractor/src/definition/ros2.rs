//! ROS 2 message definitions (`ros2msg`): the `.msg` text of a type, then
//! one section per type it uses, each after a line of `=` and a line
//! `MSG: pkg/msg/Type` (or `pkg/Type`), as rosbag2 embeds them in MCAP
//! schemas and in the sqlite3 `message_definitions` table.
//!
//! Accepted in full: type names `pkg/msg/Type`, `pkg/Type` and bare names
//! (the referring type's package; `Header` is `std_msgs/msg/Header`);
//! default values (`int32 x 5`, `string s "x"`, `bool[2] b [true, false]`);
//! bounded strings `string<=N` and bounded sequences `T[<=N]`; `byte`
//! (unsigned, [`Primitive::Octet`]) and `char` (`uint8`); constants
//! (`TYPE NAME=VALUE`, spaces around `=` allowed); `#` comments; repeated
//! identical sections. `wstring` is refused (no RMW agrees on its wire
//! form), which makes the definition unusable.
//!
//! Service events (`pkg/srv/X_Event`, whose embedded text is the `.srv`
//! file: request, `---`, response) are built as ROS 2 builds them:
//! `service_msgs/msg/ServiceEventInfo info`, `X_Request[<=1] request`,
//! `X_Response[<=1] response`.
//!
//! Every type name in the tree is normalised to `pkg/msg/Type` (or
//! `pkg/srv/Type`).

use std::collections::HashMap;
use std::sync::Arc;

use super::{
    Arity, Field, FieldType, MAX_FIXED_ARRAY_LEN, MAX_NESTING_DEPTH, MessageType, Primitive,
    check_expansion, is_identifier, is_separator,
};
use crate::error::{Error, Result};

/// The primitive a ROS 2 type name denotes, if it is a built-in.
pub fn primitive(name: &str) -> Option<Primitive> {
    Some(match name {
        "bool" => Primitive::Bool,
        "byte" => Primitive::Octet,
        "char" | "uint8" => Primitive::UInt8,
        "int8" => Primitive::Int8,
        "int16" => Primitive::Int16,
        "uint16" => Primitive::UInt16,
        "int32" => Primitive::Int32,
        "uint32" => Primitive::UInt32,
        "int64" => Primitive::Int64,
        "uint64" => Primitive::UInt64,
        "float32" => Primitive::Float32,
        "float64" => Primitive::Float64,
        "string" => Primitive::String,
        _ => return None,
    })
}

/// `pkg/Type` as `pkg/msg/Type`; `pkg/msg/Type`, `pkg/srv/Type` and
/// `pkg/action/Type` as they are; anything else unchanged.
pub fn normalize_type_name(name: &str) -> String {
    let mut parts = name.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(pkg), Some(ty), None, None) if !pkg.is_empty() && !ty.is_empty() => {
            format!("{pkg}/msg/{ty}")
        }
        _ => name.to_string(),
    }
}

/// The field types a service event type is built from.
pub const SERVICE_EVENT_INFO: &str = "service_msgs/msg/ServiceEventInfo";

/// A field or constant line as written, before type names are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawField {
    pub type_name: String,
    pub name: String,
    pub arity: Arity,
    pub string_bound: Option<usize>,
}

/// One type's lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RawSection {
    pub fields: Vec<RawField>,
}

/// Where the resolver finds a type's section that the text does not hold
/// (the built-in definitions, for a service event's `ServiceEventInfo`).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<Arc<str>>;

/// Parses an embedded `ros2msg` definition of `datatype` (any spelling;
/// normalised). A service event type (`pkg/srv/X_Event`) is built from its
/// `.srv` text; the types ROS 2 adds to it (`ServiceEventInfo` and its
/// `Time`) come from `extra` when the text does not define them.
pub fn parse(datatype: &str, text: &str, extra: Lookup<'_>) -> Result<Arc<MessageType>> {
    let name = normalize_type_name(datatype);
    let err = |reason: String| Error::Definition {
        datatype: name.clone(),
        reason,
    };
    check_type_name(&name).map_err(err)?;
    let mut parsed = split_sections(text).map_err(err)?;
    let main = parsed.remove("").unwrap_or_default();
    let mut sections: HashMap<String, RawSection> = HashMap::new();
    for (section, body) in parsed {
        match body {
            Main::Message(s) => {
                sections.insert(section, s);
            }
            Main::Service(..) => {
                return Err(err(format!(
                    "section {section} holds a `---` line: a service is not a message"
                )));
            }
        }
    }
    match main {
        Main::Message(section) => {
            sections.insert(name.clone(), section);
        }
        Main::Service(request, response) => {
            let (service, _) = service_of(&name).ok_or_else(|| {
                err(format!(
                    "the definition is a service (request `---` response), but {name} is not pkg/srv/X_Event"
                ))
            })?;
            add_service(&mut sections, &service, request, response, extra).map_err(err)?;
        }
    }
    let lookup = |wanted: &str| -> std::result::Result<Option<RawSection>, String> {
        match sections.get(wanted) {
            Some(s) => Ok(Some(s.clone())),
            None => Ok(None),
        }
    };
    let known: Vec<String> = sections.keys().cloned().collect();
    let resolved = Resolver::new(&lookup, known).resolve(&name).map_err(err)?;
    check_expansion(&resolved).map_err(err)?;
    Ok(resolved)
}

/// Parses a type whose sections come one at a time from `find` (a `.msg`
/// file per type: the user's `msg_paths` or the built-in set), for a bag
/// that embeds no definition.
pub fn parse_from(datatype: &str, find: Lookup<'_>) -> Result<Arc<MessageType>> {
    let name = normalize_type_name(datatype);
    let err = |reason: String| Error::Definition {
        datatype: name.clone(),
        reason,
    };
    check_type_name(&name).map_err(err)?;
    let mut event = HashMap::new();
    if let Some((service, _)) = service_of(&name) {
        // A service event: its .srv file, split, plus the event's own types.
        let text = find(&service).ok_or_else(|| err(format!("no definition of {service}")))?;
        let Main::Service(request, response) = split_sections(&text)
            .map_err(err)?
            .remove("")
            .unwrap_or_default()
        else {
            return Err(err(format!(
                "the definition of {service} has no `---` line"
            )));
        };
        add_service(&mut event, &service, request, response, find).map_err(err)?;
    }
    let lookup = |wanted: &str| -> std::result::Result<Option<RawSection>, String> {
        if let Some(s) = event.get(wanted) {
            return Ok(Some(s.clone()));
        }
        let Some(text) = find(wanted) else {
            return Ok(None);
        };
        match split_sections(&text)
            .map_err(|e| format!("{wanted}: {e}"))?
            .remove("")
        {
            Some(Main::Message(s)) => Ok(Some(s)),
            Some(Main::Service(..)) => Err(format!("{wanted} is a service, not a message")),
            None => Ok(Some(RawSection::default())),
        }
    };
    let resolved = Resolver::new(&lookup, Vec::new())
        .resolve(&name)
        .map_err(err)?;
    check_expansion(&resolved).map_err(err)?;
    Ok(resolved)
}

/// `pkg/srv/X_Event` → (`pkg/srv/X`, `X`).
fn service_of(name: &str) -> Option<(String, String)> {
    let mut parts = name.split('/');
    let (pkg, kind, ty) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || kind != "srv" {
        return None;
    }
    let base = ty.strip_suffix("_Event")?;
    Some((format!("{pkg}/srv/{base}"), base.to_string()))
}

/// Adds the sections of a service's request, response and event types.
fn add_service(
    sections: &mut HashMap<String, RawSection>,
    service: &str,
    request: RawSection,
    response: RawSection,
    extra: Lookup<'_>,
) -> std::result::Result<(), String> {
    let request_name = format!("{service}_Request");
    let response_name = format!("{service}_Response");
    sections.insert(request_name.clone(), request);
    sections.insert(response_name.clone(), response);
    let field = |name: &str, ty: &str, arity| RawField {
        type_name: ty.to_string(),
        name: name.to_string(),
        arity,
        string_bound: None,
    };
    sections.insert(
        format!("{service}_Event"),
        RawSection {
            fields: vec![
                field("info", SERVICE_EVENT_INFO, Arity::Scalar),
                field("request", &request_name, Arity::Bounded(1)),
                field("response", &response_name, Arity::Bounded(1)),
            ],
        },
    );
    // The event's own types, when the text does not carry them.
    let mut wanted = vec![SERVICE_EVENT_INFO.to_string()];
    while let Some(name) = wanted.pop() {
        if sections.contains_key(&name) {
            continue;
        }
        let text = extra(&name).ok_or_else(|| {
            format!(
                "a service event needs {name}, which neither the bag nor the built-in set defines"
            )
        })?;
        let Some(Main::Message(section)) = split_sections(&text)?.remove("") else {
            return Err(format!("the definition of {name} is not a message"));
        };
        let package = package_of(&name);
        for f in &section.fields {
            if primitive(&f.type_name).is_none() {
                wanted.push(qualify(&f.type_name, package));
            }
        }
        sections.insert(name, section);
    }
    Ok(())
}

/// The main section of a text: a message's lines, or a service's halves.
#[derive(Debug)]
enum Main {
    Message(RawSection),
    Service(RawSection, RawSection),
}

impl Default for Main {
    fn default() -> Self {
        Main::Message(RawSection::default())
    }
}

/// The key a `SRV:` section is kept under until it becomes the main one.
const SRV_SECTION: &str = "\0srv";

/// Splits the text into the main section (keyed by `""`) and the named
/// sections (`MSG:`, or `SRV:` whose service becomes the main section),
/// parsing each one's lines. A repeated section keeps its first text.
fn split_sections(text: &str) -> std::result::Result<HashMap<String, Main>, String> {
    let mut sections: HashMap<String, Main> = HashMap::new();
    let mut current = String::new();
    let mut lines: Vec<(usize, &str)> = Vec::new();
    let mut expect_name = false;
    fn finish(
        sections: &mut HashMap<String, Main>,
        name: String,
        lines: &mut Vec<(usize, &str)>,
    ) -> std::result::Result<(), String> {
        let body = parse_body(lines)?;
        lines.clear();
        sections.entry(name).or_insert(body);
        Ok(())
    }
    for (lineno, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if is_separator(trimmed) {
            finish(&mut sections, std::mem::take(&mut current), &mut lines)?;
            expect_name = true;
            continue;
        }
        if expect_name {
            if trimmed.is_empty() {
                continue;
            }
            let (kind, rest) = trimmed.split_once(':').ok_or_else(|| {
                format!(
                    "line {}: expected `MSG: pkg/msg/Type` after a separator, found {trimmed:?}",
                    lineno + 1
                )
            })?;
            let name = rest.trim();
            if !is_type_name(name) {
                return Err(format!(
                    "line {}: malformed type name {name:?} after `{kind}:`",
                    lineno + 1
                ));
            }
            current = match kind.trim() {
                "MSG" => normalize_type_name(name),
                // rosbag2 (rolling) writes a service event's definition as
                // `SRV: pkg/srv/X` and the .srv text: it is the main part.
                "SRV" => SRV_SECTION.to_string(),
                other => {
                    return Err(format!(
                        "line {}: unknown section kind `{other}:` (expected MSG or SRV)",
                        lineno + 1
                    ));
                }
            };
            expect_name = false;
            continue;
        }
        lines.push((lineno, line));
    }
    if expect_name {
        return Err("the text ends with a separator and no section name".to_string());
    }
    finish(&mut sections, current, &mut lines)?;
    if let Some(srv) = sections.remove(SRV_SECTION) {
        sections.insert(String::new(), srv);
    }
    Ok(sections)
}

/// Parses a section's lines; a `---` line makes it a service.
fn parse_body(lines: &[(usize, &str)]) -> std::result::Result<Main, String> {
    let mut halves = vec![RawSection::default()];
    for &(lineno, line) in lines {
        if line.trim() == "---" {
            if halves.len() == 2 {
                return Err(format!(
                    "line {}: a second `---` (an action definition is not a message)",
                    lineno + 1
                ));
            }
            halves.push(RawSection::default());
            continue;
        }
        if let Some(field) = parse_line(line).map_err(|e| format!("line {}: {e}", lineno + 1))? {
            halves.last_mut().expect("one half").fields.push(field);
        }
    }
    Ok(match (halves.pop(), halves.pop()) {
        (Some(response), Some(request)) => Main::Service(request, response),
        (Some(only), None) => Main::Message(only),
        _ => unreachable!("at least one half"),
    })
}

/// Parses one line: `None` for blanks, comments and constants.
fn parse_line(line: &str) -> std::result::Result<Option<RawField>, String> {
    // rosidl cuts a comment at the first `#`, even inside quotes.
    let line = line.split('#').next().unwrap_or("").trim();
    if line.is_empty() {
        return Ok(None);
    }
    let (type_token, rest) = match line.find(char::is_whitespace) {
        Some(i) => (&line[..i], line[i..].trim_start()),
        None => return Err(format!("{line:?} has a type but no field name")),
    };
    // A constant is `TYPE NAME=VALUE` (spaces around `=` allowed); a field
    // is `TYPE NAME [DEFAULT]`, and a default may itself hold a `=`.
    let name_end = rest
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(rest.len());
    let name = &rest[..name_end];
    let after = rest[name_end..].trim_start();
    if !is_identifier(name) {
        return Err(format!("malformed field name {name:?}"));
    }
    let (type_name, arity, string_bound) = parse_type_token(type_token)?;
    if after.starts_with('=') {
        if arity != Arity::Scalar || primitive(&type_name).is_none() {
            return Err(format!(
                "constant {name} must have a built-in scalar type, not {type_token}"
            ));
        }
        return Ok(None);
    }
    Ok(Some(RawField {
        type_name,
        name: name.to_string(),
        arity,
        string_bound,
    }))
}

/// Parses a bound or length `N`, checked against [`MAX_FIXED_ARRAY_LEN`].
fn parse_len(text: &str, token: &str) -> std::result::Result<usize, String> {
    let n: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("malformed length {text:?} in {token:?}"))?;
    if n > MAX_FIXED_ARRAY_LEN {
        return Err(format!(
            "length {n} in {token:?} exceeds the cap of {MAX_FIXED_ARRAY_LEN}"
        ));
    }
    Ok(n)
}

/// Splits `float64[9]`, `Point[<=3]`, `string<=8[]` or `int32` into a base
/// name, an arity and a string bound.
fn parse_type_token(token: &str) -> std::result::Result<(String, Arity, Option<usize>), String> {
    let (element, arity) = match token.find('[') {
        None => (token, Arity::Scalar),
        Some(open) => {
            let Some(inner) = token[open + 1..].strip_suffix(']') else {
                return Err(format!("malformed array type {token:?}"));
            };
            let arity = if inner.is_empty() {
                Arity::Variable
            } else if let Some(bound) = inner.strip_prefix("<=") {
                Arity::Bounded(parse_len(bound, token)?)
            } else {
                Arity::Fixed(parse_len(inner, token)?)
            };
            (&token[..open], arity)
        }
    };
    let (base, string_bound) = match element.split_once("<=") {
        Some((base, bound)) => (base, Some(parse_len(bound, token)?)),
        None => (element, None),
    };
    if base == "wstring" {
        return Err(format!(
            "{token}: wstring is not supported (its wire form differs between middlewares)"
        ));
    }
    if string_bound.is_some() && base != "string" {
        return Err(format!("malformed type {token:?}: only strings take `<=N`"));
    }
    if !is_type_name(base) {
        return Err(format!("malformed type name {token:?}"));
    }
    Ok((base.to_string(), arity, string_bound))
}

/// `Name`, `pkg/Name` or `pkg/msg/Name`: letters, digits and `_` between
/// at most two `/`.
fn is_type_name(name: &str) -> bool {
    let parts = name.split('/').count();
    !name.is_empty()
        && parts <= 3
        && name.split('/').all(|part| {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

/// A type name must be `pkg/msg/Type` (or `pkg/srv/...`) once normalised.
fn check_type_name(name: &str) -> std::result::Result<(), String> {
    if name.split('/').count() == 3 && is_type_name(name) {
        Ok(())
    } else {
        Err(format!("malformed type name {name:?}"))
    }
}

fn package_of(full: &str) -> &str {
    full.split('/').next().unwrap_or("")
}

/// A field's type name as a full name, in the referring type's package
/// when bare.
fn qualify(name: &str, package: &str) -> String {
    if name.contains('/') {
        normalize_type_name(name)
    } else {
        format!("{package}/msg/{name}")
    }
}

/// Finds a type's section: `Ok(None)` when nowhere.
type SectionLookup<'a> = &'a dyn Fn(&str) -> std::result::Result<Option<RawSection>, String>;

/// Resolves type names to sections, memoising each resolved type.
struct Resolver<'a> {
    lookup: SectionLookup<'a>,
    /// Names of the sections the text holds (for bare-name fallbacks).
    known: Vec<String>,
    done: HashMap<String, Arc<MessageType>>,
    stack: Vec<String>,
}

impl<'a> Resolver<'a> {
    fn new(lookup: SectionLookup<'a>, known: Vec<String>) -> Resolver<'a> {
        Resolver {
            lookup,
            known,
            done: HashMap::new(),
            stack: Vec::new(),
        }
    }

    fn resolve(&mut self, full: &str) -> std::result::Result<Arc<MessageType>, String> {
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
        let raw = match (self.lookup)(full)? {
            Some(section) => section.fields,
            None => return Err(format!("names type {full} but does not define it")),
        };
        let package = package_of(full).to_string();
        self.stack.push(full.to_string());
        let mut fields = Vec::with_capacity(raw.len());
        for f in raw {
            let ty = match primitive(&f.type_name) {
                Some(p) => FieldType::Primitive(p),
                None => {
                    let target = self.full_name(&f.type_name, &package)?;
                    FieldType::Message(self.resolve(&target)?)
                }
            };
            fields.push(Field {
                name: f.name,
                ty,
                arity: f.arity,
                string_bound: f.string_bound,
            });
        }
        self.stack.pop();
        let resolved = Arc::new(MessageType {
            name: full.to_string(),
            fields,
        });
        self.done.insert(full.to_string(), resolved.clone());
        Ok(resolved)
    }

    /// The full name of a field's type: a qualified name normalised; a bare
    /// name in the referring type's package, else (`Header`, or a writer
    /// that abbreviated across packages) `std_msgs/msg/Header` or the one
    /// section of that short name.
    fn full_name(&self, name: &str, package: &str) -> std::result::Result<String, String> {
        let local = qualify(name, package);
        if name.contains('/') || (self.lookup)(&local)?.is_some() {
            return Ok(local);
        }
        if name == "Header" {
            return Ok("std_msgs/msg/Header".to_string());
        }
        let suffix = format!("/{name}");
        let mut candidates = self.known.iter().filter(|k| k.ends_with(&suffix));
        Ok(match (candidates.next(), candidates.next()) {
            (Some(only), None) => only.clone(),
            _ => local,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<Arc<str>> {
        None
    }

    const ODOM_LIKE: &str = "\
# comment
std_msgs/Header header
string child_frame_id
float64[36] covariance # trailing
uint8 KIND_A=1
uint8 KIND_B = 2
string NAME=\"a # not kept\"
int32 count 5
string label \"x=y\"
bool[2] flags [true, false]
================================================================================
MSG: std_msgs/Header
builtin_interfaces/Time stamp
string frame_id
================================================================================
MSG: builtin_interfaces/msg/Time
int32 sec
uint32 nanosec
";

    #[test]
    fn parses_defaults_constants_and_both_name_forms() {
        let t = parse("nav_msgs/Odometry", ODOM_LIKE, &none).unwrap();
        assert_eq!(t.name, "nav_msgs/msg/Odometry");
        let names: Vec<_> = t.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "header",
                "child_frame_id",
                "covariance",
                "count",
                "label",
                "flags"
            ]
        );
        let FieldType::Message(header) = &t.fields[0].ty else {
            panic!()
        };
        assert_eq!(header.name, "std_msgs/msg/Header");
        let FieldType::Message(stamp) = &header.fields[0].ty else {
            panic!()
        };
        assert_eq!(stamp.name, "builtin_interfaces/msg/Time");
        assert_eq!(t.fields[5].arity, Arity::Fixed(2));
    }

    #[test]
    fn bounded_types_byte_and_char() {
        let t = parse(
            "p/msg/T",
            "string<=8 name\nuint8[<=4] small\nstring<=3[<=2] names\nbyte b\nchar c\nbyte[] raw\n",
            &none,
        )
        .unwrap();
        assert_eq!(t.fields[0].string_bound, Some(8));
        assert_eq!(t.fields[1].arity, Arity::Bounded(4));
        assert_eq!(t.fields[2].arity, Arity::Bounded(2));
        assert_eq!(t.fields[2].string_bound, Some(3));
        assert_eq!(t.fields[3].ty, FieldType::Primitive(Primitive::Octet));
        assert_eq!(t.fields[4].ty, FieldType::Primitive(Primitive::UInt8));
        assert_eq!(
            super::super::render(&t),
            "string<=8 name\nuint8[<=4] small\nstring<=3[<=2] names\nbyte b\nuint8 c\nbyte[] raw\n"
        );
    }

    #[test]
    fn repeated_identical_sections_and_bare_names() {
        let text = "Inner a\nHeader h\n===\nMSG: p/Inner\nint32 v\n===\nMSG: p/Inner\nint32 v\n\
                    ===\nMSG: std_msgs/msg/Header\nstring frame_id\n";
        let t = parse("p/msg/Outer", text, &none).unwrap();
        let FieldType::Message(inner) = &t.fields[0].ty else {
            panic!()
        };
        assert_eq!(inner.name, "p/msg/Inner");
        let FieldType::Message(h) = &t.fields[1].ty else {
            panic!()
        };
        assert_eq!(h.name, "std_msgs/msg/Header");
    }

    #[test]
    fn wstring_and_undefined_types_are_unusable() {
        let e = parse("p/msg/T", "wstring w\n", &none)
            .unwrap_err()
            .to_string();
        assert!(e.contains("wstring"), "{e}");
        let e = parse("p/msg/T", "q/Missing m\n", &none)
            .unwrap_err()
            .to_string();
        assert!(e.contains("q/msg/Missing"), "{e}");
    }

    #[test]
    fn a_service_event_is_built_from_its_srv_text() {
        let info: Arc<str> = Arc::from(
            "uint8 REQUEST_SENT=0\nuint8 event_type\nbuiltin_interfaces/Time stamp\nchar[16] client_gid\nint64 sequence_number\n",
        );
        let time: Arc<str> = Arc::from("int32 sec\nuint32 nanosec\n");
        let extra = |name: &str| match name {
            SERVICE_EVENT_INFO => Some(info.clone()),
            "builtin_interfaces/msg/Time" => Some(time.clone()),
            _ => None,
        };
        let t = parse(
            "test_msgs/srv/Basic_Event",
            "bool a\n---\nint64 b\n",
            &extra,
        )
        .unwrap();
        assert_eq!(t.name, "test_msgs/srv/Basic_Event");
        let names: Vec<_> = t.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["info", "request", "response"]);
        assert_eq!(t.fields[1].arity, Arity::Bounded(1));
        let FieldType::Message(req) = &t.fields[1].ty else {
            panic!()
        };
        assert_eq!(req.name, "test_msgs/srv/Basic_Request");
        // The rolling shape: `SRV:` after a separator.
        let text = format!(
            "{}\nSRV: test_msgs/srv/Basic\nbool a\n---\nint64 b\n",
            super::super::SEPARATOR
        );
        assert_eq!(
            parse("test_msgs/srv/Basic_Event", &text, &extra).unwrap(),
            t
        );
        // A service text under a message type name is refused.
        assert!(parse("test_msgs/msg/Basic", "bool a\n---\nint64 b\n", &extra).is_err());
    }

    #[test]
    fn types_from_files_resolve_their_dependencies() {
        let files = |name: &str| -> Option<Arc<str>> {
            match name {
                "p/msg/A" => Some(Arc::from("B b\nstd_msgs/Empty e\n")),
                "p/msg/B" => Some(Arc::from("int32 x\n")),
                "std_msgs/msg/Empty" => Some(Arc::from("")),
                _ => None,
            }
        };
        let t = parse_from("p/A", &files).unwrap();
        assert_eq!(t.fields.len(), 2);
        assert!(parse_from("p/msg/Nope", &files).is_err());
    }

    #[test]
    fn normalizes_names() {
        assert_eq!(normalize_type_name("a/B"), "a/msg/B");
        assert_eq!(normalize_type_name("a/msg/B"), "a/msg/B");
        assert_eq!(normalize_type_name("a/srv/B_Event"), "a/srv/B_Event");
        assert_eq!(normalize_type_name("B"), "B");
    }
}
