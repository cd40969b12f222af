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
//! | `BAGPIPE_STATE_MACHINE` | ARN of the big-bag state machine (default: none, every bag runs here) |
//! | `BAGPIPE_FANOUT_BYTES` | bags larger than this go to the state machine (default: 20 GiB) |
//! | `BAGPIPE_ITEM_BYTES` | a planned bag's compressed bytes per work item (default: 2 GiB) |
//!
//! Two kinds of event arrive. Upload events (S3, SQS, SNS, EventBridge)
//! run each bag here, or, for a bag above `BAGPIPE_FANOUT_BYTES` when a
//! state machine is set, start that state machine's execution for it (the
//! router). Step events (`{"step": "plan" | "work" | "finish" | "fail",
//! "bag": {"bucket", "key", ...}, ...}`) are the state machine's: each runs
//! one step of a bag cut into work items ([`handle_step`]).
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
    /// The big-bag state machine's ARN, if bags are routed to one.
    pub state_machine: Option<String>,
    /// Bags larger than this are routed to the state machine.
    pub fanout_bytes: u64,
    /// A planned bag's compressed bytes per work item.
    pub item_bytes: u64,
}

/// Bags larger than this go to the state machine, by default: what one
/// Lambda extracts well within its 15 minutes.
pub const DEFAULT_FANOUT_BYTES: u64 = 20 << 30;
/// Compressed bytes of a bag per work item, by default.
pub const DEFAULT_ITEM_BYTES: u64 = 2 << 30;

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
        let bytes = |name: &str, default: u64| -> Result<u64, String> {
            match var(name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("{name}: {v:?} is not a positive number of bytes")),
            }
        };
        Ok(Settings {
            out,
            scenes_table: var("BAGPIPE_SCENES_TABLE"),
            bags_table: var("BAGPIPE_BAGS_TABLE"),
            glue_database: var("BAGPIPE_GLUE_DATABASE"),
            config,
            state_machine: var("BAGPIPE_STATE_MACHINE"),
            fanout_bytes: bytes("BAGPIPE_FANOUT_BYTES", DEFAULT_FANOUT_BYTES)?,
            item_bytes: bytes("BAGPIPE_ITEM_BYTES", DEFAULT_ITEM_BYTES)?,
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
    /// The invocation fails for good (a step of the state machine whose
    /// failure path then marks the bag failed).
    Fail(String),
}

/// Handles one event.
pub fn handle(settings: &Settings, event: &Value) -> Answer {
    if event.get("step").is_some() {
        return handle_step(settings, event);
    }
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
        let sizes: HashMap<(String, String), u64> = parsed
            .messages
            .iter()
            .filter_map(|m| m.uploads.as_ref().ok())
            .flatten()
            .filter_map(|u| Some(((u.bucket.clone(), u.key.clone()), u.size?)))
            .collect();
        let (big, inline): (Vec<Source>, Vec<Source>) = sources
            .into_iter()
            .partition(|s| routed(settings, s, &sizes));
        run(settings, &inline).map(|mut outcomes| {
            outcomes.extend(big.iter().map(|s| route(settings, s)));
            outcomes
        })
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

/// The pipeline's context for `settings`; `Err` (retryable) when the
/// outputs cannot even be opened.
fn context(settings: &Settings) -> Result<Context, String> {
    let lake = open_lake(&settings.out).map_err(|e| format!("opening {}: {e}", settings.out))?;
    let stores = open_stores(
        &lake,
        settings.bags_table.as_deref(),
        settings.scenes_table.as_deref(),
    )
    .map_err(|e| e.to_string())?;
    Ok(Context {
        lake,
        bags: stores.bags,
        scenes: stores.scenes,
        tables: settings.glue_database.as_deref().map(|db| {
            Arc::new(bagpipe::glue::GlueCatalog::new(db)) as Arc<dyn bagpipe::athena::TableCatalog>
        }),
        config: settings.config.clone(),
        progress: Box::new(|_, _| Box::new(NoProgress)),
    })
}

/// Runs the pipeline on `sources`; `Err` (retryable) when the outputs
/// cannot even be opened.
fn run(settings: &Settings, sources: &[Source]) -> Result<Vec<BagOutcome>, String> {
    if sources.is_empty() {
        return Ok(Vec::new());
    }
    let ctx = context(settings)?;
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

/// Whether a bag goes to the state machine: one is set, and the bag (its
/// size from the event, else from S3) is larger than the threshold.
fn routed(settings: &Settings, source: &Source, sizes: &HashMap<(String, String), u64>) -> bool {
    if settings.state_machine.is_none() || source.bucket.is_empty() {
        return false;
    }
    let size = sizes
        .get(&(source.bucket.clone(), source.key.clone()))
        .copied()
        .or_else(|| source.size_bytes());
    size.is_some_and(|n| n > settings.fanout_bytes)
}

/// The execution name of a bag's run: the same for the same upload (bucket,
/// key, ETag), so a redelivered event cannot start a second run; at most 80
/// characters of `[A-Za-z0-9_-]`.
pub fn execution_name(bag_file: &str, bucket: &str, key: &str, etag: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("{bucket}/{key}\n{etag}").as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let name: String = bag_file
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("bag-{name}-{hex}")
}

/// Starts the state machine's execution for a big bag. An execution of the
/// same name (the same upload) already started counts as started.
fn route(settings: &Settings, source: &Source) -> BagOutcome {
    let arn = settings.state_machine.clone().unwrap_or_default();
    let (size, etag) = match bagpipe::s3::head(&source.bucket, &source.key) {
        Ok(h) => h,
        Err(e) => {
            return routed_outcome(
                source,
                Err(bagpipe::failure::Failure::io("HEAD of the bag", &e)),
            );
        }
    };
    let name = execution_name(&source.bag_file(), &source.bucket, &source.key, &etag);
    let input = json!({
        "bag": {"bucket": source.bucket, "key": source.key, "size": size, "etag": etag}
    });
    let client = aws_sdk_sfn::Client::new(bagpipe::aws::sdk_config());
    let started = bagpipe::aws::block_on(
        client
            .start_execution()
            .state_machine_arn(&arn)
            .name(&name)
            .input(input.to_string())
            .send(),
    );
    let result = match started {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_execution_already_exists()) =>
        {
            Ok(())
        }
        Err(e) => Err(bagpipe::failure::Failure::transient(format!(
            "starting {arn} for {}: {}",
            source.url,
            aws_sdk_sfn::error::DisplayErrorContext(&e)
        ))),
    };
    tracing::info!(bag = %source.bag_file(), size, execution = %name, ok = result.is_ok(), "routed to the state machine");
    routed_outcome(source, result)
}

fn routed_outcome(source: &Source, result: Result<(), bagpipe::failure::Failure>) -> BagOutcome {
    match result {
        Ok(()) => {
            let none = bagpipe::failure::Failure::permanent(String::new());
            let mut outcome = BagOutcome::failed(source.bag_file(), source, none);
            outcome.status = bagpipe::catalog::Status::Extracting;
            outcome.error = None;
            outcome
        }
        Err(f) => BagOutcome::failed(source.bag_file(), source, f),
    }
}

/// One step of a bag cut into work items, as the state machine invokes
/// it: plan, work (one item), finish, fail. The answer is the step's
/// result, or an error the state machine retries (`bagpipe.Retryable`)
/// or sends to its failure path (`bagpipe.Failed`).
pub fn handle_step(settings: &Settings, event: &Value) -> Answer {
    let step = event["step"].as_str().unwrap_or("");
    let bucket = event["bag"]["bucket"].as_str().unwrap_or("");
    let key = event["bag"]["key"].as_str().unwrap_or("");
    let run_id = event["run"].as_str();
    if bucket.is_empty() || key.is_empty() {
        return Answer::Fail(format!(
            "{step} step: the event names no bag ({{\"bag\": {{\"bucket\", \"key\"}}}}): {event}"
        ));
    }
    let Some(source) = source_of(bucket, key) else {
        return Answer::Fail(format!("{step} step: s3://{bucket}/{key} is not a bag"));
    };
    let ctx = match context(settings) {
        Ok(ctx) => ctx,
        Err(e) => return Answer::Retry(e),
    };
    let answer_of = |failure: bagpipe::failure::Failure| {
        tracing::error!(step, bag = %source.bag_file(), retryable = failure.retryable, error = %failure.message, "step failed");
        if failure.retryable {
            Answer::Retry(failure.message)
        } else {
            Answer::Fail(failure.message)
        }
    };
    let needs_run =
        || run_id.ok_or_else(|| Answer::Fail(format!("{step} step: the event names no run")));
    match step {
        "plan" => match pipeline::plan(&ctx, &source, settings.item_bytes) {
            Ok(run) => {
                let url = ctx
                    .lake
                    .url(&bagpipe::runs::items_path(&run.bag_file, &run.run_id));
                let (items_bucket, items_key) = match bagpipe::s3::S3Url::parse(&url) {
                    Some(Ok(u)) => (u.bucket, u.key),
                    _ => (String::new(), url),
                };
                Answer::Done(json!({
                    "mode": "fanout",
                    "run": run.run_id,
                    "work_items": run.items.len(),
                    "items_bucket": items_bucket,
                    "items_key": items_key,
                }))
            }
            Err(f) => answer_of(f),
        },
        "work" => {
            let run = match needs_run() {
                Ok(r) => r,
                Err(a) => return a,
            };
            let Some(k) = event["item"]["item"].as_u64() else {
                return Answer::Fail(format!(
                    "work step: the event names no item ({{\"item\": {{\"item\": K}}}}): {event}"
                ));
            };
            match pipeline::work(&ctx, &source, run, k as usize) {
                Ok(()) => Answer::Done(json!({"item": k})),
                Err(f) => answer_of(f),
            }
        }
        "finish" => {
            let run = match needs_run() {
                Ok(r) => r,
                Err(a) => return a,
            };
            let outcome = pipeline::finish(&ctx, &source, run);
            log_outcome(&outcome);
            match &outcome.error {
                None => Answer::Done(summary(&outcome)),
                Some(e) if outcome.retryable => Answer::Retry(e.clone()),
                // Finish already marked the bag failed.
                Some(e) => Answer::Fail(e.clone()),
            }
        }
        "fail" => {
            let error = &event["error"];
            let cause = error["Cause"].as_str().unwrap_or("");
            // A Lambda error's cause is its error payload as JSON text.
            let message = serde_json::from_str::<Value>(cause)
                .ok()
                .and_then(|c| c["errorMessage"].as_str().map(str::to_string))
                .unwrap_or_else(|| cause.to_string());
            // Our own errors say it all; another (States.Timeout, a Lambda
            // error) is named.
            let message = match error["Error"].as_str() {
                Some("bagpipe.Failed" | "bagpipe.Retryable") => message,
                Some(name) => format!("{name}: {message}"),
                None => format!("the state machine failed: {message}"),
            };
            let outcome = pipeline::fail(&ctx, &source, run_id, &message);
            log_outcome(&outcome);
            Answer::Done(summary(&outcome))
        }
        other => Answer::Fail(format!(
            "unknown step {other:?} (plan, work, finish or fail)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_names_are_the_same_for_one_upload_and_fit_step_functions_rules() {
        let a = execution_name("drive_0001", "ingest", "drives/drive_0001.bag", "\"e1\"");
        assert_eq!(
            a,
            execution_name("drive_0001", "ingest", "drives/drive_0001.bag", "\"e1\"")
        );
        // Another ETag (the key uploaded again) is another run.
        assert_ne!(
            a,
            execution_name("drive_0001", "ingest", "drives/drive_0001.bag", "\"e2\"")
        );
        let long = "a bag with spaces, dots. and ünïcode".repeat(4);
        let name = execution_name(&long, "b", "k", "e");
        assert!(name.len() <= 80, "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{name}"
        );
    }
}
