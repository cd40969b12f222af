//! The schema registry: `_schemas/<table>.json` under the output root
//! records the message type, its version (the ROS1 md5sum, or the ROS 2
//! RIHS01 type hash) and the Arrow schema of the first bag that wrote a
//! table. It is created only if absent (a conditional create), so
//! concurrent runs agree, and it is never removed.
//!
//! Within one ROS generation a table holds one version of a type. Across
//! generations a type may write into a table the other generation
//! registered only when its Arrow schema is identical (`std_msgs/String`
//! shares `chatter`; a `TFMessage` does not, the ROS1 header has `seq`).

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::{Mutex, OnceLock};

use arrow_schema::Schema;
use extractor::definition::resolve::Version;
use serde::{Deserialize, Serialize};

use crate::storage::lake::Lake;

/// Directory of the registry under the output root.
pub const SCHEMAS_DIR: &str = "_schemas";

/// One registration as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Registration {
    pub table: String,
    #[serde(rename = "type")]
    pub datatype: String,
    /// ROS1 types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5sum: Option<String>,
    /// ROS 2 types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_hash: Option<String>,
    pub schema: serde_json::Value,
}

impl Registration {
    fn new(table: &str, datatype: &str, version: &Version, schema: &Schema) -> io::Result<Self> {
        let (md5sum, type_hash) = match version {
            Version::Md5(m) => (Some(m.clone()), None),
            Version::TypeHash(h) => (None, Some(h.clone())),
        };
        Ok(Registration {
            table: table.to_string(),
            datatype: datatype.to_string(),
            md5sum,
            type_hash,
            schema: serde_json::to_value(schema).map_err(io::Error::other)?,
        })
    }

    /// Whether messages of `version`, laid out as `schema`, belong in this
    /// table: the same version, or (across ROS generations) the same schema.
    fn admits(&self, version: &Version, schema: &serde_json::Value) -> bool {
        match (version, &self.md5sum, &self.type_hash) {
            (Version::Md5(m), Some(mine), _) => m.eq_ignore_ascii_case(mine),
            (Version::TypeHash(h), _, Some(mine)) => h.eq_ignore_ascii_case(mine),
            _ => self.schema == *schema,
        }
    }
}

/// Registry access with a per-run cache of what was read or written.
pub struct Registry<'a> {
    lake: &'a dyn Lake,
    cache: Mutex<HashMap<String, Registration>>,
    /// The registrations that existed when first asked (one listing, so
    /// choosing tables for thousands of new topics reads no absent file).
    listed: OnceLock<io::Result<HashSet<String>>>,
}

impl<'a> Registry<'a> {
    pub fn new(lake: &'a dyn Lake) -> Registry<'a> {
        Registry {
            lake,
            cache: Mutex::new(HashMap::new()),
            listed: OnceLock::new(),
        }
    }

    /// The table messages of (`datatype`, `version`) go to when their
    /// topic's table is `name`: `name` itself if it is free or admits them,
    /// otherwise `<name>__<first 8 hex digits of the version>`. Reads the
    /// registry; registers nothing (see [`claim`](Self::claim)).
    pub fn choose(&self, name: &str, version: &Version, schema: &Schema) -> io::Result<String> {
        let json = serde_json::to_value(schema).map_err(io::Error::other)?;
        match self.read(name)? {
            None => Ok(name.to_string()),
            Some(r) if r.admits(version, &json) => Ok(name.to_string()),
            Some(_) => Ok(suffixed(name, version)),
        }
    }

    /// Registers `table` for (`datatype`, `version`, `schema`) unless it is
    /// registered; true if it is (now) registered for them, false if for
    /// another version.
    pub fn claim(
        &self,
        table: &str,
        datatype: &str,
        version: &Version,
        schema: &Schema,
    ) -> io::Result<bool> {
        let mine = Registration::new(table, datatype, version, schema)?;
        if let Some(r) = self.cache.lock().expect("registry lock").get(table) {
            return Ok(r.admits(version, &mine.schema));
        }
        // The conditional create decides; what is there is read only when
        // it says the table is taken.
        let path = format!("{SCHEMAS_DIR}/{table}.json");
        let bytes = serde_json::to_vec_pretty(&mine).map_err(io::Error::other)?;
        let registered = if self.lake.put_if_absent(&path, &bytes)? {
            mine.clone()
        } else {
            self.read_uncached(table)?
                .ok_or_else(|| io::Error::other(format!("{path} exists but cannot be read")))?
        };
        let ok = registered.admits(version, &mine.schema);
        self.cache
            .lock()
            .expect("registry lock")
            .insert(table.to_string(), registered);
        Ok(ok)
    }

    /// The registration of `table`, if any (cached once read; a table not
    /// in the registry's listing when it was first read is taken as free
    /// without a read: [`claim`](Self::claim) decides in the end).
    pub fn read(&self, table: &str) -> io::Result<Option<Registration>> {
        if let Some(r) = self.cache.lock().expect("registry lock").get(table) {
            return Ok(Some(r.clone()));
        }
        let listed = self
            .listed
            .get_or_init(|| Ok(self.lake.list_children(SCHEMAS_DIR)?.into_iter().collect()));
        match listed {
            Ok(names) if !names.contains(&format!("{table}.json")) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(io::Error::new(e.kind(), e.to_string())),
        }
        let found = self.read_uncached(table)?;
        if let Some(r) = &found {
            self.cache
                .lock()
                .expect("registry lock")
                .insert(table.to_string(), r.clone());
        }
        Ok(found)
    }

    fn read_uncached(&self, table: &str) -> io::Result<Option<Registration>> {
        let path = format!("{SCHEMAS_DIR}/{table}.json");
        let Some(bytes) = self.lake.get(&path)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", self.lake.url(&path)),
            )
        })
    }
}

/// `<name>__<first 8 hex digits of the version>`.
pub fn suffixed(name: &str, version: &Version) -> String {
    format!("{name}__{}", version.short())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::lake::LocalLake;
    use arrow_schema::{DataType, Field};

    #[test]
    fn generations_share_a_table_only_with_the_same_schema() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(dir.path()).unwrap();
        let reg = Registry::new(&lake);
        let string = Schema::new(vec![
            Field::new("log_time_ns", DataType::Int64, false),
            Field::new("data", DataType::Utf8, true),
        ]);
        let with_seq = Schema::new(vec![
            Field::new("log_time_ns", DataType::Int64, false),
            Field::new("seq", DataType::Int64, true),
        ]);
        let md5 = Version::Md5("992ce8a1687cec8c8bd883ec73ca41d1".into());
        let hash = Version::TypeHash(format!("RIHS01_df668c74{}", "0".repeat(56)));
        assert!(
            reg.claim("chatter", "std_msgs/String", &md5, &string)
                .unwrap()
        );
        // ROS 2 String: same schema, same table.
        assert_eq!(reg.choose("chatter", &hash, &string).unwrap(), "chatter");
        assert!(
            reg.claim("chatter", "std_msgs/msg/String", &hash, &string)
                .unwrap()
        );
        // A ROS 2 type of another schema: the hash-suffixed table.
        assert_eq!(
            reg.choose("chatter", &hash, &with_seq).unwrap(),
            "chatter__df668c74"
        );
        // Another ROS1 version: the md5-suffixed table.
        let other = Version::Md5("ABCDEF0123".into());
        assert_eq!(
            reg.choose("chatter", &other, &string).unwrap(),
            "chatter__abcdef01"
        );
        // The registry file says which generation registered it.
        let text = std::fs::read_to_string(dir.path().join("_schemas/chatter.json")).unwrap();
        assert!(
            text.contains("\"md5sum\"") && !text.contains("type_hash"),
            "{text}"
        );
    }
}
