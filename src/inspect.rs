//! `bagpipe inspect`: what a bag holds, like `rosbag info`, and with
//! `--scan` the floor of extraction speed: reading and decompressing every
//! chunk with no decoding.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use extractor::container::{Bag, BagLayout, ENCODING_CDR, ENCODING_ROS1, Format, IndexMode};
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

/// The `rosbag info`-like summary of a bag's layout, whatever its format.
pub fn describe(name: &str, layout: &BagLayout) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "path:        {name}");
    let format = match layout.format {
        Format::Ros1 => "ROS1 bag v2.0".to_string(),
        Format::Mcap => format!(
            "MCAP (profile {:?}, library {:?})",
            layout.profile.as_deref().unwrap_or(""),
            layout.library.as_deref().unwrap_or("")
        ),
        Format::Sqlite3 => "rosbag2 sqlite3".to_string(),
    };
    let _ = writeln!(out, "format:      {format}");
    if let Some(d) = &layout.ros_distro {
        let _ = writeln!(out, "ros_distro:  {d}");
    }
    let _ = writeln!(out, "size:        {}", format_bytes(layout.size_bytes()));
    if layout.files.len() > 1 {
        let _ = writeln!(out, "storage:     {} files", layout.files.len());
        for f in &layout.files {
            let _ = writeln!(out, "  {}  {}", f.name, format_bytes(f.size_bytes));
        }
    }
    let index = match (&layout.mode, layout.format) {
        (IndexMode::Indexed, Format::Ros1) => "indexed".to_string(),
        (IndexMode::Indexed, Format::Mcap) => "indexed (summary)".to_string(),
        (IndexMode::Indexed, Format::Sqlite3) => "database".to_string(),
        (IndexMode::Scanned { reason }, _) => format!("recovered by scanning ({reason})"),
    };
    let _ = writeln!(out, "index:       {index}");
    let start = layout.units.iter().filter_map(|c| c.start_time_ns).min();
    let end = layout.units.iter().filter_map(|c| c.end_time_ns).max();
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
    for c in &layout.units {
        *by_compression.entry(c.compression.to_string()).or_default() += 1;
    }
    let unit_name = match layout.format {
        Format::Sqlite3 => "row ranges",
        _ => "chunks",
    };
    let compression: Vec<String> = by_compression
        .iter()
        .map(|(k, n)| format!("{k} [{n}/{} {unit_name}]", layout.units.len()))
        .collect();
    let uncompressed: u64 = layout.units.iter().map(|c| c.size).sum();
    let _ = writeln!(
        out,
        "{:13}{} ({} uncompressed)",
        format!("{unit_name}:"),
        layout.units.len(),
        format_bytes(uncompressed)
    );
    if !compression.is_empty() && layout.format != Format::Sqlite3 {
        let _ = writeln!(out, "compression: {}", compression.join(", "));
    }
    let total: u64 = layout.message_counts.values().sum();
    let _ = writeln!(out, "messages:    {total}");
    let mut topics: BTreeMap<&str, (u64, Vec<String>, usize)> = BTreeMap::new();
    for c in &layout.connections {
        let e = topics.entry(&c.topic).or_default();
        e.0 += layout.message_counts.get(&c.id).copied().unwrap_or(0);
        let ty = match c.encoding.as_str() {
            ENCODING_ROS1 | ENCODING_CDR => c.datatype.clone(),
            other => format!("{} [{other}]", c.datatype),
        };
        if !e.1.contains(&ty) {
            e.1.push(ty);
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

/// Reads and decompresses every unit in parallel, decoding nothing.
pub fn scan(bag: &Bag) -> ScanReport {
    let layout = &bag.layout;
    let started = Instant::now();
    bag.prefetch(&layout.units);
    let results: Vec<_> = layout
        .units
        .par_iter()
        .map(|c| {
            bag.read_unit(c)
                .map(|contents| (contents.messages.len(), contents.data.len()))
        })
        .collect();
    let mut report = ScanReport {
        chunks: layout.units.len(),
        failed_chunks: 0,
        messages: 0,
        compressed_bytes: layout.units.iter().map(|c| c.read_len).sum(),
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
