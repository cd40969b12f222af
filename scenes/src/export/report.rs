//! The bag report: one self-contained HTML page per bag (inline SVG and
//! `data:` images, no script, no network), and the index of every bag's
//! report. Pure rendering: [`BagReport`] holds everything the page shows.
//!
//! A report has, in order: a header (the bag's identity, times in UTC and
//! ns, size, messages, a status badge, the error of a failed bag); its
//! warnings; a timeline SVG (one row per topic with its span and its gaps,
//! one row of scenes, each a `scene-bar` linked to its card); the topic
//! table (one `topic-row` per topic); the GPS track in local metres with
//! the scenes drawn over it, when the bag has one; and one `scene-card`
//! per scene with its times, counts, links and the camera frame at its
//! start (a `data:` image; without one, a blank image plane) with the
//! tick's lanes and boxes drawn on it. The GPS track is decimated to at
//! most `MAX_TRACK_POINTS` (2000) points; the caller caps the gaps per topic.
//!
//! The classes `scene-bar`, `scene-card` and `topic-row` are used for
//! exactly those elements and nothing else (`tests/python/check_report.py`
//! counts them). Every string from the data is escaped; the only links
//! are in-page `#fragment`s and the relative links given in the data (a
//! link that names a scheme is shown as text). Times are formatted here
//! (UTC, RFC 3339 with milliseconds), without a date crate.

use std::fmt::Write as _;

use base64::Engine as _;

use crate::detect::{PlacedBox, Tick};

/// Everything a bag's report shows.
#[derive(Debug, Clone, Default)]
pub struct BagReport {
    pub bag_file: String,
    pub source_url: String,
    /// `ros1`, `mcap` or `sqlite3`, when the bag was opened.
    pub format: Option<String>,
    pub size_bytes: u64,
    pub start_time_ns: Option<i64>,
    pub end_time_ns: Option<i64>,
    pub message_count: u64,
    /// The catalogue status the bag ends with (`DONE`, `FAILED`).
    pub status: String,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    /// Every topic of the bag, in the catalogue's order.
    pub topics: Vec<TopicStats>,
    /// Tick spacing of the synchronized table, ms.
    pub interval_ms: u64,
    /// The scenes, in time order.
    pub scenes: Vec<SceneCard>,
    /// The GPS track, when the bag has a `NavSatFix` topic with fixes.
    pub gps: Option<GpsTrack>,
    /// The camera topic the scene frames come from, if the bag has one.
    pub camera_topic: Option<String>,
    /// What wrote it, e.g. `bagpipe 0.1.0`.
    pub generator: String,
}

/// One topic's row in the timeline and the topic table.
#[derive(Debug, Clone, Default)]
pub struct TopicStats {
    pub topic: String,
    pub datatype: String,
    pub message_count: u64,
    /// The topic table, when extracted.
    pub table: Option<String>,
    /// First and last log time, when its messages were extracted.
    pub first_ns: Option<i64>,
    pub last_ns: Option<i64>,
    /// The longest time between two consecutive messages.
    pub largest_gap_ns: Option<i64>,
    /// Intervals `[from, to)` between consecutive messages longer than
    /// the topic's gap threshold, longest first, at most a few hundred.
    pub gaps: Vec<(i64, i64)>,
    /// The share of synchronized ticks (0 to 1) where the topic is null;
    /// `None` when it is not in the synchronized table.
    pub null_share: Option<f64>,
}

/// One scene's card (and its bar in the timeline).
#[derive(Debug, Clone, Default)]
pub struct SceneCard {
    pub scene_id: String,
    pub start_time_ns: i64,
    pub end_time_ns: i64,
    pub num_people_in_scene_start: i64,
    pub max_people_in_lane: i64,
    /// Links relative to the report's own location
    /// (`../exports/<bag>/<scene_id>.mcap`), when written.
    pub clip: Option<String>,
    pub label: Option<String>,
    pub scenario: Option<String>,
    /// The camera frame at the scene's start, when there is one.
    pub frame: Option<Frame>,
    /// Why there is no frame (no camera topic, an encoding not drawn).
    pub frame_note: Option<String>,
    /// The lanes and every box at the start tick.
    pub tick: Option<Tick>,
}

/// An encoded camera image. Box and lane coordinates are in the pixels of
/// the original image (`width` x `height`); `data` may be smaller, and is
/// drawn stretched to those dimensions.
#[derive(Debug, Clone)]
pub struct Frame {
    /// `image/jpeg` or `image/png`.
    pub mime: &'static str,
    pub data: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// The log time of the camera message.
    pub time_ns: i64,
}

/// GPS fixes in time order.
#[derive(Debug, Clone, Default)]
pub struct GpsTrack {
    pub topic: String,
    /// `(log_time_ns, latitude, longitude)`.
    pub fixes: Vec<(i64, f64, f64)>,
}

/// One bag's row in the index of reports.
#[derive(Debug, Clone, Default)]
pub struct IndexRow {
    pub bag_file: String,
    pub status: String,
    pub start_time_ns: Option<i64>,
    pub end_time_ns: Option<i64>,
    pub message_count: u64,
    pub size_bytes: u64,
    pub warnings: usize,
    /// Link to its report, relative to the index (`<bag>.html`), when one
    /// was written.
    pub report: Option<String>,
}

/// At most this many points of the GPS track are drawn.
const MAX_TRACK_POINTS: usize = 2000;

/// The page's style: plain, readable without script.
const STYLE: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:16px 24px;color:#1d1d1d;background:#fff}
h1{font-size:21px;margin:0 0 6px;word-break:break-all}
h2{font-size:17px;margin:26px 0 8px;padding-bottom:3px;border-bottom:1px solid #ccc}
h3{font-size:15px;margin:0 0 6px;word-break:break-all}
table{border-collapse:collapse}
.wide{max-width:100%;overflow-x:auto}
th,td{padding:3px 9px;border-bottom:1px solid #e3e3e3;text-align:left;vertical-align:top}
thead th{background:#f3f3f3;border-bottom:1px solid #bbb}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.meta th{font-weight:500;color:#555;white-space:nowrap}
table.meta td{word-break:break-all}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.muted{color:#777}
.badge{display:inline-block;padding:1px 9px;border-radius:10px;color:#fff;font-weight:600;font-size:12.5px}
.st-done{background:#2e7d32}.st-failed{background:#c62828}.st-other{background:#8d6e00}
.error{border:2px solid #c62828;background:#fdecea;padding:8px 12px;margin:10px 0;white-space:pre-wrap;word-break:break-word}
.note{border-left:4px solid #9e9e9e;background:#f5f5f5;padding:6px 10px;margin:8px 0}
ul.warnings{margin:4px 0;padding-left:22px}
ul.warnings li{white-space:pre-wrap;word-break:break-word;color:#8a4b00}
svg{display:block}
svg text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}
.legend{font-size:12.5px;color:#444;margin:4px 0}
.sw{display:inline-block;width:14px;height:10px;vertical-align:middle;margin:0 4px 0 10px;border:1px solid #0003}
.tl .lbl{font-size:11px;fill:#222}
.tl .axis{font-size:10.5px;fill:#555}
.tl .grid{stroke:#e6e6e6;stroke-width:1}
.tl .span{fill:#90caf9}
.tl .gap{fill:#e53935}
.tl .none{font-size:11px;fill:#888;font-style:italic}
.tl .scene-bar{fill:#7b1fa2}
.tl a:hover .scene-bar{fill:#e65100}
.gps .track{fill:none;stroke:#546e7a;stroke-width:2;stroke-linejoin:round}
.gps .gps-scene{fill:none;stroke:#e65100;stroke-width:5;stroke-linecap:round;stroke-linejoin:round;opacity:.85}
.gps .gps-scene-pt{fill:#e65100}
.gps .scale{stroke:#222;stroke-width:2}
.gps text{font-size:12px;fill:#222}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:14px}
.scene-card{border:1px solid #c8c8c8;border-radius:6px;padding:10px 12px;content-visibility:auto;contain-intrinsic-size:auto 620px}
.scene-card:target{outline:3px solid #1565c0}
.scene-card table{margin-bottom:6px}
.scene-card figure{margin:6px 0 0}
.links a{margin-right:14px}
svg.frame{width:100%;max-width:100%;height:auto;background:#cfcfcf}
.frame .plane{fill:#d6d6d6}
.frame .planenote{fill:#555}
.frame .lane{fill:none;stroke:#00e676;stroke-width:2.5px;vector-effect:non-scaling-stroke;stroke-linejoin:round}
.frame rect{fill:none;vector-effect:non-scaling-stroke}
.frame .b-person{stroke:#ff1744;stroke-width:3.5px}
.frame .b-in{stroke:#ff9100;stroke-width:2.5px}
.frame .b-out{stroke:#2979ff;stroke-width:1.2px}
.frame text{paint-order:stroke;stroke:#000;stroke-opacity:.75}
.frame .t-person{fill:#ff8a80}.frame .t-in{fill:#ffd180}.frame .t-out{fill:#bbdefb}
.sw-person{background:#ff1744}.sw-in{background:#ff9100}.sw-out{background:#2979ff}.sw-lane{background:#00e676}
.sw-span{background:#90caf9}.sw-gap{background:#e53935}.sw-scene{background:#7b1fa2}
.sw-track{background:#546e7a}.sw-gps-scene{background:#e65100}
footer{margin-top:30px;color:#777;font-size:12px}
";

/// The HTML of a bag's report.
pub fn render(report: &BagReport) -> String {
    let base = TimeBase::of(report);
    let mut h = String::with_capacity(
        64 * 1024
            + report
                .scenes
                .iter()
                .map(|s| s.frame.as_ref().map_or(0, |f| f.data.len() * 4 / 3 + 16))
                .sum::<usize>(),
    );
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} — bag report</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        esc(&report.bag_file)
    );
    header(&mut h, report, &base);
    warnings(&mut h, report);
    timeline(&mut h, report, &base);
    topic_table(&mut h, report);
    gps_section(&mut h, report);
    scene_cards(&mut h, report, &base);
    let _ = write!(
        h,
        "<footer>Written by {}. Self-contained: no script, no network.</footer>\n</body>\n</html>\n",
        esc_or(&report.generator, "bagpipe")
    );
    h
}

/// The HTML of the index of reports, one row per bag.
pub fn render_index(rows: &[IndexRow]) -> String {
    let mut h = String::with_capacity(4096 + rows.len() * 512);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Bag reports</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<h1>Bag reports</h1>\n"
    );
    let failed = rows
        .iter()
        .filter(|r| r.status.eq_ignore_ascii_case("FAILED"))
        .count();
    let messages: u64 = rows.iter().map(|r| r.message_count).sum();
    let bytes: u64 = rows.iter().map(|r| r.size_bytes).sum();
    let _ = writeln!(
        h,
        "<p>{} bag{}, {} failed; {} messages, {}.</p>",
        rows.len(),
        plural(rows.len()),
        failed,
        group(messages),
        human_bytes(bytes)
    );
    if rows.is_empty() {
        h.push_str("<p class=\"note\">No bags.</p>\n");
    } else {
        h.push_str(
            "<table>\n<thead><tr><th>bag</th><th>status</th><th>start (UTC)</th>\
             <th class=\"n\">duration</th><th class=\"n\">messages</th><th class=\"n\">size</th>\
             <th class=\"n\">warnings</th><th>report</th></tr></thead>\n<tbody>\n",
        );
        for r in rows {
            let name = match r.report.as_deref().filter(|l| is_safe_link(l)) {
                Some(link) => format!("<a href=\"{}\">{}</a>", esc(link), esc(&r.bag_file)),
                None => esc(&r.bag_file),
            };
            let report = match r.report.as_deref() {
                Some(link) if is_safe_link(link) => {
                    format!("<a href=\"{}\">report</a>", esc(link))
                }
                Some(link) => format!("<span class=\"mono\">{}</span>", esc(link)),
                None => "<span class=\"muted\">none</span>".to_string(),
            };
            let _ = writeln!(
                h,
                "<tr><td class=\"mono\">{name}</td><td>{}</td><td class=\"mono\">{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td>{report}</td></tr>",
                badge(&r.status),
                r.start_time_ns.map_or_else(|| "unknown".to_string(), utc),
                match (r.start_time_ns, r.end_time_ns) {
                    (Some(a), Some(b)) => duration(b.saturating_sub(a)),
                    _ => "—".to_string(),
                },
                group(r.message_count),
                human_bytes(r.size_bytes),
                r.warnings,
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    h.push_str("<footer>Self-contained: no script, no network.</footer>\n</body>\n</html>\n");
    h
}

// --------------------------------------------------------------------------
// Sections
// --------------------------------------------------------------------------

/// The time axis of the page: the bag's start and end, or else the extent
/// of what it shows.
#[derive(Debug, Clone, Copy)]
struct TimeBase {
    start: Option<i64>,
    end: Option<i64>,
}

impl TimeBase {
    fn of(r: &BagReport) -> TimeBase {
        let mut times: Vec<i64> = Vec::new();
        for t in &r.topics {
            times.extend(t.first_ns);
            times.extend(t.last_ns);
        }
        for s in &r.scenes {
            times.push(s.start_time_ns);
            times.push(s.end_time_ns);
        }
        let start = r.start_time_ns.or_else(|| times.iter().copied().min());
        let end = r.end_time_ns.or_else(|| times.iter().copied().max());
        TimeBase { start, end }
    }

    /// Seconds from the bag's start.
    fn offset(&self, t: i64) -> Option<f64> {
        self.start.map(|s| (t as f64 - s as f64) / 1e9)
    }
}

fn header(h: &mut String, r: &BagReport, base: &TimeBase) {
    let _ = write!(
        h,
        "<header>\n<h1>{}</h1>\n<p>{} &nbsp; {} scene{} &nbsp; <span class=\"muted\">report by {}</span></p>\n",
        esc_or(&r.bag_file, "(unnamed bag)"),
        badge(&r.status),
        r.scenes.len(),
        plural(r.scenes.len()),
        esc_or(&r.generator, "bagpipe")
    );
    if let Some(e) = &r.error {
        let _ = writeln!(
            h,
            "<div class=\"error\"><strong>The bag failed:</strong> {}</div>",
            esc(e)
        );
    } else if r.status.eq_ignore_ascii_case("FAILED") {
        h.push_str(
            "<div class=\"error\"><strong>The bag failed</strong> (no error recorded).</div>\n",
        );
    }
    h.push_str("<table class=\"meta\">\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(h, "<tr><th>{k}</th><td>{v}</td></tr>");
    };
    row(
        "source",
        format!(
            "<span class=\"mono\">{}</span>",
            esc_or(&r.source_url, "unknown")
        ),
    );
    row(
        "format",
        r.format
            .as_deref()
            .map_or_else(|| "unknown (the bag was not opened)".to_string(), esc),
    );
    row(
        "size",
        format!(
            "{} ({} bytes)",
            human_bytes(r.size_bytes),
            group(r.size_bytes)
        ),
    );
    let time = |t: Option<i64>, from_bag: bool| match t {
        Some(t) => format!(
            "{} <span class=\"muted\">({} ns{})</span>",
            utc(t),
            t,
            if from_bag { "" } else { ", from the topics" }
        ),
        None => "unknown".to_string(),
    };
    row("start (UTC)", time(base.start, r.start_time_ns.is_some()));
    row("end (UTC)", time(base.end, r.end_time_ns.is_some()));
    row(
        "duration",
        match (base.start, base.end) {
            (Some(a), Some(b)) => duration(b.saturating_sub(a)),
            _ => "unknown".to_string(),
        },
    );
    row("messages", group(r.message_count));
    row(
        "topics",
        format!(
            "{} ({} extracted)",
            r.topics.len(),
            r.topics.iter().filter(|t| t.table.is_some()).count()
        ),
    );
    row("status", badge(&r.status));
    row(
        "scenes",
        if r.interval_ms > 0 {
            format!(
                "{} <span class=\"muted\">(synchronized ticks every {} ms)</span>",
                r.scenes.len(),
                r.interval_ms
            )
        } else {
            r.scenes.len().to_string()
        },
    );
    row(
        "camera",
        r.camera_topic.as_deref().map_or_else(
            || "No camera topic: frames are not shown".to_string(),
            |c| format!("<span class=\"mono\">{}</span>", esc(c)),
        ),
    );
    row(
        "GPS",
        r.gps.as_ref().map_or_else(
            || "No GPS topic".to_string(),
            |g| {
                format!(
                    "<span class=\"mono\">{}</span> ({} fixes)",
                    esc(&g.topic),
                    group(g.fixes.len() as u64)
                )
            },
        ),
    );
    row("generator", esc_or(&r.generator, "unknown"));
    h.push_str("</table>\n</header>\n");
}

fn warnings(h: &mut String, r: &BagReport) {
    let _ = writeln!(
        h,
        "<h2 id=\"warnings\">Warnings ({})</h2>",
        r.warnings.len()
    );
    if r.warnings.is_empty() {
        h.push_str("<p>No warnings.</p>\n");
        return;
    }
    h.push_str("<ul class=\"warnings\">\n");
    for w in &r.warnings {
        let _ = writeln!(h, "<li>{}</li>", esc(w));
    }
    h.push_str("</ul>\n");
}

/// The timeline: one row per topic (its span, its gaps in red), one row
/// of scenes, x in seconds from the bag's start.
fn timeline(h: &mut String, r: &BagReport, base: &TimeBase) {
    h.push_str("<h2 id=\"timeline\">Timeline</h2>\n");
    let (Some(t0), Some(t1)) = (base.start, base.end) else {
        h.push_str("<p class=\"note\">No times are known for this bag: nothing to draw on a timeline.</p>\n");
        return;
    };
    let t1 = if t1 > t0 { t1 } else { t0 + 1_000_000_000 };
    const W: f64 = 1100.0;
    const LEFT: f64 = 270.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 22.0;
    const ROW: f64 = 18.0;
    let plot = W - LEFT - RIGHT;
    let span = (t1 - t0) as f64;
    let x = |t: i64| LEFT + ((t as f64 - t0 as f64) / span).clamp(0.0, 1.0) * plot;
    let rows = r.topics.len() + 1;
    let height = TOP + rows as f64 * ROW + 8.0;
    let _ = write!(
        h,
        "<p class=\"legend\">x: seconds from the bag's start ({}). \
         <span class=\"sw sw-span\"></span>first to last message \
         <span class=\"sw sw-gap\"></span>gap longer than the topic's threshold \
         <span class=\"sw sw-scene\"></span>scene (links to its card)</p>\n\
         <svg class=\"tl\" viewBox=\"0 0 {W} {height}\" width=\"100%\" role=\"img\" aria-label=\"timeline of topics and scenes\">\n",
        utc(t0)
    );
    // Axis: ticks at a round step, grid lines across every row.
    let secs = span / 1e9;
    let step = nice_step(secs / 8.0);
    let mut k = 0.0;
    while k <= secs + 1e-9 {
        let px = LEFT + k / secs * plot;
        let _ = writeln!(
            h,
            "<line class=\"grid\" x1=\"{px:.1}\" y1=\"{:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\"/>\
             <text class=\"axis\" x=\"{px:.1}\" y=\"14\" text-anchor=\"middle\">{} s</text>",
            TOP - 4.0,
            height - 6.0,
            trim_num(k)
        );
        k += step;
    }
    for (i, t) in r.topics.iter().enumerate() {
        let y = TOP + i as f64 * ROW;
        let _ = write!(
            h,
            "<text class=\"lbl\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\"><title>{}</title>{}</text>",
            LEFT - 8.0,
            y + 12.5,
            esc(&t.topic),
            esc(&shorten(&t.topic, 42))
        );
        match t.first_ns {
            None => {
                let _ = writeln!(
                    h,
                    "<text class=\"none\" x=\"{:.1}\" y=\"{:.1}\">not extracted ({} messages)</text>",
                    LEFT + 4.0,
                    y + 12.5,
                    group(t.message_count)
                );
            }
            Some(first) => {
                let last = t.last_ns.unwrap_or(first).max(first);
                let (a, b) = (x(first), x(last));
                let _ = write!(
                    h,
                    "<rect class=\"span\" x=\"{a:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"12\"><title>{}: {} messages, {} to {} s</title></rect>",
                    y + 3.0,
                    (b - a).max(1.0),
                    esc(&t.topic),
                    group(t.message_count),
                    secs_str(base.offset(first)),
                    secs_str(base.offset(last))
                );
                for &(from, to) in &t.gaps {
                    let (ga, gb) = (x(from), x(to.max(from)));
                    let _ = write!(
                        h,
                        "<rect class=\"gap\" x=\"{ga:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"12\"><title>gap of {:.3} s at {} s</title></rect>",
                        y + 3.0,
                        (gb - ga).max(1.0),
                        (to - from) as f64 / 1e9,
                        secs_str(base.offset(from))
                    );
                }
                h.push('\n');
            }
        }
    }
    let y = TOP + r.topics.len() as f64 * ROW;
    let _ = write!(
        h,
        "<text class=\"lbl\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-weight=\"600\">scenes ({})</text>",
        LEFT - 8.0,
        y + 12.5,
        r.scenes.len()
    );
    if r.scenes.is_empty() {
        let _ = write!(
            h,
            "<text class=\"none\" x=\"{:.1}\" y=\"{:.1}\">No scenes found</text>",
            LEFT + 4.0,
            y + 12.5
        );
    }
    for (i, s) in r.scenes.iter().enumerate() {
        let (a, b) = (x(s.start_time_ns), x(s.end_time_ns.max(s.start_time_ns)));
        let _ = write!(
            h,
            "<a href=\"#{}\"><rect class=\"scene-bar\" x=\"{a:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"14\"><title>{} — {} ms from {} s, max {} people in lane</title></rect></a>",
            card_id(i),
            y + 2.0,
            (b - a).max(2.0),
            esc(&s.scene_id),
            group_i((s.end_time_ns - s.start_time_ns) / 1_000_000),
            secs_str(base.offset(s.start_time_ns)),
            s.max_people_in_lane
        );
    }
    h.push_str("\n</svg>\n");
}

fn topic_table(h: &mut String, r: &BagReport) {
    let _ = writeln!(h, "<h2 id=\"topics\">Topics ({})</h2>", r.topics.len());
    if r.topics.is_empty() {
        h.push_str(
            "<p class=\"note\">No topics: the bag's topics are not known (it was not read).</p>\n",
        );
        return;
    }
    h.push_str(
        "<div class=\"wide\"><table>\n<thead><tr><th>topic</th><th>type</th><th class=\"n\">messages</th>\
         <th class=\"n\">rate (Hz)</th><th class=\"n\">largest gap (s)</th>\
         <th class=\"n\">null in sync table</th><th>table</th></tr></thead>\n<tbody>\n",
    );
    for t in &r.topics {
        let rate = match (t.first_ns, t.last_ns) {
            (Some(a), Some(b)) if b > a && t.message_count >= 2 => {
                format!(
                    "{:.2}",
                    (t.message_count - 1) as f64 / ((b - a) as f64 / 1e9)
                )
            }
            _ => "—".to_string(),
        };
        let gap = t
            .largest_gap_ns
            .map_or_else(|| "—".to_string(), |g| format!("{:.3}", g as f64 / 1e9));
        let null = t.null_share.map_or_else(
            || "<span class=\"muted\">not synchronized</span>".to_string(),
            |s| format!("{:.1} %", s * 100.0),
        );
        let table = t.table.as_deref().map_or_else(
            || "<span class=\"muted\">not extracted</span>".to_string(),
            |n| format!("<span class=\"mono\">{}</span>", esc_wrap(n)),
        );
        let _ = writeln!(
            h,
            "<tr class=\"topic-row\"><td class=\"mono\">{}</td><td class=\"mono\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{rate}</td><td class=\"n\">{gap}</td>\
             <td class=\"n\">{null}</td><td>{table}</td></tr>",
            esc_wrap(&t.topic),
            esc_wrap(&t.datatype),
            group(t.message_count)
        );
    }
    h.push_str("</tbody>\n</table></div>\n");
}

/// The GPS track in local metres about its first fix (equirectangular),
/// y up, the scenes drawn over it.
fn gps_section(h: &mut String, r: &BagReport) {
    h.push_str("<h2 id=\"gps\">GPS track</h2>\n");
    let Some(gps) = &r.gps else {
        h.push_str("<p class=\"note\">No GPS topic: no track is drawn.</p>\n");
        return;
    };
    let fixes: Vec<(i64, f64, f64)> = gps
        .fixes
        .iter()
        .copied()
        .filter(|&(_, lat, lon)| lat.is_finite() && lon.is_finite())
        .collect();
    if fixes.len() < 2 {
        let _ = writeln!(
            h,
            "<p class=\"note\">GPS topic <span class=\"mono\">{}</span> has {} usable fix{}: no track is drawn.</p>",
            esc(&gps.topic),
            fixes.len(),
            if fixes.len() == 1 { "" } else { "es" }
        );
        return;
    }
    let (_, lat0, lon0) = fixes[0];
    let coslat = lat0.to_radians().cos();
    let metres: Vec<(f64, f64)> = fixes
        .iter()
        .map(|&(_, lat, lon)| ((lon - lon0) * coslat * 111_320.0, (lat - lat0) * 110_540.0))
        .collect();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in &metres {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    // At least 20 m across, centred.
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let (sx, sy) = ((x1 - x0).max(20.0), (y1 - y0).max(20.0));
    let (x0, y0) = (cx - sx / 2.0, cy - sy / 2.0);
    // Fit in 900 x 520 px with a margin, aspect kept.
    const MAXW: f64 = 900.0;
    const MAXH: f64 = 420.0;
    const PAD: f64 = 24.0;
    let scale = ((MAXW - 2.0 * PAD) / sx).min((MAXH - 2.0 * PAD) / sy);
    let w = sx * scale + 2.0 * PAD;
    let hgt = sy * scale + 2.0 * PAD + 24.0; // room for the scale bar
    let px = |(x, y): (f64, f64)| (PAD + (x - x0) * scale, PAD + (sy - (y - y0)) * scale);
    let points = |idx: &[usize]| {
        let mut s = String::with_capacity(idx.len() * 14);
        for &i in idx {
            let (a, b) = px(metres[i]);
            let _ = write!(s, "{a:.1},{b:.1} ");
        }
        s.pop();
        s
    };
    let _ = write!(
        h,
        "<p class=\"legend\">Topic <span class=\"mono\">{}</span>, {} fixes ({} drawn), metres east/north of the first fix. \
         <span class=\"sw sw-track\"></span>track <span class=\"sw sw-gps-scene\"></span>scene</p>\n\
         <svg class=\"gps\" viewBox=\"0 0 {w:.0} {hgt:.0}\" width=\"{w:.0}\" style=\"max-width:100%;height:auto\" role=\"img\" aria-label=\"GPS track\">\n\
         <rect x=\"0\" y=\"0\" width=\"{w:.0}\" height=\"{hgt:.0}\" fill=\"#fafafa\" stroke=\"#ddd\"/>\n",
        esc(&gps.topic),
        group(fixes.len() as u64),
        decimate(0, fixes.len(), MAX_TRACK_POINTS).len()
    );
    let all = decimate(0, fixes.len(), MAX_TRACK_POINTS);
    let _ = writeln!(h, "<polyline class=\"track\" points=\"{}\"/>", points(&all));
    // The scenes: the fixes in [start, end) of each, drawn over.
    let per_scene = (MAX_TRACK_POINTS / r.scenes.len().max(1)).max(2);
    let label_scenes = r.scenes.len() <= 30;
    for (i, s) in r.scenes.iter().enumerate() {
        let from = fixes.partition_point(|f| f.0 < s.start_time_ns);
        let to = fixes.partition_point(|f| f.0 < s.end_time_ns);
        let title = format!("<title>scene {}: {}</title>", i + 1, esc(&s.scene_id));
        let anchor = if to - from >= 2 {
            let idx = decimate(from, to, per_scene);
            let _ = writeln!(
                h,
                "<polyline class=\"gps-scene\" points=\"{}\">{title}</polyline>",
                points(&idx)
            );
            Some(from)
        } else if s.start_time_ns >= fixes[0].0 && s.start_time_ns <= fixes[fixes.len() - 1].0 {
            // Too short for two fixes: a dot at the nearest one.
            let j = from.min(fixes.len() - 1);
            let j = if j > 0
                && (fixes[j].0 - s.start_time_ns).abs() > (s.start_time_ns - fixes[j - 1].0).abs()
            {
                j - 1
            } else {
                j
            };
            let (a, b) = px(metres[j]);
            let _ = writeln!(
                h,
                "<circle class=\"gps-scene-pt\" cx=\"{a:.1}\" cy=\"{b:.1}\" r=\"4\">{title}</circle>"
            );
            Some(j)
        } else {
            None
        };
        if let (true, Some(j)) = (label_scenes, anchor) {
            let (a, b) = px(metres[j]);
            let _ = writeln!(
                h,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#bf360c\">{}</text>",
                a + 6.0,
                b - 6.0,
                i + 1
            );
        }
    }
    // End, then start markers (a loop ends where it starts).
    let (a, b) = px(metres[metres.len() - 1]);
    let _ = writeln!(
        h,
        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"#c62828\" stroke=\"#fff\" stroke-width=\"2\"><title>end</title></rect>\
         <text x=\"{:.1}\" y=\"{:.1}\" font-weight=\"600\" fill=\"#c62828\">end</text>",
        a - 5.0,
        b - 5.0,
        a + 9.0,
        b + 16.0
    );
    let (a, b) = px(metres[0]);
    let _ = writeln!(
        h,
        "<circle cx=\"{a:.1}\" cy=\"{b:.1}\" r=\"6\" fill=\"#2e7d32\" stroke=\"#fff\" stroke-width=\"2\"><title>start</title></circle>\
         <text x=\"{:.1}\" y=\"{:.1}\" font-weight=\"600\" fill=\"#2e7d32\">start</text>",
        a + 9.0,
        b - 4.0
    );
    // Scale bar: a round length about a fifth of the width.
    let len = nice_step(sx / 5.0);
    let bar = len * scale;
    let yb = hgt - 14.0;
    let _ = writeln!(
        h,
        "<path class=\"scale\" d=\"M{PAD:.1} {:.1}V{yb:.1}H{:.1}V{:.1}\" fill=\"none\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
        yb - 5.0,
        PAD + bar,
        yb - 5.0,
        PAD + bar + 8.0,
        yb + 4.0,
        metres_str(len)
    );
    h.push_str("</svg>\n");
}

fn scene_cards(h: &mut String, r: &BagReport, base: &TimeBase) {
    let _ = writeln!(h, "<h2 id=\"scenes\">Scenes ({})</h2>", r.scenes.len());
    if r.camera_topic.is_none() {
        h.push_str("<p class=\"note\">No camera topic: frames are not shown (lanes and boxes are drawn on a blank image plane).</p>\n");
    }
    if r.scenes.is_empty() {
        h.push_str("<p class=\"note\">No scenes found.</p>\n");
        return;
    }
    h.push_str(
        "<p class=\"legend\">Each figure is the camera frame at the scene's start (or a blank image plane), with the tick's lanes and boxes: \
         <span class=\"sw sw-lane\"></span>lane <span class=\"sw sw-person\"></span>person in lane \
         <span class=\"sw sw-in\"></span>other object in lane <span class=\"sw sw-out\"></span>not in lane</p>\n\
         <div class=\"cards\">\n",
    );
    for (i, s) in r.scenes.iter().enumerate() {
        let _ = write!(
            h,
            "<section class=\"scene-card\" id=\"{}\">\n<h3>{}. <span class=\"mono\">{}</span></h3>\n<table class=\"meta\">\n",
            card_id(i),
            i + 1,
            esc_or(&s.scene_id, "(no id)")
        );
        let _ = writeln!(
            h,
            "<tr><th>start</th><td><span title=\"{} ns\">{}</span> <span class=\"muted\">(+{} s)</span></td></tr>",
            s.start_time_ns,
            utc(s.start_time_ns),
            secs_str(base.offset(s.start_time_ns))
        );
        let _ = writeln!(
            h,
            "<tr><th>end</th><td>{} <span class=\"muted\">(+{} s)</span></td></tr>",
            utc(s.end_time_ns),
            secs_str(base.offset(s.end_time_ns))
        );
        let _ = writeln!(
            h,
            "<tr><th>length</th><td>{} ms</td></tr>\n<tr><th>people</th><td>{} in lane at the start, at most {}</td></tr>",
            group_i((s.end_time_ns - s.start_time_ns) / 1_000_000),
            s.num_people_in_scene_start,
            s.max_people_in_lane
        );
        h.push_str("</table>\n<p class=\"links\">");
        let mut any = false;
        for (link, text) in [
            (&s.clip, "MCAP clip"),
            (&s.label, "OpenLABEL"),
            (&s.scenario, "OpenSCENARIO"),
        ] {
            if let Some(l) = link {
                any = true;
                if is_safe_link(l) {
                    let _ = write!(h, "<a href=\"{}\">{text}</a>", esc(l));
                } else {
                    let _ = write!(h, "{text}: <span class=\"mono\">{}</span> ", esc(l));
                }
            }
        }
        if !any {
            h.push_str("<span class=\"muted\">No exports written for this scene.</span>");
        }
        h.push_str(" <a href=\"#timeline\">↑ timeline</a></p>\n");
        frame_figure(h, s);
        h.push_str("</section>\n");
    }
    h.push_str("</div>\n");
}

/// The frame at a scene's start (or a blank image plane) with the tick's
/// lanes and boxes.
fn frame_figure(h: &mut String, s: &SceneCard) {
    let finite = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let boxes: Vec<&PlacedBox> = s
        .tick
        .iter()
        .flat_map(|t| &t.boxes)
        .filter(|b| {
            let d = &b.detected;
            d.x.is_finite() && d.y.is_finite() && d.width.is_finite() && d.height.is_finite()
        })
        .collect();
    let (w, hgt) = match &s.frame {
        Some(f) if f.width > 0 && f.height > 0 => (f64::from(f.width), f64::from(f.height)),
        _ => {
            // The image plane: what the tick draws, from the origin.
            let (mut w, mut hh) = (640.0_f64, 360.0_f64);
            for lane in s.tick.iter().flat_map(|t| &t.lanes) {
                for p in lane.iter().filter(|p| finite(p)) {
                    w = w.max(p.0);
                    hh = hh.max(p.1);
                }
            }
            for b in &boxes {
                let d = &b.detected;
                w = w.max(d.x + d.width.abs() / 2.0);
                hh = hh.max(d.y + d.height.abs() / 2.0);
            }
            (w.ceil(), hh.ceil())
        }
    };
    let unit = w.max(hgt) / 640.0;
    let font = 12.0 * unit;
    let _ = write!(
        h,
        "<figure>\n<svg class=\"frame\" viewBox=\"0 0 {w} {hgt}\" width=\"{w}\" height=\"{hgt}\" preserveAspectRatio=\"xMidYMid meet\" role=\"img\" aria-label=\"frame at the scene's start\">\n"
    );
    let caption = match &s.frame {
        Some(f) => {
            let data = base64::engine::general_purpose::STANDARD.encode(&f.data);
            let _ = writeln!(
                h,
                "<image href=\"data:{};base64,{data}\" x=\"0\" y=\"0\" width=\"{w}\" height=\"{hgt}\" preserveAspectRatio=\"none\"/>",
                esc(f.mime)
            );
            format!(
                "Camera frame at {} ({}x{} px, {}).",
                utc(f.time_ns),
                f.width,
                f.height,
                human_bytes(f.data.len() as u64)
            )
        }
        None => {
            let note = s.frame_note.as_deref().unwrap_or("No camera frame");
            let _ = writeln!(
                h,
                "<rect class=\"plane\" x=\"0\" y=\"0\" width=\"{w}\" height=\"{hgt}\" style=\"fill:#d6d6d6;stroke:none\"/>\
                 <text class=\"planenote\" x=\"{:.1}\" y=\"{:.1}\" font-size=\"{:.1}\" text-anchor=\"middle\" style=\"stroke:none\">{}</text>",
                w / 2.0,
                font * 2.2,
                font * 1.4,
                esc(note)
            );
            format!("{} (a blank image plane, {w}x{hgt}).", esc(note))
        }
    };
    match &s.tick {
        None => {}
        Some(t) => {
            for lane in &t.lanes {
                let pts: Vec<&(f64, f64)> = lane.iter().filter(|p| finite(p)).collect();
                if pts.is_empty() {
                    continue;
                }
                let mut p = String::with_capacity(pts.len() * 14);
                for (x, y) in pts {
                    let _ = write!(p, "{x:.1},{y:.1} ");
                }
                p.pop();
                let _ = writeln!(h, "<polyline class=\"lane\" points=\"{p}\"/>");
            }
            let _ = write!(
                h,
                "<g font-size=\"{font:.1}\" stroke-width=\"{:.2}\">",
                font * 0.25
            );
            let mut labels = String::new();
            for b in &boxes {
                let d = &b.detected;
                let (bw, bh) = (d.width.abs(), d.height.abs());
                let (x, y) = (d.x - bw / 2.0, d.y - bh / 2.0);
                let kind = match (b.in_lane(), b.person) {
                    (true, true) => "person",
                    (true, false) => "in",
                    _ => "out",
                };
                let score = d.score.map_or_else(String::new, |s| format!(" {s:.2}"));
                let lane = if b.in_lane() { " · in lane" } else { "" };
                let _ = write!(
                    h,
                    "<rect class=\"b-{kind}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\"><title>{}{score}{lane}{}</title></rect>",
                    esc(&d.class),
                    if b.lanes.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", esc(&b.lanes.join(", ")))
                    }
                );
                // The label above the box, inside the image.
                let ly = if y - font * 0.3 > font {
                    y - font * 0.3
                } else {
                    y + bh + font
                };
                let _ = write!(
                    labels,
                    "<text class=\"t-{kind}\" x=\"{:.1}\" y=\"{ly:.1}\">{}{score}{}</text>",
                    x.max(0.0),
                    esc(&d.class),
                    if b.in_lane() { " ▲" } else { "" }
                );
            }
            h.push_str(&labels);
            h.push_str("</g>\n");
        }
    }
    h.push_str("</svg>\n<figcaption class=\"legend\">");
    h.push_str(&caption);
    match &s.tick {
        None => h.push_str(
            " <strong>No tick:</strong> detections or lanes are missing at this tick, so no lanes or boxes are drawn.",
        ),
        Some(t) => {
            let in_lane = t.boxes.iter().filter(|b| b.in_lane()).count();
            let _ = write!(
                h,
                " {} lane{}, {} box{} ({} in lane, marked ▲; {} people in lane).",
                t.lanes.len(),
                plural(t.lanes.len()),
                t.boxes.len(),
                if t.boxes.len() == 1 { "" } else { "es" },
                in_lane,
                t.people_in_lane()
            );
        }
    }
    h.push_str("</figcaption>\n</figure>\n");
}

// --------------------------------------------------------------------------
// Small helpers
// --------------------------------------------------------------------------

/// HTML-escapes text for element content and quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// [`esc`], with a line-break opportunity (`<wbr>`) after each `/` and
/// `_`, for long topic and table names in a table.
fn esc_wrap(s: &str) -> String {
    esc(s).replace('/', "/<wbr>").replace('_', "_<wbr>")
}

/// [`esc`], or `empty` (already HTML) when `s` is empty.
fn esc_or(s: &str, empty: &str) -> String {
    if s.is_empty() {
        empty.to_string()
    } else {
        esc(s)
    }
}

/// Whether a link from the data may be an `href`: relative, no scheme, not
/// protocol-relative.
fn is_safe_link(link: &str) -> bool {
    let l = link.trim();
    if l.is_empty() || l.starts_with("//") || l.starts_with('\\') {
        return false;
    }
    // A scheme is letters, digits, `+.-` before the first `:` that comes
    // before any `/`, `?` or `#`.
    match l.find([':', '/', '?', '#']) {
        Some(i) if l.as_bytes()[i] == b':' => false,
        _ => !l.chars().any(char::is_control),
    }
}

/// The id of scene `i`'s card (scene ids may hold anything).
fn card_id(i: usize) -> String {
    format!("scene-{}", i + 1)
}

fn badge(status: &str) -> String {
    let class = if status.eq_ignore_ascii_case("DONE") {
        "st-done"
    } else if status.eq_ignore_ascii_case("FAILED") {
        "st-failed"
    } else {
        "st-other"
    };
    format!(
        "<span class=\"badge {class}\">{}</span>",
        esc_or(status, "UNKNOWN")
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `1234567` → `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn group_i(n: i64) -> String {
    if n < 0 {
        format!("-{}", group(n.unsigned_abs()))
    } else {
        group(n as u64)
    }
}

/// Bytes in binary units, e.g. `1.5 MiB`.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    let prec = if v < 10.0 {
        2
    } else if v < 100.0 {
        1
    } else {
        0
    };
    format!("{v:.prec$} {}", UNITS[u])
}

/// A duration in ns, e.g. `12.345 s` or `1 h 02 min 03.5 s`.
fn duration(ns: i64) -> String {
    let neg = ns < 0;
    let s = ns.unsigned_abs() as f64 / 1e9;
    let body = if s < 60.0 {
        format!("{s:.3} s")
    } else if s < 3600.0 {
        format!("{} min {:04.1} s", (s / 60.0).floor(), s % 60.0)
    } else {
        format!(
            "{} h {:02} min {:04.1} s",
            (s / 3600.0).floor(),
            ((s % 3600.0) / 60.0).floor(),
            s % 60.0
        )
    };
    if neg { format!("-{body}") } else { body }
}

/// Seconds from the bag's start, 3 decimals, or `?`.
fn secs_str(s: Option<f64>) -> String {
    s.map_or_else(|| "?".to_string(), |s| format!("{s:.3}"))
}

/// A round axis value without trailing zeros (`0.5`, `10`).
fn trim_num(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

fn metres_str(m: f64) -> String {
    if m >= 1000.0 {
        format!("{} km", trim_num(m / 1000.0))
    } else {
        format!("{} m", trim_num(m))
    }
}

/// The round number (1, 2 or 5 times a power of ten) nearest above `v`.
fn nice_step(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    let m = v / p;
    let m = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * p
}

/// At most `max` indices of `from..to`, evenly spread, the last included.
fn decimate(from: usize, to: usize, max: usize) -> Vec<usize> {
    let n = to.saturating_sub(from);
    if n <= max {
        return (from..to).collect();
    }
    let step = n.div_ceil(max.saturating_sub(1).max(1));
    let mut idx: Vec<usize> = (from..to).step_by(step).collect();
    if idx.last() != Some(&(to - 1)) {
        idx.push(to - 1);
    }
    idx
}

/// A long name cut to `max` characters, keeping its end (the distinctive
/// part of a topic).
fn shorten(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        s.to_string()
    } else {
        let tail: String = s.chars().skip(n - (max - 1)).collect();
        format!("…{tail}")
    }
}

/// ns since the Unix epoch → `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, RFC 3339).
fn utc(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let ms = ns.rem_euclid(1_000_000_000) / 1_000_000;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{DetectedBox, PlacedBox};

    const T0: i64 = 1_715_679_070_700_000_000;

    fn count(html: &str, needle: &str) -> usize {
        html.matches(needle).count()
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 60) as u8, (y * 80) as u8, 128])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_with_encoder(image::codecs::png::PngEncoder::new(&mut out))
            .unwrap();
        out.into_inner()
    }

    fn placed(class: &str, x: f64, y: f64, in_lane: bool, person: bool) -> PlacedBox {
        PlacedBox {
            detected: DetectedBox {
                class: class.to_string(),
                score: Some(0.9),
                x,
                y,
                width: 40.0,
                height: 80.0,
            },
            corners_in_lane: if in_lane { 2 } else { 0 },
            lanes: if in_lane {
                vec!["between_0_and_1".to_string()]
            } else {
                vec![]
            },
            person,
        }
    }

    fn topic(name: &str, i: i64) -> TopicStats {
        TopicStats {
            topic: name.to_string(),
            datatype: "sensor_msgs/Imu".to_string(),
            message_count: 101,
            table: Some(format!("t{i}")),
            first_ns: Some(T0),
            last_ns: Some(T0 + 10_000_000_000),
            largest_gap_ns: Some(1_500_000_000),
            gaps: vec![(T0 + 2_000_000_000, T0 + 3_500_000_000)],
            null_share: Some(0.25),
        }
    }

    fn sample(scenes: usize, topics: usize) -> BagReport {
        BagReport {
            bag_file: "drive<1>&.bag".to_string(),
            source_url: "s3://bucket/drive.bag".to_string(),
            format: Some("ros1".to_string()),
            size_bytes: 123_456_789,
            start_time_ns: Some(T0),
            end_time_ns: Some(T0 + 10_000_000_000),
            message_count: 1234,
            status: "DONE".to_string(),
            error: None,
            warnings: vec!["topic /x: <odd> & \"strange\"".to_string()],
            topics: (0..topics)
                .map(|i| topic(&format!("/t{i}"), i as i64))
                .collect(),
            interval_ms: 100,
            scenes: (0..scenes)
                .map(|i| SceneCard {
                    scene_id: format!("scene_{i:04}"),
                    start_time_ns: T0 + i as i64 * 1_000_000_000,
                    end_time_ns: T0 + i as i64 * 1_000_000_000 + 500_000_000,
                    num_people_in_scene_start: 1,
                    max_people_in_lane: 2,
                    clip: Some(format!("../exports/drive/scene_{i:04}.mcap")),
                    label: Some(format!("../exports/drive/scene_{i:04}.openlabel.json")),
                    scenario: None,
                    frame: Some(Frame {
                        mime: "image/png",
                        data: png(4, 3),
                        width: 640,
                        height: 480,
                        time_ns: T0,
                    }),
                    frame_note: None,
                    tick: Some(Tick {
                        lanes: vec![
                            vec![(100.0, 480.0), (300.0, 200.0)],
                            vec![(540.0, 480.0), (340.0, 200.0)],
                        ],
                        boxes: vec![
                            placed("person", 320.0, 400.0, true, true),
                            placed("car", 330.0, 300.0, true, false),
                            placed("<tree>", 20.0, 50.0, false, false),
                        ],
                    }),
                })
                .collect(),
            gps: Some(GpsTrack {
                topic: "/gps".to_string(),
                fixes: (0..100)
                    .map(|i| {
                        (
                            T0 + i * 100_000_000,
                            48.0 + i as f64 * 1e-5,
                            11.0 + i as f64 * 2e-5,
                        )
                    })
                    .collect(),
            }),
            camera_topic: Some("/camera/image_raw".to_string()),
            generator: "bagpipe 0.1.0".to_string(),
        }
    }

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(T0), "2024-05-14T09:31:10.700Z");
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_000_000_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc(-1_000_000), "1969-12-31T23:59:59.999Z");
        assert_eq!(utc(4_107_542_399_999_999_999), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn helpers() {
        assert_eq!(group(0), "0");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(group(123), "123");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(duration(12_345_000_000), "12.345 s");
        assert_eq!(duration(3_723_500_000_000), "1 h 02 min 03.5 s");
        assert_eq!(nice_step(37.0), 50.0);
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(decimate(0, 10, 20).len(), 10);
        let d = decimate(0, 3000, 2000);
        assert!(d.len() <= 2000 && *d.last().unwrap() == 2999);
        assert!(is_safe_link("../exports/a/b.mcap"));
        assert!(is_safe_link("a.html#x"));
        assert!(!is_safe_link("javascript:alert(1)"));
        assert!(!is_safe_link("https://example.com/a.mcap"));
        assert!(!is_safe_link("//example.com/a.mcap"));
        assert_eq!(shorten("/abcdef", 4), "…def");
    }

    #[test]
    fn counts_one_element_per_scene_and_topic() {
        let r = sample(7, 5);
        let html = render(&r);
        assert_eq!(count(&html, "class=\"scene-bar\""), 7);
        assert_eq!(count(&html, "class=\"scene-card\""), 7);
        assert_eq!(count(&html, "class=\"topic-row\""), 5);
        assert_eq!(count(&html, "scene-bar"), 7 + count(&html, ".scene-bar"));
        assert!(!html.to_lowercase().contains("<script"));
        assert!(html.contains("data:image/png;base64,"));
        assert!(html.contains("href=\"../exports/drive/scene_0003.mcap\""));
        assert!(html.contains(">MCAP clip<") && html.contains(">OpenLABEL<"));
        assert!(!html.contains("OpenSCENARIO<"));
        assert!(html.contains("href=\"#scene-7\""));
        assert!(html.contains("2024-05-14T09:31:10.700Z"));
        assert!(html.contains("drive&lt;1&gt;&amp;.bag"));
        assert!(html.contains("&lt;tree&gt;"));
        assert!(html.contains("&lt;odd&gt; &amp; &quot;strange&quot;"));
        assert!(html.contains("class=\"gps-scene\""));
        assert!(html.contains("10.00")); // rate: 100 intervals in 10 s
        assert!(html.contains("25.0 %"));
        // Boxes: corner, not centre.
        assert!(html.contains("x=\"300.0\" y=\"360.0\" width=\"40.0\" height=\"80.0\""));
        assert!(
            html.contains("class=\"b-person\"")
                && html.contains("class=\"b-in\"")
                && html.contains("class=\"b-out\"")
        );
    }

    #[test]
    fn escapes_every_string() {
        let mut r = sample(1, 0);
        r.topics.push(TopicStats {
            topic: "/a<b>&\"c\"".to_string(),
            datatype: "x/<T>".to_string(),
            ..Default::default()
        });
        r.scenes[0].scene_id = "<s>".to_string();
        r.scenes[0].clip = Some("javascript:alert(1)".to_string());
        let html = render(&r);
        assert!(html.contains("/a&lt;b&gt;&amp;&quot;c&quot;"));
        assert!(!html.contains("/a<b>"));
        assert!(!html.contains("<s>"));
        assert!(!html.contains("x/<T>"));
        assert!(!html.contains("href=\"javascript:"));
        assert_eq!(count(&html, "class=\"topic-row\""), 1);
        assert!(html.contains("not extracted"));
        assert!(html.contains("not synchronized"));
    }

    #[test]
    fn empty_and_failed_bags_say_so() {
        let mut r = sample(0, 3);
        r.gps = None;
        r.camera_topic = None;
        r.warnings.clear();
        let html = render(&r);
        assert!(html.contains("No scenes found"));
        assert!(html.contains("No GPS topic"));
        assert!(html.contains("No camera topic: frames are not shown"));
        assert!(html.contains("No warnings"));
        assert_eq!(count(&html, "class=\"scene-bar\""), 0);
        assert_eq!(count(&html, "class=\"scene-card\""), 0);
        assert_eq!(count(&html, "class=\"topic-row\""), 3);

        let failed = BagReport {
            bag_file: "broken.bag".to_string(),
            status: "FAILED".to_string(),
            error: Some("truncated chunk at <offset 42>".to_string()),
            ..Default::default()
        };
        let html = render(&failed);
        assert!(html.contains("FAILED"));
        assert!(html.contains("truncated chunk at &lt;offset 42&gt;"));
        assert!(html.contains("No topics"));
        assert!(html.contains("No scenes found"));
        assert!(html.contains("No GPS topic"));
        assert_eq!(count(&html, "class=\"topic-row\""), 0);
        assert!(html.ends_with("</html>\n"));
    }

    #[test]
    fn scene_without_frame_or_tick() {
        let mut r = sample(2, 1);
        r.scenes[0].frame = None;
        r.scenes[0].frame_note = Some("encoding 16UC1 is not drawn".to_string());
        r.scenes[1].tick = None;
        let html = render(&r);
        assert!(html.contains("encoding 16UC1 is not drawn"));
        assert!(html.contains("No tick:"));
        // The blank plane is at least 640x360 and covers the tick.
        assert!(html.contains("viewBox=\"0 0 640 480\""));
        assert_eq!(count(&html, "data:image/png;base64,"), 1);
    }

    #[test]
    fn gps_with_one_fix_is_not_drawn() {
        let mut r = sample(1, 1);
        r.gps.as_mut().unwrap().fixes.truncate(1);
        let html = render(&r);
        assert!(html.contains("1 usable fix:"));
        assert!(!html.contains("class=\"track\""));
    }

    #[test]
    fn index_lists_every_bag() {
        let rows = vec![
            IndexRow {
                bag_file: "a<b>.bag".to_string(),
                status: "DONE".to_string(),
                start_time_ns: Some(T0),
                end_time_ns: Some(T0 + 61_000_000_000),
                message_count: 12345,
                size_bytes: 2048,
                warnings: 2,
                report: Some("a%3Cb%3E.bag.html".to_string()),
            },
            IndexRow {
                bag_file: "c.bag".to_string(),
                status: "FAILED".to_string(),
                ..Default::default()
            },
        ];
        let html = render_index(&rows);
        assert!(html.contains("a&lt;b&gt;.bag"));
        assert!(html.contains("href=\"a%3Cb%3E.bag.html\""));
        assert!(html.contains("2024-05-14T09:31:10.700Z"));
        assert!(html.contains("1 min 01.0 s"));
        assert!(html.contains("12,345"));
        assert!(html.contains("2.00 KiB"));
        assert!(html.contains("st-failed"));
        assert!(!html.to_lowercase().contains("<script"));
        assert!(render_index(&[]).contains("No bags."));
    }

    /// A pseudo-random JPEG of a road scene, about the size of a camera
    /// frame (a few tens of KB).
    fn jpeg(w: u32, h: u32, seed: u32) -> Vec<u8> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let n = (state % 24) as u8;
            if y < h / 2 {
                image::Rgb([120 + n, 160 + n, 220u8.saturating_add(n / 2)])
            } else {
                let mid = w as i64 / 2 - x as i64;
                if (mid.unsigned_abs() as u32) < (y - h / 2) / 2 + 4
                    && (y / 12) % 2 == 0
                    && mid.abs() < 4 + (y - h / 2) as i64 / 40
                {
                    image::Rgb([230, 230, 230])
                } else {
                    image::Rgb([70 + n, 72 + n, 75 + n])
                }
            }
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            &mut out, 80,
        ))
        .unwrap();
        out.into_inner()
    }

    /// Writes sample reports for `tests/python/check_report.py` into
    /// `$BAGPIPE_REPORT_DIR` (default `/tmp`): `report-100.html` (100
    /// scenes, 8 topics) and `report-empty.html` (no scenes, GPS, camera)
    /// and `report-failed.html`.
    #[test]
    #[ignore = "writes sample reports for the browser check"]
    fn write_sample_reports() {
        let dir = std::env::var("BAGPIPE_REPORT_DIR").unwrap_or_else(|_| "/tmp".to_string());
        let dir = std::path::Path::new(&dir);
        let dur = 600_000_000_000_i64; // 10 min
        let topics: Vec<TopicStats> = (0..8)
            .map(|i| {
                let name = [
                    "/camera/front/image_raw/compressed",
                    "/perception/detections",
                    "/perception/lanes",
                    "/gps/fix",
                    "/vehicle/steering_report",
                    "/imu/data",
                    "/a<b>&\"c\"",
                    "/diagnostics",
                ][i];
                if i == 7 {
                    return TopicStats {
                        topic: name.to_string(),
                        datatype: "diagnostic_msgs/DiagnosticArray".to_string(),
                        message_count: 600,
                        ..Default::default()
                    };
                }
                let first = T0 + i as i64 * 200_000_000;
                let last = T0 + dur - i as i64 * 500_000_000;
                let gaps: Vec<(i64, i64)> = (0..(i * 6))
                    .map(|k| {
                        let at =
                            T0 + ((k as i64 * 7919 + i as i64 * 104_729) % 590) * 1_000_000_000;
                        (at, at + 300_000_000 + (k as i64 % 5) * 700_000_000)
                    })
                    .collect();
                TopicStats {
                    topic: name.to_string(),
                    datatype: [
                        "sensor_msgs/CompressedImage",
                        "vision_msgs/Detection2DArray",
                        "lane_msgs/Lanes",
                        "sensor_msgs/NavSatFix",
                        "dbw_msgs/SteeringReport",
                        "sensor_msgs/Imu",
                        "std_msgs/String",
                    ][i]
                        .to_string(),
                    message_count: [6000, 6000, 6000, 3000, 30000, 60000, 10][i],
                    table: Some(name.trim_start_matches('/').replace('/', "_")),
                    first_ns: Some(first),
                    last_ns: Some(last),
                    largest_gap_ns: gaps.iter().map(|g| g.1 - g.0).max().or(Some(100_000_000)),
                    gaps,
                    null_share: if i == 6 { None } else { Some(i as f64 * 0.013) },
                }
            })
            .collect();
        let fixes: Vec<(i64, f64, f64)> = (0..3000)
            .map(|k| {
                let a = k as f64 / 3000.0 * std::f64::consts::TAU;
                (
                    T0 + k as i64 * 200_000_000,
                    48.137 + 0.004 * a.sin() + 0.001 * (3.0 * a).sin(),
                    11.575 + 0.006 * (1.0 - a.cos()),
                )
            })
            .collect();
        let lanes = vec![
            vec![(40.0, 360.0), (200.0, 250.0), (290.0, 190.0)],
            vec![(230.0, 360.0), (285.0, 250.0), (310.0, 190.0)],
            vec![(420.0, 360.0), (360.0, 250.0), (330.0, 190.0)],
            vec![(610.0, 360.0), (450.0, 250.0), (350.0, 190.0)],
        ];
        let scenes: Vec<SceneCard> = (0..100)
            .map(|i| {
                let start = T0 + 3_000_000_000 + i as i64 * 5_800_000_000;
                let boxes = (0..10)
                    .map(|b| {
                        let person = b % 3 == 0;
                        let in_lane = b < 4;
                        let x = if in_lane {
                            250.0 + b as f64 * 40.0
                        } else {
                            30.0 + b as f64 * 70.0 % 600.0
                        };
                        let y = if in_lane {
                            270.0 + b as f64 * 8.0
                        } else {
                            215.0
                        };
                        let mut p =
                            placed(if person { "person" } else { "car" }, x, y, in_lane, person);
                        p.detected.width = if person { 22.0 } else { 48.0 };
                        p.detected.height = if person { 54.0 } else { 34.0 };
                        p.detected.score = Some(0.5 + (b as f64) * 0.05);
                        p
                    })
                    .collect();
                SceneCard {
                    scene_id: format!("drive_2024-05-14_scene_{i:03}"),
                    start_time_ns: start,
                    end_time_ns: start + 1_500_000_000 + (i as i64 % 7) * 400_000_000,
                    num_people_in_scene_start: 1 + i as i64 % 3,
                    max_people_in_lane: 2 + i as i64 % 3,
                    clip: Some(format!("../exports/drive/scene_{i:03}.mcap")),
                    label: Some(format!("../exports/drive/scene_{i:03}.openlabel.json")),
                    scenario: (i % 2 == 0).then(|| format!("../exports/drive/scene_{i:03}.xosc")),
                    frame: Some(Frame {
                        mime: "image/jpeg",
                        data: jpeg(640, 360, i),
                        width: 640,
                        height: 360,
                        time_ns: start + 12_000_000,
                    }),
                    frame_note: None,
                    tick: if i == 5 {
                        None
                    } else {
                        Some(Tick {
                            lanes: lanes.clone(),
                            boxes,
                        })
                    },
                }
            })
            .collect();
        let full = BagReport {
            bag_file: "drive_2024-05-14.bag".to_string(),
            source_url: "s3://raw-bags/2024/05/14/drive_2024-05-14.bag".to_string(),
            format: Some("ros1".to_string()),
            size_bytes: 3_456_789_012,
            start_time_ns: Some(T0),
            end_time_ns: Some(T0 + dur),
            message_count: 111_610,
            status: "DONE".to_string(),
            error: None,
            warnings: vec![
                "topic /diagnostics: type diagnostic_msgs/DiagnosticArray has no definition; not extracted".to_string(),
                "topic /a<b>&\"c\": 3 messages out of time order".to_string(),
            ],
            topics: topics.clone(),
            interval_ms: 100,
            scenes,
            gps: Some(GpsTrack { topic: "/gps/fix".to_string(), fixes }),
            camera_topic: Some("/camera/front/image_raw/compressed".to_string()),
            generator: "bagpipe 0.1.0".to_string(),
        };
        let html = render(&full);
        std::fs::write(dir.join("report-100.html"), &html).unwrap();
        let empty = BagReport {
            bag_file: "parked.bag".to_string(),
            scenes: vec![],
            gps: None,
            camera_topic: None,
            warnings: vec![],
            ..full.clone()
        };
        std::fs::write(dir.join("report-empty.html"), render(&empty)).unwrap();
        let no_camera = BagReport {
            bag_file: "no-camera.bag".to_string(),
            scenes: full.scenes[..4]
                .iter()
                .map(|s| SceneCard {
                    frame: None,
                    frame_note: Some("No camera topic".to_string()),
                    ..s.clone()
                })
                .collect(),
            camera_topic: None,
            ..full.clone()
        };
        std::fs::write(dir.join("report-nocamera.html"), render(&no_camera)).unwrap();
        let failed = BagReport {
            bag_file: "broken.bag".to_string(),
            source_url: "s3://raw-bags/broken.bag".to_string(),
            size_bytes: 1234,
            status: "FAILED".to_string(),
            error: Some("not a bag: bad magic <#ROSBAG V2.0> expected".to_string()),
            generator: "bagpipe 0.1.0".to_string(),
            ..Default::default()
        };
        std::fs::write(dir.join("report-failed.html"), render(&failed)).unwrap();
        let index = render_index(&[
            IndexRow {
                bag_file: full.bag_file.clone(),
                status: full.status.clone(),
                start_time_ns: full.start_time_ns,
                end_time_ns: full.end_time_ns,
                message_count: full.message_count,
                size_bytes: full.size_bytes,
                warnings: full.warnings.len(),
                report: Some("report-100.html".to_string()),
            },
            IndexRow {
                bag_file: failed.bag_file.clone(),
                status: failed.status.clone(),
                size_bytes: failed.size_bytes,
                report: Some("report-failed.html".to_string()),
                ..Default::default()
            },
        ]);
        std::fs::write(dir.join("report-index.html"), index).unwrap();
    }
}
