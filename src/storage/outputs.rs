//! Where a run's outputs go, from the same settings for the CLI and the
//! Lambda: the lake from the output root (a local directory, `file://` URL
//! or `s3://bucket/prefix`), and the scene store and bag catalogue (a
//! DynamoDB table when named, else the local JSONL store in the lake).

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::exports::REPORTS_DIR;
use crate::storage::catalog::{
    ItemStore, JsonlStore, LOCAL_BAGS_PATH, LOCAL_SCENES_PATH, LOCAL_STORE_DIR,
};
use crate::storage::lake::{Lake, LocalLake};
use crate::storage::registry::SCHEMAS_DIR;
#[cfg(feature = "aws")]
use crate::storage::s3::S3Lake;
use crate::storage::s3::S3Url;

/// The lake at `root`. An `Err` of kind `InvalidInput` is the user's to fix
/// (a malformed root); others come from the storage.
pub fn open_lake(root: &str) -> io::Result<Arc<dyn Lake>> {
    if let Some(url) = S3Url::parse(root) {
        let url = url.map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        #[cfg(feature = "aws")]
        return Ok(Arc::new(S3Lake::new(&url.bucket, &url.key)?));
        #[cfg(not(feature = "aws"))]
        return Err(crate::storage::s3::unsupported(&S3Url::url_of(
            &url.bucket,
            &url.key,
        )));
    }
    let path = local_root(root)?;
    let lake = LocalLake::new(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", path.display())))?;
    // The files outside the bags' partitions that a killed run may have
    // been writing: the schema registry, the local stores and the reports
    // (a bag's exports are swept when its scenes are exported again).
    for dir in [SCHEMAS_DIR, LOCAL_STORE_DIR, REPORTS_DIR] {
        let removed = lake.remove_dead_temps(dir).map_err(|e| {
            io::Error::new(e.kind(), format!("cleaning {}/{dir}: {e}", path.display()))
        })?;
        if removed > 0 {
            tracing::info!(
                dir,
                removed,
                "removed temporary files of a run that was killed"
            );
        }
    }
    Ok(Arc::new(lake))
}

/// A local output root from a plain path or a `file://` URL.
pub fn local_root(root: &str) -> io::Result<PathBuf> {
    let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
    if let Some(path) = root.strip_prefix("file://") {
        let decoded = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| invalid(format!("{root}: not valid UTF-8 once decoded")))?;
        return Ok(PathBuf::from(decoded.as_ref()));
    }
    if root.contains("://") {
        return Err(invalid(format!(
            "{root}: an output root is a local directory, a file:// URL or s3://bucket/prefix"
        )));
    }
    Ok(PathBuf::from(root))
}

/// The bag catalogue and the scene store.
pub struct Stores {
    pub bags: Arc<dyn ItemStore>,
    pub scenes: Arc<dyn ItemStore>,
}

/// The stores: each a DynamoDB table when named, else the local store in
/// the lake (`dynamodb/bags.jsonl`, `dynamodb/scenes.jsonl`).
pub fn open_stores(
    lake: &Arc<dyn Lake>,
    bags_table: Option<&str>,
    scenes_table: Option<&str>,
) -> io::Result<Stores> {
    let bags: Arc<dyn ItemStore> = match bags_table {
        Some(table) => dynamo_store(table, "bag_file", None)?,
        None => Arc::new(
            JsonlStore::open(lake.clone(), LOCAL_BAGS_PATH, "bag_file", None).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "opening the bag catalogue {}: {e}",
                        lake.url(LOCAL_BAGS_PATH)
                    ),
                )
            })?,
        ),
    };
    let scenes: Arc<dyn ItemStore> = match scenes_table {
        Some(table) => dynamo_store(table, "bag_file", Some("scene_id"))?,
        None => Arc::new(
            JsonlStore::open(
                lake.clone(),
                LOCAL_SCENES_PATH,
                "bag_file",
                Some("scene_id"),
            )
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "opening the scene store {}: {e}",
                        lake.url(LOCAL_SCENES_PATH)
                    ),
                )
            })?,
        ),
    };
    Ok(Stores { bags, scenes })
}

/// A DynamoDB table as a record store.
#[cfg(feature = "aws")]
fn dynamo_store(
    table: &str,
    partition_key: &'static str,
    sort_key: Option<&'static str>,
) -> io::Result<Arc<dyn ItemStore>> {
    Ok(Arc::new(crate::storage::dynamo::DynamoStore::new(
        table,
        partition_key,
        sort_key,
    )))
}

/// A DynamoDB table: not in this build.
#[cfg(not(feature = "aws"))]
fn dynamo_store(
    table: &str,
    _: &'static str,
    _: Option<&'static str>,
) -> io::Result<Arc<dyn ItemStore>> {
    Err(crate::storage::s3::unsupported(&format!(
        "DynamoDB table {table}"
    )))
}
