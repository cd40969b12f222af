//! From a connection to what decodes it: the definition's dialect, the
//! wire format, the type tree, and the type's version (the ROS1 md5sum or
//! the ROS 2 type hash) that tables are keyed by.
//!
//! | message encoding | schema encoding | dialect and wire | version |
//! | --- | --- | --- | --- |
//! | `ros1` | `ros1msg` | ROS1 text, ROS1 serialization | the md5sum the bag names |
//! | `cdr` | `ros2msg`, `ros2idl` | ROS 2 text or IDL, CDR | RIHS01 computed from the definition |
//! | `cdr` | none (or `unknown`) | the type from `msg_paths` or the built-in set, CDR | RIHS01 computed |
//! | anything else | | unusable: "message encoding ... not supported" | |

use std::sync::Arc;

use md5::{Digest, Md5};

use super::builtin::{DefinitionSource, Definitions, builtin_text};
use super::{MessageType, idl, rihs, ros1, ros2};
use crate::container::{
    Connection, ENCODING_CDR, ENCODING_ROS1, SCHEMA_ROS1MSG, SCHEMA_ROS2IDL, SCHEMA_ROS2MSG,
};
use crate::decode::Wire;

/// A type's version: what keeps two layouts of one type name apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Version {
    /// ROS1: the connection's md5sum, as given.
    Md5(String),
    /// ROS 2: the RIHS01 type hash of the definition decoded with.
    TypeHash(String),
}

impl Version {
    /// The text (md5sum or `RIHS01_...`).
    pub fn text(&self) -> &str {
        match self {
            Version::Md5(s) | Version::TypeHash(s) => s,
        }
    }

    /// The first 8 hex digits, for table suffixes.
    pub fn short(&self) -> String {
        match self {
            Version::Md5(s) => s.chars().take(8).collect::<String>().to_lowercase(),
            Version::TypeHash(s) => rihs::short(s),
        }
    }

    /// Whether two versions name the same layout (md5sums compare without
    /// case).
    pub fn same(&self, other: &Version) -> bool {
        match (self, other) {
            (Version::Md5(a), Version::Md5(b)) => a.eq_ignore_ascii_case(b),
            (Version::TypeHash(a), Version::TypeHash(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
    }
}

/// A connection's type, ready to compile into a decoder.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub msg: Arc<MessageType>,
    pub wire: Wire,
    pub version: Version,
    pub source: DefinitionSource,
}

/// What a connection's type is, decodable or not.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// The type name: as written for ROS1, `pkg/msg/Type` for ROS 2.
    pub datatype: String,
    /// The version when known even if the definition is unusable (the
    /// md5sum, a recorded type hash), else `None`.
    pub version: Option<Version>,
    /// The decodable type, or why not (a sentence for the catalogue).
    pub outcome: Result<Resolved, String>,
    /// What was noticed on the way (a recorded type hash that differs).
    pub warnings: Vec<String>,
}

impl Resolution {
    /// The version tables use: the resolved one, else the known one, else
    /// the type name (so unusable connections of one type group together).
    pub fn version_key(&self) -> Version {
        match &self.outcome {
            Ok(r) => r.version.clone(),
            Err(_) => self
                .version
                .clone()
                .unwrap_or_else(|| Version::TypeHash(self.datatype.clone())),
        }
    }
}

/// Resolves one connection's type.
pub fn resolve(conn: &Connection, defs: &Definitions) -> Resolution {
    match conn.encoding.as_str() {
        ENCODING_ROS1 => resolve_ros1(conn),
        ENCODING_CDR => resolve_ros2(conn, defs),
        other => Resolution {
            datatype: conn.datatype.clone(),
            version: None,
            outcome: Err(format!("message encoding '{other}' not supported")),
            warnings: Vec::new(),
        },
    }
}

fn resolve_ros1(conn: &Connection) -> Resolution {
    // The md5sum names the version; a writer (an MCAP `ros1` channel
    // without metadata) that gives none gets the md5 of the text.
    let md5 = conn
        .md5sum
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| {
            Md5::digest(conn.definition.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        });
    let version = Version::Md5(md5);
    let outcome = if conn.schema_encoding != SCHEMA_ROS1MSG {
        Err(format!(
            "schema encoding '{}' is not ros1msg, which ros1 messages need",
            conn.schema_encoding
        ))
    } else {
        ros1::parse(&conn.datatype, &conn.definition)
            .map(|msg| Resolved {
                msg,
                wire: Wire::Ros1,
                version: version.clone(),
                source: DefinitionSource::Embedded,
            })
            .map_err(|e| definition_reason(e, &conn.datatype))
    };
    Resolution {
        datatype: conn.datatype.clone(),
        version: Some(version),
        outcome,
        warnings: Vec::new(),
    }
}

/// The reason of a definition error, without repeating the type name.
fn definition_reason(e: crate::Error, datatype: &str) -> String {
    match e {
        crate::Error::Definition { reason, .. } => reason,
        other => format!("{datatype}: {other}"),
    }
}

fn resolve_ros2(conn: &Connection, defs: &Definitions) -> Resolution {
    let datatype = ros2::normalize_type_name(&conn.datatype);
    let recorded = conn
        .type_hash
        .as_deref()
        .filter(|h| rihs::is_rihs01(h))
        .map(|h| Version::TypeHash(h.to_string()));
    let mut warnings = Vec::new();
    let extra = |name: &str| builtin_text(name);
    let parsed: Result<(Arc<MessageType>, DefinitionSource), String> = if datatype.is_empty() {
        Err("the channel has no schema, so its type is not known".to_string())
    } else {
        let embedded = !conn.definition.trim().is_empty();
        match conn.schema_encoding.as_str() {
            SCHEMA_ROS2MSG if embedded => ros2::parse(&datatype, &conn.definition, &extra)
                .map(|m| (m, DefinitionSource::Embedded))
                .map_err(|e| definition_reason(e, &datatype)),
            SCHEMA_ROS2IDL if embedded => idl::parse(&datatype, &conn.definition)
                .map(|m| (m, DefinitionSource::Embedded))
                .map_err(|e| definition_reason(e, &datatype)),
            // No definition in the bag (or an empty one, which is also how
            // a message with no fields is written): the fallbacks, and an
            // empty ros2msg text when they do not know the type.
            "" | "unknown" | SCHEMA_ROS2MSG | SCHEMA_ROS2IDL => {
                match defs.find(&top_name(&datatype)) {
                    Some((_, source)) => ros2::parse_from(&datatype, &|n| defs.text(n))
                        .map(|m| (m, source))
                        .map_err(|e| definition_reason(e, &datatype)),
                    None if conn.schema_encoding == SCHEMA_ROS2MSG => {
                        ros2::parse(&datatype, "", &extra)
                            .map(|m| (m, DefinitionSource::Embedded))
                            .map_err(|e| definition_reason(e, &datatype))
                    }
                    None => Err(format!(
                        "the bag holds no definition of {datatype}, and neither msg_paths nor the built-in set has one"
                    )),
                }
            }
            other => Err(format!(
                "schema encoding '{other}' is not ros2msg or ros2idl"
            )),
        }
    };
    let outcome = parsed.and_then(|(msg, source)| {
        let hash = rihs::type_hash(&msg)?;
        if let Some(Version::TypeHash(r)) = &recorded
            && !r.eq_ignore_ascii_case(&hash)
        {
            warnings.push(format!(
                "the definition of {datatype} does not match its recorded type hash (recorded {r}, computed {hash})"
            ));
        }
        Ok(Resolved {
            msg,
            wire: Wire::Cdr,
            version: Version::TypeHash(hash),
            source,
        })
    });
    Resolution {
        datatype,
        version: recorded,
        outcome,
        warnings,
    }
}

/// The file a type's definition is in: a service event's is its service's.
fn top_name(datatype: &str) -> String {
    match datatype.strip_suffix("_Event") {
        Some(base) if datatype.contains("/srv/") => base.to_string(),
        _ => datatype.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn conn(encoding: &str, schema: &str, datatype: &str, text: &str) -> Connection {
        Connection {
            id: 1,
            topic: "/t".into(),
            datatype: datatype.into(),
            encoding: encoding.into(),
            schema_encoding: schema.into(),
            definition: text.into(),
            md5sum: None,
            type_hash: None,
            callerid: None,
            latching: false,
            qos: None,
            metadata: BTreeMap::new(),
            file: 0,
        }
    }

    #[test]
    fn picks_the_dialect_and_version() {
        let defs = Definitions::default();
        let r = resolve(
            &conn("cdr", "ros2msg", "std_msgs/String", "string data\n"),
            &defs,
        );
        assert_eq!(r.datatype, "std_msgs/msg/String");
        let ok = r.outcome.unwrap();
        assert_eq!(ok.wire, Wire::Cdr);
        assert!(ok.version.text().starts_with("RIHS01_df668c74"));
        let mut c = conn("ros1", "ros1msg", "std_msgs/String", "string data\n");
        c.md5sum = Some("992ce8a1687cec8c8bd883ec73ca41d1".into());
        let r = resolve(&c, &defs);
        assert_eq!(r.outcome.unwrap().version, Version::Md5(c.md5sum.unwrap()));
        // No definition: the built-in set.
        let r = resolve(&conn("cdr", "", "std_msgs/msg/String", ""), &defs);
        assert_eq!(r.outcome.unwrap().source, DefinitionSource::Builtin);
        let r = resolve(&conn("cdr", "", "nope_msgs/msg/X", ""), &defs);
        assert!(
            r.outcome
                .unwrap_err()
                .contains("no definition of nope_msgs/msg/X")
        );
        let r = resolve(&conn("protobuf", "protobuf", "x.Y", "..."), &defs);
        assert_eq!(
            r.outcome.unwrap_err(),
            "message encoding 'protobuf' not supported"
        );
        let r = resolve(&conn("cdr", "cdr", "x/msg/Y", "int32 a"), &defs);
        assert!(r.outcome.unwrap_err().contains("schema encoding 'cdr'"));
    }

    #[test]
    fn a_recorded_hash_that_differs_is_a_warning() {
        let mut c = conn(
            "cdr",
            "ros2msg",
            "std_msgs/msg/String",
            "string data\nint32 x\n",
        );
        c.type_hash = Some(format!("RIHS01_{}", "0".repeat(64)));
        let r = resolve(&c, &Definitions::default());
        assert!(r.outcome.is_ok());
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        c.type_hash = Some("hash1".into());
        assert!(resolve(&c, &Definitions::default()).warnings.is_empty());
    }
}
