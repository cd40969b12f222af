//! The schema registry: `_schemas/<table>.json` under the output root
//! records the message type, md5sum and Arrow schema of the first bag that
//! wrote a table. It is created only if absent (a conditional create), so
//! concurrent runs agree, and it is never removed.

use std::collections::HashMap;
use std::io;
use std::sync::Mutex;

use arrow_schema::Schema;
use serde::{Deserialize, Serialize};

use crate::lake::Lake;
use crate::naming::md5_prefix;

/// Directory of the registry under the output root.
pub const SCHEMAS_DIR: &str = "_schemas";

/// One registration as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Registration {
    pub table: String,
    #[serde(rename = "type")]
    pub datatype: String,
    pub md5sum: String,
    pub schema: serde_json::Value,
}

/// Registry access with a per-run cache of what was read or written.
pub struct Registry<'a> {
    lake: &'a dyn Lake,
    cache: Mutex<HashMap<String, Registration>>,
}

impl<'a> Registry<'a> {
    pub fn new(lake: &'a dyn Lake) -> Registry<'a> {
        Registry {
            lake,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The table for messages of (`datatype`, `md5sum`) that would go to
    /// `name`: `name` itself if it is free or registered with this md5sum,
    /// otherwise `<name>__<first 8 hex digits of md5sum>`.
    pub fn assign(
        &self,
        name: &str,
        datatype: &str,
        md5sum: &str,
        schema: &Schema,
    ) -> io::Result<String> {
        if self.claim(name, datatype, md5sum, schema)? {
            return Ok(name.to_string());
        }
        let suffixed = format!("{name}__{}", md5_prefix(md5sum));
        self.assign_exact(&suffixed, datatype, md5sum, schema)
    }

    /// Like [`assign`](Self::assign) for a name that already carries the
    /// md5 suffix: it must be free or registered with this md5sum.
    pub fn assign_exact(
        &self,
        name: &str,
        datatype: &str,
        md5sum: &str,
        schema: &Schema,
    ) -> io::Result<String> {
        if self.claim(name, datatype, md5sum, schema)? {
            Ok(name.to_string())
        } else {
            Err(io::Error::other(format!(
                "table {name} is registered in {SCHEMAS_DIR}/{name}.json for another md5sum than {md5sum}"
            )))
        }
    }

    /// Registers `name` if absent; true if it is (now) registered with
    /// this md5sum.
    fn claim(&self, name: &str, datatype: &str, md5sum: &str, schema: &Schema) -> io::Result<bool> {
        let mut cache = self.cache.lock().expect("registry lock");
        if let Some(r) = cache.get(name) {
            return Ok(r.md5sum.eq_ignore_ascii_case(md5sum));
        }
        let path = format!("{SCHEMAS_DIR}/{name}.json");
        let mine = Registration {
            table: name.to_string(),
            datatype: datatype.to_string(),
            md5sum: md5sum.to_string(),
            schema: serde_json::to_value(schema).map_err(io::Error::other)?,
        };
        let bytes = serde_json::to_vec_pretty(&mine).map_err(io::Error::other)?;
        let registered = if self.lake.put_if_absent(&path, &bytes)? {
            mine
        } else {
            let existing = self
                .lake
                .get(&path)?
                .ok_or_else(|| io::Error::other(format!("{path} exists but cannot be read")))?;
            serde_json::from_slice(&existing).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", self.lake.url(&path)),
                )
            })?
        };
        let same = registered.md5sum.eq_ignore_ascii_case(md5sum);
        cache.insert(name.to_string(), registered);
        Ok(same)
    }
}
