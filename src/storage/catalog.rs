//! Records in DynamoDB's shape: attribute values, the bag catalogue item, and
//! the local store that keeps them as DynamoDB export lines
//! (`{"Item": {"bag_file": {"S": "..."}, ...}}`) in the lake, rewritten whole
//! after each change.
//!
//! The [`ItemStore`] trait is what the pipeline sees; the JSONL store here
//! and a DynamoDB table implement it alike.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

use crate::storage::lake::Lake;

/// A DynamoDB attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    S(String),
    N(String),
    Bool(bool),
    L(Vec<Attr>),
    M(BTreeMap<String, Attr>),
}

/// An item: attribute name to value.
pub type Item = BTreeMap<String, Attr>;

impl Attr {
    /// A number attribute.
    pub fn n(v: impl std::fmt::Display) -> Attr {
        Attr::N(v.to_string())
    }

    /// A string attribute.
    pub fn s(v: impl Into<String>) -> Attr {
        Attr::S(v.into())
    }

    /// The attribute as DynamoDB JSON (`{"S": "x"}`).
    pub fn to_json(&self) -> Value {
        match self {
            Attr::S(s) => json!({ "S": s }),
            Attr::N(n) => json!({ "N": n }),
            Attr::Bool(b) => json!({ "BOOL": b }),
            Attr::L(l) => json!({ "L": l.iter().map(Attr::to_json).collect::<Vec<_>>() }),
            Attr::M(m) => json!({ "M": item_to_json(m) }),
        }
    }

    /// Parses DynamoDB JSON.
    pub fn from_json(v: &Value) -> Result<Attr, String> {
        let obj = v
            .as_object()
            .filter(|o| o.len() == 1)
            .ok_or_else(|| format!("an attribute value is an object with one type key, not {v}"))?;
        let (ty, val) = obj.iter().next().expect("one entry");
        let str_of = |val: &Value| {
            val.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{ty} holds a string, not {val}"))
        };
        Ok(match ty.as_str() {
            "S" => Attr::S(str_of(val)?),
            "N" => Attr::N(str_of(val)?),
            "BOOL" => Attr::Bool(val.as_bool().ok_or("BOOL holds a boolean")?),
            "L" => Attr::L(
                val.as_array()
                    .ok_or("L holds an array")?
                    .iter()
                    .map(Attr::from_json)
                    .collect::<Result<_, _>>()?,
            ),
            "M" => Attr::M(item_from_json(val)?),
            other => return Err(format!("unsupported attribute type {other}")),
        })
    }

    /// The string, if this is an S.
    pub fn as_s(&self) -> Option<&str> {
        match self {
            Attr::S(s) => Some(s),
            _ => None,
        }
    }
}

/// An item as a DynamoDB JSON map.
pub fn item_to_json(item: &Item) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect::<Map<_, _>>(),
    )
}

/// Parses a DynamoDB JSON map into an item.
pub fn item_from_json(v: &Value) -> Result<Item, String> {
    v.as_object()
        .ok_or_else(|| format!("an item is an object, not {v}"))?
        .iter()
        .map(|(k, v)| Attr::from_json(v).map(|a| (k.clone(), a)))
        .collect()
}

/// A table of items keyed by a partition key and an optional sort key.
pub trait ItemStore: Send + Sync {
    /// The item with this key, if any.
    fn get(&self, partition: &str, sort: Option<&str>) -> io::Result<Option<Item>>;
    /// Every item of one partition.
    fn query(&self, partition: &str) -> io::Result<Vec<Item>>;
    /// Every item of the table, each with only `attributes`.
    fn scan(&self, attributes: &[&str]) -> io::Result<Vec<Item>>;
    /// Replaces the items of `partition` by `items` exactly (all share that
    /// partition key): items not in the new set are removed.
    fn replace_partition(&self, partition: &str, items: Vec<Item>) -> io::Result<()>;
    /// Creates or replaces one item.
    fn put(&self, item: Item) -> io::Result<()>;
    /// Creates or replaces one item unless an item with its key exists
    /// whose `owner` attribute differs from the new item's, or that holds
    /// a live lease of another run (its [`LEASE_UNTIL`] is later than now
    /// and its [`RUN_ID`] differs from the new item's): then nothing is
    /// written and that item is returned. One conditional write, so two
    /// concurrent runs cannot both claim a key.
    fn put_if_owner(&self, item: Item, owner: &str) -> io::Result<Option<Item>>;
}

/// The local store: one JSONL file of DynamoDB export lines in the lake.
pub struct JsonlStore {
    lake: Arc<dyn Lake>,
    path: String,
    partition_key: &'static str,
    sort_key: Option<&'static str>,
    items: Mutex<BTreeMap<(String, String), Item>>,
}

/// Where the local bag catalogue lives under the output root.
pub const LOCAL_BAGS_PATH: &str = "dynamodb/bags.jsonl";
/// The directory of the local stores in the lake.
pub const LOCAL_STORE_DIR: &str = "dynamodb";
/// Where the local scene store lives under the output root.
pub const LOCAL_SCENES_PATH: &str = "dynamodb/scenes.jsonl";

impl JsonlStore {
    /// Opens (or starts) the store at `path` in the lake.
    pub fn open(
        lake: Arc<dyn Lake>,
        path: &str,
        partition_key: &'static str,
        sort_key: Option<&'static str>,
    ) -> io::Result<JsonlStore> {
        let mut items = BTreeMap::new();
        if let Some(bytes) = lake.get(path)? {
            let text = String::from_utf8_lossy(&bytes);
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let bad = |e: String| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} line {}: {e}", lake.url(path), i + 1),
                    )
                };
                let v: Value = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
                let item = item_from_json(v.get("Item").ok_or_else(|| bad("no \"Item\"".into()))?)
                    .map_err(bad)?;
                let key = key_of(&item, partition_key, sort_key).map_err(bad)?;
                items.insert(key, item);
            }
        }
        Ok(JsonlStore {
            lake,
            path: path.to_string(),
            partition_key,
            sort_key,
            items: Mutex::new(items),
        })
    }

    /// Every item, in key order.
    pub fn all(&self) -> Vec<Item> {
        self.items
            .lock()
            .expect("store lock")
            .values()
            .cloned()
            .collect()
    }

    fn save(&self, items: &BTreeMap<(String, String), Item>) -> io::Result<()> {
        let mut text = String::new();
        for item in items.values() {
            text.push_str(&json!({ "Item": item_to_json(item) }).to_string());
            text.push('\n');
        }
        self.lake.put(&self.path, text.as_bytes())
    }
}

fn key_of(item: &Item, pk: &str, sk: Option<&str>) -> Result<(String, String), String> {
    let get = |k: &str| {
        item.get(k)
            .and_then(Attr::as_s)
            .map(str::to_string)
            .ok_or_else(|| format!("item has no string key {k}"))
    };
    Ok((get(pk)?, sk.map(get).transpose()?.unwrap_or_default()))
}

impl ItemStore for JsonlStore {
    fn get(&self, partition: &str, sort: Option<&str>) -> io::Result<Option<Item>> {
        let items = self.items.lock().expect("store lock");
        let key = (partition.to_string(), sort.unwrap_or("").to_string());
        Ok(items.get(&key).cloned())
    }

    fn query(&self, partition: &str) -> io::Result<Vec<Item>> {
        let items = self.items.lock().expect("store lock");
        Ok(items
            .iter()
            .filter(|((p, _), _)| p == partition)
            .map(|(_, item)| item.clone())
            .collect())
    }

    fn scan(&self, attributes: &[&str]) -> io::Result<Vec<Item>> {
        let items = self.items.lock().expect("store lock");
        Ok(items
            .values()
            .map(|item| {
                item.iter()
                    .filter(|(k, _)| attributes.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .collect())
    }

    fn replace_partition(&self, partition: &str, new: Vec<Item>) -> io::Result<()> {
        let mut items = self.items.lock().expect("store lock");
        let mut next = items.clone();
        next.retain(|(p, _), _| p != partition);
        for item in new {
            let key = key_of(&item, self.partition_key, self.sort_key)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            next.insert(key, item);
        }
        self.save(&next)?;
        *items = next;
        Ok(())
    }

    fn put(&self, item: Item) -> io::Result<()> {
        self.put_checked(item, None).map(|_| ())
    }

    fn put_if_owner(&self, item: Item, owner: &str) -> io::Result<Option<Item>> {
        self.put_checked(item, Some(owner))
    }
}

impl JsonlStore {
    /// `put`, refused (returning the existing item) when an item with the
    /// key exists and its `owner` attribute differs.
    fn put_checked(&self, item: Item, owner: Option<&str>) -> io::Result<Option<Item>> {
        let mut items = self.items.lock().expect("store lock");
        let key = key_of(&item, self.partition_key, self.sort_key)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        if let (Some(owner), Some(existing)) = (owner, items.get(&key))
            && (existing.get(owner) != item.get(owner) || leased_to_another(existing, &item))
        {
            return Ok(Some(existing.clone()));
        }
        let mut next = items.clone();
        next.insert(key, item);
        self.save(&next)?;
        *items = next;
        Ok(None)
    }
}

/// Whether `existing` holds a live lease of a run other than `item`'s.
pub fn leased_to_another(existing: &Item, item: &Item) -> bool {
    let until = match existing.get(LEASE_UNTIL) {
        Some(Attr::N(n)) => n.parse::<u64>().unwrap_or(0),
        _ => return false,
    };
    until > now_ms() && existing.get(RUN_ID) != item.get(RUN_ID)
}

/// Status of a bag in the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// From plan to finish: work items are extracting the bag.
    Extracting,
    Extracted,
    Synchronized,
    Done,
    Failed,
}

impl Status {
    /// The value stored in the catalogue.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Extracting => "EXTRACTING",
            Status::Extracted => "EXTRACTED",
            Status::Synchronized => "SYNCHRONIZED",
            Status::Done => "DONE",
            Status::Failed => "FAILED",
        }
    }
}

/// One type of a topic in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicVariant {
    /// The type name (ROS 2: normalised to `pkg/msg/Type`).
    pub datatype: String,
    /// ROS1: the md5sum the bag names.
    pub md5sum: Option<String>,
    /// ROS 2: the type hash of the definition decoded with (or the one the
    /// bag records, when none could be used).
    pub type_hash: Option<String>,
    /// ROS 2: where the definition came from (`embedded`, `msg_paths`,
    /// `builtin`), when one was found.
    pub definition_source: Option<String>,
    pub message_count: u64,
    pub table: Option<String>,
}

impl TopicVariant {
    fn to_attr(&self, variants: &[TopicVariant]) -> Attr {
        let mut m = BTreeMap::new();
        m.insert("type".to_string(), Attr::s(&self.datatype));
        if let Some(md5) = &self.md5sum {
            m.insert("md5sum".to_string(), Attr::s(md5));
        }
        if let Some(h) = &self.type_hash {
            m.insert("type_hash".to_string(), Attr::s(h));
        }
        if let Some(d) = &self.definition_source {
            m.insert("definition_source".to_string(), Attr::s(d));
        }
        m.insert("message_count".to_string(), Attr::n(self.message_count));
        if let Some(t) = &self.table {
            m.insert("table".to_string(), Attr::s(t));
        }
        if !variants.is_empty() {
            m.insert(
                "variants".to_string(),
                Attr::L(variants.iter().map(|v| v.to_attr(&[])).collect()),
            );
        }
        Attr::M(m)
    }
}

/// A topic in the catalogue: its first type and any further ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRecord {
    pub first: TopicVariant,
    pub variants: Vec<TopicVariant>,
}

/// The catalogue item of one bag.
#[derive(Debug, Clone, PartialEq)]
pub struct BagRecord {
    pub bag_file: String,
    pub source_url: String,
    /// The storage format (`ros1`, `mcap`, `sqlite3`), once known.
    pub format: Option<String>,
    /// A rosbag2 directory's storage files: (name, bytes).
    pub storage_files: Vec<(String, u64)>,
    /// The ROS distribution the bag says it was recorded with.
    pub ros_distro: Option<String>,
    pub size_bytes: u64,
    pub start_time_ns: Option<u64>,
    pub end_time_ns: Option<u64>,
    pub message_count: u64,
    pub topics: BTreeMap<String, TopicRecord>,
    pub status: Status,
    pub warnings: Vec<String>,
    pub error: Option<String>,
    /// The URL of the bag's report, once written.
    pub report_url: Option<String>,
    /// The run that writes the item, and while it extracts, its lease.
    pub run: Option<RunInfo>,
}

/// The run of a bag the catalogue item belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub run_id: String,
    /// Work items the bag was cut into (1: extracted in one piece).
    pub work_items: usize,
    /// While the run holds the bag: until when (ms since the Unix epoch).
    /// Another run of the bag is refused (retryably) until then.
    pub lease_until_ms: Option<u64>,
}

/// Attributes of the run lease (see [`ItemStore::put_if_owner`]).
pub const RUN_ID: &str = "run_id";
pub const LEASE_UNTIL: &str = "lease_until";

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl BagRecord {
    /// The item as stored, stamped with the current time.
    pub fn to_item(&self) -> Item {
        let mut item = Item::new();
        item.insert("bag_file".into(), Attr::s(&self.bag_file));
        item.insert("source_url".into(), Attr::s(&self.source_url));
        if let Some(f) = &self.format {
            item.insert("format".into(), Attr::s(f));
        }
        if !self.storage_files.is_empty() {
            item.insert(
                "storage_files".into(),
                Attr::L(
                    self.storage_files
                        .iter()
                        .map(|(name, size)| {
                            let mut m = BTreeMap::new();
                            m.insert("name".to_string(), Attr::s(name));
                            m.insert("size_bytes".to_string(), Attr::n(size));
                            Attr::M(m)
                        })
                        .collect(),
                ),
            );
        }
        if let Some(d) = &self.ros_distro {
            item.insert("ros_distro".into(), Attr::s(d));
        }
        item.insert("size_bytes".into(), Attr::n(self.size_bytes));
        if let Some(t) = self.start_time_ns {
            item.insert("start_time_ns".into(), Attr::n(t));
        }
        if let Some(t) = self.end_time_ns {
            item.insert("end_time_ns".into(), Attr::n(t));
        }
        item.insert("message_count".into(), Attr::n(self.message_count));
        item.insert(
            "topics".into(),
            Attr::M(
                self.topics
                    .iter()
                    .map(|(t, r)| (t.clone(), r.first.to_attr(&r.variants)))
                    .collect(),
            ),
        );
        item.insert("status".into(), Attr::s(self.status.as_str()));
        if let Some(url) = &self.report_url {
            item.insert("report_url".into(), Attr::s(url));
        }
        item.insert(
            "warnings".into(),
            Attr::L(
                capped_warnings(&self.warnings)
                    .into_iter()
                    .map(Attr::s)
                    .collect(),
            ),
        );
        if let Some(e) = &self.error {
            item.insert("error".into(), Attr::s(capped(e, MAX_ERROR_LEN)));
        }
        if let Some(run) = &self.run {
            item.insert(RUN_ID.into(), Attr::s(&run.run_id));
            item.insert("work_items".into(), Attr::n(run.work_items));
            if let Some(t) = run.lease_until_ms {
                item.insert(LEASE_UNTIL.into(), Attr::n(t));
            }
        }
        item.insert("updated_at".into(), Attr::s(now_iso8601()));
        item
    }
}

/// Size past which a catalogue item's `topics` map moves to the lake:
/// DynamoDB refuses items over 400 KB, and the rest of the item needs room.
pub const ITEM_LIMIT: usize = 350_000;

/// Warnings an item lists; the rest are counted in one more.
pub const MAX_WARNINGS: usize = 100;

/// Longest `error` an item holds (an error quoting a huge response).
const MAX_ERROR_LEN: usize = 16 << 10;

/// Where a bag's `topics` map goes when its item would be too large.
pub const CATALOG_DIR: &str = "_catalog";

/// The catalogue object of a bag whose topics do not fit its item.
pub fn catalog_path(bag_file: &str) -> String {
    format!("{CATALOG_DIR}/{bag_file}.json")
}

/// The first [`MAX_WARNINGS`] warnings, and one counting the rest.
fn capped_warnings(warnings: &[String]) -> Vec<String> {
    if warnings.len() <= MAX_WARNINGS {
        return warnings.to_vec();
    }
    let mut out = warnings[..MAX_WARNINGS].to_vec();
    out.push(format!(
        "{} more warnings not listed (an item lists the first {MAX_WARNINGS})",
        warnings.len() - MAX_WARNINGS
    ));
    out
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn capped(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes in all)", &text[..end], text.len())
}

/// An item's size as DynamoDB counts it (attribute names and values, in
/// UTF-8 bytes; numbers about a byte per two digits; a list or map 3 bytes
/// and a byte per element): what its 400 KB limit applies to.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + attr_size(v)).sum()
}

fn attr_size(a: &Attr) -> usize {
    match a {
        Attr::S(s) => s.len(),
        Attr::N(n) => n.len().div_ceil(2) + 1,
        Attr::Bool(_) => 1,
        Attr::L(l) => 3 + l.iter().map(|v| 1 + attr_size(v)).sum::<usize>(),
        Attr::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() + attr_size(v))
                .sum::<usize>()
        }
    }
}

/// An attribute as plain JSON (numbers as numbers where they fit), for
/// the topics map written to the lake.
pub fn plain_json(a: &Attr) -> Value {
    match a {
        Attr::S(s) => Value::String(s.clone()),
        Attr::N(n) => n
            .parse::<u64>()
            .map(Value::from)
            .or_else(|_| n.parse::<i64>().map(Value::from))
            .unwrap_or_else(|_| Value::String(n.clone())),
        Attr::Bool(b) => Value::Bool(*b),
        Attr::L(l) => Value::Array(l.iter().map(plain_json).collect()),
        Attr::M(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), plain_json(v))).collect()),
    }
}

/// A catalogue item that fits: when the whole item passes
/// [`ITEM_LIMIT`], its `topics` map is taken out (returned, as plain JSON,
/// for [`catalog_path`]) and the item says `topics_url` and `topic_count`
/// instead.
pub fn fit_item(mut item: Item, topics_url: &str) -> (Item, Option<Vec<u8>>) {
    if item_size(&item) <= ITEM_LIMIT {
        return (item, None);
    }
    let Some(Attr::M(topics)) = item.remove("topics") else {
        return (item, None);
    };
    let json = plain_json(&Attr::M(topics.clone()));
    let bytes = serde_json::to_vec_pretty(&json).expect("JSON of a map serialises");
    item.insert("topics_url".into(), Attr::s(topics_url));
    item.insert("topic_count".into(), Attr::n(topics.len()));
    (item, Some(bytes))
}

/// The current UTC time as ISO 8601 with milliseconds.
pub fn now_iso8601() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&format).unwrap_or_else(|_| now.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::lake::LocalLake;

    #[test]
    fn attributes_round_trip_through_dynamodb_json() {
        let mut m = BTreeMap::new();
        m.insert("a".to_string(), Attr::L(vec![Attr::s("x"), Attr::n(3)]));
        m.insert("b".to_string(), Attr::Bool(true));
        let a = Attr::M(m);
        let j = a.to_json();
        assert_eq!(j["M"]["a"]["L"][1]["N"], "3");
        assert_eq!(Attr::from_json(&j).unwrap(), a);
        assert!(Attr::from_json(&json!({"S": 1})).is_err());
    }

    #[test]
    fn an_item_of_thousands_of_topics_moves_them_to_the_lake() {
        let record = |topics: usize, warnings: usize| BagRecord {
            bag_file: "big".into(),
            source_url: "file:///big.bag".into(),
            format: Some("ros1".into()),
            storage_files: Vec::new(),
            ros_distro: None,
            size_bytes: 1,
            start_time_ns: Some(1),
            end_time_ns: Some(2),
            message_count: topics as u64,
            topics: (0..topics)
                .map(|i| {
                    let v = TopicVariant {
                        datatype: "std_msgs/String".into(),
                        md5sum: Some("992ce8a1687cec8c8bd883ec73ca41d1".into()),
                        type_hash: None,
                        definition_source: None,
                        message_count: 1,
                        table: Some(format!("topic_{i:05}")),
                    };
                    (
                        format!("/topic_{i:05}"),
                        TopicRecord {
                            first: v,
                            variants: Vec::new(),
                        },
                    )
                })
                .collect(),
            status: Status::Done,
            run: None,
            warnings: (0..warnings).map(|i| format!("warning {i}")).collect(),
            error: None,
            report_url: None,
        };
        let (small, moved) = fit_item(record(10, 3).to_item(), "url");
        assert!(moved.is_none() && small.contains_key("topics"));
        let (big, moved) = fit_item(
            record(4000, 10_000).to_item(),
            "file:///lake/_catalog/big.json",
        );
        assert!(item_size(&big) < ITEM_LIMIT, "{}", item_size(&big));
        assert!(!big.contains_key("topics"));
        assert_eq!(big["topic_count"], Attr::n(4000));
        assert_eq!(big["topics_url"], Attr::s("file:///lake/_catalog/big.json"));
        let Attr::L(w) = &big["warnings"] else {
            panic!()
        };
        assert_eq!(w.len(), MAX_WARNINGS + 1);
        assert_eq!(
            w[MAX_WARNINGS],
            Attr::s("9900 more warnings not listed (an item lists the first 100)")
        );
        let topics: Value = serde_json::from_slice(&moved.unwrap()).unwrap();
        assert_eq!(topics.as_object().unwrap().len(), 4000);
        assert_eq!(topics["/topic_00007"]["table"], "topic_00007");
        assert_eq!(topics["/topic_00007"]["message_count"], 1);
    }

    #[test]
    fn jsonl_store_replaces_a_partition_exactly_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let lake: Arc<dyn Lake> = Arc::new(LocalLake::new(dir.path()).unwrap());
        let item = |p: &str, s: &str| {
            let mut i = Item::new();
            i.insert("bag_file".into(), Attr::s(p));
            i.insert("scene_id".into(), Attr::s(s));
            i
        };
        let store = JsonlStore::open(
            lake.clone(),
            LOCAL_SCENES_PATH,
            "bag_file",
            Some("scene_id"),
        )
        .unwrap();
        store
            .replace_partition("a", vec![item("a", "1"), item("a", "2")])
            .unwrap();
        store.replace_partition("b", vec![item("b", "1")]).unwrap();
        store.replace_partition("a", vec![item("a", "3")]).unwrap();
        let reopened = JsonlStore::open(
            lake.clone(),
            LOCAL_SCENES_PATH,
            "bag_file",
            Some("scene_id"),
        )
        .unwrap();
        let ids: Vec<_> = reopened
            .query("a")
            .unwrap()
            .iter()
            .map(|i| i["scene_id"].as_s().unwrap().to_string())
            .collect();
        assert_eq!(ids, ["3"]);
        assert_eq!(reopened.query("b").unwrap().len(), 1);
        let text = String::from_utf8(lake.get(LOCAL_SCENES_PATH).unwrap().unwrap()).unwrap();
        assert!(text.lines().all(|l| l.starts_with("{\"Item\":{")), "{text}");
    }
}
