//! Per bag and stage figures as CloudWatch embedded-metric-format (EMF)
//! lines: one JSON object per line on stdout, which CloudWatch Logs turns
//! into metrics (namespace `bagpipe`, dimension `stage`) while keeping the
//! bag's name and the rest as searchable log fields.

use bagpipe::pipeline::BagOutcome;
use serde_json::{Value, json};

/// The metric namespace.
pub const NAMESPACE: &str = "bagpipe";

/// The EMF lines of one bag: one per stage that ran, and one for the
/// whole bag (stage `bag`, with its status and warnings).
pub fn emf_lines(outcome: &BagOutcome, peak_memory_bytes: u64, timestamp_ms: u64) -> Vec<Value> {
    let peak_mib = peak_memory_bytes as f64 / (1024.0 * 1024.0);
    let mut lines = Vec::new();
    for s in &outcome.stages {
        let mbps = if s.seconds > 0.0 {
            s.bytes as f64 / 1e6 / s.seconds
        } else {
            0.0
        };
        lines.push(line(
            timestamp_ms,
            json!({
                "stage": s.stage,
                "bag_file": outcome.bag_file,
                "source_url": outcome.source,
                "Messages": if s.stage == "extract" { s.count } else { 0 },
                "Count": s.count,
                "Bytes": s.bytes,
                "Seconds": s.seconds,
                "MBps": mbps,
                "PeakMemoryMiB": peak_mib,
                "Warnings": outcome.warnings.len(),
            }),
        ));
    }
    let seconds = outcome.elapsed.as_secs_f64();
    lines.push(line(
        timestamp_ms,
        json!({
            "stage": "bag",
            "bag_file": outcome.bag_file,
            "source_url": outcome.source,
            "status": outcome.status.as_str(),
            "error": outcome.error,
            "retryable": outcome.retryable,
            "Messages": outcome.message_count,
            "Count": outcome.message_count,
            "Bytes": outcome.bytes,
            "Seconds": seconds,
            "MBps": if seconds > 0.0 { outcome.bytes as f64 / 1e6 / seconds } else { 0.0 },
            "PeakMemoryMiB": peak_mib,
            "Warnings": outcome.warnings.len(),
            "Failed": u8::from(outcome.error.is_some()),
        }),
    ));
    lines
}

/// Wraps `fields` with the `_aws` metadata that declares which of them
/// are metrics.
fn line(timestamp_ms: u64, mut fields: Value) -> Value {
    let metric = |name: &str, unit: &str| json!({ "Name": name, "Unit": unit });
    fields["_aws"] = json!({
        "Timestamp": timestamp_ms,
        "CloudWatchMetrics": [{
            "Namespace": NAMESPACE,
            "Dimensions": [["stage"]],
            "Metrics": [
                metric("Messages", "Count"),
                metric("Bytes", "Bytes"),
                metric("Seconds", "Seconds"),
                metric("MBps", "Megabytes/Second"),
                metric("PeakMemoryMiB", "Megabytes"),
                metric("Warnings", "Count"),
            ],
        }],
    });
    fields
}

/// The peak resident memory of this process (`VmHWM`), in bytes; 0 where
/// `/proc` does not tell.
pub fn peak_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bagpipe::catalog::Status;
    use bagpipe::pipeline::StageReport;
    use std::time::Duration;

    fn outcome() -> BagOutcome {
        BagOutcome {
            bag_file: "run_1".into(),
            source: "s3://ingest/run_1.bag".into(),
            status: Status::Done,
            message_count: 1000,
            topics: 3,
            tables_written: 3,
            rows_written: 1000,
            ticks: 20,
            scenes: 1,
            warnings: vec!["w".into()],
            error: None,
            retryable: false,
            bytes: 4_000_000,
            elapsed: Duration::from_secs(2),
            stages: vec![StageReport {
                stage: "extract",
                seconds: 0.5,
                count: 1000,
                bytes: 4_000_000,
            }],
        }
    }

    #[test]
    fn every_declared_metric_is_a_number_on_the_line() {
        let lines = emf_lines(&outcome(), 64 << 20, 1_700_000_000_000);
        assert_eq!(lines.len(), 2, "one stage line and one bag line");
        for l in &lines {
            let decl = &l["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(decl["Namespace"], NAMESPACE);
            assert_eq!(l["_aws"]["Timestamp"], 1_700_000_000_000u64);
            for dim in decl["Dimensions"][0].as_array().unwrap() {
                assert!(
                    l[dim.as_str().unwrap()].is_string(),
                    "dimension {dim} missing"
                );
            }
            for m in decl["Metrics"].as_array().unwrap() {
                let name = m["Name"].as_str().unwrap();
                assert!(l[name].is_number(), "{name} is not a number in {l}");
            }
        }
        let extract = &lines[0];
        assert_eq!(extract["stage"], "extract");
        assert_eq!(extract["Messages"], 1000);
        assert_eq!(extract["MBps"], 8.0);
        assert_eq!(extract["PeakMemoryMiB"], 64.0);
        assert_eq!(lines[1]["status"], "DONE");
        assert_eq!(lines[1]["Warnings"], 1);
    }

    #[test]
    fn peak_memory_is_read_from_proc() {
        assert!(peak_memory_bytes() > 1 << 20);
    }
}
