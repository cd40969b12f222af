//! `bagpipe inspect`: what a bag holds, like `rosbag info`, and with
//! `--scan` the floor of extraction speed: reading and decompressing every
//! chunk with no decoding.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use extractor::bag::{self, BagLayout, IndexMode};
use extractor::source::ReadAt;
use rayon::prelude::*;

/// Formats nanoseconds since the epoch as UTC with milliseconds.
pub fn format_time(ns: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns));
    let format = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3] UTC"
    );
    match t {
        Ok(t) => t.format(&format).unwrap_or_else(|_| ns.to_string()),
        Err(_) => ns.to_string(),
    }
}

/// Human-readable byte count.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// The `rosbag info`-like summary of a bag's layout.
pub fn describe(name: &str, layout: &BagLayout) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "path:        {name}");
    let _ = writeln!(out, "version:     2.0");
    let _ = writeln!(out, "size:        {}", format_bytes(layout.file_len));
    let index = match &layout.mode {
        IndexMode::Indexed => "indexed".to_string(),
        IndexMode::Scanned { reason } => format!("recovered by scanning ({reason})"),
    };
    let _ = writeln!(out, "index:       {index}");
    let start = layout.chunks.iter().filter_map(|c| c.start_time_ns).min();
    let end = layout.chunks.iter().filter_map(|c| c.end_time_ns).max();
    if let (Some(s), Some(e)) = (start, end) {
        let _ = writeln!(out, "start:       {} ({s})", format_time(s));
        let _ = writeln!(out, "end:         {} ({e})", format_time(e));
        let _ = writeln!(
            out,
            "duration:    {:.3} s",
            (e.saturating_sub(s)) as f64 / 1e9
        );
    }
    let mut by_compression: BTreeMap<String, usize> = BTreeMap::new();
    for c in &layout.chunks {
        *by_compression.entry(c.compression.to_string()).or_default() += 1;
    }
    let compression: Vec<String> = by_compression
        .iter()
        .map(|(k, n)| format!("{k} [{n}/{} chunks]", layout.chunks.len()))
        .collect();
    let uncompressed: u64 = layout.chunks.iter().map(|c| c.uncompressed_len).sum();
    let _ = writeln!(
        out,
        "chunks:      {} ({} uncompressed)",
        layout.chunks.len(),
        format_bytes(uncompressed)
    );
    if !compression.is_empty() {
        let _ = writeln!(out, "compression: {}", compression.join(", "));
    }
    let total: u64 = layout.message_counts.values().sum();
    let _ = writeln!(out, "messages:    {total}");
    let mut topics: BTreeMap<&str, (u64, Vec<&str>, usize)> = BTreeMap::new();
    for c in &layout.connections {
        let e = topics.entry(&c.topic).or_default();
        e.0 += layout.message_counts.get(&c.id).copied().unwrap_or(0);
        if !e.1.contains(&c.datatype.as_str()) {
            e.1.push(&c.datatype);
        }
        e.2 += 1;
    }
    let width = topics.keys().map(|t| t.len()).max().unwrap_or(0);
    let _ = writeln!(out, "topics:");
    for (topic, (count, types, conns)) in &topics {
        let conns = if *conns > 1 {
            format!("  ({conns} connections)")
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  {topic:width$}  {count:>9} msgs  {}{conns}",
            types.join(", ")
        );
    }
    for w in &layout.warnings {
        let _ = writeln!(out, "warning:     {}", w.message);
    }
    out
}

/// What a floor scan measured.
#[derive(Debug, Clone)]
pub struct ScanReport {
    pub chunks: usize,
    pub failed_chunks: usize,
    pub messages: u64,
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    pub seconds: f64,
}

/// Reads and decompresses every chunk in parallel, decoding nothing.
pub fn scan(src: &dyn ReadAt, layout: &BagLayout) -> ScanReport {
    let started = Instant::now();
    let results: Vec<_> = layout
        .chunks
        .par_iter()
        .map(|c| {
            bag::read_chunk(src, c).map(|contents| (contents.messages.len(), contents.data.len()))
        })
        .collect();
    let mut report = ScanReport {
        chunks: layout.chunks.len(),
        failed_chunks: 0,
        messages: 0,
        compressed_bytes: layout.chunks.iter().map(|c| c.compressed_len).sum(),
        uncompressed_bytes: 0,
        seconds: 0.0,
    };
    for r in results {
        match r {
            Ok((messages, bytes)) => {
                report.messages += messages as u64;
                report.uncompressed_bytes += bytes as u64;
            }
            Err(_) => report.failed_chunks += 1,
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}
