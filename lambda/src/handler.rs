//! The handler: an event in, the pipeline run on its bags, an answer out.
//!
//! It is plain synchronous library code, tested without Lambda; `main.rs`
//! calls it from the runtime loop. Settings come from the environment:
//!
//! | variable | meaning |
//! | --- | --- |
//! | `BAGPIPE_OUT` | output root, `s3://bucket/prefix` (required) |
//! | `BAGPIPE_SCENES_TABLE` | DynamoDB scene table (default: the local store in the lake) |
//! | `BAGPIPE_BAGS_TABLE` | DynamoDB bag catalogue (default: the local store in the lake) |
//! | `BAGPIPE_GLUE_DATABASE` | Glue database to register each table and partition in (default: none) |
//! | `BAGPIPE_CONFIG` | the TOML configuration inline, or `s3://bucket/key` of it (default: built-in defaults) |
//!
//! The function fails an invocation only when trying again can help
//! (throttling, a storage error): for SQS it names those messages in
//! `batchItemFailures` so the others are not delivered again; for a
//! direct S3, SNS or EventBridge (asynchronous) invocation it returns an
//! error, which Lambda retries. A failure that would repeat (a missing
//! object, a file that is not a bag, a `bag_file` conflict) is recorded in
//! the catalogue and the logs, and the invocation succeeds.

use std::collections::HashMap;
use std::sync::Arc;

use bagpipe::config::Config;
use bagpipe::outputs::{open_lake, open_stores};
use bagpipe::pipeline::{self, BagOutcome, Context, NoProgress, Source};
use serde_json::{Value, json};

use crate::events::{self, Delivery, KeyKind};
use crate::metrics;
use extractor::container::rosbag2::METADATA_FILE;

/// What the function needs besides the event.
#[derive(Debug, Clone)]
pub struct Settings {
    pub out: String,
    pub scenes_table: Option<String>,
    pub bags_table: Option<String>,
    /// The Glue database to register the tables in, if any.
    pub glue_database: Option<String>,
    pub config: Config,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Settings, String> {
        Settings::from_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Reads the settings through `var` (the environment, or a test's map).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let out = var("BAGPIPE_OUT").ok_or("BAGPIPE_OUT (the output root) is not set")?;
        let config = match var("BAGPIPE_CONFIG") {
            None => Config::default(),
            Some(value) => {
                let text = match bagpipe::s3::S3Url::parse(&value) {
                    Some(url) => {
                        let url = url.map_err(|e| format!("BAGPIPE_CONFIG: {e}"))?;
                        let bytes = bagpipe::s3::get_object(&url.bucket, &url.key)
                            .map_err(|e| format!("BAGPIPE_CONFIG: reading {value}: {e}"))?;
                        String::from_utf8(bytes)
                            .map_err(|_| format!("BAGPIPE_CONFIG: {value} is not UTF-8"))?
                    }
                    None => value,
                };
                Config::from_toml(&text).map_err(|e| format!("BAGPIPE_CONFIG: {e}"))?
            }
        };
        Ok(Settings {
            out,
            scenes_table: var("BAGPIPE_SCENES_TABLE"),
            bags_table: var("BAGPIPE_BAGS_TABLE"),
            glue_database: var("BAGPIPE_GLUE_DATABASE"),
            config,
        })
    }
}

/// The handler's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The invocation succeeded with this response.
    Done(Value),
    /// The invocation fails, so that Lambda delivers it again.
    Retry(String),
}

/// Handles one event.
pub fn handle(settings: &Settings, event: &Value) -> Answer {
    let parsed = match events::parse(event) {
        Ok(p) => p,
        Err(e) => {
            // The same event would fail the same way: say so, do not retry.
            tracing::error!(error = %e, retryable = false, "unrecognised event");
            return Answer::Done(json!({ "error": e, "retryable": false }));
        }
    };
    // The bags each message names, in order.
    let mut sources: Vec<Source> = Vec::new();
    let mut per_message: Vec<Vec<String>> = Vec::new();
    for message in &parsed.messages {
        let mut urls = Vec::new();
        if let Ok(uploads) = &message.uploads {
            for u in uploads {
                let Some(source) = source_of(&u.bucket, &u.key) else {
                    continue;
                };
                urls.push(source.url.clone());
                sources.push(source);
            }
        }
        per_message.push(urls);
    }
    let outcomes = if sources.is_empty() {
        Ok(Vec::new())
    } else {
        run(settings, &sources)
    };
    let by_url: HashMap<&str, &BagOutcome> = match &outcomes {
        Ok(list) => list.iter().map(|o| (o.source.as_str(), o)).collect(),
        Err(_) => HashMap::new(),
    };
    // Per message: `Some(reason)` when a retry could help.
    let retry: Vec<Option<String>> = parsed
        .messages
        .iter()
        .zip(&per_message)
        .map(|(message, urls)| {
            if let Err(e) = &message.uploads {
                // A malformed message: failing it sends it, after the
                // queue's retries, to the dead-letter queue for a person.
                return Some(format!("malformed message: {e}"));
            }
            if let Err(e) = &outcomes {
                return Some(e.clone());
            }
            urls.iter()
                .filter_map(|u| by_url.get(u.as_str()))
                .find(|o| o.retryable && o.error.is_some())
                .map(|o| format!("{}: {}", o.bag_file, o.error.as_deref().unwrap_or("")))
        })
        .collect();
    let bags: Vec<Value> = outcomes
        .as_ref()
        .map(|list| list.iter().map(summary).collect())
        .unwrap_or_default();
    match parsed.delivery {
        Delivery::Sqs => {
            if let Some((_, reason)) = parsed
                .messages
                .iter()
                .zip(&retry)
                .find(|(m, r)| m.id.is_none() && r.is_some())
            {
                // A failed message without an id cannot be named alone.
                return Answer::Retry(reason.clone().unwrap_or_default());
            }
            let failures: Vec<Value> = parsed
                .messages
                .iter()
                .zip(&retry)
                .filter(|(_, r)| r.is_some())
                .filter_map(|(m, _)| m.id.as_ref())
                .map(|id| json!({ "itemIdentifier": id }))
                .collect();
            Answer::Done(json!({ "batchItemFailures": failures }))
        }
        Delivery::S3 | Delivery::Sns | Delivery::EventBridge => {
            let reasons: Vec<String> = retry.into_iter().flatten().collect();
            if reasons.is_empty() {
                Answer::Done(json!({ "bags": bags }))
            } else {
                Answer::Retry(format!("retryable: {}", reasons.join("; ")))
            }
        }
    }
}

/// The bag an uploaded object starts, if any: a bag file, or the rosbag2
/// directory whose `metadata.yaml` it is. A storage file of a directory
/// (named after it, or beside an existing `metadata.yaml`) starts nothing:
/// the directory runs when its `metadata.yaml` arrives.
fn source_of(bucket: &str, key: &str) -> Option<Source> {
    match events::classify_key(key) {
        KeyKind::Bag => {
            let dir = key.rsplit_once('/').map_or("", |(d, _)| d);
            let beside = if dir.is_empty() {
                METADATA_FILE.to_string()
            } else {
                format!("{dir}/{METADATA_FILE}")
            };
            match bagpipe::s3::exists(bucket, &beside) {
                Ok(true) => {
                    tracing::info!(
                        bucket,
                        key,
                        "a storage file beside a metadata.yaml: its directory runs on that; skipped"
                    );
                    None
                }
                Ok(false) => Some(Source::s3(bucket, key)),
                // Cannot tell: run it as a bag (the worst case is a bag of
                // its own, the same as an upload that came first).
                Err(e) => {
                    tracing::warn!(bucket, key, error = %e, "could not look for a metadata.yaml beside it; run as a bag");
                    Some(Source::s3(bucket, key))
                }
            }
        }
        KeyKind::Directory(prefix) => match bagpipe::input::s3_directory_at(bucket, &prefix) {
            Ok(source) => Some(source),
            Err(e) => {
                // The listing failed: the pipeline lists the directory
                // again when it opens it (and fails retryably if it cannot).
                tracing::warn!(bucket, prefix, error = %e, "listing the rosbag2 directory failed");
                Some(Source::s3_directory(bucket, &prefix, Vec::new()))
            }
        },
        KeyKind::Part => {
            tracing::info!(
                bucket,
                key,
                "a storage file of a rosbag2 directory: it runs when its metadata.yaml arrives; skipped"
            );
            None
        }
        KeyKind::Other => {
            tracing::info!(
                bucket,
                key,
                "not a bag (.bag, .mcap, .db3, .zstd) nor a metadata.yaml; skipped"
            );
            None
        }
    }
}

/// Runs the pipeline on `sources`; `Err` (retryable) when the outputs
/// cannot even be opened.
fn run(settings: &Settings, sources: &[Source]) -> Result<Vec<BagOutcome>, String> {
    let lake = open_lake(&settings.out).map_err(|e| format!("opening {}: {e}", settings.out))?;
    let stores = open_stores(
        &lake,
        settings.bags_table.as_deref(),
        settings.scenes_table.as_deref(),
    )
    .map_err(|e| e.to_string())?;
    let ctx = Context {
        lake,
        bags: stores.bags,
        scenes: stores.scenes,
        tables: settings.glue_database.as_deref().map(|db| {
            Arc::new(bagpipe::glue::GlueCatalog::new(db)) as Arc<dyn bagpipe::athena::TableCatalog>
        }),
        config: settings.config.clone(),
        progress: Box::new(|_, _| Box::new(NoProgress)),
    };
    let outcomes = pipeline::run(&ctx, sources);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let peak = metrics::peak_memory_bytes();
    for o in &outcomes {
        log_outcome(o);
        for line in metrics::emf_lines(o, peak, now_ms) {
            println!("{line}");
        }
    }
    Ok(outcomes)
}

fn log_outcome(o: &BagOutcome) {
    match &o.error {
        None => tracing::info!(
            bag = %o.bag_file,
            source = %o.source,
            status = o.status.as_str(),
            messages = o.message_count,
            ticks = o.ticks,
            scenes = o.scenes,
            warnings = o.warnings.len(),
            seconds = o.elapsed.as_secs_f64(),
            "bag done"
        ),
        Some(e) => tracing::error!(
            bag = %o.bag_file,
            source = %o.source,
            status = o.status.as_str(),
            retryable = o.retryable,
            error = %e,
            "bag failed"
        ),
    }
    for w in &o.warnings {
        tracing::warn!(bag = %o.bag_file, warning = %w, "warning");
    }
}

fn summary(o: &BagOutcome) -> Value {
    json!({
        "bag_file": o.bag_file,
        "source_url": o.source,
        "status": o.status.as_str(),
        "messages": o.message_count,
        "scenes": o.scenes,
        "warnings": o.warnings.len(),
        "error": o.error,
        "retryable": o.retryable,
    })
}
