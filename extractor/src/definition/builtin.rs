//! Where a ROS 2 definition comes from when the bag embeds none (rosbag2
//! before Iron never does): the user's `msg_paths` (directories laid out
//! like a ROS 2 install's `share/`: `<dir>/<package>/msg/<Type>.msg`), then
//! bagpipe's built-in set of the standard interface packages as in ROS 2
//! Humble (`extractor/definitions/builtin.msg`, generated from the Humble
//! interface definitions; see the README there).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use super::is_separator;

/// The built-in definitions: `MSG: pkg/msg/Type` sections, one per type.
const BUILTIN_TEXT: &str = include_str!("../../definitions/builtin.msg");

/// Where a definition came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DefinitionSource {
    /// The bag's own (MCAP schema, sqlite3 `message_definitions`, ROS1
    /// connection record).
    Embedded,
    /// A `.msg` file under one of the configured `msg_paths`.
    MsgPaths,
    /// bagpipe's built-in standard interfaces.
    Builtin,
}

impl DefinitionSource {
    /// The catalogue's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            DefinitionSource::Embedded => "embedded",
            DefinitionSource::MsgPaths => "msg_paths",
            DefinitionSource::Builtin => "builtin",
        }
    }
}

/// The built-in set, parsed once: full type name to its `.msg` lines.
fn builtin() -> &'static HashMap<String, Arc<str>> {
    static SET: OnceLock<HashMap<String, Arc<str>>> = OnceLock::new();
    SET.get_or_init(|| {
        let mut set = HashMap::new();
        let mut name: Option<String> = None;
        let mut body = String::new();
        let mut expect_name = false;
        for line in BUILTIN_TEXT.lines() {
            if is_separator(line) {
                if let Some(n) = name.take() {
                    set.insert(n, Arc::from(std::mem::take(&mut body)));
                }
                expect_name = true;
                continue;
            }
            if expect_name {
                name = line.strip_prefix("MSG:").map(|n| n.trim().to_string());
                expect_name = false;
                continue;
            }
            if name.is_some() {
                body.push_str(line);
                body.push('\n');
            }
        }
        if let Some(n) = name {
            set.insert(n, Arc::from(body));
        }
        set
    })
}

/// The built-in `.msg` text of a type (`pkg/msg/Type`), if it is one.
pub fn builtin_text(name: &str) -> Option<Arc<str>> {
    builtin().get(name).cloned()
}

/// Every type in the built-in set, by full name.
pub fn builtin_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = builtin().keys().map(String::as_str).collect();
    names.sort_unstable();
    names
}

/// The definitions a run can fall back on: the user's directories, then
/// the built-in set. Files read are cached (a bag asks for the same types
/// over and over).
#[derive(Debug, Default)]
pub struct Definitions {
    msg_paths: Vec<PathBuf>,
    cache: Mutex<HashMap<String, Option<Arc<str>>>>,
}

impl Clone for Definitions {
    fn clone(&self) -> Self {
        Definitions::new(self.msg_paths.clone())
    }
}

impl Definitions {
    /// Falls back on `msg_paths` (searched in order), then the built-ins.
    pub fn new(msg_paths: Vec<PathBuf>) -> Definitions {
        Definitions {
            msg_paths,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The `.msg` (or `.srv`) text of `name` (`pkg/msg/Type` or
    /// `pkg/srv/Type`) and where it came from.
    pub fn find(&self, name: &str) -> Option<(Arc<str>, DefinitionSource)> {
        if let Some(text) = self.user_file(name) {
            return Some((text, DefinitionSource::MsgPaths));
        }
        builtin_text(name).map(|t| (t, DefinitionSource::Builtin))
    }

    /// The text only (for the parser's lookups).
    pub fn text(&self, name: &str) -> Option<Arc<str>> {
        self.find(name).map(|(t, _)| t)
    }

    fn user_file(&self, name: &str) -> Option<Arc<str>> {
        if self.msg_paths.is_empty() {
            return None;
        }
        let mut cache = self.cache.lock().expect("definitions cache");
        if let Some(hit) = cache.get(name) {
            return hit.clone();
        }
        let found = (|| {
            let mut parts = name.split('/');
            let (pkg, kind, ty) = (parts.next()?, parts.next()?, parts.next()?);
            let ext = match kind {
                "msg" => "msg",
                "srv" => "srv",
                _ => return None,
            };
            self.msg_paths.iter().find_map(|dir| {
                let path = dir.join(pkg).join(kind).join(format!("{ty}.{ext}"));
                std::fs::read_to_string(path).ok().map(Arc::from)
            })
        })();
        cache.insert(name.to_string(), found.clone());
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::{rihs, ros2};

    #[test]
    fn the_builtin_set_parses_whole() {
        let names = builtin_names();
        assert!(names.len() > 140, "{}", names.len());
        let defs = Definitions::default();
        let find = |n: &str| defs.text(n);
        for name in names {
            let t = ros2::parse_from(name, &find).unwrap_or_else(|e| panic!("{name}: {e}"));
            rihs::type_hash(&t).unwrap();
        }
    }

    #[test]
    fn builtin_odometry_hashes_as_nav2_records_it() {
        let defs = Definitions::default();
        let t = ros2::parse_from("nav_msgs/msg/Odometry", &|n| defs.text(n)).unwrap();
        assert_eq!(
            rihs::type_hash(&t).unwrap(),
            "RIHS01_3cc97dc7fb7502f8714462c526d369e35b603cfc34d946e3f2eda2766dfec6e0"
        );
        assert_eq!(
            defs.find("std_msgs/msg/String").unwrap().1,
            DefinitionSource::Builtin
        );
    }

    #[test]
    fn msg_paths_come_first() {
        let dir = tempfile::tempdir().unwrap();
        let msg = dir.path().join("std_msgs/msg");
        std::fs::create_dir_all(&msg).unwrap();
        std::fs::write(msg.join("String.msg"), "string data\nint32 extra\n").unwrap();
        let defs = Definitions::new(vec![dir.path().to_path_buf()]);
        let (text, source) = defs.find("std_msgs/msg/String").unwrap();
        assert_eq!(source, DefinitionSource::MsgPaths);
        assert!(text.contains("extra"));
        assert_eq!(
            defs.find("std_msgs/msg/Bool").unwrap().1,
            DefinitionSource::Builtin
        );
        assert!(defs.find("nope/msg/Nope").is_none());
    }
}
